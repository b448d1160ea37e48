//! The values of an authoffline's two writes, [`super::AuthStore::approve_session`] and
//! [`super::AuthStore::record_wrong_code`], and the one rule every engine applies to decide
//! whether an approval still holds ([`Approval::still_holds`]).

use super::{AttemptOutcome, AuditEvent};
use crate::device::DeviceId;
use crate::ids::UserId;

/// What approving a session changes: see [`super::AuthStore::approve_session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval<'a> {
    /// The session.
    pub session_id: &'a str,
    /// The caller claimed the session (`challenge → processing`) before checking the code.
    /// False when the check needed no outside call: the session is still in `challenge`
    /// and the approval moves it only if it is still there, so the claim and the approval
    /// are one write.
    pub claimed: bool,
    /// The session's `attempts` as the checks read it. With [`Approval::failures_read`] it
    /// makes the approval refuse (nothing changed, [`ApprovalOutcome::SessionMoved`]) when
    /// a wrong code was recorded since: of concurrent guesses on one session only the first
    /// one written counts, so concurrency buys no guesses beyond the attempts allowed.
    pub attempts_read: u32,
    /// The user's consecutive failures as the checks read them (their guard); more
    /// failures recorded meanwhile in any session of the user, a lockout, an
    /// administrator's lock, an OTP block or a suspension refuse the approval (a success
    /// elsewhere, which resets the count, does not): what stops a new request stops one
    /// in flight.
    pub failures_read: u32,
    /// Its user: failures reset, lastLogin set.
    pub user: UserId,
    /// The device used (its last use is set), if the session had one; the session must
    /// still name it (a new startauthentication on the session may have moved it on), and
    /// the user must still have it (it may have been unpaired during the check).
    pub device: Option<DeviceId>,
    /// The hash of the code sent for the session (SMS, voice, email) as the check read it;
    /// the session must still hold it: a resend replaces the code, and a code checked
    /// against the one it replaced must not approve.
    pub code_hash_read: Option<&'a [u8]>,
    /// The device's code counter to move, `(device, expected, new)`: this spends the code.
    pub counter: Option<(DeviceId, Option<i64>, i64)>,
    /// A phone code was used: one more claimed send on this day.
    pub sms_day: Option<i64>,
    /// Now.
    pub now_ms: i64,
    /// The success's audit record, appended with the approval. Its failure is logged and
    /// never undoes the approval (an audit failure never changes an answer).
    pub audit: Option<&'a AuditEvent>,
}

/// The session and its user as an engine reads them inside its approval's transaction,
/// for [`Approval::still_holds`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalState {
    /// The session's state.
    pub state: String,
    /// The session's attempts.
    pub attempts: i64,
    /// The session's device.
    pub device_id: Option<i64>,
    /// The session's code hash.
    pub code_hash: Option<Vec<u8>>,
    /// The session has no device, or its user still has it.
    pub device_paired: bool,
    /// The user's consecutive failures.
    pub failed_attempts: i64,
    /// The user's lockout end.
    pub locked_until_ms: Option<i64>,
    /// The administrator's lock.
    pub admin_locked: bool,
    /// The OTP block.
    pub otp_blocked: bool,
    /// The user's stored status (`SUSPENDED`, …).
    pub status: String,
}

impl Approval<'_> {
    /// Whether the approval may go through: the session is as the check read it (state,
    /// attempts, device still paired, code) and nothing stops the user that would stop a
    /// new request (a new failure, a lockout, an administrator's lock, an OTP block, a
    /// suspension). One rule for every engine.
    #[must_use]
    pub fn still_holds(&self, now: &ApprovalState) -> bool {
        let from = if self.claimed { "processing" } else { "challenge" };
        let session_unchanged = now.state == from
            && now.attempts == i64::from(self.attempts_read)
            && now.device_id == self.device.map(|d| d.0)
            && now.code_hash.as_deref() == self.code_hash_read
            && now.device_paired;
        let user_standing = now.failed_attempts <= i64::from(self.failures_read)
            && now.locked_until_ms.is_none_or(|until| until <= self.now_ms)
            && !now.admin_locked
            && !now.otp_blocked
            && now.status != "SUSPENDED";
        session_unchanged && user_standing
    }
}

/// A wrong code to record ([`super::AuthStore::record_wrong_code`]).
#[derive(Debug, Clone, Copy)]
pub struct WrongCode<'a> {
    /// The session.
    pub session_id: &'a str,
    /// The state the session must still be in: `challenge`, or `processing` when the
    /// caller claimed it.
    pub from: &'a str,
    /// The session's allowed attempts.
    pub max_attempts: u32,
    /// Its user.
    pub user: UserId,
    /// Consecutive failures that lock the user.
    pub threshold: u32,
    /// Now: a lock until a later time stops the write.
    pub now_ms: i64,
    /// The end of the lock this failure may start.
    pub lock_until_ms: i64,
}

