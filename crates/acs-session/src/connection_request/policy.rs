//! Where connection requests may go (issue 12): a CPE names its own ConnectionRequestURL, so
//! without a policy any device could make the ACS send requests to cloud metadata services
//! (169.254.169.254), multicast groups, or services listening on the ACS host's loopback.
//!
//! The decision, for every address a request would connect to (each address a host name
//! resolves to, all checked before any connects), in this order:
//!
//! 1. an address inside a `--cr-deny` range is refused (deny wins over everything);
//! 2. an address in a built-in refused range (unspecified, loopback, link-local, multicast,
//!    reserved/broadcast; IPv4 also when written inside IPv6) is refused, unless an
//!    `--cr-allow` range lies inside that built-in range and holds the address (the operator
//!    named the special range itself: `0.0.0.0/0` lifts nothing: such an address is allowed),
//!    or, for loopback only, the device's own last Inform came from a loopback address (the
//!    simulator on the ACS host; the next step still applies);
//! 3. when `--cr-allow` is given, an address outside every allowed range is refused;
//! 4. anything else is allowed.
//!
//! Pure: no I/O, no DNS. The requester resolves names and then connects only to addresses this
//! allowed, so a name that resolves differently a moment later (DNS rebinding) changes nothing.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address range, `10.0.0.0/8` or `2001:db8::/32`; a bare address is a single host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `addr/prefix`, with the host bits of `addr` cleared. `None` when `prefix` is too long.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then(|| Cidr {
            network: mask(addr, prefix),
            prefix,
        })
    }

    /// Whether `ip` lies in the range (an IPv4 range never holds an IPv6 address: callers
    /// unwrap IPv4 written inside IPv6 first).
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }

    /// Whether every address of `self` lies in `outer`.
    fn within(&self, outer: &Cidr) -> bool {
        self.prefix >= outer.prefix && outer.contains(self.network)
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an address range (e.g. 10.0.0.0/8, fd00::/8)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0 to {max}"))?,
        };
        Cidr::new(addr, prefix).ok_or_else(|| format!("`{s}` is not an address range"))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// A built-in refused range: what it is, and the range.
struct Special {
    what: &'static str,
    range: Cidr,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Cidr {
    Cidr {
        network: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        prefix,
    }
}

const fn v6(bits: u128, prefix: u8) -> Cidr {
    Cidr {
        network: IpAddr::V6(Ipv6Addr::from_bits(bits)),
        prefix,
    }
}

const LOOPBACK: &str = "loopback";

/// The ranges refused by default (IPv4 written inside IPv6 is unwrapped before the check).
const SPECIAL: &[Special] = &[
    Special {
        what: "unspecified (\"this network\")",
        range: v4(0, 0, 0, 0, 8),
    },
    Special {
        what: LOOPBACK,
        range: v4(127, 0, 0, 0, 8),
    },
    Special {
        what: "link-local (cloud metadata services live here)",
        range: v4(169, 254, 0, 0, 16),
    },
    Special {
        what: "multicast",
        range: v4(224, 0, 0, 0, 4),
    },
    Special {
        what: "reserved or broadcast",
        range: v4(240, 0, 0, 0, 4),
    },
    Special {
        what: "unspecified",
        range: v6(0, 128),
    },
    Special {
        what: LOOPBACK,
        range: v6(1, 128),
    },
    Special {
        what: "link-local",
        range: v6(0xfe80 << 112, 10),
    },
    Special {
        what: "multicast",
        range: v6(0xff00 << 112, 8),
    },
];

/// Where connection requests may go; see the module documentation for the rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// `--cr-allow`: when not empty, only these ranges (and they may lift a built-in refusal
    /// of a range they lie inside).
    pub allow: Vec<Cidr>,
    /// `--cr-deny`: never these ranges, whatever else says.
    pub deny: Vec<Cidr>,
}

impl AddressPolicy {
    /// Why a request must not connect to `ip`, or `Ok`. `peer_is_loopback`: the device's
    /// last Inform came from a loopback address (the simulator on the ACS host), which lifts
    /// the loopback refusal and that one only.
    pub fn check(&self, ip: IpAddr, peer_is_loopback: bool) -> Result<(), String> {
        let ip = unwrap_v4(ip);
        if let Some(range) = self.deny.iter().find(|r| r.contains(ip)) {
            return Err(format!("{ip} is in --cr-deny {range}"));
        }
        if let Some(special) = SPECIAL.iter().find(|s| s.range.contains(ip)) {
            let lifted_by_allow = self
                .allow
                .iter()
                .any(|a| a.contains(ip) && a.within(&special.range));
            if lifted_by_allow {
                return Ok(());
            }
            let lifted_by_peer = special.what == LOOPBACK && peer_is_loopback;
            if !lifted_by_peer {
                let hint = if special.what == LOOPBACK {
                    " (allowed only for devices that connect from loopback themselves)"
                } else {
                    ""
                };
                return Err(format!(
                    "{ip} is a {} address{hint}; --cr-allow {} would allow it",
                    special.what, special.range
                ));
            }
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|r| r.contains(ip)) {
            return Err(format!("{ip} is outside every --cr-allow range"));
        }
        Ok(())
    }
}

