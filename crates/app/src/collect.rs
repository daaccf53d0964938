//! Batch charging: a worker's claimed `charge_invoice` jobs charged together, with a fixed
//! number of transactions and bulk statements per batch instead of several per job.
//!
//! The outcome is the one the jobs would have had run one by one ([`crate::jobs`]'s
//! `charge_invoice` through [`crate::payments::pay_invoice`]): the same payment rows,
//! allocations, ledger postings, invoice amounts and statuses, events, reactivation jobs.
//!
//! 1. One write transaction locks the batch's invoices (in id order) and reads their
//!    customers' default cards; every job that is the common case — an open invoice with
//!    something due, no payment of it pending at the gateway, a default card of this
//!    gateway — gets a `pending` payment, inserted in bulk. The rest (a settled invoice, a
//!    pending payment to settle, no card, a bad payload, …) are left to the one-by-one
//!    path ([`Left::Single`]), which therefore keeps deciding what they come to. The
//!    commit comes before any gateway call: a crash after a call leaves `pending` payments,
//!    which the one-by-one path settles later with the same idempotency key (the
//!    payment's id).
//! 2. The gateway is asked for every payment (the in-process sandbox in turn; a remote
//!    gateway [`CONCURRENCY`] at a time).
//! 3. One write transaction locks the payments (in id order), then marks the invoices
//!    paid — each only if it is still as step 1 found it (compare and set,
//!    `store::payments::pay_in_full`; payments before invoices, as [`crate::payments`]
//!    locks them; customers are not locked, as nothing of theirs changes) — and applies the outcomes
//!    in bulk: payments succeeded or failed, allocations, ledger transactions and entries,
//!    events (`invoice.paid`, `payment.succeeded`, `payment.failed`), reactivation jobs
//!    for past_due subscriptions, and the finished jobs marked succeeded. A payment whose
//!    invoice changed meanwhile (paid or voided by someone else, partly paid) is settled
//!    afterwards by [`crate::payments::retry_payment`] — same key, so the gateway answers
//!    the same — which allocates it the general way.
//!
//! What the worker still does per job is in [`Batch::left`]: dunning after a decline,
//! reactivating a past_due subscription whose invoice got paid, recording a gateway
//! timeout for a retry (the payment stays `pending`), or the whole job for the cases
//! above.

use crate::jobs::Task;
use crate::ledger::TxMeta;
use crate::{AppError, Ctx, Result};
use billing::ids::PaymentId;
use chrono::{DateTime, Utc};
use gateway::{Gateway, GatewayError, Outcome};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Instant;
use store::invoices::InvoiceRow;
use store::jobs::JobRow;
use store::outbox::EventRow;
use store::payments::{AllocationRow, ChargeableRow, PaidInFull, PayInFull, PaymentRow};
use store::{new_id, Db, Tx};

/// Gateway calls in flight at once, for a gateway over the network.
pub const CONCURRENCY: usize = 16;

/// `charge_invoice` jobs a worker claims per pass with `gw`.
///
/// - The in-process sandbox answers at once, so a batch is what two write transactions
///   hold comfortably: 2,000. On SQLite every write waits for the one writer lock, and each
///   pass also claims, dispatches and sends; twice the old 1,000 per batch halves that
///   per-pass share (`bench collect` on SQLite: 8,435–9,820 → 8,889–10,216 payments/s).
/// - A remote gateway is asked [`CONCURRENCY`] at a time, so its batch is eight rounds of
///   calls: even at a 30 s timeout per call the batch ends well inside the jobs' lease, and
///   the worker's other jobs get their turn between batches.
pub fn batch_size(gw: &Gateway) -> i64 {
    match gw {
        Gateway::Sandbox(_) => 2000,
        Gateway::Stripe(_) => CONCURRENCY as i64 * 8,
    }
}

/// The largest amount a payment may have (as `payments::check_amount`).
const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// What is left to do for a job the batch did not finish.
#[derive(Debug)]
pub enum Left {
    /// Nothing was done: run the job one by one.
    Single,
    /// The card was declined (the failed payment is recorded): dunning follows.
    Declined {
        invoice: String,
        subscription: Option<String>,
    },
    /// The invoice is settled: the subscription, if past_due, may be active again.
    Settled { subscription: Option<String> },
    /// The attempt failed (the gateway did not settle the payment: it stays pending).
    Failed(AppError),
}

