//! Connection requests from the API: when a write queued tasks (wake the CPE now instead of at
//! its next periodic Inform) and for `update_status=true` (DESIGN §5). The request itself
//! (credentials, address policy, sending, counting in `/metrics`, the device's log) is the
//! session engine's [`acs_session::engine::wake::wake`]; this module decides when, and what
//! an outcome means for the answer.
//!
//! Waking for tasks, per device and per node:
//! - one wake in flight per device: a write while one runs joins it (its answer is the next
//!   attempt's outcome) instead of sending a request of its own;
//! - each attempt reads the device again right before sending (URL, accepted credentials, due
//!   tasks, session), so the newest state wins;
//! - nothing is sent while the device is in a session (that session takes the due tasks) or
//!   when no task is due;
//! - while tasks are due and no session started, it tries again within a bounded window: after
//!   our own per-device rate limit, after an accepted request that brought no session, after a
//!   503 or a network failure (a bounded number of attempts); an authentication failure or a
//!   refused address ends it (trying again cannot help).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use utoipa::ToSchema;

use acs_session::connection_request::{CrOutcome, CrReport};
use acs_session::engine::wake::{WakeError, WakePurpose, wake as send_wake};
use acs_store::{Device, DeviceStatus, TaskState};

use crate::ApiState;

/// How a write's connection request went, as its answer shows it (`connection_request`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct WakeOut {
    /// `accepted`, `auth_failed`, `busy`, `unreachable`, `timeout`, `protocol_error`,
    /// `http_status`, `invalid_url`, `refused` (the address policy), the outcome of the request
    /// sent; or, when none was: `no_url` (the device never reported one), `in_session` (it is
    /// in a session, which takes the tasks), `nothing_due` (a session already took them),
    /// `pending` (no outcome yet: it goes to the device's history), `error`.
    #[schema(example = "auth_failed")]
    pub outcome: &'static str,
    /// What happened, in words.
    #[schema(
        example = "authentication failed: the device rejected the connection request credentials"
    )]
    pub detail: String,
}

impl WakeOut {
    fn new(outcome: &'static str, detail: impl Into<String>) -> WakeOut {
        WakeOut {
            outcome,
            detail: detail.into(),
        }
    }

    fn of(outcome: &CrOutcome) -> WakeOut {
        WakeOut::new(outcome.as_str(), outcome.to_string())
    }

    pub fn no_url() -> WakeOut {
        WakeOut::new(
            "no_url",
            "the device has not reported a ConnectionRequestURL: the tasks wait for its next Inform",
        )
    }
}

/// The wakes in flight on this node, by serial number: a device has a slot exactly while its
/// wake loop runs.
#[derive(Debug, Default)]
pub(crate) struct Wakes {
    slots: Mutex<HashMap<String, Slot>>,
    next_id: AtomicU64,
}

#[derive(Debug)]
struct Slot {
    /// Which loop owns the slot (a loop that ended never touches its successor's).
    id: u64,
    /// Someone asked since the loop last looked: read the device again and act.
    again: bool,
    /// Writes waiting for the next attempt's outcome.
    waiters: Vec<oneshot::Sender<WakeOut>>,
}

