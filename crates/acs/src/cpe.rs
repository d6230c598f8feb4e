//! The CPE listener: CWMP sessions (PROTOCOL §2) over the lean HTTP/1.x layer of
//! [`crate::http1`], around the engine.
//!
//! Per request: CPE authentication from the head ([`admit`]: before the request waits at the
//! gate and before its body is read), size-capped body (chunked, `Expect: 100-continue`;
//! gzip here), session lookup by cookie and else by TCP connection (cookie-less CPEs), then
//! [`Engine::handle`]. An Inform always opens a new session, and ends an older session of
//! the same device still open in this process (a CPE that reconnects after dropping).
//!
//! Identity (DESIGN §8): a request authenticates as an [`Identity`]: one device (per-device
//! CWMP credentials, or a client certificate's CommonName), the shared credentials of the
//! configuration, or anyone (authentication off). A device identity may Inform only as its
//! own serial number; a session belongs to the identity that opened it, and a request that
//! authenticates as another identity is refused (403) whatever cookie it carries. Idle sessions are dropped by
//! [`expire_idle`]. At most `--cwmp-requests-at-once` admitted requests ([`REQUESTS_AT_ONCE`]
//! by default) are handled at once per listener; the rest wait with their bodies unread, for
//! at most the header timeout, then get 503.

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use acs_session::auth::{AuthMode, CpeAuthenticator};
use acs_session::cookie::{SessionCookie, find_cookie, new_session_id};
use acs_session::engine::{Engine, Reply, RequestContext, Session, StoreBackend};
use acs_session::{Credentials, Secret};
use acs_store::Store;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tokio::net::TcpListener;
use tokio::sync::{Mutex as AsyncMutex, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::auth_failures::AuthFailureLog;
use crate::http1::{self, Body, Limits, Refusal, busy, plain as simple};
use crate::trace::{Recorded, Tracer};
use crate::{files, tls};

pub const COOKIE_NAME: &str = "acs_session";

/// Requests handled at once per listener by default (`--cwmp-requests-at-once`). Enough to
/// fill the store writer's batches many times over; beyond it, requests wait with only their
/// heads read, their bodies still in the kernel's socket buffers, so memory stays flat however
/// many CPEs connect at once.
pub const REQUESTS_AT_ONCE: usize = 512;

type SharedSession = Arc<AsyncMutex<SessionEntry>>;

pub struct SessionEntry {
    pub session: Session,
    /// Who opened the session with its Inform: every later request of it must be the same
    /// identity, or present no credentials at all (CPEs that send Authorization once).
    pub identity: Identity,
    /// The digest/Basic username the session was opened with, if any: a later request that
    /// names the same one continues the session without being verified again.
    pub username: Option<String>,
}

/// Who a CPE request authenticated as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// CPE authentication is off: anyone, as any device.
    Anonymous,
    /// The shared credentials of the configuration (`--cwmp-username`/`--cwmp-password`):
    /// any holder can pose as any device.
    Shared,
    /// One device, by its own CWMP credentials (`cwmp_username`/`cwmp_password`).
    Device { id: i64, serial: String },
    /// A client certificate (`--cwmp-tls-client-ca`) whose subject CommonName is this: the
    /// device whose serial number, or `OUI-SerialNumber`, it is.
    Certificate { common_name: String },
}

impl Identity {
    /// Whether this identity may open a session for the device an Inform names.
    pub fn may_inform_as(&self, oui: &str, serial: &str) -> bool {
        match self {
            Identity::Anonymous | Identity::Shared => true,
            Identity::Device { serial: own, .. } => own == serial,
            Identity::Certificate { common_name } => {
                common_name == serial
                    || common_name
                        .strip_suffix(serial)
                        .and_then(|p| p.strip_suffix('-'))
                        .is_some_and(|p| !oui.is_empty() && p == oui)
            }
        }
    }

