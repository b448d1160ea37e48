//! A generic signed JSON webhook for SMS and voice: the operator points it at a small
//! adapter for whatever provider they use, and the adapter checks the signature.
//!
//! Request: `POST <url>` with body `{"id","channel","to","text","org"}` and headers
//! `X-Twofold-Signature: sha256=<lower-case hex HMAC-SHA256 of the raw body>` and
//! `X-Twofold-Message-Id: <id>` (the same message id on a retry, so the receiver can
//! drop duplicates).

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;
use twofold_core::delivery::{DeliveryError, MessageSender, OutboundMessage};

use crate::config::{ConfigError, Secret, WebhookConfig, check_timeout, check_url};
use crate::http;
use crate::templates::Templates;

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Twofold-Signature";
/// The header carrying the message id.
pub const MESSAGE_ID_HEADER: &str = "X-Twofold-Message-Id";

/// Sends SMS and voice messages to a signed webhook.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    url: reqwest::Url,
    secret: Secret,
    client: reqwest::Client,
    templates: Templates,
}

#[derive(Serialize)]
struct Payload<'a> {
    id: &'a str,
    channel: &'static str,
    to: &'a str,
    text: &'a str,
    org: &'a str,
}

impl WebhookSender {
    /// A sender for `config`, rendering texts with `templates`.
    ///
    /// # Errors
    /// An invalid URL or timeout.
    pub fn new(config: &WebhookConfig, templates: Templates) -> Result<Self, ConfigError> {
        let scope = "webhook";
        let url = check_url(scope, &config.url)?;
        let timeout = check_timeout(scope, config.timeout_secs)?;
        if config.secret.expose().is_empty() {
            return Err(ConfigError::new(scope, "secret must not be empty"));
        }
        let client = http::client(timeout).map_err(|e| ConfigError::new(scope, e))?;
        Ok(WebhookSender {
            url,
            secret: config.secret.clone(),
            client,
            templates,
        })
    }
}

/// `sha256=<hex>`: the value of [`SIGNATURE_HEADER`] for `body` under `secret`.
#[must_use]
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    format!(
        "sha256={}",
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    )
}

#[async_trait]
impl MessageSender for WebhookSender {
    async fn send(&self, message: &OutboundMessage) -> Result<(), DeliveryError> {
        let text = self.templates.render(message).body;
        let body = serde_json::to_vec(&Payload {
            id: &message.id,
            channel: message.channel.as_str(),
            to: &message.to,
            text: &text,
            org: &message.org_alias,
        })
        .map_err(|e| DeliveryError::Permanent(format!("webhook: encoding: {e}")))?;
        let signature = signature(self.secret.expose().as_bytes(), &body);
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(MESSAGE_ID_HEADER, &message.id)
            .body(body)
            .send()
            .await
            .map_err(|e| http::request_error(e, "webhook"))?;
        http::check_status(response.status(), "webhook")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            super::signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
