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
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use rusqlite::types::{Type, Value};
use rusqlite::{Connection, OpenFlags, Row, Transaction, TransactionBehavior, params_from_iter};

use crate::error::Result;
use crate::inform::{
    EVENT_CHUNK, INSERT_CHUNK, Inform, InformOutcome, LOOKUP_CHUNK, PARAMETER_CHUNK, ParamRow,
    UPDATE_CHUNK, UPSERT_TAIL, dedup_rows,
};
use crate::lease::{RELEASE_LEASE, TAKE_LEASE};
use crate::session::{
    LEASE_CHUNK, SessionOp, SessionOpOutcome, SessionStartOutcome, SessionTurn, lease_serial,
};
use crate::task::{CLAIM_UNDER_LEASE, Task, TaskState};
use crate::ts;

/// The session writer's own SQLite connection, opened on first use and kept.
#[derive(Debug)]
pub(crate) struct SyncSqlite {
    path: PathBuf,
    conn: Mutex<Option<Connection>>,
}

impl SyncSqlite {
    pub(crate) fn new(path: &Path) -> SyncSqlite {
        SyncSqlite {
            path: path.to_owned(),
            conn: Mutex::new(None),
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
        let outcomes = apply_session_ops(&tx, ops)?;
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

/// `?, ?, ?` — `n` anonymous placeholders in parentheses.
fn row_placeholders(sql: &mut String, rows: usize, columns: usize) {
    for i in 0..rows {
        sql.push_str(if i > 0 { ", (" } else { "(" });
        for k in 0..columns {
            sql.push_str(if k > 0 { ", ?" } else { "?" });
        }
        sql.push(')');
    }
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
fn apply_session_ops(tx: &Transaction<'_>, ops: &[&SessionOp]) -> Result<Vec<SessionOpOutcome>> {
    let mut done: Vec<Option<SessionOpOutcome>> = ops.iter().map(|_| None).collect();
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(ops.len());
    for op in ops {
        if let Some(serial) = lease_serial(op) {
            *seen.entry(serial).or_default() += 1;
        }
    }
    let single = |op: &SessionOp| lease_serial(op).is_some_and(|s| seen.get(s) == Some(&1));
    // the batch's earliest `now` decides expiry for all starts; the latest `now` of the
    // turns decides what is due (see `apply_session_ops!`)
    let mut takes: Vec<(&str, &str, DateTime<Utc>)> = Vec::new();
    let mut take_now: Option<DateTime<Utc>> = None;
    let mut turns: Vec<(&str, &str, i64)> = Vec::new();
    let mut turn_now: Option<DateTime<Utc>> = None;
    for op in ops.iter().filter(|op| single(op)) {
        match op {
            SessionOp::Start(s) => {
                let now = ts(s.inform.now);
                let expires = ts(now + chrono::Duration::from_std(s.lease_ttl).unwrap_or_default());
                takes.push((&s.inform.serial_number, &s.holder, expires));
                take_now = Some(take_now.map_or(now, |n| n.min(now)));
            }
            SessionOp::Turn(t) => {
                turns.push((&t.serial_number, &t.holder, t.device_id));
                let now = ts(t.now);
                turn_now = Some(turn_now.map_or(now, |n| n.max(now)));
            }
            _ => {}
        }
    }
    let won = match take_now {
        Some(now) => take_leases(tx, &takes, now)?,
        None => HashSet::new(),
    };
    let ended = match turn_now {
        Some(now) => end_idle_turns(tx, &turns, now)?,
        None => HashSet::new(),
    };
    let mut releases: Vec<(&str, &str)> = Vec::new();
    let mut informs: Vec<&Inform> = Vec::new();
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
                    let now = ts(inform.now);
                    let expires =
                        ts(now + chrono::Duration::from_std(s.lease_ttl).unwrap_or_default());
                    take_lease(tx, &inform.serial_number, &s.holder, expires, now)?
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
                done[i] = Some(SessionOpOutcome::Turn(turn_one(tx, t)?));
            }
            SessionOp::Release {
                serial_number,
                holder,
            } => {
                if alone {
                    releases.push((serial_number, holder));
                } else {
                    release_lease(tx, serial_number, holder)?;
                }
                done[i] = Some(SessionOpOutcome::Released);
            }
        }
    }
    release_leases(tx, &releases)?;
    if !informs.is_empty() {
        let outcomes = apply_informs(tx, &informs, &replace)?;
        let mut refused: Vec<(&str, &str)> = Vec::new();
        for (&i, outcome) in inform_op.iter().zip(outcomes) {
            done[i] = Some(match ops[i] {
                SessionOp::Start(s) => {
                    if !matches!(outcome, InformOutcome::Accepted { .. }) {
                        refused.push((&s.inform.serial_number, &s.holder));
                    }
                    SessionOpOutcome::Start(SessionStartOutcome::Started(outcome))
                }
                _ => SessionOpOutcome::Inform(outcome),
            });
        }
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
        let mut sql =
            String::from("INSERT INTO session_leases (serial_number, holder, expires_at) VALUES ");
        row_placeholders(&mut sql, chunk.len(), 3);
        sql.push_str(
            " ON CONFLICT (serial_number) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE session_leases.expires_at <= ? OR session_leases.holder = excluded.holder \
             RETURNING serial_number",
        );
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
        let mut sql =
            String::from("DELETE FROM session_leases WHERE (serial_number, holder) IN (VALUES ");
        row_placeholders(&mut sql, chunk.len(), 2);
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
        let mut sql = String::from(
            "DELETE FROM session_leases WHERE (serial_number, holder) IN \
             (SELECT v.column1, v.column2 FROM (VALUES ",
        );
        row_placeholders(&mut sql, chunk.len(), 3);
        sql.push_str(
            ") AS v WHERE NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.device_id = v.column3 \
             AND ((tasks.state = 'pending' AND tasks.next_attempt_at <= ?) \
             OR (tasks.state = 'in_flight' AND tasks.claim_expires_at <= ?)))) \
             RETURNING serial_number",
        );
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
    let claim_until = ts(now + chrono::Duration::from_std(t.claim_ttl).unwrap_or_default());
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
        let expires = ts(now + chrono::Duration::from_std(t.lease_ttl).unwrap_or_default());
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

fn time_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let s: String = row.get(idx)?;
    parse_time(&s).ok_or_else(|| conversion(idx, Type::Text, format!("not a time: {s:?}")))
}

fn opt_time_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| {
        parse_time(&s).ok_or_else(|| conversion(idx, Type::Text, format!("not a time: {s:?}")))
    })
    .transpose()
}

