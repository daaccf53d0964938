//! Background jobs: what is queued, how a worker runs it, and the API over the queue.
//!
//! A job is enqueued in the same transaction as the change that calls for it (an invoice
//! finalized for a customer who is charged automatically queues `charge_invoice`), once per
//! (organisation, kind, dedupe key). [`Worker::run_once`] claims a batch under a lease and
//! runs each; a failure is retried with exponential backoff ([`backoff`]) until
//! `max_attempts`, then the job is `failed` — visible in `GET /v1/jobs?status=failed` and
//! queued again by `POST /v1/jobs/{id}/retry`.
//!
//! Handlers are idempotent, because a worker that dies after the work but before marking
//! the job done hands it to another worker when its lease runs out:
//! - `charge_invoice {invoice}`: nothing if the invoice is no longer open with something
//!   due; a pending card payment of it is retried with its own key; otherwise the default
//!   card is charged. A decline is recorded as a failed payment and starts dunning.
//! - `dunning_retry {invoice, attempt, first_failure}`: charges again the same way. Dunning
//!   (the organisation's `billing::collection::Dunning`, default +1, +3, +5, +7 days after
//!   the first failure): after a decline the invoice's subscription is `past_due` and the
//!   next retry is queued; when none is left the final action runs (cancel the subscription
//!   now, leave it past_due, or mark it `unpaid`: it keeps renewing, and its invoices are
//!   sent instead of charged until it is paid up).
//! - `reactivate_subscription {subscription, payment}`, queued by every payment that settles
//!   a subscription's invoice: a past_due subscription with no open invoice left is active
//!   again.

use crate::payments::{self, InvoicePay};
use crate::util::parse_id;
use crate::{page_limit, AppError, Ctx, Page, Result};
use billing::collection::{Dunning, FinalAction};
use billing::ids::JobId;
use chrono::{DateTime, Duration, Utc};
use gateway::Gateway;
use serde::{Deserialize, Serialize};
use store::jobs::JobRow;
use store::{new_id, Db, Tx};
use utoipa::ToSchema;

/// Attempts a job gets before it is `failed`.
pub const MAX_ATTEMPTS: i64 = 8;

/// How long a claimed job is held before another worker may take it over.
pub const LEASE: Duration = Duration::minutes(5);

/// Events a worker dispatches per pass (in one transaction, a statement per table).
pub const DISPATCH_BATCH: i64 = 1000;

/// `send_notification` jobs a worker claims per pass, sent as one batch.
pub const NOTIFY_BATCH: i64 = 200;

/// Delay before attempt `attempts + 1`: 30 s, 1 min, 2 min, … doubling, at most 1 hour.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.clamp(1, 20) - 1;
    Duration::seconds((30i64 << exp).min(3600))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Task {
    ChargeInvoice {
        invoice: String,
    },
    DunningRetry {
        invoice: String,
        /// 1 for the first retry.
        attempt: usize,
        first_failure: DateTime<Utc>,
    },
    /// After `payment`: make the subscription active if it is past_due with nothing open.
    Reactivate {
        subscription: String,
        payment: String,
    },
    /// Send one email notification.
    SendNotification {
        notification: String,
    },
    /// POST one webhook delivery; `replay` counts manual replays (0 for the first send).
    DeliverWebhook {
        delivery: String,
        replay: i64,
    },
    /// Remind the customer of an open invoice `days` after its due date `due_date` (negative
    /// before it). Nothing if the invoice is settled or its due date has moved since.
    InvoiceReminder {
        invoice: String,
        due_date: chrono::NaiveDate,
        days: i64,
    },
    /// Email one outbound desk message (reply, acknowledgement, survey).
    SendDeskEmail {
        interaction: String,
    },
    /// Check a ticket's SLA clock (`first_response` or `resolution`) at its warning or
    /// breach instant; nothing if the clock stopped or its due instant moved.
    SlaCheck {
        ticket: String,
        clock: String,
        level: String,
        due: DateTime<Utc>,
    },
}

