//! The Inform of the suite's device model, shared by the contract cases and the store
//! benchmark (`benches/store.rs` includes this file).

use acs_store::{Inform, InformEvent, ParameterValue};
use chrono::{DateTime, Utc};

/// An Inform from an Acme HGW (OUI 00D09E, software 1.2.3, at 10.0.0.1), registering it if
/// unknown, with `parameter_key`, `events` and `parameters`.
pub fn hgw_inform(
    serial_number: String,
    now: DateTime<Utc>,
    parameter_key: &str,
    events: Vec<InformEvent>,
    parameters: Vec<ParameterValue>,
) -> Inform {
    Inform {
        serial_number,
        oui: "00D09E".into(),
        product_class: Some("HGW".into()),
        manufacturer: Some("Acme".into()),
        software_version: Some("1.2.3".into()),
        hardware_version: Some("v2".into()),
        connection_request_url: Some("http://10.0.0.1:7547/cr".into()),
        address: Some("10.0.0.1".into()),
        peer_address: Some("10.0.0.1".into()),
        parameter_key: Some(parameter_key.into()),
        events,
        parameters,
        auto_register: true,
        now,
    }
}
