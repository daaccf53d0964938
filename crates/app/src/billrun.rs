//! The bill run: at time T, every subscription period that has started by T is invoiced
//! exactly once — missed periods included — even if the run is killed and restarted or two
//! runs overlap.
//!
//! How exactly-once holds: subscriptions are processed in chunks, each in one transaction
//! that (1) takes the organisation's invoice-number series row lock, which every
//! finalization takes, so overlapping runs queue there; (2) re-reads and locks the chunk's
//! subscriptions, so it sees what a run before it committed; (3) writes invoices whose
//! `UNIQUE (subscription_id, billing_period_start)` key makes a second invoice for the same
//! period impossible — if it were ever attempted, the chunk's transaction fails whole and
//! nothing of it is written. A killed run leaves whole chunks committed or nothing; the
//! restart continues from the subscriptions still due.

use crate::invoicing::{self, TaxSetup};
use crate::subscriptions::{renew, tz_of};
use crate::{AppError, Result};
use billing::ids::BillRunId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use store::{new_id, Db};
use utoipa::ToSchema;

/// What a bill run did.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct BillRunReport {
    pub id: String,
    pub object: &'static str,
    pub run_at: DateTime<Utc>,
    pub subscriptions_examined: u64,
    pub invoices_created: u64,
    pub subscriptions_ended: u64,
    /// Rows written (invoices, lines, ledger transactions and entries).
    pub rows_written: u64,
}

/// Subscriptions per transaction.
pub const CHUNK: usize = 5000;

/// Runs the bill run at `at` for one organisation or all. `progress` is told the number of
/// invoices written after each chunk.
pub async fn run(
    db: &Db,
    org: Option<&str>,
    at: DateTime<Utc>,
    mut progress: impl FnMut(u64),
) -> Result<BillRunReport> {
    let mut report = BillRunReport {
        id: new_id!(BillRunId).to_string(),
        object: "bill_run",
        run_at: at,
        ..Default::default()
    };
    let mut after = String::new();
    loop {
        let due = {
            let mut tx = db.read().await?;
            store::subscriptions::due_ids(&mut tx, org, at, &after, CHUNK as i64).await?
        };
        let Some(last) = due.last() else { break };
        after = last.1.clone();
        let mut by_org: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (o, s) in due {
            by_org.entry(o).or_default().push(s);
        }
        for (o, ids) in by_org {
            let (n, ended, rows, examined) = run_chunk(db, &o, &ids, at).await?;
            report.invoices_created += n;
            report.subscriptions_ended += ended;
            report.rows_written += rows;
            report.subscriptions_examined += examined;
            progress(report.invoices_created);
        }
    }
    Ok(report)
}

