//! Connection requests from the API as an operator meets them (issues 12 and 13): what a
//! PATCH answer and the device's history say about the wake, `update_status=true` telling the
//! truth, the pair a wake uses, the address policy, and wakes that coalesce and act on the
//! newest record. Fake CPE endpoints on 127.0.0.1 only.

mod support;

use support::LIST;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};

use acs_store::Inform;
use support::{Env, Server, dead_url, find_result, start, start_with};

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const BUSY: &str =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// A 401 with a digest challenge, whatever the request carried: credentials it never accepts.
const CHALLENGE: &str = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"cpe\", \
    nonce=\"n0\", qop=\"auth\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Requests in flight at once, across every fake CPE sharing it, and the most seen.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
}

/// A fake connection-request endpoint on loopback.
struct Cpe {
    url: String,
    /// Each request's `Authorization` header ("" without one).
    seen: mpsc::UnboundedReceiver<String>,
    hits: Arc<AtomicUsize>,
}

/// Answers `first` to a request without `Authorization` and `then` to one with it; each
/// request first takes a permit of `gate` when given (the test releases them).
async fn cpe(
    first: &'static str,
    then: &'static str,
    gate: Option<Arc<Semaphore>>,
    in_flight: Arc<InFlight>,
) -> Cpe {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cr", listener.local_addr().unwrap());
    let (tx, seen) = mpsc::unbounded_channel();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (tx, gate, in_flight, counted) =
                (tx.clone(), gate.clone(), in_flight.clone(), counted.clone());
            tokio::spawn(async move {
                let Some(head) = support::read_head(&mut stream).await else {
                    return;
                };
                let now = in_flight.now.fetch_add(1, Ordering::SeqCst) + 1;
                in_flight.max.fetch_max(now, Ordering::SeqCst);
                counted.fetch_add(1, Ordering::SeqCst);
                let auth = support::authorization(&head);
                let _ = tx.send(auth.clone());
                if let Some(gate) = gate {
                    gate.acquire().await.unwrap().forget();
                }
                let answer = if auth.is_empty() { first } else { then };
                let _ = stream.write_all(answer.as_bytes()).await;
                in_flight.now.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    Cpe { url, seen, hits }
}

async fn simple(answer: &'static str) -> Cpe {
    cpe(answer, answer, None, Arc::default()).await
}

impl Cpe {
    async fn next(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(10), self.seen.recv())
            .await
            .expect("a connection request")
            .unwrap()
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// The device informs with this ConnectionRequestURL from `peer`.
async fn inform_from(s: &Server, serial: &str, url: &str, peer: &str) {
    s.inform_with(serial, url, |i| Inform {
        address: Some("127.0.0.1".into()),
        peer_address: Some(peer.into()),
        ..i
    })
    .await;
}

async fn history(s: &Server, serial: &str) -> Vec<Value> {
    let h = s.get(&format!("{LIST}{serial}/history/")).await.json();
    h["connection_requests"]
        .as_array()
        .unwrap_or_else(|| panic!("no connection_requests in {h}"))
        .clone()
}

async fn a_patch_answer_and_the_history_say_how_the_wake_went(env: Env) {
    let s = start(&env).await;
    // no pair on record, and a CPE that wants one
    s.register(json!({"serial_number": "AUTH", "name": "n"}))
        .await;
    let mut challenging = simple(CHALLENGE).await;
    s.inform("AUTH", &challenging.url).await;
    let d = s.patch_device("AUTH", json!({"reboot": true})).await.json();
    // the seed's shape is intact: the device, its pending settings...
    assert_eq!(d["serial_number"], "AUTH");
    assert_eq!(d["pending_settings"], "reboot");
    // ...and how the wake went
    let cr = &d["connection_request"];
    assert_eq!(cr["outcome"], "auth_failed", "{d}");
    assert!(
        cr["detail"].as_str().unwrap().contains("credentials"),
        "{cr}"
    );
    assert_eq!(challenging.next().await, "");
    let h = history(&s, "AUTH").await;
    assert_eq!(h[0]["outcome"], "auth_failed", "{h:?}");
    assert_eq!(h[0]["purpose"], "tasks");
    assert!(h[0]["sent"].is_string());

    s.register(json!({"serial_number": "GONE", "name": "n"}))
        .await;
    s.inform("GONE", &dead_url().await).await;
    let d = s.patch_device("GONE", json!({"reboot": true})).await.json();
    assert_eq!(d["connection_request"]["outcome"], "unreachable", "{d}");
    assert_eq!(history(&s, "GONE").await[0]["outcome"], "unreachable");

    s.register(json!({"serial_number": "NOURL", "name": "n"}))
        .await;
    let d = s
        .patch_device("NOURL", json!({"reboot": true}))
        .await
        .json();
    assert_eq!(d["connection_request"]["outcome"], "no_url", "{d}");

    s.register(json!({"serial_number": "FINE", "name": "n"}))
        .await;
    let mut fine = simple(OK).await;
    s.inform("FINE", &fine.url).await;
    let d = s.patch_device("FINE", json!({"reboot": true})).await.json();
    assert_eq!(d["connection_request"]["outcome"], "accepted", "{d}");
    fine.next().await;
    // a write that queues nothing wakes nobody and says nothing about it
    let d = s
        .patch_device("FINE", json!({"name": "renamed"}))
        .await
        .json();
    assert!(d.get("connection_request").is_none(), "{d}");
    // and a plain read never carries it
    let d = s.get(&format!("{LIST}FINE/")).await.json();
    assert!(d.get("connection_request").is_none(), "{d}");
}

async fn a_wake_uses_the_pair_the_cpe_accepted_not_the_one_just_set(env: Env) {
    let s = start(&env).await;
    // registered with the pair the CPE has
    s.register(
        json!({"serial_number": "ROT", "name": "n", "username": "old-user", "password": "old-pw"}),
    )
    .await;
    let mut cpe = simple(CHALLENGE).await;
    s.inform("ROT", &cpe.url).await;
    // rotating it queues the SetParameterValues; until the CPE applied it, it checks the old
    // pair, so the wake that brings it the new one must use the old one
    let d = s
        .patch_device("ROT", json!({"username": "new-user", "password": "new-pw"}))
        .await
        .json();
    assert_eq!(d["pending_settings"], "credentials");
    assert_eq!(d["username"], "new-user");
    assert!(d.get("password").is_none());
    assert_eq!(cpe.next().await, "");
    let auth = cpe.next().await;
    assert!(auth.contains("username=\"old-user\""), "{auth}");
    assert!(!auth.contains("pw"), "never the password itself: {auth}");
}

async fn update_status_counts_any_http_answer_as_up(env: Env) {
    let s = start(&env).await;
    let challenging = simple(CHALLENGE).await;
    let busy = simple(BUSY).await;
    let fine = simple(OK).await;
    let refused = simple(OK).await;
    let dead = dead_url().await;
    for (serial, url, peer) in [
        ("ASKS", challenging.url.as_str(), "127.0.0.1"),
        ("BUSY", busy.url.as_str(), "127.0.0.1"),
        ("FINE", fine.url.as_str(), "127.0.0.1"),
        ("DEAD", dead.as_str(), "127.0.0.1"),
        // a device outside the ACS host naming the ACS's loopback: never contacted
        ("EVIL", refused.url.as_str(), "203.0.113.7"),
    ] {
        s.register(json!({"serial_number": serial, "name": serial}))
            .await;
        inform_from(&s, serial, url, peer).await;
    }
    let page = s.get(&format!("{LIST}?update_status=true")).await.json();
    let status = |serial: &str| -> Value {
        find_result(&page, "serial_number", serial).unwrap()["status"].clone()
    };
    // it answered (401, 503, 200): it is there
    assert_eq!(status("ASKS"), "Up", "{page}");
    assert_eq!(status("BUSY"), "Up", "{page}");
    assert_eq!(status("FINE"), "Up", "{page}");
    // no answer at all
    assert_eq!(status("DEAD"), "Down", "{page}");
    // not asked: the stored status stays
    assert_eq!(status("EVIL"), "Up", "{page}");
    assert_eq!(refused.hits(), 0);
    // stored, not just shown
    for (serial, want) in [("ASKS", "Up"), ("DEAD", "Down")] {
        let d = s.get(&format!("{LIST}{serial}/")).await.json();
        assert_eq!(d["status"], want, "{d}");
    }
    let h = history(&s, "ASKS").await;
    assert_eq!(
        (&h[0]["purpose"], &h[0]["outcome"]),
        (&json!("status_check"), &json!("auth_failed"))
    );
}

async fn a_refused_address_sends_nothing_and_shows_where_operators_look(env: Env) {
    let s = start(&env).await;
    let target = simple(OK).await;
    s.register(json!({"serial_number": "SSRF", "name": "n"}))
        .await;
    inform_from(&s, "SSRF", &target.url, "198.51.100.20").await;
    let d = s.patch_device("SSRF", json!({"reboot": true})).await.json();
    let cr = &d["connection_request"];
    assert_eq!(cr["outcome"], "refused", "{d}");
    assert!(cr["detail"].as_str().unwrap().contains("loopback"), "{cr}");
    let h = history(&s, "SSRF").await;
    assert_eq!(h[0]["outcome"], "refused", "{h:?}");
    let counted = "acs_connection_requests_total{outcome=\"refused\"} 1";
    assert!(
        s.metrics.render().contains(counted),
        "{}",
        s.metrics.render()
    );
    // The answer came after the only attempt (a refusal is final), so anything sent would
    // have been counted by now.
    assert_eq!(target.hits(), 0, "a refused request reaches nobody");
}

async fn a_wake_waits_for_a_session_in_progress(env: Env) {
    let s = start(&env).await;
    let cpe = simple(OK).await;
    s.register(json!({"serial_number": "BUSYDEV", "name": "n"}))
        .await;
    s.inform("BUSYDEV", &cpe.url).await;
    assert!(
        s.store
            .acquire_session_lease("BUSYDEV", "node/s1", Utc::now(), Duration::from_secs(60))
            .await
            .unwrap()
    );
    let d = s
        .patch_device("BUSYDEV", json!({"reboot": true}))
        .await
        .json();
    assert_eq!(d["connection_request"]["outcome"], "in_session", "{d}");
    assert_eq!(cpe.hits(), 0);
}

async fn wakes_coalesce_and_act_on_the_newest_record(env: Env) {
    let s = start_with(&env, |c| c.wake_session_wait = Duration::from_millis(300)).await;
    let in_flight = Arc::new(InFlight::default());
    let gate = Arc::new(Semaphore::new(0));
    let mut first = cpe(OK, OK, Some(gate.clone()), in_flight.clone()).await;
    let mut moved = cpe(OK, OK, None, in_flight.clone()).await;
    s.register(json!({"serial_number": "COAL", "name": "n"}))
        .await;
    s.inform("COAL", &first.url).await;

    let s = Arc::new(s);
    let background = |body: Value| {
        let s = s.clone();
        tokio::spawn(async move { s.patch_device("COAL", body).await.json() })
    };
    let one = background(json!({"reboot": true}));
    // the first request is held at the CPE; meanwhile the device moves and two more writes
    // come
    first.next().await;
    s.inform("COAL", &moved.url).await;
    let two = background(json!({"sync": true}));
    let three = background(json!({"update_frequency": 600}));
    let open = || async {
        let d = s.get(&format!("{LIST}COAL/")).await.json();
        d["pending_settings"]
            .as_str()
            .unwrap_or("")
            .split(',')
            .count()
    };
    for _ in 0..200 {
        if open().await == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(open().await, 3);
    gate.add_permits(10);
    let one = one.await.unwrap();
    assert_eq!(one["connection_request"]["outcome"], "accepted", "{one}");
    // the request after it went where the device is now, and answered the writes that joined
    moved.next().await;
    for answer in [two.await.unwrap(), three.await.unwrap()] {
        assert_eq!(
            answer["connection_request"]["outcome"], "accepted",
            "{answer}"
        );
    }
    assert_eq!(first.hits(), 1, "the old address is not asked again");
    assert_eq!(
        in_flight.max.load(Ordering::SeqCst),
        1,
        "one connection request per device at a time"
    );
}

api_tests![
    a_patch_answer_and_the_history_say_how_the_wake_went,
    a_wake_uses_the_pair_the_cpe_accepted_not_the_one_just_set,
    update_status_counts_any_http_answer_as_up,
    a_refused_address_sends_nothing_and_shows_where_operators_look,
    a_wake_waits_for_a_session_in_progress,
    wakes_coalesce_and_act_on_the_newest_record,
];
