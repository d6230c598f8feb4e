//! API token rows: create (the secret is returned once), list, revoke, look up by hash.

use chrono::{DateTime, Utc};

use crate::backend::on_pool;
use crate::error::{Result, StoreError};
use crate::token::{ApiToken, TokenHash, TokenRow, TokenScope, TokenSecret};
use crate::{Store, ts};

impl Store {
    /// Mints a token. The clear secret exists only in the returned value.
    pub async fn create_token(
        &self,
        name: &str,
        scope: TokenScope,
        now: DateTime<Utc>,
    ) -> Result<(ApiToken, TokenSecret)> {
        let now = ts(now);
        let secret = TokenSecret::generate();
        let (org, admin) = match scope {
            TokenScope::Admin => (None, true),
            TokenScope::Organization(org) => (Some(org), false),
        };
        let row: TokenRow = on_pool!(&self.backend, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin_write()).await?;
            crate::device::check_refs!(tx, [("organization_id", "organizations", org)])?;
            let row = sqlx::query_as(
                "INSERT INTO api_tokens (name, token_sha256, organization_id, is_admin, created) \
                 VALUES ($1, $2, $3, $4, $5) \
                 RETURNING id, name, organization_id, is_admin, created, last_used",
            )
            .bind(name)
            .bind(secret.hash().as_str())
            .bind(org)
            .bind(admin)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            row
        });
        Ok((row.into(), secret))
    }

    pub async fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        let rows: Vec<TokenRow> = on_pool!(&self.backend, |pool, dialect| {
            sqlx::query_as(
                "SELECT id, name, organization_id, is_admin, created, last_used FROM api_tokens \
                 ORDER BY id",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(ApiToken::from).collect())
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

    /// The token whose SHA-256 is `hash`, stamping its `last_used = now`.
    pub async fn lookup_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiToken>> {
        let now = ts(now);
        let row: Option<TokenRow> = on_pool!(&self.backend, |pool, dialect| {
            sqlx::query_as(
                "UPDATE api_tokens SET last_used = $2 WHERE token_sha256 = $1 \
                 RETURNING id, name, organization_id, is_admin, created, last_used",
            )
            .bind(hash.as_str())
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(ApiToken::from))
    }
}
