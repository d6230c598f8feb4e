//! GetParameterNames and GetParameterValues as an ACS sees them.

mod common;

use common::{TR098, TR181, code, device, device_for, gpv};
use cpe_sim::datamodel::{Model, XsdType};

/// GetParameterNames `path`/`next_level` answers exactly `want` (`name W|R`, in order) or the
/// fault code.
fn check_gpn(root: &str, path: &str, next_level: bool, want: Result<&[&str], u32>) {
    let d = device_for(root);
    let got = d.get_parameter_names(path, next_level).map(|list| {
        list.into_iter()
            .map(|p| format!("{} {}", p.name, if p.writable { "W" } else { "R" }))
            .collect::<Vec<_>>()
    });
    match (got, want) {
        (Ok(got), Ok(want)) => assert_eq!(got, want, "GPN {path:?} {next_level}"),
        (Err(f), Err(c)) => assert_eq!(f.code(), c, "GPN {path:?} {next_level}: {f}"),
        (got, want) => panic!("GPN {path:?} {next_level}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn get_parameter_names() {
    check_gpn(TR098, "", true, Ok(&["InternetGatewayDevice. R"]));
    check_gpn(
        TR098,
        "InternetGatewayDevice.",
        true,
        Ok(&[
            "InternetGatewayDevice.DeviceSummary R",
            "InternetGatewayDevice.LANDeviceNumberOfEntries R",
            "InternetGatewayDevice.WANDeviceNumberOfEntries R",
            "InternetGatewayDevice.DeviceInfo. R",
            "InternetGatewayDevice.ManagementServer. R",
            "InternetGatewayDevice.LANDevice. R",
            "InternetGatewayDevice.WANDevice. R",
            "InternetGatewayDevice.X_ACS_Location. R",
        ]),
    );
    check_gpn(
        TR098,
        "InternetGatewayDevice.X_ACS_Location.",
        false,
        Ok(&[
            "InternetGatewayDevice.X_ACS_Location. R",
            "InternetGatewayDevice.X_ACS_Location.Name W",
            "InternetGatewayDevice.X_ACS_Location.Latitude W",
            "InternetGatewayDevice.X_ACS_Location.Longitude W",
        ]),
    );
    // Tables and instances are writable when Add/DeleteObject is allowed there.
    check_gpn(
        TR098,
        "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.",
        true,
        Ok(&[
            "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnectionNumberOfEntries R",
            "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANPPPConnectionNumberOfEntries R",
            "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection. W",
        ]),
    );
    check_gpn(
        TR098,
        "InternetGatewayDevice.LANDevice.1.WLANConfiguration.",
        true,
        Ok(&[
            "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1. R",
            "InternetGatewayDevice.LANDevice.1.WLANConfiguration.2. R",
        ]),
    );
    check_gpn(
        TR098,
        "InternetGatewayDevice.ManagementServer.URL",
        false,
        Ok(&["InternetGatewayDevice.ManagementServer.URL W"]),
    );
    check_gpn(
        TR181,
        "Device.IP.Interface.1.IPv4Address.",
        true,
        Ok(&["Device.IP.Interface.1.IPv4Address.1. W"]),
    );
    check_gpn(
        TR181,
        "Device.DeviceInfo.Location.",
        true,
        Ok(&["Device.DeviceInfo.Location.1. W"]),
    );
    // Faults: unknown paths 9005, NextLevel on a parameter 9003.
    check_gpn(TR098, "InternetGatewayDevice.Nope.", false, Err(9005));
    check_gpn(TR098, "InternetGatewayDevice.DeviceInfo", false, Err(9005));
    check_gpn(
        TR098,
        "InternetGatewayDevice.DeviceInfo.Nope",
        true,
        Err(9005),
    );
    check_gpn(
        TR098,
        "InternetGatewayDevice.LANDevice.2.",
        false,
        Err(9005),
    );
    check_gpn(TR181, "InternetGatewayDevice.", true, Err(9005));
    check_gpn(
        TR098,
        "InternetGatewayDevice.ManagementServer.URL",
        true,
        Err(9003),
    );
}

#[test]
fn get_parameter_names_of_the_root_lists_everything_once() {
    for root in [TR098, TR181] {
        let d = device_for(root);
        let all = d.get_parameter_names("", false).unwrap();
        assert_eq!(all[0].name, root);
        assert_eq!(all, d.get_parameter_names(root, false).unwrap());
        let params = all.iter().filter(|p| !p.name.ends_with('.')).count();
        assert_eq!(params, d.template().parameter_count());
    }
}

#[test]
fn get_parameter_values() {
    let d = device(Model::Tr098);
    type Answer<'a> = Result<&'a [(&'a str, &'a str, XsdType)], u32>;
    let cases: &[(&[&str], Answer<'_>)] = &[
        (
            &[
                "InternetGatewayDevice.ManagementServer.PeriodicInformInterval",
                "InternetGatewayDevice.DeviceInfo.UpTime",
            ],
            Ok(&[
                (
                    "InternetGatewayDevice.ManagementServer.PeriodicInformInterval",
                    "300",
                    XsdType::UnsignedInt,
                ),
                (
                    "InternetGatewayDevice.DeviceInfo.UpTime",
                    "0",
                    XsdType::UnsignedInt,
                ),
            ]),
        ),
        (
            &["InternetGatewayDevice.X_ACS_Location."],
            Ok(&[
                (
                    "InternetGatewayDevice.X_ACS_Location.Name",
                    "",
                    XsdType::String,
                ),
                (
                    "InternetGatewayDevice.X_ACS_Location.Latitude",
                    "",
                    XsdType::String,
                ),
                (
                    "InternetGatewayDevice.X_ACS_Location.Longitude",
                    "",
                    XsdType::String,
                ),
            ]),
        ),
        (
            &["InternetGatewayDevice.ManagementServer.PeriodicInformEnable"],
            Ok(&[(
                "InternetGatewayDevice.ManagementServer.PeriodicInformEnable",
                "true",
                XsdType::Boolean,
            )]),
        ),
        // Passwords read as empty strings (TR-098 `hidden`).
        (
            &["InternetGatewayDevice.ManagementServer.ConnectionRequestPassword"],
            Ok(&[(
                "InternetGatewayDevice.ManagementServer.ConnectionRequestPassword",
                "",
                XsdType::String,
            )]),
        ),
        // One unknown name fails the whole call.
        (
            &[
                "InternetGatewayDevice.DeviceInfo.UpTime",
                "InternetGatewayDevice.DeviceInfo.Nope",
            ],
            Err(9005),
        ),
        (&["InternetGatewayDevice.DeviceInfo"], Err(9005)),
        (
            &["InternetGatewayDevice.LANDevice.1.Hosts.Host.3."],
            Err(9005),
        ),
        (&["Device.DeviceInfo.UpTime"], Err(9005)),
    ];
    for (names, want) in cases {
        let got = d.get_parameter_values(names);
        match (got, want) {
            (Ok(got), Ok(want)) => {
                let got: Vec<_> = got
                    .iter()
                    .map(|v| (v.name.as_str(), v.value.as_str(), v.ty.clone()))
                    .collect();
                assert_eq!(got, *want, "GPV {names:?}");
            }
            (Err(f), Err(c)) => assert_eq!(f.code(), *c, "GPV {names:?}: {f}"),
            (got, want) => panic!("GPV {names:?}: got {got:?}, want {want:?}"),
        }
    }
    // A partial path returns every parameter below it, objects excluded.
    let wan = d
        .get_parameter_values(&["InternetGatewayDevice.WANDevice."])
        .unwrap();
    assert_eq!(wan.len(), 1 + 7 + 5 + 2 + 18 + 4);
    assert!(wan.iter().all(|v| !v.name.ends_with('.')));
    assert_eq!(
        code(d.get_parameter_values(&["InternetGatewayDevice.Nope."])),
        9005
    );
}

#[test]
fn helpers_for_the_session_layer() {
    let mut d = device(Model::Tr181);
    let id = d.device_id();
    assert_eq!(
        (
            id.manufacturer.as_str(),
            id.oui.as_str(),
            id.product_class.as_str(),
            id.serial_number.as_str()
        ),
        ("SimNet", "00D09E", "SG-2601", "SIM000001")
    );
    let periodic = d.periodic_inform();
    assert!(periodic.enable);
    assert_eq!(
        (periodic.interval, periodic.time.as_str()),
        (300, "0001-01-01T00:00:00Z")
    );
    assert_eq!(d.acs_url(), "http://acs.test:7547/");
    // Hidden from the ACS, not from the simulator (digest auth needs it).
    assert_eq!(
        d.get("Device.ManagementServer.ConnectionRequestPassword"),
        Some("SIM000001")
    );
    assert_eq!(d.get("Device.DeviceInfo."), None);

    // The device changes its own read-only values; the ACS sees them, ParameterKey does not move.
    d.set("Device.DeviceInfo.SoftwareVersion", "SH4000_2.4.0_r4700")
        .unwrap();
    d.set("Device.DeviceInfo.UpTime", "3600").unwrap();
    d.set("Device.ManagementServer.PeriodicInformEnable", "0")
        .unwrap();
    assert_eq!(
        gpv(&d, "Device.DeviceInfo.SoftwareVersion"),
        "SH4000_2.4.0_r4700"
    );
    assert_eq!(gpv(&d, "Device.DeviceInfo.UpTime"), "3600");
    assert!(!d.periodic_inform().enable);
    assert_eq!(d.parameter_key(), "");
    assert_eq!(code(d.set("Device.DeviceInfo.UpTime", "-5")), 9006);
    assert_eq!(code(d.set("Device.DeviceInfo.Nope", "1")), 9005);
}

#[test]
fn inform_parameters_follow_inform_parameter_entries() {
    let mut d = device(Model::Tr098);
    let table = "InternetGatewayDevice.ManagementServer.InformParameter.";
    let n = d.add_object(table, "ip").unwrap();
    let entry = format!("{table}{n}.");
    let set = |field: &str, value: &'static str| (format!("{entry}{field}"), value);
    let items = [
        set("Enable", "true"),
        set("ParameterName", "InternetGatewayDevice.DeviceInfo.UpTime"),
        set("EventList", "1 BOOT, 2 PERIODIC"),
    ];
    let items: Vec<(&str, &str, &str)> = items.iter().map(|(n, v)| (n.as_str(), *v, "")).collect();
    common::spv(&mut d, &items, "ip2").unwrap();
    let names = |events: &[&str]| -> Vec<String> {
        d.inform_parameters(events)
            .into_iter()
            .map(|v| v.name)
            .collect()
    };
    assert!(names(&["2 PERIODIC"]).contains(&"InternetGatewayDevice.DeviceInfo.UpTime".to_owned()));
    assert!(
        !names(&["6 CONNECTION REQUEST"])
            .contains(&"InternetGatewayDevice.DeviceInfo.UpTime".to_owned())
    );
    // The forced list holds the connection-request URL with its current value.
    let inform = d.inform_parameters(&["2 PERIODIC"]);
    let cr = inform
        .iter()
        .find(|v| v.name.ends_with("ConnectionRequestURL"))
        .unwrap();
    assert_eq!(cr.value, "http://127.0.0.1:30005/cr/SIM");
}

#[test]
fn odd_names_are_faults_not_panics() {
    let odd = [
        ".",
        "..",
        "Device",
        "Device..",
        "Device.1.",
        "Device.IP.Interface.0.",
        "Device.IP.Interface.01.",
        "Device.IP.Interface.-1.",
        "Device.IP.Interface.99999999999.",
        "Device.IP.Interface.{i}.",
        "Device.IP.Interface.*.",
        "Device.IP.Interface.[wan].",
        "Device.IP.Interface.1.Enable.",
        "Dévice.Ünïcode.",
        "InternetGatewayDevice.",
    ];
    for name in odd {
        let mut d = device(Model::Tr181);
        assert_eq!(code(d.get_parameter_names(name, false)), 9005, "{name}");
        assert_eq!(code(d.get_parameter_values(&[name])), 9005, "{name}");
        assert_eq!(code(d.get_parameter_attributes(&[name])), 9005, "{name}");
        assert_eq!(
            code(common::spv(&mut d, &[(name, "1", "")], "k")),
            9003,
            "{name}"
        );
        assert_eq!(code(d.add_object(name, "k")), 9005, "{name}");
        assert_eq!(code(d.delete_object(name, "k")), 9005, "{name}");
        assert_eq!(d.parameter_key(), "");
    }
}
