//! Cross-organisation isolation: with organisation B's key, nothing of organisation A can be
//! read, changed or used — every attempt is 404 resource_missing and A's objects stay as
//! they were; B's lists never contain A's ids.

mod common;

use common::{s, Client};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// A's objects, created with A's key.
struct Fixture {
    customer: String,
    product: String,
    price: String,
    unused_price: String,
    coupon: String,
    subscription: String,
    sub_item: String,
    open_invoice: String,
    draft_invoice: String,
    credit_note: String,
    payment_method: String,
    card_payment: String,
    payment: String,
    refund: String,
    event: String,
    endpoint: String,
    clock: String,
}

async fn fixture(a: &Client) -> Fixture {
    let (customer, product, price) = common::basics(a).await;
    let unused = a
        .post(
            "/v1/prices",
            json!({"product": product, "model": "flat", "recurring": {"interval": "month"},
                   "currency_amounts": {"EUR": {"amount": 50}}}),
        )
        .await
        .ok();
    let coupon = a
        .post(
            "/v1/coupons",
            json!({"name": "A's", "percent_off": 5, "duration": "once"}),
        )
        .await
        .ok();
    let sub = a
        .post(
            "/v1/subscriptions",
            json!({"customer": customer, "items": [{"price": price, "quantity": 1}]}),
        )
        .await
        .ok();
    let inv = &sub["latest_invoice"];
    let open = a
        .post(
            "/v1/invoices",
            json!({"customer": customer, "finalize": true,
                   "lines": [{"description": "Open one", "amount": 700}]}),
        )
        .await
        .ok();
    let draft = a
        .post(
            "/v1/invoices",
            json!({"customer": customer, "lines": [{"description": "Draft", "amount": 300}]}),
        )
        .await
        .ok();
    let cn = a
        .post(
            "/v1/credit_notes",
            json!({"invoice": inv["id"], "reason": "goodwill",
                   "lines": [{"invoice_line": inv["lines"][0]["id"], "amount": 100}]}),
        )
        .await
        .ok();
    let pm = a
        .post(
            "/v1/payment_methods",
            json!({"customer": customer, "type": "card",
                   "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031}}),
        )
        .await
        .ok();
    let card_payment = a
        .post(
            &format!("/v1/invoices/{}/pay", s(&open["id"])),
            json!({"amount": 100}),
        )
        .await
        .ok();
    let payment = a
        .post(
            "/v1/payments",
            json!({"customer": customer, "amount": 5000, "method": "bank_transfer"}),
        )
        .await
        .ok();
    let refund = a
        .post(
            "/v1/refunds",
            json!({"payment": payment["id"], "amount": 100, "reason": "requested_by_customer"}),
        )
        .await
        .ok();
    let event = a.get("/v1/events?limit=1").await.ok();
    let endpoint = a
        .post(
            "/v1/webhook_endpoints",
            json!({"url": "http://127.0.0.1:9/hook", "enabled_events": ["*"]}),
        )
        .await
        .ok();
    let clock = a
        .post(
            "/v1/test_clocks",
            json!({"name": "A's", "frozen_time": "2026-01-01T00:00:00Z"}),
        )
        .await
        .ok();
    Fixture {
        event: s(&event["data"][0]["id"]),
        endpoint: s(&endpoint["id"]),
        clock: s(&clock["id"]),
        customer,
        product,
        price,
        unused_price: s(&unused["id"]),
        coupon: s(&coupon["id"]),
        subscription: s(&sub["id"]),
        sub_item: s(&sub["items"][0]["id"]),
        open_invoice: s(&open["id"]),
        draft_invoice: s(&draft["id"]),
        credit_note: s(&cn["id"]),
        payment_method: s(&pm["id"]),
        card_payment: s(&card_payment["id"]),
        payment: s(&payment["id"]),
        refund: s(&refund["id"]),
    }
}

/// Everything A can see of its objects, to compare before and after B's attempts.
async fn snapshot(a: &Client, f: &Fixture) -> Vec<Value> {
    let mut out = Vec::new();
    for p in [
        format!("/v1/customers/{}", f.customer),
        format!("/v1/customers/{}/balance", f.customer),
        format!("/v1/products/{}", f.product),
        format!("/v1/prices/{}", f.price),
        format!("/v1/prices/{}", f.unused_price),
        format!("/v1/coupons/{}", f.coupon),
        format!("/v1/subscriptions/{}", f.subscription),
        format!("/v1/invoices/{}", f.open_invoice),
        format!("/v1/invoices/{}", f.draft_invoice),
        format!("/v1/credit_notes/{}", f.credit_note),
        format!("/v1/customers/{}/payment_methods", f.customer),
        format!("/v1/payments/{}", f.card_payment),
        format!("/v1/payments/{}", f.payment),
        format!("/v1/refunds/{}", f.refund),
        format!("/v1/events/{}", f.event),
        format!("/v1/webhook_endpoints/{}", f.endpoint),
        format!("/v1/test_clocks/{}", f.clock),
        format!("/v1/customers/{}/timeline?limit=100", f.customer),
        "/v1/events?limit=100".to_string(),
        "/v1/webhook_endpoints?limit=100".to_string(),
        "/v1/payments?limit=100".to_string(),
        "/v1/refunds?limit=100".to_string(),
        "/v1/invoices?limit=100".to_string(),
        "/v1/credit_notes?limit=100".to_string(),
        "/v1/ledger_entries?limit=100".to_string(),
        "/v1/subscriptions?limit=100".to_string(),
        "/v1/prices?limit=100".to_string(),
        "/v1/customers?limit=100".to_string(),
        "/v1/tax_rates".to_string(),
    ] {
        out.push(a.get(&p).await.ok());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organisation_sees_and_changes_nothing_sqlite() {
    isolation(common::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organisation_sees_and_changes_nothing_postgres() {
    if let Some(srv) = common::start(store::Backend::Postgres).await {
        isolation(srv).await;
    }
}

async fn isolation(srv: common::Server) {
    let a = srv.org("Org A").await;
    let b = srv.org("Org B").await;
    let f = fixture(&a).await;
    // B has objects of its own, so its requests are otherwise valid.
    let (b_customer, _b_product, b_price) = common::basics(&b).await;
    let b_coupon = b
        .post(
            "/v1/coupons",
            json!({"name": "B's", "percent_off": 5, "duration": "once"}),
        )
        .await
        .ok();
    let before = snapshot(&a, &f).await;
    let b_counts = b.counts().await;

    let change = json!({"items": [{"id": f.sub_item, "quantity": 3}]});
    let attempts: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/v1/customers/{}", f.customer), None),
        (
            "POST",
            format!("/v1/customers/{}", f.customer),
            Some(json!({"name": "Hijacked"})),
        ),
        (
            "POST",
            format!("/v1/customers/{}/contacts", f.customer),
            Some(json!({"name": "Mallory"})),
        ),
        (
            "POST",
            format!("/v1/customers/{}/discounts", f.customer),
            Some(json!({"coupon": s(&b_coupon["id"])})),
        ),
        (
            "POST",
            format!("/v1/customers/{b_customer}/discounts"),
            Some(json!({"coupon": f.coupon})),
        ),
        (
            "POST",
            format!("/v1/customers/{b_customer}/discounts"),
            Some(json!({"coupon": s(&b_coupon["id"]), "subscription": f.subscription})),
        ),
        ("GET", format!("/v1/customers/{}/balance", f.customer), None),
        ("GET", format!("/v1/products/{}", f.product), None),
        (
            "POST",
            format!("/v1/products/{}", f.product),
            Some(json!({"name": "Hijacked", "active": false})),
        ),
        (
            "POST",
            "/v1/prices".into(),
            Some(json!({"product": f.product, "model": "flat",
                        "currency_amounts": {"EUR": {"amount": 1}}})),
        ),
        ("GET", format!("/v1/prices/{}", f.price), None),
        (
            "POST",
            format!("/v1/prices/{}", f.price),
            Some(json!({"active": false, "nickname": "hijacked"})),
        ),
        ("DELETE", format!("/v1/prices/{}", f.unused_price), None),
        ("GET", format!("/v1/coupons/{}", f.coupon), None),
        ("GET", format!("/v1/subscriptions/{}", f.subscription), None),
        (
            "POST",
            format!("/v1/subscriptions/{}", f.subscription),
            Some(change.clone()),
        ),
        (
            "POST",
            format!("/v1/subscriptions/{}/preview", f.subscription),
            Some(change.clone()),
        ),
        (
            "POST",
            format!("/v1/subscriptions/{}/cancel", f.subscription),
            Some(json!({"at_period_end": false})),
        ),
        (
            "POST",
            "/v1/subscriptions".into(),
            Some(json!({"customer": f.customer, "items": [{"price": b_price}]})),
        ),
        (
            "POST",
            "/v1/subscriptions".into(),
            Some(json!({"customer": b_customer, "items": [{"price": f.price}]})),
        ),
        (
            "POST",
            "/v1/subscriptions".into(),
            Some(
                json!({"customer": b_customer, "items": [{"price": b_price}], "coupon": f.coupon}),
            ),
        ),
        ("GET", format!("/v1/invoices/{}", f.open_invoice), None),
        (
            "GET",
            format!("/v1/customers/{}/payment_methods", f.customer),
            None,
        ),
        (
            "POST",
            "/v1/payment_methods".into(),
            Some(json!({"customer": f.customer, "type": "manual"})),
        ),
        (
            "POST",
            format!("/v1/payment_methods/{}/default", f.payment_method),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/v1/payment_methods/{}/detach", f.payment_method),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/v1/invoices/{}/pay", f.open_invoice),
            Some(json!({})),
        ),
        (
            "POST",
            "/v1/payments".into(),
            Some(json!({"customer": f.customer, "amount": 1, "method": "cash"})),
        ),
        (
            "POST",
            "/v1/payments".into(),
            Some(
                json!({"customer": b_customer, "amount": 1, "method": "cash", "invoice": f.open_invoice}),
            ),
        ),
        ("GET", format!("/v1/payments/{}", f.payment), None),
        (
            "POST",
            format!("/v1/payments/{}/retry", f.card_payment),
            Some(json!({})),
        ),
        (
            "POST",
            "/v1/refunds".into(),
            Some(json!({"payment": f.payment, "amount": 1, "reason": "other"})),
        ),
        ("GET", format!("/v1/refunds/{}", f.refund), None),
        (
            "POST",
            format!("/v1/refunds/{}/retry", f.refund),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/v1/invoices/{}/lines", f.draft_invoice),
            Some(json!({"lines": [{"description": "x", "amount": 1}]})),
        ),
        (
            "POST",
            format!("/v1/invoices/{}/finalize", f.draft_invoice),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/v1/invoices/{}/void", f.open_invoice),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/v1/invoices/{}/mark_uncollectible", f.open_invoice),
            Some(json!({})),
        ),
        ("DELETE", format!("/v1/invoices/{}", f.draft_invoice), None),
        (
            "POST",
            "/v1/invoices".into(),
            Some(json!({"customer": f.customer, "lines": [{"description": "x", "amount": 1}]})),
        ),
        (
            "POST",
            "/v1/invoices".into(),
            Some(json!({"customer": b_customer, "lines": [{"price": f.price}]})),
        ),
        (
            "POST",
            "/v1/invoices".into(),
            Some(json!({"customer": b_customer, "coupons": [f.coupon],
                        "lines": [{"description": "x", "amount": 1}]})),
        ),
        ("GET", format!("/v1/credit_notes/{}", f.credit_note), None),
        ("GET", format!("/v1/events/{}", f.event), None),
        (
            "GET",
            format!("/v1/customers/{}/timeline", f.customer),
            None,
        ),
        ("GET", format!("/v1/webhook_endpoints/{}", f.endpoint), None),
        (
            "POST",
            format!("/v1/webhook_endpoints/{}", f.endpoint),
            Some(json!({"url": "http://evil.test/x"})),
        ),
        ("GET", format!("/v1/test_clocks/{}", f.clock), None),
        (
            "POST",
            format!("/v1/test_clocks/{}/advance", f.clock),
            Some(json!({"frozen_time": "2026-02-01T00:00:00Z"})),
        ),
        (
            "POST",
            "/v1/customers".into(),
            Some(json!({"name": "On A's clock", "currency": "EUR", "test_clock": f.clock})),
        ),
        (
            "POST",
            "/v1/credit_notes".into(),
            Some(json!({"invoice": f.open_invoice, "reason": "goodwill"})),
        ),
    ];
    for (method, path, body) in &attempts {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = b.send(m, path, body.clone(), None).await;
        assert_eq!(
            r.status.as_u16(),
            404,
            "{method} {path} with B's key: {}",
            r.text
        );
        assert_eq!(
            r.json["error"]["code"], "resource_missing",
            "{method} {path}: {}",
            r.text
        );
    }
    // Idempotent variants too (the key is per organisation, the object still A's).
    let r = b
        .post_idem(
            &format!("/v1/invoices/{}/void", f.open_invoice),
            json!({}),
            "iso-1",
        )
        .await;
    r.err(404, "resource_missing");

    // Nothing of A changed, nothing new for B.
    assert_eq!(snapshot(&a, &f).await, before);
    assert_eq!(b.counts().await, b_counts);

    // B's lists never contain A's ids; A's never contain B's.
    let a_ids: BTreeSet<String> = [
        f.customer.clone(),
        f.product.clone(),
        f.price.clone(),
        f.unused_price.clone(),
        f.coupon.clone(),
        f.subscription.clone(),
        f.open_invoice.clone(),
        f.draft_invoice.clone(),
        f.credit_note.clone(),
        f.event.clone(),
        f.endpoint.clone(),
        f.clock.clone(),
    ]
    .into();
    for list in [
        "/v1/customers",
        "/v1/products",
        "/v1/prices",
        "/v1/coupons",
        "/v1/subscriptions",
        "/v1/invoices",
        "/v1/credit_notes",
        "/v1/events",
        "/v1/webhook_endpoints",
        "/v1/test_clocks",
    ] {
        let b_ids = b.ids(list).await;
        assert!(
            b_ids.iter().all(|id| !a_ids.contains(id)),
            "{list} of B shows A's objects: {b_ids:?}"
        );
        let a_list = a.ids(list).await;
        assert!(!a_list.is_empty(), "{list} of A is empty");
        assert!(
            b_ids.iter().all(|id| !a_list.contains(id)),
            "{list}: A and B share ids"
        );
    }
    // Filters naming A's objects find nothing for B.
    for q in [
        format!("/v1/invoices?customer={}", f.customer),
        format!("/v1/subscriptions?customer={}", f.customer),
        format!("/v1/credit_notes?invoice={}", f.open_invoice),
        format!("/v1/prices?product={}", f.product),
        format!("/v1/ledger_entries?customer={}", f.customer),
        "/v1/customers?q=Basic".to_string(),
    ] {
        let page = b.get(&q).await.ok();
        let data = page["data"].as_array().unwrap();
        assert!(
            data.iter().all(|d| {
                d["customer"] != f.customer.as_str()
                    && d["id"].as_str().is_none_or(|id| !a_ids.contains(id))
            }),
            "{q}: {page}"
        );
        if q.contains(&f.customer) || q.contains(&f.open_invoice) || q.contains(&f.product) {
            assert!(data.is_empty(), "{q}: {page}");
        }
    }
    // B's search for "Basic" finds B's own customer only.
    let page = b.get("/v1/customers?q=Basic").await.ok();
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["id"], b_customer.as_str());
    // B's ledger holds only B's customers.
    let entries = b.get("/v1/ledger_entries?limit=100").await.ok();
    assert!(entries["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["customer"].is_null() || e["customer"] == b_customer.as_str()));
    // A bill run by B bills nothing of A.
    let a_invoices = a.count("/v1/invoices").await;
    let at = chrono::Utc::now() + chrono::Duration::days(40);
    let run = b
        .post("/v1/bill_runs", json!({"at": at.to_rfc3339()}))
        .await
        .ok();
    assert_eq!(run["invoices_created"], 0, "{run}");
    assert_eq!(a.count("/v1/invoices").await, a_invoices);
}
