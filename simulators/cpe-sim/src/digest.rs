//! HTTP authentication as a CPE does it: answering an ACS's Basic or Digest challenge (RFC 7616
//! with `qop=auth`, MD5 and SHA-256; RFC 2617 without qop), and checking the ACS's Digest
//! credentials on a connection request (TR-069 §3.2.2).
//!
//! Written here rather than shared with the server's `acs-session` on purpose: the simulator is
//! an independent check of the server (DESIGN §2), and a digest bug shared by both sides would
//! authenticate happily and never be seen.

use std::time::{SystemTime, UNIX_EPOCH};

use md5::{Digest as _, Md5};
use ring::rand::{SecureRandom, SystemRandom};

/// The hash a Digest challenge asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(data.as_bytes())),
            Algorithm::Sha256 => {
                hex(ring::digest::digest(&ring::digest::SHA256, data.as_bytes()).as_ref())
            }
        }
    }
}

/// A `WWW-Authenticate` challenge the CPE can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Digest {
        realm: String,
        /// The nonce as this CPE answers it (cut to [`ChallengeRules::nonce_limit`]).
        nonce: String,
        /// The nonce's length as sent, when it was longer than this CPE keeps.
        nonce_cut_from: Option<usize>,
        opaque: Option<String>,
        algorithm: Algorithm,
        /// The server offered `qop=auth` (else RFC 2069-style, no nc/cnonce).
        qop_auth: bool,
    },
}

/// How a CPE's HTTP client reads a 401's challenges: the default reads them all and answers
/// the first it can; deployed agents read less (PROTOCOL §16.1–2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChallengeRules {
    /// Only the first `WWW-Authenticate` header is looked at.
    pub first_only: bool,
    /// Digest with MD5 only.
    pub md5_only: bool,
    /// The nonce is cut to this many characters (a fixed-size buffer).
    pub nonce_limit: Option<usize>,
}

/// The challenge to answer among an ACS's `WWW-Authenticate` headers under `rules`: the first
/// Digest one with an algorithm this CPE has (MD5, SHA-256), else Basic. Without one, why not
/// (`digest algorithm SHA-256 unsupported`, `no WWW-Authenticate challenge`, …).
pub fn pick_challenge<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    rules: ChallengeRules,
) -> Result<Challenge, String> {
    let mut basic = false;
    let mut why = "no WWW-Authenticate challenge".to_owned();
    let headers = headers
        .into_iter()
        .take(if rules.first_only { 1 } else { usize::MAX });
    for header in headers {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            basic = true;
            continue;
        }
        if !scheme.eq_ignore_ascii_case("digest") {
            why = format!("authentication scheme {scheme} unsupported");
            continue;
        }
        let params = parse_params(rest);
        let get = |k: &str| param(&params, k).map(str::to_owned);
        let named = get("algorithm");
        let algorithm = match named.as_deref().map(str::to_ascii_uppercase).as_deref() {
            None | Some("MD5") => Algorithm::Md5,
            Some("SHA-256") if !rules.md5_only => Algorithm::Sha256,
            Some(_) => {
                why = format!(
                    "digest algorithm {} unsupported",
                    named.as_deref().unwrap_or_default()
                );
                continue;
            }
        };
        let qop = get("qop");
        let qop_auth = qop
            .as_deref()
            .is_some_and(|q| q.split(',').any(|q| q.trim() == "auth"));
        if let Some(qop) = qop.filter(|_| !qop_auth) {
            why = format!("digest qop {qop} unsupported");
            continue;
        }
        let Some(mut nonce) = get("nonce") else {
            why = "digest challenge without a nonce".to_owned();
            continue;
        };
        let mut nonce_cut_from = None;
        if let Some(limit) = rules.nonce_limit
            && nonce.chars().count() > limit
        {
            nonce_cut_from = Some(nonce.chars().count());
            nonce = nonce.chars().take(limit).collect();
        }
        return Ok(Challenge::Digest {
            realm: get("realm").unwrap_or_default(),
            nonce,
            nonce_cut_from,
            opaque: get("opaque"),
            algorithm,
            qop_auth,
        });
    }
    if basic {
        Ok(Challenge::Basic)
    } else {
        Err(why)
    }
}

