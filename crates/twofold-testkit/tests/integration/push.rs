//! Push authentication with the companion app (issue 5): online pairing through the
//! device API, held authonline, async + authstatus, number matching, reachability,
//! cancellation, and every errorId of those flows. The phone is simulated with the
//! `twofold-authenticator` library over TCP, its clock following the server's fixed one.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use twofold_authenticator::client::RawAnswer;
use twofold_authenticator::{DeviceClient, Pairing};
use twofold_client::{Client, Reply};
use twofold_core::Clock as _;
use twofold_proto::ErrorId;
use twofold_proto::device_api::{DeviceFacts, TotpSeed};
use twofold_testkit::TestApp;

use crate::{assert_error, assert_ok};

/// A paired simulated phone.
pub struct Phone {
    pub device: DeviceClient,
    pub totp: TotpSeed,
    pub key: ed25519_dalek::SigningKey,
}

pub fn base(app: &TestApp) -> String {
    format!("http://{}", app.addr)
}

pub fn key(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

fn facts(push: bool) -> DeviceFacts {
    DeviceFacts {
        model: Some("Pixel 8".into()),
        os_version: Some("Android 15".into()),
        app_version: Some("0.1.0".into()),
        push_enabled: push,
    }
}

/// adduser with activateUser: the activation code.
pub async fn new_user_code(app: &TestApp, name: &str) -> String {
    let reply = app
        .client
        .call_raw("adduser", &json!({"userName": name, "activateUser": true}))
        .await
        .unwrap();
    assert_ok(&reply);
    reply.body["activationCode"].as_str().unwrap().to_string()
}

/// Pairs `key` for `name` as `platform` and finishes the pairing.
pub async fn pair_as(app: &TestApp, name: &str, key: ed25519_dalek::SigningKey, platform: &str, push: bool) -> Phone {
    let code = new_user_code(app, name).await;
    let pairing = Pairing::new(&base(app)).unwrap();
    pairing.claim(&code).await.unwrap();
    let registered = pairing.register(&code, &key, platform, facts(push)).await.unwrap();
    let clock = app.clock.clone();
    let device = DeviceClient::new(
        &base(app),
        key.clone(),
        registered.device_id,
        Arc::new(move || clock.now_ms()),
    )
    .unwrap();
    device.finish_pairing().await.unwrap();
    Phone {
        device,
        totp: registered.totp,
        key,
    }
}

pub async fn phone(app: &TestApp, name: &str) -> Phone {
    pair_as(app, name, key(name.len() as u8 + 1), "Android", true).await
}

async fn call(app: &TestApp, op: &str, body: Value) -> Reply<Value> {
    app.client.call_raw(op, &body).await.unwrap()
}

/// Sends authonline on its own task (it is held until the push ends).
fn held(app: &TestApp, body: Value) -> tokio::task::JoinHandle<Reply<Value>> {
    let client = Client::new(app.properties()).unwrap();
    tokio::spawn(async move { client.call_raw("authonline", &body).await.unwrap() })
}

/// Polls until the push arrives and answers it.
async fn answer_next(phone: &Phone, approve: bool, number: Option<u32>) -> String {
    for _ in 0..50 {
        let list = phone.device.poll(2, None).await.unwrap();
        if let Some(p) = list.pushes.first() {
            return phone.device.answer(&p.push_id, approve, number).await.unwrap().outcome;
        }
    }
    panic!("no push arrived");
}

async fn set(app: &TestApp, key: &str, value: &str) {
    let org = app.core.find_org("default").await.unwrap();
    let mut settings = org.settings.clone();
    settings.set(key, value).unwrap();
    app.store().update_org_settings(org.id, &settings).await.unwrap();
}

fn confirm(user: &str) -> Value {
    json!({"spAlias": "web", "userName": user, "authType": "CONFIRM", "formParameters": {"sp_name": "Payroll"}})
}

#[tokio::test]
async fn online_pairing_walks_the_pairing_states_and_activates_the_user() {
    let app = TestApp::start().await;
    let code = new_user_code(&app, "pia").await;
    let status = |code: String| {
        let client = Client::new(app.properties()).unwrap();
        async move {
            client
                .call_raw("pairingstatus", &json!({"activationCode": code}))
                .await
                .unwrap()
        }
    };
    assert_eq!(status(code.clone()).await.body["pairingStatus"], "NOT_CLAIMED");
    let pairing = Pairing::new(&base(&app)).unwrap();
    let claimed = pairing.claim(&code).await.unwrap();
    assert_eq!(claimed.user_name, "pia");
    assert_eq!(status(code.clone()).await.body["pairingStatus"], "VERIFIED");
    // A code is claimed once.
    assert!(
        pairing
            .claim(&code)
            .await
            .unwrap_err()
            .to_string()
            .contains("unknown_code")
    );
    let registered = pairing.register(&code, &key(9), "Android", facts(true)).await.unwrap();
    let paired = status(code.clone()).await;
    assert_eq!(paired.body["pairingStatus"], "PAIRED");
    assert_eq!(paired.body["deviceId"], registered.device_id);
    let clock = app.clock.clone();
    let device = DeviceClient::new(
        &base(&app),
        key(9),
        registered.device_id,
        Arc::new(move || clock.now_ms()),
    )
    .unwrap();
    device.finish_pairing().await.unwrap();
    assert_eq!(status(code.clone()).await.body["pairingStatus"], "SUCCESS");
    assert_eq!(status(code).await.body["pairingStatus"], "NOT_EXIST");
    let details = app.client.get_user_details("pia").await.unwrap().body["userDetails"].clone();
    assert_eq!(details["status"], "ACTIVE");
    let d = &details["deviceDetails"];
    assert_eq!(d["type"], "Android");
    assert_eq!(d["deviceId"], registered.device_id);
    assert_eq!(d["displayID"], "Pixel 8");
    assert_eq!(d["deviceModel"], "Pixel 8");
    assert_eq!(d["osVersion"], "Android 15");
    assert_eq!(d["appVersion"], "0.1.0");
    assert_eq!(d["pushEnabled"], true);
    // Facts reported later show too.
    let mut later = facts(true);
    later.app_version = Some("0.2.0".into());
    device.report_facts(&later).await.unwrap();
    let details = app.client.get_user_details("pia").await.unwrap().body["userDetails"].clone();
    assert_eq!(details["deviceDetails"]["appVersion"], "0.2.0");
    // The TOTP seed is sealed at rest, never stored in the clear.
    let stored = app
        .store()
        .devices_of(app.stored_user("pia").await.unwrap().id)
        .await
        .unwrap();
    let sealed = stored[0].sealed_secret.clone().unwrap();
    let seed = data_encoding::BASE32_NOPAD
        .decode(registered.totp.secret.as_bytes())
        .unwrap();
    assert!(!sealed.windows(seed.len()).any(|w| w == seed.as_slice()));
}

#[tokio::test]
async fn qr_redirection_resolves_the_activation_code() {
    let app = TestApp::start().await;
    let code = new_user_code(&app, "quinn").await;
    let query = data_encoding::BASE64.encode(format!("act_code={code}").as_bytes());
    let http = reqwest::Client::new();
    let page = http
        .get(format!("{}/pingid/QRRedirection?{query}", base(&app)))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let body: Value = serde_json::from_str(&page.text().await.unwrap()).unwrap();
    assert_eq!(body["activationCode"], code.as_str());
    let (server, parsed) =
        twofold_authenticator::qr_link(&format!("{}/pingid/QRRedirection?{query}", base(&app))).unwrap();
    assert_eq!((server, parsed), (base(&app), code));
    let bad = http
        .get(format!("{}/pingid/QRRedirection?bm9wZQ", base(&app)))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 404);
}

