//! The PostgreSQL store: several stateless Twofold nodes on one database.
//!
//! Nothing here keeps state between requests; every one-time rule is a conditional
//! `UPDATE … WHERE … RETURNING` (one row lock) or a transaction that first locks the row
//! it guards (`SELECT … FOR NO KEY UPDATE` on the user, an advisory lock for a send target), so
//! the answer is the same whichever node a request lands on. Transactions run at READ
//! COMMITTED; where SQLite's `BEGIN IMMEDIATE` serializes writers, this module takes the
//! narrowest lock that gives the same guarantee.

mod approval;
mod auth;
mod devices;
mod jobs;
pub mod notify;
mod orgs;
mod outbox;
mod push;
mod scratch;
mod tokens;
mod users;

pub use notify::{PgNotifier, PgTopics, Wake};
pub use scratch::ScratchSchema;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use twofold_core::StoreError;
use twofold_core::store::HealthStore;

/// Migrations embedded in the binary; the same file names as the SQLite set.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Pool settings (`--database-max-connections` and friends, docs/configuration.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Most connections this node opens; N nodes open up to N times this many.
    pub max_connections: u32,
    /// Connections kept open while idle.
    pub min_connections: u32,
    /// How long a request waits for a free connection before failing with 10571.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            min_connections: 1,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// A store on one PostgreSQL database (or schema, with `?options[search_path]=...`).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

/// SQLSTATEs that mean "lost a race, retry": serialization failure, deadlock, lock not
/// available. Reported as 10551 like SQLite's busy database.
fn is_conflict(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("40001" | "40P01" | "55P03")),
        _ => false,
    }
}

/// Maps an sqlx error onto the port's failure kinds, as the SQLite store does.
pub(crate) fn store_err(e: sqlx::Error) -> StoreError {
    if matches!(&e, sqlx::Error::Database(db) if db.is_foreign_key_violation()) {
        StoreError::Gone(e.to_string())
    } else if is_conflict(&e) {
        StoreError::Conflict(e.to_string())
    } else {
        StoreError::Unavailable(e.to_string())
    }
}

/// Reads one column, mapping a decoding failure onto the port's error.
pub(crate) fn get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
    row: &'r sqlx::postgres::PgRow,
    col: &str,
) -> Result<T, StoreError> {
    use sqlx::Row as _;
    row.try_get(col).map_err(store_err)
}

/// Whether an error is a UNIQUE or PRIMARY KEY violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// Locks the user's row until the transaction ends: the per-user critical section that
/// device numbering, pairing limits and SMS counters need across nodes. Returns the
/// user's status, `None` when the user is gone. `NO KEY UPDATE` rather than `UPDATE`:
/// it excludes the other lockers (and status changes) but not the key-share locks that
/// foreign-key checks take, so inserting the user's sessions or audit rows never waits.
pub(crate) async fn lock_user(tx: &mut Tx, user: i64) -> Result<Option<String>, StoreError> {
    sqlx::query_scalar("SELECT status FROM users WHERE id = $1 FOR NO KEY UPDATE")
        .bind(user)
        .fetch_optional(&mut **tx)
        .await
        .map_err(store_err)
}

impl PostgresStore {
    /// Connects with the default pool settings and runs pending migrations.
    ///
    /// # Errors
    /// When the server cannot be reached or a migration fails.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PoolSettings::default()).await
    }

    /// Connects to `url` (`postgres://user:password@host:port/db`) with `pool` settings
    /// and runs pending migrations (several nodes starting at once take turns: sqlx holds
    /// an advisory lock while migrating).
    ///
    /// # Errors
    /// When the server cannot be reached or a migration fails.
    pub async fn connect_with(url: &str, pool: PoolSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(store_err)?;
        let pool = PgPoolOptions::new()
            .max_connections(pool.max_connections.max(1))
            .min_connections(pool.min_connections.min(pool.max_connections))
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(store_err)?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations.
    ///
    /// # Errors
    /// When a migration fails.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }

    /// Names of the embedded migrations, in order (must equal the SQLite set's).
    #[must_use]
    pub fn migration_names() -> Vec<String> {
        MIGRATOR
            .iter()
            .map(|m| format!("{}_{}", m.version, m.description))
            .collect()
    }

    /// Starts a transaction (READ COMMITTED; callers lock what they guard).
    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        self.pool.begin().await.map_err(store_err)
    }

    /// The connection pool (for data migration and notifications).
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl HealthStore for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(store_err)?;
        Ok(())
    }
}
