//! Authentication with one-time passcodes (spec §2.1, §5.1, §5.3, §5.5, §5.6):
//! startauthentication, authonline (OTP and backup), authoffline, cancelauthentication.
//!
//! All state lives in `auth_sessions`, and every transition is a conditional write, so a
//! session started on one node can finish on another and two requests can never both
//! finish it. authoffline checks a local code (TOTP, HOTP, a sent code) against the session
//! as read, then one conditional write spends the code (a TOTP step or HOTP counter that
//! only moves forward) and approves the session only if it is still in `challenge`. A check
//! that calls out (YubiKey validation server) or resyncs a token first claims the session
//! (`challenge → processing`), so it runs once.

use twofold_factors::yubikey::{self, YubiVerification};
use twofold_factors::{Verification, constant_time_eq, hotp, totp};
use twofold_proto::{ErrorId, Otp};

use super::Core;
use super::pairing::{TOTP_DRIFT_STEPS, device_context, hotp_params, totp_params};
use super::tokens::{HOTP_LOOK_AHEAD, HOTP_RESYNC_WINDOW};
use crate::caller::OrgCaller;
use crate::delivery::{Purpose, YubicoVerdict};
use crate::device::{Device, DeviceId, DeviceType, OathKind};
use crate::error::DomainError;
use crate::ids::Username;
use crate::model::{Org, Service, User, UserStatus};
use crate::services::DeviceView;
use crate::store::{Approval, ApprovalOutcome, AttemptOutcome, AuditEvent, AuthSession, WrongCode, WrongCodeOutcome};

/// What a started authentication asks of the caller next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStep {
    /// The user is in bypass for the service: authenticated, no challenge (200).
    Bypassed,
    /// Device-selection mode: show `devices`, call again with the chosen one (30008).
    SelectDevice,
    /// A code is expected from this kind of device (30001, 30002, 30004, 30005, 30012,
    /// 30015; the companion app's OTP: 30006 for a phone that is unreachable, 30009 for
    /// the desktop app).
    Code(DeviceType),
    /// The phone app is reachable and the call was synchronous: call authonline (30007).
    ContinueOnline,
    /// An asynchronous push was sent: poll authstatus (30010).
    PushSent,
    /// The phone app has pushes switched off: enter its OTP (30003).
    PushDisabled,
    /// The push was approved (authonline: 200).
    Approved,
}

impl AuthStep {
    /// The flow status the client receives.
    #[must_use]
    pub fn error_id(self) -> ErrorId {
        match self {
            AuthStep::Bypassed => ErrorId::Ok,
            AuthStep::SelectDevice => ErrorId::MultipleDevicesSelection,
            AuthStep::Code(DeviceType::Sms) => ErrorId::EnterSmsOtp,
            AuthStep::Code(DeviceType::Voice) => ErrorId::EnterVoiceOtp,
            AuthStep::Code(DeviceType::Email) => ErrorId::EnterEmailOtp,
            AuthStep::Code(DeviceType::YubiKey) => ErrorId::EnterYubikeyOtp,
            AuthStep::Code(DeviceType::HardwareToken) => ErrorId::EnterOathTokenOtp,
            AuthStep::Code(DeviceType::AuthenticatorApp) => ErrorId::EnterAuthenticatorAppOtp,
            AuthStep::Code(DeviceType::Android | DeviceType::IPhone) => ErrorId::UseMobileAppOtp,
            AuthStep::Code(DeviceType::Desktop) => ErrorId::EnterDesktopAppOtp,
            AuthStep::ContinueOnline => ErrorId::ContinueOnline,
            AuthStep::PushSent => ErrorId::AwaitingAsyncResponse,
            AuthStep::PushDisabled => ErrorId::PushDisabled,
            AuthStep::Approved => ErrorId::Ok,
        }
    }
}

/// A started authentication.
#[derive(Debug, Clone)]
pub struct AuthStart {
    /// What comes next.
    pub step: AuthStep,
    /// The session to continue (None when bypassed).
    pub session_id: Option<String>,
    /// The user's devices, primary first.
    pub devices: Vec<DeviceView>,
    /// The last successful authentication before this one.
    pub last_login_ms: Option<i64>,
    /// Number matching: the number the sign-in page shows (asynchronous pushes).
    pub number_for_matching: Option<u32>,
    /// An approved push: what the device reported.
    pub online: Option<super::OnlineApproval>,
    /// The push sent by this call (internal: authonline waits on it).
    pub push_id: Option<String>,
}

/// The inputs of startauthentication / authonline.
#[derive(Debug, Clone, Default)]
pub struct AuthRequest {
    /// The user.
    pub username: String,
    /// The service (`web`).
    pub sp_alias: String,
    /// A chosen device (decimal text).
    pub device_id: Option<String>,
    /// A session to continue (device selection).
    pub session_id: Option<String>,
    /// The accessing client's IP, for the audit trail.
    pub source_ip: Option<String>,
    /// startauthentication with `async`: push now, answer 30010.
    pub async_push: bool,
    /// `formParameters.sp_name`, shown by the companion app.
    pub sp_name: Option<String>,
    /// `formParameters.sp_logo`, shown by the companion app.
    pub sp_logo: Option<String>,
}

