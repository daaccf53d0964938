//! Payment terms, due dates and accounts-receivable aging (each test runs on SQLite and
//! PostgreSQL).

mod common;

use app::customers::CustomerUpdate;
use app::payments::PaymentCreate;
use common::*;

on_both_backends!(
    due_dates_follow_the_customers_terms_in_their_zone,
    aging_buckets_what_remains_by_days_past_due,
    extensions_and_payment_plans_change_when_an_invoice_is_due,
);

async fn extensions_and_payment_plans_change_when_an_invoice_is_due(db: Db) {
    use app::collection::{DueDateExtension, InstalmentInput, PaymentPlanCreate};
    let d = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
    let ctx = org(&db, t("2026-05-01T10:00:00Z")).await;
    let c = customer(&db, &ctx, "Needs Time", "EUR", "UTC", "DE").await;
    let inv = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Work", 10_000)], true),
    )
    .await
    .unwrap();
    let due = inv.amount_due;
    assert_eq!(inv.due_date, Some(d("2026-05-01")));
    let ext = |date: &str, reason: &str| {
        let (db, ctx, id) = (db.clone(), ctx.clone(), inv.id.clone());
        let input = DueDateExtension {
            due_date: d(date),
            reason: reason.into(),
        };
        async move { app::collection::extend_due_date(&db, &ctx, &id, &input).await }
    };
    expect_invalid(ext("2026-05-20", " ").await, "reason");
    expect_invalid(ext("2026-04-30", "too early").await, "due_date");
    assert_eq!(
        ext("2026-05-20", "customer asked on the phone")
            .await
            .unwrap()
            .due_date,
        Some(d("2026-05-20"))
    );
    expect_invalid(
        ext("2026-05-19", "earlier than now agreed").await,
        "due_date",
    );
    let n: i64 = scalar(
        &db,
        "SELECT COUNT(*) FROM invoice_due_changes WHERE org_id = $1",
        &ctx.org_id,
    )
    .await;
    assert_eq!(n, 1);

    // A plan in three parts; the parts must add up to what remains.
    let part = due / 3;
    let plan = |amounts: [i64; 3]| PaymentPlanCreate {
        instalments: ["2026-05-15", "2026-06-15", "2026-07-15"]
            .iter()
            .zip(amounts)
            .map(|(date, amount)| InstalmentInput {
                due_date: d(date),
                amount,
            })
            .collect(),
        reason: "three months".into(),
    };
    expect_invalid(
        app::collection::create_plan(&db, &ctx, &inv.id, &plan([part, part, part + 1 + due % 3]))
            .await,
        "instalments",
    );
    let p = app::collection::create_plan(&db, &ctx, &inv.id, &plan([part, part, due - 2 * part]))
        .await
        .unwrap();
    assert_eq!(p.instalments.len(), 3);
    assert_eq!(
        app::invoicing::get(&db, &ctx, &inv.id)
            .await
            .unwrap()
            .due_date,
        Some(d("2026-07-15"))
    );
    expect_state(
        ext("2026-08-01", "on top of a plan").await,
        "invoice_has_payment_plan",
    );
    // The first instalment is paid late, part of the second early.
    let later = at(&ctx, t("2026-06-20T10:00:00Z"));
    app::payments::record(
        &db,
        &later,
        &PaymentCreate {
            customer: c.id.clone(),
            amount: part + 100,
            currency: None,
            method: "bank_transfer".into(),
            reference: None,
            invoice: Some(inv.id.clone()),
        },
    )
    .await
    .unwrap();
    let p = app::collection::get_plan(&db, &later, &inv.id)
        .await
        .unwrap();
    assert_eq!(
        p.instalments
            .iter()
            .map(|i| i.amount_remaining)
            .collect::<Vec<_>>(),
        vec![0, part - 100, due - 2 * part]
    );
    // Aging on 20 June: the second instalment is 5 days late, the third not yet due.
    let r = app::reports::ar_aging(&db, &later, Some(&c.id), later.now)
        .await
        .unwrap();
    assert_eq!(
        (r.rows[0].amounts.days_1_30, r.rows[0].amounts.current),
        (part - 100, due - 2 * part)
    );
    expect_not_found(app::collection::get_plan(&db, &org(&db, ctx.now).await, &inv.id).await);
    // Customers charged automatically are charged all that remains: no plan for them.
    let mut auto = customer_input("Auto", "EUR", "UTC", "DE");
    auto.collection_method = Some("charge_automatically".into());
    let a = app::customers::create(&db, &ctx, &auto).await.unwrap();
    let ainv = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&a.id, vec![amount_line("Work", 1_000)], true),
    )
    .await
    .unwrap();
    let one = PaymentPlanCreate {
        instalments: vec![InstalmentInput {
            due_date: d("2026-06-01"),
            amount: ainv.amount_due,
        }],
        reason: "one part".into(),
    };
    expect_state(
        app::collection::create_plan(&db, &ctx, &ainv.id, &one).await,
        "customer_charged_automatically",
    );
    assert_clean(&db).await;
}

