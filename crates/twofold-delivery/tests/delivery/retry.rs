//! `Retrying` and `RecordingSender` together: retries only what may succeed later,
//! within the deadline.

use std::time::Duration;

use twofold_core::delivery::{Channel, DeliveryError, MessageSender};
use twofold_delivery::{RecordingSender, RetryPolicy, Retrying};

use crate::support::message;

fn transient() -> DeliveryError {
    DeliveryError::Transient("busy".into())
}

#[tokio::test]
async fn transient_failures_are_retried_until_success() {
    let sender = Retrying::new(RecordingSender::new(), RetryPolicy::within(Duration::from_secs(5)));
    sender.inner().fail_next(transient());
    sender.inner().fail_next(transient());
    sender.send(&message(Channel::Sms, "+15550001111")).await.unwrap();
    assert_eq!(sender.inner().attempts(), 3);
    assert_eq!(sender.inner().last_otp_to("+15550001111").as_deref(), Some("123456"));
}

#[tokio::test]
async fn attempts_are_bounded() {
    let sender = Retrying::new(RecordingSender::new(), RetryPolicy::within(Duration::from_secs(5)));
    sender.inner().fail_always(Some(transient()));
    let err = sender.send(&message(Channel::Sms, "+15550001111")).await.unwrap_err();
    assert_eq!(err, transient());
    assert_eq!(sender.inner().attempts(), 3);
    assert!(sender.inner().messages().is_empty());
}

#[tokio::test]
async fn permanent_failures_are_not_retried() {
    let sender = Retrying::new(RecordingSender::new(), RetryPolicy::within(Duration::from_secs(5)));
    sender.inner().fail_always(Some(DeliveryError::Permanent("no".into())));
    let err = sender.send(&message(Channel::Sms, "+15550001111")).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Permanent(_)));
    assert_eq!(sender.inner().attempts(), 1);
}

#[tokio::test]
async fn no_retry_starts_after_the_deadline() {
    let policy = RetryPolicy {
        max_attempts: 10,
        backoff: Duration::from_millis(400),
        deadline: Duration::from_secs(1),
    };
    let sender = Retrying::new(RecordingSender::new(), policy);
    sender.inner().fail_always(Some(transient()));
    let started = std::time::Instant::now();
    assert!(sender.send(&message(Channel::Sms, "+15550001111")).await.is_err());
    // Attempts at 0 and 400 ms; the next wait (800 ms) would end past the 1 s deadline.
    assert_eq!(sender.inner().attempts(), 2);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn recording_sender_can_be_cleared() {
    let sender = RecordingSender::new();
    sender.send(&message(Channel::Email, "a@example.com")).await.unwrap();
    assert_eq!(sender.last_to("a@example.com").unwrap().channel, Channel::Email);
    assert_eq!(sender.last_otp_to("b@example.com"), None);
    sender.clear();
    assert!(sender.messages().is_empty());
    assert_eq!(sender.attempts(), 0);
}
