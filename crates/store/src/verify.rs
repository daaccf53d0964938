//! The invariants of BILLING.md, checked on any database by `ledgerdesk verify`.
//!
//! Each check is one query that returns the offending rows, so a violation names what is
//! wrong: the transaction that does not balance, the customer whose receivable differs from
//! their open invoices, the invoice whose total differs from its lines.

use crate::{Result, Tx};

/// One broken invariant, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
}

/// Runs every check; an empty vector means the database is consistent.
pub async fn check_all(tx: &mut Tx) -> Result<Vec<Violation>> {
    let mut out = Vec::new();

    let rows: Vec<(String, i64, i64)> = on!(tx, c => sqlx::query_as(
        "SELECT transaction_id, CAST(SUM(debit) AS BIGINT), CAST(SUM(credit) AS BIGINT) FROM ledger_entries \
         GROUP BY transaction_id HAVING SUM(debit) <> SUM(credit) ORDER BY transaction_id LIMIT 1000")
        .fetch_all(c).await?);
    for (id, d, c) in rows {
        out.push(Violation {
            invariant: "transaction_balances",
            detail: format!("ledger transaction {id}: debits {d} ≠ credits {c}"),
        });
    }

    let rows: Vec<(String, String, i64, i64)> = on!(tx, c => sqlx::query_as(
        "WITH led AS (SELECT customer_id, currency, SUM(debit) - SUM(credit) AS bal FROM ledger_entries WHERE account = 'receivable' GROUP BY customer_id, currency), \
         inv AS (SELECT customer_id, currency, SUM(amount_remaining) AS due FROM invoices WHERE status = 'open' GROUP BY customer_id, currency), \
         keys AS (SELECT customer_id, currency FROM led UNION SELECT customer_id, currency FROM inv) \
         SELECT k.customer_id, k.currency, CAST(COALESCE(led.bal, 0) AS BIGINT), CAST(COALESCE(inv.due, 0) AS BIGINT) FROM keys k \
         LEFT JOIN led ON led.customer_id = k.customer_id AND led.currency = k.currency \
         LEFT JOIN inv ON inv.customer_id = k.customer_id AND inv.currency = k.currency \
         WHERE COALESCE(led.bal, 0) <> COALESCE(inv.due, 0) ORDER BY k.customer_id LIMIT 1000")
        .fetch_all(c).await?);
    for (cus, cur, bal, due) in rows {
        out.push(Violation {
            invariant: "receivable_equals_open_invoices",
            detail: format!(
                "customer {cus} {cur}: receivable {bal} ≠ amount remaining on open invoices {due}"
            ),
        });
    }

    let rows: Vec<(String, String, i64)> = on!(tx, c => sqlx::query_as(
        "SELECT customer_id, currency, CAST(SUM(credit) - SUM(debit) AS BIGINT) FROM ledger_entries WHERE account = 'customer_credit' \
         GROUP BY customer_id, currency HAVING SUM(credit) - SUM(debit) < 0 ORDER BY customer_id LIMIT 1000")
        .fetch_all(c).await?);
    for (cus, cur, bal) in rows {
        out.push(Violation {
            invariant: "credit_balance_not_negative",
            detail: format!("customer {cus} {cur}: credit balance {bal} < 0"),
        });
    }

    let rows: Vec<(String, i64, i64)> = on!(tx, c => sqlx::query_as(
        "WITH led AS (SELECT customer_id, SUM(credit) - SUM(debit) AS bal FROM ledger_entries WHERE account = 'customer_credit' GROUP BY customer_id) \
         SELECT c.id, c.credit_balance, CAST(COALESCE(led.bal, 0) AS BIGINT) FROM customers c LEFT JOIN led ON led.customer_id = c.id \
         WHERE c.credit_balance <> COALESCE(led.bal, 0) ORDER BY c.id LIMIT 1000")
        .fetch_all(c).await?);
    for (cus, col, led) in rows {
        out.push(Violation {
            invariant: "credit_balance_matches_ledger",
            detail: format!("customer {cus}: credit_balance column {col} ≠ ledger {led}"),
        });
    }

    let rows: Vec<(String, i64, i64, i64, i64)> = on!(tx, c => sqlx::query_as(
        "SELECT i.id, i.total, CAST(COALESCE(SUM(l.total), 0) AS BIGINT), i.total_tax, CAST(COALESCE(SUM(l.tax_amount), 0) AS BIGINT) \
         FROM invoices i LEFT JOIN invoice_lines l ON l.invoice_id = i.id \
         GROUP BY i.id, i.total, i.total_tax HAVING i.total <> COALESCE(SUM(l.total), 0) OR i.total_tax <> COALESCE(SUM(l.tax_amount), 0) \
         ORDER BY i.id LIMIT 1000")
        .fetch_all(c).await?);
    for (id, total, lines, tax, ltax) in rows {
        out.push(Violation {
            invariant: "invoice_total_equals_lines",
            detail: format!(
                "invoice {id}: total {total} vs lines {lines}, tax {tax} vs lines {ltax}"
            ),
        });
    }

    let rows: Vec<(String, i64, i64, i64, i64, i64)> = on!(tx, c => sqlx::query_as(
        "SELECT id, total, credit_applied, amount_due, amount_paid + amount_credited, amount_remaining FROM invoices \
         WHERE status <> 'draft' AND (amount_due <> (CASE WHEN total - credit_applied > 0 THEN total - credit_applied ELSE 0 END) \
         OR amount_remaining <> (CASE WHEN status = 'void' THEN 0 ELSE amount_due - amount_paid - amount_credited END) OR amount_remaining < 0) ORDER BY id LIMIT 1000")
        .fetch_all(c).await?);
    for (id, total, ca, due, settled, rem) in rows {
        out.push(Violation { invariant: "invoice_amounts_consistent", detail: format!("invoice {id}: total {total}, credit applied {ca}, amount due {due}, paid+credited {settled}, remaining {rem}") });
    }

    let rows: Vec<(String, i64, i64)> = on!(tx, c => sqlx::query_as(
        "SELECT l.id, l.total, CAST(SUM(c.amount) AS BIGINT) FROM invoice_lines l JOIN credit_note_lines c ON c.invoice_line_id = l.id \
         GROUP BY l.id, l.total HAVING SUM(c.amount) > l.total ORDER BY l.id LIMIT 1000")
        .fetch_all(c).await?);
    for (id, total, credited) in rows {
        out.push(Violation {
            invariant: "credit_notes_within_invoiced",
            detail: format!("invoice line {id}: credited {credited} > invoiced {total}"),
        });
    }

    let rows: Vec<(String, String, i64, i64)> = on!(tx, c => sqlx::query_as(
        "WITH s AS (SELECT org_id, series, next_number FROM number_series), \
         n AS (SELECT org_id, SUBSTR(number, 1, LENGTH(number) - 7) AS series, COUNT(*) AS cnt FROM invoices WHERE number IS NOT NULL GROUP BY org_id, SUBSTR(number, 1, LENGTH(number) - 7) \
               UNION ALL SELECT org_id, SUBSTR(number, 1, LENGTH(number) - 7), COUNT(*) FROM credit_notes GROUP BY org_id, SUBSTR(number, 1, LENGTH(number) - 7)) \
         SELECT s.org_id, s.series, s.next_number - 1, CAST(COALESCE(SUM(n.cnt), 0) AS BIGINT) FROM s LEFT JOIN n ON n.org_id = s.org_id AND n.series = s.series \
         GROUP BY s.org_id, s.series, s.next_number HAVING s.next_number - 1 <> COALESCE(SUM(n.cnt), 0) ORDER BY s.org_id, s.series")
        .fetch_all(c).await?);
    for (org, series, issued, found) in rows {
        out.push(Violation { invariant: "numbering_gapless", detail: format!("organisation {org} series {series}: {issued} numbers issued but {found} documents carry one") });
    }

    let rows: Vec<(String, i64, i64, i64)> = on!(tx, c => sqlx::query_as(
        "SELECT p.id, p.amount, p.amount_applied, CAST(COALESCE(SUM(a.amount), 0) AS BIGINT) FROM payments p \
         LEFT JOIN payment_allocations a ON a.payment_id = p.id GROUP BY p.id, p.amount, p.amount_applied \
         HAVING COALESCE(SUM(a.amount), 0) <> p.amount_applied OR p.amount_applied > p.amount ORDER BY p.id LIMIT 1000")
        .fetch_all(c).await?);
    for (id, amount, applied, allocated) in rows {
        out.push(Violation {
            invariant: "payment_allocations_consistent",
            detail: format!("payment {id}: amount {amount}, applied {applied}, allocated to invoices {allocated}"),
        });
    }

    let rows: Vec<(String, i64, i64)> = on!(tx, c => sqlx::query_as(
        "SELECT i.id, i.amount_paid, CAST(COALESCE(SUM(a.amount), 0) AS BIGINT) FROM invoices i \
         LEFT JOIN payment_allocations a ON a.invoice_id = i.id WHERE i.amount_paid <> 0 OR a.invoice_id IS NOT NULL \
         GROUP BY i.id, i.amount_paid HAVING i.amount_paid <> COALESCE(SUM(a.amount), 0) ORDER BY i.id LIMIT 1000")
        .fetch_all(c).await?);
    for (id, paid, allocated) in rows {
        out.push(Violation {
            invariant: "invoice_paid_equals_allocations",
            detail: format!(
                "invoice {id}: amount paid {paid} ≠ payments allocated to it {allocated}"
            ),
        });
    }

    let rows: Vec<(String, i64, i64)> = on!(tx, c => sqlx::query_as(
        "SELECT p.id, p.amount_refunded, CAST(COALESCE(SUM(r.amount), 0) AS BIGINT) FROM payments p \
         LEFT JOIN refunds r ON r.payment_id = p.id AND r.status IN ('pending', 'succeeded') \
         GROUP BY p.id, p.amount_refunded HAVING p.amount_refunded <> COALESCE(SUM(r.amount), 0) ORDER BY p.id LIMIT 1000")
        .fetch_all(c).await?);
    for (id, refunded, refunds) in rows {
        out.push(Violation {
            invariant: "refunds_within_payment",
            detail: format!("payment {id}: amount refunded {refunded} ≠ its pending and succeeded refunds {refunds}"),
        });
    }

    // Cash in the ledger = succeeded payments − refunds not failed, per organisation and currency.
    let rows: Vec<(String, String, i64, i64)> = on!(tx, c => sqlx::query_as(
        "WITH led AS (SELECT org_id, currency, SUM(debit) - SUM(credit) AS bal FROM ledger_entries WHERE account = 'cash' GROUP BY org_id, currency), \
         mov AS (SELECT org_id, currency, amount AS amt FROM payments WHERE status = 'succeeded' \
                 UNION ALL SELECT org_id, currency, -amount FROM refunds WHERE status IN ('pending', 'succeeded')), \
         net AS (SELECT org_id, currency, SUM(amt) AS amt FROM mov GROUP BY org_id, currency), \
         k AS (SELECT org_id, currency FROM led UNION SELECT org_id, currency FROM net) \
         SELECT k.org_id, k.currency, CAST(COALESCE(led.bal, 0) AS BIGINT), CAST(COALESCE(net.amt, 0) AS BIGINT) FROM k \
         LEFT JOIN led ON led.org_id = k.org_id AND led.currency = k.currency LEFT JOIN net ON net.org_id = k.org_id AND net.currency = k.currency \
         WHERE COALESCE(led.bal, 0) <> COALESCE(net.amt, 0) ORDER BY k.org_id, k.currency")
        .fetch_all(c).await?);
    for (org, cur, ledger, moved) in rows {
        out.push(Violation {
            invariant: "cash_equals_payments",
            detail: format!("organisation {org} {cur}: cash in the ledger {ledger} ≠ payments less refunds {moved}"),
        });
    }

    let rows: Vec<(String, String)> = on!(tx, c => sqlx::query_as(
        "SELECT 'invoice ' || i.id, 'customer ' || i.customer_id FROM invoices i LEFT JOIN customers c ON c.id = i.customer_id AND c.org_id = i.org_id WHERE c.id IS NULL \
         UNION ALL SELECT 'invoice ' || i.id, 'subscription ' || i.subscription_id FROM invoices i LEFT JOIN subscriptions s ON s.id = i.subscription_id AND s.org_id = i.org_id WHERE i.subscription_id IS NOT NULL AND s.id IS NULL \
         UNION ALL SELECT 'invoice line ' || l.id, 'invoice ' || l.invoice_id FROM invoice_lines l LEFT JOIN invoices i ON i.id = l.invoice_id AND i.org_id = l.org_id WHERE i.id IS NULL \
         UNION ALL SELECT 'ledger entry ' || CAST(e.id AS TEXT), 'transaction ' || e.transaction_id FROM ledger_entries e LEFT JOIN ledger_transactions t ON t.id = e.transaction_id AND t.org_id = e.org_id WHERE t.id IS NULL \
         UNION ALL SELECT 'payment ' || p.id, 'customer ' || p.customer_id FROM payments p LEFT JOIN customers c ON c.id = p.customer_id AND c.org_id = p.org_id WHERE c.id IS NULL \
         UNION ALL SELECT 'payment ' || p.id, 'payment method ' || p.payment_method_id FROM payments p LEFT JOIN payment_methods m ON m.id = p.payment_method_id AND m.org_id = p.org_id WHERE p.payment_method_id IS NOT NULL AND m.id IS NULL \
         UNION ALL SELECT 'allocation of payment ' || a.payment_id, 'payment ' || a.payment_id FROM payment_allocations a LEFT JOIN payments p ON p.id = a.payment_id AND p.org_id = a.org_id WHERE p.id IS NULL \
         UNION ALL SELECT 'allocation of payment ' || a.payment_id, 'invoice ' || a.invoice_id FROM payment_allocations a LEFT JOIN invoices i ON i.id = a.invoice_id AND i.org_id = a.org_id WHERE i.id IS NULL \
         UNION ALL SELECT 'event ' || e.id, 'organisation ' || e.org_id FROM events e LEFT JOIN organisations o ON o.id = e.org_id WHERE o.id IS NULL \
         UNION ALL SELECT 'notification ' || n.id, 'event ' || n.event_id FROM notifications n LEFT JOIN events e ON e.org_id = n.org_id AND e.id = n.event_id WHERE e.id IS NULL \
         UNION ALL SELECT 'webhook delivery ' || d.id, 'event ' || d.event_id FROM webhook_deliveries d LEFT JOIN events e ON e.org_id = d.org_id AND e.id = d.event_id WHERE e.id IS NULL \
         LIMIT 1000")
        .fetch_all(c).await?);
    for (child, parent) in rows {
        out.push(Violation {
            invariant: "references_exist",
            detail: format!("{child} refers to missing {parent}"),
        });
    }

    Ok(out)
}
