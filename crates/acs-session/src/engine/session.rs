//! One CWMP session: its state, and the engine that moves it one message at a time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use acs_store::{
    CrProvision, DevicePassword, Inform as StoreInform, InformEvent, InformOutcome, ParameterValue,
    SessionStart, SessionStartOutcome, SessionTurn, Task, TaskOutcome,
};
use chrono::{DateTime, Utc};
use cwmp::{
    Body, BooleanStyle, CwmpVersion, Decoded, EncodeOptions, Envelope, Fault, FaultCode,
    GetParameterValues, Method, Namespace, ParameterValueStruct, SetParameterValues,
};

use super::backend::SessionBackend;
use super::completion::{self, Report};
use super::dispatch::{self, DispatchInputs};
use super::faults;
use super::metrics::Metrics;
use crate::task::TaskSpec;

/// Settings of the engine (`acs serve` flags).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Create devices on their first Inform.
    pub auto_register: bool,
    /// Idle time after which a session is dropped (and its lease and task released).
    pub session_timeout: Duration,
    /// How long a Reboot/FactoryReset/Download waits for the event that completes it
    /// (counted after a Download/Upload's DelaySeconds and a ScheduleDownload's last window).
    pub await_event_ttl: Duration,
    /// How CPEs reach this server (`--public-cwmp-url`), for Download URLs; else the `Host`.
    pub public_cwmp_url: Option<String>,
    /// Names per GetParameterValues during a `sync`.
    pub sync_batch: usize,
    /// Give devices connection-request credentials (DESIGN §8): a device with no username on
    /// record gets a generated pair, and a device that bootstraps gets the pair on record
    /// again (a factory reset wiped it), by a `credentials` task queued at its Inform.
    pub provision_cr_credentials: bool,
    /// Identifies this node in lease and claim holders.
    pub node_id: String,
    pub encode: EncodeOptions,
    /// Signs the URLs of this server's firmware files in Download, ScheduleDownload and
    /// ChangeDUState (set when CPE authentication is on: the files are then served only to
    /// a signed URL or the device's credentials).
    pub file_urls: Option<crate::file_url::FileUrls>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            auto_register: true,
            session_timeout: Duration::from_secs(30),
            await_event_ttl: Duration::from_secs(3600),
            public_cwmp_url: None,
            sync_batch: 100,
            provision_cr_credentials: true,
            node_id: "acs".to_owned(),
            encode: EncodeOptions::default(),
            file_urls: None,
        }
    }
}

/// What the HTTP layer knows about the request besides its body.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// `scheme://host[:port]` the CPE used to reach us.
    pub base_url: Option<String>,
    /// The peer IP address, stored when the Inform names no WAN address.
    pub peer_ip: Option<String>,
}

/// What to answer on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// 200 with a SOAP envelope.
    Envelope(Vec<u8>),
    /// 204: nothing more from the ACS, the session is over.
    NoContent,
    /// 503 + Retry-After: another session of this device is running (here or on another node).
    Busy { retry_after_secs: u32 },
    /// 403: the device is inactive or unknown with auto-registration off.
    Refused,
    /// 409: the serial number is on record under another OUI/ProductClass (another
    /// device); nothing was written.
    IdentityConflict,
    /// 400: not a message this session can take (no Inform first, undecodable).
    BadRequest(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for an Inform.
    New,
    /// InformResponse sent; the CPE sends its own requests or an empty POST.
    CpeRequests,
    /// We send RPCs; the CPE answers.
    AcsRequests,
    /// 204 sent.
    Ended,
}

#[derive(Debug)]
enum SyncStep {
    Names,
    Values { remaining: Vec<String> },
    Defaults,
}

#[derive(Debug)]
struct InFlight {
    task: Task,
    spec: TaskSpec,
    method: Method,
    id: String,
    sync: Option<SyncStep>,
    /// When the current request of this task went out (round-trip histogram).
    sent_at: DateTime<Utc>,
}

/// The state of one session; the HTTP layer keeps it per cookie and per TCP connection.
#[derive(Debug)]
pub struct Session {
    /// The cookie value naming this session.
    pub id: String,
    holder: String,
    phase: Phase,
    namespace: Namespace,
    serial: String,
    /// The CWMP version the session speaks: its namespace's, refined by the 1.3/1.4 headers
    /// and capped by what was negotiated.
    version: CwmpVersion,
    /// The CPE's own method list (its latest GetRPCMethods answer), read once per session
    /// when the first task goes out: `None` until then, `Some(None)` when never asked.
    cpe_methods: Option<Option<Vec<String>>>,
    device_id: i64,
    root: String,
    base_url: Option<String>,
    in_flight: Option<InFlight>,
    next_rpc_id: u64,
    /// The wire format of the device's type (profile switches); `None`: the engine default.
    encode: Option<EncodeOptions>,
    /// When the session began (its Inform arrived).
    opened_at: DateTime<Utc>,
    /// When the lease was last taken or renewed (renewed past half its term).
    lease_since: DateTime<Utc>,
    /// When the last message of this session arrived.
    pub last_seen: DateTime<Utc>,
    /// The device was in debug mode when its Inform was accepted: the HTTP layer records
    /// this session's messages ([`Session::debug_trace`]).
    debug: bool,
}

/// Whose debug trace a session's messages go to: the device, and the session (when its
/// Inform arrived).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebugTrace {
    pub device_id: i64,
    pub session_started: DateTime<Utc>,
}

impl Session {
    pub fn new(id: String, node_id: &str, now: DateTime<Utc>) -> Session {
        Session {
            holder: format!("{node_id}/{id}"),
            id,
            phase: Phase::New,
            namespace: Namespace::Cwmp10,
            serial: String::new(),
            version: CwmpVersion::V1_0,
            cpe_methods: None,
            device_id: 0,
            root: String::new(),
            base_url: None,
            in_flight: None,
            next_rpc_id: 1,
            encode: None,
            opened_at: now,
            lease_since: now,
            last_seen: now,
            debug: false,
        }
    }

    /// Where to record this session's messages, when its device was in debug mode at its
    /// Inform (read with the Inform's own upsert: no extra store call for anyone); `None`
    /// for every other session. Stays set after the session ends, so its last reply (the
    /// 204) is recorded too; a change of `debug` applies from the device's next session.
    pub fn debug_trace(&self) -> Option<DebugTrace> {
        (self.debug && self.device_id != 0).then_some(DebugTrace {
            device_id: self.device_id,
            session_started: self.opened_at,
        })
    }

