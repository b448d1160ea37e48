//! Cross-node wake-ups over PostgreSQL `LISTEN`/`NOTIFY`.
//!
//! A node that changes something another node may be waiting on (a push answered, a
//! held `authonline` request's session decided) calls [`PgNotifier::notify`] with a
//! topic, usually the session id, after its transaction committed. Every node runs one
//! [`PgTopics`] listener and wakes its local waiters for that topic; a waiter then
//! re-reads the row, so the notification carries no state and a lost one only delays
//! an answer until the waiter's own poll or timeout. PostgreSQL delivers a notification
//! only after the sending transaction commits and to every listening session, including
//! the sender's own node.

use sqlx::postgres::{PgListener, PgPool};
use twofold_core::StoreError;

use super::{PostgresStore, store_err};

/// The one channel all Twofold nodes listen on; the payload is the topic.
pub const CHANNEL: &str = "twofold_events";

/// Sends topics to every node's listener.
#[derive(Debug, Clone)]
pub struct PgNotifier {
    pool: PgPool,
}

impl PgNotifier {
    /// A notifier on the store's pool.
    #[must_use]
    pub fn new(store: &PostgresStore) -> Self {
        Self {
            pool: store.pool().clone(),
        }
    }

    /// Wakes every listener (on every node) waiting on `topic`. Topics are short ids
    /// (PostgreSQL caps a payload at 8000 bytes); never a secret.
    ///
    /// # Errors
    /// When the database is unreachable.
    pub async fn notify(&self, topic: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(topic)
            .execute(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    /// Opens a listener; it holds one of the pool's connections until dropped (one
    /// listener per node is enough).
    ///
    /// # Errors
    /// When the database is unreachable.
    pub async fn listen(&self) -> Result<PgTopics, StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await.map_err(store_err)?;
        listener.listen(CHANNEL).await.map_err(store_err)?;
        Ok(PgTopics { listener })
    }
}

/// What a listener saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// A node notified this topic.
    Topic(String),
    /// The connection dropped and was re-established: notifications sent meanwhile are
    /// lost, so every local waiter should re-read its row.
    Resync,
}

/// A stream of topics from every node.
#[derive(Debug)]
pub struct PgTopics {
    listener: PgListener,
}

impl PgTopics {
    /// Waits for the next topic (or a [`Wake::Resync`] after a reconnect).
    ///
    /// # Errors
    /// When the connection is lost and cannot be re-established.
    pub async fn next(&mut self) -> Result<Wake, StoreError> {
        match self.listener.try_recv().await.map_err(store_err)? {
            Some(n) => Ok(Wake::Topic(n.payload().to_string())),
            None => Ok(Wake::Resync),
        }
    }
}
