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
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenScope {
    /// Every organization, and the catalog.
    Admin,
    /// These organizations' devices only (at least one; ascending, no repeats).
    Organizations(Vec<i64>),
}

impl TokenScope {
    /// A token for one organization.
    pub fn organization(id: i64) -> Self {
        TokenScope::Organizations(vec![id])
    }

    /// The organizations a scoped token may reach; `None` for an admin token.
    pub fn organizations(&self) -> Option<&[i64]> {
        match self {
            TokenScope::Admin => None,
            TokenScope::Organizations(orgs) => Some(orgs),
        }
    }
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

/// One row of a token joined with its organizations: a token spans as many rows as it has
/// organizations (one, with `scope_organization` NULL, when it has none).
#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    pub id: i64,
    pub name: String,
    pub is_admin: bool,
    pub created: DateTime<Utc>,
    pub last_used: Option<DateTime<Utc>>,
    pub scope_organization: Option<i64>,
}

/// Folds joined rows (ordered by token id) into tokens.
pub(crate) fn fold_rows(rows: Vec<TokenRow>) -> Vec<ApiToken> {
    let mut out: Vec<ApiToken> = Vec::new();
    for r in rows {
        if let Some(last) = out.last_mut()
            && last.id == r.id
        {
            if let (TokenScope::Organizations(orgs), Some(org)) =
                (&mut last.scope, r.scope_organization)
            {
                orgs.push(org);
            }
            continue;
        }
        let scope = if r.is_admin {
            TokenScope::Admin
        } else {
            TokenScope::Organizations(r.scope_organization.into_iter().collect())
        };
        out.push(ApiToken {
            id: r.id,
            name: r.name,
            scope,
            created: r.created,
            last_used: r.last_used,
        });
    }
    out
}
