//! The file outbox: what developers and CI read codes from.

use std::collections::BTreeSet;

use twofold_core::delivery::{Channel, MessageSender, Purpose};
use twofold_delivery::{BackendKind, Delivery, DeliveryConfig, FileOutbox, Templates};

use crate::support::message;

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect()
}

#[tokio::test]
async fn writes_one_json_object_per_message_with_the_documented_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    let delivery = Delivery::new(&DeliveryConfig::default(), &path).unwrap();
    assert!(delivery.uses_file_outbox());
    assert_eq!(delivery.backend_for("acme", "Acme", Channel::Email), BackendKind::File);
    assert!(!path.exists(), "nothing is created before the first message");

    let mut email = message(Channel::Email, "alice@example.com");
    email.purpose = Purpose::Pairing;
    delivery.send(&message(Channel::Sms, "+15550001111")).await.unwrap();
    delivery.send(&email).await.unwrap();
    delivery
        .send(&message(Channel::Voice, "+15550001111,,42"))
        .await
        .unwrap();

    let lines = lines(&path);
    assert_eq!(lines.len(), 3);
    let keys: BTreeSet<&str> = ["channel", "to", "subject", "body", "otp", "createdAt"].into();
    for line in &lines {
        let found: BTreeSet<&str> = line.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(found, keys);
        assert_eq!(line["otp"], "123456");
        assert_eq!(line["createdAt"], "2024-05-01T12:00:00.123Z");
    }
    assert_eq!(lines[0]["channel"], "sms");
    assert_eq!(lines[0]["to"], "+15550001111");
    assert_eq!(lines[0]["subject"], serde_json::Value::Null);
    assert_eq!(lines[0]["body"], "Your Acme sign-in code is 123456");
    assert_eq!(lines[1]["channel"], "email");
    assert_eq!(lines[1]["subject"], "Your Acme verification code");
    assert!(lines[1]["body"].as_str().unwrap().contains("123456"));
    assert_eq!(lines[2]["channel"], "voice");
    assert_eq!(lines[2]["subject"], serde_json::Value::Null);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the outbox holds codes: owner only");
    }
}

#[tokio::test]
async fn concurrent_sends_never_interleave() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    let outbox = FileOutbox::new(&path, Templates::default());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let outbox = outbox.with_templates(Templates::default());
        tasks.spawn(async move {
            let mut m = message(Channel::Sms, &format!("+1555000{i:04}"));
            m.otp = format!("{i:06}");
            outbox.send(&m).await.unwrap();
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let lines = lines(&path);
    assert_eq!(lines.len(), 40);
    let codes: BTreeSet<String> = lines.iter().map(|l| l["otp"].as_str().unwrap().to_owned()).collect();
    assert_eq!(codes.len(), 40);
}

#[tokio::test]
async fn a_missing_directory_is_reported_not_panicked() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = FileOutbox::new(dir.path().join("missing/outbox.jsonl"), Templates::default());
    let err = outbox.send(&message(Channel::Sms, "+15550001111")).await.unwrap_err();
    assert!(err.to_string().contains("outbox.jsonl"), "{err}");
}
