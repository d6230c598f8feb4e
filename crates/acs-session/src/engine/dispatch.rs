//! Turning a claimed task into the RPC the CPE receives (DESIGN §4), pure: the engine loads
//! what a kind needs (device row, password, profile, firmware image) and hands it in.

use std::time::Duration;

use acs_store::{DeviceTypeProfile, FirmwareImage};
use chrono::{DateTime, Utc};
use cwmp::{
    AddObject, Body, DeleteObject, Download, FactoryReset, GetParameterAttributes,
    GetParameterNames, GetParameterValues, GetRpcMethods, ParameterValueStruct, Reboot,
    ScheduleInform, SetParameterAttributes, SetParameterAttributesStruct, SetParameterValues,
    Upload, Value, XsdType,
};

use crate::file_url::{FILES_PATH, FileUrls};
use crate::task::{DuOperation, TaskSpec};

/// FileType of a firmware Download (TR-069 A6 Annex A, PROTOCOL §9).
pub const FIRMWARE_FILE_TYPE: &str = "1 Firmware Upgrade Image";

/// Everything a task may need besides its spec, loaded by the engine for the kinds that need it.
#[derive(Debug, Default, Clone)]
pub struct DispatchInputs<'a> {
    /// `Device.` or `InternetGatewayDevice.`, from the Inform.
    pub root: &'a str,
    pub command_key: &'a str,
    pub profile: Option<&'a DeviceTypeProfile>,
    /// The device row's connection-request username and decrypted password.
    pub cr_username: Option<&'a str>,
    pub cr_password: Option<&'a str>,
    pub firmware: Option<&'a FirmwareImage>,
    /// `<public cwmp url>` without trailing slash, for `/files/firmware/<name>`.
    pub file_base_url: &'a str,
    /// With CPE authentication on: signs the URLs of this server's firmware files for
    /// `device_id`, valid from `now` (see `file_url.rs`).
    pub file_urls: Option<&'a FileUrls>,
    pub device_id: i64,
    pub now: DateTime<Utc>,
}

impl DispatchInputs<'_> {
    /// The URL of one of our firmware files, signed when signing is on.
    fn firmware_url(&self, file_name: &str) -> String {
        match self.file_urls {
            Some(urls) => urls.url(
                self.file_base_url,
                self.device_id,
                file_name,
                Duration::ZERO,
                self.now,
            ),
            None => format!("{}{FILES_PATH}{file_name}", self.file_base_url),
        }
    }

    /// An operator's transfer URL: signed when it names one of our files and signing is on.
    /// `wait`: how long the CPE may wait before it fetches (DelaySeconds, the last window).
    fn transfer_url(&self, url: &str, wait: u32) -> String {
        match self.file_urls {
            Some(urls) => urls.sign_own(
                url,
                self.file_base_url,
                self.device_id,
                Duration::from_secs(u64::from(wait)),
                self.now,
            ),
            None => url.to_owned(),
        }
    }
}

/// Why a task cannot be sent at all (it fails for good, not retried).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DispatchError(pub String);

