//! Settings of `acs`: flags, `ACS_*` environment variables and an optional TOML file
//! (`--config`), in that order of precedence, then the zero-config defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use acs_session::auth::DigestAlgorithm;
use acs_session::connection_request::Cidr;
use acs_store::{ParameterLimits, StatusPolicy};
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

use crate::tls::TlsFiles;
use crate::trace::TraceLimits;

#[derive(Debug, Parser)]
#[command(name = "acs", version, about = "TR-069/CWMP auto-configuration server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the ACS: CPE listener, API listener, background sweeps.
    Serve(ServeArgs),
    /// Apply the database migrations and exit.
    Migrate(DbArgs),
    /// Manage API tokens (safe while the server runs).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a token; prints the secret alone on stdout (shown once).
    Create {
        #[arg(long)]
        name: String,
        /// Organization the token is limited to; repeat it for a token reaching several.
        #[arg(long = "organization")]
        organization: Vec<i64>,
        /// Every organization and the catalog.
        #[arg(long)]
        admin: bool,
    },
    /// List tokens (never their secrets).
    List,
    /// Delete a token by id.
    Revoke { id: i64 },
}

#[derive(Debug, Args, Clone)]
pub struct DbArgs {
    /// `sqlite://PATH` or `postgres://...` [default: sqlite://<data-dir>/acs.db]
    #[arg(long, env = "ACS_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Directory of the database (unless --database-url), the secret key file and firmware
    /// images [default: .]
    #[arg(long, env = "ACS_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// TOML file with any of these settings (keys as the long flags, `_` for `-`).
    #[arg(long, env = "ACS_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// CPE listener address [default: 0.0.0.0:7547]
    #[arg(long, env = "ACS_CWMP_LISTEN")]
    pub cwmp_listen: Option<SocketAddr>,
    /// API listener address [default: 127.0.0.1:7557]
    #[arg(long, env = "ACS_API_LISTEN")]
    pub api_listen: Option<SocketAddr>,
    /// How CPEs reach this server, e.g. `http://acs.example.net:7547` (Download URLs);
    /// default: the Host the CPE used.
    #[arg(long, env = "ACS_PUBLIC_CWMP_URL")]
    pub public_cwmp_url: Option<String>,
    /// CPE authentication: none, basic or digest [default: none]
    #[arg(long, env = "ACS_CWMP_AUTH")]
    pub cwmp_auth: Option<String>,
    /// Shared CPE username (with --cwmp-password), tried after per-device credentials; any
    /// holder of the shared pair can pose as any device.
    #[arg(long, env = "ACS_CWMP_USERNAME")]
    pub cwmp_username: Option<String>,
    #[arg(long, env = "ACS_CWMP_PASSWORD", hide_env_values = true)]
    pub cwmp_password: Option<String>,
    /// Hex key signing digest nonces; give every node the same one [default: random per process]
    #[arg(long, env = "ACS_CWMP_NONCE_KEY", hide_env_values = true)]
    pub cwmp_nonce_key: Option<String>,
    /// Digest challenges offered to CPEs, one WWW-Authenticate each, in this order
    /// (comma-separated: md5, sha-256). Many CPEs read only the first and know only MD5
    /// [default: md5]
    #[arg(long, env = "ACS_CWMP_DIGEST_ALGORITHMS", value_delimiter = ',')]
    pub cwmp_digest_algorithms: Option<Vec<String>>,
    /// Create devices on their first Inform [default: true]
    #[arg(long, env = "ACS_AUTO_REGISTER")]
    pub auto_register: Option<bool>,
    /// Idle seconds after which a CWMP session is dropped [default: 30]
    #[arg(long, env = "ACS_SESSION_TIMEOUT")]
    pub session_timeout: Option<u64>,
    /// Most CWMP sessions open at once on this node; more get 503 [default: 10000]
    #[arg(long, env = "ACS_MAX_SESSIONS")]
    pub max_sessions: Option<usize>,
    /// Largest CPE message body in bytes [default: 1048576]
    #[arg(long, env = "ACS_MAX_BODY")]
    pub max_body: Option<usize>,
    /// Authenticated CPE requests handled at once per CPE listener; more wait (bodies unread)
    /// up to --header-timeout, then get 503 [default: 512]
    #[arg(long, env = "ACS_CWMP_REQUESTS_AT_ONCE")]
    pub cwmp_requests_at_once: Option<usize>,
    /// Seconds to receive a request head, on both listeners (also: a TLS handshake, a CPE
    /// request's wait at the gate, an idle API connection) [default: 10]
    #[arg(long, env = "ACS_HEADER_TIMEOUT")]
    pub header_timeout: Option<u64>,
    /// Seconds to receive a request body, on both listeners (API: per MiB begun) [default: 30]
    #[arg(long, env = "ACS_READ_TIMEOUT")]
    pub read_timeout: Option<u64>,
    /// Log format: text or json [default: text]
    #[arg(long, env = "ACS_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// HTTPS CPE listener address, beside the HTTP one [default: none]
    #[arg(long, env = "ACS_CWMP_TLS_LISTEN")]
    pub cwmp_tls_listen: Option<SocketAddr>,
    /// PEM certificate chain of the HTTPS CPE listener
    #[arg(long, env = "ACS_CWMP_TLS_CERT")]
    pub cwmp_tls_cert: Option<PathBuf>,
    /// PEM private key of the HTTPS CPE listener
    #[arg(long, env = "ACS_CWMP_TLS_KEY")]
    pub cwmp_tls_key: Option<PathBuf>,
    /// PEM CA bundle: when set, CPEs must present a client certificate issued by it
    #[arg(long, env = "ACS_CWMP_TLS_CLIENT_CA")]
    pub cwmp_tls_client_ca: Option<PathBuf>,
    /// HTTPS API listener address, beside the HTTP one [default: none]
    #[arg(long, env = "ACS_API_TLS_LISTEN")]
    pub api_tls_listen: Option<SocketAddr>,
    /// PEM certificate chain of the HTTPS API listener
    #[arg(long, env = "ACS_API_TLS_CERT")]
    pub api_tls_cert: Option<PathBuf>,
    /// PEM private key of the HTTPS API listener
    #[arg(long, env = "ACS_API_TLS_KEY")]
    pub api_tls_key: Option<PathBuf>,
    /// A device is Down once silent for factor x its inform interval + grace seconds [default: 2]
    #[arg(long, env = "ACS_STATUS_GRACE_FACTOR")]
    pub status_grace_factor: Option<u32>,
    /// Seconds added to factor x interval before a silent device is Down [default: 60]
    #[arg(long, env = "ACS_STATUS_GRACE_SECONDS")]
    pub status_grace_seconds: Option<u32>,
    /// Inform interval assumed for devices whose interval is unknown, in seconds [default: 300]
    #[arg(long, env = "ACS_STATUS_DEFAULT_INTERVAL")]
    pub status_default_interval: Option<u32>,
    /// Seconds between two Up/Down sweeps [default: 30]
    #[arg(long, env = "ACS_STATUS_SWEEP_INTERVAL")]
    pub status_sweep_interval: Option<u64>,
    /// With CPE authentication on: seconds a signed firmware URL stays valid after the
    /// transfer may start (after DelaySeconds or the last ScheduleDownload window) [default: 86400]
    #[arg(long, env = "ACS_FILE_URL_TTL")]
    pub file_url_ttl: Option<u64>,
    /// Most bytes all firmware images may take together; an upload beyond is 507 [default: 8589934592]
    #[arg(long, env = "ACS_MAX_FIRMWARE_STORAGE")]
    pub max_firmware_storage: Option<u64>,
    /// Most parameters stored per device; new paths beyond are not stored [default: 20000]
    #[arg(long, env = "ACS_MAX_PARAMETERS_PER_DEVICE")]
    pub max_parameters_per_device: Option<usize>,
    /// Longest parameter value stored, in bytes; longer ones are not stored [default: 32768]
    #[arg(long, env = "ACS_MAX_PARAMETER_VALUE")]
    pub max_parameter_value: Option<usize>,
    /// Days an Inform event is kept [default: 30]
    #[arg(long, env = "ACS_EVENT_MAX_AGE_DAYS")]
    pub event_max_age_days: Option<u32>,
    /// Most Inform events kept per device, the newest [default: 100]
    #[arg(long, env = "ACS_EVENTS_PER_DEVICE")]
    pub events_per_device: Option<u32>,
    /// Messages of debug sessions kept per device [default: 500]
    #[arg(long, env = "ACS_DEBUG_TRACE_MESSAGES")]
    pub debug_trace_messages: Option<u32>,
    /// Longest message kept in a debug trace, in bytes; longer ones are cut [default: 131072]
    #[arg(long, env = "ACS_DEBUG_TRACE_MESSAGE_BYTES")]
    pub debug_trace_message_bytes: Option<usize>,
    /// Seconds a debug trace is kept [default: 604800, 7 days]
    #[arg(long, env = "ACS_DEBUG_TRACE_MAX_AGE")]
    pub debug_trace_max_age: Option<u64>,
    /// Generate connection-request credentials for devices without any, and send the pair on
    /// record again when a device bootstraps [default: true]
    #[arg(long, env = "ACS_CR_PROVISION", num_args = 0..=1, default_missing_value = "true")]
    pub cr_provision: Option<bool>,
    /// Connection requests only to these address ranges (comma-separated CIDRs); a range
    /// inside a refused special range (loopback, link-local, ...) allows it [default: any]
    #[arg(long, env = "ACS_CR_ALLOW", value_delimiter = ',')]
    pub cr_allow: Option<Vec<String>>,
    /// Never send connection requests to these address ranges (comma-separated CIDRs; wins
    /// over everything) [default: none]
    #[arg(long, env = "ACS_CR_DENY", value_delimiter = ',')]
    pub cr_deny: Option<Vec<String>>,
    /// Answer a CPE's Basic challenge in connection requests (the password crosses the
    /// network in the clear) [default: false]
    #[arg(long, env = "ACS_CR_ALLOW_BASIC", num_args = 0..=1, default_missing_value = "true")]
    pub cr_allow_basic: Option<bool>,
    /// Seconds a PUT/PATCH that queued tasks waits for its connection request's outcome
    /// (`connection_request` in the answer); 0 answers at once with `pending` [default: 3]
    #[arg(long, env = "ACS_CR_ANSWER_WAIT")]
    pub cr_answer_wait: Option<u64>,
}

