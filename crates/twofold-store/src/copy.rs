//! `twofold migrate-data`: moves an installation from the embedded SQLite database to
//! PostgreSQL, rows as stored (secrets stay sealed under the same master key).
//!
//! The copy is driven by the target's schema, not by a hand-kept list: every table the
//! PostgreSQL migrations created is copied, column by column, from the SQLite table of
//! the same name, so a migration added to both engines is picked up without touching
//! this file. Tables are copied parents first (from the target's foreign keys),
//! everything runs in one transaction on the target, and the row counts are compared
//! before it commits.

use sqlx::Row as _;
use sqlx::postgres::PgArguments;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use twofold_core::StoreError;

use crate::{PostgresStore, SqliteStore};

/// Rows per read from SQLite and per multi-row INSERT into PostgreSQL.
const BATCH: i64 = 500;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Int,
    Text,
    Bytes,
    Bool,
}

#[derive(Debug)]
struct Column {
    name: String,
    kind: Kind,
    /// The SQLite expression that yields it (the column itself, or `rowid` for an
    /// ordering column SQLite keeps implicitly).
    source: String,
    identity: bool,
}

enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
    Bool(Option<bool>),
}

fn fail(what: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(what.to_string())
}

fn sqlite_err(e: sqlx::Error) -> StoreError {
    fail(format!("reading the SQLite database: {e}"))
}

fn pg_err(e: sqlx::Error) -> StoreError {
    fail(format!("writing the PostgreSQL database: {e}"))
}

/// Copies every table of `from` into the empty database `to`; returns each table with
/// its row count (equal on both sides, or nothing is committed).
///
/// # Errors
/// When the target holds any row, a SQLite table has no PostgreSQL twin, a column has
/// an unexpected type, or either database fails.
pub async fn sqlite_to_postgres(from: &SqliteStore, to: &PostgresStore) -> Result<Vec<(String, u64)>, StoreError> {
    let source = from.sqlx_pool().await?;
    let copied = copy_all(&source, to).await;
    source.close().await;
    copied
}

async fn copy_all(from: &SqlitePool, to: &PostgresStore) -> Result<Vec<(String, u64)>, StoreError> {
    let target_tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() \
         AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(to.pool())
    .await
    .map_err(pg_err)?;
    let source_tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(from)
    .await
    .map_err(sqlite_err)?;
    if let Some(missing) = source_tables.iter().find(|t| !target_tables.contains(t)) {
        return Err(fail(format!(
            "table {missing} has no PostgreSQL twin: this build's PostgreSQL migrations are behind the SQLite ones"
        )));
    }
    let order = parents_first(to, target_tables).await?;

    let mut tx = to.pool().begin().await.map_err(pg_err)?;
    for table in &order {
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM \"{table}\"")))
            .fetch_one(&mut *tx)
            .await
            .map_err(pg_err)?;
        if rows > 0 {
            return Err(fail(format!(
                "the target database is not empty ({table} has {rows} rows): migrate-data only fills a fresh database"
            )));
        }
    }
    let mut counts = Vec::new();
    for table in &order {
        let copied = if source_tables.contains(table) {
            copy_table(from, &mut tx, table).await?
        } else {
            0
        };
        let target: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM \"{table}\"")))
            .fetch_one(&mut *tx)
            .await
            .map_err(pg_err)?;
        if u64::try_from(target).ok() != Some(copied) {
            return Err(fail(format!(
                "{table}: read {copied} rows but the target holds {target}"
            )));
        }
        counts.push((table.clone(), copied));
    }
    tx.commit().await.map_err(pg_err)?;
    Ok(counts)
}

/// The tables ordered so that every table comes after the tables its foreign keys refer
/// to (by name among equals, so runs are repeatable).
async fn parents_first(to: &PostgresStore, mut tables: Vec<String>) -> Result<Vec<String>, StoreError> {
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT tc.table_name::text, ccu.table_name::text FROM information_schema.table_constraints tc \
         JOIN information_schema.constraint_column_usage ccu \
           ON ccu.constraint_name = tc.constraint_name AND ccu.constraint_schema = tc.constraint_schema \
         WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema()",
    )
    .fetch_all(to.pool())
    .await
    .map_err(pg_err)?;
    tables.sort();
    let mut order: Vec<String> = Vec::with_capacity(tables.len());
    while !tables.is_empty() {
        let ready = tables.iter().position(|t| {
            edges
                .iter()
                .filter(|(child, parent)| child == t && parent != t)
                .all(|(_, parent)| order.contains(parent) || !tables.contains(parent))
        });
        let Some(i) = ready else {
            return Err(fail(format!("foreign keys form a cycle among {tables:?}")));
        };
        order.push(tables.remove(i));
    }
    Ok(order)
}

