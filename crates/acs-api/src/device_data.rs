//! Per-device data under `/inventory_device_serial/{serial_number}/`: the stored parameter
//! tree, the task queue (queue any supported RPC, cancel a pending one) and the history
//! (Inform events, failed tasks with their faults, debug session traces).

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use acs_session::task::TaskSpec;
use acs_store::{NewTask, TaskState, TraceDirection};

use crate::ApiState;
use crate::auth::Caller;
use crate::devices::load_device;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::input::{JsonObject, PathIds, QueryParams, Serial};
use crate::model::TaskOut;
use crate::wake;

#[derive(Debug, Serialize, ToSchema)]
pub struct ParameterOut {
    pub path: String,
    pub value: String,
    /// xsd type without prefix (`string`, `unsignedInt`, ...).
    #[serde(rename = "type")]
    pub xsd_type: String,
    pub writable: Option<bool>,
    /// When the value (or its type or writability) was last set or changed; a report of
    /// the same value does not move it. The device's `last_connection` says when it was last
    /// heard from.
    pub updated: DateTime<Utc>,
}

/// The device's stored parameters
#[utoipa::path(get, path = "/api/v1/inventory_device_serial/{serial_number}/parameters/",
    tag = "device data",
    params(("serial_number" = String, Path), ("prefix" = Option<String>, Query, description = "Only paths starting with this, e.g. `Device.WiFi.`")),
    responses((status = 200, body = Vec<ParameterOut>), (status = 404)),
    security(("bearer" = [])))]
pub async fn parameters(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Serial(serial): Serial,
    q: QueryParams,
) -> ApiResult<Json<Vec<ParameterOut>>> {
    let device = load_device(&state, &caller, &serial).await?;
    let prefix = q.get("prefix").unwrap_or("");
    let params = state.store.list_parameters(device.id, prefix).await?;
    Ok(Json(
        params
            .into_iter()
            .map(|p| ParameterOut {
                path: p.path,
                value: p.value,
                xsd_type: p.xsd_type,
                writable: p.writable,
                updated: p.updated,
            })
            .collect(),
    ))
}

/// The device's tasks, oldest first
#[utoipa::path(get, path = "/api/v1/inventory_device_serial/{serial_number}/tasks/",
    tag = "device data",
    params(("serial_number" = String, Path), ("open" = Option<bool>, Query, description = "Only pending and in-flight tasks")),
    responses((status = 200, body = Vec<TaskOut>), (status = 404)),
    security(("bearer" = [])))]
pub async fn list_tasks(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Serial(serial): Serial,
    q: QueryParams,
) -> ApiResult<Json<Vec<TaskOut>>> {
    let open = q.bool("open")?.unwrap_or(false);
    let device = load_device(&state, &caller, &serial).await?;
    let tasks = state.store.list_tasks(device.id, open).await?;
    Ok(Json(tasks.into_iter().map(TaskOut::new).collect()))
}

/// Queue a task
///
/// Body: `{"kind": "get_parameter_values", "payload": {"names": ["Device.DeviceInfo."]},
/// "setting_group": "optional_group"}`. Any kind of the task contract: the raw RPCs
/// (`get_parameter_values`, `set_parameter_values`, `get_parameter_names`,
/// `get_parameter_attributes`, `set_parameter_attributes`, `add_object`, `delete_object`,
/// `download`, `upload`, `schedule_inform`, `get_rpc_methods`, `schedule_download`,
/// `cancel_transfer`, `get_queued_transfers`, `get_all_queued_transfers`,
/// `change_du_state`) and the intents. A connection request follows.
///
/// - `schedule_download`: `file_type`, `url` (<= 256), optional `file_size`,
///   `target_file_name`, `username`, `password`, and `time_windows`: 1 or 2 of
///   `{"window_start", "window_end"}` (seconds from receipt; the second starts no earlier
///   than the first ends) with optional `window_mode` (default `1 At Any Time`),
///   `user_message`, `max_retries` (default -1: the CPE decides). Done on its
///   TransferComplete (`M ScheduleDownload`).
/// - `cancel_transfer`: `command_key` (1–32), that of a queued `download`, `upload`,
///   `schedule_download` or `firmware` task; that task then fails as cancelled.
/// - `get_queued_transfers`, `get_all_queued_transfers`: `{}`; the list is the task's
///   `result`.
/// - `change_du_state`: `operations`, each `{"operation": "install", "url" (<= 1024),
///   "uuid"?, "username"?, "password"?, "execution_env_ref"?}`, `{"operation": "update",
///   "uuid"?, "version"?, "url"?, "username"?, "password"?}` or `{"operation": "uninstall",
///   "uuid", "version"?, "execution_env_ref"?}`. Done on its DUStateChangeComplete
///   (`M ChangeDUState`), the per-operation results in `result`; a failed operation fails
///   the task with its fault code.
///
/// A bad payload is a 400 naming the field, e.g. `{"payload.time_windows[1].window_start":
/// [...]}`.
#[utoipa::path(post, path = "/api/v1/inventory_device_serial/{serial_number}/tasks/",
    tag = "device data",
    params(("serial_number" = String, Path)),
    request_body(content = Object, description = "`kind`, `payload`, optional `setting_group`"),
    responses((status = 201, body = TaskOut), (status = 400), (status = 404)),
    security(("bearer" = [])))]
