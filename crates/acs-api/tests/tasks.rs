//! The task queue as an operator meets it: reading and cancelling one task, the `xsd:` type
//! spelling, and identical intents merged when queued (on one API node or two).

mod support;

use support::LIST;

use support::Env;

use std::sync::Arc;

use serde_json::{Value, json};
use support::start;

async fn registered(env: &Env, serial: &str) -> support::Server {
    let s = start(env).await;
    let r = s
        .post_device(json!({"serial_number": serial, "name": "n"}))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    s
}

fn open_of_kind(tasks: &Value, kind: &str) -> Vec<Value> {
    tasks
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["kind"] == kind && matches!(t["state"].as_str(), Some("pending" | "in_flight"))
        })
        .cloned()
        .collect()
}

/// Issue 14: `xsd:string` is how the wire and every vendor document spell the types.
async fn set_parameter_values_takes_xsd_prefixed_types(env: Env) {
    let s = registered(&env, "X1").await;
    let tasks = format!("{LIST}X1/tasks/");
    let r = s
        .call(
            "POST",
            &tasks,
            Some(&json!({"kind": "set_parameter_values", "payload": {"parameters": [
                {"name": "Device.ManagementServer.PeriodicInformInterval", "value": "300", "type": "xsd:unsignedInt"},
                {"name": "Device.DeviceInfo.X_Label", "value": "lab", "type": "xsd:string"},
                {"name": "Device.X_Flag", "value": "1", "type": "boolean"},
            ]}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let created = r.json();
    let types: Vec<&str> = created["payload"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["unsignedInt", "string", "boolean"],
        "stored without the prefix"
    );
    for bad in ["xsd:float", "xsd:", "xs:string", "XSD:string"] {
        let r = s
            .call(
                "POST",
                &tasks,
                Some(
                    &json!({"kind": "set_parameter_values", "payload": {"parameters": [
                        {"name": "Device.X", "value": "1", "type": bad},
                    ]}}),
                ),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}");
        let body = r.json();
        let message = body["payload.parameters[0].type"][0].as_str().unwrap_or("");
        assert!(message.contains(bad), "{bad}: {body}");
    }
}

/// Issue 14: only DELETE existed under `/tasks/{id}/`.
async fn one_task_can_be_read_by_id(env: Env) {
    let s = registered(&env, "G1").await;
    s.post_device(json!({"serial_number": "G2", "name": "n"}))
        .await;
    let created = s
        .call(
            "POST",
            &format!("{LIST}G1/tasks/"),
            Some(&json!({"kind": "get_rpc_methods"})),
        )
        .await
        .json();
    let id = created["id"].as_i64().unwrap();
    let r = s.get(&format!("{LIST}G1/tasks/{id}/")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), created);
    // another device's task, an unknown id, an unknown device: not found
    for path in [
        format!("{LIST}G2/tasks/{id}/"),
        format!("{LIST}G1/tasks/{}/", id + 1000),
        format!("{LIST}NOPE/tasks/{id}/"),
        format!("{LIST}G1/tasks/x/"),
    ] {
        assert_eq!(s.get(&path).await.status, 404, "{path}");
    }
}

/// Issue 14: DELETE answered 409 "no longer pending" for a task in flight; the only way out
/// was deleting the device.
async fn an_in_flight_task_can_be_cancelled_and_says_what_the_cpe_got(env: Env) {
    let s = registered(&env, "C1").await;
    let device_id = s.store.device_by_serial("C1").await.unwrap().unwrap().id;
    let tasks = format!("{LIST}C1/tasks/");
    let reboot = s
        .call("POST", &tasks, Some(&json!({"kind": "reboot"})))
        .await
        .json();
    let id = reboot["id"].as_i64().unwrap();
    // a session sends it: claimed, its RPC out
    let now = chrono::Utc::now();
    let claimed = s.claim(device_id, "node/s1", now).await.unwrap();
    assert_eq!(claimed.id, id);
    let r = s.call("DELETE", &format!("{tasks}{id}/"), None).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let cancelled = r.json();
    assert_eq!(cancelled["state"], "cancelled");
    let note = cancelled["fault_string"].as_str().unwrap();
    assert!(note.contains("may have received"), "{note}");
    assert_eq!(s.get(&format!("{tasks}{id}/")).await.json(), cancelled);
    let d = s.get(&format!("{LIST}C1/")).await.json();
    assert_eq!(d["pending_settings"], Value::Null);
    // never sent again, and the session's late answer changes nothing
    assert!(
        s.claim(device_id, "node/s2", now + chrono::Duration::hours(3))
            .await
            .is_none()
    );
    assert!(
        s.store
            .settle_task(id, "node/s1", &acs_store::TaskOutcome::Done, now)
            .await
            .is_err()
    );
    // twice: it has ended
    let r = s.call("DELETE", &format!("{tasks}{id}/"), None).await;
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    // a pending task never sent is withdrawn without a trace, as before
    let sync = s
        .call("POST", &tasks, Some(&json!({"kind": "sync"})))
        .await
        .json();
    let sid = sync["id"].as_i64().unwrap();
    assert_eq!(
        s.status("DELETE", &format!("{tasks}{sid}/"), None).await,
        204
    );
    assert_eq!(s.get(&format!("{tasks}{sid}/")).await.status, 404);
}

/// Issue 13: three `PATCH {"reboot": true}` gave a session with `Reboot, Reboot`.
async fn identical_intents_merge_when_queued(env: Env) {
    let s = registered(&env, "M1").await;
    let device = format!("{LIST}M1/");
    for _ in 0..3 {
        let r = s
            .call(
                "PATCH",
                &device,
                Some(&json!({"reboot": true, "sync": true})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["pending_settings"], "reboot,sync");
    }
    for interval in [300, 600] {
        s.call(
            "PATCH",
            &device,
            Some(&json!({"update_frequency": interval})),
        )
        .await;
    }
    let tasks = s.get(&format!("{device}tasks/")).await.json();
    assert_eq!(open_of_kind(&tasks, "reboot").len(), 1, "{tasks}");
    assert_eq!(open_of_kind(&tasks, "sync").len(), 1, "{tasks}");
    let frequency = open_of_kind(&tasks, "update_frequency");
    assert_eq!(frequency.len(), 1, "{tasks}");
    assert_eq!(frequency[0]["payload"]["interval"], 600, "the newer value");
    // the same through POST /tasks/: the open reboot is the answer
    let again = s
        .call(
            "POST",
            &format!("{device}tasks/"),
            Some(&json!({"kind": "reboot"})),
        )
        .await;
    assert_eq!(again.status, 200, "nothing created");
    assert_eq!(again.json()["id"], open_of_kind(&tasks, "reboot")[0]["id"]);
    // raw RPCs are the operator's own: never merged
    for _ in 0..2 {
        s.call(
            "POST",
            &format!("{device}tasks/"),
            Some(&json!({"kind": "get_rpc_methods"})),
        )
        .await;
    }
    let tasks = s.get(&format!("{device}tasks/")).await.json();
    assert_eq!(open_of_kind(&tasks, "get_rpc_methods").len(), 2);
}

/// The merge holds across API nodes: it is made in the store's queuing transaction.
async fn identical_intents_merge_across_api_nodes(env: Env) {
    let a = Arc::new(registered(&env, "N1").await);
    let b = Arc::new(start(&env).await);
    let device = format!("{LIST}N1/");
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..12 {
        let node = if i % 2 == 0 { a.clone() } else { b.clone() };
        let device = device.clone();
        calls.spawn(async move {
            node.call("PATCH", &device, Some(&json!({"reboot": true})))
                .await
        });
    }
    while let Some(r) = calls.join_next().await {
        let r = r.unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let tasks = a.get(&format!("{device}tasks/")).await.json();
    assert_eq!(open_of_kind(&tasks, "reboot").len(), 1, "{tasks}");
}

api_tests![
    set_parameter_values_takes_xsd_prefixed_types,
    one_task_can_be_read_by_id,
    an_in_flight_task_can_be_cancelled_and_says_what_the_cpe_got,
    identical_intents_merge_when_queued,
    identical_intents_merge_across_api_nodes,
];
