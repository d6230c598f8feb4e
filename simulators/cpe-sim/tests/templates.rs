//! The shipped templates load, instantiate into a well-formed tree with every placeholder filled
//! in, and a malformed template is refused with the entry and the reason.

mod common;

use std::collections::HashSet;

use common::{TR098, TR181, device, gpv, identity, template};
use cpe_sim::datamodel::{Device, Model, Template};

#[test]
fn both_templates_instantiate_into_a_well_formed_tree() {
    for model in [Model::Tr098, Model::Tr181] {
        let t = template(model);
        let count = t.parameter_count();
        assert!(
            (80..=200).contains(&count),
            "{model:?} has {count} parameters"
        );
        let d = Device::new(t, &identity(7));
        let names = d.get_parameter_names("", false).expect("root");
        let mut seen = HashSet::new();
        for info in &names {
            assert!(
                seen.insert(info.name.as_str()),
                "{model:?}: {} listed twice",
                info.name
            );
        }
        for info in &names {
            let name = info.name.trim_end_matches('.');
            if let Some(i) = name.rfind('.') {
                let parent = &info.name[..=i];
                assert!(
                    seen.contains(parent),
                    "{model:?}: {} has no parent {parent}",
                    info.name
                );
            }
        }
        for v in d.get_parameter_values(&[""]).expect("root") {
            assert!(
                !v.value.contains("${"),
                "{model:?}: {} = {:?}",
                v.name,
                v.value
            );
        }
    }
}

#[test]
fn placeholders_are_filled_in_per_device() {
    let cases: &[(Model, &str, &str)] = &[
        (
            Model::Tr098,
            "InternetGatewayDevice.DeviceInfo.SerialNumber",
            "SIM000003",
        ),
        (
            Model::Tr098,
            "InternetGatewayDevice.DeviceInfo.ManufacturerOUI",
            "00D09E",
        ),
        (
            Model::Tr098,
            "InternetGatewayDevice.DeviceInfo.ProductClass",
            "SG-2601",
        ),
        (
            Model::Tr098,
            "InternetGatewayDevice.ManagementServer.URL",
            "http://acs.test:7547/",
        ),
        (
            Model::Tr098,
            "InternetGatewayDevice.ManagementServer.ConnectionRequestURL",
            "http://127.0.0.1:30005/cr/SIM",
        ),
        (
            Model::Tr098,
            "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress",
            "10.64.0.2",
        ),
        (
            Model::Tr098,
            "InternetGatewayDevice.WANDevice.1.WANEthernetInterfaceConfig.MACAddress",
            "00:D0:9E:10:00:03",
        ),
        (
            Model::Tr098,
            "InternetGatewayDevice.LANDevice.1.WLANConfiguration.2.BSSID",
            "00:D0:9E:10:00:06",
        ),
        (Model::Tr181, "Device.DeviceInfo.SerialNumber", "SIM000003"),
        (
            Model::Tr181,
            "Device.IP.Interface.1.IPv4Address.1.IPAddress",
            "10.64.0.2",
        ),
        (
            Model::Tr181,
            "Device.WiFi.SSID.1.MACAddress",
            "00:D0:9E:10:00:05",
        ),
        (
            Model::Tr181,
            "Device.ManagementServer.Username",
            "00D09E-SIM000003",
        ),
    ];
    for (model, name, want) in cases {
        let d = Device::new(template(*model), &identity(3));
        assert_eq!(gpv(&d, name), *want, "{name}");
    }
}

#[test]
fn number_of_entries_count_the_template_instances() {
    let cases: &[(&str, &str)] = &[
        ("InternetGatewayDevice.LANDeviceNumberOfEntries", "1"),
        (
            "InternetGatewayDevice.LANDevice.1.LANEthernetInterfaceNumberOfEntries",
            "4",
        ),
        (
            "InternetGatewayDevice.LANDevice.1.LANWLANConfigurationNumberOfEntries",
            "2",
        ),
        (
            "InternetGatewayDevice.LANDevice.1.Hosts.HostNumberOfEntries",
            "2",
        ),
        (
            "InternetGatewayDevice.WANDevice.1.WANConnectionNumberOfEntries",
            "1",
        ),
        (
            "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANPPPConnectionNumberOfEntries",
            "0",
        ),
        (
            "InternetGatewayDevice.ManagementServer.InformParameterNumberOfEntries",
            "0",
        ),
        ("Device.IP.InterfaceNumberOfEntries", "2"),
        ("Device.IP.Interface.1.IPv4AddressNumberOfEntries", "1"),
        ("Device.WiFi.SSIDNumberOfEntries", "2"),
        (
            "Device.ManagementServer.InformParameterNumberOfEntries",
            "1",
        ),
        (
            "Device.DHCPv4.Server.Pool.1.StaticAddressNumberOfEntries",
            "0",
        ),
    ];
    for (name, want) in cases {
        let d = common::device_for(if name.starts_with(TR098) {
            TR098
        } else {
            TR181
        });
        assert_eq!(gpv(&d, name), *want, "{name}");
    }
}

