//! The sweeper: a background task that deletes ended authentication sessions
//! ([`Core::sweep_sessions`]) once a minute. Each node of a cluster runs one; the deletes
//! are idempotent, so they need no coordination.

use std::time::Duration;

use twofold_core::Core;

/// How often the server sweeps.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Starts the sweeper: a sweep right away, then one every `every`. A failed sweep is
/// logged and tried again at the next tick; sessions left over wait for it.
#[must_use]
pub fn spawn_sweeper(core: Core, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match core.sweep_sessions().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(sessions = n, "swept ended authentication sessions"),
                Err(e) => tracing::warn!(error = %e, "sweeping ended authentication sessions failed"),
            }
        }
    })
}
