//! Every message kind the ACS emits (and the CPE-side messages the simulator emits) validates
//! against the official CWMP schemas in `../shared/cwmp/xsd/`, with `xmllint --schema` from
//! libxml2-utils. Each message is checked with the envelope wrapper of its namespace; a
//! message kind is only checked in the versions whose schema defines it, because the
//! envelope schema processes the Body's child laxly (an undeclared element would pass
//! unchecked). A deliberately broken message must fail, so the check can fail.
// The crate itself does no I/O (clippy.toml); this test runs xmllint on files in a temp dir.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cwmp::*;

const XSD_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/cwmp/xsd");

/// Which wrapper schema validates a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Schema {
    V1_0,
    V1_1,
    V1_2,
    /// cwmp-1-2 namespace with the 1.3/1.4 additions (SessionTimeout, UseCWMPVersion, 8006).
    V1_4,
}

impl Schema {
    fn wrapper(self) -> &'static str {
        match self {
            Schema::V1_0 => "envelope-cwmp-1-0.xsd",
            Schema::V1_1 => "envelope-cwmp-1-1.xsd",
            Schema::V1_2 => "envelope-cwmp-1-2.xsd",
            Schema::V1_4 => "envelope-cwmp-1-4.xsd",
        }
    }

    fn namespace(self) -> Namespace {
        match self {
            Schema::V1_0 => Namespace::Cwmp10,
            Schema::V1_1 => Namespace::Cwmp11,
            Schema::V1_2 | Schema::V1_4 => Namespace::Cwmp12,
        }
    }
}

fn xmllint_available() {
    let found = Command::new("xmllint").arg("--version").output().is_ok();
    assert!(
        found,
        "xmllint not found: the schema tests need it; install it with \
         `apt-get install libxml2-utils` (CI's .ci/run does)"
    );
}

fn temp_dir(tag: &str) -> PathBuf {
    // Tests run in parallel threads: one directory per call.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("cwmp-schema-{}-{n}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Validates the documents with one xmllint run; returns the failures with xmllint's output.
fn validate(schema: Schema, docs: &[(String, Vec<u8>)]) -> Result<(), String> {
    xmllint_available();
    let dir = temp_dir(schema.wrapper());
    let paths: Vec<PathBuf> = docs
        .iter()
        .map(|(name, bytes)| {
            let path = dir.join(format!("{name}.xml"));
            std::fs::write(&path, bytes).expect("write temp message");
            path
        })
        .collect();
    let xsd = Path::new(XSD_DIR);
    let output = Command::new("xmllint")
        .env("XML_CATALOG_FILES", xsd.join("catalog.xml"))
        .args(["--nonet", "--noout", "--schema"])
        .arg(xsd.join(schema.wrapper()))
        .args(&paths)
        .output()
        .expect("run xmllint");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    let failed: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.contains(" validates") && !l.contains("Skipping import"))
        .collect();
    let all_valid = paths
        .iter()
        .all(|p| stderr.contains(&format!("{} validates", p.display())));
    if output.status.success() && all_valid {
        Ok(())
    } else {
        Err(failed.join("\n"))
    }
}

fn doc(schema: Schema, name: &str, header: Header, body: impl Into<Body>) -> (String, Vec<u8>) {
    let env = Envelope {
        namespace: schema.namespace(),
        header,
        body: body.into(),
    };
    (
        format!("{name}-{schema:?}"),
        env.encode(&EncodeOptions::default()),
    )
}

fn id() -> Header {
    Header::with_id("ACS_1<&>")
}

