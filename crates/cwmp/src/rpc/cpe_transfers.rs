//! CPE methods about reboots, transfers and deployment units (PROTOCOL §7.1): Reboot,
//! FactoryReset, ScheduleInform, Download, Upload, ScheduleDownload, CancelTransfer,
//! Get(All)QueuedTransfers, ChangeDUState.

use crate::error::DecodeError;
use crate::value::XsdDateTime;
use crate::xml::fields::{XmlStruct, xml_struct};
use crate::xml::tree::El;
use crate::xml::writer::Writer;

super::empty_messages! {
    /// Empty response to Reboot.
    RebootResponse;
    /// Resets the CPE to factory defaults (it comes back with `0 BOOTSTRAP`).
    FactoryReset;
    /// Empty response to FactoryReset.
    FactoryResetResponse;
    /// Empty response to ScheduleInform.
    ScheduleInformResponse;
    /// Empty response to ScheduleDownload.
    ScheduleDownloadResponse;
    /// Empty response to CancelTransfer.
    CancelTransferResponse;
    /// Empty response to ChangeDUState.
    ChangeDuStateResponse;
    /// Lists transfers queued by this ACS.
    GetQueuedTransfers;
    /// Lists all queued transfers, autonomous ones included (1.1).
    GetAllQueuedTransfers;
}

xml_struct! {
    /// Reboots after the session; the next Inform carries `1 BOOT` + `M Reboot` with this key.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Reboot {
        pub command_key: String => text_or_empty("CommandKey"),
    }
}

xml_struct! {
    /// Asks for an Inform with `3 SCHEDULED` + `M ScheduleInform` after `delay_seconds`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct ScheduleInform {
        pub delay_seconds: u32 => number("DelaySeconds"),
        pub command_key: String => text_or_empty("CommandKey"),
    }
}

xml_struct! {
    /// Downloads a file (firmware, configuration…); `file_type` such as
    /// `1 Firmware Upgrade Image`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Download {
        pub command_key: String => text_or_empty("CommandKey"),
        pub file_type: String => text("FileType"),
        pub url: String => text("URL"),
        pub username: String => text_or_empty("Username"),
        pub password: String => text_or_empty("Password"),
        pub file_size: u32 => number("FileSize"),
        pub target_file_name: String => text_or_empty("TargetFileName"),
        pub delay_seconds: u32 => number("DelaySeconds"),
        pub success_url: String => text_or_empty("SuccessURL"),
        pub failure_url: String => text_or_empty("FailureURL"),
    }
}

xml_struct! {
    /// Status 0: done (times valid); 1: later, via TransferComplete (times are the Unknown
    /// Time).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct TransferResponse {
        pub status: i32 => number("Status"),
        pub start_time: XsdDateTime => date_time("StartTime"),
        pub complete_time: XsdDateTime => date_time("CompleteTime"),
    }
}

impl Default for TransferResponse {
    fn default() -> Self {
        TransferResponse {
            status: 1,
            start_time: XsdDateTime::unknown(),
            complete_time: XsdDateTime::unknown(),
        }
    }
}

/// The response to Download.
pub type DownloadResponse = TransferResponse;
/// The response to Upload.
pub type UploadResponse = TransferResponse;

xml_struct! {
    /// Uploads a file (`1 Vendor Configuration File`, `2 Vendor Log File`…).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Upload {
        pub command_key: String => text_or_empty("CommandKey"),
        pub file_type: String => text("FileType"),
        pub url: String => text("URL"),
        pub username: String => text_or_empty("Username"),
        pub password: String => text_or_empty("Password"),
        pub delay_seconds: u32 => number("DelaySeconds"),
    }
}

xml_struct! {
    /// A time window of ScheduleDownload (seconds from now; mode such as `1 At Any Time`).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct TimeWindow {
        pub window_start: u32 => number("WindowStart"),
        pub window_end: u32 => number("WindowEnd"),
        pub window_mode: String => text("WindowMode"),
        pub user_message: String => text_or_empty("UserMessage"),
        pub max_retries: i32 => number("MaxRetries"),
    }
}

xml_struct! {
    /// A download within 1–2 time windows (1.2).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct ScheduleDownload {
        pub command_key: String => text_or_empty("CommandKey"),
        pub file_type: String => text("FileType"),
        pub url: String => text("URL"),
        pub username: String => text_or_empty("Username"),
        pub password: String => text_or_empty("Password"),
        pub file_size: u32 => number("FileSize"),
        pub target_file_name: String => text_or_empty("TargetFileName"),
        pub time_window_list: Vec<TimeWindow> => array("TimeWindowList", "TimeWindowStruct"),
    }
}

xml_struct! {
    /// Cancels a queued transfer (1.2); 9021 if it cannot.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct CancelTransfer {
        pub command_key: String => text_or_empty("CommandKey"),
    }
}

