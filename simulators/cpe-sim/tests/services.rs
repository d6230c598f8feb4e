//! The simulator's servers and drivers on loopback: the connection-request listener, the
//! baseline responder and the load report.

mod cr_listener;
mod fake_acs;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cpe_sim::datamodel::Model;
use cpe_sim::fleet::{self, SerialPattern};
use cpe_sim::settings::Settings;
use cpe_sim::{baseline, load};
use cr_listener::{client, cr_address};
use cwmp::Body;
use fake_acs::FakeAcs;
use tokio::net::TcpListener;
use tokio::sync::watch;

#[tokio::test]
async fn connection_request_needs_digest_and_starts_a_connection_request_session() {
    let acs = FakeAcs::start().await;
    let mut s = Settings::new(&acs.url).unwrap();
    s.http_timeout = Duration::from_secs(5);
    let settings = Arc::new(s);
    let fleet = cr_listener::fleet(Model::Tr098, 2, "CR{:03}", &settings).await;
    let port = fleet.port;
    let cpe = &fleet.devices[1];
    let (url, user, password) = cr_address(cpe);
    assert_eq!(url, format!("http://127.0.0.1:{port}/cr/CR001"));

    assert_eq!(
        client(&url, "", "").get().await.unwrap().status,
        401,
        "no credentials"
    );
    assert_eq!(
        client(&url, &user, "wrong").get().await.unwrap().status,
        401,
        "wrong password"
    );
    assert!(!cpe.connection_requested());
    assert_eq!(
        client(&url, &user, &password).get().await.unwrap().status,
        200
    );
    assert!(cpe.connection_requested());
    assert_eq!(
        client(&url, &user, &password).get().await.unwrap().status,
        503,
        "a second request while the first waits for its session"
    );
    let unknown = format!("http://127.0.0.1:{port}/cr/NOPE");
    assert_eq!(
        client(&unknown, &user, &password)
            .get()
            .await
            .unwrap()
            .status,
        404
    );

    cpe.session(&settings).await.unwrap();
    let inform = acs.take()[0].envelope().unwrap();
    match inform.body {
        Body::Inform(i) => assert_eq!(i.event[0].event_code, "6 CONNECTION REQUEST"),
        other => panic!("{other:?}"),
    }
    assert!(!cpe.connection_requested());
}

/// The baseline's URL, and the sender that keeps it running while held.
async fn start_baseline() -> (String, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = watch::channel(false);
    tokio::spawn(baseline::serve(listener, rx));
    (format!("http://{addr}/"), tx)
}

#[tokio::test]
async fn baseline_answers_an_inform_with_its_id_and_anything_else_with_204() {
    let (url, _running) = start_baseline().await;
    let inform = br#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soapenv:Header><cwmp:ID soapenv:mustUnderstand="1">42_THOM</cwmp:ID></soapenv:Header><soapenv:Body><cwmp:Inform><DeviceId/></cwmp:Inform></soapenv:Body></soapenv:Envelope>"#;
    let mut c = client(&url, "", "");
    let reply = c
        .post(Some(Bytes::from_static(inform)), "text/xml")
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let cwmp::Decoded::Envelope(e) =
        cwmp::decode(&reply.body, reply.content_type.as_deref()).unwrap()
    else {
        panic!("empty");
    };
    assert!(matches!(e.body, Body::InformResponse(_)));
    assert_eq!(e.header.id.as_deref(), Some("42_THOM"));
    assert_eq!(e.namespace, cwmp::Namespace::Cwmp12);
    assert_eq!(c.post(None, "").await.unwrap().status, 204);
    let response = br#"<Envelope><Body><cwmp:GetParameterValuesResponse/></Body></Envelope>"#;
    assert_eq!(
        c.post(Some(Bytes::from_static(response)), "text/xml")
            .await
            .unwrap()
            .status,
        204
    );
}

/// `cpe-sim load` of `devices` TR-181 devices against `url` for `duration`, Informs only, one
/// worker per device.
async fn load_informs(url: &str, devices: u32, duration: Duration) -> load::Report {
    let settings = Arc::new(Settings::new(url).unwrap());
    let pattern = SerialPattern::parse("L{}").unwrap();
    let fleet = fleet::build(Model::Tr181, devices, &pattern, &settings, None).unwrap();
    let options = load::LoadOptions {
        duration,
        profile: load::Profile::Inform,
        concurrency: devices as usize,
        rate: None,
        progress: false,
    };
    load::run(fleet, settings, options).await
}

#[tokio::test]
async fn load_report_against_the_baseline_has_the_documented_shape() {
    let (url, _running) = start_baseline().await;
    let report = load_informs(&url, 4, Duration::from_millis(800)).await;
    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "sessions",
        "sessions_per_second",
        "latency_ms",
        "errors",
        "devices",
        "duration_s",
        "profile",
    ] {
        assert!(json.get(key).is_some(), "{key} missing in {json}");
    }
    for key in ["p50", "p90", "p99", "max"] {
        assert!(
            json["latency_ms"][key].is_number(),
            "latency_ms.{key} in {json}"
        );
    }
    assert!(json["sessions"].as_u64().unwrap() > 0, "{json}");
    assert_eq!(json["errors"], serde_json::json!({}), "{json}");
    assert_eq!(json["profile"], "inform");
}

#[tokio::test]
async fn load_counts_errors_by_kind() {
    // A port nobody listens on: every session fails to connect.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let report = load_informs(&url, 2, Duration::from_millis(200)).await;
    assert_eq!(report.sessions, 0);
    assert!(
        report.errors.get("connect").copied().unwrap_or(0) > 0,
        "{:?}",
        report.errors
    );
}
