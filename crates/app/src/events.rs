//! Events: what happened to an account, recorded in the same transaction as the change
//! (the transactional outbox), and dispatched once to whoever must hear of it.
//!
//! Every use case that changes something a customer or another system cares about calls
//! [`emit`] (or builds rows with [`row`] for bulk writes) inside its own transaction, so an
//! event exists if and only if its change was committed. [`dispatch`] (run by every worker
//! pass) then turns each event into
//! - an email notification for the customer, when the type calls for one (see
//!   [`template_for`]); it is rendered and sent by a `send_notification` job;
//! - a delivery to every enabled webhook endpoint subscribed to the type, POSTed by a
//!   `deliver_webhook` job;
//! - for `invoice.finalized` of an invoice the customer pays by invoice, with something
//!   due: the first `invoice_reminder` of the organisation's schedule still ahead of the
//!   moment it was finalized (the reminders are a chain, see
//!   [`crate::collection::first_reminder`]). Queuing it here rather than in the finalizing
//!   transaction keeps finalization — a bill run's chunk holds the numbering lock — one
//!   row per invoice lighter; the job's unique key (invoice, due date, days) keeps it once;
//!
//! in one transaction that also marks the event dispatched. Unique keys (event, template)
//! and (endpoint, event) make a second dispatch of the same event write nothing.
//!
//! The data of an event is a snapshot of its object when it happened (amounts in minor
//! units, ids, dates), the same shape whichever path wrote it; webhook receivers fetch the
//! whole object through the API when they need more.

use crate::util::parse_id;
use crate::{page_limit, AppError, Ctx, Page, Result};
use billing::ids::{CustomerId, EventId, NotificationId, WebhookDeliveryId};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use store::invoices::InvoiceRow;
use store::outbox::{DeliveryRow, EventRow, NotificationRow};
use store::payments::PaymentRow;
use store::{new_id, Db, Tx};
use utoipa::ToSchema;

/// Every event type Ledgerdesk emits.
pub const TYPES: &[&str] = &[
    "invoice.finalized",
    "invoice.paid",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "invoice.reminder",
    "invoice.overdue",
    "payment.succeeded",
    "payment.failed",
    "refund.created",
    "credit_note.created",
    "subscription.created",
    "subscription.updated",
    "subscription.canceled",
    "ticket.sla_warning",
    "ticket.sla_breached",
];

/// A new event row (not yet written).
pub fn row(
    org: &str,
    kind: &'static str,
    customer: Option<&str>,
    object_id: &str,
    data: &impl Serialize,
    now: DateTime<Utc>,
) -> EventRow {
    debug_assert!(TYPES.contains(&kind), "unknown event type {kind}");
    EventRow {
        id: new_id!(EventId).to_string(),
        org_id: org.to_string(),
        kind: kind.to_string(),
        customer_id: customer.map(str::to_string),
        object_id: object_id.to_string(),
        // Snapshots are plain values and maps with text keys: they always serialize.
        data: serde_json::to_string(data).expect("event data serializes"),
        created_at: now,
        dispatched_at: None,
    }
}

/// Records an event in `tx`.
pub async fn emit(
    tx: &mut Tx,
    ctx: &Ctx,
    kind: &'static str,
    customer: Option<&str>,
    object_id: &str,
    data: &impl Serialize,
) -> Result<()> {
    store::outbox::insert_events(
        tx,
        &[row(&ctx.org_id, kind, customer, object_id, data, ctx.now)],
    )
    .await?;
    Ok(())
}

/// The snapshot of an invoice in its events, written to text as it is; [`invoice_data`]
/// gives it as a `Value` for callers that add to it (the reminders' `days_until_due`).
/// Fields are in name order, so both forms are the same text (serde_json's maps are
/// sorted): the same shape whichever path wrote the event.
#[derive(Debug, Serialize)]
pub struct InvoiceSnapshot<'a> {
    amount_due: i64,
    amount_paid: i64,
    amount_remaining: i64,
    collection_method: &'a str,
    currency: &'a str,
    customer: &'a str,
    due_date: Option<chrono::NaiveDate>,
    id: &'a str,
    number: Option<&'a str>,
    object: &'static str,
    period_end: Option<DateTime<Utc>>,
    period_start: Option<DateTime<Utc>>,
    status: &'a str,
    subscription: Option<&'a str>,
    total: i64,
}

