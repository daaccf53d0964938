//! BILLING.md: "a quantity change is prorated like a price change" — an increase takes
//! effect and is invoiced at once, a decrease waits for the period end unless asked
//! otherwise, and an immediate decrease credits the unused part.

mod common;

use app::subscriptions::{ItemChange, ItemCreate, SubscriptionChange, SubscriptionCreate};
use common::*;
use store::Db;

fn seats(item: &str, quantity: i64, effective: Option<&str>) -> SubscriptionChange {
    SubscriptionChange {
        items: vec![ItemChange {
            id: Some(item.into()),
            price: None,
            quantity: Some(quantity),
            deleted: false,
        }],
        effective: effective.map(str::to_string),
    }
}

async fn quantity_changes_are_prorated_like_price_changes(db: Db) {
    // 2026-01-01 00:00 in Berlin; no tax rate, so amounts are net.
    let start = t("2025-12-31T23:00:00Z");
    let ctx = org(&db, start).await;
    let seat = product(&db, &ctx, "Seat").await;
    let price = app::catalog::create_price(
        &db,
        &ctx,
        &app::catalog::PriceCreate {
            product: seat.id.clone(),
            nickname: None,
            recurring: monthly(),
            model: "per_unit".into(),
            tax_behavior: None,
            currency_amounts: amounts(&[(
                "EUR",
                app::catalog::CurrencyAmountInput {
                    unit_amount: Some(1500),
                    ..Default::default()
                },
            )]),
        },
    )
    .await
    .unwrap();
    let cus = customer(&db, &ctx, "Seats Co", "EUR", "Europe/Berlin", "DE").await;
    let input = SubscriptionCreate {
        customer: cus.id.clone(),
        items: vec![ItemCreate {
            price: price.id.clone(),
            quantity: Some(3),
        }],
        start: Some(start),
        trial_days: None,
        calendar_aligned: false,
        coupon: None,
    };
    let (sub, first) = app::subscriptions::create(&db, &ctx, &input).await.unwrap();
    assert_eq!(first.unwrap().total, 4500);
    let item = sub.items[0].id.clone();

    // Jan 16, 3 → 5 seats: 16 of 31 days left. −4500 × 16/31 = −2322.58 → −2323;
    // 7500 × 16/31 = 3870.97 → 3871; invoiced at once.
    let (s, inv) = app::subscriptions::change(
        &db,
        &at(&ctx, t("2026-01-16T08:00:00Z")),
        &sub.id,
        &seats(&item, 5, None),
    )
    .await
    .unwrap();
    let inv = inv.expect("an increase is invoiced at once");
    assert_eq!(
        inv.lines.iter().map(|l| l.amount).collect::<Vec<_>>(),
        vec![-2323, 3871]
    );
    assert_eq!(inv.total, 1548);
    assert_eq!(s.items[0].quantity, 5);

    // Jan 20, 5 → 4 seats now: 12 of 31 days left. −7500 × 12/31 = −2903.23 → −2903;
    // 6000 × 12/31 = 2322.58 → 2323; total −580 goes to the credit balance.
    let (_, inv) = app::subscriptions::change(
        &db,
        &at(&ctx, t("2026-01-20T08:00:00Z")),
        &sub.id,
        &seats(&item, 4, Some("now")),
    )
    .await
    .unwrap();
    let inv = inv.expect("an immediate decrease is invoiced");
    assert_eq!(
        inv.lines.iter().map(|l| l.amount).collect::<Vec<_>>(),
        vec![-2903, 2323]
    );
    assert_eq!(
        (inv.total, inv.amount_due, inv.credit_to_balance),
        (-580, 0, 580)
    );
    assert_balance(&db, &ctx, &cus.id, 4500 + 1548, 580).await;

    // Jan 25, 4 → 2 seats by default: waits for the period end, nothing invoiced now.
    let (s, inv) = app::subscriptions::change(
        &db,
        &at(&ctx, t("2026-01-25T08:00:00Z")),
        &sub.id,
        &seats(&item, 2, None),
    )
    .await
    .unwrap();
    assert!(inv.is_none());
    assert_eq!(
        (s.items[0].quantity, s.items[0].pending_quantity),
        (4, Some(2))
    );

    // February's renewal bills 2 seats (3000), paid first from the 580 credit.
    let r = app::billrun::run(&db, None, t("2026-02-01T00:00:00Z"), |_| {})
        .await
        .unwrap();
    assert_eq!(r.invoices_created, 1);
    let feb = app::invoicing::list(&db, &ctx, Some(&cus.id), None, None, None, Some(1))
        .await
        .unwrap()
        .data
        .remove(0);
    assert_eq!(
        (feb.total, feb.credit_applied, feb.amount_due),
        (3000, 580, 2420)
    );
    assert_balance(&db, &ctx, &cus.id, 4500 + 1548 + 2420, 0).await;
    assert_clean(&db).await;
}

on_both_backends!(quantity_changes_are_prorated_like_price_changes);
