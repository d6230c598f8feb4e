//! Runs every API test once per store backend: SQLite always; PostgreSQL when
//! `ACS_TEST_POSTGRES_URL` is set, else each PostgreSQL case is reported *ignored* with the
//! reason — never a silent pass. The same shape as the store's contract harness.
//!
//! A custom harness (`harness = false`) because libtest cannot decide at run time to ignore a
//! test. Each case gets a fresh database (a new SQLite file, or a uniquely named PostgreSQL
//! database dropped afterwards, also when the case fails) and its own tokio runtime, so the
//! server a case started is gone before its database is dropped.

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{Connection, PgConnection};

pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
pub type Case = (&'static str, fn(Env) -> BoxFuture);

/// `cases![a, b]`: the named `async fn(Env)` tests as harness cases.
#[macro_export]
macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        vec![$((
            stringify!($name),
            (|env| -> $crate::support::harness::BoxFuture { Box::pin($name(env)) })
                as fn($crate::support::harness::Env) -> $crate::support::harness::BoxFuture,
        )),*]
    };
}

/// What a case gets: its fresh database and a scratch directory (the API's data dir).
#[derive(Clone, Debug)]
pub struct Env {
    pub url: String,
    pub dir: PathBuf,
}

impl Env {
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

fn unique_suffix() -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}_{:x}_{n}", std::process::id(), nanos)
}

/// `base` with its database name replaced by `db`.
fn with_database(base: &str, db: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let path_start = head[scheme_end..]
        .find('/')
        .map_or(head.len(), |i| scheme_end + i);
    let mut url = format!("{}/{db}", &head[..path_start]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn run_case(
    backend: Backend,
    pg_base: Option<&str>,
    case: fn(Env) -> BoxFuture,
) -> Result<(), String> {
    let suffix = unique_suffix();
    let dir = std::env::temp_dir().join(format!("acs_api_test_{suffix}"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (url, pg_db) = match backend {
        Backend::Sqlite => (format!("sqlite://{}", dir.join("acs.db").display()), None),
        Backend::Postgres => {
            let base = pg_base.expect("postgres url");
            let db = format!("acs_api_test_{suffix}");
            runtime().block_on(async {
                let mut admin = PgConnection::connect(base)
                    .await
                    .map_err(|e| format!("cannot reach ACS_TEST_POSTGRES_URL: {e}"))?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
                    .execute(&mut admin)
                    .await
                    .map_err(|e| format!("create database {db}: {e}"))?;
                let _ = admin.close().await;
                Ok::<_, String>(())
            })?;
            (with_database(base, &db), Some(db))
        }
    };
    let env = Env {
        url,
        dir: dir.clone(),
    };
    let rt = runtime();
    let outcome = rt.block_on(async move { tokio::spawn(case(env)).await });
    // Stops the case's server and closes its pool before the database goes.
    drop(rt);
    if let (Some(db), Some(base)) = (pg_db, pg_base) {
        runtime().block_on(async {
            if let Ok(mut admin) = PgConnection::connect(base).await {
                let sql = format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)");
                if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut admin)
                    .await
                {
                    eprintln!("warning: could not drop test database {db}: {e}");
                }
            }
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    match outcome {
        Ok(()) => Ok(()),
        Err(e) if e.is_panic() => {
            let panic = e.into_panic();
            Err(panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into()))
        }
        Err(e) => Err(e.to_string()),
    }
}

pub fn main(cases: Vec<Case>) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let list_only = args.iter().any(|a| a == "--list");
    let exact = args.iter().any(|a| a == "--exact");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let pg_url = std::env::var("ACS_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());

    let mut trials = Vec::new();
    for (backend, prefix) in [(Backend::Sqlite, "sqlite"), (Backend::Postgres, "postgres")] {
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
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("panicked{at}");
    }));
    println!("\nrunning {} tests", trials.len());
    let (mut passed, mut failed, mut ignored) = (0, Vec::new(), 0);
    for (backend, name, f) in trials {
        if backend == Backend::Postgres && pg_url.is_none() {
            println!("test {name} ... ignored, ACS_TEST_POSTGRES_URL is not set");
            ignored += 1;
            continue;
        }
        print!("test {name} ... ");
        let _ = std::io::stdout().flush();
        match run_case(backend, pg_url.as_deref(), f) {
            Ok(()) => {
                println!("ok");
                passed += 1;
            }
            Err(msg) => {
                println!("FAILED");
                failed.push((name, msg));
            }
        }
    }
    if !failed.is_empty() {
        println!("\nfailures:");
        for (name, msg) in &failed {
            println!("\n---- {name} ----\n{msg}");
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {} failed; {ignored} ignored; 0 measured; {filtered_out} filtered out\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
