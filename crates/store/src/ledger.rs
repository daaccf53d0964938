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

pub async fn insert(tx: &mut Tx, txs: &[TransactionRow], entries: &[EntryRow]) -> Result<()> {
    if let Tx::Pg(t) = tx {
        pg_unnest!(&mut **t, "INSERT INTO ledger_transactions (id, org_id, kind, customer_id, invoice_id, credit_note_id, currency, created_at) \
            SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])", txs,
            |r| r.id.clone(), |r| r.org_id.clone(), |r| r.kind.clone(), |r| r.customer_id.clone(), |r| r.invoice_id.clone(),
            |r| r.credit_note_id.clone(), |r| r.currency.clone(), |r| r.created_at);
        pg_unnest!(&mut **t, "INSERT INTO ledger_entries (org_id, transaction_id, account, customer_id, currency, debit, credit) \
            SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[])", entries,
            |r| r.org_id.clone(), |r| r.transaction_id.clone(), |r| r.account.clone(), |r| r.customer_id.clone(),
            |r| r.currency.clone(), |r| r.debit, |r| r.credit);
        return Ok(());
    }
    insert_rows!(tx, "INSERT INTO ledger_transactions (id, org_id, kind, customer_id, invoice_id, credit_note_id, currency, created_at) ", txs, 1000, |b, r| {
        b.push_bind(&r.id).push_bind(&r.org_id).push_bind(&r.kind).push_bind(&r.customer_id).push_bind(&r.invoice_id)
            .push_bind(&r.credit_note_id).push_bind(&r.currency).push_bind(r.created_at);
    });
    insert_rows!(tx, "INSERT INTO ledger_entries (org_id, transaction_id, account, customer_id, currency, debit, credit) ", entries, 1000, |b, r| {
        b.push_bind(&r.org_id).push_bind(&r.transaction_id).push_bind(&r.account).push_bind(&r.customer_id)
            .push_bind(&r.currency).push_bind(r.debit).push_bind(r.credit);
    });
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
