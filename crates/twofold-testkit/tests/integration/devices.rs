//! Devices and pairing (spec §2.3, §3.2; docs/errors.md): offline pairing with and
//! without a code, authenticator apps, unpairing and device attributes. Every test
//! asserts what a client sees (HTTP status, errorId, message, field types and values)
//! and what the store kept.

use serde_json::{Value, json};
use twofold_client::Reply;
use twofold_core::Clock;
use twofold_core::delivery::{Channel, DeliveryError};
use twofold_core::device::{Device, DeviceType};
use twofold_core::ids::UserId;
use twofold_core::model::{TokenScope, UserStatus};
use twofold_core::store::SmsUsage;
use twofold_factors::hotp::HotpParams;
use twofold_factors::otpauth::{KeyUri, OtpKind};
use twofold_factors::totp::{self, TotpParams};
use twofold_proto::ErrorId;
use twofold_proto::properties::encode_key;
use twofold_testkit::{T0_MS, TestApp};

use crate::{assert_error, assert_ok};

const PHONE: &str = "+13035551234";
const OTHER_PHONE: &str = "+13035559876";
const DAY_MS: i64 = 86_400_000;
const FIVE_MINUTES_MS: i64 = 5 * 60 * 1000;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Adds `name` with an activation code (PENDING_ACTIVATION) and the email
/// `<name>@example.org`; returns its id.
async fn add_user(app: &TestApp, name: &str) -> UserId {
    let reply = app
        .client
        .call_raw(
            "adduser",
            &json!({"username": name, "activateUser": true, "email": format!("{name}@example.org")}),
        )
        .await
        .unwrap();
    assert_ok(&reply);
    app.stored_user(name).await.expect("user stored").id
}

/// Changes one setting of the bootstrap organization (re-reading the org each time, so
/// settings changed earlier are kept).
async fn org_setting(app: &TestApp, key: &str, value: &str) {
    let org = app.core.find_org("default").await.unwrap();
    app.core.set_org_setting(&org, key, value).await.unwrap();
}

async fn call(app: &TestApp, op: &str, body: Value) -> Reply<Value> {
    app.client.call_raw(op, &body).await.unwrap()
}

async fn start(app: &TestApp, name: &str, kind: &str, data: &str) -> Reply<Value> {
    call(
        app,
        "startofflinepairing",
        json!({"username": name, "type": kind, "pairingData": data, "validateUniqueDevice": false}),
    )
    .await
}

async fn start_unique(app: &TestApp, name: &str, kind: &str, data: &str) -> Reply<Value> {
    call(
        app,
        "startofflinepairing",
        json!({"username": name, "type": kind, "pairingData": data, "validateUniqueDevice": true}),
    )
    .await
}

async fn offline(app: &TestApp, name: &str, kind: &str, data: &str) -> Reply<Value> {
    call(
        app,
        "offlinepairing",
        json!({"username": name, "type": kind, "pairingData": data, "validateUniqueDevice": false}),
    )
    .await
}

async fn finalize(app: &TestApp, session: &str, otp: Value) -> Reply<Value> {
    call(app, "finalizeofflinepairing", json!({"sessionId": session, "otp": otp})).await
}

fn session_of(reply: &Reply<Value>) -> String {
    reply.body["sessionId"]
        .as_str()
        .expect("sessionId is a string")
        .to_string()
}

/// The code of the last message the server sent to `to`.
fn code_sent_to(app: &TestApp, to: &str) -> String {
    app.sender.last_otp_to(to).expect("a code was sent")
}

/// startofflinepairing + finalizeofflinepairing with the code that was sent; returns the
/// finalize answer's body.
async fn pair_with_code(app: &TestApp, name: &str, kind: &str, data: &str, to: &str) -> serde_json::Map<String, Value> {
    let started = start(app, name, kind, data).await;
    assert_ok(&started);
    let code = code_sent_to(app, to);
    let done = finalize(app, &session_of(&started), json!(code)).await;
    assert_ok(&done);
    done.body
}

/// offlinepairing that must succeed; returns the new device's id.
async fn pair_offline(app: &TestApp, name: &str, kind: &str, data: &str) -> i64 {
    let reply = offline(app, name, kind, data).await;
    assert_ok(&reply);
    reply.body["deviceId"].as_i64().expect("deviceId is an integer")
}

/// `userDetails` of getuserdetails.
async fn details(app: &TestApp, name: &str) -> Value {
    let reply = call(app, "getuserdetails", json!({"userName": name})).await;
    assert_ok(&reply);
    reply.body["userDetails"].clone()
}

fn device_list(details: &Value) -> Vec<Value> {
    details["devicesDetails"]
        .as_array()
        .expect("devicesDetails is an array")
        .clone()
}

async fn stored_devices(app: &TestApp, user: UserId) -> Vec<Device> {
    app.store().devices_of(user).await.unwrap()
}

async fn stored_status(app: &TestApp, name: &str) -> UserStatus {
    app.stored_user(name).await.unwrap().status
}

async fn sms_usage_today(app: &TestApp, user: UserId) -> SmsUsage {
    app.store()
        .sms_usage(user, app.clock.now_ms().div_euclid(DAY_MS))
        .await
        .unwrap()
}

async fn attr(app: &TestApp, name: &str, device_id: Value, attribute: &str, value: &str) -> Reply<Value> {
    call(
        app,
        "updatedeviceattr",
        json!({"userName": name, "deviceId": device_id, "attributeName": attribute, "attributeValue": value}),
    )
    .await
}

async fn unpair(app: &TestApp, name: &str, device_id: Option<Value>) -> Reply<Value> {
    let body = match device_id {
        Some(id) => json!({"userName": name, "deviceId": id}),
        None => json!({"userName": name}),
    };
    call(app, "unpairdevice", body).await
}

/// Checks the shape of a value against a pattern where `d` is any ASCII digit, `h` any
/// lower-case hex digit, `b` any base64url character, and everything else is literal.
fn shaped(value: &str, pattern: &str) -> bool {
    value.chars().count() == pattern.chars().count()
        && value.chars().zip(pattern.chars()).all(|(c, p)| match p {
            'd' => c.is_ascii_digit(),
            'h' => c.is_ascii_digit() || ('a'..='f').contains(&c),
            'b' => c.is_ascii_alphanumeric() || c == '-' || c == '_',
            other => c == other,
        })
}

fn assert_session_id(value: &Value) {
    let s = value.as_str().expect("sessionId is a string");
    assert!(
        s.starts_with("oacts_") && shaped(&s[6..], &"b".repeat(43)),
        "sessionId {s:?} is oacts_ + 43 base64url characters"
    );
}

fn assert_device_id(value: &Value) -> i64 {
    let id = value
        .as_i64()
        .unwrap_or_else(|| panic!("deviceId {value} is a JSON integer"));
    assert!(value.is_i64() || value.is_u64(), "deviceId {value} is not a float");
    assert!(id > 0 && id < (1_i64 << 53), "deviceId {id} is positive and below 2^53");
    id
}

fn assert_uuid(value: &Value) -> String {
    let s = value.as_str().expect("deviceUuid is a string");
    assert!(
        shaped(s, "hhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh"),
        "deviceUuid {s:?} is a UUID"
    );
    s.to_string()
}

fn assert_enrollment(value: &Value) {
    let s = value.as_str().expect("enrollment is a string");
    assert!(
        shaped(s, "dddd-dd-dd dd:dd:dd.ddd"),
        "enrollment {s:?} is yyyy-MM-dd HH:mm:ss.SSS"
    );
}