/// Which call starts the flow: it decides what a companion phone app gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartMode {
    /// startauthentication (sync: 30007; async: push now, 30010).
    Start,
    /// authonline with a push authType: push now, the caller waits.
    Online,
    /// authonline with authType OTP: skip the push, ask for the app's OTP.
    OtpOnly,
}

/// The result of authoffline.
#[derive(Debug, Clone)]
pub enum OfflineOutcome {
    /// Authenticated with this device (None for backup sessions).
    Approved(Option<Box<Device>>),
    /// Token resync: the first code matched, send the next one (30016).
    ResyncNext,
}

const CODE_DEVICE: [DeviceType; 3] = [DeviceType::Sms, DeviceType::Voice, DeviceType::Email];

/// Whether the organization allows this kind of device.
fn factor_enabled(org: &Org, kind: DeviceType) -> bool {
    let s = &org.settings;
    match kind {
        DeviceType::Sms | DeviceType::Voice => s.sms_voice_enabled,
        DeviceType::Email => s.email_enabled,
        DeviceType::YubiKey => s.yubikey_enabled,
        DeviceType::HardwareToken => s.oath_enabled,
        DeviceType::AuthenticatorApp => s.authenticator_app_enabled,
        DeviceType::Android | DeviceType::IPhone | DeviceType::Desktop => true,
    }
}

/// How many times one authoffline writes its approval when concurrent wrong codes keep
/// changing the counts it read ([`Core::recheck`]).
const APPROVAL_TRIES: u32 = 3;

impl Core {
    #[expect(clippy::too_many_arguments, reason = "one audit row's columns")]
    pub(super) fn audit_event(
        &self,
        org: &Org,
        user: Option<&User>,
        username: &str,
        device: Option<i64>,
        op: &str,
        error: u32,
        ip: Option<&str>,
    ) -> AuditEvent {
        AuditEvent {
            org_id: org.id,
            user_id: user.map(|u| u.id),
            username: Some(username.chars().take(250).collect()),
            device_id: device.map(crate::device::DeviceId),
            op: op.to_string(),
            error_id: error,
            source_ip: ip.map(|s| s.chars().take(64).collect()),
            created_ms: self.now(),
        }
    }

    /// The user an audit record is about, when the username names one (a failed request
    /// is still recorded under its user).
    pub(super) async fn audit_user(&self, org: &Org, username: &str) -> Option<User> {
        let fold = Username::parse(username)?.fold();
        self.store.user_by_name(org.id, &fold).await.ok().flatten()
    }

    /// Appends the audit record of an authentication event; an audit failure is logged,
    /// never turned into a different answer.
    pub(super) async fn audit(&self, event: AuditEvent) {
        self.store.append_audit_or_log(&event).await;
    }

    /// The checks every authentication operation makes, in order: username (20520),
    /// service (20519), user (20541), SUSPENDED (20537), admin lock (20524).
    pub(super) async fn auth_user(
        &self,
        caller: &OrgCaller,
        username: &str,
        sp_alias: &str,
    ) -> Result<(User, Service, crate::store::AuthGuard), DomainError> {
        let name = Username::parse(username).ok_or(DomainError::AuthMalformedUsername)?;
        let service = Service::from_alias(sp_alias).ok_or(DomainError::AuthUnknownService)?;
        // A service the organization switched off cannot be used to sign in (20536).
        if caller
            .org()
            .settings
            .disabled_services
            .iter()
            .any(|d| d == service.alias())
        {
            return Err(DomainError::ServiceNotActive);
        }
        // The guard is read once per request, with the user: the later lockout and
        // OTP-block checks use this snapshot (the lockout itself is kept by conditional
        // writes).
        let (user, guard) = self
            .store
            .user_and_guard(caller.org().id, &name.fold())
            .await?
            .ok_or(DomainError::AuthUserNotFound)?;
        self.standing(&user, &guard)?;
        Ok((user, service, guard))
    }

    /// What an operator decided about the user stops every sign-in, push or code:
    /// suspended (20537), locked by an administrator (20524).
    pub(super) fn standing(&self, user: &User, guard: &crate::store::AuthGuard) -> Result<(), DomainError> {
        if user.status_at(self.now()) == UserStatus::Suspended {
            return Err(DomainError::UserSuspended);
        }
        if guard.admin_locked {
            return Err(DomainError::AdminLocked);
        }
        Ok(())
    }

    /// Lockout (20526) and OTP block (20565): checked once a factor is about to be used.
    pub(super) fn factor_guard(&self, guard: &crate::store::AuthGuard) -> Result<(), DomainError> {
        self.lockout_guard(guard)?;
        if guard.otp_blocked {
            return Err(DomainError::OtpBlocked);
        }
        Ok(())
    }

    /// Lockout (20526) only: pushes are not one-time passcodes, so an OTP block does not
    /// stop them (error-conditions.md, 20565).
    pub(super) fn lockout_guard(&self, guard: &crate::store::AuthGuard) -> Result<(), DomainError> {
        if guard.locked_until_ms.is_some_and(|until| until > self.now()) {
            return Err(DomainError::LockedOut);
        }
        Ok(())
    }

