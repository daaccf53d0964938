//! Subscriptions: create, change with proration (and preview), cancel, and the renewal step
//! the bill run applies to each due subscription.
//!
//! Rules (BILLING.md "Proration", and where it is silent, as Stripe does):
//! - All items of a subscription share one interval; prices must be recurring, active, and
//!   have an amount in the customer's currency.
//! - Licensed fees are billed in advance: the first period is invoiced at creation, each
//!   later one when it starts (by the bill run). Metered prices are billed in arrears from
//!   usage, which arrives with usage ingestion; until then they add no charge.
//! - A trial is a first stub period with no charge; billing starts at the trial end, which
//!   becomes the anchor. Calendar alignment makes the anchor the next aligned boundary (the
//!   1st for monthly) and charges the stub first period prorated by days.
//! - A change whose new amount per period is higher (upgrade) takes effect at once and is
//!   invoiced at once: a credit for the unused part of each old item and a charge for the
//!   rest of the period of each new one, by days, the change day counted as remaining.
//!   Otherwise (downgrade, quantity decrease) it waits for the period end unless
//!   `effective: "now"` is asked. During a trial changes apply at once, with no proration.
//! - An interval change (new items on another interval, e.g. monthly → yearly; the items
//!   still share one interval) restarts the anchor at the change date and always takes
//!   effect at once, cheaper or not (`effective: "period_end"` is refused). It is invoiced
//!   at once: a credit for the unused part of each old item over the rest of the current
//!   period (by days, the change day counted as remaining) and a full charge of each new
//!   item for the new first period, which starts at local midnight of the change date
//!   (clamped to the current period, so an ended period awaiting the bill run leaves no
//!   gap). The new schedule's period 0 becomes the current period and the invoice carries
//!   its start as `billing_period_start`, so the bill run bills period 1 next (unless an
//!   invoice of this subscription already holds that start, e.g. a second change on the
//!   same day: the period is then already keyed). A negative total goes to the credit
//!   balance. Pending period-end changes are dropped. During a trial the interval changes
//!   at once with no proration and the trial end stays the anchor.
//! - Cancel at period end (default) or now; cancel now with `prorate: true` credits the
//!   unused part to the customer's credit balance. A cancel at period end can be undone
//!   (`resume`) until the period ends.

