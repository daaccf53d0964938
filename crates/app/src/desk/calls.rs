//! Phone calls (DESK.md "Channels: Phone"): agents log calls, and a telephony webhook
//! records wait, talk, hold and wrap-up time; either way the call is an interaction of kind
//! `call` attached to the caller's account (by phone number) and to a ticket (a new phone
//! ticket when none is given).
//!
//! Seconds: handling = talk + hold + wrap-up (the AHT numerator). From webhook events:
//! wait = started → answered; hold = Σ held → resumed (a hold still open at the end counts
//! to `ended`); talk = answered → ended − hold; wrap-up = ended → wrapped_up. A call never
//! answered has no talk time. The events are kept as the call's log (the interaction body,
//! one `type at` line each), and the seconds recomputed from the whole log on every event,
//! so repeated and out-of-order deliveries give the same result.
//!
//! A call whose `ended_at` is set has ended: identity verifications on it end with it.

use super::tickets::{insert_ticket, interaction_view, Interaction, NewTicket};
use super::{audit, StaffCtx};
use crate::{AppError, Result};
use billing::ids::InteractionId;
use chrono::{DateTime, Utc};
use desk::authority::Permission;
use desk::ticket::{Category, Channel, Priority};
use serde::Deserialize;
use serde_json::json;
use store::desk::InteractionRow;
use store::{new_id, Db, Tx};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallInput {
    /// The caller's (inbound) or callee's (outbound) number, as stored on the account.
    pub phone_number: String,
    /// Attach to this ticket; omit for a new phone ticket.
    pub ticket: Option<String>,
    /// The customer; omit to match by phone number (or take the ticket's).
    pub customer: Option<String>,
    /// inbound or outbound (default inbound).
    pub direction: Option<String>,
    #[serde(default)]
    pub wait_secs: i64,
    #[serde(default)]
    pub talk_secs: i64,
    #[serde(default)]
    pub hold_secs: i64,
    #[serde(default)]
    pub wrap_secs: i64,
    pub started_at: DateTime<Utc>,
    /// Omit while the call goes on (then end it with `POST /v1/calls/{id}/end`).
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndCall {
    pub ended_at: DateTime<Utc>,
    pub talk_secs: Option<i64>,
    pub hold_secs: Option<i64>,
    pub wrap_secs: Option<i64>,
    /// Appended to the call's notes.
    pub notes: Option<String>,
}

fn secs(param: &str, v: i64) -> Result<i64> {
    if !(0..=86_400 * 7).contains(&v) {
        return Err(AppError::invalid(
            param,
            format!("{param} must be 0 to 604800, got {v}"),
        ));
    }
    Ok(v)
}

fn normalize_phone(p: &str) -> Result<String> {
    let p = p.trim();
    if p.is_empty() || p.len() > 40 {
        return Err(AppError::invalid(
            "phone_number",
            "a phone number is 1 to 40 characters",
        ));
    }
    Ok(p.to_string())
}

/// The customer and ticket a call belongs to; creates a phone ticket when none is given.
async fn attach(
    tx: &mut Tx,
    sctx: &StaffCtx,
    phone: &str,
    ticket: Option<&str>,
    customer: Option<&str>,
) -> Result<(Option<String>, String)> {
    let org = sctx.org().to_string();
    let mut customer_id = match customer {
        Some(c) => {
            store::customers::get(tx, &org, c)
                .await?
                .ok_or_else(|| AppError::invalid("customer", format!("no such customer: {c}")))?;
            Some(c.to_string())
        }
        None => store::desk::customer_for_phone(tx, &org, phone).await?,
    };
    let ticket_id = match ticket {
        Some(t) => {
            let row = store::desk::get_ticket(tx, &org, t, false)
                .await?
                .ok_or_else(|| AppError::invalid("ticket", format!("no such ticket: {t}")))?;
            if customer_id.is_none() {
                customer_id = row.customer_id.clone();
            }
            row.id
        }
        None => {
            let email = match &customer_id {
                Some(c) => store::customers::get(tx, &org, c)
                    .await?
                    .and_then(|c| c.email.map(|e| e.to_lowercase())),
                None => None,
            };
            let (t, jobs) = insert_ticket(
                tx,
                sctx,
                NewTicket {
                    customer_id: customer_id.clone(),
                    requester_email: email,
                    requester_name: None,
                    subject: format!("Call with {phone}"),
                    channel: Channel::Phone,
                    category: Category::Other,
                    priority: Priority::Normal,
                    team: "billing".into(),
                    follow_up_of: None,
                    tags: String::new(),
                },
            )
            .await?;
            crate::jobs::enqueue_at(tx, &org, &jobs).await?;
            audit::record(
                tx,
                sctx,
                "ticket.created",
                "ticket",
                &t.id,
                &json!(null),
                &json!(t),
            )
            .await?;
            t.id
        }
    };
    Ok((customer_id, ticket_id))
}

/// Logs a call an agent made or took.
pub async fn log_call(db: &Db, sctx: &StaffCtx, input: CallInput) -> Result<Interaction> {
    sctx.require(Permission::ManageTickets)?;
    let phone = normalize_phone(&input.phone_number)?;
    let direction = input.direction.as_deref().unwrap_or("inbound");
    if direction != "inbound" && direction != "outbound" {
        return Err(AppError::invalid(
            "direction",
            "direction is inbound or outbound",
        ));
    }
    let wait = secs("wait_secs", input.wait_secs)?;
    let talk = secs("talk_secs", input.talk_secs)?;
    let hold = secs("hold_secs", input.hold_secs)?;
    let wrap = secs("wrap_secs", input.wrap_secs)?;
    if let Some(end) = input.ended_at {
        if end < input.started_at {
            return Err(AppError::invalid(
                "ended_at",
                "ended_at is before started_at",
            ));
        }
    }
    let org = sctx.org().to_string();
    let mut tx = db.begin().await?;
    let (customer_id, ticket_id) = attach(
        &mut tx,
        sctx,
        &phone,
        input.ticket.as_deref(),
        input.customer.as_deref(),
    )
    .await?;
    let row = InteractionRow {
        id: new_id!(InteractionId).to_string(),
        org_id: org.clone(),
        ticket_id: Some(ticket_id),
        customer_id,
        channel: "phone".into(),
        direction: direction.into(),
        kind: "call".into(),
        author_type: if sctx.staff_id().is_some() {
            "staff"
        } else {
            "system"
        }
        .into(),
        author_id: sctx.staff_id().map(str::to_string),
        body: input.notes.trim().to_string(),
        phone_number: Some(phone),
        wait_secs: Some(wait),
        talk_secs: Some(talk),
        hold_secs: Some(hold),
        wrap_secs: Some(wrap),
        handling_secs: Some(talk + hold + wrap),
        started_at: Some(input.started_at),
        ended_at: input.ended_at,
        created_at: sctx.ctx.now,
        ..Default::default()
    };
    store::desk::insert_interactions(&mut tx, std::slice::from_ref(&row)).await?;
    audit::record(
        &mut tx,
        sctx,
        "call.logged",
        "interaction",
        &row.id,
        &json!(null),
        &json!(row),
    )
    .await?;
    tx.commit().await?;
    Ok(interaction_view(&row))
}

/// Ends a logged call (its identity verifications end with it).
pub async fn end_call(db: &Db, sctx: &StaffCtx, id: &str, input: EndCall) -> Result<Interaction> {
    sctx.require(Permission::ManageTickets)?;
    let org = sctx.org().to_string();
    let mut tx = db.begin().await?;
    let mut row = store::desk::get_interaction(&mut tx, &org, id)
        .await?
        .ok_or_else(|| AppError::not_found("interaction", id))?;
    if row.kind != "call" && row.kind != "chat" {
        return Err(AppError::state(
            "not_a_live_contact",
            format!("interaction {id} is a {}", row.kind),
        ));
    }
    if row.ended_at.is_some() {
        return Err(AppError::state(
            "interaction_ended",
            format!("interaction {id} has already ended"),
        ));
    }
    if row.started_at.is_some_and(|s| input.ended_at < s) {
        return Err(AppError::invalid(
            "ended_at",
            "ended_at is before the call started",
        ));
    }
    let before = json!(row);
    if let Some(v) = input.talk_secs {
        row.talk_secs = Some(secs("talk_secs", v)?);
    }
    if let Some(v) = input.hold_secs {
        row.hold_secs = Some(secs("hold_secs", v)?);
    }
    if let Some(v) = input.wrap_secs {
        row.wrap_secs = Some(secs("wrap_secs", v)?);
    }
    row.handling_secs =
        Some(row.talk_secs.unwrap_or(0) + row.hold_secs.unwrap_or(0) + row.wrap_secs.unwrap_or(0));
    if let Some(n) = input
        .notes
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        row.body = if row.body.is_empty() {
            n.to_string()
        } else {
            format!("{}\n{n}", row.body)
        };
    }
    row.ended_at = Some(input.ended_at);
    store::desk::update_interaction(&mut tx, &row).await?;
    audit::record(
        &mut tx,
        sctx,
        "call.ended",
        "interaction",
        &row.id,
        &before,
        &json!(row),
    )
    .await?;
    tx.commit().await?;
    Ok(interaction_view(&row))
}

