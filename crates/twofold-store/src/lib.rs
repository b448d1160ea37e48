#![doc = include_str!("../README.md")]

mod rows;
pub mod sqlite;

pub use sqlite::SqliteStore;
