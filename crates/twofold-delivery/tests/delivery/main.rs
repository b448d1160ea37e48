//! The delivery adapters against loopback doubles: a scripted HTTP server playing the
//! webhook receiver and Twilio, and a small SMTP server. Every test is bounded by short
//! timeouts and talks only to 127.0.0.1.

mod config;
mod file_outbox;
mod redaction;
mod retry;
mod routing;
mod smtp;
mod support;
mod twilio;
mod webhook;

use twofold_delivery::{Delivery, DeliveryConfig};

/// Parses a `[delivery]` body written as TOML.
pub fn config(toml_text: &str) -> DeliveryConfig {
    toml::from_str(toml_text).expect("test configuration parses")
}

/// A `Delivery` for `toml_text` whose outbox lives in a fresh temporary directory.
pub fn delivery(toml_text: &str) -> (Delivery, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let delivery = Delivery::new(&config(toml_text), dir.path().join("outbox.jsonl")).expect("configuration is valid");
    (delivery, dir)
}
