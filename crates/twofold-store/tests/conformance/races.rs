//! One-time rules under concurrency: many callers at once (on PostgreSQL, as many pool
//! connections as two or more nodes would use), exactly the allowed number win.

use std::sync::Arc;

use twofold_core::Store;
use twofold_core::device::DeviceId;
use twofold_core::store::{
    Approval, ApprovalOutcome, AttemptOutcome, AuditEvent, AuthSession, FailureOutcome, InsertUser, PairOutcome,
    PairingSession, SmsReservation, WrongCode, WrongCodeOutcome,
};

use crate::conformance;
use crate::fixtures::{T0, new_user, org, sms_device, totp_device, user};

const RACERS: usize = 12;

conformance! {
    one_code_one_counter_step => counter_race;
    one_finisher_per_pairing_session => pairing_race;
    one_transition_per_session_state => session_race;
    one_approval_per_code => approval_race;
    one_approval_per_code_unclaimed => unclaimed_approval_race;
    one_approval_per_session => same_session_approval_race;
    no_approval_after_a_wrong_code => approval_after_failure;
    a_wrong_code_is_recorded_whole_or_not_at_all => wrong_code_whole;
    concurrent_wrong_codes_count_up_to_the_lock => wrong_code_race;
    quota_holds_under_concurrent_inserts => quota_race;
    send_limit_holds_under_concurrent_sends => send_race;
    sms_limit_holds_under_concurrent_sends => sms_race;
    one_claim_per_job => job_race;
    parallel_pairings_get_distinct_positions => position_race;
}

/// Runs `f(i)` for `RACERS` tasks at once; returns how many returned true.
async fn race<F, Fut>(f: F) -> usize
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let handles: Vec<_> = (0..RACERS).map(|i| tokio::spawn(f(i))).collect();
    let mut won = 0;
    for h in handles {
        if h.await.expect("task") {
            won += 1;
        }
    }
    won
}

async fn counter_race(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    let u = user(store.as_ref(), o, "u").await;
    store.pair_device(&totp_device(o, u, 41), 5, None).await.unwrap();
    let won = race(|_| {
        let s = store.clone();
        async move { s.swap_counter(DeviceId(41), None, 1000).await.unwrap() }
    })
    .await;
    assert_eq!(won, 1);
}

async fn pairing_race(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    let u = user(store.as_ref(), o, "u").await;
    let device = totp_device(o, u, 51);
    store
        .create_pairing_session(&PairingSession {
            id: "oacts_race".into(),
            device: device.clone(),
            code_hash: None,
            attempts: 0,
            expires_ms: T0 + 60_000,
            state: "open".into(),
        })
        .await
        .unwrap();
    let won = race(|_| {
        let (s, d) = (store.clone(), device.clone());
        async move {
            matches!(
                s.pair_device(&d, 5, Some("oacts_race")).await.unwrap(),
                PairOutcome::Paired(_)
            )
        }
    })
    .await;
    assert_eq!(won, 1);
    assert_eq!(store.devices_of(u).await.unwrap().len(), 1);
    assert_eq!(
        store.pairing_session("oacts_race").await.unwrap().unwrap().state,
        "done"
    );
}

