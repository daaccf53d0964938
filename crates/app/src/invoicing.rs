//! Invoices: building them from lines, finalizing (gapless number + ledger posting in one
//! transaction), one-off drafts, void, uncollectible, and credit notes.
//!
//! Rules beyond BILLING.md, written down here:
//! - An invoice whose amount due is 0 at finalization (zero total, or fully covered by the
//!   credit balance, or a negative total) is `paid` at once, as in Stripe.
//! - Void needs an open invoice with nothing paid and no credit notes; its posting is the
//!   exact mirror of the finalization, so credit it had taken returns to the balance.
//! - A credit note on an open invoice first reduces its amount remaining; the rest goes to
//!   the credit balance. An open invoice credited down to 0 becomes `paid`.
//! - Proration invoices and one-off invoices apply only coupons passed explicitly; period
//!   invoices apply the customer's and the subscription's live discounts, in the order they
//!   were attached (oldest first), each to what the previous ones left.

use crate::catalog::{coupon_rule, tax_rate_rule, LoadedPrice};
use crate::ledger::TxMeta;
use crate::util::{number, parse_id, series};
use crate::{page_limit, AppError, Ctx, Page, Result};
use billing::discount::{Discount, DiscountDuration};
use billing::ids::{CreditNoteId, CreditNoteLineId, CustomerId, InvoiceId, InvoiceLineId, PriceId};
use billing::invoice::{compute_invoice, ComputedInvoice, LineInput, LineKind};
use billing::tax::{TaxRate, TaxTreatment};
use billing::Currency;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use store::customers::CustomerRow;
use store::invoices::{CreditNoteLineRow, CreditNoteRow, InvoiceRow, LineRow};
use store::ledger::{EntryRow, TransactionRow};
use store::subscriptions::DiscountRow;
use store::{new_id, Db, Tx};
use utoipa::ToSchema;

/// The organisation's tax set-up: its own country and its active rates.
#[derive(Debug, Clone)]
pub struct TaxSetup {
    pub seller_country: String,
    pub rates: Vec<TaxRate>,
}

impl TaxSetup {
    pub async fn load(tx: &mut Tx, org: &str) -> Result<TaxSetup> {
        let org_row = store::orgs::get_org(tx, org)
            .await?
            .ok_or_else(|| AppError::not_found("organisation", org))?;
        let rows = store::catalog::list_tax_rates(tx, org, true).await?;
        let rates = rows.iter().map(tax_rate_rule).collect::<Result<Vec<_>>>()?;
        Ok(TaxSetup {
            seller_country: org_row.country,
            rates,
        })
    }

    pub fn treatment(&self, c: &CustomerRow, vat_ids: &[String]) -> TaxTreatment {
        billing::tax::choose_treatment(
            &self.seller_country,
            c.address_country.as_deref(),
            c.address_region.as_deref(),
            vat_ids,
            c.tax_exempt,
            &self.rates,
        )
    }
}

/// A customer's live discount with its coupon as rules.
#[derive(Debug, Clone)]
pub struct ActiveDiscount {
    pub row: DiscountRow,
    pub rule: Discount,
    pub duration: DiscountDuration,
    /// amount_off coupons apply only to invoices in their currency.
    pub currency: Option<String>,
}

/// Loads the live discounts of these customers.
pub async fn load_discounts(
    tx: &mut Tx,
    org: &str,
    customer_ids: &[String],
) -> Result<Vec<ActiveDiscount>> {
    let rows = store::subscriptions::discounts_of_customers(tx, org, customer_ids).await?;
    discounts_with_coupons(tx, org, rows).await
}

/// Discount rows with their coupons as rules.
pub async fn discounts_with_coupons(
    tx: &mut Tx,
    org: &str,
    rows: Vec<DiscountRow>,
) -> Result<Vec<ActiveDiscount>> {
    let mut coupons = BTreeMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        if !coupons.contains_key(&row.coupon_id) {
            let c = store::catalog::get_coupon(tx, org, &row.coupon_id)
                .await?
                .ok_or_else(|| AppError::Internal(format!("coupon {} missing", row.coupon_id)))?;
            coupons.insert(row.coupon_id.clone(), c);
        }
        let c = &coupons[&row.coupon_id];
        let (rule, duration) = coupon_rule(c)?;
        out.push(ActiveDiscount {
            row,
            rule,
            duration,
            currency: c.currency.clone(),
        });
    }
    Ok(out)
}

/// The discounts that apply to the next invoice of `customer` (for `subscription`, if any)
/// in `currency`: customer-wide ones and those of that subscription, still within their
/// duration.
pub fn applicable<'a>(
    all: &'a [ActiveDiscount],
    customer: &str,
    subscription: Option<&str>,
    currency: &str,
) -> Vec<&'a ActiveDiscount> {
    all.iter()
        .filter(|d| d.row.customer_id == customer)
        .filter(|d| {
            d.row.subscription_id.is_none() || d.row.subscription_id.as_deref() == subscription
        })
        .filter(|d| d.currency.as_deref().is_none_or(|c| c == currency))
        .filter(|d| d.duration.applies_after(d.row.invoices_applied as u32))
        .collect()
}

/// An invoice computed in memory, ready to be written.
#[derive(Debug, Clone)]
pub struct NewInvoice {
    pub id: String,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    pub billing_reason: &'static str,
    pub billing_period_start: Option<DateTime<Utc>>,
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub currency: String,
    pub computed: ComputedInvoice,
    pub tax_rate: Option<TaxRate>,
    pub memo: Option<String>,
    /// Discount ids applied, with whether this use ends the discount.
    pub discounts_used: Vec<(String, bool)>,
    /// The customer's zone and payment terms, for the due date when it is finalized.
    pub time_zone: String,
    pub days_until_due: i64,
    /// The customer is charged automatically: finalizing queues a `charge_invoice` job.
    pub charge_automatically: bool,
}

/// The due date of an invoice finalized at `now` for a customer in `time_zone` with
/// `days_until_due` (billing::collection::Terms): the local date then, plus the terms.
pub fn due_date(now: DateTime<Utc>, time_zone: &str, days_until_due: i64) -> Result<NaiveDate> {
    let tz = billing::period::parse_tz(time_zone)
        .map_err(|e| AppError::Internal(format!("time zone {time_zone}: {e}")))?;
    let terms = billing::collection::Terms::days(days_until_due)
        .map_err(|e| AppError::Internal(format!("payment terms: {e}")))?;
    Ok(terms.due_date(now.with_timezone(&tz).date_naive()))
}

