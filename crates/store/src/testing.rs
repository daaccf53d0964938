//! Fresh databases for tests, on both backends.
//!
//! SQLite: a new file in the temp directory. PostgreSQL: a new schema in the database named
//! by `LEDGERDESK_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! PostgreSQL tests run unless that variable is `off`; when asked to run and the server
//! cannot be reached, they fail — they never skip silently.

use crate::{Backend, Db};
use chrono::{DateTime, Utc};

pub const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The PostgreSQL URL for tests, or None when PostgreSQL tests are switched off.
pub fn postgres_url() -> Option<String> {
    match std::env::var("LEDGERDESK_TEST_POSTGRES") {
        Ok(v) if v == "off" => None,
        Ok(v) if !v.is_empty() => Some(v),
        _ => Some(DEFAULT_PG.to_string()),
    }
}

/// A unique lowercase name for a test database or schema.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", crate::random_suffix().to_ascii_lowercase())
}

/// A migrated, empty database of `backend`, with the URL that reaches it (for spawning
/// processes), or None for PostgreSQL when switched off. Panics if PostgreSQL is asked for
/// and unreachable.
pub async fn fresh(backend: Backend) -> Option<(Db, String)> {
    match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("{}.db", unique_name("ledgerdesk_test")));
            let url = format!("sqlite://{}", path.display());
            let db = Db::connect(&url).await.expect("open sqlite test database");
            db.migrate().await.expect("migrate sqlite test database");
            Some((db, url))
        }
        Backend::Postgres => {
            let base = postgres_url()?;
            let schema = unique_name("t");
            let db = Db::connect_in_schema(&base, Some(&schema)).await.unwrap_or_else(|e| {
                panic!("PostgreSQL tests are on (LEDGERDESK_TEST_POSTGRES={base}) but it cannot be reached: {e}. Start PostgreSQL or set LEDGERDESK_TEST_POSTGRES=off")
            });
            db.migrate().await.expect("migrate postgres test schema");
            let sep = if base.contains('?') { '&' } else { '?' };
            Some((
                db,
                format!("{base}{sep}options=-c%20search_path%3D{schema}"),
            ))
        }
    }
}

/// SQLite's plan for `sql` (the detail lines of `EXPLAIN QUERY PLAN`, joined by "; "), its
/// `n` parameters bound to NULL: for tests that a query reads the index it was written for.
pub async fn sqlite_plan(db: &Db, sql: &str, n: usize) -> String {
    let Db::Sqlite(pool) = db else {
        panic!("sqlite_plan on PostgreSQL")
    };
    let sql = format!("EXPLAIN QUERY PLAN {sql}");
    let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(&sql);
    for _ in 0..n {
        q = q.bind(None::<String>);
    }
    let rows = q.fetch_all(pool).await.expect("EXPLAIN QUERY PLAN");
    rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("; ")
}

