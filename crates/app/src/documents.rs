//! Invoice and credit note PDFs: load the document, its customer and the organisation,
//! map them to the `pdf` crate's plain data, and render in the customer's language.
//!
//! Drafts render too, marked "DRAFT" with a notice that they are not valid invoices (the
//! console previews them; a draft has no number, so its file is `draft-<id>.pdf`).
//!
//! What is printed comes from the invoice's own rows (numbers, dates, lines, tax, totals,
//! the amount due at finalization), so a finalized invoice renders to the same bytes every
//! time. Payment state (paid, voided) is not printed: the invoice is the document that was
//! issued, not an account statement. The seller is the organisation's name and country
//! (the organisation keeps no address, tax id or bank details), the buyer the customer's
//! current name, address and tax ids, and the payment instructions follow the customer's
//! current collection method and default payment method.
//!
//! Rendering is CPU work; it runs on the blocking pool.

use crate::invoicing::{Invoice, InvoiceLine};
use crate::subscriptions::tz_of;
use crate::util::parse_id;
use crate::{AppError, Ctx, Result};
use billing::ids::{CreditNoteId, InvoiceId};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use pdf::{
    CreditLineDoc, CreditNoteDoc, InvoiceDoc, LineDoc, Party, Payment, Proration, ProrationSide,
    TaxDoc, TaxTreatment,
};
use std::collections::BTreeMap;
use store::customers::CustomerRow;
use store::{Db, Tx};

/// The invoice's PDF: (file name, bytes). Another organisation's invoice is not found.
pub async fn invoice_pdf(db: &Db, ctx: &Ctx, invoice_id: &str) -> Result<(String, Vec<u8>)> {
    parse_id("id", invoice_id, InvoiceId::parse)?;
    let mut tx = db.read().await?;
    let (doc, locale) = invoice_doc(&mut tx, &ctx.org_id, invoice_id).await?;
    drop(tx);
    let name = pdf::file_name(doc.number.as_deref(), &doc.id);
    let bytes = render(move || pdf::invoice(&doc, &locale)).await?;
    Ok((name, bytes))
}

/// The credit note's PDF: (file name, bytes).
pub async fn credit_note_pdf(
    db: &Db,
    ctx: &Ctx,
    credit_note_id: &str,
) -> Result<(String, Vec<u8>)> {
    parse_id("id", credit_note_id, CreditNoteId::parse)?;
    let mut tx = db.read().await?;
    let (doc, locale) = credit_note_doc(&mut tx, &ctx.org_id, credit_note_id).await?;
    drop(tx);
    let name = pdf::file_name(Some(&doc.number), &doc.id);
    let bytes = render(move || pdf::credit_note(&doc, &locale)).await?;
    Ok((name, bytes))
}

/// Runs a render on the blocking pool.
pub async fn render(
    f: impl FnOnce() -> std::result::Result<Vec<u8>, pdf::PdfError> + Send + 'static,
) -> Result<Vec<u8>> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(format!("PDF rendering stopped: {e}")))?
        .map_err(|e| AppError::Internal(format!("PDF rendering failed: {e}")))
}

/// The printable invoice and the customer's locale.
pub async fn invoice_doc(tx: &mut Tx, org: &str, id: &str) -> Result<(InvoiceDoc, String)> {
    let inv = crate::invoicing::load(tx, org, id).await?;
    let customer = customer(tx, org, &inv.customer).await?;
    let tz = tz_of(&customer)?;
    let seller = seller(tx, org).await?;
    let buyer = buyer(tx, org, &customer).await?;
    let mut products = BTreeMap::new();
    for p in inv.lines.iter().filter_map(|l| l.product.as_deref()) {
        if !products.contains_key(p) {
            if let Some(row) = store::catalog::get_product(tx, org, p).await? {
                products.insert(p.to_string(), row.name);
            }
        }
    }
    let mut rate_names = BTreeMap::new();
    for r in inv.lines.iter().filter_map(|l| l.tax_rate.as_deref()) {
        if !rate_names.contains_key(r) {
            if let Some(row) = store::catalog::get_tax_rate(tx, org, r).await? {
                rate_names.insert(r.to_string(), row.display_name);
            }
        }
    }
    let payment = payment(tx, org, &customer).await?;
    let doc = map_invoice(&inv, tz, seller, buyer, &products, &rate_names, payment);
    Ok((doc, customer.locale))
}

