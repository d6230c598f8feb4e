//! What an API case receives; the runner (every test once per store backend, a fresh database
//! and runtime per case) is `acs-testkit`'s.

use std::path::PathBuf;

pub use acs_testkit::BoxFuture;
pub type Case = acs_testkit::Case<Env>;

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

/// `api_tests![a, b]`: the test binary's `main`, which runs the named `async fn(Env)` cases
/// once per store backend.
#[macro_export]
macro_rules! api_tests {
    ($($name:ident),* $(,)?) => {
        fn main() -> std::process::ExitCode {
            $crate::support::harness::main($crate::cases![$($name),*])
        }
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

pub fn main(cases: Vec<Case>) -> std::process::ExitCode {
    acs_testkit::Runner::new("acs_api_test").run(cases, |fresh| Env {
        url: fresh.url,
        dir: fresh.dir,
    })
}
