//! authoffline approvals that race other requests of the same user (third round of
//! adversarial testing): a guess in flight must gain nothing over a sequential one and
//! give nothing away, and a refused approval leaves the session usable.
//!
//! Each test widens a window that concurrent requests have anyway with a fault delay: the
//! delayed call comes after the code check's reads and before its approval's write.

use std::time::Duration;

use serde_json::json;
use twofold_client::Reply;
use twofold_core::ids::UserId;
use twofold_proto::ErrorId;
use twofold_testkit::{Fault, TestApp};

use crate::auth::{
    PHONE, add_user, call, hotp, hotp_stock, offline, pair, session_of, set, start, start_sms, wrong, yubi,
};
use crate::{assert_error, assert_ok};

/// authoffline for `user` from a task of its own.
fn spawn_offline(
    app: &TestApp,
    user: &str,
    otp: &str,
    session: &str,
) -> tokio::task::JoinHandle<Reply<serde_json::Value>> {
    let client = app.client.clone();
    let body = json!({"spAlias": "web", "userName": user, "otp": otp, "sessionId": session});
    tokio::spawn(async move { client.call_raw("authoffline", &body).await.unwrap() })
}

/// Seven wrong HOTP codes and the right one, each on a session of its own, all checked
/// before the third wrong one locks the user (threshold 3). Sequentially the guesses after
/// the third answer 20526; in flight they answer the same, the right one included, and
/// nothing past the lock is counted. The right code stays unspent, but nobody learned it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guesses_in_flight_at_the_lockout_answer_20526_the_right_one_too() {
    let app = TestApp::start().await;
    set(&app, "lockout_threshold", "3").await;
    hotp_stock(&app).await;
    let tia = add_user(&app, "tia").await;
    pair(&app, "tia", "TOKEN", "HT-1").await;
    let valid: Vec<String> = (0..40).map(hotp).collect();
    let wrongs: Vec<String> = (0..100u32)
        .map(|i| format!("{:06}", 111_111 + i * 97_531 % 1_000_000))
        .filter(|c| !valid.contains(c))
        .take(7)
        .collect();
    let mut sessions = Vec::new();
    for _ in 0..8 {
        sessions.push(session_of(&start(&app, "tia").await));
    }
    app.faults
        .fail("session_push", Fault::Delay(Duration::from_millis(300)));
    let tasks: Vec<_> = wrongs
        .iter()
        .zip(&sessions)
        .map(|(code, session)| spawn_offline(&app, "tia", code, session))
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let right = spawn_offline(&app, "tia", &hotp(0), &sessions[7]);
    let mut wrong_answers = Vec::new();
    for t in tasks {
        wrong_answers.push(t.await.unwrap());
    }
    let right = right.await.unwrap();
    app.faults.clear();
    let counted = wrong_answers
        .iter()
        .filter(|r| r.error_id == ErrorId::IncorrectPassword.code())
        .count();
    assert_eq!(counted, 3, "only the guesses up to the lock are checked as wrong");
    for r in wrong_answers
        .iter()
        .filter(|r| r.error_id != ErrorId::IncorrectPassword.code())
    {
        assert_error(r, ErrorId::AccountTemporarilyLocked);
    }
    assert_error(&right, ErrorId::AccountTemporarilyLocked);
    let guard = app.store().auth_guard(tia).await.unwrap();
    assert!(guard.locked_until_ms.is_some(), "{guard:?}");
    assert_eq!(guard.failed_attempts, 0, "nothing is counted past the lock: {guard:?}");
    let right_session = app.store().auth_session(&sessions[7]).await.unwrap().unwrap();
    assert_eq!((right_session.state.as_str(), right_session.attempts), ("challenge", 0));
}

/// A YubiKey check claims its session; the user failing in another session meanwhile
/// refuses the approval once, and the core approves again with the fresh counts (as if
/// the request had come after that failure) instead of leaving the session in
/// `processing`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claimed_approval_refused_by_a_failure_elsewhere_is_tried_again() {
    let app = TestApp::start().await;
    // An OTP of a key nobody imported: wrong.
    let stranger = twofold_factors::yubikey::encode_otp(
        "cccccccccccb",
        &[7u8; 16],
        &twofold_factors::yubikey::OtpFields {
            private_id: [1; 6],
            use_counter: 1,
            timestamp: 1,
            session_counter: 0,
            random: 1,
        },
    )
    .unwrap();
    let (yan, s1, right) = yubikey_check_during_a_wrong_code(&app, &stranger).await;
    assert_ok(&right);
    assert_eq!(app.store().auth_session(&s1).await.unwrap().unwrap().state, "approved");
    assert_eq!(app.store().auth_guard(yan).await.unwrap().failed_attempts, 0);
}

