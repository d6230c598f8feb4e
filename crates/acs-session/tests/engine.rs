//! The session state machine fed message by message over an in-memory backend: no sockets,
//! no database. Each case asserts on what the CPE receives and what the store holds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use acs_session::engine::{
    BackendResult, Engine, EngineConfig, Metrics, Reply, RequestContext, Session, SessionBackend,
};
use acs_session::task::TaskSpec;
use acs_store::{
    Device, DevicePassword, DeviceType, FirmwareImage, Inform, InformOutcome, ParameterValue, Task,
    TaskOutcome, TaskState,
};
use chrono::{DateTime, TimeZone, Utc};
use cwmp::{Body, Decoded};
use sqlx::types::Json;

#[derive(Default)]
struct Fake {
    informs: Vec<Inform>,
    inactive: bool,
    leases: HashMap<String, String>,
    /// When each lease runs out, as last taken or renewed.
    lease_until: HashMap<String, DateTime<Utc>>,
    tasks: Vec<Task>,
    params: HashMap<String, String>,
    firmware_applied: bool,
}

#[derive(Clone, Default)]
struct FakeBackend(Arc<Mutex<Fake>>);

impl FakeBackend {
    fn with<R>(&self, f: impl FnOnce(&mut Fake) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }

    fn queue(&self, spec: TaskSpec, key: &str) -> i64 {
        let (kind, payload) = spec.to_parts();
        self.with(|s| {
            let id = s.tasks.len() as i64 + 1;
            s.tasks.push(Task {
                id,
                device_id: 1,
                command_key: key.to_owned(),
                kind: kind.to_owned(),
                payload: Json(payload),
                setting_group: kind.to_owned(),
                state: TaskState::Pending,
                attempts: 0,
                next_attempt_at: t(0),
                claimed_by: None,
                claim_expires_at: None,
                fault_code: None,
                fault_string: None,
                created: t(0),
                updated: t(0),
            });
            id
        })
    }

    fn task(&self, id: i64) -> Task {
        self.with(|s| s.tasks[id as usize - 1].clone())
    }
}

fn apply(task: &mut Task, outcome: &TaskOutcome) {
    match outcome {
        TaskOutcome::Done => task.state = TaskState::Done,
        TaskOutcome::Release => {
            task.state = TaskState::Pending;
            task.claimed_by = None;
        }
        TaskOutcome::AwaitEvent { .. } => {}
        TaskOutcome::Fault {
            code,
            string,
            retryable,
        } => {
            task.fault_code = Some(*code);
            task.fault_string = Some(string.clone());
            task.state = if *retryable && task.attempts < 5 {
                TaskState::Pending
            } else {
                TaskState::Failed
            };
            // backoff: not due again in this test's time
            task.next_attempt_at = t(10_000);
        }
    }
}

