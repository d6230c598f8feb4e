//! The Inform upsert: identity, versions, addresses, events and parameters of one Inform
//! written in one transaction; and the parameter table.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use crate::backend::on_pool;
use crate::device::{Arg, bind_args};
use crate::error::Result;
use crate::secret::new_uuid;
use crate::{Store, ts};

/// One parameter value as a CPE reported it: text plus its xsd type name (`xsd:string`,
/// `xsd:unsignedInt`, ...). `writable` is known only from GetParameterNames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterValue {
    pub path: String,
    pub value: String,
    pub xsd_type: String,
    pub writable: Option<bool>,
}

/// A stored parameter.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Parameter {
    pub path: String,
    pub value: String,
    pub xsd_type: String,
    pub writable: Option<bool>,
    pub updated: DateTime<Utc>,
}

/// An Inform event code and its CommandKey (empty for non-`M` events).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InformEvent {
    pub code: String,
    pub command_key: String,
}

/// What the session engine read from an Inform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inform {
    pub serial_number: String,
    pub oui: String,
    pub product_class: Option<String>,
    pub manufacturer: Option<String>,
    pub software_version: Option<String>,
    pub hardware_version: Option<String>,
    pub connection_request_url: Option<String>,
    /// The WAN address (ExternalIPAddress, or the peer address).
    pub address: Option<String>,
    pub parameter_key: Option<String>,
    pub events: Vec<InformEvent>,
    pub parameters: Vec<ParameterValue>,
    /// Create the device when the serial number is unknown.
    pub auto_register: bool,
    pub now: DateTime<Utc>,
}

/// What the upsert did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InformOutcome {
    /// Stored. `created`: the serial was new; `came_up`: status flipped Down -> Up.
    Accepted {
        device_id: i64,
        created: bool,
        came_up: bool,
    },
    /// The device exists with `is_active = false`: nothing was written; refuse the session.
    Inactive { device_id: i64 },
    /// Unknown serial and auto-registration off: nothing was written.
    Unknown,
}

/// Rows per multi-row parameter INSERT: 6 binds each stays far below SQLite's 32,766 and
/// PostgreSQL's 65,535 bind limits.
pub(crate) const PARAMETER_CHUNK: usize = 500;

/// A parameter row to write: whose, what, when.
pub(crate) struct ParamRow<'a> {
    pub device_id: i64,
    pub param: &'a ParameterValue,
    pub now: DateTime<Utc>,
}

/// Keeps the last row per (device, path): ZTE lists ConnectionRequestURL twice in one
/// Inform, a batch may hold two Informs of one device, and PostgreSQL refuses to touch one
/// row twice in a statement.
pub(crate) fn dedup_rows(rows: Vec<ParamRow<'_>>) -> Vec<ParamRow<'_>> {
    let mut last: HashMap<(i64, &str), usize> = HashMap::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        last.insert((r.device_id, r.param.path.as_str()), i);
    }
    let keep: Vec<bool> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| last[&(r.device_id, r.param.path.as_str())] == i)
        .collect();
    rows.into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(r, _)| r)
        .collect()
}

/// Multi-row upsert of parameter rows inside the caller's transaction.
macro_rules! write_parameter_rows {
    ($conn:expr, $dialect:expr, $rows:expr) => {{
        let dialect: $crate::backend::Dialect = $dialect;
        let rows: Vec<$crate::inform::ParamRow<'_>> = $crate::inform::dedup_rows($rows);
        for chunk in rows.chunks($crate::inform::PARAMETER_CHUNK) {
            let mut sql = String::with_capacity(96 + chunk.len() * 40);
            sql.push_str(
                "INSERT INTO parameters (device_id, path, value, xsd_type, writable, updated) VALUES ",
            );
            let mut args = Vec::with_capacity(chunk.len() * 6);
            for (i, r) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let n = args.len();
                args.push(Arg::I64(r.device_id));
                args.push(Arg::Text(r.param.path.clone()));
                args.push(Arg::Text(r.param.value.clone()));
                args.push(Arg::Text(r.param.xsd_type.clone()));
                args.push(Arg::OptBool(r.param.writable));
                args.push(Arg::Time(r.now));
                sql.push('(');
                for k in 1..=6 {
                    if k > 1 {
                        sql.push_str(", ");
                    }
                    dialect.placeholder(&mut sql, n + k);
                }
                sql.push(')');
            }
            sql.push_str(
                " ON CONFLICT (device_id, path) DO UPDATE SET value = excluded.value, \
                 xsd_type = excluded.xsd_type, \
                 writable = COALESCE(excluded.writable, parameters.writable), \
                 updated = excluded.updated",
            );
            bind_args!(sqlx::query(AssertSqlSafe(sql)), args).execute(&mut *$conn).await?;
        }
    }};
}

