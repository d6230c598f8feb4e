//! Who a CPE is (DESIGN §8, docs/security.md), against the real `acs serve` over raw
//! TCP: per-device CWMP credentials bind the session to one device; a session's cookie is
//! no use to another device and cannot be guessed; one serial-number rule for Informs and
//! the API; a reconnecting device takes its own session over at once, while another node's
//! lease answers 503 with the time it has left.

use tokio::net::TcpStream;

mod support;
use support::server::{Server, run_big, start};
use support::{Resp, inform, post};

async fn exchange(stream: &mut TcpStream, raw: &[u8]) -> Resp {
    support::exchange(stream, raw).await.expect("a response")
}

/// A digest `Authorization` header line for `user`/`password`, answering a fresh challenge
/// (asked on a connection of its own, without any cookie).
async fn authorization(s: &Server, user: &str, password: &str, cnonce: &str) -> String {
    let mut c = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(&mut c, &post(&inform("SN-CHALLENGE"), "")).await;
    assert_eq!(r.status, 401, "{}", r.text());
    let auth = support::digest_answer(&r.headers_named("www-authenticate"), user, password, cnonce);
    format!("Authorization: {auth}\r\n")
}

fn cookie_of(r: &Resp) -> String {
    let sc = r.header("set-cookie").expect("a session cookie");
    sc.split(';').next().unwrap().to_owned()
}

async fn register(s: &Server, token: &str, body: &str) -> Resp {
    let r = s
        .api(token, "POST", "/api/v1/inventory_device_serial/", body)
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r
}