impl<'a> InvoiceSnapshot<'a> {
    /// `collection_method` is the customer's.
    pub fn of(inv: &'a InvoiceRow, collection_method: &'a str) -> InvoiceSnapshot<'a> {
        InvoiceSnapshot {
            amount_due: inv.amount_due,
            amount_paid: inv.amount_paid,
            amount_remaining: inv.amount_remaining,
            collection_method,
            currency: &inv.currency,
            customer: &inv.customer_id,
            due_date: inv.due_date,
            id: &inv.id,
            number: inv.number.as_deref(),
            object: "invoice",
            period_end: inv.period_end,
            period_start: inv.period_start,
            status: &inv.status,
            subscription: inv.subscription_id.as_deref(),
            total: inv.total,
        }
    }
}

/// [`InvoiceSnapshot`] as a `Value`. `collection_method` is the customer's.
pub fn invoice_data(inv: &InvoiceRow, collection_method: &str) -> Value {
    to_value(&InvoiceSnapshot::of(inv, collection_method))
}

/// A snapshot as a `Value`.
fn to_value(snapshot: &impl Serialize) -> Value {
    serde_json::to_value(snapshot).expect("snapshots serialize")
}

/// Records an invoice event, with the customer's collection method in its snapshot.
pub async fn emit_invoice(
    tx: &mut Tx,
    ctx: &Ctx,
    kind: &'static str,
    inv: &InvoiceRow,
) -> Result<()> {
    let method = store::customers::get(tx, &ctx.org_id, &inv.customer_id)
        .await?
        .map(|c| c.collection_method)
        .unwrap_or_default();
    emit(
        tx,
        ctx,
        kind,
        Some(&inv.customer_id),
        &inv.id,
        &InvoiceSnapshot::of(inv, &method),
    )
    .await
}

/// The snapshot of a payment in its events; fields in name order as [`InvoiceSnapshot`]'s.
#[derive(Debug, Serialize)]
pub struct PaymentSnapshot<'a> {
    amount: i64,
    amount_applied: i64,
    currency: &'a str,
    customer: &'a str,
    failure_code: Option<&'a str>,
    failure_message: Option<&'a str>,
    id: &'a str,
    invoice: Option<&'a str>,
    method: &'a str,
    object: &'static str,
    status: &'a str,
}

