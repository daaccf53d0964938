//! Tickets: create, read, list, change (status, priority, category, team, assignee, tags,
//! links), reply, internal notes with @mentions, merge, and the follow-up of a closed
//! ticket. Status moves follow `desk::ticket::transition`; every move is kept in
//! `ticket_status_changes` (SLA pauses, reopen counts, KPIs) and every staff change in the
//! audit log.
//!
//! SLA: the policy is the organisation's most specific one for the ticket's priority and
//! category (both > priority only > category only > neither); clocks run on the team's
//! business calendar (24×7 when the team has none). The first-response clock stops at the
//! first public agent reply; the resolution clock pauses in `pending_customer` and stops at
//! resolution. Each due instant queues an `sla_check` job for the warning (80 %) and the
//! breach (100 %); a job whose due instant has moved since does nothing.
//!
//! Assignment: manual (`assignee`), or `"round_robin"`: among the team's online, active
//! staff with fewer open tickets than their capacity, the one assigned least recently.

use super::{audit, rule, StaffCtx};
use crate::jobs::Task;
use crate::{page_limit, AppError, Ctx, Page, Result};
use billing::ids::{InteractionId, StatusChangeId, TicketId};
use chrono::{DateTime, Utc};
use desk::authority::Permission;
use desk::calendar::Calendar;
use desk::sla;
use desk::ticket::{Category, Channel, Priority, Status, TicketEvent};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use store::desk::{InteractionRow, StatusChangeRow, TicketRow};
use store::{new_id, Db, Tx};

