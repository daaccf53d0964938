//! Email notifications: the templates (minijinja, English and Russian), rendering, and the
//! `send_notification` job that sends one through the [`mail::Mailer`].
//!
//! A notification is created `queued` by event dispatch (see [`crate::events`]) in the
//! customer's language (`ru…` locales get Russian, every other English) and rendered when it
//! is sent, from the event's snapshot — so the email says what was true when it happened.
//! Outcomes:
//! - accepted by the SMTP server → `sent` (subject and body kept, for the timeline);
//! - the server is down or answers 4xx → stays `queued`, the job retries with backoff, and
//!   after its last attempt the notification is `failed` (retry the job to try again);
//! - refused for good (5xx, bad address) → `failed` at once;
//! - no mail server configured, or no email address → `skipped`, with the reason.
//!
//! Delivery is at least once: a worker that dies after the server accepted a message and
//! before it recorded `sent` sends it again, with the same `Message-ID`
//! (`<ntf_…@ledgerdesk>`) so mail clients can tell the two apart.

use crate::util::parse_id;
use crate::{page_limit, AppError, Ctx, Page, Result};
use billing::ids::{CustomerId, NotificationId};
use billing::money::Currency;
use chrono::{DateTime, NaiveDate, Utc};
use mail::{Email, MailError, Mailer};
use minijinja::{Environment, State};
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::OnceLock;
use store::outbox::NotificationRow;
use store::Db;
use utoipa::ToSchema;

/// Templates and the languages they exist in.
pub const TEMPLATES: &[&str] = &[
    "invoice_issued",
    "payment_succeeded",
    "payment_failed",
    "invoice_reminder",
    "invoice_overdue",
    "subscription_changed",
];
pub const LANGUAGES: &[&str] = &["en", "ru"];
/// Templates of desk messages that are not event notifications (rendered when the message
/// is written, by the use case that sends it): the portal's sign-in link.
pub const DESK_TEMPLATES: &[&str] = &["portal_sign_in"];

macro_rules! sources {
    ($($name:literal),*) => {
        &[$(
            (concat!($name, ".en"), include_str!(concat!("../templates/email/", $name, ".en.txt"))),
            (concat!($name, ".ru"), include_str!(concat!("../templates/email/", $name, ".ru.txt"))),
        )*]
    };
}

const SOURCES: &[(&str, &str)] = sources!(
    "invoice_issued",
    "payment_succeeded",
    "payment_failed",
    "invoice_reminder",
    "invoice_overdue",
    "subscription_changed",
    "portal_sign_in"
);

/// The language of the templates for a customer's locale.
pub fn language(locale: &str) -> &'static str {
    if locale.to_ascii_lowercase().starts_with("ru") {
        "ru"
    } else {
        "en"
    }
}

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, src) in SOURCES {
            env.add_template(name, src)
                .unwrap_or_else(|e| panic!("email template {name}: {e}"));
        }
        env.add_filter("money", money);
        env.add_filter("date", date);
        env
    })
}

/// Renders a one-off template (a desk macro) with the email filters (`money`, `date`);
/// `context.lang` picks the language of the filters. Unknown placeholders are errors.
pub fn render_str(src: &str, context: &serde_json::Value) -> Result<String, String> {
    env()
        .render_str(src, minijinja::value::Serde(context))
        .map_err(|e| e.to_string())
}

fn lang_of(state: &State) -> String {
    state
        .lookup("lang")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "en".into())
}

/// `{{ amount | money(currency) }}`: "EUR 1,234.50" in English, "1 234,50 EUR" in Russian.
fn money(state: &State, amount: i64, currency: String) -> Result<String, minijinja::Error> {
    let cur = Currency::parse(&currency).map_err(|e| {
        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
    })?;
    let plain = cur.format_minor(amount.abs());
    let (int, frac) = plain.split_once('.').unwrap_or((&plain, ""));
    let ru = lang_of(state) == "ru";
    let group = if ru { '\u{a0}' } else { ',' };
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(group);
        }
        grouped.push(ch);
    }
    if !frac.is_empty() {
        grouped.push(if ru { ',' } else { '.' });
        grouped.push_str(frac);
    }
    let sign = if amount < 0 { "-" } else { "" };
    Ok(if ru {
        format!("{sign}{grouped}\u{a0}{}", cur.code())
    } else {
        format!("{sign}{} {grouped}", cur.code())
    })
}

