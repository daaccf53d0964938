//! The portal and console pages over real HTTP: sign-in with the double-submit CSRF cookie,
//! session cookies, security headers, CSRF refusals, the sign-in rate limit, and a customer
//! reaching only their own invoices, PDFs and tickets; the portal's sign-in links (mailed
//! through a real SMTP server on loopback), payment methods and profile pages.

mod common;
#[allow(dead_code)]
#[path = "../../app/tests/common/smtp.rs"]
mod smtp;

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

/// Alex (agent) and Sam (supervisor), password `staff-password-1`.
async fn add_agent_and_supervisor(c: &Client) {
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
}

/// Northwind with Alpha GmbH (an invoice, a portal login), Alex and Sam, a ticket of
/// Alpha's about `subject`, and Alex signed in to the console: (org, customer, ticket, Alex).
async fn ticket_and_agent(srv: &Server, subject: &str) -> (Client, String, String, Browser) {
    let c = srv.org("Northwind").await;
    let (cus, _) = customer_with_invoice(&c, "Alpha GmbH", "anna@alpha.example").await;
    add_agent_and_supervisor(&c).await;
    let t = c
        .post(
            "/v1/tickets",
            json!({"customer": cus, "subject": subject, "body": "Hello."}),
        )
        .await
        .ok();
    let tid = s(&t["id"]);
    let alex = console_as(srv, &c.org_id, "alex@northwind.example").await;
    (c, cus, tid, alex)
}

