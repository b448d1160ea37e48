//! Organizations and API tokens on SQLite.

use async_trait::async_trait;
use rusqlite::{Row, params};
use twofold_core::StoreError;
use twofold_core::ids::{ApiTokenId, OrgId};
use twofold_core::model::{ApiToken, Org, OrgSettings};
use twofold_core::store::{NewOrg, OrgStore};

use super::SqliteStore;
use super::db::{Db, Sql, is_unique_violation};
use crate::rows::{OrgRow, TokenRow};

const ORG_COLUMNS: &str = "id, alias, name, settings, created_ms";
const TOKEN_COLUMNS: &str = "token, org_id, scope, sealed_key, created_ms, revoked_ms";

/// An `orgs` row selected as [`ORG_COLUMNS`] from column `at` on (read by position:
/// looking columns up by name was a tenth of the statement's cost on every request).
fn org_at(row: &Row<'_>, at: usize) -> Sql<Org> {
    Ok(OrgRow {
        id: row.get(at)?,
        alias: row.get(at + 1)?,
        name: row.get(at + 2)?,
        settings: row.get(at + 3)?,
        created_ms: row.get(at + 4)?,
    }
    .into_org()?)
}

fn org(row: &Row<'_>) -> Sql<Org> {
    org_at(row, 0)
}

/// An `api_tokens` row selected as [`TOKEN_COLUMNS`], read by position.
fn token(row: &Row<'_>) -> Sql<ApiToken> {
    Ok(TokenRow {
        token: row.get(0)?,
        org_id: row.get(1)?,
        scope: row.get(2)?,
        sealed_key: row.get(3)?,
        created_ms: row.get(4)?,
        revoked_ms: row.get(5)?,
    }
    .into_token()?)
}

#[async_trait]
impl OrgStore for SqliteStore {
    async fn create_org(&self, new: &NewOrg) -> Result<Option<Org>, StoreError> {
        self.db()
            .write(|c| {
                match c.one(
                    &format!("INSERT INTO orgs (alias, name, created_ms) VALUES (?1, ?2, ?3) RETURNING {ORG_COLUMNS}"),
                    params![new.alias, new.name, new.created_ms],
                    org,
                ) {
                    Ok(Some(created)) => Ok(Some(created)),
                    Ok(None) => Err(StoreError::Unavailable("org insert returned no row".into()).into()),
                    Err(f) if is_unique_violation(&f) => Ok(None),
                    Err(f) => Err(f),
                }
            })
            .await
    }

    async fn list_orgs(&self) -> Result<Vec<Org>, StoreError> {
        self.db()
            .read(|c| c.all(&format!("SELECT {ORG_COLUMNS} FROM orgs ORDER BY id"), [], org))
    }

    async fn org_by_id(&self, id: OrgId) -> Result<Option<Org>, StoreError> {
        self.db()
            .read(|c| c.one(&format!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = ?1"), [id.0], org))
    }

    async fn find_org(&self, alias_or_name: &str) -> Result<Option<Org>, StoreError> {
        self.db().read(|c| {
            c.one(
                &format!(
                    "SELECT {ORG_COLUMNS} FROM orgs WHERE alias = ?1 OR name = ?1 ORDER BY alias = ?1 DESC LIMIT 1"
                ),
                [alias_or_name],
                org,
            )
        })
    }

    async fn update_org_settings(&self, id: OrgId, settings: &OrgSettings) -> Result<(), StoreError> {
        let text = settings.to_text();
        self.db()
            .write(|c| {
                c.run("UPDATE orgs SET settings = ?2 WHERE id = ?1", params![id.0, text])?;
                Ok(())
            })
            .await
    }

    async fn insert_token(&self, t: &ApiToken) -> Result<(), StoreError> {
        self.db()
            .write(|c| {
                c.run(
                    "INSERT INTO api_tokens (token, org_id, scope, sealed_key, created_ms, revoked_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        t.token.0,
                        t.org_id.0,
                        t.scope.as_str(),
                        t.sealed_key,
                        t.created_ms,
                        t.revoked_ms
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn token(&self, id: &ApiTokenId) -> Result<Option<ApiToken>, StoreError> {
        self.db().read(|c| {
            c.one(
                &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token = ?1"),
                [&id.0],
                token,
            )
        })
    }

    async fn token_with_org(&self, id: &ApiTokenId) -> Result<Option<(ApiToken, Option<Org>)>, StoreError> {
        // One statement, so one read transaction, for what every request looks up first.
        self.db().read(|c| {
            c.one(
                "SELECT t.token, t.org_id, t.scope, t.sealed_key, t.created_ms, t.revoked_ms, \
                 o.id, o.alias, o.name, o.settings, o.created_ms \
                 FROM api_tokens t LEFT JOIN orgs o ON o.id = t.org_id WHERE t.token = ?1",
                [&id.0],
                |row| {
                    // Columns 0..6 are TOKEN_COLUMNS, 6..11 ORG_COLUMNS (NULL without an org).
                    let found = token(row)?;
                    let org = match row.get::<_, Option<i64>>(6)? {
                        None => None,
                        Some(_) => Some(org_at(row, 6)?),
                    };
                    Ok((found, org))
                },
            )
        })
    }

    async fn tokens_of(&self, org_id: OrgId) -> Result<Vec<ApiToken>, StoreError> {
        self.db().read(|c| {
            c.all(
                &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE org_id = ?1 ORDER BY created_ms, token"),
                [org_id.0],
                token,
            )
        })
    }

    async fn revoke_token(&self, id: &ApiTokenId, now_ms: i64) -> Result<bool, StoreError> {
        let changed = self
            .db()
            .write(|c| {
                c.run(
                    "UPDATE api_tokens SET revoked_ms = ?2 WHERE token = ?1 AND revoked_ms IS NULL",
                    params![id.0, now_ms],
                )
            })
            .await?;
        Ok(changed == 1)
    }
}
