//! What a CPE can make the store keep (issue 12): every parameter it reports becomes a row,
//! so a CPE reporting a new 1 MB parameter per Inform grew its device by 1 MB each time.
//! Two caps, applied wherever parameter rows are written (the Inform upsert and
//! GetParameterValues/Names results, by each backend's session writer: `pg_session.rs`,
//! `sqlite_sync.rs`):
//!
//! - a value longer than `max_value_bytes` is not stored (the path keeps what it had);
//! - a device holds at most `max_per_device` rows: past it, new paths are not stored,
//!   while the paths it has keep updating.
//!
//! Nothing is truncated: a stored value is always one the CPE reported. What is refused is
//! logged (device, count, reason) and counted ([`crate::Store::parameters_refused`], shown
//! on `/metrics`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::backend::Dialect;
use crate::error::Result;
use crate::inform::ParamRow;
use crate::session::SessionTx;

/// The two caps. Worst case per device: their product (20,000 x 32 KiB = 640 MiB with the
/// defaults; a real CPE stays far below, lower them for a tighter bound).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParameterLimits {
    /// Most parameter rows per device. Default 20,000 (a full TR-181 tree has a few
    /// thousand; large host or neighbour tables some more).
    pub max_per_device: usize,
    /// Longest stored value, in bytes. Default 32,768, the largest string the standard
    /// data models define (`DeviceInfo.DeviceLog`).
    pub max_value_bytes: usize,
}

impl Default for ParameterLimits {
    fn default() -> Self {
        ParameterLimits {
            max_per_device: 20_000,
            max_value_bytes: 32 * 1024,
        }
    }
}

/// How many reported parameters were not stored since the process started, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParametersRefused {
    /// New paths of a device already at `max_per_device`.
    pub too_many: u64,
    /// Values over `max_value_bytes`.
    pub too_long: u64,
}

/// The limits in force (changeable while running) and the refusal counters, shared by every
/// clone of a store and its SQLite session writer.
#[derive(Debug)]
pub(crate) struct ParameterGuard {
    max_per_device: AtomicUsize,
    max_value_bytes: AtomicUsize,
    too_many: AtomicU64,
    too_long: AtomicU64,
}

impl Default for ParameterGuard {
    fn default() -> Self {
        let limits = ParameterLimits::default();
        ParameterGuard {
            max_per_device: AtomicUsize::new(limits.max_per_device),
            max_value_bytes: AtomicUsize::new(limits.max_value_bytes),
            too_many: AtomicU64::new(0),
            too_long: AtomicU64::new(0),
        }
    }
}

/// Pairs per look-up of existing paths (2 binds each).
pub(crate) const EXISTING_CHUNK: usize = 500;
/// Devices per count statement.
pub(crate) const COUNT_CHUNK: usize = 500;

/// Which of the (device, path) pairs are stored: `WITH v AS (VALUES ...)` probes the primary
/// key once per pair (the small list drives the join).
pub(crate) fn existing_sql(dialect: Dialect, pairs: usize) -> String {
    let mut sql = String::from("WITH v (device_id, path) AS (VALUES ");
    dialect.value_rows(&mut sql, pairs, 2, &["bigint", "text"]);
    sql.push_str(
        ") SELECT v.device_id, v.path FROM v JOIN parameters p \
         ON p.device_id = v.device_id AND p.path = v.path",
    );
    sql
}

/// How many rows each of `devices` devices holds.
pub(crate) fn count_sql(dialect: Dialect, devices: usize) -> String {
    let mut sql = String::from("SELECT device_id, COUNT(*) FROM parameters WHERE device_id IN (");
    dialect.list(&mut sql, devices);
    sql.push_str(") GROUP BY device_id");
    sql
}

