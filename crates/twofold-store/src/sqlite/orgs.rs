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

fn org(row: &Row<'_>) -> Sql<Org> {
    Ok(OrgRow {
        id: row.get("id")?,
        alias: row.get("alias")?,
        name: row.get("name")?,
        settings: row.get("settings")?,
        created_ms: row.get("created_ms")?,
    }
    .into_org()?)
}

fn token(row: &Row<'_>) -> Sql<ApiToken> {
    Ok(TokenRow {
        token: row.get("token")?,
        org_id: row.get("org_id")?,
        scope: row.get("scope")?,
        sealed_key: row.get("sealed_key")?,
        created_ms: row.get("created_ms")?,
        revoked_ms: row.get("revoked_ms")?,
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
                "SELECT t.token, t.org_id, t.scope, t.sealed_key, t.created_ms, t.revoked_ms, o.id AS o_id, \
                 o.alias AS o_alias, o.name AS o_name, o.settings AS o_settings, o.created_ms AS o_created_ms \
                 FROM api_tokens t LEFT JOIN orgs o ON o.id = t.org_id WHERE t.token = ?1",
                [&id.0],
                |row| {
                    let found = token(row)?;
                    let org = match row.get::<_, Option<i64>>("o_id")? {
                        None => None,
                        Some(org_id) => Some(
                            OrgRow {
                                id: org_id,
                                alias: row.get("o_alias")?,
                                name: row.get("o_name")?,
                                settings: row.get("o_settings")?,
                                created_ms: row.get("o_created_ms")?,
                            }
                            .into_org()?,
                        ),
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
