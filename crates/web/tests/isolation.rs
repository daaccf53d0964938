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
        ("GET", format!("/v1/invoices/{}/pdf", f.open_invoice), None),
        ("GET", format!("/v1/invoices/{}/pdf", f.draft_invoice), None),
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
        (
            "GET",
            format!("/v1/credit_notes/{}/pdf", f.credit_note),
            None,
        ),
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

// ---------------------------------------------------------------------------------------
// The service desk: staff, sessions, tickets, attachments, inbound mail, macros, SLA
// settings, the audit log, ticket actions and approvals, verifications, calls, payment
// details, KPIs and CSAT.

const PASSWORD: &str = "correct horse battery";

/// A staff user created with the organisation's key, logged in: a client whose bearer
/// token is the session. Returns (client, staff id).
async fn staff_session(c: &Client, email: &str, role: &str) -> (Client, String) {
    let made = c
        .post(
            "/v1/staff",
            json!({"email": email, "name": email.split('@').next().unwrap(),
                   "role": role, "password": PASSWORD}),
        )
        .await
        .ok();
    let session = c
        .post(
            "/v1/sessions",
            json!({"organisation": c.org_id, "email": email, "password": PASSWORD}),
        )
        .await
        .ok();
    let token = s(&session["token"]);
    assert!(token.starts_with("ses_"));
    (
        Client {
            key: token,
            ..c.clone()
        },
        s(&made["id"]),
    )
}

fn mime(from: &str, subject: &str, message_id: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: billing@acme.test\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Fri, 27 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n{extra}\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A message with a text part and one attachment.
fn mime_with_attachment(from: &str, subject: &str, message_id: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: billing@acme.test\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Fri, 27 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n\
         --XYZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMy invoice is wrong, see the scan.\r\n\
         --XYZ\r\nContent-Type: application/pdf; name=\"scan.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"scan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         JVBERi0xLjQKc2VjcmV0IG9mIG9yZyBBCg==\r\n--XYZ--\r\n"
    )
    .into_bytes()
}

async fn inbound(c: &Client, raw: Vec<u8>) -> Value {
    c.post_raw("/v1/inbound/email", raw, Some("message/rfc822"))
        .await
        .ok()
}

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

