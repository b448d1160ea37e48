//! An in-memory sender for tests: it keeps what it was asked to send, hands back the
//! last code sent to an address, and fails on demand so tests can drive the error paths.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use twofold_core::delivery::{DeliveryError, MessageSender, OutboundMessage};

/// Records every message instead of sending it.
#[derive(Debug, Default)]
pub struct RecordingSender {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    sent: Vec<OutboundMessage>,
    attempts: usize,
    fail_always: Option<DeliveryError>,
    fail_next: VecDeque<DeliveryError>,
}

impl RecordingSender {
    /// An empty recorder that accepts everything.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A test that panicked while holding the lock left consistent data behind.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every message accepted so far, oldest first (failed attempts are not included).
    #[must_use]
    pub fn messages(&self) -> Vec<OutboundMessage> {
        self.state().sent.clone()
    }

    /// The last message accepted for `to`.
    #[must_use]
    pub fn last_to(&self, to: &str) -> Option<OutboundMessage> {
        self.state().sent.iter().rev().find(|m| m.to == to).cloned()
    }

    /// The code of the last message accepted for `to`.
    #[must_use]
    pub fn last_otp_to(&self, to: &str) -> Option<String> {
        self.last_to(to).map(|m| m.otp)
    }

    /// How many times `send` was called, failures included (to check retries).
    #[must_use]
    pub fn attempts(&self) -> usize {
        self.state().attempts
    }

    /// Makes every later send fail with `error` (`None` accepts again).
    pub fn fail_always(&self, error: Option<DeliveryError>) {
        self.state().fail_always = error;
    }

    /// Makes the next send fail with `error`; calls queue up, one failure per send.
    /// Queued failures come before [`fail_always`](Self::fail_always).
    pub fn fail_next(&self, error: DeliveryError) {
        self.state().fail_next.push_back(error);
    }

    /// Forgets the messages, the attempt count and every planned failure.
    pub fn clear(&self) {
        *self.state() = State::default();
    }
}

#[async_trait]
impl MessageSender for RecordingSender {
    async fn send(&self, message: &OutboundMessage) -> Result<(), DeliveryError> {
        let mut state = self.state();
        state.attempts += 1;
        if let Some(error) = state.fail_next.pop_front() {
            return Err(error);
        }
        if let Some(error) = &state.fail_always {
            return Err(error.clone());
        }
        state.sent.push(message.clone());
        Ok(())
    }
}
