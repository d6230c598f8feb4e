//! One virtual CPE: its data model, the events waiting for an Inform, and the CWMP session as
//! the CPE side runs it (PROTOCOL §3): Inform, its own requests, then the ACS's requests until
//! the ACS has no more; and what it does once the session is over (reboot, factory reset,
//! transfers).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cwmp::{Body, Decoded, EncodeOptions, Envelope, EventStruct, Header, XsdDateTime};

use crate::answer::{self, Deferred};
use crate::behaviour::{Behaviour, Behaviours};
use crate::datamodel::Device;
use crate::digest::ChallengeRules;
use crate::events;
use crate::settings::Settings;
use crate::software::{SoftwareModules, Times};
use crate::transfers::{Job, Queued, TransferQueue};
use crate::transport::{Client, Reply, Target, TransportError};

/// How many ACS requests one session may carry before the CPE gives up on it (a loop guard).
const MAX_REQUESTS_PER_SESSION: usize = 10_000;

/// A virtual CPE. The session task owns its progress; the connection-request listener only
/// reads credentials and sets [`Cpe::request_connection`].
#[derive(Debug)]
pub struct Cpe {
    pub serial: String,
    state: Mutex<CpeState>,
    /// Woken by a connection request.
    pub wake: tokio::sync::Notify,
    /// A connection request was accepted and not yet put into an Inform.
    cr_pending: AtomicBool,
    /// The vendor behaviours this device shows (`--behaviour`).
    pub behaviours: Behaviours,
}

/// What changes as the CPE lives.
#[derive(Debug)]
pub struct CpeState {
    pub device: Device,
    /// Events not yet delivered (an InformResponse delivers them).
    pending: Vec<EventStruct>,
    /// Failed session attempts since the last successful one (the Inform's RetryCount).
    pub retry_count: u32,
    /// The CPE's own requests for the next session: TransferComplete, DUStateChangeComplete.
    outbox: Vec<Body>,
    /// Accepted transfers not yet carried out.
    pub transfers: TransferQueue,
    /// Installed deployment units.
    pub software: SoftwareModules,
    /// Actions waiting for the end of the current session.
    deferred: Vec<Deferred>,
    /// ScheduleInform requests: when, and their CommandKey.
    pub scheduled: Vec<(Instant, String)>,
    rng: u64,
    next_id: u32,
}

/// What a successful session did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionReport {
    /// The event codes of the Inform.
    pub informed: Vec<String>,
    /// The ACS requests answered, by method name.
    pub rpcs: Vec<String>,
}

/// Why a session failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("http status {0}")]
    Status(u16),
    #[error("cannot decode the acs message: {0}")]
    Decode(String),
    #[error("unexpected message: {0}")]
    Unexpected(String),
    #[error("acs fault {0}")]
    Fault(u32),
    /// The agent crashed mid-session (a vendor behaviour): the connection dropped unanswered.
    #[error("the agent crashed on {0}")]
    Crashed(String),
}

impl SessionError {
    /// A short name for reports and events: `connect`, `timeout`, `http`, `http_status_503`,
    /// `auth_unsupported`, `decode`, `unexpected_message`, `fault_8005`, `crashed`.
    pub fn kind(&self) -> String {
        match self {
            SessionError::Transport(TransportError::Connect(_)) => "connect".to_owned(),
            SessionError::Transport(TransportError::Timeout(_)) => "timeout".to_owned(),
            SessionError::Transport(TransportError::Http(_)) => "http".to_owned(),
            SessionError::Transport(TransportError::Auth(_)) => "auth_unsupported".to_owned(),
            SessionError::Transport(TransportError::Unauthorized(_)) => {
                "http_status_401".to_owned()
            }
            SessionError::Status(s) => format!("http_status_{s}"),
            SessionError::Decode(_) => "decode".to_owned(),
            SessionError::Unexpected(_) => "unexpected_message".to_owned(),
            SessionError::Fault(c) => format!("fault_{c}"),
            SessionError::Crashed(_) => "crashed".to_owned(),
        }
    }

