//! What the API shows: the seed's device representation (declared with the store's
//! `Device`), the pending task list, the pagination envelope. Built from store rows; the
//! password never has a field here.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use acs_session::task::TaskSpec;
use acs_store::{Device, Task};

/// A device as in the seed's detail example (lists show the same fields): the store's
/// [`Device`], which declares what GET shows, and what some answers add.
#[derive(Debug, Serialize, ToSchema)]
#[schema(
    description = "A device as in the seed's detail example. Lists show the same fields; \
                   `pending` and `connection_request` only where asked for."
)]
pub struct DeviceOut {
    #[serde(flatten)]
    pub device: Device,
    /// With `?pending=true` only: the open tasks behind `pending_settings`, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<Vec<TaskOut>>,
    /// Only in the answer to a PUT/PATCH that queued tasks: how the connection request asking
    /// the device to come for them went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_request: Option<crate::wake::WakeOut>,
}

impl DeviceOut {
    pub fn new(device: Device) -> DeviceOut {
        DeviceOut {
            device,
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