/// What a batch came to.
#[derive(Debug, Default)]
pub struct Batch {
    /// Jobs done and marked succeeded.
    pub succeeded: usize,
    /// Jobs done whose lease had been lost to another worker.
    pub lost: usize,
    /// Jobs with something left to do, for the worker.
    pub left: Vec<(JobRow, Left)>,
}

/// One payment of the batch.
struct Charge {
    job: JobRow,
    /// The invoice as locked in step 1.
    invoice: InvoiceRow,
    pay: PaymentRow,
    token: String,
}

/// Charges the invoices of `jobs` (all `charge_invoice`, claimed by `worker`) at `now`.
pub async fn charge_jobs(
    db: &Db,
    gw: &Gateway,
    worker: &str,
    jobs: Vec<JobRow>,
    now: DateTime<Utc>,
) -> Result<Batch> {
    let mut batch = Batch::default();
    if jobs.is_empty() {
        return Ok(batch);
    }
    let started = Instant::now();
    let mut wanted: Vec<(JobRow, String)> = Vec::with_capacity(jobs.len());
    for j in jobs {
        match serde_json::from_str::<Task>(&j.payload) {
            Ok(Task::ChargeInvoice { invoice }) if j.kind == "charge_invoice" => {
                wanted.push((j, invoice))
            }
            _ => batch.left.push((j, Left::Single)),
        }
    }
    let claimed = wanted.len();
    let charges = match prepare(db, gw, &wanted, now).await {
        Ok(c) => c,
        Err(e) => {
            // Nothing was written: the jobs run one by one, and fail or retry there.
            tracing::warn!("batch charge: preparing {claimed} payments failed: {e}");
            batch
                .left
                .extend(wanted.into_iter().map(|(j, _)| (j, Left::Single)));
            return Ok(batch);
        }
    };
    let taken: HashSet<&str> = charges.iter().map(|c| c.job.id.as_str()).collect();
    for (j, _) in &wanted {
        if !taken.contains(j.id.as_str()) {
            batch.left.push((j.clone(), Left::Single));
        }
    }
    drop(taken);
    let prepared = Instant::now();

    let outcomes = call_gateway(gw, charges.iter().map(Call::of).collect()).await;
    let called = Instant::now();

    let ids: Vec<String> = charges.iter().map(|c| c.job.id.clone()).collect();
    let applied = match apply(db, gw, worker, charges, outcomes, now).await {
        Ok(a) => a,
        Err(e) => {
            // Nothing of the outcomes was written: the payments stay pending and the jobs
            // settle them one by one, with the same idempotency keys.
            tracing::warn!("batch charge: applying {} outcomes failed: {e}", ids.len());
            let by_id: HashMap<String, JobRow> =
                wanted.into_iter().map(|(j, _)| (j.id.clone(), j)).collect();
            batch.left.extend(
                ids.iter()
                    .filter_map(|id| by_id.get(id).cloned())
                    .map(|j| (j, Left::Single)),
            );
            return Ok(batch);
        }
    };
    batch.succeeded += applied.finished;
    batch.lost += applied.lost;
    batch.left.extend(applied.left);
    tracing::debug!(
        claimed,
        charged = ids.len(),
        prepare_ms = (prepared - started).as_millis() as u64,
        gateway_ms = (called - prepared).as_millis() as u64,
        apply_ms = called.elapsed().as_millis() as u64,
        "batch charge"
    );
    Ok(batch)
}

