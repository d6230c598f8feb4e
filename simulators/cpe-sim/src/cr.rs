//! The connection-request listener (TR-069 §3.2.2, PROTOCOL §11): one HTTP server for the whole
//! fleet, `GET /cr/<serial>` selects the device. Digest authentication with the device's
//! ConnectionRequestUsername/Password (Basic for a device with the `basic-cr` behaviour); on
//! success 200 at once and the device opens a session with `6 CONNECTION REQUEST`; 503 while an
//! earlier request of that device still waits for its session (the rate limit of §11).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::behaviour::Behaviour;
use crate::cpe::Cpe;
use crate::digest::Verifier;
use crate::events;
use crate::fleet::cr_path;
use crate::settings::Settings;

/// The devices by connection-request path, and the digest verifier.
pub struct Listener {
    devices: HashMap<String, Arc<Cpe>>,
    verifier: Verifier,
    settings: Arc<Settings>,
}

impl Listener {
    pub fn new(devices: &[Arc<Cpe>], settings: Arc<Settings>) -> Listener {
        Listener {
            devices: devices
                .iter()
                .map(|c| (cr_path(&c.serial), c.clone()))
                .collect(),
            verifier: Verifier::new("cpe-sim"),
            settings,
        }
    }

    /// Answers one request.
    pub fn handle(
        &self,
        method: &hyper::Method,
        path: &str,
        authorization: Option<&str>,
    ) -> Response<Full<Bytes>> {
        let Some(cpe) = self.devices.get(path) else {
            return status(StatusCode::NOT_FOUND);
        };
        if method != hyper::Method::GET {
            return status(StatusCode::METHOD_NOT_ALLOWED);
        }
        let (user, password) = {
            let st = cpe.state();
            let get = |leaf: &str| st.device.management_server(leaf).to_owned();
            (
                get("ConnectionRequestUsername"),
                get("ConnectionRequestPassword"),
            )
        };
        // An agent whose listener knows only Basic (PROTOCOL §16.9) offers and checks Basic.
        let basic = cpe.behaves(Behaviour::BasicCr);
        let ok = authorization.is_some_and(|a| {
            if basic {
                Verifier::verify_basic(a, &user, &password)
            } else {
                self.verifier.verify(a, method.as_str(), &user, &password)
            }
        });
        if !ok {
            let mut response = status(StatusCode::UNAUTHORIZED);
            let challenges = if basic {
                vec![self.verifier.basic_challenge()]
            } else {
                self.verifier.challenges().to_vec()
            };
            for challenge in challenges {
                if let Ok(v) = challenge.parse() {
                    response
                        .headers_mut()
                        .append(hyper::header::WWW_AUTHENTICATE, v);
                }
            }
            return response;
        }
        if !cpe.request_connection() {
            return status(StatusCode::SERVICE_UNAVAILABLE);
        }
        events::emit(
            &self.settings,
            &cpe.serial,
            "cr_received",
            serde_json::json!({}),
        );
        status(StatusCode::OK)
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = code;
    r
}

/// Serves connection requests on `listener` until `shutdown` turns true.
pub async fn serve(listener: TcpListener, handler: Arc<Listener>, shutdown: watch::Receiver<bool>) {
    crate::server::serve(listener, shutdown, move |req: Request<Incoming>| {
        let auth = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let response = handler.handle(req.method(), req.uri().path(), auth.as_deref());
        async move { response }
    })
    .await;
}
