//! The demo organisation loads into a fresh database with a year of history, and the
//! database it leaves satisfies every invariant.

use chrono::Utc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_loads_with_history_and_keeps_every_invariant() {
    let (db, _url) = store::testing::fresh(store::Backend::Sqlite)
        .await
        .expect("sqlite is always available");
    let s = app::demo::load(&db, Utc::now()).await.expect("demo loads");
    assert_eq!(s.api_key, app::demo::DEMO_API_KEY);
    assert!(
        (180..=220).contains(&s.customers),
        "customers: {}",
        s.customers
    );
    assert!(
        (220..=320).contains(&s.subscriptions),
        "subscriptions: {}",
        s.subscriptions
    );
    assert!(
        (1_500..=4_000).contains(&s.invoices),
        "invoices: {}",
        s.invoices
    );
    assert!(
        (20..=200).contains(&s.credit_notes),
        "credit notes: {}",
        s.credit_notes
    );
    assert!(
        (500..=4_000).contains(&s.payments),
        "payments: {}",
        s.payments
    );
    let org = app::orgs::authenticate(&db, app::demo::DEMO_API_KEY)
        .await
        .expect("the demo key authenticates");
    assert_eq!(org, s.org_id);
    let mut tx = db.read().await.expect("read transaction");
    let violations = store::verify::check_all(&mut tx)
        .await
        .expect("verify runs");
    assert!(violations.is_empty(), "violations: {violations:#?}");
}
