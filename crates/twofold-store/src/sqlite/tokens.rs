//! OATH token stock, counters, resync sessions and jobs on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, Row, params};
use twofold_core::StoreError;
use twofold_core::device::DeviceId;
use twofold_core::ids::OrgId;
use twofold_core::store::{JobRecord, StockToken, TokenStore, YubikeyRecord};

use super::SqliteStore;
use super::db::{Db, Sql};
use super::devices::renumber;
use super::jobs::job;
use crate::rows::oath;

fn stock(row: &Row<'_>) -> Sql<StockToken> {
    let digits: i64 = row.get("digits")?;
    let period: i64 = row.get("period")?;
    Ok(StockToken {
        org_id: OrgId(row.get("org_id")?),
        serial: row.get("serial")?,
        params: oath(row.get("kind")?, row.get("algorithm")?, Some(digits), Some(period))?
            .ok_or_else(|| StoreError::Unavailable("stock token without a kind".into()))?,
        sealed_secret: row.get("sealed_secret")?,
        created_ms: row.get("created_ms")?,
    })
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn insert_stock(&self, tokens: &[StockToken]) -> Result<Vec<String>, StoreError> {
        self.db()
            .write(|c| {
                let tx = c.savepoint()?;
                let mut duplicates = Vec::new();
                for t in tokens {
                    let changed = tx.run(
                        "INSERT INTO oath_tokens (org_id, serial, kind, algorithm, digits, period, sealed_secret, \
                         created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
                        params![
                            t.org_id.0,
                            t.serial,
                            t.params.kind.as_str(),
                            t.params.algorithm,
                            i64::from(t.params.digits),
                            i64::from(t.params.period),
                            t.sealed_secret,
                            t.created_ms,
                        ],
                    )?;
                    if changed == 0 {
                        duplicates.push(t.serial.clone());
                    }
                }
                tx.commit()?;
                Ok(duplicates)
            })
            .await
    }

    async fn stock_token(&self, org: OrgId, serial: &str) -> Result<Option<StockToken>, StoreError> {
        self.db().read(|c| {
            c.one(
                "SELECT * FROM oath_tokens WHERE org_id = ?1 AND serial = ?2",
                params![org.0, serial],
                stock,
            )
        })
    }

    async fn paired_serials(&self, org: OrgId, serials: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        self.db().read(|c| {
            let mut out = Vec::new();
            for serial in serials {
                let user: Option<String> = c.one(
                    "SELECT u.username FROM devices d JOIN users u ON u.id = d.user_id \
                     WHERE d.org_id = ?1 AND d.serial = ?2 AND d.kind = 'Hardware Token'",
                    params![org.0, serial],
                    |r| Ok(r.get(0)?),
                )?;
                if let Some(user) = user {
                    out.push((serial.clone(), user));
                }
            }
            Ok(out)
        })
    }

    async fn revoke_stock(&self, org: OrgId, serials: &[String]) -> Result<u64, StoreError> {
        self.db()
            .write(|c| {
                let tx = c.savepoint()?;
                let mut removed: u64 = 0;
                for serial in serials {
                    let owner: Option<i64> = tx.one(
                        "DELETE FROM devices WHERE org_id = ?1 AND serial = ?2 AND kind = 'Hardware Token' \
                         RETURNING user_id",
                        params![org.0, serial],
                        |r| Ok(r.get(0)?),
                    )?;
                    if let Some(user) = owner {
                        renumber(&tx, user)?;
                        tx.run(
                            "UPDATE users SET status = 'PENDING_CHANGE_DEVICE' WHERE id = ?1 AND status = 'ACTIVE' \
                             AND NOT EXISTS (SELECT 1 FROM devices WHERE user_id = ?1)",
                            [user],
                        )?;
                    }
                    let changed = tx.run(
                        "DELETE FROM oath_tokens WHERE org_id = ?1 AND serial = ?2",
                        params![org.0, serial],
                    )?;
                    removed += u64::try_from(changed).unwrap_or(u64::MAX);
                }
                tx.commit()?;
                Ok(removed)
            })
            .await
    }

    async fn swap_counter(&self, device: DeviceId, expected: Option<i64>, new: i64) -> Result<bool, StoreError> {
        self.db().write(|c| swap(c, device, expected, new)).await
    }

    async fn set_session_counter(&self, session: &str, counter: i64) -> Result<bool, StoreError> {
        let changed = self
            .db()
            .write(|c| {
                c.run(
                    "UPDATE pairing_sessions SET counter = ?2 WHERE id = ?1 AND state = 'open'",
                    params![session, counter],
                )
            })
            .await?;
        Ok(changed == 1)
    }

    async fn create_resync(
        &self,
        id: &str,
        org: OrgId,
        device: DeviceId,
        matched: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        self.db()
            .write(|c| {
                c.run(
                    "INSERT INTO resync_sessions (id, org_id, device_id, matched, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, org.0, device.0, matched, expires_ms],
                )?;
                Ok(())
            })
            .await
    }

    async fn take_resync(&self, id: &str, org: OrgId, now_ms: i64) -> Result<Option<(DeviceId, i64)>, StoreError> {
        self.db()
            .write(|c| {
                c.one(
                    "UPDATE resync_sessions SET state = 'done' WHERE id = ?1 AND org_id = ?2 AND state = 'open' \
                     AND expires_ms > ?3 RETURNING device_id, matched",
                    params![id, org.0, now_ms],
                    |r| Ok((DeviceId(r.get("device_id")?), r.get("matched")?)),
                )
            })
            .await
    }

    async fn insert_yubikeys(&self, keys: &[YubikeyRecord]) -> Result<Vec<String>, StoreError> {
        self.db()
            .write(|c| {
                let tx = c.savepoint()?;
                let mut duplicates = Vec::new();
                for k in keys {
                    let changed = tx.run(
                        "INSERT INTO yubikeys (org_id, public_id, serial, sealed_secret, counter, created_ms) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                        params![
                            k.org_id.0,
                            k.public_id,
                            k.serial,
                            k.sealed_secret,
                            k.counter,
                            k.created_ms
                        ],
                    )?;
                    if changed == 0 {
                        duplicates.push(k.public_id.clone());
                    }
                }
                tx.commit()?;
                Ok(duplicates)
            })
            .await
    }

    async fn yubikey(&self, org: OrgId, public_id: &str) -> Result<Option<YubikeyRecord>, StoreError> {
        self.db().read(|c| {
            c.one(
                "SELECT * FROM yubikeys WHERE org_id = ?1 AND public_id = ?2",
                params![org.0, public_id],
                |r| {
                    Ok(YubikeyRecord {
                        org_id: OrgId(r.get("org_id")?),
                        public_id: r.get("public_id")?,
                        serial: r.get("serial")?,
                        sealed_secret: r.get("sealed_secret")?,
                        counter: r.get("counter")?,
                        created_ms: r.get("created_ms")?,
                    })
                },
            )
        })
    }

    async fn raise_yubikey_counter(&self, org: OrgId, public_id: &str, new: i64) -> Result<bool, StoreError> {
        let changed = self
            .db()
            .write(|c| {
                c.run(
                    "UPDATE yubikeys SET counter = ?3 WHERE org_id = ?1 AND public_id = ?2 \
                     AND (counter IS NULL OR counter < ?3)",
                    params![org.0, public_id, new],
                )
            })
            .await?;
        Ok(changed == 1)
    }

    async fn insert_job(&self, j: &JobRecord) -> Result<(), StoreError> {
        self.db()
            .write(|c| {
                c.run(
                    "INSERT INTO jobs (token, org_id, kind, status, result, created_ms, finished_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        j.token,
                        j.org_id.0,
                        j.kind,
                        j.status,
                        j.result,
                        j.created_ms,
                        j.finished_ms
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn job(&self, org: OrgId, token: &str) -> Result<Option<JobRecord>, StoreError> {
        self.db().read(|c| {
            c.one(
                "SELECT * FROM jobs WHERE org_id = ?1 AND token = ?2",
                params![org.0, token],
                job,
            )
        })
    }
}

/// Moves a device's counter from `expected` to `new`; false when it held another value.
pub(super) fn swap(c: &Connection, device: DeviceId, expected: Option<i64>, new: i64) -> Sql<bool> {
    let changed = c.run(
        "UPDATE devices SET counter = ?3 WHERE id = ?1 AND counter IS ?2",
        params![device.0, expected, new],
    )?;
    Ok(changed == 1)
}
