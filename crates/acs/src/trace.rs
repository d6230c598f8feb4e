//! Debug session traces: every message of a session of a device in debug mode, both ways,
//! with its secrets redacted, kept within bounds (bytes per message, messages per device,
//! age).
//!
//! Recorded here, at the CPE listener, because only here are the bytes the CPE sent and
//! the bytes it got back, and only here can the recording stay off the session's path: the
//! engine names the trace ([`acs_session::engine::Session::debug_trace`], known from the
//! Inform's own upsert), the listener hands the exchange to a channel without waiting, and
//! one background task redacts it and writes it through the pool — not through the session
//! writer, whose batches never carry a trace. A device that is not in debug mode costs one
//! `Option` check per message.

use std::time::Duration;

use acs_session::engine::DebugTrace;
use acs_store::{NewTrace, Store, TraceDirection};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

/// The bounds of the traces kept.
#[derive(Debug, Clone, Copy)]
pub struct TraceLimits {
    /// Messages kept per device; older ones go as new ones come.
    pub per_device: i64,
    /// A longer message is cut to this many bytes (its full size is kept beside it).
    pub message_bytes: usize,
    /// Traces older than this are deleted by the sweep.
    pub max_age: Duration,
}

/// Exchanges waiting to be written; past this, new ones are dropped (and logged) rather
/// than slow a session down.
const QUEUE: usize = 256;

/// One request and the reply it got.
struct Exchange {
    trace: DebugTrace,
    request: Bytes,
    content_type: Option<String>,
    received: DateTime<Utc>,
    status: u16,
    reply: Bytes,
    answered: DateTime<Utc>,
}

/// The listener's side: queues exchanges for the writer task.
pub struct Tracer {
    tx: mpsc::Sender<Exchange>,
}

/// What the listener hands over about one exchange.
pub struct Recorded<'a> {
    pub request: &'a Bytes,
    pub content_type: Option<&'a str>,
    pub received: DateTime<Utc>,
    pub status: u16,
    pub reply: &'a Bytes,
}

impl Tracer {
    /// The tracer and its writer task, which ends once every `Tracer` is dropped and what
    /// was queued is written.
    pub fn spawn(store: Store, limits: TraceLimits) -> (Tracer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(write_traces(store, limits, rx));
        (Tracer { tx }, task)
    }

    /// Queues one exchange of a debug session; never waits.
    pub fn record(&self, trace: DebugTrace, exchange: Recorded<'_>) {
        let queued = self.tx.try_send(Exchange {
            trace,
            request: exchange.request.clone(),
            content_type: exchange.content_type.map(str::to_owned),
            received: exchange.received,
            status: exchange.status,
            reply: exchange.reply.clone(),
            answered: Utc::now(),
        });
        if queued.is_err() {
            tracing::warn!(
                device_id = trace.device_id,
                "debug trace queue full: an exchange was not recorded"
            );
        }
    }
}

async fn write_traces(store: Store, limits: TraceLimits, mut rx: mpsc::Receiver<Exchange>) {
    while let Some(x) = rx.recv().await {
        let request = kept_text(&x.request, x.content_type.as_deref(), limits);
        // our own replies are UTF-8 XML (or empty)
        let reply = kept_text(&x.reply, None, limits);
        for (direction, (body, size, truncated), status, at) in [
            (TraceDirection::In, request, None, x.received),
            (TraceDirection::Out, reply, Some(x.status), x.answered),
        ] {
            let trace = NewTrace {
                device_id: x.trace.device_id,
                direction,
                session_started: x.trace.session_started,
                http_status: status,
                body: &body,
                size,
                truncated,
                recorded: at,
            };
            if let Err(e) = store.record_trace(&trace, limits.per_device).await {
                tracing::warn!(device_id = x.trace.device_id, error = %e, "recording a debug trace failed");
            }
        }
    }
}

/// The text kept of one message, its size on the wire and whether it was cut: secrets
/// redacted, cut at `message_bytes` (on a character boundary). A message that cannot be
/// parsed cannot be redacted, so none of it is kept, only why.
fn kept_text(bytes: &[u8], content_type: Option<&str>, limits: TraceLimits) -> (String, i64, bool) {
    let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    let mut text = match cwmp::redact_message(bytes, content_type) {
        Ok(text) => text,
        Err(e) => format!("[not recorded: the message cannot be redacted: {e}]"),
    };
    let truncated = text.len() > limits.message_bytes;
    if truncated {
        text.truncate(text.floor_char_boundary(limits.message_bytes));
    }
    (text, size, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: TraceLimits = TraceLimits {
        per_device: 10,
        message_bytes: 24,
        max_age: Duration::from_secs(60),
    };

    #[test]
    fn long_messages_are_cut_on_a_character_boundary_and_keep_their_size() {
        let body = "<a><b>ééééééééééééééééé</b></a>";
        let (text, size, truncated) = kept_text(body.as_bytes(), None, LIMITS);
        assert!(text.len() <= 24 && body.starts_with(&text), "{text}");
        assert_eq!((size, truncated), (body.len() as i64, true));
        let (_, _, truncated) = kept_text(b"<a/>", None, LIMITS);
        assert!(!truncated);
    }

    #[test]
    fn what_cannot_be_redacted_is_not_kept() {
        let (text, size, _) = kept_text(b"<a><Password>open sesame", None, LIMITS);
        assert!(text.starts_with("[not recorded"), "{text}");
        assert!(!text.contains("sesame"));
        assert_eq!(size, 24);
    }
}
