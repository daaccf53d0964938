//! The catalog: products, prices in every pricing model with amounts per currency, tax rates
//! and coupons.
//!
//! Rules: a price's model and numbers never change once created (create a new price
//! instead); a price that has been used by a subscription or invoice is archived
//! (`active: false`), never deleted; an unused price may be deleted.

use crate::util::parse_id;
use crate::{page_limit, AppError, Ctx, Page, Result};
use billing::discount::{Discount, DiscountDuration, DiscountValue};
use billing::ids::{CouponId, PriceId, ProductId, TaxRateId};
use billing::period::{Interval, IntervalUnit};
use billing::pricing::{PricingModel, Tier};
use billing::Currency;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use store::catalog::{CouponRow, PriceAmountRow, PriceRow, ProductRow, TaxRateRow};
use store::{new_id, Db, Tx};
use utoipa::ToSchema;

/// A number given as a JSON number or a decimal string ("0.0015").
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum DecimalInput {
    Number(serde_json::Number),
    Text(String),
}

impl DecimalInput {
    pub fn parse(&self, param: &str) -> Result<Decimal> {
        let s = match self {
            DecimalInput::Number(n) => n.to_string(),
            DecimalInput::Text(s) => s.trim().to_string(),
        };
        Decimal::from_str(&s)
            .or_else(|_| Decimal::from_scientific(&s))
            .map_err(|_| AppError::invalid(param, format!("{s:?} is not a decimal number")))
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductCreate {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Product {
    pub id: String,
    pub object: &'static str,
    pub name: String,
    pub description: Option<String>,
    pub active: bool,
    pub created: chrono::DateTime<chrono::Utc>,
}

impl From<ProductRow> for Product {
    fn from(r: ProductRow) -> Self {
        Product {
            id: r.id,
            object: "product",
            name: r.name,
            description: r.description,
            active: r.active,
            created: r.created_at,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recurring {
    /// day, week, month or year.
    pub interval: String,
    #[serde(default = "one")]
    pub interval_count: u32,
    /// licensed (default: billed in advance for a quantity) or metered (usage, in arrears).
    #[serde(default = "licensed")]
    pub usage_type: String,
}

fn one() -> u32 {
    1
}
fn licensed() -> String {
    "licensed".into()
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierInput {
    /// Inclusive upper bound; omit (or null) for the last, unbounded tier.
    pub up_to: Option<u64>,
    /// Per unit, minor units (integer).
    pub unit_amount: Option<i64>,
    /// Per unit, minor units, exact decimal string ("0.15").
    pub unit_amount_decimal: Option<String>,
    /// Once when the tier is reached, minor units.
    pub flat_amount: Option<i64>,
}

/// The numbers of a price in one currency. Which fields apply depends on the model:
/// flat → amount; per_unit → unit_amount or unit_amount_decimal; graduated and volume →
/// tiers; package → amount and package_size.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CurrencyAmountInput {
    pub amount: Option<i64>,
    pub unit_amount: Option<i64>,
    pub unit_amount_decimal: Option<String>,
    pub tiers: Option<Vec<TierInput>>,
    pub package_size: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceCreate {
    pub product: String,
    pub nickname: Option<String>,
    /// Omit for a one-time price.
    pub recurring: Option<Recurring>,
    /// flat, per_unit, graduated, volume or package.
    pub model: String,
    /// exclusive (default) or inclusive.
    pub tax_behavior: Option<String>,
    /// Amounts per ISO currency code, e.g. {"USD": {"unit_amount": 3000}, "EUR": {…}}.
    pub currency_amounts: BTreeMap<String, CurrencyAmountInput>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceUpdate {
    pub nickname: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Price {
    pub id: String,
    pub object: &'static str,
    pub product: String,
    pub nickname: Option<String>,
    /// recurring or one_time.
    #[serde(rename = "type")]
    pub kind: String,
    pub recurring: Option<Recurring>,
    pub model: String,
    pub tax_behavior: String,
    pub active: bool,
    /// Amounts per currency, as the pricing model with exact decimal strings in minor units.
    #[schema(value_type = Object)]
    pub currency_amounts: BTreeMap<String, PricingModel>,
    pub created: chrono::DateTime<chrono::Utc>,
}

fn dec_opt(param: &str, int: Option<i64>, text: &Option<String>) -> Result<Option<Decimal>> {
    match (int, text) {
        (Some(_), Some(_)) => Err(AppError::invalid(
            param,
            format!("give {param} or {param}_decimal, not both"),
        )),
        (Some(i), None) => Ok(Some(Decimal::from(i))),
        (None, Some(t)) => Decimal::from_str(t.trim()).map(Some).map_err(|_| {
            AppError::invalid(
                format!("{param}_decimal"),
                format!("{t:?} is not a decimal number"),
            )
        }),
        (None, None) => Ok(None),
    }
}

fn non_negative(param: &str, d: Decimal) -> Result<Decimal> {
    if d.is_sign_negative() && !d.is_zero() {
        return Err(AppError::invalid(
            param,
            format!("{param} must not be negative"),
        ));
    }
    if d > Decimal::from(1_000_000_000_000i64) {
        return Err(AppError::invalid(param, format!("{param} is too large")));
    }
    Ok(d)
}

/// Turns one currency's input into a validated pricing model.
pub fn pricing_model(
    model: &str,
    input: &CurrencyAmountInput,
    param: &str,
) -> Result<PricingModel> {
    let need = |name: &str, v: Option<Decimal>| {
        v.ok_or_else(|| AppError::missing(&format!("{param}.{name}")))
    };
    let pm = match model {
        "flat" => PricingModel::Flat {
            amount: non_negative(
                &format!("{param}.amount"),
                need("amount", input.amount.map(Decimal::from))?,
            )?,
        },
        "per_unit" => PricingModel::PerUnit {
            unit_amount: non_negative(
                &format!("{param}.unit_amount"),
                need(
                    "unit_amount",
                    dec_opt(
                        &format!("{param}.unit_amount"),
                        input.unit_amount,
                        &input.unit_amount_decimal,
                    )?,
                )?,
            )?,
        },
        "graduated" | "volume" => {
            let tiers = input
                .tiers
                .as_ref()
                .ok_or_else(|| AppError::missing(&format!("{param}.tiers")))?;
            let mut out = Vec::with_capacity(tiers.len());
            for (i, t) in tiers.iter().enumerate() {
                let p = format!("{param}.tiers[{i}]");
                let unit = dec_opt(
                    &format!("{p}.unit_amount"),
                    t.unit_amount,
                    &t.unit_amount_decimal,
                )?
                .unwrap_or_default();
                out.push(Tier {
                    up_to: t.up_to,
                    unit_amount: non_negative(&format!("{p}.unit_amount"), unit)?,
                    flat_amount: non_negative(
                        &format!("{p}.flat_amount"),
                        Decimal::from(t.flat_amount.unwrap_or(0)),
                    )?,
                });
            }
            if model == "graduated" {
                PricingModel::Graduated { tiers: out }
            } else {
                PricingModel::Volume { tiers: out }
            }
        }
        "package" => PricingModel::Package {
            amount: non_negative(
                &format!("{param}.amount"),
                need("amount", input.amount.map(Decimal::from))?,
            )?,
            package_size: input
                .package_size
                .ok_or_else(|| AppError::missing(&format!("{param}.package_size")))?,
        },
        other => {
            return Err(AppError::invalid(
                "model",
                format!(
                "unknown pricing model {other:?}: use flat, per_unit, graduated, volume or package"
            ),
            ))
        }
    };
    pm.validate().map_err(|e| AppError::billing(param, e))?;
    Ok(pm)
}

pub async fn create_product(db: &Db, ctx: &Ctx, input: &ProductCreate) -> Result<Product> {
    let name = input.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(AppError::invalid(
            "name",
            "name must be 1 to 200 characters",
        ));
    }
    let row = ProductRow {
        id: new_id!(ProductId).to_string(),
        org_id: ctx.org_id.clone(),
        name: name.into(),
        description: input.description.clone(),
        active: true,
        created_at: ctx.now,
    };
    let mut tx = db.begin().await?;
    store::catalog::insert_products(&mut tx, std::slice::from_ref(&row)).await?;
    tx.commit().await?;
    Ok(row.into())
}

pub async fn update_product(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    input: &ProductUpdate,
) -> Result<Product> {
    parse_id("id", id, ProductId::parse)?;
    let mut tx = db.begin().await?;
    let mut row = store::catalog::get_product(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("product", id))?;
    if let Some(n) = &input.name {
        if n.trim().is_empty() {
            return Err(AppError::invalid("name", "name must not be empty"));
        }
        row.name = n.trim().into();
    }
    if input.description.is_some() {
        row.description = input.description.clone();
    }
    if let Some(a) = input.active {
        row.active = a;
    }
    store::catalog::update_product(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(row.into())
}

pub async fn get_product(db: &Db, ctx: &Ctx, id: &str) -> Result<Product> {
    parse_id("id", id, ProductId::parse)?;
    let mut tx = db.read().await?;
    Ok(store::catalog::get_product(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("product", id))?
        .into())
}

pub async fn list_products(
    db: &Db,
    ctx: &Ctx,
    starting_after: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<Product>> {
    let limit = page_limit(limit)?;
    let mut tx = db.read().await?;
    let rows =
        store::catalog::list_products(&mut tx, &ctx.org_id, starting_after, limit + 1).await?;
    Ok(Page::from_rows(
        rows.into_iter().map(Product::from).collect(),
        limit,
    ))
}

pub async fn create_price(db: &Db, ctx: &Ctx, input: &PriceCreate) -> Result<Price> {
    parse_id("product", &input.product, ProductId::parse)?;
    let (interval_unit, interval_count, usage_type) = match &input.recurring {
        Some(r) => {
            let unit = IntervalUnit::parse(&r.interval)
                .map_err(|e| AppError::billing("recurring.interval", e))?;
            Interval::new(unit, r.interval_count)
                .map_err(|e| AppError::billing("recurring.interval_count", e))?;
            if r.usage_type != "licensed" && r.usage_type != "metered" {
                return Err(AppError::invalid(
                    "recurring.usage_type",
                    format!(
                        "unknown usage_type {:?}: use licensed or metered",
                        r.usage_type
                    ),
                ));
            }
            (
                Some(unit.as_str().to_string()),
                Some(r.interval_count as i64),
                r.usage_type.clone(),
            )
        }
        None => (None, None, "licensed".to_string()),
    };
    let tax_behavior = input
        .tax_behavior
        .clone()
        .unwrap_or_else(|| "exclusive".into());
    if tax_behavior != "exclusive" && tax_behavior != "inclusive" {
        return Err(AppError::invalid(
            "tax_behavior",
            format!("unknown tax_behavior {tax_behavior:?}: use exclusive or inclusive"),
        ));
    }
    if input.currency_amounts.is_empty() {
        return Err(AppError::missing("currency_amounts"));
    }
    let id = new_id!(PriceId).to_string();
    let mut amounts = Vec::new();
    let mut models = BTreeMap::new();
    for (code, a) in &input.currency_amounts {
        let param = format!("currency_amounts.{code}");
        let cur = Currency::parse(code).map_err(|e| AppError::billing(param.clone(), e))?;
        let pm = pricing_model(&input.model, a, &param)?;
        amounts.push(PriceAmountRow {
            org_id: ctx.org_id.clone(),
            price_id: id.clone(),
            currency: cur.code().into(),
            pricing: serde_json::to_string(&pm).map_err(|e| AppError::Internal(e.to_string()))?,
        });
        models.insert(cur.code().to_string(), pm);
    }
    let row = PriceRow {
        id: id.clone(),
        org_id: ctx.org_id.clone(),
        product_id: input.product.clone(),
        nickname: input.nickname.clone(),
        kind: if input.recurring.is_some() {
            "recurring"
        } else {
            "one_time"
        }
        .into(),
        interval_unit,
        interval_count,
        usage_type,
        model: input.model.clone(),
        tax_behavior,
        active: true,
        used: false,
        created_at: ctx.now,
    };
    let mut tx = db.begin().await?;
    store::catalog::get_product(&mut tx, &ctx.org_id, &input.product)
        .await?
        .ok_or_else(|| AppError::not_found("product", &input.product))?;
    store::catalog::insert_prices(&mut tx, std::slice::from_ref(&row), &amounts).await?;
    tx.commit().await?;
    Ok(price_view(row, models))
}

fn price_view(r: PriceRow, amounts: BTreeMap<String, PricingModel>) -> Price {
    Price {
        recurring: r.interval_unit.clone().map(|i| Recurring {
            interval: i,
            interval_count: r.interval_count.unwrap_or(1) as u32,
            usage_type: r.usage_type.clone(),
        }),
        id: r.id,
        object: "price",
        product: r.product_id,
        nickname: r.nickname,
        kind: r.kind,
        model: r.model,
        tax_behavior: r.tax_behavior,
        active: r.active,
        currency_amounts: amounts,
        created: r.created_at,
    }
}

/// A price with its parsed per-currency models, as the billing code needs it.
#[derive(Debug, Clone)]
pub struct LoadedPrice {
    pub row: PriceRow,
    pub models: BTreeMap<String, PricingModel>,
    pub product_name: String,
}

impl LoadedPrice {
    pub fn interval(&self) -> Option<Interval> {
        let unit = IntervalUnit::parse(self.row.interval_unit.as_deref()?).ok()?;
        Interval::new(unit, self.row.interval_count.unwrap_or(1) as u32).ok()
    }
    pub fn model(&self, currency: &str) -> Option<&PricingModel> {
        self.models.get(currency)
    }
}

/// Loads prices with their amounts and product names: three statements (prices, their
/// amounts, their products) whatever the number of ids. Unknown ids are left out; a
/// duplicate id is loaded once.
pub async fn load_prices(
    tx: &mut Tx,
    org: &str,
    ids: &[String],
) -> Result<BTreeMap<String, LoadedPrice>> {
    let ids: Vec<String> = ids
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let rows = store::catalog::prices_by_ids(tx, org, &ids).await?;
    if rows.is_empty() {
        return Ok(BTreeMap::new());
    }
    let found: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut models: BTreeMap<String, BTreeMap<String, PricingModel>> = BTreeMap::new();
    for a in store::catalog::price_amounts(tx, org, &found).await? {
        let pm: PricingModel = serde_json::from_str(&a.pricing)
            .map_err(|e| AppError::Internal(format!("price {}: {e}", a.price_id)))?;
        models.entry(a.price_id).or_default().insert(a.currency, pm);
    }
    let product_ids: Vec<String> = rows
        .iter()
        .map(|r| r.product_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let names: BTreeMap<String, String> = store::catalog::products_by_ids(tx, org, &product_ids)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    Ok(rows
        .into_iter()
        .map(|row| {
            let product_name = names.get(&row.product_id).cloned().unwrap_or_default();
            let models = models.remove(&row.id).unwrap_or_default();
            (
                row.id.clone(),
                LoadedPrice {
                    row,
                    models,
                    product_name,
                },
            )
        })
        .collect())
}

pub async fn get_price(db: &Db, ctx: &Ctx, id: &str) -> Result<Price> {
    parse_id("id", id, PriceId::parse)?;
    let mut tx = db.read().await?;
    let mut m = load_prices(&mut tx, &ctx.org_id, &[id.to_string()]).await?;
    let p = m
        .remove(id)
        .ok_or_else(|| AppError::not_found("price", id))?;
    Ok(price_view(p.row, p.models))
}

pub async fn list_prices(
    db: &Db,
    ctx: &Ctx,
    product: Option<&str>,
    starting_after: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<Price>> {
    let limit = page_limit(limit)?;
    let mut tx = db.read().await?;
    let rows =
        store::catalog::list_prices(&mut tx, &ctx.org_id, product, starting_after, limit + 1)
            .await?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut loaded = load_prices(&mut tx, &ctx.org_id, &ids).await?;
    let out = ids
        .iter()
        .filter_map(|id| loaded.remove(id))
        .map(|p| price_view(p.row, p.models))
        .collect();
    Ok(Page::from_rows(out, limit))
}

pub async fn update_price(db: &Db, ctx: &Ctx, id: &str, input: &PriceUpdate) -> Result<Price> {
    parse_id("id", id, PriceId::parse)?;
    let mut tx = db.begin().await?;
    let row = store::catalog::get_price(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("price", id))?;
    let nickname = input.nickname.clone().or(row.nickname.clone());
    store::catalog::set_price_flags(
        &mut tx,
        &ctx.org_id,
        id,
        input.active.unwrap_or(row.active),
        nickname.as_deref(),
    )
    .await?;
    let mut m = load_prices(&mut tx, &ctx.org_id, &[id.to_string()]).await?;
    tx.commit().await?;
    let p = m
        .remove(id)
        .ok_or_else(|| AppError::not_found("price", id))?;
    Ok(price_view(p.row, p.models))
}

/// Deletes an unused price; a used one cannot be deleted and must be archived.
pub async fn delete_price(db: &Db, ctx: &Ctx, id: &str) -> Result<()> {
    parse_id("id", id, PriceId::parse)?;
    let mut tx = db.begin().await?;
    match store::catalog::delete_unused_price(&mut tx, &ctx.org_id, id).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(AppError::state(
                "price_in_use",
                format!("price {id} has been used; archive it with active=false instead"),
            ))
        }
        Err(store::StoreError::NotFound) => return Err(AppError::not_found("price", id)),
        Err(e) => return Err(e.into()),
    }
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRateCreate {
    pub display_name: String,
    /// Percent, e.g. 19 or "8.875".
    #[schema(value_type = String)]
    pub percentage: DecimalInput,
    /// ISO alpha-2.
    pub country: String,
    pub region: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaxRateView {
    pub id: String,
    pub object: &'static str,
    pub display_name: String,
    pub percentage: String,
    pub country: String,
    pub region: Option<String>,
    pub active: bool,
    pub created: chrono::DateTime<chrono::Utc>,
}

impl From<TaxRateRow> for TaxRateView {
    fn from(r: TaxRateRow) -> Self {
        TaxRateView {
            id: r.id,
            object: "tax_rate",
            display_name: r.display_name,
            percentage: r.percentage,
            country: r.country,
            region: r.region,
            active: r.active,
            created: r.created_at,
        }
    }
}

pub async fn create_tax_rate(db: &Db, ctx: &Ctx, input: &TaxRateCreate) -> Result<TaxRateView> {
    let pct = input.percentage.parse("percentage")?;
    if pct < Decimal::ZERO || pct > Decimal::from(100) {
        return Err(AppError::invalid(
            "percentage",
            format!("percentage {pct} must be between 0 and 100"),
        ));
    }
    let country = input.country.trim().to_ascii_uppercase();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(AppError::invalid(
            "country",
            format!("{country:?} is not an ISO 3166-1 alpha-2 country code"),
        ));
    }
    if input.display_name.trim().is_empty() {
        return Err(AppError::invalid(
            "display_name",
            "display_name must not be empty",
        ));
    }
    let row = TaxRateRow {
        id: new_id!(TaxRateId).to_string(),
        org_id: ctx.org_id.clone(),
        display_name: input.display_name.trim().into(),
        percentage: pct.normalize().to_string(),
        country,
        region: input
            .region
            .as_ref()
            .map(|r| r.trim().to_ascii_uppercase())
            .filter(|r| !r.is_empty()),
        active: true,
        created_at: ctx.now,
    };
    let mut tx = db.begin().await?;
    store::catalog::insert_tax_rates(&mut tx, std::slice::from_ref(&row)).await?;
    tx.commit().await?;
    Ok(row.into())
}

pub async fn list_tax_rates(db: &Db, ctx: &Ctx) -> Result<Page<TaxRateView>> {
    let mut tx = db.read().await?;
    let rows = store::catalog::list_tax_rates(&mut tx, &ctx.org_id, false).await?;
    let n = rows.len() as i64;
    Ok(Page::from_rows(
        rows.into_iter().map(TaxRateView::from).collect(),
        n,
    ))
}

pub fn tax_rate_rule(r: &TaxRateRow) -> Result<billing::tax::TaxRate> {
    Ok(billing::tax::TaxRate {
        id: TaxRateId::parse(&r.id).map_err(|e| AppError::Internal(e.to_string()))?,
        display_name: r.display_name.clone(),
        percentage: Decimal::from_str(&r.percentage)
            .map_err(|e| AppError::Internal(format!("tax rate {}: {e}", r.id)))?,
        country: r.country.clone(),
        region: r.region.clone(),
    })
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponCreate {
    pub name: String,
    /// 0 < percent_off ≤ 100.
    #[schema(value_type = Option<String>)]
    pub percent_off: Option<DecimalInput>,
    /// Minor units of `currency`.
    pub amount_off: Option<i64>,
    pub currency: Option<String>,
    /// once, repeating or forever.
    pub duration: String,
    pub duration_in_periods: Option<u32>,
    /// Limit the discount to these products.
    pub applies_to_products: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Coupon {
    pub id: String,
    pub object: &'static str,
    pub name: String,
    pub percent_off: Option<String>,
    pub amount_off: Option<i64>,
    pub currency: Option<String>,
    pub duration: String,
    pub duration_in_periods: Option<i64>,
    pub applies_to_products: Option<Vec<String>>,
    pub created: chrono::DateTime<chrono::Utc>,
}

impl From<CouponRow> for Coupon {
    fn from(r: CouponRow) -> Self {
        Coupon {
            id: r.id,
            object: "coupon",
            name: r.name,
            percent_off: r.percent_off,
            amount_off: r.amount_off,
            currency: r.currency,
            duration: r.duration,
            duration_in_periods: r.duration_in_periods,
            applies_to_products: r.product_ids.and_then(|p| serde_json::from_str(&p).ok()),
            created: r.created_at,
        }
    }
}

/// The coupon as a billing rule, with its duration.
pub fn coupon_rule(r: &CouponRow) -> Result<(Discount, DiscountDuration)> {
    let value = match (&r.percent_off, r.amount_off) {
        (Some(p), None) => DiscountValue::PercentOff(
            Decimal::from_str(p).map_err(|e| AppError::Internal(e.to_string()))?,
        ),
        (None, Some(a)) => DiscountValue::AmountOff(a),
        _ => {
            return Err(AppError::Internal(format!(
                "coupon {} has neither or both of percent_off and amount_off",
                r.id
            )))
        }
    };
    let products = match &r.product_ids {
        None => None,
        Some(p) => {
            let ids: Vec<String> =
                serde_json::from_str(p).map_err(|e| AppError::Internal(e.to_string()))?;
            Some(
                ids.iter()
                    .filter_map(|i| ProductId::parse(i).ok())
                    .collect(),
            )
        }
    };
    let duration = match r.duration.as_str() {
        "once" => DiscountDuration::Once,
        "repeating" => DiscountDuration::Repeating {
            periods: r.duration_in_periods.unwrap_or(1) as u32,
        },
        _ => DiscountDuration::Forever,
    };
    Ok((Discount { value, products }, duration))
}

pub async fn create_coupon(db: &Db, ctx: &Ctx, input: &CouponCreate) -> Result<Coupon> {
    if input.name.trim().is_empty() {
        return Err(AppError::invalid("name", "name must not be empty"));
    }
    let (percent_off, amount_off, currency) = match (&input.percent_off, input.amount_off) {
        (Some(p), None) => {
            let p = p.parse("percent_off")?;
            if p <= Decimal::ZERO || p > Decimal::from(100) {
                return Err(AppError::invalid(
                    "percent_off",
                    format!("percent_off {p} must be more than 0 and at most 100"),
                ));
            }
            (Some(p.normalize().to_string()), None, None)
        }
        (None, Some(a)) => {
            if a <= 0 {
                return Err(AppError::invalid(
                    "amount_off",
                    "amount_off must be positive",
                ));
            }
            let cur = input
                .currency
                .as_deref()
                .ok_or_else(|| AppError::missing("currency"))?;
            let cur = Currency::parse(cur).map_err(|e| AppError::billing("currency", e))?;
            (None, Some(a), Some(cur.code().to_string()))
        }
        _ => {
            return Err(AppError::invalid(
                "percent_off",
                "give exactly one of percent_off and amount_off",
            ))
        }
    };
    let duration_in_periods = match input.duration.as_str() {
        "once" | "forever" => None,
        "repeating" => match input.duration_in_periods {
            Some(n) if n >= 1 => Some(n as i64),
            _ => {
                return Err(AppError::invalid(
                    "duration_in_periods",
                    "repeating coupons need duration_in_periods ≥ 1",
                ))
            }
        },
        other => {
            return Err(AppError::invalid(
                "duration",
                format!("unknown duration {other:?}: use once, repeating or forever"),
            ))
        }
    };
    let products = match &input.applies_to_products {
        None => None,
        Some(p) => {
            for (i, id) in p.iter().enumerate() {
                parse_id(&format!("applies_to_products[{i}]"), id, ProductId::parse)?;
            }
            Some(serde_json::to_string(p).map_err(|e| AppError::Internal(e.to_string()))?)
        }
    };
    let row = CouponRow {
        id: new_id!(CouponId).to_string(),
        org_id: ctx.org_id.clone(),
        name: input.name.trim().into(),
        percent_off,
        amount_off,
        currency,
        duration: input.duration.clone(),
        duration_in_periods,
        product_ids: products,
        created_at: ctx.now,
    };
    let mut tx = db.begin().await?;
    store::catalog::insert_coupons(&mut tx, std::slice::from_ref(&row)).await?;
    tx.commit().await?;
    Ok(row.into())
}

pub async fn list_coupons(
    db: &Db,
    ctx: &Ctx,
    starting_after: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<Coupon>> {
    let limit = page_limit(limit)?;
    let mut tx = db.read().await?;
    let rows =
        store::catalog::list_coupons(&mut tx, &ctx.org_id, starting_after, limit + 1).await?;
    Ok(Page::from_rows(
        rows.into_iter().map(Coupon::from).collect(),
        limit,
    ))
}

pub async fn get_coupon(db: &Db, ctx: &Ctx, id: &str) -> Result<Coupon> {
    parse_id("id", id, CouponId::parse)?;
    let mut tx = db.read().await?;
    Ok(store::catalog::get_coupon(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("coupon", id))?
        .into())
}
