//! Retention offers on both databases: set only by a role that manages settings, only with
//! the organisation's own coupon; accepted once per subscription (two racing accepts give
//! one discount); and a cancel at period end undone by `resume`.

mod common;

use app::catalog::{CouponCreate, DecimalInput};
use app::desk::StaffCtx;
use app::retention::{self, RetentionOfferSet};
use app::subscriptions::{self, SubscriptionCancel};
use common::*;
use desk::authority::Role;

on_both_backends!(
    an_offer_is_set_by_an_admin_with_an_own_coupon,
    an_offer_is_accepted_once_per_subscription,
    resume_undoes_a_cancel_at_period_end,
);

async fn coupon(db: &Db, ctx: &Ctx) -> String {
    let input = CouponCreate {
        name: "Stay".into(),
        percent_off: Some(DecimalInput::Text("20".into())),
        amount_off: None,
        currency: None,
        duration: "repeating".into(),
        duration_in_periods: Some(3),
        applies_to_products: None,
    };
    app::catalog::create_coupon(db, ctx, &input)
        .await
        .unwrap()
        .id
}

fn offer(coupon: &str, message: Option<&str>) -> RetentionOfferSet {
    RetentionOfferSet {
        coupon: coupon.into(),
        message: message.map(str::to_string),
    }
}

fn param(r: Result<retention::RetentionOffer, AppError>) -> String {
    match r {
        Err(AppError::Invalid { param, .. }) => param,
        other => panic!("expected a refused parameter, got {other:?}"),
    }
}

/// A customer subscribed to a monthly 20.00 EUR price: (customer, subscription).
async fn subscribed(db: &Db, ctx: &Ctx) -> (String, String) {
    let cus = customer(db, ctx, "Alpha GmbH", "EUR", "Europe/Berlin", "DE").await;
    let prod = product(db, ctx, "Base").await;
    let price = monthly_flat(db, ctx, &prod.id, "EUR", 2_000).await;
    let (sub, _) = subscriptions::create(db, ctx, &sub_input(&cus.id, &price.id, None))
        .await
        .unwrap();
    (cus.id, sub.id)
}

async fn an_offer_is_set_by_an_admin_with_an_own_coupon(db: Db) {
    let ctx = org(&db, t("2026-03-10T09:00:00Z")).await;
    let other = org(&db, t("2026-03-10T09:00:00Z")).await;
    let admin = StaffCtx::api_key(ctx.clone());
    let none = retention::get(&db, &ctx).await.unwrap();
    assert!(none.coupon.is_none() && none.message.is_none());

    let mine = coupon(&db, &ctx).await;
    let theirs = coupon(&db, &other).await;
    // Not a coupon of this organisation, or not a coupon id at all.
    assert_eq!(
        param(retention::set(&db, &admin, &offer(&theirs, None)).await),
        "coupon"
    );
    assert_eq!(
        param(retention::set(&db, &admin, &offer("nope", None)).await),
        "coupon"
    );
    let long = "x".repeat(retention::MAX_MESSAGE + 1);
    assert_eq!(
        param(retention::set(&db, &admin, &offer(&mine, Some(&long))).await),
        "message"
    );
    // An agent may not change settings.
    let agent = StaffCtx::staff(ctx.clone(), "stf_x", Role::Agent);
    assert!(matches!(
        retention::set(&db, &agent, &offer(&mine, None)).await,
        Err(AppError::Forbidden(_))
    ));
    assert!(retention::get(&db, &ctx).await.unwrap().coupon.is_none());

    let set = retention::set(&db, &admin, &offer(&mine, Some("  Stay with us  ")))
        .await
        .unwrap();
    assert_eq!(set.coupon.as_deref(), Some(mine.as_str()));
    assert_eq!(set.message.as_deref(), Some("Stay with us"));
    // Replaced, not added; a blank message is none.
    retention::set(&db, &admin, &offer(&mine, Some(" ")))
        .await
        .unwrap();
    let got = retention::get(&db, &ctx).await.unwrap();
    assert_eq!(got.coupon.as_deref(), Some(mine.as_str()));
    assert!(got.message.is_none());
    // The other organisation has none.
    assert!(retention::get(&db, &other).await.unwrap().coupon.is_none());
    retention::remove(&db, &admin).await.unwrap();
    assert!(retention::get(&db, &ctx).await.unwrap().coupon.is_none());
}

/// The data of the customer's `subscription.updated` events that record an accepted offer.
async fn offer_events(db: &Db, ctx: &Ctx, cus: &str) -> Vec<serde_json::Value> {
    let page = app::events::list(
        db,
        ctx,
        Some("subscription.updated"),
        Some(cus),
        None,
        Some(100),
    )
    .await
    .unwrap();
    page.data
        .into_iter()
        .map(|e| e.data["object"].clone())
        .filter(|d| !d["retention_offer"].is_null())
        .collect()
}

