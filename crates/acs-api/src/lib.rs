//! The operator REST API (DESIGN §1, issue 5): devices by serial number with the seed's
//! contract (`/inventory_device_serial/`), the catalog (organizations, locations, device
//! types, firmware images), per-device parameters, tasks and history, bearer-token auth
//! scoped to organizations, and the OpenAPI 3.1 document with Swagger UI.
//!
//! The binary builds an [`ApiState`] and mounts [`router`] on its API listener; everything is
//! served under `/api/v1`.

mod auth;
mod catalog;
mod count_cache;
mod device_data;
mod device_write;
mod devices;
mod error;
mod firmware;
mod input;
mod model;
mod openapi;
mod pagination;
mod references;
mod traces;
mod wake;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

use acs_session::connection_request::ConnectionRequester;
use acs_session::engine::Metrics;
use acs_store::Store;

pub use auth::Caller;
pub use error::{ApiError, FieldErrors};
pub use openapi::openapi_json;

/// Everything the handlers share. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ApiState {
    pub store: Store,
    /// Sends the connection requests after a PATCH and for `update_status=true`.
    pub requester: ConnectionRequester,
    /// The engine's counters: the API's connection requests are counted there too
    /// (`acs_connection_requests_total` on `/metrics`).
    pub metrics: Arc<Metrics>,
    pub config: Arc<ApiConfig>,
    /// The list's `count` per filter, for [`ApiConfig::list_count_ttl`].
    pub(crate) counts: Arc<count_cache::CountCache>,
    /// Held while a firmware upload checks the quota, registers its image and publishes its
    /// file, and while a delete removes both: see `firmware.rs`.
    pub(crate) firmware_files: Arc<tokio::sync::Mutex<()>>,
    /// The wakes in flight on this node (one per device).
    pub(crate) wakes: Arc<wake::Wakes>,
}

impl ApiState {
    pub fn new(
        store: Store,
        requester: ConnectionRequester,
        metrics: Arc<Metrics>,
        config: ApiConfig,
    ) -> Self {
        ApiState {
            store,
            requester,
            metrics,
            counts: Arc::new(count_cache::CountCache::new(config.list_count_ttl)),
            firmware_files: Arc::new(tokio::sync::Mutex::new(())),
            wakes: Arc::default(),
            config: Arc::new(config),
        }
    }
}

/// The API's knobs (the binary fills them from its configuration).
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// How CPEs reach the CPE listener, e.g. `https://acs.example.net:7547`: the base of the
    /// firmware URLs named in `Download` RPCs and shown as `url`. When `None`, a best-effort
    /// URL is derived from the API request's `Host` with [`ApiConfig::cpe_port`].
    pub public_cwmp_url: Option<String>,
    /// The CPE listener's port, for the derived URL above. Default 7547.
    pub cpe_port: u16,
    /// Where firmware images live (`<data_dir>/firmware/<file_name>`).
    pub data_dir: PathBuf,
    /// Page size when the request names no `limit`. Default 100.
    pub default_limit: i64,
    /// Larger `limit`s are capped to this. Default 1000.
    pub max_limit: i64,
    /// `update_status=true`: at most this many connection requests at once. Default 16.
    pub update_status_concurrency: usize,
    /// `update_status=true`: the whole round of connection requests ends after this; devices
    /// that have not answered by then keep their stored status. Default 5 s.
    pub update_status_timeout: Duration,
    /// Largest firmware upload accepted (413 beyond). Default 512 MiB.
    pub max_upload_bytes: u64,
    /// Largest JSON body accepted (413 beyond). Default 1 MiB.
    pub max_json_bytes: usize,
    /// Most bytes all firmware images may take together (507 for an upload beyond).
    /// Default 8 GiB.
    pub max_firmware_storage_bytes: u64,
    /// How long a list's `count` is reused for the same filter on this node (device writes
    /// through the API forget it at once; see `count_cache.rs` for the bound). Zero: an exact
    /// `COUNT` on every page. Default 5 s.
    pub list_count_ttl: Duration,
    /// A write that queued tasks waits at most this long for its connection request's outcome
    /// (`connection_request` in its answer; `pending` when later). Default 3 s.
    pub wake_answer_wait: Duration,
    /// A wake for due tasks keeps trying (our own rate limit, an accepted request that brought
    /// no session, 503s, network failures) for at most this long after the last write that
    /// asked. Default 60 s.
    pub wake_retry_window: Duration,
    /// How long an accepted connection request waits for its session before asking again.
    /// Default 10 s.
    pub wake_session_wait: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            public_cwmp_url: None,
            cpe_port: 7547,
            data_dir: PathBuf::from("."),
            default_limit: 100,
            max_limit: 1000,
            update_status_concurrency: 16,
            update_status_timeout: Duration::from_secs(5),
            max_upload_bytes: 512 * 1024 * 1024,
            max_json_bytes: 1024 * 1024,
            max_firmware_storage_bytes: 8 * 1024 * 1024 * 1024,
            list_count_ttl: Duration::from_secs(5),
            wake_answer_wait: Duration::from_secs(3),
            wake_retry_window: Duration::from_secs(60),
            wake_session_wait: Duration::from_secs(10),
        }
    }
}

/// Every route under `/api/v1`: the authenticated API, plus `/api/v1/openapi.json` and the
/// Swagger UI at `/api/v1/docs/` without a token.
///
/// Body limits are per route: every route gets the JSON limit, and only the firmware upload
/// (a handler-level layer, which wins over the router's) the upload limit. Admin-only
/// handlers carry `auth::admin_only`, which answers 403 before their body is read.
pub fn router(state: ApiState) -> Router {
    let json_limit = state.config.max_json_bytes;
    let upload_limit = usize::try_from(state.config.max_upload_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    let authenticated = Router::new()
        .route(
            "/inventory_device_serial/",
            get(devices::list).post(devices::create),
        )
        .route(
            "/inventory_device_serial/{serial_number}/",
            get(devices::detail)
                .put(devices::replace)
                .patch(devices::patch)
                .delete(devices::delete),
        )
        .route(
            "/inventory_device_serial/{serial_number}/parameters/",
            get(device_data::parameters),
        )
        .route(
            "/inventory_device_serial/{serial_number}/tasks/",
            get(device_data::list_tasks).post(device_data::create_task),
        )
        .route(
            "/inventory_device_serial/{serial_number}/tasks/{task_id}/",
            get(device_data::task).delete(device_data::cancel_task),
        )
        .route(
            "/inventory_device_serial/{serial_number}/history/",
            get(device_data::history),
        )
        .route(
            "/inventory_device_serial/{serial_number}/traces/",
            get(traces::list),
        )
        .merge(catalog::routes())
        .merge(firmware::routes(upload_limit))
        .layer(DefaultBodyLimit::max(json_limit))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    Router::new()
        .nest("/api/v1", authenticated)
        .merge(openapi::routes())
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint (paths end with a slash)".into())
}

async fn method_not_allowed() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(serde_json::json!({ "detail": "method not allowed on this endpoint" })),
    )
        .into_response()
}
