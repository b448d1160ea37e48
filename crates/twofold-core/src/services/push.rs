//! Push authentication (spec §2.1, §5.1, §5.2, §5.4): what startauthentication answers
//! for a companion app, the held authonline, and authstatus.
//!
//! A held request costs no thread: it awaits the [`PushSignals`](crate::push::PushSignals)
//! port and re-reads the push at least every [`STORE_RECHECK`], so the answer decided by
//! another node (or before a restart) is seen within that interval. Time-based endings
//! (unreachable, expired) are conditional writes like the user's answer, so whichever
//! comes first wins and the others change nothing.

use super::Core;
use super::auth::{AuthRequest, AuthStart, AuthStep, StartMode};
use crate::caller::OrgCaller;
use crate::device::Device;
use crate::error::DomainError;
use crate::model::{Org, User};
use crate::push::{CreatePush, Push, PushState, STORE_RECHECK, device_key, session_key};

/// The window of the push rate limit (`push_rate_limit` pushes per device).
const PUSH_RATE_WINDOW_MS: i64 = 10 * 60 * 1000;
/// Consecutive failed store reads a held request rides out (about 10 s at the recheck
/// interval, more when each read waits for a connection) before it fails.
const MAX_WAIT_READ_FAILURES: u32 = 50;
/// Numbers a user chooses among when number matching is on.
const NUMBER_CHOICES: usize = 3;

/// What an approved push reports (authonline's `extendedOnlineDetails`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnlineApproval {
    /// `Android` or `iPhone`.
    pub device_type: String,
    /// The OS the app reported.
    pub os_version: Option<String>,
    /// Base64 of the first 16 bytes of SHA-256 of the device's public key.
    pub device_fp: String,
}

/// A push's final answer as authstatus reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushDecision {
    /// Still waiting (30010).
    Waiting,
    /// Approved (200).
    Approved,
}

/// The failure a finished push answers with.
fn push_error(push: &Push) -> Option<DomainError> {
    match push.state {
        PushState::Pending | PushState::Delivered | PushState::Approved => None,
        PushState::Denied => Some(DomainError::PushDenied),
        PushState::WrongNumber => Some(DomainError::WrongNumber),
        PushState::Expired => Some(DomainError::PushTimedOut),
        PushState::Unacknowledged => Some(DomainError::PushUnacknowledged),
        PushState::Unreachable => Some(DomainError::DeviceUnreachable {
            session_id: push.session_id.clone(),
        }),
        PushState::Cancelled => Some(DomainError::Cancelled),
    }
}

impl Core {
    /// What a companion-app device gets at the start of a flow: the desktop app and
    /// authType OTP ask for the app's OTP (30009/30006), an app with pushes off 30003, an
    /// unreachable phone 30006; otherwise startauthentication answers 30007 (sync) or
    /// pushes and answers 30010 (async), and authonline pushes.
    pub(crate) async fn companion_step(
        &self,
        org: &Org,
        user: &User,
        device: &Device,
        session_id: &str,
        req: &AuthRequest,
        mode: StartMode,
    ) -> Result<(AuthStep, Option<u32>, Option<String>), DomainError> {
        if !device.kind.receives_push() || mode == StartMode::OtpOnly {
            return Ok((AuthStep::Code(device.kind), None, None));
        }
        let app = self
            .store
            .app_device(device.id)
            .await?
            .ok_or_else(|| DomainError::AuthInternal("a companion device without its key".into()))?;
        if !app.facts.push_enabled {
            return Ok((AuthStep::PushDisabled, None, None));
        }
        let reachable = app.reachable(self.now(), i64::from(org.settings.reachability_secs) * 1000);
        match mode {
            StartMode::Start if !reachable => Ok((AuthStep::Code(device.kind), None, None)),
            StartMode::Start if !req.async_push => Ok((AuthStep::ContinueOnline, None, None)),
            _ => {
                let is_async = mode == StartMode::Start;
                let push = self.send_push(org, user, device, session_id, req, is_async).await?;
                Ok((AuthStep::PushSent, push.number, Some(push.id)))
            }
        }
    }

