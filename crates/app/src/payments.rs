//! Payment methods, payments and refunds (BILLING.md "Payments and collection").
//!
//! Rules this module keeps:
//! - A card is attached by tokenizing its details at the gateway; we keep the token, brand,
//!   last four digits and expiry, never the number.
//! - A card payment is recorded `pending` in its own transaction *before* the gateway is
//!   called, with the payment's id as the gateway idempotency key; the outcome is applied
//!   in a second transaction. A timeout leaves it `pending`; [`retry_payment`] asks the
//!   gateway again with the same key, so the customer is never charged twice.
//! - A succeeded payment is allocated: first to the invoice it names (open, or
//!   uncollectible — then the write-off is reversed for what it settles), then to the
//!   customer's other open invoices in its currency, oldest finalized first; what is left
//!   goes to the credit balance. All in one transaction with its ledger posting.
//! - A refund returns money from the customer's credit balance (`Dr customer_credit; Cr
//!   cash`): it never exceeds what is left of the payment nor the credit balance. Money that
//!   settled a paid invoice is refunded by first crediting that invoice with a credit note,
//!   which moves it to the credit balance. The payment row is locked and its
//!   `amount_refunded` is checked by the database (`CHECK amount_refunded <= amount`), so
//!   parallel refunds cannot exceed the payment. A card refund is taken from the ledger
//!   before the gateway is called; if the gateway refuses, a mirror posting puts it back.
//!
//! Locks, always in this order: payment, invoices (ascending id), customer.

