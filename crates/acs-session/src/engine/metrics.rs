//! A small Prometheus text registry: counters and histograms as atomics, rendered on
//! `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use cwmp::Method;

/// Counters of the session engine and the connection requester.
#[derive(Debug, Default)]
pub struct Metrics {
    pub sessions_started: AtomicU64,
    pub sessions_completed: AtomicU64,
    pub sessions_refused_busy: AtomicU64,
    pub sessions_refused_inactive: AtomicU64,
    /// Informs refused because their serial number is another OUI/ProductClass's.
    pub sessions_refused_identity: AtomicU64,
    pub sessions_expired: AtomicU64,
    pub sessions_open: AtomicU64,
    pub informs: AtomicU64,
    pub store_errors: AtomicU64,
    pub auth_failures: AtomicU64,
    pub http_requests: AtomicU64,
    pub bodies_rejected: AtomicU64,
    /// CPE requests answered 503 after waiting too long for the request gate.
    pub requests_shed: AtomicU64,
    /// Sum and count of request handling latency in microseconds.
    pub latency_us_sum: AtomicU64,
    pub latency_count: AtomicU64,
    /// Labelled counters by (metric, first label, second label). Every label value is a
    /// name written in this crate or a fault code of the TR-069 tables ([`Label`]), never
    /// text from a CPE: the series stay bounded whatever CPEs send.
    labelled: Mutex<BTreeMap<(&'static str, &'static str, Label), u64>>,
    /// `acs_session_duration_seconds`: accepted Inform to the session's end.
    pub session_duration: Histogram,
    /// `acs_rpc_round_trip_seconds{method}`: an ACS request sent to the CPE's answer.
    rpc_round_trip: PerMethod,
    /// `acs_connection_request_duration_seconds`: connect to outcome, when something was sent.
    pub connection_request_duration: Histogram,
    /// `acs_cpe_request_duration_seconds`: one HTTP request on the CPE listener.
    pub cpe_request_duration: Histogram,
}

/// A label value: a name this crate wrote, or a CWMP fault code of the TR-069 tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Label {
    Name(&'static str),
    Code(u32),
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Label::Name(name) => f.write_str(name),
            Label::Code(code) => write!(f, "{code}"),
        }
    }
}

/// The `code` label of a fault code: itself when the TR-069 tables know it
/// ([`cwmp::FaultCode::meaning`]), else `other` (vendor and reserved codes, garbage), so a
/// CPE reporting thousands of codes adds one series, not thousands.
fn fault_label(code: i64) -> Label {
    match u32::try_from(code) {
        Ok(code) if cwmp::FaultCode(code).meaning().is_some() => Label::Code(code),
        _ => Label::Name("other"),
    }
}

/// One histogram per [`Method`] (indexed by it), so every RPC the ACS sends has its own
/// `method` label, named by the `cwmp` table.
#[derive(Debug)]
struct PerMethod([Histogram; Method::ALL.len()]);

impl Default for PerMethod {
    fn default() -> Self {
        PerMethod(std::array::from_fn(|_| Histogram::default()))
    }
}

/// Upper bounds of the histogram buckets: microseconds, and the `le` label spelled once
/// here so the exposition never shows float noise. From a fast store call to a CPE that
/// takes minutes over a slow link.
const BUCKETS: [(u64, &str); 16] = [
    (1_000, "0.001"),
    (5_000, "0.005"),
    (10_000, "0.01"),
    (25_000, "0.025"),
    (50_000, "0.05"),
    (100_000, "0.1"),
    (250_000, "0.25"),
    (500_000, "0.5"),
    (1_000_000, "1"),
    (2_500_000, "2.5"),
    (5_000_000, "5"),
    (10_000_000, "10"),
    (30_000_000, "30"),
    (60_000_000, "60"),
    (120_000_000, "120"),
    (300_000_000, "300"),
];