#[tokio::test]
async fn sync_start_then_held_authonline_is_approved() {
    let app = TestApp::start().await;
    let phone = phone(&app, "ann").await;
    let start = call(
        &app,
        "startauthentication",
        json!({"spAlias": "web", "userName": "ann"}),
    )
    .await;
    assert_error(&start, ErrorId::ContinueOnline);
    let session = start.body["sessionId"].as_str().unwrap().to_string();
    let mut body = confirm("ann");
    body["sessionId"] = json!(session);
    let waiting = held(&app, body);
    let list = phone.device.poll(5, None).await.unwrap();
    assert_eq!(list.pushes.len(), 1);
    assert_eq!(list.pushes[0].sp_name.as_deref(), Some("Payroll"));
    assert_eq!(list.pushes[0].user_name, "ann");
    assert_eq!(list.pushes[0].number_choices, None);
    // While the push waits, the session is the push's: a code cannot also finish it.
    let code = call(
        &app,
        "authoffline",
        json!({"spAlias": "web", "userName": "ann", "otp": "123456", "sessionId": session}),
    )
    .await;
    assert_error(&code, ErrorId::LoginInProcess);
    let outcome = phone.device.answer(&list.pushes[0].push_id, true, None).await.unwrap();
    assert_eq!(outcome.outcome, "approved");
    let reply = waiting.await.unwrap();
    assert_ok(&reply);
    assert_eq!(reply.body["sessionId"], Value::Null);
    let online = &reply.body["extendedOnlineDetails"];
    assert_eq!(online["deviceType"], "Android");
    assert_eq!(online["deviceOSVersion"], "Android 15");
    assert_eq!(online["performedFormType"], "SLIDER");
    assert!(online["deviceFp"].is_string());
    let details = app.client.get_user_details("ann").await.unwrap().body["userDetails"].clone();
    assert_eq!(details["lastLogin"], twofold_testkit::T0_MS);
}

