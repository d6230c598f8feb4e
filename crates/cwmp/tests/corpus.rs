//! Every real CPE message in `../shared/cwmp/corpus/` decodes to the right RPC with the right
//! fields. `*_http.txt` files are raw HTTP requests: the helper below parses their framing
//! (Content-Length or chunked) and passes the Content-Type on, as the ACS will.
// The crate itself does no I/O (clippy.toml); this test reads ../shared/.
#![allow(clippy::disallowed_methods)]

use cwmp::{
    Body, CwmpVersion, Decoded, Envelope, FaultClass, FaultCode, Inform, Namespace, TimeValue,
    Typed, XsdType,
};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/cwmp/corpus/");

/// An HTTP request split into what the ACS would see.
struct HttpRequest {
    content_type: Option<String>,
    body: Vec<u8>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses request line, headers and a Content-Length or chunked body.
fn parse_http(raw: &[u8]) -> HttpRequest {
    // perl-cwmp's dumps end header lines with a bare LF; accept both, as servers do.
    let (head_end, sep_len) = match (find(raw, b"\r\n\r\n"), find(raw, b"\n\n")) {
        (Some(crlf), Some(lf)) if lf < crlf => (lf, 2),
        (Some(crlf), _) => (crlf, 4),
        (None, Some(lf)) => (lf, 2),
        (None, None) => panic!("end of http headers"),
    };
    let head = std::str::from_utf8(&raw[..head_end]).expect("ascii headers");
    let mut rest = &raw[head_end + sep_len..];
    let mut content_type = None;
    let mut content_length = None;
    let mut chunked = false;
    for line in head.lines().skip(1) {
        let (name, value) = line.split_once(':').expect("header line");
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-type" => content_type = Some(value.to_owned()),
            "content-length" => content_length = Some(value.parse::<usize>().expect("length")),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let body = if chunked {
        let mut body = Vec::new();
        loop {
            let line_end = find(rest, b"\r\n").expect("chunk size line");
            let size_text = std::str::from_utf8(&rest[..line_end]).expect("chunk size");
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16).expect("hex chunk size");
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            body.extend_from_slice(&rest[..size]);
            assert_eq!(&rest[size..size + 2], b"\r\n", "chunk ends with CRLF");
            rest = &rest[size + 2..];
        }
        body
    } else {
        let len = content_length.expect("content-length or chunked");
        assert!(len <= rest.len(), "body shorter than content-length");
        rest[..len].to_vec()
    };
    HttpRequest { content_type, body }
}

/// Reads a corpus file (framing parsed for `*_http*.txt`) and decodes it to an envelope.
fn decode_corpus(file: &str) -> Envelope {
    let raw = std::fs::read(format!("{CORPUS}{file}")).unwrap_or_else(|e| panic!("{file}: {e}"));
    let (body, content_type) = if file.contains("_http") {
        let req = parse_http(&raw);
        (req.body, req.content_type)
    } else {
        (raw, None)
    };
    match cwmp::decode(&body, content_type.as_deref()) {
        Ok(Decoded::Envelope(e)) => {
            // Every real capture is cwmp-1-0 (corpus MANIFEST).
            assert_eq!(e.namespace, Namespace::Cwmp10, "{file}");
            assert_eq!(e.version(), CwmpVersion::V1_0, "{file}");
            e
        }
        other => panic!("{file}: {other:?}"),
    }
}

/// What an Inform case checks.
struct InformCase {
    file: &'static str,
    id: Option<&'static str>,
    oui: &'static str,
    serial: &'static str,
    events: &'static [&'static str],
    retry_count: u32,
    max_envelopes: u32,
    /// `CurrentTime` parses (`false` for the Cytco double colon).
    time_parses: bool,
    params: usize,
    /// A parameter and its raw value.
    sample: (&'static str, &'static str),
    no_more_requests: Option<bool>,
}

impl InformCase {
    /// What most captures show: a periodic Inform, first attempt, one envelope, a
    /// CurrentTime that parses, no NoMoreRequests. Cases name only what differs.
    const TYPICAL: InformCase = InformCase {
        file: "",
        id: None,
        oui: "",
        serial: "",
        events: &["2 PERIODIC"],
        retry_count: 0,
        max_envelopes: 1,
        time_parses: true,
        params: 0,
        sample: ("", ""),
        no_more_requests: None,
    };
}

