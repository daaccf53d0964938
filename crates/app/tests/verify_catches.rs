//! `store::verify` finds each kind of broken invariant: the demo organisation's year of
//! history is consistent, and one tampered row at a time (in a transaction rolled back
//! afterwards) must be reported under the invariant it breaks, naming the row.
//!
//! The unkeyed references (tables without foreign keys, see ARCHITECTURE.md) are checked
//! only by `verify`; where SQLite keeps the key, the tampering itself must be refused.

mod common;

use chrono::Utc;
use store::{Db, Tx};

/// A change that breaks one invariant: the statement, the invariant and a word of the
/// detail it must produce (the id the statement wrote, for references; empty for the
/// other invariants, whose details name rows the statement did not choose by name).
struct Tamper {
    sql: &'static str,
    invariant: &'static str,
    names: &'static str,
}

/// Tampers whose rows carry no foreign key on either backend.
const UNKEYED: &[Tamper] = &[
    Tamper {
        sql: "UPDATE invoice_lines SET invoice_id = 'in_gone' WHERE id = (SELECT MIN(id) FROM invoice_lines)",
        invariant: "references_exist",
        names: "invoice in_gone",
    },
    Tamper {
        sql: "UPDATE ledger_entries SET transaction_id = 'ltx_gone' WHERE id = (SELECT MIN(id) FROM ledger_entries)",
        invariant: "references_exist",
        names: "transaction ltx_gone",
    },
    Tamper {
        sql: "UPDATE invoices SET customer_id = 'cus_gone' WHERE id = (SELECT MIN(id) FROM invoices)",
        invariant: "references_exist",
        names: "customer cus_gone",
    },
    Tamper {
        sql: "UPDATE invoices SET subscription_id = 'sub_gone' WHERE id = (SELECT MIN(id) FROM invoices WHERE subscription_id IS NOT NULL)",
        invariant: "references_exist",
        names: "subscription sub_gone",
    },
    Tamper {
        sql: "UPDATE ledger_entries SET debit = debit + 1 WHERE id = (SELECT MIN(id) FROM ledger_entries WHERE debit > 0)",
        invariant: "transaction_balances",
        names: "",
    },
    Tamper {
        sql: "UPDATE invoices SET amount_remaining = amount_remaining + 1 WHERE id = (SELECT MIN(id) FROM invoices WHERE status = 'open')",
        invariant: "receivable_equals_open_invoices",
        names: "",
    },
    Tamper {
        sql: "UPDATE invoices SET amount_remaining = amount_remaining + 1 WHERE id = (SELECT MIN(id) FROM invoices WHERE status = 'open')",
        invariant: "invoice_amounts_consistent",
        names: "",
    },
    Tamper {
        sql: "UPDATE customers SET credit_balance = credit_balance + 1 WHERE id = (SELECT MIN(id) FROM customers)",
        invariant: "credit_balance_matches_ledger",
        names: "",
    },
    Tamper {
        sql: "UPDATE invoice_lines SET total = total + 1 WHERE id = (SELECT MIN(id) FROM invoice_lines)",
        invariant: "invoice_total_equals_lines",
        names: "",
    },
    Tamper {
        sql: "UPDATE number_series SET next_number = next_number + 1 \
              WHERE (org_id, series) = (SELECT org_id, series FROM number_series ORDER BY org_id, series LIMIT 1)",
        invariant: "numbering_gapless",
        names: "",
    },
    Tamper {
        sql: "UPDATE credit_note_lines SET amount = amount + 1000000000 WHERE id = (SELECT MIN(id) FROM credit_note_lines)",
        invariant: "credit_notes_within_invoiced",
        names: "",
    },
    Tamper {
        sql: "UPDATE payments SET amount_applied = amount_applied - 1 WHERE id = (SELECT MIN(id) FROM payments WHERE amount_applied > 0)",
        invariant: "payment_allocations_consistent",
        names: "",
    },
    Tamper {
        sql: "UPDATE invoices SET amount_paid = amount_paid + 1, amount_remaining = amount_remaining - 1 WHERE id = (SELECT MIN(id) FROM invoices WHERE status = 'open' AND amount_remaining > 1)",
        invariant: "invoice_paid_equals_allocations",
        names: "",
    },
    Tamper {
        sql: "UPDATE payments SET amount = amount + 1 WHERE id = (SELECT MIN(id) FROM payments WHERE status = 'succeeded')",
        invariant: "cash_equals_payments",
        names: "",
    },
];

