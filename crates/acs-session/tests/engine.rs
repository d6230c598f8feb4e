//! The session state machine fed message by message over an in-memory backend: no sockets,
//! no database. Each case asserts on what the CPE receives and what the store holds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use acs_session::engine::{
    BackendResult, Engine, EngineConfig, Metrics, Reply, Session, SessionBackend,
};
use acs_session::task::{DuOperation, TaskSpec, TimeWindow};
use acs_store::{
    CrProvision, Device, DevicePassword, DeviceStatus, DeviceType, DeviceTypeProfile,
    FirmwareImage, Inform, InformOutcome, NewTask, ParameterValue, Task, TaskOutcome, TaskState,
};
use chrono::{DateTime, TimeZone, Utc};
use cwmp::{Body, Decoded};
use sqlx::types::Json;

mod support;
use support::{body_of, decoded, post};

#[derive(Default)]
struct Fake {
    informs: Vec<Inform>,
    inactive: bool,
    /// The Inform names another OUI/ProductClass than the device on record.
    other_identity: bool,
    /// The device is in debug mode.
    debug: bool,
    leases: HashMap<String, String>,
    /// When each lease runs out, as last taken or renewed.
    lease_until: HashMap<String, DateTime<Utc>>,
    tasks: Vec<Task>,
    params: HashMap<String, String>,
    /// The device's type profile; `None`: a device without a type.
    profile: Option<DeviceTypeProfile>,
    /// Store reads of device types (the engine caches them).
    type_reads: usize,
    /// Store reads of the device row.
    device_reads: usize,
    /// Store reads of the last done task of a kind (the CPE's method list).
    last_done_reads: usize,
    /// The connection-request pair on record (the device row's `username`/`password`).
    cr_username: Option<String>,
    cr_password: Option<DevicePassword>,
    /// Pairs offered in SetParameterValues, by ParameterKey.
    cr_offers: Vec<(String, String, Option<DevicePassword>)>,
    /// The pair the CPE accepted (what connection requests use).
    cr_accepted: Option<(String, Option<DevicePassword>)>,
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
                result: None,
                created: t(0),
                updated: t(0),
                unanswered: 0,
                accepted_at: None,
            });
            id
        })
    }

    fn task(&self, id: i64) -> Task {
        self.with(|s| s.tasks[id as usize - 1].clone())
    }
}

