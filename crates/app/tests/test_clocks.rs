//! Test clocks: customers on a clock renew, are charged, dunned and reminded only when the
//! clock is advanced; the wall clock's bill run and workers leave them alone. Each test runs
//! on SQLite and PostgreSQL.

mod common;

use app::clocks::{TestClockAdvance, TestClockCreate};
use app::jobs::Worker;
use common::*;
use gateway::{Gateway, Sandbox};

on_both_backends!(
    advancing_a_clock_renews_charges_dunns_and_reminds_its_customers_only,
    when_dunning_marks_a_subscription_unpaid_it_renews_uncharged_until_paid_up,
);

async fn clock_customer(
    db: &Db,
    gw: &Gateway,
    ctx: &Ctx,
    clock: &str,
    method: &str,
    token: Option<&str>,
) -> String {
    let mut input = customer_input("Clocked", "EUR", "Europe/Berlin", "DE");
    input.collection_method = Some(method.into());
    input.days_until_due = Some(14);
    input.test_clock = Some(clock.into());
    let c = app::customers::create(db, ctx, &input).await.unwrap();
    if let Some(token) = token {
        attach_card_token(db, gw, ctx, &c.id, token).await;
    }
    c.id
}

async fn invoices_of(db: &Db, ctx: &Ctx, customer: &str) -> Vec<app::invoicing::Invoice> {
    app::invoicing::list(db, ctx, Some(customer), None, None, None, Some(100))
        .await
        .unwrap()
        .data
}

async fn events_of(db: &Db, ctx: &Ctx, customer: &str, kind: &str) -> usize {
    app::events::list(db, ctx, Some(kind), Some(customer), None, Some(100))
        .await
        .unwrap()
        .data
        .len()
}

async fn advancing_a_clock_renews_charges_dunns_and_reminds_its_customers_only(db: Db) {
    let gw = Gateway::Sandbox(Sandbox::new());
    // The wall clock says 1 June; the test clock starts on 1 January.
    let ctx = org(&db, t("2026-06-01T08:00:00Z")).await;
    let clock = app::clocks::create(
        &db,
        &ctx,
        &TestClockCreate {
            name: "renewals".into(),
            frozen_time: t("2026-01-01T09:00:00Z"),
        },
    )
    .await
    .unwrap();
    let prod = product(&db, &ctx, "Pro").await;
    let price = monthly_flat(&db, &ctx, &prod.id, "EUR", 10_000).await;
    let good = clock_customer(
        &db,
        &gw,
        &ctx,
        &clock.id,
        "charge_automatically",
        Some("tok_visa"),
    )
    .await;
    let bad = clock_customer(
        &db,
        &gw,
        &ctx,
        &clock.id,
        "charge_automatically",
        Some("tok_chargeDeclined"),
    )
    .await;
    let billed = clock_customer(&db, &gw, &ctx, &clock.id, "send_invoice", None).await;
    for c in [&good, &bad, &billed] {
        let (sub, _) = app::subscriptions::create(&db, &ctx, &sub_input(c, &price.id, None))
            .await
            .unwrap();
        assert_eq!(
            sub.current_period_start,
            t("2025-12-31T23:00:00Z"),
            "subscribed on the clock's day (periods start at local midnight)"
        );
    }
    // A customer on the wall clock, subscribed at the wall clock's time.
    let wall = customer(&db, &ctx, "Wall", "EUR", "Europe/Berlin", "DE").await;
    app::subscriptions::create(&db, &ctx, &sub_input(&wall.id, &price.id, None))
        .await
        .unwrap();

    // The wall clock's bill run and worker, run far in the future, do not touch the clock's
    // customers.
    let far = t("2026-12-01T00:00:00Z");
    app::billrun::run(&db, None, far, |_| {}).await.unwrap();
    let w = Worker::new(db.clone(), gw.clone());
    while w.run_once(far).await.unwrap().claimed > 0 {}
    for c in [&good, &bad, &billed] {
        let invs = invoices_of(&db, &ctx, c).await;
        assert_eq!(invs.len(), 1, "only the first invoice: {invs:?}");
        assert_eq!(invs[0].status, "open", "not charged by the wall clock");
    }
    assert_eq!(
        invoices_of(&db, &ctx, &wall.id).await.len(),
        7,
        "June to December"
    );

    // Advance the clock to 1 April: January's charge, February/March/April renewals.
    let (c, report) = app::clocks::advance(
        &db,
        &gw,
        &ctx,
        &clock.id,
        &TestClockAdvance {
            frozen_time: t("2026-04-01T12:00:00Z"),
        },
    )
    .await
    .unwrap();
    assert_eq!(c.frozen_time, t("2026-04-01T12:00:00Z"));
    assert_eq!(
        report.invoices_created, 6,
        "3 renewals each for the two live ones: {report:?}"
    );
    let good_invs = invoices_of(&db, &ctx, &good).await;
    assert_eq!(good_invs.len(), 4);
    assert!(
        good_invs.iter().all(|i| i.status == "paid"),
        "{good_invs:?}"
    );
    assert_eq!(events_of(&db, &ctx, &good, "payment.succeeded").await, 4);

    // The declined card: retried +1, +3, +5, +7 days after the first failure, then the
    // subscription is canceled (the default dunning), so no renewal after it.
    let bad_invs = invoices_of(&db, &ctx, &bad).await;
    assert_eq!(bad_invs.len(), 1, "canceled in January: {bad_invs:?}");
    assert_eq!(events_of(&db, &ctx, &bad, "payment.failed").await, 5);
    let subs = app::subscriptions::list(&db, &ctx, Some(&bad), None, None, None)
        .await
        .unwrap()
        .data;
    assert_eq!(subs[0].status, "canceled");
    assert_eq!(events_of(&db, &ctx, &bad, "subscription.canceled").await, 1);

    // Paid by invoice, net 14: the January, February and March invoices (due the 15th) had
    // their reminders 3 days before and on the due date and their overdue notice 7 days
    // after; April's are still to come on 1 April.
    let billed_invs = invoices_of(&db, &ctx, &billed).await;
    assert_eq!(billed_invs.len(), 4);
    assert_eq!(events_of(&db, &ctx, &billed, "invoice.reminder").await, 6);
    assert_eq!(events_of(&db, &ctx, &billed, "invoice.overdue").await, 3);

    // A clock only moves forward.
    let back = app::clocks::advance(
        &db,
        &gw,
        &ctx,
        &clock.id,
        &TestClockAdvance {
            frozen_time: t("2026-03-01T00:00:00Z"),
        },
    )
    .await;
    assert!(
        matches!(back, Err(AppError::Invalid { ref param, .. }) if param == "frozen_time"),
        "{back:?}"
    );
    assert_clean(&db).await;
}

