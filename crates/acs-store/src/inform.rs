//! The Inform upsert: identity, versions, addresses, events and parameters of one Inform
//! written in one transaction; and the parameter table.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::backend::{Backend, Dialect, on_pool};
use crate::error::{Result, StoreError};
use crate::param_limits::{ParameterGuard, cap_parameter_rows};
use crate::session::{SessionOp, SessionOpOutcome, SessionTx};
use crate::sqlite_sync::run_sync;
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
    /// When the value, type or writability was last set or changed, not when it was last
    /// reported: an upsert of an unchanged row leaves the row alone.
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
    /// The TCP peer the Inform came from (what the connection-request address policy
    /// trusts, unlike `address`, which the CPE reports). `None` keeps the stored one.
    pub peer_address: Option<String>,
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
    /// Stored. `created`: the serial was new; `came_up`: status flipped Down -> Up;
    /// `type_id` and `debug`: the device's type and debug flag as stored; `has_cr_username`:
    /// a connection-request username is on record, so the session knows whether acs must
    /// provision a pair (all read with the device row the upsert plans from, so the session
    /// needs no second read to learn them).
    Accepted {
        device_id: i64,
        created: bool,
        came_up: bool,
        type_id: Option<i64>,
        debug: bool,
        has_cr_username: bool,
    },
    /// The device exists with `is_active = false`: nothing was written; refuse the session.
    Inactive { device_id: i64 },
    /// The serial number is on record under another identity (`oui`, `product_class`: the
    /// stored ones) than the Inform's DeviceId: another vendor's device, or another product
    /// class of the vendor, with the same serial number. Nothing was written; refuse the
    /// session. The rule: `same_identity` in this module.
    IdentityConflict {
        device_id: i64,
        oui: Option<String>,
        product_class: Option<String>,
    },
    /// Unknown serial and auto-registration off: nothing was written.
    Unknown,
}

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

/// Serial numbers per lookup statement.
pub(crate) const LOOKUP_CHUNK: usize = 500;
/// New devices per multi-row INSERT ([`INSERT_BINDS`] binds each).
pub(crate) const INSERT_CHUNK: usize = 200;
/// Devices per multi-row UPDATE ([`UPDATE_BINDS`] binds each).
pub(crate) const UPDATE_CHUNK: usize = 300;
/// Event rows per multi-row INSERT (4 binds each).
pub(crate) const EVENT_CHUNK: usize = 1000;

/// A device of a batch as the lookup found it (or as an earlier Inform of the batch left it).
#[derive(Clone, Debug)]
pub(crate) struct KnownDevice {
    pub id: i64,
    pub active: bool,
    pub up: bool,
    pub type_id: Option<i64>,
    pub oui: Option<String>,
    pub product_class: Option<String>,
    pub debug: bool,
    /// A connection-request username is on record.
    pub has_cr_username: bool,
}

/// Known devices of a batch by serial number.
pub(crate) type Known = HashMap<String, KnownDevice>;

/// Whether an Inform's DeviceId names the device on record (TR-069 §3.4.4: the device is
/// OUI + ProductClass + SerialNumber; the API knows it by serial number alone). An OUI or
/// ProductClass on record must be matched, ignoring case (real CPEs send `00a859`); one not
/// on record (a device registered through the API) is adopted from the Inform; an Inform
/// without a ProductClass contradicts none (some stacks leave it empty).
pub(crate) fn same_identity(
    stored_oui: Option<&str>,
    stored_product_class: Option<&str>,
    inform: &Inform,
) -> bool {
    let matches = |stored: Option<&str>, reported: Option<&str>| match stored {
        None | Some("") => true,
        Some(stored) => reported.is_none_or(|r| r.eq_ignore_ascii_case(stored)),
    };
    // the OUI is mandatory in a DeviceId: an empty one does not match one on record
    matches(stored_oui, Some(inform.oui.as_str()))
        && matches(stored_product_class, inform.product_class.as_deref())
}

/// What an Inform of a batch will do.
pub(crate) enum Plan {
    Done(InformOutcome),
    Insert,
    /// Another identity than the batch's earlier Inform that inserts the serial; the device
    /// id comes with the insert.
    Conflict {
        oui: String,
        product_class: Option<String>,
    },
    Update {
        device_id: Option<i64>,
        came_up: bool,
        type_id: Option<i64>,
        debug: bool,
        has_cr_username: bool,
    },
}

