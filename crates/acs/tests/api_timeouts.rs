//! The API listener's timeouts, the same settings as the CPE listener's: a head must arrive
//! within `--header-timeout`, a body within `--read-timeout`, and an idle keep-alive
//! connection is closed after `--header-timeout` (waiting for the next request's head).
//! Short timeouts here, generous deadlines for the assertions.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod support;
use support::server::start;
use support::{exchange, read_response};

/// How long the tests wait for a cut that should come after ~2 s.
const DEADLINE: Duration = Duration::from_secs(30);

/// Waits for the server to end the connection: `Some(status)` when it said something first
/// (e.g. 408), `None` when it just closed; a failure when it kept it open past `DEADLINE`.
async fn cut_off(c: &mut TcpStream, what: &str) -> Option<u16> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(DEADLINE, c.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "{what}: still open after {DEADLINE:?}");
    let text = String::from_utf8_lossy(&out);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|s| s.parse().ok())
}

#[tokio::test]
async fn a_slow_head_a_slow_body_and_an_idle_connection_are_cut_off() {
    let s = start(&["--header-timeout", "2", "--read-timeout", "2"], &[]);
    let token = s.admin_token();

    // a head that never ends
    let mut c = TcpStream::connect(&s.api).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let status = cut_off(&mut c, "a partial head").await;
    assert!(matches!(status, None | Some(408)), "{status:?}");

    // a body that never ends, on a route that reads it
    let mut c = TcpStream::connect(&s.api).await.unwrap();
    let head = format!(
        "POST /api/v1/locations/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\": "
    );
    c.write_all(head.as_bytes()).await.unwrap();
    assert_eq!(cut_off(&mut c, "a partial body").await, Some(408));

    // a keep-alive connection that says nothing after its first request
    let mut c = TcpStream::connect(&s.api).await.unwrap();
    let r = exchange(&mut c, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(cut_off(&mut c, "an idle connection").await, None);

    // what arrives in time is served as before, with keep-alive
    let mut c = TcpStream::connect(&s.api).await.unwrap();
    let body = r#"{"name": "depot"}"#;
    let post = format!(
        "POST /api/v1/locations/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = exchange(&mut c, post.as_bytes()).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut c).await.unwrap().status, 200);
}
