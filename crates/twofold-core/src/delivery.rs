//! The delivery port: how core asks for a one-time passcode to reach a person by SMS,
//! voice call or email. Adapters (the `twofold-delivery` crate) render the text from
//! templates and talk to SMTP servers and HTTP gateways; core only says who, how, and
//! which code.

use async_trait::async_trait;

/// The channel a message travels by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// A text message to a phone number.
    Sms,
    /// A phone call that reads the code out.
    Voice,
    /// An email.
    Email,
}

impl Channel {
    /// The lower-case name used in configuration and in the file outbox.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Voice => "voice",
            Channel::Email => "email",
        }
    }
}

/// Why a code is being sent (templates differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Verifying a device being paired.
    Pairing,
    /// Authenticating.
    Authentication,
}

/// One message to send. Its `Debug` never shows the code.
#[derive(Clone)]
pub struct OutboundMessage {
    /// Unique id; a sender that sees the same id twice must not send twice.
    pub id: String,
    /// The organization's alias (per-organization templates and gateways).
    pub org_alias: String,
    /// The organization's display name (used in templates).
    pub org_name: String,
    /// How to send.
    pub channel: Channel,
    /// E.164 phone number (`+` and digits, voice may carry `,` pauses and extension
    /// digits) or email address.
    pub to: String,
    /// Why.
    pub purpose: Purpose,
    /// The one-time passcode.
    pub otp: String,
    /// Creation time, epoch ms.
    pub created_ms: i64,
}

impl std::fmt::Debug for OutboundMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundMessage")
            .field("id", &self.id)
            .field("org_alias", &self.org_alias)
            .field("channel", &self.channel)
            .field("purpose", &self.purpose)
            .field("otp", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth retrying (timeout, 5xx, connection refused).
    #[error("temporary delivery failure: {0}")]
    Transient(String),
    /// Retrying cannot help (rejected recipient, 4xx, bad configuration).
    #[error("delivery refused: {0}")]
    Permanent(String),
}

/// Sends messages. Implementations bound their own time (connect and request timeouts),
/// never log the code, and are safe to call concurrently.
#[async_trait]
pub trait MessageSender: Send + Sync {
    /// Sends one message.
    async fn send(&self, message: &OutboundMessage) -> Result<(), DeliveryError>;
}

/// A Yubico validation service's verdict on one OTP (protocol 2.0, `/wsapi/2.0/verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YubicoVerdict {
    /// Valid and never seen before.
    Valid,
    /// Seen before: replayed, or counters that did not increase.
    Replayed,
    /// Not a valid OTP of a key the service knows.
    Invalid,
}

/// A remote Yubico OTP validation service, for deployments whose key material lives in
/// a validation server rather than in Twofold. The adapter signs requests with the API
/// key, checks the response signature and the echoed OTP and nonce.
#[async_trait]
pub trait YubicoValidator: Send + Sync {
    /// Validates `otp`; `nonce` (16–40 alphanumerics, from the injected RNG) ties the
    /// answer to this request.
    async fn validate(&self, otp: &str, nonce: &str) -> Result<YubicoVerdict, DeliveryError>;
}
