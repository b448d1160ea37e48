//! The device API (`/device/v1/...`, docs/device-api.md) and the QR redirection page.
//! Plain JSON, not the PingID envelope: the companion app is Twofold's own client. Calls
//! after pairing carry an Ed25519 signature that core verifies before anything runs.

// Helpers return the refusal `Response` itself as the error: handlers answer it as is.
#![allow(clippy::result_large_err)]

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use serde::de::DeserializeOwned;
use twofold_core::DomainError;
use twofold_core::push::{AppFacts, PushState};
use twofold_core::services::{DeviceCall, PairedApp};
use twofold_proto::device_api::{
    self as api, AnswerRequest, AnswerResponse, ClaimRequest, ClaimResponse, DeviceError, DeviceFacts, DeviceStatus,
    PushList, PushNotice, RegisterRequest, RegisterResponse, TotpSeed,
};

use super::AppState;

/// Largest device-API body.
const MAX_DEVICE_BODY: usize = 16 * 1024;
/// A JSON answer (axum's own `Json` needs a feature the workspace leaves off).
struct Json<T>(T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

fn refuse(status: StatusCode, error: &str, message: &str) -> Response {
    (
        status,
        Json(DeviceError {
            error: error.into(),
            message: message.into(),
        }),
    )
        .into_response()
}

/// A domain refusal as the device API spells it.
fn failure(e: &DomainError) -> Response {
    match e {
        DomainError::InvalidInput(m) => refuse(StatusCode::BAD_REQUEST, "bad_request", m),
        DomainError::InvalidValue(m) => refuse(StatusCode::BAD_REQUEST, "bad_request", m),
        DomainError::Unauthorized => refuse(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "the signature does not verify",
        ),
        DomainError::SessionUsed => refuse(StatusCode::UNAUTHORIZED, "replayed", "this nonce was used before"),
        DomainError::InvalidSession => refuse(StatusCode::NOT_FOUND, "unknown_code", "unknown, expired or used"),
        DomainError::NotSupported(m) => refuse(StatusCode::BAD_REQUEST, "wrong_device_kind", m),
        DomainError::DeviceLimit => refuse(
            StatusCode::CONFLICT,
            "device_limit",
            "the user has all the devices allowed",
        ),
        DomainError::DeviceChangeNotAllowed => {
            refuse(StatusCode::CONFLICT, "user_not_pairable", "the user is suspended")
        }
        DomainError::MultipleUsersPerDevice => refuse(
            StatusCode::CONFLICT,
            "multiple_users_per_device",
            e.error_id().message(),
        ),
        other => {
            tracing::error!(error = %other, "device API failure");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
        }
    }
}

/// A pairing refusal; a wrong code counts towards the node's guessing limit.
fn pairing_failure(state: &AppState, e: &DomainError) -> Response {
    if matches!(e, DomainError::InvalidSession) {
        state.limits.pairing.failed();
    }
    failure(e)
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| refuse(StatusCode::BAD_REQUEST, "bad_request", &e.to_string()))
}

async fn read_body(body: Body) -> Result<Bytes, Response> {
    match tokio::time::timeout(super::BODY_TIMEOUT, axum::body::to_bytes(body, MAX_DEVICE_BODY)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        _ => Err(refuse(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "body too large or too slow",
        )),
    }
}

fn facts(f: DeviceFacts) -> AppFacts {
    AppFacts {
        model: f.model,
        os_version: f.os_version,
        app_version: f.app_version,
        push_enabled: f.push_enabled,
    }
}

fn status_of(app: &PairedApp, f: &AppFacts) -> DeviceStatus {
    DeviceStatus {
        device_id: app.device.id.0,
        platform: app.device.kind.wire_name().into(),
        user_name: app.user.username.clone(),
        nickname: app.device.nickname.clone(),
        facts: DeviceFacts {
            model: f.model.clone(),
            os_version: f.os_version.clone(),
            app_version: f.app_version.clone(),
            push_enabled: f.push_enabled,
        },
    }
}

