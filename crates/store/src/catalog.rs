//! The catalog: products, prices with per-currency pricing, tax rates and coupons.

use crate::{Result, Tx};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct ProductRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub description: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct PriceRow {
    pub id: String,
    pub org_id: String,
    pub product_id: String,
    pub nickname: Option<String>,
    pub kind: String,
    pub interval_unit: Option<String>,
    pub interval_count: Option<i64>,
    pub usage_type: String,
    pub model: String,
    pub tax_behavior: String,
    pub active: bool,
    pub used: bool,
    pub created_at: DateTime<Utc>,
}

const PRICE_COLS: &str = "id, org_id, product_id, nickname, kind, interval_unit, interval_count, usage_type, model, tax_behavior, active, used, created_at";

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct PriceAmountRow {
    pub org_id: String,
    pub price_id: String,
    pub currency: String,
    /// JSON of `billing::pricing::PricingModel`.
    pub pricing: String,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct TaxRateRow {
    pub id: String,
    pub org_id: String,
    pub display_name: String,
    pub percentage: String,
    pub country: String,
    pub region: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct CouponRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub percent_off: Option<String>,
    pub amount_off: Option<i64>,
    pub currency: Option<String>,
    pub duration: String,
    pub duration_in_periods: Option<i64>,
    /// JSON array of product ids; None applies to the whole invoice.
    pub product_ids: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_products(tx: &mut Tx, rows: &[ProductRow]) -> Result<u64> {
    Ok(insert_rows!(
        tx,
        "INSERT INTO products (id, org_id, name, description, active, created_at) ",
        rows,
        1000,
        |b, r| {
            b.push_bind(&r.id)
                .push_bind(&r.org_id)
                .push_bind(&r.name)
                .push_bind(&r.description)
                .push_bind(r.active)
                .push_bind(r.created_at);
        }
    ))
}

pub async fn get_product(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<ProductRow>> {
    Ok(
        on!(tx, c => sqlx::query_as::<_, ProductRow>("SELECT id, org_id, name, description, active, created_at FROM products WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// The products with these ids, in id order; unknown ids are left out. One statement.
pub async fn products_by_ids(tx: &mut Tx, org_id: &str, ids: &[String]) -> Result<Vec<ProductRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(select_in!(
        tx,
        ProductRow,
        "SELECT id, org_id, name, description, active, created_at FROM products WHERE org_id = ",
        org_id,
        "id",
        ids,
        " ORDER BY id"
    ))
}

pub async fn update_product(tx: &mut Tx, r: &ProductRow) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE products SET name = $3, description = $4, active = $5 WHERE org_id = $1 AND id = $2")
        .bind(&r.org_id).bind(&r.id).bind(&r.name).bind(&r.description).bind(r.active).execute(c).await?.rows_affected());
    Ok(())
}

pub async fn list_products(
    tx: &mut Tx,
    org_id: &str,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<ProductRow>> {
    Ok(
        on!(tx, c => sqlx::query_as::<_, ProductRow>("SELECT id, org_id, name, description, active, created_at FROM products WHERE org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR id < $2) ORDER BY id DESC LIMIT $3")
        .bind(org_id).bind(starting_after).bind(limit).fetch_all(c).await?),
    )
}

/// Every product of the organisation as (id, name), archived ones too (display names).
pub async fn all_product_names(tx: &mut Tx, org_id: &str) -> Result<Vec<(String, String)>> {
    Ok(
        on!(tx, c => sqlx::query_as::<_, (String, String)>("SELECT id, name FROM products WHERE org_id = $1")
        .bind(org_id).fetch_all(c).await?),
    )
}

/// Every price of the organisation as (id, product id, nickname), archived ones too
/// (display names).
pub async fn all_price_nicknames(
    tx: &mut Tx,
    org_id: &str,
) -> Result<Vec<(String, String, Option<String>)>> {
    Ok(
        on!(tx, c => sqlx::query_as::<_, (String, String, Option<String>)>("SELECT id, product_id, nickname FROM prices WHERE org_id = $1")
        .bind(org_id).fetch_all(c).await?),
    )
}

pub async fn insert_prices(
    tx: &mut Tx,
    rows: &[PriceRow],
    amounts: &[PriceAmountRow],
) -> Result<()> {
    insert_rows!(
        tx,
        format!("INSERT INTO prices ({PRICE_COLS}) "),
        rows,
        1000,
        |b, r| {
            b.push_bind(&r.id)
                .push_bind(&r.org_id)
                .push_bind(&r.product_id)
                .push_bind(&r.nickname)
                .push_bind(&r.kind)
                .push_bind(&r.interval_unit)
                .push_bind(r.interval_count)
                .push_bind(&r.usage_type)
                .push_bind(&r.model)
                .push_bind(&r.tax_behavior)
                .push_bind(r.active)
                .push_bind(r.used)
                .push_bind(r.created_at);
        }
    );
    insert_rows!(
        tx,
        "INSERT INTO price_currency_amounts (org_id, price_id, currency, pricing) ",
        amounts,
        1000,
        |b, r| {
            b.push_bind(&r.org_id)
                .push_bind(&r.price_id)
                .push_bind(&r.currency)
                .push_bind(&r.pricing);
        }
    );
    Ok(())
}

pub async fn get_price(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<PriceRow>> {
    let sql = format!("SELECT {PRICE_COLS} FROM prices WHERE org_id = $1 AND id = $2");
    Ok(
        on!(tx, c => sqlx::query_as::<_, PriceRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// The prices with these ids, in id order; unknown ids are left out. One statement.
pub async fn prices_by_ids(tx: &mut Tx, org_id: &str, ids: &[String]) -> Result<Vec<PriceRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(select_in!(
        tx,
        PriceRow,
        format!("SELECT {PRICE_COLS} FROM prices WHERE org_id = "),
        org_id,
        "id",
        ids,
        " ORDER BY id"
    ))
}

pub async fn list_prices(
    tx: &mut Tx,
    org_id: &str,
    product_id: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<PriceRow>> {
    let sql = format!("SELECT {PRICE_COLS} FROM prices WHERE org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR product_id = $2) AND (CAST($3 AS TEXT) IS NULL OR id < $3) ORDER BY id DESC LIMIT $4");
    Ok(
        on!(tx, c => sqlx::query_as::<_, PriceRow>(&sql).bind(org_id).bind(product_id).bind(starting_after).bind(limit).fetch_all(c).await?),
    )
}

pub async fn price_amounts(
    tx: &mut Tx,
    org_id: &str,
    price_ids: &[String],
) -> Result<Vec<PriceAmountRow>> {
    Ok(select_in!(
        tx,
        PriceAmountRow,
        "SELECT org_id, price_id, currency, pricing FROM price_currency_amounts WHERE org_id = ",
        org_id,
        "price_id",
        price_ids,
        " ORDER BY price_id, currency"
    ))
}

pub async fn set_price_flags(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    active: bool,
    nickname: Option<&str>,
) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE prices SET active = $3, nickname = $4 WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(active).bind(nickname).execute(c).await?.rows_affected());
    Ok(())
}

/// Marks prices as used: from then on they can be archived but never deleted.
pub async fn mark_prices_used(tx: &mut Tx, org_id: &str, ids: &[String]) -> Result<()> {
    for id in ids {
        on!(tx, c => sqlx::query("UPDATE prices SET used = TRUE WHERE org_id = $1 AND id = $2 AND NOT used")
            .bind(org_id).bind(id).execute(c).await?.rows_affected());
    }
    Ok(())
}

/// Deletes an unused price and its amounts; returns false if it was used (then archive it).
pub async fn delete_unused_price(tx: &mut Tx, org_id: &str, id: &str) -> Result<bool> {
    let used: Option<bool> = on!(tx, c => sqlx::query_scalar("SELECT used FROM prices WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).fetch_optional(c).await?);
    match used {
        None => Err(crate::StoreError::NotFound),
        Some(true) => Ok(false),
        Some(false) => {
            on!(tx, c => sqlx::query("DELETE FROM price_currency_amounts WHERE org_id = $1 AND price_id = $2").bind(org_id).bind(id).execute(c).await?.rows_affected());
            on!(tx, c => sqlx::query("DELETE FROM prices WHERE org_id = $1 AND id = $2").bind(org_id).bind(id).execute(c).await?.rows_affected());
            Ok(true)
        }
    }
}

pub async fn insert_tax_rates(tx: &mut Tx, rows: &[TaxRateRow]) -> Result<u64> {
    Ok(insert_rows!(tx, "INSERT INTO tax_rates (id, org_id, display_name, percentage, country, region, active, created_at) ", rows, 1000, |b, r| {
        b.push_bind(&r.id).push_bind(&r.org_id).push_bind(&r.display_name).push_bind(&r.percentage)
            .push_bind(&r.country).push_bind(&r.region).push_bind(r.active).push_bind(r.created_at);
    }))
}

pub async fn list_tax_rates(
    tx: &mut Tx,
    org_id: &str,
    active_only: bool,
) -> Result<Vec<TaxRateRow>> {
    Ok(
        on!(tx, c => sqlx::query_as::<_, TaxRateRow>("SELECT id, org_id, display_name, percentage, country, region, active, created_at FROM tax_rates WHERE org_id = $1 AND (active OR NOT $2) ORDER BY id DESC")
        .bind(org_id).bind(active_only).fetch_all(c).await?),
    )
}

pub async fn get_tax_rate(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<TaxRateRow>> {
    Ok(
        on!(tx, c => sqlx::query_as::<_, TaxRateRow>("SELECT id, org_id, display_name, percentage, country, region, active, created_at FROM tax_rates WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

pub async fn insert_coupons(tx: &mut Tx, rows: &[CouponRow]) -> Result<u64> {
    Ok(insert_rows!(tx, "INSERT INTO coupons (id, org_id, name, percent_off, amount_off, currency, duration, duration_in_periods, product_ids, created_at) ", rows, 1000, |b, r| {
        b.push_bind(&r.id).push_bind(&r.org_id).push_bind(&r.name).push_bind(&r.percent_off).push_bind(r.amount_off)
            .push_bind(&r.currency).push_bind(&r.duration).push_bind(r.duration_in_periods).push_bind(&r.product_ids).push_bind(r.created_at);
    }))
}

const COUPON_COLS: &str = "id, org_id, name, percent_off, amount_off, currency, duration, duration_in_periods, product_ids, created_at";

pub async fn get_coupon(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<CouponRow>> {
    let sql = format!("SELECT {COUPON_COLS} FROM coupons WHERE org_id = $1 AND id = $2");
    Ok(
        on!(tx, c => sqlx::query_as::<_, CouponRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

pub async fn list_coupons(
    tx: &mut Tx,
    org_id: &str,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<CouponRow>> {
    let sql = format!("SELECT {COUPON_COLS} FROM coupons WHERE org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR id < $2) ORDER BY id DESC LIMIT $3");
    Ok(
        on!(tx, c => sqlx::query_as::<_, CouponRow>(&sql).bind(org_id).bind(starting_after).bind(limit).fetch_all(c).await?),
    )
}
