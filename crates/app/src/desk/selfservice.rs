//! The customer's own side of the account, as the self-service portal uses it.
//!
//! Rules:
//! - Every read and change is scoped to the signed-in portal user's customer. Another
//!   customer's invoice, subscription or ticket is `not_found`, never `forbidden`: the
//!   answer must not confirm that the id exists.
//! - Internal notes and the status history's actors are staff matters: a customer sees the
//!   public messages of their tickets only.
//! - The billing changes go through the same use cases as the API (`subscriptions::change`,
//!   `payments::pay_invoice`), so proration, invoicing, the ledger and idempotency of the
//!   gateway call are the same; the portal adds only the ownership check.
//! - Payment methods: the customer lists, adds, removes and picks the default of their own
//!   through `payments`' use cases. Cards come as gateway tokens only (the gateway's own
//!   form turns card details into one): no card number passes through the portal.
//! - Profile: the customer changes their name, email, phone, language, billing address,
//!   tax ids and contacts through `customers`' use cases, checked exactly as the API checks
//!   them. The seller's terms (currency, collection method, payment terms, tax exemption,
//!   external id, metadata) are not the customer's to change.
//! - Products: the customer adds a product to a subscription from the prices they could
//!   choose for it (active, recurring, licensed, in its currency and interval) that are not
//!   on it yet, with a quantity of at least 1. It starts at once, invoiced prorated as any
//!   upgrade (`subscriptions::change` with a new item), so the preview shows exactly the
//!   invoice that follows. An item may be removed while another stays (a subscription keeps
//!   at least one; to stop everything the customer cancels); a removal is a downgrade and
//!   waits for the period end unless the subscription is in its trial.
//! - Cancelling is always at period end (the service runs to the end of the paid period)
//!   and can be undone (`resume`) until then. Before it the organisation's retention offer,
//!   if any, is shown and may be accepted once per subscription (`retention`).
//! - Tickets opened here are `portal` tickets of the customer; a reply here is a customer
//!   reply (it reopens a resolved ticket, as an email would). A closed ticket takes no
//!   reply: the customer opens a new one.

use super::tickets::{self, Interaction, Ticket, TicketDetail};
use super::{kpi, portal, StaffCtx};
use crate::customers::{self, Address, ContactInput, Customer, CustomerUpdate, TaxIdInput};
use crate::subscriptions::{ChangePreview, ItemChange, Subscription, SubscriptionChange};
use crate::{catalog, invoicing, payments, retention, subscriptions, AppError, Ctx, Result};
use billing::ids::InteractionId;
use chrono::{DateTime, Utc};
use desk::ticket::{Status, TicketEvent};
use serde::Deserialize;
use store::desk::InteractionRow;
use store::{new_id, Db};

/// Who acts in the portal: a portal user of one customer.
#[derive(Debug, Clone)]
pub struct CustomerCtx {
    pub ctx: Ctx,
    pub customer_id: String,
    pub user_id: String,
    pub email: String,
}

impl CustomerCtx {
    /// The customer a live portal session token (`pts_…`) belongs to.
    pub async fn from_token(db: &Db, token: &str, now: DateTime<Utc>) -> Result<CustomerCtx> {
        let u = portal::authenticate(db, token, now).await?;
        Ok(CustomerCtx {
            ctx: Ctx::new(u.org_id, now),
            customer_id: u.customer_id,
            user_id: u.id,
            email: u.email,
        })
    }

