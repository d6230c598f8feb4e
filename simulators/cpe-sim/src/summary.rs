//! What a `cpe-sim run` did, for the person who started it: sessions that succeeded, those that
//! failed by reason, agents that crashed or died. A run against a dead or wrong address must
//! say so, early and at the end, and exit non-zero.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::watch;

use crate::cpe::SessionError;

/// How many session failures, with no success among them, make the run say so at once.
const EARLY_FAILURES: u64 = 10;

/// Counters shared by a fleet's device tasks (fleet-wide: nothing per device).
#[derive(Debug)]
pub struct RunStats {
    ok: AtomicU64,
    failed: AtomicU64,
    restarts: AtomicU64,
    /// Failures by kind: how many, and the first message of that kind.
    reasons: Mutex<BTreeMap<String, (u64, String)>>,
    /// Failures with no success before them that make the early warning (at most
    /// [`EARLY_FAILURES`], at least one).
    early_after: u64,
    warned: AtomicBool,
    /// Stop the run once this many sessions ended, ok or not (`--sessions`).
    limit: Option<u64>,
    /// Turned true when the limit is reached.
    stop: Option<watch::Sender<bool>>,
}

/// The counts at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub ok: u64,
    pub failed: u64,
    /// Agents restarted after a crash or an exit (vendor behaviours).
    pub restarts: u64,
    /// Failure kind → (count, first message).
    pub reasons: BTreeMap<String, (u64, String)>,
}

/// What a recorded session means for the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Say this on stderr now: every session so far failed.
    pub warning: Option<String>,
    /// `--sessions` is reached: stop the run.
    pub stop: bool,
}

impl RunStats {
    /// Stats for a fleet of `devices`; `limit`: stop after that many sessions.
    pub fn new(devices: usize, limit: Option<u64>) -> RunStats {
        RunStats {
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            reasons: Mutex::new(BTreeMap::new()),
            early_after: (devices as u64).clamp(1, EARLY_FAILURES),
            warned: AtomicBool::new(false),
            limit,
            stop: None,
        }
    }

    /// Stats that turn `stop` true once the session limit is reached.
    pub fn stop_on(mut self, stop: watch::Sender<bool>) -> RunStats {
        self.stop = Some(stop);
        self
    }

    pub fn session_ok(&self) -> Verdict {
        self.ok.fetch_add(1, Ordering::Relaxed);
        Verdict {
            warning: None,
            stop: self.reached_limit(),
        }
    }

    pub fn session_failed(&self, e: &SessionError) -> Verdict {
        {
            let mut reasons = self.reasons.lock().unwrap_or_else(|p| p.into_inner());
            reasons
                .entry(e.kind())
                .or_insert_with(|| (0, e.to_string()))
                .0 += 1;
        }
        let failed = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
        let warning = (failed >= self.early_after
            && self.ok.load(Ordering::Relaxed) == 0
            && !self.warned.swap(true, Ordering::Relaxed))
        .then(|| {
            format!(
                "the first {failed} session(s) all failed: {}",
                self.snapshot().reasons_text()
            )
        });
        Verdict {
            warning,
            stop: self.reached_limit(),
        }
    }

    pub fn restarted(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }

    fn reached_limit(&self) -> bool {
        let ended = self.ok.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed);
        let reached = self.limit.is_some_and(|l| ended >= l);
        if reached && let Some(stop) = &self.stop {
            stop.send_replace(true);
        }
        reached
    }

    pub fn snapshot(&self) -> Summary {
        Summary {
            ok: self.ok.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
            reasons: self
                .reasons
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

impl Summary {
    /// Whether the run did what it is for: at least one session went through.
    pub fn succeeded(&self) -> bool {
        self.ok > 0
    }

    /// `connect 3 (cannot connect to 127.0.0.1:9: …); http_status_401 1 (http status 401)`.
    pub fn reasons_text(&self) -> String {
        self.reasons
            .iter()
            .map(|(kind, (n, first))| format!("{kind} {n} ({first})"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// One line for stderr.
    pub fn text(&self) -> String {
        let mut line = format!("{} session(s) ok, {} failed", self.ok, self.failed);
        if self.failed > 0 {
            line.push_str(": ");
            line.push_str(&self.reasons_text());
        }
        if self.restarts > 0 {
            line.push_str(&format!("; {} agent restart(s)", self.restarts));
        }
        if !self.succeeded() {
            line.push_str("; no session succeeded");
        }
        line
    }

    /// The `summary` event of `--events json`.
    pub fn json(&self) -> serde_json::Value {
        let failed: serde_json::Map<String, serde_json::Value> = self
            .reasons
            .iter()
            .map(|(kind, (n, first))| {
                (
                    kind.clone(),
                    serde_json::json!({ "count": n, "first": first }),
                )
            })
            .collect();
        serde_json::json!({
            "event": "summary",
            "sessions_ok": self.ok,
            "sessions_failed": self.failed,
            "restarts": self.restarts,
            "failed": failed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::TransportError;

    fn refused() -> SessionError {
        SessionError::Transport(TransportError::Connect(
            "127.0.0.1:9: Connection refused".to_owned(),
        ))
    }

    #[test]
    fn failures_are_counted_by_kind_with_their_first_message() {
        let stats = RunStats::new(100, None);
        stats.session_failed(&refused());
        stats.session_failed(&SessionError::Status(503));
        stats.session_failed(&refused());
        stats.session_ok();
        let s = stats.snapshot();
        assert_eq!((s.ok, s.failed), (1, 3));
        assert!(s.succeeded());
        assert_eq!(
            s.text(),
            "1 session(s) ok, 3 failed: connect 2 (cannot connect to 127.0.0.1:9: Connection refused); http_status_503 1 (http status 503)"
        );
        assert_eq!(s.json()["failed"]["connect"]["count"], 2);
    }

    #[test]
    fn the_first_failures_warn_once_unless_a_session_succeeded() {
        let stats = RunStats::new(3, None);
        assert_eq!(stats.session_failed(&refused()).warning, None);
        assert_eq!(stats.session_failed(&refused()).warning, None);
        let w = stats.session_failed(&refused()).warning.expect("a warning");
        assert!(
            w.starts_with("the first 3 session(s) all failed: connect 3"),
            "{w}"
        );
        assert_eq!(stats.session_failed(&refused()).warning, None, "once");
        assert!(!stats.snapshot().succeeded());
        assert!(stats.snapshot().text().ends_with("no session succeeded"));

        let lucky = RunStats::new(1, None);
        lucky.session_ok();
        assert_eq!(lucky.session_failed(&refused()).warning, None);
    }

    #[test]
    fn the_session_limit_stops_the_run() {
        let stats = RunStats::new(1, Some(2));
        assert!(!stats.session_ok().stop);
        assert!(stats.session_failed(&refused()).stop);
        assert!(!RunStats::new(1, None).session_ok().stop);
    }
}
