//! Secrets and codes never show in `Debug` output (logs, panics, error reports).

use twofold_core::delivery::Channel;
use twofold_delivery::{FileOutbox, RecordingSender, Secret, SmtpSender, Templates, TwilioSender, WebhookSender};

use crate::support::message;
use crate::{config, delivery};

const CONFIG: &str = r#"
[default.email]
host = "127.0.0.1"
tls = "none"
username = "mailer"
password = "smtp-pa55word"
from = "a@example.com"

[default.sms]
kind = "webhook"
url = "http://127.0.0.1:9/hook"
secret = "webhook-s3cret"

[default.voice]
kind = "twilio"
account_sid = "AC1"
auth_token = "twilio-t0ken"
from = "+15550009999"
"#;

const SECRETS: [&str; 3] = ["smtp-pa55word", "webhook-s3cret", "twilio-t0ken"];

fn assert_clean(text: &str) {
    for secret in SECRETS.iter().chain(&["123456"]) {
        assert!(!text.contains(secret), "{secret} leaked into {text}");
    }
}

#[test]
fn configuration_debug_hides_secrets() {
    let cfg = config(CONFIG);
    assert_clean(&format!("{cfg:?} {cfg:#?}"));
    assert_eq!(format!("{:?}", Secret::new("x")), "<redacted>");
    assert_eq!(
        cfg.default.email.as_ref().unwrap().password.as_ref().unwrap().expose(),
        "smtp-pa55word"
    );
}

#[test]
fn sender_debug_hides_secrets() {
    let cfg = config(CONFIG);
    let (delivery, _dir) = delivery(CONFIG);
    let smtp = SmtpSender::new(cfg.default.email.as_ref().unwrap(), Templates::default()).unwrap();
    let twofold_delivery::GatewayConfig::Webhook(hook) = cfg.default.sms.as_ref().unwrap() else {
        panic!()
    };
    let webhook = WebhookSender::new(hook, Templates::default()).unwrap();
    let twofold_delivery::GatewayConfig::Twilio(twilio) = cfg.default.voice.as_ref().unwrap() else {
        panic!()
    };
    let twilio = TwilioSender::new(twilio, Templates::default()).unwrap();
    assert_clean(&format!("{delivery:?} {smtp:?} {webhook:?} {twilio:?}"));
}

#[tokio::test]
async fn message_and_recorder_debug_hide_the_code() {
    use twofold_core::delivery::MessageSender;
    let m = message(Channel::Sms, "+15550001111");
    let recorder = RecordingSender::new();
    recorder.send(&m).await.unwrap();
    let rendered = Templates::default().render(&m);
    let outbox = FileOutbox::new("outbox.jsonl", Templates::default());
    assert_clean(&format!("{m:?} {recorder:?} {rendered:?} {outbox:?}"));
}
