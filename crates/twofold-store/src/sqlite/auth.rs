//! Authentication sessions, lockout state, code sends and the audit trail on SQLite.
//! Every session change is a conditional `UPDATE … WHERE state = …`, so two requests (or
//! two nodes) can never both move a session.

use async_trait::async_trait;
use rusqlite::{Connection, Row, params};
use twofold_core::StoreError;
use twofold_core::device::DeviceId;
use twofold_core::ids::{OrgId, UserId};
use twofold_core::model::User;
use twofold_core::store::{
    Approval, ApprovalOutcome, ApprovalState, AttemptOutcome, AuditEvent, AuthGuard, AuthSession, AuthStore,
    FailureOutcome, WrongCode, WrongCodeOutcome, failure_outcome,
};

use super::SqliteStore;
use super::db::{Db, Sql};
use super::devices::count_sms;
use super::tokens::swap;
use super::users::{USER_COLUMN_COUNT, USER_COLUMNS, user};

/// The users columns of [`AuthGuard`].
const GUARD_COLUMNS: &str = "failed_attempts, locked_until_ms, admin_locked, otp_blocked";

/// The guard columns of a row whose `GUARD_COLUMNS` start at column `at` (read by
/// position: see `users::USER_COLUMNS`).
fn guard(row: &Row<'_>, at: usize) -> Sql<AuthGuard> {
    let failed: i64 = row.get(at)?;
    Ok(AuthGuard {
        failed_attempts: u32::try_from(failed).unwrap_or(u32::MAX),
        locked_until_ms: row.get(at + 1)?,
        admin_locked: row.get(at + 2)?,
        otp_blocked: row.get(at + 3)?,
    })
}

fn session(row: &Row<'_>) -> Sql<AuthSession> {
    let device: Option<i64> = row.get("device_id")?;
    let attempts: i64 = row.get("attempts")?;
    Ok(AuthSession {
        id: row.get("id")?,
        org_id: OrgId(row.get("org_id")?),
        user_id: UserId(row.get("user_id")?),
        device_id: device.map(DeviceId),
        kind: row.get("kind")?,
        sp_alias: row.get("sp_alias")?,
        state: row.get("state")?,
        code_hash: row.get("code_hash")?,
        backup_channel: row.get("backup_channel")?,
        backup_target: row.get("backup_target")?,
        resync_counter: row.get("resync_counter")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        challenge_expires_ms: row.get("challenge_expires_ms")?,
        expires_ms: row.get("expires_ms")?,
        created_ms: row.get("created_ms")?,
    })
}

#[async_trait]
impl AuthStore for SqliteStore {
    async fn create_auth_session(&self, s: &AuthSession) -> Result<(), StoreError> {
        self.db().write(|c| insert_session(c, s)).await
    }

    async fn create_auth_session_audited(&self, s: &AuthSession, audit: &AuditEvent) -> Result<(), StoreError> {
        self.db()
            .write(|c| {
                insert_session(c, s)?;
                append_audit_alone(c, audit)
            })
            .await
    }

    async fn auth_session(&self, id: &str) -> Result<Option<AuthSession>, StoreError> {
        self.db()
            .read(|c| c.one("SELECT * FROM auth_sessions WHERE id = ?1", [id], session))
    }

    async fn set_challenge(
        &self,
        id: &str,
        device: Option<DeviceId>,
        code_hash: Option<Vec<u8>>,
        challenge_expires_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        let changed = self
            .db()
            .write(|c| {
                c.run(
                    "UPDATE auth_sessions SET state = 'challenge', device_id = ?2, code_hash = ?3, \
                     challenge_expires_ms = ?4, resync_counter = NULL WHERE id = ?1 AND state IN ('selecting', 'challenge')",
                    params![id, device.map(|d| d.0), code_hash, challenge_expires_ms],
                )
            })
            .await?;
        Ok(changed == 1)
    }

    async fn transition_session(&self, id: &str, from: &str, to: &str) -> Result<bool, StoreError> {
        self.db().write(|c| transition(c, id, from, to)).await
    }

    async fn set_session_resync(&self, id: &str, counter: i64) -> Result<bool, StoreError> {
        let changed = self
            .db()
            .write(|c| {
                c.run(
                    "UPDATE auth_sessions SET resync_counter = ?2, state = 'challenge' WHERE id = ?1 AND state = 'processing'",
                    params![id, counter],
                )
            })
            .await?;
        Ok(changed == 1)
    }

