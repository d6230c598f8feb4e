//! The connection layer over in-memory pipes, with tokio's clock paused: framing, limits,
//! keep-alive, timeouts, the gate and shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::Notify;

use super::reply::canonical_name;
use super::*;

mod decide;
mod differential;
mod smuggling;

/// Echoes what it got: `<method> <target> <body length>:<body>`, plus header `x-seen` with
/// the number of requests so far; blocks on `hold` when the body is `hold`. Refuses at the
/// head (401) a request with an `x-refuse` header.
#[derive(Default)]
pub(super) struct Echo {
    pub(super) seen: AtomicUsize,
    /// Each request's target and body, in order.
    pub(super) log: std::sync::Mutex<Vec<(String, Vec<u8>)>>,
    refused: std::sync::Mutex<Vec<Refusal>>,
    hold: Notify,
}

impl Handler for Echo {
    type Admitted = ();

    async fn admit(&self, head: &Parts) -> Result<(), Response<Body>> {
        match head.headers.contains_key("x-refuse") {
            true => Err(plain(StatusCode::UNAUTHORIZED, "refused at the head")),
            false => Ok(()),
        }
    }

    async fn call(&self, request: Request<Bytes>, (): ()) -> Response<Body> {
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        self.log
            .lock()
            .unwrap()
            .push((request.uri().to_string(), request.body().to_vec()));
        if request.body().as_ref() == b"hold" {
            self.hold.notified().await;
        }
        // `/file?PATH&START&LEN`: LEN bytes of the file at PATH from START
        if let Some(q) = request
            .uri()
            .query()
            .filter(|_| request.uri().path() == "/file")
        {
            let mut it = q.split('&');
            let (path, start, len) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
            let mut file = tokio::fs::File::open(path).await.unwrap();
            use tokio::io::AsyncSeekExt;
            file.seek(std::io::SeekFrom::Start(start.parse().unwrap()))
                .await
                .unwrap();
            let body = Body::File {
                file,
                len: len.parse().unwrap(),
            };
            return Response::new(body);
        }
        let text = format!(
            "{} {} {}:{}",
            request.method(),
            request.uri(),
            request.body().len(),
            String::from_utf8_lossy(request.body())
        );
        let mut r = plain(StatusCode::OK, &text);
        r.headers_mut().insert("x-seen", HeaderValue::from(n));
        r
    }

    fn refused(&self, why: Refusal) {
        self.refused.lock().unwrap().push(why);
    }
}

pub(super) fn limits() -> Limits {
    Limits {
        max_head: 1024,
        max_body: 100,
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(60),
        gate_timeout: Duration::from_secs(10),
    }
}

pub(super) struct Server {
    pub(super) handler: Arc<Echo>,
    stop: watch::Sender<bool>,
    gate: Arc<Semaphore>,
}

impl Server {
    pub(super) fn new(permits: usize) -> Self {
        Server {
            handler: Arc::new(Echo::default()),
            stop: watch::channel(false).0,
            gate: Arc::new(Semaphore::new(permits)),
        }
    }

    /// A client end; the server end is served in a task until it closes.
    pub(super) fn connect(&self, limits: Limits) -> (DuplexStream, tokio::task::JoinHandle<()>) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (handler, gate, stop) = (
            self.handler.clone(),
            self.gate.clone(),
            self.stop.subscribe(),
        );
        let task = tokio::spawn(async move {
            serve_connection(server, &limits, Some(&gate), &*handler, stop).await;
        });
        (client, task)
    }

    pub(super) fn refusals(&self) -> Vec<Refusal> {
        self.handler.refused.lock().unwrap().clone()
    }
}

/// One response: status line, lower-cased headers, body (by Content-Length).
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) status_line: String,
    headers: Vec<(String, String)>,
    pub(super) body: String,
}

