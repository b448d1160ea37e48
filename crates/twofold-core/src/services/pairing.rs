//! Offline pairing: SMS, voice, email and authenticator apps (spec §2.3, §5.11, §5.13).
//!
//! A pairing that verifies the target is a session: the start pre-assigns the device's id
//! and uuid, sends a code (or hands out a TOTP secret), and stores only the code's hash
//! (or the sealed secret). The finish is one transaction that closes the open session and
//! inserts the device, so of many concurrent finishes exactly one pairs.

use data_encoding::BASE64URL_NOPAD;
use twofold_factors::hotp::{Algorithm, Digits, HotpParams};
use twofold_factors::totp::{Period, TotpParams};
use twofold_factors::{Verification, constant_time_eq, otpauth, totp};
use twofold_proto::Otp;

use super::Core;
use crate::caller::AdminCaller;
use crate::delivery::{Channel, DeliveryError, OutboundMessage, Purpose};
use crate::device::{DEVICE_ID_BOUND, Device, DeviceId, DeviceType, OathParams};
use crate::error::DomainError;
use crate::model::{Org, User, UserStatus};
use crate::phone::Phone;
use crate::store::{AttemptOutcome, NewDevice, PairOutcome, PairingSession, SmsReservation};

/// How long an authenticator-app pairing may take (scan the QR code, type a code).
const APP_PAIRING_MS: i64 = 10 * 60 * 1000;
/// TOTP steps of clock drift accepted either side of now.
pub(crate) const TOTP_DRIFT_STEPS: u64 = 1;
const DAY_MS: i64 = 86_400_000;
/// The window of the resend limit (`resend_limit` codes per target).
const RESEND_WINDOW_MS: i64 = 10 * 60 * 1000;

/// What the start of a pairing returns.
#[derive(Debug, Clone)]
pub struct PairingStart {
    /// `oacts_…` session id.
    pub session_id: String,
    /// The device the finish will create.
    pub device_id: DeviceId,
    /// Its uuid.
    pub device_uuid: String,
}

/// authenticatorappstartpairing's answer.
#[derive(Debug, Clone)]
pub struct AppPairing {
    /// Session and device.
    pub start: PairingStart,
    /// `otpauth://totp/...` for the QR code.
    pub key_uri: String,
    /// The base32 secret in groups of 4, for typing by hand.
    pub key_groups: String,
}

pub(crate) fn totp_params(o: &OathParams) -> TotpParams {
    TotpParams {
        hotp: hotp_params(o),
        period: Period::from_seconds(u64::from(o.period)).unwrap_or(Period::Secs30),
    }
}

pub(crate) fn hotp_params(o: &OathParams) -> HotpParams {
    HotpParams {
        algorithm: Algorithm::from_name(o.algorithm).unwrap_or(Algorithm::Sha1),
        digits: Digits::from_count(u64::from(o.digits)).unwrap_or(Digits::Six),
    }
}

/// The keyed hash under which a sent code is kept (never the code itself).
fn code_hash(master: &crate::MasterKey, session: &str, code: &str) -> Vec<u8> {
    master.keyed_hash("pairing-code", format!("{session}:{code}").as_bytes())
}

/// The seal context of a device secret: bound to the device's uuid.
pub(crate) fn device_context(uuid: &str) -> String {
    format!("device:{uuid}")
}

/// Whether an email address is plausible enough to send to.
pub(crate) fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && s.len() <= 254
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == ';')
}

impl Core {
    pub(crate) fn day(&self) -> i64 {
        self.now().div_euclid(DAY_MS)
    }

    pub(crate) fn session_id(&self, prefix: &str) -> String {
        let mut bytes = [0u8; 32];
        self.random.fill(&mut bytes);
        format!("{prefix}{}", BASE64URL_NOPAD.encode(&bytes))
    }

    pub(crate) fn new_device(&self, org: &Org, user: &User, kind: DeviceType) -> NewDevice {
        let id = DeviceId(i64::try_from(self.random.below(DEVICE_ID_BOUND - 1) + 1).unwrap_or(1));
        let mut bytes = [0u8; 16];
        self.random.fill(&mut bytes);
        NewDevice {
            id,
            uuid: uuid::Builder::from_random_bytes(bytes).into_uuid().to_string(),
            user_id: user.id,
            org_id: org.id,
            kind,
            phone: None,
            email: None,
            serial: None,
            oath: None,
            sealed_secret: None,
            counter: None,
            enrolled_ms: self.now(),
        }
    }

