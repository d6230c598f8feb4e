//! Pending settings as durable tasks: queue, claim atomically, settle, retry with backoff.
//!
//! A claim is a lease: the task goes `in_flight` with `claimed_by` and `claim_expires_at`.
//! If the node dies before settling, the claim expires and the task is claimable again, so a
//! crash between claim and settle never loses or wedges a task.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use crate::backend::on_pool;
use crate::error::{Result, StoreError};
use crate::{Store, ts};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    Pending,
    InFlight,
    Done,
    Failed,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::InFlight => "in_flight",
            TaskState::Done => "done",
            TaskState::Failed => "failed",
        }
    }
}

impl TryFrom<String> for TaskState {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "pending" => Ok(TaskState::Pending),
            "in_flight" => Ok(TaskState::InFlight),
            "done" => Ok(TaskState::Done),
            "failed" => Ok(TaskState::Failed),
            other => Err(format!("unknown task state {other:?}")),
        }
    }
}

/// The kind of the tasks that install a firmware image (the session engine's `firmware`
/// intent). The store keeps a device's `firmware_image_is_pending` true exactly while it has
/// an open (pending or in-flight) task of this kind, in the same transaction as every change
/// to such a task: queued, settled (done or failed for good), cancelled, expired, withdrawn.
pub const FIRMWARE_TASK_KIND: &str = "firmware";

/// A task to queue. `kind` names the RPC or procedure (`set_parameter_values`, `reboot`,
/// `download`, ...); the session engine owns its meaning and the payload's shape.
///
/// The payload is stored and listed in clear: never put a secret in it. A `credentials`
/// task names the device's password instead; the engine opens it with
/// [`Store::device_password`] when it builds the SetParameterValues.
#[derive(Clone, Debug, PartialEq)]
pub struct NewTask {
    pub kind: String,
    /// The API's setting group (`firmware_upgrade`, `location_update`, ...).
    pub setting_group: String,
    pub payload: Value,
}

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct Task {
    pub id: i64,
    pub device_id: i64,
    /// Unique, at most 32 characters: the ParameterKey/CommandKey sent with this task's RPC.
    pub command_key: String,
    pub kind: String,
    pub payload: Json<Value>,
    pub setting_group: String,
    #[sqlx(try_from = "String")]
    pub state: TaskState,
    /// Claims so far (a crashed claim counts too, so a task that kills sessions ends).
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub claimed_by: Option<String>,
    pub claim_expires_at: Option<DateTime<Utc>>,
    pub fault_code: Option<i64>,
    pub fault_string: Option<String>,
    /// What the CPE reported beyond success or a fault ([`TaskOutcome::Reported`]): a
    /// queued-transfer list, a ChangeDUState's per-operation results. JSON; the session
    /// engine owns its shape.
    pub result: Option<Json<Value>>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

macro_rules! task_columns {
    () => {
        "id, device_id, command_key, kind, payload, setting_group, state, attempts, \
         next_attempt_at, claimed_by, claim_expires_at, fault_code, fault_string, result, created, \
         updated"
    };
}

const TASK_COLUMNS: &str = task_columns!();

/// The claim of a device's next due task, in creation order: a pending task whose
/// `next_attempt_at` has come, or an in-flight one whose claim expired. Binds: device id,
/// holder, now, claim expiry; then `$tail` (the guarded form binds the serial number as $5).
macro_rules! claim_sql {
    ($lock:literal, $tail:literal) => {
        concat!(
            "UPDATE tasks SET state = 'in_flight', attempts = attempts + 1, claimed_by = $2, \
             claim_expires_at = $4, updated = $3 \
             WHERE id = (SELECT id FROM tasks WHERE device_id = $1 \
             AND ((state = 'pending' AND next_attempt_at <= $3) \
             OR (state = 'in_flight' AND claim_expires_at <= $3)) ORDER BY id LIMIT 1",
            $lock,
            ")",
            $tail,
            " RETURNING ",
            task_columns!()
        )
    };
}

/// [`Store::claim_next_task`]: (SQLite, PostgreSQL).
const CLAIM: (&str, &str) = (
    claim_sql!("", ""),
    claim_sql!(" FOR UPDATE SKIP LOCKED", ""),
);

/// The session's claim: only while `$2` still holds the session lease of serial `$5`, so a
/// session whose lease went to another one never takes a task.
pub(crate) const CLAIM_UNDER_LEASE: (&str, &str) = (
    claim_sql!(
        "",
        " AND EXISTS (SELECT 1 FROM session_leases WHERE serial_number = $5 AND holder = $2)"
    ),
    claim_sql!(
        " FOR UPDATE SKIP LOCKED",
        " AND EXISTS (SELECT 1 FROM session_leases WHERE serial_number = $5 AND holder = $2)"
    ),
);

/// How a claimed task ended.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskOutcome {
    /// Applied. Stamps the device's `last_configuration`.
    Done,
    /// The CPE answered with a fault. Retried with backoff while `retryable` and attempts are
    /// left, else failed for good.
    Fault {
        code: i64,
        string: String,
        retryable: bool,
    },
    /// Not attempted after all (the session ended first): back to pending, due now.
    Release,
    /// Sent, but completes in a later session (Reboot, Download): stays in flight until an
    /// event settles it through [`Store::settle_task_by_command_key`], or until `until`.
    AwaitEvent { until: DateTime<Utc> },
    /// The CPE reported what happened (a queued-transfer list, the per-operation results of a
    /// ChangeDUState), kept as the task's `result`. Done without `fault`; with one, failed
    /// for good: the report is final, and a deployment-unit change is not idempotent.
    Reported {
        result: Value,
        fault: Option<(i64, String)>,
    },
    /// Withdrawn before it ran (a CancelTransfer of its transfer): failed for good, `reason`
    /// as its fault string and no fault code.
    Cancelled { reason: String },
}

