//! The customer portal's tables (migrations 0009, 0010): portal users, their sessions and
//! sign-in links, and live chats with their messages. The rules (queue position, timeouts) live in `app::desk::chat`;
//! this module only reads and writes rows.

use crate::{Result, StoreError, Tx};
use chrono::{DateTime, Utc};
use serde::Serialize;

// ---------------------------------------------------------------------------------------
// Portal users and sessions

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct PortalUserRow {
    pub id: String,
    pub org_id: String,
    pub customer_id: String,
    pub contact_id: Option<String>,
    pub email: String,
    #[serde(skip)]
    pub password_hash: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

const USER_COLS: &str =
    "id, org_id, customer_id, contact_id, email, password_hash, active, created_at, created_by";

pub async fn insert_user(tx: &mut Tx, r: &PortalUserRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO portal_users ({USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    );
    on!(tx, c => sqlx::query(&sql)
        .bind(&r.id).bind(&r.org_id).bind(&r.customer_id).bind(&r.contact_id).bind(&r.email)
        .bind(&r.password_hash).bind(r.active).bind(r.created_at).bind(&r.created_by)
        .execute(c).await.map_err(StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

pub async fn get_user(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<PortalUserRow>> {
    let sql = format!("SELECT {USER_COLS} FROM portal_users WHERE org_id = $1 AND id = $2");
    Ok(
        on!(tx, c => sqlx::query_as::<_, PortalUserRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// A portal user by login email (lowercased) within an organisation.
pub async fn user_by_email(
    tx: &mut Tx,
    org_id: &str,
    email: &str,
) -> Result<Option<PortalUserRow>> {
    let sql = format!("SELECT {USER_COLS} FROM portal_users WHERE org_id = $1 AND email = $2");
    Ok(
        on!(tx, c => sqlx::query_as::<_, PortalUserRow>(&sql).bind(org_id).bind(email).fetch_optional(c).await?),
    )
}

pub async fn users_of_customer(
    tx: &mut Tx,
    org_id: &str,
    customer_id: &str,
) -> Result<Vec<PortalUserRow>> {
    let sql = format!(
        "SELECT {USER_COLS} FROM portal_users WHERE org_id = $1 AND customer_id = $2 ORDER BY id"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, PortalUserRow>(&sql).bind(org_id).bind(customer_id).fetch_all(c).await?),
    )
}

pub async fn insert_session(
    tx: &mut Tx,
    id: &str,
    org_id: &str,
    portal_user_id: &str,
    token_hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    on!(tx, c => sqlx::query("INSERT INTO portal_sessions (id, org_id, portal_user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id).bind(org_id).bind(portal_user_id).bind(token_hash).bind(now).bind(expires_at)
        .execute(c).await.map_err(StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

/// Revokes a portal session (signing out).
pub async fn revoke_session(tx: &mut Tx, token_hash: &str, now: DateTime<Utc>) -> Result<u64> {
    Ok(
        on!(tx, c => sqlx::query("UPDATE portal_sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL")
        .bind(token_hash).bind(now).execute(c).await?.rows_affected()),
    )
}

/// The portal user of a live session (not revoked, not expired at `now`, user active).
pub async fn user_for_session(
    tx: &mut Tx,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<PortalUserRow>> {
    let sql = format!(
        "SELECT {cols} FROM portal_sessions x JOIN portal_users u ON u.id = x.portal_user_id \
         WHERE x.token_hash = $1 AND x.revoked_at IS NULL AND x.expires_at > $2 AND u.active",
        cols = USER_COLS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, PortalUserRow>(&sql).bind(token_hash).bind(now).fetch_optional(c).await?),
    )
}

// ---------------------------------------------------------------------------------------
// Sign-in links (magic links)

/// An emailed sign-in link: only its token's hash is kept.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct SignInLinkRow {
    pub id: String,
    pub org_id: String,
    pub portal_user_id: String,
    #[serde(skip)]
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

const LINK_COLS: &str = "id, org_id, portal_user_id, token_hash, created_at, expires_at, used_at";

pub async fn insert_sign_in_link(tx: &mut Tx, r: &SignInLinkRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO portal_sign_in_links ({LINK_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    );
    on!(tx, c => sqlx::query(&sql)
        .bind(&r.id).bind(&r.org_id).bind(&r.portal_user_id).bind(&r.token_hash)
        .bind(r.created_at).bind(r.expires_at).bind(r.used_at)
        .execute(c).await.map_err(StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

/// The sign-in link of an organisation with this token hash, used or not.
pub async fn sign_in_link(
    tx: &mut Tx,
    org_id: &str,
    token_hash: &str,
) -> Result<Option<SignInLinkRow>> {
    let sql = format!(
        "SELECT {LINK_COLS} FROM portal_sign_in_links WHERE org_id = $1 AND token_hash = $2"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, SignInLinkRow>(&sql).bind(org_id).bind(token_hash).fetch_optional(c).await?),
    )
}

/// Marks a link used unless it is already: 1 when this call took it, 0 when another did.
/// The `used_at IS NULL` condition makes two concurrent sign-ins with one link take it once.
pub async fn use_sign_in_link(tx: &mut Tx, id: &str, now: DateTime<Utc>) -> Result<u64> {
    Ok(
        on!(tx, c => sqlx::query("UPDATE portal_sign_in_links SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
        .bind(id).bind(now).execute(c).await?.rows_affected()),
    )
}

// ---------------------------------------------------------------------------------------
// Chats

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct ChatRow {
    pub id: String,
    pub org_id: String,
    pub customer_id: String,
    pub portal_user_id: String,
    pub team: String,
    /// waiting, active, ended, ticketed
    pub status: String,
    pub agent_id: Option<String>,
    pub ticket_id: Option<String>,
    pub interaction_id: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub ticketed_at: Option<DateTime<Utc>>,
}

const CHAT_COLS: &str = "id, org_id, customer_id, portal_user_id, team, status, agent_id, ticket_id, interaction_id, queued_at, accepted_at, ended_at, ticketed_at";

pub async fn insert_chat(tx: &mut Tx, r: &ChatRow) -> Result<()> {
    let sql = format!("INSERT INTO chat_sessions ({CHAT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)");
    on!(tx, c => sqlx::query(&sql)
        .bind(&r.id).bind(&r.org_id).bind(&r.customer_id).bind(&r.portal_user_id).bind(&r.team)
        .bind(&r.status).bind(&r.agent_id).bind(&r.ticket_id).bind(&r.interaction_id)
        .bind(r.queued_at).bind(r.accepted_at).bind(r.ended_at).bind(r.ticketed_at)
        .execute(c).await.map_err(StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

/// A chat; `lock` takes its row lock (PostgreSQL; SQLite write transactions are exclusive).
pub async fn get_chat(tx: &mut Tx, org_id: &str, id: &str, lock: bool) -> Result<Option<ChatRow>> {
    let lock = match (tx as &Tx, lock) {
        (Tx::Pg(_), true) => " FOR UPDATE",
        _ => "",
    };
    let sql = format!("SELECT {CHAT_COLS} FROM chat_sessions WHERE org_id = $1 AND id = $2{lock}");
    Ok(
        on!(tx, c => sqlx::query_as::<_, ChatRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// Writes a chat's changing columns, if it is still in status `expected` (the guard that
/// makes accepting and ticketing race-free). Returns whether the row changed.
pub async fn update_chat(tx: &mut Tx, r: &ChatRow, expected: &str) -> Result<bool> {
    let n = on!(tx, c => sqlx::query("UPDATE chat_sessions SET status = $3, agent_id = $4, ticket_id = $5, interaction_id = $6, accepted_at = $7, ended_at = $8, ticketed_at = $9 WHERE org_id = $1 AND id = $2 AND status = $10")
        .bind(&r.org_id).bind(&r.id).bind(&r.status).bind(&r.agent_id).bind(&r.ticket_id)
        .bind(&r.interaction_id).bind(r.accepted_at).bind(r.ended_at).bind(r.ticketed_at).bind(expected)
        .execute(c).await?.rows_affected());
    Ok(n == 1)
}

/// The waiting chats of a team, first queued first.
pub async fn waiting(tx: &mut Tx, org_id: &str, team: &str) -> Result<Vec<ChatRow>> {
    let sql = format!("SELECT {CHAT_COLS} FROM chat_sessions WHERE org_id = $1 AND team = $2 AND status = 'waiting' ORDER BY queued_at, id");
    Ok(on!(tx, c => sqlx::query_as::<_, ChatRow>(&sql).bind(org_id).bind(team).fetch_all(c).await?))
}

/// Chats of a team accepted in `[from, to)` (the recent answer rate for estimates).
pub async fn accepted_between(
    tx: &mut Tx,
    org_id: &str,
    team: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64> {
    Ok(
        on!(tx, c => sqlx::query_scalar("SELECT COUNT(*) FROM chat_sessions WHERE org_id = $1 AND team = $2 AND accepted_at >= $3 AND accepted_at < $4")
        .bind(org_id).bind(team).bind(from).bind(to).fetch_one(c).await?),
    )
}

/// Online, active staff of a team (who can take a chat).
pub async fn online_agents(tx: &mut Tx, org_id: &str, team: &str) -> Result<i64> {
    Ok(
        on!(tx, c => sqlx::query_scalar("SELECT COUNT(*) FROM staff_users WHERE org_id = $1 AND team = $2 AND online AND active")
        .bind(org_id).bind(team).fetch_one(c).await?),
    )
}

/// The customer whose portal user started the chat of a session interaction (kind chat):
/// the "verified by their login" check (the caller checks the interaction has not ended).
pub async fn portal_customer_of_interaction(
    tx: &mut Tx,
    org_id: &str,
    interaction_id: &str,
) -> Result<Option<String>> {
    Ok(
        on!(tx, c => sqlx::query_scalar::<_, String>("SELECT u.customer_id FROM chat_sessions s JOIN portal_users u ON u.id = s.portal_user_id \
        WHERE s.org_id = $1 AND s.interaction_id = $2 AND u.org_id = s.org_id AND s.customer_id = u.customer_id LIMIT 1")
        .bind(org_id).bind(interaction_id).fetch_optional(c).await?),
    )
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct ChatMessageRow {
    pub chat_id: String,
    pub seq: i64,
    pub org_id: String,
    /// customer or agent
    pub author_type: String,
    pub author_id: String,
    pub body: String,
    pub at: DateTime<Utc>,
}

/// Appends a message (the next sequence number of its chat; call in a write transaction).
pub async fn insert_message(tx: &mut Tx, r: &mut ChatMessageRow) -> Result<()> {
    let next: i64 = on!(tx, c => sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM chat_messages WHERE chat_id = $1")
        .bind(&r.chat_id).fetch_one(c).await?);
    r.seq = next;
    on!(tx, c => sqlx::query("INSERT INTO chat_messages (chat_id, seq, org_id, author_type, author_id, body, at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(&r.chat_id).bind(r.seq).bind(&r.org_id).bind(&r.author_type).bind(&r.author_id).bind(&r.body).bind(r.at)
        .execute(c).await.map_err(StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

pub async fn messages(tx: &mut Tx, org_id: &str, chat_id: &str) -> Result<Vec<ChatMessageRow>> {
    Ok(
        on!(tx, c => sqlx::query_as::<_, ChatMessageRow>("SELECT chat_id, seq, org_id, author_type, author_id, body, at FROM chat_messages WHERE org_id = $1 AND chat_id = $2 ORDER BY seq")
        .bind(org_id).bind(chat_id).fetch_all(c).await?),
    )
}
