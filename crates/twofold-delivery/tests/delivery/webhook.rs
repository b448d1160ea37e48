//! The signed JSON webhook against a loopback receiver.

use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use twofold_core::delivery::{Channel, DeliveryError, MessageSender};
use twofold_delivery::BackendKind;

use crate::delivery;
use crate::support::{HttpServer, Reply, message};

const SECRET: &str = "webhook-secret-k3y";

fn webhook_toml(server: &HttpServer, timeout_secs: u64) -> String {
    let url = server.url("/hook?tenant=1");
    format!(
        "[default.sms]\nkind = \"webhook\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\ntimeout_secs = {timeout_secs}\n\
         [default.voice]\nkind = \"webhook\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\ntimeout_secs = {timeout_secs}\n"
    )
}

#[tokio::test]
async fn posts_signed_json() {
    let server = HttpServer::answering(Reply::Status(202, "{}")).await;
    let (delivery, _dir) = delivery(&webhook_toml(&server, 2));
    assert_eq!(delivery.backend_for("acme", "Acme", Channel::Sms), BackendKind::Webhook);
    let msg = message(Channel::Sms, "+15550001111");
    delivery.send(&msg).await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hook?tenant=1");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-twofold-message-id"), Some(msg.id.as_str()));

    let signature = request.header("x-twofold-signature").expect("signed");
    let hex = signature.strip_prefix("sha256=").expect("sha256= prefix");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&request.body);
    mac.verify_slice(&data_encoding::HEXLOWER.decode(hex.as_bytes()).unwrap())
        .expect("signature verifies with the shared secret");

    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "id": msg.id,
            "channel": "sms",
            "to": "+15550001111",
            "text": "Your Acme sign-in code is 123456",
            "org": "acme",
        })
    );
}

#[tokio::test]
async fn voice_text_reads_the_digits_one_by_one() {
    let server = HttpServer::answering(Reply::Status(200, "")).await;
    let (delivery, _dir) = delivery(&webhook_toml(&server, 2));
    delivery
        .send(&message(Channel::Voice, "+15550001111,,42"))
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&server.requests()[0].body).unwrap();
    assert_eq!(body["channel"], "voice");
    assert_eq!(body["to"], "+15550001111,,42");
    assert_eq!(body["text"], "Your Acme sign-in code is 1. 2. 3. 4. 5. 6.");
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_as_transient() {
    let server = HttpServer::answering(Reply::Status(500, "")).await;
    let (delivery, _dir) = delivery(&webhook_toml(&server, 3));
    let err = delivery.send(&message(Channel::Sms, "+15550001111")).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Transient(_)), "{err:?}");
    assert_eq!(server.requests().len(), 3, "three attempts");
}

#[tokio::test]
async fn a_retry_that_succeeds_is_a_success() {
    let server = HttpServer::start(|n| {
        if n == 0 {
            Reply::Status(503, "")
        } else {
            Reply::Status(200, "")
        }
    })
    .await;
    let (delivery, _dir) = delivery(&webhook_toml(&server, 3));
    delivery.send(&message(Channel::Sms, "+15550001111")).await.unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body, requests[1].body, "the retry carries the same message");
}

#[tokio::test]
async fn a_client_error_is_permanent_and_not_retried() {
    let server = HttpServer::answering(Reply::Status(400, "{\"error\":\"bad number\"}")).await;
    let (delivery, _dir) = delivery(&webhook_toml(&server, 3));
    let err = delivery.send(&message(Channel::Sms, "+15550001111")).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Permanent(_)), "{err:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_hanging_gateway_fails_within_the_timeout() {
    let server = HttpServer::answering(Reply::Hang).await;
    let (delivery, _dir) = delivery(&webhook_toml(&server, 1));
    let started = Instant::now();
    let err = delivery.send(&message(Channel::Sms, "+15550001111")).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, DeliveryError::Transient(_)), "{err:?}");
    assert!(elapsed < Duration::from_millis(2500), "took {elapsed:?}");
    assert_eq!(
        server.requests().len(),
        1,
        "a timed-out request may have been delivered: no retry"
    );
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let toml_text = format!(
        "[default.sms]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"x\"\ntimeout_secs = 1\n"
    );
    let (delivery, _dir) = delivery(&toml_text);
    let started = Instant::now();
    let err = delivery.send(&message(Channel::Sms, "+15550001111")).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Transient(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(2500));
}