// ---------------------------------------------------------------------------------------
// Telephony webhook

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TelephonyEvent {
    /// The provider's id of the call.
    pub call_id: String,
    /// started, answered, held, resumed, ended or wrapped_up.
    #[serde(rename = "type")]
    pub kind: String,
    pub at: DateTime<Utc>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// The staff id of the agent on the call, if the provider knows it.
    pub agent: Option<String>,
    /// The ticket to attach a new call to (else a new phone ticket).
    pub ticket: Option<String>,
}

const EVENT_TYPES: &[&str] = &[
    "started",
    "answered",
    "held",
    "resumed",
    "ended",
    "wrapped_up",
];
const LOG_HEADER: &str = "Telephony call log";

/// The seconds of a call from its events (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallTimes {
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub wait: i64,
    pub talk: i64,
    pub hold: i64,
    pub wrap: i64,
}

/// Computes a call's times from `(type, at)` events in any order, repeats ignored.
pub fn call_times(events: &[(String, DateTime<Utc>)]) -> CallTimes {
    let mut ev: Vec<(DateTime<Utc>, &str)> = events.iter().map(|(k, a)| (*a, k.as_str())).collect();
    ev.sort();
    ev.dedup();
    let first = |k: &str| ev.iter().find(|(_, t)| *t == k).map(|(a, _)| *a);
    let started = first("started");
    let answered = first("answered");
    let ended = first("ended");
    let wrapped = first("wrapped_up");
    let s = |a: DateTime<Utc>, b: DateTime<Utc>| (b - a).num_seconds().max(0);
    let mut hold = 0;
    let mut held_since = None;
    for (at, k) in &ev {
        if ended.is_some_and(|e| *at > e) {
            break;
        }
        match *k {
            "held" if held_since.is_none() => held_since = Some(*at),
            "resumed" => {
                if let Some(h) = held_since.take() {
                    hold += s(h, *at);
                }
            }
            _ => {}
        }
    }
    if let (Some(h), Some(e)) = (held_since, ended) {
        hold += s(h, e);
    }
    let wait = match (started, answered) {
        (Some(a), Some(b)) => s(a, b),
        _ => 0,
    };
    let talk = match (answered, ended) {
        (Some(a), Some(e)) => (s(a, e) - hold).max(0),
        _ => 0,
    };
    let wrap = match (ended, wrapped) {
        (Some(e), Some(w)) => s(e, w),
        _ => 0,
    };
    CallTimes {
        started_at: started.or_else(|| ev.first().map(|(a, _)| *a)),
        ended_at: ended,
        wait,
        talk,
        hold,
        wrap,
    }
}

