//! Bearer-token authentication (DESIGN §8): the token's SHA-256 is looked up in the store;
//! the [`Caller`] it yields decides which organizations a request may touch.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use acs_store::{TokenHash, TokenScope};

use crate::ApiState;
use crate::error::{ApiError, ApiResult};

/// Who is asking: set by [`require_token`] on every authenticated request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub token_id: i64,
    pub scope: TokenScope,
}

impl Caller {
    /// The organizations a scoped token speaks for; `None` for an admin token.
    pub fn organizations(&self) -> Option<&[i64]> {
        self.scope.organizations()
    }

    /// The organization a write lands in when the body names none: a token scoped to one
    /// organization means that one; a token for several must say which (400); an admin token
    /// leaves it empty.
    pub fn default_organization(&self, field: &str) -> ApiResult<Option<i64>> {
        match self.organizations() {
            None => Ok(None),
            Some([one]) => Ok(Some(*one)),
            Some(_) => Err(ApiError::field(
                field,
                "required: this token reaches several organizations",
            )),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.scope == TokenScope::Admin
    }

    /// 403 unless the caller may see devices of organization `org` (`None`: a device in no
    /// organization, visible to admin tokens only).
    pub fn check_org(&self, org: Option<i64>) -> ApiResult<()> {
        match self.organizations() {
            None => Ok(()),
            Some(own) if org.is_some_and(|o| own.contains(&o)) => Ok(()),
            Some([one]) => Err(ApiError::Forbidden(format!(
                "this token is scoped to organization {one}"
            ))),
            Some(own) => Err(ApiError::Forbidden(format!(
                "this token is scoped to organizations {}",
                own.iter()
                    .map(|o| o.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// 403 unless this is an admin token (catalog writes).
    pub fn require_admin(&self) -> ApiResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(admin_required())
        }
    }
}

fn admin_required() -> ApiError {
    ApiError::Forbidden("this operation needs an admin token".into())
}

/// Layered on the admin-only handlers (catalog writes, firmware uploads): a caller without
/// admin rights gets its 403 before the handler's extractors run, so none of its body is
/// read (a 200 MB JSON body to an admin route cost gigabytes of memory before the 403).
/// The handlers check again; this makes the check come first.
pub async fn admin_only(req: Request, next: Next) -> Response {
    let admin = req
        .extensions()
        .get::<Caller>()
        .is_some_and(Caller::is_admin);
    if admin {
        next.run(req).await
    } else {
        admin_required().into_response()
    }
}

/// Rejects requests without a known `Authorization: Bearer <token>` (401), else hands the
/// [`Caller`] to the handler as a request extension.
pub async fn require_token(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Response {
    let header = req.headers().get(AUTHORIZATION).cloned();
    match authenticate(&state, header).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

async fn authenticate(
    state: &ApiState,
    header: Option<axum::http::HeaderValue>,
) -> ApiResult<Caller> {
    let header = header.ok_or(ApiError::Unauthorized(
        "authentication credentials were not provided",
    ))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| {
            let (scheme, rest) = h.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized(
            "expected Authorization: Bearer <token>",
        ))?;
    let token = state
        .store
        .lookup_token(&TokenHash::of(token), Utc::now())
        .await?
        .ok_or(ApiError::Unauthorized("invalid token"))?;
    Ok(Caller {
        token_id: token.id,
        scope: token.scope,
    })
}
