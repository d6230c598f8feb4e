//! `limit`/`offset` pagination with absolute `next`/`previous` links that keep every other
//! query parameter (sorted by name, like the seed's example links).

use axum::http::HeaderMap;

use crate::ApiConfig;
use crate::error::ApiResult;
use crate::input::QueryParams;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub limit: i64,
    pub offset: i64,
}

impl Window {
    /// Reads `limit` and `offset`: negative or non-numeric is a 400, a `limit` over the
    /// maximum is capped, `limit=0` means the default.
    pub fn from_query(q: &QueryParams, config: &ApiConfig) -> ApiResult<Window> {
        let limit = match q.count("limit")? {
            None | Some(0) => config.default_limit,
            Some(n) => n.min(config.max_limit),
        };
        let offset = q.count("offset")?.unwrap_or(0);
        Ok(Window { limit, offset })
    }
}

/// `scheme://host` of the request: `X-Forwarded-Proto` (else http) and `Host`.
pub fn request_origin(headers: &HeaderMap) -> String {
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or("http").trim())
        .filter(|v| *v == "https" || *v == "http")
        .unwrap_or("http");
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
        })
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

/// The `next` and `previous` links for a page of `window` out of `count`.
pub fn links(
    origin: &str,
    path: &str,
    query: &QueryParams,
    window: Window,
    count: i64,
) -> (Option<String>, Option<String>) {
    let link = |offset: Option<i64>| {
        let mut params: Vec<(String, String)> = query
            .0
            .iter()
            .filter(|(k, _)| k != "limit" && k != "offset")
            .cloned()
            .collect();
        params.push(("limit".into(), window.limit.to_string()));
        if let Some(offset) = offset {
            params.push(("offset".into(), offset.to_string()));
        }
        // Stable: sorted by name, repeated names keep their order.
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &params {
            out.append_pair(k, v);
        }
        format!("{origin}{path}?{}", out.finish())
    };
    let end = window.offset.saturating_add(window.limit);
    let next = (end < count).then(|| link(Some(end)));
    let previous = (window.offset > 0).then(|| {
        let prev = window.offset - window.limit;
        // Like the seed's API: the first page's link carries no offset.
        if prev <= 0 {
            link(None)
        } else {
            link(Some(prev))
        }
    });
    (next, previous)
}