/// Each Inform's fate, in order, from the devices found: the first Inform of a new serial
/// inserts it, later ones in the same batch update it (or are refused under another identity).
pub(crate) fn plan_informs(informs: &[&Inform], known: &mut Known) -> Vec<Plan> {
    let mut plans = Vec::with_capacity(informs.len());
    // serial -> the Inform that inserts it, whose identity later ones must match
    let mut new_serials: HashMap<&str, &Inform> = HashMap::new();
    for &inform in informs {
        let serial = inform.serial_number.as_str();
        let plan = match known.get_mut(serial) {
            Some(d) if !same_identity(d.oui.as_deref(), d.product_class.as_deref(), inform) => {
                Plan::Done(InformOutcome::IdentityConflict {
                    device_id: d.id,
                    oui: d.oui.clone(),
                    product_class: d.product_class.clone(),
                })
            }
            Some(d) if !d.active => Plan::Done(InformOutcome::Inactive { device_id: d.id }),
            Some(d) => {
                let came_up = !d.up;
                d.up = true;
                // what the upsert writes: later Informs of the batch must match it
                d.oui = Some(inform.oui.clone());
                if inform.product_class.is_some() {
                    d.product_class = inform.product_class.clone();
                }
                Plan::Update {
                    device_id: Some(d.id),
                    came_up,
                    type_id: d.type_id,
                    debug: d.debug,
                    has_cr_username: d.has_cr_username,
                }
            }
            None => match new_serials.get(serial) {
                // inserted earlier in this batch, without a type; the id comes with the insert
                Some(first) => {
                    if same_identity(Some(&first.oui), first.product_class.as_deref(), inform) {
                        Plan::Update {
                            device_id: None,
                            came_up: false,
                            type_id: None,
                            debug: false,
                            has_cr_username: false,
                        }
                    } else {
                        Plan::Conflict {
                            oui: first.oui.clone(),
                            product_class: first.product_class.clone(),
                        }
                    }
                }
                None if !inform.auto_register => Plan::Done(InformOutcome::Unknown),
                None => {
                    new_serials.insert(serial, inform);
                    Plan::Insert
                }
            },
        };
        plans.push(plan);
    }
    plans
}

/// The Informs that insert a device.
pub(crate) fn inserts<'a>(informs: &[&'a Inform], plans: &[Plan]) -> Vec<&'a Inform> {
    informs
        .iter()
        .zip(plans)
        .filter(|(_, p)| matches!(p, Plan::Insert))
        .map(|(i, _)| *i)
        .collect()
}

/// A device row to update: its id, the last Inform of the batch for it (its values win) and
/// when its first Inform of the batch came (when it came up, if it was Down).
pub(crate) type DeviceUpdate<'a> = (i64, &'a Inform, DateTime<Utc>);

/// The outcomes, in order, once new devices have ids (`inserted`: serial -> id), and the
/// device rows to update.
pub(crate) fn settle_plans<'a>(
    informs: &[&'a Inform],
    plans: Vec<Plan>,
    inserted: &HashMap<String, i64>,
) -> (Vec<InformOutcome>, Vec<DeviceUpdate<'a>>) {
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
                debug: false,
                has_cr_username: false,
            },
            Plan::Conflict { oui, product_class } => InformOutcome::IdentityConflict {
                device_id: inserted[&inform.serial_number],
                oui: Some(oui),
                product_class,
            },
            Plan::Update {
                device_id,
                came_up,
                type_id,
                debug,
                has_cr_username,
            } => {
                let device_id = device_id.unwrap_or_else(|| inserted[&inform.serial_number]);
                updates.push((device_id, inform));
                InformOutcome::Accepted {
                    device_id,
                    created: false,
                    came_up,
                    type_id,
                    debug,
                    has_cr_username,
                }
            }
        };
        outcomes.push(outcome);
    }
    let mut last_update: HashMap<i64, usize> = HashMap::with_capacity(updates.len());
    let mut first_seen: HashMap<i64, DateTime<Utc>> = HashMap::with_capacity(updates.len());
    for (i, (id, inform)) in updates.iter().enumerate() {
        last_update.insert(*id, i);
        first_seen.entry(*id).or_insert_with(|| ts(inform.now));
    }
    let updates = updates
        .iter()
        .enumerate()
        .filter(|(i, (id, _))| last_update[id] == *i)
        .map(|(_, (id, inform))| (*id, *inform, first_seen[id]))
        .collect();
    (outcomes, updates)
}

