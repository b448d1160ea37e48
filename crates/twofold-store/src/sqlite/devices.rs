//! Devices, pairing sessions and SMS usage on SQLite.

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, Row, params};
use twofold_core::StoreError;
use twofold_core::device::{Device, DeviceId, DeviceType};
use twofold_core::ids::{OrgId, UserId};
use twofold_core::store::{
    AttemptOutcome, DeviceStore, NewDevice, PairOutcome, PairingSession, SmsReservation, SmsUsage,
};

use super::SqliteStore;
use super::db::{Db, Sql, is_unique_violation};
use crate::rows::{device_type, oath};

/// The columns `device` reads, in this order (by position: see `users::USER_COLUMNS`).
const DEVICE_COLUMNS: &str = "id, uuid, user_id, org_id, kind, position, nickname, phone, email, serial, oath_kind, \
                              oath_algorithm, oath_digits, oath_period, sealed_secret, counter, enrolled_ms, last_used_ms";

fn device(row: &Row<'_>) -> Sql<Device> {
    let kind: String = row.get(4)?;
    Ok(Device {
        id: DeviceId(row.get(0)?),
        uuid: row.get(1)?,
        user_id: UserId(row.get(2)?),
        org_id: OrgId(row.get(3)?),
        kind: device_type(&kind)?,
        position: row.get(5)?,
        nickname: row.get(6)?,
        phone: row.get(7)?,
        email: row.get(8)?,
        serial: row.get(9)?,
        oath: oath(row.get(10)?, row.get(11)?, row.get(12)?, row.get(13)?)?,
        sealed_secret: row.get(14)?,
        counter: row.get(15)?,
        enrolled_ms: row.get(16)?,
        last_used_ms: row.get(17)?,
    })
}

fn session(row: &Row<'_>) -> Sql<PairingSession> {
    let kind: String = row.get("kind")?;
    let attempts: i64 = row.get("attempts")?;
    Ok(PairingSession {
        id: row.get("id")?,
        device: NewDevice {
            id: DeviceId(row.get("device_id")?),
            uuid: row.get("device_uuid")?,
            user_id: UserId(row.get("user_id")?),
            org_id: OrgId(row.get("org_id")?),
            kind: device_type(&kind)?,
            phone: row.get("phone")?,
            email: row.get("email")?,
            serial: row.get("serial")?,
            oath: oath(
                row.get("oath_kind")?,
                row.get("oath_algorithm")?,
                row.get("oath_digits")?,
                row.get("oath_period")?,
            )?,
            sealed_secret: row.get("sealed_secret")?,
            counter: row.get("counter")?,
            enrolled_ms: row.get("created_ms")?,
        },
        code_hash: row.get("code_hash")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        expires_ms: row.get("expires_ms")?,
        state: row.get("state")?,
    })
}

/// The first free default nickname ("SMS 1", "SMS 2", ...) among the user's devices.
fn default_nickname_on(c: &Connection, user: i64, kind: DeviceType) -> Sql<String> {
    let taken: Vec<String> = c.all("SELECT nickname FROM devices WHERE user_id = ?1", [user], |r| {
        Ok(r.get(0)?)
    })?;
    let stem = kind.nickname_stem();
    Ok((1..)
        .map(|n| format!("{stem} {n}"))
        .find(|name| !taken.contains(name))
        .unwrap_or_else(|| stem.to_string()))
}

/// Rewrites positions of the user's devices as 1..n in their current order. Runs inside
/// the caller's savepoint (a `Savepoint` derefs to the `Connection` taken here).
pub(super) fn renumber(c: &Connection, user: i64) -> Sql<()> {
    let ids: Vec<i64> = c.all(
        "SELECT id FROM devices WHERE user_id = ?1 ORDER BY position, enrolled_ms, id",
        [user],
        |r| Ok(r.get(0)?),
    )?;
    for (i, id) in ids.iter().enumerate() {
        c.run(
            "UPDATE devices SET position = ?2 WHERE id = ?1",
            params![id, i64::try_from(i).unwrap_or(i64::MAX) + 1],
        )?;
    }
    Ok(())
}

