//! CWMP versions and the namespaces that carry them (PROTOCOL §1).

use std::fmt;

use crate::body::Method;

/// A CWMP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CwmpVersion {
    /// TR-069 Issue 1 / Amendment 1.
    V1_0,
    /// Amendment 2.
    V1_1,
    /// Amendment 3.
    V1_2,
    /// Amendment 4 (namespace `cwmp-1-2`).
    V1_3,
    /// Amendments 5 and 6 (namespace `cwmp-1-2`).
    V1_4,
}

impl CwmpVersion {
    /// All versions, oldest first.
    pub const ALL: [CwmpVersion; 5] = [
        CwmpVersion::V1_0,
        CwmpVersion::V1_1,
        CwmpVersion::V1_2,
        CwmpVersion::V1_3,
        CwmpVersion::V1_4,
    ];

    /// The version as written in `SupportedCWMPVersions` / `UseCWMPVersion`, e.g. `1.4`.
    pub fn as_str(self) -> &'static str {
        match self {
            CwmpVersion::V1_0 => "1.0",
            CwmpVersion::V1_1 => "1.1",
            CwmpVersion::V1_2 => "1.2",
            CwmpVersion::V1_3 => "1.3",
            CwmpVersion::V1_4 => "1.4",
        }
    }

    /// Parses `1.4` (surrounding whitespace allowed).
    pub fn parse(s: &str) -> Option<CwmpVersion> {
        CwmpVersion::ALL
            .into_iter()
            .find(|v| v.as_str() == s.trim())
    }

    /// The standard namespace of this version: 1.3 and 1.4 reuse `cwmp-1-2` (there is no
    /// official `cwmp-1-3`/`cwmp-1-4` namespace).
    pub fn namespace(self) -> Namespace {
        match self {
            CwmpVersion::V1_0 => Namespace::Cwmp10,
            CwmpVersion::V1_1 => Namespace::Cwmp11,
            _ => Namespace::Cwmp12,
        }
    }
}

impl fmt::Display for CwmpVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cwmp namespace URI a message can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// `urn:dslforum-org:cwmp-1-0`
    Cwmp10,
    /// `urn:dslforum-org:cwmp-1-1`
    Cwmp11,
    /// `urn:dslforum-org:cwmp-1-2` (CWMP 1.2, 1.3 and 1.4)
    Cwmp12,
    /// `urn:dslforum-org:cwmp-1-3`: not official; accepted because some stacks send it
    /// (GenieACS maps it to 1.4, PROTOCOL §1). Replies echo it.
    Cwmp13,
    /// `urn:dslforum-org:cwmp-1-4`: not official; accepted like `Cwmp13`.
    Cwmp14,
}

impl Namespace {
    /// The namespace URI.
    pub fn uri(self) -> &'static str {
        match self {
            Namespace::Cwmp10 => "urn:dslforum-org:cwmp-1-0",
            Namespace::Cwmp11 => "urn:dslforum-org:cwmp-1-1",
            Namespace::Cwmp12 => "urn:dslforum-org:cwmp-1-2",
            Namespace::Cwmp13 => "urn:dslforum-org:cwmp-1-3",
            Namespace::Cwmp14 => "urn:dslforum-org:cwmp-1-4",
        }
    }

    /// The namespace with this URI, if it is a cwmp one.
    pub fn from_uri(uri: &str) -> Option<Namespace> {
        Some(match uri.trim() {
            "urn:dslforum-org:cwmp-1-0" => Namespace::Cwmp10,
            "urn:dslforum-org:cwmp-1-1" => Namespace::Cwmp11,
            "urn:dslforum-org:cwmp-1-2" => Namespace::Cwmp12,
            "urn:dslforum-org:cwmp-1-3" => Namespace::Cwmp13,
            "urn:dslforum-org:cwmp-1-4" => Namespace::Cwmp14,
            _ => return None,
        })
    }

    /// The lowest version this namespace implies; `cwmp-1-2` can also be 1.3 or 1.4, which
    /// only the header tells (see [`crate::Envelope::version`]).
    pub fn base_version(self) -> CwmpVersion {
        match self {
            Namespace::Cwmp10 => CwmpVersion::V1_0,
            Namespace::Cwmp11 => CwmpVersion::V1_1,
            Namespace::Cwmp12 => CwmpVersion::V1_2,
            Namespace::Cwmp13 => CwmpVersion::V1_3,
            Namespace::Cwmp14 => CwmpVersion::V1_4,
        }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.uri())
    }
}

/// The CWMP version whose schema first defines the RPC (or response) named `method`, e.g.
/// `ScheduleDownload` -> 1.2 ([`Method::since`]); `None` for a name no version defines. A
/// peer that speaks an older version does not know the element.
pub fn method_since(method: &str) -> Option<CwmpVersion> {
    if let Some(known) = Method::from_name(method) {
        return Some(known.since());
    }
    // 1.0 CPE methods this crate does not decode (they arrive as `Body::Unknown`)
    let base = method.strip_suffix("Response").unwrap_or(method);
    matches!(base, "SetVouchers" | "GetOptions").then_some(CwmpVersion::V1_0)
}

/// Picks the version for `UseCWMPVersion` from a CPE's `SupportedCWMPVersions` list
/// (comma-separated, e.g. `1.0,1.1,1.2,1.3,1.4`): the highest version both sides support
/// (TR-069 A6 §3.7.4). `None` means there is none, and the ACS answers fault 8006.
/// Unknown entries (`1.5`, garbage) are skipped.
pub fn negotiate(supported: &str, acs_max: CwmpVersion) -> Option<CwmpVersion> {
    supported
        .split(',')
        .filter_map(CwmpVersion::parse)
        .filter(|&v| v <= acs_max)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_picks_the_highest_common_version() {
        assert_eq!(
            negotiate("1.0,1.1,1.2,1.3,1.4", CwmpVersion::V1_4),
            Some(CwmpVersion::V1_4)
        );
        assert_eq!(
            negotiate("1.4, 1.2", CwmpVersion::V1_3),
            Some(CwmpVersion::V1_2)
        );
        assert_eq!(negotiate("2.0,x", CwmpVersion::V1_4), None);
    }
}
