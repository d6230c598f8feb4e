//! The CPE's HTTP client: one TCP connection kept for a session (unless a quirk says
//! otherwise), the session's cookies, and answers to 401 challenges (PROTOCOL §2).
//!
//! A CWMP message or an Upload's answer is read whole ([`Reply`]); a file GET is streamed:
//! its body is counted frame by frame and dropped ([`Fetched`]), so a fetch holds its
//! connection's read buffer (at most [`FILE_READ_BUFFER`] with [`Client::for_files`]), never
//! the file.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::digest::{self, Challenge, ChallengeRules};

/// Where HTTP requests go: an `http://` URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

impl Target {
    /// Parses `http://host[:port][/path]` (IPv6 literals in brackets). `https` is refused:
    /// the simulator speaks plain HTTP only.
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("unsupported URL {url:?}: only http:// is supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("bad IPv6 host in {url:?}"))?;
            (h.to_owned(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            }
        };
        let port = match port {
            Some(p) => p.parse().map_err(|_| format!("bad port in {url:?}"))?,
            None => 80,
        };
        if host.is_empty() {
            return Err(format!("no host in {url:?}"));
        }
        Ok(Target {
            host,
            port,
            path: path.to_owned(),
        })
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The most a file-fetch connection buffers of what it reads (hyper's default is ~400 kB): a
/// file streams through this buffer, and a response head must fit in it. 1,000 devices
/// downloading at once hold at most ~32 MB of it.
pub const FILE_READ_BUFFER: usize = 32 * 1024;

/// Why an HTTP exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("cannot connect to {0}")]
    Connect(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("http: {0}")]
    Http(String),
    /// A 401 whose challenge this CPE cannot answer (`digest algorithm SHA-256 unsupported`).
    #[error("{0}")]
    Auth(String),
    /// A 401 again after answering the challenge, with a reason the plain status would hide
    /// (the nonce was cut to fit the CPE's buffer).
    #[error("{0}")]
    Unauthorized(String),
}

/// An HTTP response, body read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// The answer to a file GET: its status and how many body bytes came. The bytes themselves
/// are dropped as they arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    pub status: u16,
    /// The body's length in bytes, as received.
    pub length: u64,
}

/// What an exchange keeps of a response body, given frame by frame.
trait Keep: Default {
    fn take(&mut self, data: Bytes);
}

/// The whole body, in the frames it came in.
#[derive(Default)]
struct Whole(Vec<Bytes>);

impl Keep for Whole {
    fn take(&mut self, data: Bytes) {
        if !data.is_empty() {
            self.0.push(data);
        }
    }
}

impl Whole {
    /// One buffer; a body that came in one frame is not copied.
    fn into_bytes(mut self) -> Bytes {
        if self.0.len() <= 1 {
            return self.0.pop().unwrap_or_default();
        }
        let mut all = BytesMut::with_capacity(self.0.iter().map(Bytes::len).sum());
        for frame in &self.0 {
            all.extend_from_slice(frame);
        }
        all.freeze()
    }
}

/// The body's length only.
#[derive(Default)]
struct Length(u64);

impl Keep for Length {
    fn take(&mut self, data: Bytes) {
        self.0 += data.len() as u64;
    }
}

/// A response whose body went through `K`.
struct Response<K> {
    status: u16,
    content_type: Option<String>,
    body: K,
}

impl Response<Whole> {
    fn into_reply(self) -> Reply {
        Reply {
            status: self.status,
            content_type: self.content_type,
            body: self.body.into_bytes(),
        }
    }
}

/// How requests go on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wire {
    /// Send bodies chunked, without Content-Length (Thomson SpeedTouch).
    pub chunked: bool,
    /// A new TCP connection for every request, `Connection: close` (HTTP/1.0 style).
    pub reconnect_per_message: bool,
    /// Never store or send cookies.
    pub no_cookies: bool,
}

/// `exchange` within `timeout`.
async fn within<T>(
    timeout: Duration,
    exchange: impl Future<Output = Result<T, TransportError>>,
) -> Result<T, TransportError> {
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| TransportError::Timeout(timeout))?
}

/// A request body sent in one piece; with `chunked` its size is not announced, so hyper
/// sends it with `Transfer-Encoding: chunked`.
pub struct Outgoing {
    data: Option<Bytes>,
    chunked: bool,
}

impl Body for Outgoing {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.data {
            Some(_) if self.chunked => SizeHint::default(),
            Some(d) => SizeHint::with_exact(d.len() as u64),
            None => SizeHint::with_exact(0),
        }
    }
}

