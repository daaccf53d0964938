//! Payments, payment methods and refunds through the sandbox gateway (each test runs on
//! SQLite and PostgreSQL).

mod common;

use app::payments::{
    self, CardInput, InvoicePay, PaymentCreate, PaymentMethodCreate, RefundCreate,
};
use common::*;
use gateway::{Gateway, Sandbox};

on_both_backends!(
    a_card_payment_settles_the_invoice_and_a_declined_one_moves_nothing,
    a_gateway_timeout_leaves_the_payment_pending_and_a_retry_charges_once,
    offline_payments_go_to_the_oldest_invoices_then_to_credit,
    a_payment_on_a_written_off_invoice_reverses_the_bad_debt,
    refunds_come_from_the_credit_balance_and_never_exceed_the_payment,
    parallel_refunds_never_exceed_the_payment,
    a_card_refund_after_a_credit_note_goes_back_through_the_gateway,
    bad_payment_input_names_the_field_and_writes_nothing,
);

fn card(number: &str) -> Option<CardInput> {
    Some(CardInput {
        number: number.into(),
        exp_month: 12,
        exp_year: 2031,
    })
}

async fn attach(
    db: &Db,
    gw: &Gateway,
    ctx: &Ctx,
    customer: &str,
    number: &str,
) -> payments::PaymentMethod {
    payments::attach_method(
        db,
        gw,
        ctx,
        &PaymentMethodCreate {
            customer: customer.into(),
            kind: "card".into(),
            card: card(number),
            token: None,
            bank: None,
            set_default: Some(true),
        },
    )
    .await
    .expect("attach card")
}

async fn invoice(db: &Db, ctx: &Ctx, customer: &str, amount: i64) -> app::invoicing::Invoice {
    app::invoicing::create(
        db,
        ctx,
        &one_off(customer, vec![amount_line("Service", amount)], true),
    )
    .await
    .expect("invoice")
}

fn offline(customer: &str, amount: i64, invoice: Option<&str>) -> PaymentCreate {
    PaymentCreate {
        customer: customer.into(),
        amount,
        currency: None,
        method: "bank_transfer".into(),
        reference: Some("SEPA-REF-1".into()),
        invoice: invoice.map(str::to_string),
    }
}

async fn ledger_sum(db: &Db, org: &str, account: &str) -> i64 {
    let mut tx = db.read().await.unwrap();
    let v: i64 = store::on!(&mut tx, c => sqlx::query_scalar::<_, i64>(
        "SELECT CAST(COALESCE(SUM(debit) - SUM(credit), 0) AS BIGINT) FROM ledger_entries WHERE org_id = $1 AND account = $2")
        .bind(org).bind(account).fetch_one(c).await.unwrap());
    v
}

