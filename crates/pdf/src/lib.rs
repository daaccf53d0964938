//! Invoice and credit note PDFs, laid out by typst.
//!
//! Pure: no IO, no clock, no database. The caller passes plain owned data
//! ([`InvoiceDoc`], [`CreditNoteDoc`]); this crate formats every printed string in the
//! document's language (English or Russian; any other locale prints English), hands them
//! to the template `document.typ` as a JSON virtual file (`json("/data.json")`, so no
//! string ever becomes typst code), and exports the PDF with typst-pdf.
//!
//! The same input always renders to the same bytes: the PDF's creation date is the
//! document's own date (an invoice's finalization instant, a credit note's creation), its
//! identifier is derived from the document number, typst's `today()` is that date too, and
//! the fonts are the ones embedded in `typst-assets` (Libertinus Serif, which has Latin and
//! Cyrillic glyphs).

mod format;
mod labels;
mod world;

pub use format::{date as format_date, money as format_money, Lang};

use chrono::{DateTime, NaiveDate, Utc};
use format::{date, money, percent, quantity};
use labels::{labels, Labels};
use serde::Serialize;

/// Why a document could not be rendered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PdfError {
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The template failed to compile (a bug here, not in the data).
    #[error("typst: {0}")]
    Typst(String),
}

/// A seller or buyer as printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Party {
    pub name: String,
    /// Address lines, already in print order (street, "postal code city", region, country).
    pub address: Vec<String>,
    /// Tax identifiers, e.g. "DE123456789" or "eu_vat DE123456789".
    pub tax_ids: Vec<String>,
    pub email: Option<String>,
}

/// Which side of a plan or quantity change a proration line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProrationSide {
    /// The unused part of what was charged before the change: a credit.
    Unused,
    /// The rest of the period at the new price or quantity: a charge.
    Remaining,
}

/// What a proration line is about, for wording a customer understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proration {
    pub side: ProrationSide,
    /// The product's name ("Pro").
    pub product: String,
    /// Exact decimal quantity ("1").
    pub quantity: String,
    /// First and last day covered (both inclusive).
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// Days covered out of the period's days.
    pub days: i64,
    pub of_days: i64,
}

/// One invoice line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineDoc {
    pub description: String,
    /// Set for proration lines: the description is then worded from it.
    pub proration: Option<Proration>,
    /// First and last day of the service period (both inclusive).
    pub period: Option<(NaiveDate, NaiveDate)>,
    /// Exact decimal quantity.
    pub quantity: String,
    /// Price per unit in minor units, when the amount is a whole multiple of the quantity.
    pub unit_amount: Option<i64>,
    /// Before discount, minor units.
    pub amount: i64,
    pub discount: i64,
}

/// Tax at one rate over the whole invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxDoc {
    /// The rate's display name ("VAT", "USt").
    pub name: String,
    /// Exact decimal percentage ("19").
    pub percentage: String,
    pub inclusive: bool,
    pub taxable: i64,
    pub tax: i64,
}

/// How tax was treated on the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaxTreatment {
    #[default]
    Taxable,
    Exempt,
    /// EU B2B reverse charge: prints the reverse-charge note.
    ReverseCharge,
}

/// How the amount due gets paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payment {
    /// Charged automatically to a card.
    Card { brand: String, last4: String },
    /// Charged automatically to a bank account.
    BankDebit { bank: String, last4: String },
    /// Charged automatically to the payment method on file (not known here).
    Automatic,
    /// Paid by the customer in the customer portal (no bank details are kept for the
    /// organisation); `url` when the portal's address is known.
    Portal { url: Option<String> },
}