/// A browser signed in to `org`'s console as the staff member `email` (of
/// [`add_agent_and_supervisor`]).
async fn console_as(srv: &Server, org: &str, email: &str) -> Browser {
    let mut b = Browser::new(srv);
    let p = b.sign_in("console", org, email, "staff-password-1").await;
    assert_eq!(p.location.as_deref(), Some("/console"), "{}", p.body);
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_ticket_view_and_authority() {
    let srv = common::sqlite().await;
    let c = srv.org("Northwind").await;
    let (cus, inv) = customer_with_invoice(&c, "Alpha GmbH", "anna@alpha.example").await;
    add_agent_and_supervisor(&c).await;
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

// ---------------------------------------------------------------------------------------
// Sign-in links

/// Sends the queued emails through `mailbox` (one worker pass, as `serve`'s worker does).
async fn deliver(srv: &Server, mailbox: &smtp::SmtpServer) {
    let mut w = app::jobs::Worker::new(
        srv.db.clone(),
        gateway::Gateway::Sandbox(gateway::Sandbox::new()),
    );
    w.mailer = mail::Mailer::smtp(&mailbox.url(), "Ledgerdesk <billing@localhost>").unwrap();
    w.run_once(chrono::Utc::now()).await.unwrap();
}

/// The sign-in link emails delivered so far: (recipient, the link in the body).
fn sign_in_links(mailbox: &smtp::SmtpServer) -> Vec<(String, String)> {
    mailbox
        .messages()
        .iter()
        .filter_map(|raw| {
            let m = mail_parser::MessageParser::default().parse(&raw[..])?;
            if !m.subject()?.contains("sign-in link") {
                return None;
            }
            let to = m.to()?.first()?.address()?.to_string();
            let body = m.body_text(0)?.to_string();
            let link = body
                .split_whitespace()
                .find(|w| w.contains("/magic/"))
                .unwrap_or_else(|| panic!("no link in {body}"))
                .to_string();
            Some((to, link))
        })
        .collect()
}

/// The flash message of the page a redirect leads to.
async fn flash_after(b: &mut Browser, p: &Page) -> String {
    assert_eq!(p.status, 303, "{}", p.body);
    let page = b.get(p.location.as_deref().unwrap()).await;
    let at = page.body.find("class=\"flash").expect("a flash message");
    let text = &page.body[at..];
    text[text.find('>').unwrap() + 1..text.find("</p>").unwrap()].to_string()
}

/// Asks for a sign-in link on the sign-in page, as the second form does.
async fn ask_for_link(b: &mut Browser, org: &str, email: &str) -> Page {
    let login = b.get(&format!("/portal/{org}/login")).await;
    assert!(
        login
            .body
            .contains(&format!("action=\"/portal/{org}/magic\"")),
        "{}",
        login.body
    );
    let pre = csrf_in(&login.body);
    b.post(
        &format!("/portal/{org}/magic"),
        &[("_csrf", &pre), ("email", email)],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_link_signs_in_once_within_15_minutes() {
    let srv = common::sqlite().await;
    let mailbox = smtp::SmtpServer::start(smtp::free_port());
    let c = srv.org("Northwind").await;
    customer_with_invoice(&c, "Alpha GmbH", "anna@alpha.example").await;
    let org = c.org_id.clone();

    // One answer whether the address has an account or not.
    let mut anna = Browser::new(&srv);
    let p = ask_for_link(&mut anna, &org, "Anna@Alpha.example").await;
    let known = flash_after(&mut anna, &p).await;
    let mut stranger = Browser::new(&srv);
    let q = ask_for_link(&mut stranger, &org, "nobody@alpha.example").await;
    assert_eq!(q.location, p.location);
    let unknown = flash_after(&mut stranger, &q).await;
    assert_eq!(known, unknown);
    assert!(known.contains("If the address has an account"), "{known}");
    // Without the form's token nothing is sent.
    let r = Browser::new(&srv)
        .post(
            &format!("/portal/{org}/magic"),
            &[("_csrf", "forged"), ("email", "anna@alpha.example")],
        )
        .await;
    assert_eq!(r.status, 303);

    deliver(&srv, &mailbox).await;
    let links = sign_in_links(&mailbox);
    assert_eq!(
        links.len(),
        1,
        "one link, to the address with a login: {links:?}"
    );
    let (to, link) = links[0].clone();
    assert_eq!(to, "anna@alpha.example");
    let path = link
        .strip_prefix(&srv.base)
        .unwrap_or_else(|| panic!("{link} is not on {}", srv.base))
        .to_string();
    let token = path.rsplit('/').next().unwrap().to_string();
    assert!(
        path.starts_with(&format!("/portal/{org}/magic/psl_")),
        "{path}"
    );
    // Only the token's hash is stored.
    let mut tx = srv.db.read().await.unwrap();
    let hash = app::orgs::hash_key(&token);
    let by_hash = store::portal::sign_in_link(&mut tx, &org, &hash).await;
    assert!(by_hash.unwrap().is_some());
    let by_token = store::portal::sign_in_link(&mut tx, &org, &token).await;
    assert!(by_token.unwrap().is_none());
    drop(tx);

    // Opening the link (a mail scanner, say) signs nobody in and does not use it up.
    let mut browser = Browser::new(&srv);
    for _ in 0..2 {
        let page = browser.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body.contains("Sign in to your account"),
            "{}",
            page.body
        );
        assert!(!browser.cookies.contains_key("ld_portal"));
    }
    let page = browser.get(&path).await;
    // The button's POST needs the page's token.
    let p = browser.post(&path, &[("_csrf", "forged")]).await;
    assert_eq!(p.status, 303);
    assert!(!browser.cookies.contains_key("ld_portal"));
    let p = browser
        .post(&path, &[("_csrf", &csrf_in(&page.body))])
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.location.as_deref(), Some("/portal"));
    assert!(browser.cookies.contains_key("ld_portal"));
    let home = browser.get("/portal").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("€120.00"), "{}", home.body);

    // Used: refused, on opening and on posting.
    let mut again = Browser::new(&srv);
    let page = again.get(&path).await;
    assert_eq!(page.status, 410);
    assert!(page.body.contains("used already"), "{}", page.body);
    assert!(page.body.contains(&format!("/portal/{org}/login")));
    let p = again.post(&path, &[("_csrf", "x")]).await;
    assert_ne!(p.location.as_deref(), Some("/portal"));
    let mut late = Browser::new(&srv);
    late.get(&format!("/portal/{org}/login")).await;
    let pre = late.cookies["ld_pre"].clone();
    let p = late.post(&path, &[("_csrf", &pre)]).await;
    assert_eq!(p.status, 410);
    assert!(!late.cookies.contains_key("ld_portal"));

    // Unknown: refused.
    for bad in [
        format!("/portal/{org}/magic/psl_000000000000000000000000"),
        format!("/portal/{org}/magic/{}", &token[4..]),
        format!("/portal/org_0000000000000000000000/magic/{token}"),
    ] {
        let page = late.get(&bad).await;
        assert_eq!(page.status, 404, "{bad}");
        assert!(page.body.contains("not valid"), "{}", page.body);
    }

    // Expired: a link asked for 16 minutes ago.
    let ago = chrono::Utc::now() - chrono::Duration::minutes(16);
    let input = app::desk::portal::SignInLinkRequest {
        organisation: org.clone(),
        email: "anna@alpha.example".into(),
        base_url: srv.base.clone(),
    };
    app::desk::portal::request_sign_in_link(&srv.db, &input, ago)
        .await
        .unwrap();
    deliver(&srv, &mailbox).await;
    let links = sign_in_links(&mailbox);
    assert_eq!(links.len(), 2);
    let old = links
        .iter()
        .map(|(_, l)| l.strip_prefix(&srv.base).unwrap().to_string())
        .find(|p| *p != path)
        .unwrap();
    let page = late.get(&old).await;
    assert_eq!(page.status, 410);
    assert!(page.body.contains("expired"), "{}", page.body);
    let p = late.post(&old, &[("_csrf", &pre)]).await;
    assert_eq!(p.status, 410);
    assert!(!late.cookies.contains_key("ld_portal"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_links_spends_the_sign_in_limit() {
    let srv = common::sqlite().await;
    let c = srv.org("Northwind").await;
    let mut b = Browser::new(&srv);
    // An address without an account is limited exactly as one with an account.
    for _ in 0..5 {
        let p = ask_for_link(&mut b, &c.org_id, "nobody@alpha.example").await;
        assert!(flash_after(&mut b, &p).await.contains("If the address"));
    }
    let p = ask_for_link(&mut b, &c.org_id, "nobody@alpha.example").await;
    assert!(flash_after(&mut b, &p)
        .await
        .contains("Too many sign-in attempts"));
}

// ---------------------------------------------------------------------------------------
// Payment methods and profile

/// Anna of Alpha signed in, and Beta's customer id.
async fn anna_and_beta(srv: &Server, c: &Client) -> (Browser, String, String) {
    let (cus_a, _) = customer_with_invoice(c, "Alpha GmbH", "anna@alpha.example").await;
    let (cus_b, _) = customer_with_invoice(c, "Beta GmbH", "ben@beta.example").await;
    let mut anna = Browser::new(srv);
    let p = anna
        .sign_in(
            "portal",
            &c.org_id,
            "anna@alpha.example",
            "portal-password-1",
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/portal"));
    (anna, cus_a, cus_b)
}

/// A customer's attached payment methods through the API: (id, last4, default).
async fn methods(c: &Client, cus: &str) -> Vec<(String, String, bool)> {
    let page = c
        .get(&format!("/v1/customers/{cus}/payment_methods"))
        .await
        .ok();
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                s(&m["id"]),
                s(&m["card"]["last4"]),
                m["is_default"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_methods_page_adds_defaults_and_removes_own_cards_only() {
    let srv = common::sqlite().await;
    let c = srv.org("Northwind").await;
    let (mut anna, cus_a, cus_b) = anna_and_beta(&srv, &c).await;
    let ben_card = c
        .post(
            "/v1/payment_methods",
            json!({"customer": cus_b, "type": "card", "token": "tok_visa"}),
        )
        .await
        .ok();
    let ben_card = s(&ben_card["id"]);

    let page = anna.get("/portal/payment-methods").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("No payment methods yet."));
    assert!(page
        .body
        .contains("href=\"/portal/payment-methods\" aria-current=\"page\""));
    assert!(page.body.contains("<label for=\"token\">"));
    let csrf = csrf_in(&page.body);

    // Two cards from sandbox tokens; the first becomes the default.
    for token in ["tok_visa", "tok_mastercard"] {
        let p = anna
            .post(
                "/portal/payment-methods",
                &[("_csrf", &csrf), ("token", token)],
            )
            .await;
        assert!(flash_after(&mut anna, &p)
            .await
            .contains("card has been added"));
    }
    let mine = methods(&c, &cus_a).await;
    assert_eq!(mine.len(), 2);
    let visa = mine.iter().find(|m| m.1 == "4242").unwrap().clone();
    let master = mine.iter().find(|m| m.1 == "4444").unwrap().clone();
    assert!(visa.2 && !master.2, "{mine:?}");
    let page = anna.get("/portal/payment-methods").await;
    assert!(page.body.contains("Visa") && page.body.contains("•••• 4242"));
    assert!(page.body.contains("Mastercard") && page.body.contains("•••• 4444"));
    assert!(page.body.contains("Default"));

    // A card number where the token goes: refused next to the field, and not shown again.
    let p = anna
        .post(
            "/portal/payment-methods",
            &[("_csrf", &csrf), ("token", "4242424242424242")],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(
        p.body.contains("aria-describedby=\"token-error\""),
        "{}",
        p.body
    );
    assert!(p.body.contains("not a card token"), "{}", p.body);
    assert!(!p.body.contains("4242424242424242"));
    assert_eq!(methods(&c, &cus_a).await.len(), 2);

    // Without the session's token nothing changes.
    for (path, form) in [
        (
            "/portal/payment-methods".to_string(),
            vec![("token", "tok_visa")],
        ),
        (
            format!("/portal/payment-methods/{}/default", master.0),
            vec![],
        ),
        (format!("/portal/payment-methods/{}/remove", visa.0), vec![]),
    ] {
        let mut f = vec![("_csrf", "forged")];
        f.extend(form);
        let p = anna.post(&path, &f).await;
        assert_eq!(p.status, 303, "{path}");
        assert!(flash_after(&mut anna, &p)
            .await
            .contains("form has expired"));
    }
    assert_eq!(methods(&c, &cus_a).await, mine);

    // Make the Mastercard the default, then remove the Visa.
    let p = anna
        .post(
            &format!("/portal/payment-methods/{}/default", master.0),
            &[("_csrf", &csrf)],
        )
        .await;
    assert!(flash_after(&mut anna, &p)
        .await
        .contains("default payment method"));
    let p = anna
        .post(
            &format!("/portal/payment-methods/{}/remove", visa.0),
            &[("_csrf", &csrf)],
        )
        .await;
    assert!(flash_after(&mut anna, &p)
        .await
        .contains("has been removed"));
    assert_eq!(
        methods(&c, &cus_a).await,
        vec![(master.0.clone(), "4444".into(), true)]
    );

    // Beta's card: "not found" and untouched, as an id that does not exist.
    for path in [
        format!("/portal/payment-methods/{ben_card}/default"),
        format!("/portal/payment-methods/{ben_card}/remove"),
        "/portal/payment-methods/pm_0000000000000000000000/remove".to_string(),
    ] {
        let p = anna.post(&path, &[("_csrf", &csrf)]).await;
        assert_eq!(p.status, 404, "{path}: {}", p.body);
    }
    assert_eq!(
        methods(&c, &cus_b).await,
        vec![(ben_card, "4242".into(), true)]
    );
    let page = anna.get("/portal/payment-methods").await;
    assert!(!page.body.contains("Beta"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_page_saves_details_tax_ids_and_contacts_checked_as_the_api() {
    let srv = common::sqlite().await;
    let c = srv.org("Northwind").await;
    let (mut anna, cus_a, cus_b) = anna_and_beta(&srv, &c).await;
    let page = anna.get("/portal/profile").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("value=\"Alpha GmbH\""));
    assert!(page
        .body
        .contains("href=\"/portal/profile\" aria-current=\"page\""));
    for field in [
        "name",
        "email",
        "phone",
        "locale",
        "line1",
        "line2",
        "city",
        "postal_code",
        "region",
        "country",
        "tax_type",
        "tax_value",
        "contact_name",
        "contact_email",
        "contact_role",
    ] {
        assert!(
            page.body.contains(&format!("<label for=\"{field}\">")),
            "{field}"
        );
    }
    let csrf = csrf_in(&page.body);
    let customer = || async { c.get(&format!("/v1/customers/{cus_a}")).await.ok() };

    let details = |name: &'static str, country: &'static str| {
        vec![
            ("_csrf", csrf.clone()),
            ("name", name.to_string()),
            ("email", "billing@alpha.example".to_string()),
            ("phone", "+49 30 123456".to_string()),
            ("locale", "en".to_string()),
            ("line1", "Unter den Linden 1".to_string()),
            ("line2", String::new()),
            ("city", "Berlin".to_string()),
            ("postal_code", "10117".to_string()),
            ("region", "be".to_string()),
            ("country", country.to_string()),
        ]
    };
    let form = details("Alpha AG", "de");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = anna.post("/portal/profile", &form).await;
    assert!(flash_after(&mut anna, &p)
        .await
        .contains("details have been saved"));
    let saved = customer().await;
    assert_eq!(saved["name"], "Alpha AG");
    assert_eq!(saved["email"], "billing@alpha.example");
    assert_eq!(saved["phone"], "+49 30 123456");
    assert_eq!(saved["address"]["city"], "Berlin");
    assert_eq!(saved["address"]["country"], "DE");
    assert_eq!(saved["address"]["region"], "BE");
    assert_eq!(saved["address"]["line2"], json!(null));

    // A bad country: the error next to the field, what was typed kept, nothing saved.
    let form = details("Renamed Alpha", "Germany");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = anna.post("/portal/profile", &form).await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(
        p.body.contains("aria-describedby=\"country-error\""),
        "{}",
        p.body
    );
    assert!(p.body.contains("id=\"country-error\""));
    assert!(
        p.body.contains("not an ISO 3166-1 alpha-2 country code"),
        "{}",
        p.body
    );
    assert!(p.body.contains("value=\"Renamed Alpha\""));
    assert_eq!(customer().await, saved);
    // An empty name likewise.
    let form = details("  ", "DE");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = anna.post("/portal/profile", &form).await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("id=\"name-error\""), "{}", p.body);
    assert_eq!(customer().await, saved);

    // Tax ids, checked as the API checks them.
    let p = anna
        .post(
            "/portal/profile/tax-ids",
            &[
                ("_csrf", &csrf),
                ("type", "eu_vat"),
                ("value", "de 123 456 789"),
            ],
        )
        .await;
    assert!(flash_after(&mut anna, &p)
        .await
        .contains("tax id has been added"));
    assert_eq!(
        customer().await["tax_ids"],
        json!([{"type": "eu_vat", "value": "DE123456789"}])
    );
    for (kind, value) in [("eu_vat", "XX123"), ("eu_vat", "DE123456789")] {
        let p = anna
            .post(
                "/portal/profile/tax-ids",
                &[("_csrf", &csrf), ("type", kind), ("value", value)],
            )
            .await;
        assert_eq!(p.status, 422, "{value}");
        assert!(p.body.contains("id=\"tax_value-error\""), "{}", p.body);
        assert!(p.body.contains(&format!("value=\"{value}\"")));
    }
    assert_eq!(customer().await["tax_ids"].as_array().unwrap().len(), 1);
    let p = anna
        .post(
            "/portal/profile/tax-ids/remove",
            &[("_csrf", &csrf), ("value", "DE123456789")],
        )
        .await;
    assert!(flash_after(&mut anna, &p)
        .await
        .contains("tax id has been removed"));
    assert_eq!(customer().await["tax_ids"], json!([]));

    // Contacts.
    let p = anna
        .post(
            "/portal/profile/contacts",
            &[
                ("_csrf", &csrf),
                ("name", "Carl"),
                ("email", "not-an-email"),
                ("role", "technical"),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("id=\"contact_email-error\""), "{}", p.body);
    assert!(p.body.contains("value=\"Carl\""));
    assert_eq!(customer().await["contacts"], json!([]));
    let p = anna
        .post(
            "/portal/profile/contacts",
            &[
                ("_csrf", &csrf),
                ("name", "Carl"),
                ("email", "carl@alpha.example"),
                ("role", "technical"),
            ],
        )
        .await;
    assert!(flash_after(&mut anna, &p)
        .await
        .contains("contact has been added"));
    let contacts = customer().await["contacts"].clone();
    assert_eq!(contacts[0]["name"], "Carl");
    assert_eq!(contacts[0]["role"], "technical");
    let carl = s(&contacts[0]["id"]);
    let page = anna.get("/portal/profile").await;
    assert!(page.body.contains("carl@alpha.example"));

    // Beta's contact is "not found" and stays.
    let beta = c
        .post(
            &format!("/v1/customers/{cus_b}/contacts"),
            json!({"name": "Bea", "email": "bea@beta.example"}),
        )
        .await
        .ok();
    let bea = s(&beta["contacts"][0]["id"]);
    let p = anna
        .post(
            &format!("/portal/profile/contacts/{bea}/remove"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, 404);
    let b = c.get(&format!("/v1/customers/{cus_b}")).await.ok();
    assert_eq!(b["contacts"].as_array().unwrap().len(), 1);

    // Without the session's token nothing changes.
    let before = customer().await;
    let mut forged = details("Forged", "FR");
    forged[0].1 = "forged".into();
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for (path, form) in [
        ("/portal/profile".to_string(), forged),
        (
            "/portal/profile/tax-ids".into(),
            vec![
                ("_csrf", "forged"),
                ("type", "eu_vat"),
                ("value", "FR12345678901"),
            ],
        ),
        (
            format!("/portal/profile/contacts/{carl}/remove"),
            vec![("_csrf", "forged")],
        ),
    ] {
        let p = anna.post(&path, &form).await;
        assert_eq!(p.status, 303, "{path}");
        assert!(flash_after(&mut anna, &p)
            .await
            .contains("form has expired"));
    }
    assert_eq!(customer().await, before);

    let p = anna
        .post(
            &format!("/portal/profile/contacts/{carl}/remove"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert!(flash_after(&mut anna, &p)
        .await
        .contains("contact has been removed"));
    assert_eq!(customer().await["contacts"], json!([]));

    // The page speaks Russian too.
    anna.cookies.insert("ld_lang".into(), "ru".into());
    let page = anna.get("/portal/profile").await;
    assert!(page.body.contains("Ваши данные"), "{}", page.body);
    let page = anna.get("/portal/payment-methods").await;
    assert!(page.body.contains("Способы оплаты"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_with_a_portal_login_is_not_removed() {
    let srv = common::sqlite().await;
    let c = srv.org("Northwind").await;
    let (mut anna, cus_a, _) = anna_and_beta(&srv, &c).await;
    let cus = c
        .post(
            &format!("/v1/customers/{cus_a}/contacts"),
            json!({"name": "Dora", "email": "dora@alpha.example"}),
        )
        .await
        .ok();
    let dora = s(&cus["contacts"][0]["id"]);
    c.post(
        &format!("/v1/customers/{cus_a}/portal_users"),
        json!({"email": "dora@alpha.example", "password": "portal-password-2"}),
    )
    .await
    .ok();
    let page = anna.get("/portal/profile").await;
    let p = anna
        .post(
            &format!("/portal/profile/contacts/{dora}/remove"),
            &[("_csrf", &csrf_in(&page.body))],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("signs in to the portal"), "{}", p.body);
    let cus = c.get(&format!("/v1/customers/{cus_a}")).await.ok();
    assert_eq!(cus["contacts"].as_array().unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------
// Console: KPIs and live chat

#[tokio::test]
async fn console_kpi_page_draws_the_report_and_chat_page_sets_online() {
    let srv = common::sqlite().await;
    let c = srv.org("Northwind").await;
    let (cus, _) = customer_with_invoice(&c, "Alpha GmbH", "anna@alpha.example").await;
    add_agent_and_supervisor(&c).await;
    for subject in ["Why this amount?", "Card declined"] {
        c.post(
            "/v1/tickets",
            json!({"customer": cus, "subject": subject, "body": "Please explain.", "category": "invoice_discrepancy"}),
        )
        .await
        .ok();
    }
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Duration::days(29);
    let report = c
        .get(&format!("/v1/kpis?from={from}&to={today}"))
        .await
        .ok();
    let total = report["contacts"]["total"].as_u64().unwrap();
    assert!(total >= 2, "{report}");

    let mut sam = Browser::new(&srv);
    sam.sign_in(
        "console",
        &c.org_id,
        "sam@northwind.example",
        "staff-password-1",
    )
    .await;
    let page = sam.get("/console/kpis").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("First contact resolution"));
    assert_eq!(page.body.matches("<svg").count(), 5, "five charts");
    assert!(page.body.contains(&format!("value=\"{from}\"")));
    assert!(
        page.body
            .contains(&format!("<strong class=\"tile-value\">{total}</strong>")),
        "the contacts tile shows the report's total"
    );
    assert!(
        page.body.contains("invoice discrepancy"),
        "categories chart"
    );
    // In Russian: the figures and the charts' titles.
    sam.get("/lang/ru?back=/console/kpis").await;
    let ru = sam.get("/console/kpis").await;
    assert_eq!(ru.status, 200);
    assert!(
        ru.body.contains("Решено с первого обращения"),
        "{}",
        ru.body
    );
    assert!(ru.body.contains("<title>Обращения по дням</title>"));
    sam.get("/lang/en?back=/console/kpis").await;
    // A bad range is a clear error, not a chart.
    let bad = sam
        .get(&format!("/console/kpis?from={today}&to={from}"))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);

    let mut alex = Browser::new(&srv);
    alex.sign_in(
        "console",
        &c.org_id,
        "alex@northwind.example",
        "staff-password-1",
    )
    .await;
    let q = alex.get("/console").await;
    assert!(!q.body.contains("/console/kpis"), "agents see no KPI link");
    assert_eq!(alex.get("/console/kpis").await.status, 403);

    // The chat page: the agent goes online (CSRF checked), and back offline.
    let online = |c: &Client| {
        let c = c.clone();
        async move {
            let staff = c.get("/v1/staff").await.ok();
            staff
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["email"] == "alex@northwind.example")
                .unwrap()["online"]
                .as_bool()
                .unwrap()
        }
    };
    let page = alex.get("/console/chat").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("data-chat=\"agent\"") && page.body.contains("Go online"));
    let csrf = csrf_in(&page.body);
    alex.post(
        "/console/chat/online",
        &[("_csrf", "forged"), ("online", "true")],
    )
    .await;
    assert!(!online(&c).await, "a forged form changes nothing");
    let p = alex
        .post(
            "/console/chat/online",
            &[("_csrf", &csrf), ("online", "true")],
        )
        .await;
    assert_eq!(p.status, 303);
    assert!(online(&c).await);
    assert!(alex.get("/console/chat").await.body.contains("Go offline"));
    alex.post(
        "/console/chat/online",
        &[("_csrf", &csrf), ("online", "false")],
    )
    .await;
    assert!(!online(&c).await);
}

#[tokio::test]
async fn console_offers_every_billing_action_with_its_fields() {
    let srv = common::sqlite().await;
    let c = srv.org("Northwind").await;
    let (cus, inv) = customer_with_invoice(&c, "Alpha GmbH", "anna@alpha.example").await;
    add_agent_and_supervisor(&c).await;
    let t = c
        .post(
            "/v1/tickets",
            json!({"customer": cus, "subject": "More time please", "body": "Can I pay later?",
                   "links": [{"type": "invoice", "id": inv}]}),
        )
        .await
        .ok();
    let tid = s(&t["id"]);
    let mut alex = Browser::new(&srv);
    alex.sign_in(
        "console",
        &c.org_id,
        "alex@northwind.example",
        "staff-password-1",
    )
    .await;
    let page = alex.get(&format!("/console/tickets/{tid}")).await;
    for action in [
        "refund",
        "discount",
        "due_date_extension",
        "payment_plan",
        "write_off",
    ] {
        assert!(
            page.body.contains(&format!("<option value=\"{action}\">")),
            "{action} offered"
        );
    }
    let csrf = csrf_in(&page.body);
    let act = |action: &'static str, extra: Vec<(&'static str, String)>| {
        let mut form: Vec<(&str, String)> = vec![
            ("_csrf", csrf.clone()),
            ("action", action.into()),
            ("amount", String::new()),
            ("currency", "EUR".into()),
            ("invoice", inv.clone()),
            ("payment", String::new()),
            ("coupon", String::new()),
            ("due_date", String::new()),
            ("instalments", String::new()),
            ("reason", "Customer asked for time".into()),
            ("reason_code", "other".into()),
        ];
        for (k, v) in extra {
            form.retain(|(name, _)| *name != k);
            form.push((k, v));
        }
        form
    };
    let actions = |c: &Client| {
        let c = c.clone();
        let tid = tid.clone();
        async move { c.get(&format!("/v1/tickets/{tid}/actions")).await.ok() }
    };

    // A due-date extension within the agent's limit runs at once.
    let due = (chrono::Utc::now() + chrono::Duration::days(20)).date_naive();
    let p = post_action(
        &mut alex,
        &tid,
        act("due_date_extension", vec![("due_date", due.to_string())]),
    )
    .await;
    assert_eq!(p.status, 303);
    let a = actions(&c).await;
    assert_eq!(a[0]["action"], "due_date_extension", "{a}");
    assert_eq!(a[0]["status"], "executed", "{a}");
    let invoice = c.get(&format!("/v1/invoices/{inv}")).await.ok();
    assert_eq!(invoice["due_date"], due.to_string(), "{invoice}");

    // A badly written instalment is refused before anything is asked of the desk.
    post_action(
        &mut alex,
        &tid,
        act("payment_plan", vec![("instalments", "next week 60".into())]),
    )
    .await;
    assert_eq!(actions(&c).await.as_array().unwrap().len(), 1);

    // Two instalments adding up to what is owed.
    let (d1, d2) = (
        due + chrono::Duration::days(10),
        due + chrono::Duration::days(40),
    );
    let p = post_action(
        &mut alex,
        &tid,
        act(
            "payment_plan",
            vec![("instalments", format!("{d1} 60.00\n{d2} 60,00\n"))],
        ),
    )
    .await;
    assert_eq!(p.status, 303);
    let a = actions(&c).await;
    let plan = a
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["action"] == "payment_plan")
        .expect("a payment plan action");
    assert!(
        plan["status"] == "executed" || plan["status"] == "pending_approval",
        "{a}"
    );
}

async fn post_action(b: &mut Browser, tid: &str, form: Vec<(&'static str, String)>) -> Page {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    b.post(&format!("/console/tickets/{tid}/actions"), &pairs)
        .await
}

/// DESK.md: a customer's reply reopens a resolved ticket; a closed ticket takes no reply
/// (the customer is told to open a new one); a resolved ticket can be rated once.
#[tokio::test]
async fn portal_reply_reopens_a_resolved_ticket_and_a_closed_one_refuses() {
    let srv = common::sqlite().await;
    let c = srv.org("Northwind").await;
    let (_, inv) = customer_with_invoice(&c, "Alpha GmbH", "anna@alpha.example").await;
    add_agent_and_supervisor(&c).await;
    let mut anna = Browser::new(&srv);
    anna.sign_in(
        "portal",
        &c.org_id,
        "anna@alpha.example",
        "portal-password-1",
    )
    .await;
    let csrf = csrf_in(&anna.get("/portal/tickets/new").await.body);
    let p = anna
        .post(
            "/portal/tickets",
            &[
                ("_csrf", &csrf),
                ("subject", "Why this amount?"),
                ("body", "Please explain."),
                ("category", "invoice_discrepancy"),
                ("invoice", &inv),
            ],
        )
        .await;
    let at = p.location.unwrap();
    let tid = at.rsplit('/').next().unwrap().to_string();
    let status = |c: &Client| {
        let (c, tid) = (c.clone(), tid.clone());
        async move {
            let t = c.get(&format!("/v1/tickets/{tid}")).await.ok();
            (s(&t["status"]), t["interactions"].as_array().unwrap().len())
        }
    };
    let mut alex = Browser::new(&srv);
    alex.sign_in(
        "console",
        &c.org_id,
        "alex@northwind.example",
        "staff-password-1",
    )
    .await;
    let staff_csrf = csrf_in(&alex.get(&format!("/console/tickets/{tid}")).await.body);
    staff_reply(
        &mut alex,
        &tid,
        &staff_csrf,
        "It is the onboarding line.",
        "resolved",
    )
    .await;
    assert_eq!(status(&c).await.0, "resolved");

    // Rating the resolved ticket: 1–5 only, once.
    let bad = anna
        .post(&format!("{at}/rate"), &[("_csrf", &csrf), ("rating", "9")])
        .await;
    assert_eq!(bad.status, 303);
    anna.post(&format!("{at}/rate"), &[("_csrf", &csrf), ("rating", "5")])
        .await;
    let today = chrono::Utc::now().date_naive();
    let k = c
        .get(&format!("/v1/kpis?from={today}&to={today}"))
        .await
        .ok();
    assert_eq!(k["csat"]["numerator"], 1, "{k}");
    assert_eq!(k["csat"]["denominator"], 1, "{k}");

    // Her reply reopens it.
    let (_, before) = status(&c).await;
    anna.post(
        &format!("{at}/reply"),
        &[("_csrf", &csrf), ("body", "Thanks, one more thing.")],
    )
    .await;
    let (st, after) = status(&c).await;
    assert_ne!(st, "resolved", "a customer reply reopens a resolved ticket");
    assert_eq!(after, before + 1);

    // Closed: her reply is refused with the reason, and nothing is added.
    staff_reply(&mut alex, &tid, &staff_csrf, "Answered.", "resolved").await;
    staff_reply(&mut alex, &tid, &staff_csrf, "Closing this.", "closed").await;
    let (st, before) = status(&c).await;
    assert_eq!(st, "closed");
    let p = anna
        .post(
            &format!("{at}/reply"),
            &[("_csrf", &csrf), ("body", "Hello?")],
        )
        .await;
    assert_eq!(p.status, 303);
    let flash = flash_after(&mut anna, &p).await;
    assert!(flash.contains("open a new ticket"), "{flash}");
    assert_eq!(status(&c).await.1, before);
}

async fn staff_reply(b: &mut Browser, tid: &str, csrf: &str, body: &str, status: &str) -> Page {
    b.post(
        &format!("/console/tickets/{tid}/reply"),
        &[("_csrf", csrf), ("body", body), ("status", status)],
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Products, cancellation and the retention offer

/// A monthly flat EUR price of `amount` for a new product `name`.
async fn monthly_price(c: &Client, name: &str, amount: i64) -> String {
    let prod = c.post("/v1/products", json!({"name": name})).await.ok();
    let price = c
        .post(
            "/v1/prices",
            json!({"product": prod["id"], "model": "flat", "recurring": {"interval": "month"},
                   "currency_amounts": {"EUR": {"amount": amount}}}),
        )
        .await
        .ok();
    s(&price["id"])
}

/// A subscription of `cus` to `price` (its first invoice is written by the API).
async fn subscribe(c: &Client, cus: &str, price: &str) -> String {
    let r = c
        .post(
            "/v1/subscriptions",
            json!({"customer": cus, "items": [{"price": price}]}),
        )
        .await
        .ok();
    s(&r["id"])
}

/// The minor units of an amount as a page shows it ("€12.34" → 1234).
fn minor(shown: &str) -> i64 {
    let digits: String = shown.chars().filter(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no amount in {shown:?}"))
}

/// The text of the element with `data-testid="{id}"`.
fn testid(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("data-testid=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id} in {html}"));
    let rest = &html[at..];
    let text = &rest[rest.find('>').unwrap() + 1..];
    text[..text.find('<').unwrap()].to_string()
}

/// The live discounts of a customer, read from the database.
async fn discounts(srv: &Server, cus: &str, org: &str) -> usize {
    let mut tx = srv.db.read().await.unwrap();
    store::subscriptions::discounts_of_customers(&mut tx, org, &[cus.to_string()])
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_product_invoices_exactly_the_preview_and_removal_waits_for_period_end() {
    let srv = common::sqlite().await;
    let c = srv.org("Northwind").await;
    let (mut anna, cus_a, cus_b) = anna_and_beta(&srv, &c).await;
    let base = monthly_price(&c, "Base", 2_000).await;
    let seats = monthly_price(&c, "Extra seats", 700).await;
    let sub = subscribe(&c, &cus_a, &base).await;
    let sub_b = subscribe(&c, &cus_b, &base).await;

    let home = anna.get("/portal").await;
    assert!(home
        .body
        .contains(&format!("href=\"/portal/subscriptions/{sub}/add\"")));
    let csrf = csrf_in(&home.body);
    // The page offers what is not on the subscription yet, with labelled fields.
    let page = anna.get(&format!("/portal/subscriptions/{sub}/add")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&format!("value=\"{seats}\"")));
    assert!(!page.body.contains(&format!("value=\"{base}\"")));
    assert!(
        page.body.contains("<label for=\"price\">")
            && page.body.contains("<label for=\"quantity\">")
    );

    let form = [
        ("_csrf", csrf.as_str()),
        ("price", &seats),
        ("quantity", "3"),
    ];
    let p = anna
        .post(&format!("/portal/subscriptions/{sub}/add/preview"), &form)
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let previewed = minor(&testid(&p.body, "preview-due"));
    assert!(previewed > 0, "{}", p.body);
    assert!(p
        .body
        .contains(&format!("action=\"/portal/subscriptions/{sub}/add\"")));

    let before = c.count("/v1/invoices").await;
    let p = anna
        .post(&format!("/portal/subscriptions/{sub}/add"), &form)
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let to = p.location.clone().unwrap();
    let inv_id = to
        .strip_prefix("/portal/invoices/")
        .expect("lands on the invoice");
    let inv = c.get(&format!("/v1/invoices/{inv_id}")).await.ok();
    assert_eq!(inv["amount_due"].as_i64().unwrap(), previewed, "{inv}");
    assert_eq!(c.count("/v1/invoices").await, before + 1);
    let page = anna.get(&to).await;
    assert!(
        page.body.contains("product has been added"),
        "{}",
        page.body
    );
    let s_now = c.get(&format!("/v1/subscriptions/{sub}")).await.ok();
    let items = s_now["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    let seat_item = items.iter().find(|i| i["price"] == seats.as_str()).unwrap();
    assert_eq!(seat_item["quantity"], 3);
    let seat_item = s(&seat_item["id"]);
    let base_item = s(&items.iter().find(|i| i["price"] == base.as_str()).unwrap()["id"]);
    // Nothing left to add; a price already on it is refused.
    let page = anna.get(&format!("/portal/subscriptions/{sub}/add")).await;
    assert!(page.body.contains("nothing more to add"), "{}", page.body);
    let p = anna
        .post(
            &format!("/portal/subscriptions/{sub}/add/preview"),
            &[("_csrf", &csrf), ("price", &base), ("quantity", "1")],
        )
        .await;
    assert!(p.body.contains("cannot be added"), "{}", p.body);

    // Removing the add-on: previewed, then pending until the period ends.
    let home = anna.get("/portal").await;
    let remove = format!("/portal/subscriptions/{sub}/items/{seat_item}/remove");
    assert!(
        home.body.contains(&format!("href=\"{remove}\"")),
        "{}",
        home.body
    );
    let page = anna.get(&remove).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page
        .body
        .contains("Takes effect at the end of the current period"));
    let p = anna.post(&remove, &[("_csrf", &csrf)]).await;
    assert!(flash_after(&mut anna, &p)
        .await
        .contains("removed at the end"));
    let s_now = c.get(&format!("/v1/subscriptions/{sub}")).await.ok();
    let seat = s_now["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == seat_item.as_str())
        .unwrap()
        .clone();
    assert_eq!(seat["pending_quantity"], 0, "{s_now}");
    // The last staying item is not removed: cancelling is the way.
    let last = format!("/portal/subscriptions/{sub}/items/{base_item}/remove");
    let page = anna.get(&last).await;
    assert!(
        page.body.contains("keeps at least one product"),
        "{}",
        page.body
    );
    let p = anna.post(&last, &[("_csrf", &csrf)]).await;
    assert!(flash_after(&mut anna, &p)
        .await
        .contains("keeps at least one product"));

    // Beta's subscription: "not found" on every page and form, and untouched.
    let beta_before = c.get(&format!("/v1/subscriptions/{sub_b}")).await.ok();
    let beta_item = s(&beta_before["items"][0]["id"]);
    for path in [
        format!("/portal/subscriptions/{sub_b}/add"),
        format!("/portal/subscriptions/{sub_b}/items/{beta_item}/remove"),
        format!("/portal/subscriptions/{sub_b}/cancel"),
    ] {
        let p = anna.get(&path).await;
        assert_eq!(p.status, 404, "GET {path}: {}", p.body);
        assert!(!p.body.contains("Beta"), "{path}");
    }
    for (path, form) in [
        (
            format!("/portal/subscriptions/{sub_b}/add/preview"),
            vec![("price", seats.as_str()), ("quantity", "1")],
        ),
        (
            format!("/portal/subscriptions/{sub_b}/add"),
            vec![("price", seats.as_str()), ("quantity", "1")],
        ),
        (
            format!("/portal/subscriptions/{sub_b}/items/{beta_item}/remove"),
            vec![],
        ),
        (format!("/portal/subscriptions/{sub_b}/cancel"), vec![]),
        (format!("/portal/subscriptions/{sub_b}/offer"), vec![]),
        (format!("/portal/subscriptions/{sub_b}/resume"), vec![]),
        // An item of another subscription is not found either.
        (
            format!("/portal/subscriptions/{sub}/items/{beta_item}/remove"),
            vec![],
        ),
    ] {
        let mut f = vec![("_csrf", csrf.as_str())];
        f.extend(form);
        let p = anna.post(&path, &f).await;
        assert_eq!(p.status, 404, "POST {path}: {}", p.body);
    }
    assert_eq!(
        c.get(&format!("/v1/subscriptions/{sub_b}")).await.ok(),
        beta_before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_shows_the_offer_once_then_ends_at_period_end_and_resumes() {
    let srv = common::sqlite().await;
    let c = srv.org("Northwind").await;
    let (mut anna, cus_a, _) = anna_and_beta(&srv, &c).await;
    let base = monthly_price(&c, "Base", 2_000).await;
    let sub = subscribe(&c, &cus_a, &base).await;
    let cancel = format!("/portal/subscriptions/{sub}/cancel");

    // Without an offer the page goes straight to the confirmation, with the end date.
    let page = anna.get(&cancel).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("data-testid=\"confirm-cancel\""));
    assert!(!page.body.contains("data-testid=\"offer\""));
    assert!(page.body.contains("the service runs until"));
    let csrf = csrf_in(&page.body);

    // The offer: only a coupon of the organisation.
    c.post(
        "/v1/settings/retention_offer",
        json!({"coupon": "cpn_0000000000000000000000"}),
    )
    .await
    .err_param(400, "parameter_invalid", "coupon");
    let coupon = c
        .post(
            "/v1/coupons",
            json!({"name": "Stay", "percent_off": "20", "duration": "repeating", "duration_in_periods": 3}),
        )
        .await
        .ok();
    let coupon = s(&coupon["id"]);
    let offer = c
        .post(
            "/v1/settings/retention_offer",
            json!({"coupon": coupon, "message": "Stay and get 20 % off for 3 months"}),
        )
        .await
        .ok();
    assert_eq!(offer["coupon"], coupon.as_str());
    assert_eq!(
        c.get("/v1/settings/retention_offer").await.ok()["coupon"],
        coupon.as_str()
    );

    let page = anna.get(&cancel).await;
    assert!(page.body.contains("data-testid=\"offer\""), "{}", page.body);
    assert!(page.body.contains("Stay and get 20 % off for 3 months"));
    assert!(page.body.contains("20 % off each of your next 3 invoices"));
    assert!(page.body.contains(&format!("href=\"{cancel}?anyway=1\"")));
    assert!(!page.body.contains("data-testid=\"confirm-cancel\""));
    let page = anna.get(&format!("{cancel}?anyway=1")).await;
    assert!(page.body.contains("data-testid=\"confirm-cancel\""));

    // Forms without the session's token change nothing.
    let s_before = c.get(&format!("/v1/subscriptions/{sub}")).await.ok();
    for path in [
        cancel.clone(),
        format!("/portal/subscriptions/{sub}/offer"),
        format!("/portal/subscriptions/{sub}/resume"),
    ] {
        let p = anna.post(&path, &[("_csrf", "forged")]).await;
        assert!(
            flash_after(&mut anna, &p)
                .await
                .contains("form has expired"),
            "{path}"
        );
    }
    let p = anna
        .post(
            &format!("/portal/subscriptions/{sub}/add"),
            &[("_csrf", "forged"), ("price", &base), ("quantity", "1")],
        )
        .await;
    assert!(flash_after(&mut anna, &p)
        .await
        .contains("form has expired"));
    assert_eq!(
        c.get(&format!("/v1/subscriptions/{sub}")).await.ok(),
        s_before
    );
    assert_eq!(discounts(&srv, &cus_a, &c.org_id).await, 0);

    // Accepting gives one discount; a second accept is refused and adds none.
    let offer_path = format!("/portal/subscriptions/{sub}/offer");
    let p = anna.post(&offer_path, &[("_csrf", &csrf)]).await;
    assert!(flash_after(&mut anna, &p)
        .await
        .contains("Thank you for staying"));
    assert_eq!(discounts(&srv, &cus_a, &c.org_id).await, 1);
    let p = anna.post(&offer_path, &[("_csrf", &csrf)]).await;
    assert!(flash_after(&mut anna, &p)
        .await
        .contains("already been accepted"));
    assert_eq!(discounts(&srv, &cus_a, &c.org_id).await, 1);
    // The offer is not shown again: straight to the confirmation.
    let page = anna.get(&cancel).await;
    assert!(!page.body.contains("data-testid=\"offer\""));
    assert!(page.body.contains("data-testid=\"confirm-cancel\""));

    // Cancel at period end, then resume.
    let p = anna.post(&cancel, &[("_csrf", &csrf)]).await;
    assert!(flash_after(&mut anna, &p)
        .await
        .contains("Your subscription ends on"));
    let s_now = c.get(&format!("/v1/subscriptions/{sub}")).await.ok();
    assert_eq!(s_now["cancel_at_period_end"], true, "{s_now}");
    assert!(s_now["ended_at"].is_null());
    let page = anna.get(&cancel).await;
    assert!(page
        .body
        .contains(&format!("action=\"/portal/subscriptions/{sub}/resume\"")));
    let home = anna.get("/portal").await;
    assert!(home.body.contains("Ends on"));
    let p = anna
        .post(
            &format!("/portal/subscriptions/{sub}/resume"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert!(flash_after(&mut anna, &p).await.contains("continues"));
    let s_now = c.get(&format!("/v1/subscriptions/{sub}")).await.ok();
    assert_eq!(s_now["cancel_at_period_end"], false);
    assert!(s_now["canceled_at"].is_null());
    // The accepted offer, the cancel and the resume are on the customer's timeline, as the
    // API records them.
    let tl = c.get(&format!("/v1/customers/{cus_a}/timeline")).await.ok();
    let updates: Vec<&serde_json::Value> = tl["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "subscription.updated")
        .collect();
    assert_eq!(updates.len(), 3, "{tl}");
    let offers = updates
        .iter()
        .filter(|e| !e["data"]["object"]["retention_offer"].is_null())
        .count();
    assert_eq!(offers, 1, "{tl}");

    // Without an offer configured, the page goes straight to the confirmation again.
    c.delete("/v1/settings/retention_offer").await.ok();
    let sub2 = subscribe(&c, &cus_a, &base).await;
    let page = anna
        .get(&format!("/portal/subscriptions/{sub2}/cancel"))
        .await;
    assert!(page.body.contains("data-testid=\"confirm-cancel\""));
    assert!(!page.body.contains("data-testid=\"offer\""));
}

/// `web::ui::names`: a staff member added after the names were cached is named on the next
/// page (an unknown id reloads the set, once it is older than `MISS_GAP`), not shown by id
/// until the cache expires.
#[tokio::test]
async fn a_new_staff_member_is_named_before_the_name_cache_expires() {
    let srv = common::sqlite().await;
    let (c, _, tid, mut alex) = ticket_and_agent(&srv, "Who has this?").await;
    assert_eq!(
        alex.get(&format!("/console/tickets/{tid}")).await.status,
        200
    );
    let nora = c
        .post(
            "/v1/staff",
            json!({"email": "nora@northwind.example", "name": "Nora New", "role": "agent",
                   "password": "staff-password-1"}),
        )
        .await
        .ok();
    c.post(
        &format!("/v1/tickets/{tid}"),
        json!({"assignee": s(&nora["id"])}),
    )
    .await
    .ok();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let page = alex.get(&format!("/console/tickets/{tid}")).await;
    assert!(page.body.contains("Nora New"), "{}", page.body);
}

// ---------------------------------------------------------------------------------------
// The customer-360 panel when its read fails

/// Runs one statement on the server's SQLite database.
async fn sqlite_exec(srv: &Server, sql: &str) {
    let store::Db::Sqlite(pool) = &srv.db else {
        panic!("an SQLite server")
    };
    sqlx::query(sql).execute(pool).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_account_read_shows_a_message_in_the_panels_place() {
    let srv = common::sqlite().await;
    let c = srv.org("Northwind").await;
    let (cus, _) = customer_with_invoice(&c, "Alpha GmbH", "anna@alpha.example").await;
    add_agent_and_supervisor(&c).await;
    let mut alex = console_as(&srv, &c.org_id, "alex@northwind.example").await;
    let path = format!("/console/customers/{cus}");
    let page = alex.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("€120.00"), "{}", page.body);
    assert!(!page.body.contains("data-testid=\"panel-error\""));
    // Unknown and malformed ids: no such customer.
    for missing in [
        "/console/customers/cus_0000000000000000",
        "/console/customers/x",
    ] {
        let p = alex.get(missing).await;
        assert_eq!(p.status, 404, "{missing}");
        assert!(!p.body.contains("data-testid=\"panel-error\""), "{missing}");
    }

    // The account's payments cannot be read: the page says so instead of "not found".
    sqlite_exec(&srv, "ALTER TABLE payments RENAME TO payments_away").await;
    let page = alex.get(&path).await;
    assert_eq!(page.status, 500, "{}", page.body);
    assert!(
        page.body.contains("data-testid=\"panel-error\"")
            && page.body.contains("could not be read just now"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("There is nothing here"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&cus),
        "the heading names the customer id"
    );
    alex.cookies.insert("ld_lang".into(), "ru".into());
    let page = alex.get(&path).await;
    assert_eq!(page.status, 500);
    assert!(
        page.body.contains("Не удалось прочитать данные клиента"),
        "{}",
        page.body
    );

    sqlite_exec(&srv, "ALTER TABLE payments_away RENAME TO payments").await;
    let page = alex.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Alpha GmbH") && !page.body.contains("panel-error"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_russian_page_shows_app_errors_in_russian() {
    let srv = common::sqlite().await;
    let c = srv.org("Northwind").await;
    let (cus, _) = customer_with_invoice(&c, "Alpha GmbH", "anna@alpha.example").await;
    let t = c
        .post(
            "/v1/tickets",
            json!({"customer": cus, "subject": "Old question", "body": "Hello."}),
        )
        .await
        .ok();
    let tid = s(&t["id"]);
    c.post(
        &format!("/v1/tickets/{tid}/replies"),
        json!({"body": "Done.", "status": "resolved"}),
    )
    .await
    .ok();
    c.post(&format!("/v1/tickets/{tid}"), json!({"status": "closed"}))
        .await
        .ok();
    let mut anna = Browser::new(&srv);
    anna.sign_in(
        "portal",
        &c.org_id,
        "anna@alpha.example",
        "portal-password-1",
    )
    .await;
    anna.cookies.insert("ld_lang".into(), "ru".into());

    // A refusal by state (ticket_closed): the flash is the Russian sentence, not the app's.
    let csrf = csrf_in(&anna.get("/portal/tickets/new").await.body);
    let p = anna
        .post(
            &format!("/portal/tickets/{tid}/reply"),
            &[("_csrf", &csrf), ("body", "Ещё вопрос")],
        )
        .await;
    let flash = flash_after(&mut anna, &p).await;
    assert_eq!(flash, "Обращение закрыто: создайте новое.");

    // Bad input: a Russian sentence naming the field, with the app's detail.
    let page = anna.get("/portal/profile").await;
    let csrf = csrf_in(&page.body);
    let form = [
        ("_csrf", csrf.as_str()),
        ("name", "Alpha GmbH"),
        ("email", "anna@alpha.example"),
        ("phone", ""),
        ("locale", "ru"),
        ("line1", ""),
        ("line2", ""),
        ("city", ""),
        ("postal_code", "10115"),
        ("region", ""),
        ("country", "Germany"),
    ];
    let p = anna.post("/portal/profile", &form).await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(
        p.body
            .contains("id=\"country-error\">Проверьте поле «Страна (две буквы, например RU)»: ")
            && p.body.contains("is not an ISO 3166-1 alpha-2 country code"),
        "{}",
        p.body
    );

    // The same refusal on an English page is the app's message, as before.
    anna.cookies.insert("ld_lang".into(), "en".into());
    let p = anna
        .post(
            &format!("/portal/tickets/{tid}/reply"),
            &[("_csrf", &csrf), ("body", "One more")],
        )
        .await;
    let flash = flash_after(&mut anna, &p).await;
    assert!(flash.contains("open a new ticket"), "{flash}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_reject_and_refuse_unknown_decisions_and_forged_forms() {
    let srv = common::sqlite().await;
    let (c, _, tid, mut alex) = ticket_and_agent(&srv, "Credit please").await;
    let csrf = csrf_in(&alex.get(&format!("/console/tickets/{tid}")).await.body);
    let form = vec![
        ("action", "goodwill_credit".to_string()),
        ("amount", "120.00".into()),
        ("currency", "EUR".into()),
        ("reason", "Too much".into()),
        ("reason_code", "goodwill".into()),
        ("_csrf", csrf),
    ];
    post_action(&mut alex, &tid, form).await;
    let acts = c.get(&format!("/v1/tickets/{tid}/actions")).await.ok();
    assert_eq!(acts[0]["status"], "pending_approval", "{acts}");
    let action_id = s(&acts[0]["id"]);

    let mut sam = console_as(&srv, &c.org_id, "sam@northwind.example").await;
    let csrf = csrf_in(&sam.get("/console/approvals").await.body);
    let at = |d: &str| format!("/console/approvals/{action_id}/{d}");
    // A forged form goes back "expired", whatever it asked for; nothing is decided.
    for d in ["reject", "maybe"] {
        let p = sam.post(&at(d), &[("_csrf", "forged")]).await;
        assert_eq!(p.location.as_deref(), Some("/console/approvals"), "{d}");
        assert!(flash_after(&mut sam, &p).await.contains("expired"), "{d}");
    }
    // An unknown decision with the right token is not found.
    assert_eq!(
        sam.post(&at("maybe"), &[("_csrf", &csrf)]).await.status,
        404
    );
    let acts = c.get(&format!("/v1/tickets/{tid}/actions")).await.ok();
    assert_eq!(acts[0]["status"], "pending_approval", "{acts}");
    let p = sam.post(&at("reject"), &[("_csrf", &csrf)]).await;
    assert_eq!(flash_after(&mut sam, &p).await, "Rejected");
    let acts = c.get(&format!("/v1/tickets/{tid}/actions")).await.ok();
    assert_eq!(acts[0]["status"], "rejected", "{acts}");
    // Deciding it again is refused with the reason.
    let p = sam.post(&at("approve"), &[("_csrf", &csrf)]).await;
    let flash = flash_after(&mut sam, &p).await;
    assert!(flash.contains("is rejected"), "{flash}");
}
