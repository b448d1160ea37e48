//! Regression tests for what adversarial testing found (second round), one per finding.

use serde_json::json;
use twofold_core::services::YubikeyInput;
use twofold_factors::yubikey::{OtpFields, encode_otp};
use twofold_proto::ErrorId;
use twofold_proto::ops::users::AddUser;
use twofold_testkit::{T0_MS, TestApp};

use crate::auth::{offline, start_sms, user_with_sms, wrong};
use crate::{assert_error, assert_ok};

async fn org(app: &TestApp) -> twofold_core::model::Org {
    app.core.find_org("default").await.unwrap()
}

async fn add(app: &TestApp, name: &str) {
    app.client
        .add_user(&AddUser {
            user_name: name.into(),
            ..AddUser::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn r1_a_yubikey_otp_spent_on_one_device_is_spent_on_every_device_of_that_key() {
    let app = TestApp::start().await;
    let aes = [7u8; 16];
    let private = [1u8, 2, 3, 4, 5, 6];
    let key = YubikeyInput {
        serial: None,
        public_id: "cccccbcdefgh".into(),
        private_id: "010203040506".into(),
        aes_key: "07".repeat(16),
    };
    app.core.import_yubikeys(&org(&app).await, &[key]).await.unwrap();
    let otp = |u: u16| {
        encode_otp(
            "cccccbcdefgh",
            &aes,
            &OtpFields {
                private_id: private,
                use_counter: u,
                timestamp: 1,
                session_counter: 0,
                random: 9,
            },
        )
        .unwrap()
    };
    add(&app, "yuki").await;
    add(&app, "yuko").await;
    assert_ok(
        &app.client
            .call_raw("pairyubikey", &json!({"username": "yuki", "otp": otp(1)}))
            .await
            .unwrap(),
    );
    assert_ok(
        &app.client
            .call_raw("pairyubikey", &json!({"username": "yuko", "otp": otp(2)}))
            .await
            .unwrap(),
    );
    let sign_in = async |user: &str, code: String| {
        let start = app
            .client
            .call_raw("startauthentication", &json!({"spAlias": "web", "userName": user}))
            .await
            .unwrap();
        assert_eq!(start.error_id, 30004);
        app.client
            .call_raw(
                "authoffline",
                &json!({"spAlias": "web", "userName": user, "otp": code, "sessionId": start.body["sessionId"]}),
            )
            .await
            .unwrap()
    };
    assert_ok(&sign_in("yuki", otp(3)).await);
    assert_error(&sign_in("yuko", otp(3)).await, ErrorId::PasscodeAlreadyUsed);
    add(&app, "mallory").await;
    assert_error(
        &app.client
            .call_raw("pairyubikey", &json!({"username": "mallory", "otp": otp(3)}))
            .await
            .unwrap(),
        ErrorId::PasscodeAlreadyUsed,
    );
}

#[tokio::test]
async fn r2_the_resend_limit_counts_one_mailbox_or_phone_however_spelled() {
    let app = TestApp::start().await;
    app.core
        .set_org_setting(&org(&app).await, "resend_limit", "2")
        .await
        .unwrap();
    add(&app, "vic").await;
    let backup = async |kind: &str, data: &str| {
        app.client
            .call_raw(
                "authonline",
                &json!({"authType": "ONE_TIME_DEVICE", "spAlias": "rescuecode", "userName": "vic", "deviceType": kind, "deviceData": data}),
            )
            .await
            .unwrap()
    };
    assert_eq!(backup("Email", "victim@v.com").await.error_id, 30005);
    assert_eq!(backup("Email", "VICTIM@v.com").await.error_id, 30005);
    assert_error(&backup("Email", "Victim@V.COM").await, ErrorId::TooManyOtpSends);
    assert_eq!(backup("Voice", "+13035559999").await.error_id, 30002);
    assert_eq!(backup("Voice", "+13035559999,1").await.error_id, 30002);
    assert_error(&backup("Voice", "+1 303 555 9999,,2").await, ErrorId::TooManyOtpSends);
}

#[tokio::test]
async fn r2_concurrent_sends_cannot_exceed_the_resend_limit() {
    let app = TestApp::start().await;
    app.core
        .set_org_setting(&org(&app).await, "resend_limit", "3")
        .await
        .unwrap();
    add(&app, "vic").await;
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let client = app.client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .call_raw(
                    "authonline",
                    &json!({"authType": "ONE_TIME_DEVICE", "spAlias": "rescuecode", "userName": "vic", "deviceType": "SMS", "deviceData": "+13035550042"}),
                )
                .await
                .unwrap()
                .error_id
        }));
    }
    let mut sent = 0;
    for t in tasks {
        if t.await.unwrap() == 30001 {
            sent += 1;
        }
    }
    assert_eq!(sent, 3);
    assert_eq!(
        app.sender.messages().iter().filter(|m| m.to == "+13035550042").count(),
        3
    );
}

