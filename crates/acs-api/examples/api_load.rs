//! A load probe for the two API latency goals (not a test): GET a filtered page of 100 over N
//! devices, and PATCH `{"reboot": true}` end to end (task stored, connection request sent).
//!
//! `cargo run --release -p acs-api --example api_load -- [DEVICES] [--postgres]` (default
//! 1000000). Prints medians and p90 in milliseconds as JSON. Figures vary with machine load.
//!
//! SQLite: the seeded database is cached in `target/api-load/seed-DEVICES.db` and each run
//! works on a copy of it, migrated (and re-analyzed) when this binary's schema is newer, so a
//! build of an older tree and a newer one can be timed alternately on the same seed (seed
//! with the older one first: a seed migrated past this binary's schema is seeded again).
//! `--postgres`: a database created in `ACS_TEST_POSTGRES_URL`'s server, seeded the same
//! way, dropped at the end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use acs_api::{ApiConfig, ApiState};
use acs_session::connection_request::{ConnectionRequestConfig, ConnectionRequester};
use acs_store::{Inform, SecretKey, Store, StoreError, TokenScope};
use acs_testkit::fleet::seed;
use acs_testkit::{Backend, create_database, drop_database, unique_name, with_database};
use chrono::Utc;
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Status and body (the list pages are small enough to read whole).
async fn request(addr: std::net::SocketAddr, head: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let req = format!("{head}Content-Length: {}\r\n\r\n{body}", body.len());
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

const REQUESTS: usize = 100;

/// The filtered pages measured: narrow (one organization), the old probe's filter, type +
/// since with many matches (the page walks the type in id order) and with few (it sorts
/// them), and the broad ones whose `count` covers most of the fleet.
const LISTS: [(&str, &str); 6] = [
    ("org_status", "organization=7&status=false&"),
    (
        "org_status_active",
        "organization=7&status=false&is_active=true&",
    ),
    (
        "type_active_since",
        "type=3&is_active=true&last_status_change_from=2026-01-05&",
    ),
    (
        "type_active_since_narrow",
        "type=3&is_active=true&last_status_change_from=2026-01-11T12:00:00Z&",
    ),
    ("status_up", "status=true&"),
    ("no_filter", ""),
];

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i].as_secs_f64() * 1000.0
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Seeds `path` afresh: schema, catalog, then the devices in SQL (a million devices one API
/// call at a time would take longer than the measurement), analyzed and checkpointed so the
/// file alone is the database.
async fn seed_sqlite(path: &Path, devices: i64) {
    remove_db(path);
    let url = sqlite_url(path);
    let store = Store::connect(&url, SecretKey::generate())
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    store.close().await;
    let started = Instant::now();
    seed(&url, Backend::Sqlite, devices, "LOAD").await;
    eprintln!(
        "{devices} devices seeded in {:?} (cached in {})",
        started.elapsed(),
        path.display()
    );
}

/// A migrated SQLite database of `devices` devices in `dir`, copied from the cached seed.
async fn sqlite_store(dir: &Path, devices: i64) -> Store {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let cache_dir = target.join("api-load");
    std::fs::create_dir_all(&cache_dir).expect("cache dir");
    let seed = cache_dir.join(format!("seed-{devices}.db"));
    let copy = dir.join("acs.db");
    let url = sqlite_url(&copy);
    for attempt in 0..2 {
        if attempt == 1 || !seed.exists() {
            seed_sqlite(&seed, devices).await;
        }
        remove_db(&copy);
        std::fs::copy(&seed, &copy).expect("copy the seed");
        let seeded_version: i64 = {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
            let v = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
                .fetch_one(&mut conn)
                .await
                .expect("schema version");
            conn.close().await.expect("close");
            v
        };
        let store = Store::connect(&url, SecretKey::generate())
            .await
            .expect("store");
        match store.migrate().await {
            Ok(()) => {}
            Err(StoreError::SchemaTooNew { .. }) if attempt == 0 => {
                store.close().await;
                eprintln!("the cached seed has a newer schema than this binary: seeding again");
                continue;
            }
            Err(e) => panic!("migrate: {e}"),
        }
        let have = store
            .count_devices(&Default::default())
            .await
            .expect("count");
        if have != devices && attempt == 0 {
            store.close().await;
            continue;
        }
        if seeded_version < store.schema_version() {
            let started = Instant::now();
            let pool = sqlx::SqlitePool::connect(&url).await.expect("pool");
            sqlx::query("ANALYZE")
                .execute(&pool)
                .await
                .expect("analyze");
            pool.close().await;
            eprintln!(
                "seed migrated from schema {seeded_version} to {}, analyzed in {:?}",
                store.schema_version(),
                started.elapsed()
            );
        }
        return store;
    }
    unreachable!("the second attempt seeds afresh")
}

/// A database created for this run in the server of `base`, seeded like the SQLite one;
/// returns the store and the database's name, to drop it with.
async fn postgres_store(base: &str, devices: i64) -> (Store, String) {
    let db = unique_name("acs_api_load");
    create_database(base, &db).await.expect("create database");
    let url = with_database(base, &db);
    let store = Store::connect(&url, SecretKey::generate())
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    let started = Instant::now();
    seed(&url, Backend::Postgres, devices, "LOAD").await;
    eprintln!("{devices} devices seeded in {:?} ({db})", started.elapsed());
    (store, db)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let devices: i64 = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let postgres = args.iter().any(|a| a == "--postgres");
    let dir = std::env::temp_dir().join(format!("acs-api-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut pg_db = None;
    let store = if postgres {
        let base = std::env::var("ACS_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .expect("--postgres needs ACS_TEST_POSTGRES_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres");
        let (store, db) = postgres_store(&base, devices).await;
        pg_db = Some((base, db));
        store
    } else {
        sqlite_store(&dir, devices).await
    };

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
                serial_number: format!("LOAD{:08}", i + 1),
                oui: "000000".into(),
                product_class: None,
                manufacturer: None,
                software_version: None,
                hardware_version: None,
                connection_request_url: Some(cr_url.clone()),
                address: None,
                peer_address: None,
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
    let app = acs_api::router(ApiState::new(
        store.clone(),
        requester,
        std::sync::Arc::default(),
        config,
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("api");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let auth = format!("Authorization: Bearer {}\r\n", token.expose());

    let mut report = Vec::new();
    for (name, query) in LISTS {
        let mut samples = Vec::new();
        let mut count = 0;
        for i in 0..REQUESTS {
            let offset = (i % 20) * 100;
            let head = format!(
                "GET /api/v1/inventory_device_serial/?{query}limit=100&offset={offset} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}"
            );
            let t = Instant::now();
            let (status, body) = request(addr, &head, "").await;
            samples.push(t.elapsed());
            assert_eq!(status, 200, "{body}");
            if i == 0 {
                count = serde_json::from_str::<serde_json::Value>(&body).expect("page")["count"]
                    .as_i64()
                    .unwrap_or(-1);
            }
        }
        report.push(format!(
            "\"{name}\": {{\"count\": {count}, \"p50_ms\": {:.2}, \"p90_ms\": {:.2}}}",
            percentile(&mut samples, 0.5),
            percentile(&mut samples, 0.9)
        ));
    }
    let mut patch = Vec::new();
    for i in 0..200 {
        let head = format!(
            "PATCH /api/v1/inventory_device_serial/LOAD{:08}/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}",
            i + 1
        );
        let t = Instant::now();
        assert_eq!(request(addr, &head, "{\"reboot\": true}").await.0, 200);
        patch.push(t.elapsed());
    }
    println!(
        "{{\"backend\": \"{}\", \"devices\": {devices}, {}, \"patch_reboot_p50_ms\": {:.2}, \"patch_reboot_p90_ms\": {:.2}}}",
        if postgres { "postgres" } else { "sqlite" },
        report.join(", "),
        percentile(&mut patch, 0.5),
        percentile(&mut patch, 0.9)
    );
    store.close().await;
    if let Some((base, db)) = pg_db {
        drop_database(&base, &db).await.expect("drop database");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
