//! Yubico validation protocol 2.0, as pure request builders and response checkers.
//!
//! Twofold can hand YubiKey OTPs to an external validation service (YubiCloud or a self-hosted
//! `ykval`) instead of holding the AES keys itself. The HTTP call belongs to the server; this
//! module builds the signed query for `GET /wsapi/2.0/verify` and judges the response body, so
//! both halves can be tested without a network (and the test kit can play the server).
//!
//! Signature (`h`): HMAC-SHA1 with the base64-decoded API key over the `key=value` pairs other
//! than `h`, sorted by key and joined by `&`, with values *not* percent-encoded; the MAC is sent
//! as standard base64. Responses are `key=value` lines signed the same way.

use std::collections::BTreeMap;
use std::fmt;

use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;

use crate::ct::constant_time_eq;
use crate::percent;

/// Path of the verify endpoint on a validation server.
pub const VERIFY_PATH: &str = "/wsapi/2.0/verify";

/// Parameters of one verify request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyRequest<'a> {
    /// Client id issued by the validation service together with the API key.
    pub client_id: u64,
    /// The OTP the user typed.
    pub otp: &'a str,
    /// 16–40 alphanumeric characters, unique per request; the response must echo it, which
    /// binds the response to this request (see [`generate_nonce`]).
    pub nonce: &'a str,
    /// Ask for the key's internal timestamp and counters in the response (`timestamp=1`).
    pub timestamp: bool,
    /// Percentage (0–100) of sync servers that must answer before the service replies.
    pub sync_level: Option<u8>,
    /// Seconds the service may wait for sync servers.
    pub timeout_secs: Option<u32>,
}

/// Why a request could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// The OTP is not 32–48 modhex characters; no service would accept it.
    BadOtp,
    /// The nonce is not 16–40 ASCII alphanumerics, as the protocol requires.
    BadNonce,
    /// The sync level is above 100.
    BadSyncLevel,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadOtp => "OTP is not 32-48 modhex characters",
            Self::BadNonce => "nonce must be 16-40 ASCII letters and digits",
            Self::BadSyncLevel => "sync level must be 0-100",
        })
    }
}

impl std::error::Error for RequestError {}

/// A fresh 32-character hex nonce (16 random bytes) from the caller's RNG.
#[must_use]
pub fn generate_nonce(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    data_encoding::HEXLOWER.encode(&bytes)
}

/// Base64 HMAC-SHA1 over `pairs` (minus any `h`), sorted by key and joined as `k=v&k=v`.
#[must_use]
pub fn sign(pairs: &BTreeMap<String, String>, api_key: &[u8]) -> String {
    let message = pairs
        .iter()
        .filter(|(k, _)| k.as_str() != "h")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(api_key).expect("HMAC accepts any key length");
    mac.update(message.as_bytes());
    BASE64.encode(&mac.finalize().into_bytes())
}

/// Builds the signed query string (without the leading `?`) for [`VERIFY_PATH`].
pub fn build_verify_query(req: &VerifyRequest<'_>, api_key: &[u8]) -> Result<String, RequestError> {
    crate::yubikey::split_otp(req.otp).map_err(|_| RequestError::BadOtp)?;
    if !(16..=40).contains(&req.nonce.len()) || !req.nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(RequestError::BadNonce);
    }
    if req.sync_level.is_some_and(|sl| sl > 100) {
        return Err(RequestError::BadSyncLevel);
    }
    let mut pairs = BTreeMap::new();
    pairs.insert("id".to_owned(), req.client_id.to_string());
    pairs.insert("otp".to_owned(), req.otp.to_owned());
    pairs.insert("nonce".to_owned(), req.nonce.to_owned());
    if req.timestamp {
        pairs.insert("timestamp".to_owned(), "1".to_owned());
    }
    if let Some(sl) = req.sync_level {
        pairs.insert("sl".to_owned(), sl.to_string());
    }
    if let Some(timeout) = req.timeout_secs {
        pairs.insert("timeout".to_owned(), timeout.to_string());
    }
    let h = sign(&pairs, api_key);
    pairs.insert("h".to_owned(), h);
    Ok(pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", percent::encode(v)))
        .collect::<Vec<_>>()
        .join("&"))
}

/// The `status` values of protocol 2.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// The OTP is valid.
    Ok,
    /// The OTP is invalid.
    BadOtp,
    /// The OTP has already been seen.
    ReplayedOtp,
    /// The service could not verify our signature (wrong API key).
    BadSignature,
    /// The request lacked a parameter.
    MissingParameter,
    /// The client id is unknown.
    NoSuchClient,
    /// The client id may not verify OTPs.
    OperationNotAllowed,
    /// The service failed internally.
    BackendError,
    /// Too few sync servers answered for the requested sync level.
    NotEnoughAnswers,
    /// The OTP and nonce were seen before (a retried request).
    ReplayedRequest,
}

