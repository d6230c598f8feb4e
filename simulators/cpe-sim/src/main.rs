//! The `cpe-sim` binary: `run` (a fleet of virtual CPEs against an ACS), `load` (sessions as
//! fast as the ACS takes them, JSON report), `baseline` (the canned speed-of-light ACS) and
//! `behaviours` (the vendor behaviour profiles).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use clap::{Args, Parser, Subcommand, ValueEnum};
use cpe_sim::cpe::Cpe;
use cpe_sim::datamodel::Model;
use cpe_sim::fleet::{self, CrEndpoint, SerialPattern};
use cpe_sim::settings::Settings;
use cpe_sim::summary::RunStats;
use cpe_sim::{baseline, behaviour, cr, load, run};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

#[derive(Parser)]
#[command(
    name = "cpe-sim",
    version,
    about = "Thousands of virtual TR-069 CPEs in one process"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run N virtual CPEs against an ACS: BOOTSTRAP on first contact, then periodic Informs,
    /// answering every RPC from their data models. When it stops it prints a summary
    /// (sessions ok, failed by reason) on stderr, and exits 1 if no session succeeded.
    Run(RunArgs),
    /// Drive sessions as fast as the ACS takes them (or at --rate) and print a JSON report on
    /// stdout: sessions (completed within --duration), sessions_per_second, latency_ms (whole
    /// session: p50, p90, p99, max, mean), errors by kind, drained (sessions that ended after
    /// the duration, not counted), rpcs answered.
    Load(LoadArgs),
    /// A canned responder: InformResponse (with the request's cwmp:ID) to an Inform, 204 to
    /// anything else; no parsing, no state. The reference a load run is compared with.
    Baseline(BaselineArgs),
    /// List the vendor behaviour profiles `--behaviour` takes: bundles and single behaviours.
    Behaviours,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModelArg {
    Tr181,
    Tr098,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EventsArg {
    /// Nothing on stdout.
    None,
    /// One JSON object per line: cr_listening, session_end (informed, rpcs), session_failed
    /// (error, kind, retry_count), rebooted, factory_reset, downloaded, uploaded, cr_received,
    /// crashed and died (a vendor behaviour took the agent down), restarted, and a last
    /// summary (sessions_ok, sessions_failed, restarts, failed by kind).
    Json,
}

/// What `run` and `load` share: the devices and how they talk.
#[derive(Args, Clone)]
struct DeviceArgs {
    /// The ACS URL (http:// only).
    #[arg(long)]
    acs: String,
    /// Number of virtual CPEs.
    #[arg(long, default_value_t = 1)]
    devices: u32,
    /// Serial numbers: `{}` takes the device index (0-based), `{:09}` zero-pads it to 9 digits.
    #[arg(long, default_value = "ZN{:09}")]
    serial_pattern: String,
    /// Data model: TR-181 (`Device.`) or TR-098 (`InternetGatewayDevice.`).
    #[arg(long, value_enum, default_value = "tr181")]
    model: ModelArg,
    /// CWMP version: 1.0, 1.1 and 1.2 use their namespaces; 1.3 (cwmp-1-2) sends
    /// SessionTimeout; 1.4 also sends SupportedCWMPVersions.
    #[arg(long, default_value = "1.0")]
    cwmp_version: String,
    /// Vendor quirk, repeatable: no-header (no SOAP Header, no cwmp:ID), zero-padded-arrays
    /// (`arrayType="…[0002]"`), iso-8859-1 (bodies in ISO-8859-1 with that charset), chunked
    /// (chunked bodies, no Content-Length), reconnect-per-message (a new TCP connection and
    /// `Connection: close` for every POST, HTTP/1.0 style), no-cookies (ignore Set-Cookie).
    #[arg(long = "quirk", value_name = "QUIRK")]
    quirks: Vec<String>,
    /// Fault injection, repeatable: METHOD=CODE answers every METHOD request with the CPE
    /// fault CODE (9000-9899) instead of doing it. METHOD is an RPC name (SetParameterValues,
    /// Download, Reboot…) or spv, gpv, gpn, gpa, spa. Example: --fault spv=9002.
    #[arg(long = "fault", value_name = "METHOD=CODE")]
    faults: Vec<String>,
    /// Vendor behaviour profile, repeatable: a bundle (go-sim, ts-agent, node-agent,
    /// c-agent) or behaviours, comma-separated (md5-only,nonce-32); `cpe-sim behaviours`
    /// lists them. Without a share every device shows it; with one (`c-agent:25%`) the next
    /// slice of the fleet by device index does.
    #[arg(
        long = "behaviour",
        visible_alias = "behavior",
        value_name = "NAME[,NAME…][:SHARE%]"
    )]
    behaviours: Vec<String>,
    /// Probability (0-1) that a request matching a --fault rule gets the fault.
    #[arg(long, default_value_t = 1.0)]
    fault_rate: f64,
    /// Seconds the CPE waits for each HTTP answer of the ACS.
    #[arg(long, default_value_t = 30)]
    http_timeout: u64,
    /// The username every device answers the ACS's HTTP authentication (Digest or Basic)
    /// with: ManagementServer.Username. `{serial}` becomes the serial number. Default
    /// `00D09E-<serial>`.
    #[arg(long)]
    username: Option<String>,
    /// ManagementServer.Password (`{serial}` becomes the serial number). Default empty.
    #[arg(long)]
    password: Option<String>,
    /// The username the connection-request listener expects (ConnectionRequestUsername;
    /// `{serial}` becomes the serial number). Default: the serial number.
    #[arg(long)]
    cr_username: Option<String>,
    /// ConnectionRequestPassword (`{serial}` becomes the serial number). Default: the serial
    /// number.
    #[arg(long)]
    cr_password: Option<String>,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    devices: DeviceArgs,
    /// Periodic Inform interval in seconds (sets PeriodicInformEnable and
    /// PeriodicInformInterval as the factory setting); each wait is jittered by ±10 %.
    #[arg(long)]
    inform_interval: Option<u32>,
    /// Address of the connection-request listener (one for all devices, path /cr/<serial>,
    /// digest auth with ConnectionRequestUsername/Password). Port 0 picks one; the bound
    /// address is printed (a `cr_listening` event with --events json, else on stderr).
    #[arg(long)]
    cr_listen: Option<String>,
    /// Host written into ConnectionRequestURL (default: the --cr-listen IP).
    #[arg(long)]
    cr_host: Option<String>,
    /// Spread the first Informs uniformly over this many seconds.
    #[arg(long, default_value_t = 0.0)]
    ramp: f64,
    /// Sessions in flight at once across the fleet; a device that is due while that many are
    /// open waits its turn (first come, first served). Bounds the memory of a fleet that is
    /// due all at once (every device's first BOOTSTRAP). 0: no limit, every due device opens
    /// its connection at once.
    #[arg(long, default_value_t = run::DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// Seconds a reboot (or factory reset) takes before the device informs again.
    #[arg(long, default_value_t = 1.0)]
    reboot_delay: f64,
    /// Seconds an agent that crashed or exited (behaviours crash-on-partial-path,
    /// dies-on-http-error) stays down before it starts again with `1 BOOT`.
    #[arg(long, default_value_t = 10.0)]
    restart_delay: f64,
    /// Each device does one session (its BOOTSTRAP) and stops; the process exits when all have.
    #[arg(long)]
    once: bool,
    /// Stop after this many seconds (sessions in flight finish first).
    #[arg(long)]
    duration: Option<f64>,
    /// Stop once this many sessions have ended, successful or not (those in flight finish).
    #[arg(long)]
    sessions: Option<u64>,
    /// Machine-readable events on stdout.
    #[arg(long, value_enum, default_value = "none")]
    events: EventsArg,
}

