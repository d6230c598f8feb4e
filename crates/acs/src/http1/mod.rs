//! The CPE listener's HTTP/1.x connection layer: lean on purpose.
//!
//! A CWMP session is a few small POSTs on one keep-alive connection, and a node holds many
//! thousands of such connections at once. A general-purpose server keeps fixed read and write
//! buffers (8 kB or more each way) and a large connection future per connection for its whole
//! life; this layer holds nothing between requests but the socket and the bytes a client sent
//! ahead (pipelining), and while a request is handled only its head, its body and the reply.
//!
//! What it speaks (RFC 9112): request heads parsed by `httparse` (a bare LF accepted as the
//! end of a head line, leading blank lines skipped, no obs-fold, no space before a colon),
//! bodies framed by `Content-Length` or `chunked` and nothing else (`framing.rs`: the rules,
//! strict where two parsers could disagree; `chunked.rs`: the decoder, CRLF only), `gzip`
//! before `chunked` left to the handler, which sees the header; `Expect: 100-continue`,
//! HTTP/1.0 (close unless `Connection: keep-alive`) and HTTP/1.1 keep-alive and pipelining,
//! `Connection: close`, `HEAD`. The reply's status line carries the request's version;
//! `Content-Length` and `Date` are always written (`reply.rs`).
//!
//! Limits: the head within `max_head` bytes (else 431) and `header_timeout` from its first
//! byte; the body within `max_body` bytes (else 413, before anything is read when the length
//! is announced) and `body_timeout`; an idle keep-alive connection is closed after
//! `idle_timeout`. Any framing error gets a 400 (501 for a transfer coding nobody here
//! decodes) naming what was wrong, with `Connection: close`, and the connection is closed
//! without reading another request from it, lingering briefly so that the client reads the
//! reply rather than a reset.
//!
//! Each head first goes to [`Handler::admit`] (the CPE listener authenticates there). A
//! refused request is answered without a permit, its body dropped as it arrives. With a
//! `gate`, an admitted request then takes a permit before its body is read and gives it back
//! once the handler has replied: requests beyond the gate wait with their bodies still in
//! the kernel's socket buffers instead of in this process, for at most `gate_timeout`, then
//! get 503 with `Retry-After` and the connection closes.

use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, timeout, timeout_at};

mod chunked;
mod framing;
mod reply;

use framing::Framing;
use reply::encode_response;
pub use reply::{busy, plain};

/// Most header fields in a request head.
const MAX_HEADERS: usize = 64;
/// The read buffer's first size: a CPE's request head and the start of its body.
const READ_CHUNK: usize = 1024;
/// A reply body at most this long goes out in the same write as its head.
const COALESCE: usize = 16 * 1024;
/// A file body is read and sent in pieces of this size: one buffer per download in progress,
/// however large the file.
const FILE_CHUNK: usize = 64 * 1024;
/// How long, and how much, a closing connection reads and drops of what its client still
/// sends, so that the client sees the reply instead of a reset.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: u64 = 1 << 20;
/// `Retry-After` of a request that waited too long at the gate, in seconds.
const RETRY_AFTER_BUSY: u32 = 5;

/// The connection layer's limits.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_head: usize,
    pub max_body: usize,
    /// From a request's first byte to the end of its head.
    pub header_timeout: Duration,
    /// For a whole body.
    pub body_timeout: Duration,
    /// Waiting for the next request on a keep-alive connection.
    pub idle_timeout: Duration,
    /// Waiting for a permit at the gate; then 503 with `Retry-After`.
    pub gate_timeout: Duration,
}

/// Why a request was refused before the handler saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    HeadTooLarge,
    BadHead,
    BodyTooLarge,
    BadBody,
    BodyTimeout,
    /// No permit at the gate within `gate_timeout`.
    Busy,
}

/// What serves the requests of a connection.
pub trait Handler: Send + Sync {
    /// What `admit` learned from a head that `call` needs (e.g. who authenticated).
    type Admitted: Send;

    /// Decides on a request from its head alone, before it waits at the gate and before its
    /// body is read: `Err` is the reply. A refused request takes no permit; its body is read
    /// and dropped as it arrives (nothing kept), so that the connection can go on, or, when
    /// the client waits for `100 Continue`, the connection closes instead.
    fn admit(
        &self,
        head: &Parts,
    ) -> impl Future<Output = Result<Self::Admitted, Response<Body>>> + Send;

    /// One admitted request (body complete, transfer coding removed) to its reply. A `HEAD`
    /// request's reply may carry a body: only its length is sent.
    fn call(
        &self,
        request: Request<Bytes>,
        admitted: Self::Admitted,
    ) -> impl Future<Output = Response<Body>> + Send;

