//! What can be queued for a device: the contract between the REST API, which writes tasks, and
//! the session engine, which turns them into RPCs (DESIGN §4).
//!
//! A task is stored as a `kind` string and a JSON `payload` (see `acs_store::NewTask`).
//! [`TaskSpec::to_parts`] and [`TaskSpec::from_parts`] convert between that stored form and this
//! typed one, so both sides agree on every field by construction.
//!
//! Two families of kinds:
//! - *intents* made from device fields (`update_frequency`, `credentials`, `location`,
//!   `firmware`, `reboot`, `factory_reset`, `sync`): the engine resolves the parameter paths at
//!   dispatch time from the device's data-model root and its type's profile, because a device
//!   created through the API has not told us its root yet when the task is queued;
//! - *raw RPCs* queued through `/tasks/` (`get_parameter_values`, `set_parameter_values`, ...,
//!   and the CWMP 1.1/1.2 transfer and software-module RPCs `schedule_download`,
//!   `cancel_transfer`, `get_queued_transfers`, `get_all_queued_transfers`,
//!   `change_du_state`), sent as given.
//!
//! Secrets: the `credentials` intent carries no password; the engine reads the device's
//! encrypted credentials when it sends the RPC. Raw `download`/`upload`/`schedule_download`
//! tasks and `change_du_state` operations may carry file-server credentials;
//! [`TaskSpec::redacted_payload`] hides them in API output.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest parameter name CWMP allows (TR-069 `ParameterValueStruct.Name`, xs:maxLength 256).
pub const MAX_PARAMETER_NAME_LEN: usize = 256;
/// Longest URL in a Download/Upload/ScheduleDownload (TR-069 `Download.URL`, xs:maxLength 256).
pub const MAX_URL_LEN: usize = 256;
/// Longest URL of a ChangeDUState Install/Update operation (`InstallOpStruct.URL`, 1024).
pub const MAX_DU_URL_LEN: usize = 1024;
/// Longest CommandKey (TR-069 `CommandKeyType`, xs:maxLength 32).
pub const MAX_COMMAND_KEY_LEN: usize = 32;
/// Longest file-server username or password, TargetFileName, UserMessage (xs:maxLength 256).
pub const MAX_TEXT_LEN: usize = 256;

/// One queued operation for a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TaskSpec {
    /// SPV `ManagementServer.PeriodicInformInterval` (and `PeriodicInformEnable` = true).
    UpdateFrequency {
        interval: u32,
    },
    /// SPV `ManagementServer.ConnectionRequestUsername`/`Password` from the device row.
    Credentials {},
    /// SPV of the location parameters named by the device type's profile.
    Location {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        latitude: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        longitude: Option<String>,
    },
    /// `Download` (FileType `1 Firmware Upgrade Image`) of a stored firmware image.
    Firmware {
        firmware_image: i64,
    },
    Reboot {},
    FactoryReset {},
    /// Full parameter refresh (GetParameterNames + GetParameterValues), then the type's profile.
    Sync {},

    GetRpcMethods {},
    GetParameterNames {
        path: String,
        #[serde(default)]
        next_level: bool,
    },
    GetParameterValues {
        names: Vec<String>,
    },
    SetParameterValues {
        parameters: Vec<ParameterSetting>,
    },
    GetParameterAttributes {
        names: Vec<String>,
    },
    SetParameterAttributes {
        parameters: Vec<AttributeSetting>,
    },
    AddObject {
        object_name: String,
    },
    DeleteObject {
        object_name: String,
    },
    Download {
        file_type: String,
        url: String,
        #[serde(default)]
        file_size: u64,
        #[serde(default)]
        target_file_name: String,
        #[serde(default)]
        delay_seconds: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
    },
    Upload {
        file_type: String,
        url: String,
        #[serde(default)]
        delay_seconds: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
    },
    ScheduleInform {
        delay_seconds: u32,
    },
    /// `ScheduleDownload` (CWMP 1.2): a download within one or two time windows; completes
    /// with `M ScheduleDownload` + TransferComplete in a later session.
    ScheduleDownload {
        file_type: String,
        url: String,
        #[serde(default)]
        file_size: u64,
        #[serde(default)]
        target_file_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        time_windows: Vec<TimeWindow>,
    },
    /// `CancelTransfer` (CWMP 1.2) of the transfer queued with `command_key` (a `download`,
    /// `upload`, `schedule_download` or `firmware` task's, as listed under `/tasks/`).
    CancelTransfer {
        command_key: String,
    },
    /// `GetQueuedTransfers`: the transfers this ACS queued; the list becomes the task's result.
    GetQueuedTransfers {},
    /// `GetAllQueuedTransfers` (CWMP 1.1): all queued transfers, autonomous ones included.
    GetAllQueuedTransfers {},
    /// `ChangeDUState` (CWMP 1.2): install, update or uninstall deployment units, in order;
    /// the results arrive in a DUStateChangeComplete and become the task's result.
    ChangeDuState {
        operations: Vec<DuOperation>,
    },
}

