//! Shared fixtures for the use-case suites: every test body runs once on SQLite and once on
//! PostgreSQL (`sqlite::name` / `postgres::name` in the test output).
#![allow(dead_code)]

pub use app::{AppError, Ctx, Db};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

pub mod smtp;

/// Generates `mod sqlite { #[tokio::test] fn name() }` and `mod postgres { … }` for each
/// `async fn name(db: Db)` of the including file. PostgreSQL runs unless
/// `LEDGERDESK_TEST_POSTGRES=off` (then the test says so on stderr); if it is on and the
/// server is unreachable, `store::testing::fresh` panics: no silent skips.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (db, url) = store::testing::fresh(store::Backend::Sqlite)
                        .await
                        .expect("SQLite is always available");
                    super::$name(db.clone()).await;
                    $crate::common::cleanup(db, &url).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some((db, url)) = store::testing::fresh(store::Backend::Postgres).await else {
                        eprintln!("LEDGERDESK_TEST_POSTGRES=off: PostgreSQL variant not run");
                        return;
                    };
                    super::$name(db.clone()).await;
                    $crate::common::cleanup(db, &url).await;
                }
            )*
        }
    };
}

/// Removes a test database after a passing test (a failing one keeps it for inspection).
pub async fn cleanup(db: Db, url: &str) {
    db.close().await;
    if let Some(path) = url.strip_prefix("sqlite://") {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
    } else if let Some(schema) = url.split("search_path%3D").nth(1) {
        let base = store::testing::postgres_url().expect("postgres on");
        if let Ok(admin) = Db::connect(&base).await {
            if let Db::Pg(p) = &admin {
                let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                    .execute(p)
                    .await;
            }
            admin.close().await;
        }
    }
}

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("bad instant {s}: {e}"))
        .with_timezone(&Utc)
}

/// A new organisation selling from Germany.
pub async fn org(db: &Db, now: DateTime<Utc>) -> Ctx {
    let o = app::orgs::create_org(db, "Test", "DE", now)
        .await
        .expect("create org");
    Ctx::new(o.org_id, now)
}

pub fn at(ctx: &Ctx, now: DateTime<Utc>) -> Ctx {
    Ctx::new(ctx.org_id.clone(), now)
}

pub async fn de_vat(db: &Db, ctx: &Ctx) -> app::catalog::TaxRateView {
    app::catalog::create_tax_rate(
        db,
        ctx,
        &app::catalog::TaxRateCreate {
            display_name: "USt DE".into(),
            percentage: app::catalog::DecimalInput::Text("19".into()),
            country: "DE".into(),
            region: None,
        },
    )
    .await
    .expect("tax rate")
}

pub fn customer_input(
    name: &str,
    currency: &str,
    tz: &str,
    country: &str,
) -> app::customers::CustomerCreate {
    app::customers::CustomerCreate {
        name: name.into(),
        email: None,
        phone: None,
        external_id: None,
        time_zone: Some(tz.into()),
        locale: None,
        currency: currency.into(),
        tax_exempt: false,
        address: Some(app::customers::Address {
            country: Some(country.into()),
            ..Default::default()
        }),
        tax_ids: vec![],
        contacts: vec![],
        metadata: BTreeMap::new(),
        collection_method: None,
        days_until_due: None,
        test_clock: None,
    }
}

pub async fn customer(
    db: &Db,
    ctx: &Ctx,
    name: &str,
    currency: &str,
    tz: &str,
    country: &str,
) -> app::customers::Customer {
    app::customers::create(db, ctx, &customer_input(name, currency, tz, country))
        .await
        .expect("create customer")
}

pub async fn product(db: &Db, ctx: &Ctx, name: &str) -> app::catalog::Product {
    app::catalog::create_product(
        db,
        ctx,
        &app::catalog::ProductCreate {
            name: name.into(),
            description: None,
        },
    )
    .await
    .expect("create product")
}

pub fn monthly() -> Option<app::catalog::Recurring> {
    Some(app::catalog::Recurring {
        interval: "month".into(),
        interval_count: 1,
        usage_type: "licensed".into(),
    })
}

pub fn amounts(
    list: &[(&str, app::catalog::CurrencyAmountInput)],
) -> BTreeMap<String, app::catalog::CurrencyAmountInput> {
    list.iter()
        .map(|(c, a)| (c.to_string(), a.clone()))
        .collect()
}

pub fn flat_amount(amount: i64) -> app::catalog::CurrencyAmountInput {
    app::catalog::CurrencyAmountInput {
        amount: Some(amount),
        ..Default::default()
    }
}

/// A monthly flat price of `amount` minor units in `currency`.
pub async fn monthly_flat(
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
            recurring: monthly(),
            model: "flat".into(),
            tax_behavior: None,
            currency_amounts: amounts(&[(currency, flat_amount(amount))]),
        },
    )
    .await
    .expect("create price")
}

pub fn sub_input(
    customer: &str,
    price: &str,
    start: Option<DateTime<Utc>>,
) -> app::subscriptions::SubscriptionCreate {
    app::subscriptions::SubscriptionCreate {
        customer: customer.into(),
        items: vec![app::subscriptions::ItemCreate {
            price: price.into(),
            quantity: None,
        }],
        start,
        trial_days: None,
        calendar_aligned: false,
        coupon: None,
    }
}

