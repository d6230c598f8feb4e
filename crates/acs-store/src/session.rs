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
//!
//! This module plans a batch and holds the statements' text; each backend runs them once:
//! `pg_session.rs` through sqlx on PostgreSQL, `sqlite_sync.rs` through rusqlite on SQLite.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::Store;
use crate::backend::{Backend, Dialect};
use crate::error::Result;
use crate::inform::{DeviceUpdate, EventRow, Inform, InformOutcome, KnownDevice, ParamRow};
use crate::lease::{EndIdleTurns, TakeLeases};
use crate::param_limits::ParameterGuard;
use crate::task::Task;

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
pub(crate) fn runs_alone(op: &SessionOp, alone: bool, ended: &HashSet<String>) -> bool {
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
    won: &HashSet<String>,
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

/// A turn's claim: the device's next due task, claimed by the turn's holder from `now` until
/// `until`, while the holder has the device's lease.
pub(crate) struct Claim<'a> {
    pub turn: &'a SessionTurn,
    pub now: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// The statements of the session writes on one backend's open transaction, bound and run:
/// through sqlx on PostgreSQL (`pg_session.rs`), through rusqlite on SQLite
/// (`sqlite_sync.rs`). Which statements run, in which order and in which chunks is decided
/// once, for both, by the drivers that take any `SessionTx`: [`apply_session_ops`],
/// `inform::apply_informs`, `inform::upsert_parameters`, `param_limits::cap_parameter_rows`.
/// The statements' text comes from the builders beside the drivers, for `DIALECT`.
///
/// SQLite's implementation never suspends: its writer thread runs a driver to completion in
/// one poll (`sqlite_sync::run_sync`).
pub(crate) trait SessionTx {
    const DIALECT: Dialect;

    /// [`TakeLeases::sql`]: the serials won.
    async fn take_leases(&mut self, takes: TakeLeases<'_>) -> Result<Vec<String>>;
    /// `lease::release_leases_sql`.
    async fn release_leases(&mut self, releases: &[(&str, &str)]) -> Result<()>;
    /// [`EndIdleTurns::sql`]: the serials whose sessions ended.
    async fn end_idle_turns(&mut self, turns: EndIdleTurns<'_>) -> Result<Vec<String>>;
    /// [`crate::task::CLAIM_UNDER_LEASE`] for a [`Claim`].
    async fn claim_under_lease(&mut self, claim: Claim<'_>) -> Result<Option<Task>>;

    /// Takes or renews one lease until `expires`: whether it is ours.
    async fn take_lease(
        &mut self,
        serial: &str,
        holder: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let rows = &[(serial, holder, expires)];
        let won = self.take_leases(TakeLeases { rows, now }).await?;
        Ok(!won.is_empty())
    }

    /// Gives one lease up if `holder` still has it.
    async fn release_lease(&mut self, serial: &str, holder: &str) -> Result<()> {
        self.release_leases(&[(serial, holder)]).await
    }

    /// `inform::lookup_devices_sql`: the devices on record among the Informs' serials.
    async fn lookup_devices(&mut self, informs: &[&Inform]) -> Result<Vec<(String, KnownDevice)>>;
    /// `inform::insert_devices_sql`: (id, serial) of each new device.
    async fn insert_devices(&mut self, informs: &[&Inform]) -> Result<Vec<(i64, String)>>;
    /// `inform::update_devices_sql`, then `inform::mark_up_sql`.
    async fn update_devices(&mut self, updates: &[DeviceUpdate<'_>]) -> Result<()>;
    /// `inform::insert_events_sql`.
    async fn insert_events(&mut self, events: &[EventRow<'_>]) -> Result<()>;
    /// Whether the device exists (a parameter write names it).
    async fn device_exists(&mut self, device_id: i64) -> Result<bool>;
    /// [`crate::inform::DELETE_PARAMETERS`]: a BOOTSTRAP's device forgets its parameters.
    async fn delete_parameters(&mut self, device_id: i64) -> Result<()>;

    /// `param_limits::existing_sql`: which of the rows' (device, path) pairs are stored.
    async fn existing_parameters(&mut self, rows: &[ParamRow<'_>]) -> Result<Vec<(i64, String)>>;
    /// `param_limits::count_sql`: (device, rows held) of each device.
    async fn count_parameters(&mut self, devices: &[i64]) -> Result<Vec<(i64, i64)>>;
    /// Upserts parameter rows (deduplicated, within the limits); an unchanged row is left
    /// alone.
    async fn upsert_parameters(&mut self, rows: &[ParamRow<'_>]) -> Result<()>;
}

/// Applies session steps inside `tx`'s transaction; their outcomes, in order.
///
/// Lease operations on a serial number that occurs once in the batch (the usual case: many
/// devices, one step each) are independent of each other and run as a few multi-row
/// statements: one upsert for all starts, one delete that ends every turn with nothing due
/// (its look for due tasks included), one delete for all releases. Operations on a serial
/// number that occurs more than once run one by one, in order. Then the Informs, as a few
/// multi-row statements.
pub(crate) async fn apply_session_ops<T: SessionTx>(
    tx: &mut T,
    guard: &ParameterGuard,
    ops: &[&SessionOp],
) -> Result<Vec<SessionOpOutcome>> {
    let plan = plan_leases(ops);
    let mut won = HashSet::with_capacity(plan.takes.len());
    if let Some(now) = plan.take_now {
        for chunk in plan.takes.chunks(LEASE_CHUNK) {
            won.extend(tx.take_leases(TakeLeases { rows: chunk, now }).await?);
        }
    }
    let mut ended = HashSet::with_capacity(plan.turns.len());
    if let Some(now) = plan.turn_now {
        for chunk in plan.turns.chunks(LEASE_CHUNK) {
            ended.extend(tx.end_idle_turns(EndIdleTurns { rows: chunk, now }).await?);
        }
    }
    // the lease operations that run on their own, in order
    let mut one_by_one = Vec::with_capacity(ops.len());
    for (op, &alone) in ops.iter().zip(&plan.alone) {
        let ran = if !runs_alone(op, alone, &ended) {
            None
        } else {
            Some(match op {
                SessionOp::Start(s) => {
                    let now = crate::ts(s.inform.now);
                    let expires = lease_expiry(now, s.lease_ttl);
                    let ours = tx
                        .take_lease(&s.inform.serial_number, &s.holder, expires, now)
                        .await?;
                    OneByOne::Take(ours)
                }
                SessionOp::Turn(t) => OneByOne::Turn(turn_one(tx, t).await?),
                SessionOp::Release {
                    serial_number,
                    holder,
                } => {
                    tx.release_lease(serial_number, holder).await?;
                    OneByOne::Released
                }
                SessionOp::Inform(_) => unreachable!("an Inform takes no lease"),
            })
        };
        one_by_one.push(ran);
    }
    let Assembled {
        mut done,
        releases,
        informs,
        replace,
        inform_op,
    } = assemble(ops, &plan.alone, &won, one_by_one);
    release_leases(tx, &releases).await?;
    if !informs.is_empty() {
        let outcomes = crate::inform::apply_informs(tx, guard, &informs, &replace).await?;
        let refused = place_inform_outcomes(ops, &inform_op, outcomes, &mut done);
        release_leases(tx, &refused).await?;
    }
    Ok(done
        .into_iter()
        .map(|d| d.expect("every session op has an outcome"))
        .collect())
}

async fn release_leases<T: SessionTx>(tx: &mut T, releases: &[(&str, &str)]) -> Result<()> {
    for chunk in releases.chunks(LEASE_CHUNK) {
        tx.release_leases(chunk).await?;
    }
    Ok(())
}

/// One turn on its own: claim under the lease and renew it, or give the lease back.
async fn turn_one<T: SessionTx>(tx: &mut T, t: &SessionTurn) -> Result<Option<Task>> {
    let now = crate::ts(t.now);
    let until = lease_expiry(now, t.claim_ttl);
    let task = tx
        .claim_under_lease(Claim {
            turn: t,
            now,
            until,
        })
        .await?;
    if task.is_some() {
        // the claim proved the lease ours a moment ago: this renews it
        let expires = lease_expiry(now, t.lease_ttl);
        tx.take_lease(&t.serial_number, &t.holder, expires, now)
            .await?;
    } else {
        tx.release_lease(&t.serial_number, &t.holder).await?;
    }
    Ok(task)
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
        let mut tx = (*self.0).begin().await?;
        let outcomes = apply_session_ops(&mut *tx, &self.1, ops).await?;
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
                let owned: Vec<SessionOp> = ops.iter().map(|op| (*op).clone()).collect();
                sync.write_blocking(move |tx, guard| {
                    let ops: Vec<&SessionOp> = owned.iter().collect();
                    crate::sqlite_sync::run_sync(apply_session_ops(tx, guard, &ops))
                })
                .await
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let outcomes = apply_session_ops(&mut *tx, &self.params, ops).await?;
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
