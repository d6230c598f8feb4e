//! Use case 2, remote troubleshooting: details, a configuration sync, then a reboot that the
//! simulated device really performs.

use serde_json::json;

use super::common::{register, wait_settled, wait_task_done, wait_up};
use crate::support::{Env, SimConfig, wait, wait::secs};

pub async fn troubleshooting(env: Env) {
    let (acs, api) = env.start();
    register(&api, "TRBL0", json!({})).await;
    let sim = SimConfig {
        acs_url: &acs.acs_url(),
        serial_pattern: "TRBL{}",
        devices: 1,
        inform_interval: 300,
        extra: vec![],
    }
    .start();
    wait_up(&api, &["TRBL0".to_owned()], secs(60)).await;
    // The credentials task (acs sends the registered pair again at the BOOTSTRAP) went out
    // in the first session.
    sim.wait_sessions("TRBL0", 1).await;
    wait_settled(&api, "TRBL0", secs(30)).await;

    // 1. Details, as the Inform reported them.
    let d = api.device("TRBL0").await;
    assert_eq!(d["status"], "Up");
    assert_eq!(d["serial_number"], "TRBL0");
    assert_eq!(d["product_class"], "SIM-181");
    assert!(d["software_version"].is_string(), "software_version: {d}");
    assert!(d["manufacturer"].is_string(), "manufacturer: {d}");
    assert!(d.get("password").is_none(), "a password in a response: {d}");

    // 2. Sync: the whole parameter tree is read back from the device.
    let before = api.parameter("TRBL0", "Device.DeviceInfo.UpTime").await;
    let patched = api.patch_device("TRBL0", json!({ "sync": true })).await;
    assert_eq!(patched["pending_settings"], "sync");
    wait_task_done(&api, "TRBL0", "sync", secs(60)).await;
    let params = api
        .expect(
            200,
            "GET",
            "/inventory_device_serial/TRBL0/parameters/?prefix=Device.",
            None,
        )
        .await;
    let count = params["count"].as_i64().unwrap_or(0);
    assert!(
        count > 50,
        "a sync stores the full tree, got {count} parameters"
    );
    assert!(
        before.is_none(),
        "UpTime is not in an Inform, only a sync brings it"
    );
    assert!(
        api.parameter("TRBL0", "Device.DeviceInfo.UpTime")
            .await
            .is_some(),
        "UpTime after the sync"
    );

    // 3. Reboot: the device reboots and informs 1 BOOT + M Reboot; the task is done.
    let patched = api.patch_device("TRBL0", json!({ "reboot": true })).await;
    assert_eq!(patched["pending_settings"], "reboot");
    wait::until_true("TRBL0 to reboot", secs(60), || async {
        !sim.events_of("TRBL0", "rebooted").is_empty()
    })
    .await;
    wait::until_true(
        "TRBL0 to inform 1 BOOT + M Reboot after its reboot",
        secs(60),
        || async { sim.informed("TRBL0", &["1 BOOT", "M Reboot"]) },
    )
    .await;
    wait_task_done(&api, "TRBL0", "reboot", secs(30)).await;
    let d = wait_settled(&api, "TRBL0", secs(30)).await;
    assert_eq!(d["status"], "Up");
    drop(sim);
    drop(acs);
}