/// Step 1: the common-case jobs get a pending payment each (committed); the rest are not
/// in the answer.
async fn prepare(
    db: &Db,
    gw: &Gateway,
    wanted: &[(JobRow, String)],
    now: DateTime<Utc>,
) -> Result<Vec<Charge>> {
    let mut by_org: BTreeMap<&str, Vec<&(JobRow, String)>> = BTreeMap::new();
    for w in wanted {
        by_org.entry(w.0.org_id.as_str()).or_default().push(w);
    }
    let mut tx = db.begin().await?;
    let started = Instant::now();
    let mut charges = Vec::new();
    for (org, items) in by_org {
        let ids: Vec<String> = items
            .iter()
            .map(|(_, i)| i.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let invoices: HashMap<String, ChargeableRow> =
            store::payments::chargeable_for_update(&mut tx, org, &ids)
                .await?
                .into_iter()
                .filter(|i| i.invoice.amount_remaining <= MAX_AMOUNT && !i.pending)
                .map(|i| (i.invoice.id.clone(), i))
                .collect();
        let mut seen = HashSet::new();
        for (job, invoice) in items {
            let Some(row) = invoices.get(invoice) else {
                continue;
            };
            if !seen.insert(invoice.as_str()) {
                continue;
            }
            let (Some(method), Some(token)) = (&row.method_id, &row.method_token) else {
                continue;
            };
            if row.method_gateway.as_deref() != Some(gw.name()) {
                continue;
            }
            let inv = &row.invoice;
            let pay = PaymentRow {
                id: new_id!(PaymentId).to_string(),
                org_id: org.to_string(),
                customer_id: inv.customer_id.clone(),
                payment_method_id: Some(method.clone()),
                method: "card".into(),
                status: "pending".into(),
                currency: inv.currency.clone(),
                amount: inv.amount_remaining,
                amount_applied: 0,
                amount_refunded: 0,
                invoice_id: Some(inv.id.clone()),
                gateway: Some(gw.name().to_string()),
                gateway_reference: None,
                reference: None,
                failure_code: None,
                failure_message: None,
                created_at: now,
                updated_at: now,
            };
            charges.push(Charge {
                job: job.clone(),
                invoice: inv.clone(),
                pay,
                token: token.clone(),
            });
        }
    }
    let read = Instant::now();
    let rows: Vec<PaymentRow> = charges.iter().map(|c| c.pay.clone()).collect();
    store::payments::insert_payments(&mut tx, &rows).await?;
    let inserted = Instant::now();
    tx.commit().await?;
    tracing::debug!(
        payments = rows.len(),
        lock_read_ms = (read - started).as_millis() as u64,
        insert_ms = (inserted - read).as_millis() as u64,
        commit_ms = inserted.elapsed().as_millis() as u64,
        "batch charge: pending payments"
    );
    Ok(charges)
}

/// The gateway's answer to a charge.
type Answer = Result<Outcome, GatewayError>;

/// One charge to ask the gateway for.
struct Call {
    token: String,
    amount: i64,
    currency: String,
    /// The idempotency key: the payment's id.
    key: String,
}

impl Call {
    fn of(c: &Charge) -> Call {
        Call {
            token: c.token.clone(),
            amount: c.pay.amount,
            currency: c.pay.currency.clone(),
            key: c.pay.id.clone(),
        }
    }
}

/// Step 2: the gateway's answer for each call, in order.
async fn call_gateway(gw: &Gateway, calls: Vec<Call>) -> Vec<Answer> {
    if let Gateway::Sandbox(_) = gw {
        // In process: nothing to overlap.
        let mut out = Vec::with_capacity(calls.len());
        for c in &calls {
            out.push(gw.charge(&c.token, c.amount, &c.currency, &c.key).await);
        }
        return out;
    }
    let n = calls.len();
    let mut out: Vec<Option<Answer>> = vec![None; n];
    let mut pending = calls.into_iter().enumerate();
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        while in_flight.len() < CONCURRENCY {
            let Some((i, c)) = pending.next() else {
                break;
            };
            let gw = gw.clone();
            in_flight.spawn(async move {
                let answer = gw.charge(&c.token, c.amount, &c.currency, &c.key).await;
                (i, answer)
            });
        }
        match in_flight.join_next().await {
            Some(Ok((i, answer))) => out[i] = Some(answer),
            // A call that panicked has no answer; its payment stays pending (below).
            Some(Err(e)) => tracing::error!("gateway call failed: {e}"),
            None => break,
        }
    }
    out.into_iter()
        .map(|o| {
            o.unwrap_or_else(|| Err(GatewayError::Unavailable("the gateway call failed".into())))
        })
        .collect()
}

