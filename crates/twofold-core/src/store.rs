//! The storage port. Small traits, one unit of work per method: an implementation runs a
//! multi-row change in one transaction, and every state change that could race (status
//! transitions, one-time codes) is one conditional write, so two requests (or two nodes)
//! can never both win.

mod approval;

pub use approval::{
    Approval, ApprovalOutcome, ApprovalState, FailureOutcome, WrongCode, WrongCodeOutcome, failure_outcome,
};

use async_trait::async_trait;

use crate::device::{Device, DeviceId, DeviceType, OathParams};
use crate::ids::{ApiTokenId, OrgId, UserId};
use crate::model::{
    ActivationCode, ApiToken, DeviceKind, Membership, Org, OrgSettings, Profile, Service, User, UserStatus,
};
use crate::push::{AppDevice, AppFacts, AppPairOutcome, CreatePush, Push, PushState};

/// Why the store could not do what was asked. Callers never see the cause: it goes to
/// the log, and the client gets 10571 (or 10551 for a lost race).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or failed (disk full, connection lost...).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A write lost a concurrency race even after retries (busy database, serialization
    /// failure); retrying the request is safe.
    #[error("store conflict: {0}")]
    Conflict(String),
    /// A write referred to a row that a concurrent request deleted (a foreign key no
    /// longer holds): for the caller, the user is gone.
    #[error("referenced row is gone: {0}")]
    Gone(String),
}

/// A new organization.
#[derive(Debug, Clone)]
pub struct NewOrg {
    /// Public alias.
    pub alias: String,
    /// Unique name.
    pub name: String,
    /// Creation time.
    pub created_ms: i64,
}

/// A new user, validated by the service.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Organization.
    pub org_id: OrgId,
    /// The name as given.
    pub username: String,
    /// Its case-folded form, unique per organization.
    pub username_fold: String,
    /// Profile.
    pub profile: Profile,
    /// Initial status (NOT_ACTIVE or PENDING_ACTIVATION).
    pub status: UserStatus,
    /// Creation time.
    pub created_ms: i64,
    /// The activation code to issue with the user, if activated.
    pub activation: Option<NewActivationCode>,
}

/// An activation code to store: only its hash is kept.
#[derive(Debug, Clone)]
pub struct NewActivationCode {
    /// SHA-256 of the code.
    pub code_hash: Vec<u8>,
    /// Expiry.
    pub expires_ms: i64,
    /// Restriction.
    pub device_kind: Option<DeviceKind>,
    /// Issue time.
    pub created_ms: i64,
}

/// The result of inserting a user.
#[derive(Debug)]
pub enum InsertUser {
    /// Created.
    Created(User),
    /// The folded username already exists in the organization.
    Duplicate,
    /// The organization already has `max_users` users.
    QuotaReached,
}

/// Organizations and API tokens.
#[async_trait]
pub trait OrgStore: Send + Sync {
    /// Creates an organization with default settings; `None` if the name or alias is taken.
    async fn create_org(&self, org: &NewOrg) -> Result<Option<Org>, StoreError>;
    /// Every organization, oldest first.
    async fn list_orgs(&self) -> Result<Vec<Org>, StoreError>;
    /// Looks an organization up by id.
    async fn org_by_id(&self, id: OrgId) -> Result<Option<Org>, StoreError>;
    /// Looks an organization up by alias or by name.
    async fn find_org(&self, alias_or_name: &str) -> Result<Option<Org>, StoreError>;
    /// Replaces an organization's settings.
    async fn update_org_settings(&self, id: OrgId, settings: &OrgSettings) -> Result<(), StoreError>;
    /// Stores a new API token.
    async fn insert_token(&self, token: &ApiToken) -> Result<(), StoreError>;
    /// Looks a token up (revoked ones included; the caller checks).
    async fn token(&self, token: &ApiTokenId) -> Result<Option<ApiToken>, StoreError>;
    /// A token (revoked ones included) and its organization (`None` if that is gone):
    /// what every signed request looks up first. The default reads them one after the
    /// other; an engine that can read both at once overrides it.
    async fn token_with_org(&self, token: &ApiTokenId) -> Result<Option<(ApiToken, Option<Org>)>, StoreError> {
        let Some(found) = self.token(token).await? else {
            return Ok(None);
        };
        let org = self.org_by_id(found.org_id).await?;
        Ok(Some((found, org)))
    }
    /// The tokens of an organization, oldest first.
    async fn tokens_of(&self, org: OrgId) -> Result<Vec<ApiToken>, StoreError>;
    /// Revokes a token; false if it does not exist or was already revoked.
    async fn revoke_token(&self, token: &ApiTokenId, now_ms: i64) -> Result<bool, StoreError>;
}