/// Every message the ACS emits, for the schema versions that define it.
fn acs_messages(schema: Schema) -> Vec<(String, Vec<u8>)> {
    let v11 = schema != Schema::V1_0;
    let v12 = matches!(schema, Schema::V1_2 | Schema::V1_4);
    let mut docs = vec![
        doc(schema, "GetRPCMethods", id(), GetRpcMethods),
        doc(
            schema,
            "SetParameterValues",
            id(),
            SetParameterValues {
                parameter_list: vec![
                    ParameterValueStruct::new(
                        "Device.ManagementServer.PeriodicInformInterval",
                        Value::unsigned_int(300),
                    ),
                    ParameterValueStruct::new(
                        "Device.ManagementServer.PeriodicInformEnable",
                        Value::boolean(true),
                    ),
                    ParameterValueStruct::new(
                        "Device.X_Vendor.Note",
                        Value::string("a<b & \"c\" é"),
                    ),
                    ParameterValueStruct::new(
                        "Device.X_Vendor.Time",
                        Value::date_time(XsdDateTime::unknown()),
                    ),
                    ParameterValueStruct::new(
                        "Device.X_Vendor.Blob",
                        Value::base64(b"\x00\x01binary"),
                    ),
                    ParameterValueStruct::new(
                        "Device.X_Vendor.Counter",
                        Value::unsigned_long(u64::MAX),
                    ),
                    ParameterValueStruct::new("Device.X_Vendor.Offset", Value::int(-5)),
                ],
                parameter_key: "task-42".into(),
            },
        ),
        doc(
            schema,
            "SetParameterValues-empty",
            id(),
            SetParameterValues::default(),
        ),
        doc(
            schema,
            "GetParameterValues",
            id(),
            GetParameterValues {
                parameter_names: vec![
                    "Device.DeviceInfo.".into(),
                    "Device.ManagementServer.URL".into(),
                ],
            },
        ),
        doc(
            schema,
            "GetParameterNames",
            id(),
            GetParameterNames {
                parameter_path: "Device.".into(),
                next_level: false,
            },
        ),
        doc(
            schema,
            "SetParameterAttributes",
            id(),
            SetParameterAttributes {
                parameter_list: vec![SetParameterAttributesStruct {
                    name: "Device.DeviceInfo.SoftwareVersion".into(),
                    notification_change: true,
                    notification: 2,
                    access_list_change: true,
                    access_list: vec!["Subscriber".into()],
                }],
            },
        ),
        doc(
            schema,
            "GetParameterAttributes",
            id(),
            GetParameterAttributes {
                parameter_names: vec!["Device.DeviceInfo.".into()],
            },
        ),
        doc(
            schema,
            "AddObject",
            id(),
            AddObject {
                object_name: "Device.IP.Interface.".into(),
                parameter_key: "k1".into(),
            },
        ),
        doc(
            schema,
            "DeleteObject",
            id(),
            DeleteObject {
                object_name: "Device.IP.Interface.3.".into(),
                parameter_key: "k2".into(),
            },
        ),
        doc(
            schema,
            "Reboot",
            id(),
            Reboot {
                command_key: "reboot-1".into(),
            },
        ),
        doc(
            schema,
            "Download",
            id(),
            Download {
                command_key: "fw-1".into(),
                file_type: "1 Firmware Upgrade Image".into(),
                url: "http://acs.example/files/fw.bin?a=1&b=2".into(),
                username: "u".into(),
                password: "p".into(),
                file_size: 123_456,
                target_file_name: "fw.bin".into(),
                delay_seconds: 0,
                success_url: String::new(),
                failure_url: String::new(),
            },
        ),
        doc(
            schema,
            "Upload",
            id(),
            Upload {
                command_key: "up-1".into(),
                file_type: "1 Vendor Configuration File".into(),
                url: "http://acs.example/upload".into(),
                username: String::new(),
                password: String::new(),
                delay_seconds: 5,
            },
        ),
        doc(schema, "FactoryReset", id(), FactoryReset),
        doc(
            schema,
            "ScheduleInform",
            id(),
            ScheduleInform {
                delay_seconds: 60,
                command_key: "si".into(),
            },
        ),
        doc(schema, "GetQueuedTransfers", id(), GetQueuedTransfers),
        doc(
            schema,
            "GetRPCMethodsResponse",
            id(),
            GetRpcMethodsResponse {
                method_list: vec![
                    "Inform".into(),
                    "GetRPCMethods".into(),
                    "TransferComplete".into(),
                ],
            },
        ),
        doc(schema, "InformResponse", id(), InformResponse::default()),
        doc(
            schema,
            "InformResponse-noid",
            Header::default(),
            InformResponse::default(),
        ),
        doc(
            schema,
            "TransferCompleteResponse",
            id(),
            TransferCompleteResponse,
        ),
        doc(
            schema,
            "RequestDownloadResponse",
            id(),
            RequestDownloadResponse,
        ),
        doc(
            schema,
            "KickedResponse",
            id(),
            KickedResponse {
                next_url: "http://acs.example/next".into(),
            },
        ),
        doc(
            schema,
            "HoldRequests",
            Header {
                hold_requests: Some(true),
                ..id()
            },
            GetParameterValues {
                parameter_names: vec!["Device.".into()],
            },
        ),
    ];
    for code in 8000..=8005 {
        docs.push(doc(
            schema,
            &format!("Fault-{code}"),
            id(),
            Fault::new(FaultCode(code)),
        ));
    }
    if v11 {
        docs.push(doc(
            schema,
            "GetAllQueuedTransfers",
            id(),
            GetAllQueuedTransfers,
        ));
        docs.push(doc(
            schema,
            "AutonomousTransferCompleteResponse",
            id(),
            AutonomousTransferCompleteResponse,
        ));
    }
    if v12 {
        docs.push(doc(
            schema,
            "ScheduleDownload",
            id(),
            ScheduleDownload {
                command_key: "sd".into(),
                file_type: "1 Firmware Upgrade Image".into(),
                url: "http://acs.example/fw".into(),
                username: String::new(),
                password: String::new(),
                file_size: 0,
                target_file_name: String::new(),
                time_window_list: vec![TimeWindow {
                    window_start: 0,
                    window_end: 3600,
                    window_mode: "1 At Any Time".into(),
                    user_message: String::new(),
                    max_retries: -1,
                }],
            },
        ));
        docs.push(doc(
            schema,
            "CancelTransfer",
            id(),
            CancelTransfer {
                command_key: "sd".into(),
            },
        ));
        docs.push(doc(
            schema,
            "ChangeDUState",
            id(),
            ChangeDuState {
                operations: vec![
                    DuOperation::Install {
                        url: "http://acs.example/du.ipk".into(),
                        uuid: Some("12345678-abcd-ef01-2345-6789abcdef01".into()),
                        username: None,
                        password: None,
                        execution_env_ref: Some("Device.SoftwareModules.ExecEnv.1".into()),
                    },
                    DuOperation::Update {
                        uuid: Some("12345678-abcd-ef01-2345-6789abcdef01".into()),
                        version: Some("2.0".into()),
                        url: None,
                        username: None,
                        password: None,
                    },
                    DuOperation::Uninstall {
                        uuid: "12345678-abcd-ef01-2345-6789abcdef01".into(),
                        version: None,
                        execution_env_ref: None,
                    },
                ],
                command_key: "du".into(),
            },
        ));
        docs.push(doc(
            schema,
            "DUStateChangeCompleteResponse",
            id(),
            DuStateChangeCompleteResponse,
        ));
        docs.push(doc(
            schema,
            "AutonomousDUStateChangeCompleteResponse",
            id(),
            AutonomousDuStateChangeCompleteResponse,
        ));
    }
    if schema == Schema::V1_4 {
        let header = Header {
            use_cwmp_version: Some("1.4".into()),
            ..id()
        };
        docs.push(doc(
            schema,
            "InformResponse-UseCWMPVersion",
            header,
            InformResponse::default(),
        ));
        docs.push(doc(
            schema,
            "Fault-8006",
            id(),
            Fault::new(FaultCode::VERSION_INCOMPATIBLE),
        ));
    }
    docs
}