#[tokio::test]
async fn legacy_authonline_uses_the_primary_device_and_denial_is_20516() {
    let app = TestApp::start().await;
    let phone = phone(&app, "vic").await;
    let waiting = held(
        &app,
        json!({"spAlias": "web", "userName": "vic", "authType": "CONFIRM"}),
    );
    assert_eq!(answer_next(&phone, true, None).await, "approved");
    assert_ok(&waiting.await.unwrap());
    let waiting = held(
        &app,
        json!({"spAlias": "web", "userName": "vic", "authType": "CONFIRM"}),
    );
    assert_eq!(answer_next(&phone, false, None).await, "denied");
    assert_error(&waiting.await.unwrap(), ErrorId::LoginRejected);
}

#[tokio::test]
async fn an_unanswered_push_times_out_with_20522() {
    let app = TestApp::start().await;
    let phone = phone(&app, "tia").await;
    let waiting = held(&app, confirm("tia"));
    let list = phone.device.poll(5, None).await.unwrap();
    assert_eq!(list.pushes.len(), 1, "delivered, then ignored");
    app.clock.advance(61_000);
    let reply = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_error(&reply, ErrorId::PushTimedOut);
    // A late answer changes nothing.
    let late = phone.device.answer(&list.pushes[0].push_id, true, None).await.unwrap();
    assert_eq!(late.outcome, "expired");
}