/// Verifies a signed call; the refusal response otherwise.
async fn verified(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<PairedApp, Response> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    let path_and_query = uri.path_and_query().map_or_else(|| uri.path(), |p| p.as_str());
    let call = DeviceCall {
        method: method.as_str(),
        path_and_query,
        device_id: header(api::HEADER_DEVICE),
        timestamp: header(api::HEADER_TIMESTAMP),
        nonce: header(api::HEADER_NONCE),
        signature: header(api::HEADER_SIGNATURE),
        body,
    };
    state.core.verify_device_call(&call).await.map_err(|e| failure(&e))
}

/// `POST /device/v1/pair/claim`.
pub async fn claim(State(state): State<AppState>, body: Body) -> Response {
    if !state.limits.pairing.open() {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many wrong codes; retry",
        );
    }
    let run = async {
        let req: ClaimRequest = parse(&read_body(body).await?)?;
        let (org, user, kind) = state
            .core
            .claim_pairing(&req.activation_code)
            .await
            .map_err(|e| pairing_failure(&state, &e))?;
        Ok::<_, Response>(Json(ClaimResponse {
            org_name: org.name,
            user_name: user.username,
            device_kind: kind.map(|k| k.as_str().to_string()),
        }))
    };
    run.await.map_or_else(|r| r, IntoResponse::into_response)
}

/// `POST /device/v1/pair/register`.
pub async fn register(State(state): State<AppState>, body: Body) -> Response {
    if !state.limits.pairing.open() {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many wrong codes; retry",
        );
    }
    let run = async {
        let req: RegisterRequest = parse(&read_body(body).await?)?;
        let key = data_encoding::BASE64
            .decode(req.public_key.as_bytes())
            .map_err(|_| refuse(StatusCode::BAD_REQUEST, "bad_request", "publicKey is not base64"))?;
        let (device, org, user, secret) = state
            .core
            .register_app(&req.activation_code, &key, &req.platform, facts(req.facts))
            .await
            .map_err(|e| pairing_failure(&state, &e))?;
        Ok::<_, Response>(Json(RegisterResponse {
            device_id: device.id.0,
            device_uuid: device.uuid.clone(),
            user_name: user.username,
            org_name: org.name,
            totp: TotpSeed {
                secret: data_encoding::BASE32_NOPAD.encode(&secret),
                algorithm: "SHA1".into(),
                digits: 6,
                period: 30,
            },
        }))
    };
    run.await.map_or_else(|r| r, IntoResponse::into_response)
}

/// `POST /device/v1/pair/finish`, signed.
pub async fn finish(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let bytes = read_body(body).await?;
        let app = verified(&state, &method, &uri, &headers, &bytes).await?;
        state
            .core
            .finish_companion_pairing(&app)
            .await
            .map_err(|e| failure(&e))?;
        Ok::<_, Response>(Json(status_of(&app, &app.app.facts)))
    };
    run.await.map_or_else(|r| r, IntoResponse::into_response)
}

/// `GET /device/v1/status`, signed.
pub async fn status(State(state): State<AppState>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    match verified(&state, &method, &uri, &headers, b"").await {
        Ok(app) => Json(status_of(&app, &app.app.facts)).into_response(),
        Err(r) => r,
    }
}

/// `POST /device/v1/facts`, signed.
pub async fn report_facts(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let bytes = read_body(body).await?;
        let app = verified(&state, &method, &uri, &headers, &bytes).await?;
        let req: DeviceFacts = parse(&bytes)?;
        let stored = state
            .core
            .set_app_facts(&app, facts(req))
            .await
            .map_err(|e| failure(&e))?;
        Ok::<_, Response>(Json(status_of(&app, &stored)))
    };
    run.await.map_or_else(|r| r, IntoResponse::into_response)
}

/// Reads `wait` (seconds, at most [`api::MAX_POLL_WAIT_SECS`]) and `since` (epoch ms).
fn poll_query(query: Option<&str>) -> (Duration, Option<i64>) {
    let mut wait = 0;
    let mut since = None;
    for pair in query.unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("wait", v)) => wait = v.parse::<u64>().unwrap_or(0).min(api::MAX_POLL_WAIT_SECS),
            Some(("since", v)) => since = v.parse::<i64>().ok(),
            _ => {}
        }
    }
    (Duration::from_secs(wait), since)
}