fn transfer_fault(code: u32) -> TransferFault {
    TransferFault {
        fault_code: FaultCode(code),
        fault_string: if code == 0 {
            String::new()
        } else {
            "failed".into()
        },
    }
}

fn time() -> XsdDateTime {
    XsdDateTime::parse("2024-05-01T12:00:00Z")
}

/// The CPE-side messages (what `cpe-sim` emits).
fn cpe_messages(schema: Schema) -> Vec<(String, Vec<u8>)> {
    let v11 = schema != Schema::V1_0;
    let v12 = matches!(schema, Schema::V1_2 | Schema::V1_4);
    let params = vec![
        ParameterValueStruct::new("Device.DeviceInfo.SoftwareVersion", Value::string("1.2.3")),
        ParameterValueStruct::new(
            "Device.ManagementServer.ConnectionRequestURL",
            Value::string("http://10.0.0.1:7547/cr"),
        ),
    ];
    let inform = Inform {
        device_id: DeviceId {
            manufacturer: "Acme".into(),
            oui: "00AABB".into(),
            product_class: "Router".into(),
            serial_number: "SN-1".into(),
        },
        event: vec![
            EventStruct::new("0 BOOTSTRAP"),
            EventStruct {
                event_code: "M Reboot".into(),
                command_key: "r1".into(),
            },
        ],
        max_envelopes: 1,
        current_time: time(),
        retry_count: 0,
        parameter_list: params.clone(),
    };
    let mut docs = vec![
        doc(schema, "Inform", id(), inform.clone()),
        doc(
            schema,
            "GetRPCMethodsResponse-cpe",
            id(),
            GetRpcMethodsResponse {
                method_list: vec!["GetRPCMethods".into()],
            },
        ),
        doc(
            schema,
            "SetParameterValuesResponse",
            id(),
            SetParameterValuesResponse { status: 1 },
        ),
        doc(
            schema,
            "GetParameterValuesResponse",
            id(),
            GetParameterValuesResponse {
                parameter_list: params,
            },
        ),
        doc(
            schema,
            "GetParameterNamesResponse",
            id(),
            GetParameterNamesResponse {
                parameter_list: vec![ParameterInfoStruct {
                    name: "Device.DeviceInfo.".into(),
                    writable: false,
                }],
            },
        ),
        doc(
            schema,
            "SetParameterAttributesResponse",
            id(),
            SetParameterAttributesResponse,
        ),
        doc(
            schema,
            "GetParameterAttributesResponse",
            id(),
            GetParameterAttributesResponse {
                parameter_list: vec![ParameterAttributeStruct {
                    name: "Device.DeviceInfo.SoftwareVersion".into(),
                    notification: 2,
                    access_list: vec!["Subscriber".into()],
                }],
            },
        ),
        doc(
            schema,
            "AddObjectResponse",
            id(),
            AddObjectResponse {
                instance_number: 4,
                status: 0,
            },
        ),
        doc(
            schema,
            "DeleteObjectResponse",
            id(),
            DeleteObjectResponse { status: 0 },
        ),
        doc(schema, "RebootResponse", id(), RebootResponse),
        doc(
            schema,
            "DownloadResponse",
            id(),
            Body::DownloadResponse(TransferResponse::default()),
        ),
        doc(
            schema,
            "UploadResponse",
            id(),
            Body::UploadResponse(TransferResponse {
                status: 0,
                start_time: time(),
                complete_time: time(),
            }),
        ),
        doc(schema, "FactoryResetResponse", id(), FactoryResetResponse),
        doc(
            schema,
            "ScheduleInformResponse",
            id(),
            ScheduleInformResponse,
        ),
        doc(
            schema,
            "GetQueuedTransfersResponse",
            id(),
            GetQueuedTransfersResponse {
                transfer_list: vec![QueuedTransfer {
                    command_key: "fw".into(),
                    state: 2,
                }],
            },
        ),
        doc(
            schema,
            "TransferComplete",
            id(),
            TransferComplete {
                command_key: "fw-1".into(),
                fault_struct: transfer_fault(0),
                start_time: time(),
                complete_time: time(),
            },
        ),
        doc(
            schema,
            "RequestDownload",
            id(),
            RequestDownload {
                file_type: "1 Firmware Upgrade Image".into(),
                file_type_arg: vec![ArgStruct {
                    name: "Version".into(),
                    value: "2".into(),
                }],
            },
        ),
        doc(
            schema,
            "Kicked",
            id(),
            Kicked {
                command: "c".into(),
                referer: "r".into(),
                arg: "a".into(),
                next: "http://n".into(),
            },
        ),
        doc(schema, "Fault-9000", id(), Fault::new(FaultCode(9000))),
        doc(
            schema,
            "Fault-SPV",
            id(),
            Fault {
                fault_code: FaultClass::Client,
                fault_string: "CWMP fault".into(),
                detail: Some(CwmpFault {
                    fault_code: FaultCode(9003),
                    fault_string: Some("Invalid arguments".into()),
                    set_parameter_values_faults: vec![
                        SetParameterValuesFault {
                            parameter_name: "Device.A".into(),
                            fault_code: FaultCode(9007),
                            fault_string: Some("Invalid parameter value".into()),
                        },
                        SetParameterValuesFault {
                            parameter_name: "Device.B".into(),
                            fault_code: FaultCode(9008),
                            fault_string: None,
                        },
                    ],
                }),
            },
        ),
    ];
    if v11 {
        docs.push(doc(
            schema,
            "GetAllQueuedTransfersResponse",
            id(),
            GetAllQueuedTransfersResponse {
                transfer_list: vec![AllQueuedTransfer {
                    command_key: "fw".into(),
                    state: 1,
                    is_download: true,
                    file_type: "1 Firmware Upgrade Image".into(),
                    file_size: 10,
                    target_file_name: String::new(),
                }],
            },
        ));
        docs.push(doc(
            schema,
            "AutonomousTransferComplete",
            id(),
            AutonomousTransferComplete {
                announce_url: String::new(),
                transfer_url: "http://fs.example/fw".into(),
                is_download: true,
                file_type: "1 Firmware Upgrade Image".into(),
                file_size: 10,
                target_file_name: String::new(),
                fault_struct: transfer_fault(9010),
                start_time: XsdDateTime::unknown(),
                complete_time: XsdDateTime::unknown(),
            },
        ));
    }
    if v12 {
        let result = OpResult {
            uuid: "12345678-abcd-ef01-2345-6789abcdef01".into(),
            deployment_unit_ref: "Device.SoftwareModules.DeploymentUnit.1".into(),
            version: "1.0".into(),
            current_state: "Installed".into(),
            resolved: true,
            execution_unit_ref_list: String::new(),
            start_time: time(),
            complete_time: time(),
            fault: transfer_fault(0),
        };
        docs.push(doc(
            schema,
            "ScheduleDownloadResponse",
            id(),
            ScheduleDownloadResponse,
        ));
        docs.push(doc(
            schema,
            "CancelTransferResponse",
            id(),
            CancelTransferResponse,
        ));
        docs.push(doc(
            schema,
            "ChangeDUStateResponse",
            id(),
            ChangeDuStateResponse,
        ));
        docs.push(doc(
            schema,
            "DUStateChangeComplete",
            id(),
            DuStateChangeComplete {
                results: vec![result.clone()],
                command_key: "du".into(),
            },
        ));
        docs.push(doc(
            schema,
            "AutonomousDUStateChangeComplete",
            id(),
            AutonomousDuStateChangeComplete {
                results: vec![AutonOpResult {
                    result,
                    operation_performed: "Install".into(),
                }],
            },
        ));
    }
    if schema == Schema::V1_4 {
        let header = Header {
            session_timeout: Some(30),
            supported_cwmp_versions: Some("1.0,1.1,1.2,1.3,1.4".into()),
            ..id()
        };
        docs.push(doc(schema, "Inform-1.4-headers", header, inform));
    }
    docs
}

