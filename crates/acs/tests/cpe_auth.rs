//! CPE authentication as a CPE and an operator meet it: the real `acs serve` over a socket,
//! the challenges of its 401 (one MD5 challenge with a short nonce unless configured
//! otherwise), and the WARN line of a failure in its log.

use std::time::Duration;

use tokio::net::TcpStream;

mod support;
use support::server::{Server, start};
use support::{DIGEST, Resp, digest_answer, inform, inform_with, post, temp_dir};

async fn exchange(stream: &mut TcpStream, raw: &[u8]) -> Resp {
    support::exchange(stream, raw).await.expect("a response")
}

/// `name="value"` or `name=value` out of one challenge.
fn param<'a>(challenge: &'a str, name: &str) -> Option<&'a str> {
    challenge.split(',').find_map(|part| {
        let part = part.trim().trim_start_matches("Digest").trim();
        let (n, v) = part.split_once('=')?;
        (n.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

/// The algorithms the 401 to an Inform without credentials offers, in order, each checked
/// for `qop="auth"` and a nonce of at most 32 characters, the same in all.
async fn offered(s: &Server) -> Vec<String> {
    let mut a = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(&mut a, &post(&inform("SN-CH"), "")).await;
    assert_eq!(r.status, 401);
    let all = r.headers_named("www-authenticate");
    let nonce = param(all[0], "nonce").expect("a nonce").to_owned();
    for c in &all {
        assert!(c.starts_with("Digest "), "{c}");
        assert_eq!(param(c, "qop"), Some("auth"), "{c}");
        assert_eq!(param(c, "nonce"), Some(nonce.as_str()), "{c}");
    }
    assert!(nonce.len() <= 32, "{nonce}");
    assert!(nonce.bytes().all(|b| b.is_ascii_hexdigit()), "{nonce}");
    all.iter()
        .map(|c| param(c, "algorithm").unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn by_default_one_md5_challenge_with_a_nonce_of_at_most_32_characters() {
    let s = start(&DIGEST, &[]);
    assert_eq!(offered(&s).await, ["MD5"]);

    // A CPE that reads only the first challenge and knows only MD5 gets in.
    let mut a = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(&mut a, &post(&inform("SN-MD5"), "")).await;
    let first = r.headers_named("www-authenticate")[0];
    let auth = digest_answer(&[first], "cpe", "s3cret", "0a4f113b");
    assert!(auth.contains("algorithm=MD5"), "{auth}");
    let r = exchange(&mut a, &inform_with("SN-MD5", &auth)).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn configured_algorithms_are_challenged_in_the_order_given() {
    let flag = [&DIGEST[..], &["--cwmp-digest-algorithms", "sha-256,md5"]].concat();
    let s = start(&flag, &[]);
    assert_eq!(offered(&s).await, ["SHA-256", "MD5"]);
    let warned = s
        .log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("WARN") && l.contains("the first digest challenge is not MD5"));
    assert!(warned, "{:#?}", s.log.lock().unwrap());
    drop(s);

    let s = start(&DIGEST, &[("ACS_CWMP_DIGEST_ALGORITHMS", "md5,sha-256")]);
    assert_eq!(offered(&s).await, ["MD5", "SHA-256"]);
    drop(s);

    let dir = temp_dir("acs-digest-config");
    let file = dir.join("acs.toml");
    std::fs::write(&file, "cwmp_digest_algorithms = [\"SHA-256\"]\n").unwrap();
    let with_file = [&DIGEST[..], &["--config", file.to_str().unwrap()]].concat();
    let s = start(&with_file, &[]);
    assert_eq!(offered(&s).await, ["SHA-256"]);
    // SHA-256 alone: an MD5 answer is refused.
    let mut a = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(&mut a, &post(&inform("SN-SHA"), "")).await;
    let sha = r.headers_named("www-authenticate")[0];
    let md5 = sha.replace("algorithm=SHA-256", "algorithm=MD5");
    let auth = digest_answer(&[md5.as_str()], "cpe", "s3cret", "c1");
    let r = exchange(&mut a, &inform_with("SN-SHA", &auth)).await;
    assert_eq!(r.status, 401);
    let auth = digest_answer(&[sha], "cpe", "s3cret", "c2");
    let r = exchange(&mut a, &inform_with("SN-SHA", &auth)).await;
    assert_eq!(r.status, 200);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_digest_algorithms_refuse_the_start_naming_them() {
    let dir = temp_dir("acs-digest-bad");
    let out = support::server::command(&dir)
        .args(["serve", "--cwmp-listen", "127.0.0.1:0", "--api-listen"])
        .arg("127.0.0.1:0")
        .args(["--cwmp-auth", "digest"])
        .args(["--cwmp-digest-algorithms", "md5,SHA-512,sha1"])
        .output()
        .expect("acs runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--cwmp-digest-algorithms"), "{stderr}");
    assert!(stderr.contains("\"SHA-512\", \"sha1\""), "{stderr}");
    assert!(stderr.contains("md5, sha-256"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The server's log lines that contain `needle`, once every line logged before the call has
/// arrived: a failed login under a fresh username is logged after them, and its line marks
/// the end (it is left out of the answer).
async fn lines_with(s: &Server, needle: &str) -> Vec<String> {
    static MARKS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let mark = format!(
        "mark-{}",
        MARKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut c = TcpStream::connect(&s.cwmp).await.unwrap();
    let r = exchange(&mut c, &post(&inform("SN-MARK"), "")).await;
    let challenge = r.headers_named("www-authenticate")[0].to_owned();
    let auth = digest_answer(&[challenge.as_str()], &mark, "marker", "m1");
    let r = exchange(&mut c, &inform_with("SN-MARK", &auth)).await;
    assert_eq!(r.status, 401);
    let marked = format!(r#"username="{mark}""#);
    support::eventually(Duration::from_secs(10), "the marker line", || {
        std::future::ready(s.logged(&marked))
    })
    .await;
    s.log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(needle) && !l.contains(r#"username="mark-"#))
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_wrong_password_is_one_rate_limited_warn_line_naming_username_and_peer() {
    let s = start(&DIGEST, &[]);
    let mut a = TcpStream::connect(&s.cwmp).await.unwrap();
    let peer = a.local_addr().unwrap().to_string();
    // the normal first step of every CPE: no Authorization, a 401, no WARN
    let r = exchange(&mut a, &post(&inform("SN-W"), "")).await;
    assert_eq!(r.status, 401);
    let challenge = r.headers_named("www-authenticate")[0].to_owned();
    assert!(lines_with(&s, "WARN").await.is_empty());

    let mut responses = Vec::new();
    for i in 0..5 {
        let cnonce = format!("c{i}");
        let auth = digest_answer(&[challenge.as_str()], "cpe", "not-the-s3cret-9f1c", &cnonce);
        responses.push(param(&auth, "response").unwrap().to_owned());
        let r = exchange(&mut a, &inform_with("SN-W", &auth)).await;
        assert_eq!(r.status, 401);
    }
    let warned = lines_with(&s, "CPE authentication failed").await;
    assert_eq!(warned.len(), 1, "{warned:#?}");
    let line = &warned[0];
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains(r#"username="cpe""#), "{line}");
    assert!(line.contains(&format!("peer={peer}")), "{line}");
    assert!(line.contains("wrong_password"), "{line}");

    // another username is another key; what it sent is Debug-escaped, so it cannot forge fields
    let forged = r#"x" peer=10.0.0.1"#;
    let auth = digest_answer(&[challenge.as_str()], forged, "whatever", "d1");
    let r = exchange(&mut a, &inform_with("SN-W", &auth)).await;
    assert_eq!(r.status, 401);
    let warned = lines_with(&s, "CPE authentication failed").await;
    assert_eq!(warned.len(), 2, "{warned:#?}");
    assert!(
        warned[1].contains(r#"username="x\" peer=10.0.0.1""#),
        "{}",
        warned[1]
    );
    assert!(warned[1].contains("unknown_user"), "{}", warned[1]);

    // never the password nor the digest response
    let log = s.log.lock().unwrap().join("\n");
    assert!(!log.contains("not-the-s3cret-9f1c"));
    assert!(!log.contains("whatever"));
    for response in &responses {
        assert!(!log.contains(response.as_str()), "{response}");
    }
}