fn primaries(devices: &[Value]) -> usize {
    devices.iter().filter(|d| d["deviceRole"] == "PRIMARY").count()
}

fn ids_in_order(devices: &[Value]) -> Vec<i64> {
    devices.iter().map(|d| d["deviceId"].as_i64().unwrap()).collect()
}

/// The code an authenticator app holding the key of `uri` shows now (server time).
fn totp_now(app: &TestApp, uri: &str) -> String {
    let key = KeyUri::parse(uri).expect("pairingKeyUri is an otpauth:// key URI");
    let OtpKind::Totp { period } = key.kind else {
        panic!("pairingKeyUri is a TOTP key: {uri}");
    };
    let params = TotpParams {
        hotp: HotpParams {
            algorithm: key.algorithm,
            digits: key.digits,
        },
        period,
    };
    totp::generate(&key.secret, u64::try_from(app.clock.now_ms() / 1000).unwrap(), params)
}

fn wrong_code(right: &str) -> String {
    if right == "123456" { "654321" } else { "123456" }.to_string()
}

// ---------------------------------------------------------------------------------------
// Happy paths
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn sms_start_and_finalize_pairs_the_device_and_activates_the_user() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;

    let started = start(&app, "ann", "SMS", PHONE).await;
    assert_ok(&started);
    assert_session_id(&started.body["sessionId"]);
    let device_id = assert_device_id(&started.body["deviceId"]);
    let uuid = assert_uuid(&started.body["deviceUuid"]);
    assert_eq!(started.body["tokenType"], Value::Null);

    // One SMS, to the E.164 number, with a 6-digit code (the org default length).
    let messages = app.sender.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].channel, Channel::Sms);
    assert_eq!(messages[0].to, PHONE);
    let code = messages[0].otp.clone();
    assert!(shaped(&code, "dddddd"), "6-digit code");

    // Nothing is paired before the code comes back.
    assert!(stored_devices(&app, ann).await.is_empty());
    assert_eq!(stored_status(&app, "ann").await, UserStatus::PendingActivation);

    let done = finalize(&app, &session_of(&started), json!(code)).await;
    assert_ok(&done);
    assert_eq!(done.body["deviceId"], json!(device_id), "the pre-assigned id");
    assert_eq!(done.body["deviceUuid"], json!(uuid));

    // The user is ACTIVE, and its device object has the spec's fields and types.
    assert_eq!(stored_status(&app, "ann").await, UserStatus::Active);
    let d = details(&app, "ann").await;
    assert_eq!(d["status"], "ACTIVE");
    assert_eq!(d["userEnabled"], true);
    let list = device_list(&d);
    assert_eq!(list.len(), 1);
    assert_eq!(d["deviceDetails"], list[0], "deviceDetails is the primary device");
    let dev = &list[0];
    assert_eq!(assert_device_id(&dev["deviceId"]), device_id);
    assert_eq!(assert_uuid(&dev["deviceUuid"]), uuid);
    assert_eq!(dev["type"], "SMS");
    assert_eq!(dev["deviceRole"], "PRIMARY");
    assert_eq!(dev["nickname"], "SMS 1");
    assert_eq!(dev["displayID"], "+1 3035551234");
    assert_eq!(dev["countryCode"], json!("1"), "countryCode is a string");
    assert_eq!(dev["phoneNumber"], json!("3035551234"), "phoneNumber is a string");
    assert_eq!(dev["email"], Value::Null);
    assert_enrollment(&dev["enrollment"]);
    assert_eq!(dev["availableClaimedSms"], json!(49));
    assert_eq!(dev["availableNotClaimedSms"], json!(50));
    assert_eq!(dev["sentClaimedSms"], json!(-1));
    assert_eq!(dev["sentNotClaimedSms"], json!(-1));
    assert_eq!(dev["pushEnabled"], false);
    assert_eq!(dev["hasWatch"], false);

    // Stored row.
    let rows = stored_devices(&app, ann).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!((row.id.0, row.uuid.as_str()), (device_id, uuid.as_str()));
    assert_eq!(row.kind, DeviceType::Sms);
    assert_eq!(row.position, 1);
    assert_eq!(row.nickname, "SMS 1");
    assert_eq!(row.phone.as_deref(), Some(PHONE));
    assert_eq!(row.user_id, ann);
    assert_eq!(row.enrolled_ms, T0_MS);
    assert_eq!(sms_usage_today(&app, ann).await, SmsUsage { sent: 1, claimed: 1 });

    // The session is spent.
    assert_error(
        &finalize(&app, &session_of(&started), json!(code)).await,
        ErrorId::SessionAlreadyUsed,
    );
    assert_eq!(stored_devices(&app, ann).await.len(), 1);
}

#[tokio::test]
async fn a_second_sms_device_is_sms_2_and_secondary() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    let first = pair_with_code(&app, "ann", "SMS", PHONE, PHONE).await;
    let second = pair_with_code(&app, "ann", "SMS", "1 (303) 555-9876", OTHER_PHONE).await;

    let d = details(&app, "ann").await;
    let list = device_list(&d);
    assert_eq!(list.len(), 2);
    assert_eq!(
        ids_in_order(&list),
        vec![
            first["deviceId"].as_i64().unwrap(),
            second["deviceId"].as_i64().unwrap()
        ]
    );
    assert_eq!(
        (&list[0]["nickname"], &list[0]["deviceRole"]),
        (&json!("SMS 1"), &json!("PRIMARY"))
    );
    assert_eq!(
        (&list[1]["nickname"], &list[1]["deviceRole"]),
        (&json!("SMS 2"), &json!("SECONDARY"))
    );
    assert_eq!(list[1]["displayID"], "+1 3035559876");
    assert_eq!(d["deviceDetails"], list[0]);
    // Two codes used today: the quota is the user's, shown on every SMS/voice device.
    for dev in &list {
        assert_eq!(dev["availableClaimedSms"], json!(48));
        assert_eq!(dev["availableNotClaimedSms"], json!(50));
    }
    let rows = stored_devices(&app, ann).await;
    assert_eq!(
        rows.iter()
            .map(|r| (r.position, r.nickname.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "SMS 1"), (2, "SMS 2")]
    );
}