/// What recording a wrong code did ([`super::AuthStore::record_wrong_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrongCodeOutcome {
    /// Counted on the session and the user; `attempt` says whether the session has attempts
    /// left, `failure` whether this failure locked the user.
    Counted {
        /// The session's attempts after this one.
        attempt: AttemptOutcome,
        /// The user's failure count after this one.
        failure: FailureOutcome,
    },
    /// The user was locked: nothing recorded.
    UserLocked,
    /// The session had left `from`: nothing recorded.
    SessionGone,
}

/// What a failed factor attempt did ([`super::AuthStore::record_failure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// One more consecutive failure, below the threshold.
    Counted,
    /// This failure reached the threshold: the user is locked from now on.
    LockedNow,
    /// The user was already locked (or no longer exists): nothing counted.
    AlreadyLocked,
}

/// A [`FailureOutcome`] from the count an engine's conditional update returned: `None`
/// when it updated no row (the user locked, or gone), 0 when the count restarted at a new
/// lock.
#[must_use]
pub fn failure_outcome(count_after: Option<i64>) -> FailureOutcome {
    match count_after {
        None => FailureOutcome::AlreadyLocked,
        Some(0) => FailureOutcome::LockedNow,
        Some(_) => FailureOutcome::Counted,
    }
}

/// How an approval ended ([`super::AuthStore::approve_session`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalOutcome {
    /// Code spent, session approved, success recorded.
    Approved,
    /// The counter had moved: another request spent the code first. Nothing changed.
    CodeSpent,
    /// An unclaimed session was no longer in `challenge` (a concurrent request claimed,
    /// approved or cancelled it). Nothing changed.
    SessionMoved,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approval() -> Approval<'static> {
        Approval {
            session_id: "webs_x",
            claimed: false,
            attempts_read: 1,
            failures_read: 2,
            user: UserId(7),
            device: Some(DeviceId(9)),
            code_hash_read: Some(&[1, 2, 3]),
            counter: None,
            sms_day: None,
            now_ms: 1_000,
            audit: None,
        }
    }

    fn as_read() -> ApprovalState {
        ApprovalState {
            state: "challenge".into(),
            attempts: 1,
            device_id: Some(9),
            code_hash: Some(vec![1, 2, 3]),
            device_paired: true,
            failed_attempts: 2,
            locked_until_ms: None,
            admin_locked: false,
            otp_blocked: false,
            status: "ACTIVE".into(),
        }
    }

    #[test]
    fn holds_as_read_and_stops_on_each_change() {
        let a = approval();
        assert!(a.still_holds(&as_read()));
        // A success elsewhere (fewer failures) and a lock that has ended do not stop it.
        assert!(a.still_holds(&ApprovalState {
            failed_attempts: 0,
            locked_until_ms: Some(1_000),
            ..as_read()
        }));
        let stops: [(&str, ApprovalState); 11] = [
            (
                "claimed by another",
                ApprovalState {
                    state: "processing".into(),
                    ..as_read()
                },
            ),
            (
                "approved",
                ApprovalState {
                    state: "approved".into(),
                    ..as_read()
                },
            ),
            (
                "a wrong code on it",
                ApprovalState {
                    attempts: 2,
                    ..as_read()
                },
            ),
            (
                "another device",
                ApprovalState {
                    device_id: Some(8),
                    ..as_read()
                },
            ),
            (
                "a resend",
                ApprovalState {
                    code_hash: Some(vec![4]),
                    ..as_read()
                },
            ),
            (
                "device unpaired",
                ApprovalState {
                    device_paired: false,
                    ..as_read()
                },
            ),
            (
                "a failure elsewhere",
                ApprovalState {
                    failed_attempts: 3,
                    ..as_read()
                },
            ),
            (
                "locked out",
                ApprovalState {
                    locked_until_ms: Some(1_001),
                    ..as_read()
                },
            ),
            (
                "admin lock",
                ApprovalState {
                    admin_locked: true,
                    ..as_read()
                },
            ),
            (
                "OTP block",
                ApprovalState {
                    otp_blocked: true,
                    ..as_read()
                },
            ),
            (
                "suspended",
                ApprovalState {
                    status: "SUSPENDED".into(),
                    ..as_read()
                },
            ),
        ];
        for (what, now) in stops {
            assert!(!a.still_holds(&now), "{what} must stop the approval");
        }
        // A claimed session is expected in `processing`.
        let claimed = Approval {
            claimed: true,
            ..approval()
        };
        assert!(claimed.still_holds(&ApprovalState {
            state: "processing".into(),
            ..as_read()
        }));
        assert!(!claimed.still_holds(&as_read()));
    }

    #[test]
    fn failure_outcome_reads_the_count_after() {
        assert_eq!(failure_outcome(None), FailureOutcome::AlreadyLocked);
        assert_eq!(failure_outcome(Some(0)), FailureOutcome::LockedNow);
        assert_eq!(failure_outcome(Some(4)), FailureOutcome::Counted);
    }
}