/// Whether a device's peer address is loopback (IPv4 inside IPv6 included).
pub(crate) fn is_loopback(peer: IpAddr) -> bool {
    unwrap_v4(peer).is_loopback()
}

/// IPv4 written inside IPv6 (`::ffff:a.b.c.d`, the deprecated `::a.b.c.d`, the NAT64
/// well-known prefix `64:ff9b::a.b.c.d`) is judged as the IPv4 address it reaches.
fn unwrap_v4(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let bits = v6.to_bits();
    let high = bits >> 32;
    // `::a.b.c.d` (but not `::` and `::1`, which are IPv6's own)
    if high == 0 && bits > 1 {
        return IpAddr::V4(Ipv4Addr::from_bits(bits as u32));
    }
    if high == 0x0064_ff9b_0000_0000_0000_0000 {
        return IpAddr::V4(Ipv4Addr::from_bits(bits as u32));
    }
    ip
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|c| c.parse().unwrap()).collect()
    }

    #[test]
    fn cidr_parsing_and_membership() {
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert!(c.contains(ip("10.255.0.1")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(!c.contains(ip("::ffff:10.0.0.1")), "families never mix");
        let host: Cidr = "192.0.2.7".parse().unwrap();
        assert_eq!(host.to_string(), "192.0.2.7/32");
        assert!(host.contains(ip("192.0.2.7")) && !host.contains(ip("192.0.2.8")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")) && !v6.contains(ip("2001:db9::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "host/8",
            "10.0.0.0/-1",
            "10.0.0.0/x",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn by_default_special_ranges_are_refused_and_the_rest_allowed() {
        let p = AddressPolicy::default();
        for refused in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.8.9.10",
            "169.254.169.254",
            "169.254.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "ff02::1",
            // IPv4 inside IPv6 is the IPv4 address it reaches
            "::ffff:169.254.169.254",
            "::ffff:127.0.0.1",
            "::169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::ffff:0.0.0.0",
        ] {
            assert!(p.check(ip(refused), false).is_err(), "{refused} allowed");
        }
        for allowed in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "203.0.113.9",
            "8.8.8.8",
            "2001:db8::1",
            "fd00::1",
            "fec0::1",
            "::ffff:192.0.2.1",
        ] {
            assert_eq!(p.check(ip(allowed), false), Ok(()), "{allowed}");
        }
    }

    #[test]
    fn loopback_only_for_devices_that_connect_from_loopback() {
        let p = AddressPolicy::default();
        for lo in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(p.check(ip(lo), false).is_err(), "{lo}");
            assert_eq!(p.check(ip(lo), true), Ok(()), "{lo}");
        }
        // the loopback peer lifts the loopback refusal, nothing else
        for other in ["169.254.169.254", "0.0.0.0", "224.0.0.1", "::", "fe80::1"] {
            assert!(p.check(ip(other), true).is_err(), "{other}");
        }
        let err = p.check(ip("127.0.0.1"), false).unwrap_err();
        assert!(err.contains("loopback"), "{err}");
    }

    #[test]
    fn deny_wins_over_everything() {
        let p = AddressPolicy {
            allow: cidrs(&["10.0.0.0/8", "127.0.0.0/8"]),
            deny: cidrs(&["10.9.0.0/16", "127.0.0.1/32"]),
        };
        assert!(p.check(ip("10.9.1.1"), false).is_err());
        assert_eq!(p.check(ip("10.8.1.1"), false), Ok(()));
        // a denied loopback address stays denied even for a device on loopback (an ACS
        // behind a load balancer on the same host sees every device on loopback)
        assert!(p.check(ip("127.0.0.1"), true).is_err());
        assert!(p.check(ip("::ffff:127.0.0.1"), true).is_err());
        assert_eq!(p.check(ip("127.0.0.2"), false), Ok(()));
        let err = p.check(ip("10.9.1.1"), false).unwrap_err();
        assert!(err.contains("--cr-deny 10.9.0.0/16"), "{err}");
    }

    #[test]
    fn an_allow_list_restricts_and_lifts_only_the_special_range_it_names() {
        let p = AddressPolicy {
            allow: cidrs(&["0.0.0.0/0", "::/0"]),
            deny: vec![],
        };
        // allowing everything does not allow the special ranges
        assert!(p.check(ip("169.254.169.254"), false).is_err());
        assert!(p.check(ip("127.0.0.1"), false).is_err());
        assert!(p.check(ip("fe80::1"), false).is_err());
        assert_eq!(p.check(ip("8.8.8.8"), false), Ok(()));

        let p = AddressPolicy {
            allow: cidrs(&["100.64.0.0/10", "169.254.10.0/24"]),
            deny: vec![],
        };
        assert_eq!(p.check(ip("100.64.3.4"), false), Ok(()));
        assert!(
            p.check(ip("10.0.0.1"), false).is_err(),
            "outside the allow list"
        );
        assert_eq!(
            p.check(ip("169.254.10.5"), false),
            Ok(()),
            "named explicitly"
        );
        assert!(p.check(ip("169.254.169.254"), false).is_err());
        // an allow list that does not hold loopback keeps loopback out, even for a device on
        // loopback
        assert!(p.check(ip("127.0.0.1"), true).is_err());
    }
}