/// What step 3 did.
struct Applied {
    finished: usize,
    lost: usize,
    left: Vec<(JobRow, Left)>,
}

/// Everything step 3 writes, gathered before it is written in bulk.
#[derive(Default)]
struct Writes {
    payments: Vec<PaymentRow>,
    allocations: Vec<AllocationRow>,
    ledger_txs: Vec<store::ledger::TransactionRow>,
    ledger_entries: Vec<store::ledger::EntryRow>,
    events: Vec<EventRow>,
    reactivations: BTreeMap<String, Vec<Task>>,
    done: Vec<String>,
}

/// Step 3: applies the gateway's outcomes (see the module doc).
async fn apply(
    db: &Db,
    gw: &Gateway,
    worker: &str,
    charges: Vec<Charge>,
    outcomes: Vec<Answer>,
    now: DateTime<Utc>,
) -> Result<Applied> {
    let mut by_org: BTreeMap<String, Vec<(Charge, Answer)>> = BTreeMap::new();
    for (c, o) in charges.into_iter().zip(outcomes) {
        by_org.entry(c.pay.org_id.clone()).or_default().push((c, o));
    }
    let mut w = Writes::default();
    let mut left: Vec<(JobRow, Left)> = Vec::new();
    let mut later: Vec<Charge> = Vec::new();
    let mut tx = db.begin().await?;
    let mut lap = Lap::new();
    for (org, items) in by_org {
        apply_org(&mut tx, &org, items, now, &mut w, &mut left, &mut later).await?;
    }
    // Payments locked, invoices marked paid.
    let lock_ms = lap.ms();
    store::payments::update_payments(&mut tx, &w.payments).await?;
    let payments_ms = lap.ms();
    store::payments::insert_allocation_rows(&mut tx, &w.allocations).await?;
    let allocations_ms = lap.ms();
    store::ledger::insert(&mut tx, &w.ledger_txs, &w.ledger_entries).await?;
    let ledger_ms = lap.ms();
    store::outbox::insert_events(&mut tx, &w.events).await?;
    let events_ms = lap.ms();
    for (org, tasks) in &w.reactivations {
        crate::jobs::enqueue(&mut tx, org, tasks, now).await?;
    }
    let finished = store::jobs::finish_many(&mut tx, &w.done, worker, now).await?;
    let jobs_ms = lap.ms();
    tx.commit().await?;
    tracing::debug!(
        lock_ms,
        payments_ms,
        allocations_ms,
        ledger_ms,
        events_ms,
        jobs_ms,
        commit_ms = lap.ms(),
        "batch charge: outcomes"
    );

    // Payments whose invoice changed since step 1: settled the general way.
    for c in later {
        let ctx = Ctx::new(c.pay.org_id.clone(), now);
        let subscription = c.invoice.subscription_id.clone();
        let l = match crate::payments::retry_payment(db, gw, &ctx, &c.pay.id).await {
            Ok(charged) if charged.declined.is_some() => Left::Declined {
                invoice: c.invoice.id.clone(),
                subscription,
            },
            Ok(_) => Left::Settled { subscription },
            Err(e) => Left::Failed(e),
        };
        left.push((c.job, l));
    }
    Ok(Applied {
        finished: finished as usize,
        lost: w.done.len() - finished as usize,
        left,
    })
}

