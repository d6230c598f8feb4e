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

text_enum! {
    pub enum TaskState("task state") {
        Pending = "pending",
        /// Claimed: its RPC is out, or the CPE accepted it and the task waits for the event that
        /// completes it (`accepted_at` set).
        InFlight = "in_flight",
        Done = "done",
        Failed = "failed",
        /// The CPE accepted the RPC and never reported it done within the wait: not sent again.
        Unconfirmed = "unconfirmed",
        /// Withdrawn after its RPC went out (by the operator, or by a CancelTransfer); the
        /// fault string says what the CPE may already have received.
        Cancelled = "cancelled",
    }
}

impl TaskState {
    /// Pending or in flight: what `pending_settings` shows.
    pub fn is_open(self) -> bool {
        matches!(self, TaskState::Pending | TaskState::InFlight)
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
    /// How it combines with an open task of the same kind of the device.
    pub merge: Merge,
}

/// How a task being queued combines with the device's open tasks of the same kind. The
/// session engine's task contract picks it per kind; the store applies it in the queuing
/// transaction (the device row locked on PostgreSQL), so concurrent API nodes merge too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Merge {
    /// Always a task of its own.
    #[default]
    Never,
    /// Nothing new while one is open, pending or in flight (a Reboot the CPE has not yet
    /// reported done covers a second wish to reboot).
    IntoOpen,
    /// Nothing new while one is still pending.
    IntoPending,
    /// The payload of a pending one never sent yet is replaced: the newest value wins.
    ReplacePending,
}

/// A task as [`Store::queue_tasks`] left it: new, or the open one it merged into.
#[derive(Clone, Debug, PartialEq)]
pub struct Queued {
    pub task: Task,
    /// `false`: merged into an open task of the same kind (`task` is that one).
    pub created: bool,
}

/// What [`Store::cancel_task`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Cancellation {
    /// Still pending and never sent: deleted, as if never queued.
    Withdrawn,
    /// Its RPC had gone out: kept as `cancelled`, its fault string saying what the CPE may
    /// already have received; it is never sent again.
    Cancelled(Task),
    /// It had already ended (done, failed, unconfirmed, cancelled): nothing changed.
    Ended(TaskState),
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
    /// Times the session ended right after this task's RPC was sent, without its answer; at
    /// [`RetryPolicy::max_unanswered`] the task fails.
    pub unanswered: i64,
    /// When the CPE's response accepted an RPC that completes in a later session (Reboot,
    /// FactoryReset, a transfer, ChangeDUState). From then on the task waits for its event
    /// and is never claimed again: when the wait runs out it ends `unconfirmed`.
    pub accepted_at: Option<DateTime<Utc>>,
}

macro_rules! task_columns {
    () => {
        "id, device_id, command_key, kind, payload, setting_group, state, attempts, \
         next_attempt_at, claimed_by, claim_expires_at, fault_code, fault_string, result, created, \
         updated, unanswered, accepted_at"
    };
}

const TASK_COLUMNS: &str = task_columns!();

/// The claim of a device's next due task, in creation order: a pending task whose
/// `next_attempt_at` has come, or an in-flight one whose claim expired before the CPE
/// accepted it (an accepted one waits for its event, and its expiry ends it: never claimed).
/// Binds: device id, holder, now, claim expiry; then `$tail` (the guarded form binds the
/// serial number as $5).
macro_rules! claim_sql {
    ($lock:literal, $tail:literal) => {
        concat!(
            "UPDATE tasks SET state = 'in_flight', attempts = attempts + 1, claimed_by = $2, \
             claim_expires_at = $4, accepted_at = NULL, updated = $3 \
             WHERE id = (SELECT id FROM tasks WHERE device_id = $1 \
             AND ((state = 'pending' AND next_attempt_at <= $3) \
             OR (state = 'in_flight' AND accepted_at IS NULL AND claim_expires_at <= $3)) \
             ORDER BY id LIMIT 1",
            $lock,
            ")",
            $tail,
            " RETURNING ",
            task_columns!()
        )
    };
}

/// The fault string of a task the expiry sweep ends `unconfirmed`.
pub const UNCONFIRMED: &str = "the CPE accepted the RPC but never reported its completion \
     within the wait; not sent again (queue it anew to retry)";

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
    /// The session ended right after the RPC was sent, without its answer (dropped, timed
    /// out, replaced by a new Inform): back to pending, due now, counted in `unanswered`; at
    /// [`RetryPolicy::max_unanswered`] failed for good, saying so.
    Unanswered,
    /// Accepted by the CPE, completes in a later session (Reboot, Download): stays in flight
    /// until an event settles it through [`Store::settle_task_by_command_key`], or until
    /// `until`, when the expiry sweep ends it `unconfirmed`. Never claimed again.
    AwaitEvent { until: DateTime<Utc> },
    /// The CPE reported what happened (a queued-transfer list, the per-operation results of a
    /// ChangeDUState), kept as the task's `result`. Done without `fault`; with one, failed
    /// for good: the report is final, and a deployment-unit change is not idempotent.
    Reported {
        result: Value,
        fault: Option<(i64, String)>,
    },
    /// Withdrawn before it ran (a CancelTransfer of its transfer): `cancelled`, `reason` as
    /// its fault string and no fault code.
    Cancelled { reason: String },
}

