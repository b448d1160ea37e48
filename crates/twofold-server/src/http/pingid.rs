//! `POST /pingid/rest/4/{op}/do`: the PingID request pipeline.
//!
//! Order matters, and each step's failure has its answer:
//! 1. read the body (bounded) and parse the envelope — 400, or 401 for a bad `alg`,
//!    unsigned because no key is known yet;
//! 2. find the live token and verify the MAC over the raw segments — 401 (signed when
//!    the token exists, plain otherwise); nothing below runs for an unverified request;
//! 3. decode `reqBody` — 400, signed;
//! 4. check the org alias against the token's org — 10569 / 20529;
//! 5. run the operation (scope check → 403, field errors → 400, domain errors).

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use twofold_core::services::Verification;
use twofold_core::{Core, DomainError, OrgCaller};
use twofold_proto::ops::auth::AuthenticateOnline;
use twofold_proto::ops::tokens::GetOrgReport;
use twofold_proto::ops::{AUTH_OPERATIONS, OPERATIONS, Operation as _};
use twofold_proto::{EnvelopeError, ErrorId, ReqBody, UnverifiedRequest};

use super::ops::{Failure, Fields};
use super::reply::{Reply, Signer, new_unique_msg_id};
use super::{AppState, BODY_TIMEOUT, MAX_BODY_BYTES};
use super::{auth, devices, tokens, users};
use crate::metrics;

/// The handler of every PingID operation.
pub async fn operation(State(state): State<AppState>, Path(op): Path<String>, body: Body) -> Response {
    let started = Instant::now();
    let op = op.trim().to_ascii_lowercase();
    let label = OPERATIONS
        .iter()
        .copied()
        .find(|known| *known == op)
        .unwrap_or("unknown");
    // Only authonline holds a request while a push waits for the user.
    let limit = if op == AuthenticateOnline::NAME {
        super::HELD_REQUEST_TIMEOUT
    } else {
        super::REQUEST_TIMEOUT
    };
    let Ok(reply) = tokio::time::timeout(limit, handle(&state, &op, body)).await else {
        return axum::http::StatusCode::REQUEST_TIMEOUT.into_response();
    };
    metrics::record(label, reply.metric_code(), started.elapsed());
    if !reply.error_id.is_success() {
        tracing::info!(op = label, error_id = reply.error_id.code(), unique_msg_id = %reply.unique_msg_id, "request refused");
    }
    reply.into_response()
}

async fn handle(state: &AppState, op: &str, body: Body) -> Reply {
    let core = &state.core;
    let unique = new_unique_msg_id(core.random.as_ref());
    // Reading with a limit covers chunked bodies too.
    // Bounded in size and in time: a client trickling its body is cut off.
    let Ok(Ok(bytes)) = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES)).await else {
        return Reply::plain(ErrorId::InvalidInput, unique);
    };
    let request = match UnverifiedRequest::parse(&bytes) {
        Ok(r) => r,
        Err(EnvelopeError::UnsupportedAlg) => return Reply::plain(ErrorId::Unauthorized, unique),
        Err(_) => return Reply::plain(ErrorId::InvalidInput, unique),
    };
    let Some(token) = request.token() else {
        return Reply::plain(ErrorId::Unauthorized, unique);
    };
    let (caller, key) = match core.authenticate(&token, |key| request.verify(key)).await {
        Ok(Verification::Verified { caller, key }) => (caller, key),
        Ok(Verification::Rejected {
            key: Some(key),
            org_alias,
        }) => {
            // The token exists, so the refusal can be signed, under the token's own
            // organization; clientData of an unverified request is not echoed.
            let signer = Signer {
                alg: request.alg(),
                key,
                org_alias: org_alias.unwrap_or_default(),
                token,
            };
            return Reply::signed(
                &signer,
                &Fields::none(),
                ErrorId::Unauthorized,
                None,
                unique,
                Value::Null,
            );
        }
        Ok(Verification::Rejected { key: None, .. }) => return Reply::plain(ErrorId::Unauthorized, unique),
        Err(e) => {
            tracing::error!(unique_msg_id = %unique, error = %e, "token lookup failed");
            return Reply::plain(ErrorId::DatabaseError, unique);
        }
    };
    let signer = Signer {
        alg: request.alg(),
        key,
        org_alias: caller.org().alias.0.clone(),
        token,
    };
    if !state
        .limits
        .allow(caller.org().id, caller.org().settings.requests_per_second)
    {
        return Reply::rate_limited(unique);
    }
    let body = match request.req_body() {
        Ok(map) => ReqBody::from(map.clone()),
        Err(_) => {
            return Reply::signed(
                &signer,
                &Fields::none(),
                ErrorId::InvalidInput,
                None,
                unique,
                Value::Null,
            );
        }
    };
    let client_data = body.client_data();
    let is_auth_op = AUTH_OPERATIONS.contains(&op);
    if let Err(e) = caller.check_org_aliases(&request.org_aliases(), is_auth_op) {
        return Reply::signed(&signer, &Fields::none(), e.error_id(), None, unique, client_data);
    }
    if op == GetOrgReport::NAME {
        match super::tokens::report_file(core, &caller, &body, &state.reports_dir).await {
            Ok(file) => return Reply::file(file, unique),
            Err(failure) => {
                let message = failure.error.message();
                let error_id = failure.error.error_id();
                return Reply::signed(&signer, &Fields::none(), error_id, Some(message), unique, client_data);
            }
        }
    }
    let outcome = route(core, &caller, op, &body).await;
    match outcome {
        Ok((status, fields)) => Reply::signed(&signer, &fields, status, None, unique, client_data),
        Err(failure) => {
            log_failure(&failure.error, &unique);
            let message = failure.error.message();
            let shape = failure.shape.unwrap_or_else(Fields::none);
            Reply::signed(
                &signer,
                &shape,
                failure.error.error_id(),
                Some(message),
                unique,
                client_data,
            )
        }
    }
}

/// Finds the operation's family and runs it; unknown operations answer 20542.
async fn route(core: &Core, caller: &OrgCaller, op: &str, body: &ReqBody) -> Result<(ErrorId, Fields), Failure> {
    if let Some(outcome) = auth::dispatch(core, caller, op, body).await {
        return outcome;
    }
    if let Some(outcome) = users::dispatch(core, caller, op, body).await {
        return outcome;
    }
    if let Some(outcome) = devices::dispatch(core, caller, op, body).await {
        return outcome;
    }
    if let Some(outcome) = tokens::dispatch(core, caller, op, body).await {
        return outcome;
    }
    Err(Failure::from(DomainError::UnsupportedRequest(format!(
        "operation {op:?}"
    ))))
}

/// Internal causes go to the log under the uniqueMsgId, never to the client.
fn log_failure(error: &DomainError, unique: &str) {
    match error {
        DomainError::Store(_) | DomainError::Conflict(_) | DomainError::Internal(_) => {
            tracing::error!(unique_msg_id = %unique, error = %error, "operation failed");
        }
        _ => tracing::debug!(unique_msg_id = %unique, error = %error, "operation refused"),
    }
}
