//! HTTP-level tests: the real `acs serve` on port 0 with a fresh SQLite database, spoken to
//! over raw TCP so that framing (chunked, HTTP/1.0, Expect, cookies, reconnects) is exact.

use std::io::Write;
use std::process::Command;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod support;
use support::server::{Server, command, run_big};
use support::{
    DIGEST, Resp, api_request, digest_answer, inform, inform_with, page_count, post, temp_dir,
};

/// Sends raw bytes, reads one response.
async fn exchange(stream: &mut TcpStream, raw: &[u8]) -> Resp {
    support::exchange(stream, raw).await.expect("a response")
}

/// `acs serve` with `extra` flags. These cases script whole sessions: no credentials SPV of
/// their own in them (provisioning has its own tests: tests/connection_requests.rs, the e2e
/// suite).
fn start(extra: &[&str]) -> Server {
    start_under(&[], extra)
}

/// `start` run by `wrapper` (e.g. `prlimit --nofile=...`).
fn start_under(wrapper: &[&str], extra: &[&str]) -> Server {
    let args: Vec<&str> = ["--cr-provision=false"]
        .iter()
        .chain(extra)
        .copied()
        .collect();
    support::server::start_under(wrapper, &args, &[])
}

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../../shared/cwmp/corpus/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn cookie_of(r: &Resp) -> String {
    let sc = r.header("set-cookie").expect("a session cookie");
    sc.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn session_continues_across_a_reconnect_with_a_version_style_cookie() {
    let s = start(&[]);
    let mut a = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(&mut a, &post(&inform("SN-A"), "")).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("InformResponse"));
    let cookie = cookie_of(&r);
    drop(a);
    let mut b = TcpStream::connect(&s.cwmp).await.unwrap();
    let hdr = format!("Cookie: $Version=\"0\"; {cookie};$Path=/\r\n");
    let r = exchange(&mut b, &post(b"", &hdr)).await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn cookieless_cpe_keeps_its_session_on_the_connection() {
    let s = start(&[]);
    let mut a = TcpStream::connect(&s.cwmp).await.unwrap();
    assert_eq!(
        exchange(&mut a, &post(&inform("SN-B"), "")).await.status,
        200
    );
    assert_eq!(exchange(&mut a, &post(b"", "")).await.status, 204);
    // the same connection may carry the next session
    assert_eq!(
        exchange(&mut a, &post(&inform("SN-B"), "")).await.status,
        200
    );
    let mut other = TcpStream::connect(&s.cwmp).await.unwrap();
    assert_eq!(exchange(&mut other, &post(b"", "")).await.status, 400);
}

#[tokio::test]
async fn chunked_thomson_capture_and_http10_and_expect_continue() {
    let s = start(&[]);
    let mut a = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(
        &mut a,
        &corpus("thomson_speedtouch780_inform_http-chunked.txt"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("14_THOM_TR69_ID"));

    let mut b = TcpStream::connect(&s.cwmp).await.unwrap();
    let body = inform("SN-C");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/html\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    b.write_all(head.as_bytes()).await.unwrap();
    let cont = read_response_status_line(&mut b).await;
    assert!(cont.starts_with("HTTP/1.1 100"), "{cont}");
    let r = exchange(&mut b, &body).await;
    assert_eq!(r.status, 200);

    let mut c = TcpStream::connect(&s.cwmp).await.unwrap();
    let body = inform("SN-D");
    let mut raw = format!("POST / HTTP/1.0\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    raw.extend_from_slice(&body);
    assert_eq!(exchange(&mut c, &raw).await.status, 200);
}

async fn read_response_status_line(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    while !buf.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        buf.push(byte[0]);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn gzip_bodies_are_accepted() {
    let s = start(&[]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&inform("SN-GZ")).unwrap();
    let body = gz.finish().unwrap();
    let mut a = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(&mut a, &post(&body, "Content-Encoding: gzip\r\n")).await;
    assert_eq!(r.status, 200);
}

/// A second Inform of the same device on this node (a CPE that dropped its connection and
/// came back) ends the first session and starts its own at once; the first connection has
/// no session any more. (Another node's session still means 503: tests/identity.rs.)
#[tokio::test]
async fn a_second_inform_of_the_same_device_takes_its_session_over() {
    let s = start(&[]);
    let mut a = TcpStream::connect(&s.cwmp).await.unwrap();
    assert_eq!(
        exchange(&mut a, &post(&inform("SN-E"), "")).await.status,
        200
    );
    let mut b = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(&mut b, &post(&inform("SN-E"), "")).await;
    assert_eq!(r.status, 200);
    assert_eq!(exchange(&mut a, &post(b"", "")).await.status, 400);
    assert_eq!(exchange(&mut b, &post(b"", "")).await.status, 204);
}

#[tokio::test]
async fn body_limit_and_session_limit() {
    let s = start(&["--max-body", "2000", "--max-sessions", "1"]);
    let mut a = TcpStream::connect(&s.cwmp).await.unwrap();
    let big = vec![b' '; 5000];
    assert_eq!(exchange(&mut a, &post(&big, "")).await.status, 413);
    let mut b = TcpStream::connect(&s.cwmp).await.unwrap();
    assert_eq!(
        exchange(&mut b, &post(&inform("SN-F"), "")).await.status,
        200
    );
    let mut c = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(&mut c, &post(&inform("SN-G"), "")).await;
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").is_some());
}

#[tokio::test]
async fn the_huge_corpus_response_fits_the_default_limit() {
    let s = start(&[]);
    let mut a = TcpStream::connect(&s.cwmp).await.unwrap();
    assert_eq!(
        exchange(&mut a, &post(&inform("SN-H"), "")).await.status,
        200
    );
    let huge = corpus("thomson_speedtouch780_getparameternamesresponse-huge.xml");
    assert!(huge.len() > 500_000);
    // no RPC outstanding: the response is read, decoded and the session ends with 204
    assert_eq!(exchange(&mut a, &post(&huge, "")).await.status, 204);
}

#[tokio::test]
async fn digest_authentication_once_per_session() {
    let s = start(&DIGEST);
    let mut a = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(&mut a, &post(&inform("SN-I"), "")).await;
    assert_eq!(r.status, 401);
    let challenges = r.headers_named("www-authenticate");
    assert!(!challenges.is_empty());
    let auth = digest_answer(&challenges, "cpe", "nope", "abc");
    let r = exchange(&mut a, &inform_with("SN-I", &auth)).await;
    assert_eq!(r.status, 401);
    let auth = digest_answer(&challenges, "cpe", "s3cret", "abd");
    // a new TCP connection, as AVM does after a 401
    let mut b = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(&mut b, &inform_with("SN-I", &auth)).await;
    assert_eq!(r.status, 200);
    // no Authorization on the rest of the session
    assert_eq!(exchange(&mut b, &post(b"", "")).await.status, 204);
}

#[tokio::test]
async fn api_listener_serves_health_and_metrics() {
    let s = start(&[]);
    let mut a = TcpStream::connect(&s.cwmp).await.unwrap();
    exchange(&mut a, &post(&inform("SN-J"), "")).await;
    exchange(&mut a, &post(b"", "")).await;
    let mut api = TcpStream::connect(&s.api).await.unwrap();
    let get = |p: &str| format!("GET {p} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes();
    assert_eq!(exchange(&mut api, &get("/healthz")).await.status, 200);
    assert_eq!(exchange(&mut api, &get("/readyz")).await.status, 200);
    let m = exchange(&mut api, &get("/metrics")).await;
    assert_eq!(m.status, 200);
    assert!(
        m.text().contains("acs_sessions_completed_total 1"),
        "{}",
        m.text()
    );
    for line in [
        "acs_session_duration_seconds_count 1",
        "acs_cpe_request_duration_seconds_count 2",
        "# TYPE acs_rpc_round_trip_seconds histogram",
        "# TYPE acs_connection_request_duration_seconds histogram",
    ] {
        assert!(m.text().contains(line), "{line}: {}", m.text());
    }
}

#[test]
fn token_create_prints_the_token_alone() {
    let dir = temp_dir("acs-http");
    let run = |args: &[&str]| command(&dir).args(args).output().unwrap();
    // a token command needs the server's database (tests/cli.rs): create it first
    assert!(run(&["migrate"]).status.success());
    let out = run(&["token", "create", "--name", "ci", "--admin"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    assert!(stdout.trim().len() >= 20);
    let list = String::from_utf8(run(&["token", "list"]).stdout).unwrap();
    assert!(list.contains("ci") && !list.contains(stdout.trim()));
    assert!(run(&["token", "revoke", "1"]).status.success());
    assert!(
        String::from_utf8(run(&["token", "list"]).stdout)
            .unwrap()
            .is_empty()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn token_create_takes_organization_more_than_once() {
    let dir = temp_dir("acs-http");
    let url = format!("sqlite://{}/acs.db", dir.display());
    let run = |args: &[&str]| command(&dir).args(args).output().unwrap();
    assert!(run(&["migrate"]).status.success());
    let store =
        acs_store::Store::connect(&url, acs_store::SecretKey::load_or_create(&dir).unwrap())
            .await
            .unwrap();
    let mut orgs = Vec::new();
    for name in ["a", "b", "c"] {
        orgs.push(
            store
                .create_organization(name, chrono::Utc::now())
                .await
                .unwrap()
                .id,
        );
    }
    let (a, c) = (orgs[0].to_string(), orgs[2].to_string());
    let out = run(&[
        "token",
        "create",
        "--name",
        "two",
        "--organization",
        &c,
        "--organization",
        &a,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let token = store
        .lookup_token(&acs_store::TokenHash::of(&secret), chrono::Utc::now())
        .await
        .unwrap()
        .expect("the printed token works");
    assert_eq!(
        token.scope,
        acs_store::TokenScope::Organizations(vec![orgs[0], orgs[2]])
    );
    let list = String::from_utf8(run(&["token", "list"]).stdout).unwrap();
    assert!(list.contains(&format!("organization {a},{c}")), "{list}");
    // One unknown organization among them: refused, nothing minted, nothing on stdout.
    let out = run(&[
        "token",
        "create",
        "--name",
        "bad",
        "--organization",
        &a,
        "--organization",
        "4242",
    ]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("4242"));
    // --admin with --organization: refused.
    let out = run(&[
        "token",
        "create",
        "--name",
        "x",
        "--admin",
        "--organization",
        &a,
    ]);
    assert!(!out.status.success());
    assert_eq!(store.list_tokens().await.unwrap().len(), 1);
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn firmware_files_with_range_etag_and_unknown_names() {
    let s = start(&[]);
    let store = acs_store::Store::connect(
        &format!("sqlite://{}/acs.db", s.dir.display()),
        acs_store::SecretKey::load_or_create(&s.dir).unwrap(),
    )
    .await
    .unwrap();
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    std::fs::create_dir_all(s.dir.join("firmware")).unwrap();
    std::fs::write(s.dir.join("firmware/fw-1.bin"), &data).unwrap();
    std::fs::write(s.dir.join("firmware/unlisted.bin"), b"x").unwrap();
    let sha = "ab".repeat(32);
    store
        .create_firmware_image(
            &acs_store::NewFirmwareImage {
                version: "1".into(),
                file_name: "fw-1.bin".into(),
                size: 1000,
                sha256: sha.clone(),
                device_type_id: None,
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let mut c = TcpStream::connect(&s.cwmp).await.unwrap();
    let get = |path: &str, extra: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").into_bytes()
    };
    let r = exchange(&mut c, &get("/files/firmware/fw-1.bin", "")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);
    assert_eq!(r.header("etag"), Some(format!("\"{sha}\"").as_str()));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    let r = exchange(
        &mut c,
        &get("/files/firmware/fw-1.bin", "Range: bytes=10-19\r\n"),
    )
    .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &data[10..20]);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/1000"));
    let r = exchange(
        &mut c,
        &get("/files/firmware/fw-1.bin", "Range: bytes=5000-\r\n"),
    )
    .await;
    assert_eq!(r.status, 416);
    let inm = format!("If-None-Match: \"{sha}\"\r\n");
    assert_eq!(
        exchange(&mut c, &get("/files/firmware/fw-1.bin", &inm))
            .await
            .status,
        304
    );
    for bad in [
        "/files/firmware/unlisted.bin",
        "/files/firmware/..%2facs.db",
        "/files/firmware/../acs.db",
    ] {
        assert_eq!(exchange(&mut c, &get(bad, "")).await.status, 404, "{bad}");
    }
    let head = b"HEAD /files/firmware/fw-1.bin HTTP/1.1\r\nHost: x\r\n\r\n";
    c.write_all(head).await.unwrap();
    let line = read_response_status_line(&mut c).await;
    assert!(
        line.starts_with("HTTP/1.1 200")
            && line.to_ascii_lowercase().contains("content-length: 1000"),
        "{line}"
    );
    store.close().await;
}

#[tokio::test]
async fn queued_tasks_run_against_the_real_store() {
    let s = start(&[]);
    let mut a = TcpStream::connect(&s.cwmp).await.unwrap();
    assert_eq!(
        exchange(&mut a, &post(&inform("SN-T"), "")).await.status,
        200
    );
    assert_eq!(exchange(&mut a, &post(b"", "")).await.status, 204);
    let store = acs_store::Store::connect(
        &format!("sqlite://{}/acs.db", s.dir.display()),
        acs_store::SecretKey::load_or_create(&s.dir).unwrap(),
    )
    .await
    .unwrap();
    let device = store
        .device_by_serial("SN-T")
        .await
        .unwrap()
        .expect("auto-registered");
    assert_eq!(
        device.connection_request_url.as_deref(),
        Some("http://127.0.0.1:9/cr")
    );
    let tasks: Vec<acs_store::NewTask> = [
        acs_session::task::TaskSpec::UpdateFrequency { interval: 300 },
        acs_session::task::TaskSpec::Reboot {},
    ]
    .iter()
    .map(|spec| spec.new_task(None))
    .collect();
    let queued = store
        .enqueue_tasks(device.id, &tasks, chrono::Utc::now())
        .await
        .unwrap();

    let r = exchange(&mut a, &post(&inform("SN-T"), "")).await;
    assert_eq!(r.status, 200);
    let r = exchange(&mut a, &post(b"", "")).await;
    assert!(r.text().contains("SetParameterValues"), "{}", r.text());
    assert!(r.text().contains(&queued[0].command_key));
    let spv_ok = br#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap:Body><cwmp:SetParameterValuesResponse><Status>0</Status></cwmp:SetParameterValuesResponse></soap:Body></soap:Envelope>"#;
    let r = exchange(&mut a, &post(spv_ok, "")).await;
    assert!(r.text().contains("cwmp:Reboot"), "{}", r.text());
    let t0 = store.task(queued[0].id).await.unwrap().unwrap();
    assert_eq!(t0.state, acs_store::TaskState::Done);
    let reboot_ok = br#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap:Body><cwmp:RebootResponse/></soap:Body></soap:Envelope>"#;
    assert_eq!(exchange(&mut a, &post(reboot_ok, "")).await.status, 204);
    let t1 = store.task(queued[1].id).await.unwrap().unwrap();
    assert_eq!(t1.state, acs_store::TaskState::InFlight);
    store.close().await;
}

/// `acs serve` mounts the REST API beside the operational routes: the OpenAPI document needs
/// no token, the device list does, and a PATCH reboot reaches the CPE as a Reboot RPC in its
/// next session, with `pending_settings` showing it until the device confirms.
#[tokio::test]
async fn rest_api_is_served_and_a_patch_reaches_the_cpe() {
    let s = start(&[]);
    let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
    assert_eq!(
        exchange(&mut cpe, &post(&inform("SN-API"), ""))
            .await
            .status,
        200
    );
    assert_eq!(exchange(&mut cpe, &post(b"", "")).await.status, 204);

    let token = admin_token(&s);

    let mut api = TcpStream::connect(&s.api).await.unwrap();
    let request = |method: &str, path: &str, auth: bool, body: &str| {
        let auth = if auth {
            format!("Authorization: Bearer {token}\r\n")
        } else {
            String::new()
        };
        format!(
            "{method} {path} HTTP/1.1\r\nHost: api.test\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let doc = exchange(&mut api, &request("GET", "/api/v1/openapi.json", false, "")).await;
    assert_eq!(doc.status, 200);
    assert!(
        doc.text().contains("/inventory_device_serial/"),
        "{}",
        doc.text()
    );
    let list = "/api/v1/inventory_device_serial/";
    assert_eq!(
        exchange(&mut api, &request("GET", list, false, ""))
            .await
            .status,
        401
    );
    let page = exchange(&mut api, &request("GET", list, true, "")).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(
        page.text().contains("\"serial_number\":\"SN-API\""),
        "{}",
        page.text()
    );
    assert!(page.text().contains("\"status\":\"Up\""), "{}", page.text());

    let one = "/api/v1/inventory_device_serial/SN-API/";
    let patched = exchange(
        &mut api,
        &request("PATCH", one, true, r#"{"reboot": true}"#),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert!(
        patched.text().contains("\"pending_settings\":\"reboot\""),
        "{}",
        patched.text()
    );

    // The CPE's next session: Inform, empty POST -> the Reboot RPC, its response -> 204.
    assert_eq!(
        exchange(&mut cpe, &post(&inform("SN-API"), ""))
            .await
            .status,
        200
    );
    let rpc = exchange(&mut cpe, &post(b"", "")).await;
    assert_eq!(rpc.status, 200);
    let text = rpc.text();
    assert!(text.contains(":Reboot>"), "{text}");
    let id = text
        .split("<cwmp:ID")
        .nth(1)
        .and_then(|t| t.split('>').nth(1))
        .and_then(|t| t.split('<').next())
        .expect("the Reboot carries a cwmp:ID")
        .to_owned();
    let response = format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap:Header><cwmp:ID soap:mustUnderstand="1">{id}</cwmp:ID></soap:Header><soap:Body><cwmp:RebootResponse/></soap:Body></soap:Envelope>"#
    );
    assert_eq!(
        exchange(&mut cpe, &post(response.as_bytes(), ""))
            .await
            .status,
        204
    );
}

fn admin_token(s: &Server) -> String {
    s.admin_token()
}

#[tokio::test]
async fn a_silent_device_turns_down_after_the_configured_grace() {
    // Down once silent for 0 x interval + 2 s, swept every second (DESIGN §5); the default
    // policy (2 x 300 s + 60 s) would keep it Up for the whole test
    let s = start(&[
        "--status-grace-factor",
        "0",
        "--status-grace-seconds",
        "2",
        "--status-sweep-interval",
        "1",
    ]);
    s.inform_session("SN-DOWN").await;
    let silent_since = std::time::Instant::now();
    let token = admin_token(&s);
    let mut api = TcpStream::connect(&s.api).await.unwrap();
    let one = "/api/v1/inventory_device_serial/SN-DOWN/";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let r = exchange(&mut api, &api_request(&token, "GET", one, "")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        if r.text().contains("\"status\":\"Down\"") {
            assert!(
                silent_since.elapsed() >= std::time::Duration::from_secs(1),
                "not before the grace"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still not Down: {}",
            r.text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    // a new Inform brings it back Up
    let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
    exchange(&mut cpe, &post(&inform("SN-DOWN"), "")).await;
    exchange(&mut cpe, &post(b"", "")).await;
    let r = exchange(&mut api, &api_request(&token, "GET", one, "")).await;
    assert!(r.text().contains("\"status\":\"Up\""), "{}", r.text());
}

#[tokio::test]
async fn a_device_types_profile_switches_the_wire_format() {
    let s = start(&[]);
    let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(&mut cpe, &post(&inform("SN-WIRE"), "")).await;
    assert!(r.text().starts_with("<?xml"), "default: {}", r.text());
    assert_eq!(exchange(&mut cpe, &post(b"", "")).await.status, 204);

    let token = admin_token(&s);
    let mut api = TcpStream::connect(&s.api).await.unwrap();
    let types = "/api/v1/device_types/";
    let bad = exchange(
        &mut api,
        &api_request(
            &token,
            "POST",
            types,
            r#"{"short_name":"quirky","name":"Quirky","data_model_root":"InternetGatewayDevice.","profile":{"xml_declaration":"no","boolean_style":"yes"}}"#,
        ),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(
        bad.text().contains("profile.xml_declaration")
            && bad.text().contains("profile.boolean_style"),
        "{}",
        bad.text()
    );
    let created = exchange(
        &mut api,
        &api_request(
            &token,
            "POST",
            types,
            r#"{"short_name":"quirky","name":"Quirky","data_model_root":"InternetGatewayDevice.","profile":{"xml_declaration":false,"boolean_style":"true_false"}}"#,
        ),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert!(
        created.text().contains(r#""xml_declaration":false"#),
        "the profile keeps the switches: {}",
        created.text()
    );
    let type_id: i64 = created
        .text()
        .split("\"id\":")
        .nth(1)
        .and_then(|t| t.split([',', '}']).next())
        .and_then(|t| t.trim().parse().ok())
        .expect("the new type's id");
    let patched = exchange(
        &mut api,
        &api_request(
            &token,
            "PATCH",
            "/api/v1/inventory_device_serial/SN-WIRE/",
            &format!(r#"{{"type": {type_id}, "update_frequency": 600}}"#),
        ),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text());

    // the next session speaks the type's format from the InformResponse on
    let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(&mut cpe, &post(&inform("SN-WIRE"), "")).await;
    assert_eq!(r.status, 200);
    assert!(!r.text().contains("<?xml"), "{}", r.text());
    assert!(r.text().contains("InformResponse"), "{}", r.text());
    let spv = exchange(&mut cpe, &post(b"", "")).await;
    assert!(!spv.text().contains("<?xml"), "{}", spv.text());
    assert!(
        spv.text()
            .contains(r#"<Value xsi:type="xsd:boolean">true</Value>"#),
        "{}",
        spv.text()
    );
}

/// Out of file descriptors, the CPE listener pauses between failed accepts instead of spinning
/// (it logged ~700,000 "accept failed" lines a second before), warns at start that the limit
/// is low, and serves again once connections close.
#[tokio::test]
async fn running_out_of_file_descriptors_pauses_the_listener() {
    // prlimit is util-linux's, on every Linux this runs on: without it this test fails, it
    // does not pass unseen
    let prlimit = Command::new("prlimit").arg("--version").output();
    assert!(
        prlimit.is_ok_and(|o| o.status.success()),
        "prlimit (util-linux) is needed to run acs with few file descriptors"
    );
    let s = start_under(&["prlimit", "--nofile=64:64"], &[]);
    assert!(
        s.logged("open files limit 64 is below"),
        "no warning about the limit"
    );
    // the listener's own, the store's and the runtime's descriptors leave fewer than 64
    let mut held = Vec::new();
    for _ in 0..100 {
        if let Ok(Ok(c)) = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            TcpStream::connect(&s.cwmp),
        )
        .await
        {
            held.push(c);
        }
    }
    let failures = || {
        s.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("accept failed"))
            .count()
    };
    support::eventually(
        std::time::Duration::from_secs(30),
        "the limit reached",
        || std::future::ready(failures() > 0),
    )
    .await;
    // the rate from here on: a paused loop logs about ten a second, a spinning one ~700,000
    // (a window to count over: the verdict is the rate, whatever the window's length)
    let (since, before) = (std::time::Instant::now(), failures());
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let rate = (failures() - before) as f64 / since.elapsed().as_secs_f64();
    assert!(
        rate < 500.0,
        "{rate:.0} failed accepts logged a second: spinning"
    );
    // served again once the connections close (the new one waits in the backlog until then)
    drop(held);
    let mut a = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        exchange(&mut a, &post(&inform("SN-FD"), "")),
    )
    .await
    .expect("served within 30 s of the descriptors' release");
    assert_eq!(r.status, 200);
}

/// Issue 13: three `PATCH {"reboot": true}` gave the CPE one session with `Reboot, Reboot`
/// (and rebooted it twice) while `pending_settings` showed `reboot` once.
#[tokio::test]
async fn three_reboot_patches_reach_the_cpe_as_one_reboot() {
    let s = start(&[]);
    let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
    exchange(&mut cpe, &post(&inform("SN-R3"), "")).await;
    assert_eq!(exchange(&mut cpe, &post(b"", "")).await.status, 204);
    let token = admin_token(&s);
    let mut api = TcpStream::connect(&s.api).await.unwrap();
    let one = "/api/v1/inventory_device_serial/SN-R3/";
    for _ in 0..3 {
        let r = exchange(
            &mut api,
            &api_request(&token, "PATCH", one, r#"{"reboot": true}"#),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.text().contains("\"pending_settings\":\"reboot\""));
    }
    assert_eq!(
        exchange(&mut cpe, &post(&inform("SN-R3"), "")).await.status,
        200
    );
    let rpc = exchange(&mut cpe, &post(b"", "")).await;
    assert!(rpc.text().contains(":Reboot>"), "{}", rpc.text());
    let reboot_ok = br#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap:Body><cwmp:RebootResponse/></soap:Body></soap:Envelope>"#;
    let after = exchange(&mut cpe, &post(reboot_ok, "")).await;
    assert_eq!(
        after.status,
        204,
        "one Reboot per session: {}",
        after.text()
    );
}

/// Issue 12: each fault code a CPE reported became a metrics series of its own (300 codes,
/// 300 series): CPE input must not grow `/metrics` without bound.
#[tokio::test]
async fn cpe_fault_codes_do_not_grow_the_metrics() {
    let s = start(&[]);
    let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
    assert_eq!(
        exchange(&mut cpe, &post(&inform("SN-FAULTS"), ""))
            .await
            .status,
        200
    );
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..300u32 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let code = 1 + seed % u64::from(u32::MAX - 1);
        let tc = format!(
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap:Header><cwmp:ID soap:mustUnderstand="1">tc{i}</cwmp:ID></soap:Header><soap:Body><cwmp:TransferComplete><CommandKey>k{i}</CommandKey><FaultStruct><FaultCode>{code}</FaultCode><FaultString>x</FaultString></FaultStruct><StartTime>2026-01-01T00:00:00Z</StartTime><CompleteTime>2026-01-01T00:00:00Z</CompleteTime></cwmp:TransferComplete></soap:Body></soap:Envelope>"#
        );
        let r = exchange(&mut cpe, &post(tc.as_bytes(), "")).await;
        assert!(
            r.text().contains("TransferCompleteResponse"),
            "{}",
            r.text()
        );
    }
    assert_eq!(exchange(&mut cpe, &post(b"", "")).await.status, 204);
    let mut api = TcpStream::connect(&s.api).await.unwrap();
    let m = exchange(&mut api, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let text = m.text();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("acs_cpe_faults_total{"))
        .collect();
    assert!(series.len() <= 2, "{} series: {series:#?}", series.len());
    assert!(
        series.iter().any(|l| l.contains("code=\"other\"")),
        "{series:#?}"
    );
}

/// The `cwmp:ID` of an envelope the ACS sent.
fn cwmp_id(text: &str) -> String {
    text.split("<cwmp:ID")
        .nth(1)
        .and_then(|t| t.split('>').nth(1))
        .and_then(|t| t.split('<').next())
        .expect("the envelope carries a cwmp:ID")
        .to_owned()
}

/// The CPE's answer (`body`, e.g. `<cwmp:RebootResponse/>`) to the ACS request `request`.
fn cpe_response(request: &str, body: &str) -> Vec<u8> {
    let id = cwmp_id(request);
    post(
        format!(
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap:Header><cwmp:ID soap:mustUnderstand="1">{id}</cwmp:ID></soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"#
        )
        .as_bytes(),
        "",
    )
}

/// Two vendors' devices with the same serial number are not merged: the second vendor's
/// Inform is refused (409), counted, and logged with both identities (escaped: a CPE cannot
/// forge a log line), and the record stays the first device's. A device registered through
/// the API without an identity adopts its first Inform's.
#[test]
fn an_inform_under_another_identity_is_refused() {
    run_big(another_identity_refused())
}

async fn another_identity_refused() {
    let s = start(&[]);
    s.inform_session("SN-TWIN").await;
    let other_vendor = |serial: &str| {
        String::from_utf8(inform(serial))
            .unwrap()
            .replace("<OUI>A1B2C3</OUI>", "<OUI>00D09E</OUI>")
            .replace(
                "<ProductClass>SG</ProductClass>",
                "<ProductClass>IGD\nforged line</ProductClass>",
            )
            .replace("SimNet", "OtherCo")
            .into_bytes()
    };
    let mut twin = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(&mut twin, &post(&other_vendor("SN-TWIN"), "")).await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("OUI"), "{}", r.text());

    let token = admin_token(&s);
    let mut api = TcpStream::connect(&s.api).await.unwrap();
    let one = "/api/v1/inventory_device_serial/SN-TWIN/";
    let d = exchange(&mut api, &api_request(&token, "GET", one, "")).await;
    assert!(
        d.text().contains("\"manufacturer\":\"SimNet\""),
        "{}",
        d.text()
    );
    assert!(
        d.text()
            .contains("\"unique_identifier\":\"A1B2C3-SG-SN-TWIN\""),
        "{}",
        d.text()
    );
    let m = exchange(&mut api, &api_request(&token, "GET", "/metrics", "")).await;
    assert!(
        m.text().contains("acs_sessions_refused_identity_total 1"),
        "{}",
        m.text()
    );
    {
        let log = s.log.lock().unwrap();
        let line = log
            .iter()
            .find(|l| l.contains("SN-TWIN") && l.contains("00D09E"))
            .unwrap_or_else(|| panic!("no log line names both identities: {log:#?}"));
        assert!(line.contains("A1B2C3") && line.contains("IGD"), "{line}");
        assert!(
            !log.iter().any(|l| l.starts_with("forged line")),
            "a CPE wrote its own log line: {log:#?}"
        );
    }

    // registered through the API first: the first Inform's identity is adopted
    let r = exchange(
        &mut api,
        &api_request(
            &token,
            "POST",
            "/api/v1/inventory_device_serial/",
            r#"{"serial_number": "SN-PRE", "name": "pre-registered"}"#,
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
    assert_eq!(
        exchange(&mut cpe, &post(&other_vendor("SN-PRE"), ""))
            .await
            .status,
        200
    );
    assert_eq!(exchange(&mut cpe, &post(b"", "")).await.status, 204);
    let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(&mut cpe, &post(&inform("SN-PRE"), "")).await;
    assert_eq!(r.status, 409, "{}", r.text());
}

/// `debug: true` records every session of the device, both directions, with the secrets
/// redacted (a connection-request password set by SPV, a Download's file-server password, a
/// Wi-Fi passphrase); the traces are read through the API (paged, and in `history/`);
/// `debug: false` stops the recording; old traces are pruned by age.
#[test]
fn debug_records_each_session_with_secrets_redacted() {
    run_big(debug_records())
}

async fn debug_records() {
    let s = start(&[]);
    s.inform_session("SN-DBG").await;
    let token = admin_token(&s);
    let mut api = TcpStream::connect(&s.api).await.unwrap();
    let one = "/api/v1/inventory_device_serial/SN-DBG/";
    let traces = "/api/v1/inventory_device_serial/SN-DBG/traces/";
    let r = exchange(&mut api, &api_request(&token, "GET", traces, "")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(page_count(&r.text()), 0, "not in debug: nothing recorded");

    let r = exchange(
        &mut api,
        &api_request(
            &token,
            "PATCH",
            one,
            r#"{"debug": true, "username": "cr-user", "password": "cr-secret-1"}"#,
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let tasks = "/api/v1/inventory_device_serial/SN-DBG/tasks/";
    for body in [
        r#"{"kind": "set_parameter_values", "payload": {"parameters": [{"name": "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.PreSharedKey.1.KeyPassphrase", "value": "wifi-secret-3"}, {"name": "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID", "value": "visible-ssid"}]}}"#,
        r#"{"kind": "download", "payload": {"file_type": "1 Firmware Upgrade Image", "url": "http://files.example/fw.bin", "username": "dl-user", "password": "dl-secret-2"}}"#,
    ] {
        let r = exchange(&mut api, &api_request(&token, "POST", tasks, body)).await;
        assert_eq!(r.status, 201, "{}", r.text());
    }

    // the queued tasks show no secret either
    let r = exchange(&mut api, &api_request(&token, "GET", tasks, "")).await;
    assert!(r.text().contains("visible-ssid"), "{}", r.text());
    for secret in ["cr-secret-1", "dl-secret-2", "wifi-secret-3"] {
        assert!(!r.text().contains(secret), "{secret} shown: {}", r.text());
    }

    // a session: Inform, empty POST, then each queued RPC answered
    let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
    assert_eq!(
        exchange(&mut cpe, &post(&inform("SN-DBG"), ""))
            .await
            .status,
        200
    );
    let mut request = exchange(&mut cpe, &post(b"", "")).await;
    let mut sent = Vec::new();
    while request.status == 200 {
        let text = request.text();
        let answer = if text.contains(":SetParameterValues>") {
            "<cwmp:SetParameterValuesResponse><Status>0</Status></cwmp:SetParameterValuesResponse>"
        } else if text.contains(":Download>") {
            "<cwmp:DownloadResponse><Status>1</Status><StartTime>0001-01-01T00:00:00Z</StartTime><CompleteTime>0001-01-01T00:00:00Z</CompleteTime></cwmp:DownloadResponse>"
        } else {
            panic!("unexpected request: {text}")
        };
        sent.push(text.clone());
        request = exchange(&mut cpe, &cpe_response(&text, answer)).await;
    }
    assert_eq!(request.status, 204);
    let sent = sent.concat();
    for secret in ["cr-secret-1", "dl-secret-2", "wifi-secret-3"] {
        assert!(
            sent.contains(secret),
            "{secret} was not sent at all: {sent}"
        );
    }

    // written in the background, off the session's path: poll for the last one
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let r = loop {
        let r = exchange(&mut api, &api_request(&token, "GET", traces, "")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        if page_count(&r.text()) >= 10 || std::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let page: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    let results = page["results"].as_array().unwrap();
    let directions: Vec<&str> = results
        .iter()
        .map(|t| t["direction"].as_str().unwrap())
        .collect();
    // Inform / InformResponse, empty POST / SPV (credentials), its response / SPV (Wi-Fi),
    // its response / Download, its response / 204
    assert_eq!(
        directions,
        [
            "in", "out", "in", "out", "in", "out", "in", "out", "in", "out"
        ],
        "{}",
        r.text()
    );
    let bodies: Vec<&str> = results
        .iter()
        .map(|t| t["body"].as_str().unwrap())
        .collect();
    assert!(bodies[0].contains("<cwmp:Inform>"), "{}", bodies[0]);
    assert!(bodies[1].contains("InformResponse"), "{}", bodies[1]);
    assert_eq!(bodies[2], "", "the empty POST");
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("ConnectionRequestPassword"))
    );
    assert!(bodies.iter().any(|b| b.contains("visible-ssid")));
    assert!(bodies.iter().any(|b| b.contains("dl-user")));
    assert_eq!(results[9]["http_status"], 204);
    assert_eq!(results[1]["http_status"], 200);
    let session = &results[0]["session_started"];
    assert!(session.is_string());
    assert!(results.iter().all(|t| &t["session_started"] == session));
    for secret in ["cr-secret-1", "dl-secret-2", "wifi-secret-3"] {
        assert!(
            !r.text().contains(secret),
            "{secret} recorded: {}",
            r.text()
        );
    }
    let paged = exchange(
        &mut api,
        &api_request(&token, "GET", &format!("{traces}?limit=2&offset=2"), ""),
    )
    .await;
    let paged: serde_json::Value = serde_json::from_str(&paged.text()).unwrap();
    assert_eq!(paged["count"], 10);
    assert_eq!(paged["results"].as_array().unwrap().len(), 2);
    assert!(
        paged["next"].as_str().unwrap().contains("offset=4"),
        "{paged}"
    );
    let history = exchange(
        &mut api,
        &api_request(&token, "GET", &format!("{one}history/"), ""),
    )
    .await;
    assert!(
        history.text().contains("InformResponse") && !history.text().contains("cr-secret-1"),
        "{}",
        history.text()
    );

    // debug off: the next session is not recorded
    let r = exchange(
        &mut api,
        &api_request(&token, "PATCH", one, r#"{"debug": false}"#),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    s.inform_session("SN-DBG").await;
    // debug on again for one more session: once its 4 messages are in (the writer keeps
    // order), the session in between is known to have left nothing
    let r = exchange(
        &mut api,
        &api_request(&token, "PATCH", one, r#"{"debug": true}"#),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    s.inform_session("SN-DBG").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = exchange(&mut api, &api_request(&token, "GET", traces, "")).await;
        let n = page_count(&r.text());
        assert!(
            n <= 14,
            "the session without debug was recorded: {}",
            r.text()
        );
        if n == 14 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", r.text());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Debug traces older than `--debug-trace-max-age` are deleted by the sweep.
#[tokio::test]
async fn old_debug_traces_are_pruned() {
    let s = start(&[
        "--debug-trace-max-age",
        "10",
        "--status-sweep-interval",
        "1",
    ]);
    s.inform_session("SN-OLD").await;
    let token = admin_token(&s);
    let mut api = TcpStream::connect(&s.api).await.unwrap();
    let one = "/api/v1/inventory_device_serial/SN-OLD/";
    let r = exchange(
        &mut api,
        &api_request(&token, "PATCH", one, r#"{"debug": true}"#),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    s.inform_session("SN-OLD").await;
    let traces = format!("{one}traces/");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen = false;
    loop {
        let r = exchange(&mut api, &api_request(&token, "GET", &traces, "")).await;
        match page_count(&r.text()) {
            4 => seen = true,
            0 if seen => break,
            _ => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "recorded: {seen}; not pruned: {}",
            r.text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
