//! SQLite session writes, synchronously on the calling thread.
//!
//! sqlx runs every SQLite statement on a worker thread of its own and hands each result row
//! back through a channel; a batch of session steps is a dozen such round trips, and on a
//! busy 2-core node each hand-off waits for the scheduler, so the single writer spent most
//! of a batch waiting rather than writing. Here the session steps of [`SessionOp`] run
//! through rusqlite on one connection owned by the caller (the writer thread, or a blocking
//! task for a one-off step): the whole batch is one uninterrupted run of SQLite calls.
//!
//! It writes the same rows in the same order as the backend-generic batch in `session.rs`
//! and `inform.rs` (PostgreSQL still uses that one): leases first (one upsert for the
//! starts, one delete that ends every idle turn, one for releases), claims one by one, then
//! the Informs as a few multi-row statements. Times are bound as the same RFC 3339 text sqlx
//! writes, so the two paths compare and sort stored times alike.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use rusqlite::types::{Type, Value};
use rusqlite::{Connection, OpenFlags, Row, Transaction, TransactionBehavior, params_from_iter};

use crate::Dialect;
use crate::error::Result;
use crate::inform::{
    DELETE_PARAMETERS, EVENT_CHUNK, INSERT_BINDS, INSERT_CHUNK, INSERT_DEVICE_ROW_END,
    INSERT_DEVICES, INSERT_DEVICES_END, INSERT_EVENTS, INSERT_PARAMETERS, Inform, InformOutcome,
    Known, KnownDevice, LOOKUP_CHUNK, LOOKUP_DEVICES, MARK_UP, MARK_UP_END, PARAMETER_CHUNK,
    ParamRow, UPDATE_BINDS, UPDATE_CHUNK, UPDATE_DEVICES, UPDATE_DEVICES_END, UPSERT_TAIL,
    dedup_rows, inform_rows, inserts, plan_informs, reported, settle_plans, unique_identifier,
};
use crate::lease::{RELEASE_LEASE, TAKE_LEASE};
use crate::param_limits::{COUNT_CHUNK, EXISTING_CHUNK, ParameterGuard, count_sql, existing_sql};
use crate::session::{
    Assembled, END_IDLE_TURNS, END_IDLE_TURNS_DUE, END_IDLE_TURNS_END, END_IDLE_TURNS_EXPIRED,
    LEASE_CHUNK, OneByOne, RELEASE_LEASES, SessionOp, SessionOpOutcome, SessionTurn, TAKE_LEASES,
    TAKE_LEASES_END, TAKE_LEASES_IF_EXPIRED, assemble, lease_expiry, place_inform_outcomes,
    plan_leases, runs_alone,
};
use crate::task::{CLAIM_UNDER_LEASE, Task, TaskState};
use crate::ts;

/// The session writer's own SQLite connection, opened on first use and kept.
#[derive(Debug)]
pub(crate) struct SyncSqlite {
    path: PathBuf,
    conn: Mutex<Option<Connection>>,
    /// The store's parameter limits (`param_limits.rs`).
    params: Arc<ParameterGuard>,
}

impl SyncSqlite {
    pub(crate) fn new(path: &Path, params: Arc<ParameterGuard>) -> SyncSqlite {
        SyncSqlite {
            path: path.to_owned(),
            conn: Mutex::new(None),
            params,
        }
    }

    /// Applies session steps in order, in one transaction: all are written or none.
    /// Blocks the calling thread for the whole batch.
    pub(crate) fn session_ops(&self, ops: &[&SessionOp]) -> Result<Vec<SessionOpOutcome>> {
        let mut guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            *guard = Some(open(&self.path)?);
        }
        let conn = guard.as_mut().expect("opened above");
        // a failed batch rolls back when the transaction drops
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcomes = apply_session_ops(&tx, &self.params, ops)?;
        tx.commit()?;
        Ok(outcomes)
    }

    /// Closes the connection (the store is closing); a later call opens a new one.
    pub(crate) fn close(&self) {
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

/// Opens the database file the pool uses, with the pool's settings (WAL is a property of the
/// file, set when the pool first opened it).
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // temp_store: the statement journal of a multi-row upsert stays in memory instead of a
    // temporary file written on every batch
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY;",
    )?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// A time as sqlx binds it on SQLite (RFC 3339, `+00:00`, as many fraction digits as needed).