async fn session_race(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    let u = user(store.as_ref(), o, "u").await;
    let session = AuthSession {
        code_hash: Some(vec![9; 32]),
        ..auth_session(o, u, "webs_race", "challenge", None)
    };
    store.create_auth_session(&session).await.unwrap();
    assert_eq!(store.auth_session("webs_race").await.unwrap().as_ref(), Some(&session));
    let won = race(|_| {
        let s = store.clone();
        async move {
            s.transition_session("webs_race", "challenge", "processing")
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(won, 1);
    assert_eq!(
        store.auth_session("webs_race").await.unwrap().unwrap().state,
        "processing"
    );
}

async fn quota_race(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    let won = race(|i| {
        let s = store.clone();
        async move {
            matches!(
                s.insert_user(&new_user(o, &format!("user{i}")), Some(3)).await.unwrap(),
                InsertUser::Created(_)
            )
        }
    })
    .await;
    assert_eq!(won, 3);
    assert_eq!(store.count_users(o).await.unwrap(), 3);
}

async fn send_race(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    let won = race(|_| {
        let s = store.clone();
        async move { s.reserve_send(o, "+15550100", T0 - 60_000, 3, T0).await.unwrap() }
    })
    .await;
    assert_eq!(won, 3);
}

async fn sms_race(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    let u = user(store.as_ref(), o, "u").await;
    let won = race(|_| {
        let s = store.clone();
        async move { s.reserve_sms(u, 19_000, 10, 4).await.unwrap() == SmsReservation::Reserved }
    })
    .await;
    assert_eq!(won, 4);
    assert_eq!(store.sms_usage(u, 19_000).await.unwrap().sent, 4);
}

async fn job_race(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    store
        .insert_job(&twofold_core::store::JobRecord {
            token: "job".into(),
            org_id: o,
            kind: "USER_REPORTS".into(),
            status: "pending".into(),
            result: None,
            created_ms: T0,
            finished_ms: None,
        })
        .await
        .unwrap();
    let won = race(|_| {
        let s = store.clone();
        async move { s.claim_job(T0, T0 - 1).await.unwrap().is_some() }
    })
    .await;
    assert_eq!(won, 1);
}

async fn position_race(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    let u = user(store.as_ref(), o, "u").await;
    let won = race(|i| {
        let s = store.clone();
        async move {
            let id = 100 + i64::try_from(i).unwrap();
            matches!(
                s.pair_device(&sms_device(o, u, id, &format!("+1555{id}")), 8, None)
                    .await,
                Ok(PairOutcome::Paired(_))
            )
        }
    })
    .await;
    assert_eq!(won, 8);
    let mut positions: Vec<i64> = store.devices_of(u).await.unwrap().iter().map(|d| d.position).collect();
    positions.sort_unstable();
    assert_eq!(positions, (1..=8).collect::<Vec<_>>());
}

/// Twelve requests approve twelve claimed sessions with the same code (the same counter
/// move): one wins, and with it come the session's approval, the success and the phone
/// count; the others change nothing.
async fn approval_race(store: Arc<dyn Store>) {
    code_race(store, true).await;
}

/// The same with sessions still in `challenge` (a local code check claims nothing): the
/// approval takes the session and spends the code in one step; the losers' sessions stay
/// in `challenge`, free for another code.
async fn unclaimed_approval_race(store: Arc<dyn Store>) {
    code_race(store, false).await;
}

/// One approval of `session`, spending `counter` on device 51, with its audit record.
async fn approve(
    s: &dyn Store,
    o: twofold_core::ids::OrgId,
    u: twofold_core::ids::UserId,
    session: &str,
    claimed: bool,
    counter: i64,
    failures_read: u32,
) -> ApprovalOutcome {
    let audit = AuditEvent {
        org_id: o,
        user_id: Some(u),
        username: Some("u".into()),
        device_id: Some(DeviceId(51)),
        op: "authoffline".into(),
        error_id: 200,
        source_ip: None,
        created_ms: T0 + 50,
    };
    s.approve_session(&Approval {
        session_id: session,
        claimed,
        attempts_read: 0,
        failures_read,
        user: u,
        device: Some(DeviceId(51)),
        code_hash_read: None,
        counter: Some((DeviceId(51), None, counter)),
        sms_day: Some(7),
        now_ms: T0 + 50,
        audit: Some(&audit),
    })
    .await
    .unwrap()
}

async fn code_race(store: Arc<dyn Store>, claimed: bool) {
    let o = org(store.as_ref(), "acme").await;
    let u = user(store.as_ref(), o, "u").await;
    store.pair_device(&totp_device(o, u, 51), 5, None).await.unwrap();
    store.record_failure(u, 10, T0, T0).await.unwrap();
    let start = if claimed { "processing" } else { "challenge" };
    for i in 0..RACERS {
        let id = format!("webs_approve{i}");
        let session = auth_session(o, u, &id, start, Some(DeviceId(51)));
        store.create_auth_session(&session).await.unwrap();
    }
    let outcomes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let won = race(|i| {
        let s = store.clone();
        let outcomes = outcomes.clone();
        async move {
            let outcome = approve(s.as_ref(), o, u, &format!("webs_approve{i}"), claimed, 1_000, 1).await;
            outcomes.lock().unwrap().push(outcome);
            outcome == ApprovalOutcome::Approved
        }
    })
    .await;
    assert_eq!(won, 1);
    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(
        outcomes.iter().filter(|o| **o == ApprovalOutcome::CodeSpent).count(),
        RACERS - 1,
        "{outcomes:?}"
    );
    let mut states = Vec::new();
    for i in 0..RACERS {
        states.push(
            store
                .auth_session(&format!("webs_approve{i}"))
                .await
                .unwrap()
                .unwrap()
                .state,
        );
    }
    assert_eq!(states.iter().filter(|s| *s == "approved").count(), 1, "{states:?}");
    assert_eq!(states.iter().filter(|s| *s == start).count(), RACERS - 1, "{states:?}");
    let device = store.devices_of(u).await.unwrap().remove(0);
    assert_eq!((device.counter, device.last_used_ms), (Some(1_000), Some(T0 + 50)));
    assert_eq!(store.user_by_id(u).await.unwrap().unwrap().last_login_ms, Some(T0 + 50));
    assert_eq!(store.auth_guard(u).await.unwrap().failed_attempts, 0);
    assert_eq!(store.sms_usage(u, 7).await.unwrap().claimed, 1);
    // The winner's audit record came with it; the losers wrote none.
    let audit = store.recent_audit(u, 50).await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!((audit[0].op.as_str(), audit[0].error_id), ("authoffline", 200));
}

/// Twelve requests approve one unclaimed session, each with a code of its own (distinct
/// counter moves): one takes the session; the others find it gone and spend nothing.
async fn same_session_approval_race(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    let u = user(store.as_ref(), o, "u").await;
    store.pair_device(&totp_device(o, u, 51), 5, None).await.unwrap();
    let session = auth_session(o, u, "webs_one", "challenge", Some(DeviceId(51)));
    store.create_auth_session(&session).await.unwrap();
    let outcomes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let won = race(|i| {
        let s = store.clone();
        let outcomes = outcomes.clone();
        async move {
            let counter = 2_000 + i64::try_from(i).unwrap();
            let outcome = approve(s.as_ref(), o, u, "webs_one", false, counter, 0).await;
            outcomes.lock().unwrap().push(outcome);
            outcome == ApprovalOutcome::Approved
        }
    })
    .await;
    assert_eq!(won, 1);
    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(
        outcomes.iter().filter(|o| **o == ApprovalOutcome::SessionMoved).count(),
        RACERS - 1,
        "{outcomes:?}"
    );
    assert_eq!(store.auth_session("webs_one").await.unwrap().unwrap().state, "approved");
    // Exactly the winner's counter was written, and one success, one phone code, one record.
    let counter = store.devices_of(u).await.unwrap().remove(0).counter.unwrap();
    assert!(
        (2_000..2_000 + i64::try_from(RACERS).unwrap()).contains(&counter),
        "{counter}"
    );
    assert_eq!(store.sms_usage(u, 7).await.unwrap().claimed, 1);
    assert_eq!(store.recent_audit(u, 50).await.unwrap().len(), 1);
}

/// An approval whose checks read the session before a wrong code was recorded on it, or
/// before the user failed elsewhere, or that finds the user locked, changes nothing; one
/// that read the current counts goes through.
async fn approval_after_failure(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    let u = user(store.as_ref(), o, "u").await;
    store.pair_device(&totp_device(o, u, 51), 5, None).await.unwrap();
    for id in ["webs_s", "webs_t", "webs_r"] {
        let session = auth_session(o, u, id, "challenge", Some(DeviceId(51)));
        store.create_auth_session(&session).await.unwrap();
    }
    let approval = |session_id, attempts_read, failures_read, counter, now_ms| Approval {
        session_id,
        claimed: false,
        attempts_read,
        failures_read,
        user: u,
        device: Some(DeviceId(51)),
        code_hash_read: None,
        counter: Some((DeviceId(51), counter, 10)),
        sms_day: None,
        now_ms,
        audit: None,
    };
    // A concurrent wrong code on the session: attempts 0 -> 1 (and failures 0 -> 1).
    let wrong = WrongCode {
        session_id: "webs_s",
        from: "challenge",
        max_attempts: 3,
        user: u,
        threshold: 10,
        now_ms: T0,
        lock_until_ms: T0,
    };
    assert!(matches!(
        store.record_wrong_code(&wrong).await.unwrap(),
        WrongCodeOutcome::Counted {
            attempt: AttemptOutcome::Remaining,
            ..
        }
    ));
    let stale = approval("webs_s", 0, 1, None, T0 + 50);
    assert_eq!(
        store.approve_session(&stale).await.unwrap(),
        ApprovalOutcome::SessionMoved
    );
    // A failure in another session of the user: failures 1 -> 2.
    store.record_failure(u, 10, T0, T0).await.unwrap();
    let stale = approval("webs_s", 1, 1, None, T0 + 50);
    assert_eq!(
        store.approve_session(&stale).await.unwrap(),
        ApprovalOutcome::SessionMoved
    );
    let untouched = store.devices_of(u).await.unwrap().remove(0);
    assert_eq!((untouched.counter, untouched.last_used_ms), (None, None));
    assert_eq!(store.auth_session("webs_s").await.unwrap().unwrap().state, "challenge");
    // Locked out meanwhile (the count restarts at the lock).
    store.record_failure(u, 2, T0, T0 + 600_000).await.unwrap();
    assert_eq!(store.auth_guard(u).await.unwrap().failed_attempts, 0);
    let locked = approval("webs_s", 1, 0, None, T0 + 50);
    assert_eq!(
        store.approve_session(&locked).await.unwrap(),
        ApprovalOutcome::SessionMoved
    );
    // After the lock, with the counts as read: approved.
    let fresh = approval("webs_s", 1, 0, None, T0 + 700_000);
    assert_eq!(store.approve_session(&fresh).await.unwrap(), ApprovalOutcome::Approved);
    assert_eq!(store.auth_session("webs_s").await.unwrap().unwrap().state, "approved");
    // A success elsewhere reset the count: a lower count than read does not refuse.
    store.record_failure(u, 10, T0 + 700_000, T0).await.unwrap();
    let lower = approval("webs_t", 0, 3, None, T0 + 700_000);
    assert_eq!(store.approve_session(&lower).await.unwrap(), ApprovalOutcome::CodeSpent);
    // A resend replaced the session's code after the check read it: the code checked was
    // the old one, so nothing changes; the current one goes through.
    let new_hash = vec![7u8; 32];
    assert!(
        store
            .set_challenge("webs_r", Some(DeviceId(51)), Some(new_hash.clone()), Some(T0 + 1))
            .await
            .unwrap()
    );
    let old_code = approval("webs_r", 0, 3, Some(10), T0 + 700_000);
    assert_eq!(
        store.approve_session(&old_code).await.unwrap(),
        ApprovalOutcome::SessionMoved
    );
    assert_eq!(store.auth_session("webs_r").await.unwrap().unwrap().state, "challenge");
    let current = Approval {
        code_hash_read: Some(&new_hash),
        counter: None,
        ..old_code
    };
    assert_eq!(
        store.approve_session(&current).await.unwrap(),
        ApprovalOutcome::Approved
    );
    assert_eq!(store.auth_session("webs_r").await.unwrap().unwrap().state, "approved");
}

/// A wrong code's session attempt and user failure land together, or nothing does: a
/// locked user and a session that left `from` change nothing at all.
async fn wrong_code_whole(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    let u = user(store.as_ref(), o, "u").await;
    for id in ["webs_a", "webs_b"] {
        store
            .create_auth_session(&auth_session(o, u, id, "challenge", None))
            .await
            .unwrap();
    }
    let wrong = |session_id, now_ms| WrongCode {
        session_id,
        from: "challenge",
        max_attempts: 2,
        user: u,
        threshold: 3,
        now_ms,
        lock_until_ms: now_ms + 1_000,
    };
    let counted = store.record_wrong_code(&wrong("webs_a", T0)).await.unwrap();
    assert_eq!(
        counted,
        WrongCodeOutcome::Counted {
            attempt: AttemptOutcome::Remaining,
            failure: FailureOutcome::Counted
        }
    );
    let last = store.record_wrong_code(&wrong("webs_a", T0)).await.unwrap();
    assert_eq!(
        last,
        WrongCodeOutcome::Counted {
            attempt: AttemptOutcome::Exhausted,
            failure: FailureOutcome::Counted
        }
    );
    assert_eq!(store.auth_session("webs_a").await.unwrap().unwrap().state, "failed");
    // The session is closed: neither it nor the user changes.
    assert_eq!(
        store.record_wrong_code(&wrong("webs_a", T0)).await.unwrap(),
        WrongCodeOutcome::SessionGone
    );
    assert_eq!(store.auth_guard(u).await.unwrap().failed_attempts, 2);
    // The third failure locks; while locked, nothing is recorded on the other session.
    let locking = store.record_wrong_code(&wrong("webs_b", T0)).await.unwrap();
    assert_eq!(
        locking,
        WrongCodeOutcome::Counted {
            attempt: AttemptOutcome::Remaining,
            failure: FailureOutcome::LockedNow
        }
    );
    assert_eq!(
        store.record_wrong_code(&wrong("webs_b", T0 + 999)).await.unwrap(),
        WrongCodeOutcome::UserLocked
    );
    assert_eq!(store.auth_session("webs_b").await.unwrap().unwrap().attempts, 1);
    let guard = store.auth_guard(u).await.unwrap();
    assert_eq!((guard.failed_attempts, guard.locked_until_ms), (0, Some(T0 + 1_000)));
}

/// Many wrong codes at once, each on a session of its own, threshold 3: exactly three are
/// counted (the third locks), every other one records nothing.
async fn wrong_code_race(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    let u = user(store.as_ref(), o, "u").await;
    let ids: Vec<String> = (0..12).map(|i| format!("webs_r{i:02}")).collect();
    for id in &ids {
        store
            .create_auth_session(&auth_session(o, u, id, "challenge", None))
            .await
            .unwrap();
    }
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move {
                let wrong = WrongCode {
                    session_id: &id,
                    from: "challenge",
                    max_attempts: 3,
                    user: u,
                    threshold: 3,
                    now_ms: T0,
                    lock_until_ms: T0 + 1_000,
                };
                store.record_wrong_code(&wrong).await.unwrap()
            })
        })
        .collect();
    let mut counted = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), WrongCodeOutcome::Counted { .. }) {
            counted += 1;
        }
    }
    assert_eq!(counted, 3);
    let mut attempts = 0;
    for id in &ids {
        attempts += store.auth_session(id).await.unwrap().unwrap().attempts;
    }
    assert_eq!(attempts, 3, "only the counted codes left an attempt");
}

/// An authentication session of `user` in `state`, with no code hash.
fn auth_session(
    org: twofold_core::ids::OrgId,
    user: twofold_core::ids::UserId,
    id: &str,
    state: &str,
    device: Option<DeviceId>,
) -> AuthSession {
    AuthSession {
        id: id.into(),
        org_id: org,
        user_id: user,
        device_id: device,
        kind: "auth".into(),
        sp_alias: "web".into(),
        state: state.into(),
        code_hash: None,
        backup_channel: None,
        backup_target: None,
        resync_counter: None,
        attempts: 0,
        challenge_expires_ms: Some(T0 + 1),
        expires_ms: T0 + 2,
        created_ms: T0,
    }
}
