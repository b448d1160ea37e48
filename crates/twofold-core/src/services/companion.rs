//! The companion app's side (the device API, docs/device-api.md): online pairing with an
//! activation code, signed calls, the push long-poll and the user's answer.
//!
//! Pairing moves the activation code NOT_CLAIMED → VERIFIED (claim) → PAIRED (register:
//! the device and its Ed25519 public key are stored, the user becomes ACTIVE) → SUCCESS
//! (the app's first signed call), each one conditional write. After that every call is
//! signed; a nonce is spent by one conditional insert, so a replayed call is refused.

use std::time::Duration;

use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use twofold_proto::device_api::{MAX_CLOCK_SKEW_MS, canonical_request, nonce_is_valid};

use super::Core;
use super::pairing::device_context;
use crate::device::{Device, DeviceId, DeviceType, OathParams};
use crate::error::DomainError;
use crate::model::{DeviceKind, Org, PairingState, User};
use crate::push::{AppDevice, AppFacts, AppPairOutcome, Push, PushState, STORE_RECHECK, device_key, session_key};

/// How long cancelled pushes are reported to the app's poll.
const CANCELLED_VISIBLE_MS: i64 = 2 * 60 * 1000;
/// Bytes of the app's TOTP secret.
const APP_SECRET_BYTES: usize = 20;
/// Longest text kept of a reported fact.
const FACT_CHARS: usize = 100;

/// A signed device-API request as received.
#[derive(Debug, Clone, Copy)]
pub struct DeviceCall<'a> {
    /// `GET`/`POST`.
    pub method: &'a str,
    /// Path and query exactly as received.
    pub path_and_query: &'a str,
    /// `x-twofold-device`.
    pub device_id: &'a str,
    /// `x-twofold-timestamp`.
    pub timestamp: &'a str,
    /// `x-twofold-nonce`.
    pub nonce: &'a str,
    /// `x-twofold-signature` (standard base64).
    pub signature: &'a str,
    /// The raw body.
    pub body: &'a [u8],
}

/// A verified companion app: the device, its key row, its user and organization.
#[derive(Debug, Clone)]
pub struct PairedApp {
    /// The device row.
    pub device: Device,
    /// Key and facts.
    pub app: AppDevice,
    /// Owner.
    pub user: User,
    /// Organization.
    pub org: Org,
}

/// What a long-poll returns.
#[derive(Debug, Clone, Default)]
pub struct PollOutcome {
    /// Open pushes (now delivered), with the signing-in user's name.
    pub pushes: Vec<(Push, String)>,
    /// Ids of pushes cancelled lately.
    pub cancelled: Vec<String>,
    /// The server's time of this answer: the `since` of the next poll.
    pub server_time_ms: i64,
}

fn clip(s: Option<String>) -> Option<String> {
    s.map(|v| v.chars().filter(|c| !c.is_control()).take(FACT_CHARS).collect())
}

impl Core {
    /// Finds the organization and stored code for an activation code sent by an app
    /// (codes are stored as per-organization keyed hashes, so each organization's hash
    /// is tried).
    async fn find_code(&self, code: &str) -> Result<Option<(Org, Vec<u8>, crate::model::ActivationCode)>, DomainError> {
        let code: String = code.chars().filter(char::is_ascii_digit).collect();
        if code.len() != 12 {
            return Ok(None);
        }
        for org in self.store.list_orgs().await? {
            let hash = self.code_hash(org.id, &code);
            if let Some(stored) = self.store.activation_code(org.id, &hash).await? {
                return Ok(Some((org, hash, stored)));
            }
        }
        Ok(None)
    }

