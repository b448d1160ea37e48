//! Speaking the PingID API as a client does: a fresh `reqHeader` (timestamp) and HS256/384/512
//! signature for every request, keep-alive connections, and a verified signature on every
//! answer.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::Value;
use twofold_client::Client;
use twofold_proto::envelope::verify_compact;
use twofold_proto::properties::Properties;

/// Why a request got no usable answer (counted by kind, as opposed to errorIds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// Connection refused or reset before a response.
    Connect,
    /// No complete answer within the request timeout.
    Timeout,
    /// Any other transport error (reading the body, a closed connection).
    Transport,
    /// A JWS answer whose signature, token or organization does not verify.
    BadSignature,
    /// An answer that is neither a JWS nor `{"responseBody":{…"errorId":n…}}`.
    Malformed,
}

impl Failure {
    /// A short label for reports.
    pub fn label(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Transport => "transport",
            Self::BadSignature => "bad-signature",
            Self::Malformed => "malformed",
        }
    }
}

/// The parts of an answer the scenarios look at.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `errorId` of the `responseBody`.
    pub error_id: u32,
    /// `sessionId` of the `responseBody`, when a string.
    pub session_id: Option<String>,
    /// The whole `responseBody`, for the fields only some scenarios read (`activationCode`
    /// of adduser, `numberForMatching` of an asynchronous push).
    pub body: Value,
}

/// One signed exchange: its latency (request sent → whole answer read) and outcome.
pub struct Exchange {
    pub latency: Duration,
    pub outcome: Result<Answer, Failure>,
}

/// A signing client with its own keep-alive connection pool.
pub struct Wire {
    signer: Client,
    http: reqwest::Client,
    key: Vec<u8>,
}

/// Refuses anything but a loopback `http(s)` URL: this tool generates load and must not
/// be pointed at someone else's server by a stray properties file.
///
/// # Errors
/// When the URL does not parse or its host is not `localhost`, `127.0.0.0/8` or `::1`.
pub fn require_loopback(url: &str) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("idp_url {url:?} is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("idp_url {url:?}: only http and https are supported");
    }
    let host = parsed.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("idp_url {url:?} is not a loopback address: twofold-bench only loads a local server");
    }
    Ok(())
}

impl Wire {
    /// A client for `props`, with up to `connections` idle keep-alive connections.
    ///
    /// # Errors
    /// When the key does not decode, the URL is not loopback, or the HTTP client cannot
    /// be built.
    pub fn new(props: Properties, connections: usize, timeout: Duration) -> anyhow::Result<Self> {
        require_loopback(&props.idp_url)?;
        let key = props.key_bytes().context("use_base64_key")?;
        let signer = Client::new(props).context("properties")?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(connections)
            // Below the server's 10-s idle limit, so a pooled connection is not reused
            // just as the server closes it (after a wait for the next TOTP step).
            .pool_idle_timeout(Duration::from_secs(5))
            .timeout(timeout)
            .build()
            .context("HTTP client")?;
        Ok(Self { signer, http, key })
    }

    /// The `idp_url` in use.
    pub fn idp_url(&self) -> &str {
        &self.signer.properties().idp_url
    }

    /// Signs `body` for `op` now, sends it, and verifies the answer.
    pub async fn call(&self, op: &str, body: &Value) -> Exchange {
        let jws = self.signer.sign(body);
        let url = self.signer.url(op);
        let started = Instant::now();
        let sent = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(jws)
            .send()
            .await;
        let text = match sent {
            Ok(response) => response.text().await,
            Err(e) => Err(e),
        };
        let latency = started.elapsed();
        let outcome = match text {
            Ok(text) => self.decode(&text),
            Err(e) if e.is_timeout() => Err(Failure::Timeout),
            Err(e) if e.is_connect() => Err(Failure::Connect),
            Err(_) => Err(Failure::Transport),
        };
        Exchange { latency, outcome }
    }

    /// `GET /healthz` on the same connections: no signing, no verification, no database.
    /// What this client and the server's HTTP stack cost on their own (the `healthz`
    /// scenario): the ceiling any signed operation stays under on this machine.
    pub async fn healthz(&self) -> Exchange {
        let url = format!(
            "{}/healthz",
            self.idp_url().trim_end_matches('/').trim_end_matches("/pingid")
        );
        let started = Instant::now();
        let sent = self.http.get(url).send().await;
        let outcome = match sent {
            Ok(response) => {
                let status = u32::from(response.status().as_u16());
                match response.bytes().await {
                    Ok(_) => Ok(Answer {
                        error_id: status,
                        session_id: None,
                        body: Value::Null,
                    }),
                    Err(e) if e.is_timeout() => Err(Failure::Timeout),
                    Err(_) => Err(Failure::Transport),
                }
            }
            Err(e) if e.is_timeout() => Err(Failure::Timeout),
            Err(e) if e.is_connect() => Err(Failure::Connect),
            Err(_) => Err(Failure::Transport),
        };
        Exchange {
            latency: started.elapsed(),
            outcome,
        }
    }

    fn decode(&self, text: &str) -> Result<Answer, Failure> {
        let trimmed = text.trim();
        let payload = if trimmed.starts_with('{') {
            // A refusal before the server knew the key (plain JSON, unsigned).
            serde_json::from_str::<Value>(trimmed).map_err(|_| Failure::Malformed)?
        } else {
            let (header, payload) = verify_compact(trimmed, &self.key).map_err(|_| Failure::BadSignature)?;
            let props = self.signer.properties();
            let org = header.get("orgAlias").or_else(|| header.get("org_alias"));
            if header.get("token").and_then(Value::as_str) != Some(props.token.as_str())
                || org.and_then(Value::as_str) != Some(props.org_alias.as_str())
            {
                return Err(Failure::BadSignature);
            }
            payload
        };
        let body = match payload {
            Value::Object(mut map) => map.remove("responseBody").ok_or(Failure::Malformed)?,
            _ => return Err(Failure::Malformed),
        };
        let error_id = body
            .get("errorId")
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or(Failure::Malformed)?;
        let session_id = body.get("sessionId").and_then(Value::as_str).map(str::to_string);
        Ok(Answer {
            error_id,
            session_id,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::require_loopback;

    #[test]
    fn only_loopback_urls_are_accepted() {
        for ok in [
            "http://127.0.0.1:8080/pingid",
            "http://127.1.2.3/pingid",
            "http://localhost:9/pingid",
            "https://LOCALHOST/pingid",
            "http://[::1]:8080/pingid",
        ] {
            assert!(require_loopback(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1:8080/pingid",
            "https://idpxnyl3m.pingidentity.com/pingid",
            "http://localhost.example.com/pingid",
            "http://[::2]/pingid",
            "ftp://127.0.0.1/pingid",
            "not a url",
            "http://0.0.0.0:8080/pingid",
        ] {
            assert!(require_loopback(bad).is_err(), "{bad}");
        }
    }
}
