//! The CPE side of a CWMP session against a scripted fake ACS: what the simulator puts on the
//! wire (events, cwmp:IDs, faults, TransferComplete, cookies, digest, quirks).

mod fake_acs;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cpe_sim::cpe::Cpe;
use cpe_sim::datamodel::Model;
use cpe_sim::fleet::{self, SerialPattern};
use cpe_sim::settings::Settings;
use cwmp::{Body, ParameterValueStruct, Value};
use fake_acs::{FakeAcs, Seen};

fn settings(acs: &FakeAcs, quirks: &[&str]) -> Settings {
    let mut s = Settings::new(&acs.url).unwrap();
    s.reboot_delay = Duration::ZERO;
    s.http_timeout = Duration::from_secs(5);
    for q in quirks {
        s.quirks.enable(q).unwrap();
    }
    s
}

fn one_device(settings: &Settings) -> Arc<Cpe> {
    let pattern = SerialPattern::parse("T{:04}").unwrap();
    let mut devices = fleet::build(Model::Tr181, 1, &pattern, settings, None).unwrap();
    let cpe = devices.remove(0);
    cpe.queue_event("0 BOOTSTRAP", "");
    cpe.queue_event("1 BOOT", "");
    cpe
}

/// The envelopes the CPE POSTed, empty POSTs as `None`.
fn posted(seen: &[Seen]) -> Vec<Option<cwmp::Envelope>> {
    seen.iter()
        .filter(|s| s.method == "POST")
        .map(Seen::envelope)
        .collect()
}

fn inform_of(e: &Option<cwmp::Envelope>) -> cwmp::Inform {
    match e.as_ref().map(|e| &e.body) {
        Some(Body::Inform(i)) => i.clone(),
        other => panic!("expected an Inform, got {other:?}"),
    }
}

fn events(i: &cwmp::Inform) -> Vec<(String, String)> {
    i.event
        .iter()
        .map(|e| (e.event_code.clone(), e.command_key.clone()))
        .collect()
}

fn param<'a>(i: &'a cwmp::Inform, name: &str) -> &'a str {
    &i.parameter_list
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} not in Inform"))
        .value
        .raw
}

fn fault_code(e: &Option<cwmp::Envelope>) -> (u32, Vec<(String, u32)>) {
    match e.as_ref().map(|e| &e.body) {
        Some(Body::Fault(f)) => {
            let d = f.detail.as_ref().unwrap();
            let per = d
                .set_parameter_values_faults
                .iter()
                .map(|p| (p.parameter_name.clone(), p.fault_code.0))
                .collect();
            (d.fault_code.0, per)
        }
        other => panic!("expected a fault, got {other:?}"),
    }
}

fn spv(name: &str, value: Value, key: &str) -> Body {
    Body::SetParameterValues(cwmp::SetParameterValues {
        parameter_list: vec![ParameterValueStruct::new(name, value)],
        parameter_key: key.to_owned(),
    })
}

/// SetParameterValues of PeriodicInformInterval.
fn periodic_interval(seconds: u32, key: &str) -> Body {
    spv(
        "Device.ManagementServer.PeriodicInformInterval",
        Value::unsigned_int(seconds),
        key,
    )
}

