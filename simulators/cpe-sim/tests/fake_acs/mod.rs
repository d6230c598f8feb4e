//! A scripted ACS for the session tests: a hyper server on 127.0.0.1:0 that answers an Inform
//! with InformResponse and a TransferComplete with its response by itself, answers every other
//! POST with the next scripted answer (204 once the script is empty), serves files for
//! Downloads, and records every request as it came over the wire.
#![allow(dead_code)] // each test file uses its own share

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use cwmp::{Body, Decoded, EncodeOptions, Envelope, Header, Namespace};
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
    /// Which TCP connection it came on (0, 1, …).
    pub connection: usize,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The envelope the CPE sent (`None` for the empty POST).
    pub fn envelope(&self) -> Option<Envelope> {
        match cwmp::decode(&self.body, self.header("content-type"))
            .expect("the CPE sends valid CWMP")
        {
            Decoded::Envelope(e) => Some(e),
            Decoded::EmptyBody => None,
        }
    }
}

/// What the fake answers to a POST that is not an Inform or TransferComplete.
#[derive(Debug, Clone)]
pub enum Answer {
    /// 200 with this request, `cwmp:ID` set to `id`.
    Request { id: String, body: Body },
    /// 204 No Content.
    NoContent,
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    script: VecDeque<Answer>,
    files: HashMap<String, Bytes>,
    /// Set-Cookie sent with the InformResponse.
    cookie: Option<String>,
    /// Digest challenge required on the Inform (user, password).
    auth: Option<(String, String)>,
    /// HoldRequests true in the InformResponse.
    hold: bool,
    /// While set, an Inform is answered only once the test gave it a permit here.
    inform_hold: Option<Arc<Semaphore>>,
    /// Informs received so far (whether answered or not), for the test to wait on.
    informs_arrived: watch::Sender<usize>,
    /// Informs waiting for their answer now, and the most there ever were at once.
    informs_open: usize,
    informs_open_max: usize,
    /// Challenges in the order SHA-256, MD5 (what acs sent before issue 14).
    sha256_first: bool,
    /// Envelopes without `<?xml …?>`.
    no_xml_declaration: bool,
    /// Statuses the next Informs get instead of an answer, in order.
    inform_statuses: VecDeque<u16>,
}

pub struct FakeAcs {
    pub url: String,
    pub base: String,
    state: Arc<Mutex<State>>,
    verifier: Arc<cpe_sim::digest::Verifier>,
}

impl FakeAcs {
    pub async fn start() -> FakeAcs {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let verifier = Arc::new(cpe_sim::digest::Verifier::new("fake-acs"));
        let connections = Arc::new(AtomicUsize::new(0));
        {
            let state = state.clone();
            let verifier = verifier.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let connection = connections.fetch_add(1, Ordering::SeqCst);
                    let state = state.clone();
                    let verifier = verifier.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(
                            move |req: Request<hyper::body::Incoming>| {
                                let state = state.clone();
                                let verifier = verifier.clone();
                                async move {
                                    Ok::<_, Infallible>(
                                        handle(req, connection, &state, &verifier).await,
                                    )
                                }
                            },
                        );
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        }
        FakeAcs {
            url: format!("http://{addr}/acs"),
            base: format!("http://{addr}"),
            state,
            verifier,
        }
    }

    /// Queues ACS requests (ids `acs-1`, `acs-2`, …) for the session.
    pub fn script(&self, requests: impl IntoIterator<Item = Body>) {
        let mut st = self.state.lock().unwrap();
        let n = st.script.len();
        for (i, body) in requests.into_iter().enumerate() {
            st.script.push_back(Answer::Request {
                id: format!("acs-{}", n + i + 1),
                body,
            });
        }
    }