    /// As [`CustomerCtx::from_token`], with the customer's account, in one read
    /// transaction (every portal page needs both).
    pub async fn with_customer(
        db: &Db,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(CustomerCtx, crate::customers::Customer)> {
        let mut tx = db.read().await?;
        let u = portal::session_user(&mut tx, token, now).await?;
        let customer = crate::customers::load(&mut tx, &u.org_id, &u.customer_id).await?;
        Ok((
            CustomerCtx {
                ctx: Ctx::new(u.org_id, now),
                customer_id: u.customer_id,
                user_id: u.id,
                email: u.email,
            },
            customer,
        ))
    }

    /// Ledgerdesk acting for the customer on the desk (ticket creation, status changes).
    fn desk(&self) -> StaffCtx {
        StaffCtx::system(self.ctx.clone())
    }
}

fn mine<T>(
    owner: Option<&str>,
    c: &CustomerCtx,
    resource: &'static str,
    id: &str,
    v: T,
) -> Result<T> {
    if owner == Some(c.customer_id.as_str()) {
        Ok(v)
    } else {
        Err(AppError::not_found(resource, id))
    }
}

/// One of the customer's invoices (drafts are not shown: they may still change).
pub async fn invoice(db: &Db, c: &CustomerCtx, id: &str) -> Result<invoicing::Invoice> {
    let inv = invoicing::get(db, &c.ctx, id).await?;
    let owner = (inv.status != "draft").then(|| inv.customer.clone());
    mine(owner.as_deref(), c, "invoice", id, inv)
}

/// The PDF of one of the customer's invoices: `(file name, bytes)`.
pub async fn invoice_pdf(db: &Db, c: &CustomerCtx, id: &str) -> Result<(String, Vec<u8>)> {
    invoice(db, c, id).await?;
    crate::documents::invoice_pdf(db, &c.ctx, id).await
}

/// The customer's invoices, newest first, drafts left out.
pub async fn invoices(db: &Db, c: &CustomerCtx, limit: i64) -> Result<Vec<invoicing::Invoice>> {
    let page = invoicing::list(
        db,
        &c.ctx,
        Some(&c.customer_id),
        None,
        None,
        None,
        Some(limit),
    )
    .await?;
    Ok(page
        .data
        .into_iter()
        .filter(|i| i.status != "draft")
        .collect())
}

/// What the portal's first page shows, read in one read transaction.
#[derive(Debug, Clone)]
pub struct Overview {
    pub balance: crate::ledger::CustomerBalance,
    /// The customer's subscriptions, newest first, each with its amount per period at its
    /// current items and prices (before discounts and tax; None if a price has no amount in
    /// the subscription's currency).
    pub subscriptions: Vec<(Subscription, Option<i64>)>,
    /// The newest `invoices` invoices, drafts left out.
    pub invoices: Vec<invoicing::Invoice>,
}

/// The portal overview: balance, up to `subscriptions` subscriptions with their amount per
/// period, and the newest `invoices` invoices (each list at most 100).
pub async fn overview(
    db: &Db,
    c: &CustomerCtx,
    subscriptions: i64,
    invoices: i64,
) -> Result<Overview> {
    let mut tx = db.read().await?;
    let cus = store::customers::get(&mut tx, &c.ctx.org_id, &c.customer_id)
        .await?
        .ok_or_else(|| AppError::not_found("customer", &c.customer_id))?;
    let balance = crate::ledger::balance_in(&mut tx, &cus).await?;
    let me = Some(c.customer_id.as_str());
    let subs = subscriptions::list_in(&mut tx, &c.ctx, me, None, None, subscriptions.clamp(1, 100))
        .await?
        .data;
    // One currency per customer: every subscription bills in the customer's.
    let amounts = subscriptions::period_amounts_in(&mut tx, &c.ctx, &cus.currency, &subs).await?;
    let invoices = invoicing::list_in(
        &mut tx,
        &c.ctx,
        me,
        None,
        None,
        None,
        invoices.clamp(1, 100),
    )
    .await?
    .data
    .into_iter()
    .filter(|i| i.status != "draft")
    .collect();
    Ok(Overview {
        balance,
        subscriptions: subs.into_iter().zip(amounts).collect(),
        invoices,
    })
}

/// One of the customer's subscriptions.
pub async fn subscription(
    db: &Db,
    c: &CustomerCtx,
    id: &str,
) -> Result<subscriptions::Subscription> {
    let s = subscriptions::get(db, &c.ctx, id).await?;
    let owner = s.customer.clone();
    mine(Some(&owner), c, "subscription", id, s)
}

/// The exact effect of a plan or quantity change, writing nothing.
pub async fn preview_change(
    db: &Db,
    c: &CustomerCtx,
    id: &str,
    change: &subscriptions::SubscriptionChange,
) -> Result<subscriptions::ChangePreview> {
    subscription(db, c, id).await?;
    subscriptions::preview_change(db, &c.ctx, id, change).await
}

/// Applies a plan or quantity change (an upgrade is invoiced at once, prorated).
pub async fn change(
    db: &Db,
    c: &CustomerCtx,
    id: &str,
    change: &subscriptions::SubscriptionChange,
) -> Result<(subscriptions::Subscription, Option<invoicing::Invoice>)> {
    subscription(db, c, id).await?;
    subscriptions::change(db, &c.ctx, id, change).await
}

/// Whether the customer may put `p` on `sub`: active, recurring and licensed, with an
/// amount in the subscription's currency, on its interval.
fn fits(p: &catalog::Price, sub: &Subscription) -> bool {
    p.active
        && p.currency_amounts.contains_key(&sub.currency)
        && p.recurring.as_ref().is_some_and(|r| {
            r.usage_type == "licensed"
                && r.interval == sub.interval
                && i64::from(r.interval_count) == sub.interval_count
        })
}

/// The prices the customer may choose for one of their subscriptions (see [`fits`]), from
/// every price of the organisation.
pub async fn plan_choices(
    db: &Db,
    c: &CustomerCtx,
    sub: &Subscription,
) -> Result<Vec<catalog::Price>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = catalog::list_prices(db, &c.ctx, None, after.as_deref(), Some(100)).await?;
        after = page.data.last().map(|p| p.id.clone());
        out.extend(page.data.into_iter().filter(|p| fits(p, sub)));
        if !page.has_more || after.is_none() {
            return Ok(out);
        }
    }
}

