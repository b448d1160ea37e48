//! The HTTP layer: routes, shared state, and the middleware that bounds every request.

mod auth;
mod device;
mod devices;
mod health;
pub mod limits;
pub mod ops;
mod pingid;
mod reply;
mod tokens;
mod users;

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tower_http::timeout::TimeoutLayer;
use twofold_core::Core;

/// Largest request body accepted (PingID requests are a few kilobytes; WebAuthn
/// assertions are the largest).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest a client may take to send a request body (then 400).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a request may take before the server answers 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a held `authonline` may take: the largest push timeout setting (600 s) plus
/// margin. The push's own timeout ends it first.
pub const HELD_REQUEST_TIMEOUT: Duration = Duration::from_secs(660);

/// What every handler sees.
#[derive(Clone)]
pub struct AppState {
    /// The application core.
    pub core: Core,
    /// Renders `/metrics`.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Where finished reports are kept (`<data-dir>/reports`).
    pub reports_dir: std::path::PathBuf,
    /// Per-organization request rates.
    pub limits: std::sync::Arc<limits::OrgLimits>,
}

/// The whole HTTP surface. Tests serve it on a loopback listener.
pub fn router(state: AppState) -> Router {
    use twofold_proto::device_api::paths;
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/pingid/QRRedirection", get(device::qr_redirection))
        .route("/QRRedirection", get(device::qr_redirection))
        .route(paths::PAIR_CLAIM, post(device::claim))
        .route(paths::PAIR_REGISTER, post(device::register))
        .route(paths::PAIR_FINISH, post(device::finish))
        .route(paths::PUSHES, get(device::pushes))
        .route(paths::ANSWER, post(device::answer))
        .route(paths::FACTS, post(device::report_facts))
        .route(paths::STATUS, get(device::status))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        // PingID operations bound their own time (a held authonline outlives
        // REQUEST_TIMEOUT; see pingid::operation). The documented path, plus the two
        // bases some clients build from admin_url or after stripping /pingid (spec §1.1).
        .route("/pingid/rest/4/{op}/do", post(pingid::operation))
        .route("/rest/4/{op}/do", post(pingid::operation))
        .route("/ConsoleAdmin/rest/4/{op}/do", post(pingid::operation))
        .with_state(state)
}
