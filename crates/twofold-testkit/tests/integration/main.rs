//! End-to-end tests: a real server on loopback, driven over TCP by the client SDK.

mod approval_races;
mod auth;
mod devices;
mod envelope;
mod errors;
mod layering;
mod outbox;
mod push;
mod push_scale;
mod regressions;
mod reports;
mod sweep;
mod tokens;
mod users;

use twofold_client::Reply;
use twofold_proto::ErrorId;

/// Asserts what a client sees for an error: HTTP status, errorId and message from the
/// catalog, in a signed response.
#[track_caller]
pub fn assert_error<T>(reply: &Reply<T>, expected: ErrorId) {
    assert_eq!(
        (reply.error_id, reply.http_status),
        (expected.code(), expected.http_status()),
        "body: {:?}",
        reply.body
    );
    assert_eq!(reply.error_msg.as_deref(), Some(expected.message()));
    assert!(reply.signed, "error answers to verified requests are signed");
}

/// Asserts success (errorId 200, HTTP 200, message "ok").
#[track_caller]
pub fn assert_ok<T>(reply: &Reply<T>) {
    assert_error(reply, ErrorId::Ok);
}
