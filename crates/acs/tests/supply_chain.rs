//! The offline half of the supply-chain rules (`deny.toml`, which `.ci/run` checks with
//! cargo-deny): read from `Cargo.lock` alone, so it holds on any machine, cargo-deny
//! installed or not. One crypto provider (ring): no OpenSSL, aws-lc, native-tls or BoringSSL
//! for any platform; every package from crates.io (or the workspace itself).

const BANNED: &[&str] = &[
    "openssl",
    "openssl-sys",
    "native-tls",
    "aws-lc-rs",
    "aws-lc-sys",
    "aws-lc-fips-sys",
    "boring",
    "boring-sys",
];

const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";

/// `(name, source)` of every `[[package]]` in the lock file.
fn packages() -> Vec<(String, Option<String>)> {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
        .expect("Cargo.lock at the workspace root");
    let mut out = Vec::new();
    for block in lock.split("[[package]]").skip(1) {
        let field = |key: &str| {
            block.lines().find_map(|l| {
                l.strip_prefix(key)
                    .and_then(|r| r.trim().strip_prefix('='))
                    .map(|v| v.trim().trim_matches('"').to_owned())
            })
        };
        out.push((field("name ").expect("a package name"), field("source ")));
    }
    out
}

#[test]
fn one_crypto_provider_and_crates_io_only() {
    let packages = packages();
    assert!(
        packages.iter().any(|(n, _)| n == "ring"),
        "ring is the provider"
    );
    let banned: Vec<&String> = packages
        .iter()
        .map(|(n, _)| n)
        .filter(|n| BANNED.contains(&n.as_str()))
        .collect();
    assert!(banned.is_empty(), "banned crates in Cargo.lock: {banned:?}");
    let foreign: Vec<String> = packages
        .iter()
        .filter(|(_, s)| s.as_deref().is_some_and(|s| s != CRATES_IO))
        .map(|(n, s)| format!("{n} from {}", s.as_deref().unwrap_or("")))
        .collect();
    assert!(
        foreign.is_empty(),
        "packages not from crates.io: {foreign:?}"
    );
}