    /// The checks every pairing makes before doing anything: the org allows the factor,
    /// the user may change devices.
    pub(crate) async fn pairable_user(
        &self,
        admin: &AdminCaller<'_>,
        username: &str,
        kind: DeviceType,
    ) -> Result<User, DomainError> {
        let s = &admin.org().settings;
        match kind {
            DeviceType::Sms | DeviceType::Voice if !s.sms_voice_enabled => return Err(DomainError::SmsVoiceDisabled),
            DeviceType::Email if !s.email_enabled => return Err(DomainError::EmailDisabled),
            DeviceType::YubiKey if !s.yubikey_enabled => return Err(DomainError::YubikeyDisabled),
            DeviceType::HardwareToken if !s.oath_enabled => return Err(DomainError::OathDisabled),
            DeviceType::AuthenticatorApp if !s.authenticator_app_enabled => {
                return Err(DomainError::NotSupported("authenticator apps are disabled"));
            }
            _ => {}
        }
        let user = self.find_user(admin, username).await?;
        if user.status_at(self.now()) == UserStatus::Suspended {
            return Err(DomainError::DeviceChangeNotAllowed);
        }
        let count = self.store.devices_of(user.id).await?.len();
        if count >= usize::try_from(s.max_devices).unwrap_or(usize::MAX) {
            return Err(DomainError::DeviceLimit);
        }
        Ok(user)
    }

    /// Fills the target (phone or email) of an SMS/voice/email device, enforcing
    /// validateUniqueDevice.
    async fn set_target(
        &self,
        org: &Org,
        user: &User,
        device: &mut NewDevice,
        data: &str,
        unique: bool,
    ) -> Result<String, DomainError> {
        let target = match device.kind {
            DeviceType::Sms | DeviceType::Voice => {
                let phone = Phone::parse(data, device.kind == DeviceType::Voice).ok_or(DomainError::InvalidPhone)?;
                device.phone = Some(phone.dial_string());
                phone.e164()
            }
            DeviceType::Email => {
                let email = data.trim();
                if !valid_email(email) {
                    return Err(DomainError::InvalidValue("pairingData is not an email address".into()));
                }
                device.email = Some(email.to_string());
                email.to_string()
            }
            _ => return Err(DomainError::UnsupportedRequest("type".into())),
        };
        if unique
            && self
                .store
                .target_owner(org.id, device.kind, &target)
                .await?
                .is_some_and(|owner| owner != user.id)
        {
            return Err(DomainError::DeviceInUse);
        }
        Ok(target)
    }

    pub(crate) async fn finish_pair(
        &self,
        org: &Org,
        device: &NewDevice,
        session: Option<&str>,
    ) -> Result<Device, DomainError> {
        match self
            .store
            .pair_device(device, org.settings.max_devices, session)
            .await?
        {
            PairOutcome::Paired(d) => Ok(*d),
            PairOutcome::TooManyDevices => Err(DomainError::DeviceLimit),
            PairOutcome::UserNotPairable => Err(DomainError::DeviceChangeNotAllowed),
            PairOutcome::SessionGone => Err(DomainError::SessionInProcess),
            PairOutcome::Conflict => Err(DomainError::DeviceInUse),
        }
    }

