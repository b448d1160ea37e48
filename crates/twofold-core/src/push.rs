//! Pushes to the companion app: the stored push, the app device's public key and facts,
//! and the wake-up port that lets held requests sleep without a thread.
//!
//! A push is decided by exactly one conditional write (`pending|delivered → approved`,
//! `→ denied`, `→ expired`, ...), so two nodes can never both decide it. Waiters do not
//! trust the wake-up alone: they re-read the store at least every
//! [`STORE_RECHECK`], which makes the answer right across nodes and restarts even when
//! no signal crosses between them.

use std::time::Duration;

use async_trait::async_trait;

use crate::device::{DeviceId, DeviceType};
use crate::ids::{OrgId, UserId};

/// The longest a waiter sleeps before reading the store again.
pub const STORE_RECHECK: Duration = Duration::from_millis(200);

/// Wakes waiters: held `authonline` requests (key [`session_key`]) and device long-polls
/// (key [`device_key`]). Implemented by the server with tokio; a cluster may back it with
/// the database's notifications. Missing a wake-up only delays a waiter by
/// [`STORE_RECHECK`].
#[async_trait]
pub trait PushSignals: Send + Sync {
    /// Wakes whoever waits on `key` (now or within the recheck interval).
    fn notify(&self, key: &str);
    /// Returns when `key` is notified or after `max`, whichever comes first.
    async fn wait(&self, key: &str, max: Duration);
}

/// The signal key of an authentication session's push.
#[must_use]
pub fn session_key(session_id: &str) -> String {
    format!("session:{session_id}")
}

/// The signal key of a device's push list.
#[must_use]
pub fn device_key(device: DeviceId) -> String {
    format!("device:{}", device.0)
}

/// What the companion app reports about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppFacts {
    /// Model.
    pub model: Option<String>,
    /// OS and version.
    pub os_version: Option<String>,
    /// App version.
    pub app_version: Option<String>,
    /// Whether the app accepts pushes.
    pub push_enabled: bool,
}

/// A paired companion app: its device row's key and facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppDevice {
    /// The device.
    pub device_id: DeviceId,
    /// Organization.
    pub org_id: OrgId,
    /// Owner.
    pub user_id: UserId,
    /// `Android`, `iPhone` or `Desktop`.
    pub platform: DeviceType,
    /// The Ed25519 public key (32 bytes) that signs the app's calls; public, so stored
    /// as is.
    pub public_key: Vec<u8>,
    /// Model, OS, app version, push switch.
    pub facts: AppFacts,
    /// When the app last called, epoch ms.
    pub last_seen_ms: Option<i64>,
    /// Until when its current long-poll is held, epoch ms.
    pub poll_until_ms: Option<i64>,
}

impl AppDevice {
    /// Whether the app is listening at `now`: it called within the reachability window
    /// or holds a long-poll.
    #[must_use]
    pub fn reachable(&self, now_ms: i64, window_ms: i64) -> bool {
        let last = self
            .last_seen_ms
            .unwrap_or(i64::MIN / 2)
            .max(self.poll_until_ms.unwrap_or(i64::MIN / 2));
        now_ms <= last.saturating_add(window_ms)
    }
}

/// Where a push stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushState {
    /// Sent; the app has not picked it up yet.
    Pending,
    /// The app picked it up (acknowledged); waiting for the user.
    Delivered,
    /// The user approved (with the right number).
    Approved,
    /// The user denied (20516).
    Denied,
    /// The user picked the wrong number (20585).
    WrongNumber,
    /// Delivered but not answered before the push timeout (20522).
    Expired,
    /// An asynchronous push never picked up before the push timeout (20538).
    Unacknowledged,
    /// A synchronous push not picked up within the reachability window (20521).
    Unreachable,
    /// The sign-in was cancelled (20561).
    Cancelled,
}

impl PushState {
    /// Every state.
    pub const ALL: [PushState; 9] = [
        PushState::Pending,
        PushState::Delivered,
        PushState::Approved,
        PushState::Denied,
        PushState::WrongNumber,
        PushState::Expired,
        PushState::Unacknowledged,
        PushState::Unreachable,
        PushState::Cancelled,
    ];

    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            PushState::Pending => "pending",
            PushState::Delivered => "delivered",
            PushState::Approved => "approved",
            PushState::Denied => "denied",
            PushState::WrongNumber => "wrong_number",
            PushState::Expired => "expired",
            PushState::Unacknowledged => "unacknowledged",
            PushState::Unreachable => "unreachable",
            PushState::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether the push still waits for the app or the user.
    #[must_use]
    pub const fn is_open(self) -> bool {
        matches!(self, PushState::Pending | PushState::Delivered)
    }
}

/// A push as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// `push_…`, the id the app answers with.
    pub id: String,
    /// The authentication session it belongs to.
    pub session_id: String,
    /// Organization.
    pub org_id: OrgId,
    /// The user signing in.
    pub user_id: UserId,
    /// The device it goes to.
    pub device_id: DeviceId,
    /// State.
    pub state: PushState,
    /// Number matching: the number the sign-in page shows.
    pub number: Option<u32>,
    /// Number matching: the numbers the app offers (the right one among them).
    pub choices: Vec<u32>,
    /// `formParameters.sp_name`.
    pub sp_name: Option<String>,
    /// `formParameters.sp_logo`.
    pub sp_logo: Option<String>,
    /// Started by an asynchronous startauthentication (polled with authstatus).
    pub is_async: bool,
    /// Sent at, epoch ms.
    pub created_ms: i64,
    /// The app must pick it up by then (sync pushes; else unreachable).
    pub ack_deadline_ms: i64,
    /// The user must answer by then.
    pub expires_ms: i64,
    /// Changed state at, epoch ms.
    pub updated_ms: i64,
}

/// The result of storing a new push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatePush {
    /// Stored.
    Created,
    /// The device already has an open push (20523).
    Busy,
    /// The device reached its pushes per 10 minutes (20548).
    RateLimited,
}

/// The result of pairing a companion app.
#[derive(Debug)]
pub enum AppPairOutcome {
    /// Paired; the user is ACTIVE and the code reads PAIRED.
    Paired(Box<crate::device::Device>),
    /// The activation code is not (or no longer) VERIFIED.
    CodeGone,
    /// The user already has `max_devices` devices.
    TooManyDevices,
    /// The user is SUSPENDED or gone.
    UserNotPairable,
    /// The key is already paired to another user and the organization forbids it (20544).
    KeyInUse,
    /// The device id collided; retry.
    Conflict,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_states_round_trip() {
        for s in PushState::ALL {
            assert_eq!(PushState::parse(s.as_str()), Some(s));
        }
        assert_eq!(PushState::parse("other"), None);
    }

    #[test]
    fn reachability_counts_from_the_last_contact_or_the_held_poll() {
        let mut d = AppDevice {
            device_id: DeviceId(1),
            org_id: OrgId(1),
            user_id: UserId(1),
            platform: DeviceType::Android,
            public_key: vec![0; 32],
            facts: AppFacts::default(),
            last_seen_ms: None,
            poll_until_ms: None,
        };
        assert!(!d.reachable(1_000, 10_000));
        d.last_seen_ms = Some(1_000);
        assert!(d.reachable(11_000, 10_000));
        assert!(!d.reachable(11_001, 10_000));
        d.poll_until_ms = Some(30_000);
        assert!(d.reachable(40_000, 10_000));
    }
}
