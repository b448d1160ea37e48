//! Authentication with one-time passcodes: the happy paths of spec §5.1, §5.5, §5.6, and
//! every errorId the authentication operations can answer (error-conditions.md), each
//! provoked over HTTP and checked for HTTP status, errorId, catalog message and signature.

use serde_json::{Value, json};
use twofold_client::Reply;
use twofold_core::ids::UserId;
use twofold_core::model::TokenScope;
use twofold_core::store::{AuditEvent, SmsUsage};
use twofold_proto::ErrorId;
use twofold_proto::envelope::{Alg, sign_compact};
use twofold_proto::ops::users::AddUser;
use twofold_testkit::{T0_MS, TestApp};

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

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

pub(crate) const PHONE: &str = "+13035550001";
const PHONE_2: &str = "+13035550002";
const EMAIL: &str = "amy@example.org";
const DAY_MS: i64 = 86_400_000;
/// RFC 4226 / RFC 6238 test secret.
const SEED: &[u8] = b"12345678901234567890";

pub(crate) async fn call(app: &TestApp, op: &str, body: Value) -> Reply<Value> {
    app.client.call_raw(op, &body).await.unwrap()
}

/// Changes one organization setting (re-reading the organization first, so settings made
/// earlier in the test are kept).
pub(crate) async fn set(app: &TestApp, key: &str, value: &str) {
    let org = app.core.find_org("default").await.unwrap();
    app.core.set_org_setting(&org, key, value).await.unwrap();
}

pub(crate) async fn add_user(app: &TestApp, name: &str) -> UserId {
    let reply = app
        .client
        .add_user(&AddUser {
            user_name: name.into(),
            ..AddUser::default()
        })
        .await
        .unwrap();
    assert_ok(&reply);
    app.stored_user(name).await.unwrap().id
}

/// Pairs a device with offlinepairing and answers its deviceId.
pub(crate) async fn pair(app: &TestApp, name: &str, kind: &str, data: &str) -> i64 {
    let reply = call(
        app,
        "offlinepairing",
        json!({"username": name, "type": kind, "pairingData": data}),
    )
    .await;
    assert_ok(&reply);
    reply.body["deviceId"].as_i64().expect("deviceId")
}

pub(crate) async fn start(app: &TestApp, name: &str) -> Reply<Value> {
    call(app, "startauthentication", json!({"spAlias": "web", "userName": name})).await
}

pub(crate) async fn offline(app: &TestApp, name: &str, otp: &str, session: &str) -> Reply<Value> {
    call(
        app,
        "authoffline",
        json!({"spAlias": "web", "userName": name, "otp": otp, "sessionId": session}),
    )
    .await
}

pub(crate) fn session_of(reply: &Reply<Value>) -> String {
    reply.body["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no sessionId in {:?}", reply.body))
        .to_string()
}

/// A code of the same length that is certainly not `code`.
pub(crate) fn wrong(code: &str) -> String {
    code.chars()
        .map(|c| char::from_digit((c.to_digit(10).unwrap() + 1) % 10, 10).unwrap())
        .collect()
}

/// Starts an SMS authentication and answers (session, code sent).
pub(crate) async fn start_sms(app: &TestApp, name: &str, phone: &str) -> (String, String) {
    let reply = start(app, name).await;
    assert_error(&reply, ErrorId::EnterSmsOtp);
    (
        session_of(&reply),
        app.sender.last_otp_to(phone).expect("a code was sent"),
    )
}

/// The user's audit trail, oldest first.
async fn audit(app: &TestApp, user: UserId, limit: u32) -> Vec<AuditEvent> {
    let mut rows = app.store().recent_audit(user, limit).await.unwrap();
    rows.reverse();
    rows
}

fn ops(rows: &[AuditEvent]) -> Vec<(String, u32)> {
    rows.iter().map(|r| (r.op.clone(), r.error_id)).collect()
}

fn row(op: &str, error: u32) -> (String, u32) {
    (op.to_string(), error)
}

pub(crate) fn hotp(counter: u64) -> String {
    twofold_factors::hotp::generate(SEED, counter, twofold_factors::HotpParams::default())
}

fn totp_at(now_ms: i64) -> String {
    twofold_factors::totp::generate(
        SEED,
        u64::try_from(now_ms / 1000).unwrap(),
        twofold_factors::TotpParams::default(),
    )
}

fn now_ms(app: &TestApp) -> i64 {
    use twofold_core::Clock as _;
    app.clock.now_ms()
}

/// An OATH token stock with one HOTP token of the RFC 4226 seed, serial `HT-1`.
pub(crate) async fn hotp_stock(app: &TestApp) {
    let hex: String = SEED.iter().map(|b| format!("{b:02x}")).collect();
    let reply = call(
        app,
        "createorgtokens",
        json!({"tokens": [{"serialNumber": "HT-1", "tokenType": "HOTP", "secretKey": hex, "otpLength": "6"}]}),
    )
    .await;
    assert_ok(&reply);
}

pub(crate) mod yubi {
    use twofold_core::services::YubikeyInput;
    use twofold_factors::yubikey::{OtpFields, encode_otp};
    use twofold_testkit::TestApp;

    pub const PUBLIC_ID: &str = "cccccdefghij";
    const AES: [u8; 16] = [
        0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18, 0x29, 0x3a, 0x4b, 0x5c, 0x6d, 0x7e, 0x8f, 0x90,
    ];
    const PRIVATE: [u8; 6] = [9, 8, 7, 6, 5, 4];

    /// An OTP of the imported key with the given counters.
    pub fn otp(use_counter: u16, session_counter: u8) -> String {
        encode_otp(
            PUBLIC_ID,
            &AES,
            &OtpFields {
                private_id: PRIVATE,
                use_counter,
                timestamp: 4242,
                session_counter,
                random: 99,
            },
        )
        .unwrap()
    }

    pub async fn import(app: &TestApp) {
        let org = app.core.find_org("default").await.unwrap();
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let key = YubikeyInput {
            serial: Some("7770001".into()),
            public_id: PUBLIC_ID.into(),
            private_id: hex(&PRIVATE),
            aes_key: hex(&AES),
        };
        assert!(app.core.import_yubikeys(&org, &[key]).await.unwrap().is_empty());
    }
}

