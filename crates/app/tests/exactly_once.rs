//! The bill run invoices every due subscription period exactly once, on SQLite and on
//! PostgreSQL: when two runs overlap at the same instant, and when periods were missed
//! (each missed period once, however often the run is repeated).

mod common;

use billing::ids::{CustomerId, SubscriptionId, SubscriptionItemId};
use chrono::{DateTime, NaiveDate, Utc};
use common::*;
use store::customers::CustomerRow;
use store::new_id;
use store::subscriptions::{ItemRow, SubscriptionRow};

on_both_backends!(
    overlapping_runs_bill_each_period_once,
    overlapping_runs_in_small_chunks_bill_each_period_once,
    missed_periods_are_each_billed_once,
);

const ZONES: [&str; 3] = ["Europe/Berlin", "America/New_York", "UTC"];

/// Inserts `n` EUR customers in Germany, each with one monthly subscription to `price`
/// anchored on `anchor` whose current period (index 0) is `[anchor, anchor + 1 month)`.
async fn bulk_subscriptions(db: &Db, ctx: &Ctx, price: &str, n: usize, anchor: NaiveDate) {
    let end = anchor
        .checked_add_months(chrono::Months::new(1))
        .expect("date");
    for start in (0..n).step_by(1000) {
        let (mut customers, mut subs, mut items) = (Vec::new(), Vec::new(), Vec::new());
        for i in start..(start + 1000).min(n) {
            let tz: chrono_tz::Tz = ZONES[i % ZONES.len()].parse().expect("zone");
            let cid = new_id!(CustomerId).to_string();
            customers.push(CustomerRow {
                id: cid.clone(),
                name: format!("Bulk customer {i}"),
                time_zone: tz.name().into(),
                ..store::testing::customer_row(&ctx.org_id, &cid, ctx.now)
            });
            let p = billing::period::Period::from_dates(anchor, end, tz).expect("period");
            let sid = new_id!(SubscriptionId).to_string();
            subs.push(SubscriptionRow {
                current_period_start: p.start,
                current_period_end: p.end,
                current_period_start_date: p.start_date,
                current_period_end_date: p.end_date,
                ..store::testing::subscription_row(&ctx.org_id, &cid, &sid, anchor, ctx.now)
            });
            items.push(ItemRow {
                id: new_id!(SubscriptionItemId).to_string(),
                org_id: ctx.org_id.clone(),
                subscription_id: sid,
                price_id: price.into(),
                quantity: 1,
                pending_price_id: None,
                pending_quantity: None,
                created_at: ctx.now,
                deleted_at: None,
            });
        }
        let mut tx = db.begin().await.expect("begin");
        store::customers::insert(&mut tx, &customers)
            .await
            .expect("customers");
        store::subscriptions::insert(&mut tx, &subs)
            .await
            .expect("subscriptions");
        store::subscriptions::insert_items(&mut tx, &items)
            .await
            .expect("items");
        tx.commit().await.expect("commit");
    }
}

async fn setup(db: &Db, now: DateTime<Utc>) -> (Ctx, app::catalog::Price) {
    let ctx = org(db, now).await;
    de_vat(db, &ctx).await;
    let p = product(db, &ctx, "Platform").await;
    let price = monthly_flat(db, &ctx, &p.id, "EUR", 4500).await;
    (ctx, price)
}

/// Invoices per (subscription, period): (rows, distinct pairs, largest count of one pair).
async fn period_counts(db: &Db, org: &str) -> (i64, i64, i64) {
    let rows = scalar(
        db,
        "SELECT COUNT(*) FROM invoices WHERE org_id = $1 AND billing_period_start IS NOT NULL",
        org,
    )
    .await;
    let distinct = scalar(
        db,
        "SELECT COUNT(*) FROM (SELECT DISTINCT subscription_id, billing_period_start FROM invoices \
         WHERE org_id = $1 AND billing_period_start IS NOT NULL) d",
        org,
    )
    .await;
    let max = scalar(
        db,
        "SELECT CAST(COALESCE(MAX(n), 0) AS BIGINT) FROM (SELECT COUNT(*) AS n FROM invoices \
         WHERE org_id = $1 AND billing_period_start IS NOT NULL GROUP BY subscription_id, billing_period_start) g",
        org,
    )
    .await;
    (rows, distinct, max)
}

