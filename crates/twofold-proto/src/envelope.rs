//! The compact-JWS envelope of every PingID API request and response.
//!
//! PingID bodies are `base64url(header).base64url(payload).base64url(hmac)`, signed with
//! the organization's HMAC key (spec §1.5). Two rules shape this module:
//!
//! * **Verify over the raw received segments.** Real clients emit non-canonical JSON
//!   (PHP's `\/`, spaces, any key order), so re-serialising before checking the MAC would
//!   reject them (spec §1.5). [`UnverifiedRequest::verify`] hashes the bytes as received.
//! * **Accept what real clients send** (spec §1.9): a body wrapped in one pair of quotes or
//!   surrounded by whitespace, `org_alias` or `orgAlias` (or both), an extra `typ`,
//!   HS256/HS384/HS512, padded or unpadded base64url segments.
//!
//! Nothing here looks anything up: the caller reads [`UnverifiedRequest::org_alias`] and
//! [`UnverifiedRequest::token`] to find the key, then calls `verify` before trusting a byte
//! of the payload.

use data_encoding::{BASE64URL_NOPAD, Encoding};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::{Sha256, Sha384, Sha512};

/// The HMAC algorithms PingID clients use (spec §1.3: the devices-management sample picks
/// the algorithm from the key length; everything else sends HS256).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// HMAC-SHA256, what nearly every client sends.
    HS256,
    /// HMAC-SHA384.
    HS384,
    /// HMAC-SHA512.
    HS512,
}

impl Alg {
    /// The JOSE name (`"HS256"`...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
        }
    }

    /// Parses a JOSE name; anything but the three HMAC algorithms is refused (a request
    /// with `alg: none` or an RSA algorithm gets 401).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "HS256" => Some(Alg::HS256),
            "HS384" => Some(Alg::HS384),
            "HS512" => Some(Alg::HS512),
            _ => None,
        }
    }

    /// The MAC of `input` under `key`.
    #[must_use]
    pub fn mac(self, key: &[u8], input: &[u8]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(key: &[u8], input: &[u8]) -> Vec<u8> {
            // HMAC accepts keys of any length, so this cannot fail.
            let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(input);
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Alg::HS256 => run::<Hmac<Sha256>>(key, input),
            Alg::HS384 => run::<Hmac<Sha384>>(key, input),
            Alg::HS512 => run::<Hmac<Sha512>>(key, input),
        }
    }

    /// Checks `tag` against the MAC of `input` in constant time.
    #[must_use]
    pub fn verify(self, key: &[u8], input: &[u8], tag: &[u8]) -> bool {
        fn run<M: Mac + KeyInit>(key: &[u8], input: &[u8], tag: &[u8]) -> bool {
            let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(input);
            mac.verify_slice(tag).is_ok()
        }
        match self {
            Alg::HS256 => run::<Hmac<Sha256>>(key, input, tag),
            Alg::HS384 => run::<Hmac<Sha384>>(key, input, tag),
            Alg::HS512 => run::<Hmac<Sha512>>(key, input, tag),
        }
    }
}

/// Why a request body is not a usable envelope. The server maps the first three to
/// errorId 400 and the last to 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not three non-empty dot-separated base64url segments.
    #[error("the body is not a compact JWS")]
    NotCompactJws,
    /// The header or payload segment is not a JSON object.
    #[error("the {0} segment is not a JSON object")]
    NotJson(&'static str),
    /// The payload has no `reqBody` object.
    #[error("the payload has no reqBody object")]
    MissingReqBody,
    /// `alg` is missing or is not HS256/HS384/HS512.
    #[error("unsupported JWS algorithm")]
    UnsupportedAlg,
}

/// A parsed request whose signature has not been checked yet.
#[derive(Debug, Clone)]
pub struct UnverifiedRequest {
    signing_input: String,
    signature: Vec<u8>,
    alg: Alg,
    header_org_alias: Option<String>,
    header_org_alias_alt: Option<String>,
    header_token: Option<String>,
    req_header: Map<String, Value>,
    req_body: Result<Map<String, Value>, EnvelopeError>,
}

