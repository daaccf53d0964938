//! Events, email notifications over a real SMTP server (aiosmtpd on loopback), reminders,
//! and signed webhooks to a real HTTP receiver — with the faults: the mail server down, the
//! webhook receiver failing or unreachable. Each test runs on SQLite and PostgreSQL.

mod common;

use app::jobs::Worker;
use chrono::Duration;
use common::smtp::{free_port, SmtpServer};
use common::*;
use gateway::{Gateway, Sandbox};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

on_both_backends!(
    an_invoice_email_goes_out_once_in_the_customers_language_and_shows_on_the_timeline,
    with_the_mail_server_down_the_email_waits_and_goes_out_once_it_is_back,
    reminders_come_before_on_and_after_the_due_date_only_while_the_invoice_is_open,
    webhooks_are_signed_retried_logged_and_replayed,
    a_declined_charge_is_an_event_and_a_notification_even_without_an_address,
    a_batch_of_notifications_goes_out_once_each_in_each_language,
);

async fn billed_customer(db: &Db, ctx: &Ctx, locale: &str, email: Option<&str>) -> String {
    let mut input = customer_input("Анна Петрова", "EUR", "Europe/Moscow", "DE");
    input.locale = Some(locale.into());
    input.email = email.map(str::to_string);
    input.collection_method = Some("send_invoice".into());
    input.days_until_due = Some(10);
    app::customers::create(db, ctx, &input).await.unwrap().id
}

async fn issue(db: &Db, ctx: &Ctx, customer: &str, amount: i64) -> app::invoicing::Invoice {
    app::invoicing::create(
        db,
        ctx,
        &one_off(customer, vec![amount_line("Тариф «Про»", amount)], true),
    )
    .await
    .unwrap()
}

fn worker(db: &Db, mailer: mail::Mailer) -> Worker {
    let mut w = Worker::new(db.clone(), Gateway::Sandbox(Sandbox::new()));
    w.mailer = mailer;
    w
}

/// Runs passes at `now` until nothing is left to do now.
async fn drain(w: &Worker, now: chrono::DateTime<chrono::Utc>) -> app::jobs::Pass {
    let mut total = app::jobs::Pass::default();
    for _ in 0..50 {
        let p = w.run_once(now).await.unwrap();
        total.claimed += p.claimed;
        total.succeeded += p.succeeded;
        total.retried += p.retried;
        total.failed += p.failed;
        total.dispatched += p.dispatched;
        if p.claimed == 0 && p.dispatched == 0 {
            return total;
        }
    }
    panic!("the worker never ran out of work");
}

fn smtp(server: &SmtpServer) -> mail::Mailer {
    mail::Mailer::smtp(&server.url(), "Acme Billing <billing@acme.test>").unwrap()
}

async fn notifications(db: &Db, ctx: &Ctx, customer: &str) -> Vec<app::notify::Notification> {
    app::notify::list(db, ctx, Some(customer), None, Some(100))
        .await
        .unwrap()
        .data
}

