//! Connection requests through the real `acs serve` (issues 12, 13, 14): the credentials acs
//! gives a device in its first session, the connection-request flags at start, and secrets
//! kept out of answers and logs. Raw TCP on loopback only.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

mod support;
use support::{Resp, inform, post, temp_dir};

struct Server {
    child: Child,
    cwmp: String,
    api: String,
    dir: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn command(dir: &PathBuf) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_acs"));
    c.env(
        "ACS_DATABASE_URL",
        format!("sqlite://{}/acs.db", dir.display()),
    )
    .env("ACS_DATA_DIR", dir)
    .env("ACS_LOG_FORMAT", "text")
    .env("NO_COLOR", "1")
    .env_remove("ACS_CONFIG");
    c
}

fn start(extra: &[&str]) -> Server {
    let dir = temp_dir("acs-cr");
    let mut child = command(&dir)
        .args([
            "serve",
            "--cwmp-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .expect("acs starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut cwmp, mut api) = (None, None);
    let log = Arc::new(Mutex::new(Vec::new()));
    while cwmp.is_none() || api.is_none() {
        let line = lines.next().expect("acs printed its listeners").unwrap();
        log.lock().unwrap().push(line.clone());
        let addr = || line.rsplit("http://").next().unwrap().trim().to_owned();
        if line.contains("CPE listener") {
            cwmp = Some(addr());
        } else if line.contains("API listener") {
            api = Some(addr());
        }
    }
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    Server {
        child,
        cwmp: cwmp.unwrap(),
        api: api.unwrap(),
        dir,
        log,
    }
}

impl Server {
    fn token(&self) -> String {
        let out = command(&self.dir)
            .args(["token", "create", "--name", "it", "--admin"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    async fn api(&self, token: &str, method: &str, path: &str, body: &str) -> Resp {
        let mut stream = TcpStream::connect(&self.api).await.unwrap();
        let raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        support::exchange(&mut stream, raw.as_bytes())
            .await
            .unwrap()
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
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

    let token = s.token();
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
    let r = s
        .api(
            &token,
            "PATCH",
            "/api/v1/inventory_device_serial/SN-CR/",
            r#"{"reboot": true}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
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
