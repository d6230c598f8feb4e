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

use std::collections::HashMap;
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

/// A lease's expiry: `now + ttl`, cut like every stored time.
pub(crate) fn lease_expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    crate::ts(now + chrono::Duration::from_std(ttl).unwrap_or_default())
}

/// How a batch's lease operations go. `alone[i]`: the serial of op `i` occurs once in the
/// batch, so its lease operation joins a multi-row statement (the others run one by one, in
/// order). `takes`: the starts' leases (serial, holder, expiry), taken as of `take_now`, the
/// batch's earliest `now` (never takes a lease still running for any of them). `turns`:
/// (serial, holder, device id), ended where nothing is due even at `turn_now`, the turns'
/// latest `now` (the others look again one by one, at their own time).
pub(crate) struct LeasePlan<'a> {
    pub alone: Vec<bool>,
    pub takes: Vec<(&'a str, &'a str, DateTime<Utc>)>,
    pub take_now: Option<DateTime<Utc>>,
    pub turns: Vec<(&'a str, &'a str, i64)>,
    pub turn_now: Option<DateTime<Utc>>,
}

pub(crate) fn plan_leases<'a>(ops: &[&'a SessionOp]) -> LeasePlan<'a> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(ops.len());
    for op in ops {
        if let Some(serial) = lease_serial(op) {
            *seen.entry(serial).or_default() += 1;
        }
    }
    let alone: Vec<bool> = ops
        .iter()
        .map(|op| lease_serial(op).is_some_and(|s| seen.get(s) == Some(&1)))
        .collect();
    let mut plan = LeasePlan {
        alone,
        takes: Vec::new(),
        take_now: None,
        turns: Vec::new(),
        turn_now: None,
    };
    for (op, _) in ops.iter().zip(&plan.alone).filter(|(_, alone)| **alone) {
        match op {
            SessionOp::Start(s) => {
                let now = crate::ts(s.inform.now);
                plan.takes.push((
                    &s.inform.serial_number,
                    &s.holder,
                    lease_expiry(now, s.lease_ttl),
                ));
                plan.take_now = Some(plan.take_now.map_or(now, |n| n.min(now)));
            }
            SessionOp::Turn(t) => {
                plan.turns.push((&t.serial_number, &t.holder, t.device_id));
                let now = crate::ts(t.now);
                plan.turn_now = Some(plan.turn_now.map_or(now, |n| n.max(now)));
            }
            _ => {}
        }
    }
    plan
}

/// Puts the Informs' outcomes (`outcomes[k]` belongs to op `inform_op[k]`) in their ops'
/// places; evaluates to the (serial, holder) of starts whose Inform was refused: their
/// leases go back in the same transaction.
pub(crate) fn place_inform_outcomes<'a>(
    ops: &[&'a SessionOp],
    inform_op: &[usize],
    outcomes: Vec<InformOutcome>,
    done: &mut [Option<SessionOpOutcome>],
) -> Vec<(&'a str, &'a str)> {
    let mut refused = Vec::new();
    for (&i, outcome) in inform_op.iter().zip(outcomes) {
        done[i] = Some(match ops[i] {
            SessionOp::Start(s) => {
                if !matches!(outcome, InformOutcome::Accepted { .. }) {
                    refused.push((s.inform.serial_number.as_str(), s.holder.as_str()));
                }
                SessionOpOutcome::Start(SessionStartOutcome::Started(outcome))
            }
            _ => SessionOpOutcome::Inform(outcome),
        });
    }
    refused
}

/// What a lease operation that runs on its own (see [`LeasePlan`]) did.
pub(crate) enum OneByOne {
    /// A start's lease: whether it is ours.
    Take(bool),
    /// A turn: the claimed task, or `None` and the lease given back.
    Turn(Option<Task>),
    Released,
}

/// Whether op `i` runs its lease operation on its own, in order: it is not `alone`, or it is
/// a turn that `ended` (the multi-row end of idle turns) did not end.
pub(crate) fn runs_alone(
    op: &SessionOp,
    alone: bool,
    ended: &std::collections::HashSet<String>,
) -> bool {
    match op {
        SessionOp::Inform(_) => false,
        SessionOp::Turn(t) => !alone || !ended.contains(&t.serial_number),
        SessionOp::Start(_) | SessionOp::Release { .. } => !alone,
    }
}

