//! What the API shows: the seed's device representation, the pending task list, the
//! pagination envelope. Built from store rows; the password never has a field here.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use acs_session::task::TaskSpec;
use acs_store::{Device, Task};

/// A device as in the seed's detail example. Lists show the same fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceOut {
    pub id: i64,
    pub uuid: String,
    pub name: Option<String>,
    pub customer_id: Option<String>,
    pub is_active: bool,
    /// `Up` or `Down`.
    #[schema(example = "Up")]
    pub status: &'static str,
    pub status_change: Option<DateTime<Utc>>,
    /// The device type id.
    #[serde(rename = "type")]
    pub type_id: Option<i64>,
    pub type_short_name: Option<String>,
    pub software_version: Option<String>,
    pub hardware_version: Option<String>,
    pub manufacturer: Option<String>,
    pub unique_identifier: Option<String>,
    pub product_class: Option<String>,
    pub serial_number: String,
    pub serial_number_alt: Option<String>,
    pub description: Option<String>,
    pub organization_id: Option<i64>,
    /// The firmware image id.
    pub firmware_image: Option<i64>,
    /// True while a firmware download for the device is queued or in flight; false once it
    /// was applied, failed for good or was cancelled.
    pub firmware_image_is_pending: bool,
    pub location_name: Option<String>,
    /// The location id.
    pub location: Option<i64>,
    pub location_short_name: Option<String>,
    /// Decimal degrees as a string, e.g. `"37.7749"`.
    pub latitude: Option<String>,
    pub longitude: Option<String>,
    /// The connection-request username (ACS -> CPE; its password is write-only).
    pub username: Option<String>,
    /// The username the CPE authenticates to the ACS with (CPE -> ACS,
    /// ManagementServer.Username; its password `cwmp_password` is write-only).
    pub cwmp_username: Option<String>,
    /// Periodic inform interval in seconds.
    pub update_frequency: Option<i64>,
    pub address: Option<String>,
    pub last_connection: Option<DateTime<Utc>>,
    pub last_configuration: Option<DateTime<Utc>>,
    pub last_change: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
    pub debug: bool,
    /// Comma-joined setting groups still pending (`firmware_upgrade,location_update`), or null.
    pub pending_settings: Option<String>,
    /// With `?pending=true` only: the open tasks behind `pending_settings`, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<Vec<TaskOut>>,
    /// Only in the answer to a PUT/PATCH that queued tasks: how the connection request asking
    /// the device to come for them went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_request: Option<crate::wake::WakeOut>,
}

impl DeviceOut {
    pub fn new(d: Device) -> DeviceOut {
        DeviceOut {
            id: d.id,
            uuid: d.uuid,
            name: d.name,
            customer_id: d.customer_id,
            is_active: d.is_active,
            status: d.status.as_str(),
            status_change: d.status_change,
            type_id: d.type_id,
            type_short_name: d.type_short_name,
            software_version: d.software_version,
            hardware_version: d.hardware_version,
            manufacturer: d.manufacturer,
            unique_identifier: d.unique_identifier,
            product_class: d.product_class,
            serial_number: d.serial_number,
            serial_number_alt: d.serial_number_alt,
            description: d.description,
            organization_id: d.organization_id,
            firmware_image: d.firmware_image_id,
            firmware_image_is_pending: d.firmware_image_is_pending,
            location_name: d.location_name,
            location: d.location_id,
            location_short_name: d.location_short_name,
            latitude: d.latitude,
            longitude: d.longitude,
            username: d.username,
            cwmp_username: d.cwmp_username,
            update_frequency: d.update_frequency,
            address: d.address,
            last_connection: d.last_connection,
            last_configuration: d.last_configuration,
            last_change: d.last_change,
            created: d.created,
            debug: d.debug,
            pending_settings: d.pending_settings,
            pending: None,
            connection_request: None,
        }
    }
}

/// A queued task as shown in `pending` and under `/tasks/`. Secrets in the payload are
/// redacted.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskOut {
    pub id: i64,
    /// The task kind (`reboot`, `firmware`, `set_parameter_values`, ...).
    pub kind: String,
    /// The CommandKey (or ParameterKey) sent with the task's RPC: what a `cancel_transfer`
    /// task names, and what queued-transfer lists and the device's events show.
    pub command_key: String,
    pub setting_group: String,
    /// `pending`, `in_flight` (sent; or accepted by the CPE and awaiting the report that
    /// completes it, see `accepted_at`), `done`, `failed`, `unconfirmed` (accepted, its
    /// completion never reported within the wait: not sent again) or `cancelled` (after its
    /// RPC went out; `fault_string` says what the CPE may have received).
    pub state: &'static str,
    pub attempts: i64,
    /// Sessions that ended right after this task's RPC was sent, without its answer; at 3 the
    /// task fails (a CPE that crashes on it).
    pub unanswered: i64,
    /// When the CPE accepted an RPC that completes later (Reboot, FactoryReset, a transfer,
    /// ChangeDUState); null otherwise.
    pub accepted_at: Option<DateTime<Utc>>,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub fault_code: Option<i64>,
    pub fault_string: Option<String>,
    /// What the CPE reported, for the kinds that report something: `get_rpc_methods` gives
    /// `{"methods": [...]}`, `get_parameter_names` `{"parameters": [{"name", "writable"}]}`,
    /// `get_parameter_attributes` `{"parameters": [{"name", "notification",
    /// "access_list"}]}` (`get_parameter_values` stores the values under `parameters/`
    /// instead), `get_queued_transfers` and `get_all_queued_transfers` give `{"transfers": [{"command_key", "state"
    /// (not_started, in_progress, completed), ...}]}`, `change_du_state` gives `{"results":
    /// [{"uuid", "deployment_unit_ref", "version", "current_state", "resolved",
    /// "execution_unit_ref_list", "start_time", "complete_time", "fault_code",
    /// "fault_string"}]}`, one per operation. Null otherwise.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

impl TaskOut {
    pub fn new(t: Task) -> TaskOut {
        let payload = match TaskSpec::from_parts(&t.kind, &t.payload.0) {
            Ok(spec) => spec.redacted_payload(),
            // Written by a newer or older acs: show nothing rather than risk a secret.
            Err(_) => Value::Object(Default::default()),
        };
        TaskOut {
            id: t.id,
            kind: t.kind,
            command_key: t.command_key,
            setting_group: t.setting_group,
            state: t.state.as_str(),
            attempts: t.attempts,
            unanswered: t.unanswered,
            accepted_at: t.accepted_at,
            payload,
            fault_code: t.fault_code,
            fault_string: t.fault_string,
            result: t.result.map(|r| r.0),
            created: t.created,
            updated: t.updated,
        }
    }
}

/// The seed's pagination envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct DevicePage {
    /// All matching devices, not just this page.
    pub count: i64,
    /// Absolute URL of the next page, or null.
    pub next: Option<String>,
    /// Absolute URL of the previous page, or null.
    pub previous: Option<String>,
    pub results: Vec<DeviceOut>,
}
