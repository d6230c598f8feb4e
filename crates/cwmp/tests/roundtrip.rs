//! Property tests: for every message type, decode(encode(m)) == m, with arbitrary valid
//! field values (XML-special and non-ASCII characters included); and decoding arbitrary or
//! mangled bytes never panics.

use cwmp::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

/// Text as CPEs and operators write it: XML specials, quotes, non-ASCII, CR/LF/tab,
/// leading and trailing spaces, `]]>`.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ._:/-]{0,16}",
        "[<>&\"' \t\r\n\\]\\]>éü中😀a-z]{0,12}",
        Just(String::new()),
    ]
}

fn short_vec<T: std::fmt::Debug>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<T>> {
    vec(s, 0..4)
}

fn date_time() -> impl Strategy<Value = XsdDateTime> {
    prop_oneof![
        (-62_000_000_000i64..250_000_000_000i64).prop_map(|secs| {
            XsdDateTime::from_utc(chrono::DateTime::from_timestamp(secs, 0).expect("in range"))
        }),
        Just(XsdDateTime::unknown()),
        // Whatever a CPE writes is kept, valid or not.
        text().prop_map(XsdDateTime::parse),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::string),
        any::<i32>().prop_map(Value::int),
        any::<u32>().prop_map(Value::unsigned_int),
        any::<i64>().prop_map(Value::long),
        any::<u64>().prop_map(Value::unsigned_long),
        any::<bool>().prop_map(Value::boolean),
        date_time().prop_map(Value::date_time),
        vec(any::<u8>(), 0..12).prop_map(|b| Value::base64(&b)),
        vec(any::<u8>(), 0..12).prop_map(|b| Value::hex_binary(&b)),
        text().prop_map(|t| Value::parse(XsdType::Other("float".into()), t)),
        // Kept and marked invalid.
        text().prop_map(|t| Value::parse(XsdType::Int, format!("x{t}"))),
    ]
}

/// A struct (or struct variant) whose every field is drawn from its own strategy, written
/// as the struct itself: `strategy!(Reboot { command_key: text() })`.
macro_rules! strategy {
    ($($ty:ident)::+ { $($field:ident: $strategy:expr),* $(,)? }) => {
        ($($strategy,)*).prop_map(|($($field,)*)| $($ty)::+ { $($field),* })
    };
}

fn pvs() -> impl Strategy<Value = ParameterValueStruct> {
    strategy!(ParameterValueStruct {
        name: text(),
        value: value()
    })
}

fn fault_code() -> impl Strategy<Value = FaultCode> {
    (0u32..10_000).prop_map(FaultCode)
}

fn transfer_fault() -> impl Strategy<Value = TransferFault> {
    strategy!(TransferFault {
        fault_code: fault_code(),
        fault_string: text()
    })
}

fn fault() -> impl Strategy<Value = Fault> {
    let spv = strategy!(SetParameterValuesFault {
        parameter_name: text(),
        fault_code: fault_code(),
        fault_string: option::of(text()),
    });
    let detail = strategy!(CwmpFault {
        fault_code: fault_code(),
        fault_string: option::of(text()),
        set_parameter_values_faults: short_vec(spv),
    });
    let class = prop_oneof![
        Just(FaultClass::Client),
        Just(FaultClass::Server),
        "X[A-Za-z]{0,6}".prop_map(FaultClass::Other),
    ];
    strategy!(Fault {
        fault_code: class,
        fault_string: text(),
        detail: option::of(detail)
    })
}

fn op_result() -> impl Strategy<Value = OpResult> {
    strategy!(OpResult {
        uuid: text(),
        deployment_unit_ref: text(),
        version: text(),
        current_state: text(),
        resolved: any::<bool>(),
        execution_unit_ref_list: text(),
        start_time: date_time(),
        complete_time: date_time(),
        fault: transfer_fault(),
    })
}

fn du_operation() -> impl Strategy<Value = DuOperation> {
    let o = || option::of(text());
    prop_oneof![
        strategy!(DuOperation::Install {
            url: text(),
            uuid: o(),
            username: o(),
            password: o(),
            execution_env_ref: o(),
        }),
        strategy!(DuOperation::Update {
            uuid: o(),
            version: o(),
            url: o(),
            username: o(),
            password: o(),
        }),
        strategy!(DuOperation::Uninstall {
            uuid: text(),
            version: o(),
            execution_env_ref: o()
        }),
    ]
}