impl Wakes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        // a poisoned lock only means a panic mid-update; the map is still consistent
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Network failures and 503s are tried this many times in one round (then the tasks wait
/// for the next periodic Inform, or the next write).
const MAX_ATTEMPTS: u32 = 4;
/// How often a wake that was accepted looks for the session it asked for.
const SESSION_POLL: Duration = Duration::from_millis(100);

/// Asks for a wake of `serial` because tasks were queued; the receiver gets the outcome of
/// the next attempt (or nothing, when the wake ends without one). Joins the wake in flight for
/// the device, if any.
fn wake_for_tasks(state: &ApiState, serial: &str) -> oneshot::Receiver<WakeOut> {
    let (tx, rx) = oneshot::channel();
    let started = {
        let mut slots = state.wakes.lock();
        match slots.get_mut(serial) {
            Some(slot) => {
                slot.again = true;
                slot.waiters.push(tx);
                None
            }
            None => {
                let id = state.wakes.next_id.fetch_add(1, Ordering::Relaxed);
                slots.insert(
                    serial.to_owned(),
                    Slot {
                        id,
                        again: true,
                        waiters: vec![tx],
                    },
                );
                Some(id)
            }
        }
    };
    if let Some(id) = started {
        let state = state.clone();
        let serial = serial.to_owned();
        tokio::spawn(async move {
            let _guard = SlotGuard {
                wakes: state.wakes.clone(),
                serial: serial.clone(),
                id,
            };
            run(&state, &serial, id).await;
        });
    }
    rx
}

/// After a write that queued tasks for `device`: wakes it (joining a wake in flight) and
/// waits up to [`crate::ApiConfig::wake_answer_wait`] for the outcome the answer shows.
pub async fn after_write(state: &ApiState, device: &Device) -> WakeOut {
    if !has_url(device) {
        return WakeOut::no_url();
    }
    let rx = wake_for_tasks(state, &device.serial_number);
    match tokio::time::timeout(state.config.wake_answer_wait, rx).await {
        Ok(Ok(out)) => out,
        Ok(Err(_)) | Err(_) => WakeOut::new(
            "pending",
            "the connection request is still under way; its outcome goes to the device's history",
        ),
    }
}

/// Wakes `device` for its due tasks without waiting for the outcome (it goes to the device's
/// history).
pub fn wake_in_background(state: &ApiState, device: &Device) {
    if has_url(device) {
        drop(wake_for_tasks(state, &device.serial_number));
    }
}

fn has_url(device: &Device) -> bool {
    device
        .connection_request_url
        .as_deref()
        .is_some_and(|u| !u.trim().is_empty())
}

/// Removes the loop's slot however the loop ends (a panic included), so a later write starts
/// a new loop instead of joining one that is gone.
struct SlotGuard {
    wakes: Arc<Wakes>,
    serial: String,
    id: u64,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut slots = self.wakes.lock();
        if slots.get(&self.serial).is_some_and(|s| s.id == self.id) {
            slots.remove(&self.serial);
        }
    }
}

/// The wake loop of one device: see the module documentation.
async fn run(state: &ApiState, serial: &str, id: u64) {
    let config = &state.config;
    let mut waiters: Vec<oneshot::Sender<WakeOut>> = Vec::new();
    let mut deadline = Instant::now();
    let mut attempts = 0u32;
    let mut retry_at: Option<Instant> = None;
    loop {
        {
            let mut slots = state.wakes.lock();
            let Some(slot) = slots.get_mut(serial).filter(|s| s.id == id) else {
                return;
            };
            if slot.again {
                // new demand: a fresh budget
                slot.again = false;
                waiters.append(&mut slot.waiters);
                deadline = Instant::now() + config.wake_retry_window;
                attempts = 0;
                retry_at = None;
            } else if retry_at.is_none() {
                // (every waiter was answered by an attempt; this only guards the invariant)
                answer(
                    &mut waiters,
                    WakeOut::new("pending", "no connection request went out in time"),
                );
                slots.remove(serial);
                return;
            }
        }
        if let Some(at) = retry_at.take() {
            tokio::time::sleep_until(at).await;
            if state
                .wakes
                .lock()
                .get(serial)
                .is_some_and(|s| s.id == id && s.again)
            {
                // a newer write arrived while we waited: start over with it
                continue;
            }
        }
        let now = Utc::now();
        let device = match ready_to_wake(state, serial, now).await {
            Ok(device) => device,
            Err(out) => {
                answer(&mut waiters, out);
                continue;
            }
        };
        let report = match send_wake(
            &state.store,
            &state.requester,
            &state.metrics,
            &device,
            WakePurpose::Tasks,
        )
        .await
        {
            Ok(report) => report,
            Err(e) => {
                tracing::warn!(serial, error = %e, "connection request skipped");
                answer(&mut waiters, WakeOut::new("error", e.to_string()));
                continue;
            }
        };
        let outcome = &report.outcome;
        if let CrOutcome::RateLimited { retry_after } = outcome {
            // our own limit: nothing reached the CPE; the waiters get the real attempt's
            // outcome
            retry_at = Some(Instant::now() + *retry_after + Duration::from_millis(20));
            continue;
        }
        answer(&mut waiters, WakeOut::of(outcome));
        attempts += 1;
        let again_in = match outcome {
            CrOutcome::Accepted => {
                if session_started(state, serial, now, deadline).await {
                    None
                } else {
                    tracing::info!(
                        serial,
                        "connection request accepted but no session followed; asking again"
                    );
                    Some(Duration::ZERO)
                }
            }
            CrOutcome::Busy
            | CrOutcome::Unreachable(_)
            | CrOutcome::Timeout
            | CrOutcome::ProtocolError(_) => Some(backoff(attempts)),
            CrOutcome::AuthFailed(_)
            | CrOutcome::Refused(_)
            | CrOutcome::InvalidUrl(_)
            | CrOutcome::HttpStatus(_)
            | CrOutcome::RateLimited { .. } => None,
        };
        retry_at = again_in
            .filter(|_| attempts < MAX_ATTEMPTS)
            .map(|d| Instant::now() + d);
        if retry_at.is_some_and(|at| at > deadline) {
            retry_at = None;
        }
        if retry_at.is_none() && !matches!(outcome, CrOutcome::Accepted) {
            tracing::info!(
                serial,
                outcome = outcome.as_str(),
                "connection request for due tasks not accepted; they wait for the next inform"
            );
        }
    }
}

