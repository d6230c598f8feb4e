//! A load probe for the two API latency goals (not a test): GET a filtered page of 100 over N
//! devices, and PATCH `{"reboot": true}` end to end (task stored, connection request sent).
//!
//! `cargo run --release -p acs-api --example api_load -- [DEVICES]` (default 100000). Prints
//! medians and p90 in milliseconds as JSON. Figures vary with machine load.

use std::time::{Duration, Instant};

use acs_api::{ApiConfig, ApiState};
use acs_session::connection_request::{ConnectionRequestConfig, ConnectionRequester};
use acs_store::{Inform, NewDevice, SecretKey, Store, TokenScope};
use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn request(addr: std::net::SocketAddr, head: &str, body: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let req = format!("{head}Content-Length: {}\r\n\r\n{body}", body.len());
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    String::from_utf8_lossy(&raw)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let devices: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("acs-api-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = format!("sqlite://{}", dir.join("acs.db").display());
    let store = Store::connect(&url, SecretKey::generate())
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    let org = store
        .create_organization("load", Utc::now())
        .await
        .expect("org");
    let started = Instant::now();
    for i in 0..devices {
        let new = NewDevice {
            serial_number: format!("LOAD{i:08}"),
            name: Some(format!("device {i}")),
            organization_id: Some(org.id),
            ..NewDevice::default()
        };
        store.create_device(&new, Utc::now()).await.expect("device");
    }
    eprintln!("{devices} devices in {:?}", started.elapsed());

    // A CPE that answers every connection request at once.
    let cpe = TcpListener::bind("127.0.0.1:0").await.expect("cpe");
    let cr_url = format!("http://{}/", cpe.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = cpe.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    for i in 0..200 {
        store
            .upsert_inform(&Inform {
                serial_number: format!("LOAD{i:08}"),
                oui: "000000".into(),
                product_class: None,
                manufacturer: None,
                software_version: None,
                hardware_version: None,
                connection_request_url: Some(cr_url.clone()),
                address: None,
                parameter_key: None,
                events: vec![],
                parameters: vec![],
                auto_register: false,
                now: Utc::now(),
            })
            .await
            .expect("inform");
    }

    let (_, token) = store
        .create_token("load", TokenScope::Admin, Utc::now())
        .await
        .expect("token");
    let requester = ConnectionRequester::new(ConnectionRequestConfig {
        min_interval_per_device: Duration::ZERO,
        ..ConnectionRequestConfig::default()
    });
    let config = ApiConfig {
        data_dir: dir.clone(),
        ..ApiConfig::default()
    };
    let app = acs_api::router(ApiState::new(store.clone(), requester, config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("api");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let auth = format!("Authorization: Bearer {}\r\n", token.expose());

    let mut list = Vec::new();
    for i in 0..200usize {
        let offset = (i * 997) % devices.max(1);
        let head = format!(
            "GET /api/v1/inventory_device_serial/?organization={}&status=false&is_active=true&limit=100&offset={offset} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}",
            org.id
        );
        let t = Instant::now();
        assert_eq!(request(addr, &head, "").await, 200);
        list.push(t.elapsed());
    }
    let mut patch = Vec::new();
    for i in 0..200 {
        let head = format!(
            "PATCH /api/v1/inventory_device_serial/LOAD{i:08}/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}"
        );
        let t = Instant::now();
        assert_eq!(request(addr, &head, "{\"reboot\": true}").await, 200);
        patch.push(t.elapsed());
    }
    println!(
        "{{\"devices\": {devices}, \"list_p50_ms\": {:.2}, \"list_p90_ms\": {:.2}, \"patch_reboot_p50_ms\": {:.2}, \"patch_reboot_p90_ms\": {:.2}}}",
        percentile(&mut list, 0.5),
        percentile(&mut list, 0.9),
        percentile(&mut patch, 0.5),
        percentile(&mut patch, 0.9)
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