    /// For log lines: what kind of identity, never a secret.
    fn kind(&self) -> &'static str {
        match self {
            Identity::Anonymous => "anonymous",
            Identity::Shared => "shared credentials",
            Identity::Device { .. } => "device credentials",
            Identity::Certificate { .. } => "client certificate",
        }
    }
}

/// Everything the CPE listener shares across connections.
pub struct CpeState {
    pub engine: Engine<StoreBackend>,
    pub store: Store,
    pub auth: CpeAuthenticator,
    pub shared_credentials: Option<Credentials>,
    pub sessions: Mutex<HashMap<String, SharedSession>>,
    /// The open session of each device in this process, by serial number (a reconnecting
    /// CPE's new Inform ends its old session).
    by_serial: Mutex<HashMap<String, String>>,
    pub max_sessions: usize,
    pub max_body: usize,
    pub read_timeout: Duration,
    pub data_dir: std::path::PathBuf,
    /// Where the messages of debug sessions go.
    pub tracer: Tracer,
    /// The rate limit of the WARN line for failed authentications.
    auth_failures: AuthFailureLog,
}

impl CpeState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        engine: Engine<StoreBackend>,
        store: Store,
        auth: CpeAuthenticator,
        shared_credentials: Option<Credentials>,
        max_sessions: usize,
        max_body: usize,
        read_timeout: Duration,
        data_dir: std::path::PathBuf,
        tracer: Tracer,
    ) -> Self {
        CpeState {
            engine,
            store,
            auth,
            shared_credentials,
            sessions: Mutex::new(HashMap::new()),
            by_serial: Mutex::new(HashMap::new()),
            max_sessions,
            max_body,
            read_timeout,
            data_dir,
            tracer,
            auth_failures: AuthFailureLog::default(),
        }
    }

    fn lookup(&self, id: &str) -> Option<SharedSession> {
        self.sessions.lock().ok()?.get(id).cloned()
    }

    /// Forgets session `id`, and the device `serial`'s entry if it is still this session.
    fn remove(&self, id: &str, serial: Option<&str>) {
        if let Ok(mut m) = self.sessions.lock() {
            m.remove(id);
        }
        if let Some(serial) = serial
            && let Ok(mut m) = self.by_serial.lock()
            && m.get(serial).is_some_and(|v| v == id)
        {
            m.remove(serial);
        }
    }

    /// Ends a session the caller holds locked (its in-flight task and lease go back by the
    /// engine's rules) and forgets it, by id and by device.
    async fn end_session(&self, id: &str, entry: &mut SessionEntry, now: DateTime<Utc>) {
        let serial = entry.session.serial().map(str::to_owned);
        self.engine.end(&mut entry.session, now).await;
        self.remove(id, serial.as_deref());
    }

    /// The open session of device `serial` in this process, if any.
    fn session_of(&self, serial: &str) -> Option<(String, SharedSession)> {
        let id = self.by_serial.lock().ok()?.get(serial).cloned()?;
        self.lookup(&id).map(|s| (id, s))
    }

    fn open_count(&self) -> usize {
        self.sessions.lock().map_or(0, |m| m.len())
    }

    /// Ends every open session (shutdown): in-flight tasks back to pending, leases released.
    pub async fn end_all(&self) {
        let all: Vec<SharedSession> = self
            .sessions
            .lock()
            .map(|mut m| m.drain().map(|(_, v)| v).collect())
            .unwrap_or_default();
        if let Ok(mut m) = self.by_serial.lock() {
            m.clear();
        }
        for s in all {
            let mut e = s.lock().await;
            self.engine.end(&mut e.session, Utc::now()).await;
        }
    }
}

