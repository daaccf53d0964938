//! The record of bill runs.

use crate::{Result, Tx};
use chrono::{DateTime, Utc};

pub async fn insert(
    tx: &mut Tx,
    id: &str,
    org_id: Option<&str>,
    run_at: DateTime<Utc>,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    invoices_created: i64,
) -> Result<()> {
    on!(tx, c => sqlx::query("INSERT INTO bill_runs (id, org_id, run_at, started_at, finished_at, invoices_created, status) VALUES ($1, $2, $3, $4, $5, $6, 'succeeded')")
        .bind(id).bind(org_id).bind(run_at).bind(started_at).bind(finished_at).bind(invoices_created).execute(c).await?.rows_affected());
    Ok(())
}
