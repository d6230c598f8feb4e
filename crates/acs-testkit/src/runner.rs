//! The runner: trials per backend, ignore-with-reason, `jobs` cases at a time, libtest-style
//! lines and summary, the exit code.

use std::collections::VecDeque;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::{Backend, BoxFuture, Case, Fresh, database};

const NO_POSTGRES: &str = "ACS_TEST_POSTGRES_URL is not set";

/// How long a finished case's runtime may take to stop what the case left running.
const SHUTDOWN: Duration = Duration::from_secs(10);

/// One suite's harness settings; [`Runner::run`] is the test binary's `main`.
pub struct Runner {
    prefix: &'static str,
    jobs: usize,
    times: bool,
    prepare: Option<fn() -> Result<(), String>>,
}

impl Runner {
    /// `prefix` names the temp dirs and PostgreSQL databases (`acs_store_test_…`); lower-case,
    /// a valid identifier. One case at a time unless [`Runner::jobs`] says otherwise.
    pub fn new(prefix: &'static str) -> Runner {
        Runner {
            prefix,
            jobs: 1,
            times: false,
            prepare: None,
        }
    }

    /// Runs up to `jobs` cases at once, each on its own thread and runtime.
    pub fn jobs(mut self, jobs: usize) -> Runner {
        self.jobs = jobs.max(1);
        self
    }

    /// Prints each case's duration on its line.
    pub fn times(mut self, times: bool) -> Runner {
        self.times = times;
        self
    }

    /// Runs once before the first case (not for `--list`); an error fails every case with it.
    pub fn prepare(mut self, prepare: fn() -> Result<(), String>) -> Runner {
        self.prepare = Some(prepare);
        self
    }

    /// Parses the command line, runs the kept cases on both backends and reports like libtest.
    pub fn run<E>(self, cases: Vec<Case<E>>, env: impl Fn(Fresh) -> E + Sync) -> ExitCode {
        let args = Args::parse(std::env::args().skip(1));
        let pg_url = std::env::var("ACS_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.trim().is_empty());

        let mut trials = Vec::new();
        for backend in Backend::ALL {
            for (name, case) in &cases {
                let full = format!("{}::{name}", backend.name());
                if args.keeps(&full) {
                    trials.push((backend, full, *case));
                }
            }
        }
        let filtered_out = cases.len() * Backend::ALL.len() - trials.len();
        if args.list {
            for (_, name, _) in &trials {
                println!("{name}: test");
            }
            return ExitCode::SUCCESS;
        }
        if pg_url.is_none() {
            println!("note: PostgreSQL backend skipped: {NO_POSTGRES}");
        }
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

        let (runnable, skipped): (Vec<_>, Vec<_>) = trials
            .into_iter()
            .partition(|(backend, _, _)| *backend == Backend::Sqlite || pg_url.is_some());
        let not_ready = match (self.prepare, runnable.is_empty()) {
            (Some(prepare), false) => prepare().err(),
            _ => None,
        };
        let mut failed = Vec::new();
        let mut passed = 0;
        if let Some(why) = not_ready {
            for (_, name, _) in runnable {
                println!("test {name} ... FAILED");
                failed.push((name, why.clone()));
            }
        } else {
            let queue = Mutex::new(VecDeque::from(runnable));
            let (tx, rx) = mpsc::channel();
            let env = &env;
            let pg_url = pg_url.as_deref();
            let this = &self;
            std::thread::scope(|scope| {
                for _ in 0..self.jobs {
                    let tx = tx.clone();
                    let queue = &queue;
                    scope.spawn(move || {
                        loop {
                            let next = queue.lock().expect("queue").pop_front();
                            let Some((backend, name, case)) = next else {
                                break;
                            };
                            let _ = tx.send(Event::Started(name.clone()));
                            let t = Instant::now();
                            let outcome = this.run_case(backend, pg_url, env, case);
                            let _ = tx.send(Event::Done(name, outcome, t.elapsed()));
                        }
                    });
                }
                drop(tx);
                for event in rx {
                    match event {
                        // one case at a time: its name first, as libtest does
                        Event::Started(name) if self.jobs == 1 => {
                            print!("test {name} ... ");
                        }
                        Event::Started(_) => continue,
                        Event::Done(name, outcome, took) => {
                            if self.jobs > 1 {
                                print!("test {name} ... ");
                            }
                            let verdict = if outcome.is_ok() { "ok" } else { "FAILED" };
                            if self.times {
                                println!("{verdict} ({:.1} s)", took.as_secs_f64());
                            } else {
                                println!("{verdict}");
                            }
                            match outcome {
                                Ok(()) => passed += 1,
                                Err(msg) => failed.push((name, msg)),
                            }
                        }
                    }
                    let _ = std::io::stdout().flush();
                }
            });
        }
        for (_, name, _) in &skipped {
            println!("test {name} ... ignored, {NO_POSTGRES}");
        }
        if !failed.is_empty() {
            println!("\nfailures:");
            for (name, msg) in &failed {
                println!("\n---- {name} ----\n{msg}");
            }
        }
        println!(
            "\ntest result: {}. {passed} passed; {} failed; {} ignored; 0 measured; {filtered_out} filtered out; finished in {:.2}s\n",
            if failed.is_empty() { "ok" } else { "FAILED" },
            failed.len(),
            skipped.len(),
            started.elapsed().as_secs_f64()
        );
        if failed.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    /// One case on a fresh database and its own runtime; the database and the temp dir go
    /// whatever the case did.
    fn run_case<E>(
        &self,
        backend: Backend,
        pg_base: Option<&str>,
        env: &(impl Fn(Fresh) -> E + Sync),
        case: fn(E) -> BoxFuture,
    ) -> Result<(), String> {
        let db = database::unique_name(self.prefix);
        let dir = std::env::temp_dir().join(&db);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let fresh = |url| Fresh {
            backend,
            url,
            dir: dir.clone(),
        };
        let outcome = on_database(backend, pg_base, &db, &dir, fresh, env, case);
        let _ = std::fs::remove_dir_all(&dir);
        outcome
    }
}

/// Creates the case's database, runs the case on its own runtime, drops the database.
fn on_database<E>(
    backend: Backend,
    pg_base: Option<&str>,
    db: &str,
    dir: &std::path::Path,
    fresh: impl FnOnce(String) -> Fresh,
    env: &(impl Fn(Fresh) -> E + Sync),
    case: fn(E) -> BoxFuture,
) -> Result<(), String> {
    let url = match (backend, pg_base) {
        (Backend::Sqlite, _) => format!("sqlite://{}", dir.join("acs.db").display()),
        (Backend::Postgres, Some(base)) => {
            small_runtime().block_on(database::create_database(base, db))?;
            database::with_database(base, db)
        }
        (Backend::Postgres, None) => return Err(NO_POSTGRES.to_owned()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let case = case(env(fresh(url)));
    let outcome = runtime.block_on(async move { tokio::spawn(case).await });
    // Stops the servers and pools the case left running before their database goes.
    runtime.shutdown_timeout(SHUTDOWN);
    if let (Backend::Postgres, Some(base)) = (backend, pg_base)
        && let Err(e) = small_runtime().block_on(database::drop_database(base, db))
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

enum Event {
    Started(String),
    Done(String, Result<(), String>, Duration),
}

/// For the admin statements around a case.
fn small_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}