/// The printable credit note and the customer's locale.
pub async fn credit_note_doc(tx: &mut Tx, org: &str, id: &str) -> Result<(CreditNoteDoc, String)> {
    let cn = store::invoices::get_credit_note(tx, org, id)
        .await?
        .ok_or_else(|| AppError::not_found("credit_note", id))?;
    let cn_lines = store::invoices::credit_note_lines(tx, org, id).await?;
    let inv = crate::invoicing::load(tx, org, &cn.invoice_id).await?;
    let customer = customer(tx, org, &cn.customer_id).await?;
    let tz = tz_of(&customer)?;
    let seller = seller(tx, org).await?;
    let buyer = buyer(tx, org, &customer).await?;
    let by_id: BTreeMap<&str, &InvoiceLine> =
        inv.lines.iter().map(|l| (l.id.as_str(), l)).collect();
    let lines = cn_lines
        .iter()
        .map(|l| {
            let il = by_id.get(l.invoice_line_id.as_str());
            CreditLineDoc {
                description: il
                    .map(|il| il.description.clone())
                    .unwrap_or_else(|| l.invoice_line_id.clone()),
                period: il.and_then(|il| line_period(il)),
                net: l.net_amount,
                tax: l.tax_amount,
                amount: l.amount,
            }
        })
        .collect();
    let doc = CreditNoteDoc {
        number: cn.number,
        id: cn.id,
        invoice_number: inv.number.clone().unwrap_or(inv.id.clone()),
        currency: cn.currency,
        created_at: cn.created_at,
        issue_date: local_date(cn.created_at, tz),
        reason: cn.reason,
        memo: cn.memo,
        seller,
        buyer,
        lines,
        treatment: treatment(inv.tax_note.as_deref()),
        total_net: cn.total_net,
        total_tax: cn.total_tax,
        total: cn.total,
        amount_to_invoice: cn.amount_to_invoice,
        amount_to_credit_balance: cn.amount_to_credit_balance,
    };
    Ok((doc, customer.locale))
}

async fn customer(tx: &mut Tx, org: &str, id: &str) -> Result<CustomerRow> {
    store::customers::get(tx, org, id)
        .await?
        .ok_or_else(|| AppError::not_found("customer", id))
}

async fn seller(tx: &mut Tx, org: &str) -> Result<Party> {
    let o = store::orgs::get_org(tx, org)
        .await?
        .ok_or_else(|| AppError::not_found("organisation", org))?;
    Ok(Party {
        name: o.name,
        address: vec![o.country],
        tax_ids: vec![],
        email: None,
    })
}

