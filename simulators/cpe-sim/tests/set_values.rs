//! SetParameterValues: per-parameter faults, all-or-nothing, ParameterKey, stored forms.

mod common;

use common::{code, device, gpv, snapshot, spv};
use cpe_sim::datamodel::{Device, Fault, Model, Template};

const MS: &str = "InternetGatewayDevice.ManagementServer.";
const WLAN: &str = "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.";
const WANIP: &str = "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.";

/// One SetParameterValues entry alone: stored as `stored`, or refused with `Err(code)` in the
/// 9003 fault's per-parameter list (and nothing changed).
fn check_one(name: &str, value: &str, ty: &str, want: Result<&str, u32>) {
    let mut d = device(Model::Tr098);
    let before = snapshot(&d);
    let got = spv(&mut d, &[(name, value, ty)], "key-1");
    match want {
        Ok(stored) => {
            assert_eq!(got, Ok(()), "{name} = {value:?}");
            assert_eq!(gpv(&d, name), stored, "{name} = {value:?}");
            assert_eq!(d.parameter_key(), "key-1");
        }
        Err(c) => {
            let fault = got.expect_err(name);
            assert_eq!(fault.code(), 9003, "{name} = {value:?}: {fault}");
            let per: Vec<(Option<&str>, u32)> = fault
                .parameter_faults()
                .iter()
                .map(|f| (f.parameter(), f.code()))
                .collect();
            assert_eq!(per, [(Some(name), c)], "{name} = {value:?}: {fault:?}");
            assert_eq!(snapshot(&d), before, "{name} = {value:?} changed something");
        }
    }
}

#[test]
fn each_value_is_checked_against_its_parameter() {
    let interval = &format!("{MS}PeriodicInformInterval");
    let enable = &format!("{MS}PeriodicInformEnable");
    let cases: &[(&str, &str, &str, Result<&str, u32>)] = &[
        (interval, "600", "xsd:unsignedInt", Ok("600")),
        (interval, "+86400", "", Ok("86400")),
        (interval, "0", "xsd:unsignedInt", Err(9007)), // the model's minimum is 1
        (interval, "-1", "xsd:unsignedInt", Err(9006)),
        (interval, "4294967296", "xsd:unsignedInt", Err(9006)),
        (interval, "10 ", "xsd:unsignedInt", Err(9006)),
        (interval, "ten", "xsd:unsignedInt", Err(9006)),
        (interval, "600", "xsd:string", Err(9006)), // the ACS must send the model's type
        (enable, "1", "xsd:boolean", Ok("true")),
        (enable, "FALSE", "xsd:boolean", Ok("false")),
        (enable, "True", "", Ok("true")),
        (enable, "0", "boolean", Ok("false")),
        (enable, "yes", "xsd:boolean", Err(9006)),
        (
            &format!("{MS}CWMPRetryIntervalMultiplier"),
            "999",
            "xsd:unsignedInt",
            Err(9007),
        ),
        (
            &format!("{MS}PeriodicInformTime"),
            "2026-11-28T00:00:00Z",
            "xsd:dateTime",
            Ok("2026-11-28T00:00:00Z"),
        ),
        (
            &format!("{MS}PeriodicInformTime"),
            "0000-00-00T00:00:00",
            "xsd:dateTime",
            Ok("0000-00-00T00:00:00"),
        ),
        (&format!("{WLAN}SSID"), "guest", "xsd:string", Ok("guest")),
        (
            &format!("{WLAN}SSID"),
            &"x".repeat(33),
            "xsd:string",
            Err(9007),
        ),
        (
            &format!("{WLAN}BeaconType"),
            "WPAand11i",
            "xsd:string",
            Ok("WPAand11i"),
        ),
        (
            &format!("{WLAN}BeaconType"),
            "WPA4",
            "xsd:string",
            Err(9007),
        ),
        (
            &format!("{WLAN}Channel"),
            "256",
            "xsd:unsignedInt",
            Err(9007),
        ),
        (
            &format!("{WANIP}ExternalIPAddress"),
            "192.0.2.7",
            "xsd:string",
            Ok("192.0.2.7"),
        ),
        (
            &format!("{WANIP}ConnectionStatus"),
            "Connected",
            "xsd:string",
            Err(9008),
        ),
        (
            &format!("{MS}ParameterKey"),
            "mine",
            "xsd:string",
            Err(9008),
        ),
        (
            "InternetGatewayDevice.DeviceInfo.ManufacturerOUI",
            "000000",
            "xsd:string",
            Err(9008),
        ),
        (
            "InternetGatewayDevice.DeviceInfo.Nope",
            "1",
            "xsd:string",
            Err(9005),
        ),
        (
            "InternetGatewayDevice.X_ACS_Location.",
            "",
            "xsd:string",
            Err(9005),
        ),
        (
            "InternetGatewayDevice.LANDevice.2.Hosts.HostNumberOfEntries",
            "1",
            "",
            Err(9005),
        ),
        (
            "InternetGatewayDevice.X_ACS_Location.Latitude",
            "47.6062",
            "xsd:string",
            Ok("47.6062"),
        ),
    ];
    for (name, value, ty, want) in cases {
        check_one(name, value, ty, *want);
    }
}

