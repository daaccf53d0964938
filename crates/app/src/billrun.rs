//! The bill run: at time T, every subscription period that has started by T is invoiced
//! exactly once — missed periods included — even if the run is killed and restarted or two
//! runs overlap.
//!
//! How exactly-once holds: subscriptions are processed in chunks, each written in one
//! transaction that (1) takes the organisation's invoice-number series row lock, which every
//! finalization takes, so overlapping runs queue there; (2) locks the chunk's subscriptions
//! and checks that they, their customers' credit balances and discounts, and the tax rates
//! are exactly as the chunk's invoices were computed from — if anything differs, the chunk
//! is computed again from the locked state; (3) writes invoices whose
//! `UNIQUE (subscription_id, billing_period_start)` key makes a second invoice for the same
//! period impossible — if it were ever attempted, the chunk's transaction fails whole and
//! nothing of it is written. A killed run leaves whole chunks committed or nothing; the
//! restart continues from the subscriptions still due.
//!
//! Speed: the next chunk is read and computed (on a read snapshot, another connection)
//! while the current one is written, so the two cores work at once; step (2) is what makes
//! computing ahead of the lock safe. On PostgreSQL two chunks are written at once: each
//! writer writes its lines and ledger postings — new rows that lock nothing — before step
//! (1), so one does that while the other holds the lock (see [`commit`]).
use crate::invoicing::{self, TaxSetup};
use crate::subscriptions::{renew, tz_of};
use crate::{AppError, Result};
use billing::ids::BillRunId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use store::subscriptions::DueRange;
use store::{new_id, Db};
use utoipa::ToSchema;

/// What a bill run did.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct BillRunReport {
    pub id: String,
    pub object: &'static str,
    pub run_at: DateTime<Utc>,
    /// Whether the invoices were finalized (false: left as drafts for review).
    pub finalize: bool,
    pub subscriptions_examined: u64,
    pub invoices_created: u64,
    pub subscriptions_ended: u64,
    /// Rows written (invoices, lines, ledger transactions and entries).
    pub rows_written: u64,
}

/// Subscriptions per transaction.
pub const CHUNK: usize = 5000;

/// Runs the bill run at `at` for one organisation or all, finalizing every invoice.
/// `progress` is told the number of invoices written after each chunk.
pub async fn run(
    db: &Db,
    org: Option<&str>,
    at: DateTime<Utc>,
    progress: impl FnMut(u64),
) -> Result<BillRunReport> {
    run_with(db, org, at, true, progress).await
}

/// As [`run`]; with `finalize == false` the invoices stay drafts — no number, no posting,
/// no credit applied yet — for review, and are finalized one by one
/// (`invoicing::finalize`). Either way each period is invoiced once.
pub async fn run_with(
    db: &Db,
    org: Option<&str>,
    at: DateTime<Utc>,
    finalize: bool,
    progress: impl FnMut(u64),
) -> Result<BillRunReport> {
    run_inner(db, org, None, at, finalize, CHUNK, progress).await
}

/// As [`run`], in chunks of `chunk` subscriptions instead of [`CHUNK`]: tests take small
/// chunks to have several chunks, and writers, in flight with little data.
pub async fn run_in_chunks(
    db: &Db,
    org: Option<&str>,
    at: DateTime<Utc>,
    chunk: usize,
) -> Result<BillRunReport> {
    run_inner(db, org, None, at, true, chunk.max(1), |_| {}).await
}

/// The bill run of one test clock at its time `at`: only the subscriptions on that clock
/// (the other runs leave them alone).
pub async fn run_clock(
    db: &Db,
    org: &str,
    clock: &str,
    at: DateTime<Utc>,
) -> Result<BillRunReport> {
    run_inner(db, Some(org), Some(clock), at, true, CHUNK, |_| {}).await
}

