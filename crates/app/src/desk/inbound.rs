//! Inbound email, automatic acknowledgements and CSAT surveys.
//!
//! An inbound message (raw RFC 5322, `mail::inbound::parse`) is, in this order:
//! 1. a duplicate if its Message-ID is stored already (nothing happens; mailboxes deliver
//!    at least once);
//! 2. a reply to the ticket of a stored message named in In-Reply-To or References;
//! 3. else a reply to the ticket whose number is in the subject (`[#T-42]`), if the sender
//!    is that ticket's requester or one of its customer's addresses;
//! 4. else a new ticket (channel email, team billing, priority normal, a category guessed
//!    from the words of the subject and body).
//!
//! The sender is matched to a customer by address (the customer's, then a contact's). A
//! reply moves the ticket as `desk::ticket::transition` says for a customer reply (a
//! resolved ticket reopens; a closed one gets a new follow-up ticket linked to it). A reply
//! to a merged ticket goes to the ticket it was merged into. Automatic mail (auto-replies,
//! bounces, bulk and list mail) is stored but never answered and never moves a status.
//! Every new ticket from a person gets an acknowledgement with its number and an honest
//! first-response estimate (`desk::estimate`): the queue ahead at the team's recent rate of
//! first responses, else the SLA target, in the team's business hours.
//!
//! A batch of messages is stored in one transaction with bulk statements (the benchmark's
//! path); one message is a batch of one.

use super::tickets::{first_response_clock, policy_for, team_calendar};
use super::StaffCtx;
use crate::jobs::Task;
use crate::{AppError, Ctx, Result};
use billing::ids::{AttachmentId, InteractionId, StatusChangeId, SurveyId, TicketId};
use chrono::{DateTime, Duration, Utc};
use desk::calendar::Calendar;
use desk::sla;
use desk::ticket::{Category, Status, TicketEvent};
use serde::Serialize;
use std::collections::HashMap;
use store::desk::{AttachmentRow, InteractionRow, StatusChangeRow, TicketRow};
use store::{new_id, Db, Tx};

/// What became of one inbound message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ingested {
    pub object: &'static str,
    /// new_ticket, reply, follow_up, duplicate
    pub outcome: &'static str,
    pub ticket: Option<String>,
    pub ticket_number: Option<String>,
    pub interaction: Option<String>,
    pub customer: Option<String>,
    /// Why no automatic answer went out, for automatic mail.
    pub automatic: Option<String>,
    /// The acknowledgement queued, if any.
    pub acknowledgement: Option<String>,
}

fn automatic_str(a: &mail::inbound::Automatic) -> String {
    use mail::inbound::Automatic as A;
    match a {
        A::AutoSubmitted(v) => format!("auto-submitted: {v}"),
        A::Precedence(v) => format!("precedence: {v}"),
        A::AutoResponseSuppress => "x-auto-response-suppress".into(),
        A::MailerDaemon => "bounce".into(),
        A::ListMail => "list mail".into(),
    }
}

/// A first guess at the category from the words of a message (English and Russian stems);
/// agents correct it.
pub fn guess_category(subject: &str, body: &str) -> Category {
    let text = format!("{subject}\n{body}").to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if has(&["refund", "money back", "возврат", "вернуть деньги"]) {
        Category::RefundAdjustment
    } else if has(&[
        "charged twice",
        "double charge",
        "declined",
        "card",
        "payment failed",
        "списали",
        "карт",
        "оплат",
        "платеж",
        "платёж",
    ]) {
        Category::PaymentIssue
    } else if has(&[
        "invoice",
        "bill",
        "overcharge",
        "wrong amount",
        "счёт",
        "счет",
        "сумм",
    ]) {
        Category::InvoiceDiscrepancy
    } else if has(&[
        "due date",
        "extension",
        "payment plan",
        "instalment",
        "installment",
        "terms",
        "отсрочк",
        "срок оплаты",
        "рассрочк",
    ]) {
        Category::PaymentTerms
    } else if has(&["upgrade", "downgrade", "plan", "тариф"]) {
        Category::PlanChange
    } else if has(&["address", "tax id", "vat", "company name", "адрес", "инн"]) {
        Category::AccountChange
    } else {
        Category::Other
    }
}

