//! The seeded users and their authenticator apps.
//!
//! `twofold seed --users N --bench-key KEY` names its users `<prefix>0 … <prefix>N-1` and
//! gives each an authenticator app whose secret is the first 20 bytes of
//! HMAC-SHA256(KEY, username) (TOTP, SHA-1, 6 digits, 30 s). The server accepts a time
//! step only after the last one it accepted for the device (20532 otherwise), exactly
//! like a phone that shows one code per 30 s, so each user signs in at most once per
//! step: users are taken in rotation, and a user is claimed for a step by one atomic
//! write before its authentication starts.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use hmac::{Hmac, KeyInit, Mac as _};
use twofold_factors::totp::{self, TotpParams};

/// The code parameters of an authenticator app (SHA-1, 6 digits, 30 s).
pub const APP_PARAMS: TotpParams = TotpParams {
    hotp: twofold_factors::hotp::HotpParams {
        algorithm: twofold_factors::hotp::Algorithm::Sha1,
        digits: twofold_factors::hotp::Digits::Six,
    },
    period: totp::Period::Secs30,
};

/// How many positions of the rotation a claim looks at before concluding that every
/// user has signed in during this step.
const CLAIM_PROBES: usize = 8;

/// The secret `twofold seed --bench-key` gives `username`'s authenticator app.
pub fn bench_secret(key: &str, username: &str) -> [u8; 20] {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(username.as_bytes());
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; 20];
    out.copy_from_slice(&full[..20]);
    out
}

/// The seeded users.
pub struct Users {
    names: Vec<String>,
    /// Authenticator-app secrets; empty when no bench key was given (admin scenarios).
    secrets: Vec<[u8; 20]>,
    /// Per user: 1 + the time step of its last claimed authentication, 0 for never.
    claimed: Vec<AtomicU64>,
    cursor: AtomicUsize,
}

impl Users {
    /// `count` users named `<prefix><n>`; with `bench_key`, their app secrets.
    pub fn new(prefix: &str, count: usize, bench_key: Option<&str>) -> Self {
        let names: Vec<String> = (0..count).map(|n| format!("{prefix}{n}")).collect();
        let secrets = match bench_key {
            Some(key) => names.iter().map(|name| bench_secret(key, name)).collect(),
            None => Vec::new(),
        };
        let claimed = (0..count).map(|_| AtomicU64::new(0)).collect();
        Self {
            names,
            secrets,
            claimed,
            cursor: AtomicUsize::new(0),
        }
    }

    /// How many users.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// The name of user `index`.
    pub fn name(&self, index: usize) -> &str {
        &self.names[index]
    }

    /// Claims the next user in rotation that has not signed in during `step`; None when
    /// (as far as the rotation tells) every user has.
    pub fn claim(&self, step: u64) -> Option<usize> {
        let n = self.names.len();
        if n == 0 || self.secrets.is_empty() {
            return None;
        }
        for _ in 0..CLAIM_PROBES.min(n) {
            let index = self.cursor.fetch_add(1, Ordering::Relaxed) % n;
            let slot = &self.claimed[index];
            let last = slot.load(Ordering::Acquire);
            if last <= step
                && slot
                    .compare_exchange(last, step + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                return Some(index);
            }
        }
        None
    }

    /// The code user `index`'s app shows during `step`.
    pub fn code(&self, index: usize, step: u64) -> String {
        totp::generate_at_step(&self.secrets[index], step, APP_PARAMS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_claimed_once_per_step() {
        let users = Users::new("user", 3, Some("k"));
        let mut got: Vec<usize> = (0..3).filter_map(|_| users.claim(100)).collect();
        got.sort_unstable();
        assert_eq!(got, vec![0, 1, 2]);
        assert_eq!(users.claim(100), None, "all three signed in during step 100");
        assert!(users.claim(101).is_some(), "a new step frees them");
        assert_eq!(
            Users::new("user", 3, None).claim(1),
            None,
            "no secrets, no authentication"
        );
    }

    #[test]
    fn secrets_match_the_seeding_rule() {
        // HMAC-SHA256("k", "user0"), first 20 bytes, computed independently.
        let expected = [
            0xce, 0x19, 0x74, 0xe2, 0xd6, 0x84, 0x64, 0x36, 0x62, 0x64, 0xb4, 0xdf, 0x15, 0x68, 0x67, 0x4a, 0x3b, 0x12,
            0x33, 0xab,
        ];
        assert_eq!(bench_secret("k", "user0"), expected);
        // Codes computed independently (Python hmac/struct, RFC 4226 truncation).
        let users = Users::new("user", 1, Some("k"));
        assert_eq!(users.code(0, 1), "713970");
        assert_eq!(users.code(0, 56_666_666), "613747");
    }
}