#[tokio::test]
async fn email_and_voice_pairing() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;

    // Email.
    let started = start(&app, "ann", "EMAIL", "ann.work@example.org").await;
    assert_ok(&started);
    assert_session_id(&started.body["sessionId"]);
    let msg = app.sender.last_to("ann.work@example.org").expect("email sent");
    assert_eq!(msg.channel, Channel::Email);
    assert!(shaped(&msg.otp, "dddddd"));
    let done = finalize(&app, &session_of(&started), json!(msg.otp)).await;
    assert_ok(&done);
    let email_id = assert_device_id(&done.body["deviceId"]);

    // Voice, with an extension dialled after the call connects.
    let voice_target = format!("{PHONE},,12#");
    let started = start(&app, "ann", "VOICE", &voice_target).await;
    assert_ok(&started);
    let msg = app.sender.messages().last().cloned().expect("voice call placed");
    assert_eq!(msg.channel, Channel::Voice);
    assert_eq!(msg.to, voice_target, "the gateway dials the extension");
    let done = finalize(&app, &session_of(&started), json!(msg.otp)).await;
    assert_ok(&done);
    let voice_id = assert_device_id(&done.body["deviceId"]);

    let d = details(&app, "ann").await;
    assert_eq!(d["status"], "ACTIVE");
    let list = device_list(&d);
    assert_eq!(ids_in_order(&list), vec![email_id, voice_id]);
    let email = &list[0];
    assert_eq!(email["type"], "Email");
    assert_eq!(email["nickname"], "Email 1");
    assert_eq!(email["deviceRole"], "PRIMARY");
    assert_eq!(email["displayID"], "ann.work@example.org");
    assert_eq!(email["email"], "ann.work@example.org");
    assert_eq!(email["phoneNumber"], Value::Null);
    assert_eq!(email["countryCode"], Value::Null);
    assert_enrollment(&email["enrollment"]);
    let voice = &list[1];
    assert_eq!(voice["type"], "Voice");
    assert_eq!(voice["nickname"], "Voice 1");
    assert_eq!(voice["deviceRole"], "SECONDARY");
    assert_eq!(voice["displayID"], "+1 3035551234");
    assert_eq!(voice["countryCode"], json!("1"));
    assert!(
        voice["phoneNumber"]
            .as_str()
            .is_some_and(|p| p.starts_with("3035551234")),
        "phoneNumber is the national number: {}",
        voice["phoneNumber"]
    );
    assert_eq!(voice["email"], Value::Null);
    // The voice code counts against the SMS/voice quota; the email code does not.
    assert_eq!(voice["availableClaimedSms"], json!(49));
    assert_eq!(voice["availableNotClaimedSms"], json!(50));

    let rows = stored_devices(&app, ann).await;
    assert_eq!(rows[0].kind, DeviceType::Email);
    assert_eq!(rows[0].email.as_deref(), Some("ann.work@example.org"));
    assert_eq!(rows[1].kind, DeviceType::Voice);
    assert_eq!(rows[1].phone.as_deref(), Some(voice_target.as_str()));
    assert_eq!(sms_usage_today(&app, ann).await, SmsUsage { sent: 1, claimed: 1 });
}

#[tokio::test]
async fn authenticator_app_start_and_finish() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    let started = call(
        &app,
        "authenticatorappstartpairing",
        json!({"username": "ann", "pairingType": "TOTP"}),
    )
    .await;
    assert_ok(&started);
    assert_session_id(&started.body["sessionId"]);
    let device_id = assert_device_id(&started.body["deviceId"]);
    let uuid = assert_uuid(&started.body["deviceUuid"]);
    let uri = started.body["pairingKeyUri"]
        .as_str()
        .expect("pairingKeyUri is a string")
        .to_string();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let query = uri.split_once('?').map(|(_, q)| q).unwrap_or("");
    assert!(
        query.split('&').any(|p| p.starts_with("secret=")) && query.split('&').any(|p| p.starts_with("issuer=")),
        "secret and issuer parameters: {uri}"
    );
    let key = KeyUri::parse(&uri).unwrap();
    let org = app.core.find_org("default").await.unwrap();
    assert_eq!(key.issuer.as_deref(), Some(org.name.as_str()), "issuer is the org name");
    assert_eq!(key.account, "ann@example.org", "account is the user's email");
    assert!(key.secret.len() >= 10, "at least 80 bits of secret");
    // pairingKey is the same secret in base32, in groups of four for typing by hand.
    let grouped = started.body["pairingKey"].as_str().expect("pairingKey is a string");
    let groups: Vec<&str> = grouped.split(' ').collect();
    assert!(groups.iter().all(|g| !g.is_empty() && g.len() <= 4), "{grouped}");
    assert!(groups[..groups.len() - 1].iter().all(|g| g.len() == 4), "{grouped}");
    assert_eq!(groups.concat(), data_encoding::BASE32_NOPAD.encode(&key.secret));
    // Nothing is sent, nothing paired yet.
    assert!(app.sender.messages().is_empty());
    assert!(stored_devices(&app, ann).await.is_empty());

    // A code that is not digits is malformed input; a wrong one counts as an attempt.
    let session = session_of(&started);
    assert_error(
        &call(
            &app,
            "authenticatorappfinishpairing",
            json!({"sessionId": session, "otp": "12a456"}),
        )
        .await,
        ErrorId::InvalidInput,
    );
    let right = totp_now(&app, &uri);
    assert_error(
        &call(
            &app,
            "authenticatorappfinishpairing",
            json!({"sessionId": session, "otp": wrong_code(&right)}),
        )
        .await,
        ErrorId::IncorrectPassword,
    );

    app.clock.advance(7_000);
    let code = totp_now(&app, &uri);
    let done = call(
        &app,
        "authenticatorappfinishpairing",
        json!({"sessionId": session, "otp": code}),
    )
    .await;
    assert_ok(&done);
    assert_eq!(done.body["deviceId"], json!(device_id));
    assert_eq!(done.body["deviceUuid"], json!(uuid));

    let d = details(&app, "ann").await;
    assert_eq!(d["status"], "ACTIVE");
    let list = device_list(&d);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["type"], "Authenticator App");
    assert_eq!(list[0]["nickname"], "Authenticator App 1");
    assert_eq!(list[0]["deviceRole"], "PRIMARY");
    assert_eq!(list[0]["phoneNumber"], Value::Null);
    assert_enrollment(&list[0]["enrollment"]);
    let rows = stored_devices(&app, ann).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].kind, DeviceType::AuthenticatorApp);
    assert_eq!(rows[0].uuid, uuid);
    assert!(rows[0].sealed_secret.is_some(), "the secret is kept, sealed");
    assert_eq!(
        rows[0].counter,
        Some((app.clock.now_ms() / 1000 / 30) as i64),
        "the accepted step is recorded"
    );

    // The session is spent.
    assert_error(
        &call(
            &app,
            "authenticatorappfinishpairing",
            json!({"sessionId": session, "otp": code}),
        )
        .await,
        ErrorId::SessionAlreadyUsed,
    );
}

#[tokio::test]
async fn offlinepairing_pairs_every_type_without_sending_anything() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    let cases = [
        ("SMS", PHONE, "SMS", "SMS 1"),
        ("VOICE", "+442079460000", "Voice", "Voice 1"),
        ("EMAIL", "ann.home@example.org", "Email", "Email 1"),
        (
            "AUTHENTICATOR_APP",
            "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
            "Authenticator App",
            "Authenticator App 1",
        ),
    ];
    let mut ids = Vec::new();
    for (kind, data, _, _) in cases {
        let reply = offline(&app, "ann", kind, data).await;
        assert_ok(&reply);
        assert_eq!(reply.body["sessionId"], Value::Null, "{kind}: nothing to finish");
        let id = assert_device_id(&reply.body["deviceId"]);
        let uuid = assert_uuid(&reply.body["deviceUuid"]);
        assert_eq!(reply.body["tokenType"], Value::Null, "{kind}");
        ids.push((id, uuid));
    }
    assert!(app.sender.messages().is_empty(), "offlinepairing sends nothing");

    let d = details(&app, "ann").await;
    assert_eq!(d["status"], "ACTIVE");
    let list = device_list(&d);
    assert_eq!(list.len(), 4);
    assert_eq!(primaries(&list), 1);
    for (i, ((_, _, wire, nickname), (id, uuid))) in cases.iter().zip(&ids).enumerate() {
        let dev = &list[i];
        assert_eq!(dev["deviceId"], json!(id));
        assert_eq!(dev["deviceUuid"], json!(uuid));
        assert_eq!(dev["type"], *wire);
        assert_eq!(dev["nickname"], *nickname);
        assert_eq!(dev["deviceRole"], if i == 0 { "PRIMARY" } else { "SECONDARY" });
    }
    assert_eq!(list[1]["countryCode"], json!("44"));
    assert_eq!(list[1]["displayID"], "+44 2079460000");
    assert_eq!(list[2]["displayID"], "ann.home@example.org");
    let rows = stored_devices(&app, ann).await;
    assert_eq!(
        rows.iter().map(|r| r.kind).collect::<Vec<_>>(),
        vec![
            DeviceType::Sms,
            DeviceType::Voice,
            DeviceType::Email,
            DeviceType::AuthenticatorApp
        ]
    );
    assert!(rows[3].sealed_secret.is_some());
    // No code was sent, so no quota was used.
    assert_eq!(sms_usage_today(&app, ann).await, SmsUsage::default());
}

