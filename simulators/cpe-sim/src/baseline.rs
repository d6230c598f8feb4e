//! `cpe-sim baseline`: the speed-of-light ACS a load run is compared with. It answers a POST
//! whose body holds an Inform with a canned InformResponse carrying the request's `cwmp:ID`
//! (found by byte search, no XML parsing, no state) and any other POST with 204. Keep-alive.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The answer to one POST body.
pub fn respond(body: &[u8]) -> Response<Full<Bytes>> {
    if !has_inform(body) {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::NO_CONTENT;
        return r;
    }
    let id = find_id(body).unwrap_or_default();
    let ns = find_namespace_digit(body).unwrap_or(b'0');
    let mut out = Vec::with_capacity(420 + id.len());
    out.extend_from_slice(
        b"<soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-",
    );
    out.push(ns);
    out.extend_from_slice(b"\"><soap-env:Header><cwmp:ID soap-env:mustUnderstand=\"1\">");
    out.extend_from_slice(id);
    out.extend_from_slice(
        b"</cwmp:ID></soap-env:Header><soap-env:Body><cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse></soap-env:Body></soap-env:Envelope>",
    );
    let mut r = Response::new(Full::new(Bytes::from(out)));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/xml; charset=\"utf-8\""),
    );
    r
}

/// Whether the body has an `Inform` element (`<cwmp:Inform>`, `<Inform …>`), not
/// `InformResponse`.
fn has_inform(body: &[u8]) -> bool {
    let mut i = 0;
    while let Some(pos) = find(&body[i..], b"Inform") {
        let at = i + pos;
        let before = at.checked_sub(1).map(|b| body[b]);
        let after = body.get(at + 6).copied();
        if matches!(before, Some(b':' | b'<'))
            && matches!(after, Some(b'>' | b' ' | b'/' | b'\t' | b'\r' | b'\n'))
        {
            return true;
        }
        i = at + 6;
    }
    false
}

/// The text of the first `…:ID …>` element (the cwmp:ID), as bytes.
fn find_id(body: &[u8]) -> Option<&[u8]> {
    let mut i = 0;
    while let Some(pos) = find(&body[i..], b":ID") {
        let at = i + pos + 3;
        if matches!(body.get(at), Some(b'>' | b' ')) {
            let open_end = at + find(&body[at..], b">")? + 1;
            let close = open_end + find(&body[open_end..], b"<")?;
            return Some(&body[open_end..close]);
        }
        i = at;
    }
    None
}

/// The version digit of the `urn:dslforum-org:cwmp-1-N` namespace the CPE used.
fn find_namespace_digit(body: &[u8]) -> Option<u8> {
    let pos = find(body, b"urn:dslforum-org:cwmp-1-")?;
    body.get(pos + 24).copied().filter(u8::is_ascii_digit)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Serves until `shutdown` turns true.
pub async fn serve(listener: TcpListener, shutdown: watch::Receiver<bool>) {
    crate::server::serve(listener, shutdown, |req: Request<Incoming>| async move {
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        respond(&body)
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_inform_and_id() {
        let inform = br#"<s:Envelope xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><s:Header><cwmp:ID s:mustUnderstand="1">abc 1</cwmp:ID></s:Header><s:Body><cwmp:Inform><x/></cwmp:Inform></s:Body></s:Envelope>"#;
        assert!(has_inform(inform));
        assert_eq!(find_id(inform), Some(&b"abc 1"[..]));
        assert_eq!(find_namespace_digit(inform), Some(b'2'));
        assert!(!has_inform(b"<cwmp:InformResponse/>"));
    }
}