    async fn sweep_sessions(&self, expired_before_ms: i64, limit: u32) -> Result<u64, StoreError> {
        // Both statements pick the same sessions: they run in one write, and a session
        // that has expired stays expired.
        const PICK: &str = "SELECT id FROM auth_sessions WHERE expires_ms < ?1 ORDER BY expires_ms LIMIT ?2";
        let deleted = self
            .db()
            .write(|c| {
                c.run(
                    &format!("DELETE FROM pushes WHERE session_id IN ({PICK})"),
                    params![expired_before_ms, limit],
                )?;
                c.run(
                    &format!("DELETE FROM auth_sessions WHERE id IN ({PICK})"),
                    params![expired_before_ms, limit],
                )
            })
            .await?;
        Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
    }

    async fn auth_guard(&self, user: UserId) -> Result<AuthGuard, StoreError> {
        let guard = self.db().read(|c| {
            c.one(
                &format!("SELECT {GUARD_COLUMNS} FROM users WHERE id = ?1"),
                [user.0],
                |row| guard(row, 0),
            )
        })?;
        Ok(guard.unwrap_or_default())
    }

    async fn user_and_guard(&self, org: OrgId, fold: &str) -> Result<Option<(User, AuthGuard)>, StoreError> {
        // One statement on the one row: both come from the same snapshot.
        self.db().read(|c| {
            c.one(
                &format!("SELECT {USER_COLUMNS}, {GUARD_COLUMNS} FROM users WHERE org_id = ?1 AND username_fold = ?2"),
                params![org.0, fold],
                |row| Ok((user(row)?, guard(row, USER_COLUMN_COUNT)?)),
            )
        })
    }

    async fn record_failure(
        &self,
        user: UserId,
        threshold: u32,
        now_ms: i64,
        lock_until_ms: i64,
    ) -> Result<FailureOutcome, StoreError> {
        let failed = self
            .db()
            .write(|c| failure(c, user, threshold, now_ms, lock_until_ms))
            .await?;
        Ok(failure_outcome(failed))
    }

    async fn record_success(
        &self,
        user: UserId,
        device: Option<DeviceId>,
        now_ms: i64,
        reset_failures: bool,
    ) -> Result<(), StoreError> {
        self.db()
            .write(|c| success(c, user, device, now_ms, reset_failures))
            .await
    }

    async fn approve_session(&self, a: &Approval<'_>) -> Result<ApprovalOutcome, StoreError> {
        // One write: a failure of any statement undoes the write's savepoint, so the code
        // is never spent without the session being approved and the success recorded.
        // Writes run one at a time, so the state read here holds until the update.
        let from = if a.claimed { "processing" } else { "challenge" };
        self.db()
            .write(|c| {
                // The session as the checks saw it (state, attempts, device still paired,
                // code), no failure of the user since and nothing that stops a new request
                // (lockout, administrator's lock, OTP block, suspension): otherwise a
                // concurrent call moved, failed, re-challenged or cancelled it first, or an
                // operator acted, and this approval changes nothing.
                let current = c.one(
                    "SELECT s.state, s.attempts, s.device_id, s.code_hash, u.failed_attempts, u.locked_until_ms, \
                     u.admin_locked, u.otp_blocked, u.status, \
                     s.device_id IS NULL OR EXISTS (SELECT 1 FROM devices d WHERE d.id = s.device_id AND d.user_id = s.user_id) \
                     FROM auth_sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?1",
                    [a.session_id],
                    |r| {
                        Ok(ApprovalState {
                            state: r.get(0)?,
                            attempts: r.get(1)?,
                            device_id: r.get(2)?,
                            code_hash: r.get(3)?,
                            failed_attempts: r.get(4)?,
                            locked_until_ms: r.get(5)?,
                            admin_locked: r.get(6)?,
                            otp_blocked: r.get(7)?,
                            status: r.get(8)?,
                            device_paired: r.get(9)?,
                        })
                    },
                )?;
                let unchanged = current.is_some_and(|now| a.still_holds(&now));
                if !unchanged {
                    return Ok(ApprovalOutcome::SessionMoved);
                }
                if let Some((device, expected, new)) = a.counter
                    && !swap(c, device, expected, new)?
                {
                    return Ok(ApprovalOutcome::CodeSpent);
                }
                transition(c, a.session_id, from, "approved")?;
                success(c, a.user, a.device, a.now_ms, true)?;
                if let Some(day) = a.sms_day {
                    count_sms(c, a.user, day, 0, 1)?;
                }
                if let Some(event) = a.audit {
                    append_audit_alone(c, event)?;
                }
                Ok(ApprovalOutcome::Approved)
            })
            .await
    }

