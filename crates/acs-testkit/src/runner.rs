//! The runner: one `libtest-mimic` trial per case and backend, PostgreSQL cases ignored with
//! the reason when there is no server, the suite's `prepare` once before the first case, and
//! each case on a fresh database and runtime. The command line, the lines, the failures, the
//! summary and the exit code are libtest-mimic's.

use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Completion, Conclusion, Failed, Trial};

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

/// What every trial of one run shares.
struct Shared<E> {
    prefix: &'static str,
    pg_url: Option<String>,
    prepare: Option<fn() -> Result<(), String>>,
    /// `prepare`'s outcome: computed by the first case that runs, read by all the others.
    ready: OnceLock<Result<(), String>>,
    env: Box<dyn Fn(Fresh) -> E + Send + Sync>,
    took: Mutex<Vec<(String, Duration)>>,
}

impl Runner {
    /// `prefix` names the temp dirs and PostgreSQL databases (`acs_store_test_…`); lower-case,
    /// a valid identifier. One case at a time unless [`Runner::jobs`] or `--test-threads` says
    /// otherwise.
    pub fn new(prefix: &'static str) -> Runner {
        Runner {
            prefix,
            jobs: 1,
            times: false,
            prepare: None,
        }
    }

    /// Runs up to `jobs` cases at once, each on its own thread and runtime (`--test-threads`
    /// on the command line wins).
    pub fn jobs(mut self, jobs: usize) -> Runner {
        self.jobs = jobs.max(1);
        self
    }

    /// Prints each case's duration, slowest first, after the summary.
    pub fn times(mut self, times: bool) -> Runner {
        self.times = times;
        self
    }

    /// Runs once before the first case (not for `--list`, not when every case is ignored or
    /// filtered out); an error fails every case with it.
    pub fn prepare(mut self, prepare: fn() -> Result<(), String>) -> Runner {
        self.prepare = Some(prepare);
        self
    }

    /// Parses libtest's command line, runs the kept cases on both backends and reports like
    /// libtest.
    pub fn run<E: 'static>(
        self,
        cases: Vec<Case<E>>,
        env: impl Fn(Fresh) -> E + Send + Sync + 'static,
    ) -> ExitCode {
        let args = Arguments::from_args();
        let pg_url = std::env::var("ACS_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.trim().is_empty());
        if !args.list {
            if pg_url.is_none() {
                println!("note: PostgreSQL backend skipped: {NO_POSTGRES}");
            }
            // A failure's message is reported with the case; no backtrace noise per panic.
            std::panic::set_hook(Box::new(|info| {
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                eprintln!("panicked{at}");
            }));
        }
        self.run_with(args, pg_url, cases, env).exit_code()
    }

    fn run_with<E: 'static>(
        &self,
        mut args: Arguments,
        pg_url: Option<String>,
        cases: Vec<Case<E>>,
        env: impl Fn(Fresh) -> E + Send + Sync + 'static,
    ) -> Conclusion {
        args.test_threads = args.test_threads.or(Some(self.jobs));
        let shared = Arc::new(Shared {
            prefix: self.prefix,
            pg_url,
            prepare: self.prepare,
            ready: OnceLock::new(),
            env: Box::new(env),
            took: Mutex::new(Vec::new()),
        });
        let trials = Backend::ALL
            .into_iter()
            .flat_map(|backend| cases.iter().map(move |&(name, case)| (backend, name, case)))
            .map(|(backend, name, case)| {
                let name = format!("{}::{name}", backend.name());
                let shared = Arc::clone(&shared);
                Trial::ignorable_test(name.clone(), move || {
                    shared.trial(backend, name, case).map_err(Failed::from)
                })
            })
            .collect();
        let conclusion = libtest_mimic::run(&args, trials);
        if self.times {
            let mut took = std::mem::take(&mut *shared.took.lock().expect("durations"));
            took.sort_by_key(|(_, took)| std::cmp::Reverse(*took));
            for (name, took) in took {
                println!("{:>7.1} s  {name}", took.as_secs_f64());
            }
        }
        conclusion
    }
}

