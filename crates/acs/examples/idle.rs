//! Memory per idle CPE connection of a running `acs serve` (Linux): each of `n` devices first
//! runs one session on a single connection (registering it and warming the store), the
//! process's RSS is read; then `n` connections each run a session (Inform, empty POST, 204)
//! and stay open, idle; the RSS is read again. The difference over `n` is what one idle
//! keep-alive connection costs.
//!
//! `cargo run --release -p acs --example idle -- 127.0.0.1:7547 <acs pid> [n]`

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

mod cpe;
use cpe::{EMPTY, inform, response};

async fn session(s: &mut TcpStream, serial: &str) -> std::io::Result<()> {
    let mut buf = Vec::new();
    s.write_all(&inform(serial, "")).await?;
    let a = response(s, &mut buf).await?;
    s.write_all(EMPTY).await?;
    let b = response(s, &mut buf).await?;
    if (a, b) != (200, 204) {
        return Err(std::io::Error::other(format!("{serial}: {a}, {b}")));
    }
    Ok(())
}

fn rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the acs pid");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args.get(1).expect("the CPE listener's address").clone();
    let pid = args.get(2).expect("the acs process id").clone();
    let n: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let serial = |i: usize| format!("IDLE{i:06}");

    let mut one = TcpStream::connect(&addr).await.expect("connect");
    for i in 0..n {
        session(&mut one, &serial(i))
            .await
            .expect("warm-up session");
    }
    drop(one);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = rss_kib(&pid);

    let mut held = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let (addr, serial) = (addr.clone(), serial(i));
                tokio::spawn(async move {
                    let mut s = TcpStream::connect(&addr).await.expect("connect");
                    session(&mut s, &serial).await.expect("session");
                    s
                })
            })
            .collect();
        for t in batch {
            held.push(t.await.expect("client task"));
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(&pid);
    println!(
        "{{\"connections\": {n}, \"rss_before_kib\": {before}, \"rss_after_kib\": {after}, \"per_connection_bytes\": {}}}",
        (after.saturating_sub(before) * 1024) / n as u64
    );
    drop(held);
}
