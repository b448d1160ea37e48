//! The durable message outbox on PostgreSQL.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use twofold_core::StoreError;
use twofold_core::store::{OutboxRecord, OutboxStore};

use super::{PostgresStore, get, store_err};

fn record(row: &PgRow) -> Result<OutboxRecord, StoreError> {
    let attempts: i64 = get(row, "attempts")?;
    Ok(OutboxRecord {
        id: get(row, "id")?,
        channel: get(row, "channel")?,
        payload: get(row, "payload")?,
        state: get(row, "state")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        created_ms: get(row, "created_ms")?,
        expires_ms: get(row, "expires_ms")?,
        claimed_ms: get(row, "claimed_ms")?,
        error: get(row, "error")?,
    })
}

#[async_trait]
impl OutboxStore for PostgresStore {
    async fn enqueue_message(&self, m: &OutboxRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO outbox (id, channel, payload, state, attempts, created_ms, expires_ms) \
             VALUES ($1, $2, $3, 'pending', 0, $4, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&m.id)
        .bind(&m.channel)
        .bind(&m.payload)
        .bind(m.created_ms)
        .bind(m.expires_ms)
        .execute(self.pool())
        .await
        .map_err(store_err)?;
        Ok(())
    }

    async fn claim_messages(
        &self,
        now_ms: i64,
        lease_expired_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        // SKIP LOCKED lets workers on several nodes claim different rows at once; the
        // state test is repeated outside the sub-select so that the UPDATE itself stays
        // the conditional write.
        let rows = sqlx::query(
            "UPDATE outbox SET state = 'sending', claimed_ms = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox \
                 WHERE (state = 'pending' OR (state = 'sending' AND claimed_ms < $2)) AND expires_ms > $1 \
                 ORDER BY created_ms LIMIT $3 FOR UPDATE SKIP LOCKED) \
             AND (state = 'pending' OR (state = 'sending' AND claimed_ms < $2)) AND expires_ms > $1 \
             RETURNING id, channel, payload, state, attempts, created_ms, expires_ms, claimed_ms, error",
        )
        .bind(now_ms)
        .bind(lease_expired_ms)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(store_err)?;
        let mut claimed = rows.iter().map(record).collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|m| m.created_ms);
        Ok(claimed)
    }

    async fn finish_message(
        &self,
        id: &str,
        claimed_ms: i64,
        state: &str,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = $3, error = $4, finished_ms = $5, payload = NULL \
             WHERE id = $1 AND state = 'sending' AND claimed_ms = $2",
        )
        .bind(id)
        .bind(claimed_ms)
        .bind(state)
        .bind(error)
        .bind(now_ms)
        .execute(self.pool())
        .await
        .map_err(store_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn message_state(&self, id: &str) -> Result<Option<(String, Option<String>)>, StoreError> {
        let row = sqlx::query("SELECT state, error FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(store_err)?;
        row.map(|r| Ok((get(&r, "state")?, get(&r, "error")?))).transpose()
    }

    async fn abandon_message(&self, id: &str, reason: &str, now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'failed', error = $2, finished_ms = $3, payload = NULL \
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(reason)
        .bind(now_ms)
        .execute(self.pool())
        .await
        .map_err(store_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn sweep_messages(&self, now_ms: i64, finished_before_ms: i64) -> Result<(u64, u64), StoreError> {
        let expired = sqlx::query(
            "UPDATE outbox SET state = 'failed', error = 'expired', finished_ms = $1, payload = NULL \
             WHERE state IN ('pending', 'sending') AND expires_ms <= $1",
        )
        .bind(now_ms)
        .execute(self.pool())
        .await
        .map_err(store_err)?
        .rows_affected();
        let deleted = sqlx::query("DELETE FROM outbox WHERE state IN ('sent', 'failed') AND finished_ms < $1")
            .bind(finished_before_ms)
            .execute(self.pool())
            .await
            .map_err(store_err)?
            .rows_affected();
        Ok((expired, deleted))
    }
}