#[tokio::test]
async fn an_otp_sent_as_a_json_number_is_left_padded() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    // Draw codes until one starts with a zero (about one in ten does).
    let mut found = None;
    for _ in 0..200 {
        let started = start(&app, "ann", "EMAIL", "ann@example.org").await;
        assert_ok(&started);
        let code = code_sent_to(&app, "ann@example.org");
        if code.starts_with('0') {
            found = Some((session_of(&started), code));
            break;
        }
    }
    let (session, code) = found.expect("a code with a leading zero within 200 draws");
    let number: u64 = code.parse().unwrap();
    assert!(number.to_string().len() < code.len());
    let done = finalize(&app, &session, json!(number)).await;
    assert_ok(&done);
    assert_eq!(stored_devices(&app, ann).await.len(), 1);
    assert_eq!(stored_status(&app, "ann").await, UserStatus::Active);
}

// ---------------------------------------------------------------------------------------
// Errors of pairing
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn e20513_wrong_code_then_20514_on_the_third_then_20545() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    let started = start(&app, "ann", "SMS", PHONE).await;
    assert_ok(&started);
    let session = session_of(&started);
    let code = code_sent_to(&app, PHONE);
    let wrong = wrong_code(&code);
    assert_error(
        &finalize(&app, &session, json!(wrong)).await,
        ErrorId::IncorrectPassword,
    );
    assert_error(
        &finalize(&app, &session, json!(wrong)).await,
        ErrorId::IncorrectPassword,
    );
    assert_error(
        &finalize(&app, &session, json!(wrong)).await,
        ErrorId::PasscodeRetriesExceeded,
    );
    // The session is closed: even the right code no longer pairs.
    assert_error(
        &finalize(&app, &session, json!(code)).await,
        ErrorId::SessionAlreadyUsed,
    );
    assert!(stored_devices(&app, ann).await.is_empty());
    assert_eq!(stored_status(&app, "ann").await, UserStatus::PendingActivation);
    let stored = app.store().pairing_session(&session).await.unwrap().unwrap();
    assert_eq!(stored.attempts, 3);
    assert_ne!(stored.state, "open");
}

#[tokio::test]
async fn e20517_unknown_expired_and_wrong_kind_sessions() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    let unknown = format!("oacts_{}", "A".repeat(43));
    assert_error(
        &finalize(&app, &unknown, json!("123456")).await,
        ErrorId::InvalidSession,
    );
    assert_error(
        &call(
            &app,
            "authenticatorappfinishpairing",
            json!({"sessionId": unknown, "otp": "123456"}),
        )
        .await,
        ErrorId::InvalidSession,
    );

    // Expiry: the code is valid for 5 minutes.
    let started = start(&app, "ann", "SMS", PHONE).await;
    assert_ok(&started);
    let session = session_of(&started);
    let code = code_sent_to(&app, PHONE);
    app.clock.advance(FIVE_MINUTES_MS - 1);
    assert_error(
        &finalize(&app, &session, json!(wrong_code(&code))).await,
        ErrorId::IncorrectPassword,
    );
    app.clock.advance(2);
    assert_error(&finalize(&app, &session, json!(code)).await, ErrorId::InvalidSession);
    assert!(stored_devices(&app, ann).await.is_empty());

    // A session of the other kind of pairing is not a session of this one.
    let sms = start(&app, "ann", "SMS", PHONE).await;
    assert_ok(&sms);
    let sms_code = code_sent_to(&app, PHONE);
    let app_pairing = call(
        &app,
        "authenticatorappstartpairing",
        json!({"username": "ann", "pairingType": "TOTP"}),
    )
    .await;
    assert_ok(&app_pairing);
    let uri = app_pairing.body["pairingKeyUri"].as_str().unwrap().to_string();
    assert_error(
        &call(
            &app,
            "authenticatorappfinishpairing",
            json!({"sessionId": session_of(&sms), "otp": sms_code}),
        )
        .await,
        ErrorId::InvalidSession,
    );
    assert_error(
        &finalize(&app, &session_of(&app_pairing), json!(totp_now(&app, &uri))).await,
        ErrorId::InvalidSession,
    );
    assert!(stored_devices(&app, ann).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn e20543_fifty_concurrent_finalizes_exactly_one_pairs() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    let started = start(&app, "ann", "SMS", PHONE).await;
    assert_ok(&started);
    let session = session_of(&started);
    let code = code_sent_to(&app, PHONE);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let client = app.client.clone();
        let body = json!({"sessionId": session, "otp": code});
        tasks.push(tokio::spawn(async move {
            client.call_raw("finalizeofflinepairing", &body).await.unwrap()
        }));
    }
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    let codes: Vec<u32> = replies.iter().map(|r| r.error_id).collect();
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    for reply in replies.iter().filter(|r| r.error_id != 200) {
        let expected = match reply.error_id {
            20543 => ErrorId::LoginInProcess,
            _ => ErrorId::SessionAlreadyUsed,
        };
        assert_error(reply, expected);
    }
    let rows = stored_devices(&app, ann).await;
    assert_eq!(rows.len(), 1, "exactly one device");
    assert_eq!(rows[0].nickname, "SMS 1");
    assert_eq!(sms_usage_today(&app, ann).await, SmsUsage { sent: 1, claimed: 1 });
    assert_eq!(stored_status(&app, "ann").await, UserStatus::Active);
}

#[tokio::test]
async fn e20559_invalid_phone_numbers() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    for bad in [
        "call me",
        "",
        "123",
        "+0123456789",
        "+1303555123456789",
        "+1 303 555 12x4",
        "+13035551234,,12#", // an extension is for voice calls only
    ] {
        assert_error(&start(&app, "ann", "SMS", bad).await, ErrorId::InvalidPhoneNumber);
        assert_error(&offline(&app, "ann", "SMS", bad).await, ErrorId::InvalidPhoneNumber);
    }
    for bad in ["call me", "+13035551234,,12a", "00"] {
        assert_error(&start(&app, "ann", "VOICE", bad).await, ErrorId::InvalidPhoneNumber);
    }
    assert!(app.sender.messages().is_empty());
    assert!(stored_devices(&app, ann).await.is_empty());
    assert_eq!(stored_status(&app, "ann").await, UserStatus::PendingActivation);
}

#[tokio::test]
async fn e422_invalid_email_address() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    for bad in [
        "not-an-email",
        "ann@",
        "@example.org",
        "ann@example",
        "ann@example.org, bob@example.org",
        "ann smith@example.org",
    ] {
        assert_error(&start(&app, "ann", "EMAIL", bad).await, ErrorId::InvalidParameterValues);
        assert_error(
            &offline(&app, "ann", "EMAIL", bad).await,
            ErrorId::InvalidParameterValues,
        );
    }
    assert!(app.sender.messages().is_empty());
    assert!(stored_devices(&app, ann).await.is_empty());
}

