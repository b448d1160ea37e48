//! Sends one real email through the configured SMTP server, to check a configuration
//! by hand:
//!
//! ```sh
//! cargo run -p twofold-delivery --example send_test_email -- twofold.toml you@example.com [--org ALIAS]
//! ```
//!
//! The file's `[delivery]` table is used (or the whole file when it has none). Without an
//! `email` section the message goes to `./outbox.jsonl`, which the output says.

use twofold_core::delivery::{Channel, MessageSender, OutboundMessage, Purpose};
use twofold_delivery::{BackendKind, Delivery, DeliveryConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: send_test_email CONFIG.toml you@example.com [--org ALIAS]";
    let (Some(path), Some(to)) = (args.first(), args.get(1)) else {
        return Err(usage.into());
    };
    let org = match &args[2..] {
        [] => "default".to_owned(),
        [flag, alias] if flag == "--org" => alias.clone(),
        _ => return Err(usage.into()),
    };
    let delivery = Delivery::new(&load(path)?, "outbox.jsonl")?;
    let backend = delivery.backend_for(&org, &org, Channel::Email);
    let message = OutboundMessage {
        id: format!("send-test-{}", std::process::id()),
        org_alias: org.clone(),
        org_name: org,
        channel: Channel::Email,
        to: to.clone(),
        purpose: Purpose::Authentication,
        otp: "123456".to_owned(),
        created_ms: 0,
    };
    delivery.send(&message).await?;
    match backend {
        BackendKind::File => println!("no email server configured: written to outbox.jsonl"),
        other => println!("sent by {other:?} to {to}"),
    }
    Ok(())
}

/// The `[delivery]` table of a `twofold.toml`, or the whole file.
fn load(path: &str) -> Result<DeliveryConfig, Box<dyn std::error::Error>> {
    let mut file: toml::Table = toml::from_str(&std::fs::read_to_string(path)?)?;
    let table = file.remove("delivery").unwrap_or(toml::Value::Table(file));
    Ok(table.try_into()?)
}