    /// startauthentication (and authonline with authType OTP).
    ///
    /// # Errors
    /// The codes of error-conditions.md for authentication: 20520, 20519, 20541, 20537,
    /// 20524, 20536, 20526, 20565, 20515, 20527, 20517, 20548, 20551/20558, 20563/20564.
    pub async fn start_authentication(
        &self,
        caller: &OrgCaller,
        req: &AuthRequest,
        op: &str,
    ) -> Result<AuthStart, DomainError> {
        let org = caller.org();
        // authonline with authType OTP asks for a code, never for a push (spec §5.5).
        let mode = if op == "authonline" {
            StartMode::OtpOnly
        } else {
            StartMode::Start
        };
        let result = self.start_inner(caller, req, mode, Some(op)).await;
        let (user, device, code) = match &result {
            // The audit record was written with the new session, in the same write.
            Ok((_, _, _, true)) => return result.map(|(start, ..)| start),
            Ok((start, user, device, false)) => (Some(user.clone()), *device, start.step.error_id().code()),
            Err(e) => (self.audit_user(org, &req.username).await, None, e.error_id().code()),
        };
        self.audit(self.audit_event(
            org,
            user.as_ref(),
            &req.username,
            device,
            op,
            code,
            req.source_ip.as_deref(),
        ))
        .await;
        result.map(|(start, ..)| start)
    }

    /// The start of an authentication; the last value of the answer is true when the
    /// request's audit record was written (with `audit_op`, with the new session of a code
    /// step, which nothing can fail after).
    pub(crate) async fn start_inner(
        &self,
        caller: &OrgCaller,
        req: &AuthRequest,
        mode: StartMode,
        audit_op: Option<&str>,
    ) -> Result<(AuthStart, User, Option<i64>, bool), DomainError> {
        let org = caller.org();
        let (user, service, guard) = self.auth_user(caller, &req.username, &req.sp_alias).await?;
        let memberships = self.store.memberships(user.id).await?;
        let membership = memberships.iter().find(|m| m.service == service);
        if membership.is_some_and(|m| !m.active) {
            return Err(DomainError::ServiceNotActive);
        }
        if membership.is_some_and(|m| m.in_bypass(self.now())) {
            // A bypass is not a factor success: the failure count (lockout) stays.
            self.store.record_success(user.id, None, self.now(), false).await?;
            let start = AuthStart {
                step: AuthStep::Bypassed,
                session_id: None,
                devices: Vec::new(),
                last_login_ms: user.last_login_ms,
                number_for_matching: None,
                online: None,
                push_id: None,
            };
            return Ok((start, user, None, false));
        }
        self.lockout_guard(&guard)?;
        let devices = self.device_views(org, &user).await?;
        if devices.is_empty() {
            return Err(DomainError::NoDevice);
        }
        // Devices whose factor the organization switched off are skipped; when none is
        // left the user cannot authenticate here (20534).
        let usable: Vec<&DeviceView> = devices.iter().filter(|d| factor_enabled(org, d.device.kind)).collect();
        if usable.is_empty() {
            return Err(DomainError::NoUsableDevice);
        }
        let existing = match &req.session_id {
            Some(id) => Some(self.live_session(org, &user, id).await?),
            None => None,
        };
        // authonline continuing a startauthentication uses the device chosen there.
        let session_device = existing
            .as_ref()
            .filter(|_| mode == StartMode::Online && req.device_id.is_none())
            .and_then(|s| s.device_id)
            .and_then(|id| usable.iter().find(|d| d.device.id == id))
            .map(|d| d.device.clone());
        let chosen = match &req.device_id {
            _ if session_device.is_some() => session_device,
            Some(raw) => {
                let id = raw.parse::<i64>().ok();
                let device = &devices
                    .iter()
                    .find(|d| Some(d.device.id.0) == id)
                    .ok_or(DomainError::ForeignDevice)?
                    .device;
                if !factor_enabled(org, device.kind) {
                    return Err(DomainError::NotSupported(
                        "the organization switched this kind of device off",
                    ));
                }
                Some(device.clone())
            }
            None if org.settings.device_selection && usable.len() > 1 && existing.is_none() => None,
            None => Some(usable[0].device.clone()),
        };
        let session_id = existing
            .as_ref()
            .map_or_else(|| self.session_id("webs_"), |s| s.id.clone());
        let Some(device) = chosen else {
            self.new_auth_session(org, &user, &session_id, service, "selecting", None, None, None, None)
                .await?;
            let start = AuthStart {
                step: AuthStep::SelectDevice,
                session_id: Some(session_id),
                devices,
                last_login_ms: user.last_login_ms,
                number_for_matching: None,
                online: None,
                push_id: None,
            };
            return Ok((start, user, None, false));
        };
        // A push needs the phone app: authonline on any other device does not apply (20531).
        if mode == StartMode::Online && !device.kind.receives_push() {
            return Err(DomainError::NotSupported(
                "the device receives no pushes; use authType OTP",
            ));
        }
        // Codes are blocked by an OTP block; pushes are not (checked below, once the
        // step is known, for the phone app).
        let push_capable = device.kind.receives_push() && mode != StartMode::OtpOnly;
        if guard.otp_blocked && !push_capable {
            return Err(DomainError::OtpBlocked);
        }
        let code_hash = if CODE_DEVICE.contains(&device.kind) {
            let otp = self
                .send_code(
                    org,
                    &user,
                    device.kind,
                    device.phone.clone().or_else(|| device.email.clone()),
                    Purpose::Authentication,
                )
                .await?;
            Some(
                self.master
                    .keyed_hash("auth-code", format!("{session_id}:{otp}").as_bytes()),
            )
        } else {
            None
        };
        let challenge_expires = self.now() + i64::from(org.settings.otp_validity_secs) * 1000;
        let mut audited = false;
        if existing.is_some() {
            if !self
                .store
                .set_challenge(&session_id, Some(device.id), code_hash, Some(challenge_expires))
                .await?
            {
                return Err(DomainError::SessionUsed);
            }
        } else {
            // A code step cannot fail after its session is stored (the OTP block was
            // checked above, and only the phone app's step does more): the request's audit
            // record goes in with the session.
            let audit = audit_op.filter(|_| !device.kind.is_companion()).map(|op| {
                let code = AuthStep::Code(device.kind).error_id().code();
                self.audit_event(
                    org,
                    Some(&user),
                    &req.username,
                    Some(device.id.0),
                    op,
                    code,
                    req.source_ip.as_deref(),
                )
            });
            self.new_auth_session(
                org,
                &user,
                &session_id,
                service,
                "challenge",
                Some(device.id),
                code_hash,
                Some(challenge_expires),
                audit.as_ref(),
            )
            .await?;
            audited = audit.is_some();
        }
        let device_id = Some(device.id.0);
        let (step, number_for_matching, push_id) = if device.kind.is_companion() {
            self.companion_step(org, &user, &device, &session_id, req, mode).await?
        } else {
            (AuthStep::Code(device.kind), None, None)
        };
        if guard.otp_blocked && !matches!(step, AuthStep::ContinueOnline | AuthStep::PushSent) {
            return Err(DomainError::OtpBlocked);
        }
        let start = AuthStart {
            step,
            session_id: Some(session_id),
            devices,
            last_login_ms: user.last_login_ms,
            number_for_matching,
            online: None,
            push_id,
        };
        Ok((start, user, device_id, audited))
    }

