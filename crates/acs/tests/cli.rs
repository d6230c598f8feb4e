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
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("ACS_") {
            c.env_remove(var);
        }
    }
    c.env_remove("NO_COLOR");
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
    let child = acs(cwd)
        .arg("serve")
        .args(args)
        .env("ACS_CWMP_LISTEN", "127.0.0.1:0")
        .env("ACS_API_LISTEN", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .expect("acs starts");
    wait_for_api(child)
}

/// A started `acs serve` (stderr piped), once it has named its API listener.
fn wait_for_api(mut child: Child) -> Served {
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

/// What `acs serve` with exactly `args` and `env` logged until it named its API listener.
fn serve_log(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let child = acs(cwd)
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let s = wait_for_api(child);
    let log = s.stderr.lock().unwrap().clone();
    String::from_utf8_lossy(&log).into_owned()
}

/// A scratch directory holding `acs.toml` with `toml` in it, and the file's path.
fn config_file(toml: &str) -> (std::path::PathBuf, String) {
    let cwd = temp_dir("acs-cli");
    let path = cwd.join("acs.toml");
    std::fs::write(&path, toml).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (cwd, path)
}

/// A setting comes from the flag, else its `ACS_*` variable, else the `--config` file, else
/// its default: an address, a closed set, a number and a list, each seen in what the server
/// does.
#[tokio::test]
async fn each_setting_comes_from_the_flag_then_the_environment_then_the_file_then_the_default() {
    let (cwd, file) = config_file(
        "cwmp_listen = \"127.0.0.3:0\"\napi_listen = \"127.0.0.1:0\"\nlog_format = \"json\"\n\
         cwmp_auth = \"digest\"\ncwmp_digest_algorithms = [\"sha-256\"]\nmax_body = 100\n",
    );
    let cpe_line = |log: &str| -> String {
        let line = log
            .lines()
            .find(|l| l.contains("CPE listener (CWMP) on http://"))
            .unwrap_or_else(|| panic!("no CPE listener line in {log}"));
        line.rsplit("http://").next().unwrap().to_owned()
    };
    // the file alone: every value of it
    let log = serve_log(&cwd, &["--config", &file], &[]);
    assert!(cpe_line(&log).starts_with("127.0.0.3:"), "{log}");
    assert!(
        log.lines().all(|l| l.starts_with('{')),
        "log_format json from the file: {log}"
    );
    assert!(log.contains("per-process key"), "cwmp_auth digest: {log}");
    assert!(log.contains("not MD5"), "sha-256 first: {log}");
    // the environment over the file
    let log = serve_log(
        &cwd,
        &["--config", &file],
        &[
            ("ACS_CWMP_LISTEN", "127.0.0.2:0"),
            ("ACS_LOG_FORMAT", "text"),
            ("ACS_CWMP_DIGEST_ALGORITHMS", "md5,sha-256"),
        ],
    );
    assert!(cpe_line(&log).starts_with("127.0.0.2:"), "{log}");
    assert!(
        !log.contains('{'),
        "log_format text from the environment: {log}"
    );
    assert!(log.contains("per-process key"), "{log}");
    assert!(
        !log.contains("not MD5"),
        "md5 first from the environment: {log}"
    );
    // the flag over the environment and the file
    let log = serve_log(
        &cwd,
        &["--config", &file, "--cwmp-listen", "127.0.0.4:0"],
        &[
            ("ACS_CWMP_LISTEN", "127.0.0.2:0"),
            ("ACS_CWMP_AUTH", "basic"),
            ("ACS_CWMP_DIGEST_ALGORITHMS", "md5"),
        ],
    );
    assert!(cpe_line(&log).starts_with("127.0.0.4:"), "{log}");
    assert!(
        log.contains("basic without TLS"),
        "cwmp_auth basic from the environment: {log}"
    );
    let log = serve_log(
        &cwd,
        &[
            "--config",
            &file,
            "--log-format",
            "text",
            "--cwmp-auth",
            "none",
        ],
        &[("ACS_LOG_FORMAT", "json"), ("ACS_CWMP_AUTH", "basic")],
    );
    assert!(!log.contains('{'), "{log}");
    assert!(log.contains("CPE authentication is off"), "{log}");
    // nothing given: the defaults (text, no authentication, MD5 alone)
    let log = serve_log(
        &cwd,
        &[],
        &[
            ("ACS_CWMP_LISTEN", "127.0.0.1:0"),
            ("ACS_API_LISTEN", "127.0.0.1:0"),
        ],
    );
    assert!(!log.contains('{'), "{log}");
    assert!(log.contains("CPE authentication is off"), "{log}");

    // a number: the file's max_body refuses 200 bytes, the flag's allows them, the default too
    for (args, refused) in [
        (&["--config", &file][..], true),
        (&["--config", &file, "--max-body", "1000"][..], false),
        (&[][..], false),
    ] {
        let s = serve(&cwd, args, &[("ACS_CWMP_AUTH", "none")]);
        let log = String::from_utf8_lossy(&s.stderr.lock().unwrap()).into_owned();
        let cpe = cpe_line(&log);
        let cpe: String = cpe
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || ".:[]".contains(*c))
            .collect();
        let mut stream = TcpStream::connect(&cpe).await.unwrap();
        let head = format!(
            "POST / HTTP/1.1\r\nHost: acs.test\r\nContent-Type: text/xml\r\nContent-Length: 200\r\n\r\n{}",
            " ".repeat(200)
        );
        let status = support::exchange(&mut stream, head.as_bytes())
            .await
            .unwrap()
            .status;
        assert_eq!(status == 413, refused, "{args:?}: {status}");
    }
    let _ = std::fs::remove_dir_all(&cwd);
}