/// Drops sessions idle past the timeout, returning their tasks and leases.
pub async fn expire_idle(state: &CpeState, timeout: Duration) {
    let now = Utc::now();
    let candidates: Vec<(String, SharedSession)> = state
        .sessions
        .lock()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    for (id, s) in candidates {
        // a locked session is handling a message right now: not idle
        let Ok(mut e) = s.try_lock() else { continue };
        if e.session.is_idle(now, timeout) {
            if e.session.is_open() {
                acs_session::engine::Metrics::inc(&state.engine.metrics().sessions_expired);
                tracing::info!(
                    serial = ?e.session.serial().unwrap_or(""),
                    "session idle past its timeout; dropped"
                );
            }
            state.end_session(&id, &mut e, now).await;
        }
    }
}

/// Per TCP connection: the session of a CPE that sends no cookies.
#[derive(Default)]
struct ConnState {
    session_id: Option<String>,
}

/// The identity of a verified client certificate's subject CommonName, if it has one.
fn certificate_identity(common_name: Option<String>) -> Option<Identity> {
    common_name
        .filter(|cn| !cn.is_empty())
        .map(|common_name| Identity::Certificate { common_name })
}

/// Accepts CPE connections until `shutdown`; with `tls`, each connection first completes a
/// TLS handshake (within `header_timeout`) in its own task. At most `requests_at_once`
/// admitted requests are handled at once; one waits for its turn at most `header_timeout`.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<CpeState>,
    header_timeout: Duration,
    requests_at_once: usize,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let limits = Arc::new(Limits {
        // CPE request heads are a few hundred bytes; 64 kB leaves room for long cookies
        max_head: 64 * 1024,
        max_body: state.max_body,
        header_timeout,
        body_timeout: state.read_timeout,
        // a keep-alive connection between two messages or sessions: as long as a session may idle
        idle_timeout: state.engine.config().session_timeout,
        // long enough to ride out a burst, short enough that a CPE hears back before it gives up
        gate_timeout: header_timeout,
    });
    let gate = Arc::new(Semaphore::new(requests_at_once));
    let mut conns = tokio::task::JoinSet::new();
    while let Some((stream, peer)) = crate::listen::next_connection(&listener, &mut shutdown).await
    {
        let shutdown = shutdown.clone();
        let tls = tls.clone();
        let (limits, gate) = (limits.clone(), gate.clone());
        match tls {
            None => {
                let handler = CpeConnection {
                    state: state.clone(),
                    conn: AsyncMutex::new(ConnState::default()),
                    scheme: "http",
                    peer,
                    certificate: None,
                };
                let conn = async move {
                    http1::serve_connection(stream, &limits, Some(&gate), &handler, shutdown).await
                };
                conns.spawn(conn);
            }
            // boxed: a TLS connection's state is far larger, and plain ones should not pay for it
            Some(acceptor) => {
                let state = state.clone();
                conns.spawn(Box::pin(async move {
                    if let Some(s) = tls::handshake(&acceptor, stream, peer, header_timeout).await {
                        // a client certificate was verified against --cwmp-tls-client-ca
                        let cn = s
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .and_then(|c| tls::subject_common_name(c));
                        let handler = CpeConnection {
                            state,
                            conn: AsyncMutex::new(ConnState::default()),
                            scheme: "https",
                            peer,
                            certificate: certificate_identity(cn),
                        };
                        http1::serve_connection(s, &limits, Some(&gate), &handler, shutdown).await;
                    }
                }));
            }
        }
        while conns.try_join_next().is_some() {}
    }
    let _ = tokio::time::timeout(Duration::from_secs(15), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
}

/// One CPE connection: what its requests share.
struct CpeConnection {
    state: Arc<CpeState>,
    conn: AsyncMutex<ConnState>,
    scheme: &'static str,
    peer: SocketAddr,
    /// The identity of the connection's verified client certificate, if any.
    certificate: Option<Identity>,
}

impl http1::Handler for CpeConnection {
    type Admitted = Admitted;

    async fn admit(&self, head: &Parts) -> Result<Admitted, Response<Body>> {
        let admitted = admit(
            &self.state,
            &self.conn,
            self.certificate.as_ref(),
            head,
            self.peer,
        )
        .await;
        if admitted.is_err() {
            // answered from its head: still a request on this listener
            acs_session::engine::Metrics::inc(&self.state.engine.metrics().http_requests);
        }
        admitted
    }

