//! `cpe-sim load`: N devices run sessions back to back (or at `--rate` sessions/s in total)
//! for a fixed duration; the report gives sessions/s, whole-session latency percentiles and
//! errors by kind.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cpe::Cpe;
use crate::settings::Settings;

/// What the server is expected to do in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Inform → InformResponse → empty POST → 204; every Inform carries `2 PERIODIC`.
    Inform,
    /// The first session of each device is a BOOTSTRAP and the server is expected to send
    /// RPCs, which the devices answer from their data models; later sessions are periodic.
    Provision,
}

/// How a load run goes.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub duration: Duration,
    pub profile: Profile,
    /// Devices running sessions at the same time (at most the number of devices).
    pub concurrency: usize,
    /// Sessions per second for the whole run; `None`: as fast as the server answers.
    pub rate: Option<f64>,
    pub progress: bool,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// The JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub acs: String,
    pub profile: Profile,
    pub devices: usize,
    pub concurrency: usize,
    pub duration_s: f64,
    pub sessions: u64,
    pub sessions_per_second: f64,
    pub latency_ms: Latency,
    pub errors: BTreeMap<String, u64>,
    /// Sessions still in flight at the end of the duration, finished but not counted above
    /// (their latency includes the queueing of an overloaded server).
    pub drained: u64,
    /// ACS requests answered, by method (the provisioning profile's work).
    pub rpcs: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    drained: u64,
    errors: BTreeMap<String, u64>,
    rpcs: BTreeMap<String, u64>,
}

/// Runs the load and returns the report.
pub async fn run(devices: Vec<Arc<Cpe>>, settings: Arc<Settings>, options: LoadOptions) -> Report {
    let count = devices.len();
    let concurrency = options.concurrency.clamp(1, count.max(1));
    let start = Instant::now();
    let deadline = start + options.duration;
    let done = Arc::new(AtomicU64::new(0));
    let slot = Arc::new(AtomicU64::new(0));
    if options.profile == Profile::Provision {
        for cpe in &devices {
            cpe.queue_event("0 BOOTSTRAP", "");
            cpe.queue_event("1 BOOT", "");
        }
    }
    let devices = Arc::new(devices);

    let progress = options.progress.then(|| {
        let bar = indicatif::ProgressBar::new(options.duration.as_secs().max(1));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len}s {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let done = done.clone();
        let bar2 = bar.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let p = Progress::at(
                    done.load(Ordering::Relaxed),
                    start.elapsed(),
                    options.duration,
                );
                bar2.set_position(p.position);
                bar2.set_message(p.message());
            }
        });
        (bar, ticker)
    });

    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let devices = devices.clone();
        let settings = settings.clone();
        let done = done.clone();
        let slot = slot.clone();
        let options = options.clone();
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            // Worker w drives devices w, w+C, w+2C… in turn: N devices share C workers, no
            // device is in two sessions at once, and each keeps its own state (first
            // BOOTSTRAP, reboots, downloads).
            let mine: Vec<usize> = (worker..devices.len()).step_by(concurrency).collect();
            let mut turn = 0usize;
            while Instant::now() < deadline {
                if let Some(rate) = options.rate {
                    let n = slot.fetch_add(1, Ordering::Relaxed);
                    let at = start + Duration::from_secs_f64(n as f64 / rate);
                    if at >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(at.into()).await;
                }
                let cpe = &devices[mine[turn % mine.len()]];
                turn += 1;
                prepare(cpe, options.profile);
                let began = Instant::now();
                let result = Box::pin(cpe.session(&settings)).await;
                let elapsed = began.elapsed();
                match result {
                    Ok(_) if Instant::now() > deadline => tally.drained += 1,
                    Ok(report) => {
                        tally
                            .latencies_us
                            .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
                        for rpc in report.rpcs {
                            *tally.rpcs.entry(rpc).or_default() += 1;
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                        Box::pin(cpe.after_session(&settings)).await;
                    }
                    Err(e) => {
                        *tally.errors.entry(e.kind()).or_default() += 1;
                        if crate::run::down(cpe, &e).is_some() {
                            // An agent that crashed or died comes back at once under load.
                            cpe.restart();
                        } else {
                            let mut st = cpe.state();
                            st.retry_count = st.retry_count.saturating_add(1);
                        }
                        // Do not spin on a refusing server.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            tally
        }));
    }
    let mut all = Tally::default();
    for w in workers {
        if let Ok(t) = w.await {
            all.latencies_us.extend(t.latencies_us);
            all.drained += t.drained;
            for (k, v) in t.errors {
                *all.errors.entry(k).or_default() += v;
            }
            for (k, v) in t.rpcs {
                *all.rpcs.entry(k).or_default() += v;
            }
        }
    }
    let elapsed = options.duration.as_secs_f64();
    if let Some((bar, ticker)) = progress {
        ticker.abort();
        bar.finish_and_clear();
    }
    let sessions = all.latencies_us.len() as u64;
    Report {
        acs: settings.acs_url.clone(),
        profile: options.profile,
        devices: count,
        concurrency,
        duration_s: elapsed,
        sessions,
        sessions_per_second: sessions as f64 / elapsed.max(1e-9),
        latency_ms: percentiles(all.latencies_us),
        errors: all.errors,
        drained: all.drained,
        rpcs: all.rpcs,
    }
}

