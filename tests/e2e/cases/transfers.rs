//! The rest of Amendment 6 through `/tasks/`: a deployment unit installed with ChangeDUState,
//! a ScheduleDownload carried out in its window and reported with `M ScheduleDownload`, and
//! one held for a later window, listed by GetAllQueuedTransfers and cancelled with
//! CancelTransfer. The tasks are queued before the devices first inform, so each device takes
//! them in its first session, in order (no connection request, whose per-device rate limit
//! would make a sequence of steps take seconds each).

use serde_json::{Value, json};

use super::common::{register, wait_settled};
use crate::support::{Api, Env, SimConfig, wait, wait::secs};

/// Queues a task, returning it as the API shows it.
async fn queue(api: &Api, serial: &str, kind: &str, payload: Value) -> Value {
    let task = api
        .expect(
            201,
            "POST",
            &format!("/inventory_device_serial/{serial}/tasks/"),
            Some(&json!({ "kind": kind, "payload": payload })),
        )
        .await;
    assert_eq!(task["state"], "pending", "{task}");
    task
}

/// The device's task `task` once `state` says it has settled as wanted (fails at once when
/// it settled otherwise).
async fn wait_task(api: &Api, serial: &str, task: &Value, state: &str) -> Value {
    let id = &task["id"];
    wait::until(
        &format!("{serial}: {} task {id} to be {state}", task["kind"]),
        secs(60),
        || async {
            let t = api
                .tasks(serial)
                .await
                .into_iter()
                .find(|t| t["id"] == *id)?;
            let now = t["state"].as_str().unwrap_or_default().to_owned();
            assert!(
                now == state || now == "pending" || now == "in_flight",
                "{serial}: task {id} is {now}, not {state}: {t}"
            );
            (now == state).then_some(t)
        },
    )
    .await
}

pub async fn software_and_scheduled_transfers(env: Env) {
    let (acs, api) = env.start();
    let serials: Vec<String> = (0..3).map(|i| format!("SWM{i}")).collect();
    for s in &serials {
        register(&api, s, json!({})).await;
    }
    // The file the deployment unit and the downloads fetch, served by the CPE listener.
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

    let du = queue(
        &api,
        "SWM0",
        "change_du_state",
        json!({"operations": [{"operation": "install", "url": url}]}),
    )
    .await;
    let now = queue(
        &api,
        "SWM1",
        "schedule_download",
        json!({"file_type": "1 Firmware Upgrade Image", "url": url, "file_size": image.len(),
               "time_windows": [{"window_start": 0, "window_end": 600, "window_mode": "2 Immediately"}]}),
    )
    .await;
    let later = queue(
        &api,
        "SWM2",
        "schedule_download",
        json!({"file_type": "3 Vendor Configuration File", "url": url,
               "time_windows": [{"window_start": 3600, "window_end": 7200}]}),
    )
    .await;
    let later_key = later["command_key"]
        .as_str()
        .expect("command_key")
        .to_owned();
    let listed = queue(&api, "SWM2", "get_all_queued_transfers", json!({})).await;
    let cancel = queue(
        &api,
        "SWM2",
        "cancel_transfer",
        json!({ "command_key": later_key }),
    )
    .await;

    let sim = SimConfig {
        acs_url: &acs.acs_url(),
        serial_pattern: "SWM{}",
        devices: 3,
        inform_interval: 300,
        // ChangeDUState, ScheduleDownload and CancelTransfer came with CWMP 1.2: a 1.0 CPE
        // is never sent them
        extra: vec!["--cwmp-version".into(), "1.4".into()],
    }
    .start();

    // 1. ChangeDUState Install: done once DUStateChangeComplete reports it, results shown.
    let du = wait_task(&api, "SWM0", &du, "done").await;
    let results = du["result"]["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), 1, "{du}");
    assert_eq!(results[0]["current_state"], "Installed", "{du}");
    assert_eq!(results[0]["fault_code"], 0, "{du}");
    assert!(
        results[0]["uuid"].as_str().is_some_and(|u| u.len() == 36),
        "{du}"
    );
    assert!(
        stem.split_once('-').map(|(_, name)| name) == results[0]["version"].as_str(),
        "the unit's version comes from its file name: {du}"
    );
    let changed = sim.events_of("SWM0", "du_changed");
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0]["command_key"], du["command_key"]);
    // the task settles inside the session that reports it, before that session ends
    wait::until_true(
        "SWM0 to end a session informing 11 DU STATE CHANGE COMPLETE + M ChangeDUState",
        secs(30),
        || async { sim.informed("SWM0", &["11 DU STATE CHANGE COMPLETE", "M ChangeDUState"]) },
    )
    .await;

    // 2. The ScheduleDownload whose window is open: fetched, reported with
    // 7 TRANSFER COMPLETE + M ScheduleDownload, the task done; the image boots.
    let now = wait_task(&api, "SWM1", &now, "done").await;
    let downloaded = &sim.events_of("SWM1", "downloaded")[0];
    assert_eq!(downloaded["fault_code"], 0, "{downloaded}");
    assert_eq!(downloaded["bytes"], image.len(), "{downloaded}");
    assert_eq!(downloaded["url"], url.as_str(), "{downloaded}");
    wait::until_true(
        "SWM1 to end a session informing 7 TRANSFER COMPLETE + M ScheduleDownload",
        secs(30),
        || async { sim.informed("SWM1", &["7 TRANSFER COMPLETE", "M ScheduleDownload"]) },
    )
    .await;
    let history = api
        .expect(200, "GET", "/inventory_device_serial/SWM1/history/", None)
        .await;
    assert!(
        history["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["code"] == "M ScheduleDownload" && e["command_key"] == now["command_key"]),
        "{history}"
    );
    let version = downloaded["software_version"].as_str().expect("a version");
    assert!(
        stem.split_once('-').map(|(_, name)| name) == Some(version),
        "{version} from {file_name}"
    );
    wait::until_true(
        &format!("SWM1: software_version {version}"),
        secs(30),
        || async { api.device("SWM1").await["software_version"] == version },
    )
    .await;

    // 3. The ScheduleDownload for an hour from now waited on the device: GetAllQueuedTransfers
    // listed it, CancelTransfer withdrew it and its task ended as cancelled.
    let listed = wait_task(&api, "SWM2", &listed, "done").await;
    assert_eq!(
        listed["result"],
        json!({"transfers": [{"command_key": later_key, "state": "not_started", "is_download": true,
                              "file_type": "3 Vendor Configuration File", "file_size": 0,
                              "target_file_name": ""}]}),
        "{listed}"
    );
    wait_task(&api, "SWM2", &cancel, "done").await;
    let later = wait_task(&api, "SWM2", &later, "cancelled").await;
    assert_eq!(later["fault_code"], Value::Null, "{later}");
    assert_eq!(
        later["fault_string"],
        format!("cancelled by CancelTransfer (task {})", cancel["id"]),
    );
    assert!(sim.events_of("SWM2", "downloaded").is_empty());

    for s in &serials {
        wait_settled(&api, s, secs(30)).await;
    }
    drop(sim);
    drop(acs);
}