/// The INSERT of one device row; [`device_values`] gives its 17 values. Shared by pairing
/// and by bulk seeding, so a new device column is added in one place.
pub(super) const INSERT_DEVICE: &str = "INSERT INTO devices (id, uuid, user_id, org_id, kind, position, nickname, \
     phone, email, serial, oath_kind, oath_algorithm, oath_digits, oath_period, sealed_secret, counter, enrolled_ms) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

/// The values of [`INSERT_DEVICE`] for `d`, owned by `user_id` at `position`.
pub(super) fn device_values(d: &NewDevice, user_id: i64, position: i64, nickname: String) -> [Value; 17] {
    [
        Value::from(d.id.0),
        Value::from(d.uuid.clone()),
        Value::from(user_id),
        Value::from(d.org_id.0),
        Value::from(d.kind.wire_name().to_string()),
        Value::from(position),
        Value::from(nickname),
        Value::from(d.phone.clone()),
        Value::from(d.email.clone()),
        Value::from(d.serial.clone()),
        Value::from(d.oath.map(|o| o.kind.as_str().to_string())),
        Value::from(d.oath.map(|o| o.algorithm.to_string())),
        Value::from(d.oath.map(|o| i64::from(o.digits))),
        Value::from(d.oath.map(|o| i64::from(o.period))),
        Value::from(d.sealed_secret.clone()),
        Value::from(d.counter),
        Value::from(d.enrolled_ms),
    ]
}

/// Inside a pairing transaction: checks the user is not SUSPENDED and has fewer than
/// `max_devices` devices, inserts the device at the next position with a default
/// nickname, and makes the user ACTIVE. The caller commits only on `Paired`.
pub(super) fn insert_device(c: &Connection, d: &NewDevice, max_devices: u32) -> Sql<PairOutcome> {
    let status: Option<String> = c.one("SELECT status FROM users WHERE id = ?1", [d.user_id.0], |r| {
        Ok(r.get(0)?)
    })?;
    if status.as_deref().is_none_or(|s| s == "SUSPENDED") {
        return Ok(PairOutcome::UserNotPairable);
    }
    let count: i64 = c
        .one("SELECT COUNT(*) FROM devices WHERE user_id = ?1", [d.user_id.0], |r| {
            Ok(r.get(0)?)
        })?
        .unwrap_or(0);
    if count >= i64::from(max_devices) {
        return Ok(PairOutcome::TooManyDevices);
    }
    let nickname = default_nickname_on(c, d.user_id.0, d.kind)?;
    let inserted = c.one(
        &format!("{INSERT_DEVICE} RETURNING {DEVICE_COLUMNS}"),
        rusqlite::params_from_iter(device_values(d, d.user_id.0, count + 1, nickname)),
        device,
    );
    let paired = match inserted {
        Ok(Some(paired)) => paired,
        Ok(None) => return Err(StoreError::Unavailable("device insert returned no row".into()).into()),
        Err(f) if is_unique_violation(&f) => return Ok(PairOutcome::Conflict),
        Err(f) => return Err(f),
    };
    c.run("UPDATE users SET status = 'ACTIVE' WHERE id = ?1", [d.user_id.0])?;
    Ok(PairOutcome::Paired(Box::new(paired)))
}

#[async_trait]
impl DeviceStore for SqliteStore {
    async fn pair_device(
        &self,
        d: &NewDevice,
        max_devices: u32,
        session_id: Option<&str>,
    ) -> Result<PairOutcome, StoreError> {
        self.db()
            .write(|c| {
                let tx = c.savepoint()?;
                if let Some(id) = session_id {
                    let closed = tx.run(
                        "UPDATE pairing_sessions SET state = 'done' WHERE id = ?1 AND state = 'open'",
                        [id],
                    )?;
                    if closed != 1 {
                        return Ok(PairOutcome::SessionGone);
                    }
                }
                let outcome = insert_device(&tx, d, max_devices)?;
                if matches!(outcome, PairOutcome::Paired(_)) {
                    tx.commit()?;
                }
                Ok(outcome)
            })
            .await
    }

    async fn devices_of(&self, user: UserId) -> Result<Vec<Device>, StoreError> {
        self.db().read(|c| {
            c.all(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = ?1 ORDER BY position, id"),
                [user.0],
                device,
            )
        })
    }

