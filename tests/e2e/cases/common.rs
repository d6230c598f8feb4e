//! What several cases do the same way, through the REST API only.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Api, wait};

/// Registers a device the way an operator does before installing it: its connection-request
/// credentials are the ones cpe-sim gives every device (the serial number for both), so the
/// server can wake it.
pub async fn register(api: &Api, serial: &str, extra: Value) -> Value {
    let mut body = json!({
        "name": format!("e2e {serial}"),
        "serial_number": serial,
        // the connection-request pair the simulator's devices expect by default
        "username": serial,
        "password": serial,
        // the pair they present when acs asks them to authenticate (`--username {serial}
        // --password {serial}` in the cases that turn CPE authentication on)
        "cwmp_username": serial,
        "cwmp_password": serial,
        "is_active": true,
    });
    if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    api.expect(201, "POST", "/inventory_device_serial/", Some(&body))
        .await
}

/// Waits until every serial is listed as Up (it has informed).
pub async fn wait_up(api: &Api, serials: &[String], timeout: Duration) {
    let want: HashSet<&str> = serials.iter().map(String::as_str).collect();
    wait::until_true(
        &format!("{} device(s) to inform and be Up", serials.len()),
        timeout,
        || async {
            let up = api.serials("status=true&limit=1000").await;
            let up: HashSet<&str> = up.iter().map(String::as_str).collect();
            want.is_subset(&up)
        },
    )
    .await;
}

/// Waits until the device has no pending setting left, and returns its detail.
pub async fn wait_settled(api: &Api, serial: &str, timeout: Duration) -> Value {
    wait::until(
        &format!("{serial}: pending_settings to become null"),
        timeout,
        || async {
            let d = api.device(serial).await;
            d["pending_settings"].is_null().then_some(d)
        },
    )
    .await
}

/// The state of the device's most recent task of `kind`.
pub async fn task_state(api: &Api, serial: &str, kind: &str) -> Option<String> {
    api.tasks(serial)
        .await
        .into_iter()
        .rev()
        .find(|t| t["kind"] == kind)
        .and_then(|t| t["state"].as_str().map(str::to_owned))
}

/// Waits for the most recent task of `kind` to be done (fails at once if it failed).
pub async fn wait_task_done(api: &Api, serial: &str, kind: &str, timeout: Duration) {
    wait::until_true(
        &format!("{serial}: the {kind} task to be done"),
        timeout,
        || async {
            let state = task_state(api, serial, kind).await;
            assert!(
                !matches!(
                    state.as_deref(),
                    Some("failed" | "unconfirmed" | "cancelled")
                ),
                "{serial}: the {kind} task ended {state:?}: {:?}",
                api.tasks(serial).await
            );
            state.as_deref() == Some("done")
        },
    )
    .await;
}