fn csat_token(detail: &Value) -> String {
    detail["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["body"].as_str())
        .find_map(|b| b.split("/csat/").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a survey link")
        .to_string()
}

/// A's desk objects.
struct DeskFixture {
    billing: Fixture,
    admin: Client,
    agent: Client,
    agent_id: String,
    staff_email: String,
    /// From mail with an attachment, answered by the agent.
    ticket: String,
    /// A's mail's Message-ID and the agent's reply's.
    message_id: String,
    reply_message_id: String,
    attachment: String,
    /// Another open ticket of the same customer (merge target).
    other_ticket: String,
    /// Resolved, its survey answered.
    resolved_ticket: String,
    csat_token: String,
    pending_action: String,
    /// A live call (interaction) with a pending verification.
    call: String,
    call_ticket: String,
    verification: String,
    /// A telephony call (interaction) and its provider id.
    telephony_call: String,
    telephony_ticket: String,
    call_id: String,
}

async fn desk_fixture(a: &Client) -> DeskFixture {
    let billing = fixture(a).await;
    let cus = billing.customer.clone();
    a.post(
        &format!("/v1/customers/{cus}/contacts"),
        json!({"name": "Jane", "email": "jane@a.example", "phone": "+49301111111"}),
    )
    .await
    .ok();
    let (admin, _) = staff_session(a, "admin@a.example", "admin").await;
    let staff_email = "agent@a.example".to_string();
    let (agent, agent_id) = staff_session(a, &staff_email, "agent").await;
    admin
        .post(&format!("/v1/staff/{agent_id}"), json!({"online": true}))
        .await
        .ok();
    admin
        .post(
            "/v1/macros",
            json!({"name": "a_only_greeting", "locale": "en",
                   "body": "Hello {{ customer_name }}, this is A."}),
        )
        .await
        .ok();
    admin
        .post(
            "/v1/settings/sla_policies",
            json!({"name": "A default", "first_response_secs": 86_400,
                   "resolution_secs": 604_800}),
        )
        .await
        .ok();
    admin
        .post(
            "/v1/settings/calendars",
            json!({"name": "A hours", "time_zone": "Europe/Berlin",
                   "hours": {"mon": ["09:00-17:00"], "tue": ["09:00-17:00"]},
                   "teams": ["sales"]}),
        )
        .await
        .ok();

    // Mail with an attachment → ticket; the agent answers.
    let message_id = "a-first@a.example".to_string();
    let got = inbound(
        &agent,
        mime_with_attachment("Jane <jane@a.example>", "Invoice wrong", &message_id),
    )
    .await;
    assert_eq!(got["outcome"], "new_ticket", "{got}");
    assert_eq!(got["customer"], cus.as_str());
    let ticket = s(&got["ticket"]);
    let replied = agent
        .post(
            &format!("/v1/tickets/{ticket}/replies"),
            json!({"body": "We are on it.", "status": "open", "handling_secs": 30}),
        )
        .await
        .ok();
    let reply_message_id = replied["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["direction"] == "outbound" && i["author_type"] == "staff")
        .map(|i| s(&i["message_id"]))
        .expect("the reply");
    let attachment = s(&replied["attachments"][0]["id"]);
    agent
        .post(
            &format!("/v1/tickets/{ticket}/notes"),
            json!({"body": "internal: customer is upset"}),
        )
        .await
        .ok();
    agent
        .post(
            &format!("/v1/tickets/{ticket}"),
            json!({"tags": ["vip"], "add_links": [{"type": "invoice", "id": billing.open_invoice}]}),
        )
        .await
        .ok();

    let other = agent
        .post(
            "/v1/tickets",
            json!({"subject": "Second question", "customer": cus}),
        )
        .await
        .ok();
    // Resolved and rated.
    let third = agent
        .post(
            "/v1/tickets",
            json!({"subject": "Thanks", "customer": cus, "requester_email": "jane@a.example"}),
        )
        .await
        .ok();
    let resolved_ticket = s(&third["id"]);
    let resolved = agent
        .post(
            &format!("/v1/tickets/{resolved_ticket}/replies"),
            json!({"body": "Done.", "status": "resolved"}),
        )
        .await
        .ok();
    let csat_token = csat_token(&resolved);
    let http = a.http.clone();
    let r = common::into_resp(
        http.post(format!("{}/v1/csat/{csat_token}", a.base))
            .json(&json!({"rating": 5}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.json["rating"], 5, "{}", r.text);

    // A goodwill credit above the agent's limit waits for approval.
    let pending = agent
        .post(
            &format!("/v1/tickets/{ticket}/actions"),
            json!({"action": "goodwill_credit", "amount": 9_000,
                   "reason": "A's request", "reason_code": "goodwill"}),
        )
        .await
        .ok();
    assert_eq!(pending["status"], "pending_approval", "{pending}");

    // A live call with a code verification under way.
    let call = agent
        .post(
            "/v1/calls",
            json!({"phone_number": "+49301111111", "customer": cus,
                   "started_at": chrono::Utc::now().to_rfc3339(), "notes": "A's call"}),
        )
        .await
        .ok();
    let verification = agent
        .post(
            &format!("/v1/interactions/{}/verifications", s(&call["id"])),
            json!({"method": "email_code"}),
        )
        .await
        .ok();
    assert_eq!(verification["status"], "pending", "{verification}");

    // A call from the telephony provider.
    let call_id = "prov-call-0001".to_string();
    let tel = agent
        .post(
            "/v1/telephony/events",
            json!({"call_id": call_id, "type": "started", "at": "2026-01-05T10:00:00Z",
                   "from": "+49301111111", "to": "+4930999"}),
        )
        .await
        .ok();
    assert_eq!(tel["customer"], cus.as_str());
    agent
        .post(
            "/v1/telephony/events",
            json!({"call_id": call_id, "type": "answered", "at": "2026-01-05T10:00:30Z"}),
        )
        .await
        .ok();

    DeskFixture {
        admin,
        agent,
        agent_id,
        staff_email,
        ticket,
        message_id,
        reply_message_id,
        attachment,
        other_ticket: s(&other["id"]),
        resolved_ticket,
        csat_token,
        pending_action: s(&pending["id"]),
        call: s(&call["id"]),
        call_ticket: s(&call["ticket"]),
        verification: s(&verification["id"]),
        telephony_call: s(&tel["id"]),
        telephony_ticket: s(&tel["ticket"]),
        call_id,
        billing,
    }
}

/// Everything A can see of its desk, to compare before and after B's attempts.
async fn desk_snapshot(a: &Client, f: &DeskFixture) -> Vec<Value> {
    let q = format!("from={}&to={}", today(), today());
    let mut out = Vec::new();
    for p in [
        format!("/v1/tickets/{}", f.ticket),
        format!("/v1/tickets/{}", f.other_ticket),
        format!("/v1/tickets/{}", f.resolved_ticket),
        format!("/v1/tickets/{}", f.call_ticket),
        format!("/v1/tickets/{}", f.telephony_ticket),
        format!("/v1/tickets/{}/actions", f.ticket),
        format!("/v1/customers/{}", f.billing.customer),
        format!("/v1/customers/{}/payment_details", f.billing.customer),
        format!("/v1/customers/{}/timeline?limit=100", f.billing.customer),
        "/v1/tickets?limit=100".to_string(),
        "/v1/staff".to_string(),
        "/v1/macros".to_string(),
        "/v1/settings/sla_policies".to_string(),
        "/v1/settings/authority_limits?currency=EUR".to_string(),
        "/v1/approvals".to_string(),
        "/v1/audit_log?limit=100".to_string(),
        format!("/v1/kpis?{q}"),
    ] {
        out.push(a.get(&p).await.ok());
    }
    let att = a.get(&format!("/v1/attachments/{}", f.attachment)).await;
    assert_eq!(att.status.as_u16(), 200, "{}", att.text);
    out.push(json!(att.text));
    let csv = a.get(&format!("/v1/kpis.csv?{q}")).await;
    out.push(json!(csv.text));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organisation_sees_and_changes_nothing_on_the_desk_sqlite() {
    desk_isolation(common::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organisation_sees_and_changes_nothing_on_the_desk_postgres() {
    if let Some(srv) = common::start(store::Backend::Postgres).await {
        desk_isolation(srv).await;
    }
}

async fn desk_isolation(srv: common::Server) {
    let a = srv.org("Org A").await;
    let b = srv.org("Org B").await;
    let f = desk_fixture(&a).await;
    let (b_customer, _b_product, _b_price) = common::basics(&b).await;
    let (b_admin, b_admin_id) = staff_session(&b, "admin@b.example", "admin").await;
    let (b_finance, _) = staff_session(&b, "finance@b.example", "finance").await;
    let (b_senior, _) = staff_session(&b, "senior@b.example", "senior_agent").await;
    let q = format!("from={}&to={}", today(), today());

    // KPIs: B's report, before B did anything on the desk, counts nothing of A's.
    let a_kpis = a.get(&format!("/v1/kpis?{q}")).await.ok();
    assert_eq!(a_kpis["csat"]["denominator"], 1, "{a_kpis}");
    assert!(a_kpis["contacts"]["total"].as_u64().unwrap() > 0);
    for who in [&b, &b_admin] {
        let k = who.get(&format!("/v1/kpis?{q}")).await.ok();
        assert_eq!(k["fcr"]["denominator"], 0, "{k}");
        assert_eq!(k["csat"]["denominator"], 0, "{k}");
        assert!(k["csat_by_agent"].as_array().unwrap().is_empty(), "{k}");
        assert_eq!(k["aht"]["contacts"], 0, "{k}");
        assert_eq!(k["first_response"]["count"], 0, "{k}");
        assert_eq!(k["resolution"]["count"], 0, "{k}");
        assert_eq!(k["contacts"]["total"], 0, "{k}");
        assert_eq!(k["contacts"]["invoices_finalized"], 0, "{k}");
        assert!(k["billing_accuracy"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["finalized"] == 0));
        let csv = who.get(&format!("/v1/kpis.csv?{q}")).await;
        assert!(csv.text.contains("\r\ncsat,,0,0,\r\n"), "{}", csv.text);
    }

    // B's own ticket (of B's customer), and B's staff.
    let b_ticket = s(&b
        .post(
            "/v1/tickets",
            json!({"subject": "B's question", "customer": b_customer}),
        )
        .await
        .ok()["id"]);
    let before = desk_snapshot(&a, &f).await;

    // ---- Requests about A's objects: 404, with B's key and with B's staff sessions.
    let now = chrono::Utc::now().to_rfc3339();
    let action = json!({"action": "goodwill_credit", "amount": 100,
                        "reason": "x", "reason_code": "goodwill"});
    let attempts: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            format!("/v1/staff/{}", f.agent_id),
            Some(json!({"name": "Hijacked"})),
        ),
        (
            "POST",
            format!("/v1/staff/{}", f.agent_id),
            Some(json!({"role": "admin", "active": false})),
        ),
        ("GET", format!("/v1/tickets/{}", f.ticket), None),
        (
            "POST",
            format!("/v1/tickets/{}", f.ticket),
            Some(json!({"priority": "urgent", "status": "closed"})),
        ),
        (
            "POST",
            format!("/v1/tickets/{}/replies", f.ticket),
            Some(json!({"body": "Hijacked reply"})),
        ),
        (
            "POST",
            format!("/v1/tickets/{}/notes", f.ticket),
            Some(json!({"body": "Hijacked note"})),
        ),
        // A's ticket merged into B's, and into A's other ticket.
        (
            "POST",
            format!("/v1/tickets/{}/merge", f.ticket),
            Some(json!({"into": b_ticket})),
        ),
        (
            "POST",
            format!("/v1/tickets/{}/merge", f.ticket),
            Some(json!({"into": f.other_ticket})),
        ),
        ("GET", format!("/v1/attachments/{}", f.attachment), None),
        ("GET", format!("/v1/tickets/{}/actions", f.ticket), None),
        (
            "POST",
            format!("/v1/tickets/{}/actions", f.ticket),
            Some(action.clone()),
        ),
        (
            "POST",
            format!("/v1/approvals/{}/approve", f.pending_action),
            Some(json!({"note": "approved by B"})),
        ),
        (
            "POST",
            format!("/v1/approvals/{}/reject", f.pending_action),
            Some(json!({"note": "rejected by B"})),
        ),
        (
            "POST",
            format!("/v1/interactions/{}/verifications", f.call),
            Some(json!({"method": "email_code"})),
        ),
        (
            "POST",
            format!("/v1/interactions/{}/verifications", f.call),
            Some(json!({"method": "knowledge", "factors": [
                {"type": "postal_code", "value": "10115"},
                {"type": "card_last4", "value": "4242"}]})),
        ),
        (
            "POST",
            format!("/v1/verifications/{}/confirm", f.verification),
            Some(json!({"code": "000000"})),
        ),
        (
            "GET",
            format!("/v1/customers/{}/payment_details", f.billing.customer),
            None,
        ),
        // B's customer, but during A's call.
        (
            "GET",
            format!(
                "/v1/customers/{b_customer}/payment_details?interaction={}",
                f.call
            ),
            None,
        ),
        (
            "POST",
            format!("/v1/tickets/{b_ticket}/actions"),
            Some(
                json!({"action": "goodwill_credit", "amount": 100, "reason": "x",
                        "reason_code": "goodwill", "interaction": f.call}),
            ),
        ),
        (
            "POST",
            format!("/v1/calls/{}/end", f.call),
            Some(json!({"ended_at": now})),
        ),
        (
            "POST",
            format!("/v1/calls/{}/end", f.telephony_call),
            Some(json!({"ended_at": now})),
        ),
        ("GET", format!("/v1/customers/{}", f.billing.customer), None),
    ];
    // Roles without manage_staff are refused staff changes before any lookup (403).
    for (who, admin) in [
        (&b, true),
        (&b_admin, true),
        (&b_finance, false),
        (&b_senior, false),
    ] {
        for (method, path, body) in &attempts {
            if !admin && path.starts_with("/v1/staff/") {
                continue;
            }
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let r = who.send(m, path, body.clone(), None).await;
            assert_eq!(
                r.status.as_u16(),
                404,
                "{method} {path} by B ({}…): {}",
                &who.key[..4],
                r.text
            );
            assert_eq!(
                r.json["error"]["code"], "resource_missing",
                "{method} {path}: {}",
                r.text
            );
        }
    }
    // With an Idempotency-Key too (the money-moving POSTs).
    b_finance
        .post_idem(
            &format!("/v1/approvals/{}/approve", f.pending_action),
            json!({}),
            "iso-approve-1",
        )
        .await
        .err(404, "resource_missing");
    b.post_idem(
        &format!("/v1/tickets/{}/actions", f.ticket),
        action.clone(),
        "iso-action-1",
    )
    .await
    .err(404, "resource_missing");

    // ---- B's own requests naming A's objects in the body: refused, naming the field.
    let body_refs: Vec<(&str, String, Value, &str)> = vec![
        (
            "POST",
            "/v1/tickets".into(),
            json!({"subject": "x", "customer": f.billing.customer}),
            "customer",
        ),
        (
            "POST",
            "/v1/tickets".into(),
            json!({"subject": "x", "assignee": f.agent_id}),
            "assignee",
        ),
        (
            "POST",
            "/v1/tickets".into(),
            json!({"subject": "x", "links": [{"type": "payment", "id": f.billing.payment}]}),
            "links[0].id",
        ),
        (
            "POST",
            format!("/v1/tickets/{b_ticket}"),
            json!({"customer": f.billing.customer}),
            "customer",
        ),
        (
            "POST",
            format!("/v1/tickets/{b_ticket}"),
            json!({"assignee": f.agent_id}),
            "assignee",
        ),
        (
            "POST",
            format!("/v1/tickets/{b_ticket}"),
            json!({"add_watchers": [f.agent_id]}),
            "add_watchers[0]",
        ),
        (
            "POST",
            format!("/v1/tickets/{b_ticket}"),
            json!({"add_links": [{"type": "invoice", "id": f.billing.open_invoice}]}),
            "links[0].id",
        ),
        (
            "POST",
            format!("/v1/tickets/{b_ticket}"),
            json!({"add_links": [{"type": "subscription", "id": f.billing.subscription}]}),
            "links[0].id",
        ),
        (
            "POST",
            format!("/v1/tickets/{b_ticket}"),
            json!({"add_links": [{"type": "credit_note", "id": f.billing.credit_note}]}),
            "links[0].id",
        ),
        // B's ticket merged into A's.
        (
            "POST",
            format!("/v1/tickets/{b_ticket}/merge"),
            json!({"into": f.ticket}),
            "into",
        ),
        (
            "POST",
            format!("/v1/tickets/{b_ticket}/replies"),
            json!({"macro": "a_only_greeting"}),
            "macro",
        ),
        (
            "POST",
            format!("/v1/tickets/{b_ticket}/actions"),
            json!({"action": "credit_note", "invoice": f.billing.open_invoice,
                   "amount": 100, "reason": "x", "reason_code": "billing_error"}),
            "invoice",
        ),
        (
            "POST",
            format!("/v1/tickets/{b_ticket}/actions"),
            json!({"action": "write_off", "invoice": f.billing.open_invoice,
                   "reason": "x", "reason_code": "bad_debt"}),
            "invoice",
        ),
        (
            "POST",
            format!("/v1/tickets/{b_ticket}/actions"),
            json!({"action": "refund", "payment": f.billing.payment, "amount": 100,
                   "reason": "x", "reason_code": "requested_by_customer"}),
            "payment",
        ),
        (
            "POST",
            format!("/v1/tickets/{b_ticket}/actions"),
            json!({"action": "discount", "coupon": f.billing.coupon, "amount": 100,
                   "reason": "x", "reason_code": "retention"}),
            "coupon",
        ),
        (
            "POST",
            "/v1/calls".into(),
            json!({"phone_number": "+49301111111", "ticket": f.ticket, "started_at": now}),
            "ticket",
        ),
        (
            "POST",
            "/v1/calls".into(),
            json!({"phone_number": "+49301111111", "customer": f.billing.customer,
                   "started_at": now}),
            "customer",
        ),
        (
            "POST",
            "/v1/telephony/events".into(),
            json!({"call_id": "b-new-call", "type": "started", "at": now, "ticket": f.ticket}),
            "ticket",
        ),
        (
            "POST",
            "/v1/telephony/events".into(),
            json!({"call_id": "b-new-call", "type": "started", "at": now, "agent": f.agent_id}),
            "agent",
        ),
    ];
    for (method, path, body, param) in &body_refs {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = b_admin.send(m, path, Some(body.clone()), None).await;
        assert_eq!(r.status.as_u16(), 400, "{method} {path} {body}: {}", r.text);
        assert_eq!(
            r.json["error"]["param"], *param,
            "{method} {path} {body}: {}",
            r.text
        );
    }
    let r = b_admin
        .get(&format!("/v1/kpis?{q}&agent={}", f.agent_id))
        .await;
    r.err_param(400, "parameter_invalid", "agent");
    // Round-robin among B's team never picks A's online agent.
    b_admin
        .post(
            &format!("/v1/tickets/{b_ticket}"),
            json!({"assignee": "round_robin"}),
        )
        .await
        .err(409, "no_agent_available");
    // Mentioning A's staff in B's note makes nobody a watcher.
    let noted = b_admin
        .post(
            &format!("/v1/tickets/{b_ticket}/notes"),
            json!({"body": format!("@{} @{} have a look", f.agent_id, f.staff_email)}),
        )
        .await
        .ok();
    assert!(noted["watchers"].as_array().unwrap().is_empty(), "{noted}");

    // ---- Settings of the same name stay per organisation.
    b_admin
        .post(
            "/v1/macros",
            json!({"name": "a_only_greeting", "locale": "en", "body": "B's text"}),
        )
        .await
        .ok();
    b_admin
        .post(
            "/v1/settings/sla_policies",
            json!({"name": "B default", "first_response_secs": 60, "resolution_secs": 120}),
        )
        .await
        .ok();
    b_admin
        .post(
            "/v1/settings/calendars",
            json!({"name": "B hours", "time_zone": "Asia/Tokyo",
                   "hours": {"sat": ["10:00-11:00"]}, "teams": ["billing", "sales"]}),
        )
        .await
        .ok();
    b_admin
        .post(
            "/v1/settings/authority_limits",
            json!({"limits": [{"role": "agent", "action": "goodwill_credit",
                               "currency": "EUR", "limit": 1_000_000}]}),
        )
        .await
        .ok();
    // B's staff user with A's staff email is B's own; A's password does not log into B.
    b.post(
        "/v1/staff",
        json!({"email": f.staff_email, "name": "B's namesake", "role": "agent",
               "password": "another password 2"}),
    )
    .await
    .ok();
    let r = b
        .post(
            "/v1/sessions",
            json!({"organisation": b.org_id, "email": f.staff_email, "password": PASSWORD}),
        )
        .await;
    r.err(401, "invalid_api_key");
    let r = b
        .post(
            "/v1/sessions",
            json!({"organisation": a.org_id, "email": "admin@b.example", "password": PASSWORD}),
        )
        .await;
    r.err(401, "invalid_api_key");

    // ---- Inbound mail to B never threads onto A's tickets.
    let a_tickets: BTreeSet<String> = a.ids("/v1/tickets").await.into_iter().collect();
    let mails = vec![
        // A reply naming A's Message-IDs in In-Reply-To / References.
        mime(
            "Jane <jane@a.example>",
            "Re: Invoice wrong",
            "b-1@a.example",
            &format!(
                "In-Reply-To: <{}>\r\nReferences: <{}> <{}>\r\n",
                f.reply_message_id, f.message_id, f.reply_message_id
            ),
            "Following up.",
        ),
        // A's ticket number in the subject, from A's requester.
        mime(
            "jane@a.example",
            "[#T-1] still wrong",
            "b-2@a.example",
            "",
            "Any news?",
        ),
        mime(
            "jane@a.example",
            "Re: rating",
            "b-3@a.example",
            &format!("In-Reply-To: <{}>\r\n", f.message_id),
            "And another thing.",
        ),
        // A's very message, same Message-ID: not a duplicate in B.
        mime_with_attachment("Jane <jane@a.example>", "Invoice wrong", &f.message_id),
    ];
    for raw in mails {
        for who in [&b, &b_admin] {
            let got = inbound(who, raw.clone()).await;
            let t = s(&got["ticket"]);
            assert!(!a_tickets.contains(&t), "B's mail landed on A's {t}: {got}");
            assert!(got["customer"].is_null(), "matched A's customer: {got}");
            if who.key == b.key {
                assert_eq!(got["outcome"], "new_ticket", "{got}");
            } else {
                // The same mail again is B's duplicate, of B's ticket.
                assert_eq!(got["outcome"], "duplicate", "{got}");
            }
            b.get(&format!("/v1/tickets/{t}")).await.ok();
        }
    }
    // B's attachment of the same file is B's; A's id stays A's.
    let newest = b.get("/v1/tickets?limit=1").await.ok();
    let b_copy = b
        .get(&format!("/v1/tickets/{}", s(&newest["data"][0]["id"])))
        .await
        .ok();
    let b_att = s(&b_copy["attachments"][0]["id"]);
    assert_ne!(b_att, f.attachment);
    let r = b.get(&format!("/v1/attachments/{b_att}")).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);

    // ---- Calls: A's provider call id reused by B is B's own call.
    let tel = b_admin
        .post(
            "/v1/telephony/events",
            json!({"call_id": f.call_id, "type": "ended", "at": "2026-01-05T10:05:00Z",
                   "from": "+49301111111"}),
        )
        .await
        .ok();
    assert_ne!(tel["id"], f.telephony_call.as_str());
    assert!(tel["customer"].is_null(), "{tel}");
    assert!(!a_tickets.contains(&s(&tel["ticket"])));
    assert_eq!(tel["talk_secs"], 0, "{tel}");

    // ---- CSAT: A's token answers A's survey only, and only once; B's answers count for B.
    let http = a.http.clone();
    let answer = |token: String, rating: i64| {
        let req = http
            .post(format!("{}/v1/csat/{token}", a.base))
            .bearer_auth(&b.key)
            .json(&json!({"rating": rating}));
        async move { common::into_resp(req.send().await.unwrap()).await }
    };
    answer(f.csat_token.clone(), 1)
        .await
        .err(409, "survey_already_answered");
    // The token with its last character changed (to one it is not).
    let last = if f.csat_token.ends_with('x') {
        "y"
    } else {
        "x"
    };
    let guessed = format!("{}{last}", &f.csat_token[..f.csat_token.len() - 1]);
    answer(guessed, 1).await.err(404, "resource_missing");
    let b_resolved = b_admin
        .post(
            "/v1/tickets",
            json!({"subject": "B thanks", "requester_email": "bob@b.example"}),
        )
        .await
        .ok();
    let b_resolved = b_admin
        .post(
            &format!("/v1/tickets/{}/replies", s(&b_resolved["id"])),
            json!({"body": "Done.", "status": "resolved"}),
        )
        .await
        .ok();
    let b_token = csat_token(&b_resolved);
    assert_ne!(b_token, f.csat_token);
    answer(b_token, 1).await.ok();
    let k = b.get(&format!("/v1/kpis?{q}")).await.ok();
    assert_eq!(k["csat"]["numerator"], 0, "{k}");
    assert_eq!(k["csat"]["denominator"], 1, "{k}");
    let k = a.get(&format!("/v1/kpis?{q}")).await.ok();
    assert_eq!(k["csat"]["numerator"], 1, "{k}");
    assert_eq!(k["csat"]["denominator"], 1, "{k}");

    // ---- A session of A used on B's objects: 404; it acts in A only.
    let b_staff_ids: Vec<String> = b
        .get("/v1/staff")
        .await
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|x| s(&x["id"]))
        .collect();
    for (method, path, body) in [
        ("GET", format!("/v1/tickets/{b_ticket}"), None),
        (
            "POST",
            format!("/v1/tickets/{b_ticket}"),
            Some(json!({"priority": "low"})),
        ),
        (
            "POST",
            format!("/v1/tickets/{b_ticket}/replies"),
            Some(json!({"body": "from A"})),
        ),
        (
            "POST",
            format!("/v1/tickets/{b_ticket}/merge"),
            Some(json!({"into": f.other_ticket})),
        ),
        ("GET", format!("/v1/tickets/{b_ticket}/actions"), None),
        (
            "POST",
            format!("/v1/staff/{b_admin_id}"),
            Some(json!({"active": false})),
        ),
        ("GET", format!("/v1/customers/{b_customer}"), None),
        (
            "POST",
            format!("/v1/customers/{b_customer}"),
            Some(json!({"name": "Hijacked by A's session"})),
        ),
        (
            "GET",
            format!("/v1/customers/{b_customer}/payment_details"),
            None,
        ),
    ] {
        for who in [&f.admin, &f.agent] {
            if who.key == f.agent.key && path.starts_with("/v1/staff/") {
                continue;
            }
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let r = who.send(m, &path, body.clone(), None).await;
            // A non-admin session may only read billing records: its change is refused
            // before any lookup.
            let billing_write = method == "POST" && path.starts_with("/v1/customers/");
            let expected = if who.key == f.agent.key && billing_write {
                403
            } else {
                404
            };
            assert_eq!(
                r.status.as_u16(),
                expected,
                "{method} {path} by A's session: {}",
                r.text
            );
        }
    }
    assert!(f
        .admin
        .ids("/v1/tickets")
        .await
        .iter()
        .all(|t| a_tickets.contains(t)));
    assert!(f
        .admin
        .ids("/v1/customers")
        .await
        .iter()
        .all(|c| *c != b_customer));
    assert!(b_staff_ids.iter().all(|id| *id != f.agent_id));

    // ---- B's lists and filters show nothing of A.
    let b_tickets = b.ids("/v1/tickets").await;
    assert!(!b_tickets.is_empty());
    assert!(b_tickets.iter().all(|t| !a_tickets.contains(t)));
    for path in [
        format!("/v1/tickets?customer={}", f.billing.customer),
        format!("/v1/tickets?assignee={}", f.agent_id),
    ] {
        assert!(b.ids(&path).await.is_empty(), "{path}");
    }
    let staff = b.get("/v1/staff").await.ok();
    assert!(staff
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["email"] != "admin@a.example" && x["id"] != f.agent_id.as_str()));
    let macros = b.get("/v1/macros").await.ok();
    assert_eq!(macros.as_array().unwrap().len(), 1);
    assert_eq!(macros[0]["body"], "B's text");
    let policies = b.get("/v1/settings/sla_policies").await.ok();
    assert_eq!(policies.as_array().unwrap().len(), 1);
    assert_eq!(policies[0]["name"], "B default");
    assert!(b_finance
        .get("/v1/approvals")
        .await
        .ok()
        .as_array()
        .unwrap()
        .is_empty());
    let a_ids: BTreeSet<String> = a_tickets
        .iter()
        .cloned()
        .chain([
            f.agent_id.clone(),
            f.pending_action.clone(),
            f.call.clone(),
            f.telephony_call.clone(),
            f.verification.clone(),
            f.billing.customer.clone(),
            a.org_id.clone(),
        ])
        .collect();
    let log = b_admin.get("/v1/audit_log?limit=100").await.ok();
    let entries = log["data"].as_array().unwrap();
    assert!(!entries.is_empty());
    for e in entries {
        assert!(
            !a_ids.contains(e["object_id"].as_str().unwrap()),
            "B's audit log shows A's object: {e}"
        );
        assert!(!e.to_string().contains(&f.agent_id), "{e}");
    }
    for id in [&f.ticket, &f.pending_action, &f.agent_id] {
        let page = b.get(&format!("/v1/audit_log?object={id}")).await.ok();
        assert!(page["data"].as_array().unwrap().is_empty(), "{id}: {page}");
    }

    // ---- Nothing of A changed.
    assert_eq!(desk_snapshot(&a, &f).await, before);
    // A's agent's session still works after B's admin logged out.
    let r = b_admin.delete("/v1/sessions/current").await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    b_admin.get("/v1/tickets").await.err(401, "invalid_api_key");
    assert_eq!(f.agent.ids("/v1/tickets").await.len(), a_tickets.len());
    // A's pending action is still A's to decide, and A's verification A's to confirm.
    let (a_senior, _) = staff_session(&a, "senior@a.example", "senior_agent").await;
    let done = a_senior
        .post(
            &format!("/v1/approvals/{}/approve", f.pending_action),
            json!({}),
        )
        .await
        .ok();
    assert_eq!(done["status"], "executed", "{done}");
}