#[tokio::test]
async fn e20542_unknown_pairing_type() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    assert_error(&start(&app, "ann", "PIGEON", PHONE).await, ErrorId::UnsupportedRequest);
    assert_error(
        &offline(&app, "ann", "PIGEON", PHONE).await,
        ErrorId::UnsupportedRequest,
    );
    // Authenticator apps have their own start operation.
    assert_error(
        &start(&app, "ann", "AUTHENTICATOR_APP", "JBSWY3DPEHPK3PXP").await,
        ErrorId::UnsupportedRequest,
    );
    assert_error(
        &call(
            &app,
            "authenticatorappstartpairing",
            json!({"username": "ann", "pairingType": "HOTP"}),
        )
        .await,
        ErrorId::UnsupportedRequest,
    );
    assert!(app.sender.messages().is_empty());
    assert!(stored_devices(&app, ann).await.is_empty());
}

#[tokio::test]
async fn e20552_e20557_factors_disabled_by_the_org() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    org_setting(&app, "sms_voice_enabled", "false").await;
    assert_error(&start(&app, "ann", "SMS", PHONE).await, ErrorId::SmsVoiceDisabled);
    assert_error(&start(&app, "ann", "VOICE", PHONE).await, ErrorId::SmsVoiceDisabled);
    assert_error(&offline(&app, "ann", "SMS", PHONE).await, ErrorId::SmsVoiceDisabled);
    assert_error(&offline(&app, "ann", "VOICE", PHONE).await, ErrorId::SmsVoiceDisabled);
    // Email is still allowed.
    assert_ok(&start(&app, "ann", "EMAIL", "ann@example.org").await);
    app.sender.clear();

    org_setting(&app, "email_enabled", "false").await;
    assert_error(
        &start(&app, "ann", "EMAIL", "ann@example.org").await,
        ErrorId::EmailDisabled,
    );
    assert_error(
        &offline(&app, "ann", "EMAIL", "ann@example.org").await,
        ErrorId::EmailDisabled,
    );
    // The earlier setting is still in force.
    assert_error(&start(&app, "ann", "SMS", PHONE).await, ErrorId::SmsVoiceDisabled);
    assert!(app.sender.messages().is_empty());
    assert!(stored_devices(&app, ann).await.is_empty());
}

#[tokio::test]
async fn e20562_more_devices_than_the_org_allows() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    let bob = add_user(&app, "bob").await;
    org_setting(&app, "max_devices", "1").await;
    pair_offline(&app, "ann", "SMS", PHONE).await;
    assert_error(
        &start(&app, "ann", "EMAIL", "ann@example.org").await,
        ErrorId::DeviceLimitExceeded,
    );
    assert_error(
        &offline(&app, "ann", "EMAIL", "ann@example.org").await,
        ErrorId::DeviceLimitExceeded,
    );
    assert_error(
        &call(
            &app,
            "authenticatorappstartpairing",
            json!({"username": "ann", "pairingType": "TOTP"}),
        )
        .await,
        ErrorId::DeviceLimitExceeded,
    );
    assert!(
        app.sender.messages().is_empty(),
        "no code is sent for a pairing that cannot finish"
    );
    assert_eq!(stored_devices(&app, ann).await.len(), 1);

    // Two pairings started while there was room: only the first to finish pairs.
    let one = start(&app, "bob", "EMAIL", "bob@example.org").await;
    assert_ok(&one);
    let one_code = code_sent_to(&app, "bob@example.org");
    let two = start(&app, "bob", "SMS", OTHER_PHONE).await;
    assert_ok(&two);
    let two_code = code_sent_to(&app, OTHER_PHONE);
    assert_ok(&finalize(&app, &session_of(&one), json!(one_code)).await);
    assert_error(
        &finalize(&app, &session_of(&two), json!(two_code)).await,
        ErrorId::DeviceLimitExceeded,
    );
    let rows = stored_devices(&app, bob).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].kind, DeviceType::Email);
}

#[tokio::test]
async fn e20571_validate_unique_device() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    let bob = add_user(&app, "bob").await;
    pair_offline(&app, "ann", "SMS", PHONE).await;
    pair_offline(&app, "ann", "EMAIL", "shared@example.org").await;

    // The same number, however it is written, whatever the channel.
    for (kind, data) in [("SMS", PHONE), ("SMS", "1 (303) 555-1234"), ("VOICE", "13035551234")] {
        assert_error(
            &start_unique(&app, "bob", kind, data).await,
            ErrorId::DeviceAlreadyInUse,
        );
    }
    assert_error(
        &call(
            &app,
            "offlinepairing",
            json!({"username": "bob", "type": "SMS", "pairingData": PHONE, "validateUniqueDevice": "true"}),
        )
        .await,
        ErrorId::DeviceAlreadyInUse,
    );
    assert_error(
        &start_unique(&app, "bob", "EMAIL", "shared@example.org").await,
        ErrorId::DeviceAlreadyInUse,
    );
    assert!(app.sender.messages().is_empty());
    assert!(stored_devices(&app, bob).await.is_empty());

    // Another number is fine, and so is the owner pairing the number again.
    assert_ok(&start_unique(&app, "bob", "SMS", OTHER_PHONE).await);
    assert_ok(&start_unique(&app, "ann", "SMS", PHONE).await);
    // Without validateUniqueDevice a shared number may be paired.
    let shared = start(&app, "bob", "SMS", PHONE).await;
    assert_ok(&shared);
    assert_ok(&finalize(&app, &session_of(&shared), json!(code_sent_to(&app, PHONE))).await);
    assert_eq!(stored_devices(&app, bob).await.len(), 1);
    assert_eq!(stored_devices(&app, ann).await.len(), 2);
}

#[tokio::test]
async fn e10570_suspended_user_cannot_pair_or_unpair() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    let device = pair_offline(&app, "ann", "SMS", PHONE).await;
    // A pairing started while the user was active...
    let pending = start(&app, "ann", "EMAIL", "ann@example.org").await;
    assert_ok(&pending);
    let pending_code = code_sent_to(&app, "ann@example.org");
    app.sender.clear();

    assert_ok(&app.client.suspend_user("ann").await.unwrap());
    assert_error(
        &start(&app, "ann", "SMS", OTHER_PHONE).await,
        ErrorId::DeviceChangeNotAllowed,
    );
    assert_error(
        &offline(&app, "ann", "SMS", OTHER_PHONE).await,
        ErrorId::DeviceChangeNotAllowed,
    );
    assert_error(
        &call(
            &app,
            "authenticatorappstartpairing",
            json!({"username": "ann", "pairingType": "TOTP"}),
        )
        .await,
        ErrorId::DeviceChangeNotAllowed,
    );
    // ...cannot finish now.
    assert_error(
        &finalize(&app, &session_of(&pending), json!(pending_code)).await,
        ErrorId::DeviceChangeNotAllowed,
    );
    assert_error(
        &unpair(&app, "ann", Some(json!(device))).await,
        ErrorId::DeviceChangeNotAllowed,
    );
    assert_error(&unpair(&app, "ann", None).await, ErrorId::DeviceChangeNotAllowed);
    assert!(app.sender.messages().is_empty());
    let rows = stored_devices(&app, ann).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id.0, device);
    assert_eq!(stored_status(&app, "ann").await, UserStatus::Suspended);
}

