//! API tokens: 256 random bits shown once; only their SHA-256 is stored.

use std::fmt;

use chrono::{DateTime, Utc};
use ring::digest::{SHA256, digest};

use crate::secret::{hex_encode, random_array};

/// Prefix of every token, so a leaked one is recognisable in a secret scanner.
const TOKEN_PREFIX: &str = "acs_";

/// A freshly minted bearer token in clear. Shown to the operator once; `Debug` redacts it.
pub struct TokenSecret(String);

impl TokenSecret {
    pub(crate) fn generate() -> Self {
        TokenSecret(format!(
            "{TOKEN_PREFIX}{}",
            hex_encode(&random_array::<32>())
        ))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

/// SHA-256 of a presented token, lower-case hex: what the store keeps and looks up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenHash(String);

impl TokenHash {
    /// Hashes what a client presented in `Authorization: Bearer <token>`.
    pub fn of(presented: &str) -> Self {
        TokenHash(hex_encode(digest(&SHA256, presented.as_bytes()).as_ref()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who a token speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenScope {
    /// Every organization, and the catalog.
    Admin,
    /// One organization's devices only.
    Organization(i64),
}

/// A token as listed: never the secret, never the hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub scope: TokenScope,
    pub created: DateTime<Utc>,
    pub last_used: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    pub id: i64,
    pub name: String,
    pub organization_id: Option<i64>,
    pub is_admin: bool,
    pub created: DateTime<Utc>,
    pub last_used: Option<DateTime<Utc>>,
}

impl From<TokenRow> for ApiToken {
    fn from(r: TokenRow) -> Self {
        let scope = match (r.is_admin, r.organization_id) {
            (false, Some(org)) => TokenScope::Organization(org),
            _ => TokenScope::Admin,
        };
        ApiToken {
            id: r.id,
            name: r.name,
            scope,
            created: r.created,
            last_used: r.last_used,
        }
    }
}