    /// Stores a push for `device` and wakes the app's long-poll.
    async fn send_push(
        &self,
        org: &Org,
        user: &User,
        device: &Device,
        session_id: &str,
        req: &AuthRequest,
        is_async: bool,
    ) -> Result<Push, DomainError> {
        let now = self.now();
        let timeout = i64::from(org.settings.push_timeout_secs) * 1000;
        let reach = i64::from(org.settings.reachability_secs) * 1000;
        let (number, choices) = if is_async && org.settings.number_matching {
            self.number_choices()
        } else {
            (None, Vec::new())
        };
        let push = Push {
            id: self.session_id("push_"),
            session_id: session_id.to_string(),
            org_id: org.id,
            user_id: user.id,
            device_id: device.id,
            state: PushState::Pending,
            number,
            choices,
            sp_name: req.sp_name.clone(),
            sp_logo: req.sp_logo.clone(),
            is_async,
            created_ms: now,
            // An asynchronous push waits for the app as long as for the user (20538).
            ack_deadline_ms: if is_async {
                now + timeout
            } else {
                now + reach.min(timeout)
            },
            expires_ms: now + timeout,
            updated_ms: now,
        };
        match self
            .store
            .create_push(&push, now - PUSH_RATE_WINDOW_MS, org.settings.push_rate_limit)
            .await?
        {
            CreatePush::Created => {}
            CreatePush::Busy => return Err(DomainError::PushPending),
            CreatePush::RateLimited => return Err(DomainError::TooManySends),
        }
        if let Some(signals) = &self.signals {
            signals.notify(&device_key(device.id));
        }
        Ok(push)
    }

    /// A two-digit number and the choices that contain it, in random order.
    fn number_choices(&self) -> (Option<u32>, Vec<u32>) {
        let mut choices: Vec<u32> = Vec::with_capacity(NUMBER_CHOICES);
        while choices.len() < NUMBER_CHOICES {
            let n = u32::try_from(self.random.below(90)).unwrap_or(0) + 10;
            if !choices.contains(&n) {
                choices.push(n);
            }
        }
        let right = choices[usize::try_from(self.random.below(NUMBER_CHOICES as u64)).unwrap_or(0)];
        (Some(right), choices)
    }

    /// Applies the time-based endings a push has reached: a sync push not picked up by
    /// its deadline becomes unreachable, an async one unacknowledged at its expiry, a
    /// delivered one expired. Returns the push as it now stands.
    pub(crate) async fn settle_push(&self, push: Push) -> Result<Push, DomainError> {
        let now = self.now();
        let ending = match push.state {
            PushState::Pending if !push.is_async && now >= push.ack_deadline_ms => Some(PushState::Unreachable),
            PushState::Pending if now >= push.expires_ms => Some(PushState::Unacknowledged),
            PushState::Delivered if now >= push.expires_ms => Some(PushState::Expired),
            _ => None,
        };
        let Some(to) = ending else {
            return Ok(push);
        };
        self.store.transition_push(&push.id, &[push.state], to, now).await?;
        self.store.push(&push.id).await?.ok_or(DomainError::SessionDeviceGone)
    }

    /// Ends the session after its push ended: approved → approved (lastLogin, failure
    /// count reset); denied or wrong number → failed (a failed factor attempt). The
    /// session writes are conditional, so repeated polls record the outcome once.
    /// True when this call closed the session (so the caller records the outcome once).
    ///
    /// An approval counts only if the sign-in is still allowed now (see
    /// [`still_allowed`](Self::still_allowed)); otherwise that check's error is returned and
    /// the session stays open, so every later look gives the same answer.
    async fn close_session(&self, org: &Org, push: &Push) -> Result<bool, DomainError> {
        let (to, approved) = match push.state {
            PushState::Approved => ("approved", true),
            PushState::Denied | PushState::WrongNumber => ("failed", false),
            _ => return Ok(false),
        };
        if approved {
            self.still_allowed(org, push).await?;
        }
        if !self.store.transition_session(&push.session_id, "challenge", to).await? {
            return Ok(false);
        }
        if approved {
            self.store
                .record_success(push.user_id, Some(push.device_id), self.now(), true)
                .await?;
        } else {
            let lock_until = self.now() + i64::from(org.settings.lockout_secs) * 1000;
            self.store
                .record_failure(push.user_id, org.settings.lockout_threshold, self.now(), lock_until)
                .await?;
        }
        Ok(true)
    }

