//! Client-side HTTP authentication for connection requests (ACS -> CPE, TR-069 §3.2.2): read
//! the CPE's `WWW-Authenticate` challenges and compute our `Authorization`. Pure: the cnonce
//! is an input.
//!
//! CPE agents answer with every digest flavour there is: MD5 with `qop="auth"`, RFC 2069
//! style without qop, `MD5-sess`, sometimes `SHA-256`, sometimes only `auth-int`. Digest is
//! always preferred; Basic is used only when the caller allows it (GenieACS keeps it off by
//! default too) because it sends the password in the clear over plain HTTP.

use super::algorithm::{DigestAlgorithm, DigestInput};
use super::params::{AuthItem, parse_challenges, quote};
use super::{basic, nonce};
use crate::secret::Credentials;

/// Why no `Authorization` could be computed from a 401.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// The 401 carried no `WWW-Authenticate` we could read.
    #[error("the 401 carried no authentication challenge")]
    NoChallenge,
    /// Only Basic was offered and Basic is not allowed.
    #[error("the device offers only basic authentication, which is not allowed")]
    BasicNotAllowed,
    /// Challenges were offered, none usable (unknown scheme or algorithm, no nonce, a qop we
    /// do not know). Lists the schemes and algorithms seen.
    #[error("no usable authentication challenge (offered: {0})")]
    Unsupported(String),
}

/// The nonce count we send: one request per challenge, so always the first use.
const NC: &str = "00000001";

/// A fresh random client nonce (16 bytes, hex).
pub fn new_cnonce() -> String {
    let mut bytes = [0u8; 16];
    nonce::fill_random(&mut bytes);
    hex::encode(bytes)
}

/// Computes the `Authorization` value answering the challenges in `www_authenticate` (every
/// `WWW-Authenticate` header value of the 401, in order) for a request `method uri`.
///
/// Picks the strongest usable digest challenge (SHA-256 before MD5), prefers `qop=auth`, uses
/// `auth-int` (over the empty body of a GET) when that is all that is offered, and falls back to
/// RFC 2069 when no qop is offered. Basic is answered only if no digest challenge is usable and
/// `allow_basic` is set.
pub fn answer_challenges(
    www_authenticate: &[&str],
    method: &str,
    uri: &str,
    credentials: &Credentials,
    allow_basic: bool,
    cnonce: &str,
) -> Result<String, ChallengeError> {
    let items: Vec<AuthItem> = www_authenticate
        .iter()
        .flat_map(|h| parse_challenges(h))
        .collect();
    if items.is_empty() {
        return Err(ChallengeError::NoChallenge);
    }
    let best = items
        .iter()
        .filter(|item| item.scheme.eq_ignore_ascii_case("digest"))
        .filter_map(DigestChallenge::from_item)
        .min_by_key(|c| c.rank());
    if let Some(challenge) = best {
        return Ok(challenge.authorization(method, uri, credentials, cnonce));
    }
    if items
        .iter()
        .any(|item| item.scheme.eq_ignore_ascii_case("basic"))
    {
        return if allow_basic {
            Ok(basic::encode(&credentials.username, &credentials.password))
        } else {
            Err(ChallengeError::BasicNotAllowed)
        };
    }
    let offered: Vec<String> = items
        .iter()
        .map(|item| match item.param("algorithm") {
            Some(alg) => format!("{} {alg}", item.scheme),
            None => item.scheme.clone(),
        })
        .collect();
    Err(ChallengeError::Unsupported(offered.join(", ")))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Qop {
    Auth,
    AuthInt,
    /// RFC 2069: the challenge offered no qop.
    None,
}

struct DigestChallenge<'a> {
    realm: &'a str,
    nonce: &'a str,
    opaque: Option<&'a str>,
    algorithm: DigestAlgorithm,
    /// Echo `algorithm=` only when the challenge named one: RFC 2069 agents know no such field.
    algorithm_named: bool,
    qop: Qop,
}

impl<'a> DigestChallenge<'a> {
    fn from_item(item: &'a AuthItem) -> Option<Self> {
        let nonce = item.param("nonce")?;
        let algorithm = match item.param("algorithm") {
            Some(token) => token.parse().ok()?,
            None => DigestAlgorithm::Md5,
        };
        let qop = match item.param("qop") {
            None => Qop::None,
            Some(list) => {
                let offered =
                    |want: &str| list.split(',').any(|q| q.trim().eq_ignore_ascii_case(want));
                if offered("auth") {
                    Qop::Auth
                } else if offered("auth-int") {
                    Qop::AuthInt
                } else {
                    return None;
                }
            }
        };
        Some(Self {
            realm: item.param("realm").unwrap_or(""),
            nonce,
            opaque: item.param("opaque"),
            algorithm,
            algorithm_named: item.param("algorithm").is_some(),
            qop,
        })
    }

