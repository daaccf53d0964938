//! The service desk over HTTP, on the real router over SQLite and PostgreSQL: staff login
//! and sessions (on desk and billing routes), the role boundary, inbound mail → ticket →
//! reply → queue → resolution → CSAT answer → KPIs (JSON and CSV), billing actions above the
//! limit going through approval, and bad input naming the field.

mod common;

use common::{s, Client, Resp};
use serde_json::{json, Value};

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::common::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(srv) = super::common::start(store::Backend::Postgres).await {
                        super::$name(srv).await;
                    }
                }
            )*
        }
    };
}

on_both!(
    login_sessions_and_logout,
    roles_are_enforced_over_http,
    mail_to_ticket_reply_resolution_csat_and_kpis,
    actions_above_the_limit_wait_for_approval,
    bad_input_names_the_field,
);

const PASSWORD: &str = "correct horse battery";

/// Creates a staff user with the organisation's key and logs them in: a client whose
/// bearer token is the session.
async fn staff_session(c: &Client, email: &str, role: &str) -> Client {
    c.post(
        "/v1/staff",
        json!({"email": email, "name": email.split('@').next().unwrap(),
               "role": role, "password": PASSWORD}),
    )
    .await
    .ok();
    login(c, email).await
}

async fn login(c: &Client, email: &str) -> Client {
    let r = anonymous(c)
        .post(format!("{}/v1/sessions", c.base))
        .json(&json!({"organisation": c.org_id, "email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    let session = common::into_resp(r).await.ok();
    let token = s(&session["token"]);
    assert!(token.starts_with("ses_"), "{session}");
    Client {
        key: token,
        ..c.clone()
    }
}

fn anonymous(c: &Client) -> reqwest::Client {
    c.http.clone()
}

fn mime(from: &str, subject: &str, message_id: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: billing@acme.test\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Fri, 27 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n{extra}\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn inbound(c: &Client, raw: Vec<u8>) -> Value {
    c.post_raw("/v1/inbound/email", raw, Some("message/rfc822"))
        .await
        .ok()
}

/// A customer with this email address; returns its id.
async fn customer(c: &Client, email: &str) -> String {
    let cus = c
        .post(
            "/v1/customers",
            json!({"name": "Jane Buyer", "currency": "EUR", "email": email}),
        )
        .await
        .ok();
    s(&cus["id"])
}

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

async fn login_sessions_and_logout(srv: common::Server) {
    let org = srv.org("Acme").await;
    org.post(
        "/v1/staff",
        json!({"email": "Agent@Acme.test", "name": "Agnes", "role": "agent",
               "password": PASSWORD}),
    )
    .await
    .ok();
    let http = anonymous(&org);
    let try_login = |email: &str, password: &str, organisation: &str| {
        let body = json!({"organisation": organisation, "email": email, "password": password});
        let req = http.post(format!("{}/v1/sessions", org.base)).json(&body);
        async move { common::into_resp(req.send().await.expect("send")).await }
    };
    // Wrong password, unknown email and another organisation are one answer.
    for (email, password, o) in [
        ("agent@acme.test", "wrong password!!", org.org_id.as_str()),
        ("nobody@acme.test", PASSWORD, org.org_id.as_str()),
        ("agent@acme.test", PASSWORD, "org_doesnotexist"),
    ] {
        let r = try_login(email, password, o).await;
        r.err(401, "invalid_api_key");
        assert!(r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wrong email or password"));
    }
    // The email is matched case-insensitively.
    let r = try_login("agent@acme.test", PASSWORD, &org.org_id).await;
    let session = r.ok();
    assert_eq!(session["object"], "session");
    assert_eq!(session["staff"]["role"], "agent");
    assert_eq!(session["staff"]["email"], "agent@acme.test");
    let token = s(&session["token"]);
    assert!(token.starts_with("ses_"));
    let agent = Client {
        key: token.clone(),
        ..org.clone()
    };

    // The session works on desk routes and on billing routes.
    let t = agent
        .post("/v1/tickets", json!({"subject": "Where is my invoice?"}))
        .await
        .ok();
    assert_eq!(t["status"], "new");
    assert_eq!(agent.ids("/v1/tickets").await, vec![s(&t["id"])]);
    assert_eq!(agent.get("/v1/customers").await.ok()["object"], "list");
    // Billing records are read-only to a non-admin session: changes go through a ticket's
    // actions (limits, approvals), payment methods through payment_details.
    agent
        .post(
            "/v1/customers",
            json!({"name": "Made by a session", "currency": "EUR"}),
        )
        .await
        .err(403, "permission_denied");
    assert_eq!(org.count("/v1/customers").await, 0);
    // What the agent did is in the audit log under their id.
    let log = org.get("/v1/audit_log?limit=100").await.ok();
    let staff_id = s(&session["staff"]["id"]);
    assert!(log["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| { e["action"] == "ticket.created" && e["actor"] == staff_id.as_str() }));
    // A second session of the same person is independent.
    let second = login(&org, "agent@acme.test").await;

    // An API key has no session to end.
    org.delete("/v1/sessions/current")
        .await
        .err(401, "missing_session");
    let r = agent.delete("/v1/sessions/current").await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    // After logout the token is refused everywhere.
    for path in ["/v1/tickets", "/v1/customers", "/v1/staff"] {
        agent.get(path).await.err(401, "invalid_api_key");
    }
    agent
        .post("/v1/tickets", json!({"subject": "after logout"}))
        .await
        .err(401, "invalid_api_key");
    agent
        .delete("/v1/sessions/current")
        .await
        .err(401, "invalid_api_key");
    // A made-up session token is refused too; the other session still works.
    let fake = Client {
        key: "ses_000000000000000000000000".into(),
        ..org.clone()
    };
    fake.get("/v1/tickets").await.err(401, "invalid_api_key");
    fake.get("/v1/customers").await.err(401, "invalid_api_key");
    assert_eq!(second.ids("/v1/tickets").await.len(), 1);
    // No credentials at all.
    let r = common::into_resp(
        http.get(format!("{}/v1/tickets", org.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status.as_u16(), 401, "{}", r.text);

    // A deactivated staff user's sessions end at once.
    org.post(&format!("/v1/staff/{staff_id}"), json!({"active": false}))
        .await
        .ok();
    second.get("/v1/tickets").await.err(401, "invalid_api_key");
    try_login("agent@acme.test", PASSWORD, &org.org_id)
        .await
        .err(401, "invalid_api_key");
}

async fn roles_are_enforced_over_http(srv: common::Server) {
    let org = srv.org("Acme").await;
    let agent = staff_session(&org, "agent@acme.test", "agent").await;
    let senior = staff_session(&org, "senior@acme.test", "senior_agent").await;
    let supervisor = staff_session(&org, "super@acme.test", "supervisor").await;
    let admin = staff_session(&org, "admin@acme.test", "admin").await;
    let staff_before = org.get("/v1/staff").await.ok();
    let kpis = format!("/v1/kpis?from={}&to={}", today(), today());

    let denied = |r: Resp, what: &str| {
        assert_eq!(r.status.as_u16(), 403, "{what}: {}", r.text);
        assert_eq!(r.json["error"]["code"], "permission_denied", "{what}");
        assert_eq!(r.json["error"]["type"], "permission_error", "{what}");
    };
    let new_staff = json!({"email": "x@acme.test", "name": "X", "role": "admin",
                           "password": PASSWORD});
    denied(
        agent.post("/v1/staff", new_staff.clone()).await,
        "agent creates staff",
    );
    denied(
        agent.get("/v1/audit_log").await,
        "agent reads the audit log",
    );
    denied(agent.get(&kpis).await, "agent reads KPIs");
    denied(
        agent
            .get(&format!("/v1/kpis.csv?from={}&to={}", today(), today()))
            .await,
        "agent reads KPI csv",
    );
    denied(
        agent
            .post(
                "/v1/settings/sla_policies",
                json!({"name": "x", "first_response_secs": 3600}),
            )
            .await,
        "agent sets SLA",
    );
    denied(
        agent
            .post(
                "/v1/macros",
                json!({"name": "hi", "locale": "en", "body": "Hello"}),
            )
            .await,
        "agent saves a macro",
    );
    // Agents read the approvals queue (read_account) but cannot decide.
    assert!(agent.get("/v1/approvals").await.ok().is_array());
    denied(
        senior.get("/v1/audit_log").await,
        "senior reads the audit log",
    );
    denied(
        senior.post("/v1/staff", new_staff.clone()).await,
        "senior creates staff",
    );
    denied(
        supervisor.post("/v1/staff", new_staff.clone()).await,
        "supervisor creates staff",
    );
    // An agent may not promote themselves (admin fields), but may change their own name.
    let me = staff_before
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["email"] == "agent@acme.test")
        .map(|x| s(&x["id"]))
        .expect("the agent");
    denied(
        agent
            .post(&format!("/v1/staff/{me}"), json!({"role": "admin"}))
            .await,
        "agent promotes self",
    );
    let renamed = agent
        .post(&format!("/v1/staff/{me}"), json!({"name": "Agnes"}))
        .await
        .ok();
    assert_eq!(renamed["role"], "agent");
    assert_eq!(renamed["name"], "Agnes");

    // The roles that may, can.
    assert_eq!(supervisor.get("/v1/audit_log").await.ok()["object"], "list");
    assert_eq!(supervisor.get(&kpis).await.ok()["object"], "kpi_report");
    let made = admin.post("/v1/staff", new_staff).await.ok();
    assert_eq!(made["role"], "admin");
    // Nothing the refused requests asked for happened.
    let staff_after = org.get("/v1/staff").await.ok();
    assert_eq!(
        staff_after.as_array().unwrap().len(),
        staff_before.as_array().unwrap().len() + 1
    );
    assert!(org
        .get("/v1/macros")
        .await
        .ok()
        .as_array()
        .unwrap()
        .is_empty());
    assert!(org
        .get("/v1/settings/sla_policies")
        .await
        .ok()
        .as_array()
        .unwrap()
        .is_empty());
}

async fn mail_to_ticket_reply_resolution_csat_and_kpis(srv: common::Server) {
    let org = srv.org("Acme").await;
    let cus = customer(&org, "jane@example.com").await;
    let agent = staff_session(&org, "agent@acme.test", "agent").await;
    let supervisor = staff_session(&org, "super@acme.test", "supervisor").await;

    // A raw message becomes a ticket of the customer it came from, with an acknowledgement.
    let raw = mime(
        "Jane Buyer <jane@example.com>",
        "Invoice looks wrong",
        "first-1@example.com",
        "",
        "Hello, my invoice has the wrong amount.",
    );
    let got = inbound(&agent, raw.clone()).await;
    assert_eq!(got["object"], "inbound_email");
    assert_eq!(got["outcome"], "new_ticket", "{got}");
    assert_eq!(got["customer"], cus.as_str());
    assert!(got["acknowledgement"].is_string(), "{got}");
    let tid = s(&got["ticket"]);
    let number = s(&got["ticket_number"]);
    assert_eq!(number, "T-1");
    // Delivered twice: recognised by its Message-ID.
    let again = inbound(&agent, raw).await;
    assert_eq!(again["outcome"], "duplicate");
    assert_eq!(again["ticket"], tid.as_str());
    let t = agent.get(&format!("/v1/tickets/{tid}")).await.ok();
    assert_eq!(t["customer"], cus.as_str());
    assert_eq!(t["channel"], "email");
    assert_eq!(t["category"], "invoice_discrepancy");
    assert_eq!(t["requester_email"], "jane@example.com");
    let inbound_msgs: Vec<&Value> = t["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["direction"] == "inbound")
        .collect();
    assert_eq!(inbound_msgs.len(), 1);
    assert!(inbound_msgs[0]["body"]
        .as_str()
        .unwrap()
        .contains("wrong amount"));

    // The queue shows it.
    let open = agent.ids("/v1/tickets?open=true").await;
    assert_eq!(open, vec![tid.clone()]);

    // An agent replies: outbound, queued for sending, ticket waits for the customer.
    let r = agent
        .post(
            &format!("/v1/tickets/{tid}/replies"),
            json!({"body": "Sorry — we are checking it.", "handling_secs": 120}),
        )
        .await
        .ok();
    assert_eq!(r["status"], "pending_customer");
    assert!(r["first_response_at"].is_string());
    let reply = r["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["direction"] == "outbound" && i["author_type"] == "staff")
        .cloned()
        .expect("the reply");
    assert_eq!(reply["to"], "jane@example.com");
    assert_eq!(reply["delivery_status"], "queued");
    assert!(reply["subject"].as_str().unwrap().contains("[#T-1]"));
    let reply_mid = s(&reply["message_id"]);

    // The customer answers the reply: threaded by In-Reply-To, the ticket opens again.
    let answer = inbound(
        &org,
        mime(
            "jane@example.com",
            "Re: Invoice looks wrong",
            "answer-2@example.com",
            &format!(
                "In-Reply-To: <{reply_mid}>\r\nReferences: <first-1@example.com> <{reply_mid}>\r\n"
            ),
            "Thanks, it is invoice 42.",
        ),
    )
    .await;
    assert_eq!(answer["outcome"], "reply", "{answer}");
    assert_eq!(answer["ticket"], tid.as_str());
    assert_eq!(
        agent.get(&format!("/v1/tickets/{tid}")).await.ok()["status"],
        "open"
    );
    // And by the number in the subject from the same sender.
    let by_number = inbound(
        &org,
        mime(
            "jane@example.com",
            "[#T-1] one more thing",
            "answer-3@example.com",
            "",
            "Also the tax.",
        ),
    )
    .await;
    assert_eq!(by_number["outcome"], "reply", "{by_number}");
    assert_eq!(by_number["ticket"], tid.as_str());

    // Resolved: off the open queue, a CSAT survey goes out.
    let resolved = agent
        .post(
            &format!("/v1/tickets/{tid}/replies"),
            json!({"body": "Fixed, credit issued.", "status": "resolved", "handling_secs": 60}),
        )
        .await
        .ok();
    assert_eq!(resolved["status"], "resolved");
    assert!(agent.ids("/v1/tickets?open=true").await.is_empty());
    assert_eq!(
        agent.ids("/v1/tickets?status=resolved").await,
        vec![tid.clone()]
    );
    let token = resolved["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["body"].as_str())
        .find_map(|b| b.split("/csat/").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a survey link")
        .to_string();

    // The customer answers without any credentials; once only.
    let http = anonymous(&org);
    let answer_csat = |token: String, body: Value| {
        let req = http
            .post(format!("{}/v1/csat/{token}", org.base))
            .json(&body);
        async move { common::into_resp(req.send().await.expect("send")).await }
    };
    answer_csat(token.clone(), json!({"rating": 9}))
        .await
        .err_param(400, "parameter_invalid", "rating");
    answer_csat(token.clone(), json!({"rating": 5, "stars": 5}))
        .await
        .err_param(400, "parameter_invalid", "stars");
    let csat = answer_csat(token.clone(), json!({"rating": 5, "comment": "quick!"}))
        .await
        .ok();
    assert_eq!(csat["object"], "csat_response");
    assert_eq!(csat["rating"], 5);
    answer_csat(token.clone(), json!({"rating": 1}))
        .await
        .err(409, "survey_already_answered");
    answer_csat("not-a-token".into(), json!({"rating": 5}))
        .await
        .err(404, "resource_missing");

    // KPIs for today: one resolved ticket, first contact not resolved (two replies), one
    // happy survey, the handling seconds of both replies.
    let q = format!("from={}&to={}", today(), today());
    let k = supervisor.get(&format!("/v1/kpis?{q}")).await.ok();
    assert_eq!(k["object"], "kpi_report");
    assert_eq!(k["csat"]["numerator"], 1, "{k}");
    assert_eq!(k["csat"]["denominator"], 1, "{k}");
    assert_eq!(k["fcr"]["denominator"], 1, "{k}");
    assert_eq!(k["fcr"]["numerator"], 0, "{k}");
    assert_eq!(k["aht"]["handling_secs"], 180, "{k}");
    assert_eq!(k["resolution"]["count"], 1, "{k}");
    assert_eq!(k["first_response"]["count"], 1, "{k}");
    assert!(k["contacts"]["total"].as_u64().unwrap() >= 3, "{k}");
    // Filtered to a channel with nothing.
    let phone = supervisor
        .get(&format!("/v1/kpis?{q}&channel=phone"))
        .await
        .ok();
    assert_eq!(phone["csat"]["denominator"], 0, "{phone}");
    assert_eq!(phone["channel"], "phone");

    let r = supervisor.get(&format!("/v1/kpis.csv?{q}")).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    let ct = r.headers["content-type"].to_str().unwrap();
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert!(r.headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains("kpis.csv"));
    assert!(
        r.text
            .starts_with("metric,key,numerator,denominator,value\r\n"),
        "{}",
        r.text
    );
    assert!(r.text.contains("\r\ncsat,,1,1,1\r\n"), "{}", r.text);
    // The API key (admin) may read them too.
    assert_eq!(
        org.get(&format!("/v1/kpis?{q}")).await.ok()["csat"]["numerator"],
        1
    );
}

async fn actions_above_the_limit_wait_for_approval(srv: common::Server) {
    let org = srv.org("Acme").await;
    let cus = customer(&org, "jane@example.com").await;
    let agent = staff_session(&org, "agent@acme.test", "agent").await;
    let senior = staff_session(&org, "senior@acme.test", "senior_agent").await;
    let t = agent
        .post(
            "/v1/tickets",
            json!({"subject": "Outage compensation", "customer": cus, "channel": "phone"}),
        )
        .await
        .ok();
    let tid = s(&t["id"]);
    let credit = || async {
        org.get(&format!("/v1/customers/{cus}")).await.ok()["credit_balance"]
            .as_i64()
            .unwrap()
    };

    // Within the agent's limit (EUR 50.00): done at once.
    let small = agent
        .post(
            &format!("/v1/tickets/{tid}/actions"),
            json!({"action": "goodwill_credit", "amount": 2000, "currency": "EUR",
                   "reason": "Sorry for the outage", "reason_code": "goodwill"}),
        )
        .await
        .ok();
    assert_eq!(small["status"], "executed", "{small}");
    assert!(small["result"].is_string());
    assert_eq!(credit().await, 2000);

    // Above it: recorded, nothing moves, waits for a role that may approve it.
    let big = agent
        .post_idem(
            &format!("/v1/tickets/{tid}/actions"),
            json!({"action": "goodwill_credit", "amount": 12000,
                   "reason": "Long outage", "reason_code": "goodwill"}),
            "act-big-1",
        )
        .await
        .ok();
    assert_eq!(big["status"], "pending_approval", "{big}");
    assert!(big["result"].is_null());
    let roles: Vec<&str> = big["approver_roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(roles.contains(&"senior_agent"), "{roles:?}");
    assert!(!roles.contains(&"agent"), "{roles:?}");
    assert_eq!(credit().await, 2000);
    let aid = s(&big["id"]);
    // The same request again with the same key is the same answer, not a second request.
    let replay = agent
        .post_idem(
            &format!("/v1/tickets/{tid}/actions"),
            json!({"action": "goodwill_credit", "amount": 12000,
                   "reason": "Long outage", "reason_code": "goodwill"}),
            "act-big-1",
        )
        .await
        .ok();
    assert_eq!(replay["id"], aid.as_str());
    let queue = senior.get("/v1/approvals").await.ok();
    assert_eq!(queue.as_array().unwrap().len(), 1, "{queue}");
    assert_eq!(queue[0]["id"], aid.as_str());

    // The agent cannot approve (no approve permission); the senior agent can.
    let r = agent
        .post(&format!("/v1/approvals/{aid}/approve"), json!({}))
        .await;
    r.err(403, "permission_denied");
    let done = senior
        .post(
            &format!("/v1/approvals/{aid}/approve"),
            json!({"note": "ok, long outage"}),
        )
        .await
        .ok();
    assert_eq!(done["status"], "executed", "{done}");
    assert_eq!(done["decision_note"], "ok, long outage");
    assert!(done["decided_by"].as_str().unwrap().starts_with("stf_"));
    assert!(done["result"].is_string());
    assert_eq!(credit().await, 14_000);
    // Decided once.
    senior
        .post(&format!("/v1/approvals/{aid}/approve"), json!({}))
        .await
        .err(409, "action_not_pending");
    senior
        .post(&format!("/v1/approvals/{aid}/reject"), json!({}))
        .await
        .err(409, "action_not_pending");
    assert!(senior
        .get("/v1/approvals")
        .await
        .ok()
        .as_array()
        .unwrap()
        .is_empty());
    let listed = agent.get(&format!("/v1/tickets/{tid}/actions")).await.ok();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // A rejected request never runs.
    let third = agent
        .post(
            &format!("/v1/tickets/{tid}/actions"),
            json!({"action": "goodwill_credit", "amount": 9000,
                   "reason": "Again", "reason_code": "goodwill"}),
        )
        .await
        .ok();
    assert_eq!(third["status"], "pending_approval");
    let rejected = senior
        .post(
            &format!("/v1/approvals/{}/reject", s(&third["id"])),
            json!({"note": "no"}),
        )
        .await
        .ok();
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(credit().await, 14_000);
    // Unknown ids are 404.
    senior
        .post("/v1/approvals/tka_doesnotexist/approve", json!({}))
        .await
        .err(404, "resource_missing");
    agent
        .post(
            "/v1/tickets/tkt_doesnotexist/actions",
            json!({"action": "goodwill_credit", "amount": 1,
                   "reason": "x", "reason_code": "goodwill"}),
        )
        .await
        .err(404, "resource_missing");
}

async fn bad_input_names_the_field(srv: common::Server) {
    let org = srv.org("Acme").await;
    let agent = staff_session(&org, "agent@acme.test", "agent").await;
    let t = agent
        .post("/v1/tickets", json!({"subject": "Question"}))
        .await
        .ok();
    let tid = s(&t["id"]);

    let cases: Vec<(&str, String, Value, &str)> = vec![
        (
            "POST",
            "/v1/tickets".into(),
            json!({"subject": "x", "priority": "asap"}),
            "priority",
        ),
        (
            "POST",
            "/v1/tickets".into(),
            json!({"subject": "x", "category": "complaint"}),
            "category",
        ),
        (
            "POST",
            "/v1/tickets".into(),
            json!({"subject": "x", "channel": "fax"}),
            "channel",
        ),
        (
            "POST",
            "/v1/tickets".into(),
            json!({"subject": "x", "surprise": true}),
            "surprise",
        ),
        ("POST", "/v1/tickets".into(), json!({}), "subject"),
        (
            "POST",
            "/v1/tickets".into(),
            json!({"subject": "  "}),
            "subject",
        ),
        (
            "POST",
            "/v1/tickets".into(),
            json!({"subject": "x", "priority": 3}),
            "priority",
        ),
        (
            "POST",
            "/v1/tickets".into(),
            json!({"subject": "x", "customer": "cus_doesnotexist"}),
            "customer",
        ),
        (
            "POST",
            "/v1/tickets".into(),
            json!({"subject": "x", "team": "nowhere"}),
            "team",
        ),
        (
            "POST",
            "/v1/tickets".into(),
            json!({"subject": "x", "tags": ["a,b"]}),
            "tags[0]",
        ),
        (
            "POST",
            format!("/v1/tickets/{tid}"),
            json!({"priority": "asap"}),
            "priority",
        ),
        (
            "POST",
            format!("/v1/tickets/{tid}"),
            json!({"status": "finished"}),
            "status",
        ),
        (
            "POST",
            format!("/v1/tickets/{tid}"),
            json!({"colour": "red"}),
            "colour",
        ),
        (
            "POST",
            format!("/v1/tickets/{tid}"),
            json!({"team": "finance"}),
            "note",
        ),
        (
            "POST",
            format!("/v1/tickets/{tid}"),
            json!({"assignee": "stf_doesnotexist"}),
            "assignee",
        ),
        (
            "POST",
            format!("/v1/tickets/{tid}/replies"),
            json!({}),
            "body",
        ),
        (
            "POST",
            format!("/v1/tickets/{tid}/replies"),
            json!({"body": "hi", "handling_secs": -1}),
            "handling_secs",
        ),
        (
            "POST",
            format!("/v1/tickets/{tid}/replies"),
            json!({"body": "hi", "cc": "x@y.z"}),
            "cc",
        ),
        (
            "POST",
            format!("/v1/tickets/{tid}/replies"),
            json!({"macro": "nope"}),
            "macro",
        ),
        (
            "POST",
            format!("/v1/tickets/{tid}/notes"),
            json!({"body": ""}),
            "body",
        ),
        (
            "POST",
            format!("/v1/tickets/{tid}/merge"),
            json!({"into": tid}),
            "into",
        ),
        (
            "POST",
            format!("/v1/tickets/{tid}/merge"),
            json!({"into": "tkt_doesnotexist"}),
            "into",
        ),
        (
            "POST",
            format!("/v1/tickets/{tid}/actions"),
            json!({"action": "free_money", "reason": "x", "reason_code": "goodwill"}),
            "action",
        ),
        (
            "POST",
            format!("/v1/tickets/{tid}/actions"),
            json!({"action": "goodwill_credit", "amount": 1, "reason": "x",
                   "reason_code": "goodwill", "extra": 1}),
            "extra",
        ),
        (
            "POST",
            "/v1/sessions".into(),
            json!({"organisation": org.org_id, "email": "agent@acme.test"}),
            "password",
        ),
        (
            "POST",
            "/v1/calls".into(),
            json!({"phone_number": "+4930123", "started_at": "yesterday"}),
            "started_at",
        ),
        (
            "POST",
            "/v1/telephony/events".into(),
            json!({"call_id": "c1", "type": "exploded", "at": "2026-01-01T00:00:00Z"}),
            "type",
        ),
    ];
    for (method, path, body, param) in &cases {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = agent.send(m, path, Some(body.clone()), None).await;
        assert_eq!(r.status.as_u16(), 400, "{method} {path} {body}: {}", r.text);
        assert_eq!(
            r.json["error"]["param"], *param,
            "{method} {path} {body}: {}",
            r.text
        );
    }
    // Admin-only settings with bad values (API key: admin).
    org.post(
        "/v1/settings/sla_policies",
        json!({"name": "x", "priority": "asap", "first_response_secs": 3600}),
    )
    .await
    .err_param(400, "parameter_invalid", "priority");
    org.post(
        "/v1/staff",
        json!({"email": "x@acme.test", "name": "X", "role": "boss", "password": PASSWORD}),
    )
    .await
    .err_param(400, "parameter_invalid", "role");
    org.post(
        "/v1/staff",
        json!({"email": "y@acme.test", "name": "Y", "role": "agent", "password": "short"}),
    )
    .await
    .err_param(400, "parameter_invalid", "password");
    org.post(
        "/v1/settings/calendars",
        json!({"name": "Berlin", "time_zone": "Mars/Olympus"}),
    )
    .await
    .err(400, "parameter_invalid");
    // Query strings.
    let r = agent.get("/v1/tickets?status=sleeping").await;
    r.err_param(400, "parameter_invalid", "status");
    let r = org.get("/v1/kpis?from=2026-02-01&to=2026-01-01").await;
    r.err_param(400, "parameter_invalid", "to");
    let r = org.get("/v1/kpis?from=yesterday&to=2026-01-01").await;
    assert_eq!(r.status.as_u16(), 400, "{}", r.text);
    let r = org
        .get("/v1/kpis?from=2026-01-01&to=2026-01-02&agent=stf_nobody")
        .await;
    r.err_param(400, "parameter_invalid", "agent");
    // Inbound mail: an empty body, and one that is no message.
    org.post_raw("/v1/inbound/email", vec![], Some("message/rfc822"))
        .await
        .err_param(400, "parameter_missing", "message");
    org.post_raw(
        "/v1/inbound/email",
        b"just some words, no headers".to_vec(),
        Some("message/rfc822"),
    )
    .await
    .err_param(400, "parameter_invalid", "message");
    // Nothing was created by the refused requests.
    assert_eq!(agent.ids("/v1/tickets").await, vec![tid.clone()]);
    let after = agent.get(&format!("/v1/tickets/{tid}")).await.ok();
    assert_eq!(after["status"], t["status"]);
    assert_eq!(after["priority"], "normal");
    assert_eq!(after["team"], "billing");
}