impl SessionBackend for FakeBackend {
    async fn inform(&self, inform: Inform) -> BackendResult<InformOutcome> {
        self.with(|s| {
            for p in &inform.parameters {
                s.params.insert(p.path.clone(), p.value.clone());
            }
            s.informs.push(inform);
            Ok(if s.inactive {
                InformOutcome::Inactive { device_id: 1 }
            } else {
                InformOutcome::Accepted {
                    device_id: 1,
                    created: false,
                    came_up: false,
                }
            })
        })
    }
    async fn acquire_lease(
        &self,
        serial: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> BackendResult<bool> {
        self.with(|s| match s.leases.get(serial) {
            Some(h) if h != holder => Ok(false),
            _ => {
                s.leases.insert(serial.to_owned(), holder.to_owned());
                s.lease_until.insert(
                    serial.to_owned(),
                    now + chrono::Duration::from_std(ttl).unwrap(),
                );
                Ok(true)
            }
        })
    }
    async fn release_lease(&self, serial: &str, holder: &str) -> BackendResult<()> {
        self.with(|s| {
            if s.leases.get(serial).map(String::as_str) == Some(holder) {
                s.leases.remove(serial);
            }
            Ok(())
        })
    }
    async fn claim_next_task(
        &self,
        _: i64,
        holder: &str,
        now: DateTime<Utc>,
        _: Duration,
    ) -> BackendResult<Option<Task>> {
        self.with(|s| {
            let t = s
                .tasks
                .iter_mut()
                .find(|t| t.state == TaskState::Pending && t.next_attempt_at <= now);
            Ok(t.map(|t| {
                t.state = TaskState::InFlight;
                t.attempts += 1;
                t.claimed_by = Some(holder.to_owned());
                t.clone()
            }))
        })
    }
    async fn settle_task(
        &self,
        id: i64,
        _: &str,
        outcome: TaskOutcome,
        _: DateTime<Utc>,
    ) -> BackendResult<()> {
        self.with(|s| apply(&mut s.tasks[id as usize - 1], &outcome));
        Ok(())
    }
    async fn settle_by_command_key(
        &self,
        _: i64,
        key: &str,
        outcome: TaskOutcome,
        _: DateTime<Utc>,
    ) -> BackendResult<Option<Task>> {
        self.with(|s| {
            let t = s
                .tasks
                .iter_mut()
                .find(|t| t.command_key == key && t.state == TaskState::InFlight);
            Ok(t.map(|t| {
                apply(t, &outcome);
                t.clone()
            }))
        })
    }
    async fn open_tasks(&self, _: i64) -> BackendResult<Vec<Task>> {
        self.with(|s| {
            Ok(s.tasks
                .iter()
                .filter(|t| matches!(t.state, TaskState::Pending | TaskState::InFlight))
                .cloned()
                .collect())
        })
    }
    async fn device(&self, _: i64) -> BackendResult<Option<Device>> {
        Ok(None)
    }
    async fn device_password(&self, _: i64) -> BackendResult<Option<DevicePassword>> {
        Ok(None)
    }
    async fn device_type(&self, _: i64) -> BackendResult<Option<DeviceType>> {
        Ok(None)
    }
    async fn firmware_image(&self, id: i64) -> BackendResult<Option<FirmwareImage>> {
        Ok(Some(FirmwareImage {
            id,
            version: "2.0".into(),
            file_name: "fw-2.0.bin".into(),
            size: 1234,
            sha256: "ab".repeat(32),
            device_type_id: None,
            created: t(0),
        }))
    }
    async fn store_parameters(
        &self,
        _: i64,
        params: Vec<ParameterValue>,
        _: DateTime<Utc>,
    ) -> BackendResult<()> {
        self.with(|s| {
            for p in params {
                s.params.insert(p.path, p.value);
            }
        });
        Ok(())
    }
    async fn clear_parameters(&self, _: i64) -> BackendResult<()> {
        self.with(|s| s.params.clear());
        Ok(())
    }
    async fn firmware_applied(&self, _: &str, _: DateTime<Utc>) -> BackendResult<()> {
        self.with(|s| s.firmware_applied = true);
        Ok(())
    }
}

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

struct Check {
    engine: Engine<FakeBackend>,
    backend: FakeBackend,
    session: Session,
}

fn setup() -> Check {
    let backend = FakeBackend::default();
    let config = EngineConfig {
        public_cwmp_url: Some("http://acs.test:7547".into()),
        ..EngineConfig::default()
    };
    let engine = Engine::new(backend.clone(), config, Arc::new(Metrics::default()));
    Check {
        engine,
        backend,
        session: Session::new("s1".into(), "node", t(0)),
    }
}

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../../shared/cwmp/corpus/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn envelope(body: &str) -> Vec<u8> {
    format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Header><cwmp:ID soap:mustUnderstand="1">7</cwmp:ID></soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"#
    )
    .into_bytes()
}

