//! Portal logins and live chat over WebSocket (DESK.md "Channels: Chat").
//!
//! - `POST /v1/customers/{id}/portal_users` (staff), `GET` lists them;
//!   `POST /v1/portal/sessions` logs a portal user in (`pts_…`); `GET /v1/portal/me`.
//! - `GET /v1/portal/chat?token=pts_…` (customer) and `GET /v1/desk/chat?token=ses_…`
//!   (agent) upgrade to WebSocket. Browsers cannot set headers on a WebSocket, so the
//!   token may be a query parameter; `Authorization: Bearer` works too. A bad token is a
//!   401 before any upgrade.
//!
//! Frames (JSON text). Customer ← server: `queued {position, estimated_wait_secs}` (again
//! whenever the position changes), `agent_joined {agent}`, `message {from, name, text, at}`
//! (both sides' messages, the customer's own echoed with the server's time),
//! `ticket_created {number}`, `ended`, `error {code, message}`. Customer → server:
//! `message {text}`, `end`. Agent ← server: `waiting {chats}` (on connect and whenever the
//! team's queue changes), `accepted {chat, ticket, number, interaction, messages, …}`,
//! `message {chat, from, name, text, at}`, `ended {chat, ticket, number, interaction}`,
//! `error {code, message, chat}`. Agent → server: `accept {chat}`, `message {chat, text}`,
//! `end {chat}`.
//!
//! The rules and every state change are `app::desk::chat`'s; this module relays. Live
//! relay goes through [`ChatHub`], in-process tokio broadcast channels keyed by chat id
//! (and one "queue changed" signal per organisation and team). **Limitation:** a customer
//! and the agent talking to them must be connected to the same `ledgerdesk serve` process;
//! with several processes behind a load balancer, messages would not cross between them
//! (the state in the database stays right, but the other side does not see the message
//! live). Running more than one process needs sticky routing of both sides or a shared
//! relay (PostgreSQL LISTEN/NOTIFY) — not built.
//!
//! Leaving: a customer who closes the socket while waiting either abandons the chat (no
//! message yet) or leaves a ticket; while talking, the chat ends. An agent whose socket
//! closes ends the chats they accepted on it. A socket is not re-attached to an earlier
//! chat; a session that expires during a chat does not cut it.

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Staff};
use crate::routes::ApiResult;
use crate::AppState;
use app::desk::chat::{self, ChatMessage, Left, Opened};
use app::desk::{portal, StaffCtx};
use app::Ctx;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use desk::authority::Role;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::portal::PortalUserRow;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/customers/{id}/portal_users",
            get(list_portal_users).post(create_portal_user),
        )
        .route("/v1/portal/sessions", post(portal_login))
        .route("/v1/portal/me", get(portal_me))
        .route("/v1/portal/chat", get(customer_chat))
        .route("/v1/desk/chat", get(agent_chat))
}

// ---------------------------------------------------------------------------------------
// The hub

/// What happens in a chat, relayed to every socket of it.
#[derive(Debug, Clone)]
enum ChatEvent {
    Message(ChatMessage),
    AgentJoined {
        agent: String,
    },
    TicketCreated {
        number: String,
    },
    Ended {
        ticket: Option<String>,
        interaction: Option<String>,
    },
}

/// The in-process live relay: a broadcast channel per chat and a "queue changed" signal per
/// (organisation, team). One per server process (see the module docs' limitation).
#[derive(Clone)]
pub struct ChatHub(Arc<HubInner>);

struct HubInner {
    chats: Mutex<HashMap<String, broadcast::Sender<ChatEvent>>>,
    queues: Mutex<HashMap<(String, String), broadcast::Sender<()>>>,
    accept_timeout_secs: i64,
}

impl Default for ChatHub {
    fn default() -> ChatHub {
        ChatHub::with_accept_timeout(chat::ACCEPT_TIMEOUT_SECS)
    }
}

impl ChatHub {
    /// A hub whose waiting chats become tickets `secs` after the customer's first message
    /// (default `app::desk::chat::ACCEPT_TIMEOUT_SECS`).
    pub fn with_accept_timeout(secs: i64) -> ChatHub {
        ChatHub(Arc::new(HubInner {
            chats: Mutex::default(),
            queues: Mutex::default(),
            accept_timeout_secs: secs.max(0),
        }))
    }