/// The same settings read from `--config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub cwmp_listen: Option<SocketAddr>,
    pub api_listen: Option<SocketAddr>,
    pub public_cwmp_url: Option<String>,
    pub cwmp_auth: Option<String>,
    pub cwmp_username: Option<String>,
    pub cwmp_password: Option<String>,
    pub cwmp_nonce_key: Option<String>,
    pub cwmp_digest_algorithms: Option<Vec<String>>,
    pub auto_register: Option<bool>,
    pub session_timeout: Option<u64>,
    pub max_sessions: Option<usize>,
    pub max_body: Option<usize>,
    pub cwmp_requests_at_once: Option<usize>,
    pub header_timeout: Option<u64>,
    pub read_timeout: Option<u64>,
    pub log_format: Option<String>,
    pub cwmp_tls_listen: Option<SocketAddr>,
    pub cwmp_tls_cert: Option<PathBuf>,
    pub cwmp_tls_key: Option<PathBuf>,
    pub cwmp_tls_client_ca: Option<PathBuf>,
    pub api_tls_listen: Option<SocketAddr>,
    pub api_tls_cert: Option<PathBuf>,
    pub api_tls_key: Option<PathBuf>,
    pub status_grace_factor: Option<u32>,
    pub status_grace_seconds: Option<u32>,
    pub status_default_interval: Option<u32>,
    pub status_sweep_interval: Option<u64>,
    pub file_url_ttl: Option<u64>,
    pub max_firmware_storage: Option<u64>,
    pub max_parameters_per_device: Option<usize>,
    pub max_parameter_value: Option<usize>,
    pub event_max_age_days: Option<u32>,
    pub events_per_device: Option<u32>,
    pub debug_trace_messages: Option<u32>,
    pub debug_trace_message_bytes: Option<usize>,
    pub debug_trace_max_age: Option<u64>,
    pub cr_provision: Option<bool>,
    pub cr_allow: Option<Vec<String>>,
    pub cr_deny: Option<Vec<String>>,
    pub cr_allow_basic: Option<bool>,
    pub cr_answer_wait: Option<u64>,
}