async fn a_card_payment_settles_the_invoice_and_a_declined_one_moves_nothing(db: Db) {
    let gw = Gateway::Sandbox(Sandbox::new());
    let ctx = org(&db, t("2026-05-04T09:00:00Z")).await;
    let c = customer(&db, &ctx, "Card Co", "USD", "America/New_York", "US").await;
    let pm = attach(&db, &gw, &ctx, &c.id, "4242 4242 4242 4242").await;
    assert!(pm.is_default);
    let card = pm.card.as_ref().unwrap();
    assert_eq!((card.brand.as_str(), card.last4.as_str()), ("visa", "4242"));
    // The number is nowhere in the database.
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM payment_methods WHERE gateway_token LIKE '%424242424242%' OR org_id = $1 AND gateway_token IS NULL", &ctx.org_id).await, 0);

    let inv = invoice(&db, &ctx, &c.id, 12_345).await;
    let total = inv.amount_due;
    let paid = payments::pay_invoice(&db, &gw, &ctx, &inv.id, &InvoicePay::default())
        .await
        .unwrap();
    assert!(paid.declined.is_none());
    let p = paid.payment;
    assert_eq!(
        (p.status.as_str(), p.amount, p.amount_applied),
        ("succeeded", total, total)
    );
    assert!(p
        .gateway_reference
        .as_deref()
        .is_some_and(|r| r.starts_with("ch_sandbox_")));
    let inv = app::invoicing::get(&db, &ctx, &inv.id).await.unwrap();
    assert_eq!(
        (inv.status.as_str(), inv.amount_paid, inv.amount_remaining),
        ("paid", total, 0)
    );
    assert_balance(&db, &ctx, &c.id, 0, 0).await;
    assert_eq!(ledger_sum(&db, &ctx.org_id, "cash").await, total);

    // A declined card: the attempt is recorded as failed; no money, no allocation.
    attach(&db, &gw, &ctx, &c.id, "4000000000000002").await;
    let inv2 = invoice(&db, &ctx, &c.id, 5_000).await;
    let d = payments::pay_invoice(&db, &gw, &ctx, &inv2.id, &InvoicePay::default())
        .await
        .unwrap();
    let (code, _) = d.declined.expect("declined");
    assert_eq!(code, "card_declined");
    assert_eq!(
        (d.payment.status.as_str(), d.payment.amount_applied),
        ("failed", 0)
    );
    assert_eq!(d.payment.failure_code.as_deref(), Some("card_declined"));
    let inv2v = app::invoicing::get(&db, &ctx, &inv2.id).await.unwrap();
    assert_eq!((inv2v.status.as_str(), inv2v.amount_paid), ("open", 0));
    assert_eq!(ledger_sum(&db, &ctx.org_id, "cash").await, total);
    // Insufficient funds names its own code.
    attach(&db, &gw, &ctx, &c.id, "4000000000009995").await;
    let d = payments::pay_invoice(&db, &gw, &ctx, &inv2.id, &InvoicePay::default())
        .await
        .unwrap();
    assert_eq!(d.declined.unwrap().0, "insufficient_funds");
    // A partial payment with a given method leaves the rest due.
    let p = payments::pay_invoice(
        &db,
        &gw,
        &ctx,
        &inv2.id,
        &InvoicePay {
            payment_method: Some(pm.id.clone()),
            amount: Some(2_000),
        },
    )
    .await
    .unwrap()
    .payment;
    assert_eq!(p.amount_applied, 2_000);
    let inv2v = app::invoicing::get(&db, &ctx, &inv2.id).await.unwrap();
    assert_eq!(
        (inv2v.status.as_str(), inv2v.amount_remaining),
        ("open", inv2.amount_due - 2_000)
    );
    assert_balance(&db, &ctx, &c.id, inv2.amount_due - 2_000, 0).await;
    let list = payments::list_payments(&db, &ctx, Some(&c.id), None, None, Some(100))
        .await
        .unwrap();
    assert_eq!(list.data.len(), 4);
    assert_clean(&db).await;
}

async fn a_gateway_timeout_leaves_the_payment_pending_and_a_retry_charges_once(db: Db) {
    let gw = Gateway::Sandbox(Sandbox::new());
    let ctx = org(&db, t("2026-05-04T09:00:00Z")).await;
    let c = customer(&db, &ctx, "Slow Bank", "EUR", "Europe/Berlin", "DE").await;
    attach(&db, &gw, &ctx, &c.id, "4000000000000119").await;
    let inv = invoice(&db, &ctx, &c.id, 10_000).await;
    let e = payments::pay_invoice(&db, &gw, &ctx, &inv.id, &InvoicePay::default()).await;
    assert!(
        matches!(
            e,
            Err(AppError::Gateway {
                code: "payment_pending",
                ..
            })
        ),
        "{e:?}",
        e = e.map(|c| c.payment)
    );
    let list = payments::list_payments(&db, &ctx, Some(&c.id), None, None, None)
        .await
        .unwrap();
    assert_eq!(list.data.len(), 1);
    let pending = &list.data[0];
    assert_eq!(pending.status, "pending");
    // No second charge while one is pending: it may have taken the money already.
    let again = payments::pay_invoice(&db, &gw, &ctx, &inv.id, &InvoicePay::default()).await;
    expect_state(again.map(|c| c.payment), "payment_pending");
    // Nothing is applied while the outcome is unknown.
    assert_eq!(
        app::invoicing::get(&db, &ctx, &inv.id)
            .await
            .unwrap()
            .amount_paid,
        0
    );
    assert_eq!(ledger_sum(&db, &ctx.org_id, "cash").await, 0);
    assert_clean(&db).await;

    let r = payments::retry_payment(&db, &gw, &ctx, &pending.id)
        .await
        .unwrap()
        .payment;
    assert_eq!(
        (r.status.as_str(), r.amount_applied),
        ("succeeded", inv.amount_due)
    );
    let again = payments::retry_payment(&db, &gw, &ctx, &pending.id)
        .await
        .unwrap()
        .payment;
    assert_eq!(again.gateway_reference, r.gateway_reference);
    assert_eq!(
        ledger_sum(&db, &ctx.org_id, "cash").await,
        inv.amount_due,
        "charged once"
    );
    assert_eq!(
        app::invoicing::get(&db, &ctx, &inv.id)
            .await
            .unwrap()
            .status,
        "paid"
    );
    assert_clean(&db).await;
}

