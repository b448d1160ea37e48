#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod ct;
pub mod hotp;
pub mod otp_code;
pub mod otpauth;
mod percent;
pub mod totp;
pub mod yubico_protocol;
pub mod yubikey;

pub use ct::constant_time_eq;
pub use hotp::{Algorithm, Digits, HotpParams};
pub use totp::{Period, TotpParams};

/// The verdict of an HOTP or TOTP check.
///
/// A wrong code is an expected outcome of user input, not a failure of the program, so it is a
/// variant rather than an error. `Replayed` is separate from `Rejected` because the server answers
/// them differently (a spent code is reported and audited as a possible replay).
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verification {
    /// The code is valid. `step_or_counter` is the HOTP counter or TOTP time step it matched; the
    /// caller must record it (HOTP: store `counter + 1`; TOTP: store it as the last accepted step)
    /// in one conditional write so the code cannot be used twice.
    Accepted {
        /// The matched HOTP counter or TOTP step.
        step_or_counter: u64,
    },
    /// The code does not match anything in the allowed window (or is not a well-formed code).
    Rejected,
    /// The code was valid once but its counter or step has already been used.
    Replayed,
}

impl Verification {
    /// `true` only for [`Verification::Accepted`].
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Accepted { .. })
    }
}