/// Two runs at the same instant over `n` new subscriptions, in chunks of `chunk`: together
/// they bill each subscription's period once, numbered without gaps. Returns the
/// organisation.
async fn two_overlapping_runs(db: &Db, n: usize, chunk: usize) -> Ctx {
    let (ctx, price) = setup(db, t("2025-12-15T00:00:00Z")).await;
    bulk_subscriptions(
        db,
        &ctx,
        &price.id,
        n,
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
    )
    .await;
    let at = t("2026-02-01T12:00:00Z");
    let (d1, d2) = (db.clone(), db.clone());
    let one = tokio::spawn(async move { app::billrun::run_in_chunks(&d1, None, at, chunk).await });
    let two = tokio::spawn(async move { app::billrun::run_in_chunks(&d2, None, at, chunk).await });
    let (one, two) = (one.await.unwrap().unwrap(), two.await.unwrap().unwrap());
    assert_eq!(
        one.invoices_created + two.invoices_created,
        n as u64,
        "the two runs together bill each subscription once ({} + {})",
        one.invoices_created,
        two.invoices_created
    );
    assert_eq!(
        period_counts(db, &ctx.org_id).await,
        (n as i64, n as i64, 1)
    );
    let numbers = invoice_numbers(db, &ctx.org_id).await;
    assert_eq!(numbers.len(), n);
    assert_gapless(&numbers, "INV-2026", n);
    ctx
}

async fn overlapping_runs_bill_each_period_once(db: Db) {
    const N: usize = 5000;
    let ctx = two_overlapping_runs(&db, N, app::billrun::CHUNK).await;
    let at = t("2026-02-01T12:00:00Z");
    // Each invoice: 4500 + 19% VAT.
    let total = scalar(
        &db,
        "SELECT CAST(SUM(total) AS BIGINT) FROM invoices WHERE org_id = $1",
        &ctx.org_id,
    )
    .await;
    assert_eq!(total, 5355 * N as i64);
    let moved = scalar(
        &db,
        "SELECT COUNT(*) FROM subscriptions WHERE org_id = $1 AND period_index = 1",
        &ctx.org_id,
    )
    .await;
    assert_eq!(
        moved, N as i64,
        "every subscription moved to its next period"
    );
    // A third run at the same instant finds nothing to do.
    let three = app::billrun::run(&db, None, at, |_| {}).await.unwrap();
    assert_eq!(three.invoices_created, 0);
    assert_eq!(invoice_count(&db, &ctx.org_id).await, N as i64);
    assert_clean(&db).await;
}

/// Two runs over the same chunks, ten chunks each: on PostgreSQL each run has two chunk
/// writers in flight, which write a chunk's lines and postings before they take the numbering
/// lock. A writer that finds its chunk billed by the other run once it has the lock drops its
/// transaction — the lines and postings written first with it — and writes nothing, so each
/// period has one invoice, one set of lines and one posting.
async fn overlapping_runs_in_small_chunks_bill_each_period_once(db: Db) {
    const N: usize = 1000;
    let ctx = two_overlapping_runs(&db, N, 100).await;
    for (what, sql) in [
        ("lines", "SELECT COUNT(*) FROM invoice_lines WHERE org_id = $1"),
        (
            "postings",
            "SELECT COUNT(*) FROM ledger_transactions WHERE org_id = $1 AND kind = 'invoice_finalized'",
        ),
        (
            "events",
            "SELECT COUNT(*) FROM events WHERE org_id = $1 AND type = 'invoice.finalized'",
        ),
    ] {
        assert_eq!(scalar(&db, sql, &ctx.org_id).await, N as i64, "{what}");
    }
    // Each invoice: 4500 + 19% VAT, posted once.
    let receivable = scalar(
        &db,
        "SELECT CAST(SUM(debit) AS BIGINT) FROM ledger_entries WHERE org_id = $1 AND account = 'receivable'",
        &ctx.org_id,
    )
    .await;
    assert_eq!(receivable, 5355 * N as i64);
    assert_clean(&db).await;
}

