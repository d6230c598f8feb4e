//! CPE authentication, as a CPE sees it: headers in, `Authenticated` or a 401 challenge out.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::algorithm::DigestInput;
use super::digest::DigestAttempt;
use super::params::parse_credentials;
use super::*;

const NOW: u64 = 1_790_000_000;
const USER: &str = "00D09E-CP1234567";
const PASS: &str = "s3cret pa:ss";
const KEY: &[u8] = b"cluster-wide nonce key, 32 bytes";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn authenticator(mode: AuthMode) -> CpeAuthenticator {
    CpeAuthenticator::new(CpeAuthConfig {
        nonce_key: NonceKey::from_bytes(KEY),
        ..CpeAuthConfig::new(mode)
    })
}

/// Digest offering `algorithms`, in that order.
fn offering(algorithms: &[DigestAlgorithm]) -> CpeAuthenticator {
    CpeAuthenticator::new(CpeAuthConfig {
        nonce_key: NonceKey::from_bytes(KEY),
        digest_algorithms: algorithms.to_vec(),
        ..CpeAuthConfig::new(AuthMode::Digest)
    })
}

fn creds() -> Credentials {
    Credentials::new(USER, PASS)
}

/// The nonce of a fresh challenge from `auth`.
fn fresh_nonce(auth: &CpeAuthenticator, now: u64) -> String {
    let challenge = &auth.challenges(false, at(now))[0];
    params::parse_challenges(challenge)[0]
        .param("nonce")
        .unwrap()
        .to_owned()
}

/// How a test client answers a challenge.
#[derive(Clone, Copy)]
struct Answer<'a> {
    algorithm: Option<&'a str>,
    qop: bool,
    uri: &'a str,
    password: &'a str,
    realm: &'a str,
}

const MD5_QOP: Answer<'static> = Answer {
    algorithm: None,
    qop: true,
    uri: "/",
    password: PASS,
    realm: "acs",
};

