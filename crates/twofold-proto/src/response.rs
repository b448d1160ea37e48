//! The response payload: `{"responseBody":{<op fields>, errorId, errorMsg, uniqueMsgId,
//! clientData}}` (spec §1.6). Every known client requires the `responseBody` wrapper, and
//! every body carries the four common fields, `clientData` as `null` when the request had
//! none.

use data_encoding::BASE64URL_NOPAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::envelope::{Alg, response_header_json, sign_compact};

/// The outer object of every response payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseEnvelope<T> {
    /// The body; every client reads it from this key.
    #[serde(rename = "responseBody")]
    pub response_body: ResponseBody<T>,
}

/// An operation's fields followed by the four common fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseBody<T> {
    /// The operation-specific fields (an empty struct for common-only responses).
    #[serde(flatten)]
    pub fields: T,
    /// 200, a 300xx flow status, or an error code; always a JSON integer.
    #[serde(rename = "errorId")]
    pub error_id: u32,
    /// The catalog message for `error_id`.
    #[serde(rename = "errorMsg")]
    pub error_msg: Option<String>,
    /// `webs_` + 43 base64url characters; also the key of the server's log lines.
    #[serde(rename = "uniqueMsgId")]
    pub unique_msg_id: String,
    /// The request's `clientData`, unchanged, or null.
    #[serde(rename = "clientData")]
    pub client_data: Value,
}

/// A response with only the common fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// Builds a `uniqueMsgId` from 32 random bytes: `webs_` + 43 base64url characters, the
/// shape of real PingID ids (spec §4.7).
#[must_use]
pub fn unique_msg_id(random: &[u8; 32]) -> String {
    format!("webs_{}", BASE64URL_NOPAD.encode(random))
}

/// Serialises `envelope` and signs it with the caller's key, giving the response body.
///
/// # Panics
/// Never in practice: the payload types serialise infallibly.
#[must_use]
pub fn sign_response<T: Serialize>(
    alg: Alg,
    key: &[u8],
    org_alias: &str,
    token: &str,
    envelope: &ResponseEnvelope<T>,
) -> String {
    let payload = serde_json::to_vec(envelope).expect("response types serialise");
    sign_compact(alg, key, &response_header_json(alg, org_alias, token), &payload)
}

/// The four common fields, serialised after an operation's own (see [`payload_json`]).
#[derive(Serialize)]
struct Common<'a> {
    #[serde(rename = "errorId")]
    error_id: u32,
    #[serde(rename = "errorMsg")]
    error_msg: &'a str,
    #[serde(rename = "uniqueMsgId")]
    unique_msg_id: &'a str,
    #[serde(rename = "clientData")]
    client_data: &'a Value,
}

/// The response payload from an operation's fields already serialised as one JSON object
/// (`fields_object`, e.g. `{"sessionId":"…"}`; `{}` or empty for none) and the common
/// fields: the same JSON as serialising a [`ResponseEnvelope`], without first building the
/// fields as a `serde_json::Value` tree and then walking it again (on the server's hottest
/// path that tree was a fifth of a getuserdetails request's instructions).
///
/// `fields_object` must be a serialised JSON object (what `serde_json` gives for a struct
/// or map); its members are copied as they are, in their order.
#[must_use]
pub fn payload_json(
    fields_object: &str,
    error_id: u32,
    error_msg: &str,
    unique_msg_id: &str,
    client_data: &Value,
) -> Vec<u8> {
    let members = fields_object
        .trim()
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or_default()
        .trim();
    let common = serde_json::to_vec(&Common {
        error_id,
        error_msg,
        unique_msg_id,
        client_data,
    })
    .expect("the common fields serialise");
    let mut out = Vec::with_capacity(20 + members.len() + common.len());
    out.extend_from_slice(b"{\"responseBody\":{");
    if !members.is_empty() {
        out.extend_from_slice(members.as_bytes());
        out.push(b',');
    }
    // `common` is `{...}`: its members and closing brace follow the operation's.
    out.extend_from_slice(&common[1..]);
    out.push(b'}');
    out
}

/// Builds a `ResponseEnvelope` from its parts.
pub fn envelope<T>(
    fields: T,
    error_id: u32,
    error_msg: Option<String>,
    unique_msg_id: String,
    client_data: Value,
) -> ResponseEnvelope<T> {
    ResponseEnvelope {
        response_body: ResponseBody {
            fields,
            error_id,
            error_msg,
            unique_msg_id,
            client_data,
        },
    }
}
