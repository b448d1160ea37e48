//! Round trips: what one engine stores, both read back the same way.

use std::sync::Arc;

use twofold_core::Store;
use twofold_core::device::{DeviceId, DeviceType};
use twofold_core::ids::ApiTokenId;
use twofold_core::model::{ApiToken, Service, TokenScope, UserStatus};
use twofold_core::store::{AuditEvent, FailureOutcome, InsertUser, JobRecord, NewOrg, PairOutcome};

use crate::conformance;
use crate::fixtures::{T0, new_user, org, sms_device, totp_device, user};

conformance! {
    orgs_are_unique_by_name_and_alias => orgs_unique;
    usernames_are_unique_per_org_case_insensitively => usernames_unique;
    memberships_keep_join_order_and_bypass => memberships;
    pairing_numbers_devices_and_unpairing_renumbers => pairing;
    guards_and_flags_round_trip => guards;
    audit_is_newest_first => audit;
    jobs_are_claimed_in_order_and_finished => jobs;
    report_pages_join_users_and_devices => report;
    counters_swap_from_null_and_from_a_value => counters;
    a_token_is_read_with_its_organization => token_with_org;
}

async fn token_with_org(store: Arc<dyn Store>) {
    let id = org(store.as_ref(), "acme").await;
    let token = ApiToken {
        token: ApiTokenId("tok-1".into()),
        org_id: id,
        scope: TokenScope::AuthOnly,
        sealed_key: vec![1, 2, 3],
        created_ms: T0,
        revoked_ms: None,
    };
    store.insert_token(&token).await.unwrap();
    let (found, found_org) = store.token_with_org(&token.token).await.unwrap().expect("the token");
    assert_eq!(
        (
            found.token.0.as_str(),
            found.org_id,
            found.scope,
            found.sealed_key,
            found.created_ms,
            found.revoked_ms
        ),
        ("tok-1", id, TokenScope::AuthOnly, vec![1, 2, 3], T0, None)
    );
    let found_org = found_org.expect("its organization");
    let by_id = store.org_by_id(id).await.unwrap().expect("by id");
    assert_eq!(
        (
            found_org.id,
            found_org.alias.0.as_str(),
            found_org.name.as_str(),
            found_org.created_ms
        ),
        (by_id.id, "alias-acme", "acme", T0)
    );
    assert_eq!(found_org.settings, by_id.settings);
    assert!(store.revoke_token(&token.token, T0 + 5).await.unwrap());
    let (revoked, _) = store.token_with_org(&token.token).await.unwrap().expect("still found");
    assert_eq!(revoked.revoked_ms, Some(T0 + 5));
    assert!(
        store
            .token_with_org(&ApiTokenId("nope".into()))
            .await
            .unwrap()
            .is_none()
    );
}

async fn orgs_unique(store: Arc<dyn Store>) {
    let id = org(store.as_ref(), "acme").await;
    let again = NewOrg {
        alias: "other".into(),
        name: "acme".into(),
        created_ms: T0,
    };
    assert!(store.create_org(&again).await.unwrap().is_none());
    let found = store.find_org("alias-acme").await.unwrap().expect("by alias");
    assert_eq!((found.id, found.name.as_str(), found.created_ms), (id, "acme", T0));
    assert_eq!(store.find_org("acme").await.unwrap().expect("by name").id, id);
    assert_eq!(store.list_orgs().await.unwrap().len(), 1);
}

async fn usernames_unique(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    let first = user(store.as_ref(), o, "Alice").await;
    let dup = store.insert_user(&new_user(o, "ALICE"), None).await.unwrap();
    assert!(matches!(dup, InsertUser::Duplicate), "{dup:?}");
    let stored = store.user_by_name(o, "alice").await.unwrap().expect("stored");
    assert_eq!(stored.id, first);
    assert_eq!(stored.username, "Alice");
    assert_eq!(stored.status, UserStatus::NotActive);
    assert_eq!(stored.profile.email.as_deref(), Some("alice@example.com"));
    // Ids are never reused after a delete.
    assert!(store.delete_user(first).await.unwrap());
    let second = user(store.as_ref(), o, "alice").await;
    assert!(second.0 > first.0, "{second:?} after {first:?}");
    assert_eq!(store.count_users(o).await.unwrap(), 1);
}

async fn memberships(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    let u = user(store.as_ref(), o, "bob").await;
    assert!(store.add_membership(u, Service::Web, T0).await.unwrap());
    assert!(store.add_membership(u, Service::RescueCode, T0).await.unwrap());
    assert!(!store.add_membership(u, Service::Web, T0).await.unwrap());
    store
        .set_bypass(u, &[Service::RescueCode], Some(T0 + 60_000), false, T0)
        .await
        .unwrap();
    let m = store.memberships(u).await.unwrap();
    let got: Vec<_> = m.iter().map(|m| (m.service, m.active, m.bypass_until_ms)).collect();
    assert_eq!(
        got,
        vec![
            (Service::Web, true, None),
            (Service::RescueCode, true, Some(T0 + 60_000))
        ]
    );
    assert!(store.remove_membership(u, Service::Web).await.unwrap());
    assert!(!store.remove_membership(u, Service::Web).await.unwrap());
}