fn inform(events: &[(&str, &str)], parameter_key: &str) -> Vec<u8> {
    let ev: String = events
        .iter()
        .map(|(c, k)| {
            format!(
                "<EventStruct><EventCode>{c}</EventCode><CommandKey>{k}</CommandKey></EventStruct>"
            )
        })
        .collect();
    envelope(&format!(
        r#"<cwmp:Inform><DeviceId><Manufacturer>SimNet</Manufacturer><OUI>A1B2C3</OUI><ProductClass>SG</ProductClass><SerialNumber>SN1</SerialNumber></DeviceId><Event>{ev}</Event><MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2026-01-01T00:00:00Z</CurrentTime><RetryCount>0</RetryCount><ParameterList><ParameterValueStruct><Name>InternetGatewayDevice.ManagementServer.ParameterKey</Name><Value xsi:type="xsd:string">{parameter_key}</Value></ParameterValueStruct><ParameterValueStruct><Name>InternetGatewayDevice.DeviceInfo.SoftwareVersion</Name><Value xsi:type="xsd:string">1.0</Value></ParameterValueStruct></ParameterList></cwmp:Inform>"#
    ))
}

impl Check {
    async fn send(&mut self, bytes: &[u8], at: i64) -> Reply {
        let decoded = cwmp::decode(bytes, Some("text/xml")).expect("decodes");
        self.engine
            .handle(
                &mut self.session,
                decoded,
                &RequestContext::default(),
                t(at),
            )
            .await
    }

    async fn empty(&mut self, at: i64) -> Reply {
        self.engine
            .handle(
                &mut self.session,
                Decoded::EmptyBody,
                &RequestContext::default(),
                t(at),
            )
            .await
    }
}

fn body_of(reply: &Reply) -> Body {
    let Reply::Envelope(bytes) = reply else {
        panic!("expected an envelope, got {reply:?}")
    };
    match cwmp::decode(bytes, Some("text/xml")).unwrap() {
        Decoded::Envelope(e) => e.body,
        Decoded::EmptyBody => panic!("empty"),
    }
}

#[tokio::test]
async fn inform_then_empty_post_ends_with_204() {
    let mut c = setup();
    let r = c.send(&corpus("zyxel_p-2601hn-f1_inform.xml"), 0).await;
    assert!(matches!(body_of(&r), Body::InformResponse(ref i) if i.max_envelopes == 1));
    let Reply::Envelope(bytes) = &r else { panic!() };
    assert!(bytes.starts_with(b"<?xml"));
    assert!(String::from_utf8_lossy(bytes).contains("urn:dslforum-org:cwmp-1-0"));
    assert_eq!(c.backend.with(|s| s.informs.len()), 1);
    assert_eq!(c.empty(1).await, Reply::NoContent);
    assert!(
        c.backend.with(|s| s.leases.is_empty()),
        "lease released at 204"
    );
}

#[tokio::test]
async fn every_corpus_inform_is_answered() {
    for name in [
        "cavium_oc-lte-enb_inform.xml",
        "cytco_bcm-serials_inform.xml",
        "motorola_vap2404e_inform.xml",
        "sagemcom_router-hgw4_inform.xml",
        "thomson_speedtouch706_inform.xml",
        "thomson_speedtouch780_inform-bootstrap.xml",
        "zhone_6718_inform.xml",
        "zte_f600w_inform.xml",
        "zyxel_p-2601hn-f1_inform-nomorerequests.xml",
        "zyxel_vmg8924-b10a_inform.xml",
    ] {
        let mut c = setup();
        let r = c.send(&corpus(name), 0).await;
        assert!(matches!(body_of(&r), Body::InformResponse(_)), "{name}");
        assert_eq!(c.empty(1).await, Reply::NoContent, "{name}");
    }
}

#[tokio::test]
async fn cpe_requests_before_the_empty_post() {
    let mut c = setup();
    c.send(&inform(&[("2 PERIODIC", "")], ""), 0).await;
    let r = c
        .send(&corpus("zhone_6718_getrpcmethods-cpe-to-acs.xml"), 1)
        .await;
    let Body::GetRpcMethodsResponse(m) = body_of(&r) else {
        panic!()
    };
    assert!(m.method_list.iter().any(|x| x == "TransferComplete"));
    let r = c.send(&envelope("<cwmp:RequestDownload><FileType>1 Firmware Upgrade Image</FileType></cwmp:RequestDownload>"), 2).await;
    assert!(matches!(body_of(&r), Body::RequestDownloadResponse(_)));
    let r = c.send(&envelope("<cwmp:X_VENDOR_Thing/>"), 3).await;
    let Body::Fault(f) = body_of(&r) else {
        panic!()
    };
    assert_eq!(f.code(), Some(cwmp::FaultCode(8000)));
}

