//! What a contract case receives; the runner itself is `acs-testkit`'s.

use std::path::PathBuf;

use acs_store::{SecretKey, Store};

pub use acs_testkit::BoxFuture;
pub type Case = acs_testkit::Case<Env>;

/// What a case gets: where its fresh database is, and a scratch directory.
#[derive(Clone, Debug)]
pub struct Env {
    pub url: String,
    pub dir: PathBuf,
    pub key_hex: String,
}

impl Env {
    /// A migrated store on this case's database.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url, self.key())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        store
    }

    pub fn key(&self) -> SecretKey {
        SecretKey::from_hex(&self.key_hex).expect("test key")
    }

    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }
}

pub fn main(cases: Vec<Case>) -> std::process::ExitCode {
    acs_testkit::Runner::new("acs_store_test").run(cases, |fresh| Env {
        url: fresh.url,
        dir: fresh.dir,
        // a fixed test key: the tests check sealing, not key secrecy
        key_hex: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".into(),
    })
}