async fn pairing(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    let u = user(store.as_ref(), o, "carol").await;
    for (id, phone) in [(11, "+15550001"), (12, "+15550002"), (13, "+15550003")] {
        let out = store.pair_device(&sms_device(o, u, id, phone), 5, None).await.unwrap();
        assert!(matches!(out, PairOutcome::Paired(_)), "{out:?}");
    }
    let out = store.pair_device(&totp_device(o, u, 14), 3, None).await.unwrap();
    assert!(matches!(out, PairOutcome::TooManyDevices), "{out:?}");
    let devices = store.devices_of(u).await.unwrap();
    let got: Vec<_> = devices
        .iter()
        .map(|d| (d.id.0, d.position, d.nickname.as_str()))
        .collect();
    assert_eq!(got, vec![(11, 1, "SMS 1"), (12, 2, "SMS 2"), (13, 3, "SMS 3")]);
    assert_eq!(store.user_by_id(u).await.unwrap().unwrap().status, UserStatus::Active);
    assert_eq!(
        store.target_owner(o, DeviceType::Voice, "+15550002").await.unwrap(),
        Some(u)
    );
    assert!(store.move_device(u, DeviceId(13), 1).await.unwrap());
    assert_eq!(
        store.rename_device(u, DeviceId(13), "SMS 1").await.unwrap(),
        Some(false)
    );
    assert_eq!(store.rename_device(u, DeviceId(13), "phone").await.unwrap(), Some(true));
    assert_eq!(store.unpair(u, Some(DeviceId(11))).await.unwrap(), 1);
    let got: Vec<_> = store
        .devices_of(u)
        .await
        .unwrap()
        .iter()
        .map(|d| (d.id.0, d.position))
        .collect();
    assert_eq!(got, vec![(13, 1), (12, 2)]);
    assert_eq!(store.unpair(u, None).await.unwrap(), 2);
    assert_eq!(
        store.user_by_id(u).await.unwrap().unwrap().status,
        UserStatus::PendingChangeDevice
    );
}

async fn guards(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    let u = user(store.as_ref(), o, "dave").await;
    assert_eq!(
        store.record_failure(u, 3, T0, T0 + 1).await.unwrap(),
        FailureOutcome::Counted
    );
    assert_eq!(
        store.record_failure(u, 3, T0, T0 + 1).await.unwrap(),
        FailureOutcome::Counted
    );
    assert_eq!(
        store.record_failure(u, 3, T0, T0 + 1).await.unwrap(),
        FailureOutcome::LockedNow
    );
    let g = store.auth_guard(u).await.unwrap();
    assert_eq!((g.failed_attempts, g.locked_until_ms), (0, Some(T0 + 1)));
    // While locked nothing counts; once the lock is over counting starts again.
    assert_eq!(
        store.record_failure(u, 3, T0, T0 + 1).await.unwrap(),
        FailureOutcome::AlreadyLocked
    );
    assert_eq!(store.auth_guard(u).await.unwrap().failed_attempts, 0);
    assert_eq!(
        store.record_failure(u, 3, T0 + 1, T0 + 2).await.unwrap(),
        FailureOutcome::Counted
    );
    store.record_success(u, None, T0 + 1, true).await.unwrap();
    let g = store.auth_guard(u).await.unwrap();
    assert_eq!((g.failed_attempts, g.locked_until_ms), (0, Some(T0 + 1)));
    // Locking and OTP-blocking leave an automatic lockout as it is; unlocking ends it.
    store.record_failure(u, 3, T0 + 1, T0 + 60).await.unwrap();
    store.record_failure(u, 3, T0 + 1, T0 + 60).await.unwrap();
    assert_eq!(
        store.record_failure(u, 3, T0 + 1, T0 + 60).await.unwrap(),
        FailureOutcome::LockedNow
    );
    store.record_failure(u, 1, T0 + 61, T0 + 90).await.unwrap();
    store.record_failure(u, 9, T0 + 91, T0 + 90).await.unwrap();
    store.set_user_flags(u, Some(true), Some(false)).await.unwrap();
    let g = store.auth_guard(u).await.unwrap();
    assert_eq!((g.failed_attempts, g.locked_until_ms), (1, Some(T0 + 90)));
    store.set_user_flags(u, Some(false), None).await.unwrap();
    let g = store.auth_guard(u).await.unwrap();
    assert_eq!((g.admin_locked, g.failed_attempts, g.locked_until_ms), (false, 0, None));
    store.set_user_flags(u, Some(true), None).await.unwrap();
    let g = store.auth_guard(u).await.unwrap();
    assert!(g.admin_locked && !g.otp_blocked);
    store.set_user_flags(u, Some(false), Some(true)).await.unwrap();
    let g = store.auth_guard(u).await.unwrap();
    assert!(!g.admin_locked && g.otp_blocked);
    store.record_success(u, None, T0 + 5, true).await.unwrap();
    assert_eq!(store.user_by_id(u).await.unwrap().unwrap().last_login_ms, Some(T0 + 5));
    // The user and its guards read together match the two reads one after the other.
    store.record_failure(u, 3, T0 + 5, T0 + 9).await.unwrap();
    let (found, g) = store.user_and_guard(o, "dave").await.unwrap().expect("dave");
    let alone = store.user_by_id(u).await.unwrap().unwrap();
    assert_eq!(
        (found.id, found.username.as_str(), found.last_login_ms, found.status),
        (u, "dave", Some(T0 + 5), alone.status)
    );
    assert_eq!(g, store.auth_guard(u).await.unwrap());
    assert_eq!((g.failed_attempts, g.otp_blocked, g.admin_locked), (1, true, false));
    assert!(store.user_and_guard(o, "nobody").await.unwrap().is_none());
}

