//! RFC 4226 HOTP: counter-based one-time passwords.
//!
//! HOTP is the building block of TOTP (which feeds it the time step as the counter) and the
//! factor of OATH hardware tokens that count button presses. The functions here compute and check
//! codes; storing the next expected counter, atomically, is the caller's job.

use hmac::{Hmac, KeyInit, Mac};

use crate::Verification;
use crate::ct::constant_time_eq;

/// The HMAC hash function. RFC 4226 defines SHA-1; RFC 6238 adds SHA-256 and SHA-512, and
/// authenticator apps accept all three through the `algorithm` key-URI parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// HMAC-SHA-1, the default and the only one every authenticator app supports.
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Algorithm {
    /// The name used in `otpauth://` URIs (`SHA1`, `SHA256`, `SHA512`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }

    /// Parses the key-URI name, ignoring ASCII case (apps differ in what they emit).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Sha1, Self::Sha256, Self::Sha512]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(name))
    }
}

/// Code length. Only 6 and 8 are offered because those are what authenticator apps and tokens
/// display; an enum keeps other lengths unrepresentable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Digits {
    /// Six digits, the common default.
    #[default]
    Six,
    /// Eight digits.
    Eight,
}

impl Digits {
    /// The number of digits as a number.
    pub fn count(self) -> usize {
        match self {
            Self::Six => 6,
            Self::Eight => 8,
        }
    }

    /// `10^digits`, the modulus of the RFC 4226 truncation.
    fn modulus(self) -> u32 {
        match self {
            Self::Six => 1_000_000,
            Self::Eight => 100_000_000,
        }
    }

    /// Converts a digit count (6 or 8) into the enum.
    pub fn from_count(count: u64) -> Option<Self> {
        match count {
            6 => Some(Self::Six),
            8 => Some(Self::Eight),
            _ => None,
        }
    }
}

/// What both sides must agree on besides the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct HotpParams {
    /// HMAC hash function.
    pub algorithm: Algorithm,
    /// Code length.
    pub digits: Digits,
}

/// HMAC of the 8-byte big-endian counter, as RFC 4226 §5.2 step 1 specifies.
fn hmac_counter(algorithm: Algorithm, secret: &[u8], counter: u64) -> Vec<u8> {
    fn run<M: Mac + KeyInit>(secret: &[u8], msg: &[u8]) -> Vec<u8> {
        // HMAC hashes over-long keys and pads short ones, so every key length is valid.
        let mut mac = <M as KeyInit>::new_from_slice(secret).expect("HMAC accepts any key length");
        mac.update(msg);
        mac.finalize().into_bytes().to_vec()
    }
    let msg = counter.to_be_bytes();
    match algorithm {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(secret, &msg),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(secret, &msg),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(secret, &msg),
    }
}

/// Dynamic truncation (RFC 4226 §5.3): 31 bits starting at the offset named by the low nibble
/// of the last byte.
fn truncate(mac: &[u8]) -> u32 {
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let word = [mac[offset], mac[offset + 1], mac[offset + 2], mac[offset + 3]];
    u32::from_be_bytes(word) & 0x7fff_ffff
}

/// The HOTP code for `counter`, zero-padded to `params.digits` (leading zeros are part of the
/// code: "012345" and "12345" are different inputs).
#[must_use]
pub fn generate(secret: &[u8], counter: u64, params: HotpParams) -> String {
    let value = truncate(&hmac_counter(params.algorithm, secret, counter)) % params.digits.modulus();
    format!("{value:0width$}", width = params.digits.count())
}

/// `true` when `code` has the exact shape of a code: `digits` ASCII digits. Shorter input is
/// not padded (the caller decides whether a UI dropped leading zeros), and anything else is not
/// a code at all.
pub(crate) fn well_formed(code: &str, digits: Digits) -> bool {
    code.len() == digits.count() && code.bytes().all(|b| b.is_ascii_digit())
}

/// Compares `code` with the code for `counter` in constant time.
pub(crate) fn matches(secret: &[u8], code: &str, counter: u64, params: HotpParams) -> bool {
    constant_time_eq(generate(secret, counter, params).as_bytes(), code.as_bytes())
}