async fn missed_periods_are_each_billed_once(db: Db) {
    let (ctx, price) = setup(&db, t("2025-09-01T00:00:00Z")).await;
    // One subscription created through the use case, in Berlin, on Sep 1 2025.
    let c = customer(&db, &ctx, "Long ago", "EUR", "Europe/Berlin", "DE").await;
    let (sub, first) = app::subscriptions::create(
        &db,
        &ctx,
        &sub_input(&c.id, &price.id, Some(t("2025-08-31T22:00:00Z"))),
    )
    .await
    .unwrap();
    assert_eq!(first.unwrap().number.as_deref(), Some("INV-2025-000001"));
    // And 40 more inserted in bulk, anchored Sep 1 (several zones).
    bulk_subscriptions(
        &db,
        &ctx,
        &price.id,
        40,
        NaiveDate::from_ymd_opt(2025, 9, 1).unwrap(),
    )
    .await;

    // The server was down from September: a run in mid-November bills Oct and Nov.
    let nov = app::billrun::run(&db, None, t("2025-11-15T00:00:00Z"), |_| {})
        .await
        .unwrap();
    assert_eq!(nov.invoices_created, 41 * 2);
    // Then down again until mid-January; two runs overlap, then one repeats.
    let at = t("2026-01-15T00:00:00Z");
    let (d1, d2) = (db.clone(), db.clone());
    let a = tokio::spawn(async move { app::billrun::run(&d1, None, at, |_| {}).await });
    let b = tokio::spawn(async move { app::billrun::run(&d2, None, at, |_| {}).await });
    let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
    assert_eq!(a.invoices_created + b.invoices_created, 41 * 2);
    let again = app::billrun::run(&db, None, at, |_| {}).await.unwrap();
    assert_eq!(again.invoices_created, 0);

    // 41 subscriptions × (Sep at creation or in bulk-not-billed, Oct, Nov, Dec, Jan).
    let (rows, distinct, max) = period_counts(&db, &ctx.org_id).await;
    assert_eq!((rows, distinct, max), (1 + 41 * 4, 1 + 41 * 4, 1));
    let mut invs = app::invoicing::list(&db, &ctx, None, Some(&sub.id), None, None, Some(100))
        .await
        .unwrap()
        .data;
    invs.sort_by_key(|i| i.period_start);
    let starts: Vec<DateTime<Utc>> = invs.iter().filter_map(|i| i.period_start).collect();
    assert_eq!(
        starts,
        vec![
            t("2025-08-31T22:00:00Z"),
            t("2025-09-30T22:00:00Z"),
            t("2025-10-31T23:00:00Z"),
            t("2025-11-30T23:00:00Z"),
            t("2025-12-31T23:00:00Z"),
        ],
        "Berlin midnights of Sep 1 … Jan 1, across the DST change"
    );
    assert!(invs.iter().all(|i| i.total == 5355));
    let s = app::subscriptions::get(&db, &ctx, &sub.id).await.unwrap();
    assert_eq!(s.current_period_start_date.to_string(), "2026-01-01");
    assert_eq!(s.current_period_end_date.to_string(), "2026-02-01");
    let numbers = invoice_numbers(&db, &ctx.org_id).await;
    assert_gapless(&numbers, "INV-2025", 1 + 41 * 2);
    assert_gapless(&numbers, "INV-2026", 41 * 2);
    assert_balance(&db, &ctx, &c.id, 5 * 5355, 0).await;
    assert_clean(&db).await;
}
