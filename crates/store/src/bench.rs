//! A plain table for the benchmarks' baseline: how fast this database takes multi-row
//! inserts on this machine, measured in the same run as the real work.

use crate::{Result, Tx};

pub async fn create_baseline_table(tx: &mut Tx) -> Result<()> {
    on!(tx, c => sqlx::query("CREATE TABLE IF NOT EXISTS bench_baseline (id TEXT PRIMARY KEY, n BIGINT NOT NULL, payload TEXT NOT NULL)").execute(c).await?.rows_affected());
    Ok(())
}

pub async fn insert_baseline(tx: &mut Tx, rows: &[(String, i64, String)]) -> Result<u64> {
    Ok(insert_rows!(
        tx,
        "INSERT INTO bench_baseline (id, n, payload) ",
        rows,
        1000,
        |b, r| {
            b.push_bind(&r.0).push_bind(r.1).push_bind(&r.2);
        }
    ))
}

/// Benchmarks only: gives every customer of `org_id` a default sandbox card (`tok_visa`)
/// in one statement.
pub async fn attach_test_cards(
    tx: &mut Tx,
    org_id: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<u64> {
    Ok(on!(tx, c => sqlx::query(
        "INSERT INTO payment_methods (id, org_id, customer_id, kind, gateway, gateway_token, card_brand, card_last4, \
         card_exp_month, card_exp_year, is_default, created_at) \
         SELECT 'pm_' || SUBSTR(id, 5), org_id, id, 'card', 'sandbox', 'tok_visa', 'visa', '4242', 12, 2099, TRUE, $2 \
         FROM customers WHERE org_id = $1")
        .bind(org_id).bind(at).execute(c).await?.rows_affected()))
}

/// Benchmarks only: succeeded payments of an organisation.
pub async fn count_succeeded_payments(tx: &mut Tx, org_id: &str) -> Result<i64> {
    Ok(
        on!(tx, c => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM payments WHERE org_id = $1 AND status = 'succeeded'")
        .bind(org_id).fetch_one(c).await?),
    )
}
