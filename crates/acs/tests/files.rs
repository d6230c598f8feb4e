//! Who may fetch a firmware file from the CPE listener (issue 12 item 6): with CPE
//! authentication on, only a request with the device's credentials or a signed, expiring,
//! per-device URL, which the Download RPC carries.

use acs_session::Credentials;
use tokio::net::TcpStream;

mod support;
use support::server::{Server, start};
use support::{Resp, inform, post};

const USER: &str = "fleet";
const PASSWORD: &str = "s3cret";
/// A known secret key, so the test can sign an expired URL the way a node would.
const SECRET_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

async fn exchange(c: &mut TcpStream, raw: &[u8]) -> Resp {
    support::exchange(c, raw).await.expect("a response")
}

fn get(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: acs.test\r\n{extra}\r\n").into_bytes()
}

/// The `Authorization` answering `r`'s challenge for `method uri`.
fn answer(r: &Resp, method: &str, uri: &str, password: &str) -> String {
    acs_session::auth::client::answer_challenges(
        &r.headers_named("www-authenticate"),
        method,
        uri,
        &Credentials::new(USER, password),
        false,
        "0a4f113b",
    )
    .expect("a digest challenge")
}

fn digest_server(env: &[(&str, &str)]) -> Server {
    start(
        &[
            "--cwmp-auth",
            "digest",
            "--cwmp-username",
            USER,
            "--cwmp-password",
            PASSWORD,
            // the session scripts below answer nothing but the firmware Download
            "--cr-provision=false",
        ],
        env,
    )
}

fn image_data() -> Vec<u8> {
    (0..1000u32).map(|i| (i % 251) as u8).collect()
}

/// Registers `fw-1.bin` and `fw-2.bin` with their files.
async fn two_images(s: &Server, store: &acs_store::Store) -> i64 {
    std::fs::create_dir_all(s.dir.join("firmware")).unwrap();
    let mut first = 0;
    for name in ["fw-1.bin", "fw-2.bin"] {
        std::fs::write(s.dir.join("firmware").join(name), image_data()).unwrap();
        let image = store
            .create_firmware_image(
                &acs_store::NewFirmwareImage {
                    version: name.into(),
                    file_name: name.into(),
                    size: 1000,
                    sha256: "ab".repeat(32),
                    device_type_id: None,
                },
                chrono::Utc::now(),
            )
            .await
            .unwrap();
        if first == 0 {
            first = image.id;
        }
    }
    first
}

/// With CPE authentication on, the plain path is served only with the credentials a CPE
/// authenticates to the ACS with: 401 with the challenge without them or with wrong ones.
#[tokio::test]
async fn with_auth_on_the_plain_path_needs_the_cpe_credentials() {
    let s = digest_server(&[]);
    let store = s.store().await;
    two_images(&s, &store).await;
    let mut c = TcpStream::connect(&s.cwmp).await.unwrap();
    let path = "/files/firmware/fw-1.bin";
    let r = exchange(&mut c, &get(path, "")).await;
    assert_eq!(r.status, 401, "served without credentials");
    assert!(!r.headers_named("www-authenticate").is_empty());
    assert!(r.body.is_empty());
    let mut c = TcpStream::connect(&s.cwmp).await.unwrap();
    let wrong = answer(&r, "GET", path, "not-it");
    let again = exchange(&mut c, &get(path, &format!("Authorization: {wrong}\r\n"))).await;
    assert_eq!(again.status, 401);
    let good = answer(&r, "GET", path, PASSWORD);
    let mut c = TcpStream::connect(&s.cwmp).await.unwrap();
    let ok = exchange(&mut c, &get(path, &format!("Authorization: {good}\r\n"))).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, image_data());
    // Range requests keep working with credentials.
    let range = format!("Authorization: {good}\r\nRange: bytes=10-19\r\n");
    let part = exchange(&mut c, &get(path, &range)).await;
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &image_data()[10..20]);
    store.close().await;
}