/// Step 3 for one organisation's payments: locks the payments, marks the invoices paid and
/// gathers the other writes.
async fn apply_org(
    tx: &mut Tx,
    org: &str,
    items: Vec<(Charge, Answer)>,
    now: DateTime<Utc>,
    w: &mut Writes,
    left: &mut Vec<(JobRow, Left)>,
    later: &mut Vec<Charge>,
) -> Result<()> {
    let pay_ids = sorted(items.iter().map(|(c, _)| c.pay.id.clone()));
    let pending: HashSet<String> = store::payments::payment_statuses_for_update(tx, org, &pay_ids)
        .await?
        .into_iter()
        .filter(|(_, status)| status == "pending")
        .map(|(id, _)| id)
        .collect();
    // The invoices of the charges that succeeded, marked paid where each is still as step 1
    // found it (compare and set; the update locks them in its plan's order, not by id: a
    // deadlock with another transaction locking several of them, which PostgreSQL breaks,
    // rolls this batch back to the one-by-one path).
    let mut full: Vec<PayInFull> = items
        .iter()
        .filter(|(c, o)| pending.contains(&c.pay.id) && matches!(o, Ok(Outcome::Succeeded { .. })))
        .map(|(c, _)| PayInFull {
            id: c.invoice.id.clone(),
            currency: c.pay.currency.clone(),
            amount: c.pay.amount,
            amount_paid: c.invoice.amount_paid,
            amount_credited: c.invoice.amount_credited,
        })
        .collect();
    full.sort_by(|a, b| a.id.cmp(&b.id));
    let mut paid: HashMap<String, PaidInFull> = store::payments::pay_in_full(tx, org, &full)
        .await?
        .into_iter()
        .map(|i| (i.id.clone(), i))
        .collect();

    for (c, outcome) in items {
        // Another attempt (a retry through the API) may have settled it first.
        if !pending.contains(&c.pay.id) {
            later.push(c);
            continue;
        }
        let mut pay = c.pay.clone();
        let fail = |pay: &mut PaymentRow, code: String, message: String| {
            pay.status = "failed".into();
            pay.failure_code = Some(code);
            pay.failure_message = Some(message);
            pay.updated_at = now;
        };
        match outcome {
            Ok(Outcome::Succeeded { reference }) => {
                // The usual case: the invoice was as step 1 found it (nothing paid, credited,
                // voided or written off since) and is now paid.
                let Some(PaidInFull {
                    due_date,
                    collection_method,
                    subscription_status,
                    ..
                }) = paid.remove(&c.invoice.id)
                else {
                    later.push(c);
                    continue;
                };
                // Every invoice has its customer (`verify`): without it the batch is
                // rolled back and its jobs run one by one.
                let collection_method = collection_method.ok_or_else(|| {
                    AppError::Internal(format!("invoice {}: its customer is missing", c.invoice.id))
                })?;
                let mut inv = c.invoice.clone();
                // (A due date may have been extended meanwhile.)
                inv.due_date = due_date;
                inv.amount_paid += pay.amount;
                inv.amount_remaining = 0;
                inv.status = "paid".into();
                w.events.push(crate::events::row(
                    org,
                    "invoice.paid",
                    Some(&inv.customer_id),
                    &inv.id,
                    &crate::events::InvoiceSnapshot::of(&inv, &collection_method),
                    now,
                ));
                w.allocations.push(AllocationRow {
                    payment_id: pay.id.clone(),
                    invoice_id: inv.id.clone(),
                    org_id: org.to_string(),
                    amount: pay.amount,
                });
                let meta = TxMeta {
                    org_id: org,
                    kind: "payment",
                    customer_id: &pay.customer_id,
                    invoice_id: pay.invoice_id.as_deref(),
                    credit_note_id: None,
                    payment_id: Some(&pay.id),
                    refund_id: None,
                    currency: &pay.currency,
                    at: now,
                };
                crate::ledger::post(
                    &meta,
                    &billing::ledger::payment_recovering(pay.amount, pay.amount, 0),
                    &mut w.ledger_txs,
                    &mut w.ledger_entries,
                );
                pay.status = "succeeded".into();
                pay.amount_applied = pay.amount;
                pay.gateway_reference = Some(reference);
                pay.updated_at = now;
                w.events.push(crate::events::row(
                    org,
                    "payment.succeeded",
                    Some(&pay.customer_id),
                    &pay.id,
                    &crate::events::PaymentSnapshot::of(&pay),
                    now,
                ));
                // Past_due (or unpaid): a reactivation job, as `payments::apply` queues.
                let lapsed = matches!(
                    subscription_status.as_deref(),
                    Some("past_due") | Some("unpaid")
                );
                match inv.subscription_id.clone().filter(|_| lapsed) {
                    Some(sub) => {
                        w.reactivations.entry(org.to_string()).or_default().push(
                            Task::Reactivate {
                                subscription: sub.clone(),
                                payment: pay.id.clone(),
                            },
                        );
                        left.push((
                            c.job,
                            Left::Settled {
                                subscription: Some(sub),
                            },
                        ));
                    }
                    None => w.done.push(c.job.id.clone()),
                }
                w.payments.push(pay);
            }
            Ok(Outcome::Declined { code, message }) => {
                fail(&mut pay, code, message);
                declined(org, pay, c, now, w, left);
            }
            Err(e @ GatewayError::Invalid { .. }) => {
                fail(&mut pay, "gateway_rejected".into(), e.to_string());
                declined(org, pay, c, now, w, left);
            }
            Err(GatewayError::Timeout | GatewayError::Unavailable(_)) => {
                // Left pending (nothing written): a retry with the same key settles it.
                let id = &pay.id;
                left.push((
                    c.job,
                    Left::Failed(AppError::Gateway {
                        code: "payment_pending",
                        message: format!("the payment gateway did not settle payment {id}; it stays pending — retry it with POST /v1/payments/{id}/retry"),
                    }),
                ));
            }
        }
    }
    Ok(())
}

