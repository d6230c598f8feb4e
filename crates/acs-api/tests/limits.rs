//! Bounds where API input lands (issue 12 item 12): per-route body limits with the admin
//! check before any body is read, firmware uploads that never lose another request's file,
//! and the firmware storage quota.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use acs_store::TokenScope;
use chrono::Utc;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::{Env, Server, find_result, multipart, start, start_with};

/// A body much larger than what loopback socket buffers hold (a few MiB each way): if the
/// answer comes while less than half of it was sent, the server did not read it.
const BIG: usize = 64 * 1024 * 1024;

/// Sends `method path` with a `BIG`-byte JSON body, a piece at a time, while reading the
/// answer. Returns the status and how many body bytes had been sent when the answer's head
/// arrived.
async fn send_big(s: &Server, method: &str, path: &str, token: &str) -> (u16, usize) {
    let stream = TcpStream::connect(s.addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {BIG}\r\n\r\n",
        s.addr
    );
    wr.write_all(head.as_bytes()).await.unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let writer = tokio::spawn(async move {
        // `{"version": "aaaa…"}`: a JSON object whatever part of it is read.
        let open = b"{\"version\": \"";
        let close = b"\"}";
        let _ = wr.write_all(open).await;
        counter.fetch_add(open.len(), Ordering::SeqCst);
        let piece = vec![b'a'; 64 * 1024];
        let mut left = BIG - open.len() - close.len();
        while left > 0 {
            let n = left.min(piece.len());
            if wr.write_all(&piece[..n]).await.is_err() {
                return;
            }
            counter.fetch_add(n, Ordering::SeqCst);
            left -= n;
        }
        let _ = wr.write_all(close).await;
        counter.fetch_add(close.len(), Ordering::SeqCst);
    });
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    let read_head = async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match rd.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), read_head)
        .await
        .expect("an answer within 2 minutes");
    let at_answer = sent.load(Ordering::SeqCst);
    writer.abort();
    let status = String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {:?}", String::from_utf8_lossy(&answer)));
    (status, at_answer)
}

/// `method path` with a `BIG` body and `token` is answered `status` while less than half of
/// the body was sent: the server did not read it.
async fn assert_answered_unread(s: &Server, method: &str, path: &str, token: &str, status: u16) {
    let (got, sent) = send_big(s, method, path, token).await;
    assert_eq!(got, status, "{method} {path}");
    assert!(
        sent < BIG / 2,
        "{method} {path}: answered after {sent} of {BIG} bytes: the body was read"
    );
}

async fn scoped_token(s: &Server) -> String {
    let org = s.store.create_organization("A", Utc::now()).await.unwrap();
    let (_, t) = s
        .store
        .create_token("a", TokenScope::organization(org.id), Utc::now())
        .await
        .unwrap();
    t.expose().to_owned()
}

/// A token without admin rights gets its 403 on the admin-only routes before any of its body
/// is read: a 64 MiB body is refused while most of it is still unsent.
async fn admin_routes_refuse_before_reading_the_body(env: Env) {
    let s = start(&env).await;
    let token = scoped_token(&s).await;
    let fw = format!("/api/v1/firmware_images/{}/", s.some_image().await);
    for (method, path) in [
        ("PUT", fw.as_str()),
        ("PATCH", fw.as_str()),
        ("POST", "/api/v1/firmware_images/"),
        ("POST", "/api/v1/device_types/"),
        ("POST", "/api/v1/organizations/"),
    ] {
        assert_answered_unread(&s, method, path, &token, 403).await;
    }
    assert_eq!(s.get(&fw).await.json()["version"], "1");
}

