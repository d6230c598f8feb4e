//! Device history: Inform events, and session traces of devices in debug mode (bounded).

use chrono::{DateTime, Utc};

use crate::backend::on_pool;
use crate::error::Result;
use crate::{Store, ts};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRecord {
    pub id: i64,
    pub code: String,
    pub command_key: String,
    pub received: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceDirection {
    /// CPE -> ACS
    In,
    /// ACS -> CPE
    Out,
}

impl TraceDirection {
    fn as_str(self) -> &'static str {
        match self {
            TraceDirection::In => "in",
            TraceDirection::Out => "out",
        }
    }
}

impl TryFrom<String> for TraceDirection {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "in" => Ok(TraceDirection::In),
            "out" => Ok(TraceDirection::Out),
            other => Err(format!("unknown trace direction {other:?}")),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct TraceRecord {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub direction: TraceDirection,
    pub body: String,
    pub recorded: DateTime<Utc>,
}

impl Store {
    /// The device's most recent events, newest first.
    pub async fn list_events(&self, device_id: i64, limit: i64) -> Result<Vec<EventRecord>> {
        on_pool!(&self.backend, |pool, dialect| {
            Ok(sqlx::query_as(
                "SELECT id, code, command_key, received FROM events WHERE device_id = $1 \
                 ORDER BY id DESC LIMIT $2",
            )
            .bind(device_id)
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Deletes events received before `before`; returns how many. Walks from the oldest id
    /// to the first event received since `before` and deletes below it, so a sweep costs
    /// what it deletes, not the table (`received` has no index to keep up per Inform). An
    /// old event above a newer one (clocks of two nodes apart) goes in a later sweep.
    pub async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64> {
        let before = ts(before);
        on_pool!(&self.backend, |pool, dialect| {
            Ok(sqlx::query(
                "DELETE FROM events WHERE id < COALESCE(\
                 (SELECT id FROM events WHERE received >= $1 ORDER BY id LIMIT 1), \
                 (SELECT MAX(id) + 1 FROM events))",
            )
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected())
        })
    }

    /// Keeps the newest `keep` events of each device that received events with an id above
    /// `after` (the previous call's high-water mark; 0 for all devices). Returns how many it
    /// deleted and the new high-water mark: a sweep looks only at the devices heard from
    /// since the last one.
    pub async fn prune_events_per_device(&self, keep: i64, after: i64) -> Result<(u64, i64)> {
        on_pool!(&self.backend, |pool, dialect| {
            let recent: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT device_id, MAX(id) FROM events WHERE id > $1 GROUP BY device_id",
            )
            .bind(after)
            .fetch_all(pool)
            .await?;
            let high = recent.iter().map(|(_, id)| *id).max().unwrap_or(after);
            let mut deleted = 0;
            for chunk in recent.chunks(500) {
                let mut sql = String::from(
                    "DELETE FROM events WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() \
                     OVER (PARTITION BY device_id ORDER BY id DESC) AS newer FROM events \
                     WHERE device_id IN (",
                );
                for i in 0..chunk.len() {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    dialect.placeholder(&mut sql, i + 1);
                }
                sql.push_str(")) ranked WHERE newer > ");
                dialect.placeholder(&mut sql, chunk.len() + 1);
                sql.push(')');
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (device_id, _) in chunk {
                    q = q.bind(*device_id);
                }
                deleted += q.bind(keep.max(0)).execute(pool).await?.rows_affected();
            }
            Ok((deleted, high))
        })
    }

    /// Appends one message of a debug session and keeps only the newest `keep` per device.
    /// The caller redacts secrets from `body` (passwords in SetParameterValues).
    pub async fn record_trace(
        &self,
        device_id: i64,
        direction: TraceDirection,
        body: &str,
        keep: i64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = ts(now);
        on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            crate::device::check_refs!(tx, [("device", "devices", Some(device_id))])?;
            sqlx::query(
                "INSERT INTO session_traces (device_id, direction, body, recorded) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(device_id)
            .bind(direction.as_str())
            .bind(body)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM session_traces WHERE device_id = $1 AND id <= \
                 (SELECT id FROM session_traces WHERE device_id = $1 ORDER BY id DESC \
                 LIMIT 1 OFFSET $2)",
            )
            .bind(device_id)
            .bind(keep.max(0))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The device's kept traces, oldest first.
    pub async fn list_traces(&self, device_id: i64) -> Result<Vec<TraceRecord>> {
        on_pool!(&self.backend, |pool, dialect| {
            Ok(sqlx::query_as(
                "SELECT id, direction, body, recorded FROM session_traces WHERE device_id = $1 \
                 ORDER BY id",
            )
            .bind(device_id)
            .fetch_all(pool)
            .await?)
        })
    }
}
