//! Invoices, their lines, credit notes, and gapless number series.

use crate::{Result, Tx};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct InvoiceRow {
    pub id: String,
    pub org_id: String,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    pub billing_reason: String,
    pub billing_period_start: Option<DateTime<Utc>>,
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    pub status: String,
    pub currency: String,
    pub number: Option<String>,
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
    pub created_at: DateTime<Utc>,
    pub finalized_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
    pub marked_uncollectible_at: Option<DateTime<Utc>>,
    /// The customer's local date the invoice is due (set when finalized).
    pub due_date: Option<NaiveDate>,
}

crate::sqlite_read!(InvoiceRow {
    id,
    org_id,
    customer_id,
    subscription_id,
    billing_reason,
    billing_period_start,
    period_start,
    period_end,
    status,
    currency,
    number,
    subtotal,
    total_discount,
    total_tax,
    total_net,
    total,
    credit_applied,
    credit_to_balance,
    amount_due,
    amount_paid,
    amount_credited,
    amount_remaining,
    tax_note,
    memo,
    created_at,
    finalized_at,
    voided_at,
    marked_uncollectible_at,
    due_date,
});

const INV_COLS: &str = InvoiceRow::COLUMNS;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct LineRow {
    pub id: String,
    pub org_id: String,
    pub invoice_id: String,
    pub position: i64,
    pub kind: String,
    pub description: String,
    pub product_id: Option<String>,
    pub price_id: Option<String>,
    pub quantity: String,
    pub amount: i64,
    pub discount_amount: i64,
    pub tax_amount: i64,
    pub net_amount: i64,
    pub total: i64,
    pub tax_rate_id: Option<String>,
    pub tax_percentage: Option<String>,
    pub tax_inclusive: bool,
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    pub period_start_date: Option<NaiveDate>,
    pub period_end_date: Option<NaiveDate>,
}

const LINE_COLS: &str = "id, org_id, invoice_id, position, kind, description, product_id, price_id, quantity, amount, \
    discount_amount, tax_amount, net_amount, total, tax_rate_id, tax_percentage, tax_inclusive, period_start, period_end, \
    period_start_date, period_end_date";

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct CreditNoteRow {
    pub id: String,
    pub org_id: String,
    pub invoice_id: String,
    pub customer_id: String,
    pub number: String,
    pub reason: String,
    pub memo: Option<String>,
    pub currency: String,
    pub total: i64,
    pub total_net: i64,
    pub total_tax: i64,
    pub amount_to_invoice: i64,
    pub amount_to_credit_balance: i64,
    pub created_at: DateTime<Utc>,
}

const CN_COLS: &str = "id, org_id, invoice_id, customer_id, number, reason, memo, currency, total, total_net, total_tax, \
    amount_to_invoice, amount_to_credit_balance, created_at";

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct CreditNoteLineRow {
    pub id: String,
    pub org_id: String,
    pub credit_note_id: String,
    pub invoice_line_id: String,
    pub amount: i64,
    pub net_amount: i64,
    pub tax_amount: i64,
}

impl crate::bulk::Row for InvoiceRow {
    const TARGET: &'static str = "invoices (id, org_id, customer_id, subscription_id, billing_reason, billing_period_start, \
        period_start, period_end, status, currency, number, subtotal, total_discount, total_tax, total_net, total, \
        credit_applied, credit_to_balance, amount_due, amount_paid, amount_credited, amount_remaining, tax_note, memo, \
        created_at, finalized_at, voided_at, marked_uncollectible_at, due_date)";
    const COLUMNS: usize = 29;
    fn put<O: crate::bulk::Out>(&self, o: &mut O) {
        fields!(o; self.id, self.org_id, self.customer_id, self.subscription_id, self.billing_reason,
            self.billing_period_start, self.period_start, self.period_end, self.status, self.currency, self.number,
            self.subtotal, self.total_discount, self.total_tax, self.total_net, self.total, self.credit_applied,
            self.credit_to_balance, self.amount_due, self.amount_paid, self.amount_credited, self.amount_remaining,
            self.tax_note, self.memo, self.created_at, self.finalized_at, self.voided_at, self.marked_uncollectible_at,
            self.due_date);
    }
}

