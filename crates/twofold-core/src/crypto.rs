//! Secrets at rest. Every secret Twofold stores (organization HMAC keys now; OTP seeds
//! and device keys later) is sealed with AES-256-GCM under the master key, with the
//! owning record's identity as associated data, so that the database alone yields no usable
//! key and a sealed value copied onto another record does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};

use crate::random::Random;

/// The 32-byte master key (the `master.key` file).
#[derive(Clone)]
pub struct MasterKey(Key<Aes256Gcm>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// A sealed value did not open: wrong master key, wrong record, or tampered bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a stored secret could not be decrypted with this master key")]
pub struct OpenError;

const NONCE_LEN: usize = 12;

impl MasterKey {
    /// Wraps 32 key bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes.into())
    }

    /// A fresh random key.
    #[must_use]
    pub fn generate(random: &dyn Random) -> ([u8; 32], Self) {
        let mut bytes = [0u8; 32];
        random.fill(&mut bytes);
        (bytes, Self::from_bytes(bytes))
    }

    /// Encrypts `secret` bound to `context` (e.g. `"api-token:<token>"`); returns
    /// nonce ‖ ciphertext ‖ tag.
    #[must_use]
    pub fn seal(&self, random: &dyn Random, context: &str, secret: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        random.fill(&mut nonce);
        let cipher = Aes256Gcm::new(&self.0);
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a short secret cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    /// A keyed hash of `data` for `purpose`: HMAC-SHA256 under a key derived from the
    /// master key. Used where a value must be found again but not recovered (activation
    /// codes): a plain SHA-256 of a 12-digit code falls to brute force from a copy of the
    /// database in minutes; this does not without the master key.
    #[must_use]
    pub fn keyed_hash(&self, purpose: &str, data: &[u8]) -> Vec<u8> {
        use hmac::{Hmac, Mac as _};
        let mut derive =
            <Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(self.0.as_slice()).expect("HMAC takes any key");
        derive.update(b"twofold keyed hash:");
        derive.update(purpose.as_bytes());
        let subkey = derive.finalize().into_bytes();
        let mut mac = <Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(&subkey).expect("HMAC takes any key");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// Decrypts a value sealed for `context`.
    ///
    /// # Errors
    /// [`OpenError`] when the key, the context or the bytes do not match.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| OpenError)?;
        Aes256Gcm::new(&self.0)
            .decrypt(
                &nonce,
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let rng = SeededRandom::new(1);
        let (_, key) = MasterKey::generate(&rng);
        let sealed = key.seal(&rng, "api-token:a", b"secret");
        assert_eq!(key.open("api-token:a", &sealed).unwrap(), b"secret");
        assert_eq!(key.open("api-token:b", &sealed), Err(OpenError));
        let (_, other) = MasterKey::generate(&rng);
        assert_eq!(other.open("api-token:a", &sealed), Err(OpenError));
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
    }
}
