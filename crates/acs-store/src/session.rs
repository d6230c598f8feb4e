//! The store side of a CWMP session in as few transactions as possible.
//!
//! A session's writes come in a few shapes ([`SessionOp`]): its start (take the device's
//! lease, then upsert the Inform), each turn after the CPE has nothing more to say (claim the
//! next due task under the lease, or — nothing due — give the lease back, which ends the
//! session), and an early end (give the lease back). [`Store::session_ops`] applies any mix of
//! them, in order, in one transaction; the [`crate::InformWriter`] uses it to write a whole
//! batch of concurrent sessions' steps with one commit. The single calls below are the same
//! thing for one step.
//!
//! Lease operations run in submission order, so a release queued before a new session's start
//! of the same device frees the lease for it. The Informs of a batch are upserted after all
//! its lease operations; an Inform whose start lost the lease writes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::Store;
use crate::backend::Backend;
use crate::error::Result;
use crate::inform::{Inform, InformOutcome};
use crate::lease::{release_lease, take_lease};
use crate::task::{CLAIM_UNDER_LEASE, Task};

/// A session's start: the lease of the Inform's serial number for `holder`, then the Inform.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionStart {
    pub inform: Inform,
    /// Who holds the lease (node and session); the same string claims the session's tasks.
    pub holder: String,
    pub lease_ttl: Duration,
    /// The CPE forgot its parameters (BOOTSTRAP): the Inform's replace every stored one.
    pub replace_parameters: bool,
}

/// What a session start did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionStartOutcome {
    /// Another holder's lease is running: nothing was written.
    Busy,
    /// The lease was taken and the Inform applied. Unless `Accepted`, nothing was written and
    /// the lease was given back in the same transaction.
    Started(InformOutcome),
}

/// A session's turn: the CPE is ready for the ACS's next request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionTurn {
    pub device_id: i64,
    pub serial_number: String,
    pub holder: String,
    pub now: DateTime<Utc>,
    /// How long a claimed task stays ours.
    pub claim_ttl: Duration,
    /// The lease's new term when a task is claimed.
    pub lease_ttl: Duration,
}

/// One step of a session, for [`Store::session_ops`].
#[derive(Clone, Debug, PartialEq)]
pub enum SessionOp {
    /// A bare Inform upsert (no lease).
    Inform(Inform),
    Start(SessionStart),
    Turn(SessionTurn),
    /// Give the lease of `serial_number` up if `holder` still has it.
    Release {
        serial_number: String,
        holder: String,
    },
}

/// What a [`SessionOp`] did, in the same order.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionOpOutcome {
    Inform(InformOutcome),
    Start(SessionStartOutcome),
    /// `Some`: the claimed task, the lease renewed. `None`: nothing due and the lease given
    /// back (or no longer ours): the session is over.
    Turn(Option<Task>),
    Released,
}

/// Rows per multi-row lease statement (3 binds each).
pub(crate) const LEASE_CHUNK: usize = 500;

/// The lease key of an op that touches a lease.
pub(crate) fn lease_serial(op: &SessionOp) -> Option<&str> {
    match op {
        SessionOp::Inform(_) => None,
        SessionOp::Start(s) => Some(&s.inform.serial_number),
        SessionOp::Turn(t) => Some(&t.serial_number),
        SessionOp::Release { serial_number, .. } => Some(serial_number),
    }
}

/// Takes the leases of `$takes` (`&[(serial, holder, expires)]`, distinct serials) where they
/// are free, expired at `$now`, or already ours; evaluates to the serials won.
macro_rules! take_leases {
    ($conn:expr, $dialect:expr, $takes:expr, $now:expr) => {{
        let takes: &[(&str, &str, ::chrono::DateTime<::chrono::Utc>)] = $takes;
        let mut won: ::std::collections::HashSet<String> =
            ::std::collections::HashSet::with_capacity(takes.len());
        for chunk in takes.chunks($crate::session::LEASE_CHUNK) {
            let mut sql = String::from(
                "INSERT INTO session_leases (serial_number, holder, expires_at) VALUES ",
            );
            let mut n = 0;
            for i in 0..chunk.len() {
                sql.push_str(if i > 0 { ", (" } else { "(" });
                for k in 0..3 {
                    if k > 0 {
                        sql.push_str(", ");
                    }
                    n += 1;
                    $dialect.placeholder(&mut sql, n);
                }
                sql.push(')');
            }
            sql.push_str(
                " ON CONFLICT (serial_number) DO UPDATE SET holder = excluded.holder, \
                 expires_at = excluded.expires_at \
                 WHERE session_leases.expires_at <= ",
            );
            $dialect.placeholder(&mut sql, n + 1);
            sql.push_str(" OR session_leases.holder = excluded.holder RETURNING serial_number");
            let mut q = sqlx::query_scalar(::sqlx::AssertSqlSafe(sql));
            for (serial, holder, expires) in chunk {
                q = q.bind(*serial).bind(*holder).bind(*expires);
            }
            let rows: Vec<String> = q.bind($now).fetch_all(&mut *$conn).await?;
            won.extend(rows);
        }
        won
    }};
}