#[tokio::test]
async fn e20551_sms_send_failure_creates_nothing_and_a_retry_works() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    for failure in [
        DeliveryError::Transient("gateway timed out".into()),
        DeliveryError::Permanent("gateway refused".into()),
    ] {
        app.sender.fail_always(Some(failure));
        let reply = start(&app, "ann", "SMS", PHONE).await;
        assert_error(&reply, ErrorId::SmsSendFailed);
        assert!(
            reply.body.get("sessionId").is_none_or(Value::is_null),
            "no session is handed out: {:?}",
            reply.body
        );
        assert!(
            !reply.error_msg.as_deref().unwrap_or("").contains("gateway"),
            "the cause stays in the log"
        );
        app.sender.clear();
    }
    assert!(stored_devices(&app, ann).await.is_empty());
    assert_eq!(stored_status(&app, "ann").await, UserStatus::PendingActivation);
    assert_eq!(
        sms_usage_today(&app, ann).await,
        SmsUsage::default(),
        "nothing was sent"
    );

    let started = start(&app, "ann", "SMS", PHONE).await;
    assert_ok(&started);
    assert_eq!(app.sender.messages().len(), 1);
    assert_ok(&finalize(&app, &session_of(&started), json!(code_sent_to(&app, PHONE))).await);
    assert_eq!(stored_devices(&app, ann).await.len(), 1);
    let d = details(&app, "ann").await;
    assert_eq!(d["deviceDetails"]["availableClaimedSms"], json!(49));
    assert_eq!(d["deviceDetails"]["availableNotClaimedSms"], json!(50));
}

#[tokio::test]
async fn e20558_email_and_voice_send_failures_create_nothing_and_a_retry_works() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    app.sender
        .fail_always(Some(DeliveryError::Transient("smtp timed out".into())));
    let reply = start(&app, "ann", "EMAIL", "ann@example.org").await;
    assert_error(&reply, ErrorId::OtpSendFailed);
    assert!(reply.body.get("sessionId").is_none_or(Value::is_null));
    let reply = start(&app, "ann", "VOICE", PHONE).await;
    assert_error(&reply, ErrorId::OtpSendFailed);
    assert!(reply.body.get("sessionId").is_none_or(Value::is_null));
    assert!(app.sender.attempts() >= 2);
    assert!(stored_devices(&app, ann).await.is_empty());
    assert_eq!(sms_usage_today(&app, ann).await, SmsUsage::default());

    app.sender.clear();
    pair_with_code(&app, "ann", "EMAIL", "ann@example.org", "ann@example.org").await;
    pair_with_code(&app, "ann", "VOICE", PHONE, PHONE).await;
    assert_eq!(stored_devices(&app, ann).await.len(), 2);
    assert_eq!(app.sender.messages().len(), 2);
}

#[tokio::test]
async fn e20564_daily_limit_of_unused_sms_codes() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    org_setting(&app, "sms_daily_unclaimed", "1").await;
    let first = start(&app, "ann", "SMS", PHONE).await;
    assert_ok(&first);
    assert_error(
        &start(&app, "ann", "SMS", PHONE).await,
        ErrorId::DailyUnclaimedSmsLimitExceeded,
    );
    // Voice shares the quota; email does not count.
    assert_error(
        &start(&app, "ann", "VOICE", PHONE).await,
        ErrorId::DailyUnclaimedSmsLimitExceeded,
    );
    assert_eq!(app.sender.messages().len(), 1, "no code was sent over the limit");
    assert_ok(&start(&app, "ann", "EMAIL", "ann@example.org").await);
    assert_eq!(sms_usage_today(&app, ann).await, SmsUsage { sent: 1, claimed: 0 });
    // The first code is still good.
    assert_ok(&finalize(&app, &session_of(&first), json!(code_sent_to(&app, PHONE))).await);
    assert_eq!(stored_devices(&app, ann).await.len(), 1);
}

#[tokio::test]
async fn e20563_daily_limit_of_used_sms_codes() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    org_setting(&app, "sms_daily_claimed", "1").await;
    pair_with_code(&app, "ann", "SMS", PHONE, PHONE).await;
    let d = details(&app, "ann").await;
    assert_eq!(d["deviceDetails"]["availableClaimedSms"], json!(0));
    assert_eq!(d["deviceDetails"]["availableNotClaimedSms"], json!(50));
    app.sender.clear();
    assert_error(
        &start(&app, "ann", "SMS", OTHER_PHONE).await,
        ErrorId::DailyClaimedSmsLimitExceeded,
    );
    assert_error(
        &start(&app, "ann", "VOICE", OTHER_PHONE).await,
        ErrorId::DailyClaimedSmsLimitExceeded,
    );
    assert!(app.sender.messages().is_empty());
    assert_eq!(stored_devices(&app, ann).await.len(), 1);
    // A new (UTC) day, a new quota.
    app.clock.advance(DAY_MS);
    assert_ok(&start(&app, "ann", "SMS", OTHER_PHONE).await);
}

