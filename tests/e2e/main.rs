//! The end-to-end suite: the real `acs serve` against the real `cpe-sim run`, every case on
//! SQLite and (with `ACS_TEST_POSTGRES_URL`) PostgreSQL, talking to the server only through
//! its REST API and real CWMP sessions.

mod cases;
mod support;

fn main() -> std::process::ExitCode {
    support::main(cases::all())
}