    /// Sends a code by the device's channel, enforcing the daily SMS/voice limits.
    pub(crate) async fn send_code(
        &self,
        org: &Org,
        user: &User,
        kind: DeviceType,
        to: Option<String>,
        purpose: Purpose,
    ) -> Result<String, DomainError> {
        let channel = match kind {
            DeviceType::Sms => Channel::Sms,
            DeviceType::Voice => Channel::Voice,
            DeviceType::Email => Channel::Email,
            _ => return Err(DomainError::NotSupported("this device receives no codes")),
        };
        let to = to.ok_or(DomainError::NotSupported("the device has no address"))?;
        let phone = channel != Channel::Email;
        if phone {
            let s = &org.settings;
            match self
                .store
                .reserve_sms(user.id, self.day(), s.sms_daily_claimed, s.sms_daily_unclaimed)
                .await?
            {
                SmsReservation::Reserved => {}
                SmsReservation::ClaimedLimit => return Err(DomainError::DailyClaimedLimit),
                SmsReservation::UnclaimedLimit => return Err(DomainError::DailyUnclaimedLimit),
            }
        }
        // One phone or mailbox, however it is spelled: the limit counts per E.164 number
        // (extension ignored) and per lower-cased address.
        let key = match channel {
            Channel::Email => to.trim().trim_end_matches('.').to_lowercase(),
            Channel::Sms | Channel::Voice => Phone::parse(&to, true).map_or_else(|| to.clone(), |p| p.e164()),
        };
        let since = self.now() - RESEND_WINDOW_MS;
        if !self
            .store
            .reserve_send(org.id, &key, since, org.settings.resend_limit, self.now())
            .await?
        {
            if phone {
                self.store.record_sms(user.id, self.day(), -1, 0).await?;
            }
            return Err(DomainError::TooManySends);
        }
        let otp = self
            .random
            .digits(usize::try_from(org.settings.otp_length).unwrap_or(6));
        let message = OutboundMessage {
            id: self.session_id("msg_"),
            org_alias: org.alias.0.clone(),
            org_name: org.name.clone(),
            channel,
            to,
            purpose,
            otp: otp.clone(),
            created_ms: self.now(),
        };
        match self.sender.send(&message).await {
            Ok(()) => {}
            Err(DeliveryError::Transient(cause) | DeliveryError::Permanent(cause)) => {
                // The cause is operator information; it never reaches the client and
                // senders never put the code in it.
                tracing::warn!(channel = channel.as_str(), cause = %cause, "code delivery failed");
                if phone {
                    // The code never left: give the reservation back.
                    self.store.record_sms(user.id, self.day(), -1, 0).await?;
                }
                return Err(if channel == Channel::Sms {
                    DomainError::SmsSendFailed
                } else {
                    DomainError::OtpSendFailed
                });
            }
        }
        Ok(otp)
    }

    /// offlinepairing: pairs at once, without verifying the target. For authenticator
    /// apps `pairing_data` is the base32 secret the app already holds.
    ///
    /// # Errors
    /// 20542 unknown type, the factor switches, 10570, 20562, 20559, 422, 20571, 20574.
    pub async fn offline_pairing(
        &self,
        admin: &AdminCaller<'_>,
        username: &str,
        kind: &str,
        pairing_data: &str,
        unique: bool,
    ) -> Result<Device, DomainError> {
        let kind = DeviceType::from_pairing_type(kind)
            .ok_or_else(|| DomainError::UnsupportedRequest(format!("type {kind:?}")))?;
        let user = self.pairable_user(admin, username, kind).await?;
        let org = admin.org();
        let mut device = self.new_device(org, &user, kind);
        match kind {
            DeviceType::AuthenticatorApp => {
                let secret = otpauth::decode_secret(pairing_data)
                    .ok()
                    .filter(|s| s.len() >= 10)
                    .ok_or_else(|| {
                        DomainError::InvalidValue("pairingData is not a base32 secret of 80 bits or more".into())
                    })?;
                device.oath = Some(OathParams::APP_DEFAULT);
                device.sealed_secret = Some(self.master.seal(
                    self.random.as_ref(),
                    &device_context(&device.uuid),
                    &secret,
                ));
            }
            DeviceType::HardwareToken => self.take_token(org, &mut device, pairing_data).await?,
            _ => {
                self.set_target(org, &user, &mut device, pairing_data, unique).await?;
            }
        }
        self.finish_pair(org, &device, None).await
    }

