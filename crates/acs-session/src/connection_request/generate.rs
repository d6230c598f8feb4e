//! Connection-request credentials acs makes up for a device that has none (DESIGN §8): random,
//! per device, from ring's `SystemRandom`, in characters every CPE stack takes (letters and
//! digits: some agents mangle `"`, `\`, `:` or spaces in a digest username or password).

use ring::rand::{SecureRandom, SystemRandom};

use crate::secret::Credentials;

/// Letters and digits: 62 symbols.
const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Random characters after the `cr-` prefix of a username (about 71 bits: unique per device,
/// and not guessable from the serial number).
const USERNAME_CHARS: usize = 12;
/// Characters of a password: about 143 bits.
const PASSWORD_CHARS: usize = 24;

/// A fresh pair: username `cr-` followed by 12 letters or digits, password of 24.
pub fn generate_credentials() -> Credentials {
    let rng = SystemRandom::new();
    let username = format!("cr-{}", random_text(&rng, USERNAME_CHARS));
    Credentials::new(username, random_text(&rng, PASSWORD_CHARS))
}

/// `n` uniform characters of [`ALPHABET`] (rejection sampling: no modulo bias).
fn random_text(rng: &SystemRandom, n: usize) -> String {
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        rng.fill(&mut buf).expect("the system random source works");
        // 248 = 4 x 62: bytes at or above it would favour the first symbols
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == n {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(b % 62)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_random_alphanumeric_and_distinct() {
        let a = generate_credentials();
        let b = generate_credentials();
        assert!(a.username.starts_with("cr-") && a.username.len() == 3 + USERNAME_CHARS);
        assert_eq!(a.password.expose().len(), PASSWORD_CHARS);
        for text in [&a.username[3..], a.password.expose()] {
            assert!(text.bytes().all(|c| c.is_ascii_alphanumeric()), "{text}");
        }
        assert_ne!(a.username, b.username);
        assert_ne!(a.password, b.password);
    }
}
