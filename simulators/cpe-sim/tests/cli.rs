//! The real `cpe-sim` binary as a user runs it: a run that cannot reach its ACS says why and
//! exits non-zero; one that can says what it did and exits 0.

mod fake_acs;

use std::process::{Command, Output};

use fake_acs::FakeAcs;

fn cpe_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cpe-sim"))
        .args(args)
        .output()
        .expect("cpe-sim runs")
}

/// An address nothing listens on: a port bound then released.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_run_against_a_closed_port_fails_with_a_summary() {
    let acs = closed_port();
    let out = cpe_sim(&["run", "--acs", &acs, "--devices", "2", "--once"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "exit status {:?}: {err}", out.status);
    assert!(
        err.contains("0 session(s) ok, 2 failed: connect 2 (cannot connect to 127.0.0.1:"),
        "{err}"
    );
    assert!(err.contains("no session succeeded"), "{err}");
    // Said at once too, not only at the end.
    assert!(
        err.contains("the first 2 session(s) all failed: connect 2"),
        "{err}"
    );
}

#[test]
fn a_long_running_run_that_never_connects_stops_at_its_duration_and_fails() {
    let acs = closed_port();
    let out = cpe_sim(&["run", "--acs", &acs, "--duration", "1", "--events", "json"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("the first 1 session(s) all failed: connect 1"),
        "{err}"
    );
    assert!(err.contains("no session succeeded"), "{err}");
    // The summary is an event too.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|e: &serde_json::Value| e["event"] == "summary")
        .unwrap_or_else(|| panic!("no summary event in {stdout}"));
    assert_eq!(summary["sessions_ok"], 0);
    assert_eq!(summary["failed"]["connect"]["count"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_reaches_its_acs_says_so_and_exits_0() {
    let acs = FakeAcs::start().await;
    let url = acs.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        cpe_sim(&["run", "--acs", &url, "--devices", "3", "--once"])
    })
    .await
    .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("3 session(s) ok, 0 failed"), "{err}");
    assert!(!err.contains("all failed"), "{err}");
}

#[test]
fn behaviours_are_listed_and_checked() {
    let out = cpe_sim(&["behaviours"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["c-agent", "node-agent", "nonce-32", "dies-on-http-error"] {
        assert!(text.contains(name), "{name} in {text}");
    }
    let out = cpe_sim(&[
        "run",
        "--acs",
        "http://127.0.0.1:9/",
        "--behaviour",
        "sha-only",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown behaviour \"sha-only\""));
}
