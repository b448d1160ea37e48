//! A client of the Yubico validation protocol 2.0 (`GET <url>?id=…&otp=…&nonce=…&h=…`),
//! for deployments that validate YubiKey OTPs with a validation server (YubiCloud or a
//! self-hosted one) instead of importing key material into Twofold.
//!
//! Requests are signed with the API key (HMAC-SHA1); answers are believed only when their
//! signature verifies and they echo this OTP and this nonce.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use twofold_core::delivery::{DeliveryError, YubicoValidator, YubicoVerdict};
use twofold_factors::yubico_protocol::{Status, VerifyRequest, build_verify_query, verify_response};

use crate::config::{ConfigError, Secret};
use crate::http::{client, request_error};

/// The `[yubico]` section of `twofold.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YubicoConfig {
    /// The verify endpoint, e.g. `https://api.yubico.com/wsapi/2.0/verify`.
    pub url: String,
    /// The client id the service issued.
    #[serde(deserialize_with = "crate::config::number")]
    pub client_id: u64,
    /// The API key the service issued (base64).
    pub api_key: Secret,
    /// Seconds allowed for the whole exchange.
    #[serde(default = "default_timeout", deserialize_with = "crate::config::number")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    10
}

/// The protocol 2.0 client.
pub struct YubicoClient {
    url: String,
    client_id: u64,
    api_key: Vec<u8>,
    http: reqwest::Client,
}

impl std::fmt::Debug for YubicoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YubicoClient")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl YubicoClient {
    /// Builds a client from its configuration.
    ///
    /// # Errors
    /// When the API key is not base64 or the URL is not http(s).
    pub fn new(config: &YubicoConfig) -> Result<Self, ConfigError> {
        let err = |message: &str| ConfigError {
            scope: "yubico".into(),
            message: message.into(),
        };
        let api_key = data_encoding::BASE64
            .decode(config.api_key.expose().trim().as_bytes())
            .map_err(|_| err("api_key is not base64"))?;
        if !(config.url.starts_with("https://") || config.url.starts_with("http://")) {
            return Err(err("url must be an http(s) URL"));
        }
        let http = client(Duration::from_secs(config.timeout_secs.max(1))).map_err(|e| err(&e))?;
        Ok(Self {
            url: config.url.clone(),
            client_id: config.client_id,
            api_key,
            http,
        })
    }
}

#[async_trait]
impl YubicoValidator for YubicoClient {
    async fn validate(&self, otp: &str, nonce: &str) -> Result<YubicoVerdict, DeliveryError> {
        let request = VerifyRequest {
            client_id: self.client_id,
            otp,
            nonce,
            timestamp: false,
            sync_level: None,
            timeout_secs: None,
        };
        let query =
            build_verify_query(&request, &self.api_key).map_err(|e| DeliveryError::Permanent(format!("{e:?}")))?;
        let separator = if self.url.contains('?') { '&' } else { '?' };
        let response = self
            .http
            .get(format!("{}{separator}{query}", self.url))
            .send()
            .await
            .map_err(|e| request_error(e, "Yubico validation service"))?;
        if !response.status().is_success() {
            return Err(DeliveryError::Transient(format!(
                "Yubico validation service answered {}",
                response.status()
            )));
        }
        let body = response
            .text()
            .await
            .map_err(|e| request_error(e, "Yubico validation service"))?;
        let verified = verify_response(&body, &self.api_key, otp, nonce)
            .map_err(|e| DeliveryError::Permanent(format!("untrusted Yubico answer: {e:?}")))?;
        match verified.status {
            Status::Ok => Ok(YubicoVerdict::Valid),
            Status::ReplayedOtp => Ok(YubicoVerdict::Replayed),
            Status::BadOtp => Ok(YubicoVerdict::Invalid),
            other => Err(DeliveryError::Permanent(format!(
                "Yubico validation service: {}",
                other.as_str()
            ))),
        }
    }
}
