//! Secrets and credentials that never show up in `Debug` output or logs.

use std::fmt;

/// A password or key. `Debug` prints `Secret(***)`; there is deliberately no `Display`, so a
/// secret cannot end up in a log line or an error message by accident. Read it with
/// [`Secret::expose`] at the one place that needs the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Call it only where the bytes go into a hash or onto the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// A username and its password: a CPE's `ManagementServer.Username`/`Password` (CPE -> ACS) or
/// its `ConnectionRequestUsername`/`Password` (ACS -> CPE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The username, not secret.
    pub username: String,
    /// The password, redacted in `Debug`.
    pub password: Secret,
}

impl Credentials {
    /// Pairs a username with its password.
    pub fn new(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let creds = Credentials::new("00D09E-123456", "hunter2-very-secret");
        let printed = format!("{creds:?} {:?} {creds:#?}", creds.password);
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("00D09E-123456"), "{printed}");
        assert!(printed.contains("Secret(***)"), "{printed}");
    }
}
