//! A real SMTP conversation with a loopback server, and how its refusals are classified.

use std::time::{Duration, Instant};

use twofold_core::delivery::{Channel, DeliveryError, MessageSender};
use twofold_delivery::{BackendKind, Delivery, SmtpSender, Templates};

use crate::support::{SmtpMode, SmtpServer, message};
use crate::{config, delivery};

fn email_toml(server: &SmtpServer, tls: &str) -> String {
    format!(
        "[default.email]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"{tls}\"\nfrom = \"Acme sign-in <no-reply@acme.example>\"\ntimeout_secs = 1\n",
        server.addr.port()
    )
}

#[tokio::test]
async fn sends_the_code_to_the_recipient() {
    let server = SmtpServer::start(SmtpMode::Accept).await;
    let (delivery, _dir) = delivery(&email_toml(&server, "none"));
    assert_eq!(delivery.backend_for("acme", "Acme", Channel::Email), BackendKind::Smtp);

    delivery
        .send(&message(Channel::Email, "alice@example.com"))
        .await
        .unwrap();

    let mails = server.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.from, "<no-reply@acme.example>");
    assert_eq!(mail.rcpt, ["<alice@example.com>"]);
    assert!(mail.data.contains("To: alice@example.com"), "{}", mail.data);
    assert!(mail.data.contains("Subject: Your Acme sign-in code"), "{}", mail.data);
    assert!(mail.data.contains("Your Acme sign-in code is 123456."), "{}", mail.data);
    assert!(mail.data.contains("Date: Wed, 01 May 2024 12:00:00"), "{}", mail.data);
}

#[tokio::test]
async fn a_rejected_recipient_is_permanent_and_not_retried() {
    let server = SmtpServer::start(SmtpMode::RejectRcpt("550 5.1.1 no such user")).await;
    let (delivery, _dir) = delivery(&email_toml(&server, "none"));
    let err = delivery
        .send(&message(Channel::Email, "nobody@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Permanent(_)), "{err:?}");
    assert_eq!(server.connections(), 1);
    assert!(server.mails().is_empty());
}

#[tokio::test]
async fn a_busy_server_is_transient_and_retried() {
    let server = SmtpServer::start(SmtpMode::RejectRcpt("451 4.3.0 try again later")).await;
    let (delivery, _dir) = delivery(&email_toml(&server, "none"));
    let err = delivery
        .send(&message(Channel::Email, "bob@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Transient(_)), "{err:?}");
    assert_eq!(server.connections(), 3);
}

#[tokio::test]
async fn a_silent_server_fails_within_the_timeout() {
    let server = SmtpServer::start(SmtpMode::Silent).await;
    let (delivery, _dir) = delivery(&email_toml(&server, "none"));
    let started = Instant::now();
    let err = delivery
        .send(&message(Channel::Email, "carol@example.com"))
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, DeliveryError::Transient(_)), "{err:?}");
    assert!(elapsed < Duration::from_millis(2500), "took {elapsed:?}");
}

#[tokio::test]
async fn required_starttls_never_falls_back_to_plain_text() {
    let server = SmtpServer::start(SmtpMode::Accept).await;
    let cfg = config(&email_toml(&server, "starttls"));
    let sender = SmtpSender::new(cfg.default.email.as_ref().unwrap(), Templates::default()).unwrap();
    let err = sender
        .send(&message(Channel::Email, "dave@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Permanent(_)), "{err:?}");
    assert!(server.mails().is_empty(), "nothing may be sent in clear");
}

#[test]
fn plain_smtp_is_refused_off_loopback() {
    let cfg = config("[default.email]\nhost = \"mail.example.com\"\ntls = \"none\"\nfrom = \"a@example.com\"\n");
    let err = Delivery::new(&cfg, "outbox.jsonl").unwrap_err();
    assert_eq!(err.scope, "default.email");
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[tokio::test]
async fn an_invalid_address_is_permanent() {
    let server = SmtpServer::start(SmtpMode::Accept).await;
    let (delivery, _dir) = delivery(&email_toml(&server, "none"));
    let err = delivery
        .send(&message(Channel::Email, "not an address"))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Permanent(_)), "{err:?}");
    assert_eq!(server.connections(), 0);
}
