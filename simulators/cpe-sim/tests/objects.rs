//! AddObject, DeleteObject and FactoryReset: instance numbering, the subtrees they create and
//! remove, the counts and ParameterKey that follow, and the faults.

mod common;

use common::{TR098, TR181, code, device, device_for, gpv, snapshot, spv};
use cpe_sim::datamodel::{Model, SetAttributes};

const CONN: &str = "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.";
const PORTMAP: &str =
    "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.PortMapping.";

/// The instances GetParameterNames lists directly under `table`, by number.
fn instances(d: &cpe_sim::datamodel::Device, table: &str) -> Vec<u32> {
    d.get_parameter_names(table, true)
        .unwrap()
        .into_iter()
        .map(|p| p.name[table.len()..].trim_end_matches('.').parse().unwrap())
        .collect()
}

#[test]
fn add_object_creates_an_instance_at_template_defaults() {
    let mut d = device(Model::Tr098);
    assert_eq!(d.add_object(PORTMAP, "add-1"), Ok(1));
    assert_eq!(d.parameter_key(), "add-1");
    let p = format!("{PORTMAP}1.");
    let values = d.get_parameter_values(&[p.as_str()]).unwrap();
    let got: Vec<(&str, &str)> = values
        .iter()
        .map(|v| (&v.name[p.len()..], v.value.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("PortMappingEnabled", "false"),
            ("PortMappingLeaseDuration", "0"),
            ("RemoteHost", ""),
            ("ExternalPort", "0"),
            ("InternalPort", "0"),
            ("PortMappingProtocol", "TCP"),
            ("InternalClient", ""),
            ("PortMappingDescription", ""),
        ]
    );
    assert_eq!(
        gpv(
            &d,
            &format!("{CONN}WANIPConnection.1.PortMappingNumberOfEntries")
        ),
        "1"
    );
    // Its parameters are as writable as the model says, the instance deletable.
    let names = d.get_parameter_names(&p, false).unwrap();
    assert!(names.iter().all(|n| n.writable), "{names:?}");
    spv(
        &mut d,
        &[(&format!("{p}ExternalPort"), "8080", "xsd:unsignedInt")],
        "set-1",
    )
    .unwrap();
    assert_eq!(gpv(&d, &format!("{p}ExternalPort")), "8080");
}

#[test]
fn instance_numbers_grow_and_are_never_reused() {
    let mut d = device(Model::Tr098);
    assert_eq!(d.add_object(PORTMAP, "a"), Ok(1));
    assert_eq!(d.add_object(PORTMAP, "b"), Ok(2));
    d.delete_object(&format!("{PORTMAP}2."), "c").unwrap();
    assert_eq!(d.parameter_key(), "c");
    assert_eq!(
        code(d.get_parameter_values(&[format!("{PORTMAP}2.PortMappingEnabled")])),
        9005
    );
    assert_eq!(d.add_object(PORTMAP, "d"), Ok(3));
    assert_eq!(instances(&d, PORTMAP), [1, 3]);
    assert_eq!(
        gpv(
            &d,
            &format!("{CONN}WANIPConnection.1.PortMappingNumberOfEntries")
        ),
        "2"
    );
    // Template instances count too: the next WANIPConnection after deleting 1 is 2.
    let wanip = format!("{CONN}WANIPConnection.");
    d.delete_object(&format!("{wanip}1."), "e").unwrap();
    assert_eq!(
        gpv(&d, &format!("{CONN}WANIPConnectionNumberOfEntries")),
        "0"
    );
    assert_eq!(d.add_object(&wanip, "f"), Ok(2));
    // The new connection has its sub-objects, and an empty PortMapping table.
    assert_eq!(gpv(&d, &format!("{wanip}2.Stats.EthernetBytesSent")), "0");
    assert_eq!(
        instances(&d, &format!("{wanip}2.PortMapping.")),
        Vec::<u32>::new()
    );
    assert_eq!(
        gpv(&d, &format!("{wanip}2.PortMappingNumberOfEntries")),
        "0"
    );
    assert_eq!(d.add_object(&format!("{wanip}2.PortMapping."), "g"), Ok(1));
    // The old connection's ExternalIPAddress left the Inform, the new one's joined it.
    let inform: Vec<String> = d
        .inform_parameters(&[])
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert!(inform.contains(&format!("{wanip}2.ExternalIPAddress")));
    assert!(!inform.iter().any(|n| n.starts_with(&format!("{wanip}1."))));
}

