//! Proration inside a calendar-aligned stub first period divides by a whole period's days,
//! as the stub was charged, so a credit never exceeds what was charged.

mod common;

use common::*;
use store::Db;

async fn upgrade_inside_an_aligned_stub_never_credits_more_than_was_charged(db: Db) {
    let start = t("2026-01-22T09:00:00Z");
    let ctx = org(&db, start).await;
    let basic_product = product(&db, &ctx, "Basic").await;
    let pro_product = product(&db, &ctx, "Pro").await;
    let basic = monthly_flat(&db, &ctx, &basic_product.id, "EUR", 3000).await;
    let pro = monthly_flat(&db, &ctx, &pro_product.id, "EUR", 9000).await;
    let cus = customer(&db, &ctx, "Stub Co", "EUR", "Europe/Berlin", "FR").await;
    let mut input = sub_input(&cus.id, &basic.id, Some(start));
    input.calendar_aligned = true;
    let (sub, first) = app::subscriptions::create(&db, &ctx, &input).await.unwrap();
    let first = first.expect("stub invoiced");
    // Jan 22 – Feb 1: 10 of January's 31 days: 3000 × 10/31 = 967.74 → 968.
    assert_eq!(first.lines[0].amount, 968);
    assert_eq!(sub.current_period_end_date.to_string(), "2026-02-01");

    let change = app::subscriptions::SubscriptionChange {
        items: vec![app::subscriptions::ItemChange {
            id: Some(sub.items[0].id.clone()),
            price: Some(pro.id.clone()),
            quantity: None,
            deleted: false,
        }],
        effective: None,
    };
    let (_, inv) =
        app::subscriptions::change(&db, &at(&ctx, t("2026-01-27T09:00:00Z")), &sub.id, &change)
            .await
            .unwrap();
    let inv = inv.expect("upgrade invoiced");
    let amounts: Vec<i64> = inv.lines.iter().map(|l| l.amount).collect();
    // 5 days left (Jan 27 – Feb 1) of a 31-day period: −3000 × 5/31 = −483.87 → −484 (not
    // −1500, which is 5/10 of a full month and more than the 968 charged);
    // 9000 × 5/31 = 1451.61 → 1452.
    assert_eq!(amounts, vec![-484, 1452]);
    assert!(
        inv.lines[0].description.contains("5 of 31 days"),
        "{}",
        inv.lines[0].description
    );
    assert_clean(&db).await;
}

on_both_backends!(upgrade_inside_an_aligned_stub_never_credits_more_than_was_charged);