async fn audit(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    let u = user(store.as_ref(), o, "erin").await;
    for (i, op) in ["startauthentication", "authoffline"].iter().enumerate() {
        store
            .append_audit(&AuditEvent {
                org_id: o,
                user_id: Some(u),
                username: Some("erin".into()),
                device_id: None,
                op: (*op).to_string(),
                error_id: 200 + u32::try_from(i).unwrap(),
                source_ip: Some("10.0.0.1".into()),
                created_ms: T0,
            })
            .await
            .unwrap();
    }
    let got: Vec<_> = store
        .recent_audit(u, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.op, e.error_id))
        .collect();
    assert_eq!(
        got,
        vec![
            ("authoffline".to_string(), 201),
            ("startauthentication".to_string(), 200)
        ]
    );
}

async fn jobs(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    for (token, created) in [("j2", T0 + 2), ("j1", T0 + 1)] {
        store
            .insert_job(&JobRecord {
                token: token.into(),
                org_id: o,
                kind: "USER_REPORTS".into(),
                status: "pending".into(),
                result: None,
                created_ms: created,
                finished_ms: None,
            })
            .await
            .unwrap();
    }
    let first = store.claim_job(T0 + 10, T0).await.unwrap().expect("a job");
    assert_eq!((first.token.as_str(), first.status.as_str()), ("j1", "in_progress"));
    store.finish_job("j1", "done", "{}", T0 + 20).await.unwrap();
    let second = store.claim_job(T0 + 30, T0).await.unwrap().expect("a job");
    assert_eq!(second.token, "j2");
    assert!(store.claim_job(T0 + 40, T0).await.unwrap().is_none());
    // A lease older than the cut-off is taken over (a node died mid-job).
    assert_eq!(
        store.claim_job(T0 + 50, T0 + 31).await.unwrap().map(|j| j.token),
        Some("j2".into())
    );
    let done = store
        .latest_finished_job(o, "USER_REPORTS", T0)
        .await
        .unwrap()
        .expect("done");
    assert_eq!((done.token.as_str(), done.finished_ms), ("j1", Some(T0 + 20)));
}

async fn report(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    let a = user(store.as_ref(), o, "a").await;
    let b = user(store.as_ref(), o, "b").await;
    store.pair_device(&totp_device(o, a, 21), 5, None).await.unwrap();
    store
        .pair_device(&sms_device(o, a, 22, "+1555"), 5, None)
        .await
        .unwrap();
    let rows = store.report_page(o, 0, 10).await.unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| (r.user_id, r.device_count, r.device.as_ref().map(|d| (d.id, d.position))))
        .collect();
    assert_eq!(
        got,
        vec![(a.0, 2, Some((21, 1))), (a.0, 2, Some((22, 2))), (b.0, 0, None)]
    );
    assert_eq!(store.report_page(o, a.0, 10).await.unwrap().len(), 1);
}

async fn counters(store: Arc<dyn Store>) {
    let o = org(store.as_ref(), "acme").await;
    let u = user(store.as_ref(), o, "hank").await;
    store.pair_device(&totp_device(o, u, 31), 5, None).await.unwrap();
    assert!(store.swap_counter(DeviceId(31), None, 7).await.unwrap());
    assert!(!store.swap_counter(DeviceId(31), None, 8).await.unwrap());
    assert!(!store.swap_counter(DeviceId(31), Some(6), 8).await.unwrap());
    assert!(store.swap_counter(DeviceId(31), Some(7), 8).await.unwrap());
    let d = &store.devices_of(u).await.unwrap()[0];
    assert_eq!(
        (d.counter, d.sealed_secret.as_deref()),
        (Some(8), Some(&[1u8, 2, 3, 0, 255][..]))
    );
}
