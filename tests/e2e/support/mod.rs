//! The suite's side of the harness: what a case receives and how many run at once. The
//! runner (each case once per backend on a fresh database, libtest-style output) is
//! `acs-testkit`'s.

pub mod api;
pub mod binaries;
pub mod process;
pub mod servers;
pub mod wait;

pub use acs_testkit::BoxFuture;
pub use api::Api;
pub use servers::{Acs, AcsConfig, SimConfig};

pub type Case = acs_testkit::Case<Env>;

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

/// The test binary's `main`: `cargo test` arguments (`--list`, `--exact`, `--skip`, name
/// filters) are honoured; `ACS_E2E_JOBS` (default 2) cases run at once.
pub fn main(cases: Vec<Case>) -> std::process::ExitCode {
    let jobs: usize = std::env::var("ACS_E2E_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .filter(|&j| j > 0)
        .unwrap_or(2);
    acs_testkit::Runner::new("acs_e2e")
        .jobs(jobs)
        .times(true)
        .prepare(binaries_ready)
        .run(cases, |fresh| Env {
            // the data dir holds the SQLite file, the secret key and firmware files
            acs: AcsConfig {
                database_url: fresh.url,
                data_dir: fresh.dir,
                extra: Vec::new(),
            },
        })
}

/// Locates (and if needed builds) the binaries once, before any case starts, so a build
/// failure is reported once rather than inside every case.
fn binaries_ready() -> Result<(), String> {
    std::panic::catch_unwind(binaries::get)
        .map(|_| ())
        .map_err(|_| "the acs and cpe-sim binaries are unavailable".to_owned())
}
