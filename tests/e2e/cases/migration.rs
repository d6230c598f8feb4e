//! Use case 4, organization migration, seen through tokens scoped to each organization.

use serde_json::json;

use super::common::{register, wait_settled, wait_up};
use crate::support::{Api, Env, SimConfig, wait, wait::secs};

pub async fn organization_migration(env: Env) {
    let (acs, admin) = env.start();
    let east = admin.organization("east").await;
    let west = admin.organization("west").await;
    let east_api = Api::new(&acs.api, &env.acs.token(Some(east)));
    let west_api = Api::new(&acs.api, &env.acs.token(Some(west)));

    register(&admin, "MIG0", json!({ "organization_id": east })).await;
    register(&admin, "MIG1", json!({ "organization_id": west })).await;
    let sim = SimConfig {
        acs_url: &acs.acs_url(),
        serial_pattern: "MIG{}",
        devices: 2,
        inform_interval: 300,
        extra: vec![],
    }
    .start();
    wait_up(&admin, &["MIG0".to_owned(), "MIG1".to_owned()], secs(60)).await;
    wait_settled(&admin, "MIG0", secs(30)).await;

    assert_eq!(east_api.serials("").await, ["MIG0"]);
    assert_eq!(west_api.serials("").await, ["MIG1"]);
    let path = "/inventory_device_serial/MIG0/";
    west_api.expect(403, "GET", path, None).await;
    west_api
        .expect(403, "PATCH", path, Some(&json!({ "reboot": true })))
        .await;
    west_api
        .expect(
            403,
            "GET",
            &format!("/inventory_device_serial/?organization={east}"),
            None,
        )
        .await;

    // Move MIG0 from east to west.
    let moved = admin
        .patch_device("MIG0", json!({ "organization_id": west }))
        .await;
    assert_eq!(moved["organization_id"], west);

    assert!(east_api.serials("").await.is_empty());
    assert_eq!(east_api.list("").await["count"], 0);
    let mut west_sees = west_api.serials("").await;
    west_sees.sort();
    assert_eq!(west_sees, ["MIG0", "MIG1"]);
    east_api.expect(403, "GET", path, None).await;
    east_api
        .expect(403, "PATCH", path, Some(&json!({ "reboot": true })))
        .await;
    assert_eq!(west_api.device("MIG0").await["status"], "Up");

    // The new owner manages it: a reboot through west's token reaches the device.
    west_api
        .patch_device("MIG0", json!({ "reboot": true }))
        .await;
    wait::until_true(
        "MIG0 to reboot on west's request and inform M Reboot",
        secs(60),
        || async { sim.informed("MIG0", &["1 BOOT", "M Reboot"]) },
    )
    .await;
    wait_settled(&west_api, "MIG0", secs(30)).await;
    assert!(
        sim.events_of("MIG1", "rebooted").is_empty(),
        "only MIG0 rebooted"
    );
    drop(sim);
    drop(acs);
}
