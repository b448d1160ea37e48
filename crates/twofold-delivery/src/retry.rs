//! Bounded retries: a send either succeeds or fails for good within a deadline, so the
//! caller (an outbox worker, or a request waiting for the code to go out) never waits
//! longer than configured.

use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use twofold_core::delivery::{DeliveryError, MessageSender, OutboundMessage};

/// How hard [`Retrying`] tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled before each later one.
    pub backoff: Duration,
    /// Time from the first attempt after which no attempt is started or kept running.
    pub deadline: Duration,
}

impl RetryPolicy {
    /// Three attempts, 200 ms then 400 ms apart, all within `deadline`.
    ///
    /// With the deadline equal to the backend's own timeout, an attempt that hangs uses
    /// the whole budget and is not repeated: only quick failures (connection refused,
    /// a 5xx answer) are retried. That matters because a timed-out request may still
    /// have been delivered, and a second one would send the code twice.
    #[must_use]
    pub const fn within(deadline: Duration) -> Self {
        RetryPolicy {
            max_attempts: 3,
            backoff: Duration::from_millis(200),
            deadline,
        }
    }
}

/// Retries the Transient failures of `S` under a [`RetryPolicy`]. Permanent failures
/// are returned at once: repeating a refused request cannot help.
#[derive(Debug, Clone)]
pub struct Retrying<S> {
    inner: S,
    policy: RetryPolicy,
}

impl<S> Retrying<S> {
    /// Wraps `inner`.
    #[must_use]
    pub fn new(inner: S, policy: RetryPolicy) -> Self {
        Retrying { inner, policy }
    }

    /// The wrapped sender.
    #[must_use]
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

#[async_trait]
impl<S: MessageSender> MessageSender for Retrying<S> {
    async fn send(&self, message: &OutboundMessage) -> Result<(), DeliveryError> {
        let deadline = Instant::now() + self.policy.deadline;
        let mut backoff = self.policy.backoff;
        let mut attempt = 1;
        loop {
            let error = match tokio::time::timeout_at(deadline, self.inner.send(message)).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(error @ DeliveryError::Permanent(_))) => return Err(error),
                Ok(Err(error @ DeliveryError::Transient(_))) => error,
                Err(_) => {
                    return Err(DeliveryError::Transient(format!(
                        "no answer within {:?} (attempt {attempt})",
                        self.policy.deadline
                    )));
                }
            };
            if attempt >= self.policy.max_attempts || Instant::now() + backoff >= deadline {
                return Err(error);
            }
            tracing::debug!(id = %message.id, attempt, %error, "delivery attempt failed, retrying");
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
            attempt += 1;
        }
    }
}
