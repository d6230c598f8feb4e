//! Server-side HTTP Basic (RFC 7617).
//!
//! TR-069 §3.4.4 allows Basic only over TLS: without TLS the password crosses the network in
//! the clear. Whether TLS is on is configuration's business; the server warns at start when
//! Basic runs without it (see [`super::CpeAuthConfig::startup_warning`]).

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

use super::AuthError;
use crate::secret::Secret;
use subtle::ConstantTimeEq as _;

/// Standard alphabet, padding optional: some clients drop the `=`.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes `user:pass` from the token68 of `Authorization: Basic …`.
pub(crate) fn decode(token68: &str) -> Result<(String, Secret), AuthError> {
    let compact: String = token68
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = LENIENT
        .decode(compact)
        .map_err(|_| AuthError::InvalidBasicEncoding)?;
    // RFC 7617 leaves the charset to the server; UTF-8 first, Latin-1 as the fallback that
    // never fails (every byte is a Latin-1 character).
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => err.into_bytes().iter().map(|&b| char::from(b)).collect(),
    };
    let (user, pass) = text.split_once(':').ok_or(AuthError::MissingColon)?;
    Ok((user.to_owned(), Secret::new(pass)))
}

/// Compares passwords without leaking where they differ or how long the stored one is: both
/// sides are hashed first, so the compared lengths are always 32 bytes.
pub(crate) fn password_matches(given: &Secret, stored: &Secret) -> bool {
    let h = |s: &Secret| ring::digest::digest(&ring::digest::SHA256, s.expose().as_bytes());
    h(given).as_ref().ct_eq(h(stored).as_ref()).into()
}

/// The `Authorization` value a client sends (used by connection requests).
pub(crate) fn encode(username: &str, password: &Secret) -> String {
    let raw = format!("{username}:{}", password.expose());
    format!("Basic {}", general_purpose::STANDARD.encode(raw))
}

/// The `WWW-Authenticate` value we send.
pub(crate) fn challenge(realm: &str) -> String {
    format!("Basic realm={}", super::params::quote(realm))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_rfc7617_example_and_variants() {
        // RFC 7617 §2: Aladdin / open sesame.
        let (user, pass) = decode("QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap();
        assert_eq!((user.as_str(), pass.expose()), ("Aladdin", "open sesame"));
        // Without padding; password containing colons.
        let (user, pass) = decode("dTpwOnE6cg").unwrap();
        assert_eq!((user.as_str(), pass.expose()), ("u", "p:q:r"));
        // Latin-1 bytes: "ü:x".
        let (user, _) = decode(&general_purpose::STANDARD.encode(b"\xfc:x")).unwrap();
        assert_eq!(user, "ü");
        assert_eq!(decode("!!!"), Err(AuthError::InvalidBasicEncoding));
        assert_eq!(decode("bm9jb2xvbg=="), Err(AuthError::MissingColon));
    }

    #[test]
    fn encode_round_trips() {
        let secret = Secret::new("open sesame");
        assert_eq!(
            encode("Aladdin", &secret),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert!(password_matches(&secret, &Secret::new("open sesame")));
        assert!(!password_matches(&secret, &Secret::new("open sesame ")));
    }
}
