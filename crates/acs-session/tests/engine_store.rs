//! The session engine over the real store (SQLite in a scratch directory) with time given
//! explicitly: how tasks end when the CPE reports their completion loosely, never, or when
//! its session dies right after an RPC. What the CPE receives and what the store holds.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use acs_session::engine::{Engine, EngineConfig, Metrics, Reply, Session, StoreBackend};
use acs_session::task::TaskSpec;
use acs_store::{InformWriter, SecretKey, Store, Task, TaskState, WriterConfig, WriterTask};
use chrono::{DateTime, TimeZone, Utc};
use cwmp::{Body, Decoded};

mod support;
use support::{body_of, decoded, envelope, inform, post};

fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

/// An engine over a fresh SQLite store, and the device `SN1` registered by a first session.
struct Rig {
    engine: Engine<StoreBackend>,
    store: Store,
    session: Session,
    sessions: u32,
    device_id: i64,
    dir: PathBuf,
    _writer: WriterTask,
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn rig() -> Rig {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("acs-engine-store-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/acs.db", dir.display());
    let store = Store::connect(&url, SecretKey::generate()).await.unwrap();
    store.migrate().await.unwrap();
    let (writer, task) = InformWriter::spawn(store.clone(), WriterConfig::default());
    let backend = StoreBackend::new(store.clone(), writer, Duration::from_secs(10));
    let engine = Engine::new(
        backend,
        // these sessions script the CPE's side RPC by RPC: no credentials task in between
        EngineConfig {
            provision_cr_credentials: false,
            ..EngineConfig::default()
        },
        Arc::new(Metrics::default()),
    );
    let mut rig = Rig {
        engine,
        store,
        session: Session::new("s0".into(), "node", t(0)),
        sessions: 0,
        device_id: 0,
        dir,
        _writer: task,
    };
    assert!(matches!(
        body_of(&rig.inform(&[("0 BOOTSTRAP", "")], 0).await),
        Body::InformResponse(_)
    ));
    assert_eq!(rig.empty(0).await, Reply::NoContent);
    rig.device_id = rig
        .store
        .device_by_serial("SN1")
        .await
        .unwrap()
        .expect("registered by its Inform")
        .id;
    rig
}

fn transfer_complete(key: &str, code: u32) -> String {
    envelope(&format!(
        "<cwmp:TransferComplete><CommandKey>{key}</CommandKey><FaultStruct><FaultCode>{code}</FaultCode><FaultString>{}</FaultString></FaultStruct><StartTime>2026-01-01T00:00:00Z</StartTime><CompleteTime>2026-01-01T00:01:00Z</CompleteTime></cwmp:TransferComplete>",
        if code == 0 { "" } else { "failed" }
    ))
}

fn transfer_response(method: &str) -> String {
    envelope(&format!(
        "<cwmp:{method}Response><Status>1</Status><StartTime>0001-01-01T00:00:00Z</StartTime><CompleteTime>0001-01-01T00:00:00Z</CompleteTime></cwmp:{method}Response>"
    ))
}

fn download(url: &str) -> TaskSpec {
    TaskSpec::Download {
        file_type: "1 Firmware Upgrade Image".into(),
        url: url.into(),
        file_size: 0,
        target_file_name: String::new(),
        delay_seconds: 0,
        username: None,
        password: None,
    }
}

impl Rig {
    /// A new session (a new TCP connection and cookie) opened by an Inform with `events`.
    async fn inform(&mut self, events: &[(&str, &str)], at: i64) -> Reply {
        self.sessions += 1;
        self.session = Session::new(format!("s{}", self.sessions), "node", t(at));
        self.send(&inform(events, ""), at).await
    }

    async fn send(&mut self, message: &str, at: i64) -> Reply {
        let message = decoded(message.as_bytes());
        post(&self.engine, &mut self.session, message, t(at)).await
    }

    async fn empty(&mut self, at: i64) -> Reply {
        post(&self.engine, &mut self.session, Decoded::EmptyBody, t(at)).await
    }

    /// The session dies (idle timeout, dropped connection): the engine ends it.
    async fn die(&mut self, at: i64) {
        self.engine.end(&mut self.session, t(at)).await;
    }

