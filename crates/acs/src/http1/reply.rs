//! Replies on the wire: the status line and headers written by hand (names in their usual
//! case, `Content-Length` and `Date` always), the body coalesced with the head when short.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, Version};

use super::{Body, COALESCE};

/// A short text reply.
pub fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(Body::Bytes(Bytes::copy_from_slice(text.as_bytes())));
    *r.status_mut() = status;
    if !text.is_empty() {
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    r
}

/// 503 with `Retry-After`: come back in `secs` seconds.
pub fn busy(secs: u32) -> Response<Body> {
    let mut r = plain(StatusCode::SERVICE_UNAVAILABLE, "busy: retry later");
    r.headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// The reply's head (and, when short, its body) in one buffer, plus a long body on its own.
pub(super) fn encode_response(
    response: Response<Body>,
    version: Version,
    keep_alive: bool,
    head_only: bool,
) -> (Vec<u8>, Option<Body>) {
    let status = response.status();
    let (parts, body) = response.into_parts();
    let short = match &body {
        Body::Bytes(b) if b.len() <= COALESCE => b.len(),
        _ => 0,
    };
    let mut out = Vec::with_capacity(160 + 48 * parts.headers.len() + short);
    out.extend_from_slice(if version == Version::HTTP_10 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut explicit_length = false;
    for (name, value) in &parts.headers {
        if name == http::header::CONNECTION || name == http::header::TRANSFER_ENCODING {
            continue;
        }
        if name == http::header::CONTENT_LENGTH {
            // the handler's own length (a HEAD reply's): kept only when the body is empty
            if body.len() > 0 {
                continue;
            }
            explicit_length = true;
        }
        canonical_name(&mut out, name.as_str());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if !bodiless && !explicit_length {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if version == Version::HTTP_10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"Date: ");
    date::with_now(|d| out.extend_from_slice(d.as_bytes()));
    out.extend_from_slice(b"\r\n\r\n");
    if head_only || bodiless || body.len() == 0 {
        return (out, None);
    }
    match body {
        Body::Bytes(b) if b.len() <= COALESCE => {
            out.extend_from_slice(&b);
            (out, None)
        }
        body => (out, Some(body)),
    }
}

/// Writes a header name (the `http` crate keeps them lower-case) the way RFCs and most servers
/// spell it: `Content-Type`, `Set-Cookie`, `WWW-Authenticate`, `SOAPAction`. Header names are
/// case-insensitive, but not to every embedded CPE's HTTP client.
pub(super) fn canonical_name(out: &mut Vec<u8>, name: &str) {
    let special = match name {
        "soapaction" => Some("SOAPAction"),
        "www-authenticate" => Some("WWW-Authenticate"),
        "etag" => Some("ETag"),
        _ => None,
    };
    if let Some(s) = special {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    let mut upper = true;
    for b in name.bytes() {
        out.push(if upper { b.to_ascii_uppercase() } else { b });
        upper = b == b'-';
    }
}

/// The `Date` header's value, formatted once per second per thread.
mod date {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};

    thread_local! {
        static CACHE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }

    pub fn with_now<R>(f: impl FnOnce(&str) -> R) -> R {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.0 != secs {
                let t = chrono::DateTime::from_timestamp(secs as i64, 0).unwrap_or_default();
                c.1 = t.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
                c.0 = secs;
            }
            f(&c.1)
        })
    }
}
