//! The acs device-state store: devices keyed by serial number, their parameters, pending
//! settings (tasks), session leases, Inform history, session traces, connection-request
//! credentials and log, the catalog
//! (organizations, locations, device types, firmware images) and API tokens — over SQLite
//! (embedded default) or PostgreSQL (scale-out), behind one [`Store`].
//!
//! Time is an input: every call that stamps or compares a time takes `now`.

/// A closed set stored as text: `text_enum!(/** docs */ pub enum Name("what") { /** docs */
/// Variant = "text", ... })` declares the enum, `as_str` and `TryFrom<String>` (an unknown
/// text is an error naming `what`) from one table, so each variant's stored name is written
/// once.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> std::result::Result<Self, String> {
                match s.as_str() {
                    $($text => Ok($name::$variant),)*
                    other => Err(format!(concat!("unknown ", $what, " {:?}"), other)),
                }
            }
        }
    };
}

mod backend;
mod catalog;
mod cr;
mod device;
mod error;
mod history;
mod inform;
mod lease;
mod param_limits;
mod pg_session;
mod secret;
mod serial;
mod session;
mod sqlite_sync;
mod status;
mod task;
mod token;
mod tokens;
mod writer;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};

pub use backend::Dialect;
pub use catalog::{
    DeviceType, DeviceTypeProfile, FirmwareImage, Location, NewDeviceType, NewFirmwareImage,
    NewLocation, Organization, ProfileDefault,
};
pub use cr::{CR_LOG_KEEP, CrCredentials, CrLogEntry, CrProvision, WakeTarget};
pub use device::{
    CwmpLogin, Device, DeviceFilter, DevicePatch, DeviceStatus, NewDevice, Page,
    default_cwmp_username,
};
pub use error::{Result, StoreError};
pub use history::{EventRecord, NewTrace, TraceDirection, TraceRecord};
pub use inform::{Inform, InformEvent, InformOutcome, Parameter, ParameterValue};
pub use param_limits::{ParameterLimits, ParametersRefused};
pub use secret::{DevicePassword, KEY_FILE_NAME, SecretKey};
pub use serial::{MAX_SERIAL_LEN, check_serial_number};
pub use session::{SessionOp, SessionOpOutcome, SessionStart, SessionStartOutcome, SessionTurn};
pub use status::StatusPolicy;
pub use task::{
    Cancellation, FIRMWARE_TASK_KIND, MAX_UNANSWERED, Merge, NewTask, Queued, RetryPolicy, Task,
    TaskOutcome, TaskState, UNCONFIRMED,
};
pub use token::{ApiToken, TokenHash, TokenScope, TokenSecret};
pub use tokens::LAST_USED_RESOLUTION;
pub use writer::{InformWriter, WriterConfig, WriterTask};

use backend::Backend;

/// The device-state store. Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    key: Arc<SecretKey>,
    /// The parameter limits and refusal counters, shared with the SQLite session writer.
    params: Arc<param_limits::ParameterGuard>,
    retry: RetryPolicy,
    list_sort_threshold: i64,
}

/// The default of [`Store::with_list_sort_threshold`]: sorting 10,000 ids costs about a
/// millisecond on SQLite.
pub const LIST_SORT_THRESHOLD: i64 = 10_000;

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("dialect", &self.dialect())
            .field("retry", &self.retry)
            .field("list_sort_threshold", &self.list_sort_threshold)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects to `sqlite://PATH` (created if missing) or `postgres://...`. Does not migrate:
    /// call [`Store::migrate`] (`acs serve` does on start, `acs migrate` does only that).
    pub async fn connect(url: &str, key: SecretKey) -> Result<Store> {
        Store::open(url, true, key).await
    }

    /// Connects to a database acs has already migrated, creating nothing: a missing SQLite
    /// file, or a database without acs's schema (an empty one, or one of another program),
    /// is `NoDatabase` naming where it looked. For the commands that only make sense beside
    /// a server's existing data (`acs token ...`), where creating an empty database would
    /// hand out tokens the server never sees.
    pub async fn connect_existing(url: &str, key: SecretKey) -> Result<Store> {
        let store = Store::open(url, false, key).await?;
        if backend::applied_version(&store.backend).await?.is_none() {
            store.close().await;
            return Err(StoreError::NoDatabase {
                looked: backend::describe(url),
            });
        }
        Ok(store)
    }

    async fn open(url: &str, create: bool, key: SecretKey) -> Result<Store> {
        let params = Arc::new(param_limits::ParameterGuard::default());
        let backend = backend::connect(url, create, params.clone()).await?;
        Ok(Store {
            backend,
            key: Arc::new(key),
            params,
            retry: RetryPolicy::default(),
            list_sort_threshold: LIST_SORT_THRESHOLD,
        })
    }

    /// A subkey of the secret key for `purpose` (e.g. signing firmware URLs): the same on
    /// every node sharing the secret key ([`SecretKey::derive`]).
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        self.key.derive(purpose)
    }

    /// Sets the parameter limits (`param_limits.rs`) of this store and all its clones.
    pub fn set_parameter_limits(&self, limits: ParameterLimits) {
        self.params.set(limits);
    }

    /// The parameter limits in force.
    pub fn parameter_limits(&self) -> ParameterLimits {
        self.params.limits()
    }

    /// Reported parameters not stored since the start, by reason.
    pub fn parameters_refused(&self) -> ParametersRefused {
        self.params.refused()
    }

    /// Replaces the retry policy for faulted tasks.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Store {
        self.retry = retry;
        self
    }

    /// Where a list page filtered by `type` and `last_status_change_from` changes plan on
    /// SQLite (default [`LIST_SORT_THRESHOLD`]): with fewer matching devices it finds them
    /// by that range and sorts their ids; with this many or more it walks the type's devices
    /// in id order and stops after the page. Both give the same page; `0` always walks,
    /// `i64::MAX` always sorts (neither then counts first). PostgreSQL picks its own plan.
    pub fn with_list_sort_threshold(mut self, matches: i64) -> Store {
        self.list_sort_threshold = matches.max(0);
        self
    }

    /// Applies the embedded migrations; idempotent. Fails with `SchemaTooNew` on a database
    /// migrated by a newer acs, touching nothing.
    pub async fn migrate(&self) -> Result<()> {
        backend::migrate(&self.backend).await
    }

    /// The newest schema version this binary carries.
    pub fn schema_version(&self) -> i64 {
        backend::schema_version()
    }

    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(..) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// A housekeeping `DELETE` whose one bind, `$1`, is a time (an age or expiry bound);
    /// how many rows it removed.
    pub(crate) async fn delete_by_time(&self, sql: &'static str, t: DateTime<Utc>) -> Result<u64> {
        let t = ts(t);
        backend::on_pool!(&self.backend, |pool, dialect| {
            Ok(sqlx::query(sql)
                .bind(t)
                .execute(pool)
                .await?
                .rows_affected())
        })
    }

    /// Closes every pooled connection.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(p, sync) => {
                p.close().await;
                sync.close();
            }
            Backend::Postgres(p) => p.close().await,
        }
    }
}

/// PostgreSQL keeps microseconds; cut every stamped time there so both backends hand back
/// exactly what they were given.
pub(crate) fn ts(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}
