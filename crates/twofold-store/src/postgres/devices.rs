//! Devices, pairing sessions and SMS usage on PostgreSQL.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use twofold_core::StoreError;
use twofold_core::device::{Device, DeviceId, DeviceType};
use twofold_core::ids::{OrgId, UserId};
use twofold_core::store::{
    AttemptOutcome, DeviceStore, NewDevice, PairOutcome, PairingSession, SmsReservation, SmsUsage,
};

use super::{PostgresStore, Tx, get, is_unique_violation, lock_user, store_err};
use crate::rows::{device_type, oath};

const DEVICE_COLUMNS: &str = "id, uuid, user_id, org_id, kind, position, nickname, phone, email, serial, oath_kind, \
                              oath_algorithm, oath_digits, oath_period, sealed_secret, counter, enrolled_ms, last_used_ms";

fn device(row: &PgRow) -> Result<Device, StoreError> {
    let kind: String = get(row, "kind")?;
    Ok(Device {
        id: DeviceId(get(row, "id")?),
        uuid: get(row, "uuid")?,
        user_id: UserId(get(row, "user_id")?),
        org_id: OrgId(get(row, "org_id")?),
        kind: device_type(&kind)?,
        position: get(row, "position")?,
        nickname: get(row, "nickname")?,
        phone: get(row, "phone")?,
        email: get(row, "email")?,
        serial: get(row, "serial")?,
        oath: oath(
            get(row, "oath_kind")?,
            get(row, "oath_algorithm")?,
            get(row, "oath_digits")?,
            get(row, "oath_period")?,
        )?,
        sealed_secret: get(row, "sealed_secret")?,
        counter: get(row, "counter")?,
        enrolled_ms: get(row, "enrolled_ms")?,
        last_used_ms: get(row, "last_used_ms")?,
    })
}

fn session(row: &PgRow) -> Result<PairingSession, StoreError> {
    let kind: String = get(row, "kind")?;
    let attempts: i64 = get(row, "attempts")?;
    Ok(PairingSession {
        id: get(row, "id")?,
        device: NewDevice {
            id: DeviceId(get(row, "device_id")?),
            uuid: get(row, "device_uuid")?,
            user_id: UserId(get(row, "user_id")?),
            org_id: OrgId(get(row, "org_id")?),
            kind: device_type(&kind)?,
            phone: get(row, "phone")?,
            email: get(row, "email")?,
            serial: get(row, "serial")?,
            oath: oath(
                get(row, "oath_kind")?,
                get(row, "oath_algorithm")?,
                get(row, "oath_digits")?,
                get(row, "oath_period")?,
            )?,
            sealed_secret: get(row, "sealed_secret")?,
            counter: get(row, "counter")?,
            enrolled_ms: get(row, "created_ms")?,
        },
        code_hash: get(row, "code_hash")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        expires_ms: get(row, "expires_ms")?,
        state: get(row, "state")?,
    })
}

/// The first free default nickname ("SMS 1", "SMS 2", ...) among the user's devices.
async fn default_nickname(tx: &mut Tx, user: i64, kind: DeviceType) -> Result<String, StoreError> {
    let taken: Vec<String> = sqlx::query_scalar("SELECT nickname FROM devices WHERE user_id = $1")
        .bind(user)
        .fetch_all(&mut **tx)
        .await
        .map_err(store_err)?;
    let stem = kind.nickname_stem();
    Ok((1..)
        .map(|n| format!("{stem} {n}"))
        .find(|name| !taken.contains(name))
        .unwrap_or_else(|| stem.to_string()))
}

/// Rewrites positions of the user's devices as 1..n in their current order.
pub(super) async fn renumber(tx: &mut Tx, user: i64) -> Result<(), StoreError> {
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM devices WHERE user_id = $1 ORDER BY position, enrolled_ms, id")
            .bind(user)
            .fetch_all(&mut **tx)
            .await
            .map_err(store_err)?;
    for (i, id) in ids.iter().enumerate() {
        sqlx::query("UPDATE devices SET position = $2 WHERE id = $1")
            .bind(id)
            .bind(i64::try_from(i).unwrap_or(i64::MAX) + 1)
            .execute(&mut **tx)
            .await
            .map_err(store_err)?;
    }
    Ok(())
}