#[derive(Args)]
struct LoadArgs {
    #[command(flatten)]
    devices: DeviceArgs,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// inform: Inform, InformResponse, empty POST, 204. provision: the first session of each
    /// device is a BOOTSTRAP and the ACS is expected to send RPCs, answered from the data model.
    #[arg(long, value_enum, default_value = "inform")]
    profile: load::Profile,
    /// Sessions in flight at once (default: one per device).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Total sessions per second to aim at (default: as fast as the ACS answers).
    #[arg(long)]
    rate: Option<f64>,
}

#[derive(Args)]
struct BaselineArgs {
    /// Address to listen on; port 0 picks one (the bound address is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:7547")]
    listen: String,
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    if let Command::Behaviours = cli.command {
        print!("{}", behaviour::listing());
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run_command(args).await,
            Command::Load(args) => load_command(args).await.map(|()| ExitCode::SUCCESS),
            Command::Baseline(args) => baseline_command(args).await.map(|()| ExitCode::SUCCESS),
            Command::Behaviours => Ok(ExitCode::SUCCESS),
        }
    })
}

fn settings(args: &DeviceArgs) -> anyhow::Result<Settings> {
    let mut s = Settings::new(&args.acs).map_err(|e| anyhow!(e))?;
    s.version = cwmp::CwmpVersion::parse(&args.cwmp_version).ok_or_else(|| {
        anyhow!(
            "unknown --cwmp-version {:?} (1.0 to 1.4)",
            args.cwmp_version
        )
    })?;
    for q in &args.quirks {
        s.quirks.enable(q).map_err(|e| anyhow!(e))?;
    }
    for f in &args.faults {
        s.faults.add(f).map_err(|e| anyhow!(e))?;
    }
    for b in &args.behaviours {
        s.behaviours.add(b).map_err(|e| anyhow!(e))?;
    }
    if !(0.0..=1.0).contains(&args.fault_rate) {
        return Err(anyhow!(
            "--fault-rate {} is not between 0 and 1",
            args.fault_rate
        ));
    }
    s.faults.rate = args.fault_rate;
    s.http_timeout = Duration::from_secs(args.http_timeout.max(1));
    s.credentials = cpe_sim::settings::CredentialOverrides {
        username: args.username.clone(),
        password: args.password.clone(),
        cr_username: args.cr_username.clone(),
        cr_password: args.cr_password.clone(),
    };
    Ok(s)
}