/// A batch after its lease operations: the outcomes known so far, the leases to give back
/// in one statement, and the Informs to upsert (`replace`: a BOOTSTRAP's parameters replace
/// the stored ones; `inform_op`: whose op each Inform is).
pub(crate) struct Assembled<'a> {
    pub done: Vec<Option<SessionOpOutcome>>,
    pub releases: Vec<(&'a str, &'a str)>,
    pub informs: Vec<&'a Inform>,
    pub replace: Vec<bool>,
    pub inform_op: Vec<usize>,
}

/// Puts together what the batch's lease operations did: the multi-row ones (`won`,
/// `ended`) and those that ran on their own (`one_by_one[i]`, see [`runs_alone`]).
pub(crate) fn assemble<'a>(
    ops: &[&'a SessionOp],
    alone: &[bool],
    won: &std::collections::HashSet<String>,
    one_by_one: Vec<Option<OneByOne>>,
) -> Assembled<'a> {
    let mut a = Assembled {
        done: ops.iter().map(|_| None).collect(),
        releases: Vec::new(),
        informs: Vec::new(),
        replace: Vec::new(),
        inform_op: Vec::new(),
    };
    for (i, (op, ran)) in ops.iter().zip(one_by_one).enumerate() {
        match (op, ran) {
            (SessionOp::Inform(inform), _) => {
                a.informs.push(inform);
                a.replace.push(false);
                a.inform_op.push(i);
            }
            (SessionOp::Start(s), ran) => {
                let ours = match ran {
                    Some(OneByOne::Take(ours)) => ours,
                    _ => alone[i] && won.contains(&s.inform.serial_number),
                };
                if ours {
                    a.informs.push(&s.inform);
                    a.replace.push(s.replace_parameters);
                    a.inform_op.push(i);
                } else {
                    a.done[i] = Some(SessionOpOutcome::Start(SessionStartOutcome::Busy));
                }
            }
            (SessionOp::Turn(_), Some(OneByOne::Turn(task))) => {
                a.done[i] = Some(SessionOpOutcome::Turn(task));
            }
            // ended by the multi-row end of idle turns
            (SessionOp::Turn(_), _) => a.done[i] = Some(SessionOpOutcome::Turn(None)),
            (SessionOp::Release { .. }, Some(_)) => a.done[i] = Some(SessionOpOutcome::Released),
            (
                SessionOp::Release {
                    serial_number,
                    holder,
                },
                None,
            ) => {
                a.releases.push((serial_number, holder));
                a.done[i] = Some(SessionOpOutcome::Released);
            }
        }
    }
    a
}

/// The batch lease statements' fixed text; placeholders go between the pieces.
pub(crate) const TAKE_LEASES: &str =
    "INSERT INTO session_leases (serial_number, holder, expires_at) VALUES ";
pub(crate) const TAKE_LEASES_IF_EXPIRED: &str = " ON CONFLICT (serial_number) DO UPDATE SET \
     holder = excluded.holder, expires_at = excluded.expires_at \
     WHERE session_leases.expires_at <= ";
pub(crate) const TAKE_LEASES_END: &str =
    " OR session_leases.holder = excluded.holder RETURNING serial_number";
pub(crate) const RELEASE_LEASES: &str =
    "DELETE FROM session_leases WHERE (serial_number, holder) IN (VALUES ";
pub(crate) const END_IDLE_TURNS: &str = "DELETE FROM session_leases WHERE (serial_number, holder) \
     IN (SELECT v.column1, v.column2 FROM (VALUES ";
pub(crate) const END_IDLE_TURNS_DUE: &str = ") AS v WHERE NOT EXISTS (SELECT 1 FROM tasks \
     WHERE tasks.device_id = v.column3 \
     AND ((tasks.state = 'pending' AND tasks.next_attempt_at <= ";
pub(crate) const END_IDLE_TURNS_EXPIRED: &str = ") OR (tasks.state = 'in_flight' \
     AND tasks.accepted_at IS NULL AND tasks.claim_expires_at <= ";
pub(crate) const END_IDLE_TURNS_END: &str = ")))) RETURNING serial_number";

