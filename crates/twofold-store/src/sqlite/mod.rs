//! The embedded SQLite store (the default).

mod auth;
mod checkpoint;
mod db;
mod devices;
mod jobs;
mod orgs;
mod outbox;
mod push;
mod readers;
mod tokens;
mod users;
mod writer;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use twofold_core::StoreError;
use twofold_core::store::HealthStore;

use self::db::Db as _;

/// Migrations embedded in the binary; `twofold migrate` and every start apply them. sqlx
/// runs them (and keeps its `_sqlx_migrations` ledger, shared with PostgreSQL's naming);
/// everything after that goes through rusqlite (see `db.rs` for why).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A store on one SQLite database file.
///
/// Statements run on the calling thread (`db.rs`): reads on a small pool of reader
/// connections side by side (WAL), writes queued for the one writer connection, so writers
/// never meet `SQLITE_BUSY` among themselves.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    conns: Arc<db::Connections>,
    options: SqliteConnectOptions,
}

fn sqlx_err(e: &sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path`), applies the
    /// pragmas, and runs pending migrations.
    ///
    /// # Errors
    /// When the file cannot be opened or a migration fails, or `url` names an in-memory
    /// database (each connection would see its own).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::Unavailable(
                "an in-memory SQLite database is not supported: give a file (sqlite://path)".into(),
            ));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| sqlx_err(&e))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let path: PathBuf = options.get_filename().to_path_buf();
        let store = Self {
            conns: Arc::new(db::Connections::open_after(&path, Self::run_migrations(&options)).await?),
            options,
        };
        Ok(store)
    }

    /// Creates the file if needed and applies pending migrations on a connection of its own.
    async fn run_migrations(options: &SqliteConnectOptions) -> Result<(), StoreError> {
        let pool = Self::sqlx_pool_with(options).await?;
        let done = MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")));
        pool.close().await;
        done
    }

    async fn sqlx_pool_with(options: &SqliteConnectOptions) -> Result<SqlitePool, StoreError> {
        SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(|e| sqlx_err(&e))
    }

    /// Applies pending migrations (every `connect` already did).
    ///
    /// # Errors
    /// When a migration fails.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        Self::run_migrations(&self.options).await
    }

    /// Names of the embedded migrations, in order (the PostgreSQL set must match).
    #[must_use]
    pub fn migration_names() -> Vec<String> {
        MIGRATOR
            .iter()
            .map(|m| format!("{}_{}", m.version, m.description))
            .collect()
    }

    /// An sqlx pool on the same file, for the one-off copy to PostgreSQL
    /// (`twofold migrate-data`), which reads every table generically through sqlx.
    pub(crate) async fn sqlx_pool(&self) -> Result<SqlitePool, StoreError> {
        Self::sqlx_pool_with(&self.options).await
    }

    /// The store's connections: `db().read(…)` for reads, `db().write(…).await` for writes.
    pub(crate) fn db(&self) -> &db::Connections {
        &self.conns
    }

    /// Checkpoints the WAL into the database file and lets idle connections go.
    pub async fn close(&self) {
        self.conns.close().await;
    }
}

#[async_trait]
impl HealthStore for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.db().read(|c| c.one("SELECT 1", [], |_| Ok(())))?;
        Ok(())
    }
}
