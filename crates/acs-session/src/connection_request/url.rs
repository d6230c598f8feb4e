//! The ConnectionRequestURL a CPE reports: `http://host:port/path` (TR-069 §3.2.2), IPv6
//! literals in brackets. Plain HTTP only; anything else is refused before any traffic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where a connection request goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CrUrl {
    pub(crate) host: Host,
    pub(crate) port: u16,
    /// The `Host` header: the authority as written (`[::1]:7547`).
    pub(crate) authority: String,
    /// The request target and digest `uri`: path and query, `/` when empty.
    pub(crate) target: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Host {
    Ip(IpAddr),
    /// A DNS name: resolved once per request; every address it resolves to is checked by the
    /// address policy, then tried in turn.
    Name(String),
}

/// Parses a ConnectionRequestURL; the error says what is wrong with it.
pub(crate) fn parse(url: &str) -> Result<CrUrl, String> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("`{url}` is not an absolute http:// URL"));
    };
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(format!(
            "scheme `{scheme}` is not http (connection requests are plain HTTP)"
        ));
    }
    let rest = rest.split('#').next().unwrap_or("");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err("user information in the URL is not supported".to_owned());
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (literal, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("unterminated IPv6 literal in `{authority}`"))?;
        let ip: Ipv6Addr = literal
            .parse()
            .map_err(|_| format!("`{literal}` is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("junk after `[{literal}]`"))?,
            ),
        };
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let (name, port) = match authority.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (authority, None),
        };
        if name.is_empty() {
            return Err(format!("`{url}` has no host"));
        }
        let host = match name.parse::<Ipv4Addr>() {
            Ok(ip) => Host::Ip(IpAddr::V4(ip)),
            Err(_)
                if name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)) =>
            {
                Host::Name(name.to_owned())
            }
            Err(_) => return Err(format!("`{name}` is not a valid host")),
        };
        (host, port)
    };
    let port = match port {
        None | Some("") => 80,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("`{p}` is not a valid port"))?,
    };
    let target = match target {
        "" => "/".to_owned(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_owned(),
    };
    if target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("the path holds spaces or control characters".to_owned());
    }
    Ok(CrUrl {
        host,
        port,
        authority: authority.to_owned(),
        target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> (Host, u16, String, String) {
        let u = parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        (u.host, u.port, u.authority, u.target)
    }

    #[test]
    fn accepts_what_cpes_report() {
        let v4 = Host::Ip("10.1.2.3".parse().unwrap());
        assert_eq!(
            ok("http://10.1.2.3:7547/tr069/abc"),
            (
                v4.clone(),
                7547,
                "10.1.2.3:7547".into(),
                "/tr069/abc".into()
            )
        );
        assert_eq!(
            ok("HTTP://10.1.2.3"),
            (v4.clone(), 80, "10.1.2.3".into(), "/".into())
        );
        assert_eq!(
            ok(" http://10.1.2.3:/?x=1#frag "),
            (v4, 80, "10.1.2.3:".into(), "/?x=1".into())
        );
        let v6 = Host::Ip("2001:db8::1".parse().unwrap());
        assert_eq!(
            ok("http://[2001:db8::1]:30005/cr"),
            (
                v6.clone(),
                30005,
                "[2001:db8::1]:30005".into(),
                "/cr".into()
            )
        );
        assert_eq!(ok("http://[2001:db8::1]").1, 80);
        assert_eq!(
            ok("http://cpe-1.example:7547/").0,
            Host::Name("cpe-1.example".into())
        );
    }

    #[test]
    fn refuses_the_rest() {
        for bad in [
            "https://10.1.2.3:7547/",
            "udp://10.1.2.3",
            "10.1.2.3:7547/",
            "",
            "http://",
            "http://:7547/",
            "http://user:pw@10.1.2.3/",
            "http://10.1.2.3:0/",
            "http://10.1.2.3:65536/",
            "http://10.1.2.3:x/",
            "http://[::1/",
            "http://[::1]x/",
            "http://[fe80::1%25eth0]:7547/",
            "http://host name/",
            "http://10.1.2.3/a b",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
