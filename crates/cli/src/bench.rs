//! Benchmarks. Each builds its own data in a fresh database of the backend `--database`
//! names (a new SQLite file in the temp directory, or a new schema in the PostgreSQL
//! database, dropped afterwards), so it never touches real data.
//!
//! `bench bill-run --subscriptions N`: N customers with one subscription each (two items
//! for every third one, a coupon for every tenth, EUR customers taxed at 19%), all with a
//! period ending before T; then the bill run at T (one renewal invoice each), then verify.
//! Prints invoices/s and rows written/s, and, as the machine's own limit in the same run,
//! rows/s of a plain multi-row insert of as many rows into the same database.
//!
//! `bench desk --emails N`: an organisation with 2,000 customers (emails on file) and an
//! SLA policy; N generated emails of 2–3 KB (four in five from customers, one in five
//! from unknown senders, one in ten a reply to an earlier email by In-Reply-To, one in
//! five in Russian) ingested in batches of 1,000 through `app::desk::inbound::ingest_batch`
//! — parse, dedupe, thread, match the sender, store ticket, status change, interaction and
//! acknowledgement, queue the acknowledgement and SLA jobs. Prints emails/s, then verify.
//!
//! `bench collect --invoices N [--workers 2]`: the same N customers, charged automatically,
//! each with a default sandbox card; the bill run (untimed) finalizes one invoice each and
//! queues N `charge_invoice` jobs; then `--workers` job workers run them at once, each pass
//! charging up to 2,000 as one batch (`app::collect`: pending payments, the gateway calls,
//! then payments, allocations, ledger postings, events and the jobs marked done in bulk).
//! The workers stop when a pass finds nothing to claim and no event to dispatch. Prints
//! payments/s until the last charge job was done (the end of the last worker pass that ran
//! charge jobs, as the workers report it: nothing polls the database meanwhile), how long
//! dispatching the events (and running the notification jobs they queue) took after that,
//! then verify.

use anyhow::{bail, Context, Result};
use billing::ids::*;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use clap::Subcommand;
use std::time::Instant;
use store::catalog::{CouponRow, PriceAmountRow, PriceRow, ProductRow, TaxRateRow};
use store::customers::CustomerRow;
use store::subscriptions::{DiscountRow, ItemRow, SubscriptionRow};
use store::{new_id, Backend, Db};

#[derive(Subcommand)]
pub enum Which {
    /// Bill run throughput over N subscriptions.
    BillRun {
        #[arg(long, default_value_t = 100_000)]
        subscriptions: usize,
        /// Gather the planner's statistics (`ANALYZE`) once the data is built, as a
        /// database in service has them. Without it the run starts on tables with none, as
        /// right after a large import.
        #[arg(long)]
        analyze: bool,
    },
    /// Inbound email throughput: N raw emails parsed, threaded, matched to customers and
    /// stored, with their acknowledgements queued.
    Desk {
        #[arg(long, default_value_t = 100_000)]
        emails: usize,
    },
    /// Page latency under load: the console's ticket page (with the customer-360 panel) and
    /// the portal overview, over N customers with invoices and tickets, fetched by C
    /// concurrent connections; prints per page the server's wait for a page slot, its own
    /// time after taking one (both from Server-Timing) and the client's end-to-end time.
    Pages {
        #[arg(long, default_value_t = 10_000)]
        customers: usize,
        #[arg(long, default_value_t = 50)]
        connections: usize,
        /// Requests per connection.
        #[arg(long, default_value_t = 200)]
        requests: usize,
        /// Pages the server renders at once (default: as `serve`, two per core).
        #[arg(long)]
        page_slots: Option<usize>,
    },
    /// Collection throughput: N open invoices of customers charged automatically, each
    /// charged through the job queue and the sandbox gateway.
    Collect {
        #[arg(long, default_value_t = 100_000)]
        invoices: usize,
        /// Workers running at once.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Gather the planner's statistics (`ANALYZE`) once the invoices are finalized,
        /// before the charging (as `bill-run --analyze`).
        #[arg(long)]
        analyze: bool,
    },
}

pub async fn run(url: &str, which: Which) -> Result<()> {
    match which {
        Which::BillRun {
            subscriptions,
            analyze,
        } => bill_run(url, subscriptions, analyze).await,
        Which::Collect {
            invoices,
            workers,
            analyze,
        } => collect(url, invoices, workers, analyze).await,
        Which::Desk { emails } => desk(url, emails).await,
        Which::Pages {
            customers,
            connections,
            requests,
            page_slots,
        } => pages(url, customers, connections, requests, page_slots).await,
    }
}