    #[expect(clippy::too_many_arguments, reason = "one row's columns")]
    async fn new_auth_session(
        &self,
        org: &Org,
        user: &User,
        id: &str,
        service: Service,
        state: &str,
        device: Option<crate::device::DeviceId>,
        code_hash: Option<Vec<u8>>,
        challenge_expires_ms: Option<i64>,
        audit: Option<&AuditEvent>,
    ) -> Result<(), DomainError> {
        let session = AuthSession {
            id: id.to_string(),
            org_id: org.id,
            user_id: user.id,
            device_id: device,
            kind: "auth".into(),
            sp_alias: service.alias().into(),
            state: state.into(),
            code_hash,
            backup_channel: None,
            backup_target: None,
            resync_counter: None,
            attempts: 0,
            challenge_expires_ms,
            expires_ms: self.now() + i64::from(org.settings.session_lifetime_secs) * 1000,
            created_ms: self.now(),
        };
        match audit {
            Some(event) => self.store.create_auth_session_audited(&session, event).await?,
            None => self.store.create_auth_session(&session).await?,
        }
        Ok(())
    }

    /// A session of this user and organization that has not ended by time: 20517
    /// otherwise. Its state is the caller's to judge.
    async fn live_session(&self, org: &Org, user: &User, id: &str) -> Result<AuthSession, DomainError> {
        let session = self
            .store
            .auth_session(id)
            .await?
            .filter(|s| s.org_id == org.id && s.user_id == user.id)
            .ok_or(DomainError::InvalidSession)?;
        if session.expires_ms <= self.now() {
            return Err(DomainError::InvalidSession);
        }
        match session.state.as_str() {
            "cancelled" => Err(DomainError::Cancelled),
            "approved" | "failed" => Err(DomainError::SessionUsed),
            "processing" => Err(DomainError::SessionInProcess),
            _ => Ok(session),
        }
    }

    /// Backup authentication (authonline with authType ONE_TIME_DEVICE, spAlias
    /// rescuecode): a code to an address given in the call.
    ///
    /// # Errors
    /// As startauthentication, plus 20559 for a bad phone, 422 for a bad email, 20542 for
    /// an unknown deviceType.
    pub async fn start_backup(
        &self,
        caller: &OrgCaller,
        req: &AuthRequest,
        device_type: &str,
        data: &str,
    ) -> Result<AuthStart, DomainError> {
        let org = caller.org();
        let result: Result<(AuthStart, User), DomainError> = async {
            let (user, service, guard) = self.auth_user(caller, &req.username, &req.sp_alias).await?;
            // Backup authentication is the rescuecode service's flow (spec §5.6).
            if service != Service::RescueCode {
                return Err(DomainError::NotSupported(
                    "backup authentication uses spAlias rescuecode",
                ));
            }
            self.factor_guard(&guard)?;
            let kind = match device_type.to_ascii_lowercase().as_str() {
                "sms" => DeviceType::Sms,
                "voice" => DeviceType::Voice,
                "email" => DeviceType::Email,
                _ => return Err(DomainError::UnsupportedRequest(format!("deviceType {device_type:?}"))),
            };
            let target = match kind {
                DeviceType::Email if super::pairing::valid_email(data.trim()) => data.trim().to_string(),
                DeviceType::Email => {
                    return Err(DomainError::InvalidValue("deviceData is not an email address".into()));
                }
                _ => crate::phone::Phone::parse(data, kind == DeviceType::Voice)
                    .ok_or(DomainError::InvalidPhone)?
                    .dial_string(),
            };
            let session_id = self.session_id("webs_");
            let otp = self
                .send_code(org, &user, kind, Some(target.clone()), Purpose::Authentication)
                .await?;
            self.store
                .create_auth_session(&AuthSession {
                    id: session_id.clone(),
                    org_id: org.id,
                    user_id: user.id,
                    device_id: None,
                    kind: "backup".into(),
                    sp_alias: service.alias().into(),
                    state: "challenge".into(),
                    code_hash: Some(
                        self.master
                            .keyed_hash("auth-code", format!("{session_id}:{otp}").as_bytes()),
                    ),
                    backup_channel: Some(kind.wire_name().to_ascii_lowercase()),
                    backup_target: Some(target),
                    resync_counter: None,
                    attempts: 0,
                    challenge_expires_ms: Some(self.now() + i64::from(org.settings.otp_validity_secs) * 1000),
                    expires_ms: self.now() + i64::from(org.settings.session_lifetime_secs) * 1000,
                    created_ms: self.now(),
                })
                .await?;
            let start = AuthStart {
                step: AuthStep::Code(kind),
                session_id: Some(session_id),
                devices: Vec::new(),
                last_login_ms: user.last_login_ms,
                number_for_matching: None,
                online: None,
                push_id: None,
            };
            Ok((start, user))
        }
        .await;
        let (user, code) = match &result {
            Ok((start, user)) => (Some(user.clone()), start.step.error_id().code()),
            Err(e) => (self.audit_user(org, &req.username).await, e.error_id().code()),
        };
        self.audit(self.audit_event(
            org,
            user.as_ref(),
            &req.username,
            None,
            "authonline",
            code,
            req.source_ip.as_deref(),
        ))
        .await;
        result.map(|(start, _)| start)
    }

