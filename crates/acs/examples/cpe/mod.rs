//! What the examples send as a CPE and how they read acs's answers: raw HTTP/1.1 over one
//! TCP connection, Content-Length framing only (acs answers CPEs that way).

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The Inform of `serial` (a periodic one) with `parameters` (`ParameterValueStruct`s) in
/// its `ParameterList`, as a whole `POST /`.
pub fn inform(serial: &str, parameters: &str) -> Vec<u8> {
    let body = format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Header><cwmp:ID soap:mustUnderstand="1">1</cwmp:ID></soap:Header><soap:Body><cwmp:Inform><DeviceId><Manufacturer>SimNet</Manufacturer><OUI>A1B2C3</OUI><ProductClass>SG</ProductClass><SerialNumber>{serial}</SerialNumber></DeviceId><Event><EventStruct><EventCode>2 PERIODIC</EventCode><CommandKey></CommandKey></EventStruct></Event><MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2026-01-01T00:00:00Z</CurrentTime><RetryCount>0</RetryCount><ParameterList>{parameters}</ParameterList></cwmp:Inform></soap:Body></soap:Envelope>"#
    );
    let mut v = format!(
        "POST / HTTP/1.1\r\nHost: acs\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body.as_bytes());
    v
}

/// The empty POST that asks for the next RPC (204: the session ends).
pub const EMPTY: &[u8] = b"POST / HTTP/1.1\r\nHost: acs\r\nContent-Length: 0\r\n\r\n";

/// Reads one response from `s` (bytes beyond it stay in `buf` for the next); its status.
pub async fn response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status = head.get(9..12).and_then(|x| x.parse().ok()).unwrap_or(0);
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let mut chunk = [0u8; 8192];
                let n = s.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..end + 4 + len);
            return Ok(status);
        }
        let mut chunk = [0u8; 8192];
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
