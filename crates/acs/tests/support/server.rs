//! The real `acs serve` as a child process for the edge tests (framing, the request gate, the
//! API listener's timeouts): both listeners on port 0 of 127.0.0.1, a fresh SQLite database
//! in a scratch directory, the listener addresses read from its log.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use super::temp_dir;

pub struct Acs {
    child: Child,
    pub cwmp: String,
    pub api: String,
    pub dir: PathBuf,
    /// Every line the server logged.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Acs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `acs serve` with `extra` arguments, once both listeners are up.
pub fn start(extra: &[&str]) -> Acs {
    let dir = temp_dir("acs-edge");
    let mut child = Command::new(env!("CARGO_BIN_EXE_acs"))
        .arg("serve")
        .args([
            "--cwmp-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env(
            "ACS_DATABASE_URL",
            format!("sqlite://{}/acs.db", dir.display()),
        )
        .env("ACS_DATA_DIR", &dir)
        .env("ACS_LOG_FORMAT", "text")
        .env("NO_COLOR", "1")
        .env_remove("ACS_CONFIG")
        .stderr(Stdio::piped())
        .spawn()
        .expect("acs starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut cwmp, mut api) = (None, None);
    let mut early = Vec::new();
    while cwmp.is_none() || api.is_none() {
        let line = lines.next().expect("acs printed its listeners").unwrap();
        early.push(line.clone());
        let addr = || line.rsplit("http://").next().unwrap().trim().to_owned();
        if line.contains("CPE listener") {
            cwmp = Some(addr());
        } else if line.contains("API listener on") {
            api = Some(addr());
        }
    }
    let log = Arc::new(Mutex::new(early));
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    Acs {
        child,
        cwmp: cwmp.unwrap(),
        api: api.unwrap(),
        dir,
        log,
    }
}

impl Acs {
    /// An API token with admin rights on this server's database.
    pub fn admin_token(&self) -> String {
        admin_token(&self.dir)
    }
}

/// An API token with admin rights, made by `acs token create` on the database in `dir`.
pub fn admin_token(dir: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_acs"))
        .args(["token", "create", "--name", "edge", "--admin"])
        .env(
            "ACS_DATABASE_URL",
            format!("sqlite://{}/acs.db", dir.display()),
        )
        .env("ACS_DATA_DIR", dir)
        .env_remove("ACS_CONFIG")
        .output()
        .expect("acs token create runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
