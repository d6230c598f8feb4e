//! SOAP faults with CWMP detail, and the CWMP fault code tables (PROTOCOL §5).

use std::fmt;

use crate::error::DecodeError;
use crate::xml::fields::{XmlStruct, write_struct, xml_struct};
use crate::xml::tree::El;
use crate::xml::writer::Writer;

/// The SOAP `faultcode`: who is to blame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultClass {
    /// The request was wrong.
    Client,
    /// The receiver failed.
    Server,
    /// Anything else, kept as its local part.
    Other(String),
}

impl FaultClass {
    /// Reads a `faultcode`: only the local part counts, because Thomson sends `Client` and
    /// others `SOAP-ENV:Client` (PROTOCOL §5).
    pub fn parse(s: &str) -> FaultClass {
        let s = s.trim();
        match s.rsplit_once(':').map_or(s, |(_, l)| l) {
            "Client" => FaultClass::Client,
            "Server" => FaultClass::Server,
            other => FaultClass::Other(other.to_owned()),
        }
    }

    /// The local part as written.
    pub fn as_str(&self) -> &str {
        match self {
            FaultClass::Client => "Client",
            FaultClass::Server => "Server",
            FaultClass::Other(s) => s,
        }
    }
}

/// A CWMP fault code: 8000–8899 from the ACS, 9000–9899 from the CPE; 0 means success in
/// transfer results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FaultCode(pub u32);

/// (code, meaning, faultcode class) for the standard codes of TR-069 A6 / cwmp-1-4.xsd.
const TABLE: &[(u32, &str, bool)] = &[
    // ACS faults; `true` = Client.
    (8000, "Method not supported", false),
    (8001, "Request denied (no reason specified)", false),
    (8002, "Internal error", false),
    (8003, "Invalid arguments", true),
    (8004, "Resources exceeded", false),
    (8005, "Retry request", false),
    (8006, "ACS version incompatible with CPE", false),
    // CPE faults.
    (9000, "Method not supported", false),
    (9001, "Request denied (no reason specified)", false),
    (9002, "Internal error", false),
    (9003, "Invalid arguments", true),
    (9004, "Resources exceeded", false),
    (9005, "Invalid parameter name", true),
    (9006, "Invalid parameter type", true),
    (9007, "Invalid parameter value", true),
    (9008, "Attempt to set a non-writable parameter", true),
    (9009, "Notification request rejected", false),
    (9010, "File transfer failure", false),
    (9011, "Upload failure", false),
    (9012, "File transfer server authentication failure", false),
    (9013, "Unsupported protocol for file transfer", false),
    (
        9014,
        "File transfer failure: unable to join multicast group",
        false,
    ),
    (
        9015,
        "File transfer failure: unable to contact file server",
        false,
    ),
    (9016, "File transfer failure: unable to access file", false),
    (
        9017,
        "File transfer failure: unable to complete download",
        false,
    ),
    (9018, "File transfer failure: file corrupted", false),
    (
        9019,
        "File transfer failure: file authentication failure",
        false,
    ),
    (
        9020,
        "File transfer failure: unable to complete download within specified time windows",
        false,
    ),
    (
        9021,
        "Cancelation of file transfer not permitted in current transfer state",
        true,
    ),
    (9022, "Invalid UUID format", true),
    (9023, "Unknown Execution Environment", true),
    (9024, "Disabled Execution Environment", true),
    (
        9025,
        "Deployment Unit to Execution Environment mismatch",
        true,
    ),
    (9026, "Duplicate Deployment Unit", true),
    (9027, "System resources exceeded", false),
    (9028, "Unknown Deployment Unit", true),
    (9029, "Invalid Deployment Unit state", true),
    (9030, "Invalid DU update - downgrade not permitted", true),
    (9031, "Invalid DU update - version not specified", true),
    (9032, "Invalid DU update - version already exists", true),
];

impl FaultCode {
    pub const METHOD_NOT_SUPPORTED: FaultCode = FaultCode(8000);
    pub const REQUEST_DENIED: FaultCode = FaultCode(8001);
    pub const INTERNAL_ERROR: FaultCode = FaultCode(8002);
    pub const INVALID_ARGUMENTS: FaultCode = FaultCode(8003);
    pub const RESOURCES_EXCEEDED: FaultCode = FaultCode(8004);
    pub const RETRY_REQUEST: FaultCode = FaultCode(8005);
    pub const VERSION_INCOMPATIBLE: FaultCode = FaultCode(8006);
    pub const CPE_METHOD_NOT_SUPPORTED: FaultCode = FaultCode(9000);
    pub const CPE_REQUEST_DENIED: FaultCode = FaultCode(9001);
    pub const CPE_INTERNAL_ERROR: FaultCode = FaultCode(9002);
    pub const CPE_INVALID_ARGUMENTS: FaultCode = FaultCode(9003);
    pub const CPE_RESOURCES_EXCEEDED: FaultCode = FaultCode(9004);
    pub const INVALID_PARAMETER_NAME: FaultCode = FaultCode(9005);
    pub const INVALID_PARAMETER_TYPE: FaultCode = FaultCode(9006);
    pub const INVALID_PARAMETER_VALUE: FaultCode = FaultCode(9007);
    pub const NON_WRITABLE_PARAMETER: FaultCode = FaultCode(9008);
    pub const NOTIFICATION_REJECTED: FaultCode = FaultCode(9009);
    pub const DOWNLOAD_FAILURE: FaultCode = FaultCode(9010);
    pub const UPLOAD_FAILURE: FaultCode = FaultCode(9011);

