//! The Twilio-compatible client against a loopback double of Twilio's API.

use twofold_core::delivery::{Channel, DeliveryError, MessageSender};
use twofold_delivery::BackendKind;

use crate::delivery;
use crate::support::{HttpServer, Reply, message};

const TOKEN: &str = "twilio-auth-t0ken";

fn twilio_toml(server: &HttpServer) -> String {
    let base = server.url("/");
    let gateway = format!(
        "kind = \"twilio\"\nbase_url = \"{base}\"\naccount_sid = \"AC123\"\nauth_token = \"{TOKEN}\"\nfrom = \"+15550009999\"\ntimeout_secs = 2\n"
    );
    format!("[default.sms]\n{gateway}[default.voice]\n{gateway}")
}

fn expected_basic_auth() -> String {
    format!(
        "Basic {}",
        data_encoding::BASE64.encode(format!("AC123:{TOKEN}").as_bytes())
    )
}

#[tokio::test]
async fn sms_goes_to_the_messages_resource() {
    let server = HttpServer::answering(Reply::Status(201, "{\"sid\":\"SM1\"}")).await;
    let (delivery, _dir) = delivery(&twilio_toml(&server));
    assert_eq!(delivery.backend_for("acme", "Acme", Channel::Sms), BackendKind::Twilio);
    delivery.send(&message(Channel::Sms, "+15550001111")).await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/2010-04-01/Accounts/AC123/Messages.json");
    assert_eq!(request.header("authorization"), Some(expected_basic_auth().as_str()));
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        request.form(),
        [
            ("To".to_owned(), "+15550001111".to_owned()),
            ("From".to_owned(), "+15550009999".to_owned()),
            ("Body".to_owned(), "Your Acme sign-in code is 123456".to_owned()),
        ]
    );
}

#[tokio::test]
async fn a_call_reads_the_code_twice_and_dials_the_extension() {
    let server = HttpServer::answering(Reply::Status(201, "{\"sid\":\"CA1\"}")).await;
    let (delivery, _dir) = delivery(&twilio_toml(&server));
    delivery
        .send(&message(Channel::Voice, "+15551234567,,42"))
        .await
        .unwrap();

    let request = &server.requests()[0];
    assert_eq!(request.path, "/2010-04-01/Accounts/AC123/Calls.json");
    assert_eq!(request.header("authorization"), Some(expected_basic_auth().as_str()));
    assert_eq!(request.form_value("To").as_deref(), Some("+15551234567"));
    assert_eq!(request.form_value("From").as_deref(), Some("+15550009999"));
    assert_eq!(request.form_value("SendDigits").as_deref(), Some("ww42"));
    let said = "<Say>Your Acme sign-in code is 1. 2. 3. 4. 5. 6.</Say>";
    assert_eq!(
        request.form_value("Twiml").as_deref(),
        Some(format!("<Response>{said}<Pause length=\"1\"/>{said}</Response>").as_str())
    );
}

#[tokio::test]
async fn a_call_without_extension_sends_no_digits() {
    let server = HttpServer::answering(Reply::Status(201, "{}")).await;
    let (delivery, _dir) = delivery(&twilio_toml(&server));
    delivery.send(&message(Channel::Voice, "+15551234567")).await.unwrap();
    assert_eq!(server.requests()[0].form_value("SendDigits"), None);
}

#[tokio::test]
async fn a_refusal_is_permanent_explained_and_free_of_the_code() {
    let body = "{\"code\":21211,\"message\":\"Invalid 'To' for body 123456\",\"status\":400}";
    let server = HttpServer::answering(Reply::Status(400, body)).await;
    let (delivery, _dir) = delivery(&twilio_toml(&server));
    let err = delivery.send(&message(Channel::Sms, "+15550001111")).await.unwrap_err();
    let DeliveryError::Permanent(text) = &err else {
        panic!("{err:?}")
    };
    assert!(text.contains("21211"), "{text}");
    assert!(!text.contains("123456"), "{text}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn an_outage_is_transient_and_retried() {
    let server = HttpServer::answering(Reply::Status(503, "")).await;
    let (delivery, _dir) = delivery(&twilio_toml(&server));
    let err = delivery.send(&message(Channel::Sms, "+15550001111")).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Transient(_)), "{err:?}");
    assert_eq!(server.requests().len(), 3);
}
