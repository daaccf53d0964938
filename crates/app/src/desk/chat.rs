//! Live chat from the portal (DESK.md "Channels: Chat"): the customer sees their queue
//! position and an estimated wait; with no agent online it becomes a ticket.
//!
//! A chat is a `chat_sessions` row (migration 0009) and its `chat_messages`. The live relay
//! of messages between sockets is the web layer's (an in-process hub); everything that must
//! survive a socket — status, times, messages, the ticket — is written here.
//!
//! Rules (the pure functions below, unit-tested):
//! - A chat is queued for the team [`TEAM`] (billing). Opening one when no staff user of
//!   that team is online and active (`staff_users.online`) makes it a ticket at once.
//! - **Queue position**: 1 + the team's waiting chats queued before it (by queue time, then
//!   id) — [`queue_position`].
//! - **Estimated wait**: the desk's first-response arithmetic
//!   (`desk::estimate::estimate_business_secs`) over the recent chat answer rate — chats of
//!   the team accepted in the last hour — taken as at least [`MIN_RATE_PER_HOUR`] (a quiet
//!   hour says the desk had few chats, not that it is slow): ⌈position ÷ rate × 3600⌉
//!   seconds ([`estimated_wait_secs`]). Chats are answered while agents are online, so no
//!   business calendar applies.
//! - **Timeout**: a waiting chat whose customer wrote and that nobody accepted within
//!   [`ACCEPT_TIMEOUT_SECS`] of the customer's first message becomes a ticket
//!   ([`accept_timed_out`]); a waiting customer who has not written yet keeps waiting.
//! - **Becoming a ticket**: a ticket of channel chat for the customer (requester: the portal
//!   user's email), the customer's messages so far as its first interaction (inbound,
//!   channel chat), and the automatic acknowledgement. Later messages on the same socket
//!   are added to that ticket. A waiting customer who leaves after writing gets a ticket
//!   too (the question is not lost); one who leaves without writing abandons the chat
//!   (`ended`, nothing else written).
//! - **Acceptance** (staff with `reply`): the chat must still be waiting (a guarded update,
//!   so two agents cannot both take it). A ticket of channel chat is opened for it
//!   (assigned to the agent, status open) and the session interaction (kind chat, channel
//!   chat, author the agent) is written at once — live, so identity verification and
//!   billing actions can name it; a chat started by a portal user counts as verified for
//!   that user's customer (`identity::require_verified`).
//! - **End** (by the agent, or when the customer or the agent leaves): the transcript
//!   becomes the session interaction's body, with wait = queued → accepted, talk = accepted
//!   → ended, handling = talk, hold = wrap-up = 0, and `ended_at` (which ends any
//!   verification on it). The ticket's first response is the agent's first chat message.

use super::tickets::{apply, insert_ticket, interaction_view, refresh_sla, Interaction, NewTicket};
use super::{audit, StaffCtx};
use crate::jobs::Task;
use crate::{AppError, Ctx, Result};
use billing::ids::{ChatId, InteractionId};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use desk::authority::Permission;
use desk::ticket::{Category, Channel, Priority, Status, TicketEvent};
use serde::Serialize;
use serde_json::json;
use store::desk::{InteractionRow, TicketRow};
use store::portal::{ChatMessageRow, ChatRow, PortalUserRow};
use store::{new_id, Db, Tx};

/// The team portal chats are queued for.
pub const TEAM: &str = "billing";
/// Seconds a waiting customer's first message may wait for an agent before the chat becomes
/// a ticket.
pub const ACCEPT_TIMEOUT_SECS: i64 = 120;
/// The answer rate assumed at least (chats per hour) when estimating a wait.
pub const MIN_RATE_PER_HOUR: f64 = 30.0;
/// Longest chat message accepted (characters).
pub const MAX_MESSAGE_CHARS: usize = 4000;

// ---------------------------------------------------------------------------------------
// Rules

/// The 1-based position of `chat` among `waiting` `(queued_at, id)` chats; None when it is
/// not waiting.
pub fn queue_position(waiting: &[(DateTime<Utc>, String)], chat: &str) -> Option<u64> {
    let me = waiting.iter().find(|(_, id)| id == chat)?;
    Some(
        1 + waiting
            .iter()
            .filter(|w| (w.0, &w.1) < (me.0, &me.1))
            .count() as u64,
    )
}