#[test]
fn a_mixed_list_changes_nothing_and_lists_every_fault() {
    let mut d = device(Model::Tr098);
    let before = snapshot(&d);
    let interval = format!("{MS}PeriodicInformInterval");
    let key = format!("{MS}ParameterKey");
    let ssid = format!("{WLAN}SSID");
    let result = spv(
        &mut d,
        &[
            (&interval, "60", "xsd:unsignedInt"),
            (
                "InternetGatewayDevice.X_ACS_Location.Name",
                "HQ",
                "xsd:string",
            ),
            (&key, "x", "xsd:string"),
            ("InternetGatewayDevice.Nope", "x", "xsd:string"),
            (&ssid, "a", "xsd:string"),
            (&ssid, "b", "xsd:string"),
            (&format!("{MS}PeriodicInformEnable"), "maybe", "xsd:boolean"),
        ],
        "k-mixed",
    );
    let fault = result.expect_err("mixed list");
    assert_eq!(fault.code(), 9003);
    let per: Vec<(&str, u32)> = fault
        .parameter_faults()
        .iter()
        .map(|f| (f.parameter().unwrap(), f.code()))
        .collect();
    assert_eq!(
        per,
        [
            (key.as_str(), 9008),
            ("InternetGatewayDevice.Nope", 9005),
            (ssid.as_str(), 9003),
            (
                "InternetGatewayDevice.ManagementServer.PeriodicInformEnable",
                9006
            ),
        ]
    );
    assert_eq!(snapshot(&d), before);
    assert_eq!(d.parameter_key(), "");
    // Messages name the parameter.
    assert!(
        fault.parameter_faults()[1]
            .to_string()
            .contains("InternetGatewayDevice.Nope")
    );
}

#[test]
fn parameter_key_moves_only_on_success() {
    let mut d = device(Model::Tr181);
    let name = "Device.ManagementServer.PeriodicInformInterval";
    spv(&mut d, &[(name, "120", "xsd:unsignedInt")], "first").unwrap();
    assert_eq!(d.parameter_key(), "first");
    assert_eq!(
        code(spv(&mut d, &[(name, "0", "xsd:unsignedInt")], "second")),
        9003
    );
    assert_eq!(d.parameter_key(), "first");
    // A key over 32 characters is refused as a whole, nothing set.
    let long = "k".repeat(33);
    let fault = spv(&mut d, &[(name, "240", "xsd:unsignedInt")], &long).unwrap_err();
    assert!(matches!(fault, Fault::InvalidArguments(_)), "{fault:?}");
    assert_eq!(
        (gpv(&d, name).as_str(), d.parameter_key()),
        ("120", "first")
    );
    // An empty list still sets the key: the call succeeded.
    spv(&mut d, &[], "third").unwrap();
    assert_eq!(d.parameter_key(), "third");
    assert_eq!(gpv(&d, "Device.ManagementServer.ParameterKey"), "third");
}

#[test]
fn every_xsd_type_parses_as_the_model_says() {
    let json = r#"{"root": "Device.", "objects": [
        {"path": "Device."},
        {"path": "Device.ManagementServer.", "params": [{"name": "ParameterKey", "type": "string"}]},
        {"path": "Device.X_Test.", "params": [
            {"name": "I", "type": "int", "writable": true},
            {"name": "L", "type": "long", "writable": true},
            {"name": "UL", "type": "unsignedLong", "writable": true},
            {"name": "B64", "type": "base64", "writable": true},
            {"name": "Hex", "type": "hexBinary", "writable": true},
            {"name": "T", "type": "dateTime", "writable": true}
        ]}]}"#;
    let template = std::sync::Arc::new(Template::from_json(json).unwrap());
    let cases: &[(&str, &str, &str, Result<&str, u32>)] = &[
        ("I", "-2147483648", "xsd:int", Ok("-2147483648")),
        ("I", "2147483648", "xsd:int", Err(9006)),
        (
            "L",
            "-9223372036854775808",
            "xsd:long",
            Ok("-9223372036854775808"),
        ),
        ("L", "9223372036854775808", "xsd:long", Err(9006)),
        (
            "UL",
            "18446744073709551615",
            "xsd:unsignedLong",
            Ok("18446744073709551615"),
        ),
        ("UL", "18446744073709551616", "xsd:unsignedLong", Err(9006)),
        ("UL", "-0", "xsd:unsignedLong", Ok("0")),
        ("B64", "aGVsbG8=", "xsd:base64Binary", Ok("aGVsbG8=")),
        ("B64", "not base64!", "xsd:base64", Err(9006)),
        ("Hex", "00ff10", "xsd:hexBinary", Ok("00ff10")),
        ("Hex", "0f0", "xsd:hexBinary", Err(9006)),
        (
            "T",
            "2019-03-05T11:54::14",
            "xsd:dateTime",
            Ok("2019-03-05T11:54::14"),
        ),
        ("T", "2026-01-01T00:00:00Z", "xsd:string", Err(9006)),
    ];
    for (leaf, value, ty, want) in cases {
        let mut d = Device::new(template.clone(), &common::identity(1));
        let name = format!("Device.X_Test.{leaf}");
        let got = spv(&mut d, &[(&name, value, ty)], "");
        match want {
            Ok(stored) => {
                assert_eq!(got, Ok(()), "{name} = {value}");
                assert_eq!(gpv(&d, &name), *stored);
            }
            Err(c) => assert_eq!(
                got.unwrap_err().parameter_faults()[0].code(),
                *c,
                "{name} = {value}"
            ),
        }
    }
}
