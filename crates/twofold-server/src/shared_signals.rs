//! Wake-ups across nodes: PostgreSQL `NOTIFY` on top of the in-process shards.
//!
//! On PostgreSQL a push answered through node B must wake the `authonline` request held
//! on node A at once, not at A's next re-read of the store. [`SharedSignals`] wakes local
//! waiters directly and sends the key to every node through `pg_notify`; each node runs
//! [`spawn_listener`], which turns the keys it hears into local wake-ups. Correctness
//! never depends on a notification arriving: a waiter re-reads its row when woken and
//! at its own bounded interval anyway.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use twofold_core::push::PushSignals;
use twofold_store::postgres::{PgNotifier, Wake};

use crate::signals::TokioSignals;

/// Local wake-ups plus a `NOTIFY` to every node.
pub struct SharedSignals {
    local: Arc<TokioSignals>,
    notifier: PgNotifier,
}

impl SharedSignals {
    /// Signals over `local`, broadcast through `notifier`.
    #[must_use]
    pub fn new(local: Arc<TokioSignals>, notifier: PgNotifier) -> Self {
        Self { local, notifier }
    }
}

#[async_trait]
impl PushSignals for SharedSignals {
    fn notify(&self, key: &str) {
        self.local.notify(key);
        let notifier = self.notifier.clone();
        let key = key.to_string();
        // The caller's write has committed; the broadcast must not hold up its answer.
        tokio::spawn(async move {
            if let Err(e) = notifier.notify(&key).await {
                tracing::warn!(error = %e, "could not notify other nodes; they will see the change at their next re-read");
            }
        });
    }

    async fn wait(&self, key: &str, max: Duration) {
        self.local.wait(key, max).await;
    }
}

/// Listens for other nodes' keys and wakes the local waiters; after a reconnect (when
/// notifications may have been lost) it wakes every waiter so each re-reads its row.
/// Runs until aborted, reconnecting after failures.
#[must_use]
pub fn spawn_listener(local: Arc<TokioSignals>, notifier: PgNotifier) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match notifier.listen().await {
                Ok(mut topics) => loop {
                    match topics.next().await {
                        Ok(Wake::Topic(key)) => local.notify(&key),
                        Ok(Wake::Resync) => local.wake_all(),
                        Err(e) => {
                            tracing::warn!(error = %e, "lost the notification listener; reconnecting");
                            local.wake_all();
                            break;
                        }
                    }
                },
                Err(e) => tracing::warn!(error = %e, "cannot listen for other nodes' notifications; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}
