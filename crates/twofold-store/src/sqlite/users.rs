//! Users, memberships and activation codes on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, Row, params};
use twofold_core::StoreError;
use twofold_core::ids::{OrgId, UserId};
use twofold_core::model::{ActivationCode, Membership, Profile, Service, User, UserStatus};
use twofold_core::store::{InsertUser, NewActivationCode, NewUser, UserStore};

use super::SqliteStore;
use super::db::{Db, Sql};
use crate::rows::{UserRow, activation_code, membership};

/// The columns `user` reads, in this order: it reads them by position, because finding a
/// column by name scans every column's name on each read (5 % of the server's time in
/// the getuserdetails profile, docs/performance.md).
pub(super) const USER_COLUMNS: &str = "id, org_id, username, fname, lname, email, pic_url, role, status, device_kind, \
                            activation_expires_ms, last_login_ms, created_ms";
/// How many columns `USER_COLUMNS` has (columns selected after them start here).
pub(super) const USER_COLUMN_COUNT: usize = 13;

pub(super) fn user(row: &Row<'_>) -> Sql<User> {
    Ok(UserRow {
        id: row.get(0)?,
        org_id: row.get(1)?,
        username: row.get(2)?,
        fname: row.get(3)?,
        lname: row.get(4)?,
        email: row.get(5)?,
        pic_url: row.get(6)?,
        role: row.get(7)?,
        status: row.get(8)?,
        device_kind: row.get(9)?,
        activation_expires_ms: row.get(10)?,
        last_login_ms: row.get(11)?,
        created_ms: row.get(12)?,
    }
    .into_user()?)
}

/// Renders `from` as the SQL list `('A','B')`. The values are the domain's own constant
/// names, never user input.
fn status_list(from: &[UserStatus]) -> String {
    let names: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    format!("({})", names.join(","))
}

