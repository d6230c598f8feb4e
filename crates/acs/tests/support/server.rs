//! The real `acs serve` on port 0 of 127.0.0.1 with a fresh SQLite database in a scratch
//! directory, the listener addresses read from its log: for test files that need no more than
//! that, or run under a wrapper command (`prlimit`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
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
    /// Everything the server logged so far, one line each.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The address of the listener whose start line contains `what` (`CPE TLS listener`),
    /// waited for: the HTTPS listeners are named after the plain ones.
    pub fn listener(&self, what: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let found = self.log.lock().unwrap().iter().find_map(|l| {
                let (_, addr) = l.rsplit_once("://")?;
                (l.contains(what) && l.contains("listener")).then(|| addr.trim().to_owned())
            });
            if let Some(addr) = found {
                return addr;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no `{what}` line in {:?}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Whether a line the server logged contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    /// One API request on a connection of its own.
    pub async fn api(&self, token: &str, method: &str, path: &str, body: &str) -> super::Resp {
        let mut stream = tokio::net::TcpStream::connect(&self.api).await.unwrap();
        super::exchange(&mut stream, &super::api_request(token, method, path, body))
            .await
            .expect("an API response")
    }

    /// `PATCH` of the device `serial` with the JSON `body`, answered 200.
    pub async fn patch_device(&self, token: &str, serial: &str, body: &str) -> super::Resp {
        let path = format!("/api/v1/inventory_device_serial/{serial}/");
        let r = self.api(token, "PATCH", &path, body).await;
        assert_eq!(r.status, 200, "PATCH {serial}: {}", r.text());
        r
    }

    /// A whole session of the device `serial` with nothing queued for it: its Inform (200),
    /// then the empty POST that ends the session (204).
    pub async fn inform_session(&self, serial: &str) {
        let mut cpe = tokio::net::TcpStream::connect(&self.cwmp).await.unwrap();
        let r = super::exchange(&mut cpe, &super::post(&super::inform(serial), "")).await;
        assert_eq!(r.expect("an InformResponse").status, 200, "{serial}");
        let r = super::exchange(&mut cpe, &super::post(b"", "")).await;
        assert_eq!(r.expect("the end of the session").status, 204, "{serial}");
    }

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

/// `acs` with the database and data directory `dir`, text logs without colour, and none of the
/// settings' variables inherited from the test's caller.
pub fn command(dir: &Path) -> Command {
    acs_in(dir, Command::new(env!("CARGO_BIN_EXE_acs")))
}

/// `command` with the settings of `dir`, whatever program `command` runs acs through.
fn acs_in(dir: &Path, mut command: Command) -> Command {
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("ACS_") {
            command.env_remove(var);
        }
    }
    command
        .env(
            "ACS_DATABASE_URL",
            format!("sqlite://{}/acs.db", dir.display()),
        )
        .env("ACS_DATA_DIR", dir)
        .env("ACS_LOG_FORMAT", "text")
        .env("NO_COLOR", "1");
    command
}

/// `acs serve` with `extra` flags and `env` variables.
pub fn start(extra: &[&str], env: &[(&str, &str)]) -> Server {
    start_under(&[], extra, env)
}

/// `acs serve` run by `wrapper` (e.g. `prlimit --nofile=...`) when it is not empty.
pub fn start_under(wrapper: &[&str], extra: &[&str], env: &[(&str, &str)]) -> Server {
    let dir = temp_dir("acs-serve");
    let exe = env!("CARGO_BIN_EXE_acs");
    let mut command = acs_in(
        &dir,
        match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(exe);
                c
            }
            None => Command::new(exe),
        },
    );
    command
        .arg("serve")
        .args([
            "--cwmp-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .envs(env.iter().copied())
        .stderr(Stdio::piped());
    spawn(dir, command)
}

/// `command` (an `acs serve` with stderr piped) started, with `dir` its scratch directory
/// (removed with the server), once it has named its plain listeners.
pub fn spawn(dir: PathBuf, mut command: Command) -> Server {
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
pub fn admin_token(dir: &Path) -> String {
    let out = command(dir)
        .args(["token", "create", "--name", "edge", "--admin"])
        .output()
        .expect("acs token create runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
