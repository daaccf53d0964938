//! Double-entry postings for every money movement (BILLING.md "Ledger").
//!
//! An entry's `amount` is signed: positive is a debit, negative a credit. Every posting
//! balances (entries sum to zero) and has no zero entries. Accounts are per organisation and
//! currency; receivable and customer_credit are also per customer.
//!
//! Amounts are bounded by what an invoice can hold (computed with checked arithmetic), so
//! the sums here do not overflow for any amount the other rules produce.

use serde::{Deserialize, Serialize};
use AccountKind::{BadDebt, Cash, CustomerCredit, Goodwill, Receivable, Revenue, TaxPayable};

/// The kind of a ledger account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// Asset, per customer: what the customer owes.
    Receivable,
    /// Liability, per customer: credit the customer can spend.
    CustomerCredit,
    Revenue,
    TaxPayable,
    /// Asset, per gateway.
    Cash,
    BadDebt,
    Goodwill,
}

impl AccountKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            AccountKind::Receivable => "receivable",
            AccountKind::CustomerCredit => "customer_credit",
            AccountKind::Revenue => "revenue",
            AccountKind::TaxPayable => "tax_payable",
            AccountKind::Cash => "cash",
            AccountKind::BadDebt => "bad_debt",
            AccountKind::Goodwill => "goodwill",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "receivable" => AccountKind::Receivable,
            "customer_credit" => AccountKind::CustomerCredit,
            "revenue" => AccountKind::Revenue,
            "tax_payable" => AccountKind::TaxPayable,
            "cash" => AccountKind::Cash,
            "bad_debt" => AccountKind::BadDebt,
            "goodwill" => AccountKind::Goodwill,
            _ => return None,
        })
    }
    /// Whether the account belongs to one customer.
    pub fn per_customer(&self) -> bool {
        matches!(self, AccountKind::Receivable | AccountKind::CustomerCredit)
    }
}

/// One line of a posting: signed amount, debit positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub account: AccountKind,
    pub amount: i64,
}

/// A balanced set of entries; the constructors below are the only way to make one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    entries: Vec<Entry>,
}