/// A fresh database on the backend of `url`, and how to clean it up.
async fn scratch(url: &str) -> Result<(Db, Option<std::path::PathBuf>, Option<String>)> {
    if url.starts_with("sqlite:") {
        let path = std::env::temp_dir().join(format!(
            "{}.db",
            store::testing::unique_name("ledgerdesk_bench")
        ));
        let db = Db::connect(&format!("sqlite://{}", path.display())).await?;
        db.migrate().await?;
        Ok((db, Some(path), None))
    } else {
        let schema = store::testing::unique_name("bench");
        let db = Db::connect_in_schema(url, Some(&schema))
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        db.migrate().await?;
        Ok((db, None, Some(schema)))
    }
}

async fn cleanup(
    db: Db,
    url: &str,
    path: Option<std::path::PathBuf>,
    schema: Option<String>,
) -> Result<()> {
    db.close().await;
    if std::env::var_os("LEDGERDESK_BENCH_KEEP").is_some() {
        eprintln!("kept the scratch database (LEDGERDESK_BENCH_KEEP): {path:?} {schema:?}");
        return Ok(());
    }
    if let Some(p) = path {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
        }
    }
    if let Some(s) = schema {
        let admin = Db::connect(url).await?;
        if let Db::Pg(p) = &admin {
            sqlx::query(&format!("DROP SCHEMA \"{s}\" CASCADE"))
                .execute(p)
                .await?;
        }
        admin.close().await;
    }
    Ok(())
}

fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
        .single()
        .expect("valid date")
}

