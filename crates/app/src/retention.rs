//! Retention offers: what an organisation offers a customer who is about to cancel.
//!
//! Rules:
//! - An organisation has at most one offer: one of its own coupons, with optional words for
//!   the customer (at most 300 characters; blank is none). Only a role that may change
//!   settings (an admin, or the API key) sets or removes it; a coupon of another
//!   organisation, or none, is refused as `coupon`.
//! - The offer is shown ([`offer_for`]) when a customer cancels a subscription that is not
//!   already set to cancel, has not accepted an offer before, and bills in a currency the
//!   coupon can apply to.
//! - Accepting ([`accept`]) gives that subscription a discount from the coupon through the
//!   discount use case (`subscriptions::add_discount`) and records the acceptance in the
//!   same transaction. One acceptance per subscription: checked under the subscription's
//!   row lock and enforced by the table's primary key, so a second accept — even a racing
//!   one — is refused (`offer_already_accepted`) and never stacks a second discount.
//! - Accepting writes no event: the discount use case records none either, and the
//!   acceptance row (with its discount) is the record.

use crate::catalog::Coupon;
use crate::desk::StaffCtx;
use crate::subscriptions::{self, DiscountCreate, DiscountView, Subscription};
use crate::util::parse_id;
use crate::{AppError, Ctx, Result};
use billing::ids::{CouponId, SubscriptionId};
use chrono::{DateTime, Utc};
use desk::authority::Permission;
use serde::{Deserialize, Serialize};
use store::retention::{AcceptanceRow, OfferRow};
use store::Db;
use utoipa::ToSchema;

