//! Hand-written cases for what the corpus lacks: empty bodies, odd encodings, CDATA and
//! references, namespaces bound late or non-standard, 1.3/1.4 headers, hostile input.

use cwmp::{
    Body, BooleanStyle, CwmpVersion, DecodeErrorKind, Decoded, EncodeOptions, Envelope, FaultCode,
    Namespace, Typed, XsdType,
};

const ENV_OPEN: &str = r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-1-0">"#;

/// A cwmp-1-0 envelope around `header` (inner XML, `None` for no Header) and `body`.
fn wrap(header: Option<&str>, body: &str) -> String {
    let header = header
        .map(|h| format!("<soap-env:Header>{h}</soap-env:Header>"))
        .unwrap_or_default();
    format!("{ENV_OPEN}{header}<soap-env:Body>{body}</soap-env:Body></soap-env:Envelope>")
}

fn decode_ok(bytes: &[u8], content_type: Option<&str>) -> Envelope {
    match cwmp::decode(bytes, content_type) {
        Ok(Decoded::Envelope(e)) => e,
        other => panic!("expected an envelope, got {other:?}"),
    }
}

fn decode_err(bytes: &[u8]) -> cwmp::DecodeError {
    match cwmp::decode(bytes, None) {
        Err(e) => e,
        Ok(other) => panic!("expected an error, got {other:?}"),
    }
}

/// A GetParameterValuesResponse with one value whose inner XML is `value`.
fn gpv_value(value_xml: &str) -> cwmp::Value {
    let body = format!(
        "<cwmp:GetParameterValuesResponse><ParameterList soap-enc:arrayType=\"cwmp:ParameterValueStruct[1]\">\
         <ParameterValueStruct><Name>A.B</Name>{value_xml}</ParameterValueStruct></ParameterList>\
         </cwmp:GetParameterValuesResponse>"
    );
    let env = decode_ok(wrap(None, &body).as_bytes(), None);
    let Body::GetParameterValuesResponse(r) = env.body else {
        panic!("{:?}", env.body)
    };
    r.parameter_list
        .into_iter()
        .next()
        .expect("one value")
        .value
}

const INFORM: &str = "<cwmp:Inform><DeviceId><Manufacturer>M</Manufacturer><OUI>00AABB</OUI>\
    <ProductClass>P</ProductClass><SerialNumber>S1</SerialNumber></DeviceId>\
    <Event soap-enc:arrayType=\"cwmp:EventStruct[1]\"><EventStruct><EventCode>1 BOOT</EventCode>\
    <CommandKey></CommandKey></EventStruct></Event><MaxEnvelopes>1</MaxEnvelopes>\
    <CurrentTime>2024-01-01T00:00:00Z</CurrentTime><RetryCount>0</RetryCount>\
    <ParameterList soap-enc:arrayType=\"cwmp:ParameterValueStruct[0]\"/></cwmp:Inform>";

#[test]
fn empty_and_whitespace_only_bodies_are_the_empty_post() {
    for body in ["", " ", "\r\n\t  \n", "\u{FEFF}"] {
        assert_eq!(
            cwmp::decode(body.as_bytes(), None),
            Ok(Decoded::EmptyBody),
            "{body:?}"
        );
    }
    assert_eq!(cwmp::decode(b"", Some("text/xml")), Ok(Decoded::EmptyBody));
}

#[test]
fn empty_header_means_no_id() {
    let env = decode_ok(format!("{ENV_OPEN}<soap-env:Header/><soap-env:Body>{INFORM}</soap-env:Body></soap-env:Envelope>").as_bytes(), None);
    assert_eq!(env.header, cwmp::Header::default());
    assert!(matches!(env.body, Body::Inform(_)));
    // And the reply then carries no ID either.
    assert_eq!(env.inform_reply().header.id, None);
}