/// An invoice as printed. Amounts are minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceDoc {
    /// None for a draft: it prints "DRAFT" and a notice instead of a number.
    pub number: Option<String>,
    /// Stable identity of the document (the invoice id): the PDF identifier's seed.
    pub id: String,
    pub currency: String,
    /// The instant the invoice was finalized (a draft: created); the PDF's creation date.
    pub issued_at: DateTime<Utc>,
    /// The issue date in the customer's zone.
    pub issue_date: NaiveDate,
    /// Due date; None or equal to `issue_date` prints "due on receipt".
    pub due_date: Option<NaiveDate>,
    /// Billing period (both days inclusive), for subscription invoices.
    pub period: Option<(NaiveDate, NaiveDate)>,
    pub seller: Party,
    pub buyer: Party,
    pub lines: Vec<LineDoc>,
    pub taxes: Vec<TaxDoc>,
    pub treatment: TaxTreatment,
    pub subtotal: i64,
    pub total_discount: i64,
    pub total_net: i64,
    pub total_tax: i64,
    pub total: i64,
    /// Taken from the customer's credit balance at finalization.
    pub credit_applied: i64,
    /// total − credit applied: what the invoice asked for when it was issued.
    pub amount_due: i64,
    pub payment: Payment,
    pub memo: Option<String>,
}

/// One credited line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditLineDoc {
    pub description: String,
    pub period: Option<(NaiveDate, NaiveDate)>,
    pub net: i64,
    pub tax: i64,
    /// Net + tax.
    pub amount: i64,
}

/// A credit note as printed. Amounts are minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditNoteDoc {
    pub number: String,
    pub id: String,
    /// The number of the invoice it credits.
    pub invoice_number: String,
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub issue_date: NaiveDate,
    /// billing_error, duplicate, product_unsatisfactory, goodwill, order_change, fraudulent.
    pub reason: String,
    pub memo: Option<String>,
    pub seller: Party,
    pub buyer: Party,
    pub lines: Vec<CreditLineDoc>,
    pub treatment: TaxTreatment,
    pub total_net: i64,
    pub total_tax: i64,
    pub total: i64,
    pub amount_to_invoice: i64,
    pub amount_to_credit_balance: i64,
}

// ---------------------------------------------------------------------------------------
// The template's data: every string already formatted.

#[derive(Serialize)]
struct View {
    lang: &'static str,
    title: String,
    author: String,
    draft_mark: Option<&'static str>,
    draft_notice: Option<&'static str>,
    page_label: &'static str,
    footer: String,
    meta: Vec<(String, String)>,
    seller_heading: &'static str,
    seller: Vec<String>,
    buyer_heading: &'static str,
    buyer: Vec<String>,
    columns: Vec<&'static str>,
    lines: Vec<ViewLine>,
    taxes_heading: &'static str,
    tax_columns: Vec<&'static str>,
    taxes: Vec<Vec<String>>,
    totals: Vec<ViewTotal>,
    notes_heading: &'static str,
    notes: Vec<String>,
    payment_heading: &'static str,
    payment: Option<String>,
}

#[derive(Serialize)]
struct ViewLine {
    description: String,
    detail: Vec<String>,
    quantity: String,
    unit: String,
    amount: String,
}

#[derive(Serialize)]
struct ViewTotal {
    label: String,
    value: String,
    strong: bool,
}

fn party_lines(p: &Party, l: &Labels) -> Vec<String> {
    let mut out = vec![p.name.clone()];
    out.extend(p.address.iter().filter(|a| !a.trim().is_empty()).cloned());
    for t in &p.tax_ids {
        out.push(format!("{}: {t}", l.tax_id));
    }
    if let Some(e) = &p.email {
        out.push(e.clone());
    }
    out
}

fn range(r: (NaiveDate, NaiveDate), lang: Lang) -> String {
    format!("{} – {}", date(r.0, lang), date(r.1, lang))
}

