//! Vendor behaviour profiles against a scripted fake ACS: each behaviour of PROTOCOL §16 as it
//! shows on the wire, and what the device does afterwards.

mod cr_listener;
mod fake_acs;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cpe_sim::behaviour::Behaviours;
use cpe_sim::cpe::{Cpe, SessionError};
use cpe_sim::datamodel::Model;
use cpe_sim::fleet::{self, SerialPattern};
use cpe_sim::run::{LoopOptions, device_loop};
use cpe_sim::settings::Settings;
use cpe_sim::summary::RunStats;
use cpe_sim::transport::Target;
use cr_listener::{client, cr_address};
use cwmp::Body;
use fake_acs::{FakeAcs, Seen};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::watch;

fn settings(acs: &FakeAcs) -> Settings {
    let mut s = Settings::new(&acs.url).unwrap();
    s.reboot_delay = Duration::ZERO;
    s.restart_delay = Duration::ZERO;
    s.http_timeout = Duration::from_secs(5);
    s
}

/// One device showing `behaviours`, BOOTSTRAP queued.
fn device(s: &Settings, behaviours: &str) -> Arc<Cpe> {
    let mut s = s.clone();
    s.behaviours.add(behaviours).unwrap();
    let pattern = SerialPattern::parse("B{:04}").unwrap();
    let cpe = fleet::build(Model::Tr181, 1, &pattern, &s, None)
        .unwrap()
        .remove(0);
    cpe.queue_event("0 BOOTSTRAP", "");
    cpe.queue_event("1 BOOT", "");
    cpe
}

/// A fake ACS, the settings pointing at it, and a device showing `behaviours` (BOOTSTRAP
/// queued).
async fn with_acs(behaviours: &str) -> (FakeAcs, Settings, Arc<Cpe>) {
    let acs = FakeAcs::start().await;
    let s = settings(&acs);
    let cpe = device(&s, behaviours);
    (acs, s, cpe)
}

/// A fake ACS that demands digest with the credentials of the device showing `behaviours`
/// (BOOTSTRAP queued), the settings pointing at it, and the device.
async fn behind_digest(behaviours: &str) -> (FakeAcs, Settings, Arc<Cpe>) {
    let (acs, s, cpe) = with_acs(behaviours).await;
    let (user, password) = {
        let st = cpe.state();
        let get = |leaf: &str| st.device.management_server(leaf).to_owned();
        (get("Username"), get("Password"))
    };
    acs.require_digest(&user, &password);
    (acs, s, cpe)
}

/// The device's answer to the challenge: the Authorization header of its second request
/// (the requests so far are forgotten).
fn answer_to_the_challenge(acs: &FakeAcs) -> String {
    let seen = acs.take();
    seen[1].header("authorization").unwrap().to_owned()
}

fn posts(seen: &[Seen]) -> Vec<&Seen> {
    seen.iter().filter(|s| s.method == "POST").collect()
}

/// The events of the first Inform among `seen`.
fn inform_events(seen: &[Seen]) -> Vec<(String, String)> {
    let inform = seen
        .iter()
        .find_map(|s| match s.envelope().map(|e| e.body) {
            Some(Body::Inform(i)) => Some(i),
            _ => None,
        })
        .expect("an Inform");
    inform
        .event
        .iter()
        .map(|e| (e.event_code.clone(), e.command_key.clone()))
        .collect()
}

fn pair(code: &str, key: &str) -> (String, String) {
    (code.to_owned(), key.to_owned())
}

fn reboot(command_key: &str) -> Body {
    Body::Reboot(cwmp::Reboot {
        command_key: command_key.to_owned(),
    })
}

/// The events of the Inform that follows a session in which the ACS sent `request` (one that
/// makes the device start a session of its own afterwards: a reboot, a factory reset).
async fn events_after(
    acs: &FakeAcs,
    s: &Settings,
    cpe: &Cpe,
    request: Body,
) -> Vec<(String, String)> {
    acs.script([request]);
    cpe.session(s).await.unwrap();
    acs.take();
    assert!(cpe.after_session(s).await);
    cpe.session(s).await.unwrap();
    inform_events(&acs.take())
}

