//! Measures what 10,000 virtual CPEs of a data model cost: instantiates them and prints the
//! process's resident memory (Linux `/proc/self/status`) before and after. Run by hand:
//!
//! ```sh
//! cargo run --release -p cpe-sim --example footprint -- tr181 10000
//! cargo run --release -p cpe-sim --example footprint -- tr098 10000
//! ```
//!
//! Not a test: memory figures depend on the allocator and the machine. Measured on the
//! project's machine (2026-11-28, release build, glibc malloc), 10,000 devices each:
//! TR-181 (194 parameters) 2.4 MB → 18.0 MB RSS (~1.6 KB per device),
//! TR-098 (186 parameters) 2.4 MB → 22.7 MB RSS (~2.1 KB per device).

use std::sync::Arc;

use cpe_sim::datamodel::{Device, Identity, Model};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let model = match args.next().as_deref() {
        Some("tr098") => Model::Tr098,
        _ => Model::Tr181,
    };
    let count: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let template = match model.load() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{model:?}: {e}");
            std::process::exit(1);
        }
    };
    let before = rss_kib();
    let devices: Vec<Device> = (0..count)
        .map(|n| {
            let identity = Identity {
                serial: format!("SIM{n:08}"),
                oui: "00D09E".to_owned(),
                product_class: "SimGateway".to_owned(),
                mac: [0x02, 0xD0, 0x9E, (n >> 16) as u8, (n >> 8) as u8, n as u8],
                wan_ip: [10, 64 + (n >> 16) as u8, (n >> 8) as u8, n as u8].into(),
                acs_url: "http://127.0.0.1:7547/".to_owned(),
                cr_host: "127.0.0.1".to_owned(),
                cr_port: 30000 + (n % 30000) as u16,
                cr_path: format!("/cr/{n}"),
            };
            Device::new(Arc::clone(&template), &identity)
        })
        .collect();
    let after = rss_kib();
    let params = template.parameter_count();
    println!(
        "{model:?}: {count} devices x {params} parameters: RSS {:.1} MB before, {:.1} MB after ({} bytes per device)",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after.saturating_sub(before) * 1024) / u64::from(count.max(1)),
    );
    // Keep the devices alive until measured, and show one is whole.
    let inform = devices
        .last()
        .map(|d| d.inform_parameters(&["2 PERIODIC"]).len())
        .unwrap_or(0);
    println!("last device's Inform carries {inform} parameters");
}
