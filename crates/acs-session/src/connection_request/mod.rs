//! Connection requests (ACS -> CPE, TR-069 §3.2.2, PROTOCOL.md §11): an HTTP GET to the CPE's
//! ConnectionRequestURL, answering its digest challenge with the device's connection-request
//! credentials, so that the CPE opens a session now instead of at its next periodic Inform.
//!
//! [`ConnectionRequester::send`] never blocks for long and never fails: every end is a typed
//! [`CrOutcome`] the caller stores. Bounds: a connect timeout and a total timeout per request,
//! a semaphore on concurrent requests, and at most one request per device per interval (over
//! it: [`CrOutcome::RateLimited`], without network traffic). Only the URL's own host and port
//! are contacted, and only at addresses the [`AddressPolicy`] allows: a host name is resolved
//! once, every address it resolves to is checked, and the connection goes to a checked address
//! (never to a second resolution). Refused: [`CrOutcome::Refused`], without network traffic.

mod generate;
mod policy;
mod rate_limit;
mod url;

pub use generate::generate_credentials;
pub use policy::{AddressPolicy, Cidr};

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, HOST, USER_AGENT, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout};

use crate::auth::client::{ChallengeError, answer_challenges, new_cnonce};
use crate::engine::Metrics;
use crate::secret::Credentials;
use rate_limit::RateLimiter;
use url::{CrUrl, Host};

/// Bodies of CPE answers are read (to reuse the connection after a 401) up to this size.
const MAX_BODY: usize = 64 * 1024;

/// Limits for connection requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionRequestConfig {
    /// Bound on establishing the TCP connection (each one; a retry after 401 may need a second).
    /// Default 5 s.
    pub connect_timeout: Duration,
    /// Bound on the whole exchange, from the first connect to the final status. Default 10 s.
    pub total_timeout: Duration,
    /// At most this many requests in flight at once (more wait their turn). Default 32.
    pub max_concurrent: usize,
    /// At most one request per device per this interval; zero turns the limit off. Default
    /// 1 s: the API's wakes already coalesce per device (one in flight, the next only once the
    /// session it asked for came or did not), so this only spaces what they do not see (status
    /// checks beside a wake); a longer one made an operator's second operation wait for it.
    pub min_interval_per_device: Duration,
    /// Answer a Basic challenge (the password then crosses the network in the clear).
    /// Default false; digest is always preferred when offered.
    pub allow_basic: bool,
    /// Which addresses requests may go to (default: no loopback, link-local, multicast,
    /// unspecified or reserved addresses; loopback for devices on loopback).
    pub policy: AddressPolicy,
}

impl Default for ConnectionRequestConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(10),
            max_concurrent: 32,
            min_interval_per_device: Duration::from_secs(1),
            allow_basic: false,
            policy: AddressPolicy::default(),
        }
    }
}

/// Why a CPE did not accept our credentials.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CrAuthFailure {
    /// The CPE asked for authentication and we have no credentials for it.
    #[error("the device asked for credentials and none are on record")]
    NoCredentials,
    /// We answered the challenge and the CPE said 401 again: wrong username or password
    /// (often the ACS's own credentials instead of the CPE's connection-request ones).
    #[error("the device rejected the connection request credentials")]
    Rejected,
    /// We could not answer the challenge at all.
    #[error(transparent)]
    Challenge(#[from] ChallengeError),
}

/// How a connection request ended. Stored by the caller; [`CrOutcome::as_str`] is a stable
/// label for metrics and the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrOutcome {
    /// 200 or 204: the CPE will open a session.
    Accepted,
    /// 401 (after our authenticated retry, or with no way to answer it).
    AuthFailed(CrAuthFailure),
    /// 503: the CPE is rate-limiting us, or a TR-069 proxy's device is offline.
    Busy,
    /// No TCP connection (refused, no route, DNS failure, connect timeout): often a private or
    /// NATed ConnectionRequestURL. Says why.
    Unreachable(String),
    /// Connected, but no complete answer within the total timeout.
    Timeout,
    /// Connected, but the HTTP exchange broke (connection reset, malformed response). Says how.
    ProtocolError(String),
    /// Any other status.
    HttpStatus(u16),
    /// The URL is not `http://host[:port][/path]`; nothing was sent. Says why.
    InvalidUrl(String),
    /// A request went to this device less than the configured interval ago; nothing was sent.
    RateLimited {
        /// When the next one is allowed.
        retry_after: Duration,
    },
    /// The address policy forbids an address the URL leads to; nothing was sent. Says which
    /// and why.
    Refused(String),
}