    /// A request refused by the connection layer itself (counted by the caller's metrics).
    fn refused(&self, _why: Refusal) {}
}

/// A reply's body: bytes in memory, or `len` bytes of an open file from its current position,
/// streamed in `FILE_CHUNK` pieces (firmware images: many CPEs download one at once).
pub enum Body {
    Bytes(Bytes),
    File { file: tokio::fs::File, len: u64 },
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Body {
        Body::Bytes(b)
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body::Bytes(Bytes::from(v))
    }
}

/// Serves one connection until the client closes it, an error or a limit ends it, or
/// `shutdown` turns true (the request being handled is finished first).
pub async fn serve_connection<IO, H>(
    io: IO,
    limits: &Limits,
    gate: Option<&Semaphore>,
    handler: &H,
    mut shutdown: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin,
    H: Handler,
{
    let mut conn = Conn {
        io,
        buf: Vec::new(),
    };
    loop {
        // the next request's head
        if conn.buf.is_empty() {
            let first = tokio::select! {
                r = timeout(limits.idle_timeout, conn.read_more()) => r,
                _ = shutdown.changed() => return,
            };
            match first {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
        }
        let deadline = Instant::now() + limits.header_timeout;
        let head = loop {
            match parse_head(&conn.buf) {
                Ok(Some((head, used))) => {
                    conn.buf.drain(..used);
                    break head;
                }
                Ok(None) if conn.buf.len() >= limits.max_head => {
                    handler.refused(Refusal::HeadTooLarge);
                    let r = plain(
                        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                        "request head too large",
                    );
                    Box::pin(conn.reply_and_close(r, Version::HTTP_11, false)).await;
                    return;
                }
                Ok(None) => match timeout_at(deadline, conn.read_more()).await {
                    Ok(Ok(n)) if n > 0 => {}
                    // a client that goes away or stalls mid-head gets no reply
                    _ => return,
                },
                Err(why) => {
                    handler.refused(Refusal::BadHead);
                    let r = plain(StatusCode::BAD_REQUEST, &format!("bad request head: {why}"));
                    Box::pin(conn.reply_and_close(r, Version::HTTP_11, false)).await;
                    return;
                }
            }
        };
        let version = head.version;
        let is_head = head.method == Method::HEAD;
        let mut keep_alive = keep_alive(&head);
        let framing = match framing::framing(version, &head.headers) {
            Ok((framing, close_after)) => {
                // chunked beside a Content-Length (RFC 9112 §6.1): answered, then closed
                keep_alive &= !close_after;
                framing
            }
            Err(refused) => {
                handler.refused(Refusal::BadHead);
                let r = plain(refused.status, &refused.why);
                Box::pin(conn.reply_and_close(r, version, is_head)).await;
                return;
            }
        };
        if let Framing::Length(n) = framing
            && n > limits.max_body as u64
        {
            handler.refused(Refusal::BodyTooLarge);
            let r = plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body larger than the configured limit",
            );
            Box::pin(conn.reply_and_close(r, version, is_head)).await;
            return;
        }
        let waits_for_continue = expects_continue(&head) && framing != Framing::Length(0);

        // boxed, as `call` below: the connection's own future stays small while it is idle
        let response = match Box::pin(handler.admit(&head)).await {
            Err(response) => {
                drop(head);
                // the client has not sent the body and waits to be asked: not asked, closed
                if waits_for_continue && conn.buf.is_empty() {
                    Box::pin(conn.reply_and_close(response, version, is_head)).await;
                    return;
                }
                let dropped = timeout(
                    limits.body_timeout,
                    conn.read_body(framing, limits.max_body, false),
                )
                .await;
                if let Err(refusal) = body_outcome(dropped) {
                    Box::pin(conn.refuse_body(handler, refusal, version, is_head)).await;
                    return;
                }
                response
            }
            Ok(admitted) => {
                let permit = match gate {
                    Some(g) => match timeout(limits.gate_timeout, g.acquire()).await {
                        Ok(Ok(p)) => Some(p),
                        Ok(Err(_)) => return,
                        Err(_) => {
                            handler.refused(Refusal::Busy);
                            drop(head);
                            let r = busy(RETRY_AFTER_BUSY);
                            Box::pin(conn.reply_and_close(r, version, is_head)).await;
                            return;
                        }
                    },
                    None => None,
                };
                if waits_for_continue
                    && conn.buf.is_empty()
                    && (conn
                        .io
                        .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                        .await
                        .is_err()
                        || conn.io.flush().await.is_err())
                {
                    return;
                }
                let read = timeout(
                    limits.body_timeout,
                    conn.read_body(framing, limits.max_body, true),
                )
                .await;
                let body = match body_outcome(read) {
                    Ok(body) => body,
                    Err(refusal) => {
                        Box::pin(conn.refuse_body(handler, refusal, version, is_head)).await;
                        return;
                    }
                };
                let request = Request::from_parts(head, Bytes::from(body));
                let response = Box::pin(handler.call(request, admitted)).await;
                drop(permit);
                response
            }
        };
        if *shutdown.borrow() {
            keep_alive = false;
        }
        let reply = encode_response(response, version, keep_alive, is_head);
        if conn.write(reply, limits.body_timeout).await.is_err() {
            return;
        }
        if !keep_alive {
            Box::pin(conn.linger_close()).await;
            return;
        }
        // a CRLF some stacks send after a body belongs to no request: the connection is idle
        loop {
            let blank = match conn.buf.as_slice() {
                [b'\r', b'\n', ..] => 2,
                [b'\n', ..] => 1,
                _ => break,
            };
            conn.buf.drain(..blank);
        }
        if conn.buf.is_empty() {
            conn.buf = Vec::new();
        }
    }
}

struct Conn<IO> {
    io: IO,
    /// Bytes read but not yet consumed: a partial head, or what a client sent ahead.
    buf: Vec<u8>,
}

#[derive(Debug)]
enum BodyError {
    Io,
    TooLarge,
    Bad(&'static str),
}

/// Why reading a body failed: `None` when the client went away (nothing to reply).
fn body_outcome(
    read: Result<Result<Vec<u8>, BodyError>, tokio::time::error::Elapsed>,
) -> Result<Vec<u8>, Option<(Refusal, StatusCode, String)>> {
    match read {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(BodyError::Io)) => Err(None),
        Ok(Err(BodyError::TooLarge)) => Err(Some((
            Refusal::BodyTooLarge,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body larger than the configured limit".to_owned(),
        ))),
        Ok(Err(BodyError::Bad(why))) => Err(Some((
            Refusal::BadBody,
            StatusCode::BAD_REQUEST,
            format!("bad chunked body: {why}"),
        ))),
        Err(_) => Err(Some((
            Refusal::BodyTimeout,
            StatusCode::REQUEST_TIMEOUT,
            "request body too slow".to_owned(),
        ))),
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Conn<IO> {
    /// Reads what is available into `buf`, which starts at `READ_CHUNK` and doubles when
    /// nearly full; `Ok(0)` at end of stream.
    async fn read_more(&mut self) -> io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve_exact(self.buf.len().max(READ_CHUNK));
        }
        self.io.read_buf(&mut self.buf).await
    }

    /// Reads a body; with `keep` false it is only counted and dropped as it arrives (a
    /// refused request's), and an empty body is returned.
    async fn read_body(
        &mut self,
        framing: Framing,
        max_body: usize,
        keep: bool,
    ) -> Result<Vec<u8>, BodyError> {
        match framing {
            Framing::Length(n) => {
                let n = n as usize; // <= max_body, checked before
                let mut body = Vec::with_capacity(if keep { n } else { 0 });
                let ahead = self.buf.len().min(n);
                if keep {
                    body.extend_from_slice(&self.buf[..ahead]);
                }
                self.buf.drain(..ahead);
                let rest = (n - ahead) as u64;
                if keep {
                    while body.len() < n {
                        let rest = (n - body.len()) as u64;
                        match (&mut self.io).take(rest).read_buf(&mut body).await {
                            Ok(0) | Err(_) => return Err(BodyError::Io),
                            Ok(_) => {}
                        }
                    }
                } else if rest > 0 {
                    let mut sink = tokio::io::sink();
                    match tokio::io::copy(&mut (&mut self.io).take(rest), &mut sink).await {
                        Ok(got) if got == rest => {}
                        _ => return Err(BodyError::Io),
                    }
                }
                Ok(body)
            }
            Framing::Chunked => {
                let mut body = Vec::new();
                let mut decoder = chunked::Decoder::new(max_body);
                loop {
                    let used = decoder
                        .decode(&self.buf, keep.then_some(&mut body))
                        .map_err(|e| match e {
                            chunked::Error::TooLarge => BodyError::TooLarge,
                            chunked::Error::Bad(why) => BodyError::Bad(why),
                        })?;
                    self.buf.drain(..used);
                    if decoder.is_done() {
                        return Ok(body);
                    }
                    match self.read_more().await {
                        Ok(0) | Err(_) => return Err(BodyError::Io),
                        Ok(_) => {}
                    }
                }
            }
        }
    }

    /// Replies to a body that could not be read (`None`: the client went away), then closes.
    async fn refuse_body<H: Handler>(
        &mut self,
        handler: &H,
        refusal: Option<(Refusal, StatusCode, String)>,
        version: Version,
        head: bool,
    ) {
        if let Some((why, status, text)) = refusal {
            handler.refused(why);
            self.reply_and_close(plain(status, &text), version, head)
                .await;
        }
    }

    /// Writes a reply; each write must make progress within `stall` (a client that stops
    /// reading is dropped). A file that ends early breaks the framing: the error closes the
    /// connection.
    async fn write(
        &mut self,
        (head, body): (Vec<u8>, Option<Body>),
        stall: Duration,
    ) -> io::Result<()> {
        let stalled = || io::Error::new(io::ErrorKind::TimedOut, "client stopped reading");
        timeout(stall, self.io.write_all(&head))
            .await
            .map_err(|_| stalled())??;
        match body {
            None => {}
            Some(Body::Bytes(b)) => timeout(stall, self.io.write_all(&b))
                .await
                .map_err(|_| stalled())??,
            Some(Body::File { mut file, len }) => {
                let mut chunk = vec![0u8; FILE_CHUNK.min(len as usize)];
                let mut left = len;
                while left > 0 {
                    let want = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = file.read(&mut chunk[..want]).await?;
                    if n == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    timeout(stall, self.io.write_all(&chunk[..n]))
                        .await
                        .map_err(|_| stalled())??;
                    left -= n as u64;
                }
            }
        }
        timeout(stall, self.io.flush())
            .await
            .map_err(|_| stalled())?
    }

    /// Sends `response` with `Connection: close`, then closes. (Callers box this and
    /// `linger_close`: rare paths that should not size every connection's future.)
    async fn reply_and_close(&mut self, response: Response<Body>, version: Version, head: bool) {
        if self
            .write(encode_response(response, version, false, head), LINGER)
            .await
            .is_ok()
        {
            self.linger_close().await;
        }
    }

    /// Ends the write side, then reads and drops what the client still sends for a moment:
    /// closing with unread bytes would reset the connection before the client read the reply.
    async fn linger_close(&mut self) {
        let _ = self.io.shutdown().await;
        self.buf = Vec::new();
        let mut sink = tokio::io::sink();
        let _ = timeout(
            LINGER,
            tokio::io::copy(&mut (&mut self.io).take(LINGER_BYTES), &mut sink),
        )
        .await;
    }
}

/// `Ok(None)`: incomplete. `Ok(Some((head, bytes used)))`, or what is wrong with it.
fn parse_head(buf: &[u8]) -> Result<Option<(Parts, usize)>, String> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    let used = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(format!("more than {MAX_HEADERS} header fields"));
        }
        Err(e) => return Err(e.to_string()),
    };
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|_| "invalid method".to_owned())?;
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    for f in req.headers.iter() {
        let name = HeaderName::from_bytes(f.name.as_bytes())
            .map_err(|_| format!("invalid header name {:?}", f.name))?;
        let value = HeaderValue::from_bytes(f.value)
            .map_err(|_| format!("invalid value of header {}", f.name))?;
        headers.append(name, value);
    }
    let mut r = Request::new(());
    *r.method_mut() = method;
    *r.version_mut() = version;
    *r.headers_mut() = headers;
    let target = req.path.unwrap_or("/");
    match target.parse() {
        Ok(uri) => *r.uri_mut() = uri,
        // a target the `http` crate refuses (stray spaces, raw non-ASCII): keep its path
        Err(_) => {
            let path: String = target
                .chars()
                .take_while(|c| c.is_ascii_graphic())
                .collect();
            if let Ok(uri) = path.parse() {
                *r.uri_mut() = uri;
            }
        }
    }
    Ok(Some((r.into_parts().0, used)))
}

/// The comma-separated tokens of every `name` field (ASCII values only).
fn tokens<'a>(head: &'a Parts, name: &HeaderName) -> impl Iterator<Item = &'a str> + 'a {
    head.headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// `close` wins over `keep-alive`, in whatever order they come; HTTP/1.0 closes unless asked.
fn keep_alive(head: &Parts) -> bool {
    let c = &http::header::CONNECTION;
    if tokens(head, c).any(|t| t.eq_ignore_ascii_case("close")) {
        return false;
    }
    head.version != Version::HTTP_10
        || tokens(head, c).any(|t| t.eq_ignore_ascii_case("keep-alive"))
}

fn expects_continue(head: &Parts) -> bool {
    head.version != Version::HTTP_10
        && head
            .headers
            .get(http::header::EXPECT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
}

#[cfg(test)]
mod tests;