/// The device as it is now, if a connection request should go out: it has a URL, a task is
/// due, and no session is running (which would take the due tasks itself). Else what the
/// waiters are told.
async fn ready_to_wake(
    state: &ApiState,
    serial: &str,
    now: DateTime<Utc>,
) -> Result<Device, WakeOut> {
    let store_error = |e: acs_store::StoreError| {
        tracing::warn!(serial, error = %e, "connection request skipped");
        WakeOut::new("error", format!("store: {e}"))
    };
    let device = state
        .store
        .device_by_serial(serial)
        .await
        .map_err(store_error)?
        .ok_or_else(|| WakeOut::new("error", format!("no device with serial number {serial}")))?;
    if !has_url(&device) {
        return Err(WakeOut::no_url());
    }
    let due = state
        .store
        .list_tasks(device.id, true)
        .await
        .map_err(store_error)?
        .iter()
        .any(|t| t.state == TaskState::Pending && t.next_attempt_at <= now);
    if !due {
        return Err(WakeOut::new(
            "nothing_due",
            "no task is due: a session already took them",
        ));
    }
    if state
        .store
        .session_lease_active(serial, now)
        .await
        .map_err(store_error)?
    {
        return Err(WakeOut::new(
            "in_session",
            "the device is in a session now, which takes the due tasks",
        ));
    }
    Ok(device)
}

/// Waits (bounded by the configured session wait and `deadline`) for a session of `serial`
/// that started after `sent`: its lease is taken, or its Inform stamped `last_connection`.
async fn session_started(
    state: &ApiState,
    serial: &str,
    sent: DateTime<Utc>,
    deadline: Instant,
) -> bool {
    let until = (Instant::now() + state.config.wake_session_wait).min(deadline);
    loop {
        let now = Utc::now();
        if let Ok(true) = state.store.session_lease_active(serial, now).await {
            return true;
        }
        if let Ok(Some(d)) = state.store.device_by_serial(serial).await
            && d.last_connection.is_some_and(|at| at >= sent)
        {
            return true;
        }
        if Instant::now() + SESSION_POLL > until {
            return false;
        }
        tokio::time::sleep(SESSION_POLL).await;
    }
}

/// 1 s, 2 s, 4 s, ... between attempts that failed on the network.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1 << attempts.saturating_sub(1).min(5))
}

fn answer(waiters: &mut Vec<oneshot::Sender<WakeOut>>, out: WakeOut) {
    for w in waiters.drain(..) {
        let _ = w.send(out.clone());
    }
}