/// What the store does to a task settled with `outcome` at `now`.
fn apply(task: &mut Task, outcome: &TaskOutcome, now: DateTime<Utc>) {
    match outcome {
        TaskOutcome::Done => task.state = TaskState::Done,
        TaskOutcome::Release => {
            task.state = TaskState::Pending;
            task.claimed_by = None;
        }
        TaskOutcome::Unanswered => {
            task.unanswered += 1;
            task.claimed_by = None;
            task.state = if task.unanswered >= acs_store::MAX_UNANSWERED {
                task.fault_string = Some(format!(
                    "the session ended {} times right after this RPC was sent",
                    task.unanswered
                ));
                TaskState::Failed
            } else {
                TaskState::Pending
            };
        }
        TaskOutcome::AwaitEvent { until } => {
            task.claim_expires_at = Some(*until);
            task.accepted_at = Some(now);
        }
        TaskOutcome::Reported { result, fault } => {
            task.result = Some(Json(result.clone()));
            task.state = TaskState::Done;
            if let Some((code, string)) = fault {
                task.fault_code = Some(*code);
                task.fault_string = Some(string.clone());
                task.state = TaskState::Failed;
            }
        }
        TaskOutcome::Cancelled { reason } => {
            task.fault_code = None;
            task.fault_string = Some(reason.clone());
            task.state = TaskState::Cancelled;
        }
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
            } else if s.other_identity {
                InformOutcome::IdentityConflict {
                    device_id: 1,
                    oui: Some("00D09E".into()),
                    product_class: Some("IGD".into()),
                }
            } else {
                InformOutcome::Accepted {
                    device_id: 1,
                    created: false,
                    came_up: false,
                    // as `device` reports it
                    type_id: s.profile.is_some().then_some(7),
                    debug: s.debug,
                    has_cr_username: s.cr_username.is_some(),
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
        ttl: Duration,
    ) -> BackendResult<Option<Task>> {
        // as the store: a due pending task, or an in-flight one whose claim ran out before
        // the CPE accepted it (an accepted one waits for its event, never claimed again)
        self.with(|s| {
            let t = s.tasks.iter_mut().find(|t| match t.state {
                TaskState::Pending => t.next_attempt_at <= now,
                TaskState::InFlight => {
                    t.accepted_at.is_none() && t.claim_expires_at.is_some_and(|until| until <= now)
                }
                _ => false,
            });
            Ok(t.map(|t| {
                t.state = TaskState::InFlight;
                t.attempts += 1;
                t.claimed_by = Some(holder.to_owned());
                t.claim_expires_at = Some(now + chrono::Duration::from_std(ttl).unwrap());
                t.clone()
            }))
        })
    }
    async fn settle_task(
        &self,
        id: i64,
        _: &str,
        outcome: TaskOutcome,
        now: DateTime<Utc>,
    ) -> BackendResult<()> {
        // as the store: only an in-flight task is settled (a TransferComplete may have
        // settled it already)
        self.with(|s| {
            let task = &mut s.tasks[id as usize - 1];
            if task.state == TaskState::InFlight {
                apply(task, &outcome, now);
            }
        });
        Ok(())
    }
    async fn settle_by_command_key(
        &self,
        _: i64,
        key: &str,
        outcome: TaskOutcome,
        now: DateTime<Utc>,
    ) -> BackendResult<Option<Task>> {
        // as the store: an open task whose RPC went out
        self.with(|s| {
            let t = s.tasks.iter_mut().find(|t| {
                t.command_key == key
                    && (t.state == TaskState::InFlight
                        || (t.state == TaskState::Pending && t.attempts > 0))
            });
            Ok(t.map(|t| {
                apply(t, &outcome, now);
                t.clone()
            }))
        })
    }
    async fn last_done_task(&self, _: i64, kind: &str) -> BackendResult<Option<Task>> {
        self.with(|s| {
            s.last_done_reads += 1;
            Ok(s.tasks
                .iter()
                .rev()
                .find(|t| t.kind == kind && t.state == TaskState::Done)
                .cloned())
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
    async fn device(&self, id: i64) -> BackendResult<Option<Device>> {
        Ok(self.with(|s| {
            s.device_reads += 1;
            (s.profile.is_some() || s.cr_username.is_some()).then(|| Device {
                username: s.cr_username.clone(),
                has_password: s.cr_password.is_some(),
                ..typed_device(id, 7)
            })
        }))
    }
    async fn device_password(&self, _: i64) -> BackendResult<Option<DevicePassword>> {
        Ok(self.with(|s| s.cr_password.clone()))
    }
    async fn device_type(&self, id: i64) -> BackendResult<Option<DeviceType>> {
        self.with(|s| {
            s.type_reads += 1;
            Ok(s.profile.clone().map(|p| DeviceType {
                id,
                short_name: "t".into(),
                name: "Type".into(),
                data_model_root: "InternetGatewayDevice.".into(),
                profile: Json(p),
                created: t(0),
            }))
        })
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
    async fn provision_cr_credentials(
        &self,
        _: i64,
        generated: Option<(String, DevicePassword)>,
        task: NewTask,
        _: DateTime<Utc>,
    ) -> BackendResult<CrProvision> {
        // as the store: a generated pair only when none is on record, one open task at most
        let mut outcome = CrProvision::Queued;
        let open = self.with(|s| {
            if s.cr_username.is_none() {
                let (user, password) = generated?;
                s.cr_username = Some(user);
                s.cr_password = Some(password);
                outcome = CrProvision::Generated;
            }
            Some(s.tasks.iter().any(|t| {
                t.kind == task.kind && matches!(t.state, TaskState::Pending | TaskState::InFlight)
            }))
        });
        match open {
            None => Ok(CrProvision::NothingToSend),
            Some(true) if outcome == CrProvision::Generated => Ok(outcome),
            Some(true) => Ok(CrProvision::AlreadyQueued),
            Some(false) => {
                let key = format!("cr-{}", self.with(|s| s.tasks.len()));
                self.queue(
                    TaskSpec::from_parts(&task.kind, &task.payload).unwrap(),
                    &key,
                );
                Ok(outcome)
            }
        }
    }
    async fn offer_cr_credentials(
        &self,
        _: i64,
        command_key: &str,
        username: &str,
        password: Option<DevicePassword>,
    ) -> BackendResult<()> {
        self.with(|s| {
            s.cr_offers
                .push((command_key.to_owned(), username.to_owned(), password))
        });
        Ok(())
    }
    async fn accept_cr_credentials(
        &self,
        _: i64,
        command_key: &str,
        _: DateTime<Utc>,
    ) -> BackendResult<bool> {
        self.with(|s| {
            let offer = s
                .cr_offers
                .iter()
                .rev()
                .find(|o| o.0 == command_key)
                .cloned();
            Ok(offer
                .map(|(_, user, password)| s.cr_accepted = Some((user, password)))
                .is_some())
        })
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
        // the provisioning cases turn it on: the others script their sessions' tasks
        provision_cr_credentials: false,
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
    support::envelope(body).into_bytes()
}

fn inform(events: &[(&str, &str)], parameter_key: &str) -> Vec<u8> {
    support::inform(events, parameter_key).into_bytes()
}

/// The Inform of a CWMP 1.2 CPE (namespace `cwmp-1-2`).
fn inform12(events: &[(&str, &str)], parameter_key: &str) -> Vec<u8> {
    support::inform(events, parameter_key)
        .replace("urn:dslforum-org:cwmp-1-0", "urn:dslforum-org:cwmp-1-2")
        .into_bytes()
}

impl Check {
    async fn send(&mut self, bytes: &[u8], at: i64) -> Reply {
        post(&self.engine, &mut self.session, decoded(bytes), t(at)).await
    }

    async fn empty(&mut self, at: i64) -> Reply {
        post(&self.engine, &mut self.session, Decoded::EmptyBody, t(at)).await
    }

    /// A periodic Inform at `at` and the empty POST a second later: the reply to the empty
    /// POST, the session's first RPC or its end.
    async fn periodic_session(&mut self, at: i64) -> Reply {
        self.send(&inform(&[("2 PERIODIC", "")], ""), at).await;
        self.empty(at + 1).await
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
    let r = c.periodic_session(0).await;
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

/// Issue 14: an accepted Reboot whose boot is never reported was sent again once its wait
/// ran out (the real store: `tests/engine_store.rs`).
#[tokio::test]
async fn a_reboot_whose_completion_is_never_reported_is_not_sent_a_second_time() {
    let mut c = setup();
    let id = c.backend.queue(TaskSpec::Reboot {}, "key-reboot");
    assert!(matches!(
        body_of(&c.periodic_session(0).await),
        Body::Reboot(_)
    ));
    c.send(&envelope("<cwmp:RebootResponse/>"), 2).await;
    assert_eq!(c.backend.task(id).accepted_at, Some(t(2)));
    for (n, at) in [3_700, 10_000, 100_000].into_iter().enumerate() {
        c.session = Session::new(format!("later{n}"), "node", t(at));
        assert_eq!(c.periodic_session(at).await, Reply::NoContent, "at {at} s");
    }
    assert_eq!(c.backend.task(id).attempts, 1);
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
    assert!(matches!(
        body_of(&c.periodic_session(0).await),
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
    assert!(matches!(
        body_of(&c.periodic_session(0).await),
        Body::FactoryReset(_)
    ));
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
    c.periodic_session(0).await;
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
    let Body::Download(d) = body_of(&c.periodic_session(0).await) else {
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
    // settling it done is all: the store clears `firmware_image_is_pending` in that write
    assert_eq!(c.backend.task(a).state, TaskState::Done);
}

#[tokio::test]
async fn sync_walks_names_then_values_in_batches() {
    let mut c = setup();
    let a = c.backend.queue(TaskSpec::Sync {}, "k-sync");
    let Body::GetParameterNames(g) = body_of(&c.periodic_session(0).await) else {
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
    let d = decoded(&inform(&[("2 PERIODIC", "")], ""));
    let r = post(&c.engine, &mut other, d, t(1)).await;
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
async fn an_inform_under_another_identity_is_refused_and_counted() {
    let mut c = setup();
    c.backend.with(|s| s.other_identity = true);
    assert_eq!(
        c.send(&inform(&[("2 PERIODIC", "")], ""), 0).await,
        Reply::IdentityConflict
    );
    assert!(!c.session.is_open());
    assert!(c.backend.with(|s| s.leases.is_empty()));
    assert_eq!(
        c.engine
            .metrics()
            .sessions_refused_identity
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

/// A session knows from its Inform's upsert whether its device is in debug mode, and names
/// the trace its messages go to, to its end; no store call is made for it.
#[tokio::test]
async fn a_debug_devices_session_names_its_trace() {
    let mut c = setup();
    c.send(&inform(&[("2 PERIODIC", "")], ""), 0).await;
    assert_eq!(c.session.debug_trace(), None);
    assert_eq!(c.empty(1).await, Reply::NoContent);

    c.backend.with(|s| s.debug = true);
    c.session = Session::new("s2".into(), "node", t(60));
    assert_eq!(c.session.debug_trace(), None, "not before the Inform");
    c.send(&inform(&[("2 PERIODIC", "")], ""), 60).await;
    let trace = acs_session::engine::DebugTrace {
        device_id: 1,
        session_started: t(60),
    };
    assert_eq!(c.session.debug_trace(), Some(trace));
    assert_eq!(c.empty(61).await, Reply::NoContent);
    assert_eq!(c.session.debug_trace(), Some(trace), "its last reply too");
    assert_eq!(c.backend.with(|s| s.device_reads), 0);
}

#[tokio::test]
async fn ending_a_session_returns_its_in_flight_task() {
    let mut c = setup();
    let a = c.backend.queue(TaskSpec::Reboot {}, "k");
    c.periodic_session(0).await;
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

/// One sample of the Prometheus text format: `name{labels} value`.
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// Parses the exposition strictly enough to catch a malformed line, and checks each
/// histogram family: cumulative buckets ending in `le="+Inf"` equal to `_count`, a `_sum`.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut histograms = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            if kind == "histogram" {
                histograms.push(name.to_owned());
            }
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (head, value) = line.rsplit_once(' ').expect("a sample line");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        let (name, labels) = match head.split_once('{') {
            None => (head, Vec::new()),
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').expect("closing brace");
                let labels = inner
                    .split(',')
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').expect("label=value");
                        let v = v
                            .strip_prefix('"')
                            .and_then(|v| v.strip_suffix('"'))
                            .expect("quoted label value");
                        (k.to_owned(), v.to_owned())
                    })
                    .collect();
                (name, labels)
            }
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    for h in &histograms {
        let bucket = format!("{h}_bucket");
        let mut series: Vec<Vec<(String, String)>> = Vec::new();
        for s in samples.iter().filter(|s| s.name == bucket) {
            let rest: Vec<_> = s
                .labels
                .iter()
                .filter(|(k, _)| k != "le")
                .cloned()
                .collect();
            if !series.contains(&rest) {
                series.push(rest);
            }
        }
        for labels in series {
            let buckets: Vec<&Sample> = samples
                .iter()
                .filter(|s| {
                    s.name == bucket
                        && s.labels
                            .iter()
                            .filter(|(k, _)| k != "le")
                            .cloned()
                            .collect::<Vec<_>>()
                            == labels
                })
                .collect();
            let mut last = 0.0;
            let mut last_le = f64::NEG_INFINITY;
            for b in &buckets {
                let le = &b.labels.iter().find(|(k, _)| k == "le").expect("le").1;
                let le: f64 = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("numeric le")
                };
                assert!(le > last_le, "{h}: le ascending");
                assert!(b.value >= last, "{h}: cumulative");
                last = b.value;
                last_le = le;
            }
            assert_eq!(last_le, f64::INFINITY, "{h}: ends with +Inf");
            let of = |suffix: &str| {
                samples
                    .iter()
                    .find(|s| s.name == format!("{h}{suffix}") && s.labels == labels)
                    .unwrap_or_else(|| panic!("{h}{suffix} {labels:?}"))
                    .value
            };
            assert_eq!(of("_count"), last, "{h}: +Inf bucket == count");
            assert!(of("_sum") >= 0.0);
        }
    }
    samples
}

fn sample(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
        })
        .unwrap_or_else(|| panic!("no {name} {labels:?}"))
        .value
}

#[tokio::test]
async fn session_and_rpc_latencies_are_histograms() {
    let mut c = setup();
    c.backend.queue(TaskSpec::Reboot {}, "k-r");
    assert!(matches!(
        body_of(&c.periodic_session(0).await),
        Body::Reboot(_)
    ));
    // the CPE takes 2 s to answer; the session lasted 3 s
    assert_eq!(
        c.send(&envelope("<cwmp:RebootResponse/>"), 3).await,
        Reply::NoContent
    );
    let text = c.engine.metrics().render();
    let s = parse_exposition(&text);
    let rt = "acs_rpc_round_trip_seconds_bucket";
    assert_eq!(sample(&s, rt, &[("method", "Reboot"), ("le", "1")]), 0.0);
    assert_eq!(sample(&s, rt, &[("method", "Reboot"), ("le", "2.5")]), 1.0);
    assert_eq!(sample(&s, rt, &[("method", "Reboot"), ("le", "+Inf")]), 1.0);
    assert_eq!(
        sample(
            &s,
            "acs_rpc_round_trip_seconds_sum",
            &[("method", "Reboot")]
        ),
        2.0
    );
    let sd = "acs_session_duration_seconds_bucket";
    assert_eq!(sample(&s, sd, &[("le", "2.5")]), 0.0);
    assert_eq!(sample(&s, sd, &[("le", "5")]), 1.0);
    assert_eq!(sample(&s, "acs_session_duration_seconds_count", &[]), 1.0);
    assert_eq!(sample(&s, "acs_session_duration_seconds_sum", &[]), 3.0);
    assert_eq!(
        sample(&s, "acs_connection_request_duration_seconds_count", &[]),
        0.0
    );
    assert_eq!(sample(&s, "acs_sessions_completed_total", &[]), 1.0);
}

fn typed_device(id: i64, type_id: i64) -> Device {
    Device {
        id,
        uuid: "u".into(),
        is_active: true,
        status: DeviceStatus::Up,
        type_id: Some(type_id),
        type_short_name: Some("t".into()),
        serial_number: "SN1".into(),
        created: t(0),
        ..Device::default()
    }
}

fn text_of(reply: &Reply) -> String {
    let Reply::Envelope(bytes) = reply else {
        panic!("expected an envelope, got {reply:?}")
    };
    String::from_utf8(bytes.clone()).unwrap()
}

/// Inform, then the SPV of an UpdateFrequency task (PeriodicInformEnable is a boolean).
async fn inform_response_and_spv(profile: Option<DeviceTypeProfile>) -> (String, String) {
    let mut c = setup();
    c.backend.with(|s| s.profile = profile);
    c.backend
        .queue(TaskSpec::UpdateFrequency { interval: 600 }, "k-f");
    let ir = c.send(&inform(&[("2 PERIODIC", "")], ""), 0).await;
    let spv = c.empty(1).await;
    (text_of(&ir), text_of(&spv))
}

#[tokio::test]
async fn the_device_types_profile_sets_the_wire_format_from_the_inform_response_on() {
    let (ir, spv) = inform_response_and_spv(Some(DeviceTypeProfile {
        xml_declaration: Some(false),
        boolean_style: Some("true_false".into()),
        ..DeviceTypeProfile::default()
    }))
    .await;
    assert!(
        ir.starts_with("<soap-env:Envelope") || ir.starts_with("<SOAP-ENV:Envelope"),
        "{ir}"
    );
    assert!(!spv.contains("<?xml"), "{spv}");
    assert!(
        spv.contains(r#"<Value xsi:type="xsd:boolean">true</Value>"#),
        "{spv}"
    );

    // no type, or a type that says nothing: the defaults
    for profile in [None, Some(DeviceTypeProfile::default())] {
        let (ir, spv) = inform_response_and_spv(profile).await;
        assert!(ir.starts_with("<?xml"), "{ir}");
        assert!(spv.starts_with("<?xml"), "{spv}");
        assert!(
            spv.contains(r#"<Value xsi:type="xsd:boolean">1</Value>"#),
            "{spv}"
        );
    }

    // a value the API would refuse (written behind its back) keeps the default, no failure
    let (ir, spv) = inform_response_and_spv(Some(DeviceTypeProfile {
        boolean_style: Some("yes_no".into()),
        xml_declaration: Some(true),
        ..DeviceTypeProfile::default()
    }))
    .await;
    assert!(ir.starts_with("<?xml"), "{ir}");
    assert!(spv.contains(">1</Value>"), "{spv}");
}

#[tokio::test]
async fn the_wire_format_of_a_type_is_read_once_per_ttl() {
    let mut c = setup();
    c.backend.with(|s| {
        s.profile = Some(DeviceTypeProfile {
            xml_declaration: Some(false),
            ..DeviceTypeProfile::default()
        })
    });
    c.periodic_session(0).await;
    c.session = Session::new("s2".into(), "node", t(5));
    let r = c.send(&inform(&[("2 PERIODIC", "")], ""), 5).await;
    assert!(!text_of(&r).starts_with("<?xml"));
    assert_eq!(c.backend.with(|s| s.type_reads), 1, "cached");
    // the type comes with the session start: no device read per Inform
    assert_eq!(c.backend.with(|s| s.device_reads), 0);
    c.empty(6).await;
    c.session = Session::new("s3".into(), "node", t(100));
    c.send(&inform(&[("2 PERIODIC", "")], ""), 100).await;
    assert_eq!(
        c.backend.with(|s| s.type_reads),
        2,
        "read again after the TTL"
    );
}

fn envelope_with_id(id: &str, body: &str) -> Vec<u8> {
    format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap:Header><cwmp:ID soap:mustUnderstand="1">{id}</cwmp:ID></soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"#
    )
    .into_bytes()
}

/// The engine never asks the CPE to hold its requests (see ARCHITECTURE.md, HoldRequests).
fn assert_no_hold(reply: &Reply) {
    if let Reply::Envelope(bytes) = reply {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains("HoldRequests"), "{text}");
    }
}

#[tokio::test]
async fn cpe_requests_are_answered_while_an_acs_request_is_outstanding() {
    let mut c = setup();
    let reboot = c.backend.queue(TaskSpec::Reboot {}, "k-r");
    let freq = c
        .backend
        .queue(TaskSpec::UpdateFrequency { interval: 600 }, "k-f");
    let r = c.send(&inform(&[("2 PERIODIC", "")], ""), 0).await;
    assert_no_hold(&r);
    let r = c.empty(1).await;
    assert_no_hold(&r);
    assert!(matches!(body_of(&r), Body::Reboot(_)));

    // the CPE sends its own requests before answering the Reboot (TR-069 lets it)
    let r = c
        .send(&envelope_with_id("cpe-9", "<cwmp:GetRPCMethods/>"), 2)
        .await;
    assert_no_hold(&r);
    assert!(matches!(body_of(&r), Body::GetRpcMethodsResponse(_)));
    assert!(
        text_of(&r).contains(">cpe-9</cwmp:ID>"),
        "the CPE's ID echoed"
    );
    let r = c.send(&envelope("<cwmp:RequestDownload><FileType>3 Vendor Configuration File</FileType></cwmp:RequestDownload>"), 3).await;
    assert!(matches!(body_of(&r), Body::RequestDownloadResponse(_)));
    let r = c.send(&envelope("<cwmp:X_VENDOR_Thing/>"), 4).await;
    assert!(
        matches!(body_of(&r), Body::Fault(_)),
        "unknown: 8000, session goes on"
    );
    assert_eq!(c.backend.task(reboot).state, TaskState::InFlight);
    assert_eq!(c.backend.task(freq).state, TaskState::Pending);

    // then the response: the sequence resumes where it was
    let r = c.send(&envelope("<cwmp:RebootResponse/>"), 5).await;
    assert_no_hold(&r);
    let Body::SetParameterValues(spv) = body_of(&r) else {
        panic!("{r:?}")
    };
    assert_eq!(spv.parameter_key, "k-f");
    assert_eq!(
        c.send(&envelope("<cwmp:SetParameterValuesResponse><Status>0</Status></cwmp:SetParameterValuesResponse>"), 6).await,
        Reply::NoContent
    );
    assert_eq!(c.backend.task(freq).state, TaskState::Done);
    assert!(c.backend.with(|s| s.leases.is_empty()));
}

#[tokio::test]
async fn a_transfer_complete_that_overtakes_its_download_response_settles_the_task_once() {
    let mut c = setup();
    let fw = c
        .backend
        .queue(TaskSpec::Firmware { firmware_image: 3 }, "k-fw");
    let reboot = c.backend.queue(TaskSpec::Reboot {}, "k-r");
    assert!(matches!(
        body_of(&c.periodic_session(0).await),
        Body::Download(_)
    ));
    let tc = "<cwmp:TransferComplete><CommandKey>k-fw</CommandKey><FaultStruct><FaultCode>0</FaultCode><FaultString></FaultString></FaultStruct><StartTime>2026-01-01T00:00:00Z</StartTime><CompleteTime>2026-01-01T00:00:05Z</CompleteTime></cwmp:TransferComplete>";
    let r = c.send(&envelope(tc), 2).await;
    assert!(matches!(body_of(&r), Body::TransferCompleteResponse(_)));
    assert_eq!(c.backend.task(fw).state, TaskState::Done);
    // the DownloadResponse (Status 0) comes after: nothing re-opened, the next task goes out
    let resp = "<cwmp:DownloadResponse><Status>0</Status><StartTime>2026-01-01T00:00:00Z</StartTime><CompleteTime>2026-01-01T00:00:05Z</CompleteTime></cwmp:DownloadResponse>";
    let r = c.send(&envelope(resp), 3).await;
    assert!(matches!(body_of(&r), Body::Reboot(_)), "{r:?}");
    assert_eq!(c.backend.task(fw).state, TaskState::Done);
    assert_eq!(c.backend.task(reboot).state, TaskState::InFlight);
}

#[tokio::test]
async fn after_the_204_a_cpe_request_needs_a_new_session() {
    let mut c = setup();
    c.backend.queue(TaskSpec::Reboot {}, "k-r");
    c.periodic_session(0).await;
    // the CPE answers, the ACS has nothing more: 204 ends the session; a request the CPE
    // still had waits for its next session (TR-069 §3.7.1.4), nothing here is left open
    assert_eq!(
        c.send(&envelope("<cwmp:RebootResponse/>"), 2).await,
        Reply::NoContent
    );
    assert!(!c.session.is_open());
    let r = c.send(&envelope("<cwmp:GetRPCMethods/>"), 3).await;
    assert!(matches!(r, Reply::BadRequest(_)), "{r:?}");
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

fn cwmp_fault(code: u32, text: &str) -> Vec<u8> {
    envelope(&format!(
        "<soap:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring><detail>\
         <cwmp:Fault><FaultCode>{code}</FaultCode><FaultString>{text}</FaultString></cwmp:Fault>\
         </detail></soap:Fault>"
    ))
}

fn transfer_complete(key: &str, code: u32, text: &str) -> Vec<u8> {
    envelope(&format!(
        "<cwmp:TransferComplete><CommandKey>{key}</CommandKey><FaultStruct><FaultCode>{code}</FaultCode>\
         <FaultString>{text}</FaultString></FaultStruct><StartTime>2026-01-01T00:00:00Z</StartTime>\
         <CompleteTime>2026-01-01T00:01:00Z</CompleteTime></cwmp:TransferComplete>"
    ))
}

fn schedule_download(window_ends: &[u32]) -> TaskSpec {
    let mut start = 0;
    TaskSpec::ScheduleDownload {
        file_type: "1 Firmware Upgrade Image".into(),
        url: "http://files.test/fw-3.0.bin".into(),
        file_size: 4096,
        target_file_name: "fw-3.0.bin".into(),
        username: None,
        password: None,
        time_windows: window_ends
            .iter()
            .map(|&end| {
                let w = TimeWindow {
                    window_start: start,
                    window_end: end,
                    window_mode: "1 At Any Time".into(),
                    user_message: String::new(),
                    max_retries: -1,
                };
                start = end;
                w
            })
            .collect(),
    }
}

#[tokio::test]
async fn schedule_download_waits_past_its_windows_for_transfer_complete() {
    let mut c = setup();
    let a = c.backend.queue(schedule_download(&[600, 7200]), "k-sd");
    c.send(&inform12(&[("2 PERIODIC", "")], ""), 0).await;
    let Body::ScheduleDownload(sd) = body_of(&c.empty(1).await) else {
        panic!("expected ScheduleDownload")
    };
    assert_eq!(
        (sd.command_key.as_str(), sd.url.as_str(), sd.file_size),
        ("k-sd", "http://files.test/fw-3.0.bin", 4096)
    );
    let windows: Vec<_> = sd
        .time_window_list
        .iter()
        .map(|w| {
            (
                w.window_start,
                w.window_end,
                w.window_mode.as_str(),
                w.max_retries,
            )
        })
        .collect();
    assert_eq!(
        windows,
        [
            (0, 600, "1 At Any Time", -1),
            (600, 7200, "1 At Any Time", -1)
        ]
    );
    let r = c
        .send(&envelope("<cwmp:ScheduleDownloadResponse/>"), 2)
        .await;
    assert_eq!(r, Reply::NoContent);
    let task = c.backend.task(a);
    assert_eq!(task.state, TaskState::InFlight);
    // the await outlasts the last window (7200 s) by the engine's await_event_ttl (3600 s)
    assert_eq!(task.claim_expires_at, Some(t(2 + 7200 + 3600)));
    c.session = Session::new("s2".into(), "node", t(900));
    c.send(
        &inform12(
            &[("7 TRANSFER COMPLETE", ""), ("M ScheduleDownload", "k-sd")],
            "",
        ),
        900,
    )
    .await;
    let r = c.send(&transfer_complete("k-sd", 0, ""), 901).await;
    assert!(matches!(body_of(&r), Body::TransferCompleteResponse(_)));
    let task = c.backend.task(a);
    assert_eq!((task.state, task.fault_code), (TaskState::Done, None));
    assert!(
        c.engine
            .metrics()
            .render()
            .contains("method=\"ScheduleDownload\",outcome=\"ok\""),
        "{}",
        c.engine.metrics().render()
    );
}

/// A Download/Upload the CPE was told to delay (DelaySeconds) waits for its TransferComplete
/// that much longer than the engine's usual wait; accepted, it is never sent a second time,
/// also once that longer wait ran out (the store's sweep then ends it unconfirmed).
#[tokio::test]
async fn a_delayed_transfer_waits_its_delay_on_top_and_is_never_sent_again() {
    let delay = 7200u32;
    let ttl = 3600i64; // EngineConfig::default().await_event_ttl
    for (spec, response) in [
        (
            TaskSpec::Download {
                file_type: "1 Firmware Upgrade Image".into(),
                url: "http://files.test/fw.bin".into(),
                file_size: 0,
                target_file_name: String::new(),
                delay_seconds: delay,
                username: None,
                password: None,
            },
            "DownloadResponse",
        ),
        (
            TaskSpec::Upload {
                file_type: "1 Vendor Configuration File".into(),
                url: "http://files.test/cfg".into(),
                delay_seconds: delay,
                username: None,
                password: None,
            },
            "UploadResponse",
        ),
    ] {
        let mut c = setup();
        let id = c.backend.queue(spec, "k-delayed");
        match body_of(&c.periodic_session(0).await) {
            Body::Download(d) => assert_eq!(d.delay_seconds, delay),
            Body::Upload(u) => assert_eq!(u.delay_seconds, delay),
            other => panic!("{response}: sent {other:?}"),
        }
        let started = format!(
            "<cwmp:{response}><Status>1</Status><StartTime>0001-01-01T00:00:00Z</StartTime><CompleteTime>0001-01-01T00:00:00Z</CompleteTime></cwmp:{response}>"
        );
        assert_eq!(c.send(&envelope(&started), 2).await, Reply::NoContent);
        let task = c.backend.task(id);
        assert_eq!(task.state, TaskState::InFlight, "{response}");
        assert_eq!(
            task.claim_expires_at,
            Some(t(2 + i64::from(delay) + ttl)),
            "{response}: the delay, then the usual wait"
        );
        // past the usual wait, still within the delay and the wait after it: nothing is sent
        let later = 2 + ttl + 60;
        c.session = Session::new("s2".into(), "node", t(later));
        assert_eq!(
            c.periodic_session(later).await,
            Reply::NoContent,
            "{response}"
        );
        assert_eq!(c.backend.task(id).attempts, 1, "{response}: sent once");
        // no TransferComplete by the end of both: still not sent again
        let expired = 2 + i64::from(delay) + ttl;
        c.session = Session::new("s3".into(), "node", t(expired));
        assert_eq!(
            c.periodic_session(expired).await,
            Reply::NoContent,
            "{response}"
        );
        assert_eq!(c.backend.task(id).attempts, 1, "{response}");
    }
}

#[tokio::test]
async fn schedule_download_faults_are_recorded_and_a_missed_window_is_final() {
    let mut c = setup();
    let refused = c.backend.queue(schedule_download(&[60]), "k-sd1");
    let missed = c.backend.queue(schedule_download(&[60]), "k-sd2");
    c.send(&inform12(&[("2 PERIODIC", "")], ""), 0).await;
    assert!(matches!(
        body_of(&c.empty(1).await),
        Body::ScheduleDownload(_)
    ));
    // the CPE refuses the first (invalid arguments): failed for good, the next goes out
    let r = c.send(&cwmp_fault(9003, "bad WindowMode"), 2).await;
    let Body::ScheduleDownload(sd) = body_of(&r) else {
        panic!("expected the second ScheduleDownload, got {r:?}")
    };
    assert_eq!(sd.command_key, "k-sd2");
    let task = c.backend.task(refused);
    assert_eq!(
        (task.state, task.fault_code, task.fault_string.as_deref()),
        (TaskState::Failed, Some(9003), Some("bad WindowMode"))
    );
    c.send(&envelope("<cwmp:ScheduleDownloadResponse/>"), 3)
        .await;
    // its window passed before the CPE could start: 9020 in TransferComplete, not retried
    c.session = Session::new("s2".into(), "node", t(100));
    c.send(
        &inform12(
            &[("7 TRANSFER COMPLETE", ""), ("M ScheduleDownload", "k-sd2")],
            "",
        ),
        100,
    )
    .await;
    let r = c
        .send(&transfer_complete("k-sd2", 9020, "window missed"), 101)
        .await;
    assert!(matches!(body_of(&r), Body::TransferCompleteResponse(_)));
    let task = c.backend.task(missed);
    assert_eq!(
        (task.state, task.fault_code, task.fault_string.as_deref()),
        (TaskState::Failed, Some(9020), Some("window missed"))
    );
    let metrics = c.engine.metrics().render();
    assert!(
        metrics.contains("method=\"ScheduleDownload\",code=\"9020\""),
        "{metrics}"
    );
}

#[tokio::test]
async fn cancel_transfer_ends_the_cancelled_transfers_task() {
    let mut c = setup();
    let download = c.backend.queue(
        TaskSpec::Download {
            file_type: "3 Vendor Configuration File".into(),
            url: "http://files.test/cfg.xml".into(),
            file_size: 0,
            target_file_name: String::new(),
            delay_seconds: 3600,
            username: None,
            password: None,
        },
        "k-dl",
    );
    let cancel = c.backend.queue(
        TaskSpec::CancelTransfer {
            command_key: "k-dl".into(),
        },
        "k-cancel",
    );
    c.send(&inform12(&[("2 PERIODIC", "")], ""), 0).await;
    assert!(matches!(body_of(&c.empty(1).await), Body::Download(_)));
    let resp = "<cwmp:DownloadResponse><Status>1</Status><StartTime>0001-01-01T00:00:00Z</StartTime><CompleteTime>0001-01-01T00:00:00Z</CompleteTime></cwmp:DownloadResponse>";
    let Body::CancelTransfer(ct) = body_of(&c.send(&envelope(resp), 2).await) else {
        panic!("expected CancelTransfer")
    };
    assert_eq!(
        ct.command_key, "k-dl",
        "names the transfer, not its own key"
    );
    assert_eq!(c.backend.task(download).state, TaskState::InFlight);
    let r = c.send(&envelope("<cwmp:CancelTransferResponse/>"), 3).await;
    assert_eq!(r, Reply::NoContent);
    assert_eq!(c.backend.task(cancel).state, TaskState::Done);
    let d = c.backend.task(download);
    assert_eq!((d.state, d.fault_code), (TaskState::Cancelled, None));
    assert_eq!(
        d.fault_string,
        Some(format!("cancelled by CancelTransfer (task {cancel})"))
    );
}

#[tokio::test]
async fn cancel_transfer_refused_with_9021_fails_for_good() {
    let mut c = setup();
    let cancel = c.backend.queue(
        TaskSpec::CancelTransfer {
            command_key: "k-started".into(),
        },
        "k-cancel",
    );
    c.send(&inform12(&[("2 PERIODIC", "")], ""), 0).await;
    assert!(matches!(
        body_of(&c.empty(1).await),
        Body::CancelTransfer(_)
    ));
    let r = c
        .send(&cwmp_fault(9021, "transfer already in progress"), 2)
        .await;
    assert_eq!(r, Reply::NoContent);
    let task = c.backend.task(cancel);
    assert_eq!(
        (task.state, task.fault_code, task.attempts),
        (TaskState::Failed, Some(9021), 1),
        "not retried"
    );
}

#[tokio::test]
async fn queued_transfer_lists_become_the_tasks_result() {
    let mut c = setup();
    let some = c.backend.queue(TaskSpec::GetQueuedTransfers {}, "k-q");
    let all = c.backend.queue(TaskSpec::GetAllQueuedTransfers {}, "k-qa");
    c.send(&inform12(&[("2 PERIODIC", "")], ""), 0).await;
    assert!(matches!(
        body_of(&c.empty(1).await),
        Body::GetQueuedTransfers(_)
    ));
    let resp = r#"<cwmp:GetQueuedTransfersResponse><TransferList soap-enc:arrayType="cwmp:QueuedTransferStruct[2]" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/"><QueuedTransferStruct><CommandKey>k-dl</CommandKey><State>1</State></QueuedTransferStruct><QueuedTransferStruct><CommandKey>k-sd</CommandKey><State>2</State></QueuedTransferStruct></TransferList></cwmp:GetQueuedTransfersResponse>"#;
    let r = c.send(&envelope(resp), 2).await;
    assert!(matches!(body_of(&r), Body::GetAllQueuedTransfers(_)));
    let task = c.backend.task(some);
    assert_eq!(task.state, TaskState::Done);
    assert_eq!(
        task.result.map(|r| r.0),
        Some(serde_json::json!({"transfers": [
            {"command_key": "k-dl", "state": "not_started"},
            {"command_key": "k-sd", "state": "in_progress"},
        ]}))
    );
    let resp = r#"<cwmp:GetAllQueuedTransfersResponse><TransferList soap-enc:arrayType="cwmp:AllQueuedTransferStruct[1]" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/"><AllQueuedTransferStruct><CommandKey></CommandKey><State>1</State><IsDownload>1</IsDownload><FileType>1 Firmware Upgrade Image</FileType><FileSize>1234</FileSize><TargetFileName>fw.bin</TargetFileName></AllQueuedTransferStruct></TransferList></cwmp:GetAllQueuedTransfersResponse>"#;
    assert_eq!(c.send(&envelope(resp), 3).await, Reply::NoContent);
    let task = c.backend.task(all);
    assert_eq!(task.state, TaskState::Done);
    assert_eq!(
        task.result.map(|r| r.0),
        Some(serde_json::json!({"transfers": [{
            "command_key": "", "state": "not_started", "is_download": true,
            "file_type": "1 Firmware Upgrade Image", "file_size": 1234, "target_file_name": "fw.bin",
        }]}))
    );
}

#[tokio::test]
async fn a_cpe_without_queued_transfer_lists_fails_the_task_with_9000() {
    let mut c = setup();
    let a = c.backend.queue(TaskSpec::GetAllQueuedTransfers {}, "k-qa");
    c.send(&inform12(&[("2 PERIODIC", "")], ""), 0).await;
    c.empty(1).await;
    assert_eq!(
        c.send(&cwmp_fault(9000, "method not supported"), 2).await,
        Reply::NoContent
    );
    let task = c.backend.task(a);
    assert_eq!(
        (task.state, task.fault_code, task.result),
        (TaskState::Failed, Some(9000), None)
    );
}

const DU_UUID: &str = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";

fn du_result(uuid: &str, state: &str, code: u32, text: &str) -> String {
    format!(
        "<Results><UUID>{uuid}</UUID><DeploymentUnitRef>Device.SoftwareModules.DeploymentUnit.1</DeploymentUnitRef>\
         <Version>1.0</Version><CurrentState>{state}</CurrentState><Resolved>1</Resolved>\
         <ExecutionUnitRefList></ExecutionUnitRefList><StartTime>2026-01-01T00:00:00Z</StartTime>\
         <CompleteTime>2026-01-01T00:00:09Z</CompleteTime><Fault><FaultCode>{code}</FaultCode>\
         <FaultString>{text}</FaultString></Fault></Results>"
    )
}

#[tokio::test]
async fn change_du_state_sends_its_operations_and_keeps_the_reported_results() {
    let mut c = setup();
    let a = c.backend.queue(
        TaskSpec::ChangeDuState {
            operations: vec![
                DuOperation::Install {
                    url: "http://files.test/app-1.0.tar".into(),
                    uuid: Some(DU_UUID.into()),
                    username: None,
                    password: None,
                    execution_env_ref: None,
                },
                DuOperation::Uninstall {
                    uuid: "00000000-0000-0000-0000-000000000001".into(),
                    version: Some("0.9".into()),
                    execution_env_ref: None,
                },
            ],
        },
        "k-du",
    );
    c.send(&inform12(&[("2 PERIODIC", "")], ""), 0).await;
    let Body::ChangeDuState(du) = body_of(&c.empty(1).await) else {
        panic!("expected ChangeDUState")
    };
    assert_eq!(du.command_key, "k-du");
    assert!(
        matches!(
            &du.operations[..],
            [cwmp::DuOperation::Install { url, uuid: Some(u), .. },
             cwmp::DuOperation::Uninstall { version: Some(v), .. }]
                if url == "http://files.test/app-1.0.tar" && u == DU_UUID && v == "0.9"
        ),
        "{:?}",
        du.operations
    );
    assert_eq!(
        c.send(&envelope("<cwmp:ChangeDUStateResponse/>"), 2).await,
        Reply::NoContent
    );
    assert_eq!(c.backend.task(a).state, TaskState::InFlight);
    c.session = Session::new("s2".into(), "node", t(60));
    c.send(
        &inform12(
            &[
                ("11 DU STATE CHANGE COMPLETE", ""),
                ("M ChangeDUState", "k-du"),
            ],
            "",
        ),
        60,
    )
    .await;
    let complete = envelope(&format!(
        "<cwmp:DUStateChangeComplete>{}{}<CommandKey>k-du</CommandKey></cwmp:DUStateChangeComplete>",
        du_result(DU_UUID, "Installed", 0, ""),
        du_result("00000000-0000-0000-0000-000000000001", "Uninstalled", 0, ""),
    ));
    let r = c.send(&complete, 61).await;
    assert!(matches!(
        body_of(&r),
        Body::DuStateChangeCompleteResponse(_)
    ));
    let task = c.backend.task(a);
    assert_eq!((task.state, task.fault_code), (TaskState::Done, None));
    let result = task.result.expect("results kept").0;
    assert_eq!(result["results"][0]["uuid"], DU_UUID);
    assert_eq!(result["results"][0]["current_state"], "Installed");
    assert_eq!(
        result["results"][0]["deployment_unit_ref"],
        "Device.SoftwareModules.DeploymentUnit.1"
    );
    assert_eq!(result["results"][1]["current_state"], "Uninstalled");
    assert_eq!(result["results"][1]["fault_code"], 0);
}

#[tokio::test]
async fn change_du_state_failures_are_final_and_name_the_operation() {
    let mut c = setup();
    let install = |uuid: &str| DuOperation::Install {
        url: "http://files.test/app-1.0.tar".into(),
        uuid: Some(uuid.into()),
        username: None,
        password: Some("du-secret".into()),
        execution_env_ref: None,
    };
    let reported = c.backend.queue(
        TaskSpec::ChangeDuState {
            operations: vec![
                install("00000000-0000-0000-0000-000000000002"),
                install(DU_UUID),
            ],
        },
        "k-du1",
    );
    let refused = c.backend.queue(
        TaskSpec::ChangeDuState {
            operations: vec![install(DU_UUID)],
        },
        "k-du2",
    );
    c.send(&inform12(&[("2 PERIODIC", "")], ""), 0).await;
    let Body::ChangeDuState(du) = body_of(&c.empty(1).await) else {
        panic!("expected ChangeDUState")
    };
    assert!(
        matches!(&du.operations[0], cwmp::DuOperation::Install { password: Some(p), .. } if p == "du-secret"),
        "the file server's password goes to the CPE"
    );
    // the CPE reports one operation's failure before it answers (the request is answered
    // in place; the outstanding ChangeDUState stays outstanding)
    let complete = envelope(&format!(
        "<cwmp:DUStateChangeComplete>{}{}<CommandKey>k-du1</CommandKey></cwmp:DUStateChangeComplete>",
        du_result("00000000-0000-0000-0000-000000000002", "Installed", 0, ""),
        du_result(DU_UUID, "Failed", 9026, ""),
    ));
    let r = c.send(&complete, 2).await;
    assert!(matches!(
        body_of(&r),
        Body::DuStateChangeCompleteResponse(_)
    ));
    let task = c.backend.task(reported);
    assert_eq!(
        (task.state, task.fault_code, task.fault_string.as_deref()),
        (
            TaskState::Failed,
            Some(9026),
            Some("operation 1: Duplicate Deployment Unit")
        )
    );
    assert_eq!(
        task.result.expect("results kept").0["results"][1]["current_state"],
        "Failed"
    );
    // the late ChangeDUStateResponse leaves the settled task alone; the next goes out
    let r = c.send(&envelope("<cwmp:ChangeDUStateResponse/>"), 3).await;
    assert!(matches!(body_of(&r), Body::ChangeDuState(_)), "{r:?}");
    assert_eq!(c.backend.task(reported).state, TaskState::Failed);
    // a request-level refusal of a DU fault code is final too
    let r = c.send(&cwmp_fault(9022, "Invalid UUID format"), 4).await;
    assert_eq!(r, Reply::NoContent);
    let task = c.backend.task(refused);
    assert_eq!(
        (task.state, task.fault_code, task.attempts),
        (TaskState::Failed, Some(9022), 1)
    );
    let metrics = c.engine.metrics().render();
    assert!(
        metrics.contains("method=\"ChangeDUState\",code=\"9026\""),
        "{metrics}"
    );
}

#[tokio::test]
async fn read_rpc_answers_become_the_tasks_result() {
    let mut c = setup();
    let methods = c.backend.queue(TaskSpec::GetRpcMethods {}, "k-m");
    let names = c.backend.queue(
        TaskSpec::GetParameterNames {
            path: "InternetGatewayDevice.DeviceInfo.".into(),
            next_level: true,
        },
        "k-n",
    );
    let attributes = c.backend.queue(
        TaskSpec::GetParameterAttributes {
            names: vec!["InternetGatewayDevice.DeviceInfo.SoftwareVersion".into()],
        },
        "k-a",
    );
    assert!(matches!(
        body_of(&c.periodic_session(0).await),
        Body::GetRpcMethods(_)
    ));
    let resp = r#"<cwmp:GetRPCMethodsResponse><MethodList soap-enc:arrayType="xsd:string[3]" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/"><string>GetRPCMethods</string><string>GetParameterNames</string><string>GetParameterAttributes</string></MethodList></cwmp:GetRPCMethodsResponse>"#;
    assert!(matches!(
        body_of(&c.send(&envelope(resp), 2).await),
        Body::GetParameterNames(_)
    ));
    let resp = r#"<cwmp:GetParameterNamesResponse><ParameterList soap-enc:arrayType="cwmp:ParameterInfoStruct[1]" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/"><ParameterInfoStruct><Name>InternetGatewayDevice.DeviceInfo.SoftwareVersion</Name><Writable>0</Writable></ParameterInfoStruct></ParameterList></cwmp:GetParameterNamesResponse>"#;
    assert!(matches!(
        body_of(&c.send(&envelope(resp), 3).await),
        Body::GetParameterAttributes(_)
    ));
    let resp = r#"<cwmp:GetParameterAttributesResponse><ParameterList soap-enc:arrayType="cwmp:ParameterAttributeStruct[1]" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/"><ParameterAttributeStruct><Name>InternetGatewayDevice.DeviceInfo.SoftwareVersion</Name><Notification>2</Notification><AccessList soap-enc:arrayType="xsd:string[1]"><string>Subscriber</string></AccessList></ParameterAttributeStruct></ParameterList></cwmp:GetParameterAttributesResponse>"#;
    assert_eq!(c.send(&envelope(resp), 4).await, Reply::NoContent);
    let result = |id| {
        let task = c.backend.task(id);
        assert_eq!(task.state, TaskState::Done);
        task.result.expect("a result").0
    };
    assert_eq!(
        result(methods),
        serde_json::json!({"methods": ["GetRPCMethods", "GetParameterNames", "GetParameterAttributes"]})
    );
    assert_eq!(
        result(names),
        serde_json::json!({"parameters": [
            {"name": "InternetGatewayDevice.DeviceInfo.SoftwareVersion", "writable": false}]})
    );
    assert_eq!(
        result(attributes),
        serde_json::json!({"parameters": [{
            "name": "InternetGatewayDevice.DeviceInfo.SoftwareVersion",
            "notification": 2, "access_list": ["Subscriber"]}]})
    );
}

/// The Inform of a CPE speaking the namespace `cwmp-1-<minor>`.
fn inform_in(minor: u8) -> Vec<u8> {
    support::inform(&[("2 PERIODIC", "")], "")
        .replace(
            "urn:dslforum-org:cwmp-1-0",
            &format!("urn:dslforum-org:cwmp-1-{minor}"),
        )
        .into_bytes()
}

/// RPCs that came with a later CWMP version than the CPE speaks are not sent: the task fails
/// for good with 9000 naming the method and both versions, and the session goes on with the
/// next task. A CPE of that version or later gets them.
#[tokio::test]
async fn rpcs_newer_than_the_cpes_cwmp_version_fail_without_being_sent() {
    let cases: [(TaskSpec, &str, u8); 4] = [
        (schedule_download(&[60]), "ScheduleDownload", 2),
        (
            TaskSpec::CancelTransfer {
                command_key: "k-other".into(),
            },
            "CancelTransfer",
            2,
        ),
        (
            TaskSpec::GetAllQueuedTransfers {},
            "GetAllQueuedTransfers",
            1,
        ),
        (
            TaskSpec::ChangeDuState {
                operations: vec![DuOperation::Uninstall {
                    uuid: "6ba7b810-9dad-11d1-80b4-00c04fd430c8".into(),
                    version: None,
                    execution_env_ref: None,
                }],
            },
            "ChangeDUState",
            2,
        ),
    ];
    for (spec, method, since) in cases {
        for minor in 0..=4u8 {
            let mut c = setup();
            let id = c.backend.queue(spec.clone(), "k-new");
            let reboot = c.backend.queue(TaskSpec::Reboot {}, "k-reboot");
            c.send(&inform_in(minor), 0).await;
            let sent = body_of(&c.empty(1).await);
            let task = c.backend.task(id);
            if minor >= since {
                assert_eq!(sent.name(), method, "1.{minor}");
                assert_eq!(task.state, TaskState::InFlight, "{method} to 1.{minor}");
                continue;
            }
            assert!(
                matches!(sent, Body::Reboot(_)),
                "{method} to 1.{minor}: {sent:?}"
            );
            assert_eq!(c.backend.task(reboot).state, TaskState::InFlight);
            assert_eq!(task.state, TaskState::Failed, "{method} to 1.{minor}");
            assert_eq!(task.fault_code, Some(9000));
            assert_eq!(
                task.fault_string.as_deref(),
                Some(
                    format!(
                        "method not supported: {method} needs CWMP 1.{since}, the CPE speaks \
                         CWMP 1.{minor} (urn:dslforum-org:cwmp-1-{minor})"
                    )
                    .as_str()
                )
            );
        }
    }
}

/// Marks a `get_rpc_methods` task done with the list the CPE reported, as a past session did.
fn known_methods(c: &Check, methods: &[&str]) {
    let id = c.backend.queue(TaskSpec::GetRpcMethods {}, "k-known");
    c.backend.with(|s| {
        let task = &mut s.tasks[id as usize - 1];
        task.state = TaskState::Done;
        task.result = Some(Json(serde_json::json!({ "methods": methods })));
    });
}

/// Once the CPE has reported its methods (GetRPCMethods), a task whose RPC is not among them
/// fails for good without being sent; GetRPCMethods itself is always sent, and a list reported
/// during the session governs the rest of it. The list is read once per session.
#[tokio::test]
async fn the_cpes_reported_method_list_rules_the_optional_methods() {
    // Thomson SpeedTouch 706's real list: no attributes, no objects, no ScheduleInform
    let thomson = [
        "GetRPCMethods",
        "Download",
        "Upload",
        "GetParameterNames",
        "GetParameterValues",
        "SetParameterValues",
        "Reboot",
        "FactoryReset",
    ];
    let mut c = setup();
    known_methods(&c, &thomson);
    let schedule = c
        .backend
        .queue(TaskSpec::ScheduleInform { delay_seconds: 5 }, "k-si");
    // AddObject is required of every CPE: sent although the list leaves it out
    let add = c.backend.queue(
        TaskSpec::AddObject {
            object_name: "InternetGatewayDevice.WANDevice.".into(),
        },
        "k-add",
    );
    assert!(matches!(
        body_of(&c.periodic_session(0).await),
        Body::AddObject(_)
    ));
    assert_eq!(c.backend.task(add).state, TaskState::InFlight);
    let task = c.backend.task(schedule);
    assert_eq!(
        (task.state, task.fault_code),
        (TaskState::Failed, Some(9000))
    );
    let why = task.fault_string.unwrap();
    assert!(
        why.starts_with(
            "method not supported: ScheduleInform is not in the CPE's GetRPCMethods list (GetRPCMethods, Download,"
        ),
        "{why}"
    );
    assert_eq!(c.backend.with(|s| s.last_done_reads), 1, "read once");

    // a new list read in the session rules from then on
    let mut c = setup();
    known_methods(&c, &["Reboot"]);
    let refused = c
        .backend
        .queue(TaskSpec::ScheduleInform { delay_seconds: 5 }, "k-si1");
    let ask = c.backend.queue(TaskSpec::GetRpcMethods {}, "k-ask");
    let schedule = c
        .backend
        .queue(TaskSpec::ScheduleInform { delay_seconds: 5 }, "k-si2");
    let reset = c.backend.queue(TaskSpec::FactoryReset {}, "k-reset");
    assert!(matches!(
        body_of(&c.periodic_session(0).await),
        Body::GetRpcMethods(_)
    ));
    assert_eq!(c.backend.task(refused).state, TaskState::Failed);
    let resp = r#"<cwmp:GetRPCMethodsResponse><MethodList soap-enc:arrayType="xsd:string[2]" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/"><string>GetRPCMethods</string><string>ScheduleInform</string></MethodList></cwmp:GetRPCMethodsResponse>"#;
    let next = body_of(&c.send(&envelope(resp), 2).await);
    assert!(matches!(next, Body::ScheduleInform(_)), "{next:?}");
    assert_eq!(c.backend.task(ask).state, TaskState::Done);
    let resp = "<cwmp:ScheduleInformResponse/>";
    assert_eq!(c.send(&envelope(resp), 3).await, Reply::NoContent);
    assert_eq!(c.backend.task(schedule).state, TaskState::Done);
    let task = c.backend.task(reset);
    assert_eq!(
        (task.state, task.fault_code),
        (TaskState::Failed, Some(9000))
    );

    // never asked: everything the CWMP version has is sent
    let mut c = setup();
    let schedule = c
        .backend
        .queue(TaskSpec::ScheduleInform { delay_seconds: 5 }, "k-si");
    assert!(matches!(
        body_of(&c.periodic_session(0).await),
        Body::ScheduleInform(_)
    ));
    assert_eq!(c.backend.task(schedule).state, TaskState::InFlight);
}

fn provisioning() -> Check {
    let mut c = setup();
    c.engine = Engine::new(
        c.backend.clone(),
        EngineConfig {
            provision_cr_credentials: true,
            ..c.engine.config().clone()
        },
        Arc::new(Metrics::default()),
    );
    c
}

/// The connection-request pair a SetParameterValues carries, as (username, password).
fn cr_pair(body: &Body) -> (String, Option<String>) {
    let Body::SetParameterValues(spv) = body else {
        panic!("expected the credentials SPV, got {body:?}")
    };
    let value = |leaf: &str| {
        spv.parameter_list
            .iter()
            .find(|p| p.name == format!("InternetGatewayDevice.ManagementServer.{leaf}"))
            .map(|p| p.value.raw.clone())
    };
    (
        value("ConnectionRequestUsername").expect("the username is set"),
        value("ConnectionRequestPassword"),
    )
}

const SPV_OK: &str =
    "<cwmp:SetParameterValuesResponse><Status>0</Status></cwmp:SetParameterValuesResponse>";

#[tokio::test]
async fn a_device_without_credentials_gets_a_generated_pair_in_its_first_session() {
    for events in [&[("0 BOOTSTRAP", "")][..], &[("2 PERIODIC", "")][..]] {
        let mut c = provisioning();
        c.send(&inform(events, ""), 0).await;
        let (user, password) = cr_pair(&body_of(&c.empty(1).await));
        let password = password.expect("a password is set");
        assert!(user.starts_with("cr-") && password.len() >= 20, "{user}");
        let (on_record, offered) = c.backend.with(|s| {
            (
                (s.cr_username.clone(), s.cr_password.clone()),
                s.cr_offers.clone(),
            )
        });
        assert_eq!(
            on_record,
            (Some(user.clone()), Some(DevicePassword::new(&password)))
        );
        assert_eq!(offered.len(), 1);
        assert!(
            c.backend.with(|s| s.cr_accepted.is_none()),
            "not usable before the CPE accepted it"
        );
        assert_eq!(c.send(&envelope(SPV_OK), 2).await, Reply::NoContent);
        assert_eq!(
            c.backend.with(|s| s.cr_accepted.clone()),
            Some((user, Some(DevicePassword::new(password)))),
            "{events:?}"
        );
        // on record now: the next (non-bootstrap) session queues nothing
        c.session = Session::new("s2".into(), "node", t(10));
        assert_eq!(c.periodic_session(10).await, Reply::NoContent);
    }
}

#[tokio::test]
async fn a_bootstrap_sends_the_pair_on_record_again() {
    let mut c = provisioning();
    c.backend.with(|s| {
        s.cr_username = Some("operator-set".into());
        s.cr_password = Some(DevicePassword::new("chosen"));
    });
    assert_eq!(
        c.periodic_session(0).await,
        Reply::NoContent,
        "nothing to do"
    );
    // a factory reset wiped it on the CPE
    c.session = Session::new("s2".into(), "node", t(10));
    c.send(&inform(&[("0 BOOTSTRAP", ""), ("1 BOOT", "")], ""), 10)
        .await;
    let pair = cr_pair(&body_of(&c.empty(11).await));
    assert_eq!(pair, ("operator-set".into(), Some("chosen".into())));
    assert_eq!(c.send(&envelope(SPV_OK), 12).await, Reply::NoContent);
    assert_eq!(
        c.backend.with(|s| s.cr_accepted.clone()),
        Some(("operator-set".into(), Some(DevicePassword::new("chosen"))))
    );
}

#[tokio::test]
async fn a_refused_credentials_spv_leaves_the_accepted_pair_alone() {
    let mut c = provisioning();
    c.send(&inform(&[("0 BOOTSTRAP", "")], ""), 0).await;
    cr_pair(&body_of(&c.empty(1).await));
    // a fault the CPE may not answer next time: retried later
    let fault = envelope(
        "<soap:Fault><faultcode>Server</faultcode><faultstring>CWMP fault</faultstring><detail>\
         <cwmp:Fault><FaultCode>9002</FaultCode><FaultString>busy</FaultString></cwmp:Fault>\
         </detail></soap:Fault>",
    );
    assert_eq!(c.send(&fault, 2).await, Reply::NoContent);
    assert!(c.backend.with(|s| s.cr_accepted.is_none()));
    // a second bootstrap while the task is still open queues no second one
    let open = |c: &Check| {
        c.backend.with(|s| {
            s.tasks
                .iter()
                .filter(|t| {
                    t.kind == "credentials"
                        && matches!(t.state, TaskState::Pending | TaskState::InFlight)
                })
                .count()
        })
    };
    assert_eq!(open(&c), 1);
    c.session = Session::new("s2".into(), "node", t(10));
    c.send(&inform(&[("0 BOOTSTRAP", "")], ""), 10).await;
    assert_eq!(open(&c), 1);
}

#[tokio::test]
async fn a_parameter_key_proves_an_interrupted_credentials_spv() {
    let mut c = provisioning();
    c.send(&inform(&[("0 BOOTSTRAP", "")], ""), 0).await;
    let Body::SetParameterValues(spv) = body_of(&c.empty(1).await) else {
        panic!()
    };
    // the connection dies before the answer; the CPE applied it and informs again
    c.session = Session::new("s2".into(), "node", t(50));
    c.backend.with(|s| s.leases.clear());
    c.send(&inform(&[("4 VALUE CHANGE", "")], &spv.parameter_key), 50)
        .await;
    let (user, password) = cr_pair(&Body::SetParameterValues(spv));
    assert_eq!(
        c.backend.with(|s| s.cr_accepted.clone()),
        Some((user, password.map(DevicePassword::new)))
    );
}
