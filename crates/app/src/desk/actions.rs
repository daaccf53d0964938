//! Billing actions taken from a ticket, within the agent's authority (DESK.md "Agent
//! authority").
//!
//! Each action runs through the existing billing use case — same rules, same ledger:
//!
//! | action               | use case                                   | amount judged against the limit |
//! |----------------------|--------------------------------------------|---------------------------------|
//! | `credit_note`        | `invoicing::create_credit_note` (reason = `reason_code`, e.g. `billing_error`) | the credit note's total |
//! | `goodwill_credit`    | BILLING.md "Goodwill credit G: Dr goodwill G; Cr customer_credit G" (`billing::ledger::goodwill_credit`), here | `amount` |
//! | `discount`           | `subscriptions::create_discount` (a coupon on the customer) | what it takes off: amount-off × periods for `once`/`repeating`; for percent-off or `forever` coupons the requester's estimate `amount`, which is required |
//! | `refund`             | `payments::refund` (reason = `reason_code`) | the refund |
//! | `due_date_extension` | `collection::extend_due_date`              | the invoice's amount remaining |
//! | `payment_plan`       | `collection::create_plan`                  | the invoice's amount remaining |
//! | `write_off`          | `invoicing::mark_uncollectible`            | the invoice's amount remaining |
//!
//! The organisation's overrides (`authority_limits`) over `desk::authority`'s defaults decide:
//! within the limit the action runs at once (`executed`); above it the action is recorded
//! `pending_approval` and changes nothing until a role whose own limit covers it — never the
//! requester — approves it ([`approve`]); a rejected one ([`reject`]) never runs. During a
//! phone or chat contact (`interaction`) the caller must be verified first
//! (`identity::require_verified`). Every request, decision and execution is in the audit
//! log, and the resulting object is linked to the ticket.
//!
//! Exactly once: the ticket action row is the record of the request. Goodwill credits are
//! written in the same transaction as the row. The other use cases open their own
//! transaction, so the row is first committed as `executed` with the idempotency key
//! `ticket_action:<id>` claimed (a concurrent second approval finds the row no longer
//! pending), then the use case runs, then the result is recorded and the key completed. If
//! the use case refuses, the row returns to what it was (an immediate action is removed, an
//! approved one is pending again) and the key is released. The credit note's memo names the
//! action, so a crash between the two transactions leaves a traceable credit note.

use super::{audit, identity, StaffCtx};
use crate::{AppError, Ctx, Result};
use billing::ids::{LedgerTransactionId, TicketActionId};
use chrono::{DateTime, NaiveDate, Utc};
use desk::authority::{Action, Decision, Limit, Limits, Permission, Role};
use gateway::Gateway;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::desk::TicketActionRow;
use store::{new_id, Db, Tx};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstalmentSpec {
    pub due_date: NaiveDate,
    pub amount: i64,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditLineSpec {
    pub invoice_line: String,
    /// Tax-inclusive minor units; omit for all that remains of the line.
    pub amount: Option<i64>,
}

/// A billing action requested from a ticket.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionInput {
    /// credit_note, goodwill_credit, discount, refund, due_date_extension, payment_plan,
    /// write_off.
    pub action: String,
    /// Minor units. credit_note: total to credit (spread over the lines in order; omit for
    /// all that remains); goodwill_credit: required; refund: default all that is left of
    /// the payment; discount: the estimated value (required for percent-off or forever
    /// coupons). Ignored for due-date extensions, payment plans and write-offs (the
    /// invoice's amount remaining counts).
    pub amount: Option<i64>,
    /// Must match the currency of the object acted on, when given.
    pub currency: Option<String>,
    /// credit_note, due_date_extension, payment_plan, write_off.
    pub invoice: Option<String>,
    /// refund.
    pub payment: Option<String>,
    /// Free text: why (shown to approvers, kept on the record).
    pub reason: String,
    /// credit_note: billing_error, duplicate, product_unsatisfactory, goodwill,
    /// order_change, fraudulent. refund: requested_by_customer, duplicate, fraudulent,
    /// goodwill, other. Others: a lowercase code of your own (e.g. retention).
    pub reason_code: String,
    /// The phone or chat interaction this is done in (requires a live verification).
    pub interaction: Option<String>,
    /// credit_note: particular lines instead of `amount`.
    pub lines: Option<Vec<CreditLineSpec>>,
    /// discount: the coupon to attach.
    pub coupon: Option<String>,
    /// discount: limit it to one subscription.
    pub subscription: Option<String>,
    /// due_date_extension: the new due date.
    pub due_date: Option<NaiveDate>,
    /// payment_plan: the instalments, adding up to the amount remaining.
    pub instalments: Option<Vec<InstalmentSpec>>,
}