#[tokio::test]
async fn first_challenge_only_and_md5_only_stop_at_a_sha256_challenge() {
    let (acs, s, cpe) = behind_digest("first-challenge-only,md5-only").await;
    acs.sha256_first();
    let e = cpe.session(&s).await.unwrap_err();
    assert_eq!(e.to_string(), "digest algorithm SHA-256 unsupported");
    assert_eq!(e.kind(), "auth_unsupported");
    assert_eq!(acs.take().len(), 1, "no second attempt with credentials");

    // MD5 first: the same agent answers it.
    let (acs, s, cpe) = behind_digest("ts-agent").await;
    cpe.session(&s).await.unwrap();
    assert!(answer_to_the_challenge(&acs).contains("algorithm=MD5"));
}

#[tokio::test]
async fn md5_only_reading_every_header_finds_the_md5_challenge() {
    let (acs, s, cpe) = behind_digest("md5-only").await;
    acs.sha256_first();
    cpe.session(&s).await.unwrap();
    assert!(answer_to_the_challenge(&acs).contains("algorithm=MD5"));

    // Without the behaviour the first (SHA-256) challenge is answered.
    let plain = device(&s, "go-sim");
    plain.session(&s).await.unwrap();
    assert!(answer_to_the_challenge(&acs).contains("algorithm=SHA-256"));
}