async fn offline_payments_go_to_the_oldest_invoices_then_to_credit(db: Db) {
    let ctx = org(&db, t("2026-05-04T09:00:00Z")).await;
    let c = customer(&db, &ctx, "Transfer GmbH", "EUR", "Europe/Berlin", "DE").await;
    let i1 = invoice(&db, &at(&ctx, t("2026-05-05T09:00:00Z")), &c.id, 1_000).await;
    let i2 = invoice(&db, &at(&ctx, t("2026-05-06T09:00:00Z")), &c.id, 2_000).await;
    let i3 = invoice(&db, &at(&ctx, t("2026-05-07T09:00:00Z")), &c.id, 3_000).await;
    let (d1, d2, d3) = (i1.amount_due, i2.amount_due, i3.amount_due);
    let ctx = at(&ctx, t("2026-05-10T09:00:00Z"));
    let p = payments::record(&db, &ctx, &offline(&c.id, d1 + d2 + 500, None))
        .await
        .unwrap();
    assert_eq!(p.amount_applied, d1 + d2 + 500);
    assert_eq!(
        p.allocations
            .iter()
            .map(|a| (a.invoice.clone(), a.amount))
            .collect::<Vec<_>>(),
        {
            let mut v = vec![
                (i1.id.clone(), d1),
                (i2.id.clone(), d2),
                (i3.id.clone(), 500),
            ];
            v.sort();
            v
        }
    );
    for (id, status, remaining) in [
        (&i1.id, "paid", 0),
        (&i2.id, "paid", 0),
        (&i3.id, "open", d3 - 500),
    ] {
        let v = app::invoicing::get(&db, &ctx, id).await.unwrap();
        assert_eq!(
            (v.status.as_str(), v.amount_remaining),
            (status, remaining),
            "{id}"
        );
    }
    // Naming the invoice; the excess goes to the credit balance.
    let p = payments::record(&db, &ctx, &offline(&c.id, d3 - 500 + 1_500, Some(&i3.id)))
        .await
        .unwrap();
    assert_eq!(
        (p.amount_applied, p.amount_to_credit_balance),
        (d3 - 500, 1_500)
    );
    assert_balance(&db, &ctx, &c.id, 0, 1_500).await;
    // The credit is spent by the next invoice.
    let i4 = invoice(&db, &ctx, &c.id, 1_000).await;
    assert_eq!(i4.credit_applied, 1_000.min(i4.total));
    assert_clean(&db).await;
}

async fn a_payment_on_a_written_off_invoice_reverses_the_bad_debt(db: Db) {
    let ctx = org(&db, t("2026-05-04T09:00:00Z")).await;
    let c = customer(&db, &ctx, "Late Ltd", "EUR", "Europe/Berlin", "DE").await;
    let inv = invoice(&db, &ctx, &c.id, 5_000).await;
    app::invoicing::mark_uncollectible(&db, &ctx, &inv.id)
        .await
        .unwrap();
    assert_eq!(
        ledger_sum(&db, &ctx.org_id, "bad_debt").await,
        inv.amount_due
    );
    // An unnamed payment does not touch the written-off invoice: it goes to credit.
    let p = payments::record(&db, &ctx, &offline(&c.id, 100, None))
        .await
        .unwrap();
    assert_eq!(p.amount_to_credit_balance, 100);
    let part = payments::record(&db, &ctx, &offline(&c.id, 1_000, Some(&inv.id)))
        .await
        .unwrap();
    assert_eq!(part.amount_applied, 1_000);
    let v = app::invoicing::get(&db, &ctx, &inv.id).await.unwrap();
    assert_eq!(
        (v.status.as_str(), v.amount_remaining),
        ("uncollectible", inv.amount_due - 1_000)
    );
    payments::record(
        &db,
        &ctx,
        &offline(&c.id, inv.amount_due - 1_000, Some(&inv.id)),
    )
    .await
    .unwrap();
    let v = app::invoicing::get(&db, &ctx, &inv.id).await.unwrap();
    assert_eq!((v.status.as_str(), v.amount_remaining), ("paid", 0));
    assert_eq!(
        ledger_sum(&db, &ctx.org_id, "bad_debt").await,
        0,
        "write-off reversed"
    );
    assert_eq!(
        ledger_sum(&db, &ctx.org_id, "cash").await,
        inv.amount_due + 100
    );
    assert_balance(&db, &ctx, &c.id, 0, 100).await;
    assert_clean(&db).await;
}