impl crate::bulk::Row for LineRow {
    const TARGET: &'static str = "invoice_lines (id, org_id, invoice_id, position, kind, description, product_id, price_id, \
        quantity, amount, discount_amount, tax_amount, net_amount, total, tax_rate_id, tax_percentage, tax_inclusive, \
        period_start, period_end, period_start_date, period_end_date)";
    const COLUMNS: usize = 21;
    fn put<O: crate::bulk::Out>(&self, o: &mut O) {
        fields!(o; self.id, self.org_id, self.invoice_id, self.position, self.kind, self.description, self.product_id,
            self.price_id, self.quantity, self.amount, self.discount_amount, self.tax_amount, self.net_amount, self.total,
            self.tax_rate_id, self.tax_percentage, self.tax_inclusive, self.period_start, self.period_end,
            self.period_start_date, self.period_end_date);
    }
}

/// Inserts invoices (COPY on PostgreSQL, prepared rows on SQLite); a second invoice for a
/// subscription period is [`crate::StoreError::Conflict`].
pub async fn insert(tx: &mut Tx, rows: &[InvoiceRow]) -> Result<u64> {
    crate::bulk::insert(tx, rows).await
}

pub async fn insert_lines(tx: &mut Tx, rows: &[LineRow]) -> Result<u64> {
    crate::bulk::insert(tx, rows).await
}