/// Inside a pairing transaction: locks the user's row (which orders concurrent pairings
/// of one user across nodes: count, position, default nickname), checks the user is not
/// SUSPENDED and has fewer than `max_devices` devices, inserts the device at the next
/// position with a default nickname, and makes the user ACTIVE. The caller commits only
/// on `Paired`.
pub(super) async fn insert_device(tx: &mut Tx, d: &NewDevice, max_devices: u32) -> Result<PairOutcome, StoreError> {
    let status = lock_user(tx, d.user_id.0).await?;
    if status.as_deref().is_none_or(|s| s == "SUSPENDED") {
        return Ok(PairOutcome::UserNotPairable);
    }
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices WHERE user_id = $1")
        .bind(d.user_id.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(store_err)?;
    if count >= i64::from(max_devices) {
        return Ok(PairOutcome::TooManyDevices);
    }
    let nickname = default_nickname(tx, d.user_id.0, d.kind).await?;
    let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO devices (id, uuid, user_id, org_id, kind, position, nickname, phone, email, serial, oath_kind, \
         oath_algorithm, oath_digits, oath_period, sealed_secret, counter, enrolled_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING {DEVICE_COLUMNS}"
    )))
    .bind(d.id.0)
    .bind(&d.uuid)
    .bind(d.user_id.0)
    .bind(d.org_id.0)
    .bind(d.kind.wire_name())
    .bind(count + 1)
    .bind(&nickname)
    .bind(&d.phone)
    .bind(&d.email)
    .bind(&d.serial)
    .bind(d.oath.map(|o| o.kind.as_str()))
    .bind(d.oath.map(|o| o.algorithm))
    .bind(d.oath.map(|o| i64::from(o.digits)))
    .bind(d.oath.map(|o| i64::from(o.period)))
    .bind(&d.sealed_secret)
    .bind(d.counter)
    .bind(d.enrolled_ms)
    .fetch_one(&mut **tx)
    .await;
    let row = match inserted {
        Ok(row) => row,
        Err(e) if is_unique_violation(&e) => return Ok(PairOutcome::Conflict),
        Err(e) => return Err(store_err(e)),
    };
    let paired = device(&row)?;
    sqlx::query("UPDATE users SET status = 'ACTIVE' WHERE id = $1")
        .bind(d.user_id.0)
        .execute(&mut **tx)
        .await
        .map_err(store_err)?;
    Ok(PairOutcome::Paired(Box::new(paired)))
}

#[async_trait]
impl DeviceStore for PostgresStore {
    async fn pair_device(
        &self,
        d: &NewDevice,
        max_devices: u32,
        session_id: Option<&str>,
    ) -> Result<PairOutcome, StoreError> {
        let mut tx = self.begin().await?;
        if let Some(id) = session_id {
            let closed = sqlx::query("UPDATE pairing_sessions SET state = 'done' WHERE id = $1 AND state = 'open'")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
            if closed.rows_affected() != 1 {
                return Ok(PairOutcome::SessionGone);
            }
        }
        let outcome = insert_device(&mut tx, d, max_devices).await?;
        if matches!(outcome, PairOutcome::Paired(_)) {
            tx.commit().await.map_err(store_err)?;
        }
        Ok(outcome)
    }