/// Bounded retries with exponential backoff across sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: i64,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_secs(60),
            max_backoff: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// Delay before the next attempt after `attempts` attempts: base * 2^(attempts-1), capped.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        self.base_backoff
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.max_backoff)
    }
}

/// Inserts `tasks` for `device_id` inside the caller's transaction.
macro_rules! insert_tasks {
    ($conn:expr, $device_id:expr, $tasks:expr, $now:expr) => {
        for task in $tasks {
            sqlx::query(
                "INSERT INTO tasks (device_id, command_key, kind, payload, setting_group, state, \
                 attempts, next_attempt_at, created, updated) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6)",
            )
            .bind($device_id)
            .bind($crate::secret::new_command_key())
            .bind(&task.kind)
            .bind(sqlx::types::Json(&task.payload))
            .bind(&task.setting_group)
            .bind($now)
            .execute(&mut *$conn)
            .await?;
        }
    };
}
pub(crate) use insert_tasks;

/// Brings `firmware_image_is_pending` of device `$device_id` in line with its open firmware
/// tasks, inside the caller's transaction; `last_change` moves only when the flag does.
macro_rules! sync_firmware_pending {
    ($conn:expr, $device_id:expr, $now:expr) => {
        // the flag is wrong exactly when it equals "no open firmware task": flip it then
        sqlx::query(
            "UPDATE devices SET firmware_image_is_pending = NOT firmware_image_is_pending, \
             last_change = $3 WHERE id = $1 AND firmware_image_is_pending = NOT EXISTS \
             (SELECT 1 FROM tasks WHERE device_id = $1 AND kind = $2 \
             AND state IN ('pending', 'in_flight'))",
        )
        .bind($device_id)
        .bind($crate::task::FIRMWARE_TASK_KIND)
        .bind($now)
        .execute(&mut *$conn)
        .await?
    };
}
pub(crate) use sync_firmware_pending;