/// Users, their services and their activation codes.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user (and its activation code) in one transaction, enforcing
    /// per-organization uniqueness of the folded name and the user quota.
    async fn insert_user(&self, user: &NewUser, max_users: Option<u32>) -> Result<InsertUser, StoreError>;
    /// Looks a user up by folded name.
    async fn user_by_name(&self, org: OrgId, username_fold: &str) -> Result<Option<User>, StoreError>;
    /// Looks a user up by id.
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// Replaces the profile; false if the user is gone.
    async fn update_profile(&self, id: UserId, profile: &Profile) -> Result<bool, StoreError>;
    /// Moves the user to `to` only if its stored status is one of `from`; false otherwise.
    async fn transition_status(&self, id: UserId, from: &[UserStatus], to: UserStatus) -> Result<bool, StoreError>;
    /// Like [`Self::transition_status`], and issues `code` in the same transaction
    /// (replacing the user's unused codes), recording its expiry on the user.
    async fn transition_with_code(
        &self,
        id: UserId,
        from: &[UserStatus],
        to: UserStatus,
        code: &NewActivationCode,
    ) -> Result<bool, StoreError>;
    /// Deletes the user with everything it owns; false if it did not exist.
    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError>;
    /// The user's service memberships.
    async fn memberships(&self, id: UserId) -> Result<Vec<Membership>, StoreError>;
    /// Adds a membership; false if it exists.
    async fn add_membership(&self, id: UserId, service: Service, now_ms: i64) -> Result<bool, StoreError>;
    /// Removes a membership; false if it did not exist.
    async fn remove_membership(&self, id: UserId, service: Service) -> Result<bool, StoreError>;
    /// Sets (or with `None` clears) the bypass of the given memberships in one transaction,
    /// adding missing memberships first when `add_missing` is set.
    async fn set_bypass(
        &self,
        id: UserId,
        services: &[Service],
        until_ms: Option<i64>,
        add_missing: bool,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Looks an activation code up by hash within an organization.
    async fn activation_code(&self, org: OrgId, code_hash: &[u8]) -> Result<Option<ActivationCode>, StoreError>;
    /// Deletes an activation code (SUCCESS is reported once); false if already gone.
    async fn consume_activation_code(&self, org: OrgId, code_hash: &[u8]) -> Result<bool, StoreError>;
    /// Number of users in the organization.
    async fn count_users(&self, org: OrgId) -> Result<u64, StoreError>;
}

/// A device to pair. Position and default nickname are assigned by the store inside the
/// pairing transaction ("SMS 1", "SMS 2", ...), so concurrent pairings cannot collide.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// Pre-assigned id (shown by the start of a pairing).
    pub id: DeviceId,
    /// Pre-assigned UUID.
    pub uuid: String,
    /// Owner.
    pub user_id: UserId,
    /// Organization.
    pub org_id: OrgId,
    /// Kind.
    pub kind: DeviceType,
    /// Phone number for SMS/voice.
    pub phone: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Token serial / YubiKey public id.
    pub serial: Option<String>,
    /// OATH parameters.
    pub oath: Option<OathParams>,
    /// Sealed factor secret.
    pub sealed_secret: Option<Vec<u8>>,
    /// Initial counter.
    pub counter: Option<i64>,
    /// Pairing time.
    pub enrolled_ms: i64,
}

/// The result of pairing a device.
#[derive(Debug)]
pub enum PairOutcome {
    /// Paired; the user is ACTIVE.
    Paired(Box<Device>),
    /// The user already has `max_devices` devices.
    TooManyDevices,
    /// The user is SUSPENDED (or gone).
    UserNotPairable,
    /// The pairing session was already used, closed or expired (a concurrent finish won).
    SessionGone,
    /// The token serial is already paired, or the device id collided; the caller retries
    /// or reports.
    Conflict,
}

