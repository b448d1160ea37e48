//! Configuration types. The server parses them (from `twofold.toml` and `TWOFOLD_*`
//! variables) and hands them to [`Delivery::new`](crate::Delivery::new); this crate never
//! reads a file or the environment itself.
//!
//! Every struct refuses unknown fields, so a misspelt key fails at start-up instead of
//! silently sending codes to the file outbox.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;

use crate::templates::Templates;

/// The delivery section: what every organization uses, and per-organization overrides.
///
/// For each message the channel's backend is looked up in the organization's section
/// (by alias, then by display name), then in `default`, and when neither configures the
/// channel the message goes to the file outbox. So an organization that configures only
/// email still uses the default SMS gateway, or the outbox when there is none.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Backends and templates for every organization without an override.
    pub default: ChannelsConfig,
    /// Overrides, keyed by organization alias or display name.
    pub orgs: HashMap<String, ChannelsConfig>,
}

/// The backends of one scope (default or one organization), one per channel.
/// A channel left out falls back (see [`DeliveryConfig`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelsConfig {
    /// SMTP server for email.
    pub email: Option<EmailConfig>,
    /// Gateway for text messages.
    pub sms: Option<GatewayConfig>,
    /// Gateway for voice calls.
    pub voice: Option<GatewayConfig>,
    /// Message texts; each one left out falls back to the default scope, then to the
    /// built-in text.
    pub templates: Templates,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which is required (no downgrade to
    /// plain text when the server does not offer it). Default port 587.
    #[default]
    Starttls,
    /// TLS from the first byte ("SMTPS"). Default port 465.
    Tls,
    /// No encryption at all. Accepted only for a loopback host, for local testing,
    /// because it would expose codes and credentials on the network. Default port 25.
    None,
}

impl SmtpTls {
    /// The conventional port for this mode, used when `port` is not set.
    #[must_use]
    pub const fn default_port(self) -> u16 {
        match self {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        }
    }
}

/// An SMTP server to send email through.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Host name (also the name the TLS certificate must carry).
    pub host: String,
    /// Port; defaults to the conventional port of `tls`.
    #[serde(default, deserialize_with = "optional_number")]
    pub port: Option<u16>,
    /// Connection protection: `starttls` (default), `tls` or `none` (loopback only).
    #[serde(default)]
    pub tls: SmtpTls,
    /// Login name, when the server requires authentication (then `password` is required).
    #[serde(default)]
    pub username: Option<String>,
    /// Password for `username`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// Sender address, e.g. `Twofold <no-reply@example.com>`.
    pub from: String,
    /// Upper bound for one send, connection included, in seconds.
    #[serde(default = "default_timeout_secs", deserialize_with = "number")]
    pub timeout_secs: u64,
}

/// An HTTP gateway for SMS or voice, selected by `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum GatewayConfig {
    /// A generic signed JSON webhook (any provider, through a small adapter of yours).
    Webhook(WebhookConfig),
    /// Twilio or a service speaking Twilio's REST API.
    Twilio(TwilioConfig),
}

impl GatewayConfig {
    /// Upper bound for one send, in seconds.
    #[must_use]
    pub fn timeout_secs(&self) -> u64 {
        match self {
            GatewayConfig::Webhook(c) => c.timeout_secs,
            GatewayConfig::Twilio(c) => c.timeout_secs,
        }
    }
}

/// A signed JSON webhook: Twofold POSTs `{"id","channel","to","text","org"}` with an
/// `X-Twofold-Signature: sha256=<hex HMAC-SHA256 of the body>` header.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST (`https://` in production).
    pub url: String,
    /// HMAC-SHA256 key the receiver uses to check that a request comes from Twofold.
    pub secret: Secret,
    /// Upper bound for one send, connection included, in seconds.
    #[serde(default = "default_timeout_secs", deserialize_with = "number")]
    pub timeout_secs: u64,
}

/// Twilio's REST API (Messages for SMS, Calls for voice).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// API root; change it for a Twilio-compatible service or a test double.
    #[serde(default = "default_twilio_base_url")]
    pub base_url: String,
    /// Account SID (`AC…`), the user name of HTTP basic authentication.
    pub account_sid: String,
    /// Auth token, the password of HTTP basic authentication.
    pub auth_token: Secret,
    /// Sending number (E.164) or messaging service / caller id accepted by Twilio.
    pub from: String,
    /// Upper bound for one send, connection included, in seconds.
    #[serde(default = "default_timeout_secs", deserialize_with = "number")]
    pub timeout_secs: u64,
}

/// A number, or text holding one: configuration also comes from environment variables,
/// whose values are text.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText<T> {
    Number(T),
    Text(String),
}

pub(crate) fn number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
    T::Err: fmt::Display,
{
    match NumberOrText::<T>::deserialize(d)? {
        NumberOrText::Number(n) => Ok(n),
        NumberOrText::Text(t) => t.trim().parse().map_err(serde::de::Error::custom),
    }
}

fn optional_number<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
    T::Err: fmt::Display,
{
    number(d).map(Some)
}

fn default_timeout_secs() -> u64 {
    10
}

fn default_twilio_base_url() -> String {
    "https://api.twilio.com".to_owned()
}

/// A password, token or key from the configuration. Its `Debug` prints `<redacted>` so
/// that logging a configuration (or an error holding one) never leaks it; read it with
/// [`Secret::expose`] only where it is handed to the protocol that needs it.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

/// A configuration that cannot work, with the place it was found
/// (for example `orgs.acme.sms`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("delivery.{scope}: {message}")]
pub struct ConfigError {
    /// Where: `default.email`, `orgs.<key>.sms`, …
    pub scope: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(scope: &str, message: impl Into<String>) -> Self {
        ConfigError {
            scope: scope.to_owned(),
            message: message.into(),
        }
    }
}

/// Refuses a timeout that would make a send unbounded or pointlessly long.
pub(crate) fn check_timeout(scope: &str, secs: u64) -> Result<std::time::Duration, ConfigError> {
    if (1..=300).contains(&secs) {
        Ok(std::time::Duration::from_secs(secs))
    } else {
        Err(ConfigError::new(scope, "timeout_secs must be between 1 and 300"))
    }
}

/// Parses an `http(s)` URL, refusing other schemes and URLs with user info (credentials
/// belong in the secret fields, where they are redacted).
pub(crate) fn check_url(scope: &str, url: &str) -> Result<reqwest::Url, ConfigError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| ConfigError::new(scope, format!("invalid url: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::new(scope, "url must be http or https"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ConfigError::new(scope, "url must not carry credentials"));
    }
    Ok(parsed)
}
