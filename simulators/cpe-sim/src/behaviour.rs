//! Vendor behaviour profiles (`--behaviour`): what deployed third-party CPE agents do that a
//! well-behaved CPE does not (PROTOCOL §16), so the ACS can be checked against the field
//! rather than against our own reading of the spec.
//!
//! A behaviour is one bit; a device carries the set it shows ([`Behaviours`], two bytes), so a
//! fleet can mix agents without a per-device allocation. Named bundles reproduce the four
//! open-source agents acs was run against (a Go multi-device simulator, a TypeScript agent, a
//! Node agent and a C agent).

use crate::digest::ChallengeRules;

/// One thing a deployed agent does differently; what each does is in [`BEHAVIOURS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    FirstChallengeOnly,
    Md5Only,
    Nonce32,
    EmptyCommandKey,
    BootOnlyAfterReboot,
    NoBootstrapAfterReset,
    CrashOnPartialPath,
    NoXmlDeclaration,
    BasicCr,
    DiesOnHttpError,
}

/// Every behaviour with its `--behaviour` name and what it does, in bit order: the one table
/// the parser, the `cpe-sim behaviours` listing and the docs come from.
pub const BEHAVIOURS: [(Behaviour, &str, &str); 10] = [
    (
        Behaviour::FirstChallengeOnly,
        "first-challenge-only",
        "reads only the first WWW-Authenticate header of a 401; fails the session if it cannot answer that one",
    ),
    (
        Behaviour::Md5Only,
        "md5-only",
        "digest with MD5 only: a SHA-256 challenge fails with \"digest algorithm SHA-256 unsupported\"",
    ),
    (
        Behaviour::Nonce32,
        "nonce-32",
        "copies the nonce into a 33-byte buffer: a longer nonce is cut to 32 characters, the answer fails, no second try",
    ),
    (
        Behaviour::EmptyCommandKey,
        "empty-command-key",
        "M events (M Reboot, M Download, ...) carry an empty CommandKey",
    ),
    (
        Behaviour::BootOnlyAfterReboot,
        "boot-only-after-reboot",
        "informs 1 BOOT alone after a Reboot (no M Reboot)",
    ),
    (
        Behaviour::NoBootstrapAfterReset,
        "no-bootstrap-after-reset",
        "informs 1 BOOT without 0 BOOTSTRAP after a FactoryReset",
    ),
    (
        Behaviour::CrashOnPartialPath,
        "crash-on-partial-path",
        "a GetParameterValues of a partial path (ending in .) crashes it: the connection drops unanswered, it is back after --restart-delay with 1 BOOT, what it held in memory lost",
    ),
    (
        Behaviour::NoXmlDeclaration,
        "no-xml-declaration",
        "its parser fails on ACS messages that start with <?xml ...?>: the session ends unanswered and is retried with backoff; it sends no declaration itself",
    ),
    (
        Behaviour::BasicCr,
        "basic-cr",
        "its connection-request listener offers only WWW-Authenticate: Basic and checks Basic credentials",
    ),
    (
        Behaviour::DiesOnHttpError,
        "dies-on-http-error",
        "any non-2xx answer in a session (a 503 while its old session is leased, a final 401) kills it; restarted after --restart-delay with 1 BOOT",
    ),
];

/// Named bundles: the agents of PROTOCOL §16, each the behaviours it showed against acs.
pub const BUNDLES: [(&str, &str, &[Behaviour]); 4] = [
    (
        "go-sim",
        "a Go multi-device simulator: reports a reboot as 1 BOOT alone",
        &[Behaviour::BootOnlyAfterReboot],
    ),
    (
        "ts-agent",
        "a TypeScript agent: one MD5 challenge read, empty CommandKeys, no BOOTSTRAP after a factory reset",
        &[
            Behaviour::FirstChallengeOnly,
            Behaviour::Md5Only,
            Behaviour::EmptyCommandKey,
            Behaviour::NoBootstrapAfterReset,
        ],
    ),
    (
        "node-agent",
        "a Node agent: crashes on a partial-path GetParameterValues and dies on any non-2xx answer",
        &[Behaviour::CrashOnPartialPath, Behaviour::DiesOnHttpError],
    ),
    (
        "c-agent",
        "a C agent: MD5 only, 32-character nonce buffer, no XML declaration, Basic connection requests",
        &[
            Behaviour::Md5Only,
            Behaviour::Nonce32,
            Behaviour::NoXmlDeclaration,
            Behaviour::BasicCr,
        ],
    ),
];

