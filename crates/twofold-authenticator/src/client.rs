//! The device API over HTTP: the pairing steps, and signed calls (docs/device-api.md).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use ed25519_dalek::{Signer as _, SigningKey};
use rand::RngCore as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use twofold_proto::device_api::{
    self as api, AnswerRequest, AnswerResponse, ClaimRequest, ClaimResponse, DeviceError, DeviceFacts, DeviceStatus,
    PushList, RegisterRequest, RegisterResponse, paths,
};

/// Epoch milliseconds; injectable so tests can follow a server's fixed clock.
pub type NowMs = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock in epoch milliseconds.
#[must_use]
pub fn system_now() -> NowMs {
    #[expect(clippy::disallowed_methods, reason = "the app's one clock; tests inject theirs")]
    Arc::new(|| {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    })
}

/// Splits a `…/QRRedirection?<base64 of "act_code=…">` link into the server's base URL
/// and the activation code.
#[must_use]
pub fn qr_link(link: &str) -> Option<(String, String)> {
    let (before, query) = link.split_once('?')?;
    let base = before
        .strip_suffix("/pingid/QRRedirection")
        .or_else(|| before.strip_suffix("/QRRedirection"))?;
    let cleaned = query.trim().trim_end_matches('=').replace('-', "+").replace('_', "/");
    let decoded = data_encoding::BASE64_NOPAD.decode(cleaned.as_bytes()).ok()?;
    let code = String::from_utf8(decoded).ok()?.strip_prefix("act_code=")?.to_string();
    Some((base.trim_end_matches('/').to_string(), code))
}

fn trim_base(server: &str) -> String {
    server.trim_end_matches('/').to_string()
}

async fn answer<T: DeserializeOwned>(response: reqwest::Response) -> anyhow::Result<T> {
    let status = response.status();
    let bytes = response.bytes().await.context("reading the server's answer")?;
    if !status.is_success() {
        match serde_json::from_slice::<DeviceError>(&bytes) {
            Ok(e) => bail!("server refused ({status}): {} - {}", e.error, e.message),
            Err(_) => bail!("server refused ({status}): {}", String::from_utf8_lossy(&bytes)),
        }
    }
    serde_json::from_slice(&bytes).with_context(|| format!("unexpected answer: {}", String::from_utf8_lossy(&bytes)))
}

/// The unsigned pairing steps (the activation code is the credential).
#[derive(Debug, Clone)]
pub struct Pairing {
    http: reqwest::Client,
    server: String,
}

impl Pairing {
    /// Talks to `server` (`http://host:port`).
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(server: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?,
            server: trim_base(server),
        })
    }

    /// Step 1: who the code pairs (the code reads VERIFIED).
    ///
    /// # Errors
    /// Refusals (unknown, expired or used code) and transport failures.
    pub async fn claim(&self, code: &str) -> anyhow::Result<ClaimResponse> {
        let body = serde_json::to_vec(&ClaimRequest {
            activation_code: code.to_string(),
        })?;
        answer(self.post(paths::PAIR_CLAIM, body).await?).await
    }

    /// Step 2: registers the public key (the code reads PAIRED, the user is ACTIVE).
    ///
    /// # Errors
    /// Refusals and transport failures.
    pub async fn register(
        &self,
        code: &str,
        key: &SigningKey,
        platform: &str,
        facts: DeviceFacts,
    ) -> anyhow::Result<RegisterResponse> {
        let body = serde_json::to_vec(&RegisterRequest {
            activation_code: code.to_string(),
            public_key: data_encoding::BASE64.encode(key.verifying_key().as_bytes()),
            platform: platform.to_string(),
            facts,
        })?;
        answer(self.post(paths::PAIR_REGISTER, body).await?).await
    }

    async fn post(&self, path: &str, body: Vec<u8>) -> anyhow::Result<reqwest::Response> {
        self.http
            .post(format!("{}{path}", self.server))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .with_context(|| format!("reaching {}", self.server))
    }
}

/// A paired device's signed calls.
#[derive(Clone)]
pub struct DeviceClient {
    http: reqwest::Client,
    server: String,
    key: SigningKey,
    device_id: i64,
    now_ms: NowMs,
}

impl std::fmt::Debug for DeviceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceClient")
            .field("server", &self.server)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

/// A raw answer: HTTP status and body.
#[derive(Debug, Clone)]
pub struct RawAnswer {
    /// HTTP status.
    pub status: u16,
    /// Body text.
    pub body: String,
}

