//! [`DurableOutbox`]: messages go through a table, not straight to a gateway.
//!
//! A request that needs a code sent queues the message (sealed under the master key) in
//! the store's outbox and waits for its outcome; a worker — on this node or any other
//! node on the same database — claims it with one conditional write and hands it to the
//! real sender (the [`Delivery`](crate::Delivery) router, which retries within the
//! backend's timeout). So:
//!
//! - the number of sends in flight is bounded by the worker, not by the number of
//!   requests, and a hung gateway ties up worker slots, not memory;
//! - a node that dies mid-send leaves a claim that expires; another worker takes the
//!   message again while its code is still of use (at-least-once: gateways see the
//!   message id and may deduplicate by it);
//! - the request still learns the outcome, so a send that fails for good answers the
//!   API call with 20551 / 20558 and the caller can retry the pairing or the sign-in.
//!
//! A request waits at most [`OutboxPolicy::wait`]. When that passes before any worker
//! claimed the message, the message is abandoned (it will never be sent) and the
//! request fails; a message already claimed may still go out late.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, Semaphore, oneshot};
use tokio::task::JoinHandle;
use twofold_core::delivery::{Channel, DeliveryError, MessageSender, OutboundMessage, Purpose};
use twofold_core::store::OutboxRecord;
use twofold_core::{Clock, MasterKey, Random, Store};

/// How the outbox behaves. [`OutboxPolicy::for_deadline`] derives every value from the
/// longest backend deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxPolicy {
    /// How long a request waits for its message's outcome.
    pub wait: Duration,
    /// A claim older than this is presumed dead (its node crashed) and is taken again.
    pub lease: Duration,
    /// After this a queued message is not sent any more: its code is of no use.
    pub max_age: Duration,
    /// Claims of one message at most (the first one included); then it fails.
    pub max_claims: u32,
    /// Messages sent at once by one worker.
    pub concurrency: usize,
    /// How often an idle worker looks for messages other nodes queued, and how often a
    /// waiting request re-reads its message when another node's worker holds it.
    pub poll: Duration,
    /// Finished messages (id, channel, state, error: no payload) are kept this long.
    pub keep_finished: Duration,
}