/// An `Authorization` header computed the way a CPE would, for `nonce`.
fn authorization(answer: Answer<'_>, nonce: &str) -> String {
    let algorithm: DigestAlgorithm = answer.algorithm.unwrap_or("MD5").parse().unwrap();
    let cnonce = "0a4f113b";
    let response = DigestInput {
        algorithm,
        username: USER,
        realm: answer.realm,
        password: answer.password,
        method: "POST",
        uri: answer.uri,
        nonce,
        qop: answer.qop.then_some(("auth", "00000001", cnonce)),
        cnonce,
    }
    .response(None);
    let mut header = format!(
        r#"Digest username="{USER}", realm="{}", nonce="{nonce}", uri="{}", response="{response}""#,
        answer.realm, answer.uri
    );
    if let Some(alg) = answer.algorithm {
        header.push_str(&format!(", algorithm={alg}"));
    }
    if answer.qop {
        header.push_str(&format!(r#", qop=auth, nc=00000001, cnonce="{cnonce}""#));
    } else if algorithm.is_session() {
        header.push_str(&format!(r#", cnonce="{cnonce}""#));
    }
    header
}

fn check(
    auth: &CpeAuthenticator,
    header: Option<&str>,
    now: u64,
) -> Result<Authenticated, Rejection> {
    auth.authenticate(header, "POST", "/", &creds(), at(now))
}

fn digest_ok(alg: DigestAlgorithm) -> Result<Authenticated, Rejection> {
    Ok(Authenticated {
        username: Some(USER.into()),
        scheme: AuthScheme::Digest(alg),
    })
}

fn error_of(result: Result<Authenticated, Rejection>) -> AuthError {
    result.expect_err("authenticated unexpectedly").error
}

// --- Published vectors -------------------------------------------------------------------

/// The server-side computation against a header taken verbatim from an RFC.
fn rfc_vector(header: &str, password: &str) -> bool {
    let attempt = DigestAttempt::from_item(&parse_credentials(header).unwrap()).unwrap();
    attempt.response_matches("GET", &Secret::new(password))
}

#[test]
fn rfc2617_section_3_5_md5_qop_auth() {
    let header = r#"Digest username="Mufasa", realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth,
        nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1",
        opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
    assert!(rfc_vector(header, "Circle Of Life"));
    assert!(!rfc_vector(header, "Circle of Life"));
}

const RFC7616_COMMON: &str = r#"username="Mufasa", realm="http-auth@example.org",
    uri="/dir/index.html", qop=auth, nc=00000001,
    cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;

#[test]
fn rfc7616_section_3_9_1_sha256_and_md5() {
    let sha = format!(
        "Digest {RFC7616_COMMON}, algorithm=SHA-256, \
         response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""
    );
    let md5 = format!(
        "Digest {RFC7616_COMMON}, algorithm=MD5, response=\"8ca523f5e9506fed4657c9700eebdbec\""
    );
    assert!(rfc_vector(&sha, "Circle of Life"));
    assert!(rfc_vector(&md5, "Circle of Life"));
    assert!(!rfc_vector(&sha, "Circle Of Life"));
}

// --- Digest end to end ---------------------------------------------------------------------

#[test]
fn every_digest_flavour_a_cpe_uses_is_accepted() {
    let auth = offering(&[DigestAlgorithm::Sha256, DigestAlgorithm::Md5]);
    let nonce = fresh_nonce(&auth, NOW);
    let cases = [
        (MD5_QOP, DigestAlgorithm::Md5),
        (
            Answer {
                algorithm: Some("MD5"),
                ..MD5_QOP
            },
            DigestAlgorithm::Md5,
        ),
        (
            Answer {
                algorithm: Some("SHA-256"),
                ..MD5_QOP
            },
            DigestAlgorithm::Sha256,
        ),
        (
            Answer {
                algorithm: Some("MD5-sess"),
                ..MD5_QOP
            },
            DigestAlgorithm::Md5Sess,
        ),
        (
            Answer {
                algorithm: Some("SHA-256-sess"),
                ..MD5_QOP
            },
            DigestAlgorithm::Sha256Sess,
        ),
        // RFC 2069: no qop, no nc, no cnonce.
        (
            Answer {
                qop: false,
                ..MD5_QOP
            },
            DigestAlgorithm::Md5,
        ),
        (
            Answer {
                algorithm: Some("MD5-sess"),
                qop: false,
                ..MD5_QOP
            },
            DigestAlgorithm::Md5Sess,
        ),
        (
            Answer {
                algorithm: Some("SHA-256"),
                qop: false,
                ..MD5_QOP
            },
            DigestAlgorithm::Sha256,
        ),
    ];
    for (answer, alg) in cases {
        let header = authorization(answer, &nonce);
        assert_eq!(
            check(&auth, Some(&header), NOW + 5),
            digest_ok(alg),
            "{header}"
        );
    }
}

#[test]
fn only_offered_algorithms_are_accepted_with_their_sess_variants() {
    let sha256 = Answer {
        algorithm: Some("SHA-256"),
        ..MD5_QOP
    };
    let md5_sess = Answer {
        algorithm: Some("MD5-sess"),
        ..MD5_QOP
    };
    // The default offers MD5 alone: MD5-sess is its variant, SHA-256 was not offered.
    let auth = authenticator(AuthMode::Digest);
    let nonce = fresh_nonce(&auth, NOW);
    assert_eq!(
        check(&auth, Some(&authorization(md5_sess, &nonce)), NOW),
        digest_ok(DigestAlgorithm::Md5Sess)
    );
    let rejection = check(&auth, Some(&authorization(sha256, &nonce)), NOW).unwrap_err();
    assert_eq!(
        rejection.error,
        AuthError::AlgorithmNotOffered(DigestAlgorithm::Sha256)
    );
    assert_eq!(rejection.www_authenticate.len(), 1);
    // SHA-256 alone: MD5 (the downgrade) is refused, SHA-256-sess accepted.
    let auth = offering(&[DigestAlgorithm::Sha256]);
    let nonce = fresh_nonce(&auth, NOW);
    assert_eq!(
        error_of(check(&auth, Some(&authorization(MD5_QOP, &nonce)), NOW)),
        AuthError::AlgorithmNotOffered(DigestAlgorithm::Md5)
    );
    let sha256_sess = Answer {
        algorithm: Some("SHA-256-sess"),
        ..MD5_QOP
    };
    assert_eq!(
        check(&auth, Some(&authorization(sha256_sess, &nonce)), NOW),
        digest_ok(DigestAlgorithm::Sha256Sess)
    );
}

#[test]
fn wrong_password_unknown_user_wrong_uri_and_realm_are_rejected() {
    let auth = authenticator(AuthMode::Digest);
    let nonce = fresh_nonce(&auth, NOW);
    let wrong_pass = authorization(
        Answer {
            password: "guess",
            ..MD5_QOP
        },
        &nonce,
    );
    assert_eq!(
        error_of(check(&auth, Some(&wrong_pass), NOW)),
        AuthError::WrongPassword(USER.into())
    );

    let nobody = |_: &str| None;
    let good = authorization(MD5_QOP, &nonce);
    let result = auth.authenticate(Some(&good), "POST", "/", &nobody, at(NOW));
    assert_eq!(error_of(result), AuthError::UnknownUser(USER.into()));

    let other_uri = authorization(
        Answer {
            uri: "/other",
            ..MD5_QOP
        },
        &nonce,
    );
    assert_eq!(
        error_of(check(&auth, Some(&other_uri), NOW)),
        AuthError::UriMismatch {
            uri: "/other".into(),
            request: "/".into()
        }
    );
    // The same header is fine for the request it was made for.
    let result = auth.authenticate(Some(&other_uri), "POST", "/other", &creds(), at(NOW));
    assert_eq!(result, digest_ok(DigestAlgorithm::Md5));

    let other_realm = authorization(
        Answer {
            realm: "elsewhere",
            ..MD5_QOP
        },
        &nonce,
    );
    assert_eq!(
        error_of(check(&auth, Some(&other_realm), NOW)),
        AuthError::RealmMismatch {
            got: "elsewhere".into(),
            expected: "acs".into()
        }
    );
    // A wrong method changes HA2.
    let result = auth.authenticate(Some(&good), "GET", "/", &creds(), at(NOW));
    assert_eq!(error_of(result), AuthError::WrongPassword(USER.into()));
}

#[test]
fn absolute_uri_in_digest_matches_the_path() {
    let auth = authenticator(AuthMode::Digest);
    let nonce = fresh_nonce(&auth, NOW);
    let header = authorization(
        Answer {
            uri: "http://acs.example:7547/",
            ..MD5_QOP
        },
        &nonce,
    );
    assert_eq!(
        check(&auth, Some(&header), NOW),
        digest_ok(DigestAlgorithm::Md5)
    );
}

#[test]
fn tampered_and_foreign_nonces_are_rejected() {
    let auth = authenticator(AuthMode::Digest);
    let nonce = fresh_nonce(&auth, NOW);
    // Move the timestamp (its first 8 hex digits) by one second: the tag no longer matches.
    let mut tampered = nonce.clone().into_bytes();
    tampered[7] = if tampered[7] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    let header = authorization(MD5_QOP, &tampered);
    assert_eq!(
        error_of(check(&auth, Some(&header), NOW)),
        AuthError::InvalidNonce
    );

    let foreign = CpeAuthenticator::new(CpeAuthConfig {
        nonce_key: NonceKey::from_bytes(b"another cluster, another key...."),
        ..CpeAuthConfig::new(AuthMode::Digest)
    });
    let header = authorization(MD5_QOP, &fresh_nonce(&foreign, NOW));
    assert_eq!(
        error_of(check(&auth, Some(&header), NOW)),
        AuthError::InvalidNonce
    );

    let header = authorization(MD5_QOP, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
    assert_eq!(
        error_of(check(&auth, Some(&header), NOW)),
        AuthError::InvalidNonce
    );
}

#[test]
fn expired_nonce_gets_a_stale_challenge_only_when_the_password_was_right() {
    let auth = authenticator(AuthMode::Digest);
    let nonce = fresh_nonce(&auth, NOW);
    let later = NOW + 301;
    let header = authorization(MD5_QOP, &nonce);
    let rejection = check(&auth, Some(&header), later).unwrap_err();
    assert_eq!(rejection.error, AuthError::StaleNonce);
    assert_eq!(rejection.www_authenticate.len(), 1);
    for challenge in &rejection.www_authenticate {
        assert!(challenge.ends_with(", stale=true"), "{challenge}");
        // A new nonce, valid now.
        assert!(!challenge.contains(&nonce), "{challenge}");
    }
    let renewed = params::parse_challenges(&rejection.www_authenticate[0])[0]
        .param("nonce")
        .unwrap()
        .to_owned();
    let header = authorization(MD5_QOP, &renewed);
    assert_eq!(
        check(&auth, Some(&header), later),
        digest_ok(DigestAlgorithm::Md5)
    );

    let wrong = authorization(
        Answer {
            password: "guess",
            ..MD5_QOP
        },
        &nonce,
    );
    let rejection = check(&auth, Some(&wrong), later).unwrap_err();
    assert_eq!(rejection.error, AuthError::WrongPassword(USER.into()));
    assert!(
        rejection
            .www_authenticate
            .iter()
            .all(|c| !c.contains("stale"))
    );
}

#[test]
fn nonce_needs_no_connection_state_and_validates_on_any_node() {
    // AVM FRITZ!Box: 401 on one TCP connection, the answer on another; or another node behind
    // the load balancer. Nothing but the key is shared.
    let node_a = authenticator(AuthMode::Digest);
    let nonce = fresh_nonce(&node_a, NOW);
    let node_b = authenticator(AuthMode::Digest);
    let header = authorization(MD5_QOP, &nonce);
    assert_eq!(
        check(&node_b, Some(&header), NOW + 30),
        digest_ok(DigestAlgorithm::Md5)
    );
    // And again: the nonce count is not tracked (any nc is accepted).
    assert_eq!(
        check(&node_a, Some(&header), NOW + 60),
        digest_ok(DigestAlgorithm::Md5)
    );
}

#[test]
fn lenient_header_variants() {
    let auth = authenticator(AuthMode::Digest);
    let nonce = fresh_nonce(&auth, NOW);
    let canonical = authorization(MD5_QOP, &nonce);
    let item = parse_credentials(&canonical).unwrap();
    let response = item.param("response").unwrap();
    let variants = [
        // Unquoted values, odd order, extra spaces, upper-case scheme and hex.
        format!(
            "DIGEST   nc=00000001 ,  qop=\"auth\",cnonce=0a4f113b, response={}, uri=\"/\", \
             nonce={nonce}, realm=acs ,username=\"{USER}\"",
            response.to_ascii_uppercase()
        ),
        // No commas at all, unknown parameters, lower-case algorithm.
        format!(
            "digest username=\"{USER}\" realm=\"acs\" nonce=\"{nonce}\" uri=\"/\" \
             response=\"{response}\" qop=auth nc=00000001 cnonce=\"0a4f113b\" algorithm=md5 \
             opaque=\"whatever\" x-vendor=1"
        ),
    ];
    for header in variants {
        assert_eq!(
            check(&auth, Some(&header), NOW),
            digest_ok(DigestAlgorithm::Md5),
            "{header}"
        );
    }
    // The qop token in upper case went into the client's hash as sent.
    let response = DigestInput {
        algorithm: DigestAlgorithm::Md5,
        username: USER,
        realm: "acs",
        password: PASS,
        method: "POST",
        uri: "/",
        nonce: &nonce,
        qop: Some(("AUTH", "1", "c")),
        cnonce: "c",
    }
    .response(None);
    let header = format!(
        "Digest username=\"{USER}\", realm=\"acs\", nonce=\"{nonce}\", uri=\"/\", \
         response=\"{response}\", qop=AUTH, nc=1, cnonce=\"c\""
    );
    assert_eq!(
        check(&auth, Some(&header), NOW),
        digest_ok(DigestAlgorithm::Md5),
        "{header}"
    );
}

#[test]
fn malformed_digest_authorizations_name_what_is_wrong() {
    let auth = authenticator(AuthMode::Digest);
    let nonce = fresh_nonce(&auth, NOW);
    let base = authorization(MD5_QOP, &nonce);
    let without = |name: &str| {
        let item = parse_credentials(&base).unwrap();
        let kept: Vec<String> = item
            .params
            .iter()
            .filter(|(n, _)| n != name)
            .map(|(n, v)| format!("{n}={}", params::quote(v)))
            .collect();
        format!("Digest {}", kept.join(", "))
    };
    let cases = [
        (without("cnonce"), AuthError::MissingParameter("cnonce")),
        (without("nc"), AuthError::MissingParameter("nc")),
        (without("username"), AuthError::MissingParameter("username")),
        (without("nonce"), AuthError::MissingParameter("nonce")),
        (without("response"), AuthError::MissingParameter("response")),
        (without("uri"), AuthError::MissingParameter("uri")),
        (
            base.replace("qop=auth", "qop=auth-int"),
            AuthError::UnsupportedQop("auth-int".into()),
        ),
        (
            base.replace("nc=00000001", "nc=xyz"),
            AuthError::InvalidNonceCount("xyz".into()),
        ),
        (
            format!("{base}, algorithm=SHA-512-256"),
            AuthError::UnsupportedAlgorithm(UnsupportedAlgorithm("SHA-512-256".into())),
        ),
        (
            authorization(
                Answer {
                    algorithm: Some("MD5-sess"),
                    qop: false,
                    ..MD5_QOP
                },
                &nonce,
            )
            .replace(r#", cnonce="0a4f113b""#, ""),
            AuthError::MissingParameter("cnonce"),
        ),
        (
            "Basic dTpw".to_owned(),
            AuthError::WrongScheme {
                got: "Basic".into(),
                expected: "digest",
            },
        ),
        ("".to_owned(), AuthError::MissingAuthorization),
    ];
    for (header, expected) in cases {
        assert_eq!(
            error_of(check(&auth, Some(&header), NOW)),
            expected,
            "{header}"
        );
    }
    assert_eq!(
        error_of(check(&auth, None, NOW)),
        AuthError::MissingAuthorization
    );
}

// --- Challenges ------------------------------------------------------------------------------

#[test]
fn by_default_one_md5_challenge_with_a_32_character_nonce() {
    let auth = authenticator(AuthMode::Digest);
    let nonce = "69b0a680aabbccdd0011223344556677";
    let opaque = NonceKey::from_bytes(KEY).opaque("acs");
    assert_eq!(opaque.len(), 32);
    assert_eq!(
        auth.digest_challenges(nonce, false),
        [format!(
            r#"Digest realm="acs", qop="auth", algorithm=MD5, nonce="{nonce}", opaque="{opaque}""#
        )]
    );
    assert_eq!(
        auth.digest_challenges(nonce, true),
        [format!(
            r#"Digest realm="acs", qop="auth", algorithm=MD5, nonce="{nonce}", opaque="{opaque}", stale=true"#
        )]
    );

    let rejection = check(&auth, None, NOW).unwrap_err();
    let [md5] = &rejection.www_authenticate[..] else {
        panic!("{rejection:?}")
    };
    let md5 = &params::parse_challenges(md5)[0];
    assert_eq!(md5.param("algorithm"), Some("MD5"));
    assert_eq!(md5.param("qop"), Some("auth"));
    let issued = md5.param("nonce").unwrap();
    assert_eq!(issued.len(), NONCE_LEN);
    const { assert!(NONCE_LEN <= 32) };
    assert!(issued.bytes().all(|b| b.is_ascii_hexdigit()), "{issued}");
    // A fresh one on every challenge (TR-069 §3.4.4), even within the same second.
    assert_ne!(fresh_nonce(&auth, NOW), fresh_nonce(&auth, NOW));
}

#[test]
fn configured_challenges_come_in_the_configured_order() {
    let nonce = "69b0a680aabbccdd0011223344556677";
    let algorithms_of = |auth: &CpeAuthenticator| -> Vec<String> {
        auth.digest_challenges(nonce, false)
            .iter()
            .map(|c| {
                let item = &params::parse_challenges(c)[0];
                assert_eq!(item.param("nonce"), Some(nonce), "{c}");
                item.param("algorithm").unwrap().to_owned()
            })
            .collect()
    };
    use DigestAlgorithm::{Md5, Md5Sess, Sha256};
    assert_eq!(algorithms_of(&offering(&[Md5, Sha256])), ["MD5", "SHA-256"]);
    assert_eq!(algorithms_of(&offering(&[Sha256, Md5])), ["SHA-256", "MD5"]);
    assert_eq!(algorithms_of(&offering(&[Sha256])), ["SHA-256"]);
    // A -sess entry is advertised as its base, once.
    assert_eq!(algorithms_of(&offering(&[Md5Sess, Md5])), ["MD5"]);
}

// --- Basic and none ------------------------------------------------------------------------

#[test]
fn basic_accepts_the_right_password_only() {
    use base64::Engine as _;
    let auth = authenticator(AuthMode::Basic);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let good = format!("Basic {}", b64(&format!("{USER}:{PASS}")));
    assert_eq!(
        check(&auth, Some(&good), NOW),
        Ok(Authenticated {
            username: Some(USER.into()),
            scheme: AuthScheme::Basic
        })
    );
    let lower = format!(
        "basic   {}",
        b64(&format!("{USER}:{PASS}")).trim_end_matches('=')
    );
    assert!(check(&auth, Some(&lower), NOW).is_ok(), "{lower}");

    let wrong = format!("Basic {}", b64(&format!("{USER}:nope")));
    let rejection = check(&auth, Some(&wrong), NOW).unwrap_err();
    assert_eq!(rejection.error, AuthError::WrongPassword(USER.into()));
    assert_eq!(rejection.www_authenticate, [r#"Basic realm="acs""#]);

    let cases = [
        (
            format!("Basic {}", b64(&format!("someone:{PASS}"))),
            AuthError::UnknownUser("someone".into()),
        ),
        ("Basic %%%".to_owned(), AuthError::InvalidBasicEncoding),
        (format!("Basic {}", b64("nocolon")), AuthError::MissingColon),
        (
            r#"Digest username="x""#.to_owned(),
            AuthError::WrongScheme {
                got: "Digest".into(),
                expected: "basic",
            },
        ),
    ];
    for (header, expected) in cases {
        assert_eq!(
            error_of(check(&auth, Some(&header), NOW)),
            expected,
            "{header}"
        );
    }
}

#[test]
fn mode_none_lets_everyone_in_and_challenges_nothing() {
    let auth = authenticator(AuthMode::None);
    let anonymous = Ok(Authenticated {
        username: None,
        scheme: AuthScheme::None,
    });
    assert_eq!(check(&auth, None, NOW), anonymous);
    assert_eq!(check(&auth, Some("Digest garbage"), NOW), anonymous);
    assert!(auth.challenges(false, at(NOW)).is_empty());
}

// --- Configuration, credential sources, secrets ----------------------------------------------

#[test]
fn mode_tokens_and_startup_warnings() {
    assert_eq!("Digest".parse(), Ok(AuthMode::Digest));
    assert_eq!(" basic ".parse(), Ok(AuthMode::Basic));
    assert_eq!("none".parse(), Ok(AuthMode::None));
    assert_eq!(
        "ntlm".parse::<AuthMode>(),
        Err(UnknownAuthMode("ntlm".into()))
    );
    assert_eq!(AuthMode::default(), AuthMode::None);
    assert_eq!(AuthMode::Digest.to_string(), "digest");

    assert!(
        CpeAuthConfig::new(AuthMode::None)
            .startup_warning(true)
            .is_some()
    );
    assert!(
        CpeAuthConfig::new(AuthMode::Basic)
            .startup_warning(false)
            .is_some()
    );
    assert_eq!(
        CpeAuthConfig::new(AuthMode::Basic).startup_warning(true),
        None
    );
    assert_eq!(
        CpeAuthConfig::new(AuthMode::Digest).startup_warning(false),
        None
    );
}

#[test]
fn per_device_credentials_with_shared_fallback() {
    let auth = authenticator(AuthMode::Digest);
    let nonce = fresh_nonce(&auth, NOW);
    let per_device: HashMap<String, Secret> = [(USER.to_owned(), Secret::new(PASS))].into();
    let shared = Credentials::new("shared-user", "shared-pass");
    let source = Fallback(per_device, shared);
    let header = authorization(MD5_QOP, &nonce);
    let result = auth.authenticate(Some(&header), "POST", "/", &source, at(NOW));
    assert_eq!(result, digest_ok(DigestAlgorithm::Md5));
    assert_eq!(
        source.password("shared-user"),
        Some(Secret::new("shared-pass"))
    );
    assert_eq!(source.password("nobody"), None);
}

#[test]
fn two_step_flow_for_async_stores() {
    let auth = authenticator(AuthMode::Digest);
    let nonce = fresh_nonce(&auth, NOW);
    let header = authorization(MD5_QOP, &nonce);
    let attempt = auth.parse(Some(&header)).unwrap();
    assert_eq!(attempt.username(), Some(USER));
    // ... the session layer awaits the store for `attempt.username()` here ...
    let password = Secret::new(PASS);
    let who = auth
        .verify(&attempt, "POST", "/", Some(&password), at(NOW))
        .unwrap();
    assert_eq!(who.username.as_deref(), Some(USER));
    let error = auth
        .verify(&attempt, "POST", "/", None, at(NOW))
        .unwrap_err();
    let rejection = auth.reject(error, at(NOW));
    assert_eq!(rejection.error, AuthError::UnknownUser(USER.into()));
    assert_eq!(rejection.www_authenticate.len(), 1);
}

#[test]
fn secrets_stay_out_of_debug_and_errors() {
    use base64::Engine as _;
    let config = CpeAuthConfig::new(AuthMode::Basic);
    let printed = format!("{config:?} {:?}", CpeAuthenticator::new(config.clone()));
    assert!(printed.contains("NonceKey(***)"), "{printed}");

    let auth = authenticator(AuthMode::Basic);
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"));
    let attempt = auth.parse(Some(&format!("Basic {b64}"))).unwrap();
    let printed = format!("{attempt:?} {:#?}", creds());
    assert!(!printed.contains(PASS), "{printed}");

    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}x"))
    );
    let rejection = check(&auth, Some(&wrong), NOW).unwrap_err();
    let printed = format!("{rejection:?} {}", rejection.error);
    assert!(!printed.contains(PASS), "{printed}");
}

#[test]
fn failure_reasons_are_stable_names_and_only_two_are_routine() {
    let cases = [
        (
            AuthError::MissingAuthorization,
            "missing_authorization",
            true,
        ),
        (AuthError::StaleNonce, "stale_nonce", true),
        (
            AuthError::WrongPassword(USER.into()),
            "wrong_password",
            false,
        ),
        (
            AuthError::UnknownUser("\u{1b}[2J".into()),
            "unknown_user",
            false,
        ),
        (AuthError::InvalidNonce, "invalid_nonce", false),
        (
            AuthError::AlgorithmNotOffered(DigestAlgorithm::Sha256),
            "algorithm_not_offered",
            false,
        ),
    ];
    for (error, reason, routine) in cases {
        assert_eq!(error.reason(), reason);
        assert_eq!(error.is_routine(), routine, "{error:?}");
    }
}