async fn an_invoice_email_goes_out_once_in_the_customers_language_and_shows_on_the_timeline(
    db: Db,
) {
    let server = SmtpServer::start(free_port());
    let ctx = org(&db, t("2026-06-01T08:00:00Z")).await;
    let cus = billed_customer(&db, &ctx, "ru", Some("anna@example.test")).await;
    let inv = issue(&db, &ctx, &cus, 123_450).await;
    let w = worker(&db, smtp(&server));
    let pass = drain(&w, ctx.now).await;
    assert!(pass.dispatched >= 1, "{pass:?}");

    let msgs = server.messages();
    assert_eq!(msgs.len(), 1, "one email");
    let m = mail_parser::MessageParser::default()
        .parse(&msgs[0][..])
        .expect("a MIME message");
    let n = notifications(&db, &ctx, &cus).await;
    assert_eq!(n.len(), 1, "{n:?}");
    let n = &n[0];
    assert_eq!(
        (n.template.as_str(), n.status.as_str(), n.locale.as_str()),
        ("invoice_issued", "sent", "ru")
    );
    assert_eq!(
        m.message_id(),
        Some(format!("{}@ledgerdesk", n.id).as_str())
    );
    let to = m.to().and_then(|a| a.first()).and_then(|a| a.address());
    assert_eq!(to, Some("anna@example.test"));
    let number = inv.number.clone().expect("numbered");
    let subject = m.subject().expect("subject");
    assert_eq!(
        subject,
        format!("Счёт {number} от Test: 1\u{a0}234,50\u{a0}EUR к оплате до 11.06.2026")
    );
    assert_eq!(n.subject.as_deref(), Some(subject));
    let body = m.body_text(0).expect("a text body");
    assert!(body.starts_with("Здравствуйте, Анна Петрова!"), "{body}");
    assert!(body.contains("до 11.06.2026"), "{body}");
    // The invoice itself goes along as a PDF, the same bytes the API serves.
    use mail_parser::MimeHeaders;
    let pdfs: Vec<_> = m
        .attachments()
        .filter(|a| {
            a.content_type()
                .is_some_and(|c| c.ctype() == "application" && c.subtype() == Some("pdf"))
        })
        .collect();
    assert_eq!(pdfs.len(), 1, "one application/pdf part");
    assert_eq!(
        pdfs[0].attachment_name(),
        Some(format!("{number}.pdf").as_str())
    );
    let (_, served) = app::documents::invoice_pdf(&db, &ctx, &inv.id)
        .await
        .unwrap();
    assert_eq!(pdfs[0].contents(), &served[..]);

    // Nothing is sent twice: more passes, later, find nothing to do.
    drain(&w, ctx.now + Duration::hours(1)).await;
    assert_eq!(server.messages().len(), 1);

    let tl = app::events::timeline(&db, &ctx, &cus, None, Some(10))
        .await
        .unwrap()
        .data;
    let entry = tl
        .iter()
        .find(|e| e.kind == "invoice.finalized")
        .expect("the invoice on the timeline");
    assert_eq!(entry.data["object"]["id"], inv.id.as_str());
    assert_eq!(entry.notifications.len(), 1);
    assert_eq!(entry.notifications[0].status, "sent");
    assert!(entry.notifications[0].sent_at.is_some());
}

async fn with_the_mail_server_down_the_email_waits_and_goes_out_once_it_is_back(db: Db) {
    let port = free_port();
    let mailer =
        mail::Mailer::smtp(&format!("smtp://127.0.0.1:{port}"), "billing@acme.test").unwrap();
    let ctx = org(&db, t("2026-06-01T08:00:00Z")).await;
    let cus = billed_customer(&db, &ctx, "en", Some("ann@example.test")).await;
    issue(&db, &ctx, &cus, 5_000).await;
    let w = worker(&db, mailer);
    let pass = drain(&w, ctx.now).await;
    assert_eq!(pass.retried, 1, "{pass:?}");
    let n = &notifications(&db, &ctx, &cus).await[0];
    assert_eq!((n.status.as_str(), n.attempts), ("queued", 1));
    assert!(n.last_error.is_some(), "the failure is visible: {n:?}");
    let job = app::jobs::list(&db, &ctx, Some("queued"), None, Some(100))
        .await
        .unwrap()
        .data
        .into_iter()
        .find(|j| j.kind == "send_notification")
        .expect("the send is queued again");
    assert!(job.run_at > ctx.now, "with backoff");

    let server = SmtpServer::start(port);
    drain(&w, ctx.now + Duration::minutes(1)).await;
    assert_eq!(server.messages().len(), 1, "sent once the server is back");
    let n = &notifications(&db, &ctx, &cus).await[0];
    assert_eq!((n.status.as_str(), n.attempts), ("sent", 2));
    assert_eq!(n.last_error, None);
    drain(&w, ctx.now + Duration::hours(2)).await;
    assert_eq!(server.messages().len(), 1, "and only once");
}