    /// authoffline: checks the code of the session's device.
    ///
    /// # Errors
    /// 20520, 20519, 20541, 20537, 20524, 20526, 20565, 20517, 20561, 20545, 20543, 10608,
    /// 20512, 20513, 20514, 20532.
    pub async fn authenticate_offline(
        &self,
        caller: &OrgCaller,
        req: &AuthRequest,
        otp: &Otp,
        resync: bool,
    ) -> Result<OfflineOutcome, DomainError> {
        let org = caller.org();
        let mut device_for_audit = None;
        let mut user_for_audit = None;
        let result = self
            .offline_inner(caller, req, otp, resync, &mut device_for_audit, &mut user_for_audit)
            .await;
        let code = match &result {
            // An approval appended its audit record itself, in the same write.
            Ok(OfflineOutcome::Approved(_)) => return result,
            Ok(OfflineOutcome::ResyncNext) => ErrorId::OathResyncNextPasscode.code(),
            Err(e) => e.error_id().code(),
        };
        // The user the checks found; looked up again only when they failed before that.
        let user = match user_for_audit {
            Some(user) => Some(user),
            None => self.audit_user(org, &req.username).await,
        };
        self.audit(self.audit_event(
            org,
            user.as_ref(),
            &req.username,
            device_for_audit,
            "authoffline",
            code,
            req.source_ip.as_deref(),
        ))
        .await;
        result
    }