async fn live_discounts(db: &Db, ctx: &Ctx, cus: &str, sub: &str) -> usize {
    let mut tx = db.read().await.unwrap();
    store::subscriptions::discounts_of_customers(&mut tx, &ctx.org_id, &[cus.to_string()])
        .await
        .unwrap()
        .iter()
        .filter(|d| d.subscription_id.as_deref() == Some(sub))
        .count()
}

async fn an_offer_is_accepted_once_per_subscription(db: Db) {
    let ctx = org(&db, t("2026-03-10T09:00:00Z")).await;
    let (cus, sub) = subscribed(&db, &ctx).await;
    let s = subscriptions::get(&db, &ctx, &sub).await.unwrap();
    // No offer configured: nothing shown, nothing to accept.
    assert!(retention::offer_for(&db, &ctx, &s).await.unwrap().is_none());
    assert!(matches!(
        retention::accept(&db, &ctx, &sub).await,
        Err(AppError::State {
            code: "no_retention_offer",
            ..
        })
    ));
    let cpn = coupon(&db, &ctx).await;
    retention::set(&db, &StaffCtx::api_key(ctx.clone()), &offer(&cpn, None))
        .await
        .unwrap();
    let shown = retention::offer_for(&db, &ctx, &s).await.unwrap().unwrap();
    assert_eq!(shown.coupon.id, cpn);

    let d = retention::accept(&db, &ctx, &sub).await.unwrap();
    assert_eq!(d.subscription.as_deref(), Some(sub.as_str()));
    assert!(matches!(
        retention::accept(&db, &ctx, &sub).await,
        Err(AppError::State {
            code: "offer_already_accepted",
            ..
        })
    ));
    assert_eq!(live_discounts(&db, &ctx, &cus, &sub).await, 1);
    assert!(retention::offer_for(&db, &ctx, &s).await.unwrap().is_none());

    // Two racing accepts on another subscription: one discount.
    let (cus2, sub2) = subscribed(&db, &ctx).await;
    let (a, b) = tokio::join!(
        retention::accept(&db, &ctx, &sub2),
        retention::accept(&db, &ctx, &sub2)
    );
    let oks = [a.is_ok(), b.is_ok()].iter().filter(|x| **x).count();
    assert_eq!(oks, 1, "{a:?} {b:?}");
    assert_eq!(live_discounts(&db, &ctx, &cus2, &sub2).await, 1);
    // Each acceptance is recorded once, with the discount it gave.
    for (c, s) in [(&cus, &sub), (&cus2, &sub2)] {
        let recorded = offer_events(&db, &ctx, c).await;
        assert_eq!(recorded.len(), 1, "{recorded:?}");
        assert_eq!(recorded[0]["id"], s.as_str());
        assert_eq!(recorded[0]["retention_offer"]["coupon"], cpn.as_str());
    }
    assert_eq!(
        offer_events(&db, &ctx, &cus).await[0]["retention_offer"]["discount"],
        d.id.as_str()
    );

    // A subscription set to cancel is not offered anything.
    let (_, sub3) = subscribed(&db, &ctx).await;
    subscriptions::cancel(&db, &ctx, &sub3, &SubscriptionCancel::default())
        .await
        .unwrap();
    let s3 = subscriptions::get(&db, &ctx, &sub3).await.unwrap();
    assert!(retention::offer_for(&db, &ctx, &s3)
        .await
        .unwrap()
        .is_none());
    assert!(retention::accept(&db, &ctx, &sub3).await.is_err());
    assert_clean(&db).await;
}

async fn resume_undoes_a_cancel_at_period_end(db: Db) {
    let ctx = org(&db, t("2026-03-10T09:00:00Z")).await;
    let (_, sub) = subscribed(&db, &ctx).await;
    assert!(matches!(
        subscriptions::resume(&db, &ctx, &sub).await,
        Err(AppError::State {
            code: "subscription_not_canceling",
            ..
        })
    ));
    let (s, _) = subscriptions::cancel(&db, &ctx, &sub, &SubscriptionCancel::default())
        .await
        .unwrap();
    assert!(s.cancel_at_period_end && s.canceled_at.is_some());
    let s = subscriptions::resume(&db, &ctx, &sub).await.unwrap();
    assert!(!s.cancel_at_period_end && s.canceled_at.is_none() && s.ended_at.is_none());
    // An immediately cancelled subscription is gone: nothing to resume.
    let now = SubscriptionCancel {
        at_period_end: Some(false),
        prorate: false,
    };
    subscriptions::cancel(&db, &ctx, &sub, &now).await.unwrap();
    assert!(subscriptions::resume(&db, &ctx, &sub).await.is_err());
}
