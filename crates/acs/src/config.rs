//! Settings of `acs`: flags, `ACS_*` environment variables and an optional TOML file
//! (`--config`), in that order of precedence, then the zero-config defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

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
    /// `sqlite://PATH` or `postgres://...` [default: sqlite://acs.db]
    #[arg(long, env = "ACS_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Directory of the secret key file and firmware images [default: .]
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
    /// Shared CPE username (with --cwmp-password), tried after per-device credentials.
    #[arg(long, env = "ACS_CWMP_USERNAME")]
    pub cwmp_username: Option<String>,
    #[arg(long, env = "ACS_CWMP_PASSWORD", hide_env_values = true)]
    pub cwmp_password: Option<String>,
    /// Hex key signing digest nonces; give every node the same one [default: random per process]
    #[arg(long, env = "ACS_CWMP_NONCE_KEY", hide_env_values = true)]
    pub cwmp_nonce_key: Option<String>,
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
    /// Seconds to receive request headers / a whole body [default: 10 / 30]
    #[arg(long, env = "ACS_HEADER_TIMEOUT")]
    pub header_timeout: Option<u64>,
    #[arg(long, env = "ACS_READ_TIMEOUT")]
    pub read_timeout: Option<u64>,
    /// Log format: text or json [default: text]
    #[arg(long, env = "ACS_LOG_FORMAT")]
    pub log_format: Option<String>,
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
    pub auto_register: Option<bool>,
    pub session_timeout: Option<u64>,
    pub max_sessions: Option<usize>,
    pub max_body: Option<usize>,
    pub header_timeout: Option<u64>,
    pub read_timeout: Option<u64>,
    pub log_format: Option<String>,
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
    pub auto_register: bool,
    pub session_timeout: u64,
    pub max_sessions: usize,
    pub max_body: usize,
    pub header_timeout: u64,
    pub read_timeout: u64,
    pub log_format: String,
}

pub fn db_settings(db: &DbArgs) -> anyhow::Result<(String, PathBuf)> {
    let file = FileConfig::load(db.config.as_ref())?;
    Ok((
        db.database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| "sqlite://acs.db".to_owned()),
        db.data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(".")),
    ))
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
            auto_register: a.auto_register.or(f.auto_register).unwrap_or(true),
            session_timeout: a.session_timeout.or(f.session_timeout).unwrap_or(30).max(1),
            max_sessions: a.max_sessions.or(f.max_sessions).unwrap_or(10_000).max(1),
            max_body: a.max_body.or(f.max_body).unwrap_or(1 << 20),
            header_timeout: a.header_timeout.or(f.header_timeout).unwrap_or(10).max(1),
            read_timeout: a.read_timeout.or(f.read_timeout).unwrap_or(30).max(1),
            log_format: a
                .log_format
                .or(f.log_format)
                .unwrap_or_else(|| "text".to_owned()),
        })
    }
}
