//! Payment methods, payments with their allocations to invoices, and refunds.

use crate::{Result, Tx};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct PaymentMethodRow {
    pub id: String,
    pub org_id: String,
    pub customer_id: String,
    pub kind: String,
    pub gateway: Option<String>,
    pub gateway_token: Option<String>,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub card_exp_month: Option<i64>,
    pub card_exp_year: Option<i64>,
    pub bank_name: Option<String>,
    pub bank_last4: Option<String>,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub detached_at: Option<DateTime<Utc>>,
}

const PM_COLS: &str = "id, org_id, customer_id, kind, gateway, gateway_token, card_brand, card_last4, card_exp_month, \
    card_exp_year, bank_name, bank_last4, is_default, created_at, detached_at";

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct PaymentRow {
    pub id: String,
    pub org_id: String,
    pub customer_id: String,
    pub payment_method_id: Option<String>,
    pub method: String,
    pub status: String,
    pub currency: String,
    pub amount: i64,
    pub amount_applied: i64,
    pub amount_refunded: i64,
    pub invoice_id: Option<String>,
    pub gateway: Option<String>,
    pub gateway_reference: Option<String>,
    pub reference: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const PAY_COLS: &str = "id, org_id, customer_id, payment_method_id, method, status, currency, amount, amount_applied, \
    amount_refunded, invoice_id, gateway, gateway_reference, reference, failure_code, failure_message, created_at, updated_at";

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct AllocationRow {
    pub payment_id: String,
    pub invoice_id: String,
    pub org_id: String,
    pub amount: i64,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct RefundRow {
    pub id: String,
    pub org_id: String,
    pub payment_id: String,
    pub customer_id: String,
    pub status: String,
    pub currency: String,
    pub amount: i64,
    pub reason: String,
    pub gateway_reference: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const REFUND_COLS: &str =
    "id, org_id, payment_id, customer_id, status, currency, amount, reason, gateway_reference, \
    failure_message, created_at, updated_at";

// --- payment methods ---------------------------------------------------------------------

pub async fn insert_method(tx: &mut Tx, r: &PaymentMethodRow) -> Result<()> {
    let sql = format!("INSERT INTO payment_methods ({PM_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)");
    on!(tx, c => sqlx::query(&sql)
        .bind(&r.id).bind(&r.org_id).bind(&r.customer_id).bind(&r.kind).bind(&r.gateway).bind(&r.gateway_token)
        .bind(&r.card_brand).bind(&r.card_last4).bind(r.card_exp_month).bind(r.card_exp_year).bind(&r.bank_name)
        .bind(&r.bank_last4).bind(r.is_default).bind(r.created_at).bind(r.detached_at)
        .execute(c).await.map_err(crate::StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

pub async fn get_method(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<PaymentMethodRow>> {
    let sql = format!("SELECT {PM_COLS} FROM payment_methods WHERE org_id = $1 AND id = $2");
    Ok(
        on!(tx, c => sqlx::query_as::<_, PaymentMethodRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// Attached (not detached) methods of a customer, newest first.
pub async fn methods_of(
    tx: &mut Tx,
    org_id: &str,
    customer_id: &str,
) -> Result<Vec<PaymentMethodRow>> {
    let sql = format!(
        "SELECT {PM_COLS} FROM payment_methods WHERE org_id = $1 AND customer_id = $2 AND detached_at IS NULL ORDER BY id DESC"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, PaymentMethodRow>(&sql).bind(org_id).bind(customer_id).fetch_all(c).await?),
    )
}

/// The customer's default method, if any.
pub async fn default_method(
    tx: &mut Tx,
    org_id: &str,
    customer_id: &str,
) -> Result<Option<PaymentMethodRow>> {
    let sql = format!(
        "SELECT {PM_COLS} FROM payment_methods WHERE org_id = $1 AND customer_id = $2 AND is_default AND detached_at IS NULL"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, PaymentMethodRow>(&sql).bind(org_id).bind(customer_id).fetch_optional(c).await?),
    )
}

/// Makes `id` the customer's only default (or none, with `id` None).
pub async fn set_default(
    tx: &mut Tx,
    org_id: &str,
    customer_id: &str,
    id: Option<&str>,
) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE payment_methods SET is_default = FALSE WHERE org_id = $1 AND customer_id = $2 AND is_default")
        .bind(org_id).bind(customer_id).execute(c).await?.rows_affected());
    if let Some(id) = id {
        on!(tx, c => sqlx::query("UPDATE payment_methods SET is_default = TRUE WHERE org_id = $1 AND id = $2")
            .bind(org_id).bind(id).execute(c).await.map_err(crate::StoreError::from_sqlx)?.rows_affected());
    }
    Ok(())
}

pub async fn detach_method(tx: &mut Tx, org_id: &str, id: &str, at: DateTime<Utc>) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE payment_methods SET detached_at = $3, is_default = FALSE WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(at).execute(c).await?.rows_affected());
    Ok(())
}

// --- payments ----------------------------------------------------------------------------

pub async fn insert_payment(tx: &mut Tx, r: &PaymentRow) -> Result<()> {
    let sql = format!("INSERT INTO payments ({PAY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)");
    on!(tx, c => sqlx::query(&sql)
        .bind(&r.id).bind(&r.org_id).bind(&r.customer_id).bind(&r.payment_method_id).bind(&r.method).bind(&r.status)
        .bind(&r.currency).bind(r.amount).bind(r.amount_applied).bind(r.amount_refunded).bind(&r.invoice_id)
        .bind(&r.gateway).bind(&r.gateway_reference).bind(&r.reference).bind(&r.failure_code).bind(&r.failure_message)
        .bind(r.created_at).bind(r.updated_at)
        .execute(c).await.map_err(crate::StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

/// A payment, locked for the rest of the transaction when `lock`.
pub async fn get_payment(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    lock: bool,
) -> Result<Option<PaymentRow>> {
    let sql = format!(
        "SELECT {PAY_COLS} FROM payments WHERE org_id = $1 AND id = $2{}",
        if lock { tx.for_update() } else { "" }
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, PaymentRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// Writes a payment's mutable fields (status, amounts, gateway outcome).
pub async fn update_payment(tx: &mut Tx, r: &PaymentRow) -> Result<()> {
    on!(tx, c => sqlx::query(
        "UPDATE payments SET status = $3, amount_applied = $4, amount_refunded = $5, gateway_reference = $6, \
         failure_code = $7, failure_message = $8, updated_at = $9 WHERE org_id = $1 AND id = $2")
        .bind(&r.org_id).bind(&r.id).bind(&r.status).bind(r.amount_applied).bind(r.amount_refunded)
        .bind(&r.gateway_reference).bind(&r.failure_code).bind(&r.failure_message).bind(r.updated_at)
        .execute(c).await.map_err(crate::StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

pub async fn list_payments(
    tx: &mut Tx,
    org_id: &str,
    customer_id: Option<&str>,
    invoice_id: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<PaymentRow>> {
    let cus = crate::db::eq_if("customer_id", 2, customer_id.is_some());
    let sql = format!(
        "SELECT {PAY_COLS} FROM payments WHERE org_id = $1 AND {cus} \
         AND (CAST($3 AS TEXT) IS NULL OR id IN (SELECT id FROM payments WHERE invoice_id = $3 \
              UNION SELECT payment_id FROM payment_allocations WHERE invoice_id = $3)) \
         AND (CAST($4 AS TEXT) IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, PaymentRow>(&sql).bind(org_id).bind(customer_id).bind(invoice_id)
        .bind(starting_after).bind(limit).fetch_all(c).await?),
    )
}

/// The pending payment of an invoice, if one is waiting for the gateway.
pub async fn pending_of_invoice(
    tx: &mut Tx,
    org_id: &str,
    invoice_id: &str,
) -> Result<Option<PaymentRow>> {
    let sql = format!(
        "SELECT {PAY_COLS} FROM payments WHERE org_id = $1 AND invoice_id = $2 AND status = 'pending' ORDER BY id LIMIT 1"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, PaymentRow>(&sql).bind(org_id).bind(invoice_id).fetch_optional(c).await?),
    )
}

pub async fn insert_allocations(tx: &mut Tx, rows: &[AllocationRow]) -> Result<()> {
    for r in rows {
        on!(tx, c => sqlx::query("INSERT INTO payment_allocations (payment_id, invoice_id, org_id, amount) VALUES ($1, $2, $3, $4)")
            .bind(&r.payment_id).bind(&r.invoice_id).bind(&r.org_id).bind(r.amount)
            .execute(c).await.map_err(crate::StoreError::from_sqlx)?.rows_affected());
    }
    Ok(())
}

pub async fn allocations_of(
    tx: &mut Tx,
    org_id: &str,
    payment_id: &str,
) -> Result<Vec<AllocationRow>> {
    Ok(on!(tx, c => sqlx::query_as::<_, AllocationRow>(
        "SELECT payment_id, invoice_id, org_id, amount FROM payment_allocations WHERE org_id = $1 AND payment_id = $2 ORDER BY invoice_id")
        .bind(org_id).bind(payment_id).fetch_all(c).await?))
}

/// The allocations of many payments, by payment, each by invoice id.
pub async fn allocations_of_payments(
    tx: &mut Tx,
    org_id: &str,
    payment_ids: &[String],
) -> Result<Vec<AllocationRow>> {
    if payment_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(select_in!(
        tx,
        AllocationRow,
        "SELECT payment_id, invoice_id, org_id, amount FROM payment_allocations WHERE org_id = ",
        org_id,
        "payment_id",
        payment_ids,
        " ORDER BY payment_id, invoice_id"
    ))
}

/// Ids of a customer's open invoices in `currency` with something left to pay, oldest
/// finalized first.
pub async fn payable_invoices(
    tx: &mut Tx,
    org_id: &str,
    customer_id: &str,
    currency: &str,
) -> Result<Vec<String>> {
    Ok(on!(tx, c => sqlx::query_scalar::<_, String>(
        "SELECT id FROM invoices WHERE org_id = $1 AND customer_id = $2 AND currency = $3 AND status = 'open' \
         AND amount_remaining > 0 ORDER BY finalized_at, id")
        .bind(org_id).bind(customer_id).bind(currency).fetch_all(c).await?))
}

// --- refunds -----------------------------------------------------------------------------

pub async fn insert_refund(tx: &mut Tx, r: &RefundRow) -> Result<()> {
    let sql = format!("INSERT INTO refunds ({REFUND_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)");
    on!(tx, c => sqlx::query(&sql)
        .bind(&r.id).bind(&r.org_id).bind(&r.payment_id).bind(&r.customer_id).bind(&r.status).bind(&r.currency)
        .bind(r.amount).bind(&r.reason).bind(&r.gateway_reference).bind(&r.failure_message).bind(r.created_at)
        .bind(r.updated_at)
        .execute(c).await.map_err(crate::StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

pub async fn get_refund(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    lock: bool,
) -> Result<Option<RefundRow>> {
    let sql = format!(
        "SELECT {REFUND_COLS} FROM refunds WHERE org_id = $1 AND id = $2{}",
        if lock { tx.for_update() } else { "" }
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, RefundRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

pub async fn update_refund(tx: &mut Tx, r: &RefundRow) -> Result<()> {
    on!(tx, c => sqlx::query(
        "UPDATE refunds SET status = $3, gateway_reference = $4, failure_message = $5, updated_at = $6 WHERE org_id = $1 AND id = $2")
        .bind(&r.org_id).bind(&r.id).bind(&r.status).bind(&r.gateway_reference).bind(&r.failure_message).bind(r.updated_at)
        .execute(c).await?.rows_affected());
    Ok(())
}

pub async fn list_refunds(
    tx: &mut Tx,
    org_id: &str,
    payment_id: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<RefundRow>> {
    let sql = format!(
        "SELECT {REFUND_COLS} FROM refunds WHERE org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR payment_id = $2) \
         AND (CAST($3 AS TEXT) IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, RefundRow>(&sql).bind(org_id).bind(payment_id).bind(starting_after)
        .bind(limit).fetch_all(c).await?),
    )
}

/// What is left on one open invoice, with what aging needs of its customer.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenAmountRow {
    pub invoice_id: String,
    pub customer_id: String,
    pub collection_method: String,
    pub customer_name: String,
    pub time_zone: String,
    pub currency: String,
    pub due_date: Option<chrono::NaiveDate>,
    pub finalized_at: Option<DateTime<Utc>>,
    pub amount_remaining: i64,
}

/// Open invoices with something left to pay, of the organisation or one customer.
pub async fn open_amounts(
    tx: &mut Tx,
    org_id: &str,
    customer_id: Option<&str>,
) -> Result<Vec<OpenAmountRow>> {
    Ok(on!(tx, c => sqlx::query_as::<_, OpenAmountRow>(
        "SELECT i.id AS invoice_id, i.customer_id, c.collection_method, c.name AS customer_name, c.time_zone, i.currency, i.due_date, i.finalized_at, i.amount_remaining \
         FROM invoices i JOIN customers c ON c.id = i.customer_id AND c.org_id = i.org_id \
         WHERE i.org_id = $1 AND i.status = 'open' AND i.amount_remaining > 0 AND (CAST($2 AS TEXT) IS NULL OR i.customer_id = $2) \
         ORDER BY i.customer_id, i.currency, i.id")
        .bind(org_id).bind(customer_id).fetch_all(c).await?))
}

// --- due-date agreements -------------------------------------------------------------------

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct InstalmentRow {
    pub org_id: String,
    pub invoice_id: String,
    pub seq: i64,
    pub due_date: chrono::NaiveDate,
    pub amount: i64,
}

/// Records a due-date change of an invoice.
#[allow(clippy::too_many_arguments)]
pub async fn insert_due_change(
    tx: &mut Tx,
    id: &str,
    org_id: &str,
    invoice_id: &str,
    kind: &str,
    from: Option<chrono::NaiveDate>,
    to: chrono::NaiveDate,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    on!(tx, c => sqlx::query(
        "INSERT INTO invoice_due_changes (id, org_id, invoice_id, kind, from_date, to_date, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(id).bind(org_id).bind(invoice_id).bind(kind).bind(from).bind(to).bind(reason).bind(at)
        .execute(c).await.map_err(crate::StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

/// Replaces an invoice's payment plan.
pub async fn replace_plan(
    tx: &mut Tx,
    org_id: &str,
    invoice_id: &str,
    rows: &[InstalmentRow],
) -> Result<()> {
    on!(tx, c => sqlx::query("DELETE FROM payment_plan_instalments WHERE org_id = $1 AND invoice_id = $2")
        .bind(org_id).bind(invoice_id).execute(c).await?.rows_affected());
    for r in rows {
        on!(tx, c => sqlx::query("INSERT INTO payment_plan_instalments (org_id, invoice_id, seq, due_date, amount) VALUES ($1, $2, $3, $4, $5)")
            .bind(&r.org_id).bind(&r.invoice_id).bind(r.seq).bind(r.due_date).bind(r.amount)
            .execute(c).await.map_err(crate::StoreError::from_sqlx)?.rows_affected());
    }
    Ok(())
}

/// Instalments of the organisation's plans (of one invoice, if given), by invoice and order.
pub async fn plans(
    tx: &mut Tx,
    org_id: &str,
    invoice_id: Option<&str>,
) -> Result<Vec<InstalmentRow>> {
    Ok(on!(tx, c => sqlx::query_as::<_, InstalmentRow>(
        "SELECT org_id, invoice_id, seq, due_date, amount FROM payment_plan_instalments \
         WHERE org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR invoice_id = $2) ORDER BY invoice_id, seq")
        .bind(org_id).bind(invoice_id).fetch_all(c).await?))
}

/// What credit notes of an invoice put on the credit balance.
pub async fn credited_to_balance(tx: &mut Tx, org_id: &str, invoice_id: &str) -> Result<i64> {
    Ok(on!(tx, c => sqlx::query_scalar::<_, i64>(
        "SELECT CAST(COALESCE(SUM(amount_to_credit_balance), 0) AS BIGINT) FROM credit_notes WHERE org_id = $1 AND invoice_id = $2")
        .bind(org_id).bind(invoice_id).fetch_one(c).await?))
}

/// Open invoices of a subscription with something left to pay.
pub async fn open_invoices_of_subscription(
    tx: &mut Tx,
    org_id: &str,
    subscription_id: &str,
) -> Result<i64> {
    Ok(on!(tx, c => sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM invoices WHERE org_id = $1 AND subscription_id = $2 AND status = 'open' AND amount_remaining > 0")
        .bind(org_id).bind(subscription_id).fetch_one(c).await?))
}

// --- batch charging (`app::collect`) -------------------------------------------------------
//
// The same rows as above, read and written a batch at a time: lookups by id lists
// (`select_in!`), inserts through `bulk` (COPY on PostgreSQL, one prepared statement
// stepped per row on SQLite), updates as one `UPDATE … FROM UNNEST(…)` on PostgreSQL and a
// prepared single-row `UPDATE` per row on SQLite.

impl crate::bulk::Row for PaymentRow {
    const TARGET: &'static str = "payments (id, org_id, customer_id, payment_method_id, method, status, currency, amount, \
        amount_applied, amount_refunded, invoice_id, gateway, gateway_reference, reference, failure_code, failure_message, \
        created_at, updated_at)";
    const COLUMNS: usize = 18;
    fn put<O: crate::bulk::Out>(&self, o: &mut O) {
        fields!(o; self.id, self.org_id, self.customer_id, self.payment_method_id, self.method, self.status,
            self.currency, self.amount, self.amount_applied, self.amount_refunded, self.invoice_id, self.gateway,
            self.gateway_reference, self.reference, self.failure_code, self.failure_message, self.created_at,
            self.updated_at);
    }
}

impl crate::bulk::Row for AllocationRow {
    const TARGET: &'static str = "payment_allocations (payment_id, invoice_id, org_id, amount)";
    const COLUMNS: usize = 4;
    fn put<O: crate::bulk::Out>(&self, o: &mut O) {
        fields!(o; self.payment_id, self.invoice_id, self.org_id, self.amount);
    }
}

/// Inserts payments in bulk.
pub async fn insert_payments(tx: &mut Tx, rows: &[PaymentRow]) -> Result<u64> {
    crate::bulk::insert(tx, rows).await
}

/// Inserts allocations in bulk.
pub async fn insert_allocation_rows(tx: &mut Tx, rows: &[AllocationRow]) -> Result<u64> {
    crate::bulk::insert(tx, rows).await
}

/// (id, status) of the organisation's payments among `ids`, in id order, locked for the
/// rest of the transaction (PostgreSQL; SQLite's write transaction holds the database).
pub async fn payment_statuses_for_update(
    tx: &mut Tx,
    org_id: &str,
    ids: &[String],
) -> Result<Vec<(String, String)>> {
    let tail = format!(" ORDER BY id{}", tx.for_update());
    crate::bulk::in_rows(
        tx,
        "SELECT id, status FROM payments WHERE org_id = ",
        org_id,
        "id",
        ids,
        &tail,
    )
    .await
}

/// Writes the mutable fields of many payments (as [`update_payment`] does for one). On
/// PostgreSQL the rows are found through the primary key as in [`pay_in_full`].
pub async fn update_payments(tx: &mut Tx, rows: &[PaymentRow]) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    match tx {
        Tx::Pg(t) => Ok(pg_unnest!(
            &mut **t,
            "UPDATE payments AS p SET status = u.status, amount_applied = u.amount_applied, \
             amount_refunded = u.amount_refunded, gateway_reference = u.gateway_reference, \
             failure_code = u.failure_code, failure_message = u.failure_message, updated_at = u.updated_at \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::text[], $7::text[], \
                         $8::text[], $9::timestamptz[]) \
                  AS u(org_id, id, status, amount_applied, amount_refunded, gateway_reference, failure_code, \
                       failure_message, updated_at) \
             WHERE p.org_id = u.org_id AND p.id = u.id AND p.id = ANY(ARRAY(SELECT UNNEST($2::text[])))",
            rows,
            |r: &PaymentRow| r.org_id.clone(),
            |r: &PaymentRow| r.id.clone(),
            |r: &PaymentRow| r.status.clone(),
            |r: &PaymentRow| r.amount_applied,
            |r: &PaymentRow| r.amount_refunded,
            |r: &PaymentRow| r.gateway_reference.clone(),
            |r: &PaymentRow| r.failure_code.clone(),
            |r: &PaymentRow| r.failure_message.clone(),
            |r: &PaymentRow| r.updated_at,
        )),
        Tx::Sqlite(_) => {
            crate::bulk::sqlite_each(
                tx,
                "UPDATE payments SET status = ?3, amount_applied = ?4, amount_refunded = ?5, gateway_reference = ?6, \
                 failure_code = ?7, failure_message = ?8, updated_at = ?9 WHERE org_id = ?1 AND id = ?2",
                rows,
                |r, o| {
                    fields!(o; r.org_id, r.id, r.status, r.amount_applied, r.amount_refunded, r.gateway_reference,
                        r.failure_code, r.failure_message, r.updated_at);
                },
            )
            .await
        }
    }
}

/// An invoice to charge, with its customer's default card (if the default method is a card)
/// and whether a card payment of it is pending at the gateway.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChargeableRow {
    #[sqlx(flatten)]
    pub invoice: crate::invoices::InvoiceRow,
    pub method_id: Option<String>,
    pub method_gateway: Option<String>,
    pub method_token: Option<String>,
    pub pending: bool,
}

impl crate::bulk::SqliteRead for ChargeableRow {
    fn read_from(row: &rusqlite::Row<'_>, i: &mut usize) -> rusqlite::Result<Self> {
        use crate::bulk::Get;
        let invoice = crate::invoices::InvoiceRow::read_from(row, i)?;
        let mut next = || {
            *i += 1;
            *i - 1
        };
        Ok(ChargeableRow {
            invoice,
            method_id: Get::get(row, next())?,
            method_gateway: Get::get(row, next())?,
            method_token: Get::get(row, next())?,
            pending: Get::get(row, next())?,
        })
    }
}

/// The columns of `invoices::InvoiceRow`, of the invoice `i`.
const INVOICE_COLS: &str = "i.id, i.org_id, i.customer_id, i.subscription_id, i.billing_reason, i.billing_period_start, \
    i.period_start, i.period_end, i.status, i.currency, i.number, i.subtotal, i.total_discount, i.total_tax, i.total_net, \
    i.total, i.credit_applied, i.credit_to_balance, i.amount_due, i.amount_paid, i.amount_credited, i.amount_remaining, \
    i.tax_note, i.memo, i.created_at, i.finalized_at, i.voided_at, i.marked_uncollectible_at, i.due_date";

/// `FOR UPDATE OF i` on PostgreSQL (the invoices only, not the rows joined to them).
fn lock_invoices(backend: crate::Backend) -> &'static str {
    match backend {
        crate::Backend::Postgres => " FOR UPDATE OF i",
        crate::Backend::Sqlite => "",
    }
}

/// The open invoices with something left to pay among `ids`, locked (in id order, on
/// PostgreSQL) for the rest of the transaction, with what charging them needs.
///
/// The pending-payment test looks payments up by invoice id alone (an invoice id is unique
/// across organisations, and the invoice is the organisation's): with `p.org_id = i.org_id`
/// too, PostgreSQL without statistics combined the invoice index with the organisation's
/// (`BitmapAnd`), reading every payment of the organisation once per invoice — 2,020
/// invoices against 20,000 payments 1,818 ms, against 18 ms without.
pub async fn chargeable_for_update(
    tx: &mut Tx,
    org_id: &str,
    ids: &[String],
) -> Result<Vec<ChargeableRow>> {
    let (head, tail) = chargeable_sql(tx.backend());
    crate::bulk::in_rows(tx, &head, org_id, "i.id", ids, &tail).await
}

/// [`chargeable_for_update`]'s statement around its `org_id = ? AND i.id IN (ids)` test.
fn chargeable_sql(backend: crate::Backend) -> (String, String) {
    let head = format!(
        "SELECT {INVOICE_COLS}, m.id AS method_id, m.gateway AS method_gateway, m.gateway_token AS method_token, \
         EXISTS (SELECT 1 FROM payments p WHERE p.invoice_id = i.id AND p.status = 'pending') AS pending \
         FROM invoices i LEFT JOIN payment_methods m ON m.customer_id = i.customer_id \
              AND m.org_id = i.org_id AND m.is_default AND m.detached_at IS NULL AND m.kind = 'card' \
         WHERE i.org_id = "
    );
    let tail = format!(
        " AND i.status = 'open' AND i.amount_remaining > 0 ORDER BY i.id{}",
        lock_invoices(backend)
    );
    (head, tail)
}

/// An invoice a card payment pays in full, as the payment found it when it was made.
#[derive(Debug, Clone)]
pub struct PayInFull {
    pub id: String,
    pub currency: String,
    /// The payment's amount: what was left to pay.
    pub amount: i64,
    pub amount_paid: i64,
    pub amount_credited: i64,
}

/// An invoice [`pay_in_full`] marked paid, with what the payment's events and follow-up
/// need: its due date (which may have been extended since), the customer's collection
/// method (None only if the customer row is missing, which `verify` reports) and the
/// subscription's status.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaidInFull {
    pub id: String,
    pub due_date: Option<chrono::NaiveDate>,
    pub collection_method: Option<String>,
    pub subscription_status: Option<String>,
}

crate::sqlite_read!(PaidInFull {
    id,
    due_date,
    collection_method,
    subscription_status,
});

/// Marks the organisation's invoices of `rows` paid — the payment added to the amount
/// paid, nothing remaining — each only if it is still exactly as its payment found it:
/// open, in the payment's currency, the payment's amount remaining, nothing more paid or
/// credited. Returns the invoices marked paid (any order); the others are left untouched
/// for the caller to settle the general way.
///
/// The rule is checked by the update itself (compare and set), which locks each row it
/// updates, so no locked read of the invoices comes first. On PostgreSQL one statement
/// over unnested arrays, whose rows are found through the primary key (`i.id =
/// ANY(ARRAY(SELECT UNNEST(ids)))`: joined to the unnested rows alone, the planner hashed
/// the whole table, read by a sequential scan — 2,000 of 100,000 invoices: 213–238 ms
/// against 93–107 ms); on SQLite one prepared statement stepped per invoice.
pub async fn pay_in_full(tx: &mut Tx, org_id: &str, rows: &[PayInFull]) -> Result<Vec<PaidInFull>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // The updated table by its own name, not an alias: SQLite's RETURNING knows no alias.
    let returning = "RETURNING invoices.id, invoices.due_date, \
         (SELECT c.collection_method FROM customers c WHERE c.id = invoices.customer_id) AS collection_method, \
         (SELECT s.status FROM subscriptions s WHERE s.id = invoices.subscription_id) AS subscription_status";
    match tx {
        Tx::Pg(t) => {
            let sql = format!(
                "UPDATE invoices SET amount_paid = invoices.amount_paid + u.amount, amount_remaining = 0, status = 'paid' \
                 FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[]) \
                      AS u(id, currency, amount, paid, credited) \
                 WHERE invoices.org_id = $1 AND invoices.id = u.id \
                   AND invoices.id = ANY(ARRAY(SELECT UNNEST($2::text[]))) \
                   AND invoices.status = 'open' AND invoices.currency = u.currency \
                   AND invoices.amount_remaining = u.amount AND invoices.amount_paid = u.paid \
                   AND invoices.amount_credited = u.credited {returning}"
            );
            let col = |f: fn(&PayInFull) -> String| rows.iter().map(f).collect::<Vec<_>>();
            let num = |f: fn(&PayInFull) -> i64| rows.iter().map(f).collect::<Vec<_>>();
            // Both sides of the join are estimated at a few rows (an array parameter's
            // length is unknown to the planner), so it chose a nested loop that rescans the
            // unnested rows for every invoice: 2,020 invoices 536–711 ms a batch. A hash
            // join takes 23 ms; nested loops are off for this statement only (the
            // transaction's setting is put back after it).
            let (was,): (String,) = sqlx::query_as("SELECT current_setting('enable_nestloop')")
                .fetch_one(&mut **t)
                .await?;
            sqlx::query("SET LOCAL enable_nestloop = off")
                .execute(&mut **t)
                .await?;
            let paid = sqlx::query_as::<_, PaidInFull>(&sql)
                .bind(org_id)
                .bind(col(|r| r.id.clone()))
                .bind(col(|r| r.currency.clone()))
                .bind(num(|r| r.amount))
                .bind(num(|r| r.amount_paid))
                .bind(num(|r| r.amount_credited))
                .fetch_all(&mut **t)
                .await?;
            sqlx::query("SELECT set_config('enable_nestloop', $1, true)")
                .bind(was)
                .execute(&mut **t)
                .await?;
            Ok(paid)
        }
        Tx::Sqlite(_) => {
            let sql = format!(
                "UPDATE invoices SET amount_paid = amount_paid + ?3, amount_remaining = 0, status = 'paid' \
                 WHERE org_id = ?1 AND id = ?2 AND status = 'open' AND currency = ?4 AND amount_remaining = ?3 \
                   AND amount_paid = ?5 AND amount_credited = ?6 {returning}"
            );
            crate::bulk::sqlite_each_rows(tx, &sql, rows, |r, o| {
                fields!(o; org_id, r.id, r.amount, r.currency, r.amount_paid, r.amount_credited);
            })
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoices::InvoiceRow;
    use crate::testing;
    use crate::Backend;

    /// On PostgreSQL, settling a batch of payments updates each invoice and payment
    /// heap-only (HOT: no index entries), for every row of a full page (migration 0016):
    /// no index holds a column a payment changes, and each page keeps half its room for new
    /// versions. Counted by PostgreSQL within the transaction.
    #[tokio::test]
    async fn settling_payments_updates_invoices_and_payments_heap_only_on_postgres() {
        let Some((db, _)) = testing::fresh(Backend::Postgres).await else {
            return;
        };
        let t = chrono::Utc::now();
        let n = 1000;
        let invoices: Vec<InvoiceRow> = (0..n)
            .map(|i| testing::open_invoice("org_a", "cus_a", &format!("inv_{i:05}"), 1190, t))
            .collect();
        let payments: Vec<PaymentRow> = invoices
            .iter()
            .map(|inv| PaymentRow {
                id: inv.id.replace("inv_", "pay_"),
                org_id: "org_a".into(),
                customer_id: "cus_a".into(),
                payment_method_id: None,
                method: "card".into(),
                status: "pending".into(),
                currency: "eur".into(),
                amount: 1190,
                amount_applied: 0,
                amount_refunded: 0,
                invoice_id: Some(inv.id.clone()),
                gateway: Some("sandbox".into()),
                gateway_reference: None,
                reference: None,
                failure_code: None,
                failure_message: None,
                created_at: t,
                updated_at: t,
            })
            .collect();
        let mut tx = db.begin().await.unwrap();
        crate::invoices::insert(&mut tx, &invoices).await.unwrap();
        insert_payments(&mut tx, &payments).await.unwrap();
        tx.commit().await.unwrap();

        let full: Vec<PayInFull> = invoices.iter().map(in_full).collect();
        let succeeded: Vec<PaymentRow> = payments
            .into_iter()
            .map(|p| PaymentRow {
                status: "succeeded".into(),
                amount_applied: 1190,
                gateway_reference: Some(format!("ch_{}", p.id)),
                ..p
            })
            .collect();
        let mut tx = db.begin().await.unwrap();
        assert_eq!(
            pay_in_full(&mut tx, "org_a", &full).await.unwrap().len(),
            n as usize
        );
        assert_eq!(update_payments(&mut tx, &succeeded).await.unwrap(), n);
        for table in ["invoices", "payments"] {
            let counts = testing::pg_hot_updates(&mut tx, table).await;
            assert_eq!(
                counts,
                (n as i64, n as i64),
                "{table}: (updated, heap-only)"
            );
        }
        tx.commit().await.unwrap();
    }

    /// What a payment of all that is left found on `inv`.
    fn in_full(inv: &InvoiceRow) -> PayInFull {
        PayInFull {
            id: inv.id.clone(),
            currency: inv.currency.clone(),
            amount: inv.amount_remaining,
            amount_paid: inv.amount_paid,
            amount_credited: inv.amount_credited,
        }
    }

    /// `pay_in_full` marks paid only the invoices still exactly as their payments found
    /// them, and leaves every other one as it is — on both backends.
    #[tokio::test]
    async fn paying_in_full_leaves_invoices_changed_since() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let Some((db, _)) = testing::fresh(backend).await else {
                continue;
            };
            let t = chrono::Utc::now();
            let mut tx = db.begin().await.unwrap();
            let (org, cus) = testing::org_and_customer(&mut tx, t).await;
            let invoices: Vec<InvoiceRow> = (0..6)
                .map(|i| testing::open_invoice(&org, &cus, &format!("inv_{i:05}"), 1190, t))
                .collect();
            crate::invoices::insert(&mut tx, &invoices).await.unwrap();
            tx.commit().await.unwrap();

            // What the payments found, then what changed before they were applied.
            let found: Vec<PayInFull> = invoices.iter().map(in_full).collect();
            let mut tx = db.begin().await.unwrap();
            for (id, change) in [
                ("inv_00001", "status = 'void'"),
                ("inv_00002", "amount_paid = 100, amount_remaining = 1090"),
                (
                    "inv_00003",
                    "amount_credited = 1190, amount_remaining = 0, status = 'paid'",
                ),
                ("inv_00004", "currency = 'usd'"),
            ] {
                let sql = format!("UPDATE invoices SET {change} WHERE id = '{id}'");
                on!(&mut tx, c => sqlx::query(&sql).execute(c).await.unwrap().rows_affected());
            }
            tx.commit().await.unwrap();

            let mut tx = db.begin().await.unwrap();
            // Asked for by another organisation, an unchanged invoice is left alone.
            assert!(pay_in_full(&mut tx, "org_other", &found)
                .await
                .unwrap()
                .is_empty());
            let mut paid = pay_in_full(&mut tx, &org, &found).await.unwrap();
            tx.commit().await.unwrap();
            paid.sort_by(|a, b| a.id.cmp(&b.id));
            let ids: Vec<&str> = paid.iter().map(|p| p.id.as_str()).collect();
            assert_eq!(ids, ["inv_00000", "inv_00005"], "{backend:?}");
            for p in &paid {
                assert_eq!(p.collection_method.as_deref(), Some("charge_automatically"));
                assert_eq!(p.subscription_status, None);
                assert_eq!(p.due_date, invoices[0].due_date);
            }

            let mut tx = db.read().await.unwrap();
            for inv in &invoices {
                let i = crate::invoices::get(&mut tx, &org, &inv.id)
                    .await
                    .unwrap()
                    .expect("invoice");
                let (status, paid_, remaining, credited) = match i.id.as_str() {
                    "inv_00000" | "inv_00005" => ("paid", 1190, 0, 0),
                    "inv_00001" => ("void", 0, 1190, 0),
                    "inv_00002" => ("open", 100, 1090, 0),
                    "inv_00003" => ("paid", 0, 0, 1190),
                    _ => ("open", 0, 1190, 0),
                };
                assert_eq!(
                    (
                        i.status.as_str(),
                        i.amount_paid,
                        i.amount_remaining,
                        i.amount_credited
                    ),
                    (status, paid_, remaining, credited),
                    "{backend:?} {}",
                    i.id
                );
            }
        }
    }

    /// On PostgreSQL a charge batch's pending-payment test reads payments by invoice id
    /// alone: with the organisation's id as well, a table without statistics (as after a
    /// large import) was read by `BitmapAnd` of the invoice and organisation indexes, every
    /// payment of the organisation once per invoice.
    #[tokio::test]
    async fn the_pending_payment_test_reads_payments_by_invoice_on_postgres() {
        let Some((db, _)) = testing::fresh(Backend::Postgres).await else {
            return;
        };
        // The organisation's earlier payments (no statistics gathered).
        let mut tx = db.begin().await.unwrap();
        on!(&mut tx, c => sqlx::query(
            "INSERT INTO payments (id, org_id, customer_id, method, status, currency, amount, \
             amount_applied, amount_refunded, invoice_id, created_at, updated_at) \
             SELECT 'pay_' || n, 'org_a', 'cus_a', 'card', 'succeeded', 'eur', 100, 100, 0, \
             'inv_old' || n, now(), now() FROM generate_series(1, 20000) AS n",
        )
        .execute(c)
        .await
        .unwrap()
        .rows_affected());
        tx.commit().await.unwrap();
        let (head, tail) = chargeable_sql(Backend::Postgres);
        let sql = format!("{head}$1 AND i.id = ANY(ARRAY[$2, $3]){tail}");
        let params = [
            testing::Param::Text("org_a"),
            testing::Param::Text("inv_00001"),
            testing::Param::Text("inv_00002"),
        ];
        let plan = testing::pg_plan(&db, &sql, &params).await;
        let scans = testing::pg_scans_of(&plan, "payments");
        assert!(!scans.is_empty(), "no scan of payments in {plan}");
        for (node, cond) in scans {
            assert!(
                cond.contains("invoice_id") && !cond.contains("org_id"),
                "{node} of payments by {cond:?}"
            );
        }
    }
}