struct Parsed {
    mail: mail::inbound::Inbound,
    message_id: String,
}

/// Ingests one raw message received through the API (`POST /v1/inbound/email`): the
/// caller needs the ticket-management permission.
pub async fn receive(db: &Db, sctx: &StaffCtx, raw: &[u8]) -> Result<Ingested> {
    sctx.require(desk::authority::Permission::ManageTickets)?;
    if raw.is_empty() {
        return Err(AppError::missing("message"));
    }
    ingest(db, &sctx.ctx, raw).await
}

/// Ingests one raw message.
pub async fn ingest(db: &Db, ctx: &Ctx, raw: &[u8]) -> Result<Ingested> {
    ingest_batch(db, ctx, &[raw.to_vec()])
        .await?
        .pop()
        .expect("one result per message")
}

/// Ingests a batch in one transaction. A message that cannot be parsed gets its own error
/// (naming what is wrong) and the others go on.
pub async fn ingest_batch(db: &Db, ctx: &Ctx, raws: &[Vec<u8>]) -> Result<Vec<Result<Ingested>>> {
    let limits = mail::inbound::Limits::default();
    let org = ctx.org_id.as_str();
    let sctx = StaffCtx::system(ctx.clone());
    let now = ctx.now;
    let mut parsed: Vec<Result<Parsed>> = raws
        .iter()
        .map(|raw| {
            let m = mail::inbound::parse(raw, &limits).map_err(|e| match e {
                mail::inbound::InboundError::TooLarge { .. } => {
                    AppError::invalid("message", e.to_string())
                }
                mail::inbound::InboundError::NoSender => {
                    AppError::invalid("message", "the message has no From address")
                }
                e => AppError::invalid("message", e.to_string()),
            })?;
            // A message without a Message-ID gets one from its content, so a redelivery is
            // still recognised.
            let message_id = m.message_id.clone().unwrap_or_else(|| {
                use sha2::{Digest, Sha256};
                format!(
                    "{}@ledgerdesk.nomsgid",
                    &hex::encode(Sha256::digest(raw))[..32]
                )
            });
            Ok(Parsed {
                mail: m,
                message_id,
            })
        })
        .collect();

    let mut tx = db.begin().await?;
    // Stored already: duplicates and thread parents.
    let mut wanted: Vec<String> = Vec::new();
    for p in parsed.iter().flatten() {
        wanted.push(p.message_id.clone());
        wanted.extend(p.mail.in_reply_to.iter().cloned());
        wanted.extend(p.mail.references.iter().cloned());
    }
    wanted.sort();
    wanted.dedup();
    let mut known: HashMap<String, Option<String>> =
        store::desk::tickets_for_message_ids(&mut tx, org, &wanted)
            .await?
            .into_iter()
            .collect();

    // Senders: every address of the batch matched in two statements.
    let mut senders: Vec<String> = parsed
        .iter()
        .flatten()
        .filter_map(|p| p.mail.from.as_ref().map(|a| a.email.clone()))
        .collect();
    senders.sort();
    senders.dedup();
    let mut customers: HashMap<String, (String, String)> = HashMap::new();
    for (email, id, locale) in store::desk::customers_for_emails(&mut tx, org, &senders).await? {
        customers.entry(email).or_insert((id, locale));
    }
    let mut cals: HashMap<String, Calendar> = HashMap::new();
    let mut policies: HashMap<(String, String), Option<(String, sla::Policy)>> = HashMap::new();
    let mut queue: HashMap<String, (u64, Option<f64>)> = HashMap::new();
    let mut new_tickets: Vec<TicketRow> = Vec::new();
    let mut changes: Vec<StatusChangeRow> = Vec::new();
    let mut interactions: Vec<InteractionRow> = Vec::new();
    let mut attachments: Vec<AttachmentRow> = Vec::new();
    let mut jobs: Vec<(Task, DateTime<Utc>)> = Vec::new();
    let mut out: Vec<Result<Ingested>> = Vec::with_capacity(parsed.len());
    let mut first_number: Option<i64> = None;
    let mut numbers_taken = 0i64;

    for p in parsed.iter_mut() {
        let p = match p {
            Ok(p) => p,
            Err(e) => {
                out.push(Err(std::mem::replace(e, AppError::Internal(String::new()))));
                continue;
            }
        };
        if let Some(t) = known.get(&p.message_id) {
            out.push(Ok(Ingested {
                object: "inbound_email",
                outcome: "duplicate",
                ticket: t.clone(),
                ticket_number: None,
                interaction: None,
                customer: None,
                automatic: None,
                acknowledgement: None,
            }));
            continue;
        }
        let m = &p.mail;
        let sender = m
            .reply_to
            .as_ref()
            .or(m.from.as_ref())
            .map(|a| a.email.clone());
        let from = m.from.as_ref().map(|a| a.email.clone()).unwrap_or_default();
        let (customer, locale) = match customers.get(&from) {
            Some((id, locale)) => (Some(id.clone()), locale.clone()),
            None => (None, "en".to_string()),
        };
        let automatic = m.automatic.as_ref().map(automatic_str);

        // Threading: headers first (newest reference last), then the subject's number.
        let mut target: Option<String> = m
            .in_reply_to
            .iter()
            .chain(m.references.iter().rev())
            .find_map(|id| known.get(id).cloned().flatten());
        if target.is_none() {
            for n in desk::ticket::numbers_in_subject(&m.subject) {
                if let Some(t) = store::desk::tickets_by_numbers(&mut tx, org, &[n])
                    .await?
                    .pop()
                {
                    let same_sender = t.requester_email.as_deref() == Some(from.as_str())
                        || (customer.is_some() && t.customer_id == customer);
                    if same_sender {
                        target = Some(t.id);
                    }
                    break;
                }
            }
        }

        let interaction_id = new_id!(InteractionId).to_string();
        let body = if m.reply_text.is_empty() {
            m.text.clone()
        } else {
            m.reply_text.clone()
        };
        let mut row = InteractionRow {
            id: interaction_id.clone(),
            org_id: org.to_string(),
            ticket_id: None,
            customer_id: customer.clone(),
            channel: "email".into(),
            direction: "inbound".into(),
            kind: "message".into(),
            author_type: "customer".into(),
            from_address: Some(from.clone()),
            to_address: m.to.first().map(|a| a.email.clone()),
            subject: Some(m.subject.clone()),
            body,
            message_id: Some(p.message_id.clone()),
            in_reply_to: m.in_reply_to.first().cloned(),
            automatic: automatic.clone(),
            created_at: now,
            ..Default::default()
        };

        let mut outcome = "new_ticket";
        let mut follow_up_of = None;
        let mut ticket_id: Option<String> = None;
        let mut ticket_number = None;
        if let Some(tid) = target {
            // In this batch already?
            if let Some(t) = new_tickets.iter_mut().find(|t| t.id == tid) {
                t.updated_at = now;
                ticket_id = Some(t.id.clone());
                ticket_number = Some(t.number);
                outcome = "reply";
            } else if let Some(mut t) = store::desk::get_ticket(&mut tx, org, &tid, true).await? {
                if let Some(into) = t.merged_into.clone() {
                    if let Some(m2) = store::desk::get_ticket(&mut tx, org, &into, true).await? {
                        t = m2;
                    }
                }
                if automatic.is_some() {
                    ticket_id = Some(t.id.clone());
                    ticket_number = Some(t.number);
                    outcome = "reply";
                } else {
                    let (tr, j) =
                        super::tickets::apply(&mut tx, &sctx, &mut t, &TicketEvent::CustomerReply)
                            .await?;
                    jobs.extend(j);
                    if tr.follow_up {
                        follow_up_of = Some(t.id.clone());
                    } else {
                        outcome = "reply";
                        ticket_id = Some(t.id.clone());
                        ticket_number = Some(t.number);
                        if t.customer_id.is_none() && customer.is_some() {
                            t.customer_id = customer.clone();
                        }
                        store::desk::update_ticket(&mut tx, &t).await?;
                    }
                }
            }
        }
        let mut ack = None;
        if ticket_id.is_none() {
            // A new ticket (or the follow-up of a closed one).
            if follow_up_of.is_some() {
                outcome = "follow_up";
            }
            if first_number.is_none() {
                // Numbers for the whole batch at once, under the counter's lock.
                let count = raws.len() as i64;
                first_number = Some(store::desk::take_ticket_numbers(&mut tx, org, count).await?);
            }
            let number = first_number.unwrap_or(1) + numbers_taken;
            numbers_taken += 1;
            let team = "billing".to_string();
            let category = guess_category(&m.subject, &m.text);
            if !cals.contains_key(&team) {
                let c = team_calendar(&mut tx, org, &team).await?;
                cals.insert(team.clone(), c);
            }
            let key = ("normal".to_string(), category.as_str().to_string());
            if !policies.contains_key(&key) {
                let p = policy_for(&mut tx, org, &key.0, &key.1).await?;
                policies.insert(key.clone(), p);
            }
            let cal = &cals[&team];
            let policy = policies[&key].clone();
            let subject = if m.subject.trim().is_empty() {
                "(no subject)".to_string()
            } else {
                m.subject.trim().chars().take(500).collect()
            };
            let mut t = TicketRow {
                id: new_id!(TicketId).to_string(),
                org_id: org.to_string(),
                number,
                customer_id: customer.clone(),
                requester_email: sender.clone(),
                requester_name: m.from.as_ref().and_then(|a| a.name.clone()),
                subject,
                channel: "email".into(),
                category: category.as_str().into(),
                priority: "normal".into(),
                status: Status::New.as_str().into(),
                team: team.clone(),
                assignee_id: None,
                sla_policy_id: policy.as_ref().map(|p| p.0.clone()),
                tags: String::new(),
                follow_up_of: follow_up_of.clone(),
                merged_into: None,
                reopen_count: 0,
                first_response_at: None,
                first_response_due_at: None,
                resolution_due_at: None,
                resolved_at: None,
                resolved_by: None,
                closed_at: None,
                created_at: now,
                updated_at: now,
            };
            if let Some((_, pol)) = &policy {
                let clock = first_response_clock(&t);
                for (secs, name) in [
                    (pol.first_response_secs, "first_response"),
                    (pol.resolution_secs, "resolution"),
                ] {
                    if let Some(secs) = secs {
                        let due = sla::due_at(cal, &clock, secs, sla::BREACH_PERMILLE);
                        let warn = sla::due_at(cal, &clock, secs, sla::WARN_PERMILLE);
                        if name == "first_response" {
                            t.first_response_due_at = due;
                        } else {
                            t.resolution_due_at = due;
                        }
                        if let (Some(due), Some(warn)) = (due, warn) {
                            jobs.push((
                                Task::SlaCheck {
                                    ticket: t.id.clone(),
                                    clock: name.into(),
                                    level: "warning".into(),
                                    due,
                                },
                                warn,
                            ));
                        }
                    }
                }
            }
            changes.push(StatusChangeRow {
                id: new_id!(StatusChangeId).to_string(),
                org_id: org.to_string(),
                ticket_id: t.id.clone(),
                from_status: None,
                to_status: t.status.clone(),
                actor: "system".into(),
                at: now,
            });
            if automatic.is_none() {
                if let Some(to) = &sender {
                    if !queue.contains_key(&team) {
                        let q = queue_state(&mut tx, org, &team, cal, now).await?;
                        queue.insert(team.clone(), q);
                    }
                    let entry = queue.get_mut(&team).expect("inserted above");
                    let estimate = desk::estimate::first_response_estimate(
                        cal,
                        now,
                        entry.0,
                        entry.1,
                        policy.as_ref().and_then(|p| p.1.first_response_secs),
                    );
                    entry.0 += 1;
                    let a = ack_row(&t, to, &locale, estimate, &p.message_id, now);
                    jobs.push((
                        Task::SendDeskEmail {
                            interaction: a.id.clone(),
                        },
                        now,
                    ));
                    ack = Some(a);
                }
            }
            ticket_id = Some(t.id.clone());
            ticket_number = Some(t.number);
            new_tickets.push(t);
        }
        row.ticket_id = ticket_id.clone();
        for a in &m.attachments {
            attachments.push(AttachmentRow {
                id: new_id!(AttachmentId).to_string(),
                org_id: org.to_string(),
                interaction_id: row.id.clone(),
                filename: a.filename.clone(),
                content_type: a.content_type.clone(),
                data: a.bytes.clone(),
            });
        }
        if !m.skipped.is_empty() {
            let list: Vec<String> = m
                .skipped
                .iter()
                .map(|s| format!("{} ({} bytes): {}", s.filename, s.size, s.reason))
                .collect();
            row.body
                .push_str(&format!("\n\n[attachments not kept: {}]", list.join("; ")));
        }
        known.insert(p.message_id.clone(), ticket_id.clone());
        out.push(Ok(Ingested {
            object: "inbound_email",
            outcome,
            ticket: ticket_id,
            ticket_number: ticket_number.map(desk::ticket::format_number),
            interaction: Some(row.id.clone()),
            customer: customer.clone(),
            automatic,
            acknowledgement: ack.as_ref().map(|a| a.id.clone()),
        }));
        interactions.push(row);
        interactions.extend(ack);
    }
    if first_number.is_some() && numbers_taken < raws.len() as i64 {
        // Give back the numbers the batch did not use (duplicates, replies): the counter
        // row is still locked by this transaction, so nobody took numbers after them.
        store::desk::take_ticket_numbers(&mut tx, org, numbers_taken - raws.len() as i64).await?;
    }
    store::desk::insert_tickets(&mut tx, &new_tickets).await?;
    store::desk::insert_status_changes(&mut tx, &changes).await?;
    store::desk::insert_interactions(&mut tx, &interactions).await?;
    for a in &attachments {
        store::desk::insert_attachment(&mut tx, a).await?;
    }
    crate::jobs::enqueue_at(&mut tx, org, &jobs).await?;
    tx.commit().await?;
    Ok(out)
}

