//! CPE authentication end to end: `acs serve --cwmp-auth digest` against cpe-sim devices
//! answering the challenge with per-device, shared and wrong credentials.

use serde_json::json;

use super::common::{register, wait_settled, wait_up};
use crate::support::{Api, Env, SimConfig, wait, wait::secs};

pub async fn digest_auth(env: Env) {
    let config = env.with_flags(&[
        "--cwmp-auth",
        "digest",
        "--cwmp-username",
        "e2e-fleet",
        "--cwmp-password",
        "fleet-secret",
    ]);
    let acs = config.start();
    let api = Api::new(&acs.api, &config.token(None));
    let url = acs.acs_url();
    let fleet = |pattern: &'static str, user: &str, password: &str| SimConfig {
        acs_url: &url,
        serial_pattern: pattern,
        devices: 1,
        inform_interval: 300,
        extra: vec![
            "--username".into(),
            user.into(),
            "--password".into(),
            password.into(),
        ],
    };

    // Per-device credentials: the serial number as username, the password on record (both
    // pairs the same here: what the CPE presents, and what its connection-request listener
    // expects).
    register(
        &api,
        "AUTH0",
        json!({
            "password": "AUTH0-pw", "username": "AUTH0",
            "cwmp_password": "AUTH0-pw", "cwmp_username": "AUTH0",
        }),
    )
    .await;
    let own = fleet("AUTH{}", "{serial}", "AUTH0-pw")
        .with_cr("AUTH0", "AUTH0-pw")
        .start();
    // Shared credentials: any device knowing them registers itself.
    let shared = fleet("SHARED{}", "e2e-fleet", "fleet-secret").start();
    wait_up(&api, &["AUTH0".to_owned(), "SHARED0".to_owned()], secs(60)).await;

    // A wrong password gets 401 and never becomes a device.
    let wrong = fleet("WRONG{}", "e2e-fleet", "not-the-secret").start();
    wait::until_true("WRONG0 to be refused with 401", secs(60), || async {
        wrong
            .events_of("WRONG0", "session_failed")
            .iter()
            .any(|e| e["kind"] == "http_status_401")
    })
    .await;
    assert!(wrong.events_of("WRONG0", "session_end").is_empty());
    api.expect(404, "GET", "/inventory_device_serial/WRONG0/", None)
        .await;
    wrong.kill();

    // Whole authenticated sessions carry tasks: a reboot, and the Informs after it.
    wait_settled(&api, "AUTH0", secs(30)).await;
    api.patch_device("AUTH0", json!({ "reboot": true })).await;
    wait::until_true(
        "AUTH0 to reboot and re-authenticate with 1 BOOT + M Reboot",
        secs(60),
        || async { own.informed("AUTH0", &["1 BOOT", "M Reboot"]) },
    )
    .await;
    wait_settled(&api, "AUTH0", secs(30)).await;
    assert!(shared.informed("SHARED0", &["0 BOOTSTRAP"]));
    drop(own);
    drop(shared);
    drop(acs);
}