/// A pairing in progress (startofflinepairing, authenticatorappstartpairing).
#[derive(Debug, Clone)]
pub struct PairingSession {
    /// `oacts_` + 43 base64url characters.
    pub id: String,
    /// The device that finishing creates.
    pub device: NewDevice,
    /// SHA-256 of the code that was sent (SMS, voice, email); None when the device's own
    /// secret verifies (authenticator app, OATH token).
    pub code_hash: Option<Vec<u8>>,
    /// Wrong codes so far.
    pub attempts: u32,
    /// Expiry, epoch ms.
    pub expires_ms: i64,
    /// `open`, `done` or `closed`.
    pub state: String,
}

/// The outcome of a wrong code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Attempts remain.
    Remaining,
    /// That was the last allowed attempt: the session is closed.
    Exhausted,
    /// The session was no longer open.
    Gone,
}

/// A user's SMS/voice usage today.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmsUsage {
    /// Codes sent today.
    pub sent: u32,
    /// Codes used today.
    pub claimed: u32,
}

/// The outcome of reserving an SMS/voice send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsReservation {
    /// Counted; send it.
    Reserved,
    /// The user's used codes today reached the limit (20563).
    ClaimedLimit,
    /// The user's unused codes today reached the limit (20564).
    UnclaimedLimit,
}

/// Devices and pairing sessions.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Pairs a device in one transaction: with `session`, first closes that open session
    /// (the single conditional write that lets exactly one finisher win); checks the user
    /// is not SUSPENDED and has fewer than `max_devices` devices; inserts the device with
    /// the next position and a default nickname; makes the user ACTIVE.
    async fn pair_device(
        &self,
        device: &NewDevice,
        max_devices: u32,
        session: Option<&str>,
    ) -> Result<PairOutcome, StoreError>;
    /// The user's devices, by position (1 = primary).
    async fn devices_of(&self, user: UserId) -> Result<Vec<Device>, StoreError>;
    /// Removes one device (or all with `None`), renumbering the rest; a user left with
    /// none moves from ACTIVE to PENDING_CHANGE_DEVICE. Returns how many were removed.
    async fn unpair(&self, user: UserId, device: Option<DeviceId>) -> Result<u64, StoreError>;
    /// Moves a device to `position` (1 = primary), shifting the others; false if the
    /// device is not the user's.
    async fn move_device(&self, user: UserId, device: DeviceId, position: i64) -> Result<bool, StoreError>;
    /// Renames a device; `Ok(None)` if the device is not the user's, `Ok(Some(false))` if
    /// another of the user's devices has that nickname.
    async fn rename_device(&self, user: UserId, device: DeviceId, nickname: &str) -> Result<Option<bool>, StoreError>;
    /// The other user (if any) in the organization with a device of this kind class and
    /// target (phone, email or serial), for `validateUniqueDevice`.
    async fn target_owner(&self, org: OrgId, kind: DeviceType, target: &str) -> Result<Option<UserId>, StoreError>;
    /// Stores a new pairing session.
    async fn create_pairing_session(&self, session: &PairingSession) -> Result<(), StoreError>;
    /// Looks a pairing session up.
    async fn pairing_session(&self, id: &str) -> Result<Option<PairingSession>, StoreError>;
    /// Counts a wrong code on an open session, closing it at `max_attempts`.
    async fn fail_pairing_attempt(&self, id: &str, max_attempts: u32) -> Result<AttemptOutcome, StoreError>;
    /// Today's SMS/voice usage of a user (`day` = days since the epoch, UTC).
    async fn sms_usage(&self, user: UserId, day: i64) -> Result<SmsUsage, StoreError>;
    /// Takes one of today's SMS/voice sends for the user, in one transaction that checks
    /// both daily limits first, so concurrent sends cannot overrun them.
    async fn reserve_sms(
        &self,
        user: UserId,
        day: i64,
        claimed_limit: u32,
        unclaimed_limit: u32,
    ) -> Result<SmsReservation, StoreError>;
    /// Counts codes sent (a negative `sent` releases a reservation whose send failed) and
    /// used today.
    async fn record_sms(&self, user: UserId, day: i64, sent: i32, claimed: u32) -> Result<(), StoreError>;
}

