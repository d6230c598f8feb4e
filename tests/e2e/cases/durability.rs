//! Tasks outlive the device being offline and the server being restarted.

use serde_json::json;

use super::common::{register, wait_settled, wait_task_done, wait_up};
use crate::support::{Api, Env, SimConfig, wait, wait::secs};

/// A reboot requested while the device is offline is applied when it comes back.
pub async fn offline_reboot(env: Env) {
    let (acs, api) = env.start();
    register(&api, "OFF0", json!({})).await;
    let acs_url = acs.acs_url();
    let fleet = || SimConfig {
        acs_url: &acs_url,
        serial_pattern: "OFF{}",
        devices: 1,
        inform_interval: 300,
        extra: vec![],
    };
    let sim = fleet().start();
    wait_up(&api, &["OFF0".to_owned()], secs(60)).await;
    wait_settled(&api, "OFF0", secs(30)).await;
    sim.wait_sessions("OFF0", 1).await;
    sim.kill();

    // Clicked three times (issue 13): one Reboot is queued, and the device reboots once.
    for _ in 0..3 {
        let d = api.patch_device("OFF0", json!({ "reboot": true })).await;
        assert_eq!(d["pending_settings"], "reboot");
    }
    // Nobody answers the connection request; the task waits.
    assert_eq!(
        super::common::task_state(&api, "OFF0", "reboot")
            .await
            .as_deref(),
        Some("pending")
    );

    let sim = fleet().start();
    wait::until_true(
        "OFF0 to reboot once it is back, and inform 1 BOOT + M Reboot",
        secs(60),
        || async { sim.informed("OFF0", &["1 BOOT", "M Reboot"]) },
    )
    .await;
    wait_task_done(&api, "OFF0", "reboot", secs(30)).await;
    wait_settled(&api, "OFF0", secs(30)).await;
    assert_eq!(sim.events_of("OFF0", "rebooted").len(), 1);
    let reboots = api
        .tasks("OFF0")
        .await
        .into_iter()
        .filter(|t| t["kind"] == "reboot")
        .count();
    assert_eq!(reboots, 1, "{:?}", api.tasks("OFF0").await);
    drop(sim);
    drop(acs);
}

/// The server is stopped (SIGKILL) between the PATCH and the session, and started again on the
/// same database: the tasks are still there and the device gets them.
pub async fn restart_keeps_tasks(env: Env) {
    let (acs, api) = env.start();
    register(&api, "RST0", json!({})).await;
    let sim = SimConfig {
        acs_url: &acs.acs_url(),
        serial_pattern: "RST{}",
        devices: 1,
        inform_interval: 300,
        extra: vec![],
    }
    .start();
    wait_up(&api, &["RST0".to_owned()], secs(60)).await;
    wait_settled(&api, "RST0", secs(30)).await;
    sim.wait_sessions("RST0", 1).await;
    sim.kill();

    let d = api
        .patch_device("RST0", json!({ "reboot": true, "update_frequency": 45 }))
        .await;
    let pending = d["pending_settings"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        pending.contains("reboot") && pending.contains("update_frequency"),
        "pending_settings {pending:?}"
    );
    acs.kill();

    // Same database, same data dir, new ports; the token is in the database too.
    let acs = env.acs.start();
    let api = Api::new(&acs.api, &api.token);
    let d = api.device("RST0").await;
    assert_eq!(d["pending_settings"].as_str(), Some(pending.as_str()));
    let sim = SimConfig {
        acs_url: &acs.acs_url(),
        serial_pattern: "RST{}",
        devices: 1,
        inform_interval: 300,
        extra: vec![],
    }
    .start();
    wait::until_true(
        "RST0 to get its reboot from the restarted server and inform M Reboot",
        secs(60),
        || async { sim.informed("RST0", &["1 BOOT", "M Reboot"]) },
    )
    .await;
    wait_task_done(&api, "RST0", "update_frequency", secs(30)).await;
    wait_task_done(&api, "RST0", "reboot", secs(30)).await;
    let d = wait_settled(&api, "RST0", secs(30)).await;
    assert_eq!(d["update_frequency"], 45);
    drop(sim);
    drop(acs);
}