#[tokio::test]
async fn r3_a_bypassed_service_does_not_reset_the_lockout_count() {
    let app = TestApp::start().await;
    app.core
        .set_org_setting(&org(&app).await, "lockout_threshold", "3")
        .await
        .unwrap();
    user_with_sms(&app, "dave", "+13035550300").await;
    app.client.add_service("dave", "vpn").await.unwrap();
    app.client
        .call_raw(
            "userbypass",
            &json!({"userName": "dave", "bypassUntil": T0_MS + 86_400_000, "spAliases": ["vpn"]}),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        let start = app
            .client
            .call_raw("startauthentication", &json!({"spAlias": "web", "userName": "dave"}))
            .await
            .unwrap();
        assert_eq!(start.error_id, 30001, "{:?}", start.body);
        app.client
            .call_raw(
                "authoffline",
                &json!({"spAlias": "web", "userName": "dave", "otp": "000000", "sessionId": start.body["sessionId"]}),
            )
            .await
            .unwrap();
        assert_eq!(
            app.client
                .call_raw("startauthentication", &json!({"spAlias": "vpn", "userName": "dave"}))
                .await
                .unwrap()
                .error_id,
            200
        );
    }
    let reply = app
        .client
        .call_raw("startauthentication", &json!({"spAlias": "web", "userName": "dave"}))
        .await
        .unwrap();
    assert_error(&reply, ErrorId::AccountTemporarilyLocked);
}

#[tokio::test]
async fn r4_a_service_the_org_switched_off_cannot_be_used_to_sign_in() {
    let app = TestApp::start().await;
    user_with_sms(&app, "ola", "+13035550400").await;
    app.core
        .set_org_setting(&org(&app).await, "disabled_services", "rescuecode")
        .await
        .unwrap();
    let reply = app
        .client
        .call_raw("authonline", &json!({"authType": "ONE_TIME_DEVICE", "spAlias": "rescuecode", "userName": "ola", "deviceType": "Email", "deviceData": "a@example.org"}))
        .await
        .unwrap();
    assert_error(&reply, ErrorId::ServiceNotEnabledForUser);
    assert!(app.sender.messages().iter().all(|m| m.to != "a@example.org"));
}

