//! The whole API flow over HTTP against the real server, on SQLite and on PostgreSQL, and
//! authentication.

mod common;

use chrono::{Duration, Utc};
use common::{s, Client, Server};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use store::Backend;

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| s(&d["id"]))
        .collect()
}

async fn full_flow(srv: Server) {
    let c: Client = srv.org("Flow AG").await;

    // --- tax rate -----------------------------------------------------------------------
    let tax = c
        .post(
            "/v1/tax_rates",
            json!({"display_name": "USt", "percentage": 19, "country": "de"}),
        )
        .await
        .ok();
    assert_eq!(tax["percentage"], "19");
    assert_eq!(tax["country"], "DE");
    let taxes = c.get("/v1/tax_rates").await.ok();
    assert_eq!(ids(&taxes), vec![s(&tax["id"])]);

    // --- customers ----------------------------------------------------------------------
    let cus1 = c
        .post(
            "/v1/customers",
            json!({"name": "Acme GmbH", "currency": "eur", "email": "billing@acme.example",
                   "address": {"country": "de", "city": "Berlin"},
                   "metadata": {"crm": "42"}}),
        )
        .await
        .ok();
    assert_eq!(cus1["object"], "customer");
    assert_eq!(cus1["currency"], "EUR");
    assert_eq!(cus1["address"]["country"], "DE");
    assert_eq!(cus1["time_zone"], "UTC");
    assert_eq!(cus1["credit_balance"], 0);
    let cus1_id = s(&cus1["id"]);
    assert!(cus1_id.starts_with("cus_"), "{cus1_id}");
    let cus2 = c
        .post(
            "/v1/customers",
            json!({"name": "Bolt Ltd", "currency": "EUR", "address": {"country": "DE"}}),
        )
        .await
        .ok();
    let cus2_id = s(&cus2["id"]);
    let cus3 = c
        .post(
            "/v1/customers",
            json!({"name": "Crane Inc", "currency": "USD", "external_id": "crm-3"}),
        )
        .await
        .ok();
    let cus3_id = s(&cus3["id"]);

    let upd = c
        .post(
            &format!("/v1/customers/{cus1_id}"),
            json!({"name": "Acme Berlin GmbH", "phone": "+49 30 1234"}),
        )
        .await
        .ok();
    assert_eq!(upd["name"], "Acme Berlin GmbH");
    assert_eq!(upd["phone"], "+49 30 1234");
    assert_eq!(upd["email"], "billing@acme.example");
    let got = c.get(&format!("/v1/customers/{cus1_id}")).await.ok();
    assert_eq!(got["name"], "Acme Berlin GmbH");
    assert_eq!(got["metadata"]["crm"], "42");

    let contact = c
        .post(
            &format!("/v1/customers/{cus1_id}/contacts"),
            json!({"name": "Ann", "email": "ann@acme.example", "role": "technical"}),
        )
        .await
        .ok();
    assert_eq!(contact["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(contact["contacts"][0]["role"], "technical");

    let p1 = c.get("/v1/customers?limit=2").await.ok();
    assert_eq!(p1["object"], "list");
    assert_eq!(p1["has_more"], true);
    let first = ids(&p1);
    assert_eq!(first.len(), 2);
    let p2 = c
        .get(&format!(
            "/v1/customers?limit=2&starting_after={}",
            first[1]
        ))
        .await
        .ok();
    assert_eq!(p2["has_more"], false);
    let second = ids(&p2);
    assert_eq!(second.len(), 1);
    let all: BTreeSet<String> = first.iter().chain(&second).cloned().collect();
    assert_eq!(
        all,
        BTreeSet::from([cus1_id.clone(), cus2_id.clone(), cus3_id.clone()])
    );
    let found = c.get("/v1/customers?q=acme").await.ok();
    assert_eq!(ids(&found), vec![cus1_id.clone()]);
    let found = c.get("/v1/customers?q=crm-3").await.ok();
    assert_eq!(ids(&found), vec![cus3_id.clone()]);
    let found = c.get("/v1/customers?q=nobody-like-this").await.ok();
    assert!(ids(&found).is_empty());

    // --- products -----------------------------------------------------------------------
    let prod = c
        .post(
            "/v1/products",
            json!({"name": "Pro", "description": "The pro plan"}),
        )
        .await
        .ok();
    let prod_id = s(&prod["id"]);
    assert!(prod_id.starts_with("prod_"), "{prod_id}");
    assert_eq!(prod["active"], true);
    let prod = c
        .post(
            &format!("/v1/products/{prod_id}"),
            json!({"description": "Pro, yearly or monthly"}),
        )
        .await
        .ok();
    assert_eq!(prod["name"], "Pro");
    assert_eq!(prod["description"], "Pro, yearly or monthly");
    let got = c.get(&format!("/v1/products/{prod_id}")).await.ok();
    assert_eq!(got["description"], "Pro, yearly or monthly");
    let seats = c.post("/v1/products", json!({"name": "Seats"})).await.ok();
    let seats_id = s(&seats["id"]);
    let prods = c.get("/v1/products").await.ok();
    assert_eq!(
        ids(&prods).into_iter().collect::<BTreeSet<_>>(),
        BTreeSet::from([prod_id.clone(), seats_id.clone()])
    );

    // --- prices, every model ------------------------------------------------------------
    let monthly = json!({"interval": "month"});
    let flat = c
        .post(
            "/v1/prices",
            json!({"product": prod_id, "model": "flat", "recurring": monthly, "nickname": "base",
                   "currency_amounts": {"EUR": {"amount": 1000}, "USD": {"amount": 1200}}}),
        )
        .await
        .ok();
    let flat_id = s(&flat["id"]);
    assert_eq!(flat["type"], "recurring");
    assert_eq!(flat["recurring"]["interval"], "month");
    assert_eq!(flat["recurring"]["interval_count"], 1);
    assert_eq!(flat["currency_amounts"]["EUR"]["model"], "flat");
    assert_eq!(flat["currency_amounts"]["EUR"]["amount"], "1000");
    assert_eq!(flat["currency_amounts"]["USD"]["amount"], "1200");
    let per_unit = c
        .post(
            "/v1/prices",
            json!({"product": seats_id, "model": "per_unit", "recurring": monthly,
                   "currency_amounts": {"EUR": {"unit_amount": 1000}}}),
        )
        .await
        .ok();
    let per_unit_id = s(&per_unit["id"]);
    assert_eq!(per_unit["currency_amounts"]["EUR"]["unit_amount"], "1000");
    let graduated = c
        .post(
            "/v1/prices",
            json!({"product": seats_id, "model": "graduated", "recurring": monthly,
                   "currency_amounts": {"EUR": {"tiers": [
                       {"up_to": 10, "unit_amount": 500},
                       {"unit_amount_decimal": "250.5", "flat_amount": 100}]}}}),
        )
        .await
        .ok();
    assert_eq!(graduated["model"], "graduated");
    assert_eq!(
        graduated["currency_amounts"]["EUR"]["tiers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        graduated["currency_amounts"]["EUR"]["tiers"][1]["unit_amount"],
        "250.5"
    );
    let volume = c
        .post(
            "/v1/prices",
            json!({"product": seats_id, "model": "volume", "recurring": monthly,
                   "currency_amounts": {"EUR": {"tiers": [
                       {"up_to": 5, "unit_amount": 900}, {"up_to": null, "unit_amount": 700}]}}}),
        )
        .await
        .ok();
    assert_eq!(volume["model"], "volume");
    let package = c
        .post(
            "/v1/prices",
            json!({"product": seats_id, "model": "package", "recurring": monthly,
                   "currency_amounts": {"EUR": {"amount": 1000, "package_size": 5}}}),
        )
        .await
        .ok();
    assert_eq!(package["currency_amounts"]["EUR"]["package_size"], 5);
    let one_time = c
        .post(
            "/v1/prices",
            json!({"product": prod_id, "model": "per_unit", "tax_behavior": "exclusive",
                   "currency_amounts": {"EUR": {"unit_amount_decimal": "1500"}}}),
        )
        .await
        .ok();
    let one_time_id = s(&one_time["id"]);
    assert_eq!(one_time["type"], "one_time");
    assert_eq!(one_time["recurring"], Value::Null);

    let got = c
        .get(&format!("/v1/prices/{}", s(&volume["id"])))
        .await
        .ok();
    assert_eq!(
        got["currency_amounts"]["EUR"]["tiers"][1]["unit_amount"],
        "700"
    );
    let renamed = c
        .post(
            &format!("/v1/prices/{}", s(&package["id"])),
            json!({"nickname": "five-pack"}),
        )
        .await
        .ok();
    assert_eq!(renamed["nickname"], "five-pack");
    assert_eq!(renamed["active"], true);
    let by_product = c.get(&format!("/v1/prices?product={seats_id}")).await.ok();
    assert_eq!(ids(&by_product).len(), 4);
    // An unused price can be deleted.
    let del = c
        .delete(&format!("/v1/prices/{}", s(&package["id"])))
        .await
        .ok();
    assert_eq!(del["deleted"], true);
    c.get(&format!("/v1/prices/{}", s(&package["id"])))
        .await
        .err(404, "resource_missing");
    assert_eq!(c.count("/v1/prices").await, 5);

    // --- coupons ------------------------------------------------------------------------
    let pct = c
        .post(
            "/v1/coupons",
            json!({"name": "Ten", "percent_off": 10, "duration": "forever"}),
        )
        .await
        .ok();
    let pct_id = s(&pct["id"]);
    assert_eq!(pct["percent_off"], "10");
    let off = c
        .post(
            "/v1/coupons",
            json!({"name": "Fiver", "amount_off": 500, "currency": "eur", "duration": "once"}),
        )
        .await
        .ok();
    let off_id = s(&off["id"]);
    assert_eq!(off["currency"], "EUR");
    let got = c.get(&format!("/v1/coupons/{off_id}")).await.ok();
    assert_eq!(got["amount_off"], 500);
    assert_eq!(c.count("/v1/coupons").await, 2);

    // --- subscriptions ------------------------------------------------------------------
    let sub1 = c
        .post(
            "/v1/subscriptions",
            json!({"customer": cus1_id, "coupon": pct_id,
                   "items": [{"price": flat_id}, {"price": per_unit_id, "quantity": 2}]}),
        )
        .await
        .ok();
    let sub1_id = s(&sub1["id"]);
    assert_eq!(sub1["status"], "active");
    assert_eq!(sub1["currency"], "EUR");
    assert_eq!(sub1["items"].as_array().unwrap().len(), 2);
    let inv1 = &sub1["latest_invoice"];
    assert_eq!(inv1["status"], "open");
    assert_eq!(inv1["billing_reason"], "subscription_create");
    assert_eq!(inv1["subscription"], sub1_id.as_str());
    assert_eq!(inv1["subtotal"], 3000);
    assert_eq!(inv1["total_discount"], 300);
    assert_eq!(inv1["total_tax"], 513);
    assert_eq!(inv1["total"], 3213);
    assert_eq!(inv1["amount_due"], 3213);
    assert!(s(&inv1["number"]).starts_with("INV-"), "{inv1}");
    let inv1_id = s(&inv1["id"]);
    let item_seats = sub1["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["price"] == per_unit_id.as_str())
        .map(|i| s(&i["id"]))
        .unwrap();
    let flat_line = inv1["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["price"] == flat_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(flat_line["amount"], 1000);
    assert_eq!(flat_line["total"], 1071);

    // A used price cannot be deleted, only archived.
    c.delete(&format!("/v1/prices/{flat_id}"))
        .await
        .err(409, "price_in_use");

    let bal = c
        .get(&format!("/v1/customers/{cus1_id}/balance"))
        .await
        .ok();
    assert_eq!(bal["amount_owed"], 3213);
    assert_eq!(bal["credit_balance"], 0);

    let sub2 = c
        .post(
            "/v1/subscriptions",
            json!({"customer": cus2_id, "items": [{"price": flat_id}]}),
        )
        .await
        .ok();
    let sub2_id = s(&sub2["id"]);
    assert_eq!(sub2["latest_invoice"]["total"], 1190);
    let sub3 = c
        .post(
            "/v1/subscriptions",
            json!({"customer": cus3_id, "items": [{"price": flat_id}]}),
        )
        .await
        .ok();
    let sub3_id = s(&sub3["id"]);
    assert_eq!(sub3["currency"], "USD");
    assert_eq!(sub3["latest_invoice"]["subtotal"], 1200);
    assert_eq!(sub3["latest_invoice"]["total_tax"], 0);

    // Preview an upgrade: exact effect, nothing written.
    let before_invoices = c.count("/v1/invoices").await;
    let before_ledger = c.count("/v1/ledger_entries").await;
    let change = json!({"items": [{"id": item_seats, "quantity": 4}]});
    let preview = c
        .post(
            &format!("/v1/subscriptions/{sub1_id}/preview"),
            change.clone(),
        )
        .await
        .ok();
    assert_eq!(preview["object"], "subscription_change_preview");
    assert_eq!(preview["effective"], "now");
    assert_eq!(preview["amount_per_period_before"], 3000);
    assert_eq!(preview["amount_per_period_after"], 5000);
    let pinv = &preview["invoice"];
    assert_eq!(pinv["lines"].as_array().unwrap().len(), 2);
    let ptotal = pinv["total"].as_i64().unwrap();
    assert!(ptotal > 0, "{preview}");
    assert_eq!(c.count("/v1/invoices").await, before_invoices);
    assert_eq!(c.count("/v1/ledger_entries").await, before_ledger);
    let still = c.get(&format!("/v1/subscriptions/{sub1_id}")).await.ok();
    let q = still["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == item_seats.as_str())
        .unwrap()["quantity"]
        .clone();
    assert_eq!(q, 2);

    // Apply it: invoiced at once, as previewed.
    let changed = c
        .post(&format!("/v1/subscriptions/{sub1_id}"), change)
        .await
        .ok();
    let up = &changed["latest_invoice"];
    assert_eq!(up["billing_reason"], "subscription_update");
    assert_eq!(up["total"], ptotal);
    assert_eq!(up["subtotal"], pinv["subtotal"]);
    assert_eq!(up["status"], "open");
    let seats_item = changed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == item_seats.as_str())
        .cloned()
        .unwrap();
    assert_eq!(seats_item["quantity"], 4);
    assert_eq!(c.count("/v1/invoices").await, before_invoices + 1);

    // A downgrade waits for the period end.
    let down = c
        .post(
            &format!("/v1/subscriptions/{sub1_id}"),
            json!({"items": [{"id": item_seats, "quantity": 1}]}),
        )
        .await
        .ok();
    assert_eq!(down["latest_invoice"], Value::Null);
    let seats_item = down["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == item_seats.as_str())
        .cloned()
        .unwrap();
    assert_eq!(seats_item["quantity"], 4);
    assert_eq!(seats_item["pending_quantity"], 1);

    // Cancel now with proration: a credit to the balance.
    let canceled = c
        .post(
            &format!("/v1/subscriptions/{sub2_id}/cancel"),
            json!({"at_period_end": false, "prorate": true}),
        )
        .await
        .ok();
    assert_eq!(canceled["status"], "canceled");
    assert!(canceled["ended_at"].is_string());
    let cinv = &canceled["latest_invoice"];
    assert_eq!(cinv["billing_reason"], "subscription_cancel");
    let ctotal = cinv["total"].as_i64().unwrap();
    assert!((-1190..0).contains(&ctotal), "{cinv}");
    assert_eq!(cinv["status"], "paid");
    let bal2 = c
        .get(&format!("/v1/customers/{cus2_id}/balance"))
        .await
        .ok();
    assert_eq!(bal2["credit_balance"], -ctotal);
    let again = c
        .post(&format!("/v1/subscriptions/{sub2_id}/cancel"), json!({}))
        .await;
    again.err(409, "subscription_canceled");
    // Cancel at period end.
    let at_end = c
        .post(&format!("/v1/subscriptions/{sub3_id}/cancel"), json!({}))
        .await
        .ok();
    assert_eq!(at_end["status"], "active");
    assert_eq!(at_end["cancel_at_period_end"], true);
    assert_eq!(at_end["latest_invoice"], Value::Null);

    let subs = c
        .get(&format!("/v1/subscriptions?customer={cus1_id}"))
        .await
        .ok();
    assert_eq!(ids(&subs), vec![sub1_id.clone()]);
    let canceled_list = c.get("/v1/subscriptions?status=canceled").await.ok();
    assert_eq!(ids(&canceled_list), vec![sub2_id.clone()]);

    // --- one-off invoices ---------------------------------------------------------------
    let draft = c
        .post(
            "/v1/invoices",
            json!({"customer": cus1_id, "memo": "setup",
                   "lines": [{"description": "Setup", "amount": 5000}]}),
        )
        .await
        .ok();
    let draft_id = s(&draft["id"]);
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["number"], Value::Null);
    assert_eq!(draft["total"], 5950);
    let draft = c
        .post(
            &format!("/v1/invoices/{draft_id}/lines"),
            json!({"lines": [{"price": one_time_id, "quantity": 2}]}),
        )
        .await
        .ok();
    assert_eq!(draft["lines"].as_array().unwrap().len(), 2);
    assert_eq!(draft["subtotal"], 8000);
    assert_eq!(draft["total"], 9520);
    let fin = c
        .post(&format!("/v1/invoices/{draft_id}/finalize"), json!({}))
        .await
        .ok();
    assert_eq!(fin["status"], "open");
    assert!(s(&fin["number"]).starts_with("INV-"));
    assert_eq!(fin["amount_due"], 9520);
    c.post(&format!("/v1/invoices/{draft_id}/finalize"), json!({}))
        .await
        .err(409, "invoice_not_draft");
    let void = c
        .post(&format!("/v1/invoices/{draft_id}/void"), json!({}))
        .await
        .ok();
    assert_eq!(void["status"], "void");
    assert_eq!(void["amount_remaining"], 0);

    let d2 = c
        .post(
            "/v1/invoices",
            json!({"customer": cus1_id, "finalize": true,
                   "lines": [{"description": "Consulting", "amount": 10000}]}),
        )
        .await
        .ok();
    assert_eq!(d2["status"], "open");
    let d2_id = s(&d2["id"]);
    let unc = c
        .post(
            &format!("/v1/invoices/{d2_id}/mark_uncollectible"),
            json!({}),
        )
        .await
        .ok();
    assert_eq!(unc["status"], "uncollectible");
    assert!(unc["marked_uncollectible_at"].is_string());

    let d3 = c
        .post(
            "/v1/invoices",
            json!({"customer": cus1_id, "lines": [{"description": "Oops", "amount": 1}]}),
        )
        .await
        .ok();
    let d3_id = s(&d3["id"]);
    let del = c.delete(&format!("/v1/invoices/{d3_id}")).await.ok();
    assert_eq!(del, json!({"id": d3_id, "deleted": true}));
    c.get(&format!("/v1/invoices/{d3_id}"))
        .await
        .err(404, "resource_missing");

    let open = c
        .get(&format!("/v1/invoices?customer={cus1_id}&status=open"))
        .await
        .ok();
    let open_ids: BTreeSet<String> = ids(&open).into_iter().collect();
    assert_eq!(
        open_ids,
        BTreeSet::from([inv1_id.clone(), s(&up["id"])]),
        "{open}"
    );

    // --- credit notes -------------------------------------------------------------------
    let cn = c
        .post(
            "/v1/credit_notes",
            json!({"invoice": inv1_id, "reason": "goodwill",
                   "lines": [{"invoice_line": flat_line["id"], "amount": 500}]}),
        )
        .await
        .ok();
    assert_eq!(cn["object"], "credit_note");
    assert_eq!(cn["total"], 500);
    assert_eq!(cn["amount_to_invoice"], 500);
    assert_eq!(cn["amount_to_credit_balance"], 0);
    assert!(s(&cn["number"]).starts_with("CN-"));
    let cn_id = s(&cn["id"]);
    let got = c.get(&format!("/v1/credit_notes/{cn_id}")).await.ok();
    assert_eq!(got["total"], 500);
    assert_eq!(got["lines"][0]["invoice_line"], flat_line["id"]);
    let list = c
        .get(&format!("/v1/credit_notes?invoice={inv1_id}"))
        .await
        .ok();
    assert_eq!(ids(&list), vec![cn_id.clone()]);
    let inv1_now = c.get(&format!("/v1/invoices/{inv1_id}")).await.ok();
    assert_eq!(inv1_now["amount_credited"], 500);
    assert_eq!(inv1_now["amount_remaining"], 3213 - 500);
    // Crediting more than remains on the line fails and names it.
    c.post(
        "/v1/credit_notes",
        json!({"invoice": inv1_id, "reason": "goodwill",
               "lines": [{"invoice_line": flat_line["id"], "amount": 1071}]}),
    )
    .await
    .err_param(400, "parameter_invalid", "lines[0].amount");

    // --- balance and ledger -------------------------------------------------------------
    let bal = c
        .get(&format!("/v1/customers/{cus1_id}/balance"))
        .await
        .ok();
    // Open: the first invoice less the credit note, and the upgrade invoice.
    let expected = 3213 - 500 + ptotal;
    assert_eq!(bal["amount_owed"], expected, "{bal}");
    let entries = c.ids("/v1/ledger_entries").await;
    let page = c.get("/v1/ledger_entries?limit=100").await.ok();
    let (debit, credit) = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .fold((0, 0), |(d, c), e| {
            (
                d + e["debit"].as_i64().unwrap(),
                c + e["credit"].as_i64().unwrap(),
            )
        });
    assert_eq!(debit, credit, "the ledger balances");
    assert!(entries.len() >= 10, "{}", entries.len());
    let lp = c.get("/v1/ledger_entries?limit=3").await.ok();
    assert_eq!(lp["has_more"], true);
    let last = lp["data"][2]["id"].as_i64().unwrap();
    let lp2 = c
        .get(&format!("/v1/ledger_entries?limit=3&starting_after={last}"))
        .await
        .ok();
    assert!(lp2["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["id"].as_i64().unwrap() < last));
    let mine = c
        .get(&format!("/v1/ledger_entries?customer={cus2_id}&limit=100"))
        .await
        .ok();
    assert!(!mine["data"].as_array().unwrap().is_empty());
    assert!(mine["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["customer"].is_null() || e["customer"] == cus2_id.as_str()));

    // --- bill run -----------------------------------------------------------------------
    let at = Utc::now() + Duration::days(40);
    let run = c
        .post("/v1/bill_runs", json!({"at": at.to_rfc3339()}))
        .await
        .ok();
    assert_eq!(run["object"], "bill_run");
    assert_eq!(run["invoices_created"], 1, "{run}");
    assert_eq!(run["subscriptions_ended"], 1, "{run}");
    let cycle = c
        .get(&format!("/v1/invoices?subscription={sub1_id}"))
        .await
        .ok();
    let newest = cycle["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["billing_reason"] == "subscription_cycle")
        .cloned()
        .expect("a cycle invoice");
    // The pending downgrade applied: 1000 + 1 × 1000, 10 % off, 19 % tax.
    assert_eq!(newest["subtotal"], 2000);
    assert_eq!(newest["total_discount"], 200);
    assert_eq!(newest["total"], 2142);
    let ended = c.get(&format!("/v1/subscriptions/{sub3_id}")).await.ok();
    assert_eq!(ended["status"], "canceled");
    let sub1_now = c.get(&format!("/v1/subscriptions/{sub1_id}")).await.ok();
    let seats_item = sub1_now["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == item_seats.as_str())
        .cloned()
        .unwrap();
    assert_eq!(seats_item["quantity"], 1);
    assert_eq!(seats_item["pending_quantity"], Value::Null);
    // Exactly once: the same run again bills nothing.
    let invoices = c.count("/v1/invoices").await;
    let rerun = c
        .post("/v1/bill_runs", json!({"at": at.to_rfc3339()}))
        .await
        .ok();
    assert_eq!(rerun["invoices_created"], 0);
    assert_eq!(c.count("/v1/invoices").await, invoices);

    // --- discounts ----------------------------------------------------------------------
    let disc = c
        .post(
            &format!("/v1/customers/{cus1_id}/discounts"),
            json!({"coupon": off_id, "subscription": sub1_id}),
        )
        .await
        .ok();
    assert_eq!(disc["object"], "discount");
    assert_eq!(disc["customer"], cus1_id.as_str());
    assert_eq!(disc["subscription"], sub1_id.as_str());
    assert_eq!(disc["coupon"], off_id.as_str());
    let at2 = Utc::now() + Duration::days(70);
    let run = c
        .post("/v1/bill_runs", json!({"at": at2.to_rfc3339()}))
        .await
        .ok();
    assert_eq!(run["invoices_created"], 1, "{run}");
    let cycle = c
        .get(&format!("/v1/invoices?subscription={sub1_id}&limit=1"))
        .await
        .ok();
    // 2000 less 10 % (attached first: 200), then 500 off what is left: 700 in all.
    let td = cycle["data"][0]["total_discount"].as_i64().unwrap();
    assert_eq!(td, 700, "{cycle}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_sqlite() {
    full_flow(common::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_postgres() {
    let Some(srv) = common::start(Backend::Postgres).await else {
        eprintln!("LEDGERDESK_TEST_POSTGRES=off: PostgreSQL flow not run");
        return;
    };
    full_flow(srv).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication() {
    let srv = common::sqlite().await;
    let c = srv.org("Auth").await;
    let url = format!("{}/v1/customers", srv.base);

    let r = common::into_resp(srv.http.get(&url).send().await.unwrap()).await;
    r.err(401, "missing_api_key");
    assert_eq!(r.json["error"]["type"], "authentication_error");
    let r = common::into_resp(
        srv.http
            .get(&url)
            .header("authorization", "Basic abc")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.err(401, "missing_api_key");
    let r = common::into_resp(
        srv.http
            .get(&url)
            .bearer_auth("sk_not_a_real_key")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.err(401, "invalid_api_key");
    // A wrong key writes nothing either.
    let r = common::into_resp(
        srv.http
            .post(&url)
            .bearer_auth(format!("{}x", c.key))
            .json(&json!({"name": "Nope", "currency": "EUR"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.err(401, "invalid_api_key");
    let r = common::into_resp(
        srv.http
            .post(format!("{}/v1/subscriptions", srv.base))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.err(401, "missing_api_key");
    assert_eq!(c.count("/v1/customers").await, 0);
    // The right key works.
    c.get("/v1/customers").await.ok();
    let health = srv
        .http
        .get(format!("{}/health", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let missing = common::into_resp(
        srv.http
            .get(format!("{}/v1/nothing_here", srv.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    missing.err(404, "route_missing");
}
