//! The two writes of an authoffline on PostgreSQL, each one transaction: the approval of a
//! verified code and the record of a wrong one. Both lock the user's row first and the
//! session's second, so they serialize on the user (no deadlock between them) and no other
//! request ever sees a step of either: an approval never shows its session in `processing`
//! to a concurrent guess, and a wrong code's attempt and failure land together.

use twofold_core::StoreError;
use twofold_core::store::{
    Approval, ApprovalOutcome, ApprovalState, AttemptOutcome, AuditEvent, WrongCode, WrongCodeOutcome, failure_outcome,
};

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
    if let Some((device, expected, new)) = a.counter {
        let swapped = sqlx::query("UPDATE devices SET counter = $3 WHERE id = $1 AND counter IS NOT DISTINCT FROM $2")
            .bind(device.0)
            .bind(expected)
            .bind(new)
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        if swapped.rows_affected() != 1 {
            return Ok(ApprovalOutcome::CodeSpent);
        }
    }
    run(
        &mut tx,
        sqlx::query("UPDATE auth_sessions SET state = 'approved' WHERE id = $1").bind(a.session_id),
    )
    .await?;
    run(
        &mut tx,
        sqlx::query("UPDATE users SET failed_attempts = 0, last_login_ms = $2 WHERE id = $1")
            .bind(a.user.0)
            .bind(a.now_ms),
    )
    .await?;
    if let Some(d) = a.device {
        run(
            &mut tx,
            sqlx::query("UPDATE devices SET last_used_ms = $2 WHERE id = $1")
                .bind(d.0)
                .bind(a.now_ms),
        )
        .await?;
    }
    if let Some(day) = a.sms_day {
        run(
            &mut tx,
            sqlx::query(
                "INSERT INTO sms_usage (user_id, day, sent, claimed) VALUES ($1, $2, 0, 1) \
                 ON CONFLICT (user_id, day) DO UPDATE SET claimed = sms_usage.claimed + 1",
            )
            .bind(a.user.0)
            .bind(day),
        )
        .await?;
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
    let failed: Option<i64> = sqlx::query_scalar(
        "UPDATE users SET failed_attempts = CASE WHEN failed_attempts + 1 >= $2 THEN 0 ELSE failed_attempts + 1 END, \
         locked_until_ms = CASE WHEN failed_attempts + 1 >= $2 THEN $3 ELSE locked_until_ms END \
         WHERE id = $1 AND (locked_until_ms IS NULL OR locked_until_ms <= $4) RETURNING failed_attempts",
    )
    .bind(w.user.0)
    .bind(i64::from(w.threshold))
    .bind(w.lock_until_ms)
    .bind(w.now_ms)
    .fetch_optional(&mut *tx)
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

/// Runs one statement in the transaction.
async fn run<'q>(
    tx: &mut Tx,
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
) -> Result<(), StoreError> {
    query.execute(&mut **tx).await.map_err(store_err)?;
    Ok(())
}

/// The audit record in a savepoint of its own: a failed append is logged and undoes only
/// itself, never the approval it records.
async fn append_audit_alone(tx: &mut Tx, e: &AuditEvent) -> Result<(), StoreError> {
    let mut savepoint = sqlx::Acquire::begin(&mut **tx).await.map_err(store_err)?;
    match super::auth::insert_audit(&mut *savepoint, e).await {
        Ok(_) => savepoint.commit().await.map_err(store_err)?,
        Err(err) => {
            tracing::error!(error = %store_err(err), op = %e.op, "audit append failed");
            savepoint.rollback().await.map_err(store_err)?;
        }
    }
    Ok(())
}