    /// The non-2xx HTTP status that ended the session, if one did.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            SessionError::Status(s) => Some(*s),
            SessionError::Transport(TransportError::Unauthorized(_)) => Some(401),
            _ => None,
        }
    }
}

impl Cpe {
    pub fn new(device: Device, seed: u64) -> Cpe {
        Cpe {
            serial: device.device_id().serial_number,
            state: Mutex::new(CpeState {
                device,
                pending: Vec::new(),
                retry_count: 0,
                outbox: Vec::new(),
                transfers: TransferQueue::default(),
                software: SoftwareModules::default(),
                deferred: Vec::new(),
                scheduled: Vec::new(),
                rng: seed | 1,
                next_id: 1,
            }),
            wake: tokio::sync::Notify::new(),
            cr_pending: AtomicBool::new(false),
            behaviours: Behaviours::NONE,
        }
    }

    /// The device showing `behaviours`.
    pub fn with_behaviours(mut self, behaviours: Behaviours) -> Cpe {
        self.behaviours = behaviours;
        self
    }

    /// Whether the device shows behaviour `b`.
    pub fn behaves(&self, b: Behaviour) -> bool {
        self.behaviours.has(b)
    }

    /// The agent's process starts again after a crash or an exit: what it held in memory
    /// (events not yet delivered, actions due after the session, scheduled Informs, a
    /// connection request) is gone, RetryCount starts over, and it informs `1 BOOT`. The data
    /// model, queued transfers and owed TransferCompletes are kept, as on flash.
    pub fn restart(&self) {
        self.cr_pending.store(false, Ordering::Release);
        let mut st = self.state();
        st.pending.clear();
        st.deferred.clear();
        st.scheduled.clear();
        st.retry_count = 0;
        st.queue_event("1 BOOT", "");
    }

    /// The state, for the listener and the run loop (never held across an await).
    pub fn state(&self) -> MutexGuard<'_, CpeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues an event for the next Inform. Single events (`0 BOOTSTRAP`, `2 PERIODIC` …) are
    /// kept once; `M …` events once per CommandKey.
    pub fn queue_event(&self, code: &str, command_key: &str) {
        self.state().queue_event(code, command_key);
    }

    /// Records an accepted connection request and wakes the device; `false` if one is already
    /// waiting (the listener answers 503 then).
    pub fn request_connection(&self) -> bool {
        if self.cr_pending.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.wake.notify_one();
        true
    }

    /// Whether a connection request waits for a session.
    pub fn connection_requested(&self) -> bool {
        self.cr_pending.load(Ordering::Acquire)
    }

