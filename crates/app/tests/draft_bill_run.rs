//! A bill run asked to leave its invoices as drafts: no number, no posting, no credit taken;
//! each period still invoiced once; finalizing a draft numbers it, applies the credit
//! balance and posts it.

mod common;

use common::*;
use store::Db;

async fn drafts_from_a_bill_run_are_finalized_one_by_one(db: Db) {
    let start = t("2026-01-01T00:00:00Z");
    let ctx = org(&db, start).await;
    de_vat(&db, &ctx).await;
    let pro = product(&db, &ctx, "Pro").await;
    let price = monthly_flat(&db, &ctx, &pro.id, "EUR", 9000).await;
    let cus = customer(&db, &ctx, "Draft Co", "EUR", "Europe/Berlin", "DE").await;
    app::subscriptions::create(&db, &ctx, &sub_input(&cus.id, &price.id, Some(start)))
        .await
        .unwrap();
    assert_eq!(invoice_count(&db, &ctx.org_id).await, 1);

    // 50.00 of credit from a goodwill-style credit note on the first invoice.
    let first = app::invoicing::list(&db, &ctx, Some(&cus.id), None, None, None, None)
        .await
        .unwrap()
        .data
        .remove(0);
    app::invoicing::create_credit_note(
        &db,
        &ctx,
        &app::invoicing::CreditNoteCreate {
            invoice: first.id.clone(),
            reason: "goodwill".into(),
            memo: None,
            lines: Some(vec![app::invoicing::CreditNoteLineCreate {
                invoice_line: first.lines[0].id.clone(),
                amount: Some(5000),
            }]),
        },
    )
    .await
    .unwrap();

    let when = t("2026-03-05T00:00:00Z");
    let r = app::billrun::run_with(&db, None, when, false, |_| {})
        .await
        .unwrap();
    assert_eq!(
        (r.invoices_created, r.finalize),
        (2, false),
        "February and March"
    );
    let again = app::billrun::run_with(&db, None, when, false, |_| {})
        .await
        .unwrap();
    assert_eq!(
        again.invoices_created, 0,
        "each period once, drafts included"
    );
    let finalized_run = app::billrun::run(&db, None, when, |_| {}).await.unwrap();
    assert_eq!(finalized_run.invoices_created, 0);

    let drafts = app::invoicing::list(&db, &ctx, Some(&cus.id), None, Some("draft"), None, None)
        .await
        .unwrap()
        .data;
    assert_eq!(drafts.len(), 2);
    for d in &drafts {
        assert_eq!(d.number, None);
        assert_eq!(d.credit_applied, 0);
        assert_eq!(d.total, 10710, "90.00 + 19 % VAT");
        assert_eq!(d.billing_reason, "subscription_cycle");
    }
    // Drafts post nothing: the customer owes only the open first invoice's remainder.
    assert_balance(&db, &ctx, &cus.id, 10710 - 5000, 0).await;
    assert_clean(&db).await;

    // Finalize the older draft (February): it takes the next number and no credit (the
    // credit note reduced the open first invoice, so the balance is 0).
    let feb = drafts.iter().min_by_key(|d| d.period_start).unwrap();
    let fin = app::invoicing::finalize(&db, &at(&ctx, when), &feb.id)
        .await
        .unwrap();
    assert_eq!(fin.status, "open");
    assert_eq!(fin.number.as_deref(), Some("INV-2026-000002"));
    assert_eq!(fin.amount_due, 10710);
    assert_balance(&db, &ctx, &cus.id, 10710 - 5000 + 10710, 0).await;
    assert_clean(&db).await;

    // A period draft cannot be deleted (it would let the period be billed again).
    let mar = drafts.iter().max_by_key(|d| d.period_start).unwrap();
    expect_state(
        app::invoicing::delete_draft(&db, &ctx, &mar.id).await,
        "invoice_not_deletable",
    );
}

on_both_backends!(drafts_from_a_bill_run_are_finalized_one_by_one);