/// The bench organisation: `n` customers (collection method as given) with one monthly
/// subscription each whose January 2026 period has ended by the bill run at
/// 2026-02-01T12:00Z. Returns the organisation's id.
async fn build(db: &Db, n: usize, collection_method: &str) -> Result<String> {
    let build = Instant::now();
    let now = t(2026, 1, 1);
    let org = app::orgs::create_org(db, "Bench Org", "DE", now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let org_id = org.org_id.clone();
    let mut tx = db.begin().await?;
    let product = ProductRow {
        id: new_id!(ProductId).to_string(),
        org_id: org_id.clone(),
        name: "Platform".into(),
        description: None,
        active: true,
        created_at: now,
    };
    let addon = ProductRow {
        id: new_id!(ProductId).to_string(),
        org_id: org_id.clone(),
        name: "Seats".into(),
        description: None,
        active: true,
        created_at: now,
    };
    store::catalog::insert_products(&mut tx, &[product.clone(), addon.clone()]).await?;
    let price = |product: &str, model: &str| PriceRow {
        id: new_id!(PriceId).to_string(),
        org_id: org_id.clone(),
        product_id: product.to_string(),
        nickname: None,
        kind: "recurring".into(),
        interval_unit: Some("month".into()),
        interval_count: Some(1),
        usage_type: "licensed".into(),
        model: model.into(),
        tax_behavior: "exclusive".into(),
        active: true,
        used: true,
        created_at: now,
    };
    let flat = price(&product.id, "flat");
    let seats = price(&addon.id, "graduated");
    let amount = |p: &PriceRow, cur: &str, json: &str| PriceAmountRow {
        org_id: org_id.clone(),
        price_id: p.id.clone(),
        currency: cur.into(),
        pricing: json.into(),
    };
    let amounts = vec![
        amount(&flat, "USD", r#"{"model":"flat","amount":"4900"}"#),
        amount(&flat, "EUR", r#"{"model":"flat","amount":"4500"}"#),
        amount(
            &seats,
            "USD",
            r#"{"model":"graduated","tiers":[{"up_to":5,"unit_amount":"1000","flat_amount":"0"},{"up_to":null,"unit_amount":"750","flat_amount":"0"}]}"#,
        ),
        amount(
            &seats,
            "EUR",
            r#"{"model":"graduated","tiers":[{"up_to":5,"unit_amount":"900","flat_amount":"0"},{"up_to":null,"unit_amount":"700","flat_amount":"0"}]}"#,
        ),
    ];
    store::catalog::insert_prices(&mut tx, &[flat.clone(), seats.clone()], &amounts).await?;
    store::catalog::insert_tax_rates(
        &mut tx,
        &[TaxRateRow {
            id: new_id!(TaxRateId).to_string(),
            org_id: org_id.clone(),
            display_name: "VAT DE".into(),
            percentage: "19".into(),
            country: "DE".into(),
            region: None,
            active: true,
            created_at: now,
        }],
    )
    .await?;
    let coupon = CouponRow {
        id: new_id!(CouponId).to_string(),
        org_id: org_id.clone(),
        name: "10% forever".into(),
        percent_off: Some("10".into()),
        amount_off: None,
        currency: None,
        duration: "forever".into(),
        duration_in_periods: None,
        product_ids: None,
        created_at: now,
    };
    store::catalog::insert_coupons(&mut tx, std::slice::from_ref(&coupon)).await?;
    tx.commit().await?;

    let zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"];
    let start = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    let end = NaiveDate::from_ymd_opt(2026, 2, 1).expect("date");
    for chunk_start in (0..n).step_by(5000) {
        let chunk_end = (chunk_start + 5000).min(n);
        let mut customers = Vec::new();
        let mut subs = Vec::new();
        let mut items = Vec::new();
        let mut discounts = Vec::new();
        for i in chunk_start..chunk_end {
            let eur = i % 2 == 0;
            let tz: chrono_tz::Tz = zones[i % zones.len()]
                .parse()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let cid = new_id!(CustomerId).to_string();
            customers.push(CustomerRow {
                name: format!("Bench customer {i}"),
                email: Some(format!("c{i}@example.com")),
                time_zone: tz.name().into(),
                currency: if eur { "EUR" } else { "USD" }.into(),
                address_country: Some(if eur { "DE" } else { "US" }.into()),
                collection_method: collection_method.into(),
                ..store::testing::customer_row(&org_id, &cid, now)
            });
            let p = billing::period::Period::from_dates(start, end, tz)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let sid = new_id!(SubscriptionId).to_string();
            subs.push(SubscriptionRow {
                currency: if eur { "EUR" } else { "USD" }.into(),
                current_period_start: p.start,
                current_period_end: p.end,
                current_period_start_date: p.start_date,
                current_period_end_date: p.end_date,
                ..store::testing::subscription_row(&org_id, &cid, &sid, start, now)
            });
            let item = |price: &str, q: i64| ItemRow {
                id: new_id!(SubscriptionItemId).to_string(),
                org_id: org_id.clone(),
                subscription_id: sid.clone(),
                price_id: price.into(),
                quantity: q,
                pending_price_id: None,
                pending_quantity: None,
                created_at: now,
                deleted_at: None,
            };
            items.push(item(&flat.id, 1));
            if i % 3 == 0 {
                items.push(item(&seats.id, (i % 12) as i64 + 1));
            }
            if i % 10 == 0 {
                discounts.push(DiscountRow {
                    id: new_id!(DiscountId).to_string(),
                    org_id: org_id.clone(),
                    customer_id: cid,
                    subscription_id: None,
                    coupon_id: coupon.id.clone(),
                    invoices_applied: 0,
                    created_at: now,
                    ended_at: None,
                });
            }
        }
        let mut tx = db.begin().await?;
        store::customers::insert(&mut tx, &customers).await?;
        store::subscriptions::insert(&mut tx, &subs).await?;
        store::subscriptions::insert_items(&mut tx, &items).await?;
        store::subscriptions::insert_discounts(&mut tx, &discounts).await?;
        tx.commit().await?;
    }
    eprintln!(
        "built {n} customers and subscriptions in {:.2?}",
        build.elapsed()
    );
    Ok(org_id)
}

/// `--analyze`: the planner's statistics on the scratch data, timed.
async fn gather_statistics(db: &Db) -> Result<()> {
    let started = Instant::now();
    let mut tx = db.begin().await?;
    store::bench::analyze(&mut tx).await?;
    tx.commit().await?;
    eprintln!("gathered statistics (ANALYZE) in {:.2?}", started.elapsed());
    Ok(())
}

async fn bill_run(url: &str, n: usize, analyze: bool) -> Result<()> {
    if n == 0 {
        bail!("--subscriptions must be at least 1");
    }
    let (db, path, schema) = scratch(url).await?;
    let backend = match db.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    eprintln!("bench bill-run: {n} subscriptions on {backend}");
    build(&db, n, "send_invoice").await?;
    if analyze {
        gather_statistics(&db).await?;
    }

    let at = t(2026, 2, 1) + chrono::Duration::hours(12);
    let started = Instant::now();
    let report = app::billrun::run(&db, None, at, |_| {})
        .await
        .map_err(|e| anyhow::anyhow!("bill run: {e}"))?;
    let secs = started.elapsed().as_secs_f64();
    let verify_started = Instant::now();
    let violations = {
        let mut tx = db.read().await?;
        store::verify::check_all(&mut tx).await?
    };
    let verify_secs = verify_started.elapsed().as_secs_f64();

    // The machine's own limit: the same number of rows, multi-row inserted into the same
    // database in one transaction, with as many columns as an invoice line.
    let base_rows = report.rows_written as usize;
    let base = baseline(&db, base_rows).await?;

    println!("backend            {backend}");
    println!("subscriptions      {n}");
    println!("invoices           {}", report.invoices_created);
    println!("rows written       {}", report.rows_written);
    println!("bill run           {secs:.2} s");
    println!(
        "invoices/s         {:.0}",
        report.invoices_created as f64 / secs
    );
    println!(
        "rows written/s     {:.0}",
        report.rows_written as f64 / secs
    );
    println!("baseline insert/s  {:.0}   ({base_rows} rows, plain multi-row INSERT into the same database)", base_rows as f64 / base);
    println!(
        "verify             {verify_secs:.2} s, {} violation(s)",
        violations.len()
    );
    for v in &violations {
        println!("VIOLATION {}: {}", v.invariant, v.detail);
    }
    cleanup(db, url, path, schema).await?;
    if report.invoices_created != n as u64 {
        bail!("expected {n} invoices, got {}", report.invoices_created);
    }
    if !violations.is_empty() {
        bail!("verify found {} violation(s)", violations.len());
    }
    Ok(())
}

async fn collect(url: &str, n: usize, workers: usize, analyze: bool) -> Result<()> {
    if n == 0 || workers == 0 {
        bail!("--invoices and --workers must be at least 1");
    }
    let (db, path, schema) = scratch(url).await?;
    let backend = match db.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    eprintln!("bench collect: {n} invoices on {backend}, {workers} worker(s)");
    let org = build(&db, n, "charge_automatically").await?;
    let at = t(2026, 2, 1) + chrono::Duration::hours(12);
    let mut tx = db.begin().await?;
    store::bench::attach_test_cards(&mut tx, &org, t(2026, 1, 1)).await?;
    tx.commit().await?;
    let report = app::billrun::run(&db, None, at, |_| {})
        .await
        .map_err(|e| anyhow::anyhow!("bill run: {e}"))?;
    eprintln!(
        "{} invoices finalized and queued for charging",
        report.invoices_created
    );
    if analyze {
        gather_statistics(&db).await?;
    }

    let gateway = gateway::Gateway::Sandbox(gateway::Sandbox::new());
    let started = Instant::now();
    // Each worker notes when its last pass with charge jobs ended; the charging took until
    // the latest of those. (The workers go on dispatching the events the charges wrote, and
    // sending the notifications they call for, until nothing is left.) Nothing polls the
    // database meanwhile: a poll of the queue is server work the charges would compete with.
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let w = app::jobs::Worker::new(db.clone(), gateway.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = app::jobs::Pass::default();
            let mut last_charge: Option<Instant> = None;
            loop {
                let p = w.run_once(at).await?;
                if p.charges > 0 {
                    last_charge = Some(Instant::now());
                }
                done.succeeded += p.succeeded;
                done.failed += p.failed + p.retried + p.lost;
                done.dispatched += p.dispatched;
                if p.claimed == 0 && p.dispatched == 0 {
                    return Ok::<_, app::AppError>((done, last_charge));
                }
            }
        }));
    }
    let (mut succeeded, mut other, mut dispatched) = (0, 0, 0);
    let mut charged: Option<Instant> = None;
    for t in tasks {
        let (p, last) = t.await?.map_err(|e| anyhow::anyhow!("worker: {e}"))?;
        succeeded += p.succeeded;
        other += p.failed;
        dispatched += p.dispatched;
        charged = charged.max(last);
    }
    let secs = started.elapsed().as_secs_f64();
    let charge_secs = charged.map_or(secs, |t| (t - started).as_secs_f64());
    let (violations, payments) = {
        let mut tx = db.read().await?;
        (
            store::verify::check_all(&mut tx).await?,
            store::bench::count_succeeded_payments(&mut tx, &org).await? as usize,
        )
    };
    println!("backend            {backend}");
    println!("invoices           {}", report.invoices_created);
    println!("jobs               {succeeded} (charges and the notifications they caused)");
    println!("events dispatched  {dispatched}");
    println!("payments           {payments}");
    println!("charging           {charge_secs:.2} s with {workers} worker(s) (until the last charge job was done)");
    println!("payments/s         {:.0}", payments as f64 / charge_secs);
    println!(
        "dispatch           {:.2} s more to dispatch the events and run the notification jobs",
        (secs - charge_secs).max(0.0)
    );
    println!("collection         {secs:.2} s in all");
    println!("payments/s overall {:.0}", payments as f64 / secs);
    println!("verify             {} violation(s)", violations.len());
    for v in &violations {
        println!("VIOLATION {}: {}", v.invariant, v.detail);
    }
    cleanup(db, url, path, schema).await?;
    if payments != n || other != 0 {
        bail!("expected {n} payments, got {payments} ({other} jobs not succeeded)");
    }
    if !violations.is_empty() {
        bail!("verify found {} violation(s)", violations.len());
    }
    Ok(())
}