async fn when_dunning_marks_a_subscription_unpaid_it_renews_uncharged_until_paid_up(db: Db) {
    let gw = Gateway::Sandbox(Sandbox::new());
    let ctx = org(&db, t("2026-06-01T08:00:00Z")).await;
    app::jobs::set_dunning(
        &db,
        &ctx,
        &app::jobs::DunningUpdate {
            retry_days: None,
            final_action: Some("mark_unpaid".into()),
        },
    )
    .await
    .unwrap();
    let clock = app::clocks::create(
        &db,
        &ctx,
        &TestClockCreate {
            name: "unpaid".into(),
            frozen_time: t("2026-01-01T09:00:00Z"),
        },
    )
    .await
    .unwrap();
    let prod = product(&db, &ctx, "Pro").await;
    let price = monthly_flat(&db, &ctx, &prod.id, "EUR", 10_000).await;
    let cus = clock_customer(
        &db,
        &gw,
        &ctx,
        &clock.id,
        "charge_automatically",
        Some("tok_chargeDeclined"),
    )
    .await;
    let (sub, _) = app::subscriptions::create(&db, &ctx, &sub_input(&cus, &price.id, None))
        .await
        .unwrap();
    let advance = |to: &str| {
        let (db, gw, ctx, id) = (db.clone(), gw.clone(), ctx.clone(), clock.id.clone());
        let to = t(to);
        async move {
            app::clocks::advance(&db, &gw, &ctx, &id, &TestClockAdvance { frozen_time: to })
                .await
                .unwrap()
        }
    };
    advance("2026-03-15T00:00:00Z").await;
    let s = app::subscriptions::get(&db, &ctx, &sub.id).await.unwrap();
    assert_eq!(s.status, "unpaid", "the retries ran out on 8 January");
    let invs = invoices_of(&db, &ctx, &cus).await;
    assert_eq!(invs.len(), 3, "it kept renewing: January, February, March");
    assert!(invs.iter().all(|i| i.status == "open"));
    assert_eq!(
        events_of(&db, &ctx, &cus, "payment.failed").await,
        5,
        "February's and March's invoices were not charged"
    );
    // Paid up by bank transfer: active again (the reactivation runs on the clock).
    let owed: i64 = invs.iter().map(|i| i.amount_remaining).sum();
    app::payments::record(
        &db,
        &at(&ctx, t("2026-03-15T00:00:00Z")),
        &app::payments::PaymentCreate {
            customer: cus.clone(),
            amount: owed,
            currency: None,
            method: "bank_transfer".into(),
            reference: Some("SEPA-42".into()),
            invoice: None,
        },
    )
    .await
    .unwrap();
    advance("2026-03-16T00:00:00Z").await;
    let s = app::subscriptions::get(&db, &ctx, &sub.id).await.unwrap();
    assert_eq!(s.status, "active");
    // April's renewal is charged automatically again (and declined again: dunning restarts).
    advance("2026-04-01T12:00:00Z").await;
    assert_eq!(events_of(&db, &ctx, &cus, "payment.failed").await, 6);
    assert_eq!(
        app::subscriptions::get(&db, &ctx, &sub.id)
            .await
            .unwrap()
            .status,
        "past_due"
    );
    assert_clean(&db).await;
}