/// One CWMP session's HTTP side (or one file transfer): a connection, cookies and credentials.
pub struct Client {
    target: Target,
    wire: Wire,
    timeout: Duration,
    user: String,
    password: String,
    conn: Option<SendRequest<Outgoing>>,
    /// A cap on the connection's read buffer (hyper's default when `None`).
    read_buffer: Option<usize>,
    cookies: Vec<(String, String)>,
    auth: Option<(Challenge, u32)>,
    /// How this CPE reads challenges.
    rules: ChallengeRules,
    /// The challenge of the last 401, or why this CPE cannot answer it.
    challenge: Option<Result<Challenge, String>>,
}

impl Client {
    pub fn new(
        target: Target,
        wire: Wire,
        timeout: Duration,
        user: &str,
        password: &str,
    ) -> Client {
        Client {
            target,
            wire,
            timeout,
            user: user.to_owned(),
            password: password.to_owned(),
            conn: None,
            read_buffer: None,
            cookies: Vec::new(),
            auth: None,
            rules: ChallengeRules::default(),
            challenge: None,
        }
    }

    /// A client that reads 401 challenges the way `rules` say (a vendor behaviour).
    pub fn with_rules(mut self, rules: ChallengeRules) -> Client {
        self.rules = rules;
        self
    }

    /// A client for file GETs: its connections read through a buffer of at most
    /// [`FILE_READ_BUFFER`].
    pub fn for_files(mut self) -> Client {
        self.read_buffer = Some(FILE_READ_BUFFER);
        self
    }

    /// POSTs a CWMP message (`None`: the empty POST). `content_type` goes with a body.
    pub async fn post(
        &mut self,
        body: Option<Bytes>,
        content_type: &str,
    ) -> Result<Reply, TransportError> {
        self.exchange::<Whole>(hyper::Method::POST, body, content_type)
            .await
            .map(Response::into_reply)
    }

    /// GETs a file (Download, ChangeDUState): the body is read frame by frame within the
    /// timeout and only counted, whatever its size.
    pub async fn get(&mut self) -> Result<Fetched, TransportError> {
        let response = self
            .exchange::<Length>(hyper::Method::GET, None, "")
            .await?;
        Ok(Fetched {
            status: response.status,
            length: response.body.0,
        })
    }

    /// PUTs a file (Upload).
    pub async fn put(&mut self, body: Bytes, content_type: &str) -> Result<Reply, TransportError> {
        self.exchange::<Whole>(hyper::Method::PUT, Some(body), content_type)
            .await
            .map(Response::into_reply)
    }

    /// One request and its whole response (head and body) within the timeout; a 401 is
    /// answered once, within a timeout of its own.
    async fn exchange<K: Keep>(
        &mut self,
        method: hyper::Method,
        body: Option<Bytes>,
        content_type: &str,
    ) -> Result<Response<K>, TransportError> {
        let timeout = self.timeout;
        let reply = within(
            timeout,
            self.send(method.clone(), body.clone(), content_type),
        )
        .await?;
        if reply.status != 401 || self.user.is_empty() && self.password.is_empty() {
            return Ok(reply);
        }
        // 401: answer the challenge once with the device's credentials (PROTOCOL §2).
        let Some(challenge) = self.challenge.take() else {
            return Ok(reply);
        };
        let challenge = challenge.map_err(TransportError::Auth)?;
        let cut = match &challenge {
            Challenge::Digest {
                nonce,
                nonce_cut_from: Some(from),
                ..
            } => Some((nonce.chars().count(), *from)),
            _ => None,
        };
        self.auth = Some((challenge, 0));
        let reply = within(timeout, self.send(method, body, content_type)).await?;
        match cut {
            Some((kept, from)) if reply.status == 401 => {
                Err(TransportError::Unauthorized(format!(
                    "http status 401: the {from}-character nonce was cut to the {kept} this CPE keeps, and the answer refused"
                )))
            }
            _ => Ok(reply),
        }
    }

    async fn send<K: Keep>(
        &mut self,
        method: hyper::Method,
        body: Option<Bytes>,
        content_type: &str,
    ) -> Result<Response<K>, TransportError> {
        let reused = self.conn.as_ref().is_some_and(|c| !c.is_closed());
        match self
            .send_once(method.clone(), body.clone(), content_type)
            .await
        {
            // A kept-alive connection the server closed meanwhile: try once on a new one.
            Err(TransportError::Http(_)) if reused => {
                self.conn = None;
                self.send_once(method, body, content_type).await
            }
            other => other,
        }
    }