/// One time window of a `schedule_download` task (TR-069 A.4.1.8 `TimeWindowStruct`): seconds
/// from the moment the CPE receives the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    pub window_start: u32,
    pub window_end: u32,
    /// `1 At Any Time`, `2 Immediately`, `3 When Idle`, `4 Confirmation Needed` or a vendor
    /// `X <OUI> <name>`; `1 At Any Time` when absent.
    #[serde(default = "default_window_mode")]
    pub window_mode: String,
    /// Shown to the user with `4 Confirmation Needed`.
    #[serde(default)]
    pub user_message: String,
    /// Retries allowed within the window; -1 (the default) lets the CPE decide.
    #[serde(default = "default_max_retries")]
    pub max_retries: i32,
}

fn default_window_mode() -> String {
    "1 At Any Time".to_owned()
}

fn default_max_retries() -> i32 {
    -1
}

/// One operation of a `change_du_state` task (TR-069 A.4.1.14), `"operation"` naming it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "operation", rename_all = "snake_case", deny_unknown_fields)]
pub enum DuOperation {
    /// `InstallOpStruct`: fetch `url` and install it (under `uuid` when given).
    Install {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uuid: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        execution_env_ref: Option<String>,
    },
    /// `UpdateOpStruct`: update the unit `uuid` (or the one at `url`; neither: all units).
    Update {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uuid: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
    },
    /// `UninstallOpStruct`: remove the unit `uuid` (only `version` of it, when given).
    Uninstall {
        uuid: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        execution_env_ref: Option<String>,
    },
}

/// One parameter of a raw `set_parameter_values` task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterSetting {
    pub name: String,
    pub value: String,
    /// xsd type name (`string`, `unsignedInt`, `boolean`, ...); `string` if absent. Also
    /// accepted as spelled on the wire and in vendor documents (`xsd:unsignedInt`), and kept
    /// without the prefix.
    #[serde(default = "default_xsd_type", rename = "type")]
    pub xsd_type: String,
}

/// The `xsd:` prefix a `set_parameter_values` type may carry.
const XSD_PREFIX: &str = "xsd:";

/// One entry of a raw `set_parameter_attributes` task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeSetting {
    pub name: String,
    /// New notification (0 off, 1 passive, 2 active, 3–6 lightweight); unchanged when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<u8>,
    /// New access list (e.g. `["Subscriber"]`); unchanged when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_list: Option<Vec<String>>,
}

fn default_xsd_type() -> String {
    "string".to_owned()
}

/// The xsd types a `set_parameter_values` entry may name (TR-069 §6 / PROTOCOL §6).
pub const XSD_TYPES: &[&str] = &[
    "string",
    "int",
    "unsignedInt",
    "long",
    "unsignedLong",
    "boolean",
    "dateTime",
    "base64",
    "hexBinary",
];

/// Why a stored or submitted task cannot be used; `field` names the offending JSON field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct TaskSpecError {
    pub field: String,
    pub message: String,
}

