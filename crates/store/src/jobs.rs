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

impl crate::bulk::Row for JobRow {
    const TARGET: &'static str =
        "jobs (id, org_id, kind, payload, dedupe_key, status, attempts, max_attempts, run_at, \
        locked_by, locked_until, last_error, created_at, updated_at, finished_at, test_clock_id)";
    const COLUMNS: usize = 16;
    fn put<O: crate::bulk::Out>(&self, o: &mut O) {
        fields!(o; self.id, self.org_id, self.kind, self.payload, self.dedupe_key, self.status, self.attempts,
            self.max_attempts, self.run_at, self.locked_by, self.locked_until, self.last_error, self.created_at,
            self.updated_at, self.finished_at, self.test_clock_id);
    }
}

/// Adds jobs; one whose (organisation, kind, dedupe key) exists already is skipped.
/// Returns how many were added. One statement of arrays on PostgreSQL; one prepared row
/// statement on SQLite (the bill run queues thousands at a time).
pub async fn enqueue(tx: &mut Tx, rows: &[JobRow]) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    match tx {
        Tx::Pg(t) => Ok(pg_unnest!(&mut **t,
            "INSERT INTO jobs (id, org_id, kind, payload, dedupe_key, status, attempts, max_attempts, run_at, \
             locked_by, locked_until, last_error, created_at, updated_at, finished_at, test_clock_id) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], \
             $8::int8[], $9::timestamptz[], $10::text[], $11::timestamptz[], $12::text[], $13::timestamptz[], \
             $14::timestamptz[], $15::timestamptz[], $16::text[]) \
             ON CONFLICT (org_id, kind, dedupe_key) DO NOTHING",
            rows,
            |r: &JobRow| r.id.clone(), |r: &JobRow| r.org_id.clone(), |r: &JobRow| r.kind.clone(),
            |r: &JobRow| r.payload.clone(), |r: &JobRow| r.dedupe_key.clone(), |r: &JobRow| r.status.clone(),
            |r: &JobRow| r.attempts, |r: &JobRow| r.max_attempts, |r: &JobRow| r.run_at,
            |r: &JobRow| r.locked_by.clone(), |r: &JobRow| r.locked_until, |r: &JobRow| r.last_error.clone(),
            |r: &JobRow| r.created_at, |r: &JobRow| r.updated_at, |r: &JobRow| r.finished_at,
            |r: &JobRow| r.test_clock_id.clone())),
        Tx::Sqlite(_) => {
            use crate::bulk::Row;
            let placeholders = vec!["?"; JobRow::COLUMNS].join(", ");
            let sql = format!(
                "INSERT INTO {} VALUES ({placeholders}) ON CONFLICT (org_id, kind, dedupe_key) DO NOTHING",
                JobRow::TARGET
            );
            crate::bulk::sqlite_each(tx, &sql, rows, |r, o| r.put(o)).await
        }
    }
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
    claim_due(tx, worker, now, lease_until, None, limit, clock).await
}

