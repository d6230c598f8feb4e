//! GetParameterAttributes and SetParameterAttributes: notification and access lists, the
//! model's `activeNotify` rules, partial paths, all-or-nothing.

mod common;

use common::{code, device};
use cpe_sim::datamodel::{Device, Model, SetAttributes};

const INFO: &str = "Device.DeviceInfo.";

fn notification(d: &Device, name: &str) -> u8 {
    let list = d.get_parameter_attributes(&[name]).unwrap();
    assert_eq!(list.len(), 1, "{name}");
    list[0].notification
}

fn set_notification(name: &str, n: u8) -> SetAttributes<'_> {
    SetAttributes {
        name,
        notification: Some(n),
        access_list: None,
    }
}

#[test]
fn defaults_follow_the_model() {
    let d = device(Model::Tr181);
    let cases: &[(&str, u8)] = &[
        ("Device.DeviceInfo.SoftwareVersion", 2),  // forceEnabled
        ("Device.DeviceInfo.ProvisioningCode", 2), // forceEnabled
        ("Device.ManagementServer.ConnectionRequestURL", 2), // forceDefaultEnabled
        ("Device.ManagementServer.URL", 0),
        ("Device.DeviceInfo.UpTime", 0),
    ];
    for (name, want) in cases {
        assert_eq!(notification(&d, name), *want, "{name}");
    }
    let all = d.get_parameter_attributes(&[INFO]).unwrap();
    assert!(all.iter().all(|a| a.access_list.is_empty()));
    assert_eq!(all.len(), d.get_parameter_values(&[INFO]).unwrap().len());
    assert_eq!(
        code(d.get_parameter_attributes(&["Device.DeviceInfo.Nope"])),
        9005
    );
}

/// SetParameterAttributes of one notification value on `name`: `Ok` and the attributes of
/// `(parameter, notification)` afterwards, or the fault code.
fn check_spa(name: &str, n: u8, want: Result<&[(&str, u8)], u32>) {
    let mut d = device(Model::Tr181);
    let got = d.set_parameter_attributes(&[set_notification(name, n)]);
    match want {
        Ok(after) => {
            assert_eq!(got, Ok(()), "{name} <- {n}");
            for (param, want) in after {
                assert_eq!(notification(&d, param), *want, "{name} <- {n}: {param}");
            }
        }
        Err(c) => assert_eq!(code(got), c, "{name} <- {n}"),
    }
}

#[test]
fn set_parameter_attributes() {
    // Accepted on one parameter, and read back as set.
    for (name, n) in [
        ("Device.ManagementServer.URL", 1),
        ("Device.ManagementServer.URL", 2),
        ("Device.ManagementServer.URL", 6),
        ("Device.ManagementServer.ConnectionRequestURL", 0),
        ("Device.DeviceInfo.UpTime", 1),
        ("Device.DeviceInfo.SoftwareVersion", 2),
    ] {
        check_spa(name, n, Ok(&[(name, n)]));
    }
    for (name, n, fault) in [
        ("Device.DeviceInfo.UpTime", 2, 9009), // canDeny
        ("Device.DeviceInfo.UpTime", 5, 9009),
        ("Device.DeviceInfo.SoftwareVersion", 0, 9009), // forceEnabled
        ("Device.ManagementServer.URL", 7, 9003),
        ("Device.DeviceInfo.Nope", 1, 9005),
    ] {
        check_spa(name, n, Err(fault));
    }
    // A partial path applies to every parameter below it and skips those that refuse.
    check_spa(
        INFO,
        2,
        Ok(&[
            ("Device.DeviceInfo.Manufacturer", 2),
            ("Device.DeviceInfo.Location.1.DataObject", 2),
            ("Device.DeviceInfo.UpTime", 0),
            ("Device.DeviceInfo.MemoryStatus.Free", 0),
            ("Device.DeviceInfo.SoftwareVersion", 2),
            ("Device.ManagementServer.URL", 0),
        ]),
    );
    check_spa(
        INFO,
        0,
        Ok(&[
            ("Device.DeviceInfo.Manufacturer", 0),
            ("Device.DeviceInfo.SoftwareVersion", 2),
        ]),
    );
}