#[test]
fn instances_list_in_numeric_order() {
    let mut d = device(Model::Tr181);
    let table = "Device.DeviceInfo.Location.";
    for want in 2..=11 {
        assert_eq!(d.add_object(table, ""), Ok(want));
    }
    assert_eq!(instances(&d, table), (1..=11).collect::<Vec<_>>());
    assert_eq!(gpv(&d, "Device.DeviceInfo.LocationNumberOfEntries"), "11");
    // Added nodes sit where the template puts them, not at the end.
    let names = d.get_parameter_names("Device.DeviceInfo.", true).unwrap();
    assert_eq!(names.last().unwrap().name, "Device.DeviceInfo.Location.");
}

#[test]
fn nested_tables_and_subtree_deletion() {
    let mut d = device(Model::Tr181);
    assert_eq!(d.add_object("Device.IP.Interface.", "i"), Ok(3));
    assert_eq!(
        d.add_object("Device.IP.Interface.3.IPv4Address.", "j"),
        Ok(1)
    );
    assert_eq!(
        d.add_object("Device.IP.Interface.3.IPv4Address.", "k"),
        Ok(2)
    );
    assert_eq!(
        gpv(&d, "Device.IP.Interface.3.IPv4AddressNumberOfEntries"),
        "2"
    );
    assert_eq!(gpv(&d, "Device.IP.InterfaceNumberOfEntries"), "3");
    spv(
        &mut d,
        &[(
            "Device.IP.Interface.3.IPv4Address.2.IPAddress",
            "198.51.100.9",
            "xsd:string",
        )],
        "l",
    )
    .unwrap();
    d.set_parameter_attributes(&[SetAttributes {
        name: "Device.IP.Interface.3.IPv4Address.2.IPAddress",
        notification: Some(2),
        access_list: None,
    }])
    .unwrap();
    d.delete_object("Device.IP.Interface.3.", "m").unwrap();
    assert_eq!(
        code(d.get_parameter_names("Device.IP.Interface.3.", false)),
        9005
    );
    assert_eq!(gpv(&d, "Device.IP.InterfaceNumberOfEntries"), "2");
    assert_eq!(d.add_object("Device.IP.Interface.", "n"), Ok(4));
    assert_eq!(
        instances(&d, "Device.IP.Interface.4.IPv4Address."),
        Vec::<u32>::new()
    );
    // Template instances go the same way, with their personalised values.
    d.delete_object("Device.IP.Interface.1.", "o").unwrap();
    assert_eq!(
        code(d.get_parameter_values(&["Device.IP.Interface.1.IPv4Address.1.IPAddress"])),
        9005
    );
    assert_eq!(instances(&d, "Device.IP.Interface."), [2, 4]);
}

#[test]
fn max_entries_is_resources_exceeded() {
    let mut d = device(Model::Tr181);
    for want in 3..=8 {
        assert_eq!(d.add_object("Device.WiFi.SSID.", "s"), Ok(want));
    }
    assert_eq!(code(d.add_object("Device.WiFi.SSID.", "full")), 9004);
    assert_eq!(d.parameter_key(), "s");
}

