//! HTTPS on both listeners: the real `acs serve` on port 0 with certificates made here by
//! rcgen (no key material is checked in, nothing expires between runs).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

mod support;
use support::server::{Server, spawn};
use support::{exchange, inform, post, temp_dir};

/// A CA and what it issued, as PEM.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// The flags of an HTTPS listener (`cwmp` or `api`) on port 0 with `cert` and `key`.
fn tls_listener(listener: &str, cert: &str, key: &str) -> Vec<String> {
    vec![
        format!("--{listener}-tls-listen"),
        "127.0.0.1:0".to_owned(),
        format!("--{listener}-tls-cert"),
        cert.to_owned(),
        format!("--{listener}-tls-key"),
        key.to_owned(),
    ]
}

/// Flags as owned strings, to put beside `tls_listener`'s.
fn flags(list: &[&str]) -> Vec<String> {
    list.iter().map(|f| f.to_string()).collect()
}

fn command<S: AsRef<std::ffi::OsStr>>(dir: &Path, extra: &[S]) -> Command {
    let mut c = support::server::command(dir);
    c.arg("serve")
        .args([
            "--cwmp-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
            // these cases script whole sessions: no credentials SPV of their own in them
            "--cr-provision=false",
        ])
        .args(extra)
        .stderr(Stdio::piped());
    c
}

/// Starts `acs serve` in `dir`.
fn start<S: AsRef<std::ffi::OsStr>>(dir: PathBuf, extra: &[S]) -> Server {
    let cmd = command(&dir, extra);
    spawn(dir, cmd)
}

/// Writes the server's certificate and key (and more files) into a fresh directory.
fn with_server_cert(ca: &Ca) -> (PathBuf, String, String) {
    let dir = temp_dir("acs-tls");
    let leaf = ca.issue(
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let cert = dir.join("server.pem");
    let key = dir.join("server.key");
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    (dir, cert.display().to_string(), key.display().to_string())
}

fn client_config(ca: &Ca, client: Option<&Leaf>) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca.issuer.der().to_vec()))
        .unwrap();
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some(leaf) => {
            use rustls::pki_types::pem::PemObject;
            let certs = vec![CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes()).unwrap()];
            let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

async fn tls_connect(
    addr: &str,
    config: Arc<ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: acs.test\r\n\r\n").into_bytes()
}

/// Inform -> InformResponse, empty POST -> 204 on one connection; the session's Set-Cookie.
async fn cwmp_session<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, serial: &str) -> String {
    let r = exchange(stream, &post(&inform(serial), "")).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("InformResponse"), "{}", r.text());
    let set_cookie = r.header("set-cookie").expect("a session cookie").to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let r = exchange(stream, &post(b"", &format!("Cookie: {cookie}\r\n")))
        .await
        .unwrap();
    assert_eq!(r.status, 204);
    set_cookie
}

#[tokio::test]
async fn cwmp_and_api_over_https_beside_plain_http() {
    let ca = Ca::new("acs test CA");
    let (dir, cert, key) = with_server_cert(&ca);
    let s = start(
        dir,
        &[
            tls_listener("cwmp", &cert, &key),
            tls_listener("api", &cert, &key),
        ]
        .concat(),
    );
    let config = client_config(&ca, None);

    let mut tls = tls_connect(&s.listener("CPE TLS listener"), config.clone())
        .await
        .expect("TLS handshake with the CPE listener");
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(&b"http/1.1"[..]),
        "ALPN says HTTP/1.1"
    );
    let set_cookie = cwmp_session(&mut tls, "SN-TLS-1").await;
    assert!(set_cookie.contains("Secure"), "{set_cookie}");

    let mut api = tls_connect(&s.listener("API TLS listener"), config)
        .await
        .expect("TLS handshake with the API listener");
    let r = exchange(&mut api, &get("/healthz")).await.unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));
    let r = exchange(&mut api, &get("/metrics")).await.unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains("acs_sessions_completed_total 1"),
        "the HTTPS session counted: {}",
        r.text()
    );
    let r = exchange(&mut api, &get("/api/v1/device_types/"))
        .await
        .unwrap();
    assert_eq!(
        r.status, 401,
        "the REST API is behind the same TLS listener"
    );

    // plain HTTP still works beside it
    let mut plain = TcpStream::connect(&s.listener("CPE listener (CWMP) on http"))
        .await
        .unwrap();
    let set_cookie = cwmp_session(&mut plain, "SN-PLAIN-1").await;
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let mut plain_api = TcpStream::connect(&s.listener("API listener on http"))
        .await
        .unwrap();
    let r = exchange(&mut plain_api, &get("/healthz")).await.unwrap();
    assert_eq!(r.status, 200);
}