impl DeviceClient {
    /// Signs calls for `device_id` with `key`, timestamps from `now_ms`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(server: &str, key: SigningKey, device_id: i64, now_ms: NowMs) -> anyhow::Result<Self> {
        Ok(Self {
            // Long-polls last up to MAX_POLL_WAIT_SECS; leave room for the answer.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(api::MAX_POLL_WAIT_SECS + 20))
                .build()?,
            server: trim_base(server),
            key,
            device_id,
            now_ms,
        })
    }

    /// The device id.
    #[must_use]
    pub fn device_id(&self) -> i64 {
        self.device_id
    }

    /// A fresh nonce: 24 random bytes, base64url.
    #[must_use]
    pub fn new_nonce() -> String {
        let mut bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        data_encoding::BASE64URL_NOPAD.encode(&bytes)
    }

    /// Sends a signed call with the given nonce and returns the raw answer (tests use it
    /// to replay a nonce).
    ///
    /// # Errors
    /// Transport failures.
    pub async fn signed_raw(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        nonce: &str,
    ) -> anyhow::Result<RawAnswer> {
        let timestamp = (self.now_ms)();
        let signed = api::canonical_request(method, path_and_query, self.device_id, timestamp, nonce, body);
        let signature = data_encoding::BASE64.encode(&self.key.sign(signed.as_bytes()).to_bytes());
        let url = format!("{}{path_and_query}", self.server);
        let request = if method.eq_ignore_ascii_case("GET") {
            self.http.get(url)
        } else {
            self.http
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_vec())
        };
        let response = request
            .header(api::HEADER_DEVICE, self.device_id.to_string())
            .header(api::HEADER_TIMESTAMP, timestamp.to_string())
            .header(api::HEADER_NONCE, nonce)
            .header(api::HEADER_SIGNATURE, signature)
            .send()
            .await
            .with_context(|| format!("reaching {}", self.server))?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        Ok(RawAnswer { status, body })
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&B>,
    ) -> anyhow::Result<T> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b)?,
            None => Vec::new(),
        };
        let raw = self
            .signed_raw(method, path_and_query, &bytes, &Self::new_nonce())
            .await?;
        if !(200..300).contains(&raw.status) {
            match serde_json::from_str::<DeviceError>(&raw.body) {
                Ok(e) => bail!("server refused ({}): {} - {}", raw.status, e.error, e.message),
                Err(_) => bail!("server refused ({}): {}", raw.status, raw.body),
            }
        }
        serde_json::from_str(&raw.body).with_context(|| format!("unexpected answer: {}", raw.body))
    }

    /// Step 3 of pairing: the app is ready (pairing status SUCCESS).
    ///
    /// # Errors
    /// Refusals and transport failures.
    pub async fn finish_pairing(&self) -> anyhow::Result<DeviceStatus> {
        self.call::<(), _>("POST", paths::PAIR_FINISH, None).await
    }

    /// What the server knows about this device.
    ///
    /// # Errors
    /// Refusals and transport failures.
    pub async fn status(&self) -> anyhow::Result<DeviceStatus> {
        self.call::<(), _>("GET", paths::STATUS, None).await
    }

    /// Reports model, OS, app version and push availability.
    ///
    /// # Errors
    /// Refusals and transport failures.
    pub async fn report_facts(&self, facts: &DeviceFacts) -> anyhow::Result<DeviceStatus> {
        self.call("POST", paths::FACTS, Some(facts)).await
    }

    /// The long-poll: waits up to `wait_secs` for a push or a cancellation after `since`.
    ///
    /// # Errors
    /// Refusals and transport failures.
    pub async fn poll(&self, wait_secs: u64, since: Option<i64>) -> anyhow::Result<PushList> {
        let mut path = format!("{}?wait={wait_secs}", paths::PUSHES);
        if let Some(t) = since {
            path.push_str(&format!("&since={t}"));
        }
        self.call::<(), _>("GET", &path, None).await
    }

    /// Approves (with the picked number, under number matching) or denies a push.
    ///
    /// # Errors
    /// Refusals and transport failures.
    pub async fn answer(&self, push_id: &str, approve: bool, number: Option<u32>) -> anyhow::Result<AnswerResponse> {
        let body = AnswerRequest {
            push_id: push_id.to_string(),
            decision: if approve { "approve" } else { "deny" }.into(),
            number,
        };
        self.call("POST", paths::ANSWER, Some(&body)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_links_give_server_and_code() {
        assert_eq!(
            qr_link("https://idp.example/pingid/QRRedirection?YWN0X2NvZGU9MjkyMDcwNTIyNzAx"),
            Some(("https://idp.example".into(), "292070522701".into()))
        );
        assert_eq!(qr_link("https://idp.example/other?YWN0X2NvZGU9MjkyMDcwNTIyNzAx"), None);
    }
}
