//! CPE -> ACS authentication: none, HTTP Basic or HTTP Digest (TR-069 §3.4.4, PROTOCOL.md §2).
//!
//! Pure logic: the caller hands in the `Authorization` header value, the request method and
//! target, the password on record and the current time; it gets back who authenticated, or
//! why not plus the `WWW-Authenticate` values for the 401.
//!
//! Two ways to use it:
//! - [`CpeAuthenticator::authenticate`] with a synchronous [`CredentialSource`] (a map, a
//!   closure, [`Credentials`] shared by all devices, or [`Fallback`] of two sources);
//! - in two steps when the password comes from an async store: [`CpeAuthenticator::parse`]
//!   gives an [`AuthAttempt`] whose [`AuthAttempt::username`] names the device credentials to
//!   fetch, then [`CpeAuthenticator::verify`] checks them; [`CpeAuthenticator::reject`] builds
//!   the 401 challenge from any error.
//!
//! Some CPEs send `Authorization` only on the first request of a session: the session layer
//! remembers the [`Authenticated::username`] against its session (cookie) and does not ask again.

mod algorithm;
mod basic;
pub mod client;
mod digest;
mod nonce;
mod params;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use algorithm::{DigestAlgorithm, UnknownDigestAlgorithms, UnsupportedAlgorithm};
pub use nonce::{NONCE_LEN, NonceKey};

use crate::secret::{Credentials, Secret};
use digest::{DigestAttempt, DigestServer};

/// How CPEs must authenticate (`--cwmp-auth` / `ACS_CWMP_AUTH`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AuthMode {
    /// Anyone may pose as any device. The default, for a first run on a lab network; the
    /// server warns at start.
    #[default]
    None,
    /// HTTP Basic. TR-069 allows it only over TLS.
    Basic,
    /// HTTP Digest, `qop="auth"`: MD5 by default, SHA-256 when configured.
    Digest,
}

impl AuthMode {
    /// The configuration token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Basic => "basic",
            Self::Digest => "digest",
        }
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A configuration value other than `none`, `basic` or `digest`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown CPE authentication mode `{0}`, expected none, basic or digest")]
pub struct UnknownAuthMode(pub String);

impl FromStr for AuthMode {
    type Err = UnknownAuthMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::None, Self::Basic, Self::Digest]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownAuthMode(s.to_owned()))
    }
}

/// Configuration of CPE authentication.
#[derive(Clone, Debug)]
pub struct CpeAuthConfig {
    /// none, basic or digest.
    pub mode: AuthMode,
    /// The realm in challenges; also signed into nonces. Default `acs`.
    pub realm: String,
    /// Signs digest nonces. All nodes of a cluster need the same key.
    pub nonce_key: NonceKey,
    /// How long a nonce stays valid; past it the CPE gets `stale=true`. Default 300 s.
    pub nonce_lifetime: Duration,
    /// The digest challenges offered, one `WWW-Authenticate` each, in this order
    /// (`--cwmp-digest-algorithms`). Default MD5 alone: deployed CPE stacks widely read only
    /// the first challenge and know only MD5 (PROTOCOL.md §16.1). `-sess` variants listed here
    /// are advertised as their base algorithm; a CPE may always answer a challenge with its
    /// `-sess` variant (TR-069 CPEs must support MD5-sess). An answer with an algorithm whose
    /// base is not listed is refused ([`AuthError::AlgorithmNotOffered`]): offering SHA-256
    /// alone means MD5 is not accepted.
    pub digest_algorithms: Vec<DigestAlgorithm>,
}

impl CpeAuthConfig {
    /// Defaults for `mode`, with a freshly generated nonce key (valid on this node only).
    pub fn new(mode: AuthMode) -> Self {
        Self {
            mode,
            realm: "acs".to_owned(),
            nonce_key: NonceKey::generate(),
            nonce_lifetime: Duration::from_secs(300),
            digest_algorithms: vec![DigestAlgorithm::Md5],
        }
    }