fn transfer_response() -> impl Strategy<Value = TransferResponse> {
    strategy!(TransferResponse {
        status: any::<i32>(),
        start_time: date_time(),
        complete_time: date_time(),
    })
}

/// Parameter RPCs of the CPE.
fn cpe_param_body() -> impl Strategy<Value = Body> {
    let info = strategy!(ParameterInfoStruct {
        name: text(),
        writable: any::<bool>()
    });
    let set_attributes = strategy!(SetParameterAttributesStruct {
        name: text(),
        notification_change: any::<bool>(),
        notification: any::<i32>(),
        access_list_change: any::<bool>(),
        access_list: short_vec(text()),
    });
    let attributes = strategy!(ParameterAttributeStruct {
        name: text(),
        notification: any::<i32>(),
        access_list: short_vec(text()),
    });
    prop_oneof![
        Just(Body::GetRpcMethods(GetRpcMethods)),
        strategy!(GetRpcMethodsResponse {
            method_list: short_vec(text())
        })
        .prop_map(Body::GetRpcMethodsResponse),
        strategy!(SetParameterValues {
            parameter_list: short_vec(pvs()),
            parameter_key: text()
        })
        .prop_map(Body::SetParameterValues),
        strategy!(SetParameterValuesResponse {
            status: any::<i32>()
        })
        .prop_map(Body::SetParameterValuesResponse),
        strategy!(GetParameterValues {
            parameter_names: short_vec(text())
        })
        .prop_map(Body::GetParameterValues),
        strategy!(GetParameterValuesResponse {
            parameter_list: short_vec(pvs())
        })
        .prop_map(Body::GetParameterValuesResponse),
        strategy!(GetParameterNames {
            parameter_path: text(),
            next_level: any::<bool>()
        })
        .prop_map(Body::GetParameterNames),
        strategy!(GetParameterNamesResponse {
            parameter_list: short_vec(info)
        })
        .prop_map(Body::GetParameterNamesResponse),
        strategy!(SetParameterAttributes {
            parameter_list: short_vec(set_attributes)
        })
        .prop_map(Body::SetParameterAttributes),
        Just(Body::SetParameterAttributesResponse(
            SetParameterAttributesResponse
        )),
        strategy!(GetParameterAttributes {
            parameter_names: short_vec(text())
        })
        .prop_map(Body::GetParameterAttributes),
        strategy!(GetParameterAttributesResponse {
            parameter_list: short_vec(attributes)
        })
        .prop_map(Body::GetParameterAttributesResponse),
        strategy!(AddObject {
            object_name: text(),
            parameter_key: text()
        })
        .prop_map(Body::AddObject),
        strategy!(AddObjectResponse {
            instance_number: any::<u32>(),
            status: any::<i32>()
        })
        .prop_map(Body::AddObjectResponse),
        strategy!(DeleteObject {
            object_name: text(),
            parameter_key: text()
        })
        .prop_map(Body::DeleteObject),
        strategy!(DeleteObjectResponse {
            status: any::<i32>()
        })
        .prop_map(Body::DeleteObjectResponse),
    ]
}