/// One of the customer's subscriptions and the prices they may add to it: its plan
/// choices that are not on it yet.
pub async fn addable_prices(
    db: &Db,
    c: &CustomerCtx,
    id: &str,
) -> Result<(Subscription, Vec<catalog::Price>)> {
    let sub = subscription(db, c, id).await?;
    let mut choices = plan_choices(db, c, &sub).await?;
    choices.retain(|p| !sub.items.iter().any(|i| i.price == p.id));
    Ok((sub, choices))
}

/// One of the customer's subscriptions and the change that adds `quantity` of `price` to
/// it, at once.
async fn add_change(
    db: &Db,
    c: &CustomerCtx,
    id: &str,
    price: &str,
    quantity: i64,
) -> Result<(Subscription, SubscriptionChange)> {
    let (sub, choices) = addable_prices(db, c, id).await?;
    if !choices.iter().any(|p| p.id == price) {
        return Err(AppError::invalid(
            "price",
            format!("price {price} cannot be added to this subscription"),
        ));
    }
    if !(1..=subscriptions::MAX_QUANTITY).contains(&quantity) {
        return Err(AppError::invalid(
            "quantity",
            format!(
                "quantity must be between 1 and {}",
                subscriptions::MAX_QUANTITY
            ),
        ));
    }
    let change = SubscriptionChange {
        items: vec![ItemChange {
            id: None,
            price: Some(price.to_string()),
            quantity: Some(quantity),
            deleted: false,
        }],
        effective: Some("now".into()),
    };
    Ok((sub, change))
}

/// The exact effect of adding a product, writing nothing (with the subscription as it is).
pub async fn preview_add(
    db: &Db,
    c: &CustomerCtx,
    id: &str,
    price: &str,
    quantity: i64,
) -> Result<(Subscription, ChangePreview)> {
    let (sub, change) = add_change(db, c, id, price, quantity).await?;
    let preview = subscriptions::preview_change(db, &c.ctx, id, &change).await?;
    Ok((sub, preview))
}

/// Adds a product to one of the customer's subscriptions (invoiced at once, prorated).
pub async fn add_product(
    db: &Db,
    c: &CustomerCtx,
    id: &str,
    price: &str,
    quantity: i64,
) -> Result<(Subscription, Option<invoicing::Invoice>)> {
    let (_, change) = add_change(db, c, id, price, quantity).await?;
    subscriptions::change(db, &c.ctx, id, &change).await
}