/// The claim statement ($1 worker, $2 now, $3 lease end, $4 limit, $5 test clock, $6 kind
/// when `by_kind`). Due jobs are read in `run_at` order off a partial index, stopping after
/// `limit`: `jobs_ready_kind (kind, run_at)` for one kind, `jobs_ready (run_at)` for any,
/// `jobs_clock` on a test clock. On the wall clock the first test repeats the indexes'
/// predicate, so that both planners may use them. That predicate is "not finished"
/// (`finished_at IS NULL`, which holds exactly while a job is queued or running), not the
/// status, so a claim — which changes the status — writes no index entry (on PostgreSQL it
/// is a heap-only update). (Ordering by `run_at, id` made both
/// backends read and sort every due job for each claim: a queue of N jobs took O(N²) to
/// drain; claiming one kind off `jobs_ready` read past every due job of the other kinds.)
fn claim_sql(by_kind: bool, clock: bool, skip_locked: bool) -> String {
    let which = if clock {
        "test_clock_id = $5"
    } else {
        "finished_at IS NULL AND test_clock_id IS NULL AND CAST($5 AS TEXT) IS NULL"
    };
    let kind = if by_kind { " AND kind = $6" } else { "" };
    let skip = if skip_locked {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    format!(
        "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $3, attempts = attempts + 1, updated_at = $2 \
         WHERE id IN (SELECT id FROM jobs WHERE {which}{kind} \
                      AND ((status = 'queued' AND run_at <= $2) OR (status = 'running' AND locked_until < $2)) \
                      ORDER BY run_at LIMIT $4{skip}) \
         RETURNING {COLS}"
    )
}

#[allow(clippy::too_many_arguments)]
async fn claim_due(
    tx: &mut Tx,
    worker: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    kind: Option<&str>,
    limit: i64,
    clock: Option<&str>,
) -> Result<Vec<JobRow>> {
    let sql = claim_sql(kind.is_some(), clock.is_some(), matches!(tx, Tx::Pg(_)));
    Ok(on!(tx, c => {
        let q = sqlx::query_as::<_, JobRow>(&sql).bind(worker).bind(now).bind(lease_until).bind(limit).bind(clock);
        match kind {
            Some(k) => q.bind(k),
            None => q,
        }
        .fetch_all(c)
        .await?
    }))
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

/// As [`claim`], for the jobs of one `kind` only (the worker's batches of `charge_invoice`
/// and `send_notification` jobs), read off `jobs_ready_kind` (see `claim_sql`).
#[allow(clippy::too_many_arguments)]
pub async fn claim_kind(
    tx: &mut Tx,
    worker: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    kind: &str,
    limit: i64,
    clock: Option<&str>,
) -> Result<Vec<JobRow>> {
    claim_due(tx, worker, now, lease_until, Some(kind), limit, clock).await
}

/// Marks the jobs the worker still holds among `ids` as succeeded (as [`finish`] does for
/// one). Returns how many were marked; the others' leases were lost.
pub async fn finish_many(
    tx: &mut Tx,
    ids: &[String],
    worker: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    // (`?N` on SQLite: its parameters are numbered by first appearance, not by `$N`.)
    const SET: &str = "UPDATE jobs SET status = 'succeeded', finished_at = ?2, updated_at = ?2, locked_by = NULL, \
        locked_until = NULL, last_error = NULL WHERE locked_by = ?1 AND status = 'running' AND id ";
    if ids.is_empty() {
        return Ok(0);
    }
    match tx {
        Tx::Pg(t) => Ok(sqlx::query(&format!("{SET}= ANY(?3)").replace('?', "$"))
            .bind(worker)
            .bind(now)
            .bind(ids)
            .execute(&mut **t)
            .await?
            .rows_affected()),
        Tx::Sqlite(_) => {
            crate::bulk::sqlite_each(tx, &format!("{SET}= ?3"), ids, |id, o| {
                fields!(o; worker, now, id.as_str());
            })
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, sqlite_plan as plan};
    use crate::Backend;

    /// A queued job of organisation `org_a` with dedupe key and id `id`, created at `t0`.
    fn queued(id: &str, kind: &str, t0: DateTime<Utc>, run_at: DateTime<Utc>) -> JobRow {
        JobRow {
            id: id.into(),
            org_id: "org_a".into(),
            kind: kind.into(),
            payload: "{}".into(),
            dedupe_key: id.into(),
            status: "queued".into(),
            attempts: 0,
            max_attempts: 5,
            run_at,
            locked_by: None,
            locked_until: None,
            last_error: None,
            created_at: t0,
            updated_at: t0,
            finished_at: None,
            test_clock_id: None,
        }
    }

    /// A batch finish marks only the jobs the worker still holds: a job whose lease ran out
    /// and that another worker claimed is not marked, stays that worker's, and is counted
    /// out of the number returned (the callers report it as lost).
    #[tokio::test]
    async fn a_batch_finish_leaves_the_jobs_whose_lease_was_lost() {
        use chrono::{Duration, TimeZone};
        let kind = "send_notification";
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let Some((db, _)) = testing::fresh(backend).await else {
                continue;
            };
            let t0 = Utc.with_ymd_and_hms(2026, 11, 29, 6, 0, 0).unwrap();
            let rows: Vec<JobRow> = (0..3)
                .map(|i| queued(&format!("job_{i}"), kind, t0, t0 + Duration::seconds(i)))
                .collect();
            let at = |minutes| t0 + Duration::minutes(minutes);
            let mut tx = db.begin().await.unwrap();
            enqueue(&mut tx, &rows).await.unwrap();
            let a = claim_kind(&mut tx, "worker_a", at(1), at(2), kind, 10, None)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            assert_eq!(a.len(), 3, "{backend:?}");
            // Worker a's lease ends at minute 2; worker b takes the oldest job at minute 3.
            let mut tx = db.begin().await.unwrap();
            let b = claim_kind(&mut tx, "worker_b", at(3), at(8), kind, 1, None)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            assert_eq!(b.len(), 1, "{backend:?}");
            assert_eq!(b[0].id, "job_0", "{backend:?}");

            let mut tx = db.begin().await.unwrap();
            let ids: Vec<String> = a.iter().map(|j| j.id.clone()).collect();
            let marked = finish_many(&mut tx, &ids, "worker_a", at(4)).await.unwrap();
            assert_eq!(marked, 2, "{backend:?}: one of three was lost");
            let taken = get(&mut tx, "org_a", "job_0").await.unwrap().unwrap();
            assert_eq!(taken.status, "running", "{backend:?}");
            assert_eq!(taken.locked_by.as_deref(), Some("worker_b"), "{backend:?}");
            for id in ["job_1", "job_2"] {
                let done = get(&mut tx, "org_a", id).await.unwrap().unwrap();
                assert_eq!(done.status, "succeeded", "{backend:?} {id}");
                assert_eq!(done.finished_at, Some(at(4)), "{backend:?} {id}");
                assert_eq!(done.locked_by, None, "{backend:?} {id}");
            }
            tx.commit().await.unwrap();
        }
    }

    /// A claim by kind reads that kind's due jobs off `jobs_ready_kind`, not past every due
    /// job of other kinds off `jobs_ready`; a claim of any kind uses `jobs_ready`.
    #[tokio::test]
    async fn claims_read_their_partial_index() {
        let (db, _) = testing::fresh(Backend::Sqlite).await.unwrap();
        let by_kind = plan(&db, &claim_sql(true, false, false), 6).await;
        assert!(by_kind.contains("jobs_ready_kind (kind=?"), "{by_kind}");
        let any = plan(&db, &claim_sql(false, false, false), 5).await;
        assert!(any.contains("USING INDEX jobs_ready"), "{any}");
        assert!(!any.contains("jobs_ready_kind"), "{any}");
        let clock = plan(&db, &claim_sql(true, true, false), 6).await;
        assert!(clock.contains("jobs_clock"), "{clock}");
    }

    /// On PostgreSQL a claim is a heap-only update (HOT: no index entries) for every job of a
    /// full page, and finishing keeps `finished_at IS NULL` exactly for queued and running
    /// jobs (the table's CHECK; migration 0017). Counted by PostgreSQL in the transaction.
    #[tokio::test]
    async fn claims_are_heap_only_on_postgres() {
        use chrono::{Duration, TimeZone};
        let Some((db, _)) = testing::fresh(Backend::Postgres).await else {
            return;
        };
        let t0 = Utc.with_ymd_and_hms(2026, 11, 29, 6, 0, 0).unwrap();
        let n = 1000;
        let rows: Vec<JobRow> = (0..n)
            .map(|i| queued(&format!("job_{i:05}"), "charge_invoice", t0, t0))
            .collect();
        let mut tx = db.begin().await.unwrap();
        assert_eq!(enqueue(&mut tx, &rows).await.unwrap(), n);
        tx.commit().await.unwrap();

        let now = t0 + Duration::seconds(1);
        let mut tx = db.begin().await.unwrap();
        let claimed = claim_kind(
            &mut tx,
            "worker_a",
            now,
            now + Duration::minutes(5),
            "charge_invoice",
            n as i64,
            None,
        )
        .await
        .unwrap();
        assert_eq!(claimed.len() as u64, n);
        let counts = testing::pg_hot_updates(&mut tx, "jobs").await;
        assert_eq!(counts, (n as i64, n as i64), "(claimed, heap-only)");
        let ids: Vec<String> = claimed.iter().map(|j| j.id.clone()).collect();
        assert_eq!(
            finish_many(&mut tx, &ids, "worker_a", now).await.unwrap(),
            n
        );
        tx.commit().await.unwrap();

        // A finished job without its time (or a queued one with one) is refused.
        let mut tx = db.begin().await.unwrap();
        let Tx::Pg(c) = &mut tx else { unreachable!() };
        let err = sqlx::query("UPDATE jobs SET finished_at = NULL WHERE id = 'job_00000'")
            .execute(&mut **c)
            .await
            .expect_err("the CHECK refuses it");
        assert!(err.to_string().contains("jobs_finished_iff_done"), "{err}");
    }
}