/// A firmware image's metadata is JSON: its PUT/PATCH get the JSON limit (413), not the
/// upload's, even for an admin; so do the other JSON routes.
async fn json_routes_have_the_json_limit(env: Env) {
    let s = start(&env).await;
    let fw = format!("/api/v1/firmware_images/{}/", s.some_image().await);
    let admin = s.admin.clone();
    for (method, path) in [
        ("PUT", fw.as_str()),
        ("PATCH", fw.as_str()),
        ("POST", "/api/v1/locations/"),
        ("POST", "/api/v1/inventory_device_serial/"),
    ] {
        assert_answered_unread(&s, method, path, &admin, 413).await;
    }
    // Within the limit, the same routes work.
    let r = s.call("PATCH", &fw, Some(&json!({"version": "2"}))).await;
    assert_eq!(r.status, 200, "{}", r.json());
}

fn sha256_hex(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn upload(s: &Server, name: &str, data: &[u8]) -> support::Response {
    let (ct, body) = multipart(&[("version", None, b"1.0"), ("file", Some(name), data)]);
    s.post_firmware(&ct, &body).await
}

/// Every registered image has its file, with its content.
async fn assert_files_of_every_image(s: &Server, round: usize) {
    for image in s.store.list_firmware_images().await.unwrap() {
        let path = image.path(&s.dir);
        let data = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "round {round}: image {} is registered but {} is gone: {e}",
                image.id,
                path.display()
            )
        });
        assert_eq!(sha256_hex(&data), image.sha256, "round {round}");
    }
}

