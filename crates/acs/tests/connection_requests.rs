//! Connection requests through the real `acs serve` (issues 12, 13, 14): the credentials acs
//! gives a device in its first session, the connection-request flags at start, and secrets
//! kept out of answers and logs. Raw TCP on loopback only.

use std::time::{Duration, Instant};

use tokio::net::TcpStream;

mod support;
use support::server::{Server, command};
use support::{inform, post, temp_dir};

fn start(extra: &[&str]) -> Server {
    support::server::start(extra, &[])
}

/// The text of the element `name` (without prefix) in `xml`, after `from`.
fn element<'a>(xml: &'a str, from: &str, name: &str) -> &'a str {
    let at = xml.find(from).unwrap_or_else(|| panic!("{from} in {xml}"));
    let rest = &xml[at..];
    let open = rest.find(&format!("<{name}")).unwrap();
    let body = &rest[open..];
    let start = body.find('>').unwrap() + 1;
    let end = body.find(&format!("</{name}>")).unwrap();
    &body[start..end]
}

#[tokio::test]
async fn a_device_without_credentials_gets_a_pair_in_its_first_session() {
    let s = start(&[]);
    let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = support::exchange(&mut cpe, &post(&inform("SN-CR"), ""))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    // the empty POST gets the SetParameterValues of a generated pair
    let spv = support::exchange(&mut cpe, &post(b"", "")).await.unwrap();
    assert_eq!(spv.status, 200);
    let text = spv.text();
    assert!(text.contains(":SetParameterValues>"), "{text}");
    let user = element(
        &text,
        "InternetGatewayDevice.ManagementServer.ConnectionRequestUsername",
        "Value",
    )
    .to_owned();
    let password = element(
        &text,
        "InternetGatewayDevice.ManagementServer.ConnectionRequestPassword",
        "Value",
    )
    .to_owned();
    assert!(user.starts_with("cr-"), "{user}");
    assert!(password.len() >= 20, "a strong password");
    let id = element(&text, "<cwmp:ID", "cwmp:ID").to_owned();
    let response = format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap:Header><cwmp:ID soap:mustUnderstand="1">{id}</cwmp:ID></soap:Header><soap:Body><cwmp:SetParameterValuesResponse><Status>0</Status></cwmp:SetParameterValuesResponse></soap:Body></soap:Envelope>"#
    );
    let end = support::exchange(&mut cpe, &post(response.as_bytes(), ""))
        .await
        .unwrap();
    assert_eq!(end.status, 204);

    let token = s.admin_token();
    let d = s
        .api(&token, "GET", "/api/v1/inventory_device_serial/SN-CR/", "")
        .await;
    assert_eq!(d.status, 200);
    let d = d.text();
    assert!(d.contains(&format!("\"username\":\"{user}\"")), "{d}");
    assert!(d.contains("\"pending_settings\":null"), "{d}");
    assert!(!d.contains("\"password\""), "{d}");
    // a PATCH wakes it with that pair; its URL (the discard port) does not answer, and the
    // answer says so
    let r = s.patch_device(&token, "SN-CR", r#"{"reboot": true}"#).await;
    let r = r.text();
    assert!(
        r.contains("\"connection_request\":{\"outcome\":\"unreachable\""),
        "{r}"
    );
    // the password is in no answer and no log line
    for path in ["SN-CR/", "SN-CR/tasks/", "SN-CR/history/"] {
        let body = s
            .api(
                &token,
                "GET",
                &format!("/api/v1/inventory_device_serial/{path}"),
                "",
            )
            .await
            .text();
        assert!(!body.contains(&password), "{path}: {body}");
    }
    assert!(!s.log_text().contains(&password), "{}", s.log_text());
}

#[test]
fn bad_address_ranges_stop_the_start_naming_them() {
    let dir = temp_dir("acs-cr-bad");
    let out = command(&dir)
        .args([
            "serve",
            "--cwmp-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
        ])
        .args(["--cr-allow", "10.0.0.0/8", "--cr-deny", "192.0.2.0/33"])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--cr-deny") && err.contains("192.0.2.0/33"),
        "{err}"
    );
}

#[tokio::test]
async fn allowing_basic_is_warned_about_at_start() {
    let s = start(&["--cr-allow-basic"]);
    let quiet = start(&[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let warned = |s: &Server| s.log_text().contains("in the clear");
    while !warned(&s) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(warned(&s), "{}", s.log_text());
    assert!(!warned(&quiet), "{}", quiet.log_text());
}
