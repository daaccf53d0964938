//! Invoice and credit note documents from real rows: BILLING.md's upgrade (Basic → Pro on
//! Jan 16, 19% VAT) prints proration worded for the customer, tax per rate and totals, in
//! English and Russian; a reverse-charge customer gets the note; the same invoice renders to
//! the same bytes; another organisation cannot render it.

mod common;

use app::customers::TaxIdInput;
use app::invoicing::CreditNoteCreate;
use app::subscriptions::{ItemChange, SubscriptionChange};
use common::*;

on_both_backends!(
    upgrade_invoice_prints_proration_tax_and_totals,
    reverse_charge_and_credit_note_documents,
);

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn upgrade_invoice_prints_proration_tax_and_totals(db: Db) {
    let ctx = org(&db, t("2026-01-01T09:00:00Z")).await;
    de_vat(&db, &ctx).await;
    let basic_p = product(&db, &ctx, "Basic").await;
    let pro_p = product(&db, &ctx, "Pro").await;
    let basic = monthly_flat(&db, &ctx, &basic_p.id, "EUR", 3000).await;
    let pro = monthly_flat(&db, &ctx, &pro_p.id, "EUR", 9000).await;
    let c = customer(&db, &ctx, "Berlin GmbH", "EUR", "Europe/Berlin", "DE").await;
    let (sub, _) = app::subscriptions::create(
        &db,
        &ctx,
        &sub_input(&c.id, &basic.id, Some(t("2025-12-31T23:00:00Z"))),
    )
    .await
    .unwrap();
    let upgrade = SubscriptionChange {
        items: vec![ItemChange {
            id: Some(sub.items[0].id.clone()),
            price: Some(pro.id.clone()),
            quantity: None,
            deleted: false,
        }],
        effective: None,
    };
    let jan16 = at(&ctx, t("2026-01-16T10:00:00Z"));
    let (_, inv) = app::subscriptions::change(&db, &jan16, &sub.id, &upgrade)
        .await
        .unwrap();
    let inv = inv.expect("upgrade invoice");

    let mut tx = db.read().await.unwrap();
    let (doc, locale) = app::documents::invoice_doc(&mut tx, &ctx.org_id, &inv.id)
        .await
        .unwrap();
    drop(tx);
    assert_eq!(locale, "en");
    assert_eq!(doc.taxes.len(), 1);
    assert_eq!((doc.taxes[0].taxable, doc.taxes[0].tax), (3097, 588));
    let (text, complete) = pdf::invoice_text(&doc, "en").unwrap();
    assert!(complete);
    let text = squash(&text);
    for want in [
        "Invoice INV-2026-000002",
        "Credit for unused time on Basic from 16 Jan 2026 to 31 Jan 2026 (16 of 31 days)",
        "Remaining time on Pro from 16 Jan 2026 to 31 Jan 2026 (16 of 31 days)",
        "-€15.48",
        "€46.45",
        "USt DE 19% €5.88",
        "Total €36.85",
        "Amount due €36.85",
        "Berlin GmbH",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let (ru, complete) = pdf::invoice_text(&doc, "ru").unwrap();
    assert!(complete);
    let ru = squash(&ru);
    assert!(
        ru.contains("Оставшееся время по тарифу Pro с 16.01.2026 по 31.01.2026 (16 из 31 дн.)"),
        "{ru}"
    );
    assert!(ru.contains("36,85 €"), "{ru}");

    let (name, a) = app::documents::invoice_pdf(&db, &jan16, &inv.id)
        .await
        .unwrap();
    assert_eq!(name, "INV-2026-000002.pdf");
    // Rendered later, it is still the same document.
    let later = at(&ctx, t("2026-03-01T00:00:00Z"));
    let (_, b) = app::documents::invoice_pdf(&db, &later, &inv.id)
        .await
        .unwrap();
    assert_eq!(a, b);

    let other = org(&db, ctx.now).await;
    expect_not_found(app::documents::invoice_pdf(&db, &other, &inv.id).await);
}

async fn reverse_charge_and_credit_note_documents(db: Db) {
    let ctx = org(&db, t("2026-02-01T09:00:00Z")).await;
    de_vat(&db, &ctx).await;
    let mut input = customer_input("Paris SAS", "EUR", "Europe/Paris", "FR");
    input.locale = Some("ru".into());
    input.tax_ids = vec![TaxIdInput {
        kind: "eu_vat".into(),
        value: "FR12345678901".into(),
    }];
    let c = app::customers::create(&db, &ctx, &input).await.unwrap();
    let inv = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Consulting", 10_000)], true),
    )
    .await
    .unwrap();
    let mut tx = db.read().await.unwrap();
    let (doc, locale) = app::documents::invoice_doc(&mut tx, &ctx.org_id, &inv.id)
        .await
        .unwrap();
    drop(tx);
    assert_eq!(locale, "ru");
    assert_eq!(doc.treatment, pdf::TaxTreatment::ReverseCharge);
    assert_eq!(doc.buyer.tax_ids, vec!["VAT FR12345678901".to_string()]);
    let (text, _) = pdf::invoice_text(&doc, &locale).unwrap();
    let text = squash(&text);
    assert!(text.contains("Обратное начисление"), "{text}");
    assert!(text.contains("VAT FR12345678901"), "{text}");

    let cn = app::invoicing::create_credit_note(
        &db,
        &ctx,
        &CreditNoteCreate {
            invoice: inv.id.clone(),
            reason: "duplicate".into(),
            memo: None,
            lines: None,
        },
    )
    .await
    .unwrap();
    let (name, bytes) = app::documents::credit_note_pdf(&db, &ctx, &cn.id)
        .await
        .unwrap();
    assert_eq!(name, format!("{}.pdf", cn.number));
    assert!(bytes.starts_with(b"%PDF-"));
    let mut tx = db.read().await.unwrap();
    let (cdoc, _) = app::documents::credit_note_doc(&mut tx, &ctx.org_id, &cn.id)
        .await
        .unwrap();
    drop(tx);
    let (text, complete) = pdf::credit_note_text(&cdoc, "ru").unwrap();
    assert!(complete);
    let text = squash(&text);
    assert!(text.contains("Повторное списание"), "{text}");
    assert!(text.contains(inv.number.as_deref().unwrap()), "{text}");
    assert!(text.contains("100,00 €"), "{text}");

    let other = org(&db, ctx.now).await;
    expect_not_found(app::documents::credit_note_pdf(&db, &other, &cn.id).await);
}
