//! Agreements on when an open invoice is paid — what the desk offers a customer who cannot
//! pay on time: a later due date, or a payment plan of instalments
//! (`billing::collection::check_plan`). Each change is kept (`invoice_due_changes`) with its
//! reason. A plan replaces any earlier one; payments settle its instalments in order, and
//! aging ages each unpaid instalment by its own date.

use crate::util::parse_id;
use crate::{AppError, Ctx, Result};
use billing::ids::{DueChangeId, InvoiceId};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use store::payments::InstalmentRow;
use store::{new_id, Db, Tx};
use utoipa::ToSchema;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DueDateExtension {
    /// The new due date (the customer's local date), later than the current one.
    pub due_date: NaiveDate,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstalmentInput {
    pub due_date: NaiveDate,
    /// Minor units.
    pub amount: i64,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentPlanCreate {
    /// In date order; they add up to what remains on the invoice.
    pub instalments: Vec<InstalmentInput>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Instalment {
    pub due_date: NaiveDate,
    pub amount: i64,
    /// What is still owed of it.
    pub amount_remaining: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentPlan {
    pub object: &'static str,
    pub invoice: String,
    pub instalments: Vec<Instalment>,
}

fn check_reason(reason: &str) -> Result<String> {
    let r = reason.trim();
    if r.is_empty() || r.chars().count() > 500 {
        return Err(AppError::invalid(
            "reason",
            "reason must be 1 to 500 characters",
        ));
    }
    Ok(r.to_string())
}

/// The invoice, locked, if it is open with something left; and the customer's local today.
async fn open_invoice(
    tx: &mut Tx,
    ctx: &Ctx,
    id: &str,
) -> Result<(store::invoices::InvoiceRow, NaiveDate)> {
    parse_id("id", id, InvoiceId::parse)?;
    let inv = store::invoices::get_for_update(tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("invoice", id))?;
    if inv.status != "open" || inv.amount_remaining <= 0 {
        return Err(AppError::state(
            "invoice_not_open",
            format!("invoice {id} is {} with {} remaining; only open invoices with something left get new terms", inv.status, inv.amount_remaining),
        ));
    }
    let cus = store::customers::get(tx, &ctx.org_id, &inv.customer_id)
        .await?
        .ok_or_else(|| AppError::Internal(format!("customer {} missing", inv.customer_id)))?;
    let tz = billing::period::parse_tz(&cus.time_zone)
        .map_err(|e| AppError::Internal(format!("customer {}: {e}", cus.id)))?;
    Ok((inv, ctx.now.with_timezone(&tz).date_naive()))
}

/// Moves an open invoice's due date later.
pub async fn extend_due_date(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    input: &DueDateExtension,
) -> Result<crate::invoicing::Invoice> {
    let reason = check_reason(&input.reason)?;
    let mut tx = db.begin().await?;
    let (mut inv, today) = open_invoice(&mut tx, ctx, id).await?;
    if !store::payments::plans(&mut tx, &ctx.org_id, Some(id))
        .await?
        .is_empty()
    {
        return Err(AppError::state(
            "invoice_has_payment_plan",
            format!("invoice {id} is paid by a payment plan; agree a new plan instead"),
        ));
    }
    let current = inv.due_date.unwrap_or(today);
    if input.due_date <= current || input.due_date < today {
        return Err(AppError::invalid(
            "due_date",
            format!("the new due date must be after the current one ({current}) and not before today ({today})"),
        ));
    }
    if input.due_date > today + chrono::Days::new(365) {
        return Err(AppError::invalid(
            "due_date",
            "the new due date must be within a year",
        ));
    }
    store::payments::insert_due_change(
        &mut tx,
        new_id!(DueChangeId).as_str(),
        &ctx.org_id,
        id,
        "extension",
        inv.due_date,
        input.due_date,
        &reason,
        ctx.now,
    )
    .await?;
    inv.due_date = Some(input.due_date);
    store::invoices::update(&mut tx, &inv).await?;
    requeue_reminders(&mut tx, ctx, &inv).await?;
    let view = crate::invoicing::load(&mut tx, &ctx.org_id, id).await?;
    tx.commit().await?;
    Ok(view)
}

/// Agrees a payment plan for what remains on an open invoice (replacing any earlier plan).
/// The invoice's due date becomes the last instalment's.
pub async fn create_plan(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    input: &PaymentPlanCreate,
) -> Result<PaymentPlan> {
    let reason = check_reason(&input.reason)?;
    let mut tx = db.begin().await?;
    let (mut inv, today) = open_invoice(&mut tx, ctx, id).await?;
    let cus = store::customers::get(&mut tx, &ctx.org_id, &inv.customer_id)
        .await?
        .ok_or_else(|| AppError::Internal(format!("customer {} missing", inv.customer_id)))?;
    if cus.collection_method == "charge_automatically" {
        // Automatic charging takes all that remains; a plan would be overridden by it.
        return Err(AppError::state(
            "customer_charged_automatically",
            format!("customer {} is charged automatically; switch them to send_invoice before agreeing a payment plan", cus.id),
        ));
    }
    let plan: Vec<(NaiveDate, i64)> = input
        .instalments
        .iter()
        .map(|i| (i.due_date, i.amount))
        .collect();
    billing::collection::check_plan(&plan, inv.amount_remaining, today)
        .map_err(|e| AppError::billing("instalments", e))?;
    let rows: Vec<InstalmentRow> = plan
        .iter()
        .enumerate()
        .map(|(i, (d, a))| InstalmentRow {
            org_id: ctx.org_id.clone(),
            invoice_id: id.to_string(),
            seq: i as i64 + 1,
            due_date: *d,
            amount: *a,
        })
        .collect();
    store::payments::replace_plan(&mut tx, &ctx.org_id, id, &rows).await?;
    let last = plan[plan.len() - 1].0;
    store::payments::insert_due_change(
        &mut tx,
        new_id!(DueChangeId).as_str(),
        &ctx.org_id,
        id,
        "payment_plan",
        inv.due_date,
        last,
        &reason,
        ctx.now,
    )
    .await?;
    inv.due_date = Some(last);
    store::invoices::update(&mut tx, &inv).await?;
    requeue_reminders(&mut tx, ctx, &inv).await?;
    let out = plan_view(id, &rows, inv.amount_remaining);
    tx.commit().await?;
    Ok(out)
}

fn plan_view(invoice: &str, rows: &[InstalmentRow], remaining: i64) -> PaymentPlan {
    let plan: Vec<(NaiveDate, i64)> = rows.iter().map(|r| (r.due_date, r.amount)).collect();
    let unpaid = billing::collection::unpaid_instalments(&plan, remaining);
    PaymentPlan {
        object: "payment_plan",
        invoice: invoice.to_string(),
        instalments: plan
            .iter()
            .map(|(d, a)| Instalment {
                due_date: *d,
                amount: *a,
                amount_remaining: unpaid.iter().filter(|u| u.0 == *d).map(|u| u.1).sum(),
            })
            .collect(),
    }
}

/// An invoice's payment plan, with what is left of each instalment.
pub async fn get_plan(db: &Db, ctx: &Ctx, id: &str) -> Result<PaymentPlan> {
    parse_id("id", id, InvoiceId::parse)?;
    let mut tx = db.read().await?;
    let inv = store::invoices::get(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("invoice", id))?;
    let rows = store::payments::plans(&mut tx, &ctx.org_id, Some(id)).await?;
    if rows.is_empty() {
        return Err(AppError::not_found("payment_plan", id));
    }
    let remaining = if inv.status == "open" {
        inv.amount_remaining
    } else {
        0
    };
    Ok(plan_view(id, &rows, remaining))
}

/// The organisation's reminder schedule.
pub async fn reminders_of(tx: &mut Tx, org: &str) -> Result<billing::collection::Reminders> {
    let text = store::orgs::reminder_days(tx, org)
        .await?
        .ok_or_else(|| AppError::not_found("organisation", org))?;
    billing::collection::Reminders::parse(&text)
        .map_err(|e| AppError::Internal(format!("stored reminder days: {e}")))
}

/// The first reminder of an invoice paid by invoice with due date `due` (customer zone
/// `tz`), finalized at `finalized`: the first of the organisation's schedule whose moment
/// is later than that, as a task and its time. Reminders are a chain — each one, when it
/// runs, queues the next of the schedule — so an invoice holds one queued reminder at a
/// time. Reminders whose moment had passed are skipped (no reminder three days before an
/// invoice due on receipt). Queued when `invoice.finalized` is dispatched
/// ([`crate::events::dispatch`]) and again when the due date moves.
pub fn first_reminder(
    reminders: &billing::collection::Reminders,
    invoice: &str,
    due: NaiveDate,
    tz: chrono_tz::Tz,
    finalized: chrono::DateTime<chrono::Utc>,
) -> Option<(crate::jobs::Task, chrono::DateTime<chrono::Utc>)> {
    next_reminder(reminders, invoice, due, tz, None, finalized)
}

/// The first reminder of the schedule after `after` days (or the first at all) whose moment
/// is later than `now`, as a task and its time.
fn next_reminder(
    reminders: &billing::collection::Reminders,
    invoice: &str,
    due: NaiveDate,
    tz: chrono_tz::Tz,
    after: Option<i64>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<(crate::jobs::Task, chrono::DateTime<chrono::Utc>)> {
    reminders
        .days()
        .iter()
        .filter(|d| after.is_none_or(|a| **d > a))
        .map(|&days| (days, billing::collection::Reminders::at(due, days, tz)))
        .find(|(_, at)| *at > now)
        .map(|(days, at)| {
            (
                crate::jobs::Task::InvoiceReminder {
                    invoice: invoice.to_string(),
                    due_date: due,
                    days,
                },
                at,
            )
        })
}

/// Queues the reminders of one invoice for its (new) due date, if its customer pays by
/// invoice.
async fn requeue_reminders(
    tx: &mut Tx,
    ctx: &Ctx,
    inv: &store::invoices::InvoiceRow,
) -> Result<()> {
    let Some(due) = inv.due_date else {
        return Ok(());
    };
    let cus = store::customers::get(tx, &ctx.org_id, &inv.customer_id)
        .await?
        .ok_or_else(|| AppError::Internal(format!("customer {} missing", inv.customer_id)))?;
    if cus.collection_method != "send_invoice" {
        return Ok(());
    }
    let tz = billing::period::parse_tz(&cus.time_zone)
        .map_err(|e| AppError::Internal(format!("customer {}: {e}", cus.id)))?;
    let reminders = reminders_of(tx, &ctx.org_id).await?;
    let first = first_reminder(&reminders, &inv.id, due, tz, ctx.now);
    crate::jobs::enqueue_at(tx, &ctx.org_id, first.as_slice()).await?;
    Ok(())
}

/// The `invoice_reminder` job: records `invoice.reminder` (or `invoice.overdue` after the
/// due date) if the invoice is still open with something left and still due on `due_date`,
/// and queues the next reminder of the chain. A reminder for a due date that has moved is
/// dropped with its chain (the move queued a new one); a settled invoice ends its chain.
pub async fn remind(
    db: &Db,
    ctx: &Ctx,
    invoice: &str,
    due_date: NaiveDate,
    days: i64,
) -> Result<()> {
    let mut tx = db.begin().await?;
    let inv = store::invoices::get(&mut tx, &ctx.org_id, invoice)
        .await?
        .ok_or_else(|| AppError::not_found("invoice", invoice))?;
    if inv.status != "open" || inv.amount_remaining <= 0 || inv.due_date != Some(due_date) {
        return Ok(());
    }
    let mut data = crate::events::invoice_data(&inv, "send_invoice");
    data["days_until_due"] = serde_json::json!(-days);
    crate::events::emit(
        &mut tx,
        ctx,
        billing::collection::Reminders::event_type(days),
        Some(&inv.customer_id),
        &inv.id,
        &data,
    )
    .await?;
    // The next link of the chain, on the organisation's schedule as it is now.
    let cus = store::customers::get(&mut tx, &ctx.org_id, &inv.customer_id)
        .await?
        .ok_or_else(|| AppError::Internal(format!("customer {} missing", inv.customer_id)))?;
    let tz = billing::period::parse_tz(&cus.time_zone)
        .map_err(|e| AppError::Internal(format!("customer {}: {e}", cus.id)))?;
    let reminders = reminders_of(&mut tx, &ctx.org_id).await?;
    // Measured from this reminder's own moment, not from now: a worker that runs late
    // still sends the ones after it, in turn.
    let this = billing::collection::Reminders::at(due_date, days, tz);
    if let Some(next) = next_reminder(&reminders, &inv.id, due_date, tz, Some(days), this) {
        crate::jobs::enqueue_at(&mut tx, &ctx.org_id, &[next]).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReminderSettings {
    pub object: &'static str,
    /// Days relative to the due date (negative before it, 0 on it, positive after it) on
    /// which customers who pay by invoice are reminded of an open invoice.
    pub days: Vec<i64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderUpdate {
    pub days: Vec<i64>,
}

pub async fn get_reminders(db: &Db, ctx: &Ctx) -> Result<ReminderSettings> {
    let mut tx = db.read().await?;
    let r = reminders_of(&mut tx, &ctx.org_id).await?;
    Ok(ReminderSettings {
        object: "reminder_settings",
        days: r.days().to_vec(),
    })
}

/// Changes the schedule for invoices finalized from now on (queued reminders keep theirs).
pub async fn set_reminders(db: &Db, ctx: &Ctx, input: &ReminderUpdate) -> Result<ReminderSettings> {
    let r = billing::collection::Reminders::new(input.days.clone())
        .map_err(|e| AppError::billing("days", e))?;
    let mut tx = db.begin().await?;
    store::orgs::set_reminder_days(&mut tx, &ctx.org_id, &r.to_text()).await?;
    tx.commit().await?;
    Ok(ReminderSettings {
        object: "reminder_settings",
        days: r.days().to_vec(),
    })
}
