//! The per-backend test harness the store, API and end-to-end suites share (`harness = false`),
//! on `libtest-mimic`.
//!
//! Every case runs once per store backend: SQLite always; PostgreSQL when
//! `ACS_TEST_POSTGRES_URL` is set, else each PostgreSQL case is reported *ignored* with the
//! reason — never a silent pass (libtest's own harness cannot decide at run time to ignore a
//! test; libtest-mimic can). Each case gets a fresh database (a new SQLite file in its own temp
//! dir, or a uniquely named PostgreSQL database dropped afterwards, also when the case fails)
//! and its own tokio runtime, shut down before the database goes so nothing the case started
//! still holds a connection.
//!
//! A suite keeps its own `Env` (what a case receives) and builds it from [`Fresh`]:
//!
//! ```no_run
//! # struct Env { url: String }
//! # fn cases() -> Vec<acs_testkit::Case<Env>> { Vec::new() }
//! fn main() -> std::process::ExitCode {
//!     acs_testkit::Runner::new("acs_store_test").run(cases(), |fresh| Env { url: fresh.url })
//! }
//! ```
//!
//! [`fleet`] seeds the synthetic fleet the load probes measure.
//!
//! Test-only: a `[dev-dependencies]` entry, never a dependency of anything that ships.

mod database;
pub mod fleet;
mod runner;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

pub use database::{create_database, drop_database, unique_name, with_database};
pub use runner::Runner;

/// What a case's `async fn` returns, boxed so cases of one suite share a type.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A named case taking the suite's own environment `E`.
pub type Case<E> = (&'static str, fn(E) -> BoxFuture);

/// The store backend a case runs on; its name prefixes the case's name (`sqlite::…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// What the harness prepared for one case: the suite turns it into its own `Env`.
#[derive(Clone, Debug)]
pub struct Fresh {
    pub backend: Backend,
    /// The case's own database: `sqlite://<dir>/acs.db` or the PostgreSQL base URL with a
    /// fresh database name.
    pub url: String,
    /// A scratch directory, empty at the start and removed after the case.
    pub dir: PathBuf,
}