impl ParameterGuard {
    pub(crate) fn limits(&self) -> ParameterLimits {
        ParameterLimits {
            max_per_device: self.max_per_device.load(Ordering::Relaxed),
            max_value_bytes: self.max_value_bytes.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn set(&self, limits: ParameterLimits) {
        self.max_per_device
            .store(limits.max_per_device, Ordering::Relaxed);
        self.max_value_bytes
            .store(limits.max_value_bytes, Ordering::Relaxed);
    }

    pub(crate) fn refused(&self) -> ParametersRefused {
        ParametersRefused {
            too_many: self.too_many.load(Ordering::Relaxed),
            too_long: self.too_long.load(Ordering::Relaxed),
        }
    }

    /// Drops the rows whose value is over the size cap.
    pub(crate) fn drop_long<'a>(&self, rows: Vec<ParamRow<'a>>) -> Vec<ParamRow<'a>> {
        let max = self.limits().max_value_bytes;
        let mut refused: HashMap<i64, (u64, &str, usize)> = HashMap::new();
        let kept = rows
            .into_iter()
            .filter(|r| {
                let long = r.param.value.len() > max;
                if long {
                    let e = refused
                        .entry(r.device_id)
                        .or_insert((0, r.param.path.as_str(), 0));
                    e.0 += 1;
                    e.2 = e.2.max(r.param.value.len());
                }
                !long
            })
            .collect();
        for (device_id, (n, path, longest)) in refused {
            self.too_long.fetch_add(n, Ordering::Relaxed);
            tracing::warn!(
                device_id,
                refused = n,
                path = ?path,
                bytes = longest,
                max_bytes = max,
                "parameter values over the size limit not stored"
            );
        }
        kept
    }

    /// The devices among `rows` that report a path they do not hold yet.
    pub(crate) fn devices_with_new_paths(
        rows: &[ParamRow<'_>],
        existing: &HashSet<(i64, String)>,
    ) -> Vec<i64> {
        let mut devices: Vec<i64> = rows
            .iter()
            .filter(|r| !existing.contains(&(r.device_id, r.param.path.clone())))
            .map(|r| r.device_id)
            .collect();
        devices.sort_unstable();
        devices.dedup();
        devices
    }

    /// Keeps every row of a stored path, and new paths while the device has room (in the
    /// order reported); drops the rest.
    pub(crate) fn cap_new_paths<'a>(
        &self,
        rows: Vec<ParamRow<'a>>,
        existing: &HashSet<(i64, String)>,
        counts: &HashMap<i64, i64>,
    ) -> Vec<ParamRow<'a>> {
        let max = self.limits().max_per_device;
        let mut room: HashMap<i64, usize> = HashMap::new();
        let mut refused: HashMap<i64, u64> = HashMap::new();
        let kept = rows
            .into_iter()
            .filter(|r| {
                if existing.contains(&(r.device_id, r.param.path.clone())) {
                    return true;
                }
                let left = room.entry(r.device_id).or_insert_with(|| {
                    let held = usize::try_from(counts.get(&r.device_id).copied().unwrap_or(0))
                        .unwrap_or(usize::MAX);
                    max.saturating_sub(held)
                });
                if *left > 0 {
                    *left -= 1;
                    true
                } else {
                    *refused.entry(r.device_id).or_default() += 1;
                    false
                }
            })
            .collect();
        for (device_id, n) in refused {
            self.too_many.fetch_add(n, Ordering::Relaxed);
            tracing::warn!(
                device_id,
                refused = n,
                max_parameters = max,
                "device at its parameter limit: new parameters not stored"
            );
        }
        kept
    }
}

/// Applies both caps to deduplicated rows inside `tx`'s transaction: the rows to write. Runs
/// after a BOOTSTRAP's DELETE, so a replaced tree counts from zero.
pub(crate) async fn cap_parameter_rows<'a, T: SessionTx>(
    tx: &mut T,
    guard: &ParameterGuard,
    rows: Vec<ParamRow<'a>>,
) -> Result<Vec<ParamRow<'a>>> {
    let rows = guard.drop_long(rows);
    let mut existing: HashSet<(i64, String)> = HashSet::new();
    for chunk in rows.chunks(EXISTING_CHUNK) {
        existing.extend(tx.existing_parameters(chunk).await?);
    }
    let devices = ParameterGuard::devices_with_new_paths(&rows, &existing);
    let mut counts: HashMap<i64, i64> = HashMap::new();
    for chunk in devices.chunks(COUNT_CHUNK) {
        counts.extend(tx.count_parameters(chunk).await?);
    }
    Ok(guard.cap_new_paths(rows, &existing, &counts))
}
