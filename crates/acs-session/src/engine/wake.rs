//! Waking a device: the connection request (ACS -> CPE) that makes a CPE open a session now
//! instead of at its next periodic Inform. The one implementation: the REST API calls it after
//! queueing tasks and for `update_status=true`.

use acs_store::{Device, Store, StoreError};

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

/// The connection-request credentials stored for `device`: username and password when both
/// are set; the username with an empty password when only it is (some CPEs have an empty
/// connection-request password); none without a username (digest needs one).
pub async fn stored_credentials(
    store: &Store,
    device: &Device,
) -> Result<Option<Credentials>, StoreError> {
    let Some(user) = &device.username else {
        return Ok(None);
    };
    let password = if device.has_password {
        store.device_password(device.id).await?
    } else {
        None
    };
    Ok(Some(match password {
        Some(pw) => Credentials::new(user.clone(), pw.expose()),
        None => Credentials::new(user.clone(), ""),
    }))
}

/// Sends the connection request to `device` (a row the caller already holds) with its stored
/// credentials and counts the outcome and latency in `metrics` (unless the requester counts
/// them itself).
/// The device's status is not changed here: a device that answers opens a session, and that
/// Inform marks it Up.
pub async fn wake(
    store: &Store,
    requester: &ConnectionRequester,
    metrics: &Metrics,
    device: &Device,
) -> Result<CrReport, WakeError> {
    let serial = device.serial_number.as_str();
    let url = device
        .connection_request_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| WakeError::NoUrl(serial.to_owned()))?;
    let credentials = stored_credentials(store, device).await?;
    let report = requester.send(serial, url, credentials).await;
    if !requester.has_metrics() {
        metrics.observe_connection_request(&report);
    }
    if !matches!(report.outcome, CrOutcome::Accepted) {
        tracing::info!(
            serial,
            outcome = report.outcome.as_str(),
            "connection request not accepted"
        );
    }
    Ok(report)
}

/// [`wake`] by serial number.
pub async fn wake_device(
    store: &Store,
    requester: &ConnectionRequester,
    metrics: &Metrics,
    serial: &str,
) -> Result<CrReport, WakeError> {
    let device = store
        .device_by_serial(serial)
        .await?
        .ok_or_else(|| WakeError::UnknownDevice(serial.to_owned()))?;
    wake(store, requester, metrics, &device).await
}
