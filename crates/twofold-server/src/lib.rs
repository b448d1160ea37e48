//! The Twofold server: the PingID HTTP endpoints, health and metrics, configuration and
//! start-up. `main.rs` only parses the command line; everything here is usable from
//! tests (`router`, `bootstrap`).

pub mod bootstrap;
pub mod config;
pub mod http;
pub mod metrics;
pub mod report;
pub mod seed;
pub mod serve;
pub mod shared_signals;
pub mod signals;
pub mod sweep;
mod views;

pub use bootstrap::{Bootstrapped, open};
pub use config::Settings;
pub use http::{AppState, router};