// ---------------------------------------------------------------------------------------
// Views

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlaClock {
    /// When the target is reached (None: no target, or paused).
    pub due: Option<DateTime<Utc>>,
    /// running, paused, warning, breached, met, met_late; none without a target.
    pub state: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ticket {
    pub id: String,
    pub object: &'static str,
    /// "T-42".
    pub number: String,
    pub customer: Option<String>,
    pub requester_email: Option<String>,
    pub requester_name: Option<String>,
    pub subject: String,
    pub channel: String,
    pub category: String,
    pub priority: String,
    pub status: String,
    pub team: String,
    pub assignee: Option<String>,
    pub tags: Vec<String>,
    pub follow_up_of: Option<String>,
    pub merged_into: Option<String>,
    pub reopen_count: i64,
    pub first_response_sla: SlaClock,
    pub resolution_sla: SlaClock,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Interaction {
    pub id: String,
    pub object: &'static str,
    pub ticket: Option<String>,
    pub customer: Option<String>,
    pub channel: String,
    /// inbound, outbound, internal
    pub direction: String,
    /// message, note, call, chat
    pub kind: String,
    /// customer, staff, system
    pub author_type: String,
    pub author: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
    pub body: String,
    pub message_id: Option<String>,
    /// Why an inbound mail got no automatic answer (auto-reply, bulk, …).
    pub automatic: Option<String>,
    pub phone_number: Option<String>,
    pub wait_secs: Option<i64>,
    pub talk_secs: Option<i64>,
    pub hold_secs: Option<i64>,
    pub wrap_secs: Option<i64>,
    pub handling_secs: Option<i64>,
    pub delivery_status: Option<String>,
    pub delivery_error: Option<String>,
    pub created: DateTime<Utc>,
}

pub fn interaction_view(r: &InteractionRow) -> Interaction {
    Interaction {
        id: r.id.clone(),
        object: "interaction",
        ticket: r.ticket_id.clone(),
        customer: r.customer_id.clone(),
        channel: r.channel.clone(),
        direction: r.direction.clone(),
        kind: r.kind.clone(),
        author_type: r.author_type.clone(),
        author: r.author_id.clone(),
        from: r.from_address.clone(),
        to: r.to_address.clone(),
        subject: r.subject.clone(),
        body: r.body.clone(),
        message_id: r.message_id.clone(),
        automatic: r.automatic.clone(),
        phone_number: r.phone_number.clone(),
        wait_secs: r.wait_secs,
        talk_secs: r.talk_secs,
        hold_secs: r.hold_secs,
        wrap_secs: r.wrap_secs,
        handling_secs: r.handling_secs,
        delivery_status: r.delivery_status.clone(),
        delivery_error: r.delivery_error.clone(),
        created: r.created_at,
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Link {
    #[serde(rename = "type")]
    pub object_type: String,
    pub id: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusChange {
    pub from: Option<String>,
    pub to: String,
    pub actor: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttachmentInfo {
    pub id: String,
    pub interaction: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub interactions: Vec<Interaction>,
    pub links: Vec<Link>,
    pub status_history: Vec<StatusChange>,
    pub watchers: Vec<String>,
    pub attachments: Vec<AttachmentInfo>,
}

fn sla_view(
    cal: &Calendar,
    clock: &sla::Clock,
    target: Option<i64>,
    due: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> SlaClock {
    match target {
        None => SlaClock {
            due: None,
            state: "none".into(),
        },
        Some(t) => SlaClock {
            due,
            state: sla::state(cal, clock, t, now).as_str().to_string(),
        },
    }
}

/// The SLA inputs of a ticket: its calendar, policy and status history.
pub(crate) struct SlaInputs {
    pub cal: Calendar,
    pub policy: sla::Policy,
    pub changes: Vec<StatusChangeRow>,
}

pub(crate) async fn sla_inputs(tx: &mut Tx, t: &TicketRow) -> Result<SlaInputs> {
    let cal = team_calendar(tx, &t.org_id, &t.team).await?;
    let policy = match &t.sla_policy_id {
        Some(_) => policy_for(tx, &t.org_id, &t.priority, &t.category)
            .await?
            .map(|p| p.1)
            .unwrap_or(sla::Policy {
                first_response_secs: None,
                resolution_secs: None,
            }),
        None => sla::Policy {
            first_response_secs: None,
            resolution_secs: None,
        },
    };
    let changes = store::desk::status_changes(tx, &t.org_id, &t.id).await?;
    Ok(SlaInputs {
        cal,
        policy,
        changes,
    })
}

/// The first-response clock: from creation to the first public agent reply.
pub(crate) fn first_response_clock(t: &TicketRow) -> sla::Clock {
    sla::Clock {
        started: t.created_at,
        pauses: vec![],
        stopped: t.first_response_at,
    }
}

/// The resolution clock: paused through every stay in `pending_customer`, stopped at the
/// (latest) resolution.
pub(crate) fn resolution_clock(t: &TicketRow, changes: &[StatusChangeRow]) -> sla::Clock {
    let mut pauses = Vec::new();
    let mut open: Option<DateTime<Utc>> = None;
    for c in changes {
        if c.to_status == Status::PendingCustomer.as_str() {
            open.get_or_insert(c.at);
        } else if let Some(s) = open.take() {
            pauses.push((s, Some(c.at)));
        }
    }
    if let Some(s) = open {
        pauses.push((s, None));
    }
    let stopped = match t.status.as_str() {
        "resolved" | "closed" => t.resolved_at.or(t.closed_at),
        _ => None,
    };
    sla::Clock {
        started: t.created_at,
        pauses,
        stopped,
    }
}

pub(crate) fn view_with(t: &TicketRow, s: &SlaInputs, now: DateTime<Utc>) -> Ticket {
    let fr = first_response_clock(t);
    let res = resolution_clock(t, &s.changes);
    Ticket {
        id: t.id.clone(),
        object: "ticket",
        number: desk::ticket::format_number(t.number),
        customer: t.customer_id.clone(),
        requester_email: t.requester_email.clone(),
        requester_name: t.requester_name.clone(),
        subject: t.subject.clone(),
        channel: t.channel.clone(),
        category: t.category.clone(),
        priority: t.priority.clone(),
        status: t.status.clone(),
        team: t.team.clone(),
        assignee: t.assignee_id.clone(),
        tags: split_tags(&t.tags),
        follow_up_of: t.follow_up_of.clone(),
        merged_into: t.merged_into.clone(),
        reopen_count: t.reopen_count,
        first_response_sla: sla_view(
            &s.cal,
            &fr,
            s.policy.first_response_secs,
            t.first_response_due_at,
            now,
        ),
        resolution_sla: sla_view(
            &s.cal,
            &res,
            s.policy.resolution_secs,
            t.resolution_due_at,
            now,
        ),
        first_response_at: t.first_response_at,
        resolved_at: t.resolved_at,
        closed_at: t.closed_at,
        created: t.created_at,
        updated: t.updated_at,
    }
}

fn split_tags(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Tags are lowercased, trimmed, de-duplicated and sorted; each 1–64 characters without
/// commas.
fn join_tags(tags: &[String]) -> Result<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, t) in tags.iter().enumerate() {
        let t = t.trim().to_lowercase();
        if t.is_empty() || t.len() > 64 || t.contains(',') {
            return Err(AppError::invalid(
                format!("tags[{i}]"),
                "a tag has 1 to 64 characters and no comma",
            ));
        }
        out.push(t);
    }
    out.sort();
    out.dedup();
    Ok(out.join(","))
}

// ---------------------------------------------------------------------------------------
// SLA policy and calendar lookups

pub(crate) async fn team_calendar(tx: &mut Tx, org: &str, team: &str) -> Result<Calendar> {
    match store::desk::team_calendar(tx, org, team).await? {
        None => Ok(Calendar::always()),
        Some(spec) => {
            let spec: desk::calendar::CalendarSpec = serde_json::from_str(&spec)
                .map_err(|e| AppError::Internal(format!("stored calendar: {e}")))?;
            spec.compile().map_err(rule)
        }
    }
}

/// The most specific policy for (priority, category): `(policy id, targets)`.
pub(crate) async fn policy_for(
    tx: &mut Tx,
    org: &str,
    priority: &str,
    category: &str,
) -> Result<Option<(String, sla::Policy)>> {
    let all = store::desk::sla_policies(tx, org).await?;
    Ok(pick_policy(&all, priority, category))
}

/// The most specific of `all` for (priority, category): both match > priority only >
/// category only > neither.
fn pick_policy(
    all: &[store::desk::SlaPolicyRow],
    priority: &str,
    category: &str,
) -> Option<(String, sla::Policy)> {
    let rank = |p: &store::desk::SlaPolicyRow| -> Option<u8> {
        match (p.priority.as_str(), p.category.as_str()) {
            (pr, c) if pr == priority && c == category => Some(0),
            (pr, "") if pr == priority => Some(1),
            ("", c) if c == category => Some(2),
            ("", "") => Some(3),
            _ => None,
        }
    };
    all.iter()
        .filter_map(|p| rank(p).map(|r| (r, p)))
        .min_by_key(|(r, _)| *r)
        .map(|(_, p)| {
            (
                p.id.clone(),
                sla::Policy {
                    first_response_secs: p.first_response_secs,
                    resolution_secs: p.resolution_secs,
                },
            )
        })
}

/// Recomputes a ticket's due instants from its policy, calendar and history, and queues
/// the warning and breach checks for them.
pub(crate) async fn refresh_sla(
    tx: &mut Tx,
    t: &mut TicketRow,
) -> Result<Vec<(Task, DateTime<Utc>)>> {
    let s = sla_inputs(tx, t).await?;
    let mut jobs = Vec::new();
    t.first_response_due_at = match (s.policy.first_response_secs, t.first_response_at) {
        (Some(secs), None) => {
            let clock = first_response_clock(t);
            let due = sla::due_at(&s.cal, &clock, secs, sla::BREACH_PERMILLE);
            if let (Some(warn), Some(due)) =
                (sla::due_at(&s.cal, &clock, secs, sla::WARN_PERMILLE), due)
            {
                jobs.push(sla_task(t, "first_response", "warning", due, warn));
            }
            due
        }
        (Some(secs), Some(_)) => sla::due_at(
            &s.cal,
            &sla::Clock {
                stopped: None,
                ..first_response_clock(t)
            },
            secs,
            sla::BREACH_PERMILLE,
        ),
        (None, _) => None,
    };
    t.resolution_due_at = match s.policy.resolution_secs {
        Some(secs) => {
            let clock = resolution_clock(t, &s.changes);
            let running = sla::Clock {
                stopped: None,
                ..clock.clone()
            };
            let due = sla::due_at(&s.cal, &running, secs, sla::BREACH_PERMILLE);
            if clock.stopped.is_none() {
                if let (Some(warn), Some(due)) =
                    (sla::due_at(&s.cal, &running, secs, sla::WARN_PERMILLE), due)
                {
                    jobs.push(sla_task(t, "resolution", "warning", due, warn));
                }
            }
            due
        }
        None => None,
    };
    Ok(jobs)
}

fn sla_task(
    t: &TicketRow,
    clock: &str,
    level: &str,
    due: DateTime<Utc>,
    at: DateTime<Utc>,
) -> (Task, DateTime<Utc>) {
    (
        Task::SlaCheck {
            ticket: t.id.clone(),
            clock: clock.to_string(),
            level: level.to_string(),
            due,
        },
        at,
    )
}

/// Runs an `sla_check` job: if the clock is still due at `due` and not stopped, emits
/// `ticket.sla_warning` or `ticket.sla_breached` (webhooks) once; a warning queues the
/// breach check for `due`.
pub async fn sla_check(
    db: &Db,
    ctx: &Ctx,
    ticket: &str,
    clock: &str,
    level: &str,
    due: DateTime<Utc>,
) -> Result<()> {
    let mut tx = db.begin().await?;
    let Some(t) = store::desk::get_ticket(&mut tx, &ctx.org_id, ticket, true).await? else {
        return Ok(());
    };
    let (current_due, stopped) = match clock {
        "first_response" => (t.first_response_due_at, t.first_response_at.is_some()),
        _ => (
            t.resolution_due_at,
            matches!(t.status.as_str(), "resolved" | "closed"),
        ),
    };
    if stopped || current_due != Some(due) || t.merged_into.is_some() {
        return Ok(());
    }
    let s = sla_inputs(&mut tx, &t).await?;
    let kind = if level == "warning" {
        "ticket.sla_warning"
    } else {
        "ticket.sla_breached"
    };
    let data = json!({
        "object": "ticket",
        "id": t.id,
        "number": desk::ticket::format_number(t.number),
        "clock": clock,
        "due": due,
        "ticket": view_with(&t, &s, ctx.now),
    });
    crate::events::emit(&mut tx, ctx, kind, t.customer_id.as_deref(), &t.id, &data).await?;
    if level == "warning" {
        crate::jobs::enqueue_at(
            &mut tx,
            &ctx.org_id,
            &[sla_task(&t, clock, "breach", due, due)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Create

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkInput {
    /// invoice, subscription, payment, credit_note
    #[serde(rename = "type")]
    pub object_type: String,
    pub id: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    pub customer: Option<String>,
    pub requester_email: Option<String>,
    pub requester_name: Option<String>,
    pub subject: String,
    /// The customer's first message, if any (an inbound interaction).
    pub body: Option<String>,
    /// email, chat, phone, portal, api (default api).
    pub channel: Option<String>,
    /// Default other.
    pub category: Option<String>,
    /// low, normal, high, urgent (default normal).
    pub priority: Option<String>,
    /// Default billing.
    pub team: Option<String>,
    /// A staff id, or "round_robin".
    pub assignee: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub links: Vec<LinkInput>,
}

fn parse_or<T: Copy>(
    param: &str,
    v: &Option<String>,
    default: T,
    parse: fn(&str) -> std::result::Result<T, desk::DeskError>,
) -> Result<T> {
    match v {
        None => Ok(default),
        Some(s) => parse(s).map_err(|e| AppError::invalid(param, e.to_string())),
    }
}

async fn check_link(tx: &mut Tx, org: &str, l: &LinkInput, i: usize) -> Result<()> {
    let param = format!("links[{i}].id");
    let exists = match l.object_type.as_str() {
        "invoice" => store::invoices::get(tx, org, &l.id).await?.is_some(),
        "subscription" => store::subscriptions::get(tx, org, &l.id).await?.is_some(),
        "payment" => store::payments::get_payment(tx, org, &l.id, false)
            .await?
            .is_some(),
        "credit_note" => store::invoices::get_credit_note(tx, org, &l.id)
            .await?
            .is_some(),
        other => {
            return Err(AppError::invalid(
                format!("links[{i}].type"),
                format!("{other:?} is not one of invoice, subscription, payment, credit_note"),
            ))
        }
    };
    if exists {
        Ok(())
    } else {
        Err(AppError::invalid(
            param,
            format!("no such {}: {}", l.object_type, l.id),
        ))
    }
}

/// Everything a new ticket needs written; shared by the API and the inbound mail path.
pub(crate) struct NewTicket {
    pub customer_id: Option<String>,
    pub requester_email: Option<String>,
    pub requester_name: Option<String>,
    pub subject: String,
    pub channel: Channel,
    pub category: Category,
    pub priority: Priority,
    pub team: String,
    pub follow_up_of: Option<String>,
    pub tags: String,
}

/// Writes a ticket (number, row, first status change, SLA due instants and checks) in `tx`.
pub(crate) async fn insert_ticket(
    tx: &mut Tx,
    sctx: &StaffCtx,
    n: NewTicket,
) -> Result<(TicketRow, Vec<(Task, DateTime<Utc>)>)> {
    let org = sctx.org();
    let now = sctx.ctx.now;
    let number = store::desk::take_ticket_numbers(tx, org, 1).await?;
    let policy = policy_for(tx, org, n.priority.as_str(), n.category.as_str()).await?;
    let mut t = TicketRow {
        id: new_id!(TicketId).to_string(),
        org_id: org.to_string(),
        number,
        customer_id: n.customer_id,
        requester_email: n.requester_email,
        requester_name: n.requester_name,
        subject: n.subject,
        channel: n.channel.as_str().to_string(),
        category: n.category.as_str().to_string(),
        priority: n.priority.as_str().to_string(),
        status: Status::New.as_str().to_string(),
        team: n.team,
        assignee_id: None,
        sla_policy_id: policy.map(|p| p.0),
        tags: n.tags,
        follow_up_of: n.follow_up_of,
        merged_into: None,
        reopen_count: 0,
        first_response_at: None,
        first_response_due_at: None,
        resolution_due_at: None,
        resolved_at: None,
        resolved_by: None,
        closed_at: None,
        created_at: now,
        updated_at: now,
    };
    store::desk::insert_tickets(tx, std::slice::from_ref(&t)).await?;
    store::desk::insert_status_changes(
        tx,
        &[StatusChangeRow {
            id: new_id!(StatusChangeId).to_string(),
            org_id: org.to_string(),
            ticket_id: t.id.clone(),
            from_status: None,
            to_status: t.status.clone(),
            actor: sctx.actor_id(),
            at: now,
        }],
    )
    .await?;
    let jobs = refresh_sla(tx, &mut t).await?;
    store::desk::update_ticket(tx, &t).await?;
    Ok((t, jobs))
}

/// Opens a ticket from the API, the portal or a logged call.
pub async fn create(db: &Db, sctx: &StaffCtx, input: CreateTicket) -> Result<TicketDetail> {
    sctx.require(Permission::ManageTickets)?;
    let org = sctx.org().to_string();
    let subject = input.subject.trim().to_string();
    if subject.is_empty() {
        return Err(AppError::missing("subject"));
    }
    if subject.chars().count() > 500 {
        return Err(AppError::invalid(
            "subject",
            "a subject has at most 500 characters",
        ));
    }
    let channel = parse_or("channel", &input.channel, Channel::Api, Channel::parse)?;
    let category = parse_or(
        "category",
        &input.category,
        Category::Other,
        Category::parse,
    )?;
    let priority = parse_or(
        "priority",
        &input.priority,
        Priority::Normal,
        Priority::parse,
    )?;
    let tags = join_tags(&input.tags)?;
    let team = input.team.clone().unwrap_or_else(|| "billing".into());
    let mut tx = db.begin().await?;
    if !store::desk::team_exists(&mut tx, &org, &team).await? {
        return Err(AppError::invalid("team", format!("no such team: {team:?}")));
    }
    let mut requester_email = input.requester_email.map(|e| e.trim().to_lowercase());
    if let Some(c) = &input.customer {
        let cus = store::customers::get(&mut tx, &org, c)
            .await?
            .ok_or_else(|| AppError::invalid("customer", format!("no such customer: {c}")))?;
        if requester_email.is_none() {
            requester_email = cus.email.map(|e| e.to_lowercase());
        }
    }
    for (i, l) in input.links.iter().enumerate() {
        check_link(&mut tx, &org, l, i).await?;
    }
    let (mut t, mut jobs) = insert_ticket(
        &mut tx,
        sctx,
        NewTicket {
            customer_id: input.customer.clone(),
            requester_email,
            requester_name: input.requester_name.clone(),
            subject,
            channel,
            category,
            priority,
            team,
            follow_up_of: None,
            tags,
        },
    )
    .await?;
    for l in &input.links {
        store::desk::add_link(&mut tx, &org, &t.id, &l.object_type, &l.id).await?;
    }
    if let Some(body) = input
        .body
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        let row = InteractionRow {
            id: new_id!(InteractionId).to_string(),
            org_id: org.clone(),
            ticket_id: Some(t.id.clone()),
            customer_id: t.customer_id.clone(),
            channel: t.channel.clone(),
            direction: "inbound".into(),
            kind: "message".into(),
            author_type: "customer".into(),
            from_address: t.requester_email.clone(),
            subject: Some(t.subject.clone()),
            body: body.to_string(),
            created_at: sctx.ctx.now,
            ..Default::default()
        };
        store::desk::insert_interactions(&mut tx, &[row]).await?;
    }
    if let Some(a) = &input.assignee {
        assign(&mut tx, sctx, &mut t, a).await?;
        store::desk::update_ticket(&mut tx, &t).await?;
    }
    if matches!(channel, Channel::Portal | Channel::Email) {
        if let Some(ack) = super::inbound::acknowledgement(&mut tx, sctx, &t).await? {
            jobs.push((Task::SendDeskEmail { interaction: ack }, sctx.ctx.now));
        }
    }
    crate::jobs::enqueue_at(&mut tx, &org, &jobs).await?;
    audit::record(
        &mut tx,
        sctx,
        "ticket.created",
        "ticket",
        &t.id,
        &json!(null),
        &json!(t),
    )
    .await?;
    let detail = detail(&mut tx, &t, sctx.ctx.now).await?;
    tx.commit().await?;
    Ok(detail)
}

// ---------------------------------------------------------------------------------------
// Read

pub(crate) async fn detail(tx: &mut Tx, t: &TicketRow, now: DateTime<Utc>) -> Result<TicketDetail> {
    let s = sla_inputs(tx, t).await?;
    let interactions = store::desk::ticket_interactions(tx, &t.org_id, &t.id).await?;
    let links = store::desk::links(tx, &t.org_id, &t.id).await?;
    let watchers = store::desk::watchers(tx, &t.org_id, &t.id).await?;
    let attachments = store::desk::ticket_attachments(tx, &t.org_id, &t.id).await?;
    Ok(TicketDetail {
        ticket: view_with(t, &s, now),
        interactions: interactions.iter().map(interaction_view).collect(),
        links: links
            .into_iter()
            .map(|(object_type, id)| Link { object_type, id })
            .collect(),
        status_history: s
            .changes
            .iter()
            .map(|c| StatusChange {
                from: c.from_status.clone(),
                to: c.to_status.clone(),
                actor: c.actor.clone(),
                at: c.at,
            })
            .collect(),
        watchers,
        attachments: attachments
            .into_iter()
            .map(
                |(id, interaction, filename, content_type, size)| AttachmentInfo {
                    id,
                    interaction,
                    filename,
                    content_type,
                    size,
                },
            )
            .collect(),
    })
}

pub async fn get(db: &Db, sctx: &StaffCtx, id: &str) -> Result<TicketDetail> {
    sctx.require(Permission::ReadAccount)?;
    let mut tx = db.read().await?;
    let t = store::desk::get_ticket(&mut tx, sctx.org(), id, false)
        .await?
        .ok_or_else(|| AppError::not_found("ticket", id))?;
    detail(&mut tx, &t, sctx.ctx.now).await
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct ListTickets {
    pub status: Option<String>,
    pub team: Option<String>,
    pub assignee: Option<String>,
    pub customer: Option<String>,
    /// Only tickets not yet resolved (the queue).
    pub open: Option<bool>,
    pub starting_after: Option<String>,
    pub limit: Option<i64>,
}

pub async fn list(db: &Db, sctx: &StaffCtx, q: ListTickets) -> Result<Page<Ticket>> {
    sctx.require(Permission::ReadAccount)?;
    if let Some(s) = &q.status {
        Status::parse(s).map_err(|e| AppError::invalid("status", e.to_string()))?;
    }
    let limit = page_limit(q.limit)?;
    let mut tx = db.read().await?;
    let rows = store::desk::list_tickets(
        &mut tx,
        sctx.org(),
        &store::desk::TicketFilter {
            status: q.status,
            team: q.team,
            assignee_id: q.assignee,
            customer_id: q.customer,
            open_only: q.open.unwrap_or(false),
        },
        q.starting_after.as_deref(),
        limit,
    )
    .await?;
    // One read each for the policies, the teams' calendars and the page's status history
    // (not three per ticket).
    let policies = store::desk::sla_policies(&mut tx, sctx.org()).await?;
    let ids: Vec<String> = rows.iter().map(|t| t.id.clone()).collect();
    let mut changes: HashMap<String, Vec<StatusChangeRow>> = HashMap::new();
    for c in store::desk::status_changes_of(&mut tx, sctx.org(), &ids).await? {
        changes.entry(c.ticket_id.clone()).or_default().push(c);
    }
    let mut cals: HashMap<String, Calendar> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for t in &rows {
        if !cals.contains_key(&t.team) {
            let c = team_calendar(&mut tx, sctx.org(), &t.team).await?;
            cals.insert(t.team.clone(), c);
        }
        let policy = t
            .sla_policy_id
            .as_ref()
            .and_then(|_| pick_policy(&policies, &t.priority, &t.category))
            .map(|p| p.1)
            .unwrap_or(sla::Policy {
                first_response_secs: None,
                resolution_secs: None,
            });
        let s = SlaInputs {
            cal: cals[&t.team].clone(),
            policy,
            changes: changes.remove(&t.id).unwrap_or_default(),
        };
        out.push(view_with(t, &s, sctx.ctx.now));
    }
    Ok(Page::from_rows(out, limit))
}

// ---------------------------------------------------------------------------------------
// Status moves

/// Applies a ticket event in `tx`: status, reopen count, resolution and closing stamps, the
/// status history and refreshed SLA checks. A resolution sends the CSAT survey.
pub(crate) async fn apply(
    tx: &mut Tx,
    sctx: &StaffCtx,
    t: &mut TicketRow,
    ev: &TicketEvent,
) -> Result<(desk::ticket::Transition, Vec<(Task, DateTime<Utc>)>)> {
    let from = Status::parse(&t.status).map_err(rule)?;
    let tr = desk::ticket::transition(from, ev).map_err(rule)?;
    let now = sctx.ctx.now;
    let mut jobs = Vec::new();
    if tr.to != from {
        t.status = tr.to.as_str().to_string();
        if tr.reopened {
            t.reopen_count += 1;
            t.resolved_at = None;
            t.resolved_by = None;
        }
        if tr.to == Status::Resolved {
            t.resolved_at = Some(now);
            t.resolved_by = sctx
                .staff_id()
                .map(str::to_string)
                .or(t.assignee_id.clone());
        }
        if tr.to == Status::Closed {
            t.closed_at = Some(now);
            t.resolved_at.get_or_insert(now);
        }
        store::desk::insert_status_changes(
            tx,
            &[StatusChangeRow {
                id: new_id!(StatusChangeId).to_string(),
                org_id: t.org_id.clone(),
                ticket_id: t.id.clone(),
                from_status: Some(from.as_str().to_string()),
                to_status: t.status.clone(),
                actor: sctx.actor_id(),
                at: now,
            }],
        )
        .await?;
        if tr.to == Status::Resolved {
            if let Some(j) = super::inbound::survey(tx, sctx, t).await? {
                jobs.push((Task::SendDeskEmail { interaction: j }, now));
            }
        }
    }
    t.updated_at = now;
    if tr.to != from {
        // Due instants depend on the status history only through status changes.
        jobs.extend(refresh_sla(tx, t).await?);
    }
    Ok((tr, jobs))
}

/// Locks a ticket for a change; a merged ticket refuses changes.
async fn lock(tx: &mut Tx, sctx: &StaffCtx, id: &str) -> Result<TicketRow> {
    let t = store::desk::get_ticket(tx, sctx.org(), id, true)
        .await?
        .ok_or_else(|| AppError::not_found("ticket", id))?;
    if let Some(into) = &t.merged_into {
        return Err(AppError::state(
            "ticket_merged",
            format!("ticket {id} was merged into {into}; change that ticket instead"),
        ));
    }
    Ok(t)
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicket {
    pub status: Option<String>,
    pub priority: Option<String>,
    pub category: Option<String>,
    /// Moving to another team is an escalation: `note` is required and kept as an internal
    /// note.
    pub team: Option<String>,
    pub note: Option<String>,
    /// A staff id, "round_robin", or "" to unassign.
    pub assignee: Option<String>,
    pub tags: Option<Vec<String>>,
    pub customer: Option<String>,
    #[serde(default)]
    pub add_links: Vec<LinkInput>,
    #[serde(default)]
    pub add_watchers: Vec<String>,
}

pub async fn update(
    db: &Db,
    sctx: &StaffCtx,
    id: &str,
    input: UpdateTicket,
) -> Result<TicketDetail> {
    sctx.require(Permission::ManageTickets)?;
    let org = sctx.org().to_string();
    let mut tx = db.begin().await?;
    let mut t = lock(&mut tx, sctx, id).await?;
    let before = json!(t);
    let mut jobs = Vec::new();
    let mut sla_changed = false;
    if let Some(p) = &input.priority {
        t.priority = Priority::parse(p)
            .map_err(|e| AppError::invalid("priority", e.to_string()))?
            .as_str()
            .into();
        sla_changed = true;
    }
    if let Some(c) = &input.category {
        t.category = Category::parse(c)
            .map_err(|e| AppError::invalid("category", e.to_string()))?
            .as_str()
            .into();
        sla_changed = true;
    }
    if let Some(c) = &input.customer {
        store::customers::get(&mut tx, &org, c)
            .await?
            .ok_or_else(|| AppError::invalid("customer", format!("no such customer: {c}")))?;
        t.customer_id = Some(c.clone());
    }
    if let Some(team) = &input.team {
        if team != &t.team {
            if !store::desk::team_exists(&mut tx, &org, team).await? {
                return Err(AppError::invalid("team", format!("no such team: {team:?}")));
            }
            let Some(note) = input
                .note
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
            else {
                return Err(AppError::invalid(
                    "note",
                    "escalating to another team needs a note saying why",
                ));
            };
            let text = format!("Escalated from {} to {}: {note}", t.team, team);
            add_note(&mut tx, sctx, &t, &text).await?;
            t.team = team.clone();
            t.assignee_id = None;
            sla_changed = true;
        }
    } else if input.note.is_some() {
        return Err(AppError::invalid(
            "note",
            "note goes with a team change; use /notes otherwise",
        ));
    }
    if let Some(a) = &input.assignee {
        if a.is_empty() {
            t.assignee_id = None;
        } else {
            assign(&mut tx, sctx, &mut t, a).await?;
        }
    }
    if let Some(tags) = &input.tags {
        t.tags = join_tags(tags)?;
    }
    for (i, l) in input.add_links.iter().enumerate() {
        check_link(&mut tx, &org, l, i).await?;
        store::desk::add_link(&mut tx, &org, &t.id, &l.object_type, &l.id).await?;
    }
    for (i, w) in input.add_watchers.iter().enumerate() {
        store::desk::get_staff(&mut tx, &org, w)
            .await?
            .ok_or_else(|| {
                AppError::invalid(
                    format!("add_watchers[{i}]"),
                    format!("no such staff user: {w}"),
                )
            })?;
        store::desk::add_watcher(&mut tx, &org, &t.id, w).await?;
    }
    if sla_changed {
        t.sla_policy_id = policy_for(&mut tx, &org, &t.priority, &t.category)
            .await?
            .map(|p| p.0);
    }
    if let Some(s) = &input.status {
        let to = Status::parse(s).map_err(|e| AppError::invalid("status", e.to_string()))?;
        let (_, j) = apply(&mut tx, sctx, &mut t, &TicketEvent::SetStatus(to)).await?;
        jobs.extend(j);
    }
    t.updated_at = sctx.ctx.now;
    if sla_changed {
        // A new priority, category or team may mean another policy or calendar.
        jobs.extend(refresh_sla(&mut tx, &mut t).await?);
    }
    store::desk::update_ticket(&mut tx, &t).await?;
    crate::jobs::enqueue_at(&mut tx, &org, &jobs).await?;
    audit::record(
        &mut tx,
        sctx,
        "ticket.updated",
        "ticket",
        &t.id,
        &before,
        &json!(t),
    )
    .await?;
    let d = detail(&mut tx, &t, sctx.ctx.now).await?;
    tx.commit().await?;
    Ok(d)
}

/// Assigns `who` (a staff id) or picks by round-robin.
async fn assign(tx: &mut Tx, sctx: &StaffCtx, t: &mut TicketRow, who: &str) -> Result<()> {
    let org = sctx.org();
    let now = sctx.ctx.now;
    let mut staff = if who == "round_robin" {
        let candidates = store::desk::assignable_staff(tx, org, &t.team).await?;
        candidates
            .into_iter()
            .find(|(s, load)| *load < s.capacity)
            .map(|(s, _)| s)
            .ok_or_else(|| {
                AppError::state(
                    "no_agent_available",
                    format!("no online agent of team {} has capacity left", t.team),
                )
            })?
    } else {
        let s = store::desk::get_staff(tx, org, who)
            .await?
            .ok_or_else(|| AppError::invalid("assignee", format!("no such staff user: {who}")))?;
        if !s.active {
            return Err(AppError::invalid(
                "assignee",
                format!("staff user {who} is deactivated"),
            ));
        }
        s
    };
    t.assignee_id = Some(staff.id.clone());
    staff.last_assigned_at = Some(now);
    store::desk::update_staff(tx, &staff).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Replies and notes

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyInput {
    /// The text; or leave empty and name a `macro`.
    pub body: Option<String>,
    /// A macro's name, rendered in the customer's locale with its placeholders.
    #[serde(rename = "macro")]
    pub macro_name: Option<String>,
    /// The status after the reply (default pending_customer).
    pub status: Option<String>,
    /// Seconds the agent spent on this reply (email handling time for AHT).
    pub handling_secs: Option<i64>,
}

/// A public reply to the customer: an outbound interaction, emailed with threading headers
/// when the ticket has a requester address.
pub async fn reply(db: &Db, sctx: &StaffCtx, id: &str, input: ReplyInput) -> Result<TicketDetail> {
    sctx.require(Permission::Reply)?;
    let org = sctx.org().to_string();
    let now = sctx.ctx.now;
    let set_status = match &input.status {
        Some(s) => Some(Status::parse(s).map_err(|e| AppError::invalid("status", e.to_string()))?),
        None => None,
    };
    if let Some(h) = input.handling_secs {
        if !(0..=86_400).contains(&h) {
            return Err(AppError::invalid(
                "handling_secs",
                "handling_secs must be between 0 and 86400",
            ));
        }
    }
    let mut tx = db.begin().await?;
    let mut t = lock(&mut tx, sctx, id).await?;
    let body = match (
        input
            .body
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty()),
        &input.macro_name,
    ) {
        (Some(b), None) => b.to_string(),
        (None, Some(m)) => super::macros::render_for_ticket(&mut tx, sctx, &t, m).await?,
        (Some(_), Some(_)) => {
            return Err(AppError::invalid(
                "macro",
                "send either body or macro, not both",
            ))
        }
        (None, None) => return Err(AppError::missing("body")),
    };
    let (_, mut jobs) = apply(
        &mut tx,
        sctx,
        &mut t,
        &TicketEvent::AgentReply { set_status },
    )
    .await?;
    if t.first_response_at.is_none() {
        t.first_response_at = Some(now);
    }
    let (message_id, subject) = (
        format!("{}@ledgerdesk", new_id!(InteractionId)),
        desk::ticket::subject_with_number(&t.subject, t.number),
    );
    let to = t.requester_email.clone();
    let row = InteractionRow {
        id: message_id.trim_end_matches("@ledgerdesk").to_string(),
        org_id: org.clone(),
        ticket_id: Some(t.id.clone()),
        customer_id: t.customer_id.clone(),
        channel: t.channel.clone(),
        direction: "outbound".into(),
        kind: "message".into(),
        author_type: "staff".into(),
        author_id: Some(sctx.actor_id()),
        to_address: to.clone(),
        subject: Some(subject),
        body,
        message_id: Some(message_id),
        handling_secs: input.handling_secs,
        delivery_status: Some(if to.is_some() { "queued" } else { "skipped" }.into()),
        delivery_error: to
            .is_none()
            .then(|| "the ticket has no requester email".to_string()),
        created_at: now,
        ..Default::default()
    };
    store::desk::insert_interactions(&mut tx, std::slice::from_ref(&row)).await?;
    if to.is_some() {
        jobs.push((
            Task::SendDeskEmail {
                interaction: row.id.clone(),
            },
            now,
        ));
    }
    jobs.extend(refresh_sla(&mut tx, &mut t).await?);
    store::desk::update_ticket(&mut tx, &t).await?;
    crate::jobs::enqueue_at(&mut tx, &org, &jobs).await?;
    audit::record(
        &mut tx,
        sctx,
        "ticket.replied",
        "ticket",
        &t.id,
        &json!(null),
        &json!({"interaction": row.id, "status": t.status}),
    )
    .await?;
    let d = detail(&mut tx, &t, now).await?;
    tx.commit().await?;
    Ok(d)
}

async fn add_note(
    tx: &mut Tx,
    sctx: &StaffCtx,
    t: &TicketRow,
    body: &str,
) -> Result<InteractionRow> {
    let row = InteractionRow {
        id: new_id!(InteractionId).to_string(),
        org_id: t.org_id.clone(),
        ticket_id: Some(t.id.clone()),
        customer_id: t.customer_id.clone(),
        channel: t.channel.clone(),
        direction: "internal".into(),
        kind: "note".into(),
        author_type: if sctx.staff_id().is_some() {
            "staff"
        } else {
            "system"
        }
        .into(),
        author_id: Some(sctx.actor_id()),
        body: body.to_string(),
        created_at: sctx.ctx.now,
        ..Default::default()
    };
    store::desk::insert_interactions(tx, std::slice::from_ref(&row)).await?;
    Ok(row)
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    pub body: String,
}

/// An internal note. `@stf_…` or `@email` mentions of staff make them watchers.
pub async fn note(db: &Db, sctx: &StaffCtx, id: &str, input: NoteInput) -> Result<TicketDetail> {
    sctx.require(Permission::ManageTickets)?;
    let body = input.body.trim();
    if body.is_empty() {
        return Err(AppError::missing("body"));
    }
    let mut tx = db.begin().await?;
    let mut t = lock(&mut tx, sctx, id).await?;
    apply(&mut tx, sctx, &mut t, &TicketEvent::InternalNote).await?;
    let row = add_note(&mut tx, sctx, &t, body).await?;
    for m in mentions(body) {
        let staff = if m.starts_with("stf_") {
            store::desk::get_staff(&mut tx, sctx.org(), &m).await?
        } else {
            store::desk::staff_by_email(&mut tx, sctx.org(), &m.to_lowercase()).await?
        };
        if let Some(s) = staff {
            store::desk::add_watcher(&mut tx, sctx.org(), &t.id, &s.id).await?;
        }
    }
    t.updated_at = sctx.ctx.now;
    store::desk::update_ticket(&mut tx, &t).await?;
    audit::record(
        &mut tx,
        sctx,
        "ticket.noted",
        "ticket",
        &t.id,
        &json!(null),
        &json!({"interaction": row.id}),
    )
    .await?;
    let d = detail(&mut tx, &t, sctx.ctx.now).await?;
    tx.commit().await?;
    Ok(d)
}

/// `@word` tokens of a note (staff ids or emails), trailing punctuation dropped.
fn mentions(body: &str) -> Vec<String> {
    body.split_whitespace()
        .filter_map(|w| w.strip_prefix('@'))
        .map(|w| w.trim_end_matches(['.', ',', ':', ';', '!', '?', ')']))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Merge

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeInput {
    /// The ticket this one is merged into.
    pub into: String,
}

/// Merges ticket `id` into another: its interactions and links move, it is closed with
/// `merged_into` set, and both get an internal note. The two must be of one customer (or
/// the merged one of none).
pub async fn merge(db: &Db, sctx: &StaffCtx, id: &str, input: MergeInput) -> Result<TicketDetail> {
    sctx.require(Permission::ManageTickets)?;
    if id == input.into {
        return Err(AppError::invalid(
            "into",
            "a ticket cannot be merged into itself",
        ));
    }
    let org = sctx.org().to_string();
    let mut tx = db.begin().await?;
    // Lock in id order so two opposite merges cannot deadlock.
    let (a, b) = if id < input.into.as_str() {
        (id, input.into.as_str())
    } else {
        (input.into.as_str(), id)
    };
    let first = lock(&mut tx, sctx, a)
        .await
        .map_err(|e| map_into(e, a == input.into, &input.into))?;
    let second = lock(&mut tx, sctx, b)
        .await
        .map_err(|e| map_into(e, b == input.into, &input.into))?;
    let (mut from, mut into) = if first.id == id {
        (first, second)
    } else {
        (second, first)
    };
    if from.customer_id.is_some()
        && into.customer_id.is_some()
        && from.customer_id != into.customer_id
    {
        return Err(AppError::state(
            "customer_mismatch",
            "tickets of different customers cannot be merged",
        ));
    }
    if into.status == "closed" {
        return Err(AppError::state(
            "ticket_closed",
            format!("ticket {} is closed", into.id),
        ));
    }
    let before = json!(from);
    store::desk::move_ticket_children(&mut tx, &org, &from.id, &into.id).await?;
    add_note(
        &mut tx,
        sctx,
        &into,
        &format!(
            "Merged {} into this ticket.",
            desk::ticket::format_number(from.number)
        ),
    )
    .await?;
    add_note(
        &mut tx,
        sctx,
        &from,
        &format!("Merged into {}.", desk::ticket::format_number(into.number)),
    )
    .await?;
    if into.customer_id.is_none() {
        into.customer_id = from.customer_id.clone();
    }
    let now = sctx.ctx.now;
    if from.status != "closed" {
        store::desk::insert_status_changes(
            &mut tx,
            &[StatusChangeRow {
                id: new_id!(StatusChangeId).to_string(),
                org_id: org.clone(),
                ticket_id: from.id.clone(),
                from_status: Some(from.status.clone()),
                to_status: "closed".into(),
                actor: sctx.actor_id(),
                at: now,
            }],
        )
        .await?;
        from.status = "closed".into();
        from.closed_at = Some(now);
    }
    from.merged_into = Some(into.id.clone());
    from.updated_at = now;
    into.updated_at = now;
    store::desk::update_ticket(&mut tx, &from).await?;
    store::desk::update_ticket(&mut tx, &into).await?;
    audit::record(
        &mut tx,
        sctx,
        "ticket.merged",
        "ticket",
        &from.id,
        &before,
        &json!(from),
    )
    .await?;
    let d = detail(&mut tx, &into, now).await?;
    tx.commit().await?;
    Ok(d)
}

fn map_into(e: AppError, is_into: bool, into: &str) -> AppError {
    match e {
        AppError::NotFound { .. } if is_into => {
            AppError::invalid("into", format!("no such ticket: {into}"))
        }
        e => e,
    }
}

/// An attachment's `(filename, content_type, bytes)`.
pub async fn attachment(db: &Db, sctx: &StaffCtx, id: &str) -> Result<(String, String, Vec<u8>)> {
    sctx.require(Permission::ReadAccount)?;
    let mut tx = db.read().await?;
    store::desk::attachment_data(&mut tx, sctx.org(), id)
        .await?
        .ok_or_else(|| AppError::not_found("attachment", id))
}

/// The interactions of a customer for the timeline: newest first, ids below `before`.
pub async fn customer_interactions(
    tx: &mut Tx,
    org: &str,
    customer: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<Interaction>> {
    Ok(
        store::desk::customer_interactions_page(tx, org, customer, before, limit)
            .await?
            .iter()
            .map(interaction_view)
            .collect(),
    )
}
