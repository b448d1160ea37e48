//! A store wrapper that fails chosen methods on demand, to prove that store failures
//! become the catalog's codes (10571, 10551, and the per-operation failures) and that a
//! failed request changes nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use twofold_core::device::{Device, DeviceId, DeviceType};
use twofold_core::ids::{ApiTokenId, OrgId, UserId};
use twofold_core::model::{ActivationCode, ApiToken, Membership, Org, OrgSettings, Profile, Service, User, UserStatus};
use twofold_core::push::{AppDevice, AppFacts, AppPairOutcome, CreatePush, Push, PushState};
use twofold_core::store::{
    Approval, ApprovalOutcome, AttemptOutcome, AuditEvent, AuthGuard, AuthSession, AuthStore, DeviceStore,
    FailureOutcome, HealthStore, InsertUser, JobRecord, JobStore, NewActivationCode, NewDevice, NewOrg, NewUser,
    OrgStore, OutboxRecord, OutboxStore, PairOutcome, PairingSession, PushStore, ReportRow, SmsReservation, SmsUsage,
    StockToken, TokenStore, UserStore, WrongCode, WrongCodeOutcome, YubikeyRecord,
};
use twofold_core::{Store, StoreError};

/// The failure to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The database is gone (disk full, connection lost).
    Unavailable,
    /// The write lost a race (busy, serialization failure).
    Conflict,
    /// The call succeeds, after this long: widens the window between two store calls so
    /// that what concurrent requests see in it can be tested (a fast store closes it).
    Delay(std::time::Duration),
}

/// Forwards to a real store, except for methods armed with [`FaultyStore::fail`] (which fail
/// or, with [`Fault::Delay`], answer late).
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    armed: Mutex<HashMap<&'static str, Fault>>,
}

impl FaultyStore {
    /// Wraps a store.
    #[must_use]
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            armed: Mutex::new(HashMap::new()),
        }
    }

    /// Makes every call of `method` (a trait method name) fail with `fault` until
    /// [`FaultyStore::clear`].
    pub fn fail(&self, method: &'static str, fault: Fault) {
        self.armed.lock().expect("lock").insert(method, fault);
    }

    /// Disarms every fault.
    pub fn clear(&self) {
        self.armed.lock().expect("lock").clear();
    }

    /// The real store.
    #[must_use]
    pub fn inner(&self) -> Arc<dyn Store> {
        self.inner.clone()
    }

    async fn check(&self, method: &'static str) -> Result<(), StoreError> {
        let fault = self.armed.lock().expect("lock").get(method).copied();
        match fault {
            None => Ok(()),
            Some(Fault::Delay(pause)) => {
                tokio::time::sleep(pause).await;
                Ok(())
            }
            Some(Fault::Unavailable) => Err(StoreError::Unavailable(format!("injected fault in {method}"))),
            Some(Fault::Conflict) => Err(StoreError::Conflict(format!("injected conflict in {method}"))),
        }
    }
}

/// Implements a store trait by forwarding every method after the fault check. The whole
/// impl is generated so that `#[async_trait]` sees the expanded methods.
macro_rules! forward_impl {
    ($trait:ident { $( $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty; )* }) => {
        #[async_trait]
        impl $trait for FaultyStore {
            $(
                async fn $name(&self, $($arg: $ty),*) -> Result<$ret, StoreError> {
                    self.check(stringify!($name)).await?;
                    self.inner.$name($($arg),*).await
                }
            )*
        }
    };
}

forward_impl!(OrgStore {
    create_org(org: &NewOrg) -> Option<Org>;
    list_orgs() -> Vec<Org>;
    org_by_id(id: OrgId) -> Option<Org>;
    find_org(alias_or_name: &str) -> Option<Org>;
    update_org_settings(id: OrgId, settings: &OrgSettings) -> ();
    insert_token(token: &ApiToken) -> ();
    token(token: &ApiTokenId) -> Option<ApiToken>;
    tokens_of(org: OrgId) -> Vec<ApiToken>;
    revoke_token(token: &ApiTokenId, now_ms: i64) -> bool;
});

forward_impl!(UserStore {
    insert_user(user: &NewUser, max_users: Option<u32>) -> InsertUser;
    user_by_name(org: OrgId, username_fold: &str) -> Option<User>;
    user_by_id(id: UserId) -> Option<User>;
    update_profile(id: UserId, profile: &Profile) -> bool;
    transition_status(id: UserId, from: &[UserStatus], to: UserStatus) -> bool;
    transition_with_code(id: UserId, from: &[UserStatus], to: UserStatus, code: &NewActivationCode) -> bool;
    delete_user(id: UserId) -> bool;
    memberships(id: UserId) -> Vec<Membership>;
    add_membership(id: UserId, service: Service, now_ms: i64) -> bool;
    remove_membership(id: UserId, service: Service) -> bool;
    set_bypass(id: UserId, services: &[Service], until_ms: Option<i64>, add_missing: bool, now_ms: i64) -> ();
    activation_code(org: OrgId, code_hash: &[u8]) -> Option<ActivationCode>;
    consume_activation_code(org: OrgId, code_hash: &[u8]) -> bool;
    count_users(org: OrgId) -> u64;
});

forward_impl!(DeviceStore {
    pair_device(device: &NewDevice, max_devices: u32, session: Option<&str>) -> PairOutcome;
    devices_of(user: UserId) -> Vec<Device>;
    unpair(user: UserId, device: Option<DeviceId>) -> u64;
    move_device(user: UserId, device: DeviceId, position: i64) -> bool;
    rename_device(user: UserId, device: DeviceId, nickname: &str) -> Option<bool>;
    target_owner(org: OrgId, kind: DeviceType, target: &str) -> Option<UserId>;
    create_pairing_session(session: &PairingSession) -> ();
    pairing_session(id: &str) -> Option<PairingSession>;
    fail_pairing_attempt(id: &str, max_attempts: u32) -> AttemptOutcome;
    sms_usage(user: UserId, day: i64) -> SmsUsage;
    reserve_sms(user: UserId, day: i64, claimed_limit: u32, unclaimed_limit: u32) -> SmsReservation;
    record_sms(user: UserId, day: i64, sent: i32, claimed: u32) -> ();
});