/// "Remaining time on Pro from 16 Jan 2026 to 31 Jan 2026 (16 of 31 days)".
pub fn proration_wording(p: &Proration, lang: Lang) -> String {
    let qty = quantity(&p.quantity, lang);
    let what = if qty == "1" {
        p.product.clone()
    } else {
        format!("{qty} × {}", p.product)
    };
    let (from, to) = (date(p.first_day, lang), date(p.last_day, lang));
    let (days, of) = (p.days, p.of_days);
    match (lang, p.side) {
        (Lang::En, ProrationSide::Remaining) => {
            format!("Remaining time on {what} from {from} to {to} ({days} of {of} days)")
        }
        (Lang::En, ProrationSide::Unused) => format!(
            "Credit for unused time on {what} from {from} to {to} ({days} of {of} days)"
        ),
        (Lang::Ru, ProrationSide::Remaining) => format!(
            "Оставшееся время по тарифу {what} с {from} по {to} ({days} из {of} дн.)"
        ),
        (Lang::Ru, ProrationSide::Unused) => format!(
            "Возврат за неиспользованное время по тарифу {what} с {from} по {to} ({days} из {of} дн.)"
        ),
    }
}

fn treatment_note(t: TaxTreatment, l: &Labels) -> Option<String> {
    match t {
        TaxTreatment::Taxable => None,
        TaxTreatment::Exempt => Some(l.tax_exempt.to_string()),
        TaxTreatment::ReverseCharge => Some(l.reverse_charge.to_string()),
    }
}

fn payment_text(doc: &InvoiceDoc, lang: Lang) -> Result<String, PdfError> {
    let due = money(doc.amount_due, &doc.currency, lang)?;
    let number = doc.number.as_deref().unwrap_or("");
    if doc.amount_due <= 0 {
        return Ok(match lang {
            Lang::En => "Nothing to pay: the invoice is covered by your credit balance.".into(),
            Lang::Ru => "Оплата не требуется: счёт покрыт вашим кредитным балансом.".into(),
        });
    }
    Ok(match (&doc.payment, lang) {
        (Payment::Card { brand, last4 }, Lang::En) => format!(
            "{due} will be charged automatically to your {brand} card ending in {last4}. No action is needed."
        ),
        (Payment::Card { brand, last4 }, Lang::Ru) => format!(
            "{due} будут автоматически списаны с вашей карты {brand}, оканчивающейся на {last4}. Никаких действий не требуется."
        ),
        (Payment::BankDebit { bank, last4 }, Lang::En) => format!(
            "{due} will be debited automatically from your {bank} account ending in {last4}."
        ),
        (Payment::BankDebit { bank, last4 }, Lang::Ru) => format!(
            "{due} будут автоматически списаны с вашего счёта в {bank}, оканчивающегося на {last4}."
        ),
        (Payment::Automatic, Lang::En) => {
            format!("{due} will be charged automatically to your payment method on file.")
        }
        (Payment::Automatic, Lang::Ru) => {
            format!("{due} будут автоматически списаны с сохранённого способа оплаты.")
        }
        (Payment::Portal { url }, Lang::En) => {
            let place = match url {
                Some(u) => format!("in the customer portal at {u}"),
                None => "in the customer portal".to_string(),
            };
            format!("Please pay {due} by the due date {place}, quoting invoice number {number}.")
        }
        (Payment::Portal { url }, Lang::Ru) => {
            let place = match url {
                Some(u) => format!("в личном кабинете клиента ({u})"),
                None => "в личном кабинете клиента".to_string(),
            };
            format!("Оплатите {due} до указанного срока {place}, указав номер счёта {number}.")
        }
    })
}

