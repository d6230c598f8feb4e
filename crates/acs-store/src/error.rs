//! The store's typed errors. Messages are lower-case and name the offending thing; the API
//! maps `Conflict` to 409, `NotFound` to 404 and `ForeignKey` to 400.

/// Everything a store call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key is taken, e.g. `device with serial number ZN123`.
    #[error("conflict: {what} already exists")]
    Conflict { what: String },
    /// The addressed row does not exist, e.g. `device with serial number ZN123`.
    #[error("not found: {what}")]
    NotFound { what: String },
    /// A reference names a row that does not exist, e.g. `organization_id 42`; nothing was written.
    #[error("unknown {field}: {value} does not exist")]
    ForeignKey { field: &'static str, value: i64 },
    /// The database was migrated by a newer acs; this binary refuses to touch it.
    #[error("database schema version {found} is newer than the {supported} this acs supports")]
    SchemaTooNew { found: i64, supported: i64 },
    /// `Store::connect_existing` found no acs database where it looked (a path or a URL).
    #[error("no acs database at {looked}")]
    NoDatabase { looked: String },
    /// A value the store was handed is unusable (bad URL, malformed key, bad state).
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    /// A stored secret did not decrypt with the configured key (wrong `ACS_SECRET_KEY`?).
    #[error("cannot decrypt the stored password of device {device_id}: wrong secret key?")]
    Decrypt { device_id: i64 },
    /// The key file could not be read or written.
    #[error("secret key file {path}: {source}")]
    KeyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The batched Inform writer has shut down.
    #[error("the inform writer has stopped")]
    WriterStopped,
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// From the SQLite session writer's own connection (see `sqlite_sync`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        StoreError::NotFound { what: what.into() }
    }
}

/// Maps a unique-key violation to `Conflict { what }`, anything else to `Database`.
pub(crate) fn conflict_or(err: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    if let sqlx::Error::Database(db) = &err
        && db.is_unique_violation()
    {
        return StoreError::Conflict { what: what() };
    }
    StoreError::Database(err)
}
