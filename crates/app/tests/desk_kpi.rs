//! Desk KPIs on a hand-computed fixture, on both databases: FCR (with a reopen that needed
//! more work and a "thank you" that did not), AHT, CSAT by resolving agent, first response
//! and resolution times in business hours (Friday 16:00 → Monday 10:00 = 2 h), billing
//! accuracy by month, contacts per channel and day, billing contacts per 1,000 invoices,
//! top categories and invoice line types; filters; the CSV; the public CSAT answer.

mod common;

use app::desk::kpi::{self, KpiQuery};
use app::desk::{inbound, settings, staff, tickets, StaffCtx};
use chrono::NaiveDate;
use common::*;
use desk::authority::Role;
use store::desk::InteractionRow;

on_both_backends!(kpis_on_a_hand_computed_fixture);

fn mime(from: &str, subject: &str, message_id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: billing@acme.test\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Thu, 06 Jun 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// The same actor at another instant.
fn when(s: &StaffCtx, instant: &str) -> StaffCtx {
    let mut s = s.clone();
    s.ctx.now = t(instant);
    s
}

async fn staff_user(db: &Db, ctx: &Ctx, email: &str, role: &str, team: &str) -> StaffCtx {
    let s = staff::create(
        db,
        &StaffCtx::api_key(ctx.clone()),
        staff::StaffInput {
            email: email.into(),
            name: email.split('@').next().unwrap().into(),
            role: role.into(),
            password: "correct horse battery".into(),
            team: Some(team.into()),
            locale: None,
            capacity: Some(20),
        },
    )
    .await
    .unwrap();
    StaffCtx::staff(ctx.clone(), s.id, Role::parse(role).unwrap())
}

struct NewT<'a> {
    at: &'a str,
    channel: &'a str,
    category: &'a str,
    team: &'a str,
    assignee: Option<&'a str>,
    body: Option<&'a str>,
    customer: Option<&'a str>,
    links: &'a [&'a str],
}

/// Opens a ticket through the API use case; returns (id, number).
#[allow(clippy::too_many_arguments)]
fn tk<'a>(
    at: &'a str,
    channel: &'a str,
    category: &'a str,
    team: &'a str,
    assignee: Option<&'a str>,
    body: Option<&'a str>,
    customer: Option<&'a str>,
    links: &'a [&'a str],
) -> NewT<'a> {
    NewT {
        at,
        channel,
        category,
        team,
        assignee,
        body,
        customer,
        links,
    }
}

async fn open(db: &Db, admin: &StaffCtx, n: NewT<'_>) -> (String, String) {
    let d = tickets::create(
        db,
        &when(admin, n.at),
        tickets::CreateTicket {
            customer: n.customer.map(str::to_string),
            requester_email: None,
            requester_name: None,
            subject: format!("{} question", n.category),
            body: n.body.map(str::to_string),
            channel: Some(n.channel.into()),
            category: Some(n.category.into()),
            priority: None,
            team: Some(n.team.into()),
            assignee: n.assignee.map(str::to_string),
            tags: vec![],
            links: n
                .links
                .iter()
                .map(|id| tickets::LinkInput {
                    object_type: "invoice".into(),
                    id: id.to_string(),
                })
                .collect(),
        },
    )
    .await
    .unwrap();
    (d.ticket.id, d.ticket.number)
}

async fn reply(db: &Db, s: &StaffCtx, at: &str, id: &str, status: Option<&str>, secs: Option<i64>) {
    tickets::reply(
        db,
        &when(s, at),
        id,
        tickets::ReplyInput {
            body: Some("Here is the answer.".into()),
            macro_name: None,
            status: status.map(str::to_string),
            handling_secs: secs,
        },
    )
    .await
    .unwrap();
}