/// An event row to write: the device, the event, when it was received.
pub(crate) type EventRow<'a> = (i64, &'a InformEvent, DateTime<Utc>);

/// What the accepted Informs of a batch write besides their device rows: the devices whose
/// stored parameters go first (a BOOTSTRAP of a known device), the parameter rows (not yet
/// deduplicated) and the event rows.
pub(crate) struct InformRows<'a> {
    pub replaced: Vec<i64>,
    pub params: Vec<ParamRow<'a>>,
    pub events: Vec<EventRow<'a>>,
}

pub(crate) fn inform_rows<'a>(
    informs: &[&'a Inform],
    outcomes: &[InformOutcome],
    replace: &[bool],
) -> InformRows<'a> {
    let mut rows = InformRows {
        replaced: Vec::new(),
        params: Vec::new(),
        events: Vec::new(),
    };
    for ((inform, outcome), replace) in informs.iter().zip(outcomes).zip(replace) {
        if let InformOutcome::Accepted {
            device_id, created, ..
        } = *outcome
        {
            if *replace && !created {
                rows.replaced.push(device_id);
            }
            let now = ts(inform.now);
            rows.params
                .extend(inform.parameters.iter().map(|param| ParamRow {
                    device_id,
                    param,
                    now,
                }));
            rows.events
                .extend(inform.events.iter().map(|e| (device_id, e, now)));
        }
    }
    rows
}

/// What an Inform reports of the device row, after its OUI, in column order: product class,
/// manufacturer, software and hardware version, ConnectionRequestURL, WAN address,
/// ParameterKey, peer address (absent ones keep the stored value).
pub(crate) fn reported(inform: &Inform) -> [&Option<String>; REPORTED] {
    [
        &inform.product_class,
        &inform.manufacturer,
        &inform.software_version,
        &inform.hardware_version,
        &inform.connection_request_url,
        &inform.address,
        &inform.parameter_key,
        &inform.peer_address,
    ]
}

/// How many columns [`reported`] fills.
pub(crate) const REPORTED: usize = 8;
/// Binds per new device row: uuid, serial, OUI, the reported columns, unique identifier and
/// four times.
pub(crate) const INSERT_BINDS: usize = 3 + REPORTED + 1 + 4;
/// Binds per updated device row: id, OUI, the reported columns, the time.
pub(crate) const UPDATE_BINDS: usize = 2 + REPORTED + 1;

/// CWMP DeviceId canonical form OUI-ProductClass-SerialNumber (TR-069 §3.4.4).
pub(crate) fn unique_identifier(inform: &Inform) -> String {
    match &inform.product_class {
        Some(pc) => format!("{}-{}-{}", inform.oui, pc, inform.serial_number),
        None => format!("{}-{}", inform.oui, inform.serial_number),
    }
}

/// The batch statements' fixed text; placeholders go between head and tail.
pub(crate) const LOOKUP_DEVICES: &str = "SELECT id, is_active, status, serial_number, type_id, \
     oui, product_class, debug, (username IS NOT NULL) AS has_cr_username FROM devices WHERE serial_number IN (";
pub(crate) const INSERT_DEVICES: &str = "INSERT INTO devices (uuid, serial_number, oui, \
     product_class, manufacturer, software_version, hardware_version, connection_request_url, \
     address, parameter_key, peer_address, unique_identifier, status_change, last_connection, \
     created, last_change, is_active, status) VALUES ";
/// Each new device's row ends with these two literals after its [`INSERT_BINDS`] placeholders.
pub(crate) const INSERT_DEVICE_ROW_END: &str = "TRUE, 'Up')";
pub(crate) const INSERT_DEVICES_END: &str = " RETURNING id, serial_number";
/// What every Inform writes on its device's row. Neither `status` nor `status_change` is
/// assigned here: seven indexes hold one of them, and SQLite rewrites an index's entry for
/// every row whose UPDATE assigns one of its columns, changed or not (7 more pages to write per
/// Inform). [`MARK_UP`] sets them on the rows that were not Up yet.
pub(crate) const UPDATE_DEVICES: &str = "WITH v (id, oui, product_class, manufacturer, \
     software_version, hardware_version, connection_request_url, address, parameter_key, \
     peer_address, now) AS (VALUES ";