/// Computes a new invoice: lines, then the discounts, tax and credit balance as BILLING.md
/// orders them. Marks the used discounts (in memory) so repeated calls count them.
#[allow(clippy::too_many_arguments)]
pub fn build(
    customer: &CustomerRow,
    subscription_id: Option<&str>,
    billing_reason: &'static str,
    billing_period_start: Option<DateTime<Utc>>,
    period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    lines: Vec<LineInput>,
    discounts: &mut [ActiveDiscount],
    use_discounts: bool,
    treatment: &TaxTreatment,
    credit_balance: i64,
) -> Result<NewInvoice> {
    let picked: Vec<usize> = if use_discounts {
        discounts
            .iter()
            .enumerate()
            .filter(|(_, d)| {
                applicable(
                    std::slice::from_ref(*d),
                    &customer.id,
                    subscription_id,
                    &customer.currency,
                )
                .len()
                    == 1
            })
            .map(|(i, _)| i)
            .collect()
    } else {
        Vec::new()
    };
    let rules: Vec<Discount> = picked.iter().map(|&i| discounts[i].rule.clone()).collect();
    let computed = compute_invoice(lines, &rules, treatment, credit_balance)
        .map_err(|e| AppError::billing("lines", e))?;
    let mut used = Vec::new();
    for &i in &picked {
        let d = &mut discounts[i];
        d.row.invoices_applied += 1;
        used.push((
            d.row.id.clone(),
            !d.duration.applies_after(d.row.invoices_applied as u32),
        ));
    }
    let tax_rate = rate_of(treatment);
    Ok(NewInvoice {
        id: new_id!(InvoiceId).to_string(),
        customer_id: customer.id.clone(),
        subscription_id: subscription_id.map(str::to_string),
        billing_reason,
        billing_period_start,
        period,
        currency: customer.currency.clone(),
        computed,
        tax_rate,
        memo: None,
        discounts_used: used,
        time_zone: customer.time_zone.clone(),
        days_until_due: customer.days_until_due,
        charge_automatically: customer.collection_method == "charge_automatically",
    })
}

/// The rate lines are taxed at under `treatment` (None when exempt or reverse charge).
fn rate_of(treatment: &TaxTreatment) -> Option<TaxRate> {
    match treatment {
        TaxTreatment::Taxable { rate } => rate.clone(),
        _ => None,
    }
}

/// Rows of one computed invoice.
fn rows_of(org: &str, inv: &NewInvoice, now: DateTime<Utc>) -> (InvoiceRow, Vec<LineRow>) {
    let c = &inv.computed;
    let row = InvoiceRow {
        id: inv.id.clone(),
        org_id: org.to_string(),
        customer_id: inv.customer_id.clone(),
        subscription_id: inv.subscription_id.clone(),
        billing_reason: inv.billing_reason.to_string(),
        billing_period_start: inv.billing_period_start,
        period_start: inv.period.map(|p| p.0),
        period_end: inv.period.map(|p| p.1),
        status: "draft".into(),
        currency: inv.currency.clone(),
        number: None,
        subtotal: c.subtotal,
        total_discount: c.total_discount,
        total_tax: c.total_tax,
        total_net: c.total_net,
        total: c.total,
        credit_applied: c.credit_applied,
        credit_to_balance: c.credit_to_balance,
        amount_due: c.amount_due,
        amount_paid: 0,
        amount_credited: 0,
        amount_remaining: c.amount_due,
        tax_note: c.tax_note.clone(),
        memo: inv.memo.clone(),
        created_at: now,
        finalized_at: None,
        voided_at: None,
        marked_uncollectible_at: None,
        due_date: None,
    };
    let lines = c
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| LineRow {
            id: new_id!(InvoiceLineId).to_string(),
            org_id: org.to_string(),
            invoice_id: inv.id.clone(),
            position: i as i64,
            kind: l.input.kind.as_str().to_string(),
            description: l.input.description.clone(),
            product_id: l.input.product.as_ref().map(|p| p.to_string()),
            price_id: l.input.price.as_ref().map(|p| p.to_string()),
            quantity: l.input.quantity.normalize().to_string(),
            amount: l.input.amount,
            discount_amount: l.discount_amount,
            tax_amount: l.tax_amount,
            net_amount: l.net_amount,
            total: l.total,
            tax_rate_id: inv.tax_rate.as_ref().map(|r| r.id.to_string()),
            tax_percentage: inv
                .tax_rate
                .as_ref()
                .map(|r| r.percentage.normalize().to_string()),
            tax_inclusive: l.input.tax_inclusive,
            period_start: l.input.period.map(|p| p.start),
            period_end: l.input.period.map(|p| p.end),
            period_start_date: l.input.period.map(|p| p.start_date),
            period_end_date: l.input.period.map(|p| p.end_date),
        })
        .collect();
    (row, lines)
}

/// Marks an invoice row finalized at `now` (its number is set when it is taken), and
/// appends its posting.
fn finalize_row(
    row: &mut InvoiceRow,
    now: DateTime<Utc>,
    due_date: NaiveDate,
    txs: &mut Vec<TransactionRow>,
    entries: &mut Vec<EntryRow>,
) {
    row.due_date = Some(due_date);
    row.finalized_at = Some(now);
    row.status = if row.amount_due == 0 { "paid" } else { "open" }.into();
    let posting =
        billing::ledger::invoice_finalized(row.total_net, row.total_tax, row.credit_applied);
    let meta = TxMeta {
        org_id: &row.org_id,
        kind: "invoice_finalized",
        customer_id: &row.customer_id,
        invoice_id: Some(&row.id),
        credit_note_id: None,
        payment_id: None,
        refund_id: None,
        currency: &row.currency,
        at: now,
    };
    crate::ledger::post(&meta, &posting, txs, entries);
}

/// Computed invoices as rows, ready to write: [`write`] in one go, or — the bill run, which
/// lets another chunk hold the numbering lock meanwhile — [`write_unnumbered`] first and
/// [`write_numbered`] under the lock.
pub struct Staged {
    finalize: bool,
    /// Without numbers yet (drafts stay so).
    rows: Vec<InvoiceRow>,
    lines: Vec<LineRow>,
    txs: Vec<TransactionRow>,
    entries: Vec<EntryRow>,
    balance_delta: BTreeMap<String, i64>,
    discount_updates: Vec<(String, bool)>,
}

/// The rows of `invs` at `now`, finalized (status, due date, postings) if asked; no IO.
pub fn stage(org: &str, now: DateTime<Utc>, invs: &[NewInvoice], finalize: bool) -> Result<Staged> {
    let mut s = Staged {
        finalize,
        rows: Vec::with_capacity(invs.len()),
        lines: Vec::new(),
        txs: Vec::new(),
        entries: Vec::new(),
        balance_delta: BTreeMap::new(),
        discount_updates: Vec::new(),
    };
    // One due date per zone and terms: the bill run finalizes thousands at the same instant.
    let mut due_dates: BTreeMap<(&str, i64), NaiveDate> = BTreeMap::new();
    for inv in invs {
        let (mut row, mut l) = rows_of(org, inv, now);
        if finalize {
            let due = match due_dates.get(&(inv.time_zone.as_str(), inv.days_until_due)) {
                Some(d) => *d,
                None => {
                    let d = due_date(now, &inv.time_zone, inv.days_until_due)?;
                    due_dates.insert((inv.time_zone.as_str(), inv.days_until_due), d);
                    d
                }
            };
            finalize_row(&mut row, now, due, &mut s.txs, &mut s.entries);
            *s.balance_delta.entry(inv.customer_id.clone()).or_default() +=
                inv.computed.credit_to_balance - inv.computed.credit_applied;
        }
        for (d, ended) in &inv.discounts_used {
            s.discount_updates.push((d.clone(), *ended));
        }
        s.rows.push(row);
        s.lines.append(&mut l);
    }
    Ok(s)
}