#[tokio::test]
async fn r5_a_token_revoked_during_pairing_cannot_be_paired() {
    let app = TestApp::start().await;
    app.client
        .call_raw("createorgtokens", &json!({"tokens": [{"serialNumber": "HT1", "tokenType": "HOTP", "secretKey": "3132333435363738393031323334353637383930"}]}))
        .await
        .unwrap();
    add(&app, "ivan").await;
    let start = app
        .client
        .call_raw(
            "startofflinepairing",
            &json!({"username": "ivan", "type": "TOKEN", "pairingData": "HT1"}),
        )
        .await
        .unwrap();
    app.client
        .call_raw(
            "revokeorgtokens",
            &json!({"serialNumbers": ["HT1"], "unpairBeforeDelete": true}),
        )
        .await
        .unwrap();
    let reply = app
        .client
        .call_raw(
            "finalizeofflinepairing",
            &json!({"sessionId": start.body["sessionId"], "otp": "755224"}),
        )
        .await
        .unwrap();
    assert_error(&reply, ErrorId::InvalidOathToken);
    assert!(
        app.store()
            .devices_of(app.stored_user("ivan").await.unwrap().id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn r8_backup_needs_rescuecode_and_sessions_stay_with_their_service() {
    let app = TestApp::start().await;
    user_with_sms(&app, "sam", "+13035550800").await;
    let reply = app
        .client
        .call_raw("authonline", &json!({"authType": "ONE_TIME_DEVICE", "spAlias": "web", "userName": "sam", "deviceType": "Email", "deviceData": "a@example.org"}))
        .await
        .unwrap();
    assert_error(&reply, ErrorId::ServiceNotSupported);
    let start = app
        .client
        .call_raw("startauthentication", &json!({"spAlias": "web", "userName": "sam"}))
        .await
        .unwrap();
    let otp = app.sender.last_otp_to("+13035550800").unwrap();
    let reply = app
        .client
        .call_raw(
            "authoffline",
            &json!({"spAlias": "ssh", "userName": "sam", "otp": otp, "sessionId": start.body["sessionId"]}),
        )
        .await
        .unwrap();
    assert_error(&reply, ErrorId::InvalidSession);
}

#[tokio::test]
async fn r9_backup_addresses_are_validated_like_pairing_addresses() {
    let app = TestApp::start().await;
    add(&app, "eve").await;
    for bad in ["a@b", "a@b.com\r\nBcc: x@evil.com", "a b <x@evil.com>, y@evil.com"] {
        let reply = app
            .client
            .call_raw("authonline", &json!({"authType": "ONE_TIME_DEVICE", "spAlias": "rescuecode", "userName": "eve", "deviceType": "Email", "deviceData": bad}))
            .await
            .unwrap();
        assert_error(&reply, ErrorId::InvalidParameterValues);
    }
    assert!(app.sender.messages().is_empty());
}

#[tokio::test]
async fn r10_cancelling_an_expired_session_is_20517_and_oath_resync_is_read_from_form_parameters() {
    let app = TestApp::start().await;
    user_with_sms(&app, "cal", "+13035551000").await;
    let start = app
        .client
        .call_raw("startauthentication", &json!({"spAlias": "web", "userName": "cal"}))
        .await
        .unwrap();
    app.clock.advance(600_001);
    let reply = app
        .client
        .call_raw(
            "cancelauthentication",
            &json!({"sessionId": start.body["sessionId"], "cancelAuthenticationType": "DEFAULT"}),
        )
        .await
        .unwrap();
    assert_error(&reply, ErrorId::InvalidSession);
    let body = twofold_proto::ReqBody::from(
        json!({"userName": "x", "otp": "1", "formParameters": {"oathResync": "true"}})
            .as_object()
            .unwrap()
            .clone(),
    );
    let req =
        <twofold_proto::ops::auth::AuthenticateOffline as twofold_proto::ops::Operation>::from_body(&body).unwrap();
    assert!(req.oath_resync);
}

/// An operator's unlock (`twofold user unlock`) ends an automatic lockout too: before,
/// it lifted only the administrator's lock, printed "unlocked", and the user stayed
/// locked out (20526) for `lockout_secs`.
#[tokio::test]
async fn r11_unlock_ends_an_automatic_lockout() {
    let app = TestApp::start().await;
    user_with_sms(&app, "lou", "+13035550111").await;
    let org = org(&app).await;
    app.core.set_org_setting(&org, "lockout_threshold", "2").await.unwrap();
    for _ in 0..2 {
        let (session, code) = start_sms(&app, "lou", "+13035550111").await;
        let reply = offline(&app, "lou", &wrong(&code), &session).await;
        assert_error(&reply, ErrorId::IncorrectPassword);
    }
    let locked = app
        .client
        .call_raw("startauthentication", &json!({"spAlias": "web", "userName": "lou"}))
        .await
        .unwrap();
    assert_error(&locked, ErrorId::AccountTemporarilyLocked);
    app.core.set_user_guard(&org, "lou", Some(false), None).await.unwrap();
    let open = app
        .client
        .call_raw("startauthentication", &json!({"spAlias": "web", "userName": "lou"}))
        .await
        .unwrap();
    assert_eq!(open.error_id, ErrorId::EnterSmsOtp.code(), "{:?}", open.body);
    let guard = app
        .store()
        .auth_guard(app.stored_user("lou").await.unwrap().id)
        .await
        .unwrap();
    assert_eq!(
        (guard.failed_attempts, guard.locked_until_ms, guard.admin_locked),
        (0, None, false)
    );
}
