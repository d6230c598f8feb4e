//! Stateless digest nonces, 32 hex characters.
//!
//! A nonce is `hex(timestamp ‖ salt ‖ HMAC-SHA256(key, "acs-digest-nonce" ‖ timestamp ‖ salt ‖
//! realm)[..8])`: 4 bytes of Unix seconds (big endian, modulo 2^32), 4 random bytes, 8 bytes of
//! tag, 32 hex characters in all. Nothing is stored: any node holding the key validates any
//! nonce, so a CPE that reconnects after the 401 (AVM FRITZ!Box, PROTOCOL.md §15.6) or lands on
//! another node behind a load balancer authenticates all the same. The realm is signed so that
//! a nonce issued for one realm is no good in another; the salt makes every challenge's nonce
//! fresh, as TR-069 §3.4.4 asks ("a fresh nonce for each new TCP connection").
//!
//! Why 32 characters: deployed CPE stacks copy the nonce into fixed buffers (a C agent's is 33
//! bytes, PROTOCOL.md §16.2), and the best-known open-source ACS sends 32 hex digits, so that
//! is what stacks are tested with. The price is a 64-bit tag: forging a nonce takes about 2^63
//! requests to this server, and a forged nonce alone grants nothing (the response still needs
//! the password); it would only let a client pick its own nonce within the lifetime window.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq as _;

const DOMAIN: &[u8] = b"acs-digest-nonce";
const TIME_LEN: usize = 4;
const SALT_LEN: usize = 4;
const TAG_LEN: usize = 8;
const RAW_LEN: usize = TIME_LEN + SALT_LEN + TAG_LEN;

/// The length of every nonce this server issues, in characters.
pub const NONCE_LEN: usize = RAW_LEN * 2;

/// Length of `opaque`: the same 32 hex characters as a nonce, for the same buffers.
const OPAQUE_LEN: usize = 16;

/// How far a nonce's timestamp may lie in the future (another node's clock running ahead).
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The server key nonces are signed with. Every node of a cluster must hold the same key for
/// nonces to validate everywhere; `Debug` never shows it.
#[derive(Clone)]
pub struct NonceKey(hmac::Key);

impl NonceKey {
    /// A key from configuration (shared by all nodes). At least 16 bytes make sense; 32 is usual.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// A fresh random key: fine for one node; nonces then die with the process.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes);
        Self::from_bytes(&bytes)
    }

    fn tag(&self, timestamp: u32, salt: &[u8; SALT_LEN], realm: &str) -> [u8; TAG_LEN] {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(DOMAIN);
        ctx.update(&timestamp.to_be_bytes());
        ctx.update(salt);
        ctx.update(realm.as_bytes());
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(&ctx.sign().as_ref()[..TAG_LEN]);
        out
    }

    /// A value derived from the key and realm, fit for `opaque`: stable, so any node gives the
    /// same one, and meaningless to anyone without the key.
    pub(crate) fn opaque(&self, realm: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(b"acs-digest-opaque");
        ctx.update(realm.as_bytes());
        hex::encode(&ctx.sign().as_ref()[..OPAQUE_LEN])
    }

    /// Issues a nonce for `realm` at `now` with a random salt.
    pub(crate) fn issue(&self, realm: &str, now: SystemTime) -> String {
        let mut salt = [0u8; SALT_LEN];
        fill_random(&mut salt);
        self.issue_with_salt(realm, now, salt)
    }

    pub(crate) fn issue_with_salt(
        &self,
        realm: &str,
        now: SystemTime,
        salt: [u8; SALT_LEN],
    ) -> String {
        let timestamp = unix_seconds(now);
        let mut raw = Vec::with_capacity(RAW_LEN);
        raw.extend_from_slice(&timestamp.to_be_bytes());
        raw.extend_from_slice(&salt);
        raw.extend_from_slice(&self.tag(timestamp, &salt, realm));
        hex::encode(raw)
    }

    /// Checks a nonce a client sent back. Anything but one of ours (another length, another
    /// key or realm, a nonce of the 64-character format of earlier versions) is `Invalid`, and
    /// the client gets a fresh challenge.
    pub(crate) fn check(
        &self,
        nonce: &str,
        realm: &str,
        now: SystemTime,
        lifetime: Duration,
    ) -> NonceCheck {
        let Some(raw) = hex::decode(nonce.trim())
            .ok()
            .filter(|raw| raw.len() == RAW_LEN)
        else {
            return NonceCheck::Invalid;
        };
        let mut ts = [0u8; TIME_LEN];
        ts.copy_from_slice(&raw[..TIME_LEN]);
        let timestamp = u32::from_be_bytes(ts);
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&raw[TIME_LEN..TIME_LEN + SALT_LEN]);
        let tag = self.tag(timestamp, &salt, realm);
        if !bool::from(tag[..].ct_eq(&raw[TIME_LEN + SALT_LEN..])) {
            return NonceCheck::Invalid;
        }
        // Seconds modulo 2^32: the difference read as signed is right across the wrap (2106).
        let age = i64::from(unix_seconds(now).wrapping_sub(timestamp) as i32);
        let too_old = age > lifetime.as_secs() as i64;
        let too_new = -age > CLOCK_SKEW.as_secs() as i64;
        // A genuine nonce from a node whose clock is far ahead is treated like an expired one:
        // the client retries with a fresh nonce from us, which is the cure either way.
        if too_old || too_new {
            NonceCheck::Stale
        } else {
            NonceCheck::Valid
        }
    }
}

