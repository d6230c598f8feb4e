//! The rest of Amendment 6 through `/tasks/`: a deployment unit installed with ChangeDUState,
//! a ScheduleDownload held for a later window, listed by GetAllQueuedTransfers and cancelled
//! with CancelTransfer, and one carried out in its window and reported with
//! `M ScheduleDownload`. Each task is queued once the one before it has settled, so every step
//! is one connection-request session (plus the one that reports a completion).

use serde_json::{Value, json};

use super::common::{register, wait_settled, wait_task_done, wait_up};
use crate::support::{Api, Env, SimConfig, wait, wait::secs};

const SERIAL: &str = "SWM0";

/// Queues a task, returning it as the API shows it.
async fn queue(api: &Api, kind: &str, payload: Value) -> Value {
    api.expect(
        201,
        "POST",
        &format!("/inventory_device_serial/{SERIAL}/tasks/"),
        Some(&json!({ "kind": kind, "payload": payload })),
    )
    .await
}

/// The task `id` once `done` says it has reached the state wanted.
async fn wait_task(api: &Api, id: &Value, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    wait::until(&format!("{SERIAL}: task {id} {what}"), secs(60), || async {
        api.tasks(SERIAL)
            .await
            .into_iter()
            .find(|t| t["id"] == *id)
            .filter(|t| done(t))
    })
    .await
}

pub async fn software_and_scheduled_transfers(env: Env) {
    let (acs, api) = env.start();
    register(&api, SERIAL, json!({})).await;
    let sim = SimConfig {
        acs_url: &acs.acs_url(),
        serial_pattern: "SWM{}",
        devices: 1,
        inform_interval: 300,
        extra: vec![],
    }
    .start();
    wait_up(&api, &[SERIAL.to_owned()], secs(60)).await;
    wait_settled(&api, SERIAL, secs(30)).await;

    // The file both the deployment unit and the download fetch: an image served by the CPE
    // listener's /files/.
    let image: Vec<u8> = (0u32..20_000).map(|i| (i * 7 + 3) as u8).collect();
    let r = api
        .post_multipart(
            "/firmware_images/",
            &[("version", "3.1.0")],
            ("file", "sim-app-3.1.0.bin", &image),
        )
        .await;
    assert_eq!(r.status, 201, "upload: {}", r.text);
    let file_name = r.json["file_name"].as_str().expect("file_name").to_owned();
    let url = format!("http://{}/files/firmware/{file_name}", acs.cwmp);
    let stem = file_name.trim_end_matches(".bin").to_owned();

    // 1. ChangeDUState Install: done once DUStateChangeComplete reports it, results shown.
    let du = queue(
        &api,
        "change_du_state",
        json!({"operations": [{"operation": "install", "url": url}]}),
    )
    .await;
    assert_eq!(du["state"], "pending");
    wait_task_done(&api, SERIAL, "change_du_state", secs(60)).await;
    let du = wait_task(&api, &du["id"], "done", |t| t["state"] == "done").await;
    let results = du["result"]["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), 1, "{du}");
    assert_eq!(results[0]["current_state"], "Installed", "{du}");
    assert_eq!(results[0]["fault_code"], 0, "{du}");
    assert!(
        results[0]["uuid"].as_str().is_some_and(|u| u.len() == 36),
        "{du}"
    );
    assert!(
        stem.starts_with(results[0]["version"].as_str().unwrap_or("-")),
        "the unit's version comes from its file name: {du}"
    );
    // the task settles inside the session that reports it, before that session ends
    wait::until_true(
        &format!(
            "{SERIAL} to end a session informing 11 DU STATE CHANGE COMPLETE + M ChangeDUState"
        ),
        secs(30),
        || async { sim.informed(SERIAL, &["11 DU STATE CHANGE COMPLETE", "M ChangeDUState"]) },
    )
    .await;
    let changed = sim.events_of(SERIAL, "du_changed");
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0]["command_key"], du["command_key"]);

    // 2. A ScheduleDownload for an hour from now waits on the device; GetAllQueuedTransfers
    // lists it, CancelTransfer withdraws it and its task ends as cancelled.
    let later = queue(
        &api,
        "schedule_download",
        json!({"file_type": "3 Vendor Configuration File", "url": url,
               "time_windows": [{"window_start": 3600, "window_end": 7200}]}),
    )
    .await;
    wait_task(&api, &later["id"], "in flight (accepted by the CPE)", |t| {
        t["state"] == "in_flight"
    })
    .await;
    let key = later["command_key"]
        .as_str()
        .expect("command_key")
        .to_owned();
    let listed = queue(&api, "get_all_queued_transfers", json!({})).await;
    let listed = wait_task(&api, &listed["id"], "done", |t| t["state"] == "done").await;
    assert_eq!(
        listed["result"],
        json!({"transfers": [{"command_key": key, "state": "not_started", "is_download": true,
                              "file_type": "3 Vendor Configuration File", "file_size": 0,
                              "target_file_name": ""}]}),
        "{listed}"
    );
    let cancel = queue(&api, "cancel_transfer", json!({ "command_key": key })).await;
    wait_task(&api, &cancel["id"], "done", |t| t["state"] == "done").await;
    let later = wait_task(&api, &later["id"], "failed as cancelled", |t| {
        t["state"] == "failed"
    })
    .await;
    assert_eq!(later["fault_code"], Value::Null, "{later}");
    assert_eq!(
        later["fault_string"],
        format!("cancelled by CancelTransfer (task {})", cancel["id"]),
    );

    // 3. A ScheduleDownload whose window is open now: fetched, reported with
    // 7 TRANSFER COMPLETE + M ScheduleDownload, the task done; the image boots.
    let now = queue(
        &api,
        "schedule_download",
        json!({"file_type": "1 Firmware Upgrade Image", "url": url, "file_size": image.len(),
               "time_windows": [{"window_start": 0, "window_end": 600, "window_mode": "2 Immediately"}]}),
    )
    .await;
    wait::until_true(
        &format!("{SERIAL} to download in its window"),
        secs(60),
        || async { !sim.events_of(SERIAL, "downloaded").is_empty() },
    )
    .await;
    let downloaded = &sim.events_of(SERIAL, "downloaded")[0];
    assert_eq!(downloaded["fault_code"], 0, "{downloaded}");
    assert_eq!(downloaded["bytes"], image.len(), "{downloaded}");
    wait_task(&api, &now["id"], "done", |t| t["state"] == "done").await;
    wait::until_true(
        &format!("{SERIAL} to end a session informing 7 TRANSFER COMPLETE + M ScheduleDownload"),
        secs(30),
        || async { sim.informed(SERIAL, &["7 TRANSFER COMPLETE", "M ScheduleDownload"]) },
    )
    .await;
    let history = api
        .expect(
            200,
            "GET",
            &format!("/inventory_device_serial/{SERIAL}/history/"),
            None,
        )
        .await;
    let key = now["command_key"].as_str().expect("command_key");
    assert!(
        history["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["code"] == "M ScheduleDownload" && e["command_key"] == key),
        "{history}"
    );
    let version = downloaded["software_version"].as_str().expect("a version");
    assert!(stem.starts_with(version), "{version} from {file_name}");
    wait::until_true(
        &format!("{SERIAL}: software_version {version}"),
        secs(30),
        || async { api.device(SERIAL).await["software_version"] == version },
    )
    .await;
    wait_settled(&api, SERIAL, secs(30)).await;
    drop(sim);
    drop(acs);
}
