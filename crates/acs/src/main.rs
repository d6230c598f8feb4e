//! The `acs` command line.
//!
//! The server (`acs serve`) is wired in once the session engine exists (issue 4); until then
//! this binary says so plainly instead of pretending to run.

use std::process::ExitCode;

const USAGE: &str = "usage: acs <command>

commands:
  serve     run the ACS (not available yet: the session engine lands with issue 4)
  help      print this message";

fn main() -> ExitCode {
    let command = std::env::args().nth(1);
    match command.as_deref() {
        None | Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("serve") => {
            eprintln!(
                "acs serve: not yet — the CWMP session engine and the listeners are not built yet; \
                 today this repository holds the protocol crate (crates/cwmp) and its tests"
            );
            ExitCode::from(2)
        }
        Some(other) => {
            eprintln!("acs: unknown command `{other}`\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
