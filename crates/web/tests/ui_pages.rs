//! The portal and console pages over real HTTP: sign-in with the double-submit CSRF cookie,
//! session cookies, security headers, CSRF refusals, the sign-in rate limit, and a customer
//! reaching only their own invoices, PDFs and tickets.

mod common;

use common::{s, Client, Server};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::json;
use std::collections::BTreeMap;

/// A browser without JavaScript: keeps cookies by name, never follows redirects.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Browser {
    fn new(srv: &Server) -> Browser {
        Browser {
            base: srv.base.clone(),
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    async fn take(&mut self, r: reqwest::Response) -> Page {
        for c in r.headers().get_all(SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (kv, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") || v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        Page {
            status: r.status().as_u16(),
            location: r
                .headers()
                .get(LOCATION)
                .map(|v| v.to_str().unwrap().to_string()),
            content_type: r
                .headers()
                .get(CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap_or_default(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn get(&mut self, path: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.take(r).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.take(r).await
    }

    /// Signs in on `/{area}/{org}/login`; returns the POST's answer.
    async fn sign_in(&mut self, area: &str, org: &str, email: &str, password: &str) -> Page {
        let login = format!("/{area}/{org}/login");
        let page = self.get(&login).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let pre = csrf_in(&page.body);
        self.post(
            &login,
            &[("_csrf", &pre), ("email", email), ("password", password)],
        )
        .await
    }
}

/// The first `_csrf` value of a page's forms.
fn csrf_in(html: &str) -> String {
    let at = html
        .find("name=\"_csrf\" value=\"")
        .expect("a form with _csrf")
        + 20;
    html[at..at + html[at..].find('"').unwrap()].to_string()
}

async fn customer_with_invoice(c: &Client, name: &str, email: &str) -> (String, String) {
    let cus = c
        .post(
            "/v1/customers",
            json!({"name": name, "email": email, "currency": "EUR", "locale": "en",
                   "address": {"country": "DE", "postal_code": "10115"}}),
        )
        .await
        .ok();
    let cus = s(&cus["id"]);
    let inv = c
        .post(
            "/v1/invoices",
            json!({"customer": cus, "finalize": true,
                   "lines": [{"description": "Onboarding", "amount": 12_000}]}),
        )
        .await
        .ok();
    c.post(
        &format!("/v1/customers/{cus}/portal_users"),
        json!({"email": email, "password": "portal-password-1"}),
    )
    .await
    .ok();
    (cus, s(&inv["id"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_pages_reach_only_the_own_account() {
    let srv = common::sqlite().await;
    let c = srv.org("Northwind").await;
    let (_, inv_a) = customer_with_invoice(&c, "Alpha GmbH", "anna@alpha.example").await;
    let (cus_b, inv_b) = customer_with_invoice(&c, "Beta GmbH", "ben@beta.example").await;
    let ticket_b = c
        .post(
            "/v1/tickets",
            json!({"customer": cus_b, "subject": "Beta's question", "body": "private"}),
        )
        .await
        .ok();
    let ticket_b = s(&ticket_b["id"]);

    let mut anna = Browser::new(&srv);
    // Without a session the portal sends the browser to sign in.
    let p = anna.get("/portal").await;
    assert_eq!(p.status, 401);
    let p = anna
        .sign_in(
            "portal",
            &c.org_id,
            "anna@alpha.example",
            "portal-password-1",
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.location.as_deref(), Some("/portal"));
    let cookie = p
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("ld_portal="))
        .expect("session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let home = anna.get("/portal").await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("€120.00"), "{}", home.body);
    let csp = home.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert_eq!(home.headers["x-frame-options"], "DENY");
    assert_eq!(home.headers["cache-control"], "no-store");

    // Her invoice and its PDF; Beta's invoice, PDF and ticket are "not found".
    let p = anna.get(&format!("/portal/invoices/{inv_a}")).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("Onboarding"));
    let p = anna.get(&format!("/portal/invoices/{inv_a}/pdf")).await;
    assert_eq!(p.status, 200);
    assert_eq!(p.content_type, "application/pdf");
    for path in [
        format!("/portal/invoices/{inv_b}"),
        format!("/portal/invoices/{inv_b}/pdf"),
        format!("/portal/tickets/{ticket_b}"),
        "/portal/subscriptions/sub_0000000000000000000000/change".to_string(),
    ] {
        let p = anna.get(&path).await;
        assert_eq!(p.status, 404, "{path}: {}", p.body);
        assert!(!p.body.contains("Beta"), "{path}");
    }
    let csrf = csrf_in(&home.body);
    let p = anna
        .post(
            &format!("/portal/tickets/{ticket_b}/reply"),
            &[("_csrf", &csrf), ("body", "hi")],
        )
        .await;
    assert_eq!(p.status, 303);
    let flash = anna.get(p.location.as_deref().unwrap()).await;
    assert_eq!(flash.status, 404);
    let t = c.get(&format!("/v1/tickets/{ticket_b}")).await.ok();
    assert_eq!(
        t["interactions"].as_array().unwrap().len(),
        1,
        "no reply added"
    );

    // A form without the session's CSRF token changes nothing.
    let before = c.count("/v1/tickets").await;
    let p = anna
        .post(
            "/portal/tickets",
            &[("_csrf", "forged"), ("subject", "x"), ("body", "y")],
        )
        .await;
    assert_eq!(p.status, 303);
    assert_eq!(c.count("/v1/tickets").await, before);
    // With it, a ticket about her invoice is opened.
    let p = anna
        .post(
            "/portal/tickets",
            &[
                ("_csrf", &csrf),
                ("subject", "Why this amount?"),
                ("body", "Please explain the onboarding line."),
                ("category", "invoice_discrepancy"),
                ("invoice", &inv_a),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(c.count("/v1/tickets").await, before + 1);
    let page = anna.get(p.location.as_deref().unwrap()).await;
    assert!(page.body.contains("Please explain the onboarding line."));

    // Signing out revokes the session on the server.
    let old = anna.cookies["ld_portal"].clone();
    let p = anna.post("/portal/logout", &[("_csrf", &csrf)]).await;
    assert_eq!(p.status, 303);
    assert!(!anna.cookies.contains_key("ld_portal"));
    anna.cookies.insert("ld_portal".into(), old);
    assert_ne!(anna.get("/portal").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_rate_limited_and_needs_the_form_token() {
    let srv = common::sqlite().await;
    let c = srv.org("Northwind").await;
    customer_with_invoice(&c, "Alpha GmbH", "anna@alpha.example").await;
    let mut b = Browser::new(&srv);
    // A login POST without the pre-session cookie's value is refused.
    let login = format!("/portal/{}/login", c.org_id);
    let p = b
        .post(
            &login,
            &[
                ("_csrf", "x"),
                ("email", "anna@alpha.example"),
                ("password", "portal-password-1"),
            ],
        )
        .await;
    assert_eq!(p.status, 303);
    assert!(!b.cookies.contains_key("ld_portal"));
    for _ in 0..5 {
        let p = b
            .sign_in("portal", &c.org_id, "anna@alpha.example", "wrong-password")
            .await;
        assert_eq!(p.location.as_deref(), Some(login.as_str()));
        assert!(!b.cookies.contains_key("ld_portal"));
    }
    // The right password is refused too until the window passes.
    b.sign_in(
        "portal",
        &c.org_id,
        "anna@alpha.example",
        "portal-password-1",
    )
    .await;
    assert!(!b.cookies.contains_key("ld_portal"));
    let page = b.get(&login).await;
    assert!(
        page.body.contains("Too many sign-in attempts"),
        "{}",
        page.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_ticket_view_and_authority() {
    let srv = common::sqlite().await;
    let c = srv.org("Northwind").await;
    let (cus, inv) = customer_with_invoice(&c, "Alpha GmbH", "anna@alpha.example").await;
    for (email, role) in [
        ("alex@northwind.example", "agent"),
        ("sam@northwind.example", "supervisor"),
    ] {
        c.post(
            "/v1/staff",
            json!({"email": email, "name": email, "role": role, "password": "staff-password-1"}),
        )
        .await
        .ok();
    }
    let t = c
        .post(
            "/v1/tickets",
            json!({"customer": cus, "subject": "Refund please", "body": "The onboarding was not done.",
                   "links": [{"type": "invoice", "id": inv}]}),
        )
        .await
        .ok();
    let tid = s(&t["id"]);

    let mut alex = Browser::new(&srv);
    let p = alex
        .sign_in(
            "console",
            &c.org_id,
            "alex@northwind.example",
            "staff-password-1",
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/console"));
    let q = alex.get("/console").await;
    assert_eq!(q.status, 200);
    assert!(q.body.contains("Refund please"));
    assert!(
        !q.body.contains("/console/approvals"),
        "agents do not approve"
    );
    let page = alex.get(&format!("/console/tickets/{tid}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Alpha GmbH") && page.body.contains("€120.00"));
    let csrf = csrf_in(&page.body);

    // Above the agent's limit, a goodwill credit becomes an approval request.
    let p = alex
        .post(
            &format!("/console/tickets/{tid}/actions"),
            &[
                ("_csrf", &csrf),
                ("action", "goodwill_credit"),
                ("amount", "120.00"),
                ("currency", "EUR"),
                ("reason", "Onboarding missed"),
                ("reason_code", "goodwill"),
            ],
        )
        .await;
    assert_eq!(p.status, 303);
    let acts = c.get(&format!("/v1/tickets/{tid}/actions")).await.ok();
    assert_eq!(acts[0]["status"], "pending_approval", "{acts}");
    // Forged CSRF: nothing happens.
    alex.post(
        &format!("/console/tickets/{tid}/note"),
        &[("_csrf", "forged"), ("body", "note")],
    )
    .await;
    let d = c.get(&format!("/v1/tickets/{tid}")).await.ok();
    assert_eq!(d["interactions"].as_array().unwrap().len(), 1);

    // The supervisor approves it from the inbox.
    let mut sam = Browser::new(&srv);
    sam.sign_in(
        "console",
        &c.org_id,
        "sam@northwind.example",
        "staff-password-1",
    )
    .await;
    let inbox = sam.get("/console/approvals").await;
    assert!(inbox.body.contains("Onboarding missed"), "{}", inbox.body);
    let action_id = s(&acts[0]["id"]);
    let csrf = csrf_in(&inbox.body);
    let p = sam
        .post(
            &format!("/console/approvals/{action_id}/approve"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, 303);
    let acts = c.get(&format!("/v1/tickets/{tid}/actions")).await.ok();
    assert_eq!(acts[0]["status"], "executed", "{acts}");
    let bal = c.get(&format!("/v1/customers/{cus}/balance")).await.ok();
    assert_eq!(bal["credit_balance"], 12_000);
}