    async fn call(&self, request: Request<Bytes>, admitted: Admitted) -> Response<Body> {
        let started = Instant::now();
        let metrics = self.state.engine.metrics();
        acs_session::engine::Metrics::inc(&metrics.http_requests);
        let (state, conn) = (&self.state, &self.conn);
        let resp = handle(state, conn, self.scheme, self.peer, request, admitted).await;
        metrics.observe_latency(started.elapsed().as_micros() as u64);
        resp
    }

    fn refused(&self, why: Refusal) {
        let metrics = self.state.engine.metrics();
        match why {
            Refusal::BodyTooLarge | Refusal::BadBody | Refusal::BodyTimeout => {
                acs_session::engine::Metrics::inc(&metrics.bodies_rejected);
            }
            Refusal::Busy => acs_session::engine::Metrics::inc(&metrics.requests_shed),
            Refusal::HeadTooLarge | Refusal::BadHead => {}
        }
    }
}

/// What [`admit`] learned from a request's head.
pub struct Admitted {
    /// Who this request proved to be (its `Authorization`, its connection's client
    /// certificate, or anyone with authentication off); `None`: it presented nothing to
    /// verify and may only continue a session (by its cookie or its connection).
    identity: Option<Identity>,
    /// The username it named, when `identity` came from an `Authorization` header.
    username: Option<String>,
}

/// The digest/Basic username an `Authorization` header names, unverified.
fn claimed_username(state: &CpeState, authorization: Option<&str>) -> Option<String> {
    state
        .auth
        .parse(authorization)
        .ok()
        .and_then(|a| a.username().map(str::to_owned))
}

/// A request's authentication, decided from its head before it waits at the gate and before
/// its body is read: a client without credentials never holds one of the gate's permits nor
/// gets its body buffered. A request of an open session (its cookie, or its connection's)
/// without credentials goes on unchecked here (`handle` lets such requests through
/// unless they are an Inform, which it authenticates then). One that does carry credentials
/// is verified, unless it names the username its session was opened with; one that proves
/// another identity than its session's is refused (403). Firmware downloads are left to
/// `handle` (they carry no body); other methods are refused here.
async fn admit(
    state: &CpeState,
    conn: &AsyncMutex<ConnState>,
    certificate: Option<&Identity>,
    head: &Parts,
    peer: SocketAddr,
) -> Result<Admitted, Response<Body>> {
    if head.uri.path().starts_with("/files/firmware/") {
        if head.method != Method::GET && head.method != Method::HEAD {
            return Err(simple(StatusCode::METHOD_NOT_ALLOWED, ""));
        }
        if announces_body(head) {
            return Err(simple(
                StatusCode::BAD_REQUEST,
                "a file download carries no body",
            ));
        }
        return Ok(Admitted {
            identity: None,
            username: None,
        });
    }
    if head.method != Method::POST {
        return Err(post_only());
    }
    // a verified client certificate is the connection's identity, whatever the header says
    if let Some(who) = certificate {
        return Ok(Admitted {
            identity: Some(who.clone()),
            username: None,
        });
    }
    if state.auth.mode() == AuthMode::None {
        return Ok(Admitted {
            identity: Some(Identity::Anonymous),
            username: None,
        });
    }
    let cookie_id = find_cookie(
        head.headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
        COOKIE_NAME,
    );
    let conn_session = conn.lock().await.session_id.clone();
    let existing = cookie_id
        .and_then(|id| state.lookup(id))
        .or_else(|| conn_session.and_then(|id| state.lookup(&id)));
    let authz = head
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(s) = existing {
        let session_username = s.lock().await.username.clone();
        let claimed = claimed_username(state, authz);
        // no credentials, or the session's own username again (CPEs that repeat their
        // Authorization, perhaps with a nonce gone stale): the session's cookie or
        // connection is what admits it
        if authz.is_none() || (claimed.is_some() && claimed == session_username) {
            return Ok(Admitted {
                identity: None,
                username: None,
            });
        }
    }
    let target = head
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let who = authenticate(state, authz, head.method.as_str(), &target, peer).await?;
    Ok(Admitted {
        identity: Some(who),
        username: claimed_username(state, authz),
    })
}