async fn refunds_come_from_the_credit_balance_and_never_exceed_the_payment(db: Db) {
    let gw = Gateway::Sandbox(Sandbox::new());
    let ctx = org(&db, t("2026-05-04T09:00:00Z")).await;
    let c = customer(&db, &ctx, "Refund Me", "EUR", "Europe/Berlin", "DE").await;
    let inv = invoice(&db, &ctx, &c.id, 2_000).await;
    let p = payments::record(&db, &ctx, &offline(&c.id, inv.amount_due + 1_500, None))
        .await
        .unwrap();
    assert_balance(&db, &ctx, &c.id, 0, 1_500).await;
    let req = |amount: Option<i64>| RefundCreate {
        payment: p.id.clone(),
        amount,
        reason: "requested_by_customer".into(),
    };
    expect_state(
        payments::refund(&db, &gw, &ctx, &req(Some(2_000))).await,
        "refund_exceeds_refundable",
    );
    let r = payments::refund(&db, &gw, &ctx, &req(Some(1_000)))
        .await
        .unwrap();
    assert_eq!((r.status.as_str(), r.amount), ("succeeded", 1_000));
    assert_balance(&db, &ctx, &c.id, 0, 500).await;
    // Without an amount: what is left of the credit balance.
    let r = payments::refund(&db, &gw, &ctx, &req(None)).await.unwrap();
    assert_eq!(r.amount, 500);
    expect_state(
        payments::refund(&db, &gw, &ctx, &req(Some(1))).await,
        "refund_exceeds_refundable",
    );
    // Credit from elsewhere cannot be refunded beyond the payment.
    let small = payments::record(&db, &ctx, &offline(&c.id, 300, None))
        .await
        .unwrap();
    app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Goodwill", -10_000)], true),
    )
    .await
    .unwrap();
    let e = payments::refund(
        &db,
        &gw,
        &ctx,
        &RefundCreate {
            payment: small.id.clone(),
            amount: Some(301),
            reason: "other".into(),
        },
    )
    .await;
    expect_state(e, "refund_exceeds_payment");
    expect_invalid(
        payments::refund(
            &db,
            &gw,
            &ctx,
            &RefundCreate {
                payment: small.id.clone(),
                amount: Some(10),
                reason: "because".into(),
            },
        )
        .await,
        "reason",
    );
    let page = payments::list_refunds(&db, &ctx, Some(&p.id), None, None)
        .await
        .unwrap();
    assert_eq!(page.data.len(), 2);
    assert_eq!(
        payments::get_payment(&db, &ctx, &p.id)
            .await
            .unwrap()
            .amount_refunded,
        1_500
    );
    // Goodwill credit is not cash: a payment that settled an invoice refunds nothing of it.
    let c2 = customer(&db, &ctx, "Goodwill", "EUR", "Europe/Berlin", "DE").await;
    let inv2 = invoice(&db, &ctx, &c2.id, 700).await;
    let applied = payments::record(&db, &ctx, &offline(&c2.id, inv2.amount_due, Some(&inv2.id)))
        .await
        .unwrap();
    assert_eq!(applied.amount_applied, inv2.amount_due);
    app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c2.id, vec![amount_line("Goodwill", -5_000)], true),
    )
    .await
    .unwrap();
    let e = payments::refund(
        &db,
        &gw,
        &ctx,
        &RefundCreate {
            payment: applied.id.clone(),
            amount: Some(100),
            reason: "other".into(),
        },
    )
    .await;
    expect_state(e, "refund_exceeds_refundable");
    assert_clean(&db).await;
}

