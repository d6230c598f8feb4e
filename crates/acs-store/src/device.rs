//! Devices: create, read, update, delete by serial number; the filtered, paginated list.
//!
//! Each device field is declared once: [`Device`] (and the SELECT that fills it) in
//! `device_row!`, the columns an API write stores as given in `settings!` (and from there
//! [`NewDevice`], [`DevicePatch`], the INSERT and the UPDATE). ARCHITECTURE.md walks through
//! adding one.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use crate::backend::{Backend, on_pool};
use crate::error::{Result, StoreError, conflict_or};
use crate::secret::{DevicePassword, new_uuid};
use crate::task::{FIRMWARE_TASK_KIND, NewTask, insert_tasks, sync_firmware_pending};
use crate::{Store, ts};

/// `Up` while the device keeps its Inform schedule, `Down` after the grace (DESIGN §5).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[schema(
    description = "`Up` while the device keeps its Inform schedule, `Down` after it missed it."
)]
pub enum DeviceStatus {
    Up,
    /// Also a device that never informed.
    #[default]
    Down,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Up => "Up",
            DeviceStatus::Down => "Down",
        }
    }
}

impl TryFrom<String> for DeviceStatus {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "Up" => Ok(DeviceStatus::Up),
            "Down" => Ok(DeviceStatus::Down),
            other => Err(format!("unknown device status {other:?}")),
        }
    }
}

