//! SQLite session writes, synchronously on the calling thread: the twin of `pg_session.rs`.
//!
//! sqlx runs every SQLite statement on a worker thread of its own and hands each result row
//! back through a channel; a batch of session steps is a dozen such round trips, and on a
//! busy 2-core node each hand-off waits for the scheduler, so the single writer spent most
//! of a batch waiting rather than writing. Here every session write on SQLite — the steps of
//! [`SessionOp`], a lease taken or given back on its own, parameters reported in a session —
//! runs through rusqlite on one connection owned by the caller (the writer thread, or a
//! blocking task for a one-off step, [`SyncSqlite::write_blocking`]): a whole batch is one
//! uninterrupted run of SQLite calls. There is no second SQLite implementation of them.
//!
//! [`SessionTx`] for a rusqlite transaction binds and runs the same statements, built by
//! the same code, as `pg_session.rs` does on PostgreSQL; the drivers that decide what runs
//! (`session.rs`, `inform.rs`, `param_limits.rs`) are shared, and here run to completion in
//! one poll ([`run_sync`]). Times are bound as the RFC 3339 text sqlx writes, so rows written
//! here and by the store's other (sqlx) calls compare and sort alike.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use rusqlite::types::{Type, Value};
use rusqlite::{Connection, OpenFlags, Row, Transaction, TransactionBehavior, params_from_iter};

use crate::Dialect;
use crate::error::Result;
use crate::inform::{
    DELETE_PARAMETERS, DeviceUpdate, EventRow, Inform, KnownDevice, ParamRow, insert_devices_sql,
    insert_events_sql, lookup_devices_sql, mark_up_sql, reported, unique_identifier,
    update_devices_sql,
};
use crate::lease::{EndIdleTurns, TakeLeases, release_leases_sql};
use crate::param_limits::{ParameterGuard, count_sql, existing_sql};
use crate::session::{Claim, SessionOp, SessionOpOutcome, SessionTx, apply_session_ops};
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

    /// Runs `f` in one transaction (taking the write lock up front) on this connection,
    /// with the store's parameter limits: all it writes is committed, or (on an error)
    /// nothing. Blocks the calling thread for the whole transaction.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>, &ParameterGuard) -> Result<T>,
    ) -> Result<T> {
        let mut guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            *guard = Some(open(&self.path)?);
        }
        let conn = guard.as_mut().expect("opened above");
        // a failed transaction rolls back when it drops
        let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let written = f(&mut tx, &self.params)?;
        tx.commit()?;
        Ok(written)
    }

    /// [`SyncSqlite::write`] on a blocking thread, for a caller on the async runtime (a
    /// one-off step; the writer thread calls `write` itself).
    pub(crate) async fn write_blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Transaction<'_>, &ParameterGuard) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let sync = self.clone();
        tokio::task::spawn_blocking(move || sync.write(f))
            .await
            .map_err(|_| crate::error::StoreError::WriterStopped)?
    }

    /// Applies session steps in order, in one transaction: all are written or none.
    /// Blocks the calling thread for the whole batch.
    pub(crate) fn session_ops(&self, ops: &[&SessionOp]) -> Result<Vec<SessionOpOutcome>> {
        self.write(|tx, params| run_sync(apply_session_ops(tx, params, ops)))
    }

    /// Closes the connection (the store is closing); a later call opens a new one.
    pub(crate) fn close(&self) {
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

/// Runs a shared session-write driver over [`SessionTx`] for a rusqlite transaction to its
/// end. Every call of that implementation does its work before it returns, so the driver
/// never waits on anything and completes in its first poll.
pub(crate) fn run_sync<T>(driver: impl Future<Output = T>) -> T {
    match pin!(driver).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(done) => done,
        Poll::Pending => unreachable!("a SQLite session write never waits"),
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

/// Rows per multi-row parameter upsert: 6 binds each stays far below SQLite's 32,766.
const PARAMETER_CHUNK: usize = 500;

/// Upserts `rows` parameter rows (device id, path, value, type, writable, updated); an
/// unchanged row is left alone.
fn upsert_parameters_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO parameters (device_id, path, value, xsd_type, writable, updated) VALUES ",
    );
    Dialect::Sqlite.value_rows(&mut sql, rows, 6, &[]);
    sql.push_str(
        " ON CONFLICT (device_id, path) DO UPDATE SET value = excluded.value, \
         xsd_type = excluded.xsd_type, \
         writable = COALESCE(excluded.writable, parameters.writable), \
         updated = excluded.updated \
         WHERE parameters.value IS NOT excluded.value \
         OR parameters.xsd_type IS NOT excluded.xsd_type \
         OR (excluded.writable IS NOT NULL AND parameters.writable IS NOT excluded.writable)",
    );
    sql
}

