//! What a file fetch holds in memory, measured as the process's peak RSS (its only test, so
//! nothing else runs meanwhile): a 64 MiB file is fetched from a server that generates it
//! from one static block, and the peak may grow by a read buffer, not the file. A fetch that
//! kept the body would touch at least 64 MiB of fresh pages.
//!
//! Linux only: the peak is reset through `/proc/self/clear_refs` and read from
//! `/proc/self/status` (`VmHWM`).
#![cfg(target_os = "linux")]

mod file_server;

use cpe_sim::cpe::fetch;
use cpe_sim::settings::Settings;
use file_server::FileServer;

/// The file: 64 MiB.
const FILE: u64 = 64 << 20;
/// What the peak RSS may grow by during the fetch (client and the test's server together):
/// a few times [`cpe_sim::transport::FILE_READ_BUFFER`] (32 KiB; 16 KiB measured), far below
/// the file and below hyper's uncapped read buffer (~400 kB, 388 KiB measured).
const BOUND_KIB: u64 = 256;

/// A `kB` line of `/proc/self/status`.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

#[tokio::test]
async fn a_fetch_holds_a_read_buffer_not_the_file() {
    let files = FileServer::start().await;
    let mut settings = Settings::new(&files.url("/acs")).unwrap();
    settings.http_timeout = std::time::Duration::from_secs(600);
    // Warm up (the runtime's IO structures, hyper's first connection), then measure one fetch.
    let small = files.url("/gen/100000");
    assert_eq!(fetch(&settings, &small, "", "", 100_000).await, Ok(100_000));
    // "5" resets the peak RSS (VmHWM) to the current RSS.
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS");
    let before = status_kib("VmRSS");
    let fetched = fetch(&settings, &files.url(&format!("/gen/{FILE}")), "", "", 0).await;
    let grown = status_kib("VmHWM").saturating_sub(before);
    assert_eq!(fetched, Ok(FILE));
    eprintln!("a {FILE}-byte fetch grew the peak RSS by {grown} KiB");
    assert!(
        grown < BOUND_KIB,
        "a {FILE}-byte fetch grew the peak RSS by {grown} KiB (bound {BOUND_KIB} KiB)"
    );
}