impl Task {
    fn kind(&self) -> &'static str {
        match self {
            Task::ChargeInvoice { .. } => "charge_invoice",
            Task::DunningRetry { .. } => "dunning_retry",
            Task::Reactivate { .. } => "reactivate_subscription",
            Task::SendNotification { .. } => "send_notification",
            Task::DeliverWebhook { .. } => "deliver_webhook",
            Task::InvoiceReminder { .. } => "invoice_reminder",
            Task::SendDeskEmail { .. } => "send_desk_email",
            Task::SlaCheck { .. } => "sla_check",
        }
    }
    /// The invoice the task is about, if any.
    fn invoice(&self) -> Option<String> {
        match self {
            Task::ChargeInvoice { invoice }
            | Task::DunningRetry { invoice, .. }
            | Task::InvoiceReminder { invoice, .. } => Some(invoice.clone()),
            _ => None,
        }
    }
    fn subscription(&self) -> Option<String> {
        match self {
            Task::Reactivate { subscription, .. } => Some(subscription.clone()),
            _ => None,
        }
    }
    fn max_attempts(&self) -> i64 {
        match self {
            Task::DeliverWebhook { .. } => crate::webhooks::DELIVERY_ATTEMPTS,
            _ => MAX_ATTEMPTS,
        }
    }
    fn dedupe_key(&self) -> String {
        match self {
            Task::ChargeInvoice { invoice } => invoice.clone(),
            Task::DunningRetry {
                invoice, attempt, ..
            } => format!("{invoice}:{attempt}"),
            Task::Reactivate {
                subscription,
                payment,
            } => format!("{subscription}:{payment}"),
            Task::SendNotification { notification } => notification.clone(),
            Task::DeliverWebhook { delivery, replay } => format!("{delivery}:{replay}"),
            Task::InvoiceReminder {
                invoice,
                due_date,
                days,
            } => format!("{invoice}:{due_date}:{days}"),
            Task::SendDeskEmail { interaction } => interaction.clone(),
            Task::SlaCheck {
                ticket,
                clock,
                level,
                due,
            } => format!("{ticket}:{clock}:{level}:{}", due.timestamp()),
        }
    }
}

/// A queued job row for `task` of organisation `org`, due at `now`.
pub fn job(org: &str, task: &Task, now: DateTime<Utc>) -> Result<JobRow> {
    Ok(JobRow {
        id: new_id!(JobId).to_string(),
        org_id: org.to_string(),
        kind: task.kind().to_string(),
        payload: serde_json::to_string(task).map_err(|e| AppError::Internal(e.to_string()))?,
        dedupe_key: task.dedupe_key(),
        status: "queued".into(),
        attempts: 0,
        max_attempts: task.max_attempts(),
        run_at: now,
        locked_by: None,
        locked_until: None,
        last_error: None,
        created_at: now,
        updated_at: now,
        finished_at: None,
        test_clock_id: None,
    })
}

/// Enqueues tasks due at `now` in `tx` (skipping any already queued once).
pub async fn enqueue(tx: &mut Tx, org: &str, tasks: &[Task], now: DateTime<Utc>) -> Result<u64> {
    let timed: Vec<(Task, DateTime<Utc>)> = tasks.iter().map(|t| (t.clone(), now)).collect();
    enqueue_at(tx, org, &timed).await
}