/// yan pairs the imported YubiKey and opens two sessions; its next OTP is checked on the
/// first (the claim taken, the approval held back) while `wrong` fails on the second
/// (20513). Returns yan, the first session and the OTP's answer.
async fn yubikey_check_during_a_wrong_code(app: &TestApp, wrong: &str) -> (UserId, String, Reply<serde_json::Value>) {
    yubi::import(app).await;
    let yan = add_user(app, "yan").await;
    assert_ok(&call(app, "pairyubikey", json!({"username": "yan", "otp": yubi::otp(1, 0)})).await);
    let s1 = session_of(&start(app, "yan").await);
    let s2 = session_of(&start(app, "yan").await);
    app.faults
        .fail("raise_yubikey_counter", Fault::Delay(Duration::from_millis(400)));
    let right = spawn_offline(app, "yan", &yubi::otp(1, 1), &s1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_error(&offline(app, "yan", wrong, &s2).await, ErrorId::IncorrectPassword);
    let right = right.await.unwrap();
    app.faults.clear();
    (yan, s1, right)
}

/// A YubiKey approval refused because the user got locked meanwhile answers 20526 and
/// gives the claimed session back: after the lock the next OTP signs in on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claimed_approval_refused_by_a_lockout_gives_the_session_back() {
    let app = TestApp::start().await;
    set(&app, "lockout_threshold", "1").await;
    set(&app, "lockout_secs", "60").await;
    let (_, s1, right) = yubikey_check_during_a_wrong_code(&app, "123456").await;
    assert_error(&right, ErrorId::AccountTemporarilyLocked);
    assert_eq!(app.store().auth_session(&s1).await.unwrap().unwrap().state, "challenge");
    app.clock.advance(61_000);
    assert_ok(&offline(&app, "yan", &yubi::otp(1, 2), &s1).await);
}

/// A resend (startauthentication on the session) lands between an authoffline's check of
/// the first SMS code and its approval: the superseded code does not sign in, and the
/// new one does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_code_superseded_by_a_resend_during_its_check_does_not_sign_in() {
    let app = TestApp::start().await;
    add_user(&app, "amy").await;
    pair(&app, "amy", "SMS", PHONE).await;
    let (session, old) = start_sms(&app, "amy", PHONE).await;
    app.faults
        .fail("session_push", Fault::Delay(Duration::from_millis(300)));
    let late = spawn_offline(&app, "amy", &old, &session);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let resend = call(
        &app,
        "startauthentication",
        json!({"spAlias": "web", "userName": "amy", "sessionId": session}),
    )
    .await;
    assert_eq!(resend.error_id, ErrorId::EnterSmsOtp.code(), "{:?}", resend.body);
    let new = app.sender.last_otp_to(PHONE).unwrap();
    let late = late.await.unwrap();
    app.faults.clear();
    assert_error(&late, ErrorId::LoginInProcess);
    assert_eq!(
        app.store().auth_session(&session).await.unwrap().unwrap().state,
        "challenge"
    );
    if new != old {
        assert_ok(&offline(&app, "amy", &new, &session).await);
    }
}

/// With one guess left (threshold 1), a wrong code and the right code race on one
/// session. The wrong code's attempt and failure are one write, so the right code's
/// approval sees both or neither: either it signs in first (and the wrong code then finds
/// the session taken: 20543, nothing counted, nobody locked) or the wrong code locks the
/// user first (and the right one answers 20526). Never both a lock and a sign-in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_code_that_locks_and_a_right_one_in_flight_never_both_count() {
    let app = TestApp::start().await;
    set(&app, "lockout_threshold", "1").await;
    let amy = add_user(&app, "amy").await;
    pair(&app, "amy", "SMS", PHONE).await;
    for write_delay_ms in [0, 700] {
        let (session, code) = start_sms(&app, "amy", PHONE).await;
        app.faults
            .fail("session_push", Fault::Delay(Duration::from_millis(300)));
        app.faults
            .fail("record_wrong_code", Fault::Delay(Duration::from_millis(write_delay_ms)));
        let w = spawn_offline(&app, "amy", &wrong(&code), &session);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = spawn_offline(&app, "amy", &code, &session);
        let (w, r) = (w.await.unwrap(), r.await.unwrap());
        app.faults.clear();
        let guard = app.store().auth_guard(amy).await.unwrap();
        if r.error_id == 200 {
            assert_error(&w, ErrorId::LoginInProcess);
            assert_eq!(guard.locked_until_ms, None, "signed in and locked: {guard:?}");
        } else {
            assert_error(&w, ErrorId::IncorrectPassword);
            assert_error(&r, ErrorId::AccountTemporarilyLocked);
            // Unlock for the next round.
            let org = app.core.find_org("default").await.unwrap();
            app.core.set_user_guard(&org, "amy", Some(false), None).await.unwrap();
        }
    }
}

