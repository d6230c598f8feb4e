//! The framing decision of a server on a byte stream, for this layer and for hyper 1's
//! HTTP/1 server alike: a client sends the bytes in one piece and closes its sending side;
//! what counts is which requests the application saw complete (target and body) and whether
//! the server refused something (a malformed head or body), as opposed to the client simply
//! stopping (end of stream between or inside requests).

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Server;
use crate::http1::Limits;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::http1) struct Decision {
    /// Each request the application saw, with its whole body: target, body.
    pub served: Vec<(String, Vec<u8>)>,
    /// The server refused a request (malformed framing, or a limit).
    pub refused: bool,
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let served: Vec<String> = self
            .served
            .iter()
            .map(|(t, b)| format!("{t} {:?}", String::from_utf8_lossy(b)))
            .collect();
        write!(f, "served [{}]", served.join(", "))?;
        if self.refused {
            write!(f, ", then refused")?;
        }
        Ok(())
    }
}

/// Limits that leave framing alone: heads and bodies far larger than any test input.
pub(in crate::http1) fn roomy() -> Limits {
    Limits {
        max_head: 64 * 1024,
        max_body: 1 << 20,
        ..super::limits()
    }
}

/// A runtime of its own with a paused clock: timeouts pass at once instead of stalling a
/// property test, and nothing here depends on real time.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

/// This layer's decision on `bytes`, and everything it wrote back.
pub(in crate::http1) fn ours(bytes: &[u8]) -> (Decision, Vec<u8>) {
    runtime().block_on(async {
        let s = Server::new(4);
        let (mut c, task) = s.connect(roomy());
        c.write_all(bytes).await.unwrap();
        c.shutdown().await.unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).await.unwrap();
        task.await.unwrap();
        let decision = Decision {
            served: s.handler.log.lock().unwrap().clone(),
            refused: !s.refusals().is_empty(),
        };
        (decision, out)
    })
}

/// hyper's decision on `bytes`: its HTTP/1 server with default settings, serving an
/// application that reads every body whole (`half_close`, so that the client closing its
/// sending side does not end the connection before the requests already sent are served).
pub(in crate::http1) fn hyper(bytes: &[u8]) -> Decision {
    runtime().block_on(async {
        let (mut c, server) = tokio::io::duplex(1 << 20);
        let served = Arc::new(Mutex::new(Vec::new()));
        let body_refused = Arc::new(Mutex::new(false));
        let (log, bad) = (served.clone(), body_refused.clone());
        let app = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let (log, bad) = (log.clone(), bad.clone());
            async move {
                let target = req.uri().to_string();
                let mut body = req.into_body();
                let mut data = Vec::new();
                loop {
                    let frame = std::future::poll_fn(|cx| {
                        hyper::body::Body::poll_frame(Pin::new(&mut body), cx)
                    })
                    .await;
                    match frame {
                        None => {
                            log.lock().unwrap().push((target, data));
                            break;
                        }
                        Some(Ok(f)) => {
                            if let Some(d) = f.data_ref() {
                                data.extend_from_slice(d);
                            }
                        }
                        Some(Err(e)) => {
                            // a body cut short by the end of the stream is not a refusal
                            if io_kind(&e) != Some(std::io::ErrorKind::UnexpectedEof) {
                                *bad.lock().unwrap() = true;
                            }
                            break;
                        }
                    }
                }
                Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .half_close(true)
            .serve_connection(hyper_util::rt::TokioIo::new(server), app);
        let task = tokio::spawn(conn);
        c.write_all(bytes).await.unwrap();
        c.shutdown().await.unwrap();
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out).await;
        let head_refused = match task.await.unwrap() {
            Ok(()) => false,
            Err(e) => e.is_parse() || e.is_parse_too_large() || e.is_parse_status(),
        };
        let refused = head_refused || *body_refused.lock().unwrap();
        let served = served.lock().unwrap().clone();
        Decision { served, refused }
    })
}

/// The kind of the I/O error under a hyper body error, if there is one.
fn io_kind(e: &hyper::Error) -> Option<std::io::ErrorKind> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = s.source();
    }
    None
}
