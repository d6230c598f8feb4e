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
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

/// Ready when the store answers a trivial read within 2 s.
async fn readyz(State(s): State<ApiState>) -> impl IntoResponse {
    match tokio::time::timeout(Duration::from_secs(2), s.store.device_by_serial("")).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n"),
    }
}
