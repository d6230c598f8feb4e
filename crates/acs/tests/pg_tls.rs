//! PostgreSQL over TLS (issue 12 item 10): `acs` connects with rustls on ring, `sslmode` and
//! `sslrootcert` taken from the database URL, against the local server with a certificate
//! made here.
//!
//! The test configures the server given by `ACS_TEST_POSTGRES_URL` (a superuser; `.ci/run`
//! and the brief's local server: postgres at 127.0.0.1:5432, trust) to serve a certificate
//! of a CA it makes: `ssl = on` and `ssl_cert_file`/`ssl_key_file` by ALTER SYSTEM, then a
//! reload. Clients without TLS are unaffected (SSL is offered, not required). The files stay
//! in `/var/lib/postgresql/acs-test-tls/` (a restart of the server needs them) and are
//! reused by later runs, so two runs at once agree on them. It runs as root (CI does) to
//! give the key to the postgres user; when it cannot set the server up it fails, saying
//! why: it never passes without having tested TLS.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use sqlx::{Connection, PgConnection};

mod support;

const TLS_DIR: &str = "/var/lib/postgresql/acs-test-tls";

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn setup_failed(what: &str, e: impl std::fmt::Display) -> ! {
    panic!(
        "CANNOT SET UP TLS ON THE LOCAL POSTGRESQL SERVER ({what}: {e}); PostgreSQL TLS is \
         NOT tested. This test must run as root against a superuser URL in \
         ACS_TEST_POSTGRES_URL (as .ci/run does)."
    )
}

/// The CA certificate the server's certificate chains to; makes the files on first use.
fn server_files() -> PathBuf {
    let dir = Path::new(TLS_DIR);
    let (ca_path, cert, key) = (
        dir.join("ca.pem"),
        dir.join("server.crt"),
        dir.join("server.key"),
    );
    if ca_path.exists() && cert.exists() && key.exists() {
        return ca_path;
    }
    std::fs::create_dir_all(dir).unwrap_or_else(|e| setup_failed("creating the directory", e));
    let issuer = ca("acs test PostgreSQL CA");
    let mut params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = params.signed_by(&leaf_key, &issuer).unwrap();
    // Written under temporary names, then renamed: a concurrent run sees all or nothing.
    let tmp = |p: &Path| p.with_extension(format!("tmp{}", std::process::id()));
    for (path, text, mode) in [
        (&key, leaf_key.serialize_pem(), 0o600),
        (&cert, leaf.pem(), 0o644),
        (&ca_path, issuer.pem(), 0o644),
    ] {
        std::fs::write(tmp(path), text).unwrap_or_else(|e| setup_failed("writing", e));
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(tmp(path))
            .status()
            .unwrap_or_else(|e| setup_failed("chown", e));
        if !status.success() {
            setup_failed("chown to postgres", status);
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp(path), std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| setup_failed("chmod", e));
        std::fs::rename(tmp(path), path).unwrap_or_else(|e| setup_failed("rename", e));
    }
    ca_path
}

/// `ACS_TEST_POSTGRES_URL` with another database and the query replaced.
fn url_for(base: &str, database: &str, query: &str) -> String {
    let base = base.split('?').next().unwrap_or(base);
    let (server, _) = base.rsplit_once('/').expect("a URL with a database");
    format!("{server}/{database}?{query}")
}

fn acs_migrate(url: &str) -> std::process::Output {
    let dir = support::temp_dir("acs-pg-tls");
    let out = Command::new(env!("CARGO_BIN_EXE_acs"))
        .args(["migrate", "--database-url", url])
        .env("ACS_DATA_DIR", &dir)
        .env_remove("ACS_CONFIG")
        .output()
        .expect("acs runs");
    let _ = std::fs::remove_dir_all(&dir);
    out
}

#[tokio::test]
async fn postgres_over_tls_verifies_the_server() {
    let Ok(admin_url) = std::env::var("ACS_TEST_POSTGRES_URL") else {
        eprintln!(
            "SKIPPED postgres_over_tls_verifies_the_server: ACS_TEST_POSTGRES_URL is not set \
             (.ci/run sets it)"
        );
        return;
    };
    let ca_path = server_files();
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| setup_failed("connecting as the superuser", e));
    let wanted = [
        ("ssl_cert_file", format!("{TLS_DIR}/server.crt")),
        ("ssl_key_file", format!("{TLS_DIR}/server.key")),
        ("ssl", "on".to_owned()),
    ];
    for (name, value) in &wanted {
        let current: String = sqlx::query_scalar("SELECT current_setting($1)")
            .bind(name)
            .fetch_one(&mut admin)
            .await
            .unwrap_or_else(|e| setup_failed("reading the settings", e));
        if &current != value {
            // ALTER SYSTEM takes no bind parameters; the values are ours.
            let sql = format!("ALTER SYSTEM SET {name} = '{value}'");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await
                .unwrap_or_else(|e| setup_failed("ALTER SYSTEM", e));
        }
    }
    sqlx::query("SELECT pg_reload_conf()")
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| setup_failed("reloading the configuration", e));
    let database = format!("acs_tls_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin)
        .await
        .unwrap();

    let root = ca_path.display();
    let verified = url_for(
        &admin_url,
        &database,
        &format!("sslmode=verify-full&sslrootcert={root}"),
    );
    // The reload is asynchronous: wait for the server to present our certificate.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut conn = loop {
        match PgConnection::connect(&verified).await {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => setup_failed("the server does not present the test certificate", e),
        }
    };
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(ssl, "a verify-full connection is encrypted");
    conn.close().await.unwrap();

    // The binary: verify-full against our CA works ...
    let out = acs_migrate(&verified);
    assert!(
        out.status.success(),
        "acs migrate over TLS: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ... against a CA that did not issue the server's certificate it fails, saying so ...
    let other = support::temp_dir("acs-pg-other-ca");
    let other_ca = other.join("ca.pem");
    std::fs::write(&other_ca, ca("not the server's CA").pem()).unwrap();
    let out = acs_migrate(&url_for(
        &admin_url,
        &database,
        &format!("sslmode=verify-full&sslrootcert={}", other_ca.display()),
    ));
    let _ = std::fs::remove_dir_all(&other);
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(!out.status.success(), "an untrusted server was accepted");
    assert!(
        stderr.contains("certificate") || stderr.contains("tls"),
        "{stderr}"
    );
    // ... and sslmode=require encrypts without verifying.
    let out = acs_migrate(&url_for(&admin_url, &database, "sslmode=require"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {database} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}