pub async fn get(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<InvoiceRow>> {
    let sql = format!("SELECT {INV_COLS} FROM invoices WHERE org_id = $1 AND id = $2");
    Ok(
        on!(tx, c => sqlx::query_as::<_, InvoiceRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// The numbers of the invoices of `ids` that exist (`None`: a draft), in one statement.
pub async fn numbers_of(
    tx: &mut Tx,
    org_id: &str,
    ids: &[String],
) -> Result<Vec<(String, Option<String>)>> {
    Ok(crate::select_in!(
        tx,
        (String, Option<String>),
        "SELECT id, number FROM invoices WHERE org_id = ",
        org_id,
        "id",
        ids,
        ""
    ))
}

/// A customer's newest open invoice (finalized last).
pub async fn newest_open(
    tx: &mut Tx,
    org_id: &str,
    customer_id: &str,
) -> Result<Option<InvoiceRow>> {
    let sql = format!("SELECT {INV_COLS} FROM invoices WHERE org_id = $1 AND customer_id = $2 AND status = 'open' ORDER BY finalized_at DESC, id DESC LIMIT 1");
    Ok(
        on!(tx, c => sqlx::query_as::<_, InvoiceRow>(&sql).bind(org_id).bind(customer_id).fetch_optional(c).await?),
    )
}

pub async fn get_for_update(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<InvoiceRow>> {
    let sql = format!(
        "SELECT {INV_COLS} FROM invoices WHERE org_id = $1 AND id = $2{}",
        tx.for_update()
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, InvoiceRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

pub async fn list(
    tx: &mut Tx,
    org_id: &str,
    customer_id: Option<&str>,
    subscription_id: Option<&str>,
    status: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<InvoiceRow>> {
    let cus = crate::db::eq_if("customer_id", 2, customer_id.is_some());
    let sql = format!("SELECT {INV_COLS} FROM invoices WHERE org_id = $1 AND {cus} \
        AND (CAST($3 AS TEXT) IS NULL OR subscription_id = $3) AND (CAST($4 AS TEXT) IS NULL OR status = $4) \
        AND (CAST($5 AS TEXT) IS NULL OR id < $5) ORDER BY id DESC LIMIT $6");
    Ok(
        on!(tx, c => sqlx::query_as::<_, InvoiceRow>(&sql).bind(org_id).bind(customer_id).bind(subscription_id).bind(status).bind(starting_after).bind(limit).fetch_all(c).await?),
    )
}

pub async fn lines(tx: &mut Tx, org_id: &str, invoice_id: &str) -> Result<Vec<LineRow>> {
    let sql = format!("SELECT {LINE_COLS} FROM invoice_lines WHERE org_id = $1 AND invoice_id = $2 ORDER BY position");
    Ok(
        on!(tx, c => sqlx::query_as::<_, LineRow>(&sql).bind(org_id).bind(invoice_id).fetch_all(c).await?),
    )
}

/// The lines of many invoices, by invoice, each in position order.
pub async fn lines_of(tx: &mut Tx, org_id: &str, invoice_ids: &[String]) -> Result<Vec<LineRow>> {
    if invoice_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(select_in!(
        tx,
        LineRow,
        format!("SELECT {LINE_COLS} FROM invoice_lines WHERE org_id = "),
        org_id,
        "invoice_id",
        invoice_ids,
        " ORDER BY invoice_id, position"
    ))
}

pub async fn delete_lines(tx: &mut Tx, org_id: &str, invoice_id: &str) -> Result<()> {
    on!(tx, c => sqlx::query("DELETE FROM invoice_lines WHERE org_id = $1 AND invoice_id = $2").bind(org_id).bind(invoice_id).execute(c).await?.rows_affected());
    Ok(())
}

/// Writes every mutable field of an invoice (status, number, totals, amounts, dates).
pub async fn update(tx: &mut Tx, r: &InvoiceRow) -> Result<()> {
    on!(tx, c => sqlx::query(
        "UPDATE invoices SET status = $3, number = $4, subtotal = $5, total_discount = $6, total_tax = $7, total_net = $8, \
         total = $9, credit_applied = $10, credit_to_balance = $11, amount_due = $12, amount_paid = $13, amount_credited = $14, \
         amount_remaining = $15, tax_note = $16, memo = $17, finalized_at = $18, voided_at = $19, marked_uncollectible_at = $20, \
         due_date = $21 WHERE org_id = $1 AND id = $2")
        .bind(&r.org_id).bind(&r.id).bind(&r.status).bind(&r.number).bind(r.subtotal).bind(r.total_discount).bind(r.total_tax)
        .bind(r.total_net).bind(r.total).bind(r.credit_applied).bind(r.credit_to_balance).bind(r.amount_due).bind(r.amount_paid)
        .bind(r.amount_credited).bind(r.amount_remaining).bind(&r.tax_note).bind(&r.memo).bind(r.finalized_at).bind(r.voided_at)
        .bind(r.marked_uncollectible_at).bind(r.due_date)
        .execute(c).await.map_err(crate::StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

/// Which of these (subscription, period start) pairs already have an invoice.
///
/// Only periods starting at or after `since` are looked at, so the answer does not grow with
/// each subscription's history. `since` is written into the SQL in the exact text form sqlx
/// binds timestamps with (RFC 3339, `+00:00`), which both backends compare correctly.
pub async fn existing_periods(
    tx: &mut Tx,
    org_id: &str,
    sub_ids: &[String],
    since: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>)>> {
    let tail = format!(
        " AND billing_period_start >= '{}'",
        since.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
    );
    Ok(select_in!(tx, (String, DateTime<Utc>), "SELECT subscription_id, billing_period_start FROM invoices WHERE billing_period_start IS NOT NULL AND org_id = ", org_id, "subscription_id", sub_ids, tail.as_str()))
}

/// Takes `count` consecutive numbers from a series, under the series row's lock (held until
/// the transaction ends, so numbers are gapless and in commit order). Returns the first.
pub async fn take_numbers(tx: &mut Tx, org_id: &str, series: &str, count: i64) -> Result<i64> {
    on!(tx, c => sqlx::query("INSERT INTO number_series (org_id, series, next_number) VALUES ($1, $2, 1) ON CONFLICT (org_id, series) DO NOTHING")
        .bind(org_id).bind(series).execute(c).await?.rows_affected());
    let next: i64 = on!(tx, c => sqlx::query_scalar("UPDATE number_series SET next_number = next_number + $3 WHERE org_id = $1 AND series = $2 RETURNING next_number")
        .bind(org_id).bind(series).bind(count).fetch_one(c).await?);
    Ok(next - count)
}

pub async fn insert_credit_note(
    tx: &mut Tx,
    cn: &CreditNoteRow,
    lines: &[CreditNoteLineRow],
) -> Result<()> {
    insert_rows!(
        tx,
        format!("INSERT INTO credit_notes ({CN_COLS}) "),
        std::slice::from_ref(cn),
        1,
        |b, r| {
            b.push_bind(&r.id)
                .push_bind(&r.org_id)
                .push_bind(&r.invoice_id)
                .push_bind(&r.customer_id)
                .push_bind(&r.number)
                .push_bind(&r.reason)
                .push_bind(&r.memo)
                .push_bind(&r.currency)
                .push_bind(r.total)
                .push_bind(r.total_net)
                .push_bind(r.total_tax)
                .push_bind(r.amount_to_invoice)
                .push_bind(r.amount_to_credit_balance)
                .push_bind(r.created_at);
        }
    );
    insert_rows!(tx, "INSERT INTO credit_note_lines (id, org_id, credit_note_id, invoice_line_id, amount, net_amount, tax_amount) ", lines, 1000, |b, r| {
        b.push_bind(&r.id).push_bind(&r.org_id).push_bind(&r.credit_note_id).push_bind(&r.invoice_line_id)
            .push_bind(r.amount).push_bind(r.net_amount).push_bind(r.tax_amount);
    });
    Ok(())
}

pub async fn get_credit_note(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<CreditNoteRow>> {
    let sql = format!("SELECT {CN_COLS} FROM credit_notes WHERE org_id = $1 AND id = $2");
    Ok(
        on!(tx, c => sqlx::query_as::<_, CreditNoteRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

pub async fn list_credit_notes(
    tx: &mut Tx,
    org_id: &str,
    invoice_id: Option<&str>,
    customer_id: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<CreditNoteRow>> {
    let sql = format!("SELECT {CN_COLS} FROM credit_notes WHERE org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR invoice_id = $2) \
        AND (CAST($3 AS TEXT) IS NULL OR customer_id = $3) AND (CAST($4 AS TEXT) IS NULL OR id < $4) ORDER BY id DESC LIMIT $5");
    Ok(
        on!(tx, c => sqlx::query_as::<_, CreditNoteRow>(&sql).bind(org_id).bind(invoice_id).bind(customer_id).bind(starting_after).bind(limit).fetch_all(c).await?),
    )
}

pub async fn credit_note_lines(
    tx: &mut Tx,
    org_id: &str,
    credit_note_id: &str,
) -> Result<Vec<CreditNoteLineRow>> {
    Ok(
        on!(tx, c => sqlx::query_as::<_, CreditNoteLineRow>("SELECT id, org_id, credit_note_id, invoice_line_id, amount, net_amount, tax_amount FROM credit_note_lines WHERE org_id = $1 AND credit_note_id = $2 ORDER BY id")
        .bind(org_id).bind(credit_note_id).fetch_all(c).await?),
    )
}

/// Per invoice line: (line id, total credited, tax credited) by all credit notes so far.
pub async fn credited_per_line(
    tx: &mut Tx,
    org_id: &str,
    invoice_id: &str,
) -> Result<Vec<(String, i64, i64)>> {
    Ok(on!(tx, c => sqlx::query_as::<_, (String, i64, i64)>(
        "SELECT l.invoice_line_id, CAST(SUM(l.amount) AS BIGINT), CAST(SUM(l.tax_amount) AS BIGINT) FROM credit_note_lines l \
         JOIN credit_notes n ON n.id = l.credit_note_id WHERE n.org_id = $1 AND n.invoice_id = $2 GROUP BY l.invoice_line_id")
        .bind(org_id).bind(invoice_id).fetch_all(c).await?))
}

/// Deletes a draft invoice row (its lines first, by the caller).
pub async fn delete(tx: &mut Tx, org_id: &str, id: &str) -> Result<()> {
    on!(tx, c => sqlx::query("DELETE FROM invoices WHERE org_id = $1 AND id = $2 AND status = 'draft'").bind(org_id).bind(id).execute(c).await?.rows_affected());
    Ok(())
}

/// (subscription, period start) of the invoices of a bill-run range's subscriptions for
/// periods starting at or after `since`. The organisation is fixed by the range's
/// subscriptions; testing `org_id` on invoices as well made SQLite scan the organisation's
/// invoices instead of using the `(subscription_id, billing_period_start)` key.
pub async fn range_existing_periods(
    tx: &mut Tx,
    r: &crate::subscriptions::DueRange,
    since: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>)>> {
    use crate::subscriptions::{among, DUE_IDS};
    let sql = format!(
        "SELECT subscription_id, billing_period_start FROM invoices WHERE billing_period_start >= $5 AND {}",
        among(tx.backend(), "subscription_id", DUE_IDS)
    );
    Ok(
        on!(tx, c => bind_range!(sqlx::query_as::<_, (String, DateTime<Utc>)>(&sql), r).bind(since).fetch_all(c).await?),
    )
}
