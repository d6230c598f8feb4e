//! Queued transfers and deployment units against a scripted fake ACS: ScheduleDownload,
//! GetQueuedTransfers, CancelTransfer, ChangeDUState with its DUStateChangeComplete, and the
//! CPE's own requests held back by HoldRequests.

mod fake_acs;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cpe_sim::cpe::Cpe;
use cpe_sim::datamodel::Model;
use cpe_sim::fleet::{self, SerialPattern};
use cpe_sim::settings::Settings;
use cwmp::{Body, DuOperation, Envelope};
use fake_acs::{FakeAcs, Seen};

fn setup(acs: &FakeAcs) -> (Settings, Arc<Cpe>) {
    let mut s = Settings::new(&acs.url).unwrap();
    s.reboot_delay = Duration::ZERO;
    s.http_timeout = Duration::from_secs(5);
    let pattern = SerialPattern::parse("Q{:04}").unwrap();
    let cpe = fleet::build(Model::Tr181, 1, &pattern, &s, None)
        .unwrap()
        .remove(0);
    cpe.queue_event("0 BOOTSTRAP", "");
    (s, cpe)
}

/// The bodies the CPE POSTed, empty POSTs as `None`.
fn posted(seen: &[Seen]) -> Vec<Option<Body>> {
    seen.iter()
        .filter(|s| s.method == "POST")
        .map(|s| s.envelope().map(|e: Envelope| e.body))
        .collect()
}

/// One session in which the ACS sends `requests`: the bodies of the CPE's POSTs.
async fn session_with(
    acs: &FakeAcs,
    s: &Settings,
    cpe: &Cpe,
    requests: impl IntoIterator<Item = Body>,
) -> Vec<Option<Body>> {
    acs.script(requests);
    cpe.session(s).await.unwrap();
    posted(&acs.take())
}

/// Asserts that `inform` is an Inform announcing each of `expected` (event code, CommandKey),
/// among others.
#[track_caller]
fn assert_announces(inform: &Option<Body>, expected: &[(&str, &str)]) {
    let Some(Body::Inform(i)) = inform else {
        panic!("expected an Inform, got {inform:?}");
    };
    let ev: Vec<(&str, &str)> = i
        .event
        .iter()
        .map(|e| (e.event_code.as_str(), e.command_key.as_str()))
        .collect();
    for want in expected {
        assert!(ev.contains(want), "{want:?} not announced: {ev:?}");
    }
}

fn fault_code(b: &Option<Body>) -> u32 {
    match b {
        Some(Body::Fault(f)) => f.detail.as_ref().unwrap().fault_code.0,
        other => panic!("expected a fault, got {other:?}"),
    }
}

fn queued(b: &Option<Body>) -> Vec<String> {
    match b {
        Some(Body::GetQueuedTransfersResponse(r)) => r
            .transfer_list
            .iter()
            .map(|t| t.command_key.clone())
            .collect(),
        other => panic!("expected GetQueuedTransfersResponse, got {other:?}"),
    }
}

fn schedule(acs: &FakeAcs, key: &str, start: u32, end: u32) -> Body {
    Body::ScheduleDownload(cwmp::ScheduleDownload {
        command_key: key.to_owned(),
        file_type: "1 Firmware Upgrade Image".to_owned(),
        url: format!("{}/fw/box-3.0.bin", acs.base),
        file_size: 500,
        time_window_list: vec![cwmp::TimeWindow {
            window_start: start,
            window_end: end,
            window_mode: "1 At Any Time".to_owned(),
            user_message: String::new(),
            max_retries: 0,
        }],
        ..cwmp::ScheduleDownload::default()
    })
}

#[tokio::test]
async fn schedule_download_is_queued_listed_cancelled_and_carried_out() {
    let acs = FakeAcs::start().await;
    let (s, cpe) = setup(&acs);
    acs.serve_file("/fw/box-3.0.bin", Bytes::from(vec![7u8; 500]));
    let msgs = session_with(
        &acs,
        &s,
        &cpe,
        [
            schedule(&acs, "now", 0, 600),
            schedule(&acs, "later", 3600, 7200),
            Body::GetQueuedTransfers(cwmp::GetQueuedTransfers),
            Body::CancelTransfer(cwmp::CancelTransfer {
                command_key: "later".into(),
            }),
            Body::CancelTransfer(cwmp::CancelTransfer {
                command_key: "unknown".into(),
            }),
            Body::GetQueuedTransfers(cwmp::GetQueuedTransfers),
        ],
    )
    .await;
    assert!(
        matches!(msgs[2], Some(Body::ScheduleDownloadResponse(_))),
        "{:?}",
        msgs[2]
    );
    assert!(matches!(msgs[3], Some(Body::ScheduleDownloadResponse(_))));
    assert_eq!(queued(&msgs[4]), ["now", "later"]);
    assert!(matches!(msgs[5], Some(Body::CancelTransferResponse(_))));
    assert_eq!(fault_code(&msgs[6]), 9021, "unknown CommandKey");
    assert_eq!(queued(&msgs[7]), ["now"]);

    // The first window is open: the download happens after the session.
    assert!(cpe.after_session(&s).await);
    let fetched = acs.take();
    assert!(
        fetched
            .iter()
            .any(|r| r.method == "GET" && r.path == "/fw/box-3.0.bin")
    );
    // Too late to cancel what was carried out.
    let msgs = session_with(
        &acs,
        &s,
        &cpe,
        [
            Body::CancelTransfer(cwmp::CancelTransfer {
                command_key: "now".into(),
            }),
            Body::GetQueuedTransfers(cwmp::GetQueuedTransfers),
        ],
    )
    .await;
    assert_announces(
        &msgs[0],
        &[("7 TRANSFER COMPLETE", ""), ("M ScheduleDownload", "now")],
    );
    match &msgs[1] {
        Some(Body::TransferComplete(tc)) => {
            assert_eq!(
                (tc.command_key.as_str(), tc.fault_struct.fault_code.0),
                ("now", 0)
            );
        }
        other => panic!("expected TransferComplete, got {other:?}"),
    }
    assert_eq!(fault_code(&msgs[3]), 9021);
    assert!(queued(&msgs[4]).is_empty());
}