/// Transfer and lifecycle RPCs of the CPE.
fn cpe_transfer_body() -> impl Strategy<Value = Body> {
    let window = strategy!(TimeWindow {
        window_start: any::<u32>(),
        window_end: any::<u32>(),
        window_mode: text(),
        user_message: text(),
        max_retries: any::<i32>(),
    });
    let queued = strategy!(QueuedTransfer {
        command_key: text(),
        state: any::<i32>()
    });
    let all_queued = strategy!(AllQueuedTransfer {
        command_key: text(),
        state: any::<i32>(),
        is_download: any::<bool>(),
        file_type: text(),
        file_size: any::<u32>(),
        target_file_name: text(),
    });
    prop_oneof![
        strategy!(Reboot {
            command_key: text()
        })
        .prop_map(Body::Reboot),
        Just(Body::RebootResponse(RebootResponse)),
        strategy!(Download {
            command_key: text(),
            file_type: text(),
            url: text(),
            username: text(),
            password: text(),
            file_size: any::<u32>(),
            target_file_name: text(),
            delay_seconds: any::<u32>(),
            success_url: text(),
            failure_url: text(),
        })
        .prop_map(Body::Download),
        transfer_response().prop_map(Body::DownloadResponse),
        strategy!(Upload {
            command_key: text(),
            file_type: text(),
            url: text(),
            username: text(),
            password: text(),
            delay_seconds: any::<u32>(),
        })
        .prop_map(Body::Upload),
        transfer_response().prop_map(Body::UploadResponse),
        Just(Body::FactoryReset(FactoryReset)),
        Just(Body::FactoryResetResponse(FactoryResetResponse)),
        strategy!(ScheduleInform {
            delay_seconds: any::<u32>(),
            command_key: text()
        })
        .prop_map(Body::ScheduleInform),
        Just(Body::ScheduleInformResponse(ScheduleInformResponse)),
        strategy!(ScheduleDownload {
            command_key: text(),
            file_type: text(),
            url: text(),
            username: text(),
            password: text(),
            file_size: any::<u32>(),
            target_file_name: text(),
            time_window_list: short_vec(window),
        })
        .prop_map(Body::ScheduleDownload),
        Just(Body::ScheduleDownloadResponse(ScheduleDownloadResponse)),
        strategy!(CancelTransfer {
            command_key: text()
        })
        .prop_map(Body::CancelTransfer),
        Just(Body::CancelTransferResponse(CancelTransferResponse)),
        strategy!(ChangeDuState {
            operations: short_vec(du_operation()),
            command_key: text()
        })
        .prop_map(Body::ChangeDuState),
        Just(Body::ChangeDuStateResponse(ChangeDuStateResponse)),
        Just(Body::GetQueuedTransfers(GetQueuedTransfers)),
        strategy!(GetQueuedTransfersResponse {
            transfer_list: short_vec(queued)
        })
        .prop_map(Body::GetQueuedTransfersResponse),
        Just(Body::GetAllQueuedTransfers(GetAllQueuedTransfers)),
        strategy!(GetAllQueuedTransfersResponse {
            transfer_list: short_vec(all_queued)
        })
        .prop_map(Body::GetAllQueuedTransfersResponse),
    ]
}

/// ACS methods (called by the CPE), faults and unknown methods.
fn acs_body() -> impl Strategy<Value = Body> {
    let device = strategy!(DeviceId {
        manufacturer: text(),
        oui: text(),
        product_class: text(),
        serial_number: text(),
    });
    let event = strategy!(EventStruct {
        event_code: text(),
        command_key: text()
    });
    let arg = strategy!(ArgStruct {
        name: text(),
        value: text()
    });
    let auton_result = strategy!(AutonOpResult {
        result: op_result(),
        operation_performed: text()
    });
    prop_oneof![
        strategy!(Inform {
            device_id: device,
            event: short_vec(event),
            max_envelopes: any::<u32>(),
            current_time: date_time(),
            retry_count: any::<u32>(),
            parameter_list: short_vec(pvs()),
        })
        .prop_map(Body::Inform),
        strategy!(InformResponse {
            max_envelopes: any::<u32>()
        })
        .prop_map(Body::InformResponse),
        strategy!(TransferComplete {
            command_key: text(),
            fault_struct: transfer_fault(),
            start_time: date_time(),
            complete_time: date_time(),
        })
        .prop_map(Body::TransferComplete),
        Just(Body::TransferCompleteResponse(TransferCompleteResponse)),
        strategy!(AutonomousTransferComplete {
            announce_url: text(),
            transfer_url: text(),
            is_download: any::<bool>(),
            file_type: text(),
            file_size: any::<u32>(),
            target_file_name: text(),
            fault_struct: transfer_fault(),
            start_time: date_time(),
            complete_time: date_time(),
        })
        .prop_map(Body::AutonomousTransferComplete),
        Just(Body::AutonomousTransferCompleteResponse(
            AutonomousTransferCompleteResponse
        )),
        strategy!(RequestDownload {
            file_type: text(),
            file_type_arg: short_vec(arg)
        })
        .prop_map(Body::RequestDownload),
        Just(Body::RequestDownloadResponse(RequestDownloadResponse)),
        strategy!(DuStateChangeComplete {
            results: short_vec(op_result()),
            command_key: text()
        })
        .prop_map(Body::DuStateChangeComplete),
        Just(Body::DuStateChangeCompleteResponse(
            DuStateChangeCompleteResponse
        )),
        strategy!(AutonomousDuStateChangeComplete {
            results: short_vec(auton_result)
        })
        .prop_map(Body::AutonomousDuStateChangeComplete),
        Just(Body::AutonomousDuStateChangeCompleteResponse(
            AutonomousDuStateChangeCompleteResponse
        )),
        strategy!(Kicked {
            command: text(),
            referer: text(),
            arg: text(),
            next: text()
        })
        .prop_map(Body::Kicked),
        strategy!(KickedResponse { next_url: text() }).prop_map(Body::KickedResponse),
        fault().prop_map(Body::Fault),
        "X_[A-Za-z0-9]{1,12}".prop_map(|name| Body::Unknown { name }),
    ]
}