impl Posting {
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
    /// Drops zero entries; debug-asserts balance.
    fn new(entries: Vec<Entry>) -> Posting {
        let entries: Vec<Entry> = entries.into_iter().filter(|e| e.amount != 0).collect();
        debug_assert_eq!(balance(&entries), 0, "unbalanced posting {entries:?}");
        Posting { entries }
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The mirror posting (every entry negated), used when an invoice is voided.
    pub fn reversed(&self) -> Posting {
        Posting::new(
            self.entries
                .iter()
                .map(|e| Entry {
                    account: e.account,
                    amount: -e.amount,
                })
                .collect(),
        )
    }

    /// Sum of the entries on one kind of account (debit positive).
    pub fn net_of(&self, account: AccountKind) -> i64 {
        self.entries
            .iter()
            .filter(|e| e.account == account)
            .map(|e| e.amount)
            .sum()
    }
}

/// Finalizing an invoice of total T = net N + tax X, with credit C applied:
/// Dr receivable T; Cr revenue N; Cr tax_payable X; Dr customer_credit C; Cr receivable C.
/// A negative total additionally moves −T from receivable to customer_credit so the
/// receivable nets to zero (amount due 0) and the credit balance grows.
pub fn invoice_finalized(net: i64, tax: i64, credit_applied: i64) -> Posting {
    let total = net + tax;
    let mut entries = vec![dr(Receivable, total), cr(Revenue, net), cr(TaxPayable, tax)];
    entries.push(dr(CustomerCredit, credit_applied));
    entries.push(cr(Receivable, credit_applied));
    if total < 0 {
        entries.push(dr(Receivable, -total));
        entries.push(cr(CustomerCredit, -total));
    }
    Posting::new(entries)
}

/// A credit note A = a + x on an invoice with `amount_remaining` still due:
/// Dr revenue a; Dr tax_payable x; Cr receivable min(A, remaining); Cr customer_credit rest.
pub fn credit_note(net: i64, tax: i64, amount_remaining: i64) -> Posting {
    let total = net + tax;
    let to_receivable = total.min(amount_remaining.max(0));
    Posting::new(vec![
        dr(Revenue, net),
        dr(TaxPayable, tax),
        cr(Receivable, to_receivable),
        cr(CustomerCredit, total - to_receivable),
    ])
}

/// Writing off W: Dr bad_debt W; Cr receivable W.
pub fn write_off(amount: i64) -> Posting {
    Posting::new(vec![dr(BadDebt, amount), cr(Receivable, amount)])
}

/// Goodwill credit G: Dr goodwill G; Cr customer_credit G.
pub fn goodwill_credit(amount: i64) -> Posting {
    Posting::new(vec![dr(Goodwill, amount), cr(CustomerCredit, amount)])
}

/// A payment P against receivable `applied` (≤ P); excess to customer credit:
/// Dr cash P; Cr receivable applied; Cr customer_credit P − applied.
pub fn payment(amount: i64, applied: i64) -> Posting {
    payment_recovering(amount, applied, 0)
}

/// A payment P of which `applied` settles open invoices and `recovered` settles invoices
/// written off as uncollectible (the write-off is reversed: Dr receivable, Cr bad_debt, and
/// the payment then clears that receivable, so the two receivable entries cancel):
/// Dr cash P; Cr receivable applied; Cr bad_debt recovered; Cr customer_credit the rest.
pub fn payment_recovering(amount: i64, applied: i64, recovered: i64) -> Posting {
    Posting::new(vec![
        dr(Cash, amount),
        cr(Receivable, applied),
        cr(BadDebt, recovered),
        cr(CustomerCredit, amount - applied - recovered),
    ])
}

/// A refund R from customer credit: Dr customer_credit R; Cr cash R.
pub fn refund_from_credit(amount: i64) -> Posting {
    Posting::new(vec![dr(CustomerCredit, amount), cr(Cash, amount)])
}

fn dr(account: AccountKind, amount: i64) -> Entry {
    Entry { account, amount }
}

fn cr(account: AccountKind, amount: i64) -> Entry {
    Entry {
        account,
        amount: -amount,
    }
}

/// Sum of entries (0 for a balanced posting).
pub fn balance(entries: &[Entry]) -> i64 {
    entries.iter().map(|e| e.amount).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_balanced(p: &Posting) {
        assert_eq!(balance(p.entries()), 0, "{p:?}");
        assert!(p.entries().iter().all(|e| e.amount != 0), "{p:?}");
    }

    #[test]
    fn invoice_finalized_balances() {
        let p = invoice_finalized(3097, 588, 0);
        assert_balanced(&p);
        assert_eq!(p.net_of(Receivable), 3685);
        assert_eq!(p.net_of(Revenue), -3097);
        assert_eq!(p.net_of(TaxPayable), -588);
        assert_eq!(p.entries().len(), 3);
        let p = invoice_finalized(3097, 588, 1000);
        assert_balanced(&p);
        assert_eq!(p.net_of(Receivable), 2685);
        assert_eq!(p.net_of(CustomerCredit), 1000);
    }

    #[test]
    fn negative_total_invoice_posting_moves_credit_to_balance() {
        let p = invoice_finalized(-6000, -1140, 0);
        assert_balanced(&p);
        assert_eq!(p.net_of(Receivable), 0);
        assert_eq!(p.net_of(CustomerCredit), -7140); // liability grows
        assert_eq!(p.net_of(Revenue), 6000);
        assert_eq!(p.net_of(TaxPayable), 1140);
    }

    #[test]
    fn credit_note_balances_and_overflows_to_customer_credit() {
        let p = credit_note(1000, 190, 5000);
        assert_balanced(&p);
        assert_eq!(
            (
                p.net_of(Revenue),
                p.net_of(TaxPayable),
                p.net_of(Receivable)
            ),
            (1000, 190, -1190)
        );
        assert_eq!(p.net_of(CustomerCredit), 0);
        let p = credit_note(1000, 190, 190);
        assert_balanced(&p);
        assert_eq!(
            (p.net_of(Receivable), p.net_of(CustomerCredit)),
            (-190, -1000)
        );
        let p = credit_note(1000, 190, 0);
        assert_eq!((p.net_of(Receivable), p.net_of(CustomerCredit)), (0, -1190));
    }

    #[test]
    fn payment_refund_write_off_goodwill_balance() {
        let p = payment(5000, 3685);
        assert_balanced(&p);
        assert_eq!(
            (
                p.net_of(Cash),
                p.net_of(Receivable),
                p.net_of(CustomerCredit)
            ),
            (5000, -3685, -1315)
        );
        let p = payment(3685, 3685);
        assert_balanced(&p);
        assert_eq!(p.entries().len(), 2);
        let p = refund_from_credit(1315);
        assert_balanced(&p);
        assert_eq!((p.net_of(CustomerCredit), p.net_of(Cash)), (1315, -1315));
        let p = write_off(3685);
        assert_balanced(&p);
        assert_eq!((p.net_of(BadDebt), p.net_of(Receivable)), (3685, -3685));
        let p = goodwill_credit(500);
        assert_balanced(&p);
        assert_eq!((p.net_of(Goodwill), p.net_of(CustomerCredit)), (500, -500));
    }

    #[test]
    fn a_payment_on_a_written_off_invoice_reverses_the_bad_debt() {
        let w = write_off(3685);
        let p = payment_recovering(5000, 1000, 3685);
        assert_balanced(&p);
        assert_eq!(
            (
                p.net_of(Cash),
                p.net_of(Receivable),
                p.net_of(BadDebt),
                p.net_of(CustomerCredit)
            ),
            (5000, -1000, -3685, -315)
        );
        // Write-off then recovery: bad debt back to zero.
        assert_eq!(w.net_of(BadDebt) + p.net_of(BadDebt), 0);
    }

    #[test]
    fn zero_amounts_post_nothing() {
        assert!(write_off(0).is_empty());
        assert!(invoice_finalized(0, 0, 0).is_empty());
        assert!(!invoice_finalized(1, 0, 0).is_empty());
    }

    #[test]
    fn reversed_negates_every_entry() {
        let p = invoice_finalized(3097, 588, 1000);
        let r = p.reversed();
        assert_balanced(&r);
        assert_eq!(r.entries().len(), p.entries().len());
        for (a, b) in p.entries().iter().zip(r.entries()) {
            assert_eq!(a.account, b.account);
            assert_eq!(a.amount, -b.amount);
        }
        assert_eq!(r.reversed(), p);
    }

    #[test]
    fn account_kinds_round_trip() {
        for k in [
            Receivable,
            CustomerCredit,
            Revenue,
            TaxPayable,
            Cash,
            BadDebt,
            Goodwill,
        ] {
            assert_eq!(AccountKind::parse(k.as_str()), Some(k));
        }
        assert!(Receivable.per_customer() && CustomerCredit.per_customer() && !Cash.per_customer());
        assert_eq!(AccountKind::parse("equity"), None);
    }
}
