//! OATH token stock, counters, resync sessions and jobs on PostgreSQL.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use twofold_core::StoreError;
use twofold_core::device::DeviceId;
use twofold_core::ids::OrgId;
use twofold_core::store::{JobRecord, StockToken, TokenStore, YubikeyRecord};

use super::devices::renumber;
use super::{PostgresStore, lock_user, store_err};
use crate::rows::oath;

fn stock(row: &PgRow) -> Result<StockToken, StoreError> {
    let get = |c: &str| -> Result<Option<String>, StoreError> { row.try_get(c).map_err(store_err) };
    let digits: i64 = row.try_get("digits").map_err(store_err)?;
    let period: i64 = row.try_get("period").map_err(store_err)?;
    Ok(StockToken {
        org_id: OrgId(row.try_get("org_id").map_err(store_err)?),
        serial: row.try_get("serial").map_err(store_err)?,
        params: oath(get("kind")?, get("algorithm")?, Some(digits), Some(period))?
            .ok_or_else(|| StoreError::Unavailable("stock token without a kind".into()))?,
        sealed_secret: row.try_get("sealed_secret").map_err(store_err)?,
        created_ms: row.try_get("created_ms").map_err(store_err)?,
    })
}

fn job(row: &PgRow) -> Result<JobRecord, StoreError> {
    Ok(JobRecord {
        token: row.try_get("token").map_err(store_err)?,
        org_id: OrgId(row.try_get("org_id").map_err(store_err)?),
        kind: row.try_get("kind").map_err(store_err)?,
        status: row.try_get("status").map_err(store_err)?,
        result: row.try_get("result").map_err(store_err)?,
        created_ms: row.try_get("created_ms").map_err(store_err)?,
        finished_ms: row.try_get("finished_ms").map_err(store_err)?,
    })
}

