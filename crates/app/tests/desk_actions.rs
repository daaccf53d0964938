//! Billing actions from the desk within authority, approvals, identity verification during
//! calls, and the telephony webhook — on SQLite and PostgreSQL, each ending with
//! `store::verify` clean and the audit chain intact.

mod common;

use app::desk::actions::{self, ActionInput, DecisionInput};
use app::desk::calls::{self, CallInput, EndCall, TelephonyEvent};
use app::desk::identity::{self, ConfirmVerification, StartVerification};
use app::desk::StaffCtx;
use common::*;
use desk::authority::Role;
use desk::identity::Factor;

on_both_backends!(
    authority_boundary_and_approvals,
    credit_note_and_other_actions,
    identity_required_during_calls,
    wrong_codes_lock_out,
    knowledge_factors,
    telephony_webhook_builds_the_call,
);

const NOW: &str = "2026-03-02T10:00:00Z";

struct Setup {
    db: Db,
    ctx: Ctx,
    admin: StaffCtx,
    agent: StaffCtx,
    senior: StaffCtx,
    senior2: StaffCtx,
    supervisor: StaffCtx,
    customer: String,
    invoice: String,
    ticket: String,
}

async fn staff(db: &Db, admin: &StaffCtx, email: &str, role: Role) -> StaffCtx {
    let s = app::desk::staff::create(
        db,
        admin,
        app::desk::staff::StaffInput {
            email: email.into(),
            name: email.into(),
            role: role.as_str().into(),
            password: "correct horse battery staple".into(),
            team: None,
            locale: None,
            capacity: None,
        },
    )
    .await
    .expect("create staff");
    StaffCtx::staff(admin.ctx.clone(), s.id, role)
}

async fn setup(db: Db) -> Setup {
    let ctx = org(&db, t(NOW)).await;
    let admin = StaffCtx::api_key(ctx.clone());
    let agent = staff(&db, &admin, "agent@desk.test", Role::Agent).await;
    let senior = staff(&db, &admin, "senior@desk.test", Role::SeniorAgent).await;
    let senior2 = staff(&db, &admin, "senior2@desk.test", Role::SeniorAgent).await;
    let supervisor = staff(&db, &admin, "sup@desk.test", Role::Supervisor).await;
    let mut input = customer_input("Acme", "USD", "America/New_York", "US");
    input.email = Some("billing@acme.test".into());
    input.phone = Some("+1 555 0100".into());
    input.address = Some(app::customers::Address {
        country: Some("US".into()),
        postal_code: Some("10115".into()),
        ..Default::default()
    });
    let c = app::customers::create(&db, &ctx, &input)
        .await
        .expect("customer");
    let inv = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&c.id, vec![amount_line("Service", 20_000)], true),
    )
    .await
    .expect("invoice");
    assert_eq!(inv.amount_remaining, 20_000);
    let ticket = app::desk::tickets::create(
        &db,
        &admin,
        app::desk::tickets::CreateTicket {
            customer: Some(c.id.clone()),
            requester_email: None,
            requester_name: None,
            subject: "Wrong amount on my invoice".into(),
            body: Some("You charged me twice.".into()),
            channel: Some("email".into()),
            category: Some("invoice_discrepancy".into()),
            priority: None,
            team: None,
            assignee: None,
            tags: vec![],
            links: vec![],
        },
    )
    .await
    .expect("ticket");
    Setup {
        db,
        ctx,
        admin,
        agent,
        senior,
        senior2,
        supervisor,
        customer: c.id,
        invoice: inv.id,
        ticket: ticket.ticket.id,
    }
}

fn input(action: &str, amount: Option<i64>) -> ActionInput {
    ActionInput {
        action: action.into(),
        amount,
        currency: Some("USD".into()),
        invoice: None,
        payment: None,
        reason: "customer called about the bill".into(),
        reason_code: "goodwill".into(),
        interaction: None,
        lines: None,
        coupon: None,
        subscription: None,
        due_date: None,
        instalments: None,
    }
}

fn goodwill(amount: i64) -> ActionInput {
    input("goodwill_credit", Some(amount))
}

fn note() -> DecisionInput {
    DecisionInput {
        note: Some("ok".into()),
    }
}

#[track_caller]
fn expect_forbidden<T: std::fmt::Debug>(r: Result<T, AppError>) {
    match r {
        Err(AppError::Forbidden(_)) => {}
        other => panic!("expected forbidden, got {other:?}"),
    }
}