/// Inside a writing transaction: issues `code` to the user, retiring any unused one.
fn insert_code(tx: &Connection, org_id: i64, user_id: i64, code: &NewActivationCode) -> Sql<()> {
    // A user has at most one unused code: issuing a new one retires the old.
    tx.run(
        "DELETE FROM activation_codes WHERE user_id = ?1 AND state = 'NOT_CLAIMED'",
        [user_id],
    )?;
    tx.run(
        "INSERT INTO activation_codes (org_id, code_hash, user_id, device_kind, expires_ms, created_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            org_id,
            code.code_hash,
            user_id,
            code.device_kind.map(|k| k.as_str()),
            code.expires_ms,
            code.created_ms,
        ],
    )?;
    Ok(())
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, new: &NewUser, max_users: Option<u32>) -> Result<InsertUser, StoreError> {
        self.db()
            .write(|c| {
                let tx = c.savepoint()?;
                if let Some(max) = max_users {
                    let count: i64 = tx
                        .one("SELECT COUNT(*) FROM users WHERE org_id = ?1", [new.org_id.0], |r| {
                            Ok(r.get(0)?)
                        })?
                        .unwrap_or(0);
                    if count >= i64::from(max) {
                        return Ok(InsertUser::QuotaReached);
                    }
                }
                let created = tx.one(
                    &format!(
                        "INSERT INTO users (org_id, username, username_fold, fname, lname, email, pic_url, role, \
                         status, device_kind, activation_expires_ms, created_ms) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
                         ON CONFLICT (org_id, username_fold) DO NOTHING RETURNING {USER_COLUMNS}"
                    ),
                    params![
                        new.org_id.0,
                        new.username,
                        new.username_fold,
                        new.profile.fname,
                        new.profile.lname,
                        new.profile.email,
                        new.profile.pic_url,
                        new.profile.role.as_str(),
                        new.status.as_str(),
                        new.activation.as_ref().and_then(|a| a.device_kind).map(|k| k.as_str()),
                        new.activation.as_ref().map(|a| a.expires_ms),
                        new.created_ms,
                    ],
                    user,
                )?;
                let Some(created) = created else {
                    return Ok(InsertUser::Duplicate);
                };
                if let Some(code) = &new.activation {
                    insert_code(&tx, new.org_id.0, created.id.0, code)?;
                }
                tx.commit()?;
                Ok(InsertUser::Created(created))
            })
            .await
    }

    async fn user_by_name(&self, org: OrgId, fold: &str) -> Result<Option<User>, StoreError> {
        self.db().read(|c| {
            c.one(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE org_id = ?1 AND username_fold = ?2"),
                params![org.0, fold],
                user,
            )
        })
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.db()
            .read(|c| c.one(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"), [id.0], user))
    }

    async fn update_profile(&self, id: UserId, p: &Profile) -> Result<bool, StoreError> {
        let changed = self
            .db()
            .write(|c| {
                c.run(
                    "UPDATE users SET fname = ?2, lname = ?3, email = ?4, pic_url = ?5, role = ?6 WHERE id = ?1",
                    params![id.0, p.fname, p.lname, p.email, p.pic_url, p.role.as_str()],
                )
            })
            .await?;
        Ok(changed == 1)
    }

    async fn transition_status(&self, id: UserId, from: &[UserStatus], to: UserStatus) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE users SET status = ?2 WHERE id = ?1 AND status IN {}",
            status_list(from)
        );
        let changed = self.db().write(|c| c.run(&sql, params![id.0, to.as_str()])).await?;
        Ok(changed == 1)
    }

    async fn transition_with_code(
        &self,
        id: UserId,
        from: &[UserStatus],
        to: UserStatus,
        code: &NewActivationCode,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE users SET status = ?2, activation_expires_ms = ?3, device_kind = ?4 \
             WHERE id = ?1 AND status IN {} RETURNING org_id",
            status_list(from)
        );
        self.db()
            .write(|c| {
                let tx = c.savepoint()?;
                let org_id: Option<i64> = tx.one(
                    &sql,
                    params![id.0, to.as_str(), code.expires_ms, code.device_kind.map(|k| k.as_str())],
                    |r| Ok(r.get(0)?),
                )?;
                let Some(org_id) = org_id else {
                    return Ok(false);
                };
                insert_code(&tx, org_id, id.0, code)?;
                tx.commit()?;
                Ok(true)
            })
            .await
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        // Memberships and codes go with the user (ON DELETE CASCADE), in one statement.
        let changed = self
            .db()
            .write(|c| c.run("DELETE FROM users WHERE id = ?1", [id.0]))
            .await?;
        Ok(changed == 1)
    }

    async fn memberships(&self, id: UserId) -> Result<Vec<Membership>, StoreError> {
        self.db().read(|c| {
            c.all(
                "SELECT sp_alias, active, bypass_until_ms FROM user_services WHERE user_id = ?1 ORDER BY joined_ms, rowid",
                [id.0],
                |r| {
                    let alias: String = r.get("sp_alias")?;
                    let active: bool = r.get("active")?;
                    let until: Option<i64> = r.get("bypass_until_ms")?;
                    Ok(membership(&alias, active, until)?)
                },
            )
        })
    }

    async fn add_membership(&self, id: UserId, service: Service, now_ms: i64) -> Result<bool, StoreError> {
        let changed = self
            .db()
            .write(|c| {
                c.run(
                    "INSERT INTO user_services (user_id, sp_alias, joined_ms) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    params![id.0, service.alias(), now_ms],
                )
            })
            .await?;
        Ok(changed == 1)
    }

    async fn remove_membership(&self, id: UserId, service: Service) -> Result<bool, StoreError> {
        let changed = self
            .db()
            .write(|c| {
                c.run(
                    "DELETE FROM user_services WHERE user_id = ?1 AND sp_alias = ?2",
                    params![id.0, service.alias()],
                )
            })
            .await?;
        Ok(changed == 1)
    }

    async fn set_bypass(
        &self,
        id: UserId,
        services: &[Service],
        until_ms: Option<i64>,
        add_missing: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.db()
            .write(|c| {
                let tx = c.savepoint()?;
                for service in services {
                    if add_missing {
                        tx.run(
                            "INSERT INTO user_services (user_id, sp_alias, joined_ms) VALUES (?1, ?2, ?3) \
                             ON CONFLICT DO NOTHING",
                            params![id.0, service.alias(), now_ms],
                        )?;
                    }
                    tx.run(
                        "UPDATE user_services SET bypass_until_ms = ?3 WHERE user_id = ?1 AND sp_alias = ?2",
                        params![id.0, service.alias(), until_ms],
                    )?;
                }
                Ok(tx.commit()?)
            })
            .await
    }

    async fn activation_code(&self, org: OrgId, hash: &[u8]) -> Result<Option<ActivationCode>, StoreError> {
        self.db().read(|c| {
            c.one(
                "SELECT user_id, expires_ms, device_kind, state, device_id FROM activation_codes \
                 WHERE org_id = ?1 AND code_hash = ?2",
                params![org.0, hash],
                |r| {
                    let state: String = r.get("state")?;
                    Ok(activation_code(
                        r.get("user_id")?,
                        r.get("expires_ms")?,
                        r.get("device_kind")?,
                        &state,
                        r.get("device_id")?,
                    )?)
                },
            )
        })
    }

    async fn consume_activation_code(&self, org: OrgId, hash: &[u8]) -> Result<bool, StoreError> {
        let changed = self
            .db()
            .write(|c| {
                c.run(
                    "DELETE FROM activation_codes WHERE org_id = ?1 AND code_hash = ?2",
                    params![org.0, hash],
                )
            })
            .await?;
        Ok(changed == 1)
    }

    async fn count_users(&self, org: OrgId) -> Result<u64, StoreError> {
        let n: i64 = self
            .db()
            .read(|c| {
                c.one("SELECT COUNT(*) FROM users WHERE org_id = ?1", [org.0], |r| {
                    Ok(r.get(0)?)
                })
            })?
            .unwrap_or(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    /// `user` reads by position: the list and the count must agree with it.
    #[test]
    fn the_user_columns_are_the_ones_user_reads() {
        let names: Vec<&str> = super::USER_COLUMNS.split(',').map(str::trim).collect();
        assert_eq!(names.len(), super::USER_COLUMN_COUNT);
        assert_eq!(names.first(), Some(&"id"));
        assert_eq!(names.last(), Some(&"created_ms"));
    }
}