/// Posts a hand-made body over TCP and answers (HTTP status, decoded responseBody).
async fn raw_post(app: &TestApp, op: &str, body: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!(
        "POST /pingid/rest/4/{op}/do HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let answer = String::from_utf8_lossy(&out).into_owned();
    let status = answer[9..12].parse().unwrap();
    let content = answer.split("\r\n\r\n").nth(1).unwrap_or("").trim().to_string();
    let payload = content.split('.').nth(1).expect("a signed answer");
    let bytes = data_encoding::BASE64URL_NOPAD
        .decode(payload.trim_end_matches('=').as_bytes())
        .unwrap();
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    (status, value["responseBody"].clone())
}

// ---------------------------------------------------------------------------------------
// Flow statuses and successful authentications
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn every_device_type_has_its_flow_status_and_authenticates() {
    let app = TestApp::start().await;
    hotp_stock(&app).await;
    yubi::import(&app).await;
    add_user(&app, "sms").await;
    pair(&app, "sms", "SMS", PHONE).await;
    add_user(&app, "voice").await;
    pair(&app, "voice", "VOICE", PHONE_2).await;
    add_user(&app, "mail").await;
    pair(&app, "mail", "EMAIL", EMAIL).await;
    add_user(&app, "app").await;
    pair(&app, "app", "AUTHENTICATOR_APP", &data_encoding::BASE32.encode(SEED)).await;
    add_user(&app, "token").await;
    pair(&app, "token", "TOKEN", "HT-1").await;
    add_user(&app, "yubi").await;
    assert_ok(&call(&app, "pairyubikey", json!({"username": "yubi", "otp": yubi::otp(1, 0)})).await);

    // Code devices: the code is sent at start.
    for (name, target, status, wire) in [
        ("sms", PHONE, ErrorId::EnterSmsOtp, "SMS"),
        ("voice", PHONE_2, ErrorId::EnterVoiceOtp, "Voice"),
        ("mail", EMAIL, ErrorId::EnterEmailOtp, "Email"),
    ] {
        let reply = start(&app, name).await;
        assert_error(&reply, status);
        assert_eq!(reply.body["userDevices"][0]["type"], wire);
        let session = session_of(&reply);
        let otp = app.sender.last_otp_to(target).expect("code sent");
        let done = offline(&app, name, &otp, &session).await;
        assert_ok(&done);
        assert_eq!(done.body["sessionId"], session.as_str());
        assert_eq!(done.body["embeddedParameters"], Value::Null);
    }

    // Devices that make their own codes: nothing is sent.
    let sent_before = app.sender.messages().len();
    let reply = start(&app, "app").await;
    assert_error(&reply, ErrorId::EnterAuthenticatorAppOtp);
    assert_eq!(reply.body["userDevices"][0]["type"], "Authenticator App");
    assert_ok(&offline(&app, "app", &totp_at(now_ms(&app)), &session_of(&reply)).await);

    let reply = start(&app, "token").await;
    assert_error(&reply, ErrorId::EnterOathTokenOtp);
    assert_eq!(reply.body["userDevices"][0]["type"], "Hardware Token");
    let done = offline(&app, "token", &hotp(0), &session_of(&reply)).await;
    assert_ok(&done);
    assert_eq!(
        done.body["embeddedParameters"],
        json!({"oathSerialNumber": "HT-1", "oathTokenType": "HOTP"})
    );

    let reply = start(&app, "yubi").await;
    assert_error(&reply, ErrorId::EnterYubikeyOtp);
    assert_eq!(reply.body["userDevices"][0]["type"], "YubiKey");
    assert_ok(&offline(&app, "yubi", &yubi::otp(1, 1), &session_of(&reply)).await);
    assert_eq!(
        app.sender.messages().len(),
        sent_before,
        "OTP-generating devices get no message"
    );

    // lastLogin is set for everyone who succeeded.
    for name in ["sms", "voice", "mail", "app", "token", "yubi"] {
        let d = app.client.get_user_details(name).await.unwrap().body["userDetails"].clone();
        assert_eq!(d["lastLogin"], T0_MS, "{name}");
    }
}

#[tokio::test]
async fn last_login_is_set_and_reported_at_the_next_start() {
    let app = TestApp::start().await;
    let amy = add_user(&app, "amy").await;
    let device = pair(&app, "amy", "SMS", PHONE).await;
    app.clock.advance(5_000);
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    assert_ok(&offline(&app, "amy", &otp, &session).await);
    let d = app.client.get_user_details("amy").await.unwrap().body["userDetails"].clone();
    assert_eq!(d["lastLogin"], T0_MS + 5_000);
    let stored = app.store().devices_of(amy).await.unwrap();
    assert_eq!(stored[0].id.0, device);
    assert_eq!(stored[0].last_used_ms, Some(T0_MS + 5_000), "the device's last use");
    app.clock.advance(60_000);
    let next = start(&app, "amy").await;
    assert_error(&next, ErrorId::EnterSmsOtp);
    assert_eq!(
        next.body["extendedAuthenticationDetails"]["lastSuccessfulLogin"],
        T0_MS + 5_000
    );
}

#[tokio::test]
async fn device_selection_mode_then_chosen_device() {
    let app = TestApp::start().await;
    set(&app, "device_selection", "true").await;
    add_user(&app, "amy").await;
    let first = pair(&app, "amy", "SMS", PHONE).await;
    let second = pair(&app, "amy", "EMAIL", EMAIL).await;
    let reply = start(&app, "amy").await;
    assert_error(&reply, ErrorId::MultipleDevicesSelection);
    assert_eq!(reply.body["multipleDevicesEnabled"], true);
    let ids: Vec<i64> = reply.body["userDevices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["deviceId"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![first, second]);
    assert!(app.sender.messages().is_empty(), "no code before a device is chosen");
    let session = session_of(&reply);
    let chosen = call(
        &app,
        "startauthentication",
        json!({"spAlias": "web", "userName": "amy", "sessionId": session, "deviceId": second}),
    )
    .await;
    assert_error(&chosen, ErrorId::EnterEmailOtp);
    assert_eq!(session_of(&chosen), session, "the same session continues");
    assert!(app.sender.last_otp_to(PHONE).is_none());
    let otp = app.sender.last_otp_to(EMAIL).unwrap();
    assert_ok(&offline(&app, "amy", &otp, &session).await);
    let amy = app.stored_user("amy").await.unwrap().id;
    let rows = audit(&app, amy, 20).await;
    assert_eq!(rows.last().unwrap().device_id.map(|d| d.0), Some(second));
}

#[tokio::test]
async fn bypass_answers_200_without_challenge_or_session() {
    let app = TestApp::start().await;
    user_with_sms(&app, "amy", PHONE).await;
    assert_ok(&app.client.add_service("amy", "web").await.unwrap());
    assert_ok(
        &call(
            &app,
            "userbypass",
            json!({"userName": "amy", "bypassUntil": T0_MS + 3_600_000, "spAliases": ["web"]}),
        )
        .await,
    );
    let reply = start(&app, "amy").await;
    assert_ok(&reply);
    assert_eq!(reply.body["sessionId"], Value::Null);
    assert!(app.sender.messages().is_empty(), "no challenge was sent");
    // When the bypass ends, the challenge is back.
    app.clock.advance(3_600_001);
    assert_error(&start(&app, "amy").await, ErrorId::EnterSmsOtp);
}

#[tokio::test]
async fn authonline_otp_returns_a_session_for_authoffline() {
    let app = TestApp::start().await;
    user_with_sms(&app, "amy", PHONE).await;
    let reply = call(
        &app,
        "authonline",
        json!({"spAlias": "web", "userName": "amy", "authType": "OTP"}),
    )
    .await;
    assert_error(&reply, ErrorId::EnterSmsOtp);
    let session = session_of(&reply);
    let otp = app.sender.last_otp_to(PHONE).unwrap();
    assert_ok(&offline(&app, "amy", &otp, &session).await);
    let d = app.client.get_user_details("amy").await.unwrap().body["userDetails"].clone();
    assert_eq!(d["lastLogin"], T0_MS);
}

#[tokio::test]
async fn backup_authentication_with_a_one_time_device() {
    let app = TestApp::start().await;
    user_with_sms(&app, "amy", PHONE).await;
    let reply = call(
        &app,
        "authonline",
        json!({"spAlias": "rescuecode", "userName": "amy", "authType": "ONE_TIME_DEVICE",
               "deviceType": "Email", "deviceData": "x@example.org"}),
    )
    .await;
    assert_error(&reply, ErrorId::EnterEmailOtp);
    let session = session_of(&reply);
    let otp = app
        .sender
        .last_otp_to("x@example.org")
        .expect("sent to the given address");
    assert!(app.sender.last_otp_to(PHONE).is_none(), "not to the paired device");
    // A backup session is not a web session.
    assert_error(&offline(&app, "amy", &otp, &session).await, ErrorId::InvalidSession);
    let done = call(
        &app,
        "authoffline",
        json!({"spAlias": "rescuecode", "userName": "amy", "otp": otp, "sessionId": session}),
    )
    .await;
    assert_ok(&done);
    let again = call(
        &app,
        "authoffline",
        json!({"spAlias": "rescuecode", "userName": "amy", "otp": otp, "sessionId": session}),
    )
    .await;
    assert_error(&again, ErrorId::SessionAlreadyUsed);
}

#[tokio::test]
async fn cancelauthentication_each_type_then_20561() {
    let app = TestApp::start().await;
    user_with_sms(&app, "amy", PHONE).await;
    for kind in ["CHANGE_DEVICE", "ADD_DEVICE", "DEFAULT"] {
        let (session, otp) = start_sms(&app, "amy", PHONE).await;
        let reply = call(
            &app,
            "cancelauthentication",
            json!({"sessionId": session, "cancelAuthenticationType": kind}),
        )
        .await;
        assert_ok(&reply);
        // Cancelling twice is harmless.
        assert_ok(
            &call(
                &app,
                "cancelauthentication",
                json!({"sessionId": session, "cancelAuthenticationType": kind}),
            )
            .await,
        );
        assert_error(
            &offline(&app, "amy", &otp, &session).await,
            ErrorId::AuthenticationCancelled,
        );
        // Continuing a cancelled session with startauthentication is refused too.
        let resumed = call(
            &app,
            "startauthentication",
            json!({"spAlias": "web", "userName": "amy", "sessionId": session}),
        )
        .await;
        assert_error(&resumed, ErrorId::AuthenticationCancelled);
    }
    // An unknown session: 20517; a finished one: 20545.
    assert_error(
        &call(
            &app,
            "cancelauthentication",
            json!({"sessionId": "webs_nope", "cancelAuthenticationType": "DEFAULT"}),
        )
        .await,
        ErrorId::InvalidSession,
    );
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    assert_ok(&offline(&app, "amy", &otp, &session).await);
    assert_error(
        &call(
            &app,
            "cancelauthentication",
            json!({"sessionId": session, "cancelAuthenticationType": "DEFAULT"}),
        )
        .await,
        ErrorId::SessionAlreadyUsed,
    );
}

#[tokio::test]
async fn auth_only_token_may_call_every_auth_op() {
    let app = TestApp::start().await;
    user_with_sms(&app, "amy", PHONE).await;
    let auth = app.client_with_scope(TokenScope::AuthOnly).await;
    let reply = auth
        .call_raw("startauthentication", &json!({"spAlias": "web", "userName": "amy"}))
        .await
        .unwrap();
    assert_error(&reply, ErrorId::EnterSmsOtp);
    let session = session_of(&reply);
    let otp = app.sender.last_otp_to(PHONE).unwrap();
    let done = auth
        .call_raw(
            "authoffline",
            &json!({"spAlias": "web", "userName": "amy", "otp": otp, "sessionId": session}),
        )
        .await
        .unwrap();
    assert_ok(&done);
    let online = auth
        .call_raw(
            "authonline",
            &json!({"spAlias": "web", "userName": "amy", "authType": "OTP"}),
        )
        .await
        .unwrap();
    assert_error(&online, ErrorId::EnterSmsOtp);
    let cancel = auth
        .call_raw(
            "cancelauthentication",
            &json!({"sessionId": session_of(&online), "cancelAuthenticationType": "DEFAULT"}),
        )
        .await
        .unwrap();
    assert_ok(&cancel);
    let backup = auth
        .call_raw(
            "authonline",
            &json!({"spAlias": "rescuecode", "userName": "amy", "authType": "ONE_TIME_DEVICE",
                    "deviceType": "Email", "deviceData": "x@example.org"}),
        )
        .await
        .unwrap();
    assert_error(&backup, ErrorId::EnterEmailOtp);
    // ...while admin operations stay forbidden.
    let admin = auth
        .call_raw("getuserdetails", &json!({"userName": "amy"}))
        .await
        .unwrap();
    assert_error(&admin, ErrorId::Forbidden);
}

// ---------------------------------------------------------------------------------------
// Audit trail
// ---------------------------------------------------------------------------------------

fn assert_code_absent(rows: &[AuditEvent], code: &str) {
    for r in rows {
        let fields = [
            r.username.clone().unwrap_or_default(),
            r.op.clone(),
            r.error_id.to_string(),
            r.source_ip.clone().unwrap_or_default(),
            r.device_id.map(|d| d.0.to_string()).unwrap_or_default(),
            r.user_id.map(|u| u.0.to_string()).unwrap_or_default(),
            r.org_id.0.to_string(),
            r.created_ms.to_string(),
        ];
        assert!(
            fields.iter().all(|f| f != code),
            "the code {code} appears in the audit row {fields:?}"
        );
    }
}

#[tokio::test]
async fn audit_trail_has_a_row_per_event_and_never_the_code() {
    let app = TestApp::start().await;
    let amy = add_user(&app, "amy").await;
    let device = pair(&app, "amy", "SMS", PHONE).await;
    let reply = call(
        &app,
        "startauthentication",
        json!({"spAlias": "web", "userName": "amy", "ipAddr": "203.0.113.7"}),
    )
    .await;
    assert_error(&reply, ErrorId::EnterSmsOtp);
    let session = session_of(&reply);
    let otp = app.sender.last_otp_to(PHONE).unwrap();
    let body = |code: &str| json!({"spAlias": "web", "userName": "amy", "otp": code, "sessionId": session, "ipAddr": "203.0.113.7"});
    assert_error(
        &call(&app, "authoffline", body(&wrong(&otp))).await,
        ErrorId::IncorrectPassword,
    );
    assert_ok(&call(&app, "authoffline", body(&otp)).await);
    assert_error(
        &call(&app, "authoffline", body(&otp)).await,
        ErrorId::SessionAlreadyUsed,
    );
    assert_error(
        &call(
            &app,
            "startauthentication",
            json!({"spAlias": "nosuch", "userName": "amy"}),
        )
        .await,
        ErrorId::AuthServiceProviderNotFound,
    );
    assert_error(
        &call(
            &app,
            "authonline",
            json!({"spAlias": "web", "userName": "amy", "authType": "CONFIRM"}),
        )
        .await,
        ErrorId::ServiceNotSupported,
    );
    let online = call(
        &app,
        "authonline",
        json!({"spAlias": "web", "userName": "amy", "authType": "OTP"}),
    )
    .await;
    assert_error(&online, ErrorId::EnterSmsOtp);
    let second_code = app.sender.last_otp_to(PHONE).unwrap();
    let rows = audit(&app, amy, 20).await;
    assert_eq!(
        ops(&rows),
        vec![
            row("startauthentication", 30001),
            row("authoffline", 20513),
            row("authoffline", 200),
            row("authoffline", 20545),
            row("startauthentication", 20519),
            row("authonline", 20531),
            row("authonline", 30001),
        ]
    );
    for r in &rows {
        assert_eq!(r.user_id, Some(amy));
        assert_eq!(r.username.as_deref(), Some("amy"));
        assert_eq!(r.created_ms, T0_MS);
    }
    for r in &rows[..4] {
        assert_eq!(r.source_ip.as_deref(), Some("203.0.113.7"), "{:?}", r.op);
    }
    for r in &rows[..3] {
        assert_eq!(r.device_id.map(|d| d.0), Some(device), "{:?}", r.op);
    }
    assert_code_absent(&rows, &otp);
    assert_code_absent(&rows, &wrong(&otp));
    assert_code_absent(&rows, &second_code);
}

#[tokio::test]
async fn audit_trail_records_cancellations() {
    let app = TestApp::start().await;
    let amy = add_user(&app, "amy").await;
    pair(&app, "amy", "SMS", PHONE).await;
    let (session, _) = start_sms(&app, "amy", PHONE).await;
    assert_ok(
        &call(
            &app,
            "cancelauthentication",
            json!({"sessionId": session, "cancelAuthenticationType": "CHANGE_DEVICE"}),
        )
        .await,
    );
    let rows = audit(&app, amy, 20).await;
    assert_eq!(
        ops(&rows),
        vec![row("startauthentication", 30001), row("cancelauthentication", 200)],
        "every authentication event is appended to the audit table (docs/api.md, History)"
    );
}

#[tokio::test]
async fn audit_trail_records_failed_backup_starts_under_the_user() {
    let app = TestApp::start().await;
    let amy = add_user(&app, "amy").await;
    pair(&app, "amy", "SMS", PHONE).await;
    let reply = call(
        &app,
        "authonline",
        json!({"spAlias": "rescuecode", "userName": "amy", "authType": "ONE_TIME_DEVICE",
               "deviceType": "SMS", "deviceData": "call me"}),
    )
    .await;
    assert_error(&reply, ErrorId::InvalidPhoneNumber);
    let rows = audit(&app, amy, 20).await;
    assert_eq!(ops(&rows), vec![row("authonline", 20559)]);
}

// ---------------------------------------------------------------------------------------
// One test per errorId
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn e20512_authoffline_after_the_code_expired_is_408() {
    let app = TestApp::start().await;
    set(&app, "otp_validity_secs", "60").await;
    user_with_sms(&app, "amy", PHONE).await;
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    app.clock.advance(60_000);
    let reply = offline(&app, "amy", &otp, &session).await;
    assert_eq!(reply.http_status, 408);
    assert_error(&reply, ErrorId::OtpChallengeExpired);
    let d = app.client.get_user_details("amy").await.unwrap().body["userDetails"].clone();
    assert_eq!(d["lastLogin"], Value::Null);
    // Just inside the validity the code works.
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    app.clock.advance(59_999);
    assert_ok(&offline(&app, "amy", &otp, &session).await);
}

#[tokio::test]
async fn e20517_unknown_foreign_and_expired_sessions() {
    let app = TestApp::start().await;
    set(&app, "session_lifetime_secs", "60").await;
    user_with_sms(&app, "amy", PHONE).await;
    user_with_sms(&app, "bob", PHONE_2).await;
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    // Unknown session.
    assert_error(
        &offline(&app, "amy", &otp, "webs_unknown").await,
        ErrorId::InvalidSession,
    );
    // No session at all.
    assert_error(
        &call(
            &app,
            "authoffline",
            json!({"spAlias": "web", "userName": "amy", "otp": otp}),
        )
        .await,
        ErrorId::InvalidSession,
    );
    // Another user's session, with that session's right code.
    assert_error(&offline(&app, "bob", &otp, &session).await, ErrorId::InvalidSession);
    assert_error(
        &call(
            &app,
            "startauthentication",
            json!({"spAlias": "web", "userName": "bob", "sessionId": session}),
        )
        .await,
        ErrorId::InvalidSession,
    );
    // A pairing session is another kind of session.
    add_user(&app, "cid").await;
    let pairing = call(
        &app,
        "startofflinepairing",
        json!({"username": "cid", "type": "SMS", "pairingData": "+13035550003"}),
    )
    .await;
    assert_ok(&pairing);
    assert_error(
        &offline(&app, "amy", &otp, &session_of(&pairing)).await,
        ErrorId::InvalidSession,
    );
    // The session outlived session_lifetime_secs (its code would still be valid: 300 s).
    app.clock.advance(60_000);
    assert_error(&offline(&app, "amy", &otp, &session).await, ErrorId::InvalidSession);
    assert_error(
        &call(
            &app,
            "startauthentication",
            json!({"spAlias": "web", "userName": "amy", "sessionId": session}),
        )
        .await,
        ErrorId::InvalidSession,
    );
}

#[tokio::test]
async fn e20545_a_session_used_again_after_success() {
    let app = TestApp::start().await;
    user_with_sms(&app, "amy", PHONE).await;
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    assert_ok(&offline(&app, "amy", &otp, &session).await);
    assert_error(&offline(&app, "amy", &otp, &session).await, ErrorId::SessionAlreadyUsed);
    assert_error(
        &offline(&app, "amy", &wrong(&otp), &session).await,
        ErrorId::SessionAlreadyUsed,
    );
    // Continuing it with startauthentication too.
    assert_error(
        &call(
            &app,
            "startauthentication",
            json!({"spAlias": "web", "userName": "amy", "sessionId": session}),
        )
        .await,
        ErrorId::SessionAlreadyUsed,
    );
}

#[tokio::test]
async fn e20561_authoffline_on_a_cancelled_session() {
    let app = TestApp::start().await;
    user_with_sms(&app, "amy", PHONE).await;
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    assert_ok(
        &call(
            &app,
            "cancelauthentication",
            json!({"sessionId": session, "cancelAuthenticationType": "DEFAULT"}),
        )
        .await,
    );
    assert_error(
        &offline(&app, "amy", &otp, &session).await,
        ErrorId::AuthenticationCancelled,
    );
    let d = app.client.get_user_details("amy").await.unwrap().body["userDetails"].clone();
    assert_eq!(d["lastLogin"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn e20543_fifty_concurrent_authoffline_exactly_one_succeeds() {
    let app = TestApp::start().await;
    set(&app, "resend_limit", "1000").await;
    let amy = add_user(&app, "amy").await;
    pair(&app, "amy", "SMS", PHONE).await;
    // Which losers see the session still being processed (20543) and which see it approved
    // (20545) is up to the scheduler; rounds repeat (a new session each) until 20543 has
    // been seen, and every round must have exactly one winner. Session transitions answer
    // 30 ms late, so the winner's "processing" lasts long enough for others to see it (the
    // store alone makes it microseconds).
    app.faults.fail(
        "transition_session",
        twofold_testkit::Fault::Delay(std::time::Duration::from_millis(30)),
    );
    let mut seen_in_process = 0;
    let mut rounds = 0u32;
    while seen_in_process == 0 && rounds < 20 {
        rounds += 1;
        let (session, otp) = start_sms(&app, "amy", PHONE).await;
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let client = app.client.clone();
            let body = json!({"spAlias": "web", "userName": "amy", "otp": otp, "sessionId": session});
            tasks.push(tokio::spawn(async move {
                client.call_raw("authoffline", &body).await.unwrap()
            }));
        }
        let mut replies = Vec::new();
        for t in tasks {
            replies.push(t.await.unwrap());
        }
        let codes: Vec<u32> = replies.iter().map(|r| r.error_id).collect();
        assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
        for reply in &replies {
            match reply.error_id {
                200 => assert_ok(reply),
                20543 => assert_error(reply, ErrorId::LoginInProcess),
                _ => assert_error(reply, ErrorId::SessionAlreadyUsed),
            }
        }
        seen_in_process += codes.iter().filter(|c| **c == 20543).count();
        // Exactly one approval per round: one success in the audit trail, one used code.
        let rows = audit(&app, amy, 51).await;
        assert_eq!(row(&rows[0].op, rows[0].error_id), row("startauthentication", 30001));
        let offline_rows: Vec<_> = rows.iter().filter(|r| r.op == "authoffline").collect();
        assert_eq!(offline_rows.len(), 50, "one audit row per request");
        assert_eq!(offline_rows.iter().filter(|r| r.error_id == 200).count(), 1);
        assert_eq!(
            app.store().sms_usage(amy, T0_MS.div_euclid(DAY_MS)).await.unwrap(),
            SmsUsage {
                sent: rounds,
                claimed: rounds
            }
        );
    }
    assert!(
        seen_in_process > 0,
        "no 20543 in {rounds} rounds of 50 concurrent calls"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn e20543_concurrent_hotp_authoffline_moves_the_counter_once() {
    let app = TestApp::start().await;
    hotp_stock(&app).await;
    let tia = add_user(&app, "tia").await;
    pair(&app, "tia", "TOKEN", "HT-1").await;
    let reply = start(&app, "tia").await;
    assert_error(&reply, ErrorId::EnterOathTokenOtp);
    let session = session_of(&reply);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let client = app.client.clone();
        let body = json!({"spAlias": "web", "userName": "tia", "otp": hotp(0), "sessionId": session});
        tasks.push(tokio::spawn(async move {
            client.call_raw("authoffline", &body).await.unwrap()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        let reply = t.await.unwrap();
        match reply.error_id {
            200 => assert_ok(&reply),
            20543 => assert_error(&reply, ErrorId::LoginInProcess),
            _ => assert_error(&reply, ErrorId::SessionAlreadyUsed),
        }
        codes.push(reply.error_id);
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    let stored = app.store().devices_of(tia).await.unwrap();
    assert_eq!(stored[0].counter, Some(1), "the counter moved exactly once");
}

#[tokio::test]
async fn e10608_device_unpaired_between_start_and_authoffline() {
    let app = TestApp::start().await;
    add_user(&app, "amy").await;
    let sms = pair(&app, "amy", "SMS", PHONE).await;
    pair(&app, "amy", "EMAIL", EMAIL).await;
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    assert_ok(&call(&app, "unpairdevice", json!({"userName": "amy", "deviceId": sms})).await);
    assert_error(
        &offline(&app, "amy", &otp, &session).await,
        ErrorId::SessionDeviceRemoved,
    );
    let d = app.client.get_user_details("amy").await.unwrap().body["userDetails"].clone();
    assert_eq!(d["lastLogin"], Value::Null);
}

#[tokio::test]
async fn e10608_last_device_unpaired_between_start_and_authoffline() {
    let app = TestApp::start().await;
    add_user(&app, "amy").await;
    let sms = pair(&app, "amy", "SMS", PHONE).await;
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    assert_ok(&call(&app, "unpairdevice", json!({"userName": "amy", "deviceId": sms})).await);
    assert_error(
        &offline(&app, "amy", &otp, &session).await,
        ErrorId::SessionDeviceRemoved,
    );
}

#[tokio::test]
async fn concurrent_wrong_codes_get_no_more_attempts_than_sequential_ones() {
    let app = TestApp::start().await;
    let amy = add_user(&app, "amy").await;
    pair(&app, "amy", "SMS", PHONE).await;
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    // Ten wrong codes at once on a session allowing three attempts: three count (20513,
    // 20513, 20514), the others lost the race (20543) or found the session closed (20545)
    // and record nothing.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let client = app.client.clone();
        let body = json!({"spAlias": "web", "userName": "amy", "otp": wrong(&otp), "sessionId": session});
        tasks.push(tokio::spawn(async move {
            client.call_raw("authoffline", &body).await.unwrap()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        let reply = t.await.unwrap();
        match reply.error_id {
            20513 => assert_error(&reply, ErrorId::IncorrectPassword),
            20514 => assert_error(&reply, ErrorId::PasscodeRetriesExceeded),
            20543 => assert_error(&reply, ErrorId::LoginInProcess),
            _ => assert_error(&reply, ErrorId::SessionAlreadyUsed),
        }
        codes.push(reply.error_id);
    }
    codes.sort_unstable();
    assert_eq!(&codes[..3], &[20513, 20513, 20514], "{codes:?}");
    assert_eq!(app.store().auth_guard(amy).await.unwrap().failed_attempts, 3);
    assert_eq!(
        app.store().auth_session(&session).await.unwrap().unwrap().state,
        "failed"
    );
    // The right code no longer opens it.
    assert_error(&offline(&app, "amy", &otp, &session).await, ErrorId::SessionAlreadyUsed);
}

#[tokio::test]
async fn e20513_then_20514_wrong_codes_until_attempts_per_session() {
    let app = TestApp::start().await;
    set(&app, "attempts_per_session", "4").await;
    user_with_sms(&app, "amy", PHONE).await;
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    for _ in 0..3 {
        assert_error(
            &offline(&app, "amy", &wrong(&otp), &session).await,
            ErrorId::IncorrectPassword,
        );
    }
    assert_error(
        &offline(&app, "amy", &wrong(&otp), &session).await,
        ErrorId::PasscodeRetriesExceeded,
    );
    // The session is closed: even the right code is refused now.
    assert_error(&offline(&app, "amy", &otp, &session).await, ErrorId::SessionAlreadyUsed);
    // Default: three wrong codes (20513, 20513, 20514).
    set(&app, "attempts_per_session", "3").await;
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    for expected in [
        ErrorId::IncorrectPassword,
        ErrorId::IncorrectPassword,
        ErrorId::PasscodeRetriesExceeded,
    ] {
        assert_error(&offline(&app, "amy", &wrong(&otp), &session).await, expected);
    }
    // While attempts remain, the right code still succeeds.
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    assert_error(
        &offline(&app, "amy", &wrong(&otp), &session).await,
        ErrorId::IncorrectPassword,
    );
    assert_ok(&offline(&app, "amy", &otp, &session).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn e20532_a_totp_code_spent_on_one_session_is_refused_on_another() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    pair(&app, "ann", "AUTHENTICATOR_APP", &data_encoding::BASE32.encode(SEED)).await;
    let first = start(&app, "ann").await;
    assert_error(&first, ErrorId::EnterAuthenticatorAppOtp);
    let second = start(&app, "ann").await;
    assert_error(&second, ErrorId::EnterAuthenticatorAppOtp);
    let (s1, s2) = (session_of(&first), session_of(&second));
    assert_ne!(s1, s2);
    let code = totp_at(now_ms(&app));
    let mut tasks = Vec::new();
    for session in [s1.clone(), s2.clone()] {
        let client = app.client.clone();
        let body = json!({"spAlias": "web", "userName": "ann", "otp": code, "sessionId": session});
        tasks.push(tokio::spawn(async move {
            client.call_raw("authoffline", &body).await.unwrap()
        }));
    }
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    let codes: Vec<u32> = replies.iter().map(|r| r.error_id).collect();
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    for reply in &replies {
        if reply.error_id == 200 {
            assert_ok(reply);
        } else {
            assert_error(reply, ErrorId::PasscodeAlreadyUsed);
        }
    }
    let step = now_ms(&app) / 1000 / 30;
    assert_eq!(app.store().devices_of(ann).await.unwrap()[0].counter, Some(step));
    // A third session: the spent code again is 20532; the next step's code works.
    let third = start(&app, "ann").await;
    let s3 = session_of(&third);
    assert_error(&offline(&app, "ann", &code, &s3).await, ErrorId::PasscodeAlreadyUsed);
    app.clock.advance(30_000);
    assert_ok(&offline(&app, "ann", &totp_at(now_ms(&app)), &s3).await);
}

#[tokio::test]
async fn e20532_a_reused_hotp_token_code() {
    let app = TestApp::start().await;
    hotp_stock(&app).await;
    let tia = add_user(&app, "tia").await;
    pair(&app, "tia", "TOKEN", "HT-1").await;
    let reply = start(&app, "tia").await;
    assert_error(&reply, ErrorId::EnterOathTokenOtp);
    assert_ok(&offline(&app, "tia", &hotp(0), &session_of(&reply)).await);
    let reply = start(&app, "tia").await;
    let session = session_of(&reply);
    assert_error(
        &offline(&app, "tia", &hotp(0), &session).await,
        ErrorId::PasscodeAlreadyUsed,
    );
    assert_ok(&offline(&app, "tia", &hotp(1), &session).await);
    assert_eq!(app.store().devices_of(tia).await.unwrap()[0].counter, Some(2));
}

#[tokio::test]
async fn e20532_an_older_spent_hotp_code() {
    // error-conditions.md: 20532 is "an OTP that was valid once but is spent: replayed
    // code". A code accepted two logins ago is such a code, not a wrong one.
    let app = TestApp::start().await;
    hotp_stock(&app).await;
    add_user(&app, "tia").await;
    pair(&app, "tia", "TOKEN", "HT-1").await;
    for counter in 0..2 {
        let reply = start(&app, "tia").await;
        assert_ok(&offline(&app, "tia", &hotp(counter), &session_of(&reply)).await);
    }
    let reply = start(&app, "tia").await;
    assert_error(
        &offline(&app, "tia", &hotp(0), &session_of(&reply)).await,
        ErrorId::PasscodeAlreadyUsed,
    );
}

#[tokio::test]
async fn e20532_a_totp_step_before_the_last_accepted_one() {
    let app = TestApp::start().await;
    add_user(&app, "ann").await;
    pair(&app, "ann", "AUTHENTICATOR_APP", &data_encoding::BASE32.encode(SEED)).await;
    let earlier = totp_at(now_ms(&app));
    app.clock.advance(30_000);
    let reply = start(&app, "ann").await;
    assert_ok(&offline(&app, "ann", &totp_at(now_ms(&app)), &session_of(&reply)).await);
    // The previous step's code is still inside the drift window, but at or before the
    // last accepted step.
    let reply = start(&app, "ann").await;
    assert_error(
        &offline(&app, "ann", &earlier, &session_of(&reply)).await,
        ErrorId::PasscodeAlreadyUsed,
    );
}

#[tokio::test]
async fn e20532_a_reused_yubikey_otp() {
    let app = TestApp::start().await;
    yubi::import(&app).await;
    add_user(&app, "yan").await;
    assert_ok(&call(&app, "pairyubikey", json!({"username": "yan", "otp": yubi::otp(3, 0)})).await);
    let reply = start(&app, "yan").await;
    assert_error(&reply, ErrorId::EnterYubikeyOtp);
    let session = session_of(&reply);
    // The pairing OTP is spent already.
    assert_error(
        &offline(&app, "yan", &yubi::otp(3, 0), &session).await,
        ErrorId::PasscodeAlreadyUsed,
    );
    assert_ok(&offline(&app, "yan", &yubi::otp(3, 1), &session).await);
    let reply = start(&app, "yan").await;
    let session = session_of(&reply);
    for stale in [yubi::otp(3, 1), yubi::otp(2, 200)] {
        assert_error(
            &offline(&app, "yan", &stale, &session).await,
            ErrorId::PasscodeAlreadyUsed,
        );
    }
}

#[tokio::test]
async fn e20526_lockout_across_sessions_then_unlocked_by_time() {
    let app = TestApp::start().await;
    set(&app, "lockout_threshold", "3").await;
    set(&app, "lockout_secs", "120").await;
    user_with_sms(&app, "amy", PHONE).await;
    let (s1, c1) = start_sms(&app, "amy", PHONE).await;
    for _ in 0..2 {
        assert_error(
            &offline(&app, "amy", &wrong(&c1), &s1).await,
            ErrorId::IncorrectPassword,
        );
    }
    let (s2, c2) = start_sms(&app, "amy", PHONE).await;
    // The third consecutive failure (in another session) reaches the threshold.
    let third = offline(&app, "amy", &wrong(&c2), &s2).await;
    match third.error_id {
        20526 => assert_error(&third, ErrorId::AccountTemporarilyLocked),
        _ => assert_error(&third, ErrorId::IncorrectPassword),
    }
    // Locked: a new start, and even the right code on an open session, are refused.
    assert_error(&start(&app, "amy").await, ErrorId::AccountTemporarilyLocked);
    assert_error(&offline(&app, "amy", &c2, &s2).await, ErrorId::AccountTemporarilyLocked);
    assert_error(
        &call(
            &app,
            "authonline",
            json!({"spAlias": "web", "userName": "amy", "authType": "OTP"}),
        )
        .await,
        ErrorId::AccountTemporarilyLocked,
    );
    app.clock.advance(119_000);
    assert_error(&start(&app, "amy").await, ErrorId::AccountTemporarilyLocked);
    // After lockout_secs the user authenticates again.
    app.clock.advance(1_001);
    let (s3, c3) = start_sms(&app, "amy", PHONE).await;
    assert_ok(&offline(&app, "amy", &c3, &s3).await);
    // A success resets the count: two failures, a success, two failures do not lock.
    let (s4, c4) = start_sms(&app, "amy", PHONE).await;
    for _ in 0..2 {
        assert_error(
            &offline(&app, "amy", &wrong(&c4), &s4).await,
            ErrorId::IncorrectPassword,
        );
    }
    assert_ok(&offline(&app, "amy", &c4, &s4).await);
    let (s5, c5) = start_sms(&app, "amy", PHONE).await;
    for _ in 0..2 {
        assert_error(
            &offline(&app, "amy", &wrong(&c5), &s5).await,
            ErrorId::IncorrectPassword,
        );
    }
    assert_error(&start(&app, "amy").await, ErrorId::EnterSmsOtp);
}

#[tokio::test]
async fn e20524_admin_lock() {
    let app = TestApp::start().await;
    user_with_sms(&app, "amy", PHONE).await;
    let org = app.core.find_org("default").await.unwrap();
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    app.core.set_user_guard(&org, "amy", Some(true), None).await.unwrap();
    let sent = app.sender.messages().len();
    assert_error(&start(&app, "amy").await, ErrorId::UserLocked);
    assert_eq!(app.sender.messages().len(), sent, "no code for a locked user");
    assert_error(&offline(&app, "amy", &otp, &session).await, ErrorId::UserLocked);
    assert_error(
        &call(
            &app,
            "authonline",
            json!({"spAlias": "web", "userName": "amy", "authType": "OTP"}),
        )
        .await,
        ErrorId::UserLocked,
    );
    // Time does not clear it; the admin does.
    app.clock.advance(86_400_000);
    assert_error(&start(&app, "amy").await, ErrorId::UserLocked);
    app.core.set_user_guard(&org, "amy", Some(false), None).await.unwrap();
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    assert_ok(&offline(&app, "amy", &otp, &session).await);
}

#[tokio::test]
async fn e20565_otp_block() {
    let app = TestApp::start().await;
    user_with_sms(&app, "amy", PHONE).await;
    let org = app.core.find_org("default").await.unwrap();
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    app.core.set_user_guard(&org, "amy", None, Some(true)).await.unwrap();
    let sent = app.sender.messages().len();
    assert_error(&start(&app, "amy").await, ErrorId::OtpBlocked);
    assert_eq!(app.sender.messages().len(), sent);
    assert_error(&offline(&app, "amy", &otp, &session).await, ErrorId::OtpBlocked);
    app.core.set_user_guard(&org, "amy", None, Some(false)).await.unwrap();
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    assert_ok(&offline(&app, "amy", &otp, &session).await);
}

#[tokio::test]
async fn e20548_resend_limit_per_phone_in_ten_minutes() {
    let app = TestApp::start().await;
    set(&app, "resend_limit", "2").await;
    user_with_sms(&app, "amy", PHONE).await;
    start_sms(&app, "amy", PHONE).await;
    app.clock.advance(60_000);
    start_sms(&app, "amy", PHONE).await;
    app.clock.advance(60_000);
    let sent = app.sender.messages().len();
    assert_error(&start(&app, "amy").await, ErrorId::TooManyOtpSends);
    assert_eq!(app.sender.messages().len(), sent, "the third code was not sent");
    // Ten minutes after the first send, one more is allowed.
    app.clock.advance(8 * 60_000 + 1);
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    assert_ok(&offline(&app, "amy", &otp, &session).await);
}

#[tokio::test]
async fn e20537_suspended_user() {
    let app = TestApp::start().await;
    user_with_sms(&app, "amy", PHONE).await;
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    assert_ok(&app.client.suspend_user("amy").await.unwrap());
    assert_error(&start(&app, "amy").await, ErrorId::AccountSuspended);
    assert_error(&offline(&app, "amy", &otp, &session).await, ErrorId::AccountSuspended);
    assert_error(
        &call(
            &app,
            "authonline",
            json!({"spAlias": "web", "userName": "amy", "authType": "OTP"}),
        )
        .await,
        ErrorId::AccountSuspended,
    );
    assert_error(
        &call(
            &app,
            "authonline",
            json!({"spAlias": "rescuecode", "userName": "amy", "authType": "ONE_TIME_DEVICE",
                   "deviceType": "Email", "deviceData": "x@example.org"}),
        )
        .await,
        ErrorId::AccountSuspended,
    );
}

#[tokio::test]
async fn e20515_user_without_devices() {
    let app = TestApp::start().await;
    add_user(&app, "amy").await;
    assert_error(&start(&app, "amy").await, ErrorId::NoPairedDevice);
    app.make_active("amy").await;
    assert_error(&start(&app, "amy").await, ErrorId::NoPairedDevice);
    for auth_type in ["OTP", "CONFIRM"] {
        assert_error(
            &call(
                &app,
                "authonline",
                json!({"spAlias": "web", "userName": "amy", "authType": auth_type}),
            )
            .await,
            ErrorId::NoPairedDevice,
        );
    }
    assert!(app.sender.messages().is_empty());
}

#[tokio::test]
async fn e20541_unknown_user() {
    let app = TestApp::start().await;
    user_with_sms(&app, "amy", PHONE).await;
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    assert_error(&start(&app, "ghost").await, ErrorId::UserNotDefined);
    assert_error(&offline(&app, "ghost", &otp, &session).await, ErrorId::UserNotDefined);
    for auth_type in ["OTP", "CONFIRM"] {
        assert_error(
            &call(
                &app,
                "authonline",
                json!({"spAlias": "web", "userName": "ghost", "authType": auth_type}),
            )
            .await,
            ErrorId::UserNotDefined,
        );
    }
}

#[tokio::test]
async fn e20520_malformed_username() {
    let app = TestApp::start().await;
    user_with_sms(&app, "amy", PHONE).await;
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    let long = "a".repeat(251);
    for bad in ["", long.as_str(), "   ", "a\u{7}b"] {
        assert_error(&start(&app, bad).await, ErrorId::AuthInvalidUsername);
        assert_error(&offline(&app, bad, &otp, &session).await, ErrorId::AuthInvalidUsername);
        assert_error(
            &call(
                &app,
                "authonline",
                json!({"spAlias": "web", "userName": bad, "authType": "OTP"}),
            )
            .await,
            ErrorId::AuthInvalidUsername,
        );
    }
    // 250 characters is a well-formed name (of nobody).
    assert_error(&start(&app, &"a".repeat(250)).await, ErrorId::UserNotDefined);
}

#[tokio::test]
async fn e20519_unknown_sp_alias() {
    let app = TestApp::start().await;
    user_with_sms(&app, "amy", PHONE).await;
    let (session, otp) = start_sms(&app, "amy", PHONE).await;
    assert_error(
        &call(
            &app,
            "startauthentication",
            json!({"spAlias": "nosuch", "userName": "amy"}),
        )
        .await,
        ErrorId::AuthServiceProviderNotFound,
    );
    assert_error(
        &call(
            &app,
            "authoffline",
            json!({"spAlias": "nosuch", "userName": "amy", "otp": otp, "sessionId": session}),
        )
        .await,
        ErrorId::AuthServiceProviderNotFound,
    );
    assert_error(
        &call(
            &app,
            "authonline",
            json!({"spAlias": "nosuch", "userName": "amy", "authType": "OTP"}),
        )
        .await,
        ErrorId::AuthServiceProviderNotFound,
    );
    // The session was not touched.
    assert_ok(&offline(&app, "amy", &otp, &session).await);
}

#[tokio::test]
async fn e20527_device_of_another_user() {
    let app = TestApp::start().await;
    user_with_sms(&app, "amy", PHONE).await;
    add_user(&app, "bob").await;
    let bobs = pair(&app, "bob", "SMS", PHONE_2).await;
    for device in [json!(bobs), json!(bobs.to_string()), json!(123_456_789)] {
        assert_error(
            &call(
                &app,
                "startauthentication",
                json!({"spAlias": "web", "userName": "amy", "deviceId": device}),
            )
            .await,
            ErrorId::InvalidDevice,
        );
    }
    assert!(app.sender.messages().is_empty(), "nothing sent to bob's phone");
    // Also when choosing in device-selection mode.
    set(&app, "device_selection", "true").await;
    pair(&app, "amy", "EMAIL", EMAIL).await;
    let reply = start(&app, "amy").await;
    assert_error(&reply, ErrorId::MultipleDevicesSelection);
    assert_error(
        &call(
            &app,
            "startauthentication",
            json!({"spAlias": "web", "userName": "amy", "sessionId": session_of(&reply), "deviceId": bobs}),
        )
        .await,
        ErrorId::InvalidDevice,
    );
}

#[tokio::test]
async fn e20531_authonline_confirm_for_otp_only_devices() {
    let app = TestApp::start().await;
    user_with_sms(&app, "amy", PHONE).await;
    for auth_type in [
        "CONFIRM",
        "FINGERPRINT_PERMISSIVE",
        "FINGERPRINT_RESTRICTIVE",
        "FINGERPRINT_HARD_RESTRICTIVE",
    ] {
        assert_error(
            &call(
                &app,
                "authonline",
                json!({"spAlias": "web", "userName": "amy", "authType": auth_type}),
            )
            .await,
            ErrorId::ServiceNotSupported,
        );
    }
    assert!(app.sender.messages().is_empty());
}

#[tokio::test]
async fn e20529_org_alias_mismatch_on_auth_ops() {
    let app = TestApp::start().await;
    user_with_sms(&app, "amy", PHONE).await;
    let p = app.properties();
    let key = p.key_bytes().unwrap();
    let header = json!({"alg": "HS256", "orgAlias": p.org_alias, "token": p.token}).to_string();
    for (op, body) in [
        ("startauthentication", json!({"spAlias": "web", "userName": "amy"})),
        (
            "authonline",
            json!({"spAlias": "web", "userName": "amy", "authType": "OTP"}),
        ),
        (
            "authoffline",
            json!({"spAlias": "web", "userName": "amy", "otp": "123456", "sessionId": "webs_x"}),
        ),
        (
            "cancelauthentication",
            json!({"sessionId": "webs_x", "cancelAuthenticationType": "DEFAULT"}),
        ),
    ] {
        let payload = json!({
            "reqHeader": {"orgAlias": "11111111-2222-3333-4444-555555555555", "secretKey": p.token, "version": "4.9"},
            "reqBody": body,
        })
        .to_string();
        let jws = sign_compact(Alg::HS256, &key, header.as_bytes(), payload.as_bytes());
        let reply = app.client.send_text(op, jws).await.unwrap();
        assert_error(&reply, ErrorId::AuthInvalidOrganization);
    }
    // The JWS header naming another organization: also 20529 (read raw: the answer is
    // signed under the token's own organization).
    let payload = json!({"reqHeader": {}, "reqBody": {"spAlias": "web", "userName": "amy"}}).to_string();
    let other = json!({"alg": "HS256", "orgAlias": "another-org", "token": p.token}).to_string();
    let jws = sign_compact(Alg::HS256, &key, other.as_bytes(), payload.as_bytes());
    let (status, body) = raw_post(&app, "startauthentication", &jws).await;
    assert_eq!((status, body["errorId"].clone()), (400, json!(20529)), "{body}");
    assert_eq!(body["errorMsg"], ErrorId::AuthInvalidOrganization.message());
    assert!(app.sender.messages().is_empty(), "nothing ran");
}

#[tokio::test]
async fn e20534_no_device_the_organization_allows() {
    let app = TestApp::start().await;
    user_with_sms(&app, "una", "+13035550777").await;
    let org = app.core.find_org("default").await.unwrap();
    app.core
        .set_org_setting(&org, "sms_voice_enabled", "false")
        .await
        .unwrap();
    let reply = app
        .client
        .call_raw("startauthentication", &json!({"spAlias": "web", "userName": "una"}))
        .await
        .unwrap();
    assert_error(&reply, ErrorId::NoUsableDevice);
    assert!(app.sender.last_otp_to("+13035550777").is_none(), "nothing was sent");
    // With an email device as well, the email device is used instead of the SMS primary.
    let reply = app
        .client
        .call_raw(
            "offlinepairing",
            &json!({"username": "una", "type": "EMAIL", "pairingData": "una@example.org"}),
        )
        .await
        .unwrap();
    assert_ok(&reply);
    let reply = app
        .client
        .call_raw("startauthentication", &json!({"spAlias": "web", "userName": "una"}))
        .await
        .unwrap();
    assert_eq!((reply.http_status, reply.error_id), (200, 30005));
}

/// A store failure while approving spends nothing and approves nothing: the session is
/// given back, and the same code then signs the user in on the same session.
#[tokio::test]
async fn a_failed_approval_leaves_the_session_and_the_code_for_the_next_try() {
    let app = TestApp::start().await;
    add_user(&app, "app").await;
    pair(&app, "app", "AUTHENTICATOR_APP", &data_encoding::BASE32.encode(SEED)).await;
    let session = session_of(&start(&app, "app").await);
    let code = totp_at(now_ms(&app));
    app.faults.fail("approve_session", twofold_testkit::Fault::Unavailable);
    let failed = offline(&app, "app", &code, &session).await;
    assert_ne!(failed.error_id, 200);
    assert_ne!(failed.error_id, ErrorId::LoginInProcess.code());
    app.faults.clear();
    let stored = app.faults.inner().auth_session(&session).await.unwrap().unwrap();
    assert_eq!(stored.state, "challenge");
    assert_ok(&offline(&app, "app", &code, &session).await);
    let d = app.client.get_user_details("app").await.unwrap().body["userDetails"].clone();
    assert_eq!(d["lastLogin"], T0_MS);
}