impl<'a> PaymentSnapshot<'a> {
    pub fn of(p: &'a PaymentRow) -> PaymentSnapshot<'a> {
        PaymentSnapshot {
            amount: p.amount,
            amount_applied: p.amount_applied,
            currency: &p.currency,
            customer: &p.customer_id,
            failure_code: p.failure_code.as_deref(),
            failure_message: p.failure_message.as_deref(),
            id: &p.id,
            invoice: p.invoice_id.as_deref(),
            method: &p.method,
            object: "payment",
            status: &p.status,
        }
    }
}

/// The snapshot of a subscription in its events.
pub fn subscription_data(
    s: &store::subscriptions::SubscriptionRow,
    previous_status: Option<&str>,
) -> Value {
    json!({
        "object": "subscription",
        "id": s.id,
        "customer": s.customer_id,
        "status": s.status,
        "previous_status": previous_status,
        "current_period_start": s.current_period_start,
        "current_period_end": s.current_period_end,
        "cancel_at_period_end": s.cancel_at_period_end,
        "canceled_at": s.canceled_at,
    })
}

/// Records a subscription event (`subscription.created`, `.updated`, `.canceled`) in
/// `tx`, with the subscription's snapshot and, when given, `extra` fields added to it.
pub async fn emit_subscription(
    tx: &mut Tx,
    ctx: &Ctx,
    kind: &'static str,
    sub: &store::subscriptions::SubscriptionRow,
    previous_status: Option<&str>,
    extra: Option<(&str, Value)>,
) -> Result<()> {
    let mut data = subscription_data(sub, previous_status);
    if let Some((key, value)) = extra {
        data[key] = value;
    }
    emit(tx, ctx, kind, Some(&sub.customer_id), &sub.id, &data).await
}

/// Sets a subscription's status and records `subscription.updated` if it changed.
pub async fn set_subscription_status(tx: &mut Tx, ctx: &Ctx, id: &str, status: &str) -> Result<()> {
    let Some(mut sub) = store::subscriptions::get(tx, &ctx.org_id, id).await? else {
        return Err(AppError::not_found("subscription", id));
    };
    if sub.status == status {
        return Ok(());
    }
    store::subscriptions::set_status(tx, &ctx.org_id, id, status, ctx.now).await?;
    let previous = std::mem::replace(&mut sub.status, status.to_string());
    emit_subscription(tx, ctx, "subscription.updated", &sub, Some(&previous), None).await
}

/// The email a customer gets for an event, if any:
/// - `invoice.finalized` → `invoice_issued`, when the customer pays by invoice
///   (`send_invoice`) and something is due; customers charged automatically hear of the
///   payment instead;
/// - `payment.succeeded` → `payment_succeeded` (a receipt); `payment.failed` →
///   `payment_failed`;
/// - `invoice.reminder` → `invoice_reminder`; `invoice.overdue` → `invoice_overdue`;
/// - `subscription.updated` and `subscription.canceled` → `subscription_changed`.
pub fn template_for(kind: &str, data: &Value) -> Option<&'static str> {
    match kind {
        "invoice.finalized" => (data["collection_method"] == "send_invoice"
            && data["amount_due"].as_i64().unwrap_or(0) > 0)
            .then_some("invoice_issued"),
        "payment.succeeded" => Some("payment_succeeded"),
        "payment.failed" => Some("payment_failed"),
        "invoice.reminder" => Some("invoice_reminder"),
        "invoice.overdue" => Some("invoice_overdue"),
        "subscription.updated" | "subscription.canceled" => Some("subscription_changed"),
        _ => None,
    }
}

/// Whether an endpoint's `event_types` (comma-separated, or `*`) takes `kind`.
pub fn subscribed(event_types: &str, kind: &str) -> bool {
    event_types
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == kind)
}

