//! `cpe-sim run`: each device a tokio task that sleeps between sessions — BOOTSTRAP first,
//! then periodic Informs (jittered), connection requests, scheduled Informs and the sessions
//! that follow a reboot or a transfer; failed sessions retried with the TR-069 backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};

use crate::behaviour::Behaviour;
use crate::cpe::{Cpe, SessionError};
use crate::events;
use crate::settings::Settings;
use crate::summary::{RunStats, Verdict};

/// How a device task behaves.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    /// Delay before the first Inform (spreads a fleet's BOOTSTRAPs).
    pub first_delay: Duration,
    /// One session (and the actions it deferred, without the session they would open), then
    /// stop.
    pub once: bool,
    /// Shared by the fleet: a session starts only once it holds a permit, so at most that many
    /// sessions (each with its connection and buffers) are in flight at once; a device that is
    /// due waits its turn, first come first served. `None`: no limit.
    pub sessions: Option<Arc<Semaphore>>,
    /// The run's counters (and its `--sessions` limit), if it keeps them.
    pub stats: Option<Arc<RunStats>>,
}

/// The default of `cpe-sim run --concurrency`: sessions in flight at once across the fleet.
/// Far above what one ACS node answers at once (a few dozen sessions saturate it on loopback),
/// so due devices still start as fast as the ACS takes them, while a fleet that is due all at
/// once (the first BOOTSTRAP of every device) holds about 40 kB per session for at most this
/// many sessions instead of for every device.
pub const DEFAULT_CONCURRENCY: usize = 1_000;

/// Runs one device until `shutdown` turns true (or after one session with `once`).
pub async fn device_loop(
    cpe: Arc<Cpe>,
    settings: Arc<Settings>,
    mut shutdown: watch::Receiver<bool>,
    options: LoopOptions,
) {
    if *shutdown.borrow() {
        return;
    }
    cpe.queue_event("0 BOOTSTRAP", "");
    cpe.queue_event("1 BOOT", "");
    if !options.first_delay.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(options.first_delay) => {}
            _ = shutdown.changed() => return,
        }
    }
    let mut interval = cpe.state().device.periodic_inform();
    let mut next_periodic = Instant::now() + jittered(&cpe, interval.interval);
    loop {
        let result = {
            // Held for the session only: not across the waits and transfers that follow it.
            let _permit = match &options.sessions {
                Some(gate) => tokio::select! {
                    // The fleet never closes its semaphore, so this is always a permit.
                    permit = gate.acquire() => permit.ok(),
                    _ = shutdown.changed() => return,
                },
                None => None,
            };
            // Boxed so that a sleeping device holds only its small loop state, not a session's.
            Box::pin(cpe.session(&settings)).await
        };
        match result {
            Ok(report) => {
                if let Some(stats) = &options.stats {
                    tell(stats.session_ok());
                }
                events::emit(
                    &settings,
                    &cpe.serial,
                    "session_end",
                    serde_json::json!({ "informed": report.informed, "rpcs": report.rpcs }),
                );
            }
            Err(e) => {
                if let Some(stats) = &options.stats {
                    tell(stats.session_failed(&e));
                }
                let retry = {
                    let mut st = cpe.state();
                    st.retry_count = st.retry_count.saturating_add(1);
                    st.retry_count
                };
                events::emit(
                    &settings,
                    &cpe.serial,
                    "session_failed",
                    serde_json::json!({ "error": e.to_string(), "kind": e.kind(), "retry_count": retry }),
                );
                if options.once {
                    return;
                }
                // A vendor behaviour may take the agent's process down with the session.
                let went_down = down(&cpe, &e);
                let restart = went_down.is_some();
                let wait = match went_down {
                    Some((event, fields)) => {
                        events::emit(&settings, &cpe.serial, event, fields);
                        settings.restart_delay
                    }
                    None => retry_wait(&cpe, retry),
                };
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return,
                }
                if restart {
                    cpe.restart();
                    if let Some(stats) = &options.stats {
                        stats.restarted();
                    }
                    events::emit(&settings, &cpe.serial, "restarted", serde_json::json!({}));
                }
                continue;
            }
        }
        let immediate = Box::pin(cpe.after_session(&settings)).await;
        if options.once || *shutdown.borrow() {
            return;
        }
        // The ACS may have changed the periodic settings during the session.
        let now_interval = cpe.state().device.periodic_inform();
        if now_interval != interval {
            interval = now_interval;
            next_periodic = Instant::now() + jittered(&cpe, interval.interval);
        }
        if immediate || cpe.connection_requested() {
            continue;
        }
        loop {
            let next_scheduled = cpe.state().scheduled.iter().map(|(t, _)| *t).min();
            let next_scheduled = match (next_scheduled, cpe.next_transfer()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let mut wake_at =
                next_scheduled.unwrap_or(Instant::now() + Duration::from_secs(86_400 * 365));
            if interval.enable {
                wake_at = wake_at.min(next_periodic);
            }
            tokio::select! {
                () = tokio::time::sleep_until(wake_at.into()) => {}
                () = cpe.wake.notified() => {}
                _ = shutdown.changed() => return,
            }
            let now = Instant::now();
            let mut due = cpe.connection_requested();
            {
                let mut st = cpe.state();
                let (ready, later): (Vec<_>, Vec<_>) = std::mem::take(&mut st.scheduled)
                    .into_iter()
                    .partition(|(t, _)| *t <= now);
                st.scheduled = later;
                for (_, key) in ready {
                    st.queue_event("3 SCHEDULED", "");
                    st.queue_event("M ScheduleInform", &key);
                    due = true;
                }
                if interval.enable && next_periodic <= now {
                    st.queue_event("2 PERIODIC", "");
                    due = true;
                }
            }
            if interval.enable && next_periodic <= now {
                next_periodic = now + jittered(&cpe, interval.interval);
            }
            // A queued transfer (Download with DelaySeconds, ScheduleDownload's window) whose
            // time has come is carried out, then reported in a session.
            if cpe.next_transfer().is_some_and(|t| t <= now)
                && Box::pin(cpe.run_due_transfers(&settings)).await
            {
                due = true;
            }
            if due {
                break;
            }
        }
    }
}

