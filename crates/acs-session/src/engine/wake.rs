//! Waking a device: the connection request the REST API asks for after queueing tasks.

use acs_store::Store;

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
    #[error("store: {0}")]
    Store(#[from] acs_store::StoreError),
}

/// Looks up the device's ConnectionRequestURL and decrypted connection-request credentials,
/// sends the connection request and counts the outcome and latency in `metrics` (unless the
/// requester counts them itself). The device's status is not changed here: a
/// device that answers opens a session, and that Inform marks it Up.
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
    let url = device
        .connection_request_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| WakeError::NoUrl(serial.to_owned()))?;
    let credentials = match &device.username {
        Some(user) => store
            .device_password(device.id)
            .await?
            .map(|pw| Credentials::new(user.clone(), pw.expose())),
        None => None,
    };
    let report = requester.send(serial, &url, credentials).await;
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
