//! Bad input: each request is a 4xx whose `error.param` names the field, and nothing is
//! half-written (every list count is the same before and after).

mod common;

use common::{s, Client};
use serde_json::json;

/// A EUR customer, a USD customer, a monthly EUR-only price, a yearly EUR price, a USD
/// amount-off coupon.
struct World {
    eur_customer: String,
    usd_customer: String,
    monthly: String,
    yearly: String,
    usd_coupon: String,
}

async fn world(c: &Client) -> World {
    let (eur_customer, product, _) = common::basics(c).await;
    let usd = c
        .post(
            "/v1/customers",
            json!({"name": "Dollar Inc", "currency": "USD"}),
        )
        .await
        .ok();
    let monthly = c
        .post(
            "/v1/prices",
            json!({"product": product, "model": "per_unit", "recurring": {"interval": "month"},
                   "currency_amounts": {"EUR": {"unit_amount": 100}}}),
        )
        .await
        .ok();
    let yearly = c
        .post(
            "/v1/prices",
            json!({"product": product, "model": "flat", "recurring": {"interval": "year"},
                   "currency_amounts": {"EUR": {"amount": 10000}}}),
        )
        .await
        .ok();
    let coupon = c
        .post(
            "/v1/coupons",
            json!({"name": "USD off", "amount_off": 100, "currency": "USD", "duration": "once"}),
        )
        .await
        .ok();
    World {
        eur_customer,
        usd_customer: s(&usd["id"]),
        monthly: s(&monthly["id"]),
        yearly: s(&yearly["id"]),
        usd_coupon: s(&coupon["id"]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_name_the_field_and_write_nothing() {
    let srv = common::sqlite().await;
    let c = srv.org("Bad Input").await;
    let w = world(&c).await;
    let before = c.counts().await;

    // Malformed JSON, both through the plain and the idempotent body paths.
    for path in [
        "/v1/customers",
        "/v1/subscriptions",
        "/v1/invoices",
        "/v1/credit_notes",
    ] {
        let r = c
            .post_raw(path, b"{not json".to_vec(), Some("application/json"))
            .await;
        r.err(400, "json_invalid");
        assert_eq!(r.json["error"]["type"], "invalid_request_error");
    }

    // Truncated JSON.
    c.post_raw(
        "/v1/customers",
        b"{\"name\": \"x\", \"currency\": ".to_vec(),
        Some("application/json"),
    )
    .await
    .err(400, "json_invalid");

    // Wrong types.
    c.post("/v1/customers", json!({"name": 1, "currency": "EUR"}))
        .await
        .err_param(400, "parameter_invalid", "name");
    c.post(
        "/v1/customers",
        json!({"name": "x", "currency": "EUR", "tax_exempt": "yes"}),
    )
    .await
    .err_param(400, "parameter_invalid", "tax_exempt");
    c.post(
        "/v1/customers",
        json!({"name": "x", "currency": "EUR", "address": {"country": 49}}),
    )
    .await
    .err_param(400, "parameter_invalid", "address.country");
    c.post(
        "/v1/subscriptions",
        json!({"customer": w.eur_customer, "items": [{"price": w.monthly, "quantity": "two"}]}),
    )
    .await
    .err_param(400, "parameter_invalid", "items[0].quantity");
    c.post(
        "/v1/subscriptions",
        json!({"customer": w.eur_customer, "items": [{"price": w.monthly, "quantity": 1.5}]}),
    )
    .await
    .err_param(400, "parameter_invalid", "items[0].quantity");

    // Unknown fields.
    c.post(
        "/v1/customers",
        json!({"name": "x", "currency": "EUR", "colour": "red"}),
    )
    .await
    .err_param(400, "parameter_invalid", "colour");
    c.post(
        "/v1/subscriptions",
        json!({"customer": w.eur_customer, "items": [{"price": w.monthly, "qty": 1}]}),
    )
    .await
    .err_param(400, "parameter_invalid", "items[0].qty");
    c.post("/v1/products", json!({"name": "x", "price": 100}))
        .await
        .err_param(400, "parameter_invalid", "price");

    // Missing required fields.
    c.post("/v1/customers", json!({"name": "x"}))
        .await
        .err_param(400, "parameter_invalid", "currency");
    c.post(
        "/v1/subscriptions",
        json!({"customer": w.eur_customer, "items": [{"quantity": 1}]}),
    )
    .await
    .err_param(400, "parameter_invalid", "items[0].price");
    c.post("/v1/subscriptions", json!({"customer": w.eur_customer}))
        .await
        .err_param(400, "parameter_invalid", "items");
    c.post(
        "/v1/subscriptions",
        json!({"customer": w.eur_customer, "items": []}),
    )
    .await
    .err_param(400, "parameter_missing", "items");
    c.post(
        "/v1/invoices",
        json!({"customer": w.eur_customer, "lines": []}),
    )
    .await
    .err_param(400, "parameter_missing", "lines");
    c.post(
        "/v1/invoices",
        json!({"customer": w.eur_customer, "lines": [{"amount": 100}]}),
    )
    .await
    .err_param(400, "parameter_missing", "lines[0].description");
    c.post("/v1/credit_notes", json!({"reason": "goodwill"}))
        .await
        .err_param(400, "parameter_invalid", "invoice");

    // Invalid values.
    c.post("/v1/customers", json!({"name": "x", "currency": "EURO"}))
        .await
        .err_param(400, "parameter_invalid", "currency");
    c.post(
        "/v1/customers",
        json!({"name": "x", "currency": "EUR", "email": "not an email"}),
    )
    .await
    .err_param(400, "parameter_invalid", "email");
    c.post(
        "/v1/customers",
        json!({"name": "x", "currency": "EUR", "time_zone": "Mars/Olympus"}),
    )
    .await
    .err_param(400, "parameter_invalid", "time_zone");
    c.post(
        "/v1/prices",
        json!({"product": "prod_0000nothere", "model": "flat",
               "currency_amounts": {"EUR": {"amount": 1}}}),
    )
    .await
    .err(404, "resource_missing");
    let product = c.ids("/v1/products").await[0].clone();
    c.post(
        "/v1/prices",
        json!({"product": product, "model": "flat", "currency_amounts": {"EUR": {"amount": -5}}}),
    )
    .await
    .err_param(400, "parameter_invalid", "currency_amounts.EUR.amount");
    c.post(
        "/v1/prices",
        json!({"product": product, "model": "per_unit", "currency_amounts": {"EUR": {"amount": 5}}}),
    )
    .await
    .err_param(400, "parameter_missing", "currency_amounts.EUR.unit_amount");
    c.post(
        "/v1/prices",
        json!({"product": product, "model": "flat", "recurring": {"interval": "fortnight"},
               "currency_amounts": {"EUR": {"amount": 5}}}),
    )
    .await
    .err_param(400, "parameter_invalid", "recurring.interval");
    c.post(
        "/v1/prices",
        json!({"product": product, "model": "graduated",
               "currency_amounts": {"EUR": {"tiers": [{"up_to": 5, "unit_amount": 1}]}}}),
    )
    .await
    .err_param(400, "parameter_invalid", "currency_amounts.EUR");
    c.post(
        "/v1/coupons",
        json!({"name": "x", "percent_off": 150, "duration": "once"}),
    )
    .await
    .err_param(400, "parameter_invalid", "percent_off");
    c.post(
        "/v1/tax_rates",
        json!({"display_name": "x", "percentage": -1, "country": "DE"}),
    )
    .await
    .err_param(400, "parameter_invalid", "percentage");

    // Unknown ids: 404, well-formed or not.
    c.get("/v1/customers/cus_0000nothere")
        .await
        .err(404, "resource_missing");
    c.get("/v1/invoices/inv_0000nothere")
        .await
        .err(404, "resource_missing");
    c.get("/v1/subscriptions/sub_0000nothere")
        .await
        .err(404, "resource_missing");
    c.get("/v1/credit_notes/cn_0000nothere")
        .await
        .err(404, "resource_missing");
    c.get("/v1/customers/not-an-id")
        .await
        .err_param(400, "parameter_invalid", "id");
    c.post(
        "/v1/subscriptions",
        json!({"customer": "cus_0000nothere", "items": [{"price": w.monthly}]}),
    )
    .await
    .err(404, "resource_missing");
    c.post(
        "/v1/subscriptions",
        json!({"customer": w.eur_customer, "items": [{"price": "price_0000nothere"}]}),
    )
    .await
    .err(404, "resource_missing");
    c.post(
        "/v1/subscriptions",
        json!({"customer": w.eur_customer, "items": [{"price": w.monthly}], "coupon": "coup_0000nothere"}),
    )
    .await
    .err(404, "resource_missing");
    c.post(
        "/v1/invoices",
        json!({"customer": w.eur_customer, "lines": [{"price": "price_0000nothere"}]}),
    )
    .await
    .err(404, "resource_missing");
    c.post(
        "/v1/credit_notes",
        json!({"invoice": "inv_0000nothere", "reason": "goodwill"}),
    )
    .await
    .err(404, "resource_missing");
    c.post("/v1/invoices/inv_0000nothere/finalize", json!({}))
        .await
        .err(404, "resource_missing");

    // A price without an amount in the customer's currency.
    c.post(
        "/v1/subscriptions",
        json!({"customer": w.usd_customer, "items": [{"price": w.monthly}]}),
    )
    .await
    .err_param(400, "parameter_invalid", "items[0].price");
    c.post(
        "/v1/invoices",
        json!({"customer": w.usd_customer, "lines": [{"price": w.monthly}]}),
    )
    .await
    .err_param(400, "parameter_invalid", "lines[0].price");
    c.post(
        "/v1/invoices",
        json!({"customer": w.usd_customer, "currency": "EUR",
               "lines": [{"description": "x", "amount": 1}]}),
    )
    .await
    .err_param(400, "parameter_invalid", "currency");

    // A coupon in another currency.
    c.post(
        "/v1/subscriptions",
        json!({"customer": w.eur_customer, "items": [{"price": w.monthly}], "coupon": w.usd_coupon}),
    )
    .await
    .err_param(400, "parameter_invalid", "coupon");
    c.post(
        "/v1/invoices",
        json!({"customer": w.eur_customer, "coupons": [w.usd_coupon],
               "lines": [{"description": "x", "amount": 100}]}),
    )
    .await
    .err_param(400, "parameter_invalid", "coupons[0]");
    c.post(
        &format!("/v1/customers/{}/discounts", w.eur_customer),
        json!({"coupon": w.usd_coupon}),
    )
    .await
    .err_param(400, "parameter_invalid", "coupon");

    // Negative and absurd quantities.
    for q in [json!(-1), json!(1_000_001), json!(1_000_000_000_000i64)] {
        c.post(
            "/v1/subscriptions",
            json!({"customer": w.eur_customer, "items": [{"price": w.monthly, "quantity": q}]}),
        )
        .await
        .err_param(400, "parameter_invalid", "items[0].quantity");
    }
    let raw = format!(
        "{{\"customer\": \"{}\", \"items\": [{{\"price\": \"{}\", \"quantity\": 99999999999999999999}}]}}",
        w.eur_customer, w.monthly
    );
    c.post_raw(
        "/v1/subscriptions",
        raw.into_bytes(),
        Some("application/json"),
    )
    .await
    .err_param(400, "parameter_invalid", "items[0].quantity");
    for q in [json!(-1), json!(1_000_000_000_001i64)] {
        c.post(
            "/v1/invoices",
            json!({"customer": w.eur_customer,
                   "lines": [{"price": w.monthly, "quantity": q}]}),
        )
        .await
        .err_param(400, "parameter_invalid", "lines[0].quantity");
    }
    c.post(
        "/v1/invoices",
        json!({"customer": w.eur_customer,
               "lines": [{"description": "huge", "amount": 100_000_000_000_000i64, "quantity": 1_000_000}]}),
    )
    .await
    .err_param(400, "parameter_invalid", "lines[0].amount");

    // Items with different intervals.
    c.post(
        "/v1/subscriptions",
        json!({"customer": w.eur_customer,
               "items": [{"price": w.monthly}, {"price": w.yearly}]}),
    )
    .await
    .err_param(400, "parameter_invalid", "items[1].price");

    // Oversize bodies, through both body paths.
    let big = format!(
        "{{\"name\": \"{}\", \"currency\": \"EUR\"}}",
        "x".repeat(300 * 1024)
    );
    for path in ["/v1/customers", "/v1/subscriptions", "/v1/invoices"] {
        let r = c
            .post_raw(path, big.clone().into_bytes(), Some("application/json"))
            .await;
        r.err(413, "body_too_large");
    }

    // Missing or wrong Content-Type, through both body paths.
    let body = json!({"name": "No type", "currency": "EUR"}).to_string();
    c.post_raw("/v1/customers", body.clone().into_bytes(), None)
        .await
        .err(415, "content_type_invalid");
    c.post_raw("/v1/customers", body.into_bytes(), Some("text/plain"))
        .await
        .err(415, "content_type_invalid");
    let body = json!({"customer": w.eur_customer, "items": [{"price": w.monthly}]}).to_string();
    c.post_raw("/v1/subscriptions", body.clone().into_bytes(), None)
        .await
        .err(415, "content_type_invalid");
    c.post_raw("/v1/subscriptions", body.into_bytes(), Some("text/plain"))
        .await
        .err(415, "content_type_invalid");

    // Nothing of all that was written.
    assert_eq!(c.counts().await, before);

    // An invoice action without a body at all is fine (and this one moves money).
    let draft = c
        .post(
            "/v1/invoices",
            json!({"customer": w.eur_customer, "lines": [{"description": "x", "amount": 100}]}),
        )
        .await
        .ok();
    let r = c
        .post_raw(
            &format!("/v1/invoices/{}/finalize", s(&draft["id"])),
            Vec::new(),
            None,
        )
        .await;
    assert_eq!(r.ok()["status"], "open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_name_the_parameter() {
    let srv = common::sqlite().await;
    let c = srv.org("Bad Query").await;
    for list in [
        "/v1/customers",
        "/v1/products",
        "/v1/prices",
        "/v1/coupons",
        "/v1/subscriptions",
        "/v1/invoices",
        "/v1/credit_notes",
        "/v1/ledger_entries",
    ] {
        for limit in ["0", "1000", "-1"] {
            c.get(&format!("{list}?limit={limit}")).await.err_param(
                400,
                "parameter_invalid",
                "limit",
            );
        }
        c.get(&format!("{list}?limit=100")).await.ok();
        c.get(&format!("{list}?limit=1")).await.ok();
    }
    c.get("/v1/invoices?status=bogus")
        .await
        .err_param(400, "parameter_invalid", "status");
    c.get("/v1/subscriptions?status=bogus")
        .await
        .err_param(400, "parameter_invalid", "status");
    for ok in ["draft", "open", "paid", "void", "uncollectible"] {
        c.get(&format!("/v1/invoices?status={ok}")).await.ok();
    }
    for ok in ["trialing", "active", "past_due", "canceled"] {
        c.get(&format!("/v1/subscriptions?status={ok}")).await.ok();
    }
    // An unknown query parameter is refused, not ignored.
    let r = c.get("/v1/customers?colour=red").await;
    r.err(400, "parameter_invalid");
    let r = c.get("/v1/customers?limit=ten").await;
    r.err(400, "parameter_invalid");
}
