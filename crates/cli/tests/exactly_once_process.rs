//! A bill run killed with SIGKILL part-way and restarted still invoices every subscription
//! period exactly once — the real binary, on SQLite and on PostgreSQL.
//!
//! The database comes from `store::testing::fresh`; for PostgreSQL its URL selects the
//! test's schema with `options=-c search_path=…`, so the binary must bill in that schema
//! (if it did not, no invoice would ever appear there and the test would fail).

use billing::ids::{CustomerId, SubscriptionId, SubscriptionItemId};
use chrono::{DateTime, NaiveDate, Utc};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use store::customers::CustomerRow;
use store::subscriptions::{ItemRow, SubscriptionRow};
use store::{new_id, Backend, Db};

/// Subscriptions: 10 bill-run chunks of 2,000, so the run takes a while.
const N: usize = 20_000;
const AT: &str = "2026-02-01T12:00:00Z";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn scalar(db: &Db, sql: &str, org: &str) -> i64 {
    match db {
        Db::Sqlite(p) => {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(org)
                .fetch_one(p)
                .await
        }
        Db::Pg(p) => {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(org)
                .fetch_one(p)
                .await
        }
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn invoices(db: &Db, org: &str) -> i64 {
    scalar(db, "SELECT COUNT(*) FROM invoices WHERE org_id = $1", org).await
}

/// An organisation with a 19% DE rate, one monthly 45.00 EUR price and `N` subscriptions
/// whose January 2026 period has ended by `AT`.
async fn build(db: &Db) -> String {
    let now = t("2026-01-01T00:00:00Z");
    let org = app::orgs::create_org(db, "Kill test", "DE", now)
        .await
        .unwrap()
        .org_id;
    let ctx = app::Ctx::new(org.clone(), now);
    app::catalog::create_tax_rate(
        db,
        &ctx,
        &app::catalog::TaxRateCreate {
            display_name: "USt".into(),
            percentage: app::catalog::DecimalInput::Text("19".into()),
            country: "DE".into(),
            region: None,
        },
    )
    .await
    .unwrap();
    let product = app::catalog::create_product(
        db,
        &ctx,
        &app::catalog::ProductCreate {
            name: "Platform".into(),
            description: None,
        },
    )
    .await
    .unwrap();
    let price = app::catalog::create_price(
        db,
        &ctx,
        &app::catalog::PriceCreate {
            product: product.id,
            nickname: None,
            recurring: Some(app::catalog::Recurring {
                interval: "month".into(),
                interval_count: 1,
                usage_type: "licensed".into(),
            }),
            model: "flat".into(),
            tax_behavior: None,
            currency_amounts: [(
                "EUR".to_string(),
                app::catalog::CurrencyAmountInput {
                    amount: Some(4500),
                    ..Default::default()
                },
            )]
            .into_iter()
            .collect(),
        },
    )
    .await
    .unwrap();
    let (start, end) = (
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
    );
    let zones = ["Europe/Berlin", "UTC", "Asia/Tokyo"];
    for from in (0..N).step_by(2500) {
        let (mut cs, mut ss, mut is) = (Vec::new(), Vec::new(), Vec::new());
        for i in from..(from + 2500).min(N) {
            let tz: chrono_tz::Tz = zones[i % zones.len()].parse().unwrap();
            let cid = new_id!(CustomerId).to_string();
            cs.push(CustomerRow {
                id: cid.clone(),
                name: format!("Customer {i}"),
                time_zone: tz.name().into(),
                ..store::testing::customer_row(&org, &cid, now)
            });
            let p = billing::period::Period::from_dates(start, end, tz).unwrap();
            let sid = new_id!(SubscriptionId).to_string();
            ss.push(SubscriptionRow {
                current_period_start: p.start,
                current_period_end: p.end,
                current_period_start_date: p.start_date,
                current_period_end_date: p.end_date,
                ..store::testing::subscription_row(&org, &cid, &sid, start, now)
            });
            is.push(ItemRow {
                id: new_id!(SubscriptionItemId).to_string(),
                org_id: org.clone(),
                subscription_id: sid,
                price_id: price.id.clone(),
                quantity: 1,
                pending_price_id: None,
                pending_quantity: None,
                created_at: now,
                deleted_at: None,
            });
        }
        let mut tx = db.begin().await.unwrap();
        store::customers::insert(&mut tx, &cs).await.unwrap();
        store::subscriptions::insert(&mut tx, &ss).await.unwrap();
        store::subscriptions::insert_items(&mut tx, &is)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    org
}

fn bill_run(url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ledgerdesk"));
    cmd.args(["--database", url, "bill-run", "--at", AT])
        .env("LEDGERDESK_LOG", "warn");
    cmd
}

async fn assert_clean(db: &Db) {
    let mut tx = db.read().await.unwrap();
    let v = store::verify::check_all(&mut tx).await.unwrap();
    assert!(v.is_empty(), "verify: {v:#?}");
}

async fn killed_and_restarted(backend: Backend) {
    let Some((db, url)) = store::testing::fresh(backend).await else {
        eprintln!("LEDGERDESK_TEST_POSTGRES=off: PostgreSQL variant not run");
        return;
    };
    let org = build(&db).await;
    assert_eq!(invoices(&db, &org).await, 0);

    // Start the run and kill it as soon as some invoices are committed.
    let mut child = bill_run(&url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ledgerdesk");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if invoices(&db, &org).await > 0 {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("bill run exited ({status}) before any invoice appeared in the test database");
        }
        assert!(Instant::now() < deadline, "no invoice within 120 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the run finished before it was killed; raise N so the kill lands mid-way"
    );
    let partial = invoices(&db, &org).await;
    eprintln!("bill run killed after {partial} of {N} invoices");
    assert!(
        partial > 0 && partial < N as i64,
        "killed mid-way: {partial} of {N}"
    );
    assert_eq!(
        partial % app::billrun::CHUNK as i64,
        0,
        "a killed run leaves whole chunks or nothing"
    );
    assert_clean(&db).await;

    // Run again to completion: it bills exactly the rest.
    let out = tokio::task::spawn_blocking({
        let url = url.clone();
        move || bill_run(&url).output().expect("run ledgerdesk")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "restarted run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["invoices_created"], N as i64 - partial);

    assert_eq!(invoices(&db, &org).await, N as i64);
    let distinct = scalar(
        &db,
        "SELECT COUNT(*) FROM (SELECT DISTINCT subscription_id, billing_period_start FROM invoices WHERE org_id = $1) d",
        &org,
    )
    .await;
    assert_eq!(
        distinct, N as i64,
        "one invoice per subscription and period"
    );
    let per_sub = scalar(
        &db,
        "SELECT COUNT(*) FROM subscriptions WHERE org_id = $1 AND period_index = 1",
        &org,
    )
    .await;
    assert_eq!(per_sub, N as i64);
    let numbers = scalar(
        &db,
        "SELECT COUNT(DISTINCT number) FROM invoices WHERE org_id = $1 AND number >= 'INV-2026-000001' AND number <= 'INV-2026-020000'",
        &org,
    )
    .await;
    assert_eq!(
        numbers, N as i64,
        "numbers INV-2026-000001 … 020000, no gap"
    );
    let total = scalar(
        &db,
        "SELECT CAST(SUM(total) AS BIGINT) FROM invoices WHERE org_id = $1",
        &org,
    )
    .await;
    assert_eq!(total, 5355 * N as i64);
    assert_clean(&db).await;

    // A third run has nothing left to do.
    let url2 = url.clone();
    let out = tokio::task::spawn_blocking(move || bill_run(&url).output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["invoices_created"], 0);
    assert_eq!(invoices(&db, &org).await, N as i64);
    cleanup(db, &url2).await;
}

/// Drops the test database after a pass (a failure keeps it for inspection).
async fn cleanup(db: Db, url: &str) {
    db.close().await;
    if let Some(path) = url.strip_prefix("sqlite://") {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
    } else if let Some(schema) = url.split("search_path%3D").nth(1) {
        let admin = Db::connect(&store::testing::postgres_url().unwrap())
            .await
            .unwrap();
        if let Db::Pg(p) = &admin {
            sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .execute(p)
                .await
                .unwrap();
        }
        admin.close().await;
    }
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bill_run_killed_and_restarted_bills_each_period_once() {
        super::killed_and_restarted(store::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bill_run_killed_and_restarted_bills_each_period_once() {
        super::killed_and_restarted(store::Backend::Postgres).await;
    }
}
