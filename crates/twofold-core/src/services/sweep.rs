//! Housekeeping: ended authentication sessions are deleted some time after they expire.
//!
//! Every sign-in stores a session; without this the table (and the pushes sent for its
//! sessions) would grow with every sign-in forever. An expired session already answers as
//! an unknown one (20517, error-conditions.md), so deleting it changes no PingID answer;
//! only a companion app answering one of its pushes that late gets 404 instead of
//! `expired` (docs/device-api.md). The
//! delay keeps a just-ended sign-in's rows for an operator looking into it and covers
//! clocks of several nodes that disagree a little.

use super::Core;
use crate::error::DomainError;

/// How long after its expiry a session is kept: an hour.
pub const SESSION_KEEP_MS: i64 = 60 * 60 * 1000;
/// Sessions per delete: one short write, so sign-ins never wait long behind a sweep.
const SWEEP_BATCH: u32 = 1_000;
/// Batches per sweep; what is left goes in the next sweep.
const SWEEP_MAX_BATCHES: u32 = 100;

impl Core {
    /// Deletes sessions that expired more than [`SESSION_KEEP_MS`] ago, with their
    /// pushes, in batches of 1,000 (at most 100 batches per call).
    /// Returns how many sessions it deleted. Several nodes may sweep at once: they
    /// delete each row once between them.
    ///
    /// # Errors
    /// A store error (10571); the rows deleted before it stay deleted.
    pub async fn sweep_sessions(&self) -> Result<u64, DomainError> {
        let before = self.now() - SESSION_KEEP_MS;
        let mut deleted = 0;
        for _ in 0..SWEEP_MAX_BATCHES {
            let n = self.store.sweep_sessions(before, SWEEP_BATCH).await?;
            deleted += n;
            if n < u64::from(SWEEP_BATCH) {
                break;
            }
        }
        Ok(deleted)
    }
}
