//! What the HTTP gateways share: the client they use and how an HTTP outcome becomes a
//! [`DeliveryError`].

use std::time::Duration;

use reqwest::StatusCode;
use twofold_core::delivery::DeliveryError;

/// A client bounded by `timeout` for the whole exchange and by at most 5 s (or
/// `timeout` when shorter) for the connection, so a black-holed gateway is noticed
/// early. Redirects are not followed: a gateway that answers 3xx is misconfigured, and
/// following it would re-send the signed body or the credentials elsewhere.
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("twofold/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.without_url().to_string())
}

/// 2xx: sent. 5xx, 408 and 429: the gateway may accept it later (Transient).
/// Anything else (4xx, 3xx): the request itself is refused (Permanent).
pub(crate) fn check_status(status: StatusCode, gateway: &str) -> Result<(), DeliveryError> {
    if status.is_success() {
        Ok(())
    } else if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        Err(DeliveryError::Transient(format!("{gateway} answered {status}")))
    } else {
        Err(DeliveryError::Permanent(format!("{gateway} answered {status}")))
    }
}

/// A request that got no answer. The URL is dropped from the message because a webhook
/// URL may carry a token in its query string.
pub(crate) fn request_error(err: reqwest::Error, gateway: &str) -> DeliveryError {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let detail = err.without_url();
    if detail.is_builder() {
        DeliveryError::Permanent(format!("{gateway}: invalid request: {detail}"))
    } else {
        DeliveryError::Transient(format!("{gateway}: {what}: {detail}"))
    }
}
