//! PostgreSQL's session writes, through sqlx: the twin of `sqlite_sync.rs`.
//!
//! Each session write exists once per backend: [`SessionTx`] for a PostgreSQL connection
//! here, for a rusqlite transaction in `sqlite_sync.rs`. Both bind and run the statements
//! whose text is built beside the drivers they share (`session.rs`, `inform.rs`, `lease.rs`,
//! `param_limits.rs`), which decide what runs and in which order. The caller holds the
//! transaction.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgConnection};

use crate::Dialect;
use crate::error::Result;
use crate::inform::{
    DELETE_PARAMETERS, DeviceUpdate, EventRow, Inform, KnownDevice, ParamRow, insert_devices_sql,
    insert_events_sql, lookup_devices_sql, mark_up_sql, reported, unique_identifier,
    update_devices_sql,
};
use crate::lease::{EndIdleTurns, TakeLeases, release_leases_sql};
use crate::param_limits::{count_sql, existing_sql};
use crate::session::{Claim, SessionTx};
use crate::task::{CLAIM_UNDER_LEASE, Task};
use crate::ts;

/// The columns of `LOOKUP_DEVICES`, in order.
type LookupRow = (
    i64,
    bool,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    bool,
    bool,
);

impl SessionTx for PgConnection {
    const DIALECT: Dialect = Dialect::Postgres;

    async fn take_leases(&mut self, takes: TakeLeases<'_>) -> Result<Vec<String>> {
        let sql = takes.sql(Self::DIALECT);
        let mut q = sqlx::query_scalar(AssertSqlSafe(sql));
        for (serial, holder, expires) in takes.rows {
            q = q.bind(*serial).bind(*holder).bind(*expires);
        }
        Ok(q.bind(takes.now).fetch_all(self).await?)
    }

    async fn release_leases(&mut self, releases: &[(&str, &str)]) -> Result<()> {
        let sql = release_leases_sql(Self::DIALECT, releases.len());
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (serial, holder) in releases {
            q = q.bind(*serial).bind(*holder);
        }
        q.execute(self).await?;
        Ok(())
    }

    async fn end_idle_turns(&mut self, turns: EndIdleTurns<'_>) -> Result<Vec<String>> {
        let sql = turns.sql(Self::DIALECT);
        let mut q = sqlx::query_scalar(AssertSqlSafe(sql));
        for (serial, holder, device_id) in turns.rows {
            q = q.bind(*serial).bind(*holder).bind(*device_id);
        }
        Ok(q.bind(turns.now).bind(turns.now).fetch_all(self).await?)
    }

    async fn claim_under_lease(&mut self, claim: Claim<'_>) -> Result<Option<Task>> {
        Ok(sqlx::query_as(CLAIM_UNDER_LEASE.1)
            .bind(claim.turn.device_id)
            .bind(&claim.turn.holder)
            .bind(claim.now)
            .bind(claim.until)
            .bind(&claim.turn.serial_number)
            .fetch_optional(self)
            .await?)
    }