#[tokio::test]
async fn e20571_a_voice_extension_does_not_hide_a_paired_number() {
    let app = TestApp::start().await;
    add_user(&app, "ann").await;
    let bob = add_user(&app, "bob").await;
    let cat = add_user(&app, "cat").await;
    // ann's number, paired for voice calls with an extension.
    pair_offline(&app, "ann", "VOICE", &format!("{PHONE},,12#")).await;
    assert_error(
        &start_unique(&app, "bob", "SMS", PHONE).await,
        ErrorId::DeviceAlreadyInUse,
    );
    assert_error(
        &start_unique(&app, "bob", "VOICE", PHONE).await,
        ErrorId::DeviceAlreadyInUse,
    );
    // And the other way round: an SMS number, then a voice pairing with an extension.
    pair_offline(&app, "bob", "SMS", OTHER_PHONE).await;
    assert_error(
        &start_unique(&app, "cat", "VOICE", &format!("{OTHER_PHONE},,34#")).await,
        ErrorId::DeviceAlreadyInUse,
    );
    assert_eq!(stored_devices(&app, bob).await.len(), 1);
    assert!(stored_devices(&app, cat).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn e20564_concurrent_starts_cannot_overrun_the_daily_limit() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    org_setting(&app, "sms_daily_unclaimed", "1").await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = app.client.clone();
        let body = json!({"username": "ann", "type": "SMS", "pairingData": PHONE});
        tasks.push(tokio::spawn(async move {
            client.call_raw("startofflinepairing", &body).await.unwrap()
        }));
    }
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    let codes: Vec<u32> = replies.iter().map(|r| r.error_id).collect();
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    for reply in replies.iter().filter(|r| r.error_id != 200) {
        assert_error(reply, ErrorId::DailyUnclaimedSmsLimitExceeded);
    }
    assert_eq!(app.sender.messages().len(), 1, "one code sent, the limit being 1");
    assert_eq!(sms_usage_today(&app, ann).await, SmsUsage { sent: 1, claimed: 0 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn e20562_concurrent_offline_pairings_respect_the_device_limit() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    org_setting(&app, "max_devices", "1").await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let client = app.client.clone();
        let body = json!({"username": "ann", "type": "EMAIL", "pairingData": format!("ann{i}@example.org")});
        tasks.push(tokio::spawn(async move {
            client.call_raw("offlinepairing", &body).await.unwrap()
        }));
    }
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    let codes: Vec<u32> = replies.iter().map(|r| r.error_id).collect();
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    for reply in replies.iter().filter(|r| r.error_id != 200) {
        assert_error(reply, ErrorId::DeviceLimitExceeded);
    }
    assert_eq!(stored_devices(&app, ann).await.len(), 1);
}

#[tokio::test]
async fn e10564_e10568_e400_e403_requests_that_name_no_valid_user_or_field() {
    let app = TestApp::start().await;
    add_user(&app, "ann").await;
    let device = pair_offline(&app, "ann", "SMS", PHONE).await;
    let ops = |user: &str| {
        vec![
            (
                "startofflinepairing",
                json!({"username": user, "type": "SMS", "pairingData": OTHER_PHONE}),
            ),
            (
                "offlinepairing",
                json!({"username": user, "type": "SMS", "pairingData": OTHER_PHONE}),
            ),
            (
                "authenticatorappstartpairing",
                json!({"username": user, "pairingType": "TOTP"}),
            ),
            ("unpairdevice", json!({"userName": user, "deviceId": device})),
            (
                "updatedeviceattr",
                json!({"userName": user, "deviceId": device, "attributeName": "NICKNAME", "attributeValue": "x"}),
            ),
        ]
    };
    for (op, body) in ops("nobody") {
        assert_error(&call(&app, op, body).await, ErrorId::UserDoesNotExist);
    }
    for (op, body) in ops("") {
        assert_error(&call(&app, op, body).await, ErrorId::InvalidUsername);
    }
    // Missing or mistyped required fields.
    for (op, body) in [
        ("startofflinepairing", json!({"username": "ann", "type": "SMS"})),
        ("offlinepairing", json!({"username": "ann", "pairingData": PHONE})),
        ("finalizeofflinepairing", json!({"sessionId": "oacts_x"})),
        ("finalizeofflinepairing", json!({"otp": "123456"})),
        ("authenticatorappfinishpairing", json!({"sessionId": "oacts_x"})),
        (
            "updatedeviceattr",
            json!({"userName": "ann", "attributeName": "NICKNAME", "attributeValue": "x"}),
        ),
        ("unpairdevice", json!({"userName": "ann", "deviceId": "abc"})),
        ("unpairdevice", json!({"deviceId": device})),
    ] {
        assert_error(&call(&app, op, body).await, ErrorId::InvalidInput);
    }
    // Device operations are admin operations: an authentication-only token may not call them.
    let auth_only = app.client_with_scope(TokenScope::AuthOnly).await;
    let reply = auth_only
        .call_raw(
            "startofflinepairing",
            &json!({"username": "ann", "type": "SMS", "pairingData": OTHER_PHONE}),
        )
        .await
        .unwrap();
    assert_error(&reply, ErrorId::Forbidden);
    let reply = auth_only
        .call_raw("unpairdevice", &json!({"userName": "ann"}))
        .await
        .unwrap();
    assert_error(&reply, ErrorId::Forbidden);
    assert!(app.sender.messages().is_empty());
    let ann = app.stored_user("ann").await.unwrap().id;
    assert_eq!(stored_devices(&app, ann).await.len(), 1);
}

#[tokio::test]
async fn e20517_a_session_of_another_organization() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    let started = start(&app, "ann", "SMS", PHONE).await;
    assert_ok(&started);
    let code = code_sent_to(&app, PHONE);
    let (other, issued) = app.core.create_org("Other Org").await.unwrap();
    let mut props = app.properties();
    props.token = issued.token.0;
    props.use_base64_key = encode_key(&issued.key);
    props.org_alias = other.alias.0.clone();
    let stranger = twofold_client::Client::new(props).unwrap();
    let reply = stranger
        .call_raw(
            "finalizeofflinepairing",
            &json!({"sessionId": session_of(&started), "otp": code}),
        )
        .await
        .unwrap();
    assert_error(&reply, ErrorId::InvalidSession);
    // Users are per organization, too.
    let reply = stranger
        .call_raw("unpairdevice", &json!({"userName": "ann"}))
        .await
        .unwrap();
    assert_error(&reply, ErrorId::UserDoesNotExist);
    assert!(stored_devices(&app, ann).await.is_empty());
    // The session is untouched for its own organization.
    assert_ok(&finalize(&app, &session_of(&started), json!(code)).await);
}

// ---------------------------------------------------------------------------------------
// Errors of device management
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn e10589_unknown_attribute_name() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    let device = pair_offline(&app, "ann", "SMS", PHONE).await;
    for name in ["COLOR", "PRIMARY", ""] {
        assert_error(
            &attr(&app, "ann", json!(device), name, "true").await,
            ErrorId::AttributeDoesNotExist,
        );
    }
    let rows = stored_devices(&app, ann).await;
    assert_eq!((rows[0].position, rows[0].nickname.as_str()), (1, "SMS 1"));
}

#[tokio::test]
async fn e10575_duplicate_nickname() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    let first = pair_offline(&app, "ann", "SMS", PHONE).await;
    let second = pair_offline(&app, "ann", "SMS", OTHER_PHONE).await;
    assert_error(
        &attr(&app, "ann", json!(second), "NICKNAME", "SMS 1").await,
        ErrorId::ValueAlreadyExists,
    );
    assert_ok(&attr(&app, "ann", json!(second), "NICKNAME", "Work phone").await);
    assert_error(
        &attr(&app, "ann", json!(first), "NICKNAME", "Work phone").await,
        ErrorId::ValueAlreadyExists,
    );
    let list = device_list(&details(&app, "ann").await);
    assert_eq!(list[0]["nickname"], "SMS 1");
    assert_eq!(list[1]["nickname"], "Work phone");
    let rows = stored_devices(&app, ann).await;
    assert_eq!(
        rows.iter().map(|r| r.nickname.as_str()).collect::<Vec<_>>(),
        vec!["SMS 1", "Work phone"]
    );
    // Another user may use the same nickname.
    add_user(&app, "bob").await;
    let bobs = pair_offline(&app, "bob", "SMS", "+13035550000").await;
    assert_ok(&attr(&app, "bob", json!(bobs), "NICKNAME", "Work phone").await);
}

#[tokio::test]
async fn e20527_device_of_another_user() {
    let app = TestApp::start().await;
    let ann = add_user(&app, "ann").await;
    let bob = add_user(&app, "bob").await;
    let anns = pair_offline(&app, "ann", "SMS", PHONE).await;
    let bobs = pair_offline(&app, "bob", "SMS", OTHER_PHONE).await;
    for (attribute, value) in [("SET_PRIMARY", "true"), ("NICKNAME", "Mine now"), ("ORDER", "1")] {
        assert_error(
            &attr(&app, "ann", json!(bobs), attribute, value).await,
            ErrorId::InvalidDevice,
        );
        assert_error(
            &attr(&app, "ann", json!(anns + 1), attribute, value).await,
            ErrorId::InvalidDevice,
        );
    }
    assert_error(&unpair(&app, "ann", Some(json!(bobs))).await, ErrorId::InvalidDevice);
    assert_error(
        &unpair(&app, "ann", Some(json!(bobs.to_string()))).await,
        ErrorId::InvalidDevice,
    );
    let rows = stored_devices(&app, bob).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].id.0, rows[0].nickname.as_str()), (bobs, "SMS 1"));
    assert_eq!(stored_devices(&app, ann).await.len(), 1);
    assert_eq!(stored_status(&app, "bob").await, UserStatus::Active);
}

