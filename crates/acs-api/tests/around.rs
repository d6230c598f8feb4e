//! Around the devices: connection requests after a PATCH and for update_status, the catalog,
//! firmware uploads, tasks, parameters, history, and the OpenAPI document.

mod support;

use support::LIST;

use support::Env;

use std::time::Duration;

use serde_json::{Value, json};
use support::{dead_url, digest_cpe, fake_cpe, find_result, multipart, start, start_with};
use tokio::sync::mpsc::error::TryRecvError;

async fn patch_stores_tasks_then_sends_a_connection_request(env: Env) {
    // The accepted request waits for its session for longer than the test runs, so no second
    // request of the same wake reaches the CPE while the test looks.
    let hour = Duration::from_secs(3600);
    let s = start_with(&env, |c| {
        c.wake_session_wait = hour;
        c.wake_retry_window = hour;
    })
    .await;
    s.post_device(json!({"serial_number": "CR1", "name": "n"}))
        .await;
    let (url, mut hits) = fake_cpe().await;
    s.inform("CR1", &url).await;
    let r = s.patch_device("CR1", json!({"reboot": true})).await;
    assert_eq!(r.json()["pending_settings"], "reboot");
    // The answer waits for the request's outcome: by then the CPE has seen it.
    assert_eq!(
        r.json()["connection_request"]["outcome"],
        "accepted",
        "{}",
        r.json()
    );
    let line = hits.try_recv().expect("a connection request");
    assert!(line.starts_with("GET /cr"), "{line}");
    // Counted where the engine counts its own (`/metrics` of `acs serve`), before the outcome
    // reaches the answer.
    let counted = "acs_connection_requests_total{outcome=\"accepted\"} 1";
    assert!(
        s.metrics.render().contains(counted),
        "{}",
        s.metrics.render()
    );
    // A plain field change queues nothing, so it wakes nobody: its answer carries no
    // connection request (a write that wakes waits for the request's outcome, so one sent
    // would already have reached the CPE) and the CPE saw nothing more.
    let r = s.patch_device("CR1", json!({"name": "m"})).await;
    assert!(r.json()["connection_request"].is_null(), "{}", r.json());
    assert_eq!(hits.try_recv(), Err(TryRecvError::Empty));
    assert!(s.metrics.render().contains(counted));
}

async fn update_status_contacts_the_page_and_flips_what_did_not_answer(env: Env) {
    let s = start(&env).await;
    for serial in ["LIVE", "DEAD", "NOURL"] {
        s.post_device(json!({"serial_number": serial, "name": serial}))
            .await;
    }
    let (url, mut hits) = fake_cpe().await;
    s.inform("LIVE", &url).await;
    s.inform("DEAD", &dead_url().await).await;
    let before = s.get(&format!("{LIST}DEAD/")).await.json();
    assert_eq!(before["status"], "Up");

    let page = s.get(&format!("{LIST}?update_status=true")).await.json();
    let by_serial = |serial: &str| -> Value {
        find_result(&page, "serial_number", serial)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_serial("LIVE")["status"], "Up");
    assert_eq!(by_serial("DEAD")["status"], "Down");
    assert_ne!(by_serial("DEAD")["status_change"], before["status_change"]);
    assert_eq!(by_serial("NOURL")["status"], "Down");
    assert!(hits.recv().await.unwrap().starts_with("GET /cr"));
    // Stored: a plain read shows the same.
    assert_eq!(
        s.get(&format!("{LIST}DEAD/")).await.json()["status"],
        "Down"
    );
    // The detail endpoint too.
    let d = s
        .get(&format!("{LIST}LIVE/?update_status=true"))
        .await
        .json();
    assert_eq!(d["status"], "Up");
}