/// One of the customer's subscriptions and the change that removes `item` from it: refused
/// for an item it does not have (`not_found`), one already leaving at period end, or its
/// last staying item.
async fn removal(
    db: &Db,
    c: &CustomerCtx,
    id: &str,
    item: &str,
) -> Result<(Subscription, SubscriptionChange)> {
    let sub = subscription(db, c, id).await?;
    let staying = |i: &&subscriptions::SubscriptionItem| i.pending_quantity != Some(0);
    let it = sub
        .items
        .iter()
        .filter(staying)
        .find(|i| i.id == item)
        .ok_or_else(|| AppError::not_found("subscription_item", item))?;
    if sub.items.iter().filter(staying).count() < 2 {
        return Err(AppError::state(
            "last_item",
            "a subscription keeps at least one product: cancel the subscription instead",
        ));
    }
    let change = SubscriptionChange {
        items: vec![ItemChange {
            id: Some(it.id.clone()),
            price: None,
            quantity: None,
            deleted: true,
        }],
        effective: None,
    };
    Ok((sub, change))
}

/// The exact effect of removing an item, writing nothing (with the subscription as it is).
pub async fn preview_remove(
    db: &Db,
    c: &CustomerCtx,
    id: &str,
    item: &str,
) -> Result<(Subscription, ChangePreview)> {
    let (sub, change) = removal(db, c, id, item).await?;
    let preview = subscriptions::preview_change(db, &c.ctx, id, &change).await?;
    Ok((sub, preview))
}

/// Removes an item from one of the customer's subscriptions (at period end outside a trial).
pub async fn remove_item(
    db: &Db,
    c: &CustomerCtx,
    id: &str,
    item: &str,
) -> Result<(Subscription, Option<invoicing::Invoice>)> {
    let (_, change) = removal(db, c, id, item).await?;
    subscriptions::change(db, &c.ctx, id, &change).await
}

/// Cancels one of the customer's subscriptions at the end of its period.
pub async fn cancel(db: &Db, c: &CustomerCtx, id: &str) -> Result<Subscription> {
    subscription(db, c, id).await?;
    let input = subscriptions::SubscriptionCancel {
        at_period_end: Some(true),
        prorate: false,
    };
    Ok(subscriptions::cancel(db, &c.ctx, id, &input).await?.0)
}

/// Undoes the cancel at period end of one of the customer's subscriptions.
pub async fn resume(db: &Db, c: &CustomerCtx, id: &str) -> Result<Subscription> {
    subscription(db, c, id).await?;
    subscriptions::resume(db, &c.ctx, id).await
}

/// One of the customer's subscriptions and the retention offer to show before cancelling
/// it, if any.
pub async fn cancel_offer(
    db: &Db,
    c: &CustomerCtx,
    id: &str,
) -> Result<(Subscription, Option<retention::Offered>)> {
    let sub = subscription(db, c, id).await?;
    let offer = retention::offer_for(db, &c.ctx, &sub).await?;
    Ok((sub, offer))
}

/// Accepts the retention offer for one of the customer's subscriptions (once).
pub async fn accept_offer(
    db: &Db,
    c: &CustomerCtx,
    id: &str,
) -> Result<subscriptions::DiscountView> {
    subscription(db, c, id).await?;
    retention::accept(db, &c.ctx, id).await
}

/// Pays what remains of one of the customer's open invoices with their default card.
pub async fn pay(
    db: &Db,
    gw: &gateway::Gateway,
    c: &CustomerCtx,
    id: &str,
) -> Result<payments::Charged> {
    invoice(db, c, id).await?;
    payments::pay_invoice(db, gw, &c.ctx, id, &payments::InvoicePay::default()).await
}

/// The customer's tickets, newest first.
pub async fn tickets(db: &Db, c: &CustomerCtx) -> Result<Vec<Ticket>> {
    let q = tickets::ListTickets {
        customer: Some(c.customer_id.clone()),
        limit: Some(100),
        ..Default::default()
    };
    Ok(tickets::list(db, &c.desk(), q).await?.data)
}

/// What the customer may see of an interaction: public messages, calls and chats.
pub fn public(i: &Interaction) -> bool {
    i.direction != "internal" && i.kind != "note"
}

/// One of the customer's tickets with its public conversation.
pub async fn ticket(db: &Db, c: &CustomerCtx, id: &str) -> Result<TicketDetail> {
    let mut d = tickets::get(db, &c.desk(), id).await?;
    let owner = d.ticket.customer.clone();
    d.interactions.retain(public);
    d.status_history.clear();
    d.watchers.clear();
    mine(owner.as_deref(), c, "ticket", id, d)
}