    /// What the API would queue for `spec`.
    async fn queue(&self, spec: TaskSpec, at: i64) -> Task {
        let task = spec.new_task(None);
        let mut queued = self
            .store
            .enqueue_tasks(self.device_id, &[task], t(at))
            .await
            .unwrap();
        queued.pop().unwrap()
    }

    async fn task(&self, id: i64) -> Task {
        self.store.task(id).await.unwrap().unwrap()
    }

    async fn pending_settings(&self) -> Option<String> {
        self.store
            .device_by_serial("SN1")
            .await
            .unwrap()
            .unwrap()
            .pending_settings
    }

    /// A session with nothing to report: what the ACS sends after the empty POST.
    async fn quiet_session(&mut self, at: i64) -> Reply {
        assert!(matches!(
            body_of(&self.inform(&[("2 PERIODIC", "")], at).await),
            Body::InformResponse(_)
        ));
        self.empty(at + 1).await
    }

    /// A session that sends the next task's RPC: its body.
    async fn session_sending(&mut self, at: i64) -> Body {
        body_of(&self.quiet_session(at).await)
    }
}

/// Issue 14: a Reboot the CPE accepted and never reported done used to go back to pending
/// when its wait ran out, and was sent again up to `max_attempts` times.
#[tokio::test]
async fn a_reboot_whose_completion_is_never_reported_is_not_sent_a_second_time() {
    let mut r = rig().await;
    let reboot = r.queue(TaskSpec::Reboot {}, 5).await;
    assert!(matches!(r.session_sending(10).await, Body::Reboot(_)));
    assert_eq!(
        r.send(&envelope("<cwmp:RebootResponse/>"), 12).await,
        Reply::NoContent
    );
    // the CPE never reports the reboot: periodic sessions, the sweeps in between
    for at in [600, 3_700, 8_000, 20_000, 100_000] {
        r.store.release_expired_tasks(t(at)).await.unwrap();
        assert_eq!(
            r.quiet_session(at).await,
            Reply::NoContent,
            "at {at} s: nothing more is sent"
        );
    }
    let task = r.task(reboot.id).await;
    assert_eq!(task.attempts, 1, "sent once");
    assert_eq!(task.state, TaskState::Unconfirmed);
    assert_eq!(r.pending_settings().await, None);
}

/// What completes an accepted Reboot or FactoryReset (PROTOCOL §8, §16.3, §16.4): one row per
/// way deployed agents report it, and the reports that complete nothing.
#[tokio::test]
async fn reboot_and_factory_reset_complete_as_deployed_agents_report_them() {
    type Row = (&'static str, &'static [(&'static str, &'static str)], bool);
    // "KEY" stands for the task's own CommandKey
    let reboot: &[Row] = &[
        (
            "M Reboot + 1 BOOT",
            &[("1 BOOT", ""), ("M Reboot", "KEY")],
            true,
        ),
        ("1 BOOT alone", &[("1 BOOT", "")], true),
        (
            "M Reboot, empty key",
            &[("1 BOOT", ""), ("M Reboot", "")],
            true,
        ),
        (
            "M Reboot without BOOT",
            &[("2 PERIODIC", ""), ("M Reboot", "KEY")],
            true,
        ),
        (
            "M Reboot, empty key, no BOOT",
            &[("2 PERIODIC", ""), ("M Reboot", "")],
            true,
        ),
        ("periodic", &[("2 PERIODIC", "")], false),
        (
            "another reboot's key",
            &[("2 PERIODIC", ""), ("M Reboot", "other")],
            false,
        ),
    ];
    let factory_reset: &[Row] = &[
        (
            "BOOTSTRAP + BOOT",
            &[("0 BOOTSTRAP", ""), ("1 BOOT", "")],
            true,
        ),
        ("BOOTSTRAP alone", &[("0 BOOTSTRAP", "")], true),
        ("1 BOOT alone", &[("1 BOOT", "")], true),
        ("periodic", &[("2 PERIODIC", "")], false),
    ];
    for (spec, response, rows) in [
        (TaskSpec::Reboot {}, "RebootResponse", reboot),
        (
            TaskSpec::FactoryReset {},
            "FactoryResetResponse",
            factory_reset,
        ),
    ] {
        for (name, events, completes) in rows {
            let mut r = rig().await;
            let task = r.queue(spec.clone(), 5).await;
            r.session_sending(10).await;
            assert_eq!(
                r.send(&envelope(&format!("<cwmp:{response}/>")), 12).await,
                Reply::NoContent,
                "{response}"
            );
            let events: Vec<(&str, &str)> = events
                .iter()
                .map(|(code, key)| {
                    (
                        *code,
                        if *key == "KEY" {
                            task.command_key.as_str()
                        } else {
                            *key
                        },
                    )
                })
                .collect();
            r.inform(&events, 100).await;
            let after = r.task(task.id).await;
            let want = if *completes {
                TaskState::Done
            } else {
                TaskState::InFlight
            };
            assert_eq!(after.state, want, "{response}, {name}");
            // whatever the report, it is not sent again in that session
            assert_eq!(r.empty(101).await, Reply::NoContent, "{response}, {name}");
        }
    }
}

/// The session died after the Reboot went out and before its response came: the CPE may or
/// may not have rebooted; the next Inform's `1 BOOT` tells.
#[tokio::test]
async fn a_reboot_whose_response_never_came_is_decided_by_the_next_inform() {
    let mut r = rig().await;
    let reboot = r.queue(TaskSpec::Reboot {}, 5).await;
    assert!(matches!(r.session_sending(10).await, Body::Reboot(_)));
    r.die(40).await;
    r.inform(&[("1 BOOT", "")], 100).await;
    assert_eq!(r.task(reboot.id).await.state, TaskState::Done);
    assert_eq!(r.empty(101).await, Reply::NoContent, "not sent again");

    // without a boot the CPE never got it: sent again
    let reboot = r.queue(TaskSpec::Reboot {}, 200).await;
    assert!(matches!(r.session_sending(210).await, Body::Reboot(_)));
    r.die(240).await;
    assert!(matches!(r.session_sending(300).await, Body::Reboot(_)));
    assert_eq!(r.task(reboot.id).await.attempts, 2);
}

/// PROTOCOL §16.5: an agent crashes on an RPC and reconnects; sending it again crash-loops it.
#[tokio::test]
async fn an_rpc_after_which_the_session_dies_three_times_fails_with_the_reason() {
    let mut r = rig().await;
    let gpv = r
        .queue(
            TaskSpec::GetParameterValues {
                names: vec!["InternetGatewayDevice.DeviceInfo.".into()],
            },
            5,
        )
        .await;
    for n in 0..3 {
        let at = 100 * (n + 1);
        assert!(
            matches!(r.session_sending(at).await, Body::GetParameterValues(_)),
            "session {n}"
        );
        r.die(at + 5).await;
    }
    let task = r.task(gpv.id).await;
    assert_eq!(task.state, TaskState::Failed);
    assert_eq!(
        task.fault_string.as_deref(),
        Some("the session ended 3 times right after this RPC was sent")
    );
    assert_eq!(r.quiet_session(1_000).await, Reply::NoContent);
    assert_eq!(r.pending_settings().await, None);
}

/// Issue 14: faults the CPE will report again for the same file fail the task at once; a
/// fault that may pass is retried, but not once it came back the same.
#[tokio::test]
async fn transfer_faults_fail_for_good_or_retry_a_bounded_number_of_times() {
    let mut r = rig().await;
    // 9018: the file is corrupt; the same file will be
    let corrupt = r.queue(download("http://files.test/a.bin"), 5).await;
    assert!(matches!(r.session_sending(10).await, Body::Download(_)));
    r.send(&transfer_response("Download"), 11).await;
    r.inform(
        &[
            ("7 TRANSFER COMPLETE", ""),
            ("M Download", corrupt.command_key.as_str()),
        ],
        100,
    )
    .await;
    r.send(&transfer_complete(&corrupt.command_key, 9018), 101)
        .await;
    assert_eq!(r.empty(102).await, Reply::NoContent);
    let task = r.task(corrupt.id).await;
    assert_eq!(
        (task.state, task.fault_code),
        (TaskState::Failed, Some(9018))
    );

    // 9010: may be a broken connection; retried once, and failed when it comes back the same
    let flaky = r.queue(download("http://files.test/b.bin"), 200).await;
    assert!(matches!(r.session_sending(210).await, Body::Download(_)));
    r.send(&transfer_response("Download"), 211).await;
    r.inform(
        &[
            ("7 TRANSFER COMPLETE", ""),
            ("M Download", flaky.command_key.as_str()),
        ],
        300,
    )
    .await;
    r.send(&transfer_complete(&flaky.command_key, 9010), 301)
        .await;
    let task = r.task(flaky.id).await;
    assert_eq!(
        (task.state, task.fault_code),
        (TaskState::Pending, Some(9010))
    );
    let due = (task.next_attempt_at - t(0)).num_seconds();
    assert_eq!(r.empty(302).await, Reply::NoContent, "backing off");
    assert!(matches!(r.session_sending(due).await, Body::Download(_)));
    r.send(&transfer_response("Download"), due + 1).await;
    r.inform(
        &[
            ("7 TRANSFER COMPLETE", ""),
            ("M Download", flaky.command_key.as_str()),
        ],
        due + 100,
    )
    .await;
    r.send(&transfer_complete(&flaky.command_key, 9010), due + 101)
        .await;
    let task = r.task(flaky.id).await;
    assert_eq!((task.state, task.attempts), (TaskState::Failed, 2));
    assert_eq!(r.empty(due + 102).await, Reply::NoContent);
}

/// Deployed agents send a TransferComplete with an empty CommandKey: it completes the one
/// transfer the device was told about, and nothing when two are awaited.
#[tokio::test]
async fn a_transfer_complete_without_its_command_key_completes_the_one_awaited_transfer() {
    let mut r = rig().await;
    let one = r.queue(download("http://files.test/one.bin"), 5).await;
    r.session_sending(10).await;
    r.send(&transfer_response("Download"), 11).await;
    r.inform(&[("7 TRANSFER COMPLETE", "")], 100).await;
    let reply = r.send(&transfer_complete("", 0), 101).await;
    assert!(matches!(body_of(&reply), Body::TransferCompleteResponse(_)));
    assert_eq!(r.task(one.id).await.state, TaskState::Done);
    assert_eq!(r.empty(102).await, Reply::NoContent);

    let a = r.queue(download("http://files.test/a.bin"), 200).await;
    let b = r.queue(download("http://files.test/b.bin"), 200).await;
    r.session_sending(210).await;
    let second = r.send(&transfer_response("Download"), 211).await;
    assert!(matches!(body_of(&second), Body::Download(_)));
    r.send(&transfer_response("Download"), 212).await;
    r.inform(&[("7 TRANSFER COMPLETE", "")], 300).await;
    r.send(&transfer_complete("", 0), 301).await;
    for id in [a.id, b.id] {
        assert_eq!(r.task(id).await.state, TaskState::InFlight, "ambiguous");
    }
}

/// Issue 13: three reboot PATCHes gave one session with `Reboot, Reboot`.
#[tokio::test]
async fn identical_reboot_intents_reach_the_cpe_as_one_reboot() {
    let mut r = rig().await;
    for at in [5, 6, 7] {
        r.queue(TaskSpec::Reboot {}, at).await;
    }
    assert!(matches!(r.session_sending(10).await, Body::Reboot(_)));
    assert_eq!(
        r.send(&envelope("<cwmp:RebootResponse/>"), 12).await,
        Reply::NoContent,
        "one Reboot per session"
    );
}

/// Issue 12: every fault code a CPE reported became a metrics series of its own.
#[tokio::test]
async fn cpe_fault_codes_outside_the_tables_share_one_metrics_label() {
    let mut r = rig().await;
    r.inform(&[("7 TRANSFER COMPLETE", "")], 10).await;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in 0..300u32 {
        // xorshift: codes all over the u32 range, some inside the tables
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let code = if i % 10 == 0 {
            9000 + (seed % 40) as u32
        } else {
            (seed % u64::from(u32::MAX)) as u32
        };
        let reply = r
            .send(&transfer_complete(&format!("k{i}"), code.max(1)), 11)
            .await;
        assert!(matches!(body_of(&reply), Body::TransferCompleteResponse(_)));
    }
    let text = r.engine.metrics().render();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("acs_cpe_faults_total{"))
        .collect();
    assert!(series.len() <= 34, "{} series: {series:#?}", series.len());
    assert!(
        series.iter().any(|l| l.contains("code=\"other\"")),
        "{series:#?}"
    );
    for line in &series {
        let code = line
            .split("code=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(
            code == "other" || cwmp::FaultCode(code.parse().unwrap()).meaning().is_some(),
            "{line}"
        );
    }
}
