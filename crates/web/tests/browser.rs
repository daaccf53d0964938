//! The journeys of the portal and the console in a real browser: Debian's Chromium driven
//! by Playwright (npm `playwright-core`, installed on first use into
//! `~/.cache/ledgerdesk-tools/playwright`, one installer at a time under `flock`).
//!
//! The server is the real router on a random port over a fresh SQLite database seeded here
//! through the API; `tests/browser/journeys.cjs` walks the pages as people would and fails
//! on the first step that does not show what it should. Without Chromium or Node the test
//! fails with what to install: it never skips.
//!
//! `UPDATE_SCREENSHOTS=1` writes the screenshots into `docs/screenshots` (shown in the
//! README); otherwise they go to a temporary directory.

mod common;

use common::s;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

const PLAYWRIGHT: &str = "playwright-core@1.65.1";
const CHROMIUM: &str = "/usr/bin/chromium";

fn tools_dir() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    PathBuf::from(home).join(".cache/ledgerdesk-tools")
}

/// The `node_modules` holding playwright-core, installing it if needed.
fn playwright_modules() -> PathBuf {
    let dir = tools_dir().join("playwright");
    let modules = dir.join("node_modules");
    if modules.join("playwright-core").is_dir() {
        return modules;
    }
    std::fs::create_dir_all(&dir).expect("create the tools directory");
    let out = Command::new("flock")
        .arg(tools_dir().join("playwright.lock"))
        .arg("sh")
        .arg("-c")
        .arg(format!(
            "test -d '{m}/playwright-core' || npm install --no-audit --no-fund --prefix '{d}' {PLAYWRIGHT}",
            m = modules.display(),
            d = dir.display()
        ))
        .output()
        .expect("run flock/npm to install playwright-core (apt-get install nodejs npm)");
    assert!(
        out.status.success() && modules.join("playwright-core").is_dir(),
        "installing {PLAYWRIGHT} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    modules
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_and_agent_journeys_in_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does)"
    );
    let modules = playwright_modules();

    let srv = common::sqlite().await;
    let c = srv.org("Northwind Cloud").await;
    let monthly = json!({"interval": "month"});
    let starter = c
        .post("/v1/products", json!({"name": "Starter"}))
        .await
        .ok();
    let pro = c.post("/v1/products", json!({"name": "Pro"})).await.ok();
    let starter_price = c
        .post(
            "/v1/prices",
            json!({"product": starter["id"], "model": "flat", "recurring": monthly,
                   "currency_amounts": {"EUR": {"amount": 2000}}}),
        )
        .await
        .ok();
    c.post(
        "/v1/prices",
        json!({"product": pro["id"], "model": "flat", "recurring": monthly,
               "currency_amounts": {"EUR": {"amount": 5000}}}),
    )
    .await
    .ok();
    let support = c
        .post("/v1/products", json!({"name": "Priority support"}))
        .await
        .ok();
    c.post(
        "/v1/prices",
        json!({"product": support["id"], "model": "flat", "recurring": monthly,
               "currency_amounts": {"EUR": {"amount": 1000}}}),
    )
    .await
    .ok();
    let stay = c
        .post(
            "/v1/coupons",
            json!({"name": "Stay", "percent_off": "20", "duration": "repeating", "duration_in_periods": 3}),
        )
        .await
        .ok();
    c.post(
        "/v1/settings/retention_offer",
        json!({"coupon": stay["id"], "message": "Stay and get 20 % off for 3 months"}),
    )
    .await
    .ok();
    let cus = c
        .post(
            "/v1/customers",
            json!({"name": "Anna Schmidt", "email": "anna@alpha.example", "phone": "+49 30 1234567",
                   "currency": "EUR", "locale": "en", "time_zone": "Europe/Berlin",
                   "address": {"country": "DE", "city": "Berlin", "postal_code": "10115", "line1": "Invalidenstraße 1"}}),
        )
        .await
        .ok();
    let cus = s(&cus["id"]);
    c.post(
        "/v1/payment_methods",
        json!({"customer": cus, "type": "card", "set_default": true,
               "card": {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2040}}),
    )
    .await
    .ok();
    c.post(
        "/v1/subscriptions",
        json!({"customer": cus, "items": [{"price": starter_price["id"], "quantity": 1}]}),
    )
    .await
    .ok();
    c.post(
        "/v1/invoices",
        json!({"customer": cus, "finalize": true,
               "lines": [{"description": "Onboarding workshop", "amount": 15_000}]}),
    )
    .await
    .ok();
    c.post(
        &format!("/v1/customers/{cus}/portal_users"),
        json!({"email": "anna@alpha.example", "password": "portal-password-1"}),
    )
    .await
    .ok();
    for (email, name, role) in [
        ("alex@northwind.example", "Alex Agent", "agent"),
        ("sam@northwind.example", "Sam Supervisor", "supervisor"),
    ] {
        c.post(
            "/v1/staff",
            json!({"email": email, "name": name, "role": role, "password": "staff-password-1"}),
        )
        .await
        .ok();
    }

    let shots = if std::env::var("UPDATE_SCREENSHOTS").is_ok() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
    } else {
        std::env::temp_dir().join(format!("ledgerdesk-shots-{}", std::process::id()))
    };
    std::fs::create_dir_all(&shots).expect("screenshot directory");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/journeys.cjs");
    let mut node = Command::new("node");
    node.arg(&script)
        .env("NODE_PATH", &modules)
        .env("BASE", &srv.base)
        .env("ORG", &c.org_id)
        .env("CHROMIUM", CHROMIUM)
        .env("SHOTS", &shots);
    // The server runs on this test's runtime: wait for node on another thread.
    let out = tokio::task::spawn_blocking(move || node.output())
        .await
        .expect("join")
        .expect("run node (apt-get install nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "journeys failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("all journeys passed"), "{stdout}\n{stderr}");

    // What the journeys did is in the database, not only on the screen.
    let tickets = c.get(&format!("/v1/tickets?customer={cus}")).await.ok();
    let tickets = tickets["data"].as_array().unwrap().clone();
    assert!(
        tickets.len() >= 2,
        "a portal ticket and a chat ticket: {tickets:?}"
    );
    let portal_ticket = tickets
        .iter()
        .find(|t| t["channel"] == "portal")
        .expect("the portal ticket");
    let acts = c
        .get(&format!("/v1/tickets/{}/actions", s(&portal_ticket["id"])))
        .await
        .ok();
    let statuses: Vec<&str> = acts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["executed", "executed"], "{acts}");
    let bal = c.get(&format!("/v1/customers/{cus}/balance")).await.ok();
    assert_eq!(bal["credit_balance"], 2_000 + 12_000, "{bal}");
    // The product she added and the offer she accepted instead of cancelling.
    let subs = c
        .get(&format!("/v1/subscriptions?customer={cus}"))
        .await
        .ok();
    let sub = &subs["data"][0];
    assert_eq!(sub["items"].as_array().unwrap().len(), 2, "{sub}");
    assert!(sub["cancel_at_period_end"] != true, "{sub}");
    let store::Db::Sqlite(pool) = &srv.db else {
        unreachable!("the journeys run on SQLite")
    };
    let offers: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM discounts WHERE customer_id = ? AND coupon_id = ? AND ended_at IS NULL",
    )
    .bind(&cus)
    .bind(s(&stay["id"]))
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        offers, 1,
        "the retention coupon is on her subscription once"
    );
    // The live chat the agent accepted: its transcript is on a chat ticket.
    let mut transcript = String::new();
    for t in tickets.iter().filter(|t| t["channel"] == "chat") {
        let d = c.get(&format!("/v1/tickets/{}", s(&t["id"]))).await.ok();
        for i in d["interactions"].as_array().unwrap() {
            if i["kind"] == "chat" {
                transcript.push_str(i["body"].as_str().unwrap_or_default());
            }
        }
    }
    assert!(
        transcript.contains("Was my card charged twice?")
            && transcript.contains("No: once, on the 1st."),
        "{transcript}"
    );
    for f in [
        "portal-overview.png",
        "console-ticket.png",
        "console-approvals.png",
        "console-chat.png",
        "console-kpis.png",
        "portal-cancel-offer.png",
    ] {
        assert!(shots.join(f).is_file(), "screenshot {f}");
    }
}
