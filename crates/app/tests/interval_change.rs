//! Interval changes (BILLING.md "Proration": "an interval change (monthly → yearly) restarts
//! the anchor at the change date and credits the unused part"), each test on SQLite and on
//! PostgreSQL, each ending with `store::verify` clean.

mod common;

use app::subscriptions::{ItemChange, SubscriptionChange};
use chrono::{DateTime, Utc};
use common::*;

on_both_backends!(
    monthly_to_yearly_restarts_the_anchor,
    yearly_to_monthly_credits_the_unused_year,
    interval_change_on_the_first_day_and_in_a_trial,
);

/// A yearly flat price of `amount` minor units in `currency`.
async fn yearly_flat(
    db: &Db,
    ctx: &Ctx,
    product: &str,
    currency: &str,
    amount: i64,
) -> app::catalog::Price {
    app::catalog::create_price(
        db,
        ctx,
        &app::catalog::PriceCreate {
            product: product.into(),
            nickname: None,
            recurring: Some(app::catalog::Recurring {
                interval: "year".into(),
                interval_count: 1,
                usage_type: "licensed".into(),
            }),
            model: "flat".into(),
            tax_behavior: None,
            currency_amounts: amounts(&[(currency, flat_amount(amount))]),
        },
    )
    .await
    .expect("create yearly price")
}

/// Moves the item `item` to `price`.
fn switch(item: &str, price: &str, effective: Option<&str>) -> SubscriptionChange {
    SubscriptionChange {
        items: vec![ItemChange {
            id: Some(item.into()),
            price: Some(price.into()),
            quantity: None,
            deleted: false,
        }],
        effective: effective.map(str::to_string),
    }
}

/// The bill run's exactly-once key of an invoice.
async fn billing_period_start(db: &Db, invoice: &str) -> Option<DateTime<Utc>> {
    let sql = "SELECT billing_period_start FROM invoices WHERE id = $1";
    match db {
        Db::Sqlite(p) => {
            sqlx::query_scalar::<_, Option<DateTime<Utc>>>(sql)
                .bind(invoice)
                .fetch_one(p)
                .await
        }
        Db::Pg(p) => {
            sqlx::query_scalar::<_, Option<DateTime<Utc>>>(sql)
                .bind(invoice)
                .fetch_one(p)
                .await
        }
    }
    .expect("billing_period_start")
}