#[async_trait]
impl TokenStore for PostgresStore {
    async fn insert_stock(&self, tokens: &[StockToken]) -> Result<Vec<String>, StoreError> {
        let mut tx = self.begin().await?;
        let mut duplicates = Vec::new();
        for t in tokens {
            let done = sqlx::query(
                "INSERT INTO oath_tokens (org_id, serial, kind, algorithm, digits, period, sealed_secret, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            )
            .bind(t.org_id.0)
            .bind(&t.serial)
            .bind(t.params.kind.as_str())
            .bind(t.params.algorithm)
            .bind(i64::from(t.params.digits))
            .bind(i64::from(t.params.period))
            .bind(&t.sealed_secret)
            .bind(t.created_ms)
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
            if done.rows_affected() == 0 {
                duplicates.push(t.serial.clone());
            }
        }
        tx.commit().await.map_err(store_err)?;
        Ok(duplicates)
    }

    async fn stock_token(&self, org: OrgId, serial: &str) -> Result<Option<StockToken>, StoreError> {
        sqlx::query("SELECT * FROM oath_tokens WHERE org_id = $1 AND serial = $2")
            .bind(org.0)
            .bind(serial)
            .fetch_optional(self.pool())
            .await
            .map_err(store_err)?
            .as_ref()
            .map(stock)
            .transpose()
    }

    async fn paired_serials(&self, org: OrgId, serials: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        for serial in serials {
            let user: Option<String> = sqlx::query_scalar(
                "SELECT u.username FROM devices d JOIN users u ON u.id = d.user_id \
                 WHERE d.org_id = $1 AND d.serial = $2 AND d.kind = 'Hardware Token'",
            )
            .bind(org.0)
            .bind(serial)
            .fetch_optional(self.pool())
            .await
            .map_err(store_err)?;
            if let Some(user) = user {
                out.push((serial.clone(), user));
            }
        }
        Ok(out)
    }

    async fn revoke_stock(&self, org: OrgId, serials: &[String]) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let mut removed = 0;
        for serial in serials {
            // Lock the owner before touching its devices, in the same order as pairing
            // and unpairing (user, then devices), so nodes cannot deadlock each other.
            let owner: Option<i64> = sqlx::query_scalar(
                "SELECT user_id FROM devices WHERE org_id = $1 AND serial = $2 AND kind = 'Hardware Token'",
            )
            .bind(org.0)
            .bind(serial)
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_err)?;
            if let Some(user) = owner {
                lock_user(&mut tx, user).await?;
                sqlx::query("DELETE FROM devices WHERE org_id = $1 AND serial = $2 AND kind = 'Hardware Token'")
                    .bind(org.0)
                    .bind(serial)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err)?;
                renumber(&mut tx, user).await?;
                sqlx::query(
                    "UPDATE users SET status = 'PENDING_CHANGE_DEVICE' WHERE id = $1 AND status = 'ACTIVE' \
                     AND NOT EXISTS (SELECT 1 FROM devices WHERE user_id = $1)",
                )
                .bind(user)
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
            }
            removed += sqlx::query("DELETE FROM oath_tokens WHERE org_id = $1 AND serial = $2")
                .bind(org.0)
                .bind(serial)
                .execute(&mut *tx)
                .await
                .map_err(store_err)?
                .rows_affected();
        }
        tx.commit().await.map_err(store_err)?;
        Ok(removed)
    }

    async fn swap_counter(&self, device: DeviceId, expected: Option<i64>, new: i64) -> Result<bool, StoreError> {
        swap(self.pool(), device, expected, new).await.map_err(store_err)
    }

    async fn set_session_counter(&self, session: &str, counter: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE pairing_sessions SET counter = $2 WHERE id = $1 AND state = 'open'")
            .bind(session)
            .bind(counter)
            .execute(self.pool())
            .await
            .map_err(store_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_resync(
        &self,
        id: &str,
        org: OrgId,
        device: DeviceId,
        matched: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO resync_sessions (id, org_id, device_id, matched, expires_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(org.0)
        .bind(device.0)
        .bind(matched)
        .bind(expires_ms)
        .execute(self.pool())
        .await
        .map_err(store_err)?;
        Ok(())
    }

    async fn take_resync(&self, id: &str, org: OrgId, now_ms: i64) -> Result<Option<(DeviceId, i64)>, StoreError> {
        let row = sqlx::query(
            "UPDATE resync_sessions SET state = 'done' WHERE id = $1 AND org_id = $2 AND state = 'open' AND expires_ms > $3 \
             RETURNING device_id, matched",
        )
        .bind(id)
        .bind(org.0)
        .bind(now_ms)
        .fetch_optional(self.pool())
        .await
        .map_err(store_err)?;
        row.map(|r| {
            Ok((
                DeviceId(r.try_get("device_id").map_err(store_err)?),
                r.try_get("matched").map_err(store_err)?,
            ))
        })
        .transpose()
    }

    async fn insert_yubikeys(&self, keys: &[YubikeyRecord]) -> Result<Vec<String>, StoreError> {
        let mut tx = self.begin().await?;
        let mut duplicates = Vec::new();
        for k in keys {
            let done = sqlx::query(
                "INSERT INTO yubikeys (org_id, public_id, serial, sealed_secret, counter, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(k.org_id.0)
            .bind(&k.public_id)
            .bind(&k.serial)
            .bind(&k.sealed_secret)
            .bind(k.counter)
            .bind(k.created_ms)
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
            if done.rows_affected() == 0 {
                duplicates.push(k.public_id.clone());
            }
        }
        tx.commit().await.map_err(store_err)?;
        Ok(duplicates)
    }

    async fn yubikey(&self, org: OrgId, public_id: &str) -> Result<Option<YubikeyRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM yubikeys WHERE org_id = $1 AND public_id = $2")
            .bind(org.0)
            .bind(public_id)
            .fetch_optional(self.pool())
            .await
            .map_err(store_err)?;
        row.map(|r| {
            Ok(YubikeyRecord {
                org_id: OrgId(r.try_get("org_id").map_err(store_err)?),
                public_id: r.try_get("public_id").map_err(store_err)?,
                serial: r.try_get("serial").map_err(store_err)?,
                sealed_secret: r.try_get("sealed_secret").map_err(store_err)?,
                counter: r.try_get("counter").map_err(store_err)?,
                created_ms: r.try_get("created_ms").map_err(store_err)?,
            })
        })
        .transpose()
    }

    async fn raise_yubikey_counter(&self, org: OrgId, public_id: &str, new: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE yubikeys SET counter = $3 WHERE org_id = $1 AND public_id = $2 AND (counter IS NULL OR counter < $3)",
        )
        .bind(org.0)
        .bind(public_id)
        .bind(new)
        .execute(self.pool())
        .await
        .map_err(store_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_job(&self, j: &JobRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO jobs (token, org_id, kind, status, result, created_ms, finished_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&j.token)
        .bind(j.org_id.0)
        .bind(&j.kind)
        .bind(&j.status)
        .bind(&j.result)
        .bind(j.created_ms)
        .bind(j.finished_ms)
        .execute(self.pool())
        .await
        .map_err(store_err)?;
        Ok(())
    }

    async fn job(&self, org: OrgId, token: &str) -> Result<Option<JobRecord>, StoreError> {
        sqlx::query("SELECT * FROM jobs WHERE org_id = $1 AND token = $2")
            .bind(org.0)
            .bind(token)
            .fetch_optional(self.pool())
            .await
            .map_err(store_err)?
            .as_ref()
            .map(job)
            .transpose()
    }
}

/// Moves a device's code counter from `expected` to `new`; false when it no longer held
/// `expected` (the code was spent first). Through the pool or a transaction.
pub(super) async fn swap<'e>(
    ex: impl sqlx::PgExecutor<'e>,
    device: DeviceId,
    expected: Option<i64>,
    new: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE devices SET counter = $3 WHERE id = $1 AND counter IS NOT DISTINCT FROM $2")
        .bind(device.0)
        .bind(expected)
        .bind(new)
        .execute(ex)
        .await?;
    Ok(done.rows_affected() == 1)
}