async fn credit_balance(s: &Setup) -> i64 {
    app::customers::get(&s.db, &s.ctx, &s.customer)
        .await
        .unwrap()
        .credit_balance
}

async fn audit_clean(db: &Db) {
    let broken = app::desk::audit::verify_chains(db).await.unwrap();
    assert!(broken.is_empty(), "{broken:?}");
}

async fn authority_boundary_and_approvals(db: Db) {
    let s = setup(db).await;
    let gw = gateway::Gateway::Sandbox(gateway::Sandbox::new());
    // Exactly the agent's limit (50.00 USD) runs at once.
    let a = actions::take(&s.db, &gw, &s.agent, &s.ticket, goodwill(5_000))
        .await
        .unwrap();
    assert_eq!(a.status, "executed");
    assert!(a.result.is_some());
    assert_eq!(credit_balance(&s).await, 5_000);
    assert_balance(&s.db, &s.ctx, &s.customer, 20_000, 5_000).await;
    // One cent more waits for approval and changes nothing.
    let p = actions::take(&s.db, &gw, &s.agent, &s.ticket, goodwill(5_001))
        .await
        .unwrap();
    assert_eq!(p.status, "pending_approval");
    assert_eq!(p.result, None);
    assert_eq!(
        p.approver_roles,
        vec!["senior_agent", "supervisor", "finance", "admin"]
    );
    assert_balance(&s.db, &s.ctx, &s.customer, 20_000, 5_000).await;
    let pending = actions::pending_approvals(&s.db, &s.senior).await.unwrap();
    assert_eq!(pending.len(), 1);
    // Agents cannot approve at all.
    expect_forbidden(actions::approve(&s.db, &gw, &s.agent, &p.id, note()).await);
    // A senior agent approves: it runs now.
    let done = actions::approve(&s.db, &gw, &s.senior, &p.id, note())
        .await
        .unwrap();
    assert_eq!(done.status, "executed");
    assert_eq!(done.decided_by.as_deref(), s.senior.staff_id());
    assert!(done.result.is_some());
    assert_balance(&s.db, &s.ctx, &s.customer, 20_000, 10_001).await;
    // Approving twice moves nothing more.
    expect_state(
        actions::approve(&s.db, &gw, &s.senior2, &p.id, note()).await,
        "action_not_pending",
    );
    assert_eq!(credit_balance(&s).await, 10_001);

    // The requester cannot approve their own request, and an approver's own limit must
    // cover it.
    let big = actions::take(&s.db, &gw, &s.senior, &s.ticket, goodwill(60_000))
        .await
        .unwrap();
    assert_eq!(big.status, "pending_approval");
    expect_forbidden(actions::approve(&s.db, &gw, &s.senior, &big.id, note()).await);
    expect_forbidden(actions::approve(&s.db, &gw, &s.senior2, &big.id, note()).await);
    assert_eq!(credit_balance(&s).await, 10_001);
    let ok = actions::approve(&s.db, &gw, &s.supervisor, &big.id, note())
        .await
        .unwrap();
    assert_eq!(ok.status, "executed");
    assert_eq!(credit_balance(&s).await, 70_001);

    // A rejected request never runs.
    let r = actions::take(&s.db, &gw, &s.agent, &s.ticket, goodwill(7_000))
        .await
        .unwrap();
    expect_forbidden(actions::reject(&s.db, &s.agent, &r.id, note()).await);
    let rejected = actions::reject(&s.db, &s.senior, &r.id, note())
        .await
        .unwrap();
    assert_eq!(rejected.status, "rejected");
    expect_state(
        actions::approve(&s.db, &gw, &s.supervisor, &r.id, note()).await,
        "action_not_pending",
    );
    assert_eq!(credit_balance(&s).await, 70_001);
    assert!(actions::pending_approvals(&s.db, &s.senior)
        .await
        .unwrap()
        .is_empty());

    // Organisation overrides: the agent's goodwill limit in USD lowered to 10.00.
    actions::set_limits(
        &s.db,
        &s.admin,
        actions::SetLimits {
            limits: vec![actions::LimitInput {
                role: "agent".into(),
                action: "goodwill_credit".into(),
                currency: "usd".into(),
                limit: Some(1_000),
                unlimited: false,
            }],
            currency: None,
        },
    )
    .await
    .unwrap();
    expect_forbidden(
        actions::set_limits(
            &s.db,
            &s.supervisor,
            actions::SetLimits {
                limits: vec![],
                currency: None,
            },
        )
        .await,
    );
    let l = actions::get_limits(&s.db, &s.agent, Some("USD"))
        .await
        .unwrap();
    let agent_goodwill = l
        .data
        .iter()
        .find(|x| x.role == "agent" && x.action == "goodwill_credit")
        .unwrap();
    assert_eq!(
        (agent_goodwill.limit, agent_goodwill.overridden),
        (Some(1_000), true)
    );
    let over = actions::take(&s.db, &gw, &s.agent, &s.ticket, goodwill(1_001))
        .await
        .unwrap();
    assert_eq!(over.status, "pending_approval");
    let within = actions::take(&s.db, &gw, &s.agent, &s.ticket, goodwill(1_000))
        .await
        .unwrap();
    assert_eq!(within.status, "executed");

    // Every action of the ticket, oldest first, and the audit trail.
    let all = actions::list_for_ticket(&s.db, &s.agent, &s.ticket)
        .await
        .unwrap();
    assert_eq!(all.len(), 6);
    let log = app::desk::audit::list(&s.db, &s.admin, Some(&p.id), None, Some(100))
        .await
        .unwrap();
    let acts: Vec<&str> = log.data.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        acts,
        vec!["ticket_action.approved", "ticket_action.requested"]
    );
    assert_clean(&s.db).await;
    audit_clean(&s.db).await;
}