    async fn record_wrong_code(&self, w: &WrongCode<'_>) -> Result<WrongCodeOutcome, StoreError> {
        // One write: the lock check, the session's attempt and the user's failure together
        // (writes run one at a time, so what is read here holds until the updates).
        self.db()
            .write(|c| {
                let locked_until: Option<Option<i64>> =
                    c.one("SELECT locked_until_ms FROM users WHERE id = ?1", [w.user.0], |r| {
                        Ok(r.get(0)?)
                    })?;
                if locked_until.is_none_or(|until| until.is_some_and(|until| until > w.now_ms)) {
                    return Ok(WrongCodeOutcome::UserLocked);
                }
                let Some(attempt) = attempt(c, w.session_id, w.max_attempts, w.from)? else {
                    return Ok(WrongCodeOutcome::SessionGone);
                };
                let failed = failure(c, w.user, w.threshold, w.now_ms, w.lock_until_ms)?;
                Ok(WrongCodeOutcome::Counted {
                    attempt,
                    failure: failure_outcome(failed),
                })
            })
            .await
    }

    async fn set_user_flags(
        &self,
        user: UserId,
        admin_locked: Option<bool>,
        otp_blocked: Option<bool>,
    ) -> Result<(), StoreError> {
        self.db()
            .write(|c| {
                c.run(
                    "UPDATE users SET admin_locked = COALESCE(?2, admin_locked), otp_blocked = COALESCE(?3, otp_blocked), \
                     locked_until_ms = CASE WHEN ?2 IS 0 THEN NULL ELSE locked_until_ms END, \
                     failed_attempts = CASE WHEN ?2 IS 0 THEN 0 ELSE failed_attempts END WHERE id = ?1",
                    params![user.0, admin_locked, otp_blocked],
                )?;
                Ok(())
            })
            .await
    }

    async fn reserve_send(
        &self,
        org: OrgId,
        target: &str,
        since_ms: i64,
        limit: u32,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.db()
            .write(|c| {
                let tx = c.savepoint()?;
                tx.run("DELETE FROM code_sends WHERE created_ms < ?1", [now_ms - 86_400_000])?;
                let n: i64 = tx
                    .one(
                        "SELECT COUNT(*) FROM code_sends WHERE org_id = ?1 AND target = ?2 AND created_ms > ?3",
                        params![org.0, target, since_ms],
                        |r| Ok(r.get(0)?),
                    )?
                    .unwrap_or(0);
                if n >= i64::from(limit) {
                    return Ok(false);
                }
                tx.run(
                    "INSERT INTO code_sends (org_id, target, created_ms) VALUES (?1, ?2, ?3)",
                    params![org.0, target, now_ms],
                )?;
                tx.commit()?;
                Ok(true)
            })
            .await
    }

    async fn append_audit(&self, e: &AuditEvent) -> Result<(), StoreError> {
        self.db().write(|c| insert_audit(c, e)).await
    }

    async fn recent_audit(&self, user: UserId, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        self.db().read(|c| {
            c.all(
                "SELECT * FROM audit WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2",
                params![user.0, i64::from(limit)],
                |r| {
                    let user: Option<i64> = r.get("user_id")?;
                    let device: Option<i64> = r.get("device_id")?;
                    let error_id: i64 = r.get("error_id")?;
                    Ok(AuditEvent {
                        org_id: OrgId(r.get("org_id")?),
                        user_id: user.map(UserId),
                        username: r.get("username")?,
                        device_id: device.map(DeviceId),
                        op: r.get("op")?,
                        error_id: u32::try_from(error_id).unwrap_or(0),
                        source_ip: r.get("source_ip")?,
                        created_ms: r.get("created_ms")?,
                    })
                },
            )
        })
    }
}

/// Moves a session from `from` to `to`; false when it was not in `from`.
fn transition(c: &Connection, id: &str, from: &str, to: &str) -> Sql<bool> {
    let changed = c.run(
        "UPDATE auth_sessions SET state = ?3 WHERE id = ?1 AND state = ?2",
        params![id, from, to],
    )?;
    Ok(changed == 1)
}

