//! The two backends behind one `Store`: connecting, per-dialect SQL, and migrations.
//!
//! Every statement is written once with `$1`-style placeholders, which both SQLite and
//! PostgreSQL accept; where the dialects really differ (row locking, date arithmetic,
//! transaction start) the SQL is picked per backend. `on_pool!` expands a block once per
//! backend so the same code runs over either pool type.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::{Result, StoreError};
use crate::sqlite_sync::SyncSqlite;

/// The embedded migrations: (version, description, SQLite SQL, PostgreSQL SQL). Both
/// folders use the same numbering; a test checks this list against the files on disk.
pub(crate) const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../../migrations/sqlite/0001_initial.sql"),
        include_str!("../../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "list_counts_and_token_organizations",
        include_str!("../../../migrations/sqlite/0002_list_counts_and_token_organizations.sql"),
        include_str!("../../../migrations/postgres/0002_list_counts_and_token_organizations.sql"),
    ),
    (
        3,
        "task_results",
        include_str!("../../../migrations/sqlite/0003_task_results.sql"),
        include_str!("../../../migrations/postgres/0003_task_results.sql"),
    ),
    (
        4,
        "list_type_walk",
        include_str!("../../../migrations/sqlite/0004_list_type_walk.sql"),
        include_str!("../../../migrations/postgres/0004_list_type_walk.sql"),
    ),
    (
        6,
        "task_endings",
        include_str!("../../../migrations/sqlite/0006_task_endings.sql"),
        include_str!("../../../migrations/postgres/0006_task_endings.sql"),
    ),
    (
        7,
        "connection_requests",
        include_str!("../../../migrations/sqlite/0007_connection_requests.sql"),
        include_str!("../../../migrations/postgres/0007_connection_requests.sql"),
    ),
    (
        9,
        "session_trace_sessions",
        include_str!("../../../migrations/sqlite/0009_session_trace_sessions.sql"),
        include_str!("../../../migrations/postgres/0009_session_trace_sessions.sql"),
    ),
    (
        10,
        "cwmp_credentials",
        include_str!("../../../migrations/sqlite/0010_cwmp_credentials.sql"),
        include_str!("../../../migrations/postgres/0010_cwmp_credentials.sql"),
    ),
];

fn migrator(dialect: Dialect) -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sqlite, postgres)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    dialect.pick(sqlite, postgres).into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

#[derive(Clone, Debug)]
pub(crate) enum Backend {
    /// The pool, and the session writer's own synchronous connection to the same file.
    Sqlite(SqlitePool, Arc<SyncSqlite>),
    Postgres(PgPool),
}

/// Which SQL dialect a statement is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub(crate) fn pick(self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        }
    }

    /// Appends `rows` rows of `columns` placeholders, `(p, p), (p, p)`, numbered from 1 (a
    /// multi-row VALUES list that opens its statement's binds); evaluates to how many it wrote.
    /// `casts`, one per column (or empty for none), types the placeholders on PostgreSQL,
    /// which types a VALUES list from its parameters where no target column does.
    pub(crate) fn value_rows(
        self,
        sql: &mut String,
        rows: usize,
        columns: usize,
        casts: &[&str],
    ) -> usize {
        debug_assert!(casts.is_empty() || casts.len() == columns);
        let mut n = 0;
        for i in 0..rows {
            sql.push_str(if i > 0 { ", (" } else { "(" });
            for k in 0..columns {
                if k > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                self.placeholder(sql, n);
                if self == Dialect::Postgres
                    && let Some(ty) = casts.get(k)
                {
                    sql.push_str("::");
                    sql.push_str(ty);
                }
            }
            sql.push(')');
        }
        n
    }

    /// Appends `n` placeholders separated by commas, numbered from 1 (the list of an
    /// `IN (...)` that opens its statement's binds); evaluates to `n`.
    pub(crate) fn list(self, sql: &mut String, n: usize) -> usize {
        for i in 1..=n {
            if i > 1 {
                sql.push_str(", ");
            }
            self.placeholder(sql, i);
        }
        n
    }

    /// Appends the placeholder for the `n`th (1-based) bind of a statement whose binds are
    /// all used once, in order. SQLite gets anonymous `?`: it looks a named parameter up by
    /// a linear scan, which makes binding a 3,000-value multi-row INSERT quadratic.
    pub(crate) fn placeholder(self, sql: &mut String, n: usize) {
        match self {
            Dialect::Sqlite => sql.push('?'),
            Dialect::Postgres => {
                sql.push('$');
                sql.push_str(&n.to_string());
            }
        }
    }

    /// SQLite: take the write lock up front, so a transaction that reads before it writes
    /// never fails with SQLITE_BUSY half-way (a deferred transaction cannot wait to upgrade).
    pub(crate) fn begin_write(self) -> &'static str {
        self.pick("BEGIN IMMEDIATE", "BEGIN")
    }
}

/// Runs `$body` with `$pool` bound to the concrete pool and `$dialect` to its dialect.
macro_rules! on_pool {
    ($backend:expr, |$pool:ident, $dialect:ident| $body:expr) => {
        match $backend {
            $crate::backend::Backend::Sqlite($pool, _) => {
                #[allow(unused_variables)]
                let $dialect = $crate::backend::Dialect::Sqlite;
                $body
            }
            $crate::backend::Backend::Postgres($pool) => {
                #[allow(unused_variables)]
                let $dialect = $crate::backend::Dialect::Postgres;
                $body
            }
        }
    };
}
pub(crate) use on_pool;