/// Tickets waiting for a first response in a team, and its first responses per business
/// hour over the last 7 days (None without any).
async fn queue_state(
    tx: &mut Tx,
    org: &str,
    team: &str,
    cal: &Calendar,
    now: DateTime<Utc>,
) -> Result<(u64, Option<f64>)> {
    let waiting = store::desk::awaiting_first_response(tx, org, team).await?;
    let since = now - Duration::days(7);
    let answered = store::desk::first_responses_between(tx, org, team, since, now).await?;
    let hours = cal.business_seconds(since, now) as f64 / 3600.0;
    let rate = (answered > 0 && hours > 0.0).then(|| answered as f64 / hours);
    Ok((waiting.max(0) as u64, rate))
}

async fn customer_locale(tx: &mut Tx, org: &str, customer: Option<&str>) -> Result<String> {
    Ok(match customer {
        Some(c) => store::customers::get(tx, org, c)
            .await?
            .map(|c| c.locale)
            .unwrap_or_else(|| "en".into()),
        None => "en".into(),
    })
}

/// The acknowledgement of a new ticket: an outbound system message, sent by a job.
fn ack_row(
    t: &TicketRow,
    to: &str,
    locale: &str,
    estimate: DateTime<Utc>,
    in_reply_to: &str,
    now: DateTime<Utc>,
) -> InteractionRow {
    let number = desk::ticket::format_number(t.number);
    let when = estimate.format("%Y-%m-%d %H:%M UTC");
    let (subject, body) = if crate::notify::language(locale) == "ru" {
        (
            format!("[#{number}] Мы получили ваше обращение"),
            format!(
                "Здравствуйте!\n\nВаше обращение зарегистрировано под номером {number}. \
                 Мы ответим примерно до {when} (с учётом рабочего времени и текущей очереди).\n\n\
                 Чтобы добавить подробности, просто ответьте на это письмо.\n"
            ),
        )
    } else {
        (
            format!("[#{number}] We have received your request"),
            format!(
                "Hello,\n\nYour request is ticket {number}. We expect to answer by {when} \
                 (our business hours and the current queue).\n\n\
                 To add details, reply to this email.\n"
            ),
        )
    };
    let id = new_id!(InteractionId).to_string();
    InteractionRow {
        message_id: Some(format!("{id}@ledgerdesk")),
        id,
        org_id: t.org_id.clone(),
        ticket_id: Some(t.id.clone()),
        customer_id: t.customer_id.clone(),
        channel: "email".into(),
        direction: "outbound".into(),
        kind: "message".into(),
        author_type: "system".into(),
        to_address: Some(to.to_string()),
        subject: Some(subject),
        body,
        in_reply_to: Some(in_reply_to.to_string()),
        delivery_status: Some("queued".into()),
        created_at: now,
        ..Default::default()
    }
}