impl Behaviour {
    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    pub fn name(self) -> &'static str {
        BEHAVIOURS
            .iter()
            .find(|(b, _, _)| *b == self)
            .map_or("?", |(_, n, _)| n)
    }
}

/// The behaviours one device shows (a bit set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Behaviours(u16);

impl Behaviours {
    pub const NONE: Behaviours = Behaviours(0);

    pub fn has(self, b: Behaviour) -> bool {
        self.0 & b.bit() != 0
    }

    pub fn with(self, b: Behaviour) -> Behaviours {
        Behaviours(self.0 | b.bit())
    }

    pub fn union(self, other: Behaviours) -> Behaviours {
        Behaviours(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names of the behaviours in the set, in table order.
    pub fn names(self) -> Vec<&'static str> {
        BEHAVIOURS
            .iter()
            .filter(|(b, _, _)| self.has(*b))
            .map(|(_, n, _)| *n)
            .collect()
    }

    /// How this device's HTTP client picks and answers a 401 challenge.
    pub fn challenge_rules(self) -> ChallengeRules {
        ChallengeRules {
            first_only: self.has(Behaviour::FirstChallengeOnly),
            md5_only: self.has(Behaviour::Md5Only),
            nonce_limit: self.has(Behaviour::Nonce32).then_some(32),
        }
    }

    /// Parses a comma-separated list of behaviour and bundle names.
    pub fn parse(list: &str) -> Result<Behaviours, String> {
        let mut set = Behaviours::NONE;
        for name in list.split(',').map(str::trim) {
            if let Some((b, _, _)) = BEHAVIOURS.iter().find(|(_, n, _)| *n == name) {
                set = set.with(*b);
            } else if let Some((_, _, members)) = BUNDLES.iter().find(|(n, _, _)| *n == name) {
                for b in *members {
                    set = set.with(*b);
                }
            } else {
                return Err(format!(
                    "unknown behaviour {name:?} (bundles: {}; behaviours: {})",
                    BUNDLES.map(|(n, _, _)| n).join(", "),
                    BEHAVIOURS.map(|(_, n, _)| n).join(", ")
                ));
            }
        }
        Ok(set)
    }
}

/// Which devices of a fleet show which behaviours: `--behaviour` values without a share apply
/// to every device; each one with a share (`c-agent:25%`) takes the next slice of the fleet by
/// device index, so a test knows which serial behaves how.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BehaviourPlan {
    every: Behaviours,
    /// (behaviours, share of the fleet in percent), in the order given.
    slices: Vec<(Behaviours, f64)>,
}

impl BehaviourPlan {
    /// Adds one `--behaviour` value: `NAME[,NAME…]` or `NAME[,NAME…]:SHARE%`.
    pub fn add(&mut self, spec: &str) -> Result<(), String> {
        let (names, share) = match spec.rsplit_once(':') {
            Some((names, share)) => {
                let pct = share
                    .trim()
                    .strip_suffix('%')
                    .and_then(|p| p.trim().parse::<f64>().ok())
                    .filter(|p| *p > 0.0 && *p <= 100.0)
                    .ok_or_else(|| {
                        format!("bad share in --behaviour {spec:?}: expected 1% to 100%")
                    })?;
                (names, Some(pct))
            }
            None => (spec, None),
        };
        let set = Behaviours::parse(names)?;
        match share {
            None => self.every = self.every.union(set),
            Some(pct) => {
                let total: f64 = self.slices.iter().map(|(_, p)| p).sum::<f64>() + pct;
                if total > 100.0 + 1e-9 {
                    return Err(format!(
                        "--behaviour shares add up to {total}%, more than the whole fleet"
                    ));
                }
                self.slices.push((set, pct));
            }
        }
        Ok(())
    }