/// A parameter of [`pg_plan`].
pub enum Param {
    Text(&'static str),
    Time(chrono::DateTime<chrono::Utc>),
    Int(i64),
}

/// PostgreSQL's plan for `sql` with `params` bound (`EXPLAIN (FORMAT JSON)`, so a custom
/// plan for these values): the tree under "Plan". For tests that a query reads the index
/// it was written for.
pub async fn pg_plan(db: &Db, sql: &str, params: &[Param]) -> serde_json::Value {
    let Db::Pg(pool) = db else {
        panic!("pg_plan on SQLite")
    };
    let sql = format!("EXPLAIN (FORMAT JSON) {sql}");
    let mut q = sqlx::query_scalar::<_, serde_json::Value>(&sql);
    for p in params {
        q = match p {
            Param::Text(v) => q.bind(*v),
            Param::Time(v) => q.bind(*v),
            Param::Int(v) => q.bind(*v),
        };
    }
    let mut out = q.fetch_one(pool).await.expect("EXPLAIN (FORMAT JSON)");
    out[0]["Plan"].take()
}

/// Every node of a [`pg_plan`] tree that reads `table`, each with the index conditions of
/// it and of the nodes under it ("" where it has none: a sequential scan).
pub fn pg_scans_of(plan: &serde_json::Value, table: &str) -> Vec<(String, String)> {
    fn conds(n: &serde_json::Value) -> String {
        let own = n["Index Cond"].as_str().unwrap_or("").to_string();
        let below = n["Plans"].as_array().into_iter().flatten().map(conds);
        std::iter::once(own)
            .chain(below)
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
    let mut out = Vec::new();
    let mut stack = vec![plan];
    while let Some(n) = stack.pop() {
        if n["Relation Name"].as_str() == Some(table) {
            out.push((n["Node Type"].as_str().unwrap_or("").to_string(), conds(n)));
        }
        stack.extend(n["Plans"].as_array().into_iter().flatten());
    }
    out
}

/// Rows of `table` updated so far in `tx` (a PostgreSQL transaction), and how many of those
/// updates were heap-only (HOT: no index entries written), as PostgreSQL counts them for the
/// transaction: for tests that an update path stays heap-only.
pub async fn pg_hot_updates(tx: &mut crate::Tx, table: &str) -> (i64, i64) {
    let crate::Tx::Pg(c) = tx else {
        panic!("pg_hot_updates on SQLite")
    };
    sqlx::query_as(
        "SELECT pg_stat_get_xact_tuples_updated(CAST($1 AS regclass)), \
         pg_stat_get_xact_tuples_hot_updated(CAST($1 AS regclass))",
    )
    .bind(table)
    .fetch_one(&mut **c)
    .await
    .expect("PostgreSQL's transaction counters")
}

/// An organisation and one customer of it (EUR, charged automatically, due on receipt),
/// inserted in `tx`: the rows other tables' fixtures name. Returns their ids.
pub async fn org_and_customer(tx: &mut crate::Tx, t: DateTime<Utc>) -> (String, String) {
    let org = crate::orgs::OrgRow {
        id: "org_a".into(),
        name: "Org A".into(),
        country: "DE".into(),
        created_at: t,
    };
    crate::orgs::insert_org(tx, &org)
        .await
        .expect("organisation");
    let customer = crate::customers::CustomerRow {
        email: Some("a@example.com".into()),
        collection_method: "charge_automatically".into(),
        ..customer_row(&org.id, "cus_a", t)
    };
    crate::customers::insert(tx, &[customer])
        .await
        .expect("customer");
    (org.id, "cus_a".into())
}

/// A customer row `id` of `org` as fixtures start from: "Customer", no email, EUR, in DE
/// (Europe/Berlin, English), sent invoices due on receipt, no credit; created at `t`.
pub fn customer_row(org: &str, id: &str, t: DateTime<Utc>) -> crate::customers::CustomerRow {
    crate::customers::CustomerRow {
        id: id.into(),
        org_id: org.into(),
        external_id: None,
        name: "Customer".into(),
        email: None,
        phone: None,
        time_zone: "Europe/Berlin".into(),
        locale: "en".into(),
        currency: "EUR".into(),
        tax_exempt: false,
        address_line1: None,
        address_line2: None,
        address_city: None,
        address_postal_code: None,
        address_region: None,
        address_country: Some("DE".into()),
        metadata: "{}".into(),
        credit_balance: 0,
        created_at: t,
        updated_at: t,
        collection_method: "send_invoice".into(),
        days_until_due: 0,
    }
}

/// A subscription row `id` of `customer`, as fixtures start from: active, EUR, monthly
/// from `anchor`, in its first period — the 30 days from `now` (dates `anchor` to 30 days
/// on) — nothing scheduled. Override the period from a `billing::period::Period` where the
/// time zone matters.
pub fn subscription_row(
    org: &str,
    customer: &str,
    id: &str,
    anchor: chrono::NaiveDate,
    now: DateTime<Utc>,
) -> crate::subscriptions::SubscriptionRow {
    crate::subscriptions::SubscriptionRow {
        id: id.into(),
        org_id: org.into(),
        customer_id: customer.into(),
        status: "active".into(),
        currency: "EUR".into(),
        interval_unit: "month".into(),
        interval_count: 1,
        anchor_date: anchor,
        period_index: 0,
        current_period_start: now,
        current_period_end: now + chrono::Duration::days(30),
        current_period_start_date: anchor,
        current_period_end_date: anchor + chrono::Days::new(30),
        trial_end: None,
        cancel_at_period_end: false,
        canceled_at: None,
        ended_at: None,
        created_at: now,
        updated_at: now,
    }
}

/// A finalized manual invoice `id` of `customer`, open for `total` (net `total` / 1.19
/// and 19 % tax, rounded), nothing paid: a row to insert with `invoices::insert`.
pub fn open_invoice(
    org: &str,
    customer: &str,
    id: &str,
    total: i64,
    t: DateTime<Utc>,
) -> crate::invoices::InvoiceRow {
    let net = (total * 100 + 59) / 119;
    crate::invoices::InvoiceRow {
        id: id.into(),
        org_id: org.into(),
        customer_id: customer.into(),
        subscription_id: None,
        billing_reason: "manual".into(),
        billing_period_start: None,
        period_start: None,
        period_end: None,
        status: "open".into(),
        currency: "EUR".into(),
        number: Some(format!("INV-{id}")),
        subtotal: net,
        total_discount: 0,
        total_tax: total - net,
        total_net: net,
        total,
        credit_applied: 0,
        credit_to_balance: 0,
        amount_due: total,
        amount_paid: 0,
        amount_credited: 0,
        amount_remaining: total,
        tax_note: None,
        memo: None,
        created_at: t,
        finalized_at: Some(t),
        voided_at: None,
        marked_uncollectible_at: None,
        due_date: Some(t.date_naive()),
    }
}
