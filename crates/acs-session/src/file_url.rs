//! Signed firmware URLs (DESIGN §8, issue 12). With CPE authentication on, the CPE listener
//! serves `/files/firmware/<name>` only to a request that proves it may have the file: the
//! device's own credentials, or a URL signed for one download:
//!
//! `<base>/files/firmware/<device id>.<expires>.<tag>/<name>`
//!
//! `tag` is the first 128 bits of HMAC-SHA256 over the device id, the expiry (Unix seconds)
//! and the file name, base64url without padding, under a key every node derives from the
//! shared secret key. The file name stays the last path segment (CPEs and cpe-sim take the
//! target name or version from it), and a path carries no `?`/`&` that some CPE URL parsers
//! mangle. It costs about 45 characters of the 256 a Download's URL may have.
//!
//! Pure: the expiry is computed from the `now` the caller gives.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ring::hmac;
use subtle::ConstantTimeEq as _;

/// Where the CPE listener serves firmware images.
pub const FILES_PATH: &str = "/files/firmware/";

/// Bytes of the HMAC kept in the URL: 128 bits, beyond any online guessing.
const TAG_LEN: usize = 16;

/// Signs and checks per-download firmware URLs. `Debug` never shows the key.
#[derive(Clone)]
pub struct FileUrls {
    key: hmac::Key,
    ttl: Duration,
}

impl fmt::Debug for FileUrls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileUrls")
            .field("key", &"***")
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// Why a signed path was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileUrlError {
    #[error("malformed download token")]
    Malformed,
    #[error("the download link expired at {0}")]
    Expired(DateTime<Utc>),
    #[error("the download link's signature does not match")]
    BadSignature,
}

