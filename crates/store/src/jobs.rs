//! The job queue's table: enqueue once per (organisation, kind, dedupe key), claim under a
//! lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` serializes
//! claimers), finish, or fail with a retry time.

use crate::{Result, Tx};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct JobRow {
    pub id: String,
    pub org_id: String,
    pub kind: String,
    pub payload: String,
    pub dedupe_key: String,
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: DateTime<Utc>,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Run only when this test clock is advanced (None: by the wall clock).
    pub test_clock_id: Option<String>,
}

const COLS: &str =
    "id, org_id, kind, payload, dedupe_key, status, attempts, max_attempts, run_at, locked_by, \
    locked_until, last_error, created_at, updated_at, finished_at, test_clock_id";

/// Adds jobs; one whose (organisation, kind, dedupe key) exists already is skipped.
/// Returns how many were added.
pub async fn enqueue(tx: &mut Tx, rows: &[JobRow]) -> Result<u64> {
    let mut added = 0;
    for part in rows.chunks(500) {
        added += on!(tx, c => {
            let mut qb = sqlx::QueryBuilder::new(format!("INSERT INTO jobs ({COLS}) "));
            qb.push_values(part, |mut b, r| {
                b.push_bind(&r.id).push_bind(&r.org_id).push_bind(&r.kind).push_bind(&r.payload)
                    .push_bind(&r.dedupe_key).push_bind(&r.status).push_bind(r.attempts).push_bind(r.max_attempts)
                    .push_bind(r.run_at).push_bind(&r.locked_by).push_bind(r.locked_until).push_bind(&r.last_error)
                    .push_bind(r.created_at).push_bind(r.updated_at).push_bind(r.finished_at).push_bind(&r.test_clock_id);
            });
            qb.push(" ON CONFLICT (org_id, kind, dedupe_key) DO NOTHING");
            qb.build().execute(c).await?.rows_affected()
        });
    }
    Ok(added)
}

/// Claims up to `limit` jobs that are due (queued with `run_at <= now`, or running under a
/// lease that ran out — their worker died) for `worker` until `lease_until`, counting an
/// attempt. Two claimers never get the same job. `clock`: the jobs of that test clock
/// (`now` is its time); None: the jobs of no clock (`now` is the wall clock).
pub async fn claim(
    tx: &mut Tx,
    worker: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
    clock: Option<&str>,
) -> Result<Vec<JobRow>> {
    let skip = match tx {
        Tx::Pg(_) => " FOR UPDATE SKIP LOCKED",
        Tx::Sqlite(_) => "",
    };
    let which = if clock.is_some() {
        "test_clock_id = $5"
    } else {
        "test_clock_id IS NULL AND CAST($5 AS TEXT) IS NULL"
    };
    let sql = format!(
        "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $3, attempts = attempts + 1, updated_at = $2 \
         WHERE id IN (SELECT id FROM jobs WHERE {which} AND ((status = 'queued' AND run_at <= $2) OR (status = 'running' AND locked_until < $2)) \
                      ORDER BY run_at, id LIMIT $4{skip}) \
         RETURNING {COLS}"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, JobRow>(&sql).bind(worker).bind(now).bind(lease_until).bind(limit).bind(clock)
        .fetch_all(c).await?),
    )
}

/// Renews a worker's lease on a job before it runs it. False if the lease was lost (another
/// worker took the job over): the worker must then leave it alone.
pub async fn extend(tx: &mut Tx, id: &str, worker: &str, until: DateTime<Utc>) -> Result<bool> {
    let n = on!(tx, c => sqlx::query(
        "UPDATE jobs SET locked_until = $3 WHERE id = $1 AND locked_by = $2 AND status = 'running'")
        .bind(id).bind(worker).bind(until).execute(c).await?.rows_affected());
    Ok(n == 1)
}

/// Marks a job the worker still holds as succeeded. False if the lease was lost.
pub async fn finish(tx: &mut Tx, id: &str, worker: &str, now: DateTime<Utc>) -> Result<bool> {
    let n = on!(tx, c => sqlx::query(
        "UPDATE jobs SET status = 'succeeded', finished_at = $3, updated_at = $3, locked_by = NULL, locked_until = NULL, last_error = NULL \
         WHERE id = $1 AND locked_by = $2 AND status = 'running'")
        .bind(id).bind(worker).bind(now).execute(c).await?.rows_affected());
    Ok(n == 1)
}

/// Records a failed attempt: queued again at `retry_at`, or failed for good when None.
pub async fn fail(
    tx: &mut Tx,
    id: &str,
    worker: &str,
    now: DateTime<Utc>,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<bool> {
    let n = on!(tx, c => sqlx::query(
        "UPDATE jobs SET status = CASE WHEN CAST($4 AS TEXT) IS NULL THEN 'failed' ELSE 'queued' END, \
         run_at = COALESCE($4, run_at), last_error = $5, updated_at = $3, locked_by = NULL, locked_until = NULL, \
         finished_at = CASE WHEN CAST($4 AS TEXT) IS NULL THEN $3 ELSE NULL END \
         WHERE id = $1 AND locked_by = $2 AND status = 'running'")
        .bind(id).bind(worker).bind(now).bind(retry_at).bind(error).execute(c).await?.rows_affected());
    Ok(n == 1)
}

pub async fn get(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<JobRow>> {
    let sql = format!("SELECT {COLS} FROM jobs WHERE org_id = $1 AND id = $2");
    Ok(
        on!(tx, c => sqlx::query_as::<_, JobRow>(&sql).bind(org_id).bind(id).fetch_optional(c).await?),
    )
}

pub async fn list(
    tx: &mut Tx,
    org_id: &str,
    status: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<JobRow>> {
    let sql = format!(
        "SELECT {COLS} FROM jobs WHERE org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR status = $2) \
         AND (CAST($3 AS TEXT) IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    );
    Ok(
        on!(tx, c => sqlx::query_as::<_, JobRow>(&sql).bind(org_id).bind(status).bind(starting_after).bind(limit)
        .fetch_all(c).await?),
    )
}

/// Queues a failed job again, now, with one more attempt allowed. False unless it had failed.
pub async fn requeue(tx: &mut Tx, org_id: &str, id: &str, now: DateTime<Utc>) -> Result<bool> {
    let n = on!(tx, c => sqlx::query(
        "UPDATE jobs SET status = 'queued', run_at = $3, max_attempts = attempts + 1, finished_at = NULL, updated_at = $3 \
         WHERE org_id = $1 AND id = $2 AND status = 'failed'")
        .bind(org_id).bind(id).bind(now).execute(c).await?.rows_affected());
    Ok(n == 1)
}
