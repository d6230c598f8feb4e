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

/// Upserts one Inform inside the caller's transaction (`$conn`: `&mut` connection).
macro_rules! apply_inform {
    ($conn:expr, $inform:expr) => {{
        let inform: &$crate::inform::Inform = $inform;
        let now = $crate::ts(inform.now);
        let existing: Option<(i64, bool, String)> =
            sqlx::query_as("SELECT id, is_active, status FROM devices WHERE serial_number = $1")
                .bind(&inform.serial_number)
                .fetch_optional(&mut *$conn)
                .await?;
        let outcome = match existing {
            Some((device_id, false, _)) => $crate::inform::InformOutcome::Inactive { device_id },
            None if !inform.auto_register => $crate::inform::InformOutcome::Unknown,
            Some((device_id, true, status)) => {
                let came_up = status != "Up";
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
                $crate::inform::InformOutcome::Accepted {
                    device_id,
                    created: false,
                    came_up,
                }
            }
            None => {
                // CWMP DeviceId canonical form OUI-ProductClass-SerialNumber (TR-069 §3.4.4)
                let unique = match &inform.product_class {
                    Some(pc) => format!("{}-{}-{}", inform.oui, pc, inform.serial_number),
                    None => format!("{}-{}", inform.oui, inform.serial_number),
                };
                let device_id: i64 = sqlx::query_scalar(
                    "INSERT INTO devices (uuid, serial_number, oui, product_class, manufacturer, \
                     software_version, hardware_version, connection_request_url, address, \
                     parameter_key, unique_identifier, is_active, status, status_change, \
                     last_connection, created, last_change) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'Up', $13, $13, \
                     $13, $13) RETURNING id",
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
                $crate::inform::InformOutcome::Accepted {
                    device_id,
                    created: true,
                    came_up: true,
                }
            }
        };
        if let $crate::inform::InformOutcome::Accepted { device_id, .. } = outcome {
            $crate::inform::upsert_parameters!($conn, device_id, &inform.parameters, now);
            if !inform.events.is_empty() {
                let mut sql = String::from(
                    "INSERT INTO events (device_id, code, command_key, received) VALUES ",
                );
                let mut args = Vec::with_capacity(inform.events.len() * 2 + 2);
                args.push(Arg::I64(device_id));
                args.push(Arg::Time(now));
                for (i, e) in inform.events.iter().enumerate() {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    args.push(Arg::Text(e.code.clone()));
                    args.push(Arg::Text(e.command_key.clone()));
                    sql.push_str(&format!("($1, ${}, ${}, $2)", args.len() - 1, args.len()));
                }
                bind_args!(sqlx::query(AssertSqlSafe(sql)), args)
                    .execute(&mut *$conn)
                    .await?;
            }
        }
        outcome
    }};
}

/// Multi-row upsert of parameters inside the caller's transaction. Duplicate paths in one
/// call keep the last value (ZTE lists ConnectionRequestURL twice; PostgreSQL refuses to
/// touch one row twice in a statement).
macro_rules! upsert_parameters {
    ($conn:expr, $device_id:expr, $params:expr, $now:expr) => {{
        for chunk in $crate::inform::dedup_parameters($params).chunks($crate::inform::PARAMETER_CHUNK)
        {
            let mut sql = String::from(
                "INSERT INTO parameters (device_id, path, value, xsd_type, writable, updated) VALUES ",
            );
            let mut args = Vec::with_capacity(chunk.len() * 4 + 2);
            args.push(Arg::I64($device_id));
            args.push(Arg::Time($now));
            for (i, p) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let n = args.len();
                args.push(Arg::Text(p.path.clone()));
                args.push(Arg::Text(p.value.clone()));
                args.push(Arg::Text(p.xsd_type.clone()));
                args.push(Arg::OptBool(p.writable));
                sql.push_str(&format!("($1, ${}, ${}, ${}, ${}, $2)", n + 1, n + 2, n + 3, n + 4));
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
pub(crate) use upsert_parameters;

pub(crate) fn dedup_parameters(params: &[ParameterValue]) -> Vec<&ParameterValue> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(params.len());
    for (i, p) in params.iter().enumerate() {
        last.insert(p.path.as_str(), i);
    }
    params
        .iter()
        .enumerate()
        .filter(|(i, p)| last[p.path.as_str()] == *i)
        .map(|(_, p)| p)
        .collect()
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
            let mut outcomes = Vec::with_capacity(informs.len());
            for inform in informs {
                outcomes.push(apply_inform!(tx, inform));
            }
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
            upsert_parameters!(tx, device_id, params, now);
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