impl CrOutcome {
    /// `true` for [`CrOutcome::Accepted`].
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Accepted)
    }

    /// A stable snake_case label.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::AuthFailed(_) => "auth_failed",
            Self::Busy => "busy",
            Self::Unreachable(_) => "unreachable",
            Self::Timeout => "timeout",
            Self::ProtocolError(_) => "protocol_error",
            Self::HttpStatus(_) => "http_status",
            Self::InvalidUrl(_) => "invalid_url",
            Self::RateLimited { .. } => "rate_limited",
            Self::Refused(_) => "refused",
        }
    }
}

impl fmt::Display for CrOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Accepted => f.write_str("accepted"),
            Self::AuthFailed(why) => write!(f, "authentication failed: {why}"),
            Self::Busy => f.write_str("busy (503)"),
            Self::Unreachable(why) => write!(f, "unreachable: {why}"),
            Self::Timeout => f.write_str("timed out"),
            Self::ProtocolError(why) => write!(f, "protocol error: {why}"),
            Self::HttpStatus(code) => write!(f, "unexpected HTTP status {code}"),
            Self::InvalidUrl(why) => write!(f, "invalid connection request URL: {why}"),
            Self::RateLimited { retry_after } => {
                write!(
                    f,
                    "rate limited, next allowed in {} ms",
                    retry_after.as_millis()
                )
            }
            Self::Refused(why) => write!(f, "refused by the address policy: {why}"),
        }
    }
}

/// The outcome with how long the network exchange took (zero when nothing was sent; the wait
/// for a concurrency slot is not counted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrReport {
    /// How it ended.
    pub outcome: CrOutcome,
    /// Time from the first connect to the outcome.
    pub latency: Duration,
}

/// Sends connection requests. Cheap to clone; one per process, shared by everything that
/// wants a CPE to call in. Needs a tokio runtime.
#[derive(Clone, Debug)]
pub struct ConnectionRequester {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ConnectionRequestConfig,
    permits: Semaphore,
    limiter: RateLimiter,
    /// Where every outcome and latency is counted, when the process exposes metrics.
    metrics: Option<Arc<Metrics>>,
}

impl ConnectionRequester {
    /// A requester with `config`'s limits.
    pub fn new(config: ConnectionRequestConfig) -> Self {
        Self::build(config, None)
    }

    /// A requester that counts every outcome and latency in `metrics`
    /// (`acs_connection_requests_total`, `acs_connection_request_duration_seconds`).
    pub fn with_metrics(config: ConnectionRequestConfig, metrics: Arc<Metrics>) -> Self {
        Self::build(config, Some(metrics))
    }

    fn build(config: ConnectionRequestConfig, metrics: Option<Arc<Metrics>>) -> Self {
        let permits = Semaphore::new(config.max_concurrent.max(1));
        let limiter = RateLimiter::new(config.min_interval_per_device);
        Self {
            inner: Arc::new(Inner {
                config,
                permits,
                limiter,
                metrics,
            }),
        }
    }

    /// True when this requester counts its own outcomes.
    pub fn has_metrics(&self) -> bool {
        self.inner.metrics.is_some()
    }

    /// The configuration in force.
    pub fn config(&self) -> &ConnectionRequestConfig {
        &self.inner.config
    }

    /// Asks the device `device_key` (any stable key: the serial number, the store id) to open a
    /// session by a GET to `url`, answering its challenge with `credentials`
    /// (`ConnectionRequestUsername`/`Password`, decrypted). `peer`: the address the device's
    /// last Inform came from (the address policy lets loopback devices be reached on
    /// loopback); `None` when unknown.
    ///
    /// Cancel-safe: dropping the future drops the connection and frees the slot.
    pub async fn send(
        &self,
        device_key: &str,
        url: &str,
        credentials: Option<Credentials>,
        peer: Option<IpAddr>,
    ) -> CrReport {
        let report = self
            .send_inner(device_key, url, credentials.as_ref(), peer)
            .await;
        if let Some(m) = &self.inner.metrics {
            m.observe_connection_request(&report);
        }
        tracing::debug!(
            device = device_key,
            url,
            outcome = %report.outcome,
            latency_ms = report.latency.as_millis(),
            "connection request"
        );
        report
    }