impl Status {
    const ALL: [(Self, &'static str); 10] = [
        (Self::Ok, "OK"),
        (Self::BadOtp, "BAD_OTP"),
        (Self::ReplayedOtp, "REPLAYED_OTP"),
        (Self::BadSignature, "BAD_SIGNATURE"),
        (Self::MissingParameter, "MISSING_PARAMETER"),
        (Self::NoSuchClient, "NO_SUCH_CLIENT"),
        (Self::OperationNotAllowed, "OPERATION_NOT_ALLOWED"),
        (Self::BackendError, "BACKEND_ERROR"),
        (Self::NotEnoughAnswers, "NOT_ENOUGH_ANSWERS"),
        (Self::ReplayedRequest, "REPLAYED_REQUEST"),
    ];

    /// The wire name, e.g. `REPLAYED_OTP`.
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(s, _)| *s == self).map_or("", |(_, name)| name)
    }

    /// Parses a wire name (exact, upper case as the protocol defines it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(s, _)| *s)
    }
}

/// Why a response body cannot be trusted or understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseError {
    /// A non-empty line without `=`.
    Malformed,
    /// A key appears twice; refusing is safer than guessing which one was signed.
    DuplicateKey(String),
    /// No `h` field: the response is unsigned.
    MissingSignature,
    /// `h` does not match: wrong API key or a tampered response.
    BadSignature,
    /// No `status` field.
    MissingStatus,
    /// A `status` this module does not know.
    UnknownStatus(String),
    /// The echoed `otp` differs from the one sent (or is missing on `OK`).
    OtpMismatch,
    /// The echoed `nonce` differs from the one sent (or is missing on `OK`).
    NonceMismatch,
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => f.write_str("response line without '='"),
            Self::DuplicateKey(k) => write!(f, "response repeats key {k:?}"),
            Self::MissingSignature => f.write_str("response is not signed"),
            Self::BadSignature => f.write_str("response signature does not match"),
            Self::MissingStatus => f.write_str("response has no status"),
            Self::UnknownStatus(s) => write!(f, "unknown response status {s:?}"),
            Self::OtpMismatch => f.write_str("response does not echo the OTP sent"),
            Self::NonceMismatch => f.write_str("response does not echo the nonce sent"),
        }
    }
}

impl std::error::Error for ResponseError {}

/// A response whose signature and echoes were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedResponse {
    /// The service's verdict.
    pub status: Status,
    /// Every field of the response (including `t`, `sl`, `timestamp`, `sessioncounter`, …).
    pub fields: BTreeMap<String, String>,
}

/// Splits a body into `key=value` fields: CRLF or LF lines, blank lines ignored, values may
/// contain `=` (base64), keys must be unique.
pub fn parse_response_fields(body: &str) -> Result<BTreeMap<String, String>, ResponseError> {
    let mut fields = BTreeMap::new();
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (key, value) = line.split_once('=').ok_or(ResponseError::Malformed)?;
        if fields.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(ResponseError::DuplicateKey(key.to_owned()));
        }
    }
    Ok(fields)
}

/// Checks a response body: signature first (nothing unsigned is believed), then the status,
/// then the echoes. `OK` must echo both the OTP and the nonce exactly, since that is what ties
/// the verdict to this OTP and this request; other statuses may omit them but must not differ.
pub fn verify_response(
    body: &str,
    api_key: &[u8],
    expected_otp: &str,
    expected_nonce: &str,
) -> Result<VerifiedResponse, ResponseError> {
    let fields = parse_response_fields(body)?;
    let h = fields.get("h").ok_or(ResponseError::MissingSignature)?;
    if !constant_time_eq(sign(&fields, api_key).as_bytes(), h.as_bytes()) {
        return Err(ResponseError::BadSignature);
    }
    let status_name = fields.get("status").ok_or(ResponseError::MissingStatus)?;
    let status = Status::from_name(status_name).ok_or_else(|| ResponseError::UnknownStatus(status_name.clone()))?;
    let echo_ok = |key: &str, expected: &str| match fields.get(key) {
        Some(v) => v == expected,
        None => status != Status::Ok,
    };
    if !echo_ok("otp", expected_otp) {
        return Err(ResponseError::OtpMismatch);
    }
    if !echo_ok("nonce", expected_nonce) {
        return Err(ResponseError::NonceMismatch);
    }
    Ok(VerifiedResponse { status, fields })
}