fn invoice_view(doc: &InvoiceDoc, lang: Lang) -> Result<View, PdfError> {
    let l = labels(lang);
    let m = |v: i64| money(v, &doc.currency, lang);
    let draft = doc.number.is_none();
    let number = doc
        .number
        .clone()
        .unwrap_or_else(|| l.draft_mark.to_string());
    let title = if draft {
        l.draft_invoice.to_string()
    } else {
        format!("{} {number}", l.invoice)
    };
    let mut meta = vec![
        (l.number.to_string(), number.clone()),
        (l.issue_date.to_string(), date(doc.issue_date, lang)),
    ];
    let due = match doc.due_date {
        Some(d) if d != doc.issue_date => date(d, lang),
        _ => l.due_on_receipt.to_string(),
    };
    meta.push((l.due_date.to_string(), due));
    if let Some(p) = doc.period {
        meta.push((l.period.to_string(), range(p, lang)));
    }
    let mut lines = Vec::with_capacity(doc.lines.len());
    for line in &doc.lines {
        let description = match &line.proration {
            Some(p) => proration_wording(p, lang),
            None => line.description.clone(),
        };
        let mut detail = Vec::new();
        if line.proration.is_none() {
            if let Some(p) = line.period {
                detail.push(range(p, lang));
            }
        }
        if line.discount != 0 {
            detail.push(format!("{}: {}", l.discount, m(-line.discount)?));
        }
        lines.push(ViewLine {
            description,
            detail,
            quantity: quantity(&line.quantity, lang),
            unit: match line.unit_amount {
                Some(u) => m(u)?,
                None => String::new(),
            },
            amount: m(line.amount)?,
        });
    }
    let mut taxes = Vec::new();
    for t in &doc.taxes {
        taxes.push(vec![
            t.name.clone(),
            percent(&t.percentage, lang),
            m(t.taxable)?,
            m(t.tax)?,
        ]);
    }
    let row = |label: &str, value: String, strong: bool| ViewTotal {
        label: label.to_string(),
        value,
        strong,
    };
    let mut totals = vec![row(l.subtotal, m(doc.subtotal)?, false)];
    if doc.total_discount != 0 {
        totals.push(row(l.discounts, m(-doc.total_discount)?, false));
    }
    totals.push(row(l.total_net, m(doc.total_net)?, false));
    if doc.taxes.is_empty() {
        totals.push(row(l.tax, m(doc.total_tax)?, false));
    }
    for t in &doc.taxes {
        let label = format!("{} {}", t.name, percent(&t.percentage, lang));
        totals.push(row(&label, m(t.tax)?, false));
    }
    totals.push(row(l.total, m(doc.total)?, true));
    if doc.credit_applied != 0 {
        totals.push(row(l.credit_applied, m(-doc.credit_applied)?, false));
    }
    totals.push(row(l.amount_due, m(doc.amount_due)?, true));
    let mut notes = Vec::new();
    notes.extend(treatment_note(doc.treatment, l));
    if let Some(memo) = doc.memo.as_ref().filter(|m| !m.trim().is_empty()) {
        notes.push(memo.clone());
    }
    Ok(View {
        lang: lang.code(),
        title: title.clone(),
        author: doc.seller.name.clone(),
        draft_mark: draft.then_some(l.draft_mark),
        draft_notice: draft.then_some(l.draft_notice),
        page_label: l.page,
        footer: format!("{} · {title}", doc.seller.name),
        meta,
        seller_heading: l.seller,
        seller: party_lines(&doc.seller, l),
        buyer_heading: l.buyer,
        buyer: party_lines(&doc.buyer, l),
        columns: vec![l.description, l.quantity, l.unit_price, l.amount],
        lines,
        taxes_heading: l.tax,
        tax_columns: vec![l.tax, l.tax_rate, l.taxable_amount, l.tax_amount],
        taxes,
        totals,
        notes_heading: l.notes,
        notes,
        payment_heading: l.payment,
        payment: Some(payment_text(doc, lang)?),
    })
}

