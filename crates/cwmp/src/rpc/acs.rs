//! ACS methods (the CPE calls them, PROTOCOL §7.2): Inform, TransferComplete,
//! AutonomousTransferComplete, RequestDownload, DUStateChangeComplete,
//! AutonomousDUStateChangeComplete, Kicked; and their responses.

use super::{ParameterValueStruct, TransferFault, read_struct, write_parameter_list, write_struct};
use crate::error::DecodeError;
use crate::value::XsdDateTime;
use crate::xml::fields::XmlStruct;
use crate::xml::tree::El;
use crate::xml::writer::Writer;

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

/// Who the CPE is. The OUI is kept as sent: real devices send it in lower case (`00a859`),
/// so normalise for matching, never for storage (PROTOCOL §13).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceId {
    pub manufacturer: String,
    pub oui: String,
    pub product_class: String,
    pub serial_number: String,
}

impl XmlStruct for DeviceId {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(DeviceId {
            manufacturer: el.string_or_empty("Manufacturer"),
            oui: el.string("OUI")?,
            product_class: el.string_or_empty("ProductClass"),
            serial_number: el.string("SerialNumber")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.str("Manufacturer", &self.manufacturer);
        w.str("OUI", &self.oui);
        w.str("ProductClass", &self.product_class);
        w.str("SerialNumber", &self.serial_number);
    }
}

/// An Inform event such as `1 BOOT` or `M Download` (with its CommandKey).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventStruct {
    pub event_code: String,
    pub command_key: String,
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

impl XmlStruct for EventStruct {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(EventStruct {
            event_code: el.string("EventCode")?,
            command_key: el.string_or_empty("CommandKey"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.open("EventStruct");
        w.str("EventCode", &self.event_code);
        w.str("CommandKey", &self.command_key);
        w.close("EventStruct");
    }
}

/// The first message of every session.
#[derive(Debug, Clone, PartialEq)]
pub struct Inform {
    pub device_id: DeviceId,
    pub event: Vec<EventStruct>,
    /// Old Thomson firmware sends 2; the ACS still sends one envelope per message.
    pub max_envelopes: u32,
    /// Kept raw: CPEs send no zone, 1970 clocks, `2019-03-05T11:54::14`.
    pub current_time: XsdDateTime,
    /// Growing values mean the ACS failed the earlier attempts (PROTOCOL §15.16).
    pub retry_count: u32,
    pub parameter_list: Vec<ParameterValueStruct>,
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

impl XmlStruct for Inform {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        // Order-independent: AVM put Event after RetryCount (PROTOCOL §7.2).
        let optional_number = |name: &'static str, default: u32| -> Result<u32, DecodeError> {
            el.child(name)
                .map_or(Ok(default), |c| c.parse_number("unsignedInt"))
        };
        Ok(Inform {
            device_id: read_struct(el, "DeviceId")?,
            event: el.list("Event")?,
            max_envelopes: optional_number("MaxEnvelopes", 1)?,
            current_time: XsdDateTime::parse(el.string_or_empty("CurrentTime")),
            retry_count: optional_number("RetryCount", 0)?,
            parameter_list: el.list("ParameterList")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        write_struct(w, "DeviceId", &self.device_id);
        w.array("Event", "cwmp:EventStruct", &self.event, |w, e| e.write(w));
        w.num("MaxEnvelopes", self.max_envelopes);
        w.str("CurrentTime", &self.current_time.raw);
        w.num("RetryCount", self.retry_count);
        write_parameter_list(w, &self.parameter_list);
    }
}

/// The answer to Inform; `max_envelopes` is 1 since Amendment 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InformResponse {
    pub max_envelopes: u32,
}

impl Default for InformResponse {
    fn default() -> Self {
        InformResponse { max_envelopes: 1 }
    }
}

impl XmlStruct for InformResponse {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(InformResponse {
            max_envelopes: el.number("MaxEnvelopes", "unsignedInt")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.num("MaxEnvelopes", self.max_envelopes);
    }
}

/// The end of a Download/Upload/ScheduleDownload this ACS ordered; answer with
/// TransferCompleteResponse (not the autonomous one: freeacs#289).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferComplete {
    pub command_key: String,
    pub fault_struct: TransferFault,
    pub start_time: XsdDateTime,
    pub complete_time: XsdDateTime,
}

impl XmlStruct for TransferComplete {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(TransferComplete {
            command_key: el.string_or_empty("CommandKey"),
            fault_struct: read_struct(el, "FaultStruct")?,
            start_time: el.date_time("StartTime")?,
            complete_time: el.date_time("CompleteTime")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.str("CommandKey", &self.command_key);
        write_struct(w, "FaultStruct", &self.fault_struct);
        w.str("StartTime", &self.start_time.raw);
        w.str("CompleteTime", &self.complete_time.raw);
    }
}

/// The end of a transfer this ACS did not order (1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutonomousTransferComplete {
    pub announce_url: String,
    pub transfer_url: String,
    pub is_download: bool,
    pub file_type: String,
    pub file_size: u32,
    pub target_file_name: String,
    pub fault_struct: TransferFault,
    pub start_time: XsdDateTime,
    pub complete_time: XsdDateTime,
}

impl XmlStruct for AutonomousTransferComplete {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(AutonomousTransferComplete {
            announce_url: el.string_or_empty("AnnounceURL"),
            transfer_url: el.string_or_empty("TransferURL"),
            is_download: el.boolean("IsDownload")?,
            file_type: el.string("FileType")?,
            file_size: el.number("FileSize", "unsignedInt")?,
            target_file_name: el.string_or_empty("TargetFileName"),
            fault_struct: read_struct(el, "FaultStruct")?,
            start_time: el.date_time("StartTime")?,
            complete_time: el.date_time("CompleteTime")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.str("AnnounceURL", &self.announce_url);
        w.str("TransferURL", &self.transfer_url);
        w.bool("IsDownload", self.is_download);
        w.str("FileType", &self.file_type);
        w.num("FileSize", self.file_size);
        w.str("TargetFileName", &self.target_file_name);
        write_struct(w, "FaultStruct", &self.fault_struct);
        w.str("StartTime", &self.start_time.raw);
        w.str("CompleteTime", &self.complete_time.raw);
    }
}

/// A name/value argument of RequestDownload (`ArgStruct`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ArgStruct {
    pub name: String,
    pub value: String,
}

impl XmlStruct for ArgStruct {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(ArgStruct {
            name: el.string("Name")?,
            value: el.string_or_empty("Value"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.open("ArgStruct");
        w.str("Name", &self.name);
        w.str("Value", &self.value);
        w.close("ArgStruct");
    }
}

/// The CPE asks the ACS to send it a Download of this file type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestDownload {
    pub file_type: String,
    pub file_type_arg: Vec<ArgStruct>,
}

impl XmlStruct for RequestDownload {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(RequestDownload {
            file_type: el.string("FileType")?,
            file_type_arg: el.list("FileTypeArg")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.str("FileType", &self.file_type);
        w.array(
            "FileTypeArg",
            "cwmp:ArgStruct",
            &self.file_type_arg,
            |w, a| a.write(w),
        );
    }
}

/// The result of one deployment-unit operation (`OpResultStruct`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpResult {
    pub uuid: String,
    pub deployment_unit_ref: String,
    pub version: String,
    /// `Installed`, `Uninstalled` or `Failed`.
    pub current_state: String,
    pub resolved: bool,
    pub execution_unit_ref_list: String,
    pub start_time: XsdDateTime,
    pub complete_time: XsdDateTime,
    pub fault: TransferFault,
}

impl XmlStruct for OpResult {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(OpResult {
            uuid: el.string("UUID")?,
            deployment_unit_ref: el.string_or_empty("DeploymentUnitRef"),
            version: el.string_or_empty("Version"),
            current_state: el.string("CurrentState")?,
            resolved: el.boolean("Resolved")?,
            execution_unit_ref_list: el.string_or_empty("ExecutionUnitRefList"),
            start_time: el.date_time("StartTime")?,
            complete_time: el.date_time("CompleteTime")?,
            fault: read_struct(el, "Fault")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.str("UUID", &self.uuid);
        w.str("DeploymentUnitRef", &self.deployment_unit_ref);
        w.str("Version", &self.version);
        w.str("CurrentState", &self.current_state);
        w.bool("Resolved", self.resolved);
        w.str("ExecutionUnitRefList", &self.execution_unit_ref_list);
        w.str("StartTime", &self.start_time.raw);
        w.str("CompleteTime", &self.complete_time.raw);
        write_struct(w, "Fault", &self.fault);
    }
}

/// Results of a ChangeDUState this ACS ordered (1.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DuStateChangeComplete {
    pub results: Vec<OpResult>,
    pub command_key: String,
}

impl XmlStruct for DuStateChangeComplete {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(DuStateChangeComplete {
            results: el.repeated("Results")?,
            command_key: el.string_or_empty("CommandKey"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        for r in &self.results {
            write_struct(w, "Results", r);
        }
        w.str("CommandKey", &self.command_key);
    }
}

/// The result of a deployment-unit change the ACS did not order (`AutonOpResultStruct`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutonOpResult {
    pub result: OpResult,
    /// `Install`, `Update` or `Uninstall`.
    pub operation_performed: String,
}

impl XmlStruct for AutonOpResult {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(AutonOpResult {
            result: OpResult::read(el)?,
            operation_performed: el.string("OperationPerformed")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        self.result.write(w);
        w.str("OperationPerformed", &self.operation_performed);
    }
}

/// Results of deployment-unit changes the ACS did not order (1.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AutonomousDuStateChangeComplete {
    pub results: Vec<AutonOpResult>,
}

impl XmlStruct for AutonomousDuStateChangeComplete {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(AutonomousDuStateChangeComplete {
            results: el.repeated("Results")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        for r in &self.results {
            write_struct(w, "Results", r);
        }
    }
}

/// The web "kick" flow (rare). This ACS does not implement it and answers fault 8000, but
/// the message decodes so the session engine can say so precisely.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Kicked {
    pub command: String,
    pub referer: String,
    pub arg: String,
    pub next: String,
}

impl XmlStruct for Kicked {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(Kicked {
            command: el.string_or_empty("Command"),
            referer: el.string_or_empty("Referer"),
            arg: el.string_or_empty("Arg"),
            next: el.string_or_empty("Next"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.str("Command", &self.command);
        w.str("Referer", &self.referer);
        w.str("Arg", &self.arg);
        w.str("Next", &self.next);
    }
}

/// The answer to Kicked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KickedResponse {
    pub next_url: String,
}

impl XmlStruct for KickedResponse {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(KickedResponse {
            next_url: el.string_or_empty("NextURL"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.str("NextURL", &self.next_url);
    }
}
