//! The API listener's connections, plain and TLS: hyper's HTTP/1 server around the axum
//! router, with the CPE listener's timeouts, so that a client cannot hold a connection open
//! by sending slowly:
//!
//! - a request head must arrive within `--header-timeout` (hyper's `header_read_timeout`);
//!   hyper starts that clock as soon as it waits for a head, so the wait for the next request
//!   on a keep-alive connection counts too: an idle connection closes after the same time;
//! - a body must arrive within `--read-timeout`, plus `--read-timeout` more for each full MiB
//!   received (large firmware uploads need only keep up about 1 MiB per timeout, 34 kB/s at
//!   the default 30 s); a body that falls behind ends the request with 408 and the
//!   connection closes;
//! - a TLS handshake must end within `--header-timeout`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;

/// The API listener's timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// A request head (and the wait for it on a keep-alive connection), a TLS handshake.
    pub header: Duration,
    /// A body, per MiB begun.
    pub body: Duration,
}

/// Serves `app` until `shutdown`, each connection in its own task (its TLS handshake too).
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    timeouts: Timeouts,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    while let Some((stream, peer)) = crate::listen::next_connection(&listener, &mut shutdown).await
    {
        let service = BodyDeadline {
            app: TowerToHyperService::new(app.clone()),
            timeout: timeouts.body,
        };
        let shutdown = shutdown.clone();
        match &tls {
            None => {
                conns.spawn(serve_connection(stream, service, timeouts, shutdown));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                conns.spawn(async move {
                    if let Some(s) =
                        crate::tls::handshake(&acceptor, stream, peer, timeouts.header).await
                    {
                        serve_connection(s, service, timeouts, shutdown).await;
                    }
                });
            }
        }
        while conns.try_join_next().is_some() {}
    }
    let _ = tokio::time::timeout(Duration::from_secs(15), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
}

async fn serve_connection<IO>(
    io: IO,
    service: BodyDeadline,
    timeouts: Timeouts,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(10), conn).await;
        }
    }
}

/// The router, with each request's body under [`TimedBody`]'s deadline; a request whose body
/// fell behind is answered 408 with `Connection: close`, whatever the route made of the error.
#[derive(Clone)]
struct BodyDeadline {
    app: TowerToHyperService<Router>,
    timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for BodyDeadline {
    type Response = Response<axum::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let too_slow = Arc::new(AtomicBool::new(false));
        let request = request.map(|b| TimedBody::new(b, self.timeout, too_slow.clone()));
        let reply = self.app.call(request);
        Box::pin(async move {
            let response = reply.await?;
            if too_slow.load(Ordering::Relaxed) {
                let r = (
                    StatusCode::REQUEST_TIMEOUT,
                    [(header::CONNECTION, "close")],
                    "request body too slow\n",
                );
                return Ok(r.into_response());
            }
            Ok(response)
        })
    }
}

const MIB: u64 = 1 << 20;

/// A request body that fails once it falls behind: the whole of it within `timeout` from the
/// request's head, `timeout` more for each full MiB received.
struct TimedBody {
    inner: Incoming,
    start: Instant,
    timeout: Duration,
    received: u64,
    deadline: Pin<Box<Sleep>>,
    too_slow: Arc<AtomicBool>,
}

impl TimedBody {
    fn new(inner: Incoming, timeout: Duration, too_slow: Arc<AtomicBool>) -> TimedBody {
        let start = Instant::now();
        TimedBody {
            inner,
            start,
            timeout,
            received: 0,
            deadline: Box::pin(tokio::time::sleep_until(start + timeout)),
            too_slow,
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let before = this.received / MIB;
                    this.received += data.len() as u64;
                    let mibs = this.received / MIB;
                    if mibs > before {
                        let begun = u32::try_from(mibs + 1).unwrap_or(u32::MAX);
                        if let Some(at) = this.start.checked_add(this.timeout.saturating_mul(begun))
                        {
                            this.deadline.as_mut().reset(at);
                        }
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other.map(|r| r.map_err(Into::into))),
            Poll::Pending => {
                if this.deadline.as_mut().poll(cx).is_ready() {
                    this.too_slow.store(true, Ordering::Relaxed);
                    return Poll::Ready(Some(Err("request body too slow".into())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