    /// The user's standing can change while a push waits: an administrator suspends the
    /// user, locks them, or switches the service off (for the organization or for the
    /// user). The phone's approval then must not sign anyone in: the checks of
    /// startauthentication run again, on fresh rows (20537, 20524, 20526, 20536).
    async fn still_allowed(&self, org: &Org, push: &Push) -> Result<(), DomainError> {
        let user = self
            .store
            .user_by_id(push.user_id)
            .await?
            .ok_or(DomainError::SessionDeviceGone)?;
        let guard = self.store.auth_guard(user.id).await?;
        self.standing(&user, &guard)?;
        self.lockout_guard(&guard)?;
        let session = self
            .store
            .auth_session(&push.session_id)
            .await?
            .ok_or(DomainError::InvalidSession)?;
        let fresh = self.store.org_by_id(org.id).await?;
        let settings = fresh.as_ref().map_or(&org.settings, |o| &o.settings);
        if settings.disabled_services.contains(&session.sp_alias) {
            return Err(DomainError::ServiceNotActive);
        }
        let memberships = self.store.memberships(user.id).await?;
        if memberships
            .iter()
            .any(|m| m.service.alias() == session.sp_alias && !m.active)
        {
            return Err(DomainError::ServiceNotActive);
        }
        Ok(())
    }

    /// authonline with a push authType (CONFIRM, FINGERPRINT_*), with or without a
    /// preceding startauthentication: pushes to the session's device (or the chosen or
    /// primary one) and holds the request until the user answers, the app proves
    /// unreachable, or the push times out. A device that does not take pushes answers as
    /// startauthentication would (an OTP was sent, or use the app's OTP) with a sessionId.
    ///
    /// # Errors
    /// The user checks' codes, 20516 denied, 20521 unreachable (with a sessionId for the
    /// app's OTP), 20522 timed out, 20523 another push pending, 20561 cancelled, 20548.
    ///
    /// The push's id is put in `sent` as soon as it exists, so a caller whose client went
    /// away (the request future dropped) can [`abandon_push`](Self::abandon_push) it.
    pub async fn online_push(
        &self,
        caller: &OrgCaller,
        req: &AuthRequest,
        sent: &std::sync::Mutex<Option<String>>,
    ) -> Result<AuthStart, DomainError> {
        let org = caller.org();
        let result = self.online_inner(caller, req, sent).await;
        let (user, device, code) = match &result {
            Ok((start, user, device)) => (Some(user.clone()), *device, start.step.error_id().code()),
            Err(e) => (self.audit_user(org, &req.username).await, None, e.error_id().code()),
        };
        self.audit(self.audit_event(
            org,
            user.as_ref(),
            &req.username,
            device,
            "authonline",
            code,
            req.source_ip.as_deref(),
        ))
        .await;
        result.map(|(start, _, _)| start)
    }

    async fn online_inner(
        &self,
        caller: &OrgCaller,
        req: &AuthRequest,
        sent: &std::sync::Mutex<Option<String>>,
    ) -> Result<(AuthStart, User, Option<i64>), DomainError> {
        let (mut start, user, device, _) = self.start_inner(caller, req, StartMode::Online, None).await?;
        let Some(push_id) = start.push_id.clone() else {
            // Offline mode: the step tells which code to collect for the session.
            return Ok((start, user, device));
        };
        *sent.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(push_id.clone());
        let push = self.await_push(&push_id).await?;
        sent.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        let closed = self.close_session(caller.org(), &push).await?;
        if let Some(e) = push_error(&push) {
            return Err(e);
        }
        if !closed {
            // Approved, but the session no longer waited for it: cancelauthentication
            // won the race. One winner: the cancel was answered 200, so this is 20561.
            return Err(DomainError::Cancelled);
        }
        let app = self.store.app_device(push.device_id).await?;
        start.step = AuthStep::Approved;
        start.session_id = None;
        start.online = app.map(|a| OnlineApproval {
            device_type: a.platform.wire_name().to_string(),
            os_version: a.facts.os_version.clone(),
            device_fp: device_fingerprint(&a.public_key),
        });
        Ok((start, user, device))
    }

