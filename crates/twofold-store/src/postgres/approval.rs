//! The two writes of an authoffline on PostgreSQL, each one transaction: the approval of a
//! verified code and the record of a wrong one. Both lock the user's row first and the
//! session's second, so they serialize on the user (no deadlock between them) and no other
//! request ever sees a step of either: an approval never shows its session in `processing`
//! to a concurrent guess, and a wrong code's attempt and failure land together.

use twofold_core::StoreError;
use twofold_core::store::{
    Approval, ApprovalOutcome, ApprovalState, AttemptOutcome, AuditEvent, WrongCode, WrongCodeOutcome, failure_outcome,
};

use super::auth::{count_failure, insert_audit, success};
use super::devices::count_sms;
use super::tokens::swap;
use super::{PostgresStore, Tx, get, store_err};

/// [`twofold_core::store::AuthStore::approve_session`] in one transaction.
pub(super) async fn approve(store: &PostgresStore, a: &Approval<'_>) -> Result<ApprovalOutcome, StoreError> {
    let mut tx = store.begin().await?;
    let user = sqlx::query(
        "SELECT failed_attempts, locked_until_ms, admin_locked, otp_blocked, status FROM users \
         WHERE id = $1 FOR NO KEY UPDATE",
    )
    .bind(a.user.0)
    .fetch_optional(&mut *tx)
    .await
    .map_err(store_err)?;
    let session = sqlx::query(
        "SELECT s.state, s.attempts, s.device_id, s.code_hash, \
         s.device_id IS NULL OR EXISTS (SELECT 1 FROM devices d WHERE d.id = s.device_id AND d.user_id = s.user_id) \
         AS device_paired FROM auth_sessions s WHERE s.id = $1 FOR NO KEY UPDATE OF s",
    )
    .bind(a.session_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(store_err)?;
    let (Some(user), Some(session)) = (user, session) else {
        return Ok(ApprovalOutcome::SessionMoved);
    };
    let now = ApprovalState {
        state: get(&session, "state")?,
        attempts: get(&session, "attempts")?,
        device_id: get(&session, "device_id")?,
        code_hash: get(&session, "code_hash")?,
        device_paired: get(&session, "device_paired")?,
        failed_attempts: get(&user, "failed_attempts")?,
        locked_until_ms: get(&user, "locked_until_ms")?,
        admin_locked: get(&user, "admin_locked")?,
        otp_blocked: get(&user, "otp_blocked")?,
        status: get(&user, "status")?,
    };
    if !a.still_holds(&now) {
        return Ok(ApprovalOutcome::SessionMoved);
    }
    if let Some((device, expected, new)) = a.counter
        && !swap(&mut *tx, device, expected, new).await.map_err(store_err)?
    {
        return Ok(ApprovalOutcome::CodeSpent);
    }
    sqlx::query("UPDATE auth_sessions SET state = 'approved' WHERE id = $1")
        .bind(a.session_id)
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
    success(&mut tx, a.user, a.device, a.now_ms, true).await?;
    if let Some(day) = a.sms_day {
        count_sms(&mut *tx, a.user, day, 0, 1).await.map_err(store_err)?;
    }
    if let Some(event) = a.audit {
        append_audit_alone(&mut tx, event).await?;
    }
    tx.commit().await.map_err(store_err)?;
    Ok(ApprovalOutcome::Approved)
}

/// [`twofold_core::store::AuthStore::record_wrong_code`] in one transaction.
pub(super) async fn wrong_code(store: &PostgresStore, w: &WrongCode<'_>) -> Result<WrongCodeOutcome, StoreError> {
    let mut tx = store.begin().await?;
    // The user first (the row lock, and nothing when locked), then the session.
    let failed = count_failure(&mut *tx, w.user, w.threshold, w.now_ms, w.lock_until_ms)
        .await
        .map_err(store_err)?;
    if failed.is_none() {
        return Ok(WrongCodeOutcome::UserLocked);
    }
    let attempts: Option<i64> = sqlx::query_scalar(
        "UPDATE auth_sessions SET attempts = attempts + 1, \
         state = CASE WHEN attempts + 1 >= $2 THEN 'failed' ELSE 'challenge' END \
         WHERE id = $1 AND state = $3 RETURNING attempts",
    )
    .bind(w.session_id)
    .bind(i64::from(w.max_attempts))
    .bind(w.from)
    .fetch_optional(&mut *tx)
    .await
    .map_err(store_err)?;
    let Some(attempts) = attempts else {
        // Dropping the transaction undoes the failure counted above.
        return Ok(WrongCodeOutcome::SessionGone);
    };
    tx.commit().await.map_err(store_err)?;
    let attempt = if attempts >= i64::from(w.max_attempts) {
        AttemptOutcome::Exhausted
    } else {
        AttemptOutcome::Remaining
    };
    Ok(WrongCodeOutcome::Counted {
        attempt,
        failure: failure_outcome(failed),
    })
}

/// The audit record in a savepoint of its own: a failed append is logged and undoes only
/// itself, never the approval it records.
async fn append_audit_alone(tx: &mut Tx, e: &AuditEvent) -> Result<(), StoreError> {
    let mut savepoint = sqlx::Acquire::begin(&mut **tx).await.map_err(store_err)?;
    match insert_audit(&mut *savepoint, e).await {
        Ok(_) => savepoint.commit().await.map_err(store_err)?,
        Err(err) => {
            tracing::error!(error = %store_err(err), op = %e.op, "audit append failed");
            savepoint.rollback().await.map_err(store_err)?;
        }
    }
    Ok(())
}