    /// What the server should log at start, if anything: no authentication at all, or Basic
    /// without TLS (TR-069 §3.4.4 allows Basic only over TLS).
    pub fn startup_warning(&self, tls: bool) -> Option<&'static str> {
        match self.mode {
            AuthMode::None => Some(
                "CPE authentication is off (--cwmp-auth none): any client can pose as any device; \
                 use --cwmp-auth digest in production",
            ),
            AuthMode::Basic if !tls => Some(
                "CPE authentication is basic without TLS: device passwords cross the network in \
                 the clear, and TR-069 allows basic only over TLS; use digest or enable TLS",
            ),
            AuthMode::Basic | AuthMode::Digest => None,
        }
    }
}

/// Why a request did not authenticate. Messages name what was wrong; none contains a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header: the normal first step of every CPE.
    #[error("no Authorization header")]
    MissingAuthorization,
    /// A scheme other than the configured one (e.g. Basic while digest is required).
    #[error("authorization scheme `{got}` is not accepted, expected {expected}")]
    WrongScheme {
        /// The scheme the client used.
        got: String,
        /// The scheme we accept.
        expected: &'static str,
    },
    /// A mandatory digest parameter is absent.
    #[error("digest authorization lacks the `{0}` parameter")]
    MissingParameter(&'static str),
    /// An `algorithm` we do not implement.
    #[error(transparent)]
    UnsupportedAlgorithm(#[from] UnsupportedAlgorithm),
    /// An algorithm we implement but were not configured to offer (e.g. MD5 when only
    /// SHA-256 is offered).
    #[error("digest algorithm `{0}` is not offered")]
    AlgorithmNotOffered(DigestAlgorithm),
    /// A `qop` other than `auth` (we only offer `auth`).
    #[error("unsupported qop `{0}`, only `auth` is offered")]
    UnsupportedQop(String),
    /// `nc` is not hexadecimal.
    #[error("invalid nonce count `{0}`")]
    InvalidNonceCount(String),
    /// The client answered another realm's challenge.
    #[error("realm `{got}` is not ours (`{expected}`)")]
    RealmMismatch {
        /// The realm the client sent.
        got: String,
        /// Ours.
        expected: String,
    },
    /// The digest `uri` is not the target of this request (a replay onto another URL).
    #[error("digest uri `{uri}` does not match the request target `{request}`")]
    UriMismatch {
        /// The `uri` parameter.
        uri: String,
        /// The request target as received.
        request: String,
    },
    /// The nonce was not issued with our key for our realm (malformed, tampered with, or
    /// signed by another server key).
    #[error("nonce was not issued by this server")]
    InvalidNonce,
    /// The nonce is ours and the response was right, but the nonce has expired: the new
    /// challenge carries `stale=true` and a conforming client retries without asking the user.
    #[error("nonce has expired")]
    StaleNonce,
    /// No credentials on record for this username.
    #[error("unknown username `{0}`")]
    UnknownUser(String),
    /// The digest response or the Basic password does not match the one on record.
    #[error("wrong password for `{0}`")]
    WrongPassword(String),
    /// `Basic` credentials that are not base64.
    #[error("basic credentials are not valid base64")]
    InvalidBasicEncoding,
    /// `Basic` credentials without the `:` between username and password.
    #[error("basic credentials lack the `:` between username and password")]
    MissingColon,
}

impl AuthError {
    /// A short, stable name for the kind of failure (`wrong_password`, `stale_nonce`, ...),
    /// for log fields and rate-limiting keys. Holds nothing the client sent.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingAuthorization => "missing_authorization",
            Self::WrongScheme { .. } => "wrong_scheme",
            Self::MissingParameter(_) => "missing_parameter",
            Self::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            Self::AlgorithmNotOffered(_) => "algorithm_not_offered",
            Self::UnsupportedQop(_) => "unsupported_qop",
            Self::InvalidNonceCount(_) => "invalid_nonce_count",
            Self::RealmMismatch { .. } => "realm_mismatch",
            Self::UriMismatch { .. } => "uri_mismatch",
            Self::InvalidNonce => "invalid_nonce",
            Self::StaleNonce => "stale_nonce",
            Self::UnknownUser(_) => "unknown_user",
            Self::WrongPassword(_) => "wrong_password",
            Self::InvalidBasicEncoding => "invalid_basic_encoding",
            Self::MissingColon => "missing_colon",
        }
    }

    /// `true` for the failures every well-configured CPE meets in normal operation: no
    /// `Authorization` on its first request (it waits for the challenge), and a right answer
    /// to an expired nonce (it retries with the fresh one, `stale=true`). The others mean a
    /// misconfigured or hostile client.
    pub fn is_routine(&self) -> bool {
        matches!(self, Self::MissingAuthorization | Self::StaleNonce)
    }
}