/// The acknowledgement of a ticket opened through the API or portal, when it has a
/// requester address: `Some(interaction id)` to send.
pub(crate) async fn acknowledgement(
    tx: &mut Tx,
    sctx: &StaffCtx,
    t: &TicketRow,
) -> Result<Option<String>> {
    let Some(to) = t.requester_email.clone() else {
        return Ok(None);
    };
    let org = sctx.org();
    let cal = team_calendar(tx, org, &t.team).await?;
    let (ahead, rate) = queue_state(tx, org, &t.team, &cal, sctx.ctx.now).await?;
    let target = policy_for(tx, org, &t.priority, &t.category)
        .await?
        .and_then(|p| p.1.first_response_secs);
    let estimate = desk::estimate::first_response_estimate(
        &cal,
        sctx.ctx.now,
        ahead.saturating_sub(1),
        rate,
        target,
    );
    let locale = customer_locale(tx, org, t.customer_id.as_deref()).await?;
    let mut row = ack_row(t, &to, &locale, estimate, "", sctx.ctx.now);
    row.in_reply_to = None;
    store::desk::insert_interactions(tx, std::slice::from_ref(&row)).await?;
    Ok(Some(row.id))
}

/// The CSAT survey of a resolution: a survey row (its token stored hashed) and the email
/// asking for a 1–5 rating. `Some(interaction id)` to send; None without an address.
pub(crate) async fn survey(tx: &mut Tx, sctx: &StaffCtx, t: &TicketRow) -> Result<Option<String>> {
    let Some(to) = t.requester_email.clone() else {
        return Ok(None);
    };
    let token = format!("{}{}", store::random_suffix(), store::random_suffix());
    store::desk::insert_survey(
        tx,
        &store::desk::SurveyRow {
            id: new_id!(SurveyId).to_string(),
            org_id: t.org_id.clone(),
            ticket_id: t.id.clone(),
            agent_id: t.resolved_by.clone().or(t.assignee_id.clone()),
            token_hash: crate::orgs::hash_key(&token),
            rating: None,
            comment: None,
            sent_at: sctx.ctx.now,
            answered_at: None,
        },
    )
    .await?;
    let number = desk::ticket::format_number(t.number);
    let locale = customer_locale(tx, sctx.org(), t.customer_id.as_deref()).await?;
    let (subject, body) = if crate::notify::language(&locale) == "ru" {
        (
            format!("[#{number}] Оцените, пожалуйста, наш ответ"),
            format!("Здравствуйте!\n\nОбращение {number} решено. Оцените наш ответ от 1 до 5:\n/csat/{token}\n"),
        )
    } else {
        (
            format!("[#{number}] How did we do?"),
            format!("Hello,\n\nTicket {number} is resolved. Please rate our answer from 1 to 5:\n/csat/{token}\n"),
        )
    };
    let id = new_id!(InteractionId).to_string();
    let row = InteractionRow {
        message_id: Some(format!("{id}@ledgerdesk")),
        id,
        org_id: t.org_id.clone(),
        ticket_id: Some(t.id.clone()),
        customer_id: t.customer_id.clone(),
        channel: "email".into(),
        direction: "outbound".into(),
        kind: "message".into(),
        author_type: "system".into(),
        to_address: Some(to),
        subject: Some(subject),
        body,
        delivery_status: Some("queued".into()),
        created_at: sctx.ctx.now,
        ..Default::default()
    };
    store::desk::insert_interactions(tx, std::slice::from_ref(&row)).await?;
    Ok(Some(row.id))
}

