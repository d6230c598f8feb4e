//! `/{serial_number}/traces/`: the debug session traces of a device, paged. While a
//! device's `debug` flag is on, every message of its sessions is recorded (by the CPE
//! listener, secrets redacted), within the bounds the server is configured with.

use axum::Json;
use axum::extract::{Extension, OriginalUri, State};
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use acs_store::{TraceDirection, TraceRecord};

use crate::ApiState;
use crate::auth::Caller;
use crate::devices::load_device;
use crate::error::ApiResult;
use crate::input::{QueryParams, Serial};
use crate::pagination::{Window, links, request_origin};

/// One recorded message.
#[derive(Debug, Serialize, ToSchema)]
pub struct TraceOut {
    pub id: i64,
    /// `in` (CPE to ACS) or `out` (the ACS's reply).
    pub direction: &'static str,
    /// When the session's Inform arrived: the messages of one session share it.
    pub session_started: Option<DateTime<Utc>>,
    /// The HTTP status of an `out` message (200, 204, 503, ...); null for `in`.
    pub http_status: Option<i32>,
    /// The message as UTF-8 text, secrets replaced by `***` (password-like parameter
    /// values, `Password` elements); empty for an empty POST or a 204. Cut when longer than
    /// the per-message bound (`truncated`).
    pub body: String,
    /// The message's size in bytes as it went over the wire (before redaction and cutting).
    pub size: Option<i64>,
    /// True when `body` is cut.
    pub truncated: bool,
    pub recorded: DateTime<Utc>,
}

impl TraceOut {
    pub fn new(t: TraceRecord) -> TraceOut {
        TraceOut {
            id: t.id,
            direction: match t.direction {
                TraceDirection::In => "in",
                TraceDirection::Out => "out",
            },
            session_started: t.session_started,
            http_status: t.http_status,
            body: t.body,
            size: t.size,
            truncated: t.truncated,
            recorded: t.recorded,
        }
    }
}

/// A page of traces in the seed's pagination envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct TracePage {
    pub count: i64,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<TraceOut>,
}

/// The device's debug session traces, oldest first
///
/// Recorded while the device's `debug` is true, from its next session on (both directions,
/// secrets redacted); kept within the server's bounds (messages per device, bytes per
/// message, age).
#[utoipa::path(get, path = "/api/v1/inventory_device_serial/{serial_number}/traces/",
    tag = "device data",
    params(
        ("serial_number" = String, Path),
        ("limit" = Option<i64>, Query, description = "Page size"),
        ("offset" = Option<i64>, Query, description = "Index of the first trace"),
    ),
    responses((status = 200, body = TracePage), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Serial(serial): Serial,
    q: QueryParams,
) -> ApiResult<Json<TracePage>> {
    let window = Window::from_query(&q, &state.config)?;
    let device = load_device(&state, &caller, &serial).await?;
    let page = state
        .store
        .trace_page(device.id, window.limit, window.offset)
        .await?;
    let (next, previous) = links(
        &request_origin(&headers),
        uri.path(),
        &q,
        window,
        page.count,
    );
    Ok(Json(TracePage {
        count: page.count,
        next,
        previous,
        results: page.items.into_iter().map(TraceOut::new).collect(),
    }))
}
