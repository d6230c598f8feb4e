//! API token rows: create (the secret is returned once), list, revoke, look up by hash.
//! A scoped token's organizations are rows of `api_token_organizations`.

use chrono::{DateTime, Utc};

use crate::backend::on_pool;
use crate::error::{Result, StoreError};
use crate::token::{ApiToken, TokenHash, TokenRow, TokenScope, TokenSecret, fold_rows};
use crate::{Store, ts};

/// How stale `last_used` may be: a token is stamped at most once per this interval.
pub const LAST_USED_RESOLUTION: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

const TOKEN_SELECT: &str = "SELECT t.id, t.name, t.is_admin, t.created, t.last_used, \
     o.organization_id AS scope_organization FROM api_tokens t \
     LEFT JOIN api_token_organizations o ON o.token_id = t.id";

impl Store {
    /// Mints a token. The clear secret exists only in the returned value. A scoped token
    /// needs at least one organization, each existing (`ForeignKey` otherwise, nothing
    /// written); repeats are folded.
    pub async fn create_token(
        &self,
        name: &str,
        scope: TokenScope,
        now: DateTime<Utc>,
    ) -> Result<(ApiToken, TokenSecret)> {
        let now = ts(now);
        let secret = TokenSecret::generate();
        let (orgs, admin) = match scope {
            TokenScope::Admin => (Vec::new(), true),
            TokenScope::Organizations(mut orgs) => {
                orgs.sort_unstable();
                orgs.dedup();
                if orgs.is_empty() {
                    return Err(StoreError::Invalid {
                        what: "token scope",
                        reason: "a scoped token needs at least one organization".into(),
                    });
                }
                (orgs, false)
            }
        };
        let first = orgs.first().copied();
        let id: i64 = on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            crate::device::check_refs!(
                tx,
                orgs.iter()
                    .map(|o| ("organization_id", "organizations", Some(*o)))
            )?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO api_tokens (name, token_sha256, organization_id, is_admin, created) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(name)
            .bind(secret.hash().as_str())
            .bind(first)
            .bind(admin)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            for org in &orgs {
                sqlx::query(
                    "INSERT INTO api_token_organizations (token_id, organization_id) \
                     VALUES ($1, $2)",
                )
                .bind(id)
                .bind(org)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            id
        });
        let token = ApiToken {
            id,
            name: name.to_owned(),
            scope: if admin {
                TokenScope::Admin
            } else {
                TokenScope::Organizations(orgs)
            },
            created: now,
            last_used: None,
        };
        Ok((token, secret))
    }

    pub async fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        let sql = format!("{TOKEN_SELECT} ORDER BY t.id, o.organization_id");
        let rows: Vec<TokenRow> = on_pool!(&self.backend, |pool, dialect| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(pool)
                .await?
        });
        Ok(fold_rows(rows))
    }

    pub async fn revoke_token(&self, id: i64) -> Result<()> {
        let n = on_pool!(&self.backend, |pool, dialect| {
            sqlx::query("DELETE FROM api_tokens WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::not_found(format!("token {id}")));
        }
        Ok(())
    }

    /// The token whose SHA-256 is `hash`. `last_used` is stamped with `now` only when the
    /// stored value is older than [`LAST_USED_RESOLUTION`] (or unset): a token used on every
    /// request costs one read, not one write, per request. The age test is in the `UPDATE`
    /// itself, so several nodes stamping the same token at once write it once.
    pub async fn lookup_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiToken>> {
        let stale_before = ts(now - LAST_USED_RESOLUTION);
        let now = ts(now);
        let sql = format!("{TOKEN_SELECT} WHERE t.token_sha256 = $1 ORDER BY o.organization_id");
        let token: Option<ApiToken> = on_pool!(&self.backend, |pool, dialect| {
            let rows: Vec<TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(hash.as_str())
                .fetch_all(pool)
                .await?;
            match fold_rows(rows).pop() {
                Some(mut token) if token.last_used.is_none_or(|t| t < stale_before) => {
                    let stamped = sqlx::query(
                        "UPDATE api_tokens SET last_used = $2 \
                         WHERE id = $1 AND (last_used IS NULL OR last_used < $3)",
                    )
                    .bind(token.id)
                    .bind(now)
                    .bind(stale_before)
                    .execute(pool)
                    .await?
                    .rows_affected();
                    if stamped > 0 {
                        token.last_used = Some(now);
                    }
                    Some(token)
                }
                other => other,
            }
        });
        Ok(token)
    }
}