#[tokio::test]
async fn reboot_is_sent_then_completed_by_boot_events() {
    let mut c = setup();
    let id = c.backend.queue(TaskSpec::Reboot {}, "key-reboot");
    c.send(&inform(&[("2 PERIODIC", "")], ""), 0).await;
    let r = c.empty(1).await;
    let Body::Reboot(rb) = body_of(&r) else {
        panic!("{r:?}")
    };
    assert_eq!(rb.command_key, "key-reboot");
    assert_eq!(
        c.send(&envelope("<cwmp:RebootResponse/>"), 2).await,
        Reply::NoContent
    );
    assert_eq!(
        c.backend.task(id).state,
        TaskState::InFlight,
        "awaits the boot"
    );
    c.session = Session::new("s2".into(), "node", t(100));
    c.send(
        &inform(&[("1 BOOT", ""), ("M Reboot", "key-reboot")], ""),
        100,
    )
    .await;
    assert_eq!(c.backend.task(id).state, TaskState::Done);
}

#[tokio::test]
async fn spv_carries_the_task_key_and_one_rpc_goes_out_at_a_time() {
    let mut c = setup();
    let a = c
        .backend
        .queue(TaskSpec::UpdateFrequency { interval: 600 }, "k-a");
    let b = c.backend.queue(
        TaskSpec::Location {
            name: Some("Lab".into()),
            latitude: None,
            longitude: None,
        },
        "k-b",
    );
    c.send(&inform(&[("6 CONNECTION REQUEST", "")], ""), 0)
        .await;
    let Body::SetParameterValues(spv) = body_of(&c.empty(1).await) else {
        panic!()
    };
    assert_eq!(spv.parameter_key, "k-a");
    assert!(spv.parameter_list.iter().any(|p| p.name
        == "InternetGatewayDevice.ManagementServer.PeriodicInformInterval"
        && p.value.raw == "600"));
    assert_eq!(
        c.backend.task(b).state,
        TaskState::Pending,
        "second task not claimed yet"
    );
    let r = c.send(&envelope("<cwmp:SetParameterValuesResponse><Status>0</Status></cwmp:SetParameterValuesResponse>"), 2).await;
    assert_eq!(
        c.backend.task(a).state,
        TaskState::Done,
        "settled before the next RPC"
    );
    let Body::SetParameterValues(spv) = body_of(&r) else {
        panic!()
    };
    assert_eq!(
        spv.parameter_list[0].name,
        "InternetGatewayDevice.X_ACS_Location.Name"
    );
    let r = c
        .send(
            &corpus("thomson_speedtouch780_setparametervaluesfault-9003.xml"),
            3,
        )
        .await;
    assert_eq!(r, Reply::NoContent);
    let tb = c.backend.task(b);
    assert_eq!((tb.state, tb.fault_code), (TaskState::Failed, Some(9003)));
}

#[tokio::test]
async fn parameter_key_in_the_next_inform_settles_an_interrupted_spv() {
    let mut c = setup();
    let a = c
        .backend
        .queue(TaskSpec::UpdateFrequency { interval: 60 }, "k-a");
    c.send(&inform(&[("2 PERIODIC", "")], ""), 0).await;
    assert!(matches!(
        body_of(&c.empty(1).await),
        Body::SetParameterValues(_)
    ));
    // the connection dies here; the CPE applied the change and informs again
    c.session = Session::new("s2".into(), "node", t(50));
    c.backend.with(|s| s.leases.clear());
    c.send(&inform(&[("4 VALUE CHANGE", "")], "k-a"), 50).await;
    assert_eq!(c.backend.task(a).state, TaskState::Done);
}

