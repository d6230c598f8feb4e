//! CPE methods about reboots, transfers and deployment units (PROTOCOL §7.1): Reboot,
//! FactoryReset, ScheduleInform, Download, Upload, ScheduleDownload, CancelTransfer,
//! Get(All)QueuedTransfers, ChangeDUState.

use crate::error::DecodeError;
use crate::value::XsdDateTime;
use crate::xml::fields::XmlStruct;
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

/// Reboots after the session; the next Inform carries `1 BOOT` + `M Reboot` with this key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reboot {
    pub command_key: String,
}

impl XmlStruct for Reboot {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(Reboot {
            command_key: el.string_or_empty("CommandKey"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.str("CommandKey", &self.command_key);
    }
}

/// Asks for an Inform with `3 SCHEDULED` + `M ScheduleInform` after `delay_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScheduleInform {
    pub delay_seconds: u32,
    pub command_key: String,
}

impl XmlStruct for ScheduleInform {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(ScheduleInform {
            delay_seconds: el.number("DelaySeconds", "unsignedInt")?,
            command_key: el.string_or_empty("CommandKey"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.num("DelaySeconds", self.delay_seconds);
        w.str("CommandKey", &self.command_key);
    }
}

/// Downloads a file (firmware, configuration…); `file_type` such as `1 Firmware Upgrade Image`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Download {
    pub command_key: String,
    pub file_type: String,
    pub url: String,
    pub username: String,
    pub password: String,
    pub file_size: u32,
    pub target_file_name: String,
    pub delay_seconds: u32,
    pub success_url: String,
    pub failure_url: String,
}

impl XmlStruct for Download {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(Download {
            command_key: el.string_or_empty("CommandKey"),
            file_type: el.string("FileType")?,
            url: el.string("URL")?,
            username: el.string_or_empty("Username"),
            password: el.string_or_empty("Password"),
            file_size: el.number("FileSize", "unsignedInt")?,
            target_file_name: el.string_or_empty("TargetFileName"),
            delay_seconds: el.number("DelaySeconds", "unsignedInt")?,
            success_url: el.string_or_empty("SuccessURL"),
            failure_url: el.string_or_empty("FailureURL"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.str("CommandKey", &self.command_key);
        w.str("FileType", &self.file_type);
        w.str("URL", &self.url);
        w.str("Username", &self.username);
        w.str("Password", &self.password);
        w.num("FileSize", self.file_size);
        w.str("TargetFileName", &self.target_file_name);
        w.num("DelaySeconds", self.delay_seconds);
        w.str("SuccessURL", &self.success_url);
        w.str("FailureURL", &self.failure_url);
    }
}

/// Status 0: done (times valid); 1: later, via TransferComplete (times are the Unknown Time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferResponse {
    pub status: i32,
    pub start_time: XsdDateTime,
    pub complete_time: XsdDateTime,
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

impl XmlStruct for TransferResponse {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(TransferResponse {
            status: el.number("Status", "int")?,
            start_time: el.date_time("StartTime")?,
            complete_time: el.date_time("CompleteTime")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.num("Status", self.status);
        w.str("StartTime", &self.start_time.raw);
        w.str("CompleteTime", &self.complete_time.raw);
    }
}

/// The response to Download.
pub type DownloadResponse = TransferResponse;
/// The response to Upload.
pub type UploadResponse = TransferResponse;

/// Uploads a file (`1 Vendor Configuration File`, `2 Vendor Log File`…).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Upload {
    pub command_key: String,
    pub file_type: String,
    pub url: String,
    pub username: String,
    pub password: String,
    pub delay_seconds: u32,
}

impl XmlStruct for Upload {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(Upload {
            command_key: el.string_or_empty("CommandKey"),
            file_type: el.string("FileType")?,
            url: el.string("URL")?,
            username: el.string_or_empty("Username"),
            password: el.string_or_empty("Password"),
            delay_seconds: el.number("DelaySeconds", "unsignedInt")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.str("CommandKey", &self.command_key);
        w.str("FileType", &self.file_type);
        w.str("URL", &self.url);
        w.str("Username", &self.username);
        w.str("Password", &self.password);
        w.num("DelaySeconds", self.delay_seconds);
    }
}

/// A time window of ScheduleDownload (seconds from now; mode such as `1 At Any Time`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimeWindow {
    pub window_start: u32,
    pub window_end: u32,
    pub window_mode: String,
    pub user_message: String,
    pub max_retries: i32,
}

impl XmlStruct for TimeWindow {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(TimeWindow {
            window_start: el.number("WindowStart", "unsignedInt")?,
            window_end: el.number("WindowEnd", "unsignedInt")?,
            window_mode: el.string("WindowMode")?,
            user_message: el.string_or_empty("UserMessage"),
            max_retries: el.number("MaxRetries", "int")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.open("TimeWindowStruct");
        w.num("WindowStart", self.window_start);
        w.num("WindowEnd", self.window_end);
        w.str("WindowMode", &self.window_mode);
        w.str("UserMessage", &self.user_message);
        w.num("MaxRetries", self.max_retries);
        w.close("TimeWindowStruct");
    }
}

/// A download within 1–2 time windows (1.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScheduleDownload {
    pub command_key: String,
    pub file_type: String,
    pub url: String,
    pub username: String,
    pub password: String,
    pub file_size: u32,
    pub target_file_name: String,
    pub time_window_list: Vec<TimeWindow>,
}

impl XmlStruct for ScheduleDownload {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(ScheduleDownload {
            command_key: el.string_or_empty("CommandKey"),
            file_type: el.string("FileType")?,
            url: el.string("URL")?,
            username: el.string_or_empty("Username"),
            password: el.string_or_empty("Password"),
            file_size: el.number("FileSize", "unsignedInt")?,
            target_file_name: el.string_or_empty("TargetFileName"),
            time_window_list: el.list("TimeWindowList")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.str("CommandKey", &self.command_key);
        w.str("FileType", &self.file_type);
        w.str("URL", &self.url);
        w.str("Username", &self.username);
        w.str("Password", &self.password);
        w.num("FileSize", self.file_size);
        w.str("TargetFileName", &self.target_file_name);
        let list = &self.time_window_list;
        w.array("TimeWindowList", "cwmp:TimeWindowStruct", list, |w, t| {
            t.write(w)
        });
    }
}

/// Cancels a queued transfer (1.2); 9021 if it cannot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CancelTransfer {
    pub command_key: String,
}

impl XmlStruct for CancelTransfer {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(CancelTransfer {
            command_key: el.string_or_empty("CommandKey"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.str("CommandKey", &self.command_key);
    }
}

/// A queued transfer; state 1 not started, 2 in progress, 3 completed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueuedTransfer {
    pub command_key: String,
    pub state: i32,
}

impl XmlStruct for QueuedTransfer {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(QueuedTransfer {
            command_key: el.string_or_empty("CommandKey"),
            state: el.number("State", "int")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.open("QueuedTransferStruct");
        w.str("CommandKey", &self.command_key);
        w.num("State", self.state);
        w.close("QueuedTransferStruct");
    }
}

/// The transfers queued by this ACS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetQueuedTransfersResponse {
    pub transfer_list: Vec<QueuedTransfer>,
}

impl XmlStruct for GetQueuedTransfersResponse {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(GetQueuedTransfersResponse {
            transfer_list: el.list("TransferList")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        let list = &self.transfer_list;
        w.array("TransferList", "cwmp:QueuedTransferStruct", list, |w, t| {
            t.write(w)
        });
    }
}

/// A queued transfer with its details (GetAllQueuedTransfers).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllQueuedTransfer {
    pub command_key: String,
    pub state: i32,
    pub is_download: bool,
    pub file_type: String,
    pub file_size: u32,
    pub target_file_name: String,
}

impl XmlStruct for AllQueuedTransfer {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(AllQueuedTransfer {
            command_key: el.string_or_empty("CommandKey"),
            state: el.number("State", "int")?,
            is_download: el.boolean("IsDownload")?,
            file_type: el.string("FileType")?,
            file_size: el.number("FileSize", "unsignedInt")?,
            target_file_name: el.string_or_empty("TargetFileName"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.open("AllQueuedTransferStruct");
        w.str("CommandKey", &self.command_key);
        w.num("State", self.state);
        w.bool("IsDownload", self.is_download);
        w.str("FileType", &self.file_type);
        w.num("FileSize", self.file_size);
        w.str("TargetFileName", &self.target_file_name);
        w.close("AllQueuedTransferStruct");
    }
}

/// All queued transfers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetAllQueuedTransfersResponse {
    pub transfer_list: Vec<AllQueuedTransfer>,
}

impl XmlStruct for GetAllQueuedTransfersResponse {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(GetAllQueuedTransfersResponse {
            transfer_list: el.list("TransferList")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        let list = &self.transfer_list;
        w.array(
            "TransferList",
            "cwmp:AllQueuedTransferStruct",
            list,
            |w, t| t.write(w),
        );
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

/// Installs, updates or uninstalls deployment units (1.2); results come in
/// DUStateChangeComplete.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeDuState {
    pub operations: Vec<DuOperation>,
    pub command_key: String,
}

impl XmlStruct for ChangeDuState {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(ChangeDuState {
            operations: el.repeated("Operations")?,
            command_key: el.string_or_empty("CommandKey"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        for op in &self.operations {
            op.write(w);
        }
        w.str("CommandKey", &self.command_key);
    }
}