/// The `Authorization` header answering `challenge` for `method uri`; `nc` counts the
/// requests made with this nonce (1 for the first).
pub fn authorization(
    challenge: &Challenge,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    nc: u32,
) -> String {
    match challenge {
        Challenge::Basic => format!("Basic {}", base64(format!("{user}:{password}").as_bytes())),
        Challenge::Digest {
            realm,
            nonce,
            opaque,
            algorithm,
            qop_auth,
            ..
        } => {
            let ha1 = algorithm.hash(&format!("{user}:{realm}:{password}"));
            let ha2 = algorithm.hash(&format!("{method}:{uri}"));
            let mut out = format!(
                "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", algorithm={}",
                quote(user),
                quote(realm),
                quote(nonce),
                quote(uri),
                algorithm.name()
            );
            if *qop_auth {
                let cnonce = random_hex(8);
                let nc = format!("{nc:08x}");
                let response = algorithm.hash(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
                out.push_str(&format!(
                    ", qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{response}\""
                ));
            } else {
                let response = algorithm.hash(&format!("{ha1}:{nonce}:{ha2}"));
                out.push_str(&format!(", response=\"{response}\""));
            }
            if let Some(opaque) = opaque {
                out.push_str(&format!(", opaque=\"{}\"", quote(opaque)));
            }
            out
        }
    }
}

/// The connection-request side: issues challenges and checks answers. Nonces are stateless
/// (a timestamp and a keyed hash of it), so an ACS may answer on a new TCP connection.
#[derive(Debug)]
pub struct Verifier {
    realm: String,
    secret: String,
}

/// How long a connection-request nonce stays valid.
const NONCE_LIFETIME_SECS: u64 = 300;

impl Verifier {
    pub fn new(realm: &str) -> Verifier {
        Verifier {
            realm: realm.to_owned(),
            secret: random_hex(16),
        }
    }

    fn nonce_at(&self, secs: u64) -> String {
        let mac = Algorithm::Sha256.hash(&format!("{}:{secs:x}", self.secret));
        format!("{secs:x}.{}", &mac[..24])
    }

    /// The `WWW-Authenticate` values of a 401: MD5 first (what most ACSs implement), then
    /// SHA-256.
    pub fn challenges(&self) -> [String; 2] {
        let nonce = self.nonce_at(unix_now());
        [Algorithm::Md5, Algorithm::Sha256].map(|a| {
            format!(
                "Digest realm=\"{}\", qop=\"auth\", nonce=\"{nonce}\", algorithm={}",
                self.realm,
                a.name()
            )
        })
    }

    /// The `WWW-Authenticate` value of a listener that offers Basic only.
    pub fn basic_challenge(&self) -> String {
        format!("Basic realm=\"{}\"", self.realm)
    }

    /// Whether `header` is `Basic base64(user:password)` (scheme case-insensitive).
    pub fn verify_basic(header: &str, user: &str, password: &str) -> bool {
        let header = header.trim();
        let Some((scheme, token)) = header.split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("basic")
            && token.trim() == base64(format!("{user}:{password}").as_bytes())
    }

    /// Whether `header` (an `Authorization` value) is a valid Digest answer for `method` by
    /// `user`/`password` to a nonce this verifier issued recently.
    pub fn verify(&self, header: &str, method: &str, user: &str, password: &str) -> bool {
        let Some(rest) = header
            .trim()
            .strip_prefix("Digest ")
            .or_else(|| header.trim().strip_prefix("digest "))
        else {
            return false;
        };
        let params = parse_params(rest);
        let get = |k: &str| param(&params, k);
        let (Some(username), Some(nonce), Some(uri), Some(response)) =
            (get("username"), get("nonce"), get("uri"), get("response"))
        else {
            return false;
        };
        if username != user || get("realm") != Some(self.realm.as_str()) {
            return false;
        }
        let Some(secs) = nonce
            .split_once('.')
            .and_then(|(t, _)| u64::from_str_radix(t, 16).ok())
        else {
            return false;
        };
        if self.nonce_at(secs) != nonce || unix_now().saturating_sub(secs) > NONCE_LIFETIME_SECS {
            return false;
        }
        let algorithm = match get("algorithm").map(str::to_ascii_uppercase).as_deref() {
            None | Some("MD5") => Algorithm::Md5,
            Some("SHA-256") => Algorithm::Sha256,
            Some(_) => return false,
        };
        let ha1 = algorithm.hash(&format!("{user}:{}:{password}", self.realm));
        let ha2 = algorithm.hash(&format!("{method}:{uri}"));
        let expected = match (get("qop"), get("nc"), get("cnonce")) {
            (Some("auth"), Some(nc), Some(cnonce)) => {
                algorithm.hash(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
            }
            (None, _, _) => algorithm.hash(&format!("{ha1}:{nonce}:{ha2}")),
            _ => return false,
        };
        expected.eq_ignore_ascii_case(response)
    }
}

/// Comma-separated `name=value` / `name="quoted value"` pairs of an auth header.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().trim_start_matches(',').trim().to_owned();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            rest = &quoted[end.min(quoted.len())..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        out.push((name, value));
    }
    out
}

/// The value of parameter `name` (names are case-insensitive, RFC 7616 §3.3).
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `n` random bytes as lower-case hex (cnonces, nonce secrets).
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // SystemRandom only fails when the OS has no randomness at all; a zero cnonce still works.
    let _ = SystemRandom::new().fill(&mut buf);
    hex(&buf)
}