#[tokio::test]
async fn a_nonce_cut_to_32_characters_fails_authentication_once() {
    // The fake's nonces are 33 characters, one more than the agent's buffer keeps.
    let (acs, s, cpe) = behind_digest("nonce-32").await;
    let e = cpe.session(&s).await.unwrap_err();
    assert_eq!(e.kind(), "http_status_401");
    assert_eq!(e.http_status(), Some(401));
    assert!(e.to_string().contains("cut to the 32"), "{e}");
    let seen = acs.take();
    assert_eq!(seen.len(), 2, "one answer to the challenge, no second try");
    let answer = seen[1].header("authorization").unwrap();
    let nonce = answer
        .split("nonce=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    assert_eq!(nonce.len(), 32, "{answer}");
}

#[tokio::test]
async fn empty_command_keys_on_m_events() {
    let (acs, s, cpe) = with_acs("empty-command-key").await;
    assert_eq!(
        events_after(&acs, &s, &cpe, reboot("rb-7")).await,
        [pair("1 BOOT", ""), pair("M Reboot", "")]
    );
}

#[tokio::test]
async fn boot_alone_after_a_reboot_and_no_bootstrap_after_a_factory_reset() {
    let (acs, s, cpe) = with_acs("boot-only-after-reboot,no-bootstrap-after-reset").await;
    assert_eq!(
        events_after(&acs, &s, &cpe, reboot("rb")).await,
        [pair("1 BOOT", "")]
    );

    cpe.queue_event("2 PERIODIC", "");
    let reset = Body::FactoryReset(cwmp::FactoryReset);
    assert_eq!(
        events_after(&acs, &s, &cpe, reset).await,
        [pair("1 BOOT", "")]
    );
}

fn gpv(name: &str) -> Body {
    Body::GetParameterValues(cwmp::GetParameterValues {
        parameter_names: vec![name.to_owned()],
    })
}

#[tokio::test]
async fn a_partial_path_crashes_the_agent_which_comes_back_with_boot() {
    let (acs, s, cpe) = with_acs("crash-on-partial-path").await;
    acs.script([
        gpv("Device.DeviceInfo.SoftwareVersion"),
        gpv("Device.DeviceInfo."),
    ]);
    let e = cpe.session(&s).await.unwrap_err();
    assert!(matches!(e, SessionError::Crashed(_)), "{e:?}");
    assert_eq!(e.kind(), "crashed");
    assert!(e.to_string().contains("\"Device.DeviceInfo.\""), "{e}");
    let seen = acs.take();
    // Inform, empty POST, the full path's answer; nothing for the partial path.
    assert_eq!(posts(&seen).len(), 3);

    cpe.state().retry_count = 3;
    cpe.restart();
    cpe.session(&s).await.unwrap();
    let seen = acs.take();
    assert_eq!(
        inform_events(&seen),
        [pair("1 BOOT", "")],
        "BOOTSTRAP was in memory"
    );
    match seen[0].envelope().unwrap().body {
        Body::Inform(i) => assert_eq!(i.retry_count, 0),
        other => panic!("{other:?}"),
    }

    // The same request to an agent without the behaviour is answered.
    let plain = device(&s, "go-sim");
    acs.script([gpv("Device.DeviceInfo.")]);
    let report = plain.session(&s).await.unwrap();
    assert_eq!(report.rpcs, ["GetParameterValues"]);
}

#[tokio::test]
async fn no_xml_declaration_in_either_direction() {
    let (acs, s, cpe) = with_acs("no-xml-declaration").await;
    let e = cpe.session(&s).await.unwrap_err();
    assert_eq!(e.kind(), "decode");
    assert!(e.to_string().contains("XML declaration"), "{e}");
    let seen = acs.take();
    assert_eq!(seen.len(), 1, "the session ends at the InformResponse");
    assert!(
        !seen[0].body.starts_with(b"<?xml"),
        "its own Inform has none"
    );

    acs.no_xml_declaration();
    acs.script([gpv("Device.DeviceInfo.SoftwareVersion")]);
    let report = cpe.session(&s).await.unwrap();
    assert_eq!(report.rpcs, ["GetParameterValues"]);
    for m in acs.take() {
        assert!(!m.body.starts_with(b"<?xml"));
    }
}

#[tokio::test]
async fn dies_on_a_503_and_restarts_with_boot() {
    let (acs, s, cpe) = with_acs("dies-on-http-error").await;
    acs.refuse_informs(&[503]);
    let stats = Arc::new(RunStats::new(1, Some(2)));
    let (_stop, shutdown) = watch::channel(false);
    let options = LoopOptions {
        first_delay: Duration::ZERO,
        once: false,
        sessions: None,
        stats: Some(stats.clone()),
    };
    let run = tokio::spawn(device_loop(cpe, Arc::new(s), shutdown, options));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while stats.snapshot().ok == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no second session");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    run.abort();
    let summary = stats.snapshot();
    assert_eq!((summary.failed, summary.restarts), (1, 1));
    let informs: Vec<Seen> = acs
        .take()
        .into_iter()
        .filter(|m| matches!(m.envelope().map(|e| e.body), Some(Body::Inform(_))))
        .collect();
    assert_eq!(informs.len(), 2);
    // Restarted at once (--restart-delay 0), not after the 5 s retry wait, as a new process.
    assert_eq!(inform_events(&informs[1..]), [pair("1 BOOT", "")]);

    // An agent without the behaviour keeps its events and waits to retry.
    assert!(
        cpe_sim::run::down(
            &device(&settings(&acs), "go-sim"),
            &SessionError::Status(503)
        )
        .is_none()
    );
}

/// GET `url` with an optional Authorization header: the status and the WWW-Authenticate
/// values.
async fn raw_get(url: &str, authorization: Option<&str>) -> (u16, Vec<String>) {
    let target = Target::parse(url).unwrap();
    let stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::get(target.path.as_str()).header("host", "cpe");
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let resp = sender
        .send_request(req.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    let challenges = resp
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    (status, challenges)
}

#[tokio::test]
async fn basic_only_connection_requests() {
    let acs = FakeAcs::start().await;
    let mut s = settings(&acs);
    s.behaviours.add("basic-cr:50%").unwrap();
    let settings = Arc::new(s);
    let fleet = cr_listener::fleet(Model::Tr181, 2, "CR{}", &settings).await;
    let devices = &fleet.devices;
    assert_eq!(
        devices[0].behaviours,
        Behaviours::parse("basic-cr").unwrap()
    );
    assert_eq!(devices[1].behaviours, Behaviours::NONE);

    let (basic_url, user, password) = cr_address(&devices[0]);
    let (status, challenges) = raw_get(&basic_url, None).await;
    assert_eq!(status, 401);
    assert_eq!(challenges, ["Basic realm=\"cpe-sim\""]);
    let digest = format!(
        "Digest username=\"{user}\", realm=\"cpe-sim\", nonce=\"x\", uri=\"/\", response=\"0\""
    );
    assert_eq!(raw_get(&basic_url, Some(&digest)).await.0, 401);
    let status = async |u: &str, p: &str| client(&basic_url, u, p).get().await.unwrap().status;
    assert_eq!(status(&user, "wrong").await, 401);
    assert!(!devices[0].connection_requested());
    assert_eq!(status(&user, &password).await, 200);
    assert!(devices[0].connection_requested());

    // The other half of the fleet still offers Digest only.
    let (digest_url, _, _) = cr_address(&devices[1]);
    let (status, challenges) = raw_get(&digest_url, None).await;
    assert_eq!(status, 401);
    assert!(
        challenges.iter().all(|c| c.starts_with("Digest ")),
        "{challenges:?}"
    );
    // "CR1:CR1": the default credentials, right but in the wrong scheme.
    assert_eq!(
        raw_get(&digest_url, Some("Basic Q1IxOkNSMQ==")).await.0,
        401
    );
}
