//! `method_since` agrees with the official schemas: every RPC element is first declared in
//! the `cwmp-1-x.xsd` of the version it names, and not in any older one.
// The crate itself does no I/O (clippy.toml); this test reads ../shared/.
#![allow(clippy::disallowed_methods)]

use cwmp::{CwmpVersion, method_since};

const XSD_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/cwmp/xsd");

/// The schema's top-level element names (declared at the first nesting level).
fn top_level_elements(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(format!("{XSD_DIR}/{file}")).expect("schema file");
    text.lines()
        .filter_map(|line| line.strip_prefix("  <xs:element name=\""))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_rpc_is_placed_in_the_version_that_first_defines_it() {
    // 1.3 and 1.4 share the cwmp-1-2 namespace and added header elements only
    let versions = [
        (CwmpVersion::V1_0, top_level_elements("cwmp-1-0.xsd")),
        (CwmpVersion::V1_1, top_level_elements("cwmp-1-1.xsd")),
        (CwmpVersion::V1_2, top_level_elements("cwmp-1-2.xsd")),
    ];
    let headers = ["ID", "HoldRequests", "NoMoreRequests", "Fault"];
    let mut checked = 0;
    for name in &versions[2].1 {
        if headers.contains(&name.as_str()) {
            continue;
        }
        let first = versions
            .iter()
            .find(|(_, names)| names.contains(name))
            .map(|(v, _)| *v);
        assert_eq!(method_since(name), first, "{name}");
        checked += 1;
    }
    assert!(checked >= 50, "only {checked} RPC elements found");
    assert_eq!(method_since("X_VENDOR_Thing"), None);
    assert_eq!(method_since("Response"), None);
}
