//! How a virtual CPE answers each ACS request (PROTOCOL §7.1): the data-model RPCs through
//! [`crate::datamodel`], the rest by recording what to do once the session is over.

use std::time::{Duration, Instant};

use cwmp::{Body, CwmpFault, Fault, FaultCode, SetParameterValuesFault};

use crate::datamodel::{self, Device, SetAttributes, SetValue};
use crate::transfers::{Job, TransferQueue};

/// Something the CPE does after the session ends (TR-069 §3.7.1.4: Reboot, FactoryReset and
/// deployment-unit changes are carried out once the session is closed). Transfers wait in the
/// device's [`TransferQueue`] instead, where GetQueuedTransfers and CancelTransfer see them.
#[derive(Debug, Clone, PartialEq)]
pub enum Deferred {
    Reboot {
        command_key: String,
    },
    FactoryReset,
    ChangeDuState(cwmp::ChangeDuState),
    ScheduleInform {
        delay_seconds: u32,
        command_key: String,
    },
}

/// The methods a simulated CPE answers (GetRPCMethodsResponse).
pub const CPE_METHODS: [&str; 18] = [
    "GetRPCMethods",
    "SetParameterValues",
    "GetParameterValues",
    "GetParameterNames",
    "SetParameterAttributes",
    "GetParameterAttributes",
    "AddObject",
    "DeleteObject",
    "Reboot",
    "Download",
    "Upload",
    "FactoryReset",
    "ScheduleInform",
    "ScheduleDownload",
    "CancelTransfer",
    "GetQueuedTransfers",
    "GetAllQueuedTransfers",
    "ChangeDUState",
];

/// The FileTypes this CPE downloads (PROTOCOL §9).
const DOWNLOAD_TYPES: [&str; 3] = [
    "1 Firmware Upgrade Image",
    "2 Web Content",
    "3 Vendor Configuration File",
];
/// The FileTypes this CPE uploads.
const UPLOAD_TYPES: [&str; 2] = ["1 Vendor Configuration File", "2 Vendor Log File"];

/// What an answer may leave for later: actions for the end of the session, and transfers.
pub struct Later<'a> {
    pub deferred: &'a mut Vec<Deferred>,
    pub transfers: &'a mut TransferQueue,
    /// The time a transfer's DelaySeconds or time windows count from.
    pub now: Instant,
}

/// The answer to `request` (an ACS → CPE message body); what it leaves for later goes to
/// `later`.
pub fn answer(device: &mut Device, request: &Body, later: Later<'_>) -> Body {
    let Later {
        deferred,
        transfers,
        now,
    } = later;
    match request {
        Body::GetRpcMethods(_) => cwmp::GetRpcMethodsResponse {
            method_list: CPE_METHODS.iter().map(|m| (*m).to_owned()).collect(),
        }
        .into(),
        Body::GetParameterNames(r) => {
            match device.get_parameter_names(&r.parameter_path, r.next_level) {
                Ok(list) => cwmp::GetParameterNamesResponse {
                    parameter_list: list
                        .into_iter()
                        .map(|p| cwmp::ParameterInfoStruct {
                            name: p.name,
                            writable: p.writable,
                        })
                        .collect(),
                }
                .into(),
                Err(f) => model_fault(&f),
            }
        }
        Body::GetParameterValues(r) => match device.get_parameter_values(&r.parameter_names) {
            Ok(values) => cwmp::GetParameterValuesResponse {
                parameter_list: values.into_iter().map(to_cwmp_value).collect(),
            }
            .into(),
            Err(f) => model_fault(&f),
        },
        Body::SetParameterValues(r) => {
            let items: Vec<SetValue<'_>> = r
                .parameter_list
                .iter()
                .map(|p| SetValue {
                    name: &p.name,
                    value: &p.value.raw,
                    ty: declared_type(&p.value.xsd_type),
                })
                .collect();
            match device.set_parameter_values(&items, &r.parameter_key) {
                Ok(()) => cwmp::SetParameterValuesResponse { status: 0 }.into(),
                Err(f) => model_fault(&f),
            }
        }
        Body::GetParameterAttributes(r) => {
            match device.get_parameter_attributes(&r.parameter_names) {
                Ok(list) => cwmp::GetParameterAttributesResponse {
                    parameter_list: list
                        .into_iter()
                        .map(|a| cwmp::ParameterAttributeStruct {
                            name: a.name,
                            notification: i32::from(a.notification),
                            access_list: a.access_list,
                        })
                        .collect(),
                }
                .into(),
                Err(f) => model_fault(&f),
            }
        }
        Body::SetParameterAttributes(r) => {
            let mut items = Vec::with_capacity(r.parameter_list.len());
            for p in &r.parameter_list {
                let notification = match u8::try_from(p.notification) {
                    _ if !p.notification_change => None,
                    Ok(n) => Some(n),
                    Err(_) => {
                        return fault(
                            9003,
                            format!("invalid notification {} for {}", p.notification, p.name),
                        );
                    }
                };
                items.push(SetAttributes {
                    name: &p.name,
                    notification,
                    access_list: p.access_list_change.then(|| p.access_list.clone()),
                });
            }
            match device.set_parameter_attributes(&items) {
                Ok(()) => cwmp::SetParameterAttributesResponse.into(),
                Err(f) => model_fault(&f),
            }
        }
        Body::AddObject(r) => match device.add_object(&r.object_name, &r.parameter_key) {
            Ok(instance_number) => cwmp::AddObjectResponse {
                instance_number,
                status: 0,
            }
            .into(),
            Err(f) => model_fault(&f),
        },
        Body::DeleteObject(r) => match device.delete_object(&r.object_name, &r.parameter_key) {
            Ok(()) => cwmp::DeleteObjectResponse { status: 0 }.into(),
            Err(f) => model_fault(&f),
        },
        Body::Reboot(r) => {
            deferred.push(Deferred::Reboot {
                command_key: r.command_key.clone(),
            });
            cwmp::RebootResponse.into()
        }
        Body::FactoryReset(_) => {
            deferred.push(Deferred::FactoryReset);
            cwmp::FactoryResetResponse.into()
        }
        Body::ScheduleInform(r) => {
            if r.delay_seconds == 0 {
                return fault(9003, "ScheduleInform with DelaySeconds 0".to_owned());
            }
            deferred.push(Deferred::ScheduleInform {
                delay_seconds: r.delay_seconds,
                command_key: r.command_key.clone(),
            });
            cwmp::ScheduleInformResponse.into()
        }
        Body::Download(r) => {
            if let Some(f) = download_refusal(&r.file_type, &r.url) {
                return f;
            }
            let delay = Duration::from_secs(u64::from(r.delay_seconds));
            match transfers.push_delayed(Job::Download(r.clone()), now, delay) {
                Ok(()) => Body::DownloadResponse(cwmp::TransferResponse::default()),
                Err((code, message)) => fault(code, message),
            }
        }
        Body::Upload(r) => {
            if !UPLOAD_TYPES.contains(&r.file_type.as_str()) {
                return fault(9003, format!("unsupported FileType {:?}", r.file_type));
            }
            if !r.url.starts_with("http://") {
                return fault(9013, format!("unsupported protocol in {}", r.url));
            }
            let delay = Duration::from_secs(u64::from(r.delay_seconds));
            match transfers.push_delayed(Job::Upload(r.clone()), now, delay) {
                Ok(()) => Body::UploadResponse(cwmp::TransferResponse::default()),
                Err((code, message)) => fault(code, message),
            }
        }
        Body::ScheduleDownload(r) => {
            if let Some(f) = download_refusal(&r.file_type, &r.url) {
                return f;
            }
            match transfers.push_scheduled(r.clone(), now) {
                Ok(()) => cwmp::ScheduleDownloadResponse.into(),
                Err((code, message)) => fault(code, message),
            }
        }
        Body::CancelTransfer(r) => match transfers.cancel(&r.command_key) {
            Ok(()) => cwmp::CancelTransferResponse.into(),
            Err((code, message)) => fault(code, message),
        },
        Body::GetQueuedTransfers(_) => cwmp::GetQueuedTransfersResponse {
            transfer_list: transfers.list(),
        }
        .into(),
        Body::GetAllQueuedTransfers(_) => cwmp::GetAllQueuedTransfersResponse {
            transfer_list: transfers.list_all(),
        }
        .into(),
        Body::ChangeDuState(r) => {
            if r.operations.is_empty() {
                return fault(9003, "ChangeDUState without Operations".to_owned());
            }
            deferred.push(Deferred::ChangeDuState(r.clone()));
            cwmp::ChangeDuStateResponse.into()
        }
        other => fault(9000, format!("method {} not supported", other.name())),
    }
}