/// Opens a pool for `url`: `sqlite://PATH` (WAL, busy timeout, foreign keys on; the file is
/// created, mode 0600, if missing when `create`, else a missing file is `NoDatabase` and
/// nothing is created) or `postgres://...`.
pub(crate) async fn connect(
    url: &str,
    create: bool,
    params: Arc<crate::param_limits::ParameterGuard>,
) -> Result<Backend> {
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)?;
        let file = options.get_filename();
        // an in-memory database has no file to look for; an empty one is refused later
        let in_memory = file.to_string_lossy().starts_with("file:sqlx-in-memory");
        if !create && !in_memory && !file.exists() {
            return Err(StoreError::NoDatabase {
                looked: file.display().to_string(),
            });
        }
        let options = options
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: durable across process crashes; a power cut may lose the last
            // commits but never corrupts the database.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // 32 MiB page cache per connection (the default is 2 MiB): index updates of a
            // fleet-sized devices table stay in memory
            .pragma("cache_size", "-32768")
            .statement_cache_capacity(256);
        if create {
            create_private(options.get_filename());
        }
        let sync = Arc::new(SyncSqlite::new(options.get_filename(), params));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options)
            .await?;
        Ok(Backend::Sqlite(pool, sync))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let options = PgConnectOptions::from_str(url)?.statement_cache_capacity(256);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(options)
            .await?;
        Ok(Backend::Postgres(pool))
    } else {
        Err(StoreError::Invalid {
            what: "database url",
            reason: "expected sqlite://PATH or postgres://...".into(),
        })
    }
}

/// Creates a new database file with mode 0600 before SQLite opens it: SQLite gives the
/// `-wal` and `-shm` files the database file's mode, so all three are the owner's alone
/// (they hold device credentials, sealed, and everything about the fleet). An existing file
/// keeps its mode; one others can read is reported. Best effort: whatever fails here,
/// opening the database reports properly.
fn create_private(path: &std::path::Path) {
    if path.as_os_str().is_empty() || path.to_string_lossy().starts_with(':') {
        return; // in memory
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => {}
        #[cfg(unix)]
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(path)
                && meta.permissions().mode() & 0o077 != 0
            {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{:o}", meta.permissions().mode() & 0o777),
                    "the database file is readable by other users; chmod 600 it (and its -wal and -shm files)"
                );
            }
        }
        Err(_) => {}
    }
}

/// Where `url` points, for messages: the SQLite file, or PostgreSQL's host, port and
/// database (never the password).
pub(crate) fn describe(url: &str) -> String {
    if url.starts_with("sqlite:") {
        if let Ok(o) = SqliteConnectOptions::from_str(url) {
            return o.get_filename().display().to_string();
        }
    } else if let Ok(o) = PgConnectOptions::from_str(url) {
        return format!(
            "postgres://{}:{}/{}",
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or("")
        );
    }
    "the configured database".to_owned()
}

/// The newest migration applied to the database, `None` for a database acs never migrated.
pub(crate) async fn applied_version(backend: &Backend) -> Result<Option<i64>> {
    Ok(match backend {
        Backend::Sqlite(pool, _) => {
            let exists: Option<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_optional(pool)
            .await?;
            match exists {
                Some(_) => {
                    sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
                        .fetch_one(pool)
                        .await?
                }
                None => None,
            }
        }
        Backend::Postgres(pool) => {
            let exists: bool =
                sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                    .fetch_one(pool)
                    .await?;
            if exists {
                sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
                    .fetch_one(pool)
                    .await?
            } else {
                None
            }
        }
    })
}

/// Applies the embedded migrations. Idempotent; refuses a database that a newer acs migrated.
pub(crate) async fn migrate(backend: &Backend) -> Result<()> {
    let found = applied_version(backend).await?;
    let supported = schema_version();
    if let Some(found) = found
        && found > supported
    {
        return Err(StoreError::SchemaTooNew { found, supported });
    }
    match backend {
        Backend::Sqlite(pool, _) => migrator(Dialect::Sqlite).run(pool).await?,
        Backend::Postgres(pool) => migrator(Dialect::Postgres).run(pool).await?,
    }
    Ok(())
}

pub(crate) fn schema_version() -> i64 {
    MIGRATIONS.iter().map(|m| m.0).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::{Dialect, MIGRATIONS};

    /// Every file in both migration folders is embedded, with the same numbering.
    #[test]
    fn embedded_migrations_match_the_folders() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        for dir in ["sqlite", "postgres"] {
            let mut files: Vec<String> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".sql"))
                .collect();
            files.sort();
            let embedded: Vec<String> = MIGRATIONS
                .iter()
                .map(|(v, d, _, _)| format!("{v:04}_{d}.sql"))
                .collect();
            assert_eq!(files, embedded, "migrations/{dir}");
        }
    }

    #[test]
    fn value_rows_number_placeholders_and_cast_only_on_postgres() {
        let mut sql = String::new();
        assert_eq!(
            Dialect::Sqlite.value_rows(&mut sql, 2, 2, &["text", "bigint"]),
            4
        );
        assert_eq!(sql, "(?, ?), (?, ?)");
        let mut sql = String::new();
        assert_eq!(
            Dialect::Postgres.value_rows(&mut sql, 2, 2, &["text", "bigint"]),
            4
        );
        assert_eq!(sql, "($1::text, $2::bigint), ($3::text, $4::bigint)");
        let mut sql = String::new();
        Dialect::Postgres.value_rows(&mut sql, 1, 3, &[]);
        assert_eq!(sql, "($1, $2, $3)");
    }
}
