//! ACS methods (the CPE calls them, PROTOCOL §7.2): Inform, TransferComplete,
//! AutonomousTransferComplete, RequestDownload, DUStateChangeComplete,
//! AutonomousDUStateChangeComplete, Kicked; and their responses.

use super::{ParameterValueStruct, TransferFault};
use crate::value::XsdDateTime;
use crate::xml::fields::xml_struct;

super::empty_messages! {
    /// Empty response to TransferComplete.
    TransferCompleteResponse;
    /// Empty response to AutonomousTransferComplete.
    AutonomousTransferCompleteResponse;
    /// Empty response to RequestDownload.
    RequestDownloadResponse;
    /// Empty response to DUStateChangeComplete.
    DuStateChangeCompleteResponse;
    /// Empty response to AutonomousDUStateChangeComplete.
    AutonomousDuStateChangeCompleteResponse;
}

xml_struct! {
    /// Who the CPE is. The OUI is kept as sent: real devices send it in lower case (`00a859`),
    /// so normalise for matching, never for storage (PROTOCOL §13).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct DeviceId {
        pub manufacturer: String => text_or_empty("Manufacturer"),
        pub oui: String => text("OUI"),
        pub product_class: String => text_or_empty("ProductClass"),
        pub serial_number: String => text("SerialNumber"),
    }
}

xml_struct! {
    /// An Inform event such as `1 BOOT` or `M Download` (with its CommandKey).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct EventStruct {
        pub event_code: String => text("EventCode"),
        pub command_key: String => text_or_empty("CommandKey"),
    }
}

impl EventStruct {
    /// An event without CommandKey.
    pub fn new(event_code: impl Into<String>) -> Self {
        EventStruct {
            event_code: event_code.into(),
            command_key: String::new(),
        }
    }
}

xml_struct! {
    /// The first message of every session. Children are read in any order: AVM put Event
    /// after RetryCount (PROTOCOL §7.2).
    #[derive(Debug, Clone, PartialEq)]
    pub struct Inform {
        pub device_id: DeviceId => nested("DeviceId"),
        pub event: Vec<EventStruct> => array("Event", "EventStruct"),
        /// Old Thomson firmware sends 2; the ACS still sends one envelope per message.
        pub max_envelopes: u32 => number_or("MaxEnvelopes", 1),
        /// Kept raw: CPEs send no zone, 1970 clocks, `2019-03-05T11:54::14`.
        pub current_time: XsdDateTime => date_time_or_empty("CurrentTime"),
        /// Growing values mean the ACS failed the earlier attempts (PROTOCOL §15.16).
        pub retry_count: u32 => number_or("RetryCount", 0),
        pub parameter_list: Vec<ParameterValueStruct> =>
            array("ParameterList", "ParameterValueStruct"),
    }
}

impl Inform {
    /// Whether an event with this code (e.g. `0 BOOTSTRAP`) is present.
    pub fn has_event(&self, code: &str) -> bool {
        self.event.iter().any(|e| e.event_code.trim() == code)
    }

    /// The value of a parameter in the Inform, by full name.
    pub fn parameter(&self, name: &str) -> Option<&crate::Value> {
        self.parameter_list
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.value)
    }
}

xml_struct! {
    /// The answer to Inform; `max_envelopes` is 1 since Amendment 1.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct InformResponse {
        pub max_envelopes: u32 => number("MaxEnvelopes"),
    }
}

impl Default for InformResponse {
    fn default() -> Self {
        InformResponse { max_envelopes: 1 }
    }
}

xml_struct! {
    /// The end of a Download/Upload/ScheduleDownload this ACS ordered; answer with
    /// TransferCompleteResponse (not the autonomous one: freeacs#289).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct TransferComplete {
        pub command_key: String => text_or_empty("CommandKey"),
        pub fault_struct: TransferFault => nested("FaultStruct"),
        pub start_time: XsdDateTime => date_time("StartTime"),
        pub complete_time: XsdDateTime => date_time("CompleteTime"),
    }
}

xml_struct! {
    /// The end of a transfer this ACS did not order (1.1).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct AutonomousTransferComplete {
        pub announce_url: String => text_or_empty("AnnounceURL"),
        pub transfer_url: String => text_or_empty("TransferURL"),
        pub is_download: bool => boolean("IsDownload"),
        pub file_type: String => text("FileType"),
        pub file_size: u32 => number("FileSize"),
        pub target_file_name: String => text_or_empty("TargetFileName"),
        pub fault_struct: TransferFault => nested("FaultStruct"),
        pub start_time: XsdDateTime => date_time("StartTime"),
        pub complete_time: XsdDateTime => date_time("CompleteTime"),
    }
}

xml_struct! {
    /// A name/value argument of RequestDownload (`ArgStruct`).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct ArgStruct {
        pub name: String => text("Name"),
        pub value: String => text_or_empty("Value"),
    }
}

xml_struct! {
    /// The CPE asks the ACS to send it a Download of this file type.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct RequestDownload {
        pub file_type: String => text("FileType"),
        pub file_type_arg: Vec<ArgStruct> => array("FileTypeArg", "ArgStruct"),
    }
}

xml_struct! {
    /// The result of one deployment-unit operation (`OpResultStruct`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct OpResult {
        pub uuid: String => text("UUID"),
        pub deployment_unit_ref: String => text_or_empty("DeploymentUnitRef"),
        pub version: String => text_or_empty("Version"),
        /// `Installed`, `Uninstalled` or `Failed`.
        pub current_state: String => text("CurrentState"),
        pub resolved: bool => boolean("Resolved"),
        pub execution_unit_ref_list: String => text_or_empty("ExecutionUnitRefList"),
        pub start_time: XsdDateTime => date_time("StartTime"),
        pub complete_time: XsdDateTime => date_time("CompleteTime"),
        pub fault: TransferFault => nested("Fault"),
    }
}

xml_struct! {
    /// Results of a ChangeDUState this ACS ordered (1.2).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct DuStateChangeComplete {
        pub results: Vec<OpResult> => repeated("Results"),
        pub command_key: String => text_or_empty("CommandKey"),
    }
}

xml_struct! {
    /// The result of a deployment-unit change the ACS did not order (`AutonOpResultStruct`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct AutonOpResult {
        pub result: OpResult => flatten(),
        /// `Install`, `Update` or `Uninstall`.
        pub operation_performed: String => text("OperationPerformed"),
    }
}

xml_struct! {
    /// Results of deployment-unit changes the ACS did not order (1.2).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct AutonomousDuStateChangeComplete {
        pub results: Vec<AutonOpResult> => repeated("Results"),
    }
}

xml_struct! {
    /// The web "kick" flow (rare). This ACS does not implement it and answers fault 8000, but
    /// the message decodes so the session engine can say so precisely.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Kicked {
        pub command: String => text_or_empty("Command"),
        pub referer: String => text_or_empty("Referer"),
        pub arg: String => text_or_empty("Arg"),
        pub next: String => text_or_empty("Next"),
    }
}

xml_struct! {
    /// The answer to Kicked.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct KickedResponse {
        pub next_url: String => text_or_empty("NextURL"),
    }
}
