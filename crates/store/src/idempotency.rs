//! Idempotency keys for POSTs that move money: the first request claims the key inside its
//! own transaction and stores its response there, so a repeat (within 24 h) returns the same
//! response and moves nothing. A concurrent repeat waits on the key's row lock (PostgreSQL)
//! or the write lock (SQLite) and then sees the stored response.

use crate::{Result, Tx};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdempotencyRow {
    pub request_hash: String,
    pub status_code: Option<i64>,
    pub response_body: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Claims `key`. Returns None when the key is new (now claimed in `tx`), or the stored row.
/// Keys older than 24 h are forgotten and claimed afresh.
pub async fn claim(
    tx: &mut Tx,
    org_id: &str,
    key: &str,
    request_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<IdempotencyRow>> {
    let expired = now - chrono::Duration::hours(24);
    on!(tx, c => sqlx::query("DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2 AND created_at < $3")
        .bind(org_id).bind(key).bind(expired).execute(c).await?.rows_affected());
    let inserted = on!(tx, c => sqlx::query("INSERT INTO idempotency_keys (org_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, key) DO NOTHING")
        .bind(org_id).bind(key).bind(request_hash).bind(now).execute(c).await?.rows_affected());
    if inserted == 1 {
        return Ok(None);
    }
    Ok(
        on!(tx, c => sqlx::query_as::<_, IdempotencyRow>("SELECT request_hash, status_code, response_body, created_at FROM idempotency_keys WHERE org_id = $1 AND key = $2")
        .bind(org_id).bind(key).fetch_optional(c).await?),
    )
}

/// Stores the response of the request that claimed `key`.
pub async fn complete(
    tx: &mut Tx,
    org_id: &str,
    key: &str,
    status_code: i64,
    body: &str,
) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE idempotency_keys SET status_code = $3, response_body = $4 WHERE org_id = $1 AND key = $2")
        .bind(org_id).bind(key).bind(status_code).bind(body).execute(c).await?.rows_affected());
    Ok(())
}

/// Forgets a claimed key whose request was refused before it did anything.
pub async fn release(tx: &mut Tx, org_id: &str, key: &str) -> Result<()> {
    on!(tx, c => sqlx::query("DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2").bind(org_id).bind(key).execute(c).await?.rows_affected());
    Ok(())
}
