//! The Body of an envelope: one message.

use crate::error::DecodeError;
use crate::fault::Fault;
use crate::rpc::*;
use crate::xml::fields::XmlStruct;
use crate::xml::tree::El;
use crate::xml::writer::Writer;

macro_rules! body {
    ($($(#[$meta:meta])* $variant:ident($ty:ty) = $name:literal,)*) => {
        /// The message in a SOAP Body: every CWMP RPC in both directions, a Fault, or a
        /// method this crate does not know.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Body {
            $($(#[$meta])* $variant($ty),)*
            /// A SOAP Fault (CPE or ACS fault).
            Fault(Fault),
            /// A method this crate does not implement (SetVouchers, GetOptions, vendor
            /// methods…): the ACS answers it with fault 8000 and the CPE with 9000.
            Unknown {
                /// The element's local name.
                name: String,
            },
        }

        impl Body {
            /// The element name on the wire (`GetRPCMethods`, `Fault`, or the unknown name).
            pub fn name(&self) -> &str {
                match self {
                    $(Body::$variant(_) => $name,)*
                    Body::Fault(_) => "Fault",
                    Body::Unknown { name } => name,
                }
            }

            /// Reads an RPC element by its local name; `None` for a name not listed.
            pub(crate) fn read_rpc(name: &str, el: El<'_, '_>) -> Option<Result<Body, DecodeError>> {
                Some(match name {
                    $($name => <$ty>::read(el).map(Body::$variant),)*
                    _ => return None,
                })
            }

            pub(crate) fn write(&self, w: &mut Writer<'_>) {
                match self {
                    $(Body::$variant(m) => {
                        w.raw(concat!("<cwmp:", $name, ">"));
                        m.write(w);
                        w.raw(concat!("</cwmp:", $name, ">"));
                    })*
                    Body::Fault(f) => f.write(w),
                    Body::Unknown { name } => {
                        // The name came from a lenient parser: keep it a valid XML name.
                        w.raw("<cwmp:");
                        if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                            w.raw("_");
                        }
                        for c in name.chars() {
                            let keep = c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
                            w.out.push(if keep { c } else { '_' });
                        }
                        w.raw("/>");
                    }
                }
            }
        }
    };
}

body! {
    GetRpcMethods(GetRpcMethods) = "GetRPCMethods",
    GetRpcMethodsResponse(GetRpcMethodsResponse) = "GetRPCMethodsResponse",
    SetParameterValues(SetParameterValues) = "SetParameterValues",
    SetParameterValuesResponse(SetParameterValuesResponse) = "SetParameterValuesResponse",
    GetParameterValues(GetParameterValues) = "GetParameterValues",
    GetParameterValuesResponse(GetParameterValuesResponse) = "GetParameterValuesResponse",
    GetParameterNames(GetParameterNames) = "GetParameterNames",
    GetParameterNamesResponse(GetParameterNamesResponse) = "GetParameterNamesResponse",
    SetParameterAttributes(SetParameterAttributes) = "SetParameterAttributes",
    SetParameterAttributesResponse(SetParameterAttributesResponse) = "SetParameterAttributesResponse",
    GetParameterAttributes(GetParameterAttributes) = "GetParameterAttributes",
    GetParameterAttributesResponse(GetParameterAttributesResponse) = "GetParameterAttributesResponse",
    AddObject(AddObject) = "AddObject",
    AddObjectResponse(AddObjectResponse) = "AddObjectResponse",
    DeleteObject(DeleteObject) = "DeleteObject",
    DeleteObjectResponse(DeleteObjectResponse) = "DeleteObjectResponse",
    Reboot(Reboot) = "Reboot",
    RebootResponse(RebootResponse) = "RebootResponse",
    Download(Download) = "Download",
    DownloadResponse(DownloadResponse) = "DownloadResponse",
    Upload(Upload) = "Upload",
    UploadResponse(UploadResponse) = "UploadResponse",
    FactoryReset(FactoryReset) = "FactoryReset",
    FactoryResetResponse(FactoryResetResponse) = "FactoryResetResponse",
    ScheduleInform(ScheduleInform) = "ScheduleInform",
    ScheduleInformResponse(ScheduleInformResponse) = "ScheduleInformResponse",
    ScheduleDownload(ScheduleDownload) = "ScheduleDownload",
    ScheduleDownloadResponse(ScheduleDownloadResponse) = "ScheduleDownloadResponse",
    CancelTransfer(CancelTransfer) = "CancelTransfer",
    CancelTransferResponse(CancelTransferResponse) = "CancelTransferResponse",
    ChangeDuState(ChangeDuState) = "ChangeDUState",
    ChangeDuStateResponse(ChangeDuStateResponse) = "ChangeDUStateResponse",
    GetQueuedTransfers(GetQueuedTransfers) = "GetQueuedTransfers",
    GetQueuedTransfersResponse(GetQueuedTransfersResponse) = "GetQueuedTransfersResponse",
    GetAllQueuedTransfers(GetAllQueuedTransfers) = "GetAllQueuedTransfers",
    GetAllQueuedTransfersResponse(GetAllQueuedTransfersResponse) = "GetAllQueuedTransfersResponse",
    Inform(Inform) = "Inform",
    InformResponse(InformResponse) = "InformResponse",
    TransferComplete(TransferComplete) = "TransferComplete",
    TransferCompleteResponse(TransferCompleteResponse) = "TransferCompleteResponse",
    AutonomousTransferComplete(AutonomousTransferComplete) = "AutonomousTransferComplete",
    AutonomousTransferCompleteResponse(AutonomousTransferCompleteResponse) = "AutonomousTransferCompleteResponse",
    RequestDownload(RequestDownload) = "RequestDownload",
    RequestDownloadResponse(RequestDownloadResponse) = "RequestDownloadResponse",
    DuStateChangeComplete(DuStateChangeComplete) = "DUStateChangeComplete",
    DuStateChangeCompleteResponse(DuStateChangeCompleteResponse) = "DUStateChangeCompleteResponse",
    AutonomousDuStateChangeComplete(AutonomousDuStateChangeComplete) = "AutonomousDUStateChangeComplete",
    AutonomousDuStateChangeCompleteResponse(AutonomousDuStateChangeCompleteResponse) = "AutonomousDUStateChangeCompleteResponse",
    /// Decoded, but this ACS answers it with fault 8000 ([`Body::is_supported_by_acs`]).
    Kicked(Kicked) = "Kicked",
    KickedResponse(KickedResponse) = "KickedResponse",
}

impl Body {
    /// Whether an ACS built on this crate implements this CPE → ACS request. `false` for
    /// Kicked (PROTOCOL §7.2: rare, identity web flow) and unknown methods: answer those
    /// with [`Fault::new`]`(FaultCode::METHOD_NOT_SUPPORTED)`. Responses and faults are not
    /// requests and return `true`.
    pub fn is_supported_by_acs(&self) -> bool {
        !matches!(self, Body::Kicked(_) | Body::Unknown { .. })
    }
}
