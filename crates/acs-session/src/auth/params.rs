//! Lenient parsing of HTTP authentication headers (RFC 7235 §2.1 `auth-scheme` followed by
//! `auth-param`s): used for the `Authorization` a CPE sends us and for the `WWW-Authenticate`
//! a CPE answers our connection request with.
//!
//! Real CPE HTTP stacks are hand-written: values come quoted or unquoted, in any order, with
//! spaces around `=` and `,`, sometimes without commas, with parameter names in any case.
//! Parsing never fails: it keeps what it recognises and the callers decide what is missing.

/// One authentication scheme with its parameters (`Digest realm="x", nonce="y"`), or with a
/// token68 (`Basic dXNlcjpwYXNz`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AuthItem {
    /// As sent; compare with `eq_ignore_ascii_case`.
    pub(crate) scheme: String,
    /// Parameter names lower-cased, values unquoted and unescaped, first occurrence wins.
    pub(crate) params: Vec<(String, String)>,
    /// The token68 form (Basic credentials), trimmed.
    pub(crate) token68: Option<String>,
}

impl AuthItem {
    /// The value of parameter `name` (lower-case), if present.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn push_param(&mut self, name: &str, value: String) {
        let name = name.to_ascii_lowercase();
        if self.param(&name).is_none() {
            self.params.push((name, value));
        }
    }
}

/// Parses a credentials header value (`Authorization`): exactly one scheme. `None` when the
/// value holds no scheme at all.
pub(crate) fn parse_credentials(header: &str) -> Option<AuthItem> {
    let header = header.trim();
    let (scheme, rest) = match header.find(|c: char| c.is_ascii_whitespace()) {
        Some(at) => (&header[..at], header[at..].trim()),
        None => (header, ""),
    };
    if scheme.is_empty() {
        return None;
    }
    let mut item = AuthItem {
        scheme: scheme.to_owned(),
        params: Vec::new(),
        token68: None,
    };
    if scheme.eq_ignore_ascii_case("basic") {
        // RFC 7617: `Basic` takes a token68; some clients put a space inside it, so take all.
        item.token68 = Some(rest.to_owned());
        return Some(item);
    }
    // Every other scheme (Digest) takes auth-params; stray bare tokens are ignored.
    for piece in Lexer::new(rest) {
        if let Piece::Param(name, value) = piece {
            item.push_param(name, value);
        }
    }
    Some(item)
}

/// Parses a challenge header value (`WWW-Authenticate`), which may hold several challenges
/// (`Digest realm="a", nonce="b", Basic realm="a"`). A bare token starts a new challenge.
pub(crate) fn parse_challenges(header: &str) -> Vec<AuthItem> {
    let mut out: Vec<AuthItem> = Vec::new();
    for piece in Lexer::new(header) {
        match piece {
            Piece::Token(scheme) => out.push(AuthItem {
                scheme: scheme.to_owned(),
                params: Vec::new(),
                token68: None,
            }),
            // A parameter before any scheme belongs to nothing: drop it.
            Piece::Param(name, value) => {
                if let Some(current) = out.last_mut() {
                    current.push_param(name, value);
                }
            }
        }
    }
    out
}

/// Quotes `value` as an RFC 7230 quoted-string (escaping `"` and `\`).
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

enum Piece<'a> {
    /// A bare token: a scheme name (or junk).
    Token(&'a str),
    /// `name=value` with the value unquoted.
    Param(&'a str, String),
}

struct Lexer<'a> {
    rest: &'a str,
}

impl<'a> Lexer<'a> {
    fn new(input: &'a str) -> Self {
        Self { rest: input }
    }

    fn skip_separators(&mut self) {
        self.rest = self
            .rest
            .trim_start_matches(|c: char| c.is_ascii_whitespace() || c == ',');
    }

    fn skip_spaces(&mut self) {
        self.rest = self
            .rest
            .trim_start_matches(|c: char| c.is_ascii_whitespace());
    }