    fn timeout(&self) -> i64 {
        self.0.accept_timeout_secs
    }

    fn chat_sender(&self, chat: &str) -> broadcast::Sender<ChatEvent> {
        let mut map = self.0.chats.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(chat.to_string())
            .or_insert_with(|| broadcast::channel(256).0)
            .clone()
    }

    fn subscribe(&self, chat: &str) -> broadcast::Receiver<ChatEvent> {
        self.chat_sender(chat).subscribe()
    }

    fn send(&self, chat: &str, ev: ChatEvent) {
        let _ = self.chat_sender(chat).send(ev);
    }

    /// Drops a finished chat's channel (receivers still get what was sent before).
    fn forget(&self, chat: &str) {
        let mut map = self.0.chats.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(chat);
    }

    fn queue_sender(&self, org: &str, team: &str) -> broadcast::Sender<()> {
        let mut map = self.0.queues.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((org.to_string(), team.to_string()))
            .or_insert_with(|| broadcast::channel(64).0)
            .clone()
    }

    fn queue_changed(&self, org: &str, team: &str) {
        let _ = self.queue_sender(org, team).send(());
    }
}

// ---------------------------------------------------------------------------------------
// Authentication (header or ?token=)

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn token_of(parts: &Parts) -> Option<String> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    header.or_else(|| {
        Query::<TokenQuery>::try_from_uri(&parts.uri)
            .ok()
            .and_then(|q| q.0.token)
            .filter(|t| !t.is_empty())
    })
}

/// The session cookie of the pages (`ld_portal`, `ld_console`), accepted only when the
/// request's `Origin` is this site: a cookie rides along on a WebSocket opened by any
/// page, so another site's page must not get a socket in the user's name.
fn same_origin_cookie(parts: &Parts, name: &str) -> Option<String> {
    let host = parts.headers.get(axum::http::header::HOST)?.to_str().ok()?;
    let origin = parts
        .headers
        .get(axum::http::header::ORIGIN)?
        .to_str()
        .ok()?;
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))?;
    if origin_host != host {
        return None;
    }
    crate::ui::session::cookie(&parts.headers, name)
}

fn unauthenticated(code: &str, message: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "authentication_error",
        code,
        message,
        None,
    )
}

/// A logged-in portal user (`pts_…` as Bearer or `?token=`).
pub(crate) struct Portal(pub PortalUserRow);

impl FromRequestParts<AppState> for Portal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = token_of(parts)
            .or_else(|| same_origin_cookie(parts, crate::ui::session::PORTAL_COOKIE));
        let Some(token) = token else {
            return Err(unauthenticated(
                "missing_portal_session",
                "send the portal session token as Authorization: Bearer pts_… or ?token=pts_…",
            ));
        };
        Ok(Portal(
            portal::authenticate(&state.db, &token, Utc::now()).await?,
        ))
    }
}

/// A staff user logged in with a session (`ses_…` as Bearer or `?token=`): chats are taken
/// by people, not API keys.
pub(crate) struct Agent {
    org: String,
    id: String,
    role: Role,
}

impl Agent {
    fn ctx(&self) -> StaffCtx {
        StaffCtx::staff(Ctx::new(&self.org, Utc::now()), &self.id, self.role)
    }
}

impl FromRequestParts<AppState> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = token_of(parts)
            .or_else(|| same_origin_cookie(parts, crate::ui::session::CONSOLE_COOKIE));
        let Some(token) = token.filter(|t| t.starts_with("ses_")) else {
            return Err(unauthenticated(
                "missing_session",
                "send a staff session token as Authorization: Bearer ses_… or ?token=ses_…",
            ));
        };
        let (org, id, role) = app::desk::staff::authenticate(&state.db, &token, Utc::now()).await?;
        Ok(Agent { org, id, role })
    }
}

// ---------------------------------------------------------------------------------------
// Portal users and sessions

