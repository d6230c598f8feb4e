//! What every listener needs from the operating system: enough file descriptors for a fleet's
//! connections (checked at start), and an accept loop that survives running out of them.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// How long an accept loop pauses after an error that is not about one connection (out of
/// file descriptors, out of memory): retrying at once would spin a core and flood the log
/// until a connection closes.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// After a failed `accept`: errors of one connection (reset or aborted before it was
/// accepted) are skipped; any other is logged and the loop pauses for `ACCEPT_PAUSE`.
pub async fn after_accept_error(e: io::Error) {
    match e.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::Interrupted => {}
        _ => {
            tracing::warn!(error = %e, "accept failed; pausing the listener for 100 ms");
            tokio::time::sleep(ACCEPT_PAUSE).await;
        }
    }
}

/// The next connection of `listener` (`TCP_NODELAY` set: CWMP and API exchanges are small
/// request/response pairs), or `None` once `shutdown` changes. An accept error waits as
/// `after_accept_error` says, then the wait goes on.
pub async fn next_connection(
    listener: &TcpListener,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    return Some((stream, peer));
                }
                Err(e) => after_accept_error(e).await,
            },
            _ = shutdown.changed() => return None,
        }
    }
}

/// This process's soft limit of open files, from `/proc/self/limits` (Linux; `None`
/// elsewhere or when unreadable). Every open CPE session is a socket, and a service manager's
/// default soft limit is often 1,024.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files(&limits)
}

/// The soft limit in a `/proc/<pid>/limits` text; `u64::MAX` for unlimited.
fn parse_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .strip_prefix("Max open files")?
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        return Some(u64::MAX);
    }
    soft.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_files_line_is_read() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max cpu time              unlimited            unlimited            seconds   \n\
                    Max open files            1024                 524288               files     \n";
        assert_eq!(parse_open_files(text), Some(1024));
        let text = "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_files(text), Some(u64::MAX));
        assert_eq!(parse_open_files("Max processes 10 10 processes\n"), None);
        #[cfg(target_os = "linux")]
        assert!(open_files_limit().is_some());
    }
}