    async fn unpair(&self, user: UserId, which: Option<DeviceId>) -> Result<u64, StoreError> {
        self.db()
            .write(|c| {
                let tx = c.savepoint()?;
                let removed = match which {
                    Some(id) => tx.run(
                        "DELETE FROM devices WHERE user_id = ?1 AND id = ?2",
                        params![user.0, id.0],
                    )?,
                    None => tx.run("DELETE FROM devices WHERE user_id = ?1", [user.0])?,
                };
                if removed > 0 {
                    renumber(&tx, user.0)?;
                    // A user whose last device is gone must pair again (spec §4.2).
                    tx.run(
                        "UPDATE users SET status = 'PENDING_CHANGE_DEVICE' WHERE id = ?1 AND status = 'ACTIVE' \
                         AND NOT EXISTS (SELECT 1 FROM devices WHERE user_id = ?1)",
                        [user.0],
                    )?;
                }
                tx.commit()?;
                Ok(u64::try_from(removed).unwrap_or(u64::MAX))
            })
            .await
    }

    async fn move_device(&self, user: UserId, id: DeviceId, position: i64) -> Result<bool, StoreError> {
        self.db()
            .write(|c| {
                let tx = c.savepoint()?;
                let current: Option<i64> = tx.one(
                    "SELECT position FROM devices WHERE user_id = ?1 AND id = ?2",
                    params![user.0, id.0],
                    |r| Ok(r.get(0)?),
                )?;
                let Some(current) = current else {
                    return Ok(false);
                };
                // Shift the devices between the old and the new place by one, then drop it in.
                let shift = if position < current {
                    "UPDATE devices SET position = position + 1 WHERE user_id = ?1 AND position >= ?2 AND position < ?3"
                } else {
                    "UPDATE devices SET position = position - 1 WHERE user_id = ?1 AND position <= ?2 AND position > ?3"
                };
                tx.run(shift, params![user.0, position, current])?;
                tx.run(
                    "UPDATE devices SET position = ?2 WHERE id = ?1",
                    params![id.0, position],
                )?;
                renumber(&tx, user.0)?;
                tx.commit()?;
                Ok(true)
            })
            .await
    }

    async fn rename_device(&self, user: UserId, id: DeviceId, nickname: &str) -> Result<Option<bool>, StoreError> {
        self.db()
            .write(|c| {
                match c.run(
                    "UPDATE devices SET nickname = ?3 WHERE user_id = ?1 AND id = ?2",
                    params![user.0, id.0, nickname],
                ) {
                    Ok(1) => Ok(Some(true)),
                    Ok(_) => Ok(None),
                    Err(f) if is_unique_violation(&f) => Ok(Some(false)),
                    Err(f) => Err(f),
                }
            })
            .await
    }

    async fn target_owner(&self, org: OrgId, kind: DeviceType, target: &str) -> Result<Option<UserId>, StoreError> {
        // SMS and voice share phone numbers: a number is one person's whatever the channel.
        let sql = match kind {
            DeviceType::Sms | DeviceType::Voice => {
                "SELECT user_id FROM devices WHERE org_id = ?1 AND (phone = ?2 OR phone LIKE ?2 || ',%') LIMIT 1"
            }
            DeviceType::Email => "SELECT user_id FROM devices WHERE org_id = ?1 AND lower(email) = lower(?2) LIMIT 1",
            DeviceType::AuthenticatorApp
            | DeviceType::HardwareToken
            | DeviceType::YubiKey
            | DeviceType::Android
            | DeviceType::IPhone
            | DeviceType::Desktop => "SELECT user_id FROM devices WHERE org_id = ?1 AND serial = ?2 LIMIT 1",
        };
        let owner: Option<i64> = self
            .db()
            .read(|c| c.one(sql, params![org.0, target], |r| Ok(r.get(0)?)))?;
        Ok(owner.map(UserId))
    }

