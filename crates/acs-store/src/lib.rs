//! The acs device-state store: devices keyed by serial number, their parameters, pending
//! settings (tasks), session leases, Inform history, session traces, the catalog
//! (organizations, locations, device types, firmware images) and API tokens — over SQLite
//! (embedded default) or PostgreSQL (scale-out), behind one [`Store`].
//!
//! Time is an input: every call that stamps or compares a time takes `now`.

mod backend;
mod catalog;
mod device;
mod error;
mod history;
mod inform;
mod lease;
mod secret;
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
pub use device::{Device, DeviceFilter, DevicePatch, DeviceStatus, NewDevice, Page};
pub use error::{Result, StoreError};
pub use history::{EventRecord, TraceDirection, TraceRecord};
pub use inform::{Inform, InformEvent, InformOutcome, Parameter, ParameterValue};
pub use secret::{DevicePassword, KEY_FILE_NAME, SecretKey};
pub use session::{SessionOp, SessionOpOutcome, SessionStart, SessionStartOutcome, SessionTurn};
pub use status::StatusPolicy;
pub use task::{NewTask, RetryPolicy, Task, TaskOutcome, TaskState};
pub use token::{ApiToken, TokenHash, TokenScope, TokenSecret};
pub use tokens::LAST_USED_RESOLUTION;
pub use writer::{InformWriter, WriterConfig, WriterTask};

use backend::Backend;

/// The device-state store. Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    key: Arc<SecretKey>,
    retry: RetryPolicy,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("dialect", &self.dialect())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects to `sqlite://PATH` (created if missing) or `postgres://...`. Does not migrate:
    /// call [`Store::migrate`] (`acs serve` does on start, `acs migrate` does only that).
    pub async fn connect(url: &str, key: SecretKey) -> Result<Store> {
        let backend = backend::connect(url).await?;
        Ok(Store {
            backend,
            key: Arc::new(key),
            retry: RetryPolicy::default(),
        })
    }

    /// Replaces the retry policy for faulted tasks.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Store {
        self.retry = retry;
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