/// An administrator locks the user while a right code is being checked: the lock is in
/// place before the approval's write, so the approval answers what a new request would,
/// 20524, and signs nobody in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_lock_during_the_check_stops_the_approval() {
    let app = TestApp::start().await;
    add_user(&app, "amy").await;
    pair(&app, "amy", "SMS", PHONE).await;
    let org = app.core.find_org("default").await.unwrap();
    let lock = async {
        app.core.set_user_guard(&org, "amy", Some(true), None).await.unwrap();
    };
    let (answer, state) = right_code_during(&app, lock).await;
    assert_error(&answer, ErrorId::UserLocked);
    assert_eq!(state, "challenge");
}

/// The session's phone is unpaired (lost) while its code is being checked: the approval
/// answers 10608, as a request after the unpairing does, and signs nobody in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_device_unpaired_during_the_check_stops_the_approval() {
    let app = TestApp::start().await;
    add_user(&app, "amy").await;
    let sms = pair(&app, "amy", "SMS", PHONE).await;
    pair(&app, "amy", "EMAIL", "amy@example.org").await;
    let unpair = async {
        assert_ok(&call(&app, "unpairdevice", json!({"userName": "amy", "deviceId": sms})).await);
    };
    let (answer, state) = right_code_during(&app, unpair).await;
    assert_error(&answer, ErrorId::SessionDeviceRemoved);
    assert_eq!(state, "challenge");
}

/// amy's right SMS code on a new session, checked while `meanwhile` runs (it starts after
/// the check's reads and ends before its approval's write); the answer and the session's
/// state afterwards.
async fn right_code_during(app: &TestApp, meanwhile: impl Future<Output = ()>) -> (Reply<serde_json::Value>, String) {
    let (session, code) = start_sms(app, "amy", PHONE).await;
    app.faults
        .fail("session_push", Fault::Delay(Duration::from_millis(400)));
    let answer = spawn_offline(app, "amy", &code, &session);
    tokio::time::sleep(Duration::from_millis(100)).await;
    meanwhile.await;
    let answer = answer.await.unwrap();
    app.faults.clear();
    let state = app.store().auth_session(&session).await.unwrap().unwrap().state;
    (answer, state)
}

/// Three wrong codes in flight on one session with one guess left: the first locks the
/// user; the two that reach the store after the lock answer 20526 and record nothing, not
/// even an attempt on the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guesses_answered_20526_leave_the_session_as_it_was() {
    let app = TestApp::start().await;
    set(&app, "lockout_threshold", "1").await;
    add_user(&app, "amy").await;
    pair(&app, "amy", "SMS", PHONE).await;
    let (session, code) = start_sms(&app, "amy", PHONE).await;
    app.faults
        .fail("session_push", Fault::Delay(Duration::from_millis(300)));
    let guesses: Vec<String> = (1..=3)
        .map(|i| format!("{:06}", (code.parse::<u32>().unwrap() + i) % 1_000_000))
        .collect();
    let tasks: Vec<_> = guesses
        .iter()
        .map(|g| spawn_offline(&app, "amy", g, &session))
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap().error_id);
    }
    app.faults.clear();
    answers.sort_unstable();
    assert_eq!(
        answers,
        [
            ErrorId::IncorrectPassword.code(),
            ErrorId::AccountTemporarilyLocked.code(),
            ErrorId::AccountTemporarilyLocked.code()
        ]
    );
    let stored = app.store().auth_session(&session).await.unwrap().unwrap();
    assert_eq!((stored.state.as_str(), stored.attempts), ("challenge", 1));
}