    fn take_until(&mut self, stop: impl Fn(char) -> bool) -> &'a str {
        let end = self.rest.find(stop).unwrap_or(self.rest.len());
        let (taken, rest) = self.rest.split_at(end);
        self.rest = rest;
        taken
    }

    /// The body of a quoted-string; the opening quote is already consumed. An unterminated
    /// string runs to the end of the input.
    fn quoted(&mut self) -> String {
        let mut value = String::new();
        let mut chars = self.rest.char_indices();
        let mut end = self.rest.len();
        while let Some((at, c)) = chars.next() {
            match c {
                '"' => {
                    end = at + 1;
                    break;
                }
                '\\' => match chars.next() {
                    Some((_, escaped)) => value.push(escaped),
                    None => break,
                },
                other => value.push(other),
            }
        }
        self.rest = &self.rest[end..];
        value
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Piece<'a>;

    fn next(&mut self) -> Option<Piece<'a>> {
        // A loop, not recursion: junk such as thousands of `=` must not grow the stack.
        let name = loop {
            self.skip_separators();
            if self.rest.is_empty() {
                return None;
            }
            if let Some(after_quote) = self.rest.strip_prefix('"') {
                // A stray quoted string where a name belongs: skip it.
                self.rest = after_quote;
                self.quoted();
                continue;
            }
            let name = self.take_until(|c| c.is_ascii_whitespace() || c == '=' || c == ',');
            if name.is_empty() {
                // A lone `=` (e.g. token68 padding outside Basic): skip it.
                self.rest = &self.rest[1..];
                continue;
            }
            break name;
        };
        let before_equals = self.rest;
        self.skip_spaces();
        let Some(after_equals) = self.rest.strip_prefix('=') else {
            self.rest = before_equals;
            return Some(Piece::Token(name));
        };
        self.rest = after_equals;
        self.skip_spaces();
        let value = if let Some(after_quote) = self.rest.strip_prefix('"') {
            self.rest = after_quote;
            self.quoted()
        } else {
            self.take_until(|c| c.is_ascii_whitespace() || c == ',')
                .to_owned()
        };
        Some(Piece::Param(name, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(item: &AuthItem) -> Vec<(&str, &str)> {
        item.params
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn credentials_quoted_unquoted_any_order_and_spacing() {
        let cases = [
            r#"Digest username="u", realm="r", nonce="n", uri="/", qop=auth, nc=00000001"#,
            r#"digest   uri = "/" ,nonce="n",  REALM=r,username =u ,qop="auth",nc=00000001"#,
            r#"DIGEST username="u" realm="r" nonce="n" uri="/" qop=auth nc=00000001"#,
        ];
        for case in cases {
            let item = parse_credentials(case).unwrap();
            assert!(item.scheme.eq_ignore_ascii_case("digest"), "{case}");
            for (name, value) in [
                ("username", "u"),
                ("realm", "r"),
                ("nonce", "n"),
                ("uri", "/"),
                ("qop", "auth"),
            ] {
                assert_eq!(item.param(name), Some(value), "{name} in {case}");
            }
            assert_eq!(item.param("nc"), Some("00000001"), "{case}");
        }
    }

    #[test]
    fn escapes_unknown_params_duplicates_and_junk() {
        let item = parse_credentials(
            r#"Digest username="a\"b\\c", x-vendor="ignored, really", username="second", junk, realm="r"#,
        )
        .unwrap();
        assert_eq!(item.param("username"), Some(r#"a"b\c"#));
        assert_eq!(item.param("x-vendor"), Some("ignored, really"));
        // Unterminated quoted string runs to the end.
        assert_eq!(item.param("realm"), Some("r"));
        assert_eq!(parse_credentials("   "), None);
    }

    #[test]
    fn basic_takes_a_token68() {
        let item = parse_credentials("Basic  dXNlcjpwYXNz== ").unwrap();
        assert_eq!(item.token68.as_deref(), Some("dXNlcjpwYXNz=="));
        assert!(item.params.is_empty());
    }

    #[test]
    fn several_challenges_in_one_header() {
        let items = parse_challenges(
            r#"Digest realm="cpe", qop="auth,auth-int", nonce="abc", algorithm=MD5, Basic realm="cpe""#,
        );
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].scheme, "Digest");
        assert_eq!(
            params(&items[0]),
            [
                ("realm", "cpe"),
                ("qop", "auth,auth-int"),
                ("nonce", "abc"),
                ("algorithm", "MD5")
            ]
        );
        assert_eq!(items[1].scheme, "Basic");
        assert_eq!(params(&items[1]), [("realm", "cpe")]);
        assert!(parse_challenges("").is_empty());
    }

    #[test]
    fn junk_never_panics_nor_recurses() {
        let junk = format!("Digest {}{}", "=".repeat(200_000), "\"\" ".repeat(100_000));
        let item = parse_credentials(&junk).unwrap();
        assert!(item.params.is_empty());
        assert!(parse_challenges(&junk).iter().all(|c| c.params.is_empty()));
        for odd in ["=", "\"", "a=\"\\", "a=", ",,,", "Digest a=\"ü\\\"\" b=ö"] {
            parse_challenges(odd);
            parse_credentials(odd);
        }
    }

    #[test]
    fn quote_escapes() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
