//! `acs serve`: wiring of the store, the engine, both listeners and the background sweeps.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use acs_session::auth::{AuthMode, CpeAuthConfig, CpeAuthenticator, DigestAlgorithm, NonceKey};
use acs_session::connection_request::{
    AddressPolicy, ConnectionRequestConfig, ConnectionRequester,
};
use acs_session::engine::{Engine, EngineConfig, Metrics, StoreBackend};
use acs_session::file_url::FileUrls;
use acs_session::{Credentials, Secret};
use acs_store::{InformWriter, WriterConfig};
use anyhow::{Context, bail};
use chrono::Utc;
use tokio::net::TcpListener;

use crate::api::{self, ApiState};
use crate::api_listener;
use crate::config::{LogFormat, Settings};
use crate::cpe::{self, CpeState};
use crate::tls;
use crate::trace::Tracer;

fn init_tracing(format: LogFormat) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ACS_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // colour codes only for a person at a terminal: a file, a pipe or journald gets plain
    // text, and NO_COLOR (https://no-color.org: set and not empty) turns them off everywhere
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ansi = std::io::stderr().is_terminal() && !no_color;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("logging: {e}"))
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) || s.len() < 32 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The listener `what` bound to `addr`, its address logged after `log` (`... on http`): the
/// tests and operators read the port chosen for `:0` there.
async fn bind(addr: std::net::SocketAddr, what: &str, log: &str) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {what} to {addr}"))?;
    tracing::info!("{log}://{}", listener.local_addr()?);
    Ok(listener)
}

