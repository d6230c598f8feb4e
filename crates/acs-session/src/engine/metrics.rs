//! A small Prometheus text registry: counters as atomics, rendered on `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of the session engine and the connection requester.
#[derive(Debug, Default)]
pub struct Metrics {
    pub sessions_started: AtomicU64,
    pub sessions_completed: AtomicU64,
    pub sessions_refused_busy: AtomicU64,
    pub sessions_refused_inactive: AtomicU64,
    pub sessions_expired: AtomicU64,
    pub sessions_open: AtomicU64,
    pub informs: AtomicU64,
    pub store_errors: AtomicU64,
    pub auth_failures: AtomicU64,
    pub http_requests: AtomicU64,
    pub bodies_rejected: AtomicU64,
    /// Sum and count of request handling latency in microseconds.
    pub latency_us_sum: AtomicU64,
    pub latency_count: AtomicU64,
    labelled: Mutex<BTreeMap<(&'static str, String, String), u64>>,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `acs_rpcs_total{method, outcome}`: every RPC sent to a CPE, by how it ended.
    pub fn rpc(&self, method: &str, outcome: &str) {
        self.labelled_inc("acs_rpcs_total", method, outcome);
    }

    /// `acs_cpe_faults_total{method, code}`.
    pub fn fault(&self, method: &str, code: i64) {
        self.labelled_inc("acs_cpe_faults_total", method, &code.to_string());
    }

    /// `acs_connection_requests_total{outcome}`.
    pub fn connection_request(&self, outcome: &str) {
        self.labelled_inc("acs_connection_requests_total", "", outcome);
    }

    pub fn observe_latency(&self, micros: u64) {
        self.latency_us_sum.fetch_add(micros, Ordering::Relaxed);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
    }

    fn labelled_inc(&self, name: &'static str, a: &str, b: &str) {
        if let Ok(mut map) = self.labelled.lock() {
            *map.entry((name, a.to_owned(), b.to_owned())).or_insert(0) += 1;
        }
    }

    /// The Prometheus text exposition (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let counters: [(&str, &str, &AtomicU64); 11] = [
            (
                "acs_sessions_started_total",
                "CWMP sessions begun by an accepted Inform",
                &self.sessions_started,
            ),
            (
                "acs_sessions_completed_total",
                "CWMP sessions ended by a 204",
                &self.sessions_completed,
            ),
            (
                "acs_sessions_refused_busy_total",
                "Informs refused with 503 (device busy elsewhere or session limit)",
                &self.sessions_refused_busy,
            ),
            (
                "acs_sessions_refused_inactive_total",
                "Informs of inactive or unknown devices refused",
                &self.sessions_refused_inactive,
            ),
            (
                "acs_sessions_expired_total",
                "sessions dropped after their idle timeout",
                &self.sessions_expired,
            ),
            (
                "acs_informs_total",
                "Inform messages received",
                &self.informs,
            ),
            (
                "acs_store_errors_total",
                "store calls on the session path that failed or timed out",
                &self.store_errors,
            ),
            (
                "acs_cpe_auth_failures_total",
                "CPE requests answered 401",
                &self.auth_failures,
            ),
            (
                "acs_cpe_http_requests_total",
                "HTTP requests on the CPE listener",
                &self.http_requests,
            ),
            (
                "acs_cpe_bodies_rejected_total",
                "CPE requests refused for size or framing",
                &self.bodies_rejected,
            ),
            (
                "acs_cpe_request_latency_microseconds_count",
                "CPE requests timed",
                &self.latency_count,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                g(c)
            );
        }
        let _ = writeln!(
            out,
            "# HELP acs_cpe_request_latency_microseconds_sum total CPE request handling time\n\
             # TYPE acs_cpe_request_latency_microseconds_sum counter\n\
             acs_cpe_request_latency_microseconds_sum {}",
            g(&self.latency_us_sum)
        );
        let _ = writeln!(
            out,
            "# HELP acs_sessions_open CWMP sessions currently open on this node\n\
             # TYPE acs_sessions_open gauge\nacs_sessions_open {}",
            g(&self.sessions_open)
        );
        if let Ok(map) = self.labelled.lock() {
            let mut last = "";
            for ((name, a, b), v) in map.iter() {
                if *name != last {
                    let _ = writeln!(out, "# TYPE {name} counter");
                    last = name;
                }
                let labels = match *name {
                    "acs_rpcs_total" => format!("method=\"{a}\",outcome=\"{b}\""),
                    "acs_cpe_faults_total" => format!("method=\"{a}\",code=\"{b}\""),
                    _ => format!("outcome=\"{b}\""),
                };
                let _ = writeln!(out, "{name}{{{labels}}} {v}");
            }
        }
        out
    }
}