impl Store {
    /// Queues tasks for a device. `ForeignKey` (nothing written) if the device is gone.
    pub async fn enqueue_tasks(
        &self,
        device_id: i64,
        tasks: &[NewTask],
        now: DateTime<Utc>,
    ) -> Result<Vec<Task>> {
        let now = ts(now);
        on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            crate::device::check_refs!(tx, [("device", "devices", Some(device_id))])?;
            let before: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM tasks")
                .fetch_one(&mut *tx)
                .await?;
            insert_tasks!(tx, device_id, tasks, now);
            if tasks.iter().any(|t| t.kind == FIRMWARE_TASK_KIND) {
                sync_firmware_pending!(tx, device_id, now);
            }
            let sql = format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE device_id = $1 AND id > $2 ORDER BY id"
            );
            let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(device_id)
                .bind(before.unwrap_or(0))
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(rows)
        })
    }

    /// Claims the device's next due task in creation order: a pending task whose
    /// `next_attempt_at` has come, or an in-flight one whose claim expired. Atomic across
    /// nodes (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single writer on SQLite).
    pub async fn claim_next_task(
        &self,
        device_id: i64,
        holder: &str,
        now: DateTime<Utc>,
        claim_ttl: Duration,
    ) -> Result<Option<Task>> {
        let now = ts(now);
        let expires = ts(now + chrono::Duration::from_std(claim_ttl).unwrap_or_default());
        let sql = self.dialect().pick(CLAIM.0, CLAIM.1);
        on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            let task: Option<Task> = sqlx::query_as(sql)
                .bind(device_id)
                .bind(holder)
                .bind(now)
                .bind(expires)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(task)
        })
    }

    /// Settles a task this holder claimed. `NotFound` when the claim is no longer ours (it
    /// expired and another session took the task): the other session's result wins.
    pub async fn settle_task(
        &self,
        task_id: i64,
        holder: &str,
        outcome: &TaskOutcome,
        now: DateTime<Utc>,
    ) -> Result<TaskState> {
        self.settle(task_id, Some(holder), outcome, now).await
    }

    /// Settles an in-flight task by its CommandKey/ParameterKey, whoever claimed it: the
    /// `M Reboot` or `TransferComplete` of a later session completes it.
    pub async fn settle_task_by_command_key(
        &self,
        device_id: i64,
        command_key: &str,
        outcome: &TaskOutcome,
        now: DateTime<Utc>,
    ) -> Result<Option<Task>> {
        let id: Option<i64> = on_pool!(&self.backend, |pool, dialect| {
            sqlx::query_scalar(
                "SELECT id FROM tasks WHERE device_id = $1 AND command_key = $2 \
                 AND state = 'in_flight'",
            )
            .bind(device_id)
            .bind(command_key)
            .fetch_optional(pool)
            .await?
        });
        let Some(id) = id else { return Ok(None) };
        match self.settle(id, None, outcome, now).await {
            Ok(_) => self.task(id).await,
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn settle(
        &self,
        task_id: i64,
        holder: Option<&str>,
        outcome: &TaskOutcome,
        now: DateTime<Utc>,
    ) -> Result<TaskState> {
        let now = ts(now);
        let retry = self.retry;
        on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            let row: Option<(i64, i64, Option<String>, String)> = sqlx::query_as(dialect.pick(
                "SELECT device_id, attempts, claimed_by, kind FROM tasks \
                 WHERE id = $1 AND state = 'in_flight'",
                "SELECT device_id, attempts, claimed_by, kind FROM tasks \
                 WHERE id = $1 AND state = 'in_flight' FOR UPDATE",
            ))
            .bind(task_id)
            .fetch_optional(&mut *tx)
            .await?;
            let not_held = || StoreError::not_found(format!("in-flight claim on task {task_id}"));
            let (device_id, attempts, claimed_by, kind) = row.ok_or_else(not_held)?;
            if let Some(holder) = holder
                && claimed_by.as_deref() != Some(holder)
            {
                return Err(not_held());
            }
            let (state, next, claim_until, fault): (TaskState, DateTime<Utc>, _, _) = match outcome
            {
                TaskOutcome::Done => (TaskState::Done, now, None, None),
                TaskOutcome::Release => (TaskState::Pending, now, None, None),
                TaskOutcome::AwaitEvent { until } => {
                    (TaskState::InFlight, now, Some(ts(*until)), None)
                }
                TaskOutcome::Fault {
                    code,
                    string,
                    retryable,
                } => {
                    let fault = Some((Some(*code), string.clone()));
                    if *retryable && attempts < retry.max_attempts {
                        let delay =
                            chrono::Duration::from_std(retry.backoff(attempts)).unwrap_or_default();
                        (TaskState::Pending, ts(now + delay), None, fault)
                    } else {
                        (TaskState::Failed, now, None, fault)
                    }
                }
                TaskOutcome::Reported { fault: None, .. } => (TaskState::Done, now, None, None),
                TaskOutcome::Reported {
                    fault: Some((code, string)),
                    ..
                } => (
                    TaskState::Failed,
                    now,
                    None,
                    Some((Some(*code), string.clone())),
                ),
                TaskOutcome::Cancelled { reason } => {
                    (TaskState::Failed, now, None, Some((None, reason.clone())))
                }
            };
            let result = match outcome {
                TaskOutcome::Reported { result, .. } => Some(Json(result)),
                _ => None,
            };
            let claimed_by = match outcome {
                TaskOutcome::AwaitEvent { .. } => claimed_by,
                _ => None,
            };
            // a fault string without a code (a cancellation) also clears an earlier code
            let (code, string) = fault.map_or((None, None), |(c, s)| (c, Some(s)));
            let clear_code = code.is_none() && string.is_some();
            sqlx::query(
                "UPDATE tasks SET state = $2, next_attempt_at = $3, claimed_by = $4, \
                 claim_expires_at = $5, \
                 fault_code = CASE WHEN $10 THEN NULL ELSE COALESCE($6, fault_code) END, \
                 fault_string = COALESCE($7, fault_string), updated = $8, \
                 result = COALESCE($9, result) WHERE id = $1",
            )
            .bind(task_id)
            .bind(state.as_str())
            .bind(next)
            .bind(claimed_by)
            .bind(claim_until)
            .bind(code)
            .bind(string)
            .bind(now)
            .bind(result)
            .bind(clear_code)
            .execute(&mut *tx)
            .await?;
            if state == TaskState::Done {
                sqlx::query("UPDATE devices SET last_configuration = $2 WHERE id = $1")
                    .bind(device_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            if kind == FIRMWARE_TASK_KIND {
                // done (applied) or failed for good: no longer pending, unless another
                // firmware task of the device still is
                sync_firmware_pending!(tx, device_id, now);
            }
            tx.commit().await?;
            Ok(state)
        })
    }

    /// Returns every in-flight task whose claim expired to pending (a crashed node's work),
    /// or to failed when its attempts are used up. Returns how many were touched.
    pub async fn release_expired_tasks(&self, now: DateTime<Utc>) -> Result<u64> {
        let now = ts(now);
        let max = self.retry.max_attempts;
        on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            let touched: Vec<(i64, String, String)> = sqlx::query_as(
                "UPDATE tasks SET state = CASE WHEN attempts >= $2 THEN 'failed' ELSE 'pending' END, \
                 fault_string = CASE WHEN attempts >= $2 THEN 'claim expired' ELSE fault_string END, \
                 claimed_by = NULL, claim_expires_at = NULL, next_attempt_at = $1, updated = $1 \
                 WHERE state = 'in_flight' AND claim_expires_at <= $1 \
                 RETURNING device_id, kind, state",
            )
            .bind(now)
            .bind(max)
            .fetch_all(&mut *tx)
            .await?;
            // a firmware task that expired for good no longer keeps its device pending
            let mut devices: Vec<i64> = touched
                .iter()
                .filter(|(_, kind, state)| kind == FIRMWARE_TASK_KIND && state == "failed")
                .map(|(device_id, _, _)| *device_id)
                .collect();
            devices.sort_unstable();
            devices.dedup();
            for device_id in devices {
                sync_firmware_pending!(tx, device_id, now);
            }
            tx.commit().await?;
            Ok(touched.len() as u64)
        })
    }

    pub async fn task(&self, task_id: i64) -> Result<Option<Task>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1");
        on_pool!(&self.backend, |pool, dialect| {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(task_id)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// The device's most recent task of `kind` that ended done (with what the CPE reported
    /// as its `result`), if any.
    pub async fn last_done_task(&self, device_id: i64, kind: &str) -> Result<Option<Task>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE device_id = $1 AND state = 'done' \
             AND kind = $2 ORDER BY id DESC LIMIT 1"
        );
        on_pool!(&self.backend, |pool, dialect| {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(device_id)
                .bind(kind)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// The device's tasks, oldest first; with `open_only`, only pending and in-flight ones.
    pub async fn list_tasks(&self, device_id: i64, open_only: bool) -> Result<Vec<Task>> {
        let filter = if open_only {
            " AND state IN ('pending', 'in_flight')"
        } else {
            ""
        };
        let sql =
            format!("SELECT {TASK_COLUMNS} FROM tasks WHERE device_id = $1{filter} ORDER BY id");
        on_pool!(&self.backend, |pool, dialect| {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(device_id)
                .fetch_all(pool)
                .await?)
        })
    }

    /// Cancels (deletes) the device's task `task_id` while it is still pending: `true` when
    /// deleted, `false` (nothing changed) once it is in flight or settled, since the CPE may
    /// already be executing it. `NotFound` if the device has no such task. Cancelling a
    /// firmware task clears the device's `firmware_image_is_pending` in the same
    /// transaction, unless another firmware task of the device is still open.
    pub async fn cancel_task(
        &self,
        device_id: i64,
        task_id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let now = ts(now);
        on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            let row: Option<(String, String)> =
                sqlx::query_as("SELECT state, kind FROM tasks WHERE id = $1 AND device_id = $2")
                    .bind(task_id)
                    .bind(device_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let kind = match row {
                None => return Err(StoreError::not_found(format!("task {task_id}"))),
                Some((state, kind)) if state == "pending" => kind,
                Some(_) => return Ok(false),
            };
            sqlx::query("DELETE FROM tasks WHERE id = $1")
                .bind(task_id)
                .execute(&mut *tx)
                .await?;
            if kind == FIRMWARE_TASK_KIND {
                sync_firmware_pending!(tx, device_id, now);
            }
            tx.commit().await?;
            Ok(true)
        })
    }
}
