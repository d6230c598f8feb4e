//! The status sweep: devices that missed their Inform schedule go Down (DESIGN §5).

use chrono::{DateTime, Utc};

use crate::backend::on_pool;
use crate::error::Result;
use crate::{Store, ts};

/// A device is Down once `now - last_connection > factor * interval + slack`, where interval
/// is its `update_frequency` or `default_interval_secs` when unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusPolicy {
    pub factor: i64,
    pub slack_secs: i64,
    pub default_interval_secs: i64,
}

impl Default for StatusPolicy {
    fn default() -> Self {
        StatusPolicy {
            factor: 2,
            slack_secs: 60,
            default_interval_secs: 300,
        }
    }
}

impl Store {
    /// Flips every overdue Up device to Down and stamps `status_change = now`. Returns how
    /// many flipped.
    pub async fn sweep_status(&self, now: DateTime<Utc>, policy: StatusPolicy) -> Result<u64> {
        let now = ts(now);
        on_pool!(&self.backend, |pool, dialect| {
            let sql = dialect.pick(
                "UPDATE devices SET status = 'Down', status_change = $1 WHERE status = 'Up' \
                 AND (last_connection IS NULL OR unixepoch($1, 'subsec') \
                 - unixepoch(last_connection, 'subsec') > $2 * COALESCE(update_frequency, $4) + $3)",
                "UPDATE devices SET status = 'Down', status_change = $1 WHERE status = 'Up' \
                 AND (last_connection IS NULL OR EXTRACT(EPOCH FROM ($1 - last_connection)) \
                 > $2 * COALESCE(update_frequency, $4) + $3)",
            );
            Ok(sqlx::query(sql)
                .bind(now)
                .bind(policy.factor)
                .bind(policy.slack_secs)
                .bind(policy.default_interval_secs)
                .execute(pool)
                .await?
                .rows_affected())
        })
    }
}

impl Store {
    /// Records a status seen live (the API's `update_status=true`: a connection request
    /// answered or not). Stamps `status_change = now` only when the status flips. Returns
    /// whether it flipped.
    pub async fn record_live_status(
        &self,
        device_id: i64,
        status: crate::DeviceStatus,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let now = ts(now);
        on_pool!(&self.backend, |pool, dialect| {
            Ok(sqlx::query(
                "UPDATE devices SET status = $1, status_change = $2 \
                 WHERE id = $3 AND status <> $1",
            )
            .bind(status.as_str())
            .bind(now)
            .bind(device_id)
            .execute(pool)
            .await?
            .rows_affected()
                > 0)
        })
    }
}