async fn baseline(db: &Db, rows: usize) -> Result<f64> {
    let mut tx = db.begin().await?;
    store::bench::create_baseline_table(&mut tx).await?;
    let data: Vec<(String, i64, String)> = (0..rows)
        .map(|i| {
            (
                format!("row{i:012}"),
                i as i64,
                "baseline payload text".to_string(),
            )
        })
        .collect();
    let started = Instant::now();
    store::bench::insert_baseline(&mut tx, &data).await?;
    tx.commit().await?;
    Ok(started.elapsed().as_secs_f64())
}

async fn desk(url: &str, n: usize) -> Result<()> {
    if n == 0 {
        bail!("--emails must be at least 1");
    }
    let (db, path, schema) = scratch(url).await?;
    let backend = match db.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    eprintln!("bench desk: {n} emails on {backend}");
    let now = t(2026, 11, 27) + chrono::Duration::hours(10);
    let org = app::orgs::create_org(&db, "Bench Desk", "DE", now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let ctx = app::Ctx::new(org.org_id.clone(), now);
    let admin = app::desk::StaffCtx::api_key(ctx.clone());
    app::desk::settings::save_policy(
        &db,
        &admin,
        app::desk::settings::PolicyInput {
            name: "Default".into(),
            priority: None,
            category: None,
            first_response_secs: Some(4 * 3600),
            resolution_secs: Some(24 * 3600),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let customers = 2_000usize;
    let mut rows = Vec::with_capacity(customers);
    for i in 0..customers {
        let id = new_id!(CustomerId).to_string();
        rows.push(CustomerRow {
            name: format!("Customer {i}"),
            email: Some(format!("billing{i}@customer{i}.example")),
            locale: if i % 5 == 0 { "ru".into() } else { "en".into() },
            days_until_due: 14,
            ..store::testing::customer_row(&org.org_id, &id, now)
        });
    }
    let mut tx = db.begin().await?;
    store::customers::insert(&mut tx, &rows).await?;
    tx.commit().await?;

    let filler = "Please look at the attached figures; the seat count on the last invoice does not match what we agreed with your sales team in October. ".repeat(16);
    let ru = "Здравствуйте! В последнем счёте указано неверное количество мест, просим проверить и выставить корректировку. ".repeat(12);
    let mails: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let from = if i % 5 == 4 {
                format!("someone{i}@unknown.example")
            } else {
                format!("billing{}@customer{}.example", i % customers, i % customers)
            };
            let reply = if i % 10 == 9 && i >= 10 {
                format!("In-Reply-To: <mail{}@bench.example>\r\n", i - 9)
            } else {
                String::new()
            };
            let (subject, body, charset) = if i % 5 == 1 {
                ("=?UTF-8?B?0JLQvtC/0YDQvtGBINC/0L4g0YHRh9GR0YLRgw==?=".to_string(), ru.clone(), "utf-8")
            } else {
                (format!("Invoice question {i}"), filler.clone(), "us-ascii")
            };
            format!(
                "From: Customer <{from}>\r\nTo: billing@bench.example\r\nSubject: {subject}\r\n\
                 Message-ID: <mail{i}@bench.example>\r\n{reply}Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n\
                 MIME-Version: 1.0\r\nContent-Type: text/plain; charset={charset}\r\n\
                 Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
            )
            .into_bytes()
        })
        .collect();
    let bytes: usize = mails.iter().map(Vec::len).sum();
    eprintln!("{n} emails generated, {} KB on average", bytes / n / 1024);

    let started = Instant::now();
    let (mut tickets, mut replies, mut acks, mut failed) = (0usize, 0usize, 0usize, 0usize);
    for chunk in mails.chunks(1_000) {
        let out = app::desk::inbound::ingest_batch(&db, &ctx, chunk)
            .await
            .map_err(|e| anyhow::anyhow!("ingest: {e}"))?;
        for r in out {
            match r {
                Ok(r) => {
                    match r.outcome {
                        "new_ticket" | "follow_up" => tickets += 1,
                        _ => replies += 1,
                    }
                    acks += usize::from(r.acknowledgement.is_some());
                }
                Err(_) => failed += 1,
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("backend            {backend}");
    println!("emails             {n}");
    println!("tickets            {tickets} new, {replies} replies threaded, {failed} refused");
    println!("acknowledgements   {acks} queued");
    println!("ingest             {secs:.2} s");
    println!("emails/s           {:.0}", n as f64 / secs);
    let mut tx = db.read().await?;
    let v = store::verify::check_all(&mut tx).await?;
    drop(tx);
    println!("verify             {} violation(s)", v.len());
    cleanup(db, url, path, schema).await
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// One page answer's times in milliseconds: the server's wait for a page slot and its own
/// time after taking one (`Server-Timing: queue;dur=…, app;dur=…`), and the time the client
/// saw from sending the request to the last byte of the body.
#[derive(Clone, Copy)]
struct PageTimes {
    queue: f64,
    app: f64,
    client: f64,
}

/// The duration named `name` in a Server-Timing header.
fn timing(r: &reqwest::Response, name: &str) -> Option<f64> {
    let h = r.headers().get("server-timing")?.to_str().ok()?;
    h.split(',').find_map(|m| {
        let (n, rest) = m.trim().split_once(';')?;
        (n == name).then(|| rest.strip_prefix("dur=")?.parse().ok())?
    })
}

async fn pages(
    url: &str,
    n: usize,
    connections: usize,
    requests: usize,
    page_slots: Option<usize>,
) -> Result<()> {
    if n < 10 || connections == 0 || requests == 0 {
        bail!("--customers must be at least 10, --connections and --requests at least 1");
    }
    let (db, path, schema) = scratch(url).await?;
    let backend = match db.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    eprintln!("bench pages: {n} customers on {backend}, {connections} connections");
    let org = build(&db, n, "send_invoice").await?;
    // Two months of invoices for every customer.
    for at in [t(2026, 2, 1), t(2026, 3, 1)] {
        app::billrun::run(&db, None, at + chrono::Duration::hours(12), |_| {})
            .await
            .map_err(|e| anyhow::anyhow!("bill run: {e}"))?;
    }
    let now = Utc::now();
    let ctx = app::Ctx::new(org.clone(), now);
    let admin = app::desk::StaffCtx::api_key(ctx.clone());
    let password = "bench-password-1";
    app::desk::staff::create(
        &db,
        &admin,
        app::desk::staff::StaffInput {
            email: "agent@bench.example".into(),
            name: "Bench Agent".into(),
            role: "agent".into(),
            password: password.into(),
            team: None,
            locale: None,
            capacity: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    // A ticket for every tenth customer, and portal logins for one per connection.
    let mut customers = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = app::customers::list(&db, &ctx, None, after.as_deref(), Some(100))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        after = page.data.last().map(|c| c.id.clone());
        customers.extend(page.data.into_iter().map(|c| (c.id, c.email)));
        if !page.has_more {
            break;
        }
    }
    let system = app::desk::StaffCtx::system(ctx.clone());
    let mut tickets = Vec::new();
    for (i, (cid, email)) in customers.iter().enumerate().step_by(10) {
        let t = app::desk::tickets::create(
            &db,
            &system,
            app::desk::tickets::CreateTicket {
                customer: Some(cid.clone()),
                requester_email: email.clone(),
                requester_name: None,
                subject: format!("Question {i} about my invoice"),
                body: Some("Why is this invoice higher than the last one?".into()),
                channel: Some("email".into()),
                category: Some("invoice_discrepancy".into()),
                priority: None,
                team: None,
                assignee: None,
                tags: Vec::new(),
                links: Vec::new(),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        tickets.push(t.ticket.id);
    }
    let staff = app::desk::staff::login(
        &db,
        app::desk::staff::LoginInput {
            organisation: org.clone(),
            email: "agent@bench.example".into(),
            password: password.into(),
        },
        now,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut portal_tokens = Vec::new();
    for (cid, email) in customers.iter().take(connections) {
        let email = email.clone().unwrap_or_default();
        app::desk::portal::create(
            &db,
            &admin,
            cid,
            app::desk::portal::PortalUserInput {
                email: email.clone(),
                password: Some(password.into()),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let s = app::desk::portal::login(
            &db,
            app::desk::portal::PortalLogin {
                organisation: org.clone(),
                email,
                password: password.into(),
            },
            now,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        portal_tokens.push(s.token);
    }

    db.optimize().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut state = web::AppState::new(db.clone());
    let slots = page_slots.unwrap_or_else(web::ui::slots::PageSlots::default_count);
    state.pages = web::ui::slots::PageSlots::new(slots);
    let server = tokio::spawn(async move { web::serve(state, listener).await });
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let http = http.clone();
        let base = base.clone();
        let console = format!("ld_console={}", staff.token);
        let portal = format!("ld_portal={}", portal_tokens[c % portal_tokens.len()]);
        let tickets = tickets.clone();
        tasks.push(tokio::spawn(async move {
            let mut ticket_ms = Vec::new();
            let mut overview_ms = Vec::new();
            for r in 0..requests {
                let (path, cookie, into) = if r % 2 == 0 {
                    let t = &tickets[(c * 7919 + r * 104_729) % tickets.len()];
                    (format!("/console/tickets/{t}"), &console, &mut ticket_ms)
                } else {
                    ("/portal".to_string(), &portal, &mut overview_ms)
                };
                let sent = Instant::now();
                let res = http
                    .get(format!("{base}{path}"))
                    .header("cookie", cookie.as_str())
                    .send()
                    .await?;
                if res.status() != 200 {
                    bail!("{path}: HTTP {}", res.status());
                }
                let (queue, app) = (timing(&res, "queue"), timing(&res, "app"));
                res.bytes().await?;
                into.push(PageTimes {
                    queue: queue.unwrap_or(f64::NAN),
                    app: app.unwrap_or(f64::NAN),
                    client: sent.elapsed().as_secs_f64() * 1000.0,
                });
            }
            Ok::<_, anyhow::Error>((ticket_ms, overview_ms))
        }));
    }
    let mut ticket_ms = Vec::new();
    let mut overview_ms = Vec::new();
    for t in tasks {
        let (a, b) = t.await??;
        ticket_ms.extend(a);
        overview_ms.extend(b);
    }
    let secs = started.elapsed().as_secs_f64();
    server.abort();
    let total = ticket_ms.len() + overview_ms.len();
    println!("backend            {backend}");
    println!("customers          {n}");
    println!("tickets            {}", tickets.len());
    println!("connections        {connections}");
    println!("page slots         {slots}");
    println!(
        "requests           {total} in {secs:.2} s ({:.0} pages/s)",
        total as f64 / secs
    );
    for (name, v) in [
        ("console ticket+360", &ticket_ms),
        ("portal overview", &overview_ms),
    ] {
        println!("{name}");
        for (what, pick) in [
            (
                "server, in its slot",
                (|t: &PageTimes| t.app) as fn(&PageTimes) -> f64,
            ),
            ("server, slot wait", |t| t.queue),
            ("client, end to end", |t| t.client),
        ] {
            let mut ms: Vec<f64> = v.iter().map(pick).collect();
            ms.sort_by(|a, b| a.total_cmp(b));
            println!(
                "  {what:<20} ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
                percentile(&ms, 50.0),
                percentile(&ms, 90.0),
                percentile(&ms, 99.0),
                ms.last().copied().unwrap_or(0.0)
            );
        }
    }
    cleanup(db, url, path, schema).await?;
    Ok(())
}