#[test]
fn the_inform_carries_the_forced_parameters_and_the_wan_address() {
    let cases: &[(Model, &[&str])] = &[
        (
            Model::Tr098,
            &[
                "InternetGatewayDevice.DeviceSummary",
                "InternetGatewayDevice.DeviceInfo.HardwareVersion",
                "InternetGatewayDevice.DeviceInfo.SoftwareVersion",
                "InternetGatewayDevice.DeviceInfo.SpecVersion",
                "InternetGatewayDevice.DeviceInfo.ProvisioningCode",
                "InternetGatewayDevice.ManagementServer.ParameterKey",
                "InternetGatewayDevice.ManagementServer.ConnectionRequestURL",
                "InternetGatewayDevice.ManagementServer.AliasBasedAddressing",
                "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress",
            ],
        ),
        (
            Model::Tr181,
            &[
                "Device.RootDataModelVersion",
                "Device.DeviceInfo.HardwareVersion",
                "Device.DeviceInfo.SoftwareVersion",
                "Device.DeviceInfo.ProvisioningCode",
                "Device.ManagementServer.ParameterKey",
                "Device.ManagementServer.ConnectionRequestURL",
                "Device.ManagementServer.AliasBasedAddressing",
                "Device.IP.Interface.1.IPv4Address.1.IPAddress",
            ],
        ),
    ];
    for (model, want) in cases {
        let d = device(*model);
        let got: Vec<String> = d
            .inform_parameters(&["2 PERIODIC"])
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(got, *want, "{model:?}");
    }
}

#[test]
fn malformed_templates_are_refused_naming_the_entry() {
    let ms = r#"{"path": "Device.ManagementServer.", "params": [{"name": "ParameterKey", "type": "string"}]}"#;
    let cases: &[(&str, &str)] = &[
        (
            r#"{"root": "Device.", "objects": [{"path": "Device."}]}"#,
            "Device.ManagementServer.ParameterKey",
        ),
        ("{", "not valid JSON"),
        (
            r#"{"root": "Device.", "objects": [{"path": "Device."}, {"path": "Device.A.B."}]}"#,
            "its parent object Device.A. is not declared",
        ),
        (
            &format!(
                r#"{{"root": "Device.", "objects": [{{"path": "Device.", "params": [{{"name": "X", "type": "unsignedInt", "value": "-1"}}]}}, {ms}]}}"#
            ),
            "Device.X: default value: invalid parameter type",
        ),
        (
            &format!(
                r#"{{"root": "Device.", "objects": [{{"path": "Device.", "params": [{{"name": "X", "type": "string", "value": "${{colour}}"}}]}}, {ms}]}}"#
            ),
            "unknown placeholder ${colour}",
        ),
        (
            &format!(
                r#"{{"root": "Device.", "objects": [{{"path": "Device."}}, {ms}, {{"path": "Device.T.{{i}}.", "params": [{{"name": "S", "type": "string", "value": "${{serial}}"}}]}}]}}"#
            ),
            "placeholders in a table's default",
        ),
        (
            &format!(
                r#"{{"root": "Device.", "objects": [{{"path": "Device."}}, {ms}], "instances": [{{"path": "Device.T.1."}}]}}"#
            ),
            "Device.T.1.: not an instance of a table",
        ),
        (
            &format!(
                r#"{{"root": "Device.", "objects": [{{"path": "Device."}}, {ms}, {{"path": "Device.T.{{i}}."}}, {{"path": "Device.T.{{i}}.U.{{i}}."}}], "instances": [{{"path": "Device.T.1.U.1."}}]}}"#
            ),
            "its parent instance Device.T.1. comes later or not at all",
        ),
        (
            &format!(
                r#"{{"root": "Device.", "objects": [{{"path": "Device."}}, {ms}, {{"path": "Device.T.{{i}}."}}], "instances": [{{"path": "Device.T.1.", "values": {{"Nope": "1"}}}}]}}"#
            ),
            "Device.T.1.Nope: an instance value for a parameter the template does not declare",
        ),
        (
            &format!(
                r#"{{"root": "Device.", "objects": [{{"path": "Device.", "writable": true}}, {ms}]}}"#
            ),
            "belong to multi-instance objects",
        ),
    ];
    for (json, want) in cases {
        let err = Template::from_json(json).expect_err(json).to_string();
        assert!(err.contains(want), "{json}\n  gave: {err}\n  want: {want}");
    }
}