/// An OATH token in the organization's stock.
#[derive(Debug, Clone)]
pub struct StockToken {
    /// Organization.
    pub org_id: OrgId,
    /// Serial number (unique per organization).
    pub serial: String,
    /// HOTP/TOTP, algorithm, digits, period.
    pub params: OathParams,
    /// The seed, sealed for [`stock_context`](crate::services::stock_context).
    pub sealed_secret: Vec<u8>,
    /// Import time.
    pub created_ms: i64,
}

/// A job record (createorgtokens, revokeorgtokens, reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// The opaque `jobToken`.
    pub token: String,
    /// Organization.
    pub org_id: OrgId,
    /// `CreateOath`, `RevokeOath`, `USER_REPORTS`.
    pub kind: String,
    /// `pending`, `in_progress`, `done`, `failure`.
    pub status: String,
    /// The `jobResult` JSON.
    pub result: Option<String>,
    /// Creation time.
    pub created_ms: i64,
    /// Completion time.
    pub finished_ms: Option<i64>,
}

/// A YubiKey's imported key material.
#[derive(Debug, Clone)]
pub struct YubikeyRecord {
    /// Organization.
    pub org_id: OrgId,
    /// Modhex public id.
    pub public_id: String,
    /// Serial number, when the import file had one.
    pub serial: Option<String>,
    /// AES key ‖ private id, sealed for `yubikey_context`.
    pub sealed_secret: Vec<u8>,
    /// Last accepted counters (use << 8 | session).
    pub counter: Option<i64>,
    /// Import time.
    pub created_ms: i64,
}

/// OATH token stock, counters, resync sessions and jobs.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Adds tokens to the stock in one transaction; returns the serials that already
    /// existed (skipped, reported as duplicates).
    async fn insert_stock(&self, tokens: &[StockToken]) -> Result<Vec<String>, StoreError>;
    /// A token of the stock.
    async fn stock_token(&self, org: OrgId, serial: &str) -> Result<Option<StockToken>, StoreError>;
    /// Which of `serials` are paired, with their users' names.
    async fn paired_serials(&self, org: OrgId, serials: &[String]) -> Result<Vec<(String, String)>, StoreError>;
    /// Removes tokens from the stock in one transaction, first unpairing their devices
    /// (users left without devices become PENDING_CHANGE_DEVICE). Returns how many were
    /// in the stock.
    async fn revoke_stock(&self, org: OrgId, serials: &[String]) -> Result<u64, StoreError>;
    /// Sets a device's counter to `new` only if it still is `expected`: the one
    /// conditional write that makes every HOTP code and TOTP step single-use.
    async fn swap_counter(&self, device: DeviceId, expected: Option<i64>, new: i64) -> Result<bool, StoreError>;
    /// Records the counter a resync matched on an open pairing session.
    async fn set_session_counter(&self, session: &str, counter: i64) -> Result<bool, StoreError>;
    /// Opens a resync session of a paired token.
    async fn create_resync(
        &self,
        id: &str,
        org: OrgId,
        device: DeviceId,
        matched: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError>;
    /// Closes an open resync session, returning its device and matched counter.
    async fn take_resync(&self, id: &str, org: OrgId, now_ms: i64) -> Result<Option<(DeviceId, i64)>, StoreError>;
    /// Adds imported YubiKeys; returns the public ids that already existed (skipped).
    async fn insert_yubikeys(&self, keys: &[YubikeyRecord]) -> Result<Vec<String>, StoreError>;
    /// An imported YubiKey by public id.
    async fn yubikey(&self, org: OrgId, public_id: &str) -> Result<Option<YubikeyRecord>, StoreError>;
    /// Raises an imported key's counter to `new` only if it is below it.
    async fn raise_yubikey_counter(&self, org: OrgId, public_id: &str, new: i64) -> Result<bool, StoreError>;
    /// Stores a job.
    async fn insert_job(&self, job: &JobRecord) -> Result<(), StoreError>;
    /// A job of the organization.
    async fn job(&self, org: OrgId, token: &str) -> Result<Option<JobRecord>, StoreError>;
}