    fn rank(&self) -> (u8, Qop) {
        let alg = match self.algorithm {
            DigestAlgorithm::Sha256 => 0,
            DigestAlgorithm::Sha256Sess => 1,
            DigestAlgorithm::Md5 => 2,
            DigestAlgorithm::Md5Sess => 3,
        };
        (alg, self.qop)
    }

    fn authorization(&self, method: &str, uri: &str, creds: &Credentials, cnonce: &str) -> String {
        let qop = match self.qop {
            Qop::Auth => Some("auth"),
            Qop::AuthInt => Some("auth-int"),
            Qop::None => None,
        };
        let input = DigestInput {
            algorithm: self.algorithm,
            username: &creds.username,
            realm: self.realm,
            password: creds.password.expose(),
            method,
            uri,
            nonce: self.nonce,
            qop: qop.map(|q| (q, NC, cnonce)),
            cnonce,
        };
        // auth-int covers the entity body: a connection request GET has none, so H("").
        let body_hash = (self.qop == Qop::AuthInt).then(|| self.algorithm.hash_hex(b""));
        let response = input.response(body_hash.as_deref());
        let mut out = format!(
            "Digest username={}, realm={}, nonce={}, uri={}",
            quote(&creds.username),
            quote(self.realm),
            quote(self.nonce),
            quote(uri)
        );
        if self.algorithm_named {
            out.push_str(&format!(", algorithm={}", self.algorithm));
        }
        out.push_str(&format!(", response={}", quote(&response)));
        if let Some(qop) = qop {
            out.push_str(&format!(", qop={qop}, nc={NC}, cnonce={}", quote(cnonce)));
        } else if self.algorithm.is_session() {
            // MD5-sess without qop still needs the cnonce for HA1 (RFC 2617 §3.2.2.2).
            out.push_str(&format!(", cnonce={}", quote(cnonce)));
        }
        if let Some(opaque) = self.opaque {
            out.push_str(&format!(", opaque={}", quote(opaque)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::auth::{AuthMode, AuthScheme, CpeAuthConfig, CpeAuthenticator, NonceKey};

    fn mufasa(password: &str) -> Credentials {
        Credentials::new("Mufasa", password)
    }

    #[test]
    fn rfc7616_section_3_9_1_prefers_sha256() {
        let common = r#"realm="http-auth@example.org", qop="auth, auth-int",
            nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
        let sha = format!("Digest {common}, algorithm=SHA-256");
        let md5 = format!("Digest {common}, algorithm=MD5");
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let creds = mufasa("Circle of Life");
        let got = answer_challenges(
            &[&md5, &sha],
            "GET",
            "/dir/index.html",
            &creds,
            false,
            cnonce,
        );
        assert_eq!(
            got.unwrap(),
            "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", uri=\"/dir/index.html\", \
             algorithm=SHA-256, \
             response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", \
             qop=auth, nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        );
        let got = answer_challenges(&[&md5], "GET", "/dir/index.html", &creds, false, cnonce);
        assert!(
            got.unwrap()
                .contains(r#"response="8ca523f5e9506fed4657c9700eebdbec""#)
        );
    }

    #[test]
    fn rfc2617_section_3_5() {
        let challenge = r#"Digest realm="testrealm@host.com", qop="auth,auth-int",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let creds = mufasa("Circle Of Life");
        let got = answer_challenges(
            &[challenge],
            "GET",
            "/dir/index.html",
            &creds,
            false,
            "0a4f113b",
        );
        assert_eq!(
            got.unwrap(),
            "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
             response=\"6629fae49393a05397450978507c4ef1\", qop=auth, nc=00000001, \
             cnonce=\"0a4f113b\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""
        );
    }

    /// Every flavour a CPE may challenge with, answered by the client and checked by our own
    /// server-side verifier (itself pinned to the RFC vectors).
    #[test]
    fn answers_every_flavour_correctly() {
        let now = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        let cpe = CpeAuthenticator::new(CpeAuthConfig {
            realm: "cpe".into(),
            nonce_key: NonceKey::from_bytes(b"cpe key"),
            digest_algorithms: vec![DigestAlgorithm::Md5, DigestAlgorithm::Sha256],
            ..CpeAuthConfig::new(AuthMode::Digest)
        });
        let nonce = NonceKey::from_bytes(b"cpe key").issue("cpe", now);
        let creds = Credentials::new("acs", "cr-pass");
        for (challenge, scheme) in [
            (
                format!(r#"Digest realm="cpe", nonce="{nonce}", qop="auth""#),
                DigestAlgorithm::Md5,
            ),
            (
                format!(r#"Digest realm="cpe", nonce="{nonce}""#),
                DigestAlgorithm::Md5,
            ),
            (
                format!(r#"Digest realm="cpe", nonce="{nonce}", algorithm=MD5-sess, qop=auth"#),
                DigestAlgorithm::Md5Sess,
            ),
            (
                format!(r#"Digest realm="cpe", nonce="{nonce}", algorithm=MD5-sess"#),
                DigestAlgorithm::Md5Sess,
            ),
            (
                format!(r#"Digest realm="cpe", nonce="{nonce}", algorithm=SHA-256, qop="auth""#),
                DigestAlgorithm::Sha256,
            ),
            (
                format!(r#"Digest realm="cpe", nonce="{nonce}", algorithm=sha-256"#),
                DigestAlgorithm::Sha256,
            ),
        ] {
            let authorization =
                answer_challenges(&[&challenge], "GET", "/cr/x?y=1", &creds, false, "c0ffee")
                    .unwrap();
            let result = cpe.authenticate(Some(&authorization), "GET", "/cr/x?y=1", &creds, now);
            assert_eq!(
                result.map(|a| a.scheme),
                Ok(AuthScheme::Digest(scheme)),
                "{challenge}\n{authorization}"
            );
        }
    }

    #[test]
    fn auth_int_over_the_empty_body() {
        let creds = mufasa("pw");
        let got = answer_challenges(
            &[r#"Digest realm="r", nonce="n", qop="auth-int""#],
            "GET",
            "/",
            &creds,
            false,
            "c",
        )
        .unwrap();
        let ha1 = DigestAlgorithm::Md5.hash_hex(b"Mufasa:r:pw");
        let ha2 = DigestAlgorithm::Md5
            .hash_hex(format!("GET:/:{}", DigestAlgorithm::Md5.hash_hex(b"")).as_bytes());
        let response =
            DigestAlgorithm::Md5.hash_hex(format!("{ha1}:n:00000001:c:auth-int:{ha2}").as_bytes());
        assert!(
            got.contains(&format!("response=\"{response}\", qop=auth-int,")),
            "{got}"
        );
    }

    #[test]
    fn basic_only_when_allowed_and_digest_first() {
        let creds = Credentials::new("Aladdin", "open sesame");
        let basic = r#"Basic realm="cpe""#;
        assert_eq!(
            answer_challenges(&[basic], "GET", "/", &creds, true, "c"),
            Ok("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".to_owned())
        );
        assert_eq!(
            answer_challenges(&[basic], "GET", "/", &creds, false, "c"),
            Err(ChallengeError::BasicNotAllowed)
        );
        let both = r#"Basic realm="cpe", Digest realm="cpe", nonce="n""#;
        let got = answer_challenges(&[both], "GET", "/", &creds, true, "c").unwrap();
        assert!(got.starts_with("Digest "), "{got}");
    }

    #[test]
    fn unusable_challenges_say_what_was_offered() {
        let creds = mufasa("pw");
        let answer = |headers: &[&str]| answer_challenges(headers, "GET", "/", &creds, false, "c");
        assert_eq!(answer(&[]), Err(ChallengeError::NoChallenge));
        assert_eq!(answer(&["  "]), Err(ChallengeError::NoChallenge));
        assert_eq!(
            answer(&[
                r#"Digest realm="r", nonce="n", algorithm=SHA-512-256"#,
                "Negotiate"
            ]),
            Err(ChallengeError::Unsupported(
                "Digest SHA-512-256, Negotiate".into()
            ))
        );
        assert_eq!(
            answer(&[r#"Digest realm="r", qop="auth-conf", nonce="n""#]),
            Err(ChallengeError::Unsupported("Digest".into()))
        );
        assert_eq!(
            answer(&[r#"Digest realm="r""#]),
            Err(ChallengeError::Unsupported("Digest".into()))
        );
    }

    #[test]
    fn cnonces_are_fresh() {
        let (a, b) = (new_cnonce(), new_cnonce());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