/// What a wrong setting does: the start fails before anything is bound, and the message names
/// the key, the value or the values allowed.
#[test]
fn a_wrong_setting_stops_the_start_and_names_what_is_wrong() {
    let fails = |args: &[&str], file: Option<&str>, named: &[&str]| {
        let (cwd, path) = config_file(file.unwrap_or(""));
        let mut cmd = acs(&cwd);
        cmd.args(args);
        if file.is_some() {
            cmd.args(["--config", &path]);
        }
        let out = cmd
            .env("ACS_CWMP_LISTEN", "127.0.0.1:0")
            .env("ACS_API_LISTEN", "127.0.0.1:0")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} {file:?} started: {stderr}");
        for name in named {
            assert!(
                stderr.contains(name),
                "{args:?} {file:?}: no {name} in {stderr}"
            );
        }
        assert!(!files_in(&cwd).contains(&"acs.db".to_owned()), "{args:?}");
        let _ = std::fs::remove_dir_all(&cwd);
    };
    // an unknown key in the file, for serve and for the commands that read only the database
    fails(
        &["serve"],
        Some("cwmp_lisen = \"127.0.0.1:0\"\n"),
        &["cwmp_lisen"],
    );
    fails(
        &["token", "list"],
        Some("max_sesions = 3\n"),
        &["max_sesions"],
    );
    fails(&["serve"], Some("config = \"other.toml\"\n"), &["config"]);
    // a value of the wrong type in the file
    fails(
        &["serve"],
        Some("max_sessions = \"many\"\n"),
        &["max_sessions"],
    );
    fails(&["serve"], Some("auto_register = 1\n"), &["auto_register"]);
    // a closed set names its values, from the flag, the environment or the file
    fails(
        &["serve", "--log-format", "xml"],
        None,
        &["xml", "text", "json"],
    );
    fails(
        &["serve"],
        Some("log_format = \"xml\"\n"),
        &["xml", "text", "json"],
    );
    fails(
        &["serve", "--cwmp-auth", "magic"],
        None,
        &["magic", "none", "basic", "digest"],
    );
    fails(
        &["serve"],
        Some("cwmp_auth = \"magic\"\n"),
        &["magic", "none", "basic", "digest"],
    );
    fails(
        &["serve", "--cwmp-digest-algorithms", "md5,sha-512"],
        None,
        &["sha-512"],
    );
    fails(
        &["serve", "--cr-allow", "10.0.0.0/33"],
        None,
        &["--cr-allow", "10.0.0.0/33"],
    );
    fails(
        &["serve"],
        Some("cr_deny = [\"nowhere\"]\n"),
        &["--cr-deny", "nowhere"],
    );
    fails(
        &["serve", "--cwmp-tls-listen", "127.0.0.1:0"],
        None,
        &["--cwmp-tls-cert"],
    );
}

/// `--help` says each setting's default beside it.
#[test]
fn serve_help_shows_the_defaults() {
    let cwd = temp_dir("acs-cli");
    let help = ok(&acs(&cwd).args(["serve", "--help"]).output().unwrap());
    // each flag's paragraph: from its `--name` line to the next flag
    let paragraph = |flag: &str| -> String {
        let start = help
            .find(&format!("      {flag} "))
            .unwrap_or_else(|| panic!("{flag} not in {help}"));
        let rest = &help[start + 6..];
        let end = rest.find("\n      --").unwrap_or(rest.len());
        rest[..end].to_owned()
    };
    for (flag, default) in [
        ("--data-dir", "."),
        ("--cwmp-listen", "0.0.0.0:7547"),
        ("--api-listen", "127.0.0.1:7557"),
        ("--cwmp-auth", "none"),
        ("--cwmp-digest-algorithms", "md5"),
        ("--auto-register", "true"),
        ("--session-timeout", "30"),
        ("--max-sessions", "10000"),
        ("--max-body", "1048576"),
        ("--cwmp-requests-at-once", "512"),
        ("--header-timeout", "10"),
        ("--read-timeout", "30"),
        ("--log-format", "text"),
        ("--status-grace-factor", "2"),
        ("--status-grace-seconds", "60"),
        ("--status-default-interval", "300"),
        ("--status-sweep-interval", "30"),
        ("--file-url-ttl", "86400"),
        ("--max-firmware-storage", "8589934592"),
        ("--max-parameters-per-device", "20000"),
        ("--max-parameter-value", "32768"),
        ("--event-max-age-days", "30"),
        ("--events-per-device", "100"),
        ("--debug-trace-messages", "500"),
        ("--debug-trace-message-bytes", "131072"),
        ("--cr-provision", "true"),
        ("--cr-allow-basic", "false"),
        ("--cr-answer-wait", "3"),
    ] {
        let text = paragraph(flag);
        assert!(
            text.contains(&format!("[default: {default}")),
            "{flag}: {text}"
        );
    }
    assert!(paragraph("--debug-trace-max-age").contains("604800"));
    let _ = std::fs::remove_dir_all(&cwd);
}