fn credit_note_view(doc: &CreditNoteDoc, lang: Lang) -> Result<View, PdfError> {
    let l = labels(lang);
    let m = |v: i64| money(v, &doc.currency, lang);
    let title = format!("{} {}", l.credit_note, doc.number);
    let meta = vec![
        (l.number.to_string(), doc.number.clone()),
        (l.issue_date.to_string(), date(doc.issue_date, lang)),
        (l.credits_invoice.to_string(), doc.invoice_number.clone()),
        (l.reason.to_string(), labels::reason(&doc.reason, lang)),
    ];
    let mut lines = Vec::with_capacity(doc.lines.len());
    for line in &doc.lines {
        let mut detail = Vec::new();
        if let Some(p) = line.period {
            detail.push(range(p, lang));
        }
        if line.tax != 0 {
            detail.push(format!(
                "{}: {} + {}: {}",
                l.total_net,
                m(line.net)?,
                l.tax,
                m(line.tax)?
            ));
        }
        lines.push(ViewLine {
            description: line.description.clone(),
            detail,
            quantity: String::new(),
            unit: String::new(),
            amount: m(line.amount)?,
        });
    }
    let row = |label: &str, value: String, strong: bool| ViewTotal {
        label: label.to_string(),
        value,
        strong,
    };
    let mut totals = vec![
        row(l.total_net, m(doc.total_net)?, false),
        row(l.tax, m(doc.total_tax)?, false),
        row(l.total, m(doc.total)?, true),
    ];
    if doc.amount_to_invoice != 0 {
        totals.push(row(l.to_invoice, m(doc.amount_to_invoice)?, false));
    }
    if doc.amount_to_credit_balance != 0 {
        totals.push(row(
            l.to_credit_balance,
            m(doc.amount_to_credit_balance)?,
            false,
        ));
    }
    let mut notes = Vec::new();
    notes.extend(treatment_note(doc.treatment, l));
    if let Some(memo) = doc.memo.as_ref().filter(|m| !m.trim().is_empty()) {
        notes.push(memo.clone());
    }
    Ok(View {
        lang: lang.code(),
        title: title.clone(),
        author: doc.seller.name.clone(),
        draft_mark: None,
        draft_notice: None,
        page_label: l.page,
        footer: format!("{} · {title}", doc.seller.name),
        meta,
        seller_heading: l.seller,
        seller: party_lines(&doc.seller, l),
        buyer_heading: l.buyer,
        buyer: party_lines(&doc.buyer, l),
        columns: vec![l.description, "", "", l.amount],
        lines,
        taxes_heading: l.tax,
        tax_columns: vec![],
        taxes: vec![],
        totals,
        notes_heading: l.notes,
        notes,
        payment_heading: l.payment,
        payment: None,
    })
}

fn check_invoice(doc: &InvoiceDoc) -> Result<(), PdfError> {
    format::exponent(&doc.currency)?;
    if doc.number.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(PdfError::Invalid {
            field: "number",
            message: "is empty (a draft has no number: pass None)".into(),
        });
    }
    Ok(())
}

/// Renders an invoice to PDF bytes in `locale` ("en", "ru"; others print English).
pub fn invoice(doc: &InvoiceDoc, locale: &str) -> Result<Vec<u8>, PdfError> {
    check_invoice(doc)?;
    let view = invoice_view(doc, Lang::from_locale(locale))?;
    let ident = format!("invoice:{}", doc.id);
    world::render(&view, doc.issued_at, &ident)
}

/// Renders a credit note to PDF bytes in `locale`.
pub fn credit_note(doc: &CreditNoteDoc, locale: &str) -> Result<Vec<u8>, PdfError> {
    format::exponent(&doc.currency)?;
    let view = credit_note_view(doc, Lang::from_locale(locale))?;
    let ident = format!("credit_note:{}", doc.id);
    world::render(&view, doc.created_at, &ident)
}

/// The text an invoice lays out, page by page, and whether every glyph was found in the
/// fonts (false means some character printed as a missing-glyph box). For tests and checks.
pub fn invoice_text(doc: &InvoiceDoc, locale: &str) -> Result<(String, bool), PdfError> {
    check_invoice(doc)?;
    let view = invoice_view(doc, Lang::from_locale(locale))?;
    world::text(&view, doc.issued_at)
}

/// The text a credit note lays out and whether every glyph was found (see [`invoice_text`]).
pub fn credit_note_text(doc: &CreditNoteDoc, locale: &str) -> Result<(String, bool), PdfError> {
    format::exponent(&doc.currency)?;
    let view = credit_note_view(doc, Lang::from_locale(locale))?;
    world::text(&view, doc.created_at)
}

/// A file name for the document: its number (or "draft-<id>") with unsafe characters
/// replaced, plus ".pdf".
pub fn file_name(number: Option<&str>, id: &str) -> String {
    let base = match number {
        Some(n) if !n.trim().is_empty() => n.to_string(),
        _ => format!("draft-{id}"),
    };
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{clean}.pdf")
}