    async fn send_inner(
        &self,
        device_key: &str,
        url: &str,
        credentials: Option<&Credentials>,
        peer: Option<IpAddr>,
    ) -> CrReport {
        let nothing_sent = |outcome| CrReport {
            outcome,
            latency: Duration::ZERO,
        };
        let target = match url::parse(url) {
            Ok(target) => target,
            Err(why) => return nothing_sent(CrOutcome::InvalidUrl(why)),
        };
        let config = &self.inner.config;
        let peer_is_loopback = peer.is_some_and(policy::is_loopback);
        // An address written in the URL is judged before anything else happens.
        if let Host::Ip(ip) = &target.host
            && let Err(why) = config.policy.check(*ip, peer_is_loopback)
        {
            return nothing_sent(CrOutcome::Refused(why));
        }
        if let Err(retry_after) = self.inner.limiter.check(device_key, Instant::now()) {
            return nothing_sent(CrOutcome::RateLimited { retry_after });
        }
        // The semaphore lives as long as `inner` and is never closed.
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .expect("semaphore is never closed");
        let started = Instant::now();
        let outcome = timeout(config.total_timeout, async {
            let addrs = match checked_addresses(config, &target, peer_is_loopback).await {
                Ok(addrs) => addrs,
                Err(outcome) => return outcome,
            };
            exchange(config, &target, &addrs, credentials).await
        })
        .await
        .unwrap_or(CrOutcome::Timeout);
        let latency = match outcome {
            // a name that resolved to a refused address: nothing went to the CPE
            CrOutcome::Refused(_) => Duration::ZERO,
            _ => started.elapsed(),
        };
        CrReport { outcome, latency }
    }
}

/// The addresses to connect to: the URL's own, or every address its host name resolves to
/// (within the connect timeout), each allowed by the policy; a name with any refused address
/// is refused whole (a name that mixes a CPE with a metadata address is no CPE's).
async fn checked_addresses(
    config: &ConnectionRequestConfig,
    url: &CrUrl,
    peer_is_loopback: bool,
) -> Result<Vec<SocketAddr>, CrOutcome> {
    let addrs: Vec<SocketAddr> = match &url.host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, url.port)],
        Host::Name(name) => {
            let resolved = timeout(
                config.connect_timeout,
                tokio::net::lookup_host((name.as_str(), url.port)),
            )
            .await;
            match resolved {
                Ok(Ok(found)) => found.collect(),
                Ok(Err(e)) => return Err(CrOutcome::Unreachable(format!("resolving {name}: {e}"))),
                Err(_) => {
                    return Err(CrOutcome::Unreachable(format!(
                        "resolving {name}: no answer within {} ms",
                        config.connect_timeout.as_millis()
                    )));
                }
            }
        }
    };
    if addrs.is_empty() {
        return Err(CrOutcome::Unreachable(format!(
            "{} resolves to no address",
            url.authority
        )));
    }
    for addr in &addrs {
        if let Err(why) = config.policy.check(addr.ip(), peer_is_loopback) {
            let why = match &url.host {
                Host::Name(name) => format!("{name} resolves to {why}"),
                Host::Ip(_) => why,
            };
            return Err(CrOutcome::Refused(why));
        }
    }
    Ok(addrs)
}