/// The RPC for a task. `sync` is multi-step and handled by the engine; this gives its first step.
pub fn rpc_for(spec: &TaskSpec, inp: &DispatchInputs<'_>) -> Result<Body, DispatchError> {
    let key = inp.command_key.to_owned();
    let root = inp.root;
    let spv = |list: Vec<ParameterValueStruct>| {
        Body::SetParameterValues(SetParameterValues {
            parameter_list: list,
            parameter_key: key.clone(),
        })
    };
    Ok(match spec {
        TaskSpec::UpdateFrequency { interval } => {
            let interval_path = inp
                .profile
                .and_then(|p| p.inform_interval_path.clone())
                .unwrap_or_else(|| format!("{root}ManagementServer.PeriodicInformInterval"));
            spv(vec![
                ParameterValueStruct::new(
                    format!("{root}ManagementServer.PeriodicInformEnable"),
                    Value::boolean(true),
                ),
                ParameterValueStruct::new(interval_path, Value::unsigned_int(*interval)),
            ])
        }
        TaskSpec::Credentials {} => {
            let username = inp.cr_username.ok_or_else(|| {
                DispatchError("the device has no connection-request username".into())
            })?;
            let user_path = inp
                .profile
                .and_then(|p| p.username_path.clone())
                .unwrap_or_else(|| format!("{root}ManagementServer.ConnectionRequestUsername"));
            let pass_path = inp
                .profile
                .and_then(|p| p.password_path.clone())
                .unwrap_or_else(|| format!("{root}ManagementServer.ConnectionRequestPassword"));
            let mut list = vec![ParameterValueStruct::new(
                user_path,
                Value::string(username),
            )];
            if let Some(pw) = inp.cr_password {
                list.push(ParameterValueStruct::new(pass_path, Value::string(pw)));
            }
            spv(list)
        }
        TaskSpec::Location {
            name,
            latitude,
            longitude,
        } => {
            // Without a profile: the vendor object both simulator templates carry under either
            // root (schemas/datamodel/README.md "Location"), one parameter per API field.
            let p = inp.profile;
            let path = |field: Option<&String>, leaf: &str| {
                field
                    .cloned()
                    .unwrap_or_else(|| format!("{root}X_ACS_Location.{leaf}"))
            };
            let mut list = Vec::new();
            for (value, field, leaf) in [
                (name, p.and_then(|p| p.location_name_path.as_ref()), "Name"),
                (
                    latitude,
                    p.and_then(|p| p.latitude_path.as_ref()),
                    "Latitude",
                ),
                (
                    longitude,
                    p.and_then(|p| p.longitude_path.as_ref()),
                    "Longitude",
                ),
            ] {
                if let Some(v) = value {
                    list.push(ParameterValueStruct::new(
                        path(field, leaf),
                        Value::string(v.as_str()),
                    ));
                }
            }
            spv(list)
        }
        TaskSpec::Firmware { firmware_image } => {
            let image = inp.firmware.ok_or_else(|| {
                DispatchError(format!("firmware image {firmware_image} does not exist"))
            })?;
            Body::Download(Download {
                command_key: key,
                file_type: FIRMWARE_FILE_TYPE.to_owned(),
                url: inp.firmware_url(&image.file_name),
                username: String::new(),
                password: String::new(),
                file_size: u32::try_from(image.size).unwrap_or(u32::MAX),
                target_file_name: image.file_name.clone(),
                delay_seconds: 0,
                success_url: String::new(),
                failure_url: String::new(),
            })
        }
        TaskSpec::Reboot {} => Body::Reboot(Reboot { command_key: key }),
        TaskSpec::FactoryReset {} => Body::FactoryReset(FactoryReset),
        TaskSpec::Sync {} => Body::GetParameterNames(GetParameterNames {
            parameter_path: root.to_owned(),
            next_level: false,
        }),
        TaskSpec::GetRpcMethods {} => Body::GetRpcMethods(GetRpcMethods),
        TaskSpec::GetParameterNames { path, next_level } => {
            Body::GetParameterNames(GetParameterNames {
                parameter_path: path.clone(),
                next_level: *next_level,
            })
        }
        TaskSpec::GetParameterValues { names } => Body::GetParameterValues(GetParameterValues {
            parameter_names: names.clone(),
        }),
        TaskSpec::SetParameterValues { parameters } => spv(parameters
            .iter()
            .map(|p| {
                ParameterValueStruct::new(
                    p.name.clone(),
                    Value::parse(XsdType::from_attr(&p.xsd_type), p.value.clone()),
                )
            })
            .collect()),
        TaskSpec::GetParameterAttributes { names } => {
            Body::GetParameterAttributes(GetParameterAttributes {
                parameter_names: names.clone(),
            })
        }
        TaskSpec::SetParameterAttributes { parameters } => {
            Body::SetParameterAttributes(SetParameterAttributes {
                parameter_list: parameters
                    .iter()
                    .map(|a| SetParameterAttributesStruct {
                        name: a.name.clone(),
                        notification_change: a.notification.is_some(),
                        notification: i32::from(a.notification.unwrap_or(0)),
                        access_list_change: a.access_list.is_some(),
                        access_list: a.access_list.clone().unwrap_or_default(),
                    })
                    .collect(),
            })
        }
        TaskSpec::AddObject { object_name } => Body::AddObject(AddObject {
            object_name: object_name.clone(),
            parameter_key: key,
        }),
        TaskSpec::DeleteObject { object_name } => Body::DeleteObject(DeleteObject {
            object_name: object_name.clone(),
            parameter_key: key,
        }),
        TaskSpec::Download {
            file_type,
            url,
            file_size,
            target_file_name,
            delay_seconds,
            username,
            password,
        } => Body::Download(Download {
            command_key: key,
            file_type: file_type.clone(),
            url: inp.transfer_url(url, *delay_seconds),
            username: username.clone().unwrap_or_default(),
            password: password.clone().unwrap_or_default(),
            file_size: u32::try_from(*file_size).unwrap_or(u32::MAX),
            target_file_name: target_file_name.clone(),
            delay_seconds: *delay_seconds,
            success_url: String::new(),
            failure_url: String::new(),
        }),
        TaskSpec::Upload {
            file_type,
            url,
            delay_seconds,
            username,
            password,
        } => Body::Upload(Upload {
            command_key: key,
            file_type: file_type.clone(),
            url: url.clone(),
            username: username.clone().unwrap_or_default(),
            password: password.clone().unwrap_or_default(),
            delay_seconds: *delay_seconds,
        }),
        TaskSpec::ScheduleInform { delay_seconds } => Body::ScheduleInform(ScheduleInform {
            delay_seconds: *delay_seconds,
            command_key: key,
        }),
        TaskSpec::ScheduleDownload {
            file_type,
            url,
            file_size,
            target_file_name,
            username,
            password,
            time_windows,
        } => Body::ScheduleDownload(cwmp::ScheduleDownload {
            command_key: key,
            file_type: file_type.clone(),
            url: inp.transfer_url(
                url,
                time_windows.iter().map(|w| w.window_end).max().unwrap_or(0),
            ),
            username: username.clone().unwrap_or_default(),
            password: password.clone().unwrap_or_default(),
            file_size: u32::try_from(*file_size).unwrap_or(u32::MAX),
            target_file_name: target_file_name.clone(),
            time_window_list: time_windows
                .iter()
                .map(|w| cwmp::TimeWindow {
                    window_start: w.window_start,
                    window_end: w.window_end,
                    window_mode: w.window_mode.clone(),
                    user_message: w.user_message.clone(),
                    max_retries: w.max_retries,
                })
                .collect(),
        }),
        TaskSpec::CancelTransfer { command_key } => Body::CancelTransfer(cwmp::CancelTransfer {
            command_key: command_key.clone(),
        }),
        TaskSpec::GetQueuedTransfers {} => Body::GetQueuedTransfers(cwmp::GetQueuedTransfers),
        TaskSpec::GetAllQueuedTransfers {} => {
            Body::GetAllQueuedTransfers(cwmp::GetAllQueuedTransfers)
        }
        TaskSpec::ChangeDuState { operations } => Body::ChangeDuState(cwmp::ChangeDuState {
            operations: operations
                .iter()
                .map(|op| du_operation(op, |url| inp.transfer_url(url, 0)))
                .collect(),
            command_key: key,
        }),
    })
}

fn du_operation(op: &DuOperation, own_url: impl Fn(&str) -> String) -> cwmp::DuOperation {
    match op.clone() {
        DuOperation::Install {
            url,
            uuid,
            username,
            password,
            execution_env_ref,
        } => cwmp::DuOperation::Install {
            url: own_url(&url),
            uuid,
            username,
            password,
            execution_env_ref,
        },
        DuOperation::Update {
            uuid,
            version,
            url,
            username,
            password,
        } => cwmp::DuOperation::Update {
            uuid,
            version,
            url: url.as_deref().map(&own_url),
            username,
            password,
        },
        DuOperation::Uninstall {
            uuid,
            version,
            execution_env_ref,
        } => cwmp::DuOperation::Uninstall {
            uuid,
            version,
            execution_env_ref,
        },
    }
}

/// The profile's default values as one SetParameterValues list (the end of a `sync`).
pub fn profile_defaults(profile: &DeviceTypeProfile) -> Vec<ParameterValueStruct> {
    profile
        .defaults
        .iter()
        .map(|d| {
            ParameterValueStruct::new(
                d.path.clone(),
                Value::parse(XsdType::from_attr(&d.xsd_type), d.value.clone()),
            )
        })
        .collect()
}