/// A declined payment: recorded failed with its event; dunning is left to the worker.
fn declined(
    org: &str,
    pay: PaymentRow,
    c: Charge,
    now: DateTime<Utc>,
    w: &mut Writes,
    left: &mut Vec<(JobRow, Left)>,
) {
    w.events.push(crate::events::row(
        org,
        "payment.failed",
        Some(&pay.customer_id),
        &pay.id,
        &crate::events::PaymentSnapshot::of(&pay),
        now,
    ));
    w.payments.push(pay);
    left.push((
        c.job,
        Left::Declined {
            invoice: c.invoice.id,
            subscription: c.invoice.subscription_id,
        },
    ));
}

/// Milliseconds between calls, for the debug log.
struct Lap(Instant);

impl Lap {
    fn new() -> Lap {
        Lap(Instant::now())
    }
    fn ms(&mut self) -> u64 {
        let ms = self.0.elapsed().as_millis() as u64;
        self.0 = Instant::now();
        ms
    }
}

fn sorted(ids: impl Iterator<Item = String>) -> Vec<String> {
    ids.collect::<BTreeSet<_>>().into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(tokens: &[&str]) -> Vec<Call> {
        tokens
            .iter()
            .enumerate()
            .map(|(i, t)| Call {
                token: t.to_string(),
                amount: 100 + i as i64,
                currency: "EUR".into(),
                key: format!("pay_test{i:016}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn sandbox_answers_come_in_order() {
        let gw = Gateway::Sandbox(gateway::Sandbox::new());
        let tokens = [
            "tok_visa",
            "tok_chargeDeclined",
            "tok_visa",
            "tok_sandbox_timeout_visa_0119",
        ];
        let answers = call_gateway(&gw, calls(&tokens)).await;
        assert!(matches!(answers[0], Ok(Outcome::Succeeded { .. })));
        assert!(matches!(answers[1], Ok(Outcome::Declined { .. })));
        assert!(matches!(answers[2], Ok(Outcome::Succeeded { .. })));
        assert_eq!(answers[3], Err(GatewayError::Timeout));
    }

    #[tokio::test]
    async fn a_remote_gateway_is_asked_for_every_call_a_few_at_a_time() {
        // Nothing listens on port 9 (discard): every call fails to connect, none is lost.
        let stripe = gateway::Stripe::new(
            "http://127.0.0.1:9",
            "sk_test_collect",
            std::time::Duration::from_secs(2),
        )
        .expect("stripe client");
        let gw = Gateway::Stripe(stripe);
        let tokens = vec!["cus_A/card_B"; 3 * CONCURRENCY + 1];
        let answers = call_gateway(&gw, calls(&tokens)).await;
        assert_eq!(answers.len(), tokens.len());
        for a in answers {
            assert!(
                matches!(
                    a,
                    Err(GatewayError::Unavailable(_)) | Err(GatewayError::Timeout)
                ),
                "{a:?}"
            );
        }
    }

    /// An invoice paid in part between step 1 (the pending payment) and step 3: the batch
    /// leaves it alone (compare and set) and the card payment is settled the general way —
    /// the invoice paid, the rest of the payment to the customer's credit balance — on
    /// both backends.
    #[tokio::test]
    async fn an_invoice_changed_after_its_payment_was_made_is_settled_the_general_way() {
        for backend in [store::Backend::Sqlite, store::Backend::Postgres] {
            let Some((db, _)) = store::testing::fresh(backend).await else {
                continue;
            };
            let now = DateTime::parse_from_rfc3339("2026-06-01T08:00:00Z")
                .unwrap()
                .with_timezone(&Utc);
            let gw = Gateway::Sandbox(gateway::Sandbox::new());
            let org = crate::orgs::create_org(&db, "Test", "DE", now)
                .await
                .unwrap();
            let ctx = Ctx::new(org.org_id, now);
            let customer = crate::customers::create(
                &db,
                &ctx,
                &crate::customers::CustomerCreate {
                    name: "Card customer".into(),
                    time_zone: Some("Europe/Berlin".into()),
                    currency: "EUR".into(),
                    collection_method: Some("charge_automatically".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            crate::payments::attach_method(
                &db,
                &gw,
                &ctx,
                &crate::payments::PaymentMethodCreate {
                    customer: customer.id.clone(),
                    kind: "card".into(),
                    card: None,
                    token: Some("tok_visa".into()),
                    bank: None,
                    set_default: None,
                },
            )
            .await
            .unwrap();
            let invoice = crate::invoicing::create(
                &db,
                &ctx,
                &crate::invoicing::InvoiceCreate {
                    customer: customer.id.clone(),
                    currency: None,
                    lines: vec![crate::invoicing::LineCreate {
                        description: Some("Work".into()),
                        price: None,
                        quantity: None,
                        amount: Some(10_000),
                    }],
                    coupons: vec![],
                    memo: None,
                    finalize: true,
                },
            )
            .await
            .unwrap();
            let mut tx = db.begin().await.unwrap();
            let jobs = store::jobs::claim_kind(
                &mut tx,
                "w",
                now,
                now + chrono::Duration::minutes(5),
                "charge_invoice",
                10,
                None,
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
            assert_eq!(jobs.len(), 1, "{backend:?}");
            let wanted = vec![(jobs[0].clone(), invoice.id.clone())];

            let charges = prepare(&db, &gw, &wanted, now).await.unwrap();
            assert_eq!(charges.len(), 1, "{backend:?}");
            let card_payment = charges[0].pay.id.clone();
            // Meanwhile, 1,000 arrives by bank transfer.
            crate::payments::record(
                &db,
                &ctx,
                &crate::payments::PaymentCreate {
                    customer: customer.id.clone(),
                    amount: 1_000,
                    currency: None,
                    method: "bank_transfer".into(),
                    reference: Some("SEPA 1".into()),
                    invoice: Some(invoice.id.clone()),
                },
            )
            .await
            .unwrap();
            let outcomes = call_gateway(&gw, charges.iter().map(Call::of).collect()).await;
            let applied = apply(&db, &gw, "w", charges, outcomes, now).await.unwrap();
            assert_eq!(applied.finished, 0, "{backend:?}");
            assert!(
                matches!(applied.left.as_slice(), [(_, Left::Settled { .. })]),
                "{backend:?}: {:?}",
                applied.left
            );

            let mut tx = db.read().await.unwrap();
            let inv = store::invoices::get(&mut tx, &ctx.org_id, &invoice.id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (inv.status.as_str(), inv.amount_paid, inv.amount_remaining),
                ("paid", 10_000, 0),
                "{backend:?}"
            );
            let pay = store::payments::get_payment(&mut tx, &ctx.org_id, &card_payment, false)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (pay.status.as_str(), pay.amount, pay.amount_applied),
                ("succeeded", 10_000, 9_000),
                "{backend:?}"
            );
            let cus = store::customers::get(&mut tx, &ctx.org_id, &customer.id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(cus.credit_balance, 1_000, "{backend:?}");
            let violations = store::verify::check_all(&mut tx).await.unwrap();
            assert!(violations.is_empty(), "{backend:?}: {violations:#?}");
        }
    }
}
