//! The job queue and automatic charging (each test runs on SQLite and PostgreSQL).

mod common;

use app::jobs::Worker;
use app::payments::PaymentMethodCreate;
use common::*;
use gateway::{Gateway, Sandbox};

on_both_backends!(
    finalizing_for_an_automatic_customer_queues_one_charge_that_a_worker_runs_once,
    a_timeout_is_retried_after_backoff_and_charges_once,
    a_job_that_cannot_succeed_fails_visibly_and_can_be_retried,
    a_dead_workers_job_is_taken_over_when_its_lease_runs_out,
    a_gateway_outage_leaves_the_charge_waiting_and_it_is_charged_once_when_back,
);

async fn auto_customer(db: &Db, gw: &Gateway, ctx: &Ctx, token: Option<&str>) -> String {
    let mut input = customer_input("Auto AG", "EUR", "Europe/Berlin", "DE");
    input.collection_method = Some("charge_automatically".into());
    let c = app::customers::create(db, ctx, &input).await.unwrap();
    if let Some(token) = token {
        attach_card_token(db, gw, ctx, &c.id, token).await;
    }
    c.id
}

async fn finalized(db: &Db, ctx: &Ctx, customer: &str, amount: i64) -> app::invoicing::Invoice {
    app::invoicing::create(
        db,
        ctx,
        &one_off(customer, vec![amount_line("Plan", amount)], true),
    )
    .await
    .unwrap()
}

async fn jobs(db: &Db, ctx: &Ctx, status: Option<&str>) -> Vec<app::jobs::Job> {
    app::jobs::list(db, ctx, status, None, Some(100))
        .await
        .unwrap()
        .data
}

async fn finalizing_for_an_automatic_customer_queues_one_charge_that_a_worker_runs_once(db: Db) {
    let gw = Gateway::Sandbox(Sandbox::new());
    let ctx = org(&db, t("2026-06-01T08:00:00Z")).await;
    let auto = auto_customer(&db, &gw, &ctx, Some("tok_visa")).await;
    let manual = customer(&db, &ctx, "Sends invoices", "EUR", "Europe/Berlin", "DE").await;
    let inv = finalized(&db, &ctx, &auto, 9_900).await;
    let manual_inv = finalized(&db, &ctx, &manual.id, 9_900).await;
    // A draft finalized later queues too; a zero invoice does not.
    let draft = app::invoicing::create(
        &db,
        &ctx,
        &one_off(&auto, vec![amount_line("Extra", 100)], false),
    )
    .await
    .unwrap();
    app::invoicing::finalize(&db, &ctx, &draft.id)
        .await
        .unwrap();
    finalized(&db, &ctx, &auto, 0).await;
    let queued = jobs(&db, &ctx, Some("queued")).await;
    let charges: Vec<_> = queued
        .iter()
        .filter(|j| j.kind == "charge_invoice")
        .collect();
    assert_eq!(charges.len(), 2, "{queued:?}");
    assert_eq!(queued.len(), 2, "{queued:?}");
    // The customer who pays by invoice gets a reminder (7 days after its due date) instead,
    // queued when the invoice's `invoice.finalized` is dispatched — once, however often
    // dispatch runs.
    for _ in 0..2 {
        app::events::dispatch(&db, ctx.now, 100).await.unwrap();
    }
    let queued = jobs(&db, &ctx, Some("queued")).await;
    let reminders: Vec<_> = queued
        .iter()
        .filter(|j| j.kind == "invoice_reminder")
        .collect();
    assert_eq!(reminders.len(), 1, "{queued:?}");
    assert_eq!(reminders[0].payload["invoice"], manual_inv.id.as_str());

    let w = Worker::new(db.clone(), gw.clone());
    let pass = w.run_once(ctx.now).await.unwrap();
    assert_eq!((pass.claimed, pass.succeeded), (2, 2));
    assert_eq!(w.run_once(ctx.now).await.unwrap().claimed, 0);
    for id in [&inv.id, &draft.id] {
        assert_eq!(
            app::invoicing::get(&db, &ctx, id).await.unwrap().status,
            "paid"
        );
        let pays = app::payments::list_payments(&db, &ctx, None, Some(id), None, None)
            .await
            .unwrap()
            .data;
        assert_eq!(pays.len(), 1, "one payment for {id}");
    }
    assert_eq!(jobs(&db, &ctx, Some("succeeded")).await.len(), 2);
    assert_clean(&db).await;
}