fn parse_log(body: &str) -> Vec<(String, DateTime<Utc>)> {
    body.lines()
        .filter_map(|l| {
            let (k, at) = l.trim().split_once(' ')?;
            let at = DateTime::parse_from_rfc3339(at.trim())
                .ok()?
                .with_timezone(&Utc);
            EVENT_TYPES.contains(&k).then(|| (k.to_string(), at))
        })
        .collect()
}

/// Applies one telephony event to the call's interaction (creating it, its customer match
/// and its ticket on the first event of the call).
pub async fn telephony_event(db: &Db, sctx: &StaffCtx, ev: TelephonyEvent) -> Result<Interaction> {
    sctx.require(Permission::ManageTickets)?;
    if !EVENT_TYPES.contains(&ev.kind.as_str()) {
        return Err(AppError::invalid(
            "type",
            format!(
                "type must be one of {}, got {:?}",
                EVENT_TYPES.join(", "),
                ev.kind
            ),
        ));
    }
    let call_id = ev.call_id.trim();
    if call_id.is_empty() || call_id.len() > 200 {
        return Err(AppError::invalid(
            "call_id",
            "call_id is 1 to 200 characters",
        ));
    }
    let org = sctx.org().to_string();
    let mut tx = db.begin().await?;
    let existing = store::desk::interaction_by_call(&mut tx, &org, call_id).await?;
    let (mut row, new) = match existing {
        Some(r) => (r, false),
        None => {
            let from = ev.from.as_deref().map(str::trim).filter(|s| !s.is_empty());
            let to = ev.to.as_deref().map(str::trim).filter(|s| !s.is_empty());
            let by_from = match from {
                Some(f) => store::desk::customer_for_phone(&mut tx, &org, f).await?,
                None => None,
            };
            let by_to = match (by_from.is_none(), to) {
                (true, Some(t)) => store::desk::customer_for_phone(&mut tx, &org, t).await?,
                _ => None,
            };
            let (direction, phone, customer) = match (by_from, by_to) {
                (Some(c), _) => ("inbound", from, Some(c)),
                (None, Some(c)) => ("outbound", to, Some(c)),
                _ => ("inbound", from.or(to), None),
            };
            let phone = phone.unwrap_or("unknown").to_string();
            let (customer_id, ticket_id) = attach(
                &mut tx,
                sctx,
                &phone,
                ev.ticket.as_deref(),
                customer.as_deref(),
            )
            .await?;
            let agent = match &ev.agent {
                Some(a) => Some(
                    store::desk::get_staff(&mut tx, &org, a)
                        .await?
                        .ok_or_else(|| {
                            AppError::invalid("agent", format!("no such staff user: {a}"))
                        })?
                        .id,
                ),
                None => None,
            };
            let row = InteractionRow {
                id: new_id!(InteractionId).to_string(),
                org_id: org.clone(),
                ticket_id: Some(ticket_id),
                customer_id,
                channel: "phone".into(),
                direction: direction.into(),
                kind: "call".into(),
                author_type: if agent.is_some() { "staff" } else { "system" }.into(),
                author_id: agent,
                from_address: from.map(str::to_string),
                to_address: to.map(str::to_string),
                body: LOG_HEADER.into(),
                phone_number: Some(phone),
                external_call_id: Some(call_id.to_string()),
                created_at: sctx.ctx.now,
                ..Default::default()
            };
            (row, true)
        }
    };
    let before = json!(row);
    let mut log = parse_log(&row.body);
    let line = (ev.kind.clone(), ev.at);
    if !log.contains(&line) {
        log.push(line);
    }
    log.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    let times = call_times(&log);
    row.body = std::iter::once(LOG_HEADER.to_string())
        .chain(log.iter().map(|(k, a)| {
            format!(
                "{k} {}",
                a.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        }))
        .collect::<Vec<_>>()
        .join("\n");
    row.started_at = times.started_at;
    row.ended_at = times.ended_at;
    row.wait_secs = Some(times.wait);
    row.talk_secs = Some(times.talk);
    row.hold_secs = Some(times.hold);
    row.wrap_secs = Some(times.wrap);
    row.handling_secs = Some(times.talk + times.hold + times.wrap);
    if new {
        store::desk::insert_interactions(&mut tx, std::slice::from_ref(&row)).await?;
    } else {
        store::desk::update_interaction(&mut tx, &row).await?;
    }
    audit::record(
        &mut tx,
        sctx,
        &format!("call.{}", ev.kind),
        "interaction",
        &row.id,
        &if new { json!(null) } else { before },
        &json!(row),
    )
    .await?;
    tx.commit().await?;
    Ok(interaction_view(&row))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn times_from_events_in_any_order() {
        let ev = |k: &str, s: &str| (k.to_string(), at(s));
        let mut events = vec![
            ev("wrapped_up", "2024-06-03T10:10:30Z"),
            ev("started", "2024-06-03T10:00:00Z"),
            ev("answered", "2024-06-03T10:00:45Z"),
            ev("held", "2024-06-03T10:02:00Z"),
            ev("resumed", "2024-06-03T10:03:00Z"),
            ev("held", "2024-06-03T10:05:00Z"),
            ev("resumed", "2024-06-03T10:05:30Z"),
            ev("ended", "2024-06-03T10:09:45Z"),
        ];
        events.push(events[3].clone());
        let t = call_times(&events);
        assert_eq!(t.wait, 45);
        assert_eq!(t.hold, 90);
        assert_eq!(t.talk, 9 * 60 - 90);
        assert_eq!(t.wrap, 45);
        assert_eq!(t.started_at, Some(at("2024-06-03T10:00:00Z")));
        assert_eq!(t.ended_at, Some(at("2024-06-03T10:09:45Z")));
        // Missed call: no talk; an open hold counts to the end.
        let t = call_times(&[
            ev("started", "2024-06-03T10:00:00Z"),
            ev("ended", "2024-06-03T10:00:20Z"),
        ]);
        assert_eq!((t.wait, t.talk, t.hold, t.wrap), (0, 0, 0, 0));
        let t = call_times(&[
            ev("started", "2024-06-03T10:00:00Z"),
            ev("answered", "2024-06-03T10:00:10Z"),
            ev("held", "2024-06-03T10:01:10Z"),
            ev("ended", "2024-06-03T10:02:10Z"),
        ]);
        assert_eq!((t.wait, t.talk, t.hold), (10, 60, 60));
    }
}