async fn parallel_refunds_never_exceed_the_payment(db: Db) {
    let gw = Gateway::Sandbox(Sandbox::new());
    let ctx = org(&db, t("2026-05-04T09:00:00Z")).await;
    let c = customer(&db, &ctx, "Twice", "EUR", "Europe/Berlin", "DE").await;
    let p = payments::record(&db, &ctx, &offline(&c.id, 1_000, None))
        .await
        .unwrap();
    // More credit than the payment, so only the payment's own limit can stop the second.
    app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Goodwill", -5_000)], true),
    )
    .await
    .unwrap();
    let req = RefundCreate {
        payment: p.id.clone(),
        amount: Some(600),
        reason: "duplicate".into(),
    };
    let mut handles = Vec::new();
    for _ in 0..4 {
        let (db, gw, ctx, req) = (db.clone(), gw.clone(), ctx.clone(), req.clone());
        handles.push(tokio::spawn(async move {
            payments::refund(&db, &gw, &ctx, &req).await
        }));
    }
    let mut ok = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(AppError::State { code, .. }) => assert_eq!(code, "refund_exceeds_payment"),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ok, 1, "exactly one refund of 600 fits a payment of 1,000");
    assert_eq!(
        payments::get_payment(&db, &ctx, &p.id)
            .await
            .unwrap()
            .amount_refunded,
        600
    );
    assert_clean(&db).await;
}