    async fn connect(&mut self) -> Result<(), TransportError> {
        if self.conn.as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(());
        }
        let authority = self.target.authority();
        let stream = TcpStream::connect((self.target.host.as_str(), self.target.port))
            .await
            .map_err(|e| TransportError::Connect(format!("{authority}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let mut builder = hyper::client::conn::http1::Builder::new();
        if let Some(max) = self.read_buffer {
            // hyper refuses (panics on) less than its initial 8 kB.
            builder.max_buf_size(max.max(8 * 1024));
        }
        let (sender, connection) = builder
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| TransportError::Connect(format!("{authority}: {e}")))?;
        tokio::spawn(connection);
        self.conn = Some(sender);
        Ok(())
    }

    async fn send_once<K: Keep>(
        &mut self,
        method: hyper::Method,
        body: Option<Bytes>,
        content_type: &str,
    ) -> Result<Response<K>, TransportError> {
        self.connect().await?;
        let mut request = hyper::Request::builder()
            .method(method.clone())
            .uri(self.target.path.as_str())
            .header(hyper::header::HOST, self.target.authority());
        match &body {
            Some(_) => {
                request = request.header(hyper::header::CONTENT_TYPE, content_type);
                if method == hyper::Method::POST {
                    // TR-069 §3.4.1: an empty SOAPAction on every envelope the CPE POSTs.
                    request = request.header("SOAPAction", "");
                }
            }
            None if method == hyper::Method::POST => {
                request = request.header(hyper::header::CONTENT_LENGTH, "0");
            }
            None => {}
        }
        if self.wire.reconnect_per_message {
            request = request.header(hyper::header::CONNECTION, "close");
        }
        if !self.cookies.is_empty() {
            let cookie = self
                .cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request = request.header(hyper::header::COOKIE, cookie);
        }
        if let Some((challenge, nc)) = &mut self.auth {
            *nc += 1;
            let value = digest::authorization(
                challenge,
                &self.user,
                &self.password,
                method.as_str(),
                &self.target.path,
                *nc,
            );
            request = request.header(hyper::header::AUTHORIZATION, value);
        }
        let request = request
            .body(Outgoing {
                data: body.filter(|b| !b.is_empty()),
                chunked: self.wire.chunked,
            })
            .map_err(|e| TransportError::Http(e.to_string()))?;
        let Some(sender) = self.conn.as_mut() else {
            return Err(TransportError::Http("no connection".to_owned()));
        };
        sender
            .ready()
            .await
            .map_err(|e| TransportError::Http(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| TransportError::Http(e.to_string()))?;
        let status = response.status().as_u16();
        let headers = response.headers();
        let content_type = headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let close = headers
            .get(hyper::header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if !self.wire.no_cookies {
            for value in headers.get_all(hyper::header::SET_COOKIE) {
                let Ok(value) = value.to_str() else { continue };
                let pair = value.split(';').next().unwrap_or_default();
                if let Some((name, val)) = pair.split_once('=') {
                    let name = name.trim().to_owned();
                    self.cookies.retain(|(n, _)| *n != name);
                    self.cookies.push((name, val.trim().to_owned()));
                }
            }
        }
        self.challenge = if status == 401 {
            Some(digest::pick_challenge(
                headers
                    .get_all(hyper::header::WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
                self.rules,
            ))
        } else {
            None
        };
        let mut incoming = response.into_body();
        let mut body = K::default();
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|e| TransportError::Http(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                body.take(data);
            }
        }
        if close || self.wire.reconnect_per_message {
            self.conn = None;
        }
        Ok(Response {
            status,
            content_type,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(frames: &[&'static [u8]]) -> Whole {
        let mut w = Whole::default();
        for f in frames {
            w.take(Bytes::from_static(f));
        }
        w
    }

    #[test]
    fn a_whole_body_is_its_frames_in_order() {
        assert_eq!(whole(&[]).into_bytes(), Bytes::new());
        assert_eq!(whole(&[b"", b""]).into_bytes(), Bytes::new());
        assert_eq!(
            whole(&[b"<soap", b"", b":Envelope/>", b"\n"]).into_bytes(),
            Bytes::from_static(b"<soap:Envelope/>\n")
        );
        // One frame is handed on as it is, not copied.
        let frame: &'static [u8] = b"<soap:Envelope/>";
        assert_eq!(whole(&[frame]).into_bytes().as_ptr(), frame.as_ptr());
    }

    #[test]
    fn a_counted_body_keeps_only_its_length() {
        let mut l = Length::default();
        for f in [&b"abc"[..], b"", b"de"] {
            l.take(Bytes::from_static(f));
        }
        assert_eq!(l.0, 5);
    }
}
