//! How `Delivery` picks a backend per organization and channel.

use twofold_core::delivery::{Channel, MessageSender};
use twofold_delivery::BackendKind;

use crate::delivery;
use crate::support::{HttpServer, Reply, message};

fn webhook(server: &HttpServer) -> String {
    format!(
        "kind = \"webhook\"\nurl = \"{}\"\nsecret = \"s\"\ntimeout_secs = 2\n",
        server.url("/")
    )
}

#[tokio::test]
async fn organization_by_alias_then_name_then_default() {
    let default_gw = HttpServer::answering(Reply::Status(200, "")).await;
    let beta_gw = HttpServer::answering(Reply::Status(200, "")).await;
    let toml_text = format!(
        "[default.sms]\n{}\n[orgs.beta.sms]\n{}\n[orgs.acme.email]\nhost = \"127.0.0.1\"\nport = 1\ntls = \"none\"\nfrom = \"a@acme.example\"\n\
         [orgs.beta.templates.authentication]\nsms_body = \"beta {{code}}\"\n",
        webhook(&default_gw),
        webhook(&beta_gw)
    );
    let (delivery, dir) = delivery(&toml_text);

    let mut by_alias = message(Channel::Sms, "+15550000001");
    by_alias.org_alias = "beta".into();
    by_alias.id = "a".into();
    let mut by_name = message(Channel::Sms, "+15550000002");
    by_name.org_alias = "b-7f3".into();
    by_name.org_name = "beta".into();
    by_name.id = "b".into();
    let mut other = message(Channel::Sms, "+15550000003");
    other.org_alias = "gamma".into();
    other.id = "c".into();
    for m in [&by_alias, &by_name, &other] {
        delivery.send(m).await.unwrap();
    }
    let to = |server: &HttpServer| -> Vec<(String, String)> {
        server
            .requests()
            .iter()
            .map(|r| {
                let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                (
                    v["to"].as_str().unwrap().to_owned(),
                    v["text"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        to(&beta_gw),
        [
            ("+15550000001".to_owned(), "beta 123456".to_owned()),
            ("+15550000002".to_owned(), "beta 123456".to_owned())
        ]
    );
    assert_eq!(
        to(&default_gw),
        [("+15550000003".to_owned(), "Your Acme sign-in code is 123456".to_owned())]
    );

    // acme configures only email: its SMS uses the default gateway, and voice,
    // configured nowhere, the file outbox.
    assert_eq!(delivery.backend_for("acme", "Acme", Channel::Email), BackendKind::Smtp);
    assert_eq!(delivery.backend_for("acme", "Acme", Channel::Sms), BackendKind::Webhook);
    assert_eq!(delivery.backend_for("acme", "Acme", Channel::Voice), BackendKind::File);
    assert_eq!(
        delivery.backend_for("gamma", "Gamma", Channel::Email),
        BackendKind::File
    );
    assert!(delivery.uses_file_outbox());
    delivery.send(&message(Channel::Voice, "+15550000004")).await.unwrap();
    let outbox = std::fs::read_to_string(dir.path().join("outbox.jsonl")).unwrap();
    assert!(outbox.contains("\"+15550000004\""), "{outbox}");
}

#[tokio::test]
async fn a_delivered_message_id_is_not_sent_twice() {
    let gateway = HttpServer::answering(Reply::Status(200, "")).await;
    let (delivery, _dir) = delivery(&format!("[default.sms]\n{}", webhook(&gateway)));
    let m = message(Channel::Sms, "+15550001111");
    delivery.send(&m).await.unwrap();
    delivery.send(&m).await.unwrap();
    assert_eq!(gateway.requests().len(), 1);
}

#[tokio::test]
async fn a_failed_message_id_may_be_sent_again() {
    let gateway = HttpServer::start(|n| {
        if n == 0 {
            Reply::Status(400, "")
        } else {
            Reply::Status(200, "")
        }
    })
    .await;
    let (delivery, _dir) = delivery(&format!("[default.sms]\n{}", webhook(&gateway)));
    let m = message(Channel::Sms, "+15550001111");
    assert!(delivery.send(&m).await.is_err());
    delivery.send(&m).await.unwrap();
    assert_eq!(gateway.requests().len(), 2);
}