    /// One CWMP session with the ACS. Events stay queued unless an InformResponse arrives.
    pub async fn session(&self, settings: &Settings) -> Result<SessionReport, SessionError> {
        let (credentials, inform, informed) = {
            let mut st = self.state();
            if self.cr_pending.swap(false, Ordering::AcqRel) {
                st.queue_event("6 CONNECTION REQUEST", "");
            }
            // A completion not yet delivered (the ACS held requests, or the session failed)
            // is announced again until its message gets through.
            for code in st.outbox_events() {
                st.queue_event(code, "");
            }
            let changes = st.device.value_changes();
            if !changes.parameters.is_empty() {
                st.queue_event("4 VALUE CHANGE", "");
            }
            let codes: Vec<&str> = st.pending.iter().map(|e| e.event_code.as_str()).collect();
            let mut parameters = st.device.inform_parameters(&codes);
            for p in changes.parameters {
                if !parameters.iter().any(|q| q.name == p.name) {
                    parameters.push(p);
                }
            }
            let id = st.device.device_id();
            let mut event = st.pending.clone();
            if self.behaves(Behaviour::EmptyCommandKey) {
                for e in event.iter_mut().filter(|e| e.event_code.starts_with("M ")) {
                    e.command_key.clear();
                }
            }
            let inform = cwmp::Inform {
                device_id: cwmp::DeviceId {
                    manufacturer: id.manufacturer,
                    oui: id.oui,
                    product_class: id.product_class,
                    serial_number: id.serial_number,
                },
                event,
                max_envelopes: 1,
                current_time: now_xsd(),
                retry_count: st.retry_count,
                parameter_list: parameters.into_iter().map(answer::to_cwmp_value).collect(),
            };
            let informed: Vec<String> = st.pending.iter().map(|e| e.event_code.clone()).collect();
            let mut envelope = Envelope::new(settings.version.namespace(), inform);
            envelope.header = st.request_header(settings);
            let get = |leaf: &str| st.device.management_server(leaf).to_owned();
            ((get("Username"), get("Password")), envelope, informed)
        };
        let mut client = Client::new(
            settings.acs.clone(),
            settings.quirks.wire,
            settings.http_timeout,
            &credentials.0,
            &credentials.1,
        )
        .with_rules(self.behaviours.challenge_rules());
        let wire = Wire {
            settings,
            behaviours: self.behaviours,
        };
        let mut report = SessionReport {
            informed,
            rpcs: Vec::new(),
        };

        // 1. Inform → InformResponse.
        let reply = send(&mut client, wire, Some(&inform)).await?;
        let response = expect_envelope(&reply, wire)?;
        let hold = match &response.body {
            Body::InformResponse(_) => response.header.hold_requests == Some(true),
            Body::Fault(f) => return Err(SessionError::Fault(f.code().map_or(0, |c| c.0))),
            other => {
                return Err(SessionError::Unexpected(format!(
                    "{} in answer to Inform",
                    other.name()
                )));
            }
        };
        {
            let mut st = self.state();
            let delivered = inform_event_count(&inform);
            let delivered = delivered.min(st.pending.len());
            st.pending.drain(..delivered);
            st.device.clear_value_changes();
        }

        // 2. The CPE's own requests (TransferComplete, DUStateChangeComplete), unless the ACS
        // holds them back (HoldRequests, TR-069 §3.7.1.3): they then wait for a later session.
        if !hold {
            loop {
                let next = {
                    let mut st = self.state();
                    let Some(request) = st.outbox.first().cloned() else {
                        break;
                    };
                    let mut envelope = Envelope::new(settings.version.namespace(), request);
                    envelope.header = st.request_header(settings);
                    envelope
                };
                let expected = format!("{}Response", next.body.name());
                let reply = send(&mut client, wire, Some(&next)).await?;
                match expect_envelope(&reply, wire)?.body {
                    Body::Fault(f) => return Err(SessionError::Fault(f.code().map_or(0, |c| c.0))),
                    answer if answer.name() == expected => {
                        self.state().outbox.remove(0);
                    }
                    other => {
                        return Err(SessionError::Unexpected(format!(
                            "{} in answer to {}",
                            other.name(),
                            next.body.name()
                        )));
                    }
                }
            }
        }

        // 3. Empty POST, then answer the ACS's requests until it has none (204).
        let mut reply = send(&mut client, wire, None).await?;
        for _ in 0..MAX_REQUESTS_PER_SESSION {
            if reply.status == 204
                || (reply.status == 200 && reply.body.iter().all(u8::is_ascii_whitespace))
            {
                self.state().retry_count = 0;
                return Ok(report);
            }
            let request = expect_envelope(&reply, wire)?;
            if matches!(request.body, Body::Fault(_)) || request.body.name().ends_with("Response") {
                return Err(SessionError::Unexpected(format!(
                    "{} while waiting for a request",
                    request.body.name()
                )));
            }
            if let Some(partial) = self.crashing_request(&request.body) {
                // Returning drops the client, and with it the connection, unanswered.
                return Err(SessionError::Crashed(format!(
                    "GetParameterValues of the partial path {partial:?}"
                )));
            }
            let method = request.body.name().to_owned();
            let response = {
                let mut st = self.state();
                let draw = st.draw();
                let body = match settings.faults.fault_for(&method, draw) {
                    Some(code) => {
                        answer::fault(code, format!("injected fault {code} for {method}"))
                    }
                    None => {
                        let CpeState {
                            device,
                            deferred,
                            transfers,
                            ..
                        } = &mut *st;
                        let later = answer::Later {
                            deferred,
                            transfers,
                            now: Instant::now(),
                        };
                        answer::answer(device, &request.body, later)
                    }
                };
                request.reply(body)
            };
            report.rpcs.push(method);
            reply = send(&mut client, wire, Some(&response)).await?;
        }
        Err(SessionError::Unexpected(format!(
            "more than {MAX_REQUESTS_PER_SESSION} requests in one session"
        )))
    }