/// Dispatches up to `limit` undispatched events (see the module doc). Returns how many.
pub async fn dispatch(db: &Db, now: DateTime<Utc>, limit: i64) -> Result<usize> {
    let mut tx = db.begin().await?;
    let events = store::outbox::claim_undispatched(&mut tx, limit).await?;
    if events.is_empty() {
        return Ok(0);
    }
    let orgs: Vec<String> = events
        .iter()
        .map(|e| e.org_id.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let endpoints = store::outbox::enabled_endpoints(&mut tx, &orgs).await?;
    // The customers notified, read per organisation in one statement each.
    let wanted = store::ids_by_org(
        events
            .iter()
            .filter_map(|e| Some((e.org_id.as_str(), e.customer_id.as_deref()?))),
    );
    let mut customers = std::collections::HashMap::new();
    for (org, ids) in wanted {
        for c in store::customers::get_many(&mut tx, org, &ids).await? {
            customers.insert((c.org_id.clone(), c.id.clone()), c);
        }
    }
    let (mut notifications, mut deliveries) = (Vec::new(), Vec::new());
    for e in &events {
        let data: Value = serde_json::from_str(&e.data)
            .map_err(|err| AppError::Internal(format!("event {}: bad data: {err}", e.id)))?;
        if let (Some(template), Some(cus)) = (template_for(&e.kind, &data), &e.customer_id) {
            if let Some(c) = customers.get(&(e.org_id.clone(), cus.clone())) {
                let recipient = c.email.clone().filter(|m| !m.trim().is_empty());
                notifications.push(NotificationRow {
                    id: new_id!(NotificationId).to_string(),
                    org_id: e.org_id.clone(),
                    customer_id: cus.clone(),
                    event_id: e.id.clone(),
                    template: template.to_string(),
                    channel: "email".into(),
                    locale: crate::notify::language(&c.locale).to_string(),
                    status: if recipient.is_some() {
                        "queued"
                    } else {
                        "skipped"
                    }
                    .into(),
                    last_error: recipient
                        .is_none()
                        .then(|| "the customer has no email address".to_string()),
                    recipient,
                    subject: None,
                    body: None,
                    attempts: 0,
                    created_at: now,
                    updated_at: now,
                    sent_at: None,
                });
            }
        }
        for ep in endpoints
            .iter()
            .filter(|ep| ep.org_id == e.org_id && subscribed(&ep.event_types, &e.kind))
        {
            deliveries.push(DeliveryRow {
                id: new_id!(WebhookDeliveryId).to_string(),
                org_id: e.org_id.clone(),
                endpoint_id: ep.id.clone(),
                event_id: e.id.clone(),
                status: "pending".into(),
                attempts: 0,
                replays: 0,
                last_status_code: None,
                last_error: None,
                created_at: now,
                updated_at: now,
                delivered_at: None,
            });
        }
    }
    let sendable: Vec<&NotificationRow> = notifications
        .iter()
        .filter(|n| n.status == "queued")
        .collect();
    let added: std::collections::HashSet<String> =
        store::outbox::insert_notifications(&mut tx, &notifications)
            .await?
            .into_iter()
            .collect();
    let mut jobs = Vec::new();
    for n in sendable.iter().filter(|n| added.contains(&n.id)) {
        jobs.push(crate::jobs::job(
            &n.org_id,
            &crate::jobs::Task::SendNotification {
                notification: n.id.clone(),
            },
            now,
        )?);
    }
    let added: std::collections::HashSet<String> =
        store::outbox::insert_deliveries(&mut tx, &deliveries)
            .await?
            .into_iter()
            .collect();
    for d in deliveries.iter().filter(|d| added.contains(&d.id)) {
        let (org, id) = (&d.org_id, &d.id);
        jobs.push(crate::jobs::job(
            org,
            &crate::jobs::Task::DeliverWebhook {
                delivery: id.clone(),
                replay: 0,
            },
            now,
        )?);
    }
    store::jobs::enqueue(&mut tx, &jobs).await?;
    queue_first_reminders(&mut tx, &events, &customers).await?;
    store::outbox::mark_dispatched(&mut tx, &events, now).await?;
    tx.commit().await?;
    Ok(events.len())
}

/// The first reminder of every invoice finalized among `events` that its customer pays by
/// invoice and that has something due, measured from the moment it was finalized (the
/// event's time — a test clock's time for an invoice on one).
async fn queue_first_reminders(
    tx: &mut Tx,
    events: &[EventRow],
    customers: &std::collections::HashMap<(String, String), store::customers::CustomerRow>,
) -> Result<()> {
    let mut by_org: std::collections::BTreeMap<&str, Vec<_>> = Default::default();
    for e in events.iter().filter(|e| e.kind == "invoice.finalized") {
        let data: Value = serde_json::from_str(&e.data)
            .map_err(|err| AppError::Internal(format!("event {}: bad data: {err}", e.id)))?;
        let (Some(due), Some(cus)) = (data["due_date"].as_str(), &e.customer_id) else {
            continue;
        };
        if data["collection_method"] != "send_invoice" || data["amount_due"].as_i64() <= Some(0) {
            continue;
        }
        let Some(c) = customers.get(&(e.org_id.clone(), cus.clone())) else {
            continue;
        };
        let due = chrono::NaiveDate::parse_from_str(due, "%Y-%m-%d")
            .map_err(|err| AppError::Internal(format!("event {}: due_date: {err}", e.id)))?;
        let tz = billing::period::parse_tz(&c.time_zone)
            .map_err(|err| AppError::Internal(format!("customer {}: {err}", c.id)))?;
        by_org.entry(e.org_id.as_str()).or_default().push((
            e.object_id.clone(),
            due,
            tz,
            e.created_at,
        ));
    }
    for (org, invoices) in by_org {
        let reminders = crate::collection::reminders_of(tx, org).await?;
        let tasks: Vec<_> = invoices
            .iter()
            .filter_map(|(inv, due, tz, at)| {
                crate::collection::first_reminder(&reminders, inv, *due, *tz, *at)
            })
            .collect();
        crate::jobs::enqueue_at(tx, org, &tasks).await?;
    }
    Ok(())
}

/// An event as the API shows it — also the body of a webhook delivery.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Event {
    pub id: String,
    pub object: &'static str,
    /// invoice.finalized, payment.succeeded, …
    #[serde(rename = "type")]
    pub kind: String,
    pub customer: Option<String>,
    pub created: DateTime<Utc>,
    /// `{"object": {…}}`: a snapshot of the invoice, payment, … when it happened.
    #[schema(value_type = Object)]
    pub data: Value,
}

