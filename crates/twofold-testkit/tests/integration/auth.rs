//! Authentication with one-time passcodes: the happy paths of spec §5.1, §5.5, §5.6.

use serde_json::json;
use twofold_proto::ErrorId;
use twofold_proto::ops::users::AddUser;
use twofold_testkit::TestApp;

use crate::{assert_error, assert_ok};

pub async fn user_with_sms(app: &TestApp, name: &str, phone: &str) {
    app.client
        .add_user(&AddUser {
            user_name: name.into(),
            ..AddUser::default()
        })
        .await
        .unwrap();
    let reply = app
        .client
        .call_raw(
            "offlinepairing",
            &json!({"username": name, "type": "SMS", "pairingData": phone}),
        )
        .await
        .unwrap();
    assert_ok(&reply);
}

#[tokio::test]
async fn sms_start_then_authoffline() {
    let app = TestApp::start().await;
    user_with_sms(&app, "amy", "+13035550001").await;
    let start = app
        .client
        .call_raw("startauthentication", &json!({"spAlias": "web", "userName": "amy"}))
        .await
        .unwrap();
    assert_eq!((start.http_status, start.error_id), (200, 30001), "{:?}", start.body);
    assert_eq!(start.error_msg.as_deref(), Some(ErrorId::EnterSmsOtp.message()));
    let session = start.body["sessionId"].as_str().unwrap().to_string();
    assert!(session.starts_with("webs_"));
    assert_eq!(start.body["userDevices"][0]["type"], "SMS");
    assert_eq!(start.body["multipleDevicesEnabled"], false);
    assert_eq!(
        start.body["extendedAuthenticationDetails"]["lastSuccessfulLogin"],
        serde_json::Value::Null
    );
    let otp = app.sender.last_otp_to("+13035550001").unwrap();
    let done = app
        .client
        .call_raw(
            "authoffline",
            &json!({"spAlias": "web", "userName": "amy", "otp": otp, "sessionId": session}),
        )
        .await
        .unwrap();
    assert_ok(&done);
    assert_eq!(done.body["sessionId"], session.as_str());
    assert_eq!(done.body["cookie"], serde_json::Value::Null);
    // Single use.
    let again = app
        .client
        .call_raw(
            "authoffline",
            &json!({"spAlias": "web", "userName": "amy", "otp": otp, "sessionId": session}),
        )
        .await
        .unwrap();
    assert_error(&again, ErrorId::SessionAlreadyUsed);
    let d = app.client.get_user_details("amy").await.unwrap().body["userDetails"].clone();
    assert_eq!(d["lastLogin"], twofold_testkit::T0_MS);
}