#[derive(Debug, Clone, Deserialize)]
pub struct OpenTicket {
    pub subject: String,
    pub body: String,
    /// A desk category (invoice_discrepancy, payment_issue, refund_adjustment, payment_terms,
    /// plan_change, account_change);
    /// default other.
    pub category: Option<String>,
    /// One of the customer's invoices the question is about.
    pub invoice: Option<String>,
}

/// Opens a portal ticket for the customer; the acknowledgement email goes out as for mail.
pub async fn open_ticket(db: &Db, c: &CustomerCtx, input: OpenTicket) -> Result<TicketDetail> {
    if input.body.trim().is_empty() {
        return Err(AppError::missing("body"));
    }
    if input.body.chars().count() > 20_000 {
        return Err(AppError::invalid(
            "body",
            "a message has at most 20000 characters",
        ));
    }
    let mut links = Vec::new();
    if let Some(inv) = input
        .invoice
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        invoice(db, c, inv)
            .await
            .map_err(|_| AppError::invalid("invoice", format!("no such invoice: {inv}")))?;
        links.push(tickets::LinkInput {
            object_type: "invoice".into(),
            id: inv.to_string(),
        });
    }
    let category = input.category.filter(|s| !s.trim().is_empty());
    tickets::create(
        db,
        &c.desk(),
        tickets::CreateTicket {
            customer: Some(c.customer_id.clone()),
            requester_email: Some(c.email.clone()),
            requester_name: None,
            subject: input.subject,
            body: Some(input.body),
            channel: Some("portal".into()),
            category,
            priority: None,
            team: None,
            assignee: None,
            tags: Vec::new(),
            links,
        },
    )
    .await
}

/// The customer writes on one of their tickets.
pub async fn reply(db: &Db, c: &CustomerCtx, id: &str, body: &str) -> Result<TicketDetail> {
    let body = body.trim();
    if body.is_empty() {
        return Err(AppError::missing("body"));
    }
    if body.chars().count() > 20_000 {
        return Err(AppError::invalid(
            "body",
            "a message has at most 20000 characters",
        ));
    }
    let sctx = c.desk();
    let org = c.ctx.org_id.clone();
    let mut tx = db.begin().await?;
    let mut t = store::desk::get_ticket(&mut tx, &org, id, true)
        .await?
        .filter(|t| t.customer_id.as_deref() == Some(c.customer_id.as_str()))
        .ok_or_else(|| AppError::not_found("ticket", id))?;
    if t.status == Status::Closed.as_str() || t.merged_into.is_some() {
        return Err(AppError::state(
            "ticket_closed",
            "this ticket is closed; open a new ticket to write to us again",
        ));
    }
    let (_, jobs) = tickets::apply(&mut tx, &sctx, &mut t, &TicketEvent::CustomerReply).await?;
    t.updated_at = c.ctx.now;
    store::desk::update_ticket(&mut tx, &t).await?;
    let row = InteractionRow {
        id: new_id!(InteractionId).to_string(),
        org_id: org.clone(),
        ticket_id: Some(t.id.clone()),
        customer_id: Some(c.customer_id.clone()),
        channel: "portal".into(),
        direction: "inbound".into(),
        kind: "message".into(),
        author_type: "customer".into(),
        from_address: Some(c.email.clone()),
        subject: Some(t.subject.clone()),
        body: body.to_string(),
        created_at: c.ctx.now,
        ..Default::default()
    };
    store::desk::insert_interactions(&mut tx, &[row]).await?;
    crate::jobs::enqueue_at(&mut tx, &org, &jobs).await?;
    tx.commit().await?;
    ticket(db, c, id).await
}

/// The customer rates a resolved ticket (the survey sent at resolution), 1–5.
pub async fn rate(
    db: &Db,
    c: &CustomerCtx,
    id: &str,
    rating: i64,
    comment: Option<&str>,
) -> Result<kpi::CsatResponse> {
    kpi::check_rating(rating)?;
    let mut tx = db.read().await?;
    store::desk::get_ticket(&mut tx, &c.ctx.org_id, id, false)
        .await?
        .filter(|t| t.customer_id.as_deref() == Some(c.customer_id.as_str()))
        .ok_or_else(|| AppError::not_found("ticket", id))?;
    let survey = store::desk::survey_for_ticket(&mut tx, &c.ctx.org_id, id)
        .await?
        .ok_or_else(|| {
            AppError::state("no_survey", "this ticket can be rated once it is resolved")
        })?;
    drop(tx);
    kpi::answer_survey_row(db, &survey, rating, comment, c.ctx.now).await
}

