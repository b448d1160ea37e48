//! Per-organization request rate (the catalog's 429 row). Each organization with a
//! `requests_per_second` setting gets a GCRA limiter (governor) on this node; the check
//! runs after the signature verified, so an unauthenticated flood cannot spend an
//! organization's budget. Limits are per node: N nodes allow N times the rate
//! (docs/configuration.md).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use twofold_core::ids::OrgId;

/// The limiters of the organizations seen by this node.
#[derive(Default)]
pub struct OrgLimits {
    limiters: Mutex<HashMap<OrgId, (u32, Arc<DefaultDirectRateLimiter>)>>,
    /// Failed activation-code claims on the device API.
    pub pairing: PairingGuard,
}

/// Failed pairing attempts allowed per second on this node.
pub const PAIRING_FAILURES_PER_SECOND: u32 = 20;
/// How long every pairing call is refused once failures exceed that rate.
pub const PAIRING_BLOCK: std::time::Duration = std::time::Duration::from_secs(1);

/// Slows down guessing activation codes on the (unauthenticated) pairing calls: wrong
/// codes beyond [`PAIRING_FAILURES_PER_SECOND`] close pairing on this node for
/// [`PAIRING_BLOCK`]. Right codes never count, so a mass roll-out is not throttled.
pub struct PairingGuard {
    failures: DefaultDirectRateLimiter,
    blocked_until: Mutex<Option<std::time::Instant>>,
}

impl Default for PairingGuard {
    fn default() -> Self {
        let rate = NonZeroU32::new(PAIRING_FAILURES_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        Self {
            failures: RateLimiter::direct(Quota::per_second(rate)),
            blocked_until: Mutex::new(None),
        }
    }
}

impl PairingGuard {
    /// Whether pairing calls are served now.
    pub fn open(&self) -> bool {
        let blocked = self
            .blocked_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        blocked.is_none_or(|until| std::time::Instant::now() >= until)
    }

    /// Counts a wrong code; too many close pairing for a moment.
    pub fn failed(&self) {
        if self.failures.check().is_err() {
            *self
                .blocked_until
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(std::time::Instant::now() + PAIRING_BLOCK);
        }
    }
}

impl OrgLimits {
    /// Whether one more request of `org` fits its rate (always true for 0 = unlimited).
    pub fn allow(&self, org: OrgId, per_second: u32) -> bool {
        let Some(rate) = NonZeroU32::new(per_second) else {
            return true;
        };
        let limiter = {
            let mut map = self.limiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let entry = map
                .entry(org)
                .or_insert_with(|| (per_second, Arc::new(RateLimiter::direct(Quota::per_second(rate)))));
            // The setting changed: start a fresh limiter with the new rate.
            if entry.0 != per_second {
                *entry = (per_second, Arc::new(RateLimiter::direct(Quota::per_second(rate))));
            }
            entry.1.clone()
        };
        limiter.check().is_ok()
    }
}
