//! Polling with a deadline instead of fixed sleeps: every wait says what did not happen.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is re-checked.
const POLL: Duration = Duration::from_millis(100);

/// Re-evaluates `check` until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// [`until`] for a condition without a value.
pub async fn until_true<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    until(what, timeout, || {
        let f = check();
        async move { f.await.then_some(()) }
    })
    .await
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