// ---------------------------------------------------------------------------------------
// Payment methods

/// The customer's attached payment methods, newest first.
pub async fn payment_methods(db: &Db, c: &CustomerCtx) -> Result<Vec<payments::PaymentMethod>> {
    Ok(payments::list_methods(db, &c.ctx, &c.customer_id)
        .await?
        .data)
}

/// One of the customer's payment methods (a method's customer never changes, so this check
/// holds for the change that follows it).
pub async fn payment_method(db: &Db, c: &CustomerCtx, id: &str) -> Result<payments::PaymentMethod> {
    let m = payments::get_method(db, &c.ctx, id).await?;
    let owner = m.customer.clone();
    mine(Some(&owner), c, "payment_method", id, m)
}

/// Adds a card from a token the gateway issued (`tok_visa` in the sandbox); the customer's
/// first method becomes the default.
pub async fn add_card(
    db: &Db,
    gw: &gateway::Gateway,
    c: &CustomerCtx,
    token: &str,
) -> Result<payments::PaymentMethod> {
    let token = token.trim();
    if token.is_empty() {
        return Err(AppError::missing("token"));
    }
    let input = payments::PaymentMethodCreate {
        customer: c.customer_id.clone(),
        kind: "card".into(),
        card: None,
        token: Some(token.to_string()),
        bank: None,
        set_default: None,
    };
    payments::attach_method(db, gw, &c.ctx, &input).await
}

/// Makes one of the customer's methods their default.
pub async fn make_default_method(
    db: &Db,
    c: &CustomerCtx,
    id: &str,
) -> Result<payments::PaymentMethod> {
    payment_method(db, c, id).await?;
    payments::make_default(db, &c.ctx, id).await
}

/// Removes (detaches) one of the customer's methods.
pub async fn remove_method(db: &Db, c: &CustomerCtx, id: &str) -> Result<payments::PaymentMethod> {
    payment_method(db, c, id).await?;
    payments::detach_method(db, &c.ctx, id).await
}

// ---------------------------------------------------------------------------------------
// Profile

/// The details a customer keeps up to date themselves. Every field is set as given: an
/// empty optional field clears it.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// en or ru.
    pub locale: String,
    pub address: Address,
}

/// Saves the customer's own details (all or nothing).
pub async fn update_profile(db: &Db, c: &CustomerCtx, p: &ProfileChange) -> Result<Customer> {
    let update = CustomerUpdate {
        name: Some(p.name.clone()),
        email: Some(p.email.clone().unwrap_or_default()),
        phone: Some(p.phone.clone().unwrap_or_default()),
        locale: Some(p.locale.clone()),
        address: Some(p.address.clone()),
        ..Default::default()
    };
    customers::update(db, &c.ctx, &c.customer_id, &update).await
}

/// Adds a tax id, checked as the API checks them (`tax_ids[N]` names it in errors).
pub async fn add_tax_id(db: &Db, c: &CustomerCtx, id: TaxIdInput) -> Result<Customer> {
    customers::change_tax_ids(db, &c.ctx, &c.customer_id, |ids| {
        ids.push(id);
        Ok(())
    })
    .await
}

/// Removes the tax id with this value.
pub async fn remove_tax_id(db: &Db, c: &CustomerCtx, value: &str) -> Result<Customer> {
    customers::change_tax_ids(db, &c.ctx, &c.customer_id, |ids| {
        let before = ids.len();
        ids.retain(|t| t.value != value);
        if ids.len() == before {
            return Err(AppError::not_found("tax_id", value));
        }
        Ok(())
    })
    .await
}

/// Adds a contact (name, email, role) to the customer.
pub async fn add_contact(db: &Db, c: &CustomerCtx, input: &ContactInput) -> Result<Customer> {
    customers::add_contact(db, &c.ctx, &c.customer_id, input).await
}

/// Removes one of the customer's contacts (not one with a portal login).
pub async fn remove_contact(db: &Db, c: &CustomerCtx, id: &str) -> Result<Customer> {
    customers::remove_contact(db, &c.ctx, &c.customer_id, id).await
}