    /// Carries out what the session left for afterwards. Returns whether the device should
    /// open a new session right away (after a reboot, a factory reset or a transfer).
    pub async fn after_session(&self, settings: &Settings) -> bool {
        let deferred = std::mem::take(&mut self.state().deferred);
        let mut immediate = false;
        for action in deferred {
            match action {
                Deferred::Reboot { command_key } => {
                    tokio::time::sleep(settings.reboot_delay).await;
                    {
                        let mut st = self.state();
                        st.queue_event("1 BOOT", "");
                        if !self.behaves(Behaviour::BootOnlyAfterReboot) {
                            st.queue_event("M Reboot", &command_key);
                        }
                    }
                    events::emit(
                        settings,
                        &self.serial,
                        "rebooted",
                        serde_json::json!({ "command_key": command_key }),
                    );
                    immediate = true;
                }
                Deferred::FactoryReset => {
                    tokio::time::sleep(settings.reboot_delay).await;
                    {
                        let mut st = self.state();
                        st.device.factory_reset();
                        settings.apply_overrides(&mut st.device);
                        st.device.clear_value_changes();
                        st.pending.clear();
                        st.outbox.clear();
                        st.transfers.clear();
                        st.software.clear();
                        st.scheduled.clear();
                        if !self.behaves(Behaviour::NoBootstrapAfterReset) {
                            st.queue_event("0 BOOTSTRAP", "");
                        }
                        st.queue_event("1 BOOT", "");
                    }
                    events::emit(
                        settings,
                        &self.serial,
                        "factory_reset",
                        serde_json::json!({}),
                    );
                    immediate = true;
                }
                Deferred::ScheduleInform {
                    delay_seconds,
                    command_key,
                } => {
                    let at = Instant::now() + Duration::from_secs(u64::from(delay_seconds));
                    self.state().scheduled.push((at, command_key));
                }
                Deferred::ChangeDuState(c) => {
                    self.change_du_state(settings, &c).await;
                    immediate = true;
                }
            }
        }
        immediate | self.run_due_transfers(settings).await
    }

    /// When the next queued transfer may start.
    pub fn next_transfer(&self) -> Option<Instant> {
        self.state().transfers.next_start()
    }

    /// Carries out the queued transfers whose time has come. Returns whether any did (the
    /// device then opens a session to report them).
    pub async fn run_due_transfers(&self, settings: &Settings) -> bool {
        let due = self.state().transfers.take_due(Instant::now());
        let any = !due.is_empty();
        for q in due {
            self.transfer(settings, q).await;
        }
        any
    }

    async fn transfer(&self, settings: &Settings, q: Queued) {
        let missed = q.missed(Instant::now());
        match q.job {
            Job::Download(d) => self.download(settings, &d, "Download", false).await,
            Job::ScheduleDownload(s) => {
                let d = cwmp::Download {
                    command_key: s.command_key,
                    file_type: s.file_type,
                    url: s.url,
                    username: s.username,
                    password: s.password,
                    file_size: s.file_size,
                    target_file_name: s.target_file_name,
                    ..cwmp::Download::default()
                };
                self.download(settings, &d, "ScheduleDownload", missed)
                    .await;
            }
            Job::Upload(u) => self.upload(settings, &u).await,
        }
    }

