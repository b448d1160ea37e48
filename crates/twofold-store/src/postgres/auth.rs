//! Authentication sessions, lockout state, code sends and the audit trail on PostgreSQL.
//! Every session change is a conditional `UPDATE … WHERE state = …`, so two requests (or
//! two nodes) can never both move a session.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use twofold_core::StoreError;
use twofold_core::device::DeviceId;
use twofold_core::ids::{OrgId, UserId};
use twofold_core::store::{
    Approval, ApprovalOutcome, AuditEvent, AuthGuard, AuthSession, AuthStore, FailureOutcome, WrongCode,
    WrongCodeOutcome, failure_outcome,
};

use super::{PostgresStore, Tx, get, store_err};

fn session(row: &PgRow) -> Result<AuthSession, StoreError> {
    let device: Option<i64> = get(row, "device_id")?;
    let attempts: i64 = get(row, "attempts")?;
    Ok(AuthSession {
        id: get(row, "id")?,
        org_id: OrgId(get(row, "org_id")?),
        user_id: UserId(get(row, "user_id")?),
        device_id: device.map(DeviceId),
        kind: get(row, "kind")?,
        sp_alias: get(row, "sp_alias")?,
        state: get(row, "state")?,
        code_hash: get(row, "code_hash")?,
        backup_channel: get(row, "backup_channel")?,
        backup_target: get(row, "backup_target")?,
        resync_counter: get(row, "resync_counter")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        challenge_expires_ms: get(row, "challenge_expires_ms")?,
        expires_ms: get(row, "expires_ms")?,
        created_ms: get(row, "created_ms")?,
    })
}

#[async_trait]
impl AuthStore for PostgresStore {
    async fn create_auth_session(&self, s: &AuthSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO auth_sessions (id, org_id, user_id, device_id, kind, sp_alias, state, code_hash, backup_channel, \
             backup_target, resync_counter, attempts, challenge_expires_ms, expires_ms, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&s.id)
        .bind(s.org_id.0)
        .bind(s.user_id.0)
        .bind(s.device_id.map(|d| d.0))
        .bind(&s.kind)
        .bind(&s.sp_alias)
        .bind(&s.state)
        .bind(&s.code_hash)
        .bind(&s.backup_channel)
        .bind(&s.backup_target)
        .bind(s.resync_counter)
        .bind(i64::from(s.attempts))
        .bind(s.challenge_expires_ms)
        .bind(s.expires_ms)
        .bind(s.created_ms)
        .execute(self.pool())
        .await
        .map_err(store_err)?;
        Ok(())
    }