#[tokio::test]
async fn a_retryable_fault_returns_the_task_to_pending_with_the_fault() {
    let mut c = setup();
    let a = c.backend.queue(TaskSpec::FactoryReset {}, "k");
    c.send(&inform(&[("2 PERIODIC", "")], ""), 0).await;
    assert!(matches!(body_of(&c.empty(1).await), Body::FactoryReset(_)));
    let fault = envelope(
        "<soap:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring><detail>\
         <cwmp:Fault><FaultCode>9002</FaultCode><FaultString>busy</FaultString></cwmp:Fault>\
         </detail></soap:Fault>",
    );
    let r = c.send(&fault, 2).await;
    assert_eq!(r, Reply::NoContent);
    let t = c.backend.task(a);
    assert_eq!(
        (t.state, t.fault_code, t.fault_string.as_deref()),
        (TaskState::Pending, Some(9002), Some("busy"))
    );
}

#[tokio::test]
async fn bootstrap_completes_a_factory_reset_and_clears_parameters() {
    let mut c = setup();
    let a = c.backend.queue(TaskSpec::FactoryReset {}, "k");
    c.backend.with(|s| {
        s.params
            .insert("InternetGatewayDevice.Old".into(), "x".into())
    });
    c.send(&inform(&[("2 PERIODIC", "")], ""), 0).await;
    c.empty(1).await;
    assert_eq!(
        c.send(&envelope("<cwmp:FactoryResetResponse/>"), 2).await,
        Reply::NoContent
    );
    c.session = Session::new("s2".into(), "node", t(60));
    c.send(&inform(&[("0 BOOTSTRAP", ""), ("1 BOOT", "")], ""), 60)
        .await;
    assert_eq!(c.backend.task(a).state, TaskState::Done);
    assert!(
        !c.backend
            .with(|s| s.params.contains_key("InternetGatewayDevice.Old"))
    );
    assert!(c.backend.with(|s| {
        s.params
            .contains_key("InternetGatewayDevice.DeviceInfo.SoftwareVersion")
    }));
}

#[tokio::test]
async fn firmware_download_names_the_file_url_and_transfer_complete_settles_it() {
    let mut c = setup();
    let a = c
        .backend
        .queue(TaskSpec::Firmware { firmware_image: 3 }, "k-fw");
    c.send(&inform(&[("2 PERIODIC", "")], ""), 0).await;
    let Body::Download(d) = body_of(&c.empty(1).await) else {
        panic!()
    };
    assert_eq!(d.url, "http://acs.test:7547/files/firmware/fw-2.0.bin");
    assert_eq!(
        (d.file_type.as_str(), d.file_size, d.command_key.as_str()),
        ("1 Firmware Upgrade Image", 1234, "k-fw")
    );
    let resp = "<cwmp:DownloadResponse><Status>1</Status><StartTime>0001-01-01T00:00:00Z</StartTime><CompleteTime>0001-01-01T00:00:00Z</CompleteTime></cwmp:DownloadResponse>";
    assert_eq!(c.send(&envelope(resp), 2).await, Reply::NoContent);
    assert_eq!(c.backend.task(a).state, TaskState::InFlight);
    c.session = Session::new("s2".into(), "node", t(300));
    c.send(
        &inform(&[("7 TRANSFER COMPLETE", ""), ("M Download", "k-fw")], ""),
        300,
    )
    .await;
    let tc = "<cwmp:TransferComplete><CommandKey>k-fw</CommandKey><FaultStruct><FaultCode>0</FaultCode><FaultString></FaultString></FaultStruct><StartTime>2026-01-01T00:00:00Z</StartTime><CompleteTime>2026-01-01T00:01:00Z</CompleteTime></cwmp:TransferComplete>";
    let r = c.send(&envelope(tc), 301).await;
    assert!(matches!(body_of(&r), Body::TransferCompleteResponse(_)));
    assert_eq!(c.backend.task(a).state, TaskState::Done);
    assert!(c.backend.with(|s| s.firmware_applied));
}