const ALL: [Schema; 4] = [Schema::V1_0, Schema::V1_1, Schema::V1_2, Schema::V1_4];

#[test]
fn acs_messages_validate_against_the_official_schemas() {
    for schema in ALL {
        if let Err(e) = validate(schema, &acs_messages(schema)) {
            panic!("{schema:?}:\n{e}");
        }
    }
}

#[test]
fn cpe_messages_validate_against_the_official_schemas() {
    for schema in ALL {
        if let Err(e) = validate(schema, &cpe_messages(schema)) {
            panic!("{schema:?}:\n{e}");
        }
    }
}

#[test]
fn a_broken_message_fails_validation() {
    // Drop the required URL from a Download: the check must notice.
    let (name, bytes) = doc(
        Schema::V1_0,
        "Download-broken",
        id(),
        Download {
            url: "X".into(),
            ..Download::default()
        },
    );
    let text = String::from_utf8(bytes)
        .expect("utf-8")
        .replace("<URL>X</URL>", "");
    let err = validate(Schema::V1_0, &[(name, text.into_bytes())]).expect_err("invalid");
    assert!(err.contains("fails to validate"), "{err}");
    // And a wrong array item name.
    let (name, bytes) = doc(
        Schema::V1_2,
        "GPV-broken",
        id(),
        GetParameterValues {
            parameter_names: vec!["A".into()],
        },
    );
    let text = String::from_utf8(bytes)
        .expect("utf-8")
        .replace("<string>A</string>", "<item>A</item>");
    let err = validate(Schema::V1_2, &[(name, text.into_bytes())]).expect_err("invalid");
    assert!(err.contains("fails to validate"), "{err}");
}

#[test]
fn encoded_messages_decode_to_themselves() {
    // The schema-valid samples double as a round-trip check of every kind.
    for schema in ALL {
        for (name, bytes) in acs_messages(schema).into_iter().chain(cpe_messages(schema)) {
            match cwmp::decode(&bytes, Some("text/xml; charset=utf-8")) {
                Ok(Decoded::Envelope(env)) => {
                    assert_eq!(env.namespace, schema.namespace(), "{name}");
                    assert_eq!(
                        env.encode(&EncodeOptions::default()),
                        bytes,
                        "{name} re-encodes identically"
                    );
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
