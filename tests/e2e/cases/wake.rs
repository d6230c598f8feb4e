//! Issue 13, out of the box: remote operations on devices nobody gave credentials to. acs
//! provisions each device's connection-request credentials in its first session, so a PATCH
//! reboot reaches the device at once; and `update_status=true` over a healthy fleet leaves it
//! Up.

use std::time::Instant;

use serde_json::json;

use super::common::{task_state, wait_settled, wait_up};
use crate::support::{Env, SimConfig, wait, wait::secs};

/// The simulator's own reboot time (the harness shortens it to 0.2 s).
const SIM_DEFAULT_REBOOT: [&str; 2] = ["--reboot-delay", "1"];

pub async fn reboot_without_manual_credentials(env: Env) {
    let (acs, api) = env.start();
    // not registered: auto-registered by its BOOTSTRAP, with the simulator's own defaults
    let sim = SimConfig {
        acs_url: &acs.acs_url(),
        serial_pattern: "WAKE{}",
        devices: 1,
        inform_interval: 300,
        extra: SIM_DEFAULT_REBOOT.map(String::from).to_vec(),
    }
    .start();
    let serial = "WAKE0";
    wait_up(&api, &[serial.to_owned()], secs(60)).await;
    // its first session is over (it set the connection-request pair acs generated)
    sim.wait_sessions(serial, 1).await;
    wait_settled(&api, serial, secs(30)).await;

    let asked = Instant::now();
    let patched = api.patch_device(serial, json!({ "reboot": true })).await;
    assert_eq!(patched["pending_settings"], "reboot");
    // the Reboot goes out in the session the connection request opened, the device reboots
    // and informs `M Reboot` + `1 BOOT`, the task is done and nothing is pending
    wait::until_true("WAKE0 to reboot and report it", secs(30), || async {
        sim.informed(serial, &["1 BOOT", "M Reboot"])
            && task_state(&api, serial, "reboot").await.as_deref() == Some("done")
    })
    .await;
    let d = wait_settled(&api, serial, secs(30)).await;
    let took = asked.elapsed();
    eprintln!("PATCH reboot to completion without manual credentials: {took:?}");
    assert_eq!(d["status"], "Up");
    // the answer said the device was reached
    assert_eq!(
        patched["connection_request"]["outcome"], "accepted",
        "{patched}"
    );
    // what made it work: the pair acs generated and sent in the first session
    let username = d["username"].as_str().expect("a generated username");
    assert!(username.starts_with("cr-"), "{d}");
    assert!(d.get("password").is_none(), "a password in a response: {d}");
    assert_eq!(
        task_state(&api, serial, "credentials").await.as_deref(),
        Some("done")
    );
    let history = api
        .expect(
            200,
            "GET",
            &format!("/inventory_device_serial/{serial}/history/"),
            None,
        )
        .await;
    assert_eq!(
        history["connection_requests"][0]["outcome"], "accepted",
        "{history}"
    );

    // A factory reset puts the simulator's own pair back; its BOOTSTRAP gets acs's pair sent
    // again, so the next operation still reaches it.
    api.patch_device(serial, json!({ "factory_reset": true }))
        .await;
    wait::until_true(
        "WAKE0 to come back from its factory reset",
        secs(30),
        || async {
            sim.informed(serial, &["0 BOOTSTRAP"])
                && task_state(&api, serial, "factory_reset").await.as_deref() == Some("done")
        },
    )
    .await;
    wait_settled(&api, serial, secs(30)).await;
    let patched = api.patch_device(serial, json!({ "reboot": true })).await;
    // (`pending`: our own per-device spacing of connection requests held it past the few
    // seconds a PATCH waits; it still goes, as the reboot below shows)
    let outcome = &patched["connection_request"]["outcome"];
    assert!(outcome == "accepted" || outcome == "pending", "{patched}");
    wait::until_true(
        "WAKE0 to reboot after its factory reset",
        secs(30),
        || async {
            sim.events_of(serial, "session_end")
                .iter()
                .filter(|e| {
                    e["informed"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == "M Reboot"))
                })
                .count()
                == 2
        },
    )
    .await;
    drop(sim);
    drop(acs);
}

pub async fn update_status_keeps_a_healthy_fleet_up(env: Env) {
    let (acs, api) = env.start();
    let sim = SimConfig {
        acs_url: &acs.acs_url(),
        serial_pattern: "HLTH{:03}",
        devices: 100,
        inform_interval: 300,
        extra: vec![],
    }
    .start();
    let serials: Vec<String> = (0..100).map(|i| format!("HLTH{i:03}")).collect();
    wait_up(&api, &serials, secs(120)).await;
    for s in &serials {
        sim.wait_sessions(s, 1).await;
    }
    let page = api.list("update_status=true&limit=100").await;
    let results = page["results"].as_array().expect("results");
    assert_eq!(results.len(), 100);
    let down: Vec<&str> = results
        .iter()
        .filter(|d| d["status"] != "Up")
        .map(|d| d["serial_number"].as_str().unwrap_or_default())
        .collect();
    assert!(
        down.is_empty(),
        "{} of 100 healthy devices Down: {down:?}",
        down.len()
    );
    assert_eq!(api.serials("status=true&limit=1000").await.len(), 100);
    drop(sim);
    drop(acs);
}