async fn a_timeout_is_retried_after_backoff_and_charges_once(db: Db) {
    let gw = Gateway::Sandbox(Sandbox::new());
    let ctx = org(&db, t("2026-06-01T08:00:00Z")).await;
    let c = auto_customer(&db, &gw, &ctx, Some("tok_sandbox_timeout_visa_0119")).await;
    let inv = finalized(&db, &ctx, &c, 5_000).await;
    let w = Worker::new(db.clone(), gw.clone());
    let p = w.run_once(ctx.now).await.unwrap();
    assert_eq!((p.claimed, p.retried), (1, 1));
    let j = &jobs(&db, &ctx, None).await[0];
    assert_eq!((j.status.as_str(), j.attempts), ("queued", 1));
    assert_eq!(j.run_at, ctx.now + app::jobs::backoff(1));
    assert!(
        j.last_error
            .as_deref()
            .is_some_and(|e| e.contains("pending")),
        "{j:?}"
    );
    // Not due yet.
    assert_eq!(
        w.run_once(ctx.now + chrono::Duration::seconds(29))
            .await
            .unwrap()
            .claimed,
        0
    );
    let p = w
        .run_once(ctx.now + chrono::Duration::seconds(30))
        .await
        .unwrap();
    assert_eq!(p.succeeded, 1);
    let pays = app::payments::list_payments(&db, &ctx, None, Some(&inv.id), None, None)
        .await
        .unwrap()
        .data;
    assert_eq!(
        pays.len(),
        1,
        "the pending payment was retried, not a second one made"
    );
    assert_eq!(pays[0].status, "succeeded");
    assert_eq!(
        app::invoicing::get(&db, &ctx, &inv.id)
            .await
            .unwrap()
            .status,
        "paid"
    );
    assert_clean(&db).await;
}

async fn a_job_that_cannot_succeed_fails_visibly_and_can_be_retried(db: Db) {
    let gw = Gateway::Sandbox(Sandbox::new());
    let ctx = org(&db, t("2026-06-01T08:00:00Z")).await;
    let c = auto_customer(&db, &gw, &ctx, None).await;
    let inv = finalized(&db, &ctx, &c, 5_000).await;
    let w = Worker::new(db.clone(), gw.clone());
    assert_eq!(w.run_once(ctx.now).await.unwrap().failed, 1);
    let failed = jobs(&db, &ctx, Some("failed")).await;
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("no_default_payment_method")),
        "{failed:?}"
    );
    // The customer adds a card; the job is queued again and succeeds.
    attach_card_token(&db, &gw, &ctx, &c, "tok_mastercard").await;
    let later = at(&ctx, t("2026-06-02T08:00:00Z"));
    let j = app::jobs::retry(&db, &later, &failed[0].id).await.unwrap();
    assert_eq!(j.status, "queued");
    expect_state(app::jobs::retry(&db, &later, &j.id).await, "job_not_failed");
    assert_eq!(w.run_once(later.now).await.unwrap().succeeded, 1);
    assert_eq!(
        app::invoicing::get(&db, &ctx, &inv.id)
            .await
            .unwrap()
            .status,
        "paid"
    );
    expect_invalid(
        app::jobs::list(&db, &ctx, Some("stuck"), None, None).await,
        "status",
    );
    expect_not_found(app::jobs::get(&db, &org(&db, ctx.now).await, &j.id).await);
    assert_clean(&db).await;
}

