//! Plain facts for the desk KPIs (DESK.md "KPIs"): which tickets were solved in a range and
//! the agent contacts and reopens around each, first responses, handling times, survey
//! ratings, finalized and credited invoices, and contact counts. No KPI arithmetic here:
//! `app::desk::kpi` applies `desk::kpi` to these facts.
//!
//! Every query takes the organisation, a half-open range `[from, to)` and the optional
//! filters of [`Filter`]. Which column a filter matches depends on the fact (documented on
//! each function and in `app::desk::kpi`).

use crate::{Result, Tx};
use chrono::{DateTime, Utc};

/// Optional report filters; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// A team key: the ticket's (current) team.
    pub team: Option<String>,
    /// A staff id: matched to the resolver, first responder, author, survey agent or
    /// assignee, as each fact says.
    pub agent: Option<String>,
    /// email, chat, phone, portal, api: the ticket's channel, or the interaction's for
    /// contacts and handling times.
    pub channel: Option<String>,
}

/// A public agent reply: an outbound message written by staff (not the automatic
/// acknowledgement or survey, which are `system`).
const AGENT_REPLY: &str =
    "(i.direction = 'outbound' AND i.author_type = 'staff' AND i.kind = 'message')";
/// A call or chat session with an agent (a call nobody answered is logged as `system`).
const SESSION: &str = "(i.kind IN ('call', 'chat') AND i.author_type = 'staff')";
/// A contact from the customer: an inbound message that is not automatic mail (bounces,
/// auto-replies, list mail), or a call or chat session (either direction, counted once).
const CONTACT: &str =
    "((i.direction = 'inbound' AND i.automatic IS NULL) OR i.kind IN ('call', 'chat'))";

/// Tickets first solved in `[$2, $3)`: the first status change to `resolved` (or `closed`)
/// is in the range; a ticket reopened and solved again still counts once, at its first
/// resolution. Filters: `$4` team, `$5` resolver (`resolved_by`, else the assignee), `$6`
/// the ticket's channel. Defines the CTE `s (id, team, created_at, merged_into,
/// resolved_at)`.
const RESOLVED: &str = "WITH r AS (SELECT ticket_id, MIN(at) AS at FROM ticket_status_changes \
    WHERE org_id = $1 AND to_status IN ('resolved', 'closed') AND at < $3 \
    GROUP BY ticket_id HAVING MIN(at) >= $2), \
    s AS (SELECT t.id, t.team, t.created_at, t.merged_into, r.at AS resolved_at \
    FROM tickets t JOIN r ON r.ticket_id = t.id WHERE t.org_id = $1 \
    AND (CAST($4 AS TEXT) IS NULL OR t.team = $4) \
    AND (CAST($5 AS TEXT) IS NULL OR COALESCE(t.resolved_by, t.assignee_id) = $5) \
    AND (CAST($6 AS TEXT) IS NULL OR t.channel = $6)) ";

/// One ticket first solved in the range, with what FCR and time to resolution need.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub ticket_id: String,
    pub team: String,
    pub created_at: DateTime<Utc>,
    pub merged: bool,
    /// The first resolution.
    pub resolved_at: DateTime<Utc>,
    /// Every public agent reply and call/chat session on the ticket, any time:
    /// `(at, is_session)`, in order.
    pub agent_contacts: Vec<(DateTime<Utc>, bool)>,
    /// Every move from `resolved` back to an unsolved status, any time, in order.
    pub reopens: Vec<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct ResolvedRow {
    id: String,
    team: String,
    created_at: DateTime<Utc>,
    merged_into: Option<String>,
    resolved_at: DateTime<Utc>,
}

macro_rules! bind_filter {
    ($q:expr, $org:expr, $from:expr, $to:expr, $f:expr) => {
        $q.bind($org)
            .bind($from)
            .bind($to)
            .bind(&$f.team)
            .bind(&$f.agent)
            .bind(&$f.channel)
    };
}