    /// Pairing step 1: the app shows whom it is about to pair; the code reads VERIFIED.
    ///
    /// # Errors
    /// [`DomainError::InvalidSession`] for an unknown, expired or already used code.
    pub async fn claim_pairing(&self, code: &str) -> Result<(Org, User, Option<DeviceKind>), DomainError> {
        let (org, hash, stored) = self.find_code(code).await?.ok_or(DomainError::InvalidSession)?;
        if !self.store.claim_activation_code(org.id, &hash, self.now()).await? {
            return Err(DomainError::InvalidSession);
        }
        let user = self
            .store
            .user_by_id(stored.user_id)
            .await?
            .ok_or(DomainError::InvalidSession)?;
        Ok((org, user, stored.device_kind))
    }

    /// Pairing step 2: stores the device with its public key and a fresh TOTP secret for
    /// the app's OTP (sealed at rest); the code reads PAIRED and the user is ACTIVE.
    /// Returns the device, its organization and user, and the secret to hand to the app.
    ///
    /// # Errors
    /// 20517 for a code not VERIFIED, 400 for a bad key or platform, 20544 for a key
    /// paired to another user where the organization forbids it, 10570 for a SUSPENDED
    /// user, 20562 device limit.
    pub async fn register_app(
        &self,
        code: &str,
        public_key: &[u8],
        platform: &str,
        facts: AppFacts,
    ) -> Result<(Device, Org, User, Vec<u8>), DomainError> {
        let kind = DeviceType::from_wire(platform)
            .filter(|k| k.is_companion())
            .ok_or_else(|| DomainError::InvalidInput(format!("platform {platform:?}")))?;
        if VerifyingKey::try_from(public_key).is_err() {
            return Err(DomainError::InvalidInput("publicKey is not an Ed25519 key".into()));
        }
        let (org, hash, stored) = self.find_code(code).await?.ok_or(DomainError::InvalidSession)?;
        if stored.state != PairingState::Verified || stored.expires_ms <= self.now() {
            return Err(DomainError::InvalidSession);
        }
        let wanted = if kind == DeviceType::Desktop {
            DeviceKind::Desktop
        } else {
            DeviceKind::Mobile
        };
        if stored.device_kind.is_some_and(|k| k != wanted) {
            return Err(DomainError::NotSupported(
                "the activation code is for another kind of device",
            ));
        }
        let user = self
            .store
            .user_by_id(stored.user_id)
            .await?
            .ok_or(DomainError::InvalidSession)?;
        let mut secret = vec![0u8; APP_SECRET_BYTES];
        self.random.fill(&mut secret);
        let mut device = self.new_device(&org, &user, kind);
        device.oath = Some(OathParams::APP_DEFAULT);
        device.sealed_secret = Some(
            self.master
                .seal(self.random.as_ref(), &device_context(&device.uuid), &secret),
        );
        let app = AppDevice {
            device_id: device.id,
            org_id: org.id,
            user_id: user.id,
            platform: kind,
            public_key: public_key.to_vec(),
            facts: AppFacts {
                model: clip(facts.model),
                os_version: clip(facts.os_version),
                app_version: clip(facts.app_version),
                // The desktop app has no pushes whatever it says.
                push_enabled: facts.push_enabled && kind.receives_push(),
            },
            last_seen_ms: Some(self.now()),
            poll_until_ms: None,
        };
        match self
            .store
            .pair_app_device(
                &hash,
                &device,
                &app,
                org.settings.max_devices,
                org.settings.multiple_users_per_device,
            )
            .await?
        {
            AppPairOutcome::Paired(paired) => Ok((*paired, org, user, secret)),
            AppPairOutcome::CodeGone => Err(DomainError::InvalidSession),
            AppPairOutcome::TooManyDevices => Err(DomainError::DeviceLimit),
            AppPairOutcome::UserNotPairable => Err(DomainError::DeviceChangeNotAllowed),
            AppPairOutcome::KeyInUse => Err(DomainError::MultipleUsersPerDevice),
            AppPairOutcome::Conflict => Err(DomainError::Conflict("device id collision".into())),
        }
    }