impl FileConfig {
    pub fn load(path: Option<&PathBuf>) -> anyhow::Result<FileConfig> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
    }
}

/// Settings after merging.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub data_dir: PathBuf,
    pub cwmp_listen: SocketAddr,
    pub api_listen: SocketAddr,
    pub public_cwmp_url: Option<String>,
    pub cwmp_auth: String,
    pub cwmp_username: Option<String>,
    pub cwmp_password: Option<String>,
    pub cwmp_nonce_key: Option<String>,
    /// The digest challenges, in order (`--cwmp-digest-algorithms`).
    pub cwmp_digest_algorithms: Vec<DigestAlgorithm>,
    pub auto_register: bool,
    pub session_timeout: u64,
    pub max_sessions: usize,
    pub max_body: usize,
    pub cwmp_requests_at_once: usize,
    pub header_timeout: u64,
    pub read_timeout: u64,
    pub log_format: String,
    /// The HTTPS CPE listener, when configured.
    pub cwmp_tls: Option<(SocketAddr, TlsFiles)>,
    /// The HTTPS API listener, when configured.
    pub api_tls: Option<(SocketAddr, TlsFiles)>,
    /// When a silent device turns Down (DESIGN §5).
    pub status_policy: StatusPolicy,
    pub status_sweep_interval: u64,
    /// Seconds a signed firmware URL outlives the transfer's own wait.
    pub file_url_ttl: u64,
    pub max_firmware_storage: u64,
    /// What a CPE can make the store keep (`acs_store::ParameterLimits`).
    pub parameter_limits: ParameterLimits,
    /// Inform events older than this many days, or beyond this many per device, are pruned
    /// by the status sweep.
    pub event_max_age_days: u32,
    pub events_per_device: u32,
    /// What is kept of debug sessions.
    pub debug_traces: TraceLimits,
    /// Connection requests (ACS -> CPE): provisioning, address policy, Basic.
    pub cr_provision: bool,
    pub cr_allow: Vec<Cidr>,
    pub cr_deny: Vec<Cidr>,
    pub cr_allow_basic: bool,
    pub cr_answer_wait: u64,
}