async fn reminders_come_before_on_and_after_the_due_date_only_while_the_invoice_is_open(db: Db) {
    let server = SmtpServer::start(free_port());
    // Finalized 1 June 10:00 Moscow, net 10: due 11 June. Reminders at 09:00 Moscow
    // (06:00Z) on 8 June (-3), 11 June (0) and 18 June (+7).
    let ctx = org(&db, t("2026-06-01T07:00:00Z")).await;
    let cus = billed_customer(&db, &ctx, "en", Some("ann@example.test")).await;
    let paid = issue(&db, &ctx, &cus, 1_000).await;
    let unpaid = issue(&db, &ctx, &cus, 2_000).await;
    let w = worker(&db, smtp(&server));
    drain(&w, ctx.now).await;
    assert_eq!(server.messages().len(), 2, "two invoices issued");

    let kinds = |d: &str| {
        let db = db.clone();
        let ctx = ctx.clone();
        let d = d.to_string();
        async move {
            app::events::list(&db, &ctx, Some(&d), None, None, Some(100))
                .await
                .unwrap()
                .data
                .into_iter()
                .map(|e| e.data["object"]["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    drain(&w, t("2026-06-08T05:59:00Z")).await;
    assert!(
        kinds("invoice.reminder").await.is_empty(),
        "not before its time"
    );
    drain(&w, t("2026-06-08T06:00:00Z")).await;
    assert_eq!(
        kinds("invoice.reminder").await.len(),
        2,
        "3 days before, both"
    );

    // One is paid by bank transfer: it gets no more reminders.
    app::payments::record(
        &db,
        &at(&ctx, t("2026-06-09T10:00:00Z")),
        &app::payments::PaymentCreate {
            customer: cus.clone(),
            amount: 1_000,
            currency: None,
            method: "bank_transfer".into(),
            reference: Some("SEPA-1".into()),
            invoice: Some(paid.id.clone()),
        },
    )
    .await
    .unwrap();
    drain(&w, t("2026-06-11T06:00:00Z")).await;
    let reminded = kinds("invoice.reminder").await;
    assert_eq!(reminded.len(), 3, "{reminded:?}");
    assert_eq!(reminded[0], unpaid.id, "on the day: the open one only");
    assert!(kinds("invoice.overdue").await.is_empty());
    drain(&w, t("2026-06-18T06:00:00Z")).await;
    assert_eq!(kinds("invoice.overdue").await, vec![unpaid.id.clone()]);

    let subjects: Vec<String> = server
        .messages()
        .iter()
        .map(|m| {
            mail_parser::MessageParser::default()
                .parse(&m[..])
                .unwrap()
                .subject()
                .unwrap()
                .to_string()
        })
        .collect();
    let unpaid_no = unpaid.number.clone().unwrap();
    for want in [
        format!("Reminder: invoice {unpaid_no} is due 11 June 2026"),
        format!("Reminder: invoice {unpaid_no} is due today"),
        format!("Invoice {unpaid_no} is overdue"),
    ] {
        assert!(subjects.contains(&want), "{want:?} in {subjects:?}");
    }
    // 2 issued + 2 reminders before + 1 on the day + 1 overdue + 1 receipt.
    assert_eq!(subjects.len(), 7, "{subjects:?}");

    // Extending the due date drops the old reminders and queues new ones.
    app::collection::extend_due_date(
        &db,
        &at(&ctx, t("2026-06-18T07:00:00Z")),
        &unpaid.id,
        &app::collection::DueDateExtension {
            due_date: chrono::NaiveDate::from_ymd_opt(2026, 6, 30).unwrap(),
            reason: "customer asked".into(),
        },
    )
    .await
    .unwrap();
    drain(&w, t("2026-06-27T06:00:00Z")).await;
    assert_eq!(kinds("invoice.reminder").await.len(), 4);
    drain(&w, t("2026-07-07T06:00:00Z")).await;
    assert_eq!(kinds("invoice.overdue").await.len(), 2);
}

/// A webhook receiver on loopback: records each request and answers with `status`.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>>,
    status: Arc<AtomicU16>,
}

async fn receiver() -> (Receiver, String) {
    let r = Receiver::default();
    r.status.store(500, Ordering::SeqCst);
    let state = r.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            |axum::extract::State(s): axum::extract::State<Receiver>,
             headers: axum::http::HeaderMap,
             body: String| async move {
                s.got.lock().unwrap().push((headers, body));
                axum::http::StatusCode::from_u16(s.status.load(Ordering::SeqCst)).unwrap()
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app.with_state(state)).await.unwrap();
    });
    (r, format!("http://{addr}/hook"))
}

fn verify_signature(secret: &str, header: &str, body: &str) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = Some(x.to_string()),
            Some(("v1", x)) => v1 = Some(x.to_string()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    mac.verify_slice(&hex::decode(v1).unwrap_or_default())
        .is_ok()
}

async fn webhooks_are_signed_retried_logged_and_replayed(db: Db) {
    let (recv, url) = receiver().await;
    let ctx = org(&db, t("2026-06-01T08:00:00Z")).await;
    let ep = app::webhooks::create_endpoint(
        &db,
        &ctx,
        &app::webhooks::EndpointCreate {
            url: url.clone(),
            enabled_events: vec!["invoice.finalized".into(), "payment.succeeded".into()],
            description: Some("ERP".into()),
        },
    )
    .await
    .unwrap();
    let secret = ep.secret.clone().expect("the secret, once");
    assert!(secret.starts_with("whsec_"));
    assert_eq!(
        app::webhooks::get_endpoint(&db, &ctx, &ep.id)
            .await
            .unwrap()
            .secret,
        None,
        "never shown again"
    );
    // A second endpoint whose receiver is down (nothing listens on its port).
    let down = app::webhooks::create_endpoint(
        &db,
        &ctx,
        &app::webhooks::EndpointCreate {
            url: format!("http://127.0.0.1:{}/hook", free_port()),
            enabled_events: vec!["*".into()],
            description: None,
        },
    )
    .await
    .unwrap();
    let bad = app::webhooks::create_endpoint(
        &db,
        &ctx,
        &app::webhooks::EndpointCreate {
            url: "ftp://example.com".into(),
            enabled_events: vec!["*".into()],
            description: None,
        },
    )
    .await;
    assert!(
        matches!(bad, Err(AppError::Invalid { ref param, .. }) if param == "url"),
        "{bad:?}"
    );

    let cus = billed_customer(&db, &ctx, "en", None).await;
    let inv = issue(&db, &ctx, &cus, 4_200).await;
    let w = worker(&db, mail::Mailer::Off);
    drain(&w, ctx.now).await;

    let deliveries = |endpoint: &str| {
        let (db, ctx, endpoint) = (db.clone(), ctx.clone(), endpoint.to_string());
        async move {
            app::webhooks::list_deliveries(&db, &ctx, Some(&endpoint), None, None, Some(100))
                .await
                .unwrap()
                .data
        }
    };
    let d = deliveries(&ep.id).await;
    assert_eq!(d.len(), 1, "only the subscribed type: {d:?}");
    assert_eq!((d[0].status.as_str(), d[0].attempts), ("pending", 1));
    assert_eq!(d[0].last_status_code, Some(500));
    let dd = deliveries(&down.id).await;
    assert_eq!(dd.len(), 1);
    assert_eq!(
        (dd[0].status.as_str(), dd[0].last_status_code),
        ("pending", None)
    );
    assert!(
        dd[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("could not reach"),
        "{dd:?}"
    );
    {
        let got = recv.got.lock().unwrap();
        assert_eq!(got.len(), 1);
        let (h, body) = &got[0];
        let sig = h["ledgerdesk-signature"].to_str().unwrap();
        assert!(verify_signature(&secret, sig, body), "signature {sig}");
        assert!(!verify_signature("whsec_wrong", sig, body));
        assert!(!verify_signature(
            &secret,
            sig,
            &body.replace("4200", "4201")
        ));
        let ev: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(ev["type"], "invoice.finalized");
        assert_eq!(ev["data"]["object"]["id"], inv.id.as_str());
        assert_eq!(ev["data"]["object"]["amount_due"], 4_200);
        assert_eq!(
            h["ledgerdesk-event-id"].to_str().unwrap(),
            ev["id"].as_str().unwrap()
        );
    }

    // The receiver recovers: the retry after the backoff succeeds.
    recv.status.store(200, Ordering::SeqCst);
    drain(&w, ctx.now + Duration::seconds(29)).await;
    assert_eq!(recv.got.lock().unwrap().len(), 1, "not before the backoff");
    drain(&w, ctx.now + Duration::seconds(30)).await;
    let full = app::webhooks::get_delivery(&db, &ctx, &d[0].id)
        .await
        .unwrap();
    assert_eq!((full.status.as_str(), full.attempts), ("succeeded", 2));
    let log = full.attempt_log.expect("the delivery log");
    assert_eq!(
        log.iter().map(|a| a.status_code).collect::<Vec<_>>(),
        vec![Some(500), Some(200)]
    );
    drain(&w, ctx.now + Duration::hours(1)).await;
    assert_eq!(recv.got.lock().unwrap().len(), 2, "delivered once");

    // Manual replay sends the same event again.
    let r = app::webhooks::replay(&db, &at(&ctx, ctx.now + Duration::hours(2)), &d[0].id)
        .await
        .unwrap();
    assert_eq!((r.status.as_str(), r.replays), ("pending", 1));
    drain(&w, ctx.now + Duration::hours(2)).await;
    let got = recv.got.lock().unwrap().clone();
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[2].0["ledgerdesk-event-id"],
        got[0].0["ledgerdesk-event-id"]
    );
    let full = app::webhooks::get_delivery(&db, &ctx, &d[0].id)
        .await
        .unwrap();
    assert_eq!((full.status.as_str(), full.attempts), ("succeeded", 3));

    // The endpoint that is down keeps being retried, each attempt logged; after the last
    // one the delivery is failed, and visible as such.
    let mut now = ctx.now;
    for _ in 0..app::webhooks::DELIVERY_ATTEMPTS {
        now += Duration::hours(1);
        drain(&w, now).await;
    }
    let dd = app::webhooks::get_delivery(&db, &ctx, &dd[0].id)
        .await
        .unwrap();
    assert_eq!(
        (dd.status.as_str(), dd.attempts),
        ("failed", app::webhooks::DELIVERY_ATTEMPTS)
    );
    assert_eq!(
        dd.attempt_log.unwrap().len() as i64,
        app::webhooks::DELIVERY_ATTEMPTS
    );
    let failed = app::webhooks::list_deliveries(&db, &ctx, None, Some("failed"), None, None)
        .await
        .unwrap()
        .data;
    assert_eq!(failed.len(), 1);
}

async fn a_declined_charge_is_an_event_and_a_notification_even_without_an_address(db: Db) {
    let gw = Gateway::Sandbox(Sandbox::new());
    let ctx = org(&db, t("2026-06-01T08:00:00Z")).await;
    let mut input = customer_input("No Mail GmbH", "EUR", "Europe/Berlin", "DE");
    input.collection_method = Some("charge_automatically".into());
    let cus = app::customers::create(&db, &ctx, &input).await.unwrap().id;
    attach_card_token(&db, &gw, &ctx, &cus, "tok_chargeDeclined").await;
    issue(&db, &ctx, &cus, 9_900).await;
    let mut w = Worker::new(db.clone(), gw);
    w.mailer = mail::Mailer::Off;
    drain(&w, ctx.now).await;
    let evs = app::events::list(&db, &ctx, None, Some(&cus), None, Some(100))
        .await
        .unwrap()
        .data;
    let kinds: Vec<&str> = evs.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"payment.failed"), "{kinds:?}");
    let n = notifications(&db, &ctx, &cus).await;
    let failed = n
        .iter()
        .find(|n| n.template == "payment_failed")
        .expect("a payment_failed notification");
    assert_eq!(failed.status, "skipped");
    assert_eq!(
        failed.last_error.as_deref(),
        Some("the customer has no email address")
    );
}