/// A Prometheus histogram over [`BUCKETS`]: one atomic per bucket (not cumulative; summed
/// when rendered), the sum in microseconds and the count. Lock-free to observe.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: std::time::Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        if let Some(i) = BUCKETS.iter().position(|(bound, _)| us <= *bound) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// `name_bucket{labels,le=...}` lines, then `_sum` (seconds) and `_count`.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0u64;
        for (i, (_, le)) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_us.load(Ordering::Relaxed);
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(
            out,
            "{name}_sum{braces} {}.{:06}",
            sum / 1_000_000,
            sum % 1_000_000
        );
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `acs_rpcs_total{method, outcome}`: every RPC sent to a CPE, by how it ended.
    pub fn rpc(&self, method: Method, outcome: &'static str) {
        self.labelled_inc("acs_rpcs_total", method.name(), Label::Name(outcome));
    }

    /// `acs_cpe_faults_total{method, code}`; codes outside the TR-069 tables count as
    /// `code="other"`.
    pub fn fault(&self, method: Method, code: i64) {
        self.labelled_inc("acs_cpe_faults_total", method.name(), fault_label(code));
    }

    /// `acs_connection_requests_total{outcome}`.
    pub fn connection_request(&self, outcome: &'static str) {
        self.labelled_inc("acs_connection_requests_total", "", Label::Name(outcome));
    }

    pub fn observe_latency(&self, micros: u64) {
        self.latency_us_sum.fetch_add(micros, Ordering::Relaxed);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.cpe_request_duration
            .observe(std::time::Duration::from_micros(micros));
    }

    /// The round trip of one ACS request, by method.
    pub fn rpc_round_trip(&self, method: Method, d: std::time::Duration) {
        self.rpc_round_trip.0[method as usize].observe(d);
    }

    /// Counts a connection request's outcome and, when something went on the wire, its
    /// latency.
    pub fn observe_connection_request(&self, report: &crate::connection_request::CrReport) {
        self.connection_request(report.outcome.as_str());
        if !report.latency.is_zero() {
            self.connection_request_duration.observe(report.latency);
        }
    }

    fn labelled_inc(&self, name: &'static str, a: &'static str, b: Label) {
        if let Ok(mut map) = self.labelled.lock() {
            *map.entry((name, a, b)).or_insert(0) += 1;
        }
    }

    /// The Prometheus text exposition (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let counters: [(&str, &str, &AtomicU64); 13] = [
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
                "acs_sessions_refused_identity_total",
                "Informs refused because their serial number is on record under another OUI/ProductClass",
                &self.sessions_refused_identity,
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
                "acs_cpe_requests_shed_total",
                "CPE requests refused with 503 after waiting too long for the request gate",
                &self.requests_shed,
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
        let histograms: [(&str, &str, &Histogram); 3] = [
            (
                "acs_session_duration_seconds",
                "CWMP sessions from the accepted Inform to their end",
                &self.session_duration,
            ),
            (
                "acs_connection_request_duration_seconds",
                "connection requests from connect to outcome",
                &self.connection_request_duration,
            ),
            (
                "acs_cpe_request_duration_seconds",
                "HTTP requests on the CPE listener, read to answer",
                &self.cpe_request_duration,
            ),
        ];
        for (name, help, h) in histograms {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            h.render(&mut out, name, "");
        }
        let name = "acs_rpc_round_trip_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} ACS requests from sending to the CPE's answer\n# TYPE {name} histogram"
        );
        for (method, h) in Method::ALL.iter().zip(&self.rpc_round_trip.0) {
            if h.count() > 0 {
                h.render(&mut out, name, &format!("method=\"{method}\""));
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_the_acs_sends_has_its_own_method_label() {
        let sent: Vec<Method> = Method::ALL
            .iter()
            .copied()
            .filter(|m| m.is_acs_request())
            .collect();
        assert_eq!(sent.len(), 18, "the CPE methods of Amendment 6");
        let metrics = Metrics::default();
        for &m in &sent {
            metrics.rpc_round_trip(m, std::time::Duration::from_millis(5));
            metrics.rpc(m, "ok");
            metrics.fault(m, 9002);
        }
        let text = metrics.render();
        for m in sent {
            for series in [
                format!("acs_rpc_round_trip_seconds_count{{method=\"{m}\"}} 1"),
                format!("acs_rpcs_total{{method=\"{m}\",outcome=\"ok\"}} 1"),
                format!("acs_cpe_faults_total{{method=\"{m}\",code=\"9002\"}} 1"),
            ] {
                assert!(text.contains(&series), "{series} missing from\n{text}");
            }
        }
    }
}