use crate::ledger::TxMeta;
use crate::util::parse_id;
use crate::{page_limit, AppError, Ctx, Page, Result};
use billing::ids::{CustomerId, InvoiceId, PaymentId, PaymentMethodId, RefundId};
use chrono::{DateTime, Datelike, Utc};
use gateway::{CardDetails, Gateway, GatewayError, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use store::payments::{AllocationRow, PaymentMethodRow, PaymentRow, RefundRow};
use store::{new_id, Db, Tx};
use utoipa::ToSchema;

// ---------------------------------------------------------------------------------------
// Payment methods

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardInput {
    /// The card number. Sent to the gateway to be tokenized, then dropped: never stored or
    /// logged.
    pub number: String,
    pub exp_month: u32,
    pub exp_year: i32,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankInput {
    pub bank_name: String,
    /// The last four digits of the account.
    pub account_last4: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethodCreate {
    pub customer: String,
    /// card, bank_transfer or manual.
    #[serde(rename = "type")]
    pub kind: String,
    /// For cards: the details to tokenize (or give `token`).
    pub card: Option<CardInput>,
    /// For cards: a token the gateway issued already (e.g. `tok_visa` in the sandbox).
    pub token: Option<String>,
    /// For bank transfers.
    pub bank: Option<BankInput>,
    /// Make it the default; a customer's first method becomes the default anyway.
    pub set_default: Option<bool>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CardView {
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BankView {
    pub bank_name: Option<String>,
    pub last4: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentMethod {
    pub id: String,
    pub object: &'static str,
    pub customer: String,
    /// card, bank_transfer or manual.
    #[serde(rename = "type")]
    pub kind: String,
    pub gateway: Option<String>,
    pub card: Option<CardView>,
    pub bank: Option<BankView>,
    pub is_default: bool,
    pub created: DateTime<Utc>,
    pub detached: Option<DateTime<Utc>>,
}

fn method_view(r: PaymentMethodRow) -> PaymentMethod {
    let card = (r.kind == "card").then(|| CardView {
        brand: r.card_brand.clone().unwrap_or_default(),
        last4: r.card_last4.clone().unwrap_or_default(),
        exp_month: r.card_exp_month.unwrap_or_default(),
        exp_year: r.card_exp_year.unwrap_or_default(),
    });
    let bank = (r.kind == "bank_transfer").then(|| BankView {
        bank_name: r.bank_name.clone(),
        last4: r.bank_last4.clone(),
    });
    PaymentMethod {
        id: r.id,
        object: "payment_method",
        customer: r.customer_id,
        kind: r.kind,
        gateway: r.gateway,
        card,
        bank,
        is_default: r.is_default,
        created: r.created_at,
        detached: r.detached_at,
    }
}

fn gateway_error(e: GatewayError) -> AppError {
    match e {
        GatewayError::Invalid { param, message } => AppError::invalid(param, message),
        GatewayError::Timeout => AppError::Gateway {
            code: "gateway_timeout",
            message: "the payment gateway did not answer in time; nothing is lost, retry later"
                .into(),
        },
        GatewayError::Unavailable(m) => AppError::Gateway {
            code: "gateway_unavailable",
            message: format!("the payment gateway is unavailable: {m}"),
        },
    }
}

/// Attaches a payment method to a customer.
pub async fn attach_method(
    db: &Db,
    gw: &Gateway,
    ctx: &Ctx,
    input: &PaymentMethodCreate,
) -> Result<PaymentMethod> {
    parse_id("customer", &input.customer, CustomerId::parse)?;
    let mut row = PaymentMethodRow {
        id: new_id!(PaymentMethodId).to_string(),
        org_id: ctx.org_id.clone(),
        customer_id: input.customer.clone(),
        kind: input.kind.clone(),
        gateway: None,
        gateway_token: None,
        card_brand: None,
        card_last4: None,
        card_exp_month: None,
        card_exp_year: None,
        bank_name: None,
        bank_last4: None,
        is_default: false,
        created_at: ctx.now,
        detached_at: None,
    };
    match input.kind.as_str() {
        "card" => {
            let t = match (&input.card, &input.token) {
                (Some(c), None) => {
                    let today = (ctx.now.year(), ctx.now.month());
                    let details = CardDetails {
                        number: c.number.clone(),
                        exp_month: c.exp_month,
                        exp_year: c.exp_year,
                    };
                    gw.tokenize(&details, today).await.map_err(gateway_error)?
                }
                (None, Some(token)) => gw.describe_token(token).await.map_err(gateway_error)?,
                _ => {
                    return Err(AppError::invalid(
                        "card",
                        "a card payment method needs exactly one of card and token",
                    ))
                }
            };
            row.gateway = Some(gw.name().to_string());
            row.gateway_token = Some(t.token);
            row.card_brand = Some(t.brand);
            row.card_last4 = Some(t.last4);
            row.card_exp_month = Some(t.exp_month as i64);
            row.card_exp_year = Some(t.exp_year as i64);
        }
        "bank_transfer" => {
            let b = input
                .bank
                .as_ref()
                .ok_or_else(|| AppError::missing("bank"))?;
            if b.bank_name.trim().is_empty() || b.bank_name.len() > 200 {
                return Err(AppError::invalid(
                    "bank.bank_name",
                    "bank_name must be 1 to 200 characters",
                ));
            }
            if b.account_last4.len() != 4 || !b.account_last4.bytes().all(|c| c.is_ascii_digit()) {
                return Err(AppError::invalid(
                    "bank.account_last4",
                    "account_last4 must be four digits",
                ));
            }
            row.bank_name = Some(b.bank_name.trim().to_string());
            row.bank_last4 = Some(b.account_last4.clone());
        }
        "manual" => {}
        other => {
            return Err(AppError::invalid(
                "type",
                format!("type must be card, bank_transfer or manual, got {other:?}"),
            ))
        }
    }
    if input.kind != "card" && (input.card.is_some() || input.token.is_some()) {
        return Err(AppError::invalid(
            "card",
            "card details are only for type card",
        ));
    }
    let mut tx = db.begin().await?;
    store::customers::get_for_update(&mut tx, &ctx.org_id, &input.customer)
        .await?
        .ok_or_else(|| AppError::not_found("customer", &input.customer))?;
    let has_default = store::payments::default_method(&mut tx, &ctx.org_id, &input.customer)
        .await?
        .is_some();
    store::payments::insert_method(&mut tx, &row).await?;
    if input.set_default.unwrap_or(false) || !has_default {
        store::payments::set_default(&mut tx, &ctx.org_id, &input.customer, Some(&row.id)).await?;
        row.is_default = true;
    }
    tx.commit().await?;
    Ok(method_view(row))
}

/// A customer's attached payment methods, newest first.
pub async fn list_methods(db: &Db, ctx: &Ctx, customer: &str) -> Result<Page<PaymentMethod>> {
    parse_id("customer", customer, CustomerId::parse)?;
    let mut tx = db.read().await?;
    store::customers::get(&mut tx, &ctx.org_id, customer)
        .await?
        .ok_or_else(|| AppError::not_found("customer", customer))?;
    let rows = store::payments::methods_of(&mut tx, &ctx.org_id, customer).await?;
    let n = rows.len() as i64;
    Ok(Page::from_rows(
        rows.into_iter().map(method_view).collect(),
        n,
    ))
}

/// One payment method, attached or detached.
pub async fn get_method(db: &Db, ctx: &Ctx, id: &str) -> Result<PaymentMethod> {
    parse_id("id", id, PaymentMethodId::parse)?;
    let mut tx = db.read().await?;
    store::payments::get_method(&mut tx, &ctx.org_id, id)
        .await?
        .map(method_view)
        .ok_or_else(|| AppError::not_found("payment_method", id))
}

async fn method_for_update(tx: &mut Tx, ctx: &Ctx, id: &str) -> Result<PaymentMethodRow> {
    parse_id("id", id, PaymentMethodId::parse)?;
    let m = store::payments::get_method(tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("payment_method", id))?;
    // The customer row is the lock that serializes changes to its methods; read the
    // method again under it, as a detach may have committed in between.
    store::customers::get_for_update(tx, &ctx.org_id, &m.customer_id).await?;
    let m = store::payments::get_method(tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("payment_method", id))?;
    if m.detached_at.is_some() {
        return Err(AppError::state(
            "payment_method_detached",
            format!("payment method {id} is detached"),
        ));
    }
    Ok(m)
}

/// Makes a method its customer's default.
pub async fn make_default(db: &Db, ctx: &Ctx, id: &str) -> Result<PaymentMethod> {
    let mut tx = db.begin().await?;
    let mut m = method_for_update(&mut tx, ctx, id).await?;
    store::payments::set_default(&mut tx, &ctx.org_id, &m.customer_id, Some(id)).await?;
    tx.commit().await?;
    m.is_default = true;
    Ok(method_view(m))
}

/// Detaches a method; if it was the default, the customer has no default until one is set.
pub async fn detach_method(db: &Db, ctx: &Ctx, id: &str) -> Result<PaymentMethod> {
    let mut tx = db.begin().await?;
    let mut m = method_for_update(&mut tx, ctx, id).await?;
    store::payments::detach_method(&mut tx, &ctx.org_id, id, ctx.now).await?;
    tx.commit().await?;
    m.detached_at = Some(ctx.now);
    m.is_default = false;
    Ok(method_view(m))
}

// ---------------------------------------------------------------------------------------
// Payments

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Allocation {
    pub invoice: String,
    pub amount: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Payment {
    pub id: String,
    pub object: &'static str,
    pub customer: String,
    pub payment_method: Option<String>,
    /// card, bank_transfer, cheque, cash or other.
    pub method: String,
    /// pending, succeeded or failed.
    pub status: String,
    pub currency: String,
    pub amount: i64,
    /// Settled invoices with it.
    pub amount_applied: i64,
    /// Went to the credit balance.
    pub amount_to_credit_balance: i64,
    pub amount_refunded: i64,
    /// The invoice it was made for, if one was named.
    pub invoice: Option<String>,
    pub allocations: Vec<Allocation>,
    pub gateway: Option<String>,
    pub gateway_reference: Option<String>,
    pub reference: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created: DateTime<Utc>,
}

async fn payment_view(tx: &mut Tx, r: PaymentRow) -> Result<Payment> {
    let allocations = store::payments::allocations_of(tx, &r.org_id, &r.id).await?;
    Ok(view_with(r, allocations))
}

/// A payment's view, given its allocations.
fn view_with(r: PaymentRow, allocations: Vec<AllocationRow>) -> Payment {
    let allocations = allocations
        .into_iter()
        .map(|a| Allocation {
            invoice: a.invoice_id,
            amount: a.amount,
        })
        .collect();
    let to_credit = if r.status == "succeeded" {
        r.amount - r.amount_applied
    } else {
        0
    };
    Payment {
        id: r.id,
        object: "payment",
        customer: r.customer_id,
        payment_method: r.payment_method_id,
        method: r.method,
        status: r.status,
        currency: r.currency,
        amount: r.amount,
        amount_applied: r.amount_applied,
        amount_to_credit_balance: to_credit,
        amount_refunded: r.amount_refunded,
        invoice: r.invoice_id,
        allocations,
        gateway: r.gateway,
        gateway_reference: r.gateway_reference,
        reference: r.reference,
        failure_code: r.failure_code,
        failure_message: r.failure_message,
        created: r.created_at,
    }
}

fn check_amount(param: &str, amount: i64) -> Result<()> {
    if amount <= 0 {
        return Err(AppError::invalid(
            param,
            format!("{param} must be positive, got {amount}"),
        ));
    }
    if amount > 1_000_000_000_000 {
        return Err(AppError::invalid(
            param,
            format!("{param} {amount} is too large"),
        ));
    }
    Ok(())
}

/// Allocates a succeeded payment (see the module doc) and posts it, in `tx`.
async fn apply(tx: &mut Tx, ctx: &Ctx, pay: &mut PaymentRow) -> Result<()> {
    let mut candidates =
        store::payments::payable_invoices(tx, &ctx.org_id, &pay.customer_id, &pay.currency).await?;
    if let Some(named) = &pay.invoice_id {
        candidates.retain(|i| i != named);
        candidates.insert(0, named.clone());
    }
    // Lock in id order (one order for every payment), then allocate in priority order.
    let mut by_id = candidates.clone();
    by_id.sort();
    let mut locked = std::collections::BTreeMap::new();
    for id in &by_id {
        if let Some(inv) = store::invoices::get_for_update(tx, &ctx.org_id, id).await? {
            locked.insert(id.clone(), inv);
        }
    }
    let (mut applied, mut recovered, mut rest) = (0i64, 0i64, pay.amount);
    let mut allocations = Vec::new();
    for id in &candidates {
        if rest == 0 {
            break;
        }
        let Some(inv) = locked.get_mut(id) else {
            continue;
        };
        let settles = match inv.status.as_str() {
            "open" => true,
            "uncollectible" => false,
            _ => continue,
        };
        if inv.currency != pay.currency {
            continue;
        }
        let a = rest.min(inv.amount_remaining);
        if a <= 0 {
            continue;
        }
        inv.amount_paid += a;
        inv.amount_remaining -= a;
        if inv.amount_remaining == 0 {
            inv.status = "paid".into();
        }
        store::invoices::update(tx, inv).await?;
        if inv.status == "paid" {
            crate::events::emit_invoice(tx, ctx, "invoice.paid", inv).await?;
        }
        if settles {
            applied += a;
        } else {
            recovered += a;
        }
        rest -= a;
        allocations.push(AllocationRow {
            payment_id: pay.id.clone(),
            invoice_id: id.clone(),
            org_id: ctx.org_id.clone(),
            amount: a,
        });
    }
    store::payments::insert_allocations(tx, &allocations).await?;
    // A past_due subscription whose invoices are all paid becomes active again; a job does
    // it, so this transaction takes no subscription lock (the bill run takes those first).
    // Only past_due subscriptions get one.
    let subs: std::collections::BTreeSet<String> = allocations
        .iter()
        .filter_map(|a| {
            locked
                .get(&a.invoice_id)
                .and_then(|i| i.subscription_id.clone())
        })
        .collect();
    let mut past_due = Vec::new();
    for sub in subs {
        // Read without a lock: a subscription that turns past_due after this read has
        // another invoice open, which this payment does not settle.
        if store::subscriptions::get(tx, &ctx.org_id, &sub)
            .await?
            .is_some_and(|s| s.status == "past_due" || s.status == "unpaid")
        {
            past_due.push(sub);
        }
    }
    let reactivate: Vec<crate::jobs::Task> = past_due
        .into_iter()
        .map(|subscription| crate::jobs::Task::Reactivate {
            subscription,
            payment: pay.id.clone(),
        })
        .collect();
    crate::jobs::enqueue(tx, &ctx.org_id, &reactivate, ctx.now).await?;
    store::customers::get_for_update(tx, &ctx.org_id, &pay.customer_id).await?;
    if rest > 0 {
        store::customers::add_credit_balance(tx, &ctx.org_id, &pay.customer_id, rest).await?;
    }
    let meta = TxMeta {
        org_id: &ctx.org_id,
        kind: "payment",
        customer_id: &pay.customer_id,
        invoice_id: pay.invoice_id.as_deref(),
        credit_note_id: None,
        payment_id: Some(&pay.id),
        refund_id: None,
        currency: &pay.currency,
        at: ctx.now,
    };
    crate::ledger::write(
        tx,
        &meta,
        &billing::ledger::payment_recovering(pay.amount, applied, recovered),
    )
    .await?;
    pay.status = "succeeded".into();
    pay.amount_applied = applied + recovered;
    pay.updated_at = ctx.now;
    store::payments::update_payment(tx, pay).await?;
    let data = crate::events::PaymentSnapshot::of(pay);
    crate::events::emit(
        tx,
        ctx,
        "payment.succeeded",
        Some(&pay.customer_id),
        &pay.id,
        &data,
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentCreate {
    pub customer: String,
    /// Minor units.
    pub amount: i64,
    /// Defaults to the customer's billing currency (the only one accepted).
    pub currency: Option<String>,
    /// bank_transfer, cheque, cash or other.
    pub method: String,
    /// The bank transfer's or cheque's reference.
    pub reference: Option<String>,
    /// The invoice it pays first; without one it goes to the oldest open invoices.
    pub invoice: Option<String>,
}

/// Records money received outside the gateway (bank transfer, cheque, cash) and allocates it.
pub async fn record(db: &Db, ctx: &Ctx, input: &PaymentCreate) -> Result<Payment> {
    parse_id("customer", &input.customer, CustomerId::parse)?;
    check_amount("amount", input.amount)?;
    if !["bank_transfer", "cheque", "cash", "other"].contains(&input.method.as_str()) {
        return Err(AppError::invalid(
            "method",
            format!(
                "method must be bank_transfer, cheque, cash or other, got {:?}",
                input.method
            ),
        ));
    }
    if input.reference.as_ref().is_some_and(|r| r.len() > 200) {
        return Err(AppError::invalid(
            "reference",
            "reference must be at most 200 characters",
        ));
    }
    let mut tx = db.begin().await?;
    let cus = store::customers::get(&mut tx, &ctx.org_id, &input.customer)
        .await?
        .ok_or_else(|| AppError::not_found("customer", &input.customer))?;
    let currency = input
        .currency
        .clone()
        .unwrap_or_else(|| cus.currency.clone())
        .trim()
        .to_ascii_uppercase();
    if currency != cus.currency {
        return Err(AppError::invalid(
            "currency",
            format!(
                "customer {} is billed in {}, not {currency}",
                cus.id, cus.currency
            ),
        ));
    }
    if let Some(inv) = &input.invoice {
        named_invoice(&mut tx, ctx, inv, &cus.id).await?;
    }
    let mut pay = PaymentRow {
        id: new_id!(PaymentId).to_string(),
        org_id: ctx.org_id.clone(),
        customer_id: cus.id.clone(),
        payment_method_id: None,
        method: input.method.clone(),
        status: "pending".into(),
        currency,
        amount: input.amount,
        amount_applied: 0,
        amount_refunded: 0,
        invoice_id: input.invoice.clone(),
        gateway: None,
        gateway_reference: None,
        reference: input.reference.clone(),
        failure_code: None,
        failure_message: None,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    store::payments::insert_payment(&mut tx, &pay).await?;
    apply(&mut tx, ctx, &mut pay).await?;
    let view = payment_view(&mut tx, pay).await?;
    tx.commit().await?;
    Ok(view)
}

/// Checks that a named invoice exists, belongs to the customer and can take a payment.
async fn named_invoice(
    tx: &mut Tx,
    ctx: &Ctx,
    id: &str,
    customer: &str,
) -> Result<store::invoices::InvoiceRow> {
    parse_id("invoice", id, InvoiceId::parse)?;
    let inv = store::invoices::get(tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("invoice", id))?;
    if inv.customer_id != customer {
        return Err(AppError::invalid(
            "invoice",
            format!("invoice {id} is not customer {customer}'s"),
        ));
    }
    if !(inv.status == "open" || inv.status == "uncollectible") || inv.amount_remaining <= 0 {
        return Err(AppError::state(
            "invoice_not_payable",
            format!("invoice {id} is {} with {} remaining; only open or uncollectible invoices with something left can be paid", inv.status, inv.amount_remaining),
        ));
    }
    Ok(inv)
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoicePay {
    /// A card payment method of the customer; default: the customer's default method.
    pub payment_method: Option<String>,
    /// Minor units; default: all that remains.
    pub amount: Option<i64>,
}

/// What a card payment came to: the payment, and the gateway's refusal if it was declined.
pub struct Charged {
    pub payment: Payment,
    pub declined: Option<(String, String)>,
}

/// Charges an invoice to a card of its customer (see the module doc for the two
/// transactions around the gateway call).
pub async fn pay_invoice(
    db: &Db,
    gw: &Gateway,
    ctx: &Ctx,
    invoice: &str,
    input: &InvoicePay,
) -> Result<Charged> {
    parse_id("id", invoice, InvoiceId::parse)?;
    let mut tx = db.begin().await?;
    let inv = store::invoices::get_for_update(&mut tx, &ctx.org_id, invoice)
        .await?
        .ok_or_else(|| AppError::not_found("invoice", invoice))?;
    named_invoice(&mut tx, ctx, invoice, &inv.customer_id).await?;
    // One card payment at a time per invoice: a pending one may already have taken the
    // money (a timeout); a second attempt could charge twice.
    if let Some(p) = store::payments::pending_of_invoice(&mut tx, &ctx.org_id, invoice).await? {
        return Err(AppError::state(
            "payment_pending",
            format!("payment {} of invoice {invoice} is pending at the gateway; settle it with POST /v1/payments/{}/retry before charging again", p.id, p.id),
        ));
    }
    let amount = input.amount.unwrap_or(inv.amount_remaining);
    check_amount("amount", amount)?;
    if amount > inv.amount_remaining {
        return Err(AppError::invalid(
            "amount",
            format!(
                "amount {amount} exceeds the {} remaining on invoice {invoice}",
                inv.amount_remaining
            ),
        ));
    }
    let method = match &input.payment_method {
        Some(id) => {
            parse_id("payment_method", id, PaymentMethodId::parse)?;
            store::payments::get_method(&mut tx, &ctx.org_id, id)
                .await?
                .filter(|m| m.customer_id == inv.customer_id && m.detached_at.is_none())
                .ok_or_else(|| AppError::not_found("payment_method", id))?
        }
        None => store::payments::default_method(&mut tx, &ctx.org_id, &inv.customer_id)
            .await?
            .ok_or_else(|| {
                AppError::state(
                    "no_default_payment_method",
                    format!("customer {} has no default payment method", inv.customer_id),
                )
            })?,
    };
    if method.kind != "card" {
        return Err(AppError::invalid(
            "payment_method",
            format!(
                "payment method {} is {}; only cards can be charged",
                method.id, method.kind
            ),
        ));
    }
    if method.gateway.as_deref() != Some(gw.name()) {
        return Err(AppError::state(
            "gateway_mismatch",
            format!(
                "payment method {} belongs to gateway {:?}, this server uses {}",
                method.id,
                method.gateway,
                gw.name()
            ),
        ));
    }
    let pay = PaymentRow {
        id: new_id!(PaymentId).to_string(),
        org_id: ctx.org_id.clone(),
        customer_id: inv.customer_id.clone(),
        payment_method_id: Some(method.id.clone()),
        method: "card".into(),
        status: "pending".into(),
        currency: inv.currency.clone(),
        amount,
        amount_applied: 0,
        amount_refunded: 0,
        invoice_id: Some(invoice.to_string()),
        gateway: Some(gw.name().to_string()),
        gateway_reference: None,
        reference: None,
        failure_code: None,
        failure_message: None,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    store::payments::insert_payment(&mut tx, &pay).await?;
    tx.commit().await?;
    charge(db, gw, ctx, pay, method.gateway_token.unwrap_or_default()).await
}

/// The pending card payment of an invoice, if one is waiting for the gateway.
pub async fn pending_of_invoice(db: &Db, ctx: &Ctx, invoice: &str) -> Result<Option<String>> {
    let mut tx = db.read().await?;
    Ok(
        store::payments::pending_of_invoice(&mut tx, &ctx.org_id, invoice)
            .await?
            .map(|p| p.id),
    )
}

/// Asks the gateway again for a pending card payment (same idempotency key: it is charged
/// at most once) and applies the outcome.
pub async fn retry_payment(db: &Db, gw: &Gateway, ctx: &Ctx, id: &str) -> Result<Charged> {
    parse_id("id", id, PaymentId::parse)?;
    let mut tx = db.read().await?;
    let pay = store::payments::get_payment(&mut tx, &ctx.org_id, id, false)
        .await?
        .ok_or_else(|| AppError::not_found("payment", id))?;
    if pay.status != "pending" {
        let declined = declined_of(&pay);
        let view = payment_view(&mut tx, pay).await?;
        return Ok(Charged {
            payment: view,
            declined,
        });
    }
    let token = match &pay.payment_method_id {
        Some(m) => store::payments::get_method(&mut tx, &ctx.org_id, m)
            .await?
            .and_then(|m| m.gateway_token)
            .ok_or_else(|| AppError::Internal(format!("payment {id}: card token missing")))?,
        None => {
            return Err(AppError::Internal(format!(
                "pending payment {id} has no card"
            )))
        }
    };
    drop(tx);
    charge(db, gw, ctx, pay, token).await
}

async fn charge(
    db: &Db,
    gw: &Gateway,
    ctx: &Ctx,
    pay: PaymentRow,
    token: String,
) -> Result<Charged> {
    let outcome = gw.charge(&token, pay.amount, &pay.currency, &pay.id).await;
    let mut tx = db.begin().await?;
    let mut pay = store::payments::get_payment(&mut tx, &ctx.org_id, &pay.id, true)
        .await?
        .ok_or_else(|| AppError::Internal(format!("payment {} vanished", pay.id)))?;
    if pay.status != "pending" {
        // Another retry applied the outcome first.
        let declined = declined_of(&pay);
        let view = payment_view(&mut tx, pay).await?;
        return Ok(Charged {
            payment: view,
            declined,
        });
    }
    let mut declined = None;
    match outcome {
        Ok(Outcome::Succeeded { reference }) => {
            pay.gateway_reference = Some(reference);
            apply(&mut tx, ctx, &mut pay).await?;
        }
        Ok(Outcome::Declined { code, message }) => {
            pay.status = "failed".into();
            pay.failure_code = Some(code.clone());
            pay.failure_message = Some(message.clone());
            pay.updated_at = ctx.now;
            store::payments::update_payment(&mut tx, &pay).await?;
            payment_failed(&mut tx, ctx, &pay).await?;
            declined = Some((code, message));
        }
        Err(GatewayError::Timeout | GatewayError::Unavailable(_)) => {
            // Left pending (nothing written here): the outcome is unknown (timeout) or
            // nothing happened; a retry with the same key settles it.
            return Err(AppError::Gateway {
                code: "payment_pending",
                message:
                format!("the payment gateway did not settle payment {}; it stays pending — retry it with POST /v1/payments/{}/retry", pay.id, pay.id),
            });
        }
        Err(e @ GatewayError::Invalid { .. }) => {
            pay.status = "failed".into();
            pay.failure_code = Some("gateway_rejected".into());
            pay.failure_message = Some(e.to_string());
            pay.updated_at = ctx.now;
            store::payments::update_payment(&mut tx, &pay).await?;
            payment_failed(&mut tx, ctx, &pay).await?;
            declined = Some(("gateway_rejected".into(), e.to_string()));
        }
    }
    let view = payment_view(&mut tx, pay).await?;
    tx.commit().await?;
    Ok(Charged {
        payment: view,
        declined,
    })
}

async fn payment_failed(tx: &mut Tx, ctx: &Ctx, pay: &PaymentRow) -> Result<()> {
    let data = crate::events::PaymentSnapshot::of(pay);
    crate::events::emit(
        tx,
        ctx,
        "payment.failed",
        Some(&pay.customer_id),
        &pay.id,
        &data,
    )
    .await
}

/// The decline a failed payment recorded.
fn declined_of(p: &PaymentRow) -> Option<(String, String)> {
    (p.status == "failed").then(|| {
        (
            p.failure_code
                .clone()
                .unwrap_or_else(|| "card_declined".into()),
            p.failure_message.clone().unwrap_or_default(),
        )
    })
}

pub async fn get_payment(db: &Db, ctx: &Ctx, id: &str) -> Result<Payment> {
    parse_id("id", id, PaymentId::parse)?;
    let mut tx = db.read().await?;
    let r = store::payments::get_payment(&mut tx, &ctx.org_id, id, false)
        .await?
        .ok_or_else(|| AppError::not_found("payment", id))?;
    payment_view(&mut tx, r).await
}

pub async fn list_payments(
    db: &Db,
    ctx: &Ctx,
    customer: Option<&str>,
    invoice: Option<&str>,
    starting_after: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<Payment>> {
    let limit = page_limit(limit)?;
    let mut tx = db.read().await?;
    list_payments_in(&mut tx, ctx, customer, invoice, starting_after, limit).await
}

/// [`list_payments`] in `tx`: the page's payments with their allocations, read in two
/// statements.
pub(crate) async fn list_payments_in(
    tx: &mut Tx,
    ctx: &Ctx,
    customer: Option<&str>,
    invoice: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Page<Payment>> {
    let rows = store::payments::list_payments(
        tx,
        &ctx.org_id,
        customer,
        invoice,
        starting_after,
        limit + 1,
    )
    .await?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut allocations: HashMap<String, Vec<AllocationRow>> = HashMap::new();
    for a in store::payments::allocations_of_payments(tx, &ctx.org_id, &ids).await? {
        allocations.entry(a.payment_id.clone()).or_default().push(a);
    }
    let out = rows
        .into_iter()
        .map(|r| {
            let a = allocations.remove(&r.id).unwrap_or_default();
            view_with(r, a)
        })
        .collect();
    Ok(Page::from_rows(out, limit))
}

// ---------------------------------------------------------------------------------------
// Refunds

pub const REFUND_REASONS: &[&str] = &[
    "requested_by_customer",
    "duplicate",
    "fraudulent",
    "goodwill",
    "other",
];

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundCreate {
    pub payment: String,
    /// Minor units; default: all that is left of the payment (and of the credit balance).
    pub amount: Option<i64>,
    /// requested_by_customer, duplicate, fraudulent, goodwill or other.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Refund {
    pub id: String,
    pub object: &'static str,
    pub payment: String,
    pub customer: String,
    /// pending, succeeded or failed.
    pub status: String,
    pub currency: String,
    pub amount: i64,
    pub reason: String,
    pub gateway_reference: Option<String>,
    pub failure_message: Option<String>,
    pub created: DateTime<Utc>,
}

fn refund_view(r: RefundRow) -> Refund {
    Refund {
        id: r.id,
        object: "refund",
        payment: r.payment_id,
        customer: r.customer_id,
        status: r.status,
        currency: r.currency,
        amount: r.amount,
        reason: r.reason,
        gateway_reference: r.gateway_reference,
        failure_message: r.failure_message,
        created: r.created_at,
    }
}

fn refund_meta<'a>(ctx: &'a Ctx, r: &'a RefundRow, kind: &'static str) -> TxMeta<'a> {
    TxMeta {
        org_id: &ctx.org_id,
        kind,
        customer_id: &r.customer_id,
        invoice_id: None,
        credit_note_id: None,
        payment_id: Some(&r.payment_id),
        refund_id: Some(&r.id),
        currency: &r.currency,
        at: ctx.now,
    }
}

/// Refunds (part of) a payment from the customer's credit balance (module doc).
pub async fn refund(db: &Db, gw: &Gateway, ctx: &Ctx, input: &RefundCreate) -> Result<Refund> {
    parse_id("payment", &input.payment, PaymentId::parse)?;
    if !REFUND_REASONS.contains(&input.reason.as_str()) {
        return Err(AppError::invalid(
            "reason",
            format!(
                "reason must be one of {}, got {:?}",
                REFUND_REASONS.join(", "),
                input.reason
            ),
        ));
    }
    let mut tx = db.begin().await?;
    let mut pay = store::payments::get_payment(&mut tx, &ctx.org_id, &input.payment, true)
        .await?
        .ok_or_else(|| AppError::not_found("payment", &input.payment))?;
    if pay.status != "succeeded" {
        return Err(AppError::state(
            "payment_not_succeeded",
            format!(
                "payment {} is {}; only succeeded payments can be refunded",
                pay.id, pay.status
            ),
        ));
    }
    let cus = store::customers::get_for_update(&mut tx, &ctx.org_id, &pay.customer_id)
        .await?
        .ok_or_else(|| AppError::Internal(format!("customer {} missing", pay.customer_id)))?;
    let left = pay.amount - pay.amount_refunded;
    let amount = match input.amount {
        Some(a) => {
            check_amount("amount", a)?;
            a
        }
        None => left.min(cus.credit_balance),
    };
    if amount > left {
        return Err(AppError::state(
            "refund_exceeds_payment",
            format!(
                "refund of {amount} exceeds the {left} left to refund of payment {}",
                pay.id
            ),
        ));
    }
    // Only money of this payment that reached the credit balance goes back: what it did not
    // apply, and what credit notes returned of the invoices it paid — never credit from
    // elsewhere (goodwill) turned into cash.
    let mut refundable = pay.amount - pay.amount_applied - pay.amount_refunded;
    for a in store::payments::allocations_of(&mut tx, &ctx.org_id, &pay.id).await? {
        let credited =
            store::payments::credited_to_balance(&mut tx, &ctx.org_id, &a.invoice_id).await?;
        refundable += a.amount.min(credited);
    }
    if amount > refundable.max(0) && input.amount.is_some() {
        return Err(AppError::state(
            "refund_exceeds_refundable",
            format!(
                "refund of {amount} exceeds the {} of payment {} that reached the credit balance (what it did not apply, and credit notes on the invoices it paid)",
                refundable.max(0), pay.id
            ),
        ));
    }
    let amount = if input.amount.is_some() {
        amount
    } else {
        amount.min(refundable.max(0))
    };
    if amount > cus.credit_balance || amount == 0 {
        return Err(AppError::state(
            "refund_exceeds_credit_balance",
            format!(
                "refund of {amount} exceeds customer {}'s credit balance of {}; money that paid an invoice is refunded after a credit note on that invoice moves it to the credit balance",
                cus.id, cus.credit_balance
            ),
        ));
    }
    pay.amount_refunded += amount;
    pay.updated_at = ctx.now;
    store::payments::update_payment(&mut tx, &pay).await?;
    let via_gateway = pay.method == "card";
    let mut r = RefundRow {
        id: new_id!(RefundId).to_string(),
        org_id: ctx.org_id.clone(),
        payment_id: pay.id.clone(),
        customer_id: pay.customer_id.clone(),
        status: if via_gateway { "pending" } else { "succeeded" }.into(),
        currency: pay.currency.clone(),
        amount,
        reason: input.reason.clone(),
        gateway_reference: None,
        failure_message: None,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    store::payments::insert_refund(&mut tx, &r).await?;
    store::customers::add_credit_balance(&mut tx, &ctx.org_id, &pay.customer_id, -amount).await?;
    crate::ledger::write(
        &mut tx,
        &refund_meta(ctx, &r, "refund"),
        &billing::ledger::refund_from_credit(amount),
    )
    .await?;
    let data = serde_json::json!({
        "object": "refund",
        "id": r.id,
        "payment": r.payment_id,
        "customer": r.customer_id,
        "status": r.status,
        "currency": r.currency,
        "amount": r.amount,
        "reason": r.reason,
    });
    crate::events::emit(
        &mut tx,
        ctx,
        "refund.created",
        Some(&r.customer_id),
        &r.id,
        &data,
    )
    .await?;
    tx.commit().await?;
    if via_gateway {
        let reference = pay.gateway_reference.clone().unwrap_or_default();
        r = settle_refund(db, gw, ctx, r, &reference).await?;
    }
    Ok(refund_view(r))
}

/// Asks the gateway again for a pending refund (same key) and applies the outcome.
pub async fn retry_refund(db: &Db, gw: &Gateway, ctx: &Ctx, id: &str) -> Result<Refund> {
    parse_id("id", id, RefundId::parse)?;
    let mut tx = db.read().await?;
    let r = store::payments::get_refund(&mut tx, &ctx.org_id, id, false)
        .await?
        .ok_or_else(|| AppError::not_found("refund", id))?;
    if r.status != "pending" {
        return Ok(refund_view(r));
    }
    let pay = store::payments::get_payment(&mut tx, &ctx.org_id, &r.payment_id, false)
        .await?
        .ok_or_else(|| AppError::Internal(format!("refund {id}: payment missing")))?;
    drop(tx);
    let reference = pay.gateway_reference.unwrap_or_default();
    Ok(refund_view(
        settle_refund(db, gw, ctx, r, &reference).await?,
    ))
}

async fn settle_refund(
    db: &Db,
    gw: &Gateway,
    ctx: &Ctx,
    r: RefundRow,
    charge: &str,
) -> Result<RefundRow> {
    let outcome = gw.refund(charge, r.amount, &r.id).await;
    let mut tx = db.begin().await?;
    let mut pay = store::payments::get_payment(&mut tx, &ctx.org_id, &r.payment_id, true)
        .await?
        .ok_or_else(|| AppError::Internal(format!("refund {}: payment missing", r.id)))?;
    let mut r = store::payments::get_refund(&mut tx, &ctx.org_id, &r.id, true)
        .await?
        .ok_or_else(|| AppError::Internal(format!("refund {} vanished", r.id)))?;
    if r.status != "pending" {
        return Ok(r);
    }
    match outcome {
        Ok(Outcome::Succeeded { reference }) => {
            r.status = "succeeded".into();
            r.gateway_reference = Some(reference);
        }
        Ok(Outcome::Declined { message, .. }) | Err(GatewayError::Invalid { message, .. }) => {
            // The gateway refused: give the money back to the credit balance.
            store::customers::get_for_update(&mut tx, &ctx.org_id, &r.customer_id).await?;
            store::customers::add_credit_balance(&mut tx, &ctx.org_id, &r.customer_id, r.amount)
                .await?;
            crate::ledger::write(
                &mut tx,
                &refund_meta(ctx, &r, "refund_failed"),
                &billing::ledger::refund_from_credit(r.amount).reversed(),
            )
            .await?;
            pay.amount_refunded -= r.amount;
            pay.updated_at = ctx.now;
            store::payments::update_payment(&mut tx, &pay).await?;
            r.status = "failed".into();
            r.failure_message = Some(message);
        }
        Err(GatewayError::Timeout | GatewayError::Unavailable(_)) => return Ok(r),
    }
    r.updated_at = ctx.now;
    store::payments::update_refund(&mut tx, &r).await?;
    tx.commit().await?;
    Ok(r)
}

pub async fn get_refund(db: &Db, ctx: &Ctx, id: &str) -> Result<Refund> {
    parse_id("id", id, RefundId::parse)?;
    let mut tx = db.read().await?;
    Ok(refund_view(
        store::payments::get_refund(&mut tx, &ctx.org_id, id, false)
            .await?
            .ok_or_else(|| AppError::not_found("refund", id))?,
    ))
}

pub async fn list_refunds(
    db: &Db,
    ctx: &Ctx,
    payment: Option<&str>,
    starting_after: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<Refund>> {
    let limit = page_limit(limit)?;
    let mut tx = db.read().await?;
    let rows =
        store::payments::list_refunds(&mut tx, &ctx.org_id, payment, starting_after, limit + 1)
            .await?;
    Ok(Page::from_rows(
        rows.into_iter().map(refund_view).collect(),
        limit,
    ))
}
