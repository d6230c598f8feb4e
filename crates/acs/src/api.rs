//! The API listener's operational routes: `/metrics`, `/healthz`, `/readyz`. `acs serve`
//! merges the REST API router of `acs-api` (everything under `/api/v1`) beside them and
//! serves the whole through [`crate::api_listener`].

use std::sync::Arc;
use std::time::Duration;

use acs_session::engine::Metrics;
use acs_store::Store;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub metrics: Arc<Metrics>,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(s): State<ApiState>) -> impl IntoResponse {
    let mut text = s.metrics.render();
    // The store's own counter: reported parameters it did not keep (`param_limits.rs`).
    let refused = s.store.parameters_refused();
    text.push_str(
        "# HELP acs_parameters_refused_total Reported parameters not stored: a new path past \
         the per-device limit, or a value over the size limit.\n\
         # TYPE acs_parameters_refused_total counter\n",
    );
    text.push_str(&format!(
        "acs_parameters_refused_total{{reason=\"too_many\"}} {}\n\
         acs_parameters_refused_total{{reason=\"too_long\"}} {}\n",
        refused.too_many, refused.too_long
    ));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

/// Ready when the store answers a trivial read within 2 s.
async fn readyz(State(s): State<ApiState>) -> impl IntoResponse {
    match tokio::time::timeout(Duration::from_secs(2), s.store.device_by_serial("")).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n"),
    }
}