/// A task row in the column order of `task_columns!`.
fn task_from_row(row: &Row<'_>) -> rusqlite::Result<Task> {
    let payload: String = row.get(4)?;
    let payload = serde_json::from_str(&payload).map_err(|e| conversion(4, Type::Text, e))?;
    let state: String = row.get(6)?;
    let state = TaskState::try_from(state).map_err(|e| conversion(6, Type::Text, e))?;
    Ok(Task {
        id: row.get(0)?,
        device_id: row.get(1)?,
        command_key: row.get(2)?,
        kind: row.get(3)?,
        payload: sqlx::types::Json(payload),
        setting_group: row.get(5)?,
        state,
        attempts: row.get(7)?,
        next_attempt_at: time_at(row, 8)?,
        claimed_by: row.get(9)?,
        claim_expires_at: opt_time_at(row, 10)?,
        fault_code: row.get(11)?,
        fault_string: row.get(12)?,
        created: time_at(row, 13)?,
        updated: time_at(row, 14)?,
    })
}

/// What an Inform of a batch will do (see `apply_informs!`).
enum Plan {
    Done(InformOutcome),
    Insert,
    Update {
        device_id: Option<i64>,
        came_up: bool,
        type_id: Option<i64>,
    },
}

/// Upserts a batch of Informs inside `tx`: the same statements as `apply_informs!` in
/// `inform.rs`. `replace[i]`: the i-th Inform's parameters replace every stored one.
fn apply_informs(
    tx: &Transaction<'_>,
    informs: &[&Inform],
    replace: &[bool],
) -> Result<Vec<InformOutcome>> {
    // serial -> (id, is_active, is Up, type)
    let mut known: HashMap<String, (i64, bool, bool, Option<i64>)> =
        HashMap::with_capacity(informs.len());
    for chunk in informs.chunks(LOOKUP_CHUNK) {
        let mut sql = String::from(
            "SELECT id, is_active, status, serial_number, type_id FROM devices \
             WHERE serial_number IN (",
        );
        for i in 0..chunk.len() {
            sql.push_str(if i > 0 { ", ?" } else { "?" });
        }
        sql.push(')');
        let args: Vec<Value> = chunk.iter().map(|i| text(&i.serial_number)).collect();
        let mut stmt = tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(&args), |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, bool>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, Option<i64>>(4)?,
            ))
        })?;
        for row in rows {
            let (id, active, status, serial, type_id) = row?;
            known.insert(serial, (id, active, status == "Up", type_id));
        }
    }
    // each Inform's fate in order; the first Inform of a new serial inserts it, later ones
    // in the same batch update it
    let mut plans = Vec::with_capacity(informs.len());
    let mut new_serials: HashSet<&str> = HashSet::new();
    for inform in informs {
        let plan = match known.get(&inform.serial_number).copied() {
            Some((device_id, false, _, _)) => Plan::Done(InformOutcome::Inactive { device_id }),
            Some((device_id, true, up, type_id)) => {
                known.insert(
                    inform.serial_number.clone(),
                    (device_id, true, true, type_id),
                );
                Plan::Update {
                    device_id: Some(device_id),
                    came_up: !up,
                    type_id,
                }
            }
            None if new_serials.contains(inform.serial_number.as_str()) => Plan::Update {
                device_id: None,
                came_up: false,
                type_id: None,
            },
            None if !inform.auto_register => Plan::Done(InformOutcome::Unknown),
            None => {
                new_serials.insert(inform.serial_number.as_str());
                Plan::Insert
            }
        };
        plans.push(plan);
    }
    let inserts: Vec<&Inform> = informs
        .iter()
        .zip(&plans)
        .filter(|(_, p)| matches!(p, Plan::Insert))
        .map(|(i, _)| *i)
        .collect();
    let mut inserted: HashMap<String, i64> = HashMap::with_capacity(inserts.len());
    for chunk in inserts.chunks(INSERT_CHUNK) {
        let mut sql = String::from(
            "INSERT INTO devices (uuid, serial_number, oui, product_class, manufacturer, \
             software_version, hardware_version, connection_request_url, address, \
             parameter_key, unique_identifier, status_change, last_connection, created, \
             last_change, is_active, status) VALUES ",
        );
        let mut args = Vec::with_capacity(chunk.len() * 15);
        for (i, inform) in chunk.iter().enumerate() {
            // CWMP DeviceId canonical form OUI-ProductClass-SerialNumber (TR-069 §3.4.4)
            let unique = match &inform.product_class {
                Some(pc) => format!("{}-{}-{}", inform.oui, pc, inform.serial_number),
                None => format!("{}-{}", inform.oui, inform.serial_number),
            };
            args.extend([
                Value::Text(crate::secret::new_uuid()),
                text(&inform.serial_number),
                text(&inform.oui),
                opt_text(&inform.product_class),
                opt_text(&inform.manufacturer),
                opt_text(&inform.software_version),
                opt_text(&inform.hardware_version),
                opt_text(&inform.connection_request_url),
                opt_text(&inform.address),
                opt_text(&inform.parameter_key),
                Value::Text(unique),
            ]);
            let now = time(inform.now);
            for _ in 0..4 {
                args.push(now.clone());
            }
            sql.push_str(if i > 0 { ", (" } else { "(" });
            for _ in 0..15 {
                sql.push_str("?, ");
            }
            sql.push_str("TRUE, 'Up')");
        }
        sql.push_str(" RETURNING id, serial_number");
        let mut stmt = tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(&args), |row| {
            Ok((row.get::<_, String>(1)?, row.get::<_, i64>(0)?))
        })?;
        for row in rows {
            let (serial, id) = row?;
            inserted.insert(serial, id);
        }
    }
    // everyone else: one multi-row UPDATE per chunk; the last Inform of a device wins
    let mut updates: Vec<(i64, &Inform)> = Vec::new();
    let mut outcomes = Vec::with_capacity(informs.len());
    for (&inform, plan) in informs.iter().zip(plans) {
        let outcome = match plan {
            Plan::Done(outcome) => outcome,
            Plan::Insert => InformOutcome::Accepted {
                device_id: inserted[&inform.serial_number],
                created: true,
                came_up: true,
                type_id: None,
            },
            Plan::Update {
                device_id,
                came_up,
                type_id,
            } => {
                let device_id = device_id.unwrap_or_else(|| inserted[&inform.serial_number]);
                updates.push((device_id, inform));
                InformOutcome::Accepted {
                    device_id,
                    created: false,
                    came_up,
                    type_id,
                }
            }
        };
        outcomes.push(outcome);
    }
    // the last Inform of a device carries its values; its first says when it came up
    let mut last_update: HashMap<i64, usize> = HashMap::with_capacity(updates.len());
    let mut first_seen: HashMap<i64, DateTime<Utc>> = HashMap::with_capacity(updates.len());
    for (i, (id, inform)) in updates.iter().enumerate() {
        last_update.insert(*id, i);
        first_seen.entry(*id).or_insert_with(|| ts(inform.now));
    }
    let updates: Vec<(i64, &Inform)> = updates
        .iter()
        .enumerate()
        .filter(|(i, (id, _))| last_update[id] == *i)
        .map(|(_, u)| *u)
        .collect();
    for chunk in updates.chunks(UPDATE_CHUNK) {
        let mut sql = String::from(
            "WITH v (id, oui, product_class, manufacturer, software_version, \
             hardware_version, connection_request_url, address, parameter_key, now, up_since) \
             AS (VALUES ",
        );
        row_placeholders(&mut sql, chunk.len(), 11);
        sql.push_str(
            ") UPDATE devices SET oui = v.oui, \
             product_class = COALESCE(v.product_class, devices.product_class), \
             manufacturer = COALESCE(v.manufacturer, devices.manufacturer), \
             software_version = COALESCE(v.software_version, devices.software_version), \
             hardware_version = COALESCE(v.hardware_version, devices.hardware_version), \
             connection_request_url = \
                 COALESCE(v.connection_request_url, devices.connection_request_url), \
             address = COALESCE(v.address, devices.address), \
             parameter_key = COALESCE(v.parameter_key, devices.parameter_key), \
             status = 'Up', \
             status_change = CASE WHEN devices.status = 'Up' THEN devices.status_change \
                 ELSE v.up_since END, \
             last_connection = v.now \
             FROM v WHERE devices.id = v.id",
        );
        let mut args = Vec::with_capacity(chunk.len() * 11);
        for (device_id, inform) in chunk {
            args.extend([
                Value::Integer(*device_id),
                text(&inform.oui),
                opt_text(&inform.product_class),
                opt_text(&inform.manufacturer),
                opt_text(&inform.software_version),
                opt_text(&inform.hardware_version),
                opt_text(&inform.connection_request_url),
                opt_text(&inform.address),
                opt_text(&inform.parameter_key),
                time(inform.now),
                time(first_seen[device_id]),
            ]);
        }
        tx.prepare_cached(&sql)?.execute(params_from_iter(&args))?;
    }
    let mut params: Vec<ParamRow<'_>> = Vec::new();
    let mut events: Vec<(i64, &str, &str, DateTime<Utc>)> = Vec::new();
    for ((inform, outcome), replace) in informs.iter().zip(&outcomes).zip(replace) {
        if let InformOutcome::Accepted {
            device_id, created, ..
        } = *outcome
        {
            if *replace && !created {
                tx.prepare_cached("DELETE FROM parameters WHERE device_id = ?")?
                    .execute([device_id])?;
            }
            let now = ts(inform.now);
            params.extend(inform.parameters.iter().map(|param| ParamRow {
                device_id,
                param,
                now,
            }));
            events.extend(
                inform
                    .events
                    .iter()
                    .map(|e| (device_id, e.code.as_str(), e.command_key.as_str(), now)),
            );
        }
    }
    let params = dedup_rows(params);
    for chunk in params.chunks(PARAMETER_CHUNK) {
        let mut sql = String::from(
            "INSERT INTO parameters (device_id, path, value, xsd_type, writable, updated) VALUES ",
        );
        row_placeholders(&mut sql, chunk.len(), 6);
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
    for chunk in events.chunks(EVENT_CHUNK) {
        let mut sql =
            String::from("INSERT INTO events (device_id, code, command_key, received) VALUES ");
        row_placeholders(&mut sql, chunk.len(), 4);
        let mut args = Vec::with_capacity(chunk.len() * 4);
        for (device_id, code, command_key, now) in chunk {
            args.extend([
                Value::Integer(*device_id),
                text(code),
                text(command_key),
                time(*now),
            ]);
        }
        tx.prepare_cached(&sql)?.execute(params_from_iter(&args))?;
    }
    Ok(outcomes)
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