use crate::catalog::LoadedPrice;
use crate::invoicing::{self, ActiveDiscount, InvoicePreview, NewInvoice};
use crate::util::parse_id;
use crate::{page_limit, AppError, Ctx, Page, Result};
use billing::ids::{CustomerId, PriceId, ProductId, SubscriptionId, SubscriptionItemId};
use billing::invoice::{LineInput, LineKind};
use billing::period::{
    local_date, next_aligned_boundary, parse_tz, Interval, IntervalUnit, Period, Schedule,
};
use billing::tax::TaxTreatment;
use chrono::{DateTime, Days, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use store::customers::CustomerRow;
use store::subscriptions::{DiscountRow, ItemRow, SubscriptionRow};
use store::{new_id, Db, Tx};
use utoipa::ToSchema;

pub const MAX_QUANTITY: i64 = 1_000_000;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemCreate {
    pub price: String,
    /// Default 1; 0 ≤ quantity ≤ 1,000,000.
    pub quantity: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionCreate {
    pub customer: String,
    pub items: Vec<ItemCreate>,
    /// When the subscription starts (default now); may be in the past, and the bill run then
    /// bills every period since.
    pub start: Option<DateTime<Utc>>,
    /// Days of free trial before billing starts.
    pub trial_days: Option<u32>,
    /// Start periods on the 1st (monthly), Monday (weekly) or Jan 1 (yearly); the first
    /// period is prorated.
    #[serde(default)]
    pub calendar_aligned: bool,
    /// A coupon to attach to this subscription.
    pub coupon: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemChange {
    /// An existing item to change; omit to add a new item.
    pub id: Option<String>,
    pub price: Option<String>,
    pub quantity: Option<i64>,
    /// Remove this item.
    #[serde(default)]
    pub deleted: bool,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionChange {
    pub items: Vec<ItemChange>,
    /// "now" or "period_end"; default: now for upgrades, period_end otherwise.
    pub effective: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionCancel {
    /// Default true: the subscription runs to the end of the paid period.
    pub at_period_end: Option<bool>,
    /// With an immediate cancel: credit the unused part of the period (default false).
    #[serde(default)]
    pub prorate: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriptionItem {
    pub id: String,
    pub price: String,
    pub quantity: i64,
    /// A change waiting for the period end.
    pub pending_price: Option<String>,
    pub pending_quantity: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Subscription {
    pub id: String,
    pub object: &'static str,
    pub customer: String,
    /// trialing, active, past_due or canceled.
    pub status: String,
    pub currency: String,
    pub interval: String,
    pub interval_count: i64,
    pub billing_cycle_anchor: NaiveDate,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
    pub current_period_start_date: NaiveDate,
    pub current_period_end_date: NaiveDate,
    pub trial_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub items: Vec<SubscriptionItem>,
    pub created: DateTime<Utc>,
}

pub fn view(s: SubscriptionRow, items: &[ItemRow]) -> Subscription {
    Subscription {
        items: items
            .iter()
            .filter(|i| i.subscription_id == s.id)
            .map(|i| SubscriptionItem {
                id: i.id.clone(),
                price: i.price_id.clone(),
                quantity: i.quantity,
                pending_price: i.pending_price_id.clone(),
                pending_quantity: i.pending_quantity,
            })
            .collect(),
        id: s.id,
        object: "subscription",
        customer: s.customer_id,
        status: s.status,
        currency: s.currency,
        interval: s.interval_unit,
        interval_count: s.interval_count,
        billing_cycle_anchor: s.anchor_date,
        current_period_start: s.current_period_start,
        current_period_end: s.current_period_end,
        current_period_start_date: s.current_period_start_date,
        current_period_end_date: s.current_period_end_date,
        trial_end: s.trial_end,
        cancel_at_period_end: s.cancel_at_period_end,
        canceled_at: s.canceled_at,
        ended_at: s.ended_at,
        created: s.created_at,
    }
}

/// The schedule of a subscription row in its customer's zone.
pub fn schedule(s: &SubscriptionRow, tz: Tz) -> Result<Schedule> {
    let unit =
        IntervalUnit::parse(&s.interval_unit).map_err(|e| AppError::Internal(e.to_string()))?;
    let interval = Interval::new(unit, s.interval_count as u32)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Schedule {
        anchor: s.anchor_date,
        interval,
        tz,
    })
}

pub fn current_period(s: &SubscriptionRow) -> Period {
    Period {
        start_date: s.current_period_start_date,
        end_date: s.current_period_end_date,
        start: s.current_period_start,
        end: s.current_period_end,
    }
}

fn set_period(s: &mut SubscriptionRow, index: i64, p: &Period) {
    s.period_index = index;
    s.current_period_start = p.start;
    s.current_period_end = p.end;
    s.current_period_start_date = p.start_date;
    s.current_period_end_date = p.end_date;
}

/// The boundary one interval before `anchor` (for prorating a stub first period).
/// The days a proration of the current period divides by: the period's own days, or, for a
/// calendar-aligned stub first period (index −1 outside a trial), a whole period's days —
/// the stub was charged its days out of a whole period's, so its unused part is worth that
/// share too and a credit never exceeds what was charged.
fn proration_days(sub: &SubscriptionRow, period: &Period, tz: Tz) -> Result<i64> {
    if sub.period_index < 0 {
        let full = previous_boundary(sub.anchor_date, schedule(sub, tz)?.interval)
            .map(|p| (sub.anchor_date - p).num_days())
            .unwrap_or(period.days());
        Ok(full.max(period.days()))
    } else {
        Ok(period.days())
    }
}

fn previous_boundary(anchor: NaiveDate, interval: Interval) -> Option<NaiveDate> {
    let n = interval.count();
    match interval.unit() {
        IntervalUnit::Day => anchor.checked_sub_days(Days::new(n as u64)),
        IntervalUnit::Week => anchor.checked_sub_days(Days::new(7 * n as u64)),
        IntervalUnit::Month => anchor.checked_sub_months(Months::new(n)),
        IntervalUnit::Year => anchor.checked_sub_months(Months::new(12 * n)),
    }
}

fn fmt_period(p: &Period) -> String {
    let last = p.end_date.pred_opt().unwrap_or(p.end_date);
    format!(
        "{} – {}",
        p.start_date.format("%Y-%m-%d"),
        last.format("%Y-%m-%d")
    )
}

/// Each subscription's amount per period at its current items and prices, in `currency`,
/// before discounts and tax — what [`preview_change`] answers as `amount_per_period_before`
/// (and, for a change that keeps every item, `_after`). None for one whose price has no
/// amount in `currency`. The prices of all of them are read once.
pub(crate) async fn period_amounts_in(
    tx: &mut Tx,
    ctx: &Ctx,
    currency: &str,
    subs: &[Subscription],
) -> Result<Vec<Option<i64>>> {
    let ids: Vec<String> = subs
        .iter()
        .flat_map(|s| s.items.iter().map(|i| i.price.clone()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let prices = crate::catalog::load_prices(tx, &ctx.org_id, &ids).await?;
    Ok(subs
        .iter()
        .map(|s| {
            s.items
                .iter()
                .map(|i| {
                    let p = prices.get(&i.price).ok_or_else(|| {
                        AppError::Internal(format!("price {} is missing", i.price))
                    })?;
                    item_amount(p, currency, i.quantity)
                })
                .sum::<Result<i64>>()
                .ok()
        })
        .collect())
}

fn item_amount(price: &LoadedPrice, currency: &str, quantity: i64) -> Result<i64> {
    if price.row.usage_type == "metered" {
        return Ok(0);
    }
    let model = price.model(currency).ok_or_else(|| {
        AppError::invalid(
            "items",
            format!("price {} has no amount in {currency}", price.row.id),
        )
    })?;
    model
        .amount(Decimal::from(quantity))
        .map_err(|e| AppError::billing("items", e))
}

fn line(
    kind: LineKind,
    description: String,
    price: &LoadedPrice,
    quantity: i64,
    amount: i64,
    period: Period,
) -> LineInput {
    LineInput {
        kind,
        description,
        product: ProductId::parse(&price.row.product_id).ok(),
        price: PriceId::parse(&price.row.id).ok(),
        quantity: Decimal::from(quantity),
        amount,
        period: Some(period),
        tax_inclusive: price.row.tax_behavior == "inclusive",
    }
}

/// Which side of a change a proration line is.
#[derive(Clone, Copy)]
enum Prorated {
    /// The unused part of what was charged (a credit).
    Unused,
    /// The rest of the period at the new price or quantity (a charge).
    Remaining,
}

/// The proration line for `quantity` of `price` over the `remaining` of `total` days of
/// the period, `rest` being the remaining part; None when it comes to 0. `note` is added to
/// the wording (e.g. " after cancellation").
#[allow(clippy::too_many_arguments)]
fn proration_line(
    side: Prorated,
    price: &LoadedPrice,
    currency: &str,
    quantity: i64,
    remaining: i64,
    total: i64,
    rest: Period,
    note: &str,
) -> Result<Option<LineInput>> {
    let amount =
        billing::proration::prorate(item_amount(price, currency, quantity)?, remaining, total)
            .map_err(|e| AppError::Internal(e.to_string()))?;
    if amount == 0 {
        return Ok(None);
    }
    let (amount, what) = match side {
        Prorated::Unused => (-amount, "Unused time on"),
        Prorated::Remaining => (amount, "Remaining time on"),
    };
    let description = format!(
        "{what} {} × {quantity}{note} ({}, {remaining} of {total} days)",
        price.product_name,
        fmt_period(&rest)
    );
    Ok(Some(line(
        LineKind::Proration,
        description,
        price,
        quantity,
        amount,
        rest,
    )))
}

/// Lines charging `items` for `period`, each prorated by `days / full_days` when given
/// (a stub first period).
pub fn period_lines(
    items: &[ItemRow],
    prices: &BTreeMap<String, LoadedPrice>,
    currency: &str,
    period: &Period,
    stub: Option<(i64, i64)>,
) -> Result<Vec<LineInput>> {
    let mut out = Vec::with_capacity(items.len());
    for it in items.iter().filter(|i| i.deleted_at.is_none()) {
        let price = prices
            .get(&it.price_id)
            .ok_or_else(|| AppError::Internal(format!("price {} not loaded", it.price_id)))?;
        if price.row.usage_type == "metered" {
            continue;
        }
        let full = item_amount(price, currency, it.quantity)?;
        let (amount, kind, note) = match stub {
            Some((days, of)) => (
                billing::proration::prorate(full, days, of)
                    .map_err(|e| AppError::Internal(e.to_string()))?,
                LineKind::Proration,
                format!(", {days} of {of} days"),
            ),
            None => (full, LineKind::Subscription, String::new()),
        };
        let desc = format!(
            "{} × {} ({}{note})",
            price.product_name,
            it.quantity,
            fmt_period(period)
        );
        out.push(line(kind, desc, price, it.quantity, amount, *period));
    }
    Ok(out)
}

/// The customer's zone, parsed.
pub fn tz_of(c: &CustomerRow) -> Result<Tz> {
    parse_tz(&c.time_zone).map_err(|e| AppError::Internal(format!("customer {}: {e}", c.id)))
}

async fn check_items(
    tx: &mut Tx,
    org: &str,
    customer: &CustomerRow,
    items: &[(String, i64)],
    param: &str,
) -> Result<(BTreeMap<String, LoadedPrice>, Interval)> {
    if items.is_empty() {
        return Err(AppError::missing(param));
    }
    if items.len() > 20 {
        return Err(AppError::invalid(
            param,
            "a subscription has at most 20 items",
        ));
    }
    let ids: Vec<String> = items.iter().map(|i| i.0.clone()).collect();
    for (i, (p, q)) in items.iter().enumerate() {
        parse_id(&format!("{param}[{i}].price"), p, PriceId::parse)?;
        if !(0..=MAX_QUANTITY).contains(q) {
            return Err(AppError::invalid(
                format!("{param}[{i}].quantity"),
                format!("quantity must be between 0 and {MAX_QUANTITY}, got {q}"),
            ));
        }
    }
    let prices = crate::catalog::load_prices(tx, org, &ids).await?;
    let mut interval: Option<Interval> = None;
    for (i, (p, _)) in items.iter().enumerate() {
        let ip = format!("{param}[{i}].price");
        let price = prices
            .get(p)
            .ok_or_else(|| AppError::not_found("price", p))?;
        if !price.row.active {
            return Err(AppError::invalid(ip, format!("price {p} is archived")));
        }
        let iv = price
            .interval()
            .ok_or_else(|| AppError::invalid(ip.clone(), format!("price {p} is not recurring")))?;
        if price.model(&customer.currency).is_none() {
            return Err(AppError::invalid(
                ip,
                format!(
                    "price {p} has no amount in {}, the customer's billing currency",
                    customer.currency
                ),
            ));
        }
        match interval {
            None => interval = Some(iv),
            Some(x) if x != iv => {
                return Err(AppError::invalid(
                    ip,
                    "all items of a subscription must have the same interval",
                ))
            }
            _ => {}
        }
    }
    Ok((prices, interval.ok_or_else(|| AppError::missing(param))?))
}

/// Creates a subscription and invoices its first period (unless it starts with a trial).
pub async fn create(
    db: &Db,
    ctx: &Ctx,
    input: &SubscriptionCreate,
) -> Result<(Subscription, Option<invoicing::Invoice>)> {
    parse_id("customer", &input.customer, CustomerId::parse)?;
    // A customer on a test clock subscribes at the clock's time.
    let clock = {
        let mut tx = db.read().await?;
        match store::clocks::of_customer(&mut tx, &ctx.org_id, &input.customer).await? {
            Some(c) => store::clocks::get(&mut tx, &ctx.org_id, &c, false).await?,
            None => None,
        }
    };
    let clock_ctx = clock
        .as_ref()
        .map(|c| Ctx::new(ctx.org_id.clone(), c.frozen_time));
    let ctx = clock_ctx.as_ref().unwrap_or(ctx);
    let mut tx = db.begin().await?;
    invoicing::lock_numbering(&mut tx, &ctx.org_id, ctx.now).await?;
    let customer = store::customers::get_for_update(&mut tx, &ctx.org_id, &input.customer)
        .await?
        .ok_or_else(|| AppError::not_found("customer", &input.customer))?;
    let items_in: Vec<(String, i64)> = input
        .items
        .iter()
        .map(|i| (i.price.clone(), i.quantity.unwrap_or(1)))
        .collect();
    let (prices, interval) =
        check_items(&mut tx, &ctx.org_id, &customer, &items_in, "items").await?;
    let tz = tz_of(&customer)?;
    let start = input.start.unwrap_or(ctx.now);
    let start_date = local_date(start, tz);
    let sub_id = new_id!(SubscriptionId).to_string();
    if let Some(t) = input.trial_days {
        if t == 0 || t > 730 {
            return Err(AppError::invalid(
                "trial_days",
                "trial_days must be between 1 and 730",
            ));
        }
    }
    let (anchor, stub_end, status) = match input.trial_days {
        Some(days) => {
            let end = start_date
                .checked_add_days(Days::new(days as u64))
                .ok_or_else(|| AppError::invalid("trial_days", "trial too long"))?;
            (end, Some(end), "trialing")
        }
        None if input.calendar_aligned => {
            let prev = start_date.pred_opt().unwrap_or(start_date);
            let aligned = next_aligned_boundary(prev, interval.unit());
            if aligned == start_date {
                (start_date, None, "active")
            } else {
                let a = next_aligned_boundary(start_date, interval.unit());
                (a, Some(a), "active")
            }
        }
        None => (start_date, None, "active"),
    };
    let sched = Schedule {
        anchor,
        interval,
        tz,
    };
    let (index, period) = match stub_end {
        Some(end) => (
            -1,
            Period::from_dates(start_date, end, tz).map_err(|e| AppError::billing("start", e))?,
        ),
        None => (
            0,
            sched.period(0).map_err(|e| AppError::billing("start", e))?,
        ),
    };
    let mut row = SubscriptionRow {
        id: sub_id.clone(),
        org_id: ctx.org_id.clone(),
        customer_id: customer.id.clone(),
        status: status.into(),
        currency: customer.currency.clone(),
        interval_unit: interval.unit().as_str().into(),
        interval_count: interval.count() as i64,
        anchor_date: anchor,
        period_index: 0,
        current_period_start: period.start,
        current_period_end: period.end,
        current_period_start_date: period.start_date,
        current_period_end_date: period.end_date,
        trial_end: input.trial_days.map(|_| period.end),
        cancel_at_period_end: false,
        canceled_at: None,
        ended_at: None,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    set_period(&mut row, index, &period);
    let items: Vec<ItemRow> = items_in
        .iter()
        .map(|(p, q)| ItemRow {
            id: new_id!(SubscriptionItemId).to_string(),
            org_id: ctx.org_id.clone(),
            subscription_id: sub_id.clone(),
            price_id: p.clone(),
            quantity: *q,
            pending_price_id: None,
            pending_quantity: None,
            created_at: ctx.now,
            deleted_at: None,
        })
        .collect();
    store::subscriptions::insert(&mut tx, std::slice::from_ref(&row)).await?;
    if let Some(c) = &clock {
        store::clocks::attach_subscription(&mut tx, &ctx.org_id, &row.id, &c.id).await?;
    }
    store::subscriptions::insert_items(&mut tx, &items).await?;
    store::catalog::mark_prices_used(
        &mut tx,
        &ctx.org_id,
        &items_in.iter().map(|i| i.0.clone()).collect::<Vec<_>>(),
    )
    .await?;
    if let Some(coupon) = &input.coupon {
        attach_coupon(&mut tx, ctx, &customer, Some(&sub_id), coupon, "coupon").await?;
    }
    let mut invoice = None;
    if status != "trialing" {
        let stub = stub_end.map(|_| {
            let full = previous_boundary(anchor, interval)
                .map(|p| (anchor - p).num_days())
                .unwrap_or(period.days());
            (period.days(), full.max(period.days()))
        });
        let lines = period_lines(&items, &prices, &customer.currency, &period, stub)?;
        let mut discounts =
            invoicing::load_discounts(&mut tx, &ctx.org_id, std::slice::from_ref(&customer.id))
                .await?;
        let treatment = invoicing::treatment_of(&mut tx, &ctx.org_id, &customer).await?;
        let inv = invoicing::build(
            &customer,
            Some(&sub_id),
            "subscription_create",
            Some(period.start),
            Some((period.start, period.end)),
            lines,
            &mut discounts,
            true,
            &treatment,
            customer.credit_balance,
        )?;
        let rows = invoicing::write(&mut tx, &ctx.org_id, ctx.now, &[inv], true).await?;
        invoice = Some(invoicing::load(&mut tx, &ctx.org_id, &rows[0].id).await?);
    }
    crate::events::emit_subscription(&mut tx, ctx, "subscription.created", &row, None, None)
        .await?;
    tx.commit().await?;
    Ok((view(row, &items), invoice))
}

/// Attaches a coupon to a customer (or one of their subscriptions) as a discount.
pub async fn attach_coupon(
    tx: &mut Tx,
    ctx: &Ctx,
    customer: &CustomerRow,
    subscription: Option<&str>,
    coupon: &str,
    param: &str,
) -> Result<String> {
    parse_id(param, coupon, billing::ids::CouponId::parse)?;
    let c = store::catalog::get_coupon(tx, &ctx.org_id, coupon)
        .await?
        .ok_or_else(|| AppError::not_found("coupon", coupon))?;
    if let Some(cur) = &c.currency {
        if cur != &customer.currency {
            return Err(AppError::invalid(
                param,
                format!(
                    "coupon {coupon} is in {cur}; the customer bills in {}",
                    customer.currency
                ),
            ));
        }
    }
    let id = new_id!(billing::ids::DiscountId).to_string();
    store::subscriptions::insert_discounts(
        tx,
        &[DiscountRow {
            id: id.clone(),
            org_id: ctx.org_id.clone(),
            customer_id: customer.id.clone(),
            subscription_id: subscription.map(str::to_string),
            coupon_id: c.id,
            invoices_applied: 0,
            created_at: ctx.now,
            ended_at: None,
        }],
    )
    .await?;
    Ok(id)
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscountCreate {
    pub coupon: String,
    /// Limit to one subscription; omit for every invoice of the customer.
    pub subscription: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiscountView {
    pub id: String,
    pub object: &'static str,
    pub customer: String,
    pub subscription: Option<String>,
    pub coupon: String,
}

/// Gives a customer a discount from a coupon, for all their invoices or one subscription's.
pub async fn create_discount(
    db: &Db,
    ctx: &Ctx,
    customer_id: &str,
    input: &DiscountCreate,
) -> Result<DiscountView> {
    let mut tx = db.begin().await?;
    let view = add_discount(&mut tx, ctx, customer_id, input).await?;
    tx.commit().await?;
    Ok(view)
}

/// [`create_discount`] inside the caller's transaction (a retention offer's acceptance
/// writes its record in the same one). The subscription, when given, must be the
/// customer's.
pub async fn add_discount(
    tx: &mut Tx,
    ctx: &Ctx,
    customer_id: &str,
    input: &DiscountCreate,
) -> Result<DiscountView> {
    parse_id("id", customer_id, CustomerId::parse)?;
    let customer = store::customers::get(tx, &ctx.org_id, customer_id)
        .await?
        .ok_or_else(|| AppError::not_found("customer", customer_id))?;
    if let Some(s) = &input.subscription {
        parse_id("subscription", s, SubscriptionId::parse)?;
        let sub = store::subscriptions::get(tx, &ctx.org_id, s)
            .await?
            .ok_or_else(|| AppError::not_found("subscription", s))?;
        if sub.customer_id != customer.id {
            return Err(AppError::invalid(
                "subscription",
                format!("subscription {s} belongs to another customer"),
            ));
        }
    }
    let id = attach_coupon(
        tx,
        ctx,
        &customer,
        input.subscription.as_deref(),
        &input.coupon,
        "coupon",
    )
    .await?;
    Ok(DiscountView {
        id,
        object: "discount",
        customer: customer.id,
        subscription: input.subscription.clone(),
        coupon: input.coupon.clone(),
    })
}

pub async fn get(db: &Db, ctx: &Ctx, id: &str) -> Result<Subscription> {
    parse_id("id", id, SubscriptionId::parse)?;
    let mut tx = db.read().await?;
    let s = store::subscriptions::get(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("subscription", id))?;
    let items =
        store::subscriptions::items_of(&mut tx, &ctx.org_id, std::slice::from_ref(&s.id)).await?;
    Ok(view(s, &items))
}

pub async fn list(
    db: &Db,
    ctx: &Ctx,
    customer: Option<&str>,
    status: Option<&str>,
    starting_after: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<Subscription>> {
    let limit = page_limit(limit)?;
    if let Some(s) = status {
        if !["trialing", "active", "past_due", "unpaid", "canceled"].contains(&s) {
            return Err(AppError::invalid(
                "status",
                format!("unknown status {s:?}: use trialing, active, past_due, unpaid or canceled"),
            ));
        }
    }
    let mut tx = db.read().await?;
    list_in(&mut tx, ctx, customer, status, starting_after, limit).await
}

/// [`list`] in `tx`, `status` already checked.
pub(crate) async fn list_in(
    tx: &mut Tx,
    ctx: &Ctx,
    customer: Option<&str>,
    status: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Page<Subscription>> {
    let rows =
        store::subscriptions::list(tx, &ctx.org_id, customer, status, starting_after, limit + 1)
            .await?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let items = store::subscriptions::items_of(tx, &ctx.org_id, &ids).await?;
    Ok(Page::from_rows(
        rows.into_iter().map(|r| view(r, &items)).collect(),
        limit,
    ))
}

/// What a change does, computed without writing anything.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChangePreview {
    pub object: &'static str,
    /// now or period_end.
    pub effective: String,
    /// Local date the proration is computed for.
    pub proration_date: NaiveDate,
    /// The invoice a change effective now produces (None for period-end changes and trials).
    pub invoice: Option<InvoicePreview>,
    /// The amount per period before and after, minor units.
    pub amount_per_period_before: i64,
    pub amount_per_period_after: i64,
    pub items_after: Vec<SubscriptionItem>,
}

struct Planned {
    effective_now: bool,
    proration_date: NaiveDate,
    new_items: Vec<ItemRow>,
    invoice: Option<NewInvoice>,
    before: i64,
    after: i64,
    /// The new schedule of an interval change.
    schedule: Option<NewSchedule>,
}

/// The schedule an interval change moves a subscription to.
struct NewSchedule {
    interval: Interval,
    anchor: NaiveDate,
    /// Period 0 of the new schedule, the new current period (None during a trial, whose
    /// stub period stays current and whose end stays the anchor).
    period: Option<Period>,
}

async fn plan_change(
    tx: &mut Tx,
    ctx: &Ctx,
    sub: &SubscriptionRow,
    customer: &CustomerRow,
    change: &SubscriptionChange,
) -> Result<Planned> {
    if sub.ended_at.is_some() || sub.status == "canceled" {
        return Err(AppError::state(
            "subscription_canceled",
            format!("subscription {} is canceled", sub.id),
        ));
    }
    if change.items.is_empty() {
        return Err(AppError::missing("items"));
    }
    let old =
        store::subscriptions::items_of(tx, &ctx.org_id, std::slice::from_ref(&sub.id)).await?;
    let mut new_items = old.clone();
    for (i, c) in change.items.iter().enumerate() {
        let p = format!("items[{i}]");
        match &c.id {
            Some(id) => {
                let it = new_items.iter_mut().find(|x| &x.id == id).ok_or_else(|| {
                    AppError::invalid(
                        format!("{p}.id"),
                        format!("subscription {} has no item {id}", sub.id),
                    )
                })?;
                if c.deleted {
                    it.quantity = 0;
                    it.deleted_at = Some(ctx.now);
                } else {
                    if let Some(pr) = &c.price {
                        it.price_id = pr.clone();
                    }
                    if let Some(q) = c.quantity {
                        it.quantity = q;
                    }
                }
            }
            None => {
                let price = c
                    .price
                    .clone()
                    .ok_or_else(|| AppError::missing(&format!("{p}.price")))?;
                new_items.push(ItemRow {
                    id: new_id!(SubscriptionItemId).to_string(),
                    org_id: ctx.org_id.clone(),
                    subscription_id: sub.id.clone(),
                    price_id: price,
                    quantity: c.quantity.unwrap_or(1),
                    pending_price_id: None,
                    pending_quantity: None,
                    created_at: ctx.now,
                    deleted_at: None,
                });
            }
        }
    }
    let live: Vec<(String, i64)> = new_items
        .iter()
        .filter(|i| i.deleted_at.is_none())
        .map(|i| (i.price_id.clone(), i.quantity))
        .collect();
    let (mut prices, interval) = check_items(tx, &ctx.org_id, customer, &live, "items").await?;
    let interval_change = interval.unit().as_str() != sub.interval_unit
        || interval.count() as i64 != sub.interval_count;
    let old_ids: Vec<String> = old.iter().map(|i| i.price_id.clone()).collect();
    prices.extend(crate::catalog::load_prices(tx, &ctx.org_id, &old_ids).await?);
    let cur = &customer.currency;
    let sum = |items: &[ItemRow]| -> Result<i64> {
        items
            .iter()
            .filter(|i| i.deleted_at.is_none())
            .map(|i| item_amount(&prices[&i.price_id], cur, i.quantity))
            .sum()
    };
    let before = sum(&old)?;
    let after = sum(&new_items)?;
    let effective_now = match change.effective.as_deref() {
        None => after > before || sub.status == "trialing" || interval_change,
        Some("now") => true,
        Some("period_end") if interval_change && sub.status != "trialing" => {
            return Err(AppError::invalid(
                "effective",
                "an interval change takes effect at once: omit effective or use now",
            ))
        }
        Some("period_end") => sub.status == "trialing",
        Some(other) => {
            return Err(AppError::invalid(
                "effective",
                format!("unknown effective {other:?}: use now or period_end"),
            ))
        }
    };
    let tz = tz_of(customer)?;
    let period = current_period(sub);
    let today = local_date(ctx.now, tz).clamp(period.start_date, period.end_date);
    if interval_change {
        // Items change at once; a pending period-end change was for the old interval.
        for n in new_items.iter_mut() {
            n.pending_price_id = None;
            n.pending_quantity = None;
        }
        let (invoice, schedule) = if sub.status == "trialing" {
            let schedule = NewSchedule {
                interval,
                anchor: sub.anchor_date,
                period: None,
            };
            (None, schedule)
        } else {
            plan_interval_change(
                tx, ctx, sub, customer, &old, &new_items, &prices, interval, tz, today,
            )
            .await?
        };
        return Ok(Planned {
            effective_now: true,
            proration_date: today,
            new_items,
            invoice,
            before,
            after,
            schedule: Some(schedule),
        });
    }
    let mut invoice = None;
    // With no day left in the period (it has ended and awaits the bill run) there is
    // nothing to prorate: the new items are billed from the next period.
    if effective_now && sub.status != "trialing" && today < period.end_date {
        let remaining = billing::proration::remaining_days(&period, today);
        let total = proration_days(sub, &period, tz)?;
        let rest = Period::from_dates(today, period.end_date, tz)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let mut lines = Vec::new();
        for o in &old {
            let n = new_items.iter().find(|n| n.id == o.id);
            let unchanged = n.is_some_and(|n| {
                n.deleted_at.is_none() && n.price_id == o.price_id && n.quantity == o.quantity
            });
            if unchanged || o.deleted_at.is_some() {
                continue;
            }
            let price = &prices[&o.price_id];
            lines.extend(proration_line(
                Prorated::Unused,
                price,
                cur,
                o.quantity,
                remaining,
                total,
                rest,
                "",
            )?);
        }
        for n in new_items.iter().filter(|n| n.deleted_at.is_none()) {
            let o = old.iter().find(|o| o.id == n.id);
            if o.is_some_and(|o| o.price_id == n.price_id && o.quantity == n.quantity) {
                continue;
            }
            let price = &prices[&n.price_id];
            lines.extend(proration_line(
                Prorated::Remaining,
                price,
                cur,
                n.quantity,
                remaining,
                total,
                rest,
                "",
            )?);
        }
        if !lines.is_empty() {
            let treatment = invoicing::treatment_of(tx, &ctx.org_id, customer).await?;
            invoice = Some(invoicing::build(
                customer,
                Some(&sub.id),
                "subscription_update",
                None,
                Some((rest.start, rest.end)),
                lines,
                &mut [],
                false,
                &treatment,
                customer.credit_balance,
            )?);
        }
    }
    if !effective_now {
        // Keep the items as they are and record the change as pending.
        let mut pending = old.clone();
        for n in &new_items {
            match pending.iter_mut().find(|p| p.id == n.id) {
                Some(p) => {
                    if n.deleted_at.is_some() {
                        p.pending_price_id = Some(p.price_id.clone());
                        p.pending_quantity = Some(0);
                    } else if n.price_id != p.price_id || n.quantity != p.quantity {
                        p.pending_price_id = Some(n.price_id.clone());
                        p.pending_quantity = Some(n.quantity);
                    }
                }
                None => pending.push(ItemRow {
                    price_id: n.price_id.clone(),
                    quantity: 0,
                    pending_price_id: Some(n.price_id.clone()),
                    pending_quantity: Some(n.quantity),
                    ..n.clone()
                }),
            }
        }
        new_items = pending;
    }
    Ok(Planned {
        effective_now,
        proration_date: today,
        new_items,
        invoice,
        before,
        after,
        schedule: None,
    })
}

/// The invoice and new schedule of an interval change outside a trial, on `today` (the
/// change date in the customer's zone, clamped to the current period): credits for the
/// unused part of every old item, then a full charge of every new item for period 0 of a
/// schedule anchored on `today`.
#[allow(clippy::too_many_arguments)]
async fn plan_interval_change(
    tx: &mut Tx,
    ctx: &Ctx,
    sub: &SubscriptionRow,
    customer: &CustomerRow,
    old: &[ItemRow],
    new_items: &[ItemRow],
    prices: &BTreeMap<String, LoadedPrice>,
    interval: Interval,
    tz: Tz,
    today: NaiveDate,
) -> Result<(Option<NewInvoice>, NewSchedule)> {
    let cur = &customer.currency;
    let period = current_period(sub);
    let first = Schedule {
        anchor: today,
        interval,
        tz,
    }
    .period(0)
    .map_err(|e| AppError::billing("items", e))?;
    let remaining = billing::proration::remaining_days(&period, today);
    let total = proration_days(sub, &period, tz)?;
    let mut lines = Vec::new();
    if remaining > 0 {
        let rest = Period::from_dates(today, period.end_date, tz)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        for o in old.iter().filter(|o| o.deleted_at.is_none()) {
            let price = prices
                .get(&o.price_id)
                .ok_or_else(|| AppError::Internal(format!("price {} not loaded", o.price_id)))?;
            lines.extend(proration_line(
                Prorated::Unused,
                price,
                cur,
                o.quantity,
                remaining,
                total,
                rest,
                "",
            )?);
        }
    }
    lines.extend(period_lines(new_items, prices, cur, &first, None)?);
    let mut invoice = None;
    if !lines.is_empty() {
        // The bill run's exactly-once key; a change on the day an earlier invoice of this
        // subscription started its period finds the key already held.
        let held = store::invoices::existing_periods(
            tx,
            &ctx.org_id,
            std::slice::from_ref(&sub.id),
            first.start,
        )
        .await?
        .iter()
        .any(|(_, start)| *start == first.start);
        let treatment = invoicing::treatment_of(tx, &ctx.org_id, customer).await?;
        invoice = Some(invoicing::build(
            customer,
            Some(&sub.id),
            "subscription_update",
            (!held).then_some(first.start),
            Some((first.start, first.end)),
            lines,
            &mut [],
            false,
            &treatment,
            customer.credit_balance,
        )?);
    }
    let schedule = NewSchedule {
        interval,
        anchor: today,
        period: Some(first),
    };
    Ok((invoice, schedule))
}

fn item_views(items: &[ItemRow]) -> Vec<SubscriptionItem> {
    items
        .iter()
        .filter(|i| i.deleted_at.is_none())
        .map(|i| SubscriptionItem {
            id: i.id.clone(),
            price: i.price_id.clone(),
            quantity: i.quantity,
            pending_price: i.pending_price_id.clone(),
            pending_quantity: i.pending_quantity,
        })
        .collect()
}

/// The exact effect of a change, writing nothing.
pub async fn preview_change(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    change: &SubscriptionChange,
) -> Result<ChangePreview> {
    parse_id("id", id, SubscriptionId::parse)?;
    let mut tx = db.read().await?;
    let sub = store::subscriptions::get(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("subscription", id))?;
    let customer = store::customers::get(&mut tx, &ctx.org_id, &sub.customer_id)
        .await?
        .ok_or_else(|| AppError::not_found("customer", &sub.customer_id))?;
    let plan = plan_change(&mut tx, ctx, &sub, &customer, change).await?;
    Ok(ChangePreview {
        object: "subscription_change_preview",
        effective: if plan.effective_now {
            "now"
        } else {
            "period_end"
        }
        .into(),
        proration_date: plan.proration_date,
        invoice: plan
            .invoice
            .as_ref()
            .map(|i| invoicing::preview_view(i, ctx.now)),
        amount_per_period_before: plan.before,
        amount_per_period_after: plan.after,
        items_after: item_views(&plan.new_items),
    })
}

/// Applies a change; an immediate change with a price effect is invoiced at once.
pub async fn change(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    change: &SubscriptionChange,
) -> Result<(Subscription, Option<invoicing::Invoice>)> {
    parse_id("id", id, SubscriptionId::parse)?;
    let mut tx = db.begin().await?;
    invoicing::lock_numbering(&mut tx, &ctx.org_id, ctx.now).await?;
    let sub = store::subscriptions::get_for_update(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("subscription", id))?;
    let customer = store::customers::get_for_update(&mut tx, &ctx.org_id, &sub.customer_id)
        .await?
        .ok_or_else(|| AppError::not_found("customer", &sub.customer_id))?;
    let plan = plan_change(&mut tx, ctx, &sub, &customer, change).await?;
    let old =
        store::subscriptions::items_of(&mut tx, &ctx.org_id, std::slice::from_ref(&sub.id)).await?;
    for it in &plan.new_items {
        if old.iter().any(|o| o.id == it.id) {
            store::subscriptions::update_item(&mut tx, it).await?;
        } else {
            store::subscriptions::insert_items(&mut tx, std::slice::from_ref(it)).await?;
        }
    }
    let used: Vec<String> = plan
        .new_items
        .iter()
        .flat_map(|i| [Some(i.price_id.clone()), i.pending_price_id.clone()])
        .flatten()
        .collect();
    store::catalog::mark_prices_used(&mut tx, &ctx.org_id, &used).await?;
    let mut invoice = None;
    if let Some(inv) = plan.invoice {
        let rows = invoicing::write(&mut tx, &ctx.org_id, ctx.now, &[inv], true).await?;
        invoice = Some(invoicing::load(&mut tx, &ctx.org_id, &rows[0].id).await?);
    }
    let mut sub = sub;
    sub.updated_at = ctx.now;
    if let Some(s) = &plan.schedule {
        sub.interval_unit = s.interval.unit().as_str().into();
        sub.interval_count = i64::from(s.interval.count());
        sub.anchor_date = s.anchor;
        if let Some(p) = &s.period {
            set_period(&mut sub, 0, p);
        }
        store::subscriptions::update_schedule(&mut tx, &sub).await?;
    }
    store::subscriptions::update_periods(&mut tx, std::slice::from_ref(&sub)).await?;
    let items =
        store::subscriptions::items_of(&mut tx, &ctx.org_id, std::slice::from_ref(&sub.id)).await?;
    crate::events::emit_subscription(&mut tx, ctx, "subscription.updated", &sub, None, None)
        .await?;
    tx.commit().await?;
    Ok((view(sub, &items), invoice))
}

/// Cancels at period end (default) or now, optionally crediting the unused part.
pub async fn cancel(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    input: &SubscriptionCancel,
) -> Result<(Subscription, Option<invoicing::Invoice>)> {
    parse_id("id", id, SubscriptionId::parse)?;
    let mut tx = db.begin().await?;
    invoicing::lock_numbering(&mut tx, &ctx.org_id, ctx.now).await?;
    let mut sub = store::subscriptions::get_for_update(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("subscription", id))?;
    if sub.ended_at.is_some() {
        return Err(AppError::state(
            "subscription_canceled",
            format!("subscription {id} is already canceled"),
        ));
    }
    let at_period_end = input.at_period_end.unwrap_or(true);
    if at_period_end && input.prorate {
        return Err(AppError::invalid(
            "prorate",
            "prorate applies only to an immediate cancel (at_period_end: false)",
        ));
    }
    let items =
        store::subscriptions::items_of(&mut tx, &ctx.org_id, std::slice::from_ref(&sub.id)).await?;
    let mut invoice = None;
    sub.canceled_at = Some(ctx.now);
    sub.updated_at = ctx.now;
    if at_period_end {
        sub.cancel_at_period_end = true;
    } else {
        let customer = store::customers::get_for_update(&mut tx, &ctx.org_id, &sub.customer_id)
            .await?
            .ok_or_else(|| AppError::not_found("customer", &sub.customer_id))?;
        if input.prorate && sub.status != "trialing" {
            let tz = tz_of(&customer)?;
            let period = current_period(&sub);
            let today = local_date(ctx.now, tz).clamp(period.start_date, period.end_date);
            let remaining = billing::proration::remaining_days(&period, today);
            let total = proration_days(&sub, &period, tz)?;
            let ids: Vec<String> = items.iter().map(|i| i.price_id.clone()).collect();
            let prices = crate::catalog::load_prices(&mut tx, &ctx.org_id, &ids).await?;
            let rest = Period::from_dates(today, period.end_date, tz).ok();
            let mut lines = Vec::new();
            if let Some(rest) = rest {
                for it in &items {
                    let price = &prices[&it.price_id];
                    lines.extend(proration_line(
                        Prorated::Unused,
                        price,
                        &customer.currency,
                        it.quantity,
                        remaining,
                        total,
                        rest,
                        " after cancellation",
                    )?);
                }
            }
            if !lines.is_empty() {
                let treatment = invoicing::treatment_of(&mut tx, &ctx.org_id, &customer).await?;
                let inv = invoicing::build(
                    &customer,
                    Some(&sub.id),
                    "subscription_cancel",
                    None,
                    None,
                    lines,
                    &mut [],
                    false,
                    &treatment,
                    customer.credit_balance,
                )?;
                let rows = invoicing::write(&mut tx, &ctx.org_id, ctx.now, &[inv], true).await?;
                invoice = Some(invoicing::load(&mut tx, &ctx.org_id, &rows[0].id).await?);
            }
        }
        sub.status = "canceled".into();
        sub.ended_at = Some(ctx.now);
    }
    store::subscriptions::update_periods(&mut tx, std::slice::from_ref(&sub)).await?;
    let kind = if sub.status == "canceled" {
        "subscription.canceled"
    } else {
        "subscription.updated"
    };
    crate::events::emit_subscription(&mut tx, ctx, kind, &sub, None, None).await?;
    tx.commit().await?;
    Ok((view(sub, &items), invoice))
}

/// Undoes a cancel at period end: the subscription renews again. Only a subscription set
/// to cancel at period end and not yet ended can be resumed (an ended one is gone; a new
/// subscription is needed). Recorded as `subscription.updated`, as the cancel was.
pub async fn resume(db: &Db, ctx: &Ctx, id: &str) -> Result<Subscription> {
    parse_id("id", id, SubscriptionId::parse)?;
    let mut tx = db.begin().await?;
    let mut sub = store::subscriptions::get_for_update(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("subscription", id))?;
    if sub.ended_at.is_some() || !sub.cancel_at_period_end {
        return Err(AppError::state(
            "subscription_not_canceling",
            format!("subscription {id} is not set to cancel at period end"),
        ));
    }
    sub.cancel_at_period_end = false;
    sub.canceled_at = None;
    sub.updated_at = ctx.now;
    store::subscriptions::update_periods(&mut tx, std::slice::from_ref(&sub)).await?;
    crate::events::emit_subscription(&mut tx, ctx, "subscription.updated", &sub, None, None)
        .await?;
    let items =
        store::subscriptions::items_of(&mut tx, &ctx.org_id, std::slice::from_ref(&sub.id)).await?;
    tx.commit().await?;
    Ok(view(sub, &items))
}

/// One renewal step of the bill run for a subscription whose current period has ended:
/// either it ends (cancel at period end) or it moves to the next period, applying pending
/// changes, and the new period's invoice is built. Pure apart from the id generator.
#[allow(clippy::too_many_arguments)]
pub fn renew(
    sub: &mut SubscriptionRow,
    items: &mut [ItemRow],
    prices: &BTreeMap<String, LoadedPrice>,
    customer: &CustomerRow,
    tz: Tz,
    discounts: &mut [ActiveDiscount],
    treatment: &TaxTreatment,
    credit_balance: i64,
    now: DateTime<Utc>,
) -> Result<Option<NewInvoice>> {
    sub.updated_at = now;
    if sub.cancel_at_period_end {
        sub.status = "canceled".into();
        sub.ended_at = Some(sub.current_period_end);
        return Ok(None);
    }
    for it in items.iter_mut() {
        if let Some(q) = it.pending_quantity.take() {
            it.quantity = q;
            if let Some(p) = it.pending_price_id.take() {
                it.price_id = p;
            }
            if q == 0 {
                it.deleted_at = Some(now);
            }
        }
    }
    let sched = schedule(sub, tz)?;
    let next = sub.period_index + 1;
    let period = sched
        .period(next as u32)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    set_period(sub, next, &period);
    if sub.status == "trialing" {
        sub.status = "active".into();
    }
    let lines = period_lines(items, prices, &customer.currency, &period, None)?;
    let inv = invoicing::build(
        customer,
        Some(&sub.id),
        "subscription_cycle",
        Some(period.start),
        Some((period.start, period.end)),
        lines,
        discounts,
        true,
        treatment,
        credit_balance,
    )?;
    Ok(Some(inv))
}