    async fn offline_inner(
        &self,
        caller: &OrgCaller,
        req: &AuthRequest,
        otp: &Otp,
        resync: bool,
        audit_device: &mut Option<i64>,
        audit_user: &mut Option<User>,
    ) -> Result<OfflineOutcome, DomainError> {
        let org = caller.org();
        let (user, service, guard) = self.auth_user(caller, &req.username, &req.sp_alias).await?;
        *audit_user = Some(user.clone());
        let session_id = req.session_id.as_deref().ok_or(DomainError::InvalidSession)?;
        let session = self.live_session(org, &user, session_id).await?;
        if session.state != "challenge"
            || session.sp_alias != service.alias()
            || (session.kind == "backup") != (service == Service::RescueCode)
        {
            return Err(DomainError::InvalidSession);
        }
        let device = match session.device_id {
            Some(id) => {
                *audit_device = Some(id.0);
                let found = self.store.devices_of(user.id).await?.into_iter().find(|d| d.id == id);
                Some(found.ok_or(DomainError::SessionDeviceGone)?)
            }
            None => None,
        };
        self.factor_guard(&guard)?;
        // While the session's push waits for the user, the push decides, not a code: a
        // session is approved once.
        if let Some(push) = self.store.session_push(session_id).await?
            && self.settle_push(push).await?.state.is_open()
        {
            return Err(DomainError::SessionInProcess);
        }
        if session.challenge_expires_ms.is_some_and(|exp| exp <= self.now()) {
            return Err(DomainError::CodeExpired);
        }
        // A check that calls out (a YubiKey validation server) or resyncs a token claims
        // the session first, so of concurrent calls exactly one proceeds. A local check
        // claims nothing: its approval takes the session only if it is still in
        // `challenge`, in the same write that spends the code.
        let claimed = resync || device.as_ref().is_some_and(|d| d.kind == DeviceType::YubiKey);
        if claimed
            && !self
                .store
                .transition_session(session_id, "challenge", "processing")
                .await?
        {
            return Err(self.lost_race(session_id).await?);
        }
        let mut verdict = self.check_code(org, &session, device.as_ref(), otp, resync).await;
        if let Ok(CodeVerdict::Approve { counter }) = verdict {
            let phone = device
                .as_ref()
                .map_or(session.backup_channel.as_deref() != Some("email"), |d| {
                    matches!(d.kind, DeviceType::Sms | DeviceType::Voice)
                });
            let audit = self.audit_event(
                org,
                Some(&user),
                &req.username,
                device.as_ref().map(|d| d.id.0),
                "authoffline",
                ErrorId::Ok.code(),
                req.source_ip.as_deref(),
            );
            let mut approval = Approval {
                session_id,
                claimed,
                attempts_read: session.attempts,
                failures_read: guard.failed_attempts,
                user: user.id,
                device: device.as_ref().map(|d| d.id),
                code_hash_read: session.code_hash.as_deref(),
                counter,
                sms_day: phone.then(|| self.day()),
                now_ms: self.now(),
                audit: Some(&audit),
            };
            // One write spends the code and approves; when another request spent the code
            // between our read and this write, nothing changed and the code counts as spent.
            let mut tries = 0;
            loop {
                match self.store.approve_session(&approval).await {
                    Ok(ApprovalOutcome::Approved) => {}
                    Ok(ApprovalOutcome::CodeSpent) => verdict = Err(DomainError::CodeSpent),
                    Ok(ApprovalOutcome::SessionMoved) => {
                        tries += 1;
                        (approval.attempts_read, approval.failures_read) = self.recheck(&approval, tries).await?;
                        continue;
                    }
                    // The approval is one transaction on every engine, so nothing was
                    // spent; a claimed session is given back below.
                    Err(e) => verdict = Err(DomainError::from(e)),
                }
                break;
            }
        }
        match verdict {
            Ok(CodeVerdict::Resync(counter)) => {
                self.store.set_session_resync(session_id, counter).await?;
                Ok(OfflineOutcome::ResyncNext)
            }
            Ok(CodeVerdict::Approve { .. }) => Ok(OfflineOutcome::Approved(device.map(Box::new))),
            Err(e @ (DomainError::WrongCode | DomainError::CodeSpent)) => {
                // The session's attempt and the user's failure in one write, which records
                // nothing when the user was locked meanwhile or a concurrent call ended the
                // session: an approval racing it sees both or neither.
                let now = self.now();
                let wrong = WrongCode {
                    session_id,
                    from: if claimed { "processing" } else { "challenge" },
                    max_attempts: org.settings.attempts_per_session,
                    user: user.id,
                    threshold: org.settings.lockout_threshold,
                    now_ms: now,
                    lock_until_ms: now + i64::from(org.settings.lockout_secs) * 1000,
                };
                match self.store.record_wrong_code(&wrong).await? {
                    WrongCodeOutcome::Counted {
                        attempt: AttemptOutcome::Exhausted,
                        ..
                    } => Err(DomainError::RetriesExceeded),
                    WrongCodeOutcome::Counted { .. } => Err(e),
                    // Locked by concurrent guesses: answered as a request arriving now is,
                    // so a guess in flight when the lock began neither counts nor answers
                    // differently from one after it. A claimed session goes back.
                    WrongCodeOutcome::UserLocked => {
                        self.give_back(session_id, claimed).await?;
                        Err(DomainError::LockedOut)
                    }
                    WrongCodeOutcome::SessionGone => Err(self.lost_race(session_id).await?),
                }
            }
            Err(other) => {
                // Not the user's fault (store, validation service): give the session back.
                self.give_back(session_id, claimed).await?;
                Err(other)
            }
        }
    }

    /// A claimed session (`processing`) goes back to `challenge`, so that the next code
    /// can be tried on it; an unclaimed one was never taken.
    async fn give_back(&self, session_id: &str, claimed: bool) -> Result<(), DomainError> {
        if claimed {
            self.store
                .transition_session(session_id, "processing", "challenge")
                .await?;
        }
        Ok(())
    }

    /// An approval of a verified code was refused: something its checks read changed
    /// before its write. Reads the session and the user's guard again and answers what a
    /// request arriving now would get, so that a guess in flight gains nothing and gives
    /// nothing away:
    /// - the session itself moved on (approved, failed, cancelled, re-challenged with a new
    ///   code or device by another request): this request lost the race (20543 or 20561);
    /// - the user is locked out meanwhile (concurrent wrong codes reached the threshold):
    ///   20526, exactly as those wrong codes' in-flight companions answer; likewise an
    ///   operator's lock or suspension, an OTP block or an unpaired device
    ///   ([`Core::still_standing`]);
    /// - only the counts moved (a wrong code elsewhere, not yet a lockout): the counts to
    ///   approve with, for one more try, as if this request had come after that code.
    ///
    /// A claimed session is given back whenever this ends the request.
    async fn recheck(&self, a: &Approval<'_>, tries: u32) -> Result<(u32, u32), DomainError> {
        let from = if a.claimed { "processing" } else { "challenge" };
        let session = self
            .store
            .auth_session(a.session_id)
            .await?
            .filter(|s| s.state == from && s.device_id == a.device && s.code_hash.as_deref() == a.code_hash_read);
        let guard = self.store.auth_guard(a.user).await?;
        if let Err(stopped) = self.still_standing(a, &guard).await {
            self.give_back(a.session_id, a.claimed).await?;
            return Err(stopped);
        }
        let Some(session) = session else {
            self.give_back(a.session_id, a.claimed).await?;
            return Err(self.lost_race(a.session_id).await?);
        };
        if tries >= APPROVAL_TRIES {
            // Wrong codes keep landing between the reads and the write: answered as a lost
            // race rather than tried without end.
            self.give_back(a.session_id, a.claimed).await?;
            return Err(DomainError::SessionInProcess);
        }
        Ok((session.attempts, guard.failed_attempts))
    }

