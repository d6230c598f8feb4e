//! The CPE listener's HTTP/1.x connection layer: lean on purpose.
//!
//! A CWMP session is a few small POSTs on one keep-alive connection, and a node holds many
//! thousands of such connections at once. A general-purpose server keeps fixed read and write
//! buffers (8 kB or more each way) and a large connection future per connection for its whole
//! life; this layer holds nothing between requests but the socket and the bytes a client sent
//! ahead (pipelining), and while a request is handled only its head, its body and the reply.
//!
//! What it speaks (RFC 9112): request heads parsed by `httparse` (bare-LF tolerant, leading
//! blank lines skipped), `Content-Length` and `chunked` bodies (extensions and trailers read and
//! dropped; other transfer codings before `chunked` are left to the handler, which sees the
//! header), `Expect: 100-continue`, HTTP/1.0 (close unless `Connection: keep-alive`) and
//! HTTP/1.1 keep-alive and pipelining, `Connection: close`, `HEAD`. The reply's status line
//! carries the request's version; `Content-Length` and `Date` are always written.
//!
//! Limits: the head within `max_head` bytes (else 431) and `header_timeout` from its first
//! byte; the body within `max_body` bytes (else 413, before anything is read when the length
//! is announced) and `body_timeout`; an idle keep-alive connection is closed after
//! `idle_timeout`. Framing errors get a 400 naming what was wrong, and the connection is then
//! closed, lingering briefly so that the client reads the reply rather than a reset.
//!
//! With a `gate`, a request takes a permit after its head is read and before its body is
//! read, and gives it back once the handler has replied: requests beyond the gate wait with
//! their bodies still in the kernel's socket buffers instead of in this process.

use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, timeout, timeout_at};

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
}

/// Why a request was refused before the handler saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    HeadTooLarge,
    BadHead,
    BodyTooLarge,
    BadBody,
    BodyTimeout,
}