/// base64url, tolerating `=` padding and the standard alphabet's `+`/`/` (some clients
/// produce them when they pad or mix encoders).
fn decode_segment(segment: &str) -> Option<Vec<u8>> {
    let trimmed = segment.trim_end_matches('=').as_bytes();
    // Well-formed segments decode at once; only a failed decode looks for the standard
    // alphabet (scanning every segment for it first cost a request as much as decoding).
    if let Ok(bytes) = BASE64URL_NOPAD.decode(trimmed) {
        return Some(bytes);
    }
    if !trimmed.iter().any(|&b| matches!(b, b'+' | b'/')) {
        return None;
    }
    let converted: Vec<u8> = trimmed
        .iter()
        .map(|&b| match b {
            b'+' => b'-',
            b'/' => b'_',
            other => other,
        })
        .collect();
    BASE64URL_NOPAD.decode(&converted).ok()
}

fn string_field(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// An org alias claimed in the JWS header. A present value that is not a non-empty
/// string is kept as an impossible alias, so the organization check refuses it instead
/// of treating the claim as absent.
fn alias_field(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Null => None,
        other => Some(format!("<invalid:{other}>")),
    }
}

/// Removes surrounding whitespace and one pair of double quotes (spec §1.2: some HTTP
/// libraries JSON-encode a string entity).
fn strip_wrapping(text: &str) -> &str {
    let text = text.trim();
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner.trim(),
        None => text,
    }
}

impl UnverifiedRequest {
    /// Parses a request body. Never panics, whatever the bytes.
    ///
    /// # Errors
    /// [`EnvelopeError`] when the body is not a PingID envelope.
    pub fn parse(body: &[u8]) -> Result<Self, EnvelopeError> {
        let text = std::str::from_utf8(body).map_err(|_| EnvelopeError::NotCompactJws)?;
        let text = strip_wrapping(text);
        let mut parts = text.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(EnvelopeError::NotCompactJws);
        };
        if h.is_empty() || p.is_empty() {
            return Err(EnvelopeError::NotCompactJws);
        }
        let header_bytes = decode_segment(h).ok_or(EnvelopeError::NotCompactJws)?;
        let payload_bytes = decode_segment(p).ok_or(EnvelopeError::NotCompactJws)?;
        // An empty or undecodable signature is a signature that does not verify (401),
        // not a framing error: `alg: none` tokens end in an empty segment.
        let signature = decode_segment(s).unwrap_or_default();
        let Ok(Value::Object(header)) = serde_json::from_slice::<Value>(&header_bytes) else {
            return Err(EnvelopeError::NotJson("header"));
        };
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(Alg::from_name)
            .ok_or(EnvelopeError::UnsupportedAlg)?;
        // A payload problem is reported only after the MAC verified (see `req_body`), so an
        // unauthenticated caller learns nothing but 401.
        let (req_header, req_body) = match serde_json::from_slice::<Value>(&payload_bytes) {
            Ok(Value::Object(mut payload)) => {
                let req_header = match payload.remove("reqHeader") {
                    Some(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                let req_body = match payload.remove("reqBody") {
                    Some(Value::Object(m)) => Ok(m),
                    _ => Err(EnvelopeError::MissingReqBody),
                };
                (req_header, req_body)
            }
            _ => (Map::new(), Err(EnvelopeError::NotJson("payload"))),
        };
        Ok(Self {
            signing_input: format!("{h}.{p}"),
            signature,
            alg,
            header_org_alias: alias_field(&header, "org_alias"),
            header_org_alias_alt: alias_field(&header, "orgAlias"),
            header_token: string_field(&header, "token"),
            req_header,
            req_body,
        })
    }

    /// The algorithm the client signed with; the response is signed with the same one.
    #[must_use]
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The API token naming the caller: header `token`, else `reqHeader.secretKey`
    /// (spec §1.3), else the old samples' `reqHeader.token`.
    #[must_use]
    pub fn token(&self) -> Option<String> {
        self.header_token
            .clone()
            .or_else(|| string_field(&self.req_header, "secretKey"))
            .or_else(|| string_field(&self.req_header, "token"))
    }

    /// Every organization alias the request states (header `org_alias`, header
    /// `orgAlias`, `reqHeader.orgAlias`), without duplicates. The server refuses the call
    /// when any of them differs from the token's organization.
    #[must_use]
    pub fn org_aliases(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for alias in [
            self.header_org_alias.clone(),
            self.header_org_alias_alt.clone(),
            alias_field(&self.req_header, "orgAlias"),
        ]
        .into_iter()
        .flatten()
        {
            if !out.contains(&alias) {
                out.push(alias);
            }
        }
        out
    }

    /// The organization alias to sign the response with: the first one stated.
    #[must_use]
    pub fn org_alias(&self) -> Option<String> {
        self.org_aliases().into_iter().next()
    }

    /// Checks the MAC over the raw `header.payload` bytes in constant time.
    #[must_use]
    pub fn verify(&self, key: &[u8]) -> bool {
        self.alg.verify(key, self.signing_input.as_bytes(), &self.signature)
    }

    /// `reqHeader`, loosely typed (its fields are informational; spec §1.4).
    #[must_use]
    pub fn req_header(&self) -> &Map<String, Value> {
        &self.req_header
    }

    /// `reqBody`; only meaningful after [`Self::verify`] succeeded.
    ///
    /// # Errors
    /// [`EnvelopeError::NotJson`] or [`EnvelopeError::MissingReqBody`] when the payload is
    /// not `{"reqBody":{...}}`.
    pub fn req_body(&self) -> Result<&Map<String, Value>, EnvelopeError> {
        self.req_body.as_ref().map_err(Clone::clone)
    }
}

/// Signs `header_json` and `payload_json` exactly as given (no re-serialisation), giving
/// `b64url(header).b64url(payload).b64url(mac)` without padding.
#[must_use]
pub fn sign_compact(alg: Alg, key: &[u8], header_json: &[u8], payload_json: &[u8]) -> String {
    let mut out = BASE64URL_NOPAD.encode(header_json);
    out.push('.');
    out.push_str(&BASE64URL_NOPAD.encode(payload_json));
    let mac = alg.mac(key, out.as_bytes());
    out.push('.');
    out.push_str(&BASE64URL_NOPAD.encode(&mac));
    out
}

/// The response header Twofold sends: `alg`, `org_alias` and `orgAlias` (both, since
/// clients read one or the other; spec §1.6), and the caller's `token`.
#[must_use]
pub fn response_header_json(alg: Alg, org_alias: &str, token: &str) -> Vec<u8> {
    /// Serialised directly (every answer has one); members in the order of a sorted map.
    #[derive(serde::Serialize)]
    struct Header<'a> {
        alg: &'a str,
        #[serde(rename = "orgAlias")]
        org_alias_camel: &'a str,
        org_alias: &'a str,
        token: &'a str,
    }
    serde_json::to_vec(&Header {
        alg: alg.name(),
        org_alias_camel: org_alias,
        org_alias,
        token,
    })
    .expect("strings always serialise")
}

