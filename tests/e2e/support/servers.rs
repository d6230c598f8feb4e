//! The real `acs serve` and `cpe-sim run`, started on loopback port 0.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::binaries;
use super::process::Proc;

/// A running `acs serve`.
pub struct Acs {
    proc: Proc,
    /// `127.0.0.1:port` of the CPE listener.
    pub cwmp: String,
    /// `127.0.0.1:port` of the API listener.
    pub api: String,
}

/// How to start (and restart) `acs` on one database.
#[derive(Clone, Debug)]
pub struct AcsConfig {
    pub database_url: String,
    pub data_dir: PathBuf,
    pub extra: Vec<String>,
}

impl AcsConfig {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&binaries::get().acs);
        cmd.env("ACS_DATABASE_URL", &self.database_url)
            .env("ACS_DATA_DIR", &self.data_dir)
            .env("ACS_LOG_FORMAT", "text")
            .env("NO_COLOR", "1")
            .env_remove("ACS_CONFIG")
            .env_remove("ACS_SECRET_KEY")
            .env_remove("RUST_LOG")
            .env_remove("ACS_LOG");
        cmd
    }

    /// `acs serve` on 127.0.0.1:0 for both listeners; returns once both are bound.
    pub fn start(&self) -> Acs {
        let mut cmd = self.command();
        cmd.arg("serve")
            .args([
                "--cwmp-listen",
                "127.0.0.1:0",
                "--api-listen",
                "127.0.0.1:0",
            ])
            .args(&self.extra);
        let mut proc = Proc::spawn("acs", cmd);
        let address = |marker: &'static str| {
            move |line: &str| {
                line.contains(marker)
                    .then(|| line.rsplit("http://").next().map(|a| a.trim().to_owned()))
                    .flatten()
            }
        };
        let timeout = Duration::from_secs(60);
        let cwmp = proc.wait_line("its CPE listener", timeout, address("CPE listener"));
        let api = proc.wait_line("its API listener", timeout, address("API listener"));
        Acs { proc, cwmp, api }
    }

    /// `acs token create`: `--admin` when `organization` is `None`, else scoped to it.
    pub fn token(&self, organization: Option<i64>) -> String {
        let mut cmd = self.command();
        cmd.args(["token", "create", "--name", "e2e"]);
        match organization {
            None => cmd.arg("--admin"),
            Some(id) => cmd.args(["--organization", &id.to_string()]),
        };
        let out = tokio::task::block_in_place(|| cmd.output()).expect("acs token create runs");
        assert!(
            out.status.success(),
            "acs token create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout).expect("utf-8 token");
        let token = token.trim().to_owned();
        assert!(!token.is_empty(), "acs token create printed no token");
        token
    }
}

impl Acs {
    /// The URL a CPE is given.
    pub fn acs_url(&self) -> String {
        format!("http://{}/", self.cwmp)
    }

    /// Stops the server at once (SIGKILL): what was committed must survive.
    pub fn kill(mut self) {
        self.proc.kill();
    }
}

/// A running `cpe-sim run --events json`.
pub struct Sim {
    proc: Proc,
}

/// What a fleet looks like.
pub struct SimConfig<'a> {
    pub acs_url: &'a str,
    pub serial_pattern: &'a str,
    pub devices: u32,
    pub inform_interval: u32,
    pub extra: Vec<String>,
}

impl SimConfig<'_> {
    /// The connection-request credentials the devices check.
    pub fn with_cr(mut self, user: &str, password: &str) -> Self {
        self.extra
            .extend(["--cr-username", user, "--cr-password", password].map(String::from));
        self
    }

    /// Starts the fleet with its connection-request listener on 127.0.0.1:0; returns once
    /// the listener is bound.
    pub fn start(&self) -> Sim {
        let mut cmd = Command::new(&binaries::get().cpe_sim);
        cmd.arg("run")
            .args(["--acs", self.acs_url])
            .args(["--devices", &self.devices.to_string()])
            .args(["--serial-pattern", self.serial_pattern])
            .args(["--inform-interval", &self.inform_interval.to_string()])
            .args(["--cr-listen", "127.0.0.1:0", "--events", "json"])
            .args(["--http-timeout", "10"]);
        // a quick reboot unless the case asks for another (the simulator refuses a flag twice)
        if !self.extra.iter().any(|a| a == "--reboot-delay") {
            cmd.args(["--reboot-delay", "0.2"]);
        }
        cmd.args(&self.extra);
        let mut proc = Proc::spawn("cpe-sim", cmd);
        proc.wait_line(
            "its connection-request listener",
            Duration::from_secs(30),
            |l| l.contains("cr_listening").then_some(()),
        );
        Sim { proc }
    }
}

impl Sim {
    /// Every `--events json` line so far, parsed.
    pub fn events(&self) -> Vec<Value> {
        let o = self.proc.output.lock().unwrap();
        o.stdout
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The events named `event` of device `serial`.
    pub fn events_of(&self, serial: &str, event: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["serial"] == serial && e["event"] == event)
            .collect()
    }

    /// Whether `serial` ended a session whose Inform carried every code of `codes`.
    pub fn informed(&self, serial: &str, codes: &[&str]) -> bool {
        self.events_of(serial, "session_end").iter().any(|e| {
            codes.iter().all(|c| {
                e["informed"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == c))
            })
        })
    }

    /// Waits until `serial` has ended `n` sessions (its last answer was the ACS's 204): a
    /// device killed after that is offline, not dead in the middle of a session (whose lease
    /// the server keeps until the session times out).
    pub async fn wait_sessions(&self, serial: &str, n: usize) {
        super::wait::until_true(
            &format!("{serial} to end {n} session(s)"),
            std::time::Duration::from_secs(60),
            || async { self.events_of(serial, "session_end").len() >= n },
        )
        .await;
    }

    /// Kills the fleet: its devices stop answering at once.
    pub fn kill(mut self) {
        self.proc.kill();
    }
}