    /// Applies ChangeDUState's operations in order (fetching each Install or Update file)
    /// and queues DUStateChangeComplete with one result per operation.
    async fn change_du_state(&self, settings: &Settings, c: &cwmp::ChangeDuState) {
        let mut results = Vec::with_capacity(c.operations.len());
        for op in &c.operations {
            let start = now_xsd();
            let source = self.state().software.source(op);
            let fetched = match source {
                Some(src) => fetch_as(
                    settings,
                    self.behaviours.challenge_rules(),
                    &src.url,
                    &src.username,
                    &src.password,
                    0,
                )
                .await
                .map(|_| ()),
                None => Ok(()),
            };
            let mut st = self.state();
            let root = st.device.root().to_owned();
            let uuid = crate::software::random_uuid(
                crate::digest::random_u64(),
                crate::digest::random_u64(),
            );
            let times = Times {
                start,
                complete: now_xsd(),
            };
            results.push(st.software.apply(op, fetched, &root, || uuid, times));
        }
        {
            let mut st = self.state();
            st.outbox.push(
                cwmp::DuStateChangeComplete {
                    results: results.clone(),
                    command_key: c.command_key.clone(),
                }
                .into(),
            );
            st.queue_event("11 DU STATE CHANGE COMPLETE", "");
            st.queue_event("M ChangeDUState", &c.command_key);
        }
        let states: Vec<_> = results
            .iter()
            .map(|r| serde_json::json!({ "uuid": r.uuid, "state": r.current_state, "version": r.version, "fault_code": r.fault.fault_code.0 }))
            .collect();
        events::emit(
            settings,
            &self.serial,
            "du_changed",
            serde_json::json!({ "command_key": c.command_key, "results": states }),
        );
    }

    /// Fetches a Download's (or ScheduleDownload's) file, checks its size and queues the
    /// TransferComplete with `M <method>`. A firmware image changes
    /// `DeviceInfo.SoftwareVersion` to [`firmware_version`] of the URL and the device boots it
    /// (`1 BOOT`). `missed`: its time windows passed before it could start (fault 9020).
    async fn download(&self, settings: &Settings, d: &cwmp::Download, method: &str, missed: bool) {
        let start = now_xsd();
        let result: Result<u64, (u32, String)> = if missed {
            Err((
                9020,
                "the time windows passed before the download could start".to_owned(),
            ))
        } else {
            fetch_as(
                settings,
                self.behaviours.challenge_rules(),
                &d.url,
                &d.username,
                &d.password,
                d.file_size,
            )
            .await
        };
        let (code, message) = match &result {
            Ok(_) => (0, String::new()),
            Err((c, m)) => (*c, m.clone()),
        };
        let firmware = d.file_type == "1 Firmware Upgrade Image";
        let mut version = None;
        {
            let mut st = self.state();
            if code == 0 && firmware {
                let v = firmware_version(&d.url);
                let name = format!("{}DeviceInfo.SoftwareVersion", st.device.root());
                if st.device.set(&name, &v).is_ok() {
                    version = Some(v);
                }
                st.queue_event("1 BOOT", "");
            }
            st.outbox
                .push(transfer_complete(&d.command_key, code, &message, start).into());
            st.queue_event("7 TRANSFER COMPLETE", "");
            st.queue_event(&format!("M {method}"), &d.command_key);
        }
        events::emit(
            settings,
            &self.serial,
            "downloaded",
            serde_json::json!({
                "url": d.url,
                "file_type": d.file_type,
                "fault_code": code,
                "bytes": result.as_ref().map_or(0, |length| *length),
                "software_version": version,
            }),
        );
    }