#[test]
fn access_lists_and_all_or_nothing() {
    let mut d = device(Model::Tr098);
    let name = "InternetGatewayDevice.ManagementServer.PeriodicInformInterval";
    let with_list = |list: &[&str]| SetAttributes {
        name,
        notification: None,
        access_list: Some(list.iter().map(|s| s.to_string()).collect()),
    };
    // Thomson writes `subscriber`; it is stored as TR-069 spells it.
    d.set_parameter_attributes(&[with_list(&["subscriber"])])
        .unwrap();
    let attrs = d.get_parameter_attributes(&[name]).unwrap();
    assert_eq!(
        (attrs[0].notification, attrs[0].access_list.clone()),
        (0, vec!["Subscriber".to_owned()])
    );
    assert_eq!(
        code(d.set_parameter_attributes(&[with_list(&["Everyone"])])),
        9003
    );
    // A failing entry leaves the earlier ones unapplied.
    let result = d.set_parameter_attributes(&[
        SetAttributes {
            name,
            notification: Some(1),
            access_list: Some(Vec::new()),
        },
        set_notification("InternetGatewayDevice.DeviceInfo.UpTime", 2),
    ]);
    assert_eq!(code(result), 9009);
    let attrs = d.get_parameter_attributes(&[name]).unwrap();
    assert_eq!((attrs[0].notification, attrs[0].access_list.len()), (0, 1));
    // Attributes do not touch ParameterKey.
    assert_eq!(d.parameter_key(), "");
}

/// The names and activeness of what the next Inform must report as `4 VALUE CHANGE`.
fn changes(d: &Device) -> (bool, Vec<String>) {
    let c = d.value_changes();
    (
        c.active,
        c.parameters
            .into_iter()
            .map(|p| format!("{}={}", p.name, p.value))
            .collect(),
    )
}

#[test]
fn device_made_changes_are_kept_for_the_inform() {
    let mut d = device(Model::Tr181);
    assert_eq!(changes(&d), (false, vec![]));
    // UpTime: notification off, nothing to report.
    d.set("Device.DeviceInfo.UpTime", "60").unwrap();
    assert_eq!(changes(&d), (false, vec![]));
    // Passive: reported with the next Inform, no session of its own.
    d.set_parameter_attributes(&[set_notification("Device.DeviceInfo.UpTime", 1)])
        .unwrap();
    d.set("Device.DeviceInfo.UpTime", "120").unwrap();
    assert_eq!(
        changes(&d),
        (false, vec!["Device.DeviceInfo.UpTime=120".to_owned()])
    );
    // SoftwareVersion has active notification forced on (a firmware upgrade).
    d.set("Device.DeviceInfo.SoftwareVersion", "SH4000_2.4.0")
        .unwrap();
    d.set("Device.DeviceInfo.UpTime", "180").unwrap();
    assert_eq!(
        changes(&d),
        (
            true,
            vec![
                "Device.DeviceInfo.SoftwareVersion=SH4000_2.4.0".to_owned(),
                "Device.DeviceInfo.UpTime=180".to_owned(),
            ]
        )
    );
    d.clear_value_changes();
    assert_eq!(changes(&d), (false, vec![]));
    // Setting the same value again is no change; what the ACS sets is never reported back.
    d.set("Device.DeviceInfo.SoftwareVersion", "SH4000_2.4.0")
        .unwrap();
    d.set_parameter_attributes(&[set_notification("Device.ManagementServer.URL", 2)])
        .unwrap();
    let url = "Device.ManagementServer.URL";
    common::spv(&mut d, &[(url, "http://acs2.test/", "xsd:string")], "k").unwrap();
    assert_eq!(changes(&d), (false, vec![]));
    // A new WAN address changes the connection-request URL (on by default) and is active.
    d.set(
        "Device.ManagementServer.ConnectionRequestURL",
        "http://10.64.0.9:30005/cr/SIM",
    )
    .unwrap();
    assert!(changes(&d).0);
    d.factory_reset();
    assert_eq!(changes(&d), (false, vec![]));
}