/// A `Content-Length` above zero, or a transfer coding (the framing was checked before).
fn announces_body(head: &Parts) -> bool {
    head.headers.contains_key(header::TRANSFER_ENCODING)
        || head
            .headers
            .get_all(header::CONTENT_LENGTH)
            .iter()
            .any(|v| v.as_bytes().iter().any(|b| (b'1'..=b'9').contains(b)))
}

fn post_only() -> Response<Body> {
    let mut r = simple(StatusCode::METHOD_NOT_ALLOWED, "CWMP sessions use POST");
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    r
}

/// The body without its content coding (gzip, as `Content-Encoding` or a transfer coding
/// before `chunked`), within the size limit; else the status and why.
fn decoded_body(
    state: &CpeState,
    headers: &http::HeaderMap,
    body: Bytes,
) -> Result<Bytes, (StatusCode, &'static str)> {
    let gzip = |name: header::HeaderName| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("gzip"))
    };
    if body.is_empty() || !(gzip(header::CONTENT_ENCODING) || gzip(header::TRANSFER_ENCODING)) {
        return Ok(body);
    }
    let mut out = Vec::new();
    let decoder = flate2::read::MultiGzDecoder::new(&body[..]);
    match decoder
        .take(state.max_body as u64 + 1)
        .read_to_end(&mut out)
    {
        Ok(n) if n <= state.max_body => Ok(Bytes::from(out)),
        Ok(_) => Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            "body larger than the configured limit",
        )),
        Err(_) => Err((StatusCode::BAD_REQUEST, "invalid gzip body")),
    }
}