/// `{{ d | date }}` for a `YYYY-MM-DD` date or an RFC 3339 instant: "27 November 2026" in
/// English, "27.11.2026" in Russian.
fn date(state: &State, value: String) -> Result<String, minijinja::Error> {
    let d = NaiveDate::parse_from_str(&value, "%Y-%m-%d")
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(&value)
                .ok()
                .map(|t| t.date_naive())
        })
        .ok_or_else(|| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("not a date: {value:?}"),
            )
        })?;
    Ok(if lang_of(state) == "ru" {
        d.format("%d.%m.%Y").to_string()
    } else {
        d.format("%-d %B %Y").to_string()
    })
}

/// Renders `template` in `lang` with `context`; returns (subject, body). The template's
/// first line is `Subject: …`.
pub fn render(template: &str, lang: &str, context: &Value) -> Result<(String, String)> {
    let name = format!("{template}.{}", language(lang));
    let t = env()
        .get_template(&name)
        .map_err(|e| AppError::Internal(format!("email template {name}: {e}")))?;
    let mut ctx = context.clone();
    ctx["lang"] = json!(language(lang));
    let text = t
        .render(minijinja::value::Serde(&ctx))
        .map_err(|e| AppError::Internal(format!("rendering {name}: {e:#}")))?;
    let (first, body) = text.split_once('\n').unwrap_or((&text, ""));
    let subject = first
        .strip_prefix("Subject: ")
        .ok_or_else(|| AppError::Internal(format!("email template {name} has no Subject line")))?;
    Ok((subject.trim().to_string(), body.trim().to_string() + "\n"))
}

/// What happened to one send attempt.
pub enum Sent {
    /// Done (sent, skipped or refused for good): nothing to retry.
    Done,
    /// The mail server could not take it now; try again later.
    Retry(String),
    /// Refused for good; the notification is `failed`.
    Refused(String),
}

/// Sends notification `id` (the `send_notification` job). `last_attempt`: a transient
/// failure now marks it `failed` instead of leaving it queued.
pub async fn send(
    db: &Db,
    mailer: &Mailer,
    org: &str,
    id: &str,
    now: DateTime<Utc>,
    last_attempt: bool,
) -> Result<Sent> {
    let wanted = [Wanted {
        org: org.to_string(),
        id: id.to_string(),
        last_attempt,
    }];
    send_many(db, mailer, &wanted, now)
        .await
        .pop()
        .expect("one answer per notification")
}

/// How long a batch goes on sending ([`send_many`]); well inside a job's lease.
const SEND_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

/// One notification to send, as its job names it.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub org: String,
    pub id: String,
    /// The job's last attempt: a transient failure marks it `failed`.
    pub last_attempt: bool,
}

/// A notification read and rendered, ready to go out.
struct Ready {
    n: NotificationRow,
    subject: String,
    body: String,
    invoice_doc: Option<(pdf::InvoiceDoc, String)>,
}