/// Two devices with their own CWMP credentials: A's credentials with B's serial number get
/// 403, write nothing to B's record and take no lease (B opens its session right after).
#[test]
fn an_inform_as_another_device_is_refused() {
    run_big(async {
        let s = start(&["--cwmp-auth", "digest", "--cr-provision=false"], &[]);
        let token = s.admin_token();
        let a = register(
            &s,
            &token,
            r#"{"serial_number": "SN-A", "name": "a", "cwmp_password": "pass-a"}"#,
        )
        .await;
        // no OUI on record yet: the default username is the serial number alone
        assert!(
            a.text().contains(r#""cwmp_username":"SN-A""#),
            "{}",
            a.text()
        );
        assert!(!a.text().contains("pass-a"), "{}", a.text());
        let b = register(
            &s,
            &token,
            r#"{"serial_number": "SN-B", "name": "b", "cwmp_password": "pass-b"}"#,
        )
        .await;
        assert!(
            b.text().contains(r#""cwmp_username":"SN-B""#),
            "{}",
            b.text()
        );
        let before = s
            .api(&token, "GET", "/api/v1/inventory_device_serial/SN-B/", "")
            .await;

        // A's own credentials, B's serial number
        let auth = authorization(&s, "SN-A", "pass-a", "c1").await;
        let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
        let r = exchange(&mut cpe, &post(&inform("SN-B"), &auth)).await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(r.text().contains("another device"), "{}", r.text());
        assert!(r.header("set-cookie").is_none());
        let after = s
            .api(&token, "GET", "/api/v1/inventory_device_serial/SN-B/", "")
            .await;
        assert_eq!(before.text(), after.text(), "B's record was touched");

        // B's username with a wrong password: 401
        let auth = authorization(&s, "SN-B", "pass-a", "c2").await;
        let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
        assert_eq!(
            exchange(&mut cpe, &post(&inform("SN-B"), &auth))
                .await
                .status,
            401
        );

        // B itself, at once (no lease was taken for it)
        let auth = authorization(&s, "SN-B", "pass-b", "c3").await;
        let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
        let r = exchange(&mut cpe, &post(&inform("SN-B"), &auth)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(exchange(&mut cpe, &post(b"", "")).await.status, 204);
        // and A as itself
        let auth = authorization(&s, "SN-A", "pass-a", "c4").await;
        let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
        assert_eq!(
            exchange(&mut cpe, &post(&inform("SN-A"), &auth))
                .await
                .status,
            200
        );

        // the username follows the TR-069 `OUI-SerialNumber` form once the OUI is known
        s.patch_device(&token, "SN-B", r#"{"cwmp_username": null}"#)
            .await;
        let r = s
            .patch_device(&token, "SN-B", r#"{"cwmp_password": "pass-b2"}"#)
            .await;
        assert!(
            r.text().contains(r#""cwmp_username":"A1B2C3-SN-B""#),
            "{}",
            r.text()
        );
        let auth = authorization(&s, "A1B2C3-SN-B", "pass-b2", "c5").await;
        let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
        assert_eq!(
            exchange(&mut cpe, &post(&inform("SN-B"), &auth))
                .await
                .status,
            200
        );
    });
}

/// A session's cookie is bound to the device that opened it: B's authenticated request with
/// A's cookie is refused and does not get A's Reboot; a guessed cookie gets nothing; A's
/// session goes on and gets its Reboot.
#[test]
fn a_session_cannot_be_borrowed_or_guessed() {
    run_big(async {
        let s = start(&["--cwmp-auth", "digest", "--cr-provision=false"], &[]);
        let token = s.admin_token();
        for (serial, pw) in [("SN-CA", "pa"), ("SN-CB", "pb")] {
            register(
                &s,
                &token,
                &format!(
                    r#"{{"serial_number": "{serial}", "name": "x", "cwmp_password": "{pw}"}}"#
                ),
            )
            .await;
        }
        s.patch_device(&token, "SN-CA", r#"{"reboot": true}"#).await;

        let auth = authorization(&s, "SN-CA", "pa", "d1").await;
        let mut a = TcpStream::connect(&s.cwmp).await.unwrap();
        let r = exchange(&mut a, &post(&inform("SN-CA"), &auth)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let cookie = cookie_of(&r);
        let value = cookie.split_once('=').unwrap().1.to_owned();
        assert_eq!(value.len(), 32, "128 bits as hex: {value}");

        // B, authenticated as itself, with A's cookie
        let auth_b = authorization(&s, "SN-CB", "pb", "d2").await;
        let mut b = TcpStream::connect(&s.cwmp).await.unwrap();
        let r = exchange(&mut b, &post(b"", &format!("Cookie: {cookie}\r\n{auth_b}"))).await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(!r.text().contains("Reboot"), "{}", r.text());

        // neighbours of the cookie, without credentials: no session, a challenge
        for guess in [neighbour(&value, 1), neighbour(&value, -1)] {
            let mut g = TcpStream::connect(&s.cwmp).await.unwrap();
            let r = exchange(
                &mut g,
                &post(b"", &format!("Cookie: acs_session={guess}\r\n")),
            )
            .await;
            assert_eq!(r.status, 401, "{}", r.text());
            assert!(!r.text().contains("Reboot"));
        }

        // A's own session is intact: the Reboot is still A's
        let r = exchange(&mut a, &post(b"", &format!("Cookie: {cookie}\r\n"))).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.text().contains(":Reboot>"), "{}", r.text());
    });
}

/// `value` as a hex number plus `delta` (what a counter-based id's neighbour would be).
fn neighbour(value: &str, delta: i128) -> String {
    let n = u128::from_str_radix(value, 16).unwrap();
    format!("{:032x}", (n as i128).wrapping_add(delta) as u128)
}

/// One serial-number rule on every path in: an Inform whose serial number has a newline, a
/// control character or 200 characters is refused (400) and stores nothing, and the newline
/// never starts a log line; the API refuses the same serials.
#[test]
fn a_bad_serial_number_is_refused_everywhere() {
    run_big(async {
        let s = start(&[], &[]);
        let token = s.admin_token();
        let long = "L".repeat(200);
        for serial in [
            "SN-1\nforged line",
            "SN-1&#10;forged line",
            "SN-2&#x7f;",
            long.as_str(),
            "SN/3",
        ] {
            let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
            let r = exchange(&mut cpe, &post(&inform(serial), "")).await;
            assert_eq!(r.status, 400, "{serial:?}: {}", r.text());
            assert!(r.text().contains("serial number"), "{}", r.text());
        }
        let list = s
            .api(&token, "GET", "/api/v1/inventory_device_serial/", "")
            .await;
        assert!(list.text().contains(r#""count":0"#), "{}", list.text());
        {
            let log = s.log.lock().unwrap();
            assert!(
                !log.iter().any(|l| l.starts_with("forged line")),
                "a CPE wrote its own log line: {log:#?}"
            );
        }
        for body in [
            r#"{"serial_number": "SN-1\nforged", "name": "x"}"#,
            r#"{"serial_number": "SN\u0000", "name": "x"}"#,
            r#"{"serial_number": "a/b", "name": "x"}"#,
        ] {
            let r = s
                .api(&token, "POST", "/api/v1/inventory_device_serial/", body)
                .await;
            assert_eq!(r.status, 400, "{body}: {}", r.text());
            assert!(r.text().contains("serial_number"), "{}", r.text());
        }
    });
}

/// A CPE that dropped its connection mid-session and informs again gets its new session at
/// once (its old one ended, the in-flight Reboot back to pending and sent again), not 503.
#[test]
fn a_reconnecting_device_takes_its_session_over() {
    run_big(async {
        let s = start(&["--cr-provision=false"], &[]);
        let token = s.admin_token();
        let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
        assert_eq!(
            exchange(&mut cpe, &post(&inform("SN-R"), "")).await.status,
            200
        );
        assert_eq!(exchange(&mut cpe, &post(b"", "")).await.status, 204);
        s.patch_device(&token, "SN-R", r#"{"reboot": true}"#).await;

        let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
        assert_eq!(
            exchange(&mut cpe, &post(&inform("SN-R"), "")).await.status,
            200
        );
        let r = exchange(&mut cpe, &post(b"", "")).await;
        assert!(r.text().contains(":Reboot>"), "{}", r.text());
        drop(cpe); // the CPE dies mid-session

        let started = std::time::Instant::now();
        let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
        let r = exchange(&mut cpe, &post(&inform("SN-R"), "")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let r = exchange(&mut cpe, &post(b"", "")).await;
        assert!(
            r.text().contains(":Reboot>"),
            "the unanswered Reboot comes back: {}",
            r.text()
        );
    });
}

/// Another node's session still holds the device's lease: 503, and `Retry-After` is the
/// time its lease has left rather than a fixed value.
#[test]
fn another_nodes_lease_gives_503_with_its_remaining_time() {
    run_big(async {
        let s = start(&["--cr-provision=false", "--session-timeout", "60"], &[]);
        let store = s.store().await;
        let held = store
            .acquire_session_lease(
                "SN-NODE",
                "some-other-node",
                chrono::Utc::now(),
                std::time::Duration::from_secs(45),
            )
            .await
            .unwrap();
        assert!(held);
        let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
        let r = exchange(&mut cpe, &post(&inform("SN-NODE"), "")).await;
        assert_eq!(r.status, 503, "{}", r.text());
        let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((40..=45).contains(&retry), "Retry-After {retry}");
    });
}
