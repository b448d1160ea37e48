//! Companion apps and pushes on SQLite (migration 0007_push.sql). Every push decision
//! and every pairing step is a conditional `UPDATE … WHERE state …`; nonces are spent by
//! an insert that a replay fails.

use async_trait::async_trait;
use rusqlite::{Row, params};
use twofold_core::StoreError;
use twofold_core::device::DeviceId;
use twofold_core::ids::{OrgId, UserId};
use twofold_core::push::{AppDevice, AppFacts, AppPairOutcome, CreatePush, Push, PushState};
use twofold_core::store::{NewDevice, PairOutcome, PushStore};

use super::SqliteStore;
use super::db::{Db, Sql, is_unique_violation};
use super::devices::insert_device;
use crate::rows::{PushRow, device_type, push_choices, push_state_list};

fn app_device(row: &Row<'_>) -> Sql<AppDevice> {
    let platform: String = row.get("platform")?;
    let push_enabled: i64 = row.get("push_enabled")?;
    Ok(AppDevice {
        device_id: DeviceId(row.get("device_id")?),
        org_id: OrgId(row.get("org_id")?),
        user_id: UserId(row.get("user_id")?),
        platform: device_type(&platform)?,
        public_key: row.get("public_key")?,
        facts: AppFacts {
            model: row.get("model")?,
            os_version: row.get("os_version")?,
            app_version: row.get("app_version")?,
            push_enabled: push_enabled != 0,
        },
        last_seen_ms: row.get("last_seen_ms")?,
        poll_until_ms: row.get("poll_until_ms")?,
    })
}

fn push(row: &Row<'_>) -> Sql<Push> {
    let is_async: i64 = row.get("is_async")?;
    Ok(PushRow {
        id: row.get("id")?,
        session_id: row.get("session_id")?,
        org_id: row.get("org_id")?,
        user_id: row.get("user_id")?,
        device_id: row.get("device_id")?,
        state: row.get("state")?,
        number: row.get("number")?,
        choices: row.get("choices")?,
        sp_name: row.get("sp_name")?,
        sp_logo: row.get("sp_logo")?,
        is_async: is_async != 0,
        created_ms: row.get("created_ms")?,
        ack_deadline_ms: row.get("ack_deadline_ms")?,
        expires_ms: row.get("expires_ms")?,
        updated_ms: row.get("updated_ms")?,
    }
    .into_push()?)
}

#[async_trait]
impl PushStore for SqliteStore {
    async fn claim_activation_code(&self, org: OrgId, hash: &[u8], now_ms: i64) -> Result<bool, StoreError> {
        let changed = self
            .db()
            .write(|c| {
                c.run(
                    "UPDATE activation_codes SET state = 'VERIFIED' \
                     WHERE org_id = ?1 AND code_hash = ?2 AND state = 'NOT_CLAIMED' AND expires_ms > ?3",
                    params![org.0, hash, now_ms],
                )
            })
            .await?;
        Ok(changed == 1)
    }

