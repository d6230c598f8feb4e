//! The CPE listener's request gate against clients that send a head and then trickle a body:
//! without credentials they must not hold the gate's permits (authentication is decided from
//! the head, before the gate and before the body), and whoever waits at the gate waits a
//! bounded time.
//!
//! The gate is lowered with `--cwmp-requests-at-once` to keep the test light; the issue's
//! numbers (700 stalled connections, the default gate of 512) run with
//! `ACS_GATE_TEST_STALLED=700 ACS_GATE_TEST_GATE=512` (mind `ulimit -n`).

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

mod support;
use support::server::start;
use support::{DIGEST, Resp, digest_answer, exchange, inform, inform_with, post};

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` connections that each send a head announcing a 64 kB body, then one byte of it a
/// second: they stay open until the returned tasks are aborted.
async fn stall(addr: &str, n: usize) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 65536\r\nCookie: stalled={i}\r\n\r\n<"
        );
        c.write_all(head.as_bytes()).await.unwrap();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if c.write_all(b" ").await.is_err() {
                    return;
                }
            }
        }));
    }
    // every head read and (before the change) every permit taken
    tokio::time::sleep(Duration::from_secs(2)).await;
    tasks
}

/// Within `limit`, or a failure that says what was waited for.
async fn within<T>(limit: Duration, what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {limit:?}"))
}

#[tokio::test]
async fn stalled_unauthenticated_uploads_do_not_hold_up_an_authenticated_cpe() {
    let stalled = knob("ACS_GATE_TEST_STALLED", 40);
    let gate = knob("ACS_GATE_TEST_GATE", 8).to_string();
    let flags = [
        "--cwmp-requests-at-once",
        &gate,
        // the session is an Inform and an empty POST: no credentials task in between
        "--cr-provision=false",
        // the stalled uploads would hold a permit for two minutes each
        "--read-timeout",
        "120",
        "--header-timeout",
        "120",
    ];
    let s = start(&[&DIGEST[..], &flags].concat(), &[]);
    let tasks = stall(&s.cwmp, stalled).await;

    let started = Instant::now();
    let limit = Duration::from_secs(30);
    let mut a = TcpStream::connect(&s.cwmp).await.unwrap();
    let r: Resp = within(limit, "the first Inform", async {
        exchange(&mut a, &post(&inform("SN-GATE"), ""))
            .await
            .unwrap()
    })
    .await;
    assert_eq!(r.status, 401);
    let challenges = r.headers_named("www-authenticate");
    let auth = digest_answer(&challenges, "cpe", "s3cret", "0a4f113b");
    let r = within(limit, "the authenticated Inform", async {
        exchange(&mut a, &inform_with("SN-GATE", &auth))
            .await
            .unwrap()
    })
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = within(limit, "the empty POST", async {
        exchange(&mut a, &post(b"", "")).await.unwrap()
    })
    .await;
    assert_eq!(r.status, 204);
    eprintln!(
        "Inform, 401, Inform, 200, empty POST, 204 beside {stalled} stalled uploads (gate {gate}): {:?}",
        started.elapsed()
    );
    for t in tasks {
        t.abort();
    }
}

#[tokio::test]
async fn without_authentication_a_request_waits_at_the_gate_a_bounded_time() {
    let s = start(
        &[
            "--cwmp-requests-at-once",
            "2",
            "--header-timeout",
            "2",
            "--read-timeout",
            "120",
        ],
        &[],
    );
    let tasks = stall(&s.cwmp, 2).await;
    let mut a = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = within(
        Duration::from_secs(30),
        "the Inform at a full gate",
        async {
            exchange(&mut a, &post(&inform("SN-WAIT"), ""))
                .await
                .unwrap()
        },
    )
    .await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.header("connection"), Some("close"));
    for t in tasks {
        t.abort();
    }
    // once the stalled uploads are gone, the gate is free again
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut b = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = within(
        Duration::from_secs(30),
        "the Inform at a free gate",
        async {
            exchange(&mut b, &post(&inform("SN-WAIT"), ""))
                .await
                .unwrap()
        },
    )
    .await;
    assert_eq!(r.status, 200);
    let mut api = TcpStream::connect(&s.api).await.unwrap();
    let m = exchange(&mut api, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(
        m.text().contains("acs_cpe_requests_shed_total 1"),
        "{}",
        m.text()
    );
}