    /// The device's serial number once an Inform was accepted.
    pub fn serial(&self) -> Option<&str> {
        (self.phase != Phase::New && !self.serial.is_empty()).then_some(self.serial.as_str())
    }

    /// True while the session holds a lease (between an accepted Inform and its end).
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::CpeRequests | Phase::AcsRequests)
    }

    pub fn is_idle(&self, now: DateTime<Utc>, timeout: Duration) -> bool {
        let idle = chrono::Duration::from_std(timeout).unwrap_or_default();
        now - self.last_seen > idle
    }
}

/// The session engine over a backend.
#[derive(Debug)]
pub struct Engine<B> {
    backend: B,
    config: EngineConfig,
    metrics: Arc<Metrics>,
    /// Wire format per device type, read at most once per [`WIRE_FORMAT_TTL`]: every Inform
    /// needs it and profiles change rarely.
    wire_formats: std::sync::Mutex<HashMap<i64, (DateTime<Utc>, EncodeOptions)>>,
}

/// How long a device type's wire format is reused before its profile is read again; a
/// profile edit reaches sessions that start after this.
const WIRE_FORMAT_TTL: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

impl<B: SessionBackend> Engine<B> {
    pub fn new(backend: B, config: EngineConfig, metrics: Arc<Metrics>) -> Self {
        Engine {
            backend,
            config,
            metrics,
            wire_formats: std::sync::Mutex::new(HashMap::new()),
        }
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Moves `session` by one message.
    pub async fn handle(
        &self,
        session: &mut Session,
        message: Decoded,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Reply {
        session.last_seen = now;
        match message {
            Decoded::Envelope(env) => match &env.body {
                Body::Inform(_) => {
                    // a new Inform always starts a new session, whatever the cookie said
                    if session.is_open() {
                        self.end(session, now).await;
                    }
                    self.on_inform(session, env, ctx, now).await
                }
                _ if session.phase == Phase::New || session.phase == Phase::Ended => {
                    Reply::BadRequest(format!(
                        "{} outside a session: a session starts with an Inform",
                        env.body.name()
                    ))
                }
                _ if is_cpe_request(&env.body) => {
                    self.keep_lease(session, now).await;
                    self.on_cpe_request(session, env, now).await
                }
                Body::Unknown { .. } | Body::Kicked(_) => self.fault_reply(
                    session,
                    &env,
                    FaultCode::METHOD_NOT_SUPPORTED,
                    "method not supported by this ACS",
                ),
                _ => {
                    self.keep_lease(session, now).await;
                    if let Some(reply) = self.on_cpe_response(session, env, now).await {
                        return reply;
                    }
                    self.next_rpc(session, now).await
                }
            },
            Decoded::EmptyBody => {
                if !session.is_open() {
                    return Reply::BadRequest("empty POST outside a session".to_owned());
                }
                session.phase = Phase::AcsRequests;
                self.next_rpc(session, now).await
            }
        }
    }

    /// Ends the session early (idle timeout, dropped connection, a new Inform, shutdown): the
    /// in-flight task, whose RPC went out and was not answered, goes back to pending counted
    /// as unanswered (a task after which sessions keep dying fails, PROTOCOL §16.5), and the
    /// lease is released.
    pub async fn end(&self, session: &mut Session, now: DateTime<Utc>) {
        if let Some(f) = session.in_flight.take() {
            self.metrics.rpc(f.method, "abandoned");
            let _ = self
                .backend
                .settle_task(f.task.id, &session.holder, TaskOutcome::Unanswered, now)
                .await;
        }
        if session.is_open() {
            let _ = self
                .backend
                .release_lease(&session.serial, &session.holder)
                .await;
        }
        self.close(session, now);
    }

    /// Marks the session over once its lease is given back (counted and timed once, whichever
    /// path ends it).
    fn close(&self, session: &mut Session, now: DateTime<Utc>) {
        if session.is_open() {
            self.metrics
                .session_duration
                .observe((now - session.opened_at).to_std().unwrap_or_default());
            self.metrics
                .sessions_open
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        session.phase = Phase::Ended;
    }

    /// Renews the session's lease once it is past half its term, so a long session (a sync
    /// walking a big tree, a slow CPE) keeps it; a turn that claims a task renews it anyway.
    async fn keep_lease(&self, session: &mut Session, now: DateTime<Utc>) {
        if !session.is_open() {
            return;
        }
        let half = chrono::Duration::from_std(self.lease_ttl() / 2).unwrap_or_default();
        if now - session.lease_since < half {
            return;
        }
        match self
            .backend
            .acquire_lease(&session.serial, &session.holder, now, self.lease_ttl())
            .await
        {
            Ok(true) => session.lease_since = now,
            Ok(false) => {
                tracing::warn!(serial = ?session.serial, "session lease lost to another session")
            }
            Err(e) => {
                tracing::warn!(serial = ?session.serial, error = %e.0, "renewing the session lease failed")
            }
        }
    }

    /// Encodes with the session's wire format (its device type's profile, once known).
    fn encode(&self, session: &Session, env: &Envelope) -> Reply {
        Reply::Envelope(env.encode(session.encode.as_ref().unwrap_or(&self.config.encode)))
    }

    fn fault_reply(&self, s: &Session, req: &Envelope, code: FaultCode, text: &str) -> Reply {
        let mut fault = Fault::new(code);
        if let Some(d) = fault.detail.as_mut() {
            d.fault_string = Some(text.to_owned());
        }
        self.encode(s, &req.reply(Body::Fault(fault)))
    }

    async fn on_inform(
        &self,
        session: &mut Session,
        env: Envelope,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Reply {
        Metrics::inc(&self.metrics.informs);
        let Body::Inform(inform) = &env.body else {
            return Reply::BadRequest("not an Inform".to_owned());
        };
        let serial = inform.device_id.serial_number.trim().to_owned();
        if serial.is_empty() {
            return Reply::BadRequest("Inform without a SerialNumber".to_owned());
        }
        // the one serial-number rule of every path in: refused before anything is written
        if let Err(why) = acs_store::check_serial_number(&serial) {
            tracing::info!(serial = ?serial, reason = why, "inform refused: bad serial number");
            return Reply::BadRequest(format!("Inform refused: {why}"));
        }
        *session = Session::new(session.id.clone(), &self.config.node_id, now);
        session.serial = serial.clone();
        session.namespace = env.namespace;
        session.version = session_version(&env);
        session.base_url = ctx.base_url.clone();
        session.root = data_model_root(&inform.parameter_list).to_owned();

        let record = store_inform(inform, &serial, ctx, self.config.auto_register, now);
        let bootstrap = inform.has_event("0 BOOTSTRAP");
        let parameter_key = record.parameter_key.clone();
        // one batched write: the lease, then the Inform (a BOOTSTRAP's parameters replace the
        // stored ones: the CPE forgot them)
        let start = SessionStart {
            inform: record,
            holder: session.holder.clone(),
            lease_ttl: self.lease_ttl(),
            replace_parameters: bootstrap,
        };
        let outcome = match self.backend.start_session(start).await {
            Ok(SessionStartOutcome::Started(o)) => o,
            Ok(SessionStartOutcome::Busy) => {
                // another session holds the lease (this node's was ended by the HTTP layer
                // before: here it is another node's): come back when it runs out
                Metrics::inc(&self.metrics.sessions_refused_busy);
                session.phase = Phase::Ended;
                let fallback = self.config.session_timeout.as_secs().max(1);
                let retry_after_secs = match self.backend.lease_expiry(&serial).await {
                    Ok(Some(expires)) => {
                        let left = (expires - now).num_milliseconds().max(0) as u64;
                        left.div_ceil(1000)
                            .clamp(1, self.lease_ttl().as_secs().max(1))
                    }
                    _ => fallback,
                };
                return Reply::Busy {
                    retry_after_secs: retry_after_secs.min(u64::from(u32::MAX)) as u32,
                };
            }
            Err(e) => {
                // a start that timed out may still commit: give back what it may take
                let _ = self.backend.release_lease(&serial, &session.holder).await;
                return self.retry_fault(session, &env, &e.0);
            }
        };
        let (device_id, type_id, debug, has_cr_username) = match outcome {
            InformOutcome::Accepted {
                device_id,
                type_id,
                debug,
                has_cr_username,
                ..
            } => (device_id, type_id, debug, has_cr_username),
            InformOutcome::Inactive { .. } | InformOutcome::Unknown => {
                // the store gave the lease back in the same transaction
                Metrics::inc(&self.metrics.sessions_refused_inactive);
                session.phase = Phase::Ended;
                tracing::info!(serial = ?serial, "inform refused: device inactive or unknown");
                return Reply::Refused;
            }
            InformOutcome::IdentityConflict {
                oui, product_class, ..
            } => {
                // another device with the same serial number (nothing written, the lease
                // given back); both identities are the CPE's or were, so Debug-escaped
                Metrics::inc(&self.metrics.sessions_refused_identity);
                session.phase = Phase::Ended;
                tracing::warn!(
                    serial = ?serial,
                    inform_oui = ?inform.device_id.oui,
                    inform_product_class = ?inform.device_id.product_class,
                    known_oui = ?oui,
                    known_product_class = ?product_class,
                    "inform refused: the serial number is on record under another OUI/ProductClass"
                );
                return Reply::IdentityConflict;
            }
        };
        session.device_id = device_id;
        session.debug = debug;
        session.phase = Phase::CpeRequests;
        Metrics::inc(&self.metrics.sessions_started);
        self.metrics
            .sessions_open
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);

        if let Err(e) = self
            .complete_by_events(session, inform, parameter_key.as_deref(), now)
            .await
        {
            self.end(session, now).await;
            return self.retry_fault(session, &env, &e.0);
        }
        if self.config.provision_cr_credentials && (bootstrap || !has_cr_username) {
            self.provision_cr_credentials(session, has_cr_username, now)
                .await;
        }
        session.encode = match type_id {
            Some(type_id) => self.wire_format(type_id, now).await,
            None => None,
        };
        self.encode(session, &env.inform_reply())
    }

    /// Queues the `credentials` task that gives the device its connection-request pair: the
    /// one on record, or (none on record) a fresh one generated here. It goes out in this
    /// session. A store failure is logged and leaves the session alone: a device without a
    /// pair is provisioned at its next Inform, and a wake uses the accepted pair meanwhile.
    async fn provision_cr_credentials(
        &self,
        session: &Session,
        has_cr_username: bool,
        now: DateTime<Utc>,
    ) {
        let generated = (!has_cr_username).then(|| {
            let c = crate::connection_request::generate_credentials();
            (c.username, DevicePassword::new(c.password.expose()))
        });
        let task = TaskSpec::Credentials {}.new_task(None);
        match self
            .backend
            .provision_cr_credentials(session.device_id, generated, task, now)
            .await
        {
            Ok(CrProvision::Generated) => tracing::info!(
                serial = ?session.serial,
                "generated connection-request credentials; sending them in this session"
            ),
            Ok(CrProvision::Queued) => tracing::debug!(
                serial = ?session.serial,
                "sending the connection-request credentials on record again"
            ),
            Ok(CrProvision::AlreadyQueued | CrProvision::NothingToSend) => {}
            Err(e) => tracing::warn!(
                serial = ?session.serial,
                error = %e.0,
                "connection-request credentials not provisioned"
            ),
        }
    }

    /// Settles what this Inform reports done: its events and its ParameterKey, by the
    /// completion table (`completion.rs`).
    async fn complete_by_events(
        &self,
        session: &Session,
        inform: &cwmp::Inform,
        parameter_key: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), super::BackendError> {
        let mut reports: Vec<Report<'_>> = inform
            .event
            .iter()
            .map(|e| (e.event_code.trim(), e.command_key.trim()))
            .filter(|(code, _)| completion::completes_by_event(code))
            .map(|(code, command_key)| Report::Event { code, command_key })
            .collect();
        if let Some(pk) = parameter_key.map(str::trim).filter(|k| !k.is_empty()) {
            reports.push(Report::ParameterKey(pk));
        }
        if reports.is_empty() {
            // most Informs: nothing that completes a task, no look at the device's tasks
            return Ok(());
        }
        let open = self.backend.open_tasks(session.device_id).await?;
        let mut settled: Vec<i64> = Vec::new();
        for report in &reports {
            for task in completion::completed(report, &open) {
                if settled.contains(&task.id) {
                    continue;
                }
                settled.push(task.id);
                self.backend
                    .settle_by_command_key(
                        session.device_id,
                        &task.command_key,
                        TaskOutcome::Done,
                        now,
                    )
                    .await?;
                if task.kind == (TaskSpec::Credentials {}).kind() {
                    // the session broke after the credentials SPV was sent: the CPE's
                    // ParameterKey proves it applied, and with it the pair it carried
                    self.backend
                        .accept_cr_credentials(session.device_id, &task.command_key, now)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// The task a TransferComplete or DUStateChangeComplete reports on (the completion
    /// table: its CommandKey, or an empty one naming the one task awaiting it).
    async fn reported_task(
        &self,
        session: &Session,
        report: Report<'_>,
    ) -> Result<Option<Task>, super::BackendError> {
        let open = self.backend.open_tasks(session.device_id).await?;
        Ok(completion::completed(&report, &open)
            .first()
            .map(|t| (*t).clone()))
    }

    fn retry_fault(&self, session: &mut Session, req: &Envelope, why: &str) -> Reply {
        Metrics::inc(&self.metrics.store_errors);
        tracing::warn!(serial = ?session.serial, error = %why, "answering 8005 (retry request)");
        self.fault_reply(session, req, FaultCode::RETRY_REQUEST, "retry request")
    }

    async fn on_cpe_request(
        &self,
        session: &mut Session,
        env: Envelope,
        now: DateTime<Utc>,
    ) -> Reply {
        let body = match &env.body {
            Body::GetRpcMethods(_) => Body::GetRpcMethodsResponse(cwmp::GetRpcMethodsResponse {
                // every CPE -> ACS request this engine answers (not Kicked)
                method_list: Method::ALL
                    .iter()
                    .filter(|m| m.is_cpe_request() && m.is_supported_by_acs())
                    .map(|m| m.name().to_owned())
                    .collect(),
            }),
            Body::TransferComplete(tc) => {
                let code = i64::from(tc.fault_struct.fault_code.0);
                let report = Report::TransferComplete {
                    command_key: tc.command_key.trim(),
                };
                let task = match self.reported_task(session, report).await {
                    Ok(task) => task,
                    Err(e) => return self.retry_fault(session, &env, &e.0),
                };
                let method = task
                    .as_ref()
                    .map_or(Method::Download, |t| transfer_method(&t.kind));
                if let Some(task) = task {
                    let outcome = if code == 0 {
                        TaskOutcome::Done
                    } else {
                        TaskOutcome::Fault {
                            code,
                            string: fault_text(&tc.fault_struct.fault_string, code),
                            retryable: faults::retryable(method.name(), code, task.fault_code),
                        }
                    };
                    // a firmware task's end clears `firmware_image_is_pending` in the store,
                    // in the transaction that settles it
                    if let Err(e) = self
                        .backend
                        .settle_by_command_key(session.device_id, &task.command_key, outcome, now)
                        .await
                    {
                        return self.retry_fault(session, &env, &e.0);
                    }
                }
                if code != 0 {
                    self.metrics.fault(method, code);
                }
                Body::TransferCompleteResponse(cwmp::TransferCompleteResponse)
            }
            Body::AutonomousTransferComplete(_) => {
                Body::AutonomousTransferCompleteResponse(cwmp::AutonomousTransferCompleteResponse)
            }
            Body::RequestDownload(_) => {
                Body::RequestDownloadResponse(cwmp::RequestDownloadResponse)
            }
            Body::DuStateChangeComplete(d) => {
                let outcome = du_outcome(d);
                if let TaskOutcome::Reported {
                    fault: Some((code, _)),
                    ..
                } = &outcome
                {
                    self.metrics.fault(Method::ChangeDuState, *code);
                }
                let report = Report::DuStateChangeComplete {
                    command_key: d.command_key.trim(),
                };
                let settled = match self.reported_task(session, report).await {
                    Ok(Some(task)) => {
                        self.backend
                            .settle_by_command_key(
                                session.device_id,
                                &task.command_key,
                                outcome,
                                now,
                            )
                            .await
                    }
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                };
                if let Err(e) = settled {
                    return self.retry_fault(session, &env, &e.0);
                }
                Body::DuStateChangeCompleteResponse(cwmp::DuStateChangeCompleteResponse)
            }
            Body::AutonomousDuStateChangeComplete(_) => {
                Body::AutonomousDuStateChangeCompleteResponse(
                    cwmp::AutonomousDuStateChangeCompleteResponse,
                )
            }
            _ => {
                return self.fault_reply(
                    session,
                    &env,
                    FaultCode::METHOD_NOT_SUPPORTED,
                    "method not supported by this ACS",
                );
            }
        };
        self.encode(session, &env.reply(body))
    }

    /// Settles the in-flight task with the CPE's answer. `Some(reply)` when the session
    /// continues with a follow-up step of the same task (sync) or must stop.
    async fn on_cpe_response(
        &self,
        session: &mut Session,
        env: Envelope,
        now: DateTime<Utc>,
    ) -> Option<Reply> {
        session.phase = Phase::AcsRequests;
        let mut f = session.in_flight.take()?;
        self.metrics
            .rpc_round_trip(f.method, (now - f.sent_at).to_std().unwrap_or_default());
        // correlate by cwmp:ID when the CPE sends one
        if let Some(id) = env.header.id.as_deref()
            && id != f.id
        {
            tracing::debug!(serial = ?session.serial, got = id, want = %f.id, "response with another cwmp:ID");
        }
        let outcome = match &env.body {
            Body::Fault(fault) => {
                let code = fault.code().map_or(0, |c| i64::from(c.0));
                let string = fault
                    .detail
                    .as_ref()
                    .and_then(|d| d.fault_string.clone())
                    .unwrap_or_else(|| fault.fault_string.clone());
                self.metrics.fault(f.method, code);
                self.metrics.rpc(f.method, "fault");
                TaskOutcome::Fault {
                    code,
                    string,
                    // the fault table: what the CPE would answer the same next time fails
                    retryable: faults::retryable(f.method.name(), code, f.task.fault_code),
                }
            }
            body if body.method().is_some() && body.method() == f.method.expected_response() => {
                self.metrics.rpc(f.method, "ok");
                match self.on_success(session, &mut f, body, now).await {
                    Ok(Some(next)) => {
                        let id = self.next_id(session);
                        f.id = id.clone();
                        // the follow-up steps are RPCs built by `on_success`, never a Fault
                        f.method = next.method().unwrap_or(f.method);
                        f.sent_at = now;
                        session.in_flight = Some(f);
                        return Some(self.request(session, id, next));
                    }
                    Ok(None) => {
                        if let Body::GetRpcMethodsResponse(r) = body
                            && matches!(f.spec, TaskSpec::GetRpcMethods {})
                        {
                            // the rest of this session goes by the list just reported
                            session.cpe_methods = Some(Some(
                                r.method_list.iter().map(|m| m.trim().to_owned()).collect(),
                            ));
                        }
                        success_outcome(body, &f, now, self.config.await_event_ttl)
                    }
                    Err(e) => {
                        Metrics::inc(&self.metrics.store_errors);
                        tracing::warn!(serial = ?session.serial, error = %e.0, "storing a response failed");
                        let _ = self
                            .backend
                            .settle_task(f.task.id, &session.holder, TaskOutcome::Release, now)
                            .await;
                        self.end(session, now).await;
                        return Some(Reply::NoContent);
                    }
                }
            }
            other => {
                self.metrics.rpc(f.method, "unexpected");
                TaskOutcome::Fault {
                    code: i64::from(FaultCode::INTERNAL_ERROR.0),
                    string: format!("answered {} to {}", other.name(), f.method),
                    retryable: true,
                }
            }
        };
        if let Err(e) = self
            .backend
            .settle_task(f.task.id, &session.holder, outcome, now)
            .await
        {
            Metrics::inc(&self.metrics.store_errors);
            tracing::warn!(serial = ?session.serial, error = %e.0, "settling a task failed; ending the session");
            self.end(session, now).await;
            return Some(Reply::NoContent);
        }
        None
    }

    /// Stores what a successful response carries; `Some(body)` is the next step of the task.
    async fn on_success(
        &self,
        session: &Session,
        f: &mut InFlight,
        body: &Body,
        now: DateTime<Utc>,
    ) -> Result<Option<Body>, super::BackendError> {
        match body {
            Body::SetParameterValuesResponse(_) if matches!(f.spec, TaskSpec::Credentials {}) => {
                // the CPE checks the new connection-request pair from now on
                self.backend
                    .accept_cr_credentials(session.device_id, &f.task.command_key, now)
                    .await?;
            }
            Body::GetParameterValuesResponse(r) => {
                let params = r.parameter_list.iter().map(param_value).collect();
                self.backend
                    .store_parameters(session.device_id, params, now)
                    .await?;
            }
            Body::CancelTransferResponse(_) => {
                // the cancelled transfer's task will never see its TransferComplete: it ends
                // here instead of waiting (and, once its wait expired, being sent again)
                if let TaskSpec::CancelTransfer { command_key } = &f.spec
                    && *command_key != f.task.command_key
                {
                    let reason = format!("cancelled by CancelTransfer (task {})", f.task.id);
                    self.backend
                        .settle_by_command_key(
                            session.device_id,
                            command_key,
                            TaskOutcome::Cancelled { reason },
                            now,
                        )
                        .await?;
                }
            }
            _ => {}
        }
        let Some(step) = f.sync.take() else {
            return Ok(None);
        };
        let mut remaining = match (step, body) {
            (SyncStep::Names, Body::GetParameterNamesResponse(r)) => r
                .parameter_list
                .iter()
                .filter(|p| !p.name.ends_with('.'))
                .map(|p| p.name.clone())
                .collect(),
            (SyncStep::Values { remaining }, _) => remaining,
            (SyncStep::Defaults, _) => return Ok(None),
            (SyncStep::Names, _) => Vec::new(),
        };
        if !remaining.is_empty() {
            let rest = remaining.split_off(remaining.len().min(self.config.sync_batch.max(1)));
            f.sync = Some(SyncStep::Values { remaining: rest });
            return Ok(Some(Body::GetParameterValues(GetParameterValues {
                parameter_names: remaining,
            })));
        }
        let profile = self.profile(session.device_id).await?;
        let defaults = profile
            .as_ref()
            .map(dispatch::profile_defaults)
            .unwrap_or_default();
        if defaults.is_empty() {
            return Ok(None);
        }
        f.sync = Some(SyncStep::Defaults);
        Ok(Some(Body::SetParameterValues(SetParameterValues {
            parameter_list: defaults,
            parameter_key: f.task.command_key.clone(),
        })))
    }

    /// The wire format for a device of type `type_id` (as the session start read it with the
    /// device row): the engine's default overridden by the profile's `xml_declaration` /
    /// `boolean_style`. A store error or a value the API would not have accepted leaves the
    /// default in force (logged), never fails the session.
    async fn wire_format(&self, type_id: i64, now: DateTime<Utc>) -> Option<EncodeOptions> {
        if let Ok(cache) = self.wire_formats.lock()
            && let Some((at, options)) = cache.get(&type_id)
            && now - *at < WIRE_FORMAT_TTL
            && *at <= now
        {
            return Some(options.clone());
        }
        let profile = match self.backend.device_type(type_id).await {
            Ok(t) => t?.profile.0,
            Err(e) => {
                tracing::warn!(type_id, error = %e.0, "reading the device type failed; default wire format");
                return None;
            }
        };
        let options = wire_format_of(&profile, &self.config.encode, type_id);
        if let Ok(mut cache) = self.wire_formats.lock() {
            cache.insert(type_id, (now, options.clone()));
        }
        Some(options)
    }

    async fn profile(
        &self,
        device_id: i64,
    ) -> Result<Option<acs_store::DeviceTypeProfile>, super::BackendError> {
        let Some(device) = self.backend.device(device_id).await? else {
            return Ok(None);
        };
        let Some(type_id) = device.type_id else {
            return Ok(None);
        };
        Ok(self
            .backend
            .device_type(type_id)
            .await?
            .map(|t| t.profile.0))
    }

    fn next_id(&self, session: &mut Session) -> String {
        let id = format!("acs-{}", session.next_rpc_id);
        session.next_rpc_id += 1;
        id
    }

    fn request(&self, session: &Session, id: String, body: Body) -> Reply {
        let mut env = Envelope::new(session.namespace, body);
        env.header.id = Some(id);
        self.encode(session, &env)
    }

    /// Claims the next task and sends its RPC, or ends the session with 204.
    async fn next_rpc(&self, session: &mut Session, now: DateTime<Utc>) -> Reply {
        if session.in_flight.is_some() {
            // the CPE sent an empty POST while our request is outstanding: it will not answer
            // it any more; the task goes back to pending, counted as unanswered (TR-069
            // §3.7.2: the CPE sends the empty POST only when it has nothing to send,
            // including responses)
            if let Some(f) = session.in_flight.take() {
                self.metrics.rpc(f.method, "unanswered");
                let _ = self
                    .backend
                    .settle_task(f.task.id, &session.holder, TaskOutcome::Unanswered, now)
                    .await;
            }
            return self.finish(session, now).await;
        }
        loop {
            // one batched write: claim the next task under the lease (renewing it), or give
            // the lease back and end
            let turn = SessionTurn {
                device_id: session.device_id,
                serial_number: session.serial.clone(),
                holder: session.holder.clone(),
                now,
                claim_ttl: self.claim_ttl(),
                lease_ttl: self.lease_ttl(),
            };
            let task = match self.backend.session_turn(turn).await {
                Ok(Some(t)) => {
                    session.lease_since = now;
                    t
                }
                Ok(None) => {
                    // the store already gave the lease back
                    Metrics::inc(&self.metrics.sessions_completed);
                    self.close(session, now);
                    return Reply::NoContent;
                }
                Err(e) => {
                    Metrics::inc(&self.metrics.store_errors);
                    tracing::warn!(serial = ?session.serial, error = %e.0, "claiming a task failed; ending the session");
                    return self.finish(session, now).await;
                }
            };
            let built = match self.build(session, &task, now).await {
                Ok((spec, body)) => match body.method() {
                    // dispatch builds RPCs only; a Fault or an unknown element is a bug there
                    None => Err(BuildError::Invalid(format!(
                        "{} is not an RPC",
                        body.name()
                    ))),
                    Some(method) => match self.unsupported(session, method).await {
                        Ok(None) => Ok((spec, method, body)),
                        Ok(Some(why)) => Err(BuildError::Unsupported(why)),
                        Err(e) => Err(BuildError::Store(e.0)),
                    },
                },
                Err(e) => Err(e),
            };
            match built {
                Ok((spec, method, body)) => {
                    let id = self.next_id(session);
                    let sync = matches!(spec, TaskSpec::Sync {}).then_some(SyncStep::Names);
                    session.in_flight = Some(InFlight {
                        task,
                        spec,
                        method,
                        id: id.clone(),
                        sync,
                        sent_at: now,
                    });
                    return self.request(session, id, body);
                }
                Err(BuildError::Invalid(why)) => {
                    tracing::warn!(serial = ?session.serial, task = task.id, error = %why, "task cannot be sent; failing it");
                    let code = FaultCode::INVALID_ARGUMENTS;
                    if !self.fail_unsent(session, task.id, code, why, now).await {
                        return self.finish(session, now).await;
                    }
                }
                Err(BuildError::Unsupported(why)) => {
                    // sending it would only earn a fault, or choke a CPE that does not know
                    // the element: it fails for good, as the CPE's 9000 would
                    tracing::info!(serial = ?session.serial, task = task.id, reason = %why, "task not sent: the CPE does not support its method");
                    let code = FaultCode::CPE_METHOD_NOT_SUPPORTED;
                    if !self.fail_unsent(session, task.id, code, why, now).await {
                        return self.finish(session, now).await;
                    }
                }
                Err(BuildError::Store(e)) => {
                    Metrics::inc(&self.metrics.store_errors);
                    tracing::warn!(serial = ?session.serial, error = %e, "loading a task's inputs failed");
                    let _ = self
                        .backend
                        .settle_task(task.id, &session.holder, TaskOutcome::Release, now)
                        .await;
                    return self.finish(session, now).await;
                }
            }
        }
    }

    async fn finish(&self, session: &mut Session, now: DateTime<Utc>) -> Reply {
        if session.is_open() {
            Metrics::inc(&self.metrics.sessions_completed);
        }
        self.end(session, now).await;
        Reply::NoContent
    }

    async fn build(
        &self,
        session: &Session,
        task: &Task,
        now: DateTime<Utc>,
    ) -> Result<(TaskSpec, Body), BuildError> {
        let spec = TaskSpec::from_parts(&task.kind, &task.payload.0)
            .map_err(|e| BuildError::Invalid(e.to_string()))?;
        let store = |e: super::BackendError| BuildError::Store(e.0);
        let needs_profile = matches!(
            spec,
            TaskSpec::UpdateFrequency { .. } | TaskSpec::Credentials {} | TaskSpec::Location { .. }
        );
        let profile = if needs_profile {
            self.profile(session.device_id).await.map_err(store)?
        } else {
            None
        };
        let (mut username, mut password) = (None, None);
        if matches!(spec, TaskSpec::Credentials {}) {
            let device = self
                .backend
                .device(session.device_id)
                .await
                .map_err(store)?;
            username = device.and_then(|d| d.username);
            password = self
                .backend
                .device_password(session.device_id)
                .await
                .map_err(store)?;
            if let Some(user) = &username {
                // what goes out is what becomes usable once the CPE accepts it, even if the
                // record changes meanwhile
                self.backend
                    .offer_cr_credentials(
                        session.device_id,
                        &task.command_key,
                        user,
                        password.clone(),
                    )
                    .await
                    .map_err(store)?;
            }
        }
        let mut firmware = None;
        if let TaskSpec::Firmware { firmware_image } = spec {
            firmware = self
                .backend
                .firmware_image(firmware_image)
                .await
                .map_err(store)?;
        }
        let base = self
            .config
            .public_cwmp_url
            .as_deref()
            .or(session.base_url.as_deref())
            .unwrap_or("")
            .trim_end_matches('/');
        let inputs = DispatchInputs {
            root: &session.root,
            command_key: &task.command_key,
            profile: profile.as_ref(),
            cr_username: username.as_deref(),
            cr_password: password.as_ref().map(|p| p.expose()),
            firmware: firmware.as_ref(),
            file_base_url: base,
            file_urls: self.config.file_urls.as_ref(),
            device_id: session.device_id,
            now,
        };
        let body = dispatch::rpc_for(&spec, &inputs).map_err(|e| BuildError::Invalid(e.0))?;
        Ok((spec, body))
    }

    /// Fails a claimed task that was not sent, for good, with `code` and `why`; `false` when
    /// the store could not record it (the session then ends).
    async fn fail_unsent(
        &self,
        session: &Session,
        task_id: i64,
        code: FaultCode,
        why: String,
        now: DateTime<Utc>,
    ) -> bool {
        let outcome = TaskOutcome::Fault {
            code: i64::from(code.0),
            string: why,
            retryable: false,
        };
        self.backend
            .settle_task(task_id, &session.holder, outcome, now)
            .await
            .is_ok()
    }

    /// Why the CPE cannot take `method`, if it cannot: an RPC its CWMP version does not define
    /// (TR-069 added GetAllQueuedTransfers in 1.1, ScheduleDownload, CancelTransfer and
    /// ChangeDUState in 1.2), or an optional one missing from the method list it reported (its
    /// answer to GetRPCMethods, once known). The methods TR-069 requires of every CPE
    /// (`REQUIRED_CPE_METHODS`) are always sent: real lists leave some out (the Thomson
    /// SpeedTouch 706 lists neither AddObject nor the attribute methods, and has both), and
    /// GetRPCMethods is how the list is learned again.
    async fn unsupported(
        &self,
        session: &mut Session,
        method: Method,
    ) -> Result<Option<String>, super::BackendError> {
        let since = method.since();
        if since > session.version {
            return Ok(Some(format!(
                "method not supported: {method} needs CWMP {since}, the CPE speaks CWMP {} ({})",
                session.version, session.namespace
            )));
        }
        if REQUIRED_CPE_METHODS.contains(&method) {
            return Ok(None);
        }
        if session.cpe_methods.is_none() {
            let known = self
                .backend
                .last_done_task(session.device_id, TaskSpec::GetRpcMethods {}.kind())
                .await?
                .map(|t| reported_methods(&t));
            session.cpe_methods = Some(known.flatten());
        }
        let known = session.cpe_methods.as_ref().and_then(Option::as_ref);
        Ok(known
            .filter(|methods| !methods.iter().any(|m| m == method.name()))
            .map(|methods| {
                format!(
                    "method not supported: {method} is not in the CPE's GetRPCMethods list \
                     ({}); queue get_rpc_methods to read it again",
                    methods.join(", ")
                )
            }))
    }

    fn lease_ttl(&self) -> Duration {
        self.config.session_timeout * 2
    }

    fn claim_ttl(&self) -> Duration {
        self.config.session_timeout * 2
    }
}

/// Applies a profile's wire-format switches over `base`.
fn wire_format_of(
    profile: &acs_store::DeviceTypeProfile,
    base: &EncodeOptions,
    type_id: i64,
) -> EncodeOptions {
    let mut options = base.clone();
    if let Some(x) = profile.xml_declaration {
        options.xml_declaration = x;
    }
    match profile.boolean_style.as_deref() {
        None => {}
        Some("zero_one") => options.boolean_style = BooleanStyle::ZeroOne,
        Some("true_false") => options.boolean_style = BooleanStyle::TrueFalse,
        Some(other) => tracing::warn!(
            type_id,
            boolean_style = other,
            "unknown boolean_style in the device type's profile; keeping the default"
        ),
    }
    options
}

enum BuildError {
    Invalid(String),
    /// The CPE's CWMP version or its own method list lacks the task's RPC.
    Unsupported(String),
    Store(String),
}

/// The CWMP version a session speaks: the Inform's (its namespace, refined by the 1.3/1.4
/// headers), and no more than the one the InformResponse's UseCWMPVersion names.
fn session_version(env: &Envelope) -> CwmpVersion {
    let version = env.version();
    match env
        .header
        .supported_cwmp_versions
        .as_deref()
        .and_then(|s| cwmp::negotiate(s, CwmpVersion::V1_4))
    {
        Some(agreed) => version.min(agreed),
        None => version,
    }
}

/// A request of the CPE this engine answers itself (not Kicked, which gets fault 8000).
fn is_cpe_request(body: &Body) -> bool {
    body.method()
        .is_some_and(|m| m.is_cpe_request() && m.is_supported_by_acs())
}

/// The RPC behind a transfer task's kind (its TransferComplete's method label).
fn transfer_method(kind: &str) -> Method {
    match kind {
        "schedule_download" => Method::ScheduleDownload,
        "upload" => Method::Upload,
        _ => Method::Download,
    }
}

/// A fault's text: the CPE's, or the code's meaning when it sent none.
fn fault_text(text: &str, code: i64) -> String {
    match text.trim() {
        "" => u32::try_from(code)
            .ok()
            .and_then(|c| cwmp::FaultCode(c).meaning())
            .unwrap_or("fault")
            .to_owned(),
        text => text.to_owned(),
    }
}

/// How a successful final response settles its task.
fn success_outcome(body: &Body, f: &InFlight, now: DateTime<Utc>, ttl: Duration) -> TaskOutcome {
    let ttl = chrono::Duration::from_std(ttl).unwrap_or_default();
    let until = now + ttl;
    match body {
        // completes with `M Reboot` + `1 BOOT` / `0 BOOTSTRAP` in a later session
        Body::RebootResponse(_) | Body::FactoryResetResponse(_) => {
            TaskOutcome::AwaitEvent { until }
        }
        // Status 1: TransferComplete follows in a later session, and not before the CPE has
        // waited the DelaySeconds it was told to (Download/Upload argument): wait that long on
        // top, or the task expires and the CPE gets the same transfer twice
        Body::DownloadResponse(r) | Body::UploadResponse(r) if r.status != 0 => {
            let delay = match &f.spec {
                TaskSpec::Download { delay_seconds, .. }
                | TaskSpec::Upload { delay_seconds, .. } => *delay_seconds,
                _ => 0,
            };
            TaskOutcome::AwaitEvent {
                until: until + chrono::Duration::seconds(i64::from(delay)),
            }
        }
        // TransferComplete (`M ScheduleDownload`) comes once its windows allow: wait past the
        // end of the last one
        Body::ScheduleDownloadResponse(_) => {
            let last_end = match &f.spec {
                TaskSpec::ScheduleDownload { time_windows, .. } => {
                    time_windows.iter().map(|w| w.window_end).max().unwrap_or(0)
                }
                _ => 0,
            };
            TaskOutcome::AwaitEvent {
                until: until + chrono::Duration::seconds(i64::from(last_end)),
            }
        }
        // DUStateChangeComplete (`M ChangeDUState`) follows
        Body::ChangeDuStateResponse(_) => TaskOutcome::AwaitEvent { until },
        // the other read RPCs' answers (GPV's values go to the parameter table instead); a
        // `sync` walks with GetParameterNames but keeps only the values
        Body::GetRpcMethodsResponse(r) if matches!(f.spec, TaskSpec::GetRpcMethods {}) => {
            TaskOutcome::Reported {
                result: serde_json::json!({ "methods": r.method_list }),
                fault: None,
            }
        }
        Body::GetParameterNamesResponse(r)
            if matches!(f.spec, TaskSpec::GetParameterNames { .. }) =>
        {
            TaskOutcome::Reported {
                result: serde_json::json!({
                    "parameters": r.parameter_list.iter().map(|p| serde_json::json!({
                        "name": p.name,
                        "writable": p.writable,
                    })).collect::<Vec<_>>(),
                }),
                fault: None,
            }
        }
        Body::GetParameterAttributesResponse(r)
            if matches!(f.spec, TaskSpec::GetParameterAttributes { .. }) =>
        {
            TaskOutcome::Reported {
                result: serde_json::json!({
                    "parameters": r.parameter_list.iter().map(|p| serde_json::json!({
                        "name": p.name,
                        "notification": p.notification,
                        "access_list": p.access_list,
                    })).collect::<Vec<_>>(),
                }),
                fault: None,
            }
        }
        Body::GetQueuedTransfersResponse(r) => TaskOutcome::Reported {
            result: serde_json::json!({
                "transfers": r.transfer_list.iter().map(|t| serde_json::json!({
                    "command_key": t.command_key,
                    "state": transfer_state(t.state),
                })).collect::<Vec<_>>(),
            }),
            fault: None,
        },
        Body::GetAllQueuedTransfersResponse(r) => TaskOutcome::Reported {
            result: serde_json::json!({
                "transfers": r.transfer_list.iter().map(|t| serde_json::json!({
                    "command_key": t.command_key,
                    "state": transfer_state(t.state),
                    "is_download": t.is_download,
                    "file_type": t.file_type,
                    "file_size": t.file_size,
                    "target_file_name": t.target_file_name,
                })).collect::<Vec<_>>(),
            }),
            fault: None,
        },
        _ => TaskOutcome::Done,
    }
}

/// The CPE methods TR-069 requires of every CPE (Annex A, Table 5): never refused because a
/// reported method list lacks them.
const REQUIRED_CPE_METHODS: [Method; 10] = [
    Method::GetRpcMethods,
    Method::SetParameterValues,
    Method::GetParameterValues,
    Method::GetParameterNames,
    Method::SetParameterAttributes,
    Method::GetParameterAttributes,
    Method::AddObject,
    Method::DeleteObject,
    Method::Reboot,
    Method::Download,
];

/// The method list a done `get_rpc_methods` task reported (`{"methods": [...]}`, as
/// [`success_outcome`] writes it); `None` for any other shape.
fn reported_methods(task: &Task) -> Option<Vec<String>> {
    let methods = task.result.as_ref()?.0.get("methods")?.as_array()?;
    methods
        .iter()
        .map(|m| m.as_str().map(|m| m.trim().to_owned()))
        .collect()
}

/// A queued transfer's `State` (TR-069 `TransferStateType`) as the API shows it.
fn transfer_state(state: i32) -> String {
    match state {
        1 => "not_started".to_owned(),
        2 => "in_progress".to_owned(),
        3 => "completed".to_owned(),
        other => other.to_string(),
    }
}

/// What a DUStateChangeComplete reports, as its task's outcome: the per-operation results
/// kept as the task's result; the first failed operation's fault fails the task for good.
fn du_outcome(d: &cwmp::DuStateChangeComplete) -> TaskOutcome {
    let results: Vec<serde_json::Value> = d
        .results
        .iter()
        .map(|r| {
            serde_json::json!({
                "uuid": r.uuid,
                "deployment_unit_ref": r.deployment_unit_ref,
                "version": r.version,
                "current_state": r.current_state,
                "resolved": r.resolved,
                "execution_unit_ref_list": r.execution_unit_ref_list,
                "start_time": r.start_time.raw,
                "complete_time": r.complete_time.raw,
                "fault_code": r.fault.fault_code.0,
                "fault_string": r.fault.fault_string,
            })
        })
        .collect();
    let fault = d
        .results
        .iter()
        .enumerate()
        .find(|(_, r)| r.fault.fault_code.0 != 0)
        .map(|(i, r)| {
            let text = if r.fault.fault_string.trim().is_empty() {
                r.fault.fault_code.meaning().unwrap_or("fault").to_owned()
            } else {
                r.fault.fault_string.clone()
            };
            (
                i64::from(r.fault.fault_code.0),
                format!("operation {i}: {text}"),
            )
        });
    TaskOutcome::Reported {
        result: serde_json::json!({ "results": results }),
        fault,
    }
}

fn param_value(p: &ParameterValueStruct) -> ParameterValue {
    ParameterValue {
        path: p.name.clone(),
        value: p.value.raw.clone(),
        xsd_type: p.value.xsd_type.name().to_owned(),
        writable: None,
    }
}

/// `Device.` or `InternetGatewayDevice.`, from the first segment of the Inform's parameters.
fn data_model_root(params: &[ParameterValueStruct]) -> &'static str {
    if params.iter().any(|p| p.name.starts_with("Device.")) {
        "Device."
    } else {
        "InternetGatewayDevice."
    }
}

/// What the store keeps of an Inform (PROTOCOL §8 forced parameters, §13).
fn store_inform(
    inform: &cwmp::Inform,
    serial: &str,
    ctx: &RequestContext,
    auto_register: bool,
    now: DateTime<Utc>,
) -> StoreInform {
    let find = |suffix: &str| {
        inform
            .parameter_list
            .iter()
            .find(|p| p.name.ends_with(suffix))
            .map(|p| p.value.raw.trim().to_owned())
    };
    // Thomson sends `.ExternalIPAddress` with no path; TR-181 names the IP interface address
    let address = find("ExternalIPAddress")
        .or_else(|| find("IPv4Address.1.IPAddress"))
        .filter(|a| !a.is_empty())
        .or_else(|| ctx.peer_ip.clone());
    let non_empty = |s: &str| {
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_owned())
    };
    StoreInform {
        serial_number: serial.to_owned(),
        oui: inform.device_id.oui.trim().to_owned(),
        product_class: non_empty(&inform.device_id.product_class),
        manufacturer: non_empty(&inform.device_id.manufacturer),
        software_version: find("DeviceInfo.SoftwareVersion"),
        hardware_version: find("DeviceInfo.HardwareVersion"),
        connection_request_url: find("ManagementServer.ConnectionRequestURL"),
        address,
        peer_address: ctx.peer_ip.clone(),
        parameter_key: find("ManagementServer.ParameterKey"),
        events: inform
            .event
            .iter()
            .map(|e| InformEvent {
                code: e.event_code.trim().to_owned(),
                command_key: e.command_key.trim().to_owned(),
            })
            .collect(),
        parameters: inform.parameter_list.iter().map(param_value).collect(),
        auto_register,
        now,
    }
}