/// What a live check says about a device's status (DESIGN §5, issue 13): a device that
/// answers the connection request at all, with any HTTP status (200, 401, 503, ...), is there:
/// Up. Only no HTTP answer (connection refused, no route, connect or answer timeout, the
/// exchange broken off) is Down. `None` keeps the stored status: nothing was sent (no URL, an
/// invalid URL, the address policy refused it, our own rate limit).
fn live_status(outcome: &CrOutcome) -> Option<DeviceStatus> {
    match outcome {
        CrOutcome::Accepted
        | CrOutcome::AuthFailed(_)
        | CrOutcome::Busy
        | CrOutcome::HttpStatus(_) => Some(DeviceStatus::Up),
        CrOutcome::Unreachable(_) | CrOutcome::Timeout | CrOutcome::ProtocolError(_) => {
            Some(DeviceStatus::Down)
        }
        CrOutcome::InvalidUrl(_) | CrOutcome::RateLimited { .. } | CrOutcome::Refused(_) => None,
    }
}

/// One status check of `device`; `None` when no request was made (no URL, store error).
async fn check(state: &ApiState, device: &Device) -> Option<CrReport> {
    match send_wake(
        &state.store,
        &state.requester,
        &state.metrics,
        device,
        WakePurpose::StatusCheck,
    )
    .await
    {
        Ok(report) => Some(report),
        Err(WakeError::NoUrl(_)) => None,
        Err(e) => {
            tracing::warn!(serial = %device.serial_number, error = %e, "status check skipped");
            None
        }
    }
}

/// `update_status=true`: contacts the given devices (bounded concurrency, bounded total
/// wait), records what answered, and updates `devices` in place. Devices without a
/// ConnectionRequestURL, and those not answered within the deadline, keep their status.
pub async fn refresh_status(state: &ApiState, devices: &mut [Device]) {
    let permits = Arc::new(Semaphore::new(
        state.config.update_status_concurrency.max(1),
    ));
    let mut set = JoinSet::new();
    for (i, device) in devices.iter().enumerate() {
        if device.connection_request_url.is_none() {
            continue;
        }
        let (state, device, permits) = (state.clone(), device.clone(), permits.clone());
        set.spawn(async move {
            let _permit = permits.acquire_owned().await.ok()?;
            let report = check(&state, &device).await?;
            let status = live_status(&report.outcome)?;
            let now = Utc::now();
            match state.store.record_live_status(device.id, status, now).await {
                Ok(flipped) => Some((i, status, flipped.then_some(now))),
                Err(e) => {
                    tracing::warn!(serial = %device.serial_number, error = %e, "live status not stored");
                    None
                }
            }
        });
    }
    let deadline = tokio::time::sleep(state.config.update_status_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            joined = set.join_next() => match joined {
                None => break,
                Some(Ok(Some((i, status, flipped_at)))) => {
                    devices[i].status = status;
                    if let Some(at) = flipped_at {
                        devices[i].status_change = Some(acs_store_ts(at));
                        state.counts.invalidate();
                    }
                }
                Some(_) => {}
            },
            () = &mut deadline => {
                set.abort_all();
                break;
            }
        }
    }
}

/// The store keeps microseconds; show what a later read would show.
fn acs_store_ts(t: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use acs_session::connection_request::CrAuthFailure;

    #[test]
    fn any_http_answer_is_up_and_only_silence_is_down() {
        let up = [
            CrOutcome::Accepted,
            CrOutcome::AuthFailed(CrAuthFailure::NoCredentials),
            CrOutcome::AuthFailed(CrAuthFailure::Rejected),
            CrOutcome::Busy,
            CrOutcome::HttpStatus(404),
            CrOutcome::HttpStatus(500),
        ];
        for o in &up {
            assert_eq!(live_status(o), Some(DeviceStatus::Up), "{o}");
        }
        let down = [
            CrOutcome::Unreachable("connection refused".into()),
            CrOutcome::Timeout,
            CrOutcome::ProtocolError("connection reset".into()),
        ];
        for o in &down {
            assert_eq!(live_status(o), Some(DeviceStatus::Down), "{o}");
        }
        let unchanged = [
            CrOutcome::InvalidUrl("ftp".into()),
            CrOutcome::RateLimited {
                retry_after: Duration::from_secs(1),
            },
            CrOutcome::Refused("169.254.169.254".into()),
        ];
        for o in &unchanged {
            assert_eq!(live_status(o), None, "{o}");
        }
    }

    #[test]
    fn backoff_doubles_and_is_bounded() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(60), Duration::from_secs(32));
    }
}