xml_struct! {
    /// A queued transfer; state 1 not started, 2 in progress, 3 completed.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct QueuedTransfer {
        pub command_key: String => text_or_empty("CommandKey"),
        pub state: i32 => number("State"),
    }
}

xml_struct! {
    /// The transfers queued by this ACS.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct GetQueuedTransfersResponse {
        pub transfer_list: Vec<QueuedTransfer> => array("TransferList", "QueuedTransferStruct"),
    }
}

xml_struct! {
    /// A queued transfer with its details (GetAllQueuedTransfers).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct AllQueuedTransfer {
        pub command_key: String => text_or_empty("CommandKey"),
        pub state: i32 => number("State"),
        pub is_download: bool => boolean("IsDownload"),
        pub file_type: String => text("FileType"),
        pub file_size: u32 => number("FileSize"),
        pub target_file_name: String => text_or_empty("TargetFileName"),
    }
}

xml_struct! {
    /// All queued transfers.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct GetAllQueuedTransfersResponse {
        pub transfer_list: Vec<AllQueuedTransfer> =>
            array("TransferList", "AllQueuedTransferStruct"),
    }
}

/// One deployment-unit operation; on the wire an `<Operations>` element whose `xsi:type`
/// names the variant (the schema makes it polymorphic, so the type must be sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DuOperation {
    /// `cwmp:InstallOpStruct`
    Install {
        url: String,
        uuid: Option<String>,
        username: Option<String>,
        password: Option<String>,
        execution_env_ref: Option<String>,
    },
    /// `cwmp:UpdateOpStruct`
    Update {
        uuid: Option<String>,
        version: Option<String>,
        url: Option<String>,
        username: Option<String>,
        password: Option<String>,
    },
    /// `cwmp:UninstallOpStruct`
    Uninstall {
        uuid: String,
        version: Option<String>,
        execution_env_ref: Option<String>,
    },
}

impl XmlStruct for DuOperation {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        let kind = el.attr("type").unwrap_or_default();
        let kind = kind.trim();
        let kind = kind.rsplit_once(':').map_or(kind, |(_, l)| l);
        Ok(match kind {
            "InstallOpStruct" => DuOperation::Install {
                url: el.string("URL")?,
                uuid: el.opt_string("UUID"),
                username: el.opt_string("Username"),
                password: el.opt_string("Password"),
                execution_env_ref: el.opt_string("ExecutionEnvRef"),
            },
            "UpdateOpStruct" => DuOperation::Update {
                uuid: el.opt_string("UUID"),
                version: el.opt_string("Version"),
                url: el.opt_string("URL"),
                username: el.opt_string("Username"),
                password: el.opt_string("Password"),
            },
            "UninstallOpStruct" => DuOperation::Uninstall {
                uuid: el.string("UUID")?,
                version: el.opt_string("Version"),
                execution_env_ref: el.opt_string("ExecutionEnvRef"),
            },
            _ => {
                return Err(
                    el.invalid("xsi:type InstallOpStruct, UpdateOpStruct or UninstallOpStruct")
                );
            }
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        match self {
            DuOperation::Install {
                url,
                uuid,
                username,
                password,
                execution_env_ref,
            } => {
                w.raw("<Operations xsi:type=\"cwmp:InstallOpStruct\">");
                w.str("URL", url);
                w.opt_str("UUID", uuid.as_deref());
                w.opt_str("Username", username.as_deref());
                w.opt_str("Password", password.as_deref());
                w.opt_str("ExecutionEnvRef", execution_env_ref.as_deref());
            }
            DuOperation::Update {
                uuid,
                version,
                url,
                username,
                password,
            } => {
                w.raw("<Operations xsi:type=\"cwmp:UpdateOpStruct\">");
                w.opt_str("UUID", uuid.as_deref());
                w.opt_str("Version", version.as_deref());
                w.opt_str("URL", url.as_deref());
                w.opt_str("Username", username.as_deref());
                w.opt_str("Password", password.as_deref());
            }
            DuOperation::Uninstall {
                uuid,
                version,
                execution_env_ref,
            } => {
                w.raw("<Operations xsi:type=\"cwmp:UninstallOpStruct\">");
                w.str("UUID", uuid);
                w.opt_str("Version", version.as_deref());
                w.opt_str("ExecutionEnvRef", execution_env_ref.as_deref());
            }
        }
        w.close("Operations");
    }
}

xml_struct! {
    /// Installs, updates or uninstalls deployment units (1.2); results come in
    /// DUStateChangeComplete.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct ChangeDuState {
        pub operations: Vec<DuOperation> => each("Operations"),
        pub command_key: String => text_or_empty("CommandKey"),
    }
}
