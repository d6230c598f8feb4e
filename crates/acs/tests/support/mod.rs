//! What the binary's test files share: scratch directories, raw HTTP/1.1 framing over any
//! stream (plain TCP or TLS), and the messages a test CPE sends.

#![allow(dead_code)] // each test file uses its own subset

pub mod server;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

static N: AtomicU32 = AtomicU32::new(0);

/// A fresh, empty directory under the system temp dir, unique per process and call.
pub fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits until `condition` holds, checking every 50 ms; fails naming `what` after `limit`.
pub async fn eventually<F: std::future::Future<Output = bool>>(
    limit: std::time::Duration,
    what: &str,
    mut condition: impl FnMut() -> F,
) {
    let deadline = std::time::Instant::now() + limit;
    while !condition().await {
        assert!(
            std::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// An API request with a bearer token and a JSON body (empty for none).
pub fn api_request(token: &str, method: &str, path: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The `count` of a JSON page the API answered.
pub fn page_count(text: &str) -> i64 {
    let page: serde_json::Value = serde_json::from_str(text).expect("a JSON page");
    page["count"].as_i64().expect("a count")
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of the header `name`, in order (e.g. the `WWW-Authenticate` challenges).
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends raw bytes and reads one response.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    raw: &[u8],
) -> std::io::Result<Resp> {
    stream.write_all(raw).await?;
    stream.flush().await?;
    read_response(stream).await
}

/// Reads one Content-Length framed response, skipping `100 Continue` interim responses.
pub async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<Resp> {
    let mut buf = Vec::new();
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let status: u16 = lines
                .next()
                .and_then(|l| l.split(' ').nth(1))
                .and_then(|s| s.parse().ok())
                .expect("a status line");
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .collect();
            if status == 100 {
                buf.drain(..end + 4);
                continue;
            }
            let len: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse().expect("a numeric Content-Length"));
            while buf.len() < end + 4 + len {
                read_more(stream, &mut buf).await?;
            }
            return Ok(Resp {
                status,
                headers,
                body: buf[end + 4..end + 4 + len].to_vec(),
            });
        }
        read_more(stream, &mut buf).await?;
    }
}

async fn read_more<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 65536];
    let n = stream.read(&mut chunk).await?;
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

/// A CWMP POST of `body` with any extra header lines (each ending in `\r\n`).
pub fn post(body: &[u8], extra_headers: &str) -> Vec<u8> {
    let mut v = format!(
        "POST / HTTP/1.1\r\nHost: acs.test\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n{extra_headers}\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}
/// A minimal CWMP 1.0 Inform (`2 PERIODIC`) whose ConnectionRequestURL points at the discard port.
/// `acs serve` flags: digest authentication with the shared pair `cpe` / `s3cret`.
pub const DIGEST: [&str; 6] = [
    "--cwmp-auth",
    "digest",
    "--cwmp-username",
    "cpe",
    "--cwmp-password",
    "s3cret",
];

/// The `Authorization` of a `POST /` answering `challenges` as `user` with `password`.
pub fn digest_answer(challenges: &[&str], user: &str, password: &str, cnonce: &str) -> String {
    let who = acs_session::Credentials::new(user, password);
    acs_session::auth::client::answer_challenges(challenges, "POST", "/", &who, false, cnonce)
        .expect("a digest challenge")
}

/// The Inform of `serial` with the header `Authorization: auth`.
pub fn inform_with(serial: &str, auth: &str) -> Vec<u8> {
    post(&inform(serial), &format!("Authorization: {auth}\r\n"))
}

pub fn inform(serial: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Header><cwmp:ID soap:mustUnderstand="1">1</cwmp:ID></soap:Header><soap:Body><cwmp:Inform><DeviceId><Manufacturer>SimNet</Manufacturer><OUI>A1B2C3</OUI><ProductClass>SG</ProductClass><SerialNumber>{serial}</SerialNumber></DeviceId><Event><EventStruct><EventCode>2 PERIODIC</EventCode><CommandKey></CommandKey></EventStruct></Event><MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2026-01-01T00:00:00Z</CurrentTime><RetryCount>0</RetryCount><ParameterList><ParameterValueStruct><Name>InternetGatewayDevice.ManagementServer.ConnectionRequestURL</Name><Value xsi:type="xsd:string">http://127.0.0.1:9/cr</Value></ParameterValueStruct></ParameterList></cwmp:Inform></soap:Body></soap:Envelope>"#
    )
    .into_bytes()
}