impl FileUrls {
    /// `key`: at least 32 bytes the nodes share; `ttl`: how long a link stays valid after the
    /// transfer may start (after a Download's DelaySeconds or a ScheduleDownload's last window).
    pub fn new(key: &[u8], ttl: Duration) -> Self {
        FileUrls {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn tag(&self, device_id: i64, expires: i64, file_name: &str) -> hmac::Tag {
        let message = format!("acs-file-url-v1\n{device_id}\n{expires}\n{file_name}");
        hmac::sign(&self.key, message.as_bytes())
    }

    /// The path segment `<device id>.<expires>.<tag>` for `file_name`.
    pub fn token(&self, device_id: i64, file_name: &str, expires: i64) -> String {
        let tag = self.tag(device_id, expires, file_name);
        let tag = URL_SAFE_NO_PAD.encode(&tag.as_ref()[..TAG_LEN]);
        format!("{device_id}.{expires}.{tag}")
    }

    /// `<base>/files/firmware/<token>/<file_name>`, valid from `now` until `wait` (the
    /// transfer's own delay or window) plus the TTL have passed.
    pub fn url(
        &self,
        base: &str,
        device_id: i64,
        file_name: &str,
        wait: Duration,
        now: DateTime<Utc>,
    ) -> String {
        let valid = wait.saturating_add(self.ttl).as_secs();
        let expires = now
            .timestamp()
            .saturating_add(i64::try_from(valid).unwrap_or(i64::MAX));
        format!(
            "{base}{FILES_PATH}{}/{file_name}",
            self.token(device_id, file_name, expires)
        )
    }

    /// `url` signed when it names one of this server's firmware files
    /// (`<base>/files/firmware/<name>`, as an operator writes it into a raw Download,
    /// ScheduleDownload or ChangeDUState), else unchanged: a URL of another server never
    /// carries a token of ours.
    pub fn sign_own(
        &self,
        url: &str,
        base: &str,
        device_id: i64,
        wait: Duration,
        now: DateTime<Utc>,
    ) -> String {
        let own = (!base.is_empty())
            .then(|| url.strip_prefix(base))
            .flatten()
            .and_then(|rest| rest.strip_prefix(FILES_PATH))
            .filter(|name| !name.is_empty() && !name.contains(['/', '?', '#']));
        match own {
            Some(name) => self.url(base, device_id, name, wait, now),
            None => url.to_owned(),
        }
    }

    /// Checks `token` (the segment before the file name) for `file_name` at `now`: the device
    /// it was signed for, or why not.
    pub fn verify(
        &self,
        token: &str,
        file_name: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, FileUrlError> {
        let mut parts = token.splitn(3, '.');
        let (Some(device), Some(expires), Some(tag)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(FileUrlError::Malformed);
        };
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(device) || !digits(expires) {
            return Err(FileUrlError::Malformed);
        }
        let (Ok(device_id), Ok(expires)) = (device.parse::<i64>(), expires.parse::<i64>()) else {
            return Err(FileUrlError::Malformed);
        };
        let given = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| FileUrlError::Malformed)?;
        let expected = self.tag(device_id, expires, file_name);
        if !bool::from(given.as_slice().ct_eq(&expected.as_ref()[..TAG_LEN])) {
            return Err(FileUrlError::BadSignature);
        }
        // Checked after the tag: an expiry nobody signed is not worth naming.
        if now.timestamp() > expires {
            let at = DateTime::from_timestamp(expires, 0).unwrap_or(DateTime::UNIX_EPOCH);
            return Err(FileUrlError::Expired(at));
        }
        Ok(device_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn urls() -> FileUrls {
        FileUrls::new(&[7u8; 32], Duration::from_secs(3600))
    }

    fn split(url: &str) -> (&str, &str) {
        let rest = url.split(FILES_PATH).nth(1).unwrap();
        rest.split_once('/').unwrap()
    }

    #[test]
    fn a_signed_url_names_the_device_and_expires() {
        let u = urls();
        let url = u.url("http://acs:7547", 42, "fw.bin", Duration::ZERO, at(0));
        assert!(
            url.starts_with("http://acs:7547/files/firmware/42."),
            "{url}"
        );
        assert!(url.ends_with("/fw.bin"), "{url}");
        let (token, name) = split(&url);
        assert_eq!(u.verify(token, name, at(0)), Ok(42));
        assert_eq!(u.verify(token, name, at(3600)), Ok(42));
        assert!(matches!(
            u.verify(token, name, at(3601)),
            Err(FileUrlError::Expired(_))
        ));
        // Another file, another key, a changed device or expiry: refused.
        assert_eq!(
            u.verify(token, "other.bin", at(0)),
            Err(FileUrlError::BadSignature)
        );
        let other = FileUrls::new(&[8u8; 32], Duration::from_secs(3600));
        assert_eq!(
            other.verify(token, name, at(0)),
            Err(FileUrlError::BadSignature)
        );
        let forged = token.replacen("42.", "43.", 1);
        assert_eq!(
            u.verify(&forged, name, at(0)),
            Err(FileUrlError::BadSignature)
        );
        let (_, rest) = token.split_once('.').unwrap();
        let (expires, tag) = rest.split_once('.').unwrap();
        let later = format!("42.{}.{tag}", expires.parse::<i64>().unwrap() + 1000);
        assert_eq!(
            u.verify(&later, name, at(0)),
            Err(FileUrlError::BadSignature)
        );
        for bad in [
            "",
            "42",
            "42.1",
            "x.1.AAAA",
            "42.1.!!",
            "-1.1.AAAA",
            "42..AAAA",
        ] {
            assert!(u.verify(bad, name, at(0)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_wait_of_a_transfer_is_added_to_the_ttl() {
        let u = urls();
        let url = u.url("http://a", 1, "f", Duration::from_secs(7200), at(0));
        let (token, name) = split(&url);
        assert_eq!(u.verify(token, name, at(7200 + 3600)), Ok(1));
        assert!(u.verify(token, name, at(7200 + 3601)).is_err());
    }

    #[test]
    fn only_own_urls_are_signed() {
        let u = urls();
        let base = "http://acs:7547";
        let own = u.sign_own(
            "http://acs:7547/files/firmware/fw.bin",
            base,
            5,
            Duration::ZERO,
            at(0),
        );
        assert!(
            own.starts_with("http://acs:7547/files/firmware/5."),
            "{own}"
        );
        for foreign in [
            "http://other:7547/files/firmware/fw.bin",
            "http://acs:7547/elsewhere/fw.bin",
            "http://acs:7547/files/firmware/",
            "http://acs:7547/files/firmware/a/b.bin",
            "http://acs:7547/files/firmware/fw.bin?x=1",
        ] {
            assert_eq!(u.sign_own(foreign, base, 5, Duration::ZERO, at(0)), foreign);
        }
        assert_eq!(
            u.sign_own("/files/firmware/fw.bin", "", 5, Duration::ZERO, at(0)),
            "/files/firmware/fw.bin"
        );
    }
}