/// The server's reaction to a client certificate: a response, or the error that ended it.
async fn try_session(addr: &str, config: Arc<ClientConfig>, serial: &str) -> Result<u16, String> {
    let mut tls = tls_connect(addr, config).await.map_err(|e| e.to_string())?;
    // with TLS 1.3 the server judges the client certificate after the client's handshake
    // is done: the refusal shows on the first read
    exchange(&mut tls, &post(&inform(serial), ""))
        .await
        .map(|r| r.status)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn client_certificates_are_required_when_a_client_ca_is_configured() {
    let ca = Ca::new("acs test CA");
    let cpe_ca = Ca::new("CPE vendor CA");
    let rogue_ca = Ca::new("somebody else");
    let (dir, cert, key) = with_server_cert(&ca);
    let client_ca = dir.join("cpe-ca.pem");
    std::fs::write(&client_ca, cpe_ca.pem()).unwrap();
    let s = start(
        dir.clone(),
        &[
            tls_listener("cwmp", &cert, &key),
            flags(&["--cwmp-tls-client-ca", &client_ca.display().to_string()]),
        ]
        .concat(),
    );
    let addr = s.listener("CPE TLS listener");

    let good = cpe_ca.issue(&["SN-CERT-1"], ExtendedKeyUsagePurpose::ClientAuth);
    assert_eq!(
        try_session(&addr, client_config(&ca, Some(&good)), "SN-CERT-1").await,
        Ok(200)
    );
    let rogue = rogue_ca.issue(&["SN-CERT-2"], ExtendedKeyUsagePurpose::ClientAuth);
    let refused = try_session(&addr, client_config(&ca, Some(&rogue)), "SN-CERT-2").await;
    assert!(refused.is_err(), "a certificate of another CA: {refused:?}");
    let none = try_session(&addr, client_config(&ca, None), "SN-CERT-3").await;
    assert!(none.is_err(), "no certificate at all: {none:?}");
    // the listener still serves after the refusals
    assert_eq!(
        try_session(&addr, client_config(&ca, Some(&good)), "SN-CERT-1").await,
        Ok(200)
    );
    // a certificate is one device's: its CommonName (the serial number, or
    // `OUI-SerialNumber`) is the only device it may Inform as
    assert_eq!(
        try_session(&addr, client_config(&ca, Some(&good)), "SN-CERT-4").await,
        Ok(403)
    );
    let long_form = cpe_ca.issue(&["A1B2C3-SN-CERT-4"], ExtendedKeyUsagePurpose::ClientAuth);
    assert_eq!(
        try_session(&addr, client_config(&ca, Some(&long_form)), "SN-CERT-4").await,
        Ok(200)
    );
}

#[tokio::test]
async fn a_stalled_or_garbage_handshake_does_not_wedge_the_listener() {
    let ca = Ca::new("acs test CA");
    let (dir, cert, key) = with_server_cert(&ca);
    let s = start(
        dir,
        &[
            flags(&["--header-timeout", "1"]),
            tls_listener("cwmp", &cert, &key),
        ]
        .concat(),
    );
    let addr = s.listener("CPE TLS listener");
    // one client says nothing, another speaks plain HTTP to the TLS port
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let mut plain = TcpStream::connect(&addr).await.unwrap();
    plain.write_all(&post(&inform("SN-X"), "")).await.unwrap();
    // meanwhile a real CPE gets its session
    let mut tls = tls_connect(&addr, client_config(&ca, None)).await.unwrap();
    cwmp_session(&mut tls, "SN-TLS-2").await;
    // the silent one is dropped once the handshake timeout passes
    let mut b = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut b))
        .await
        .expect("the server closes a stalled handshake")
        .unwrap_or(0);
    assert_eq!(n, 0, "nothing but a close");
    let n = tokio::time::timeout(Duration::from_secs(10), async {
        let mut all = Vec::new();
        let _ = plain.read_to_end(&mut all).await;
        all.len()
    })
    .await
    .expect("the server closes a non-TLS client");
    assert!(
        n < 64,
        "at most a TLS alert, not an HTTP answer ({n} bytes)"
    );
}

