//! Request smuggling at the CPE listener of the real binary: a request whose framing is
//! malformed is refused with `Connection: close`, and the bytes after it are never answered
//! as a request of their own. (The full table of vectors runs against the connection layer in
//! `src/http1/tests.rs`; these are the ones found against the binary.)

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod support;
use support::server::start;
use support::{inform, post, read_response};

/// Sends `first` followed by a well-formed Inform on one connection: expects one reply with
/// `status` and `Connection: close`, then the end of the stream (the Inform never answered).
/// What went wrong otherwise.
async fn refused_and_closed(cwmp: &str, first: &[u8], status: u16) -> Result<(), String> {
    let shown = String::from_utf8_lossy(first).into_owned();
    let mut c = TcpStream::connect(cwmp).await.unwrap();
    let mut raw = first.to_vec();
    raw.extend_from_slice(&post(&inform("SN-SMUGGLED"), ""));
    c.write_all(&raw).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(30), read_response(&mut c))
        .await
        .map_err(|_| format!("{shown:?}: no reply within 30 s"))?
        .map_err(|e| format!("{shown:?}: no reply: {e}"))?;
    if (r.status, r.header("connection")) != (status, Some("close")) {
        return Err(format!(
            "{shown:?}: {} with Connection {:?}, expected {status} with close: {}",
            r.status,
            r.header("connection"),
            r.text()
        ));
    }
    let mut rest = Vec::new();
    match tokio::time::timeout(Duration::from_secs(30), c.read_to_end(&mut rest)).await {
        Err(_) => Err(format!("{shown:?}: the connection stayed open")),
        Ok(_) if !rest.is_empty() => Err(format!(
            "{shown:?}: the bytes after it were answered: {}",
            String::from_utf8_lossy(&rest)
        )),
        Ok(_) => Ok(()),
    }
}

#[tokio::test]
async fn malformed_content_length_and_chunk_sizes_close_the_connection() {
    // sessions here are an Inform and an empty POST: no credentials task in between
    let s = start(&["--cr-provision=false"], &[]);
    let mut failures = Vec::new();
    for (first, status) in [
        // read as length 0 before: the body was parsed as the next request
        (
            &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\xff\r\n\r\nhello"[..],
            400,
        ),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", 400),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello",
            400,
        ),
        // chunk sizes with a sign or a space were read as 5
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
            400,
        ),
        // a coding nobody here decodes
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: deflate, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            501,
        ),
        // chunked on HTTP/1.0 (RFC 9112 6.1: faulty framing)
        (
            b"POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            400,
        ),
    ] {
        if let Err(e) = refused_and_closed(&s.cwmp, first, status).await {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// What CPEs really send still works: the Thomson chunked capture, gzip as a transfer coding
/// before chunked, repeated identical Content-Length values.
#[tokio::test]
async fn field_framings_are_still_accepted() {
    use std::io::Write;
    // sessions here are an Inform and an empty POST: no credentials task in between
    let s = start(&["--cr-provision=false"], &[]);
    let body = inform("SN-FRAMING");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&body).unwrap();
    let gz = gz.finish().unwrap();
    let mut chunked_gzip =
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec();
    chunked_gzip.extend_from_slice(format!("{:x}\r\n", gz.len()).as_bytes());
    chunked_gzip.extend_from_slice(&gz);
    chunked_gzip.extend_from_slice(b"\r\n0\r\n\r\n");
    let twice = post(
        &body,
        &format!(
            "Content-Length: {0}\r\nContent-Length: {0}, {0}\r\n",
            body.len()
        ),
    );
    for raw in [chunked_gzip, twice] {
        let mut c = TcpStream::connect(&s.cwmp).await.unwrap();
        let r = support::exchange(&mut c, &raw).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("connection"), None);
        // the session goes on on the same connection
        let r = support::exchange(&mut c, &post(b"", "")).await.unwrap();
        assert_eq!(r.status, 204);
    }
}
