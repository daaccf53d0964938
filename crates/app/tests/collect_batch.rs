//! Batch charging (`app::collect`): a worker pass charges its `charge_invoice` jobs together
//! and must leave exactly what charging them one by one leaves. Each test runs on SQLite and
//! PostgreSQL.

mod common;

use app::jobs::{Pass, Worker};
use app::payments::{InvoicePay, PaymentMethodCreate};
use common::*;
use gateway::{Gateway, Sandbox};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

on_both_backends!(
    a_mixed_batch_ends_as_charging_one_by_one_would,
    the_batch_leaves_the_same_rows_as_the_single_path,
    many_invoices_are_charged_in_one_pass,
);

/// The customers of [`setup`], by name: what their card does, and what they are billed.
const CASES: &[(&str, Option<&str>, Bill)] = &[
    ("a visa", Some("tok_visa"), Bill::OneOff(&[9_900])),
    (
        "b mastercard",
        Some("tok_mastercard"),
        Bill::OneOff(&[5_000]),
    ),
    (
        "c two invoices",
        Some("tok_visa"),
        Bill::OneOff(&[1_000, 2_500]),
    ),
    ("d declined", Some("tok_chargeDeclined"), Bill::Subscription),
    (
        "e timeout",
        Some("tok_sandbox_timeout_visa_0119"),
        Bill::OneOff(&[4_000]),
    ),
    (
        "f paid by transfer",
        Some("tok_visa"),
        Bill::OneOff(&[7_000]),
    ),
    ("g no card", None, Bill::OneOff(&[3_000])),
    ("h past due", Some("tok_visa"), Bill::PastDueSubscription),
];

#[derive(Clone, Copy)]
enum Bill {
    OneOff(&'static [i64]),
    Subscription,
    PastDueSubscription,
}

/// One organisation with the customers of [`CASES`], each billed (which queues their
/// `charge_invoice` jobs); "f" pays by bank transfer before any job runs. Returns the
/// context and the customers' ids by name.
async fn setup(db: &Db, gw: &Gateway) -> (Ctx, BTreeMap<String, String>) {
    let ctx = org(db, t("2026-06-01T08:00:00Z")).await;
    let prod = product(db, &ctx, "Plan").await;
    let price = monthly_flat(db, &ctx, &prod.id, "EUR", 3_000).await;
    let mut ids = BTreeMap::new();
    for (name, token, bill) in CASES {
        let mut input = customer_input(name, "EUR", "Europe/Berlin", "DE");
        input.collection_method = Some("charge_automatically".into());
        let c = app::customers::create(db, &ctx, &input).await.unwrap();
        if let Some(token) = token {
            app::payments::attach_method(
                db,
                gw,
                &ctx,
                &PaymentMethodCreate {
                    customer: c.id.clone(),
                    kind: "card".into(),
                    card: None,
                    token: Some(token.to_string()),
                    bank: None,
                    set_default: None,
                },
            )
            .await
            .unwrap();
        }
        match bill {
            Bill::OneOff(amounts) => {
                for a in *amounts {
                    app::invoicing::create(
                        db,
                        &ctx,
                        &one_off(&c.id, vec![amount_line("Work", *a)], true),
                    )
                    .await
                    .unwrap();
                }
            }
            Bill::Subscription | Bill::PastDueSubscription => {
                let (sub, _) =
                    app::subscriptions::create(db, &ctx, &sub_input(&c.id, &price.id, None))
                        .await
                        .unwrap();
                if let Bill::PastDueSubscription = bill {
                    let mut tx = db.begin().await.unwrap();
                    assert!(store::subscriptions::set_status(
                        &mut tx,
                        &ctx.org_id,
                        &sub.id,
                        "past_due",
                        ctx.now
                    )
                    .await
                    .unwrap());
                    tx.commit().await.unwrap();
                }
            }
        }
        ids.insert(name.to_string(), c.id);
    }
    let transfer = &ids["f paid by transfer"];
    let inv = &open_invoices(db, &ctx, transfer).await[0];
    app::payments::record(
        db,
        &ctx,
        &app::payments::PaymentCreate {
            customer: transfer.clone(),
            amount: inv.amount_remaining,
            currency: None,
            method: "bank_transfer".into(),
            reference: Some("SEPA 1".into()),
            invoice: Some(inv.id.clone()),
        },
    )
    .await
    .unwrap();
    (ctx, ids)
}

async fn open_invoices(db: &Db, ctx: &Ctx, customer: &str) -> Vec<app::invoicing::Invoice> {
    app::invoicing::list(db, ctx, Some(customer), None, Some("open"), None, Some(100))
        .await
        .unwrap()
        .data
}

async fn invoices(db: &Db, ctx: &Ctx, customer: &str) -> Vec<app::invoicing::Invoice> {
    app::invoicing::list(db, ctx, Some(customer), None, None, None, Some(100))
        .await
        .unwrap()
        .data
}

async fn payments(db: &Db, ctx: &Ctx, customer: &str) -> Vec<app::payments::Payment> {
    app::payments::list_payments(db, ctx, Some(customer), None, None, Some(100))
        .await
        .unwrap()
        .data
}

async fn jobs(db: &Db, ctx: &Ctx) -> Vec<app::jobs::Job> {
    app::jobs::list(db, ctx, None, None, Some(100))
        .await
        .unwrap()
        .data
}

async fn subscription_status(db: &Db, ctx: &Ctx, customer: &str) -> String {
    let subs = app::subscriptions::list(db, ctx, Some(customer), None, None, Some(10))
        .await
        .unwrap()
        .data;
    assert_eq!(subs.len(), 1);
    subs[0].status.clone()
}

async fn events_of(db: &Db, ctx: &Ctx, kind: &str) -> Vec<app::events::Event> {
    app::events::list(db, ctx, Some(kind), None, None, Some(100))
        .await
        .unwrap()
        .data
}

fn job_of<'a>(
    jobs: &'a [app::jobs::Job],
    kind: &str,
    key: &str,
    value: &str,
) -> &'a app::jobs::Job {
    jobs.iter()
        .find(|j| j.kind == kind && j.payload[key] == value)
        .unwrap_or_else(|| panic!("no {kind} job with {key} = {value}: {jobs:#?}"))
}