#[test]
fn add_and_delete_faults_change_nothing() {
    let cases: &[(&str, bool, &str, u32)] = &[
        (TR098, true, "InternetGatewayDevice.Nope.", 9005),
        (
            TR098,
            true,
            "InternetGatewayDevice.LANDevice.1.Hosts.Host.",
            9003,
        ), // read-only table
        (TR098, true, "InternetGatewayDevice.LANDevice.", 9003),
        (TR098, true, "InternetGatewayDevice.DeviceInfo.", 9003), // single-instance object
        (
            TR098,
            true,
            "InternetGatewayDevice.DeviceInfo.Location.1.",
            9003,
        ), // an instance
        (TR098, true, "InternetGatewayDevice.DeviceInfo.UpTime", 9003),
        (
            TR098,
            true,
            "InternetGatewayDevice.DeviceInfo.Location",
            9005,
        ),
        (
            TR098,
            true,
            "InternetGatewayDevice.WANDevice.2.WANConnectionDevice.",
            9005,
        ),
        (
            TR098,
            false,
            "InternetGatewayDevice.DeviceInfo.Location.2.",
            9005,
        ),
        (
            TR098,
            false,
            "InternetGatewayDevice.DeviceInfo.Location.",
            9003,
        ), // the table
        (
            TR098,
            false,
            "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.",
            9003,
        ), // read-only table
        (
            TR098,
            false,
            "InternetGatewayDevice.ManagementServer.",
            9003,
        ),
        (TR181, false, "Device.WiFi.Radio.1.", 9003),
        (TR181, false, "Device.DeviceInfo.UpTime", 9003),
        (TR181, true, "Device.IP.Interface.1.IPv4Address.", 0),
    ];
    for (root, add, object, want) in cases {
        let mut d = device_for(root);
        let before = snapshot(&d);
        let result = if *add {
            d.add_object(object, "nope").map(|_| ())
        } else {
            d.delete_object(object, "nope")
        };
        if *want == 0 {
            assert_eq!(result, Ok(()), "{object}");
            continue;
        }
        assert_eq!(
            code(result),
            *want,
            "{} {object}",
            if *add { "AddObject" } else { "DeleteObject" }
        );
        assert_eq!(snapshot(&d), before, "{object}");
    }
    let mut d = device(Model::Tr098);
    assert_eq!(code(d.add_object(PORTMAP, &"k".repeat(33))), 9003);
    assert_eq!(
        code(d.delete_object(
            "InternetGatewayDevice.DeviceInfo.Location.1.",
            &"k".repeat(33)
        )),
        9003
    );
    assert_eq!(instances(&d, PORTMAP), Vec::<u32>::new());
}

#[test]
fn factory_reset_returns_to_the_template() {
    for model in [Model::Tr098, Model::Tr181] {
        let fresh = device(model);
        let mut d = device(model);
        let root = d.root().to_owned();
        let location = format!("{root}DeviceInfo.Location.");
        let inform = format!("{root}ManagementServer.InformParameter.");
        d.add_object(&location, "a").unwrap();
        d.add_object(&inform, "b").unwrap();
        d.delete_object(&format!("{location}1."), "c").unwrap();
        spv(
            &mut d,
            &[(&format!("{root}X_ACS_Location.Name"), "HQ", "xsd:string")],
            "d",
        )
        .unwrap();
        d.set(&format!("{root}DeviceInfo.UpTime"), "99").unwrap();
        d.set_parameter_attributes(&[SetAttributes {
            name: &format!("{root}ManagementServer."),
            notification: Some(1),
            access_list: Some(vec!["Subscriber".into()]),
        }])
        .unwrap();
        assert_ne!(snapshot(&d), snapshot(&fresh));

        d.factory_reset();
        assert_eq!(snapshot(&d), snapshot(&fresh), "{model:?}");
        assert_eq!(
            d.get_parameter_names("", false),
            fresh.get_parameter_names("", false)
        );
        assert_eq!(
            d.get_parameter_attributes(&[""]),
            fresh.get_parameter_attributes(&[""])
        );
        assert_eq!(d.parameter_key(), "");
        // Numbering starts over: the device forgot everything.
        assert_eq!(d.add_object(&location, "e"), Ok(2));
    }
}