impl TaskSpecError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        TaskSpecError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl TaskSpec {
    /// The stored `kind` string.
    pub fn kind(&self) -> &'static str {
        match self {
            TaskSpec::UpdateFrequency { .. } => "update_frequency",
            TaskSpec::Credentials {} => "credentials",
            TaskSpec::Location { .. } => "location",
            // the store keeps `firmware_image_is_pending` by this kind
            TaskSpec::Firmware { .. } => acs_store::FIRMWARE_TASK_KIND,
            TaskSpec::Reboot {} => "reboot",
            TaskSpec::FactoryReset {} => "factory_reset",
            TaskSpec::Sync {} => "sync",
            TaskSpec::GetRpcMethods {} => "get_rpc_methods",
            TaskSpec::GetParameterNames { .. } => "get_parameter_names",
            TaskSpec::GetParameterValues { .. } => "get_parameter_values",
            TaskSpec::SetParameterValues { .. } => "set_parameter_values",
            TaskSpec::GetParameterAttributes { .. } => "get_parameter_attributes",
            TaskSpec::SetParameterAttributes { .. } => "set_parameter_attributes",
            TaskSpec::AddObject { .. } => "add_object",
            TaskSpec::DeleteObject { .. } => "delete_object",
            TaskSpec::Download { .. } => "download",
            TaskSpec::Upload { .. } => "upload",
            TaskSpec::ScheduleInform { .. } => "schedule_inform",
            TaskSpec::ScheduleDownload { .. } => "schedule_download",
            TaskSpec::CancelTransfer { .. } => "cancel_transfer",
            TaskSpec::GetQueuedTransfers {} => "get_queued_transfers",
            TaskSpec::GetAllQueuedTransfers {} => "get_all_queued_transfers",
            TaskSpec::ChangeDuState { .. } => "change_du_state",
        }
    }

    /// The setting group a task of this kind belongs to unless the caller names another
    /// (`pending_settings` in the API is the comma-joined groups still pending, DESIGN §4).
    pub fn default_setting_group(&self) -> &'static str {
        match self {
            TaskSpec::Location { .. } => "location_update",
            TaskSpec::Firmware { .. } => "firmware_upgrade",
            other => other.kind(),
        }
    }

    /// Splits into the stored `(kind, payload)`; the payload is a JSON object without `kind`.
    pub fn to_parts(&self) -> (&'static str, Value) {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.remove("kind");
        }
        let payload = match value {
            Value::Object(map) => Value::Object(map),
            _ => Value::Object(Map::new()),
        };
        (self.kind(), payload)
    }

    /// Rebuilds a task from its stored `(kind, payload)`, then [`validate`](Self::validate)s it.
    pub fn from_parts(kind: &str, payload: &Value) -> Result<TaskSpec, TaskSpecError> {
        let mut map = match payload {
            Value::Object(map) => map.clone(),
            Value::Null => Map::new(),
            _ => return Err(TaskSpecError::new("payload", "must be a JSON object")),
        };
        if map.contains_key("kind") {
            return Err(TaskSpecError::new(
                "payload.kind",
                "kind goes beside the payload",
            ));
        }
        map.insert("kind".to_owned(), Value::String(kind.to_owned()));
        let mut spec: TaskSpec = serde_json::from_value(Value::Object(map))
            .map_err(|e| TaskSpecError::new(format!("payload ({kind})"), e.to_string()))?;
        spec.validate()?;
        if let TaskSpec::SetParameterValues { parameters } = &mut spec {
            for p in parameters {
                if let Some(bare) = p.xsd_type.strip_prefix(XSD_PREFIX) {
                    p.xsd_type = bare.to_owned();
                }
            }
        }
        Ok(spec)
    }

    /// How a task of this kind combines with an open one of the same kind when queued
    /// (DESIGN §4: one wish per device, not one per click). Intents that mean one state merge;
    /// raw RPCs are the operator's own, each sent.
    pub fn merge(&self) -> acs_store::Merge {
        use acs_store::Merge;
        match self {
            // one reboot (or reset) covers every wish for one made before the device reports
            // it done: a second would reboot a customer's router again
            TaskSpec::Reboot {} | TaskSpec::FactoryReset {} => Merge::IntoOpen,
            // read at dispatch time (credentials from the device row, the whole tree): one
            // pending is as good as two
            TaskSpec::Credentials {} | TaskSpec::Sync {} => Merge::IntoPending,
            // the newest value wins
            TaskSpec::UpdateFrequency { .. } | TaskSpec::Firmware { .. } => Merge::ReplacePending,
            // a location task may name only some fields (through `/tasks/`): two SPVs in a row
            // leave the newest values on the CPE, merging could drop one
            TaskSpec::Location { .. } => Merge::Never,
            _ => Merge::Never,
        }
    }

    /// The task to queue: its stored form, its setting group (`group`, or the kind's
    /// default) and how it merges.
    pub fn new_task(&self, group: Option<String>) -> acs_store::NewTask {
        let (kind, payload) = self.to_parts();
        acs_store::NewTask {
            kind: kind.to_owned(),
            setting_group: group.unwrap_or_else(|| self.default_setting_group().to_owned()),
            payload,
            merge: self.merge(),
        }
    }

    /// Checks what the CPE would reject or the schema forbids, naming the payload field.
    pub fn validate(&self) -> Result<(), TaskSpecError> {
        match self {
            TaskSpec::UpdateFrequency { interval } if *interval == 0 => {
                Err(TaskSpecError::new("interval", "must be at least 1 second"))
            }
            TaskSpec::Location {
                name,
                latitude,
                longitude,
            } => {
                if name.is_none() && latitude.is_none() && longitude.is_none() {
                    return Err(TaskSpecError::new("payload", "names no location field"));
                }
                for (field, value) in [("latitude", latitude), ("longitude", longitude)] {
                    if let Some(v) = value {
                        v.trim().parse::<f64>().map_err(|_| {
                            TaskSpecError::new(field, format!("`{v}` is not a decimal number"))
                        })?;
                    }
                }
                Ok(())
            }
            TaskSpec::GetParameterNames { path, .. } => check_name("path", path, true),
            TaskSpec::GetParameterValues { names } | TaskSpec::GetParameterAttributes { names } => {
                non_empty("names", names.len())?;
                for (i, name) in names.iter().enumerate() {
                    check_name(&format!("names[{i}]"), name, false)?;
                }
                Ok(())
            }
            TaskSpec::SetParameterValues { parameters } => {
                non_empty("parameters", parameters.len())?;
                for (i, p) in parameters.iter().enumerate() {
                    check_name(&format!("parameters[{i}].name"), &p.name, false)?;
                    if p.name.ends_with('.') {
                        return Err(TaskSpecError::new(
                            format!("parameters[{i}].name"),
                            "names an object, not a parameter",
                        ));
                    }
                    let bare = p.xsd_type.strip_prefix(XSD_PREFIX).unwrap_or(&p.xsd_type);
                    if !XSD_TYPES.contains(&bare) {
                        return Err(TaskSpecError::new(
                            format!("parameters[{i}].type"),
                            format!(
                                "`{}` is not one of {} (with or without `{XSD_PREFIX}`)",
                                p.xsd_type,
                                XSD_TYPES.join(", ")
                            ),
                        ));
                    }
                }
                Ok(())
            }
            TaskSpec::SetParameterAttributes { parameters } => {
                non_empty("parameters", parameters.len())?;
                for (i, p) in parameters.iter().enumerate() {
                    check_name(&format!("parameters[{i}].name"), &p.name, false)?;
                    if p.notification.is_some_and(|n| n > 6) {
                        return Err(TaskSpecError::new(
                            format!("parameters[{i}].notification"),
                            "must be 0 to 6",
                        ));
                    }
                }
                Ok(())
            }
            TaskSpec::AddObject { object_name } | TaskSpec::DeleteObject { object_name } => {
                check_name("object_name", object_name, false)?;
                if !object_name.ends_with('.') {
                    return Err(TaskSpecError::new("object_name", "must end with `.`"));
                }
                Ok(())
            }
            TaskSpec::Download { file_type, url, .. } | TaskSpec::Upload { file_type, url, .. } => {
                check_file_type(file_type)?;
                check_url(url)
            }
            TaskSpec::ScheduleInform { delay_seconds } if *delay_seconds == 0 => {
                Err(TaskSpecError::new("delay_seconds", "must be at least 1"))
            }
            TaskSpec::ScheduleDownload {
                file_type,
                url,
                file_size,
                target_file_name,
                username,
                password,
                time_windows,
            } => {
                check_file_type(file_type)?;
                check_url(url)?;
                if u32::try_from(*file_size).is_err() {
                    return Err(TaskSpecError::new(
                        "file_size",
                        "must be at most 4294967295 (xs:unsignedInt)",
                    ));
                }
                check_len("target_file_name", target_file_name, MAX_TEXT_LEN)?;
                check_opt_len("username", username, MAX_TEXT_LEN)?;
                check_opt_len("password", password, MAX_TEXT_LEN)?;
                check_windows(time_windows)
            }
            TaskSpec::CancelTransfer { command_key } => {
                if command_key.is_empty() {
                    return Err(TaskSpecError::new("command_key", "must not be empty"));
                }
                check_len("command_key", command_key, MAX_COMMAND_KEY_LEN)
            }
            TaskSpec::ChangeDuState { operations } => {
                non_empty("operations", operations.len())?;
                for (i, op) in operations.iter().enumerate() {
                    check_du_operation(i, op)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The payload as the API shows it: file-server passwords (those of ChangeDUState
    /// operations included) and the values of password-like parameters
    /// ([`cwmp::is_secret_parameter`]: a Wi-Fi passphrase set by `set_parameter_values`)
    /// replaced by `"***"`.
    pub fn redacted_payload(&self) -> Value {
        let (_, mut payload) = self.to_parts();
        redact_passwords(&mut payload);
        payload
    }
}

fn redact_passwords(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let secret_parameter = map
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(cwmp::is_secret_parameter);
            if secret_parameter && let Some(v) = map.get_mut("value") {
                *v = Value::String(cwmp::REDACTED.to_owned());
            }
            for (key, v) in map.iter_mut() {
                if key == "password" {
                    *v = Value::String("***".to_owned());
                } else {
                    redact_passwords(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_passwords),
        _ => {}
    }
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), TaskSpecError> {
    if value.chars().count() > max {
        return Err(TaskSpecError::new(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    Ok(())
}

fn check_opt_len(field: &str, value: &Option<String>, max: usize) -> Result<(), TaskSpecError> {
    value
        .as_deref()
        .map_or(Ok(()), |v| check_len(field, v, max))
}

fn check_file_type(file_type: &str) -> Result<(), TaskSpecError> {
    if file_type.trim().is_empty() || file_type.len() > 64 {
        return Err(TaskSpecError::new(
            "file_type",
            "must be 1 to 64 characters",
        ));
    }
    Ok(())
}

/// TR-069 A.4.1.8: one or two windows, each ending no earlier than it starts, the second
/// starting no earlier than the first ends; a mode of the `TimeWindowModeValueType` pattern.
fn check_windows(windows: &[TimeWindow]) -> Result<(), TaskSpecError> {
    if windows.is_empty() || windows.len() > 2 {
        return Err(TaskSpecError::new(
            "time_windows",
            format!("must hold 1 or 2 windows, not {}", windows.len()),
        ));
    }
    for (i, w) in windows.iter().enumerate() {
        let field = |name: &str| format!("time_windows[{i}].{name}");
        if w.window_end < w.window_start {
            return Err(TaskSpecError::new(
                field("window_end"),
                format!("{} is before window_start {}", w.window_end, w.window_start),
            ));
        }
        if !is_enum_string(&w.window_mode) {
            return Err(TaskSpecError::new(
                field("window_mode"),
                format!(
                    "`{}` is not a mode such as `1 At Any Time` or `X <OUI> <name>`",
                    w.window_mode
                ),
            ));
        }
        check_len(&field("user_message"), &w.user_message, MAX_TEXT_LEN)?;
        if w.max_retries < -1 {
            return Err(TaskSpecError::new(
                field("max_retries"),
                "must be -1 (the CPE decides) or more",
            ));
        }
    }
    if let [first, second] = windows
        && second.window_start < first.window_end
    {
        return Err(TaskSpecError::new(
            "time_windows[1].window_start",
            format!(
                "{} overlaps the first window, which ends at {}",
                second.window_start, first.window_end
            ),
        ));
    }
    Ok(())
}

/// The schema's enumeration strings (`TimeWindowModeValueType`): `[1-9]\d*( \S+)+` or
/// `X <something> <name>`, at most 64 characters.
fn is_enum_string(s: &str) -> bool {
    if s.is_empty() || s.len() > 64 {
        return false;
    }
    let mut words = s.split(' ');
    let first = words.next().unwrap_or("");
    let rest: Vec<&str> = words.collect();
    if first == "X" {
        return rest.len() >= 2 && !rest[0].is_empty() && rest[1..].iter().any(|w| !w.is_empty());
    }
    let numbered = first.starts_with(|c: char| ('1'..='9').contains(&c))
        && first.bytes().all(|b| b.is_ascii_digit());
    numbered
        && !rest.is_empty()
        && rest
            .iter()
            .all(|w| !w.is_empty() && !w.chars().any(char::is_whitespace))
}

/// `8-4-4-4-12` hexadecimal digits (`DeploymentUnitUUID`).
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn check_du_operation(i: usize, op: &DuOperation) -> Result<(), TaskSpecError> {
    let field = |name: &str| format!("operations[{i}].{name}");
    let uuid = |value: Option<&String>| match value {
        Some(u) if !is_uuid(u) => Err(TaskSpecError::new(
            field("uuid"),
            format!("`{u}` is not a UUID (8-4-4-4-12 hexadecimal digits)"),
        )),
        _ => Ok(()),
    };
    let url = |value: &str| check_url_as(&field("url"), value, MAX_DU_URL_LEN);
    let version = |value: &Option<String>| check_opt_len(&field("version"), value, 32);
    let text =
        |name: &str, value: &Option<String>| check_opt_len(&field(name), value, MAX_TEXT_LEN);
    match op {
        DuOperation::Install {
            url: u,
            uuid: id,
            username,
            password,
            execution_env_ref,
        } => {
            url(u)?;
            uuid(id.as_ref())?;
            text("username", username)?;
            text("password", password)?;
            text("execution_env_ref", execution_env_ref)
        }
        DuOperation::Update {
            uuid: id,
            version: v,
            url: u,
            username,
            password,
        } => {
            uuid(id.as_ref())?;
            version(v)?;
            if let Some(u) = u {
                url(u)?;
            }
            text("username", username)?;
            text("password", password)
        }
        DuOperation::Uninstall {
            uuid: id,
            version: v,
            execution_env_ref,
        } => {
            if id.is_empty() {
                return Err(TaskSpecError::new(field("uuid"), "must not be empty"));
            }
            uuid(Some(id))?;
            version(v)?;
            text("execution_env_ref", execution_env_ref)
        }
    }
}

fn non_empty(field: &str, len: usize) -> Result<(), TaskSpecError> {
    if len == 0 {
        return Err(TaskSpecError::new(field, "must not be empty"));
    }
    Ok(())
}

fn check_name(field: &str, name: &str, allow_empty: bool) -> Result<(), TaskSpecError> {
    if name.is_empty() && !allow_empty {
        return Err(TaskSpecError::new(field, "must not be empty"));
    }
    if name.len() > MAX_PARAMETER_NAME_LEN {
        return Err(TaskSpecError::new(field, "is longer than 256 characters"));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(TaskSpecError::new(
            field,
            format!("`{name}` contains whitespace"),
        ));
    }
    Ok(())
}

fn check_url(url: &str) -> Result<(), TaskSpecError> {
    check_url_as("url", url, MAX_URL_LEN)
}

fn check_url_as(field: &str, url: &str, max: usize) -> Result<(), TaskSpecError> {
    if url.len() > max {
        return Err(TaskSpecError::new(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    let scheme_ok = ["http://", "https://", "ftp://"].iter().any(|s| {
        url.len() > s.len()
            && url
                .get(..s.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(s))
    });
    if !scheme_ok {
        return Err(TaskSpecError::new(
            field,
            "must be an absolute http, https or ftp URL",
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(TaskSpecError::new(field, "must not contain whitespace"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(spec: TaskSpec) {
        let (kind, payload) = spec.to_parts();
        assert!(
            payload.get("kind").is_none(),
            "{kind}: kind leaked into the payload"
        );
        assert_eq!(TaskSpec::from_parts(kind, &payload), Ok(spec));
    }

    #[test]
    fn every_kind_round_trips_through_its_stored_parts() {
        round_trip(TaskSpec::UpdateFrequency { interval: 300 });
        round_trip(TaskSpec::Credentials {});
        round_trip(TaskSpec::Location {
            name: Some("HQ".into()),
            latitude: Some("37.7749".into()),
            longitude: None,
        });
        round_trip(TaskSpec::Firmware { firmware_image: 15 });
        round_trip(TaskSpec::Reboot {});
        round_trip(TaskSpec::FactoryReset {});
        round_trip(TaskSpec::Sync {});
        round_trip(TaskSpec::GetRpcMethods {});
        round_trip(TaskSpec::GetParameterNames {
            path: "Device.".into(),
            next_level: true,
        });
        round_trip(TaskSpec::GetParameterValues {
            names: vec!["Device.DeviceInfo.".into()],
        });
        round_trip(TaskSpec::SetParameterValues {
            parameters: vec![ParameterSetting {
                name: "Device.WiFi.SSID.1.SSID".into(),
                value: "x & <y>".into(),
                xsd_type: "string".into(),
            }],
        });
        round_trip(TaskSpec::GetParameterAttributes {
            names: vec!["Device.".into()],
        });
        round_trip(TaskSpec::SetParameterAttributes {
            parameters: vec![AttributeSetting {
                name: "Device.DeviceInfo.SoftwareVersion".into(),
                notification: Some(2),
                access_list: None,
            }],
        });
        round_trip(TaskSpec::AddObject {
            object_name: "Device.IP.Interface.".into(),
        });
        round_trip(TaskSpec::DeleteObject {
            object_name: "Device.IP.Interface.2.".into(),
        });
        round_trip(TaskSpec::Download {
            file_type: "1 Firmware Upgrade Image".into(),
            url: "http://acs.example:7547/files/fw.bin".into(),
            file_size: 1024,
            target_file_name: "fw.bin".into(),
            delay_seconds: 0,
            username: Some("u".into()),
            password: Some("p".into()),
        });
        round_trip(TaskSpec::Upload {
            file_type: "2 Vendor Log File".into(),
            url: "http://acs.example/upload".into(),
            delay_seconds: 0,
            username: None,
            password: None,
        });
        round_trip(TaskSpec::ScheduleInform { delay_seconds: 60 });
        round_trip(TaskSpec::ScheduleDownload {
            file_type: "1 Firmware Upgrade Image".into(),
            url: "http://acs.example/files/fw.bin".into(),
            file_size: 2048,
            target_file_name: "fw.bin".into(),
            username: None,
            password: Some("p".into()),
            time_windows: vec![
                TimeWindow {
                    window_start: 0,
                    window_end: 600,
                    window_mode: "2 Immediately".into(),
                    user_message: String::new(),
                    max_retries: 3,
                },
                TimeWindow {
                    window_start: 600,
                    window_end: 3600,
                    window_mode: "X 00D09E Night".into(),
                    user_message: "tonight".into(),
                    max_retries: -1,
                },
            ],
        });
        round_trip(TaskSpec::CancelTransfer {
            command_key: "k0123456789".into(),
        });
        round_trip(TaskSpec::GetQueuedTransfers {});
        round_trip(TaskSpec::GetAllQueuedTransfers {});
        round_trip(TaskSpec::ChangeDuState {
            operations: vec![
                DuOperation::Install {
                    url: "http://files.example/app-1.0.tar".into(),
                    uuid: Some("6ba7b810-9dad-11d1-80b4-00c04fd430c8".into()),
                    username: None,
                    password: None,
                    execution_env_ref: Some("Device.SoftwareModules.ExecEnv.1".into()),
                },
                DuOperation::Update {
                    uuid: None,
                    version: Some("1.1".into()),
                    url: None,
                    username: None,
                    password: None,
                },
                DuOperation::Uninstall {
                    uuid: "6BA7B810-9DAD-11D1-80B4-00C04FD430C8".into(),
                    version: None,
                    execution_env_ref: None,
                },
            ],
        });
    }

    #[test]
    fn new_kinds_take_their_documented_defaults() {
        let spec = TaskSpec::from_parts(
            "schedule_download",
            &json!({"file_type": "1 Firmware Upgrade Image", "url": "http://x/fw.bin",
                    "time_windows": [{"window_start": 0, "window_end": 60}]}),
        )
        .unwrap();
        let TaskSpec::ScheduleDownload { time_windows, .. } = spec else {
            panic!("wrong kind")
        };
        assert_eq!(time_windows[0].window_mode, "1 At Any Time");
        assert_eq!(time_windows[0].max_retries, -1);
        assert_eq!(
            TaskSpec::from_parts(
                "change_du_state",
                &json!({"operations": [{"operation": "install", "url": "http://x/a.tar"}]})
            )
            .unwrap()
            .kind(),
            "change_du_state"
        );
    }

    #[test]
    fn stored_parts_are_plain_json() {
        let (kind, payload) = TaskSpec::Reboot {}.to_parts();
        assert_eq!((kind, payload), ("reboot", json!({})));
        let (kind, payload) = TaskSpec::UpdateFrequency { interval: 600 }.to_parts();
        assert_eq!(
            (kind, payload),
            ("update_frequency", json!({"interval": 600}))
        );
        let spec = TaskSpec::from_parts(
            "set_parameter_values",
            &json!({"parameters": [{"name": "Device.X", "value": "1"}]}),
        )
        .unwrap();
        let TaskSpec::SetParameterValues { parameters } = spec else {
            panic!("wrong kind")
        };
        assert_eq!(
            parameters[0].xsd_type, "string",
            "a missing type means string"
        );
    }

    #[test]
    fn bad_tasks_name_the_field() {
        let cases: &[(&str, Value, &str)] = &[
            ("reboot", json!({"extra": 1}), "payload (reboot)"),
            ("no_such_kind", json!({}), "payload (no_such_kind)"),
            ("reboot", json!([1]), "payload"),
            ("update_frequency", json!({"interval": 0}), "interval"),
            (
                "update_frequency",
                json!({"interval": "x"}),
                "payload (update_frequency)",
            ),
            ("location", json!({}), "payload"),
            ("location", json!({"latitude": "north"}), "latitude"),
            ("get_parameter_values", json!({"names": []}), "names"),
            (
                "get_parameter_values",
                json!({"names": ["A B"]}),
                "names[0]",
            ),
            (
                "set_parameter_values",
                json!({"parameters": [{"name": "A.", "value": ""}]}),
                "parameters[0].name",
            ),
            (
                "set_parameter_values",
                json!({"parameters": [{"name": "A.b", "value": "", "type": "float"}]}),
                "parameters[0].type",
            ),
            (
                "set_parameter_attributes",
                json!({"parameters": [{"name": "A.b", "notification": 7}]}),
                "parameters[0].notification",
            ),
            (
                "add_object",
                json!({"object_name": "Device.IP.Interface"}),
                "object_name",
            ),
            (
                "download",
                json!({"file_type": "1 Firmware Upgrade Image", "url": "file:///etc/passwd"}),
                "url",
            ),
            (
                "download",
                json!({"file_type": "", "url": "http://x/y"}),
                "file_type",
            ),
            (
                "schedule_inform",
                json!({"delay_seconds": 0}),
                "delay_seconds",
            ),
            (
                "download",
                json!({"file_type": "1 Firmware Upgrade Image", "url": "http:\u{20ac}//x"}),
                "url",
            ),
            (
                "schedule_download",
                json!({"file_type": "1 Firmware Upgrade Image", "url": "http://x/y"}),
                "payload (schedule_download)",
            ),
            (
                "schedule_download",
                json!({"file_type": "1 Firmware Upgrade Image", "url": "http://x/y", "time_windows": []}),
                "time_windows",
            ),
            (
                "schedule_download",
                json!({"file_type": "1 Firmware Upgrade Image", "url": "http://x/y", "time_windows": [
                    {"window_start": 0, "window_end": 1}, {"window_start": 2, "window_end": 3},
                    {"window_start": 4, "window_end": 5}]}),
                "time_windows",
            ),
            (
                "schedule_download",
                json!({"file_type": "1 Firmware Upgrade Image", "url": "http://x/y",
                       "time_windows": [{"window_start": 60, "window_end": 30}]}),
                "time_windows[0].window_end",
            ),
            (
                "schedule_download",
                json!({"file_type": "1 Firmware Upgrade Image", "url": "http://x/y", "time_windows": [
                    {"window_start": 0, "window_end": 600}, {"window_start": 300, "window_end": 900}]}),
                "time_windows[1].window_start",
            ),
            (
                "schedule_download",
                json!({"file_type": "1 Firmware Upgrade Image", "url": "http://x/y",
                       "time_windows": [{"window_start": 0, "window_end": 1, "window_mode": "whenever"}]}),
                "time_windows[0].window_mode",
            ),
            (
                "schedule_download",
                json!({"file_type": "1 Firmware Upgrade Image", "url": "http://x/y",
                       "time_windows": [{"window_start": 0, "window_end": 1, "max_retries": -2}]}),
                "time_windows[0].max_retries",
            ),
            (
                "schedule_download",
                json!({"file_type": "1 Firmware Upgrade Image", "url": format!("http://x/{}", "a".repeat(250)),
                       "time_windows": [{"window_start": 0, "window_end": 1}]}),
                "url",
            ),
            (
                "schedule_download",
                json!({"file_type": "1 Firmware Upgrade Image", "url": "http://x/y", "file_size": 5_000_000_000u64,
                       "time_windows": [{"window_start": 0, "window_end": 1}]}),
                "file_size",
            ),
            (
                "schedule_download",
                json!({"file_type": "1 Firmware Upgrade Image", "url": "http://x/y", "password": "p".repeat(257),
                       "time_windows": [{"window_start": 0, "window_end": 1}]}),
                "password",
            ),
            ("cancel_transfer", json!({"command_key": ""}), "command_key"),
            (
                "cancel_transfer",
                json!({"command_key": "k".repeat(33)}),
                "command_key",
            ),
            ("cancel_transfer", json!({}), "payload (cancel_transfer)"),
            (
                "get_queued_transfers",
                json!({"all": true}),
                "payload (get_queued_transfers)",
            ),
            ("change_du_state", json!({"operations": []}), "operations"),
            (
                "change_du_state",
                json!({"operations": [{"operation": "reinstall", "uuid": "x"}]}),
                "payload (change_du_state)",
            ),
            (
                "change_du_state",
                json!({"operations": [{"operation": "install"}]}),
                "payload (change_du_state)",
            ),
            (
                "change_du_state",
                json!({"operations": [{"operation": "install", "url": "app.tar"}]}),
                "operations[0].url",
            ),
            (
                "change_du_state",
                json!({"operations": [{"operation": "install", "url": format!("http://x/{}", "a".repeat(1020))}]}),
                "operations[0].url",
            ),
            (
                "change_du_state",
                json!({"operations": [
                    {"operation": "install", "url": "http://x/a.tar"},
                    {"operation": "uninstall", "uuid": "not-a-uuid"}]}),
                "operations[1].uuid",
            ),
            (
                "change_du_state",
                json!({"operations": [{"operation": "update", "uuid": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
                                       "version": "v".repeat(33)}]}),
                "operations[0].version",
            ),
            (
                "change_du_state",
                json!({"operations": [{"operation": "uninstall", "uuid": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
                                       "url": "http://x/a.tar"}]}),
                "payload (change_du_state)",
            ),
        ];
        for (kind, payload, field) in cases {
            let err = TaskSpec::from_parts(kind, payload).expect_err(kind);
            assert_eq!(err.field, *field, "{kind} {payload}: {err}");
        }
    }

    #[test]
    fn groups_follow_design_section_4() {
        assert_eq!(
            TaskSpec::Firmware { firmware_image: 1 }.default_setting_group(),
            "firmware_upgrade"
        );
        let location = TaskSpec::Location {
            name: Some("x".into()),
            latitude: None,
            longitude: None,
        };
        assert_eq!(location.default_setting_group(), "location_update");
        assert_eq!(
            TaskSpec::UpdateFrequency { interval: 5 }.default_setting_group(),
            "update_frequency"
        );
        assert_eq!(
            TaskSpec::Credentials {}.default_setting_group(),
            "credentials"
        );
        assert_eq!(TaskSpec::Reboot {}.default_setting_group(), "reboot");
    }

    #[test]
    fn passwords_are_redacted_for_display() {
        let spec = TaskSpec::Download {
            file_type: "3 Vendor Configuration File".into(),
            url: "https://files.example/cfg".into(),
            file_size: 0,
            target_file_name: String::new(),
            delay_seconds: 0,
            username: Some("ops".into()),
            password: Some("s3cret".into()),
        };
        let shown = spec.redacted_payload().to_string();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("\"***\""), "{shown}");
        let spec = TaskSpec::ChangeDuState {
            operations: vec![DuOperation::Install {
                url: "http://files.example/app.tar".into(),
                uuid: None,
                username: Some("ops".into()),
                password: Some("du-s3cret".into()),
                execution_env_ref: None,
            }],
        };
        let shown = spec.redacted_payload().to_string();
        assert!(!shown.contains("du-s3cret"), "{shown}");
        assert!(shown.contains("\"***\""), "{shown}");
        let spec = TaskSpec::SetParameterValues {
            parameters: vec![
                ParameterSetting {
                    name: "Device.WiFi.AccessPoint.1.Security.KeyPassphrase".into(),
                    value: "wifi-s3cret".into(),
                    xsd_type: "string".into(),
                },
                ParameterSetting {
                    name: "Device.WiFi.SSID.1.SSID".into(),
                    value: "visible".into(),
                    xsd_type: "string".into(),
                },
            ],
        };
        let shown = spec.redacted_payload().to_string();
        assert!(!shown.contains("wifi-s3cret"), "{shown}");
        assert!(shown.contains("visible"), "{shown}");
    }
}
