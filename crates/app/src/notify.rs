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
    let mut tx = db.read().await?;
    let n = store::outbox::get_notification(&mut tx, org, id)
        .await?
        .ok_or_else(|| AppError::not_found("notification", id))?;
    if n.status == "sent" || n.status == "skipped" {
        return Ok(Sent::Done);
    }
    let event = store::outbox::get_event(&mut tx, org, &n.event_id)
        .await?
        .ok_or_else(|| AppError::not_found("event", &n.event_id))?;
    let customer = store::customers::get(&mut tx, org, &n.customer_id)
        .await?
        .ok_or_else(|| AppError::not_found("customer", &n.customer_id))?;
    let org_row = store::orgs::get_org(&mut tx, org)
        .await?
        .ok_or_else(|| AppError::not_found("organisation", org))?;
    let data: Value = serde_json::from_str(&event.data)
        .map_err(|e| AppError::Internal(format!("event {}: {e}", event.id)))?;
    let mut context = json!({
        "customer_name": customer.name,
        "org_name": org_row.name,
        "days_until_due": data.get("days_until_due").cloned().unwrap_or(Value::Null),
        "invoice_number": Value::Null,
    });
    let object = data["object"].as_str().unwrap_or("object").to_string();
    // The issued invoice goes along as a PDF (rendered from the invoice's rows, so every
    // attempt attaches the same bytes).
    let invoice_doc = match (n.template.as_str(), object.as_str(), data["id"].as_str()) {
        ("invoice_issued", "invoice", Some(inv)) => {
            Some(crate::documents::invoice_doc(&mut tx, org, inv).await?)
        }
        _ => None,
    };
    if let Some(inv) = data["invoice"].as_str() {
        if let Some(i) = store::invoices::get(&mut tx, org, inv).await? {
            context["invoice_number"] = json!(i.number);
        }
    }
    context[object] = data;
    drop(tx);
    let (subject, body) = render(&n.template, &n.locale, &context)?;
    let record = |status: &'static str, error: Option<String>| {
        let (subject, body) = (subject.clone(), body.clone());
        let recipient = n.recipient.clone();
        async move {
            let mut tx = db.begin().await?;
            store::outbox::record_notification(
                &mut tx,
                id,
                status,
                recipient.as_deref(),
                Some(&subject),
                Some(&body),
                error.as_deref(),
                now,
            )
            .await?;
            tx.commit().await?;
            Result::<()>::Ok(())
        }
    };
    let Some(to) = n.recipient.clone() else {
        record("skipped", Some("the customer has no email address".into())).await?;
        return Ok(Sent::Done);
    };
    if !mailer.is_on() {
        record("skipped", Some("no mail server is configured".into())).await?;
        return Ok(Sent::Done);
    }
    let mut attachments = Vec::new();
    if let Some((doc, locale)) = invoice_doc {
        let filename = pdf::file_name(doc.number.as_deref(), &doc.id);
        // A document that cannot be rendered would fail the same way on every retry: the
        // email still goes out, without it, and the failure is logged.
        match crate::documents::render(move || pdf::invoice(&doc, &locale)).await {
            Ok(data) => attachments.push(mail::Attachment {
                filename,
                content_type: "application/pdf".into(),
                data,
            }),
            Err(e) => tracing::warn!(notification = id, "invoice PDF not attached: {e}"),
        }
    }
    let email = Email {
        to,
        subject: subject.clone(),
        body: body.clone(),
        message_id: format!("{id}@ledgerdesk"),
        in_reply_to: None,
        references: vec![],
        attachments,
    };
    match mailer.send(&email).await {
        Ok(()) => {
            record("sent", None).await?;
            Ok(Sent::Done)
        }
        Err(MailError::Transient(e)) => {
            record(
                if last_attempt { "failed" } else { "queued" },
                Some(e.clone()),
            )
            .await?;
            Ok(Sent::Retry(e))
        }
        Err(MailError::Permanent(e)) => {
            record("failed", Some(e.clone())).await?;
            Ok(Sent::Refused(e))
        }
    }
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