fn time(t: DateTime<Utc>) -> Value {
    Value::Text(ts(t).to_rfc3339_opts(SecondsFormat::AutoSi, false))
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn opt_text(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |s| Value::Text(s.clone()))
}

/// Runs a statement whose RETURNING yields one text column; collects it.
fn returning_texts(
    tx: &Transaction<'_>,
    sql: &str,
    args: &[Value],
) -> rusqlite::Result<Vec<String>> {
    let mut stmt = tx.prepare_cached(sql)?;
    let rows = stmt.query_map(params_from_iter(args), |row| row.get::<_, String>(0))?;
    rows.collect()
}

/// The session steps of a batch inside `tx`; their outcomes, in order. The same plan as
/// `apply_session_ops!` in `session.rs`: lease operations on a serial number that occurs
/// once in the batch run as multi-row statements, the others one by one, in order.
fn apply_session_ops(
    tx: &Transaction<'_>,
    params: &ParameterGuard,
    ops: &[&SessionOp],
) -> Result<Vec<SessionOpOutcome>> {
    let plan = plan_leases(ops);
    let won = match plan.take_now {
        Some(now) => take_leases(tx, &plan.takes, now)?,
        None => HashSet::new(),
    };
    let ended = match plan.turn_now {
        Some(now) => end_idle_turns(tx, &plan.turns, now)?,
        None => HashSet::new(),
    };
    let mut one_by_one = Vec::with_capacity(ops.len());
    for (op, &alone) in ops.iter().zip(&plan.alone) {
        let ran = if !runs_alone(op, alone, &ended) {
            None
        } else {
            Some(match op {
                SessionOp::Start(s) => {
                    let now = ts(s.inform.now);
                    let expires = lease_expiry(now, s.lease_ttl);
                    OneByOne::Take(take_lease(
                        tx,
                        &s.inform.serial_number,
                        &s.holder,
                        expires,
                        now,
                    )?)
                }
                SessionOp::Turn(t) => OneByOne::Turn(turn_one(tx, t)?),
                SessionOp::Release {
                    serial_number,
                    holder,
                } => {
                    release_lease(tx, serial_number, holder)?;
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
    release_leases(tx, &releases)?;
    if !informs.is_empty() {
        let outcomes = apply_informs(tx, params, &informs, &replace)?;
        let refused = place_inform_outcomes(ops, &inform_op, outcomes, &mut done);
        release_leases(tx, &refused)?;
    }
    Ok(done
        .into_iter()
        .map(|d| d.expect("every session op has an outcome"))
        .collect())
}

/// Takes or renews one lease until `expires`; whether it is ours.
fn take_lease(
    tx: &Transaction<'_>,
    serial: &str,
    holder: &str,
    expires: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut stmt = tx.prepare_cached(TAKE_LEASE)?;
    let won = stmt
        .query(rusqlite::named_params! {
            "$1": serial, "$2": holder, "$3": time(expires), "$4": time(now),
        })?
        .next()?
        .is_some();
    Ok(won)
}

fn release_lease(tx: &Transaction<'_>, serial: &str, holder: &str) -> Result<()> {
    tx.prepare_cached(RELEASE_LEASE)?
        .execute(rusqlite::named_params! { "$1": serial, "$2": holder })?;
    Ok(())
}

/// Takes the leases of `takes` (distinct serials) where free, expired at `now`, or ours;
/// the serials won.
fn take_leases(
    tx: &Transaction<'_>,
    takes: &[(&str, &str, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Result<HashSet<String>> {
    let mut won = HashSet::with_capacity(takes.len());
    for chunk in takes.chunks(LEASE_CHUNK) {
        let mut sql = String::from(TAKE_LEASES);
        Dialect::Sqlite.value_rows(&mut sql, chunk.len(), 3, &[]);
        sql.push_str(TAKE_LEASES_IF_EXPIRED);
        sql.push('?');
        sql.push_str(TAKE_LEASES_END);
        let mut args = Vec::with_capacity(chunk.len() * 3 + 1);
        for (serial, holder, expires) in chunk {
            args.extend([text(serial), text(holder), time(*expires)]);
        }
        args.push(time(now));
        won.extend(returning_texts(tx, &sql, &args)?);
    }
    Ok(won)
}

/// Gives up the leases of `releases` still held by those holders.
fn release_leases(tx: &Transaction<'_>, releases: &[(&str, &str)]) -> Result<()> {
    for chunk in releases.chunks(LEASE_CHUNK) {
        let mut sql = String::from(RELEASE_LEASES);
        Dialect::Sqlite.value_rows(&mut sql, chunk.len(), 2, &[]);
        sql.push(')');
        let args: Vec<Value> = chunk
            .iter()
            .flat_map(|(serial, holder)| [text(serial), text(holder)])
            .collect();
        tx.prepare_cached(&sql)?.execute(params_from_iter(&args))?;
    }
    Ok(())
}

/// Ends the turns of `turns` (serial, holder, device id) whose device has nothing due at
/// `now`, deleting their leases in one statement per chunk; the serials whose sessions ended.
fn end_idle_turns(
    tx: &Transaction<'_>,
    turns: &[(&str, &str, i64)],
    now: DateTime<Utc>,
) -> Result<HashSet<String>> {
    let mut ended = HashSet::with_capacity(turns.len());
    for chunk in turns.chunks(LEASE_CHUNK) {
        let mut sql = String::from(END_IDLE_TURNS);
        Dialect::Sqlite.value_rows(&mut sql, chunk.len(), 3, &[]);
        sql.push_str(END_IDLE_TURNS_DUE);
        sql.push('?');
        sql.push_str(END_IDLE_TURNS_EXPIRED);
        sql.push('?');
        sql.push_str(END_IDLE_TURNS_END);
        let mut args = Vec::with_capacity(chunk.len() * 3 + 2);
        for (serial, holder, device_id) in chunk {
            args.extend([text(serial), text(holder), Value::Integer(*device_id)]);
        }
        args.extend([time(now), time(now)]);
        ended.extend(returning_texts(tx, &sql, &args)?);
    }
    Ok(ended)
}

/// One turn on its own: claim under the lease and renew it, or give the lease back.
fn turn_one(tx: &Transaction<'_>, t: &SessionTurn) -> Result<Option<Task>> {
    let now = ts(t.now);
    let claim_until = lease_expiry(now, t.claim_ttl);
    let task = {
        let mut stmt = tx.prepare_cached(CLAIM_UNDER_LEASE.0)?;
        let mut rows = stmt.query(rusqlite::named_params! {
            "$1": t.device_id, "$2": t.holder, "$3": time(now), "$4": time(claim_until),
            "$5": t.serial_number,
        })?;
        match rows.next()? {
            Some(row) => Some(task_from_row(row)?),
            None => None,
        }
    };
    if task.is_some() {
        // the claim proved the lease ours a moment ago: this renews it
        let expires = lease_expiry(now, t.lease_ttl);
        take_lease(tx, &t.serial_number, &t.holder, expires, now)?;
    } else {
        release_lease(tx, &t.serial_number, &t.holder)?;
    }
    Ok(task)
}

/// A stored time: RFC 3339 as written by either path, or SQLite's own `YYYY-MM-DD HH:MM:SS`.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    ["%F %T%.f", "%FT%T%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc())
}

fn conversion(
    idx: usize,
    ty: Type,
    err: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, err.into())
}

fn time_at(row: &Row<'_>, column: &str) -> rusqlite::Result<DateTime<Utc>> {
    opt_time_at(row, column)?.ok_or(rusqlite::Error::InvalidColumnType(
        0,
        column.to_owned(),
        Type::Null,
    ))
}

fn opt_time_at(row: &Row<'_>, column: &str) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let s: Option<String> = row.get(column)?;
    s.map(|s| {
        parse_time(&s)
            .ok_or_else(|| conversion(0, Type::Text, format!("{column}: not a time: {s:?}")))
    })
    .transpose()
}

/// A task row of `task_columns!`, read by column name.
fn task_from_row(row: &Row<'_>) -> rusqlite::Result<Task> {
    let payload: String = row.get("payload")?;
    let payload = serde_json::from_str(&payload).map_err(|e| conversion(0, Type::Text, e))?;
    let state: String = row.get("state")?;
    let state = TaskState::try_from(state).map_err(|e| conversion(0, Type::Text, e))?;
    Ok(Task {
        id: row.get("id")?,
        device_id: row.get("device_id")?,
        command_key: row.get("command_key")?,
        kind: row.get("kind")?,
        payload: sqlx::types::Json(payload),
        setting_group: row.get("setting_group")?,
        state,
        attempts: row.get("attempts")?,
        next_attempt_at: time_at(row, "next_attempt_at")?,
        claimed_by: row.get("claimed_by")?,
        claim_expires_at: opt_time_at(row, "claim_expires_at")?,
        fault_code: row.get("fault_code")?,
        fault_string: row.get("fault_string")?,
        result: row
            .get::<_, Option<String>>("result")?
            .map(|r| serde_json::from_str(&r).map_err(|e| conversion(0, Type::Text, e)))
            .transpose()?
            .map(sqlx::types::Json),
        created: time_at(row, "created")?,
        updated: time_at(row, "updated")?,
        unanswered: row.get("unanswered")?,
        accepted_at: opt_time_at(row, "accepted_at")?,
    })
}

/// Upserts a batch of Informs inside `tx`: the same statements as `apply_informs!` in
/// `inform.rs`. `replace[i]`: the i-th Inform's parameters replace every stored one.
fn apply_informs(
    tx: &Transaction<'_>,
    params: &ParameterGuard,
    informs: &[&Inform],
    replace: &[bool],
) -> Result<Vec<InformOutcome>> {
    let mut known = Known::with_capacity(informs.len());
    for chunk in informs.chunks(LOOKUP_CHUNK) {
        let mut sql = String::from(LOOKUP_DEVICES);
        for i in 0..chunk.len() {
            sql.push_str(if i > 0 { ", ?" } else { "?" });
        }
        sql.push(')');
        let args: Vec<Value> = chunk.iter().map(|i| text(&i.serial_number)).collect();
        let mut stmt = tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(&args), |row| {
            Ok((
                row.get::<_, String>(3)?,
                KnownDevice {
                    id: row.get(0)?,
                    active: row.get(1)?,
                    up: row.get::<_, String>(2)? == "Up",
                    type_id: row.get(4)?,
                    oui: row.get(5)?,
                    product_class: row.get(6)?,
                    debug: row.get(7)?,
                    has_cr_username: row.get(8)?,
                },
            ))
        })?;
        for row in rows {
            let (serial, device) = row?;
            known.insert(serial, device);
        }
    }
    let plans = plan_informs(informs, &mut known);
    let new = inserts(informs, &plans);
    let mut inserted: HashMap<String, i64> = HashMap::with_capacity(new.len());
    for chunk in new.chunks(INSERT_CHUNK) {
        let mut sql = String::from(INSERT_DEVICES);
        let mut args = Vec::with_capacity(chunk.len() * INSERT_BINDS);
        for (i, inform) in chunk.iter().enumerate() {
            args.extend([
                Value::Text(crate::secret::new_uuid()),
                text(&inform.serial_number),
                text(&inform.oui),
            ]);
            args.extend(reported(inform).map(opt_text));
            args.push(Value::Text(unique_identifier(inform)));
            let now = time(inform.now);
            args.extend(std::iter::repeat_n(now, 4));
            sql.push_str(if i > 0 { ", (" } else { "(" });
            sql.push_str(&"?, ".repeat(INSERT_BINDS));
            sql.push_str(INSERT_DEVICE_ROW_END);
        }
        sql.push_str(INSERT_DEVICES_END);
        let mut stmt = tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(&args), |row| {
            Ok((row.get::<_, String>(1)?, row.get::<_, i64>(0)?))
        })?;
        for row in rows {
            let (serial, id) = row?;
            inserted.insert(serial, id);
        }
    }
    let (outcomes, updates) = settle_plans(informs, plans, &inserted);
    for chunk in updates.chunks(UPDATE_CHUNK) {
        let mut sql = String::from(UPDATE_DEVICES);
        Dialect::Sqlite.value_rows(&mut sql, chunk.len(), UPDATE_BINDS, &[]);
        sql.push_str(UPDATE_DEVICES_END);
        let mut args = Vec::with_capacity(chunk.len() * UPDATE_BINDS);
        for (device_id, inform, _) in chunk {
            args.extend([Value::Integer(*device_id), text(&inform.oui)]);
            args.extend(reported(inform).map(opt_text));
            args.push(time(inform.now));
        }
        tx.prepare_cached(&sql)?.execute(params_from_iter(&args))?;
        let mut sql = String::from(MARK_UP);
        Dialect::Sqlite.value_rows(&mut sql, chunk.len(), 2, &[]);
        sql.push_str(MARK_UP_END);
        let args: Vec<Value> = chunk
            .iter()
            .flat_map(|(device_id, _, up_since)| [Value::Integer(*device_id), time(*up_since)])
            .collect();
        tx.prepare_cached(&sql)?.execute(params_from_iter(&args))?;
    }
    let rows = inform_rows(informs, &outcomes, replace);
    for device_id in &rows.replaced {
        tx.prepare_cached(DELETE_PARAMETERS)?.execute([device_id])?;
    }
    let params = cap_parameter_rows(tx, params, dedup_rows(rows.params))?;
    for chunk in params.chunks(PARAMETER_CHUNK) {
        let mut sql = String::from(INSERT_PARAMETERS);
        Dialect::Sqlite.value_rows(&mut sql, chunk.len(), 6, &[]);
        sql.push_str(UPSERT_TAIL);
        let mut args = Vec::with_capacity(chunk.len() * 6);
        for r in chunk {
            args.extend([
                Value::Integer(r.device_id),
                text(&r.param.path),
                text(&r.param.value),
                text(&r.param.xsd_type),
                r.param
                    .writable
                    .map_or(Value::Null, |w| Value::Integer(w.into())),
                time(r.now),
            ]);
        }
        tx.prepare_cached(&sql)?.execute(params_from_iter(&args))?;
    }
    for chunk in rows.events.chunks(EVENT_CHUNK) {
        let mut sql = String::from(INSERT_EVENTS);
        Dialect::Sqlite.value_rows(&mut sql, chunk.len(), 4, &[]);
        let mut args = Vec::with_capacity(chunk.len() * 4);
        for (device_id, event, now) in chunk {
            args.extend([
                Value::Integer(*device_id),
                text(&event.code),
                text(&event.command_key),
                time(*now),
            ]);
        }
        tx.prepare_cached(&sql)?.execute(params_from_iter(&args))?;
    }
    Ok(outcomes)
}

/// `cap_parameter_rows!` of `param_limits.rs` on this connection: the rows within the limits.
fn cap_parameter_rows<'a>(
    tx: &Transaction<'_>,
    guard: &ParameterGuard,
    rows: Vec<ParamRow<'a>>,
) -> Result<Vec<ParamRow<'a>>> {
    let rows = guard.drop_long(rows);
    let mut existing: HashSet<(i64, String)> = HashSet::new();
    for chunk in rows.chunks(EXISTING_CHUNK) {
        let sql = existing_sql(Dialect::Sqlite, chunk.len());
        let args: Vec<Value> = chunk
            .iter()
            .flat_map(|r| [Value::Integer(r.device_id), text(&r.param.path)])
            .collect();
        let mut stmt = tx.prepare_cached(&sql)?;
        let found = stmt.query_map(params_from_iter(&args), |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })?;
        for pair in found {
            existing.insert(pair?);
        }
    }
    let devices = ParameterGuard::devices_with_new_paths(&rows, &existing);
    let mut counts: HashMap<i64, i64> = HashMap::new();
    for chunk in devices.chunks(COUNT_CHUNK) {
        let sql = count_sql(Dialect::Sqlite, chunk.len());
        let args: Vec<Value> = chunk.iter().map(|d| Value::Integer(*d)).collect();
        let mut stmt = tx.prepare_cached(&sql)?;
        let found = stmt.query_map(params_from_iter(&args), |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
        })?;
        for pair in found {
            let (device, n) = pair?;
            counts.insert(device, n);
        }
    }
    Ok(guard.cap_new_paths(rows, &existing, &counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_bound_as_sqlx_binds_them() {
        let t = DateTime::parse_from_rfc3339("2026-11-29T02:51:37.1226759Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            time(t),
            Value::Text("2026-11-29T02:51:37.122675+00:00".into())
        );
        let whole = DateTime::parse_from_rfc3339("2026-11-29T02:51:37Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(time(whole), Value::Text("2026-11-29T02:51:37+00:00".into()));
    }

    #[test]
    fn stored_times_parse_in_every_form_sqlite_holds() {
        let want = DateTime::parse_from_rfc3339("2026-11-29T02:51:37.5Z")
            .unwrap()
            .with_timezone(&Utc);
        for s in [
            "2026-11-29T02:51:37.5+00:00",
            "2026-11-29T02:51:37.500Z",
            "2026-11-29 02:51:37.5",
            "2026-11-29T02:51:37.5",
        ] {
            assert_eq!(parse_time(s), Some(want), "{s}");
        }
        assert_eq!(parse_time("yesterday"), None);
    }
}