    /// Verifies a signed call: known companion device, timestamp within
    /// [`MAX_CLOCK_SKEW_MS`], Ed25519 signature over the canonical request, and a nonce
    /// never seen before (spent by one conditional insert).
    ///
    /// # Errors
    /// [`DomainError::InvalidInput`] for malformed headers, [`DomainError::Unauthorized`]
    /// for an unknown device, a stale timestamp or a bad signature,
    /// [`DomainError::SessionUsed`] for a replayed nonce.
    pub async fn verify_device_call(&self, call: &DeviceCall<'_>) -> Result<PairedApp, DomainError> {
        let device_id = call
            .device_id
            .parse::<i64>()
            .map_err(|_| DomainError::InvalidInput("x-twofold-device".into()))?;
        let timestamp = call
            .timestamp
            .parse::<i64>()
            .map_err(|_| DomainError::InvalidInput("x-twofold-timestamp".into()))?;
        if !nonce_is_valid(call.nonce) {
            return Err(DomainError::InvalidInput("x-twofold-nonce".into()));
        }
        let signature = data_encoding::BASE64
            .decode(call.signature.as_bytes())
            .ok()
            .and_then(|b| Signature::from_slice(&b).ok())
            .ok_or_else(|| DomainError::InvalidInput("x-twofold-signature".into()))?;
        let now = self.now();
        // abs_diff: a timestamp near i64::MIN must not overflow (it is unauthenticated input).
        if now.abs_diff(timestamp) > MAX_CLOCK_SKEW_MS.unsigned_abs() {
            return Err(DomainError::Unauthorized);
        }
        let app = self
            .store
            .app_device(DeviceId(device_id))
            .await?
            .ok_or(DomainError::Unauthorized)?;
        let key = VerifyingKey::try_from(app.public_key.as_slice()).map_err(|_| DomainError::Unauthorized)?;
        let signed = canonical_request(
            call.method,
            call.path_and_query,
            device_id,
            timestamp,
            call.nonce,
            call.body,
        );
        key.verify(signed.as_bytes(), &signature)
            .map_err(|_| DomainError::Unauthorized)?;
        // Only a verified call spends a nonce, so a forger cannot burn the app's nonces.
        let keep_until = now.max(timestamp) + MAX_CLOCK_SKEW_MS;
        if !self
            .store
            .spend_nonce(app.device_id, call.nonce, keep_until, now)
            .await?
        {
            return Err(DomainError::SessionUsed);
        }
        let device = self
            .store
            .devices_of(app.user_id)
            .await?
            .into_iter()
            .find(|d| d.id == app.device_id)
            .ok_or(DomainError::Unauthorized)?;
        let user = self
            .store
            .user_by_id(app.user_id)
            .await?
            .ok_or(DomainError::Unauthorized)?;
        let org = self
            .store
            .org_by_id(app.org_id)
            .await?
            .ok_or(DomainError::Unauthorized)?;
        self.store.touch_app_device(app.device_id, now, None).await?;
        Ok(PairedApp { device, app, user, org })
    }

    /// Pairing step 3: the app finished (its first signed call); the code reads SUCCESS
    /// once, then NOT_EXIST. Calling it again is harmless.
    ///
    /// # Errors
    /// Store failures.
    pub async fn finish_companion_pairing(&self, app: &PairedApp) -> Result<(), DomainError> {
        self.store.finish_app_pairing(app.device.id).await?;
        Ok(())
    }

    /// Replaces the app's facts (shown in `deviceDetails`).
    ///
    /// # Errors
    /// Store failures.
    pub async fn set_app_facts(&self, app: &PairedApp, facts: AppFacts) -> Result<AppFacts, DomainError> {
        let facts = AppFacts {
            model: clip(facts.model),
            os_version: clip(facts.os_version),
            app_version: clip(facts.app_version),
            push_enabled: facts.push_enabled && app.app.platform.receives_push(),
        };
        self.store.set_app_facts(app.device.id, &facts).await?;
        Ok(facts)
    }