async fn handle(
    state: &CpeState,
    conn: &AsyncMutex<ConnState>,
    scheme: &'static str,
    peer: SocketAddr,
    req: Request<Bytes>,
    admitted: Admitted,
) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if let Some(rest) = path.strip_prefix(acs_session::file_url::FILES_PATH) {
        if req.method() == Method::GET || req.method() == Method::HEAD {
            return files::serve_firmware(state, rest, &req, peer).await;
        }
        return simple(StatusCode::METHOD_NOT_ALLOWED, "");
    }
    if req.method() != Method::POST {
        return post_only();
    }
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let (parts, body) = req.into_parts();
    let body = match decoded_body(state, &parts.headers, body) {
        Ok(b) => b,
        Err((status, why)) => {
            acs_session::engine::Metrics::inc(&state.engine.metrics().bodies_rejected);
            return simple(status, why);
        }
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let decoded = match cwmp::decode(&body, content_type) {
        Ok(d) => d,
        Err(e) => {
            tracing::info!(peer = %peer, error = %e, "undecodable CWMP message");
            return simple(
                StatusCode::BAD_REQUEST,
                &format!("invalid CWMP message: {e}"),
            );
        }
    };
    // the Inform's DeviceId, if the message is one (a new session, for that device)
    let inform_id = match &decoded {
        cwmp::Decoded::Envelope(env) => match &env.body {
            cwmp::Body::Inform(inform) => Some(&inform.device_id),
            _ => None,
        },
        _ => None,
    };
    let is_inform = inform_id.is_some();

    // find the session: the cookie first, then this TCP connection's
    let cookie_id = find_cookie(
        parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
        COOKIE_NAME,
    )
    .map(str::to_owned);
    let mut conn_guard = conn.lock().await;
    let existing = cookie_id
        .as_deref()
        .and_then(|id| state.lookup(id).map(|s| (id.to_owned(), s)))
        .or_else(|| {
            conn_guard
                .session_id
                .as_deref()
                .and_then(|id| state.lookup(id).map(|s| (id.to_owned(), s)))
        });

    // a session belongs to the identity that opened it (a device's cookie is no use to
    // another device, whatever credentials that one has)
    if let (Some((_, entry)), Some(who)) = (&existing, &admitted.identity)
        && entry.lock().await.identity != *who
    {
        tracing::warn!(
            peer = %peer,
            identity = who.kind(),
            "request refused: its session belongs to another identity"
        );
        return simple(
            StatusCode::FORBIDDEN,
            "this session belongs to another identity",
        );
    }
    let mut identity = admitted.identity.clone();
    let mut username = admitted.username.clone();
    if is_inform && identity.is_none() {
        // an Inform opens a session: it must prove who it is, cookie or not
        let authz = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match authenticate(state, authz, parts.method.as_str(), &target, peer).await {
            Ok(who) => {
                identity = Some(who);
                username = claimed_username(state, authz);
            }
            Err(resp) => return resp,
        }
    }
    if let (Some(who), Some(device)) = (&identity, &inform_id) {
        let serial = device.serial_number.trim();
        if !who.may_inform_as(device.oui.trim(), serial) {
            // nothing written, no lease taken: the engine never sees it
            tracing::warn!(
                peer = %peer,
                identity = who.kind(),
                serial = ?serial,
                "inform refused: the CPE authenticated as another device"
            );
            return simple(
                StatusCode::FORBIDDEN,
                "the credentials presented belong to another device than the Inform names",
            );
        }
    }

    let session = if is_inform {
        // a new Inform always starts a new session: end the one this cookie/connection had
        if let Some((id, old)) = existing {
            state
                .end_session(&id, &mut *old.lock().await, Utc::now())
                .await;
        }
        // and the device's own session still open in this process (it dropped the
        // connection mid-session and reconnects): ended, its task back by the engine's
        // rules, rather than 503 until it times out. The identity may act as this device
        // (checked above); another node's session keeps its lease (503, Retry-After).
        if let Some(device) = &inform_id
            && let Some((id, old)) = state.session_of(device.serial_number.trim())
        {
            let mut e = old.lock().await;
            if e.session.is_open() {
                tracing::info!(
                    serial = ?e.session.serial().unwrap_or(""),
                    "a new Inform of the device ends its previous session"
                );
            }
            state.end_session(&id, &mut e, Utc::now()).await;
        }
        if state.open_count() >= state.max_sessions {
            acs_session::engine::Metrics::inc(&state.engine.metrics().sessions_refused_busy);
            return busy(5);
        }
        let id = new_session_id();
        let entry = Arc::new(AsyncMutex::new(SessionEntry {
            session: Session::new(id.clone(), &state.engine.config().node_id, Utc::now()),
            identity: identity.clone().unwrap_or(Identity::Anonymous),
            username,
        }));
        if let Ok(mut m) = state.sessions.lock() {
            m.insert(id.clone(), entry.clone());
        }
        conn_guard.session_id = Some(id.clone());
        (id, entry)
    } else {
        match existing {
            Some(x) => x,
            None => {
                return simple(
                    StatusCode::BAD_REQUEST,
                    "no CWMP session: start with an Inform",
                );
            }
        }
    };
    drop(conn_guard);

    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| format!("{scheme}://{h}"));
    let ctx = RequestContext {
        base_url: host,
        peer_ip: Some(peer.ip().to_string()),
    };
    let (id, entry) = session;
    let mut e = entry.lock().await;
    let received = Utc::now();
    let reply = state
        .engine
        .handle(&mut e.session, decoded, &ctx, received)
        .await;
    let open = e.session.is_open();
    let debug_trace = e.session.debug_trace();
    let serial = e.session.serial().map(str::to_owned);
    drop(e);
    if open
        && is_inform
        && let Some(serial) = &serial
        && let Ok(mut m) = state.by_serial.lock()
    {
        m.insert(serial.clone(), id.clone());
    }
    if !open {
        state.remove(&id, serial.as_deref());
        let mut c = conn.lock().await;
        if c.session_id.as_deref() == Some(id.as_str()) {
            c.session_id = None;
        }
    }
    let response = match reply {
        Reply::Envelope(bytes) => {
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/xml; charset=\"utf-8\""),
            );
            r.headers_mut()
                .insert("SOAPAction", HeaderValue::from_static(""));
            if is_inform
                && open
                && let Ok(c) = SessionCookie::new(COOKIE_NAME, id.as_str(), scheme == "https")
                && let Ok(v) = HeaderValue::from_str(&c.set_cookie_header())
            {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Reply::NoContent => simple(StatusCode::NO_CONTENT, ""),
        Reply::Busy { retry_after_secs } => busy(retry_after_secs),
        Reply::Refused => simple(StatusCode::FORBIDDEN, "device is not active on this ACS"),
        // the identity on record is not the CPE's to learn: the message names no value
        Reply::IdentityConflict => simple(
            StatusCode::CONFLICT,
            "serial number on record under another OUI/ProductClass",
        ),
        Reply::BadRequest(why) => simple(StatusCode::BAD_REQUEST, &why),
    };
    if let Some(trace) = debug_trace {
        let reply = match response.body() {
            Body::Bytes(b) => b.clone(),
            Body::File { .. } => Bytes::new(),
        };
        state.tracer.record(
            trace,
            Recorded {
                request: &body,
                content_type,
                received,
                status: response.status().as_u16(),
                reply: &reply,
            },
        );
    }
    response
}