/// Enqueues tasks, each due at its own time. The tasks of a customer on a test clock go on
/// that clock: they run when it is advanced, not by the wall clock (notifications and
/// webhooks stay on the wall clock: they are real deliveries).
pub async fn enqueue_at(tx: &mut Tx, org: &str, tasks: &[(Task, DateTime<Utc>)]) -> Result<u64> {
    if tasks.is_empty() {
        return Ok(0);
    }
    let mut rows = tasks
        .iter()
        .map(|(t, at)| job(org, t, *at))
        .collect::<Result<Vec<_>>>()?;
    if store::clocks::any(tx, org).await? {
        let invoices: Vec<String> = tasks.iter().filter_map(|(t, _)| t.invoice()).collect();
        let subs: Vec<String> = tasks.iter().filter_map(|(t, _)| t.subscription()).collect();
        let mut clocks: std::collections::HashMap<String, String> =
            store::clocks::of_invoices(tx, org, &invoices)
                .await?
                .into_iter()
                .collect();
        clocks.extend(store::clocks::of_subscriptions(tx, org, &subs).await?);
        for ((t, _), r) in tasks.iter().zip(rows.iter_mut()) {
            if let Some(key) = t.invoice().or_else(|| t.subscription()) {
                r.test_clock_id = clocks.get(&key).cloned();
            }
        }
    }
    Ok(store::jobs::enqueue(tx, &rows).await?)
}

/// Why a job attempt did not succeed.
enum Failure {
    /// Worth trying again later.
    Retry(String),
    /// Trying again cannot help (bad payload, no card on file).
    Permanent(String),
}

/// What one pass of a worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub claimed: usize,
    /// Of those, `charge_invoice` jobs (run as one batch, [`crate::collect`]).
    pub charges: usize,
    pub succeeded: usize,
    pub retried: usize,
    pub failed: usize,
    /// Done, but the lease had been lost to another worker.
    pub lost: usize,
    /// Events dispatched to notifications and webhook deliveries.
    pub dispatched: usize,
}

/// Runs jobs. Several workers (threads or processes) may share one database.
#[derive(Clone)]
pub struct Worker {
    pub db: Db,
    pub gateway: Gateway,
    pub mailer: mail::Mailer,
    /// Sends webhooks.
    pub http: reqwest::Client,
    /// Names this worker in `locked_by`.
    pub id: String,
    pub batch: i64,
    /// Run the jobs of this test clock (at its time) instead of the wall clock's.
    pub clock: Option<String>,
}

impl Worker {
    pub fn new(db: Db, gateway: Gateway) -> Worker {
        Worker {
            db,
            gateway,
            mailer: mail::Mailer::Off,
            http: reqwest::Client::new(),
            id: format!("worker-{}-{}", std::process::id(), store::random_suffix()),
            batch: 20,
            clock: None,
        }
    }