/// Bounded retries with exponential backoff across sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: i64,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Sessions that may end right after the task's RPC was sent before it fails: a CPE that
    /// crashes on an RPC reconnects, and sending it again crash-loops it (PROTOCOL §16.5).
    pub max_unanswered: i64,
}

/// The default of [`RetryPolicy::max_unanswered`].
pub const MAX_UNANSWERED: i64 = 3;

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_secs(60),
            max_backoff: Duration::from_secs(3600),
            max_unanswered: MAX_UNANSWERED,
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

/// Queues `tasks` for `device_id` inside the caller's transaction, each merged into an open
/// task of its kind as its [`Merge`] says; evaluates to `(task id, created)` per task, in
/// order. The caller holds the device row (PostgreSQL) or the write lock (SQLite), so a
/// concurrent queuing of the same intent sees this one.
macro_rules! insert_tasks {
    ($conn:expr, $device_id:expr, $tasks:expr, $now:expr) => {{
        let mut queued: Vec<(i64, bool)> = Vec::new();
        for task in $tasks {
            let open: Option<&str> = match task.merge {
                $crate::task::Merge::Never => None,
                $crate::task::Merge::IntoOpen => Some(
                    "SELECT id FROM tasks WHERE device_id = $1 AND kind = $2 \
                     AND state IN ('pending', 'in_flight') ORDER BY id LIMIT 1",
                ),
                $crate::task::Merge::IntoPending => Some(
                    "SELECT id FROM tasks WHERE device_id = $1 AND kind = $2 \
                     AND state = 'pending' ORDER BY id LIMIT 1",
                ),
                $crate::task::Merge::ReplacePending => Some(
                    "SELECT id FROM tasks WHERE device_id = $1 AND kind = $2 \
                     AND state = 'pending' AND attempts = 0 ORDER BY id LIMIT 1",
                ),
            };
            let found: Option<i64> = match open {
                Some(sql) => {
                    sqlx::query_scalar(sql)
                        .bind($device_id)
                        .bind(&task.kind)
                        .fetch_optional(&mut *$conn)
                        .await?
                }
                None => None,
            };
            if let Some(id) = found {
                if task.merge == $crate::task::Merge::ReplacePending {
                    sqlx::query(
                        "UPDATE tasks SET payload = $2, setting_group = $3, updated = $4 \
                         WHERE id = $1",
                    )
                    .bind(id)
                    .bind(sqlx::types::Json(&task.payload))
                    .bind(&task.setting_group)
                    .bind($now)
                    .execute(&mut *$conn)
                    .await?;
                }
                queued.push((id, false));
                continue;
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO tasks (device_id, command_key, kind, payload, setting_group, state, \
                 attempts, next_attempt_at, created, updated) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6) RETURNING id",
            )
            .bind($device_id)
            .bind($crate::secret::new_command_key())
            .bind(&task.kind)
            .bind(sqlx::types::Json(&task.payload))
            .bind(&task.setting_group)
            .bind($now)
            .fetch_one(&mut *$conn)
            .await?;
            queued.push((id, true));
        }
        queued
    }};
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
    /// Queues tasks for a device, merged as each one's [`Merge`] says: the tasks as queued
    /// (a merged one is the open task it joined). `ForeignKey` (nothing written) if the
    /// device is gone.
    pub async fn enqueue_tasks(
        &self,
        device_id: i64,
        tasks: &[NewTask],
        now: DateTime<Utc>,
    ) -> Result<Vec<Task>> {
        Ok(self
            .queue_tasks(device_id, tasks, now)
            .await?
            .into_iter()
            .map(|q| q.task)
            .collect())
    }

    /// [`Store::enqueue_tasks`], saying of each task whether it was created or merged.
    pub async fn queue_tasks(
        &self,
        device_id: i64,
        tasks: &[NewTask],
        now: DateTime<Utc>,
    ) -> Result<Vec<Queued>> {
        let now = ts(now);
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1");
        on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            // the device row, locked on PostgreSQL: queuings of one device run one after
            // the other, so each sees what the other merged into (SQLite's write lock does it)
            let found: Option<i64> = sqlx::query_scalar(dialect.pick(
                "SELECT id FROM devices WHERE id = $1",
                "SELECT id FROM devices WHERE id = $1 FOR UPDATE",
            ))
            .bind(device_id)
            .fetch_optional(&mut *tx)
            .await?;
            if found.is_none() {
                return Err(StoreError::ForeignKey {
                    field: "device",
                    value: device_id,
                });
            }
            let ids = insert_tasks!(tx, device_id, tasks, now);
            if tasks.iter().any(|t| t.kind == FIRMWARE_TASK_KIND) {
                sync_firmware_pending!(tx, device_id, now);
            }
            let mut queued = Vec::with_capacity(ids.len());
            for (id, created) in ids {
                let task: Task = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                queued.push(Queued { task, created });
            }
            tx.commit().await?;
            Ok(queued)
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

    /// Settles a task by its CommandKey/ParameterKey, whoever claimed it: the `M Reboot`,
    /// `TransferComplete` or ParameterKey of a later session completes it. Any open task
    /// whose RPC went out counts: in flight, or back to pending because the session that
    /// sent it ended before the answer (the CPE may have carried it out all the same).
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
                 AND (state = 'in_flight' OR (state = 'pending' AND attempts > 0))",
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

    /// Settles task `task_id`: by its claim's `holder` (in flight and still theirs), or, with
    /// no holder, by an event (open, and sent at least once).
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
            type Row = (
                i64,
                i64,
                Option<String>,
                String,
                String,
                i64,
                Option<DateTime<Utc>>,
            );
            let row: Option<Row> = sqlx::query_as(dialect.pick(
                "SELECT device_id, attempts, claimed_by, kind, state, unanswered, accepted_at \
                 FROM tasks WHERE id = $1",
                "SELECT device_id, attempts, claimed_by, kind, state, unanswered, accepted_at \
                 FROM tasks WHERE id = $1 FOR UPDATE",
            ))
            .bind(task_id)
            .fetch_optional(&mut *tx)
            .await?;
            let not_held = || StoreError::not_found(format!("in-flight claim on task {task_id}"));
            let (device_id, attempts, claimed_by, kind, state, unanswered, accepted_at) =
                row.ok_or_else(not_held)?;
            let settleable = match holder {
                Some(holder) => state == "in_flight" && claimed_by.as_deref() == Some(holder),
                None => state == "in_flight" || (state == "pending" && attempts > 0),
            };
            if !settleable {
                return Err(not_held());
            }
            let mut unanswered = unanswered;
            let (state, next, claim_until, fault): (TaskState, DateTime<Utc>, _, _) = match outcome
            {
                TaskOutcome::Done => (TaskState::Done, now, None, None),
                TaskOutcome::Release => (TaskState::Pending, now, None, None),
                TaskOutcome::Unanswered => {
                    unanswered += 1;
                    if unanswered >= retry.max_unanswered {
                        let why = format!(
                            "the session ended {unanswered} times right after this RPC was sent"
                        );
                        (TaskState::Failed, now, None, Some((None, why)))
                    } else {
                        (TaskState::Pending, now, None, None)
                    }
                }
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
                TaskOutcome::Cancelled { reason } => (
                    TaskState::Cancelled,
                    now,
                    None,
                    Some((None, reason.clone())),
                ),
            };
            let result = match outcome {
                TaskOutcome::Reported { result, .. } => Some(Json(result)),
                _ => None,
            };
            let claimed_by = match outcome {
                TaskOutcome::AwaitEvent { .. } => claimed_by,
                _ => None,
            };
            // accepted now; forgotten when it goes back to pending (a new send, a new answer);
            // kept in the record once it ended
            let accepted_at = match (outcome, state) {
                (TaskOutcome::AwaitEvent { .. }, _) => Some(now),
                (_, TaskState::Pending) => None,
                _ => accepted_at,
            };
            // a fault string without a code (a cancellation) also clears an earlier code
            let (code, string) = fault.map_or((None, None), |(c, s)| (c, Some(s)));
            let clear_code = code.is_none() && string.is_some();
            sqlx::query(
                "UPDATE tasks SET state = $2, next_attempt_at = $3, claimed_by = $4, \
                 claim_expires_at = $5, \
                 fault_code = CASE WHEN $10 THEN NULL ELSE COALESCE($6, fault_code) END, \
                 fault_string = COALESCE($7, fault_string), updated = $8, \
                 result = COALESCE($9, result), unanswered = $11, accepted_at = $12 \
                 WHERE id = $1",
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
            .bind(unanswered)
            .bind(accepted_at)
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
                // done (applied) or ended for good: no longer pending, unless another
                // firmware task of the device still is
                sync_firmware_pending!(tx, device_id, now);
            }
            tx.commit().await?;
            Ok(state)
        })
    }

    /// Ends every in-flight task whose claim ran out: back to pending (a crashed node's
    /// work), or failed when its attempts are used up; one the CPE had accepted and never
    /// reported done ends `unconfirmed`, never sent again. Returns how many were touched.
    pub async fn release_expired_tasks(&self, now: DateTime<Utc>) -> Result<u64> {
        let now = ts(now);
        let max = self.retry.max_attempts;
        on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            let touched: Vec<(i64, String, String)> = sqlx::query_as(
                "UPDATE tasks SET \
                 state = CASE WHEN accepted_at IS NOT NULL THEN 'unconfirmed' \
                 WHEN attempts >= $2 THEN 'failed' ELSE 'pending' END, \
                 fault_string = CASE WHEN accepted_at IS NOT NULL THEN $3 \
                 WHEN attempts >= $2 THEN 'claim expired' ELSE fault_string END, \
                 claimed_by = NULL, claim_expires_at = NULL, next_attempt_at = $1, updated = $1 \
                 WHERE state = 'in_flight' AND claim_expires_at <= $1 \
                 RETURNING device_id, kind, state",
            )
            .bind(now)
            .bind(max)
            .bind(UNCONFIRMED)
            .fetch_all(&mut *tx)
            .await?;
            // a firmware task that ended no longer keeps its device pending
            let mut devices: Vec<i64> = touched
                .iter()
                .filter(|(_, kind, state)| kind == FIRMWARE_TASK_KIND && state != "pending")
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

    /// Cancels the device's task `task_id`. One never sent is deleted ([`Cancellation::Withdrawn`]).
    /// One whose RPC went out (in flight, accepted and awaiting its event, or back to pending
    /// after that) is kept as `cancelled` with a fault string saying what the CPE may already
    /// have received, and is never sent again; the session that sent it can no longer settle
    /// it. An ended task is left as it is. `NotFound` if the device has no such task.
    /// Cancelling a firmware task clears the device's `firmware_image_is_pending` in the same
    /// transaction, unless another firmware task of the device is still open.
    pub async fn cancel_task(
        &self,
        device_id: i64,
        task_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Cancellation> {
        let now = ts(now);
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1");
        on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            let row: Option<(String, String, i64, Option<DateTime<Utc>>)> =
                sqlx::query_as(dialect.pick(
                    "SELECT state, kind, attempts, accepted_at FROM tasks \
                     WHERE id = $1 AND device_id = $2",
                    "SELECT state, kind, attempts, accepted_at FROM tasks \
                     WHERE id = $1 AND device_id = $2 FOR UPDATE",
                ))
                .bind(task_id)
                .bind(device_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((state, kind, attempts, accepted_at)) = row else {
                return Err(StoreError::not_found(format!("task {task_id}")));
            };
            let state = TaskState::try_from(state).map_err(|e| StoreError::Invalid {
                what: "task state",
                reason: e,
            })?;
            let note = match (state, accepted_at) {
                (TaskState::Pending, _) if attempts == 0 => None,
                (TaskState::Pending, _) => Some(format!(
                    "cancelled by the operator before it was sent again; its RPC went out \
                     {attempts} time(s) before, so the CPE may have received it"
                )),
                (TaskState::InFlight, Some(_)) => Some(
                    "cancelled by the operator after the CPE accepted its RPC; the CPE may \
                     still carry it out"
                        .to_owned(),
                ),
                (TaskState::InFlight, None) => Some(
                    "cancelled by the operator while its RPC was out; the CPE may have \
                     received it"
                        .to_owned(),
                ),
                (ended, _) => return Ok(Cancellation::Ended(ended)),
            };
            match &note {
                None => {
                    sqlx::query("DELETE FROM tasks WHERE id = $1")
                        .bind(task_id)
                        .execute(&mut *tx)
                        .await?;
                }
                Some(note) => {
                    sqlx::query(
                        "UPDATE tasks SET state = 'cancelled', claimed_by = NULL, \
                         claim_expires_at = NULL, fault_code = NULL, fault_string = $2, \
                         updated = $3 WHERE id = $1",
                    )
                    .bind(task_id)
                    .bind(note)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            if kind == FIRMWARE_TASK_KIND {
                sync_firmware_pending!(tx, device_id, now);
            }
            let outcome = match note {
                None => Cancellation::Withdrawn,
                Some(_) => Cancellation::Cancelled(
                    sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(task_id)
                        .fetch_one(&mut *tx)
                        .await?,
                ),
            };
            tx.commit().await?;
            Ok(outcome)
        })
    }

    /// The device's task `task_id`, if it has one.
    pub async fn device_task(&self, device_id: i64, task_id: i64) -> Result<Option<Task>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 AND device_id = $2");
        on_pool!(&self.backend, |pool, dialect| {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(task_id)
                .bind(device_id)
                .fetch_optional(pool)
                .await?)
        })
    }
}