/// Whether the failed session took the agent's process down (a vendor behaviour): the event
/// to report (`crashed`, `died`) and its fields.
pub fn down(cpe: &Cpe, e: &SessionError) -> Option<(&'static str, serde_json::Value)> {
    if let SessionError::Crashed(on) = e {
        return Some(("crashed", serde_json::json!({ "on": on })));
    }
    let status = e
        .http_status()
        .filter(|_| cpe.behaves(Behaviour::DiesOnHttpError))?;
    Some(("died", serde_json::json!({ "status": status })))
}

/// Says what the run's counters say on stderr.
fn tell(verdict: Verdict) {
    if let Some(warning) = verdict.warning {
        eprintln!("cpe-sim: {warning}");
    }
}

/// The periodic interval, ±10 % so a fleet started at once drifts apart.
fn jittered(cpe: &Cpe, seconds: u32) -> Duration {
    let draw = cpe.state().draw();
    Duration::from_secs_f64(f64::from(seconds.max(1)) * (0.9 + 0.2 * draw))
}

/// The wait before retry `n` (TR-069 §3.2.1.1): uniform in [m·(k/1000)^(n−1), m·(k/1000)^n]
/// seconds, n capped at 10, m and k from CWMPRetryMinimumWaitInterval and
/// CWMPRetryIntervalMultiplier (defaults 5 and 2000).
pub fn retry_wait(cpe: &Cpe, n: u32) -> Duration {
    let mut st = cpe.state();
    let read = |leaf: &str, default: f64| {
        st.device
            .management_server(leaf)
            .parse::<f64>()
            .unwrap_or(default)
    };
    let m = read("CWMPRetryMinimumWaitInterval", 5.0);
    let k = read("CWMPRetryIntervalMultiplier", 2000.0) / 1000.0;
    let n = n.clamp(1, 10) as i32;
    let low = m * k.powi(n - 1);
    let high = m * k.powi(n);
    let draw = st.draw();
    Duration::from_secs_f64(low + (high - low) * draw)
}
