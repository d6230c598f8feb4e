//! Connection requests against real HTTP servers on loopback playing the CPE side: digest in
//! every flavour, Basic, 503, silence, closed ports. Only 127.0.0.1 and [::1] are contacted.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use acs_session::Credentials;
use acs_session::auth::client::ChallengeError;
use acs_session::auth::{AuthMode, CpeAuthConfig, CpeAuthenticator, DigestAlgorithm};
use acs_session::connection_request::{
    AddressPolicy, ConnectionRequestConfig, ConnectionRequester, CrAuthFailure, CrOutcome, CrReport,
};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONNECTION, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const CR_USER: &str = "acs-cr";
/// The devices of these tests inform from loopback, where their listeners are.
const ON_LOOPBACK: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
const CR_PASS: &str = "cr-secret";

type Challenges = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// A CPE's connection-request listener.
#[derive(Clone)]
struct Cpe {
    /// Verifies the ACS's credentials (mode none: no authentication).
    auth: CpeAuthenticator,
    /// The challenge headers for a fresh nonce; `None`: the authenticator's own.
    challenges: Option<Challenges>,
    /// The status once authenticated.
    status: u16,
    /// Send `Connection: close` with the 401, forcing a new TCP connection for the retry.
    close_after_401: bool,
    /// Hold each request this long (to make requests overlap).
    hold: Duration,
    requests: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

impl Cpe {
    fn new(mode: AuthMode, status: u16) -> Self {
        Self {
            // a CPE offering SHA-256 then MD5, and accepting both (acs's own default is MD5
            // alone): the connection-request client must cope with several challenges
            auth: CpeAuthenticator::new(CpeAuthConfig {
                realm: "cpe".into(),
                digest_algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
                ..CpeAuthConfig::new(mode)
            }),
            challenges: None,
            status,
            close_after_401: false,
            hold: Duration::ZERO,
            requests: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
        }
    }