/// The tickets first solved in `[from, to)` (see [`RESOLVED`] for the filters), oldest
/// resolution first.
pub async fn resolved(
    tx: &mut Tx,
    org_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    f: &Filter,
) -> Result<Vec<Resolved>> {
    let sql = format!(
        "{RESOLVED}SELECT id, team, created_at, merged_into, resolved_at FROM s ORDER BY resolved_at, id"
    );
    let rows: Vec<ResolvedRow> = on!(tx, c => bind_filter!(sqlx::query_as::<_, ResolvedRow>(&sql), org_id, from, to, f).fetch_all(c).await?);
    let sql = format!(
        "{RESOLVED}SELECT i.ticket_id, i.created_at, CASE WHEN {SESSION} THEN 1 ELSE 0 END AS session \
         FROM interactions i JOIN s ON s.id = i.ticket_id WHERE i.org_id = $1 AND ({AGENT_REPLY} OR {SESSION}) \
         ORDER BY i.created_at, i.id"
    );
    let contacts: Vec<(String, DateTime<Utc>, i32)> = on!(tx, c => bind_filter!(sqlx::query_as::<_, (String, DateTime<Utc>, i32)>(&sql), org_id, from, to, f).fetch_all(c).await?);
    let sql = format!(
        "{RESOLVED}SELECT c.ticket_id, c.at FROM ticket_status_changes c JOIN s ON s.id = c.ticket_id \
         WHERE c.org_id = $1 AND c.from_status = 'resolved' \
         AND c.to_status IN ('new', 'open', 'pending_customer', 'pending_internal') ORDER BY c.at, c.id"
    );
    let reopens: Vec<(String, DateTime<Utc>)> = on!(tx, c => bind_filter!(sqlx::query_as::<_, (String, DateTime<Utc>)>(&sql), org_id, from, to, f).fetch_all(c).await?);
    let mut out: Vec<Resolved> = rows
        .into_iter()
        .map(|r| Resolved {
            ticket_id: r.id,
            team: r.team,
            created_at: r.created_at,
            merged: r.merged_into.is_some(),
            resolved_at: r.resolved_at,
            agent_contacts: Vec::new(),
            reopens: Vec::new(),
        })
        .collect();
    let index: std::collections::HashMap<String, usize> = out
        .iter()
        .enumerate()
        .map(|(i, r)| (r.ticket_id.clone(), i))
        .collect();
    for (ticket, at, session) in contacts {
        if let Some(&i) = index.get(&ticket) {
            out[i].agent_contacts.push((at, session != 0));
        }
    }
    for (ticket, at) in reopens {
        if let Some(&i) = index.get(&ticket) {
            out[i].reopens.push(at);
        }
    }
    Ok(out)
}

/// `(team, created_at, first_response_at)` of the tickets whose first public agent reply
/// is in `[from, to)`, merged tickets left out. Filters: team and channel of the ticket;
/// agent = the author of the first public agent reply (the assignee when no reply row is
/// found).
pub async fn first_responses(
    tx: &mut Tx,
    org_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    f: &Filter,
) -> Result<Vec<(String, DateTime<Utc>, DateTime<Utc>)>> {
    let sql = format!(
        "SELECT t.team, t.created_at, t.first_response_at FROM tickets t WHERE t.org_id = $1 \
         AND t.first_response_at >= $2 AND t.first_response_at < $3 AND t.merged_into IS NULL \
         AND (CAST($4 AS TEXT) IS NULL OR t.team = $4) \
         AND (CAST($5 AS TEXT) IS NULL OR COALESCE((SELECT i.author_id FROM interactions i \
              WHERE i.org_id = t.org_id AND i.ticket_id = t.id AND {AGENT_REPLY} \
              ORDER BY i.created_at, i.id LIMIT 1), t.assignee_id) = $5) \
         AND (CAST($6 AS TEXT) IS NULL OR t.channel = $6) ORDER BY t.first_response_at, t.id"
    );
    Ok(
        on!(tx, c => bind_filter!(sqlx::query_as::<_, (String, DateTime<Utc>, DateTime<Utc>)>(&sql), org_id, from, to, f).fetch_all(c).await?),
    )
}

/// The handling times of one contact handled by an agent.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Handled {
    /// message, call or chat.
    pub kind: String,
    pub handling_secs: Option<i64>,
    pub talk_secs: Option<i64>,
    pub hold_secs: Option<i64>,
    pub wrap_secs: Option<i64>,
}