/// The database URL and the data directory, found the same way by every subcommand: flag,
/// environment, config file, else the data directory `.` and the database `acs.db` in the
/// data directory, so `--data-dir` alone moves both.
pub fn db_settings(db: &DbArgs) -> anyhow::Result<(String, PathBuf)> {
    let file = FileConfig::load(db.config.as_ref())?;
    let data_dir = db
        .data_dir
        .clone()
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("."));
    let url = match db.database_url.clone().or(file.database_url) {
        Some(url) => url,
        None => sqlite_url(&data_dir.join(DATABASE_FILE_NAME))?,
    };
    Ok((url, data_dir))
}

/// The database file in the data directory when no URL is given.
pub const DATABASE_FILE_NAME: &str = "acs.db";

/// `sqlite://PATH`, with the characters the URL parser would take for its own (`%`, `?`,
/// `#`) percent-encoded; it decodes them back.
fn sqlite_url(path: &std::path::Path) -> anyhow::Result<String> {
    let Some(text) = path.to_str() else {
        bail!(
            "the data directory {} is not valid UTF-8; give --database-url",
            path.display()
        );
    };
    let mut url = String::from("sqlite://");
    for c in text.chars() {
        match c {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            c => url.push(c),
        }
    }
    Ok(url)
}

impl Settings {
    pub fn merge(a: ServeArgs) -> anyhow::Result<Settings> {
        let f = FileConfig::load(a.db.config.as_ref())?;
        let (database_url, data_dir) = db_settings(&a.db)?;
        Ok(Settings {
            database_url,
            data_dir,
            cwmp_listen: a
                .cwmp_listen
                .or(f.cwmp_listen)
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 7547))),
            api_listen: a
                .api_listen
                .or(f.api_listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7557))),
            public_cwmp_url: a.public_cwmp_url.or(f.public_cwmp_url),
            cwmp_auth: a
                .cwmp_auth
                .or(f.cwmp_auth)
                .unwrap_or_else(|| "none".to_owned()),
            cwmp_username: a.cwmp_username.or(f.cwmp_username),
            cwmp_password: a.cwmp_password.or(f.cwmp_password),
            cwmp_nonce_key: a.cwmp_nonce_key.or(f.cwmp_nonce_key),
            cwmp_digest_algorithms: match a.cwmp_digest_algorithms.or(f.cwmp_digest_algorithms) {
                Some(names) => DigestAlgorithm::offer_list(&names)
                    .map_err(|e| anyhow::anyhow!("--cwmp-digest-algorithms: {e}"))?,
                None => vec![DigestAlgorithm::Md5],
            },
            auto_register: a.auto_register.or(f.auto_register).unwrap_or(true),
            session_timeout: a.session_timeout.or(f.session_timeout).unwrap_or(30).max(1),
            max_sessions: a.max_sessions.or(f.max_sessions).unwrap_or(10_000).max(1),
            max_body: a.max_body.or(f.max_body).unwrap_or(1 << 20),
            cwmp_requests_at_once: a
                .cwmp_requests_at_once
                .or(f.cwmp_requests_at_once)
                .unwrap_or(crate::cpe::REQUESTS_AT_ONCE)
                .max(1),
            header_timeout: a.header_timeout.or(f.header_timeout).unwrap_or(10).max(1),
            read_timeout: a.read_timeout.or(f.read_timeout).unwrap_or(30).max(1),
            log_format: a
                .log_format
                .or(f.log_format)
                .unwrap_or_else(|| "text".to_owned()),
            cwmp_tls: tls_listener(
                "cwmp",
                a.cwmp_tls_listen.or(f.cwmp_tls_listen),
                a.cwmp_tls_cert.or(f.cwmp_tls_cert),
                a.cwmp_tls_key.or(f.cwmp_tls_key),
                a.cwmp_tls_client_ca.or(f.cwmp_tls_client_ca),
            )?,
            api_tls: tls_listener(
                "api",
                a.api_tls_listen.or(f.api_tls_listen),
                a.api_tls_cert.or(f.api_tls_cert),
                a.api_tls_key.or(f.api_tls_key),
                None,
            )?,
            status_policy: StatusPolicy {
                factor: i64::from(a.status_grace_factor.or(f.status_grace_factor).unwrap_or(2)),
                slack_secs: i64::from(
                    a.status_grace_seconds
                        .or(f.status_grace_seconds)
                        .unwrap_or(60),
                ),
                default_interval_secs: i64::from(
                    a.status_default_interval
                        .or(f.status_default_interval)
                        .unwrap_or(300),
                ),
            },
            status_sweep_interval: a
                .status_sweep_interval
                .or(f.status_sweep_interval)
                .unwrap_or(30)
                .max(1),
            file_url_ttl: a.file_url_ttl.or(f.file_url_ttl).unwrap_or(86_400).max(1),
            max_firmware_storage: a
                .max_firmware_storage
                .or(f.max_firmware_storage)
                .unwrap_or(8 << 30),
            parameter_limits: ParameterLimits {
                max_per_device: a
                    .max_parameters_per_device
                    .or(f.max_parameters_per_device)
                    .unwrap_or(ParameterLimits::default().max_per_device),
                max_value_bytes: a
                    .max_parameter_value
                    .or(f.max_parameter_value)
                    .unwrap_or(ParameterLimits::default().max_value_bytes),
            },
            event_max_age_days: a
                .event_max_age_days
                .or(f.event_max_age_days)
                .unwrap_or(30)
                .max(1),
            events_per_device: a
                .events_per_device
                .or(f.events_per_device)
                .unwrap_or(100)
                .max(1),
            debug_traces: TraceLimits {
                per_device: i64::from(
                    a.debug_trace_messages
                        .or(f.debug_trace_messages)
                        .unwrap_or(500)
                        .max(1),
                ),
                message_bytes: a
                    .debug_trace_message_bytes
                    .or(f.debug_trace_message_bytes)
                    .unwrap_or(128 * 1024)
                    .max(1024),
                max_age: std::time::Duration::from_secs(
                    a.debug_trace_max_age
                        .or(f.debug_trace_max_age)
                        .unwrap_or(7 * 24 * 3600)
                        .max(1),
                ),
            },
            cr_provision: a.cr_provision.or(f.cr_provision).unwrap_or(true),
            cr_allow: cidrs("--cr-allow", a.cr_allow.or(f.cr_allow))?,
            cr_deny: cidrs("--cr-deny", a.cr_deny.or(f.cr_deny))?,
            cr_allow_basic: a.cr_allow_basic.or(f.cr_allow_basic).unwrap_or(false),
            cr_answer_wait: a.cr_answer_wait.or(f.cr_answer_wait).unwrap_or(3),
        })
    }
}

