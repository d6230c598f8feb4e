//! The seed's six endpoints on `/inventory_device_serial/` (the contract in
//! `seed/inventory_device_serial_api.txt`).

use axum::Json;
use axum::extract::{Extension, OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use std::time::Instant;

use chrono::Utc;

use acs_session::task::TaskSpec;
use acs_store::{Device, DeviceFilter, DeviceStatus, NewTask};

use crate::ApiState;
use crate::auth::Caller;
use crate::device_write::{self, Mode};
use crate::error::{ApiError, ApiResult};
use crate::input::{JsonObject, QueryParams, Serial};
use crate::model::{DeviceOut, DevicePage, TaskOut};
use crate::pagination::{Window, links, request_origin};
use crate::references;
use crate::wake;

/// The device `serial` if the caller may see it: 404 unknown, 403 another organization's.
pub async fn load_device(state: &ApiState, caller: &Caller, serial: &str) -> ApiResult<Device> {
    let device = state
        .store
        .device_by_serial(serial)
        .await?
        .ok_or_else(|| ApiError::not_found_serial(serial))?;
    caller.check_org(device.organization_id)?;
    Ok(device)
}

/// `?pending=` and `?update_status=` of the list and detail endpoints.
struct Extras {
    pending: bool,
    update_status: bool,
}

impl Extras {
    fn from_query(q: &QueryParams) -> ApiResult<Extras> {
        Ok(Extras {
            pending: q.bool("pending")?.unwrap_or(false),
            update_status: q.bool("update_status")?.unwrap_or(false),
        })
    }

    async fn render(
        &self,
        state: &ApiState,
        mut devices: Vec<Device>,
    ) -> ApiResult<Vec<DeviceOut>> {
        if self.update_status {
            wake::refresh_status(state, &mut devices).await;
        }
        let mut out = Vec::with_capacity(devices.len());
        for device in devices {
            let id = device.id;
            let mut shown = DeviceOut::new(device);
            if self.pending {
                let tasks = state.store.list_tasks(id, true).await?;
                shown.pending = Some(tasks.into_iter().map(TaskOut::new).collect());
            }
            out.push(shown);
        }
        Ok(out)
    }
}

fn parse_status(q: &QueryParams) -> ApiResult<Option<DeviceStatus>> {
    match q.get("status") {
        None | Some("") => Ok(None),
        Some("0" | "false" | "False" | "Down" | "down") => Ok(Some(DeviceStatus::Down)),
        Some("1" | "true" | "True" | "Up" | "up") => Ok(Some(DeviceStatus::Up)),
        Some(other) => Err(ApiError::field(
            "status",
            format!("{other:?} is not one of 0, false, False, 1, true, True"),
        )),
    }
}

/// List devices
///
/// Paginated, filtered, ordered by id. Unknown query parameters are ignored; a `limit`
/// above the maximum is capped.
#[utoipa::path(
    get,
    path = "/api/v1/inventory_device_serial/",
    tag = "inventory_device_serial",
    params(
        ("type" = Option<i64>, Query, description = "Device type id"),
        ("status" = Option<String>, Query, description = "0/false/False = Down, 1/true/True = Up"),
        ("last_status_change_from" = Option<String>, Query, description = "ISO date or datetime, e.g. 2024-01-01 or 2024-01-01 00:01:00+00:00"),
        ("organization" = Option<i64>, Query, description = "Organization id"),
        ("is_active" = Option<bool>, Query, description = "Active flag"),
        ("limit" = Option<i64>, Query, description = "Page size (default 100, capped at the maximum, 1000 by default)"),
        ("offset" = Option<i64>, Query, description = "Index of the first result"),
        ("pending" = Option<bool>, Query, description = "Add `pending`: the open tasks of each device"),
        ("update_status" = Option<bool>, Query, description = "Connection-request this page's devices first and show what answered"),
    ),
    responses(
        (status = 200, description = "A page of devices", body = DevicePage),
        (status = 400, description = "A query parameter does not parse"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Another organization's devices"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    q: QueryParams,
) -> ApiResult<Json<DevicePage>> {
    let window = Window::from_query(&q, &state.config)?;
    let organization_id = q.int("organization")?;
    let mut filter = DeviceFilter {
        type_id: q.int("type")?,
        status: parse_status(&q)?,
        status_change_from: q.datetime("last_status_change_from")?,
        organization_id,
        is_active: q.bool("is_active")?,
        organization_scope: None,
    };
    let extras = Extras::from_query(&q)?;
    if let Some(own) = caller.organizations() {
        if let Some(org) = organization_id {
            caller.check_org(Some(org))?;
        }
        filter.organization_scope = Some(own.to_vec());
    }
    let cached = state.counts.get(&filter, Instant::now());
    let items = state
        .store
        .list_device_page(&filter, window.limit, window.offset)
        .await?;
    // A short page (not past the end) is its own exact count, cached or not.
    let n = items.len() as i64;
    let counted_by_page =
        (n < window.limit && (n > 0 || window.offset == 0)).then_some(window.offset + n);
    let count = match (counted_by_page, cached) {
        (Some(count), Ok(_)) | (None, Ok(count)) => count,
        (Some(count), Err(ticket)) => {
            state.counts.put(&filter, count, ticket, Instant::now());
            count
        }
        (None, Err(ticket)) => {
            let count = state.store.count_devices(&filter).await?;
            state.counts.put(&filter, count, ticket, Instant::now());
            count
        }
    };
    let (next, previous) = links(&request_origin(&headers), uri.path(), &q, window, count);
    Ok(Json(DevicePage {
        count,
        next,
        previous,
        results: extras.render(&state, items).await?,
    }))
}

/// Register a device
///
/// `serial_number` and `name` are required; `type`, `organization_id`, `location` and
/// `firmware_image` must exist. `password` (the connection-request password, ACS -> CPE) and
/// `cwmp_password` (what the CPE authenticates to the ACS with) are write-only; a
/// `cwmp_password` without `cwmp_username` gives the username `OUI-SerialNumber` (the serial
/// number alone while the OUI is unknown). The serial number: 1-128 characters, no control
/// characters, no `/`, no surrounding white space.
#[utoipa::path(
    post,
    path = "/api/v1/inventory_device_serial/",
    tag = "inventory_device_serial",
    request_body(content = Object, description = "Device fields (see the device schema; `password` and `cwmp_password` write-only)"),
    responses(
        (status = 201, description = "Created", body = DeviceOut),
        (status = 400, description = "Per-field errors: `{\"field\": [\"message\"]}`"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Another organization"),
        (status = 409, description = "The serial number is taken"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<DeviceOut>)> {
    let mut input = device_write::parse(&body, Mode::Create)?;
    if !caller.is_admin() {
        match input.fields.organization_id {
            None | Some(None) => {
                input.fields.organization_id = Some(caller.default_organization("organization_id")?)
            }
            Some(org) => caller.check_org(org)?,
        }
    }
    references::check_device_references(&state, &caller, None, &input).await?;
    // Like the seed's POST example, registering queues nothing (`pending_settings` null),
    // except a firmware image: asking for one means asking for its Download, queued in the
    // same transaction as the device (checked first for a clear error; the store's own check
    // keeps a race from writing anything).
    let firmware = input.fields.firmware_image_id.flatten();
    if let Some(id) = firmware
        && state.store.firmware_image(id).await?.is_none()
    {
        return Err(ApiError::field(
            "firmware_image",
            format!("{id} does not exist"),
        ));
    }
    let tasks: Vec<NewTask> = firmware
        .map(|id| TaskSpec::Firmware { firmware_image: id }.new_task(None))
        .into_iter()
        .collect();
    let device = state
        .store
        .create_device_with_tasks(&device_write::new_device(input), &tasks, Utc::now())
        .await?;
    state.counts.invalidate();
    Ok((StatusCode::CREATED, Json(DeviceOut::new(device))))
}

/// Get a device by serial number
#[utoipa::path(
    get,
    path = "/api/v1/inventory_device_serial/{serial_number}/",
    tag = "inventory_device_serial",
    params(
        ("serial_number" = String, Path, description = "Serial number (percent-encoded)"),
        ("pending" = Option<bool>, Query, description = "Add `pending`: the open tasks"),
        ("update_status" = Option<bool>, Query, description = "Connection-request the device first"),
    ),
    responses(
        (status = 200, description = "The device", body = DeviceOut),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Another organization's device"),
        (status = 404, description = "Unknown serial number"),
    ),
    security(("bearer" = []))
)]
pub async fn detail(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Serial(serial): Serial,
    q: QueryParams,
) -> ApiResult<Json<DeviceOut>> {
    let extras = Extras::from_query(&q)?;
    let device = load_device(&state, &caller, &serial).await?;
    let mut shown = extras.render(&state, vec![device]).await?;
    shown
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::not_found_serial(&serial))
}

/// Replace a device's fields
///
/// Requires the fields of the seed's PUT example (`name`, `customer_id`, `is_active`, `type`,
/// `description`, `organization_id`, `location_name`, `latitude`, `longitude`, `username`,
/// `update_frequency`; a 400 names each one missing), each replaced (`null` clears a nullable
/// one). `password`, `serial_number_alt`, `location`, `firmware_image` and `debug` may be left
/// out and are then kept. The body of a GET is accepted as it is: read-only fields are
/// ignored. Changed settings the device must learn become pending tasks; unchanged ones
/// queue nothing.
#[utoipa::path(
    put,
    path = "/api/v1/inventory_device_serial/{serial_number}/",
    tag = "inventory_device_serial",
    params(("serial_number" = String, Path, description = "Serial number")),
    request_body(content = Object, description = "Every required device field"),
    responses(
        (status = 200, description = "Updated", body = DeviceOut),
        (status = 400, description = "Per-field errors, a missing required field among them"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Another organization's device"),
        (status = 404, description = "Unknown serial number"),
    ),
    security(("bearer" = []))
)]
pub async fn replace(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Serial(serial): Serial,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<DeviceOut>> {
    write(state, caller, serial, body, Mode::Replace).await
}

/// Update a device partially, or run a remote operation
///
/// Plain fields are updated; a changed `update_frequency`, `username`/`password`,
/// `location_name`/`latitude`/`longitude` or `firmware_image`, and `reboot: true`,
/// `factory_reset: true` and `sync: true` become pending tasks, stored before the answer; a
/// connection request follows, and the answer carries its outcome as `connection_request`
/// (`accepted`, `auth_failed`, `unreachable`, ..., or `pending` when it takes longer than a
/// few seconds; every outcome is also in the device's `history/`). A value equal to the
/// current one changes nothing, so the body of a GET is accepted as it is (read-only fields
/// are ignored) and queues nothing; `null` clears a nullable field (`update_frequency: null`:
/// acs no longer manages the interval). A new `firmware_image` (or `null`) replaces the
/// download still pending for the previous one; `firmware_image_is_pending` is true while a
/// firmware download is queued or in flight, and turns false when it is applied, fails for
/// good or is cancelled.
#[utoipa::path(
    patch,
    path = "/api/v1/inventory_device_serial/{serial_number}/",
    tag = "inventory_device_serial",
    params(("serial_number" = String, Path, description = "Serial number")),
    request_body(content = Object, description = "Any device fields, plus `reboot`, `factory_reset`, `sync` (booleans)"),
    responses(
        (status = 200, description = "Updated; `pending_settings` shows the queued groups", body = DeviceOut),
        (status = 400, description = "Per-field errors"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Another organization's device"),
        (status = 404, description = "Unknown serial number"),
    ),
    security(("bearer" = []))
)]
pub async fn patch(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Serial(serial): Serial,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<DeviceOut>> {
    write(state, caller, serial, body, Mode::Patch).await
}

async fn write(
    state: ApiState,
    caller: Caller,
    serial: String,
    body: serde_json::Map<String, serde_json::Value>,
    mode: Mode,
) -> ApiResult<Json<DeviceOut>> {
    let input = device_write::parse(&body, mode)?;
    let device = load_device(&state, &caller, &serial).await?;
    if let Some(org) = input.fields.organization_id {
        caller.check_org(org)?;
    }
    references::check_device_references(&state, &caller, Some(&device), &input).await?;
    let current_password = if matches!(input.fields.password, Some(Some(_))) && device.has_password
    {
        state
            .store
            .device_password(device.id)
            .await?
            .map(|p| p.expose().to_owned())
    } else {
        None
    };
    let (patch, tasks) = device_write::update(&device, &input, current_password.as_deref())?;
    if patch.is_empty() && tasks.is_empty() {
        // what GET showed, sent back: nothing to write, not even `last_change`
        return Ok(Json(DeviceOut::new(device)));
    }
    // One transaction: the fields and the tasks they imply are stored together or not at all.
    let updated = state
        .store
        .update_device(&serial, &patch, &tasks, Utc::now())
        .await?;
    state.counts.invalidate();
    let woken = if tasks.is_empty() {
        None
    } else {
        Some(wake::after_write(&state, &updated).await)
    };
    let mut shown = DeviceOut::new(updated);
    shown.connection_request = woken;
    Ok(Json(shown))
}

/// Delete a device
///
/// Removes the device with its parameters, tasks and history. 409 while it is in a CWMP
/// session or a firmware transfer is in flight.
#[utoipa::path(
    delete,
    path = "/api/v1/inventory_device_serial/{serial_number}/",
    tag = "inventory_device_serial",
    params(("serial_number" = String, Path, description = "Serial number")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Another organization's device"),
        (status = 404, description = "Unknown serial number"),
        (status = 409, description = "In session, or a firmware transfer is in flight"),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Serial(serial): Serial,
) -> ApiResult<StatusCode> {
    let device = load_device(&state, &caller, &serial).await?;
    if state
        .store
        .session_lease_active(&serial, Utc::now())
        .await?
    {
        return Err(ApiError::Conflict(format!(
            "device {serial} is in a session; try again when it ends"
        )));
    }
    let transfer = state
        .store
        .list_tasks(device.id, true)
        .await?
        .into_iter()
        .any(|t| {
            t.state == acs_store::TaskState::InFlight
                && matches!(t.kind.as_str(), "firmware" | "download" | "upload")
        });
    if transfer {
        return Err(ApiError::Conflict(format!(
            "device {serial} has a file transfer in flight; try again when it completes"
        )));
    }
    state.store.delete_device(&serial).await?;
    state.counts.invalidate();
    Ok(StatusCode::NO_CONTENT)
}