async fn run_inner(
    db: &Db,
    org: Option<&str>,
    clock: Option<&str>,
    at: DateTime<Utc>,
    finalize: bool,
    chunk: usize,
    mut progress: impl FnMut(u64),
) -> Result<BillRunReport> {
    let mut report = BillRunReport {
        id: new_id!(BillRunId).to_string(),
        object: "bill_run",
        run_at: at,
        finalize,
        ..Default::default()
    };
    let orgs = match org {
        Some(o) => vec![o.to_string()],
        None => {
            let mut tx = db.read().await?;
            store::subscriptions::due_orgs(&mut tx, at).await?
        }
    };
    // Chunk writers in flight at once: on PostgreSQL two, so one writes its lines and
    // postings while the other holds the numbering lock (see [`commit`]); SQLite has one
    // writer anyway.
    let writers = match db.backend() {
        store::Backend::Postgres => 2,
        store::Backend::Sqlite => 1,
    };
    for org in orgs {
        let clock = clock.map(str::to_string);
        let mut next = tokio::spawn(prepare(
            db.clone(),
            org.clone(),
            clock.clone(),
            String::new(),
            at,
            finalize,
            chunk,
        ));
        let mut writing = std::collections::VecDeque::new();
        let mut failed = None;
        loop {
            let prepared = match next.await {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => {
                    failed = Some(e);
                    None
                }
                Err(e) => {
                    failed = Some(AppError::Internal(format!("bill run task: {e}")));
                    None
                }
            };
            let Some(prepared) = prepared else { break };
            // Read and compute the next chunk while this one is written.
            let last = prepared.0.range.last.clone();
            next = tokio::spawn(prepare(
                db.clone(),
                org.clone(),
                clock.clone(),
                last,
                at,
                finalize,
                chunk,
            ));
            let (db, o) = (db.clone(), org.clone());
            writing.push_back(tokio::spawn(async move {
                commit(&db, &o, at, prepared, finalize).await
            }));
            if writing.len() >= writers {
                if let Some(w) = writing.pop_front() {
                    if let Err(e) = tally(&mut report, w.await, &mut progress) {
                        failed = Some(e);
                        // The chunk read ahead will not be written.
                        next.abort();
                        break;
                    }
                }
            }
        }
        // Every writer started is awaited, even after an error: none is left running.
        for w in writing {
            if let Err(e) = tally(&mut report, w.await, &mut progress) {
                match &failed {
                    None => failed = Some(e),
                    Some(_) => tracing::warn!("bill run of {org}: another chunk failed too: {e}"),
                }
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
    }
    Ok(report)
}

/// Adds a written chunk to `report`.
fn tally(
    report: &mut BillRunReport,
    written: std::result::Result<Result<(u64, u64, u64, u64)>, tokio::task::JoinError>,
    progress: &mut impl FnMut(u64),
) -> Result<()> {
    let (n, ended, rows, examined) =
        written.map_err(|e| AppError::Internal(format!("bill run task: {e}")))??;
    report.invoices_created += n;
    report.subscriptions_ended += ended;
    report.rows_written += rows;
    report.subscriptions_examined += examined;
    progress(report.invoices_created);
    Ok(())
}

/// What a chunk's invoices were computed from; compared again under the lock.
#[derive(Debug, Clone, PartialEq)]
struct Versions {
    /// Subscriptions, customers and discounts (`store::subscriptions::range_fingerprint`).
    fingerprint: String,
    /// Tax rate ids, sorted.
    tax_rates: Vec<String>,
    seller_country: String,
}

impl Versions {
    async fn read(tx: &mut store::Tx, range: &DueRange, lock: bool) -> Result<Versions> {
        let fingerprint = store::subscriptions::range_fingerprint(tx, range, lock).await?;
        let setup = TaxSetup::load(tx, &range.org_id).await?;
        let tax_rates = setup
            .rates
            .iter()
            .map(|r| r.id.to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        Ok(Versions {
            fingerprint,
            tax_rates,
            seller_country: setup.seller_country,
        })
    }
}

/// One chunk computed: the renewed subscriptions and items, and the invoices to write.
struct Prepared {
    range: DueRange,
    subs: Vec<store::subscriptions::SubscriptionRow>,
    items: Vec<store::subscriptions::ItemRow>,
    items_before: Vec<store::subscriptions::ItemRow>,
    invoices: Vec<invoicing::NewInvoice>,
    ended: u64,
}

/// Reads the next chunk of due subscriptions after `after` and computes it on a read
/// snapshot. None when nothing is left.
async fn prepare(
    db: Db,
    org: String,
    clock: Option<String>,
    after: String,
    at: DateTime<Utc>,
    finalize: bool,
    chunk: usize,
) -> Result<Option<(Prepared, Versions)>> {
    let mut tx = db.read().await?;
    let Some(last) =
        store::subscriptions::due_chunk_end(&mut tx, &org, &after, at, chunk as i64).await?
    else {
        return Ok(None);
    };
    let range = DueRange {
        org_id: org,
        after,
        last,
        at,
        clock,
    };
    let versions = Versions::read(&mut tx, &range, false).await?;
    let prepared = compute(&mut tx, range, false, finalize).await?;
    drop(tx);
    // The previous chunks' pages go into the database file here, off the writer's path.
    db.checkpoint_passive().await?;
    Ok(Some((prepared, versions)))
}

/// Loads the chunk's state (locked if `lock`) and renews every subscription as many periods
/// as it is behind.
async fn compute(
    tx: &mut store::Tx,
    range: DueRange,
    lock: bool,
    finalize: bool,
) -> Result<Prepared> {
    let started = std::time::Instant::now();
    let mut last_lap = started;
    let mut lap = |what: &str| {
        tracing::trace!(
            what,
            ms = last_lap.elapsed().as_millis() as u64,
            "bill run load step"
        );
        last_lap = std::time::Instant::now();
    };
    let (org, at) = (range.org_id.as_str(), range.at);
    let fetched = store::subscriptions::in_range(tx, &range, lock).await?;
    lap("subs");
    // `in_range` returns only live subscriptions whose period has ended by `at`.
    let mut subs = fetched;
    let mut items = store::subscriptions::items_in_range(tx, &range).await?;
    lap("items");
    let items_before = items.clone();
    let price_ids: Vec<String> = items
        .iter()
        .flat_map(|i| [Some(i.price_id.clone()), i.pending_price_id.clone()])
        .flatten()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let prices = crate::catalog::load_prices(tx, org, &price_ids).await?;
    lap("prices");
    let customers: BTreeMap<String, store::customers::CustomerRow> =
        store::customers::in_range(tx, &range)
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
    lap("customers");
    let mut discounts: BTreeMap<String, Vec<invoicing::ActiveDiscount>> = BTreeMap::new();
    let discount_rows = store::subscriptions::discounts_in_range(tx, &range).await?;
    for d in invoicing::discounts_with_coupons(tx, org, discount_rows).await? {
        discounts
            .entry(d.row.customer_id.clone())
            .or_default()
            .push(d);
    }
    lap("discounts");
    let setup = TaxSetup::load(tx, org).await?;
    let vat_ids = store::customers::range_eu_vat_ids(tx, &range).await?;
    lap("vat");
    let existing: BTreeSet<(String, DateTime<Utc>)> =
        // The next period of each starts at its current period's end.
        match subs.iter().map(|s| s.current_period_end).min() {
            Some(since) => store::invoices::range_existing_periods(tx, &range, since).await?,
            None => Vec::new(),
        }
            .into_iter()
            .collect();
    lap("existing periods");
    let loaded = std::time::Instant::now();

    // Items are ordered by subscription: the range of each subscription's items.
    let mut ranges: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (i, it) in items.iter().enumerate() {
        let r = ranges.entry(it.subscription_id.clone()).or_insert((i, i));
        r.1 = i + 1;
    }
    let mut credit: BTreeMap<String, i64> = customers
        .iter()
        .map(|(k, c)| (k.clone(), c.credit_balance))
        .collect();
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
            // Drafts take no credit: it is applied when they are finalized.
            let bal = if finalize {
                credit.get(&customer.id).copied().unwrap_or(0)
            } else {
                0
            };
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
                        // Already invoiced: the discount uses `build` counted do not happen.
                        for (d, _) in &inv.discounts_used {
                            if let Some(x) = customer_discounts.iter_mut().find(|x| &x.row.id == d)
                            {
                                x.row.invoices_applied -= 1;
                            }
                        }
                        continue;
                    }
                    *credit.entry(customer.id.clone()).or_default() +=
                        inv.computed.credit_to_balance - inv.computed.credit_applied;
                    let mut inv = inv;
                    // An unpaid subscription's invoices are sent, not charged.
                    inv.charge_automatically &= sub.status != "unpaid";
                    invoices.push(inv);
                }
                None => ended += 1,
            }
        }
    }
    tracing::debug!(
        subscriptions = subs.len(),
        locked = lock,
        load_ms = (loaded - started).as_millis() as u64,
        compute_ms = loaded.elapsed().as_millis() as u64,
        "bill run chunk computed"
    );
    Ok(Prepared {
        range,
        subs,
        items,
        items_before,
        invoices,
        ended,
    })
}

