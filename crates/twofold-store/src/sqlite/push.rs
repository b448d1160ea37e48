//! Companion apps and pushes on SQLite (migration 0007_push.sql). Every push decision
//! and every pairing step is a conditional `UPDATE … WHERE state …`; nonces are spent by
//! an insert that a replay fails.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use twofold_core::StoreError;
use twofold_core::device::DeviceId;
use twofold_core::ids::{OrgId, UserId};
use twofold_core::push::{AppDevice, AppFacts, AppPairOutcome, CreatePush, Push, PushState};
use twofold_core::store::{NewDevice, PairOutcome, PushStore};

use super::devices::insert_device;
use super::{SqliteStore, get, is_unique_violation, store_err};
use crate::rows::{PushRow, device_type, push_choices, push_state_list};

fn app_device(row: &SqliteRow) -> Result<AppDevice, StoreError> {
    let platform: String = get(row, "platform")?;
    let push_enabled: i64 = get(row, "push_enabled")?;
    Ok(AppDevice {
        device_id: DeviceId(get(row, "device_id")?),
        org_id: OrgId(get(row, "org_id")?),
        user_id: UserId(get(row, "user_id")?),
        platform: device_type(&platform)?,
        public_key: get(row, "public_key")?,
        facts: AppFacts {
            model: get(row, "model")?,
            os_version: get(row, "os_version")?,
            app_version: get(row, "app_version")?,
            push_enabled: push_enabled != 0,
        },
        last_seen_ms: get(row, "last_seen_ms")?,
        poll_until_ms: get(row, "poll_until_ms")?,
    })
}

fn push(row: &SqliteRow) -> Result<Push, StoreError> {
    PushRow {
        id: get(row, "id")?,
        session_id: get(row, "session_id")?,
        org_id: get(row, "org_id")?,
        user_id: get(row, "user_id")?,
        device_id: get(row, "device_id")?,
        state: get(row, "state")?,
        number: get(row, "number")?,
        choices: get(row, "choices")?,
        sp_name: get(row, "sp_name")?,
        sp_logo: get(row, "sp_logo")?,
        is_async: get::<i64>(row, "is_async")? != 0,
        created_ms: get(row, "created_ms")?,
        ack_deadline_ms: get(row, "ack_deadline_ms")?,
        expires_ms: get(row, "expires_ms")?,
        updated_ms: get(row, "updated_ms")?,
    }
    .into_push()
}

#[async_trait]
impl PushStore for SqliteStore {
    async fn claim_activation_code(&self, org: OrgId, hash: &[u8], now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE activation_codes SET state = 'VERIFIED' \
             WHERE org_id = $1 AND code_hash = $2 AND state = 'NOT_CLAIMED' AND expires_ms > $3",
        )
        .bind(org.0)
        .bind(hash)
        .bind(now_ms)
        .execute(self.writer())
        .await
        .map_err(store_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn pair_app_device(
        &self,
        hash: &[u8],
        d: &NewDevice,
        app: &AppDevice,
        max_devices: u32,
        multiple_users: bool,
    ) -> Result<AppPairOutcome, StoreError> {
        let mut tx = self.write_tx().await?;
        let moved = sqlx::query(
            "UPDATE activation_codes SET state = 'PAIRED', device_id = $3 \
             WHERE org_id = $1 AND code_hash = $2 AND state = 'VERIFIED' AND user_id = $4",
        )
        .bind(d.org_id.0)
        .bind(hash)
        .bind(d.id.0)
        .bind(d.user_id.0)
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        if moved.rows_affected() != 1 {
            return Ok(AppPairOutcome::CodeGone);
        }
        if !multiple_users {
            let other: Option<i64> = sqlx::query_scalar(
                "SELECT user_id FROM app_devices WHERE org_id = $1 AND public_key = $2 AND user_id <> $3 LIMIT 1",
            )
            .bind(d.org_id.0)
            .bind(&app.public_key)
            .bind(d.user_id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_err)?;
            if other.is_some() {
                return Ok(AppPairOutcome::KeyInUse);
            }
        }
        let paired = match insert_device(&mut tx, d, max_devices).await? {
            PairOutcome::Paired(device) => device,
            PairOutcome::TooManyDevices => return Ok(AppPairOutcome::TooManyDevices),
            PairOutcome::UserNotPairable => return Ok(AppPairOutcome::UserNotPairable),
            PairOutcome::SessionGone => return Ok(AppPairOutcome::CodeGone),
            PairOutcome::Conflict => return Ok(AppPairOutcome::Conflict),
        };
        let inserted = sqlx::query(
            "INSERT INTO app_devices (device_id, org_id, user_id, platform, public_key, model, os_version, \
             app_version, push_enabled, last_seen_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(d.id.0)
        .bind(d.org_id.0)
        .bind(d.user_id.0)
        .bind(app.platform.wire_name())
        .bind(&app.public_key)
        .bind(&app.facts.model)
        .bind(&app.facts.os_version)
        .bind(&app.facts.app_version)
        .bind(i64::from(app.facts.push_enabled))
        .bind(app.last_seen_ms)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Ok(AppPairOutcome::Conflict),
            Err(e) => return Err(store_err(e)),
        }
        tx.commit().await.map_err(store_err)?;
        Ok(AppPairOutcome::Paired(paired))
    }

    async fn finish_app_pairing(&self, device: DeviceId) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE activation_codes SET state = 'SUCCESS' WHERE device_id = $1 AND state = 'PAIRED'")
                .bind(device.0)
                .execute(self.writer())
                .await
                .map_err(store_err)?;
        Ok(done.rows_affected() >= 1)
    }

