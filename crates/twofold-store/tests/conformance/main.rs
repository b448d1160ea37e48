//! The store conformance suite: every test runs on SQLite always and on PostgreSQL when
//! `TWOFOLD_TEST_DATABASE_URL` names a database (each PostgreSQL test creates and drops
//! its own schema, so they run in parallel). The same assertions on both engines are
//! what lets the services treat `Store` as one thing.

mod copy;
mod fixtures;
mod notify;
mod races;
mod rows;

use std::future::Future;
use std::sync::Arc;

use twofold_core::Store;
use twofold_store::{PostgresStore, ScratchSchema, SqliteStore};

/// The variable that turns the PostgreSQL half on.
pub const TEST_DATABASE_URL: &str = "TWOFOLD_TEST_DATABASE_URL";

/// A fresh SQLite database in a temp dir (kept alive with the store).
pub async fn sqlite() -> (Arc<SqliteStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    (Arc::new(SqliteStore::connect(&url).await.expect("sqlite store")), dir)
}

/// A fresh PostgreSQL schema, or `None` (and a note on stderr) when no database is set.
pub async fn postgres() -> Option<(Arc<PostgresStore>, ScratchSchema)> {
    let Some(url) = std::env::var(TEST_DATABASE_URL).ok().filter(|u| !u.is_empty()) else {
        eprintln!("{TEST_DATABASE_URL} is not set: PostgreSQL half skipped");
        return None;
    };
    let schema = ScratchSchema::create(&url)
        .await
        .unwrap_or_else(|e| panic!("{TEST_DATABASE_URL} is set but unusable: {e}"));
    let store = PostgresStore::connect(schema.url()).await.expect("postgres store");
    Some((Arc::new(store), schema))
}

/// Runs `test` on SQLite, then on PostgreSQL when configured.
pub async fn on_both<F, Fut>(test: F)
where
    F: Fn(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let (store, _dir) = sqlite().await;
    test(store.clone()).await;
    store.close().await;
    if let Some((store, schema)) = postgres().await {
        test(store.clone()).await;
        store.close().await;
        schema.drop_now().await.expect("drop schema");
    }
}

/// Declares `#[tokio::test]`s that run a body on both engines.
#[macro_export]
macro_rules! conformance {
    ($($name:ident => $body:path;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                $crate::on_both($body).await;
            }
        )*
    };
}

#[test]
fn migrations_have_the_same_names_on_both_engines() {
    assert_eq!(SqliteStore::migration_names(), PostgresStore::migration_names());
    let list = |engine: &str| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(engine);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .expect("migrations dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let sqlite = list("sqlite");
    assert!(sqlite.len() >= 6, "{sqlite:?}");
    assert_eq!(sqlite, list("postgres"));
}
