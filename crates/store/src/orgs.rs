//! Organisations (tenants) and their API keys. Keys are stored as SHA-256 hashes only.

use crate::{Result, Tx};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub country: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_org(tx: &mut Tx, org: &OrgRow) -> Result<()> {
    on!(tx, c => sqlx::query("INSERT INTO organisations (id, name, country, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&org.id).bind(&org.name).bind(&org.country).bind(org.created_at)
        .execute(c).await.map_err(crate::StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

pub async fn get_org(tx: &mut Tx, id: &str) -> Result<Option<OrgRow>> {
    Ok(
        on!(tx, c => sqlx::query_as::<_, OrgRow>("SELECT id, name, country, created_at FROM organisations WHERE id = $1")
        .bind(id).fetch_optional(c).await?),
    )
}

pub async fn list_orgs(tx: &mut Tx) -> Result<Vec<OrgRow>> {
    Ok(
        on!(tx, c => sqlx::query_as::<_, OrgRow>("SELECT id, name, country, created_at FROM organisations ORDER BY id")
        .fetch_all(c).await?),
    )
}

pub async fn insert_api_key(
    tx: &mut Tx,
    id: &str,
    org_id: &str,
    name: &str,
    key_hash: &str,
    key_prefix: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    on!(tx, c => sqlx::query("INSERT INTO api_keys (id, org_id, name, key_hash, key_prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id).bind(org_id).bind(name).bind(key_hash).bind(key_prefix).bind(now)
        .execute(c).await.map_err(crate::StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

/// The organisation of a live (not revoked) key with this hash.
pub async fn org_for_key_hash(tx: &mut Tx, key_hash: &str) -> Result<Option<String>> {
    Ok(
        on!(tx, c => sqlx::query_scalar::<_, String>("SELECT org_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
        .bind(key_hash).fetch_optional(c).await?),
    )
}

/// Whether any organisation exists (a new database has none).
pub async fn any_org(tx: &mut Tx) -> Result<bool> {
    let n: i64 =
        on!(tx, c => sqlx::query_scalar("SELECT COUNT(*) FROM organisations").fetch_one(c).await?);
    Ok(n > 0)
}

/// The organisation's dunning settings: (retry days as "1,3,5,7", final action).
pub async fn dunning(tx: &mut Tx, org_id: &str) -> Result<Option<(String, String)>> {
    Ok(on!(tx, c => sqlx::query_as::<_, (String, String)>(
        "SELECT dunning_retry_days, dunning_final_action FROM organisations WHERE id = $1")
        .bind(org_id).fetch_optional(c).await?))
}

pub async fn set_dunning(
    tx: &mut Tx,
    org_id: &str,
    retry_days: &str,
    final_action: &str,
) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE organisations SET dunning_retry_days = $2, dunning_final_action = $3 WHERE id = $1")
        .bind(org_id).bind(retry_days).bind(final_action).execute(c).await?.rows_affected());
    Ok(())
}

/// The organisation's invoice reminder days ("-3,0,7").
pub async fn reminder_days(tx: &mut Tx, org_id: &str) -> Result<Option<String>> {
    Ok(on!(tx, c => sqlx::query_scalar::<_, String>(
        "SELECT reminder_days FROM organisations WHERE id = $1")
        .bind(org_id).fetch_optional(c).await?))
}

pub async fn set_reminder_days(tx: &mut Tx, org_id: &str, days: &str) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE organisations SET reminder_days = $2 WHERE id = $1")
        .bind(org_id).bind(days).execute(c).await?.rows_affected());
    Ok(())
}