    /// startofflinepairing: sends a code to the phone or email (or, for an OATH token,
    /// waits for the token's own code) and opens a session.
    ///
    /// # Errors
    /// As [`Core::offline_pairing`], plus 20551/20558 when the message cannot be sent and
    /// 20563/20564 for the daily SMS/voice limits.
    pub async fn start_offline_pairing(
        &self,
        admin: &AdminCaller<'_>,
        username: &str,
        kind: &str,
        pairing_data: &str,
        unique: bool,
    ) -> Result<(PairingStart, NewDevice), DomainError> {
        let kind = DeviceType::from_pairing_type(kind)
            .filter(|k| *k != DeviceType::AuthenticatorApp)
            .ok_or_else(|| DomainError::UnsupportedRequest(format!("type {kind:?}")))?;
        let user = self.pairable_user(admin, username, kind).await?;
        let org = admin.org();
        let mut device = self.new_device(org, &user, kind);
        let session_id = self.session_id("oacts_");
        let code_hash = if kind == DeviceType::HardwareToken {
            self.take_token(org, &mut device, pairing_data).await?;
            None
        } else {
            self.set_target(org, &user, &mut device, pairing_data, unique).await?;
            let otp = self
                .send_code(
                    org,
                    &user,
                    device.kind,
                    device.phone.clone().or_else(|| device.email.clone()),
                    Purpose::Pairing,
                )
                .await?;
            Some(code_hash(&self.master, &session_id, &otp))
        };
        let lifetime = i64::from(org.settings.otp_validity_secs) * 1000;
        self.store
            .create_pairing_session(&PairingSession {
                id: session_id.clone(),
                device: device.clone(),
                code_hash,
                attempts: 0,
                expires_ms: self.now() + lifetime,
                state: "open".into(),
            })
            .await?;
        Ok((
            PairingStart {
                session_id,
                device_id: device.id,
                device_uuid: device.uuid.clone(),
            },
            device,
        ))
    }

    /// An open, unexpired session of the caller's organization.
    async fn open_session(&self, admin: &AdminCaller<'_>, id: &str) -> Result<PairingSession, DomainError> {
        let session = self
            .store
            .pairing_session(id)
            .await?
            .filter(|s| s.device.org_id == admin.org().id)
            .ok_or(DomainError::InvalidSession)?;
        match session.state.as_str() {
            "open" if session.expires_ms > self.now() => Ok(session),
            "open" => Err(DomainError::InvalidSession),
            _ => Err(DomainError::SessionUsed),
        }
    }

    /// Counts a wrong code: 20513 while attempts remain, 20514 on the last.
    pub(crate) async fn wrong_code(&self, admin: &AdminCaller<'_>, session: &str) -> DomainError {
        match self
            .store
            .fail_pairing_attempt(session, admin.org().settings.attempts_per_session)
            .await
        {
            Ok(AttemptOutcome::Remaining) => DomainError::WrongCode,
            Ok(AttemptOutcome::Exhausted) => DomainError::RetriesExceeded,
            Ok(AttemptOutcome::Gone) => DomainError::SessionUsed,
            Err(e) => e.into(),
        }
    }

    /// finalizeofflinepairing: checks the code and pairs. For OATH tokens `resync` asks
    /// for a wider search window; the answer is then `Ok(None)` (30016: send the next
    /// code) after the first code matched.
    ///
    /// # Errors
    /// 20517, 20545, 20513, 20514, 20543 (a concurrent finish won), 20562, 10570.
    pub async fn finalize_offline_pairing(
        &self,
        admin: &AdminCaller<'_>,
        session_id: &str,
        otp: &Otp,
        resync: bool,
    ) -> Result<Option<Device>, DomainError> {
        let session = self.open_session(admin, session_id).await?;
        let mut device = session.device.clone();
        if device.kind == DeviceType::HardwareToken {
            return self.finalize_token(admin, &session, otp, resync).await;
        }
        let Some(expected) = &session.code_hash else {
            return Err(DomainError::InvalidSession);
        };
        let otp = otp.padded(usize::try_from(admin.org().settings.otp_length).unwrap_or(6));
        if !constant_time_eq(expected, &code_hash(&self.master, session_id, &otp)) {
            return Err(self.wrong_code(admin, session_id).await);
        }
        device.enrolled_ms = self.now();
        let paired = self.finish_pair(admin.org(), &device, Some(session_id)).await?;
        if matches!(paired.kind, DeviceType::Sms | DeviceType::Voice) {
            self.store.record_sms(paired.user_id, self.day(), 0, 1).await?;
        }
        Ok(Some(paired))
    }

