//! The double-entry ledger: transactions and their entries (debit or credit, never both).

use crate::{Result, Tx};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct TransactionRow {
    pub id: String,
    pub org_id: String,
    pub kind: String,
    pub customer_id: Option<String>,
    pub invoice_id: Option<String>,
    pub credit_note_id: Option<String>,
    pub payment_id: Option<String>,
    pub refund_id: Option<String>,
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct EntryRow {
    pub org_id: String,
    pub transaction_id: String,
    pub account: String,
    pub customer_id: Option<String>,
    pub currency: String,
    pub debit: i64,
    pub credit: i64,
}

impl crate::bulk::Row for TransactionRow {
    const TARGET: &'static str =
        "ledger_transactions (id, org_id, kind, customer_id, invoice_id, credit_note_id, payment_id, refund_id, currency, created_at)";
    const COLUMNS: usize = 10;
    fn put<O: crate::bulk::Out>(&self, o: &mut O) {
        fields!(o; self.id, self.org_id, self.kind, self.customer_id, self.invoice_id, self.credit_note_id,
            self.payment_id, self.refund_id, self.currency, self.created_at);
    }
}

impl crate::bulk::Row for EntryRow {
    const TARGET: &'static str =
        "ledger_entries (org_id, transaction_id, account, customer_id, currency, debit, credit)";
    const COLUMNS: usize = 7;
    fn put<O: crate::bulk::Out>(&self, o: &mut O) {
        fields!(o; self.org_id, self.transaction_id, self.account, self.customer_id, self.currency, self.debit,
            self.credit);
    }
}

pub async fn insert(tx: &mut Tx, txs: &[TransactionRow], entries: &[EntryRow]) -> Result<()> {
    crate::bulk::insert(tx, txs).await?;
    crate::bulk::insert(tx, entries).await?;
    Ok(())
}

/// A ledger entry with its transaction, for listing.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct EntryView {
    pub id: i64,
    pub transaction_id: String,
    pub kind: String,
    pub invoice_id: Option<String>,
    pub credit_note_id: Option<String>,
    pub account: String,
    pub customer_id: Option<String>,
    pub currency: String,
    pub debit: i64,
    pub credit: i64,
    pub created_at: DateTime<Utc>,
}

/// Entries of one customer's accounts (or of the whole organisation), newest first, paged by
/// entry id.
pub async fn entries(
    tx: &mut Tx,
    org_id: &str,
    customer_id: Option<&str>,
    starting_after: Option<i64>,
    limit: i64,
) -> Result<Vec<EntryView>> {
    Ok(on!(tx, c => sqlx::query_as::<_, EntryView>(
        "SELECT e.id, e.transaction_id, t.kind, t.invoice_id, t.credit_note_id, e.account, e.customer_id, e.currency, e.debit, e.credit, t.created_at \
         FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id \
         WHERE e.org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR t.customer_id = $2) AND (CAST($3 AS BIGINT) IS NULL OR e.id < $3) \
         ORDER BY e.id DESC LIMIT $4")
        .bind(org_id).bind(customer_id).bind(starting_after).bind(limit).fetch_all(c).await?))
}

/// Balance (debits − credits) per account of one customer: (account, currency, balance).
pub async fn customer_balances(
    tx: &mut Tx,
    org_id: &str,
    customer_id: &str,
) -> Result<Vec<(String, String, i64)>> {
    Ok(on!(tx, c => sqlx::query_as::<_, (String, String, i64)>(
        "SELECT account, currency, CAST(SUM(debit) - SUM(credit) AS BIGINT) FROM ledger_entries \
         WHERE org_id = $1 AND customer_id = $2 GROUP BY account, currency ORDER BY account, currency")
        .bind(org_id).bind(customer_id).fetch_all(c).await?))
}
