//! A plain table for the benchmarks' baseline: how fast this database takes multi-row
//! inserts on this machine, measured in the same run as the real work.

use crate::{Result, Tx};

/// Gathers the planners' statistics (`ANALYZE`) on the database's tables — on PostgreSQL
/// those of the current schema only (the bench's scratch schema; a bare `ANALYZE` would take
/// every other schema's too), in `tx`.
pub async fn analyze(tx: &mut Tx) -> Result<()> {
    match tx {
        Tx::Sqlite(c) => {
            sqlx::query("ANALYZE").execute(&mut **c).await?;
        }
        Tx::Pg(c) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema()",
            )
            .fetch_all(&mut **c)
            .await?;
            if !tables.is_empty() {
                sqlx::query(&format!("ANALYZE {}", tables.join(", ")))
                    .execute(&mut **c)
                    .await?;
            }
        }
    }
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{testing, Backend};

    /// `analyze` gathers statistics on the current schema's tables (PostgreSQL marks a
    /// table never analyzed with `reltuples = -1`) and on SQLite fills `sqlite_stat1`.
    #[tokio::test]
    async fn analyze_gathers_statistics_on_both_backends() {
        let (db, _) = testing::fresh(Backend::Sqlite).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        let Tx::Sqlite(c) = &mut tx else {
            unreachable!()
        };
        sqlx::query("INSERT INTO organisations (id, name, country, created_at) VALUES ('org_a', 'A', 'DE', '2026-11-29T06:00:00+00:00')")
            .execute(&mut **c)
            .await
            .unwrap();
        analyze(&mut tx).await.unwrap();
        let Tx::Sqlite(c) = &mut tx else {
            unreachable!()
        };
        let stats: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'organisations'")
                .fetch_one(&mut **c)
                .await
                .unwrap();
        assert!(stats > 0, "sqlite_stat1 has nothing on organisations");
        tx.commit().await.unwrap();

        let Some((db, _)) = testing::fresh(Backend::Postgres).await else {
            return;
        };
        let never =
            "SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
            WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.reltuples < 0";
        let mut tx = db.begin().await.unwrap();
        let Tx::Pg(c) = &mut tx else { unreachable!() };
        let before: i64 = sqlx::query_scalar(never).fetch_one(&mut **c).await.unwrap();
        assert!(before > 0, "a fresh schema has tables never analyzed");
        analyze(&mut tx).await.unwrap();
        let Tx::Pg(c) = &mut tx else { unreachable!() };
        let after: i64 = sqlx::query_scalar(never).fetch_one(&mut **c).await.unwrap();
        assert_eq!(after, 0, "every table of the schema analyzed");
        tx.commit().await.unwrap();
    }
}