/// The estimated wait in seconds at `position` (1 = next), given the chats the team accepted
/// in the last hour (module rules).
pub fn estimated_wait_secs(position: u64, accepted_last_hour: u64) -> i64 {
    let rate = (accepted_last_hour as f64).max(MIN_RATE_PER_HOUR);
    desk::estimate::estimate_business_secs(position.saturating_sub(1), Some(rate), None)
}

/// When a waiting chat becomes a ticket: `timeout_secs` after the customer's first message;
/// None while the customer has not written.
pub fn accept_deadline(
    first_customer_message: Option<DateTime<Utc>>,
    timeout_secs: i64,
) -> Option<DateTime<Utc>> {
    first_customer_message.map(|at| at + Duration::seconds(timeout_secs))
}

/// Whether a waiting chat has waited too long for an agent (module rules).
pub fn accept_timed_out(
    first_customer_message: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    timeout_secs: i64,
) -> bool {
    accept_deadline(first_customer_message, timeout_secs).is_some_and(|d| now >= d)
}

/// `(wait, talk)` seconds of a chat: queued → accepted, accepted → ended (never negative;
/// no talk without acceptance).
pub fn chat_times(
    queued: DateTime<Utc>,
    accepted: Option<DateTime<Utc>>,
    ended: DateTime<Utc>,
) -> (i64, i64) {
    match accepted {
        Some(a) => (
            (a - queued).num_seconds().max(0),
            (ended - a).num_seconds().max(0),
        ),
        None => ((ended - queued).num_seconds().max(0), 0),
    }
}