#[tokio::test]
async fn sync_walks_names_then_values_in_batches() {
    let mut c = setup();
    let a = c.backend.queue(TaskSpec::Sync {}, "k-sync");
    c.send(&inform(&[("2 PERIODIC", "")], ""), 0).await;
    let Body::GetParameterNames(g) = body_of(&c.empty(1).await) else {
        panic!()
    };
    assert_eq!(
        (g.parameter_path.as_str(), g.next_level),
        ("InternetGatewayDevice.", false)
    );
    let r = c
        .send(
            &corpus("thomson_speedtouch780_getparameternamesresponse-huge.xml"),
            2,
        )
        .await;
    let Body::GetParameterValues(v) = body_of(&r) else {
        panic!("{r:?}")
    };
    assert_eq!(v.parameter_names.len(), 100);
    assert!(v.parameter_names.iter().all(|n| !n.ends_with('.')));
    assert_eq!(c.backend.task(a).state, TaskState::InFlight);
}

#[tokio::test]
async fn a_second_session_for_the_same_device_is_refused() {
    let mut c = setup();
    c.send(&inform(&[("2 PERIODIC", "")], ""), 0).await;
    let mut other = Session::new("s9".into(), "node", t(1));
    let d = cwmp::decode(&inform(&[("2 PERIODIC", "")], ""), None).unwrap();
    let r = c
        .engine
        .handle(&mut other, d, &RequestContext::default(), t(1))
        .await;
    assert!(matches!(r, Reply::Busy { .. }));
}

#[tokio::test]
async fn an_inactive_device_is_refused_cleanly() {
    let mut c = setup();
    c.backend.with(|s| s.inactive = true);
    assert_eq!(
        c.send(&inform(&[("2 PERIODIC", "")], ""), 0).await,
        Reply::Refused
    );
    assert!(c.backend.with(|s| s.leases.is_empty()));
}

#[tokio::test]
async fn ending_a_session_returns_its_in_flight_task() {
    let mut c = setup();
    let a = c.backend.queue(TaskSpec::Reboot {}, "k");
    c.send(&inform(&[("2 PERIODIC", "")], ""), 0).await;
    c.empty(1).await;
    assert_eq!(c.backend.task(a).state, TaskState::InFlight);
    c.engine.end(&mut c.session, t(40)).await;
    assert_eq!(c.backend.task(a).state, TaskState::Pending);
    assert!(c.backend.with(|s| s.leases.is_empty()));
}

#[tokio::test]
async fn messages_before_an_inform_are_refused() {
    let mut c = setup();
    assert!(matches!(c.empty(0).await, Reply::BadRequest(_)));
}

#[tokio::test]
async fn a_long_session_renews_its_lease_past_half_its_term() {
    let mut c = setup();
    c.backend.queue(TaskSpec::Sync {}, "k-sync");
    let lease = |c: &Check| c.backend.with(|s| s.lease_until.get("SN1").copied());
    c.send(&inform(&[("2 PERIODIC", "")], ""), 0).await;
    assert_eq!(
        lease(&c),
        Some(t(60)),
        "taken for twice the session timeout"
    );
    // the claim of the sync task renews it
    let Body::GetParameterNames(_) = body_of(&c.empty(1).await) else {
        panic!()
    };
    assert_eq!(lease(&c), Some(t(61)));
    // a follow-up step inside the first half of the term writes nothing
    let huge = corpus("thomson_speedtouch780_getparameternamesresponse-huge.xml");
    let Body::GetParameterValues(_) = body_of(&c.send(&huge, 20).await) else {
        panic!()
    };
    assert_eq!(lease(&c), Some(t(61)));
    // past half its term, the next message renews it
    let values = envelope(
        r#"<cwmp:GetParameterValuesResponse><ParameterList><ParameterValueStruct><Name>InternetGatewayDevice.DeviceSummary</Name><Value xsi:type="xsd:string">x</Value></ParameterValueStruct></ParameterList></cwmp:GetParameterValuesResponse>"#,
    );
    let Body::GetParameterValues(_) = body_of(&c.send(&values, 31).await) else {
        panic!()
    };
    assert_eq!(lease(&c), Some(t(91)));
}