/// Serial numbers per lookup statement.
const LOOKUP_CHUNK: usize = 500;
/// Event rows per multi-row INSERT (4 binds each).
const EVENT_CHUNK: usize = 1000;

/// Upserts a batch of Informs inside the caller's transaction (`$conn`) and evaluates to
/// their outcomes, in order. Statements per batch: one device lookup per 500 serials, one
/// UPDATE or INSERT per Inform, one multi-row upsert per 500 parameters, one multi-row
/// insert per 1,000 events.
macro_rules! apply_informs {
    ($conn:expr, $dialect:expr, $informs:expr) => {{
        let dialect: $crate::backend::Dialect = $dialect;
        let informs: &[$crate::inform::Inform] = $informs;
        // serial -> (id, is_active, is Up)
        let mut known: HashMap<String, (i64, bool, bool)> = HashMap::with_capacity(informs.len());
        for chunk in informs.chunks(LOOKUP_CHUNK) {
            let mut sql = String::from(
                "SELECT id, is_active, status, serial_number FROM devices WHERE serial_number IN (",
            );
            let mut args = Vec::with_capacity(chunk.len());
            for (i, inform) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                args.push(Arg::Text(inform.serial_number.clone()));
                dialect.placeholder(&mut sql, i + 1);
            }
            sql.push(')');
            let rows: Vec<(i64, bool, String, String)> =
                bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args)
                    .fetch_all(&mut *$conn)
                    .await?;
            for (id, active, status, serial) in rows {
                known.insert(serial, (id, active, status == "Up"));
            }
        }
        let mut outcomes = Vec::with_capacity(informs.len());
        let mut params: Vec<$crate::inform::ParamRow<'_>> = Vec::new();
        let mut events: Vec<(i64, &$crate::inform::InformEvent, DateTime<Utc>)> = Vec::new();
        for inform in informs {
            let now = $crate::ts(inform.now);
            let outcome = match known.get(&inform.serial_number).copied() {
                Some((device_id, false, _)) => InformOutcome::Inactive { device_id },
                None if !inform.auto_register => InformOutcome::Unknown,
                Some((device_id, true, up)) => {
                    sqlx::query(
                        "UPDATE devices SET oui = $2, product_class = COALESCE($3, product_class), \
                         manufacturer = COALESCE($4, manufacturer), \
                         software_version = COALESCE($5, software_version), \
                         hardware_version = COALESCE($6, hardware_version), \
                         connection_request_url = COALESCE($7, connection_request_url), \
                         address = COALESCE($8, address), \
                         parameter_key = COALESCE($9, parameter_key), \
                         status = 'Up', \
                         status_change = CASE WHEN status = 'Up' THEN status_change ELSE $10 END, \
                         last_connection = $10 WHERE id = $1",
                    )
                    .bind(device_id)
                    .bind(&inform.oui)
                    .bind(&inform.product_class)
                    .bind(&inform.manufacturer)
                    .bind(&inform.software_version)
                    .bind(&inform.hardware_version)
                    .bind(&inform.connection_request_url)
                    .bind(&inform.address)
                    .bind(&inform.parameter_key)
                    .bind(now)
                    .execute(&mut *$conn)
                    .await?;
                    known.insert(inform.serial_number.clone(), (device_id, true, true));
                    InformOutcome::Accepted {
                        device_id,
                        created: false,
                        came_up: !up,
                    }
                }
                None => {
                    // CWMP DeviceId canonical form OUI-ProductClass-SerialNumber (TR-069 §3.4.4)
                    let unique = match &inform.product_class {
                        Some(pc) => format!("{}-{}-{}", inform.oui, pc, inform.serial_number),
                        None => format!("{}-{}", inform.oui, inform.serial_number),
                    };
                    let device_id: i64 = sqlx::query_scalar(
                        "INSERT INTO devices (uuid, serial_number, oui, product_class, \
                         manufacturer, software_version, hardware_version, \
                         connection_request_url, address, parameter_key, unique_identifier, \
                         is_active, status, status_change, last_connection, created, last_change) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'Up', $13, \
                         $13, $13, $13) RETURNING id",
                    )
                    .bind(new_uuid())
                    .bind(&inform.serial_number)
                    .bind(&inform.oui)
                    .bind(&inform.product_class)
                    .bind(&inform.manufacturer)
                    .bind(&inform.software_version)
                    .bind(&inform.hardware_version)
                    .bind(&inform.connection_request_url)
                    .bind(&inform.address)
                    .bind(&inform.parameter_key)
                    .bind(unique)
                    .bind(true)
                    .bind(now)
                    .fetch_one(&mut *$conn)
                    .await?;
                    known.insert(inform.serial_number.clone(), (device_id, true, true));
                    InformOutcome::Accepted {
                        device_id,
                        created: true,
                        came_up: true,
                    }
                }
            };
            if let InformOutcome::Accepted { device_id, .. } = outcome {
                params.extend(
                    inform
                        .parameters
                        .iter()
                        .map(|param| $crate::inform::ParamRow {
                            device_id,
                            param,
                            now,
                        }),
                );
                events.extend(inform.events.iter().map(|e| (device_id, e, now)));
            }
            outcomes.push(outcome);
        }
        write_parameter_rows!($conn, dialect, params);
        for chunk in events.chunks(EVENT_CHUNK) {
            let mut sql =
                String::from("INSERT INTO events (device_id, code, command_key, received) VALUES ");
            let mut args = Vec::with_capacity(chunk.len() * 4);
            for (i, (device_id, e, now)) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let n = args.len();
                args.push(Arg::I64(*device_id));
                args.push(Arg::Text(e.code.clone()));
                args.push(Arg::Text(e.command_key.clone()));
                args.push(Arg::Time(*now));
                sql.push('(');
                for k in 1..=4 {
                    if k > 1 {
                        sql.push_str(", ");
                    }
                    dialect.placeholder(&mut sql, n + k);
                }
                sql.push(')');
            }
            bind_args!(sqlx::query(AssertSqlSafe(sql)), args)
                .execute(&mut *$conn)
                .await?;
        }
        outcomes
    }};
}