    /// What stops a new request stops a refused approval: the user suspended (20537),
    /// locked by an administrator (20524), locked out (20526) or OTP-blocked (20565), or
    /// the session's device unpaired (10608), each since the check read them.
    async fn still_standing(&self, a: &Approval<'_>, guard: &crate::store::AuthGuard) -> Result<(), DomainError> {
        let user = self
            .store
            .user_by_id(a.user)
            .await?
            .ok_or(DomainError::InvalidSession)?;
        self.standing(&user, guard)?;
        self.factor_guard(guard)?;
        if let Some(device) = a.device
            && !self.store.devices_of(a.user).await?.iter().any(|d| d.id == device)
        {
            return Err(DomainError::SessionDeviceGone);
        }
        Ok(())
    }

    /// The answer for a request that found its session in `challenge` and lost it to a
    /// concurrent one: 20561 when that one cancelled it, otherwise 20543 (the session is
    /// or was being processed by the winner; spec: the loser of the race gets 20543).
    async fn lost_race(&self, session_id: &str) -> Result<DomainError, DomainError> {
        let now = self.store.auth_session(session_id).await?.map(|s| s.state);
        Ok(match now.as_deref() {
            Some("cancelled") => DomainError::Cancelled,
            _ => DomainError::SessionInProcess,
        })
    }

    /// Verifies `otp` for the session. The counter move that spends an OATH or YubiKey
    /// code is returned, for the approval's one conditional write to make.
    async fn check_code(
        &self,
        org: &Org,
        session: &AuthSession,
        device: Option<&Device>,
        otp: &Otp,
        resync: bool,
    ) -> Result<CodeVerdict, DomainError> {
        let Some(device) = device.filter(|d| !CODE_DEVICE.contains(&d.kind)) else {
            let expected = session.code_hash.as_deref().ok_or(DomainError::InvalidSession)?;
            let code = otp.padded(usize::try_from(org.settings.otp_length).unwrap_or(6));
            let got = self
                .master
                .keyed_hash("auth-code", format!("{}:{code}", session.id).as_bytes());
            return if constant_time_eq(expected, &got) {
                Ok(CodeVerdict::Approve { counter: None })
            } else {
                Err(DomainError::WrongCode)
            };
        };
        if device.kind == DeviceType::YubiKey {
            let counter = self.check_yubikey(device, otp.as_sent()).await?;
            return Ok(CodeVerdict::Approve { counter });
        }
        let params = device
            .oath
            .ok_or(DomainError::NotSupported("the device has no OATH parameters"))?;
        let seed = self
            .master
            .open(
                &device_context(&device.uuid),
                device.sealed_secret.as_deref().ok_or(DomainError::NoUsableDevice)?,
            )
            .map_err(|e| DomainError::AuthInternal(e.to_string()))?;
        let code = otp.padded(usize::try_from(params.digits).unwrap_or(6));
        let now_secs = u64::try_from(self.now() / 1000).unwrap_or(0);
        let stored = match params.kind {
            OathKind::Hotp => {
                let next = u64::try_from(device.counter.unwrap_or(0)).unwrap_or(0);
                let (from, window) = match session.resync_counter {
                    Some(r) => (u64::try_from(r).unwrap_or(0), 0),
                    None if resync => (next, HOTP_RESYNC_WINDOW),
                    None => (next, HOTP_LOOK_AHEAD),
                };
                match hotp::verify(&seed, &code, from, window, hotp_params(&params)) {
                    Verification::Accepted { step_or_counter } => {
                        let c = i64::try_from(step_or_counter).unwrap_or(i64::MAX);
                        if resync
                            && session.resync_counter.is_none()
                            && window == HOTP_RESYNC_WINDOW
                            && step_or_counter >= next + HOTP_LOOK_AHEAD
                        {
                            return Ok(CodeVerdict::Resync(c + 1));
                        }
                        c + 1
                    }
                    Verification::Replayed => return Err(DomainError::CodeSpent),
                    Verification::Rejected => {
                        // A code of one of the last counters before the stored one was
                        // valid once: spent (20532), not wrong.
                        let back = next.saturating_sub(HOTP_LOOK_AHEAD);
                        let spent = next > 0
                            && hotp::verify(&seed, &code, back, next - back - 1, hotp_params(&params)).is_accepted();
                        return Err(if spent {
                            DomainError::CodeSpent
                        } else {
                            DomainError::WrongCode
                        });
                    }
                }
            }
            OathKind::Totp => {
                let last = device.counter.and_then(|c| u64::try_from(c).ok());
                match totp::verify(&seed, &code, now_secs, totp_params(&params), TOTP_DRIFT_STEPS, last) {
                    Verification::Accepted { step_or_counter } => i64::try_from(step_or_counter).unwrap_or(i64::MAX),
                    Verification::Replayed => return Err(DomainError::CodeSpent),
                    Verification::Rejected => return Err(DomainError::WrongCode),
                }
            }
        };
        Ok(CodeVerdict::Approve {
            counter: Some((device.id, device.counter, stored)),
        })
    }

