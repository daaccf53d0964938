//! Turning billing postings into ledger rows, and reading balances and entries.

use crate::util::parse_id;
use crate::{page_limit, AppError, Ctx, Page, Result};
use billing::ids::{CustomerId, LedgerTransactionId};
use billing::ledger::{AccountKind, Posting};
use serde::Serialize;
use store::customers::CustomerRow;
use store::ledger::{EntryRow, TransactionRow};
use store::{new_id, Db, Tx};
use utoipa::ToSchema;

/// What a ledger transaction records, and for whom.
pub struct TxMeta<'a> {
    pub org_id: &'a str,
    pub kind: &'static str,
    pub customer_id: &'a str,
    pub invoice_id: Option<&'a str>,
    pub credit_note_id: Option<&'a str>,
    pub payment_id: Option<&'a str>,
    pub refund_id: Option<&'a str>,
    pub currency: &'a str,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Appends one transaction's rows for `posting` to `txs` and `entries` (nothing for an empty
/// posting). Per-customer accounts carry the customer id.
pub fn post(
    meta: &TxMeta<'_>,
    posting: &Posting,
    txs: &mut Vec<TransactionRow>,
    entries: &mut Vec<EntryRow>,
) {
    if posting.is_empty() {
        return;
    }
    let id = new_id!(LedgerTransactionId).to_string();
    for e in posting.entries() {
        entries.push(EntryRow {
            org_id: meta.org_id.to_string(),
            transaction_id: id.clone(),
            account: e.account.as_str().to_string(),
            customer_id: e
                .account
                .per_customer()
                .then(|| meta.customer_id.to_string()),
            currency: meta.currency.to_string(),
            debit: e.amount.max(0),
            credit: (-e.amount).max(0),
        });
    }
    txs.push(TransactionRow {
        id,
        org_id: meta.org_id.to_string(),
        kind: meta.kind.to_string(),
        customer_id: Some(meta.customer_id.to_string()),
        invoice_id: meta.invoice_id.map(str::to_string),
        credit_note_id: meta.credit_note_id.map(str::to_string),
        payment_id: meta.payment_id.map(str::to_string),
        refund_id: meta.refund_id.map(str::to_string),
        currency: meta.currency.to_string(),
        created_at: meta.at,
    });
}

/// Writes one posting as its own transaction.
pub async fn write(tx: &mut Tx, meta: &TxMeta<'_>, posting: &Posting) -> Result<()> {
    let (mut txs, mut entries) = (Vec::new(), Vec::new());
    post(meta, posting, &mut txs, &mut entries);
    store::ledger::insert(tx, &txs, &entries).await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountBalance {
    /// receivable or customer_credit.
    pub account: String,
    pub currency: String,
    /// Debits − credits (receivable: owed by the customer; customer_credit: negative of the
    /// credit the customer holds).
    pub balance: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerBalance {
    pub object: &'static str,
    pub customer: String,
    pub currency: String,
    /// What the customer owes on open invoices (receivable).
    pub amount_owed: i64,
    /// Credit the customer can spend.
    pub credit_balance: i64,
    pub accounts: Vec<AccountBalance>,
}

pub async fn customer_balance(db: &Db, ctx: &Ctx, customer_id: &str) -> Result<CustomerBalance> {
    parse_id("id", customer_id, CustomerId::parse)?;
    let mut tx = db.read().await?;
    let c = store::customers::get(&mut tx, &ctx.org_id, customer_id)
        .await?
        .ok_or_else(|| AppError::not_found("customer", customer_id))?;
    balance_in(&mut tx, &c).await
}

/// [`customer_balance`] of a customer already read, in `tx`.
pub(crate) async fn balance_in(tx: &mut Tx, c: &CustomerRow) -> Result<CustomerBalance> {
    let rows = store::ledger::customer_balances(tx, &c.org_id, &c.id).await?;
    let get = |kind: AccountKind| {
        rows.iter()
            .filter(|r| r.0 == kind.as_str() && r.1 == c.currency)
            .map(|r| r.2)
            .sum::<i64>()
    };
    Ok(CustomerBalance {
        object: "customer_balance",
        customer: c.id.clone(),
        currency: c.currency.clone(),
        amount_owed: get(AccountKind::Receivable),
        credit_balance: -get(AccountKind::CustomerCredit),
        accounts: rows
            .into_iter()
            .map(|(account, currency, balance)| AccountBalance {
                account,
                currency,
                balance,
            })
            .collect(),
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LedgerEntry {
    pub id: i64,
    pub object: &'static str,
    pub transaction: String,
    /// invoice_finalized, invoice_voided, credit_note, write_off, …
    pub kind: String,
    pub invoice: Option<String>,
    pub credit_note: Option<String>,
    pub account: String,
    pub customer: Option<String>,
    pub currency: String,
    pub debit: i64,
    pub credit: i64,
    pub created: chrono::DateTime<chrono::Utc>,
}

/// Ledger entries of the organisation or of one customer, newest first.
pub async fn entries(
    db: &Db,
    ctx: &Ctx,
    customer_id: Option<&str>,
    starting_after: Option<i64>,
    limit: Option<i64>,
) -> Result<Page<LedgerEntry>> {
    let limit = page_limit(limit)?;
    if let Some(c) = customer_id {
        parse_id("customer", c, CustomerId::parse)?;
    }
    let mut tx = db.read().await?;
    let rows = store::ledger::entries(&mut tx, &ctx.org_id, customer_id, starting_after, limit + 1)
        .await?;
    let data = rows
        .into_iter()
        .map(|e| LedgerEntry {
            id: e.id,
            object: "ledger_entry",
            transaction: e.transaction_id,
            kind: e.kind,
            invoice: e.invoice_id,
            credit_note: e.credit_note_id,
            account: e.account,
            customer: e.customer_id,
            currency: e.currency,
            debit: e.debit,
            credit: e.credit,
            created: e.created_at,
        })
        .collect();
    Ok(Page::from_rows(data, limit))
}
