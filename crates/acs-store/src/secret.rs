//! Secrets at rest: device passwords are sealed with AES-256-GCM under a key from
//! configuration; nothing secret ever shows in `Debug`.

use std::fmt;
use std::io::Write;
use std::path::Path;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Result, StoreError};

/// File name of the generated key inside the data directory.
pub const KEY_FILE_NAME: &str = "secret.key";

/// The AEAD key that seals device passwords. 32 bytes, written as 64 hex digits. Every node
/// of a deployment has the same one, so it also roots the other keys the nodes must share
/// ([`SecretKey::derive`]).
pub struct SecretKey {
    key: LessSafeKey,
    /// HKDF-SHA256 of the same bytes, for subkeys: never the AEAD key itself.
    derived: ring::hkdf::Prk,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    fn from_bytes(bytes: &[u8; 32]) -> Self {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).expect("32 bytes is an AES-256 key");
        SecretKey {
            key: LessSafeKey::new(unbound),
            derived: ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"acs secret key v1")
                .extract(bytes),
        }
    }

    /// A 32-byte subkey for `purpose` (HKDF-Expand with the purpose as info): the same on
    /// every node with the same secret key, unrelated to the key for any other purpose.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        struct Len32;
        impl ring::hkdf::KeyType for Len32 {
            fn len(&self) -> usize {
                32
            }
        }
        let info = [purpose.as_bytes()];
        let mut out = [0u8; 32];
        self.derived
            .expand(&info, Len32)
            .and_then(|okm| okm.fill(&mut out))
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }

    /// Parses 64 hex digits (the `ACS_SECRET_KEY` form). Surrounding whitespace is ignored.
    pub fn from_hex(text: &str) -> Result<Self> {
        let bytes = hex_decode(text.trim())
            .filter(|b| b.len() == 32)
            .ok_or_else(|| StoreError::Invalid {
                what: "secret key",
                reason: "expected 64 hex digits".into(),
            })?;
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes);
        Ok(Self::from_bytes(&key))
    }

    /// A fresh random key (tests, first start).
    pub fn generate() -> Self {
        Self::from_bytes(&random_array())
    }

    /// Loads `dir/secret.key`, or creates it with a fresh key and mode 0600 when missing.
    pub fn load_or_create(dir: &Path) -> Result<Self> {
        let path = dir.join(KEY_FILE_NAME);
        let key_file_err = |source| StoreError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => return Self::from_hex(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(key_file_err(e)),
        }
        std::fs::create_dir_all(dir).map_err(key_file_err)?;
        let bytes: [u8; 32] = random_array();
        let mut options = std::fs::OpenOptions::new();
        // create_new: two processes starting at once never overwrite each other's key
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(format!("{}\n", hex_encode(&bytes)).as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(key_file_err)?;
                tracing::info!(path = %path.display(), "generated a new secret key");
                Ok(Self::from_bytes(&bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::from_hex(&std::fs::read_to_string(&path).map_err(key_file_err)?)
            }
            Err(e) => Err(key_file_err(e)),
        }
    }

    /// `ACS_SECRET_KEY` when given, else the key file in `data_dir`.
    pub fn from_config(env_value: Option<&str>, data_dir: &Path) -> Result<Self> {
        match env_value {
            Some(v) if !v.trim().is_empty() => Self::from_hex(v),
            _ => Self::load_or_create(data_dir),
        }
    }

    /// nonce || ciphertext || tag. `context` (the device uuid) is bound as associated data, so
    /// a sealed password copied to another row does not open.
    pub(crate) fn seal(&self, plaintext: &str, context: &str) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_LEN] = random_array();
        let mut out = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut out,
            )
            .expect("AES-GCM seals any password-sized input");
        let mut sealed = nonce_bytes.to_vec();
        sealed.extend_from_slice(&out);
        sealed
    }

    pub(crate) fn open(&self, sealed: &[u8], context: &str) -> Option<DevicePassword> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok().map(DevicePassword)
    }
}

/// A device's connection-request password in clear. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct DevicePassword(String);

impl DevicePassword {
    pub fn new(plaintext: impl Into<String>) -> Self {
        DevicePassword(plaintext.into())
    }

    /// The clear text, for the SetParameterValues or the connection request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DevicePassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DevicePassword(<redacted>)")
    }
}

pub(crate) fn random_array<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source works");
    bytes
}

pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A random (version 4) UUID in its hyphenated form.
pub(crate) fn new_uuid() -> String {
    let mut b: [u8; 16] = random_array();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex_encode(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A task's CWMP ParameterKey/CommandKey: unique, 28 characters (the limit is 32).
pub(crate) fn new_command_key() -> String {
    format!("acs-{}", hex_encode(&random_array::<12>()))
}