#[test]
fn cdata_values_are_read_verbatim() {
    let v = gpv_value(r#"<Value xsi:type="xsd:string"><![CDATA[a<b&c]]></Value>"#);
    assert_eq!(v.raw, "a<b&c");
}

#[test]
fn entity_and_character_references_are_resolved() {
    let v = gpv_value(
        r#"<Value xsi:type="xsd:string">&lt;x&gt; &amp; &quot;&apos; &#x41;&#66;&#233;</Value>"#,
    );
    assert_eq!(v.raw, "<x> & \"' ABé");
}

#[test]
fn undefined_entities_are_kept_literally() {
    let v = gpv_value(r#"<Value>a&nbsp;b</Value>"#);
    assert_eq!(v.raw, "a&nbsp;b");
}

#[test]
fn missing_xsi_type_means_string_and_missing_value_means_empty() {
    let v = gpv_value("<Value>42</Value>");
    assert_eq!((v.xsd_type, v.typed), (XsdType::String, Typed::String));
    let v = gpv_value("");
    assert_eq!(v.raw, "");
}

#[test]
fn booleans_in_any_case_and_padded_numbers() {
    assert_eq!(
        gpv_value(r#"<Value xsi:type="xsd:boolean">TRUE</Value>"#).typed,
        Typed::Boolean(true)
    );
    assert_eq!(
        gpv_value(r#"<Value xsi:type="xsd:boolean">False</Value>"#).typed,
        Typed::Boolean(false)
    );
    assert_eq!(
        gpv_value(r#"<Value xsi:type="xsd:unsignedInt">007</Value>"#).typed,
        Typed::UnsignedInt(7)
    );
    let bad = gpv_value(r#"<Value xsi:type="xsd:int">12abc</Value>"#);
    assert!(bad.is_invalid());
    assert_eq!(bad.raw, "12abc");
}

#[test]
fn iso_8859_1_body_from_content_type_or_declaration() {
    let mut body = wrap(None, "<cwmp:GetRPCMethodsResponse><MethodList soap-enc:arrayType=\"xsd:string[1]\"><string>caf_</string></MethodList></cwmp:GetRPCMethodsResponse>").into_bytes();
    let pos = body.iter().position(|&b| b == b'_').expect("marker");
    body[pos] = 0xE9; // é in Latin-1, invalid alone in UTF-8
    let check = |env: Envelope| {
        let Body::GetRpcMethodsResponse(r) = env.body else {
            panic!()
        };
        assert_eq!(r.method_list, ["café"]);
    };
    check(decode_ok(&body, Some("text/xml; charset=ISO-8859-1")));
    let mut declared = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>".to_vec();
    declared.extend_from_slice(&body);
    check(decode_ok(&declared, None));
}

#[test]
fn utf16_bodies_with_bom() {
    let xml = wrap(
        Some("<cwmp:ID soap-env:mustUnderstand=\"1\">ü1</cwmp:ID>"),
        INFORM,
    );
    let mut le = vec![0xFF, 0xFE];
    le.extend(xml.encode_utf16().flat_map(u16::to_le_bytes));
    let mut be = vec![0xFE, 0xFF];
    be.extend(xml.encode_utf16().flat_map(u16::to_be_bytes));
    for bytes in [le, be] {
        let env = decode_ok(&bytes, Some("text/xml; charset=utf-8"));
        assert_eq!(env.header.id.as_deref(), Some("ü1"));
        assert!(matches!(env.body, Body::Inform(_)));
    }
}

#[test]
fn utf16_without_bom_takes_the_byte_order_from_the_first_unit() {
    let xml = wrap(None, INFORM);
    let be: Vec<u8> = xml.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let le: Vec<u8> = xml.encode_utf16().flat_map(u16::to_le_bytes).collect();
    for (bytes, content_type) in [(be, Some("text/xml; charset=UTF-16")), (le, None)] {
        assert!(matches!(
            decode_ok(&bytes, content_type).body,
            Body::Inform(_)
        ));
    }
}

#[test]
fn invalid_utf8_bytes_are_replaced_not_fatal() {
    let mut body = wrap(
        None,
        "<cwmp:Reboot><CommandKey>k_</CommandKey></cwmp:Reboot>",
    )
    .into_bytes();
    let pos = body.iter().position(|&b| b == b'_').expect("marker");
    body[pos] = 0xFF;
    let env = decode_ok(&body, None);
    assert_eq!(
        env.body,
        Body::Reboot(cwmp::Reboot {
            command_key: "k\u{FFFD}".into()
        })
    );
}

#[test]
fn unknown_charset_is_named() {
    let err = cwmp::decode(b"<a/>", Some("text/xml; charset=klingon")).expect_err("refused");
    assert_eq!(
        err.kind,
        DecodeErrorKind::UnsupportedCharset("klingon".into())
    );
}

#[test]
fn unknown_method_is_reported_by_name() {
    let env = decode_ok(
        wrap(None, "<cwmp:SetVouchers><VoucherList/></cwmp:SetVouchers>").as_bytes(),
        None,
    );
    assert_eq!(
        env.body,
        Body::Unknown {
            name: "SetVouchers".into()
        }
    );
    assert!(!env.body.is_supported_by_acs());
}

#[test]
fn kicked_decodes_and_is_answered_with_8000() {
    let body = "<cwmp:Kicked><Command>c</Command><Referer>r</Referer><Arg>a</Arg><Next>n</Next></cwmp:Kicked>";
    let env = decode_ok(
        wrap(
            Some("<cwmp:ID soap-env:mustUnderstand=\"1\">7</cwmp:ID>"),
            body,
        )
        .as_bytes(),
        None,
    );
    let Body::Kicked(k) = &env.body else {
        panic!("{:?}", env.body)
    };
    assert_eq!((k.command.as_str(), k.next.as_str()), ("c", "n"));
    assert!(!env.body.is_supported_by_acs());
    let reply = env.reply(cwmp::Fault::new(FaultCode::METHOD_NOT_SUPPORTED));
    let text = String::from_utf8(reply.encode(&EncodeOptions::default())).expect("utf-8");
    assert!(text.contains("<FaultCode>8000</FaultCode>"), "{text}");
    assert!(
        text.contains("<cwmp:ID soap-env:mustUnderstand=\"1\">7</cwmp:ID>"),
        "{text}"
    );
}

#[test]
fn doctype_is_refused() {
    let xml = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lol [<!ENTITY lol \"lol\">]>{}",
        wrap(None, INFORM)
    );
    let err = decode_err(xml.as_bytes());
    assert_eq!(err.kind, DecodeErrorKind::DocType);
    assert_eq!(err.position.line, 1);
}

#[test]
fn namespace_is_taken_where_it_is_used() {
    // The Envelope binds cwmp-1-0, the Body rebinds the prefix to cwmp-1-2.
    let body =
        format!("<soap-env:Body xmlns:cwmp=\"urn:dslforum-org:cwmp-1-2\">{INFORM}</soap-env:Body>");
    let xml = format!("{ENV_OPEN}{body}</soap-env:Envelope>");
    let env = decode_ok(xml.as_bytes(), None);
    assert_eq!(env.namespace, Namespace::Cwmp12);
    assert_eq!(env.version(), CwmpVersion::V1_2);
    let reply =
        String::from_utf8(env.inform_reply().encode(&EncodeOptions::default())).expect("utf-8");
    assert!(
        reply.contains("xmlns:cwmp=\"urn:dslforum-org:cwmp-1-2\""),
        "{reply}"
    );
}

#[test]
fn non_standard_cwmp_1_3_and_1_4_urns_are_accepted_and_echoed() {
    for (urn, ns, version) in [
        (
            "urn:dslforum-org:cwmp-1-3",
            Namespace::Cwmp13,
            CwmpVersion::V1_3,
        ),
        (
            "urn:dslforum-org:cwmp-1-4",
            Namespace::Cwmp14,
            CwmpVersion::V1_4,
        ),
    ] {
        let xml = wrap(None, INFORM).replace("urn:dslforum-org:cwmp-1-0", urn);
        let env = decode_ok(xml.as_bytes(), None);
        assert_eq!((env.namespace, env.version()), (ns, version));
        let reply = env.inform_reply().encode(&EncodeOptions::default());
        let reply = String::from_utf8(reply).expect("utf-8");
        assert!(reply.contains(urn), "{reply}");
    }
}

#[test]
fn unknown_cwmp_namespace_is_named() {
    let xml = wrap(None, INFORM).replace("cwmp-1-0", "cwmp-1-9");
    let err = decode_err(xml.as_bytes());
    assert_eq!(
        err.kind,
        DecodeErrorKind::UnsupportedNamespace("urn:dslforum-org:cwmp-1-9".into())
    );
}

#[test]
fn session_timeout_and_supported_versions_headers() {
    let ns12 = |header: &str| wrap(Some(header), INFORM).replace("cwmp-1-0", "cwmp-1-2");
    let env = decode_ok(ns12("<cwmp:ID soap-env:mustUnderstand=\"1\">1</cwmp:ID><cwmp:SessionTimeout>45</cwmp:SessionTimeout>").as_bytes(), None);
    assert_eq!(env.header.session_timeout, Some(45));
    assert_eq!(env.version(), CwmpVersion::V1_3);

    let env = decode_ok(
        ns12("<cwmp:SupportedCWMPVersions soap-env:mustUnderstand=\"0\">1.0,1.1,1.2,1.3,1.4</cwmp:SupportedCWMPVersions>").as_bytes(),
        None,
    );
    assert_eq!(
        env.header.supported_cwmp_versions.as_deref(),
        Some("1.0,1.1,1.2,1.3,1.4")
    );
    assert_eq!(env.version(), CwmpVersion::V1_4);
    let reply = env.inform_reply();
    assert_eq!(reply.header.use_cwmp_version.as_deref(), Some("1.4"));
    assert_eq!(
        reply.body,
        Body::InformResponse(cwmp::InformResponse { max_envelopes: 1 })
    );

    let env = decode_ok(
        ns12("<cwmp:SupportedCWMPVersions>2.0</cwmp:SupportedCWMPVersions>").as_bytes(),
        None,
    );
    let Body::Fault(f) = env.inform_reply().body else {
        panic!("expected 8006")
    };
    assert_eq!(f.code(), Some(FaultCode::VERSION_INCOMPATIBLE));
}

#[test]
fn qualified_children_and_other_prefixes_are_matched_by_local_name() {
    // Alcatel-Lucent femto style: qualified children, a default namespace on DeviceId.
    let inform = INFORM
        .replace(
            "<DeviceId>",
            "<DeviceId xmlns=\"urn:dslforum-org:cwmp-1-0\">",
        )
        .replace("<Event ", "<cwmp:Event ")
        .replace("</Event>", "</cwmp:Event>");
    let xml = wrap(None, &inform)
        .replace("soap-env:", "SOAP_ENV:")
        .replace("xmlns:soap-env", "xmlns:SOAP_ENV");
    let env = decode_ok(xml.as_bytes(), None);
    let Body::Inform(i) = env.body else { panic!() };
    assert_eq!(i.device_id.serial_number, "S1");
    assert_eq!(i.event.len(), 1);
}

#[test]
fn inform_children_in_any_order_and_absent_array_type() {
    let inform = "<cwmp:Inform><RetryCount>3</RetryCount><Event><EventStruct><EventCode>2 PERIODIC</EventCode></EventStruct></Event>\
        <DeviceId><OUI>a</OUI><SerialNumber>s</SerialNumber></DeviceId><ParameterList/></cwmp:Inform>";
    let env = decode_ok(wrap(None, inform).as_bytes(), None);
    let Body::Inform(i) = env.body else { panic!() };
    assert_eq!(
        (
            i.retry_count,
            i.event[0].event_code.as_str(),
            i.max_envelopes
        ),
        (3, "2 PERIODIC", 1)
    );
}

#[test]
fn fault_without_detail_and_with_foreign_mustunderstand() {
    // MikroTik puts mustUnderstand in the encoding namespace; Cisco SPA122 sends bare faults.
    let header = "<cwmp:ID soap-enc:mustUnderstand=\"1\">9</cwmp:ID>";
    let body = "<soap-env:Fault><faultcode>Server</faultcode><faultstring>oops</faultstring></soap-env:Fault>";
    let env = decode_ok(wrap(Some(header), body).as_bytes(), None);
    let Body::Fault(f) = env.body else { panic!() };
    assert_eq!(
        (f.fault_code, f.fault_string.as_str(), f.detail),
        (cwmp::FaultClass::Server, "oops", None)
    );
}

#[test]
fn truncated_input_names_the_open_element_and_position() {
    let xml = wrap(None, INFORM);
    let cut = &xml[..xml.len() - 40];
    let err = decode_err(cut.as_bytes());
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::UnexpectedEof(_) | DecodeErrorKind::Xml(_)
        ),
        "{err}"
    );
    assert!(err.position.offset > 0 && err.position.line == 1, "{err}");
    let message = err.to_string();
    assert!(message.contains("line 1, column"), "{message}");
}

#[test]
fn errors_name_the_element_and_where() {
    let xml = wrap(None, "<cwmp:Inform>\n<Event/>\n</cwmp:Inform>")
        .replace("<cwmp:Inform>", "\n<cwmp:Inform>");
    let err = decode_err(xml.as_bytes());
    assert_eq!(
        err.kind,
        DecodeErrorKind::MissingElement {
            parent: "Inform".into(),
            child: "DeviceId"
        }
    );
    assert_eq!(err.position.line, 2);
    assert_eq!(
        err.to_string(),
        format!(
            "missing <DeviceId> in <Inform> at line 2, column 1 (byte {})",
            err.position.offset
        )
    );

    let err = decode_err(wrap(None, "<cwmp:SetParameterValuesResponse><Status>zero</Status></cwmp:SetParameterValuesResponse>").as_bytes());
    assert_eq!(
        err.kind,
        DecodeErrorKind::InvalidValue {
            element: "Status".into(),
            value: "zero".into(),
            expected: "int"
        }
    );
}

#[test]
fn deeply_nested_garbage_is_refused_without_recursion() {
    let depth = 200_000;
    let mut xml = String::with_capacity(depth * 7);
    for _ in 0..depth {
        xml.push_str("<a>");
    }
    let err = decode_err(xml.as_bytes());
    assert_eq!(err.kind, DecodeErrorKind::TooDeep(64));
}

#[test]
fn not_an_envelope_and_empty_soap_body() {
    assert_eq!(
        decode_err(b"<html><body/></html>").kind,
        DecodeErrorKind::NotAnEnvelope("html".into())
    );
    assert_eq!(
        decode_err(wrap(None, "  ").as_bytes()).kind,
        DecodeErrorKind::EmptySoapBody
    );
    let no_body = format!("{ENV_OPEN}</soap-env:Envelope>");
    assert_eq!(
        decode_err(no_body.as_bytes()).kind,
        DecodeErrorKind::MissingBody
    );
    assert!(matches!(
        decode_err(b"garbage <<<>>> &&& ;").kind,
        DecodeErrorKind::Xml(_) | DecodeErrorKind::NoRootElement
    ));
}

#[test]
fn encode_options_switch_declaration_and_boolean_style() {
    let msg = Envelope::new(
        Namespace::Cwmp10,
        cwmp::GetParameterNames {
            parameter_path: "Device.".into(),
            next_level: true,
        },
    );
    let default = String::from_utf8(msg.encode(&EncodeOptions::default())).expect("utf-8");
    assert!(default.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    assert!(default.contains("<NextLevel>1</NextLevel>"));
    let options = EncodeOptions {
        xml_declaration: false,
        boolean_style: BooleanStyle::TrueFalse,
    };
    let other = String::from_utf8(msg.encode(&options)).expect("utf-8");
    assert!(other.starts_with("<soap-env:Envelope"));
    assert!(other.contains("<NextLevel>true</NextLevel>"));
}

#[test]
fn encoded_text_is_escaped_and_round_trips() {
    let spv = cwmp::SetParameterValues {
        parameter_list: vec![cwmp::ParameterValueStruct::new(
            "A.<&>\"'",
            cwmp::Value::string("x]]>y\r\n\t&#1;"),
        )],
        parameter_key: "k&".into(),
    };
    let env = Envelope::new(Namespace::Cwmp10, spv.clone());
    let bytes = env.encode(&EncodeOptions::default());
    assert_eq!(decode_ok(&bytes, None).body, Body::SetParameterValues(spv));
}

#[test]
fn odd_xsi_type_names_re_encode_stably() {
    // Found by the fuzzer: a type name with a newline and a reference must survive
    // decode -> encode -> decode unchanged.
    let v = gpv_value("<Value xsi:type=\"xsd:a&gt;\n\tb\">1</Value>");
    let XsdType::Other(name) = &v.xsd_type else {
        panic!("{v:?}")
    };
    let env = Envelope::new(
        Namespace::Cwmp10,
        cwmp::GetParameterValuesResponse {
            parameter_list: vec![cwmp::ParameterValueStruct::new("A", v.clone())],
        },
    );
    let again = decode_ok(&env.encode(&EncodeOptions::default()), None);
    let Body::GetParameterValuesResponse(r) = again.body else {
        panic!()
    };
    assert_eq!(
        &r.parameter_list[0].value.xsd_type,
        &XsdType::Other(name.clone())
    );
}

#[test]
fn garbage_method_names_re_encode_as_valid_stable_names() {
    // Found by the fuzzer: a lenient parser lets odd names through; the encoder must still
    // write a valid name, and a second round must not change it.
    let long = "é".repeat(80);
    let env = decode_ok(wrap(None, &format!("<cwmp:{long}/>")).as_bytes(), None);
    assert_eq!(env.body, Body::Unknown { name: long });
    let once = env.encode(&EncodeOptions::default());
    let twice = decode_ok(&once, None).encode(&EncodeOptions::default());
    assert_eq!(once, twice);
}