    async fn auth_session(&self, id: &str) -> Result<Option<AuthSession>, StoreError> {
        sqlx::query("SELECT * FROM auth_sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(store_err)?
            .as_ref()
            .map(session)
            .transpose()
    }

    async fn set_challenge(
        &self,
        id: &str,
        device: Option<DeviceId>,
        code_hash: Option<Vec<u8>>,
        challenge_expires_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE auth_sessions SET state = 'challenge', device_id = $2, code_hash = $3, challenge_expires_ms = $4, \
             resync_counter = NULL WHERE id = $1 AND state IN ('selecting', 'challenge')",
        )
        .bind(id)
        .bind(device.map(|d| d.0))
        .bind(code_hash)
        .bind(challenge_expires_ms)
        .execute(self.pool())
        .await
        .map_err(store_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn transition_session(&self, id: &str, from: &str, to: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE auth_sessions SET state = $3 WHERE id = $1 AND state = $2")
            .bind(id)
            .bind(from)
            .bind(to)
            .execute(self.pool())
            .await
            .map_err(store_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn approve_session(&self, approval: &Approval<'_>) -> Result<ApprovalOutcome, StoreError> {
        super::approval::approve(self, approval).await
    }

    async fn record_wrong_code(&self, wrong: &WrongCode<'_>) -> Result<WrongCodeOutcome, StoreError> {
        super::approval::wrong_code(self, wrong).await
    }

    async fn set_session_resync(&self, id: &str, counter: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE auth_sessions SET resync_counter = $2, state = 'challenge' WHERE id = $1 AND state = 'processing'",
        )
        .bind(id)
        .bind(counter)
        .execute(self.pool())
        .await
        .map_err(store_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn sweep_sessions(&self, expired_before_ms: i64, limit: u32) -> Result<u64, StoreError> {
        // One statement: PostgreSQL runs every data-modifying part of a WITH to completion,
        // so the pushes go with exactly the sessions deleted. Two nodes sweeping at once
        // pick the same rows; the second finds them gone and deletes nothing.
        let deleted: i64 = sqlx::query_scalar(
            "WITH gone AS (DELETE FROM auth_sessions WHERE id IN \
               (SELECT id FROM auth_sessions WHERE expires_ms < $1 ORDER BY expires_ms LIMIT $2) RETURNING id), \
             pushes_gone AS (DELETE FROM pushes WHERE session_id IN (SELECT id FROM gone)) \
             SELECT COUNT(*) FROM gone",
        )
        .bind(expired_before_ms)
        .bind(i64::from(limit))
        .fetch_one(self.pool())
        .await
        .map_err(store_err)?;
        Ok(u64::try_from(deleted).unwrap_or(0))
    }

    async fn auth_guard(&self, user: UserId) -> Result<AuthGuard, StoreError> {
        let row =
            sqlx::query("SELECT failed_attempts, locked_until_ms, admin_locked, otp_blocked FROM users WHERE id = $1")
                .bind(user.0)
                .fetch_optional(self.pool())
                .await
                .map_err(store_err)?;
        let Some(row) = row else {
            return Ok(AuthGuard::default());
        };
        let failed: i64 = get(&row, "failed_attempts")?;
        Ok(AuthGuard {
            failed_attempts: u32::try_from(failed).unwrap_or(u32::MAX),
            locked_until_ms: get(&row, "locked_until_ms")?,
            admin_locked: get::<bool>(&row, "admin_locked")?,
            otp_blocked: get::<bool>(&row, "otp_blocked")?,
        })
    }

    async fn record_failure(
        &self,
        user: UserId,
        threshold: u32,
        now_ms: i64,
        lock_until_ms: i64,
    ) -> Result<FailureOutcome, StoreError> {
        let failed = count_failure(self.pool(), user, threshold, now_ms, lock_until_ms)
            .await
            .map_err(store_err)?;
        Ok(failure_outcome(failed))
    }

    async fn record_success(
        &self,
        user: UserId,
        device: Option<DeviceId>,
        now_ms: i64,
        reset_failures: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        success(&mut tx, user, device, now_ms, reset_failures).await?;
        tx.commit().await.map_err(store_err)
    }

    async fn set_user_flags(
        &self,
        user: UserId,
        admin_locked: Option<bool>,
        otp_blocked: Option<bool>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE users SET admin_locked = COALESCE($2, admin_locked), otp_blocked = COALESCE($3, otp_blocked), \
             locked_until_ms = CASE WHEN $2 IS FALSE THEN NULL ELSE locked_until_ms END, \
             failed_attempts = CASE WHEN $2 IS FALSE THEN 0 ELSE failed_attempts END WHERE id = $1",
        )
        .bind(user.0)
        .bind(admin_locked)
        .bind(otp_blocked)
        .execute(self.pool())
        .await
        .map_err(store_err)?;
        Ok(())
    }

    async fn reserve_send(
        &self,
        org: OrgId,
        target: &str,
        since_ms: i64,
        limit: u32,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        // One advisory lock per (organization, target) for the rest of the transaction:
        // the count and the insert below are one step for every node.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text || ':' || $2, 0))")
            .bind(org.0)
            .bind(target)
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        sqlx::query("DELETE FROM code_sends WHERE created_ms < $1")
            .bind(now_ms - 86_400_000)
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM code_sends WHERE org_id = $1 AND target = $2 AND created_ms > $3")
                .bind(org.0)
                .bind(target)
                .bind(since_ms)
                .fetch_one(&mut *tx)
                .await
                .map_err(store_err)?;
        if n >= i64::from(limit) {
            return Ok(false);
        }
        sqlx::query("INSERT INTO code_sends (org_id, target, created_ms) VALUES ($1, $2, $3)")
            .bind(org.0)
            .bind(target)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        tx.commit().await.map_err(store_err)?;
        Ok(true)
    }

    async fn append_audit(&self, e: &AuditEvent) -> Result<(), StoreError> {
        insert_audit(self.pool(), e).await.map_err(store_err)
    }

    async fn recent_audit(&self, user: UserId, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit WHERE user_id = $1 ORDER BY id DESC LIMIT $2")
            .bind(user.0)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .map_err(store_err)?;
        rows.iter()
            .map(|r| {
                let user: Option<i64> = get(r, "user_id")?;
                let device: Option<i64> = get(r, "device_id")?;
                let error_id: i64 = get(r, "error_id")?;
                Ok(AuditEvent {
                    org_id: OrgId(get(r, "org_id")?),
                    user_id: user.map(UserId),
                    username: get(r, "username")?,
                    device_id: device.map(DeviceId),
                    op: get(r, "op")?,
                    error_id: u32::try_from(error_id).unwrap_or(0),
                    source_ip: get(r, "source_ip")?,
                    created_ms: get(r, "created_ms")?,
                })
            })
            .collect()
    }
}

/// Inserts one audit record through `ex` (the pool, or a transaction's savepoint).
pub(super) async fn insert_audit<'e>(ex: impl sqlx::PgExecutor<'e>, e: &AuditEvent) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit (org_id, user_id, username, device_id, op, error_id, source_ip, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(e.org_id.0)
    .bind(e.user_id.map(|u| u.0))
    .bind(&e.username)
    .bind(e.device_id.map(|d| d.0))
    .bind(&e.op)
    .bind(i64::from(e.error_id))
    .bind(&e.source_ip)
    .bind(e.created_ms)
    .execute(ex)
    .await?;
    Ok(())
}

/// One more consecutive failure of a user not locked at `now_ms` (locked until
/// `lock_until_ms` at `threshold`, the count restarting); the count after it, `None` when
/// the user was locked or is gone. Through the pool, or a transaction that then holds the
/// user's row.
pub(super) async fn count_failure<'e>(
    ex: impl sqlx::PgExecutor<'e>,
    user: UserId,
    threshold: u32,
    now_ms: i64,
    lock_until_ms: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE users SET failed_attempts = CASE WHEN failed_attempts + 1 >= $2 THEN 0 ELSE failed_attempts + 1 END, \
         locked_until_ms = CASE WHEN failed_attempts + 1 >= $2 THEN $3 ELSE locked_until_ms END \
         WHERE id = $1 AND (locked_until_ms IS NULL OR locked_until_ms <= $4) RETURNING failed_attempts",
    )
    .bind(user.0)
    .bind(i64::from(threshold))
    .bind(lock_until_ms)
    .bind(now_ms)
    .fetch_optional(ex)
    .await
}

/// A success inside `tx`: the user's lastLogin (and failure count reset) and the device's
/// last use.
pub(super) async fn success(
    tx: &mut Tx,
    user: UserId,
    device: Option<DeviceId>,
    now_ms: i64,
    reset_failures: bool,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET failed_attempts = CASE WHEN $3 THEN 0 ELSE failed_attempts END, last_login_ms = $2 WHERE id = $1")
        .bind(user.0)
        .bind(now_ms)
        .bind(reset_failures)
        .execute(&mut **tx)
        .await
        .map_err(store_err)?;
    if let Some(d) = device {
        sqlx::query("UPDATE devices SET last_used_ms = $2 WHERE id = $1")
            .bind(d.0)
            .bind(now_ms)
            .execute(&mut **tx)
            .await
            .map_err(store_err)?;
    }
    Ok(())
}