async fn set_status(db: &Db, s: &StaffCtx, at: &str, id: &str, status: &str) {
    tickets::update(
        db,
        &when(s, at),
        id,
        tickets::UpdateTicket {
            status: Some(status.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

/// A call or chat session with an agent, written as the telephony / chat integration would.
#[allow(clippy::too_many_arguments)]
async fn session(
    db: &Db,
    org: &str,
    ticket: &str,
    kind: &str,
    agent: &str,
    at: &str,
    handling: Option<i64>,
    parts: [Option<i64>; 3],
) {
    let mut tx = db.begin().await.unwrap();
    let channel = if kind == "call" { "phone" } else { "chat" };
    store::desk::insert_interactions(
        &mut tx,
        &[InteractionRow {
            id: store::new_id!(billing::ids::InteractionId).to_string(),
            org_id: org.into(),
            ticket_id: Some(ticket.into()),
            channel: channel.into(),
            direction: "inbound".into(),
            kind: kind.into(),
            author_type: "staff".into(),
            author_id: Some(agent.into()),
            body: format!("{kind} session"),
            talk_secs: parts[0],
            hold_secs: parts[1],
            wrap_secs: parts[2],
            handling_secs: handling,
            started_at: Some(t(at)),
            created_at: t(at),
            ..Default::default()
        }],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// The CSAT tokens of a ticket's surveys, oldest first (from the survey emails' bodies).
async fn survey_tokens(db: &Db, admin: &StaffCtx, id: &str) -> Vec<String> {
    let d = tickets::get(db, admin, id).await.unwrap();
    d.interactions
        .iter()
        .filter(|i| i.author_type == "system" && i.body.contains("/csat/"))
        .map(|i| {
            i.body
                .split("/csat/")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn q(from: &str, to: &str) -> KpiQuery {
    KpiQuery {
        from: from.parse::<NaiveDate>().unwrap(),
        to: to.parse::<NaiveDate>().unwrap(),
        team: None,
        agent: None,
        channel: None,
    }
}

fn kc(pairs: &[(&str, u64)]) -> Vec<kpi::KeyCount> {
    pairs
        .iter()
        .map(|(k, n)| kpi::KeyCount {
            key: k.to_string(),
            count: *n,
        })
        .collect()
}

async fn kpis_on_a_hand_computed_fixture(db: Db) {
    let ctx = org(&db, t("2024-05-01T00:00:00Z")).await;
    let org_id = ctx.org_id.clone();
    let admin = StaffCtx::api_key(ctx.clone());
    let a = staff_user(&db, &ctx, "anna@acme.test", "agent", "billing").await;
    let b = staff_user(&db, &ctx, "boris@acme.test", "agent", "billing").await;
    let sup = staff_user(&db, &ctx, "sue@acme.test", "supervisor", "billing").await;
    let (a_id, b_id) = (
        a.staff_id().unwrap().to_string(),
        b.staff_id().unwrap().to_string(),
    );

    // Billing works Mon–Fri 09:00–17:00 UTC; technical has no calendar (24×7).
    let day = vec!["09:00-17:00".to_string()];
    settings::create_calendar(
        &db,
        &admin,
        settings::CalendarInput {
            name: "Office".into(),
            time_zone: "UTC".into(),
            hours: ["mon", "tue", "wed", "thu", "fri"]
                .iter()
                .map(|d| (d.to_string(), day.clone()))
                .collect(),
            holidays: vec![],
            teams: vec!["billing".into()],
        },
    )
    .await
    .unwrap();

    // Invoices. May: I0 (credited billing_error in May). June: I1, Isub, I2, I3 = 4
    // finalized; I2 credited billing_error in July (later), I3 credited as goodwill.
    de_vat(&db, &ctx).await;
    let mut cin = customer_input("Ada", "EUR", "Europe/Berlin", "DE");
    cin.email = Some("ada@example.com".into());
    let ada = app::customers::create(&db, &ctx, &cin).await.unwrap().id;
    let inv = |at: &'static str| {
        let db = db.clone();
        let c = at_ctx(&ctx, at);
        let ada = ada.clone();
        async move {
            app::invoicing::create(
                &db,
                &c,
                &one_off(&ada, vec![amount_line("Setup", 10_000)], true),
            )
            .await
            .unwrap()
            .id
        }
    };
    let credit = |at: &'static str, invoice: String, reason: &'static str| {
        let db = db.clone();
        let c = at_ctx(&ctx, at);
        async move {
            app::invoicing::create_credit_note(
                &db,
                &c,
                &app::invoicing::CreditNoteCreate {
                    invoice,
                    reason: reason.into(),
                    memo: None,
                    lines: None,
                },
            )
            .await
            .unwrap();
        }
    };
    let i0 = inv("2024-05-20T08:00:00Z").await;
    credit("2024-05-25T08:00:00Z", i0, "billing_error").await;
    let i1 = inv("2024-06-03T08:00:00Z").await;
    let plan = product(&db, &ctx, "Plan").await;
    let price = monthly_flat(&db, &ctx, &plan.id, "EUR", 5000).await;
    let (_, first) = app::subscriptions::create(
        &db,
        &at_ctx(&ctx, "2024-06-03T08:30:00Z"),
        &sub_input(&ada, &price.id, None),
    )
    .await
    .unwrap();
    let isub = first.expect("first period invoiced").id;
    let i2 = inv("2024-06-04T08:00:00Z").await;
    let i3 = inv("2024-06-05T08:00:00Z").await;
    credit("2024-06-20T08:00:00Z", i3, "goodwill").await;
    credit("2024-07-02T08:00:00Z", i2.clone(), "billing_error").await;

    let cus = Some(ada.as_str());

    // T0: created Fri 05-31 16:00, answered and resolved by A Mon 06-03 09:30 (120 s).
    //   FRT = TTR = Fri 16–17 (1 h) + Mon 09:00–09:30 = 5400. FCR yes.
    let (t0, _) = open(
        &db,
        &admin,
        tk(
            "2024-05-31T16:00:00Z",
            "email",
            "other",
            "billing",
            Some(a_id.as_str()),
            Some("Hello?"),
            cus,
            &[],
        ),
    )
    .await;
    reply(
        &db,
        &a,
        "2024-06-03T09:30:00Z",
        &t0,
        Some("resolved"),
        Some(120),
    )
    .await;

    // T1: Mon 06-03 09:00, A replies and resolves 10:00 (300 s). FRT = TTR = 3600. FCR yes.
    let (t1, _) = open(
        &db,
        &admin,
        tk(
            "2024-06-03T09:00:00Z",
            "email",
            "invoice_discrepancy",
            "billing",
            Some(a_id.as_str()),
            Some("INV wrong"),
            cus,
            &[i1.as_str()],
        ),
    )
    .await;
    reply(
        &db,
        &a,
        "2024-06-03T10:00:00Z",
        &t1,
        Some("resolved"),
        Some(300),
    )
    .await;

    // T2: Fri 06-07 16:00; A answers Mon 06-10 10:00 (600 s) — FRT = 1 h + 1 h = 7200 —
    //   and resolves with a second reply at 14:00 (200 s): TTR = 1 h + 5 h = 21600. FCR no.
    let (t2, _) = open(
        &db,
        &admin,
        tk(
            "2024-06-07T16:00:00Z",
            "email",
            "payment_issue",
            "billing",
            Some(a_id.as_str()),
            Some("Card declined"),
            cus,
            &[isub.as_str()],
        ),
    )
    .await;
    reply(&db, &a, "2024-06-10T10:00:00Z", &t2, None, Some(600)).await;
    reply(
        &db,
        &a,
        "2024-06-10T14:00:00Z",
        &t2,
        Some("resolved"),
        Some(200),
    )
    .await;

    // T3: phone, Tue 06-04 11:00, one call with B (talk 240 + hold 60 + wrap 100 = 400 s,
    //   no total recorded), resolved by B 11:30: TTR 1800, no FRT (no reply). FCR yes.
    let (t3, _) = open(
        &db,
        &admin,
        tk(
            "2024-06-04T11:00:00Z",
            "phone",
            "refund_adjustment",
            "billing",
            Some(b_id.as_str()),
            None,
            cus,
            &[],
        ),
    )
    .await;
    session(
        &db,
        &org_id,
        &t3,
        "call",
        &b_id,
        "2024-06-04T11:00:00Z",
        None,
        [Some(240), Some(60), Some(100)],
    )
    .await;
    set_status(&db, &b, "2024-06-04T11:30:00Z", &t3, "resolved").await;

    // T4: Wed 06-05 09:00; B resolves with a reply 09:30 (100 s): FRT = TTR = 1800. The
    //   customer writes again Thu 06-06 10:00 (reopen within 7 days) and B answers and
    //   resolves at 10:30 (100 s): a reopen that needed work. FCR no.
    let (t4, n4) = open(
        &db,
        &admin,
        tk(
            "2024-06-05T09:00:00Z",
            "email",
            "invoice_discrepancy",
            "billing",
            Some(b_id.as_str()),
            Some("Tax looks off"),
            cus,
            &[i1.as_str()],
        ),
    )
    .await;
    reply(
        &db,
        &b,
        "2024-06-05T09:30:00Z",
        &t4,
        Some("resolved"),
        Some(100),
    )
    .await;
    let again = inbound::ingest(
        &db,
        &at_ctx(&ctx, "2024-06-06T10:00:00Z"),
        &mime(
            "ada@example.com",
            &format!("Re: [#{n4}] Tax"),
            "r4@example.com",
            "Still wrong.",
        ),
    )
    .await
    .unwrap();
    assert_eq!(again.ticket.as_deref(), Some(t4.as_str()));
    reply(
        &db,
        &b,
        "2024-06-06T10:30:00Z",
        &t4,
        Some("resolved"),
        Some(100),
    )
    .await;

    // T5: Thu 06-06 09:00; A resolves with a reply 09:20 (60 s): FRT = TTR = 1200. "Thank
    //   you!" at 12:00 reopens it; A re-resolves at 12:05 without a reply. FCR yes.
    let (t5, n5) = open(
        &db,
        &admin,
        tk(
            "2024-06-06T09:00:00Z",
            "email",
            "payment_issue",
            "billing",
            Some(a_id.as_str()),
            Some("Refund status?"),
            cus,
            &[isub.as_str(), i2.as_str()],
        ),
    )
    .await;
    reply(
        &db,
        &a,
        "2024-06-06T09:20:00Z",
        &t5,
        Some("resolved"),
        Some(60),
    )
    .await;
    let thanks = inbound::ingest(
        &db,
        &at_ctx(&ctx, "2024-06-06T12:00:00Z"),
        &mime(
            "ada@example.com",
            &format!("Re: [#{n5}]"),
            "r5@example.com",
            "Thank you!",
        ),
    )
    .await
    .unwrap();
    assert_eq!(thanks.ticket.as_deref(), Some(t5.as_str()));
    set_status(&db, &a, "2024-06-06T12:05:00Z", &t5, "resolved").await;

    // T6: spam, Mon 06-10 09:00, no requester, resolved by A without a reply at 09:05:
    //   out of FCR, TTR 300, no survey.
    let mut spam = tk(
        "2024-06-10T09:00:00Z",
        "email",
        "other",
        "billing",
        Some(a_id.as_str()),
        Some("Cheap pills"),
        cus,
        &[],
    );
    spam.customer = None;
    let (t6, _) = open(&db, &admin, spam).await;
    set_status(&db, &a, "2024-06-10T09:05:00Z", &t6, "resolved").await;

    // T7: technical (24×7), chat on Sat 06-08 10:00 with A (370 s), then A replies and
    //   resolves 10:10 (no time recorded): FRT = TTR = 600. Two contacts: FCR no.
    let (t7, _) = open(
        &db,
        &admin,
        tk(
            "2024-06-08T10:00:00Z",
            "chat",
            "plan_change",
            "technical",
            Some(a_id.as_str()),
            None,
            cus,
            &[],
        ),
    )
    .await;
    session(
        &db,
        &org_id,
        &t7,
        "chat",
        &a_id,
        "2024-06-08T10:00:00Z",
        Some(370),
        [None, None, None],
    )
    .await;
    reply(&db, &a, "2024-06-08T10:10:00Z", &t7, Some("resolved"), None).await;

    // T8: Mon 06-10 11:00, merged into T1 at 11:30: out of FCR, FRT, TTR and categories;
    //   its message (a contact on 06-10) moves to T1.
    let (t8, _) = open(
        &db,
        &admin,
        tk(
            "2024-06-10T11:00:00Z",
            "email",
            "invoice_discrepancy",
            "billing",
            None,
            Some("Same as before"),
            cus,
            &[],
        ),
    )
    .await;
    tickets::merge(
        &db,
        &when(&admin, "2024-06-10T11:30:00Z"),
        &t8,
        tickets::MergeInput { into: t1.clone() },
    )
    .await
    .unwrap();

    // CSAT answers: T1 5 (A), T2 3 (A), T3 4 (B), T4's first survey 2 (B), T5's first 4
    // (A). Unanswered: T0, T4's second, T5's second, T7.
    let answer_at = t("2024-06-11T08:00:00Z");
    for (ticket_id, rating) in [(&t1, 5), (&t2, 3), (&t3, 4), (&t4, 2), (&t5, 4)] {
        let tokens = survey_tokens(&db, &admin, ticket_id).await;
        assert!(!tokens.is_empty(), "survey of {ticket_id}");
        let r = kpi::answer_survey(&db, &tokens[0], rating, Some(" ok "), answer_at)
            .await
            .unwrap();
        assert_eq!((r.rating, r.comment.as_deref()), (rating, Some("ok")));
    }
    assert_eq!(survey_tokens(&db, &admin, &t4).await.len(), 2);
    assert_eq!(survey_tokens(&db, &admin, &t5).await.len(), 2);
    assert!(survey_tokens(&db, &admin, &t6).await.is_empty());
    // The public answer: once only; rating 1–5; unknown tokens are not found.
    let t1_token = survey_tokens(&db, &admin, &t1).await.remove(0);
    expect_state(
        kpi::answer_survey(&db, &t1_token, 1, None, answer_at).await,
        "survey_already_answered",
    );
    let t0_token = survey_tokens(&db, &admin, &t0).await.remove(0);
    expect_invalid(
        kpi::answer_survey(&db, &t0_token, 0, None, answer_at).await,
        "rating",
    );
    expect_invalid(
        kpi::answer_survey(&db, &t0_token, 6, None, answer_at).await,
        "rating",
    );
    expect_not_found(kpi::answer_survey(&db, "nope", 5, None, answer_at).await);

    let sup = when(&sup, "2024-07-03T08:00:00Z");

    // ---- June, unfiltered --------------------------------------------------------------
    let r = kpi::report(&db, &sup, q("2024-06-01", "2024-06-30"))
        .await
        .unwrap();
    // FCR: T0 ✓, T1 ✓, T2 ✗ (2 replies), T3 ✓ (1 call), T4 ✗ (reopen + reply), T5 ✓
    // (thank-you reopen, no reply), T7 ✗ (chat + reply); T6 (no reply) and T8 (merged) out.
    assert_eq!(
        (r.fcr.numerator, r.fcr.denominator, r.fcr.value),
        (4, 7, Some(4.0 / 7.0))
    );
    // AHT: replies 120 + 300 + 600 + 200 + 100 + 100 + 60, call 400, chat 370 = 2250 / 9.
    assert_eq!(
        r.aht,
        kpi::AhtView {
            contacts: 9,
            handling_secs: 2250,
            average_secs: Some(250.0)
        }
    );
    // CSAT: answered 5, 3, 4, 2, 4 → 3 of 5. A: 5, 3, 4 → 2/3 of 6 sent (T0, T1, T2, T5 ×2,
    // T7); B: 4, 2 → 1/2 of 3 sent (T3, T4 ×2).
    assert_eq!(
        (r.csat.numerator, r.csat.denominator, r.csat.value),
        (3, 5, Some(0.6))
    );
    let by = |id: &str| {
        let x = r
            .csat_by_agent
            .iter()
            .find(|x| x.agent.as_deref() == Some(id))
            .unwrap();
        (x.csat.numerator, x.csat.denominator, x.surveys_sent)
    };
    assert_eq!(by(&a_id), (2, 3, 6));
    assert_eq!(by(&b_id), (1, 2, 3));
    assert_eq!(r.csat_by_agent.len(), 2);
    // FRT: T7 600, T5 1200, T4 1800, T1 3600, T0 5400, T2 7200 → median (rank 3) 1800,
    // p90 (rank ⌈5.4⌉ = 6) 7200.
    assert_eq!(
        r.first_response,
        kpi::DurationStats {
            count: 6,
            median_secs: Some(1800),
            p90_secs: Some(7200)
        }
    );
    // TTR: T6 300, T7 600, T5 1200, T3 1800, T4 1800 (first resolution), T1 3600,
    // T0 5400, T2 21600 → median (rank 4) 1800, p90 (rank ⌈7.2⌉ = 8) 21600.
    assert_eq!(
        r.resolution,
        kpi::DurationStats {
            count: 8,
            median_secs: Some(1800),
            p90_secs: Some(21600)
        }
    );
    // Billing accuracy, June: 4 finalized (I1, Isub, I2, I3), I2 credited billing_error
    // (in July) → 1 − 1/4 = 0.75; I3's goodwill credit does not count.
    assert_eq!(
        r.billing_accuracy,
        vec![kpi::MonthAccuracy {
            month: "2024-06".into(),
            finalized: 4,
            credited_billing_error: 1,
            accuracy: Some(0.75)
        }]
    );
    // Contacts: T1, T3 (call), T4, T5, T4 again, T5 "thank you", T2, T7 (chat), T6, T8
    // = 10 (T0's message was in May): email 8, phone 1, chat 1.
    let c = &r.contacts;
    assert_eq!(c.total, 10);
    assert_eq!(c.by_channel, kc(&[("email", 8), ("chat", 1), ("phone", 1)]));
    let days: Vec<(String, String, u64)> = c
        .by_day
        .iter()
        .map(|d| (d.date.to_string(), d.channel.clone(), d.contacts))
        .collect();
    let want: Vec<(String, String, u64)> = [
        ("2024-06-03", "email", 1),
        ("2024-06-04", "phone", 1),
        ("2024-06-05", "email", 1),
        ("2024-06-06", "email", 3),
        ("2024-06-07", "email", 1),
        ("2024-06-08", "chat", 1),
        ("2024-06-10", "email", 2),
    ]
    .iter()
    .map(|(d, ch, n)| (d.to_string(), ch.to_string(), *n))
    .collect();
    assert_eq!(days, want);
    // Billing contacts: all but T7 (plan_change) and T6 (other) = 8 (T8's message counts
    // under T1, invoice_discrepancy); per 1,000 of the 4 invoices: 2000.
    assert_eq!((c.billing_contacts, c.invoices_finalized), (8, 4));
    assert_eq!(c.billing_contacts_per_thousand_invoices, Some(2000.0));
    // Tickets created in June (T8 merged, T0 in May left out).
    assert_eq!(
        c.top_categories,
        kc(&[
            ("invoice_discrepancy", 2),
            ("payment_issue", 2),
            ("other", 1),
            ("plan_change", 1),
            ("refund_adjustment", 1)
        ])
    );
    // Linked invoices: T1 → I1, T4 → I1, T2 → Isub, T5 → Isub + I2: one_off on T1, T4, T5;
    // subscription on T2, T5.
    assert_eq!(c.top_line_types, kc(&[("one_off", 3), ("subscription", 2)]));

    // The CSV carries the same figures.
    let csv = kpi::report_csv(&r);
    for line in [
        "metric,key,numerator,denominator,value\r\n",
        "fcr,,4,7,0.5714285714285714\r\n",
        "aht_secs,,2250,9,250\r\n",
        "csat,,3,5,0.6\r\n",
        &format!("csat_agent,{a_id},2,3,0.6666666666666666\r\n"),
        "first_response_secs,median,,6,1800\r\n",
        "first_response_secs,p90,,6,7200\r\n",
        "resolution_secs,p90,,8,21600\r\n",
        "billing_accuracy,2024-06,3,4,0.75\r\n",
        "contacts_day,2024-06-06 email,,,3\r\n",
        "billing_contacts_per_1000_invoices,,8,4,2000\r\n",
        "line_type,one_off,,,3\r\n",
    ] {
        assert!(csv.contains(line), "{line:?} missing from\n{csv}");
    }

    // ---- The business-calendar case alone: Monday 06-10, agent A, email ----------------
    let mut one = q("2024-06-10", "2024-06-10");
    one.agent = Some(a_id.clone());
    one.channel = Some("email".into());
    let r = kpi::report(&db, &sup, one).await.unwrap();
    // First response on that day: T2, created Fri 16:00, answered Mon 10:00 = 2 h business.
    assert_eq!(
        r.first_response,
        kpi::DurationStats {
            count: 1,
            median_secs: Some(7200),
            p90_secs: Some(7200)
        }
    );
    // Solved that day by A: T6 (300; no reply, out of FCR) and T2 (21600; two replies).
    assert_eq!(
        r.resolution,
        kpi::DurationStats {
            count: 2,
            median_secs: Some(300),
            p90_secs: Some(21600)
        }
    );
    assert_eq!((r.fcr.numerator, r.fcr.denominator), (0, 1));

    // ---- Filters -------------------------------------------------------------------------
    // Team technical: only T7.
    let mut tech = q("2024-06-01", "2024-06-30");
    tech.team = Some("technical".into());
    let r = kpi::report(&db, &sup, tech).await.unwrap();
    assert_eq!((r.fcr.numerator, r.fcr.denominator), (0, 1));
    assert_eq!(
        (r.aht.contacts, r.aht.handling_secs, r.aht.average_secs),
        (1, 370, Some(370.0))
    );
    assert_eq!((r.csat.denominator, r.csat.value), (0, None));
    assert_eq!(r.first_response.median_secs, Some(600));
    assert_eq!(r.resolution.p90_secs, Some(600));
    assert_eq!(r.contacts.total, 1);
    assert_eq!(r.contacts.billing_contacts, 0);
    assert_eq!(r.contacts.billing_contacts_per_thousand_invoices, Some(0.0));
    assert_eq!(r.contacts.top_categories, kc(&[("plan_change", 1)]));
    assert!(r.contacts.top_line_types.is_empty());

    // Agent B: resolver of T3 ✓ and T4 ✗; author of the call (400) and two replies
    // (100 + 100); first responder of T4 only; assignee of T3 and T4 (3 contacts).
    let mut bq = q("2024-06-01", "2024-06-30");
    bq.agent = Some(b_id.clone());
    let r = kpi::report(&db, &sup, bq).await.unwrap();
    assert_eq!((r.fcr.numerator, r.fcr.denominator), (1, 2));
    assert_eq!(
        (r.aht.contacts, r.aht.handling_secs, r.aht.average_secs),
        (3, 600, Some(200.0))
    );
    assert_eq!((r.csat.numerator, r.csat.denominator), (1, 2));
    assert_eq!(
        (r.first_response.count, r.first_response.median_secs),
        (1, Some(1800))
    );
    assert_eq!(
        (r.resolution.count, r.resolution.median_secs),
        (2, Some(1800))
    );
    assert_eq!(r.contacts.total, 3);

    // Channel phone: T3.
    let mut ph = q("2024-06-01", "2024-06-30");
    ph.channel = Some("phone".into());
    let r = kpi::report(&db, &sup, ph).await.unwrap();
    assert_eq!((r.fcr.numerator, r.fcr.denominator), (1, 1));
    assert_eq!(r.contacts.by_channel, kc(&[("phone", 1)]));
    assert_eq!((r.aht.contacts, r.aht.handling_secs), (1, 400));

    // Billing accuracy for every month overlapping the range: May's only invoice was
    // credited as a billing error (0.0); June 0.75.
    let r = kpi::report(&db, &sup, q("2024-05-15", "2024-06-30"))
        .await
        .unwrap();
    let acc: Vec<(String, u64, u64, Option<f64>)> = r
        .billing_accuracy
        .iter()
        .map(|m| {
            (
                m.month.clone(),
                m.finalized,
                m.credited_billing_error,
                m.accuracy,
            )
        })
        .collect();
    assert_eq!(
        acc,
        vec![
            ("2024-05".to_string(), 1, 1, Some(0.0)),
            ("2024-06".to_string(), 4, 1, Some(0.75))
        ]
    );
    // A month without invoices: no accuracy.
    let r = kpi::report(&db, &sup, q("2024-08-01", "2024-08-31"))
        .await
        .unwrap();
    assert_eq!(r.billing_accuracy[0].accuracy, None);
    assert_eq!(r.fcr.value, None);
    assert_eq!(r.contacts.billing_contacts_per_thousand_invoices, None);

    // ---- Permissions and bad queries ---------------------------------------------------------
    match kpi::report(
        &db,
        &when(&a, "2024-07-03T08:00:00Z"),
        q("2024-06-01", "2024-06-30"),
    )
    .await
    {
        Err(AppError::Forbidden(_)) => {}
        other => panic!("an agent may not view KPIs: {other:?}"),
    }
    expect_invalid(
        kpi::report(&db, &sup, q("2024-06-30", "2024-06-01")).await,
        "to",
    );
    expect_invalid(
        kpi::report(&db, &sup, q("2024-01-01", "2025-06-01")).await,
        "to",
    );
    let mut bad = q("2024-06-01", "2024-06-30");
    bad.channel = Some("fax".into());
    expect_invalid(kpi::report(&db, &sup, bad).await, "channel");
    let mut bad = q("2024-06-01", "2024-06-30");
    bad.team = Some("nope".into());
    expect_invalid(kpi::report(&db, &sup, bad).await, "team");
    let mut bad = q("2024-06-01", "2024-06-30");
    bad.agent = Some("stf_nobody".into());
    expect_invalid(kpi::report(&db, &sup, bad).await, "agent");
}

fn at_ctx(ctx: &Ctx, instant: &str) -> Ctx {
    at(ctx, t(instant))
}