/// An authentication session (startauthentication / authonline → authoffline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSession {
    /// `webs_…`.
    pub id: String,
    /// Organization.
    pub org_id: OrgId,
    /// The user authenticating.
    pub user_id: UserId,
    /// The device challenged (None while selecting, and for backup sessions).
    pub device_id: Option<DeviceId>,
    /// `auth` or `backup`.
    pub kind: String,
    /// The service (`web`, `rescuecode`).
    pub sp_alias: String,
    /// `selecting`, `challenge`, `processing`, `approved`, `failed`, `cancelled`.
    pub state: String,
    /// Keyed hash of a sent code.
    pub code_hash: Option<Vec<u8>>,
    /// Backup sessions: `sms`, `voice` or `email`.
    pub backup_channel: Option<String>,
    /// Backup sessions: the address the code went to.
    pub backup_target: Option<String>,
    /// A token resync in progress: the counter the first code matched.
    pub resync_counter: Option<i64>,
    /// Wrong codes so far.
    pub attempts: u32,
    /// When the current code stops being valid.
    pub challenge_expires_ms: Option<i64>,
    /// When the session ends.
    pub expires_ms: i64,
    /// Creation time.
    pub created_ms: i64,
}

/// A user's authentication guards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthGuard {
    /// Consecutive failed factor attempts (across sessions).
    pub failed_attempts: u32,
    /// Locked out until then (20526).
    pub locked_until_ms: Option<i64>,
    /// An administrator locked the user (20524).
    pub admin_locked: bool,
    /// An administrator blocked OTP authentication (20565).
    pub otp_blocked: bool,
}

/// One audit record: who, with which device, which operation, the outcome, from where,
/// when. Never a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Organization.
    pub org_id: OrgId,
    /// The user, when known.
    pub user_id: Option<UserId>,
    /// The username as sent.
    pub username: Option<String>,
    /// The device involved.
    pub device_id: Option<DeviceId>,
    /// The operation.
    pub op: String,
    /// The errorId answered.
    pub error_id: u32,
    /// The client's IP (`ipAddr`), when given.
    pub source_ip: Option<String>,
    /// When.
    pub created_ms: i64,
}

