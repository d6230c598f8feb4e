//! Server-side HTTP Digest (RFC 7616, RFC 2617, RFC 2069): the challenge we send a CPE and the
//! check of the `Authorization` it answers with.

use std::time::{Duration, SystemTime};

use super::AuthError;
use super::algorithm::{DigestAlgorithm, DigestInput};
use super::nonce::{NonceCheck, NonceKey};
use super::params::{AuthItem, quote};
use crate::secret::Secret;
use subtle::ConstantTimeEq as _;

/// The digest parameters a CPE sent, checked for presence and form but not yet verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DigestAttempt {
    pub(crate) username: String,
    realm: String,
    nonce: String,
    uri: String,
    response: String,
    pub(crate) algorithm: DigestAlgorithm,
    /// `Some((qop, nc, cnonce))` when the client used `qop=auth` (kept as sent: it went into
    /// the client's hash); `None` for RFC 2069 style.
    qop: Option<(String, String, String)>,
    /// For `-sess` without qop (RFC 2617 allows it); empty otherwise.
    cnonce: String,
}

impl DigestAttempt {
    pub(crate) fn from_item(item: &AuthItem) -> Result<Self, AuthError> {
        let required = |name: &'static str| {
            item.param(name)
                .map(str::to_owned)
                .ok_or(AuthError::MissingParameter(name))
        };
        let username = required("username")?;
        let realm = required("realm")?;
        let nonce = required("nonce")?;
        let uri = required("uri")?;
        let response = required("response")?;
        let algorithm = match item.param("algorithm") {
            Some(token) => token.parse()?,
            None => DigestAlgorithm::Md5,
        };
        let cnonce = item.param("cnonce").map(str::to_owned);
        let qop = match item.param("qop") {
            None => None,
            Some(qop) if qop.trim().eq_ignore_ascii_case("auth") => {
                // RFC 7616 §3.4: with qop, cnonce and nc are mandatory. The count itself is not
                // checked against earlier ones: nonces are stateless, so there is no per-nonce
                // counter to compare with, and any node may see any request (see ARCHITECTURE).
                // The price: a captured Authorization replays for the same method and uri until
                // its nonce expires. Over plain HTTP an on-path attacker can take over the
                // session after authentication anyway; TLS is the cure for both.
                let nc = required("nc")?;
                if nc.is_empty() || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(AuthError::InvalidNonceCount(nc));
                }
                let cnonce = cnonce
                    .clone()
                    .ok_or(AuthError::MissingParameter("cnonce"))?;
                Some((qop.trim().to_owned(), nc, cnonce))
            }
            Some(other) => return Err(AuthError::UnsupportedQop(other.to_owned())),
        };
        // `opaque` is not checked: ours is derived from the key and realm, so it carries no
        // state worth verifying, and some CPE agents forget to echo it.
        if algorithm.is_session() && cnonce.is_none() {
            return Err(AuthError::MissingParameter("cnonce"));
        }
        Ok(Self {
            username,
            realm,
            nonce,
            uri,
            response,
            algorithm,
            qop,
            cnonce: cnonce.unwrap_or_default(),
        })
    }

    /// Verifies the attempt against the request and the password on record.
    ///
    /// A correctly signed but expired nonce yields [`AuthError::StaleNonce`] only when the
    /// response was right for it (RFC 7616 §3.3: `stale=true` means "the credentials were good,
    /// retry with the new nonce"); a wrong response is [`AuthError::WrongPassword`] whatever
    /// the nonce's age.
    pub(crate) fn verify(
        &self,
        server: &DigestServer<'_>,
        method: &str,
        request_target: &str,
        password: Option<&Secret>,
        now: SystemTime,
    ) -> Result<(), AuthError> {
        if self.realm != server.realm {
            return Err(AuthError::RealmMismatch {
                got: self.realm.clone(),
                expected: server.realm.to_owned(),
            });
        }
        if origin_form(&self.uri) != origin_form(request_target) {
            return Err(AuthError::UriMismatch {
                uri: self.uri.clone(),
                request: request_target.to_owned(),
            });
        }
        let freshness = server
            .key
            .check(&self.nonce, server.realm, now, server.lifetime);
        if freshness == NonceCheck::Invalid {
            return Err(AuthError::InvalidNonce);
        }
        let Some(password) = password else {
            return Err(AuthError::UnknownUser(self.username.clone()));
        };
        if !self.response_matches(method, password) {
            return Err(AuthError::WrongPassword(self.username.clone()));
        }
        if freshness == NonceCheck::Stale {
            return Err(AuthError::StaleNonce);
        }
        Ok(())
    }
}

impl DigestAttempt {
    /// Whether `response` is right for `password`, compared in constant time.
    pub(crate) fn response_matches(&self, method: &str, password: &Secret) -> bool {
        let expected = DigestInput {
            algorithm: self.algorithm,
            username: &self.username,
            realm: &self.realm,
            password: password.expose(),
            method,
            uri: &self.uri,
            nonce: &self.nonce,
            qop: self
                .qop
                .as_ref()
                .map(|(qop, nc, cnonce)| (qop.as_str(), nc.as_str(), cnonce.as_str())),
            cnonce: &self.cnonce,
        }
        .response(None);
        // Some clients send the hex in upper case.
        let given = self.response.trim().to_ascii_lowercase();
        expected.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

/// What the server side needs to issue and check nonces.
pub(crate) struct DigestServer<'a> {
    pub(crate) realm: &'a str,
    pub(crate) key: &'a NonceKey,
    pub(crate) lifetime: Duration,
}

/// One `WWW-Authenticate` value:
/// `Digest realm="…", qop="auth", algorithm=…, nonce="…", opaque="…"[, stale=true]`.
pub(crate) fn challenge(
    realm: &str,
    algorithm: DigestAlgorithm,
    nonce: &str,
    opaque: &str,
    stale: bool,
) -> String {
    let mut out = format!(
        "Digest realm={}, qop=\"auth\", algorithm={}, nonce={}, opaque={}",
        quote(realm),
        algorithm.base(),
        quote(nonce),
        quote(opaque)
    );
    if stale {
        out.push_str(", stale=true");
    }
    out
}

/// The path-and-query a request target or digest `uri` names: absolute forms
/// (`http://host:port/path`, sent by some clients) reduce to their path, an empty path is `/`.
fn origin_form(target: &str) -> &str {
    let target = target.trim();
    let lower_prefix = |p: &str| {
        target.len() >= p.len() && target.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
    };
    let rest = if lower_prefix("http://") {
        &target[7..]
    } else if lower_prefix("https://") {
        &target[8..]
    } else {
        return if target.is_empty() { "/" } else { target };
    };
    rest.find(['/', '?']).map_or("/", |at| &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::origin_form;

    #[test]
    fn origin_forms() {
        assert_eq!(origin_form("/"), "/");
        assert_eq!(origin_form(""), "/");
        assert_eq!(origin_form("/acs?x=1"), "/acs?x=1");
        assert_eq!(origin_form("http://acs.example:7547/acs"), "/acs");
        assert_eq!(origin_form("HTTP://acs.example:7547"), "/");
        assert_eq!(origin_form("https://[::1]:7547/a/b"), "/a/b");
    }
}
