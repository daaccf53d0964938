//! `Idempotency-Key` on the POSTs that move money: a repeat replays the first response and
//! writes nothing; another body with the same key is refused; a failed validation releases
//! the key; concurrent repeats produce one object.

mod common;

use common::{s, Client, Resp};
use serde_json::{json, Value};

#[track_caller]
fn replayed(first: &Resp, again: &Resp) {
    assert_eq!(first.status, again.status, "{}", again.text);
    assert_eq!(
        first.text, again.text,
        "the replay is byte for byte the first body"
    );
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
}

#[track_caller]
fn fresh(r: &Resp) {
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.headers.get("idempotent-replayed").is_none(),
        "{:?}",
        r.headers
    );
}

/// Sends the same request twice with `key`, checks the replay and that `counts` did not
/// move between the two; returns the first response's body.
async fn once(c: &Client, path: &str, body: Value, key: &str) -> Value {
    let first = c.post_idem(path, body.clone(), key).await;
    fresh(&first);
    let counts = c.counts().await;
    let again = c.post_idem(path, body.clone(), key).await;
    replayed(&first, &again);
    assert_eq!(
        c.counts().await,
        counts,
        "a replay of {path} wrote something"
    );
    // The same key with another body is refused and writes nothing.
    let mut other = body.clone();
    if let Value::Object(m) = &mut other {
        m.insert("__other".into(), json!(1));
    } else {
        other = json!({"__other": 1});
    }
    let r = c.post_idem(path, other, key).await;
    r.err_param(409, "idempotency_key_reused", "Idempotency-Key");
    assert_eq!(r.json["error"]["type"], "idempotency_error");
    assert_eq!(c.counts().await, counts);
    first.json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_money_moving_post_is_idempotent_sqlite() {
    every_money_moving_post(common::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_money_moving_post_is_idempotent_postgres() {
    if let Some(srv) = common::start(store::Backend::Postgres).await {
        every_money_moving_post(srv).await;
    }
}

async fn every_money_moving_post(srv: common::Server) {
    let c = srv.org("Idem").await;
    let (cus, _prod, price) = common::basics(&c).await;
    let seats = c
        .post(
            "/v1/prices",
            json!({"product": c.ids("/v1/products").await[0], "model": "per_unit",
                   "recurring": {"interval": "month"},
                   "currency_amounts": {"EUR": {"unit_amount": 100}}}),
        )
        .await
        .ok();

    // Subscriptions: create, change, cancel.
    let sub = once(
        &c,
        "/v1/subscriptions",
        json!({"customer": cus, "items": [{"price": price}, {"price": seats["id"], "quantity": 1}]}),
        "sub-create",
    )
    .await;
    assert_eq!(c.count("/v1/subscriptions").await, 1);
    let sub_id = s(&sub["id"]);
    let seat_item = sub["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["price"] == seats["id"])
        .map(|i| s(&i["id"]))
        .unwrap();
    let invoices = c.count("/v1/invoices").await;
    let changed = once(
        &c,
        &format!("/v1/subscriptions/{sub_id}"),
        json!({"items": [{"id": seat_item, "quantity": 5}]}),
        "sub-change",
    )
    .await;
    assert!(changed["latest_invoice"]["id"].is_string(), "{changed}");
    assert_eq!(c.count("/v1/invoices").await, invoices + 1);

    // Invoices: create, finalize, void, mark uncollectible.
    let inv = once(
        &c,
        "/v1/invoices",
        json!({"customer": cus, "lines": [{"description": "Work", "amount": 1000}]}),
        "inv-create",
    )
    .await;
    let inv_id = s(&inv["id"]);
    let fin = once(
        &c,
        &format!("/v1/invoices/{inv_id}/finalize"),
        json!({}),
        "inv-fin",
    )
    .await;
    assert_eq!(fin["status"], "open");
    let void = once(
        &c,
        &format!("/v1/invoices/{inv_id}/void"),
        json!({}),
        "inv-void",
    )
    .await;
    assert_eq!(void["status"], "void");
    let inv2 = c
        .post(
            "/v1/invoices",
            json!({"customer": cus, "finalize": true,
                   "lines": [{"description": "More", "amount": 2000}]}),
        )
        .await
        .ok();
    let unc = once(
        &c,
        &format!("/v1/invoices/{}/mark_uncollectible", s(&inv2["id"])),
        json!({}),
        "inv-unc",
    )
    .await;
    assert_eq!(unc["status"], "uncollectible");

    // Credit notes.
    let first_inv = &sub["latest_invoice"];
    let cn = once(
        &c,
        "/v1/credit_notes",
        json!({"invoice": first_inv["id"], "reason": "duplicate",
               "lines": [{"invoice_line": first_inv["lines"][0]["id"], "amount": 100}]}),
        "cn",
    )
    .await;
    assert_eq!(cn["total"], 100);
    assert_eq!(c.count("/v1/credit_notes").await, 1);

    // Bill runs: the replay is the first report (a new run would have a new id).
    let at = (chrono::Utc::now() + chrono::Duration::days(40)).to_rfc3339();
    let run = once(&c, "/v1/bill_runs", json!({"at": at}), "run").await;
    assert_eq!(run["invoices_created"], 1);

    // Cancel.
    let cancel = once(
        &c,
        &format!("/v1/subscriptions/{sub_id}/cancel"),
        json!({"at_period_end": false, "prorate": true}),
        "sub-cancel",
    )
    .await;
    assert_eq!(cancel["status"], "canceled");

    // A key is bound to its route: reusing one elsewhere is refused.
    c.post_idem("/v1/bill_runs", json!({"at": at}), "sub-create")
        .await
        .err(409, "idempotency_key_reused");
    // Keys belong to one organisation: another may use the same one.
    let other = srv.org("Other").await;
    let r = other
        .post_idem("/v1/bill_runs", json!({"at": at}), "run")
        .await;
    fresh(&r);
    assert_eq!(r.json["invoices_created"], 0);
    // An overlong key is refused before anything runs.
    c.post_idem("/v1/bill_runs", json!({}), &"k".repeat(256))
        .await
        .err_param(400, "idempotency_key_invalid", "Idempotency-Key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_validation_releases_the_key() {
    let srv = common::sqlite().await;
    let c = srv.org("Release").await;
    let (cus, _prod, price) = common::basics(&c).await;
    let before = c.counts().await;
    // Invalid quantity, then an unknown customer (404), then malformed JSON: each releases.
    c.post_idem(
        "/v1/subscriptions",
        json!({"customer": cus, "items": [{"price": price, "quantity": -3}]}),
        "retry-me",
    )
    .await
    .err_param(400, "parameter_invalid", "items[0].quantity");
    c.post_idem(
        "/v1/subscriptions",
        json!({"customer": "cus_0000nothere", "items": [{"price": price}]}),
        "retry-me",
    )
    .await
    .err(404, "resource_missing");
    let r = c
        .send(
            reqwest::Method::POST,
            "/v1/subscriptions",
            None,
            Some("retry-me"),
        )
        .await;
    r.err_param(400, "parameter_invalid", "customer");
    assert_eq!(c.counts().await, before);
    let ok = c
        .post_idem(
            "/v1/subscriptions",
            json!({"customer": cus, "items": [{"price": price, "quantity": 3}]}),
            "retry-me",
        )
        .await;
    fresh(&ok);
    assert_eq!(ok.json["items"][0]["quantity"], 3);
    assert_eq!(c.count("/v1/subscriptions").await, 1);

    // Same for invoices and credit notes.
    c.post_idem(
        "/v1/invoices",
        json!({"customer": cus, "lines": [{"description": "x", "amount": 100, "quantity": -1}]}),
        "inv-retry",
    )
    .await
    .err_param(400, "parameter_invalid", "lines[0].quantity");
    let inv = c
        .post_idem(
            "/v1/invoices",
            json!({"customer": cus, "finalize": true,
                   "lines": [{"description": "x", "amount": 100}]}),
            "inv-retry",
        )
        .await;
    fresh(&inv);
    c.post_idem(
        "/v1/credit_notes",
        json!({"invoice": inv.json["id"], "reason": "because"}),
        "cn-retry",
    )
    .await
    .err_param(400, "parameter_invalid", "reason");
    let cn = c
        .post_idem(
            "/v1/credit_notes",
            json!({"invoice": inv.json["id"], "reason": "goodwill"}),
            "cn-retry",
        )
        .await;
    fresh(&cn);
    assert_eq!(cn.json["total"], 100);
    // A state conflict is an answer, and is kept: the repeat replays the 409.
    let void = c
        .post_idem(
            &format!("/v1/invoices/{}/void", s(&inv.json["id"])),
            json!({}),
            "void-credited",
        )
        .await;
    void.err(409, "invoice_not_voidable");
    let again = c
        .post_idem(
            &format!("/v1/invoices/{}/void", s(&inv.json["id"])),
            json!({}),
            "void-credited",
        )
        .await;
    replayed(&void, &again);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_repeats_create_one_object_sqlite() {
    concurrent_repeats(common::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_repeats_create_one_object_postgres() {
    if let Some(srv) = common::start(store::Backend::Postgres).await {
        concurrent_repeats(srv).await;
    }
}

async fn concurrent_repeats(srv: common::Server) {
    let c = srv.org("Race").await;
    let (cus, _prod, price) = common::basics(&c).await;
    for round in 0..3 {
        let key = format!("race-{round}");
        let body = json!({"customer": cus, "items": [{"price": price}]});
        let subs = c.count("/v1/subscriptions").await;
        let invoices = c.count("/v1/invoices").await;
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                let body = body.clone();
                let key = key.clone();
                tokio::spawn(async move { c.post_idem("/v1/subscriptions", body, &key).await })
            })
            .collect();
        let mut ids = Vec::new();
        for t in tasks {
            let r = t.await.unwrap();
            match r.status.as_u16() {
                200 => ids.push(s(&r.json["id"])),
                409 => assert_eq!(
                    r.json["error"]["code"], "idempotency_request_in_progress",
                    "{}",
                    r.text
                ),
                other => panic!("unexpected {other}: {}", r.text),
            }
        }
        assert!(!ids.is_empty());
        assert!(ids.iter().all(|i| i == &ids[0]), "{ids:?}");
        assert_eq!(c.count("/v1/subscriptions").await, subs + 1);
        assert_eq!(c.count("/v1/invoices").await, invoices + 1);
        // Afterwards the key replays the one object.
        let r = c.post_idem("/v1/subscriptions", body, &key).await;
        assert_eq!(r.json["id"], ids[0].as_str());
    }
    // Concurrent finalizes of one draft with one key: one number taken, one posting.
    let draft = c
        .post(
            "/v1/invoices",
            json!({"customer": cus, "lines": [{"description": "x", "amount": 500}]}),
        )
        .await
        .ok();
    let path = format!("/v1/invoices/{}/finalize", s(&draft["id"]));
    let entries = c.count("/v1/ledger_entries").await;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            let path = path.clone();
            tokio::spawn(async move { c.post_idem(&path, json!({}), "fin-race").await })
        })
        .collect();
    let mut numbers = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        match r.status.as_u16() {
            200 => numbers.push(s(&r.json["number"])),
            409 => assert_eq!(r.json["error"]["code"], "idempotency_request_in_progress"),
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert!(!numbers.is_empty());
    assert!(numbers.iter().all(|n| n == &numbers[0]), "{numbers:?}");
    let after = c.count("/v1/ledger_entries").await;
    assert!(after > entries);
    let one_posting = after - entries;
    // One finalization without tax posts receivable and revenue: two entries.
    assert_eq!(one_posting, 2, "finalized once");
}
