//! Settings of `acs`: flags, `ACS_*` environment variables and an optional TOML file
//! (`--config`), in that order of precedence, then the zero-config defaults.
//!
//! Each `serve` setting is declared once, in the `settings!` table below: its flag, variable,
//! file key (the field name), type, help text and default. The table generates the struct clap
//! and serde both fill (every field optional, so a source can leave a setting to the next one),
//! the merge and the `[default: ...]` of `--help`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use acs_session::auth::{AuthMode, DigestAlgorithm};
use acs_session::connection_request::Cidr;
use acs_store::{ParameterLimits, StatusPolicy};
use anyhow::{Context, bail};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Deserializer};

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

#[derive(Debug, Args, Clone, Default, Deserialize)]
pub struct DbArgs {
    /// `sqlite://PATH` or `postgres://...` [default: sqlite://<data-dir>/acs.db]
    #[arg(long, env = "ACS_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Directory of the database (unless --database-url), the secret key file and firmware
    /// images
    #[arg(long, env = "ACS_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// TOML file with any of these settings (keys as the long flags, `_` for `-`).
    #[arg(long, env = "ACS_CONFIG", global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
}

/// The data directory when none is given: the working directory.
const DEFAULT_DATA_DIR: &str = ".";

/// How the log is written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    // (plain comments: a documented value would turn `--help` into the long layout)
    // human-readable lines
    Text,
    // one JSON object per line, for a collector
    Json,
}

