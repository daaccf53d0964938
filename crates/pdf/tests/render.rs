//! Rendering: both languages, every block present, no missing glyphs, and byte-identical
//! output for the same input.

use chrono::{NaiveDate, TimeZone, Utc};
use pdf::{
    CreditLineDoc, CreditNoteDoc, InvoiceDoc, LineDoc, Party, Payment, Proration, ProrationSide,
    TaxDoc, TaxTreatment,
};

fn day(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, d).unwrap()
}

fn seller() -> Party {
    Party {
        name: "Acme Cloud GmbH".into(),
        address: vec!["Germany".into()],
        tax_ids: vec![],
        email: None,
    }
}

fn buyer() -> Party {
    Party {
        name: "ООО «Ромашка» & <Partners> #1 $x$ *bold* \"q\" \\ @ref".into(),
        address: vec![
            "Friedrichstraße 1".into(),
            "10117 Berlin".into(),
            "DE".into(),
        ],
        tax_ids: vec!["eu_vat DE123456789".into()],
        email: Some("billing@romashka.example".into()),
    }
}

/// BILLING.md's proration example: Basic 30.00 → Pro 90.00 on Jan 16, 19% tax.
fn upgrade_invoice() -> InvoiceDoc {
    InvoiceDoc {
        number: Some("INV-2026-000042".into()),
        id: "inv_0001".into(),
        currency: "EUR".into(),
        issued_at: Utc.with_ymd_and_hms(2026, 1, 16, 9, 30, 0).unwrap(),
        issue_date: day(1, 16),
        due_date: Some(day(1, 30)),
        period: None,
        seller: seller(),
        buyer: buyer(),
        lines: vec![
            LineDoc {
                description: "Unused time on Basic × 1 (2026-01-16 – 2026-01-31, 16 of 31 days)"
                    .into(),
                proration: Some(Proration {
                    side: ProrationSide::Unused,
                    product: "Basic".into(),
                    quantity: "1".into(),
                    first_day: day(1, 16),
                    last_day: day(1, 31),
                    days: 16,
                    of_days: 31,
                }),
                period: Some((day(1, 16), day(1, 31))),
                quantity: "1".into(),
                unit_amount: None,
                amount: -1548,
                discount: 0,
            },
            LineDoc {
                description: "Remaining time on Pro × 1".into(),
                proration: Some(Proration {
                    side: ProrationSide::Remaining,
                    product: "Pro".into(),
                    quantity: "1".into(),
                    first_day: day(1, 16),
                    last_day: day(1, 31),
                    days: 16,
                    of_days: 31,
                }),
                period: Some((day(1, 16), day(1, 31))),
                quantity: "1".into(),
                unit_amount: None,
                amount: 4645,
                discount: 0,
            },
            LineDoc {
                description: "Seats".into(),
                proration: None,
                period: Some((day(1, 1), day(1, 31))),
                quantity: "3".into(),
                unit_amount: Some(1000),
                amount: 3000,
                discount: 300,
            },
        ],
        taxes: vec![TaxDoc {
            name: "VAT".into(),
            percentage: "19".into(),
            inclusive: false,
            taxable: 5797,
            tax: 1101,
        }],
        treatment: TaxTreatment::Taxable,
        subtotal: 6097,
        total_discount: 300,
        total_net: 5797,
        total_tax: 1101,
        total: 6898,
        credit_applied: 898,
        amount_due: 6000,
        payment: Payment::Portal { url: None },
        memo: Some("Thank you — спасибо!".into()),
    }
}