async fn buyer(tx: &mut Tx, org: &str, c: &CustomerRow) -> Result<Party> {
    let tax_ids = store::customers::tax_ids(tx, org, &c.id)
        .await?
        .into_iter()
        .map(|t| match t.kind.as_str() {
            "eu_vat" => format!("VAT {}", t.value),
            _ => t.value,
        })
        .collect();
    let city = [c.address_postal_code.as_deref(), c.address_city.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let address = [
        c.address_line1.clone(),
        c.address_line2.clone(),
        Some(city),
        c.address_region.clone(),
        c.address_country.clone(),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.trim().is_empty())
    .collect();
    Ok(Party {
        name: c.name.clone(),
        address,
        tax_ids,
        email: c.email.clone(),
    })
}

async fn payment(tx: &mut Tx, org: &str, c: &CustomerRow) -> Result<Payment> {
    if c.collection_method != "charge_automatically" {
        return Ok(Payment::Portal { url: None });
    }
    let method = store::payments::default_method(tx, org, &c.id).await?;
    Ok(match method {
        Some(m) => match (m.card_brand, m.card_last4, m.bank_name, m.bank_last4) {
            (Some(brand), Some(last4), _, _) => Payment::Card {
                brand: brand_name(&brand),
                last4,
            },
            (_, _, Some(bank), Some(last4)) => Payment::BankDebit { bank, last4 },
            _ => Payment::Automatic,
        },
        None => Payment::Automatic,
    })
}

fn brand_name(brand: &str) -> String {
    match brand {
        "visa" => "Visa".into(),
        "mastercard" => "Mastercard".into(),
        "amex" => "American Express".into(),
        "discover" => "Discover".into(),
        other => other.to_string(),
    }
}

fn local_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// Local (first day, last day) of an end-exclusive range.
fn inclusive(start: NaiveDate, end: NaiveDate) -> (NaiveDate, NaiveDate) {
    let last = end.pred_opt().unwrap_or(end).max(start);
    (start, last)
}

fn line_period(l: &InvoiceLine) -> Option<(NaiveDate, NaiveDate)> {
    match (l.period_start_date, l.period_end_date) {
        (Some(s), Some(e)) => Some(inclusive(s, e)),
        _ => None,
    }
}

fn treatment(note: Option<&str>) -> TaxTreatment {
    use billing::tax::TaxTreatment as T;
    match note {
        Some(n) if Some(n) == T::ReverseCharge.note() => TaxTreatment::ReverseCharge,
        Some(n) if Some(n) == T::Exempt.note() => TaxTreatment::Exempt,
        _ => TaxTreatment::Taxable,
    }
}

/// "(…, 16 of 31 days)" at the end of a proration line's stored description → (16, 31).
fn days_of(description: &str) -> Option<(i64, i64)> {
    let inner = description.strip_suffix(" days)")?;
    let tail = inner.rsplit(", ").next()?;
    let (days, of) = tail.split_once(" of ")?;
    Some((days.trim().parse().ok()?, of.trim().parse().ok()?))
}

fn proration(l: &InvoiceLine, products: &BTreeMap<String, String>) -> Option<Proration> {
    if l.kind != "proration" {
        return None;
    }
    let (first_day, last_day) = line_period(l)?;
    let (days, of_days) = days_of(&l.description)?;
    let product = products.get(l.product.as_deref()?)?.clone();
    Some(Proration {
        side: if l.amount < 0 {
            ProrationSide::Unused
        } else {
            ProrationSide::Remaining
        },
        product,
        quantity: l.quantity.clone(),
        first_day,
        last_day,
        days,
        of_days,
    })
}

/// The amount per unit when the quantity is a positive whole number dividing the amount.
fn unit_amount(l: &InvoiceLine) -> Option<i64> {
    if l.kind == "proration" {
        return None;
    }
    let q: i64 = l.quantity.trim().parse().ok()?;
    (q > 0 && l.amount % q == 0).then(|| l.amount / q)
}

fn map_invoice(
    inv: &Invoice,
    tz: Tz,
    seller: Party,
    buyer: Party,
    products: &BTreeMap<String, String>,
    rate_names: &BTreeMap<String, String>,
    payment: Payment,
) -> InvoiceDoc {
    let issued_at = inv.finalized_at.unwrap_or(inv.created);
    let lines = inv
        .lines
        .iter()
        .map(|l| LineDoc {
            description: l.description.clone(),
            proration: proration(l, products),
            period: line_period(l),
            quantity: l.quantity.clone(),
            unit_amount: unit_amount(l),
            amount: l.amount,
            discount: l.discount_amount,
        })
        .collect();
    // Tax per rate, in the order rates first appear on the invoice.
    let mut taxes: Vec<(String, TaxDoc)> = Vec::new();
    for l in &inv.lines {
        let (Some(rate), Some(pct)) = (l.tax_rate.as_ref(), l.tax_percentage.as_ref()) else {
            continue;
        };
        let key = format!("{rate}/{pct}/{}", l.tax_inclusive);
        match taxes.iter_mut().find(|(k, _)| *k == key) {
            Some((_, t)) => {
                t.taxable += l.net_amount;
                t.tax += l.tax_amount;
            }
            None => taxes.push((
                key,
                TaxDoc {
                    name: rate_names
                        .get(rate)
                        .cloned()
                        .unwrap_or_else(|| "Tax".into()),
                    percentage: pct.clone(),
                    inclusive: l.tax_inclusive,
                    taxable: l.net_amount,
                    tax: l.tax_amount,
                },
            )),
        }
    }
    InvoiceDoc {
        number: inv.number.clone(),
        id: inv.id.clone(),
        currency: inv.currency.clone(),
        issued_at,
        issue_date: local_date(issued_at, tz),
        due_date: inv.due_date,
        period: match (inv.period_start, inv.period_end) {
            (Some(s), Some(e)) if inv.subscription.is_some() => {
                Some(inclusive(local_date(s, tz), local_date(e, tz)))
            }
            _ => None,
        },
        seller,
        buyer,
        lines,
        taxes: taxes.into_iter().map(|(_, t)| t).collect(),
        treatment: treatment(inv.tax_note.as_deref()),
        subtotal: inv.subtotal,
        total_discount: inv.total_discount,
        total_net: inv.total_net,
        total_tax: inv.total_tax,
        total: inv.total,
        credit_applied: inv.credit_applied,
        amount_due: inv.amount_due,
        payment,
        memo: inv.memo.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proration_days_from_the_stored_wording() {
        assert_eq!(
            days_of("Remaining time on Pro × 1 (2026-01-16 – 2026-01-31, 16 of 31 days)"),
            Some((16, 31))
        );
        assert_eq!(
            days_of("Unused time on Basic × 2 after cancellation (2026-01-16 – 2026-01-31, 1 of 28 days)"),
            Some((1, 28))
        );
        assert_eq!(days_of("Pro × 1"), None);
    }

    #[test]
    fn treatment_from_the_note() {
        use billing::tax::TaxTreatment as T;
        assert_eq!(
            treatment(T::ReverseCharge.note()),
            TaxTreatment::ReverseCharge
        );
        assert_eq!(treatment(T::Exempt.note()), TaxTreatment::Exempt);
        assert_eq!(treatment(None), TaxTreatment::Taxable);
    }
}
