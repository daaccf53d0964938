//! Retention offers and their acceptances (migration 0011). The rules (who may set an
//! offer, when it is shown, one acceptance per subscription) live in `app::retention`;
//! this module only reads and writes rows.

use crate::{Result, StoreError, Tx};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The organisation's offer to a customer about to cancel: a coupon and optional words.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct OfferRow {
    pub org_id: String,
    pub coupon_id: String,
    pub message: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// An accepted offer: the discount it created on one subscription.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct AcceptanceRow {
    pub org_id: String,
    pub subscription_id: String,
    pub discount_id: String,
    pub coupon_id: String,
    pub accepted_at: DateTime<Utc>,
}

pub async fn offer(tx: &mut Tx, org_id: &str) -> Result<Option<OfferRow>> {
    Ok(on!(tx, c => sqlx::query_as::<_, OfferRow>(
        "SELECT org_id, coupon_id, message, updated_at FROM retention_offers WHERE org_id = $1")
        .bind(org_id).fetch_optional(c).await?))
}

/// Sets the organisation's offer, replacing the one it had.
pub async fn set_offer(tx: &mut Tx, r: &OfferRow) -> Result<()> {
    on!(tx, c => sqlx::query(
        "INSERT INTO retention_offers (org_id, coupon_id, message, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (org_id) DO UPDATE SET coupon_id = excluded.coupon_id, message = excluded.message, \
         updated_at = excluded.updated_at")
        .bind(&r.org_id).bind(&r.coupon_id).bind(&r.message).bind(r.updated_at)
        .execute(c).await.map_err(StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

/// Removes the organisation's offer (acceptances stay: they record discounts given).
pub async fn delete_offer(tx: &mut Tx, org_id: &str) -> Result<u64> {
    Ok(
        on!(tx, c => sqlx::query("DELETE FROM retention_offers WHERE org_id = $1")
        .bind(org_id).execute(c).await?.rows_affected()),
    )
}

/// The acceptance of an offer on this subscription, if there was one.
pub async fn acceptance(
    tx: &mut Tx,
    org_id: &str,
    subscription_id: &str,
) -> Result<Option<AcceptanceRow>> {
    Ok(on!(tx, c => sqlx::query_as::<_, AcceptanceRow>(
        "SELECT org_id, subscription_id, discount_id, coupon_id, accepted_at FROM retention_acceptances \
         WHERE org_id = $1 AND subscription_id = $2")
        .bind(org_id).bind(subscription_id).fetch_optional(c).await?))
}

/// Records an acceptance; a second one for the subscription is `StoreError::Conflict`.
pub async fn insert_acceptance(tx: &mut Tx, r: &AcceptanceRow) -> Result<()> {
    on!(tx, c => sqlx::query(
        "INSERT INTO retention_acceptances (org_id, subscription_id, discount_id, coupon_id, accepted_at) \
         VALUES ($1, $2, $3, $4, $5)")
        .bind(&r.org_id).bind(&r.subscription_id).bind(&r.discount_id).bind(&r.coupon_id).bind(r.accepted_at)
        .execute(c).await.map_err(StoreError::from_sqlx)?.rows_affected());
    Ok(())
}