fn credit_note() -> CreditNoteDoc {
    CreditNoteDoc {
        number: "CN-2026-000001".into(),
        id: "cn_0001".into(),
        invoice_number: "INV-2026-000042".into(),
        currency: "EUR".into(),
        created_at: Utc.with_ymd_and_hms(2026, 1, 20, 12, 0, 0).unwrap(),
        issue_date: day(1, 20),
        reason: "billing_error".into(),
        memo: None,
        seller: seller(),
        buyer: buyer(),
        lines: vec![CreditLineDoc {
            description: "Seats".into(),
            period: Some((day(1, 1), day(1, 31))),
            net: 1000,
            tax: 190,
            amount: 1190,
        }],
        treatment: TaxTreatment::ReverseCharge,
        total_net: 1000,
        total_tax: 190,
        total: 1190,
        amount_to_invoice: 1190,
        amount_to_credit_balance: 0,
    }
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn same_invoice_same_bytes() {
    let doc = upgrade_invoice();
    let a = pdf::invoice(&doc, "en").unwrap();
    let b = pdf::invoice(&doc, "en").unwrap();
    assert!(a.starts_with(b"%PDF-"));
    assert_eq!(a, b, "the same invoice must render to the same bytes");
    let ru1 = pdf::invoice(&doc, "ru").unwrap();
    let ru2 = pdf::invoice(&doc, "ru").unwrap();
    assert_eq!(ru1, ru2);
    assert_ne!(a, ru1);
    let cn = credit_note();
    assert_eq!(
        pdf::credit_note(&cn, "en").unwrap(),
        pdf::credit_note(&cn, "en").unwrap()
    );
    // The creation date is the document's own, not the clock's.
    let text = String::from_utf8_lossy(&a);
    assert!(
        text.contains("20260116093000"),
        "creation date from the input"
    );
}

#[test]
fn english_invoice_has_every_block() {
    let (text, complete) = pdf::invoice_text(&upgrade_invoice(), "en").unwrap();
    assert!(complete, "a glyph is missing: {text}");
    let text = squash(&text);
    for want in [
        "Invoice INV-2026-000042",
        "Acme Cloud GmbH",
        "Tax ID: eu_vat DE123456789",
        "16 Jan 2026",
        "30 Jan 2026",
        "Credit for unused time on Basic from 16 Jan 2026 to 31 Jan 2026 (16 of 31 days)",
        "Remaining time on Pro from 16 Jan 2026 to 31 Jan 2026 (16 of 31 days)",
        "-€15.48",
        "€46.45",
        "1 Jan 2026 – 31 Jan 2026",
        "Discount: -€3.00",
        "VAT 19%",
        "€57.97",
        "€11.01",
        "€68.98",
        "Applied from credit balance",
        "-€8.98",
        "Amount due",
        "€60.00",
        "customer portal",
        "quoting invoice number INV-2026-000042",
        "спасибо",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // Markup characters in the data print as themselves (the data is never evaluated).
    assert!(text.contains("ООО «Ромашка» &"), "{text}");
    assert!(
        text.contains("Partners> #1 $x$ *bold* \"q\" \\ @ref"),
        "{text}"
    );
    assert!(!text.contains("Reverse charge"));
}

#[test]
fn russian_invoice_is_in_russian_with_cyrillic_glyphs() {
    let (text, complete) = pdf::invoice_text(&upgrade_invoice(), "ru").unwrap();
    assert!(complete, "a glyph is missing: {text}");
    let text = squash(&text);
    for want in [
        "Счёт INV-2026-000042",
        "Оплатить до",
        "30.01.2026",
        "Возврат за неиспользованное время по тарифу Basic с 16.01.2026 по 31.01.2026 (16 из 31 дн.)",
        "Оставшееся время по тарифу Pro с 16.01.2026 по 31.01.2026 (16 из 31 дн.)",
        "-15,48 €",
        "46,45 €",
        "К оплате",
        "60,00 €",
        "личном кабинете",
        "ООО «Ромашка»",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn reverse_charge_note_and_payment_wording() {
    let mut doc = upgrade_invoice();
    doc.treatment = TaxTreatment::ReverseCharge;
    doc.taxes.clear();
    doc.payment = Payment::Card {
        brand: "Visa".into(),
        last4: "4242".into(),
    };
    let (text, complete) = pdf::invoice_text(&doc, "en").unwrap();
    assert!(complete);
    let text = squash(&text);
    assert!(text.contains("Reverse charge: VAT to be accounted for by the recipient"));
    assert!(text.contains("charged automatically to your Visa card ending in 4242"));
    let (ru, complete) = pdf::invoice_text(&doc, "ru").unwrap();
    assert!(complete);
    let ru = squash(&ru);
    assert!(ru.contains("Обратное начисление"), "{ru}");
    assert!(ru.contains("карты Visa, оканчивающейся на 4242"), "{ru}");
    // Covered by credit: nothing to pay.
    doc.amount_due = 0;
    let (text, _) = pdf::invoice_text(&doc, "de").unwrap();
    assert!(
        squash(&text).contains("Nothing to pay"),
        "other locales print English"
    );
}

#[test]
fn draft_is_marked() {
    let mut doc = upgrade_invoice();
    doc.number = None;
    let (text, complete) = pdf::invoice_text(&doc, "en").unwrap();
    assert!(complete);
    let text = squash(&text);
    assert!(text.contains("DRAFT"));
    assert!(text.contains("Draft invoice"));
    assert!(text.contains("not a valid invoice"));
    assert!(pdf::invoice(&doc, "ru").unwrap().starts_with(b"%PDF-"));
    assert_eq!(pdf::file_name(None, "inv_1"), "draft-inv_1.pdf");
    assert_eq!(
        pdf::file_name(Some("INV-2026-000042"), "inv_1"),
        "INV-2026-000042.pdf"
    );
    assert_eq!(pdf::file_name(Some("A/B \"c\""), "x"), "A_B__c_.pdf");
}

#[test]
fn credit_note_in_both_languages() {
    let cn = credit_note();
    let (text, complete) = pdf::credit_note_text(&cn, "en").unwrap();
    assert!(complete);
    let text = squash(&text);
    for want in [
        "Credit note CN-2026-000001",
        "Credits invoice",
        "INV-2026-000042",
        "Billing error",
        "Seats",
        "€11.90",
        "Taken off the invoice's amount due",
        "Reverse charge",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let (ru, complete) = pdf::credit_note_text(&cn, "ru").unwrap();
    assert!(complete);
    let ru = squash(&ru);
    for want in ["Кредит-нота CN-2026-000001", "Ошибка в счёте", "11,90 €"]
    {
        assert!(ru.contains(want), "missing {want:?} in:\n{ru}");
    }
    assert!(pdf::credit_note(&cn, "ru").unwrap().starts_with(b"%PDF-"));
}

#[test]
fn bad_input_is_named() {
    let mut doc = upgrade_invoice();
    doc.currency = "ZZZ".into();
    assert_eq!(
        pdf::invoice(&doc, "en").unwrap_err().to_string(),
        "unknown currency \"ZZZ\""
    );
    let mut doc = upgrade_invoice();
    doc.number = Some(" ".into());
    assert!(pdf::invoice(&doc, "en")
        .unwrap_err()
        .to_string()
        .starts_with("number:"));
}

#[test]
fn many_lines_break_across_pages() {
    let mut doc = upgrade_invoice();
    let line = doc.lines[2].clone();
    doc.lines = std::iter::repeat_n(line, 80).collect();
    let (text, complete) = pdf::invoice_text(&doc, "en").unwrap();
    assert!(complete);
    assert!(squash(&text).contains("Page 2 /"), "{text}");
}