    /// Verifies a YubiKey OTP and raises the key's own counter; returns the device
    /// counter move the approval makes (none when Yubico's service validated the OTP:
    /// it keeps the counters then).
    async fn check_yubikey(
        &self,
        device: &Device,
        otp: &str,
    ) -> Result<Option<(DeviceId, Option<i64>, i64)>, DomainError> {
        let otp = otp.trim().to_ascii_lowercase();
        let split = yubikey::split_otp(&otp).map_err(|_| DomainError::WrongCode)?;
        if Some(split.public_id.as_str()) != device.serial.as_deref() {
            return Err(DomainError::WrongCode);
        }
        if let Some(validator) = &self.yubico {
            let mut nonce = [0u8; 16];
            self.random.fill(&mut nonce);
            let nonce = data_encoding::HEXLOWER.encode(&nonce);
            return match validator.validate(&otp, &nonce).await {
                Ok(YubicoVerdict::Valid) => Ok(None),
                Ok(YubicoVerdict::Replayed) => Err(DomainError::CodeSpent),
                Ok(YubicoVerdict::Invalid) => Err(DomainError::WrongCode),
                Err(e) => Err(DomainError::AuthInternal(format!("Yubico validation service: {e}"))),
            };
        }
        let secret = self
            .master
            .open(
                &device_context(&device.uuid),
                device.sealed_secret.as_deref().ok_or(DomainError::NoUsableDevice)?,
            )
            .map_err(|e| DomainError::AuthInternal(e.to_string()))?;
        let (aes, private) = super::yubikey::split_secret(&secret)
            .ok_or_else(|| DomainError::AuthInternal("bad YubiKey secret".into()))?;
        let last = device.counter.and_then(super::yubikey::unpacked);
        let new = match yubikey::verify(&otp, &aes, &private, last) {
            YubiVerification::Accepted { use_ctr, session_ctr } => super::yubikey::packed(use_ctr, session_ctr),
            YubiVerification::Replayed => return Err(DomainError::CodeSpent),
            YubiVerification::Rejected(_) => return Err(DomainError::WrongCode),
        };
        // The key's own counter is the one that matters: several devices (of one user or of
        // several) may share an imported key, and an OTP spent on one is spent on all.
        let org = device.org_id;
        if !self.store.raise_yubikey_counter(org, &split.public_id, new).await? {
            return Err(DomainError::CodeSpent);
        }
        Ok(Some((device.id, device.counter, new)))
    }

    /// cancelauthentication: ends a session that has not finished. Cancelling twice is
    /// harmless; a finished session answers 20545, one being checked 20543.
    ///
    /// # Errors
    /// 20517 unknown session, 20545, 20543.
    pub async fn cancel_authentication(&self, caller: &OrgCaller, session_id: &str) -> Result<(), DomainError> {
        let result = self.cancel_inner(caller, session_id).await;
        if let Ok(Some(session)) = self.store.auth_session(session_id).await
            && session.org_id == caller.org().id
        {
            let user = self.store.user_by_id(session.user_id).await.ok().flatten();
            let code = result
                .as_ref()
                .map_or_else(|e| e.error_id().code(), |()| ErrorId::Ok.code());
            let name = user.as_ref().map(|u| u.username.clone()).unwrap_or_default();
            let device = session.device_id.map(|d| d.0);
            self.audit(self.audit_event(
                caller.org(),
                user.as_ref(),
                &name,
                device,
                "cancelauthentication",
                code,
                None,
            ))
            .await;
        }
        result
    }

    async fn cancel_inner(&self, caller: &OrgCaller, session_id: &str) -> Result<(), DomainError> {
        let session = self
            .store
            .auth_session(session_id)
            .await?
            .filter(|s| s.org_id == caller.org().id && s.expires_ms > self.now())
            .ok_or(DomainError::InvalidSession)?;
        for from in ["selecting", "challenge"] {
            if self.store.transition_session(session_id, from, "cancelled").await? {
                self.cancel_push(session_id).await?;
                return Ok(());
            }
        }
        match self
            .store
            .auth_session(session_id)
            .await?
            .map_or(session.state, |s| s.state)
            .as_str()
        {
            "cancelled" => Ok(()),
            "processing" => Err(DomainError::SessionInProcess),
            _ => Err(DomainError::SessionUsed),
        }
    }

    /// Sets an administrator's lock (20524) or OTP block (20565) on a user, for
    /// `twofold user lock|unlock|block-otp|unblock-otp`.
    ///
    /// # Errors
    /// 10564 unknown user.
    pub async fn set_user_guard(
        &self,
        org: &Org,
        username: &str,
        admin_locked: Option<bool>,
        otp_blocked: Option<bool>,
    ) -> Result<(), DomainError> {
        let name = Username::parse(username).ok_or(DomainError::MalformedUsername)?;
        let user = self
            .store
            .user_by_name(org.id, &name.fold())
            .await?
            .ok_or(DomainError::UserNotFound)?;
        self.store.set_user_flags(user.id, admin_locked, otp_blocked).await?;
        Ok(())
    }
}

/// What checking a code found (the code itself is spent later, by the approval).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodeVerdict {
    /// A token resync matched its first code: the counter to expect the second at.
    Resync(i64),
    /// The code is right; `counter` is the device counter move, `(device, expected,
    /// new)`, that spends it.
    Approve {
        counter: Option<(DeviceId, Option<i64>, i64)>,
    },
}