/// A CWMP session with digest authentication: the Inform, then the empty POST's answer, and
/// the connection to go on with.
async fn session(s: &Server, serial: &str) -> (TcpStream, Resp) {
    let mut c = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(&mut c, &post(&inform(serial), "")).await;
    assert_eq!(r.status, 401);
    let auth = answer(&r, "POST", "/", PASSWORD);
    let mut c = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(
        &mut c,
        &post(&inform(serial), &format!("Authorization: {auth}\r\n")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = exchange(&mut c, &post(b"", "")).await;
    (c, r)
}

fn element<'a>(xml: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no {name} in {xml}"))
        + open.len();
    let end = xml[start..].find('<').unwrap() + start;
    &xml[start..end]
}

fn queue(spec: acs_session::task::TaskSpec) -> acs_store::NewTask {
    spec.new_task(None)
}

/// With CPE authentication on, the Download RPC names a signed URL for the device: it is
/// served without credentials (Range included), and refused (403) when forged, used for
/// another file, or expired. A raw Download naming one of our files is signed too, valid
/// past its DelaySeconds.
#[test]
fn with_auth_on_the_download_carries_a_signed_url() {
    support::server::run_big(download_carries_a_signed_url());
}

async fn download_carries_a_signed_url() {
    let s = digest_server(&[("ACS_SECRET_KEY", SECRET_KEY)]);
    let store = s.store().await;
    let image = two_images(&s, &store).await;
    assert_eq!(session(&s, "SN-F").await.1.status, 204);
    let device = store.device_by_serial("SN-F").await.unwrap().unwrap();
    // The firmware intent, then a raw Download of our own file, delayed an hour.
    store
        .enqueue_tasks(
            device.id,
            &[
                queue(acs_session::task::TaskSpec::Firmware {
                    firmware_image: image,
                }),
                queue(acs_session::task::TaskSpec::Download {
                    file_type: "1 Firmware Upgrade Image".into(),
                    url: "http://acs.test/files/firmware/fw-2.bin".into(),
                    file_size: 1000,
                    target_file_name: String::new(),
                    delay_seconds: 3600,
                    username: None,
                    password: None,
                }),
            ],
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let (mut cpe, r) = session(&s, "SN-F").await;
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(text.contains("cwmp:Download"), "{text}");
    let url = element(&text, "URL").to_owned();
    let prefix = "http://acs.test/files/firmware/";
    assert!(
        url.starts_with(prefix) && url.ends_with("/fw-1.bin"),
        "{url}"
    );
    assert!(url.len() < 256, "{url}");
    let path = url.trim_start_matches("http://acs.test");
    let token = path
        .trim_start_matches("/files/firmware/")
        .trim_end_matches("/fw-1.bin")
        .to_owned();
    assert!(token.starts_with(&format!("{}.", device.id)), "{token}");

    let mut c = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(&mut c, &get(path, "")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, image_data());
    let r = exchange(&mut c, &get(path, "Range: bytes=990-\r\n")).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &image_data()[990..]);

    // Another file with the same token, a changed tag: 403.
    let other = format!("/files/firmware/{token}/fw-2.bin");
    let r = exchange(&mut c, &get(&other, "")).await;
    assert_eq!(r.status, 403, "{}", r.text());
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let r = exchange(
        &mut c,
        &get(&format!("/files/firmware/{forged}/fw-1.bin"), ""),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
    // Expired a minute ago, signed with the key every node derives: 403 naming it.
    let key = acs_store::SecretKey::from_hex(SECRET_KEY)
        .unwrap()
        .derive("firmware-file-urls");
    let urls = acs_session::file_url::FileUrls::new(&key, std::time::Duration::from_secs(60));
    let expired = urls.token(device.id, "fw-1.bin", chrono::Utc::now().timestamp() - 60);
    let r = exchange(
        &mut c,
        &get(&format!("/files/firmware/{expired}/fw-1.bin"), ""),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("expired"), "{}", r.text());
    // The same signer makes a valid one: the key really is the shared one.
    let fresh = urls.token(device.id, "fw-1.bin", chrono::Utc::now().timestamp() + 60);
    let r = exchange(
        &mut c,
        &get(&format!("/files/firmware/{fresh}/fw-1.bin"), ""),
    )
    .await;
    assert_eq!(r.status, 200);

    // The raw Download of our own file, delayed an hour: signed, valid past the delay.
    let accepted = b"<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\"><soap:Body><cwmp:DownloadResponse><Status>1</Status><StartTime>0001-01-01T00:00:00Z</StartTime><CompleteTime>0001-01-01T00:00:00Z</CompleteTime></cwmp:DownloadResponse></soap:Body></soap:Envelope>";
    let r = exchange(&mut cpe, &post(accepted, "")).await;
    let text = r.text();
    assert!(text.contains("cwmp:Download"), "{text}");
    let url = element(&text, "URL");
    let token = url.trim_start_matches(prefix).trim_end_matches("/fw-2.bin");
    let expires: i64 = token.split('.').nth(1).unwrap().parse().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(
        expires >= now + 3600 + 86_400 - 60,
        "expires {expires}, now {now}: must outlive the delay and the TTL"
    );
    store.close().await;
}