    /// PUTs the requested file (a configuration dump: every parameter as `name=value`; or a
    /// short log) and queues the TransferComplete.
    async fn upload(&self, settings: &Settings, u: &cwmp::Upload) {
        let start = now_xsd();
        let file = {
            let st = self.state();
            let mut text = String::new();
            if u.file_type == "1 Vendor Configuration File" {
                for p in st.device.get_parameter_values(&[""]).unwrap_or_default() {
                    text.push_str(&p.name);
                    text.push('=');
                    text.push_str(&p.value);
                    text.push('\n');
                }
            } else {
                text.push_str(&format!("cpe-sim {}: log\n", self.serial));
            }
            Bytes::from(text)
        };
        let result: Result<(), (u32, String)> = async {
            let target = Target::parse(&u.url).map_err(|e| (9013, e))?;
            let mut client = Client::new(
                target,
                crate::transport::Wire::default(),
                settings.http_timeout,
                &u.username,
                &u.password,
            )
            .with_rules(self.behaviours.challenge_rules());
            let reply = client
                .put(file, "application/octet-stream")
                .await
                .map_err(|e| (9011, e.to_string()))?;
            if !(200..300).contains(&reply.status) {
                return Err((9011, format!("http status {} for {}", reply.status, u.url)));
            }
            Ok(())
        }
        .await;
        let (code, message) = result.err().unwrap_or((0, String::new()));
        {
            let mut st = self.state();
            st.outbox
                .push(transfer_complete(&u.command_key, code, &message, start).into());
            st.queue_event("7 TRANSFER COMPLETE", "");
            st.queue_event("M Upload", &u.command_key);
        }
        events::emit(
            settings,
            &self.serial,
            "uploaded",
            serde_json::json!({ "url": u.url, "fault_code": code }),
        );
    }
}

impl Cpe {
    /// The partial path of a GetParameterValues that crashes this agent, if it is one.
    fn crashing_request<'a>(&self, request: &'a Body) -> Option<&'a str> {
        if !self.behaves(Behaviour::CrashOnPartialPath) {
            return None;
        }
        match request {
            Body::GetParameterValues(g) => g
                .parameter_names
                .iter()
                .find(|n| n.is_empty() || n.ends_with('.'))
                .map(String::as_str),
            _ => None,
        }
    }
}

impl CpeState {
    /// See [`Cpe::queue_event`].
    pub fn queue_event(&mut self, code: &str, command_key: &str) {
        let multiple = code.starts_with("M ");
        let present = self
            .pending
            .iter()
            .any(|e| e.event_code == code && (!multiple || e.command_key == command_key));
        if !present {
            self.pending.push(EventStruct {
                event_code: code.to_owned(),
                command_key: command_key.to_owned(),
            });
        }
    }

    /// The single events owed for the messages still in the outbox.
    fn outbox_events(&self) -> Vec<&'static str> {
        let mut codes = Vec::new();
        for m in &self.outbox {
            match m {
                Body::TransferComplete(_) => codes.push("7 TRANSFER COMPLETE"),
                Body::DuStateChangeComplete(_) => codes.push("11 DU STATE CHANGE COMPLETE"),
                _ => {}
            }
        }
        codes
    }

    /// The events waiting for the next Inform.
    pub fn pending_events(&self) -> &[EventStruct] {
        &self.pending
    }

    /// A uniform draw in [0, 1) (xorshift: cheap, per device, no shared state).
    pub fn draw(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The header of a request the CPE sends: its own `cwmp:ID`, and the version headers
    /// (1.3: SessionTimeout; 1.4: SupportedCWMPVersions too).
    fn request_header(&mut self, settings: &Settings) -> Header {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let mut header = Header::with_id(format!("cpe-{id}"));
        if settings.version >= cwmp::CwmpVersion::V1_3 {
            header.session_timeout = Some(settings.http_timeout.as_secs() as u32);
        }
        if settings.version == cwmp::CwmpVersion::V1_4 {
            header.supported_cwmp_versions = Some("1.0,1.1,1.2,1.3,1.4".to_owned());
        }
        header
    }
}

