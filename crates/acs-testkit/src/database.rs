//! Fresh databases: unique names, the URL of one, PostgreSQL create and drop.

use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{Connection, PgConnection};

/// `<prefix>_<pid>_<nanos>_<n>`: unique across concurrent cases and concurrent test binaries,
/// and a valid unquoted PostgreSQL identifier for a lower-case `prefix`.
pub fn unique_name(prefix: &str) -> String {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{nanos:x}_{n}", std::process::id())
}

/// `base` with its database name replaced by `db` (query string kept).
pub fn with_database(base: &str, db: &str) -> String {
    let (head, query) = base.split_once('?').unwrap_or((base, ""));
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let path_start = head[scheme_end..]
        .find('/')
        .map_or(head.len(), |i| scheme_end + i);
    let mut url = format!("{}/{db}", &head[..path_start]);
    if !query.is_empty() {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// `CREATE DATABASE <db>` through the server at `base`.
pub async fn create_database(base: &str, db: &str) -> Result<(), String> {
    admin(base, format!("CREATE DATABASE {db}")).await
}

/// `DROP DATABASE IF EXISTS <db> WITH (FORCE)`: connections a case left open do not keep it.
pub async fn drop_database(base: &str, db: &str) -> Result<(), String> {
    admin(base, format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await
}

async fn admin(base: &str, sql: String) -> Result<(), String> {
    let mut conn = PgConnection::connect(base)
        .await
        .map_err(|e| format!("cannot reach ACS_TEST_POSTGRES_URL: {e}"))?;
    let done = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .execute(&mut conn)
        .await
        .map(|_| ())
        .map_err(|e| format!("{sql}: {e}"));
    let _ = conn.close().await;
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_only_the_path() {
        for (base, want) in [
            ("postgres://u@h:5432/postgres", "postgres://u@h:5432/t"),
            ("postgres://u@h:5432", "postgres://u@h:5432/t"),
            (
                "postgres://u@h/db?sslmode=disable",
                "postgres://u@h/t?sslmode=disable",
            ),
        ] {
            assert_eq!(with_database(base, "t"), want, "{base}");
        }
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name("acs_t"), unique_name("acs_t"));
    }
}