/// Declares the `serve` settings, each once:
/// `/// help` `[#[arg(...)]]` `name (ACS_VARIABLE): Type [= default [, at least min]];`
/// (the flag is `--name` with `-` for `_`, the file key `name`)
///
/// Generates `ServeArgs` (clap `Args` and serde `Deserialize`, every field an `Option`: the
/// flags with their variables, or the file), `Values` (each setting after merging: the type
/// itself where there is a default, else an `Option`), `ServeArgs::over` (the merge) and
/// `ServeArgs::defaults` (for `--help`).
macro_rules! settings {
    (@type $ty:ty) => { Option<$ty> };
    (@type $ty:ty, $default:expr $(, $min:expr)?) => { $ty };
    (@value $v:expr) => { $v };
    (@value $v:expr, $default:expr) => { $v.unwrap_or_else(|| $default) };
    (@value $v:expr, $default:expr, $min:expr) => { $v.unwrap_or_else(|| $default).max($min) };
    ($(
        $(#[$meta:meta])*
        $name:ident ($env:ident): $ty:ty $(= $default:expr $(, at least $min:expr)?)?;
    )*) => {
        /// `serve`'s settings as one source gives them: the flags (and their `ACS_*`
        /// variables), or the `--config` file, whose keys are the field names.
        #[derive(Debug, Args, Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct ServeArgs {
            #[command(flatten)]
            #[serde(flatten)]
            pub db: DbArgs,
            $(
                $(#[$meta])*
                #[arg(long, env = stringify!($env))]
                pub $name: Option<$ty>,
            )*
        }

        /// Each `serve` setting from the first source that gives it, else its default.
        #[derive(Debug, Clone)]
        pub struct Values {
            $( pub $name: settings!(@type $ty $(, $default $(, $min)?)?), )*
        }

        impl ServeArgs {
            /// These settings where given, else `lower`'s, else the defaults (raised to their
            /// least value where they have one).
            fn over(self, lower: ServeArgs) -> Values {
                Values {
                    $( $name: settings!(@value self.$name.or(lower.$name) $(, $default $(, $min)?)?), )*
                }
            }

            /// The argument id and default of each setting that has one.
            fn defaults() -> Vec<(&'static str, String)> {
                vec![$($(
                    (stringify!($name), ShowDefault::show(&{ let d: $ty = $default; d })),
                )?)*]
            }
        }
    };
}

settings! {
    /// CPE listener address
    cwmp_listen (ACS_CWMP_LISTEN): SocketAddr = SocketAddr::from(([0, 0, 0, 0], 7547));
    /// API listener address
    api_listen (ACS_API_LISTEN): SocketAddr = SocketAddr::from(([127, 0, 0, 1], 7557));
    /// How CPEs reach this server, e.g. `http://acs.example.net:7547` (Download URLs);
    /// default: the Host the CPE used.
    public_cwmp_url (ACS_PUBLIC_CWMP_URL): String;
    /// CPE authentication: none, basic or digest
    // `AuthMode`'s own parser (case-insensitive) for the flag and the file alike
    #[arg(value_parser = AuthMode::from_str)]
    #[serde(default, deserialize_with = "parsed")]
    cwmp_auth (ACS_CWMP_AUTH): AuthMode = AuthMode::None;
    /// Shared CPE username (with --cwmp-password), tried after per-device credentials; any
    /// holder of the shared pair can pose as any device.
    cwmp_username (ACS_CWMP_USERNAME): String;
    #[arg(hide_env_values = true)]
    cwmp_password (ACS_CWMP_PASSWORD): String;
    /// Hex key signing digest nonces; give every node the same one [default: random per process]
    #[arg(hide_env_values = true)]
    cwmp_nonce_key (ACS_CWMP_NONCE_KEY): String;
    /// Digest challenges offered to CPEs, one WWW-Authenticate each, in this order
    /// (comma-separated: md5, sha-256). Many CPEs read only the first and know only MD5
    #[arg(value_delimiter = ',')]
    cwmp_digest_algorithms (ACS_CWMP_DIGEST_ALGORITHMS): Vec<String> = vec!["md5".to_owned()];
    /// Create devices on their first Inform
    auto_register (ACS_AUTO_REGISTER): bool = true;
    /// Idle seconds after which a CWMP session is dropped
    session_timeout (ACS_SESSION_TIMEOUT): u64 = 30, at least 1;
    /// Most CWMP sessions open at once on this node; more get 503
    max_sessions (ACS_MAX_SESSIONS): usize = 10_000, at least 1;
    /// Largest CPE message body in bytes
    max_body (ACS_MAX_BODY): usize = 1 << 20;
    /// Authenticated CPE requests handled at once per CPE listener; more wait (bodies unread)
    /// up to --header-timeout, then get 503
    cwmp_requests_at_once (ACS_CWMP_REQUESTS_AT_ONCE): usize = crate::cpe::REQUESTS_AT_ONCE, at least 1;
    /// Seconds to receive a request head, on both listeners (also: a TLS handshake, a CPE
    /// request's wait at the gate, an idle API connection)
    header_timeout (ACS_HEADER_TIMEOUT): u64 = 10, at least 1;
    /// Seconds to receive a request body, on both listeners (API: per MiB begun)
    read_timeout (ACS_READ_TIMEOUT): u64 = 30, at least 1;
    /// Log format
    log_format (ACS_LOG_FORMAT): LogFormat = LogFormat::Text;
    /// HTTPS CPE listener address, beside the HTTP one [default: none]
    cwmp_tls_listen (ACS_CWMP_TLS_LISTEN): SocketAddr;
    /// PEM certificate chain of the HTTPS CPE listener
    cwmp_tls_cert (ACS_CWMP_TLS_CERT): PathBuf;
    /// PEM private key of the HTTPS CPE listener
    cwmp_tls_key (ACS_CWMP_TLS_KEY): PathBuf;
    /// PEM CA bundle: when set, CPEs must present a client certificate issued by it
    cwmp_tls_client_ca (ACS_CWMP_TLS_CLIENT_CA): PathBuf;
    /// HTTPS API listener address, beside the HTTP one [default: none]
    api_tls_listen (ACS_API_TLS_LISTEN): SocketAddr;
    /// PEM certificate chain of the HTTPS API listener
    api_tls_cert (ACS_API_TLS_CERT): PathBuf;
    /// PEM private key of the HTTPS API listener
    api_tls_key (ACS_API_TLS_KEY): PathBuf;
    /// A device is Down once silent for factor x its inform interval + grace seconds
    status_grace_factor (ACS_STATUS_GRACE_FACTOR): u32 = 2;
    /// Seconds added to factor x interval before a silent device is Down
    status_grace_seconds (ACS_STATUS_GRACE_SECONDS): u32 = 60;
    /// Inform interval assumed for devices whose interval is unknown, in seconds
    status_default_interval (ACS_STATUS_DEFAULT_INTERVAL): u32 = 300;
    /// Seconds between two Up/Down sweeps
    status_sweep_interval (ACS_STATUS_SWEEP_INTERVAL): u64 = 30, at least 1;
    /// With CPE authentication on: seconds a signed firmware URL stays valid after the
    /// transfer may start (after DelaySeconds or the last ScheduleDownload window)
    file_url_ttl (ACS_FILE_URL_TTL): u64 = 86_400, at least 1;
    /// Most bytes all firmware images may take together; an upload beyond is 507
    max_firmware_storage (ACS_MAX_FIRMWARE_STORAGE): u64 = 8 << 30;
    /// Most parameters stored per device; new paths beyond are not stored
    max_parameters_per_device (ACS_MAX_PARAMETERS_PER_DEVICE): usize = ParameterLimits::default().max_per_device;
    /// Longest parameter value stored, in bytes; longer ones are not stored
    max_parameter_value (ACS_MAX_PARAMETER_VALUE): usize = ParameterLimits::default().max_value_bytes;
    /// Days an Inform event is kept
    event_max_age_days (ACS_EVENT_MAX_AGE_DAYS): u32 = 30, at least 1;
    /// Most Inform events kept per device, the newest
    events_per_device (ACS_EVENTS_PER_DEVICE): u32 = 100, at least 1;
    /// Messages of debug sessions kept per device
    debug_trace_messages (ACS_DEBUG_TRACE_MESSAGES): u32 = 500, at least 1;
    /// Longest message kept in a debug trace, in bytes; longer ones are cut
    debug_trace_message_bytes (ACS_DEBUG_TRACE_MESSAGE_BYTES): usize = 128 * 1024, at least 1024;
    /// Seconds a debug trace is kept (7 days)
    debug_trace_max_age (ACS_DEBUG_TRACE_MAX_AGE): u64 = 7 * 24 * 3600, at least 1;
    /// Generate connection-request credentials for devices without any, and send the pair on
    /// record again when a device bootstraps
    #[arg(num_args = 0..=1, default_missing_value = "true")]
    cr_provision (ACS_CR_PROVISION): bool = true;
    /// Connection requests only to these address ranges (comma-separated CIDRs); a range
    /// inside a refused special range (loopback, link-local, ...) allows it [default: any]
    #[arg(value_delimiter = ',')]
    cr_allow (ACS_CR_ALLOW): Vec<String>;
    /// Never send connection requests to these address ranges (comma-separated CIDRs; wins
    /// over everything) [default: none]
    #[arg(value_delimiter = ',')]
    cr_deny (ACS_CR_DENY): Vec<String>;
    /// Answer a CPE's Basic challenge in connection requests (the password crosses the
    /// network in the clear)
    #[arg(num_args = 0..=1, default_missing_value = "true")]
    cr_allow_basic (ACS_CR_ALLOW_BASIC): bool = false;
    /// Seconds a PUT/PATCH that queued tasks waits for its connection request's outcome
    /// (`connection_request` in the answer); 0 answers at once with `pending`
    cr_answer_wait (ACS_CR_ANSWER_WAIT): u64 = 3;
}

/// A file value read through the type's own parser (`FromStr`), as its flag is.
fn parsed<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let text = String::deserialize(d)?;
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

/// How a default reads in `--help`.
trait ShowDefault {
    fn show(&self) -> String;
}

macro_rules! show_with_display {
    ($($ty:ty),*) => {$(
        impl ShowDefault for $ty {
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
show_with_display!(SocketAddr, AuthMode, bool, u32, u64, usize);

impl ShowDefault for LogFormat {
    fn show(&self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }
}

impl ShowDefault for Vec<String> {
    fn show(&self) -> String {
        self.join(",")
    }
}

/// The command line, with each setting's default written into its help from the one place
/// that declares it (not as clap's `default_value`, which would hide the file's value).
pub fn parse_command_line() -> Cli {
    let defaults = ServeArgs::defaults();
    let mut cli = Cli::command();
    for name in ["serve", "migrate", "token"] {
        cli = cli.mut_subcommand(name, |mut command| {
            let data_dir = [("data_dir", DEFAULT_DATA_DIR.to_owned())];
            let serve_defaults = if name == "serve" { &defaults[..] } else { &[] };
            for (id, default) in data_dir.iter().chain(serve_defaults) {
                command = command.mut_arg(*id, |arg| {
                    let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                    arg.help(format!("{help} [default: {default}]"))
                });
            }
            command
        });
    }
    Cli::from_arg_matches(&cli.get_matches()).unwrap_or_else(|e| e.exit())
}

/// The `--config` file, read once; no file: no settings.
fn read_file(path: Option<&Path>) -> anyhow::Result<ServeArgs> {
    let Some(path) = path else {
        return Ok(ServeArgs::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}

/// Settings after merging, with the groups the server hands on built and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub data_dir: PathBuf,
    /// Every `serve` setting, as given or by default.
    pub values: Values,
    /// The digest challenges, in order (`--cwmp-digest-algorithms`).
    pub cwmp_digest_algorithms: Vec<DigestAlgorithm>,
    /// The HTTPS CPE listener, when configured.
    pub cwmp_tls: Option<(SocketAddr, TlsFiles)>,
    /// The HTTPS API listener, when configured.
    pub api_tls: Option<(SocketAddr, TlsFiles)>,
    /// When a silent device turns Down (DESIGN §5).
    pub status_policy: StatusPolicy,
    /// What a CPE can make the store keep (`acs_store::ParameterLimits`).
    pub parameter_limits: ParameterLimits,
    /// What is kept of debug sessions.
    pub debug_traces: TraceLimits,
    /// Connection requests only to / never to these ranges.
    pub cr_allow: Vec<Cidr>,
    pub cr_deny: Vec<Cidr>,
}

/// The database URL and the data directory, found the same way by every subcommand: flag,
/// environment, config file, else the data directory `.` and the database `acs.db` in the
/// data directory, so `--data-dir` alone moves both.
pub fn db_settings(db: &DbArgs) -> anyhow::Result<(String, PathBuf)> {
    locate_database(db, read_file(db.config.as_deref())?.db)
}

fn locate_database(given: &DbArgs, file: DbArgs) -> anyhow::Result<(String, PathBuf)> {
    let data_dir = given
        .data_dir
        .clone()
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let url = match given.database_url.clone().or(file.database_url) {
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
    /// The flags (with their variables) over the `--config` file over the defaults.
    pub fn merge(given: ServeArgs) -> anyhow::Result<Settings> {
        let file = read_file(given.db.config.as_deref())?;
        let (database_url, data_dir) = locate_database(&given.db, file.db.clone())?;
        let v = given.over(file);
        Ok(Settings {
            database_url,
            data_dir,
            cwmp_digest_algorithms: DigestAlgorithm::offer_list(&v.cwmp_digest_algorithms)
                .map_err(|e| anyhow::anyhow!("--cwmp-digest-algorithms: {e}"))?,
            cwmp_tls: tls_listener(
                "cwmp",
                v.cwmp_tls_listen,
                v.cwmp_tls_cert.clone(),
                v.cwmp_tls_key.clone(),
                v.cwmp_tls_client_ca.clone(),
            )?,
            api_tls: tls_listener(
                "api",
                v.api_tls_listen,
                v.api_tls_cert.clone(),
                v.api_tls_key.clone(),
                None,
            )?,
            status_policy: StatusPolicy {
                factor: i64::from(v.status_grace_factor),
                slack_secs: i64::from(v.status_grace_seconds),
                default_interval_secs: i64::from(v.status_default_interval),
            },
            parameter_limits: ParameterLimits {
                max_per_device: v.max_parameters_per_device,
                max_value_bytes: v.max_parameter_value,
            },
            debug_traces: TraceLimits {
                per_device: i64::from(v.debug_trace_messages),
                message_bytes: v.debug_trace_message_bytes,
                max_age: std::time::Duration::from_secs(v.debug_trace_max_age),
            },
            cr_allow: cidrs("--cr-allow", v.cr_allow.as_deref())?,
            cr_deny: cidrs("--cr-deny", v.cr_deny.as_deref())?,
            values: v,
        })
    }
}

/// Address ranges of `flag`; an entry that is not one fails the start, naming it. Empty
/// entries (a trailing comma) are ignored.
fn cidrs(flag: &str, list: Option<&[String]>) -> anyhow::Result<Vec<Cidr>> {
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