async fn a_dead_workers_job_is_taken_over_when_its_lease_runs_out(db: Db) {
    let gw = Gateway::Sandbox(Sandbox::new());
    let ctx = org(&db, t("2026-06-01T08:00:00Z")).await;
    let c = auto_customer(&db, &gw, &ctx, Some("tok_visa")).await;
    let inv = finalized(&db, &ctx, &c, 5_000).await;
    // A worker claims the job and dies before running it.
    let mut tx = db.begin().await.unwrap();
    let claimed = store::jobs::claim(
        &mut tx,
        "dead-worker",
        ctx.now,
        ctx.now + app::jobs::LEASE,
        10,
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(claimed.len(), 1);
    let w = Worker::new(db.clone(), gw.clone());
    assert_eq!(
        w.run_once(ctx.now + chrono::Duration::minutes(4))
            .await
            .unwrap()
            .claimed,
        0,
        "still leased"
    );
    let p = w
        .run_once(ctx.now + chrono::Duration::minutes(6))
        .await
        .unwrap();
    assert_eq!((p.claimed, p.succeeded), (1, 1));
    // The dead worker cannot finish what it no longer holds.
    let mut tx = db.begin().await.unwrap();
    assert!(
        !store::jobs::finish(&mut tx, &claimed[0].id, "dead-worker", ctx.now)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let j = &jobs(&db, &ctx, None).await[0];
    assert_eq!((j.status.as_str(), j.attempts), ("succeeded", 2));
    assert_eq!(
        app::invoicing::get(&db, &ctx, &inv.id)
            .await
            .unwrap()
            .status,
        "paid"
    );
    assert_clean(&db).await;
}

mod dunning {
    use super::*;
    use app::jobs::DunningUpdate;

    on_both_backends!(
        declined_charges_are_retried_on_schedule_then_the_subscription_is_canceled,
        a_new_card_during_dunning_pays_and_reactivates,
        dunning_settings_are_checked,
    );

    async fn subscribed(db: &Db, gw: &Gateway, ctx: &Ctx, token: &str) -> (String, String, String) {
        let c = auto_customer(db, gw, ctx, Some(token)).await;
        let prod = product(db, ctx, "Plan").await;
        let price = monthly_flat(db, ctx, &prod.id, "EUR", 3_000).await;
        let (sub, inv) = app::subscriptions::create(db, ctx, &sub_input(&c, &price.id, None))
            .await
            .unwrap();
        (c, sub.id, inv.unwrap().id)
    }

    async fn status(db: &Db, ctx: &Ctx, sub: &str) -> String {
        app::subscriptions::get(db, ctx, sub).await.unwrap().status
    }

    async fn declined_charges_are_retried_on_schedule_then_the_subscription_is_canceled(db: Db) {
        let gw = Gateway::Sandbox(Sandbox::new());
        let ctx = org(&db, t("2026-06-01T08:00:00Z")).await;
        let (_, sub, inv) = subscribed(&db, &gw, &ctx, "tok_chargeDeclined").await;
        let w = Worker::new(db.clone(), gw.clone());
        assert_eq!(
            w.run_once(ctx.now).await.unwrap().succeeded,
            1,
            "a decline is an outcome, not a job failure"
        );
        assert_eq!(status(&db, &ctx, &sub).await, "past_due");
        for (k, day) in [(1, 1), (2, 3), (3, 5)] {
            let before = ctx.now + chrono::Duration::days(day) - chrono::Duration::minutes(1);
            assert_eq!(
                w.run_once(before).await.unwrap().claimed,
                0,
                "retry {k} not before day {day}"
            );
            assert_eq!(
                w.run_once(ctx.now + chrono::Duration::days(day))
                    .await
                    .unwrap()
                    .claimed,
                1,
                "retry {k}"
            );
            assert_eq!(status(&db, &ctx, &sub).await, "past_due");
        }
        assert_eq!(
            w.run_once(ctx.now + chrono::Duration::days(7))
                .await
                .unwrap()
                .claimed,
            1,
            "retry 4"
        );
        assert_eq!(
            status(&db, &ctx, &sub).await,
            "canceled",
            "the schedule ran out"
        );
        assert_eq!(
            w.run_once(ctx.now + chrono::Duration::days(30))
                .await
                .unwrap()
                .claimed,
            0
        );
        let pays = app::payments::list_payments(&db, &ctx, None, Some(&inv), None, None)
            .await
            .unwrap()
            .data;
        assert_eq!(pays.len(), 5);
        assert!(pays
            .iter()
            .all(|p| p.status == "failed" && p.failure_code.as_deref() == Some("card_declined")));
        let kinds: Vec<String> = jobs(&db, &ctx, Some("succeeded"))
            .await
            .into_iter()
            .map(|j| j.kind)
            .collect();
        assert_eq!(kinds.iter().filter(|k| *k == "dunning_retry").count(), 4);
        assert_eq!(
            app::invoicing::get(&db, &ctx, &inv).await.unwrap().status,
            "open",
            "still owed"
        );
        assert_clean(&db).await;
    }

    async fn a_new_card_during_dunning_pays_and_reactivates(db: Db) {
        let gw = Gateway::Sandbox(Sandbox::new());
        let ctx = org(&db, t("2026-06-01T08:00:00Z")).await;
        let (c, sub, inv) = subscribed(&db, &gw, &ctx, "tok_chargeDeclinedInsufficientFunds").await;
        let w = Worker::new(db.clone(), gw.clone());
        w.run_once(ctx.now).await.unwrap();
        assert_eq!(status(&db, &ctx, &sub).await, "past_due");
        app::payments::attach_method(
            &db,
            &gw,
            &ctx,
            &PaymentMethodCreate {
                customer: c.clone(),
                kind: "card".into(),
                card: None,
                token: Some("tok_visa".into()),
                bank: None,
                set_default: Some(true),
            },
        )
        .await
        .unwrap();
        assert_eq!(
            w.run_once(ctx.now + chrono::Duration::days(1))
                .await
                .unwrap()
                .succeeded,
            1
        );
        assert_eq!(
            app::invoicing::get(&db, &ctx, &inv).await.unwrap().status,
            "paid"
        );
        assert_eq!(status(&db, &ctx, &sub).await, "active");
        // The payment queued a reactivation check too; then nothing is left.
        assert_eq!(
            w.run_once(ctx.now + chrono::Duration::days(1))
                .await
                .unwrap()
                .succeeded,
            1
        );
        assert_eq!(
            w.run_once(ctx.now + chrono::Duration::days(30))
                .await
                .unwrap()
                .claimed,
            0,
            "dunning over"
        );
        assert_clean(&db).await;
    }

    async fn dunning_settings_are_checked(db: Db) {
        let ctx = org(&db, t("2026-06-01T08:00:00Z")).await;
        let d = app::jobs::get_dunning(&db, &ctx).await.unwrap();
        assert_eq!(
            (d.retry_days, d.final_action.as_str()),
            (vec![1, 3, 5, 7], "cancel")
        );
        let set = |u: DunningUpdate| {
            let (db, ctx) = (db.clone(), ctx.clone());
            async move { app::jobs::set_dunning(&db, &ctx, &u).await }
        };
        let d = set(DunningUpdate {
            retry_days: Some(vec![2, 4]),
            final_action: Some("leave_past_due".into()),
        })
        .await
        .unwrap();
        assert_eq!(
            (d.retry_days, d.final_action.as_str()),
            (vec![2, 4], "leave_past_due")
        );
        expect_invalid(
            set(DunningUpdate {
                retry_days: Some(vec![4, 2]),
                final_action: None,
            })
            .await,
            "retry_days",
        );
        expect_invalid(
            set(DunningUpdate {
                retry_days: None,
                final_action: Some("unpaid".into()),
            })
            .await,
            "final_action",
        );
        assert_eq!(
            app::jobs::get_dunning(&db, &ctx).await.unwrap().retry_days,
            vec![2, 4]
        );
        // Leave past_due: after the last retry the subscription stays past_due.
        let gw = Gateway::Sandbox(Sandbox::new());
        let (_, sub, _) = subscribed(&db, &gw, &ctx, "tok_chargeDeclined").await;
        let w = Worker::new(db.clone(), gw.clone());
        for day in [0, 2, 4] {
            assert_eq!(
                w.run_once(ctx.now + chrono::Duration::days(day))
                    .await
                    .unwrap()
                    .claimed,
                1,
                "day {day}"
            );
        }
        assert_eq!(
            w.run_once(ctx.now + chrono::Duration::days(60))
                .await
                .unwrap()
                .claimed,
            0
        );
        assert_eq!(status(&db, &ctx, &sub).await, "past_due");
        // The customer pays by bank transfer: the subscription is active again.
        let sub_row = app::subscriptions::get(&db, &ctx, &sub).await.unwrap();
        let later = at(&ctx, ctx.now + chrono::Duration::days(61));
        let open = app::invoicing::list(
            &db,
            &later,
            Some(&sub_row.customer),
            Some(&sub),
            Some("open"),
            None,
            None,
        )
        .await
        .unwrap()
        .data;
        assert!(!open.is_empty());
        for inv in &open {
            app::payments::record(
                &db,
                &later,
                &app::payments::PaymentCreate {
                    customer: sub_row.customer.clone(),
                    amount: inv.amount_remaining,
                    currency: None,
                    method: "bank_transfer".into(),
                    reference: None,
                    invoice: Some(inv.id.clone()),
                },
            )
            .await
            .unwrap();
        }
        assert_eq!(
            status(&db, &ctx, &sub).await,
            "past_due",
            "until the job runs"
        );
        assert!(w.run_once(later.now).await.unwrap().succeeded >= 1);
        assert_eq!(status(&db, &ctx, &sub).await, "active");
        assert_clean(&db).await;
    }
}

async fn a_gateway_outage_leaves_the_charge_waiting_and_it_is_charged_once_when_back(db: Db) {
    let sandbox = Sandbox::new();
    let gw = Gateway::Sandbox(sandbox.clone());
    let ctx = org(&db, t("2026-06-01T08:00:00Z")).await;
    let c = auto_customer(&db, &gw, &ctx, Some("tok_visa")).await;
    let inv = finalized(&db, &ctx, &c, 7_700).await;
    sandbox.set_down(true);
    let w = Worker::new(db.clone(), gw.clone());
    let p = w.run_once(ctx.now).await.unwrap();
    assert_eq!((p.claimed, p.retried), (1, 1), "{p:?}");
    let j = jobs(&db, &ctx, Some("queued"))
        .await
        .into_iter()
        .find(|j| j.kind == "charge_invoice")
        .expect("the charge waits");
    assert!(j.run_at > ctx.now, "with backoff");
    assert!(
        j.last_error.is_some(),
        "the outage is visible on the job: {j:?}"
    );
    assert_eq!(
        app::invoicing::get(&db, &ctx, &inv.id)
            .await
            .unwrap()
            .status,
        "open"
    );
    // Still down at the retry: it waits longer, nothing moves.
    let p = w.run_once(j.run_at).await.unwrap();
    assert_eq!(p.retried, 1, "{p:?}");
    sandbox.set_down(false);
    let mut now = j.run_at;
    for _ in 0..5 {
        now += chrono::Duration::minutes(5);
        w.run_once(now).await.unwrap();
    }
    assert_eq!(
        app::invoicing::get(&db, &ctx, &inv.id)
            .await
            .unwrap()
            .status,
        "paid"
    );
    let pays = app::payments::list_payments(&db, &ctx, None, Some(&inv.id), None, None)
        .await
        .unwrap()
        .data;
    let ok: Vec<_> = pays.iter().filter(|p| p.status == "succeeded").collect();
    assert_eq!(ok.len(), 1, "charged once: {pays:?}");
    assert!(pays.iter().all(|p| p.status != "pending"), "{pays:?}");
    assert_clean(&db).await;
}
