//! `ledgerdesk verify` passes on a consistent database and, after each kind of tampering,
//! exits non-zero naming the broken invariant — on SQLite and on PostgreSQL.

use chrono::{DateTime, Utc};
use std::process::Command;
use store::{Backend, Db};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("instant")
        .with_timezone(&Utc)
}

async fn exec(db: &Db, sql: &str) {
    match db {
        Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Db::Pg(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Runs `verify`; returns (exit success, stderr).
fn verify(url: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ledgerdesk"))
        .args(["--database", url, "verify"])
        .output()
        .expect("run ledgerdesk verify");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn seed(db: &Db) {
    let now = t("2026-03-10T09:00:00Z");
    let org = app::orgs::create_org(db, "Verify test", "DE", now)
        .await
        .expect("org")
        .org_id;
    let ctx = app::Ctx::new(org, now);
    let customer = app::customers::create(
        db,
        &ctx,
        &serde_json::from_value(
            serde_json::json!({"name": "Acme", "currency": "EUR", "time_zone": "Europe/Berlin"}),
        )
        .expect("customer body"),
    )
    .await
    .expect("customer");
    let product = app::catalog::create_product(
        db,
        &ctx,
        &app::catalog::ProductCreate {
            name: "Pro".into(),
            description: None,
        },
    )
    .await
    .expect("product");
    let price = app::catalog::create_price(
        db,
        &ctx,
        &serde_json::from_value(serde_json::json!({
            "product": product.id, "model": "flat", "recurring": {"interval": "month"},
            "currency_amounts": {"EUR": {"amount": 9000}}
        }))
        .expect("price body"),
    )
    .await
    .expect("price");
    app::subscriptions::create(
        db,
        &ctx,
        &serde_json::from_value(
            serde_json::json!({"customer": customer.id, "items": [{"price": price.id}]}),
        )
        .expect("subscription body"),
    )
    .await
    .expect("subscription");
}

async fn tampering_is_named(backend: Backend) {
    let Some((db, url)) = store::testing::fresh(backend).await else {
        eprintln!("LEDGERDESK_TEST_POSTGRES=off: PostgreSQL variant not run");
        return;
    };
    seed(&db).await;
    let (ok, err) = verify(&url);
    assert!(ok, "a consistent database verifies: {err}");
    assert!(err.contains("every invariant holds"), "{err}");

    let cases: [(&str, &str); 4] = [
        ("UPDATE ledger_entries SET credit = credit + 1 WHERE account = 'revenue'", "transaction_balances"),
        ("UPDATE invoices SET amount_remaining = amount_remaining - 1, amount_paid = amount_paid + 1", "receivable_equals_open_invoices"),
        ("UPDATE invoice_lines SET total = total + 5", "invoice_total_equals_lines"),
        ("UPDATE customers SET credit_balance = 7", "credit_balance_matches_ledger"),
    ];
    for (sql, invariant) in cases {
        exec(&db, sql).await;
        let (ok, err) = verify(&url);
        assert!(!ok, "verify must fail after `{sql}`");
        assert!(
            err.contains(&format!("VIOLATION {invariant}")),
            "after `{sql}` expected {invariant} in:\n{err}"
        );
    }
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_each_violation_sqlite() {
    tampering_is_named(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_each_violation_postgres() {
    tampering_is_named(Backend::Postgres).await;
}