pub fn amount_line(description: &str, amount: i64) -> app::invoicing::LineCreate {
    app::invoicing::LineCreate {
        description: Some(description.into()),
        price: None,
        quantity: None,
        amount: Some(amount),
    }
}

pub fn price_line(price: &str, quantity: i64) -> app::invoicing::LineCreate {
    app::invoicing::LineCreate {
        description: None,
        price: Some(price.into()),
        quantity: Some(quantity),
        amount: None,
    }
}

pub fn one_off(
    customer: &str,
    lines: Vec<app::invoicing::LineCreate>,
    finalize: bool,
) -> app::invoicing::InvoiceCreate {
    app::invoicing::InvoiceCreate {
        customer: customer.into(),
        currency: None,
        lines,
        coupons: vec![],
        memo: None,
        finalize,
    }
}

/// Asserts that every invariant of `store::verify` holds.
pub async fn assert_clean(db: &Db) {
    let mut tx = db.read().await.expect("read tx");
    let v = store::verify::check_all(&mut tx)
        .await
        .expect("verify runs");
    assert!(v.is_empty(), "verify found violations: {v:#?}");
}

/// Asserts that the balance endpoint agrees with the customer's open invoices and balance.
pub async fn assert_balance(db: &Db, ctx: &Ctx, customer: &str, owed: i64, credit: i64) {
    let b = app::ledger::customer_balance(db, ctx, customer)
        .await
        .expect("customer balance");
    assert_eq!(b.amount_owed, owed, "amount owed of {customer}");
    assert_eq!(b.credit_balance, credit, "credit balance of {customer}");
    let open = app::invoicing::list(db, ctx, Some(customer), None, Some("open"), None, Some(100))
        .await
        .expect("list open invoices");
    assert!(!open.has_more);
    let due: i64 = open.data.iter().map(|i| i.amount_remaining).sum();
    assert_eq!(due, owed, "open invoices of {customer} vs receivable");
    let c = app::customers::get(db, ctx, customer)
        .await
        .expect("customer");
    assert_eq!(
        c.credit_balance, credit,
        "credit_balance column of {customer}"
    );
}

/// One integer from a scalar SQL query (`$1` bound to `arg`).
pub async fn scalar(db: &Db, sql: &str, arg: &str) -> i64 {
    match db {
        Db::Sqlite(p) => {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(arg)
                .fetch_one(p)
                .await
        }
        Db::Pg(p) => {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(arg)
                .fetch_one(p)
                .await
        }
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

pub async fn invoice_count(db: &Db, org: &str) -> i64 {
    scalar(db, "SELECT COUNT(*) FROM invoices WHERE org_id = $1", org).await
}

#[track_caller]
pub fn expect_invalid<T: std::fmt::Debug>(r: Result<T, AppError>, want: &str) {
    match r {
        Err(AppError::Invalid { param, .. }) => assert_eq!(param, want, "wrong param"),
        other => panic!("expected invalid {want}, got {other:?}"),
    }
}

#[track_caller]
pub fn expect_state<T: std::fmt::Debug>(r: Result<T, AppError>, want: &str) {
    match r {
        Err(AppError::State { code, .. }) => assert_eq!(code, want, "wrong code"),
        other => panic!("expected state error {want}, got {other:?}"),
    }
}

#[track_caller]
pub fn expect_not_found<T: std::fmt::Debug>(r: Result<T, AppError>) {
    match r {
        Err(AppError::NotFound { .. }) => {}
        other => panic!("expected not found, got {other:?}"),
    }
}

/// All invoice numbers of an organisation, sorted.
pub async fn invoice_numbers(db: &Db, org: &str) -> Vec<String> {
    let sql =
        "SELECT number FROM invoices WHERE org_id = $1 AND number IS NOT NULL ORDER BY number";
    match db {
        Db::Sqlite(p) => {
            sqlx::query_scalar::<_, String>(sql)
                .bind(org)
                .fetch_all(p)
                .await
        }
        Db::Pg(p) => {
            sqlx::query_scalar::<_, String>(sql)
                .bind(org)
                .fetch_all(p)
                .await
        }
    }
    .expect("invoice numbers")
}

/// Asserts the numbers of `series` are exactly `{series}-000001 ..= {series}-{n}`.
pub fn assert_gapless(numbers: &[String], series: &str, n: usize) {
    let mut got: Vec<&String> = numbers
        .iter()
        .filter(|s| s.starts_with(&format!("{series}-")))
        .collect();
    got.sort();
    let want: Vec<String> = (1..=n).map(|i| format!("{series}-{i:06}")).collect();
    assert_eq!(got.len(), n, "numbers issued in {series}");
    assert!(
        got.iter().zip(&want).all(|(a, b)| *a == b),
        "numbers of {series} are not 1..={n}: first {:?}, last {:?}",
        got.first(),
        got.last()
    );
}

/// Attaches a card by gateway token (`tok_visa`, …) as the customer's payment method.
pub async fn attach_card_token(
    db: &Db,
    gw: &gateway::Gateway,
    ctx: &Ctx,
    customer: &str,
    token: &str,
) {
    app::payments::attach_method(
        db,
        gw,
        ctx,
        &app::payments::PaymentMethodCreate {
            customer: customer.to_string(),
            kind: "card".into(),
            card: None,
            token: Some(token.into()),
            bank: None,
            set_default: None,
        },
    )
    .await
    .expect("attach the card");
}