/// The most characters of an offer's words.
pub const MAX_MESSAGE: usize = 300;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RetentionOffer {
    pub object: &'static str,
    /// The coupon offered; null when the organisation has no offer.
    pub coupon: Option<String>,
    /// The words shown with the offer; null for the portal's own wording of the coupon.
    pub message: Option<String>,
    pub updated: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionOfferSet {
    /// One of the organisation's coupons.
    pub coupon: String,
    /// At most 300 characters, e.g. "Stay and get 20 % off for 3 months".
    pub message: Option<String>,
}

fn view(r: Option<OfferRow>) -> RetentionOffer {
    RetentionOffer {
        object: "retention_offer",
        coupon: r.as_ref().map(|r| r.coupon_id.clone()),
        message: r.as_ref().and_then(|r| r.message.clone()),
        updated: r.map(|r| r.updated_at),
    }
}

/// The organisation's offer (all fields null when it has none).
pub async fn get(db: &Db, ctx: &Ctx) -> Result<RetentionOffer> {
    let mut tx = db.read().await?;
    Ok(view(store::retention::offer(&mut tx, &ctx.org_id).await?))
}

/// The offer's words: trimmed, blank is none, at most [`MAX_MESSAGE`] characters.
fn message_of(m: Option<&str>) -> Result<Option<String>> {
    let m = m.map(str::trim).filter(|m| !m.is_empty());
    if m.is_some_and(|m| m.chars().count() > MAX_MESSAGE) {
        return Err(AppError::invalid(
            "message",
            format!("a message has at most {MAX_MESSAGE} characters"),
        ));
    }
    Ok(m.map(str::to_string))
}

/// Sets (or replaces) the organisation's offer.
pub async fn set(db: &Db, who: &StaffCtx, input: &RetentionOfferSet) -> Result<RetentionOffer> {
    who.require(Permission::ManageSettings)?;
    parse_id("coupon", &input.coupon, CouponId::parse)?;
    let message = message_of(input.message.as_deref())?;
    let ctx = &who.ctx;
    let mut tx = db.begin().await?;
    store::catalog::get_coupon(&mut tx, &ctx.org_id, &input.coupon)
        .await?
        .ok_or_else(|| AppError::invalid("coupon", format!("no such coupon: {}", input.coupon)))?;
    let row = OfferRow {
        org_id: ctx.org_id.clone(),
        coupon_id: input.coupon.clone(),
        message,
        updated_at: ctx.now,
    };
    store::retention::set_offer(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(view(Some(row)))
}

/// Removes the organisation's offer: cancelling goes straight to the confirmation.
pub async fn remove(db: &Db, who: &StaffCtx) -> Result<RetentionOffer> {
    who.require(Permission::ManageSettings)?;
    let mut tx = db.begin().await?;
    store::retention::delete_offer(&mut tx, &who.ctx.org_id).await?;
    tx.commit().await?;
    Ok(view(None))
}

/// An offer as a customer is shown it.
#[derive(Debug, Clone)]
pub struct Offered {
    pub coupon: Coupon,
    pub message: Option<String>,
}

/// The offer to show a customer cancelling `sub`, if any (see the module's rules).
pub async fn offer_for(db: &Db, ctx: &Ctx, sub: &Subscription) -> Result<Option<Offered>> {
    if sub.cancel_at_period_end || sub.ended_at.is_some() {
        return Ok(None);
    }
    let mut tx = db.read().await?;
    let Some(offer) = store::retention::offer(&mut tx, &ctx.org_id).await? else {
        return Ok(None);
    };
    if store::retention::acceptance(&mut tx, &ctx.org_id, &sub.id)
        .await?
        .is_some()
    {
        return Ok(None);
    }
    let coupon = store::catalog::get_coupon(&mut tx, &ctx.org_id, &offer.coupon_id)
        .await?
        .map(Coupon::from)
        .filter(|c| c.currency.as_ref().is_none_or(|cur| *cur == sub.currency));
    Ok(coupon.map(|coupon| Offered {
        coupon,
        message: offer.message,
    }))
}

fn already_accepted(id: &str) -> AppError {
    AppError::state(
        "offer_already_accepted",
        format!("the offer has already been accepted for subscription {id}"),
    )
}

/// Accepts the organisation's offer for one subscription: a discount on it from the
/// offer's coupon, once.
pub async fn accept(db: &Db, ctx: &Ctx, id: &str) -> Result<DiscountView> {
    parse_id("id", id, SubscriptionId::parse)?;
    let mut tx = db.begin().await?;
    let sub = store::subscriptions::get_for_update(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("subscription", id))?;
    if sub.ended_at.is_some() || sub.cancel_at_period_end {
        return Err(AppError::state(
            "subscription_canceled",
            format!("subscription {id} is canceled or set to cancel"),
        ));
    }
    let offer = store::retention::offer(&mut tx, &ctx.org_id)
        .await?
        .ok_or_else(|| AppError::state("no_retention_offer", "there is no offer to accept"))?;
    if store::retention::acceptance(&mut tx, &ctx.org_id, id)
        .await?
        .is_some()
    {
        return Err(already_accepted(id));
    }
    let input = DiscountCreate {
        coupon: offer.coupon_id.clone(),
        subscription: Some(sub.id.clone()),
    };
    let discount = subscriptions::add_discount(&mut tx, ctx, &sub.customer_id, &input).await?;
    let row = AcceptanceRow {
        org_id: ctx.org_id.clone(),
        subscription_id: sub.id.clone(),
        discount_id: discount.id.clone(),
        coupon_id: offer.coupon_id,
        accepted_at: ctx.now,
    };
    store::retention::insert_acceptance(&mut tx, &row)
        .await
        .map_err(|e| match e {
            store::StoreError::Conflict(_) => already_accepted(id),
            e => e.into(),
        })?;
    // Recorded as `subscription.updated` (the customer is told, as of any plan change),
    // with the discount the offer gave.
    let given = serde_json::json!({ "coupon": row.coupon_id, "discount": discount.id });
    crate::events::emit_subscription(
        &mut tx,
        ctx,
        "subscription.updated",
        &sub,
        None,
        Some(("retention_offer", given)),
    )
    .await?;
    tx.commit().await?;
    Ok(discount)
}