async fn a_mixed_batch_ends_as_charging_one_by_one_would(db: Db) {
    let gw = Gateway::Sandbox(Sandbox::new());
    let (ctx, ids) = setup(&db, &gw).await;
    let id = |name: &str| ids[name].clone();
    let w = Worker::new(db.clone(), gw.clone());
    let p = w.run_once(ctx.now).await.unwrap();
    assert_eq!(
        p,
        Pass {
            claimed: 9,
            charges: 9,
            // a, b, c twice, d (a decline is an outcome), f (nothing to charge), h
            succeeded: 7,
            retried: 1,
            failed: 1,
            lost: 0,
            dispatched: p.dispatched,
        }
    );

    // Paid by card, one payment per invoice, each allocated to its invoice.
    for name in ["a visa", "b mastercard", "c two invoices", "h past due"] {
        let invs = invoices(&db, &ctx, &id(name)).await;
        let pays = payments(&db, &ctx, &id(name)).await;
        assert_eq!(pays.len(), invs.len(), "{name}: {pays:#?}");
        for inv in &invs {
            assert_eq!(
                (inv.status.as_str(), inv.amount_paid, inv.amount_remaining),
                ("paid", inv.amount_due, 0),
                "{name}"
            );
            let pay = pays
                .iter()
                .find(|p| p.invoice.as_deref() == Some(inv.id.as_str()))
                .expect("a payment of each invoice");
            assert_eq!(
                (
                    pay.status.as_str(),
                    pay.method.as_str(),
                    pay.amount,
                    pay.amount_applied,
                    pay.amount_to_credit_balance
                ),
                ("succeeded", "card", inv.amount_due, inv.amount_due, 0),
                "{name}"
            );
            assert_eq!(pay.allocations.len(), 1);
            assert_eq!(
                (
                    pay.allocations[0].invoice.as_str(),
                    pay.allocations[0].amount
                ),
                (inv.id.as_str(), inv.amount_due)
            );
            assert!(pay
                .gateway_reference
                .as_deref()
                .is_some_and(|r| r.starts_with("ch_sandbox_")));
        }
        assert_balance(&db, &ctx, &id(name), 0, 0).await;
    }

    // Declined: a failed payment, the subscription past_due, the first dunning retry queued
    // for a day later.
    let d = id("d declined");
    let pays = payments(&db, &ctx, &d).await;
    assert_eq!(pays.len(), 1);
    assert_eq!(
        (pays[0].status.as_str(), pays[0].failure_code.as_deref()),
        ("failed", Some("card_declined"))
    );
    let d_inv = &open_invoices(&db, &ctx, &d).await[0];
    assert_eq!(d_inv.amount_paid, 0);
    assert_eq!(subscription_status(&db, &ctx, &d).await, "past_due");
    let all = jobs(&db, &ctx).await;
    let retry = job_of(&all, "dunning_retry", "invoice", &d_inv.id);
    assert_eq!(
        (
            retry.status.as_str(),
            retry.run_at,
            retry.payload["attempt"].clone()
        ),
        ("queued", ctx.now + chrono::Duration::days(1), json!(1))
    );

    // Timeout: the payment stays pending and the job is retried after the backoff.
    let e = id("e timeout");
    let e_inv = open_invoices(&db, &ctx, &e).await[0].clone();
    let pays = payments(&db, &ctx, &e).await;
    assert_eq!(pays.len(), 1);
    assert_eq!(pays[0].status, "pending");
    let charge_e = job_of(&all, "charge_invoice", "invoice", &e_inv.id);
    assert_eq!(
        (charge_e.status.as_str(), charge_e.attempts, charge_e.run_at),
        ("queued", 1, ctx.now + app::jobs::backoff(1))
    );
    assert!(
        charge_e
            .last_error
            .as_deref()
            .is_some_and(|m| m.contains(&format!(
                "the payment gateway did not settle payment {}; it stays pending",
                pays[0].id
            ))),
        "{charge_e:?}"
    );

    // Paid by bank transfer before the job ran: nothing charged.
    let f = id("f paid by transfer");
    let pays = payments(&db, &ctx, &f).await;
    assert_eq!(pays.len(), 1);
    assert_eq!(pays[0].method, "bank_transfer");
    assert_eq!(invoices(&db, &ctx, &f).await[0].status, "paid");

    // No card: the job failed for good, as before.
    let g = id("g no card");
    assert!(payments(&db, &ctx, &g).await.is_empty());
    let g_inv = &open_invoices(&db, &ctx, &g).await[0];
    let charge_g = job_of(&all, "charge_invoice", "invoice", &g_inv.id);
    assert_eq!(charge_g.status, "failed");
    assert!(
        charge_g
            .last_error
            .as_deref()
            .is_some_and(|m| m.starts_with("no_default_payment_method")),
        "{charge_g:?}"
    );

    // Past due, now paid: active again at once, and a reactivation job was queued too.
    let h = id("h past due");
    assert_eq!(subscription_status(&db, &ctx, &h).await, "active");
    let h_pay = &payments(&db, &ctx, &h).await[0];
    let reactivate = job_of(&all, "reactivate_subscription", "payment", &h_pay.id);
    assert_eq!(reactivate.status, "queued");

    // Events: the same kinds and snapshots as the single path writes.
    let paid = events_of(&db, &ctx, "invoice.paid").await;
    assert_eq!(paid.len(), 6, "a, b, c ×2, f, h");
    let succeeded = events_of(&db, &ctx, "payment.succeeded").await;
    assert_eq!(succeeded.len(), 6);
    let failed = events_of(&db, &ctx, "payment.failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].data["object"]["failure_code"], "card_declined");
    let h_inv = &invoices(&db, &ctx, &h).await[0];
    let h_paid = paid
        .iter()
        .find(|e| e.data["object"]["id"] == h_inv.id.as_str())
        .expect("invoice.paid of h");
    assert_eq!(
        h_paid.data["object"],
        json!({
            "object": "invoice", "id": h_inv.id, "number": h_inv.number, "customer": h,
            "subscription": h_inv.subscription, "status": "paid", "currency": "EUR",
            "total": h_inv.total, "amount_due": h_inv.amount_due, "amount_paid": h_inv.amount_due,
            "amount_remaining": 0, "period_start": h_inv.period_start, "period_end": h_inv.period_end,
            "due_date": h_inv.due_date, "collection_method": "charge_automatically",
        })
    );
    let h_succeeded = succeeded
        .iter()
        .find(|e| e.data["object"]["id"] == h_pay.id.as_str())
        .expect("payment.succeeded of h");
    assert_eq!(
        h_succeeded.data["object"],
        json!({
            "object": "payment", "id": h_pay.id, "customer": h, "invoice": h_inv.id,
            "status": "succeeded", "method": "card", "currency": "EUR", "amount": h_pay.amount,
            "amount_applied": h_pay.amount, "failure_code": null, "failure_message": null,
        })
    );
    let updated = events_of(&db, &ctx, "subscription.updated").await;
    let mut changes: Vec<(String, String)> = updated
        .iter()
        .map(|e| {
            (
                e.data["object"]["previous_status"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                e.data["object"]["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    changes.sort();
    assert_eq!(
        changes,
        vec![
            ("active".to_string(), "past_due".to_string()),
            ("past_due".to_string(), "active".to_string())
        ]
    );
    assert_clean(&db).await;

    // The reactivation job finds nothing left to do.
    let p = w.run_once(ctx.now).await.unwrap();
    assert_eq!((p.claimed, p.succeeded), (1, 1));
    assert_eq!(subscription_status(&db, &ctx, &h).await, "active");

    // The timed-out payment is settled by the retry, with its own key: one payment.
    let later = ctx.now + app::jobs::backoff(1);
    let p = w.run_once(later).await.unwrap();
    assert_eq!((p.claimed, p.succeeded), (1, 1));
    let pays = payments(&db, &ctx, &e).await;
    assert_eq!(
        pays.len(),
        1,
        "the pending payment was retried, not a second one made"
    );
    assert_eq!(pays[0].status, "succeeded");
    assert_eq!(invoices(&db, &ctx, &e).await[0].status, "paid");
    assert_eq!(w.run_once(later).await.unwrap().claimed, 0);

    // Dunning goes on as before: the retry a day later is declined again.
    let p = w
        .run_once(ctx.now + chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!((p.claimed, p.succeeded), (1, 1));
    assert_eq!(payments(&db, &ctx, &d).await.len(), 2);
    assert_clean(&db).await;
}

/// Runs the charges of organisation B the way the one-by-one job does them
/// (`payments::pay_invoice`, or `retry_payment` for a pending payment), and compares
/// everything the charges write with organisation A's, charged by a worker's batch.
async fn the_batch_leaves_the_same_rows_as_the_single_path(db: Db) {
    // B lives in a database of its own, where no worker claims its jobs.
    let (db_b, url_b) = store::testing::fresh(db.backend())
        .await
        .expect("a second database on the same backend");
    let gw = Gateway::Sandbox(Sandbox::new());
    let (a, a_ids) = setup(&db, &gw).await;
    let (b, b_ids) = setup(&db_b, &gw).await;

    let w = Worker::new(db.clone(), gw.clone());
    w.run_once(a.now).await.unwrap();
    single_path(&db_b, &gw, &b, &b_ids).await;
    let (sa, sb) = (
        snapshot(&db, &a, &a_ids).await,
        snapshot(&db_b, &b, &b_ids).await,
    );
    assert_same(&sa, &sb);
    assert!(sa.to_string().contains("\"succeeded\""));

    // The timed-out payment, settled later.
    let later = a.now + app::jobs::backoff(1);
    w.run_once(later).await.unwrap();
    single_path(&db_b, &gw, &at(&b, later), &b_ids).await;
    let (sa, sb) = (
        snapshot(&db, &at(&a, later), &a_ids).await,
        snapshot(&db_b, &at(&b, later), &b_ids).await,
    );
    assert_same(&sa, &sb);
    assert_clean(&db).await;
    assert_clean(&db_b).await;
    cleanup(db_b, &url_b).await;
}

/// What the `charge_invoice` job does for each open invoice, without the dunning and
/// reactivation that follow (those are checked in the test above).
async fn single_path(db: &Db, gw: &Gateway, ctx: &Ctx, ids: &BTreeMap<String, String>) {
    for cus in ids.values() {
        let mut open = open_invoices(db, ctx, cus).await;
        open.reverse(); // oldest first
        for inv in open {
            if let Some(p) = app::payments::pending_of_invoice(db, ctx, &inv.id)
                .await
                .unwrap()
            {
                let _ = app::payments::retry_payment(db, gw, ctx, &p).await;
            } else if payments(db, ctx, cus)
                .await
                .iter()
                .all(|p| p.status != "failed")
            {
                // (A declined invoice is retried by dunning, not by this job.)
                let _ =
                    app::payments::pay_invoice(db, gw, ctx, &inv.id, &InvoicePay::default()).await;
            }
        }
    }
}

/// Everything the charges wrote for each customer — invoices, payments with their
/// allocations, ledger entries, balances, payment and invoice events, reactivation jobs —
/// with ids replaced by names, so two organisations can be compared.
async fn snapshot(db: &Db, ctx: &Ctx, ids: &BTreeMap<String, String>) -> Value {
    let mut names: HashMap<String, String> = HashMap::new();
    let mut out = serde_json::Map::new();
    for (name, cus) in ids {
        names.insert(cus.clone(), format!("<customer {name}>"));
        // (Invoices of one customer differ by amount in `setup`; ids made in the same
        // millisecond sort randomly.)
        let mut invs = invoices(db, ctx, cus).await;
        invs.sort_by_key(|i| i.amount_due);
        for i in &invs {
            names.insert(i.id.clone(), format!("<invoice {name} {}>", i.amount_due));
            if let Some(s) = &i.subscription {
                names.insert(s.clone(), format!("<subscription {name}>"));
            }
        }
        let mut pays = payments(db, ctx, cus).await;
        pays.reverse();
        let mut per_invoice: HashMap<Option<String>, usize> = HashMap::new();
        for p in &pays {
            let k = per_invoice.entry(p.invoice.clone()).or_default();
            let of = p.invoice.as_ref().map_or("none", |i| names[i].as_str());
            names.insert(p.id.clone(), format!("<payment {k} of {of}>"));
            *k += 1;
            if let Some(m) = &p.payment_method {
                names.insert(m.clone(), format!("<method {name}>"));
            }
        }
        let entries = app::ledger::entries(db, ctx, Some(cus), None, Some(100))
            .await
            .unwrap()
            .data;
        let balance = app::ledger::customer_balance(db, ctx, cus).await.unwrap();
        let events: Vec<Value> = app::events::list(db, ctx, None, Some(cus), None, Some(100))
            .await
            .unwrap()
            .data
            .into_iter()
            .filter(|e| {
                ["invoice.paid", "payment.succeeded", "payment.failed"].contains(&e.kind.as_str())
            })
            .map(|e| json!({"type": e.kind, "created": e.created, "data": e.data}))
            .collect();
        out.insert(
            name.clone(),
            json!({
                "invoices": invs,
                "payments": pays,
                "ledger": entries,
                "balance": balance,
                "events": events,
            }),
        );
    }
    let mut reactivations: Vec<Value> = jobs(db, ctx)
        .await
        .into_iter()
        .filter(|j| j.kind == "reactivate_subscription")
        .map(|j| json!({"payload": j.payload, "run_at": j.run_at, "max_attempts": j.max_attempts}))
        .collect();
    reactivations.sort_by_key(|v| v.to_string());
    out.insert("reactivations".into(), Value::Array(reactivations));
    let mut v = Value::Object(out);
    anonymize(&mut v, &names, None);
    // Rows written in the same millisecond have ids in random order: compare them sorted.
    for (_, customer) in v.as_object_mut().expect("object").iter_mut() {
        for list in ["invoices", "payments", "ledger", "events"] {
            if let Some(Value::Array(rows)) = customer.get_mut(list) {
                rows.sort_by_key(|r| r.to_string());
            }
        }
    }
    v
}

/// Replaces ids by their names (`<id>` for ids of rows not named, such as events and ledger
/// transactions) and drops what differs by construction: row ids and gateway references
/// (derived from the payment's id).
fn anonymize(v: &mut Value, names: &HashMap<String, String>, key: Option<&str>) {
    match v {
        Value::String(s) => {
            if key == Some("gateway_reference") {
                *s = "<reference>".into();
            } else {
                *s = rename(s, names);
            }
        }
        Value::Array(items) => {
            for i in items {
                anonymize(i, names, None);
            }
        }
        Value::Object(map) => {
            if map.get("id").is_some_and(Value::is_number) {
                map.remove("id");
            }
            for (k, item) in map.iter_mut() {
                anonymize(item, names, Some(k));
            }
        }
        _ => {}
    }
}

/// `text` with every id in it (`prefix_` and 20 letters or digits) replaced by its name.
fn rename(text: &str, names: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        let is_id = token.split_once('_').is_some_and(|(p, rest)| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_lowercase())
                && rest.len() == 20
                && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if is_id {
            out.push_str(names.get(token.as_str()).map_or("<id>", String::as_str));
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() || ch == '_' {
            token.push(ch);
        } else {
            flush(&mut token, &mut out);
            out.push(ch);
        }
    }
    flush(&mut token, &mut out);
    out
}

#[track_caller]
fn assert_same(a: &Value, b: &Value) {
    let (Value::Object(a), Value::Object(b)) = (a, b) else {
        panic!("snapshots are objects");
    };
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, va) in a {
        assert_eq!(
            va,
            &b[k],
            "{k}: batch (left) and one by one (right) differ:\n{}\n{}",
            serde_json::to_string_pretty(va).unwrap(),
            serde_json::to_string_pretty(&b[k]).unwrap()
        );
    }
}

/// Many invoices in one pass, declines among them: each charged once, nothing left over.
async fn many_invoices_are_charged_in_one_pass(db: Db) {
    let gw = Gateway::Sandbox(Sandbox::new());
    let ctx = org(&db, t("2026-06-01T08:00:00Z")).await;
    let n = 60;
    let mut ids = Vec::new();
    for i in 0..n {
        let mut input = customer_input(&format!("c{i:03}"), "EUR", "Europe/Berlin", "DE");
        input.collection_method = Some("charge_automatically".into());
        let c = app::customers::create(&db, &ctx, &input).await.unwrap();
        app::payments::attach_method(
            &db,
            &gw,
            &ctx,
            &PaymentMethodCreate {
                customer: c.id.clone(),
                kind: "card".into(),
                card: None,
                token: Some(
                    if i % 10 == 3 {
                        "tok_chargeDeclined"
                    } else {
                        "tok_visa"
                    }
                    .into(),
                ),
                bank: None,
                set_default: None,
            },
        )
        .await
        .unwrap();
        app::invoicing::create(
            &db,
            &ctx,
            &one_off(&c.id, vec![amount_line("Work", 1_000 + i)], true),
        )
        .await
        .unwrap();
        ids.push(c.id);
    }
    let w = Worker::new(db.clone(), gw.clone());
    let p = w.run_once(ctx.now).await.unwrap();
    assert_eq!(
        (p.claimed, p.succeeded, p.failed, p.retried),
        (n as usize, n as usize, 0, 0)
    );
    assert_eq!(w.run_once(ctx.now).await.unwrap().claimed, 0);
    for (i, c) in ids.iter().enumerate() {
        let inv = &invoices(&db, &ctx, c).await[0];
        let want = if i % 10 == 3 { "open" } else { "paid" };
        assert_eq!(inv.status, want, "c{i:03}");
        assert_eq!(payments(&db, &ctx, c).await.len(), 1);
    }
    assert_eq!(events_of(&db, &ctx, "payment.failed").await.len(), 6);
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = app::jobs::list(&db, &ctx, None, after.as_deref(), Some(100))
            .await
            .unwrap();
        after = page.data.last().map(|j| j.id.clone());
        all.extend(page.data);
        if !page.has_more {
            break;
        }
    }
    let count = |kind: &str, status: &str| {
        all.iter()
            .filter(|j| j.kind == kind && j.status == status)
            .count()
    };
    assert_eq!(count("charge_invoice", "succeeded"), n as usize);
    assert_eq!(count("dunning_retry", "queued"), 6);
    assert_eq!(all.len(), n as usize + 6);
    assert_clean(&db).await;
}
