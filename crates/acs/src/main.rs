//! The `acs` command line: `serve`, `migrate`, `token create|list|revoke`.

mod api;
mod api_listener;
mod auth_failures;
mod config;
mod cpe;
mod files;
mod http1;
mod listen;
mod serve;
mod tls;
mod trace;

use std::process::ExitCode;

use acs_store::{SecretKey, Store, StoreError, TokenScope};
use anyhow::{Context, bail};
use chrono::Utc;

use config::{Cli, Command, DbArgs, TokenCommand, db_settings};

fn main() -> ExitCode {
    let cli = config::parse_command_line();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("acs: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("acs: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::serve(config::Settings::merge(args)?).await,
        Command::Migrate(db) => {
            let store = open_store(&db).await?;
            store.migrate().await.context("migrating")?;
            println!("schema at version {}", store.schema_version());
            Ok(())
        }
        Command::Token { command, db } => {
            let store = open_existing_store(&db).await?;
            store.migrate().await.context("migrating")?;
            let result = token(&store, command).await;
            store.close().await;
            result
        }
    }
}

pub(crate) async fn connect(
    database_url: &str,
    data_dir: &std::path::Path,
) -> anyhow::Result<Store> {
    // 0700 when created here: it holds the secret key, the database and firmware images
    let mut dir = std::fs::DirBuilder::new();
    dir.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
    dir.create(data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let env_key = std::env::var("ACS_SECRET_KEY").ok();
    let key = SecretKey::from_config(env_key.as_deref(), data_dir).context("secret key")?;
    Store::connect(database_url, key)
        .await
        .with_context(|| format!("connecting to {}", redact_url(database_url)))
}

async fn open_store(db: &DbArgs) -> anyhow::Result<Store> {
    let (url, data_dir) = db_settings(db)?;
    connect(&url, &data_dir).await
}

/// The token commands' store: the database `serve` uses with the same settings, which must
/// exist. Creating one here would mint tokens into a database no server reads.
async fn open_existing_store(db: &DbArgs) -> anyhow::Result<Store> {
    let (url, data_dir) = db_settings(db)?;
    // Tokens are stored as hashes: these commands never seal or open a device password, so
    // they need no secret key, and must not create a key file where no server keeps one.
    match Store::connect_existing(&url, SecretKey::generate()).await {
        Ok(store) => Ok(store),
        Err(StoreError::NoDatabase { looked }) => {
            let dir = std::path::absolute(&data_dir).unwrap_or(data_dir);
            bail!(
                "no acs database at {looked} (data directory {}; the database is acs.db there \
                 unless --database-url names another): give the server's --data-dir (or its \
                 --database-url or --config), or run `acs serve` or `acs migrate` there first",
                dir.display()
            )
        }
        Err(e) => Err(e).with_context(|| format!("connecting to {}", redact_url(&url))),
    }
}

/// The URL without a password, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..s + 3], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

async fn token(store: &Store, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            name,
            organization,
            admin,
        } => {
            let scope = match (admin, organization.is_empty()) {
                (true, true) => TokenScope::Admin,
                // --organization repeated: one token for all of them
                (false, false) => TokenScope::Organizations(organization),
                (true, false) => bail!("--admin and --organization exclude each other"),
                (false, true) => {
                    bail!("say what the token may reach: --admin or --organization ID")
                }
            };
            let (_, secret) = store
                .create_token(&name, scope, Utc::now())
                .await
                .context("creating the token")?;
            println!("{}", secret.expose());
        }
        TokenCommand::List => {
            for t in store.list_tokens().await.context("listing tokens")? {
                let scope = match t.scope {
                    TokenScope::Admin => "admin".to_owned(),
                    TokenScope::Organizations(orgs) => format!(
                        "organization {}",
                        orgs.iter()
                            .map(|o| o.to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                };
                let used = t
                    .last_used
                    .map_or_else(|| "never".to_owned(), |u| u.to_rfc3339());
                println!(
                    "{}\t{}\t{}\tcreated {}\tlast used {}",
                    t.id,
                    t.name,
                    scope,
                    t.created.to_rfc3339(),
                    used
                );
            }
        }
        TokenCommand::Revoke { id } => {
            store
                .revoke_token(id)
                .await
                .with_context(|| format!("revoking token {id}"))?;
            println!("revoked token {id}");
        }
    }
    Ok(())
}