impl OutboxPolicy {
    /// The policy for senders whose longest send (retries included) takes `deadline`.
    #[must_use]
    pub fn for_deadline(deadline: Duration) -> Self {
        OutboxPolicy {
            wait: deadline + Duration::from_secs(2),
            lease: (deadline * 2).max(Duration::from_secs(30)),
            max_age: Duration::from_secs(600),
            max_claims: 3,
            concurrency: 32,
            poll: Duration::from_millis(500),
            keep_finished: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// What travels sealed in the outbox row.
#[derive(Serialize, Deserialize)]
struct Sealed {
    org_alias: String,
    org_name: String,
    channel: String,
    to: String,
    pairing: bool,
    otp: String,
    created_ms: i64,
}

impl Sealed {
    fn of(m: &OutboundMessage) -> Self {
        Sealed {
            org_alias: m.org_alias.clone(),
            org_name: m.org_name.clone(),
            channel: m.channel.as_str().to_string(),
            to: m.to.clone(),
            pairing: m.purpose == Purpose::Pairing,
            otp: m.otp.clone(),
            created_ms: m.created_ms,
        }
    }

    fn into_message(self, id: String) -> Option<OutboundMessage> {
        let channel = match self.channel.as_str() {
            "sms" => Channel::Sms,
            "voice" => Channel::Voice,
            "email" => Channel::Email,
            _ => return None,
        };
        Some(OutboundMessage {
            id,
            org_alias: self.org_alias,
            org_name: self.org_name,
            channel,
            to: self.to,
            purpose: if self.pairing {
                Purpose::Pairing
            } else {
                Purpose::Authentication
            },
            otp: self.otp,
            created_ms: self.created_ms,
        })
    }
}

type Outcome = Result<(), DeliveryError>;

struct Shared {
    store: Arc<dyn Store>,
    master: MasterKey,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    sender: Arc<dyn MessageSender>,
    policy: OutboxPolicy,
    wake: Notify,
    /// Requests on this node waiting for a message's outcome, by message id.
    waiters: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
}

/// The [`MessageSender`] that core is given: queues, then waits for a worker. Cheap to
/// clone; run [`DurableOutbox::spawn_worker`] once per process.
#[derive(Clone)]
pub struct DurableOutbox {
    shared: Arc<Shared>,
}

fn context(id: &str) -> String {
    format!("outbox:{id}")
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Removes a request's waiter however its wait ends (cancellation included).
struct Waiting<'a> {
    shared: &'a Shared,
    id: &'a str,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.shared.waiters().remove(self.id);
    }
}

impl Shared {
    fn waiters(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Outcome>>> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The outcome recorded in the store, when the message is finished.
    async fn recorded(&self, id: &str) -> Option<Outcome> {
        match self.store.message_state(id).await {
            Ok(Some((state, error))) => match state.as_str() {
                "sent" => Some(Ok(())),
                "failed" => Some(Err(DeliveryError::Permanent(error.unwrap_or_default()))),
                _ => None,
            },
            Ok(None) => Some(Err(DeliveryError::Permanent("message vanished from the outbox".into()))),
            Err(_) => None,
        }
    }

    /// Sends one claimed message and records the outcome.
    async fn process(&self, record: OutboxRecord) {
        let Some(claimed_ms) = record.claimed_ms else { return };
        let outcome = if record.attempts > self.policy.max_claims {
            Err(DeliveryError::Permanent("claimed too often (crashed mid-send)".into()))
        } else {
            match self.unseal(&record) {
                Some(message) => self.sender.send(&message).await,
                None => Err(DeliveryError::Permanent(
                    "payload does not open under this master key".into(),
                )),
            }
        };
        let (state, error) = match &outcome {
            Ok(()) => ("sent", None),
            Err(e) => ("failed", Some(e.to_string())),
        };
        if let Err(e) = self
            .store
            .finish_message(&record.id, claimed_ms, state, error.as_deref(), self.now())
            .await
        {
            // The claim stays; it expires and the message is taken again.
            tracing::warn!(id = %record.id, error = %e, "could not record a message's outcome");
        }
        if let Some(waiter) = self.waiters().remove(&record.id) {
            let _ = waiter.send(outcome);
        }
    }

    fn unseal(&self, record: &OutboxRecord) -> Option<OutboundMessage> {
        let sealed = record.payload.as_deref()?;
        let plain = self.master.open(&context(&record.id), sealed).ok()?;
        let body: Sealed = serde_json::from_slice(&plain).ok()?;
        body.into_message(record.id.clone())
    }
}

impl DurableOutbox {
    /// An outbox in `store` in front of `sender`.
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        master: MasterKey,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
        sender: Arc<dyn MessageSender>,
        policy: OutboxPolicy,
    ) -> Self {
        DurableOutbox {
            shared: Arc::new(Shared {
                store,
                master,
                clock,
                random,
                sender,
                policy,
                wake: Notify::new(),
                waiters: Mutex::default(),
            }),
        }
    }

    /// Starts the worker: claims queued messages (this node's and, on a shared
    /// database, other nodes'), sends up to `concurrency` at once, and sweeps expired
    /// and old rows. Runs until the handle is aborted.
    #[must_use]
    pub fn spawn_worker(&self) -> JoinHandle<()> {
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(shared.policy.concurrency.max(1)));
            let mut last_sweep = None;
            loop {
                let now = shared.now();
                if last_sweep.is_none_or(|t: tokio::time::Instant| t.elapsed() >= Duration::from_secs(60)) {
                    last_sweep = Some(tokio::time::Instant::now());
                    let keep = now - millis(shared.policy.keep_finished);
                    if let Err(e) = shared.store.sweep_messages(now, keep).await {
                        tracing::warn!(error = %e, "outbox sweep failed");
                    }
                }
                // Claim only what can be sent now, so a claim never waits for a slot.
                let free = slots.available_permits().max(1);
                let claimed = match shared
                    .store
                    .claim_messages(now, now - millis(shared.policy.lease), u32::try_from(free).unwrap_or(1))
                    .await
                {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox claim failed");
                        Vec::new()
                    }
                };
                let idle = claimed.is_empty();
                for record in claimed {
                    let Ok(slot) = slots.clone().acquire_owned().await else {
                        return;
                    };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        shared.process(record).await;
                        drop(slot);
                    });
                }
                if idle {
                    let _ = tokio::time::timeout(shared.policy.poll, shared.wake.notified()).await;
                } else if slots.available_permits() == 0 {
                    // Every slot is busy: wait for one before claiming more.
                    if let Ok(slot) = slots.clone().acquire_owned().await {
                        drop(slot);
                    }
                }
            }
        })
    }
}

#[async_trait]
impl MessageSender for DurableOutbox {
    async fn send(&self, message: &OutboundMessage) -> Result<(), DeliveryError> {
        let shared = &*self.shared;
        let plain = serde_json::to_vec(&Sealed::of(message))
            .map_err(|e| DeliveryError::Permanent(format!("message does not serialise: {e}")))?;
        let record = OutboxRecord {
            id: message.id.clone(),
            channel: message.channel.as_str().to_string(),
            payload: Some(
                shared
                    .master
                    .seal(shared.random.as_ref(), &context(&message.id), &plain),
            ),
            state: "pending".into(),
            attempts: 0,
            created_ms: shared.now(),
            expires_ms: shared.now() + millis(shared.policy.max_age),
            claimed_ms: None,
            error: None,
        };
        let (tx, mut rx) = oneshot::channel();
        shared.waiters().insert(message.id.clone(), tx);
        let _waiting = Waiting {
            shared,
            id: &message.id,
        };
        shared
            .store
            .enqueue_message(&record)
            .await
            .map_err(|e| DeliveryError::Transient(format!("outbox unavailable: {e}")))?;
        shared.wake.notify_one();

        let deadline = tokio::time::Instant::now() + shared.policy.wait;
        loop {
            tokio::select! {
                outcome = &mut rx => {
                    return outcome.unwrap_or_else(|_| Err(DeliveryError::Transient("outbox worker stopped".into())));
                }
                () = tokio::time::sleep(shared.policy.poll) => {
                    // Another node's worker may hold it: its outcome is in the store.
                    if let Some(outcome) = shared.recorded(&message.id).await {
                        return outcome;
                    }
                }
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        match shared
            .store
            .abandon_message(&message.id, "not claimed in time", shared.now())
            .await
        {
            Ok(true) => Err(DeliveryError::Transient("no worker took the message in time".into())),
            _ => shared
                .recorded(&message.id)
                .await
                .unwrap_or_else(|| Err(DeliveryError::Transient("the message is still being sent".into()))),
        }
    }
}
