//! The jobs queue and the report's data on PostgreSQL.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use twofold_core::StoreError;
use twofold_core::ids::OrgId;
use twofold_core::store::{JobRecord, JobStore, NewDevice, NewUser, ReportDevice, ReportRow};

use super::{PostgresStore, get, store_err};

fn job(row: &PgRow) -> Result<JobRecord, StoreError> {
    Ok(JobRecord {
        token: get(row, "token")?,
        org_id: OrgId(get(row, "org_id")?),
        kind: get(row, "kind")?,
        status: get(row, "status")?,
        result: get(row, "result")?,
        created_ms: get(row, "created_ms")?,
        finished_ms: get(row, "finished_ms")?,
    })
}

#[async_trait]
impl JobStore for PostgresStore {
    async fn claim_job(&self, now_ms: i64, lease_expired_ms: i64) -> Result<Option<JobRecord>, StoreError> {
        sqlx::query(
            "UPDATE jobs SET status = 'in_progress', claimed_ms = $1 WHERE token = ( \
                 SELECT token FROM jobs WHERE status = 'pending' \
                 OR (status = 'in_progress' AND claimed_ms < $2) ORDER BY created_ms LIMIT 1 \
                 FOR UPDATE SKIP LOCKED) \
             AND (status = 'pending' OR (status = 'in_progress' AND claimed_ms < $2)) \
             RETURNING token, org_id, kind, status, result, created_ms, finished_ms",
        )
        .bind(now_ms)
        .bind(lease_expired_ms)
        .fetch_optional(self.pool())
        .await
        .map_err(store_err)?
        .as_ref()
        .map(job)
        .transpose()
    }

    async fn finish_job(&self, token: &str, status: &str, result: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET status = $2, result = $3, finished_ms = $4 WHERE token = $1")
            .bind(token)
            .bind(status)
            .bind(result)
            .bind(now_ms)
            .execute(self.pool())
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn latest_finished_job(
        &self,
        org: OrgId,
        kind: &str,
        since_ms: i64,
    ) -> Result<Option<JobRecord>, StoreError> {
        sqlx::query(
            "SELECT token, org_id, kind, status, result, created_ms, finished_ms FROM jobs \
             WHERE org_id = $1 AND kind = $2 AND status = 'done' AND finished_ms > $3 ORDER BY finished_ms DESC LIMIT 1",
        )
        .bind(org.0)
        .bind(kind)
        .bind(since_ms)
        .fetch_optional(self.pool())
        .await
        .map_err(store_err)?
        .as_ref()
        .map(job)
        .transpose()
    }

    async fn bulk_insert(&self, users: &[(NewUser, Vec<NewDevice>)]) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let mut inserted = 0;
        for (u, devices) in users {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO users (org_id, username, username_fold, fname, lname, email, role, status, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'ACTIVE', $8) ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(u.org_id.0)
            .bind(&u.username)
            .bind(&u.username_fold)
            .bind(&u.profile.fname)
            .bind(&u.profile.lname)
            .bind(&u.profile.email)
            .bind(u.profile.role.as_str())
            .bind(u.created_ms)
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_err)?;
            let Some(user_id) = id else { continue };
            inserted += 1;
            for (i, d) in devices.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO devices (id, uuid, user_id, org_id, kind, position, nickname, phone, email, serial, oath_kind, \
                     oath_algorithm, oath_digits, oath_period, sealed_secret, counter, enrolled_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                )
                .bind(d.id.0)
                .bind(&d.uuid)
                .bind(user_id)
                .bind(d.org_id.0)
                .bind(d.kind.wire_name())
                .bind(i64::try_from(i).unwrap_or(0) + 1)
                .bind(format!("{} 1", d.kind.nickname_stem()))
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
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
            }
        }
        tx.commit().await.map_err(store_err)?;
        Ok(inserted)
    }

    async fn report_page(&self, org: OrgId, after_user: i64, users: u32) -> Result<Vec<ReportRow>, StoreError> {
        let rows = sqlx::query(
            "WITH page AS (SELECT * FROM users WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3) \
             SELECT p.id AS user_id, p.username, p.status, p.activation_expires_ms, p.created_ms, p.email, p.last_login_ms, \
                    (SELECT MAX(s.bypass_until_ms) FROM user_services s WHERE s.user_id = p.id) AS bypass_until_ms, \
                    (SELECT COUNT(*) FROM devices c WHERE c.user_id = p.id) AS device_count, \
                    d.id AS device_id, d.kind, d.position, d.phone, d.email AS device_email, d.serial, d.enrolled_ms, \
                    d.last_used_ms \
             FROM page p LEFT JOIN devices d ON d.user_id = p.id ORDER BY p.id, d.position",
        )
        .bind(org.0)
        .bind(after_user)
        .bind(i64::from(users))
        .fetch_all(self.pool())
        .await
        .map_err(store_err)?;
        rows.iter()
            .map(|r| {
                let device_id: Option<i64> = get(r, "device_id")?;
                let device = match device_id {
                    Some(id) => Some(ReportDevice {
                        id,
                        kind: get(r, "kind")?,
                        position: get(r, "position")?,
                        phone: get(r, "phone")?,
                        email: get(r, "device_email")?,
                        serial: get(r, "serial")?,
                        enrolled_ms: get(r, "enrolled_ms")?,
                        last_used_ms: get(r, "last_used_ms")?,
                    }),
                    None => None,
                };
                Ok(ReportRow {
                    user_id: get(r, "user_id")?,
                    username: get(r, "username")?,
                    status: get(r, "status")?,
                    activation_expires_ms: get(r, "activation_expires_ms")?,
                    created_ms: get(r, "created_ms")?,
                    email: get(r, "email")?,
                    last_login_ms: get(r, "last_login_ms")?,
                    bypass_until_ms: get(r, "bypass_until_ms")?,
                    device_count: get(r, "device_count")?,
                    device,
                })
            })
            .collect()
    }
}