/// The request header a client sends (`alg`, `org_alias`, `token`; spec §1.3).
#[must_use]
pub fn request_header_json(alg: Alg, org_alias: &str, token: &str) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Header<'a> {
        alg: &'a str,
        org_alias: &'a str,
        token: &'a str,
    }
    serde_json::to_vec(&Header {
        alg: alg.name(),
        org_alias,
        token,
    })
    .expect("strings always serialise")
}

/// A verified compact JWS split into its decoded JSON header and payload; used by clients
/// to check response signatures.
///
/// # Errors
/// [`EnvelopeError::NotCompactJws`] for bad framing, [`EnvelopeError::UnsupportedAlg`] when
/// the MAC does not verify.
pub fn verify_compact(text: &str, key: &[u8]) -> Result<(Value, Value), EnvelopeError> {
    let (header, payload) = verify_compact_bytes(text, key)?;
    let header: Value = serde_json::from_slice(&header).map_err(|_| EnvelopeError::NotJson("header"))?;
    let payload: Value = serde_json::from_slice(&payload).map_err(|_| EnvelopeError::NotJson("payload"))?;
    Ok((header, payload))
}

/// [`verify_compact`] without building `Value` trees: the verified header and payload as
/// their decoded JSON bytes, for a client that reads them into its own types (the load
/// generator, whose every CPU cycle is taken from the server it measures).
///
/// # Errors
/// As [`verify_compact`]; a header that is not JSON with a known `alg` is
/// [`EnvelopeError::NotJson`] or [`EnvelopeError::UnsupportedAlg`].
pub fn verify_compact_bytes(text: &str, key: &[u8]) -> Result<(Vec<u8>, Vec<u8>), EnvelopeError> {
    /// Only the algorithm is needed to check the MAC; other members are skipped.
    #[derive(serde::Deserialize)]
    struct AlgOnly<'a> {
        #[serde(borrow)]
        alg: Option<std::borrow::Cow<'a, str>>,
    }
    let text = strip_wrapping(text);
    let mut parts = text.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(EnvelopeError::NotCompactJws);
    };
    let header = decode_segment(h).ok_or(EnvelopeError::NotJson("header"))?;
    // A derived struct would also accept a JSON array; a header is an object.
    if !header.trim_ascii_start().starts_with(b"{") {
        return Err(EnvelopeError::NotJson("header"));
    }
    let alg = serde_json::from_slice::<AlgOnly<'_>>(&header)
        .map_err(|_| EnvelopeError::NotJson("header"))?
        .alg
        .as_deref()
        .and_then(Alg::from_name)
        .ok_or(EnvelopeError::UnsupportedAlg)?;
    let sig = decode_segment(s).ok_or(EnvelopeError::NotCompactJws)?;
    // The signing input is the text as sent: `h.p`, a prefix of the trimmed text.
    let signing_input = &text[..h.len() + 1 + p.len()];
    if !alg.verify(key, signing_input.as_bytes(), &sig) {
        return Err(EnvelopeError::UnsupportedAlg);
    }
    let payload = decode_segment(p).ok_or(EnvelopeError::NotJson("payload"))?;
    Ok((header, payload))
}

