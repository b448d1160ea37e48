//! Organizations and API tokens on PostgreSQL.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use twofold_core::StoreError;
use twofold_core::ids::{ApiTokenId, OrgId};
use twofold_core::model::{ApiToken, Org, OrgSettings};
use twofold_core::store::{NewOrg, OrgStore};

use super::{PostgresStore, is_unique_violation, store_err};
use crate::rows::{OrgRow, TokenRow};

const ORG_COLUMNS: &str = "id, alias, name, settings, created_ms";
const TOKEN_COLUMNS: &str = "token, org_id, scope, sealed_key, created_ms, revoked_ms";

fn org(row: &PgRow) -> Result<Org, StoreError> {
    OrgRow {
        id: row.try_get("id").map_err(store_err)?,
        alias: row.try_get("alias").map_err(store_err)?,
        name: row.try_get("name").map_err(store_err)?,
        settings: row.try_get("settings").map_err(store_err)?,
        created_ms: row.try_get("created_ms").map_err(store_err)?,
    }
    .into_org()
}

fn token(row: &PgRow) -> Result<ApiToken, StoreError> {
    TokenRow {
        token: row.try_get("token").map_err(store_err)?,
        org_id: row.try_get("org_id").map_err(store_err)?,
        scope: row.try_get("scope").map_err(store_err)?,
        sealed_key: row.try_get("sealed_key").map_err(store_err)?,
        created_ms: row.try_get("created_ms").map_err(store_err)?,
        revoked_ms: row.try_get("revoked_ms").map_err(store_err)?,
    }
    .into_token()
}

#[async_trait]
impl OrgStore for PostgresStore {
    async fn create_org(&self, new: &NewOrg) -> Result<Option<Org>, StoreError> {
        let result = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO orgs (alias, name, created_ms) VALUES ($1, $2, $3) RETURNING {ORG_COLUMNS}"
        )))
        .bind(&new.alias)
        .bind(&new.name)
        .bind(new.created_ms)
        .fetch_one(self.pool())
        .await;
        match result {
            Ok(row) => org(&row).map(Some),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(store_err(e)),
        }
    }

    async fn list_orgs(&self) -> Result<Vec<Org>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ORG_COLUMNS} FROM orgs ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await
        .map_err(store_err)?
        .iter()
        .map(org)
        .collect()
    }

    async fn org_by_id(&self, id: OrgId) -> Result<Option<Org>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ORG_COLUMNS} FROM orgs WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(self.pool())
        .await
        .map_err(store_err)?
        .as_ref()
        .map(org)
        .transpose()
    }

    async fn find_org(&self, alias_or_name: &str) -> Result<Option<Org>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ORG_COLUMNS} FROM orgs WHERE alias = $1 OR name = $1 ORDER BY alias = $1 DESC LIMIT 1"
        )))
        .bind(alias_or_name)
        .fetch_optional(self.pool())
        .await
        .map_err(store_err)?
        .as_ref()
        .map(org)
        .transpose()
    }

    async fn update_org_settings(&self, id: OrgId, settings: &OrgSettings) -> Result<(), StoreError> {
        sqlx::query("UPDATE orgs SET settings = $2 WHERE id = $1")
            .bind(id.0)
            .bind(settings.to_text())
            .execute(self.pool())
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn insert_token(&self, t: &ApiToken) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (token, org_id, scope, sealed_key, created_ms, revoked_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&t.token.0)
        .bind(t.org_id.0)
        .bind(t.scope.as_str())
        .bind(&t.sealed_key)
        .bind(t.created_ms)
        .bind(t.revoked_ms)
        .execute(self.pool())
        .await
        .map_err(store_err)?;
        Ok(())
    }

    async fn token(&self, id: &ApiTokenId) -> Result<Option<ApiToken>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token = $1"
        )))
        .bind(&id.0)
        .fetch_optional(self.pool())
        .await
        .map_err(store_err)?
        .as_ref()
        .map(token)
        .transpose()
    }

    async fn tokens_of(&self, org_id: OrgId) -> Result<Vec<ApiToken>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE org_id = $1 ORDER BY created_ms, token"
        )))
        .bind(org_id.0)
        .fetch_all(self.pool())
        .await
        .map_err(store_err)?
        .iter()
        .map(token)
        .collect()
    }

    async fn revoke_token(&self, id: &ApiTokenId, now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_tokens SET revoked_ms = $2 WHERE token = $1 AND revoked_ms IS NULL")
            .bind(&id.0)
            .bind(now_ms)
            .execute(self.pool())
            .await
            .map_err(store_err)?;
        Ok(done.rows_affected() == 1)
    }
}