/// Declares [`Device`] and the column list of its SELECT from one list of fields, so the
/// struct and the query that fills it cannot disagree: a field is read from the `devices`
/// column of its name unless an SQL expression (`= "..."`) follows it.
macro_rules! device_row {
    (
        $(#[$attr:meta])*
        pub struct Device {
            $( $(#[$field_attr:meta])* $field:ident: $ty:ty $(= $sql:literal)?, )*
        }
    ) => {
        $(#[$attr])*
        pub struct Device {
            $( $(#[$field_attr])* pub $field: $ty, )*
            /// Comma-joined setting groups still pending (`firmware_upgrade,location_update`), or null.
            // tasks pending or in flight, in the order first queued; filled by a second query
            #[sqlx(skip)]
            pub pending_settings: Option<String>,
        }

        /// The SELECT's column list, one entry per field of [`Device`] that is read.
        const DEVICE_COLUMNS: &[&str] = &[$( device_row!(@column $field $($sql)?) ),*];
    };
    (@column $field:ident) => { concat!("d.", stringify!($field)) };
    (@column $field:ident $sql:literal) => { concat!($sql, " AS ", stringify!($field)) };
}

device_row! {
    /// A device row with the names the API shows beside the ids: serialized, it is the seed's
    /// device representation (what GET shows; its field order), and its schema is the OpenAPI
    /// document's. `#[serde(skip)]` marks what the API never shows. The password is never
    /// part of it: [`Store::device_password`] opens it on purpose.
    #[derive(Clone, Debug, Default, PartialEq, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
    #[schema(description = "A device as in the seed's detail example. Lists show the same fields.")]
    pub struct Device {
        id: i64,
        uuid: String,
        name: Option<String>,
        customer_id: Option<String>,
        is_active: bool,
        #[sqlx(try_from = "String")]
        status: DeviceStatus,
        status_change: Option<DateTime<Utc>>,
        /// The device type id.
        #[serde(rename = "type")]
        type_id: Option<i64>,
        type_short_name: Option<String> = "t.short_name",
        software_version: Option<String>,
        hardware_version: Option<String>,
        manufacturer: Option<String>,
        unique_identifier: Option<String>,
        product_class: Option<String>,
        #[serde(skip)]
        oui: Option<String>,
        serial_number: String,
        serial_number_alt: Option<String>,
        description: Option<String>,
        organization_id: Option<i64>,
        /// The firmware image id.
        #[serde(rename = "firmware_image")]
        firmware_image_id: Option<i64>,
        /// True while a firmware download for the device is queued or in flight; false once it
        /// was applied, failed for good or was cancelled.
        // The store keeps it so in every transaction that queues, settles, cancels or
        // withdraws a firmware task (see `FIRMWARE_TASK_KIND`).
        firmware_image_is_pending: bool,
        location_name: Option<String>,
        /// The location id.
        #[serde(rename = "location")]
        location_id: Option<i64>,
        location_short_name: Option<String> = "l.short_name",
        /// Decimal degrees as a string, e.g. `"37.7749"`.
        // kept exactly as given
        latitude: Option<String>,
        longitude: Option<String>,
        /// The connection-request username (ACS -> CPE; its password is write-only).
        username: Option<String>,
        #[serde(skip)]
        has_password: bool = "(d.password_enc IS NOT NULL)",
        /// The username the CPE authenticates to the ACS with (CPE -> ACS,
        /// ManagementServer.Username; its password `cwmp_password` is write-only).
        // the password is read back only by `Store::cwmp_login`
        cwmp_username: Option<String>,
        #[serde(skip)]
        has_cwmp_password: bool = "(d.cwmp_password_enc IS NOT NULL)",
        /// Periodic inform interval in seconds.
        update_frequency: Option<i64>,
        /// The WAN address the device informed from or reported.
        address: Option<String>,
        #[serde(skip)]
        connection_request_url: Option<String>,
        /// The ParameterKey the device reported in its last Inform.
        #[serde(skip)]
        parameter_key: Option<String>,
        last_connection: Option<DateTime<Utc>>,
        last_configuration: Option<DateTime<Utc>>,
        last_change: Option<DateTime<Utc>>,
        created: DateTime<Utc>,
        debug: bool,
    }
}

/// The device SELECT, its columns from [`Device`]'s declaration; `WHERE` and `ORDER BY`
/// follow.
static DEVICE_SELECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM devices d LEFT JOIN device_types t ON t.id = d.type_id \
         LEFT JOIN locations l ON l.id = d.location_id",
        DEVICE_COLUMNS.join(", ")
    )
});

/// The CPE -> ACS credentials of one device, as [`Store::cwmp_login`] finds them.
#[derive(Clone, Debug)]
pub struct CwmpLogin {
    pub device_id: i64,
    pub serial_number: String,
    pub password: DevicePassword,
}

/// The TR-069 default CWMP username, `OUI-SerialNumber`; the serial number alone while the
/// OUI is unknown.
pub fn default_cwmp_username(oui: Option<&str>, serial: &str) -> String {
    match oui {
        Some(oui) if !oui.is_empty() => format!("{oui}-{serial}"),
        _ => serial.to_owned(),
    }
}

/// Declares the settings — the nullable columns an API write stores as given, with no rule
/// of their own in the store — once, for [`NewDevice`] (`Option<T>`) and [`DevicePatch`]
/// (`Option<Option<T>>`: `Some(None)` clears), and from there the INSERT's and the UPDATE's
/// columns, [`DevicePatch::is_empty`], [`DevicePatch::keep_changes`] and
/// [`DevicePatch::into_new_device`]. Each is a field of [`Device`] by the same name. The
/// fields with a rule (a default, a secret, a derived username) are written out below.
macro_rules! settings {
    (
        reported: $( $reported:ident ),* ;
        $( $(#[$doc:meta])* $field:ident: $ty:ty, )*
    ) => {
        /// A device registered through the API (POST). Everything but the serial number is
        /// optional.
        #[derive(Clone, Debug, Default)]
        pub struct NewDevice {
            pub serial_number: String,
            /// Defaults to true.
            pub is_active: Option<bool>,
            /// Defaults to false.
            pub debug: Option<bool>,
            pub password: Option<DevicePassword>,
            /// The pair the CPE authenticates to the ACS with. A password without a username
            /// gets the TR-069 `OUI-SerialNumber` username (the serial number alone without
            /// an OUI).
            pub cwmp_username: Option<String>,
            pub cwmp_password: Option<DevicePassword>,
            $( $(#[$doc])* pub $field: Option<$ty>, )*
            $(
                /// What the device reports in its Informs; registering may name it first.
                pub $reported: Option<String>,
            )*
        }

        /// A partial update (PATCH; PUT is a patch that names every field). `None` leaves a
        /// field alone; `Some(None)` clears a nullable one.
        #[derive(Clone, Debug, Default)]
        pub struct DevicePatch {
            pub is_active: Option<bool>,
            pub debug: Option<bool>,
            pub password: Option<Option<DevicePassword>>,
            /// Setting a password while the device has no CWMP username (and the patch names
            /// none) gives it the default `OUI-SerialNumber` one, as
            /// [`NewDevice::cwmp_username`].
            pub cwmp_username: Option<Option<String>>,
            pub cwmp_password: Option<Option<DevicePassword>>,
            pub last_configuration: Option<DateTime<Utc>>,
            $( $(#[$doc])* pub $field: Option<Option<$ty>>, )*
        }

        impl NewDevice {
            /// The settings' and reported fields' columns and values, for the INSERT.
            fn settings(&self) -> Vec<(&'static str, Arg)> {
                vec![
                    $( (stringify!($field), Arg::from(self.$field.clone())), )*
                    $( (stringify!($reported), Arg::from(self.$reported.clone())), )*
                ]
            }
        }

        impl DevicePatch {
            /// The settings the patch writes, for the UPDATE.
            fn settings(&self) -> Vec<(&'static str, Arg)> {
                let mut columns = Vec::new();
                $(
                    if let Some(value) = &self.$field {
                        columns.push((stringify!($field), Arg::from(value.clone())));
                    }
                )*
                columns
            }

            /// True when the patch writes no field.
            pub fn is_empty(&self) -> bool {
                // destructured so that a new field cannot be forgotten here
                let DevicePatch {
                    is_active,
                    debug,
                    password,
                    cwmp_username,
                    cwmp_password,
                    last_configuration,
                    $( $field, )*
                } = self;
                is_active.is_none()
                    && debug.is_none()
                    && password.is_none()
                    && cwmp_username.is_none()
                    && cwmp_password.is_none()
                    && last_configuration.is_none()
                    $( && $field.is_none() )*
            }

            /// Forgets every setting, `is_active`, `debug` and `cwmp_username` that equals
            /// `device`'s: what is left is what the write changes. Passwords stay (the store
            /// cannot compare a sealed one).
            pub fn keep_changes(&mut self, device: &Device) {
                fn keep<T: PartialEq>(value: &mut Option<T>, current: &T) {
                    if value.as_ref() == Some(current) {
                        *value = None;
                    }
                }
                keep(&mut self.is_active, &device.is_active);
                keep(&mut self.debug, &device.debug);
                keep(&mut self.cwmp_username, &device.cwmp_username);
                $( keep(&mut self.$field, &device.$field); )*
            }

            /// The device a POST of these fields registers (`null` and absent alike: not
            /// set).
            pub fn into_new_device(self, serial_number: String) -> NewDevice {
                NewDevice {
                    serial_number,
                    is_active: self.is_active,
                    debug: self.debug,
                    password: self.password.flatten(),
                    cwmp_username: self.cwmp_username.flatten(),
                    cwmp_password: self.cwmp_password.flatten(),
                    $( $field: self.$field.flatten(), )*
                    ..NewDevice::default()
                }
            }
        }
    };
}

settings! {
    reported: software_version, hardware_version, manufacturer, unique_identifier, product_class, oui;
    name: String,
    customer_id: String,
    /// The device type id (`type` in the API).
    type_id: i64,
    serial_number_alt: String,
    description: String,
    organization_id: i64,
    /// Registering a device with an image queues no download, so it is not pending (the
    /// API queues the download with an update right after). Setting or clearing it withdraws
    /// the device's still-pending firmware tasks: the newest choice of image wins (one
    /// already in flight stays, since the CPE may be installing it).
    firmware_image_id: i64,
    location_id: i64,
    location_name: String,
    latitude: String,
    longitude: String,
    username: String,
    update_frequency: i64,
    address: String,
}

/// The list filters of `GET /inventory_device_serial/`. All conditions are ANDed. `Hash` so
/// a caller can key cached counts by it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DeviceFilter {
    pub type_id: Option<i64>,
    pub status: Option<DeviceStatus>,
    /// `status_change >= this` (`last_status_change_from`).
    pub status_change_from: Option<DateTime<Utc>>,
    pub organization_id: Option<i64>,
    pub is_active: Option<bool>,
    /// A token's scope: only devices of these organizations. `Some(vec![])` matches nothing.
    pub organization_scope: Option<Vec<i64>>,
}

/// One page of a list and the total number of matching rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub count: i64,
    pub items: Vec<T>,
}

/// A bind value for dynamically assembled (but always parameterised) SQL.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    I64(i64),
    OptI64(Option<i64>),
    Bool(bool),
    Text(String),
    OptText(Option<String>),
    Time(DateTime<Utc>),
    OptBytes(Option<Vec<u8>>),
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Arg {
        Arg::OptText(v)
    }
}

impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Arg {
        Arg::OptI64(v)
    }
}

/// Binds `args` in order onto a query of either backend.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for arg in $args {
            q = match arg {
                $crate::device::Arg::I64(v) => q.bind(v),
                $crate::device::Arg::OptI64(v) => q.bind(v),
                $crate::device::Arg::Bool(v) => q.bind(v),
                $crate::device::Arg::Text(v) => q.bind(v),
                $crate::device::Arg::OptText(v) => q.bind(v),
                $crate::device::Arg::Time(v) => q.bind(v),
                $crate::device::Arg::OptBytes(v) => q.bind(v),
            };
        }
        q
    }};
}

/// Checks that each named reference exists, in the caller's transaction, so the error can
/// name the field (SQLite's own foreign-key error does not say which one).
macro_rules! check_refs {
    ($conn:expr, $refs:expr) => {{
        let mut result: $crate::error::Result<()> = Ok(());
        for (field, table, id) in $refs {
            if let Some(id) = id {
                let sql = match table {
                    "organizations" => "SELECT 1 FROM organizations WHERE id = $1",
                    "device_types" => "SELECT 1 FROM device_types WHERE id = $1",
                    "firmware_images" => "SELECT 1 FROM firmware_images WHERE id = $1",
                    "locations" => "SELECT 1 FROM locations WHERE id = $1",
                    _ => "SELECT 1 FROM devices WHERE id = $1",
                };
                let found: Option<i32> = sqlx::query_scalar(sql)
                    .bind(id)
                    .fetch_optional(&mut *$conn)
                    .await?;
                if found.is_none() {
                    result = Err($crate::error::StoreError::ForeignKey { field, value: id });
                    break;
                }
            }
        }
        result
    }};
}
pub(crate) use check_refs;

impl Store {
    /// Registers a device (POST). `Conflict` when the serial number is taken, `ForeignKey`
    /// (nothing written) when a referenced organization/type/location/image does not exist.
    pub async fn create_device(&self, new: &NewDevice, now: DateTime<Utc>) -> Result<Device> {
        self.create_device_with_tasks(new, &[], now).await
    }

    /// Registers a device and queues `tasks` for it in the same transaction: both are
    /// written, or (on any error) neither. A firmware task marks the device pending.
    pub async fn create_device_with_tasks(
        &self,
        new: &NewDevice,
        tasks: &[NewTask],
        now: DateTime<Utc>,
    ) -> Result<Device> {
        let now = ts(now);
        let uuid = new_uuid();
        let password_enc = new
            .password
            .as_ref()
            .map(|p| self.key.seal(p.expose(), &uuid));
        let cwmp_password_enc = new
            .cwmp_password
            .as_ref()
            .map(|p| self.key.seal(p.expose(), &uuid));
        let cwmp_username = new.cwmp_username.clone().or_else(|| {
            new.cwmp_password
                .as_ref()
                .map(|_| default_cwmp_username(new.oui.as_deref(), &new.serial_number))
        });
        let serial = new.serial_number.clone();
        let mut columns: Vec<(&str, Arg)> = vec![
            ("uuid", Arg::Text(uuid)),
            ("serial_number", Arg::Text(new.serial_number.clone())),
            ("is_active", Arg::Bool(new.is_active.unwrap_or(true))),
            ("status", Arg::Text(DeviceStatus::Down.as_str().to_owned())),
            ("debug", Arg::Bool(new.debug.unwrap_or(false))),
            // no firmware task exists yet: nothing is pending (see `Device`)
            ("firmware_image_is_pending", Arg::Bool(false)),
            ("password_enc", Arg::OptBytes(password_enc.clone())),
            ("cwmp_username", Arg::from(cwmp_username)),
            ("cwmp_password_enc", Arg::OptBytes(cwmp_password_enc)),
            ("created", Arg::Time(now)),
            ("last_change", Arg::Time(now)),
        ];
        columns.extend(new.settings());
        let (names, args): (Vec<&str>, Vec<Arg>) = columns.into_iter().unzip();
        let placeholders: Vec<String> = (1..=args.len()).map(|n| format!("${n}")).collect();
        let insert_sql = format!(
            "INSERT INTO devices ({}) VALUES ({}) RETURNING id",
            names.join(", "),
            placeholders.join(", ")
        );
        let id: i64 = on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            check_refs!(
                tx,
                [
                    ("organization_id", "organizations", new.organization_id),
                    ("type", "device_types", new.type_id),
                    ("location", "locations", new.location_id),
                    ("firmware_image", "firmware_images", new.firmware_image_id),
                ]
            )?;
            let id: i64 = bind_args!(sqlx::query_scalar(AssertSqlSafe(insert_sql)), args)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    conflict_or(e, || {
                        format!("device with serial number {serial} or this CWMP username")
                    })
                })?;
            // Registering names the connection-request pair the CPE already has (nothing is
            // sent to it): connection requests may use it at once.
            if let Some(username) = &new.username {
                sqlx::query(
                    "INSERT INTO cr_credentials (device_id, username, password_enc, accepted) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(username)
                .bind(&password_enc)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            insert_tasks!(tx, id, tasks, now);
            if tasks.iter().any(|t| t.kind == FIRMWARE_TASK_KIND) {
                sync_firmware_pending!(tx, id, now);
            }
            tx.commit().await?;
            id
        });
        self.device_by_id(id)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("device {id}")))
    }

    /// The device with this serial number, with `pending_settings` filled in.
    pub async fn device_by_serial(&self, serial: &str) -> Result<Option<Device>> {
        self.device_where("d.serial_number", Arg::Text(serial.to_owned()))
            .await
    }

    pub async fn device_by_id(&self, id: i64) -> Result<Option<Device>> {
        self.device_where("d.id", Arg::I64(id)).await
    }

    /// The device whose unique `column` is `value`, with `pending_settings` filled in.
    async fn device_where(&self, column: &str, value: Arg) -> Result<Option<Device>> {
        let sql = format!("{} WHERE {column} = $1", *DEVICE_SELECT);
        let device: Option<Device> = on_pool!(&self.backend, |pool, dialect| {
            bind_args!(sqlx::query_as(AssertSqlSafe(sql)), [value])
                .fetch_optional(pool)
                .await?
        });
        self.with_pending_settings(device.into_iter().collect())
            .await
            .map(|mut v| v.pop())
    }

    /// The device's connection-request password in clear, if one is set.
    pub async fn device_password(&self, device_id: i64) -> Result<Option<DevicePassword>> {
        let row: Option<(String, Option<Vec<u8>>)> = on_pool!(&self.backend, |pool, dialect| {
            sqlx::query_as("SELECT uuid, password_enc FROM devices WHERE id = $1")
                .bind(device_id)
                .fetch_optional(pool)
                .await?
        });
        let (uuid, sealed) =
            row.ok_or_else(|| StoreError::not_found(format!("device {device_id}")))?;
        match sealed {
            None => Ok(None),
            Some(sealed) => self
                .key
                .open(&sealed, &uuid)
                .map(Some)
                .ok_or(StoreError::Decrypt { device_id }),
        }
    }

    /// The device whose CWMP username (the CPE -> ACS pair) is `username`, and its CWMP
    /// password in clear: `None` when no device has that username or it has no password.
    pub async fn cwmp_login(&self, username: &str) -> Result<Option<CwmpLogin>> {
        let row: Option<(i64, String, String, Option<Vec<u8>>)> =
            on_pool!(&self.backend, |pool, dialect| {
                sqlx::query_as(
                    "SELECT id, uuid, serial_number, cwmp_password_enc FROM devices \
                     WHERE cwmp_username = $1",
                )
                .bind(username)
                .fetch_optional(pool)
                .await?
            });
        let Some((device_id, uuid, serial_number, Some(sealed))) = row else {
            return Ok(None);
        };
        let password = self
            .key
            .open(&sealed, &uuid)
            .ok_or(StoreError::Decrypt { device_id })?;
        Ok(Some(CwmpLogin {
            device_id,
            serial_number,
            password,
        }))
    }

    /// Applies `patch` and queues `tasks` in one transaction (a PATCH that changes what the
    /// device must learn writes its pending settings atomically with the fields). A new
    /// firmware choice (`firmware_image_id` set or cleared) first withdraws the device's
    /// pending firmware tasks; `firmware_image_is_pending` follows the open ones.
    pub async fn update_device(
        &self,
        serial: &str,
        patch: &DevicePatch,
        tasks: &[NewTask],
        now: DateTime<Utc>,
    ) -> Result<Device> {
        let now = ts(now);
        let mut sets: Vec<String> = Vec::new();
        let mut args: Vec<Arg> = Vec::new();
        let mut set = |col: &str, arg: Arg| {
            args.push(arg);
            sets.push(format!("{col} = ${}", args.len()));
        };
        for (column, arg) in patch.settings() {
            set(column, arg);
        }
        if let Some(v) = &patch.cwmp_username {
            set("cwmp_username", Arg::from(v.clone()));
        }
        if let Some(v) = patch.is_active {
            set("is_active", Arg::Bool(v));
        }
        if let Some(v) = patch.debug {
            set("debug", Arg::Bool(v));
        }
        if let Some(v) = patch.last_configuration {
            set("last_configuration", Arg::Time(ts(v)));
        }
        let password = patch.password.clone();
        let cwmp_password = patch.cwmp_password.clone();
        set("last_change", Arg::Time(now));
        let set_sql = sets.join(", ");
        let n = args.len();
        let sql = format!(
            "UPDATE devices SET {set_sql} WHERE serial_number = ${} RETURNING id, uuid",
            n + 1
        );
        args.push(Arg::Text(serial.to_owned()));
        let not_found = || StoreError::not_found(format!("device with serial number {serial}"));
        let id = on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            check_refs!(
                tx,
                [
                    (
                        "organization_id",
                        "organizations",
                        patch.organization_id.flatten()
                    ),
                    ("type", "device_types", patch.type_id.flatten()),
                    ("location", "locations", patch.location_id.flatten()),
                    (
                        "firmware_image",
                        "firmware_images",
                        patch.firmware_image_id.flatten()
                    ),
                ]
            )?;
            let row: Option<(i64, String)> = bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| conflict_or(e, || "device with this CWMP username".to_owned()))?;
            let (id, uuid) = row.ok_or_else(not_found)?;
            if let Some(password) = password {
                let sealed = password.map(|p| self.key.seal(p.expose(), &uuid));
                sqlx::query("UPDATE devices SET password_enc = $1 WHERE id = $2")
                    .bind(sealed)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(cwmp_password) = cwmp_password {
                let set_default = cwmp_password.is_some() && patch.cwmp_username.is_none();
                let sealed = cwmp_password.map(|p| self.key.seal(p.expose(), &uuid));
                sqlx::query("UPDATE devices SET cwmp_password_enc = $1 WHERE id = $2")
                    .bind(sealed)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if set_default {
                    // the TR-069 default username, where the device has none yet
                    sqlx::query(
                        "UPDATE devices SET cwmp_username = CASE \
                         WHEN oui IS NOT NULL AND oui <> '' THEN oui || '-' || serial_number \
                         ELSE serial_number END WHERE id = $1 AND cwmp_username IS NULL",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| conflict_or(e, || "device with this CWMP username".to_owned()))?;
                }
            }
            let firmware_choice = patch.firmware_image_id.is_some();
            if firmware_choice {
                sqlx::query(
                    "DELETE FROM tasks WHERE device_id = $1 AND kind = $2 AND state = 'pending'",
                )
                .bind(id)
                .bind(FIRMWARE_TASK_KIND)
                .execute(&mut *tx)
                .await?;
            }
            insert_tasks!(tx, id, tasks, now);
            if firmware_choice || tasks.iter().any(|t| t.kind == FIRMWARE_TASK_KIND) {
                sync_firmware_pending!(tx, id, now);
            }
            tx.commit().await?;
            id
        });
        self.device_by_id(id).await?.ok_or_else(not_found)
    }

    /// Deletes the device with its parameters, tasks, events and traces.
    pub async fn delete_device(&self, serial: &str) -> Result<()> {
        let done = on_pool!(&self.backend, |pool, dialect| {
            sqlx::query("DELETE FROM devices WHERE serial_number = $1")
                .bind(serial)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::not_found(format!(
                "device with serial number {serial}"
            )));
        }
        Ok(())
    }

    /// One page of the filtered list and the exact number of matching rows (two queries;
    /// [`Store::count_devices`] and [`Store::list_device_page`] apart when the caller caches
    /// the count).
    pub async fn list_devices(
        &self,
        filter: &DeviceFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Page<Device>> {
        let count = self.count_devices(filter).await?;
        let items = self.list_device_page(filter, limit, offset).await?;
        Ok(Page { count, items })
    }

    /// The exact number of devices matching `filter`. Its cost grows with the number of
    /// matches (an index-only scan where the filter's columns are indexed together).
    pub async fn count_devices(&self, filter: &DeviceFilter) -> Result<i64> {
        let (where_sql, args) = filter_sql(filter, PagePlan::Planner);
        let count_sql = format!("SELECT COUNT(*) FROM devices d{where_sql}");
        let count: i64 = on_pool!(&self.backend, |pool, dialect| {
            bind_args!(sqlx::query_scalar(AssertSqlSafe(count_sql)), args)
                .fetch_one(pool)
                .await?
        });
        Ok(count)
    }

    /// One page of the devices matching `filter`, in id order, with `pending_settings`.
    pub async fn list_device_page(
        &self,
        filter: &DeviceFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Device>> {
        let plan = self.page_plan(filter).await?;
        let (where_sql, mut args) = filter_sql(filter, plan);
        let n = args.len();
        let order = match plan {
            PagePlan::Sort => "+d.id",
            PagePlan::Planner | PagePlan::Walk => "d.id",
        };
        // The ids of the page first, from the filter's index alone, then the 100 rows:
        // fetching and sorting whole rows for every match would cost far more.
        let page_sql = format!(
            "{} WHERE d.id IN (SELECT d.id FROM devices d{where_sql} \
             ORDER BY {order} LIMIT ${} OFFSET ${}) ORDER BY d.id",
            *DEVICE_SELECT,
            n + 1,
            n + 2
        );
        args.push(Arg::I64(limit.max(0)));
        args.push(Arg::I64(offset.max(0)));
        let items: Vec<Device> = on_pool!(&self.backend, |pool, dialect| {
            bind_args!(sqlx::query_as(AssertSqlSafe(page_sql)), args)
                .fetch_all(pool)
                .await?
        });
        self.with_pending_settings(items).await
    }

    /// How the page of `filter` finds its ids. A `type` + `last_status_change_from` filter
    /// on SQLite has two good plans and SQLite cannot tell them apart (it keeps no value
    /// histograms), so the store counts the matches up to
    /// [`Store::with_list_sort_threshold`] and picks: few matches are found by range in
    /// `devices_type_active_since` and their ids sorted; many are met soon enough by
    /// walking `devices_type_walk` in id order, which stops after `offset + limit` matches.
    /// Every other filter, and every filter on PostgreSQL (whose planner has the
    /// histograms), is left to the planner.
    async fn page_plan(&self, filter: &DeviceFilter) -> Result<PagePlan> {
        let Backend::Sqlite(pool, _) = &self.backend else {
            return Ok(PagePlan::Planner);
        };
        if filter.type_id.is_none() || filter.status_change_from.is_none() {
            return Ok(PagePlan::Planner);
        }
        match self.list_sort_threshold {
            0 => return Ok(PagePlan::Walk),
            i64::MAX => return Ok(PagePlan::Sort),
            _ => {}
        }
        let (where_sql, mut args) = filter_sql(filter, PagePlan::Planner);
        let probe_sql = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM devices d{where_sql} LIMIT ${})",
            args.len() + 1
        );
        args.push(Arg::I64(self.list_sort_threshold));
        let matches: i64 = bind_args!(sqlx::query_scalar(AssertSqlSafe(probe_sql)), args)
            .fetch_one(pool)
            .await?;
        Ok(if matches < self.list_sort_threshold {
            PagePlan::Sort
        } else {
            PagePlan::Walk
        })
    }

    /// Fills `pending_settings` for a batch of devices with one query.
    async fn with_pending_settings(&self, mut devices: Vec<Device>) -> Result<Vec<Device>> {
        if devices.is_empty() {
            return Ok(devices);
        }
        let mut args = Vec::new();
        let mut list = Vec::new();
        for d in &devices {
            args.push(Arg::I64(d.id));
            list.push(format!("${}", args.len()));
        }
        let sql = format!(
            "SELECT device_id, setting_group, MIN(id) AS first FROM tasks \
             WHERE state IN ('pending', 'in_flight') AND device_id IN ({}) \
             GROUP BY device_id, setting_group ORDER BY device_id, first",
            list.join(", ")
        );
        let rows: Vec<(i64, String, i64)> = on_pool!(&self.backend, |pool, dialect| {
            bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args)
                .fetch_all(pool)
                .await?
        });
        for d in &mut devices {
            let groups: Vec<&str> = rows
                .iter()
                .filter(|r| r.0 == d.id)
                .map(|r| r.1.as_str())
                .collect();
            d.pending_settings = (!groups.is_empty()).then(|| groups.join(","));
        }
        Ok(devices)
    }
}