    /// Waits until the push is decided (or ends by time), without a thread: on the
    /// signal port, re-reading the store at least every [`STORE_RECHECK`]. A push that
    /// disappears went with its device (unpaired meanwhile): 10608.
    async fn await_push(&self, push_id: &str) -> Result<Push, DomainError> {
        let signals = self
            .signals
            .clone()
            .ok_or_else(|| DomainError::AuthInternal("no push signal port configured".into()))?;
        let mut key = None;
        let mut failures = 0;
        loop {
            match self.read_settled(push_id).await {
                Ok(push) if !push.state.is_open() => return Ok(push),
                Ok(push) => {
                    failures = 0;
                    key.get_or_insert_with(|| session_key(&push.session_id));
                }
                Err(e @ DomainError::SessionDeviceGone) => return Err(e),
                // A busy store (a full connection pool) is no reason to fail a sign-in
                // that is waiting anyway: read again at the next interval, up to a bound.
                Err(e) if failures < MAX_WAIT_READ_FAILURES => {
                    failures += 1;
                    tracing::warn!(error = %e, failures, "re-reading a held push failed");
                }
                Err(e) => return Err(e),
            }
            match &key {
                Some(k) => signals.wait(k, STORE_RECHECK).await,
                None => signals.wait(push_id, STORE_RECHECK).await,
            }
        }
    }

    async fn read_settled(&self, push_id: &str) -> Result<Push, DomainError> {
        let push = self.store.push(push_id).await?.ok_or(DomainError::SessionDeviceGone)?;
        self.settle_push(push).await
    }

    /// authstatus: the state of an asynchronous authentication, without waiting.
    ///
    /// # Errors
    /// 20517 unknown session, 20561 cancelled, and the push's failure (20516, 20585,
    /// 20522, 20538).
    pub async fn auth_status(&self, caller: &OrgCaller, session_id: &str) -> Result<PushDecision, DomainError> {
        let org = caller.org();
        let session = self
            .store
            .auth_session(session_id)
            .await?
            .filter(|s| s.org_id == org.id && s.expires_ms > self.now())
            .ok_or(DomainError::InvalidSession)?;
        if session.state == "cancelled" {
            return Err(DomainError::Cancelled);
        }
        let push = self
            .store
            .session_push(session_id)
            .await?
            .ok_or(DomainError::InvalidSession)?;
        let push = self.settle_push(push).await?;
        if self.close_session(org, &push).await? {
            // The asynchronous sign-in's outcome goes to the audit trail once.
            let user = self.store.user_by_id(push.user_id).await?;
            let name = user.as_ref().map(|u| u.username.clone()).unwrap_or_default();
            let code = push_error(&push).map_or(200, |e| e.error_id().code());
            self.audit(self.audit_event(
                org,
                user.as_ref(),
                &name,
                Some(push.device_id.0),
                "authstatus",
                code,
                None,
            ))
            .await;
        }
        if let Some(e) = push_error(&push) {
            return Err(e);
        }
        if push.state != PushState::Approved {
            return Ok(PushDecision::Waiting);
        }
        // Approved: the session says whether it counted (a cancel may have come first).
        match self.store.auth_session(session_id).await?.map(|s| s.state) {
            Some(state) if state == "approved" => Ok(PushDecision::Approved),
            Some(state) if state == "cancelled" => Err(DomainError::Cancelled),
            _ => Err(DomainError::InvalidSession),
        }
    }

    /// The client of a held authonline went away: its push is cancelled (the app closes
    /// it) so that the device can take the next sign-in's push instead of answering 20523
    /// until this one times out.
    ///
    /// # Errors
    /// Store failures.
    pub async fn abandon_push(&self, push_id: &str) -> Result<(), DomainError> {
        let open = [PushState::Pending, PushState::Delivered];
        if let Some(push) = self.store.push(push_id).await?
            && self
                .store
                .transition_push(push_id, &open, PushState::Cancelled, self.now())
                .await?
            && let Some(signals) = &self.signals
        {
            signals.notify(&device_key(push.device_id));
        }
        Ok(())
    }

    /// cancelauthentication's push part: the session's open push is cancelled and the
    /// app and any held authonline are woken.
    pub(crate) async fn cancel_push(&self, session_id: &str) -> Result<(), DomainError> {
        let Some(push) = self.store.session_push(session_id).await? else {
            return Ok(());
        };
        let open = [PushState::Pending, PushState::Delivered];
        if self
            .store
            .transition_push(&push.id, &open, PushState::Cancelled, self.now())
            .await?
            && let Some(signals) = &self.signals
        {
            signals.notify(&device_key(push.device_id));
            signals.notify(&session_key(session_id));
        }
        Ok(())
    }
}

/// A short, stable fingerprint of a device key for `deviceFp`.
pub(crate) fn device_fingerprint(public_key: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(public_key);
    data_encoding::BASE64.encode(&digest[..16])
}
