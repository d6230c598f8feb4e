//! The steps many cases take, each a line: read a device, queue and claim tasks on a store.
//! A store error fails the case where it happens.

use std::time::Duration;

use acs_store::{Device, NewTask, Store, Task};
use chrono::{DateTime, TimeZone, Utc};

/// `secs` seconds into the cases' day (a fixed one: times are inputs, never the clock).
pub fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

/// `store.claim_next_task`: the device's next due task, claimed by `holder` at `at` for
/// `ttl`, or `None` when nothing is due.
pub async fn claim(
    store: &Store,
    device_id: i64,
    holder: &str,
    at: DateTime<Utc>,
    ttl: Duration,
) -> Option<Task> {
    store
        .claim_next_task(device_id, holder, at, ttl)
        .await
        .unwrap()
}

/// `store.enqueue_tasks`: the queued tasks (merged ones included), in order.
pub async fn enqueue(
    store: &Store,
    device_id: i64,
    tasks: &[NewTask],
    at: DateTime<Utc>,
) -> Vec<Task> {
    store.enqueue_tasks(device_id, tasks, at).await.unwrap()
}

/// The device stored under `serial`, which must exist.
pub async fn stored(store: &Store, serial: &str) -> Device {
    let device = store.device_by_serial(serial).await.unwrap();
    device.unwrap_or_else(|| panic!("no device {serial}"))
}