fn header() -> impl Strategy<Value = Header> {
    let version_list = "[0-9.,]{1,12}";
    strategy!(Header {
        id: option::of(text()),
        hold_requests: option::of(any::<bool>()),
        no_more_requests: option::of(any::<bool>()),
        session_timeout: option::of(any::<u32>()),
        supported_cwmp_versions: option::of(version_list),
        use_cwmp_version: option::of(version_list),
    })
}

fn namespace() -> impl Strategy<Value = Namespace> {
    prop_oneof![
        Just(Namespace::Cwmp10),
        Just(Namespace::Cwmp11),
        Just(Namespace::Cwmp12),
        Just(Namespace::Cwmp13),
        Just(Namespace::Cwmp14),
    ]
}

fn envelope() -> impl Strategy<Value = Envelope> {
    strategy!(Envelope {
        namespace: namespace(),
        header: header(),
        body: prop_oneof![cpe_param_body(), cpe_transfer_body(), acs_body()],
    })
}

fn decode_envelope(bytes: &[u8]) -> Envelope {
    match cwmp::decode(bytes, None) {
        Ok(Decoded::Envelope(e)) => e,
        other => panic!("{other:?}\n{}", String::from_utf8_lossy(bytes)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_is_identity(env in envelope()) {
        let bytes = env.encode(&EncodeOptions::default());
        prop_assert_eq!(decode_envelope(&bytes), env);
    }

    #[test]
    fn encoding_options_change_only_the_lexical_form(env in envelope()) {
        // true/false booleans and no declaration decode to a message that re-encodes exactly
        // like the original under the default options.
        let options = EncodeOptions { xml_declaration: false, boolean_style: BooleanStyle::TrueFalse };
        let other = env.encode(&options);
        prop_assert!(other.starts_with(b"<soap-env:Envelope"));
        let default = env.encode(&EncodeOptions::default());
        prop_assert_eq!(decode_envelope(&other).encode(&EncodeOptions::default()), default);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in vec(any::<u8>(), 0..512)) {
        let _ = cwmp::decode(&bytes, None);
        let _ = cwmp::decode(&bytes, Some("text/xml; charset=utf-16"));
        let _ = cwmp::redact_message(&bytes, None);
    }

    #[test]
    fn decoding_mangled_messages_never_panics(
        env in envelope(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = env.encode(&EncodeOptions::default());
        let at = flip.index(bytes.len());
        bytes[at] = byte;
        let _ = cwmp::decode(&bytes, None);
        let _ = cwmp::redact_message(&bytes, None);
        bytes.truncate(cut.index(bytes.len()));
        let _ = cwmp::decode(&bytes, Some("text/xml; charset=iso-8859-1"));
        let _ = cwmp::redact_message(&bytes, Some("text/xml; charset=iso-8859-1"));
    }

    #[test]
    fn redacting_a_message_keeps_everything_but_secrets(env in envelope()) {
        // what holds no secret comes back as it was; what does decodes to the same message
        // shape (redaction never breaks the XML)
        let bytes = env.encode(&EncodeOptions::default());
        let text = String::from_utf8(bytes.clone()).unwrap();
        let redacted = cwmp::redact(&text).unwrap();
        let lower = text.to_ascii_lowercase();
        let may_hold_secrets = ["password", "passphrase", "secret", "psk", "key"]
            .iter()
            .any(|word| lower.contains(word));
        if !may_hold_secrets {
            prop_assert_eq!(&*redacted, text.as_str());
        }
        prop_assert!(cwmp::decode(redacted.as_bytes(), None).is_ok());
    }
}
