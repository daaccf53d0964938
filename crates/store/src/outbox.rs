//! The outbox: events written in the same transaction as the change they record, and what
//! they turn into — email notifications and webhook deliveries with their attempt log.
//!
//! Dispatch claims undispatched events (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's
//! `BEGIN IMMEDIATE` serializes claimers) and marks them dispatched in the transaction that
//! writes their notifications and deliveries, whose unique keys ((event, template) and
//! (endpoint, event)) make a second dispatch of the same event a no-op.

use crate::{Result, Tx};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct EventRow {
    pub id: String,
    pub org_id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub customer_id: Option<String>,
    pub object_id: String,
    pub data: String,
    pub created_at: DateTime<Utc>,
    pub dispatched_at: Option<DateTime<Utc>>,
}

impl crate::bulk::Row for EventRow {
    const TARGET: &'static str =
        "events (id, org_id, type, customer_id, object_id, data, created_at, dispatched_at)";
    const COLUMNS: usize = 8;
    fn put<O: crate::bulk::Out>(&self, o: &mut O) {
        fields!(o; self.id, self.org_id, self.kind, self.customer_id, self.object_id, self.data,
            self.created_at, self.dispatched_at);
    }
}

const EVENT_COLS: &str =
    "id, org_id, type, customer_id, object_id, data, created_at, dispatched_at";

/// In `EVENT_COLS` order (`type` is the field `kind`).
impl crate::bulk::SqliteRead for EventRow {
    fn read_from(row: &rusqlite::Row<'_>, i: &mut usize) -> rusqlite::Result<Self> {
        use crate::bulk::Get;
        let mut next = || {
            *i += 1;
            *i - 1
        };
        Ok(EventRow {
            id: Get::get(row, next())?,
            org_id: Get::get(row, next())?,
            kind: Get::get(row, next())?,
            customer_id: Get::get(row, next())?,
            object_id: Get::get(row, next())?,
            data: Get::get(row, next())?,
            created_at: Get::get(row, next())?,
            dispatched_at: Get::get(row, next())?,
        })
    }
}

pub async fn insert_events(tx: &mut Tx, rows: &[EventRow]) -> Result<u64> {
    crate::bulk::insert(tx, rows).await
}

/// Claims up to `limit` undispatched events, oldest first. The caller dispatches them and
/// calls [`mark_dispatched`] in the same transaction.
pub async fn claim_undispatched(tx: &mut Tx, limit: i64) -> Result<Vec<EventRow>> {
    let skip = match tx {
        Tx::Pg(_) => " FOR UPDATE SKIP LOCKED",
        Tx::Sqlite(_) => "",
    };
    // In `created_at` order only, read off the `events_undispatched` partial index: with `, id`
    // both backends sorted every undispatched event for each claim (events written at the
    // same instant — a bill run's, a batch of charges' — are common).
    let sql = format!(
        "SELECT {EVENT_COLS} FROM events WHERE dispatched_at IS NULL ORDER BY created_at LIMIT $1{skip}"
    );
    match tx {
        Tx::Pg(t) => Ok(sqlx::query_as::<_, EventRow>(&sql)
            .bind(limit)
            .fetch_all(&mut **t)
            .await?),
        // Decoded by position: each event carries its JSON snapshot.
        Tx::Sqlite(_) => crate::bulk::sqlite_rows(tx, &sql, &[&limit]).await,
    }
}

/// Marks `events` dispatched: one prepared statement stepped per event on SQLite, one array
/// statement per organisation on PostgreSQL (whose events are keyed by organisation first).
pub async fn mark_dispatched(tx: &mut Tx, events: &[EventRow], now: DateTime<Utc>) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    match tx {
        Tx::Pg(t) => {
            let by_org =
                crate::ids_by_org(events.iter().map(|e| (e.org_id.as_str(), e.id.as_str())));
            for (org, ids) in by_org {
                sqlx::query(
                    "UPDATE events SET dispatched_at = $3 WHERE org_id = $1 AND id = ANY($2) AND dispatched_at IS NULL",
                )
                .bind(org)
                .bind(ids)
                .bind(now)
                .execute(&mut **t)
                .await?;
            }
        }
        Tx::Sqlite(_) => {
            let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
            let sql = "UPDATE events SET dispatched_at = ? WHERE id = ? AND dispatched_at IS NULL";
            crate::bulk::sqlite_each(tx, sql, &ids, |id, o| {
                crate::fields!(o; now, *id);
            })
            .await?;
        }
    }
    Ok(())
}