fn check_inform(case: InformCase) -> Inform {
    let env = decode_corpus(case.file);
    assert_eq!(env.header.id.as_deref(), case.id, "{}", case.file);
    assert_eq!(
        env.header.no_more_requests, case.no_more_requests,
        "{}",
        case.file
    );
    let Body::Inform(inform) = env.body else {
        panic!("{}: {:?}", case.file, env.body.name())
    };
    assert_eq!(inform.device_id.oui, case.oui, "{}", case.file);
    assert_eq!(inform.device_id.serial_number, case.serial, "{}", case.file);
    let codes: Vec<&str> = inform.event.iter().map(|e| e.event_code.as_str()).collect();
    assert_eq!(codes, case.events, "{}", case.file);
    assert_eq!(inform.retry_count, case.retry_count, "{}", case.file);
    assert_eq!(inform.max_envelopes, case.max_envelopes, "{}", case.file);
    assert_eq!(
        inform.current_time.parsed.is_some(),
        case.time_parses,
        "{}",
        case.file
    );
    assert_eq!(inform.parameter_list.len(), case.params, "{}", case.file);
    let (name, raw) = case.sample;
    let value = inform
        .parameter(name)
        .unwrap_or_else(|| panic!("{}: no {name}", case.file));
    assert_eq!(value.raw, raw, "{}", case.file);
    inform
}

const ALL_FILES: [&str; 28] = [
    "cavium_oc-lte-enb_inform.xml",
    "cytco_bcm-serials_inform.xml",
    "fullrate-unknown-tr181_getparametervaluesresponse.xml",
    "fullrate-unknown_fault-9005.xml",
    "fullrate-unknown_transfercomplete.xml",
    "motorola_vap2404e_inform.xml",
    "sagemcom_router-hgw4_inform.xml",
    "thomson_speedtouch585_getparameternamesresponse_http.txt",
    "thomson_speedtouch585_inform_http.txt",
    "thomson_speedtouch706-alc_fault-9000-nomorerequests_http.txt",
    "thomson_speedtouch706-alc_getrpcmethodsresponse_http.txt",
    "thomson_speedtouch706-alc_inform-nomorerequests_http.txt",
    "thomson_speedtouch706_inform.xml",
    "thomson_speedtouch780_fault-9001_http.txt",
    "thomson_speedtouch780_getparameterattributesresponse_http.txt",
    "thomson_speedtouch780_getparameternamesresponse-huge.xml",
    "thomson_speedtouch780_getparametervaluesresponse_http.txt",
    "thomson_speedtouch780_getrpcmethodsresponse_http.txt",
    "thomson_speedtouch780_inform-bootstrap.xml",
    "thomson_speedtouch780_inform_http-chunked.txt",
    "thomson_speedtouch780_inform_http.txt",
    "thomson_speedtouch780_setparametervaluesfault-9003.xml",
    "zhone_6718_getrpcmethods-cpe-to-acs.xml",
    "zhone_6718_inform.xml",
    "zte_f600w_inform.xml",
    "zyxel_p-2601hn-f1_inform-nomorerequests.xml",
    "zyxel_p-2601hn-f1_inform.xml",
    "zyxel_vmg8924-b10a_inform.xml",
];

#[test]
fn every_corpus_file_has_a_case_and_decodes() {
    let mut on_disk: Vec<String> = std::fs::read_dir(CORPUS)
        .expect("corpus dir beside the repo")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n != "MANIFEST.md")
        .collect();
    on_disk.sort();
    assert_eq!(
        on_disk, ALL_FILES,
        "a corpus file was added or removed: add its case below"
    );
    for file in ALL_FILES {
        decode_corpus(file);
    }
}

#[test]
fn cavium_oc_lte_enb_inform() {
    let inform = check_inform(InformCase {
        file: "cavium_oc-lte-enb_inform.xml",
        id: Some("CPE_1002"),
        oui: "000FB7",
        serial: "10.18.104.79",
        events: &["0 BOOTSTRAP"],
        retry_count: 2,
        params: 15,
        sample: ("Device.DeviceInfo.HardwareVersion", "1.0"),
        ..InformCase::TYPICAL
    });
    // Pre-epoch fractional dateTime is a valid zoned time; booleans arrive as `0`.
    let last = &inform.parameter_list[14].value;
    assert_eq!(last.raw, "1969-12-31T16:00:00.000000+00:00");
    assert!(matches!(last.typed, Typed::DateTime(TimeValue::Zoned(_))));
    assert!(
        inform
            .parameter_list
            .iter()
            .any(|p| p.value.typed == Typed::Boolean(false))
    );
    assert!(matches!(
        inform.current_time.parsed,
        Some(TimeValue::Zoned(_))
    ));
}