    /// The long-poll: waits up to `wait` for news (a push the app has not seen, or a
    /// cancellation after `since`, the `serverTimeMs` of the app's previous poll), holding
    /// no thread. The answer lists every open push; pushes it returns are acknowledged
    /// (pending → delivered).
    ///
    /// # Errors
    /// Store failures.
    pub async fn poll_pushes(
        &self,
        app: &PairedApp,
        wait: Duration,
        since: Option<i64>,
    ) -> Result<PollOutcome, DomainError> {
        let started = self.now();
        let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        self.store
            .touch_app_device(app.device.id, started, Some(started + wait_ms))
            .await?;
        let mut slept = Duration::ZERO;
        loop {
            let last = slept >= wait || self.signals.is_none();
            match self.poll_once(app, since).await {
                Ok((outcome, news)) if news || last => {
                    self.store.touch_app_device(app.device.id, self.now(), None).await?;
                    return Ok(outcome);
                }
                Ok(_) => {}
                Err(e) if last => return Err(e),
                // A busy store: the poll waits anyway, so read again at the next step.
                Err(e) => tracing::warn!(error = %e, "re-reading a device's pushes failed"),
            }
            // Real time, not the injected clock: a test's fixed clock must not hold polls.
            let step = STORE_RECHECK.min(wait - slept);
            if let Some(signals) = &self.signals {
                signals.wait(&device_key(app.device.id), step).await;
            }
            slept += step;
        }
    }

    async fn poll_once(&self, app: &PairedApp, since: Option<i64>) -> Result<(PollOutcome, bool), DomainError> {
        let mut outcome = PollOutcome {
            server_time_ms: self.now(),
            ..PollOutcome::default()
        };
        // Without `since` (the app's first poll) every open push is news.
        let mut news = false;
        for push in self.store.open_pushes(app.device.id).await? {
            let push = self.settle_push(push).await?;
            if !push.state.is_open() {
                continue;
            }
            news |= since.is_none_or(|t| push.updated_ms > t || push.state == PushState::Pending);
            if push.state == PushState::Pending
                && self
                    .store
                    .transition_push(&push.id, &[PushState::Pending], PushState::Delivered, self.now())
                    .await?
                && let Some(signals) = &self.signals
            {
                signals.notify(&session_key(&push.session_id));
            }
            let name = self
                .store
                .user_by_id(push.user_id)
                .await?
                .map(|u| u.username)
                .unwrap_or_default();
            outcome.pushes.push((push, name));
        }
        let floor = self.now() - CANCELLED_VISIBLE_MS;
        let after = since.map_or(floor, |t| t.max(floor));
        outcome.cancelled = self.store.cancelled_pushes(app.device.id, after).await?;
        news |= since.is_some() && !outcome.cancelled.is_empty();
        Ok((outcome, news))
    }

    /// The user's answer to a push. Approving with number matching needs the right
    /// number; a wrong one fails the sign-in (20585). Returns the push's final state
    /// (the answer may have lost to a timeout or a cancellation).
    ///
    /// # Errors
    /// 20517 for a push that is not this device's.
    pub async fn answer_push(
        &self,
        app: &PairedApp,
        push_id: &str,
        approve: bool,
        number: Option<u32>,
    ) -> Result<PushState, DomainError> {
        let push = self
            .store
            .push(push_id)
            .await?
            .filter(|p| p.device_id == app.device.id)
            .ok_or(DomainError::InvalidSession)?;
        let push = self.settle_push(push).await?;
        if !push.state.is_open() {
            return Ok(push.state);
        }
        let to = match (approve, push.number) {
            (false, _) => PushState::Denied,
            (true, None) => PushState::Approved,
            (true, Some(right)) if number == Some(right) => PushState::Approved,
            (true, Some(_)) => PushState::WrongNumber,
        };
        let open = [PushState::Pending, PushState::Delivered];
        self.store.transition_push(&push.id, &open, to, self.now()).await?;
        if let Some(signals) = &self.signals {
            signals.notify(&session_key(&push.session_id));
        }
        Ok(self.store.push(push_id).await?.map_or(to, |p| p.state))
    }
}