/// Gives up the leases of `$releases` (`&[(serial, holder)]`) still held by those holders.
macro_rules! release_leases {
    ($conn:expr, $dialect:expr, $releases:expr) => {{
        let releases: &[(&str, &str)] = $releases;
        for chunk in releases.chunks($crate::session::LEASE_CHUNK) {
            let mut sql = String::from(
                "DELETE FROM session_leases WHERE (serial_number, holder) IN (VALUES ",
            );
            for i in 0..chunk.len() {
                sql.push_str(if i > 0 { ", (" } else { "(" });
                $dialect.placeholder(&mut sql, 2 * i + 1);
                sql.push_str(", ");
                $dialect.placeholder(&mut sql, 2 * i + 2);
                sql.push(')');
            }
            sql.push(')');
            let mut q = sqlx::query(::sqlx::AssertSqlSafe(sql));
            for (serial, holder) in chunk {
                q = q.bind(*serial).bind(*holder);
            }
            q.execute(&mut *$conn).await?;
        }
    }};
}

/// Ends the turns of `$turns` (`&[(serial, holder, device_id)]`) whose device has no task due
/// at `$now`: their leases, where still held by those holders, are deleted in one statement
/// that also makes the look for due tasks. Evaluates to the serials whose sessions ended; the
/// other turns have work (or no lease) and go one by one.
macro_rules! end_idle_turns {
    ($conn:expr, $dialect:expr, $turns:expr, $now:expr) => {{
        let turns: &[(&str, &str, i64)] = $turns;
        let mut ended: ::std::collections::HashSet<String> =
            ::std::collections::HashSet::with_capacity(turns.len());
        for chunk in turns.chunks($crate::session::LEASE_CHUNK) {
            let mut sql = String::from(
                "DELETE FROM session_leases WHERE (serial_number, holder) IN \
                 (SELECT v.column1, v.column2 FROM (VALUES ",
            );
            let mut n = 0;
            for i in 0..chunk.len() {
                sql.push_str(if i > 0 { ", (" } else { "(" });
                for k in 0..3 {
                    if k > 0 {
                        sql.push_str(", ");
                    }
                    n += 1;
                    $dialect.placeholder(&mut sql, n);
                    // PostgreSQL types a VALUES list from its parameters: say what they are
                    if $dialect == $crate::backend::Dialect::Postgres {
                        sql.push_str(if k == 2 { "::bigint" } else { "::text" });
                    }
                }
                sql.push(')');
            }
            sql.push_str(
                ") AS v WHERE NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.device_id = v.column3 \
                 AND ((tasks.state = 'pending' AND tasks.next_attempt_at <= ",
            );
            $dialect.placeholder(&mut sql, n + 1);
            sql.push_str(") OR (tasks.state = 'in_flight' AND tasks.claim_expires_at <= ");
            $dialect.placeholder(&mut sql, n + 2);
            sql.push_str(")))) RETURNING serial_number");
            let mut q = sqlx::query_scalar(::sqlx::AssertSqlSafe(sql));
            for (serial, holder, device_id) in chunk {
                q = q.bind(*serial).bind(*holder).bind(*device_id);
            }
            let rows: Vec<String> = q.bind($now).bind($now).fetch_all(&mut *$conn).await?;
            ended.extend(rows);
        }
        ended
    }};
}

/// One turn on its own: claim under the lease and renew it, or give the lease back.
macro_rules! turn_one {
    ($conn:expr, $dialect:expr, $turn:expr) => {{
        let t: &$crate::session::SessionTurn = $turn;
        let now = $crate::ts(t.now);
        let claim_until =
            $crate::ts(now + chrono::Duration::from_std(t.claim_ttl).unwrap_or_default());
        let task: Option<$crate::task::Task> =
            sqlx::query_as($dialect.pick(CLAIM_UNDER_LEASE.0, CLAIM_UNDER_LEASE.1))
                .bind(t.device_id)
                .bind(&t.holder)
                .bind(now)
                .bind(claim_until)
                .bind(&t.serial_number)
                .fetch_optional(&mut *$conn)
                .await?;
        if task.is_some() {
            // the claim proved the lease ours a moment ago: this renews it
            let _renewed = take_lease!($conn, &t.serial_number, &t.holder, now, t.lease_ttl);
        } else {
            release_lease!($conn, &t.serial_number, &t.holder);
        }
        task
    }};
}

