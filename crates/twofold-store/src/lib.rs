#![doc = include_str!("../README.md")]

#[cfg(all(feature = "sqlite", feature = "postgres"))]
pub mod copy;
#[cfg(feature = "postgres")]
pub mod postgres;
mod rows;
#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(feature = "postgres")]
pub use postgres::{PgNotifier, PoolSettings, PostgresStore, ScratchSchema};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
