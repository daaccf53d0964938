//! Regression tests for defects found in review (each runs on SQLite and PostgreSQL).

mod common;

use app::invoicing::CreditNoteCreate;
use common::*;

on_both_backends!(
    void_after_credit_note_on_credit_paid_invoice_is_refused,
    one_off_invoice_refuses_an_archived_price,
    adding_lines_to_a_discounted_draft_keeps_no_stale_totals,
);

/// An invoice paid entirely from the credit balance, then credited by a credit note (which
/// goes to the credit balance), must not be voidable: voiding would return the applied credit
/// a second time.
async fn void_after_credit_note_on_credit_paid_invoice_is_refused(db: Db) {
    let ctx = org(&db, t("2026-03-02T10:00:00Z")).await;
    let c = customer(&db, &ctx, "Kunde", "EUR", "Europe/Berlin", "DE").await;
    // 50.00 of credit.
    app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Goodwill", -5000)], true),
    )
    .await
    .expect("negative invoice");
    assert_balance(&db, &ctx, &c.id, 0, 5000).await;
    // 30.00 covered by the credit: paid at once.
    let inv = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Month", 3000)], true),
    )
    .await
    .expect("covered invoice");
    assert_eq!((inv.status.as_str(), inv.credit_applied), ("paid", 3000));
    assert_balance(&db, &ctx, &c.id, 0, 2000).await;
    let cn = app::invoicing::create_credit_note(
        &db,
        &ctx,
        &CreditNoteCreate {
            invoice: inv.id.clone(),
            reason: "billing_error".into(),
            memo: None,
            lines: None,
        },
    )
    .await
    .expect("credit note");
    assert_eq!(cn.amount_to_credit_balance, 3000);
    assert_balance(&db, &ctx, &c.id, 0, 5000).await;
    expect_state(
        app::invoicing::void(&db, &ctx, &inv.id).await,
        "invoice_not_voidable",
    );
    // The customer got the 30.00 back once, not twice.
    assert_balance(&db, &ctx, &c.id, 0, 5000).await;
    assert_clean(&db).await;
}

/// Archived prices are not for new purchases (subscriptions already refuse them).
async fn one_off_invoice_refuses_an_archived_price(db: Db) {
    let ctx = org(&db, t("2026-03-02T10:00:00Z")).await;
    let c = customer(&db, &ctx, "Kunde", "EUR", "Europe/Berlin", "DE").await;
    let p = product(&db, &ctx, "Setup").await;
    let price = app::catalog::create_price(
        &db,
        &ctx,
        &app::catalog::PriceCreate {
            product: p.id.clone(),
            nickname: None,
            recurring: None,
            model: "flat".into(),
            tax_behavior: None,
            currency_amounts: amounts(&[("EUR", flat_amount(9900))]),
        },
    )
    .await
    .expect("price");
    app::catalog::update_price(
        &db,
        &ctx,
        &price.id,
        &app::catalog::PriceUpdate {
            nickname: None,
            active: Some(false),
        },
    )
    .await
    .expect("archive");
    expect_invalid(
        app::invoicing::create(
            &db,
            &ctx,
            &one_off(&c.id, vec![price_line(&price.id, 1)], true),
        )
        .await,
        "lines[0].price",
    );
    assert_eq!(invoice_count(&db, &ctx.org_id).await, 0);
}

/// A draft created with a coupon carries its discount; adding a line must not silently drop
/// the discount already on the draft.
async fn adding_lines_to_a_discounted_draft_keeps_no_stale_totals(db: Db) {
    let ctx = org(&db, t("2026-03-02T10:00:00Z")).await;
    let c = customer(&db, &ctx, "Kunde", "EUR", "Europe/Berlin", "DE").await;
    let coupon = app::catalog::create_coupon(
        &db,
        &ctx,
        &app::catalog::CouponCreate {
            name: "Half".into(),
            percent_off: Some(app::catalog::DecimalInput::Text("50".into())),
            amount_off: None,
            currency: None,
            duration: "once".into(),
            duration_in_periods: None,
            applies_to_products: None,
        },
    )
    .await
    .expect("coupon");
    let mut input = one_off(&c.id, vec![amount_line("Consulting", 10000)], false);
    input.coupons = vec![coupon.id.clone()];
    let draft = app::invoicing::create(&db, &ctx, &input)
        .await
        .expect("draft");
    assert_eq!((draft.total_discount, draft.total), (5000, 5000));
    let after =
        app::invoicing::add_lines(&db, &ctx, &draft.id, &[amount_line("Extra", 1000)]).await;
    match after {
        // Either the discount is kept on the lines it was given for ...
        Ok(inv) => assert!(
            inv.total_discount >= 5000,
            "the draft's 50.00 discount was dropped: {inv:?}"
        ),
        // ... or the change is refused and the draft stays as it was.
        Err(app::AppError::State { .. }) => {
            let d = app::invoicing::get(&db, &ctx, &draft.id)
                .await
                .expect("draft");
            assert_eq!((d.total_discount, d.total, d.lines.len()), (5000, 5000, 1));
        }
        Err(e) => panic!("unexpected error {e:?}"),
    }
}
