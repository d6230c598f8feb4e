//! A real API server on 127.0.0.1:0 over a fresh store (SQLite, or PostgreSQL through the
//! harness), a tiny HTTP/1.1 client, and a fake CPE connection-request endpoint.

#![allow(dead_code)]

pub mod harness;

pub use harness::Env;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use acs_api::{ApiConfig, ApiState};
use acs_session::connection_request::{ConnectionRequestConfig, ConnectionRequester};
use acs_session::engine::Metrics;
use acs_store::{Inform, SecretKey, Store, TokenScope};
use chrono::Utc;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The devices' collection.
pub const LIST: &str = "/api/v1/inventory_device_serial/";

pub struct Server {
    pub addr: std::net::SocketAddr,
    pub store: Store,
    pub admin: String,
    pub dir: PathBuf,
    /// The counters the API shares with the engine (`/metrics` in `acs serve`).
    pub metrics: Arc<Metrics>,
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The API over the case's fresh database; its data dir is the case's scratch directory
/// (the harness removes both).
pub async fn start(env: &Env) -> Server {
    start_with(env, |_| {}).await
}

pub async fn start_with(env: &Env, tune: impl FnOnce(&mut ApiConfig)) -> Server {
    let dir = env.dir.clone();
    let store = Store::connect(&env.url, SecretKey::generate())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let (_, secret) = store
        .create_token("admin", TokenScope::Admin, Utc::now())
        .await
        .unwrap();
    let mut config = ApiConfig {
        data_dir: dir.clone(),
        update_status_timeout: Duration::from_secs(3),
        ..ApiConfig::default()
    };
    tune(&mut config);
    let requester = ConnectionRequester::new(ConnectionRequestConfig {
        connect_timeout: Duration::from_secs(1),
        total_timeout: Duration::from_secs(2),
        min_interval_per_device: Duration::ZERO,
        ..ConnectionRequestConfig::default()
    });
    let metrics = Arc::new(Metrics::default());
    let app = acs_api::router(ApiState::new(
        store.clone(),
        requester,
        metrics.clone(),
        config,
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server {
        addr,
        store,
        admin: secret.expose().to_owned(),
        dir,
        metrics,
    }
}

impl Server {
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A request with `token` (None: no Authorization header) and a raw body.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Response {
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if let Some(ct) = content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        parse_response(&raw)
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Response {
        let token = self.admin.clone();
        self.call_as(&token, method, path, body).await
    }

    pub async fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let ct = body.map(|_| "application/json");
        self.raw(method, path, Some(token), ct, &bytes).await
    }

    /// The status of an admin call.
    pub async fn status(&self, method: &str, path: &str, body: Option<&Value>) -> u16 {
        self.call(method, path, body).await.status
    }

    /// Asserts the status of each `(method, path, body, status)` call made with `token`.
    pub async fn assert_statuses(&self, token: &str, calls: &[(&str, String, Option<Value>, u16)]) {
        for (method, path, body, status) in calls {
            let r = self.call_as(token, method, path, body.as_ref()).await;
            assert_eq!(r.status, *status, "{method} {path}");
        }
    }

    /// POSTs `body` to `path` as the admin, which must create it (201); the new row's id.
    pub async fn create(&self, path: &str, body: Value) -> i64 {
        let r = self.call("POST", path, Some(&body)).await;
        assert_eq!(
            r.status,
            201,
            "POST {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()["id"].as_i64().unwrap()
    }

    /// Registers a device (POST to [`LIST`]) as the admin; the answer.
    pub async fn post_device(&self, body: Value) -> Response {
        self.call("POST", LIST, Some(&body)).await
    }

    /// Registers a device as the admin, which must succeed (201).
    pub async fn register(&self, body: Value) {
        let r = self.post_device(body).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }

    /// PATCHes device `serial` as the admin, which must succeed (200); the answer.
    pub async fn patch_device(&self, serial: &str, body: Value) -> Response {
        let r = self
            .call("PATCH", &format!("{LIST}{serial}/"), Some(&body))
            .await;
        assert_eq!(
            r.status,
            200,
            "PATCH {serial}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r
    }

    /// What a session of device `device_id` does first: takes its next due task (leased to
    /// `holder` for a minute).
    pub async fn claim(
        &self,
        device_id: i64,
        holder: &str,
        now: chrono::DateTime<Utc>,
    ) -> Option<acs_store::Task> {
        self.store
            .claim_next_task(device_id, holder, now, Duration::from_secs(60))
            .await
            .unwrap()
    }

    /// Registers a device with `token`; the answer.
    pub async fn post_device_as(&self, token: &str, body: Value) -> Response {
        self.call_as(token, "POST", LIST, Some(&body)).await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.call("GET", path, None).await
    }

    /// POSTs `body` to the firmware upload as the admin.
    pub async fn post_firmware(&self, content_type: &str, body: &[u8]) -> Response {
        let token = self.admin.clone();
        self.raw(
            "POST",
            "/api/v1/firmware_images/",
            Some(&token),
            Some(content_type),
            body,
        )
        .await
    }

    /// Creates an organization straight in the store; its id.
    pub async fn organization(&self, name: &str) -> i64 {
        self.store
            .create_organization(name, Utc::now())
            .await
            .unwrap()
            .id
    }

    /// Registers a one-byte firmware image straight in the store (no file); its id.
    pub async fn some_image(&self) -> i64 {
        self.store
            .create_firmware_image(
                &acs_store::NewFirmwareImage {
                    version: "1".into(),
                    file_name: "fw.bin".into(),
                    size: 1,
                    sha256: "00".into(),
                    device_type_id: None,
                },
                Utc::now(),
            )
            .await
            .unwrap()
            .id
    }

    /// Creates organizations up to id `org` and device types up to id `type_id` (the last
    /// one `enterprise_router`), so the seed's example ids exist.
    pub async fn seed_catalog(&self, org: i64, type_id: i64) {
        let mut i = 0;
        loop {
            i += 1;
            let o = self
                .store
                .create_organization(&format!("org {i}"), Utc::now())
                .await
                .unwrap();
            if o.id >= org {
                break;
            }
        }
        loop {
            let n = self.store.list_device_types().await.unwrap().len() as i64 + 1;
            let short = if n == type_id {
                "enterprise_router".to_owned()
            } else {
                format!("type_{n}")
            };
            let t = self
                .store
                .create_device_type(
                    &acs_store::NewDeviceType {
                        short_name: short,
                        name: format!("Type {n}"),
                        data_model_root: "Device.".into(),
                        profile: Default::default(),
                    },
                    Utc::now(),
                )
                .await
                .unwrap();
            if t.id >= type_id {
                break;
            }
        }
    }

    /// Makes the device inform (Up) with this connection-request URL.
    pub async fn inform(&self, serial: &str, cr_url: &str) {
        self.inform_with(serial, cr_url, |i| i).await;
    }

    /// [`Server::inform`], the Inform changed by `adjust` before it is stored.
    pub async fn inform_with(
        &self,
        serial: &str,
        cr_url: &str,
        adjust: impl FnOnce(Inform) -> Inform,
    ) {
        self.store
            .upsert_inform(&adjust(Inform {
                serial_number: serial.into(),
                oui: "00D09E".into(),
                product_class: Some("IGD".into()),
                manufacturer: Some("Acme".into()),
                software_version: Some("1.0".into()),
                hardware_version: Some("hw1".into()),
                connection_request_url: Some(cr_url.into()),
                address: Some("192.0.2.1".into()),
                // the fake CPEs listen on loopback: so does the device, as far as acs knows
                peer_address: Some("127.0.0.1".into()),
                parameter_key: None,
                events: vec![],
                parameters: vec![],
                auto_register: false,
                now: Utc::now(),
            }))
            .await
            .unwrap();
    }

    pub async fn device_count(&self) -> i64 {
        self.get("/api/v1/inventory_device_serial/").await.json()["count"]
            .as_i64()
            .unwrap()
    }
}

/// The row of a list page's `results` whose `key` is `value`.
pub fn find_result<'a>(page: &'a Value, key: &str, value: &str) -> Option<&'a Value> {
    page["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {page}"))
        .iter()
        .find(|row| row[key] == value)
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&data[..end])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

/// A fake CPE connection-request endpoint: answers 200 to every request and reports each
/// request line on the channel.
pub async fn fake_cpe() -> (String, mpsc::UnboundedReceiver<String>) {
    cr_endpoint(|head| {
        let line = head.lines().next().unwrap_or("").to_owned();
        (line, OK)
    })
    .await
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// A connection-request endpoint on loopback: for each request (one a connection), `answer`
/// gets the request head and says what to report on the channel and what to send back.
async fn cr_endpoint(
    answer: fn(&str) -> (String, &'static [u8]),
) -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cr", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                break;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let Some(head) = read_head(&mut stream).await else {
                    return;
                };
                let (report, reply) = answer(&head);
                // reported before the answer goes out: whoever got the answer finds the report
                let _ = tx.send(report);
                let _ = stream.write_all(reply).await;
            });
        }
    });
    (url, rx)
}

