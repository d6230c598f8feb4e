//! Stateless digest nonces.
//!
//! A nonce is `hex(timestamp ‖ salt ‖ HMAC-SHA256(key, "acs-digest-nonce" ‖ timestamp ‖ salt ‖
//! realm)[..16])`: 8 bytes of Unix seconds (big endian), 8 random bytes, 16 bytes of tag, 64 hex
//! characters in all. Nothing is stored: any node holding the key validates any nonce, so a CPE
//! that reconnects after the 401 (AVM FRITZ!Box, PROTOCOL.md §15.6) or lands on another node
//! behind a load balancer authenticates all the same. The realm is signed so that a nonce issued
//! for one realm is no good in another; the salt makes every challenge's nonce fresh, as TR-069
//! §3.4.4 asks ("a fresh nonce for each new TCP connection").

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use super::algorithm::{hex, unhex};
use crate::constant_time;

const DOMAIN: &[u8] = b"acs-digest-nonce";
const TAG_LEN: usize = 16;
const RAW_LEN: usize = 8 + 8 + TAG_LEN;

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

    fn tag(&self, timestamp: u64, salt: &[u8; 8], realm: &str) -> [u8; TAG_LEN] {
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
        hex(&ctx.sign().as_ref()[..TAG_LEN])
    }

    /// Issues a nonce for `realm` at `now` with a random salt.
    pub(crate) fn issue(&self, realm: &str, now: SystemTime) -> String {
        let mut salt = [0u8; 8];
        fill_random(&mut salt);
        self.issue_with_salt(realm, now, salt)
    }

    pub(crate) fn issue_with_salt(&self, realm: &str, now: SystemTime, salt: [u8; 8]) -> String {
        let timestamp = unix_seconds(now);
        let mut raw = Vec::with_capacity(RAW_LEN);
        raw.extend_from_slice(&timestamp.to_be_bytes());
        raw.extend_from_slice(&salt);
        raw.extend_from_slice(&self.tag(timestamp, &salt, realm));
        hex(&raw)
    }

    /// Checks a nonce a client sent back.
    pub(crate) fn check(
        &self,
        nonce: &str,
        realm: &str,
        now: SystemTime,
        lifetime: Duration,
    ) -> NonceCheck {
        let Some(raw) = unhex(nonce.trim()).filter(|raw| raw.len() == RAW_LEN) else {
            return NonceCheck::Invalid;
        };
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&raw[..8]);
        let timestamp = u64::from_be_bytes(ts);
        let mut salt = [0u8; 8];
        salt.copy_from_slice(&raw[8..16]);
        if !constant_time::eq(&self.tag(timestamp, &salt, realm), &raw[16..]) {
            return NonceCheck::Invalid;
        }
        let now = unix_seconds(now);
        let too_old = now.saturating_sub(timestamp) > lifetime.as_secs();
        let too_new = timestamp.saturating_sub(now) > CLOCK_SKEW.as_secs();
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

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
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
        assert_eq!(nonce.len(), 64);
        assert_eq!(
            key.check(&nonce, "acs", at(1_000_000), LIFE),
            NonceCheck::Valid
        );
        assert_eq!(
            key.check(&nonce, "acs", at(1_000_300), LIFE),
            NonceCheck::Valid
        );
        assert_eq!(
            key.check(&nonce, "acs", at(1_000_301), LIFE),
            NonceCheck::Stale
        );
        assert_eq!(
            key.check(&nonce, "acs", at(999_940), LIFE),
            NonceCheck::Valid
        );
        assert_eq!(
            key.check(&nonce, "acs", at(999_939), LIFE),
            NonceCheck::Stale
        );
        assert_eq!(
            key.check(&nonce, "other", at(1_000_000), LIFE),
            NonceCheck::Invalid
        );
        let other = NonceKey::from_bytes(b"another key, another cluster...");
        assert_eq!(
            other.check(&nonce, "acs", at(1_000_000), LIFE),
            NonceCheck::Invalid
        );
        // The salt makes each challenge unique.
        assert_ne!(nonce, key.issue("acs", at(1_000_000)));
        assert!(!format!("{key:?}").contains("0123"));
    }

    #[test]
    fn malformed_nonces_are_invalid() {
        let key = NonceKey::generate();
        for bad in ["", "zz", "00", &"0".repeat(63), &"g".repeat(64)] {
            assert_eq!(
                key.check(bad, "acs", at(1), LIFE),
                NonceCheck::Invalid,
                "{bad:?}"
            );
        }
    }
}