/// A random seed (per-device jitter and fault draws).
pub fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    let _ = SystemRandom::new().fill(&mut buf);
    u64::from_le_bytes(buf)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2617_example_response() {
        // RFC 2617 §3.5, with the cnonce fixed by computing the response by hand.
        let a = Algorithm::Md5;
        let ha1 = a.hash("Mufasa:testrealm@host.com:Circle Of Life");
        let ha2 = a.hash("GET:/dir/index.html");
        let r = a.hash(&format!(
            "{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}"
        ));
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn basic_is_base64_of_user_colon_password() {
        let h = authorization(&Challenge::Basic, "Aladdin", "open sesame", "POST", "/", 1);
        assert_eq!(h, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    }

    /// What acs sent before issue 14: SHA-256 first, then MD5, 64-hex-digit nonces.
    const TWO_CHALLENGES: [&str; 2] = [
        "Digest realm=\"acs\", qop=\"auth\", algorithm=SHA-256, nonce=\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"",
        "Digest realm=\"acs\", qop=\"auth\", algorithm=MD5, nonce=\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"",
    ];

    fn algorithm(c: &Challenge) -> Algorithm {
        match c {
            Challenge::Digest { algorithm, .. } => *algorithm,
            Challenge::Basic => panic!("basic"),
        }
    }

    #[test]
    fn challenge_rules_of_deployed_agents() {
        let all = ChallengeRules::default();
        assert_eq!(
            algorithm(&pick_challenge(TWO_CHALLENGES, all).unwrap()),
            Algorithm::Sha256
        );
        let md5 = ChallengeRules {
            md5_only: true,
            ..all
        };
        assert_eq!(
            algorithm(&pick_challenge(TWO_CHALLENGES, md5).unwrap()),
            Algorithm::Md5,
            "an MD5-only client that reads every header finds the second"
        );
        let first_md5 = ChallengeRules {
            first_only: true,
            ..md5
        };
        assert_eq!(
            pick_challenge(TWO_CHALLENGES, first_md5).unwrap_err(),
            "digest algorithm SHA-256 unsupported"
        );
        assert_eq!(
            algorithm(&pick_challenge([TWO_CHALLENGES[1]], first_md5).unwrap()),
            Algorithm::Md5
        );
        assert_eq!(
            pick_challenge(["NTLM"], all).unwrap_err(),
            "authentication scheme NTLM unsupported"
        );
        assert_eq!(
            pick_challenge(["Basic realm=\"x\""], first_md5),
            Ok(Challenge::Basic)
        );
    }

    #[test]
    fn a_cut_nonce_is_answered_and_refused() {
        let cut = ChallengeRules {
            nonce_limit: Some(32),
            ..ChallengeRules::default()
        };
        match pick_challenge([TWO_CHALLENGES[1]], cut).unwrap() {
            Challenge::Digest {
                nonce,
                nonce_cut_from,
                ..
            } => {
                assert_eq!(nonce, "0123456789abcdef0123456789abcdef");
                assert_eq!(nonce_cut_from, Some(64));
            }
            Challenge::Basic => panic!("basic"),
        }
        // 32 characters fit.
        let short =
            "Digest realm=\"acs\", qop=\"auth\", nonce=\"0123456789abcdef0123456789abcdef\"";
        assert!(matches!(
            pick_challenge([short], cut),
            Ok(Challenge::Digest {
                nonce_cut_from: None,
                ..
            })
        ));
        // The verifier's own nonces are longer than 32: the cut answer does not verify.
        let v = Verifier::new("cpe-sim");
        let [md5, _] = v.challenges();
        let c = pick_challenge([md5.as_str()], cut).unwrap();
        let answer = authorization(&c, "u", "p", "GET", "/cr/X", 1);
        assert!(!v.verify(&answer, "GET", "u", "p"));
    }

    #[test]
    fn basic_answers_are_checked() {
        let good = authorization(&Challenge::Basic, "u", "p", "GET", "/", 1);
        assert!(Verifier::verify_basic(&good, "u", "p"));
        assert!(Verifier::verify_basic(
            &good.replace("Basic", "basic"),
            "u",
            "p"
        ));
        assert!(!Verifier::verify_basic(&good, "u", "q"));
        assert!(!Verifier::verify_basic("Digest x", "u", "p"));
        assert!(!Verifier::verify_basic("Basic", "u", "p"));
    }

    #[test]
    fn verifier_accepts_its_own_challenge_answered_and_rejects_a_wrong_password() {
        let v = Verifier::new("cpe-sim");
        for challenge in v.challenges() {
            let c = pick_challenge([challenge.as_str()], ChallengeRules::default()).unwrap();
            let good = authorization(&c, "u", "p", "GET", "/cr/X", 1);
            assert!(v.verify(&good, "GET", "u", "p"), "{good}");
            let bad = authorization(&c, "u", "wrong", "GET", "/cr/X", 1);
            assert!(!v.verify(&bad, "GET", "u", "p"));
        }
    }
}
