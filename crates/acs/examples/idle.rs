//! Memory per idle CPE connection of a running `acs serve` (Linux): each of `n` devices first
//! runs one session on a single connection (registering it and warming the store), the
//! process's RSS is read; then `n` connections each run a session (Inform, empty POST, 204)
//! and stay open, idle; the RSS is read again. The difference over `n` is what one idle
//! keep-alive connection costs.
//!
//! `cargo run --release -p acs --example idle -- 127.0.0.1:7547 <acs pid> [n]`

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn inform(serial: &str) -> Vec<u8> {
    let body = format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap:Header><cwmp:ID soap:mustUnderstand="1">1</cwmp:ID></soap:Header><soap:Body><cwmp:Inform><DeviceId><Manufacturer>SimNet</Manufacturer><OUI>A1B2C3</OUI><ProductClass>SG</ProductClass><SerialNumber>{serial}</SerialNumber></DeviceId><Event><EventStruct><EventCode>2 PERIODIC</EventCode><CommandKey></CommandKey></EventStruct></Event><MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2026-01-01T00:00:00Z</CurrentTime><RetryCount>0</RetryCount><ParameterList></ParameterList></cwmp:Inform></soap:Body></soap:Envelope>"#
    );
    let mut v = format!(
        "POST / HTTP/1.1\r\nHost: acs\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body.as_bytes());
    v
}

const EMPTY: &[u8] = b"POST / HTTP/1.1\r\nHost: acs\r\nContent-Length: 0\r\n\r\n";

/// Reads one Content-Length framed response; its status.
async fn status(s: &mut TcpStream) -> std::io::Result<u16> {
    let mut buf = Vec::new();
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let mut chunk = [0u8; 4096];
                match s.read(&mut chunk).await? {
                    0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                    n => buf.extend_from_slice(&chunk[..n]),
                }
            }
            return Ok(head.get(9..12).and_then(|x| x.parse().ok()).unwrap_or(0));
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk).await? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn session(s: &mut TcpStream, serial: &str) -> std::io::Result<()> {
    s.write_all(&inform(serial)).await?;
    let a = status(s).await?;
    s.write_all(EMPTY).await?;
    let b = status(s).await?;
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