async fn credit_note_and_other_actions(db: Db) {
    let s = setup(db).await;
    let gw = gateway::Gateway::Sandbox(gateway::Sandbox::new());
    // A credit note of exactly the limit, reason billing_error, on the invoice.
    let mut cn = input("credit_note", Some(5_000));
    cn.invoice = Some(s.invoice.clone());
    cn.reason_code = "billing_error".into();
    let a = actions::take(&s.db, &gw, &s.agent, &s.ticket, cn.clone())
        .await
        .unwrap();
    assert_eq!(a.status, "executed");
    let note_id = a.result.clone().expect("credit note id");
    let note = app::invoicing::get_credit_note(&s.db, &s.ctx, &note_id)
        .await
        .unwrap();
    assert_eq!((note.total, note.reason.as_str()), (5_000, "billing_error"));
    assert!(note.memo.unwrap().contains(&a.id));
    assert_balance(&s.db, &s.ctx, &s.customer, 15_000, 0).await;
    let t = app::desk::tickets::get(&s.db, &s.agent, &s.ticket)
        .await
        .unwrap();
    assert!(t
        .links
        .iter()
        .any(|l| l.object_type == "credit_note" && l.id == note_id));
    // Bad reason codes for credit notes are refused before anything happens.
    let mut bad = cn.clone();
    bad.reason_code = "because".into();
    expect_invalid(
        actions::take(&s.db, &gw, &s.agent, &s.ticket, bad).await,
        "reason_code",
    );
    // 50.01 waits; the invoice is untouched until a senior approves.
    cn.amount = Some(5_001);
    let p = actions::take(&s.db, &gw, &s.agent, &s.ticket, cn)
        .await
        .unwrap();
    assert_eq!(p.status, "pending_approval");
    assert_balance(&s.db, &s.ctx, &s.customer, 15_000, 0).await;
    let done = actions::approve(&s.db, &gw, &s.senior, &p.id, note_input())
        .await
        .unwrap();
    assert_eq!(done.status, "executed");
    assert_balance(&s.db, &s.ctx, &s.customer, 9_999, 0).await;

    // More than is left to credit is refused before anything is recorded.
    let mut too_much = input("credit_note", Some(10_000));
    too_much.invoice = Some(s.invoice.clone());
    too_much.reason_code = "billing_error".into();
    too_much.lines = None;
    let r = actions::take(&s.db, &gw, &s.supervisor, &s.ticket, too_much).await;
    expect_invalid(r, "amount");
    // A billing use case that refuses leaves no executed action behind: a refund of a
    // payment-less customer is impossible, so try a discount with a coupon in another
    // currency (refused by subscriptions::attach_coupon after the action was recorded).
    let eur = app::catalog::create_coupon(
        &s.db,
        &s.ctx,
        &app::catalog::CouponCreate {
            name: "EUR 5 off".into(),
            percent_off: None,
            amount_off: Some(500),
            currency: Some("EUR".into()),
            duration: "once".into(),
            duration_in_periods: None,
            applies_to_products: None,
        },
    )
    .await
    .unwrap();
    let mut d = input("discount", None);
    d.currency = None;
    d.coupon = Some(eur.id.clone());
    d.reason_code = "retention".into();
    expect_invalid(
        actions::take(&s.db, &gw, &s.agent, &s.ticket, d).await,
        "coupon",
    );
    let before = actions::list_for_ticket(&s.db, &s.agent, &s.ticket)
        .await
        .unwrap();
    assert_eq!(before.len(), 2);

    // Due-date extension: judged on the amount remaining (99.99 ≤ agent's 500.00).
    let mut ext = input("due_date_extension", None);
    ext.invoice = Some(s.invoice.clone());
    ext.reason_code = "hardship".into();
    ext.due_date = Some(chrono::NaiveDate::from_ymd_opt(2026, 4, 30).unwrap());
    let e = actions::take(&s.db, &gw, &s.agent, &s.ticket, ext)
        .await
        .unwrap();
    assert_eq!((e.status.as_str(), e.amount), ("executed", 9_999));
    let inv = app::invoicing::get(&s.db, &s.ctx, &s.invoice)
        .await
        .unwrap();
    assert_eq!(
        inv.due_date,
        Some(chrono::NaiveDate::from_ymd_opt(2026, 4, 30).unwrap())
    );

    // Write-off of 99.99 is above the agent's 50.00: approval by a supervisor.
    let mut w = input("write_off", None);
    w.invoice = Some(s.invoice.clone());
    w.reason_code = "bankrupt".into();
    let w = actions::take(&s.db, &gw, &s.agent, &s.ticket, w)
        .await
        .unwrap();
    assert_eq!(w.status, "pending_approval");
    let inv = app::invoicing::get(&s.db, &s.ctx, &s.invoice)
        .await
        .unwrap();
    assert_eq!(inv.status, "open");
    actions::approve(&s.db, &gw, &s.supervisor, &w.id, note_input())
        .await
        .unwrap();
    let inv = app::invoicing::get(&s.db, &s.ctx, &s.invoice)
        .await
        .unwrap();
    assert_eq!(inv.status, "uncollectible");
    assert_balance(&s.db, &s.ctx, &s.customer, 0, 0).await;
    assert_clean(&s.db).await;
    audit_clean(&s.db).await;
}