/// What serves the requests of a connection.
pub trait Handler: Send + Sync {
    /// One request (body complete, transfer coding removed) to its reply. A `HEAD` request's
    /// reply may carry a body: only its length is sent.
    fn call(&self, request: Request<Bytes>) -> impl Future<Output = Response<Body>> + Send;

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
        let mut keep_alive = head.keep_alive();
        let framing = match head.framing() {
            Ok(f) => f,
            Err(why) => {
                handler.refused(Refusal::BadHead);
                let r = plain(StatusCode::BAD_REQUEST, why);
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

        let permit = match gate {
            Some(g) => match g.acquire().await {
                Ok(p) => Some(p),
                Err(_) => return,
            },
            None => None,
        };
        if head.expects_continue()
            && framing != Framing::Length(0)
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
        let body = match timeout(
            limits.body_timeout,
            conn.read_body(framing, limits.max_body),
        )
        .await
        {
            Ok(Ok(b)) => b,
            Ok(Err(BodyError::Io)) => return,
            Ok(Err(e)) => {
                let (why, status, text) = match e {
                    BodyError::TooLarge => (
                        Refusal::BodyTooLarge,
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body larger than the configured limit",
                    ),
                    _ => (
                        Refusal::BadBody,
                        StatusCode::BAD_REQUEST,
                        "bad chunked body",
                    ),
                };
                handler.refused(why);
                Box::pin(conn.reply_and_close(plain(status, text), version, is_head)).await;
                return;
            }
            Err(_) => {
                handler.refused(Refusal::BodyTimeout);
                let r = plain(StatusCode::REQUEST_TIMEOUT, "request body too slow");
                Box::pin(conn.reply_and_close(r, version, is_head)).await;
                return;
            }
        };
        // chunked on HTTP/1.0, or beside a Content-Length (RFC 9112 §6.1: a request that could
        // be framed two ways, as in request smuggling): answered, then the connection closes
        if framing == Framing::Chunked
            && (version == Version::HTTP_10
                || head.headers.contains_key(http::header::CONTENT_LENGTH))
        {
            keep_alive = false;
        }
        let request = head.into_request(body);
        // boxed: the connection's own future stays small while it waits for the next request
        let response = Box::pin(handler.call(request)).await;
        drop(permit);
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
        let blank = conn
            .buf
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        conn.buf.drain(..blank);
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
    Bad,
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

    async fn read_body(&mut self, framing: Framing, max_body: usize) -> Result<Vec<u8>, BodyError> {
        match framing {
            Framing::Length(n) => {
                let n = n as usize; // <= max_body, checked before
                let mut body = Vec::with_capacity(n);
                let ahead = self.buf.len().min(n);
                body.extend_from_slice(&self.buf[..ahead]);
                self.buf.drain(..ahead);
                while body.len() < n {
                    let rest = (n - body.len()) as u64;
                    match (&mut self.io).take(rest).read_buf(&mut body).await {
                        Ok(0) | Err(_) => return Err(BodyError::Io),
                        Ok(_) => {}
                    }
                }
                Ok(body)
            }
            Framing::Chunked => {
                let mut body = Vec::new();
                let mut state = Chunked::Size;
                loop {
                    let used = decode_chunked(&self.buf, &mut state, &mut body, max_body)?;
                    self.buf.drain(..used);
                    if state == Chunked::Done {
                        return Ok(body);
                    }
                    // a size line or trailer field longer than this is not a CPE's
                    if self.buf.len() > 8192 {
                        return Err(BodyError::Bad);
                    }
                    match self.read_more().await {
                        Ok(0) | Err(_) => return Err(BodyError::Io),
                        Ok(_) => {}
                    }
                }
            }
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

/// A parsed request head.
struct Head {
    method: Method,
    target: String,
    version: Version,
    headers: HeaderMap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
}

/// `Ok(None)`: incomplete. `Ok(Some((head, bytes used)))`, or what is wrong with it.
fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, String> {
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
    let target = req.path.unwrap_or("/").to_owned();
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    for f in req.headers.iter() {
        let name = HeaderName::from_bytes(f.name.as_bytes())
            .map_err(|_| format!("invalid header name {:?}", f.name))?;
        let value = HeaderValue::from_bytes(f.value)
            .map_err(|_| format!("invalid value of header {}", f.name))?;
        headers.append(name, value);
    }
    Ok(Some((
        Head {
            method,
            target,
            version,
            headers,
        },
        used,
    )))
}

impl Head {
    fn tokens<'a>(&'a self, name: &HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    fn keep_alive(&self) -> bool {
        let c = &http::header::CONNECTION;
        match self.version {
            Version::HTTP_10 => self.tokens(c).any(|t| t.eq_ignore_ascii_case("keep-alive")),
            _ => !self.tokens(c).any(|t| t.eq_ignore_ascii_case("close")),
        }
    }

    fn expects_continue(&self) -> bool {
        self.version != Version::HTTP_10
            && self
                .headers
                .get(http::header::EXPECT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
    }

    /// RFC 9112 §6: `Transfer-Encoding` ending in `chunked` wins over `Content-Length`;
    /// several `Content-Length`s must agree.
    fn framing(&self) -> Result<Framing, &'static str> {
        let te = &http::header::TRANSFER_ENCODING;
        if self.headers.contains_key(te) {
            return match self.tokens(te).last() {
                Some(t) if t.eq_ignore_ascii_case("chunked") => Ok(Framing::Chunked),
                _ => Err("Transfer-Encoding does not end in chunked"),
            };
        }
        let mut length = None;
        for t in self.tokens(&http::header::CONTENT_LENGTH) {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err("invalid Content-Length");
            }
            let n: u64 = t.parse().map_err(|_| "invalid Content-Length")?;
            if length.is_some_and(|l| l != n) {
                return Err("conflicting Content-Length values");
            }
            length = Some(n);
        }
        Ok(Framing::Length(length.unwrap_or(0)))
    }

    fn into_request(self, body: Vec<u8>) -> Request<Bytes> {
        let mut r = Request::new(Bytes::from(body));
        *r.method_mut() = self.method;
        *r.version_mut() = self.version;
        *r.headers_mut() = self.headers;
        match self.target.parse() {
            Ok(uri) => *r.uri_mut() = uri,
            // a target the `http` crate refuses (stray spaces, raw non-ASCII): keep its path
            Err(_) => {
                let path: String = self
                    .target
                    .chars()
                    .take_while(|c| c.is_ascii_graphic())
                    .collect();
                if let Ok(uri) = path.parse() {
                    *r.uri_mut() = uri;
                }
            }
        }
        r
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunked {
    /// Expecting a size line.
    Size,
    /// This many data bytes left in the chunk.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer fields up to an empty line.
    Trailer,
    Done,
}

/// One line (without its LF and an optional CR before it), and the bytes it used.
fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let lf = buf.iter().position(|&b| b == b'\n')?;
    let l = &buf[..lf];
    Some((l.strip_suffix(b"\r").unwrap_or(l), lf + 1))
}

/// Decodes what `buf` holds of a chunked body into `body`: the bytes used.
fn decode_chunked(
    buf: &[u8],
    state: &mut Chunked,
    body: &mut Vec<u8>,
    max_body: usize,
) -> Result<usize, BodyError> {
    let mut at = 0;
    loop {
        let rest = &buf[at..];
        match *state {
            Chunked::Done => return Ok(at),
            Chunked::Size => {
                let Some((l, used)) = line(rest) else {
                    return Ok(at);
                };
                let hex = l.split(|&b| b == b';').next().unwrap_or(b"");
                let hex = std::str::from_utf8(hex).map_err(|_| BodyError::Bad)?.trim();
                if hex.is_empty() || hex.len() > 16 {
                    return Err(BodyError::Bad);
                }
                let n = u64::from_str_radix(hex, 16).map_err(|_| BodyError::Bad)?;
                if n > (max_body - body.len().min(max_body)) as u64 {
                    return Err(BodyError::TooLarge);
                }
                *state = if n == 0 {
                    Chunked::Trailer
                } else {
                    Chunked::Data(n)
                };
                at += used;
            }
            Chunked::Data(n) => {
                if rest.is_empty() {
                    return Ok(at);
                }
                let take = rest.len().min(n as usize);
                body.extend_from_slice(&rest[..take]);
                at += take;
                *state = if take as u64 == n {
                    Chunked::DataEnd
                } else {
                    Chunked::Data(n - take as u64)
                };
            }
            Chunked::DataEnd => {
                let Some((l, used)) = line(rest) else {
                    return Ok(at);
                };
                if !l.is_empty() {
                    return Err(BodyError::Bad);
                }
                at += used;
                *state = Chunked::Size;
            }
            Chunked::Trailer => {
                let Some((l, used)) = line(rest) else {
                    return Ok(at);
                };
                at += used;
                if l.is_empty() {
                    *state = Chunked::Done;
                }
            }
        }
    }
}

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

/// The reply's head (and, when short, its body) in one buffer, plus a long body on its own.
fn encode_response(
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
fn canonical_name(out: &mut Vec<u8>, name: &str) {
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

#[cfg(test)]
mod tests;
