//! Turning the bytes of a POST body into UTF-8 text.
//!
//! Real CPEs send UTF-8, ISO-8859-1 (Thomson: `text/xml; charset=ISO-8859-1`, PROTOCOL §2) and,
//! rarely, UTF-16. The charset is taken, in this order, from a byte order mark, the
//! Content-Type `charset` parameter, the XML declaration's `encoding`, else UTF-8 (RFC 7303 §3
//! puts the BOM first). Invalid bytes never reject a message: they become U+FFFD, because one
//! bad byte in one parameter value must not cost the ACS the whole session (PROTOCOL §6,
//! genieacs#76, magma's "non-UTF-8 bytes" test).

use std::borrow::Cow;

use crate::error::{DecodeError, DecodeErrorKind, Position};

/// A charset the decoder can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// UTF-8 (also the default).
    Utf8,
    /// ISO-8859-1 / Latin-1; US-ASCII and windows-1252 are read the same way.
    Latin1,
    /// UTF-16, little endian.
    Utf16Le,
    /// UTF-16, big endian.
    Utf16Be,
}

impl Charset {
    /// Maps a charset label (case-insensitive) to a charset, `None` when unknown.
    pub fn from_label(label: &str) -> Option<Charset> {
        let l = label
            .trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_ascii_lowercase();
        Some(match l.as_str() {
            "utf-8" | "utf8" => Charset::Utf8,
            // windows-1252 differs from Latin-1 only in 0x80–0x9F (C1 controls in Latin-1);
            // reading those as Latin-1 keeps the message, which is what matters here.
            "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1"
            | "us-ascii" | "ascii" | "windows-1252" | "cp1252" => Charset::Latin1,
            "utf-16" | "utf16" | "utf-16le" => Charset::Utf16Le,
            "utf-16be" => Charset::Utf16Be,
            _ => return None,
        })
    }
}

/// The `charset` parameter of a Content-Type header value, if any.
pub fn content_type_charset(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// The `encoding` pseudo-attribute of a leading XML declaration in an ASCII-compatible body.
fn declared_encoding(bytes: &[u8]) -> Option<&str> {
    let head = bytes.get(..bytes.len().min(256))?;
    let head = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
    };
    let decl = head.trim_start().strip_prefix("<?xml")?;
    let decl = &decl[..decl.find("?>")?];
    let rest = &decl[decl.find("encoding")? + "encoding".len()..];
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|&c| c == '"' || c == '\'')?;
    let rest = &rest[1..];
    Some(&rest[..rest.find(quote)?])
}

/// Converts a body to UTF-8 text (see the module docs for the rules).
pub(crate) fn to_utf8<'a>(
    bytes: &'a [u8],
    content_type: Option<&str>,
) -> Result<Cow<'a, str>, DecodeError> {
    let (charset, body) = if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        (Charset::Utf8, rest)
    } else if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        (Charset::Utf16Le, rest)
    } else if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        (Charset::Utf16Be, rest)
    } else {
        let label = content_type
            .and_then(content_type_charset)
            .or_else(|| declared_encoding(bytes));
        let charset = match label {
            Some(label) => Charset::from_label(label).ok_or_else(|| DecodeError {
                kind: DecodeErrorKind::UnsupportedCharset(crate::error::excerpt(label)),
                position: Position {
                    offset: 0,
                    line: 1,
                    column: 1,
                },
            })?,
            // UTF-16 without BOM still starts with `<` as one of two bytes (XML 1.0 App. F).
            None if bytes.starts_with(b"<\0") => Charset::Utf16Le,
            None if bytes.starts_with(b"\0<") => Charset::Utf16Be,
            None => Charset::Utf8,
        };
        // A BOM-less body labelled plain "utf-16": the first code unit (`<`, a space) tells
        // the byte order, whatever the label's default.
        let charset = match charset {
            Charset::Utf16Le if bytes.first() == Some(&0) => Charset::Utf16Be,
            other => other,
        };
        (charset, bytes)
    };
    Ok(match charset {
        // Validate first: the strict check is several times faster than the lossy one on the
        // (usual) valid input.
        Charset::Utf8 => match std::str::from_utf8(body) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(body),
        },
        Charset::Latin1 => match std::str::from_utf8(body) {
            // Plain ASCII reads the same in both; borrow instead of copying.
            Ok(s) if s.is_ascii() => Cow::Borrowed(s),
            _ => Cow::Owned(body.iter().map(|&b| char::from(b)).collect()),
        },
        Charset::Utf16Le | Charset::Utf16Be => {
            let units = body.chunks(2).map(|pair| match (pair, charset) {
                ([a, b], Charset::Utf16Le) => u16::from_le_bytes([*a, *b]),
                ([a, b], _) => u16::from_be_bytes([*a, *b]),
                // An odd trailing byte cannot be a code unit.
                _ => 0xFFFD,
            });
            Cow::Owned(
                char::decode_utf16(units)
                    .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect(),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_parameter_is_found_case_insensitively() {
        assert_eq!(
            content_type_charset("text/xml; Charset=\"ISO-8859-1\""),
            Some("ISO-8859-1")
        );
        assert_eq!(content_type_charset("text/xml"), None);
    }

    #[test]
    fn declaration_encoding_is_read() {
        assert_eq!(
            declared_encoding(b"<?xml version='1.0' encoding='latin1'?><a/>"),
            Some("latin1")
        );
        assert_eq!(declared_encoding(b"<a/>"), None);
    }
}