/// Writes the staged rows that need no invoice number and lock no existing row: the lines
/// and the ledger postings. Nothing else can conflict with them (their keys are new ids),
/// so they may be written before the numbering lock is taken.
pub async fn write_unnumbered(tx: &mut Tx, staged: &Staged) -> Result<()> {
    let t0 = std::time::Instant::now();
    store::invoices::insert_lines(tx, &staged.lines).await?;
    let t1 = std::time::Instant::now();
    store::ledger::insert(tx, &staged.txs, &staged.entries).await?;
    tracing::debug!(
        lines_ms = (t1 - t0).as_millis() as u64,
        ledger_ms = t1.elapsed().as_millis() as u64,
        "invoice lines and postings written"
    );
    Ok(())
}

/// Writes the rest of `staged` (computed from `invs`): numbers taken from the series of
/// the year of `now` under its lock (when finalizing), the invoices, their charge jobs and
/// events, credit-balance changes and discount counts. Returns the invoice rows.
pub async fn write_numbered(
    tx: &mut Tx,
    org: &str,
    now: DateTime<Utc>,
    invs: &[NewInvoice],
    staged: &mut Staged,
) -> Result<()> {
    if staged.rows.is_empty() {
        return Ok(());
    }
    let rows = &mut staged.rows;
    if staged.finalize {
        let first = take_invoice_numbers(tx, org, now, rows.len() as i64).await?;
        let ser = series("INV", now.year());
        for (i, row) in rows.iter_mut().enumerate() {
            row.number = Some(number(&ser, first + i as i64));
        }
    }
    let t0 = std::time::Instant::now();
    store::invoices::insert(tx, rows)
        .await
        .map_err(|e| match e {
            store::StoreError::Conflict(m) => AppError::state(
                "already_invoiced",
                format!("an invoice for this subscription period already exists ({m})"),
            ),
            other => other.into(),
        })?;
    let t1 = std::time::Instant::now();
    if staged.finalize {
        let charges: Vec<crate::jobs::Task> = invs
            .iter()
            .zip(rows.iter())
            .filter(|(inv, row)| inv.charge_automatically && row.amount_due > 0)
            .map(|(inv, _)| crate::jobs::Task::ChargeInvoice {
                invoice: inv.id.clone(),
            })
            .collect();
        // After the invoices: a job of an invoice on a test clock goes on that clock.
        crate::jobs::enqueue(tx, org, &charges, now).await?;
        finalized_events(tx, org, invs, rows, now).await?;
    }
    let t2 = std::time::Instant::now();
    for (cus, delta) in &staged.balance_delta {
        store::customers::add_credit_balance(tx, org, cus, *delta).await?;
    }
    // Discounts used once in this batch and still running are counted in one statement;
    // the rest (ending now, or used for several missed periods) one by one.
    let mut uses: BTreeMap<&str, usize> = BTreeMap::new();
    let discount_updates = &staged.discount_updates;
    for (d, _) in discount_updates {
        *uses.entry(d).or_default() += 1;
    }
    let simple: Vec<String> = discount_updates
        .iter()
        .filter(|(d, ended)| !ended && uses[d.as_str()] == 1)
        .map(|(d, _)| d.clone())
        .collect();
    store::subscriptions::discounts_applied(tx, org, &simple).await?;
    for (d, ended) in discount_updates
        .iter()
        .filter(|(d, ended)| *ended || uses[d.as_str()] > 1)
    {
        store::subscriptions::discount_applied(tx, org, d, ended.then_some(now)).await?;
    }
    let prices: Vec<String> = staged
        .lines
        .iter()
        .filter_map(|l| l.price_id.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    store::catalog::mark_prices_used(tx, org, &prices).await?;
    tracing::debug!(
        invoices = staged.rows.len(),
        invoices_ms = (t1 - t0).as_millis() as u64,
        jobs_events_ms = (t2 - t1).as_millis() as u64,
        rest_ms = t2.elapsed().as_millis() as u64,
        "invoices written"
    );
    Ok(())
}

impl Staged {
    /// The invoice rows (numbered once [`write_numbered`] has run).
    pub fn into_rows(self) -> Vec<InvoiceRow> {
        self.rows
    }
}

/// Writes computed invoices, finalizing them if asked: numbers are taken from the series of
/// the year of `now` under its lock, postings and credit-balance changes are written in the
/// same transaction. Returns the rows written (for counting).
pub async fn write(
    tx: &mut Tx,
    org: &str,
    now: DateTime<Utc>,
    invs: &[NewInvoice],
    finalize: bool,
) -> Result<Vec<InvoiceRow>> {
    if invs.is_empty() {
        return Ok(Vec::new());
    }
    let mut staged = stage(org, now, invs, finalize)?;
    // The numbering lock first (if the caller has not taken it yet): the one lock order.
    write_numbered(tx, org, now, invs, &mut staged).await?;
    write_unnumbered(tx, &staged).await?;
    Ok(staged.into_rows())
}

/// The events of invoices just finalized (`invoice.finalized`, and `invoice.paid` for those
/// with nothing due). The first reminder of those the customer pays by invoice is queued
/// when `invoice.finalized` is dispatched (`events::dispatch`).
async fn finalized_events(
    tx: &mut Tx,
    org: &str,
    invs: &[NewInvoice],
    rows: &[InvoiceRow],
    now: DateTime<Utc>,
) -> Result<()> {
    let mut events = Vec::with_capacity(rows.len());
    for (inv, row) in invs.iter().zip(rows) {
        let method = if inv.charge_automatically {
            "charge_automatically"
        } else {
            "send_invoice"
        };
        let data = crate::events::InvoiceSnapshot::of(row, method);
        events.push(crate::events::row(
            org,
            "invoice.finalized",
            Some(&row.customer_id),
            &row.id,
            &data,
            now,
        ));
        if row.status == "paid" {
            events.push(crate::events::row(
                org,
                "invoice.paid",
                Some(&row.customer_id),
                &row.id,
                &data,
                now,
            ));
        }
    }
    store::outbox::insert_events(tx, &events).await?;
    Ok(())
}

/// Takes the organisation's invoice-numbering lock (the series row of `now`'s year) without
/// taking a number. Every operation that may finalize takes it first, before any customer,
/// subscription or invoice row, as the bill run does — one lock order, so no deadlock.
pub async fn lock_numbering(tx: &mut Tx, org: &str, now: DateTime<Utc>) -> Result<()> {
    take_invoice_numbers(tx, org, now, 0).await.map(|_| ())
}

async fn take_invoice_numbers(tx: &mut Tx, org: &str, now: DateTime<Utc>, n: i64) -> Result<i64> {
    Ok(store::invoices::take_numbers(tx, org, &series("INV", now.year()), n).await?)
}

// ---------------------------------------------------------------------------------------
// Views

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvoiceLine {
    pub id: String,
    pub object: &'static str,
    /// subscription, proration, usage or one_off.
    pub kind: String,
    pub description: String,
    pub product: Option<String>,
    pub price: Option<String>,
    /// Exact decimal string.
    pub quantity: String,
    /// Before discount (gross for tax-inclusive prices).
    pub amount: i64,
    pub discount_amount: i64,
    pub tax_amount: i64,
    pub net_amount: i64,
    pub total: i64,
    pub tax_rate: Option<String>,
    pub tax_percentage: Option<String>,
    pub tax_inclusive: bool,
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    /// Local dates in the customer's zone, end exclusive.
    pub period_start_date: Option<chrono::NaiveDate>,
    pub period_end_date: Option<chrono::NaiveDate>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Invoice {
    pub id: String,
    pub object: &'static str,
    pub number: Option<String>,
    pub customer: String,
    pub subscription: Option<String>,
    /// draft, open, paid, void or uncollectible.
    pub status: String,
    /// subscription_create, subscription_cycle, subscription_update, subscription_cancel, manual.
    pub billing_reason: String,
    pub currency: String,
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    pub subtotal: i64,
    pub total_discount: i64,
    pub total_tax: i64,
    pub total_net: i64,
    pub total: i64,
    pub credit_applied: i64,
    pub credit_to_balance: i64,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub amount_credited: i64,
    pub amount_remaining: i64,
    pub tax_note: Option<String>,
    pub memo: Option<String>,
    /// The customer's local date it is due (finalized invoices): the finalization date
    /// plus the customer's payment terms. Overdue from the day after while open.
    pub due_date: Option<NaiveDate>,
    pub lines: Vec<InvoiceLine>,
    pub created: DateTime<Utc>,
    pub finalized_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
    pub marked_uncollectible_at: Option<DateTime<Utc>>,
}

fn line_view(l: LineRow) -> InvoiceLine {
    InvoiceLine {
        id: l.id,
        object: "invoice_line",
        kind: l.kind,
        description: l.description,
        product: l.product_id,
        price: l.price_id,
        quantity: l.quantity,
        amount: l.amount,
        discount_amount: l.discount_amount,
        tax_amount: l.tax_amount,
        net_amount: l.net_amount,
        total: l.total,
        tax_rate: l.tax_rate_id,
        tax_percentage: l.tax_percentage,
        tax_inclusive: l.tax_inclusive,
        period_start: l.period_start,
        period_end: l.period_end,
        period_start_date: l.period_start_date,
        period_end_date: l.period_end_date,
    }
}

pub fn view(r: InvoiceRow, lines: Vec<LineRow>) -> Invoice {
    Invoice {
        id: r.id,
        object: "invoice",
        number: r.number,
        customer: r.customer_id,
        subscription: r.subscription_id,
        status: r.status,
        billing_reason: r.billing_reason,
        currency: r.currency,
        period_start: r.period_start,
        period_end: r.period_end,
        subtotal: r.subtotal,
        total_discount: r.total_discount,
        total_tax: r.total_tax,
        total_net: r.total_net,
        total: r.total,
        credit_applied: r.credit_applied,
        credit_to_balance: r.credit_to_balance,
        amount_due: r.amount_due,
        amount_paid: r.amount_paid,
        amount_credited: r.amount_credited,
        amount_remaining: r.amount_remaining,
        tax_note: r.tax_note,
        memo: r.memo,
        lines: lines.into_iter().map(line_view).collect(),
        created: r.created_at,
        finalized_at: r.finalized_at,
        voided_at: r.voided_at,
        marked_uncollectible_at: r.marked_uncollectible_at,
        due_date: r.due_date,
    }
}

/// A preview of an invoice that has not been written: the exact lines and totals.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvoicePreview {
    pub object: &'static str,
    pub customer: String,
    pub subscription: Option<String>,
    pub currency: String,
    pub lines: Vec<InvoiceLine>,
    pub subtotal: i64,
    pub total_discount: i64,
    pub total_tax: i64,
    pub total: i64,
    pub credit_applied: i64,
    pub amount_due: i64,
    pub credit_to_balance: i64,
    pub tax_note: Option<String>,
}

pub fn preview_view(inv: &NewInvoice, now: DateTime<Utc>) -> InvoicePreview {
    let (row, lines) = rows_of("preview", inv, now);
    let v = view(row, lines);
    InvoicePreview {
        object: "invoice_preview",
        customer: v.customer,
        subscription: v.subscription,
        currency: v.currency,
        lines: v
            .lines
            .into_iter()
            .map(|mut l| {
                l.id = String::new();
                l
            })
            .collect(),
        subtotal: v.subtotal,
        total_discount: v.total_discount,
        total_tax: v.total_tax,
        total: v.total,
        credit_applied: v.credit_applied,
        amount_due: v.amount_due,
        credit_to_balance: v.credit_to_balance,
        tax_note: v.tax_note,
    }
}

pub async fn load(tx: &mut Tx, org: &str, id: &str) -> Result<Invoice> {
    let row = store::invoices::get(tx, org, id)
        .await?
        .ok_or_else(|| AppError::not_found("invoice", id))?;
    let lines = store::invoices::lines(tx, org, id).await?;
    Ok(view(row, lines))
}

pub async fn get(db: &Db, ctx: &Ctx, id: &str) -> Result<Invoice> {
    parse_id("id", id, InvoiceId::parse)?;
    let mut tx = db.read().await?;
    load(&mut tx, &ctx.org_id, id).await
}

pub async fn list(
    db: &Db,
    ctx: &Ctx,
    customer: Option<&str>,
    subscription: Option<&str>,
    status: Option<&str>,
    starting_after: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<Invoice>> {
    let limit = page_limit(limit)?;
    if let Some(s) = status {
        if !["draft", "open", "paid", "void", "uncollectible"].contains(&s) {
            return Err(AppError::invalid(
                "status",
                format!("unknown status {s:?}: use draft, open, paid, void or uncollectible"),
            ));
        }
    }
    let mut tx = db.read().await?;
    list_in(
        &mut tx,
        ctx,
        customer,
        subscription,
        status,
        starting_after,
        limit,
    )
    .await
}

/// [`list`] in `tx`, `status` already checked: the page's invoices with their lines, read in
/// two statements.
pub(crate) async fn list_in(
    tx: &mut Tx,
    ctx: &Ctx,
    customer: Option<&str>,
    subscription: Option<&str>,
    status: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Page<Invoice>> {
    let rows = store::invoices::list(
        tx,
        &ctx.org_id,
        customer,
        subscription,
        status,
        starting_after,
        limit + 1,
    )
    .await?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut lines: HashMap<String, Vec<LineRow>> = HashMap::new();
    for l in store::invoices::lines_of(tx, &ctx.org_id, &ids).await? {
        lines.entry(l.invoice_id.clone()).or_default().push(l);
    }
    let out = rows
        .into_iter()
        .map(|r| {
            let ls = lines.remove(&r.id).unwrap_or_default();
            view(r, ls)
        })
        .collect();
    Ok(Page::from_rows(out, limit))
}

// ---------------------------------------------------------------------------------------
// One-off invoices

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineCreate {
    pub description: Option<String>,
    /// A price (recurring or one-time) to charge for `quantity`; or give `amount`.
    pub price: Option<String>,
    pub quantity: Option<i64>,
    /// Minor units; may be negative for a manual adjustment.
    pub amount: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceCreate {
    pub customer: String,
    /// Must equal the customer's billing currency if given.
    pub currency: Option<String>,
    #[serde(default)]
    pub lines: Vec<LineCreate>,
    /// Coupons to apply to this invoice.
    #[serde(default)]
    pub coupons: Vec<String>,
    pub memo: Option<String>,
    /// Finalize at once (default false: stays a draft).
    #[serde(default)]
    pub finalize: bool,
}

pub const MAX_QUANTITY: i64 = 1_000_000_000;
pub const MAX_AMOUNT: i64 = 100_000_000_000_000;

/// Turns requested lines into billing lines, pricing the ones given by price.
async fn one_off_lines(
    tx: &mut Tx,
    org: &str,
    currency: &str,
    input: &[LineCreate],
    param: &str,
) -> Result<Vec<LineInput>> {
    let ids: Vec<String> = input.iter().filter_map(|l| l.price.clone()).collect();
    for (i, l) in input.iter().enumerate() {
        if let Some(p) = &l.price {
            parse_id(&format!("{param}[{i}].price"), p, PriceId::parse)?;
        }
    }
    let prices: BTreeMap<String, LoadedPrice> = crate::catalog::load_prices(tx, org, &ids).await?;
    let mut out = Vec::with_capacity(input.len());
    for (i, l) in input.iter().enumerate() {
        let p = format!("{param}[{i}]");
        let quantity = l.quantity.unwrap_or(1);
        if !(0..=MAX_QUANTITY).contains(&quantity) {
            return Err(AppError::invalid(
                format!("{p}.quantity"),
                format!("quantity must be between 0 and {MAX_QUANTITY}, got {quantity}"),
            ));
        }
        match (&l.price, l.amount) {
            (Some(pid), None) => {
                let price = prices
                    .get(pid)
                    .ok_or_else(|| AppError::not_found("price", pid))?;
                if !price.row.active {
                    return Err(AppError::invalid(
                        format!("{p}.price"),
                        format!("price {pid} is archived"),
                    ));
                }
                let model = price.model(currency).ok_or_else(|| {
                    AppError::invalid(format!("{p}.price"), format!("price {pid} has no amount in {currency}, the customer's billing currency"))
                })?;
                let amount = model
                    .amount(Decimal::from(quantity))
                    .map_err(|e| AppError::billing(format!("{p}.quantity"), e))?;
                out.push(LineInput {
                    kind: LineKind::OneOff,
                    description: l
                        .description
                        .clone()
                        .unwrap_or_else(|| format!("{} × {quantity}", price.product_name)),
                    product: billing::ids::ProductId::parse(&price.row.product_id).ok(),
                    price: PriceId::parse(pid).ok(),
                    quantity: Decimal::from(quantity),
                    amount,
                    period: None,
                    tax_inclusive: price.row.tax_behavior == "inclusive",
                });
            }
            (None, Some(amount)) => {
                if amount.abs() > MAX_AMOUNT {
                    return Err(AppError::invalid(
                        format!("{p}.amount"),
                        format!("amount {amount} is out of range"),
                    ));
                }
                let description = l
                    .description
                    .clone()
                    .filter(|d| !d.trim().is_empty())
                    .ok_or_else(|| AppError::missing(&format!("{p}.description")))?;
                out.push(LineInput {
                    kind: LineKind::OneOff,
                    description,
                    product: None,
                    price: None,
                    quantity: Decimal::from(quantity),
                    amount: amount.checked_mul(quantity).ok_or_else(|| {
                        AppError::invalid(format!("{p}.amount"), "amount × quantity overflows")
                    })?,
                    period: None,
                    tax_inclusive: false,
                });
            }
            _ => return Err(AppError::invalid(p, "give exactly one of price and amount")),
        }
    }
    Ok(out)
}

/// Creates a one-off invoice (a draft unless `finalize`).
pub async fn create(db: &Db, ctx: &Ctx, input: &InvoiceCreate) -> Result<Invoice> {
    parse_id("customer", &input.customer, CustomerId::parse)?;
    if input.lines.is_empty() {
        return Err(AppError::missing("lines"));
    }
    if input.lines.len() > 500 {
        return Err(AppError::invalid(
            "lines",
            "an invoice has at most 500 lines",
        ));
    }
    let mut tx = db.begin().await?;
    if input.finalize {
        lock_numbering(&mut tx, &ctx.org_id, ctx.now).await?;
    }
    let customer = store::customers::get_for_update(&mut tx, &ctx.org_id, &input.customer)
        .await?
        .ok_or_else(|| AppError::not_found("customer", &input.customer))?;
    if let Some(c) = &input.currency {
        let c = Currency::parse(c).map_err(|e| AppError::billing("currency", e))?;
        if c.code() != customer.currency {
            return Err(AppError::invalid(
                "currency",
                format!(
                    "customer {} bills in {}, not {}",
                    customer.id,
                    customer.currency,
                    c.code()
                ),
            ));
        }
    }
    let lines = one_off_lines(
        &mut tx,
        &ctx.org_id,
        &customer.currency,
        &input.lines,
        "lines",
    )
    .await?;
    let mut discounts = coupons_as_discounts(&mut tx, ctx, &customer, &input.coupons).await?;
    let treatment = treatment_of(&mut tx, &ctx.org_id, &customer).await?;
    let credit = if input.finalize {
        customer.credit_balance
    } else {
        0
    };
    let mut inv = build(
        &customer,
        None,
        "manual",
        None,
        None,
        lines,
        &mut discounts,
        true,
        &treatment,
        credit,
    )?;
    inv.memo = input.memo.clone();
    inv.discounts_used.clear();
    let rows = write(&mut tx, &ctx.org_id, ctx.now, &[inv], input.finalize).await?;
    let view = load(&mut tx, &ctx.org_id, &rows[0].id).await?;
    tx.commit().await?;
    Ok(view)
}

/// Coupons given with a request, as one-time discounts for this invoice only.
async fn coupons_as_discounts(
    tx: &mut Tx,
    ctx: &Ctx,
    customer: &CustomerRow,
    coupons: &[String],
) -> Result<Vec<ActiveDiscount>> {
    let mut out = Vec::new();
    for (i, id) in coupons.iter().enumerate() {
        parse_id(&format!("coupons[{i}]"), id, billing::ids::CouponId::parse)?;
        let c = store::catalog::get_coupon(tx, &ctx.org_id, id)
            .await?
            .ok_or_else(|| AppError::not_found("coupon", id))?;
        if let Some(cur) = &c.currency {
            if cur != &customer.currency {
                return Err(AppError::invalid(
                    format!("coupons[{i}]"),
                    format!(
                        "coupon {id} is in {cur}; the customer bills in {}",
                        customer.currency
                    ),
                ));
            }
        }
        let (rule, _) = coupon_rule(&c)?;
        out.push(ActiveDiscount {
            row: DiscountRow {
                id: String::new(),
                org_id: ctx.org_id.clone(),
                customer_id: customer.id.clone(),
                subscription_id: None,
                coupon_id: c.id.clone(),
                invoices_applied: 0,
                created_at: ctx.now,
                ended_at: None,
            },
            rule,
            duration: DiscountDuration::Once,
            currency: c.currency.clone(),
        });
    }
    Ok(out)
}

/// The tax treatment of one customer now.
pub async fn treatment_of(tx: &mut Tx, org: &str, customer: &CustomerRow) -> Result<TaxTreatment> {
    let setup = TaxSetup::load(tx, org).await?;
    let ids: Vec<String> = store::customers::tax_ids(tx, org, &customer.id)
        .await?
        .into_iter()
        .filter(|t| t.kind == "eu_vat")
        .map(|t| t.value)
        .collect();
    Ok(setup.treatment(customer, &ids))
}

/// Adds lines to a draft and recomputes it.
pub async fn add_lines(db: &Db, ctx: &Ctx, id: &str, lines: &[LineCreate]) -> Result<Invoice> {
    parse_id("id", id, InvoiceId::parse)?;
    let mut tx = db.begin().await?;
    let inv = store::invoices::get_for_update(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("invoice", id))?;
    if inv.status != "draft" {
        return Err(AppError::state(
            "invoice_not_draft",
            format!("invoice {id} is {}; only drafts change", inv.status),
        ));
    }
    // The coupons a draft was created with are not stored, only their amounts on the lines:
    // recomputing would silently drop them.
    if inv.total_discount != 0 {
        return Err(AppError::state(
            "invoice_has_discounts",
            format!(
                "invoice {id} carries discounts; delete it and create it again with all its lines"
            ),
        ));
    }
    let customer = store::customers::get(&mut tx, &ctx.org_id, &inv.customer_id)
        .await?
        .ok_or_else(|| AppError::not_found("customer", &inv.customer_id))?;
    let mut all = stored_lines_as_inputs(&store::invoices::lines(&mut tx, &ctx.org_id, id).await?);
    let added = one_off_lines(&mut tx, &ctx.org_id, &customer.currency, lines, "lines").await?;
    let added_prices: Vec<String> = added
        .iter()
        .filter_map(|l| l.price.as_ref().map(|p| p.to_string()))
        .collect();
    store::catalog::mark_prices_used(&mut tx, &ctx.org_id, &added_prices).await?;
    all.extend(added);
    if all.len() > 500 {
        return Err(AppError::invalid(
            "lines",
            "an invoice has at most 500 lines",
        ));
    }
    let treatment = treatment_of(&mut tx, &ctx.org_id, &customer).await?;
    let computed =
        compute_invoice(all, &[], &treatment, 0).map_err(|e| AppError::billing("lines", e))?;
    rewrite_draft(&mut tx, &ctx.org_id, inv, &treatment, computed, ctx.now).await?;
    let view = load(&mut tx, &ctx.org_id, id).await?;
    tx.commit().await?;
    Ok(view)
}

fn stored_lines_as_inputs(lines: &[LineRow]) -> Vec<LineInput> {
    lines
        .iter()
        .map(|l| LineInput {
            kind: LineKind::parse(&l.kind).unwrap_or(LineKind::OneOff),
            description: l.description.clone(),
            product: l
                .product_id
                .as_deref()
                .and_then(|p| billing::ids::ProductId::parse(p).ok()),
            price: l.price_id.as_deref().and_then(|p| PriceId::parse(p).ok()),
            quantity: l.quantity.parse().unwrap_or_default(),
            amount: l.amount,
            period: None,
            tax_inclusive: l.tax_inclusive,
        })
        .collect()
}

async fn rewrite_draft(
    tx: &mut Tx,
    org: &str,
    mut inv: InvoiceRow,
    treatment: &TaxTreatment,
    computed: ComputedInvoice,
    now: DateTime<Utc>,
) -> Result<()> {
    let tmp = NewInvoice {
        id: inv.id.clone(),
        customer_id: inv.customer_id.clone(),
        subscription_id: inv.subscription_id.clone(),
        billing_reason: "manual",
        billing_period_start: inv.billing_period_start,
        period: None,
        currency: inv.currency.clone(),
        computed,
        tax_rate: rate_of(treatment),
        memo: inv.memo.clone(),
        discounts_used: Vec::new(),
        // Only the draft's amounts are taken from this; `finalize` sets the due date from
        // the customer.
        time_zone: "UTC".into(),
        days_until_due: 0,
        charge_automatically: false,
    };
    let (row, lines) = rows_of(org, &tmp, now);
    inv.subtotal = row.subtotal;
    inv.total_discount = row.total_discount;
    inv.total_tax = row.total_tax;
    inv.total_net = row.total_net;
    inv.total = row.total;
    inv.credit_applied = 0;
    inv.credit_to_balance = row.credit_to_balance;
    inv.amount_due = row.amount_due;
    inv.amount_remaining = row.amount_due;
    inv.tax_note = row.tax_note;
    store::invoices::delete_lines(tx, org, &inv.id).await?;
    store::invoices::insert_lines(tx, &lines).await?;
    store::invoices::update(tx, &inv).await?;
    Ok(())
}

/// Finalizes a draft: applies the credit balance, takes the next number and posts it.
pub async fn finalize(db: &Db, ctx: &Ctx, id: &str) -> Result<Invoice> {
    parse_id("id", id, InvoiceId::parse)?;
    let mut tx = db.begin().await?;
    lock_numbering(&mut tx, &ctx.org_id, ctx.now).await?;
    let mut inv = store::invoices::get_for_update(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("invoice", id))?;
    if inv.status != "draft" {
        return Err(AppError::state(
            "invoice_not_draft",
            format!("invoice {id} is already {}", inv.status),
        ));
    }
    let customer = store::customers::get_for_update(&mut tx, &ctx.org_id, &inv.customer_id)
        .await?
        .ok_or_else(|| AppError::not_found("customer", &inv.customer_id))?;
    inv.credit_applied = customer.credit_balance.min(inv.total.max(0));
    inv.credit_to_balance = (-inv.total).max(0);
    inv.amount_due = (inv.total - inv.credit_applied).max(0);
    inv.amount_remaining = inv.amount_due;
    let first = take_invoice_numbers(&mut tx, &ctx.org_id, ctx.now, 1).await?;
    let (mut txs, mut entries) = (Vec::new(), Vec::new());
    inv.number = Some(number(&series("INV", ctx.now.year()), first));
    finalize_row(
        &mut inv,
        ctx.now,
        due_date(ctx.now, &customer.time_zone, customer.days_until_due)?,
        &mut txs,
        &mut entries,
    );
    store::invoices::update(&mut tx, &inv).await?;
    store::ledger::insert(&mut tx, &txs, &entries).await?;
    if customer.collection_method == "charge_automatically" && inv.amount_due > 0 {
        let task = crate::jobs::Task::ChargeInvoice {
            invoice: inv.id.clone(),
        };
        crate::jobs::enqueue(&mut tx, &ctx.org_id, &[task], ctx.now).await?;
    }
    let data = crate::events::InvoiceSnapshot::of(&inv, &customer.collection_method);
    crate::events::emit(
        &mut tx,
        ctx,
        "invoice.finalized",
        Some(&inv.customer_id),
        &inv.id,
        &data,
    )
    .await?;
    if inv.status == "paid" {
        crate::events::emit(
            &mut tx,
            ctx,
            "invoice.paid",
            Some(&inv.customer_id),
            &inv.id,
            &data,
        )
        .await?;
    }
    store::customers::add_credit_balance(
        &mut tx,
        &ctx.org_id,
        &inv.customer_id,
        inv.credit_to_balance - inv.credit_applied,
    )
    .await?;
    let view = load(&mut tx, &ctx.org_id, id).await?;
    tx.commit().await?;
    Ok(view)
}

/// Deletes a draft (drafts have no number and post nothing).
pub async fn delete_draft(db: &Db, ctx: &Ctx, id: &str) -> Result<()> {
    parse_id("id", id, InvoiceId::parse)?;
    let mut tx = db.begin().await?;
    let inv = store::invoices::get_for_update(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("invoice", id))?;
    if inv.status != "draft" || inv.billing_period_start.is_some() {
        return Err(AppError::state(
            "invoice_not_deletable",
            format!(
                "invoice {id} is {}; only one-off drafts can be deleted",
                inv.status
            ),
        ));
    }
    store::invoices::delete_lines(&mut tx, &ctx.org_id, id).await?;
    store::invoices::delete(&mut tx, &ctx.org_id, id).await?;
    tx.commit().await?;
    Ok(())
}

/// Voids an open invoice with nothing paid or credited; reverses its posting.
pub async fn void(db: &Db, ctx: &Ctx, id: &str) -> Result<Invoice> {
    parse_id("id", id, InvoiceId::parse)?;
    let mut tx = db.begin().await?;
    let mut inv = store::invoices::get_for_update(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("invoice", id))?;
    store::customers::get_for_update(&mut tx, &ctx.org_id, &inv.customer_id).await?;
    let voidable = inv.status == "open" || (inv.status == "paid" && inv.amount_due == 0);
    // A credit note on a paid invoice goes to the credit balance without touching
    // amount_credited, so look for credit notes themselves: voiding after one would give
    // the customer the same money twice.
    let has_credit_notes = !store::invoices::credited_per_line(&mut tx, &ctx.org_id, id)
        .await?
        .is_empty();
    if !voidable || inv.amount_paid != 0 || inv.amount_credited != 0 || has_credit_notes {
        return Err(AppError::state(
            "invoice_not_voidable",
            format!("invoice {id} is {} with {} paid and {} credited; only an open invoice with no payment or credit note can be voided — issue a credit note instead", inv.status, inv.amount_paid, inv.amount_credited),
        ));
    }
    let posting =
        billing::ledger::invoice_finalized(inv.total_net, inv.total_tax, inv.credit_applied)
            .reversed();
    let meta = TxMeta {
        org_id: &ctx.org_id,
        kind: "invoice_voided",
        customer_id: &inv.customer_id,
        invoice_id: Some(id),
        credit_note_id: None,
        payment_id: None,
        refund_id: None,
        currency: &inv.currency,
        at: ctx.now,
    };
    crate::ledger::write(&mut tx, &meta, &posting).await?;
    store::customers::add_credit_balance(
        &mut tx,
        &ctx.org_id,
        &inv.customer_id,
        inv.credit_applied - inv.credit_to_balance,
    )
    .await
    .map_err(|e| match e {
        store::StoreError::Db(_) if inv.credit_to_balance > 0 => AppError::state(
            "credit_already_used",
            format!(
                "invoice {id} put {} on the credit balance, which has since been used",
                inv.credit_to_balance
            ),
        ),
        other => other.into(),
    })?;
    inv.status = "void".into();
    inv.voided_at = Some(ctx.now);
    inv.amount_remaining = 0;
    store::invoices::update(&mut tx, &inv).await?;
    crate::events::emit_invoice(&mut tx, ctx, "invoice.voided", &inv).await?;
    let view = load(&mut tx, &ctx.org_id, id).await?;
    tx.commit().await?;
    Ok(view)
}

/// Writes off what remains of an open invoice to bad debt.
pub async fn mark_uncollectible(db: &Db, ctx: &Ctx, id: &str) -> Result<Invoice> {
    parse_id("id", id, InvoiceId::parse)?;
    let mut tx = db.begin().await?;
    let mut inv = store::invoices::get_for_update(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("invoice", id))?;
    if inv.status != "open" {
        return Err(AppError::state(
            "invoice_not_open",
            format!(
                "invoice {id} is {}; only open invoices can be marked uncollectible",
                inv.status
            ),
        ));
    }
    let meta = TxMeta {
        org_id: &ctx.org_id,
        kind: "write_off",
        customer_id: &inv.customer_id,
        invoice_id: Some(id),
        credit_note_id: None,
        payment_id: None,
        refund_id: None,
        currency: &inv.currency,
        at: ctx.now,
    };
    crate::ledger::write(
        &mut tx,
        &meta,
        &billing::ledger::write_off(inv.amount_remaining),
    )
    .await?;
    inv.status = "uncollectible".into();
    inv.marked_uncollectible_at = Some(ctx.now);
    store::invoices::update(&mut tx, &inv).await?;
    crate::events::emit_invoice(&mut tx, ctx, "invoice.marked_uncollectible", &inv).await?;
    let view = load(&mut tx, &ctx.org_id, id).await?;
    tx.commit().await?;
    Ok(view)
}

// ---------------------------------------------------------------------------------------
// Credit notes

pub const CREDIT_REASONS: &[&str] = &[
    "billing_error",
    "duplicate",
    "product_unsatisfactory",
    "goodwill",
    "order_change",
    "fraudulent",
];

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditNoteLineCreate {
    pub invoice_line: String,
    /// Tax-inclusive amount to credit, minor units; omit to credit all that remains of the line.
    pub amount: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditNoteCreate {
    pub invoice: String,
    /// billing_error, duplicate, product_unsatisfactory, goodwill, order_change or fraudulent.
    pub reason: String,
    pub memo: Option<String>,
    /// Lines to credit; omit to credit everything that remains on the invoice.
    pub lines: Option<Vec<CreditNoteLineCreate>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreditNoteLine {
    pub id: String,
    pub invoice_line: String,
    pub amount: i64,
    pub net_amount: i64,
    pub tax_amount: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreditNote {
    pub id: String,
    pub object: &'static str,
    pub number: String,
    pub invoice: String,
    pub customer: String,
    pub reason: String,
    pub memo: Option<String>,
    pub currency: String,
    pub total: i64,
    pub total_net: i64,
    pub total_tax: i64,
    /// Taken off the invoice's amount remaining.
    pub amount_to_invoice: i64,
    /// Added to the customer's credit balance.
    pub amount_to_credit_balance: i64,
    pub lines: Vec<CreditNoteLine>,
    pub created: DateTime<Utc>,
}

fn cn_view(r: CreditNoteRow, lines: Vec<CreditNoteLineRow>) -> CreditNote {
    CreditNote {
        id: r.id,
        object: "credit_note",
        number: r.number,
        invoice: r.invoice_id,
        customer: r.customer_id,
        reason: r.reason,
        memo: r.memo,
        currency: r.currency,
        total: r.total,
        total_net: r.total_net,
        total_tax: r.total_tax,
        amount_to_invoice: r.amount_to_invoice,
        amount_to_credit_balance: r.amount_to_credit_balance,
        lines: lines
            .into_iter()
            .map(|l| CreditNoteLine {
                id: l.id,
                invoice_line: l.invoice_line_id,
                amount: l.amount,
                net_amount: l.net_amount,
                tax_amount: l.tax_amount,
            })
            .collect(),
        created: r.created_at,
    }
}

/// Issues a credit note against an open or paid invoice. Never credits more than was
/// invoiced on any line (the invoice row lock serializes concurrent credit notes).
pub async fn create_credit_note(
    db: &Db,
    ctx: &Ctx,
    input: &CreditNoteCreate,
) -> Result<CreditNote> {
    parse_id("invoice", &input.invoice, InvoiceId::parse)?;
    if !CREDIT_REASONS.contains(&input.reason.as_str()) {
        return Err(AppError::invalid(
            "reason",
            format!(
                "unknown reason {:?}: use one of {}",
                input.reason,
                CREDIT_REASONS.join(", ")
            ),
        ));
    }
    let mut tx = db.begin().await?;
    let mut inv = store::invoices::get_for_update(&mut tx, &ctx.org_id, &input.invoice)
        .await?
        .ok_or_else(|| AppError::not_found("invoice", &input.invoice))?;
    if inv.status != "open" && inv.status != "paid" {
        return Err(AppError::state(
            "invoice_not_creditable",
            format!(
                "invoice {} is {}; credit notes apply to open or paid invoices",
                inv.id, inv.status
            ),
        ));
    }
    store::customers::get_for_update(&mut tx, &ctx.org_id, &inv.customer_id).await?;
    let lines = store::invoices::lines(&mut tx, &ctx.org_id, &inv.id).await?;
    let credited: BTreeMap<String, (i64, i64)> =
        store::invoices::credited_per_line(&mut tx, &ctx.org_id, &inv.id)
            .await?
            .into_iter()
            .map(|(l, a, t)| (l, (a, t)))
            .collect();
    let requested: Vec<(String, Option<i64>)> = match &input.lines {
        Some(ls) => {
            if ls.is_empty() {
                return Err(AppError::missing("lines"));
            }
            ls.iter()
                .map(|l| (l.invoice_line.clone(), l.amount))
                .collect()
        }
        None => lines
            .iter()
            .filter(|l| l.total > 0)
            .map(|l| (l.id.clone(), None))
            .collect(),
    };
    let cn_id = new_id!(CreditNoteId).to_string();
    let mut cn_lines = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, (line_id, amount)) in requested.iter().enumerate() {
        let p = format!("lines[{i}]");
        let line = lines.iter().find(|l| &l.id == line_id).ok_or_else(|| {
            AppError::invalid(
                format!("{p}.invoice_line"),
                format!("invoice {} has no line {line_id}", inv.id),
            )
        })?;
        if !seen.insert(line_id.clone()) {
            return Err(AppError::invalid(
                format!("{p}.invoice_line"),
                format!("line {line_id} is given twice"),
            ));
        }
        let (already_total, already_tax) = credited.get(line_id).copied().unwrap_or((0, 0));
        let remaining = line.total - already_total;
        let amount = amount.unwrap_or(remaining);
        if amount <= 0 {
            if input.lines.is_none() {
                continue;
            }
            return Err(AppError::invalid(
                format!("{p}.amount"),
                format!("amount must be positive; line {line_id} has {remaining} left to credit"),
            ));
        }
        let c = billing::invoice::credit_line(
            line.total,
            line.tax_amount,
            already_total,
            already_tax,
            amount,
        )
        .map_err(|e| {
            AppError::invalid(
                format!("{p}.amount"),
                format!(
                    "{e}: line {line_id} invoiced {}, already credited {already_total}",
                    line.total
                ),
            )
        })?;
        cn_lines.push(CreditNoteLineRow {
            id: new_id!(CreditNoteLineId).to_string(),
            org_id: ctx.org_id.clone(),
            credit_note_id: cn_id.clone(),
            invoice_line_id: line_id.clone(),
            amount: c.amount,
            net_amount: c.net,
            tax_amount: c.tax,
        });
    }
    if cn_lines.is_empty() {
        return Err(AppError::state(
            "nothing_to_credit",
            format!("invoice {} has nothing left to credit", inv.id),
        ));
    }
    let total: i64 = cn_lines.iter().map(|l| l.amount).sum();
    let net: i64 = cn_lines.iter().map(|l| l.net_amount).sum();
    let tax: i64 = cn_lines.iter().map(|l| l.tax_amount).sum();
    let remaining = if inv.status == "open" {
        inv.amount_remaining
    } else {
        0
    };
    let to_invoice = total.min(remaining);
    let to_balance = total - to_invoice;
    let first =
        store::invoices::take_numbers(&mut tx, &ctx.org_id, &series("CN", ctx.now.year()), 1)
            .await?;
    let cn = CreditNoteRow {
        id: cn_id.clone(),
        org_id: ctx.org_id.clone(),
        invoice_id: inv.id.clone(),
        customer_id: inv.customer_id.clone(),
        number: number(&series("CN", ctx.now.year()), first),
        reason: input.reason.clone(),
        memo: input.memo.clone(),
        currency: inv.currency.clone(),
        total,
        total_net: net,
        total_tax: tax,
        amount_to_invoice: to_invoice,
        amount_to_credit_balance: to_balance,
        created_at: ctx.now,
    };
    store::invoices::insert_credit_note(&mut tx, &cn, &cn_lines).await?;
    let meta = TxMeta {
        org_id: &ctx.org_id,
        kind: "credit_note",
        customer_id: &inv.customer_id,
        invoice_id: Some(&inv.id),
        credit_note_id: Some(&cn_id),
        payment_id: None,
        refund_id: None,
        currency: &inv.currency,
        at: ctx.now,
    };
    crate::ledger::write(
        &mut tx,
        &meta,
        &billing::ledger::credit_note(net, tax, remaining),
    )
    .await?;
    store::customers::add_credit_balance(&mut tx, &ctx.org_id, &inv.customer_id, to_balance)
        .await?;
    inv.amount_credited += to_invoice;
    inv.amount_remaining -= to_invoice;
    if inv.status == "open" && inv.amount_remaining == 0 {
        inv.status = "paid".into();
    }
    store::invoices::update(&mut tx, &inv).await?;
    let data = serde_json::json!({
        "object": "credit_note",
        "id": cn.id,
        "number": cn.number,
        "invoice": cn.invoice_id,
        "customer": cn.customer_id,
        "reason": cn.reason,
        "currency": cn.currency,
        "total": cn.total,
        "amount_to_invoice": cn.amount_to_invoice,
        "amount_to_credit_balance": cn.amount_to_credit_balance,
    });
    crate::events::emit(
        &mut tx,
        ctx,
        "credit_note.created",
        Some(&cn.customer_id),
        &cn.id,
        &data,
    )
    .await?;
    tx.commit().await?;
    Ok(cn_view(cn, cn_lines))
}

pub async fn get_credit_note(db: &Db, ctx: &Ctx, id: &str) -> Result<CreditNote> {
    parse_id("id", id, CreditNoteId::parse)?;
    let mut tx = db.read().await?;
    let r = store::invoices::get_credit_note(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("credit_note", id))?;
    let lines = store::invoices::credit_note_lines(&mut tx, &ctx.org_id, id).await?;
    Ok(cn_view(r, lines))
}

pub async fn list_credit_notes(
    db: &Db,
    ctx: &Ctx,
    invoice: Option<&str>,
    customer: Option<&str>,
    starting_after: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<CreditNote>> {
    let limit = page_limit(limit)?;
    let mut tx = db.read().await?;
    let rows = store::invoices::list_credit_notes(
        &mut tx,
        &ctx.org_id,
        invoice,
        customer,
        starting_after,
        limit + 1,
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let lines = store::invoices::credit_note_lines(&mut tx, &ctx.org_id, &r.id).await?;
        out.push(cn_view(r, lines));
    }
    Ok(Page::from_rows(out, limit))
}
