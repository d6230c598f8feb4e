//! A synthetic fleet for the load probes (`acs-store`'s bench, `acs-api`'s `api_load`): 100
//! organizations, 10 device types and any number of devices, written in SQL into a migrated,
//! empty catalog (a million devices one store call at a time would take longer than what is
//! measured).
//!
//! Device `i` (1-based) belongs to organization `i % 100 + 1` and type `i % 10 + 1`; its
//! status changed at `2026-01-01T00:00:00Z + i` seconds. A quarter are Down and one in twenty
//! inactive, in runs of 100 and 7 devices, so neither lines up with an organization or a type
//! (every organization has Up and Down devices, active and inactive ones).

use chrono::{DateTime, TimeZone, Utc};

use crate::Backend;

pub const ORGS: i64 = 100;
pub const TYPES: i64 = 10;

/// When the fleet's clock starts: the catalog's creation, device `i`'s status change minus
/// `i` seconds.
pub fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

const SQLITE_DEVICES: &str = "
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
INSERT INTO devices (uuid, serial_number, name, is_active, status, status_change, type_id,
    software_version, manufacturer, product_class, oui, organization_id, latitude, longitude,
    update_frequency, address, last_connection, created)
SELECT lower(hex(randomblob(16))), printf('%s%08d', $4, i), printf('device %d', i),
    (i / 7) % 20 <> 0, CASE WHEN (i / 100) % 4 = 0 THEN 'Down' ELSE 'Up' END,
    strftime('%Y-%m-%dT%H:%M:%S+00:00', '2026-01-01', '+' || i || ' seconds'),
    i % $3 + 1, '1.2.3', 'Acme', 'HGW', '00D09E', i % $2 + 1, '37.7749', '-122.4194', 300,
    '10.0.0.1', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00'
FROM n";

/// The same devices as [`SQLITE_DEVICES`].
const POSTGRES_DEVICES: &str = "
INSERT INTO devices (uuid, serial_number, name, is_active, status, status_change, type_id,
    software_version, manufacturer, product_class, oui, organization_id, latitude, longitude,
    update_frequency, address, last_connection, created)
SELECT md5(i::text), $4 || lpad(i::text, 8, '0'), 'device ' || i, (i / 7) % 20 <> 0,
    CASE WHEN (i / 100) % 4 = 0 THEN 'Down' ELSE 'Up' END,
    TIMESTAMPTZ '2026-01-01 00:00:00+00' + make_interval(secs => i),
    i % $3 + 1, '1.2.3', 'Acme', 'HGW', '00D09E', i % $2 + 1, '37.7749', '-122.4194', 300,
    '10.0.0.1', TIMESTAMPTZ '2026-01-01 00:00:00+00', TIMESTAMPTZ '2026-01-01 00:00:00+00'
FROM generate_series(1, $1::bigint) AS i";

/// The catalog: organizations `org 0`… and types `type0`… (ids 1… in a fresh database).
const SQLITE_CATALOG: [&str; 2] = [
    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $1 - 1)
     INSERT INTO organizations (name, created)
     SELECT 'org ' || i, '2026-01-01T00:00:00+00:00' FROM n",
    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $1 - 1)
     INSERT INTO device_types (short_name, name, data_model_root, created)
     SELECT 'type' || i, 'Type ' || i, 'Device.', '2026-01-01T00:00:00+00:00' FROM n",
];

/// The same catalog as [`SQLITE_CATALOG`].
const POSTGRES_CATALOG: [&str; 2] = [
    "INSERT INTO organizations (name, created)
     SELECT 'org ' || i, TIMESTAMPTZ '2026-01-01 00:00:00+00'
     FROM generate_series(0, $1::bigint - 1) AS i ORDER BY i",
    "INSERT INTO device_types (short_name, name, data_model_root, created)
     SELECT 'type' || i, 'Type ' || i, 'Device.', TIMESTAMPTZ '2026-01-01 00:00:00+00'
     FROM generate_series(0, $1::bigint - 1) AS i ORDER BY i",
];

/// One backend's statements: the catalog, the devices, and the housekeeping after them.
struct Dialect {
    catalog: [&'static str; 2],
    devices: &'static str,
    after: &'static [&'static str],
}

const SQLITE: Dialect = Dialect {
    catalog: SQLITE_CATALOG,
    devices: SQLITE_DEVICES,
    // the checkpoint makes a copy of the file complete
    after: &["ANALYZE", "PRAGMA wal_checkpoint(TRUNCATE)"],
};

const POSTGRES: Dialect = Dialect {
    catalog: POSTGRES_CATALOG,
    devices: POSTGRES_DEVICES,
    after: &["VACUUM ANALYZE devices"],
};

/// The catalog and `devices` devices with serial numbers `<prefix>00000001`…, into the
/// migrated database at `url` (no organizations or types yet), then the planner's statistics
/// (and, on SQLite, a checkpoint, so a copy of the file is complete).
pub async fn seed(url: &str, backend: Backend, devices: i64, prefix: &str) {
    match backend {
        Backend::Sqlite => seed_on::<sqlx::Sqlite>(url, &SQLITE, devices, prefix).await,
        Backend::Postgres => seed_on::<sqlx::Postgres>(url, &POSTGRES, devices, prefix).await,
    }
}

async fn seed_on<DB>(url: &str, dialect: &Dialect, devices: i64, prefix: &str)
where
    DB: sqlx::Database,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let pool = sqlx::Pool::<DB>::connect(url).await.expect("seed pool");
    for (sql, n) in dialect.catalog.into_iter().zip([ORGS, TYPES]) {
        sqlx::query(sql)
            .bind(n)
            .execute(&pool)
            .await
            .expect("catalog");
    }
    sqlx::query(dialect.devices)
        .bind(devices)
        .bind(ORGS)
        .bind(TYPES)
        .bind(prefix)
        .execute(&pool)
        .await
        .expect("seed devices");
    for &sql in dialect.after {
        sqlx::query(sql).execute(&pool).await.expect(sql);
    }
    pool.close().await;
}