/// How a request was authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthScheme {
    /// Authentication is off.
    None,
    /// HTTP Basic.
    Basic,
    /// HTTP Digest with this algorithm.
    Digest(DigestAlgorithm),
}

/// A request that passed authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    /// The username that authenticated (`ManagementServer.Username`, often OUI-serial); `None`
    /// when authentication is off. The session layer keeps it with the session so that CPEs
    /// sending `Authorization` only once are still known, and may check it against the
    /// Inform's DeviceId.
    pub username: Option<String>,
    /// How.
    pub scheme: AuthScheme,
}

/// A failed authentication: answer `401 Unauthorized` with one `WWW-Authenticate` header per
/// entry of `www_authenticate`, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Why; for logs and metrics.
    pub error: AuthError,
    /// The challenges.
    pub www_authenticate: Vec<String>,
}

/// The parsed `Authorization` of one request, not yet verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthAttempt(Attempt);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Attempt {
    Anonymous,
    Basic { username: String, password: Secret },
    Digest(DigestAttempt),
}

impl AuthAttempt {
    /// The username whose credentials must be looked up; `None` when authentication is off.
    pub fn username(&self) -> Option<&str> {
        match &self.0 {
            Attempt::Anonymous => None,
            Attempt::Basic { username, .. } => Some(username),
            Attempt::Digest(d) => Some(&d.username),
        }
    }
}

/// Where the password for a username comes from. The store backs it per device later; for
/// async lookups use [`CpeAuthenticator::parse`] + [`CpeAuthenticator::verify`] instead.
pub trait CredentialSource {
    /// The password on record for `username`, if any.
    fn password(&self, username: &str) -> Option<Secret>;
}

impl<F: Fn(&str) -> Option<Secret>> CredentialSource for F {
    fn password(&self, username: &str) -> Option<Secret> {
        self(username)
    }
}

/// One username and password shared by every device.
impl CredentialSource for Credentials {
    fn password(&self, username: &str) -> Option<Secret> {
        (self.username == username).then(|| self.password.clone())
    }
}

/// Per-device credentials keyed by username.
impl CredentialSource for HashMap<String, Secret> {
    fn password(&self, username: &str) -> Option<Secret> {
        self.get(username).cloned()
    }
}

/// Asks the first source, then the second: per-device credentials with a shared fallback.
#[derive(Clone, Debug)]
pub struct Fallback<A, B>(pub A, pub B);

impl<A: CredentialSource, B: CredentialSource> CredentialSource for Fallback<A, B> {
    fn password(&self, username: &str) -> Option<Secret> {
        self.0
            .password(username)
            .or_else(|| self.1.password(username))
    }
}

/// Authenticates CPE requests. Cheap to clone; share one per listener.
#[derive(Clone, Debug)]
pub struct CpeAuthenticator {
    config: Arc<CpeAuthConfig>,
}

impl CpeAuthenticator {
    /// An authenticator for `config`.
    pub fn new(config: CpeAuthConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }

    /// The configured mode.
    pub fn mode(&self) -> AuthMode {
        self.config.mode
    }

    /// Parses an `Authorization` header value. With mode `none` the header is ignored.
    pub fn parse(&self, authorization: Option<&str>) -> Result<AuthAttempt, AuthError> {
        let expected = match self.config.mode {
            AuthMode::None => return Ok(AuthAttempt(Attempt::Anonymous)),
            AuthMode::Basic => "basic",
            AuthMode::Digest => "digest",
        };
        let item = authorization
            .and_then(params::parse_credentials)
            .ok_or(AuthError::MissingAuthorization)?;
        if !item.scheme.eq_ignore_ascii_case(expected) {
            return Err(AuthError::WrongScheme {
                got: item.scheme,
                expected,
            });
        }
        let attempt = match self.config.mode {
            AuthMode::Basic => {
                let (username, password) = basic::decode(item.token68.as_deref().unwrap_or(""))?;
                Attempt::Basic { username, password }
            }
            _ => Attempt::Digest(DigestAttempt::from_item(&item)?),
        };
        Ok(AuthAttempt(attempt))
    }