#[tokio::test]
async fn bad_time_windows_and_file_types_are_refused() {
    let acs = FakeAcs::start().await;
    let (s, cpe) = setup(&acs);
    let mut wrong_type = schedule(&acs, "t", 0, 10);
    if let Body::ScheduleDownload(sd) = &mut wrong_type {
        sd.file_type = "9 Nonsense".into();
    }
    let msgs = session_with(&acs, &s, &cpe, [schedule(&acs, "w", 20, 10), wrong_type]).await;
    assert_eq!(fault_code(&msgs[2]), 9003);
    assert_eq!(fault_code(&msgs[3]), 9003);
    assert!(cpe.state().transfers.is_empty());
}

#[tokio::test]
async fn change_du_state_reports_its_results_in_a_later_session() {
    let acs = FakeAcs::start().await;
    let (s, cpe) = setup(&acs);
    acs.serve_file("/du/voip-1.2.ipk", Bytes::from_static(b"package"));
    let uuid = "6ba7b810-9dad-41d1-80b4-00c04fd430c8";
    let msgs = session_with(
        &acs,
        &s,
        &cpe,
        [Body::ChangeDuState(cwmp::ChangeDuState {
            operations: vec![
                DuOperation::Install {
                    url: format!("{}/du/voip-1.2.ipk", acs.base),
                    uuid: Some(uuid.into()),
                    username: None,
                    password: None,
                    execution_env_ref: None,
                },
                DuOperation::Install {
                    url: format!("{}/du/missing.ipk", acs.base),
                    uuid: None,
                    username: None,
                    password: None,
                    execution_env_ref: None,
                },
                DuOperation::Uninstall {
                    uuid: "00000000-0000-4000-8000-000000000000".into(),
                    version: None,
                    execution_env_ref: None,
                },
            ],
            command_key: "du-1".into(),
        })],
    )
    .await;
    assert!(
        matches!(msgs[2], Some(Body::ChangeDuStateResponse(_))),
        "{:?}",
        msgs[2]
    );
    assert!(
        cpe.after_session(&s).await,
        "a session follows to report the results"
    );
    assert_eq!(cpe.state().software.units().len(), 1);

    cpe.session(&s).await.unwrap();
    let msgs = posted(&acs.take());
    assert_announces(
        &msgs[0],
        &[
            ("11 DU STATE CHANGE COMPLETE", ""),
            ("M ChangeDUState", "du-1"),
        ],
    );
    let Some(Body::DuStateChangeComplete(done)) = &msgs[1] else {
        panic!("expected DUStateChangeComplete, got {:?}", msgs[1]);
    };
    assert_eq!(done.command_key, "du-1");
    let r: Vec<_> = done
        .results
        .iter()
        .map(|r| {
            (
                r.current_state.as_str(),
                r.version.as_str(),
                r.fault.fault_code.0,
            )
        })
        .collect();
    assert_eq!(
        r,
        [
            ("Installed", "voip-1.2", 0),
            ("Failed", "", 9016),
            ("Failed", "", 9028)
        ]
    );
    assert_eq!(done.results[0].uuid, uuid);
    assert!(msgs[2].is_none(), "then the empty POST");

    // Uninstalled by the ACS in a later session.
    acs.script([Body::ChangeDuState(cwmp::ChangeDuState {
        operations: vec![DuOperation::Uninstall {
            uuid: uuid.into(),
            version: Some("voip-1.2".into()),
            execution_env_ref: None,
        }],
        command_key: "du-2".into(),
    })]);
    cpe.session(&s).await.unwrap();
    cpe.after_session(&s).await;
    acs.take();
    assert!(cpe.state().software.units().is_empty());
}

#[tokio::test]
async fn hold_requests_keeps_the_transfer_complete_for_a_later_session() {
    let acs = FakeAcs::start().await;
    let (s, cpe) = setup(&acs);
    acs.serve_file("/cfg.xml", Bytes::from_static(b"<cfg/>"));
    acs.script([Body::Download(cwmp::Download {
        command_key: "cfg".into(),
        file_type: "3 Vendor Configuration File".into(),
        url: format!("{}/cfg.xml", acs.base),
        ..cwmp::Download::default()
    })]);
    cpe.session(&s).await.unwrap();
    assert!(cpe.after_session(&s).await);
    acs.take();

    acs.hold_requests(true);
    cpe.session(&s).await.unwrap();
    let msgs = posted(&acs.take());
    assert!(
        msgs[1].is_none(),
        "held: the empty POST right after the Inform, {:?}",
        msgs[1]
    );
    assert_eq!(msgs.len(), 2);

    acs.hold_requests(false);
    cpe.session(&s).await.unwrap();
    let msgs = posted(&acs.take());
    // Announced again until delivered.
    assert_announces(&msgs[0], &[("7 TRANSFER COMPLETE", "")]);
    assert!(matches!(&msgs[1], Some(Body::TransferComplete(tc)) if tc.command_key == "cfg"));
}