#[tokio::test]
async fn an_unreachable_phone_gets_20521_with_a_session_for_the_app_otp() {
    let app = TestApp::start().await;
    let phone = phone(&app, "uma").await;
    let waiting = held(&app, confirm("uma"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.clock.advance(11_000);
    let reply = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_error(&reply, ErrorId::MobileDeviceUnreachable);
    let session = reply.body["sessionId"].as_str().unwrap().to_string();
    let account = twofold_authenticator::Account {
        server: base(&app),
        device_id: phone.device.device_id(),
        device_uuid: String::new(),
        user_name: "uma".into(),
        org_name: String::new(),
        platform: "Android".into(),
        totp: phone.totp.clone(),
    };
    let otp = account
        .otp_at(u64::try_from(app.clock.now_ms() / 1000).unwrap())
        .unwrap();
    let done = call(
        &app,
        "authoffline",
        json!({"spAlias": "web", "userName": "uma", "otp": otp, "sessionId": session}),
    )
    .await;
    assert_ok(&done);
    // The phone has not been heard from for longer than the reachability window: a new
    // start asks for the app's OTP straight away.
    app.clock.advance(11_000);
    let start = call(
        &app,
        "startauthentication",
        json!({"spAlias": "web", "userName": "uma"}),
    )
    .await;
    assert_error(&start, ErrorId::UseMobileAppOtp);
    assert!(start.body["sessionId"].is_string());
}

#[tokio::test]
async fn async_push_with_authstatus_and_number_matching() {
    let app = TestApp::start().await;
    set(&app, "number_matching", "true").await;
    let phone = phone(&app, "nia").await;
    let start = call(
        &app,
        "startauthentication",
        json!({"spAlias": "web", "userName": "nia", "async": true}),
    )
    .await;
    assert_error(&start, ErrorId::AwaitingAsyncResponse);
    let session = start.body["sessionId"].as_str().unwrap().to_string();
    let number = start.body["extendedAuthenticationDetails"]["numberForMatching"]
        .as_u64()
        .unwrap() as u32;
    assert!((10..100).contains(&number));
    let status = call(&app, "authstatus", json!({"sessionId": session})).await;
    assert_error(&status, ErrorId::AwaitingAsyncResponse);
    let list = phone.device.poll(5, None).await.unwrap();
    let choices = list.pushes[0].number_choices.clone().unwrap();
    assert_eq!(choices.len(), 3);
    assert!(choices.contains(&number));
    assert_eq!(answer_next(&phone, true, Some(number)).await, "approved");
    assert_ok(&call(&app, "authstatus", json!({"sessionId": session})).await);

    // The wrong number fails the sign-in.
    let start = call(
        &app,
        "startauthentication",
        json!({"spAlias": "web", "userName": "nia", "async": true}),
    )
    .await;
    let session = start.body["sessionId"].as_str().unwrap().to_string();
    let number = start.body["extendedAuthenticationDetails"]["numberForMatching"]
        .as_u64()
        .unwrap() as u32;
    assert_eq!(answer_next(&phone, true, Some(number + 1)).await, "wrong_number");
    assert_error(
        &call(&app, "authstatus", json!({"sessionId": session})).await,
        ErrorId::WrongNumberChosen,
    );
    // Each asynchronous outcome is in the audit trail once, however often it was polled.
    assert_error(
        &call(&app, "authstatus", json!({"sessionId": session})).await,
        ErrorId::WrongNumberChosen,
    );
    let user = app.stored_user("nia").await.unwrap();
    let rows = app.store().recent_audit(user.id, 10).await.unwrap();
    let statuses: Vec<u32> = rows
        .iter()
        .filter(|r| r.op == "authstatus")
        .map(|r| r.error_id)
        .collect();
    assert_eq!(statuses, vec![20585, 200]);
}

#[tokio::test]
async fn an_async_push_never_picked_up_is_20538() {
    let app = TestApp::start().await;
    let _phone = phone(&app, "ola").await;
    let start = call(
        &app,
        "startauthentication",
        json!({"spAlias": "web", "userName": "ola", "async": true}),
    )
    .await;
    assert_error(&start, ErrorId::AwaitingAsyncResponse);
    assert_eq!(
        start.body["extendedAuthenticationDetails"]["numberForMatching"],
        Value::Null
    );
    let session = start.body["sessionId"].as_str().unwrap().to_string();
    app.clock.advance(61_000);
    assert_error(
        &call(&app, "authstatus", json!({"sessionId": session})).await,
        ErrorId::PushNotAcknowledged,
    );
}

#[tokio::test]
async fn one_open_push_per_device_and_cancel_reaches_the_phone() {
    let app = TestApp::start().await;
    let phone = phone(&app, "cal").await;
    let start = call(
        &app,
        "startauthentication",
        json!({"spAlias": "web", "userName": "cal", "async": true}),
    )
    .await;
    let session = start.body["sessionId"].as_str().unwrap().to_string();
    let second = call(
        &app,
        "startauthentication",
        json!({"spAlias": "web", "userName": "cal", "async": true}),
    )
    .await;
    assert_error(&second, ErrorId::PushAlreadyPending);
    let list = phone.device.poll(5, None).await.unwrap();
    let push_id = list.pushes[0].push_id.clone();
    assert_ok(
        &call(
            &app,
            "cancelauthentication",
            json!({"sessionId": session, "cancelAuthenticationType": "CHANGE_DEVICE"}),
        )
        .await,
    );
    let after = phone.device.poll(5, Some(list.server_time_ms - 1)).await.unwrap();
    assert!(after.pushes.is_empty());
    assert_eq!(after.cancelled, vec![push_id.clone()]);
    assert_eq!(
        phone.device.answer(&push_id, true, None).await.unwrap().outcome,
        "cancelled"
    );
    assert_error(
        &call(&app, "authstatus", json!({"sessionId": session})).await,
        ErrorId::AuthenticationCancelled,
    );
    // A held authonline is woken by the cancellation.
    let start = call(
        &app,
        "startauthentication",
        json!({"spAlias": "web", "userName": "cal"}),
    )
    .await;
    let session = start.body["sessionId"].as_str().unwrap().to_string();
    let mut body = confirm("cal");
    body["sessionId"] = json!(session);
    let waiting = held(&app, body);
    phone.device.poll(5, None).await.unwrap();
    assert_ok(
        &call(
            &app,
            "cancelauthentication",
            json!({"sessionId": session, "cancelAuthenticationType": "DEFAULT"}),
        )
        .await,
    );
    let reply = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_error(&reply, ErrorId::AuthenticationCancelled);
}

#[tokio::test]
async fn push_disabled_phones_and_desktop_apps_ask_for_the_app_otp() {
    let app = TestApp::start().await;
    let _off = pair_as(&app, "dee", key(21), "Android", false).await;
    let start = call(
        &app,
        "startauthentication",
        json!({"spAlias": "web", "userName": "dee"}),
    )
    .await;
    assert_error(&start, ErrorId::PushDisabled);
    let online = call(&app, "authonline", confirm("dee")).await;
    assert_error(&online, ErrorId::PushDisabled);
    assert!(online.body["sessionId"].is_string());
    let desk = pair_as(&app, "dex", key(22), "Desktop", true).await;
    let start = call(
        &app,
        "startauthentication",
        json!({"spAlias": "web", "userName": "dex"}),
    )
    .await;
    assert_error(&start, ErrorId::EnterDesktopAppOtp);
    // A push does not apply to the desktop app.
    assert_error(
        &call(&app, "authonline", confirm("dex")).await,
        ErrorId::ServiceNotSupported,
    );
    let details = app.client.get_user_details("dex").await.unwrap().body["userDetails"].clone();
    assert_eq!(details["deviceDetails"]["type"], "Desktop");
    assert_eq!(details["deviceDetails"]["pushEnabled"], false);
    let status = desk.device.status().await.unwrap();
    assert_eq!(status.platform, "Desktop");
}

#[tokio::test]
async fn signed_calls_refuse_replays_and_bad_signatures() {
    let app = TestApp::start().await;
    let phone = phone(&app, "rey").await;
    let nonce = DeviceClient::new_nonce();
    let first: RawAnswer = phone
        .device
        .signed_raw("GET", "/device/v1/status", b"", &nonce)
        .await
        .unwrap();
    assert_eq!(first.status, 200, "{}", first.body);
    let replay = phone
        .device
        .signed_raw("GET", "/device/v1/status", b"", &nonce)
        .await
        .unwrap();
    assert_eq!(replay.status, 401);
    assert!(replay.body.contains("replayed"), "{}", replay.body);
    let clock = app.clock.clone();
    let forger = DeviceClient::new(
        &base(&app),
        key(99),
        phone.device.device_id(),
        Arc::new(move || clock.now_ms()),
    )
    .unwrap();
    let forged = forger
        .signed_raw("GET", "/device/v1/status", b"", &DeviceClient::new_nonce())
        .await
        .unwrap();
    assert_eq!(forged.status, 401);
    assert!(forged.body.contains("bad_signature"), "{}", forged.body);
    // A stale timestamp is refused even with a valid signature.
    let stale = DeviceClient::new(&base(&app), phone.key.clone(), phone.device.device_id(), Arc::new(|| 0)).unwrap();
    assert_eq!(
        stale
            .signed_raw("GET", "/device/v1/status", b"", &DeviceClient::new_nonce())
            .await
            .unwrap()
            .status,
        401
    );
}

#[tokio::test]
async fn one_key_for_several_users_only_where_the_org_allows_it() {
    let app = TestApp::start().await;
    let _first = pair_as(&app, "sam", key(31), "Android", true).await;
    let code = new_user_code(&app, "sue").await;
    let pairing = Pairing::new(&base(&app)).unwrap();
    pairing.claim(&code).await.unwrap();
    let refused = pairing
        .register(&code, &key(31), "Android", facts(true))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("multiple_users_per_device"), "{refused}");
    assert_eq!(
        app.stored_user("sue").await.unwrap().status.as_str(),
        "PENDING_ACTIVATION"
    );
    set(&app, "multiple_users_per_device", "true").await;
    let code = {
        let reply = app
            .client
            .call_raw("getactivationcode", &json!({"userName": "sue"}))
            .await
            .unwrap();
        reply.body["activationCode"].as_str().unwrap().to_string()
    };
    pairing.claim(&code).await.unwrap();
    pairing.register(&code, &key(31), "Android", facts(true)).await.unwrap();
    assert_eq!(app.stored_user("sue").await.unwrap().status.as_str(), "ACTIVE");
}

#[tokio::test]
async fn pushes_per_device_are_bounded() {
    let app = TestApp::start().await;
    set(&app, "push_rate_limit", "2").await;
    let phone = phone(&app, "ray").await;
    for _ in 0..2 {
        let waiting = held(&app, confirm("ray"));
        assert_eq!(answer_next(&phone, false, None).await, "denied");
        assert_error(&waiting.await.unwrap(), ErrorId::LoginRejected);
    }
    assert_error(
        &call(&app, "authonline", confirm("ray")).await,
        ErrorId::TooManyOtpSends,
    );
}

#[tokio::test]
async fn an_otp_block_stops_the_app_otp_but_not_the_push() {
    let app = TestApp::start().await;
    let phone = phone(&app, "obi").await;
    let org = app.core.find_org("default").await.unwrap();
    app.core.set_user_guard(&org, "obi", None, Some(true)).await.unwrap();
    let waiting = held(&app, confirm("obi"));
    assert_eq!(answer_next(&phone, true, None).await, "approved");
    assert_ok(&waiting.await.unwrap());
    let otp_only = call(
        &app,
        "authonline",
        json!({"spAlias": "web", "userName": "obi", "authType": "OTP"}),
    )
    .await;
    assert_error(&otp_only, ErrorId::OtpBlocked);
}

#[tokio::test]
async fn an_answer_written_by_another_node_reaches_the_held_request() {
    use twofold_core::push::PushState;
    let app = TestApp::start().await;
    let phone = phone(&app, "nod").await;
    let waiting = held(&app, confirm("nod"));
    let list = phone.device.poll(5, None).await.unwrap();
    let push_id = list.pushes[0].push_id.clone();
    // Another node decides the push: only the database changes, no signal reaches us.
    let open = [PushState::Pending, PushState::Delivered];
    assert!(
        app.store()
            .transition_push(&push_id, &open, PushState::Approved, app.clock.now_ms())
            .await
            .unwrap()
    );
    let reply = tokio::time::timeout(Duration::from_secs(3), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_ok(&reply);
    // Decided once: a later answer does not change it.
    assert_eq!(
        phone.device.answer(&push_id, false, None).await.unwrap().outcome,
        "approved"
    );
    let stored = app.store().push(&push_id).await.unwrap().unwrap();
    assert_eq!(stored.state, PushState::Approved);
}

#[tokio::test]
async fn a_phone_unpaired_while_its_push_waits_ends_the_request_with_10608() {
    let app = TestApp::start().await;
    let phone = phone(&app, "gus").await;
    let waiting = held(&app, confirm("gus"));
    phone.device.poll(5, None).await.unwrap();
    let reply = app
        .client
        .call_raw(
            "unpairdevice",
            &json!({"userName": "gus", "deviceId": phone.device.device_id()}),
        )
        .await
        .unwrap();
    assert_ok(&reply);
    let reply = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_error(&reply, ErrorId::SessionDeviceRemoved);
}

#[tokio::test]
async fn a_held_request_whose_client_goes_away_cancels_its_push() {
    let app = TestApp::start().await;
    let phone = phone(&app, "hal").await;
    let waiting = held(&app, confirm("hal"));
    let list = phone.device.poll(5, None).await.unwrap();
    assert_eq!(list.pushes.len(), 1);
    // The client gives up: its connection closes while the server holds the request.
    waiting.abort();
    let _ = waiting.await;
    let mut cancelled = Vec::new();
    for _ in 0..20 {
        cancelled = phone
            .device
            .poll(1, Some(list.server_time_ms - 1))
            .await
            .unwrap()
            .cancelled;
        if !cancelled.is_empty() {
            break;
        }
    }
    assert_eq!(cancelled, vec![list.pushes[0].push_id.clone()]);
    // The next sign-in gets its push instead of 20523.
    let next = held(&app, confirm("hal"));
    assert_eq!(answer_next(&phone, true, None).await, "approved");
    assert_ok(&next.await.unwrap());
}

/// What an administrator does while a push waits; the phone's approval must then not
/// sign the user in.
async fn change_standing(app: &TestApp, name: &str, change: &str) {
    let org = app.core.find_org("default").await.unwrap();
    match change {
        "suspend" => assert_ok(&call(app, "suspenduser", json!({"userName": name})).await),
        "lock" => app.core.set_user_guard(&org, name, Some(true), None).await.unwrap(),
        "service off" => set(app, "disabled_services", "web").await,
        other => panic!("unknown change {other}"),
    }
}

#[tokio::test]
async fn an_approval_after_suspend_lock_or_service_off_does_not_sign_in() {
    for (i, (change, expected)) in [
        ("suspend", ErrorId::AccountSuspended),
        ("lock", ErrorId::UserLocked),
        ("service off", ErrorId::ServiceNotEnabledForUser),
    ]
    .into_iter()
    .enumerate()
    {
        let app = TestApp::start().await;
        let name = format!("std{i}");
        let phone = phone(&app, &name).await;
        // Held (sync) request.
        let waiting = held(&app, confirm(&name));
        let list = phone.device.poll(5, None).await.unwrap();
        change_standing(&app, &name, change).await;
        let answered = phone.device.answer(&list.pushes[0].push_id, true, None).await.unwrap();
        assert_eq!(answered.outcome, "approved");
        let reply = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_error(&reply, expected);
        let details = app.client.get_user_details(&name).await.unwrap().body["userDetails"].clone();
        assert_eq!(details["lastLogin"], Value::Null, "{change}: no login recorded");
    }
}

#[tokio::test]
async fn an_async_approval_after_suspend_answers_20537_on_every_poll() {
    let app = TestApp::start().await;
    let phone = phone(&app, "asy").await;
    let start = call(
        &app,
        "startauthentication",
        json!({"spAlias": "web", "userName": "asy", "async": true}),
    )
    .await;
    assert_error(&start, ErrorId::AwaitingAsyncResponse);
    let session = start.body["sessionId"].as_str().unwrap().to_string();
    phone.device.poll(5, None).await.unwrap();
    change_standing(&app, "asy", "suspend").await;
    assert_eq!(answer_next(&phone, true, None).await, "approved");
    for _ in 0..2 {
        let status = call(&app, "authstatus", json!({"sessionId": session})).await;
        assert_error(&status, ErrorId::AccountSuspended);
    }
}

#[tokio::test]
async fn a_cancel_that_lands_before_the_approval_wins_for_held_and_async_requests() {
    use twofold_core::push::PushState;
    let app = TestApp::start().await;
    let phone = phone(&app, "can").await;
    let open = [PushState::Pending, PushState::Delivered];
    // Held: the session is cancelled, then (before the cancel reaches the push) the phone
    // approves. The cancel was answered 200, so the held request must not answer 200.
    let waiting = held(&app, confirm("can"));
    let list = phone.device.poll(5, None).await.unwrap();
    let push = app.store().push(&list.pushes[0].push_id).await.unwrap().unwrap();
    assert!(
        app.store()
            .transition_session(&push.session_id, "challenge", "cancelled")
            .await
            .unwrap()
    );
    assert!(
        app.store()
            .transition_push(&push.id, &open, PushState::Approved, app.clock.now_ms())
            .await
            .unwrap()
    );
    let reply = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_error(&reply, ErrorId::AuthenticationCancelled);

    // Async: the same order, then authstatus.
    let start = call(
        &app,
        "startauthentication",
        json!({"spAlias": "web", "userName": "can", "async": true}),
    )
    .await;
    let session = start.body["sessionId"].as_str().unwrap().to_string();
    let list = phone.device.poll(5, None).await.unwrap();
    let push_id = list.pushes[0].push_id.clone();
    assert!(
        app.store()
            .transition_session(&session, "challenge", "cancelled")
            .await
            .unwrap()
    );
    assert!(
        app.store()
            .transition_push(&push_id, &open, PushState::Approved, app.clock.now_ms())
            .await
            .unwrap()
    );
    let status = call(&app, "authstatus", json!({"sessionId": session})).await;
    assert_error(&status, ErrorId::AuthenticationCancelled);
}

#[tokio::test]
async fn a_device_timestamp_at_the_edge_of_i64_is_refused_not_a_panic() {
    let app = TestApp::start().await;
    let http = reqwest::Client::new();
    for ts in ["-9223372036854775808", "9223372036854775807"] {
        let reply = http
            .get(format!("{}/device/v1/status", base(&app)))
            .header("x-twofold-device", "1")
            .header("x-twofold-timestamp", ts)
            .header("x-twofold-nonce", "abcdefghijklmnopq")
            .header("x-twofold-signature", data_encoding::BASE64.encode(&[0u8; 64]))
            .send()
            .await
            .expect("an answer, not a dropped connection");
        assert_eq!(reply.status(), 401, "timestamp {ts}");
    }
}