impl DeviceArgs {
    /// `--serial-pattern`, checked before anything starts.
    fn pattern(&self) -> anyhow::Result<SerialPattern> {
        SerialPattern::parse(&self.serial_pattern).map_err(|e| anyhow!(e))
    }

    /// The devices, listening for connection requests at `endpoint` when given.
    fn fleet(
        &self,
        pattern: &SerialPattern,
        settings: &Arc<Settings>,
        endpoint: Option<&CrEndpoint>,
    ) -> anyhow::Result<Vec<Arc<Cpe>>> {
        fleet::build(model(self.model), self.devices, pattern, settings, endpoint)
            .map_err(|e| anyhow!(e))
    }
}

fn model(m: ModelArg) -> Model {
    match m {
        ModelArg::Tr181 => Model::Tr181,
        ModelArg::Tr098 => Model::Tr098,
    }
}

/// A watch channel that turns true on ctrl-c or SIGTERM (or when the run says it is over).
fn shutdown_signal() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    let (tx, rx) = watch::channel(false);
    let signalled = tx.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let sigterm = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = sigterm => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        signalled.send_replace(true);
    });
    (tx, rx)
}

async fn run_command(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut s = settings(&args.devices)?;
    s.inform_interval = args.inform_interval.filter(|&i| i > 0);
    s.reboot_delay = Duration::from_secs_f64(args.reboot_delay.max(0.0));
    s.restart_delay = Duration::from_secs_f64(args.restart_delay.max(0.0));
    s.json_events = args.events == EventsArg::Json;
    let pattern = args.devices.pattern()?;
    let (stop, shutdown) = shutdown_signal();
    if let Some(seconds) = args.duration {
        let stop = stop.clone();
        let after = Duration::from_secs_f64(seconds.max(0.0));
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            stop.send_replace(true);
        });
    }

    let listener = match &args.cr_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?,
        ),
        None => None,
    };
    let endpoint = match &listener {
        Some(l) => {
            let local = l.local_addr()?;
            let host = args.cr_host.clone().unwrap_or_else(|| match local.ip() {
                ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            });
            Some((
                local,
                CrEndpoint {
                    host,
                    port: local.port(),
                },
            ))
        }
        None => None,
    };
    let settings = Arc::new(s);
    let devices = args
        .devices
        .fleet(&pattern, &settings, endpoint.as_ref().map(|(_, e)| e))?;

    let cr_task = match (listener, &endpoint) {
        (Some(l), Some((local, _))) => {
            if settings.json_events {
                let line =
                    serde_json::json!({ "event": "cr_listening", "address": local.to_string() });
                println!("{line}");
            } else {
                eprintln!("cpe-sim: connection requests on http://{local}/cr/<serial>");
            }
            let handler = Arc::new(cr::Listener::new(&devices, settings.clone()));
            Some(tokio::spawn(cr::serve(l, handler, shutdown.clone())))
        }
        _ => None,
    };

    let count = devices.len().max(1);
    let stats = Arc::new(RunStats::new(devices.len(), args.sessions).stop_on(stop));
    let sessions = (args.concurrency > 0)
        .then(|| Arc::new(Semaphore::new(args.concurrency.min(Semaphore::MAX_PERMITS))));
    let mut tasks = Vec::with_capacity(devices.len());
    for (i, cpe) in devices.into_iter().enumerate() {
        let first_delay = Duration::from_secs_f64(args.ramp.max(0.0) * i as f64 / count as f64);
        let options = run::LoopOptions {
            first_delay,
            once: args.once,
            sessions: sessions.clone(),
            stats: Some(stats.clone()),
        };
        tasks.push(tokio::spawn(run::device_loop(
            cpe,
            settings.clone(),
            shutdown.clone(),
            options,
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
    if let Some(t) = cr_task {
        t.abort();
    }
    // What the run did, whatever ended it (--once, --duration, --sessions, ctrl-c, SIGTERM).
    let summary = stats.snapshot();
    if settings.json_events {
        println!("{}", summary.json());
    }
    eprintln!("cpe-sim: {}", summary.text());
    Ok(if summary.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn load_command(args: LoadArgs) -> anyhow::Result<()> {
    let mut s = settings(&args.devices)?;
    // Load sessions follow each other at once: a reboot in one is the next one's BOOT.
    s.reboot_delay = Duration::ZERO;
    let pattern = args.devices.pattern()?;
    let settings = Arc::new(s);
    let devices = args.devices.fleet(&pattern, &settings, None)?;
    let options = load::LoadOptions {
        duration: Duration::from_secs_f64(args.duration.max(0.1)),
        profile: args.profile,
        concurrency: args.concurrency.unwrap_or(devices.len()),
        rate: args.rate.filter(|r| *r > 0.0),
        progress: load::stderr_is_terminal(),
    };
    let report = load::run(devices, settings, options).await;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn baseline_command(args: BaselineArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!(
        "{}",
        serde_json::json!({ "event": "listening", "address": listener.local_addr()?.to_string() })
    );
    baseline::serve(listener, shutdown_signal().1).await;
    Ok(())
}