impl<E> Shared<E> {
    /// One trial: ignored without a PostgreSQL server, failed when `prepare` failed, else the
    /// case on a fresh database.
    fn trial(
        &self,
        backend: Backend,
        name: String,
        case: fn(E) -> BoxFuture,
    ) -> Result<Completion, String> {
        if backend == Backend::Postgres && self.pg_url.is_none() {
            return Ok(Completion::ignored_with(NO_POSTGRES));
        }
        if let Some(prepare) = self.prepare {
            self.ready.get_or_init(prepare).clone()?;
        }
        let started = Instant::now();
        let outcome = self.run_case(backend, case);
        self.took
            .lock()
            .expect("durations")
            .push((name, started.elapsed()));
        outcome.map(|()| Completion::Completed)
    }

    /// One case on a fresh database and its own runtime; the database and the temp dir go
    /// whatever the case did.
    fn run_case(&self, backend: Backend, case: fn(E) -> BoxFuture) -> Result<(), String> {
        let db = database::unique_name(self.prefix);
        let dir = std::env::temp_dir().join(&db);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let fresh = |url| Fresh {
            backend,
            url,
            dir: dir.clone(),
        };
        let outcome = on_database(backend, self.pg_url.as_deref(), &db, &dir, fresh, |fresh| {
            case((self.env)(fresh))
        });
        let _ = std::fs::remove_dir_all(&dir);
        outcome
    }
}

/// Creates the case's database, runs the case on its own runtime, drops the database.
fn on_database(
    backend: Backend,
    pg_base: Option<&str>,
    db: &str,
    dir: &std::path::Path,
    fresh: impl FnOnce(String) -> Fresh,
    case: impl FnOnce(Fresh) -> BoxFuture,
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
    let case = case(fresh(url));
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

/// For the admin statements around a case.
fn small_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// The case gets the fresh SQLite database and its empty scratch dir.
    fn lease(fresh: Fresh) -> BoxFuture {
        Box::pin(async move {
            assert_eq!(fresh.backend, Backend::Sqlite);
            assert!(fresh.url.starts_with("sqlite://"), "{}", fresh.url);
            assert!(fresh.dir.is_dir(), "{}", fresh.dir.display());
        })
    }

    fn tokens(_: Fresh) -> BoxFuture {
        Box::pin(async { panic!("tokens are broken") })
    }

    const CASES: [Case<Fresh>; 3] = [
        ("lease", lease),
        ("lease_expires", lease),
        ("tokens", tokens),
    ];

    /// Runs [`CASES`] without PostgreSQL under the command line `line`.
    fn run(runner: &Runner, line: &str) -> Conclusion {
        let args = Arguments::from_iter(std::iter::once("suite").chain(line.split_whitespace()));
        runner.run_with(args, None, CASES.to_vec(), |fresh| fresh)
    }

    fn counts(c: &Conclusion) -> [u64; 4] {
        [
            c.num_passed,
            c.num_failed,
            c.num_ignored,
            c.num_filtered_out,
        ]
    }

    #[test]
    fn every_case_runs_per_backend_and_postgres_is_ignored_without_a_server() {
        let c = run(&Runner::new("acs_testkit_test"), "");
        assert_eq!(counts(&c), [2, 1, 3, 0]);
        assert!(c.has_failed(), "a panicking case fails the run");
    }

    #[test]
    fn filters_skip_and_exact_see_the_backend_prefixed_names() {
        let runner = Runner::new("acs_testkit_test").jobs(2);
        assert_eq!(counts(&run(&runner, "lease --skip postgres")), [2, 0, 0, 4]);
        assert_eq!(counts(&run(&runner, "--exact sqlite::lease")), [1, 0, 0, 5]);
        assert_eq!(
            counts(&run(&runner, "--test-threads 1 tokens")),
            [0, 1, 1, 4]
        );
        assert_eq!(counts(&run(&runner, "--list --skip=sqlite")), [0, 0, 0, 0]);
    }

    #[test]
    fn prepare_runs_once_and_its_error_fails_every_runnable_case() {
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        let runner = Runner::new("acs_testkit_test").jobs(2).prepare(|| {
            CALLS.fetch_add(1, Ordering::SeqCst);
            Err("the binaries are unavailable".into())
        });
        assert_eq!(counts(&run(&runner, "--list")), [0, 0, 0, 0]);
        assert_eq!(CALLS.load(Ordering::SeqCst), 0, "not for --list");
        assert_eq!(counts(&run(&runner, "")), [0, 3, 3, 0]);
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    }
}
