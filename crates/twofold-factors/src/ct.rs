//! Constant-time comparison.
//!
//! Comparing a submitted secret (an OTP, a MAC, a token) with `==` stops at the first differing
//! byte, so response times reveal how long the correct prefix is. Everything in Twofold that
//! compares a secret against user input goes through [`constant_time_eq`].

use subtle::ConstantTimeEq;

/// Compares two byte strings in time that depends only on their lengths, never on their content.
///
/// Different lengths return `false` at once: lengths of codes and MACs are public (they are fixed
/// by the format), so there is nothing to hide about them.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equal_and_unequal() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"123456", b"123456"));
        assert!(!constant_time_eq(b"123456", b"123457"));
        assert!(!constant_time_eq(b"123456", b"12345"));
        assert!(!constant_time_eq(b"", b"0"));
    }
}
