#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod config;
mod file;
mod http;
mod outbox;
mod recording;
mod retry;
mod router;
mod smtp;
pub mod templates;
mod twilio;
pub mod webhook;
pub mod yubico;

pub use config::{
    ChannelsConfig, ConfigError, DeliveryConfig, EmailConfig, GatewayConfig, Secret, SmtpTls, TwilioConfig,
    WebhookConfig,
};
pub use file::{FileOutbox, rfc3339_millis};
pub use outbox::{DurableOutbox, OutboxPolicy};
pub use recording::RecordingSender;
pub use retry::{RetryPolicy, Retrying};
pub use router::{BackendKind, Delivery};
pub use smtp::SmtpSender;
pub use templates::{PurposeTemplates, Rendered, Templates};
pub use twilio::TwilioSender;
pub use webhook::WebhookSender;
pub use yubico::{YubicoClient, YubicoConfig};
