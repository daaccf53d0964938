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