/// 8 identical uploads at once, 30 times: one wins (201), the others are told the file
/// exists (409), and the winner's file is never deleted by a loser's clean-up.
async fn parallel_identical_uploads_keep_their_file(env: Env) {
    let s = Arc::new(start(&env).await);
    for round in 0..30 {
        let data: Vec<u8> = (0..50_000u32)
            .map(|i| (i.wrapping_mul(31).wrapping_add(round as u32 * 7)) as u8)
            .collect();
        let data = Arc::new(data);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (s, data) = (s.clone(), data.clone());
                tokio::spawn(async move { upload(&s, "same.bin", &data).await.status })
            })
            .collect();
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        statuses.sort_unstable();
        let mut expected = vec![409; 7];
        expected.insert(0, 201);
        assert_eq!(statuses, expected, "round {round}");
        assert_files_of_every_image(&s, round).await;
    }
    // No temp file survives either.
    let stray: Vec<String> = std::fs::read_dir(s.dir.join("firmware"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

/// The firmware directory has a quota: an upload that would pass it is a 507 naming the
/// quota, leaves nothing behind, and fits again once an image is deleted.
async fn firmware_storage_quota(env: Env) {
    let s = start_with(&env, |c| c.max_firmware_storage_bytes = 100_000).await;
    let first = vec![1u8; 60_000];
    let r = upload(&s, "one.bin", &first).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_i64().unwrap();
    let r = upload(&s, "two.bin", &[2u8; 60_000]).await;
    assert_eq!(r.status, 507, "{}", String::from_utf8_lossy(&r.body));
    let detail = r.json()["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("100000") && detail.contains("60000"),
        "{detail}"
    );
    let files = std::fs::read_dir(s.dir.join("firmware")).unwrap().count();
    assert_eq!(files, 1, "only the first image's file");
    let r = s
        .call("DELETE", &format!("/api/v1/firmware_images/{id}/"), None)
        .await;
    assert_eq!(r.status, 204);
    let r = upload(&s, "two.bin", &[2u8; 60_000]).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

fn param(path: String, value: String) -> acs_store::ParameterValue {
    acs_store::ParameterValue {
        path,
        value,
        xsd_type: "xsd:string".into(),
        writable: Some(false),
    }
}

/// `/parameters/` is a page in the device list's envelope (`count`, `next`, `previous`,
/// `results`), with `limit`/`offset` and `prefix`.
async fn parameters_are_paginated(env: Env) {
    let s = start(&env).await;
    let r = s
        .call(
            "POST",
            "/api/v1/inventory_device_serial/",
            Some(&json!({"serial_number": "P1", "name": "p"})),
        )
        .await;
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_i64().unwrap();
    let params: Vec<_> = (0..250)
        .map(|i| {
            let branch = if i < 200 { "A" } else { "B" };
            param(format!("Device.{branch}.P{i:03}"), i.to_string())
        })
        .collect();
    s.store
        .upsert_parameters(id, &params, Utc::now())
        .await
        .unwrap();
    let base = "/api/v1/inventory_device_serial/P1/parameters/";
    let page = s.get(base).await.json();
    assert_eq!(page["count"], 250);
    assert_eq!(page["results"].as_array().unwrap().len(), 100);
    assert_eq!(page["results"][0]["path"], "Device.A.P000");
    assert_eq!(page["previous"], serde_json::Value::Null);
    let next = page["next"].as_str().unwrap();
    assert!(
        next.ends_with(&format!("{base}?limit=100&offset=100")),
        "{next}"
    );
    let page = s
        .get(&format!("{base}?prefix=Device.A.&limit=50&offset=150"))
        .await
        .json();
    assert_eq!(page["count"], 200);
    let results = page["results"].as_array().unwrap();
    assert_eq!(results.len(), 50);
    assert_eq!(results[0]["path"], "Device.A.P150");
    assert_eq!(page["next"], serde_json::Value::Null);
    let previous = page["previous"].as_str().unwrap();
    assert!(
        previous.ends_with(&format!("{base}?limit=50&offset=100&prefix=Device.A.")),
        "{previous}"
    );
    assert_eq!(s.get(&format!("{base}?limit=-1")).await.status, 400);
}

/// A device's stored parameters are capped in number and value size: past the caps new
/// paths and oversized values are refused (logged and counted), on the Inform path and the
/// GetParameterValues path, while known paths keep updating.
async fn parameters_are_capped_per_device(env: Env) {
    let s = start(&env).await;
    s.store.set_parameter_limits(acs_store::ParameterLimits {
        max_per_device: 10,
        max_value_bytes: 1000,
    });
    let inform = |n: usize, value: String| acs_store::Inform {
        serial_number: "CAP1".into(),
        oui: "00D09E".into(),
        product_class: None,
        manufacturer: None,
        software_version: None,
        hardware_version: None,
        connection_request_url: None,
        address: None,
        peer_address: None,
        parameter_key: None,
        events: vec![],
        parameters: vec![param(format!("Device.X.New{n}"), value)],
        auto_register: true,
        now: Utc::now(),
    };
    // 40 Informs with a new parameter each: 10 stored.
    for n in 0..40 {
        s.store.upsert_inform(&inform(n, "v".into())).await.unwrap();
    }
    let base = "/api/v1/inventory_device_serial/CAP1/parameters/";
    let page = s.get(base).await.json();
    assert_eq!(page["count"], 10, "{page}");
    // A known path still updates; an oversized value does not land.
    s.store.upsert_inform(&inform(0, "w".into())).await.unwrap();
    s.store
        .upsert_inform(&inform(1, "x".repeat(1001)))
        .await
        .unwrap();
    let page = s.get(&format!("{base}?prefix=Device.X.New")).await.json();
    let value = |path: &str| find_result(&page, "path", path).map(|p| p["value"].clone());
    assert_eq!(value("Device.X.New0"), Some(json!("w")));
    assert_eq!(value("Device.X.New1"), Some(json!("v")));
    // The GetParameterValues path is capped the same way.
    let id = s.store.device_by_serial("CAP1").await.unwrap().unwrap().id;
    let more: Vec<_> = (0..5)
        .map(|i| param(format!("Device.Y.P{i}"), "y".into()))
        .collect();
    s.store
        .upsert_parameters(id, &more, Utc::now())
        .await
        .unwrap();
    assert_eq!(s.get(base).await.json()["count"], 10);
    let refused = s.store.parameters_refused();
    assert_eq!((refused.too_many, refused.too_long), (35, 1));
}

api_tests![
    parameters_are_paginated,
    parameters_are_capped_per_device,
    admin_routes_refuse_before_reading_the_body,
    json_routes_have_the_json_limit,
    parallel_identical_uploads_keep_their_file,
    firmware_storage_quota,
];