/// Contacts handled in `[from, to)` (by the interaction's `created_at`): every call and
/// chat session with an agent, and every public agent reply that recorded its handling seconds. Filters:
/// the ticket's team (interactions without a ticket are left out then), agent = the
/// interaction's author, channel = the interaction's.
pub async fn handled(
    tx: &mut Tx,
    org_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    f: &Filter,
) -> Result<Vec<Handled>> {
    let sql = format!(
        "SELECT i.kind, i.handling_secs, i.talk_secs, i.hold_secs, i.wrap_secs FROM interactions i \
         LEFT JOIN tickets t ON t.id = i.ticket_id \
         WHERE i.org_id = $1 AND i.created_at >= $2 AND i.created_at < $3 \
         AND ({SESSION} OR ({AGENT_REPLY} AND i.handling_secs IS NOT NULL)) \
         AND (CAST($4 AS TEXT) IS NULL OR t.team = $4) \
         AND (CAST($5 AS TEXT) IS NULL OR i.author_id = $5) \
         AND (CAST($6 AS TEXT) IS NULL OR i.channel = $6) ORDER BY i.created_at, i.id"
    );
    Ok(
        on!(tx, c => bind_filter!(sqlx::query_as::<_, Handled>(&sql), org_id, from, to, f).fetch_all(c).await?),
    )
}

/// `(agent_id, rating)` of the CSAT surveys sent in `[from, to)` (a survey is sent at
/// resolution), answered or not. Filters: the ticket's team and channel, agent = the
/// survey's agent (who resolved the ticket).
pub async fn surveys(
    tx: &mut Tx,
    org_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    f: &Filter,
) -> Result<Vec<(Option<String>, Option<i64>)>> {
    let sql =
        "SELECT s.agent_id, s.rating FROM csat_surveys s JOIN tickets t ON t.id = s.ticket_id \
         WHERE s.org_id = $1 AND s.sent_at >= $2 AND s.sent_at < $3 \
         AND (CAST($4 AS TEXT) IS NULL OR t.team = $4) \
         AND (CAST($5 AS TEXT) IS NULL OR s.agent_id = $5) \
         AND (CAST($6 AS TEXT) IS NULL OR t.channel = $6) ORDER BY s.sent_at, s.id";
    Ok(
        on!(tx, c => bind_filter!(sqlx::query_as::<_, (Option<String>, Option<i64>)>(sql), org_id, from, to, f).fetch_all(c).await?),
    )
}

/// The UTC calendar date (`YYYY-MM-DD`) or month (`YYYY-MM`) of a timestamp column, as
/// text. SQLite keeps timestamps as RFC 3339 UTC text, so a prefix is the date.
fn utc_prefix(tx: &Tx, col: &str, month: bool) -> String {
    match (tx, month) {
        (Tx::Sqlite(_), false) => format!("substr({col}, 1, 10)"),
        (Tx::Sqlite(_), true) => format!("substr({col}, 1, 7)"),
        (Tx::Pg(_), false) => format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
        (Tx::Pg(_), true) => format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM')"),
    }
}

/// Per UTC month (`YYYY-MM`) of finalization in `[from, to)`: `(month, finalized,
/// credited)` where `credited` counts the invoices with at least one credit note of reason
/// `billing_error` (issued any time). Not filtered: invoices belong to no team or agent.
pub async fn finalized_by_month(
    tx: &mut Tx,
    org_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(String, i64, i64)>> {
    let month = utc_prefix(tx, "i.finalized_at", true);
    let sql = format!(
        "SELECT {month} AS month, COUNT(*) AS finalized, \
         SUM(CASE WHEN EXISTS (SELECT 1 FROM credit_notes c WHERE c.org_id = i.org_id AND c.invoice_id = i.id \
              AND c.reason = 'billing_error') THEN 1 ELSE 0 END) AS credited \
         FROM invoices i WHERE i.org_id = $1 AND i.finalized_at >= $2 AND i.finalized_at < $3 \
         GROUP BY {month} ORDER BY 1"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, (String, i64, i64)>(&sql).bind(org_id).bind(from).bind(to).fetch_all(c).await?),
    )
}