    async fn app_device(&self, device: DeviceId) -> Result<Option<AppDevice>, StoreError> {
        sqlx::query("SELECT * FROM app_devices WHERE device_id = $1")
            .bind(device.0)
            .fetch_optional(self.pool())
            .await
            .map_err(store_err)?
            .as_ref()
            .map(app_device)
            .transpose()
    }

    async fn app_devices_of(&self, user: UserId) -> Result<Vec<AppDevice>, StoreError> {
        sqlx::query("SELECT * FROM app_devices WHERE user_id = $1")
            .bind(user.0)
            .fetch_all(self.pool())
            .await
            .map_err(store_err)?
            .iter()
            .map(app_device)
            .collect()
    }

    async fn spend_nonce(
        &self,
        device: DeviceId,
        nonce: &str,
        keep_until_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM device_nonces WHERE device_id = $1 AND keep_until_ms < $2")
            .bind(device.0)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        let inserted = sqlx::query(
            "INSERT INTO device_nonces (device_id, nonce, keep_until_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (device_id, nonce) DO NOTHING",
        )
        .bind(device.0)
        .bind(nonce)
        .bind(keep_until_ms)
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        tx.commit().await.map_err(store_err)?;
        Ok(inserted.rows_affected() == 1)
    }

    async fn touch_app_device(
        &self,
        device: DeviceId,
        seen_ms: i64,
        poll_until_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE app_devices SET last_seen_ms = $2, poll_until_ms = $3 WHERE device_id = $1")
            .bind(device.0)
            .bind(seen_ms)
            .bind(poll_until_ms)
            .execute(self.writer())
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn set_app_facts(&self, device: DeviceId, facts: &AppFacts) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE app_devices SET model = $2, os_version = $3, app_version = $4, push_enabled = $5 \
             WHERE device_id = $1",
        )
        .bind(device.0)
        .bind(&facts.model)
        .bind(&facts.os_version)
        .bind(&facts.app_version)
        .bind(i64::from(facts.push_enabled))
        .execute(self.writer())
        .await
        .map_err(store_err)?;
        Ok(())
    }

    async fn create_push(&self, p: &Push, since_ms: i64, rate_limit: u32) -> Result<CreatePush, StoreError> {
        let mut tx = self.write_tx().await?;
        // Open pushes past their time end here, so they do not block the device.
        sqlx::query(
            "UPDATE pushes SET updated_ms = $2, state = CASE \
               WHEN state = 'delivered' THEN 'expired' \
               WHEN is_async = 1 THEN 'unacknowledged' ELSE 'unreachable' END \
             WHERE device_id = $1 AND state IN ('pending', 'delivered') AND \
               (expires_ms <= $2 OR (state = 'pending' AND is_async = 0 AND ack_deadline_ms <= $2))",
        )
        .bind(p.device_id.0)
        .bind(p.created_ms)
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        let recent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pushes WHERE device_id = $1 AND created_ms > $2")
            .bind(p.device_id.0)
            .bind(since_ms)
            .fetch_one(&mut *tx)
            .await
            .map_err(store_err)?;
        if recent >= i64::from(rate_limit) {
            return Ok(CreatePush::RateLimited);
        }
        let inserted = sqlx::query(
            "INSERT INTO pushes (id, session_id, org_id, user_id, device_id, state, number, choices, sp_name, sp_logo, \
             is_async, created_ms, ack_deadline_ms, expires_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&p.id)
        .bind(&p.session_id)
        .bind(p.org_id.0)
        .bind(p.user_id.0)
        .bind(p.device_id.0)
        .bind(p.state.as_str())
        .bind(p.number.map(i64::from))
        .bind(push_choices(&p.choices))
        .bind(&p.sp_name)
        .bind(&p.sp_logo)
        .bind(i64::from(p.is_async))
        .bind(p.created_ms)
        .bind(p.ack_deadline_ms)
        .bind(p.expires_ms)
        .bind(p.updated_ms)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            // The partial unique index: the device already has an open push.
            Err(e) if is_unique_violation(&e) => return Ok(CreatePush::Busy),
            Err(e) => return Err(store_err(e)),
        }
        tx.commit().await.map_err(store_err)?;
        Ok(CreatePush::Created)
    }

    async fn push(&self, id: &str) -> Result<Option<Push>, StoreError> {
        sqlx::query("SELECT * FROM pushes WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(store_err)?
            .as_ref()
            .map(push)
            .transpose()
    }

    async fn session_push(&self, session_id: &str) -> Result<Option<Push>, StoreError> {
        sqlx::query("SELECT * FROM pushes WHERE session_id = $1 ORDER BY created_ms DESC, rowid DESC LIMIT 1")
            .bind(session_id)
            .fetch_optional(self.pool())
            .await
            .map_err(store_err)?
            .as_ref()
            .map(push)
            .transpose()
    }

    async fn open_pushes(&self, device: DeviceId) -> Result<Vec<Push>, StoreError> {
        sqlx::query("SELECT * FROM pushes WHERE device_id = $1 AND state IN ('pending', 'delivered')")
            .bind(device.0)
            .fetch_all(self.pool())
            .await
            .map_err(store_err)?
            .iter()
            .map(push)
            .collect()
    }

    async fn cancelled_pushes(&self, device: DeviceId, since_ms: i64) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT id FROM pushes WHERE device_id = $1 AND state = 'cancelled' AND updated_ms > $2 ORDER BY updated_ms",
        )
        .bind(device.0)
        .bind(since_ms)
        .fetch_all(self.pool())
        .await
        .map_err(store_err)
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
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE pushes SET state = $2, updated_ms = $3 WHERE id = $1 AND state IN ({})",
            push_state_list(from)
        )))
        .bind(id)
        .bind(to.as_str())
        .bind(now_ms)
        .execute(self.writer())
        .await
        .map_err(store_err)?;
        Ok(done.rows_affected() == 1)
    }
}