#[tokio::test]
async fn e10576_updatedeviceattr_on_a_user_who_is_not_active() {
    let app = TestApp::start().await;
    // PENDING_ACTIVATION.
    add_user(&app, "ann").await;
    // NOT_ACTIVE.
    assert_ok(&call(&app, "adduser", json!({"username": "cal", "activateUser": false})).await);
    for name in ["ann", "cal"] {
        for (attribute, value) in [("SET_PRIMARY", "true"), ("NICKNAME", "x"), ("ORDER", "1")] {
            assert_error(
                &attr(&app, name, json!(12345), attribute, value).await,
                ErrorId::UserNotActive,
            );
        }
    }
    // A user whose devices were all unpaired (PENDING_CHANGE_DEVICE).
    let dora = add_user(&app, "dora").await;
    let device = pair_offline(&app, "dora", "SMS", PHONE).await;
    assert_ok(&unpair(&app, "dora", None).await);
    assert_error(
        &attr(&app, "dora", json!(device), "NICKNAME", "x").await,
        ErrorId::UserNotActive,
    );
    assert!(stored_devices(&app, dora).await.is_empty());
}

// ---------------------------------------------------------------------------------------
// Device management
// ---------------------------------------------------------------------------------------

/// ann with an SMS, an Email and a Voice device, in that order.
async fn three_devices(app: &TestApp) -> (UserId, [i64; 3]) {
    let ann = add_user(app, "ann").await;
    let a = pair_offline(app, "ann", "SMS", PHONE).await;
    let b = pair_offline(app, "ann", "EMAIL", "ann@example.org").await;
    let c = pair_offline(app, "ann", "VOICE", OTHER_PHONE).await;
    (ann, [a, b, c])
}

async fn assert_order(app: &TestApp, user: UserId, expected: &[i64]) {
    let d = details(app, "ann").await;
    let list = device_list(&d);
    assert_eq!(ids_in_order(&list), expected, "devicesDetails order");
    assert_eq!(primaries(&list), 1, "exactly one PRIMARY");
    assert_eq!(list[0]["deviceRole"], "PRIMARY");
    assert!(list[1..].iter().all(|dev| dev["deviceRole"] == "SECONDARY"));
    assert_eq!(
        d["deviceDetails"]["deviceId"],
        json!(expected[0]),
        "deviceDetails is the primary"
    );
    let rows = stored_devices(app, user).await;
    assert_eq!(
        rows.iter().map(|r| r.id.0).collect::<Vec<_>>(),
        expected,
        "stored order"
    );
    assert_eq!(
        rows.iter().map(|r| r.position).collect::<Vec<_>>(),
        (1..=i64::try_from(expected.len()).unwrap()).collect::<Vec<_>>(),
        "positions stay dense"
    );
}

#[tokio::test]
async fn set_primary_moves_the_device_to_primary() {
    let app = TestApp::start().await;
    let (ann, [a, b, c]) = three_devices(&app).await;
    assert_order(&app, ann, &[a, b, c]).await;
    assert_ok(&attr(&app, "ann", json!(c), "SET_PRIMARY", "true").await);
    assert_order(&app, ann, &[c, a, b]).await;
    // deviceId as a numeric string, value in any case.
    assert_ok(&attr(&app, "ann", json!(b.to_string()), "SET_PRIMARY", "TRUE").await);
    assert_order(&app, ann, &[b, c, a]).await;
    // Setting the primary again changes nothing.
    assert_ok(&attr(&app, "ann", json!(b), "SET_PRIMARY", "true").await);
    assert_order(&app, ann, &[b, c, a]).await;
    // Nicknames follow their devices.
    let list = device_list(&details(&app, "ann").await);
    assert_eq!(
        list.iter().map(|d| d["nickname"].as_str().unwrap()).collect::<Vec<_>>(),
        vec!["Email 1", "Voice 1", "SMS 1"]
    );
}

#[tokio::test]
async fn order_reorders_the_devices() {
    let app = TestApp::start().await;
    let (ann, [a, b, c]) = three_devices(&app).await;
    assert_ok(&attr(&app, "ann", json!(c), "ORDER", "2").await);
    assert_order(&app, ann, &[a, c, b]).await;
    // Moving the primary down promotes the next device.
    assert_ok(&attr(&app, "ann", json!(a), "ORDER", "2").await);
    assert_order(&app, ann, &[c, a, b]).await;
    assert_ok(&attr(&app, "ann", json!(b), "ORDER", "1").await);
    assert_order(&app, ann, &[b, c, a]).await;
    assert_ok(&attr(&app, "ann", json!(b), "ORDER", "3").await);
    assert_order(&app, ann, &[c, a, b]).await;
    // Positions outside 1..=count are refused and change nothing.
    for bad in ["0", "4", "-1", "two"] {
        assert_error(
            &attr(&app, "ann", json!(a), "ORDER", bad).await,
            ErrorId::InvalidParameterValues,
        );
    }
    assert_order(&app, ann, &[c, a, b]).await;
}

#[tokio::test]
async fn unpairing_one_device_renumbers_and_keeps_one_primary() {
    let app = TestApp::start().await;
    let (ann, [a, b, c]) = three_devices(&app).await;
    // Unpair the primary: the next one becomes PRIMARY.
    assert_ok(&unpair(&app, "ann", Some(json!(a))).await);
    assert_order(&app, ann, &[b, c]).await;
    let d = details(&app, "ann").await;
    assert_eq!(d["status"], "ACTIVE");
    assert_eq!(d["deviceDetails"]["nickname"], "Email 1");
    // Unpair a secondary given as a numeric string.
    assert_ok(&unpair(&app, "ann", Some(json!(c.to_string()))).await);
    assert_order(&app, ann, &[b]).await;
    // The device is gone: unpairing it again is 20527.
    assert_error(&unpair(&app, "ann", Some(json!(c))).await, ErrorId::InvalidDevice);
    // Unpairing the last device by id leaves the user without devices.
    assert_ok(&unpair(&app, "ann", Some(json!(b))).await);
    assert_eq!(stored_status(&app, "ann").await, UserStatus::PendingChangeDevice);
    assert!(stored_devices(&app, ann).await.is_empty());
}

#[tokio::test]
async fn unpairing_all_devices_leaves_the_user_pending_change_device() {
    let app = TestApp::start().await;
    let (ann, _) = three_devices(&app).await;
    assert_ok(&unpair(&app, "ann", None).await);
    assert!(stored_devices(&app, ann).await.is_empty());
    assert_eq!(stored_status(&app, "ann").await, UserStatus::PendingChangeDevice);
    let d = details(&app, "ann").await;
    assert_eq!(d["status"], "PENDING_CHANGE_DEVICE");
    assert_eq!(d["userEnabled"], false);
    assert_eq!(d["deviceDetails"], json!([]));
    assert_eq!(d["devicesDetails"], json!([]));
    // Pairing again makes the user ACTIVE, starting from "SMS 1".
    pair_offline(&app, "ann", "SMS", PHONE).await;
    let d = details(&app, "ann").await;
    assert_eq!(d["status"], "ACTIVE");
    assert_eq!(d["deviceDetails"]["nickname"], "SMS 1");
    assert_eq!(d["deviceDetails"]["deviceRole"], "PRIMARY");
    // deviceId null also means all devices.
    assert_ok(&unpair(&app, "ann", Some(Value::Null)).await);
    assert!(stored_devices(&app, ann).await.is_empty());
    assert_eq!(stored_status(&app, "ann").await, UserStatus::PendingChangeDevice);
}

#[tokio::test]
async fn unpair_with_a_twenty_digit_string_id_is_20527() {
    let app = TestApp::start().await;
    let (ann, [a, b, c]) = three_devices(&app).await;
    for id in ["12345678901234567890", "99999999999999999999", "00000000000000000000"] {
        assert_error(&unpair(&app, "ann", Some(json!(id))).await, ErrorId::InvalidDevice);
    }
    assert_order(&app, ann, &[a, b, c]).await;
    assert_eq!(stored_status(&app, "ann").await, UserStatus::Active);
}
