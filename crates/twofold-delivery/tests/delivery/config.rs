//! The configuration's shape: defaults, refusals, and the README's example.

use twofold_delivery::{Delivery, DeliveryConfig, GatewayConfig, SmtpTls};

use crate::config;

/// The `[delivery…]` example of the README, as the server would hand it over.
fn readme_example() -> DeliveryConfig {
    let readme = include_str!("../../README.md");
    let start = readme.find("```toml\n").expect("README has a TOML example") + "```toml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let file: toml::Table = toml::from_str(&readme[start..end]).unwrap();
    file["delivery"].clone().try_into().unwrap()
}

#[test]
fn the_readme_example_is_valid() {
    let cfg = readme_example();
    let email = cfg.default.email.as_ref().unwrap();
    assert_eq!(
        (email.port, email.tls, email.timeout_secs),
        (Some(587), SmtpTls::Starttls, 10)
    );
    assert!(matches!(cfg.default.sms, Some(GatewayConfig::Twilio(_))));
    assert!(matches!(cfg.default.voice, Some(GatewayConfig::Webhook(_))));
    assert_eq!(cfg.orgs["acme"].email.as_ref().unwrap().tls, SmtpTls::Tls);
    let delivery = Delivery::new(&cfg, "outbox.jsonl").unwrap();
    assert!(!delivery.uses_file_outbox());
}

#[test]
fn defaults_apply() {
    let cfg = config(
        "[default.email]\nhost = \"h\"\nfrom = \"a@b.example\"\n\
         [default.sms]\nkind = \"twilio\"\naccount_sid = \"AC1\"\nauth_token = \"t\"\nfrom = \"+1\"\n",
    );
    let email = cfg.default.email.unwrap();
    assert_eq!(
        (email.port, email.tls, email.timeout_secs),
        (None, SmtpTls::Starttls, 10)
    );
    let Some(GatewayConfig::Twilio(twilio)) = cfg.default.sms else {
        panic!()
    };
    assert_eq!(twilio.base_url, "https://api.twilio.com");
    assert_eq!(twilio.timeout_secs, 10);
    assert!(config("").orgs.is_empty());
}

#[test]
fn unknown_keys_and_kinds_are_refused() {
    for text in [
        "[default.email]\nhots = \"h\"\nfrom = \"a@b.example\"\n",
        "[default.sms]\nkind = \"webhook\"\nurl = \"http://x\"\nsecret = \"s\"\nsecrte = \"s\"\n",
        "[default.sms]\nkind = \"carrier-pigeon\"\n",
        "[default.email]\nhost = \"h\"\nfrom = \"a@b.example\"\ntls = \"ssl\"\n",
        "[default.fax]\n",
        "[default.templates.authentication]\nsms = \"{code}\"\n",
    ] {
        assert!(toml::from_str::<DeliveryConfig>(text).is_err(), "accepted: {text}");
    }
}

#[test]
fn unusable_settings_name_their_place() {
    for (text, scope) in [
        (
            "[orgs.acme.sms]\nkind = \"webhook\"\nurl = \"ftp://x\"\nsecret = \"s\"\n",
            "orgs.acme.sms",
        ),
        (
            "[default.voice]\nkind = \"webhook\"\nurl = \"http://x\"\nsecret = \"\"\n",
            "default.voice",
        ),
        (
            "[default.sms]\nkind = \"webhook\"\nurl = \"http://u:p@x\"\nsecret = \"s\"\n",
            "default.sms",
        ),
        (
            "[default.sms]\nkind = \"webhook\"\nurl = \"http://x\"\nsecret = \"s\"\ntimeout_secs = 0\n",
            "default.sms",
        ),
        (
            "[default.email]\nhost = \"h\"\nfrom = \"not an address\"\n",
            "default.email",
        ),
        (
            "[default.email]\nhost = \"h\"\nfrom = \"a@b.example\"\nusername = \"u\"\n",
            "default.email",
        ),
        (
            "[default.sms]\nkind = \"twilio\"\naccount_sid = \"AC/1\"\nauth_token = \"t\"\nfrom = \"+1\"\n",
            "default.sms",
        ),
    ] {
        let err = Delivery::new(&config(text), "outbox.jsonl").unwrap_err();
        assert_eq!(err.scope, scope, "{text}");
    }
}