#[test]
fn cytco_bcm_serials_inform() {
    let inform = check_inform(InformCase {
        file: "cytco_bcm-serials_inform.xml",
        id: Some("31645"),
        oui: "00a859",
        serial: "00100400FV020010000000a859f6a238",
        retry_count: 942,
        time_parses: false,
        params: 8,
        sample: ("InternetGatewayDevice.DeviceInfo.SpecVersion", "1.0"),
        ..InformCase::TYPICAL
    });
    assert_eq!(inform.current_time.raw, "2019-03-05T11:54::14");
    assert_eq!(inform.device_id.product_class, "BCM Serials");
}

#[test]
fn fullrate_tr181_getparametervaluesresponse_trusts_items_not_the_count() {
    let env = decode_corpus("fullrate-unknown-tr181_getparametervaluesresponse.xml");
    assert_eq!(env.header.id.as_deref(), Some("50"));
    let Body::GetParameterValuesResponse(r) = env.body else {
        panic!("{:?}", env.body)
    };
    assert_eq!(r.parameter_list.len(), 2, "arrayType says 64");
    assert_eq!(
        r.parameter_list[0].name,
        "Device.IP.Interface.3.IPv4AddressNumberOfEntries"
    );
    assert_eq!(r.parameter_list[0].value.xsd_type, XsdType::UnsignedInt);
    assert_eq!(r.parameter_list[0].value.typed, Typed::UnsignedInt(1));
}

#[test]
fn fullrate_fault_9005_with_prefixed_faultcode() {
    let env = decode_corpus("fullrate-unknown_fault-9005.xml");
    assert_eq!(env.header.id.as_deref(), Some("50"));
    let Body::Fault(f) = env.body else {
        panic!("{:?}", env.body)
    };
    assert_eq!(f.fault_code, FaultClass::Client);
    assert_eq!(f.code(), Some(FaultCode::INVALID_PARAMETER_NAME));
    assert!(
        f.detail
            .expect("detail")
            .set_parameter_values_faults
            .is_empty()
    );
}

#[test]
fn fullrate_transfercomplete() {
    let env = decode_corpus("fullrate-unknown_transfercomplete.xml");
    assert_eq!(env.header.id.as_deref(), Some("1"));
    let Body::TransferComplete(tc) = env.body else {
        panic!("{:?}", env.body)
    };
    assert_eq!(tc.command_key, "AutoconfFirmwareUpgrade");
    assert_eq!(tc.fault_struct.fault_code, FaultCode(0));
    assert_eq!(tc.fault_struct.fault_string, "");
    let (Some(TimeValue::Zoned(start)), Some(TimeValue::Zoned(end))) =
        (tc.start_time.parsed, tc.complete_time.parsed)
    else {
        panic!("times should parse");
    };
    assert!(end > start);
}

#[test]
fn motorola_vap2404e_inform_without_header() {
    let inform = check_inform(InformCase {
        file: "motorola_vap2404e_inform.xml",
        id: None,
        oui: "001404",
        serial: "M91342SA1JJ0",
        params: 11,
        sample: ("Device.LAN.MACAddress", "30:60:23:06:C6:8E"),
        ..InformCase::TYPICAL
    });
    assert_eq!(inform.current_time.raw, "2015-09-22T05:04:58-07:00");
}

#[test]
fn sagemcom_router_hgw4_inform() {
    check_inform(InformCase {
        file: "sagemcom_router-hgw4_inform.xml",
        id: Some("0"),
        oui: "40F201",
        serial: "LK14183DP340340",
        params: 8,
        sample: (
            "Device.IP.Interface.4.IPv4Address.1.IPAddress",
            "172.21.135.245",
        ),
        ..InformCase::TYPICAL
    });
}

#[test]
fn thomson_speedtouch585_getparameternamesresponse() {
    let env = decode_corpus("thomson_speedtouch585_getparameternamesresponse_http.txt");
    assert_eq!(env.header.id.as_deref(), Some("226_THOM_TR69_ID"));
    let Body::GetParameterNamesResponse(r) = env.body else {
        panic!("{:?}", env.body)
    };
    assert_eq!(r.parameter_list.len(), 17);
    assert_eq!(
        r.parameter_list[0].name,
        "InternetGatewayDevice.DeviceInfo.Manufacturer"
    );
    assert!(!r.parameter_list[0].writable);
    assert_eq!(
        r.parameter_list[16].name,
        "InternetGatewayDevice.DeviceInfo.VendorConfigFile."
    );
}