/// The GET, and on 401 the authenticated GET (on the same connection when the CPE keeps it
/// open, else on a new one: CPE agents do both).
async fn exchange(
    config: &ConnectionRequestConfig,
    url: &CrUrl,
    addrs: &[SocketAddr],
    credentials: Option<&Credentials>,
) -> CrOutcome {
    let mut conn = match Conn::open(addrs, config.connect_timeout).await {
        Ok(conn) => conn,
        Err(outcome) => return outcome,
    };
    let first = match conn.get(url, None).await {
        Ok(response) => response,
        Err(outcome) => return outcome,
    };
    if first.status() != StatusCode::UNAUTHORIZED {
        return status_outcome(first.status());
    }
    let Some(credentials) = credentials else {
        return CrOutcome::AuthFailed(CrAuthFailure::NoCredentials);
    };
    let challenges: Vec<String> = first
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let challenges: Vec<&str> = challenges.iter().map(String::as_str).collect();
    let authorization = match answer_challenges(
        &challenges,
        "GET",
        &url.target,
        credentials,
        config.allow_basic,
        &new_cnonce(),
    ) {
        Ok(value) => value,
        Err(err) => return CrOutcome::AuthFailed(err.into()),
    };
    let keep_alive = !first.headers().get_all(CONNECTION).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("close"))
    });
    let reusable = keep_alive && drained(first).await && conn.sender.ready().await.is_ok();
    let second = if reusable {
        match conn.get(url, Some(&authorization)).await {
            Ok(response) => Ok(response),
            // The CPE may close an idle connection right after its 401 without saying so;
            // try once more on a fresh one.
            Err(_) => retry_fresh(config, url, addrs, &authorization).await,
        }
    } else {
        drop(conn);
        retry_fresh(config, url, addrs, &authorization).await
    };
    match second {
        Ok(response) if response.status() == StatusCode::UNAUTHORIZED => {
            CrOutcome::AuthFailed(CrAuthFailure::Rejected)
        }
        Ok(response) => status_outcome(response.status()),
        Err(outcome) => outcome,
    }
}

async fn retry_fresh(
    config: &ConnectionRequestConfig,
    url: &CrUrl,
    addrs: &[SocketAddr],
    authorization: &str,
) -> Result<Response<Incoming>, CrOutcome> {
    let mut conn = Conn::open(addrs, config.connect_timeout).await?;
    conn.get(url, Some(authorization)).await
}

fn status_outcome(status: StatusCode) -> CrOutcome {
    match status.as_u16() {
        200 | 204 => CrOutcome::Accepted,
        401 => CrOutcome::AuthFailed(CrAuthFailure::Rejected),
        503 => CrOutcome::Busy,
        other => CrOutcome::HttpStatus(other),
    }
}

/// Reads a response body to its end (bounded), so the connection can carry the next request.
async fn drained(response: Response<Incoming>) -> bool {
    Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .is_ok()
}

/// One HTTP/1.1 client connection. The connection task is aborted when this is dropped, so a
/// CPE that never answers cannot keep a socket open behind our back.
struct Conn {
    sender: SendRequest<Empty<Bytes>>,
    _task: AbortOnDrop,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Conn {
    /// Connects to the first of `addrs` (checked by the policy) that answers, in order.
    async fn open(addrs: &[SocketAddr], connect_timeout: Duration) -> Result<Self, CrOutcome> {
        let stream = connect_bounded(connect_timeout, addrs).await?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| CrOutcome::ProtocolError(e.to_string()))?;
        let task = tokio::spawn(async move {
            // Errors surface through `send_request`; nothing more to do with them here.
            let _ = connection.await;
        });
        Ok(Self {
            sender,
            _task: AbortOnDrop(task),
        })
    }

    async fn get(
        &mut self,
        url: &CrUrl,
        authorization: Option<&str>,
    ) -> Result<Response<Incoming>, CrOutcome> {
        let mut request = Request::get(url.target.as_str())
            .header(HOST, url.authority.as_str())
            .header(USER_AGENT, concat!("acs/", env!("CARGO_PKG_VERSION")))
            .body(Empty::<Bytes>::new())
            .map_err(|e| CrOutcome::InvalidUrl(e.to_string()))?;
        if let Some(value) = authorization {
            // from_bytes, not from_str: a realm in UTF-8 is legal obs-text in a header.
            let value = HeaderValue::from_bytes(value.as_bytes()).map_err(|_| {
                CrOutcome::AuthFailed(CrAuthFailure::Challenge(ChallengeError::Unsupported(
                    "challenge parameters that cannot be echoed in a header".to_owned(),
                )))
            })?;
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, value);
        }
        self.sender
            .send_request(request)
            .await
            .map_err(|e| CrOutcome::ProtocolError(e.to_string()))
    }
}

async fn connect_bounded(bound: Duration, addrs: &[SocketAddr]) -> Result<TcpStream, CrOutcome> {
    match timeout(bound, TcpStream::connect(addrs)).await {
        Ok(Ok(stream)) => {
            // A connection request is one tiny request: send it at once.
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(err)) => Err(CrOutcome::Unreachable(err.to_string())),
        Err(_) => Err(CrOutcome::Unreachable(format!(
            "no TCP connection within {} ms",
            bound.as_millis()
        ))),
    }
}