/// Builds a signed response body (CRLF lines, `h` first) the way a validation server does.
/// Used by tests and by the test kit's fake validation service.
#[must_use]
pub fn build_response(pairs: &[(&str, &str)], api_key: &[u8]) -> String {
    let fields: BTreeMap<String, String> = pairs
        .iter()
        .filter(|(k, _)| *k != "h")
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut body = format!("h={}\r\n", sign(&fields, api_key));
    for (k, v) in pairs.iter().filter(|(k, _)| *k != "h") {
        body.push_str(&format!("{k}={v}\r\n"));
    }
    body
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    const OTP: &str = "dteffujehknhfjbrjnlnldnhcujvddbikngjrtgh";
    const NONCE: &str = "aef3a7835277a28da831005c2ae3b919e2076a62";
    const KEY: &[u8] = b"0123456789abcdef0123";

    #[test]
    fn query_is_sorted_signed_and_encoded() {
        let req = VerifyRequest {
            client_id: 87,
            otp: OTP,
            nonce: NONCE,
            timestamp: true,
            sync_level: Some(50),
            timeout_secs: Some(8),
        };
        let query = build_verify_query(&req, KEY).unwrap();
        let expected_unsigned = format!("id=87&nonce={NONCE}&otp={OTP}&sl=50&timeout=8&timestamp=1");
        let pairs: BTreeMap<String, String> = expected_unsigned
            .split('&')
            .map(|kv| kv.split_once('=').unwrap())
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let h = sign(&pairs, KEY);
        assert_eq!(query, format!("h={}&{expected_unsigned}", percent::encode(&h)));
        assert!(!query.contains('+') && !query.contains('/'));
    }

    #[test]
    fn known_signature() {
        // Expected value from `openssl dgst -sha1 -hmac foo -binary | base64` over
        // "id=1&nonce=fooooooooooooooooooo&otp=<OTP>".
        let mut pairs = BTreeMap::new();
        pairs.insert("otp".to_owned(), OTP.to_owned());
        pairs.insert("id".to_owned(), "1".to_owned());
        pairs.insert("nonce".to_owned(), "fooooooooooooooooooo".to_owned());
        assert_eq!(sign(&pairs, b"foo"), "zq9WeysH4Boj5TUz5HFPMYJ35PI=");
        pairs.insert("h".to_owned(), "ignored".to_owned());
        assert_eq!(sign(&pairs, b"foo"), "zq9WeysH4Boj5TUz5HFPMYJ35PI=");
    }

    #[test]
    fn request_validation() {
        let mut req = VerifyRequest {
            client_id: 1,
            otp: OTP,
            nonce: "short",
            timestamp: false,
            sync_level: None,
            timeout_secs: None,
        };
        assert_eq!(build_verify_query(&req, KEY), Err(RequestError::BadNonce));
        req.nonce = "0123456789abcdef&x=y";
        assert_eq!(build_verify_query(&req, KEY), Err(RequestError::BadNonce));
        req.nonce = NONCE;
        req.sync_level = Some(101);
        assert_eq!(build_verify_query(&req, KEY), Err(RequestError::BadSyncLevel));
        req.sync_level = None;
        req.otp = "not-an-otp";
        assert_eq!(build_verify_query(&req, KEY), Err(RequestError::BadOtp));
    }

    #[test]
    fn response_round_trip_and_tampering() {
        let body = build_response(
            &[
                ("t", "2024-01-01T00:00:00Z0123"),
                ("otp", OTP),
                ("nonce", NONCE),
                ("sl", "25"),
                ("status", "OK"),
            ],
            KEY,
        );
        let ok = verify_response(&body, KEY, OTP, NONCE).unwrap();
        assert_eq!(ok.status, Status::Ok);
        assert_eq!(ok.fields["sl"], "25");

        let lf_only = body.replace("\r\n", "\n");
        assert!(verify_response(&lf_only, KEY, OTP, NONCE).is_ok());
        assert_eq!(
            verify_response(&body, b"other", OTP, NONCE),
            Err(ResponseError::BadSignature)
        );
        let tampered = body.replace("status=OK", "status=BAD_OTP");
        assert_eq!(
            verify_response(&tampered, KEY, OTP, NONCE),
            Err(ResponseError::BadSignature)
        );
        assert_eq!(verify_response(&body, KEY, "x", NONCE), Err(ResponseError::OtpMismatch));
        assert_eq!(verify_response(&body, KEY, OTP, "y"), Err(ResponseError::NonceMismatch));
        let unsigned = body.lines().skip(1).collect::<Vec<_>>().join("\r\n");
        assert_eq!(
            verify_response(&unsigned, KEY, OTP, NONCE),
            Err(ResponseError::MissingSignature)
        );
        assert_eq!(
            verify_response("garbage", KEY, OTP, NONCE),
            Err(ResponseError::Malformed)
        );
        let dup = format!("{body}status=OK\r\n");
        assert_eq!(
            verify_response(&dup, KEY, OTP, NONCE),
            Err(ResponseError::DuplicateKey("status".into()))
        );
    }

    #[test]
    fn every_status_maps() {
        for (status, name) in Status::ALL {
            assert_eq!(Status::from_name(name), Some(status));
            assert_eq!(status.as_str(), name);
            let body = build_response(&[("status", name)], KEY);
            let res = verify_response(&body, KEY, OTP, NONCE);
            if status == Status::Ok {
                assert_eq!(res, Err(ResponseError::OtpMismatch), "OK must echo the OTP");
            } else {
                assert_eq!(res.unwrap().status, status);
            }
        }
        let body = build_response(&[("status", "SOMETHING_NEW")], KEY);
        assert_eq!(
            verify_response(&body, KEY, OTP, NONCE),
            Err(ResponseError::UnknownStatus("SOMETHING_NEW".into()))
        );
    }

    #[test]
    fn nonces_are_valid() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let nonce = generate_nonce(&mut rng);
        assert_eq!(nonce.len(), 32);
        assert!(nonce.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
