//! TLS for both listeners (DESIGN §8): rustls over ring only, certificate chain and private key
//! from PEM files, optional client certificates for CPEs.
//!
//! The handshake runs in each connection's own task under a timeout, so a client that stalls
//! or speaks something else never holds up the accept loop.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Where one TLS listener finds its files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA bundle that client certificates must chain to; none: no client certificate asked.
    pub client_ca: Option<PathBuf>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path, what: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow!("{what} {}: {e}", path.display()))?;
    if certs.is_empty() {
        bail!("{what} {}: no PEM certificate in it", path.display());
    }
    Ok(certs)
}

/// The private key; errors say what is wrong with the file but never echo its content.
fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        pem::Error::Io(io) => anyhow!("TLS private key {}: {io}", path.display()),
        pem::Error::NoItemsFound => anyhow!(
            "TLS private key {}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it",
            path.display()
        ),
        _ => anyhow!("TLS private key {}: not valid PEM", path.display()),
    })
}

/// Builds the acceptor of one listener; every error names the file at fault.
pub fn acceptor(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    let certs = read_certs(&files.cert, "TLS certificate")?;
    let key = read_key(&files.key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in read_certs(ca, "TLS client CA")? {
                roots
                    .add(c)
                    .map_err(|e| anyhow!("TLS client CA {}: {e}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| anyhow!("TLS client CA {}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        anyhow!(
            "TLS certificate {} and key {} do not make a usable pair: {e}",
            files.cert.display(),
            files.key.display()
        )
    })?;
    // both listeners speak HTTP/1.1 only
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Runs the handshake of an accepted connection under `timeout`. A failure is the client's
/// business (a scanner, a CPE with the wrong certificate): logged at debug, never an error.
pub async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    peer: std::net::SocketAddr,
    timeout: Duration,
) -> Option<TlsStream<TcpStream>> {
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(peer = %peer, "TLS handshake timed out");
            None
        }
    }
}

/// The subject's CommonName of a DER certificate (the first CN of the subject, as text), the
/// identity a CPE's client certificate names. Only the outer structure of the certificate
/// is walked (TBSCertificate -> subject -> RDNs); rustls has already verified the chain.
/// `None` for anything unexpected: such a certificate names no device.
pub fn subject_common_name(der: &[u8]) -> Option<String> {
    const CN: &[u8] = &[0x55, 0x04, 0x03]; // 2.5.4.3
    let (_, cert, _) = der_item(der, 0x30)?;
    let (_, mut tbs, _) = der_item(cert, 0x30)?;
    // [0] EXPLICIT version, optional
    if tbs.first() == Some(&0xa0) {
        tbs = der_item(tbs, 0xa0)?.2;
    }
    let (_, _serial, rest) = der_item(tbs, 0x02)?;
    let (_, _signature, rest) = der_item(rest, 0x30)?;
    let (_, _issuer, rest) = der_item(rest, 0x30)?;
    let (_, _validity, rest) = der_item(rest, 0x30)?;
    let (_, mut subject, _) = der_item(rest, 0x30)?;
    while !subject.is_empty() {
        let (_, mut rdn, rest) = der_item(subject, 0x31)?;
        subject = rest;
        while !rdn.is_empty() {
            let (_, attribute, rest) = der_item(rdn, 0x30)?;
            rdn = rest;
            let (_, oid, value) = der_item(attribute, 0x06)?;
            if oid != CN {
                continue;
            }
            let (tag, text, _) = der_any(value)?;
            return match tag {
                // UTF8String, PrintableString, IA5String, TeletexString (as Latin-1-ish)
                0x0c | 0x13 | 0x16 | 0x14 => std::str::from_utf8(text).ok().map(str::to_owned),
                // BMPString: UTF-16BE
                0x1e if text.len() % 2 == 0 => {
                    let units: Vec<u16> = text
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                    String::from_utf16(&units).ok()
                }
                _ => None,
            };
        }
    }
    None
}

/// One DER item with tag `tag`: (tag, content, the bytes after it).
fn der_item(input: &[u8], tag: u8) -> Option<(u8, &[u8], &[u8])> {
    der_any(input).filter(|(t, _, _)| *t == tag)
}

/// One DER item of any (single-byte) tag, definite length of at most 4 length bytes.
fn der_any(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return None;
    }
    let (content, after) = rest.split_at(len);
    Some((tag, content, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_cn_not_the_issuers() {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "the issuer");
        let issuer =
            rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
        let mut leaf = rcgen::CertificateParams::new(vec!["cpe".to_owned()]).unwrap();
        leaf.distinguished_name
            .push(rcgen::DnType::OrganizationName, "vendor");
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, "00D09E-SN\u{e9}1");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        assert_eq!(
            subject_common_name(cert.der()).as_deref(),
            Some("00D09E-SN\u{e9}1")
        );
        assert_eq!(subject_common_name(b"\x30\x82\xff\xff"), None);
        assert_eq!(subject_common_name(&[]), None);
    }
}