#[test]
fn thomson_speedtouch585_inform() {
    let inform = check_inform(InformCase {
        file: "thomson_speedtouch585_inform_http.txt",
        id: Some("8_THOM_TR69_ID"),
        oui: "00147F",
        serial: "CP0703KT3PP",
        max_envelopes: 2,
        params: 12,
        sample: (".ExternalIPAddress", "10.0.0.4"),
        ..InformCase::TYPICAL
    });
    let bad_date = inform
        .parameter_list
        .iter()
        .find(|p| p.value.xsd_type == XsdType::DateTime);
    let bad_date = bad_date.expect("a dateTime parameter");
    assert_eq!(bad_date.value.raw, "0000-00-00T00:00:00");
    assert!(bad_date.value.is_invalid());
}

#[test]
fn thomson_speedtouch706_alc_fault_9000_with_nomorerequests() {
    let env = decode_corpus("thomson_speedtouch706-alc_fault-9000-nomorerequests_http.txt");
    assert_eq!(env.header.id.as_deref(), Some("THOM_CPE_ALC_ID_393"));
    assert_eq!(env.header.no_more_requests, Some(true));
    let Body::Fault(f) = env.body else {
        panic!("{:?}", env.body)
    };
    assert_eq!(f.fault_code, FaultClass::Client);
    assert_eq!(f.code(), Some(FaultCode::CPE_METHOD_NOT_SUPPORTED));
}

#[test]
fn thomson_speedtouch706_alc_getrpcmethodsresponse() {
    let env = decode_corpus("thomson_speedtouch706-alc_getrpcmethodsresponse_http.txt");
    assert_eq!(env.header.id.as_deref(), Some("THOM_CPE_ALC_ID_388"));
    assert_eq!(env.header.no_more_requests, Some(true));
    let Body::GetRpcMethodsResponse(r) = env.body else {
        panic!("{:?}", env.body)
    };
    assert_eq!(r.method_list.len(), 8);
    assert_eq!(r.method_list[0], "GetRPCMethods");
    assert_eq!(r.method_list[7], "FactoryReset");
    assert!(!r.method_list.iter().any(|m| m == "AddObject"));
}

#[test]
fn thomson_speedtouch706_alc_inform_with_nomorerequests() {
    check_inform(InformCase {
        file: "thomson_speedtouch706-alc_inform-nomorerequests_http.txt",
        id: Some("THOM_CPE_ALC_ID_9"),
        oui: "00147F",
        serial: "CP0636JT3SH",
        max_envelopes: 2,
        params: 11,
        sample: (".ExternalIPAddress", "10.0.0.1"),
        no_more_requests: Some(true),
        ..InformCase::TYPICAL
    });
}

#[test]
fn thomson_speedtouch706_inform() {
    let inform = check_inform(InformCase {
        file: "thomson_speedtouch706_inform.xml",
        id: Some("22_THOM_TR69_ID"),
        oui: "00147F",
        serial: "CP0636JT3SH",
        retry_count: 10,
        max_envelopes: 2,
        params: 12,
        sample: (".ExternalIPAddress", "192.168.1.254"),
        ..InformCase::TYPICAL
    });
    let date = inform.parameter("InternetGatewayDevice.DeviceInfo.VendorConfigFile.1.Date");
    assert!(date.expect("date parameter").is_invalid());
    assert_eq!(
        inform
            .parameter("InternetGatewayDevice.DeviceInfo.ProvisioningCode")
            .expect("pc")
            .raw,
        ""
    );
}

#[test]
fn thomson_speedtouch780_fault_9001_unprefixed_faultcode() {
    let env = decode_corpus("thomson_speedtouch780_fault-9001_http.txt");
    assert_eq!(env.header.id.as_deref(), Some("218_THOM_TR69_ID"));
    let Body::Fault(f) = env.body else {
        panic!("{:?}", env.body)
    };
    assert_eq!(f.fault_code, FaultClass::Client);
    let detail = f.detail.expect("detail");
    assert_eq!(detail.fault_code, FaultCode::CPE_REQUEST_DENIED);
    assert_eq!(detail.fault_string.as_deref(), Some("Request Denied"));
}