forward_impl!(TokenStore {
    insert_stock(tokens: &[StockToken]) -> Vec<String>;
    stock_token(org: OrgId, serial: &str) -> Option<StockToken>;
    paired_serials(org: OrgId, serials: &[String]) -> Vec<(String, String)>;
    revoke_stock(org: OrgId, serials: &[String]) -> u64;
    swap_counter(device: DeviceId, expected: Option<i64>, new: i64) -> bool;
    set_session_counter(session: &str, counter: i64) -> bool;
    create_resync(id: &str, org: OrgId, device: DeviceId, matched: i64, expires_ms: i64) -> ();
    take_resync(id: &str, org: OrgId, now_ms: i64) -> Option<(DeviceId, i64)>;
    insert_yubikeys(keys: &[YubikeyRecord]) -> Vec<String>;
    yubikey(org: OrgId, public_id: &str) -> Option<YubikeyRecord>;
    raise_yubikey_counter(org: OrgId, public_id: &str, new: i64) -> bool;
    insert_job(job: &JobRecord) -> ();
    job(org: OrgId, token: &str) -> Option<JobRecord>;
});

forward_impl!(OutboxStore {
    enqueue_message(message: &OutboxRecord) -> ();
    claim_messages(now_ms: i64, lease_expired_ms: i64, limit: u32) -> Vec<OutboxRecord>;
    finish_message(id: &str, claimed_ms: i64, state: &str, error: Option<&str>, now_ms: i64) -> bool;
    message_state(id: &str) -> Option<(String, Option<String>)>;
    abandon_message(id: &str, reason: &str, now_ms: i64) -> bool;
    sweep_messages(now_ms: i64, finished_before_ms: i64) -> (u64, u64);
});

// The engines' one-write overrides (approval, session with its audit record, user with
// its guard) are forwarded too, so that every test drives what production runs; a fault
// armed on one of them fails the whole call, as a failed write of it would.
forward_impl!(AuthStore {
    create_auth_session(session: &AuthSession) -> ();
    create_auth_session_audited(session: &AuthSession, audit: &AuditEvent) -> ();
    user_and_guard(org: OrgId, username_fold: &str) -> Option<(User, AuthGuard)>;
    approve_session(approval: &Approval<'_>) -> ApprovalOutcome;
    record_wrong_code(wrong: &WrongCode<'_>) -> WrongCodeOutcome;
    auth_session(id: &str) -> Option<AuthSession>;
    set_challenge(id: &str, device: Option<DeviceId>, code_hash: Option<Vec<u8>>, challenge_expires_ms: Option<i64>) -> bool;
    transition_session(id: &str, from: &str, to: &str) -> bool;
    set_session_resync(id: &str, counter: i64) -> bool;
    sweep_sessions(expired_before_ms: i64, limit: u32) -> u64;
    auth_guard(user: UserId) -> AuthGuard;
    record_failure(user: UserId, threshold: u32, now_ms: i64, lock_until_ms: i64) -> FailureOutcome;
    record_success(user: UserId, device: Option<DeviceId>, now_ms: i64, reset_failures: bool) -> ();
    set_user_flags(user: UserId, admin_locked: Option<bool>, otp_blocked: Option<bool>) -> ();
    reserve_send(org: OrgId, target: &str, since_ms: i64, limit: u32, now_ms: i64) -> bool;
    append_audit(event: &AuditEvent) -> ();
    recent_audit(user: UserId, limit: u32) -> Vec<AuditEvent>;
});

forward_impl!(JobStore {
    claim_job(now_ms: i64, lease_expired_ms: i64) -> Option<JobRecord>;
    finish_job(token: &str, status: &str, result: &str, now_ms: i64) -> ();
    latest_finished_job(org: OrgId, kind: &str, since_ms: i64) -> Option<JobRecord>;
    bulk_insert(users: &[(NewUser, Vec<NewDevice>)]) -> u64;
    report_page(org: OrgId, after_user: i64, users: u32) -> Vec<ReportRow>;
});

forward_impl!(HealthStore {
    ping() -> ();
});

forward_impl!(PushStore {
    claim_activation_code(org: OrgId, code_hash: &[u8], now_ms: i64) -> bool;
    pair_app_device(code_hash: &[u8], device: &NewDevice, app: &AppDevice, max_devices: u32, multiple_users: bool) -> AppPairOutcome;
    finish_app_pairing(device: DeviceId) -> bool;
    app_device(device: DeviceId) -> Option<AppDevice>;
    app_devices_of(user: UserId) -> Vec<AppDevice>;
    spend_nonce(device: DeviceId, nonce: &str, keep_until_ms: i64, now_ms: i64) -> bool;
    touch_app_device(device: DeviceId, seen_ms: i64, poll_until_ms: Option<i64>) -> ();
    set_app_facts(device: DeviceId, facts: &AppFacts) -> ();
    create_push(push: &Push, since_ms: i64, rate_limit: u32) -> CreatePush;
    push(id: &str) -> Option<Push>;
    session_push(session_id: &str) -> Option<Push>;
    open_pushes(device: DeviceId) -> Vec<Push>;
    cancelled_pushes(device: DeviceId, since_ms: i64) -> Vec<String>;
    transition_push(id: &str, from: &[PushState], to: PushState, now_ms: i64) -> bool;
});
