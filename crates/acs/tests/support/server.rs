//! The real `acs serve` on port 0 of 127.0.0.1 with a fresh SQLite database in a scratch
//! directory, the listener addresses read from its log: for test files that need no more than
//! that (http.rs keeps its own, with a wrapper command).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use super::temp_dir;

pub struct Server {
    pub child: Child,
    pub cwmp: String,
    pub api: String,
    pub dir: PathBuf,
    /// Every line the server logged.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    pub fn database_url(&self) -> String {
        format!("sqlite://{}/acs.db", self.dir.display())
    }

    /// The same database, opened beside the server (SQLite allows it), with the server's key.
    pub async fn store(&self) -> acs_store::Store {
        acs_store::Store::connect(
            &self.database_url(),
            acs_store::SecretKey::load_or_create(&self.dir).unwrap(),
        )
        .await
        .unwrap()
    }
}

/// `acs serve` with `extra` flags and `env` variables.
pub fn start(extra: &[&str], env: &[(&str, &str)]) -> Server {
    let dir = temp_dir("acs-serve");
    let mut command = Command::new(env!("CARGO_BIN_EXE_acs"));
    command
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
        .env_remove("ACS_SECRET_KEY")
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("acs starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut cwmp, mut api) = (None, None);
    let mut early = Vec::new();
    while cwmp.is_none() || api.is_none() {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("acs exited before printing its listeners: {early:?}"))
            .unwrap();
        early.push(line.clone());
        let addr = || line.rsplit("http://").next().unwrap().trim().to_owned();
        if line.contains("CPE listener") {
            cwmp = Some(addr());
        } else if line.contains("API listener") {
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
    Server {
        child,
        cwmp: cwmp.unwrap(),
        api: api.unwrap(),
        dir,
        log,
    }
}

/// Runs `test` on a thread with a 16 MiB stack and a runtime of its own: polling the store's
/// bigger futures overflows a test thread's 2 MiB stack in debug builds.
pub fn run_big<F: std::future::Future<Output = ()> + Send + 'static>(test: F) {
    std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(test)
        })
        .unwrap()
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

impl Server {
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