fn note_input() -> DecisionInput {
    DecisionInput { note: None }
}

async fn live_call(s: &Setup, who: &StaffCtx, ticket: Option<&str>) -> String {
    let i = calls::log_call(
        &s.db,
        who,
        CallInput {
            phone_number: "+1 555 0100".into(),
            ticket: ticket.map(str::to_string),
            customer: None,
            direction: None,
            wait_secs: 30,
            talk_secs: 0,
            hold_secs: 0,
            wrap_secs: 0,
            started_at: s.ctx.now,
            ended_at: None,
            notes: "caller asks for a credit".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(i.customer.as_deref(), Some(s.customer.as_str()));
    assert_eq!(i.kind, "call");
    i.id
}

async fn sent_code(db: &Db, org: &str) -> String {
    let sql = "SELECT body FROM interactions WHERE org_id = $1 AND subject = 'Your verification code' ORDER BY id DESC LIMIT 1";
    let body: String = match db {
        Db::Sqlite(p) => sqlx::query_scalar(sql).bind(org).fetch_one(p).await,
        Db::Pg(p) => sqlx::query_scalar(sql).bind(org).fetch_one(p).await,
    }
    .unwrap();
    body.split_whitespace()
        .find(|w| {
            w.trim_end_matches('.').len() == 6
                && w.trim_end_matches('.').bytes().all(|b| b.is_ascii_digit())
        })
        .unwrap()
        .trim_end_matches('.')
        .to_string()
}

fn method(m: &str) -> StartVerification {
    StartVerification {
        method: m.into(),
        factors: None,
    }
}

async fn identity_required_during_calls(db: Db) {
    let s = setup(db).await;
    let gw = gateway::Gateway::Sandbox(gateway::Sandbox::new());
    let call = live_call(&s, &s.agent, Some(&s.ticket)).await;
    let mut g = goodwill(1_000);
    g.interaction = Some(call.clone());
    // No verification: refused, nothing moves.
    expect_state(
        actions::take(&s.db, &gw, &s.agent, &s.ticket, g.clone()).await,
        "identity_not_verified",
    );
    expect_state(
        identity::payment_details(&s.db, &s.agent, &s.customer, Some(&call)).await,
        "identity_not_verified",
    );
    assert_eq!(credit_balance(&s).await, 0);
    // Outside a live contact (email ticket, API) no verification is needed.
    identity::payment_details(&s.db, &s.agent, &s.customer, None)
        .await
        .unwrap();

    // A code by email: queued as an outbound message with its job, stored only hashed.
    let v = identity::start(&s.db, &s.agent, &call, method("email_code"))
        .await
        .unwrap();
    assert_eq!(v.status, "pending");
    assert_eq!(v.sent_to.as_deref(), Some("b***@acme.test"));
    let jobs = scalar(
        &s.db,
        "SELECT COUNT(*) FROM jobs WHERE org_id = $1 AND kind = 'send_desk_email'",
        &s.ctx.org_id,
    )
    .await;
    assert!(jobs >= 1);
    let code = sent_code(&s.db, &s.ctx.org_id).await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    expect_state(
        identity::confirm(
            &s.db,
            &s.agent,
            &v.id,
            ConfirmVerification { code: wrong.into() },
        )
        .await,
        "identity_not_verified",
    );
    let ok = identity::confirm(
        &s.db,
        &s.agent,
        &v.id,
        ConfirmVerification { code: code.clone() },
    )
    .await
    .unwrap();
    assert_eq!((ok.status.as_str(), ok.attempts), ("verified", 2));
    // Verified: the action runs and payment details are shown.
    let a = actions::take(&s.db, &gw, &s.agent, &s.ticket, g.clone())
        .await
        .unwrap();
    assert_eq!(a.status, "executed");
    identity::payment_details(&s.db, &s.agent, &s.customer, Some(&call))
        .await
        .unwrap();
    // The verification ends with the call.
    calls::end_call(
        &s.db,
        &s.agent,
        &call,
        EndCall {
            ended_at: s.ctx.now + chrono::TimeDelta::minutes(5),
            talk_secs: Some(240),
            hold_secs: Some(30),
            wrap_secs: Some(60),
            notes: None,
        },
    )
    .await
    .unwrap();
    expect_state(
        actions::take(&s.db, &gw, &s.agent, &s.ticket, g).await,
        "identity_not_verified",
    );
    expect_state(
        identity::start(&s.db, &s.agent, &call, method("sms_code")).await,
        "interaction_ended",
    );
    assert_eq!(credit_balance(&s).await, 1_000);
    assert_clean(&s.db).await;
    audit_clean(&s.db).await;
}

async fn wrong_codes_lock_out(db: Db) {
    let s = setup(db).await;
    // A call logged without a ticket gets a new phone ticket.
    let call = live_call(&s, &s.agent, None).await;
    let v = identity::start(&s.db, &s.agent, &call, method("sms_code"))
        .await
        .unwrap();
    assert_eq!(v.sent_to.as_deref(), Some("***0100"));
    for _ in 0..5 {
        // The code is six digits; a seven-digit guess can never match.
        expect_state(
            identity::confirm(
                &s.db,
                &s.agent,
                &v.id,
                ConfirmVerification {
                    code: "1234567".into(),
                },
            )
            .await,
            "identity_not_verified",
        );
    }
    let failures = scalar(
        &s.db,
        "SELECT COUNT(*) FROM identity_failures WHERE org_id = $1",
        &s.ctx.org_id,
    )
    .await;
    assert_eq!(failures, 5);
    expect_state(
        identity::confirm(
            &s.db,
            &s.agent,
            &v.id,
            ConfirmVerification { code: "1".into() },
        )
        .await,
        "identity_locked",
    );
    expect_state(
        identity::start(&s.db, &s.agent, &call, method("email_code")).await,
        "identity_locked",
    );
    // 15 minutes after the first failure the lock lifts.
    let later = StaffCtx::staff(
        at(&s.ctx, s.ctx.now + chrono::TimeDelta::minutes(15)),
        s.agent.staff_id().unwrap(),
        Role::Agent,
    );
    let v2 = identity::start(&s.db, &later, &call, method("email_code"))
        .await
        .unwrap();
    assert_eq!(v2.status, "pending");
    audit_clean(&s.db).await;
}

async fn knowledge_factors(db: Db) {
    let s = setup(db).await;
    let gw = gateway::Gateway::Sandbox(gateway::Sandbox::new());
    attach_card_token(&s.db, &gw, &s.ctx, &s.customer, "tok_visa").await;
    let call = live_call(&s, &s.agent, Some(&s.ticket)).await;
    let with = |f: Vec<Factor>| StartVerification {
        method: "knowledge".into(),
        factors: Some(f),
    };
    // Wrong invoice amount: refused and logged.
    expect_state(
        identity::start(
            &s.db,
            &s.agent,
            &call,
            with(vec![
                Factor::PostalCode("10115".into()),
                Factor::LastInvoiceAmount(19_999),
            ]),
        )
        .await,
        "identity_not_verified",
    );
    // Postal code alone is not enough.
    expect_state(
        identity::start(
            &s.db,
            &s.agent,
            &call,
            with(vec![Factor::PostalCode("10115".into())]),
        )
        .await,
        "identity_not_verified",
    );
    assert_eq!(
        scalar(
            &s.db,
            "SELECT COUNT(*) FROM identity_failures WHERE org_id = $1",
            &s.ctx.org_id
        )
        .await,
        2
    );
    // Postal code and the card's last four digits; or the last invoice amount.
    let v = identity::start(
        &s.db,
        &s.agent,
        &call,
        with(vec![
            Factor::PostalCode(" 10115 ".into()),
            Factor::CardLast4("4242".into()),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(v.status, "verified");
    let d = identity::payment_details(&s.db, &s.agent, &s.customer, Some(&call))
        .await
        .unwrap();
    assert_eq!(d.data.len(), 1);
    assert_eq!(d.data[0].last4.as_deref(), Some("4242"));
    let call2 = live_call(&s, &s.agent, Some(&s.ticket)).await;
    let v = identity::start(
        &s.db,
        &s.agent,
        &call2,
        with(vec![
            Factor::PostalCode("10115".into()),
            Factor::LastInvoiceAmount(20_000),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(v.status, "verified");
    // Knowledge without factors fails.
    expect_state(
        identity::start(&s.db, &s.agent, &call2, method("knowledge")).await,
        "identity_not_verified",
    );
    audit_clean(&s.db).await;
}

async fn telephony_webhook_builds_the_call(db: Db) {
    let s = setup(db).await;
    let ev = |kind: &str, at: &str| TelephonyEvent {
        call_id: "CA123".into(),
        kind: kind.into(),
        at: t(at),
        from: Some("+1 555 0100".into()),
        to: Some("+1 555 9999".into()),
        agent: s.agent.staff_id().map(str::to_string),
        ticket: None,
    };
    let events = [
        ev("started", "2026-03-02T10:00:00Z"),
        ev("answered", "2026-03-02T10:00:40Z"),
        ev("held", "2026-03-02T10:02:00Z"),
        ev("resumed", "2026-03-02T10:03:00Z"),
        // A repeated delivery changes nothing.
        ev("resumed", "2026-03-02T10:03:00Z"),
        ev("wrapped_up", "2026-03-02T10:07:00Z"),
        ev("ended", "2026-03-02T10:05:40Z"),
    ];
    let mut last = None;
    for e in events {
        last = Some(calls::telephony_event(&s.db, &s.admin, e).await.unwrap());
    }
    let i = last.unwrap();
    assert_eq!(i.customer.as_deref(), Some(s.customer.as_str()));
    assert_eq!(i.direction, "inbound");
    assert_eq!(i.author.as_deref(), s.agent.staff_id());
    assert_eq!(i.wait_secs, Some(40));
    assert_eq!(i.hold_secs, Some(60));
    assert_eq!(i.talk_secs, Some(5 * 60 - 60));
    assert_eq!(i.wrap_secs, Some(80));
    assert_eq!(i.handling_secs, Some(240 + 60 + 80));
    let calls_stored = scalar(
        &s.db,
        "SELECT COUNT(*) FROM interactions WHERE org_id = $1 AND kind = 'call'",
        &s.ctx.org_id,
    )
    .await;
    assert_eq!(calls_stored, 1);
    // It is on a new phone ticket of the customer; and it has ended.
    let t = app::desk::tickets::get(&s.db, &s.agent, i.ticket.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(t.ticket.channel, "phone");
    assert_eq!(t.ticket.customer.as_deref(), Some(s.customer.as_str()));
    expect_state(
        identity::start(&s.db, &s.agent, &i.id, method("sms_code")).await,
        "interaction_ended",
    );
    expect_invalid(
        calls::telephony_event(
            &s.db,
            &s.admin,
            TelephonyEvent {
                call_id: "CA1".into(),
                kind: "ringing".into(),
                at: t_now(&s),
                from: None,
                to: None,
                agent: None,
                ticket: None,
            },
        )
        .await,
        "type",
    );
    audit_clean(&s.db).await;
}

fn t_now(s: &Setup) -> chrono::DateTime<chrono::Utc> {
    s.ctx.now
}