/// Takes the leases of `$takes` (`&[(serial, holder, expires)]`, distinct serials) where they
/// are free, expired at `$now`, or already ours; evaluates to the serials won.
macro_rules! take_leases {
    ($conn:expr, $dialect:expr, $takes:expr, $now:expr) => {{
        let takes: &[(&str, &str, ::chrono::DateTime<::chrono::Utc>)] = $takes;
        let mut won: ::std::collections::HashSet<String> =
            ::std::collections::HashSet::with_capacity(takes.len());
        for chunk in takes.chunks($crate::session::LEASE_CHUNK) {
            let mut sql = String::from($crate::session::TAKE_LEASES);
            let n = $dialect.value_rows(&mut sql, chunk.len(), 3, &[]);
            sql.push_str($crate::session::TAKE_LEASES_IF_EXPIRED);
            $dialect.placeholder(&mut sql, n + 1);
            sql.push_str($crate::session::TAKE_LEASES_END);
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
            let mut sql = String::from($crate::session::RELEASE_LEASES);
            $dialect.value_rows(&mut sql, chunk.len(), 2, &[]);
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
            let mut sql = String::from($crate::session::END_IDLE_TURNS);
            let n = $dialect.value_rows(&mut sql, chunk.len(), 3, &["text", "text", "bigint"]);
            sql.push_str($crate::session::END_IDLE_TURNS_DUE);
            $dialect.placeholder(&mut sql, n + 1);
            sql.push_str($crate::session::END_IDLE_TURNS_EXPIRED);
            $dialect.placeholder(&mut sql, n + 2);
            sql.push_str($crate::session::END_IDLE_TURNS_END);
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
    ($conn:expr, $dialect:expr, $guard:expr, $ops:expr) => {{
        use $crate::session::{OneByOne, SessionOp, SessionOpOutcome};
        let dialect: $crate::backend::Dialect = $dialect;
        let ops: &[&SessionOp] = $ops;
        let plan = $crate::session::plan_leases(ops);
        let won = match plan.take_now {
            Some(now) => take_leases!($conn, dialect, &plan.takes, now),
            None => ::std::collections::HashSet::new(),
        };
        let ended = match plan.turn_now {
            Some(now) => end_idle_turns!($conn, dialect, &plan.turns, now),
            None => ::std::collections::HashSet::new(),
        };
        // the lease operations that run on their own, in order
        let mut one_by_one = Vec::with_capacity(ops.len());
        for (op, &alone) in ops.iter().zip(&plan.alone) {
            let ran = if !$crate::session::runs_alone(op, alone, &ended) {
                None
            } else {
                Some(match op {
                    SessionOp::Start(s) => OneByOne::Take(take_lease!(
                        $conn,
                        &s.inform.serial_number,
                        &s.holder,
                        s.inform.now,
                        s.lease_ttl
                    )),
                    SessionOp::Turn(t) => OneByOne::Turn(turn_one!($conn, dialect, t)),
                    SessionOp::Release {
                        serial_number,
                        holder,
                    } => {
                        release_lease!($conn, serial_number, holder);
                        OneByOne::Released
                    }
                    SessionOp::Inform(_) => unreachable!("an Inform takes no lease"),
                })
            };
            one_by_one.push(ran);
        }
        let $crate::session::Assembled {
            mut done,
            releases,
            informs,
            replace,
            inform_op,
        } = $crate::session::assemble(ops, &plan.alone, &won, one_by_one);
        if !releases.is_empty() {
            release_leases!($conn, dialect, &releases);
        }
        if !informs.is_empty() {
            let outcomes =
                $crate::inform::apply_informs!($conn, dialect, $guard, &informs, &replace);
            let refused =
                $crate::session::place_inform_outcomes(ops, &inform_op, outcomes, &mut done);
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
pub(crate) struct HeldConnection(
    sqlx::pool::PoolConnection<sqlx::Postgres>,
    std::sync::Arc<crate::param_limits::ParameterGuard>,
);

impl HeldConnection {
    /// Applies session steps in one transaction on this connection: [`Store::session_ops`].
    pub(crate) async fn session_ops(
        &mut self,
        ops: &[&SessionOp],
    ) -> Result<Vec<SessionOpOutcome>> {
        use sqlx::Connection as _;
        let dialect = crate::Dialect::Postgres;
        let mut tx = (*self.0).begin_with(dialect.begin_write()).await?;
        let outcomes = apply_session_ops!(tx, dialect, &self.1, ops);
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
            Backend::Postgres(pool) => {
                Some(HeldConnection(pool.acquire().await?, self.params.clone()))
            }
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
                let outcomes = apply_session_ops!(tx, dialect, &self.params, ops);
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
