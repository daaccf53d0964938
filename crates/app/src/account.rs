//! The account at a glance (the desk's customer-360 panel): who the customer is, what they
//! owe and hold in credit, their subscriptions, recent invoices and payments, and their
//! timeline — read in one read transaction, so every part is of the same moment and the
//! page pays for one transaction instead of one per part.

use crate::events::TimelineEntry;
use crate::invoicing::Invoice;
use crate::ledger::CustomerBalance;
use crate::payments::Payment;
use crate::subscriptions::Subscription;
use crate::util::parse_id;
use crate::{AppError, Ctx, Result};
use billing::ids::CustomerId;
use store::{Db, Tx};

/// How many of each list to read (newest first); each at most 100.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub subscriptions: i64,
    pub invoices: i64,
    pub payments: i64,
    pub timeline: i64,
}

/// The account holder, as the panel names them.
#[derive(Debug, Clone)]
pub struct Holder {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub locale: String,
    pub time_zone: String,
    pub currency: String,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub holder: Holder,
    pub balance: CustomerBalance,
    pub subscriptions: Vec<Subscription>,
    pub invoices: Vec<Invoice>,
    pub payments: Vec<Payment>,
    pub timeline: Vec<TimelineEntry>,
}

/// The account of `customer` (not found: another organisation's, or none).
pub async fn get(db: &Db, ctx: &Ctx, customer: &str, sizes: Sizes) -> Result<Account> {
    parse_id("customer", customer, CustomerId::parse)?;
    let mut tx = db.read().await?;
    get_in(&mut tx, ctx, customer, sizes).await
}

/// [`get`] in `tx` (a read transaction the caller also reads other things in).
pub(crate) async fn get_in(
    tx: &mut Tx,
    ctx: &Ctx,
    customer: &str,
    sizes: Sizes,
) -> Result<Account> {
    let size = |n: i64| n.clamp(1, 100);
    let c = store::customers::get(tx, &ctx.org_id, customer)
        .await?
        .ok_or_else(|| AppError::not_found("customer", customer))?;
    let balance = crate::ledger::balance_in(tx, &c).await?;
    let some = Some(customer);
    let subscriptions =
        crate::subscriptions::list_in(tx, ctx, some, None, None, size(sizes.subscriptions))
            .await?
            .data;
    let invoices = crate::invoicing::list_in(tx, ctx, some, None, None, None, size(sizes.invoices))
        .await?
        .data;
    let payments =
        crate::payments::list_payments_in(tx, ctx, some, None, None, size(sizes.payments))
            .await?
            .data;
    let timeline = crate::events::timeline_in(tx, ctx, customer, None, size(sizes.timeline))
        .await?
        .data;
    Ok(Account {
        holder: Holder {
            id: c.id,
            name: c.name,
            email: c.email,
            phone: c.phone,
            locale: c.locale,
            time_zone: c.time_zone,
            currency: c.currency,
        },
        balance,
        subscriptions,
        invoices,
        payments,
        timeline,
    })
}
