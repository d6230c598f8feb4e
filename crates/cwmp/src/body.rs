//! The Body of an envelope: one message; and [`Method`], the one table of CWMP RPCs (wire
//! name, who sends it, the response it expects, the version that defines it).

use crate::error::DecodeError;
use crate::fault::Fault;
use crate::namespace::CwmpVersion;
use crate::rpc::*;
use crate::xml::fields::XmlStruct;
use crate::xml::tree::El;
use crate::xml::writer::Writer;

/// Who sends a [`Method`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// A CPE method (TR-069 A6 Annex A, Table 5): the ACS calls it, the CPE answers.
    AcsToCpe,
    /// An ACS method (Table 6): the CPE calls it, the ACS answers.
    CpeToAcs,
    /// In both tables: either side may call it (GetRPCMethods).
    Either,
    /// The answer to a request of the other side.
    Response,
}

macro_rules! body {
    ($(
        $(#[$meta:meta])*
        $request:ident => $response:ident: $name:literal, $direction:ident, $since:ident;
    )*) => {
        /// The message in a SOAP Body: every CWMP RPC in both directions, a Fault, or a
        /// method this crate does not know.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Body {
            $(
                $(#[$meta])*
                $request($request),
                $response($response),
            )*
            /// A SOAP Fault (CPE or ACS fault).
            Fault(Fault),
            /// A method this crate does not implement (SetVouchers, GetOptions, vendor
            /// methods…): the ACS answers it with fault 8000 and the CPE with 9000.
            Unknown {
                /// The element's local name.
                name: String,
            },
        }

        /// Every CWMP RPC and response this crate knows, by its [`Body`] variant's name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Method {
            $($request, $response,)*
        }

        impl Method {
            /// Every method, each request followed by its response.
            pub const ALL: &'static [Method] = &[$(Method::$request, Method::$response,)*];

            /// The element name on the wire (`GetRPCMethods`, `ChangeDUStateResponse`).
            pub fn name(self) -> &'static str {
                match self {
                    $(
                        Method::$request => $name,
                        Method::$response => concat!($name, "Response"),
                    )*
                }
            }

            /// The method with this element name; `None` for a name not listed.
            pub fn from_name(name: &str) -> Option<Method> {
                Some(match name {
                    $(
                        $name => Method::$request,
                        concat!($name, "Response") => Method::$response,
                    )*
                    _ => return None,
                })
            }

            /// Who sends it.
            pub fn direction(self) -> Direction {
                match self {
                    $(
                        Method::$request => Direction::$direction,
                        Method::$response => Direction::Response,
                    )*
                }
            }

            /// The response a request expects (`Reboot` -> `RebootResponse`); `None` for a
            /// response.
            pub fn expected_response(self) -> Option<Method> {
                match self {
                    $(
                        Method::$request => Some(Method::$response),
                        Method::$response => None,
                    )*
                }
            }

            /// The CWMP version whose schema first defines it: a peer that speaks an older
            /// version does not know the element.
            pub fn since(self) -> CwmpVersion {
                match self {
                    $(Method::$request | Method::$response => CwmpVersion::$since,)*
                }
            }
        }

        impl Body {
            /// The method of an RPC or response; `None` for a Fault or an unknown method.
            pub fn method(&self) -> Option<Method> {
                match self {
                    $(
                        Body::$request(_) => Some(Method::$request),
                        Body::$response(_) => Some(Method::$response),
                    )*
                    Body::Fault(_) | Body::Unknown { .. } => None,
                }
            }

            /// Reads an RPC element by its local name; `None` for a name not listed.
            pub(crate) fn read_rpc(name: &str, el: El<'_, '_>) -> Option<Result<Body, DecodeError>> {
                Some(match Method::from_name(name)? {
                    $(
                        Method::$request => <$request>::read(el).map(Body::$request),
                        Method::$response => <$response>::read(el).map(Body::$response),
                    )*
                })
            }

            pub(crate) fn write(&self, w: &mut Writer<'_>) {
                match self {
                    $(
                        Body::$request(m) => write_rpc(w, $name, m),
                        Body::$response(m) => write_rpc(w, concat!($name, "Response"), m),
                    )*
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

fn write_rpc(w: &mut Writer<'_>, name: &str, message: &impl XmlStruct) {
    w.raw("<cwmp:");
    w.raw(name);
    w.raw(">");
    message.write(w);
    w.raw("</cwmp:");
    w.raw(name);
    w.raw(">");
}

// request => response: wire name of the request (the response adds `Response`), who sends
// the request, the version that first defines both (PROTOCOL §7; checked against the
// schemas by `tests/method_versions.rs`).
body! {
    GetRpcMethods => GetRpcMethodsResponse: "GetRPCMethods", Either, V1_0;
    SetParameterValues => SetParameterValuesResponse: "SetParameterValues", AcsToCpe, V1_0;
    GetParameterValues => GetParameterValuesResponse: "GetParameterValues", AcsToCpe, V1_0;
    GetParameterNames => GetParameterNamesResponse: "GetParameterNames", AcsToCpe, V1_0;
    SetParameterAttributes => SetParameterAttributesResponse:
        "SetParameterAttributes", AcsToCpe, V1_0;
    GetParameterAttributes => GetParameterAttributesResponse:
        "GetParameterAttributes", AcsToCpe, V1_0;
    AddObject => AddObjectResponse: "AddObject", AcsToCpe, V1_0;
    DeleteObject => DeleteObjectResponse: "DeleteObject", AcsToCpe, V1_0;
    Reboot => RebootResponse: "Reboot", AcsToCpe, V1_0;
    Download => DownloadResponse: "Download", AcsToCpe, V1_0;
    Upload => UploadResponse: "Upload", AcsToCpe, V1_0;
    FactoryReset => FactoryResetResponse: "FactoryReset", AcsToCpe, V1_0;
    ScheduleInform => ScheduleInformResponse: "ScheduleInform", AcsToCpe, V1_0;
    ScheduleDownload => ScheduleDownloadResponse: "ScheduleDownload", AcsToCpe, V1_2;
    CancelTransfer => CancelTransferResponse: "CancelTransfer", AcsToCpe, V1_2;
    ChangeDuState => ChangeDuStateResponse: "ChangeDUState", AcsToCpe, V1_2;
    GetQueuedTransfers => GetQueuedTransfersResponse: "GetQueuedTransfers", AcsToCpe, V1_0;
    GetAllQueuedTransfers => GetAllQueuedTransfersResponse:
        "GetAllQueuedTransfers", AcsToCpe, V1_1;
    Inform => InformResponse: "Inform", CpeToAcs, V1_0;
    TransferComplete => TransferCompleteResponse: "TransferComplete", CpeToAcs, V1_0;
    AutonomousTransferComplete => AutonomousTransferCompleteResponse:
        "AutonomousTransferComplete", CpeToAcs, V1_1;
    RequestDownload => RequestDownloadResponse: "RequestDownload", CpeToAcs, V1_0;
    DuStateChangeComplete => DuStateChangeCompleteResponse:
        "DUStateChangeComplete", CpeToAcs, V1_2;
    AutonomousDuStateChangeComplete => AutonomousDuStateChangeCompleteResponse:
        "AutonomousDUStateChangeComplete", CpeToAcs, V1_2;
    /// Decoded, but this ACS answers it with fault 8000 ([`Body::is_supported_by_acs`]).
    Kicked => KickedResponse: "Kicked", CpeToAcs, V1_0;
}

impl Method {
    /// Whether the ACS may send it as a request (a CPE method, or GetRPCMethods).
    pub fn is_acs_request(self) -> bool {
        matches!(self.direction(), Direction::AcsToCpe | Direction::Either)
    }

    /// Whether the CPE may send it as a request (an ACS method, or GetRPCMethods).
    pub fn is_cpe_request(self) -> bool {
        matches!(self.direction(), Direction::CpeToAcs | Direction::Either)
    }

    /// Whether an ACS built on this crate implements it; `false` for Kicked only (PROTOCOL
    /// §7.2: rare, identity web flow).
    pub fn is_supported_by_acs(self) -> bool {
        self != Method::Kicked
    }
}

impl Body {
    /// The element name on the wire (`GetRPCMethods`, `Fault`, or the unknown name).
    pub fn name(&self) -> &str {
        match (self.method(), self) {
            (Some(method), _) => method.name(),
            (None, Body::Unknown { name }) => name,
            (None, _) => "Fault",
        }
    }

    /// Whether an ACS built on this crate implements this CPE → ACS request. `false` for
    /// Kicked (PROTOCOL §7.2: rare, identity web flow) and unknown methods: answer those
    /// with [`Fault::new`]`(FaultCode::METHOD_NOT_SUPPORTED)`. Responses and faults are not
    /// requests and return `true`.
    pub fn is_supported_by_acs(&self) -> bool {
        match self.method() {
            Some(method) => method.is_supported_by_acs(),
            None => !matches!(self, Body::Unknown { .. }),
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_names_its_response_and_every_name_reads_back() {
        for &method in Method::ALL {
            assert_eq!(Method::from_name(method.name()), Some(method), "{method}");
            match method.expected_response() {
                Some(response) => {
                    assert_ne!(method.direction(), Direction::Response, "{method}");
                    assert_eq!(response.direction(), Direction::Response, "{method}");
                    assert_eq!(response.name(), format!("{method}Response"));
                    assert_eq!(response.since(), method.since(), "{method}");
                }
                None => assert_eq!(method.direction(), Direction::Response, "{method}"),
            }
        }
        assert_eq!(
            Method::Reboot.expected_response(),
            Some(Method::RebootResponse)
        );
        assert_eq!(Method::ChangeDuState.name(), "ChangeDUState");
        assert!(Method::GetRpcMethods.is_acs_request() && Method::GetRpcMethods.is_cpe_request());
        assert!(!Method::Inform.is_acs_request() && !Method::Kicked.is_supported_by_acs());
        assert_eq!(Method::from_name("SetVouchers"), None);
    }
}