    /// The standard meaning, `None` for reserved and vendor codes.
    pub fn meaning(self) -> Option<&'static str> {
        TABLE
            .iter()
            .find(|(c, _, _)| *c == self.0)
            .map(|(_, m, _)| *m)
    }

    /// The SOAP faultcode the spec assigns; vendor and unknown codes count as `Server`.
    pub fn class(self) -> FaultClass {
        match TABLE.iter().find(|(c, _, _)| *c == self.0) {
            Some((_, _, true)) => FaultClass::Client,
            _ => FaultClass::Server,
        }
    }

    /// An ACS fault code (8000–8899).
    pub fn is_acs(self) -> bool {
        (8000..=8899).contains(&self.0)
    }

    /// A vendor-specific code (8800–8899, 9800–9899).
    pub fn is_vendor(self) -> bool {
        (8800..=8899).contains(&self.0) || (9800..=9899).contains(&self.0)
    }
}

impl fmt::Display for FaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.meaning() {
            Some(m) => write!(f, "{} ({m})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// A SOAP Fault in the Body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub fault_code: FaultClass,
    pub fault_string: String,
    /// The `cwmp:Fault` inside `detail`; some CPEs send faults without it (Cisco SPA122,
    /// genieacs#317).
    pub detail: Option<CwmpFault>,
}

xml_struct! {
    /// The CWMP part of a fault.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CwmpFault {
        pub fault_code: FaultCode => fault_code("FaultCode"),
        pub fault_string: Option<String> => text_opt("FaultString"),
        /// Per-parameter errors of a SetParameterValues fault; optional and often missing
        /// (genieacs#419), so fall back to the top-level code.
        pub set_parameter_values_faults: Vec<SetParameterValuesFault> =>
            repeated("SetParameterValuesFault"),
    }
}

xml_struct! {
    /// One parameter's error inside a SetParameterValues fault.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SetParameterValuesFault {
        pub parameter_name: String => text("ParameterName"),
        pub fault_code: FaultCode => fault_code("FaultCode"),
        pub fault_string: Option<String> => text_opt("FaultString"),
    }
}

impl Fault {
    /// A fault with the standard class and meaning of `code`, `faultstring` "CWMP fault".
    pub fn new(code: FaultCode) -> Fault {
        Fault {
            fault_code: code.class(),
            fault_string: "CWMP fault".to_owned(),
            detail: Some(CwmpFault {
                fault_code: code,
                fault_string: code.meaning().map(str::to_owned),
                set_parameter_values_faults: Vec::new(),
            }),
        }
    }

    /// The CWMP code, if the fault carries one.
    pub fn code(&self) -> Option<FaultCode> {
        self.detail.as_ref().map(|d| d.fault_code)
    }
}

impl XmlStruct for Fault {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        let detail = match el.child("detail").and_then(|d| d.child("Fault")) {
            Some(f) => Some(CwmpFault::read(f)?),
            None => None,
        };
        Ok(Fault {
            fault_code: FaultClass::parse(&el.string_or_empty("faultcode")),
            fault_string: el.string_or_empty("faultstring"),
            detail,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.raw("<soap-env:Fault><faultcode>");
        // SOAP 1.1 wants a QName; `soap-env` is declared on the Envelope.
        w.raw("soap-env:");
        w.text(self.fault_code.as_str());
        w.raw("</faultcode>");
        w.str("faultstring", &self.fault_string);
        if let Some(detail) = &self.detail {
            w.open("detail");
            write_struct(w, "cwmp:Fault", detail);
            w.close("detail");
        }
        w.raw("</soap-env:Fault>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_cover_8000_to_8006_and_9000_to_9032() {
        for code in (8000..=8006).chain(9000..=9032) {
            assert!(FaultCode(code).meaning().is_some(), "{code}");
        }
        assert_eq!(FaultCode(8007).meaning(), None);
        assert_eq!(FaultCode(9033).meaning(), None);
        assert_eq!(FaultCode(9005).class(), FaultClass::Client);
        assert_eq!(FaultCode(9002).class(), FaultClass::Server);
        assert_eq!(FaultCode(9850).class(), FaultClass::Server);
        assert!(FaultCode(9850).is_vendor() && !FaultCode(9850).is_acs());
        assert_eq!(FaultCode(8005).to_string(), "8005 (Retry request)");
    }

    #[test]
    fn faultcode_is_read_by_local_part() {
        assert_eq!(FaultClass::parse("SOAP-ENV:Client"), FaultClass::Client);
        assert_eq!(FaultClass::parse(" Server "), FaultClass::Server);
        assert_eq!(
            FaultClass::parse("env:Receiver"),
            FaultClass::Other("Receiver".into())
        );
    }
}