/// Applies `$ops` (`&[&SessionOp]`) inside the caller's transaction; evaluates to their
/// outcomes, in order.
///
/// Lease operations on a serial number that occurs once in the batch (the usual case: many
/// devices, one step each) are independent of each other and run as a few multi-row
/// statements: one upsert for all starts, one delete that ends every turn with nothing due
/// (its look for due tasks included), one delete for all releases.
/// Operations on a serial number that occurs more than once run one by one, in order.
macro_rules! apply_session_ops {
    ($conn:expr, $dialect:expr, $ops:expr) => {{
        use $crate::session::{SessionOp, SessionOpOutcome, SessionStartOutcome};
        let dialect: $crate::backend::Dialect = $dialect;
        let ops: &[&SessionOp] = $ops;
        let mut done: Vec<Option<SessionOpOutcome>> = ops.iter().map(|_| None).collect();
        let mut seen: ::std::collections::HashMap<&str, usize> =
            ::std::collections::HashMap::with_capacity(ops.len());
        for op in ops {
            if let Some(serial) = $crate::session::lease_serial(op) {
                *seen.entry(serial).or_default() += 1;
            }
        }
        let single = |op: &SessionOp| {
            $crate::session::lease_serial(op).is_some_and(|s| seen.get(s) == Some(&1))
        };
        // the batch's earliest `now` decides expiry for all starts: never takes a lease
        // that is still running for any of them
        let mut takes: Vec<(&str, &str, ::chrono::DateTime<::chrono::Utc>)> = Vec::new();
        let mut take_now: Option<::chrono::DateTime<::chrono::Utc>> = None;
        let mut turns: Vec<(&str, &str, i64)> = Vec::new();
        let mut turn_now: Option<::chrono::DateTime<::chrono::Utc>> = None;
        for op in ops.iter().filter(|op| single(op)) {
            match op {
                SessionOp::Start(s) => {
                    let now = $crate::ts(s.inform.now);
                    let expires = $crate::ts(
                        now + chrono::Duration::from_std(s.lease_ttl).unwrap_or_default(),
                    );
                    takes.push((&s.inform.serial_number, &s.holder, expires));
                    take_now = Some(take_now.map_or(now, |n| n.min(now)));
                }
                SessionOp::Turn(t) => {
                    turns.push((&t.serial_number, &t.holder, t.device_id));
                    let now = $crate::ts(t.now);
                    turn_now = Some(turn_now.map_or(now, |n| n.max(now)));
                }
                _ => {}
            }
        }
        let won = match take_now {
            Some(now) => take_leases!($conn, dialect, &takes, now),
            None => ::std::collections::HashSet::new(),
        };
        // the latest `now` of the turns: a turn ends here only if nothing is due even then;
        // the others look again one by one, at their own time
        let ended = match turn_now {
            Some(now) => end_idle_turns!($conn, dialect, &turns, now),
            None => ::std::collections::HashSet::new(),
        };
        let mut releases: Vec<(&str, &str)> = Vec::new();
        let mut informs: Vec<&$crate::inform::Inform> = Vec::new();
        let mut replace: Vec<bool> = Vec::new();
        let mut inform_op: Vec<usize> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let alone = single(op);
            match op {
                SessionOp::Inform(inform) => {
                    informs.push(inform);
                    replace.push(false);
                    inform_op.push(i);
                }
                SessionOp::Start(s) => {
                    let inform = &s.inform;
                    let ours = if alone {
                        won.contains(&inform.serial_number)
                    } else {
                        take_lease!(
                            $conn,
                            &inform.serial_number,
                            &s.holder,
                            inform.now,
                            s.lease_ttl
                        )
                    };
                    if ours {
                        informs.push(inform);
                        replace.push(s.replace_parameters);
                        inform_op.push(i);
                    } else {
                        done[i] = Some(SessionOpOutcome::Start(SessionStartOutcome::Busy));
                    }
                }
                SessionOp::Turn(t) if alone && ended.contains(&t.serial_number) => {
                    done[i] = Some(SessionOpOutcome::Turn(None));
                }
                SessionOp::Turn(t) => {
                    done[i] = Some(SessionOpOutcome::Turn(turn_one!($conn, dialect, t)));
                }
                SessionOp::Release {
                    serial_number,
                    holder,
                } => {
                    if alone {
                        releases.push((serial_number, holder));
                    } else {
                        release_lease!($conn, serial_number, holder);
                    }
                    done[i] = Some(SessionOpOutcome::Released);
                }
            }
        }
        if !releases.is_empty() {
            release_leases!($conn, dialect, &releases);
        }
        if !informs.is_empty() {
            let outcomes = $crate::inform::apply_informs!($conn, dialect, &informs, &replace);
            let mut refused: Vec<(&str, &str)> = Vec::new();
            for (&i, outcome) in inform_op.iter().zip(outcomes) {
                done[i] = Some(match ops[i] {
                    SessionOp::Start(s) => {
                        if !matches!(outcome, $crate::inform::InformOutcome::Accepted { .. }) {
                            refused.push((&s.inform.serial_number, &s.holder));
                        }
                        SessionOpOutcome::Start(SessionStartOutcome::Started(outcome))
                    }
                    _ => SessionOpOutcome::Inform(outcome),
                });
            }
            if !refused.is_empty() {
                release_leases!($conn, dialect, &refused);
            }
        }
        done.into_iter()
            .map(|d| d.expect("every session op has an outcome"))
            .collect::<Vec<SessionOpOutcome>>()
    }};
}