impl Store {
    /// Upserts one Inform in its own transaction. Under load, prefer the batched
    /// [`crate::InformWriter`], which groups concurrent Informs into one transaction.
    pub async fn upsert_inform(&self, inform: &Inform) -> Result<InformOutcome> {
        let mut out = self.upsert_informs(std::slice::from_ref(inform)).await?;
        Ok(out.pop().expect("one outcome per inform"))
    }

    /// Upserts several Informs in one transaction: all are written or none.
    pub async fn upsert_informs(&self, informs: &[Inform]) -> Result<Vec<InformOutcome>> {
        on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            let outcomes = apply_informs!(tx, dialect, informs);
            tx.commit().await?;
            Ok(outcomes)
        })
    }

    /// Upserts parameters of a device (a GetParameterValues/Names response) in one transaction.
    pub async fn upsert_parameters(
        &self,
        device_id: i64,
        params: &[ParameterValue],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = ts(now);
        on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            crate::device::check_refs!(tx, [("device", "devices", Some(device_id))])?;
            let rows = params
                .iter()
                .map(|param| ParamRow {
                    device_id,
                    param,
                    now,
                })
                .collect();
            write_parameter_rows!(tx, dialect, rows);
            tx.commit().await?;
            Ok(())
        })
    }

    /// The device's parameters whose path starts with `prefix` (`""` for all), by path.
    pub async fn list_parameters(&self, device_id: i64, prefix: &str) -> Result<Vec<Parameter>> {
        on_pool!(&self.backend, |pool, dialect| {
            Ok(sqlx::query_as(
                "SELECT path, value, xsd_type, writable, updated FROM parameters \
                 WHERE device_id = $1 AND substr(path, 1, length($2)) = $2 ORDER BY path",
            )
            .bind(device_id)
            .bind(prefix)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Deletes the device's parameters under `prefix` (after a DeleteObject); returns how many.
    pub async fn delete_parameters(&self, device_id: i64, prefix: &str) -> Result<u64> {
        on_pool!(&self.backend, |pool, dialect| {
            Ok(sqlx::query(
                "DELETE FROM parameters WHERE device_id = $1 AND substr(path, 1, length($2)) = $2",
            )
            .bind(device_id)
            .bind(prefix)
            .execute(pool)
            .await?
            .rows_affected())
        })
    }
}
