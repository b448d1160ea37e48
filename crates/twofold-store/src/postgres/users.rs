//! Users, memberships and activation codes on PostgreSQL.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use twofold_core::StoreError;
use twofold_core::ids::{OrgId, UserId};
use twofold_core::model::{ActivationCode, Membership, Profile, Service, User, UserStatus};
use twofold_core::store::{InsertUser, NewActivationCode, NewUser, UserStore};

use super::{PostgresStore, store_err};
use crate::rows::{UserRow, activation_code, membership};

const USER_COLUMNS: &str = "id, org_id, username, fname, lname, email, pic_url, role, status, device_kind, \
                            activation_expires_ms, last_login_ms, created_ms";

fn user(row: &PgRow) -> Result<User, StoreError> {
    let get = |e| store_err(e);
    UserRow {
        id: row.try_get("id").map_err(get)?,
        org_id: row.try_get("org_id").map_err(get)?,
        username: row.try_get("username").map_err(get)?,
        fname: row.try_get("fname").map_err(get)?,
        lname: row.try_get("lname").map_err(get)?,
        email: row.try_get("email").map_err(get)?,
        pic_url: row.try_get("pic_url").map_err(get)?,
        role: row.try_get("role").map_err(get)?,
        status: row.try_get("status").map_err(get)?,
        device_kind: row.try_get("device_kind").map_err(get)?,
        activation_expires_ms: row.try_get("activation_expires_ms").map_err(get)?,
        last_login_ms: row.try_get("last_login_ms").map_err(get)?,
        created_ms: row.try_get("created_ms").map_err(get)?,
    }
    .into_user()
}

/// Renders `from` as the SQL list `('A','B')`. The values are the domain's own constant
/// names, never user input.
fn status_list(from: &[UserStatus]) -> String {
    let names: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    format!("({})", names.join(","))
}