#[utoipa::path(post, path = "/v1/customers/{id}/portal_users", request_body = portal::PortalUserInput, tag = "desk",
    params(("id" = String, Path, description = "The customer")),
    responses((status = 200, body = portal::CreatedPortalUser), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn create_portal_user(
    State(s): State<AppState>,
    Staff(who): Staff,
    Path(id): Path<String>,
    Body(b): Body<portal::PortalUserInput>,
) -> ApiResult<portal::CreatedPortalUser> {
    Ok(Json(portal::create(&s.db, &who, &id, b).await?))
}

#[utoipa::path(get, path = "/v1/customers/{id}/portal_users", tag = "desk",
    params(("id" = String, Path, description = "The customer")),
    responses((status = 200, body = Vec<portal::PortalUser>), (status = 404, body = ErrorBody)))]
pub(crate) async fn list_portal_users(
    State(s): State<AppState>,
    Staff(who): Staff,
    Path(id): Path<String>,
) -> ApiResult<Vec<portal::PortalUser>> {
    Ok(Json(portal::list(&s.db, &who, &id).await?))
}

/// Logs a portal user in (no key needed).
#[utoipa::path(post, path = "/v1/portal/sessions", request_body = portal::PortalLogin, tag = "desk", security(),
    responses((status = 200, body = portal::PortalSession), (status = 401, body = ErrorBody)))]
pub(crate) async fn portal_login(
    State(s): State<AppState>,
    Body(b): Body<portal::PortalLogin>,
) -> ApiResult<portal::PortalSession> {
    Ok(Json(portal::login(&s.db, b, Utc::now()).await?))
}

/// The portal user a `pts_…` token belongs to.
#[utoipa::path(get, path = "/v1/portal/me", tag = "desk",
    responses((status = 200, body = portal::PortalUser), (status = 401, body = ErrorBody)))]
pub(crate) async fn portal_me(Portal(user): Portal) -> ApiResult<portal::PortalUser> {
    Ok(Json(portal::view(&user)))
}

// ---------------------------------------------------------------------------------------
// The customer's chat socket

/// The customer's live chat (WebSocket; frames in the module docs of `web::chat`). Opening
/// it queues a chat for the billing team, or makes a ticket when no agent is online.
#[utoipa::path(get, path = "/v1/portal/chat", tag = "desk", security(),
    params(("token" = Option<String>, Query, description = "The portal session token (pts_…), for browsers that cannot set Authorization on a WebSocket")),
    responses((status = 101, description = "Switching Protocols: JSON text frames queued, agent_joined, message, ticket_created, ended; send message {text} or end"),
        (status = 401, body = ErrorBody)))]
pub(crate) async fn customer_chat(
    State(s): State<AppState>,
    Portal(user): Portal,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| customer_socket(s, user, socket))
}

async fn send_json(socket: &mut WebSocket, v: Value) -> bool {
    socket
        .send(Message::Text(v.to_string().into()))
        .await
        .is_ok()
}

fn error_frame(e: app::AppError, chat: Option<&str>) -> Value {
    let api = ApiError::from(e);
    json!({
        "type": "error",
        "chat": chat,
        "code": api.body.error.code,
        "message": api.body.error.message,
    })
}

#[derive(Deserialize)]
struct ClientFrame {
    #[serde(rename = "type")]
    kind: String,
    chat: Option<String>,
    text: Option<String>,
}

fn parse_frame(m: &Message) -> Option<Result<ClientFrame, String>> {
    match m {
        Message::Text(t) => Some(
            serde_json::from_str::<ClientFrame>(t.as_str())
                .map_err(|e| format!("not a chat frame: {e}")),
        ),
        _ => None,
    }
}

