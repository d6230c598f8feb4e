//! `debug: true` as an operator uses it: the simulator's real sessions are recorded both
//! ways and read back through the API, with the Wi-Fi passphrase it is sent redacted;
//! `debug: false` stops the recording.

use serde_json::{Value, json};

use super::common::{register, wait_settled, wait_task_done, wait_up};
use crate::support::{Api, Env, SimConfig, wait, wait::secs};

const SECRET: &str = "e2e-wifi-secret-9";

async fn traces(api: &Api, serial: &str) -> Vec<Value> {
    let page = api
        .expect(
            200,
            "GET",
            &format!("/inventory_device_serial/{serial}/traces/?limit=1000"),
            None,
        )
        .await;
    let text = page.to_string();
    assert!(!text.contains(SECRET), "a secret in the traces: {text}");
    page["results"].as_array().cloned().unwrap_or_default()
}

pub async fn debug_traces(env: Env) {
    let (acs, api) = env.start();
    // registered in debug mode: its first session is recorded already
    register(&api, "DBG0", json!({ "debug": true })).await;
    let sim = SimConfig {
        acs_url: &acs.acs_url(),
        serial_pattern: "DBG{}",
        devices: 1,
        inform_interval: 300,
        extra: vec![],
    }
    .start();
    wait_up(&api, &["DBG0".to_owned()], secs(60)).await;
    wait_settled(&api, "DBG0", secs(30)).await;
    let first = wait::until(
        "DBG0's bootstrap session in its traces",
        secs(30),
        || async {
            let t = traces(&api, "DBG0").await;
            t.iter().any(|m| m["http_status"] == 204).then_some(t)
        },
    )
    .await;
    assert_eq!(first[0]["direction"], "in");
    assert!(
        first[0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("Inform") && b.contains("0 BOOTSTRAP")),
        "{}",
        first[0]
    );

    // a new Wi-Fi passphrase: the SPV the device gets is recorded with the value hidden
    let task = json!({"kind": "set_parameter_values", "payload": {"parameters": [
        {"name": "Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "value": SECRET},
        {"name": "Device.WiFi.SSID.1.SSID", "value": "e2e-visible-ssid"},
    ]}});
    api.expect(
        201,
        "POST",
        "/inventory_device_serial/DBG0/tasks/",
        Some(&task),
    )
    .await;
    wait_task_done(&api, "DBG0", "set_parameter_values", secs(60)).await;
    wait::until_true("the SPV in DBG0's traces", secs(30), || async {
        let t = traces(&api, "DBG0").await;
        let spv = t.iter().any(|m| {
            m["direction"] == "out"
                && m["body"].as_str().is_some_and(|b| {
                    b.contains("KeyPassphrase")
                        && b.contains("e2e-visible-ssid")
                        && b.contains("***")
                })
        });
        let answered = t.iter().any(|m| {
            m["direction"] == "in"
                && m["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("SetParameterValuesResponse"))
        });
        spv && answered
    })
    .await;
    let history = api
        .expect(200, "GET", "/inventory_device_serial/DBG0/history/", None)
        .await;
    assert!(!history["traces"].as_array().unwrap().is_empty());
    assert!(!history.to_string().contains(SECRET));

    // debug off: a reboot's sessions leave nothing
    api.patch_device("DBG0", json!({ "debug": false })).await;
    let before = traces(&api, "DBG0").await.len();
    api.patch_device("DBG0", json!({ "reboot": true })).await;
    wait::until_true("DBG0 to reboot and inform 1 BOOT", secs(60), || async {
        sim.informed("DBG0", &["1 BOOT", "M Reboot"])
    })
    .await;
    wait_task_done(&api, "DBG0", "reboot", secs(30)).await;
    wait_settled(&api, "DBG0", secs(30)).await;
    assert_eq!(traces(&api, "DBG0").await.len(), before);
    drop(sim);
    drop(acs);
}
