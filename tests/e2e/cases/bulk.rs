//! Use case 3, bulk deployment: 200 devices registered by POST, configured by PATCH, and the
//! change read back from every device afterwards.

use std::future::Future;

use serde_json::{Value, json};

use super::common::wait_up;
use crate::support::{Api, Env, SimConfig, wait, wait::secs};

const DEVICES: u32 = 200;
const INTERVAL_PATH: &str = "Device.ManagementServer.PeriodicInformInterval";

/// Runs `f` for every serial, a few at a time (like a script with a small worker pool).
async fn for_each<F, Fut>(serials: &[String], f: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    for chunk in serials.chunks(8) {
        let mut set = tokio::task::JoinSet::new();
        for s in chunk {
            set.spawn(f(s.clone()));
        }
        while let Some(r) = set.join_next().await {
            if let Err(e) = r
                && e.is_panic()
            {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
}

/// The whole fleet in one page.
async fn all(api: &Api) -> Vec<Value> {
    api.list("limit=1000").await["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

pub async fn bulk(env: Env) {
    let (acs, api) = env.start();
    let org = api.organization("rollout").await;
    let serials: Vec<String> = (0..DEVICES).map(|i| format!("BULK{i:04}")).collect();

    // 1. Register all 200 (the connection-request credentials cpe-sim uses).
    for_each(&serials, |s| {
        let api = api.clone();
        async move {
            let body = json!({
                "name": format!("bulk {s}"), "serial_number": s, "organization_id": org,
                "username": s, "password": s,
            });
            api.expect(201, "POST", "/inventory_device_serial/", Some(&body))
                .await;
        }
    })
    .await;
    assert_eq!(
        api.list(&format!("organization={org}&limit=1")).await["count"],
        DEVICES
    );

    // 2. Install them: the first sessions deliver the credentials.
    let sim = SimConfig {
        acs_url: &acs.acs_url(),
        serial_pattern: "BULK{:04}",
        devices: DEVICES,
        inform_interval: 300,
        extra: vec!["--ramp".into(), "2".into()],
    }
    .start();
    wait_up(&api, &serials, secs(120)).await;
    // (a device is Up from its Inform on; its credentials task is queued just after)
    for s in &serials {
        sim.wait_sessions(s, 1).await;
    }
    wait::until_true(
        "every device to have no pending setting",
        secs(120),
        || async {
            all(&api)
                .await
                .iter()
                .all(|d| d["pending_settings"].is_null())
        },
    )
    .await;

    // 3. One PATCH per device; each queues an update_frequency task and wakes the device.
    for_each(&serials, |s| {
        let api = api.clone();
        async move {
            let d = api
                .patch_device(&s, json!({ "update_frequency": 20 }))
                .await;
            assert_eq!(d["update_frequency"], 20);
            assert_eq!(d["pending_settings"], "update_frequency");
        }
    })
    .await;
    wait::until_true(
        "every update_frequency change to be applied (pending_settings null everywhere)",
        secs(120),
        || async {
            let fleet = all(&api).await;
            fleet.len() == DEVICES as usize && fleet.iter().all(|d| d["pending_settings"].is_null())
        },
    )
    .await;

    // 4. Read the value back from every device (a GetParameterValues task each): what the
    // devices hold, not what the server believes it sent.
    for_each(&serials, |s| {
        let api = api.clone();
        async move {
            let body = json!({
                "kind": "get_parameter_values",
                "payload": { "names": [INTERVAL_PATH] },
            });
            api.expect(
                201,
                "POST",
                &format!("/inventory_device_serial/{s}/tasks/"),
                Some(&body),
            )
            .await;
        }
    })
    .await;
    wait::until_true(
        "every device to report PeriodicInformInterval 20",
        secs(120),
        || async {
            for s in &serials {
                if api.parameter(s, INTERVAL_PATH).await.as_deref() != Some("20") {
                    return false;
                }
            }
            true
        },
    )
    .await;
    for s in serials.iter().step_by(37) {
        let tasks = api.tasks(s).await;
        assert!(
            tasks
                .iter()
                .any(|t| t["kind"] == "update_frequency" && t["state"] == "done"),
            "{s}: {tasks:?}"
        );
    }
    drop(sim);
    drop(acs);
}