/// How a list page finds its ids (see `Store::page_plan`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PagePlan {
    /// The database's own choice.
    Planner,
    /// SQLite: walk the id-ordered index, the `last_status_change_from` range checked in it.
    Walk,
    /// SQLite: find the matches by the range, then sort their ids.
    Sort,
}

/// The `WHERE` clause of a filter and its bind values for `plan`; only column names and
/// placeholders are spliced in.
fn filter_sql(filter: &DeviceFilter, plan: PagePlan) -> (String, Vec<Arg>) {
    let mut wheres: Vec<String> = Vec::new();
    let mut args: Vec<Arg> = Vec::new();
    let mut cond = |sql: &str, arg: Arg| {
        args.push(arg);
        wheres.push(sql.replace("$?", &format!("${}", args.len())));
    };
    if let Some(v) = filter.type_id {
        cond("d.type_id = $?", Arg::I64(v));
    }
    if let Some(v) = filter.status {
        cond("d.status = $?", Arg::Text(v.as_str().to_owned()));
    }
    if let Some(v) = filter.status_change_from {
        // `+` keeps SQLite from finding the matches by this range: the walk checks it in
        // the id-ordered index instead.
        let column = match plan {
            PagePlan::Walk => "+d.status_change",
            PagePlan::Planner | PagePlan::Sort => "d.status_change",
        };
        cond(&format!("{column} >= $?"), Arg::Time(ts(v)));
    }
    if let Some(v) = filter.organization_id {
        cond("d.organization_id = $?", Arg::I64(v));
    }
    if let Some(v) = filter.is_active {
        cond("d.is_active = $?", Arg::Bool(v));
    }
    if let Some(orgs) = &filter.organization_scope {
        if orgs.is_empty() {
            wheres.push("1 = 0".into());
        } else {
            let mut list = Vec::new();
            for org in orgs {
                args.push(Arg::I64(*org));
                list.push(format!("${}", args.len()));
            }
            wheres.push(format!("d.organization_id IN ({})", list.join(", ")));
        }
    }
    let where_sql = if wheres.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", wheres.join(" AND "))
    };
    (where_sql, args)
}
