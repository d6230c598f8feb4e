//! The API's error answers in the shapes of DESIGN §8: `{"detail": "..."}` for everything but
//! validation, `{"field": ["message", ...]}` for validation (400).

use std::collections::BTreeMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use acs_store::StoreError;

/// Per-field validation messages, in field order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was added, else the 400 carrying them.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Fields(self))
        }
    }
}

/// Everything a handler can answer with instead of success.
#[derive(Debug)]
pub enum ApiError {
    /// 400 with `{"detail": ...}`: the request as a whole is unusable (malformed JSON).
    BadRequest(String),
    /// 400 with per-field messages.
    Fields(FieldErrors),
    /// 401: no token, or one we do not know.
    Unauthorized(&'static str),
    /// 403: the token may not see this organization.
    Forbidden(String),
    NotFound(String),
    Conflict(String),
    PayloadTooLarge(String),
    /// 507: a storage quota would be exceeded.
    InsufficientStorage(String),
    /// 500; the cause is logged, never shown.
    Internal(String),
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        ApiError::Fields(errors)
    }

    pub fn not_found_serial(serial: &str) -> ApiError {
        ApiError::NotFound(format!("no device with serial number {serial:?}"))
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict { what } => ApiError::Conflict(format!("{what} already exists")),
            StoreError::NotFound { what } => ApiError::NotFound(format!("not found: {what}")),
            StoreError::ForeignKey { field, value } => {
                ApiError::field(field, format!("{value} does not exist"))
            }
            StoreError::Invalid { what, reason } => ApiError::field(what, reason),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body): (StatusCode, Value) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, json!({ "detail": m })),
            ApiError::Fields(f) => (StatusCode::BAD_REQUEST, json!(f.0)),
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, json!({ "detail": m })),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, json!({ "detail": m })),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, json!({ "detail": m })),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, json!({ "detail": m })),
            ApiError::PayloadTooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, json!({ "detail": m })),
            ApiError::InsufficientStorage(m) => {
                (StatusCode::INSUFFICIENT_STORAGE, json!({ "detail": m }))
            }
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "api request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "detail": "internal error" }),
                )
            }
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