    /// Dispatches new events (see [`crate::events`]), then claims one batch of due jobs at
    /// `now` and runs them in turn.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<Pass> {
        let started = std::time::Instant::now();
        let dispatched = crate::events::dispatch(&self.db, now, DISPATCH_BATCH).await?;
        let dispatch_ms = started.elapsed().as_millis() as u64;
        let mut tx = self.db.begin().await?;
        // Charges are claimed `collect::batch_size` at a time and run as one batch
        // (`crate::collect`); the other jobs `batch` at a time, one after another.
        let mut jobs = store::jobs::claim_kind(
            &mut tx,
            &self.id,
            now,
            now + LEASE,
            "charge_invoice",
            crate::collect::batch_size(&self.gateway),
            self.clock.as_deref(),
        )
        .await?;
        jobs.extend(
            store::jobs::claim_kind(
                &mut tx,
                &self.id,
                now,
                now + LEASE,
                "send_notification",
                NOTIFY_BATCH,
                self.clock.as_deref(),
            )
            .await?,
        );
        jobs.extend(
            store::jobs::claim(
                &mut tx,
                &self.id,
                now,
                now + LEASE,
                self.batch,
                self.clock.as_deref(),
            )
            .await?,
        );
        tx.commit().await?;
        let mut pass = Pass {
            claimed: jobs.len(),
            dispatched,
            ..Default::default()
        };
        use crate::collect::Left;
        let (charges, others): (Vec<JobRow>, Vec<JobRow>) =
            jobs.into_iter().partition(|j| j.kind == "charge_invoice");
        let mut jobs: Vec<(JobRow, Option<Left>)> = Vec::new();
        pass.charges = charges.len();
        if !charges.is_empty() {
            let b = crate::collect::charge_jobs(&self.db, &self.gateway, &self.id, charges, now)
                .await?;
            pass.succeeded += b.succeeded;
            pass.lost += b.lost;
            jobs.extend(b.left.into_iter().map(|(j, left)| (j, Some(left))));
        }
        let (notes, others): (Vec<JobRow>, Vec<JobRow>) = others
            .into_iter()
            .partition(|j| j.kind == "send_notification");
        if !notes.is_empty() {
            self.send_notifications(notes, now, &mut pass).await?;
        }
        tracing::debug!(
            dispatched,
            dispatch_ms,
            claimed = pass.claimed,
            ms = started.elapsed().as_millis() as u64,
            "worker pass: events dispatched, charges and notifications done"
        );
        jobs.extend(others.into_iter().map(|j| (j, None)));
        for (j, left) in jobs {
            // A batch runs one job after another: renew the lease of each before running it,
            // so a slow batch never runs a job another worker has taken over.
            let mut tx = self.db.begin().await?;
            let held = store::jobs::extend(&mut tx, &j.id, &self.id, now + LEASE).await?;
            tx.commit().await?;
            if !held {
                pass.lost += 1;
                continue;
            }
            let ctx = Ctx::new(j.org_id.clone(), now);
            let outcome = match left {
                None | Some(Left::Single) => self.execute(&j, now).await,
                // What a batch left of a charge: the rest of `execute` after `charge_invoice`.
                Some(Left::Declined {
                    invoice,
                    subscription,
                }) => {
                    self.after_decline(&ctx, &invoice, subscription, 1, now)
                        .await
                }
                Some(Left::Settled { subscription }) => self.reactivate(&ctx, subscription).await,
                Some(Left::Failed(e)) => Err(classify(e)),
            };
            let mut tx = self.db.begin().await?;
            self.settle(&mut tx, &j, outcome, now, &mut pass).await?;
            tx.commit().await?;
        }
        Ok(pass)
    }

    /// Records how job `j` ended, in `tx`: succeeded, queued again with backoff, or failed.
    async fn settle(
        &self,
        tx: &mut store::Tx,
        j: &JobRow,
        outcome: Result<(), Failure>,
        now: DateTime<Utc>,
        pass: &mut Pass,
    ) -> Result<()> {
        match outcome {
            Ok(()) => {
                if store::jobs::finish(tx, &j.id, &self.id, now).await? {
                    pass.succeeded += 1;
                } else {
                    // The lease ran out and another worker took the job over; the work
                    // is idempotent, and that worker records the outcome.
                    pass.lost += 1;
                }
            }
            Err(Failure::Retry(e)) if j.attempts < j.max_attempts => {
                let at = now + backoff(j.attempts);
                store::jobs::fail(tx, &j.id, &self.id, now, &e, Some(at)).await?;
                pass.retried += 1;
            }
            Err(Failure::Retry(e)) | Err(Failure::Permanent(e)) => {
                store::jobs::fail(tx, &j.id, &self.id, now, &e, None).await?;
                pass.failed += 1;
            }
        }
        Ok(())
    }

    /// The claimed `send_notification` jobs, sent as one batch ([`crate::notify::send_many`]:
    /// one read and one write transaction for all) and settled in one more transaction. A
    /// job whose payload cannot be read fails as it would alone.
    async fn send_notifications(
        &self,
        jobs: Vec<JobRow>,
        now: DateTime<Utc>,
        pass: &mut Pass,
    ) -> Result<()> {
        use crate::notify::{Sent, Wanted};
        let mut wanted = Vec::with_capacity(jobs.len());
        let mut settled: Vec<(JobRow, Result<(), Failure>)> = Vec::new();
        let mut sent_jobs = Vec::with_capacity(jobs.len());
        for j in jobs {
            match serde_json::from_str::<Task>(&j.payload) {
                Ok(Task::SendNotification { notification }) => {
                    wanted.push(Wanted {
                        org: j.org_id.clone(),
                        id: notification,
                        last_attempt: j.attempts >= j.max_attempts,
                    });
                    sent_jobs.push(j);
                }
                Ok(_) | Err(_) => {
                    let e = format!("bad payload for {}", j.kind);
                    settled.push((j, Err(Failure::Permanent(e))));
                }
            }
        }
        let answers = crate::notify::send_many(&self.db, &self.mailer, &wanted, now).await;
        for (j, a) in sent_jobs.into_iter().zip(answers) {
            let outcome = match a {
                Ok(Sent::Done) => Ok(()),
                Ok(Sent::Retry(e)) => Err(Failure::Retry(e)),
                Ok(Sent::Refused(e)) => Err(Failure::Permanent(e)),
                Err(e) => Err(classify(e)),
            };
            settled.push((j, outcome));
        }
        // The jobs done are marked in one statement; the rest one by one (as `settle`).
        let (done, rest): (Vec<_>, Vec<_>) = settled.into_iter().partition(|(_, o)| o.is_ok());
        let done: Vec<String> = done.into_iter().map(|(j, _)| j.id).collect();
        let mut tx = self.db.begin().await?;
        let finished = store::jobs::finish_many(&mut tx, &done, &self.id, now).await? as usize;
        pass.succeeded += finished;
        // (A lease run out: another worker took the job over and records its outcome.)
        pass.lost += done.len() - finished;
        for (j, outcome) in rest {
            self.settle(&mut tx, &j, outcome, now, pass).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn execute(&self, j: &JobRow, now: DateTime<Utc>) -> Result<(), Failure> {
        let task: Task = serde_json::from_str(&j.payload)
            .map_err(|e| Failure::Permanent(format!("bad payload for {}: {e}", j.kind)))?;
        let ctx = Ctx::new(j.org_id.clone(), now);
        let last_attempt = j.attempts >= j.max_attempts;
        let (invoice, next, first) = match &task {
            Task::Reactivate { subscription, .. } => {
                return self.reactivate(&ctx, Some(subscription.clone())).await;
            }
            Task::SendNotification { notification } => {
                use crate::notify::Sent;
                return match crate::notify::send(
                    &self.db,
                    &self.mailer,
                    &j.org_id,
                    notification,
                    now,
                    last_attempt,
                )
                .await
                .map_err(classify)?
                {
                    Sent::Done => Ok(()),
                    Sent::Retry(e) => Err(Failure::Retry(e)),
                    Sent::Refused(e) => Err(Failure::Permanent(e)),
                };
            }
            Task::DeliverWebhook { delivery, .. } => {
                use crate::webhooks::Delivered;
                return match crate::webhooks::deliver(
                    &self.db,
                    &self.http,
                    &j.org_id,
                    delivery,
                    now,
                    last_attempt,
                )
                .await
                .map_err(classify)?
                {
                    Delivered::Done => Ok(()),
                    Delivered::Retry(e) => Err(Failure::Retry(e)),
                };
            }
            Task::InvoiceReminder {
                invoice,
                due_date,
                days,
            } => {
                return crate::collection::remind(&self.db, &ctx, invoice, *due_date, *days)
                    .await
                    .map_err(classify);
            }
            Task::SendDeskEmail { interaction } => {
                use crate::desk::inbound::Sent;
                return match crate::desk::inbound::send(
                    &self.db,
                    &self.mailer,
                    &j.org_id,
                    interaction,
                    last_attempt,
                )
                .await
                .map_err(classify)?
                {
                    Sent::Done => Ok(()),
                    Sent::Retry(e) => Err(Failure::Retry(e)),
                    Sent::Refused(e) => Err(Failure::Permanent(e)),
                };
            }
            Task::SlaCheck {
                ticket,
                clock,
                level,
                due,
            } => {
                return crate::desk::tickets::sla_check(&self.db, &ctx, ticket, clock, level, *due)
                    .await
                    .map_err(classify);
            }
            Task::ChargeInvoice { invoice } => (invoice, 1, now),
            Task::DunningRetry {
                invoice,
                attempt,
                first_failure,
            } => (invoice, attempt + 1, *first_failure),
        };
        let (outcome, subscription) = self.charge_invoice(&ctx, invoice).await?;
        match outcome {
            Charge::Declined => {
                self.after_decline(&ctx, invoice, subscription, next, first)
                    .await
            }
            Charge::Settled => self.reactivate(&ctx, subscription).await,
        }
    }

    /// Charges what is left of an invoice (see the module doc); also says which
    /// subscription it bills.
    async fn charge_invoice(
        &self,
        ctx: &Ctx,
        invoice: &str,
    ) -> Result<(Charge, Option<String>), Failure> {
        let inv = crate::invoicing::get(&self.db, ctx, invoice)
            .await
            .map_err(classify)?;
        if inv.status != "open" || inv.amount_remaining <= 0 {
            return Ok((Charge::Settled, inv.subscription));
        }
        let pending = payments::pending_of_invoice(&self.db, ctx, invoice)
            .await
            .map_err(classify)?;
        let was_pending = pending.is_some();
        let charged = match pending {
            Some(p) => payments::retry_payment(&self.db, &self.gateway, ctx, &p).await,
            None => {
                payments::pay_invoice(
                    &self.db,
                    &self.gateway,
                    ctx,
                    invoice,
                    &InvoicePay::default(),
                )
                .await
            }
        }
        .map_err(classify)?;
        if was_pending && charged.declined.is_none() {
            // The pending payment may have been for part of the invoice: charge the rest on
            // the next attempt.
            let after = crate::invoicing::get(&self.db, ctx, invoice)
                .await
                .map_err(classify)?;
            if after.status == "open" && after.amount_remaining > 0 {
                return Err(Failure::Retry(format!(
                    "a pending payment settled part of invoice {invoice}; {} remains",
                    after.amount_remaining
                )));
            }
        }
        let outcome = if charged.declined.is_some() {
            Charge::Declined
        } else {
            Charge::Settled
        };
        Ok((outcome, inv.subscription))
    }

    /// Marks the subscription past_due and queues retry `next`, or runs the final action.
    async fn after_decline(
        &self,
        ctx: &Ctx,
        invoice: &str,
        subscription: Option<String>,
        next: usize,
        first_failure: DateTime<Utc>,
    ) -> Result<(), Failure> {
        let dunning = dunning_settings(&self.db, ctx).await.map_err(classify)?;
        let mut tx = self
            .db
            .begin()
            .await
            .map_err(|e| Failure::Retry(e.to_string()))?;
        if let Some(sub) = &subscription {
            crate::events::set_subscription_status(&mut tx, ctx, sub, "past_due")
                .await
                .map_err(classify)?;
        }
        let retry_at = dunning.retry_at(next, first_failure);
        if let Some(at) = retry_at {
            let task = Task::DunningRetry {
                invoice: invoice.to_string(),
                attempt: next,
                first_failure,
            };
            enqueue_at(&mut tx, &ctx.org_id, &[(task, at)])
                .await
                .map_err(classify)?;
        }
        tx.commit()
            .await
            .map_err(|e| Failure::Retry(e.to_string()))?;
        if retry_at.is_none() && dunning.final_action == FinalAction::MarkUnpaid {
            if let Some(sub) = &subscription {
                let mut tx = self
                    .db
                    .begin()
                    .await
                    .map_err(|e| Failure::Retry(e.to_string()))?;
                let live = store::subscriptions::get_for_update(&mut tx, &ctx.org_id, sub)
                    .await
                    .map_err(|e| Failure::Retry(e.to_string()))?
                    .is_some_and(|s| s.status == "past_due");
                if live {
                    crate::events::set_subscription_status(&mut tx, ctx, sub, "unpaid")
                        .await
                        .map_err(classify)?;
                }
                tx.commit()
                    .await
                    .map_err(|e| Failure::Retry(e.to_string()))?;
            }
        }
        if retry_at.is_none() && dunning.final_action == FinalAction::Cancel {
            if let Some(sub) = &subscription {
                let cancel = crate::subscriptions::SubscriptionCancel {
                    at_period_end: Some(false),
                    prorate: false,
                };
                match crate::subscriptions::cancel(&self.db, ctx, sub, &cancel).await {
                    Ok(_) => {}
                    // Canceled meanwhile by someone else: nothing left to do.
                    Err(AppError::State { .. }) => {}
                    Err(e) => return Err(classify(e)),
                }
            }
        }
        Ok(())
    }

    /// A past_due or unpaid subscription with no open invoice left is active again.
    async fn reactivate(&self, ctx: &Ctx, subscription: Option<String>) -> Result<(), Failure> {
        let Some(sub) = subscription else {
            return Ok(());
        };
        let mut tx = self
            .db
            .begin()
            .await
            .map_err(|e| Failure::Retry(e.to_string()))?;
        let row = store::subscriptions::get_for_update(&mut tx, &ctx.org_id, &sub)
            .await
            .map_err(|e| Failure::Retry(e.to_string()))?;
        let settled = store::payments::open_invoices_of_subscription(&mut tx, &ctx.org_id, &sub)
            .await
            .map_err(|e| Failure::Retry(e.to_string()))?
            == 0;
        if settled && row.is_some_and(|s| s.status == "past_due" || s.status == "unpaid") {
            crate::events::set_subscription_status(&mut tx, ctx, &sub, "active")
                .await
                .map_err(classify)?;
        }
        tx.commit().await.map_err(|e| Failure::Retry(e.to_string()))
    }
}

/// Whether a charge attempt left the invoice settled (paid, or nothing to do) or declined.
enum Charge {
    Settled,
    Declined,
}

/// Gateway trouble and database errors are worth retrying; a missing card, a bad id or a
/// state that forbids the charge are not.
fn classify(e: AppError) -> Failure {
    match e {
        AppError::State { code, message } => Failure::Permanent(format!("{code}: {message}")),
        AppError::Invalid { message, .. } => Failure::Permanent(message),
        AppError::NotFound { resource, id } => {
            Failure::Permanent(format!("no such {resource}: {id}"))
        }
        other => Failure::Retry(other.to_string()),
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DunningSettings {
    pub object: &'static str,
    /// Days after the first failed automatic charge that it is retried.
    pub retry_days: Vec<u32>,
    /// cancel (the subscription, at once), leave_past_due, or mark_unpaid (the subscription
    /// keeps renewing; its invoices are sent instead of charged until it is paid up).
    pub final_action: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DunningUpdate {
    pub retry_days: Option<Vec<u32>>,
    pub final_action: Option<String>,
}

/// The organisation's dunning schedule.
pub async fn dunning_settings(db: &Db, ctx: &Ctx) -> Result<Dunning> {
    let mut tx = db.read().await?;
    let (days, action) = store::orgs::dunning(&mut tx, &ctx.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organisation", &ctx.org_id))?;
    parse_dunning(&days, &action)
        .map_err(|e| AppError::Internal(format!("stored dunning settings: {e}")))
}

fn parse_dunning(days: &str, action: &str) -> std::result::Result<Dunning, billing::BillingError> {
    let days: Vec<u32> = days
        .split(',')
        .filter(|d| !d.trim().is_empty())
        .map(|d| d.trim().parse::<u32>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| billing::BillingError::InvalidTerms(format!("retry days: {e}")))?;
    Dunning::new(days, FinalAction::parse(action)?)
}

fn dunning_view(d: &Dunning) -> DunningSettings {
    DunningSettings {
        object: "dunning_settings",
        retry_days: d.retry_days().to_vec(),
        final_action: d.final_action.as_str().into(),
    }
}

pub async fn get_dunning(db: &Db, ctx: &Ctx) -> Result<DunningSettings> {
    Ok(dunning_view(&dunning_settings(db, ctx).await?))
}

/// Changes the schedule for failures from now on (retries already queued keep their time).
pub async fn set_dunning(db: &Db, ctx: &Ctx, input: &DunningUpdate) -> Result<DunningSettings> {
    let current = dunning_settings(db, ctx).await?;
    let days = input
        .retry_days
        .clone()
        .unwrap_or_else(|| current.retry_days().to_vec());
    let action = match &input.final_action {
        Some(a) => FinalAction::parse(a).map_err(|e| AppError::billing("final_action", e))?,
        None => current.final_action,
    };
    let d = Dunning::new(days, action).map_err(|e| AppError::billing("retry_days", e))?;
    let text = d
        .retry_days()
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut tx = db.begin().await?;
    store::orgs::set_dunning(&mut tx, &ctx.org_id, &text, d.final_action.as_str()).await?;
    tx.commit().await?;
    Ok(dunning_view(&d))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Job {
    pub id: String,
    pub object: &'static str,
    /// charge_invoice, …
    pub kind: String,
    pub payload: serde_json::Value,
    /// queued, running, succeeded or failed.
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    /// Not run before this instant.
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

fn view(r: JobRow) -> Job {
    Job {
        id: r.id,
        object: "job",
        kind: r.kind,
        payload: serde_json::from_str(&r.payload).unwrap_or(serde_json::Value::Null),
        status: r.status,
        attempts: r.attempts,
        max_attempts: r.max_attempts,
        run_at: r.run_at,
        last_error: r.last_error,
        created: r.created_at,
        finished_at: r.finished_at,
    }
}

pub async fn get(db: &Db, ctx: &Ctx, id: &str) -> Result<Job> {
    parse_id("id", id, JobId::parse)?;
    let mut tx = db.read().await?;
    Ok(view(
        store::jobs::get(&mut tx, &ctx.org_id, id)
            .await?
            .ok_or_else(|| AppError::not_found("job", id))?,
    ))
}

pub async fn list(
    db: &Db,
    ctx: &Ctx,
    status: Option<&str>,
    starting_after: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<Job>> {
    let limit = page_limit(limit)?;
    if let Some(s) = status {
        if !["queued", "running", "succeeded", "failed"].contains(&s) {
            return Err(AppError::invalid(
                "status",
                format!("status must be queued, running, succeeded or failed, got {s:?}"),
            ));
        }
    }
    let mut tx = db.read().await?;
    let rows = store::jobs::list(&mut tx, &ctx.org_id, status, starting_after, limit + 1).await?;
    Ok(Page::from_rows(rows.into_iter().map(view).collect(), limit))
}

/// Queues a failed job again now, with one more attempt.
pub async fn retry(db: &Db, ctx: &Ctx, id: &str) -> Result<Job> {
    parse_id("id", id, JobId::parse)?;
    let mut tx = db.begin().await?;
    let j = store::jobs::get(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("job", id))?;
    if !store::jobs::requeue(&mut tx, &ctx.org_id, id, ctx.now).await? {
        return Err(AppError::state(
            "job_not_failed",
            format!("job {id} is {}; only failed jobs can be retried", j.status),
        ));
    }
    let j = store::jobs::get(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("job", id))?;
    tx.commit().await?;
    Ok(view(j))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_an_hour() {
        let secs: Vec<i64> = (1..=9).map(|a| backoff(a).num_seconds()).collect();
        assert_eq!(secs, vec![30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(0).num_seconds(), 30);
        assert_eq!(backoff(1000).num_seconds(), 3600);
    }
}