/// Runs `sql` with `args`; each row through `read`.
fn query<T>(
    tx: &Transaction<'_>,
    sql: &str,
    args: &[Value],
    read: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = tx.prepare_cached(sql)?;
    let rows = stmt.query_map(params_from_iter(args), read)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Runs `sql` with `args`, which returns nothing.
fn execute(tx: &Transaction<'_>, sql: &str, args: &[Value]) -> Result<()> {
    tx.prepare_cached(sql)?.execute(params_from_iter(args))?;
    Ok(())
}

impl SessionTx for Transaction<'_> {
    const DIALECT: Dialect = Dialect::Sqlite;

    async fn take_leases(&mut self, takes: TakeLeases<'_>) -> Result<Vec<String>> {
        let mut args = Vec::with_capacity(takes.rows.len() * 3 + 1);
        for (serial, holder, expires) in takes.rows {
            args.extend([text(serial), text(holder), time(*expires)]);
        }
        args.push(time(takes.now));
        query(self, &takes.sql(Self::DIALECT), &args, |row| row.get(0))
    }

    async fn release_leases(&mut self, releases: &[(&str, &str)]) -> Result<()> {
        let args: Vec<Value> = releases
            .iter()
            .flat_map(|(serial, holder)| [text(serial), text(holder)])
            .collect();
        execute(
            self,
            &release_leases_sql(Self::DIALECT, releases.len()),
            &args,
        )
    }

    async fn end_idle_turns(&mut self, turns: EndIdleTurns<'_>) -> Result<Vec<String>> {
        let mut args = Vec::with_capacity(turns.rows.len() * 3 + 2);
        for (serial, holder, device_id) in turns.rows {
            args.extend([text(serial), text(holder), Value::Integer(*device_id)]);
        }
        args.extend([time(turns.now), time(turns.now)]);
        query(self, &turns.sql(Self::DIALECT), &args, |row| row.get(0))
    }

    async fn claim_under_lease(&mut self, claim: Claim<'_>) -> Result<Option<Task>> {
        let mut stmt = self.prepare_cached(CLAIM_UNDER_LEASE.0)?;
        let mut rows = stmt.query(rusqlite::named_params! {
            "$1": claim.turn.device_id, "$2": claim.turn.holder, "$3": time(claim.now),
            "$4": time(claim.until), "$5": claim.turn.serial_number,
        })?;
        Ok(match rows.next()? {
            Some(row) => Some(task_from_row(row)?),
            None => None,
        })
    }

    async fn lookup_devices(&mut self, informs: &[&Inform]) -> Result<Vec<(String, KnownDevice)>> {
        let args: Vec<Value> = informs.iter().map(|i| text(&i.serial_number)).collect();
        let sql = lookup_devices_sql(Self::DIALECT, informs.len());
        query(self, &sql, &args, |row| {
            let device = KnownDevice {
                id: row.get(0)?,
                active: row.get(1)?,
                up: row.get::<_, String>(2)? == "Up",
                type_id: row.get(4)?,
                oui: row.get(5)?,
                product_class: row.get(6)?,
                debug: row.get(7)?,
                has_cr_username: row.get(8)?,
            };
            Ok((row.get(3)?, device))
        })
    }

    async fn insert_devices(&mut self, informs: &[&Inform]) -> Result<Vec<(i64, String)>> {
        let mut args = Vec::with_capacity(informs.len() * crate::inform::INSERT_BINDS);
        for inform in informs {
            args.extend([
                Value::Text(crate::secret::new_uuid()),
                text(&inform.serial_number),
                text(&inform.oui),
            ]);
            args.extend(reported(inform).map(opt_text));
            args.push(Value::Text(unique_identifier(inform)));
            args.extend(std::iter::repeat_n(time(inform.now), 4));
        }
        let sql = insert_devices_sql(Self::DIALECT, informs.len());
        query(self, &sql, &args, |row| Ok((row.get(0)?, row.get(1)?)))
    }

    async fn update_devices(&mut self, updates: &[DeviceUpdate<'_>]) -> Result<()> {
        let mut args = Vec::with_capacity(updates.len() * crate::inform::UPDATE_BINDS);
        for (device_id, inform, _) in updates {
            args.extend([Value::Integer(*device_id), text(&inform.oui)]);
            args.extend(reported(inform).map(opt_text));
            args.push(time(inform.now));
        }
        execute(
            self,
            &update_devices_sql(Self::DIALECT, updates.len()),
            &args,
        )?;
        let args: Vec<Value> = updates
            .iter()
            .flat_map(|(device_id, _, up_since)| [Value::Integer(*device_id), time(*up_since)])
            .collect();
        execute(self, &mark_up_sql(Self::DIALECT, updates.len()), &args)
    }

    async fn insert_events(&mut self, events: &[EventRow<'_>]) -> Result<()> {
        let mut args = Vec::with_capacity(events.len() * 4);
        for (device_id, event, received) in events {
            args.extend([
                Value::Integer(*device_id),
                text(&event.code),
                text(&event.command_key),
                time(*received),
            ]);
        }
        execute(self, &insert_events_sql(Self::DIALECT, events.len()), &args)
    }

    async fn device_exists(&mut self, device_id: i64) -> Result<bool> {
        Ok(self
            .prepare_cached("SELECT 1 FROM devices WHERE id = $1")?
            .exists([device_id])?)
    }

    async fn delete_parameters(&mut self, device_id: i64) -> Result<()> {
        self.prepare_cached(DELETE_PARAMETERS)?
            .execute([device_id])?;
        Ok(())
    }

    async fn existing_parameters(&mut self, rows: &[ParamRow<'_>]) -> Result<Vec<(i64, String)>> {
        let args: Vec<Value> = rows
            .iter()
            .flat_map(|r| [Value::Integer(r.device_id), text(&r.param.path)])
            .collect();
        let sql = existing_sql(Self::DIALECT, rows.len());
        query(self, &sql, &args, |row| Ok((row.get(0)?, row.get(1)?)))
    }

    async fn count_parameters(&mut self, devices: &[i64]) -> Result<Vec<(i64, i64)>> {
        let args: Vec<Value> = devices.iter().map(|d| Value::Integer(*d)).collect();
        let sql = count_sql(Self::DIALECT, devices.len());
        query(self, &sql, &args, |row| Ok((row.get(0)?, row.get(1)?)))
    }

    /// Multi-row VALUES with anonymous placeholders, [`PARAMETER_CHUNK`] rows per statement.
    async fn upsert_parameters(&mut self, rows: &[ParamRow<'_>]) -> Result<()> {
        for chunk in rows.chunks(PARAMETER_CHUNK) {
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
            execute(self, &upsert_parameters_sql(chunk.len()), &args)?;
        }
        Ok(())
    }
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