#[test]
fn thomson_speedtouch780_getparameterattributesresponse() {
    let env = decode_corpus("thomson_speedtouch780_getparameterattributesresponse_http.txt");
    assert_eq!(env.header.id.as_deref(), Some("11_THOM_TR69_ID"));
    let Body::GetParameterAttributesResponse(r) = env.body else {
        panic!("{:?}", env.body)
    };
    assert_eq!(r.parameter_list.len(), 2);
    assert_eq!(r.parameter_list[0].access_list, ["subscriber"]);
}

#[test]
fn thomson_speedtouch780_getparameternamesresponse_huge() {
    let env = decode_corpus("thomson_speedtouch780_getparameternamesresponse-huge.xml");
    assert_eq!(env.header.id.as_deref(), Some("0_THOM_TR69_ID"));
    let Body::GetParameterNamesResponse(r) = env.body else {
        panic!("{:?}", env.body)
    };
    assert_eq!(r.parameter_list.len(), 3343);
    assert_eq!(
        r.parameter_list[0].name,
        "InternetGatewayDevice.DeviceSummary"
    );
    assert_eq!(
        r.parameter_list[3342].name,
        "InternetGatewayDevice.Services.VoiceService.1.PhyInterface.3.Description"
    );
    // (The MANIFEST mentions object names ending in `.`; this capture has none.)
    assert_eq!(r.parameter_list.iter().filter(|p| p.writable).count(), 2911);
}

#[test]
fn thomson_speedtouch780_getparametervaluesresponse() {
    let env = decode_corpus("thomson_speedtouch780_getparametervaluesresponse_http.txt");
    assert_eq!(env.header.id.as_deref(), Some("218_THOM_TR69_ID"));
    let Body::GetParameterValuesResponse(r) = env.body else {
        panic!("{:?}", env.body)
    };
    assert_eq!(r.parameter_list.len(), 6);
    assert_eq!(r.parameter_list[0].value.raw, "Routed PPPoE on 8/35");
    let unknown = r
        .parameter_list
        .iter()
        .find(|p| p.value.xsd_type == XsdType::DateTime);
    assert_eq!(
        unknown.expect("date").value.typed,
        Typed::DateTime(TimeValue::Unknown)
    );
    let last = &r.parameter_list[5];
    assert_eq!(
        (last.name.as_str(), last.value.raw.as_str()),
        ("InternetGatewayDevice.DeviceInfo.X_000E50_Country", "")
    );
}

#[test]
fn thomson_speedtouch780_getrpcmethodsresponse_unprefixed_arraytype() {
    let env = decode_corpus("thomson_speedtouch780_getrpcmethodsresponse_http.txt");
    let Body::GetRpcMethodsResponse(r) = env.body else {
        panic!("{:?}", env.body)
    };
    assert_eq!(r.method_list.len(), 11);
    assert_eq!(r.method_list[1], "GetParameterNames");
}

#[test]
fn thomson_speedtouch780_inform_bootstrap() {
    let inform = check_inform(InformCase {
        file: "thomson_speedtouch780_inform-bootstrap.xml",
        id: Some("0_THOM_TR69_ID"),
        oui: "00147F",
        serial: "CP0611JTLNW",
        events: &["0 BOOTSTRAP", "1 BOOT", "2 PERIODIC", "4 VALUE CHANGE"],
        retry_count: 5,
        max_envelopes: 2,
        params: 12,
        sample: (
            "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress",
            "10.127.129.205",
        ),
        ..InformCase::TYPICAL
    });
    assert!(inform.has_event("0 BOOTSTRAP"));
    // Value text is kept untrimmed: the policy belongs to the caller.
    let summary = inform
        .parameter("InternetGatewayDevice.DeviceSummary")
        .expect("summary");
    assert!(summary.raw.starts_with("\n "));
    let date = inform
        .parameter_list
        .iter()
        .find(|p| p.value.raw == "0001-01-01T00:00:00");
    assert!(matches!(
        date.expect("unzoned date").value.typed,
        Typed::DateTime(TimeValue::Unzoned(_))
    ));
}

#[test]
fn thomson_speedtouch780_inform_chunked() {
    check_inform(InformCase {
        file: "thomson_speedtouch780_inform_http-chunked.txt",
        id: Some("14_THOM_TR69_ID"),
        oui: "00147F",
        serial: "CP0644JTHJ4",
        max_envelopes: 2,
        params: 12,
        sample: (".ExternalIPAddress", "192.168.1.254"),
        ..InformCase::TYPICAL
    });
}