    /// authenticatorappstartpairing: a fresh 160-bit TOTP secret for the user's app.
    ///
    /// # Errors
    /// 10568, 10564, 10570, 20562, 20531 when the org disabled authenticator apps.
    pub async fn start_app_pairing(&self, admin: &AdminCaller<'_>, username: &str) -> Result<AppPairing, DomainError> {
        let user = self
            .pairable_user(admin, username, DeviceType::AuthenticatorApp)
            .await?;
        let org = admin.org();
        let mut device = self.new_device(org, &user, DeviceType::AuthenticatorApp);
        let mut secret = vec![0u8; otpauth::DEFAULT_SECRET_LEN];
        self.random.fill(&mut secret);
        let params = OathParams::APP_DEFAULT;
        device.oath = Some(params);
        device.sealed_secret = Some(
            self.master
                .seal(self.random.as_ref(), &device_context(&device.uuid), &secret),
        );
        // The account label apps show: email, else "first last", else the username.
        let account = user
            .profile
            .email
            .clone()
            .or_else(|| match (&user.profile.fname, &user.profile.lname) {
                (Some(f), Some(l)) => Some(format!("{f} {l}")),
                _ => None,
            })
            .unwrap_or_else(|| user.username.clone())
            .replace(':', " ");
        let uri = otpauth::KeyUri {
            kind: otpauth::OtpKind::Totp { period: Period::Secs30 },
            issuer: Some(org.name.replace(':', " ")),
            account: account.trim_start().to_string(),
            secret: secret.clone(),
            algorithm: Algorithm::Sha1,
            digits: Digits::Six,
        }
        .to_uri()
        .map_err(|e| DomainError::InvalidValue(format!("cannot build the key URI: {e:?}")))?;
        let session_id = self.session_id("oacts_");
        self.store
            .create_pairing_session(&PairingSession {
                id: session_id.clone(),
                device: device.clone(),
                code_hash: None,
                attempts: 0,
                expires_ms: self.now() + APP_PAIRING_MS,
                state: "open".into(),
            })
            .await?;
        Ok(AppPairing {
            start: PairingStart {
                session_id,
                device_id: device.id,
                device_uuid: device.uuid,
            },
            key_uri: uri,
            key_groups: otpauth::format_key_groups(&otpauth::encode_secret(&secret)),
        })
    }

    /// authenticatorappfinishpairing: the app's current code proves it holds the secret.
    /// The step it matched is recorded, so the same code cannot also sign in.
    ///
    /// # Errors
    /// 400 for non-digit codes, 20517, 20545, 20513, 20514, 20543.
    pub async fn finish_app_pairing(
        &self,
        admin: &AdminCaller<'_>,
        session_id: &str,
        otp: &Otp,
    ) -> Result<Device, DomainError> {
        if otp.as_sent().is_empty() || !otp.as_sent().bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::InvalidInput("otp must be digits only".into()));
        }
        let session = self.open_session(admin, session_id).await?;
        if session.device.kind != DeviceType::AuthenticatorApp {
            return Err(DomainError::InvalidSession);
        }
        let mut device = session.device.clone();
        let params = device.oath.unwrap_or(OathParams::APP_DEFAULT);
        let sealed = device.sealed_secret.as_deref().ok_or(DomainError::InvalidSession)?;
        let secret = self
            .master
            .open(&device_context(&device.uuid), sealed)
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        let now_secs = u64::try_from(self.now() / 1000).unwrap_or(0);
        let otp = otp.padded(usize::try_from(params.digits).unwrap_or(6));
        match totp::verify(&secret, &otp, now_secs, totp_params(&params), TOTP_DRIFT_STEPS, None) {
            Verification::Accepted { step_or_counter } => {
                device.counter = Some(i64::try_from(step_or_counter).unwrap_or(i64::MAX));
            }
            Verification::Rejected | Verification::Replayed => return Err(self.wrong_code(admin, session_id).await),
        }
        device.enrolled_ms = self.now();
        self.finish_pair(admin.org(), &device, Some(session_id)).await
    }
}