/// GETs `url` (with `user`/`password` if the server asks) and checks the size when `size` is
/// not 0: the file's length, or the TransferComplete fault (9013 bad URL, 9015 cannot connect,
/// 9016 HTTP error, 9017 transfer failed or timed out, 9018 size mismatch).
///
/// The body is streamed and only counted: a Download and a deployment unit are judged by
/// their status and size alone, so nothing of the file is kept, and a fleet fetching a large
/// image at once holds one read buffer per device
/// ([`FILE_READ_BUFFER`](crate::transport::FILE_READ_BUFFER)), not one image.
pub async fn fetch(
    settings: &Settings,
    url: &str,
    user: &str,
    password: &str,
    size: u32,
) -> Result<u64, (u32, String)> {
    fetch_as(
        settings,
        ChallengeRules::default(),
        url,
        user,
        password,
        size,
    )
    .await
}

/// [`fetch`] by a client that reads 401 challenges the way `rules` say.
pub async fn fetch_as(
    settings: &Settings,
    rules: ChallengeRules,
    url: &str,
    user: &str,
    password: &str,
    size: u32,
) -> Result<u64, (u32, String)> {
    let target = Target::parse(url).map_err(|e| (9013, e))?;
    let mut client = Client::new(
        target,
        crate::transport::Wire::default(),
        settings.http_timeout,
        user,
        password,
    )
    .for_files()
    .with_rules(rules);
    let fetched = client.get().await.map_err(|e| match e {
        TransportError::Connect(m) => (9015, m),
        other => (9017, other.to_string()),
    })?;
    if fetched.status != 200 {
        return Err((9016, format!("http status {} for {url}", fetched.status)));
    }
    if size > 0 && fetched.length != u64::from(size) {
        return Err((
            9018,
            format!("file is {} bytes, FileSize says {size}", fetched.length),
        ));
    }
    Ok(fetched.length)
}

/// The SoftwareVersion a firmware image brings: the file name of its URL without extension
/// (`http://fw/acme-2.1.0.bin` → `acme-2.1.0`; acs's `<sha256>-acme-2.1.0.bin` → `acme-2.1.0`),
/// so a test knows what to expect; `unknown` if the URL has no file name.
pub fn firmware_version(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let path = path.split_once("://").map_or(path, |(_, rest)| rest);
    let file = match path.split_once('/') {
        Some((_, p)) => p.rsplit('/').next().unwrap_or_default(),
        None => "",
    };
    let stem = match file.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => file,
    };
    // acs names its files `<sha256 hex>-<uploaded name>`: the version is in the uploaded name
    let stem = match stem.split_once('-') {
        Some((hash, rest))
            if hash.len() == 64
                && !rest.is_empty()
                && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            rest
        }
        _ => stem,
    };
    if stem.is_empty() {
        "unknown".to_owned()
    } else {
        stem.chars().take(64).collect()
    }
}

fn inform_event_count(inform: &Envelope) -> usize {
    match &inform.body {
        Body::Inform(i) => i.event.len(),
        _ => 0,
    }
}

fn transfer_complete(
    command_key: &str,
    code: u32,
    message: &str,
    start: XsdDateTime,
) -> cwmp::TransferComplete {
    let failed = code != 0;
    cwmp::TransferComplete {
        command_key: command_key.to_owned(),
        fault_struct: cwmp::TransferFault {
            fault_code: cwmp::FaultCode(code),
            fault_string: message.to_owned(),
        },
        start_time: if failed {
            XsdDateTime::unknown()
        } else {
            start
        },
        complete_time: if failed {
            XsdDateTime::unknown()
        } else {
            now_xsd()
        },
    }
}

/// The current time as the Inform's CurrentTime.
pub fn now_xsd() -> XsdDateTime {
    XsdDateTime::from_utc(chrono::Utc::now())
}

/// How one device's messages look on the wire: the run's quirks and the device's behaviours.
#[derive(Clone, Copy)]
struct Wire<'a> {
    settings: &'a Settings,
    behaviours: Behaviours,
}

