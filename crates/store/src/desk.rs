//! The service desk's tables: staff and sessions, teams, tickets with their status history,
//! links and watchers, interactions and attachments, identity verifications, ticket actions
//! (billing actions and their approvals), CSAT surveys, macros and the audit chain.
//!
//! Tickets, interactions and status changes are written through [`crate::bulk`] so the
//! inbound-email path can store a batch of mails in a few statements.

use crate::{Result, StoreError, Tx};
use chrono::{DateTime, Utc};
use serde::Serialize;

// ---------------------------------------------------------------------------------------
// Staff and sessions

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct StaffRow {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    #[serde(skip)]
    pub password_hash: String,
    pub team: String,
    pub locale: String,
    pub capacity: i64,
    pub online: bool,
    pub active: bool,
    pub last_assigned_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const STAFF_COLS: &str = "id, org_id, email, name, role, password_hash, team, locale, capacity, online, active, last_assigned_at, created_at";

pub async fn insert_staff(tx: &mut Tx, r: &StaffRow) -> Result<()> {
    let sql = format!("INSERT INTO staff_users ({STAFF_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)");
    on!(tx, c => sqlx::query(&sql)
        .bind(&r.id).bind(&r.org_id).bind(&r.email).bind(&r.name).bind(&r.role).bind(&r.password_hash)
        .bind(&r.team).bind(&r.locale).bind(r.capacity).bind(r.online).bind(r.active).bind(r.last_assigned_at).bind(r.created_at)
        .execute(c).await.map_err(StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

pub async fn update_staff(tx: &mut Tx, r: &StaffRow) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE staff_users SET name = $3, role = $4, password_hash = $5, team = $6, locale = $7, capacity = $8, online = $9, active = $10, last_assigned_at = $11 WHERE org_id = $1 AND id = $2")
        .bind(&r.org_id).bind(&r.id).bind(&r.name).bind(&r.role).bind(&r.password_hash).bind(&r.team).bind(&r.locale)
        .bind(r.capacity).bind(r.online).bind(r.active).bind(r.last_assigned_at)
        .execute(c).await?.rows_affected());
    Ok(())
}

pub async fn get_staff(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<StaffRow>> {
    let sql = format!("SELECT {STAFF_COLS} FROM staff_users WHERE org_id = $1 AND id = $2");
    Ok(
        on!(tx, c => sqlx::query_as::<_, StaffRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// A staff user by login email, in any organisation (emails are unique per organisation;
/// a login names its organisation).
pub async fn staff_by_email(tx: &mut Tx, org_id: &str, email: &str) -> Result<Option<StaffRow>> {
    let sql = format!("SELECT {STAFF_COLS} FROM staff_users WHERE org_id = $1 AND email = $2");
    Ok(
        on!(tx, c => sqlx::query_as::<_, StaffRow>(&sql).bind(org_id).bind(email).fetch_optional(c).await?),
    )
}

pub async fn list_staff(tx: &mut Tx, org_id: &str) -> Result<Vec<StaffRow>> {
    let sql = format!("SELECT {STAFF_COLS} FROM staff_users WHERE org_id = $1 ORDER BY id");
    Ok(on!(tx, c => sqlx::query_as::<_, StaffRow>(&sql).bind(org_id).fetch_all(c).await?))
}

/// Online, active agents of a team with their open-ticket load, least recently assigned
/// first (round-robin order).
pub async fn assignable_staff(
    tx: &mut Tx,
    org_id: &str,
    team: &str,
) -> Result<Vec<(StaffRow, i64)>> {
    let sql = format!(
        "SELECT {cols}, (SELECT COUNT(*) FROM tickets t WHERE t.org_id = s.org_id AND t.assignee_id = s.id AND t.status IN ('new', 'open', 'pending_customer', 'pending_internal')) AS load \
         FROM staff_users s WHERE s.org_id = $1 AND s.team = $2 AND s.online AND s.active \
         ORDER BY s.last_assigned_at IS NOT NULL, s.last_assigned_at, s.id",
        cols = STAFF_COLS.split(", ").map(|c| format!("s.{c}")).collect::<Vec<_>>().join(", ")
    );
    let rows: Vec<StaffLoad> = on!(tx, c => sqlx::query_as::<_, StaffLoad>(&sql).bind(org_id).bind(team).fetch_all(c).await?);
    Ok(rows.into_iter().map(|r| (r.staff, r.load)).collect())
}

#[derive(sqlx::FromRow)]
struct StaffLoad {
    #[sqlx(flatten)]
    staff: StaffRow,
    load: i64,
}

pub async fn insert_session(
    tx: &mut Tx,
    id: &str,
    org_id: &str,
    staff_id: &str,
    token_hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    on!(tx, c => sqlx::query("INSERT INTO staff_sessions (id, org_id, staff_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id).bind(org_id).bind(staff_id).bind(token_hash).bind(now).bind(expires_at)
        .execute(c).await.map_err(StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

/// The staff user of a live session (not revoked, not expired at `now`).
pub async fn staff_for_session(
    tx: &mut Tx,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<StaffRow>> {
    let sql = format!(
        "SELECT {cols} FROM staff_sessions x JOIN staff_users s ON s.id = x.staff_id \
         WHERE x.token_hash = $1 AND x.revoked_at IS NULL AND x.expires_at > $2 AND s.active",
        cols = STAFF_COLS
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, StaffRow>(&sql).bind(token_hash).bind(now).fetch_optional(c).await?),
    )
}

pub async fn revoke_session(tx: &mut Tx, token_hash: &str, now: DateTime<Utc>) -> Result<u64> {
    Ok(
        on!(tx, c => sqlx::query("UPDATE staff_sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL")
        .bind(token_hash).bind(now).execute(c).await?.rows_affected()),
    )
}

pub async fn team_exists(tx: &mut Tx, org_id: &str, key: &str) -> Result<bool> {
    let n: i64 = on!(tx, c => sqlx::query_scalar("SELECT COUNT(*) FROM teams WHERE org_id = $1 AND key = $2")
        .bind(org_id).bind(key).fetch_one(c).await?);
    Ok(n > 0)
}

/// Creates the default teams (billing, finance, sales, technical) of a new organisation.
pub async fn insert_default_teams(tx: &mut Tx, org_id: &str) -> Result<()> {
    for (key, name) in [
        ("billing", "Billing"),
        ("finance", "Finance"),
        ("sales", "Sales"),
        ("technical", "Technical"),
    ] {
        on!(tx, c => sqlx::query("INSERT INTO teams (org_id, key, name) VALUES ($1, $2, $3) ON CONFLICT (org_id, key) DO NOTHING")
            .bind(org_id).bind(key).bind(name).execute(c).await?.rows_affected());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Tickets

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct TicketRow {
    pub id: String,
    pub org_id: String,
    pub number: i64,
    pub customer_id: Option<String>,
    pub requester_email: Option<String>,
    pub requester_name: Option<String>,
    pub subject: String,
    pub channel: String,
    pub category: String,
    pub priority: String,
    pub status: String,
    pub team: String,
    pub assignee_id: Option<String>,
    pub sla_policy_id: Option<String>,
    pub tags: String,
    pub follow_up_of: Option<String>,
    pub merged_into: Option<String>,
    pub reopen_count: i64,
    pub first_response_at: Option<DateTime<Utc>>,
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const TICKET_COLS: &str = "id, org_id, number, customer_id, requester_email, requester_name, subject, channel, category, priority, status, team, assignee_id, sla_policy_id, tags, follow_up_of, merged_into, reopen_count, first_response_at, first_response_due_at, resolution_due_at, resolved_at, resolved_by, closed_at, created_at, updated_at";

impl crate::bulk::Row for TicketRow {
    const TARGET: &'static str = "tickets (id, org_id, number, customer_id, requester_email, requester_name, subject, channel, category, priority, status, team, assignee_id, sla_policy_id, tags, follow_up_of, merged_into, reopen_count, first_response_at, first_response_due_at, resolution_due_at, resolved_at, resolved_by, closed_at, created_at, updated_at)";
    const COLUMNS: usize = 26;
    fn put<O: crate::bulk::Out>(&self, o: &mut O) {
        fields!(o; self.id, self.org_id, self.number, self.customer_id, self.requester_email,
            self.requester_name, self.subject, self.channel, self.category, self.priority,
            self.status, self.team, self.assignee_id, self.sla_policy_id, self.tags,
            self.follow_up_of, self.merged_into, self.reopen_count, self.first_response_at,
            self.first_response_due_at, self.resolution_due_at, self.resolved_at,
            self.resolved_by, self.closed_at, self.created_at, self.updated_at);
    }
}

/// Takes `count` consecutive ticket numbers under the counter row's lock. Returns the first.
pub async fn take_ticket_numbers(tx: &mut Tx, org_id: &str, count: i64) -> Result<i64> {
    on!(tx, c => sqlx::query("INSERT INTO ticket_numbers (org_id, next_number) VALUES ($1, 1) ON CONFLICT (org_id) DO NOTHING")
        .bind(org_id).execute(c).await?.rows_affected());
    let next: i64 = on!(tx, c => sqlx::query_scalar("UPDATE ticket_numbers SET next_number = next_number + $2 WHERE org_id = $1 RETURNING next_number")
        .bind(org_id).bind(count).fetch_one(c).await?);
    Ok(next - count)
}

pub async fn insert_tickets(tx: &mut Tx, rows: &[TicketRow]) -> Result<u64> {
    crate::bulk::insert(tx, rows).await
}

/// A ticket; `lock` takes its row lock (PostgreSQL) for a change.
pub async fn get_ticket(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    lock: bool,
) -> Result<Option<TicketRow>> {
    let lock = match (tx as &Tx, lock) {
        (Tx::Pg(_), true) => " FOR UPDATE",
        _ => "",
    };
    let sql = format!("SELECT {TICKET_COLS} FROM tickets WHERE org_id = $1 AND id = $2{lock}");
    Ok(
        on!(tx, c => sqlx::query_as::<_, TicketRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// Tickets by number (threading by the subject's `[#T-n]`).
pub async fn tickets_by_numbers(
    tx: &mut Tx,
    org_id: &str,
    numbers: &[i64],
) -> Result<Vec<TicketRow>> {
    let mut out = Vec::new();
    for n in numbers {
        let sql = format!("SELECT {TICKET_COLS} FROM tickets WHERE org_id = $1 AND number = $2");
        if let Some(r) = on!(tx, c => sqlx::query_as::<_, TicketRow>(&sql).bind(org_id).bind(n).fetch_optional(c).await?)
        {
            out.push(r);
        }
    }
    Ok(out)
}

pub async fn update_ticket(tx: &mut Tx, r: &TicketRow) -> Result<()> {
    on!(tx, c => sqlx::query(
        "UPDATE tickets SET customer_id = $3, requester_email = $4, requester_name = $5, subject = $6, category = $7, priority = $8, status = $9, team = $10, \
         assignee_id = $11, sla_policy_id = $12, tags = $13, merged_into = $14, reopen_count = $15, first_response_at = $16, first_response_due_at = $17, \
         resolution_due_at = $18, resolved_at = $19, resolved_by = $20, closed_at = $21, updated_at = $22 WHERE org_id = $1 AND id = $2")
        .bind(&r.org_id).bind(&r.id).bind(&r.customer_id).bind(&r.requester_email).bind(&r.requester_name).bind(&r.subject)
        .bind(&r.category).bind(&r.priority).bind(&r.status).bind(&r.team).bind(&r.assignee_id).bind(&r.sla_policy_id)
        .bind(&r.tags).bind(&r.merged_into).bind(r.reopen_count).bind(r.first_response_at).bind(r.first_response_due_at)
        .bind(r.resolution_due_at).bind(r.resolved_at).bind(&r.resolved_by).bind(r.closed_at).bind(r.updated_at)
        .execute(c).await?.rows_affected());
    Ok(())
}

/// Filters of the ticket list; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub status: Option<String>,
    pub team: Option<String>,
    pub assignee_id: Option<String>,
    pub customer_id: Option<String>,
    /// Only tickets not resolved or closed.
    pub open_only: bool,
}

/// Newest first, `limit + 1` rows after the cursor.
pub async fn list_tickets(
    tx: &mut Tx,
    org_id: &str,
    f: &TicketFilter,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<TicketRow>> {
    let open = if f.open_only {
        " AND status IN ('new', 'open', 'pending_customer', 'pending_internal')"
    } else {
        ""
    };
    let cus = crate::db::eq_if("customer_id", 5, f.customer_id.is_some());
    let sql = format!(
        "SELECT {TICKET_COLS} FROM tickets WHERE org_id = $1 \
         AND (CAST($2 AS TEXT) IS NULL OR status = $2) AND (CAST($3 AS TEXT) IS NULL OR team = $3) \
         AND (CAST($4 AS TEXT) IS NULL OR assignee_id = $4) AND {cus} \
         AND (CAST($6 AS TEXT) IS NULL OR id < $6){open} ORDER BY id DESC LIMIT $7"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, TicketRow>(&sql).bind(org_id).bind(&f.status).bind(&f.team)
        .bind(&f.assignee_id).bind(&f.customer_id).bind(starting_after).bind(limit + 1).fetch_all(c).await?),
    )
}

/// How many tickets of a team wait for a first response (queue length for estimates).
pub async fn awaiting_first_response(tx: &mut Tx, org_id: &str, team: &str) -> Result<i64> {
    Ok(
        on!(tx, c => sqlx::query_scalar("SELECT COUNT(*) FROM tickets WHERE org_id = $1 AND team = $2 AND first_response_at IS NULL AND merged_into IS NULL AND status IN ('new', 'open', 'pending_internal')")
        .bind(org_id).bind(team).fetch_one(c).await?),
    )
}

/// First responses a team gave in `[from, to)` (the recent handling rate for estimates).
pub async fn first_responses_between(
    tx: &mut Tx,
    org_id: &str,
    team: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64> {
    Ok(
        on!(tx, c => sqlx::query_scalar("SELECT COUNT(*) FROM tickets WHERE org_id = $1 AND team = $2 AND first_response_at >= $3 AND first_response_at < $4")
        .bind(org_id).bind(team).bind(from).bind(to).fetch_one(c).await?),
    )
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct StatusChangeRow {
    pub id: String,
    pub org_id: String,
    pub ticket_id: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor: String,
    pub at: DateTime<Utc>,
}

impl crate::bulk::Row for StatusChangeRow {
    const TARGET: &'static str =
        "ticket_status_changes (id, org_id, ticket_id, from_status, to_status, actor, at)";
    const COLUMNS: usize = 7;
    fn put<O: crate::bulk::Out>(&self, o: &mut O) {
        fields!(o; self.id, self.org_id, self.ticket_id, self.from_status, self.to_status, self.actor, self.at);
    }
}

pub async fn insert_status_changes(tx: &mut Tx, rows: &[StatusChangeRow]) -> Result<u64> {
    crate::bulk::insert(tx, rows).await
}

pub async fn status_changes(
    tx: &mut Tx,
    org_id: &str,
    ticket_id: &str,
) -> Result<Vec<StatusChangeRow>> {
    Ok(
        on!(tx, c => sqlx::query_as::<_, StatusChangeRow>("SELECT id, org_id, ticket_id, from_status, to_status, actor, at FROM ticket_status_changes WHERE org_id = $1 AND ticket_id = $2 ORDER BY at, id")
        .bind(org_id).bind(ticket_id).fetch_all(c).await?),
    )
}

/// The status history of several tickets, each in order.
pub async fn status_changes_of(
    tx: &mut Tx,
    org_id: &str,
    ticket_ids: &[String],
) -> Result<Vec<StatusChangeRow>> {
    if ticket_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows: Vec<StatusChangeRow> = select_in!(tx, StatusChangeRow, "SELECT id, org_id, ticket_id, from_status, to_status, actor, at FROM ticket_status_changes WHERE org_id = ", org_id, "ticket_id", ticket_ids, "");
    rows.sort_by(|a, b| (&a.ticket_id, a.at, &a.id).cmp(&(&b.ticket_id, b.at, &b.id)));
    Ok(rows)
}

pub async fn add_link(
    tx: &mut Tx,
    org_id: &str,
    ticket_id: &str,
    object_type: &str,
    object_id: &str,
) -> Result<()> {
    on!(tx, c => sqlx::query("INSERT INTO ticket_links (org_id, ticket_id, object_type, object_id) VALUES ($1, $2, $3, $4) ON CONFLICT (ticket_id, object_type, object_id) DO NOTHING")
        .bind(org_id).bind(ticket_id).bind(object_type).bind(object_id).execute(c).await?.rows_affected());
    Ok(())
}

pub async fn links(tx: &mut Tx, org_id: &str, ticket_id: &str) -> Result<Vec<(String, String)>> {
    Ok(
        on!(tx, c => sqlx::query_as::<_, (String, String)>("SELECT object_type, object_id FROM ticket_links WHERE org_id = $1 AND ticket_id = $2 ORDER BY object_type, object_id")
        .bind(org_id).bind(ticket_id).fetch_all(c).await?),
    )
}

pub async fn add_watcher(tx: &mut Tx, org_id: &str, ticket_id: &str, staff_id: &str) -> Result<()> {
    on!(tx, c => sqlx::query("INSERT INTO ticket_watchers (org_id, ticket_id, staff_id) VALUES ($1, $2, $3) ON CONFLICT (ticket_id, staff_id) DO NOTHING")
        .bind(org_id).bind(ticket_id).bind(staff_id).execute(c).await?.rows_affected());
    Ok(())
}

pub async fn watchers(tx: &mut Tx, org_id: &str, ticket_id: &str) -> Result<Vec<String>> {
    Ok(
        on!(tx, c => sqlx::query_scalar::<_, String>("SELECT staff_id FROM ticket_watchers WHERE org_id = $1 AND ticket_id = $2 ORDER BY staff_id")
        .bind(org_id).bind(ticket_id).fetch_all(c).await?),
    )
}

/// Moves a merged ticket's interactions and links to the ticket it was merged into.
pub async fn move_ticket_children(tx: &mut Tx, org_id: &str, from: &str, into: &str) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE interactions SET ticket_id = $3 WHERE org_id = $1 AND ticket_id = $2")
        .bind(org_id).bind(from).bind(into).execute(c).await?.rows_affected());
    on!(tx, c => sqlx::query("INSERT INTO ticket_links (org_id, ticket_id, object_type, object_id) SELECT org_id, $3, object_type, object_id FROM ticket_links WHERE org_id = $1 AND ticket_id = $2 ON CONFLICT (ticket_id, object_type, object_id) DO NOTHING")
        .bind(org_id).bind(from).bind(into).execute(c).await?.rows_affected());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Interactions

#[derive(Debug, Clone, sqlx::FromRow, Serialize, Default)]
pub struct InteractionRow {
    pub id: String,
    pub org_id: String,
    pub ticket_id: Option<String>,
    pub customer_id: Option<String>,
    pub channel: String,
    pub direction: String,
    pub kind: String,
    pub author_type: String,
    pub author_id: Option<String>,
    pub from_address: Option<String>,
    pub to_address: Option<String>,
    pub subject: Option<String>,
    pub body: String,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub automatic: Option<String>,
    pub phone_number: Option<String>,
    pub external_call_id: Option<String>,
    pub wait_secs: Option<i64>,
    pub talk_secs: Option<i64>,
    pub hold_secs: Option<i64>,
    pub wrap_secs: Option<i64>,
    pub handling_secs: Option<i64>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub delivery_status: Option<String>,
    pub delivery_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

const INTERACTION_COLS: &str = "id, org_id, ticket_id, customer_id, channel, direction, kind, author_type, author_id, from_address, to_address, subject, body, message_id, in_reply_to, automatic, phone_number, external_call_id, wait_secs, talk_secs, hold_secs, wrap_secs, handling_secs, started_at, ended_at, delivery_status, delivery_error, created_at";

impl crate::bulk::Row for InteractionRow {
    const TARGET: &'static str = "interactions (id, org_id, ticket_id, customer_id, channel, direction, kind, author_type, author_id, from_address, to_address, subject, body, message_id, in_reply_to, automatic, phone_number, external_call_id, wait_secs, talk_secs, hold_secs, wrap_secs, handling_secs, started_at, ended_at, delivery_status, delivery_error, created_at)";
    const COLUMNS: usize = 28;
    fn put<O: crate::bulk::Out>(&self, o: &mut O) {
        fields!(o; self.id, self.org_id, self.ticket_id, self.customer_id, self.channel,
            self.direction, self.kind, self.author_type, self.author_id, self.from_address,
            self.to_address, self.subject, self.body, self.message_id, self.in_reply_to, self.automatic,
            self.phone_number, self.external_call_id, self.wait_secs, self.talk_secs,
            self.hold_secs, self.wrap_secs, self.handling_secs, self.started_at, self.ended_at,
            self.delivery_status, self.delivery_error, self.created_at);
    }
}

pub async fn insert_interactions(tx: &mut Tx, rows: &[InteractionRow]) -> Result<u64> {
    crate::bulk::insert(tx, rows).await
}

pub async fn update_interaction(tx: &mut Tx, r: &InteractionRow) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE interactions SET ticket_id = $3, customer_id = $4, body = $5, wait_secs = $6, talk_secs = $7, hold_secs = $8, wrap_secs = $9, handling_secs = $10, started_at = $11, ended_at = $12 WHERE org_id = $1 AND id = $2")
        .bind(&r.org_id).bind(&r.id).bind(&r.ticket_id).bind(&r.customer_id).bind(&r.body).bind(r.wait_secs).bind(r.talk_secs)
        .bind(r.hold_secs).bind(r.wrap_secs).bind(r.handling_secs).bind(r.started_at).bind(r.ended_at)
        .execute(c).await?.rows_affected());
    Ok(())
}

/// Records the outcome of sending an outbound message.
pub async fn set_delivery(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    status: &str,
    error: Option<&str>,
) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE interactions SET delivery_status = $3, delivery_error = $4 WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(status).bind(error).execute(c).await?.rows_affected());
    Ok(())
}

pub async fn get_interaction(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
) -> Result<Option<InteractionRow>> {
    let sql = format!("SELECT {INTERACTION_COLS} FROM interactions WHERE org_id = $1 AND id = $2");
    Ok(
        on!(tx, c => sqlx::query_as::<_, InteractionRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

pub async fn interaction_by_call(
    tx: &mut Tx,
    org_id: &str,
    external_call_id: &str,
) -> Result<Option<InteractionRow>> {
    let sql = format!(
        "SELECT {INTERACTION_COLS} FROM interactions WHERE org_id = $1 AND external_call_id = $2"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, InteractionRow>(&sql).bind(org_id).bind(external_call_id).fetch_optional(c).await?),
    )
}

pub async fn ticket_interactions(
    tx: &mut Tx,
    org_id: &str,
    ticket_id: &str,
) -> Result<Vec<InteractionRow>> {
    let sql = format!("SELECT {INTERACTION_COLS} FROM interactions WHERE org_id = $1 AND ticket_id = $2 ORDER BY created_at, id");
    Ok(
        on!(tx, c => sqlx::query_as::<_, InteractionRow>(&sql).bind(org_id).bind(ticket_id).fetch_all(c).await?),
    )
}

/// Interactions of a customer, newest first by id (the timeline's order), ids below
/// `before`, at most `limit`.
pub async fn customer_interactions_page(
    tx: &mut Tx,
    org_id: &str,
    customer_id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<InteractionRow>> {
    let sql = format!(
        "SELECT {INTERACTION_COLS} FROM interactions WHERE org_id = $1 AND customer_id = $2 \
         AND (CAST($3 AS TEXT) IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, InteractionRow>(&sql).bind(org_id).bind(customer_id).bind(before).bind(limit).fetch_all(c).await?),
    )
}

/// The tickets of already-stored messages with these Message-IDs: `(message_id, ticket_id)`.
pub async fn tickets_for_message_ids(
    tx: &mut Tx,
    org_id: &str,
    message_ids: &[String],
) -> Result<Vec<(String, Option<String>)>> {
    if message_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(select_in!(
        tx,
        (String, Option<String>),
        "SELECT message_id, ticket_id FROM interactions WHERE org_id = ",
        org_id,
        "message_id",
        message_ids,
        ""
    ))
}

#[derive(Debug, Clone)]
pub struct AttachmentRow {
    pub id: String,
    pub org_id: String,
    pub interaction_id: String,
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

pub async fn insert_attachment(tx: &mut Tx, r: &AttachmentRow) -> Result<()> {
    on!(tx, c => sqlx::query("INSERT INTO attachments (id, org_id, interaction_id, filename, content_type, size, data) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(&r.id).bind(&r.org_id).bind(&r.interaction_id).bind(&r.filename).bind(&r.content_type)
        .bind(r.data.len() as i64).bind(&r.data).execute(c).await?.rows_affected());
    Ok(())
}

/// `(id, interaction_id, filename, content_type, size)` of a ticket's attachments.
pub async fn ticket_attachments(
    tx: &mut Tx,
    org_id: &str,
    ticket_id: &str,
) -> Result<Vec<(String, String, String, String, i64)>> {
    Ok(
        on!(tx, c => sqlx::query_as("SELECT a.id, a.interaction_id, a.filename, a.content_type, a.size FROM attachments a JOIN interactions i ON i.id = a.interaction_id WHERE a.org_id = $1 AND i.ticket_id = $2 ORDER BY a.id")
        .bind(org_id).bind(ticket_id).fetch_all(c).await?),
    )
}

/// `(filename, content_type, data)` of one attachment.
pub async fn attachment_data(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
) -> Result<Option<(String, String, Vec<u8>)>> {
    Ok(
        on!(tx, c => sqlx::query_as("SELECT filename, content_type, data FROM attachments WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// The customers these (lowercased) addresses belong to, with their locales:
/// `(address, customer id, locale)`. A customer's own address wins over a contact's, and
/// the oldest customer over newer ones when several share an address (the caller keeps
/// the first row per address; rows come customers first, each part in id order).
pub async fn customers_for_emails(
    tx: &mut Tx,
    org_id: &str,
    emails: &[String],
) -> Result<Vec<(String, String, String)>> {
    if emails.is_empty() {
        return Ok(Vec::new());
    }
    let mut own: Vec<(String, String, String)> = select_in!(
        tx,
        (String, String, String),
        "SELECT LOWER(email), id, locale FROM customers WHERE org_id = ",
        org_id,
        "LOWER(email)",
        emails,
        ""
    );
    own.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut contacts: Vec<(String, String, String)> = select_in!(tx, (String, String, String), "SELECT LOWER(c.email), c.customer_id, u.locale FROM customer_contacts c JOIN customers u ON u.id = c.customer_id WHERE c.org_id = ", org_id, "LOWER(c.email)", emails, "");
    contacts.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    own.extend(contacts);
    Ok(own)
}

/// The customer a phone number belongs to (exact match on the customer's or a contact's
/// number as stored).
pub async fn customer_for_phone(tx: &mut Tx, org_id: &str, phone: &str) -> Result<Option<String>> {
    if let Some(id) = on!(tx, c => sqlx::query_scalar::<_, String>("SELECT id FROM customers WHERE org_id = $1 AND phone = $2 ORDER BY id LIMIT 1")
        .bind(org_id).bind(phone).fetch_optional(c).await?)
    {
        return Ok(Some(id));
    }
    Ok(
        on!(tx, c => sqlx::query_scalar::<_, String>("SELECT customer_id FROM customer_contacts WHERE org_id = $1 AND phone = $2 ORDER BY customer_id LIMIT 1")
        .bind(org_id).bind(phone).fetch_optional(c).await?),
    )
}

// ---------------------------------------------------------------------------------------
// Calendars and SLA policies

pub async fn insert_calendar(
    tx: &mut Tx,
    id: &str,
    org_id: &str,
    name: &str,
    spec: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    on!(tx, c => sqlx::query("INSERT INTO business_calendars (id, org_id, name, spec, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(id).bind(org_id).bind(name).bind(spec).bind(now).execute(c).await?.rows_affected());
    Ok(())
}

/// The calendar spec (JSON) of a team, if the team has one.
pub async fn team_calendar(tx: &mut Tx, org_id: &str, team: &str) -> Result<Option<String>> {
    Ok(
        on!(tx, c => sqlx::query_scalar::<_, String>("SELECT b.spec FROM teams t JOIN business_calendars b ON b.id = t.calendar_id WHERE t.org_id = $1 AND t.key = $2")
        .bind(org_id).bind(team).fetch_optional(c).await?),
    )
}

pub async fn set_team_calendar(
    tx: &mut Tx,
    org_id: &str,
    team: &str,
    calendar_id: Option<&str>,
) -> Result<u64> {
    Ok(
        on!(tx, c => sqlx::query("UPDATE teams SET calendar_id = $3 WHERE org_id = $1 AND key = $2")
        .bind(org_id).bind(team).bind(calendar_id).execute(c).await?.rows_affected()),
    )
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct SlaPolicyRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub priority: String,
    pub category: String,
    pub first_response_secs: Option<i64>,
    pub resolution_secs: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// Creates or replaces the policy for (priority, category); `""` means any.
pub async fn upsert_sla_policy(tx: &mut Tx, r: &SlaPolicyRow) -> Result<()> {
    on!(tx, c => sqlx::query("INSERT INTO sla_policies (id, org_id, name, priority, category, first_response_secs, resolution_secs, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
        ON CONFLICT (org_id, priority, category) DO UPDATE SET name = excluded.name, first_response_secs = excluded.first_response_secs, resolution_secs = excluded.resolution_secs")
        .bind(&r.id).bind(&r.org_id).bind(&r.name).bind(&r.priority).bind(&r.category).bind(r.first_response_secs)
        .bind(r.resolution_secs).bind(r.created_at).execute(c).await?.rows_affected());
    Ok(())
}

pub async fn sla_policies(tx: &mut Tx, org_id: &str) -> Result<Vec<SlaPolicyRow>> {
    Ok(
        on!(tx, c => sqlx::query_as::<_, SlaPolicyRow>("SELECT id, org_id, name, priority, category, first_response_secs, resolution_secs, created_at FROM sla_policies WHERE org_id = $1 ORDER BY priority, category")
        .bind(org_id).fetch_all(c).await?),
    )
}

// ---------------------------------------------------------------------------------------
// Audit chain

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct AuditRow {
    pub org_id: String,
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub before: String,
    pub after: String,
    pub hash: String,
}

/// Takes the next sequence number of an organisation's chain and the previous hash, under
/// the head row's lock (held to the end of the transaction, so appends are serialized).
pub async fn audit_next(tx: &mut Tx, org_id: &str, genesis: &str) -> Result<(i64, String)> {
    on!(tx, c => sqlx::query("INSERT INTO audit_heads (org_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT (org_id) DO NOTHING")
        .bind(org_id).bind(genesis).execute(c).await?.rows_affected());
    let (seq, hash): (i64, String) = on!(tx, c => sqlx::query_as("UPDATE audit_heads SET seq = seq + 1 WHERE org_id = $1 RETURNING seq, hash")
        .bind(org_id).fetch_one(c).await?);
    Ok((seq, hash))
}

pub async fn audit_append(tx: &mut Tx, r: &AuditRow) -> Result<()> {
    on!(tx, c => sqlx::query("INSERT INTO audit_log (org_id, seq, at, actor, action, object_type, object_id, before, after, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
        .bind(&r.org_id).bind(r.seq).bind(&r.at).bind(&r.actor).bind(&r.action).bind(&r.object_type).bind(&r.object_id)
        .bind(&r.before).bind(&r.after).bind(&r.hash).execute(c).await.map_err(StoreError::from_sqlx)?.rows_affected());
    on!(tx, c => sqlx::query("UPDATE audit_heads SET hash = $2 WHERE org_id = $1")
        .bind(&r.org_id).bind(&r.hash).execute(c).await?.rows_affected());
    Ok(())
}

const AUDIT_COLS: &str =
    "org_id, seq, at, actor, action, object_type, object_id, before, after, hash";

/// Newest first, entries with `seq < before` (all when None), at most `limit`.
pub async fn audit_page(
    tx: &mut Tx,
    org_id: &str,
    object_id: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRow>> {
    let sql = format!("SELECT {AUDIT_COLS} FROM audit_log WHERE org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR object_id = $2) AND ($3 < 0 OR seq < $3) ORDER BY seq DESC LIMIT $4");
    Ok(
        on!(tx, c => sqlx::query_as::<_, AuditRow>(&sql).bind(org_id).bind(object_id).bind(before.unwrap_or(-1)).bind(limit).fetch_all(c).await?),
    )
}

/// One organisation's chain in order, `limit` entries from `after_seq`.
pub async fn audit_chain(
    tx: &mut Tx,
    org_id: &str,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<AuditRow>> {
    let sql = format!(
        "SELECT {AUDIT_COLS} FROM audit_log WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, AuditRow>(&sql).bind(org_id).bind(after_seq).bind(limit).fetch_all(c).await?),
    )
}

/// `(org_id, seq, hash)` of every chain head.
pub async fn audit_heads(tx: &mut Tx) -> Result<Vec<(String, i64, String)>> {
    Ok(
        on!(tx, c => sqlx::query_as("SELECT org_id, seq, hash FROM audit_heads ORDER BY org_id").fetch_all(c).await?),
    )
}

// ---------------------------------------------------------------------------------------
// Identity verification

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct VerificationRow {
    pub id: String,
    pub org_id: String,
    pub interaction_id: String,
    pub customer_id: String,
    pub method: String,
    pub sent_to: Option<String>,
    #[serde(skip)]
    pub code_hash: Option<String>,
    pub attempts: i64,
    pub status: String,
    pub staff_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
}

const VERIFICATION_COLS: &str = "id, org_id, interaction_id, customer_id, method, sent_to, code_hash, attempts, status, staff_id, created_at, expires_at, verified_at";

pub async fn insert_verification(tx: &mut Tx, r: &VerificationRow) -> Result<()> {
    let sql = format!("INSERT INTO identity_verifications ({VERIFICATION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)");
    on!(tx, c => sqlx::query(&sql).bind(&r.id).bind(&r.org_id).bind(&r.interaction_id).bind(&r.customer_id).bind(&r.method)
        .bind(&r.sent_to).bind(&r.code_hash).bind(r.attempts).bind(&r.status).bind(&r.staff_id).bind(r.created_at)
        .bind(r.expires_at).bind(r.verified_at).execute(c).await?.rows_affected());
    Ok(())
}

pub async fn update_verification(tx: &mut Tx, r: &VerificationRow) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE identity_verifications SET attempts = $3, status = $4, verified_at = $5 WHERE org_id = $1 AND id = $2")
        .bind(&r.org_id).bind(&r.id).bind(r.attempts).bind(&r.status).bind(r.verified_at).execute(c).await?.rows_affected());
    Ok(())
}

pub async fn get_verification(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
) -> Result<Option<VerificationRow>> {
    let sql = format!(
        "SELECT {VERIFICATION_COLS} FROM identity_verifications WHERE org_id = $1 AND id = $2"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, VerificationRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// The verified checks of an interaction, newest first.
pub async fn verifications_of(
    tx: &mut Tx,
    org_id: &str,
    interaction_id: &str,
) -> Result<Vec<VerificationRow>> {
    let sql = format!("SELECT {VERIFICATION_COLS} FROM identity_verifications WHERE org_id = $1 AND interaction_id = $2 ORDER BY created_at DESC, id DESC");
    Ok(
        on!(tx, c => sqlx::query_as::<_, VerificationRow>(&sql).bind(org_id).bind(interaction_id).fetch_all(c).await?),
    )
}

pub async fn insert_identity_failure(
    tx: &mut Tx,
    id: &str,
    org_id: &str,
    customer_id: &str,
    verification_id: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    on!(tx, c => sqlx::query("INSERT INTO identity_failures (id, org_id, customer_id, verification_id, reason, at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id).bind(org_id).bind(customer_id).bind(verification_id).bind(reason).bind(at).execute(c).await?.rows_affected());
    Ok(())
}

/// Failed attempts for a customer since `since`.
pub async fn identity_failures_since(
    tx: &mut Tx,
    org_id: &str,
    customer_id: &str,
    since: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>> {
    Ok(
        on!(tx, c => sqlx::query_scalar::<_, DateTime<Utc>>("SELECT at FROM identity_failures WHERE org_id = $1 AND customer_id = $2 AND at >= $3 ORDER BY at")
        .bind(org_id).bind(customer_id).bind(since).fetch_all(c).await?),
    )
}

// ---------------------------------------------------------------------------------------
// Authority limits and ticket actions

/// `(role, action, currency, limit_minor)` overrides of an organisation.
pub async fn authority_limits(
    tx: &mut Tx,
    org_id: &str,
) -> Result<Vec<(String, String, String, Option<i64>)>> {
    Ok(
        on!(tx, c => sqlx::query_as("SELECT role, action, currency, limit_minor FROM authority_limits WHERE org_id = $1 ORDER BY role, action, currency")
        .bind(org_id).fetch_all(c).await?),
    )
}

pub async fn set_authority_limit(
    tx: &mut Tx,
    org_id: &str,
    role: &str,
    action: &str,
    currency: &str,
    limit_minor: Option<i64>,
) -> Result<()> {
    on!(tx, c => sqlx::query("INSERT INTO authority_limits (org_id, role, action, currency, limit_minor) VALUES ($1, $2, $3, $4, $5) \
        ON CONFLICT (org_id, role, action, currency) DO UPDATE SET limit_minor = excluded.limit_minor")
        .bind(org_id).bind(role).bind(action).bind(currency).bind(limit_minor).execute(c).await?.rows_affected());
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct TicketActionRow {
    pub id: String,
    pub org_id: String,
    pub ticket_id: String,
    pub action: String,
    pub currency: String,
    pub amount: i64,
    pub params: String,
    pub reason: String,
    pub reason_code: String,
    pub status: String,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_note: Option<String>,
    pub result_object_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

const ACTION_COLS: &str = "id, org_id, ticket_id, action, currency, amount, params, reason, reason_code, status, requested_by, decided_by, decided_at, decision_note, result_object_id, created_at";

pub async fn insert_ticket_action(tx: &mut Tx, r: &TicketActionRow) -> Result<()> {
    let sql = format!("INSERT INTO ticket_actions ({ACTION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)");
    on!(tx, c => sqlx::query(&sql).bind(&r.id).bind(&r.org_id).bind(&r.ticket_id).bind(&r.action).bind(&r.currency)
        .bind(r.amount).bind(&r.params).bind(&r.reason).bind(&r.reason_code).bind(&r.status).bind(&r.requested_by)
        .bind(&r.decided_by).bind(r.decided_at).bind(&r.decision_note).bind(&r.result_object_id).bind(r.created_at)
        .execute(c).await.map_err(StoreError::from_sqlx)?.rows_affected());
    Ok(())
}

pub async fn update_ticket_action(tx: &mut Tx, r: &TicketActionRow) -> Result<()> {
    on!(tx, c => sqlx::query("UPDATE ticket_actions SET status = $3, decided_by = $4, decided_at = $5, decision_note = $6, result_object_id = $7 WHERE org_id = $1 AND id = $2")
        .bind(&r.org_id).bind(&r.id).bind(&r.status).bind(&r.decided_by).bind(r.decided_at).bind(&r.decision_note)
        .bind(&r.result_object_id).execute(c).await?.rows_affected());
    Ok(())
}

pub async fn get_ticket_action(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    lock: bool,
) -> Result<Option<TicketActionRow>> {
    let lock = match (tx as &Tx, lock) {
        (Tx::Pg(_), true) => " FOR UPDATE",
        _ => "",
    };
    let sql =
        format!("SELECT {ACTION_COLS} FROM ticket_actions WHERE org_id = $1 AND id = $2{lock}");
    Ok(
        on!(tx, c => sqlx::query_as::<_, TicketActionRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// A ticket's actions (oldest first), or an organisation's waiting approvals.
pub async fn list_ticket_actions(
    tx: &mut Tx,
    org_id: &str,
    ticket_id: Option<&str>,
    status: Option<&str>,
) -> Result<Vec<TicketActionRow>> {
    let sql = format!("SELECT {ACTION_COLS} FROM ticket_actions WHERE org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR ticket_id = $2) AND (CAST($3 AS TEXT) IS NULL OR status = $3) ORDER BY id LIMIT 500");
    Ok(
        on!(tx, c => sqlx::query_as::<_, TicketActionRow>(&sql).bind(org_id).bind(ticket_id).bind(status).fetch_all(c).await?),
    )
}

// ---------------------------------------------------------------------------------------
// CSAT surveys and macros

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct SurveyRow {
    pub id: String,
    pub org_id: String,
    pub ticket_id: String,
    pub agent_id: Option<String>,
    #[serde(skip)]
    pub token_hash: String,
    pub rating: Option<i64>,
    pub comment: Option<String>,
    pub sent_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
}

const SURVEY_COLS: &str =
    "id, org_id, ticket_id, agent_id, token_hash, rating, comment, sent_at, answered_at";

pub async fn insert_survey(tx: &mut Tx, r: &SurveyRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO csat_surveys ({SURVEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    );
    on!(tx, c => sqlx::query(&sql).bind(&r.id).bind(&r.org_id).bind(&r.ticket_id).bind(&r.agent_id).bind(&r.token_hash)
        .bind(r.rating).bind(&r.comment).bind(r.sent_at).bind(r.answered_at).execute(c).await?.rows_affected());
    Ok(())
}

pub async fn survey_by_token(tx: &mut Tx, token_hash: &str) -> Result<Option<SurveyRow>> {
    let sql = format!("SELECT {SURVEY_COLS} FROM csat_surveys WHERE token_hash = $1");
    Ok(on!(tx, c => sqlx::query_as::<_, SurveyRow>(&sql).bind(token_hash).fetch_optional(c).await?))
}

/// The latest survey sent for a ticket.
pub async fn survey_for_ticket(
    tx: &mut Tx,
    org_id: &str,
    ticket_id: &str,
) -> Result<Option<SurveyRow>> {
    let sql = format!(
        "SELECT {SURVEY_COLS} FROM csat_surveys WHERE org_id = $1 AND ticket_id = $2 ORDER BY sent_at DESC, id DESC LIMIT 1"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, SurveyRow>(&sql).bind(org_id).bind(ticket_id).fetch_optional(c).await?),
    )
}

/// Records the first answer; a second answer to the same survey changes nothing.
pub async fn answer_survey(
    tx: &mut Tx,
    id: &str,
    rating: i64,
    comment: Option<&str>,
    now: DateTime<Utc>,
) -> Result<u64> {
    Ok(
        on!(tx, c => sqlx::query("UPDATE csat_surveys SET rating = $2, comment = $3, answered_at = $4 WHERE id = $1 AND answered_at IS NULL")
        .bind(id).bind(rating).bind(comment).bind(now).execute(c).await?.rows_affected()),
    )
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct MacroRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub locale: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

pub async fn upsert_macro(tx: &mut Tx, r: &MacroRow) -> Result<()> {
    on!(tx, c => sqlx::query("INSERT INTO macros (id, org_id, name, locale, body, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
        ON CONFLICT (org_id, name, locale) DO UPDATE SET body = excluded.body")
        .bind(&r.id).bind(&r.org_id).bind(&r.name).bind(&r.locale).bind(&r.body).bind(r.created_at).execute(c).await?.rows_affected());
    Ok(())
}

pub async fn macros(tx: &mut Tx, org_id: &str) -> Result<Vec<MacroRow>> {
    Ok(
        on!(tx, c => sqlx::query_as::<_, MacroRow>("SELECT id, org_id, name, locale, body, created_at FROM macros WHERE org_id = $1 ORDER BY name, locale")
        .bind(org_id).fetch_all(c).await?),
    )
}

/// The macro `name` in `locale`, else in English.
pub async fn macro_for(
    tx: &mut Tx,
    org_id: &str,
    name: &str,
    locale: &str,
) -> Result<Option<MacroRow>> {
    Ok(
        on!(tx, c => sqlx::query_as::<_, MacroRow>("SELECT id, org_id, name, locale, body, created_at FROM macros WHERE org_id = $1 AND name = $2 AND locale IN ($3, 'en') ORDER BY CASE WHEN locale = $3 THEN 0 ELSE 1 END LIMIT 1")
        .bind(org_id).bind(name).bind(locale).fetch_optional(c).await?),
    )
}

// ---------------------------------------------------------------------------------------
// Desk actions, identity and calls (queries added for app::desk::{actions, identity, calls})

/// The total of a customer's most recently finalized invoice (void ones included: the
/// caller saw that amount), for knowledge-factor checks.
pub async fn last_finalized_invoice_total(
    tx: &mut Tx,
    org_id: &str,
    customer_id: &str,
) -> Result<Option<i64>> {
    Ok(
        on!(tx, c => sqlx::query_scalar::<_, i64>("SELECT total FROM invoices WHERE org_id = $1 AND customer_id = $2 AND finalized_at IS NOT NULL ORDER BY finalized_at DESC, id DESC LIMIT 1")
        .bind(org_id).bind(customer_id).fetch_optional(c).await?),
    )
}

/// Removes a ticket action whose billing effect failed before anything moved.
pub async fn delete_ticket_action(tx: &mut Tx, org_id: &str, id: &str) -> Result<u64> {
    Ok(
        on!(tx, c => sqlx::query("DELETE FROM ticket_actions WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).execute(c).await?.rows_affected()),
    )
}

/// The id of a live verification of `customer_id` on an interaction: status verified and
/// the interaction not ended (`ended_at IS NULL`) — a verification ends with its interaction.
pub async fn live_verification(
    tx: &mut Tx,
    org_id: &str,
    interaction_id: &str,
    customer_id: &str,
) -> Result<Option<String>> {
    Ok(
        on!(tx, c => sqlx::query_scalar::<_, String>("SELECT v.id FROM identity_verifications v JOIN interactions i ON i.id = v.interaction_id \
        WHERE v.org_id = $1 AND v.interaction_id = $2 AND v.customer_id = $3 AND v.status = 'verified' AND i.ended_at IS NULL ORDER BY v.id DESC LIMIT 1")
        .bind(org_id).bind(interaction_id).bind(customer_id).fetch_optional(c).await?),
    )
}
