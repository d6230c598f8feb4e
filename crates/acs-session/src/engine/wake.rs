//! Waking a device: the connection request (ACS -> CPE) that makes a CPE open a session now
//! instead of at its next periodic Inform. The one implementation: the REST API calls it when
//! tasks are due and for `update_status=true`.

use std::net::IpAddr;

use acs_store::{Device, Store, StoreError};
use chrono::Utc;

use super::metrics::Metrics;
use crate::Credentials;
use crate::connection_request::{ConnectionRequester, CrOutcome, CrReport};

/// Why a device could not even be asked.
#[derive(Debug, thiserror::Error)]
pub enum WakeError {
    #[error("no device with serial number {0}")]
    UnknownDevice(String),
    #[error("device {0} has not reported a ConnectionRequestURL yet")]
    NoUrl(String),
    /// Reading the device or opening its stored password failed (the message names the
    /// device, never the secret).
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Why a connection request is sent: kept with it in the device's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakePurpose {
    /// Tasks are due (after an API change, or a retry of one).
    Tasks,
    /// `update_status=true`: is the device there?
    StatusCheck,
}

impl WakePurpose {
    /// The label stored in the log and shown in the history.
    pub fn as_str(self) -> &'static str {
        match self {
            WakePurpose::Tasks => "tasks",
            WakePurpose::StatusCheck => "status_check",
        }
    }
}

/// What a connection request to `device` uses: the connection-request pair its CPE accepted
/// (username and password; a username alone goes with an empty password, as some CPEs have
/// none; nothing without a username), and the peer address of its last Inform.
///
/// Not the pair on the device row when the CPE has not accepted it yet: until its
/// SetParameterValues succeeds, the CPE still checks the one before.
pub async fn wake_inputs(
    store: &Store,
    device: &Device,
) -> Result<(Option<Credentials>, Option<IpAddr>), StoreError> {
    let target = store.wake_target(device.id).await?;
    let credentials = target.credentials.map(|c| match c.password {
        Some(pw) => Credentials::new(c.username, pw.expose()),
        None => Credentials::new(c.username, ""),
    });
    let peer = target
        .peer_address
        .as_deref()
        .and_then(|p| p.trim().parse::<IpAddr>().ok());
    Ok((credentials, peer))
}

/// Sends the connection request to `device` (a row the caller just read) with the pair its
/// CPE accepted, counts the outcome and latency in `metrics` (unless the requester counts them
/// itself), and logs it in the device's history with `purpose`.
/// The device's status is not changed here: a device that answers opens a session, and that
/// Inform marks it Up.
pub async fn wake(
    store: &Store,
    requester: &ConnectionRequester,
    metrics: &Metrics,
    device: &Device,
    purpose: WakePurpose,
) -> Result<CrReport, WakeError> {
    let serial = device.serial_number.as_str();
    let url = device
        .connection_request_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| WakeError::NoUrl(serial.to_owned()))?;
    let (credentials, peer) = wake_inputs(store, device).await?;
    let report = requester.send(serial, url, credentials, peer).await;
    if !requester.has_metrics() {
        metrics.observe_connection_request(&report);
    }
    match &report.outcome {
        CrOutcome::Accepted => {}
        // our own limit: nothing reached the CPE, the caller decides when to try again
        CrOutcome::RateLimited { .. } => return Ok(report),
        outcome => tracing::info!(
            serial,
            outcome = outcome.as_str(),
            detail = ?outcome,
            purpose = purpose.as_str(),
            "connection request not accepted"
        ),
    }
    if let Err(e) = store
        .log_connection_request(
            device.id,
            purpose.as_str(),
            report.outcome.as_str(),
            &report.outcome.to_string(),
            Utc::now(),
        )
        .await
    {
        // the request itself happened; only its trace in the history is missing
        tracing::warn!(serial, error = %e, "connection request not logged");
    }
    Ok(report)
}

/// [`wake`] by serial number.
pub async fn wake_device(
    store: &Store,
    requester: &ConnectionRequester,
    metrics: &Metrics,
    serial: &str,
    purpose: WakePurpose,
) -> Result<CrReport, WakeError> {
    let device = store
        .device_by_serial(serial)
        .await?
        .ok_or_else(|| WakeError::UnknownDevice(serial.to_owned()))?;
    wake(store, requester, metrics, &device, purpose).await
}
