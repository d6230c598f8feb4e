//! Request extractors that answer every malformed input with the API's own error shapes
//! (axum's default rejections are plain text with 415/422, which the seed's clients do not
//! expect): the JSON object body, the query string, the serial number in the path.

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Longest serial number accepted anywhere: the store's one rule ([`acs_store::check_serial_number`]).
pub use acs_store::MAX_SERIAL_LEN;

/// A request body that must be one JSON object. The content type is not checked: curl's
/// `-d` sends `application/x-www-form-urlencoded` by default and the seed's examples must work.
#[derive(Debug)]
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("request body too large".into())
            } else {
                ApiError::BadRequest(format!("cannot read the request body: {e}"))
            }
        })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(JsonObject(map)),
            Ok(_) => Err(ApiError::BadRequest(
                "the request body must be a JSON object".into(),
            )),
            Err(e) => Err(ApiError::BadRequest(format!("malformed JSON: {e}"))),
        }
    }
}

/// The decoded query string, in order. Unknown parameters are kept (and ignored by handlers,
/// but carried into `next`/`previous` links).
#[derive(Debug, Default, Clone)]
pub struct QueryParams(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        Ok(QueryParams(
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

impl QueryParams {
    /// The last value of `name` (a repeated parameter: the last wins, as in Django).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// An integer parameter; `Err` names the parameter.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::field(name, format!("{v:?} is not an integer"))),
        }
    }

    /// A non-negative integer parameter (`limit`, `offset`).
    pub fn count(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.int(name)? {
            Some(n) if n < 0 => Err(ApiError::field(name, "must not be negative")),
            other => Ok(other),
        }
    }

    /// A boolean parameter: `1/true/True/yes` or `0/false/False/no`.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => parse_bool(v)
                .map(Some)
                .ok_or_else(|| ApiError::field(name, format!("{v:?} is not a boolean"))),
        }
    }

    /// A date (`2024-01-01`, midnight UTC) or datetime with or without offset
    /// (`2024-01-01 00:01:00+00:00`, `2024-01-01T00:01:00Z`; naive means UTC).
    pub fn datetime(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => parse_datetime(v).map(Some).ok_or_else(|| {
                ApiError::field(
                    name,
                    format!("{v:?} is not an ISO 8601 date or datetime (e.g. 2024-01-01)"),
                )
            }),
        }
    }
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim() {
        "1" | "true" | "True" | "TRUE" | "yes" => Some(true),
        "0" | "false" | "False" | "FALSE" | "no" => Some(false),
        _ => None,
    }
}

pub fn parse_datetime(v: &str) -> Option<DateTime<Utc>> {
    fn one(v: &str) -> Option<DateTime<Utc>> {
        if let Ok(t) = DateTime::parse_from_rfc3339(v) {
            return Some(t.with_timezone(&Utc));
        }
        for fmt in [
            "%Y-%m-%d %H:%M:%S%.f%:z",
            "%Y-%m-%dT%H:%M:%S%.f%:z",
            "%Y-%m-%d %H:%M:%S%.f%#z",
        ] {
            if let Ok(t) = DateTime::parse_from_str(v, fmt) {
                return Some(t.with_timezone(&Utc));
            }
        }
        for fmt in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M",
        ] {
            if let Ok(t) = NaiveDateTime::parse_from_str(v, fmt) {
                return Some(t.and_utc());
            }
        }
        NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
    }
    let v = v.trim();
    if let Some(t) = one(v) {
        return Some(t);
    }
    // An unencoded `+00:00` in a query string arrives as ` 00:00` (form decoding turns `+`
    // into a space): put the plus back.
    let i = v.rfind(' ')?;
    let mut fixed = v.to_owned();
    fixed.replace_range(i..=i, "+");
    one(&fixed)
}

/// The `{serial_number}` path segment, percent-decoded. Any unicode is allowed (an encoded
/// `%2F` is a literal slash of the serial, never another route); empty, overlong or invalid
/// UTF-8 serials are a 404 since no device can have them. The length is not checked here:
/// a device stored before the serial-number rule (`acs_store::check_serial_number`) with a
/// longer serial number can still be read and deleted.
#[derive(Debug, Clone)]
pub struct Serial(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Serial {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| match invalid_utf8_key(&rejection) {
                // Another segment (a task id) is the bad one: the request is malformed.
                Some(key) if key != "serial_number" => bad_utf8(key),
                _ => ApiError::NotFound("no such serial number".into()),
            })?;
        let serial = params
            .0
            .into_iter()
            .find(|(k, _)| k == "serial_number")
            .map(|(_, v)| v)
            .unwrap_or_default();
        if serial.is_empty() {
            return Err(ApiError::NotFound("no such serial number".into()));
        }
        Ok(Serial(serial))
    }
}

/// The integer ids in a path (`/organizations/{id}/`, `.../tasks/{task_id}/`). A segment that
/// is not valid UTF-8 once percent-decoded (`%FF`) is a JSON 400 here, where axum's own
/// `Path` would answer in plain text; one that is not an integer is a 404 (no such row).
#[derive(Debug, Clone)]
pub struct PathIds(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| bad_utf8(invalid_utf8_key(&rejection).unwrap_or("path")))?;
        Ok(PathIds(params.0))
    }
}

impl PathIds {
    /// The id named `name`, for a row called `what` in the 404 (`no organization "x"`).
    pub fn id(&self, name: &str, what: &str) -> Result<i64, ApiError> {
        let raw = self
            .0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        raw.parse::<i64>()
            .map_err(|_| ApiError::NotFound(format!("no {what} {raw:?}")))
    }
}

/// The path parameter whose percent-decoded bytes are not UTF-8, if that is the rejection.
fn invalid_utf8_key(rejection: &PathRejection) -> Option<&str> {
    match rejection {
        PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
            ErrorKind::InvalidUtf8InPathParam { key } => Some(key),
            _ => None,
        },
        _ => None,
    }
}

fn bad_utf8(key: &str) -> ApiError {
    ApiError::BadRequest(format!("`{key}` is not valid UTF-8 once percent-decoded"))
}