pub fn view(e: &EventRow) -> Event {
    Event {
        id: e.id.clone(),
        object: "event",
        kind: e.kind.clone(),
        customer: e.customer_id.clone(),
        created: e.created_at,
        data: json!({ "object": serde_json::from_str::<Value>(&e.data).unwrap_or(Value::Null) }),
    }
}

pub async fn get(db: &Db, ctx: &Ctx, id: &str) -> Result<Event> {
    parse_id("id", id, EventId::parse)?;
    let mut tx = db.read().await?;
    let e = store::outbox::get_event(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("event", id))?;
    Ok(view(&e))
}

pub async fn list(
    db: &Db,
    ctx: &Ctx,
    kind: Option<&str>,
    customer: Option<&str>,
    starting_after: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<Event>> {
    let limit = page_limit(limit)?;
    if let Some(k) = kind {
        if !TYPES.contains(&k) {
            return Err(AppError::invalid(
                "type",
                format!("unknown event type {k:?}; known: {}", TYPES.join(", ")),
            ));
        }
    }
    if let Some(c) = customer {
        parse_id("customer", c, CustomerId::parse)?;
    }
    let mut tx = db.read().await?;
    let rows = store::outbox::list_events(
        &mut tx,
        &ctx.org_id,
        kind,
        customer,
        starting_after,
        limit + 1,
    )
    .await?;
    Ok(Page::from_rows(rows.iter().map(view).collect(), limit))
}

/// One entry of a customer's timeline: an event, with the notifications it caused and
/// their delivery state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineEntry {
    pub id: String,
    pub object: &'static str,
    #[serde(rename = "type")]
    pub kind: String,
    pub created: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub data: Value,
    pub notifications: Vec<crate::notify::Notification>,
}