    async fn pair_app_device(
        &self,
        hash: &[u8],
        d: &NewDevice,
        app: &AppDevice,
        max_devices: u32,
        multiple_users: bool,
    ) -> Result<AppPairOutcome, StoreError> {
        self.db()
            .write(|c| {
                let tx = c.savepoint()?;
                let moved = tx.run(
                    "UPDATE activation_codes SET state = 'PAIRED', device_id = ?3 \
                     WHERE org_id = ?1 AND code_hash = ?2 AND state = 'VERIFIED' AND user_id = ?4",
                    params![d.org_id.0, hash, d.id.0, d.user_id.0],
                )?;
                if moved != 1 {
                    return Ok(AppPairOutcome::CodeGone);
                }
                if !multiple_users {
                    let other: Option<i64> = tx.one(
                        "SELECT user_id FROM app_devices WHERE org_id = ?1 AND public_key = ?2 AND user_id <> ?3 LIMIT 1",
                        params![d.org_id.0, app.public_key, d.user_id.0],
                        |r| Ok(r.get(0)?),
                    )?;
                    if other.is_some() {
                        return Ok(AppPairOutcome::KeyInUse);
                    }
                }
                let paired = match insert_device(&tx, d, max_devices)? {
                    PairOutcome::Paired(device) => device,
                    PairOutcome::TooManyDevices => return Ok(AppPairOutcome::TooManyDevices),
                    PairOutcome::UserNotPairable => return Ok(AppPairOutcome::UserNotPairable),
                    PairOutcome::SessionGone => return Ok(AppPairOutcome::CodeGone),
                    PairOutcome::Conflict => return Ok(AppPairOutcome::Conflict),
                };
                let inserted = tx.run(
                    "INSERT INTO app_devices (device_id, org_id, user_id, platform, public_key, model, os_version, \
                     app_version, push_enabled, last_seen_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        d.id.0,
                        d.org_id.0,
                        d.user_id.0,
                        app.platform.wire_name(),
                        app.public_key,
                        app.facts.model,
                        app.facts.os_version,
                        app.facts.app_version,
                        i64::from(app.facts.push_enabled),
                        app.last_seen_ms,
                    ],
                );
                match inserted {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => return Ok(AppPairOutcome::Conflict),
                    Err(e) => return Err(e),
                }
                tx.commit()?;
                Ok(AppPairOutcome::Paired(paired))
            })
            .await
    }

    async fn finish_app_pairing(&self, device: DeviceId) -> Result<bool, StoreError> {
        let changed = self
            .db()
            .write(|c| {
                c.run(
                    "UPDATE activation_codes SET state = 'SUCCESS' WHERE device_id = ?1 AND state = 'PAIRED'",
                    [device.0],
                )
            })
            .await?;
        Ok(changed >= 1)
    }

    async fn app_device(&self, device: DeviceId) -> Result<Option<AppDevice>, StoreError> {
        self.db()
            .read(|c| c.one("SELECT * FROM app_devices WHERE device_id = ?1", [device.0], app_device))
    }

    async fn app_devices_of(&self, user: UserId) -> Result<Vec<AppDevice>, StoreError> {
        self.db()
            .read(|c| c.all("SELECT * FROM app_devices WHERE user_id = ?1", [user.0], app_device))
    }

    async fn spend_nonce(
        &self,
        device: DeviceId,
        nonce: &str,
        keep_until_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let inserted = self
            .db()
            .write(|c| {
                let tx = c.savepoint()?;
                tx.run(
                    "DELETE FROM device_nonces WHERE device_id = ?1 AND keep_until_ms < ?2",
                    params![device.0, now_ms],
                )?;
                let inserted = tx.run(
                    "INSERT INTO device_nonces (device_id, nonce, keep_until_ms) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (device_id, nonce) DO NOTHING",
                    params![device.0, nonce, keep_until_ms],
                )?;
                tx.commit()?;
                Ok(inserted)
            })
            .await?;
        Ok(inserted == 1)
    }

    async fn touch_app_device(
        &self,
        device: DeviceId,
        seen_ms: i64,
        poll_until_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        self.db()
            .write(|c| {
                c.run(
                    "UPDATE app_devices SET last_seen_ms = ?2, poll_until_ms = ?3 WHERE device_id = ?1",
                    params![device.0, seen_ms, poll_until_ms],
                )?;
                Ok(())
            })
            .await
    }

    async fn set_app_facts(&self, device: DeviceId, facts: &AppFacts) -> Result<(), StoreError> {
        self.db()
            .write(|c| {
                c.run(
                    "UPDATE app_devices SET model = ?2, os_version = ?3, app_version = ?4, push_enabled = ?5 \
                     WHERE device_id = ?1",
                    params![
                        device.0,
                        facts.model,
                        facts.os_version,
                        facts.app_version,
                        i64::from(facts.push_enabled),
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn create_push(&self, p: &Push, since_ms: i64, rate_limit: u32) -> Result<CreatePush, StoreError> {
        self.db()
            .write(|c| {
                let tx = c.savepoint()?;
                // Open pushes past their time end here, so they do not block the device.
                tx.run(
                    "UPDATE pushes SET updated_ms = ?2, state = CASE \
                       WHEN state = 'delivered' THEN 'expired' \
                       WHEN is_async = 1 THEN 'unacknowledged' ELSE 'unreachable' END \
                     WHERE device_id = ?1 AND state IN ('pending', 'delivered') AND \
                       (expires_ms <= ?2 OR (state = 'pending' AND is_async = 0 AND ack_deadline_ms <= ?2))",
                    params![p.device_id.0, p.created_ms],
                )?;
                let recent: i64 = tx
                    .one(
                        "SELECT COUNT(*) FROM pushes WHERE device_id = ?1 AND created_ms > ?2",
                        params![p.device_id.0, since_ms],
                        |r| Ok(r.get(0)?),
                    )?
                    .unwrap_or(0);
                if recent >= i64::from(rate_limit) {
                    return Ok(CreatePush::RateLimited);
                }
                let inserted = tx.run(
                    "INSERT INTO pushes (id, session_id, org_id, user_id, device_id, state, number, choices, sp_name, \
                     sp_logo, is_async, created_ms, ack_deadline_ms, expires_ms, updated_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                    params![
                        p.id,
                        p.session_id,
                        p.org_id.0,
                        p.user_id.0,
                        p.device_id.0,
                        p.state.as_str(),
                        p.number.map(i64::from),
                        push_choices(&p.choices),
                        p.sp_name,
                        p.sp_logo,
                        i64::from(p.is_async),
                        p.created_ms,
                        p.ack_deadline_ms,
                        p.expires_ms,
                        p.updated_ms,
                    ],
                );
                match inserted {
                    Ok(_) => {}
                    // The partial unique index: the device already has an open push.
                    Err(e) if is_unique_violation(&e) => return Ok(CreatePush::Busy),
                    Err(e) => return Err(e),
                }
                tx.commit()?;
                Ok(CreatePush::Created)
            })
            .await
    }

    async fn push(&self, id: &str) -> Result<Option<Push>, StoreError> {
        self.db()
            .read(|c| c.one("SELECT * FROM pushes WHERE id = ?1", [id], push))
    }

    async fn session_push(&self, session_id: &str) -> Result<Option<Push>, StoreError> {
        self.db().read(|c| {
            c.one(
                "SELECT * FROM pushes WHERE session_id = ?1 ORDER BY created_ms DESC, rowid DESC LIMIT 1",
                [session_id],
                push,
            )
        })
    }

    async fn open_pushes(&self, device: DeviceId) -> Result<Vec<Push>, StoreError> {
        self.db().read(|c| {
            c.all(
                "SELECT * FROM pushes WHERE device_id = ?1 AND state IN ('pending', 'delivered')",
                [device.0],
                push,
            )
        })
    }

    async fn cancelled_pushes(&self, device: DeviceId, since_ms: i64) -> Result<Vec<String>, StoreError> {
        self.db().read(|c| {
            c.all(
                "SELECT id FROM pushes WHERE device_id = ?1 AND state = 'cancelled' AND updated_ms > ?2 ORDER BY updated_ms",
                params![device.0, since_ms],
                |r| Ok(r.get(0)?),
            )
        })
    }

    async fn transition_push(
        &self,
        id: &str,
        from: &[PushState],
        to: PushState,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        if from.is_empty() {
            return Ok(false);
        }
        let sql = format!(
            "UPDATE pushes SET state = ?2, updated_ms = ?3 WHERE id = ?1 AND state IN ({})",
            push_state_list(from)
        );
        let changed = self
            .db()
            .write(|c| c.run(&sql, params![id, to.as_str(), now_ms]))
            .await?;
        Ok(changed == 1)
    }
}