/// Sends notifications (the `send_notification` jobs of a worker's batch), with a fixed
/// number of transactions whatever their number: every row they need (notification, event,
/// customer, organisation, invoice number) is read in one read transaction, a statement
/// per table and organisation; each is rendered and sent in turn; the outcomes are recorded
/// in one write transaction. One answer per item, in order: a notification that cannot be
/// read or rendered answers with its error and the others go on; if recording fails, every
/// item sent answers with that error (its job retries, and the message may go out twice,
/// with the same `Message-ID` — delivery is at least once, as the module says).
pub async fn send_many(
    db: &Db,
    mailer: &Mailer,
    items: &[Wanted],
    now: DateTime<Utc>,
) -> Vec<Result<Sent>> {
    let mut answers: Vec<Option<Result<Sent>>> = items.iter().map(|_| None).collect();
    let ready = match read_many(db, items, &mut answers).await {
        Ok(r) => r,
        Err(e) => {
            let text = e.to_string();
            return items
                .iter()
                .map(|_| Err(AppError::Internal(text.clone())))
                .collect();
        }
    };
    // (index, status, error) of each outcome to record.
    let mut outcomes: Vec<(usize, Ready, &'static str, Option<String>)> = Vec::new();
    let started = std::time::Instant::now();
    for (i, r) in ready {
        let item = &items[i];
        if started.elapsed() > SEND_BUDGET {
            // A slow mail server must not keep the batch past its jobs' lease: the rest
            // are retried later, untouched.
            answers[i] = Some(Ok(Sent::Retry(
                "not tried: the batch's sending time ran out".into(),
            )));
            continue;
        }
        let (status, error, answer) = match deliver(mailer, &r).await {
            Delivery::Sent => ("sent", None, Sent::Done),
            Delivery::Skipped(why) => ("skipped", Some(why), Sent::Done),
            Delivery::Transient(e) => (
                if item.last_attempt {
                    "failed"
                } else {
                    "queued"
                },
                Some(e.clone()),
                Sent::Retry(e),
            ),
            Delivery::Refused(e) => ("failed", Some(e.clone()), Sent::Refused(e)),
        };
        answers[i] = Some(Ok(answer));
        outcomes.push((i, r, status, error));
    }
    if !outcomes.is_empty() {
        if let Err(e) = record_many(db, &outcomes, now).await {
            let text = e.to_string();
            for (i, ..) in &outcomes {
                answers[*i] = Some(Err(AppError::Internal(text.clone())));
            }
        }
    }
    answers
        .into_iter()
        .map(|a| a.expect("every item answered"))
        .collect()
}

/// Reads and renders `items` in one read transaction. An item that is done already (sent
/// or skipped) or cannot be read or rendered gets its answer in `answers`; the others come
/// back ready, with their index.
async fn read_many(
    db: &Db,
    items: &[Wanted],
    answers: &mut [Option<Result<Sent>>],
) -> Result<Vec<(usize, Ready)>> {
    use std::collections::HashMap;
    let mut tx = db.read().await?;
    let ids_by_org = store::ids_by_org(items.iter().map(|w| (w.org.as_str(), w.id.as_str())));
    let mut notes: HashMap<(String, String), NotificationRow> = HashMap::new();
    let mut events = HashMap::new();
    let mut customers = HashMap::new();
    let mut orgs = HashMap::new();
    let mut numbers: HashMap<(String, String), Option<String>> = HashMap::new();
    for (org, ids) in &ids_by_org {
        let rows = store::outbox::get_notifications(&mut tx, org, ids).await?;
        let ev_ids: Vec<String> = rows.iter().map(|n| n.event_id.clone()).collect();
        let cus_ids: Vec<String> = rows.iter().map(|n| n.customer_id.clone()).collect();
        let evs = store::outbox::get_events(&mut tx, org, &ev_ids).await?;
        let inv_ids: Vec<String> = evs
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
            .filter_map(|d| d["invoice"].as_str().map(str::to_string))
            .collect();
        for (id, number) in store::invoices::numbers_of(&mut tx, org, &inv_ids).await? {
            numbers.insert((org.to_string(), id), number);
        }
        for e in evs {
            events.insert((e.org_id.clone(), e.id.clone()), e);
        }
        for c in store::customers::get_many(&mut tx, org, &cus_ids).await? {
            customers.insert((c.org_id.clone(), c.id.clone()), c);
        }
        if let Some(o) = store::orgs::get_org(&mut tx, org).await? {
            orgs.insert(org.to_string(), o);
        }
        for n in rows {
            notes.insert((n.org_id.clone(), n.id.clone()), n);
        }
    }
    let mut ready = Vec::new();
    for (i, w) in items.iter().enumerate() {
        let key = |id: &str| (w.org.clone(), id.to_string());
        let prepared = async {
            let n = notes
                .get(&key(&w.id))
                .ok_or_else(|| AppError::not_found("notification", &w.id))?;
            if n.status == "sent" || n.status == "skipped" {
                return Ok(None);
            }
            let event = events
                .get(&key(&n.event_id))
                .ok_or_else(|| AppError::not_found("event", &n.event_id))?;
            let customer = customers
                .get(&key(&n.customer_id))
                .ok_or_else(|| AppError::not_found("customer", &n.customer_id))?;
            let org_row = orgs
                .get(&w.org)
                .ok_or_else(|| AppError::not_found("organisation", &w.org))?;
            let data: Value = serde_json::from_str(&event.data)
                .map_err(|e| AppError::Internal(format!("event {}: {e}", event.id)))?;
            let mut context = json!({
                "customer_name": customer.name,
                "org_name": org_row.name,
                "days_until_due": data.get("days_until_due").cloned().unwrap_or(Value::Null),
                "invoice_number": Value::Null,
            });
            let object = data["object"].as_str().unwrap_or("object").to_string();
            if let Some(Some(number)) = data["invoice"].as_str().and_then(|i| numbers.get(&key(i)))
            {
                context["invoice_number"] = json!(number);
            }
            let doc_of = match (n.template.as_str(), object.as_str(), data["id"].as_str()) {
                ("invoice_issued", "invoice", Some(inv)) => Some(inv.to_string()),
                _ => None,
            };
            context[object] = data;
            let (subject, body) = render(&n.template, &n.locale, &context)?;
            Result::<_>::Ok(Some((n.clone(), subject, body, doc_of)))
        }
        .await;
        match prepared {
            Ok(None) => answers[i] = Some(Ok(Sent::Done)),
            Err(e) => answers[i] = Some(Err(e)),
            Ok(Some((n, subject, body, doc_of))) => {
                // The issued invoice goes along as a PDF (rendered from the invoice's rows,
                // so every attempt attaches the same bytes).
                let invoice_doc = match doc_of {
                    Some(inv) => match crate::documents::invoice_doc(&mut tx, &w.org, &inv).await {
                        Ok(d) => Some(d),
                        Err(e) => {
                            answers[i] = Some(Err(e));
                            continue;
                        }
                    },
                    None => None,
                };
                ready.push((
                    i,
                    Ready {
                        n,
                        subject,
                        body,
                        invoice_doc,
                    },
                ));
            }
        }
    }
    Ok(ready)
}

/// What became of one message.
enum Delivery {
    Sent,
    Skipped(String),
    Transient(String),
    Refused(String),
}

/// Sends one ready notification (or says why it is skipped).
async fn deliver(mailer: &Mailer, r: &Ready) -> Delivery {
    let Some(to) = r.n.recipient.clone() else {
        return Delivery::Skipped("the customer has no email address".into());
    };
    if !mailer.is_on() {
        return Delivery::Skipped("no mail server is configured".into());
    }
    let mut attachments = Vec::new();
    if let Some((doc, locale)) = r.invoice_doc.clone() {
        let filename = pdf::file_name(doc.number.as_deref(), &doc.id);
        // A document that cannot be rendered would fail the same way on every retry: the
        // email still goes out, without it, and the failure is logged.
        match crate::documents::render(move || pdf::invoice(&doc, &locale)).await {
            Ok(data) => attachments.push(mail::Attachment {
                filename,
                content_type: "application/pdf".into(),
                data,
            }),
            Err(e) => tracing::warn!(notification = r.n.id, "invoice PDF not attached: {e}"),
        }
    }
    let email = Email {
        to,
        subject: r.subject.clone(),
        body: r.body.clone(),
        message_id: format!("{}@ledgerdesk", r.n.id),
        in_reply_to: None,
        references: vec![],
        attachments,
    };
    match mailer.send(&email).await {
        Ok(()) => Delivery::Sent,
        Err(MailError::Transient(e)) => Delivery::Transient(e),
        Err(MailError::Permanent(e)) => Delivery::Refused(e),
    }
}

/// Records the outcomes of a batch in one write transaction.
async fn record_many(
    db: &Db,
    outcomes: &[(usize, Ready, &'static str, Option<String>)],
    now: DateTime<Utc>,
) -> Result<()> {
    let rows: Vec<store::outbox::Attempt<'_>> = outcomes
        .iter()
        .map(|(_, r, status, error)| store::outbox::Attempt {
            id: &r.n.id,
            status,
            recipient: r.n.recipient.as_deref(),
            subject: Some(&r.subject),
            body: Some(&r.body),
            error: error.as_deref(),
        })
        .collect();
    let mut tx = db.begin().await?;
    store::outbox::record_notifications(&mut tx, &rows, now).await?;
    tx.commit().await?;
    Ok(())
}

/// A notification as the API and the timeline show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Notification {
    pub id: String,
    pub object: &'static str,
    pub customer: String,
    pub event: String,
    /// invoice_issued, payment_succeeded, payment_failed, invoice_reminder, invoice_overdue
    /// or subscription_changed.
    pub template: String,
    pub channel: String,
    /// en or ru.
    pub locale: String,
    pub recipient: Option<String>,
    /// Set once rendered (at the first send attempt).
    pub subject: Option<String>,
    pub body: Option<String>,
    /// queued, sent, failed or skipped.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

pub fn view(n: &NotificationRow) -> Notification {
    Notification {
        id: n.id.clone(),
        object: "notification",
        customer: n.customer_id.clone(),
        event: n.event_id.clone(),
        template: n.template.clone(),
        channel: n.channel.clone(),
        locale: n.locale.clone(),
        recipient: n.recipient.clone(),
        subject: n.subject.clone(),
        body: n.body.clone(),
        status: n.status.clone(),
        attempts: n.attempts,
        last_error: n.last_error.clone(),
        created: n.created_at,
        sent_at: n.sent_at,
    }
}

pub async fn get(db: &Db, ctx: &Ctx, id: &str) -> Result<Notification> {
    parse_id("id", id, NotificationId::parse)?;
    let mut tx = db.read().await?;
    let n = store::outbox::get_notification(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("notification", id))?;
    Ok(view(&n))
}

pub async fn list(
    db: &Db,
    ctx: &Ctx,
    customer: Option<&str>,
    starting_after: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<Notification>> {
    let limit = page_limit(limit)?;
    if let Some(c) = customer {
        parse_id("customer", c, CustomerId::parse)?;
    }
    let mut tx = db.read().await?;
    let rows = store::outbox::list_notifications(
        &mut tx,
        &ctx.org_id,
        customer,
        starting_after,
        limit + 1,
    )
    .await?;
    Ok(Page::from_rows(rows.iter().map(view).collect(), limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoice_ctx() -> Value {
        json!({
            "customer_name": "Anna Petrova",
            "org_name": "Acme",
            "days_until_due": 0,
            "invoice_number": null,
            "invoice": {
                "object": "invoice", "id": "inv_1", "number": "INV-2026-000042",
                "currency": "EUR", "amount_due": 123450, "amount_remaining": 4645,
                "due_date": "2026-12-27", "period_start": "2026-11-01T00:00:00+00:00",
                "period_end": "2026-12-01T00:00:00+00:00", "collection_method": "send_invoice"
            }
        })
    }

    #[test]
    fn every_template_renders_in_both_languages() {
        let payment = json!({
            "customer_name": "A", "org_name": "Acme", "days_until_due": null, "invoice_number": "INV-1",
            "payment": {"object": "payment", "id": "pay_1", "currency": "USD", "amount": 999,
                        "invoice": "inv_1", "failure_message": "Your card was declined."}
        });
        let sub = json!({
            "customer_name": "A", "org_name": "Acme", "days_until_due": null, "invoice_number": null,
            "subscription": {"object": "subscription", "id": "sub_1", "status": "past_due",
                             "cancel_at_period_end": false, "current_period_end": "2026-12-01T00:00:00+00:00"}
        });
        let invoice = invoice_ctx();
        for t in TEMPLATES {
            for l in LANGUAGES {
                let ctx = if t.starts_with("payment") {
                    &payment
                } else if t.starts_with("subscription") {
                    &sub
                } else {
                    &invoice
                };
                let (s, b) = render(t, l, ctx).unwrap_or_else(|e| panic!("{t}.{l}: {e}"));
                assert!(!s.is_empty() && !b.is_empty(), "{t}.{l}");
                assert!(!s.contains("{{") && !b.contains("{{"), "{t}.{l}: {s}\n{b}");
            }
        }
    }

    #[test]
    fn the_sign_in_link_email_renders_in_both_languages() {
        let ctx = json!({"customer_name": "Anna", "org_name": "Acme",
                         "url": "https://b.example/portal/org_1/magic/psl_x", "minutes": 15});
        for t in DESK_TEMPLATES {
            for l in LANGUAGES {
                let (s, b) = render(t, l, &ctx).unwrap_or_else(|e| panic!("{t}.{l}: {e}"));
                assert!(s.contains("Acme"), "{t}.{l}: {s}");
                assert!(
                    b.contains("https://b.example/portal/org_1/magic/psl_x"),
                    "{b}"
                );
                assert!(b.contains("15"), "{b}");
            }
        }
    }

    #[test]
    fn amounts_and_dates_follow_the_language() {
        let (s, b) = render("invoice_issued", "en-GB", &invoice_ctx()).unwrap();
        assert_eq!(
            s,
            "Invoice INV-2026-000042 from Acme: EUR 1,234.50 due 27 December 2026"
        );
        assert!(b.starts_with("Hello Anna Petrova,"), "{b}");
        assert!(
            b.contains("It covers 1 November 2026 to 1 December 2026."),
            "{b}"
        );
        let (s, b) = render("invoice_issued", "ru-RU", &invoice_ctx()).unwrap();
        assert_eq!(
            s,
            "Счёт INV-2026-000042 от Acme: 1\u{a0}234,50\u{a0}EUR к оплате до 27.12.2026"
        );
        assert!(b.starts_with("Здравствуйте, Anna Petrova!"), "{b}");
        let (s, _) = render("invoice_reminder", "ru", &invoice_ctx()).unwrap();
        assert_eq!(s, "Напоминание: срок оплаты счёта INV-2026-000042 сегодня");
    }

    #[test]
    fn a_missing_value_is_an_error_not_an_empty_string() {
        let mut ctx = invoice_ctx();
        ctx["invoice"].as_object_mut().unwrap().remove("number");
        assert!(render("invoice_overdue", "en", &ctx).is_err());
    }

    #[test]
    fn languages() {
        assert_eq!(language("ru"), "ru");
        assert_eq!(language("ru-RU"), "ru");
        assert_eq!(language("RU"), "ru");
        assert_eq!(language("en-US"), "en");
        assert_eq!(language("de"), "en");
    }
}