/// Who the request's credentials prove it is: a device by its own CWMP credentials (the
/// device whose `cwmp_username` is the username, with its `cwmp_password`), else the shared
/// ones from the configuration. Also asked by `files.rs` for a firmware GET without a
/// signed path. `peer` is for the log line of a failure.
pub(crate) async fn authenticate(
    state: &CpeState,
    authorization: Option<&str>,
    method: &str,
    target: &str,
    peer: SocketAddr,
) -> Result<Identity, Response<Body>> {
    let now = SystemTime::now();
    let attempt = match state.auth.parse(authorization) {
        Ok(a) => a,
        Err(e) => return Err(unauthorized(state, state.auth.reject(e, now), None, peer)),
    };
    let mut password: Option<Secret> = None;
    let mut who = None;
    if let Some(user) = attempt.username() {
        let per_device = tokio::time::timeout(Duration::from_secs(5), async {
            state.store.cwmp_login(user).await.ok()?
        })
        .await
        .ok()
        .flatten();
        if let Some(login) = per_device {
            password = Some(Secret::new(login.password.expose()));
            who = Some(Identity::Device {
                id: login.device_id,
                serial: login.serial_number,
            });
        } else if let Some(shared) = &state.shared_credentials
            && shared.username == user
        {
            password = Some(shared.password.clone());
            who = Some(Identity::Shared);
        }
    }
    match state
        .auth
        .verify(&attempt, method, target, password.as_ref(), now)
    {
        Ok(_) => Ok(who.unwrap_or(Identity::Shared)),
        Err(e) => Err(unauthorized(
            state,
            state.auth.reject(e, now),
            attempt.username(),
            peer,
        )),
    }
}

/// The 401 with its challenges; the failure logged (WARN, rate-limited, unless routine) as
/// `username` (`None`: the request named none) from `peer`.
fn unauthorized(
    state: &CpeState,
    rejection: acs_session::auth::Rejection,
    username: Option<&str>,
    peer: SocketAddr,
) -> Response<Body> {
    acs_session::engine::Metrics::inc(&state.engine.metrics().auth_failures);
    state.auth_failures.record(&rejection.error, username, peer);
    let mut r = simple(StatusCode::UNAUTHORIZED, "");
    for c in rejection.www_authenticate {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::WWW_AUTHENTICATE, v);
        }
    }
    r
}
