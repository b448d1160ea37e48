//! The tokio side of core's [`PushSignals`] port: a fixed set of `Notify` shards chosen by
//! a hash of the key. Memory does not grow with the number of waiters or keys; a wake-up
//! on a shared shard only makes other waiters re-read the store early, which is harmless.

use std::hash::{BuildHasher as _, RandomState};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use twofold_core::push::PushSignals;

/// Shards: enough that unrelated sessions rarely share one.
const SHARDS: usize = 1024;

/// In-process wake-ups for held requests.
pub struct TokioSignals {
    shards: Vec<Notify>,
    hasher: RandomState,
}

impl Default for TokioSignals {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Notify::new()).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl TokioSignals {
    /// Wakes every waiter (after lost notifications: each re-reads its row).
    pub fn wake_all(&self) {
        for shard in &self.shards {
            shard.notify_waiters();
        }
    }

    fn shard(&self, key: &str) -> &Notify {
        let index = usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0);
        &self.shards[index]
    }
}

#[async_trait]
impl PushSignals for TokioSignals {
    fn notify(&self, key: &str) {
        self.shard(key).notify_waiters();
    }

    async fn wait(&self, key: &str, max: Duration) {
        let _ = tokio::time::timeout(max, self.shard(key).notified()).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn a_notify_wakes_a_waiter_before_its_timeout() {
        let signals = Arc::new(TokioSignals::default());
        let waiter = {
            let s = signals.clone();
            tokio::spawn(async move {
                let started = tokio::time::Instant::now();
                s.wait("session:a", Duration::from_secs(10)).await;
                started.elapsed()
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        signals.notify("session:a");
        let waited = waiter.await.unwrap();
        assert!(waited < Duration::from_secs(5), "woke after {waited:?}");
    }

    #[tokio::test]
    async fn a_wait_without_notify_ends_at_its_bound() {
        let signals = TokioSignals::default();
        let started = tokio::time::Instant::now();
        signals.wait("device:1", Duration::from_millis(30)).await;
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