/// What the progress bar shows at one moment of the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Whole seconds elapsed, at most the duration (the bar's length).
    pub position: u64,
    pub sessions: u64,
    /// Sessions per second so far: over the time elapsed, not the whole duration.
    pub rate: f64,
}

impl Progress {
    pub fn at(sessions: u64, elapsed: Duration, duration: Duration) -> Progress {
        let elapsed = elapsed.min(duration);
        Progress {
            position: elapsed.as_secs(),
            sessions,
            rate: sessions as f64 / elapsed.as_secs_f64().max(0.001),
        }
    }

    pub fn message(&self) -> String {
        format!("{} sessions, {:.0}/s", self.sessions, self.rate)
    }
}

/// Queues the events of the next load session: a device's first session in the provisioning
/// profile is its BOOTSTRAP (queued at creation), every other one periodic.
fn prepare(cpe: &Cpe, profile: Profile) {
    let mut st = cpe.state();
    let fresh = st
        .pending_events()
        .iter()
        .any(|e| e.event_code == "0 BOOTSTRAP");
    if profile == Profile::Inform || !fresh {
        st.queue_event("2 PERIODIC", "");
    }
}

/// Latency percentiles (nearest rank) of microsecond samples, in milliseconds.
pub fn percentiles(mut us: Vec<u32>) -> Latency {
    if us.is_empty() {
        return Latency::default();
    }
    us.sort_unstable();
    let at = |q: f64| {
        let rank = ((q * us.len() as f64).ceil() as usize).clamp(1, us.len());
        f64::from(us[rank - 1]) / 1000.0
    };
    let sum: u64 = us.iter().map(|&v| u64::from(v)).sum();
    Latency {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: f64::from(us[us.len() - 1]) / 1000.0,
        mean: sum as f64 / us.len() as f64 / 1000.0,
    }
}

/// Whether a progress bar should be drawn: only on a terminal.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_elapsed_time_not_the_whole_duration() {
        let ten = Duration::from_secs(10);
        let start = Progress::at(0, Duration::ZERO, ten);
        assert_eq!(start.position, 0, "empty at 00:00");
        let half = Progress::at(500, Duration::from_secs(5), ten);
        assert_eq!(half.position, 5);
        assert!((half.rate - 100.0).abs() < 1e-9, "{}", half.rate);
        assert_eq!(half.message(), "500 sessions, 100/s");
        let early = Progress::at(30, Duration::from_millis(1500), ten);
        assert_eq!(early.position, 1);
        assert!((early.rate - 20.0).abs() < 1e-9, "{}", early.rate);
        // Draining past the duration: the bar stays full, the rate over the duration.
        let late = Progress::at(1000, Duration::from_secs(12), ten);
        assert_eq!(late.position, 10);
        assert!((late.rate - 100.0).abs() < 1e-9);
    }
}