/// What a pass over a Maildir did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaildirPass {
    /// Messages read from `new/`.
    pub read: usize,
    /// Stored (new tickets, replies, duplicates recognised).
    pub stored: usize,
    /// Refused (unparseable, no sender): logged and moved to `cur/` all the same, so one
    /// bad message never blocks the mailbox.
    pub refused: usize,
}

/// Ingests up to `max` messages from the Maildir `dir` (its `new/` folder) in one batch,
/// then moves each to `cur/`. A crash between the commit and the move reads them again
/// next time; their Message-IDs make that a no-op (`duplicate`).
pub async fn ingest_maildir(
    db: &Db,
    ctx: &Ctx,
    dir: &std::path::Path,
    max: usize,
) -> Result<MaildirPass> {
    let msgs = mail::maildir::take_new(dir, max)
        .map_err(|e| AppError::invalid("maildir", format!("cannot read {}: {e}", dir.display())))?;
    let mut pass = MaildirPass {
        read: msgs.len(),
        ..Default::default()
    };
    if msgs.is_empty() {
        return Ok(pass);
    }
    let raws: Vec<Vec<u8>> = msgs.iter().map(|(_, b)| b.clone()).collect();
    let out = ingest_batch(db, ctx, &raws).await?;
    for ((path, _), r) in msgs.iter().zip(out) {
        match r {
            Ok(_) => pass.stored += 1,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "inbound mail refused");
                pass.refused += 1;
            }
        }
        mail::maildir::mark_done(dir, path).map_err(|e| {
            AppError::Internal(format!("cannot move {} to cur/: {e}", path.display()))
        })?;
    }
    Ok(pass)
}

