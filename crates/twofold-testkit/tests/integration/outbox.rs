//! The durable outbox: codes reach gateways through a table, and the table survives a
//! crashed node without losing, leaking or resending what it should not.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use twofold_core::delivery::{Channel, DeliveryError, MessageSender, OutboundMessage, Purpose};
use twofold_core::{FixedClock, MasterKey, SeededRandom, Store};
use twofold_delivery::{DurableOutbox, OutboxPolicy, RecordingSender};
use twofold_proto::ErrorId;
use twofold_testkit::{T0_MS, TestApp};

use crate::{assert_error, assert_ok};

fn message(id: &str, otp: &str) -> OutboundMessage {
    OutboundMessage {
        id: id.into(),
        org_alias: "acme".into(),
        org_name: "Acme".into(),
        channel: Channel::Sms,
        to: "+15551230000".into(),
        purpose: Purpose::Pairing,
        otp: otp.into(),
        created_ms: T0_MS,
    }
}

fn policy() -> OutboxPolicy {
    OutboxPolicy {
        wait: Duration::from_secs(3),
        lease: Duration::from_secs(30),
        poll: Duration::from_millis(50),
        ..OutboxPolicy::for_deadline(Duration::from_secs(1))
    }
}

/// An outbox over `app`'s store (another "node" on the same database) whose worker is
/// not started unless the test starts it.
fn node(app: &TestApp, sender: Arc<RecordingSender>, clock: Arc<FixedClock>) -> DurableOutbox {
    DurableOutbox::new(
        app.store(),
        app.core.master.clone(),
        clock,
        Arc::new(SeededRandom::new(99)),
        sender,
        policy(),
    )
}

async fn start_sms(app: &TestApp, name: &str, phone: &str) -> twofold_client::Reply<serde_json::Value> {
    let added = app
        .client
        .call_raw("adduser", &json!({"username": name, "activateUser": true}))
        .await
        .unwrap();
    assert_ok(&added);
    app.client
        .call_raw(
            "startofflinepairing",
            &json!({"username": name, "type": "SMS", "pairingData": phone}),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_sent_code_leaves_a_finished_row_without_its_payload() {
    let app = TestApp::start().await;
    let reply = start_sms(&app, "ada", "+15551230001").await;
    assert_ok(&reply);
    let sent = app
        .sender
        .last_to("+15551230001")
        .expect("the code reached the gateway");
    let state = app.store().message_state(&sent.id).await.unwrap();
    assert_eq!(state, Some(("sent".to_string(), None)));
    // Nothing claimable is left, and the finished row no longer carries the sealed code.
    assert!(
        app.store()
            .claim_messages(i64::MAX - 1, i64::MAX - 1, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_failed_send_is_recorded_and_answers_20551() {
    let app = TestApp::start().await;
    app.sender
        .fail_always(Some(DeliveryError::Permanent("gateway said 400".into())));
    let reply = start_sms(&app, "bob", "+15551230002").await;
    assert_error(&reply, ErrorId::SmsSendFailed);
    let tried = app.sender.attempts();
    assert_eq!(tried, 1, "a permanent failure is not retried");
}

#[tokio::test]
async fn a_request_on_a_node_without_a_worker_is_served_by_another_nodes_worker() {
    let app = TestApp::start().await;
    // Node B queues and waits; only the app's worker (node A) runs. B learns the outcome
    // from the table, since A's worker cannot wake B's request in-process.
    let b = node(&app, Arc::new(RecordingSender::new()), app.clock.clone());
    b.send(&message("msg_cross_node", "482913"))
        .await
        .expect("sent by node A");
    let got = app.sender.last_to("+15551230000").expect("node A's gateway got it");
    assert_eq!((got.id.as_str(), got.otp.as_str()), ("msg_cross_node", "482913"));
    assert_eq!(
        app.store().message_state("msg_cross_node").await.unwrap(),
        Some(("sent".to_string(), None))
    );
}

#[tokio::test]
async fn a_claim_left_by_a_crashed_node_is_taken_again_and_sent_once() {
    // Two nodes on one database of their own (no other worker around).
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("twofold.db").display());
    let store: Arc<dyn Store> = Arc::new(twofold_store::SqliteStore::connect(&url).await.unwrap());
    let master = MasterKey::from_bytes([7; 32]);
    let outbox = |sender: Arc<RecordingSender>, clock: i64| {
        DurableOutbox::new(
            store.clone(),
            master.clone(),
            Arc::new(FixedClock::at(clock)),
            Arc::new(SeededRandom::new(3)),
            sender,
            policy(),
        )
    };
    // Node B queues the message; its request dies with the node before it is sent.
    let b = outbox(Arc::new(RecordingSender::new()), T0_MS - 60_000);
    let request = tokio::spawn(async move { b.send(&message("msg_crash", "731904")).await });
    // B's worker claimed it a minute ago, then B was killed mid-send.
    let mut claimed = Vec::new();
    for _ in 0..500 {
        claimed = store.claim_messages(T0_MS - 60_000, T0_MS - 120_000, 10).await.unwrap();
        if !claimed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    request.abort();
    assert_eq!(claimed.len(), 1, "B's message was queued");
    let sealed = claimed[0].payload.clone().expect("payload while unfinished");
    assert!(
        !sealed.windows(6).any(|w| w == b"731904"),
        "the code is sealed in the table, not stored in clear"
    );
    // Node A's worker (lease 30 s, clock at T0) takes the stale claim and sends it.
    let gateway = Arc::new(RecordingSender::new());
    let a = outbox(gateway.clone(), T0_MS);
    let worker = a.spawn_worker();
    for _ in 0..250 {
        if store
            .message_state("msg_crash")
            .await
            .unwrap()
            .is_some_and(|(s, _)| s == "sent")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.abort();
    let sent = gateway.messages();
    assert_eq!(sent.len(), 1, "sent exactly once");
    assert_eq!((sent[0].id.as_str(), sent[0].otp.as_str()), ("msg_crash", "731904"));
    assert_eq!(
        store.message_state("msg_crash").await.unwrap(),
        Some(("sent".into(), None))
    );
    // A third claim finds nothing: the finished row is out of reach.
    assert!(
        store
            .claim_messages(T0_MS + 600_000, T0_MS + 600_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_expired_message_is_never_sent() {
    let app = TestApp::start().await;
    let store: Arc<dyn Store> = app.store();
    // Queued by a node whose clock said T0 - 11 min: the code outlived its use.
    let b = node(
        &app,
        Arc::new(RecordingSender::new()),
        Arc::new(FixedClock::at(T0_MS - 660_000)),
    );
    let reply = b.send(&message("msg_old", "111222")).await;
    assert!(reply.is_err(), "nobody may send it, so the request fails");
    assert!(app.sender.messages().is_empty());
    let (state, _) = store.message_state("msg_old").await.unwrap().expect("row");
    assert_eq!(state, "failed");
    // A sweep drops finished rows once they are old enough.
    let (_, deleted) = store.sweep_messages(T0_MS, T0_MS + 1).await.unwrap();
    assert!(deleted >= 1);
    assert_eq!(store.message_state("msg_old").await.unwrap(), None);
}
