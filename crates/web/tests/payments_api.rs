//! Payments over HTTP against the real server: a declined card is 402 `card_error`, a repeat
//! of a money-moving POST with the same `Idempotency-Key` moves nothing twice, and a gateway
//! timeout is 502 with the payment left `pending` for `/retry`.

mod common;

use common::s;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_over_http_sqlite() {
    payments_over_http(common::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_over_http_postgres() {
    if let Some(srv) = common::start(store::Backend::Postgres).await {
        payments_over_http(srv).await;
    }
}

async fn payments_over_http(srv: common::Server) {
    let c = srv.org("Payer").await;
    let (customer, _, _) = common::basics(&c).await;
    let inv = c
        .post(
            "/v1/invoices",
            json!({"customer": customer, "finalize": true, "lines": [{"description": "Work", "amount": 10000}]}),
        )
        .await
        .ok();
    let inv_id = s(&inv["id"]);
    let due = inv["amount_due"].as_i64().unwrap();

    // A declined card: 402 naming the code; the failed attempt is kept.
    let pm = c
        .post(
            "/v1/payment_methods",
            json!({"customer": customer, "type": "card", "set_default": true,
                   "card": {"number": "4000 0000 0000 0002", "exp_month": 1, "exp_year": 2040}}),
        )
        .await
        .ok();
    assert_eq!(pm["card"]["last4"], "0002");
    assert!(!pm.to_string().contains("4000000000000002"));
    let r = c
        .post(&format!("/v1/invoices/{inv_id}/pay"), json!({}))
        .await;
    r.err(402, "card_declined");
    let msg = s(&r.json["error"]["message"]);
    assert!(msg.contains("(payment pay_"), "{msg}");
    assert_eq!(r.json["error"]["type"], "card_error");
    let tries = c
        .get(&format!("/v1/payments?customer={customer}"))
        .await
        .ok();
    assert_eq!(tries["data"][0]["status"], "failed");

    // A bad card number names the field.
    c.post(
        "/v1/payment_methods",
        json!({"customer": customer, "type": "card", "card": {"number": "1234", "exp_month": 1, "exp_year": 2040}}),
    )
    .await
    .err_param(400, "parameter_invalid", "card.number");

    // A good card, charged once however often the request is repeated with its key.
    c.post(
        "/v1/payment_methods",
        json!({"customer": customer, "type": "card", "token": "tok_visa", "set_default": true}),
    )
    .await
    .ok();
    let first = c
        .post_idem(
            &format!("/v1/invoices/{inv_id}/pay"),
            json!({"amount": 4000}),
            "pay-1",
        )
        .await
        .ok();
    let again = c
        .post_idem(
            &format!("/v1/invoices/{inv_id}/pay"),
            json!({"amount": 4000}),
            "pay-1",
        )
        .await
        .ok();
    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["status"], "succeeded");
    c.post_idem(
        &format!("/v1/invoices/{inv_id}/pay"),
        json!({"amount": 1}),
        "pay-1",
    )
    .await
    .err(409, "idempotency_key_reused");
    let after = c.get(&format!("/v1/invoices/{inv_id}")).await.ok();
    assert_eq!(after["amount_paid"], 4000);
    assert_eq!(after["amount_remaining"].as_i64().unwrap(), due - 4000);

    // A bank transfer for the rest and 25.00 more, repeated: one payment, 25.00 of credit.
    let body = json!({"customer": customer, "amount": due - 4000 + 2500, "method": "bank_transfer", "reference": "TRX-9"});
    let p1 = c.post_idem("/v1/payments", body.clone(), "bt-1").await.ok();
    let p2 = c.post_idem("/v1/payments", body, "bt-1").await.ok();
    assert_eq!(p1["id"], p2["id"]);
    assert_eq!(p1["amount_to_credit_balance"], 2500);
    let bal = c
        .get(&format!("/v1/customers/{customer}/balance"))
        .await
        .ok();
    assert_eq!(
        (bal["amount_owed"].as_i64(), bal["credit_balance"].as_i64()),
        (Some(0), Some(2500))
    );
    assert_eq!(
        c.get(&format!("/v1/invoices/{inv_id}")).await.ok()["status"],
        "paid"
    );

    // Refund the credit; more than is left is refused.
    let body = json!({"payment": p1["id"], "amount": 2000, "reason": "requested_by_customer"});
    let refund = c.post_idem("/v1/refunds", body.clone(), "re-1").await.ok();
    let repeat = c.post_idem("/v1/refunds", body, "re-1").await.ok();
    assert_eq!(
        refund["id"], repeat["id"],
        "a repeated refund request refunds once"
    );
    assert_eq!(refund["status"], "succeeded");
    c.post(
        "/v1/refunds",
        json!({"payment": p1["id"], "amount": 501, "reason": "requested_by_customer"}),
    )
    .await
    .err(409, "refund_exceeds_refundable");
    let listed = c
        .get(&format!("/v1/refunds?payment={}", s(&p1["id"])))
        .await
        .ok();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    // A gateway timeout: 502, the payment stays pending; a retry settles it once.
    let inv2 = c
        .post(
            "/v1/invoices",
            json!({"customer": customer, "finalize": true, "lines": [{"description": "More", "amount": 3000}]}),
        )
        .await
        .ok();
    c.post(
        "/v1/payment_methods",
        json!({"customer": customer, "type": "card", "set_default": true,
               "card": {"number": "4000000000000119", "exp_month": 1, "exp_year": 2040}}),
    )
    .await
    .ok();
    c.post(&format!("/v1/invoices/{}/pay", s(&inv2["id"])), json!({}))
        .await
        .err(502, "payment_pending");
    let pending = c
        .get(&format!("/v1/payments?customer={customer}&limit=1"))
        .await
        .ok();
    let pid = s(&pending["data"][0]["id"]);
    assert_eq!(pending["data"][0]["status"], "pending");
    let settled = c
        .post(&format!("/v1/payments/{pid}/retry"), json!({}))
        .await
        .ok();
    assert_eq!(settled["status"], "succeeded");
    assert_eq!(
        c.get(&format!("/v1/invoices/{}", s(&inv2["id"])))
            .await
            .ok()["status"],
        "paid"
    );

    // Aging, as JSON and CSV; a format it does not speak names the parameter.
    let inv3 = c
        .post(
            "/v1/invoices",
            json!({"customer": customer, "finalize": true, "lines": [{"description": "Open", "amount": 700}]}),
        )
        .await
        .ok();
    let aging = c.get("/v1/reports/ar_aging").await.ok();
    assert_eq!(aging["rows"][0]["customer"], customer.as_str());
    assert_eq!(aging["rows"][0]["current"], inv3["amount_due"]);
    let csv = c.get("/v1/reports/ar_aging?format=csv").await;
    assert_eq!(csv.status.as_u16(), 200);
    assert!(csv.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(
        csv.text
            .starts_with("customer,customer_name,currency,current,"),
        "{}",
        csv.text
    );
    assert!(
        csv.text.contains(&format!("{customer},Basic GmbH,EUR,")),
        "{}",
        csv.text
    );
    c.get("/v1/reports/ar_aging?format=xml")
        .await
        .err_param(400, "parameter_invalid", "format");

    // Every money movement above is in the audit log, with the object it made; the declined
    // attempt (an error) moved no money and is not.
    let log = c.get("/v1/audit_log?limit=100").await.ok();
    let entries = log["data"].as_array().unwrap();
    let moves: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("api POST /v1/"))
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["object_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(moves.iter().any(|(_, t)| *t == "payment"), "{moves:?}");
    assert!(moves.iter().any(|(_, t)| *t == "refund"), "{moves:?}");
    assert!(
        entries
            .iter()
            .all(|e| e["actor"] == "api_key" && !e["hash"].as_str().unwrap().is_empty()),
        "{entries:?}"
    );
}