pub async fn create_task(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Serial(serial): Serial,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<TaskOut>)> {
    let mut errors = FieldErrors::default();
    for key in body.keys() {
        if !matches!(key.as_str(), "kind" | "payload" | "setting_group") {
            errors.add(key.clone(), "unknown field");
        }
    }
    let kind = match body.get("kind") {
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => {
            errors.add("kind", "must be a string");
            None
        }
        None => {
            errors.add("kind", "this field is required");
            None
        }
    };
    let group = match body.get("setting_group") {
        None | Some(Value::Null) => None,
        Some(Value::String(g))
            if !g.is_empty()
                && g.len() <= 64
                && g.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
        {
            Some(g.clone())
        }
        Some(_) => {
            errors.add("setting_group", "must be 1 to 64 of [a-z0-9_]");
            None
        }
    };
    let payload = body.get("payload").cloned().unwrap_or(Value::Null);
    let spec = match &kind {
        Some(kind) => match TaskSpec::from_parts(kind, &payload) {
            Ok(spec) => Some(spec),
            Err(e) => {
                let field = if e.field.starts_with("payload") {
                    e.field
                } else {
                    format!("payload.{}", e.field)
                };
                errors.add(field, e.message);
                None
            }
        },
        None => None,
    };
    errors.into_result()?;
    let Some(spec) = spec else {
        return Err(ApiError::BadRequest("no task given".into()));
    };
    let device = load_device(&state, &caller, &serial).await?;
    let (kind, payload) = spec.to_parts();
    let task = NewTask {
        kind: kind.to_owned(),
        setting_group: group.unwrap_or_else(|| spec.default_setting_group().to_owned()),
        payload,
    };
    let mut stored = state
        .store
        .enqueue_tasks(device.id, &[task], Utc::now())
        .await?;
    wake::wake_in_background(&state, &device);
    let task = stored
        .pop()
        .ok_or_else(|| ApiError::Internal("enqueued task not returned".into()))?;
    Ok((StatusCode::CREATED, Json(TaskOut::new(task))))
}

/// Cancel a pending task (409 once in flight or settled)
///
/// Cancelling a `firmware` task clears the device's `firmware_image_is_pending` unless
/// another firmware task of the device is still open.
#[utoipa::path(delete, path = "/api/v1/inventory_device_serial/{serial_number}/tasks/{task_id}/",
    tag = "device data",
    params(("serial_number" = String, Path), ("task_id" = i64, Path)),
    responses((status = 204), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn cancel_task(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Serial(serial): Serial,
    path: PathIds,
) -> ApiResult<StatusCode> {
    let device = load_device(&state, &caller, &serial).await?;
    let task_id = path.id("task_id", "task")?;
    if state
        .store
        .cancel_task(device.id, task_id, Utc::now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::Conflict(format!(
            "task {task_id} is no longer pending and cannot be cancelled"
        )))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    pub id: i64,
    /// Inform event code, e.g. `1 BOOT`.
    pub code: String,
    pub command_key: String,
    pub received: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TraceOut {
    pub id: i64,
    /// `in` (CPE to ACS) or `out`.
    pub direction: &'static str,
    pub body: String,
    pub recorded: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryOut {
    /// Newest first.
    pub events: Vec<EventOut>,
    /// Tasks that failed, with their CWMP fault code and string.
    pub faults: Vec<TaskOut>,
    /// Session traces kept while the device's `debug` flag is on, oldest first.
    pub traces: Vec<TraceOut>,
    /// The device's last connection requests (at most 20), newest first.
    pub connection_requests: Vec<ConnectionRequestOut>,
}

/// One connection request acs sent the device (or refused to send).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionRequestOut {
    /// `tasks` (tasks were due: after an API change, or a retry) or `status_check`
    /// (`update_status=true`).
    pub purpose: String,
    /// `accepted`, `auth_failed`, `busy`, `unreachable`, `timeout`, `protocol_error`,
    /// `http_status`, `invalid_url` or `refused` (the address policy: nothing was sent).
    pub outcome: String,
    /// What happened, in words.
    pub detail: String,
    pub sent: DateTime<Utc>,
}

/// The device's history: events, faults, debug traces
#[utoipa::path(get, path = "/api/v1/inventory_device_serial/{serial_number}/history/",
    tag = "device data",
    params(("serial_number" = String, Path), ("limit" = Option<i64>, Query, description = "At most this many events (default 100)")),
    responses((status = 200, body = HistoryOut), (status = 404)),
    security(("bearer" = [])))]
pub async fn history(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Serial(serial): Serial,
    q: QueryParams,
) -> ApiResult<Json<HistoryOut>> {
    let limit = q
        .count("limit")?
        .unwrap_or(100)
        .clamp(1, state.config.max_limit);
    let device = load_device(&state, &caller, &serial).await?;
    let events = state.store.list_events(device.id, limit).await?;
    let faults = state
        .store
        .list_tasks(device.id, false)
        .await?
        .into_iter()
        .filter(|t| t.state == TaskState::Failed)
        .map(TaskOut::new)
        .collect();
    let traces = state.store.list_traces(device.id).await?;
    let connection_requests = state
        .store
        .list_connection_requests(device.id)
        .await?
        .into_iter()
        .map(|c| ConnectionRequestOut {
            purpose: c.purpose,
            outcome: c.outcome,
            detail: c.detail,
            sent: c.sent,
        })
        .collect();
    Ok(Json(HistoryOut {
        events: events
            .into_iter()
            .map(|e| EventOut {
                id: e.id,
                code: e.code,
                command_key: e.command_key,
                received: e.received,
            })
            .collect(),
        faults,
        traces: traces
            .into_iter()
            .map(|t| TraceOut {
                id: t.id,
                direction: match t.direction {
                    TraceDirection::In => "in",
                    TraceDirection::Out => "out",
                },
                body: t.body,
                recorded: t.recorded,
            })
            .collect(),
        connection_requests,
    }))
}