/// Tampers with references that PostgreSQL leaves to `verify` (migrations 0015, 0018) and
/// SQLite still guards with a foreign key.
const KEYED_ON_SQLITE: &[Tamper] = &[
    Tamper {
        sql: "UPDATE notifications SET event_id = 'ev_gone' WHERE id = (SELECT MIN(id) FROM notifications)",
        invariant: "references_exist",
        names: "event ev_gone",
    },
    Tamper {
        sql: "UPDATE payments SET customer_id = 'cus_gone' WHERE id = (SELECT MIN(id) FROM payments)",
        invariant: "references_exist",
        names: "customer cus_gone",
    },
    Tamper {
        sql: "UPDATE payments SET payment_method_id = 'pm_gone' WHERE id = (SELECT MIN(id) FROM payments WHERE payment_method_id IS NOT NULL)",
        invariant: "references_exist",
        names: "payment method pm_gone",
    },
    Tamper {
        sql: "UPDATE payment_allocations SET payment_id = 'pay_gone' WHERE payment_id = (SELECT MIN(payment_id) FROM payment_allocations)",
        invariant: "references_exist",
        names: "payment pay_gone",
    },
    Tamper {
        sql: "UPDATE payment_allocations SET invoice_id = 'in_gone' WHERE payment_id = (SELECT MIN(payment_id) FROM payment_allocations)",
        invariant: "references_exist",
        names: "invoice in_gone",
    },
    Tamper {
        sql: "UPDATE events SET org_id = 'org_gone' WHERE id = (SELECT MIN(id) FROM events)",
        invariant: "references_exist",
        names: "organisation org_gone",
    },
];

async fn execute(tx: &mut Tx, sql: &str) -> Result<u64, sqlx::Error> {
    Ok(match tx {
        Tx::Sqlite(t) => sqlx::query(sql).execute(&mut **t).await?.rows_affected(),
        Tx::Pg(t) => sqlx::query(sql).execute(&mut **t).await?.rows_affected(),
    })
}

/// Applies `t` in a transaction, runs verify there and rolls back.
async fn violations_after(db: &Db, t: &Tamper) -> Vec<store::verify::Violation> {
    let mut tx = db.begin().await.expect("begin");
    let n = execute(&mut tx, t.sql)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", t.sql));
    assert_eq!(n, 1, "the demo has a row for: {}", t.sql);
    let v = store::verify::check_all(&mut tx)
        .await
        .expect("verify runs");
    drop(tx); // rolled back
    v
}

async fn verify_reports_each_tampered_row(db: Db) {
    app::demo::load(&db, Utc::now()).await.expect("demo loads");
    common::assert_clean(&db).await;
    let keyed_here = matches!(db, Db::Sqlite(_));
    let tampers = UNKEYED
        .iter()
        .chain(KEYED_ON_SQLITE.iter().filter(|_| !keyed_here));
    for t in tampers {
        let v = violations_after(&db, t).await;
        assert!(
            v.iter()
                .any(|v| v.invariant == t.invariant && v.detail.contains(t.names)),
            "{} should report {} naming {:?}, got {v:#?}",
            t.sql,
            t.invariant,
            t.names
        );
    }
    if keyed_here {
        for t in KEYED_ON_SQLITE {
            let mut tx = db.begin().await.expect("begin");
            let err = execute(&mut tx, t.sql)
                .await
                .expect_err("SQLite keeps this foreign key");
            assert!(err.to_string().contains("FOREIGN KEY"), "{}: {err}", t.sql);
            drop(tx); // rolled back
        }
    }
    // Every tamper was rolled back.
    common::assert_clean(&db).await;
}

on_both_backends!(verify_reports_each_tampered_row);
