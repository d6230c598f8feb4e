//! Session leases: at most one CWMP session per device across all nodes.
//!
//! A lease row per serial number names its holder and expiry. Taking it is one atomic
//! upsert that only overwrites an expired lease or our own (renewal), so two nodes racing
//! for one device cannot both win; a node that dies simply lets its lease expire.
//!
//! The statements live in macros so that the single calls here and the batched session
//! writes (`session.rs`, through the `InformWriter`) run exactly the same SQL.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::backend::on_pool;
use crate::error::Result;
use crate::{Store, ts};

pub(crate) const TAKE_LEASE: &str = "INSERT INTO session_leases (serial_number, holder, expires_at) VALUES ($1, $2, $3) \
     ON CONFLICT (serial_number) DO UPDATE SET holder = excluded.holder, \
     expires_at = excluded.expires_at \
     WHERE session_leases.expires_at <= $4 OR session_leases.holder = excluded.holder \
     RETURNING holder";

pub(crate) const RELEASE_LEASE: &str =
    "DELETE FROM session_leases WHERE serial_number = $1 AND holder = $2";

/// Takes or renews the lease of `$serial` for `$holder` until `$now + $ttl` on `$conn`;
/// evaluates to whether it is ours.
macro_rules! take_lease {
    ($conn:expr, $serial:expr, $holder:expr, $now:expr, $ttl:expr) => {{
        let now = $crate::ts($now);
        let expires = $crate::ts(now + chrono::Duration::from_std($ttl).unwrap_or_default());
        let won: Option<String> = sqlx::query_scalar($crate::lease::TAKE_LEASE)
            .bind($serial)
            .bind($holder)
            .bind(expires)
            .bind(now)
            .fetch_optional(&mut *$conn)
            .await?;
        won.is_some()
    }};
}
pub(crate) use take_lease;

/// Deletes the lease of `$serial` if `$holder` still has it.
macro_rules! release_lease {
    ($conn:expr, $serial:expr, $holder:expr) => {{
        sqlx::query($crate::lease::RELEASE_LEASE)
            .bind($serial)
            .bind($holder)
            .execute(&mut *$conn)
            .await?;
    }};
}
pub(crate) use release_lease;

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
        on_pool!(&self.backend, |pool, dialect| {
            let mut conn = pool.acquire().await?;
            Ok(take_lease!(conn, serial, holder, now, ttl))
        })
    }

    /// Gives the lease up if `holder` still has it.
    pub async fn release_session_lease(&self, serial: &str, holder: &str) -> Result<()> {
        on_pool!(&self.backend, |pool, dialect| {
            let mut conn = pool.acquire().await?;
            release_lease!(conn, serial, holder);
            Ok(())
        })
    }

    /// Drops leases that expired before `now` (housekeeping; expired leases are harmless).
    pub async fn purge_expired_leases(&self, now: DateTime<Utc>) -> Result<u64> {
        let now = ts(now);
        on_pool!(&self.backend, |pool, dialect| {
            Ok(
                sqlx::query("DELETE FROM session_leases WHERE expires_at <= $1")
                    .bind(now)
                    .execute(pool)
                    .await?
                    .rows_affected(),
            )
        })
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
