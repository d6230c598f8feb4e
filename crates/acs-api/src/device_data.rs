//! Per-device data under `/inventory_device_serial/{serial_number}/`: the stored parameter
//! tree, the task queue (queue any supported RPC, read or cancel one) and the history
//! (Inform events, tasks with their faults, debug session traces).

use axum::Json;
use axum::extract::{Extension, OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use acs_session::task::TaskSpec;
use acs_store::{Cancellation, TaskState};

use crate::ApiState;
use crate::auth::Caller;
use crate::devices::load_device;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::input::{JsonObject, PathIds, QueryParams, Serial};
use crate::model::TaskOut;
use crate::pagination::{Window, links, request_origin};
use crate::traces::TraceOut;
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

/// A page of a device's parameters, in the device list's envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParameterPage {
    /// All matching parameters, not just this page.
    pub count: i64,
    /// Absolute URL of the next page, or null.
    pub next: Option<String>,
    /// Absolute URL of the previous page, or null.
    pub previous: Option<String>,
    pub results: Vec<ParameterOut>,
}

/// The device's stored parameters, a page at a time, by path
#[utoipa::path(get, path = "/api/v1/inventory_device_serial/{serial_number}/parameters/",
    tag = "device data",
    params(("serial_number" = String, Path),
        ("prefix" = Option<String>, Query, description = "Only paths starting with this, e.g. `Device.WiFi.`"),
        ("limit" = Option<i64>, Query, description = "Page size (default 100, at most 1000)"),
        ("offset" = Option<i64>, Query, description = "Parameters to skip")),
    responses((status = 200, body = ParameterPage), (status = 400), (status = 404)),
    security(("bearer" = [])))]
pub async fn parameters(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Serial(serial): Serial,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    q: QueryParams,
) -> ApiResult<Json<ParameterPage>> {
    let window = Window::from_query(&q, &state.config)?;
    let device = load_device(&state, &caller, &serial).await?;
    let prefix = q.get("prefix").unwrap_or("");
    let (count, params) = state
        .store
        .list_parameters_page(device.id, prefix, window.limit, window.offset)
        .await?;
    let (next, previous) = links(&request_origin(&headers), uri.path(), &q, window, count);
    Ok(Json(ParameterPage {
        count,
        next,
        previous,
        results: params
            .into_iter()
            .map(|p| ParameterOut {
                path: p.path,
                value: p.value,
                xsd_type: p.xsd_type,
                writable: p.writable,
                updated: p.updated,
            })
            .collect(),
    }))
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
///
/// Identical intents merge: a `reboot` or `factory_reset` while one is open (pending or in
/// flight), a `sync` or `credentials` while one is pending, answer 200 with that open task
/// and queue nothing; an `update_frequency` or `firmware` replaces the payload of a pending
/// one never sent (200, that task). Raw RPCs and `location` always queue a task (201).
#[utoipa::path(post, path = "/api/v1/inventory_device_serial/{serial_number}/tasks/",
    tag = "device data",
    params(("serial_number" = String, Path)),
    request_body(content = Object, description = "`kind`, `payload`, optional `setting_group`"),
    responses((status = 201, body = TaskOut, description = "Queued"),
        (status = 200, body = TaskOut, description = "Merged into the open task of the same intent"),
        (status = 400), (status = 404)),
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
    let task = spec.new_task(group);
    let mut stored = state
        .store
        .queue_tasks(device.id, &[task], Utc::now())
        .await?;
    wake::wake_in_background(&state, &device);
    let queued = stored
        .pop()
        .ok_or_else(|| ApiError::Internal("enqueued task not returned".into()))?;
    let status = if queued.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(TaskOut::new(queued.task))))
}

/// One task of the device
#[utoipa::path(get, path = "/api/v1/inventory_device_serial/{serial_number}/tasks/{task_id}/",
    tag = "device data",
    params(("serial_number" = String, Path), ("task_id" = i64, Path)),
    responses((status = 200, body = TaskOut), (status = 404)),
    security(("bearer" = [])))]
pub async fn task(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Serial(serial): Serial,
    path: PathIds,
) -> ApiResult<Json<TaskOut>> {
    let device = load_device(&state, &caller, &serial).await?;
    let task_id = path.id("task_id", "task")?;
    let task = state
        .store
        .device_task(device.id, task_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("task {task_id} of device {serial}")))?;
    Ok(Json(TaskOut::new(task)))
}

/// Cancel a task
///
/// A task never sent is withdrawn (204, gone). One whose RPC already went out (in flight,
/// accepted by the CPE and awaiting its completion, or pending again after that) is never
/// sent again and kept as `cancelled` (200, the task), its `fault_string` saying what the CPE
/// may already have received: a Reboot the CPE accepted may still happen. A task that has
/// ended is left as it is (409). Cancelling a `firmware` task clears the device's
/// `firmware_image_is_pending` unless another firmware task of the device is still open.
#[utoipa::path(delete, path = "/api/v1/inventory_device_serial/{serial_number}/tasks/{task_id}/",
    tag = "device data",
    params(("serial_number" = String, Path), ("task_id" = i64, Path)),
    responses((status = 204, description = "Withdrawn before it was sent"),
        (status = 200, body = TaskOut, description = "Cancelled after its RPC went out"),
        (status = 404), (status = 409, description = "The task has ended")),
    security(("bearer" = [])))]
pub async fn cancel_task(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Serial(serial): Serial,
    path: PathIds,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let device = load_device(&state, &caller, &serial).await?;
    let task_id = path.id("task_id", "task")?;
    match state
        .store
        .cancel_task(device.id, task_id, Utc::now())
        .await?
    {
        Cancellation::Withdrawn => Ok(StatusCode::NO_CONTENT.into_response()),
        Cancellation::Cancelled(task) => Ok(Json(TaskOut::new(task)).into_response()),
        Cancellation::Ended(ended) => Err(ApiError::Conflict(format!(
            "task {task_id} has ended ({}) and cannot be cancelled",
            ended.as_str()
        ))),
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
pub struct HistoryOut {
    /// Newest first.
    pub events: Vec<EventOut>,
    /// Tasks that failed, ended unconfirmed or were cancelled after their RPC went out, and
    /// open tasks waiting to retry after a fault, with their CWMP fault code and string.
    pub faults: Vec<TaskOut>,
    /// The newest session traces (at most `limit`; all of them under `traces/`), recorded
    /// while the device's `debug` flag is on, oldest first.
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
    params(("serial_number" = String, Path), ("limit" = Option<i64>, Query, description = "At most this many events, and traces (default 100)")),
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
        .filter(|t| match t.state {
            TaskState::Failed | TaskState::Unconfirmed | TaskState::Cancelled => true,
            TaskState::Pending | TaskState::InFlight => t.fault_code.is_some(),
            TaskState::Done => false,
        })
        .map(TaskOut::new)
        .collect();
    let traces = state.store.list_traces(device.id, limit).await?;
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
        traces: traces.into_iter().map(TraceOut::new).collect(),
        connection_requests,
    }))
}