/// A URL where nothing listens (a port just bound and released).
pub async fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/cr")
}

/// The seed's POST example body.
pub fn seed_post_body() -> Value {
    serde_json::json!({
        "name": "Branch Office Router",
        "serial_number": "ZN987654321",
        "customer_id": "CUST-67890",
        "type": 5,
        "organization_id": 123,
        "location_name": "Branch Office - Seattle",
        "description": "Primary router for Seattle branch",
        "username": "device_admin",
        "password": "secure_password_123",
        "is_active": true,
        "latitude": "47.6062",
        "longitude": "-122.3321"
    })
}

/// A fake CPE connection-request endpoint that demands digest auth: the first request of
/// each connection gets a 401 challenge (connection closed), a request carrying
/// `Authorization` gets 200. Each request's `Authorization` header (or "") is reported.
pub async fn digest_cpe() -> (String, mpsc::UnboundedReceiver<String>) {
    cr_endpoint(|head| {
        let auth = authorization(head);
        let reply: &[u8] = if auth.is_empty() {
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"cpe\", nonce=\"n0\", qop=\"auth\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        } else {
            OK
        };
        (auth, reply)
    })
    .await
}

/// Reads a request head (up to the blank line); `None` when the peer closes first.
pub async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// The `Authorization` header of a request head, or "".
pub fn authorization(head: &str) -> String {
    head.lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default()
}

/// A `multipart/form-data` body of `(name, file name, data)` parts, and its content type.
pub fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----acs-test-boundary";
    let mut body = Vec::new();
    for (name, file_name, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file_name {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
