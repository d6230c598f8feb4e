//! Upgrading a database an older acs wrote (SQLite): migration 0010 must keep every CPE that
//! could authenticate before able to, with the same username (its serial number) and the
//! same password, while the connection-request pair stays where it was.

use std::path::PathBuf;
use std::str::FromStr;

use acs_store::{DevicePassword, NewDevice, SecretKey, Store};
use chrono::Utc;
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("acs-upgrade-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The SQLite migrations below `version`, as an older acs applied them.
fn migrations_before(version: i64) -> Migrator {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/sqlite");
    let mut found: Vec<(i64, String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_owned();
            let (v, description) = name.split_once('_')?;
            let v: i64 = v.parse().ok()?;
            (v < version).then(|| {
                (
                    v,
                    description.to_owned(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
        })
        .collect();
    found.sort();
    Migrator::with_migrations(
        found
            .into_iter()
            .map(|(v, description, sql)| {
                Migration::new(
                    v,
                    description.into(),
                    MigrationType::Simple,
                    // the files of this repository, read once per test run
                    Box::leak(sql.into_boxed_str()).into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

#[tokio::test]
async fn migration_0010_keeps_every_cpe_able_to_authenticate() {
    const KEY: &str = "6b1f0c9e2d4a8b3c5e7f9012a4c6e8f0b2d4f6a8c0e2f4a6b8d0f2a4c6e8f0b2";
    let key = || SecretKey::from_hex(KEY).unwrap();
    // A device row as the older acs stored it: its one password sealed under the key and
    // bound to its uuid. Sealed here by today's store (same sealing), copied over as bytes.
    let donor_dir = scratch("donor");
    let donor = Store::connect(&format!("sqlite://{}/acs.db", donor_dir.display()), key())
        .await
        .unwrap();
    donor.migrate().await.unwrap();
    let made = donor
        .create_device(
            &NewDevice {
                serial_number: "OLD-1".into(),
                username: Some("OLD-1".into()),
                password: Some(DevicePassword::new("s3cret")),
                ..NewDevice::default()
            },
            Utc::now(),
        )
        .await
        .unwrap();
    donor.close().await;
    let (uuid, sealed): (String, Vec<u8>) = {
        let pool = SqlitePool::connect(&format!("sqlite://{}/acs.db", donor_dir.display()))
            .await
            .unwrap();
        sqlx::query_as("SELECT uuid, password_enc FROM devices WHERE id = $1")
            .bind(made.id)
            .fetch_one(&pool)
            .await
            .unwrap()
    };

    // The older database: migrations up to 0009, the device with username and password.
    let dir = scratch("old");
    let url = format!("sqlite://{}/acs.db", dir.display());
    {
        let options = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        migrations_before(10).run(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO devices (uuid, serial_number, oui, username, password_enc, created) \
             VALUES ($1, 'OLD-1', '00D09E', 'OLD-1', $2, $3)",
        )
        .bind(&uuid)
        .bind(&sealed)
        .bind(Utc::now().to_rfc3339())
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO devices (uuid, serial_number, created) VALUES ('u-2', 'NOPASS', $1)",
        )
        .bind(Utc::now().to_rfc3339())
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }

    // Today's acs opens it: 0010 runs.
    let store = Store::connect(&url, key()).await.unwrap();
    store.migrate().await.unwrap();
    let login = store
        .cwmp_login("OLD-1")
        .await
        .unwrap()
        .expect("the serial number is the CPE's username, as before");
    assert_eq!(login.serial_number, "OLD-1");
    assert_eq!(login.password.expose(), "s3cret", "the same password");
    // the connection-request pair is still there, unchanged
    let device = store.device_by_serial("OLD-1").await.unwrap().unwrap();
    assert_eq!(device.username.as_deref(), Some("OLD-1"));
    assert_eq!(
        store
            .device_password(device.id)
            .await
            .unwrap()
            .unwrap()
            .expose(),
        "s3cret"
    );
    // not the OUI-Serial form for migrated devices: the CPE never used it
    assert!(store.cwmp_login("00D09E-OLD-1").await.unwrap().is_none());
    // a device without a password gets no CWMP login
    assert!(store.cwmp_login("NOPASS").await.unwrap().is_none());

    for d in [donor_dir, dir] {
        let _ = std::fs::remove_dir_all(d);
    }
}
