//! A tiny loopback load client: Inform-only sessions (Inform, empty POST, 204) against a
//! running `acs serve`, reporting sessions/s and latency percentiles.
//!
//! `cargo run --release -p acs --example load -- 127.0.0.1:7547 [connections] [seconds] [devices]`
//!
//! Each connection keeps one TCP connection open and runs sessions back to back with no
//! cookies (the session is the connection), cycling over its share of the device serials.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

mod cpe;
use cpe::{EMPTY, response};

/// What each Inform reports: the software version and the connection-request URL.
const PARAMETERS: &str = r#"<ParameterValueStruct><Name>InternetGatewayDevice.DeviceInfo.SoftwareVersion</Name><Value xsi:type="xsd:string">1.0</Value></ParameterValueStruct><ParameterValueStruct><Name>InternetGatewayDevice.ManagementServer.ConnectionRequestURL</Name><Value xsi:type="xsd:string">http://127.0.0.1:9/cr</Value></ParameterValueStruct>"#;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:7547".into());
    let conns: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(64);
    let secs: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(10);
    let devices: usize = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..conns {
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut s = TcpStream::connect(&addr).await.expect("connect");
            let _ = s.set_nodelay(true);
            let mut buf = Vec::new();
            let mut i = c;
            while Instant::now() < deadline {
                let serial = format!("LOAD{:06}", i % devices);
                i += conns;
                let t = Instant::now();
                let ok = async {
                    s.write_all(&cpe::inform(&serial, PARAMETERS)).await?;
                    let a = response(&mut s, &mut buf).await?;
                    s.write_all(EMPTY).await?;
                    let b = response(&mut s, &mut buf).await?;
                    Ok::<bool, std::io::Error>(a == 200 && b == 204)
                }
                .await;
                match ok {
                    Ok(true) => lat.push(t.elapsed()),
                    Ok(false) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        buf.clear();
                        match TcpStream::connect(&addr).await {
                            Ok(n) => s = n,
                            Err(_) => break,
                        }
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("client task");
        all.extend(l);
        errors += e;
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{{\"sessions\": {}, \"errors\": {}, \"sessions_per_s\": {:.0}, \"p50_ms\": {:.2}, \"p99_ms\": {:.2}, \"connections\": {}}}",
        all.len(),
        errors,
        all.len() as f64 / secs as f64,
        pct(0.50),
        pct(0.99),
        conns
    );
}
