//! The harness: each case runs once per backend on a fresh database (a SQLite file in a temp
//! dir; a uniquely named PostgreSQL database created and dropped around the case), a few
//! cases at a time. Prints libtest-style lines so `cargo test` output reads as usual.

pub mod api;
pub mod binaries;
pub mod process;
pub mod servers;
pub mod wait;

use std::future::Future;
use std::io::Write as _;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use sqlx::{Connection, PgConnection};

pub use api::Api;
pub use servers::{Acs, AcsConfig, SimConfig, TempDir};

pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
pub type Case = (&'static str, fn(Env) -> BoxFuture);

/// What a case gets: how to start `acs` on its fresh database.
pub struct Env {
    pub acs: AcsConfig,
}

impl Env {
    /// `acs serve` with extra flags, on this case's database.
    pub fn with_flags(&self, flags: &[&str]) -> AcsConfig {
        let mut c = self.acs.clone();
        c.extra.extend(flags.iter().map(|s| (*s).to_owned()));
        c
    }

    /// Starts `acs` and makes an admin token: the usual start of a case.
    pub fn start(&self) -> (Acs, Api) {
        let acs = self.acs.start();
        let token = self.acs.token(None);
        let api = Api::new(&acs.api, &token);
        (acs, api)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// `base` with its database name replaced by `db`.
fn with_database(base: &str, db: &str) -> String {
    let (head, query) = base.split_once('?').unwrap_or((base, ""));
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let path_start = head[scheme_end..]
        .find('/')
        .map_or(head.len(), |i| scheme_end + i);
    let mut url = format!("{}/{db}", &head[..path_start]);
    if !query.is_empty() {
        url.push('?');
        url.push_str(query);
    }
    url
}

async fn admin(base: &str, sql: String) -> Result<(), String> {
    let mut conn = PgConnection::connect(base)
        .await
        .map_err(|e| format!("cannot reach ACS_TEST_POSTGRES_URL: {e}"))?;
    let r = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .execute(&mut conn)
        .await
        .map(|_| ())
        .map_err(|e| format!("{sql}: {e}"));
    let _ = conn.close().await;
    r
}

async fn run_case(
    backend: Backend,
    pg_base: Option<String>,
    name: &str,
    case: fn(Env) -> BoxFuture,
) -> Result<(), String> {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    // The data dir (SQLite file, secret key, firmware files) lives until the case ends.
    let dir = TempDir::new(&name.replace("::", "-"));
    let (database_url, pg_db) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.path().join("acs.db").display()),
            None,
        ),
        Backend::Postgres => {
            let base = pg_base.clone().expect("postgres url");
            let db = format!("acs_e2e_{}_{n}", std::process::id());
            admin(&base, format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await?;
            admin(&base, format!("CREATE DATABASE {db}")).await?;
            (with_database(&base, &db), Some(db))
        }
    };
    let env = Env {
        acs: AcsConfig {
            database_url,
            data_dir: dir.path().to_path_buf(),
            extra: Vec::new(),
        },
    };
    let outcome = tokio::spawn(case(env)).await;
    if let (Some(db), Some(base)) = (pg_db, pg_base)
        && let Err(e) = admin(&base, format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await
    {
        eprintln!("warning: could not drop test database {db}: {e}");
    }
    match outcome {
        Ok(()) => Ok(()),
        Err(e) if e.is_panic() => {
            let panic = e.into_panic();
            Err(panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panic".into()))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The test binary's `main`: `cargo test` arguments (`--list`, `--exact`, name filters)
/// are honoured; `ACS_E2E_JOBS` (default 2) cases run at once.
pub fn main(cases: Vec<Case>) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let list_only = args.iter().any(|a| a == "--list");
    let exact = args.iter().any(|a| a == "--exact");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let pg_url = std::env::var("ACS_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());

    let mut trials = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let prefix = match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        for (name, f) in &cases {
            let full = format!("{prefix}::{name}");
            let keep = filters.is_empty()
                || filters.iter().any(|flt| {
                    if exact {
                        full == **flt
                    } else {
                        full.contains(flt.as_str())
                    }
                });
            if keep {
                trials.push((backend, full, *f));
            }
        }
    }
    let filtered_out = cases.len() * 2 - trials.len();
    if list_only {
        for (_, name, _) in &trials {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    if pg_url.is_none() {
        println!("note: PostgreSQL backend skipped: ACS_TEST_POSTGRES_URL is not set");
    }
    let jobs: usize = std::env::var("ACS_E2E_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .filter(|&j| j > 0)
        .unwrap_or(2);
    // A failure's message is reported below with the case; no backtrace noise per panic.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("panicked{at}");
    }));
    println!("\nrunning {} tests", trials.len());
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (mut passed, mut failed, mut ignored) = (0, Vec::new(), 0);
    runtime.block_on(async {
        let permits = Arc::new(tokio::sync::Semaphore::new(jobs));
        let mut running = tokio::task::JoinSet::new();
        for (backend, name, f) in trials {
            if backend == Backend::Postgres && pg_url.is_none() {
                println!("test {name} ... ignored, ACS_TEST_POSTGRES_URL is not set");
                ignored += 1;
                continue;
            }
            if !trials_binaries_ready() {
                failed.push((
                    name,
                    "the acs and cpe-sim binaries are unavailable".to_owned(),
                ));
                continue;
            }
            let permits = permits.clone();
            let pg = pg_url.clone();
            running.spawn(async move {
                let _permit = permits.acquire_owned().await.expect("semaphore");
                let t = Instant::now();
                let r = run_case(backend, pg, &name, f).await;
                (name, r, t.elapsed())
            });
        }
        while let Some(done) = running.join_next().await {
            let (name, r, took) = done.expect("case task");
            match r {
                Ok(()) => {
                    println!("test {name} ... ok ({:.1} s)", took.as_secs_f64());
                    passed += 1;
                }
                Err(msg) => {
                    println!("test {name} ... FAILED ({:.1} s)", took.as_secs_f64());
                    failed.push((name, msg));
                }
            }
            let _ = std::io::stdout().flush();
        }
    });
    if !failed.is_empty() {
        println!("\nfailures:");
        for (name, msg) in &failed {
            println!("\n---- {name} ----\n{msg}");
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {} failed; {ignored} ignored; 0 measured; {filtered_out} filtered out; finished in {:.1}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Locates (and if needed builds) the binaries before any case starts, outside the async
/// cases, so a build failure is reported once.
fn trials_binaries_ready() -> bool {
    std::panic::catch_unwind(binaries::get).is_ok()
}
