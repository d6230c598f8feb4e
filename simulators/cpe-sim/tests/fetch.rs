//! The file fetch behind Download, ScheduleDownload and ChangeDUState: bodies of tens of
//! megabytes streamed from a server that generates them (neither side holds them), the
//! FileSize check, and the TransferComplete fault codes (9013 bad URL, 9015 cannot connect,
//! 9016 HTTP error, 9017 transfer failed or timed out, 9018 size mismatch).

mod fake_acs;
mod file_server;

use std::time::Duration;

use cpe_sim::cpe::fetch;
use cpe_sim::datamodel::Model;
use cpe_sim::fleet::{self, SerialPattern};
use cpe_sim::settings::Settings;
use cwmp::Body;
use fake_acs::FakeAcs;
use file_server::{FileServer, Hit, PASSWORD, USER};

/// 40 MiB.
const BIG: u64 = 40 << 20;

fn settings(acs_url: &str) -> Settings {
    let mut s = Settings::new(acs_url).unwrap();
    s.reboot_delay = Duration::ZERO;
    s.http_timeout = Duration::from_secs(120);
    s
}

#[tokio::test]
async fn a_large_file_is_counted_and_checked_against_file_size() {
    let files = FileServer::start().await;
    let s = settings(&files.url("/acs"));
    let size = u32::try_from(BIG).unwrap();
    for route in ["gen", "chunked"] {
        let url = files.url(&format!("/{route}/{BIG}"));
        assert_eq!(fetch(&s, &url, "", "", size).await, Ok(BIG), "{route}");
        // FileSize 0: no size to check.
        assert_eq!(fetch(&s, &url, "", "", 0).await, Ok(BIG), "{route}");
        for wrong in [size - 1, size + 1, 1] {
            let (code, message) = fetch(&s, &url, "", "", wrong).await.unwrap_err();
            assert_eq!(code, 9018, "{route}, FileSize {wrong}: {message}");
            assert_eq!(
                message,
                format!("file is {BIG} bytes, FileSize says {wrong}")
            );
        }
    }
}

#[tokio::test]
async fn fetch_failures_keep_their_fault_codes() {
    let files = FileServer::start().await;
    let s = settings(&files.url("/acs"));

    for url in [
        "https://files.test/fw.bin",
        "ftp://files.test/fw.bin",
        "http:///fw.bin",
        "http://files.test:99999/fw.bin",
    ] {
        let (code, message) = fetch(&s, url, "", "", 0).await.unwrap_err();
        assert_eq!(code, 9013, "{url}: {message}");
    }

    // Nobody listens on a port just released.
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let (code, message) = fetch(&s, &format!("http://{closed}/fw.bin"), "", "", 0)
        .await
        .unwrap_err();
    assert_eq!(code, 9015, "{message}");

    for path in ["/status/404", "/status/500", "/status/204", "/nothing"] {
        let (code, message) = fetch(&s, &files.url(path), "", "", 0).await.unwrap_err();
        assert_eq!(code, 9016, "{path}: {message}");
    }

    // The body ends (the server closes) halfway through its announced length.
    let (code, message) = fetch(&s, &files.url(&format!("/cut/{BIG}")), "", "", 0)
        .await
        .unwrap_err();
    assert_eq!(code, 9017, "{message}");
}

#[tokio::test]
async fn a_401_is_answered_and_only_the_file_is_counted() {
    let files = FileServer::start().await;
    let s = settings(&files.url("/acs"));
    let url = files.url(&format!("/auth/{BIG}"));
    let size = u32::try_from(BIG).unwrap();

    // The 1 MiB body of the 401 (`file_server::CHALLENGE_BODY`) is read and dropped; the
    // answer on the same connection is the file, counted alone.
    assert_eq!(fetch(&s, &url, USER, PASSWORD, size).await, Ok(BIG));
    let unauthorized = Hit {
        path: format!("/auth/{BIG}"),
        authorized: false,
    };
    let authorized = Hit {
        authorized: true,
        ..unauthorized.clone()
    };
    assert_eq!(files.take(), [unauthorized.clone(), authorized]);

    // Without credentials, or with wrong ones, the 401 stays: an HTTP error.
    for (user, password) in [("", ""), (USER, "wrong")] {
        let (code, message) = fetch(&s, &url, user, password, size).await.unwrap_err();
        assert_eq!(
            (code, message.as_str()),
            (9016, &*format!("http status 401 for {url}"))
        );
    }
}

/// The HTTP timeout bounds the whole fetch, body included: a body that stops coming fails
/// with 9017. (Paused clock: the runtime moves time on when every task waits.)
#[tokio::test(start_paused = true)]
async fn a_stalled_body_fails_at_the_http_timeout() {
    let files = FileServer::start().await;
    let mut s = settings(&files.url("/acs"));
    s.http_timeout = Duration::from_secs(30);
    let url = files.url(&format!("/stall/{BIG}"));
    let fetched = tokio::time::timeout(Duration::from_secs(300), fetch(&s, &url, "", "", 0))
        .await
        .expect("the fetch's own timeout ends it");
    let (code, message) = fetched.unwrap_err();
    assert_eq!(code, 9017, "{message}");
    assert_eq!(message, "no answer within 30s");
}

fn transfer_complete(seen: &[fake_acs::Seen]) -> cwmp::TransferComplete {
    seen.iter()
        .filter(|r| r.method == "POST")
        .find_map(|r| match r.envelope().map(|e| e.body) {
            Some(Body::TransferComplete(tc)) => Some(tc),
            _ => None,
        })
        .expect("a TransferComplete")
}

#[tokio::test]
async fn a_firmware_download_of_tens_of_megabytes_is_reported_by_size() {
    let acs = FakeAcs::start().await;
    let files = FileServer::start().await;
    let s = settings(&acs.url);
    let pattern = SerialPattern::parse("F{:04}").unwrap();
    let cpe = fleet::build(Model::Tr181, 1, &pattern, &s, None)
        .unwrap()
        .remove(0);
    cpe.queue_event("1 BOOT", "");
    let download = |key: &str, size: u64| {
        Body::Download(cwmp::Download {
            command_key: key.to_owned(),
            file_type: "1 Firmware Upgrade Image".to_owned(),
            url: files.url(&format!("/gen/{BIG}")),
            file_size: u32::try_from(size).unwrap(),
            ..cwmp::Download::default()
        })
    };
    let version = || {
        cpe.state()
            .device
            .get("Device.DeviceInfo.SoftwareVersion")
            .unwrap()
            .to_owned()
    };
    let before = version();

    // A wrong FileSize: 9018, and the image is not booted.
    acs.script([download("too-big", BIG - 1)]);
    cpe.session(&s).await.unwrap();
    assert!(cpe.after_session(&s).await);
    assert_eq!(version(), before);
    cpe.session(&s).await.unwrap();
    let tc = transfer_complete(&acs.take());
    assert_eq!(
        (tc.command_key.as_str(), tc.fault_struct.fault_code.0),
        ("too-big", 9018)
    );

    acs.script([download("fw", BIG)]);
    cpe.session(&s).await.unwrap();
    assert!(cpe.after_session(&s).await);
    assert_eq!(version(), BIG.to_string(), "the URL's file name");
    cpe.session(&s).await.unwrap();
    let tc = transfer_complete(&acs.take());
    assert_eq!(
        (tc.command_key.as_str(), tc.fault_struct.fault_code.0),
        ("fw", 0)
    );
    assert_eq!(files.take().len(), 2, "one GET per Download");
}