pub(crate) const UPDATE_DEVICES_END: &str = ") UPDATE devices SET oui = v.oui, \
     product_class = COALESCE(v.product_class, devices.product_class), \
     manufacturer = COALESCE(v.manufacturer, devices.manufacturer), \
     software_version = COALESCE(v.software_version, devices.software_version), \
     hardware_version = COALESCE(v.hardware_version, devices.hardware_version), \
     connection_request_url = COALESCE(v.connection_request_url, devices.connection_request_url), \
     address = COALESCE(v.address, devices.address), \
     parameter_key = COALESCE(v.parameter_key, devices.parameter_key), \
     peer_address = COALESCE(v.peer_address, devices.peer_address), \
     last_connection = v.now \
     FROM v WHERE devices.id = v.id";
/// Up since the batch's first Inform of the device, for the devices that were not Up.
pub(crate) const MARK_UP: &str = "WITH v (id, up_since) AS (VALUES ";
pub(crate) const MARK_UP_END: &str = ") UPDATE devices SET status = 'Up', \
     status_change = v.up_since FROM v WHERE devices.id = v.id AND devices.status <> 'Up'";
pub(crate) const DELETE_PARAMETERS: &str = "DELETE FROM parameters WHERE device_id = $1";

/// [`LOOKUP_DEVICES`] for `serials` serial numbers.
pub(crate) fn lookup_devices_sql(dialect: Dialect, serials: usize) -> String {
    let mut sql = String::from(LOOKUP_DEVICES);
    dialect.list(&mut sql, serials);
    sql.push(')');
    sql
}

/// [`INSERT_DEVICES`] of `rows` new devices, [`INSERT_BINDS`] binds each (uuid, serial,
/// OUI, [`reported`], [`unique_identifier`], the Inform's time four times).
pub(crate) fn insert_devices_sql(dialect: Dialect, rows: usize) -> String {
    let mut sql = String::from(INSERT_DEVICES);
    let mut n = 0;
    for i in 0..rows {
        sql.push_str(if i > 0 { ", (" } else { "(" });
        for _ in 0..INSERT_BINDS {
            n += 1;
            dialect.placeholder(&mut sql, n);
            sql.push_str(", ");
        }
        sql.push_str(INSERT_DEVICE_ROW_END);
    }
    sql.push_str(INSERT_DEVICES_END);
    sql
}

/// [`UPDATE_DEVICES`] of `rows` devices, [`UPDATE_BINDS`] binds each (id, OUI, [`reported`],
/// the Inform's time).
pub(crate) fn update_devices_sql(dialect: Dialect, rows: usize) -> String {
    // PostgreSQL types a VALUES list from its parameters
    const TYPES: [&str; UPDATE_BINDS] = [
        "bigint",
        "text",
        "text",
        "text",
        "text",
        "text",
        "text",
        "text",
        "text",
        "text",
        "timestamptz",
    ];
    let mut sql = String::from(UPDATE_DEVICES);
    dialect.value_rows(&mut sql, rows, UPDATE_BINDS, &TYPES);
    sql.push_str(UPDATE_DEVICES_END);
    sql
}

/// [`MARK_UP`] of `rows` (device id, up since) pairs.
pub(crate) fn mark_up_sql(dialect: Dialect, rows: usize) -> String {
    let mut sql = String::from(MARK_UP);
    dialect.value_rows(&mut sql, rows, 2, &["bigint", "timestamptz"]);
    sql.push_str(MARK_UP_END);
    sql
}

/// Inserts `rows` [`EventRow`]s (device id, code, CommandKey, received).
pub(crate) fn insert_events_sql(dialect: Dialect, rows: usize) -> String {
    let mut sql =
        String::from("INSERT INTO events (device_id, code, command_key, received) VALUES ");
    dialect.value_rows(&mut sql, rows, 4, &[]);
    sql
}

