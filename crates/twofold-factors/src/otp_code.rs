//! Random numeric codes: the OTPs sent by SMS, voice and email, and activation codes.
//!
//! Taking `random_u64 % 10^n` would make small codes slightly more likely than large ones
//! (2^64 is not a multiple of 10^n). The bias is tiny, but rejection sampling removes it for the
//! price of, at worst, a rare extra draw, so every code is exactly equally likely.

use std::ops::RangeInclusive;

use rand::RngCore;

/// Code lengths offered for delivered OTPs: shorter is guessable, longer is untypeable.
pub const OTP_LENGTHS: RangeInclusive<usize> = 4..=10;
/// Length of a device activation (pairing) code.
pub const ACTIVATION_CODE_LEN: usize = 12;

/// The requested length is outside [`OTP_LENGTHS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidLength(pub usize);

impl std::fmt::Display for InvalidLength {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OTP length {} is outside 4..=10", self.0)
    }
}

impl std::error::Error for InvalidLength {}

/// A uniformly random code of `len` ASCII digits (leading zeros included).
pub fn generate_otp(rng: &mut impl RngCore, len: usize) -> Result<String, InvalidLength> {
    if !OTP_LENGTHS.contains(&len) {
        return Err(InvalidLength(len));
    }
    Ok(random_digits(rng, len))
}

/// A uniformly random 12-digit activation code, drawn exactly like an OTP.
#[must_use]
pub fn generate_activation_code(rng: &mut impl RngCore) -> String {
    random_digits(rng, ACTIVATION_CODE_LEN)
}

/// `len` (at most 19, so `10^len` fits in a `u64`) uniformly random digits.
fn random_digits(rng: &mut impl RngCore, len: usize) -> String {
    let exponent = u32::try_from(len).expect("code lengths are small");
    let modulus = 10u64.pow(exponent);
    // The largest multiple of `modulus` representable; draws at or above it are discarded so
    // that every residue has exactly `zone / modulus` preimages.
    let zone = u64::MAX - u64::MAX % modulus;
    let value = loop {
        let draw = rng.next_u64();
        if draw < zone {
            break draw % modulus;
        }
    };
    format!("{value:0len$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns the values it is given, to steer rejection sampling.
    struct Scripted(Vec<u64>);

    impl RngCore for Scripted {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0.remove(0)
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            for chunk in dst.chunks_mut(8) {
                let bytes = self.next_u64().to_le_bytes();
                chunk.copy_from_slice(&bytes[..chunk.len()]);
            }
        }
    }

    #[test]
    fn draws_in_the_biased_tail_are_rejected() {
        let zone = u64::MAX - u64::MAX % 1_000_000;
        let mut rng = Scripted(vec![u64::MAX, zone, zone - 1]);
        // zone - 1 = 999_999 (mod 10^6): the first two draws were discarded.
        assert_eq!(generate_otp(&mut rng, 6).unwrap(), "999999");
        let mut rng = Scripted(vec![42]);
        assert_eq!(generate_otp(&mut rng, 6).unwrap(), "000042");
    }

    #[test]
    fn lengths() {
        let mut rng = Scripted(vec![7; 8]);
        assert_eq!(generate_otp(&mut rng, 3), Err(InvalidLength(3)));
        assert_eq!(generate_otp(&mut rng, 11), Err(InvalidLength(11)));
        assert_eq!(generate_otp(&mut rng, 4).unwrap(), "0007");
        assert_eq!(generate_otp(&mut rng, 10).unwrap(), "0000000007");
        assert_eq!(generate_activation_code(&mut rng), "000000000007");
        assert_eq!(random_digits(&mut rng, 19), "0000000000000000007");
    }
}