impl fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NonceKey(***)")
    }
}

/// What a returned nonce turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NonceCheck {
    /// Ours, for this realm, within its lifetime.
    Valid,
    /// Ours, but expired (or from the future): challenge again with `stale=true`.
    Stale,
    /// Not ours: malformed, tampered with, another key or another realm.
    Invalid,
}

/// Unix seconds modulo 2^32 (the nonce has four bytes for them).
fn unix_seconds(t: SystemTime) -> u32 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// Fills `buf` from the OS random source. The OS RNG failing leaves a machine that cannot do
/// cryptography at all; there is no sensible fallback, so this panics.
pub(crate) fn fill_random(buf: &mut [u8]) {
    SystemRandom::new()
        .fill(buf)
        .expect("the operating system's random source failed");
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFE: Duration = Duration::from_secs(300);

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn issued_nonces_check_and_age() {
        let key = NonceKey::from_bytes(b"0123456789abcdef0123456789abcdef");
        let nonce = key.issue("acs", at(1_000_000));
        assert_eq!(nonce.len(), 32);
        assert_eq!(NONCE_LEN, 32);
        let other = NonceKey::from_bytes(b"another key, another cluster...");
        for (checker, realm, now, want) in [
            (&key, "acs", 1_000_000, NonceCheck::Valid),
            (&key, "acs", 1_000_300, NonceCheck::Valid),
            (&key, "acs", 1_000_301, NonceCheck::Stale),
            // a minute of clock skew between nodes
            (&key, "acs", 999_940, NonceCheck::Valid),
            (&key, "acs", 999_939, NonceCheck::Stale),
            (&key, "other", 1_000_000, NonceCheck::Invalid),
            (&other, "acs", 1_000_000, NonceCheck::Invalid),
        ] {
            let got = checker.check(&nonce, realm, at(now), LIFE);
            assert_eq!(got, want, "realm {realm}, at {now}");
        }
        // The salt makes each challenge unique.
        assert_ne!(nonce, key.issue("acs", at(1_000_000)));
        assert!(!format!("{key:?}").contains("0123"));
    }

    #[test]
    fn nonces_age_right_across_the_32_bit_wrap_of_their_seconds() {
        let key = NonceKey::generate();
        let wrap = 1u64 << 32;
        let nonce = key.issue("acs", at(wrap - 10));
        assert!(nonce.starts_with("fffffff6"), "{nonce}");
        for (now, want) in [
            (wrap + 100, NonceCheck::Valid),
            (wrap + 291, NonceCheck::Stale),
        ] {
            assert_eq!(key.check(&nonce, "acs", at(now), LIFE), want, "at {now}");
        }
    }

    #[test]
    fn malformed_nonces_are_invalid() {
        let key = NonceKey::generate();
        for bad in [
            "",
            "zz",
            "00",
            &"0".repeat(31),
            &"0".repeat(64),
            &"g".repeat(32),
        ] {
            assert_eq!(
                key.check(bad, "acs", at(1), LIFE),
                NonceCheck::Invalid,
                "{bad:?}"
            );
        }
    }
}
