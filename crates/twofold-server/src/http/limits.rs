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