async fn due_dates_follow_the_customers_terms_in_their_zone(db: Db) {
    let ctx = org(&db, t("2026-01-31T03:00:00Z")).await;
    let mut input = customer_input("Net Thirty", "USD", "America/New_York", "US");
    input.days_until_due = Some(30);
    let c = app::customers::create(&db, &ctx, &input).await.unwrap();
    assert_eq!((c.days_until_due, c.payment_terms.as_str()), (30, "net_30"));
    assert_eq!(c.collection_method, "send_invoice");
    // 03:00 UTC on 31 January is still 30 January in New York: due 1 March.
    let inv = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Work", 1000)], true),
    )
    .await
    .unwrap();
    assert_eq!(inv.due_date, Some("2026-03-01".parse().unwrap()));
    // Drafts have none until finalized, then from the terms at that moment.
    let draft = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Later", 500)], false),
    )
    .await
    .unwrap();
    assert_eq!(draft.due_date, None);
    let upd = |u: CustomerUpdate| {
        let (db, ctx, id) = (db.clone(), ctx.clone(), c.id.clone());
        async move { app::customers::update(&db, &ctx, &id, &u).await }
    };
    let c2 = upd(CustomerUpdate {
        days_until_due: Some(0),
        collection_method: Some("charge_automatically".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        (c2.payment_terms.as_str(), c2.collection_method.as_str()),
        ("due_on_receipt", "charge_automatically")
    );
    let fin = app::invoicing::finalize(&db, &at(&ctx, t("2026-02-10T15:00:00Z")), &draft.id)
        .await
        .unwrap();
    assert_eq!(fin.due_date, Some("2026-02-10".parse().unwrap()));
    expect_invalid(
        upd(CustomerUpdate {
            days_until_due: Some(366),
            ..Default::default()
        })
        .await,
        "days_until_due",
    );
    expect_invalid(
        upd(CustomerUpdate {
            days_until_due: Some(-1),
            ..Default::default()
        })
        .await,
        "days_until_due",
    );
    expect_invalid(
        upd(CustomerUpdate {
            collection_method: Some("carrier_pigeon".into()),
            ..Default::default()
        })
        .await,
        "collection_method",
    );
    // Subscription invoices and the bill run's renewals carry due dates too.
    let prod = product(&db, &ctx, "Plan").await;
    let price = monthly_flat(&db, &ctx, &prod.id, "USD", 2_000).await;
    upd(CustomerUpdate {
        days_until_due: Some(14),
        ..Default::default()
    })
    .await
    .unwrap();
    let (_, first) = app::subscriptions::create(&db, &ctx, &sub_input(&c.id, &price.id, None))
        .await
        .unwrap();
    assert_eq!(first.unwrap().due_date, Some("2026-02-13".parse().unwrap()));
    app::billrun::run(&db, Some(&ctx.org_id), t("2026-03-05T00:00:00Z"), |_| {})
        .await
        .unwrap();
    let page = app::invoicing::list(&db, &ctx, Some(&c.id), None, None, None, Some(100))
        .await
        .unwrap();
    let renewals: Vec<_> = page
        .data
        .iter()
        .filter(|i| i.billing_reason == "subscription_cycle")
        .collect();
    assert!(!renewals.is_empty());
    for r in renewals {
        let finalized = r
            .finalized_at
            .unwrap()
            .with_timezone(&chrono_tz::America::New_York)
            .date_naive();
        assert_eq!(
            r.due_date,
            Some(finalized + chrono::Days::new(14)),
            "{}",
            r.id
        );
    }
    assert_clean(&db).await;
}

async fn aging_buckets_what_remains_by_days_past_due(db: Db) {
    let ctx = org(&db, t("2026-01-01T10:00:00Z")).await;
    let a = customer(&db, &ctx, "Aged, Inc.", "EUR", "UTC", "DE").await;
    let mut input = customer_input("Net Thirty", "EUR", "Europe/Berlin", "DE");
    input.days_until_due = Some(30);
    let b = app::customers::create(&db, &ctx, &input).await.unwrap();
    let inv = |c: &str, when: &str, amount: i64| {
        let (db, ctx, c, when) = (db.clone(), ctx.clone(), c.to_string(), when.to_string());
        async move {
            app::invoicing::create(
                &db,
                &at(&ctx, t(&when)),
                &one_off(&c, vec![amount_line("Work", amount)], true),
            )
            .await
            .unwrap()
        }
    };
    let old = inv(&a.id, "2026-01-01T10:00:00Z", 1_000).await; // 129 days past due on 10 May
    let mid = inv(&a.id, "2026-02-15T10:00:00Z", 2_000).await; // 84 days
    let recent = inv(&a.id, "2026-04-20T10:00:00Z", 3_000).await; // 20 days
    let paid = inv(&a.id, "2026-04-21T10:00:00Z", 4_000).await;
    let not_due = inv(&b.id, "2026-05-01T10:00:00Z", 5_000).await; // due 31 May
    let ctx = at(&ctx, t("2026-05-10T12:00:00Z"));
    app::payments::record(
        &db,
        &ctx,
        &PaymentCreate {
            customer: a.id.clone(),
            amount: paid.amount_due + 100,
            currency: None,
            method: "bank_transfer".into(),
            reference: None,
            invoice: Some(paid.id.clone()),
        },
    )
    .await
    .unwrap();
    // The extra 100 went to the oldest open invoice.
    let r = app::reports::ar_aging(&db, &ctx, None, ctx.now)
        .await
        .unwrap();
    assert_eq!(r.rows.len(), 2);
    let ra = r.rows.iter().find(|x| x.customer == a.id).unwrap();
    assert_eq!(
        (
            ra.amounts.current,
            ra.amounts.days_1_30,
            ra.amounts.days_31_60,
            ra.amounts.days_61_90,
            ra.amounts.over_90
        ),
        (
            0,
            recent.amount_due,
            0,
            mid.amount_due,
            old.amount_due - 100
        )
    );
    let rb = r.rows.iter().find(|x| x.customer == b.id).unwrap();
    assert_eq!(
        (rb.amounts.current, rb.amounts.total),
        (not_due.amount_due, not_due.amount_due)
    );
    assert_eq!(r.totals.len(), 1);
    assert_eq!(
        r.totals[0].amounts.total,
        ra.amounts.total + rb.amounts.total
    );
    // Seen later, the same amounts move to older buckets.
    let later = app::reports::ar_aging(&db, &ctx, Some(&b.id), t("2026-07-01T12:00:00Z"))
        .await
        .unwrap();
    assert_eq!(later.rows.len(), 1);
    assert_eq!(later.rows[0].amounts.days_31_60, not_due.amount_due);
    let csv = app::reports::aging_csv(&r);
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "customer,customer_name,currency,current,days_1_30,days_31_60,days_61_90,over_90,total"
    );
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(csv.contains("\"Aged, Inc.\""), "{csv}");
    assert!(lines[3].starts_with("TOTAL,,EUR,"), "{csv}");
    expect_not_found(
        app::reports::ar_aging(&db, &org(&db, ctx.now).await, Some(&a.id), ctx.now).await,
    );
    assert_clean(&db).await;
}
