//! Ended authentication sessions are deleted an hour after they expire, with their
//! pushes, and nothing a client sees changes (an expired session answers 20517 before and
//! after). Runs on both engines like every integration test.

use std::time::Duration;

use serde_json::json;
use twofold_core::Clock as _;
use twofold_core::services::SESSION_KEEP_MS;
use twofold_core::store::AuthSession;
use twofold_proto::ErrorId;
use twofold_testkit::TestApp;

use crate::assert_error;
use crate::auth::{PHONE, add_user, offline, pair, start_sms};
use crate::push::phone;

/// The session's lifetime at the default `session_lifetime_secs` (600).
const LIFETIME_MS: i64 = 600_000;

#[tokio::test]
async fn sessions_and_their_pushes_go_an_hour_after_expiry_and_answers_stay_the_same() {
    let app = TestApp::start().await;
    add_user(&app, "amy").await;
    pair(&app, "amy", "SMS", PHONE).await;
    let _phone = phone(&app, "ola").await;
    let (old_code_session, code) = start_sms(&app, "amy", PHONE).await;
    let push_start = app
        .client
        .call_raw(
            "startauthentication",
            &json!({"spAlias": "web", "userName": "ola", "async": true}),
        )
        .await
        .unwrap();
    assert_error(&push_start, ErrorId::AwaitingAsyncResponse);
    let old_push_session = push_start.body["sessionId"].as_str().unwrap().to_owned();
    assert!(app.store().session_push(&old_push_session).await.unwrap().is_some());

    // Expired, but not yet an hour ago: answered as unknown, kept.
    app.clock.advance(LIFETIME_MS + SESSION_KEEP_MS - 1);
    let (young_session, _) = start_sms(&app, "amy", PHONE).await;
    assert_error(
        &offline(&app, "amy", &code, &old_code_session).await,
        ErrorId::InvalidSession,
    );
    assert_eq!(app.core.sweep_sessions().await.unwrap(), 0);
    assert!(app.store().auth_session(&old_code_session).await.unwrap().is_some());

    // An hour after expiry: both old sessions go, the push with its session, the young
    // session stays, and the answers are what they were.
    app.clock.advance(2);
    assert_eq!(app.core.sweep_sessions().await.unwrap(), 2);
    assert!(app.store().auth_session(&old_code_session).await.unwrap().is_none());
    assert!(app.store().auth_session(&old_push_session).await.unwrap().is_none());
    assert!(app.store().session_push(&old_push_session).await.unwrap().is_none());
    assert!(app.store().auth_session(&young_session).await.unwrap().is_some());
    assert_error(
        &offline(&app, "amy", &code, &old_code_session).await,
        ErrorId::InvalidSession,
    );
    let status = app
        .client
        .call_raw("authstatus", &json!({"sessionId": old_push_session}))
        .await
        .unwrap();
    assert_error(&status, ErrorId::InvalidSession);
    assert_eq!(
        app.core.sweep_sessions().await.unwrap(),
        0,
        "a second sweep finds nothing"
    );
}

/// More ended sessions than one batch (written straight to the store: 1,005 sign-ins
/// would pass the resend limit): one sweep deletes them all, batch by batch.
#[tokio::test]
async fn a_sweep_takes_more_than_one_batch() {
    let app = TestApp::start().await;
    let user = add_user(&app, "amy").await;
    let org = app.org_id().await;
    let now = app.clock.now_ms();
    for i in 0..1_005 {
        let session = AuthSession {
            id: format!("webs_sweep{i:04}"),
            org_id: org,
            user_id: user,
            device_id: None,
            kind: "auth".into(),
            sp_alias: "web".into(),
            state: "approved".into(),
            code_hash: None,
            backup_channel: None,
            backup_target: None,
            resync_counter: None,
            attempts: 0,
            challenge_expires_ms: None,
            expires_ms: now + LIFETIME_MS,
            created_ms: now,
        };
        app.store().create_auth_session(&session).await.unwrap();
    }
    app.clock.advance(LIFETIME_MS + SESSION_KEEP_MS + 1);
    assert_eq!(app.core.sweep_sessions().await.unwrap(), 1_005);
    assert!(app.store().auth_session("webs_sweep1004").await.unwrap().is_none());
}

/// The server's sweeper task sweeps on its own: started with a short period, it deletes
/// an old session without anyone calling the core.
#[tokio::test]
async fn the_sweeper_task_sweeps_by_itself() {
    let app = TestApp::start().await;
    add_user(&app, "amy").await;
    pair(&app, "amy", "SMS", PHONE).await;
    let (session, _) = start_sms(&app, "amy", PHONE).await;
    app.clock.advance(LIFETIME_MS + SESSION_KEEP_MS + 1);
    let sweeper = twofold_server::sweep::spawn_sweeper(app.core.clone(), Duration::from_millis(20));
    let mut gone = false;
    for _ in 0..250 {
        if app.store().auth_session(&session).await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sweeper.abort();
    assert!(gone, "the sweeper did not delete the session within 5 s");
}
