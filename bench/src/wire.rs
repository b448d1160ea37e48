//! Speaking the PingID API as a client does: a fresh `reqHeader` (timestamp) and HS256/384/512
//! signature for every request, keep-alive connections, and a verified signature on every
//! answer.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use twofold_client::Client;
use twofold_proto::envelope::verify_compact_bytes;
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

/// The parts of an answer the scenarios look at, read straight into these types: the rest
/// of the `responseBody` is skipped without building a `Value` tree (that tree was most of
/// this generator's CPU per getuserdetails, taken from the server it shares the cores with).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Answer {
    /// `errorId` of the `responseBody`.
    #[serde(rename = "errorId")]
    pub error_id: u32,
    /// `sessionId` of the `responseBody`.
    #[serde(rename = "sessionId", default)]
    pub session_id: Option<String>,
    /// adduser's `activationCode` (auth-push pairs its phones with it).
    #[serde(rename = "activationCode", default)]
    pub activation_code: Option<String>,
    /// `extendedAuthenticationDetails` of an asynchronous push start.
    #[serde(rename = "extendedAuthenticationDetails", default)]
    pub extended: Option<Extended>,
}

/// `extendedAuthenticationDetails`: the number the phone shows for number matching.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Extended {
    #[serde(rename = "numberForMatching", default)]
    pub number_for_matching: Option<u32>,
}

impl Answer {
    /// The push's `numberForMatching`, when sent.
    pub fn number_for_matching(&self) -> Option<u32> {
        self.extended.as_ref().and_then(|e| e.number_for_matching)
    }
}

/// `{"responseBody": {...}}`.
#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "responseBody")]
    body: Answer,
}

/// The response header members checked against the properties.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow, default)]
    token: Option<Cow<'a, str>>,
    #[serde(rename = "orgAlias", borrow, default)]
    org_alias_camel: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    org_alias: Option<Cow<'a, str>>,
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
    /// Parsed operation URLs (parsing one per request cost as much as signing it).
    urls: std::sync::Mutex<std::collections::HashMap<String, reqwest::Url>>,
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
        Ok(Self {
            signer,
            http,
            key,
            urls: std::sync::Mutex::default(),
        })
    }

    /// The `idp_url` in use.
    pub fn idp_url(&self) -> &str {
        &self.signer.properties().idp_url
    }

    /// Signs `body` for `op` now, sends it, and verifies the answer.
    pub async fn call(&self, op: &str, body: &Value) -> Exchange {
        let jws = self.signer.sign(body);
        let url = self.url(op);
        let started = Instant::now();
        let sent = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(jws)
            .send()
            .await;
        let text = match sent {
            Ok(response) => response.bytes().await,
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

    /// The URL of `op`, parsed once.
    fn url(&self, op: &str) -> reqwest::Url {
        let mut urls = self.urls.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(url) = urls.get(op) {
            return url.clone();
        }
        // `require_loopback` parsed the idp_url already, so this parses too.
        let url =
            reqwest::Url::parse(&self.signer.url(op)).expect("a checked idp_url and an operation name form a URL");
        urls.insert(op.to_string(), url.clone());
        url
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
                        ..Answer::default()
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

    fn decode(&self, bytes: &[u8]) -> Result<Answer, Failure> {
        let trimmed = bytes.trim_ascii();
        let payload: Payload = if trimmed.starts_with(b"{") {
            // A refusal before the server knew the key (plain JSON, unsigned).
            serde_json::from_slice(trimmed).map_err(|_| Failure::Malformed)?
        } else {
            let text = std::str::from_utf8(trimmed).map_err(|_| Failure::Malformed)?;
            let (header, payload) = verify_compact_bytes(text, &self.key).map_err(|_| Failure::BadSignature)?;
            let header: Header<'_> = serde_json::from_slice(&header).map_err(|_| Failure::BadSignature)?;
            let props = self.signer.properties();
            let org = header.org_alias_camel.or(header.org_alias);
            if header.token.as_deref() != Some(props.token.as_str()) || org.as_deref() != Some(props.org_alias.as_str())
            {
                return Err(Failure::BadSignature);
            }
            serde_json::from_slice(&payload).map_err(|_| Failure::Malformed)?
        };
        Ok(payload.body)
    }
}

#[cfg(test)]
mod tests {
    use super::{Failure, Wire, require_loopback};
    use std::time::Duration;
    use twofold_proto::envelope::{Alg, response_header_json, sign_compact};
    use twofold_proto::properties::Properties;

    const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn wire() -> Wire {
        let props = Properties::parse(&format!(
            "use_base64_key={KEY_B64}\ntoken=tok\nidp_url=http://127.0.0.1:9/pingid\norg_alias=org\n"
        ))
        .unwrap();
        Wire::new(props, 1, Duration::from_secs(1)).unwrap()
    }

    fn signed(token: &str, org: &str, payload: &str) -> Vec<u8> {
        let key = twofold_proto::envelope::KEY_ENCODING
            .decode(KEY_B64.as_bytes())
            .unwrap();
        sign_compact(
            Alg::HS256,
            &key,
            &response_header_json(Alg::HS256, org, token),
            payload.as_bytes(),
        )
        .into_bytes()
    }

    #[test]
    fn answers_are_read_and_checked() {
        let wire = wire();
        let payload = r#"{"responseBody":{"userDetails":{"devices":[{"x":[1,{"y":"z"}]}]},"sessionId":"s-1",
            "extendedAuthenticationDetails":{"numberForMatching":42,"other":null},"activationCode":"123456789012",
            "errorId":30010,"errorMsg":"m","uniqueMsgId":"webs_x","clientData":{"a":[true]}}}"#;
        let answer = wire.decode(&signed("tok", "org", payload)).unwrap();
        assert_eq!(answer.error_id, 30010);
        assert_eq!(answer.session_id.as_deref(), Some("s-1"));
        assert_eq!(answer.number_for_matching(), Some(42));
        assert_eq!(answer.activation_code.as_deref(), Some("123456789012"));
        // Unsigned refusals (key unknown to the server) are plain JSON.
        let plain = wire
            .decode(br#" {"responseBody":{"errorId":10566,"errorMsg":"m"}} "#)
            .unwrap();
        assert_eq!((plain.error_id, plain.session_id), (10566, None));
        // Another token, another organization, a flipped byte, no errorId.
        assert_eq!(
            wire.decode(&signed("other", "org", payload)).unwrap_err(),
            Failure::BadSignature
        );
        assert_eq!(
            wire.decode(&signed("tok", "other", payload)).unwrap_err(),
            Failure::BadSignature
        );
        let mut tampered = signed("tok", "org", payload);
        let i = tampered.len() - 5;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        assert_eq!(wire.decode(&tampered).unwrap_err(), Failure::BadSignature);
        let no_id = signed("tok", "org", r#"{"responseBody":{"errorMsg":"m"}}"#);
        assert_eq!(wire.decode(&no_id).unwrap_err(), Failure::Malformed);
    }

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