#[test]
fn thomson_speedtouch780_inform() {
    check_inform(InformCase {
        file: "thomson_speedtouch780_inform_http.txt",
        id: Some("3_THOM_TR69_ID"),
        oui: "00147F",
        serial: "CP0644JTHJ4",
        max_envelopes: 2,
        params: 8,
        sample: (".ExternalIPAddress", "10.0.0.2"),
        ..InformCase::TYPICAL
    });
}

#[test]
fn thomson_speedtouch780_setparametervaluesfault_9003() {
    let env = decode_corpus("thomson_speedtouch780_setparametervaluesfault-9003.xml");
    assert_eq!(env.header.id.as_deref(), Some("1031422463"));
    let Body::Fault(f) = env.body else {
        panic!("{:?}", env.body)
    };
    assert_eq!(f.fault_string, "CWMP fault");
    let detail = f.detail.expect("detail");
    assert_eq!(detail.fault_code, FaultCode::CPE_INVALID_ARGUMENTS);
    let names: Vec<&str> = detail
        .set_parameter_values_faults
        .iter()
        .map(|s| s.parameter_name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.3.WANPPPConnection.1.Password",
            "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.3.WANPPPConnection.1.Username",
        ]
    );
    assert!(
        detail
            .set_parameter_values_faults
            .iter()
            .all(|s| s.fault_code == FaultCode(9003))
    );
}

#[test]
fn zhone_6718_getrpcmethods_from_the_cpe() {
    let env = decode_corpus("zhone_6718_getrpcmethods-cpe-to-acs.xml");
    assert_eq!(env.header.id.as_deref(), Some("946498462"));
    assert_eq!(env.body, Body::GetRpcMethods(cwmp::GetRpcMethods));
}

#[test]
fn zhone_6718_inform() {
    check_inform(InformCase {
        file: "zhone_6718_inform.xml",
        id: Some("946498461"),
        oui: "00255e",
        serial: "00255e71f7ac",
        events: &["0 BOOTSTRAP", "1 BOOT"],
        retry_count: 5,
        params: 8,
        sample: (
            "InternetGatewayDevice.WANDevice.3.WANConnectionDevice.1.WANIPConnection.2.ExternalIPAddress",
            "216.113.193.87",
        ),
        ..InformCase::TYPICAL
    });
}

#[test]
fn zte_f600w_inform() {
    let inform = check_inform(InformCase {
        file: "zte_f600w_inform.xml",
        id: Some("1"),
        oui: "44F436",
        serial: "ZTEEQAWF5J00191",
        events: &["0 BOOTSTRAP", "1 BOOT", "4 VALUE CHANGE"],
        params: 10,
        sample: (
            "InternetGatewayDevice.ManagementServer.URL",
            "http://172.31.8.82/",
        ),
        ..InformCase::TYPICAL
    });
    assert_eq!(inform.event[0].command_key, "TR069_ZTE_HOMEGATEWAY");
    let crurl = "InternetGatewayDevice.ManagementServer.ConnectionRequestURL";
    assert_eq!(
        inform
            .parameter_list
            .iter()
            .filter(|p| p.name == crurl)
            .count(),
        2
    );
}

#[test]
fn zyxel_p2601hn_inform_with_and_without_nomorerequests() {
    // two captures of the same device's Inform: with the NoMoreRequests header and without
    for (file, no_more_requests) in [
        ("zyxel_p-2601hn-f1_inform-nomorerequests.xml", Some(true)),
        ("zyxel_p-2601hn-f1_inform.xml", None),
    ] {
        let inform = check_inform(InformCase {
            file,
            id: Some("100"),
            oui: "EC43F6",
            serial: "EC43F69AF408",
            params: 8,
            sample: (
                "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress",
                "2.110.157.83",
            ),
            no_more_requests,
            ..InformCase::TYPICAL
        });
        assert!(
            matches!(inform.current_time.parsed, Some(TimeValue::Unzoned(_))),
            "{file}"
        );
    }
}

#[test]
fn zyxel_vmg8924_inform() {
    check_inform(InformCase {
        file: "zyxel_vmg8924-b10a_inform.xml",
        id: Some("844317904"),
        oui: "4C9EFF",
        serial: "S140Y24025829",
        events: &["6 CONNECTION REQUEST"],
        params: 8,
        sample: (
            "InternetGatewayDevice.WANDevice.2.WANConnectionDevice.1.WANIPConnection.2.X_5067F0_ExternalIPv6Address",
            "2a02:980:1400::1ff/64",
        ),
        ..InformCase::TYPICAL
    });
}