    async fn create_pairing_session(&self, s: &PairingSession) -> Result<(), StoreError> {
        let d = &s.device;
        self.db()
            .write(|c| {
                c.run(
                    "INSERT INTO pairing_sessions (id, org_id, user_id, device_id, device_uuid, kind, phone, email, serial, \
                     oath_kind, oath_algorithm, oath_digits, oath_period, sealed_secret, counter, code_hash, attempts, \
                     expires_ms, state, created_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
                    params![
                        s.id,
                        d.org_id.0,
                        d.user_id.0,
                        d.id.0,
                        d.uuid,
                        d.kind.wire_name(),
                        d.phone,
                        d.email,
                        d.serial,
                        d.oath.map(|o| o.kind.as_str()),
                        d.oath.map(|o| o.algorithm),
                        d.oath.map(|o| i64::from(o.digits)),
                        d.oath.map(|o| i64::from(o.period)),
                        d.sealed_secret,
                        d.counter,
                        s.code_hash,
                        i64::from(s.attempts),
                        s.expires_ms,
                        s.state,
                        d.enrolled_ms,
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn pairing_session(&self, id: &str) -> Result<Option<PairingSession>, StoreError> {
        self.db()
            .read(|c| c.one("SELECT * FROM pairing_sessions WHERE id = ?1", [id], session))
    }

    async fn fail_pairing_attempt(&self, id: &str, max_attempts: u32) -> Result<AttemptOutcome, StoreError> {
        let attempts: Option<i64> = self
            .db()
            .write(|c| {
                c.one(
                    "UPDATE pairing_sessions SET attempts = attempts + 1, \
                     state = CASE WHEN attempts + 1 >= ?2 THEN 'closed' ELSE state END \
                     WHERE id = ?1 AND state = 'open' RETURNING attempts",
                    params![id, i64::from(max_attempts)],
                    |r| Ok(r.get(0)?),
                )
            })
            .await?;
        Ok(match attempts {
            None => AttemptOutcome::Gone,
            Some(n) if n >= i64::from(max_attempts) => AttemptOutcome::Exhausted,
            Some(_) => AttemptOutcome::Remaining,
        })
    }

    async fn sms_usage(&self, user: UserId, day: i64) -> Result<SmsUsage, StoreError> {
        let row: Option<(i64, i64)> = self.db().read(|c| {
            c.one(
                "SELECT sent, claimed FROM sms_usage WHERE user_id = ?1 AND day = ?2",
                params![user.0, day],
                |r| Ok((r.get("sent")?, r.get("claimed")?)),
            )
        })?;
        let Some((sent, claimed)) = row else {
            return Ok(SmsUsage::default());
        };
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
        self.db()
            .write(|c| {
                let tx = c.savepoint()?;
                let (sent, claimed): (i64, i64) = tx
                    .one(
                        "SELECT sent, claimed FROM sms_usage WHERE user_id = ?1 AND day = ?2",
                        params![user.0, day],
                        |r| Ok((r.get("sent")?, r.get("claimed")?)),
                    )?
                    .unwrap_or((0, 0));
                if claimed >= i64::from(claimed_limit) {
                    return Ok(SmsReservation::ClaimedLimit);
                }
                if sent - claimed >= i64::from(unclaimed_limit) {
                    return Ok(SmsReservation::UnclaimedLimit);
                }
                tx.run(
                    "INSERT INTO sms_usage (user_id, day, sent, claimed) VALUES (?1, ?2, 1, 0) \
                     ON CONFLICT (user_id, day) DO UPDATE SET sent = sent + 1",
                    params![user.0, day],
                )?;
                tx.commit()?;
                Ok(SmsReservation::Reserved)
            })
            .await
    }

    async fn record_sms(&self, user: UserId, day: i64, sent: i32, claimed: u32) -> Result<(), StoreError> {
        self.db().write(|c| count_sms(c, user, day, sent, claimed)).await
    }
}

/// Adds `sent` and `claimed` to the user's codes of `day`.
pub(super) fn count_sms(c: &Connection, user: UserId, day: i64, sent: i32, claimed: u32) -> Sql<()> {
    c.run(
        "INSERT INTO sms_usage (user_id, day, sent, claimed) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (user_id, day) DO UPDATE SET sent = sent + excluded.sent, claimed = claimed + excluded.claimed",
        params![user.0, day, i64::from(sent), i64::from(claimed)],
    )?;
    Ok(())
}