#[tokio::test]
async fn bootstrap_session_answers_rpcs_from_the_data_model_and_reboots() {
    let acs = FakeAcs::start().await;
    let s = settings(&acs, &[]);
    let cpe = one_device(&s);
    acs.script([
        Body::GetParameterValues(cwmp::GetParameterValues {
            parameter_names: vec!["Device.DeviceInfo.SoftwareVersion".to_owned()],
        }),
        periodic_interval(600, "key-1"),
        spv(
            "Device.DeviceInfo.SoftwareVersion",
            Value::string("x"),
            "key-2",
        ),
        spv("Device.No.Such", Value::string("x"), "key-3"),
        Body::GetParameterNames(cwmp::GetParameterNames {
            parameter_path: "Device.".to_owned(),
            next_level: true,
        }),
        Body::Reboot(cwmp::Reboot {
            command_key: "rb-7".to_owned(),
        }),
    ]);
    let report = cpe.session(&s).await.unwrap();
    assert_eq!(report.informed, ["0 BOOTSTRAP", "1 BOOT"]);
    assert_eq!(
        report.rpcs,
        [
            "GetParameterValues",
            "SetParameterValues",
            "SetParameterValues",
            "SetParameterValues",
            "GetParameterNames",
            "Reboot"
        ]
    );
    let seen = acs.take();
    let msgs = posted(&seen);
    // Inform, empty POST, six responses.
    assert_eq!(msgs.len(), 8);
    let inform = inform_of(&msgs[0]);
    assert_eq!(
        events(&inform),
        [
            ("0 BOOTSTRAP".into(), "".into()),
            ("1 BOOT".into(), "".into())
        ]
    );
    assert_eq!(inform.device_id.serial_number, "T0000");
    assert_eq!(inform.retry_count, 0);
    assert!(msgs[1].is_none(), "empty POST after the InformResponse");
    // Responses copy the ACS's cwmp:ID.
    for (i, m) in msgs[2..].iter().enumerate() {
        assert_eq!(
            m.as_ref().unwrap().header.id.as_deref(),
            Some(format!("acs-{}", i + 1).as_str())
        );
    }
    match &msgs[2].as_ref().unwrap().body {
        Body::GetParameterValuesResponse(r) => {
            assert_eq!(
                r.parameter_list[0].name,
                "Device.DeviceInfo.SoftwareVersion"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        msgs[3].as_ref().unwrap().body,
        Body::SetParameterValuesResponse(cwmp::SetParameterValuesResponse { status: 0 })
    ));
    assert_eq!(
        fault_code(&msgs[4]),
        (
            9003,
            vec![("Device.DeviceInfo.SoftwareVersion".to_owned(), 9008)]
        )
    );
    assert_eq!(
        fault_code(&msgs[5]),
        (9003, vec![("Device.No.Such".to_owned(), 9005)])
    );
    assert!(
        matches!(&msgs[6].as_ref().unwrap().body, Body::GetParameterNamesResponse(r) if !r.parameter_list.is_empty())
    );
    assert!(matches!(
        msgs[7].as_ref().unwrap().body,
        Body::RebootResponse(_)
    ));

    // After the session: the reboot, then `1 BOOT` + `M Reboot` with the CommandKey, and the
    // ParameterKey of the successful SetParameterValues.
    assert!(
        cpe.after_session(&s).await,
        "a reboot asks for a session at once"
    );
    cpe.session(&s).await.unwrap();
    let msgs = posted(&acs.take());
    let inform = inform_of(&msgs[0]);
    assert_eq!(
        events(&inform),
        [
            ("1 BOOT".into(), "".into()),
            ("M Reboot".into(), "rb-7".into())
        ]
    );
    assert_eq!(
        param(&inform, "Device.ManagementServer.ParameterKey"),
        "key-1"
    );
}

#[tokio::test]
async fn firmware_download_is_fetched_and_reported_with_transfer_complete() {
    let acs = FakeAcs::start().await;
    let s = settings(&acs, &[]);
    let cpe = one_device(&s);
    let image = Bytes::from(vec![0x5a; 3000]);
    acs.serve_file("/fw/acme-2.1.0.bin", image.clone());
    let download = |key: &str, size: u32| {
        Body::Download(cwmp::Download {
            command_key: key.to_owned(),
            file_type: "1 Firmware Upgrade Image".to_owned(),
            url: format!("{}/fw/acme-2.1.0.bin", acs.base),
            file_size: size,
            ..cwmp::Download::default()
        })
    };
    acs.script([download("dl-1", 3000)]);
    cpe.session(&s).await.unwrap();
    let msgs = posted(&acs.take());
    match &msgs[2].as_ref().unwrap().body {
        Body::DownloadResponse(r) => assert_eq!(r.status, 1),
        other => panic!("{other:?}"),
    }
    assert!(cpe.after_session(&s).await);
    let seen = acs.take();
    assert!(
        seen.iter()
            .any(|r| r.method == "GET" && r.path == "/fw/acme-2.1.0.bin"),
        "the file was fetched"
    );

    cpe.session(&s).await.unwrap();
    let msgs = posted(&acs.take());
    let inform = inform_of(&msgs[0]);
    let ev = events(&inform);
    assert!(
        ev.contains(&("7 TRANSFER COMPLETE".into(), "".into())),
        "{ev:?}"
    );
    assert!(ev.contains(&("M Download".into(), "dl-1".into())), "{ev:?}");
    assert!(ev.contains(&("1 BOOT".into(), "".into())), "{ev:?}");
    assert_eq!(
        param(&inform, "Device.DeviceInfo.SoftwareVersion"),
        "acme-2.1.0"
    );
    match &msgs[1].as_ref().unwrap().body {
        Body::TransferComplete(tc) => {
            assert_eq!(tc.command_key, "dl-1");
            assert_eq!(tc.fault_struct.fault_code.0, 0);
        }
        other => panic!("expected TransferComplete, got {other:?}"),
    }
    assert!(msgs[2].is_none(), "empty POST after the CPE's own requests");

    // A size that does not match: 9018, and SoftwareVersion stays.
    acs.script([download("dl-2", 10)]);
    cpe.session(&s).await.unwrap();
    cpe.after_session(&s).await;
    acs.take();
    cpe.session(&s).await.unwrap();
    let msgs = posted(&acs.take());
    match &msgs[1].as_ref().unwrap().body {
        Body::TransferComplete(tc) => {
            assert_eq!(tc.command_key, "dl-2");
            assert_eq!(tc.fault_struct.fault_code.0, 9018);
        }
        other => panic!("expected TransferComplete, got {other:?}"),
    }
}

#[tokio::test]
async fn factory_reset_bootstraps_with_defaults_and_schedule_inform_is_remembered() {
    let acs = FakeAcs::start().await;
    let s = settings(&acs, &[]);
    let cpe = one_device(&s);
    acs.script([
        periodic_interval(77, "k"),
        Body::FactoryReset(cwmp::FactoryReset),
    ]);
    cpe.session(&s).await.unwrap();
    acs.take();
    assert!(cpe.after_session(&s).await);
    assert_ne!(
        cpe.state()
            .device
            .get("Device.ManagementServer.PeriodicInformInterval"),
        Some("77")
    );
    cpe.session(&s).await.unwrap();
    let inform = inform_of(&posted(&acs.take())[0]);
    assert_eq!(
        events(&inform),
        [
            ("0 BOOTSTRAP".into(), "".into()),
            ("1 BOOT".into(), "".into())
        ]
    );
    assert_eq!(param(&inform, "Device.ManagementServer.ParameterKey"), "");

    acs.script([Body::ScheduleInform(cwmp::ScheduleInform {
        delay_seconds: 60,
        command_key: "si".to_owned(),
    })]);
    cpe.session(&s).await.unwrap();
    assert!(!cpe.after_session(&s).await);
    assert_eq!(cpe.state().scheduled.len(), 1);
    assert_eq!(cpe.state().scheduled[0].1, "si");
}

#[tokio::test]
async fn injected_faults_replace_the_answer() {
    let acs = FakeAcs::start().await;
    let mut s = settings(&acs, &[]);
    s.faults.add("spv=9002").unwrap();
    let cpe = one_device(&s);
    acs.script([periodic_interval(600, "k")]);
    cpe.session(&s).await.unwrap();
    let msgs = posted(&acs.take());
    assert_eq!(fault_code(&msgs[2]).0, 9002);
    assert_eq!(cpe.state().device.parameter_key(), "");
}

#[tokio::test]
async fn digest_challenge_is_answered_and_cookies_last_one_session() {
    let acs = FakeAcs::start().await;
    let s = settings(&acs, &[]);
    let cpe = one_device(&s);
    let (user, password) = {
        let st = cpe.state();
        let get = |n: &str| st.device.get(n).unwrap().to_owned();
        (
            get("Device.ManagementServer.Username"),
            get("Device.ManagementServer.Password"),
        )
    };
    acs.require_digest(&user, &password);
    acs.set_cookie("session=abc123; Path=/acs; HttpOnly");
    acs.script([Body::GetRpcMethods(cwmp::GetRpcMethods)]);
    cpe.session(&s).await.unwrap();
    let seen = acs.take();
    assert_eq!(
        seen.len(),
        4,
        "Inform, Inform with Authorization, empty POST, GetRPCMethodsResponse"
    );
    assert!(seen[0].header("authorization").is_none());
    assert!(
        seen[1]
            .header("authorization")
            .unwrap()
            .starts_with("Digest ")
    );
    assert!(seen[1].header("cookie").is_none());
    for later in &seen[2..] {
        assert_eq!(later.header("cookie"), Some("session=abc123"));
        assert!(
            later.header("authorization").is_some(),
            "credentials on every POST of the session"
        );
    }
    assert_eq!(
        seen[0].connection, seen[3].connection,
        "one connection for the session"
    );
    // Cookies do not survive the session.
    cpe.queue_event("2 PERIODIC", "");
    cpe.session(&s).await.unwrap();
    let seen = acs.take();
    assert!(seen[0].header("cookie").is_none());
}

#[tokio::test]
async fn quirks_are_visible_on_the_wire() {
    let acs = FakeAcs::start().await;
    let s = settings(
        &acs,
        &[
            "no-header",
            "iso-8859-1",
            "chunked",
            "reconnect-per-message",
            "zero-padded-arrays",
        ],
    );
    let cpe = one_device(&s);
    acs.script([Body::GetRpcMethods(cwmp::GetRpcMethods)]);
    cpe.session(&s).await.unwrap();
    let seen = acs.take();
    let inform = &seen[0];
    let text = String::from_utf8_lossy(&inform.body);
    assert!(!text.contains("Header>"), "no SOAP Header: {text}");
    assert!(
        text.contains("EventStruct[0002]"),
        "zero-padded arrays: {text}"
    );
    assert_eq!(
        inform.header("content-type"),
        Some("text/xml; charset=ISO-8859-1")
    );
    assert!(text.contains("encoding=\"ISO-8859-1\""));
    assert_eq!(inform.header("transfer-encoding"), Some("chunked"));
    assert!(inform.header("content-length").is_none());
    assert_eq!(inform.header("connection"), Some("close"));
    let connections: Vec<usize> = seen.iter().map(|r| r.connection).collect();
    let mut distinct = connections.clone();
    distinct.dedup();
    assert_eq!(
        distinct, connections,
        "a new connection for every POST: {connections:?}"
    );
    assert!(matches!(inform_of(&posted(&seen)[..1][0]).event.len(), 2));
}

#[tokio::test]
async fn cwmp_versions_set_namespace_and_headers() {
    let acs = FakeAcs::start().await;
    for (version, ns, timeout, supported) in [
        (
            cwmp::CwmpVersion::V1_1,
            cwmp::Namespace::Cwmp11,
            false,
            false,
        ),
        (
            cwmp::CwmpVersion::V1_3,
            cwmp::Namespace::Cwmp12,
            true,
            false,
        ),
        (cwmp::CwmpVersion::V1_4, cwmp::Namespace::Cwmp12, true, true),
    ] {
        let mut s = settings(&acs, &[]);
        s.version = version;
        let cpe = one_device(&s);
        cpe.session(&s).await.unwrap();
        let msgs = posted(&acs.take());
        let inform = msgs[0].as_ref().unwrap();
        assert_eq!(inform.namespace, ns);
        assert_eq!(
            inform.header.session_timeout.is_some(),
            timeout,
            "{version}"
        );
        assert_eq!(
            inform.header.supported_cwmp_versions.is_some(),
            supported,
            "{version}"
        );
        assert_eq!(inform.version(), version);
    }
}

#[tokio::test]
async fn objects_attributes_and_upload_on_the_wire() {
    let acs = FakeAcs::start().await;
    let s = settings(&acs, &[]);
    let cpe = one_device(&s);
    let table = "Device.DeviceInfo.Location.";
    let name = "Device.ManagementServer.PeriodicInformInterval";
    acs.script([
        Body::AddObject(cwmp::AddObject {
            object_name: table.to_owned(),
            parameter_key: "add".to_owned(),
        }),
        Body::DeleteObject(cwmp::DeleteObject {
            object_name: format!("{table}2."),
            parameter_key: "del".to_owned(),
        }),
        Body::DeleteObject(cwmp::DeleteObject {
            object_name: format!("{table}2."),
            parameter_key: "again".to_owned(),
        }),
        Body::SetParameterAttributes(cwmp::SetParameterAttributes {
            parameter_list: vec![cwmp::SetParameterAttributesStruct {
                name: name.to_owned(),
                notification_change: true,
                notification: 2,
                access_list_change: false,
                access_list: Vec::new(),
            }],
        }),
        Body::GetParameterAttributes(cwmp::GetParameterAttributes {
            parameter_names: vec![name.to_owned()],
        }),
        Body::Upload(cwmp::Upload {
            command_key: "up".to_owned(),
            file_type: "1 Vendor Configuration File".to_owned(),
            url: format!("{}/upload/cfg", acs.base),
            ..cwmp::Upload::default()
        }),
    ]);
    cpe.session(&s).await.unwrap();
    let msgs = posted(&acs.take());
    assert!(
        matches!(&msgs[2].as_ref().unwrap().body, Body::AddObjectResponse(r) if r.instance_number == 2)
    );
    assert!(
        matches!(&msgs[3].as_ref().unwrap().body, Body::DeleteObjectResponse(r) if r.status == 0)
    );
    assert_eq!(fault_code(&msgs[4]).0, 9005, "the instance is gone");
    assert!(matches!(
        msgs[5].as_ref().unwrap().body,
        Body::SetParameterAttributesResponse(_)
    ));
    match &msgs[6].as_ref().unwrap().body {
        Body::GetParameterAttributesResponse(r) => assert_eq!(r.parameter_list[0].notification, 2),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        msgs[7].as_ref().unwrap().body,
        Body::UploadResponse(_)
    ));
    assert_eq!(cpe.state().device.parameter_key(), "del");

    assert!(cpe.after_session(&s).await);
    let put = acs
        .take()
        .into_iter()
        .find(|r| r.method == "PUT")
        .expect("the file was uploaded");
    assert_eq!(put.path, "/upload/cfg");
    assert!(String::from_utf8_lossy(&put.body).contains("Device.DeviceInfo.SerialNumber=T0000"));
    cpe.session(&s).await.unwrap();
    let msgs = posted(&acs.take());
    let ev = events(&inform_of(&msgs[0]));
    assert!(ev.contains(&("M Upload".into(), "up".into())), "{ev:?}");
    assert!(
        matches!(&msgs[1].as_ref().unwrap().body, Body::TransferComplete(tc) if tc.command_key == "up" && tc.fault_struct.fault_code.0 == 0)
    );
}