    async fn devices_of(&self, user: UserId) -> Result<Vec<Device>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = $1 ORDER BY position, id"
        )))
        .bind(user.0)
        .fetch_all(self.pool())
        .await
        .map_err(store_err)?
        .iter()
        .map(device)
        .collect()
    }

    async fn unpair(&self, user: UserId, which: Option<DeviceId>) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, user.0).await?;
        let removed = match which {
            Some(id) => sqlx::query("DELETE FROM devices WHERE user_id = $1 AND id = $2")
                .bind(user.0)
                .bind(id.0),
            None => sqlx::query("DELETE FROM devices WHERE user_id = $1").bind(user.0),
        }
        .execute(&mut *tx)
        .await
        .map_err(store_err)?
        .rows_affected();
        if removed > 0 {
            renumber(&mut tx, user.0).await?;
            // A user whose last device is gone must pair again (spec §4.2).
            sqlx::query(
                "UPDATE users SET status = 'PENDING_CHANGE_DEVICE' WHERE id = $1 AND status = 'ACTIVE' \
                 AND NOT EXISTS (SELECT 1 FROM devices WHERE user_id = $1)",
            )
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        }
        tx.commit().await.map_err(store_err)?;
        Ok(removed)
    }

    async fn move_device(&self, user: UserId, id: DeviceId, position: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, user.0).await?;
        let current: Option<i64> = sqlx::query_scalar("SELECT position FROM devices WHERE user_id = $1 AND id = $2")
            .bind(user.0)
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_err)?;
        let Some(current) = current else {
            return Ok(false);
        };
        // Shift the devices between the old and the new place by one, then drop it in.
        let shift = if position < current {
            "UPDATE devices SET position = position + 1 WHERE user_id = $1 AND position >= $2 AND position < $3"
        } else {
            "UPDATE devices SET position = position - 1 WHERE user_id = $1 AND position <= $2 AND position > $3"
        };
        sqlx::query(shift)
            .bind(user.0)
            .bind(position)
            .bind(current)
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        sqlx::query("UPDATE devices SET position = $2 WHERE id = $1")
            .bind(id.0)
            .bind(position)
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        renumber(&mut tx, user.0).await?;
        tx.commit().await.map_err(store_err)?;
        Ok(true)
    }

    async fn rename_device(&self, user: UserId, id: DeviceId, nickname: &str) -> Result<Option<bool>, StoreError> {
        let result = sqlx::query("UPDATE devices SET nickname = $3 WHERE user_id = $1 AND id = $2")
            .bind(user.0)
            .bind(id.0)
            .bind(nickname)
            .execute(self.pool())
            .await;
        match result {
            Ok(done) if done.rows_affected() == 1 => Ok(Some(true)),
            Ok(_) => Ok(None),
            Err(e) if is_unique_violation(&e) => Ok(Some(false)),
            Err(e) => Err(store_err(e)),
        }
    }

    async fn target_owner(&self, org: OrgId, kind: DeviceType, target: &str) -> Result<Option<UserId>, StoreError> {
        // SMS and voice share phone numbers: a number is one person's whatever the channel.
        let sql = match kind {
            DeviceType::Sms | DeviceType::Voice => {
                "SELECT user_id FROM devices WHERE org_id = $1 AND (phone = $2 OR phone LIKE $2 || ',%') LIMIT 1"
            }
            DeviceType::Email => "SELECT user_id FROM devices WHERE org_id = $1 AND lower(email) = lower($2) LIMIT 1",
            DeviceType::AuthenticatorApp
            | DeviceType::HardwareToken
            | DeviceType::YubiKey
            | DeviceType::Android
            | DeviceType::IPhone
            | DeviceType::Desktop => "SELECT user_id FROM devices WHERE org_id = $1 AND serial = $2 LIMIT 1",
        };
        let owner: Option<i64> = sqlx::query_scalar(sql)
            .bind(org.0)
            .bind(target)
            .fetch_optional(self.pool())
            .await
            .map_err(store_err)?;
        Ok(owner.map(UserId))
    }

    async fn create_pairing_session(&self, s: &PairingSession) -> Result<(), StoreError> {
        let d = &s.device;
        sqlx::query(
            "INSERT INTO pairing_sessions (id, org_id, user_id, device_id, device_uuid, kind, phone, email, serial, \
             oath_kind, oath_algorithm, oath_digits, oath_period, sealed_secret, counter, code_hash, attempts, expires_ms, \
             state, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
        )
        .bind(&s.id)
        .bind(d.org_id.0)
        .bind(d.user_id.0)
        .bind(d.id.0)
        .bind(&d.uuid)
        .bind(d.kind.wire_name())
        .bind(&d.phone)
        .bind(&d.email)
        .bind(&d.serial)
        .bind(d.oath.map(|o| o.kind.as_str()))
        .bind(d.oath.map(|o| o.algorithm))
        .bind(d.oath.map(|o| i64::from(o.digits)))
        .bind(d.oath.map(|o| i64::from(o.period)))
        .bind(&d.sealed_secret)
        .bind(d.counter)
        .bind(&s.code_hash)
        .bind(i64::from(s.attempts))
        .bind(s.expires_ms)
        .bind(&s.state)
        .bind(d.enrolled_ms)
        .execute(self.pool())
        .await
        .map_err(store_err)?;
        Ok(())
    }

    async fn pairing_session(&self, id: &str) -> Result<Option<PairingSession>, StoreError> {
        sqlx::query("SELECT * FROM pairing_sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(store_err)?
            .as_ref()
            .map(session)
            .transpose()
    }

    async fn fail_pairing_attempt(&self, id: &str, max_attempts: u32) -> Result<AttemptOutcome, StoreError> {
        let attempts: Option<i64> = sqlx::query_scalar(
            "UPDATE pairing_sessions SET attempts = attempts + 1, \
             state = CASE WHEN attempts + 1 >= $2 THEN 'closed' ELSE state END \
             WHERE id = $1 AND state = 'open' RETURNING attempts",
        )
        .bind(id)
        .bind(i64::from(max_attempts))
        .fetch_optional(self.pool())
        .await
        .map_err(store_err)?;
        Ok(match attempts {
            None => AttemptOutcome::Gone,
            Some(n) if n >= i64::from(max_attempts) => AttemptOutcome::Exhausted,
            Some(_) => AttemptOutcome::Remaining,
        })
    }

    async fn sms_usage(&self, user: UserId, day: i64) -> Result<SmsUsage, StoreError> {
        let row = sqlx::query("SELECT sent, claimed FROM sms_usage WHERE user_id = $1 AND day = $2")
            .bind(user.0)
            .bind(day)
            .fetch_optional(self.pool())
            .await
            .map_err(store_err)?;
        let Some(row) = row else { return Ok(SmsUsage::default()) };
        let sent: i64 = get(&row, "sent")?;
        let claimed: i64 = get(&row, "claimed")?;
        Ok(SmsUsage {
            sent: u32::try_from(sent).unwrap_or(u32::MAX),
            claimed: u32::try_from(claimed).unwrap_or(u32::MAX),
        })
    }

    async fn reserve_sms(
        &self,
        user: UserId,
        day: i64,
        claimed_limit: u32,
        unclaimed_limit: u32,
    ) -> Result<SmsReservation, StoreError> {
        let mut tx = self.begin().await?;
        // Both limits are checked and the send counted under the user's row lock.
        lock_user(&mut tx, user.0).await?;
        let row = sqlx::query("SELECT sent, claimed FROM sms_usage WHERE user_id = $1 AND day = $2")
            .bind(user.0)
            .bind(day)
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_err)?;
        let (sent, claimed): (i64, i64) = match &row {
            Some(r) => (get(r, "sent")?, get(r, "claimed")?),
            None => (0, 0),
        };
        if claimed >= i64::from(claimed_limit) {
            return Ok(SmsReservation::ClaimedLimit);
        }
        if sent - claimed >= i64::from(unclaimed_limit) {
            return Ok(SmsReservation::UnclaimedLimit);
        }
        sqlx::query(
            "INSERT INTO sms_usage (user_id, day, sent, claimed) VALUES ($1, $2, 1, 0) \
             ON CONFLICT (user_id, day) DO UPDATE SET sent = sms_usage.sent + 1",
        )
        .bind(user.0)
        .bind(day)
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        tx.commit().await.map_err(store_err)?;
        Ok(SmsReservation::Reserved)
    }

    async fn record_sms(&self, user: UserId, day: i64, sent: i32, claimed: u32) -> Result<(), StoreError> {
        count_sms(self.pool(), user, day, sent, claimed)
            .await
            .map_err(store_err)
    }
}

/// Adds `sent` codes sent and `claimed` codes used to the user's count for `day`. Through
/// the pool or a transaction.
pub(super) async fn count_sms<'e>(
    ex: impl sqlx::PgExecutor<'e>,
    user: UserId,
    day: i64,
    sent: i32,
    claimed: u32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sms_usage (user_id, day, sent, claimed) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, day) DO UPDATE SET sent = sms_usage.sent + excluded.sent, claimed = sms_usage.claimed + excluded.claimed",
    )
    .bind(user.0)
    .bind(day)
    .bind(i64::from(sent))
    .bind(i64::from(claimed))
    .execute(ex)
    .await?;
    Ok(())
}
