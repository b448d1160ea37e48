//! The jobs queue and the report's data on SQLite.

use async_trait::async_trait;
use rusqlite::{Row, params};
use twofold_core::StoreError;
use twofold_core::ids::OrgId;
use twofold_core::store::{JobRecord, JobStore, NewDevice, NewUser, ReportDevice, ReportRow};

use super::SqliteStore;
use super::db::{Db, Sql};
use super::devices::{INSERT_DEVICE, device_values};

/// A `jobs` row (tokens.rs, which stores the jobs, reads them with it too).
pub(super) fn job(row: &Row<'_>) -> Sql<JobRecord> {
    Ok(JobRecord {
        token: row.get("token")?,
        org_id: OrgId(row.get("org_id")?),
        kind: row.get("kind")?,
        status: row.get("status")?,
        result: row.get("result")?,
        created_ms: row.get("created_ms")?,
        finished_ms: row.get("finished_ms")?,
    })
}

fn report_row(r: &Row<'_>) -> Sql<ReportRow> {
    let device_id: Option<i64> = r.get("device_id")?;
    let device = match device_id {
        Some(id) => Some(ReportDevice {
            id,
            kind: r.get("kind")?,
            position: r.get("position")?,
            phone: r.get("phone")?,
            email: r.get("device_email")?,
            serial: r.get("serial")?,
            enrolled_ms: r.get("enrolled_ms")?,
            last_used_ms: r.get("last_used_ms")?,
        }),
        None => None,
    };
    Ok(ReportRow {
        user_id: r.get("user_id")?,
        username: r.get("username")?,
        status: r.get("status")?,
        activation_expires_ms: r.get("activation_expires_ms")?,
        created_ms: r.get("created_ms")?,
        email: r.get("email")?,
        last_login_ms: r.get("last_login_ms")?,
        bypass_until_ms: r.get("bypass_until_ms")?,
        device_count: r.get("device_count")?,
        device,
    })
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn claim_job(&self, now_ms: i64, lease_expired_ms: i64) -> Result<Option<JobRecord>, StoreError> {
        self.db()
            .write(|c| {
                c.one(
                    "UPDATE jobs SET status = 'in_progress', claimed_ms = ?1 WHERE token = ( \
                         SELECT token FROM jobs WHERE status = 'pending' \
                         OR (status = 'in_progress' AND claimed_ms < ?2) ORDER BY created_ms LIMIT 1) \
                     AND (status = 'pending' OR (status = 'in_progress' AND claimed_ms < ?2)) \
                     RETURNING token, org_id, kind, status, result, created_ms, finished_ms",
                    params![now_ms, lease_expired_ms],
                    job,
                )
            })
            .await
    }

    async fn finish_job(&self, token: &str, status: &str, result: &str, now_ms: i64) -> Result<(), StoreError> {
        self.db()
            .write(|c| {
                c.run(
                    "UPDATE jobs SET status = ?2, result = ?3, finished_ms = ?4 WHERE token = ?1",
                    params![token, status, result, now_ms],
                )?;
                Ok(())
            })
            .await
    }

    async fn latest_finished_job(
        &self,
        org: OrgId,
        kind: &str,
        since_ms: i64,
    ) -> Result<Option<JobRecord>, StoreError> {
        self.db().read(|c| {
            c.one(
                "SELECT token, org_id, kind, status, result, created_ms, finished_ms FROM jobs \
                 WHERE org_id = ?1 AND kind = ?2 AND status = 'done' AND finished_ms > ?3 \
                 ORDER BY finished_ms DESC LIMIT 1",
                params![org.0, kind, since_ms],
                job,
            )
        })
    }

    async fn bulk_insert(&self, users: &[(NewUser, Vec<NewDevice>)]) -> Result<u64, StoreError> {
        // The closure runs on the blocking pool and must own its data.
        let users = users.to_vec();
        self.db()
            .write_long(move |c| {
                let tx = c.savepoint()?;
                let mut inserted = 0;
                {
                    let mut insert_user = tx.prepare_cached(
                        "INSERT INTO users (org_id, username, username_fold, fname, lname, email, role, status, \
                         created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'ACTIVE', ?8) \
                         ON CONFLICT DO NOTHING RETURNING id",
                    )?;
                    let mut insert_device = tx.prepare_cached(INSERT_DEVICE)?;
                    for (u, devices) in &users {
                        let id: Option<i64> = {
                            let mut rows = insert_user.query(params![
                                u.org_id.0,
                                u.username,
                                u.username_fold,
                                u.profile.fname,
                                u.profile.lname,
                                u.profile.email,
                                u.profile.role.as_str(),
                                u.created_ms,
                            ])?;
                            match rows.next()? {
                                Some(row) => Some(row.get(0)?),
                                None => None,
                            }
                        };
                        let Some(user_id) = id else { continue };
                        inserted += 1;
                        for (i, d) in devices.iter().enumerate() {
                            let position = i64::try_from(i).unwrap_or(0) + 1;
                            let nickname = format!("{} 1", d.kind.nickname_stem());
                            insert_device.execute(rusqlite::params_from_iter(device_values(
                                d, user_id, position, nickname,
                            )))?;
                        }
                    }
                }
                tx.commit()?;
                Ok(inserted)
            })
            .await
    }

    async fn report_page(&self, org: OrgId, after_user: i64, users: u32) -> Result<Vec<ReportRow>, StoreError> {
        self.db().read(|c| {
            c.all(
                "WITH page AS (SELECT * FROM users WHERE org_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3) \
                 SELECT p.id AS user_id, p.username, p.status, p.activation_expires_ms, p.created_ms, p.email, \
                        p.last_login_ms, \
                        (SELECT MAX(s.bypass_until_ms) FROM user_services s WHERE s.user_id = p.id) AS bypass_until_ms, \
                        (SELECT COUNT(*) FROM devices c WHERE c.user_id = p.id) AS device_count, \
                        d.id AS device_id, d.kind, d.position, d.phone, d.email AS device_email, d.serial, \
                        d.enrolled_ms, d.last_used_ms \
                 FROM page p LEFT JOIN devices d ON d.user_id = p.id ORDER BY p.id, d.position",
                params![org.0, after_user, i64::from(users)],
                report_row,
            )
        })
    }
}
