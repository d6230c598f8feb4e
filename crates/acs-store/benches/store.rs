//! Store benchmark (not a test): Inform upserts/s and whole sessions' writes/s (start +
//! idle turn) through the batched writer (device + 20 parameters), and a filtered page of 100
//! over 1,000,000 devices, per backend. Prints medians. `cargo bench -p acs-store --bench store`.
//!
//! ACS_BENCH_DEVICES (default 1000000), ACS_BENCH_INFORMS (default 20000),
//! ACS_TEST_POSTGRES_URL (PostgreSQL half; skipped with a note when unset). The seeded SQLite
//! file is cached under target/acs-store-bench/ between runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use acs_store::{
    DeviceFilter, DeviceStatus, Inform, InformEvent, InformOutcome, InformWriter, ParameterValue,
    SecretKey, SessionStart, SessionStartOutcome, SessionTurn, Store, WriterConfig,
};
#[path = "../tests/contract/informs.rs"]
mod informs;

use acs_testkit::fleet::{ORGS, TYPES, base_time, seed};
use acs_testkit::{Backend, create_database, drop_database, unique_name, with_database};
use chrono::{DateTime, Utc};
use informs::hgw_inform;

const CONCURRENT_SESSIONS: usize = 256;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn inform(serial: String, now: DateTime<Utc>) -> Inform {
    let parameters = (0..20)
        .map(|i| ParameterValue {
            path: format!("Device.X_Bench.Stats.{i}.Value"),
            value: format!("{}", now.timestamp() + i),
            xsd_type: "xsd:unsignedInt".into(),
            writable: None,
        })
        .collect();
    let events = vec![InformEvent {
        code: "2 PERIODIC".into(),
        command_key: String::new(),
    }];
    hgw_inform(serial, now, "", events, parameters)
}

/// What one simulated session writes through the writer, for serial number `serial` at `at`.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// A bare Inform upsert.
    Inform,
    /// A whole session's writes: the start (lease, then the Inform) and the turn that finds
    /// nothing due and gives the lease back.
    Session,
}

impl Step {
    async fn run(self, writer: &InformWriter, serial: String, at: DateTime<Utc>) {
        match self {
            Step::Inform => {
                writer.submit(inform(serial, at)).await.expect("inform");
            }
            Step::Session => {
                let holder = format!("bench/{serial}");
                let start = SessionStart {
                    inform: inform(serial.clone(), at),
                    holder: holder.clone(),
                    lease_ttl: Duration::from_secs(60),
                    replace_parameters: false,
                };
                let device_id = match writer.start_session(start).await.expect("start") {
                    SessionStartOutcome::Started(InformOutcome::Accepted { device_id, .. }) => {
                        device_id
                    }
                    other => panic!("{serial}: session start {other:?}"),
                };
                let turn = SessionTurn {
                    device_id,
                    serial_number: serial,
                    holder,
                    now: at,
                    claim_ttl: Duration::from_secs(60),
                    lease_ttl: Duration::from_secs(60),
                };
                let task = writer.session_turn(turn).await.expect("turn");
                assert!(task.is_none(), "nothing is queued");
            }
        }
    }
}

/// `step`s per second for `count` serials from CONCURRENT_SESSIONS concurrent sessions.
async fn per_sec(
    store: &Store,
    step: Step,
    count: usize,
    serial_prefix: &str,
    at: DateTime<Utc>,
) -> f64 {
    let (writer, task) =
        InformWriter::spawn(store.clone(), WriterConfig::for_dialect(store.dialect()));
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut sessions = Vec::new();
    for _ in 0..CONCURRENT_SESSIONS {
        let writer = writer.clone();
        let next = next.clone();
        let prefix = serial_prefix.to_owned();
        sessions.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    break;
                }
                step.run(&writer, format!("{prefix}{n:08}"), at).await;
            }
        }));
    }
    for s in sessions {
        s.await.expect("session");
    }
    let rate = count as f64 / start.elapsed().as_secs_f64();
    drop(writer);
    task.join().await;
    rate
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn bench_informs(name: &str, store: &Store, count: usize) {
    for (step, what, tag) in [
        (Step::Inform, "inform upsert (device + 20 parameters", "I"),
        (
            Step::Session,
            "session writes (start + idle turn, device + 20 parameters",
            "S",
        ),
    ] {
        let mut first = Vec::new();
        let mut again = Vec::new();
        for round in 0..3 {
            let prefix = format!("{tag}{round}-");
            first.push(per_sec(store, step, count, &prefix, base_time()).await);
            let later = base_time() + chrono::Duration::seconds(300);
            again.push(per_sec(store, step, count, &prefix, later).await);
        }
        println!(
            "{name}: {what}, {CONCURRENT_SESSIONS} sessions, {count} per run, median of 3): \
             first contact {:.0}/s, periodic re-inform {:.0}/s",
            median(&mut first),
            median(&mut again)
        );
    }
}