/// POSTs `message` (or the empty POST) encoded as the quirks say.
async fn send(
    client: &mut Client,
    wire: Wire<'_>,
    message: Option<&Envelope>,
) -> Result<Reply, SessionError> {
    let reply = match message {
        Some(m) => {
            let (bytes, content_type) = encode(m, wire.settings, wire.behaviours);
            client.post(Some(bytes), content_type).await?
        }
        None => client.post(None, "").await?,
    };
    Ok(reply)
}

/// The envelope of a 200 answer.
fn expect_envelope(reply: &Reply, wire: Wire<'_>) -> Result<Envelope, SessionError> {
    if reply.status != 200 {
        return Err(SessionError::Status(reply.status));
    }
    if wire.behaviours.has(Behaviour::NoXmlDeclaration) && starts_with_declaration(&reply.body) {
        return Err(SessionError::Decode(
            "the message starts with an XML declaration, which this agent cannot parse".to_owned(),
        ));
    }
    match cwmp::decode(&reply.body, reply.content_type.as_deref()) {
        Ok(Decoded::Envelope(e)) => Ok(e),
        Ok(Decoded::EmptyBody) => Err(SessionError::Unexpected("empty answer".to_owned())),
        Err(e) => Err(SessionError::Decode(e.to_string())),
    }
}

/// Whether `body` begins (after a byte-order mark and white space) with `<?xml`.
fn starts_with_declaration(body: &[u8]) -> bool {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    body.trim_ascii_start().starts_with(b"<?xml")
}

/// Encodes a message the CPE sends, with its quirks (no Header, zero-padded array counts,
/// ISO-8859-1) and behaviours (no XML declaration). Returns the bytes and the Content-Type.
pub fn encode(
    message: &Envelope,
    settings: &Settings,
    behaviours: Behaviours,
) -> (Bytes, &'static str) {
    let q = settings.quirks;
    let options = EncodeOptions {
        xml_declaration: !behaviours.has(Behaviour::NoXmlDeclaration),
        ..EncodeOptions::default()
    };
    let bytes = if q.no_header {
        let mut m = message.clone();
        m.header = Header::default();
        m.encode(&options)
    } else {
        message.encode(&options)
    };
    let mut text = String::from_utf8(bytes).unwrap_or_default();
    if q.zero_padded_arrays {
        text = zero_pad_arrays(&text);
    }
    if q.iso_8859_1 {
        let text = text.replacen("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"", 1);
        let latin1: Vec<u8> = text
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect();
        (Bytes::from(latin1), "text/xml; charset=ISO-8859-1")
    } else {
        (Bytes::from(text), "text/xml; charset=\"utf-8\"")
    }
}

/// `arrayType="cwmp:EventStruct[2]"` → `arrayType="cwmp:EventStruct[0002]"` (seen on old
/// Broadcom-based stacks).
fn zero_pad_arrays(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(i) = rest.find("arrayType=\"") {
        let after = i + "arrayType=\"".len();
        out.push_str(&rest[..after]);
        rest = &rest[after..];
        if let (Some(open), Some(close)) = (rest.find('['), rest.find(']'))
            && open < close
            && !rest[..open].contains('"')
        {
            out.push_str(&rest[..=open]);
            out.push_str(&format!("{:0>4}", &rest[open + 1..close]));
            rest = &rest[close..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::firmware_version;

    #[test]
    fn firmware_version_is_the_uploaded_file_name_without_extension() {
        assert_eq!(firmware_version("http://fw/acme-2.1.0.bin"), "acme-2.1.0");
        let hash = "097fdfa9e892c81ec7dc0e844a61ba4b6f60d8f1e1af4001b9ab7263cdce0454";
        assert_eq!(
            firmware_version(&format!(
                "http://acs:7547/files/firmware/{hash}-acme-2.1.0.bin?expires=1&sig=x"
            )),
            "acme-2.1.0"
        );
        // a short prefix is part of the name
        assert_eq!(firmware_version("http://fw/abc-1.0.bin"), "abc-1.0");
        assert_eq!(firmware_version("http://fw/"), "unknown");
    }
}