/// Checks `code` against counters `next_counter ..= next_counter + look_ahead`.
///
/// A token's counter runs ahead of the server's whenever the button is pressed without logging
/// in, hence the look-ahead. On `Accepted { step_or_counter }` the caller must store
/// `step_or_counter + 1` as the new `next_counter` in one conditional write. The lowest matching
/// counter wins, so a look-ahead never skips further than needed. A code matching the previous
/// counter (`next_counter - 1`, the one most recently consumed) is reported as `Replayed` so a
/// double submit is distinguishable from a wrong code. The cost is linear in `look_ahead`, so
/// keep it small (tens, not thousands).
pub fn verify(secret: &[u8], code: &str, next_counter: u64, look_ahead: u64, params: HotpParams) -> Verification {
    if !well_formed(code, params.digits) {
        return Verification::Rejected;
    }
    let last = next_counter.saturating_add(look_ahead);
    let mut counter = next_counter;
    loop {
        if matches(secret, code, counter, params) {
            return Verification::Accepted {
                step_or_counter: counter,
            };
        }
        if counter == last {
            break;
        }
        counter += 1;
    }
    match next_counter.checked_sub(1) {
        Some(previous) if matches(secret, code, previous, params) => Verification::Replayed,
        _ => Verification::Rejected,
    }
}

/// Finds the counter of two consecutive codes, to resynchronize a token that drifted beyond the
/// normal look-ahead (RFC 4226 §7.4): one code can match by chance in a large window, two in a
/// row practically cannot.
///
/// Searches `c` in `from_counter ..= from_counter + window` for `code1 == HOTP(c)` and
/// `code2 == HOTP(c + 1)` and returns `c + 1`, the counter of the *second* code, so the caller
/// stores the returned value `+ 1` exactly as after [`verify`]. Malformed codes give `None`.
pub fn resync(
    secret: &[u8],
    code1: &str,
    code2: &str,
    from_counter: u64,
    window: u64,
    params: HotpParams,
) -> Option<u64> {
    if !well_formed(code1, params.digits) || !well_formed(code2, params.digits) {
        return None;
    }
    // `c + 1` must exist, so the search stops one short of u64::MAX.
    let last = from_counter.saturating_add(window).min(u64::MAX - 1);
    (from_counter..=last)
        .find_map(|c| (matches(secret, code1, c, params) && matches(secret, code2, c + 1, params)).then_some(c + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn truncation_example_from_rfc_4226_section_5_4() {
        let mac = [
            0x1f, 0x86, 0x98, 0x69, 0x0e, 0x02, 0xca, 0x16, 0x61, 0x85, 0x50, 0xef, 0x7f, 0x19, 0xda, 0x8e, 0x94, 0x5b,
            0x55, 0x5a,
        ];
        assert_eq!(truncate(&mac), 0x50ef_7f19);
        assert_eq!(truncate(&mac) % 1_000_000, 872_921);
    }

    #[test]
    fn rejects_malformed_codes_without_panicking() {
        let p = HotpParams::default();
        for code in ["", "75522", "7552244", "75522a", "７５５２２４", "-55224", "755 24"] {
            assert_eq!(verify(SECRET, code, 0, 5, p), Verification::Rejected, "{code:?}");
        }
    }

    #[test]
    fn look_ahead_and_replay() {
        let p = HotpParams::default();
        let c5 = generate(SECRET, 5, p);
        assert_eq!(
            verify(SECRET, &c5, 3, 2, p),
            Verification::Accepted { step_or_counter: 5 }
        );
        assert_eq!(verify(SECRET, &c5, 3, 1, p), Verification::Rejected);
        assert_eq!(verify(SECRET, &c5, 6, 3, p), Verification::Replayed);
        assert_eq!(verify(SECRET, &c5, 7, 3, p), Verification::Rejected);
    }

    #[test]
    fn counter_at_the_top_of_the_range() {
        let p = HotpParams::default();
        let code = generate(SECRET, u64::MAX, p);
        assert_eq!(
            verify(SECRET, &code, u64::MAX - 1, 10, p),
            Verification::Accepted {
                step_or_counter: u64::MAX
            }
        );
        assert_eq!(resync(SECRET, &code, &code, u64::MAX, 10, p), None);
    }

    #[test]
    fn resync_finds_the_second_counter() {
        let p = HotpParams {
            algorithm: Algorithm::Sha256,
            digits: Digits::Eight,
        };
        let a = generate(SECRET, 120, p);
        let b = generate(SECRET, 121, p);
        assert_eq!(resync(SECRET, &a, &b, 10, 200, p), Some(121));
        assert_eq!(resync(SECRET, &b, &a, 10, 200, p), None);
        assert_eq!(resync(SECRET, &a, &b, 10, 50, p), None);
    }

    #[test]
    fn algorithm_names() {
        assert_eq!(Algorithm::from_name("sha256"), Some(Algorithm::Sha256));
        assert_eq!(Algorithm::from_name("SHA512"), Some(Algorithm::Sha512));
        assert_eq!(Algorithm::from_name("MD5"), None);
    }
}
