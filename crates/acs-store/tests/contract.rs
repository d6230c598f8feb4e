//! The store's contract suite: every test runs once per backend. SQLite always; PostgreSQL
//! when `ACS_TEST_POSTGRES_URL` is set, else each PostgreSQL case is reported *ignored* with
//! the reason — never a silent pass.
//!
//! A custom harness (`harness = false`) because libtest cannot decide at run time to ignore a
//! test. Each case gets a fresh database: a new SQLite file, or a uniquely named PostgreSQL
//! database that is dropped afterwards, also when the case fails.

/// `cases!(a, b, ...)` defines `all()`: the named case functions, by name.
macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        pub fn all() -> Vec<super::harness::Case> {
            use super::harness::{BoxFuture, Env};
            vec![$((stringify!($name), |env: Env| -> BoxFuture { Box::pin($name(env)) })),*]
        }
    };
}

/// `with_raw_pool!(env, |pool| body)`: `body` with `pool`, a fresh pool of the case's
/// backend on its database (for raw SQL that the store's API does not offer), closed after.
macro_rules! with_raw_pool {
    ($env:expr, |$pool:ident| $body:expr) => {{
        if $env.is_postgres() {
            let $pool = sqlx::PgPool::connect(&$env.url).await.unwrap();
            let out = $body;
            $pool.close().await;
            out
        } else {
            let $pool = sqlx::SqlitePool::connect(&$env.url).await.unwrap();
            let out = $body;
            $pool.close().await;
            out
        }
    }};
}

mod contract {
    pub mod cases;
    pub mod fixtures;
    pub mod harness;
    pub mod informs;
    pub mod task_cases;
}

fn main() -> std::process::ExitCode {
    let mut cases = contract::cases::all();
    cases.extend(contract::task_cases::all());
    contract::harness::main(cases)
}
