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
