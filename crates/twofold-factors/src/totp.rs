//! RFC 6238 TOTP: HOTP with the counter taken from the clock.
//!
//! The time step is `now / period` (T0 = 0). The caller passes `now_unix_secs`, so tests can stand
//! at any instant, and the caller passes the last accepted step, so a code can be spent exactly
//! once even though it stays mathematically valid for the whole window.

use crate::Verification;
use crate::hotp::{self, HotpParams};

/// The time-step length. 30 s is the RFC default and what every app assumes; 60 s exists for
/// tokens that display slower. Other lengths are not offered because apps silently ignore them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Period {
    /// 30-second steps.
    #[default]
    Secs30,
    /// 60-second steps.
    Secs60,
}

impl Period {
    /// The step length in seconds.
    pub fn seconds(self) -> u64 {
        match self {
            Self::Secs30 => 30,
            Self::Secs60 => 60,
        }
    }

    /// Converts a step length in seconds (30 or 60) into the enum.
    pub fn from_seconds(seconds: u64) -> Option<Self> {
        match seconds {
            30 => Some(Self::Secs30),
            60 => Some(Self::Secs60),
            _ => None,
        }
    }
}

/// Everything besides the secret that the server and the authenticator must agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TotpParams {
    /// Hash function and code length.
    pub hotp: HotpParams,
    /// Time-step length.
    pub period: Period,
}

/// The time step containing `now_unix_secs`.
#[must_use]
pub fn step_at(now_unix_secs: u64, period: Period) -> u64 {
    now_unix_secs / period.seconds()
}

/// The code shown by an authenticator at `now_unix_secs`.
#[must_use]
pub fn generate(secret: &[u8], now_unix_secs: u64, params: TotpParams) -> String {
    generate_at_step(secret, step_at(now_unix_secs, params.period), params)
}

/// The code for an explicit time step (useful to show "next code" or to test drift).
#[must_use]
pub fn generate_at_step(secret: &[u8], step: u64, params: TotpParams) -> String {
    hotp::generate(secret, step, params.hotp)
}

/// Checks `code` against the steps `current - drift_window_steps ..= current + drift_window_steps`.
///
/// Clocks of phones and servers disagree by a few seconds and users type slowly, so a window of
/// one step either side is usual. Outcomes:
/// - `Accepted { step_or_counter }` for a match at a step after `last_accepted_step`; the caller
///   stores that step as the new last accepted step in one conditional write. When the code
///   matches several steps (a 6-digit collision) the unspent one closest to now wins.
/// - `Replayed` when the code matches only steps at or before `last_accepted_step`: the code
///   was spent, and a replay is worth auditing.
/// - `Rejected` for anything else, including input that is not exactly `digits` ASCII digits.
///
/// The cost is `2 * drift_window_steps + 1` HMACs, so keep the window small.
pub fn verify(
    secret: &[u8],
    code: &str,
    now_unix_secs: u64,
    params: TotpParams,
    drift_window_steps: u64,
    last_accepted_step: Option<u64>,
) -> Verification {
    if !hotp::well_formed(code, params.hotp.digits) {
        return Verification::Rejected;
    }
    let current = step_at(now_unix_secs, params.period);
    let spent = |step: u64| last_accepted_step.is_some_and(|last| step <= last);
    let mut replayed = false;
    // Visit steps from the current one outwards: current, -1, +1, -2, +2, ...
    for distance in 0..=drift_window_steps {
        let before = current.checked_sub(distance);
        let after = if distance == 0 {
            None
        } else {
            current.checked_add(distance)
        };
        for step in [before, after].into_iter().flatten() {
            if hotp::matches(secret, code, step, params.hotp) {
                if spent(step) {
                    replayed = true;
                } else {
                    return Verification::Accepted { step_or_counter: step };
                }
            }
        }
    }
    if replayed {
        Verification::Replayed
    } else {
        Verification::Rejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hotp::Digits;

    const SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn window_edges() {
        let p = TotpParams::default();
        let now = 1_000_000_020; // step 33_333_334, 20 s into it
        let step = step_at(now, p.period);
        let prev = generate_at_step(SECRET, step - 1, p);
        let next = generate_at_step(SECRET, step + 1, p);
        let far = generate_at_step(SECRET, step + 2, p);
        assert_eq!(
            verify(SECRET, &prev, now, p, 1, None),
            Verification::Accepted {
                step_or_counter: step - 1
            }
        );
        assert_eq!(
            verify(SECRET, &next, now, p, 1, None),
            Verification::Accepted {
                step_or_counter: step + 1
            }
        );
        assert_eq!(verify(SECRET, &far, now, p, 1, None), Verification::Rejected);
        assert_eq!(verify(SECRET, &prev, now, p, 0, None), Verification::Rejected);
    }

    #[test]
    fn spent_steps_are_replayed() {
        let p = TotpParams {
            period: Period::Secs60,
            ..TotpParams::default()
        };
        let now = 1_700_000_000;
        let step = step_at(now, p.period);
        let code = generate(SECRET, now, p);
        assert_eq!(verify(SECRET, &code, now, p, 1, Some(step)), Verification::Replayed);
        assert_eq!(verify(SECRET, &code, now, p, 1, Some(step + 1)), Verification::Replayed);
        assert_eq!(
            verify(SECRET, &code, now, p, 1, Some(step - 1)),
            Verification::Accepted { step_or_counter: step }
        );
        // A newer code after an older accepted one is fine.
        let older = generate_at_step(SECRET, step - 1, p);
        assert_eq!(verify(SECRET, &older, now, p, 1, Some(step)), Verification::Replayed);
    }

    #[test]
    fn time_zero_has_no_negative_steps() {
        let p = TotpParams {
            hotp: HotpParams {
                digits: Digits::Eight,
                ..HotpParams::default()
            },
            ..TotpParams::default()
        };
        let code = generate(SECRET, 0, p);
        assert_eq!(
            verify(SECRET, &code, 0, p, 5, None),
            Verification::Accepted { step_or_counter: 0 }
        );
        assert_eq!(verify(SECRET, "1234567", 0, p, 5, None), Verification::Rejected);
        assert_eq!(verify(SECRET, "abcdefgh", u64::MAX, p, 3, None), Verification::Rejected);
        let last = generate(SECRET, u64::MAX, p);
        assert_eq!(
            verify(SECRET, &last, u64::MAX, p, 3, None),
            Verification::Accepted {
                step_or_counter: u64::MAX / 30
            }
        );
    }
}