/// `GET /device/v1/pushes?wait=25&since=…`, signed: the long-poll.
pub async fn pushes(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let app = match verified(&state, &method, &uri, &headers, b"").await {
        Ok(app) => app,
        Err(r) => return r,
    };
    let (wait, since) = poll_query(query.as_deref());
    match state.core.poll_pushes(&app, wait, since).await {
        Ok(outcome) => Json(PushList {
            pushes: outcome
                .pushes
                .into_iter()
                .map(|(p, user_name)| PushNotice {
                    push_id: p.id,
                    user_name,
                    sp_name: p.sp_name,
                    sp_logo: p.sp_logo,
                    number_choices: (!p.choices.is_empty()).then_some(p.choices),
                    created_ms: p.created_ms,
                    expires_ms: p.expires_ms,
                })
                .collect(),
            cancelled: outcome.cancelled,
            server_time_ms: outcome.server_time_ms,
        })
        .into_response(),
        Err(e) => failure(&e),
    }
}

/// `POST /device/v1/pushes/answer`, signed.
pub async fn answer(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let bytes = read_body(body).await?;
        let app = verified(&state, &method, &uri, &headers, &bytes).await?;
        let req: AnswerRequest = parse(&bytes)?;
        let approve = match req.decision.as_str() {
            "approve" => true,
            "deny" => false,
            _ => {
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "decision is approve or deny",
                ));
            }
        };
        let outcome = state
            .core
            .answer_push(&app, &req.push_id, approve, req.number)
            .await
            .map_err(|e| match e {
                DomainError::InvalidSession => {
                    refuse(StatusCode::NOT_FOUND, "not_found", "no such push for this device")
                }
                other => failure(&other),
            })?;
        Ok(Json(AnswerResponse {
            outcome: outcome_name(outcome).into(),
        }))
    };
    run.await.map_or_else(|r| r, IntoResponse::into_response)
}

fn outcome_name(state: PushState) -> &'static str {
    match state {
        PushState::Pending | PushState::Delivered => "pending",
        PushState::Approved => "approved",
        PushState::Denied => "denied",
        PushState::WrongNumber => "wrong_number",
        PushState::Expired | PushState::Unacknowledged => "expired",
        PushState::Unreachable => "unreachable",
        PushState::Cancelled => "cancelled",
    }
}

/// The activation code of a `QRRedirection?<base64 of "act_code=…">` query.
fn qr_code(query: &str) -> Option<String> {
    let cleaned: String = query
        .trim()
        .trim_end_matches('=')
        .replace(['-', '+'], "+")
        .replace('_', "/");
    let decoded = data_encoding::BASE64_NOPAD
        .decode(cleaned.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())?;
    let code = decoded.strip_prefix("act_code=")?;
    (code.len() == 12 && code.bytes().all(|b| b.is_ascii_digit())).then(|| code.to_string())
}

/// `GET /pingid/QRRedirection?<base64 act_code=…>` (spec §2.7): resolves the code for the
/// companion app (JSON with `Accept: application/json`) or a person (a page).
pub async fn qr_redirection(headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let Some(code) = query.as_deref().and_then(qr_code) else {
        return (StatusCode::NOT_FOUND, "no activation code in this link\n").into_response();
    };
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return Json(serde_json::json!({
            "activationCode": code,
            "claim": api::paths::PAIR_CLAIM,
            "register": api::paths::PAIR_REGISTER,
        }))
        .into_response();
    }
    Html(format!(
        "<!doctype html><title>Pair Twofold Authenticator</title>\
         <p>Activation code: <strong>{code}</strong></p>\
         <p>Pair with <code>twofold-authenticator pair --server &lt;this server&gt; --code {code}</code>.</p>"
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_links_resolve_the_spec_example() {
        assert_eq!(qr_code("YWN0X2NvZGU9MjkyMDcwNTIyNzAx").as_deref(), Some("292070522701"));
        assert_eq!(qr_code("bm90IGEgY29kZQ"), None);
        assert_eq!(qr_code("%%%"), None);
    }

    #[test]
    fn poll_waits_are_bounded() {
        assert_eq!(poll_query(Some("wait=999&since=5")), (Duration::from_secs(25), Some(5)));
        assert_eq!(poll_query(None), (Duration::ZERO, None));
    }
}
