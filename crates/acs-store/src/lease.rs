//! Session leases: at most one CWMP session per device across all nodes.
//!
//! A lease row per serial number names its holder and expiry. Taking it is one atomic
//! upsert that only overwrites an expired lease or our own (renewal), so two nodes racing
//! for one device cannot both win; a node that dies simply lets its lease expire.
//!
//! The statements live here once, as multi-row statements; each backend's session writer
//! runs them (`pg_session.rs`, `sqlite_sync.rs`), with one row for the single calls below and
//! for the steps that run on their own, with many for a batch of session steps (`session.rs`,
//! through the `InformWriter`).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::backend::{Backend, Dialect, on_pool};
use crate::error::Result;
use crate::session::{SessionTx, lease_expiry};
use crate::sqlite_sync::run_sync;
use crate::{Store, ts};

/// Leases to take in one statement: each (serial, holder, expiry) row's lease where it is
/// free, expired at `now`, or already the row's holder's.
pub(crate) struct TakeLeases<'a> {
    pub rows: &'a [(&'a str, &'a str, DateTime<Utc>)],
    pub now: DateTime<Utc>,
}

impl TakeLeases<'_> {
    /// The statement: the rows' binds, then `now`; returns the serials won.
    pub(crate) fn sql(&self, dialect: Dialect) -> String {
        let mut sql =
            String::from("INSERT INTO session_leases (serial_number, holder, expires_at) VALUES ");
        let n = dialect.value_rows(&mut sql, self.rows.len(), 3, &[]);
        sql.push_str(
            " ON CONFLICT (serial_number) DO UPDATE SET \
             holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE session_leases.expires_at <= ",
        );
        dialect.placeholder(&mut sql, n + 1);
        sql.push_str(" OR session_leases.holder = excluded.holder RETURNING serial_number");
        sql
    }
}

/// Deletes the leases of `rows` (serial, holder) pairs still held by those holders.
pub(crate) fn release_leases_sql(dialect: Dialect, rows: usize) -> String {
    let mut sql =
        String::from("DELETE FROM session_leases WHERE (serial_number, holder) IN (VALUES ");
    dialect.value_rows(&mut sql, rows, 2, &[]);
    sql.push(')');
    sql
}

/// Turns to end in one statement: each (serial, holder, device id) row's lease, where still
/// held by that holder and the device has no task due at `now`.
pub(crate) struct EndIdleTurns<'a> {
    pub rows: &'a [(&'a str, &'a str, i64)],
    pub now: DateTime<Utc>,
}

impl EndIdleTurns<'_> {
    /// The statement: the rows' binds, then `now` twice; returns the serials whose sessions
    /// ended.
    pub(crate) fn sql(&self, dialect: Dialect) -> String {
        let mut sql = String::from(
            "DELETE FROM session_leases WHERE (serial_number, holder) \
             IN (SELECT v.column1, v.column2 FROM (VALUES ",
        );
        let n = dialect.value_rows(&mut sql, self.rows.len(), 3, &["text", "text", "bigint"]);
        sql.push_str(
            ") AS v WHERE NOT EXISTS (SELECT 1 FROM tasks \
             WHERE tasks.device_id = v.column3 \
             AND ((tasks.state = 'pending' AND tasks.next_attempt_at <= ",
        );
        dialect.placeholder(&mut sql, n + 1);
        sql.push_str(
            ") OR (tasks.state = 'in_flight' \
             AND tasks.accepted_at IS NULL AND tasks.claim_expires_at <= ",
        );
        dialect.placeholder(&mut sql, n + 2);
        sql.push_str(")))) RETURNING serial_number");
        sql
    }
}

impl Store {
    /// Takes or renews the session lease of `serial` for `holder` until `now + ttl`.
    /// `false` when another holder's lease is still running.
    pub async fn acquire_session_lease(
        &self,
        serial: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool> {
        let now = ts(now);
        let expires = lease_expiry(now, ttl);
        match &self.backend {
            Backend::Sqlite(_, sync) => {
                let (serial, holder) = (serial.to_owned(), holder.to_owned());
                sync.write_blocking(move |tx, _| {
                    run_sync(tx.take_lease(&serial, &holder, expires, now))
                })
                .await
            }
            Backend::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                conn.take_lease(serial, holder, expires, now).await
            }
        }
    }

    /// Gives the lease up if `holder` still has it.
    pub async fn release_session_lease(&self, serial: &str, holder: &str) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(_, sync) => {
                let (serial, holder) = (serial.to_owned(), holder.to_owned());
                sync.write_blocking(move |tx, _| run_sync(tx.release_lease(&serial, &holder)))
                    .await
            }
            Backend::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                conn.release_lease(serial, holder).await
            }
        }
    }

    /// Drops leases that expired before `now` (housekeeping; expired leases are harmless).
    pub async fn purge_expired_leases(&self, now: DateTime<Utc>) -> Result<u64> {
        self.delete_by_time("DELETE FROM session_leases WHERE expires_at <= $1", now)
            .await
    }

    /// Whether someone holds an unexpired session lease on `serial` at `now` (the API refuses
    /// to delete a device in session).
    pub async fn session_lease_active(&self, serial: &str, now: DateTime<Utc>) -> Result<bool> {
        let now = ts(now);
        on_pool!(&self.backend, |pool, dialect| {
            let held: Option<i32> = sqlx::query_scalar(
                "SELECT 1 FROM session_leases WHERE serial_number = $1 AND expires_at > $2",
            )
            .bind(serial)
            .bind(now)
            .fetch_optional(pool)
            .await?;
            Ok(held.is_some())
        })
    }

    /// When the session lease on `serial` runs out, if someone holds one (a refused Inform's
    /// `Retry-After`).
    pub async fn session_lease_expiry(&self, serial: &str) -> Result<Option<DateTime<Utc>>> {
        on_pool!(&self.backend, |pool, dialect| {
            Ok(
                sqlx::query_scalar(
                    "SELECT expires_at FROM session_leases WHERE serial_number = $1",
                )
                .bind(serial)
                .fetch_optional(pool)
                .await?,
            )
        })
    }
}
