//! Building the HTTP answer: a signed JWS whenever a key is known, plain JSON otherwise
//! (spec §1.7), with the catalog's HTTP status for the errorId.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use twofold_core::Random;
use twofold_proto::ErrorId;
use twofold_proto::envelope::{Alg, response_header_json, sign_compact};
use twofold_proto::response::{payload_json, unique_msg_id};

use super::ops::Fields;

/// How to sign the answer to a verified (or at least key-identified) request.
pub struct Signer {
    /// The request's algorithm.
    pub alg: Alg,
    /// The token's key.
    pub key: Vec<u8>,
    /// The organization alias for the response header.
    pub org_alias: String,
    /// The caller's token for the response header.
    pub token: String,
}

/// A finished answer.
pub struct Reply {
    /// The errorId sent (for metrics and logs).
    pub error_id: ErrorId,
    /// The `uniqueMsgId` sent.
    pub unique_msg_id: String,
    body: String,
    /// getorgreport's raw file, sent instead of a JWS.
    file: Option<axum::body::Body>,
    /// A 429 answer (the catalog's row has no errorId).
    rate_limited: bool,
}

/// A fresh `uniqueMsgId`.
pub fn new_unique_msg_id(random: &dyn Random) -> String {
    let mut bytes = [0u8; 32];
    random.fill(&mut bytes);
    unique_msg_id(&bytes)
}

impl Reply {
    /// An unsigned `{"responseBody":{...}}`, for callers whose key is unknown.
    pub fn plain(error: ErrorId, unique: String) -> Self {
        let payload = payload_json("", error.code(), error.message(), &unique, &Value::Null);
        Self {
            error_id: error,
            unique_msg_id: unique,
            body: String::from_utf8(payload).expect("serde_json writes UTF-8"),
            file: None,
            rate_limited: false,
        }
    }

    /// A signed answer carrying `fields` (the operation's, or [`Fields::none`] for the
    /// common fields only); `message` overrides the catalog text (20579 names the token
    /// serial).
    pub fn signed(
        signer: &Signer,
        fields: &Fields,
        error: ErrorId,
        message: Option<String>,
        unique: String,
        client_data: Value,
    ) -> Self {
        let message = message.as_deref().unwrap_or_else(|| error.message());
        let payload = payload_json(fields.as_str(), error.code(), message, &unique, &client_data);
        let header = response_header_json(signer.alg, &signer.org_alias, &signer.token);
        let body = sign_compact(signer.alg, &signer.key, &header, &payload);
        Self {
            error_id: error,
            unique_msg_id: unique,
            body,
            file: None,
            rate_limited: false,
        }
    }
}

impl Reply {
    /// A raw file (getorgreport): `Content-Type: application/octet-stream`, exactly, since
    /// Ping's Python sample compares the header with `==`.
    pub fn file(body: axum::body::Body, unique: String) -> Self {
        Self {
            error_id: ErrorId::Ok,
            unique_msg_id: unique,
            body: String::new(),
            file: Some(body),
            rate_limited: false,
        }
    }

    /// The code for metrics and logs: the errorId, or 429 for a rate-limited answer.
    pub fn metric_code(&self) -> u32 {
        if self.rate_limited { 429 } else { self.error_id.code() }
    }

    /// HTTP 429 with `Retry-After: 1`; the body carries the catalog's message and no
    /// errorId, as the catalog's 429 row has none.
    pub fn rate_limited(unique: String) -> Self {
        let body = serde_json::json!({"responseBody": {
            "errorMsg": twofold_proto::error_catalog::RATE_LIMITED_MESSAGE,
            "uniqueMsgId": unique,
            "clientData": null,
        }})
        .to_string();
        Self {
            error_id: ErrorId::Ok,
            unique_msg_id: unique,
            body,
            file: None,
            rate_limited: true,
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        if self.rate_limited {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::CONTENT_TYPE, "application/json"), (header::RETRY_AFTER, "1")],
                self.body,
            )
                .into_response();
        }
        if let Some(file) = self.file {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/octet-stream")],
                file,
            )
                .into_response();
        }
        let status = StatusCode::from_u16(self.error_id.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, [(header::CONTENT_TYPE, "application/json")], self.body).into_response()
    }
}
