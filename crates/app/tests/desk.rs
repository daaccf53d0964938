//! The desk core on both databases: inbound email threading and acknowledgements, replies
//! sent over real SMTP with threading headers, SLA clocks over business hours, status moves
//! (reopen, follow-up), merge, round-robin, permissions at each role boundary, the audit
//! chain, and the customer timeline.

mod common;

use app::desk::{inbound, settings, staff, tickets, StaffCtx};
use app::jobs::Worker;
use common::smtp::{free_port, SmtpServer};
use common::*;
use desk::authority::Role;
use gateway::{Gateway, Sandbox};

on_both_backends!(
    inbound_mail_threads_and_acknowledges,
    replies_go_out_threaded_over_smtp,
    sla_counts_business_hours_and_pauses,
    an_unanswered_ticket_breaches_once,
    roles_are_checked_at_each_boundary,
    merge_round_robin_and_escalation,
    audit_chain_detects_tampering,
);

fn mime(from: &str, subject: &str, message_id: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: billing@acme.test\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Fri, 27 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n{extra}\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn customer_with_email(db: &Db, ctx: &Ctx, name: &str, email: &str) -> String {
    let mut input = customer_input(name, "EUR", "Europe/Berlin", "DE");
    input.email = Some(email.into());
    app::customers::create(db, ctx, &input).await.unwrap().id
}

async fn staff_user(db: &Db, ctx: &Ctx, email: &str, role: &str) -> StaffCtx {
    let s = staff::create(
        db,
        &StaffCtx::api_key(ctx.clone()),
        staff::StaffInput {
            email: email.into(),
            name: email.split('@').next().unwrap().into(),
            role: role.into(),
            password: "correct horse battery".into(),
            team: None,
            locale: None,
            capacity: Some(2),
        },
    )
    .await
    .unwrap();
    StaffCtx::staff(ctx.clone(), s.id, Role::parse(role).unwrap())
}

async fn inbound_mail_threads_and_acknowledges(db: Db) {
    let now = t("2026-11-27T10:00:00Z");
    let ctx = org(&db, now).await;
    let cus = customer_with_email(&db, &ctx, "Ada", "Ada@Example.com").await;

    // A new message from a known address: a ticket of that customer, acknowledged.
    let first = inbound::ingest(
        &db,
        &ctx,
        &mime(
            "Ada <ada@example.com>",
            "Invoice INV-7 is wrong",
            "m1@example.com",
            "",
            "I was charged for 12 seats, we have 10.",
        ),
    )
    .await
    .unwrap();
    assert_eq!(first.outcome, "new_ticket");
    assert_eq!(first.customer.as_deref(), Some(cus.as_str()));
    assert_eq!(first.ticket_number.as_deref(), Some("T-1"));
    let ack = first.acknowledgement.clone().expect("acknowledged");
    let ticket = first.ticket.clone().unwrap();
    let sctx = StaffCtx::api_key(ctx.clone());
    let d = tickets::get(&db, &sctx, &ticket).await.unwrap();
    assert_eq!(d.ticket.category, "invoice_discrepancy");
    assert_eq!(d.ticket.status, "new");
    let ack_row = d.interactions.iter().find(|i| i.id == ack).unwrap();
    assert!(ack_row.body.contains("T-1"), "{}", ack_row.body);
    assert!(ack_row.subject.as_deref().unwrap().starts_with("[#T-1]"));

    // The same message again: a duplicate, nothing new.
    let dup = inbound::ingest(
        &db,
        &ctx,
        &mime(
            "ada@example.com",
            "Invoice INV-7 is wrong",
            "m1@example.com",
            "",
            "again",
        ),
    )
    .await
    .unwrap();
    assert_eq!(dup.outcome, "duplicate");
    assert_eq!(dup.ticket.as_deref(), Some(ticket.as_str()));

    // A reply to the acknowledgement threads by In-Reply-To; an auto-reply is stored but
    // not answered.
    let ack_mid = ack_row.message_id.clone().unwrap();
    let r = inbound::ingest(
        &db,
        &ctx,
        &mime(
            "ada@example.com",
            "Re: We have received your request",
            "m2@example.com",
            &format!("In-Reply-To: <{ack_mid}>\r\nReferences: <m1@example.com> <{ack_mid}>\r\n"),
            "More details.\n\nOn Fri, Support wrote:\n> old text",
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        (r.outcome, r.ticket.as_deref()),
        ("reply", Some(ticket.as_str()))
    );
    let auto = inbound::ingest(
        &db,
        &ctx,
        &mime(
            "ada@example.com",
            "Out of office",
            "m3@example.com",
            &format!("Auto-Submitted: auto-replied\r\nIn-Reply-To: <{ack_mid}>\r\n"),
            "I am away.",
        ),
    )
    .await
    .unwrap();
    assert_eq!(auto.ticket.as_deref(), Some(ticket.as_str()));
    assert!(auto.automatic.is_some() && auto.acknowledgement.is_none());
    let d = tickets::get(&db, &sctx, &ticket).await.unwrap();
    let reply_body = &d
        .interactions
        .iter()
        .find(|i| i.message_id.as_deref() == Some("m2@example.com"))
        .unwrap()
        .body;
    assert!(
        reply_body.contains("More details.") && !reply_body.contains("old text"),
        "{reply_body}"
    );

    // The subject's number threads a message from the same sender; a stranger quoting the
    // number gets a ticket of their own; an automatic mail opening a ticket gets no answer.
    let by_subject = inbound::ingest(
        &db,
        &ctx,
        &mime(
            "ada@example.com",
            "[#T-1] one more thing",
            "m4@example.com",
            "",
            "PO number 77.",
        ),
    )
    .await
    .unwrap();
    assert_eq!(by_subject.ticket.as_deref(), Some(ticket.as_str()));
    let stranger = inbound::ingest(
        &db,
        &ctx,
        &mime(
            "eve@evil.test",
            "[#T-1] give me the invoice",
            "m5@evil.test",
            "",
            "hi",
        ),
    )
    .await
    .unwrap();
    assert_eq!(stranger.outcome, "new_ticket");
    assert_ne!(stranger.ticket.as_deref(), Some(ticket.as_str()));
    assert_eq!(stranger.customer, None);
    let bulk = inbound::ingest(
        &db,
        &ctx,
        &mime(
            "news@shop.test",
            "Sale!",
            "m6@shop.test",
            "Precedence: bulk\r\n",
            "buy",
        ),
    )
    .await
    .unwrap();
    assert!(bulk.acknowledgement.is_none());

    // Resolved, then a customer reply: reopened (counted). Closed, then a reply: a new
    // follow-up ticket linked to the closed one.
    tickets::update(
        &db,
        &sctx,
        &ticket,
        tickets::UpdateTicket {
            status: Some("resolved".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let again = inbound::ingest(
        &db,
        &ctx,
        &mime(
            "ada@example.com",
            "Re: [#T-1]",
            "m7@example.com",
            "In-Reply-To: <m1@example.com>\r\n",
            "Still wrong.",
        ),
    )
    .await
    .unwrap();
    assert_eq!(again.outcome, "reply");
    let d = tickets::get(&db, &sctx, &ticket).await.unwrap();
    assert_eq!(
        (d.ticket.status.as_str(), d.ticket.reopen_count),
        ("open", 1)
    );
    tickets::update(
        &db,
        &sctx,
        &ticket,
        tickets::UpdateTicket {
            status: Some("resolved".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tickets::update(
        &db,
        &sctx,
        &ticket,
        tickets::UpdateTicket {
            status: Some("closed".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let late = inbound::ingest(
        &db,
        &ctx,
        &mime(
            "ada@example.com",
            "Re: [#T-1]",
            "m8@example.com",
            "In-Reply-To: <m1@example.com>\r\n",
            "One more question.",
        ),
    )
    .await
    .unwrap();
    assert_eq!(late.outcome, "follow_up");
    let f = tickets::get(&db, &sctx, late.ticket.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(f.ticket.follow_up_of.as_deref(), Some(ticket.as_str()));
    assert_eq!(f.ticket.customer.as_deref(), Some(cus.as_str()));
    assert_eq!(
        tickets::get(&db, &sctx, &ticket)
            .await
            .unwrap()
            .ticket
            .status,
        "closed"
    );

    // Garbage is refused with a named error; the customer's timeline shows the contacts.
    let err = inbound::ingest(&db, &ctx, b"not a message")
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::Invalid { ref param, .. } if param == "message"),
        "{err:?}"
    );
    let tl = app::events::timeline(&db, &ctx, &cus, None, Some(100))
        .await
        .unwrap();
    assert!(
        tl.data
            .iter()
            .filter(|e| e.kind == "interaction.message")
            .count()
            >= 6
    );
    let ids: Vec<&str> = tl
        .data
        .iter()
        .map(|e| e.id.split_once('_').unwrap().1)
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");
    // Paging with an interaction id as the cursor continues where the page ended.
    let p1 = app::events::timeline(&db, &ctx, &cus, None, Some(2))
        .await
        .unwrap();
    let p2 = app::events::timeline(&db, &ctx, &cus, Some(&p1.data[1].id), Some(2))
        .await
        .unwrap();
    assert_eq!(p2.data[0].id, tl.data[2].id);
}

async fn replies_go_out_threaded_over_smtp(db: Db) {
    let now = t("2026-11-27T10:00:00Z");
    let ctx = org(&db, now).await;
    customer_with_email(&db, &ctx, "Ada", "ada@example.com").await;
    let agent = staff_user(&db, &ctx, "agent@acme.test", "agent").await;
    let got = inbound::ingest(
        &db,
        &ctx,
        &mime(
            "ada@example.com",
            "Refund please",
            "q1@example.com",
            "",
            "Please refund the last payment.",
        ),
    )
    .await
    .unwrap();
    let ticket = got.ticket.unwrap();
    let d = tickets::reply(
        &db,
        &agent,
        &ticket,
        tickets::ReplyInput {
            body: Some("We have refunded it.".into()),
            macro_name: None,
            status: None,
            handling_secs: Some(240),
        },
    )
    .await
    .unwrap();
    assert_eq!(d.ticket.status, "pending_customer");
    assert_eq!(d.ticket.first_response_at, Some(now));

    let server = SmtpServer::start(free_port());
    let mut w = Worker::new(db.clone(), Gateway::Sandbox(Sandbox::new()));
    w.mailer = mail::Mailer::smtp(&server.url(), "Acme Billing <billing@acme.test>").unwrap();
    for _ in 0..10 {
        let p = w.run_once(now).await.unwrap();
        if p.claimed == 0 && p.dispatched == 0 {
            break;
        }
    }
    let msgs = server.messages();
    assert_eq!(msgs.len(), 2, "the acknowledgement and the reply");
    let reply = msgs
        .iter()
        .map(|m| String::from_utf8_lossy(m).to_string())
        .find(|m| m.contains("We have refunded it."))
        .expect("reply sent");
    assert!(reply.contains("In-Reply-To: <q1@example.com>"), "{reply}");
    let refs = reply
        .lines()
        .find(|l| l.starts_with("References:"))
        .unwrap_or_default();
    assert!(refs.ends_with("<q1@example.com>"), "{reply}");
    assert!(reply.contains("[#T-1] Refund please"), "{reply}");
    let d = tickets::get(&db, &agent, &ticket).await.unwrap();
    assert!(d
        .interactions
        .iter()
        .filter(|i| i.direction == "outbound")
        .all(|i| i.delivery_status.as_deref() == Some("sent")));

    // The customer answers the reply: threaded by In-Reply-To to the same ticket, open.
    let reply_mid = d
        .interactions
        .iter()
        .find(|i| i.author_type == "staff")
        .unwrap()
        .message_id
        .clone()
        .unwrap();
    let back = inbound::ingest(
        &db,
        &ctx,
        &mime(
            "ada@example.com",
            "Re: [#T-1] Refund please",
            "q2@example.com",
            &format!("In-Reply-To: <{reply_mid}>\r\n"),
            "Thanks, received.",
        ),
    )
    .await
    .unwrap();
    assert_eq!(back.ticket.as_deref(), Some(ticket.as_str()));
    assert_eq!(
        tickets::get(&db, &agent, &ticket)
            .await
            .unwrap()
            .ticket
            .status,
        "open"
    );
}

async fn sla_counts_business_hours_and_pauses(db: Db) {
    // Friday 27 Nov 2026, 16:00 in Berlin (15:00 UTC).
    let now = t("2026-11-27T15:00:00Z");
    let ctx = org(&db, now).await;
    let admin = StaffCtx::api_key(ctx.clone());
    let hours: std::collections::BTreeMap<String, Vec<String>> =
        ["mon", "tue", "wed", "thu", "fri"]
            .iter()
            .map(|d| (d.to_string(), vec!["09:00-17:00".to_string()]))
            .collect();
    settings::create_calendar(
        &db,
        &admin,
        settings::CalendarInput {
            name: "Berlin office".into(),
            time_zone: "Europe/Berlin".into(),
            hours,
            holidays: vec![],
            teams: vec!["billing".into()],
        },
    )
    .await
    .unwrap();
    settings::save_policy(
        &db,
        &admin,
        settings::PolicyInput {
            name: "Normal".into(),
            priority: Some("normal".into()),
            category: None,
            first_response_secs: Some(2 * 3600),
            resolution_secs: Some(8 * 3600),
        },
    )
    .await
    .unwrap();
    let bad = settings::save_policy(
        &db,
        &admin,
        settings::PolicyInput {
            name: "x".into(),
            priority: Some("highest".into()),
            category: None,
            first_response_secs: Some(3600),
            resolution_secs: None,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(bad, AppError::Invalid { ref param, .. } if param == "priority"));

    let d = tickets::create(
        &db,
        &admin,
        tickets::CreateTicket {
            customer: None,
            requester_email: Some("bob@example.com".into()),
            requester_name: None,
            subject: "Payment terms".into(),
            body: Some("Can we pay in 60 days?".into()),
            channel: Some("portal".into()),
            category: Some("payment_terms".into()),
            priority: None,
            team: None,
            assignee: None,
            tags: vec!["Terms".into(), "terms".into()],
            links: vec![],
        },
    )
    .await
    .unwrap();
    assert_eq!(d.ticket.tags, vec!["terms"]);
    // One business hour left on Friday, one more on Monday: due Monday 10:00 Berlin.
    assert_eq!(
        d.ticket.first_response_sla.due,
        Some(t("2026-11-30T09:00:00Z"))
    );
    // Resolution: 1 h Friday + 7 h Monday = Monday 16:00 Berlin.
    assert_eq!(d.ticket.resolution_sla.due, Some(t("2026-11-30T15:00:00Z")));

    // 80 % of the first-response target falls at Monday 09:36 Berlin: the warning job fires.
    let w = quiet_worker(&db);
    let run = |at| drain(&w, at);
    run(t("2026-11-30T08:48:00Z")).await;
    let events = app::events::list(&db, &ctx, Some("ticket.sla_warning"), None, None, Some(10))
        .await
        .unwrap();
    assert_eq!(events.data.len(), 1, "first-response warning");
    let tk = tickets::get(
        &db,
        &at(&admin.ctx, t("2026-11-30T08:50:00Z")).into_admin(),
        &d.ticket.id,
    )
    .await
    .unwrap();
    assert_eq!(tk.ticket.first_response_sla.state, "warning");

    // The agent answers Monday 09:30 Berlin and waits for the customer until Tuesday 09:00
    // Berlin: the resolution clock pauses for that time. 1.5 h were spent before the pause,
    // 6.5 h are left from Tuesday 09:00: due Tuesday 15:30 Berlin.
    let agent = StaffCtx {
        ctx: at(&ctx, t("2026-11-30T08:30:00Z")),
        ..admin.clone()
    };
    let r = tickets::reply(
        &db,
        &agent,
        &d.ticket.id,
        tickets::ReplyInput {
            body: Some("Yes, 60 days.".into()),
            macro_name: None,
            status: None,
            handling_secs: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(r.ticket.first_response_sla.state, "met");
    assert_eq!(r.ticket.resolution_sla.state, "paused");
    let back = StaffCtx {
        ctx: at(&ctx, t("2026-12-01T08:00:00Z")),
        ..admin.clone()
    };
    let o = tickets::update(
        &db,
        &back,
        &d.ticket.id,
        tickets::UpdateTicket {
            status: Some("open".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(o.ticket.resolution_sla.due, Some(t("2026-12-01T14:30:00Z")));
    // The queue shows the same clocks as the ticket (read for a whole page at once).
    let listed = tickets::list(&db, &back, tickets::ListTickets::default())
        .await
        .unwrap();
    let row = listed.data.iter().find(|x| x.id == d.ticket.id).unwrap();
    assert_eq!(
        (
            &row.first_response_sla.state,
            row.first_response_sla.due,
            &row.resolution_sla.state,
            row.resolution_sla.due
        ),
        (
            &o.ticket.first_response_sla.state,
            o.ticket.first_response_sla.due,
            &o.ticket.resolution_sla.state,
            o.ticket.resolution_sla.due
        )
    );
    assert_eq!(row.resolution_sla.state, "running");
    run(t("2026-11-30T16:30:00Z")).await;
    let breached = app::events::list(&db, &ctx, Some("ticket.sla_breached"), None, None, Some(10))
        .await
        .unwrap();
    assert_eq!(
        breached.data.len(),
        0,
        "the old resolution due passed while paused: no breach"
    );
    // Another priority falls outside the policy (it is for normal tickets): no targets.
    let h = tickets::update(
        &db,
        &back,
        &d.ticket.id,
        tickets::UpdateTicket {
            priority: Some("high".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (
            h.ticket.resolution_sla.state.as_str(),
            h.ticket.resolution_sla.due
        ),
        ("none", None)
    );
}

trait IntoAdmin {
    fn into_admin(self) -> StaffCtx;
}
impl IntoAdmin for Ctx {
    fn into_admin(self) -> StaffCtx {
        StaffCtx::api_key(self)
    }
}

async fn roles_are_checked_at_each_boundary(db: Db) {
    let now = t("2026-11-27T10:00:00Z");
    let ctx = org(&db, now).await;
    let agent = staff_user(&db, &ctx, "agent@acme.test", "agent").await;
    let senior = staff_user(&db, &ctx, "senior@acme.test", "senior_agent").await;
    let supervisor = staff_user(&db, &ctx, "sup@acme.test", "supervisor").await;
    let admin = staff_user(&db, &ctx, "admin@acme.test", "admin").await;
    let input = || staff::StaffInput {
        email: "new@acme.test".into(),
        name: "New".into(),
        role: "agent".into(),
        password: "long enough pass".into(),
        team: None,
        locale: None,
        capacity: None,
    };
    for who in [&agent, &senior, &supervisor] {
        assert!(matches!(
            staff::create(&db, who, input()).await,
            Err(AppError::Forbidden(_))
        ));
        assert!(settings::policies(&db, who).await.is_ok());
    }
    staff::create(&db, &admin, input()).await.unwrap();
    assert!(matches!(
        app::desk::audit::list(&db, &agent, None, None, None).await,
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        app::desk::audit::list(&db, &senior, None, None, None).await,
        Err(AppError::Forbidden(_))
    ));
    assert!(app::desk::audit::list(&db, &supervisor, None, None, None)
        .await
        .is_ok());
    // An agent changes only their own name, password and online flag.
    let own = staff::update(
        &db,
        &agent,
        agent.staff_id().unwrap(),
        staff::StaffUpdate {
            online: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(own.online);
    assert!(matches!(
        staff::update(
            &db,
            &agent,
            agent.staff_id().unwrap(),
            staff::StaffUpdate {
                role: Some("admin".into()),
                ..Default::default()
            }
        )
        .await,
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        staff::update(
            &db,
            &agent,
            senior.staff_id().unwrap(),
            staff::StaffUpdate {
                online: Some(true),
                ..Default::default()
            }
        )
        .await,
        Err(AppError::Forbidden(_))
    ));
    // Login: the right password gives a session for that user and role; a wrong one and an
    // unknown email get the same answer.
    let s = staff::login(
        &db,
        staff::LoginInput {
            organisation: ctx.org_id.clone(),
            email: "AGENT@acme.test".into(),
            password: "correct horse battery".into(),
        },
        now,
    )
    .await
    .unwrap();
    let (org, id, role) = staff::authenticate(&db, &s.token, now).await.unwrap();
    assert_eq!(
        (org.as_str(), Some(id.as_str()), role),
        (ctx.org_id.as_str(), agent.staff_id(), Role::Agent)
    );
    assert!(
        staff::authenticate(&db, &s.token, now + chrono::Duration::hours(13))
            .await
            .is_err(),
        "sessions expire"
    );
    for (email, pw) in [
        ("agent@acme.test", "wrong password!"),
        ("nobody@acme.test", "correct horse battery"),
    ] {
        let e = staff::login(
            &db,
            staff::LoginInput {
                organisation: ctx.org_id.clone(),
                email: email.into(),
                password: pw.into(),
            },
            now,
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "authentication failed: wrong email or password"
        );
    }
    staff::logout(&db, &s.token, now).await.unwrap();
    assert!(staff::authenticate(&db, &s.token, now).await.is_err());
}

async fn merge_round_robin_and_escalation(db: Db) {
    let now = t("2026-11-27T10:00:00Z");
    let ctx = org(&db, now).await;
    let admin = StaffCtx::api_key(ctx.clone());
    let a = staff_user(&db, &ctx, "a@acme.test", "agent").await;
    let b = staff_user(&db, &ctx, "b@acme.test", "agent").await;
    for s in [&a, &b] {
        staff::update(
            &db,
            s,
            s.staff_id().unwrap(),
            staff::StaffUpdate {
                online: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let new = |subject: &str| tickets::CreateTicket {
        customer: None,
        requester_email: None,
        requester_name: None,
        subject: subject.into(),
        body: None,
        channel: None,
        category: None,
        priority: None,
        team: None,
        assignee: Some("round_robin".into()),
        tags: vec![],
        links: vec![],
    };
    // Capacity 2 each: a, b, a, b, then nobody.
    let mut got = Vec::new();
    for i in 0..4 {
        let at_i = StaffCtx {
            ctx: at(&ctx, now + chrono::Duration::seconds(i)),
            ..admin.clone()
        };
        got.push(
            tickets::create(&db, &at_i, new(&format!("t{i}")))
                .await
                .unwrap()
                .ticket
                .assignee
                .unwrap(),
        );
    }
    assert_eq!(got[0], got[2]);
    assert_eq!(got[1], got[3]);
    assert_ne!(got[0], got[1]);
    let full = tickets::create(&db, &admin, new("t5")).await.unwrap_err();
    assert!(
        matches!(
            full,
            AppError::State {
                code: "no_agent_available",
                ..
            }
        ),
        "{full:?}"
    );

    // Escalation needs a note and unassigns; the note stays on the ticket.
    let list = tickets::list(
        &db,
        &admin,
        tickets::ListTickets {
            limit: Some(100),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (t1, t2) = (list.data[0].id.clone(), list.data[1].id.clone());
    let e = tickets::update(
        &db,
        &admin,
        &t1,
        tickets::UpdateTicket {
            team: Some("finance".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(e, AppError::Invalid { ref param, .. } if param == "note"));
    let d = tickets::update(
        &db,
        &admin,
        &t1,
        tickets::UpdateTicket {
            team: Some("finance".into()),
            note: Some("needs a refund over the limit".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (d.ticket.team.as_str(), d.ticket.assignee.as_deref()),
        ("finance", None)
    );
    assert!(d
        .interactions
        .iter()
        .any(|i| i.kind == "note" && i.body.contains("Escalated from billing to finance")));

    // Merge t2 into t1: t2 closed and pointing at t1, its notes moved, changes refused.
    tickets::note(
        &db,
        &a,
        &t2,
        tickets::NoteInput {
            body: "ask @b@acme.test".into(),
        },
    )
    .await
    .unwrap();
    let m = tickets::merge(&db, &admin, &t2, tickets::MergeInput { into: t1.clone() })
        .await
        .unwrap();
    assert!(m.interactions.iter().any(|i| i.body == "ask @b@acme.test"));
    let old = tickets::get(&db, &admin, &t2).await.unwrap();
    assert_eq!(
        (
            old.ticket.status.as_str(),
            old.ticket.merged_into.as_deref()
        ),
        ("closed", Some(t1.as_str()))
    );
    assert_eq!(old.watchers, vec![b.staff_id().unwrap().to_string()]);
    let e = tickets::reply(
        &db,
        &a,
        &t2,
        tickets::ReplyInput {
            body: Some("x".into()),
            macro_name: None,
            status: None,
            handling_secs: None,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(
        e,
        AppError::State {
            code: "ticket_merged",
            ..
        }
    ));
    let e = tickets::merge(
        &db,
        &admin,
        &t1,
        tickets::MergeInput {
            into: "tkt_nope".into(),
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, AppError::Invalid { ref param, .. } if param == "into"),
        "{e:?}"
    );
}

async fn audit_chain_detects_tampering(db: Db) {
    let now = t("2026-11-27T10:00:00Z");
    let ctx = org(&db, now).await;
    let admin = StaffCtx::api_key(ctx.clone());
    staff_user(&db, &ctx, "a@acme.test", "agent").await;
    let d = tickets::create(
        &db,
        &admin,
        tickets::CreateTicket {
            customer: None,
            requester_email: None,
            requester_name: None,
            subject: "Audit me".into(),
            body: None,
            channel: None,
            category: None,
            priority: Some("high".into()),
            team: None,
            assignee: None,
            tags: vec![],
            links: vec![],
        },
    )
    .await
    .unwrap();
    tickets::update(
        &db,
        &admin,
        &d.ticket.id,
        tickets::UpdateTicket {
            priority: Some("urgent".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(app::desk::audit::verify_chains(&db)
        .await
        .unwrap()
        .is_empty());
    let log = app::desk::audit::list(&db, &admin, Some(&d.ticket.id), None, None)
        .await
        .unwrap();
    assert_eq!(log.data.len(), 2);
    assert_eq!(log.data[0].action, "ticket.updated");
    assert_eq!(log.data[0].before["priority"], "high");
    assert_eq!(log.data[0].after["priority"], "urgent");

    // Rewriting history is found; so is removing the newest entry.
    let mut tx = db.begin().await.unwrap();
    tx.execute_sql("UPDATE audit_log SET after = REPLACE(after, 'urgent', 'low') WHERE action = 'ticket.updated'").await;
    tx.commit().await.unwrap();
    let broken = app::desk::audit::verify_chains(&db).await.unwrap();
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].contains("broken at entry 3"), "{broken:?}");
}

trait ExecSql {
    async fn execute_sql(&mut self, sql: &str);
}
impl ExecSql for store::Tx {
    async fn execute_sql(&mut self, sql: &str) {
        match self {
            store::Tx::Sqlite(t) => {
                sqlx::query(sql).execute(&mut **t).await.unwrap();
            }
            store::Tx::Pg(t) => {
                sqlx::query(sql).execute(&mut **t).await.unwrap();
            }
        }
    }
}

/// Without a calendar the clock runs around the clock: a first response due in an hour
/// warns at 80 % (48 minutes), breaches at the hour, once, and a later run adds nothing.
async fn an_unanswered_ticket_breaches_once(db: Db) {
    let now = t("2026-11-27T15:00:00Z");
    let ctx = org(&db, now).await;
    let admin = StaffCtx::api_key(ctx.clone());
    settings::save_policy(
        &db,
        &admin,
        settings::PolicyInput {
            name: "Fast".into(),
            priority: None,
            category: None,
            first_response_secs: Some(3600),
            resolution_secs: None,
        },
    )
    .await
    .unwrap();
    let d = tickets::create(
        &db,
        &admin,
        tickets::CreateTicket {
            customer: None,
            requester_email: Some("eve@example.com".into()),
            requester_name: None,
            subject: "Charged twice".into(),
            body: Some("Two charges on my card.".into()),
            channel: Some("email".into()),
            category: Some("payment_issue".into()),
            priority: None,
            team: None,
            assignee: None,
            tags: vec![],
            links: vec![],
        },
    )
    .await
    .unwrap();
    assert_eq!(
        d.ticket.first_response_sla.due,
        Some(t("2026-11-27T16:00:00Z"))
    );
    let w = quiet_worker(&db);
    let run = |at| drain(&w, at);
    let count = |kind: &'static str| {
        let (db, ctx) = (db.clone(), ctx.clone());
        async move {
            app::events::list(&db, &ctx, Some(kind), None, None, Some(10))
                .await
                .unwrap()
                .data
        }
    };
    run(t("2026-11-27T15:47:00Z")).await;
    assert!(count("ticket.sla_warning").await.is_empty(), "before 80 %");
    run(t("2026-11-27T15:49:00Z")).await;
    assert_eq!(count("ticket.sla_warning").await.len(), 1);
    assert!(count("ticket.sla_breached").await.is_empty(), "not due yet");
    run(t("2026-11-27T16:01:00Z")).await;
    let breached = count("ticket.sla_breached").await;
    assert_eq!(breached.len(), 1);
    let data = &breached[0].data["object"];
    assert_eq!(data["id"], d.ticket.id.as_str());
    assert_eq!(data["clock"], "first_response");
    run(t("2026-11-27T18:00:00Z")).await;
    assert_eq!(count("ticket.sla_breached").await.len(), 1, "once");
    let late = at(&admin.ctx, t("2026-11-27T16:05:00Z")).into_admin();
    let tk = tickets::get(&db, &late, &d.ticket.id).await.unwrap();
    assert_eq!(tk.ticket.first_response_sla.state, "breached");
}

/// A worker that sends no mail.
fn quiet_worker(db: &Db) -> Worker {
    let mut w = Worker::new(db.clone(), Gateway::Sandbox(Sandbox::new()));
    w.mailer = mail::Mailer::Off;
    w
}

/// Runs `w` at `at` until it finds nothing more to do (at most ten passes).
async fn drain(w: &Worker, at: chrono::DateTime<chrono::Utc>) {
    for _ in 0..10 {
        let p = w.run_once(at).await.unwrap();
        if p.claimed == 0 && p.dispatched == 0 {
            break;
        }
    }
}