/// A success: the failure count reset (when asked), lastLogin and the device's last use
/// set. Both statements or neither: a failure undoes the caller's savepoint.
fn success(c: &Connection, user: UserId, device: Option<DeviceId>, now_ms: i64, reset_failures: bool) -> Sql<()> {
    c.run(
        "UPDATE users SET failed_attempts = CASE WHEN ?3 THEN 0 ELSE failed_attempts END, last_login_ms = ?2 \
         WHERE id = ?1",
        params![user.0, now_ms, reset_failures],
    )?;
    if let Some(d) = device {
        c.run(
            "UPDATE devices SET last_used_ms = ?2 WHERE id = ?1",
            params![d.0, now_ms],
        )?;
    }
    Ok(())
}

/// Appends one audit record.
fn insert_audit(c: &Connection, e: &AuditEvent) -> Sql<()> {
    c.run(
        "INSERT INTO audit (org_id, user_id, username, device_id, op, error_id, source_ip, created_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            e.org_id.0,
            e.user_id.map(|u| u.0),
            e.username,
            e.device_id.map(|d| d.0),
            e.op,
            i64::from(e.error_id),
            e.source_ip,
            e.created_ms,
        ],
    )?;
    Ok(())
}

/// One more attempt on a session still in `from` (`failed` at `max_attempts`); `None`
/// when it was not in `from`.
fn attempt(c: &Connection, id: &str, max_attempts: u32, from: &str) -> Sql<Option<AttemptOutcome>> {
    let attempts: Option<i64> = c.one(
        "UPDATE auth_sessions SET attempts = attempts + 1, \
         state = CASE WHEN attempts + 1 >= ?2 THEN 'failed' ELSE 'challenge' END \
         WHERE id = ?1 AND state = ?3 RETURNING attempts",
        params![id, i64::from(max_attempts), from],
        |r| Ok(r.get(0)?),
    )?;
    Ok(attempts.map(|n| {
        if n >= i64::from(max_attempts) {
            AttemptOutcome::Exhausted
        } else {
            AttemptOutcome::Remaining
        }
    }))
}

/// One more consecutive failure of a user not locked at `now_ms` (locked until
/// `lock_until_ms` at `threshold`, the count restarting); the count after it, `None` when
/// the user was locked or is gone.
fn failure(c: &Connection, user: UserId, threshold: u32, now_ms: i64, lock_until_ms: i64) -> Sql<Option<i64>> {
    c.one(
        "UPDATE users SET failed_attempts = CASE WHEN failed_attempts + 1 >= ?2 THEN 0 ELSE failed_attempts + 1 END, \
         locked_until_ms = CASE WHEN failed_attempts + 1 >= ?2 THEN ?3 ELSE locked_until_ms END \
         WHERE id = ?1 AND (locked_until_ms IS NULL OR locked_until_ms <= ?4) RETURNING failed_attempts",
        params![user.0, i64::from(threshold), lock_until_ms, now_ms],
        |r| Ok(r.get(0)?),
    )
}

/// Appends an audit record inside the caller's write, in a savepoint of its own: a failed
/// append is logged and undoes only itself, never the change it records.
fn append_audit_alone(c: &mut Connection, event: &AuditEvent) -> Sql<()> {
    let audit = c.savepoint()?;
    match insert_audit(&audit, event) {
        Ok(()) => audit.commit()?,
        Err(e) => tracing::error!(error = %StoreError::from(e), op = %event.op, "audit append failed"),
    }
    Ok(())
}

/// Inserts a new authentication session.
fn insert_session(c: &Connection, s: &AuthSession) -> Sql<()> {
    c.run(
        "INSERT INTO auth_sessions (id, org_id, user_id, device_id, kind, sp_alias, state, code_hash, \
         backup_channel, backup_target, resync_counter, attempts, challenge_expires_ms, expires_ms, \
         created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            s.id,
            s.org_id.0,
            s.user_id.0,
            s.device_id.map(|d| d.0),
            s.kind,
            s.sp_alias,
            s.state,
            s.code_hash,
            s.backup_channel,
            s.backup_target,
            s.resync_counter,
            i64::from(s.attempts),
            s.challenge_expires_ms,
            s.expires_ms,
            s.created_ms,
        ],
    )?;
    Ok(())
}