/// The base64 alphabet of `use_base64_key` (standard, padded; spec §1.5).
pub const KEY_ENCODING: &Encoding = &data_encoding::BASE64;

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn key() -> Vec<u8> {
        KEY_ENCODING.decode(KEY_B64.as_bytes()).unwrap()
    }

    #[test]
    fn wrapped_and_padded_bodies_parse() {
        let jws = sign_compact(
            Alg::HS256,
            &key(),
            br#"{"alg":"HS256","orgAlias":"o","token":"t","typ":"JWT"}"#,
            br#"{"reqBody":{}}"#,
        );
        for body in [format!("\"{jws}\""), format!("  {jws}\r\n"), format!("{jws}=")] {
            let req = UnverifiedRequest::parse(body.as_bytes()).unwrap();
            assert!(req.verify(&key()), "{body}");
            assert_eq!(req.org_aliases(), vec!["o".to_string()]);
            assert_eq!(req.token().as_deref(), Some("t"));
        }
    }

    #[test]
    fn rejects_alg_none_and_bad_framing() {
        let jws = sign_compact(Alg::HS256, &key(), br#"{"alg":"none"}"#, br#"{"reqBody":{}}"#);
        assert_eq!(
            UnverifiedRequest::parse(jws.as_bytes()).unwrap_err(),
            EnvelopeError::UnsupportedAlg
        );
        assert_eq!(
            UnverifiedRequest::parse(b"a.b").unwrap_err(),
            EnvelopeError::NotCompactJws
        );
        assert_eq!(UnverifiedRequest::parse(b"").unwrap_err(), EnvelopeError::NotCompactJws);
        let no_body = sign_compact(Alg::HS256, &key(), br#"{"alg":"HS256"}"#, br#"{"reqHeader":{}}"#);
        let req = UnverifiedRequest::parse(no_body.as_bytes()).unwrap();
        assert_eq!(req.req_body().unwrap_err(), EnvelopeError::MissingReqBody);
        let not_json = sign_compact(Alg::HS256, &key(), br#"{"alg":"HS256"}"#, b"[1,");
        let req = UnverifiedRequest::parse(not_json.as_bytes()).unwrap();
        assert_eq!(req.req_body().unwrap_err(), EnvelopeError::NotJson("payload"));
    }

    #[test]
    fn token_and_org_fall_back_to_req_header() {
        let jws = sign_compact(
            Alg::HS512,
            &key(),
            br#"{"alg":"HS512"}"#,
            br#"{"reqHeader":{"orgAlias":"org","secretKey":"tok"},"reqBody":{"x":1}}"#,
        );
        let req = UnverifiedRequest::parse(jws.as_bytes()).unwrap();
        assert_eq!(req.alg(), Alg::HS512);
        assert_eq!(req.token().as_deref(), Some("tok"));
        assert_eq!(req.org_alias().as_deref(), Some("org"));
        assert!(req.verify(&key()));
        assert!(!req.verify(b"another key"));
    }
}
