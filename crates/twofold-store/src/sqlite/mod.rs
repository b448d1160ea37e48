//! The embedded SQLite store (the default).

mod auth;
mod db;
mod devices;
mod jobs;
mod orgs;
mod outbox;
mod push;
mod tokens;
mod users;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use twofold_core::StoreError;
use twofold_core::store::HealthStore;

/// Migrations embedded in the binary; `twofold migrate` and every start apply them.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A store on one SQLite database file.
///
/// Reads and writes use separate pools. SQLite lets one writer in at a time; with writes
/// spread over several connections, the losers sleep in SQLite's busy handler (1, 2, 5,
/// 10 … ms) and retry, which under load costs more than the writes themselves. All writes
/// go through `writer`, a pool of one connection, so they queue in the pool (async, FIFO,
/// no sleeping) and never meet `SQLITE_BUSY` among themselves; reads run in parallel on
/// `pool` beside them (WAL).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: SqlitePool,
    conns: std::sync::Arc<db::Connections>,
}

/// SQLite result codes that mean "another writer holds the lock": the request lost a
/// race and may be retried (10551), as opposed to a broken database (10571).
fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("5" | "6" | "517" | "261" | "262")),
        _ => false,
    }
}

/// Maps an sqlx error onto the port's two failure kinds.
pub(crate) fn store_err(e: sqlx::Error) -> StoreError {
    if matches!(&e, sqlx::Error::Database(db) if db.is_foreign_key_violation()) {
        StoreError::Gone(e.to_string())
    } else if is_busy(&e) {
        StoreError::Conflict(e.to_string())
    } else {
        StoreError::Unavailable(e.to_string())
    }
}

/// Reads one column, mapping a decoding failure onto the port's error.
pub(crate) fn get<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
    row: &'r sqlx::sqlite::SqliteRow,
    col: &str,
) -> Result<T, StoreError> {
    use sqlx::Row as _;
    row.try_get(col).map_err(store_err)
}

/// Whether an error is a UNIQUE or PRIMARY KEY violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path` or
    /// `sqlite::memory:`), applies the pragmas, and runs pending migrations.
    ///
    /// # Errors
    /// When the file cannot be opened or a migration fails.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(store_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // Writes queue for the one writer connection; a burst (a thousand phones
        // checking in at once) may keep one waiting for a while without anything being
        // wrong, so its bound is generous.
        let pool_of = |max: u32, wait_secs: u64| {
            SqlitePoolOptions::new()
                .max_connections(max)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(wait_secs))
                .connect_with(options.clone())
        };
        // An in-memory database exists per connection, so tests that use one get a
        // single connection for everything. WAL lets readers run side by side (held
        // pushes re-read their rows often), hence 16 of them.
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::Unavailable(
                "an in-memory SQLite database is not supported: give a file (sqlite://path)".into(),
            ));
        }
        let path = options.get_filename().to_path_buf();
        let pool = pool_of(16, 10).await.map_err(store_err)?;
        let writer = pool_of(1, 30).await.map_err(store_err)?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
        let conns = std::sync::Arc::new(db::Connections::open(&path)?);
        Ok(Self { pool, writer, conns })
    }

    /// Applies pending migrations.
    ///
    /// # Errors
    /// When a migration fails.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.writer)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }

    /// Names of the embedded migrations, in order (the PostgreSQL set must match).
    #[must_use]
    pub fn migration_names() -> Vec<String> {
        MIGRATOR
            .iter()
            .map(|m| format!("{}_{}", m.version, m.description))
            .collect()
    }

    /// Starts a writing transaction that holds the write lock from its first statement.
    pub(crate) async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(store_err)
    }

    /// The store's connections: `db().read(…)` for reads, `db().write(…).await` for writes.
    pub(crate) fn db(&self) -> &db::Connections {
        &self.conns
    }

    /// The pool for reads.
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The one-connection pool every write goes through.
    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// Closes every connection (checkpointing the WAL).
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

#[async_trait]
impl HealthStore for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(store_err)?;
        Ok(())
    }
}