async fn a_card_refund_after_a_credit_note_goes_back_through_the_gateway(db: Db) {
    let gw = Gateway::Sandbox(Sandbox::new());
    let ctx = org(&db, t("2026-05-04T09:00:00Z")).await;
    let c = customer(&db, &ctx, "Card Refund", "EUR", "Europe/Berlin", "DE").await;
    attach(&db, &gw, &ctx, &c.id, "5555555555554444").await;
    let inv = invoice(&db, &ctx, &c.id, 4_000).await;
    let p = payments::pay_invoice(&db, &gw, &ctx, &inv.id, &InvoicePay::default())
        .await
        .unwrap()
        .payment;
    // Paid money cannot be refunded until a credit note moves it to the credit balance.
    let req = RefundCreate {
        payment: p.id.clone(),
        amount: None,
        reason: "requested_by_customer".into(),
    };
    expect_state(
        payments::refund(&db, &gw, &ctx, &req).await,
        "refund_exceeds_credit_balance",
    );
    app::invoicing::create_credit_note(
        &db,
        &ctx,
        &app::invoicing::CreditNoteCreate {
            invoice: inv.id.clone(),
            reason: "product_unsatisfactory".into(),
            memo: None,
            lines: None,
        },
    )
    .await
    .unwrap();
    assert_balance(&db, &ctx, &c.id, 0, inv.amount_due).await;
    let r = payments::refund(&db, &gw, &ctx, &req).await.unwrap();
    assert_eq!((r.status.as_str(), r.amount), ("succeeded", inv.amount_due));
    assert!(r
        .gateway_reference
        .as_deref()
        .is_some_and(|g| g.starts_with("re_sandbox_")));
    assert_balance(&db, &ctx, &c.id, 0, 0).await;
    assert_eq!(ledger_sum(&db, &ctx.org_id, "cash").await, 0);
    // The gateway refuses a refund of a charge it does not know: the money goes back.
    let other = Gateway::Sandbox(Sandbox::new());
    let inv2 = invoice(&db, &ctx, &c.id, 1_000).await;
    let p2 = payments::pay_invoice(&db, &gw, &ctx, &inv2.id, &InvoicePay::default())
        .await
        .unwrap()
        .payment;
    app::invoicing::create_credit_note(
        &db,
        &ctx,
        &app::invoicing::CreditNoteCreate {
            invoice: inv2.id.clone(),
            reason: "duplicate".into(),
            memo: None,
            lines: None,
        },
    )
    .await
    .unwrap();
    let r = payments::refund(
        &db,
        &other,
        &ctx,
        &RefundCreate {
            payment: p2.id.clone(),
            amount: None,
            reason: "duplicate".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(r.status, "failed");
    assert_balance(&db, &ctx, &c.id, 0, inv2.amount_due).await;
    assert_eq!(
        payments::get_payment(&db, &ctx, &p2.id)
            .await
            .unwrap()
            .amount_refunded,
        0
    );
    assert_clean(&db).await;
}

async fn bad_payment_input_names_the_field_and_writes_nothing(db: Db) {
    let gw = Gateway::Sandbox(Sandbox::new());
    let ctx = org(&db, t("2026-05-04T09:00:00Z")).await;
    let c = customer(&db, &ctx, "Bad Input", "EUR", "Europe/Berlin", "DE").await;
    let mk = |kind: &str, card: Option<CardInput>| PaymentMethodCreate {
        customer: c.id.clone(),
        kind: kind.into(),
        card,
        token: None,
        bank: None,
        set_default: None,
    };
    expect_invalid(
        payments::attach_method(&db, &gw, &ctx, &mk("card", card("4242424242424241"))).await,
        "card.number",
    );
    expect_invalid(
        payments::attach_method(
            &db,
            &gw,
            &ctx,
            &mk(
                "card",
                Some(CardInput {
                    number: "4242424242424242".into(),
                    exp_month: 1,
                    exp_year: 2026,
                }),
            ),
        )
        .await,
        "card.exp_year",
    );
    expect_invalid(
        payments::attach_method(&db, &gw, &ctx, &mk("bank_transfer", None)).await,
        "bank",
    );
    expect_invalid(
        payments::attach_method(&db, &gw, &ctx, &mk("crypto", None)).await,
        "type",
    );
    expect_invalid(
        payments::attach_method(&db, &gw, &ctx, &mk("manual", card("4242424242424242"))).await,
        "card",
    );
    expect_invalid(
        payments::record(
            &db,
            &ctx,
            &PaymentCreate {
                currency: Some("USD".into()),
                ..offline(&c.id, 100, None)
            },
        )
        .await,
        "currency",
    );
    expect_invalid(
        payments::record(&db, &ctx, &offline(&c.id, 0, None)).await,
        "amount",
    );
    expect_invalid(
        payments::record(
            &db,
            &ctx,
            &PaymentCreate {
                method: "card".into(),
                ..offline(&c.id, 100, None)
            },
        )
        .await,
        "method",
    );
    expect_not_found(payments::record(&db, &ctx, &offline("cus_doesnotexist", 100, None)).await);
    // No method to charge.
    let inv = invoice(&db, &ctx, &c.id, 1_000).await;
    expect_state(
        payments::pay_invoice(&db, &gw, &ctx, &inv.id, &InvoicePay::default())
            .await
            .map(|c| c.payment),
        "no_default_payment_method",
    );
    let pm = attach(&db, &gw, &ctx, &c.id, "4242424242424242").await;
    expect_invalid(
        payments::pay_invoice(
            &db,
            &gw,
            &ctx,
            &inv.id,
            &InvoicePay {
                payment_method: None,
                amount: Some(inv.amount_due + 1),
            },
        )
        .await
        .map(|c| c.payment),
        "amount",
    );
    // Another organisation sees none of it.
    let other = org(&db, t("2026-05-04T09:00:00Z")).await;
    expect_not_found(
        payments::pay_invoice(&db, &gw, &other, &inv.id, &InvoicePay::default())
            .await
            .map(|c| c.payment),
    );
    expect_not_found(payments::make_default(&db, &other, &pm.id).await);
    expect_not_found(payments::list_methods(&db, &other, &c.id).await);
    // Detached methods are not charged; the customer then has no default.
    payments::detach_method(&db, &ctx, &pm.id).await.unwrap();
    expect_state(
        payments::pay_invoice(&db, &gw, &ctx, &inv.id, &InvoicePay::default())
            .await
            .map(|c| c.payment),
        "no_default_payment_method",
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM payments WHERE org_id = $1",
            &ctx.org_id
        )
        .await,
        0
    );
    assert_eq!(ledger_sum(&db, &ctx.org_id, "cash").await, 0);
    assert_clean(&db).await;
}