type LineKey = (
    String,
    String,
    Option<String>,
    i64,
    i64,
    i64,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

fn line_keys(lines: &[app::invoicing::InvoiceLine]) -> Vec<LineKey> {
    lines
        .iter()
        .map(|l| {
            (
                l.kind.clone(),
                l.description.clone(),
                l.price.clone(),
                l.amount,
                l.tax_amount,
                l.total,
                l.period_start,
                l.period_end,
            )
        })
        .collect()
}

/// Asserts the applied invoice has exactly the preview's lines and amounts.
fn assert_same(preview: &app::invoicing::InvoicePreview, applied: &app::invoicing::Invoice) {
    assert_eq!(line_keys(&preview.lines), line_keys(&applied.lines));
    assert_eq!(
        (
            preview.subtotal,
            preview.total_discount,
            preview.total_tax,
            preview.total,
            preview.credit_applied,
            preview.amount_due,
            preview.credit_to_balance
        ),
        (
            applied.subtotal,
            applied.total_discount,
            applied.total_tax,
            applied.total,
            applied.credit_applied,
            applied.amount_due,
            applied.credit_to_balance
        )
    );
}

// ---------------------------------------------------------------------------------------

async fn monthly_to_yearly_restarts_the_anchor(db: Db) {
    let ctx = org(&db, t("2025-12-01T00:00:00Z")).await;
    de_vat(&db, &ctx).await;
    let team = product(&db, &ctx, "Team").await;
    let monthly = monthly_flat(&db, &ctx, &team.id, "EUR", 3000).await;
    let yearly = yearly_flat(&db, &ctx, &team.id, "EUR", 30000).await;
    let c = customer(&db, &ctx, "Berlin GmbH", "EUR", "Europe/Berlin", "DE").await;

    // Period Jan 1 – Feb 1 (Berlin midnights).
    let created = at(&ctx, t("2026-01-01T09:00:00Z"));
    let (sub, first) = app::subscriptions::create(
        &db,
        &created,
        &sub_input(&c.id, &monthly.id, Some(t("2025-12-31T23:00:00Z"))),
    )
    .await
    .unwrap();
    let first = first.expect("first period invoiced");
    assert_eq!(first.total, 3570);

    let change = switch(&sub.items[0].id, &yearly.id, None);
    let jan16 = at(&ctx, t("2026-01-16T10:00:00Z"));
    let preview = app::subscriptions::preview_change(&db, &jan16, &sub.id, &change)
        .await
        .unwrap();
    assert_eq!(preview.effective, "now");
    assert_eq!(preview.proration_date.to_string(), "2026-01-16");
    assert_eq!(preview.amount_per_period_before, 3000);
    assert_eq!(preview.amount_per_period_after, 30000);
    let pi = preview.invoice.clone().expect("invoiced at once");
    assert_eq!(
        pi.lines
            .iter()
            .map(|l| (l.kind.as_str(), l.description.as_str(), l.amount))
            .collect::<Vec<_>>(),
        vec![
            (
                "proration",
                "Unused time on Team × 1 (2026-01-16 – 2026-01-31, 16 of 31 days)",
                -1548
            ),
            ("subscription", "Team × 1 (2026-01-16 – 2027-01-15)", 30000),
        ]
    );
    assert_eq!(pi.lines[0].price.as_deref(), Some(monthly.id.as_str()));
    assert_eq!(pi.lines[1].price.as_deref(), Some(yearly.id.as_str()));
    // The credit covers the rest of the old period, the charge the new first period.
    assert_eq!(
        (pi.lines[0].period_start, pi.lines[0].period_end),
        (
            Some(t("2026-01-15T23:00:00Z")),
            Some(t("2026-01-31T23:00:00Z"))
        )
    );
    assert_eq!(
        (pi.lines[1].period_start, pi.lines[1].period_end),
        (
            Some(t("2026-01-15T23:00:00Z")),
            Some(t("2027-01-15T23:00:00Z"))
        )
    );
    // 28452 × 19% = 5405.88 → 5406, computed once for the invoice and split to the lines.
    assert_eq!(
        (pi.subtotal, pi.total_tax, pi.total, pi.amount_due),
        (28452, 5406, 33858, 33858)
    );
    assert_eq!(pi.lines.iter().map(|l| l.tax_amount).sum::<i64>(), 5406);
    // The preview writes nothing.
    assert_eq!(invoice_count(&db, &ctx.org_id).await, 1);
    let unchanged = app::subscriptions::get(&db, &ctx, &sub.id).await.unwrap();
    assert_eq!(unchanged.interval, "month");
    assert_eq!(unchanged.billing_cycle_anchor.to_string(), "2026-01-01");
    assert_eq!(unchanged.items[0].price, monthly.id);
    assert_balance(&db, &ctx, &c.id, 3570, 0).await;

    let (changed, inv) = app::subscriptions::change(&db, &jan16, &sub.id, &change)
        .await
        .unwrap();
    let inv = inv.expect("interval change invoice");
    assert_eq!(inv.number.as_deref(), Some("INV-2026-000002"));
    assert_eq!(inv.status, "open");
    assert_eq!(inv.billing_reason, "subscription_update");
    assert_same(&pi, &inv);
    assert_eq!(
        (inv.period_start, inv.period_end),
        (
            Some(t("2026-01-15T23:00:00Z")),
            Some(t("2027-01-15T23:00:00Z"))
        )
    );
    assert_eq!(
        billing_period_start(&db, &inv.id).await,
        Some(t("2026-01-15T23:00:00Z"))
    );
    assert_eq!(changed.interval, "year");
    assert_eq!(changed.interval_count, 1);
    assert_eq!(changed.billing_cycle_anchor.to_string(), "2026-01-16");
    assert_eq!(changed.current_period_start, t("2026-01-15T23:00:00Z"));
    assert_eq!(changed.current_period_end, t("2027-01-15T23:00:00Z"));
    assert_eq!(changed.current_period_start_date.to_string(), "2026-01-16");
    assert_eq!(changed.current_period_end_date.to_string(), "2027-01-16");
    assert_eq!(changed.items.len(), 1);
    assert_eq!(changed.items[0].price, yearly.id);
    assert_eq!(changed.items[0].pending_price, None);
    // What was written is what `get` reads back.
    let stored = app::subscriptions::get(&db, &ctx, &sub.id).await.unwrap();
    assert_eq!(stored.interval, "year");
    assert_eq!(stored.billing_cycle_anchor.to_string(), "2026-01-16");
    assert_eq!(stored.current_period_end, t("2027-01-15T23:00:00Z"));
    assert_eq!(invoice_count(&db, &ctx.org_id).await, 2);
    assert_balance(&db, &ctx, &c.id, 3570 + 33858, 0).await;
    assert_clean(&db).await;

    // The old monthly boundaries are gone: nothing is due before the new period ends.
    let r = app::billrun::run(&db, None, t("2026-06-01T00:00:00Z"), |_| {})
        .await
        .unwrap();
    assert_eq!(r.invoices_created, 0);
    assert_eq!(invoice_count(&db, &ctx.org_id).await, 2);

    // One yearly renewal, period 1 from the new anchor.
    let r = app::billrun::run(&db, None, t("2027-01-17T00:00:00Z"), |_| {})
        .await
        .unwrap();
    assert_eq!(r.invoices_created, 1);
    let again = app::billrun::run(&db, None, t("2027-01-17T00:00:00Z"), |_| {})
        .await
        .unwrap();
    assert_eq!(again.invoices_created, 0);
    let all = app::invoicing::list(&db, &ctx, None, Some(&sub.id), None, None, Some(10))
        .await
        .unwrap();
    assert_eq!(all.data.len(), 3);
    let renewal = all
        .data
        .iter()
        .find(|i| i.billing_reason == "subscription_cycle")
        .expect("renewal");
    assert_eq!(
        (renewal.period_start, renewal.period_end),
        (
            Some(t("2027-01-15T23:00:00Z")),
            Some(t("2028-01-15T23:00:00Z"))
        )
    );
    assert_eq!(
        renewal
            .lines
            .iter()
            .map(|l| (l.description.as_str(), l.amount))
            .collect::<Vec<_>>(),
        vec![("Team × 1 (2027-01-16 – 2028-01-15)", 30000)]
    );
    assert_eq!((renewal.total_tax, renewal.total), (5700, 35700));
    assert_eq!(
        billing_period_start(&db, &renewal.id).await,
        Some(t("2027-01-15T23:00:00Z"))
    );
    let s = app::subscriptions::get(&db, &ctx, &sub.id).await.unwrap();
    assert_eq!(s.current_period_start_date.to_string(), "2027-01-16");
    assert_eq!(s.current_period_end_date.to_string(), "2028-01-16");
    assert_balance(&db, &ctx, &c.id, 3570 + 33858 + 35700, 0).await;
    assert_clean(&db).await;
}

async fn yearly_to_monthly_credits_the_unused_year(db: Db) {
    let ctx = org(&db, t("2025-12-01T00:00:00Z")).await;
    de_vat(&db, &ctx).await;
    let team = product(&db, &ctx, "Team").await;
    let monthly = monthly_flat(&db, &ctx, &team.id, "EUR", 3000).await;
    let yearly = yearly_flat(&db, &ctx, &team.id, "EUR", 30000).await;
    let c = customer(&db, &ctx, "Berlin GmbH", "EUR", "Europe/Berlin", "DE").await;

    // Period Jan 1 2026 – Jan 1 2027 (365 days).
    let created = at(&ctx, t("2026-01-01T09:00:00Z"));
    let (sub, first) = app::subscriptions::create(
        &db,
        &created,
        &sub_input(&c.id, &yearly.id, Some(t("2025-12-31T23:00:00Z"))),
    )
    .await
    .unwrap();
    assert_eq!(first.expect("first year invoiced").total, 35700);
    assert_eq!(sub.current_period_end, t("2026-12-31T23:00:00Z"));

    // Cheaper per period, yet effective now: the interval changes.
    let change = switch(&sub.items[0].id, &monthly.id, None);
    let mar10 = at(&ctx, t("2026-03-10T10:00:00Z"));
    let preview = app::subscriptions::preview_change(&db, &mar10, &sub.id, &change)
        .await
        .unwrap();
    assert_eq!(preview.effective, "now");
    assert_eq!(preview.proration_date.to_string(), "2026-03-10");
    assert_eq!(
        (
            preview.amount_per_period_before,
            preview.amount_per_period_after
        ),
        (30000, 3000)
    );
    let pi = preview.invoice.clone().expect("invoiced at once");
    // 297 of 365 days unused: 30000 × 297/365 = 24410.96 → 24411.
    assert_eq!(
        pi.lines
            .iter()
            .map(|l| (l.kind.as_str(), l.description.as_str(), l.amount))
            .collect::<Vec<_>>(),
        vec![
            (
                "proration",
                "Unused time on Team × 1 (2026-03-10 – 2026-12-31, 297 of 365 days)",
                -24411
            ),
            ("subscription", "Team × 1 (2026-03-10 – 2026-04-09)", 3000),
        ]
    );
    // −21411 × 19% = −4068.09 → −4068; the negative total goes to the credit balance.
    assert_eq!(
        (
            pi.subtotal,
            pi.total_tax,
            pi.total,
            pi.amount_due,
            pi.credit_to_balance
        ),
        (-21411, -4068, -25479, 0, 25479)
    );
    assert_eq!(invoice_count(&db, &ctx.org_id).await, 1);
    assert_balance(&db, &ctx, &c.id, 35700, 0).await;

    let (changed, inv) = app::subscriptions::change(&db, &mar10, &sub.id, &change)
        .await
        .unwrap();
    let inv = inv.expect("interval change invoice");
    assert_eq!(inv.billing_reason, "subscription_update");
    assert_eq!(inv.status, "paid", "nothing due on a negative invoice");
    assert_same(&pi, &inv);
    assert_eq!(
        billing_period_start(&db, &inv.id).await,
        Some(t("2026-03-09T23:00:00Z"))
    );
    assert_eq!(changed.interval, "month");
    assert_eq!(changed.billing_cycle_anchor.to_string(), "2026-03-10");
    // Berlin is on summer time from Mar 29: the period ends at 22:00Z.
    assert_eq!(changed.current_period_start, t("2026-03-09T23:00:00Z"));
    assert_eq!(changed.current_period_end, t("2026-04-09T22:00:00Z"));
    assert_eq!(changed.current_period_end_date.to_string(), "2026-04-10");
    assert_balance(&db, &ctx, &c.id, 35700, 25479).await;
    assert_clean(&db).await;

    // The next month is billed from the new anchor and paid from the credit balance.
    let early = app::billrun::run(&db, None, t("2026-04-09T21:59:59Z"), |_| {})
        .await
        .unwrap();
    assert_eq!(early.invoices_created, 0);
    let r = app::billrun::run(&db, None, t("2026-04-10T00:00:00Z"), |_| {})
        .await
        .unwrap();
    assert_eq!(r.invoices_created, 1);
    let all = app::invoicing::list(&db, &ctx, None, Some(&sub.id), None, None, Some(10))
        .await
        .unwrap();
    let renewal = all
        .data
        .iter()
        .find(|i| i.billing_reason == "subscription_cycle")
        .expect("renewal");
    assert_eq!(
        renewal.lines[0].description,
        "Team × 1 (2026-04-10 – 2026-05-09)"
    );
    assert_eq!(
        (renewal.total, renewal.credit_applied, renewal.amount_due),
        (3570, 3570, 0)
    );
    assert_balance(&db, &ctx, &c.id, 35700, 25479 - 3570).await;
    assert_clean(&db).await;
}

async fn interval_change_on_the_first_day_and_in_a_trial(db: Db) {
    let ctx = org(&db, t("2025-12-01T00:00:00Z")).await;
    de_vat(&db, &ctx).await;
    let team = product(&db, &ctx, "Team").await;
    let monthly = monthly_flat(&db, &ctx, &team.id, "EUR", 3000).await;
    let yearly = yearly_flat(&db, &ctx, &team.id, "EUR", 30000).await;
    let c = customer(&db, &ctx, "Berlin GmbH", "EUR", "Europe/Berlin", "DE").await;

    // Subscribed monthly on Jan 1 and switched to yearly the same day: the whole month is
    // credited, and the new first period starts where the monthly one did.
    let jan1 = at(&ctx, t("2026-01-01T09:00:00Z"));
    let (sub, _) = app::subscriptions::create(&db, &jan1, &sub_input(&c.id, &monthly.id, None))
        .await
        .unwrap();
    expect_invalid(
        app::subscriptions::change(
            &db,
            &jan1,
            &sub.id,
            &switch(&sub.items[0].id, &yearly.id, Some("period_end")),
        )
        .await,
        "effective",
    );
    let change = switch(&sub.items[0].id, &yearly.id, Some("now"));
    let preview = app::subscriptions::preview_change(&db, &jan1, &sub.id, &change)
        .await
        .unwrap();
    let pi = preview.invoice.clone().expect("invoiced at once");
    let (changed, inv) = app::subscriptions::change(&db, &jan1, &sub.id, &change)
        .await
        .unwrap();
    let inv = inv.expect("interval change invoice");
    assert_same(&pi, &inv);
    assert_eq!(
        inv.lines.iter().map(|l| l.amount).collect::<Vec<_>>(),
        vec![-3000, 30000]
    );
    assert_eq!(
        inv.lines[0].description,
        "Unused time on Team × 1 (2026-01-01 – 2026-01-31, 31 of 31 days)"
    );
    // 27000 × 19% = 5130.
    assert_eq!((inv.total_tax, inv.total), (5130, 32130));
    // The creation invoice already holds the key of that start.
    assert_eq!(billing_period_start(&db, &inv.id).await, None);
    assert_eq!(changed.billing_cycle_anchor.to_string(), "2026-01-01");
    assert_eq!(changed.current_period_end, t("2026-12-31T23:00:00Z"));
    assert_balance(&db, &ctx, &c.id, 3570 + 32130, 0).await;
    assert_clean(&db).await;
    let r = app::billrun::run(&db, None, t("2027-01-02T00:00:00Z"), |_| {})
        .await
        .unwrap();
    assert_eq!(r.invoices_created, 1);
    assert_balance(&db, &ctx, &c.id, 3570 + 32130 + 35700, 0).await;

    // In a trial the interval changes at once, with no invoice; the trial end stays the
    // anchor and the first yearly period starts there.
    // (Its own organisation, so the clock of its bill run starts afresh.)
    let ctx = org(&db, t("2025-12-01T00:00:00Z")).await;
    de_vat(&db, &ctx).await;
    let team = product(&db, &ctx, "Team").await;
    let monthly = monthly_flat(&db, &ctx, &team.id, "EUR", 3000).await;
    let yearly = yearly_flat(&db, &ctx, &team.id, "EUR", 30000).await;
    let c2 = customer(&db, &ctx, "Trial GmbH", "EUR", "Europe/Berlin", "DE").await;
    let jan1 = at(&ctx, t("2026-01-01T09:00:00Z"));
    let mut input = sub_input(&c2.id, &monthly.id, Some(t("2025-12-31T23:00:00Z")));
    input.trial_days = Some(14);
    let (trial, none) = app::subscriptions::create(&db, &jan1, &input)
        .await
        .unwrap();
    assert!(none.is_none());
    assert_eq!(trial.billing_cycle_anchor.to_string(), "2026-01-15");
    let jan5 = at(&ctx, t("2026-01-05T10:00:00Z"));
    let change = switch(&trial.items[0].id, &yearly.id, None);
    let preview = app::subscriptions::preview_change(&db, &jan5, &trial.id, &change)
        .await
        .unwrap();
    assert_eq!(preview.effective, "now");
    assert!(preview.invoice.is_none());
    let (changed, none) = app::subscriptions::change(&db, &jan5, &trial.id, &change)
        .await
        .unwrap();
    assert!(none.is_none());
    assert_eq!(changed.status, "trialing");
    assert_eq!(changed.interval, "year");
    assert_eq!(changed.billing_cycle_anchor.to_string(), "2026-01-15");
    assert_eq!(changed.current_period_end, t("2026-01-14T23:00:00Z"));
    assert_eq!(changed.trial_end, trial.trial_end);
    let before = invoice_count(&db, &ctx.org_id).await;
    let r = app::billrun::run(&db, Some(&ctx.org_id), t("2026-01-15T00:00:00Z"), |_| {})
        .await
        .unwrap();
    assert_eq!(r.invoices_created, 1);
    assert_eq!(invoice_count(&db, &ctx.org_id).await, before + 1);
    let s = app::subscriptions::get(&db, &ctx, &trial.id).await.unwrap();
    assert_eq!(s.status, "active");
    assert_eq!(s.current_period_start_date.to_string(), "2026-01-15");
    assert_eq!(s.current_period_end_date.to_string(), "2027-01-15");
    assert_balance(&db, &ctx, &c2.id, 35700, 0).await;
    assert_clean(&db).await;
}