/// Authentication sessions, lockout state, code sends and the audit trail.
///
/// It extends [`UserStore`] because an authentication's first read is a user together
/// with its guards ([`AuthStore::user_and_guard`]), and [`DeviceStore`] and [`TokenStore`]
/// because an approval spends a device's code and counts a phone code
/// ([`AuthStore::approve_session`]).
#[async_trait]
pub trait AuthStore: UserStore + DeviceStore + TokenStore + Send + Sync {
    /// Stores a new session.
    async fn create_auth_session(&self, session: &AuthSession) -> Result<(), StoreError>;
    /// Stores a new session and appends the audit record of the request that started it,
    /// in one write where the engine can. A failed audit append is logged and never undoes
    /// the session (an audit failure never changes an answer).
    async fn create_auth_session_audited(&self, session: &AuthSession, audit: &AuditEvent) -> Result<(), StoreError> {
        self.create_auth_session(session).await?;
        self.append_audit_or_log(audit).await;
        Ok(())
    }
    /// Looks a session up.
    async fn auth_session(&self, id: &str) -> Result<Option<AuthSession>, StoreError>;
    /// Sets the challenge (device, code hash, code expiry) of a session in `selecting` or
    /// `challenge` state, moving it to `challenge`; false if it is in no such state.
    async fn set_challenge(
        &self,
        id: &str,
        device: Option<DeviceId>,
        code_hash: Option<Vec<u8>>,
        challenge_expires_ms: Option<i64>,
    ) -> Result<bool, StoreError>;
    /// Moves a session from `from` to `to`; false if it was not in `from`.
    async fn transition_session(&self, id: &str, from: &str, to: &str) -> Result<bool, StoreError>;
    /// Records the counter a resync matched and returns the session to `challenge`.
    async fn set_session_resync(&self, id: &str, counter: i64) -> Result<bool, StoreError>;
    /// Deletes up to `limit` sessions that expired before `expired_before_ms`, oldest
    /// expiry first, with the pushes sent for them, in one write; returns how many sessions
    /// it deleted. An expired session already answers as an unknown one, so deleting it
    /// changes no answer; without this every sign-in would leave a row forever.
    async fn sweep_sessions(&self, expired_before_ms: i64, limit: u32) -> Result<u64, StoreError>;
    /// The user's guards.
    async fn auth_guard(&self, user: UserId) -> Result<AuthGuard, StoreError>;
    /// A user by folded name and that user's guards: what every authentication request
    /// reads first. The default reads them one after the other; an engine that can read
    /// both in one statement overrides it.
    async fn user_and_guard(&self, org: OrgId, username_fold: &str) -> Result<Option<(User, AuthGuard)>, StoreError> {
        let Some(user) = self.user_by_name(org, username_fold).await? else {
            return Ok(None);
        };
        let guard = self.auth_guard(user.id).await?;
        Ok(Some((user, guard)))
    }
    /// Approves a session whose code was verified, in one transaction: spends the code
    /// (the counter moves only if it still holds the expected value), moves the session to
    /// `approved` (from `processing`, or from `challenge` when [`Approval::claimed`] is
    /// false), records the success, counts a phone code and appends the audit record.
    /// Nothing changes, and no other request ever sees a step of it, when anything the
    /// check read has changed since ([`ApprovalOutcome::SessionMoved`]) or the code was
    /// spent first ([`ApprovalOutcome::CodeSpent`]). Every engine makes it one write: a
    /// claim visible to other requests, or a gap between its steps, would let concurrent
    /// guesses learn or gain what sequential ones cannot.
    async fn approve_session(&self, approval: &Approval<'_>) -> Result<ApprovalOutcome, StoreError>;
    /// A wrong code on a session, in one transaction: nothing at all when the user is
    /// locked at `now_ms` ([`WrongCodeOutcome::UserLocked`]) or the session is no longer in
    /// `from` ([`WrongCodeOutcome::SessionGone`]); otherwise one more attempt on the session
    /// (`failed` at `max_attempts`) and one more consecutive failure of the user (locked
    /// until `lock_until_ms` at `threshold`). One write, so an approval racing it sees
    /// both or neither.
    async fn record_wrong_code(&self, wrong: &WrongCode<'_>) -> Result<WrongCodeOutcome, StoreError>;
    /// Counts a failed factor attempt; at `threshold` consecutive failures the user is
    /// locked until `lock_until_ms` (and the count restarts). A user locked at `now_ms`
    /// (or gone) is not counted: a guess that was in flight when the lock began is
    /// answered as one arriving after it, in the same conditional write.
    async fn record_failure(
        &self,
        user: UserId,
        threshold: u32,
        now_ms: i64,
        lock_until_ms: i64,
    ) -> Result<FailureOutcome, StoreError>;
    /// A success: resets the failure count, sets lastLogin and the device's last use.
    async fn record_success(
        &self,
        user: UserId,
        device: Option<DeviceId>,
        now_ms: i64,
        reset_failures: bool,
    ) -> Result<(), StoreError>;
    /// Sets the administrator's lock and OTP block flags (None leaves one as it is).
    /// Unlocking (`admin_locked` `Some(false)`) also ends an automatic lockout and resets
    /// the failure count: an operator who unlocks a user means every lock.
    async fn set_user_flags(
        &self,
        user: UserId,
        admin_locked: Option<bool>,
        otp_blocked: Option<bool>,
    ) -> Result<(), StoreError>;
    /// Takes one of `limit` sends to `target` since `since_ms`, in one transaction (count
    /// and record together), so concurrent requests cannot exceed the limit. False when
    /// the limit is reached.
    async fn reserve_send(
        &self,
        org: OrgId,
        target: &str,
        since_ms: i64,
        limit: u32,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Appends an audit record.
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// Appends an audit record; a failure is logged, never turned into a different answer.
    async fn append_audit_or_log(&self, event: &AuditEvent) {
        if let Err(e) = self.append_audit(event).await {
            tracing::error!(error = %e, op = %event.op, "audit append failed");
        }
    }
    /// The user's latest audit records, newest first.
    async fn recent_audit(&self, user: UserId, limit: u32) -> Result<Vec<AuditEvent>, StoreError>;
}

/// One row of the organization report: a user with one of its devices (or none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// User id (report pages are keyed by it).
    pub user_id: i64,
    /// Username.
    pub username: String,
    /// Stored status.
    pub status: String,
    /// Activation-code expiry (a PENDING_ACTIVATION user past it reads NOT_ACTIVE).
    pub activation_expires_ms: Option<i64>,
    /// Creation time.
    pub created_ms: i64,
    /// Contact email.
    pub email: Option<String>,
    /// Last successful authentication.
    pub last_login_ms: Option<i64>,
    /// Latest bypass expiry of any service.
    pub bypass_until_ms: Option<i64>,
    /// Number of devices.
    pub device_count: i64,
    /// Device id, type name, position, phone, email, serial, pairing time, last use.
    pub device: Option<ReportDevice>,
}

/// The device part of a report row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportDevice {
    /// Id.
    pub id: i64,
    /// Type name (`SMS`, `YubiKey`, ...).
    pub kind: String,
    /// 1 = primary.
    pub position: i64,
    /// Phone (E.164, maybe with extension).
    pub phone: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Serial or public id.
    pub serial: Option<String>,
    /// Pairing time.
    pub enrolled_ms: i64,
    /// Last use.
    pub last_used_ms: Option<i64>,
}

/// Jobs run from the table, and the report's data.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Claims the oldest pending job (or one whose lease ended before `lease_expired_ms`)
    /// with one conditional write; `None` when there is none.
    async fn claim_job(&self, now_ms: i64, lease_expired_ms: i64) -> Result<Option<JobRecord>, StoreError>;
    /// Records a job's end.
    async fn finish_job(&self, token: &str, status: &str, result: &str, now_ms: i64) -> Result<(), StoreError>;
    /// The latest finished job of `kind` in the organization finished after `since_ms`.
    async fn latest_finished_job(&self, org: OrgId, kind: &str, since_ms: i64)
    -> Result<Option<JobRecord>, StoreError>;
    /// Inserts ACTIVE users with their devices in one transaction, for seeding benchmark
    /// and report data fast (devices take positions in the order given, with default
    /// nicknames). Returns how many users were inserted (existing names are skipped).
    async fn bulk_insert(&self, users: &[(NewUser, Vec<NewDevice>)]) -> Result<u64, StoreError>;
    /// One page of report rows: users with ids above `after_user`, at most `users` users,
    /// each with one row per device (or one row without a device).
    async fn report_page(&self, org: OrgId, after_user: i64, users: u32) -> Result<Vec<ReportRow>, StoreError>;
}

