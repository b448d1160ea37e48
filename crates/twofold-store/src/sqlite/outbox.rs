//! The durable message outbox on SQLite.

use async_trait::async_trait;
use rusqlite::{Row, params};
use twofold_core::StoreError;
use twofold_core::store::{OutboxRecord, OutboxStore};

use super::SqliteStore;
use super::db::{Db, Sql};

fn record(row: &Row<'_>) -> Sql<OutboxRecord> {
    let attempts: i64 = row.get("attempts")?;
    Ok(OutboxRecord {
        id: row.get("id")?,
        channel: row.get("channel")?,
        payload: row.get("payload")?,
        state: row.get("state")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        created_ms: row.get("created_ms")?,
        expires_ms: row.get("expires_ms")?,
        claimed_ms: row.get("claimed_ms")?,
        error: row.get("error")?,
    })
}

/// A count of changed rows as the port reports it.
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn enqueue_message(&self, m: &OutboxRecord) -> Result<(), StoreError> {
        self.db()
            .write(|c| {
                c.run(
                    "INSERT INTO outbox (id, channel, payload, state, attempts, created_ms, expires_ms) \
                     VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?5) ON CONFLICT (id) DO NOTHING",
                    params![m.id, m.channel, m.payload, m.created_ms, m.expires_ms],
                )?;
                Ok(())
            })
            .await
    }

    async fn claim_messages(
        &self,
        now_ms: i64,
        lease_expired_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        // The state test is repeated outside the sub-select so that the UPDATE itself is
        // the conditional write: a row another worker claimed in between is skipped.
        let mut claimed = self
            .db()
            .write(|c| {
                c.all(
                    "UPDATE outbox SET state = 'sending', claimed_ms = ?1, attempts = attempts + 1 \
                     WHERE id IN (SELECT id FROM outbox \
                         WHERE (state = 'pending' OR (state = 'sending' AND claimed_ms < ?2)) AND expires_ms > ?1 \
                         ORDER BY created_ms LIMIT ?3) \
                     AND (state = 'pending' OR (state = 'sending' AND claimed_ms < ?2)) AND expires_ms > ?1 \
                     RETURNING id, channel, payload, state, attempts, created_ms, expires_ms, claimed_ms, error",
                    params![now_ms, lease_expired_ms, i64::from(limit)],
                    record,
                )
            })
            .await?;
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
        let changed = self
            .db()
            .write(|c| {
                c.run(
                    "UPDATE outbox SET state = ?3, error = ?4, finished_ms = ?5, payload = NULL \
                     WHERE id = ?1 AND state = 'sending' AND claimed_ms = ?2",
                    params![id, claimed_ms, state, error, now_ms],
                )
            })
            .await?;
        Ok(changed == 1)
    }

    async fn message_state(&self, id: &str) -> Result<Option<(String, Option<String>)>, StoreError> {
        self.db().read(|c| {
            c.one("SELECT state, error FROM outbox WHERE id = ?1", [id], |r| {
                Ok((r.get("state")?, r.get("error")?))
            })
        })
    }

    async fn abandon_message(&self, id: &str, reason: &str, now_ms: i64) -> Result<bool, StoreError> {
        let changed = self
            .db()
            .write(|c| {
                c.run(
                    "UPDATE outbox SET state = 'failed', error = ?2, finished_ms = ?3, payload = NULL \
                     WHERE id = ?1 AND state = 'pending'",
                    params![id, reason, now_ms],
                )
            })
            .await?;
        Ok(changed == 1)
    }

    async fn sweep_messages(&self, now_ms: i64, finished_before_ms: i64) -> Result<(u64, u64), StoreError> {
        // Both statements in one write: if the delete fails the expiry is undone too,
        // and the next sweep does both again.
        let (expired, deleted) = self
            .db()
            .write(|c| {
                let expired = c.run(
                    "UPDATE outbox SET state = 'failed', error = 'expired', finished_ms = ?1, payload = NULL \
                     WHERE state IN ('pending', 'sending') AND expires_ms <= ?1",
                    [now_ms],
                )?;
                let deleted = c.run(
                    "DELETE FROM outbox WHERE state IN ('sent', 'failed') AND finished_ms < ?1",
                    [finished_before_ms],
                )?;
                Ok((expired, deleted))
            })
            .await?;
        Ok((count(expired), count(deleted)))
    }
}
