//! The command line as an operator meets it: where `serve` and the token commands find the
//! database (run from different working directories), and what the log looks like when
//! stderr is not a terminal.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use tokio::net::TcpStream;

mod support;
use support::temp_dir;

/// `acs` with none of the settings' environment variables inherited from the test's caller.
fn acs(cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_acs"));
    c.current_dir(cwd);
    for var in [
        "ACS_DATABASE_URL",
        "ACS_DATA_DIR",
        "ACS_CONFIG",
        "ACS_SECRET_KEY",
        "ACS_LOG_FORMAT",
        "ACS_CWMP_LISTEN",
        "ACS_API_LISTEN",
        "NO_COLOR",
    ] {
        c.env_remove(var);
    }
    c
}

struct Served {
    child: Child,
    api: String,
    /// Everything the server wrote to stderr, as raw bytes.
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `acs serve` in `cwd` on ports chosen by the OS, with `args` and nothing else; stderr piped.
fn serve(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Served {
    let mut child = acs(cwd)
        .arg("serve")
        .args(args)
        .env("ACS_CWMP_LISTEN", "127.0.0.1:0")
        .env("ACS_API_LISTEN", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .expect("acs starts");
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let mut api = None;
    while api.is_none() {
        let mut line = Vec::new();
        let n = reader.read_until(b'\n', &mut line).unwrap();
        assert!(
            n > 0,
            "acs exited before naming its API listener: {}",
            String::from_utf8_lossy(&stderr.lock().unwrap())
        );
        stderr.lock().unwrap().extend_from_slice(&line);
        let text = String::from_utf8_lossy(&line).into_owned();
        if text.contains("API listener on http://") {
            let addr = text.rsplit("http://").next().unwrap();
            // the address ends at the first byte that cannot be part of one
            let addr: String = addr
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || ".:[]".contains(*c))
                .collect();
            api = Some(addr);
        }
    }
    let sink = stderr.clone();
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        while reader.read_until(b'\n', &mut rest).unwrap_or(0) > 0 {
            sink.lock().unwrap().extend_from_slice(&rest);
            rest.clear();
        }
    });
    Served {
        child,
        api: api.unwrap(),
        stderr,
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "acs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .trim()
        .to_owned()
}

async fn list_status(api: &str, token: &str) -> u16 {
    let mut stream = TcpStream::connect(api).await.unwrap();
    let request = format!(
        "GET /api/v1/inventory_device_serial/ HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    support::exchange(&mut stream, request.as_bytes())
        .await
        .unwrap()
        .status
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `--data-dir` holds the database: a token minted from another working directory with the
/// same `--data-dir` is one the running server accepts, and nothing lands in either cwd.
#[tokio::test]
async fn token_commands_and_serve_share_the_data_dir_from_any_directory() {
    let root = temp_dir("acs-cli");
    let (data, server_cwd, operator_cwd) = (root.join("data"), root.join("srv"), root.join("op"));
    for d in [&data, &server_cwd, &operator_cwd] {
        std::fs::create_dir_all(d).unwrap();
    }
    let data_arg = data.to_str().unwrap();
    let s = serve(&server_cwd, &["--data-dir", data_arg], &[]);
    assert!(
        files_in(&data).contains(&"acs.db".to_owned()),
        "{:?}",
        files_in(&data)
    );

    let token = ok(&acs(&operator_cwd)
        .args([
            "token",
            "create",
            "--name",
            "op",
            "--admin",
            "--data-dir",
            data_arg,
        ])
        .output()
        .unwrap());
    assert_eq!(
        list_status(&s.api, &token).await,
        200,
        "the server accepts the token"
    );
    // the same through the environment variable, as a unit file would set it
    let token = ok(&acs(&operator_cwd)
        .args(["token", "create", "--name", "env", "--admin"])
        .env("ACS_DATA_DIR", data_arg)
        .output()
        .unwrap());
    assert_eq!(list_status(&s.api, &token).await, 200);

    assert_eq!(files_in(&server_cwd), Vec::<String>::new());
    assert_eq!(files_in(&operator_cwd), Vec::<String>::new());
    drop(s);
    let _ = std::fs::remove_dir_all(&root);
}

/// A token command where there is no database refuses, names where it looked, and creates
/// nothing (no empty database, no key file).
#[test]
fn a_token_command_without_a_database_refuses_and_says_where_it_looked() {
    let root = temp_dir("acs-cli");
    for args in [
        vec!["token", "create", "--name", "x", "--admin"],
        vec!["token", "list"],
        vec!["token", "revoke", "1"],
    ] {
        let out = acs(&root).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(stderr.contains("acs.db"), "{args:?}: {stderr}");
        assert!(stderr.contains("--data-dir"), "{args:?}: {stderr}");
        assert_eq!(files_in(&root), Vec::<String>::new(), "{args:?}");
    }
    // an explicit URL to a missing file: the same refusal, naming the file
    let missing = root.join("elsewhere.db");
    let out = acs(&root)
        .args(["token", "list", "--database-url"])
        .arg(format!("sqlite://{}", missing.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("elsewhere.db"), "{stderr}");
    assert_eq!(files_in(&root), Vec::<String>::new());
    // `migrate` may create: afterwards the token commands work there
    ok(&acs(&root).arg("migrate").output().unwrap());
    assert!(files_in(&root).contains(&"acs.db".to_owned()));
    ok(&acs(&root)
        .args(["token", "create", "--name", "x", "--admin"])
        .output()
        .unwrap());
    let _ = std::fs::remove_dir_all(&root);
}

/// `acs serve` with no arguments keeps its database and key in the current directory (the
/// README's first command), and a token command run there finds them.
#[tokio::test]
async fn serve_without_arguments_uses_the_current_directory() {
    let cwd = temp_dir("acs-cli");
    let s = serve(&cwd, &[], &[]);
    let files = files_in(&cwd);
    assert!(files.contains(&"acs.db".to_owned()), "{files:?}");
    assert!(files.contains(&"secret.key".to_owned()), "{files:?}");
    let token = ok(&acs(&cwd)
        .args(["token", "create", "--name", "here", "--admin"])
        .output()
        .unwrap());
    assert_eq!(list_status(&s.api, &token).await, 200);
    drop(s);
    let _ = std::fs::remove_dir_all(&cwd);
}

/// Colour codes are for terminals: a log written to a pipe (a file, journald, a collector)
/// carries no ESC byte, and `NO_COLOR` is honoured too.
#[test]
fn the_log_has_no_colour_codes_when_stderr_is_not_a_terminal() {
    for env in [&[][..], &[("NO_COLOR", "1")][..]] {
        let cwd = temp_dir("acs-cli");
        let s = serve(&cwd, &[], env);
        let log = s.stderr.lock().unwrap().clone();
        assert!(
            log.contains(&b'I') && !log.contains(&0x1b),
            "an ESC byte in the log ({env:?}): {:?}",
            String::from_utf8_lossy(&log)
        );
        drop(s);
        let _ = std::fs::remove_dir_all(&cwd);
    }
}