/// A worker sends the notifications it claims as one batch (one read and one write
/// transaction): every customer gets their own email once, in their own language, and one
/// without an address is skipped without holding up the others.
async fn a_batch_of_notifications_goes_out_once_each_in_each_language(db: Db) {
    let server = SmtpServer::start(free_port());
    let ctx = org(&db, t("2026-06-01T08:00:00Z")).await;
    let mut customers = Vec::new();
    for i in 0..12 {
        let (locale, email) = match i {
            5 => ("en", None),
            i if i % 2 == 0 => ("ru", Some(format!("ru{i}@example.test"))),
            i => ("en", Some(format!("en{i}@example.test"))),
        };
        let cus = billed_customer(&db, &ctx, locale, email.as_deref()).await;
        let inv = issue(&db, &ctx, &cus, 10_000 + i).await;
        customers.push((cus, email, locale, inv.number.expect("numbered")));
    }
    let w = worker(&db, smtp(&server));
    let first = w.run_once(ctx.now).await.unwrap();
    assert_eq!(first.dispatched, 12, "{first:?}");
    drain(&w, ctx.now).await;

    let msgs = server.messages();
    assert_eq!(msgs.len(), 11, "one email per customer with an address");
    let parsed: Vec<_> = msgs
        .iter()
        .map(|m| {
            mail_parser::MessageParser::default()
                .parse(&m[..])
                .expect("MIME")
        })
        .collect();
    for (cus, email, locale, number) in &customers {
        let n = notifications(&db, &ctx, cus).await;
        assert_eq!(n.len(), 1, "{n:?}");
        let n = &n[0];
        let Some(email) = email else {
            // Skipped when dispatched: no job, no attempt.
            assert_eq!((n.status.as_str(), n.attempts), ("skipped", 0));
            assert_eq!(
                n.last_error.as_deref(),
                Some("the customer has no email address")
            );
            continue;
        };
        assert_eq!((n.status.as_str(), n.locale.as_str()), ("sent", *locale));
        assert_eq!(n.attempts, 1, "{n:?}");
        let mine: Vec<_> = parsed
            .iter()
            .filter(|m| m.message_id() == Some(format!("{}@ledgerdesk", n.id).as_str()))
            .collect();
        assert_eq!(mine.len(), 1, "one email for {email}");
        let m = mine[0];
        assert_eq!(
            m.to().and_then(|a| a.first()).and_then(|a| a.address()),
            Some(email.as_str())
        );
        let subject = m.subject().expect("subject");
        let word = if *locale == "ru" {
            "Счёт"
        } else {
            "Invoice"
        };
        assert!(
            subject.starts_with(&format!("{word} {number} ")),
            "{subject}"
        );
        assert_eq!(n.subject.as_deref(), Some(subject));
    }
    drain(&w, ctx.now + Duration::hours(1)).await;
    assert_eq!(server.messages().len(), 11, "nothing sent twice");
}