/// Upserts a batch of Informs inside `tx`'s transaction; their outcomes, in order.
/// `replace[i]`: the i-th Inform's parameters replace every stored one of its device (a
/// BOOTSTRAP: the CPE forgot the old ones). Statements per batch: one device lookup per 500
/// serials, one multi-row INSERT per 200 new devices, one multi-row UPDATE (and one status
/// flip) per 300 known ones, one parameter DELETE per replacing Inform, the parameter upsert
/// ([`write_parameter_rows`]), one multi-row insert per 1,000 events.
pub(crate) async fn apply_informs<T: SessionTx>(
    tx: &mut T,
    guard: &ParameterGuard,
    informs: &[&Inform],
    replace: &[bool],
) -> Result<Vec<InformOutcome>> {
    let mut known = Known::with_capacity(informs.len());
    for chunk in informs.chunks(LOOKUP_CHUNK) {
        known.extend(tx.lookup_devices(chunk).await?);
    }
    let plans = plan_informs(informs, &mut known);
    // first contact: one multi-row INSERT per chunk
    let new = inserts(informs, &plans);
    let mut inserted: HashMap<String, i64> = HashMap::with_capacity(new.len());
    for chunk in new.chunks(INSERT_CHUNK) {
        let rows = tx.insert_devices(chunk).await?;
        inserted.extend(rows.into_iter().map(|(id, serial)| (serial, id)));
    }
    // everyone else: one multi-row UPDATE per chunk
    let (outcomes, updates) = settle_plans(informs, plans, &inserted);
    for chunk in updates.chunks(UPDATE_CHUNK) {
        tx.update_devices(chunk).await?;
    }
    let rows = inform_rows(informs, &outcomes, replace);
    for &device_id in &rows.replaced {
        tx.delete_parameters(device_id).await?;
    }
    write_parameter_rows(tx, guard, rows.params).await?;
    for chunk in rows.events.chunks(EVENT_CHUNK) {
        tx.insert_events(chunk).await?;
    }
    Ok(outcomes)
}

/// Upserts parameter rows (not yet deduplicated) within the parameter limits
/// (`param_limits.rs`).
pub(crate) async fn write_parameter_rows<T: SessionTx>(
    tx: &mut T,
    guard: &ParameterGuard,
    rows: Vec<ParamRow<'_>>,
) -> Result<()> {
    let rows = cap_parameter_rows(tx, guard, dedup_rows(rows)).await?;
    if rows.is_empty() {
        return Ok(());
    }
    tx.upsert_parameters(&rows).await
}

/// Upserts parameters of a device (a GetParameterValues/Names response): `ForeignKey`, and
/// nothing written, when the device does not exist.
pub(crate) async fn upsert_parameters<T: SessionTx>(
    tx: &mut T,
    guard: &ParameterGuard,
    device_id: i64,
    params: &[ParameterValue],
    now: DateTime<Utc>,
) -> Result<()> {
    if !tx.device_exists(device_id).await? {
        return Err(StoreError::ForeignKey {
            field: "device",
            value: device_id,
        });
    }
    let now = ts(now);
    let rows = params
        .iter()
        .map(|param| ParamRow {
            device_id,
            param,
            now,
        })
        .collect();
    write_parameter_rows(tx, guard, rows).await
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
        let ops: Vec<SessionOp> = informs.iter().cloned().map(SessionOp::Inform).collect();
        let ops: Vec<&SessionOp> = ops.iter().collect();
        Ok(self
            .session_ops(&ops)
            .await?
            .into_iter()
            .map(|outcome| match outcome {
                SessionOpOutcome::Inform(outcome) => outcome,
                other => unreachable!("an inform answered {other:?}"),
            })
            .collect())
    }

    /// Upserts parameters of a device (a GetParameterValues/Names response) in one transaction.
    pub async fn upsert_parameters(
        &self,
        device_id: i64,
        params: &[ParameterValue],
        now: DateTime<Utc>,
    ) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(_, sync) => {
                let params = params.to_vec();
                sync.write_blocking(move |tx, guard| {
                    run_sync(upsert_parameters(tx, guard, device_id, &params, now))
                })
                .await
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                upsert_parameters(&mut *tx, &self.params, device_id, params, now).await?;
                tx.commit().await?;
                Ok(())
            }
        }
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

    /// One page of [`Store::list_parameters`]: at most `limit` from `offset`, by path, and
    /// how many there are in all.
    pub async fn list_parameters_page(
        &self,
        device_id: i64,
        prefix: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<Parameter>)> {
        on_pool!(&self.backend, |pool, dialect| {
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM parameters \
                 WHERE device_id = $1 AND substr(path, 1, length($2)) = $2",
            )
            .bind(device_id)
            .bind(prefix)
            .fetch_one(pool)
            .await?;
            let page = sqlx::query_as(
                "SELECT path, value, xsd_type, writable, updated FROM parameters \
                 WHERE device_id = $1 AND substr(path, 1, length($2)) = $2 ORDER BY path \
                 LIMIT $3 OFFSET $4",
            )
            .bind(device_id)
            .bind(prefix)
            .bind(limit.max(0))
            .bind(offset.max(0))
            .fetch_all(pool)
            .await?;
            Ok((count, page))
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