    /// Digest with challenges built from `template`, where `{n}` stands for a fresh nonce.
    fn digest_flavour(template: &'static str) -> Self {
        let mut cpe = Self::new(AuthMode::Digest, 204);
        let auth = cpe.auth.clone();
        cpe.challenges = Some(Arc::new(move || {
            let nonce = nonce_of(&auth.challenges(false, SystemTime::now())[0]);
            vec![template.replace("{n}", &nonce)]
        }));
        cpe
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    async fn handle(self, req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, Infallible> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let now_in_flight = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight
            .fetch_max(now_in_flight, Ordering::SeqCst);
        if !self.hold.is_zero() {
            tokio::time::sleep(self.hold).await;
        }
        let authorization = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let ours = Credentials::new(CR_USER, CR_PASS);
        let verdict =
            self.auth
                .authenticate(authorization, "GET", target, &ours, SystemTime::now());
        let mut response = Response::new(Empty::new());
        match verdict {
            Ok(_) => *response.status_mut() = StatusCode::from_u16(self.status).unwrap(),
            Err(rejection) => {
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                let challenges = match &self.challenges {
                    Some(make) => make(),
                    None => rejection.www_authenticate,
                };
                for challenge in challenges {
                    response
                        .headers_mut()
                        .append(WWW_AUTHENTICATE, challenge.parse().unwrap());
                }
                if self.close_after_401 {
                    response
                        .headers_mut()
                        .insert(CONNECTION, "close".parse().unwrap());
                }
            }
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        Ok(response)
    }

    /// Serves on `bind` (port 0) until the test ends; returns the address.
    async fn start_on(&self, bind: &str) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let cpe = self.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let cpe = cpe.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| cpe.clone().handle(req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(addr)
    }

    async fn start(&self) -> String {
        let addr = self.start_on("127.0.0.1:0").await.unwrap();
        format!("http://{addr}/cr/{}", "a1b2c3")
    }
}

fn nonce_of(challenge: &str) -> String {
    let start = challenge.find("nonce=\"").unwrap() + 7;
    let len = challenge[start..].find('"').unwrap();
    challenge[start..start + len].to_owned()
}

fn creds(password: &str) -> Option<Credentials> {
    Some(Credentials::new(CR_USER, password))
}

fn requester() -> ConnectionRequester {
    requester_with(|_| {})
}

/// One connection request from a fresh [`requester`] (the device id does not matter to it).
async fn send(url: &str, credentials: Option<Credentials>) -> CrReport {
    requester()
        .send("dev-1", url, credentials, ON_LOOPBACK)
        .await
}

fn requester_with(tune: impl FnOnce(&mut ConnectionRequestConfig)) -> ConnectionRequester {
    let mut config = ConnectionRequestConfig {
        connect_timeout: Duration::from_secs(5),
        total_timeout: Duration::from_secs(10),
        min_interval_per_device: Duration::ZERO,
        ..ConnectionRequestConfig::default()
    };
    tune(&mut config);
    ConnectionRequester::new(config)
}

#[tokio::test]
async fn digest_accepted_on_200_and_204() {
    for status in [200, 204] {
        let cpe = Cpe::new(AuthMode::Digest, status);
        let url = cpe.start().await;
        let report = send(&url, creds(CR_PASS)).await;
        assert_eq!(report.outcome, CrOutcome::Accepted, "status {status}");
        assert!(report.latency > Duration::ZERO);
        // The challenge, then the authenticated request.
        assert_eq!(cpe.requests(), 2);
    }
}

#[tokio::test]
async fn every_digest_flavour_a_cpe_offers() {
    for template in [
        r#"Digest realm="cpe", nonce="{n}", qop="auth""#,
        r#"Digest realm="cpe", nonce="{n}""#,
        r#"Digest realm="cpe", nonce="{n}", algorithm=MD5-sess, qop="auth""#,
        r#"Digest realm="cpe", nonce="{n}", algorithm=MD5-sess"#,
        r#"Digest realm="cpe", nonce="{n}", algorithm=SHA-256, qop="auth", opaque="xyz""#,
    ] {
        let cpe = Cpe::digest_flavour(template);
        let url = cpe.start().await;
        let report = send(&url, creds(CR_PASS)).await;
        assert_eq!(report.outcome, CrOutcome::Accepted, "{template}");
    }
}

#[tokio::test]
async fn new_connection_when_the_cpe_closes_after_401() {
    let mut cpe = Cpe::new(AuthMode::Digest, 200);
    cpe.close_after_401 = true;
    let url = cpe.start().await;
    let report = send(&url, creds(CR_PASS)).await;
    assert_eq!(report.outcome, CrOutcome::Accepted);
}

/// A hand-rolled CPE that answers the 401 and then silently closes the socket, without
/// `Connection: close`: the kept connection is dead (noticed before or while sending the
/// authenticated retry, depending on timing) and a fresh one must be made.
#[tokio::test]
async fn new_connection_when_the_cpe_drops_the_socket_silently() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let auth = Cpe::new(AuthMode::Digest, 200).auth;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    let server = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let authorization = head.lines().find_map(|l| {
                l.strip_prefix("authorization: ")
                    .or(l.strip_prefix("Authorization: "))
            });
            let ours = Credentials::new(CR_USER, CR_PASS);
            let verdict = auth.authenticate(authorization, "GET", "/", &ours, SystemTime::now());
            let answer = match verdict {
                Ok(_) => "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_owned(),
                Err(rejection) => format!(
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {}\r\nContent-Length: 0\r\n\r\n",
                    rejection.www_authenticate[1]
                ),
            };
            let _ = stream.write_all(answer.as_bytes()).await;
            // Dropping the stream closes it, whatever HTTP/1.1 keep-alive would suggest.
        }
    });
    let report = send(&format!("http://{addr}/"), creds(CR_PASS)).await;
    assert_eq!(report.outcome, CrOutcome::Accepted);
    assert!(connections.load(Ordering::SeqCst) >= 2);
    server.abort();
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_auth_failures() {
    let cpe = Cpe::new(AuthMode::Digest, 200);
    let url = cpe.start().await;
    let report = send(&url, creds("the ACS's own password")).await;
    assert_eq!(
        report.outcome,
        CrOutcome::AuthFailed(CrAuthFailure::Rejected)
    );
    assert_eq!(cpe.requests(), 2, "one retry with credentials, no more");

    let report = send(&url, None).await;
    assert_eq!(
        report.outcome,
        CrOutcome::AuthFailed(CrAuthFailure::NoCredentials)
    );

    // A 401 without any WWW-Authenticate: nothing to answer.
    let mut mute = Cpe::new(AuthMode::Digest, 200);
    mute.challenges = Some(Arc::new(Vec::new));
    let report = send(&mute.start().await, creds(CR_PASS)).await;
    assert_eq!(
        report.outcome,
        CrOutcome::AuthFailed(CrAuthFailure::Challenge(ChallengeError::NoChallenge))
    );
}

#[tokio::test]
async fn busy_and_other_statuses() {
    let busy = Cpe::new(AuthMode::None, 503);
    let report = send(&busy.start().await, creds(CR_PASS)).await;
    assert_eq!(report.outcome, CrOutcome::Busy);

    let busy_after_auth = Cpe::new(AuthMode::Digest, 503);
    let report = send(&busy_after_auth.start().await, creds(CR_PASS)).await;
    assert_eq!(report.outcome, CrOutcome::Busy);

    let odd = Cpe::new(AuthMode::None, 404);
    let report = send(&odd.start().await, None).await;
    assert_eq!(report.outcome, CrOutcome::HttpStatus(404));

    // No authentication at all on the CPE: accepted without credentials.
    let open = Cpe::new(AuthMode::None, 200);
    let report = send(&open.start().await, None).await;
    assert_eq!(report.outcome, CrOutcome::Accepted);
}

