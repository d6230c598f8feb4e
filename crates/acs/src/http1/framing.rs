//! How long a request's body is (RFC 9112 §6), read strictly from `Content-Length` and
//! `Transfer-Encoding`: where two parsers could disagree about where a request ends, the
//! request is refused and the connection closed, because the bytes after it might be read as
//! a request of their own by one side and as a body by the other (request smuggling).
//!
//! - `Content-Length` is `1*DIGIT` within 64 bits. Several values (repeated fields or a comma
//!   list, RFC 9110 §8.6) must all be the same; empty values, signs, spaces inside a value,
//!   hex and non-ASCII bytes are refused.
//! - `Transfer-Encoding` (all its field lines together, in order) must end in `chunked`, and
//!   `chunked` may appear only there: else 400. Before it, only `gzip` (or `x-gzip`) once,
//!   which the handler decodes: any other coding is 501. HTTP/1.0 has no transfer codings:
//!   400. Empty list elements and parameters are refused.
//! - Both present: the body is read as chunked (the `Content-Length` must still be valid), and
//!   the connection closes after the reply (§6.1).

use http::{HeaderMap, StatusCode, Version, header};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    Length(u64),
    Chunked,
}

/// A request whose framing cannot be trusted: the status to refuse it with, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refused {
    pub status: StatusCode,
    pub why: String,
}

fn bad(why: impl Into<String>) -> Refused {
    Refused {
        status: StatusCode::BAD_REQUEST,
        why: why.into(),
    }
}

/// The body's framing, and whether the connection must close after the reply.
pub(super) fn framing(version: Version, headers: &HeaderMap) -> Result<(Framing, bool), Refused> {
    let length = content_length(headers)?;
    if !headers.contains_key(header::TRANSFER_ENCODING) {
        return Ok((Framing::Length(length.unwrap_or(0)), false));
    }
    if version == Version::HTTP_10 {
        return Err(bad("Transfer-Encoding in an HTTP/1.0 request"));
    }
    let codings = list(headers, &header::TRANSFER_ENCODING)
        .ok_or_else(|| bad("empty element in Transfer-Encoding"))?;
    let Some((last, before)) = codings.split_last() else {
        return Err(bad("empty Transfer-Encoding"));
    };
    if !last.eq_ignore_ascii_case(b"chunked") {
        return Err(bad("Transfer-Encoding does not end in chunked"));
    }
    if before.iter().any(|c| c.eq_ignore_ascii_case(b"chunked")) {
        return Err(bad("chunked applied more than once"));
    }
    match before {
        [] => {}
        [c] if c.eq_ignore_ascii_case(b"gzip") || c.eq_ignore_ascii_case(b"x-gzip") => {}
        [c] => {
            return Err(Refused {
                status: StatusCode::NOT_IMPLEMENTED,
                why: format!("transfer coding {} is not supported", shown(c)),
            });
        }
        _ => {
            return Err(Refused {
                status: StatusCode::NOT_IMPLEMENTED,
                why: "more than one transfer coding before chunked".to_owned(),
            });
        }
    }
    Ok((Framing::Chunked, length.is_some()))
}

/// All `Content-Length` values agreeing: `None` when there is none.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, Refused> {
    if !headers.contains_key(header::CONTENT_LENGTH) {
        return Ok(None);
    }
    let values =
        list(headers, &header::CONTENT_LENGTH).ok_or_else(|| bad("empty Content-Length"))?;
    let mut length = None;
    for v in values {
        let n = digits(v).ok_or_else(|| bad(format!("invalid Content-Length {}", shown(v))))?;
        if length.is_some_and(|l| l != n) {
            return Err(bad("conflicting Content-Length values"));
        }
        length = Some(n);
    }
    Ok(length)
}

/// `1*DIGIT` as a u64; `None` for anything else, or an overflow.
fn digits(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &b| match b {
        b'0'..=b'9' => n.checked_mul(10)?.checked_add(u64::from(b - b'0')),
        _ => None,
    })
}

/// The comma-separated elements of every field line of `name`, in order, each without the
/// spaces and tabs around it; `None` when an element is empty (`5,,5`, `chunked,`,
/// `Content-Length:` with no value).
fn list<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<Vec<&'a [u8]>> {
    let mut out = Vec::new();
    for value in headers.get_all(name) {
        for element in value.as_bytes().split(|&b| b == b',') {
            let ows = |b: &u8| *b == b' ' || *b == b'\t';
            let start = element
                .iter()
                .position(|b| !ows(b))
                .unwrap_or(element.len());
            let end = element
                .iter()
                .rposition(|b| !ows(b))
                .map_or(start, |i| i + 1);
            let element = &element[start..end];
            if element.is_empty() {
                return None;
            }
            out.push(element);
        }
    }
    Some(out)
}

/// A value for an error message: printable ASCII, at most 32 characters.
fn shown(v: &[u8]) -> String {
    let s: String = v
        .iter()
        .take(32)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    format!("`{s}`")
}
