//! Test clocks, as in Stripe: simulated time for trying out billing. Customers created on a
//! clock (`test_clock` on `POST /v1/customers`) live on its time: their subscriptions start
//! at the clock's time and are billed only by its bill run, and their jobs (automatic
//! charges, dunning retries, reminders) wait for the clock, not the wall clock.
//!
//! Advancing a clock to T walks its time forward in steps, stopping at each moment
//! something is due: the next renewal of one of its subscriptions, or the next of its
//! queued jobs. At each step it runs the bill run for the clock's subscriptions and then the
//! clock's due jobs, until nothing more is due at that moment; then it moves on, and
//! finally stops at T. What the steps cause — invoices, payments, dunning, reminders, their
//! events, emails and webhooks — is recorded as if it had happened at the clock's time
//! (emails and webhooks are then sent by the ordinary workers, on the wall clock).
//!
//! Rules: a clock only moves forward, at most [`MAX_ADVANCE_DAYS`] at a time; advances of one
//! clock never run at once (the clock row is locked for the advance's first step and
//! `frozen_time` is stored after every step, so an advance cut short resumes cleanly).
//! Other API calls on a clock customer's account (changing or cancelling a subscription,
//! paying an invoice) act at the wall clock's time.

use crate::util::parse_id;
use crate::{page_limit, AppError, Ctx, Page, Result};
use billing::ids::TestClockId;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use store::clocks::ClockRow;
use store::{new_id, Db};
use utoipa::ToSchema;

/// The longest single advance.
pub const MAX_ADVANCE_DAYS: i64 = 730;

/// Steps one advance may take before it stops (a guard against a schedule that never
/// settles).
const MAX_STEPS: usize = 10_000;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TestClock {
    pub id: String,
    pub object: &'static str,
    pub name: String,
    /// The clock's current time.
    pub frozen_time: DateTime<Utc>,
    pub created: DateTime<Utc>,
}

fn view(r: &ClockRow) -> TestClock {
    TestClock {
        id: r.id.clone(),
        object: "test_clock",
        name: r.name.clone(),
        frozen_time: r.frozen_time,
        created: r.created_at,
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestClockCreate {
    pub name: String,
    /// Where the clock starts.
    pub frozen_time: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestClockAdvance {
    /// The new time: later than the current one, at most 730 days later.
    pub frozen_time: DateTime<Utc>,
}

pub async fn create(db: &Db, ctx: &Ctx, input: &TestClockCreate) -> Result<TestClock> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AppError::invalid(
            "name",
            "name must be 1 to 200 characters",
        ));
    }
    let row = ClockRow {
        id: new_id!(TestClockId).to_string(),
        org_id: ctx.org_id.clone(),
        name: name.to_string(),
        frozen_time: input.frozen_time,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    let mut tx = db.begin().await?;
    store::clocks::insert(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(view(&row))
}

pub async fn get(db: &Db, ctx: &Ctx, id: &str) -> Result<TestClock> {
    parse_id("id", id, TestClockId::parse)?;
    let mut tx = db.read().await?;
    let r = store::clocks::get(&mut tx, &ctx.org_id, id, false)
        .await?
        .ok_or_else(|| AppError::not_found("test_clock", id))?;
    Ok(view(&r))
}

pub async fn list(
    db: &Db,
    ctx: &Ctx,
    starting_after: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<TestClock>> {
    let limit = page_limit(limit)?;
    let mut tx = db.read().await?;
    let rows = store::clocks::list(&mut tx, &ctx.org_id, starting_after, limit + 1).await?;
    Ok(Page::from_rows(rows.iter().map(view).collect(), limit))
}

/// The organisation a clock belongs to (the CLI names only the clock).
pub async fn org_of(db: &Db, id: &str) -> Result<String> {
    parse_id("clock", id, TestClockId::parse)?;
    let mut tx = db.read().await?;
    store::clocks::org_of(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::not_found("test_clock", id))
}

/// What an advance did.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct AdvanceReport {
    pub steps: usize,
    pub invoices_created: u64,
    pub jobs_run: usize,
}

/// Advances clock `id` to `input.frozen_time` (see the module doc), charging through
/// `gateway`.
pub async fn advance(
    db: &Db,
    gateway: &gateway::Gateway,
    ctx: &Ctx,
    id: &str,
    input: &TestClockAdvance,
) -> Result<(TestClock, AdvanceReport)> {
    parse_id("id", id, TestClockId::parse)?;
    let to = input.frozen_time;
    let start = {
        let mut tx = db.begin().await?;
        let c = store::clocks::get(&mut tx, &ctx.org_id, id, true)
            .await?
            .ok_or_else(|| AppError::not_found("test_clock", id))?;
        tx.commit().await?;
        c.frozen_time
    };
    if to <= start {
        return Err(AppError::invalid(
            "frozen_time",
            format!("a test clock only moves forward: it is at {start}, got {to}"),
        ));
    }
    if to - start > Duration::days(MAX_ADVANCE_DAYS) {
        return Err(AppError::invalid(
            "frozen_time",
            format!("advance at most {MAX_ADVANCE_DAYS} days at a time"),
        ));
    }
    let mut worker = crate::jobs::Worker::new(db.clone(), gateway.clone());
    worker.clock = Some(id.to_string());
    let mut report = AdvanceReport::default();
    let mut now = start;
    loop {
        report.steps += 1;
        if report.steps > MAX_STEPS {
            return Err(AppError::Internal(format!(
                "test clock {id}: no quiet moment after {MAX_STEPS} steps"
            )));
        }
        // At `now`: renewals first, then what they and earlier steps queued, until quiet.
        loop {
            let r = crate::billrun::run_clock(db, &ctx.org_id, id, now).await?;
            report.invoices_created += r.invoices_created;
            let pass = worker.run_once(now).await?;
            report.jobs_run += pass.claimed;
            // Dispatching queues jobs too (an invoice's first reminder): quiet means
            // nothing billed, dispatched or run.
            if r.invoices_created == 0 && pass.claimed == 0 && pass.dispatched == 0 {
                break;
            }
        }
        let mut tx = db.begin().await?;
        store::clocks::set_time(&mut tx, id, now, ctx.now).await?;
        let next = [
            store::clocks::next_renewal(&mut tx, id, now).await?,
            store::clocks::next_job(&mut tx, id, now).await?,
        ]
        .into_iter()
        .flatten()
        .min();
        tx.commit().await?;
        if now == to {
            break;
        }
        now = next.map_or(to, |n| n.min(to));
    }
    Ok((get(db, ctx, id).await?, report))
}