    pub fn serve_file(&self, path: &str, content: Bytes) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(path.to_owned(), content);
    }

    pub fn set_cookie(&self, cookie: &str) {
        self.state.lock().unwrap().cookie = Some(cookie.to_owned());
    }

    /// Whether InformResponses carry HoldRequests true.
    pub fn hold_requests(&self, hold: bool) {
        self.state.lock().unwrap().hold = hold;
    }

    pub fn require_digest(&self, user: &str, password: &str) {
        self.state.lock().unwrap().auth = Some((user.to_owned(), password.to_owned()));
    }

    /// Offers SHA-256 before MD5 in its challenges.
    pub fn sha256_first(&self) {
        self.state.lock().unwrap().sha256_first = true;
    }

    /// Sends its envelopes without an XML declaration.
    pub fn no_xml_declaration(&self) {
        self.state.lock().unwrap().no_xml_declaration = true;
    }

    /// Answers the next Informs with these statuses (e.g. 503 while a lease is held).
    pub fn refuse_informs(&self, statuses: &[u16]) {
        self.state
            .lock()
            .unwrap()
            .inform_statuses
            .extend(statuses.iter().copied());
    }

    /// Holds every Inform from now on until the test answers it ([`FakeAcs::answer_informs`]),
    /// so that sessions overlap for as long as the test wants, whatever the machine's speed.
    pub fn hold_informs(&self) {
        self.state.lock().unwrap().inform_hold = Some(Arc::new(Semaphore::new(0)));
    }

    /// Lets `n` more held Informs have their answer.
    pub fn answer_informs(&self, n: usize) {
        let hold = self.state.lock().unwrap().inform_hold.clone();
        hold.expect("hold_informs first").add_permits(n);
    }

    /// Waits until `n` Informs have arrived since the start (answered or not); panics after
    /// 10 s, which only a broken simulator takes.
    pub async fn informs_arrived(&self, n: usize) {
        let mut arrived = self.state.lock().unwrap().informs_arrived.subscribe();
        let wait = arrived.wait_for(|&a| a >= n);
        let done = tokio::time::timeout(std::time::Duration::from_secs(10), wait)
            .await
            .is_ok();
        assert!(done, "only {} of {n} Informs arrived", *arrived.borrow());
    }

    /// The most Informs (so sessions) that were waiting for their answer at once.
    pub fn max_informs_at_once(&self) -> usize {
        self.state.lock().unwrap().informs_open_max
    }

    /// Every request so far, and forget them.
    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut self.state.lock().unwrap().seen)
    }
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    connection: usize,
    state: &Mutex<State>,
    verifier: &cpe_sim::digest::Verifier,
) -> Response<Full<Bytes>> {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let headers = req.headers().clone();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let seen = Seen {
        method: method.clone(),
        path: path.clone(),
        headers,
        body,
        connection,
    };
    let is_inform =
        method == "POST" && matches!(seen.envelope().map(|e| e.body), Some(Body::Inform(_)));
    if is_inform {
        let hold = {
            let mut st = state.lock().unwrap();
            st.informs_open += 1;
            st.informs_open_max = st.informs_open_max.max(st.informs_open);
            st.informs_arrived.send_modify(|a| *a += 1);
            st.inform_hold.clone()
        };
        if let Some(hold) = hold {
            hold.acquire().await.unwrap().forget();
        }
        state.lock().unwrap().informs_open -= 1;
    }
    let mut st = state.lock().unwrap();
    st.seen.push(seen.clone());
    if method == "GET" {
        return match st.files.get(&path) {
            Some(f) => Response::new(Full::new(f.clone())),
            None => status(404),
        };
    }
    if method == "PUT" {
        return status(200);
    }
    let envelope = seen.envelope();
    match envelope.as_ref().map(|e| &e.body) {
        Some(Body::Inform(_)) => {
            let e = envelope.as_ref().unwrap();
            if let Some((user, password)) = &st.auth {
                let ok = seen
                    .header("authorization")
                    .is_some_and(|a| verifier.verify(a, "POST", user, password));
                if !ok {
                    let mut r = status(401);
                    let mut challenges = verifier.challenges().to_vec();
                    if st.sha256_first {
                        challenges.reverse();
                    }
                    for c in challenges {
                        r.headers_mut()
                            .append("www-authenticate", c.parse().unwrap());
                    }
                    return r;
                }
            }
            if let Some(code) = st.inform_statuses.pop_front() {
                return status(code);
            }
            let mut reply = e.inform_reply();
            if st.hold {
                reply.header.hold_requests = Some(true);
            }
            let mut r = envelope_response(&reply, &st);
            if let Some(c) = &st.cookie {
                r.headers_mut().append("set-cookie", c.parse().unwrap());
            }
            r
        }
        Some(Body::TransferComplete(_)) => {
            let e = envelope.as_ref().unwrap();
            envelope_response(&e.reply(cwmp::TransferCompleteResponse), &st)
        }
        Some(Body::DuStateChangeComplete(_)) => {
            let e = envelope.as_ref().unwrap();
            envelope_response(&e.reply(cwmp::DuStateChangeCompleteResponse), &st)
        }
        _ => match st.script.pop_front() {
            Some(Answer::Request { id, body }) => {
                let mut e = Envelope::new(Namespace::Cwmp10, body);
                e.header = Header::with_id(id);
                envelope_response(&e, &st)
            }
            Some(Answer::NoContent) | None => status(204),
        },
    }
}

fn envelope_response(e: &Envelope, st: &State) -> Response<Full<Bytes>> {
    let options = EncodeOptions {
        xml_declaration: !st.no_xml_declaration,
        ..EncodeOptions::default()
    };
    let mut r = Response::new(Full::new(Bytes::from(e.encode(&options))));
    r.headers_mut()
        .insert("content-type", "text/xml; charset=utf-8".parse().unwrap());
    r
}

fn status(code: u16) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
    r
}