/// Address ranges of `flag`; an entry that is not one fails the start, naming it. Empty
/// entries (a trailing comma) are ignored.
fn cidrs(flag: &str, list: Option<Vec<String>>) -> anyhow::Result<Vec<Cidr>> {
    list.unwrap_or_default()
        .iter()
        .filter(|c| !c.trim().is_empty())
        .map(|c| {
            c.parse::<Cidr>()
                .map_err(|e| anyhow::anyhow!("{flag}: {e}"))
        })
        .collect()
}

/// A TLS listener needs its address, certificate and key together; a file given without the
/// listener (or the reverse) is a configuration mistake, not something to ignore.
fn tls_listener(
    name: &str,
    listen: Option<SocketAddr>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
) -> anyhow::Result<Option<(SocketAddr, TlsFiles)>> {
    match (listen, cert, key) {
        (None, None, None) if client_ca.is_none() => Ok(None),
        (Some(addr), Some(cert), Some(key)) => Ok(Some((
            addr,
            TlsFiles {
                cert,
                key,
                client_ca,
            },
        ))),
        (None, _, _) => {
            bail!("TLS files for the {name} listener given without --{name}-tls-listen")
        }
        (Some(_), None, _) => {
            bail!("--{name}-tls-listen needs --{name}-tls-cert (a PEM certificate chain)")
        }
        (Some(_), _, None) => {
            bail!("--{name}-tls-listen needs --{name}-tls-key (a PEM private key)")
        }
    }
}
