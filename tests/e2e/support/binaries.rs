//! Where the `acs` and `cpe-sim` binaries are. This crate is not their package, so Cargo's
//! `CARGO_BIN_EXE_*` does not exist here: they are looked up next to the test executable
//! (`target/<profile>/deps/e2e-… -> target/<profile>/`), and built once with
//! `cargo build -p acs -p cpe-sim` when missing or older than the sources they come from.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

pub struct Binaries {
    pub acs: PathBuf,
    pub cpe_sim: PathBuf,
}

/// The workspace root (this package is `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The two binaries, built if needed (once per test run).
pub fn get() -> &'static Binaries {
    static BINARIES: OnceLock<Binaries> = OnceLock::new();
    BINARIES.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test executable's path");
        // target/<profile>/deps/e2e-<hash>
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test executable sits in target/<profile>/deps")
            .to_path_buf();
        let suffix = std::env::consts::EXE_SUFFIX;
        let binaries = Binaries {
            acs: dir.join(format!("acs{suffix}")),
            cpe_sim: dir.join(format!("cpe-sim{suffix}")),
        };
        let newest_source = newest_source_time();
        let stale = [&binaries.acs, &binaries.cpe_sim].iter().any(|b| {
            match std::fs::metadata(b).and_then(|m| m.modified()) {
                Ok(built) => newest_source.is_some_and(|s| s > built),
                Err(_) => true,
            }
        });
        if stale {
            build(&dir);
        }
        for b in [&binaries.acs, &binaries.cpe_sim] {
            assert!(b.exists(), "{} is missing after the build", b.display());
        }
        binaries
    })
}

fn build(dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "e2e: building acs and cpe-sim into {} (missing or older than their sources)",
        dir.display()
    );
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "acs", "-p", "cpe-sim"])
        .current_dir(workspace_root());
    // The binaries must land next to this executable: same target dir, same profile.
    if let Some(target) = dir.parent() {
        cmd.arg("--target-dir").arg(target);
    }
    if dir.file_name().is_some_and(|p| p == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("cargo runs");
    assert!(status.success(), "cargo build -p acs -p cpe-sim failed");
}

/// The newest modification time among the files the two binaries are built from.
fn newest_source_time() -> Option<SystemTime> {
    let root = workspace_root();
    let mut newest = None;
    for rel in [
        "Cargo.lock",
        "Cargo.toml",
        "crates/cwmp",
        "crates/acs",
        "crates/acs-session",
        "crates/acs-store",
        "crates/acs-api",
        "simulators/cpe-sim/src",
        "simulators/cpe-sim/Cargo.toml",
        "migrations",
        "schemas/datamodel",
    ] {
        walk(&root.join(rel), &mut newest);
    }
    newest
}

fn walk(path: &Path, newest: &mut Option<SystemTime>) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.is_dir() {
        // Tests, benches and fuzz targets are not part of the binaries.
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if matches!(name, "tests" | "benches" | "fuzz" | "examples" | "target") {
            return;
        }
        if let Ok(entries) = std::fs::read_dir(path) {
            for e in entries.flatten() {
                walk(&e.path(), newest);
            }
        }
    } else if let Ok(t) = meta.modified()
        && newest.is_none_or(|n| t > n)
    {
        *newest = Some(t);
    }
}
