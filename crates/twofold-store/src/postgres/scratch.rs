//! Throwaway schemas for tests: each test gets its own schema in one database, so tests
//! run in parallel against one PostgreSQL without seeing each other's rows.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;
use twofold_core::StoreError;

use super::store_err;

/// A schema created for one test; [`ScratchSchema::drop_now`] removes it.
#[derive(Debug, Clone)]
pub struct ScratchSchema {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchSchema {
    /// Creates a fresh, uniquely named schema in the database `admin_url` names.
    ///
    /// # Errors
    /// When the server is unreachable or refuses.
    pub async fn create(admin_url: &str) -> Result<Self, StoreError> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        // RandomState is seeded randomly per process: a cheap unique-enough tag, so
        // runs that share a database (and leftovers of killed runs) never collide.
        let tag = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), 0u8);
        let name = format!(
            "t_{}_{:x}_{}",
            std::process::id(),
            tag & 0xffff_ffff,
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = PgConnection::connect(admin_url).await.map_err(store_err)?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{name}\"")))
            .execute(&mut conn)
            .await
            .map_err(store_err)?;
        let _ = conn.close().await;
        let sep = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{sep}options[search_path]={name}");
        Ok(Self {
            admin_url: admin_url.to_string(),
            name,
            url,
        })
    }

    /// The URL whose connections see only this schema.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the schema with everything in it (waiting at most two seconds for locks).
    ///
    /// # Errors
    /// When the server is unreachable or a lock is held longer.
    pub async fn drop_now(&self) -> Result<(), StoreError> {
        let mut conn = PgConnection::connect(&self.admin_url).await.map_err(store_err)?;
        sqlx::query("SET lock_timeout = '2s'")
            .execute(&mut conn)
            .await
            .map_err(store_err)?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA \"{}\" CASCADE", self.name)))
            .execute(&mut conn)
            .await
            .map_err(store_err)?;
        let _ = conn.close().await;
        Ok(())
    }
}
