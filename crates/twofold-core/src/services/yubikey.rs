//! YubiKeys in Yubico OTP mode (spec §2.3 pairyubikey, §5.12). Operators import each
//! key's AES key and private id (`twofold yubikey import`); an OTP is then validated here:
//! modhex, AES-128 decryption, CRC, private id, and counters that must rise.
//!
//! Counters rise through one conditional write on the imported key
//! (`raise_yubikey_counter`), so a captured OTP is refused forever after (20532).

use data_encoding::HEXLOWER_PERMISSIVE;
use twofold_factors::yubikey::{self, YubiVerification};

use super::Core;
use super::pairing::device_context;
use crate::caller::AdminCaller;
use crate::delivery::{YubicoValidator, YubicoVerdict};
use crate::device::{Device, DeviceType};
use crate::error::DomainError;
use crate::model::Org;
use crate::store::YubikeyRecord;

/// One key of an import file.
#[derive(Clone)]
pub struct YubikeyInput {
    /// Serial number, when known.
    pub serial: Option<String>,
    /// Modhex public id.
    pub public_id: String,
    /// Private id, 12 hex digits.
    pub private_id: String,
    /// AES key, 32 hex digits.
    pub aes_key: String,
}

impl std::fmt::Debug for YubikeyInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YubikeyInput")
            .field("public_id", &self.public_id)
            .finish_non_exhaustive()
    }
}

fn yubikey_context(org: &Org, public_id: &str) -> String {
    format!("yubikey:{}:{public_id}", org.id.0)
}

/// (use counter, session counter) as one ordered integer.
pub(super) fn packed(use_ctr: u16, session_ctr: u8) -> i64 {
    (i64::from(use_ctr) << 8) | i64::from(session_ctr)
}

pub(super) fn unpacked(counter: i64) -> Option<(u16, u8)> {
    Some((u16::try_from(counter >> 8).ok()?, u8::try_from(counter & 0xff).ok()?))
}

/// A stored YubiKey secret (AES key ‖ private id) split into its parts.
pub(super) fn split_secret(secret: &[u8]) -> Option<([u8; 16], [u8; 6])> {
    let (aes, private) = secret.split_at_checked(16)?;
    Some((aes.try_into().ok()?, private.try_into().ok()?))
}

impl Core {
    /// Pairing against a remote validation service: it knows the keys and their
    /// counters; Twofold keeps only the public id.
    async fn pair_remote_yubikey(
        &self,
        admin: &AdminCaller<'_>,
        user: &crate::model::User,
        otp: &str,
        public_id: &str,
        validator: &dyn YubicoValidator,
        unique: bool,
    ) -> Result<Device, DomainError> {
        let org = admin.org();
        let mut nonce_bytes = [0u8; 16];
        self.random.fill(&mut nonce_bytes);
        let nonce = HEXLOWER_PERMISSIVE.encode(&nonce_bytes);
        match validator.validate(otp, &nonce).await {
            Ok(YubicoVerdict::Valid) => {}
            Ok(YubicoVerdict::Replayed) => return Err(DomainError::CodeSpent),
            Ok(YubicoVerdict::Invalid) => return Err(DomainError::WrongCode),
            Err(e) => return Err(DomainError::Internal(format!("Yubico validation service: {e}"))),
        }
        if unique
            && self
                .store
                .target_owner(org.id, DeviceType::YubiKey, public_id)
                .await?
                .is_some_and(|o| o != user.id)
        {
            return Err(DomainError::DeviceInUse);
        }
        let mut device = self.new_device(org, user, DeviceType::YubiKey);
        device.serial = Some(public_id.to_string());
        self.finish_pair(org, &device, None).await
    }

