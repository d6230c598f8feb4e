//! Bounds of `acs serve` over time and on disk (issue 12 item 12): Inform events pruned by
//! age and per device by the sweep, data files the owner's alone.

use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod support;
use support::server::{run_big, start};

fn event(code: &str) -> acs_store::InformEvent {
    acs_store::InformEvent {
        code: code.into(),
        command_key: String::new(),
    }
}

fn inform(serial: &str, code: &str, now: chrono::DateTime<Utc>) -> acs_store::Inform {
    acs_store::Inform {
        serial_number: serial.into(),
        oui: "A1B2C3".into(),
        product_class: None,
        manufacturer: None,
        software_version: None,
        hardware_version: None,
        connection_request_url: None,
        address: None,
        peer_address: None,
        parameter_key: None,
        events: vec![event(code)],
        parameters: vec![],
        auto_register: true,
        now,
    }
}

/// With `--events-per-device 3 --event-max-age-days 30`, the sweep leaves a device its 3
/// newest events and none older than 30 days.
#[test]
fn the_sweep_prunes_events_by_age_and_per_device() {
    run_big(async {
        let s = start(
            &[
                "--status-sweep-interval",
                "1",
                "--events-per-device",
                "3",
                "--event-max-age-days",
                "30",
            ],
            &[],
        );
        let store = s.store().await;
        let long_ago = Utc::now() - chrono::Duration::days(40);
        for code in ["0 BOOTSTRAP", "1 BOOT"] {
            store
                .upsert_inform(&inform("EV1", code, long_ago))
                .await
                .unwrap();
            store
                .upsert_inform(&inform("EV2", code, long_ago))
                .await
                .unwrap();
        }
        for _ in 0..6 {
            store
                .upsert_inform(&inform("EV1", "2 PERIODIC", Utc::now()))
                .await
                .unwrap();
        }
        store
            .upsert_inform(&inform("EV2", "2 PERIODIC", Utc::now()))
            .await
            .unwrap();
        let ev1 = store.device_by_serial("EV1").await.unwrap().unwrap().id;
        let ev2 = store.device_by_serial("EV2").await.unwrap().unwrap().id;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let a = store.list_events(ev1, 100).await.unwrap();
            let b = store.list_events(ev2, 100).await.unwrap();
            let recent =
                |e: &acs_store::EventRecord| e.received > Utc::now() - chrono::Duration::days(1);
            if a.len() == 3 && a.iter().all(recent) && b.len() == 1 && b.iter().all(recent) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "not pruned within 60 s: EV1 {a:?}, EV2 {b:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        store.close().await;
    });
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The data directory (0700), the database with its WAL and shared-memory files, the secret
/// key, and the firmware directory and files (0600) are the owner's alone, whatever the umask.
#[cfg(unix)]
#[test]
fn data_files_are_the_owners_alone() {
    run_big(async {
        let root = support::temp_dir("acs-modes");
        let data = root.join("data");
        let data_str = data.display().to_string();
        let url = format!("sqlite://{}/acs.db", data.display());
        let s = start(
            &[],
            &[("ACS_DATA_DIR", &data_str), ("ACS_DATABASE_URL", &url)],
        );
        // An Inform writes through the WAL.
        let mut cpe = TcpStream::connect(&s.cwmp).await.unwrap();
        let r = support::exchange(&mut cpe, &support::post(&support::inform("SN-M"), ""))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        let store =
            acs_store::Store::connect(&url, acs_store::SecretKey::load_or_create(&data).unwrap())
                .await
                .unwrap();
        let (_, token) = store
            .create_token("t", acs_store::TokenScope::Admin, Utc::now())
            .await
            .unwrap();
        // A firmware upload through the API.
        let boundary = "b0undary";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"version\"\r\n\r\n1\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"fw.bin\"\r\n\
             Content-Type: application/octet-stream\r\n\r\nfirmware\r\n--{boundary}--\r\n"
        );
        let request = format!(
            "POST /api/v1/firmware_images/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Authorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
             Content-Length: {}\r\n\r\n{body}",
            token.expose(),
            body.len()
        );
        let mut api = TcpStream::connect(&s.api).await.unwrap();
        api.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        api.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
        assert_eq!(mode(&data), 0o700, "data directory");
        for name in ["acs.db", "acs.db-wal", "acs.db-shm", "secret.key"] {
            assert_eq!(mode(&data.join(name)), 0o600, "{name}");
        }
        let firmware = data.join("firmware");
        assert_eq!(mode(&firmware), 0o700, "firmware directory");
        for entry in std::fs::read_dir(&firmware).unwrap() {
            let path = entry.unwrap().path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        store.close().await;
        drop(s);
        let _ = std::fs::remove_dir_all(&root);
    });
}