    /// The behaviours of device `index` of `count`.
    pub fn for_device(&self, index: u32, count: u32) -> Behaviours {
        let mut upper = 0.0;
        for (set, pct) in &self.slices {
            upper += pct;
            // Slice boundaries at floor(count * cumulative share): device i is in the slice
            // whose range holds it.
            let end = (f64::from(count) * upper / 100.0 + 1e-9).floor();
            if f64::from(index) < end {
                return self.every.union(*set);
            }
        }
        self.every
    }

    pub fn is_empty(&self) -> bool {
        self.every.is_empty() && self.slices.is_empty()
    }
}

/// The `cpe-sim behaviours` listing: every bundle and behaviour with what it does.
pub fn listing() -> String {
    let mut out = String::from("bundles:\n");
    for (name, what, members) in BUNDLES {
        let names: Vec<&str> = members.iter().map(|b| b.name()).collect();
        out.push_str(&format!(
            "  {name:<26} {what}\n  {:<26} = {}\n",
            "",
            names.join(",")
        ));
    }
    out.push_str("behaviours:\n");
    for (_, name, what) in BEHAVIOURS {
        out.push_str(&format!("  {name:<26} {what}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_bundles_and_lists_parse() {
        let c = Behaviours::parse("c-agent").unwrap();
        assert_eq!(
            c.names(),
            ["md5-only", "nonce-32", "no-xml-declaration", "basic-cr"]
        );
        let two = Behaviours::parse("md5-only, empty-command-key").unwrap();
        assert!(two.has(Behaviour::Md5Only) && two.has(Behaviour::EmptyCommandKey));
        assert!(!two.has(Behaviour::Nonce32));
        let err = Behaviours::parse("sha-only").unwrap_err();
        assert!(
            err.contains("\"sha-only\"") && err.contains("c-agent"),
            "{err}"
        );
        // Every table entry has its own bit.
        let all = BEHAVIOURS
            .iter()
            .fold(Behaviours::NONE, |s, (b, _, _)| s.with(*b));
        assert_eq!(all.names().len(), BEHAVIOURS.len());
    }

    #[test]
    fn shares_slice_the_fleet_by_index() {
        let mut plan = BehaviourPlan::default();
        plan.add("md5-only").unwrap();
        plan.add("c-agent:25%").unwrap();
        plan.add("go-sim:50%").unwrap();
        let of = |i| plan.for_device(i, 8);
        for i in 0..2 {
            assert!(of(i).has(Behaviour::BasicCr), "device {i}");
        }
        for i in 2..6 {
            assert!(of(i).has(Behaviour::BootOnlyAfterReboot), "device {i}");
            assert!(!of(i).has(Behaviour::BasicCr), "device {i}");
        }
        for i in 6..8 {
            assert_eq!(of(i).names(), ["md5-only"], "device {i}");
        }
        assert!(plan.add("ts-agent:30%").unwrap_err().contains("105%"));
        assert!(plan.add("ts-agent:0%").is_err());
        assert!(plan.add("ts-agent:half").is_err());
    }

    #[test]
    fn a_device_carries_two_bytes() {
        // A fleet of 10,000 must stay ~20 MB: profiles add no per-device allocation.
        assert_eq!(std::mem::size_of::<Behaviours>(), 2);
    }

    #[test]
    fn a_plain_value_applies_to_every_device() {
        let mut plan = BehaviourPlan::default();
        assert!(plan.is_empty());
        plan.add("node-agent").unwrap();
        for i in 0..3 {
            assert!(plan.for_device(i, 3).has(Behaviour::CrashOnPartialPath));
        }
    }
}