/// What sending a desk email came to.
pub enum Sent {
    Done,
    Retry(String),
    Refused(String),
}

/// Sends an outbound interaction (reply, acknowledgement, survey) by email with threading
/// headers: In-Reply-To the customer's latest message on the ticket, References every
/// message of the ticket. Without a mail server the message is `skipped`.
pub async fn send(
    db: &Db,
    mailer: &mail::Mailer,
    org: &str,
    interaction: &str,
    last_attempt: bool,
) -> Result<Sent> {
    let mut tx = db.read().await?;
    let Some(i) = store::desk::get_interaction(&mut tx, org, interaction).await? else {
        return Ok(Sent::Done);
    };
    if matches!(i.delivery_status.as_deref(), Some("sent") | Some("skipped")) {
        return Ok(Sent::Done);
    }
    let thread = match &i.ticket_id {
        Some(t) => store::desk::ticket_interactions(&mut tx, org, t).await?,
        None => vec![],
    };
    drop(tx);
    let Some(to) = i.to_address.clone() else {
        return Ok(Sent::Done);
    };
    let in_reply_to = i.in_reply_to.clone().filter(|s| !s.is_empty()).or_else(|| {
        thread
            .iter()
            .filter(|x| x.direction == "inbound" && x.created_at <= i.created_at)
            .filter_map(|x| x.message_id.clone())
            .next_back()
    });
    // References: the thread's earlier messages, the parent (In-Reply-To) last as RFC 5322
    // asks; messages written at the same instant have no order of their own.
    let mut references: Vec<String> = thread
        .iter()
        .filter(|x| x.id != i.id && x.created_at <= i.created_at)
        .filter_map(|x| x.message_id.clone())
        .filter(|m| Some(m) != in_reply_to.as_ref())
        .collect();
    references.extend(in_reply_to.clone());
    let email = mail::Email {
        to,
        subject: i.subject.clone().unwrap_or_default(),
        body: i.body.clone(),
        message_id: i
            .message_id
            .clone()
            .unwrap_or_else(|| format!("{}@ledgerdesk", i.id)),
        in_reply_to,
        references,
        attachments: Vec::new(),
    };
    let (status, error, result) = match mailer {
        mail::Mailer::Off => (
            "skipped",
            Some("no mail server configured".to_string()),
            Sent::Done,
        ),
        m => match m.send(&email).await {
            Ok(()) => ("sent", None, Sent::Done),
            Err(mail::MailError::Permanent(e)) => ("failed", Some(e.clone()), Sent::Refused(e)),
            Err(mail::MailError::Transient(e)) if last_attempt => {
                ("failed", Some(e.clone()), Sent::Refused(e))
            }
            Err(mail::MailError::Transient(e)) => ("queued", Some(e.clone()), Sent::Retry(e)),
        },
    };
    let mut tx = db.begin().await?;
    store::desk::set_delivery(&mut tx, org, &i.id, status, error.as_deref()).await?;
    tx.commit().await?;
    Ok(result)
}