/// What exactly will run, fixed at request time (stored as the row's `params`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum Step {
    CreditNote {
        invoice: String,
        lines: Vec<(String, i64)>,
    },
    GoodwillCredit,
    Discount {
        coupon: String,
        subscription: Option<String>,
    },
    Refund {
        payment: String,
    },
    DueDateExtension {
        invoice: String,
        due_date: NaiveDate,
    },
    PaymentPlan {
        invoice: String,
        instalments: Vec<(NaiveDate, i64)>,
    },
    WriteOff {
        invoice: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Params {
    customer: String,
    interaction: Option<String>,
    plan: Step,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketAction {
    pub id: String,
    pub object: &'static str,
    pub ticket: String,
    pub action: String,
    pub currency: String,
    pub amount: i64,
    #[schema(value_type = Object)]
    pub params: Value,
    pub reason: String,
    pub reason_code: String,
    /// executed, pending_approval or rejected.
    pub status: String,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_note: Option<String>,
    /// The credit note, refund, discount, invoice or ledger transaction it produced.
    pub result: Option<String>,
    /// While pending: the roles that may approve it, weakest first.
    pub approver_roles: Vec<String>,
    pub created: DateTime<Utc>,
}

pub(crate) fn view(r: &TicketActionRow, limits: &Limits) -> TicketAction {
    let approver_roles = match (r.status.as_str(), Action::parse(&r.action)) {
        ("pending_approval", Ok(a)) => {
            desk::authority::approvers(limits, a, &r.currency, minor_digits(&r.currency), r.amount)
                .into_iter()
                .map(|r| r.as_str().to_string())
                .collect()
        }
        _ => vec![],
    };
    TicketAction {
        id: r.id.clone(),
        object: "ticket_action",
        ticket: r.ticket_id.clone(),
        action: r.action.clone(),
        currency: r.currency.clone(),
        amount: r.amount,
        params: serde_json::from_str(&r.params).unwrap_or(Value::Null),
        reason: r.reason.clone(),
        reason_code: r.reason_code.clone(),
        status: r.status.clone(),
        requested_by: r.requested_by.clone(),
        decided_by: r.decided_by.clone(),
        decided_at: r.decided_at,
        decision_note: r.decision_note.clone(),
        result: r.result_object_id.clone(),
        approver_roles,
        created: r.created_at,
    }
}

fn minor_digits(currency: &str) -> u32 {
    billing::money::Currency::parse(currency)
        .map(|c| c.exponent())
        .unwrap_or(2)
}

/// The organisation's limits: the defaults with its overrides.
pub async fn load_limits(tx: &mut Tx, org: &str) -> Result<Limits> {
    let mut l = Limits::new();
    for (role, action, currency, limit) in store::desk::authority_limits(tx, org).await? {
        if let (Ok(r), Ok(a)) = (Role::parse(&role), Action::parse(&action)) {
            l.set(r, a, &currency, limit.map_or(Limit::Unlimited, Limit::UpTo));
        }
    }
    Ok(l)
}

fn check_amount(param: &str, amount: i64) -> Result<()> {
    if amount <= 0 || amount > 1_000_000_000_000 {
        return Err(AppError::invalid(
            param,
            format!("{param} must be positive and at most 1000000000000, got {amount}"),
        ));
    }
    Ok(())
}

fn check_reason_code(action: Action, code: &str) -> Result<()> {
    let allowed: Option<&[&str]> = match action {
        Action::CreditNote => Some(crate::invoicing::CREDIT_REASONS),
        Action::Refund => Some(crate::payments::REFUND_REASONS),
        _ => None,
    };
    match allowed {
        Some(list) if !list.contains(&code) => Err(AppError::invalid(
            "reason_code",
            format!(
                "reason_code must be one of {}, got {code:?}",
                list.join(", ")
            ),
        )),
        Some(_) => Ok(()),
        None => {
            let ok = !code.is_empty()
                && code.len() <= 64
                && code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit());
            if ok {
                Ok(())
            } else {
                Err(AppError::invalid(
                    "reason_code",
                    "reason_code is 1 to 64 characters of a-z, 0-9 and _",
                ))
            }
        }
    }
}

async fn invoice_of(
    tx: &mut Tx,
    org: &str,
    customer: &str,
    invoice: Option<&String>,
) -> Result<store::invoices::InvoiceRow> {
    let id = invoice.ok_or_else(|| AppError::missing("invoice"))?;
    let inv = store::invoices::get(tx, org, id)
        .await?
        .ok_or_else(|| AppError::invalid("invoice", format!("no such invoice: {id}")))?;
    if inv.customer_id != customer {
        return Err(AppError::invalid(
            "invoice",
            format!("invoice {id} belongs to another customer than the ticket's"),
        ));
    }
    Ok(inv)
}

/// Resolves the request into a plan, its currency and the amount judged.
async fn plan(
    tx: &mut Tx,
    org: &str,
    customer: &store::customers::CustomerRow,
    action: Action,
    input: &ActionInput,
) -> Result<(Step, String, i64)> {
    let cus = customer.id.as_str();
    Ok(match action {
        Action::CreditNote => {
            let inv = invoice_of(tx, org, cus, input.invoice.as_ref()).await?;
            let lines = store::invoices::lines(tx, org, &inv.id).await?;
            let credited: std::collections::BTreeMap<String, i64> =
                store::invoices::credited_per_line(tx, org, &inv.id)
                    .await?
                    .into_iter()
                    .map(|(l, a, _)| (l, a))
                    .collect();
            let left = |id: &str| -> Option<i64> {
                lines
                    .iter()
                    .find(|l| l.id == id)
                    .map(|l| l.total - credited.get(id).copied().unwrap_or(0))
            };
            let mut out = Vec::new();
            match (&input.lines, input.amount) {
                (Some(_), Some(_)) => {
                    return Err(AppError::invalid(
                        "lines",
                        "give either lines or amount, not both",
                    ))
                }
                (Some(ls), None) => {
                    if ls.is_empty() {
                        return Err(AppError::missing("lines"));
                    }
                    for (i, l) in ls.iter().enumerate() {
                        let rest = left(&l.invoice_line).ok_or_else(|| {
                            AppError::invalid(
                                format!("lines[{i}].invoice_line"),
                                format!("invoice {} has no line {}", inv.id, l.invoice_line),
                            )
                        })?;
                        let a = l.amount.unwrap_or(rest);
                        check_amount(&format!("lines[{i}].amount"), a)?;
                        out.push((l.invoice_line.clone(), a));
                    }
                }
                (None, amount) => {
                    let mut want = match amount {
                        Some(a) => {
                            check_amount("amount", a)?;
                            a
                        }
                        None => i64::MAX,
                    };
                    let mut sorted: Vec<_> = lines.iter().filter(|l| l.total > 0).collect();
                    sorted.sort_by_key(|l| l.position);
                    for l in sorted {
                        if want == 0 {
                            break;
                        }
                        let rest = left(&l.id).unwrap_or(0);
                        let take = rest.min(want);
                        if take > 0 {
                            out.push((l.id.clone(), take));
                            want -= take;
                        }
                    }
                    if amount.is_some() && want > 0 {
                        return Err(AppError::invalid(
                            "amount",
                            format!(
                                "invoice {} has only {} left to credit",
                                inv.id,
                                amount.unwrap_or(0) - want
                            ),
                        ));
                    }
                    if out.is_empty() {
                        return Err(AppError::state(
                            "nothing_to_credit",
                            format!("invoice {} has nothing left to credit", inv.id),
                        ));
                    }
                }
            }
            let total = out.iter().map(|(_, a)| *a).sum();
            (
                Step::CreditNote {
                    invoice: inv.id,
                    lines: out,
                },
                inv.currency,
                total,
            )
        }
        Action::GoodwillCredit => {
            let a = input.amount.ok_or_else(|| AppError::missing("amount"))?;
            check_amount("amount", a)?;
            (Step::GoodwillCredit, customer.currency.clone(), a)
        }
        Action::Discount => {
            let coupon = input
                .coupon
                .clone()
                .ok_or_else(|| AppError::missing("coupon"))?;
            let c = store::catalog::get_coupon(tx, org, &coupon)
                .await?
                .ok_or_else(|| AppError::invalid("coupon", format!("no such coupon: {coupon}")))?;
            let periods = match c.duration.as_str() {
                "once" => Some(1),
                "repeating" => Some(c.duration_in_periods.unwrap_or(1).max(1)),
                _ => None,
            };
            let computed = match (c.amount_off, periods) {
                (Some(off), Some(n)) => Some(off.saturating_mul(n)),
                _ => None,
            };
            let amount = match (input.amount, computed) {
                (Some(a), Some(c)) => {
                    check_amount("amount", a)?;
                    a.max(c)
                }
                (None, Some(c)) => c,
                (Some(a), None) => {
                    check_amount("amount", a)?;
                    a
                }
                (None, None) => {
                    return Err(AppError::invalid(
                        "amount",
                        "a percent-off or forever coupon needs the estimated value it takes off as amount",
                    ))
                }
            };
            (
                Step::Discount {
                    coupon,
                    subscription: input.subscription.clone(),
                },
                c.currency.unwrap_or_else(|| customer.currency.clone()),
                amount,
            )
        }
        Action::Refund => {
            let id = input
                .payment
                .clone()
                .ok_or_else(|| AppError::missing("payment"))?;
            let pay = store::payments::get_payment(tx, org, &id, false)
                .await?
                .ok_or_else(|| AppError::invalid("payment", format!("no such payment: {id}")))?;
            if pay.customer_id != cus {
                return Err(AppError::invalid(
                    "payment",
                    format!("payment {id} belongs to another customer than the ticket's"),
                ));
            }
            let amount = match input.amount {
                Some(a) => {
                    check_amount("amount", a)?;
                    a
                }
                None => pay.amount - pay.amount_refunded,
            };
            if amount <= 0 {
                return Err(AppError::state(
                    "refund_exceeds_payment",
                    format!("payment {id} has nothing left to refund"),
                ));
            }
            (Step::Refund { payment: id }, pay.currency, amount)
        }
        Action::DueDateExtension | Action::PaymentPlan | Action::WriteOff => {
            let inv = invoice_of(tx, org, cus, input.invoice.as_ref()).await?;
            if inv.status != "open" || inv.amount_remaining <= 0 {
                return Err(AppError::state(
                    "invoice_not_open",
                    format!(
                        "invoice {} is {} with {} remaining",
                        inv.id, inv.status, inv.amount_remaining
                    ),
                ));
            }
            let p = match action {
                Action::DueDateExtension => Step::DueDateExtension {
                    invoice: inv.id.clone(),
                    due_date: input
                        .due_date
                        .ok_or_else(|| AppError::missing("due_date"))?,
                },
                Action::PaymentPlan => {
                    let ins = input
                        .instalments
                        .as_ref()
                        .ok_or_else(|| AppError::missing("instalments"))?;
                    Step::PaymentPlan {
                        invoice: inv.id.clone(),
                        instalments: ins.iter().map(|i| (i.due_date, i.amount)).collect(),
                    }
                }
                _ => Step::WriteOff {
                    invoice: inv.id.clone(),
                },
            };
            (p, inv.currency, inv.amount_remaining)
        }
    })
}

fn claim_key(id: &str) -> String {
    format!("ticket_action:{id}")
}

/// Writes a goodwill credit in `tx` (BILLING.md: Dr goodwill G; Cr customer_credit G) and
/// returns the ledger transaction id.
async fn goodwill_credit(
    tx: &mut Tx,
    ctx: &Ctx,
    customer: &str,
    currency: &str,
    amount: i64,
) -> Result<String> {
    let cus = store::customers::get_for_update(tx, &ctx.org_id, customer)
        .await?
        .ok_or_else(|| AppError::not_found("customer", customer))?;
    if cus.currency != currency {
        return Err(AppError::state(
            "currency_mismatch",
            format!(
                "customer {customer} bills in {}, not {currency}",
                cus.currency
            ),
        ));
    }
    let meta = crate::ledger::TxMeta {
        org_id: &ctx.org_id,
        kind: "goodwill_credit",
        customer_id: customer,
        invoice_id: None,
        credit_note_id: None,
        payment_id: None,
        refund_id: None,
        currency,
        at: ctx.now,
    };
    let (mut txs, mut entries) = (Vec::new(), Vec::new());
    crate::ledger::post(
        &meta,
        &billing::ledger::goodwill_credit(amount),
        &mut txs,
        &mut entries,
    );
    let id = txs
        .first()
        .map(|t| t.id.clone())
        .unwrap_or_else(|| new_id!(LedgerTransactionId).to_string());
    store::ledger::insert(tx, &txs, &entries).await?;
    store::customers::add_credit_balance(tx, &ctx.org_id, customer, amount).await?;
    Ok(id)
}

/// Runs a use case that opens its own transaction. Returns the result id and the objects
/// to link to the ticket.
async fn run_external(
    db: &Db,
    gw: &Gateway,
    ctx: &Ctx,
    row: &TicketActionRow,
    p: &Params,
) -> Result<(String, Vec<(&'static str, String)>)> {
    Ok(match &p.plan {
        Step::CreditNote { invoice, lines } => {
            let cn = crate::invoicing::create_credit_note(
                db,
                ctx,
                &crate::invoicing::CreditNoteCreate {
                    invoice: invoice.clone(),
                    reason: row.reason_code.clone(),
                    memo: Some(format!(
                        "{} (desk action {}, ticket {})",
                        row.reason, row.id, row.ticket_id
                    )),
                    lines: Some(
                        lines
                            .iter()
                            .map(|(l, a)| crate::invoicing::CreditNoteLineCreate {
                                invoice_line: l.clone(),
                                amount: Some(*a),
                            })
                            .collect(),
                    ),
                },
            )
            .await?;
            (
                cn.id.clone(),
                vec![("credit_note", cn.id), ("invoice", invoice.clone())],
            )
        }
        Step::Refund { payment } => {
            let r = crate::payments::refund(
                db,
                gw,
                ctx,
                &crate::payments::RefundCreate {
                    payment: payment.clone(),
                    amount: Some(row.amount),
                    reason: row.reason_code.clone(),
                },
            )
            .await?;
            (r.id, vec![("payment", payment.clone())])
        }
        Step::Discount {
            coupon,
            subscription,
        } => {
            let d = crate::subscriptions::create_discount(
                db,
                ctx,
                &p.customer,
                &crate::subscriptions::DiscountCreate {
                    coupon: coupon.clone(),
                    subscription: subscription.clone(),
                },
            )
            .await?;
            let links = subscription
                .iter()
                .map(|s| ("subscription", s.clone()))
                .collect();
            (d.id, links)
        }
        Step::DueDateExtension { invoice, due_date } => {
            crate::collection::extend_due_date(
                db,
                ctx,
                invoice,
                &crate::collection::DueDateExtension {
                    due_date: *due_date,
                    reason: row.reason.clone(),
                },
            )
            .await?;
            (invoice.clone(), vec![("invoice", invoice.clone())])
        }
        Step::PaymentPlan {
            invoice,
            instalments,
        } => {
            crate::collection::create_plan(
                db,
                ctx,
                invoice,
                &crate::collection::PaymentPlanCreate {
                    instalments: instalments
                        .iter()
                        .map(|(d, a)| crate::collection::InstalmentInput {
                            due_date: *d,
                            amount: *a,
                        })
                        .collect(),
                    reason: row.reason.clone(),
                },
            )
            .await?;
            (invoice.clone(), vec![("invoice", invoice.clone())])
        }
        Step::WriteOff { invoice } => {
            crate::invoicing::mark_uncollectible(db, ctx, invoice).await?;
            (invoice.clone(), vec![("invoice", invoice.clone())])
        }
        Step::GoodwillCredit => {
            return Err(AppError::Internal(
                "goodwill credits run in the action's transaction".into(),
            ))
        }
    })
}

/// What to do with the row when the use case refuses.
enum OnFailure {
    Delete,
    BackToPending,
}

/// Runs a committed `executed` row's use case, then records the result (or undoes the row).
async fn execute_committed(
    db: &Db,
    gw: &Gateway,
    sctx: &StaffCtx,
    mut row: TicketActionRow,
    on_failure: OnFailure,
) -> Result<TicketAction> {
    let org = sctx.org().to_string();
    let p: Params = serde_json::from_str(&row.params)
        .map_err(|e| AppError::Internal(format!("ticket action {}: {e}", row.id)))?;
    match run_external(db, gw, &sctx.ctx, &row, &p).await {
        Ok((result, links)) => {
            let mut tx = db.begin().await?;
            let before = json!(row);
            row.result_object_id = Some(result);
            store::desk::update_ticket_action(&mut tx, &row).await?;
            for (ty, id) in &links {
                store::desk::add_link(&mut tx, &org, &row.ticket_id, ty, id).await?;
            }
            audit::record(
                &mut tx,
                sctx,
                "ticket_action.executed",
                "ticket_action",
                &row.id,
                &before,
                &json!(row),
            )
            .await?;
            let limits = load_limits(&mut tx, &org).await?;
            let v = view(&row, &limits);
            store::idempotency::complete(
                &mut tx,
                &org,
                &claim_key(&row.id),
                200,
                &serde_json::to_string(&v).unwrap_or_default(),
            )
            .await?;
            tx.commit().await?;
            Ok(v)
        }
        Err(e) => {
            let mut tx = db.begin().await?;
            match on_failure {
                OnFailure::Delete => {
                    store::desk::delete_ticket_action(&mut tx, &org, &row.id).await?;
                }
                OnFailure::BackToPending => {
                    row.status = "pending_approval".into();
                    row.decided_by = None;
                    row.decided_at = None;
                    row.decision_note = None;
                    store::desk::update_ticket_action(&mut tx, &row).await?;
                }
            }
            store::idempotency::release(&mut tx, &org, &claim_key(&row.id)).await?;
            tx.commit().await?;
            Err(e)
        }
    }
}

/// Requests a billing action from a ticket: runs it now within the role's limit, or records
/// it for approval above it.
pub async fn take(
    db: &Db,
    gw: &Gateway,
    sctx: &StaffCtx,
    ticket_id: &str,
    input: ActionInput,
) -> Result<TicketAction> {
    sctx.require(Permission::BillingAction)?;
    let action =
        Action::parse(&input.action).map_err(|e| AppError::invalid("action", e.to_string()))?;
    check_reason_code(action, &input.reason_code)?;
    let reason = input.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::invalid(
            "reason",
            "reason must be 1 to 500 characters",
        ));
    }
    let org = sctx.org().to_string();
    let now = sctx.ctx.now;
    let mut tx = db.begin().await?;
    let ticket = store::desk::get_ticket(&mut tx, &org, ticket_id, true)
        .await?
        .ok_or_else(|| AppError::not_found("ticket", ticket_id))?;
    if ticket.status == "closed" || ticket.merged_into.is_some() {
        return Err(AppError::state(
            "ticket_closed",
            format!("ticket {} is closed; open a follow-up ticket", ticket.id),
        ));
    }
    let customer_id = ticket.customer_id.clone().ok_or_else(|| {
        AppError::state(
            "ticket_without_customer",
            format!("ticket {} is not attached to a customer account", ticket.id),
        )
    })?;
    let customer = store::customers::get(&mut tx, &org, &customer_id)
        .await?
        .ok_or_else(|| AppError::not_found("customer", &customer_id))?;
    identity::require_verified(&mut tx, sctx, input.interaction.as_deref(), &customer_id).await?;
    let (plan, currency, amount) = plan(&mut tx, &org, &customer, action, &input).await?;
    if let Some(c) = &input.currency {
        if !c.trim().eq_ignore_ascii_case(&currency) {
            return Err(AppError::invalid(
                "currency",
                format!("the {} is in {currency}, not {c}", action.as_str()),
            ));
        }
    }
    let limits = load_limits(&mut tx, &org).await?;
    let decision = desk::authority::decide(
        &limits,
        sctx.role,
        action,
        &currency,
        minor_digits(&currency),
        amount,
    );
    let params = Params {
        customer: customer_id.clone(),
        interaction: input.interaction.clone(),
        plan,
    };
    let mut row = TicketActionRow {
        id: new_id!(TicketActionId).to_string(),
        org_id: org.clone(),
        ticket_id: ticket.id.clone(),
        action: action.as_str().to_string(),
        currency: currency.clone(),
        amount,
        params: serde_json::to_string(&params).map_err(|e| AppError::Internal(e.to_string()))?,
        reason,
        reason_code: input.reason_code.clone(),
        status: String::new(),
        requested_by: sctx.actor_id(),
        decided_by: None,
        decided_at: None,
        decision_note: None,
        result_object_id: None,
        created_at: now,
    };
    match decision {
        Decision::Forbidden => Err(AppError::Forbidden(format!(
            "the {} role may not take billing actions",
            sctx.role.as_str()
        ))),
        Decision::NeedsApproval => {
            row.status = "pending_approval".into();
            store::desk::insert_ticket_action(&mut tx, &row).await?;
            audit::record(
                &mut tx,
                sctx,
                "ticket_action.requested",
                "ticket_action",
                &row.id,
                &json!(null),
                &json!(row),
            )
            .await?;
            tx.commit().await?;
            Ok(view(&row, &limits))
        }
        Decision::Allowed => {
            row.status = "executed".into();
            row.decided_by = Some(sctx.actor_id());
            row.decided_at = Some(now);
            if let Step::GoodwillCredit = params.plan {
                row.result_object_id = Some(
                    goodwill_credit(&mut tx, &sctx.ctx, &customer_id, &currency, amount).await?,
                );
                store::desk::insert_ticket_action(&mut tx, &row).await?;
                audit::record(
                    &mut tx,
                    sctx,
                    "ticket_action.executed",
                    "ticket_action",
                    &row.id,
                    &json!(null),
                    &json!(row),
                )
                .await?;
                tx.commit().await?;
                return Ok(view(&row, &limits));
            }
            store::desk::insert_ticket_action(&mut tx, &row).await?;
            store::idempotency::claim(&mut tx, &org, &claim_key(&row.id), &row.id, now).await?;
            tx.commit().await?;
            execute_committed(db, gw, sctx, row, OnFailure::Delete).await
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    pub note: Option<String>,
}

/// Locks a pending action and checks that the acting staff may decide it: the approve
/// permission, a limit that covers it, and not the requester.
async fn decidable(
    tx: &mut Tx,
    sctx: &StaffCtx,
    action_id: &str,
) -> Result<(TicketActionRow, Limits)> {
    sctx.require(Permission::Approve)?;
    let org = sctx.org();
    let row = store::desk::get_ticket_action(tx, org, action_id, true)
        .await?
        .ok_or_else(|| AppError::not_found("ticket_action", action_id))?;
    if row.status != "pending_approval" {
        return Err(AppError::state(
            "action_not_pending",
            format!("ticket action {} is {}", row.id, row.status),
        ));
    }
    if row.requested_by == sctx.actor_id() {
        return Err(AppError::Forbidden(
            "a request cannot be decided by the person who made it".into(),
        ));
    }
    let action = Action::parse(&row.action)
        .map_err(|e| AppError::Internal(format!("ticket action {}: {e}", row.id)))?;
    let limits = load_limits(tx, org).await?;
    if !desk::authority::may_approve(
        &limits,
        sctx.role,
        action,
        &row.currency,
        minor_digits(&row.currency),
        row.amount,
    ) {
        return Err(AppError::Forbidden(format!(
            "the {} role's limit does not cover {} {} for {}",
            sctx.role.as_str(),
            row.amount,
            row.currency,
            row.action
        )));
    }
    Ok((row, limits))
}

/// Approves a pending action; it runs now.
pub async fn approve(
    db: &Db,
    gw: &Gateway,
    sctx: &StaffCtx,
    action_id: &str,
    input: DecisionInput,
) -> Result<TicketAction> {
    let org = sctx.org().to_string();
    let now = sctx.ctx.now;
    let mut tx = db.begin().await?;
    let (mut row, limits) = decidable(&mut tx, sctx, action_id).await?;
    let before = json!(row);
    row.status = "executed".into();
    row.decided_by = Some(sctx.actor_id());
    row.decided_at = Some(now);
    row.decision_note = input.note.clone();
    let p: Params = serde_json::from_str(&row.params)
        .map_err(|e| AppError::Internal(format!("ticket action {}: {e}", row.id)))?;
    if let Step::GoodwillCredit = p.plan {
        row.result_object_id = Some(
            goodwill_credit(&mut tx, &sctx.ctx, &p.customer, &row.currency, row.amount).await?,
        );
    } else if let Some(prev) =
        store::idempotency::claim(&mut tx, &org, &claim_key(&row.id), &row.id, now).await?
    {
        return Err(AppError::state(
            "action_in_progress",
            format!(
                "ticket action {} is already being executed (since {})",
                row.id, prev.created_at
            ),
        ));
    }
    store::desk::update_ticket_action(&mut tx, &row).await?;
    audit::record(
        &mut tx,
        sctx,
        "ticket_action.approved",
        "ticket_action",
        &row.id,
        &before,
        &json!(row),
    )
    .await?;
    tx.commit().await?;
    if row.result_object_id.is_some() {
        return Ok(view(&row, &limits));
    }
    execute_committed(db, gw, sctx, row, OnFailure::BackToPending).await
}

/// Rejects a pending action; it never runs.
pub async fn reject(
    db: &Db,
    sctx: &StaffCtx,
    action_id: &str,
    input: DecisionInput,
) -> Result<TicketAction> {
    let mut tx = db.begin().await?;
    let (mut row, limits) = decidable(&mut tx, sctx, action_id).await?;
    let before = json!(row);
    row.status = "rejected".into();
    row.decided_by = Some(sctx.actor_id());
    row.decided_at = Some(sctx.ctx.now);
    row.decision_note = input.note;
    store::desk::update_ticket_action(&mut tx, &row).await?;
    audit::record(
        &mut tx,
        sctx,
        "ticket_action.rejected",
        "ticket_action",
        &row.id,
        &before,
        &json!(row),
    )
    .await?;
    tx.commit().await?;
    Ok(view(&row, &limits))
}

/// A ticket's actions, oldest first.
pub async fn list_for_ticket(
    db: &Db,
    sctx: &StaffCtx,
    ticket_id: &str,
) -> Result<Vec<TicketAction>> {
    sctx.require(Permission::ReadAccount)?;
    let mut tx = db.read().await?;
    store::desk::get_ticket(&mut tx, sctx.org(), ticket_id, false)
        .await?
        .ok_or_else(|| AppError::not_found("ticket", ticket_id))?;
    let limits = load_limits(&mut tx, sctx.org()).await?;
    let rows = store::desk::list_ticket_actions(&mut tx, sctx.org(), Some(ticket_id), None).await?;
    Ok(rows.iter().map(|r| view(r, &limits)).collect())
}

/// The organisation's actions waiting for approval, oldest first.
pub async fn pending_approvals(db: &Db, sctx: &StaffCtx) -> Result<Vec<TicketAction>> {
    sctx.require(Permission::ReadAccount)?;
    let mut tx = db.read().await?;
    let limits = load_limits(&mut tx, sctx.org()).await?;
    let rows =
        store::desk::list_ticket_actions(&mut tx, sctx.org(), None, Some("pending_approval"))
            .await?;
    Ok(rows.iter().map(|r| view(r, &limits)).collect())
}

// ---------------------------------------------------------------------------------------
// Settings: authority limits

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuthorityLimit {
    pub role: String,
    pub action: String,
    pub currency: String,
    /// Minor units; null = unlimited.
    pub limit: Option<i64>,
    /// Whether the organisation set it (else the default table applies).
    pub overridden: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuthorityLimits {
    pub object: &'static str,
    pub currency: String,
    /// The effective limit of every role and action in `currency`.
    pub data: Vec<AuthorityLimit>,
    /// Every override the organisation set, in any currency.
    pub overrides: Vec<AuthorityLimit>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitInput {
    pub role: String,
    pub action: String,
    pub currency: String,
    /// Minor units (≥ 0); omit with `unlimited: true` for no limit.
    pub limit: Option<i64>,
    #[serde(default)]
    pub unlimited: bool,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetLimits {
    pub limits: Vec<LimitInput>,
    /// The currency of the answer's `data` (default the first limit's).
    pub currency: Option<String>,
}

pub(crate) fn limits_view(l: &Limits, currency: &str) -> AuthorityLimits {
    let currency = currency.trim().to_ascii_uppercase();
    let digits = minor_digits(&currency);
    let set: std::collections::BTreeSet<(Role, Action, String)> = l
        .overrides()
        .map(|(r, a, c, _)| (r, a, c.to_string()))
        .collect();
    let lim = |x: Limit| match x {
        Limit::Unlimited => None,
        Limit::UpTo(n) => Some(n),
    };
    let mut data = Vec::new();
    for r in Role::ALL {
        for a in Action::ALL {
            data.push(AuthorityLimit {
                role: r.as_str().into(),
                action: a.as_str().into(),
                currency: currency.clone(),
                limit: lim(l.limit(*r, *a, &currency, digits)),
                overridden: set.contains(&(*r, *a, currency.clone())),
            });
        }
    }
    AuthorityLimits {
        object: "authority_limits",
        currency: currency.clone(),
        data,
        overrides: l
            .overrides()
            .map(|(r, a, c, x)| AuthorityLimit {
                role: r.as_str().into(),
                action: a.as_str().into(),
                currency: c.into(),
                limit: lim(x),
                overridden: true,
            })
            .collect(),
    }
}

/// The limits in `currency` (default USD), and every override.
pub async fn get_limits(
    db: &Db,
    sctx: &StaffCtx,
    currency: Option<&str>,
) -> Result<AuthorityLimits> {
    sctx.require(Permission::ReadAccount)?;
    let currency = currency.unwrap_or("USD");
    billing::money::Currency::parse(currency).map_err(|e| AppError::billing("currency", e))?;
    let mut tx = db.read().await?;
    let l = load_limits(&mut tx, sctx.org()).await?;
    Ok(limits_view(&l, currency))
}

/// Sets overrides (admin).
pub async fn set_limits(db: &Db, sctx: &StaffCtx, input: SetLimits) -> Result<AuthorityLimits> {
    sctx.require(Permission::ManageSettings)?;
    if input.limits.is_empty() {
        return Err(AppError::missing("limits"));
    }
    let mut parsed = Vec::new();
    for (i, l) in input.limits.iter().enumerate() {
        let role = Role::parse(&l.role)
            .map_err(|e| AppError::invalid(format!("limits[{i}].role"), e.to_string()))?;
        let action = Action::parse(&l.action)
            .map_err(|e| AppError::invalid(format!("limits[{i}].action"), e.to_string()))?;
        let cur = billing::money::Currency::parse(&l.currency)
            .map_err(|e| AppError::billing(format!("limits[{i}].currency"), e))?;
        let limit = match (l.limit, l.unlimited) {
            (Some(n), false) if n >= 0 => Some(n),
            (None, true) => None,
            _ => {
                return Err(AppError::invalid(
                    format!("limits[{i}].limit"),
                    "give a limit ≥ 0 in minor units, or unlimited: true",
                ))
            }
        };
        parsed.push((role, action, cur.code().to_string(), limit));
    }
    let org = sctx.org().to_string();
    let mut tx = db.begin().await?;
    let before = load_limits(&mut tx, &org).await?;
    for (r, a, c, l) in &parsed {
        store::desk::set_authority_limit(&mut tx, &org, r.as_str(), a.as_str(), c, *l).await?;
    }
    let after = load_limits(&mut tx, &org).await?;
    let currency = input
        .currency
        .clone()
        .unwrap_or_else(|| parsed[0].2.clone());
    let b = limits_view(&before, &currency).overrides;
    let v = limits_view(&after, &currency);
    audit::record(
        &mut tx,
        sctx,
        "authority_limits.set",
        "organisation",
        &org,
        &json!(b),
        &json!(v.overrides),
    )
    .await?;
    tx.commit().await?;
    Ok(v)
}
