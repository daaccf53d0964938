//! Test clocks: simulated time for the customers created on one (see `app::clocks`).

use crate::{Result, Tx};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct ClockRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub frozen_time: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLS: &str = "id, org_id, name, frozen_time, created_at, updated_at";

pub async fn insert(tx: &mut Tx, r: &ClockRow) -> Result<()> {
    let sql = format!("INSERT INTO test_clocks ({COLS}) VALUES ($1, $2, $3, $4, $5, $6)");
    on!(tx, c => sqlx::query(&sql).bind(&r.id).bind(&r.org_id).bind(&r.name).bind(r.frozen_time)
        .bind(r.created_at).bind(r.updated_at).execute(c).await?.rows_affected());
    Ok(())
}

/// A clock, locked for update if `lock` (advancing holds it, so two advances never run at
/// once).
pub async fn get(tx: &mut Tx, org_id: &str, id: &str, lock: bool) -> Result<Option<ClockRow>> {
    let sql = format!(
        "SELECT {COLS} FROM test_clocks WHERE org_id = $1 AND id = $2{}",
        if lock { tx.for_update() } else { "" }
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, ClockRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// The organisation a clock belongs to (for the CLI, which names only the clock).
pub async fn org_of(tx: &mut Tx, id: &str) -> Result<Option<String>> {
    Ok(
        on!(tx, c => sqlx::query_scalar::<_, String>("SELECT org_id FROM test_clocks WHERE id = $1")
        .bind(id).fetch_optional(c).await?),
    )
}

pub async fn list(
    tx: &mut Tx,
    org_id: &str,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<ClockRow>> {
    let sql = format!(
        "SELECT {COLS} FROM test_clocks WHERE org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, ClockRow>(&sql).bind(org_id).bind(starting_after).bind(limit).fetch_all(c).await?),
    )
}

pub async fn set_time(tx: &mut Tx, id: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE test_clocks SET frozen_time = $2, updated_at = $3 WHERE id = $1")
        .bind(id).bind(at).bind(now).execute(c).await?.rows_affected());
    Ok(())
}

pub async fn any(tx: &mut Tx, org_id: &str) -> Result<bool> {
    let n: i64 = on!(tx, c => sqlx::query_scalar("SELECT COUNT(*) FROM test_clocks WHERE org_id = $1")
        .bind(org_id).fetch_one(c).await?);
    Ok(n > 0)
}

/// Puts a new customer on a clock.
pub async fn attach_customer(tx: &mut Tx, org_id: &str, customer: &str, clock: &str) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE customers SET test_clock_id = $3 WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(customer).bind(clock).execute(c).await?.rows_affected());
    Ok(())
}

/// The clock of a customer, if any.
pub async fn of_customer(tx: &mut Tx, org_id: &str, customer: &str) -> Result<Option<String>> {
    Ok(on!(tx, c => sqlx::query_scalar::<_, Option<String>>(
        "SELECT test_clock_id FROM customers WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(customer).fetch_optional(c).await?)
    .flatten())
}

/// Puts a new subscription on its customer's clock.
pub async fn attach_subscription(tx: &mut Tx, org_id: &str, sub: &str, clock: &str) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE subscriptions SET test_clock_id = $3 WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(sub).bind(clock).execute(c).await?.rows_affected());
    Ok(())
}

/// The clocks of the customers of the given invoices: (invoice id, clock id), only for
/// invoices whose customer is on a clock.
pub async fn of_invoices(
    tx: &mut Tx,
    org_id: &str,
    invoices: &[String],
) -> Result<Vec<(String, String)>> {
    Ok(select_in!(
        tx,
        (String, String),
        "SELECT i.id, c.test_clock_id FROM invoices i JOIN customers c ON c.id = i.customer_id \
         WHERE c.test_clock_id IS NOT NULL AND i.org_id = ",
        org_id,
        "i.id",
        invoices,
        ""
    ))
}

/// The clocks of the given subscriptions: (subscription id, clock id), only those on one.
pub async fn of_subscriptions(
    tx: &mut Tx,
    org_id: &str,
    subs: &[String],
) -> Result<Vec<(String, String)>> {
    Ok(select_in!(
        tx,
        (String, String),
        "SELECT id, test_clock_id FROM subscriptions WHERE test_clock_id IS NOT NULL AND org_id = ",
        org_id,
        "id",
        subs,
        ""
    ))
}

/// When the clock's next subscription period ends after `after` (its next renewal), if any.
pub async fn next_renewal(
    tx: &mut Tx,
    clock: &str,
    after: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>> {
    Ok(on!(tx, c => sqlx::query_scalar::<_, Option<DateTime<Utc>>>(
        "SELECT MIN(current_period_end) FROM subscriptions WHERE test_clock_id = $1 AND ended_at IS NULL AND current_period_end > $2")
        .bind(clock).bind(after).fetch_one(c).await?))
}

/// When the clock's next queued job is due after `after`, if any.
pub async fn next_job(
    tx: &mut Tx,
    clock: &str,
    after: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>> {
    Ok(on!(tx, c => sqlx::query_scalar::<_, Option<DateTime<Utc>>>(
        "SELECT MIN(run_at) FROM jobs WHERE test_clock_id = $1 AND status = 'queued' AND run_at > $2")
        .bind(clock).bind(after).fetch_one(c).await?))
}