async fn bench_page(name: &str, store: &Store, devices: i64) {
    let mut samples = Vec::new();
    let probe = DeviceFilter {
        organization_id: Some(1),
        status: Some(DeviceStatus::Up),
        ..DeviceFilter::default()
    };
    let mut count = store.list_devices(&probe, 0, 0).await.expect("count").count;
    // pages 0..50 (or as many as one organization has)
    let pages = (count / 100).clamp(1, 50);
    for i in 0..300i64 {
        let filter = DeviceFilter {
            organization_id: Some(i % ORGS + 1),
            status: Some(DeviceStatus::Up),
            ..DeviceFilter::default()
        };
        let offset = (i * 37) % pages * 100;
        let start = Instant::now();
        let page = store
            .list_devices(&filter, 100, offset)
            .await
            .expect("page");
        samples.push(start.elapsed());
        assert_eq!(page.items.len() as i64, (page.count - offset).min(100));
        count = page.count;
    }
    let mut typed = Vec::new();
    for i in 0..100i64 {
        let filter = DeviceFilter {
            type_id: Some(i % TYPES + 1),
            is_active: Some(true),
            status_change_from: Some(base_time() + chrono::Duration::seconds(devices / 2)),
            ..DeviceFilter::default()
        };
        let start = Instant::now();
        store
            .list_devices(&filter, 100, (i % 10) * 100)
            .await
            .expect("page");
        typed.push(start.elapsed());
    }
    println!(
        "{name}: page of 100 over {devices} devices (organization + status, ~{count} matches, with count): \
         p50 {:.2} ms, p95 {:.2} ms; (type + is_active + status_change_from): p50 {:.2} ms",
        percentile(&mut samples, 0.5).as_secs_f64() * 1e3,
        percentile(&mut samples, 0.95).as_secs_f64() * 1e3,
        percentile(&mut typed, 0.5).as_secs_f64() * 1e3,
    );
}

fn bench_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("acs-store-bench")
}

async fn sqlite(devices: i64, informs: usize) {
    let dir = bench_dir();
    std::fs::create_dir_all(&dir).expect("bench dir");
    let key = SecretKey::generate();

    let inform_db = dir.join("informs.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", inform_db.display()));
    }
    let store = Store::connect(
        &format!("sqlite://{}", inform_db.display()),
        SecretKey::generate(),
    )
    .await
    .expect("connect");
    store.migrate().await.expect("migrate");
    bench_informs("sqlite", &store, informs).await;
    store.close().await;

    // `fleet-`: seeds of the older layout (status and activity by `i % 4`, `i % 20`, so that
    // a quarter of the organizations had no Up device) are not reused
    let seed_db = dir.join(format!("fleet-{devices}.db"));
    let url = format!("sqlite://{}", seed_db.display());
    let store = Store::connect(&url, key).await.expect("connect");
    store.migrate().await.expect("migrate");
    let have = store
        .list_devices(&DeviceFilter::default(), 0, 0)
        .await
        .expect("count")
        .count;
    if have != devices {
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", seed_db.display()));
        }
        let store = Store::connect(&url, SecretKey::generate())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        store.close().await;
        let start = Instant::now();
        seed(&url, Backend::Sqlite, devices, "B").await;
        println!(
            "sqlite: seeded {devices} devices in {:.1} s (cached in {})",
            start.elapsed().as_secs_f64(),
            seed_db.display()
        );
    } else {
        store.close().await;
    }
    let store = Store::connect(&url, SecretKey::generate())
        .await
        .expect("connect");
    bench_page("sqlite", &store, devices).await;
    store.close().await;
}

async fn postgres(base: &str, devices: i64, informs: usize) {
    let db = unique_name("acs_bench");
    create_database(base, &db).await.expect("create db");
    let url = with_database(base, &db);
    let store = Store::connect(&url, SecretKey::generate())
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    bench_informs("postgres", &store, informs).await;
    let start = Instant::now();
    {
        let pool = sqlx::PgPool::connect(&url).await.expect("seed pool");
        sqlx::query("DELETE FROM devices")
            .execute(&pool)
            .await
            .expect("clear");
        pool.close().await;
    }
    seed(&url, Backend::Postgres, devices, "B").await;
    println!(
        "postgres: seeded {devices} devices in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    bench_page("postgres", &store, devices).await;
    store.close().await;
    drop_database(base, &db).await.expect("drop db");
}

fn main() {
    let devices = env_usize("ACS_BENCH_DEVICES", 1_000_000) as i64;
    let informs = env_usize("ACS_BENCH_INFORMS", 20_000);
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        if only.as_deref().is_none_or(|o| "sqlite".contains(o)) {
            sqlite(devices, informs).await;
        }
        if only.as_deref().is_none_or(|o| "postgres".contains(o)) {
            match std::env::var("ACS_TEST_POSTGRES_URL") {
                Ok(url) if !url.trim().is_empty() => postgres(&url, devices, informs).await,
                _ => println!("postgres: skipped, ACS_TEST_POSTGRES_URL is not set"),
            }
        }
    });
}
