//! The digest computation shared by both directions (RFC 7616 §3.4, RFC 2617 §3.2.2, RFC 2069).

use std::fmt;
use std::str::FromStr;

use md5::{Digest as _, Md5};

/// A digest algorithm as named by the `algorithm` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// `MD5`, also what an absent `algorithm` means (RFC 2617, RFC 2069). TR-069 mandates it.
    Md5,
    /// `MD5-sess`: HA1 also covers the nonce and cnonce. TR-069 CPEs must support it.
    Md5Sess,
    /// `SHA-256` (RFC 7616).
    Sha256,
    /// `SHA-256-sess` (RFC 7616).
    Sha256Sess,
}

impl DigestAlgorithm {
    /// The token as it appears in headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }

    /// `true` for the `-sess` variants.
    pub fn is_session(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }

    /// The same algorithm without `-sess`: what a server challenge offers.
    pub fn base(self) -> Self {
        match self {
            Self::Md5 | Self::Md5Sess => Self::Md5,
            Self::Sha256 | Self::Sha256Sess => Self::Sha256,
        }
    }

    /// Hex-encoded hash of `data`, lower case.
    pub(crate) fn hash_hex(self, data: &[u8]) -> String {
        match self.base() {
            Self::Md5 => hex::encode(Md5::digest(data)),
            _ => hex::encode(ring::digest::digest(&ring::digest::SHA256, data)),
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `algorithm` token named something we do not implement (e.g. `SHA-512-256`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unsupported digest algorithm `{0}`")]
pub struct UnsupportedAlgorithm(pub String);

impl FromStr for DigestAlgorithm {
    type Err = UnsupportedAlgorithm;

    /// Case-insensitive, as RFC 7616 §3.3 asks.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        [Self::Md5, Self::Md5Sess, Self::Sha256, Self::Sha256Sess]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnsupportedAlgorithm(s.to_owned()))
    }
}

/// Names in a list of algorithms to offer that are not `md5` or `sha-256`, all of them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown digest algorithm(s) {}: expected a comma-separated list of md5, sha-256",
    .0.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
)]
pub struct UnknownDigestAlgorithms(pub Vec<String>);

impl DigestAlgorithm {
    /// The challenges to offer, from configuration (`md5,sha-256`): names case-insensitive,
    /// order kept, duplicates and empty entries dropped. Only `md5` and `sha-256` can be
    /// offered (a CPE may answer either with its `-sess` variant anyway); any other name, and
    /// a list with none at all, is an error naming what was wrong.
    pub fn offer_list<S: AsRef<str>>(names: &[S]) -> Result<Vec<Self>, UnknownDigestAlgorithms> {
        let mut offered = Vec::new();
        let mut unknown = Vec::new();
        for name in names.iter().map(|n| n.as_ref().trim()) {
            if name.is_empty() {
                continue;
            }
            match name.parse::<Self>() {
                Ok(alg) if !alg.is_session() => {
                    if !offered.contains(&alg) {
                        offered.push(alg);
                    }
                }
                _ => unknown.push(name.to_owned()),
            }
        }
        if offered.is_empty() && unknown.is_empty() {
            unknown.push(String::new());
        }
        if unknown.is_empty() {
            Ok(offered)
        } else {
            Err(UnknownDigestAlgorithms(unknown))
        }
    }
}

/// Everything that goes into a digest `response`.
pub(crate) struct DigestInput<'a> {
    pub(crate) algorithm: DigestAlgorithm,
    pub(crate) username: &'a str,
    pub(crate) realm: &'a str,
    pub(crate) password: &'a str,
    pub(crate) method: &'a str,
    pub(crate) uri: &'a str,
    pub(crate) nonce: &'a str,
    /// `Some((qop, nc, cnonce))` for RFC 2617/7616 style; `None` for RFC 2069 style.
    pub(crate) qop: Option<(&'a str, &'a str, &'a str)>,
    /// Needed by `-sess` even without qop (RFC 2617 §3.2.2.2).
    pub(crate) cnonce: &'a str,
}

impl DigestInput<'_> {
    /// The hex `response` value. Only `qop=auth` (or none) is computed here: HA2 = H(method:uri).
    /// `auth-int` for an empty body is H(method:uri:H("")), handled by the client side.
    pub(crate) fn response(&self, ha2_extra: Option<&str>) -> String {
        let alg = self.algorithm;
        let mut ha1 =
            alg.hash_hex(format!("{}:{}:{}", self.username, self.realm, self.password).as_bytes());
        if alg.is_session() {
            ha1 = alg.hash_hex(format!("{ha1}:{}:{}", self.nonce, self.cnonce).as_bytes());
        }
        let ha2 = match ha2_extra {
            None => alg.hash_hex(format!("{}:{}", self.method, self.uri).as_bytes()),
            Some(body_hash) => {
                alg.hash_hex(format!("{}:{}:{body_hash}", self.method, self.uri).as_bytes())
            }
        };
        let data = match self.qop {
            Some((qop, nc, cnonce)) => format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", self.nonce),
            None => format!("{ha1}:{}:{ha2}", self.nonce),
        };
        alg.hash_hex(data.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_tokens_are_case_insensitive() {
        assert_eq!("md5".parse(), Ok(DigestAlgorithm::Md5));
        assert_eq!("MD5-SESS".parse(), Ok(DigestAlgorithm::Md5Sess));
        assert_eq!(" sha-256 ".parse(), Ok(DigestAlgorithm::Sha256));
        assert_eq!("SHA-256-sess".parse(), Ok(DigestAlgorithm::Sha256Sess));
        assert_eq!(
            "SHA-512-256".parse::<DigestAlgorithm>(),
            Err(UnsupportedAlgorithm("SHA-512-256".into()))
        );
    }

    #[test]
    fn offer_lists_keep_their_order_and_name_every_unknown_entry() {
        use DigestAlgorithm::{Md5, Sha256};
        assert_eq!(DigestAlgorithm::offer_list(&["md5"]), Ok(vec![Md5]));
        assert_eq!(
            DigestAlgorithm::offer_list(&[" SHA-256", "md5", "sha-256", ""]),
            Ok(vec![Sha256, Md5])
        );
        let err =
            DigestAlgorithm::offer_list(&["md5", "sha-512", "MD5-sess", "x\u{1b}"]).unwrap_err();
        assert_eq!(err.0, ["sha-512", "MD5-sess", "x\u{1b}"]);
        let msg = err.to_string();
        assert!(msg.contains(r#""sha-512", "MD5-sess""#), "{msg}");
        assert!(!msg.contains('\u{1b}'), "{msg}");
        assert_eq!(
            DigestAlgorithm::offer_list::<&str>(&[]),
            Err(UnknownDigestAlgorithms(vec![String::new()]))
        );
    }

    /// Lower-case hex, as RFC 7616 §3.4.1 writes digests: RFC 2617's test vector.
    #[test]
    fn hashes_are_lower_case_hex() {
        assert_eq!(
            DigestAlgorithm::Md5.hash_hex(b"Mufasa:testrealm@host.com:Circle Of Life"),
            "939e7578ed9e3c518a452acee763bce9"
        );
        assert_eq!(
            DigestAlgorithm::Sha256Sess.hash_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