async fn columns(from: &SqlitePool, tx: &mut sqlx::PgConnection, table: &str) -> Result<Vec<Column>, StoreError> {
    let source: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
        .bind(table)
        .fetch_all(from)
        .await
        .map_err(sqlite_err)?;
    let rows = sqlx::query(
        "SELECT column_name::text AS name, data_type::text AS kind, is_identity::text AS identity \
         FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 \
         ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *tx)
    .await
    .map_err(pg_err)?;
    let mut out = Vec::new();
    for row in rows {
        let name: String = row.try_get("name").map_err(pg_err)?;
        let kind: String = row.try_get("kind").map_err(pg_err)?;
        let identity: String = row.try_get("identity").map_err(pg_err)?;
        let kind = match kind.as_str() {
            "bigint" | "integer" | "smallint" => Kind::Int,
            "text" | "character varying" => Kind::Text,
            "bytea" => Kind::Bytes,
            "boolean" => Kind::Bool,
            other => return Err(fail(format!("{table}.{name}: cannot copy type {other}"))),
        };
        let source = if source.contains(&name) {
            format!("\"{name}\"")
        } else if identity == "YES" {
            // An ordering column PostgreSQL keeps explicitly (user_services.seq).
            "rowid".to_string()
        } else {
            continue; // a PostgreSQL-only column: its default applies
        };
        out.push(Column {
            name,
            kind,
            source,
            identity: identity == "YES",
        });
    }
    Ok(out)
}

fn read(row: &SqliteRow, i: usize, kind: Kind) -> Result<Value, StoreError> {
    Ok(match kind {
        Kind::Int => Value::Int(row.try_get(i).map_err(sqlite_err)?),
        Kind::Text => Value::Text(row.try_get(i).map_err(sqlite_err)?),
        Kind::Bytes => Value::Bytes(row.try_get(i).map_err(sqlite_err)?),
        Kind::Bool => Value::Bool(row.try_get(i).map_err(sqlite_err)?),
    })
}

async fn copy_table(from: &SqlitePool, tx: &mut sqlx::PgConnection, table: &str) -> Result<u64, StoreError> {
    let cols = columns(from, tx, table).await?;
    let select = format!(
        "SELECT rowid AS __rowid, {} FROM \"{table}\" WHERE rowid > $1 ORDER BY rowid LIMIT {BATCH}",
        cols.iter().map(|c| c.source.as_str()).collect::<Vec<_>>().join(", ")
    );
    let names = cols
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let mut after = i64::MIN;
    let mut copied = 0u64;
    loop {
        let rows = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
            .bind(after)
            .fetch_all(from)
            .await
            .map_err(sqlite_err)?;
        let Some(last) = rows.last() else { break };
        after = last.try_get(0).map_err(sqlite_err)?;
        let mut values = Vec::with_capacity(rows.len());
        let mut sql = format!("INSERT INTO \"{table}\" ({names}) OVERRIDING SYSTEM VALUE VALUES ");
        let mut n = 0;
        for (r, row) in rows.iter().enumerate() {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for (i, col) in cols.iter().enumerate() {
                n += 1;
                sql.push_str(&format!("{}${n}", if i == 0 { "" } else { ", " }));
                values.push(read(row, i + 1, col.kind)?);
            }
            sql.push(')');
        }
        let mut query = sqlx::query_with(sqlx::AssertSqlSafe(sql), PgArguments::default());
        for v in values {
            query = match v {
                Value::Int(v) => query.bind(v),
                Value::Text(v) => query.bind(v),
                Value::Bytes(v) => query.bind(v),
                Value::Bool(v) => query.bind(v),
            };
        }
        copied += query.execute(&mut *tx).await.map_err(pg_err)?.rows_affected();
    }
    // Identities continue after the copied ids, so no new row reuses one.
    for col in cols.iter().filter(|c| c.identity) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX(\"{}\"), 0) + 1, false) FROM \"{table}\"",
            col.name
        )))
        .bind(table)
        .bind(&col.name)
        .execute(&mut *tx)
        .await
        .map_err(pg_err)?;
    }
    Ok(copied)
}