/// Runs `acs` expecting it to stop by itself; a server that keeps running fails the test
/// instead of hanging it.
/// The API listener's header, body and idle timeouts hold over TLS as over plain TCP.
#[tokio::test]
async fn the_api_timeouts_apply_over_tls() {
    let ca = Ca::new("acs test CA");
    let (dir, cert, key) = with_server_cert(&ca);
    let s = start(
        dir,
        &[
            tls_listener("api", &cert, &key),
            flags(&["--header-timeout", "2", "--read-timeout", "2"]),
        ]
        .concat(),
    );
    let token = support::server::admin_token(&s.dir);
    let config = client_config(&ca, None);
    let api = &s.listener("API TLS listener");
    let deadline = Duration::from_secs(30);
    let ends = |mut c: tokio_rustls::client::TlsStream<TcpStream>| async move {
        let mut out = Vec::new();
        let read = tokio::time::timeout(deadline, c.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "still open after {deadline:?}");
        String::from_utf8_lossy(&out).into_owned()
    };

    let mut c = tls_connect(api, config.clone()).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    c.flush().await.unwrap();
    let out = ends(c).await;
    assert!(out.is_empty() || out.starts_with("HTTP/1.1 408"), "{out}");

    let mut c = tls_connect(api, config.clone()).await.unwrap();
    let head = format!(
        "POST /api/v1/locations/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    c.write_all(head.as_bytes()).await.unwrap();
    c.flush().await.unwrap();
    let out = ends(c).await;
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");

    let mut c = tls_connect(api, config).await.unwrap();
    assert_eq!(
        exchange(&mut c, &get("/healthz")).await.unwrap().status,
        200
    );
    assert_eq!(ends(c).await, "");
}

fn exits_within(mut cmd: Command, secs: u64) -> std::process::Output {
    let mut child = cmd.stdout(Stdio::null()).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("acs kept running with a bad TLS configuration");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn bad_tls_files_fail_the_start_and_name_the_file() {
    let ca = Ca::new("acs test CA");
    let (dir, cert, key) = with_server_cert(&ca);
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = dir.join("missing.key");
    let other_key = dir.join("other.key");
    std::fs::write(&other_key, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let cases: [(&str, &str, &str); 4] = [
        (&cert, missing.to_str().unwrap(), "missing.key"),
        (garbage.to_str().unwrap(), &key, "garbage.pem"),
        (&cert, garbage.to_str().unwrap(), "garbage.pem"),
        (&cert, other_key.to_str().unwrap(), "other.key"),
    ];
    for (cert, key, named) in cases {
        let out = command(&dir, &tls_listener("cwmp", cert, key));
        let out = exits_within(out, 30);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{named}: {err}");
        assert!(err.contains(named), "the error names {named}: {err}");
        assert!(!err.contains("PRIVATE KEY"), "no key material: {err}");
    }
    // a listener without its files is refused too
    let out = exits_within(command(&dir, &["--api-tls-listen", "127.0.0.1:0"]), 30);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--api-tls-cert"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn tls_settings_come_from_the_config_file_and_the_environment_too() {
    let ca = Ca::new("acs test CA");
    let (dir, cert, key) = with_server_cert(&ca);
    let config = dir.join("acs.toml");
    std::fs::write(
        &config,
        format!(
            "cwmp_tls_listen = \"127.0.0.1:0\"\ncwmp_tls_cert = {cert:?}\ncwmp_tls_key = {key:?}\n"
        ),
    )
    .unwrap();
    let mut cmd = command(&dir, &["--config", &config.display().to_string()]);
    cmd.env("ACS_API_TLS_LISTEN", "127.0.0.1:0")
        .env("ACS_API_TLS_CERT", &cert)
        .env("ACS_API_TLS_KEY", &key);
    let s = spawn(dir, cmd);
    let mut tls = tls_connect(&s.listener("CPE TLS listener"), client_config(&ca, None))
        .await
        .unwrap();
    cwmp_session(&mut tls, "SN-TOML").await;
    let mut api = tls_connect(&s.listener("API TLS listener"), client_config(&ca, None))
        .await
        .unwrap();
    assert_eq!(
        exchange(&mut api, &get("/healthz")).await.unwrap().status,
        200
    );
}