#[tokio::test]
async fn basic_only_when_allowed() {
    let cpe = Cpe::new(AuthMode::Basic, 200);
    let url = cpe.start().await;
    let report = send(&url, creds(CR_PASS)).await;
    assert_eq!(
        report.outcome,
        CrOutcome::AuthFailed(CrAuthFailure::Challenge(ChallengeError::BasicNotAllowed))
    );
    assert_eq!(cpe.requests(), 1, "the password never went out in Basic");

    let allowing = requester_with(|c| c.allow_basic = true);
    let report = allowing
        .send("dev-1", &url, creds(CR_PASS), ON_LOOPBACK)
        .await;
    assert_eq!(report.outcome, CrOutcome::Accepted);
    let report = allowing
        .send("dev-1", &url, creds("wrong"), ON_LOOPBACK)
        .await;
    assert_eq!(
        report.outcome,
        CrOutcome::AuthFailed(CrAuthFailure::Rejected)
    );
}

#[tokio::test]
async fn closed_port_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let report = send(&format!("http://{addr}/"), creds(CR_PASS)).await;
    assert!(
        matches!(report.outcome, CrOutcome::Unreachable(_)),
        "{:?}",
        report.outcome
    );
}

#[tokio::test]
async fn silent_cpe_times_out() {
    // Accepts the TCP connection, never says a word.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut streams = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            streams.push(stream);
        }
    });
    let quick = requester_with(|c| c.total_timeout = Duration::from_millis(300));
    let report = quick
        .send(
            "dev-1",
            &format!("http://{addr}/"),
            creds(CR_PASS),
            ON_LOOPBACK,
        )
        .await;
    assert_eq!(report.outcome, CrOutcome::Timeout);
    held.abort();
}

#[tokio::test]
async fn invalid_urls_send_nothing() {
    for url in [
        "https://127.0.0.1:7547/",
        "127.0.0.1:7547",
        "http://u:p@127.0.0.1/",
        "",
    ] {
        let report = send(url, creds(CR_PASS)).await;
        assert!(
            matches!(report.outcome, CrOutcome::InvalidUrl(_)),
            "{url}: {:?}",
            report.outcome
        );
        assert_eq!(report.latency, Duration::ZERO);
    }
}

#[tokio::test]
async fn one_request_per_device_per_interval() {
    let cpe = Cpe::new(AuthMode::None, 204);
    let url = cpe.start().await;
    let limited = requester_with(|c| c.min_interval_per_device = Duration::from_secs(3600));
    assert_eq!(
        limited.send("dev-1", &url, None, ON_LOOPBACK).await.outcome,
        CrOutcome::Accepted
    );
    let again = limited.send("dev-1", &url, None, ON_LOOPBACK).await;
    let CrOutcome::RateLimited { retry_after } = again.outcome else {
        panic!("{again:?}")
    };
    assert!(retry_after <= Duration::from_secs(3600));
    assert_eq!(again.latency, Duration::ZERO);
    assert_eq!(cpe.requests(), 1, "the rate-limited request sent nothing");
    // Another device is not affected; clones share the limit.
    assert_eq!(
        limited.send("dev-2", &url, None, ON_LOOPBACK).await.outcome,
        CrOutcome::Accepted
    );
    let clone = limited.clone();
    assert!(matches!(
        clone.send("dev-2", &url, None, ON_LOOPBACK).await.outcome,
        CrOutcome::RateLimited { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_bounded() {
    let mut cpe = Cpe::new(AuthMode::None, 204);
    cpe.hold = Duration::from_millis(100);
    let url = cpe.start().await;
    let bounded = requester_with(|c| c.max_concurrent = 2);
    let sends = (0..6).map(|i| {
        let (bounded, url) = (bounded.clone(), url.clone());
        tokio::spawn(async move {
            bounded
                .send(&format!("dev-{i}"), &url, None, ON_LOOPBACK)
                .await
        })
    });
    for send in sends.collect::<Vec<_>>() {
        assert_eq!(send.await.unwrap().outcome, CrOutcome::Accepted);
    }
    assert_eq!(cpe.requests(), 6);
    let max = cpe.max_in_flight.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&max),
        "{max} requests in flight at once, limit 2"
    );
}

#[tokio::test]
async fn ipv6_literal_url() {
    let cpe = Cpe::new(AuthMode::Digest, 200);
    let addr = match cpe.start_on("[::1]:0").await {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("SKIPPED ipv6_literal_url: cannot listen on [::1] here ({err})");
            return;
        }
    };
    let url = format!("http://[::1]:{}/cr", addr.port());
    let report = send(&url, creds(CR_PASS)).await;
    assert_eq!(report.outcome, CrOutcome::Accepted);
}

#[tokio::test]
async fn a_requester_with_metrics_counts_outcomes_and_latency() {
    let metrics = Arc::new(acs_session::engine::Metrics::default());
    let requester = ConnectionRequester::with_metrics(
        ConnectionRequestConfig {
            min_interval_per_device: Duration::ZERO,
            ..ConnectionRequestConfig::default()
        },
        metrics.clone(),
    );
    let cpe = Cpe::new(AuthMode::Digest, 200);
    let url = cpe.start().await;
    let report = requester
        .send("dev-1", &url, creds(CR_PASS), ON_LOOPBACK)
        .await;
    assert_eq!(report.outcome, CrOutcome::Accepted);
    // nothing goes on the wire for a bad URL: counted, but no latency observed
    let bad = requester.send("dev-2", "ftp://x/", None, ON_LOOPBACK).await;
    assert!(matches!(bad.outcome, CrOutcome::InvalidUrl(_)));
    assert_eq!(metrics.connection_request_duration.count(), 1);
    let text = metrics.render();
    assert!(
        text.contains("acs_connection_requests_total{outcome=\"accepted\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("acs_connection_requests_total{outcome=\"invalid_url\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE acs_connection_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains("acs_connection_request_duration_seconds_bucket{le=\"+Inf\"} 1"),
        "{text}"
    );
}

/// A device that informs from outside the ACS host.
const REMOTE_PEER: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)));