/// Bills one chunk of one organisation's due subscriptions in one transaction.
async fn run_chunk(
    db: &Db,
    org: &str,
    ids: &[String],
    at: DateTime<Utc>,
) -> Result<(u64, u64, u64, u64)> {
    let started = std::time::Instant::now();
    let mut tx = db.begin().await?;
    // (1) Serialize with every other finalization of this organisation.
    let series = crate::util::series("INV", chrono::Datelike::year(&at));
    store::invoices::take_numbers(&mut tx, org, &series, 0).await?;
    // (2) Fresh, locked state.
    let mut subs = store::subscriptions::get_many_for_update(&mut tx, org, ids).await?;
    subs.retain(|s| s.ended_at.is_none() && s.current_period_end <= at);
    if subs.is_empty() {
        return Ok((0, 0, 0, 0));
    }
    let sub_ids: Vec<String> = subs.iter().map(|s| s.id.clone()).collect();
    let mut items = store::subscriptions::items_of(&mut tx, org, &sub_ids).await?;
    let items_before = items.clone();
    let price_ids: Vec<String> = items
        .iter()
        .flat_map(|i| [Some(i.price_id.clone()), i.pending_price_id.clone()])
        .flatten()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let prices = crate::catalog::load_prices(&mut tx, org, &price_ids).await?;
    let customer_ids: Vec<String> = subs
        .iter()
        .map(|s| s.customer_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let customers: BTreeMap<String, store::customers::CustomerRow> =
        load_customers(&mut tx, org, &customer_ids).await?;
    let mut discounts: BTreeMap<String, Vec<invoicing::ActiveDiscount>> = BTreeMap::new();
    for d in invoicing::load_discounts(&mut tx, org, &customer_ids).await? {
        discounts
            .entry(d.row.customer_id.clone())
            .or_default()
            .push(d);
    }
    let loaded = std::time::Instant::now();
    let setup = TaxSetup::load(&mut tx, org).await?;
    let vat_ids = store::customers::eu_vat_ids(&mut tx, org, &customer_ids).await?;
    let existing: BTreeSet<(String, DateTime<Utc>)> =
        store::invoices::existing_periods(&mut tx, org, &sub_ids)
            .await?
            .into_iter()
            .collect();
    let mut credit: BTreeMap<String, i64> = customers
        .iter()
        .map(|(k, c)| (k.clone(), c.credit_balance))
        .collect();

    // Items are ordered by subscription: the range of each subscription's items.
    let mut ranges: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (i, it) in items.iter().enumerate() {
        let r = ranges.entry(it.subscription_id.clone()).or_insert((i, i));
        r.1 = i + 1;
    }
    let mut invoices = Vec::new();
    let mut ended = 0;
    let no_ids = Vec::new();
    let mut no_discounts = Vec::new();
    for sub in subs.iter_mut() {
        let customer = customers
            .get(&sub.customer_id)
            .ok_or_else(|| AppError::Internal(format!("customer {} missing", sub.customer_id)))?;
        let tz = tz_of(customer)?;
        let treatment = setup.treatment(customer, vat_ids.get(&customer.id).unwrap_or(&no_ids));
        let (start, end) = ranges.get(&sub.id).copied().unwrap_or((0, 0));
        let sub_items = &mut items[start..end];
        let customer_discounts = discounts.get_mut(&customer.id).unwrap_or(&mut no_discounts);
        while sub.ended_at.is_none() && sub.current_period_end <= at {
            let bal = credit.get(&customer.id).copied().unwrap_or(0);
            match renew(
                sub,
                sub_items,
                &prices,
                customer,
                tz,
                customer_discounts,
                &treatment,
                bal,
                at,
            )? {
                Some(inv) => {
                    if inv
                        .billing_period_start
                        .is_some_and(|p| existing.contains(&(sub.id.clone(), p)))
                    {
                        continue;
                    }
                    *credit.entry(customer.id.clone()).or_default() +=
                        inv.computed.credit_to_balance - inv.computed.credit_applied;
                    invoices.push(inv);
                }
                None => ended += 1,
            }
        }
    }
    let computed = std::time::Instant::now();
    let written = invoicing::write(&mut tx, org, at, &invoices, true).await?;
    let lines: u64 = invoices.iter().map(|i| i.computed.lines.len() as u64).sum();
    let entries: u64 = invoices.iter().map(ledger_rows).sum();
    store::subscriptions::update_periods(&mut tx, &subs).await?;
    for (it, was) in items.iter().zip(&items_before) {
        let changed = it.price_id != was.price_id
            || it.quantity != was.quantity
            || it.pending_quantity != was.pending_quantity
            || it.deleted_at != was.deleted_at;
        if changed {
            store::subscriptions::update_item(&mut tx, it).await?;
        }
    }
    let wrote = std::time::Instant::now();
    tx.commit().await?;
    tracing::debug!(
        subscriptions = subs.len(),
        load_ms = (loaded - started).as_millis() as u64,
        compute_ms = (computed - loaded).as_millis() as u64,
        write_ms = (wrote - computed).as_millis() as u64,
        commit_ms = wrote.elapsed().as_millis() as u64,
        "bill run chunk"
    );
    let n = written.len() as u64;
    Ok((
        n,
        ended,
        n + lines + entries + subs.len() as u64,
        subs.len() as u64,
    ))
}

/// Ledger rows (1 transaction + its entries) one finalized invoice writes.
fn ledger_rows(i: &invoicing::NewInvoice) -> u64 {
    let p = billing::ledger::invoice_finalized(
        i.computed.total_net,
        i.computed.total_tax,
        i.computed.credit_applied,
    );
    if p.is_empty() {
        0
    } else {
        1 + p.entries().len() as u64
    }
}

async fn load_customers(
    tx: &mut store::Tx,
    org: &str,
    ids: &[String],
) -> Result<BTreeMap<String, store::customers::CustomerRow>> {
    Ok(store::customers::get_many(tx, org, ids)
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect())
}

/// Records a bill run (for `POST /v1/bill_runs`).
pub async fn run_and_record(
    db: &Db,
    org: &str,
    at: DateTime<Utc>,
    started: DateTime<Utc>,
) -> Result<BillRunReport> {
    let report = run(db, Some(org), at, |_| {}).await?;
    let mut tx = db.begin().await?;
    store::billruns::insert(
        &mut tx,
        &report.id,
        Some(org),
        at,
        started,
        Utc::now(),
        report.invoices_created as i64,
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}