/// Readiness of the backing database.
#[async_trait]
pub trait HealthStore: Send + Sync {
    /// Runs a trivial query.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// One message in the durable outbox. The recipient and the code travel only inside
/// `payload`, sealed under the master key, and the payload is dropped once the message
/// is finished, so no code outlives its delivery in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    /// The message id (unique; gateways see it and may deduplicate by it).
    pub id: String,
    /// `sms`, `voice` or `email`: kept in the clear for operators.
    pub channel: String,
    /// The sealed message (recipient, code, organization); `None` once finished.
    pub payload: Option<Vec<u8>>,
    /// `pending`, `sending`, `sent` or `failed`.
    pub state: String,
    /// Claims so far (a claim after a crash counts as a new attempt).
    pub attempts: u32,
    /// When the request queued it.
    pub created_ms: i64,
    /// After this no attempt starts: the code it carries is of no use any more.
    pub expires_ms: i64,
    /// When the current claim was taken.
    pub claimed_ms: Option<i64>,
    /// Why it failed, for operators (never the code or the recipient).
    pub error: Option<String>,
}

/// The durable outbox of SMS, voice and email messages: requests queue, workers on any
/// node claim with one conditional write each, so a message is handed to a gateway by
/// one worker at a time and a crash mid-send leaves a claim that expires and is retried.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Queues a `pending` message. A second message with the same id is ignored.
    async fn enqueue_message(&self, message: &OutboxRecord) -> Result<(), StoreError>;
    /// Claims up to `limit` messages that are `pending`, or `sending` under a claim taken
    /// before `lease_expired_ms`, and that expire after `now_ms`: each becomes `sending`
    /// with `claimed_ms = now_ms` and one more attempt. Oldest first.
    async fn claim_messages(
        &self,
        now_ms: i64,
        lease_expired_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxRecord>, StoreError>;
    /// Finishes a message this worker claimed at `claimed_ms` as `sent` or `failed`,
    /// dropping its payload; `false` when the claim was lost (another worker took over).
    async fn finish_message(
        &self,
        id: &str,
        claimed_ms: i64,
        state: &str,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// A message's current state and error.
    async fn message_state(&self, id: &str) -> Result<Option<(String, Option<String>)>, StoreError>;
    /// Gives up on a message nobody claimed yet (`pending` → `failed`, payload dropped);
    /// `false` when a worker already holds or finished it.
    async fn abandon_message(&self, id: &str, reason: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Fails every unfinished message that expired by `now_ms` (dropping payloads) and
    /// deletes finished messages older than `finished_before_ms`. Returns both counts.
    async fn sweep_messages(&self, now_ms: i64, finished_before_ms: i64) -> Result<(u64, u64), StoreError>;
}

/// Companion apps and their pushes (online pairing, device keys, replay nonces, push
/// states). Every push decision is one conditional write.
#[async_trait]
pub trait PushStore: Send + Sync {
    /// Moves an unexpired activation code from NOT_CLAIMED to VERIFIED; false otherwise.
    async fn claim_activation_code(&self, org: OrgId, code_hash: &[u8], now_ms: i64) -> Result<bool, StoreError>;
    /// Pairs a companion app in one transaction: moves the code VERIFIED → PAIRED with the
    /// device id, refuses a key paired to another user unless `multiple_users`, checks the
    /// user and device count, inserts the device and its key, makes the user ACTIVE.
    async fn pair_app_device(
        &self,
        code_hash: &[u8],
        device: &NewDevice,
        app: &AppDevice,
        max_devices: u32,
        multiple_users: bool,
    ) -> Result<AppPairOutcome, StoreError>;
    /// The app finished its registration: its code moves PAIRED → SUCCESS; false otherwise.
    async fn finish_app_pairing(&self, device: DeviceId) -> Result<bool, StoreError>;
    /// A companion app by device id.
    async fn app_device(&self, device: DeviceId) -> Result<Option<AppDevice>, StoreError>;
    /// The companion apps of a user.
    async fn app_devices_of(&self, user: UserId) -> Result<Vec<AppDevice>, StoreError>;
    /// Records a request nonce of the device; false if it was seen before (a replay).
    /// Nonces are kept until `keep_until_ms`; older ones are pruned.
    async fn spend_nonce(
        &self,
        device: DeviceId,
        nonce: &str,
        keep_until_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Records the app's contact (and its held long-poll's end).
    async fn touch_app_device(
        &self,
        device: DeviceId,
        seen_ms: i64,
        poll_until_ms: Option<i64>,
    ) -> Result<(), StoreError>;
    /// Replaces the app's facts.
    async fn set_app_facts(&self, device: DeviceId, facts: &AppFacts) -> Result<(), StoreError>;
    /// Stores a push in one transaction: open pushes of the device past their expiry are
    /// closed first; another open push refuses it (Busy); more than `rate_limit` pushes
    /// to the device since `since_ms` refuse it (RateLimited).
    async fn create_push(&self, push: &Push, since_ms: i64, rate_limit: u32) -> Result<CreatePush, StoreError>;
    /// A push by id.
    async fn push(&self, id: &str) -> Result<Option<Push>, StoreError>;
    /// The latest push of a session.
    async fn session_push(&self, session_id: &str) -> Result<Option<Push>, StoreError>;
    /// The device's open pushes.
    async fn open_pushes(&self, device: DeviceId) -> Result<Vec<Push>, StoreError>;
    /// Ids of the device's pushes cancelled since `since_ms`.
    async fn cancelled_pushes(&self, device: DeviceId, since_ms: i64) -> Result<Vec<String>, StoreError>;
    /// Moves a push from one of `from` to `to`; false if it was in none of them.
    async fn transition_push(
        &self,
        id: &str,
        from: &[PushState],
        to: PushState,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
}

/// Everything the services need; implemented by each engine.
pub trait Store:
    OrgStore + UserStore + DeviceStore + TokenStore + AuthStore + JobStore + OutboxStore + PushStore + HealthStore
{
}

impl<T> Store for T where
    T: OrgStore + UserStore + DeviceStore + TokenStore + AuthStore + JobStore + OutboxStore + PushStore + HealthStore
{
}