/// The fault for a download this CPE cannot carry out (an unknown FileType, not plain
/// HTTP); `None` when it can.
fn download_refusal(file_type: &str, url: &str) -> Option<Body> {
    if !DOWNLOAD_TYPES.contains(&file_type) {
        return Some(fault(9003, format!("unsupported FileType {file_type:?}")));
    }
    if !url.starts_with("http://") {
        return Some(fault(9013, format!("unsupported protocol in {url}")));
    }
    None
}

/// The type a SetParameterValues entry declares. `xsd:string` counts as "no type": the codec
/// reads a missing `xsi:type` as string, and an ACS that leaves the type out must not get
/// 9006 for a number; a string that is not a number still gets 9006 from the value check.
fn declared_type(t: &cwmp::XsdType) -> Option<cwmp::XsdType> {
    match t {
        cwmp::XsdType::String => None,
        // A type the data model does not know cannot match the parameter's: 9006.
        cwmp::XsdType::Other(_) => Some(cwmp::XsdType::String),
        known => Some(known.clone()),
    }
}

/// A data-model value as a `ParameterValueStruct`.
pub fn to_cwmp_value(p: datamodel::ParameterValue) -> cwmp::ParameterValueStruct {
    cwmp::ParameterValueStruct::new(p.name, cwmp::Value::parse(p.ty, p.value))
}

/// A SOAP Fault with `code` and `message`.
pub fn fault(code: u32, message: String) -> Body {
    let code = FaultCode(code);
    Body::Fault(Fault {
        fault_code: code.class(),
        fault_string: "CWMP fault".to_owned(),
        detail: Some(CwmpFault {
            fault_code: code,
            fault_string: Some(message),
            set_parameter_values_faults: Vec::new(),
        }),
    })
}

/// A data-model fault as a SOAP Fault; SetParameterValues lists each faulty parameter.
fn model_fault(f: &datamodel::Fault) -> Body {
    let mut body = fault(f.code(), f.to_string());
    if let Body::Fault(Fault {
        detail: Some(d), ..
    }) = &mut body
    {
        d.set_parameter_values_faults = f
            .parameter_faults()
            .iter()
            .map(|p| SetParameterValuesFault {
                parameter_name: p.parameter().unwrap_or_default().to_owned(),
                fault_code: FaultCode(p.code()),
                fault_string: Some(p.to_string()),
            })
            .collect();
    }
    body
}