/// A customer's timeline, newest first: every event of the account (invoices, payments,
/// plan changes, credits, reminders) with the notifications sent about it, and every desk
/// interaction (`interaction.message`, `interaction.note`, `interaction.call`,
/// `interaction.chat`; `data.direction` says inbound, outbound or internal). Both kinds of
/// id carry their creation instant after the prefix, so the two lists merge by that part
/// and `starting_after` may be either kind of id.
pub async fn timeline(
    db: &Db,
    ctx: &Ctx,
    customer: &str,
    starting_after: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<TimelineEntry>> {
    parse_id("id", customer, CustomerId::parse)?;
    let limit = page_limit(limit)?;
    let mut tx = db.read().await?;
    store::customers::get(&mut tx, &ctx.org_id, customer)
        .await?
        .ok_or_else(|| AppError::not_found("customer", customer))?;
    timeline_in(&mut tx, ctx, customer, starting_after, limit).await
}

/// [`timeline`] in `tx`, of a customer known to exist.
pub(crate) async fn timeline_in(
    tx: &mut Tx,
    ctx: &Ctx,
    customer: &str,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Page<TimelineEntry>> {
    let suffix = match starting_after {
        Some(c) => Some(
            c.split_once('_')
                .map(|(_, s)| s.to_string())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    AppError::invalid("starting_after", format!("{c:?} is not an id"))
                })?,
        ),
        None => None,
    };
    let evt_cursor = suffix.as_ref().map(|s| format!("evt_{s}"));
    let int_cursor = suffix.as_ref().map(|s| format!("int_{s}"));
    let rows = store::outbox::list_events(
        tx,
        &ctx.org_id,
        None,
        Some(customer),
        evt_cursor.as_deref(),
        limit + 1,
    )
    .await?;
    let interactions = crate::desk::tickets::customer_interactions(
        tx,
        &ctx.org_id,
        customer,
        int_cursor.as_deref(),
        limit + 1,
    )
    .await?;
    let ids: Vec<String> = rows.iter().map(|e| e.id.clone()).collect();
    let notes = store::outbox::notifications_of_events(tx, &ctx.org_id, &ids).await?;
    let mut entries: Vec<TimelineEntry> = rows
        .iter()
        .map(|e| {
            let v = view(e);
            TimelineEntry {
                id: v.id,
                object: "timeline_entry",
                kind: v.kind,
                created: v.created,
                data: v.data,
                notifications: notes
                    .iter()
                    .filter(|n| n.event_id == e.id)
                    .map(crate::notify::view)
                    .collect(),
            }
        })
        .collect();
    entries.extend(interactions.into_iter().map(|i| TimelineEntry {
        id: i.id.clone(),
        object: "timeline_entry",
        kind: format!("interaction.{}", i.kind),
        created: i.created,
        data: serde_json::to_value(&i).unwrap_or(Value::Null),
        notifications: vec![],
    }));
    let key = |id: &str| {
        id.split_once('_')
            .map(|(_, s)| s.to_string())
            .unwrap_or_default()
    };
    entries.sort_by_key(|e| std::cmp::Reverse(key(&e.id)));
    Ok(Page::from_rows(entries, limit))
}

#[cfg(test)]
mod snapshot_tests {
    use super::*;
    use chrono::TimeZone;

    /// The typed snapshots the bulk paths write are the same text as their `Value` forms,
    /// which every other path writes: a field out of name order fails this.
    #[test]
    fn typed_snapshots_are_the_value_text() {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 5, 0, 0).unwrap();
        let inv = InvoiceRow {
            subscription_id: Some("sub_1".into()),
            billing_reason: "subscription_cycle".into(),
            billing_period_start: Some(t),
            period_start: Some(t),
            period_end: Some(t + chrono::Duration::days(31)),
            number: Some("INV-2026-000001".into()),
            due_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 15),
            ..store::testing::open_invoice("org_1", "cus_1", "inv_1", 1190, t)
        };
        let typed = serde_json::to_string(&InvoiceSnapshot::of(&inv, "send_invoice")).unwrap();
        assert_eq!(typed, invoice_data(&inv, "send_invoice").to_string());
        assert!(typed.contains(r#""number":"INV-2026-000001""#), "{typed}");
        let pay = PaymentRow {
            id: "pay_1".into(),
            org_id: "org_1".into(),
            customer_id: "cus_1".into(),
            payment_method_id: Some("pm_1".into()),
            method: "card".into(),
            status: "failed".into(),
            currency: "eur".into(),
            amount: 1190,
            amount_applied: 0,
            amount_refunded: 0,
            invoice_id: Some("inv_1".into()),
            gateway: Some("sandbox".into()),
            gateway_reference: None,
            reference: None,
            failure_code: Some("card_declined".into()),
            failure_message: Some("Your card was declined.".into()),
            created_at: t,
            updated_at: t,
        };
        let typed = serde_json::to_string(&PaymentSnapshot::of(&pay)).unwrap();
        assert_eq!(typed, to_value(&PaymentSnapshot::of(&pay)).to_string());
    }
}
