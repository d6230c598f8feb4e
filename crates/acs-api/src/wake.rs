//! Connection requests from the API: after a PATCH queued tasks (wake the CPE now instead of
//! at its next periodic Inform) and for `update_status=true` (DESIGN §5). The request itself
//! (credentials, sending, counting in `/metrics`) is the session engine's
//! [`acs_session::engine::wake::wake`]; this module decides when, and what an outcome means
//! for the answer.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use acs_session::connection_request::{CrOutcome, CrReport};
use acs_session::engine::wake::{WakeError, wake as send_wake};
use acs_store::{Device, DeviceStatus};

use crate::ApiState;

/// Sends one connection request to `device`; `None` when it has no ConnectionRequestURL
/// (it never informed one) or the store failed — logged (serial and error, never a secret),
/// because the caller's answer does not depend on it: the tasks are already durable.
pub async fn wake(state: &ApiState, device: &Device) -> Option<CrReport> {
    match send_wake(&state.store, &state.requester, &state.metrics, device).await {
        Ok(report) => Some(report),
        Err(WakeError::NoUrl(_)) => None,
        Err(e) => {
            tracing::warn!(serial = %device.serial_number, error = %e, "connection request skipped");
            None
        }
    }
}

/// How many times a background wake refused by the rate limit is tried again.
const DEFERRED_WAKE_RETRIES: usize = 2;

/// Fire-and-forget wake after tasks were durably stored: the response does not wait for the
/// CPE, and a failed request is not an error (the tasks wait for the next periodic Inform).
pub fn wake_in_background(state: &ApiState, device: &Device) {
    if device.connection_request_url.is_none() {
        return;
    }
    let state = state.clone();
    let device = device.clone();
    tokio::spawn(async move {
        // A request refused by our own per-device rate limit never reached the CPE: dropping
        // it would leave the new tasks waiting for the next periodic Inform (hours on a real
        // fleet) just because an earlier change of the same device was a few seconds ago.
        // Send it once the limit allows instead; a CPE that is already in a session answers
        // 503 and picks the tasks up there.
        for _ in 0..=DEFERRED_WAKE_RETRIES {
            let Some(report) = wake(&state, &device).await else {
                return;
            };
            match report.outcome {
                CrOutcome::RateLimited { retry_after } => {
                    tokio::time::sleep(retry_after + std::time::Duration::from_millis(20)).await;
                }
                outcome if !outcome.is_accepted() => {
                    tracing::info!(serial = %device.serial_number, outcome = %outcome,
                        "connection request after an API change not accepted; tasks wait for the next inform");
                    return;
                }
                _ => return,
            }
        }
        tracing::info!(serial = %device.serial_number,
            "connection request after an API change still rate limited; tasks wait for the next inform");
    });
}

/// What a live check says about a device's status; `None` keeps the stored one (no request
/// was made, or ours was refused before reaching the CPE).
fn live_status(outcome: &CrOutcome) -> Option<DeviceStatus> {
    match outcome {
        CrOutcome::Accepted => Some(DeviceStatus::Up),
        CrOutcome::InvalidUrl(_) | CrOutcome::RateLimited { .. } => None,
        CrOutcome::AuthFailed(_)
        | CrOutcome::Busy
        | CrOutcome::Unreachable(_)
        | CrOutcome::Timeout
        | CrOutcome::ProtocolError(_)
        | CrOutcome::HttpStatus(_) => Some(DeviceStatus::Down),
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
            let report = wake(&state, &device).await?;
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