/// Writes one computed chunk in one transaction, recomputing it under the lock if anything
/// it was computed from has changed since.
///
/// Finalizing, the transaction first writes the chunk's lines and ledger postings: new rows
/// that need no invoice number and lock no existing row, so another chunk's writer may hold
/// the numbering lock meanwhile. Then, as the module doc says, it takes the lock, locks and
/// compares the chunk, and writes the invoices (numbered), their events and the rest. If the
/// chunk changed, the transaction is dropped — the rows written first with it — and the
/// chunk is computed and written again in a new one that takes the lock first.
async fn commit(
    db: &Db,
    org: &str,
    at: DateTime<Utc>,
    prepared: (Prepared, Versions),
    finalize: bool,
) -> Result<(u64, u64, u64, u64)> {
    let started = std::time::Instant::now();
    let (prepared, versions) = prepared;
    let mut tx = db.begin().await?;
    let mut staged = if finalize {
        let s = invoicing::stage(org, at, &prepared.invoices, true)?;
        invoicing::write_unnumbered(&mut tx, &s).await?;
        Some(s)
    } else {
        None
    };
    let unlocked = std::time::Instant::now();
    // (1) Serialize with every other finalization of this organisation.
    let series = crate::util::series("INV", chrono::Datelike::year(&at));
    store::invoices::take_numbers(&mut tx, org, &series, 0).await?;
    // (2) Lock the chunk and compare with what it was computed from.
    let now = Versions::read(&mut tx, &prepared.range, true).await?;
    let p = if now == versions {
        prepared
    } else {
        tracing::debug!(
            rows = now.fingerprint == versions.fingerprint,
            tax = now.tax_rates == versions.tax_rates && now.seller_country == versions.seller_country,
            "bill run chunk changed since it was computed (false marks what); computing it again under the lock"
        );
        if staged.take().is_some() {
            drop(tx);
            tx = db.begin().await?;
            store::invoices::take_numbers(&mut tx, org, &series, 0).await?;
            Versions::read(&mut tx, &prepared.range, true).await?;
        }
        compute(&mut tx, prepared.range, true, finalize).await?
    };
    let checked = std::time::Instant::now();
    // (3) Write.
    let written = match staged {
        Some(mut s) => {
            invoicing::write_numbered(&mut tx, org, at, &p.invoices, &mut s).await?;
            s.into_rows()
        }
        None => invoicing::write(&mut tx, org, at, &p.invoices, finalize).await?,
    };
    let lines: u64 = p
        .invoices
        .iter()
        .map(|i| i.computed.lines.len() as u64)
        .sum();
    let entries: u64 = p.invoices.iter().map(ledger_rows).sum();
    let periods = std::time::Instant::now();
    store::subscriptions::update_periods(&mut tx, &p.subs).await?;
    tracing::debug!(
        ms = periods.elapsed().as_millis() as u64,
        "subscription periods written"
    );
    for (it, was) in p.items.iter().zip(&p.items_before) {
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
        subscriptions = p.subs.len(),
        unlocked_ms = (unlocked - started).as_millis() as u64,
        check_ms = (checked - unlocked).as_millis() as u64,
        write_ms = (wrote - checked).as_millis() as u64,
        commit_ms = wrote.elapsed().as_millis() as u64,
        "bill run chunk written"
    );
    let n = written.len() as u64;
    Ok((
        n,
        p.ended,
        n + lines + entries + p.subs.len() as u64,
        p.subs.len() as u64,
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

/// Records a finished bill run of one organisation (for `POST /v1/bill_runs`); the caller
/// supplies when it started and finished, as nothing here reads a clock.
pub async fn record(
    db: &Db,
    org: &str,
    report: &BillRunReport,
    started: DateTime<Utc>,
    finished: DateTime<Utc>,
) -> Result<()> {
    let mut tx = db.begin().await?;
    store::billruns::insert(
        &mut tx,
        &report.id,
        Some(org),
        report.run_at,
        started,
        finished,
        report.invoices_created as i64,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