impl Reply {
    pub(super) fn status(&self) -> u16 {
        self.status_line.split(' ').nth(1).unwrap().parse().unwrap()
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(super) async fn read_reply(c: &mut DuplexStream, head_only: bool) -> Reply {
    let mut raw = Vec::new();
    while !raw.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        assert_eq!(c.read(&mut b).await.unwrap(), 1, "reply cut short: {raw:?}");
        raw.push(b[0]);
    }
    let head = String::from_utf8(raw).unwrap();
    let mut lines = head.trim_end().split("\r\n");
    let status_line = lines.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let len = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0u8; if head_only { 0 } else { len }];
    c.read_exact(&mut body).await.unwrap();
    Reply {
        status_line,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

/// True when the server closed its end (EOF with nothing more sent).
pub(super) async fn closed(c: &mut DuplexStream) -> bool {
    let mut rest = Vec::new();
    matches!(c.read_to_end(&mut rest).await, Ok(0))
}

#[tokio::test(start_paused = true)]
async fn keep_alive_and_pipelined_requests_are_answered_in_order() {
    let s = Server::new(4);
    let (mut c, _t) = s.connect(limits());
    c.write_all(
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\
          POST /b HTTP/1.1\r\nContent-Length: 0\r\n\r\n\
          GET /c?q=1 HTTP/1.1\r\n\r\n",
    )
    .await
    .unwrap();
    let a = read_reply(&mut c, false).await;
    assert_eq!(a.status_line, "HTTP/1.1 200 OK");
    assert_eq!(a.body, "POST /a 3:abc");
    assert_eq!(a.header("content-length"), Some("13"));
    assert!(a.header("date").is_some_and(|d| d.ends_with(" GMT")));
    assert_eq!(a.header("connection"), None);
    assert_eq!(read_reply(&mut c, false).await.body, "POST /b 0:");
    let third = read_reply(&mut c, false).await;
    assert_eq!(third.body, "GET /c?q=1 0:");
    assert_eq!(third.header("x-seen"), Some("3"));
    // still open for a fourth
    c.write_all(b"POST /d HTTP/1.1\r\nContent-Length: 1\r\n\r\nz")
        .await
        .unwrap();
    assert_eq!(read_reply(&mut c, false).await.body, "POST /d 1:z");
    // old stacks send a CRLF after a body: ignored before the next request line
    c.write_all(b"POST /e HTTP/1.1\r\nContent-Length: 1\r\n\r\ny\r\n")
        .await
        .unwrap();
    assert_eq!(read_reply(&mut c, false).await.body, "POST /e 1:y");
    c.write_all(b"POST /f HTTP/1.1\r\n\r\n").await.unwrap();
    assert_eq!(read_reply(&mut c, false).await.body, "POST /f 0:");
}

#[tokio::test(start_paused = true)]
async fn chunked_bodies_with_extensions_trailers_and_bare_lf() {
    let s = Server::new(4);
    let (mut c, _t) = s.connect(limits());
    c.write_all(
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
          4;name=value\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(
        read_reply(&mut c, false).await.body,
        "POST / 23:Wikipedia in\r\n\r\nchunks."
    );
    // split across writes (every byte of the framing on its own), a head with LF-only
    // lines, upper-case hex, leading zeros, BWS and a quoted extension
    let body = b"0A ; a=\"b;\\\"c\"\r\n0123456789\r\n000\r\n\r\n";
    c.write_all(b"POST / HTTP/1.1\ntransfer-encoding: gzip, Chunked\n\n")
        .await
        .unwrap();
    for b in body {
        c.write_all(&[*b]).await.unwrap();
        tokio::task::yield_now().await;
    }
    assert_eq!(read_reply(&mut c, false).await.body, "POST / 10:0123456789");
}

#[tokio::test(start_paused = true)]
async fn bodies_over_the_limit_get_413_and_the_connection_closes() {
    let s = Server::new(4);
    // announced: refused before the body is read, and no 100 Continue is sent
    let (mut c, _t) = s.connect(limits());
    c.write_all(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 101\r\n\r\n")
        .await
        .unwrap();
    let r = read_reply(&mut c, false).await;
    assert_eq!(r.status(), 413);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(r.body.contains("configured limit"));
    assert!(closed(&mut c).await);
    // chunked: found out while reading
    let (mut c, _t) = s.connect(limits());
    c.write_all(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n50\r\n")
        .await
        .unwrap();
    c.write_all(&[b'x'; 80]).await.unwrap();
    c.write_all(b"\r\n20\r\n").await.unwrap();
    assert_eq!(read_reply(&mut c, false).await.status(), 413);
    assert!(closed(&mut c).await);
    assert_eq!(s.refusals(), [Refusal::BodyTooLarge, Refusal::BodyTooLarge]);
    assert_eq!(s.handler.seen.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn expect_continue_is_answered_before_the_body_is_sent() {
    let s = Server::new(4);
    let (mut c, _t) = s.connect(limits());
    c.write_all(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        .await
        .unwrap();
    let cont = read_reply(&mut c, true).await;
    assert_eq!(cont.status_line, "HTTP/1.1 100 Continue");
    c.write_all(b"ok").await.unwrap();
    assert_eq!(read_reply(&mut c, false).await.body, "POST / 2:ok");
}

#[tokio::test(start_paused = true)]
async fn malformed_framing_is_a_400_that_names_the_problem() {
    let s = Server::new(4);
    for (raw, says) in [
        (
            &b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"[..],
            "conflicting Content-Length",
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "invalid Content-Length",
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n",
            "invalid Content-Length",
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            "does not end in chunked",
        ),
        (
            b"POST / HTTP/1.1\r\nBad Header: x\r\n\r\n",
            "bad request head",
        ),
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            "bad request head",
        ),
    ] {
        let (mut c, _t) = s.connect(limits());
        c.write_all(raw).await.unwrap();
        let r = read_reply(&mut c, false).await;
        assert_eq!(r.status(), 400, "{raw:?}");
        assert!(r.body.contains(says), "{raw:?}: {}", r.body);
        assert!(closed(&mut c).await);
    }
    let (mut c, _t) = s.connect(limits());
    c.write_all(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        .await
        .unwrap();
    let r = read_reply(&mut c, false).await;
    assert_eq!(
        (r.status(), r.body.as_str()),
        (
            400,
            "bad chunked body: chunk size does not start with a hex digit"
        )
    );
    assert!(closed(&mut c).await);
    assert_eq!(s.handler.seen.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_head_over_the_limit_gets_431() {
    let s = Server::new(4);
    let (mut c, _t) = s.connect(limits());
    c.write_all(b"POST / HTTP/1.1\r\nCookie: ").await.unwrap();
    c.write_all(&[b'a'; 1100]).await.unwrap();
    let r = read_reply(&mut c, false).await;
    assert_eq!(r.status(), 431);
    assert!(closed(&mut c).await);
    assert_eq!(s.refusals(), [Refusal::HeadTooLarge]);
}

#[tokio::test(start_paused = true)]
async fn http10_closes_unless_asked_to_keep_alive_and_11_honours_close() {
    let s = Server::new(4);
    let (mut c, _t) = s.connect(limits());
    c.write_all(b"POST / HTTP/1.0\r\nContent-Length: 1\r\n\r\nx")
        .await
        .unwrap();
    let r = read_reply(&mut c, false).await;
    assert_eq!(r.status_line, "HTTP/1.0 200 OK");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed(&mut c).await);

    let (mut c, _t) = s.connect(limits());
    c.write_all(b"POST / HTTP/1.0\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx")
        .await
        .unwrap();
    assert_eq!(
        read_reply(&mut c, false).await.header("connection"),
        Some("keep-alive")
    );
    c.write_all(b"POST /again HTTP/1.0\r\n\r\n").await.unwrap();
    assert_eq!(read_reply(&mut c, false).await.body, "POST /again 0:");
    assert!(closed(&mut c).await);

    let (mut c, _t) = s.connect(limits());
    c.write_all(b"POST / HTTP/1.1\r\nConnection: TE, close\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_reply(&mut c, false).await.header("connection"),
        Some("close")
    );
    assert!(closed(&mut c).await);
}

#[tokio::test(start_paused = true)]
async fn head_replies_carry_the_length_but_no_body() {
    let s = Server::new(4);
    let (mut c, _t) = s.connect(limits());
    c.write_all(b"HEAD /f HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let r = read_reply(&mut c, true).await;
    assert_eq!(r.header("content-length"), Some("10"));
    // the next reply follows the head directly: nothing of the HEAD body was sent
    assert_eq!(read_reply(&mut c, false).await.body, "POST / 0:");
}

#[tokio::test(start_paused = true)]
async fn slow_heads_and_bodies_and_idle_connections_time_out() {
    let s = Server::new(4);
    // a head that stalls: closed without a reply once the header timeout passes
    let (mut c, t) = s.connect(limits());
    c.write_all(b"POST / HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert!(t.is_finished());
    assert!(closed(&mut c).await);
    // a body that stalls: 408
    let (mut c, _t) = s.connect(limits());
    c.write_all(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        .await
        .unwrap();
    let r = read_reply(&mut c, false).await;
    assert_eq!(r.status(), 408);
    assert_eq!(s.refusals(), [Refusal::BodyTimeout]);
    // idle keep-alive: open before the idle timeout, closed after it
    let (mut c, t) = s.connect(limits());
    c.write_all(b"POST / HTTP/1.1\r\n\r\n").await.unwrap();
    read_reply(&mut c, false).await;
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert!(!t.is_finished());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(t.is_finished());
    assert!(closed(&mut c).await);
    // a CRLF after the body does not start a head: idle, not cut at the header timeout
    let (mut c, t) = s.connect(limits());
    c.write_all(b"POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\n")
        .await
        .unwrap();
    read_reply(&mut c, false).await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(!t.is_finished());
}

#[tokio::test(start_paused = true)]
async fn the_gate_holds_requests_with_their_bodies_unread() {
    let s = Server::new(1);
    let (mut a, _ta) = s.connect(limits());
    a.write_all(b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nhold")
        .await
        .unwrap();
    let (mut b, _tb) = s.connect(limits());
    b.write_all(b"POST /b HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    // b waits at the gate: no 100 Continue yet, its handler not called
    assert_eq!(s.handler.seen.load(Ordering::SeqCst), 1);
    let mut probe = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_secs(1), b.read(&mut probe))
            .await
            .is_err()
    );
    s.handler.hold.notify_one();
    assert_eq!(read_reply(&mut a, false).await.body, "POST / 4:hold");
    assert_eq!(read_reply(&mut b, true).await.status(), 100);
    b.write_all(b"!").await.unwrap();
    assert_eq!(read_reply(&mut b, false).await.body, "POST /b 1:!");
    assert_eq!(s.gate.available_permits(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_refused_at_its_head_takes_no_permit_and_its_body_is_dropped() {
    let s = Server::new(1);
    // the only permit is held
    let (mut a, _ta) = s.connect(limits());
    a.write_all(b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nhold")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // refused heads are answered all the same, their bodies (either framing, sent slowly)
    // read and dropped, and the connection goes on
    let (mut b, _tb) = s.connect(limits());
    b.write_all(b"POST /r HTTP/1.1\r\nX-Refuse: 1\r\nContent-Length: 10\r\n\r\n01234")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    b.write_all(b"56789").await.unwrap();
    let r = read_reply(&mut b, false).await;
    assert_eq!((r.status(), r.header("connection")), (401, None));
    b.write_all(
        b"POST /r HTTP/1.1\r\nX-Refuse: 1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(read_reply(&mut b, false).await.status(), 401);
    // a refused body must still be well framed
    b.write_all(b"POST /r HTTP/1.1\r\nX-Refuse: 1\r\nTransfer-Encoding: chunked\r\n\r\n+3\r\n")
        .await
        .unwrap();
    let r = read_reply(&mut b, false).await;
    assert_eq!((r.status(), r.header("connection")), (400, Some("close")));
    assert!(closed(&mut b).await);
    // a client waiting for 100 Continue is not asked for its body: answered and closed
    let (mut c, _tc) = s.connect(limits());
    c.write_all(
        b"POST /r HTTP/1.1\r\nX-Refuse: 1\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n",
    )
    .await
    .unwrap();
    let r = read_reply(&mut c, false).await;
    assert_eq!((r.status(), r.header("connection")), (401, Some("close")));
    assert!(closed(&mut c).await);
    assert_eq!(s.handler.seen.load(Ordering::SeqCst), 1);
    assert_eq!(s.gate.available_permits(), 0);
    s.handler.hold.notify_one();
    assert_eq!(read_reply(&mut a, false).await.body, "POST / 4:hold");
}

#[tokio::test(start_paused = true)]
async fn a_request_that_waits_too_long_at_the_gate_gets_503_and_the_connection_closes() {
    let s = Server::new(1);
    let (mut a, _ta) = s.connect(limits());
    a.write_all(b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nhold")
        .await
        .unwrap();
    let (mut b, tb) = s.connect(limits());
    b.write_all(b"POST /b HTTP/1.1\r\nContent-Length: 1\r\n\r\nb")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert!(!tb.is_finished());
    let r = read_reply(&mut b, false).await;
    assert_eq!(
        (r.status(), r.header("retry-after"), r.header("connection")),
        (503, Some("5"), Some("close"))
    );
    assert!(closed(&mut b).await);
    assert_eq!(s.refusals(), [Refusal::Busy]);
    s.handler.hold.notify_one();
    assert_eq!(read_reply(&mut a, false).await.body, "POST / 4:hold");
    assert_eq!(s.handler.seen.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_closes_idle_connections_and_finishes_the_request_in_hand() {
    let s = Server::new(4);
    let (mut idle, t_idle) = s.connect(limits());
    let (mut busy, _t) = s.connect(limits());
    busy.write_all(b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nhold")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    s.stop.send_replace(true);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(t_idle.is_finished());
    assert!(closed(&mut idle).await);
    s.handler.hold.notify_one();
    let r = read_reply(&mut busy, false).await;
    assert_eq!((r.status(), r.header("connection")), (200, Some("close")));
    assert!(closed(&mut busy).await);
}

/// A scratch file of `len` bytes, byte i = i mod 251.
fn scratch_file(len: usize) -> (std::path::PathBuf, Vec<u8>) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "acs-http1-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

async fn read_exactly(c: &mut DuplexStream, n: usize) -> Vec<u8> {
    let mut body = vec![0u8; n];
    c.read_exact(&mut body).await.unwrap();
    body
}

#[tokio::test]
async fn file_bodies_are_streamed_in_pieces_and_a_short_file_closes_the_connection() {
    let s = Server::new(4);
    let (path, data) = scratch_file(300_000);
    let (mut c, _t) = s.connect(limits());
    // larger than a piece, from an offset; the connection stays usable afterwards
    let ask = format!("GET /file?{}&1000&250000 HTTP/1.1\r\n\r\n", path.display());
    c.write_all(ask.as_bytes()).await.unwrap();
    let r = read_reply(&mut c, true).await;
    assert_eq!(r.header("content-length"), Some("250000"));
    assert_eq!(read_exactly(&mut c, 250_000).await, data[1000..251_000]);
    c.write_all(b"POST /next HTTP/1.1\r\n\r\n").await.unwrap();
    assert_eq!(read_reply(&mut c, false).await.body, "POST /next 0:");
    // HEAD: the length alone
    let ask = format!("HEAD /file?{}&0&300000 HTTP/1.1\r\n\r\n", path.display());
    c.write_all(ask.as_bytes()).await.unwrap();
    assert_eq!(
        read_reply(&mut c, true).await.header("content-length"),
        Some("300000")
    );
    // the file holds less than announced: what there is, then the connection closes
    let ask = format!("GET /file?{}&299000&5000 HTTP/1.1\r\n\r\n", path.display());
    c.write_all(ask.as_bytes()).await.unwrap();
    let r = read_reply(&mut c, true).await;
    assert_eq!(r.header("content-length"), Some("5000"));
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).await.unwrap();
    assert_eq!(rest, data[299_000..]);
    let _ = std::fs::remove_file(path);
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_is_dropped() {
    let s = Server::new(4);
    let (path, _) = scratch_file(1_000_000);
    let (mut c, t) = s.connect(limits());
    let ask = format!("GET /file?{}&0&1000000 HTTP/1.1\r\n\r\n", path.display());
    c.write_all(ask.as_bytes()).await.unwrap();
    // the pipe holds 64 kB: the server blocks on a full pipe, then gives up
    for _ in 0..100 {
        if t.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(t.is_finished());
    let _ = std::fs::remove_file(path);
}

#[tokio::test(start_paused = true)]
async fn chunked_beside_content_length_is_read_as_chunked_then_the_connection_closes() {
    let s = Server::new(4);
    let (mut c, _t) = s.connect(limits());
    // a smuggling attempt: by Content-Length the body would be "0\r\n\r\nGET /x ..."
    c.write_all(
        b"POST / HTTP/1.1\r\nContent-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n\
          0\r\n\r\nPOST /smuggled HTTP/1.1\r\n\r\n",
    )
    .await
    .unwrap();
    let r = read_reply(&mut c, false).await;
    assert_eq!(
        (r.body.as_str(), r.header("connection")),
        ("POST / 0:", Some("close"))
    );
    assert!(closed(&mut c).await);
    assert_eq!(
        s.handler.seen.load(Ordering::SeqCst),
        1,
        "the rest was never served"
    );
}

#[tokio::test(start_paused = true)]
async fn header_names_are_written_in_their_usual_case() {
    let s = Server::new(4);
    let (mut c, _t) = s.connect(limits());
    c.write_all(b"POST / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).await.unwrap();
    let head = String::from_utf8(raw).unwrap();
    for name in [
        "\r\nContent-Type: ",
        "\r\nX-Seen: ",
        "\r\nContent-Length: ",
        "\r\nConnection: close",
        "\r\nDate: ",
    ] {
        assert!(head.contains(name), "{name:?} in {head}");
    }
    let mut out = Vec::new();
    for (name, want) in [
        ("soapaction", "SOAPAction"),
        ("www-authenticate", "WWW-Authenticate"),
        ("set-cookie", "Set-Cookie"),
        ("retry-after", "Retry-After"),
        ("etag", "ETag"),
    ] {
        out.clear();
        canonical_name(&mut out, name);
        assert_eq!(out, want.as_bytes());
    }
}

/// Whatever a client sends, in whatever pieces, the layer neither panics nor hangs: once the
/// client has sent everything and closed its side, the connection ends.
#[test]
fn arbitrary_bytes_never_panic_or_wedge_the_connection() {
    use proptest::prelude::*;
    let pieces = prop::collection::vec(
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            // fragments of real requests, so that parsing gets past the request line
            Just(b"POST / HTTP/1.1\r\n".to_vec()),
            Just(b"Transfer-Encoding: chunked\r\n\r\n".to_vec()),
            Just(b"Content-Length: 5\r\n\r\n".to_vec()),
            Just(b"Expect: 100-continue\r\n".to_vec()),
            Just(b"5\r\nhello\r\n0\r\n\r\n".to_vec()),
            Just(b"\r\n".to_vec()),
        ],
        0..12,
    );
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 256,
        ..Default::default()
    });
    runner
        .run(&pieces, |pieces| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap();
            rt.block_on(async {
                let s = Server::new(2);
                let (mut c, t) = s.connect(limits());
                for p in &pieces {
                    if c.write_all(p).await.is_err() {
                        break;
                    }
                }
                let _ = c.shutdown().await;
                let mut sink = Vec::new();
                let _ =
                    tokio::time::timeout(Duration::from_secs(600), c.read_to_end(&mut sink)).await;
                let ended = tokio::time::timeout(Duration::from_secs(600), t).await;
                prop_assert!(matches!(ended, Ok(Ok(()))), "{ended:?}");
                Ok(())
            })
        })
        .unwrap();
}