/// The events of `ids` that exist, in one statement (any order).
pub async fn get_events(tx: &mut Tx, org_id: &str, ids: &[String]) -> Result<Vec<EventRow>> {
    let head = format!("SELECT {EVENT_COLS} FROM events WHERE org_id = ");
    crate::bulk::in_rows(tx, &head, org_id, "id", ids, "").await
}

pub async fn get_event(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<EventRow>> {
    let sql = format!("SELECT {EVENT_COLS} FROM events WHERE org_id = $1 AND id = $2");
    Ok(
        on!(tx, c => sqlx::query_as::<_, EventRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// Events newest first, of one type and/or customer if given.
pub async fn list_events(
    tx: &mut Tx,
    org_id: &str,
    kind: Option<&str>,
    customer: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<EventRow>> {
    let cus = crate::db::eq_if("customer_id", 3, customer.is_some());
    let sql = format!(
        "SELECT {EVENT_COLS} FROM events WHERE org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR type = $2) \
         AND {cus} AND (CAST($4 AS TEXT) IS NULL OR id < $4) \
         ORDER BY id DESC LIMIT $5"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, EventRow>(&sql).bind(org_id).bind(kind).bind(customer)
        .bind(starting_after).bind(limit).fetch_all(c).await?),
    )
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct NotificationRow {
    pub id: String,
    pub org_id: String,
    pub customer_id: String,
    pub event_id: String,
    pub template: String,
    pub channel: String,
    pub locale: String,
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

crate::sqlite_read!(NotificationRow {
    id,
    org_id,
    customer_id,
    event_id,
    template,
    channel,
    locale,
    recipient,
    subject,
    body,
    status,
    attempts,
    last_error,
    created_at,
    updated_at,
    sent_at,
});

const NOTIFICATION_COLS: &str = NotificationRow::COLUMNS;

impl crate::bulk::Row for NotificationRow {
    const TARGET: &'static str = "notifications (id, org_id, customer_id, event_id, template, \
        channel, locale, recipient, subject, body, status, attempts, last_error, created_at, \
        updated_at, sent_at)";
    const COLUMNS: usize = 16;
    fn put<O: crate::bulk::Out>(&self, o: &mut O) {
        fields!(o; self.id, self.org_id, self.customer_id, self.event_id, self.template,
            self.channel, self.locale, self.recipient, self.subject, self.body, self.status,
            self.attempts, self.last_error, self.created_at, self.updated_at, self.sent_at);
    }
}

/// Adds notifications; one for an (event, template) that exists (or comes twice in `rows`)
/// is skipped. Returns the ids added. The existing pairs are read first, in one statement
/// per organisation, and the rest written in bulk: the dispatcher holds its events (locked
/// on PostgreSQL, the write lock on SQLite), so nothing else adds theirs meanwhile — and if
/// anything did, the unique key fails the whole transaction rather than doubling a row.
pub async fn insert_notifications(tx: &mut Tx, rows: &[NotificationRow]) -> Result<Vec<String>> {
    insert_new(tx, rows, NOTIFICATION_PAIRS, |r| {
        (&r.org_id, &r.event_id, &r.template, &r.id)
    })
    .await
}

/// Writes the `rows` whose (event, other key) pair is not in the table yet (nor earlier in
/// `rows`), in bulk; `keys` gives a row's (organisation, event, other key, id) and `head`
/// selects the table's pairs, ending with `org_id = `. Returns the ids written.
async fn insert_new<R: crate::bulk::Row + Clone>(
    tx: &mut Tx,
    rows: &[R],
    head: &str,
    keys: impl Fn(&R) -> (&String, &String, &String, &String),
) -> Result<Vec<String>> {
    let mut taken = existing_pairs(
        tx,
        rows.iter().map(|r| {
            let (org, event, _, _) = keys(r);
            (org.as_str(), event.as_str())
        }),
        head,
    )
    .await?;
    let new: Vec<R> = rows
        .iter()
        .filter(|r| {
            let (_, event, other, _) = keys(r);
            taken.insert((event.clone(), other.clone()))
        })
        .cloned()
        .collect();
    crate::bulk::insert(tx, &new).await?;
    Ok(new.iter().map(|r| keys(r).3.clone()).collect())
}

/// The (event, template) pairs of notifications, for [`existing_pairs`].
const NOTIFICATION_PAIRS: &str =
    "SELECT event_id, template FROM notifications WHERE org_id || '' = ";
/// The (event, endpoint) pairs of deliveries, for [`existing_pairs`].
const DELIVERY_PAIRS: &str =
    "SELECT event_id, endpoint_id FROM webhook_deliveries WHERE org_id || '' = ";

/// The (event, other key) pairs of a table for the events of `keys` ((organisation, event)),
/// one `select_in!` per organisation; `head` selects the two columns and ends with
/// `org_id || '' = `: an expression, so that no planner answers by the table's
/// `(org_id, …)` index — a scan of every row of the organisation — instead of the
/// `UNIQUE (event_id, …)` one (SQLite did, on a database without statistics yet: each
/// dispatch then read every notification ever written).
async fn existing_pairs<'a>(
    tx: &mut Tx,
    keys: impl Iterator<Item = (&'a str, &'a str)>,
    head: &str,
) -> Result<std::collections::HashSet<(String, String)>> {
    let mut out = std::collections::HashSet::new();
    for (org, events) in crate::ids_by_org(keys) {
        out.extend(crate::select_in!(
            tx,
            (String, String),
            head,
            org,
            "event_id",
            &events,
            ""
        ));
    }
    Ok(out)
}

/// The notifications of `ids` that exist, in one statement (any order).
pub async fn get_notifications(
    tx: &mut Tx,
    org_id: &str,
    ids: &[String],
) -> Result<Vec<NotificationRow>> {
    let head = format!("SELECT {NOTIFICATION_COLS} FROM notifications WHERE org_id = ");
    crate::bulk::in_rows(tx, &head, org_id, "id", ids, "").await
}

pub async fn get_notification(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
) -> Result<Option<NotificationRow>> {
    let sql =
        format!("SELECT {NOTIFICATION_COLS} FROM notifications WHERE org_id = $1 AND id = $2");
    Ok(
        on!(tx, c => sqlx::query_as::<_, NotificationRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// Notifications newest first, of one customer if given.
pub async fn list_notifications(
    tx: &mut Tx,
    org_id: &str,
    customer: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<NotificationRow>> {
    let cus = crate::db::eq_if("customer_id", 2, customer.is_some());
    let sql = format!(
        "SELECT {NOTIFICATION_COLS} FROM notifications WHERE org_id = $1 AND {cus} \
         AND (CAST($3 AS TEXT) IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, NotificationRow>(&sql).bind(org_id).bind(customer)
        .bind(starting_after).bind(limit).fetch_all(c).await?),
    )
}

/// The notifications of the given events.
pub async fn notifications_of_events(
    tx: &mut Tx,
    org_id: &str,
    events: &[String],
) -> Result<Vec<NotificationRow>> {
    let head = format!("SELECT {NOTIFICATION_COLS} FROM notifications WHERE org_id = ");
    Ok(select_in!(
        tx,
        NotificationRow,
        head.as_str(),
        org_id,
        "event_id",
        events,
        " ORDER BY id"
    ))
}

/// One send attempt's outcome, for [`record_notifications`].
pub struct Attempt<'a> {
    pub id: &'a str,
    pub status: &'a str,
    pub recipient: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub body: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// Records send attempts: what was rendered, and the outcome (`sent`, `queued` for a
/// retry, `failed`, `skipped`). One array statement on PostgreSQL, one prepared statement
/// stepped per row on SQLite.
pub async fn record_notifications(
    tx: &mut Tx,
    rows: &[Attempt<'_>],
    now: DateTime<Utc>,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    match tx {
        Tx::Pg(t) => {
            let col = |f: for<'b> fn(&'b Attempt<'b>) -> Option<&'b str>| -> Vec<Option<String>> {
                rows.iter().map(|r| f(r).map(str::to_string)).collect()
            };
            sqlx::query(
                "UPDATE notifications AS n SET status = u.status, recipient = COALESCE(u.recipient, n.recipient), \
                 subject = COALESCE(u.subject, n.subject), body = COALESCE(u.body, n.body), last_error = u.error, \
                 attempts = n.attempts + 1, updated_at = $2, \
                 sent_at = CASE WHEN u.status = 'sent' THEN $2 ELSE n.sent_at END \
                 FROM UNNEST($1::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) \
                      AS u(id, status, recipient, subject, body, error) \
                 WHERE n.id = u.id",
            )
            .bind(rows.iter().map(|r| r.id.to_string()).collect::<Vec<_>>())
            .bind(now)
            .bind(rows.iter().map(|r| r.status.to_string()).collect::<Vec<_>>())
            .bind(col(|r| r.recipient))
            .bind(col(|r| r.subject))
            .bind(col(|r| r.body))
            .bind(col(|r| r.error))
            .execute(&mut **t)
            .await?;
        }
        Tx::Sqlite(_) => {
            // (`?N`: SQLite numbers parameters by first appearance, not by `$N`.)
            let sql = "UPDATE notifications SET status = ?2, recipient = COALESCE(?3, recipient), \
                 subject = COALESCE(?4, subject), body = COALESCE(?5, body), last_error = ?6, \
                 attempts = attempts + 1, updated_at = ?7, \
                 sent_at = CASE WHEN ?2 = 'sent' THEN ?7 ELSE sent_at END WHERE id = ?1";
            crate::bulk::sqlite_each(tx, sql, rows, |r, o| {
                fields!(o; r.id, r.status, r.recipient, r.subject, r.body, r.error, now);
            })
            .await?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct EndpointRow {
    pub id: String,
    pub org_id: String,
    pub url: String,
    pub description: Option<String>,
    pub event_types: String,
    pub secret: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const ENDPOINT_COLS: &str =
    "id, org_id, url, description, event_types, secret, enabled, created_at, updated_at";

pub async fn insert_endpoint(tx: &mut Tx, r: &EndpointRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO webhook_endpoints ({ENDPOINT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    );
    on!(tx, c => sqlx::query(&sql).bind(&r.id).bind(&r.org_id).bind(&r.url).bind(&r.description)
        .bind(&r.event_types).bind(&r.secret).bind(r.enabled).bind(r.created_at).bind(r.updated_at)
        .execute(c).await?.rows_affected());
    Ok(())
}

pub async fn update_endpoint(tx: &mut Tx, r: &EndpointRow) -> Result<()> {
    on!(tx, c => sqlx::query(
        "UPDATE webhook_endpoints SET url = $3, description = $4, event_types = $5, enabled = $6, updated_at = $7 \
         WHERE org_id = $1 AND id = $2")
        .bind(&r.org_id).bind(&r.id).bind(&r.url).bind(&r.description).bind(&r.event_types).bind(r.enabled)
        .bind(r.updated_at).execute(c).await?.rows_affected());
    Ok(())
}

pub async fn get_endpoint(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<EndpointRow>> {
    let sql =
        format!("SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE org_id = $1 AND id = $2");
    Ok(
        on!(tx, c => sqlx::query_as::<_, EndpointRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

pub async fn list_endpoints(
    tx: &mut Tx,
    org_id: &str,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<EndpointRow>> {
    let sql = format!(
        "SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE org_id = $1 \
         AND (CAST($2 AS TEXT) IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, EndpointRow>(&sql).bind(org_id).bind(starting_after)
        .bind(limit).fetch_all(c).await?),
    )
}

/// The enabled endpoints of the given organisations (for dispatch).
pub async fn enabled_endpoints(tx: &mut Tx, orgs: &[String]) -> Result<Vec<EndpointRow>> {
    let mut out = Vec::new();
    for org in orgs {
        let sql = format!(
            "SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE org_id = $1 AND enabled ORDER BY id"
        );
        out.extend(
            on!(tx, c => sqlx::query_as::<_, EndpointRow>(&sql).bind(org).fetch_all(c).await?),
        );
    }
    Ok(out)
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct DeliveryRow {
    pub id: String,
    pub org_id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub status: String,
    pub attempts: i64,
    pub replays: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

const DELIVERY_COLS: &str =
    "id, org_id, endpoint_id, event_id, status, attempts, replays, last_status_code, \
    last_error, created_at, updated_at, delivered_at";

/// Adds deliveries; one for an (endpoint, event) that exists is skipped. Returns the ids
/// added.
impl crate::bulk::Row for DeliveryRow {
    const TARGET: &'static str = "webhook_deliveries (id, org_id, endpoint_id, event_id, status, \
        attempts, replays, last_status_code, last_error, created_at, updated_at, delivered_at)";
    const COLUMNS: usize = 12;
    fn put<O: crate::bulk::Out>(&self, o: &mut O) {
        fields!(o; self.id, self.org_id, self.endpoint_id, self.event_id, self.status,
            self.attempts, self.replays, self.last_status_code, self.last_error, self.created_at,
            self.updated_at, self.delivered_at);
    }
}

/// Adds deliveries; one for an (endpoint, event) that exists (or comes twice) is skipped,
/// as [`insert_notifications`]. Returns the ids added.
pub async fn insert_deliveries(tx: &mut Tx, rows: &[DeliveryRow]) -> Result<Vec<String>> {
    insert_new(tx, rows, DELIVERY_PAIRS, |r| {
        (&r.org_id, &r.event_id, &r.endpoint_id, &r.id)
    })
    .await
}

pub async fn get_delivery(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<DeliveryRow>> {
    let sql =
        format!("SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE org_id = $1 AND id = $2");
    Ok(
        on!(tx, c => sqlx::query_as::<_, DeliveryRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

/// Deliveries newest first, of one endpoint and/or status if given.
pub async fn list_deliveries(
    tx: &mut Tx,
    org_id: &str,
    endpoint: Option<&str>,
    status: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<DeliveryRow>> {
    let sql = format!(
        "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR endpoint_id = $2) \
         AND (CAST($3 AS TEXT) IS NULL OR status = $3) AND (CAST($4 AS TEXT) IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, DeliveryRow>(&sql).bind(org_id).bind(endpoint).bind(status)
        .bind(starting_after).bind(limit).fetch_all(c).await?),
    )
}

/// Records one HTTP attempt and the delivery's state after it.
#[allow(clippy::too_many_arguments)]
pub async fn record_attempt(
    tx: &mut Tx,
    delivery: &str,
    status: &str,
    status_code: Option<i64>,
    error: Option<&str>,
    response_body: Option<&str>,
    duration_ms: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    on!(tx, c => sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, seq, attempted_at, status_code, error, response_body, duration_ms) \
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6 FROM webhook_attempts WHERE delivery_id = $1")
        .bind(delivery).bind(now).bind(status_code).bind(error).bind(response_body).bind(duration_ms)
        .execute(c).await?.rows_affected());
    on!(tx, c => sqlx::query(
        "UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, last_status_code = $3, last_error = $4, \
         updated_at = $5, delivered_at = CASE WHEN $2 = 'succeeded' THEN $5 ELSE delivered_at END WHERE id = $1")
        .bind(delivery).bind(status).bind(status_code).bind(error).bind(now).execute(c).await?.rows_affected());
    Ok(())
}

/// Makes a delivery pending again for a manual replay; returns its replay number.
pub async fn start_replay(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    Ok(on!(tx, c => sqlx::query_scalar::<_, i64>(
        "UPDATE webhook_deliveries SET status = 'pending', replays = replays + 1, updated_at = $3 \
         WHERE org_id = $1 AND id = $2 RETURNING replays")
        .bind(org_id).bind(id).bind(now).fetch_optional(c).await?))
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct AttemptRow {
    pub delivery_id: String,
    pub seq: i64,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub response_body: Option<String>,
    pub duration_ms: i64,
}

pub async fn attempts(tx: &mut Tx, delivery: &str) -> Result<Vec<AttemptRow>> {
    Ok(on!(tx, c => sqlx::query_as::<_, AttemptRow>(
        "SELECT delivery_id, seq, attempted_at, status_code, error, response_body, duration_ms \
         FROM webhook_attempts WHERE delivery_id = $1 ORDER BY seq")
        .bind(delivery).fetch_all(c).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, sqlite_plan as plan};
    use crate::Backend;

    /// Dispatch's check for what its events already have goes by event through the unique
    /// keys, never through the organisation's index (a scan of every row it ever wrote).
    #[tokio::test]
    async fn existing_pairs_are_looked_up_by_event() {
        let (db, _) = testing::fresh(Backend::Sqlite).await.unwrap();
        let notes = plan(
            &db,
            &format!("{NOTIFICATION_PAIRS}? AND event_id IN (?, ?)"),
            3,
        )
        .await;
        assert!(notes.contains("(event_id=?"), "{notes}");
        assert!(!notes.contains("notifications_customer"), "{notes}");
        let deliveries = plan(&db, &format!("{DELIVERY_PAIRS}? AND event_id IN (?, ?)"), 3).await;
        assert!(
            deliveries.contains("webhook_deliveries_event"),
            "{deliveries}"
        );
    }
}
