//! Session cookies: lenient `Cookie` parsing and the `Set-Cookie` for the session.
//!
//! CPEs return cookies in every shape there is (PROTOCOL.md §2, §15.4): RFC 6265 `a=b; c=d`,
//! RFC 2109 echoes with attributes (`$Version="0"; ID=226_THOM_TR69_ID;$Path=/` from Thomson),
//! quoted values, commas as separators, stray spaces. Parsing never fails; it extracts what is
//! there. A cookie is never the only way to find a session (the session layer falls back to the
//! DeviceId), so a CPE that drops it still works.

use std::fmt;

/// One `name=value` pair from a `Cookie` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cookie<'a> {
    /// The name, trimmed.
    pub name: &'a str,
    /// The value, trimmed, surrounding double quotes removed.
    pub value: &'a str,
}

/// Every cookie in one `Cookie` header value, in order. RFC 2109 attributes (`$Version`,
/// `$Path`, `$Domain`, `$Port`) and pieces without a name or `=` are skipped.
pub fn parse_cookie_header(header: &str) -> Vec<Cookie<'_>> {
    // `;` is the RFC 6265 separator; RFC 2109 also allowed `,`. Values we issue never hold
    // either, so splitting on both loses nothing of ours.
    header
        .split([';', ','])
        .filter_map(|piece| {
            let (name, value) = piece.split_once('=')?;
            let name = name.trim();
            if name.is_empty() || name.starts_with('$') {
                return None;
            }
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            Some(Cookie { name, value })
        })
        .collect()
}

/// The value of the first cookie called `name` (ASCII case-insensitive: we only look for our
/// own cookie, and a CPE that changes its case still means it) across all `Cookie` header
/// values of a request.
pub fn find_cookie<'a>(headers: impl IntoIterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    headers.into_iter().find_map(|header| {
        parse_cookie_header(header)
            .into_iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .map(|c| c.value)
    })
}

/// A name or value that cannot go into a `Set-Cookie` as is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    /// The name is empty or holds a character outside RFC 6265's `token`.
    #[error("invalid cookie name `{0}`")]
    InvalidName(String),
    /// The value holds a character outside RFC 6265's `cookie-octet`.
    #[error("invalid cookie value for `{0}`")]
    InvalidValue(String),
}

/// The session cookie the ACS sets: `Path=/` because CPEs drop cookies whose path does not
/// match their later POSTs (genieacs#79), `HttpOnly`, and `Secure` only on a TLS listener (a
/// plain-HTTP CPE would otherwise never send it back). No `Expires`: it dies with the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionCookie {
    name: String,
    value: String,
    secure: bool,
}

impl SessionCookie {
    /// A cookie `name=value`; `secure` when the listener is TLS.
    pub fn new(
        name: impl Into<String>,
        value: impl Into<String>,
        secure: bool,
    ) -> Result<Self, CookieError> {
        let (name, value) = (name.into(), value.into());
        let token = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c);
        if name.is_empty() || !name.chars().all(token) {
            return Err(CookieError::InvalidName(name));
        }
        let octet = |c: char| c.is_ascii_graphic() && !"\",;\\".contains(c);
        if !value.chars().all(octet) {
            return Err(CookieError::InvalidValue(name));
        }
        Ok(Self {
            name,
            value,
            secure,
        })
    }

    /// The `Set-Cookie` header value.
    pub fn set_cookie_header(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for SessionCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}; Path=/; HttpOnly", self.name, self.value)?;
        if self.secure {
            f.write_str("; Secure")?;
        }
        Ok(())
    }
}

/// A new session id: 128 bits from the operating system's CSPRNG, as 32 lowercase hex
/// digits. The cookie is what lets a request without credentials continue a session, so it
/// must be neither guessable nor derivable from another one (no counter, no clock).
pub fn new_session_id() -> String {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 16];
    // the OS CSPRNG does not fail on any supported platform; if it ever did, no session
    // id may be made from anything weaker
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random number generator works");
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(header: &str, expect: &[(&str, &str)]) {
        let got: Vec<(&str, &str)> = parse_cookie_header(header)
            .iter()
            .map(|c| (c.name, c.value))
            .collect();
        assert_eq!(got, expect, "{header:?}");
    }

    #[test]
    fn parses_every_shape_seen() {
        check("a=b; c=d", &[("a", "b"), ("c", "d")]);
        check("a=b;c=d", &[("a", "b"), ("c", "d")]);
        check("  session = 42  ;  ", &[("session", "42")]);
        // Thomson SpeedTouch (corpus thomson_*_http.txt), RFC 2109 echo with attributes.
        check(
            r#"$Version="0"; ID=226_THOM_TR69_ID;$Path=/"#,
            &[("ID", "226_THOM_TR69_ID")],
        );
        check(
            r#"$Version="1"; Customer="WILE_E_COYOTE"; $Path="/acme""#,
            &[("Customer", "WILE_E_COYOTE")],
        );
        check("a=b, c=d", &[("a", "b"), ("c", "d")]);
        check("v=x=y", &[("v", "x=y")]);
        check("empty=", &[("empty", "")]);
        check(r#"q="""#, &[("q", "")]);
        check(r#"half="open"#, &[("half", "\"open")]);
        check("", &[]);
        check(";;; , =x; novalue; =", &[]);
        check("ü=ö", &[("ü", "ö")]);
    }

    #[test]
    fn finds_our_cookie_across_headers() {
        let headers = ["other=1", r#"$Version="0"; ACS_SESSION="abc123";$Path=/"#];
        assert_eq!(find_cookie(headers, "ACS_SESSION"), Some("abc123"));
        assert_eq!(find_cookie(headers, "acs_session"), Some("abc123"));
        assert_eq!(find_cookie(headers, "missing"), None);
        assert_eq!(find_cookie([], "x"), None);
    }

    #[test]
    fn formats_set_cookie() {
        let plain = SessionCookie::new("ACS_SESSION", "0123abcd", false).unwrap();
        assert_eq!(
            plain.set_cookie_header(),
            "ACS_SESSION=0123abcd; Path=/; HttpOnly"
        );
        let tls = SessionCookie::new("ACS_SESSION", "0123abcd", true).unwrap();
        assert_eq!(
            tls.set_cookie_header(),
            "ACS_SESSION=0123abcd; Path=/; HttpOnly; Secure"
        );
        assert_eq!(
            SessionCookie::new("a b", "x", false),
            Err(CookieError::InvalidName("a b".into()))
        );
        assert_eq!(
            SessionCookie::new("", "x", false),
            Err(CookieError::InvalidName("".into()))
        );
        assert_eq!(
            SessionCookie::new("s", "x;y", false),
            Err(CookieError::InvalidValue("s".into()))
        );
    }

    #[test]
    fn session_ids_are_128_random_bits() {
        let a = super::new_session_id();
        let b = super::new_session_id();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