/// Invoices finalized in `[from, to)` (any status since). Not filtered.
pub async fn finalized_count(
    tx: &mut Tx,
    org_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64> {
    Ok(
        on!(tx, c => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM invoices WHERE org_id = $1 AND finalized_at >= $2 AND finalized_at < $3")
        .bind(org_id).bind(from).bind(to).fetch_one(c).await?),
    )
}

/// Contacts in `[from, to)` per UTC day and interaction channel: `(date, channel,
/// contacts)`, by date then channel. A contact is an inbound message that is not automatic
/// mail, or a call or chat session. Filters: the ticket's team and assignee (contacts
/// without a ticket are left out then), the interaction's channel.
pub async fn contacts_by_day(
    tx: &mut Tx,
    org_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    f: &Filter,
) -> Result<Vec<(String, String, i64)>> {
    let day = utc_prefix(tx, "i.created_at", false);
    let sql = format!(
        "SELECT {day} AS day, i.channel, COUNT(*) AS contacts FROM interactions i \
         LEFT JOIN tickets t ON t.id = i.ticket_id \
         WHERE i.org_id = $1 AND i.created_at >= $2 AND i.created_at < $3 AND {CONTACT} \
         AND (CAST($4 AS TEXT) IS NULL OR t.team = $4) \
         AND (CAST($5 AS TEXT) IS NULL OR t.assignee_id = $5) \
         AND (CAST($6 AS TEXT) IS NULL OR i.channel = $6) \
         GROUP BY {day}, i.channel ORDER BY 1, 2"
    );
    Ok(
        on!(tx, c => bind_filter!(sqlx::query_as::<_, (String, String, i64)>(&sql), org_id, from, to, f).fetch_all(c).await?),
    )
}

/// Contacts in `[from, to)` (as [`contacts_by_day`], same filters) on tickets of one of
/// `categories`.
pub async fn contacts_in_categories(
    tx: &mut Tx,
    org_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    f: &Filter,
    categories: &[&str],
) -> Result<i64> {
    let list = categories
        .iter()
        .filter(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'))
        .map(|c| format!("'{c}'"))
        .collect::<Vec<_>>()
        .join(", ");
    if list.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "SELECT COUNT(*) FROM interactions i JOIN tickets t ON t.id = i.ticket_id \
         WHERE i.org_id = $1 AND i.created_at >= $2 AND i.created_at < $3 AND {CONTACT} \
         AND t.category IN ({list}) \
         AND (CAST($4 AS TEXT) IS NULL OR t.team = $4) \
         AND (CAST($5 AS TEXT) IS NULL OR t.assignee_id = $5) \
         AND (CAST($6 AS TEXT) IS NULL OR i.channel = $6)"
    );
    Ok(
        on!(tx, c => bind_filter!(sqlx::query_scalar::<_, i64>(&sql), org_id, from, to, f).fetch_one(c).await?),
    )
}

/// Tickets created in `[from, to)` per category: `(category, tickets)`, most first, merged
/// tickets left out. Filters: the ticket's team, assignee and channel.
pub async fn categories(
    tx: &mut Tx,
    org_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    f: &Filter,
) -> Result<Vec<(String, i64)>> {
    let sql = "SELECT t.category, COUNT(*) AS n FROM tickets t \
         WHERE t.org_id = $1 AND t.created_at >= $2 AND t.created_at < $3 AND t.merged_into IS NULL \
         AND (CAST($4 AS TEXT) IS NULL OR t.team = $4) \
         AND (CAST($5 AS TEXT) IS NULL OR t.assignee_id = $5) \
         AND (CAST($6 AS TEXT) IS NULL OR t.channel = $6) \
         GROUP BY t.category ORDER BY 2 DESC, 1";
    Ok(
        on!(tx, c => bind_filter!(sqlx::query_as::<_, (String, i64)>(sql), org_id, from, to, f).fetch_all(c).await?),
    )
}

/// Invoice line kinds (subscription, proration, usage, one_off) of the invoices linked to
/// tickets created in `[from, to)`: `(kind, tickets)` counting each ticket once per kind,
/// most first. Filters as [`categories`].
pub async fn line_kinds(
    tx: &mut Tx,
    org_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    f: &Filter,
) -> Result<Vec<(String, i64)>> {
    let sql = "SELECT l.kind, COUNT(DISTINCT t.id) AS n FROM tickets t \
         JOIN ticket_links k ON k.ticket_id = t.id AND k.object_type = 'invoice' \
         JOIN invoice_lines l ON l.invoice_id = k.object_id AND l.org_id = t.org_id \
         WHERE t.org_id = $1 AND t.created_at >= $2 AND t.created_at < $3 AND t.merged_into IS NULL \
         AND (CAST($4 AS TEXT) IS NULL OR t.team = $4) \
         AND (CAST($5 AS TEXT) IS NULL OR t.assignee_id = $5) \
         AND (CAST($6 AS TEXT) IS NULL OR t.channel = $6) \
         GROUP BY l.kind ORDER BY 2 DESC, 1";
    Ok(
        on!(tx, c => bind_filter!(sqlx::query_as::<_, (String, i64)>(sql), org_id, from, to, f).fetch_all(c).await?),
    )
}