async fn tasks_parameters_and_history(env: Env) {
    let s = start(&env).await;
    s.post_device(json!({"serial_number": "T1", "name": "n"}))
        .await;
    let tasks = format!("{LIST}T1/tasks/");
    let r = s
        .call(
            "POST",
            &tasks,
            Some(&json!({"kind": "get_parameter_values", "payload": {"names": ["Device.DeviceInfo."]}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let t = r.json();
    assert_eq!(t["kind"], "get_parameter_values");
    assert_eq!(t["setting_group"], "get_parameter_values");
    assert_eq!(t["state"], "pending");
    let r = s
        .call(
            "POST",
            &tasks,
            Some(&json!({"kind": "download", "setting_group": "fw_campaign", "payload": {"file_type": "1 Firmware Upgrade Image", "url": "http://files.example/fw.bin", "password": "s3cret"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert!(!String::from_utf8_lossy(&r.body).contains("s3cret"));
    for bad in [
        json!({"kind": "format_disk"}),
        json!({"kind": "get_parameter_values", "payload": {"names": "x"}}),
        json!({"payload": {}}),
        json!({"kind": "reboot", "extra": 1}),
        json!({"kind": "reboot", "setting_group": "Bad Group"}),
    ] {
        let r = s.call("POST", &tasks, Some(&bad)).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    let list = s.get(&tasks).await.json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let d = s.get(&format!("{LIST}T1/")).await.json();
    assert_eq!(d["pending_settings"], "get_parameter_values,fw_campaign");

    let id = t["id"].as_i64().unwrap();
    assert_eq!(
        s.status("DELETE", &format!("{tasks}{id}/"), None).await,
        204
    );
    assert_eq!(
        s.status("DELETE", &format!("{tasks}{id}/"), None).await,
        404
    );
    assert_eq!(s.status("DELETE", &format!("{tasks}abc/"), None).await, 404);

    let params = s.get(&format!("{LIST}T1/parameters/?prefix=Device.")).await;
    assert_eq!(params.status, 200);
    assert_eq!(params.json()["count"], 0);
    assert!(params.json()["results"].as_array().unwrap().is_empty());
    let h = s.get(&format!("{LIST}T1/history/")).await.json();
    for key in ["events", "faults", "traces"] {
        assert!(h[key].is_array(), "{key}");
    }
    assert_eq!(s.get(&format!("{LIST}NOPE/tasks/")).await.status, 404);
}

async fn transfer_and_software_module_tasks(env: Env) {
    let s = start(&env).await;
    s.post_device(json!({"serial_number": "T2", "name": "n"}))
        .await;
    let tasks = format!("{LIST}T2/tasks/");
    let post = |body: Value| {
        let s = &s;
        let tasks = &tasks;
        async move {
            let r = s.call("POST", tasks, Some(&body)).await;
            (r.status, r.json())
        }
    };
    let window = |start: u32, end: u32| json!({"window_start": start, "window_end": end});
    let sd = |windows: Value| {
        json!({"kind": "schedule_download", "payload": {
            "file_type": "1 Firmware Upgrade Image", "url": "http://files.example/fw.bin",
            "password": "sd-s3cret", "time_windows": windows}})
    };
    let (status, scheduled) = post(sd(json!([window(0, 600), window(600, 3600)]))).await;
    assert_eq!(status, 201, "{scheduled}");
    assert_eq!(scheduled["kind"], "schedule_download");
    assert_eq!(scheduled["payload"]["password"], "***");
    assert_eq!(
        scheduled["payload"]["time_windows"][0]["window_mode"],
        "1 At Any Time"
    );
    assert_eq!(scheduled["result"], Value::Null);
    let key = scheduled["command_key"].as_str().unwrap().to_owned();
    assert!(!key.is_empty() && key.len() <= 32, "{key}");
    let (status, cancel) =
        post(json!({"kind": "cancel_transfer", "payload": {"command_key": key}})).await;
    assert_eq!(status, 201, "{cancel}");
    assert_eq!(cancel["payload"]["command_key"], key.as_str());
    let (status, queued) = post(json!({"kind": "get_queued_transfers"})).await;
    assert_eq!(status, 201, "{queued}");
    let (status, all) = post(json!({"kind": "get_all_queued_transfers", "payload": {}})).await;
    assert_eq!(status, 201, "{all}");
    let (status, du) = post(json!({"kind": "change_du_state", "payload": {"operations": [
        {"operation": "install", "url": "http://files.example/app.tar", "password": "du-s3cret"},
        {"operation": "update", "uuid": "6ba7b810-9dad-11d1-80b4-00c04fd430c8"},
        {"operation": "uninstall", "uuid": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "version": "1.0"},
    ]}}))
    .await;
    assert_eq!(status, 201, "{du}");
    assert_eq!(du["payload"]["operations"][0]["password"], "***");
    assert_eq!(du["payload"]["operations"][2]["operation"], "uninstall");

    // every bad field is a 400 naming it; nothing is queued
    let too_long_key = "k".repeat(33);
    for (bad, field) in [
        (sd(json!([])), "payload.time_windows"),
        (
            sd(json!([window(0, 1), window(2, 3), window(4, 5)])),
            "payload.time_windows",
        ),
        (
            sd(json!([window(60, 30)])),
            "payload.time_windows[0].window_end",
        ),
        (
            sd(json!([window(0, 600), window(300, 900)])),
            "payload.time_windows[1].window_start",
        ),
        (
            sd(json!([{"window_start": 0, "window_end": 1, "window_mode": "soon"}])),
            "payload.time_windows[0].window_mode",
        ),
        (
            json!({"kind": "schedule_download", "payload": {"file_type": "1 Firmware Upgrade Image",
                "url": format!("http://x/{}", "a".repeat(300)), "time_windows": [window(0, 1)]}}),
            "payload.url",
        ),
        (
            json!({"kind": "cancel_transfer", "payload": {"command_key": too_long_key}}),
            "payload.command_key",
        ),
        (
            json!({"kind": "cancel_transfer", "payload": {"command_key": ""}}),
            "payload.command_key",
        ),
        (
            json!({"kind": "cancel_transfer", "payload": {}}),
            "payload (cancel_transfer)",
        ),
        (
            json!({"kind": "get_queued_transfers", "payload": {"limit": 3}}),
            "payload (get_queued_transfers)",
        ),
        (
            json!({"kind": "change_du_state", "payload": {"operations": []}}),
            "payload.operations",
        ),
        (
            json!({"kind": "change_du_state", "payload": {"operations": [
                {"operation": "install", "url": "http://x/a.tar"},
                {"operation": "uninstall", "uuid": "123"}]}}),
            "payload.operations[1].uuid",
        ),
        (
            json!({"kind": "change_du_state", "payload": {"operations": [
                {"operation": "install", "url": "/relative.tar"}]}}),
            "payload.operations[0].url",
        ),
        (
            json!({"kind": "change_du_state", "payload": {"operations": [{"operation": "restart"}]}}),
            "payload (change_du_state)",
        ),
    ] {
        let (status, body) = post(bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        let message = body[field][0].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{bad}: expected {field} in {body}");
    }
    let list = s.get(&tasks).await.json();
    assert_eq!(list.as_array().unwrap().len(), 5, "{list}");
    let listed = list.to_string();
    assert!(
        !listed.contains("sd-s3cret") && !listed.contains("du-s3cret"),
        "{listed}"
    );

    // what the CPE reported is shown with the task
    let device = s.store.device_by_serial("T2").await.unwrap().unwrap();
    let holder = "node/s";
    let now = chrono::Utc::now();
    let mut claimed = Vec::new();
    while let Some(task) = s.claim(device.id, holder, now).await {
        claimed.push(task);
    }
    let queued_task = claimed
        .iter()
        .find(|t| t.kind == "get_queued_transfers")
        .unwrap();
    let reported = json!({"transfers": [{"command_key": key, "state": "not_started"}]});
    s.store
        .settle_task(
            queued_task.id,
            holder,
            &acs_store::TaskOutcome::Reported {
                result: reported.clone(),
                fault: None,
            },
            now,
        )
        .await
        .unwrap();
    let list = s.get(&tasks).await.json();
    let shown = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == queued["id"])
        .unwrap();
    assert_eq!(shown["state"], "done");
    assert_eq!(shown["result"], reported);
}

async fn catalog_crud(env: Env) {
    let s = start(&env).await;
    let org_id = s
        .create("/api/v1/organizations/", json!({"name": "Acme"}))
        .await;
    assert_eq!(
        s.status(
            "POST",
            "/api/v1/organizations/",
            Some(&json!({"name": "Acme"}))
        )
        .await,
        409
    );
    assert_eq!(
        s.status("POST", "/api/v1/organizations/", Some(&json!({"nom": "x"})))
            .await,
        400
    );
    let loc_id = s
        .create(
            "/api/v1/locations/",
            json!({"name": "HQ", "short_name": "HQ_A", "organization_id": org_id, "latitude": "37.7749", "longitude": "-122.4194"}),
        )
        .await;
    let type_id = s
        .create(
            "/api/v1/device_types/",
            json!({"short_name": "igd", "name": "Generic IGD", "data_model_root": "InternetGatewayDevice."}),
        )
        .await;
    let r = s
        .call(
            "POST",
            "/api/v1/device_types/",
            Some(&json!({"short_name": "x", "name": "x", "data_model_root": "Nope."})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["data_model_root"][0].is_string());

    let d = s
        .post_device(json!({"serial_number": "C1", "name": "n", "organization_id": org_id, "type": type_id, "location": loc_id}))
        .await
        .json();
    assert_eq!(d["location_short_name"], "HQ_A");
    assert_eq!(d["type_short_name"], "igd");
    // Referenced: 409; then free after the device goes.
    assert_eq!(
        s.status("DELETE", &format!("/api/v1/device_types/{type_id}/"), None)
            .await,
        409
    );
    s.call("DELETE", &format!("{LIST}C1/"), None).await;
    for path in [
        format!("/api/v1/device_types/{type_id}/"),
        format!("/api/v1/locations/{loc_id}/"),
        format!("/api/v1/organizations/{org_id}/"),
    ] {
        assert_eq!(s.get(&path).await.status, 200, "{path}");
        assert_eq!(s.status("DELETE", &path, None).await, 204, "{path}");
        assert_eq!(s.get(&path).await.status, 404, "{path}");
    }
}

fn firmware_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir.join("firmware"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn firmware_upload_and_download_intent(env: Env) {
    let s = start_with(&env, |c| {
        c.public_cwmp_url = Some("https://acs.example.net:7547/".into());
        c.max_upload_bytes = 64 * 1024;
    })
    .await;
    let image = vec![0xA5u8; 20_000];
    let (ct, body) = multipart(&[
        ("version", None, b"2.0.1"),
        ("file", Some("../../evil name?.bin"), &image),
    ]);
    let r = s.post_firmware(&ct, &body).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let fw = r.json();
    let sha = ring::digest::digest(&ring::digest::SHA256, &image);
    let hex: String = sha.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(fw["sha256"], hex);
    assert_eq!(fw["size"], 20_000);
    assert_eq!(fw["version"], "2.0.1");
    let file_name = format!("{hex}-evil_name_.bin");
    assert_eq!(fw["file_name"], file_name);
    assert_eq!(
        fw["url"],
        format!("https://acs.example.net:7547/files/firmware/{file_name}")
    );
    assert_eq!(firmware_files(&s.dir), std::slice::from_ref(&file_name));
    assert_eq!(
        std::fs::read(s.dir.join("firmware").join(&file_name)).unwrap(),
        image
    );

    // Too large: 413, nothing left behind.
    let big = vec![0u8; 100 * 1024];
    let (ct, body) = multipart(&[("version", None, b"3"), ("file", Some("big.bin"), &big)]);
    let r = s.post_firmware(&ct, &body).await;
    assert_eq!(r.status, 413);
    // Missing version: 400, nothing left behind.
    let (ct, body) = multipart(&[("file", Some("x.bin"), b"abc")]);
    let r = s.post_firmware(&ct, &body).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["version"][0].is_string());
    let r = s.post_firmware("application/json", b"{}").await;
    assert_eq!(r.status, 400);
    assert_eq!(firmware_files(&s.dir), std::slice::from_ref(&file_name));

    // PATCH firmware_image: pending until the engine settles it.
    s.post_device(json!({"serial_number": "F1", "name": "n"}))
        .await;
    let id = fw["id"].as_i64().unwrap();
    let d = s
        .call(
            "PATCH",
            &format!("{LIST}F1/"),
            Some(&json!({"firmware_image": id})),
        )
        .await
        .json();
    assert_eq!(d["firmware_image"], id);
    assert_eq!(d["firmware_image_is_pending"], true);
    assert_eq!(d["pending_settings"], "firmware_upgrade");
    // Registering with an image queues its download; an unknown image writes nothing.
    let r = s
        .post_device(json!({"serial_number": "F2", "name": "n", "firmware_image": id}))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["pending_settings"], "firmware_upgrade");
    assert_eq!(r.json()["firmware_image_is_pending"], true);
    let r = s
        .post_device(json!({"serial_number": "F3", "name": "n", "firmware_image": id + 100}))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["firmware_image"][0].is_string());
    assert_eq!(s.get(&format!("{LIST}F3/")).await.status, 404);
    // In use: the image cannot go.
    assert_eq!(
        s.status("DELETE", &format!("/api/v1/firmware_images/{id}/"), None)
            .await,
        409
    );
    assert_eq!(
        s.get("/api/v1/firmware_images/")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn openapi_is_served_without_a_token_and_matches_the_checked_in_copy(env: Env) {
    let s = start(&env).await;
    let r = s.raw("GET", "/api/v1/openapi.json", None, None, b"").await;
    assert_eq!(r.status, 200);
    let served = r.json();
    assert_eq!(served["openapi"], "3.1.0");
    for path in [
        "/api/v1/inventory_device_serial/",
        "/api/v1/inventory_device_serial/{serial_number}/",
        "/api/v1/firmware_images/",
    ] {
        assert!(served["paths"][path].is_object(), "{path}");
    }
    let docs = s.raw("GET", "/api/v1/docs/", None, None, b"").await;
    assert_eq!(docs.status, 200);
    assert!(String::from_utf8_lossy(&docs.body).contains("swagger"));

    let generated = acs_api::openapi_json();
    assert_eq!(serde_json::from_str::<Value>(&generated).unwrap(), served);
    let checked_in = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/openapi.json");
    if std::env::var_os("ACS_UPDATE_SCHEMAS").is_some() {
        std::fs::write(checked_in, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(checked_in).unwrap_or_default();
    assert!(
        on_disk == generated,
        "schemas/openapi.json is stale: run `ACS_UPDATE_SCHEMAS=1 cargo test -p acs-api --test around openapi`"
    );
}

/// The fields of a location a write sets (absent ones as `null`).
fn location_fields(l: &Value) -> Value {
    [
        "name",
        "short_name",
        "organization_id",
        "latitude",
        "longitude",
    ]
    .into_iter()
    .map(|k| (k.to_owned(), l[k].clone()))
    .collect::<serde_json::Map<_, _>>()
    .into()
}

async fn organizations_and_locations_update(env: Env) {
    let s = start(&env).await;
    let mut orgs = Vec::new();
    for name in ["A", "B", "C"] {
        orgs.push(
            s.create("/api/v1/organizations/", json!({"name": name}))
                .await,
        );
    }
    let (a, b, c) = (orgs[0], orgs[1], orgs[2]);
    let org_path = |id: i64| format!("/api/v1/organizations/{id}/");

    // Organizations: PUT and PATCH rename; a taken name is 409; bad bodies 400; unknown 404.
    let r = s
        .call("PUT", &org_path(a), Some(&json!({"name": "A2"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    assert_eq!(r.json()["name"], "A2");
    assert_eq!(s.get(&org_path(a)).await.json()["name"], "A2");
    let r = s.call("PATCH", &org_path(a), Some(&json!({}))).await;
    assert_eq!((r.status, r.json()["name"].clone()), (200, json!("A2")));
    let r = s
        .call("PATCH", &org_path(a), Some(&json!({"name": "B"})))
        .await;
    assert_eq!(r.status, 409);
    assert!(r.json()["detail"].is_string());
    for bad in [
        json!({}),
        json!({"name": ""}),
        json!({"name": "x", "nom": 1}),
    ] {
        let r = s.call("PUT", &org_path(a), Some(&bad)).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.json().is_object());
    }
    let r = s
        .call("PATCH", &org_path(a), Some(&json!({"name": 5})))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["detail"].is_string());
    assert_eq!(
        s.get(&org_path(a)).await.json()["name"],
        "A2",
        "nothing written"
    );
    let r = s
        .call("PUT", &org_path(4242), Some(&json!({"name": "Z"})))
        .await;
    assert_eq!(r.status, 404);
    assert!(r.json()["detail"].is_string());

    // Locations.
    let loc = s
        .create(
            "/api/v1/locations/",
            json!({"name": "HQ", "short_name": "hq", "organization_id": a, "latitude": "1.5"}),
        )
        .await;
    let loc_path = format!("/api/v1/locations/{loc}/");
    let r = s
        .call("PATCH", &loc_path, Some(&json!({"longitude": "-3.25"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    assert_eq!(
        location_fields(&r.json()),
        json!({
            "name": "HQ", "short_name": "hq", "organization_id": a,
            "latitude": "1.5", "longitude": "-3.25"
        })
    );
    // PUT replaces every field but keeps the organization it leaves out.
    let r = s
        .call("PUT", &loc_path, Some(&json!({"name": "HQ 2"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    assert_eq!(
        location_fields(&r.json()),
        json!({
            "name": "HQ 2", "short_name": null, "organization_id": a,
            "latitude": null, "longitude": null
        })
    );
    let r = s
        .call(
            "PATCH",
            &loc_path,
            Some(&json!({"latitude": "91", "longitude": "x", "name": ""})),
        )
        .await;
    assert_eq!(r.status, 400);
    let errors = r.json();
    for field in ["latitude", "longitude", "name"] {
        assert!(errors[field].is_array(), "{field}: {errors}");
    }
    let r = s
        .call("PATCH", &loc_path, Some(&json!({"organization_id": 4242})))
        .await;
    assert_eq!(r.status, 400, "{}", r.json());
    assert_eq!(
        s.get(&loc_path).await.json()["name"],
        "HQ 2",
        "nothing written"
    );
    let r = s
        .call(
            "PATCH",
            "/api/v1/locations/4242/",
            Some(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(r.status, 404);

    // A token for A and B: its own organizations and locations only.
    let (_, secret) = s
        .store
        .create_token(
            "ab",
            acs_store::TokenScope::Organizations(vec![a, b]),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let ab = secret.expose();
    let r = s
        .call_as(ab, "PATCH", &org_path(b), Some(&json!({"name": "B2"})))
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .call_as(ab, "PATCH", &org_path(c), Some(&json!({"name": "C2"})))
        .await;
    assert_eq!(r.status, 403);
    assert!(r.json()["detail"].is_string());
    let r = s
        .call_as(ab, "PATCH", &loc_path, Some(&json!({"organization_id": b})))
        .await;
    assert_eq!(
        (r.status, r.json()["organization_id"].clone()),
        (200, json!(b))
    );
    for org in [json!(c), Value::Null] {
        let r = s
            .call_as(
                ab,
                "PATCH",
                &loc_path,
                Some(&json!({"organization_id": org})),
            )
            .await;
        assert_eq!(r.status, 403, "{org}");
    }
    assert_eq!(s.get(&loc_path).await.json()["organization_id"], b);
    let r = s
        .call("PATCH", &loc_path, Some(&json!({"organization_id": c})))
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .call_as(ab, "PUT", &loc_path, Some(&json!({"name": "mine now"})))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(s.get(&loc_path).await.json()["name"], "HQ 2");
}

async fn non_utf8_ids_are_json_400s(env: Env) {
    let s = start(&env).await;
    for (method, path) in [
        ("GET", "/api/v1/organizations/%FF/"),
        ("PUT", "/api/v1/organizations/%FF/"),
        ("PATCH", "/api/v1/organizations/%FF/"),
        ("DELETE", "/api/v1/organizations/%FF/"),
        ("GET", "/api/v1/locations/%FF/"),
        ("PATCH", "/api/v1/locations/%C3%28/"),
        ("DELETE", "/api/v1/locations/%FF/"),
        ("GET", "/api/v1/device_types/%FF/"),
        ("PUT", "/api/v1/device_types/%FF/"),
        ("DELETE", "/api/v1/device_types/%FF/"),
        ("GET", "/api/v1/firmware_images/%FF/"),
        ("DELETE", "/api/v1/firmware_images/%FF/"),
    ] {
        let r = s.call(method, path, Some(&json!({"name": "x"}))).await;
        assert_eq!(r.status, 400, "{method} {path}");
        assert!(r.json()["detail"].is_string(), "{method} {path}");
    }
    // Not an integer: no such row.
    let r = s.get("/api/v1/organizations/abc/").await;
    assert_eq!(r.status, 404);
    assert!(r.json()["detail"].is_string());
    // A task id under a known device.
    s.post_device(json!({"serial_number": "T1", "name": "t"}))
        .await;
    let r = s
        .call("DELETE", &format!("{LIST}T1/tasks/%FF/"), None)
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["detail"].is_string());
}

async fn connection_requests_use_the_stored_credentials(env: Env) {
    let s = start(&env).await;
    // A username without a password: sent with an empty password (some CPEs have none).
    // A username with a password, and no username at all.
    for (serial, body) in [
        (
            "U1",
            json!({"serial_number": "U1", "name": "n", "username": "cr-user"}),
        ),
        (
            "U2",
            json!({"serial_number": "U2", "name": "n", "username": "cr-both", "password": "pw"}),
        ),
        ("U3", json!({"serial_number": "U3", "name": "n"})),
    ] {
        assert_eq!(s.status("POST", LIST, Some(&body)).await, 201);
        let (url, mut hits) = digest_cpe().await;
        s.inform(serial, &url).await;
        let r = s.patch_device(serial, json!({"reboot": true})).await;
        let mut next = async || {
            tokio::time::timeout(Duration::from_secs(5), hits.recv())
                .await
                .expect("a connection request")
                .unwrap()
        };
        assert_eq!(next().await, "", "{serial}: the first request is bare");
        match serial {
            "U1" | "U2" => {
                let user = if serial == "U1" { "cr-user" } else { "cr-both" };
                let auth = next().await;
                assert!(auth.starts_with("Digest "), "{serial}: {auth}");
                assert!(auth.contains(&format!("username=\"{user}\"")), "{auth}");
                assert!(!auth.contains("pw\""), "never the password itself: {auth}");
            }
            _ => {
                // No credentials: the 401 ends it, counted as an auth failure (a final
                // outcome: the wake does not try again), and the answer says so after the
                // only request the CPE saw.
                assert_eq!(
                    r.json()["connection_request"]["outcome"],
                    "auth_failed",
                    "{}",
                    r.json()
                );
                assert_eq!(hits.try_recv(), Err(TryRecvError::Empty));
            }
        }
    }
}

async fn firmware_metadata_updates(env: Env) {
    let s = start(&env).await;
    s.seed_catalog(1, 2).await;
    let (ct, body) = multipart(&[("version", None, b"1.0"), ("file", Some("fw.bin"), b"abc")]);
    let r = s.post_firmware(&ct, &body).await;
    assert_eq!(r.status, 201);
    let fw = r.json();
    let path = format!("/api/v1/firmware_images/{}/", fw["id"]);
    let r = s.call("PATCH", &path, Some(&json!({"type": 2}))).await;
    assert_eq!(r.status, 200, "{}", r.json());
    let patched = r.json();
    assert_eq!(
        (&patched["version"], &patched["type"]),
        (&json!("1.0"), &json!(2))
    );
    for field in ["sha256", "size", "file_name", "url"] {
        assert_eq!(patched[field], fw[field], "{field} comes from the file");
    }
    // PUT: what it leaves out is cleared.
    let r = s
        .call("PUT", &path, Some(&json!({"version": "1.0.1"})))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        (&r.json()["version"], &r.json()["type"]),
        (&json!("1.0.1"), &Value::Null)
    );
    for (bad, field) in [
        (json!({"type": 4242}), "type"),
        (json!({"version": ""}), "version"),
        (json!({"sha256": "00"}), "sha256"),
    ] {
        let r = s.call("PATCH", &path, Some(&bad)).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.json()[field].is_array(), "{bad}: {}", r.json());
    }
    assert_eq!(
        s.get(&path).await.json()["version"],
        "1.0.1",
        "nothing written"
    );
    assert_eq!(
        s.status(
            "PATCH",
            "/api/v1/firmware_images/4242/",
            Some(&json!({"version": "x"}))
        )
        .await,
        404
    );
    let org = s.store.list_organizations().await.unwrap()[0].id;
    let (_, scoped) = s
        .store
        .create_token(
            "o",
            acs_store::TokenScope::organization(org),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let r = s
        .call_as(
            scoped.expose(),
            "PATCH",
            &path,
            Some(&json!({"version": "evil"})),
        )
        .await;
    assert_eq!(r.status, 403);
}

/// `firmware_image_is_pending` says whether a download of the device's image is still to come:
/// cancelling that download, replacing it with another image's, or its failing for good
/// clears it, in the same write.
async fn firmware_pending_follows_its_download(env: Env) {
    let s = start(&env).await;
    s.post_device(json!({"serial_number": "P1", "name": "n"}))
        .await;
    let mut images = Vec::new();
    for n in 1..=2 {
        let image = acs_store::NewFirmwareImage {
            version: format!("{n}.0"),
            file_name: format!("fw-{n}.bin"),
            size: 3,
            sha256: "ab".repeat(32),
            device_type_id: None,
        };
        let stored = s
            .store
            .create_firmware_image(&image, chrono::Utc::now())
            .await
            .unwrap();
        images.push(stored.id);
    }
    let device = format!("{LIST}P1/");
    let tasks = format!("{device}tasks/");
    let choose = |image: Value| {
        let s = &s;
        let device = device.clone();
        async move {
            let r = s
                .call("PATCH", &device, Some(&json!({ "firmware_image": image })))
                .await;
            assert_eq!(r.status, 200, "{}", r.json());
            r.json()
        }
    };
    let open_firmware = || async {
        let list = s.get(&format!("{tasks}?open=true")).await.json();
        list.as_array()
            .unwrap()
            .iter()
            .filter(|t| t["kind"] == "firmware")
            .map(|t| {
                (
                    t["id"].as_i64().unwrap(),
                    t["payload"]["firmware_image"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };

    // cancelled through the tasks API while pending
    let d = choose(json!(images[0])).await;
    assert_eq!(d["firmware_image_is_pending"], true);
    let queued = open_firmware().await;
    assert_eq!(queued.len(), 1);
    let r = s
        .call("DELETE", &format!("{tasks}{}/", queued[0].0), None)
        .await;
    assert_eq!(r.status, 204);
    let d = s.get(&device).await.json();
    assert_eq!(
        (&d["firmware_image_is_pending"], &d["pending_settings"]),
        (&json!(false), &Value::Null)
    );
    assert_eq!(d["firmware_image"], images[0], "the choice stays on record");

    // a second PATCH replaces the first one's download instead of queuing both
    choose(json!(images[0])).await;
    let d = choose(json!(images[1])).await;
    assert_eq!(d["firmware_image_is_pending"], true);
    assert_eq!(d["pending_settings"], "firmware_upgrade");
    let queued = open_firmware().await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].1, images[1]);

    // the engine fails it for good: no longer pending, the fault in the history
    let id = s.store.device_by_serial("P1").await.unwrap().unwrap().id;
    let now = chrono::Utc::now();
    let claimed = s.claim(id, "node", now).await.unwrap();
    let fault = acs_store::TaskOutcome::Fault {
        code: 9010,
        string: "Download failure".into(),
        retryable: false,
    };
    s.store
        .settle_task(claimed.id, "node", &fault, now)
        .await
        .unwrap();
    let d = s.get(&device).await.json();
    assert_eq!(d["firmware_image_is_pending"], false);
    let h = s.get(&format!("{device}history/")).await.json();
    assert_eq!(h["faults"][0]["fault_code"], 9010);

    // no image: what was pending is withdrawn
    choose(json!(images[0])).await;
    let d = choose(Value::Null).await;
    assert_eq!(
        (&d["firmware_image_is_pending"], &d["pending_settings"]),
        (&json!(false), &Value::Null)
    );
    assert!(open_firmware().await.is_empty());
}

api_tests![
    patch_stores_tasks_then_sends_a_connection_request,
    update_status_contacts_the_page_and_flips_what_did_not_answer,
    tasks_parameters_and_history,
    transfer_and_software_module_tasks,
    catalog_crud,
    organizations_and_locations_update,
    non_utf8_ids_are_json_400s,
    firmware_metadata_updates,
    connection_requests_use_the_stored_credentials,
    firmware_upload_and_download_intent,
    firmware_pending_follows_its_download,
    openapi_is_served_without_a_token_and_matches_the_checked_in_copy,
];