/// A pooled PostgreSQL connection a writer flusher keeps between batches.
pub(crate) struct HeldConnection(sqlx::pool::PoolConnection<sqlx::Postgres>);

impl HeldConnection {
    /// Applies session steps in one transaction on this connection: [`Store::session_ops`].
    pub(crate) async fn session_ops(
        &mut self,
        ops: &[&SessionOp],
    ) -> Result<Vec<SessionOpOutcome>> {
        use sqlx::Connection as _;
        let dialect = crate::Dialect::Postgres;
        let mut tx = (*self.0).begin_with(dialect.begin_write()).await?;
        let outcomes = apply_session_ops!(tx, dialect, ops);
        tx.commit().await?;
        Ok(outcomes)
    }
}

impl Store {
    /// A PostgreSQL connection taken out of the pool for as long as the caller keeps it;
    /// `None` on SQLite, whose writer has a connection of its own ([`Store::sqlite_session_ops`]).
    pub(crate) async fn hold_connection(&self) -> Result<Option<HeldConnection>> {
        Ok(match &self.backend {
            Backend::Sqlite(..) => None,
            Backend::Postgres(pool) => Some(HeldConnection(pool.acquire().await?)),
        })
    }

    /// SQLite only: applies session steps synchronously on the calling thread, on the
    /// session writer's own connection (see `sqlite_sync`). `None` on PostgreSQL.
    pub(crate) fn sqlite_session_ops(
        &self,
        ops: &[&SessionOp],
    ) -> Option<Result<Vec<SessionOpOutcome>>> {
        match &self.backend {
            Backend::Sqlite(_, sync) => Some(sync.session_ops(ops)),
            Backend::Postgres(_) => None,
        }
    }

    /// Applies session steps in order, in one transaction: all are written or none. Each gets
    /// its own outcome (a start may be `Busy` while its neighbours go ahead).
    pub async fn session_ops(&self, ops: &[&SessionOp]) -> Result<Vec<SessionOpOutcome>> {
        match &self.backend {
            Backend::Sqlite(_, sync) => {
                let sync = sync.clone();
                let owned: Vec<SessionOp> = ops.iter().map(|op| (*op).clone()).collect();
                tokio::task::spawn_blocking(move || {
                    let ops: Vec<&SessionOp> = owned.iter().collect();
                    sync.session_ops(&ops)
                })
                .await
                .map_err(|_| crate::error::StoreError::WriterStopped)?
            }
            Backend::Postgres(pool) => {
                let dialect = crate::Dialect::Postgres;
                let mut tx = pool.begin_with(dialect.begin_write()).await?;
                let outcomes = apply_session_ops!(tx, dialect, ops);
                tx.commit().await?;
                Ok(outcomes)
            }
        }
    }

    /// Starts a session: takes the lease, then upserts the Inform, in one transaction.
    pub async fn start_session(&self, start: &SessionStart) -> Result<SessionStartOutcome> {
        let op = SessionOp::Start(start.clone());
        match self.session_ops(&[&op]).await?.pop() {
            Some(SessionOpOutcome::Start(outcome)) => Ok(outcome),
            other => unreachable!("a start answered {other:?}"),
        }
    }

    /// A session's turn: claims the device's next due task while `holder` has the lease (and
    /// renews the lease), or, nothing due, gives the lease back: the session is over. One
    /// transaction, so a task queued before it commits is claimed, and one queued after finds
    /// the lease free (its connection request opens a new session).
    pub async fn session_turn(&self, turn: &SessionTurn) -> Result<Option<Task>> {
        let op = SessionOp::Turn(turn.clone());
        match self.session_ops(&[&op]).await?.pop() {
            Some(SessionOpOutcome::Turn(task)) => Ok(task),
            other => unreachable!("a turn answered {other:?}"),
        }
    }
}