/// A chat's text as kept on an interaction: one line per message, `time name: text`.
pub fn transcript(lines: &[(DateTime<Utc>, String, String)]) -> String {
    if lines.is_empty() {
        return "(no messages)".into();
    }
    lines
        .iter()
        .map(|(at, who, text)| {
            format!(
                "[{}] {who}: {text}",
                at.to_rfc3339_opts(SecondsFormat::Secs, true)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A message's text, trimmed; 1 to [`MAX_MESSAGE_CHARS`] characters.
pub fn check_text(text: &str) -> Result<String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(AppError::missing("text"));
    }
    if t.chars().count() > MAX_MESSAGE_CHARS {
        return Err(AppError::invalid(
            "text",
            format!("a chat message has at most {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    Ok(t.to_string())
}

// ---------------------------------------------------------------------------------------
// Views

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChatMessage {
    pub chat: String,
    /// customer or agent
    pub from: String,
    /// The portal user's email or the agent's name.
    pub name: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WaitingChat {
    pub id: String,
    pub customer: String,
    pub customer_name: String,
    pub email: String,
    pub position: u64,
    pub queued_at: DateTime<Utc>,
    pub waiting_secs: i64,
    pub messages: Vec<ChatMessage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueStatus {
    pub position: u64,
    pub estimated_wait_secs: i64,
}

/// What opening a chat did.
#[derive(Debug, Clone)]
pub enum Opened {
    Queued {
        chat: ChatRow,
        queue: QueueStatus,
    },
    /// No agent online: the chat is a ticket (its number, "T-…").
    Ticketed {
        chat: ChatRow,
        number: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    pub chat: String,
    pub team: String,
    pub agent: String,
    pub agent_name: String,
    pub customer: String,
    pub email: String,
    pub ticket: String,
    pub number: String,
    /// The session interaction (kind chat): name it for identity checks and billing actions.
    pub interaction: String,
    pub messages: Vec<ChatMessage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ended {
    pub chat: String,
    pub ticket: String,
    pub number: String,
    pub interaction: Interaction,
}

/// What a customer's leaving did.
#[derive(Debug, Clone)]
pub enum Left {
    /// Waiting without a message: nothing kept but the ended chat row.
    Abandoned,
    /// Waiting with messages: now a ticket.
    Ticketed(String),
    /// Talking to an agent: the chat ended.
    Ended(Box<Ended>),
    /// Already a ticket or ended.
    Nothing,
}

// ---------------------------------------------------------------------------------------
// Helpers

fn system(org: &str, now: DateTime<Utc>) -> StaffCtx {
    StaffCtx::system(Ctx::new(org, now))
}

async fn lock_chat(tx: &mut Tx, org: &str, id: &str) -> Result<ChatRow> {
    store::portal::get_chat(tx, org, id, true)
        .await?
        .ok_or_else(|| AppError::not_found("chat", id))
}

async fn user_of(tx: &mut Tx, chat: &ChatRow) -> Result<PortalUserRow> {
    store::portal::get_user(tx, &chat.org_id, &chat.portal_user_id)
        .await?
        .ok_or_else(|| AppError::Internal(format!("chat {} without its portal user", chat.id)))
}

/// Messages with the names of their authors.
async fn named_messages(tx: &mut Tx, chat: &ChatRow) -> Result<Vec<ChatMessage>> {
    let rows = store::portal::messages(tx, &chat.org_id, &chat.id).await?;
    let user = user_of(tx, chat).await?;
    let mut agents: std::collections::HashMap<String, String> = Default::default();
    let mut out = Vec::with_capacity(rows.len());
    for m in rows {
        let name = if m.author_type == "customer" {
            user.email.clone()
        } else {
            if !agents.contains_key(&m.author_id) {
                let n = store::desk::get_staff(tx, &chat.org_id, &m.author_id)
                    .await?
                    .map(|s| s.name)
                    .unwrap_or_else(|| m.author_id.clone());
                agents.insert(m.author_id.clone(), n);
            }
            agents[&m.author_id].clone()
        };
        out.push(ChatMessage {
            chat: m.chat_id,
            from: m.author_type,
            name,
            text: m.body,
            at: m.at,
        });
    }
    Ok(out)
}

fn lines(messages: &[ChatMessage]) -> Vec<(DateTime<Utc>, String, String)> {
    messages
        .iter()
        .map(|m| (m.at, m.name.clone(), m.text.clone()))
        .collect()
}

async fn queue_status_in(
    tx: &mut Tx,
    chat: &ChatRow,
    now: DateTime<Utc>,
) -> Result<Option<QueueStatus>> {
    if chat.status != "waiting" {
        return Ok(None);
    }
    let waiting: Vec<(DateTime<Utc>, String)> =
        store::portal::waiting(tx, &chat.org_id, &chat.team)
            .await?
            .into_iter()
            .map(|c| (c.queued_at, c.id))
            .collect();
    let Some(position) = queue_position(&waiting, &chat.id) else {
        return Ok(None);
    };
    let accepted = store::portal::accepted_between(
        tx,
        &chat.org_id,
        &chat.team,
        now - Duration::hours(1),
        now,
    )
    .await?;
    Ok(Some(QueueStatus {
        position,
        estimated_wait_secs: estimated_wait_secs(position, accepted.max(0) as u64),
    }))
}

async fn new_chat_ticket(
    tx: &mut Tx,
    sctx: &StaffCtx,
    chat: &ChatRow,
    user: &PortalUserRow,
) -> Result<(TicketRow, Vec<(Task, DateTime<Utc>)>)> {
    let (t, jobs) = insert_ticket(
        tx,
        sctx,
        NewTicket {
            customer_id: Some(chat.customer_id.clone()),
            requester_email: Some(user.email.clone()),
            requester_name: None,
            subject: format!("Chat from {}", user.email),
            channel: Channel::Chat,
            category: Category::Other,
            priority: Priority::Normal,
            team: chat.team.clone(),
            follow_up_of: None,
            tags: "chat".into(),
        },
    )
    .await?;
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
    Ok((t, jobs))
}

fn customer_interaction(
    t: &TicketRow,
    user: &PortalUserRow,
    body: String,
    now: DateTime<Utc>,
) -> InteractionRow {
    InteractionRow {
        id: new_id!(InteractionId).to_string(),
        org_id: t.org_id.clone(),
        ticket_id: Some(t.id.clone()),
        customer_id: t.customer_id.clone(),
        channel: "chat".into(),
        direction: "inbound".into(),
        kind: "message".into(),
        author_type: "customer".into(),
        author_id: Some(user.id.clone()),
        from_address: Some(user.email.clone()),
        subject: Some(t.subject.clone()),
        body,
        created_at: now,
        ..Default::default()
    }
}

/// Turns a waiting chat into a ticket (module rules): the ticket, the messages so far as
/// its first interaction, the acknowledgement. Returns the ticket number.
async fn ticketize(tx: &mut Tx, chat: &mut ChatRow, now: DateTime<Utc>) -> Result<String> {
    let sctx = system(&chat.org_id, now);
    let user = user_of(tx, chat).await?;
    let (t, mut jobs) = new_chat_ticket(tx, &sctx, chat, &user).await?;
    let messages = named_messages(tx, chat).await?;
    if !messages.is_empty() {
        let row = customer_interaction(&t, &user, transcript(&lines(&messages)), now);
        store::desk::insert_interactions(tx, std::slice::from_ref(&row)).await?;
    }
    if let Some(ack) = super::inbound::acknowledgement(tx, &sctx, &t).await? {
        jobs.push((Task::SendDeskEmail { interaction: ack }, now));
    }
    crate::jobs::enqueue_at(tx, &chat.org_id, &jobs).await?;
    let expected = chat.status.clone();
    chat.status = "ticketed".into();
    chat.ticket_id = Some(t.id.clone());
    chat.ticketed_at = Some(now);
    if !store::portal::update_chat(tx, chat, &expected).await? {
        return Err(AppError::state(
            "chat_not_waiting",
            format!("chat {} changed meanwhile", chat.id),
        ));
    }
    audit::record(
        tx,
        &sctx,
        "chat.ticketed",
        "chat",
        &chat.id,
        &json!(null),
        &json!({"ticket": t.id}),
    )
    .await?;
    Ok(desk::ticket::format_number(t.number))
}

// ---------------------------------------------------------------------------------------
// The customer's side

/// A new chat id (the web layer subscribes to a chat's relay before the chat exists, so no
/// event of it is missed).
pub fn new_chat_id() -> String {
    new_id!(ChatId).to_string()
}

/// Opens chat `id` (from [`new_chat_id`]) for a portal user: queued for [`TEAM`], or a
/// ticket when nobody is online.
pub async fn open(db: &Db, user: &PortalUserRow, id: &str, now: DateTime<Utc>) -> Result<Opened> {
    ChatId::parse(id).map_err(|e| AppError::invalid("chat", e.to_string()))?;
    let org = user.org_id.clone();
    let mut tx = db.begin().await?;
    let online = store::portal::online_agents(&mut tx, &org, TEAM).await?;
    let mut chat = ChatRow {
        id: id.to_string(),
        org_id: org.clone(),
        customer_id: user.customer_id.clone(),
        portal_user_id: user.id.clone(),
        team: TEAM.into(),
        status: "waiting".into(),
        agent_id: None,
        ticket_id: None,
        interaction_id: None,
        queued_at: now,
        accepted_at: None,
        ended_at: None,
        ticketed_at: None,
    };
    store::portal::insert_chat(&mut tx, &chat).await?;
    let opened = if online == 0 {
        let number = ticketize(&mut tx, &mut chat, now).await?;
        Opened::Ticketed { chat, number }
    } else {
        let queue = queue_status_in(&mut tx, &chat, now)
            .await?
            .ok_or_else(|| AppError::Internal("a new chat is not in its queue".into()))?;
        Opened::Queued { chat, queue }
    };
    tx.commit().await?;
    Ok(opened)
}

/// The queue position and estimate of a waiting chat (None once it is not waiting).
pub async fn queue_status(
    db: &Db,
    org: &str,
    chat_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<QueueStatus>> {
    let mut tx = db.read().await?;
    let chat = store::portal::get_chat(&mut tx, org, chat_id, false)
        .await?
        .ok_or_else(|| AppError::not_found("chat", chat_id))?;
    queue_status_in(&mut tx, &chat, now).await
}

/// A customer's message: stored; while waiting, past the timeout, the chat becomes a ticket
/// (`Some(number)`); on a chat that is already a ticket, added to the ticket.
pub async fn customer_message(
    db: &Db,
    user: &PortalUserRow,
    chat_id: &str,
    text: &str,
    now: DateTime<Utc>,
    timeout_secs: i64,
) -> Result<(ChatMessage, Option<String>)> {
    let text = check_text(text)?;
    let mut tx = db.begin().await?;
    let mut chat = lock_chat(&mut tx, &user.org_id, chat_id).await?;
    if chat.portal_user_id != user.id {
        return Err(AppError::not_found("chat", chat_id));
    }
    if chat.status == "ended" {
        return Err(AppError::state(
            "chat_ended",
            format!("chat {chat_id} has ended"),
        ));
    }
    let mut row = ChatMessageRow {
        chat_id: chat.id.clone(),
        seq: 0,
        org_id: chat.org_id.clone(),
        author_type: "customer".into(),
        author_id: user.id.clone(),
        body: text.clone(),
        at: now,
    };
    store::portal::insert_message(&mut tx, &mut row).await?;
    let mut ticketed = None;
    match chat.status.as_str() {
        "waiting" => {
            let first = store::portal::messages(&mut tx, &chat.org_id, &chat.id)
                .await?
                .iter()
                .find(|m| m.author_type == "customer")
                .map(|m| m.at);
            if accept_timed_out(first, now, timeout_secs) {
                ticketed = Some(ticketize(&mut tx, &mut chat, now).await?);
            }
        }
        "ticketed" => {
            let t = store::desk::get_ticket(
                &mut tx,
                &chat.org_id,
                chat.ticket_id.as_deref().unwrap_or(""),
                false,
            )
            .await?
            .ok_or_else(|| AppError::Internal(format!("chat {chat_id} without its ticket")))?;
            let i = customer_interaction(&t, user, text.clone(), now);
            store::desk::insert_interactions(&mut tx, std::slice::from_ref(&i)).await?;
        }
        _ => {}
    }
    tx.commit().await?;
    Ok((
        ChatMessage {
            chat: chat.id,
            from: "customer".into(),
            name: user.email.clone(),
            text,
            at: now,
        },
        ticketed,
    ))
}

/// Checks a waiting chat's timeout (the web layer calls it at the deadline): a ticket
/// number when it became a ticket now.
pub async fn expire(
    db: &Db,
    org: &str,
    chat_id: &str,
    now: DateTime<Utc>,
    timeout_secs: i64,
) -> Result<Option<String>> {
    let mut tx = db.begin().await?;
    let mut chat = lock_chat(&mut tx, org, chat_id).await?;
    if chat.status != "waiting" {
        return Ok(None);
    }
    let first = store::portal::messages(&mut tx, org, chat_id)
        .await?
        .iter()
        .find(|m| m.author_type == "customer")
        .map(|m| m.at);
    if !accept_timed_out(first, now, timeout_secs) {
        return Ok(None);
    }
    let number = ticketize(&mut tx, &mut chat, now).await?;
    tx.commit().await?;
    Ok(Some(number))
}

/// The customer left (closed the socket or sent `end`): module rules.
pub async fn customer_left(db: &Db, org: &str, chat_id: &str, now: DateTime<Utc>) -> Result<Left> {
    let mut tx = db.begin().await?;
    let mut chat = lock_chat(&mut tx, org, chat_id).await?;
    let out = match chat.status.as_str() {
        "waiting" => {
            if store::portal::messages(&mut tx, org, chat_id)
                .await?
                .is_empty()
            {
                chat.status = "ended".into();
                chat.ended_at = Some(now);
                store::portal::update_chat(&mut tx, &chat, "waiting").await?;
                Left::Abandoned
            } else {
                Left::Ticketed(ticketize(&mut tx, &mut chat, now).await?)
            }
        }
        "active" => Left::Ended(Box::new(
            finish(&mut tx, &system(org, now), &mut chat).await?,
        )),
        "ticketed" if chat.ended_at.is_none() => {
            chat.ended_at = Some(now);
            store::portal::update_chat(&mut tx, &chat, "ticketed").await?;
            Left::Nothing
        }
        _ => Left::Nothing,
    };
    tx.commit().await?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The agent's side

fn agent_id(sctx: &StaffCtx) -> Result<String> {
    sctx.staff_id().map(str::to_string).ok_or_else(|| {
        AppError::Forbidden("chats are taken by staff users logged in with a session".into())
    })
}

/// The team an agent takes chats for (their own).
pub async fn agent_team(db: &Db, sctx: &StaffCtx) -> Result<String> {
    sctx.require(Permission::Reply)?;
    let id = agent_id(sctx)?;
    let mut tx = db.read().await?;
    Ok(store::desk::get_staff(&mut tx, sctx.org(), &id)
        .await?
        .ok_or_else(|| AppError::not_found("staff user", &id))?
        .team)
}

/// The waiting chats of a team, first queued first, with what the customers wrote so far.
pub async fn waiting(db: &Db, sctx: &StaffCtx, team: &str) -> Result<Vec<WaitingChat>> {
    sctx.require(Permission::Reply)?;
    let mut tx = db.read().await?;
    let rows = store::portal::waiting(&mut tx, sctx.org(), team).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, c) in rows.iter().enumerate() {
        let user = user_of(&mut tx, c).await?;
        let name = store::customers::get(&mut tx, sctx.org(), &c.customer_id)
            .await?
            .map(|c| c.name)
            .unwrap_or_default();
        out.push(WaitingChat {
            id: c.id.clone(),
            customer: c.customer_id.clone(),
            customer_name: name,
            email: user.email.clone(),
            position: i as u64 + 1,
            queued_at: c.queued_at,
            waiting_secs: (sctx.ctx.now - c.queued_at).num_seconds().max(0),
            messages: named_messages(&mut tx, c).await?,
        });
    }
    Ok(out)
}

/// An agent takes a waiting chat (module rules).
pub async fn accept(db: &Db, sctx: &StaffCtx, chat_id: &str) -> Result<Accepted> {
    sctx.require(Permission::Reply)?;
    let agent = agent_id(sctx)?;
    let org = sctx.org().to_string();
    let now = sctx.ctx.now;
    let mut tx = db.begin().await?;
    let mut chat = lock_chat(&mut tx, &org, chat_id).await?;
    if chat.status != "waiting" {
        return Err(AppError::state(
            "chat_not_waiting",
            format!(
                "chat {chat_id} is {}; only a waiting chat can be accepted",
                chat.status
            ),
        ));
    }
    let staff = store::desk::get_staff(&mut tx, &org, &agent)
        .await?
        .ok_or_else(|| AppError::not_found("staff user", &agent))?;
    let user = user_of(&mut tx, &chat).await?;
    let (mut t, mut jobs) = new_chat_ticket(&mut tx, sctx, &chat, &user).await?;
    t.assignee_id = Some(agent.clone());
    let (_, j) = apply(&mut tx, sctx, &mut t, &TicketEvent::SetStatus(Status::Open)).await?;
    jobs.extend(j);
    store::desk::update_ticket(&mut tx, &t).await?;
    crate::jobs::enqueue_at(&mut tx, &org, &jobs).await?;
    let (wait, _) = chat_times(chat.queued_at, Some(now), now);
    let session = InteractionRow {
        id: new_id!(InteractionId).to_string(),
        org_id: org.clone(),
        ticket_id: Some(t.id.clone()),
        customer_id: Some(chat.customer_id.clone()),
        channel: "chat".into(),
        direction: "inbound".into(),
        kind: "chat".into(),
        author_type: "staff".into(),
        author_id: Some(agent.clone()),
        from_address: Some(user.email.clone()),
        subject: Some(t.subject.clone()),
        body: "Chat in progress".into(),
        wait_secs: Some(wait),
        started_at: Some(chat.queued_at),
        created_at: now,
        ..Default::default()
    };
    store::desk::insert_interactions(&mut tx, std::slice::from_ref(&session)).await?;
    chat.status = "active".into();
    chat.agent_id = Some(agent.clone());
    chat.accepted_at = Some(now);
    chat.ticket_id = Some(t.id.clone());
    chat.interaction_id = Some(session.id.clone());
    if !store::portal::update_chat(&mut tx, &chat, "waiting").await? {
        return Err(AppError::state(
            "chat_not_waiting",
            format!("chat {chat_id} was taken meanwhile"),
        ));
    }
    audit::record(
        &mut tx,
        sctx,
        "chat.accepted",
        "chat",
        &chat.id,
        &json!(null),
        &json!({"ticket": t.id, "interaction": session.id}),
    )
    .await?;
    let messages = named_messages(&mut tx, &chat).await?;
    tx.commit().await?;
    Ok(Accepted {
        chat: chat.id,
        team: chat.team,
        agent,
        agent_name: staff.name,
        customer: chat.customer_id,
        email: user.email,
        ticket: t.id,
        number: desk::ticket::format_number(t.number),
        interaction: session.id,
        messages,
    })
}

async fn own_active_chat(tx: &mut Tx, sctx: &StaffCtx, chat_id: &str) -> Result<ChatRow> {
    let agent = agent_id(sctx)?;
    let chat = lock_chat(tx, sctx.org(), chat_id).await?;
    if chat.status != "active" {
        return Err(AppError::state(
            "chat_not_active",
            format!("chat {chat_id} is {}", chat.status),
        ));
    }
    if chat.agent_id.as_deref() != Some(agent.as_str()) {
        return Err(AppError::state(
            "chat_not_yours",
            format!("chat {chat_id} was accepted by another agent"),
        ));
    }
    Ok(chat)
}

/// An agent's message in a chat they accepted.
pub async fn agent_message(
    db: &Db,
    sctx: &StaffCtx,
    chat_id: &str,
    text: &str,
) -> Result<ChatMessage> {
    sctx.require(Permission::Reply)?;
    let text = check_text(text)?;
    let mut tx = db.begin().await?;
    let chat = own_active_chat(&mut tx, sctx, chat_id).await?;
    let agent = agent_id(sctx)?;
    let name = store::desk::get_staff(&mut tx, sctx.org(), &agent)
        .await?
        .map(|s| s.name)
        .unwrap_or_else(|| agent.clone());
    let mut row = ChatMessageRow {
        chat_id: chat.id.clone(),
        seq: 0,
        org_id: chat.org_id.clone(),
        author_type: "agent".into(),
        author_id: agent,
        body: text.clone(),
        at: sctx.ctx.now,
    };
    store::portal::insert_message(&mut tx, &mut row).await?;
    tx.commit().await?;
    Ok(ChatMessage {
        chat: chat.id,
        from: "agent".into(),
        name,
        text,
        at: row.at,
    })
}

/// An agent ends a chat they accepted.
pub async fn end(db: &Db, sctx: &StaffCtx, chat_id: &str) -> Result<Ended> {
    sctx.require(Permission::Reply)?;
    let mut tx = db.begin().await?;
    let mut chat = own_active_chat(&mut tx, sctx, chat_id).await?;
    let e = finish(&mut tx, sctx, &mut chat).await?;
    tx.commit().await?;
    Ok(e)
}

/// Ends an active chat: the transcript and seconds on the session interaction, the
/// ticket's first response, the chat row (module rules).
async fn finish(tx: &mut Tx, sctx: &StaffCtx, chat: &mut ChatRow) -> Result<Ended> {
    let now = sctx.ctx.now;
    let org = chat.org_id.clone();
    let messages = named_messages(tx, chat).await?;
    let iid = chat.interaction_id.clone().unwrap_or_default();
    let mut i = store::desk::get_interaction(tx, &org, &iid)
        .await?
        .ok_or_else(|| AppError::Internal(format!("chat {} without its interaction", chat.id)))?;
    let before = json!(i);
    let (wait, talk) = chat_times(chat.queued_at, chat.accepted_at, now);
    i.body = transcript(&lines(&messages));
    i.wait_secs = Some(wait);
    i.talk_secs = Some(talk);
    i.hold_secs = Some(0);
    i.wrap_secs = Some(0);
    i.handling_secs = Some(talk);
    i.ended_at = Some(now);
    store::desk::update_interaction(tx, &i).await?;
    let tid = chat.ticket_id.clone().unwrap_or_default();
    let mut t = store::desk::get_ticket(tx, &org, &tid, true)
        .await?
        .ok_or_else(|| AppError::Internal(format!("chat {} without its ticket", chat.id)))?;
    if t.first_response_at.is_none() {
        if let Some(first) = messages.iter().find(|m| m.from == "agent") {
            t.first_response_at = Some(first.at);
            t.updated_at = now;
            let jobs = refresh_sla(tx, &mut t).await?;
            store::desk::update_ticket(tx, &t).await?;
            crate::jobs::enqueue_at(tx, &org, &jobs).await?;
        }
    }
    chat.status = "ended".into();
    chat.ended_at = Some(now);
    store::portal::update_chat(tx, chat, "active").await?;
    audit::record(
        tx,
        sctx,
        "chat.ended",
        "interaction",
        &i.id,
        &before,
        &json!(i),
    )
    .await?;
    Ok(Ended {
        chat: chat.id.clone(),
        ticket: t.id.clone(),
        number: desk::ticket::format_number(t.number),
        interaction: interaction_view(&i),
    })
}

/// The active chats an agent has (ended by the web layer when the agent's socket closes).
pub async fn active_chats_of(db: &Db, sctx: &StaffCtx, ids: &[String]) -> Result<Vec<String>> {
    let agent = agent_id(sctx)?;
    let mut tx = db.read().await?;
    let mut out = Vec::new();
    for id in ids {
        if let Some(c) = store::portal::get_chat(&mut tx, sctx.org(), id, false).await? {
            if c.status == "active" && c.agent_id.as_deref() == Some(agent.as_str()) {
                out.push(c.id);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn positions_by_queue_time_then_id() {
        let w = vec![
            (at("2024-06-03T10:00:05Z"), "chat_b".to_string()),
            (at("2024-06-03T10:00:00Z"), "chat_c".to_string()),
            (at("2024-06-03T10:00:05Z"), "chat_a".to_string()),
        ];
        assert_eq!(queue_position(&w, "chat_c"), Some(1));
        assert_eq!(queue_position(&w, "chat_a"), Some(2));
        assert_eq!(queue_position(&w, "chat_b"), Some(3));
        assert_eq!(queue_position(&w, "chat_x"), None);
        assert_eq!(queue_position(&[], "chat_x"), None);
    }

    #[test]
    fn estimates_from_the_recent_rate_with_a_floor() {
        // A quiet hour: the floor of 30 chats/hour, 2 minutes a place.
        assert_eq!(estimated_wait_secs(1, 0), 120);
        assert_eq!(estimated_wait_secs(2, 0), 240);
        assert_eq!(estimated_wait_secs(3, 10), 360);
        // A busy desk answering 120 an hour: 30 s a place.
        assert_eq!(estimated_wait_secs(1, 120), 30);
        assert_eq!(estimated_wait_secs(4, 120), 120);
        // Never less with a later place.
        for p in 1..50 {
            assert!(estimated_wait_secs(p + 1, 45) > estimated_wait_secs(p, 45));
        }
        // Position 0 (not expected) is treated as next.
        assert_eq!(estimated_wait_secs(0, 0), 120);
    }

    #[test]
    fn timeout_runs_from_the_first_message() {
        let first = at("2024-06-03T10:00:00Z");
        assert!(!accept_timed_out(None, at("2024-06-04T10:00:00Z"), 120));
        assert!(!accept_timed_out(
            Some(first),
            at("2024-06-03T10:01:59Z"),
            120
        ));
        assert!(accept_timed_out(
            Some(first),
            at("2024-06-03T10:02:00Z"),
            120
        ));
        assert_eq!(
            accept_deadline(Some(first), 120),
            Some(at("2024-06-03T10:02:00Z"))
        );
        assert_eq!(accept_deadline(None, 120), None);
    }

    #[test]
    fn wait_and_talk() {
        let q = at("2024-06-03T10:00:00Z");
        let a = at("2024-06-03T10:00:45Z");
        let e = at("2024-06-03T10:07:45Z");
        assert_eq!(chat_times(q, Some(a), e), (45, 420));
        assert_eq!(chat_times(q, None, e), (465, 0));
        // Clock skew never gives negative seconds.
        assert_eq!(chat_times(a, Some(q), q), (0, 0));
    }

    #[test]
    fn transcripts_and_texts() {
        let t = transcript(&[
            (
                at("2024-06-03T10:00:00Z"),
                "jane@example.com".into(),
                "My invoice is wrong".into(),
            ),
            (
                at("2024-06-03T10:00:30Z"),
                "Ann".into(),
                "Let me look".into(),
            ),
        ]);
        assert_eq!(
            t,
            "[2024-06-03T10:00:00Z] jane@example.com: My invoice is wrong\n[2024-06-03T10:00:30Z] Ann: Let me look"
        );
        assert_eq!(transcript(&[]), "(no messages)");
        assert_eq!(check_text("  hi  ").unwrap(), "hi");
        assert!(check_text("   ").is_err());
        assert!(check_text(&"x".repeat(MAX_MESSAGE_CHARS + 1)).is_err());
        assert!(check_text(&"я".repeat(MAX_MESSAGE_CHARS)).is_ok());
    }
}