async fn insert_code(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    org_id: i64,
    user_id: i64,
    code: &NewActivationCode,
) -> Result<(), StoreError> {
    // A user has at most one unused code: issuing a new one retires the old.
    sqlx::query("DELETE FROM activation_codes WHERE user_id = $1 AND state = 'NOT_CLAIMED'")
        .bind(user_id)
        .execute(&mut **tx)
        .await
        .map_err(store_err)?;
    sqlx::query(
        "INSERT INTO activation_codes (org_id, code_hash, user_id, device_kind, expires_ms, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(org_id)
    .bind(&code.code_hash)
    .bind(user_id)
    .bind(code.device_kind.map(|k| k.as_str()))
    .bind(code.expires_ms)
    .bind(code.created_ms)
    .execute(&mut **tx)
    .await
    .map_err(store_err)?;
    Ok(())
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn insert_user(&self, new: &NewUser, max_users: Option<u32>) -> Result<InsertUser, StoreError> {
        let mut tx = self.begin().await?;
        if let Some(max) = max_users {
            // The organization's row is the quota's lock: two nodes adding the last
            // allowed user take turns, so the count below cannot go stale. (NO KEY
            // UPDATE leaves the organization's other inserts, whose foreign-key checks
            // take key-share locks, free to proceed.)
            sqlx::query("SELECT id FROM orgs WHERE id = $1 FOR NO KEY UPDATE")
                .bind(new.org_id.0)
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE org_id = $1")
                .bind(new.org_id.0)
                .fetch_one(&mut *tx)
                .await
                .map_err(store_err)?;
            if count >= i64::from(max) {
                return Ok(InsertUser::QuotaReached);
            }
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO users (org_id, username, username_fold, fname, lname, email, pic_url, role, status, \
             device_kind, activation_expires_ms, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (org_id, username_fold) DO NOTHING RETURNING {USER_COLUMNS}"
        )))
        .bind(new.org_id.0)
        .bind(&new.username)
        .bind(&new.username_fold)
        .bind(&new.profile.fname)
        .bind(&new.profile.lname)
        .bind(&new.profile.email)
        .bind(&new.profile.pic_url)
        .bind(new.profile.role.as_str())
        .bind(new.status.as_str())
        .bind(new.activation.as_ref().and_then(|a| a.device_kind).map(|k| k.as_str()))
        .bind(new.activation.as_ref().map(|a| a.expires_ms))
        .bind(new.created_ms)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_err)?;
        let Some(row) = row else {
            return Ok(InsertUser::Duplicate);
        };
        let created = user(&row)?;
        if let Some(code) = &new.activation {
            insert_code(&mut tx, new.org_id.0, created.id.0, code).await?;
        }
        tx.commit().await.map_err(store_err)?;
        Ok(InsertUser::Created(created))
    }

    async fn user_by_name(&self, org: OrgId, fold: &str) -> Result<Option<User>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE org_id = $1 AND username_fold = $2"
        )))
        .bind(org.0)
        .bind(fold)
        .fetch_optional(self.pool())
        .await
        .map_err(store_err)?
        .as_ref()
        .map(user)
        .transpose()
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(self.pool())
        .await
        .map_err(store_err)?
        .as_ref()
        .map(user)
        .transpose()
    }

    async fn update_profile(&self, id: UserId, p: &Profile) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE users SET fname = $2, lname = $3, email = $4, pic_url = $5, role = $6 WHERE id = $1")
                .bind(id.0)
                .bind(&p.fname)
                .bind(&p.lname)
                .bind(&p.email)
                .bind(&p.pic_url)
                .bind(p.role.as_str())
                .execute(self.pool())
                .await
                .map_err(store_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn transition_status(&self, id: UserId, from: &[UserStatus], to: UserStatus) -> Result<bool, StoreError> {
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE users SET status = $2 WHERE id = $1 AND status IN {}",
            status_list(from)
        )))
        .bind(id.0)
        .bind(to.as_str())
        .execute(self.pool())
        .await
        .map_err(store_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn transition_with_code(
        &self,
        id: UserId,
        from: &[UserStatus],
        to: UserStatus,
        code: &NewActivationCode,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let org_id: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "UPDATE users SET status = $2, activation_expires_ms = $3, device_kind = $4 \
             WHERE id = $1 AND status IN {} RETURNING org_id",
            status_list(from)
        )))
        .bind(id.0)
        .bind(to.as_str())
        .bind(code.expires_ms)
        .bind(code.device_kind.map(|k| k.as_str()))
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_err)?;
        let Some(org_id) = org_id else {
            return Ok(false);
        };
        insert_code(&mut tx, org_id, id.0, code).await?;
        tx.commit().await.map_err(store_err)?;
        Ok(true)
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        // Memberships and codes go with the user (ON DELETE CASCADE), in one statement.
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.0)
            .execute(self.pool())
            .await
            .map_err(store_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn memberships(&self, id: UserId) -> Result<Vec<Membership>, StoreError> {
        let rows = sqlx::query(
            "SELECT sp_alias, active, bypass_until_ms FROM user_services WHERE user_id = $1 ORDER BY joined_ms, seq",
        )
        .bind(id.0)
        .fetch_all(self.pool())
        .await
        .map_err(store_err)?;
        rows.iter()
            .map(|r| {
                let alias: String = r.try_get("sp_alias").map_err(store_err)?;
                let active: bool = r.try_get("active").map_err(store_err)?;
                let until: Option<i64> = r.try_get("bypass_until_ms").map_err(store_err)?;
                membership(&alias, active, until)
            })
            .collect()
    }

    async fn add_membership(&self, id: UserId, service: Service, now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO user_services (user_id, sp_alias, joined_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(id.0)
        .bind(service.alias())
        .bind(now_ms)
        .execute(self.pool())
        .await
        .map_err(store_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_membership(&self, id: UserId, service: Service) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM user_services WHERE user_id = $1 AND sp_alias = $2")
            .bind(id.0)
            .bind(service.alias())
            .execute(self.pool())
            .await
            .map_err(store_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_bypass(
        &self,
        id: UserId,
        services: &[Service],
        until_ms: Option<i64>,
        add_missing: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for service in services {
            if add_missing {
                sqlx::query(
                    "INSERT INTO user_services (user_id, sp_alias, joined_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(id.0)
                .bind(service.alias())
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
            }
            sqlx::query("UPDATE user_services SET bypass_until_ms = $3 WHERE user_id = $1 AND sp_alias = $2")
                .bind(id.0)
                .bind(service.alias())
                .bind(until_ms)
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
        }
        tx.commit().await.map_err(store_err)
    }

    async fn activation_code(&self, org: OrgId, hash: &[u8]) -> Result<Option<ActivationCode>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, expires_ms, device_kind, state, device_id FROM activation_codes \
             WHERE org_id = $1 AND code_hash = $2",
        )
        .bind(org.0)
        .bind(hash)
        .fetch_optional(self.pool())
        .await
        .map_err(store_err)?;
        row.map(|r| {
            let state: String = r.try_get("state").map_err(store_err)?;
            activation_code(
                r.try_get("user_id").map_err(store_err)?,
                r.try_get("expires_ms").map_err(store_err)?,
                r.try_get("device_kind").map_err(store_err)?,
                &state,
                r.try_get("device_id").map_err(store_err)?,
            )
        })
        .transpose()
    }

    async fn consume_activation_code(&self, org: OrgId, hash: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM activation_codes WHERE org_id = $1 AND code_hash = $2")
            .bind(org.0)
            .bind(hash)
            .execute(self.pool())
            .await
            .map_err(store_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn count_users(&self, org: OrgId) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE org_id = $1")
            .bind(org.0)
            .fetch_one(self.pool())
            .await
            .map_err(store_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
