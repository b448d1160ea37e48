//! privacyIDEA's `/validate/check`, called as its plugins call it (a form-encoded `user`,
//! `pass` = PIN followed by the OTP code, and optionally `realm`), over the same keep-alive
//! HTTP client the PingID scenarios use. This is the `privacyidea` scenario that
//! `bench/compare-privacyidea.sh` runs, so both servers are measured by one load generator
//! with the same concurrency, connection reuse, user rotation and latency histograms.
//!
//! privacyIDEA answers HTTP 200 with `{"result": {"status": true, "value": true}}` for an
//! accepted password and `"value": false` for a rejected one; errors carry
//! `"status": false` and `result.error.code`. The report counts answers by a number, as
//! it counts PingID errorIds: [`ACCEPT`] (200) for an acceptance, [`REJECT`] (401) for a
//! rejection, and privacyIDEA's error code (or 500 without one) for an error.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::Value;

use crate::wire::{Answer, Exchange, Failure, require_loopback};

/// The number the report counts an accepted `/validate/check` under.
pub const ACCEPT: u32 = 200;
/// The number the report counts a rejected `/validate/check` (`"value": false`) under.
pub const REJECT: u32 = 401;

/// A `/validate/check` client for one privacyIDEA server.
pub struct PiWire {
    http: reqwest::Client,
    check_url: String,
    base_url: String,
    realm: Option<String>,
    pin: String,
}

impl PiWire {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:5000`), sending `pin`
    /// before every code and `realm` when given, with up to `connections` idle keep-alive
    /// connections.
    ///
    /// # Errors
    /// When the URL is not loopback or the HTTP client cannot be built.
    pub fn new(
        base_url: &str,
        realm: Option<String>,
        pin: String,
        connections: usize,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        require_loopback(base_url)?;
        let base_url = base_url.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(connections)
            // Below gunicorn's keep-alive setting in compare-privacyidea.sh (10 s), as for Twofold.
            .pool_idle_timeout(Duration::from_secs(5))
            .timeout(timeout)
            .build()
            .context("HTTP client")?;
        Ok(Self {
            http,
            check_url: format!("{base_url}/validate/check"),
            base_url,
            realm,
            pin,
        })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends `/validate/check` for `user` with the PIN and `code`.
    pub async fn check(&self, user: &str, code: &str) -> Exchange {
        let mut form = format!("user={}&pass={}{}", encode(user), encode(&self.pin), encode(code));
        if let Some(realm) = &self.realm {
            form.push_str("&realm=");
            form.push_str(&encode(realm));
        }
        let started = Instant::now();
        let sent = self
            .http
            .post(&self.check_url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await;
        let text = match sent {
            Ok(response) => response.text().await,
            Err(e) => Err(e),
        };
        let latency = started.elapsed();
        let outcome = match text {
            Ok(text) => decode(&text),
            Err(e) if e.is_timeout() => Err(Failure::Timeout),
            Err(e) if e.is_connect() => Err(Failure::Connect),
            Err(_) => Err(Failure::Transport),
        };
        Exchange { latency, outcome }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The number an answer is counted under (see the module documentation).
fn decode(text: &str) -> Result<Answer, Failure> {
    let body: Value = serde_json::from_str(text).map_err(|_| Failure::Malformed)?;
    let result = body.get("result").ok_or(Failure::Malformed)?;
    let error_id = match (
        result.get("status").and_then(Value::as_bool),
        result.get("value").and_then(Value::as_bool),
    ) {
        (Some(true), Some(true)) => ACCEPT,
        (Some(true), Some(false)) => REJECT,
        (Some(false), _) => result
            .pointer("/error/code")
            .and_then(Value::as_u64)
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(500),
        _ => return Err(Failure::Malformed),
    };
    Ok(Answer {
        error_id,
        ..Answer::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> Result<u32, Failure> {
        decode(text).map(|a| a.error_id)
    }

    #[test]
    fn answers_are_counted_by_outcome() {
        assert_eq!(
            id(r#"{"result":{"authentication":"ACCEPT","status":true,"value":true}}"#),
            Ok(200)
        );
        assert_eq!(
            id(r#"{"result":{"authentication":"REJECT","status":true,"value":false}}"#),
            Ok(401)
        );
        assert_eq!(
            id(r#"{"result":{"status":false,"error":{"code":904,"message":"user not found"}}}"#),
            Ok(904)
        );
        assert_eq!(id(r#"{"result":{"status":false}}"#), Ok(500));
        assert_eq!(id(r#"{"result":{"status":true}}"#), Err(Failure::Malformed));
        assert_eq!(id("<html>502</html>"), Err(Failure::Malformed));
    }

    #[test]
    fn form_values_are_percent_encoded() {
        assert_eq!(encode("user0"), "user0");
        assert_eq!(encode("a b&c=d+é"), "a%20b%26c%3Dd%2B%C3%A9");
    }

    #[test]
    fn only_loopback_servers_are_loaded() {
        let new = |url: &str| PiWire::new(url, None, String::new(), 1, Duration::from_secs(1));
        assert!(new("http://127.0.0.1:5000/").is_ok());
        assert_eq!(
            new("http://127.0.0.1:5000/").unwrap().check_url,
            "http://127.0.0.1:5000/validate/check"
        );
        assert!(new("http://192.168.1.10:5000").is_err());
    }
}