pub async fn serve(s: Settings) -> anyhow::Result<()> {
    init_tracing(s.values.log_format)?;
    // every open CPE session is a socket: the default soft limit (often 1,024) is too low
    if let Some(limit) = crate::listen::open_files_limit()
        && limit < s.values.max_sessions as u64 + 256
    {
        tracing::warn!(
            "open files limit {limit} is below --max-sessions {} plus room for the store and \
             the API: CPE connections beyond it wait in the kernel's backlog; raise it \
             (ulimit -n, or LimitNOFILE= in a systemd unit)",
            s.values.max_sessions
        );
    }
    // TLS files are read before the store opens or a socket is bound: a bad path fails the start, naming it
    let cwmp_tls = match &s.cwmp_tls {
        Some((addr, files)) => Some((*addr, tls::acceptor(files)?)),
        None => None,
    };
    let api_tls = match &s.api_tls {
        Some((addr, files)) => Some((*addr, tls::acceptor(files)?)),
        None => None,
    };

    let mode = s.values.cwmp_auth;
    let store = crate::connect(&s.database_url, &s.data_dir).await?;
    store.migrate().await.context("migrating the database")?;
    store.set_parameter_limits(s.parameter_limits);
    tracing::info!(database = %crate::redact_url(&s.database_url), "store ready");

    let mut auth_config = CpeAuthConfig::new(mode);
    auth_config.digest_algorithms = s.cwmp_digest_algorithms.clone();
    if mode == AuthMode::Digest
        && auth_config.digest_algorithms.first() != Some(&DigestAlgorithm::Md5)
    {
        tracing::warn!(
            "the first digest challenge is not MD5 (--cwmp-digest-algorithms): CPEs that read \
             only the first challenge and know only MD5, as many deployed routers do, cannot \
             authenticate"
        );
    }
    match &s.values.cwmp_nonce_key {
        Some(k) => {
            let bytes =
                hex_decode(k).context("--cwmp-nonce-key must be at least 16 bytes of hex")?;
            auth_config.nonce_key = NonceKey::from_bytes(&bytes);
        }
        None if mode == AuthMode::Digest => tracing::info!(
            "digest nonces are signed with a per-process key; give every node the same --cwmp-nonce-key"
        ),
        None => {}
    }
    if let Some(w) = auth_config.startup_warning(false) {
        tracing::warn!("{w}");
    }
    let shared = match (&s.values.cwmp_username, &s.values.cwmp_password) {
        (Some(u), Some(p)) => Some(Credentials::new(u.clone(), Secret::new(p.clone()))),
        (None, None) => None,
        _ => bail!("--cwmp-username and --cwmp-password go together"),
    };

    let metrics = Arc::new(Metrics::default());
    let (writer, writer_task) =
        InformWriter::spawn(store.clone(), WriterConfig::for_dialect(store.dialect()));
    let session_timeout = Duration::from_secs(s.values.session_timeout);
    let node_id = format!("{}-{}", hostname(), std::process::id());
    // With CPE authentication on, firmware files go only to signed URLs or the device's
    // credentials; every node derives the same signing key from the shared secret key.
    let file_urls = (mode != AuthMode::None).then(|| {
        FileUrls::new(
            &store.derive_key("firmware-file-urls"),
            Duration::from_secs(s.values.file_url_ttl),
        )
    });
    let engine = Engine::new(
        StoreBackend::new(store.clone(), writer, Duration::from_secs(5)),
        EngineConfig {
            auto_register: s.values.auto_register,
            session_timeout,
            public_cwmp_url: s.values.public_cwmp_url.clone(),
            provision_cr_credentials: s.values.cr_provision,
            node_id,
            file_urls,
            ..EngineConfig::default()
        },
        metrics.clone(),
    );
    let (tracer, tracer_task) = Tracer::spawn(store.clone(), s.debug_traces);
    let state = Arc::new(CpeState::new(
        engine,
        store.clone(),
        CpeAuthenticator::new(auth_config),
        shared,
        s.values.max_sessions,
        s.values.max_body,
        Duration::from_secs(s.values.read_timeout),
        s.data_dir.clone(),
        tracer,
    ));

    let cwmp_listener = bind(
        s.values.cwmp_listen,
        "CPE listener",
        "CPE listener (CWMP) on http",
    )
    .await?;
    let api_tcp = bind(s.values.api_listen, "API listener", "API listener on http").await?;
    let cwmp_addr = cwmp_listener.local_addr()?;
    let cwmp_tls = match cwmp_tls {
        Some((addr, acceptor)) => Some((
            bind(
                addr,
                "HTTPS CPE listener",
                "CPE TLS listener (CWMP) on https",
            )
            .await?,
            acceptor,
        )),
        None => None,
    };
    let api_tls = match api_tls {
        Some((addr, acceptor)) => Some((
            bind(addr, "HTTPS API listener", "API TLS listener on https").await?,
            acceptor,
        )),
        None => None,
    };

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let header_timeout = Duration::from_secs(s.values.header_timeout);
    let cpe_tls_task = cwmp_tls.map(|(l, acceptor)| {
        tokio::spawn(cpe::serve(
            l,
            Some(acceptor),
            state.clone(),
            header_timeout,
            s.values.cwmp_requests_at_once,
            stop_rx.clone(),
        ))
    });
    let cpe_task = tokio::spawn(cpe::serve(
        cwmp_listener,
        None,
        state.clone(),
        header_timeout,
        s.values.cwmp_requests_at_once,
        stop_rx.clone(),
    ));
    // The REST API wakes CPEs after a PATCH and for `update_status=true` (DESIGN §3 step 5, §5).
    if s.values.cr_allow_basic {
        tracing::warn!(
            "--cr-allow-basic: connection requests answer Basic challenges, which send the \
             device's connection-request password in the clear over plain HTTP"
        );
    }
    if !s.values.cr_provision {
        tracing::info!(
            "--cr-provision false: devices without connection-request credentials get none; \
             their connection requests fail with auth_failed until an operator sets a pair"
        );
    }
    let requester = ConnectionRequester::with_metrics(
        ConnectionRequestConfig {
            allow_basic: s.values.cr_allow_basic,
            policy: AddressPolicy {
                allow: s.cr_allow.clone(),
                deny: s.cr_deny.clone(),
            },
            ..ConnectionRequestConfig::default()
        },
        metrics.clone(),
    );
    let rest = acs_api::ApiState::new(
        store.clone(),
        requester,
        metrics.clone(),
        acs_api::ApiConfig {
            public_cwmp_url: s.values.public_cwmp_url.clone(),
            cpe_port: cwmp_addr.port(),
            data_dir: s.data_dir.clone(),
            max_firmware_storage_bytes: s.values.max_firmware_storage,
            wake_answer_wait: Duration::from_secs(s.values.cr_answer_wait),
            ..acs_api::ApiConfig::default()
        },
    );
    let app = api::router(ApiState {
        store: store.clone(),
        metrics: metrics.clone(),
    })
    .merge(acs_api::router(rest));
    let api_timeouts = api_listener::Timeouts {
        header: header_timeout,
        body: Duration::from_secs(s.values.read_timeout),
    };
    let api_tls_task = api_tls.map(|(l, acceptor)| {
        tokio::spawn(api_listener::serve(
            l,
            Some(acceptor),
            app.clone(),
            api_timeouts,
            stop_rx.clone(),
        ))
    });
    let api_task = tokio::spawn(api_listener::serve(
        api_tcp,
        None,
        app,
        api_timeouts,
        stop_rx.clone(),
    ));

    // sweeps: idle sessions, expired claims and leases, Up/Down status (DESIGN §5)
    let sweep_state = state.clone();
    let sweep_store = store.clone();
    let mut sweep_stop = stop_rx.clone();
    let status_policy = s.status_policy;
    let status_every = Duration::from_secs(s.values.status_sweep_interval);
    let event_max_age = chrono::Duration::days(i64::from(s.values.event_max_age_days));
    let events_per_device = i64::from(s.values.events_per_device);
    let trace_age =
        chrono::Duration::from_std(s.debug_traces.max_age).unwrap_or(chrono::Duration::MAX);
    let sweep_task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5).min(status_every));
        let mut last_status = tokio::time::Instant::now();
        // events below this id were pruned per device already (see prune_events_per_device)
        let mut events_seen = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = sweep_stop.changed() => break,
            }
            cpe::expire_idle(&sweep_state, session_timeout).await;
            if last_status.elapsed() >= status_every {
                last_status = tokio::time::Instant::now();
                let now = Utc::now();
                if let Err(e) = sweep_store.sweep_status(now, status_policy).await {
                    tracing::warn!(error = %e, "status sweep failed");
                }
                if let Err(e) = sweep_store.release_expired_tasks(now).await {
                    tracing::warn!(error = %e, "releasing expired tasks failed");
                }
                if let Err(e) = sweep_store.purge_expired_leases(now).await {
                    tracing::warn!(error = %e, "purging leases failed");
                }
                // Inform events are history, not state: bounded by age and per device.
                if let Err(e) = sweep_store.prune_events(now - event_max_age).await {
                    tracing::warn!(error = %e, "pruning old events failed");
                }
                match sweep_store
                    .prune_events_per_device(events_per_device, events_seen)
                    .await
                {
                    Ok((_, high)) => events_seen = high,
                    Err(e) => tracing::warn!(error = %e, "pruning events per device failed"),
                }
                if let Some(before) = now.checked_sub_signed(trace_age)
                    && let Err(e) = sweep_store.prune_traces(before).await
                {
                    tracing::warn!(error = %e, "pruning debug traces failed");
                }
            }
        }
    });

    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests, returning in-flight tasks");
    let _ = stop_tx.send(true);
    let _ = cpe_task.await;
    let _ = api_task.await;
    for t in [cpe_tls_task, api_tls_task].into_iter().flatten() {
        let _ = t.await;
    }
    let _ = sweep_task.await;
    state.end_all().await;
    drop(state);
    // the last traces are written before the store closes
    let _ = tracer_task.await;
    writer_task.join().await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "acs".to_owned())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
