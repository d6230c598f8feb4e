//! Tidy: the repository's shape rules, checked instead of trusted to prose.
//!
//! - every module of every crate says what it is for (`//!` on its first line);
//! - no Rust file grows past [`MAX_LINES`] unless [`LONG_FILES`] names it with the reason, and
//!   a name there that no longer needs to be there is an error too, so the list stays true;
//! - ARCHITECTURE.md has a section for every workspace member, and each section names every
//!   module of its crate (as `path/file.rs`, `file.rs`, `path/file`, `path::file` or, for a
//!   directory module, `dir/`); unit-test modules (`tests.rs`, `tests/`) go with what they test.

use std::fs;
use std::path::{Path, PathBuf};

/// A file longer than this is hard to hold in one's head; split it by topic.
const MAX_LINES: usize = 800;

/// Files allowed past [`MAX_LINES`], each with why it is one file.
const LONG_FILES: &[(&str, &str)] = &[
    (
        "crates/acs-session/src/engine/session.rs",
        "the session state machine: one match over (state, message) reads best whole",
    ),
    (
        "crates/acs-session/src/task.rs",
        "the task contract: one validated enum and its merge table, shared with the REST API",
    ),
    (
        "crates/acs-session/tests/engine.rs",
        "engine cases over the in-memory backend, grouped by RPC under one fixture set",
    ),
    (
        "crates/acs-store/tests/contract/cases.rs",
        "the store contract: every case runs on both backends through one registration table",
    ),
    (
        "crates/acs/tests/http.rs",
        "the CPE listener end to end: every case starts the real binary through one fixture",
    ),
    (
        "crates/acs-api/tests/around.rs",
        "what happens around an API call (wakes, history, counts) under one fixture set",
    ),
    (
        "crates/acs-api/tests/devices.rs",
        "the seed's device endpoints, one case per documented behaviour",
    ),
    (
        "simulators/cpe-sim/src/cpe.rs",
        "one CPE's session, CPE side: the PROTOCOL §3 sequence reads best in one place",
    ),
    (
        "crates/acs/src/cpe.rs",
        "the CPE listener's connection loop: gate, framing, auth and the engine in one path",
    ),
    (
        "crates/acs-store/src/device.rs",
        "the device record: its columns, reads and writes on both backends",
    ),
    (
        "crates/acs-store/src/task.rs",
        "the task queue: claim, settle and retry on both backends",
    ),
    (
        "crates/cwmp/tests/schema.rs",
        "every ACS-side message validated against the official XSDs, one case per message",
    ),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository root")
        .to_path_buf()
}

/// Every `.rs` file below `dir`, skipping build output.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && name != "corpus" && name != "artifacts" {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .expect("below the root")
        .to_string_lossy()
        .replace('\\', "/")
}

/// The workspace members, from the root Cargo.toml's `members = [...]`.
fn members() -> Vec<String> {
    let manifest = fs::read_to_string(root().join("Cargo.toml")).expect("root Cargo.toml");
    let start = manifest.find("members = [").expect("a members list");
    let list = &manifest[start..];
    let list = &list[..list.find(']').expect("members list ends")];
    list.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_module_says_what_it_is_for() {
    let mut files = Vec::new();
    for member in members() {
        rust_files(&root().join(&member).join("src"), &mut files);
    }
    assert!(files.len() > 50, "found only {} source files", files.len());
    let undocumented: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = fs::read_to_string(f).expect("readable");
            !text.trim_start().starts_with("//!")
        })
        .map(|f| relative(f))
        .collect();
    assert!(
        undocumented.is_empty(),
        "these modules start without a `//!` line saying what they are for: {undocumented:#?}"
    );
}

#[test]
fn no_file_grows_past_the_limit_without_a_reason() {
    let mut files = Vec::new();
    for top in ["crates", "simulators", "tests"] {
        rust_files(&root().join(top), &mut files);
    }
    let mut problems = Vec::new();
    for file in &files {
        let name = relative(file);
        let lines = fs::read_to_string(file).expect("readable").lines().count();
        let listed = LONG_FILES.iter().any(|(path, _)| *path == name);
        if lines > MAX_LINES && !listed {
            problems.push(format!(
                "{name} has {lines} lines (over {MAX_LINES}): split it by topic, or add it to \
                 LONG_FILES in tests/tidy.rs with the reason it is one file"
            ));
        }
        if lines <= MAX_LINES && listed {
            problems.push(format!(
                "{name} has {lines} lines, within {MAX_LINES}: take it off LONG_FILES"
            ));
        }
    }
    for (path, _) in LONG_FILES {
        if !root().join(path).exists() {
            problems.push(format!("LONG_FILES names {path}, which does not exist"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The text of ARCHITECTURE.md's section headed `## \`heading\``, up to the next `## `.
fn section<'a>(architecture: &'a str, heading: &str) -> Option<&'a str> {
    let marker = format!("\n## `{heading}`");
    let start = architecture.find(&marker)? + 1;
    let rest = &architecture[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    Some(&rest[..end])
}

/// Whether `text` names the module at `rel` (a path below `src/`).
fn names_module(text: &str, rel: &str) -> bool {
    let stem = rel.trim_end_matches(".rs");
    let file = rel.rsplit('/').next().unwrap_or(rel);
    let mut spellings = vec![
        format!("`{rel}`"),
        format!("`{stem}`"),
        format!("`{}`", stem.replace('/', "::")),
        format!("`{file}`"),
    ];
    if let Some(dir) = stem.strip_suffix("/mod") {
        spellings.push(format!("`{dir}/`"));
        spellings.push(format!("`{dir}`"));
        spellings.push(format!("`{}`", dir.replace('/', "::")));
    }
    spellings.iter().any(|s| text.contains(s.as_str()))
}

#[test]
fn architecture_names_every_crate_and_module() {
    let architecture = fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut problems = Vec::new();
    for member in members() {
        let Some(text) = section(&architecture, &member)
            .or_else(|| section(&architecture, &format!("{member}/")))
        else {
            problems.push(format!("no section `## \\`{member}\\`` in ARCHITECTURE.md"));
            continue;
        };
        let src = root().join(&member).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for file in files {
            let rel = file
                .strip_prefix(&src)
                .expect("below src")
                .to_string_lossy()
                .replace('\\', "/");
            // the crate root is the section itself; unit-test modules belong to what they test
            let test_module =
                rel == "tests.rs" || rel.ends_with("/tests.rs") || rel.contains("tests/");
            if rel == "lib.rs" || rel == "main.rs" || test_module {
                continue;
            }
            if !names_module(text, &rel) {
                problems.push(format!(
                    "ARCHITECTURE.md's `{member}` section does not name {rel}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
