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
//! - *raw RPCs* queued through `/tasks/` (`get_parameter_values`, `set_parameter_values`, ...),
//!   sent as given.
//!
//! Secrets: the `credentials` intent carries no password; the engine reads the device's
//! encrypted credentials when it sends the RPC. Raw `download`/`upload` tasks may carry
//! file-server credentials; [`TaskSpec::redacted_payload`] hides them in API output.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest parameter name CWMP allows (TR-069 `ParameterValueStruct.Name`, xs:maxLength 256).
pub const MAX_PARAMETER_NAME_LEN: usize = 256;
/// Longest URL in a Download/Upload (TR-069 `Download.URL`, xs:maxLength 256).
pub const MAX_URL_LEN: usize = 256;

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
}

/// One parameter of a raw `set_parameter_values` task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterSetting {
    pub name: String,
    pub value: String,
    /// xsd type name without prefix (`string`, `unsignedInt`, `boolean`, ...); `string` if absent.
    #[serde(default = "default_xsd_type", rename = "type")]
    pub xsd_type: String,
}

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
            TaskSpec::Firmware { .. } => "firmware",
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
        let spec: TaskSpec = serde_json::from_value(Value::Object(map))
            .map_err(|e| TaskSpecError::new(format!("payload ({kind})"), e.to_string()))?;
        spec.validate()?;
        Ok(spec)
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
                    if !XSD_TYPES.contains(&p.xsd_type.as_str()) {
                        return Err(TaskSpecError::new(
                            format!("parameters[{i}].type"),
                            format!("`{}` is not one of {}", p.xsd_type, XSD_TYPES.join(", ")),
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
                if file_type.trim().is_empty() || file_type.len() > 64 {
                    return Err(TaskSpecError::new(
                        "file_type",
                        "must be 1 to 64 characters",
                    ));
                }
                check_url(url)
            }
            TaskSpec::ScheduleInform { delay_seconds } if *delay_seconds == 0 => {
                Err(TaskSpecError::new("delay_seconds", "must be at least 1"))
            }
            _ => Ok(()),
        }
    }

    /// The payload as the API shows it: file-server passwords replaced by `"***"`.
    pub fn redacted_payload(&self) -> Value {
        let (_, mut payload) = self.to_parts();
        if let Value::Object(map) = &mut payload
            && let Some(password) = map.get_mut("password")
        {
            *password = Value::String("***".to_owned());
        }
        payload
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
    if url.len() > MAX_URL_LEN {
        return Err(TaskSpecError::new("url", "is longer than 256 characters"));
    }
    let scheme_ok = ["http://", "https://", "ftp://"]
        .iter()
        .any(|s| url.len() > s.len() && url[..s.len()].eq_ignore_ascii_case(s));
    if !scheme_ok {
        return Err(TaskSpecError::new(
            "url",
            "must be an absolute http, https or ftp URL",
        ));
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
    }
}
