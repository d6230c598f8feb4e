//! Firmware files for CPE downloads: `GET`/`HEAD /files/firmware/<file_name>`, only for names
//! of firmware images known to the store, with single `Range`, `ETag` (sha256) and
//! `If-None-Match`.
//!
//! Who may fetch (DESIGN §8): with CPE authentication off, anyone who can reach the CPE
//! listener (as anyone may then pose as any device). With it on, a request must prove it may
//! have the file: either a signed per-download path `/files/firmware/<token>/<file_name>`
//! (what the Download RPC carries, `acs_session::file_url`; 403 when forged or expired), or
//! the plain path with the credentials a CPE authenticates to the ACS with (per-device or
//! shared, Basic or Digest as configured; 401 with the challenge otherwise).

use std::io::SeekFrom;

use acs_session::auth::AuthMode;
use bytes::Bytes;
use chrono::Utc;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tokio::io::AsyncSeekExt;

use crate::cpe::CpeState;
use crate::http1::Body;

fn status(code: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::Bytes(Bytes::new()));
    *r.status_mut() = code;
    r
}

/// A name a firmware image may have: no path separators, no dot-dot, printable ASCII.
fn plausible_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains("..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
}

/// Parses `bytes=a-b`, `bytes=a-`, `bytes=-n` against `len`: `Ok(None)` no range,
/// `Err(())` unsatisfiable.
fn parse_range(value: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        // several ranges: answer the whole file (allowed by RFC 9110 §14.2)
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 || len == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            b.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1))
        };
        if start >= len || end < start {
            return Err(());
        }
        (start, end)
    };
    Ok(Some(range))
}

/// `rest`: the path after `/files/firmware/`, `<file_name>` or `<token>/<file_name>`.
pub async fn serve_firmware<B>(
    state: &CpeState,
    rest: &str,
    req: &Request<B>,
    peer: std::net::SocketAddr,
) -> Response<Body> {
    let (token, name) = match rest.split_once('/') {
        Some((token, name)) => (Some(token), name),
        None => (None, rest),
    };
    if !plausible_name(name) {
        return status(StatusCode::NOT_FOUND);
    }
    if state.auth.mode() != AuthMode::None {
        match (token, &state.engine.config().file_urls) {
            (Some(token), Some(urls)) => match urls.verify(token, name, Utc::now()) {
                Ok(device_id) => {
                    tracing::debug!(device_id, file = name, "signed firmware download")
                }
                Err(e) => {
                    tracing::debug!(file = name, error = %e, "firmware download refused");
                    let mut r = Response::new(Body::Bytes(Bytes::from(e.to_string())));
                    *r.status_mut() = StatusCode::FORBIDDEN;
                    return r;
                }
            },
            _ => {
                let authorization = req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok());
                let target = req.uri().path_and_query().map_or(rest, |p| p.as_str());
                if let Err(challenge) = crate::cpe::authenticate(
                    state,
                    authorization,
                    req.method().as_str(),
                    target,
                    peer,
                )
                .await
                {
                    return challenge;
                }
            }
        }
    }
    let images = match tokio::time::timeout(
        std::time::Duration::from_secs(5),
        state.store.list_firmware_images(),
    )
    .await
    {
        Ok(Ok(i)) => i,
        _ => return status(StatusCode::SERVICE_UNAVAILABLE),
    };
    let Some(image) = images.into_iter().find(|i| i.file_name == name) else {
        return status(StatusCode::NOT_FOUND);
    };
    let path = image.path(&state.data_dir);
    let Ok(mut file) = tokio::fs::File::open(&path).await else {
        return status(StatusCode::NOT_FOUND);
    };
    let Ok(meta) = file.metadata().await else {
        return status(StatusCode::NOT_FOUND);
    };
    let len = meta.len();
    let etag = format!("\"{}\"", image.sha256);
    let headers = |r: &mut Response<Body>| {
        let h = r.headers_mut();
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
    };
    let inm = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if inm.is_some_and(|v| {
        v.trim() == "*"
            || v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag)
    }) {
        let mut r = status(StatusCode::NOT_MODIFIED);
        headers(&mut r);
        return r;
    }
    let range = match req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
    {
        Some(v) => match parse_range(v, len) {
            Ok(r) => r,
            Err(()) => {
                let mut r = status(StatusCode::RANGE_NOT_SATISFIABLE);
                headers(&mut r);
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    r.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return r;
            }
        },
        None => None,
    };
    let (start, end) = range.unwrap_or((0, len.saturating_sub(1)));
    let count = if len == 0 { 0 } else { end - start + 1 };
    let body = if req.method() == Method::HEAD || count == 0 {
        Body::Bytes(Bytes::new())
    } else {
        if file.seek(SeekFrom::Start(start)).await.is_err() {
            return status(StatusCode::INTERNAL_SERVER_ERROR);
        }
        // streamed by the connection layer, a piece at a time
        Body::File { file, len: count }
    };
    let mut r = Response::new(body);
    headers(&mut r);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&count.to_string()) {
        r.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    if range.is_some() {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
            r.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=50-500", 100), Ok(Some((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range("items=0-1", 100), Ok(None));
    }

    #[test]
    fn names() {
        assert!(plausible_name("fw-1.2.3.bin"));
        for bad in ["", "../x", "a/b", ".hidden", "a..b", "a b", "a%2fb"] {
            assert!(!plausible_name(bad), "{bad}");
        }
    }
}
