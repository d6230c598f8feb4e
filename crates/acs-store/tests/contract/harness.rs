use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use acs_store::{SecretKey, Store};
use sqlx::{Connection, PgConnection};

pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
pub type Case = (&'static str, fn(Env) -> BoxFuture);

/// What a case gets: where its fresh database is, and a scratch directory.
#[derive(Clone, Debug)]
pub struct Env {
    pub url: String,
    pub dir: PathBuf,
    pub key_hex: String,
}

impl Env {
    /// A migrated store on this case's database.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url, self.key())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        store
    }

    pub fn key(&self) -> SecretKey {
        SecretKey::from_hex(&self.key_hex).expect("test key")
    }

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

async fn run_case(
    backend: Backend,
    pg_base: Option<&str>,
    case: fn(Env) -> BoxFuture,
) -> Result<(), String> {
    let suffix = unique_suffix();
    let dir = std::env::temp_dir().join(format!("acs_store_test_{suffix}"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let key_hex = acs_store_test_key();
    let (url, pg_db) = match backend {
        Backend::Sqlite => (format!("sqlite://{}", dir.join("acs.db").display()), None),
        Backend::Postgres => {
            let base = pg_base.expect("postgres url");
            let db = format!("acs_test_{suffix}");
            let mut admin = PgConnection::connect(base)
                .await
                .map_err(|e| format!("cannot reach ACS_TEST_POSTGRES_URL: {e}"))?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
                .execute(&mut admin)
                .await
                .map_err(|e| format!("create database {db}: {e}"))?;
            let _ = admin.close().await;
            (with_database(base, &db), Some(db))
        }
    };
    let env = Env {
        url,
        dir: dir.clone(),
        key_hex,
    };
    let outcome = tokio::spawn(case(env)).await;
    if let (Some(db), Some(base)) = (pg_db, pg_base)
        && let Ok(mut admin) = PgConnection::connect(base).await
    {
        let sql = format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)");
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
        {
            eprintln!("warning: could not drop test database {db}: {e}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    match outcome {
        Ok(()) => Ok(()),
        Err(e) if e.is_panic() => {
            let panic = e.into_panic();
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Err(msg)
        }
        Err(e) => Err(e.to_string()),
    }
}

fn acs_store_test_key() -> String {
    // a fixed test key: the tests check sealing, not key secrecy
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".into()
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
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let prefix = if backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
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
    // failures are reported with their message below; no backtrace noise per panic
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("panicked{at}");
    }));
    println!("\nrunning {} tests", trials.len());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (mut passed, mut failed, mut ignored) = (0, Vec::new(), 0);
    for (backend, name, f) in trials {
        if backend == Backend::Postgres && pg_url.is_none() {
            println!("test {name} ... ignored, ACS_TEST_POSTGRES_URL is not set");
            ignored += 1;
            continue;
        }
        print!("test {name} ... ");
        let _ = std::io::stdout().flush();
        match runtime.block_on(run_case(backend, pg_url.as_deref(), f)) {
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