#[tokio::test]
async fn loopback_is_refused_unless_the_device_informs_from_loopback() {
    let cpe = Cpe::new(AuthMode::None, 204);
    let url = cpe.start().await;
    for peer in [REMOTE_PEER, None] {
        let report = requester().send("dev-1", &url, None, peer).await;
        let CrOutcome::Refused(why) = &report.outcome else {
            panic!("{peer:?}: {:?}", report.outcome)
        };
        assert!(
            why.contains("127.0.0.1") && why.contains("loopback"),
            "{why}"
        );
        assert_eq!(report.latency, Duration::ZERO);
        assert_eq!(report.outcome.as_str(), "refused");
    }
    assert_eq!(cpe.requests(), 0, "a refused request sends nothing");
    // the simulator on the ACS host informs from loopback and is reached there
    let report = send(&url, None).await;
    assert_eq!(report.outcome, CrOutcome::Accepted);
    // IPv4 inside IPv6 is the same loopback peer
    let mapped = Some("::ffff:127.0.0.1".parse().unwrap());
    let report = requester().send("dev-1", &url, None, mapped).await;
    assert_eq!(report.outcome, CrOutcome::Accepted);
    assert_eq!(cpe.requests(), 2);
}

#[tokio::test]
async fn host_names_are_checked_at_every_address_they_resolve_to() {
    let cpe = Cpe::new(AuthMode::None, 204);
    let port = cpe.start_on("127.0.0.1:0").await.unwrap().port();
    let url = format!("http://localhost:{port}/cr");
    let report = requester().send("dev-1", &url, None, REMOTE_PEER).await;
    let CrOutcome::Refused(why) = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert!(why.starts_with("localhost resolves to"), "{why}");
    assert_eq!(cpe.requests(), 0);
    // allowed: the connection goes to a resolved (and checked) address
    let report = send(&url, None).await;
    assert_eq!(report.outcome, CrOutcome::Accepted);
    assert_eq!(cpe.requests(), 1);
}

#[tokio::test]
async fn the_deny_list_wins_even_for_devices_on_loopback() {
    let cpe = Cpe::new(AuthMode::None, 204);
    let url = cpe.start().await;
    let metrics = Arc::new(acs_session::engine::Metrics::default());
    let denying = ConnectionRequester::with_metrics(
        ConnectionRequestConfig {
            min_interval_per_device: Duration::ZERO,
            policy: AddressPolicy {
                allow: vec!["127.0.0.0/8".parse().unwrap()],
                deny: vec!["127.0.0.1/32".parse().unwrap()],
            },
            ..ConnectionRequestConfig::default()
        },
        metrics.clone(),
    );
    let report = denying.send("dev-1", &url, None, ON_LOOPBACK).await;
    let CrOutcome::Refused(why) = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert!(why.contains("--cr-deny 127.0.0.1/32"), "{why}");
    assert_eq!(cpe.requests(), 0);
    let text = metrics.render();
    assert!(
        text.contains("acs_connection_requests_total{outcome=\"refused\"} 1"),
        "{text}"
    );
    assert_eq!(metrics.connection_request_duration.count(), 0);
}
