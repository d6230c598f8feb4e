//! The catalog: organizations, locations, device types (with their profile) and firmware
//! images.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::backend::on_pool;
use crate::device::check_refs;
use crate::error::{Result, StoreError, conflict_or};
use crate::{Store, ts};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow, Serialize, utoipa::ToSchema)]
#[schema(as = OrganizationOut)]
pub struct Organization {
    pub id: i64,
    pub name: String,
    pub created: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow, Serialize, utoipa::ToSchema)]
#[schema(as = LocationOut)]
pub struct Location {
    pub id: i64,
    pub name: String,
    pub short_name: Option<String>,
    pub organization_id: Option<i64>,
    pub latitude: Option<String>,
    pub longitude: Option<String>,
    pub created: DateTime<Utc>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewLocation {
    pub name: String,
    pub short_name: Option<String>,
    pub organization_id: Option<i64>,
    pub latitude: Option<String>,
    pub longitude: Option<String>,
}

/// Where a device type keeps the things the API manages, and the values its devices are
/// converged to. TR-181 and TR-098 (and vendors) differ, so this lives per type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceTypeProfile {
    pub location_name_path: Option<String>,
    pub latitude_path: Option<String>,
    pub longitude_path: Option<String>,
    pub username_path: Option<String>,
    pub password_path: Option<String>,
    pub inform_interval_path: Option<String>,
    pub defaults: Vec<ProfileDefault>,
    /// Wire format for this type's CPEs: write the `<?xml ...?>` declaration (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xml_declaration: Option<bool>,
    /// Wire format: `zero_one` (default) or `true_false` booleans. Kept as text here; the API
    /// validates it and the session engine interprets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boolean_style: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileDefault {
    pub path: String,
    pub value: String,
    pub xsd_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceType {
    pub id: i64,
    pub short_name: String,
    pub name: String,
    /// `Device.` (TR-181) or `InternetGatewayDevice.` (TR-098).
    pub data_model_root: String,
    pub profile: Json<DeviceTypeProfile>,
    pub created: DateTime<Utc>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewDeviceType {
    pub short_name: String,
    pub name: String,
    pub data_model_root: String,
    pub profile: DeviceTypeProfile,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct FirmwareImage {
    pub id: i64,
    pub version: String,
    pub file_name: String,
    pub size: i64,
    /// Lower-case hex.
    pub sha256: String,
    pub device_type_id: Option<i64>,
    pub created: DateTime<Utc>,
}

impl FirmwareImage {
    /// Where the image file lives: `<data_dir>/firmware/<file_name>`.
    pub fn path(&self, data_dir: &Path) -> PathBuf {
        data_dir.join("firmware").join(&self.file_name)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewFirmwareImage {
    pub version: String,
    pub file_name: String,
    pub size: i64,
    pub sha256: String,
    pub device_type_id: Option<i64>,
}

/// A delete refused by a reference (`ON DELETE RESTRICT`) becomes a conflict naming the row.
fn still_used(err: sqlx::Error, what: String) -> StoreError {
    if let sqlx::Error::Database(db) = &err
        // SQLite reports a RESTRICT refusal as SQLITE_CONSTRAINT_TRIGGER, not _FOREIGNKEY
        && (db.is_foreign_key_violation() || db.message().contains("FOREIGN KEY constraint"))
    {
        return StoreError::Conflict {
            what: format!("{what} is still referenced; it"),
        };
    }
    StoreError::Database(err)
}

macro_rules! delete_by_id {
    ($self:expr, $sql:literal, $id:expr, $what:literal) => {{
        let id: i64 = $id;
        let n = on_pool!(&$self.backend, |pool, dialect| {
            sqlx::query($sql)
                .bind(id)
                .execute(pool)
                .await
                .map_err(|e| still_used(e, format!(concat!($what, " {}"), id)))?
                .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::not_found(format!(concat!($what, " {}"), id)));
        }
        Ok(())
    }};
}

impl Store {
    pub async fn create_organization(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Organization> {
        let now = ts(now);
        on_pool!(&self.backend, |pool, dialect| {
            sqlx::query_as(
                "INSERT INTO organizations (name, created) VALUES ($1, $2) \
                 RETURNING id, name, created",
            )
            .bind(name)
            .bind(now)
            .fetch_one(pool)
            .await
            .map_err(|e| conflict_or(e, || format!("organization named {name}")))
        })
    }

    pub async fn organization(&self, id: i64) -> Result<Option<Organization>> {
        on_pool!(&self.backend, |pool, dialect| {
            Ok(
                sqlx::query_as("SELECT id, name, created FROM organizations WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    pub async fn list_organizations(&self) -> Result<Vec<Organization>> {
        on_pool!(&self.backend, |pool, dialect| {
            Ok(
                sqlx::query_as("SELECT id, name, created FROM organizations ORDER BY id")
                    .fetch_all(pool)
                    .await?,
            )
        })
    }

    /// Renames an organization: `NotFound` for an unknown id, `Conflict` when the name is
    /// another organization's.
    pub async fn update_organization(&self, id: i64, name: &str) -> Result<Organization> {
        let row: Option<Organization> = on_pool!(&self.backend, |pool, dialect| {
            sqlx::query_as(
                "UPDATE organizations SET name = $2 WHERE id = $1 RETURNING id, name, created",
            )
            .bind(id)
            .bind(name)
            .fetch_optional(pool)
            .await
            .map_err(|e| conflict_or(e, || format!("organization named {name}")))?
        });
        row.ok_or_else(|| StoreError::not_found(format!("organization {id}")))
    }

    /// `Conflict` while devices or locations still belong to it.
    pub async fn delete_organization(&self, id: i64) -> Result<()> {
        delete_by_id!(
            self,
            "DELETE FROM organizations WHERE id = $1",
            id,
            "organization"
        )
    }

    pub async fn create_location(&self, new: &NewLocation, now: DateTime<Utc>) -> Result<Location> {
        let now = ts(now);
        on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            check_refs!(
                tx,
                [("organization_id", "organizations", new.organization_id)]
            )?;
            let row = sqlx::query_as(
                "INSERT INTO locations (name, short_name, organization_id, latitude, longitude, \
                 created) VALUES ($1, $2, $3, $4, $5, $6) \
                 RETURNING id, name, short_name, organization_id, latitude, longitude, created",
            )
            .bind(&new.name)
            .bind(&new.short_name)
            .bind(new.organization_id)
            .bind(&new.latitude)
            .bind(&new.longitude)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(row)
        })
    }

    /// Replaces a location's fields (`created` stays): `NotFound` for an unknown id,
    /// `ForeignKey` (nothing written) for an unknown organization. Devices at the location
    /// keep their own `location_name`.
    pub async fn update_location(&self, id: i64, new: &NewLocation) -> Result<Location> {
        let row: Option<Location> = on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            check_refs!(
                tx,
                [("organization_id", "organizations", new.organization_id)]
            )?;
            let row = sqlx::query_as(
                "UPDATE locations SET name = $2, short_name = $3, organization_id = $4, \
                 latitude = $5, longitude = $6 WHERE id = $1 \
                 RETURNING id, name, short_name, organization_id, latitude, longitude, created",
            )
            .bind(id)
            .bind(&new.name)
            .bind(&new.short_name)
            .bind(new.organization_id)
            .bind(&new.latitude)
            .bind(&new.longitude)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            row
        });
        row.ok_or_else(|| StoreError::not_found(format!("location {id}")))
    }

    pub async fn location(&self, id: i64) -> Result<Option<Location>> {
        on_pool!(&self.backend, |pool, dialect| {
            Ok(sqlx::query_as(
                "SELECT id, name, short_name, organization_id, latitude, longitude, created \
                 FROM locations WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Locations, of one organization when given, by id.
    pub async fn list_locations(&self, organization_id: Option<i64>) -> Result<Vec<Location>> {
        on_pool!(&self.backend, |pool, dialect| {
            Ok(sqlx::query_as(
                "SELECT id, name, short_name, organization_id, latitude, longitude, created \
                 FROM locations WHERE ($1 IS NULL OR organization_id = $1) ORDER BY id",
            )
            .bind(organization_id)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Devices at this location keep their `location_name` and lose the reference.
    pub async fn delete_location(&self, id: i64) -> Result<()> {
        delete_by_id!(self, "DELETE FROM locations WHERE id = $1", id, "location")
    }

    pub async fn create_device_type(
        &self,
        new: &NewDeviceType,
        now: DateTime<Utc>,
    ) -> Result<DeviceType> {
        let now = ts(now);
        on_pool!(&self.backend, |pool, dialect| {
            sqlx::query_as(
                "INSERT INTO device_types (short_name, name, data_model_root, profile, created) \
                 VALUES ($1, $2, $3, $4, $5) \
                 RETURNING id, short_name, name, data_model_root, profile, created",
            )
            .bind(&new.short_name)
            .bind(&new.name)
            .bind(&new.data_model_root)
            .bind(Json(&new.profile))
            .bind(now)
            .fetch_one(pool)
            .await
            .map_err(|e| conflict_or(e, || format!("device type {}", new.short_name)))
        })
    }

    pub async fn device_type(&self, id: i64) -> Result<Option<DeviceType>> {
        on_pool!(&self.backend, |pool, dialect| {
            Ok(sqlx::query_as(
                "SELECT id, short_name, name, data_model_root, profile, created \
                 FROM device_types WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?)
        })
    }

    pub async fn list_device_types(&self) -> Result<Vec<DeviceType>> {
        on_pool!(&self.backend, |pool, dialect| {
            Ok(sqlx::query_as(
                "SELECT id, short_name, name, data_model_root, profile, created \
                 FROM device_types ORDER BY id",
            )
            .fetch_all(pool)
            .await?)
        })
    }

    /// Replaces a device type's names and profile.
    pub async fn update_device_type(&self, id: i64, new: &NewDeviceType) -> Result<DeviceType> {
        let row: Option<DeviceType> = on_pool!(&self.backend, |pool, dialect| {
            sqlx::query_as(
                "UPDATE device_types SET short_name = $2, name = $3, data_model_root = $4, \
                 profile = $5 WHERE id = $1 \
                 RETURNING id, short_name, name, data_model_root, profile, created",
            )
            .bind(id)
            .bind(&new.short_name)
            .bind(&new.name)
            .bind(&new.data_model_root)
            .bind(Json(&new.profile))
            .fetch_optional(pool)
            .await
            .map_err(|e| conflict_or(e, || format!("device type {}", new.short_name)))?
        });
        row.ok_or_else(|| StoreError::not_found(format!("device type {id}")))
    }

    /// `Conflict` while devices or images still use it.
    pub async fn delete_device_type(&self, id: i64) -> Result<()> {
        delete_by_id!(
            self,
            "DELETE FROM device_types WHERE id = $1",
            id,
            "device type"
        )
    }

    pub async fn create_firmware_image(
        &self,
        new: &NewFirmwareImage,
        now: DateTime<Utc>,
    ) -> Result<FirmwareImage> {
        let now = ts(now);
        on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            check_refs!(tx, [("type", "device_types", new.device_type_id)])?;
            let row = sqlx::query_as(
                "INSERT INTO firmware_images (version, file_name, size, sha256, device_type_id, \
                 created) VALUES ($1, $2, $3, $4, $5, $6) \
                 RETURNING id, version, file_name, size, sha256, device_type_id, created",
            )
            .bind(&new.version)
            .bind(&new.file_name)
            .bind(new.size)
            .bind(&new.sha256)
            .bind(new.device_type_id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| conflict_or(e, || format!("firmware file {}", new.file_name)))?;
            tx.commit().await?;
            Ok(row)
        })
    }

    pub async fn firmware_image(&self, id: i64) -> Result<Option<FirmwareImage>> {
        on_pool!(&self.backend, |pool, dialect| {
            Ok(sqlx::query_as(
                "SELECT id, version, file_name, size, sha256, device_type_id, created \
                 FROM firmware_images WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Changes an image's metadata (the file, its name, size and hash stay): `NotFound` for an
    /// unknown id, `ForeignKey` (nothing written) for an unknown device type.
    pub async fn update_firmware_image(
        &self,
        id: i64,
        version: &str,
        device_type_id: Option<i64>,
    ) -> Result<FirmwareImage> {
        let row: Option<FirmwareImage> = on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            check_refs!(tx, [("device_type_id", "device_types", device_type_id)])?;
            let row = sqlx::query_as(
                "UPDATE firmware_images SET version = $2, device_type_id = $3 WHERE id = $1 \
                 RETURNING id, version, file_name, size, sha256, device_type_id, created",
            )
            .bind(id)
            .bind(version)
            .bind(device_type_id)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            row
        });
        row.ok_or_else(|| StoreError::not_found(format!("firmware image {id}")))
    }

    pub async fn list_firmware_images(&self) -> Result<Vec<FirmwareImage>> {
        on_pool!(&self.backend, |pool, dialect| {
            Ok(sqlx::query_as(
                "SELECT id, version, file_name, size, sha256, device_type_id, created \
                 FROM firmware_images ORDER BY id",
            )
            .fetch_all(pool)
            .await?)
        })
    }

    /// `Conflict` while a device points at it. The file itself is the caller's to remove.
    pub async fn delete_firmware_image(&self, id: i64) -> Result<()> {
        delete_by_id!(
            self,
            "DELETE FROM firmware_images WHERE id = $1",
            id,
            "firmware image"
        )
    }
}