    async fn lookup_devices(&mut self, informs: &[&Inform]) -> Result<Vec<(String, KnownDevice)>> {
        let sql = lookup_devices_sql(Self::DIALECT, informs.len());
        let mut q = sqlx::query_as::<_, LookupRow>(AssertSqlSafe(sql));
        for inform in informs {
            q = q.bind(&inform.serial_number);
        }
        let rows = q.fetch_all(self).await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, active, status, serial, type_id, oui, product_class, debug, has_cr)| {
                    let device = KnownDevice {
                        id,
                        active,
                        up: status == "Up",
                        type_id,
                        oui,
                        product_class,
                        debug,
                        has_cr_username: has_cr,
                    };
                    (serial, device)
                },
            )
            .collect())
    }

    async fn insert_devices(&mut self, informs: &[&Inform]) -> Result<Vec<(i64, String)>> {
        let sql = insert_devices_sql(Self::DIALECT, informs.len());
        let mut q = sqlx::query_as(AssertSqlSafe(sql));
        for inform in informs {
            let now = ts(inform.now);
            q = q
                .bind(crate::secret::new_uuid())
                .bind(&inform.serial_number)
                .bind(&inform.oui);
            for v in reported(inform) {
                q = q.bind(v.as_deref());
            }
            q = q.bind(unique_identifier(inform));
            for _ in 0..4 {
                q = q.bind(now);
            }
        }
        Ok(q.fetch_all(self).await?)
    }

    async fn update_devices(&mut self, updates: &[DeviceUpdate<'_>]) -> Result<()> {
        let sql = update_devices_sql(Self::DIALECT, updates.len());
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (device_id, inform, _) in updates {
            q = q.bind(*device_id).bind(&inform.oui);
            for v in reported(inform) {
                q = q.bind(v.as_deref());
            }
            q = q.bind(ts(inform.now));
        }
        q.execute(&mut *self).await?;
        let sql = mark_up_sql(Self::DIALECT, updates.len());
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (device_id, _, up_since) in updates {
            q = q.bind(*device_id).bind(*up_since);
        }
        q.execute(self).await?;
        Ok(())
    }

    async fn insert_events(&mut self, events: &[EventRow<'_>]) -> Result<()> {
        let sql = insert_events_sql(Self::DIALECT, events.len());
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (device_id, e, received) in events {
            q = q
                .bind(*device_id)
                .bind(&e.code)
                .bind(&e.command_key)
                .bind(*received);
        }
        q.execute(self).await?;
        Ok(())
    }

    async fn device_exists(&mut self, device_id: i64) -> Result<bool> {
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM devices WHERE id = $1")
            .bind(device_id)
            .fetch_optional(self)
            .await?;
        Ok(found.is_some())
    }

    async fn delete_parameters(&mut self, device_id: i64) -> Result<()> {
        sqlx::query(DELETE_PARAMETERS)
            .bind(device_id)
            .execute(self)
            .await?;
        Ok(())
    }

    async fn existing_parameters(&mut self, rows: &[ParamRow<'_>]) -> Result<Vec<(i64, String)>> {
        let sql = existing_sql(Self::DIALECT, rows.len());
        let mut q = sqlx::query_as(AssertSqlSafe(sql));
        for r in rows {
            q = q.bind(r.device_id).bind(r.param.path.as_str());
        }
        Ok(q.fetch_all(self).await?)
    }

    async fn count_parameters(&mut self, devices: &[i64]) -> Result<Vec<(i64, i64)>> {
        let sql = count_sql(Self::DIALECT, devices.len());
        let mut q = sqlx::query_as(AssertSqlSafe(sql));
        for d in devices {
            q = q.bind(*d);
        }
        Ok(q.fetch_all(self).await?)
    }

    /// One statement of one shape for any number of rows: six arrays, unnested. (A multi-row
    /// VALUES has a new shape per row count, and PostgreSQL plans each anew.)
    async fn upsert_parameters(&mut self, rows: &[ParamRow<'_>]) -> Result<()> {
        let ids: Vec<i64> = rows.iter().map(|r| r.device_id).collect();
        let paths: Vec<&str> = rows.iter().map(|r| r.param.path.as_str()).collect();
        let values: Vec<&str> = rows.iter().map(|r| r.param.value.as_str()).collect();
        let types: Vec<&str> = rows.iter().map(|r| r.param.xsd_type.as_str()).collect();
        let writable: Vec<Option<bool>> = rows.iter().map(|r| r.param.writable).collect();
        let updated: Vec<DateTime<Utc>> = rows.iter().map(|r| r.now).collect();
        sqlx::query(
            "INSERT INTO parameters (device_id, path, value, xsd_type, writable, updated) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], \
             $5::boolean[], $6::timestamptz[]) \
             ON CONFLICT (device_id, path) DO UPDATE SET value = excluded.value, \
             xsd_type = excluded.xsd_type, \
             writable = COALESCE(excluded.writable, parameters.writable), \
             updated = excluded.updated \
             WHERE parameters.value IS DISTINCT FROM excluded.value \
             OR parameters.xsd_type IS DISTINCT FROM excluded.xsd_type \
             OR (excluded.writable IS NOT NULL \
             AND parameters.writable IS DISTINCT FROM excluded.writable)",
        )
        .bind(ids)
        .bind(paths)
        .bind(values)
        .bind(types)
        .bind(writable)
        .bind(updated)
        .execute(self)
        .await?;
        Ok(())
    }
}
