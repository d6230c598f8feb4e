//! Device history: Inform events, and session traces of devices in debug mode (bounded).

use chrono::{DateTime, Utc};

use sqlx::AssertSqlSafe;

use crate::backend::on_pool;
use crate::device::Page;
use crate::error::Result;
use crate::{Store, ts};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRecord {
    pub id: i64,
    pub code: String,
    pub command_key: String,
    pub received: DateTime<Utc>,
}

text_enum! {
    pub enum TraceDirection("trace direction") {
        /// CPE -> ACS
        In = "in",
        /// ACS -> CPE
        Out = "out",
    }
}

/// One recorded message of a debug session.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct TraceRecord {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub direction: TraceDirection,
    /// When the session's Inform arrived: the messages of one session share it. `None` for
    /// traces recorded before it was kept.
    pub session_started: Option<DateTime<Utc>>,
    /// The HTTP status the ACS answered with (`Out`); `None` for what the CPE sent.
    pub http_status: Option<i32>,
    /// The message as recorded: secrets redacted, cut to the per-message bound.
    pub body: String,
    /// The message's size in bytes on the wire; `None` for older traces.
    pub size: Option<i64>,
    /// `body` was cut to the per-message bound.
    pub truncated: bool,
    pub recorded: DateTime<Utc>,
}

/// A message to record. The caller redacts secrets from `body` and bounds its size.
#[derive(Clone, Debug)]
pub struct NewTrace<'a> {
    pub device_id: i64,
    pub direction: TraceDirection,
    pub session_started: DateTime<Utc>,
    pub http_status: Option<u16>,
    pub body: &'a str,
    pub size: i64,
    pub truncated: bool,
    pub recorded: DateTime<Utc>,
}

const TRACE_COLUMNS: &str =
    "id, direction, session_started, http_status, body, size, truncated, recorded";

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
                let n = dialect.list(&mut sql, chunk.len());
                sql.push_str(")) ranked WHERE newer > ");
                dialect.placeholder(&mut sql, n + 1);
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

    /// Appends one message of a debug session and keeps only the newest `keep` of the device.
    pub async fn record_trace(&self, trace: &NewTrace<'_>, keep: i64) -> Result<()> {
        on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            crate::device::check_refs!(tx, [("device", "devices", Some(trace.device_id))])?;
            sqlx::query(
                "INSERT INTO session_traces (device_id, direction, session_started, \
                 http_status, body, size, truncated, recorded) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(trace.device_id)
            .bind(trace.direction.as_str())
            .bind(ts(trace.session_started))
            .bind(trace.http_status.map(i32::from))
            .bind(trace.body)
            .bind(trace.size)
            .bind(trace.truncated)
            .bind(ts(trace.recorded))
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM session_traces WHERE device_id = $1 AND id <= \
                 (SELECT id FROM session_traces WHERE device_id = $1 ORDER BY id DESC \
                 LIMIT 1 OFFSET $2)",
            )
            .bind(trace.device_id)
            .bind(keep.max(0))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The device's newest `limit` traces, oldest first.
    pub async fn list_traces(&self, device_id: i64, limit: i64) -> Result<Vec<TraceRecord>> {
        let sql = format!(
            "SELECT {TRACE_COLUMNS} FROM (SELECT * FROM session_traces WHERE device_id = $1 \
             ORDER BY id DESC LIMIT $2) AS newest ORDER BY id"
        );
        on_pool!(&self.backend, |pool, dialect| {
            Ok(sqlx::query_as(AssertSqlSafe(sql))
                .bind(device_id)
                .bind(limit.max(0))
                .fetch_all(pool)
                .await?)
        })
    }

    /// One page of the device's traces, oldest first, and how many it has.
    pub async fn trace_page(
        &self,
        device_id: i64,
        limit: i64,
        offset: i64,
    ) -> Result<Page<TraceRecord>> {
        let sql = format!(
            "SELECT {TRACE_COLUMNS} FROM session_traces WHERE device_id = $1 \
             ORDER BY id LIMIT $2 OFFSET $3"
        );
        on_pool!(&self.backend, |pool, dialect| {
            let count: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM session_traces WHERE device_id = $1")
                    .bind(device_id)
                    .fetch_one(pool)
                    .await?;
            let items = sqlx::query_as(AssertSqlSafe(sql))
                .bind(device_id)
                .bind(limit.max(0))
                .bind(offset.max(0))
                .fetch_all(pool)
                .await?;
            Ok(Page { count, items })
        })
    }

    /// Deletes every device's traces recorded before `before` (the age bound); returns how
    /// many.
    pub async fn prune_traces(&self, before: DateTime<Utc>) -> Result<u64> {
        self.delete_by_time("DELETE FROM session_traces WHERE recorded < $1", before)
            .await
    }
}
