//! The store's contract suite: every test runs once per backend. SQLite always; PostgreSQL
//! when `ACS_TEST_POSTGRES_URL` is set, else each PostgreSQL case is reported *ignored* with
//! the reason — never a silent pass.
//!
//! A custom harness (`harness = false`) because libtest cannot decide at run time to ignore a
//! test. Each case gets a fresh database: a new SQLite file, or a uniquely named PostgreSQL
//! database that is dropped afterwards, also when the case fails.

mod contract {
    pub mod cases;
    pub mod harness;
    pub mod task_cases;
}

fn main() -> std::process::ExitCode {
    let mut cases = contract::cases::all();
    cases.extend(contract::task_cases::all());
    contract::harness::main(cases)
}