    /// Verifies a parsed attempt for a request with `method` (e.g. `POST`) and
    /// `request_target` (the path and query as received, e.g. `/` or `/acs`), against the
    /// password on record for [`AuthAttempt::username`] (`None`: no such user).
    pub fn verify(
        &self,
        attempt: &AuthAttempt,
        method: &str,
        request_target: &str,
        password: Option<&Secret>,
        now: SystemTime,
    ) -> Result<Authenticated, AuthError> {
        match &attempt.0 {
            Attempt::Anonymous => Ok(Authenticated {
                username: None,
                scheme: AuthScheme::None,
            }),
            Attempt::Basic {
                username,
                password: given,
            } => {
                let stored = password.ok_or_else(|| AuthError::UnknownUser(username.clone()))?;
                if !basic::password_matches(given, stored) {
                    return Err(AuthError::WrongPassword(username.clone()));
                }
                Ok(Authenticated {
                    username: Some(username.clone()),
                    scheme: AuthScheme::Basic,
                })
            }
            Attempt::Digest(d) => {
                let offered = &self.config.digest_algorithms;
                if !offered.iter().any(|a| a.base() == d.algorithm.base()) {
                    return Err(AuthError::AlgorithmNotOffered(d.algorithm));
                }
                let server = DigestServer {
                    realm: &self.config.realm,
                    key: &self.config.nonce_key,
                    lifetime: self.config.nonce_lifetime,
                };
                d.verify(&server, method, request_target, password, now)?;
                Ok(Authenticated {
                    username: Some(d.username.clone()),
                    scheme: AuthScheme::Digest(d.algorithm),
                })
            }
        }
    }

    /// Parses and verifies in one step with a synchronous credential source.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        method: &str,
        request_target: &str,
        credentials: &dyn CredentialSource,
        now: SystemTime,
    ) -> Result<Authenticated, Rejection> {
        let outcome = self.parse(authorization).and_then(|attempt| {
            let password = attempt.username().and_then(|u| credentials.password(u));
            self.verify(&attempt, method, request_target, password.as_ref(), now)
        });
        outcome.map_err(|error| self.reject(error, now))
    }

    /// The 401 for `error`: fresh challenges, `stale=true` when the nonce had expired.
    pub fn reject(&self, error: AuthError, now: SystemTime) -> Rejection {
        let stale = error == AuthError::StaleNonce;
        Rejection {
            www_authenticate: self.challenges(stale, now),
            error,
        }
    }

    /// The `WWW-Authenticate` values for a 401: for digest one per configured algorithm, in
    /// the configured order (default: MD5 alone), all with the same fresh nonce; for basic one
    /// `Basic realm=…`; none when authentication is off.
    pub fn challenges(&self, stale: bool, now: SystemTime) -> Vec<String> {
        let c = &self.config;
        match c.mode {
            AuthMode::None => Vec::new(),
            AuthMode::Basic => vec![basic::challenge(&c.realm)],
            AuthMode::Digest => {
                let nonce = c.nonce_key.issue(&c.realm, now);
                self.digest_challenges(&nonce, stale)
            }
        }
    }

    fn digest_challenges(&self, nonce: &str, stale: bool) -> Vec<String> {
        let c = &self.config;
        let opaque = c.nonce_key.opaque(&c.realm);
        let mut offered: Vec<DigestAlgorithm> = Vec::new();
        for alg in c.digest_algorithms.iter().map(|a| a.base()) {
            if !offered.contains(&alg) {
                offered.push(alg);
            }
        }
        offered
            .iter()
            .map(|&alg| digest::challenge(&c.realm, alg, nonce, &opaque, stale))
            .collect()
    }
}

#[cfg(test)]
mod tests;