fn bad_frame(message: String) -> Value {
    json!({"type": "error", "code": "frame_invalid", "message": message})
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum CustomerState {
    Waiting,
    Active,
    Ticketed,
}

fn customer_frame(ev: &ChatEvent) -> Value {
    match ev {
        ChatEvent::Message(m) => {
            json!({"type": "message", "from": m.from, "name": m.name, "text": m.text, "at": m.at})
        }
        ChatEvent::AgentJoined { agent } => json!({"type": "agent_joined", "agent": agent}),
        ChatEvent::TicketCreated { number } => json!({"type": "ticket_created", "number": number}),
        ChatEvent::Ended { .. } => json!({"type": "ended"}),
    }
}

async fn customer_socket(s: AppState, user: PortalUserRow, mut socket: WebSocket) {
    let hub = s.chat.clone();
    let org = user.org_id.clone();
    let chat_id = chat::new_chat_id();
    // Subscribe before the chat exists: no event of it can be missed.
    let events = hub.subscribe(&chat_id);
    let opened = match chat::open(&s.db, &user, &chat_id, Utc::now()).await {
        Ok(o) => o,
        Err(e) => {
            let _ = send_json(&mut socket, error_frame(e, None)).await;
            hub.forget(&chat_id);
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
    };
    let (team, state, position, first) = match opened {
        Opened::Queued { chat, queue } => (
            chat.team,
            CustomerState::Waiting,
            Some(queue.position),
            json!({"type": "queued", "chat": chat_id, "position": queue.position, "estimated_wait_secs": queue.estimated_wait_secs}),
        ),
        Opened::Ticketed { chat, number } => (
            chat.team,
            CustomerState::Ticketed,
            None,
            json!({"type": "ticket_created", "chat": chat_id, "number": number}),
        ),
    };
    let queue_rx = hub.queue_sender(&org, &team).subscribe();
    send_json(&mut socket, first).await;
    if state == CustomerState::Waiting {
        hub.queue_changed(&org, &team);
    }
    let this = Chat {
        id: &chat_id,
        team: &team,
    };
    run_customer(&s, &user, this, socket, events, queue_rx, state, position).await;
    hub.forget(&chat_id);
}

struct Chat<'a> {
    id: &'a str,
    team: &'a str,
}

#[allow(clippy::too_many_arguments)]
async fn run_customer(
    s: &AppState,
    user: &PortalUserRow,
    this: Chat<'_>,
    mut socket: WebSocket,
    mut events: broadcast::Receiver<ChatEvent>,
    mut queue_rx: broadcast::Receiver<()>,
    mut state: CustomerState,
    mut last_position: Option<u64>,
) {
    let hub = &s.chat;
    let org = &user.org_id;
    let (chat_id, team) = (this.id, this.team);
    let timeout = hub.timeout();
    let mut deadline: Option<Instant> = None;
    let mut leave = true;
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(m)) = incoming else { break };
                if matches!(m, Message::Close(_)) {
                    break;
                }
                let frame = match parse_frame(&m) {
                    None => continue,
                    Some(Err(e)) => {
                        send_json(&mut socket, bad_frame(e)).await;
                        continue;
                    }
                    Some(Ok(f)) => f,
                };
                match frame.kind.as_str() {
                    "message" => {
                        let text = frame.text.unwrap_or_default();
                        match chat::customer_message(&s.db, user, chat_id, &text, Utc::now(), timeout).await {
                            Ok((msg, ticketed)) => {
                                hub.send(chat_id, ChatEvent::Message(msg));
                                if state == CustomerState::Waiting {
                                    if deadline.is_none() {
                                        deadline = Some(Instant::now() + Duration::from_secs(timeout as u64) + Duration::from_millis(50));
                                    }
                                    hub.queue_changed(org, team);
                                }
                                if let Some(number) = ticketed {
                                    hub.send(chat_id, ChatEvent::TicketCreated { number });
                                    hub.queue_changed(org, team);
                                }
                            }
                            Err(e) => {
                                send_json(&mut socket, error_frame(e, Some(chat_id))).await;
                            }
                        }
                    }
                    "end" => break,
                    other => {
                        send_json(&mut socket, bad_frame(format!("unknown frame type {other:?}; send message or end"))).await;
                    }
                }
            }
            ev = events.recv() => {
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                match &ev {
                    ChatEvent::AgentJoined { .. } => {
                        state = CustomerState::Active;
                        deadline = None;
                    }
                    ChatEvent::TicketCreated { .. } => {
                        state = CustomerState::Ticketed;
                        deadline = None;
                    }
                    _ => {}
                }
                if !send_json(&mut socket, customer_frame(&ev)).await {
                    break;
                }
                if matches!(ev, ChatEvent::Ended { .. }) {
                    leave = false;
                    break;
                }
            }
            r = queue_rx.recv(), if state == CustomerState::Waiting => {
                if matches!(r, Err(broadcast::error::RecvError::Closed)) {
                    continue;
                }
                if let Ok(Some(q)) = chat::queue_status(&s.db, org, chat_id, Utc::now()).await {
                    if Some(q.position) != last_position {
                        last_position = Some(q.position);
                        send_json(&mut socket, json!({"type": "queued", "chat": chat_id, "position": q.position, "estimated_wait_secs": q.estimated_wait_secs})).await;
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(far)), if deadline.is_some() && state == CustomerState::Waiting => {
                deadline = None;
                match chat::expire(&s.db, org, chat_id, Utc::now(), timeout).await {
                    Ok(Some(number)) => {
                        hub.send(chat_id, ChatEvent::TicketCreated { number });
                        hub.queue_changed(org, team);
                    }
                    Ok(None) => {
                        if let Ok(Some(_)) = chat::queue_status(&s.db, org, chat_id, Utc::now()).await {
                            deadline = Some(Instant::now() + Duration::from_millis(250));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, chat = chat_id, "chat timeout check failed"),
                }
            }
        }
    }
    if leave {
        match chat::customer_left(&s.db, org, chat_id, Utc::now()).await {
            Ok(Left::Ended(e)) => {
                hub.send(
                    chat_id,
                    ChatEvent::Ended {
                        ticket: Some(e.number),
                        interaction: Some(e.interaction.id),
                    },
                );
            }
            Ok(Left::Abandoned | Left::Ticketed(_)) => hub.queue_changed(org, team),
            Ok(Left::Nothing) => {}
            Err(e) => tracing::warn!(error = %e, chat = chat_id, "closing a chat failed"),
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

// ---------------------------------------------------------------------------------------
// The agent's chat socket

/// The agent's chat console (WebSocket; frames in the module docs of `web::chat`): the
/// team's waiting chats, accepting, messages and ending.
#[utoipa::path(get, path = "/v1/desk/chat", tag = "desk", security(),
    params(("token" = Option<String>, Query, description = "The staff session token (ses_…), for browsers that cannot set Authorization on a WebSocket")),
    responses((status = 101, description = "Switching Protocols: JSON text frames waiting, accepted, message, ended, error; send accept {chat}, message {chat, text}, end {chat}"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn agent_chat(
    State(s): State<AppState>,
    agent: Agent,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let team = chat::agent_team(&s.db, &agent.ctx()).await?;
    Ok(ws.on_upgrade(move |socket| agent_socket(s, agent, team, socket)))
}

fn agent_frame(chat: &str, ev: &ChatEvent) -> Option<Value> {
    Some(match ev {
        ChatEvent::Message(m) => {
            json!({"type": "message", "chat": chat, "from": m.from, "name": m.name, "text": m.text, "at": m.at})
        }
        ChatEvent::Ended {
            ticket,
            interaction,
        } => json!({"type": "ended", "chat": chat, "ticket": ticket, "interaction": interaction}),
        ChatEvent::TicketCreated { number } => {
            json!({"type": "ticket_created", "chat": chat, "number": number})
        }
        ChatEvent::AgentJoined { .. } => return None,
    })
}

async fn waiting_frame(s: &AppState, agent: &Agent, team: &str) -> Value {
    match chat::waiting(&s.db, &agent.ctx(), team).await {
        Ok(chats) => json!({"type": "waiting", "team": team, "chats": chats}),
        Err(e) => error_frame(e, None),
    }
}

async fn agent_socket(s: AppState, agent: Agent, team: String, mut socket: WebSocket) {
    let hub = s.chat.clone();
    let org = agent.org.clone();
    let mut queue_rx = hub.queue_sender(&org, &team).subscribe();
    let (fwd_tx, mut fwd_rx) = mpsc::unbounded_channel::<(String, ChatEvent)>();
    let mut forwarders: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let first = waiting_frame(&s, &agent, &team).await;
    if send_json(&mut socket, first).await {
        loop {
            tokio::select! {
                incoming = socket.recv() => {
                    let Some(Ok(m)) = incoming else { break };
                    if matches!(m, Message::Close(_)) {
                        break;
                    }
                    let frame = match parse_frame(&m) {
                        None => continue,
                        Some(Err(e)) => {
                            send_json(&mut socket, bad_frame(e)).await;
                            continue;
                        }
                        Some(Ok(f)) => f,
                    };
                    let Some(chat_id) = frame.chat.clone().filter(|c| !c.is_empty()) else {
                        send_json(&mut socket, bad_frame("every agent frame names its chat".into())).await;
                        continue;
                    };
                    let reply = match frame.kind.as_str() {
                        "accept" => {
                            // Subscribe first: nothing the customer sends after acceptance is missed.
                            let mut rx = hub.subscribe(&chat_id);
                            match chat::accept(&s.db, &agent.ctx(), &chat_id).await {
                                Ok(a) => {
                                    let tx = fwd_tx.clone();
                                    let id = chat_id.clone();
                                    forwarders.insert(chat_id.clone(), tokio::spawn(async move {
                                        loop {
                                            match rx.recv().await {
                                                Ok(ev) => {
                                                    let end = matches!(ev, ChatEvent::Ended { .. });
                                                    if tx.send((id.clone(), ev)).is_err() || end {
                                                        break;
                                                    }
                                                }
                                                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                                                Err(broadcast::error::RecvError::Closed) => break,
                                            }
                                        }
                                    }));
                                    hub.send(&chat_id, ChatEvent::AgentJoined { agent: a.agent_name.clone() });
                                    hub.queue_changed(&org, &a.team);
                                    let mut v = json!(a);
                                    v["type"] = json!("accepted");
                                    v
                                }
                                Err(e) => error_frame(e, Some(&chat_id)),
                            }
                        }
                        "message" => {
                            let text = frame.text.unwrap_or_default();
                            match chat::agent_message(&s.db, &agent.ctx(), &chat_id, &text).await {
                                Ok(m) => {
                                    hub.send(&chat_id, ChatEvent::Message(m));
                                    continue;
                                }
                                Err(e) => error_frame(e, Some(&chat_id)),
                            }
                        }
                        "end" => match chat::end(&s.db, &agent.ctx(), &chat_id).await {
                            Ok(e) => {
                                hub.send(&chat_id, ChatEvent::Ended { ticket: Some(e.number), interaction: Some(e.interaction.id) });
                                continue;
                            }
                            Err(e) => error_frame(e, Some(&chat_id)),
                        },
                        other => bad_frame(format!("unknown frame type {other:?}; send accept, message or end")),
                    };
                    if !send_json(&mut socket, reply).await {
                        break;
                    }
                }
                Some((chat_id, ev)) = fwd_rx.recv() => {
                    if let Some(v) = agent_frame(&chat_id, &ev) {
                        if !send_json(&mut socket, v).await {
                            break;
                        }
                    }
                    if matches!(ev, ChatEvent::Ended { .. }) {
                        forwarders.remove(&chat_id);
                    }
                }
                r = queue_rx.recv() => {
                    if matches!(r, Err(broadcast::error::RecvError::Closed)) {
                        continue;
                    }
                    let v = waiting_frame(&s, &agent, &team).await;
                    if !send_json(&mut socket, v).await {
                        break;
                    }
                }
            }
        }
    }
    // The agent left: end the chats they still have on this socket.
    let ids: Vec<String> = forwarders.keys().cloned().collect();
    for (_, h) in forwarders.drain() {
        h.abort();
    }
    if let Ok(active) = chat::active_chats_of(&s.db, &agent.ctx(), &ids).await {
        for id in active {
            match chat::end(&s.db, &agent.ctx(), &id).await {
                Ok(e) => hub.send(
                    &id,
                    ChatEvent::Ended {
                        ticket: Some(e.number),
                        interaction: Some(e.interaction.id),
                    },
                ),
                Err(e) => tracing::warn!(error = %e, chat = id, "ending a chat failed"),
            }
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