    /// Imports YubiKey key material; returns the public ids already present (skipped).
    ///
    /// # Errors
    /// [`DomainError::InvalidValue`] naming the first bad row (nothing is imported then).
    pub async fn import_yubikeys(&self, org: &Org, keys: &[YubikeyInput]) -> Result<Vec<String>, DomainError> {
        let mut records = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            let bad = |what: &str| DomainError::InvalidValue(format!("row {}: {what}", i + 1));
            let public_id = k.public_id.trim().to_ascii_lowercase();
            if public_id.is_empty()
                || public_id.len() > yubikey::MAX_PUBLIC_ID_LEN
                || yubikey::modhex_decode(&public_id).is_none()
            {
                return Err(bad("the public id is not modhex of up to 16 characters"));
            }
            let private = HEXLOWER_PERMISSIVE
                .decode(k.private_id.trim().as_bytes())
                .ok()
                .filter(|p| p.len() == 6);
            let aes = HEXLOWER_PERMISSIVE
                .decode(k.aes_key.trim().as_bytes())
                .ok()
                .filter(|a| a.len() == 16);
            let (Some(private), Some(aes)) = (private, aes) else {
                return Err(bad("the private id must be 12 hex digits and the AES key 32"));
            };
            let mut secret = aes;
            secret.extend_from_slice(&private);
            records.push(YubikeyRecord {
                org_id: org.id,
                sealed_secret: self
                    .master
                    .seal(self.random.as_ref(), &yubikey_context(org, &public_id), &secret),
                public_id,
                serial: k
                    .serial
                    .as_ref()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty()),
                counter: None,
                created_ms: self.now(),
            });
        }
        Ok(self.store.insert_yubikeys(&records).await?)
    }

    /// pairyubikey: validates one OTP of the key and pairs it.
    ///
    /// # Errors
    /// 20555 YubiKeys disabled, 10568, 10564, 10570, 20562, 20527 key material never
    /// imported, 20513 an OTP that does not decrypt, 20532 a replayed OTP, 20571.
    pub async fn pair_yubikey(
        &self,
        admin: &AdminCaller<'_>,
        username: &str,
        otp: &str,
        unique: bool,
    ) -> Result<Device, DomainError> {
        let user = self.pairable_user(admin, username, DeviceType::YubiKey).await?;
        let org = admin.org();
        let otp = otp.trim().to_ascii_lowercase();
        let split = yubikey::split_otp(&otp).map_err(|_| DomainError::WrongCode)?;
        if let Some(validator) = &self.yubico {
            return self
                .pair_remote_yubikey(admin, &user, &otp, &split.public_id, validator.as_ref(), unique)
                .await;
        }
        let record = self
            .store
            .yubikey(org.id, &split.public_id)
            .await?
            .ok_or(DomainError::ForeignDevice)?;
        let secret = self
            .master
            .open(&yubikey_context(org, &record.public_id), &record.sealed_secret)
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        let (aes, private) = split_secret(&secret).ok_or_else(|| DomainError::Internal("bad YubiKey secret".into()))?;
        let counter = match yubikey::verify(&otp, &aes, &private, record.counter.and_then(unpacked)) {
            YubiVerification::Accepted { use_ctr, session_ctr } => packed(use_ctr, session_ctr),
            YubiVerification::Replayed => return Err(DomainError::CodeSpent),
            YubiVerification::Rejected(_) => return Err(DomainError::WrongCode),
        };
        if unique
            && self
                .store
                .target_owner(org.id, DeviceType::YubiKey, &record.public_id)
                .await?
                .is_some_and(|o| o != user.id)
        {
            return Err(DomainError::DeviceInUse);
        }
        if !self
            .store
            .raise_yubikey_counter(org.id, &record.public_id, counter)
            .await?
        {
            return Err(DomainError::CodeSpent);
        }
        let mut device = self.new_device(org, &user, DeviceType::YubiKey);
        device.serial = Some(record.public_id.clone());
        device.sealed_secret = Some(
            self.master
                .seal(self.random.as_ref(), &device_context(&device.uuid), &secret),
        );
        device.counter = Some(counter);
        self.finish_pair(org, &device, None).await
    }
}
