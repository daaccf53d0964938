//! Portal users and live chat over WebSocket, against the real server on a loopback port
//! with real WebSocket clients (tokio-tungstenite), on SQLite and PostgreSQL.

mod common;

use common::{Client, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use store::Backend;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// The real router on 127.0.0.1:0 with a chat hub whose accept timeout is `timeout` seconds.
async fn start(backend: Backend, timeout: i64) -> Option<Server> {
    let (db, _url) = store::testing::fresh(backend).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut state = web::AppState::new(db.clone());
    state.chat = web::ChatHub::with_accept_timeout(timeout);
    let app = web::router(state);
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    Some(Server {
        base: format!("http://{addr}"),
        db,
        http: reqwest::Client::new(),
    })
}

/// Runs a scenario on SQLite, then on PostgreSQL (unless switched off).
macro_rules! both {
    ($name:ident, $body:ident) => {
        both!($name, $body, 120);
    };
    ($name:ident, $body:ident, $timeout:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let srv = start(Backend::Sqlite, $timeout).await.expect("sqlite");
            $body(&srv).await;
            if let Some(srv) = start(Backend::Postgres, $timeout).await {
                $body(&srv).await;
            }
        }
    };
}

fn ws_url(base: &str, path: &str) -> String {
    format!("{}{path}", base.replacen("http://", "ws://", 1))
}

async fn connect(base: &str, path: &str) -> Ws {
    let (ws, resp) = tokio_tungstenite::connect_async(ws_url(base, path))
        .await
        .unwrap_or_else(|e| panic!("connect {path}: {e}"));
    assert_eq!(resp.status().as_u16(), 101);
    ws
}

/// The HTTP status a refused WebSocket handshake got.
async fn refused(base: &str, path: &str) -> u16 {
    match tokio_tungstenite::connect_async(ws_url(base, path)).await {
        Err(tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("{path}: unexpected error {e}"),
        Ok(_) => panic!("{path}: the upgrade was accepted"),
    }
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("a frame within 15 s")
            .expect("the socket is open")
            .expect("a frame");
        match m {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON frame"),
            Message::Close(_) => return json!({"type": "closed"}),
            _ => continue,
        }
    }
}

/// The next frame of type `ty`, skipping others of `skip` (e.g. repeated waiting lists).
async fn next_of(ws: &mut Ws, ty: &str, skip: &[&str]) -> Value {
    loop {
        let v = next_json(ws).await;
        if v["type"] == ty {
            return v;
        }
        assert!(
            skip.contains(&v["type"].as_str().unwrap_or("")),
            "expected {ty}, got {v}"
        );
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .expect("send frame");
}

/// A customer with its own email and a billing contact; returns (customer id, contact id).
async fn customer(c: &Client, name: &str, email: &str, contact_email: &str) -> (String, String) {
    let cus = c
        .post(
            "/v1/customers",
            json!({"name": name, "email": email, "currency": "EUR",
                "contacts": [{"name": "Bea Billing", "email": contact_email, "role": "billing"}]}),
        )
        .await
        .ok();
    let id = cus["id"].as_str().unwrap().to_string();
    let contact = cus["contacts"][0]["id"].as_str().unwrap().to_string();
    (id, contact)
}

/// A portal user for `email` of customer `cus`, logged in: its `pts_…` token.
async fn portal_login(c: &Client, cus: &str, email: &str) -> String {
    c.post(
        &format!("/v1/customers/{cus}/portal_users"),
        json!({"email": email, "password": "portal-password-1"}),
    )
    .await
    .ok();
    login(c, email, "portal-password-1").await.ok()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn login(c: &Client, email: &str, password: &str) -> common::Resp {
    let anon = Client {
        key: String::new(),
        ..c.clone()
    };
    anon.post(
        "/v1/portal/sessions",
        json!({"organisation": c.org_id, "email": email, "password": password}),
    )
    .await
}

/// A billing agent (online or not): (staff id, `ses_…` token).
async fn agent(c: &Client, email: &str, name: &str, online: bool) -> (String, String) {
    let s = c
        .post(
            "/v1/staff",
            json!({"email": email, "name": name, "role": "agent", "password": "agent-password-1", "team": "billing"}),
        )
        .await
        .ok();
    let id = s["id"].as_str().unwrap().to_string();
    if online {
        c.post(&format!("/v1/staff/{id}"), json!({"online": true}))
            .await
            .ok();
    }
    let r = c
        .http
        .post(format!("{}/v1/sessions", c.base))
        .json(&json!({"organisation": c.org_id, "email": email, "password": "agent-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    (id, v["token"].as_str().unwrap().to_string())
}

/// A client acting with a bearer token other than the API key.
fn as_token(c: &Client, token: &str) -> Client {
    Client {
        key: token.to_string(),
        ..c.clone()
    }
}

// ---------------------------------------------------------------------------------------

async fn portal_users_and_login(srv: &Server) {
    let c = srv.org("Portal GmbH").await;
    let (cus, contact) = customer(&c, "Jane Ltd", "Jane@Example.com", "bea@example.com").await;

    // A contact's email: the user names the contact.
    let u = c
        .post(
            &format!("/v1/customers/{cus}/portal_users"),
            json!({"email": "BEA@example.com", "password": "portal-password-1"}),
        )
        .await
        .ok();
    assert_eq!(u["object"], "portal_user");
    assert_eq!(u["customer"], cus.as_str());
    assert_eq!(u["contact"], contact.as_str());
    assert_eq!(u["email"], "bea@example.com");
    assert_eq!(u["initial_password"], Value::Null);
    // The customer's own email, no password: one is generated and shown once.
    let own = c
        .post(
            &format!("/v1/customers/{cus}/portal_users"),
            json!({"email": "jane@example.com"}),
        )
        .await
        .ok();
    assert_eq!(own["contact"], Value::Null);
    let generated = own["initial_password"].as_str().unwrap().to_string();
    assert!(generated.len() >= 10);
    // Nobody else's address; no duplicates; short passwords refused.
    c.post(
        &format!("/v1/customers/{cus}/portal_users"),
        json!({"email": "stranger@example.com", "password": "portal-password-1"}),
    )
    .await
    .err_param(400, "parameter_invalid", "email");
    c.post(
        &format!("/v1/customers/{cus}/portal_users"),
        json!({"email": "bea@example.com", "password": "portal-password-1"}),
    )
    .await
    .err_param(400, "parameter_invalid", "email");
    c.post(
        &format!("/v1/customers/{cus}/portal_users"),
        json!({"email": "bea@example.com", "password": "short"}),
    )
    .await
    .err_param(400, "parameter_invalid", "password");
    let list = c
        .get(&format!("/v1/customers/{cus}/portal_users"))
        .await
        .ok();
    assert_eq!(list.as_array().unwrap().len(), 2);

    // Login with the generated password; wrong ones are one answer.
    let s = login(&c, "Jane@example.com", &generated).await.ok();
    let token = s["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("pts_"), "{token}");
    assert_eq!(s["user"]["id"], own["id"]);
    login(&c, "jane@example.com", "wrong-password-1")
        .await
        .err(401, "invalid_api_key");
    login(&c, "nobody@example.com", &generated)
        .await
        .err(401, "invalid_api_key");

    // /v1/portal/me by Bearer and by ?token=.
    let me = as_token(&c, &token).get("/v1/portal/me").await.ok();
    assert_eq!(me["id"], own["id"]);
    assert_eq!(me["customer"], cus.as_str());
    let r = srv
        .http
        .get(format!("{}/v1/portal/me?token={token}", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    as_token(&c, "pts_bogus")
        .get("/v1/portal/me")
        .await
        .err(401, "invalid_api_key");
    as_token(&c, "")
        .get("/v1/portal/me")
        .await
        .err(401, "missing_portal_session");
    // A portal token is not a staff credential.
    as_token(&c, &token)
        .get("/v1/tickets")
        .await
        .err(401, "invalid_api_key");

    // An agent (manage_tickets) may create one too; another organisation finds no such
    // customer.
    let (_, ses) = agent(&c, "ann@portal.example", "Ann Agent", false).await;
    let contact2 = c
        .post(
            &format!("/v1/customers/{cus}/contacts"),
            json!({"name": "Carl", "email": "carl@example.com"}),
        )
        .await
        .ok();
    assert!(contact2["contacts"].as_array().unwrap().len() >= 2);
    as_token(&c, &ses)
        .post(
            &format!("/v1/customers/{cus}/portal_users"),
            json!({"email": "carl@example.com", "password": "portal-password-1"}),
        )
        .await
        .ok();
    let other = srv.org("Other AG").await;
    other
        .post(
            &format!("/v1/customers/{cus}/portal_users"),
            json!({"email": "jane@example.com", "password": "portal-password-1"}),
        )
        .await
        .err(404, "resource_missing");
}
both!(portal_users_and_login_on_both, portal_users_and_login);

async fn chat_with_an_agent(srv: &Server) {
    let c = srv.org("Chat GmbH").await;
    let (cus, _) = customer(&c, "Jane Ltd", "jane@example.com", "bea@example.com").await;
    let (other_cus, _) = customer(&c, "Other Ltd", "o@example.com", "o2@example.com").await;
    let token = portal_login(&c, &cus, "bea@example.com").await;
    let (agent_id, ses) = agent(&c, "ann@chat.example", "Ann Agent", true).await;

    let mut customer_ws = connect(&srv.base, &format!("/v1/portal/chat?token={token}")).await;
    let q = next_json(&mut customer_ws).await;
    assert_eq!(q["type"], "queued", "{q}");
    assert_eq!(q["position"], 1);
    // No chat answered in the last hour: the floor rate of 30 an hour, 2 minutes.
    assert_eq!(q["estimated_wait_secs"], 120);
    let chat_id = q["chat"].as_str().unwrap().to_string();

    // The agent sees it waiting; the customer writes before anyone accepted.
    let mut agent_ws = connect(&srv.base, &format!("/v1/desk/chat?token={ses}")).await;
    let w = next_of(&mut agent_ws, "waiting", &[]).await;
    assert_eq!(w["chats"].as_array().unwrap().len(), 1, "{w}");
    assert_eq!(w["chats"][0]["id"], chat_id.as_str());
    assert_eq!(w["chats"][0]["customer"], cus.as_str());
    assert_eq!(w["chats"][0]["email"], "bea@example.com");
    send(
        &mut customer_ws,
        json!({"type": "message", "text": "Why is my invoice 119 EUR?"}),
    )
    .await;
    let echo = next_of(&mut customer_ws, "message", &[]).await;
    assert_eq!(echo["from"], "customer");
    assert_eq!(echo["text"], "Why is my invoice 119 EUR?");
    // The agent's waiting list refreshes with the message.
    loop {
        let w = next_of(&mut agent_ws, "waiting", &[]).await;
        if w["chats"][0]["messages"]
            .as_array()
            .is_some_and(|m| m.len() == 1)
        {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;

    send(&mut agent_ws, json!({"type": "accept", "chat": chat_id})).await;
    let a = next_of(&mut agent_ws, "accepted", &["waiting"]).await;
    assert_eq!(a["chat"], chat_id.as_str());
    assert_eq!(a["agent"], agent_id.as_str());
    assert_eq!(a["messages"][0]["text"], "Why is my invoice 119 EUR?");
    let ticket = a["ticket"].as_str().unwrap().to_string();
    let interaction = a["interaction"].as_str().unwrap().to_string();
    assert!(a["number"].as_str().unwrap().starts_with("T-"));
    let j = next_of(&mut customer_ws, "agent_joined", &["queued"]).await;
    assert_eq!(j["agent"], "Ann Agent");
    // Accepting twice is refused.
    send(&mut agent_ws, json!({"type": "accept", "chat": chat_id})).await;
    let e = next_of(&mut agent_ws, "error", &["waiting"]).await;
    assert_eq!(e["code"], "chat_not_waiting");

    // Messages both ways.
    send(
        &mut agent_ws,
        json!({"type": "message", "chat": chat_id, "text": "Hello, I am looking at it."}),
    )
    .await;
    let m = next_of(&mut customer_ws, "message", &[]).await;
    assert_eq!(m["from"], "agent");
    assert_eq!(m["name"], "Ann Agent");
    assert_eq!(m["text"], "Hello, I am looking at it.");
    assert!(m["at"].is_string());
    let m = next_of(&mut agent_ws, "message", &["waiting"]).await; // the agent's own echo
    assert_eq!(m["from"], "agent");
    send(
        &mut customer_ws,
        json!({"type": "message", "text": "Thanks!"}),
    )
    .await;
    let m = next_of(&mut agent_ws, "message", &["waiting"]).await;
    assert_eq!(
        (m["from"].as_str(), m["text"].as_str(), m["chat"].as_str()),
        (Some("customer"), Some("Thanks!"), Some(chat_id.as_str()))
    );

    // Verified by the portal login during the chat: payment details of that customer only.
    let staff = as_token(&c, &ses);
    staff
        .get(&format!(
            "/v1/customers/{cus}/payment_details?interaction={interaction}"
        ))
        .await
        .ok();
    staff
        .get(&format!(
            "/v1/customers/{other_cus}/payment_details?interaction={interaction}"
        ))
        .await
        .err(409, "identity_not_verified");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    send(&mut agent_ws, json!({"type": "end", "chat": chat_id})).await;
    let ended = next_of(&mut customer_ws, "ended", &["message"]).await;
    assert_eq!(ended, json!({"type": "ended"}));
    let ended = next_of(&mut agent_ws, "ended", &["waiting", "message"]).await;
    assert_eq!(ended["interaction"], interaction.as_str());

    // The session on its ticket: kind chat, channel chat, wait and talk seconds.
    let t = c.get(&format!("/v1/tickets/{ticket}")).await.ok();
    assert_eq!(t["channel"], "chat");
    assert_eq!(t["customer"], cus.as_str());
    assert_eq!(t["assignee"], agent_id.as_str());
    assert!(t["first_response_at"].is_string(), "{t}");
    let sessions: Vec<&Value> = t["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "chat")
        .collect();
    assert_eq!(sessions.len(), 1, "{t}");
    let i = sessions[0];
    assert_eq!(i["id"], interaction.as_str());
    assert_eq!(i["channel"], "chat");
    assert_eq!(i["author_type"], "staff");
    assert_eq!(i["author"], agent_id.as_str());
    let wait = i["wait_secs"].as_i64().unwrap();
    let talk = i["talk_secs"].as_i64().unwrap();
    assert!((1..30).contains(&wait), "wait {wait}");
    assert!((1..30).contains(&talk), "talk {talk}");
    assert_eq!(i["handling_secs"].as_i64(), Some(talk));
    let body = i["body"].as_str().unwrap();
    for line in [
        "bea@example.com: Why is my invoice 119 EUR?",
        "Ann Agent: Hello, I am looking at it.",
        "bea@example.com: Thanks!",
    ] {
        assert!(body.contains(line), "{body}");
    }
    // The verification ended with the chat.
    staff
        .get(&format!(
            "/v1/customers/{cus}/payment_details?interaction={interaction}"
        ))
        .await
        .err(409, "identity_not_verified");
    // KPIs count it as a handled chat session.
    let today = chrono::Utc::now().date_naive();
    let k = c
        .get(&format!("/v1/kpis?from={today}&to={today}&channel=chat"))
        .await
        .ok();
    assert_eq!(k["aht"]["contacts"], 1, "{k}");
    assert_eq!(k["aht"]["handling_secs"].as_i64(), Some(talk));
}
both!(chat_with_an_agent_on_both, chat_with_an_agent);

async fn two_customers_see_positions(srv: &Server) {
    let c = srv.org("Queue GmbH").await;
    let (cus1, _) = customer(&c, "One Ltd", "one@example.com", "one-b@example.com").await;
    let (cus2, _) = customer(&c, "Two Ltd", "two@example.com", "two-b@example.com").await;
    let t1 = portal_login(&c, &cus1, "one@example.com").await;
    let t2 = portal_login(&c, &cus2, "two@example.com").await;
    agent(&c, "ann@queue.example", "Ann Agent", true).await;

    let mut ws1 = connect(&srv.base, &format!("/v1/portal/chat?token={t1}")).await;
    let q1 = next_of(&mut ws1, "queued", &[]).await;
    assert_eq!(q1["position"], 1);
    let mut ws2 = connect(&srv.base, &format!("/v1/portal/chat?token={t2}")).await;
    let q2 = next_of(&mut ws2, "queued", &[]).await;
    assert_eq!(q2["position"], 2);
    assert_eq!(q2["estimated_wait_secs"], 240);
    // The first leaves without writing (abandoned): the second moves up, and is told.
    ws1.close(None).await.unwrap();
    let q2 = next_of(&mut ws2, "queued", &[]).await;
    assert_eq!(q2["position"], 1);
    assert_eq!(q2["estimated_wait_secs"], 120);
    // Nothing but the abandoned chat row was written: no ticket.
    let list = c.get("/v1/tickets").await.ok();
    assert_eq!(list["data"], json!([]), "{list}");
}
both!(
    two_customers_see_positions_on_both,
    two_customers_see_positions
);

async fn no_agent_online_makes_a_ticket(srv: &Server) {
    let c = srv.org("Night GmbH").await;
    let (cus, _) = customer(&c, "Jane Ltd", "jane@example.com", "bea@example.com").await;
    let token = portal_login(&c, &cus, "jane@example.com").await;
    // An agent exists but is offline.
    agent(&c, "ann@night.example", "Ann Agent", false).await;

    let mut ws = connect(&srv.base, &format!("/v1/portal/chat?token={token}")).await;
    let t = next_json(&mut ws).await;
    assert_eq!(t["type"], "ticket_created", "{t}");
    let number = t["number"].as_str().unwrap().to_string();
    assert!(number.starts_with("T-"), "{number}");
    // What the customer writes next is kept on the ticket.
    send(
        &mut ws,
        json!({"type": "message", "text": "Please call me back about invoice 7"}),
    )
    .await;
    let echo = next_of(&mut ws, "message", &[]).await;
    assert_eq!(echo["from"], "customer");
    ws.close(None).await.unwrap();

    let list = c.get(&format!("/v1/tickets?customer={cus}")).await.ok();
    let tickets = list["data"].as_array().unwrap();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["number"], number.as_str());
    assert_eq!(tickets[0]["channel"], "chat");
    assert_eq!(tickets[0]["requester_email"], "jane@example.com");
    let id = tickets[0]["id"].as_str().unwrap();
    let detail = c.get(&format!("/v1/tickets/{id}")).await.ok();
    let inter = detail["interactions"].as_array().unwrap();
    assert!(
        inter.iter().any(|i| i["direction"] == "inbound"
            && i["channel"] == "chat"
            && i["body"] == "Please call me back about invoice 7"),
        "{detail}"
    );
    // The automatic acknowledgement with the number.
    assert!(
        inter
            .iter()
            .any(|i| i["direction"] == "outbound" && i["author_type"] == "system"),
        "{detail}"
    );
}
both!(
    no_agent_online_makes_a_ticket_on_both,
    no_agent_online_makes_a_ticket
);

async fn unanswered_chat_times_out_into_a_ticket(srv: &Server) {
    let c = srv.org("Slow GmbH").await;
    let (cus, _) = customer(&c, "Jane Ltd", "jane@example.com", "bea@example.com").await;
    let token = portal_login(&c, &cus, "jane@example.com").await;
    agent(&c, "ann@slow.example", "Ann Agent", true).await;
    let mut ws = connect(&srv.base, &format!("/v1/portal/chat?token={token}")).await;
    next_of(&mut ws, "queued", &[]).await;
    // Silent customers keep waiting; the clock starts at the first message.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let started = std::time::Instant::now();
    send(&mut ws, json!({"type": "message", "text": "Anyone there?"})).await;
    next_of(&mut ws, "message", &["queued"]).await;
    let t = next_of(&mut ws, "ticket_created", &["queued"]).await;
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    let number = t["number"].as_str().unwrap();
    let list = c.get(&format!("/v1/tickets?customer={cus}")).await.ok();
    let ticket = &list["data"][0];
    assert_eq!(ticket["number"], number);
    let detail = c
        .get(&format!("/v1/tickets/{}", ticket["id"].as_str().unwrap()))
        .await
        .ok();
    // The messages so far as the first (inbound) interaction; the acknowledgement is
    // written at the same instant, so find it by direction rather than by position.
    let inbound: Vec<&Value> = detail["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["direction"] == "inbound")
        .collect();
    assert_eq!(inbound.len(), 1, "{detail}");
    let first = inbound[0];
    assert_eq!(first["channel"], "chat");
    assert_eq!(first["kind"], "message");
    assert!(
        first["body"]
            .as_str()
            .unwrap()
            .ends_with("jane@example.com: Anyone there?"),
        "{first}"
    );
}
both!(
    unanswered_chat_times_out_on_both,
    unanswered_chat_times_out_into_a_ticket,
    1
);

async fn bad_tokens_are_refused_before_the_upgrade(srv: &Server) {
    let c = srv.org("Guard GmbH").await;
    let (cus, _) = customer(&c, "Jane Ltd", "jane@example.com", "bea@example.com").await;
    let token = portal_login(&c, &cus, "jane@example.com").await;
    let (_, ses) = agent(&c, "ann@guard.example", "Ann Agent", true).await;
    assert_eq!(refused(&srv.base, "/v1/portal/chat").await, 401);
    assert_eq!(
        refused(&srv.base, "/v1/portal/chat?token=pts_bogus").await,
        401
    );
    assert_eq!(
        refused(&srv.base, &format!("/v1/portal/chat?token={ses}")).await,
        401
    );
    assert_eq!(
        refused(&srv.base, &format!("/v1/portal/chat?token={}", c.key)).await,
        401
    );
    assert_eq!(
        refused(&srv.base, "/v1/desk/chat?token=ses_bogus").await,
        401
    );
    assert_eq!(
        refused(&srv.base, &format!("/v1/desk/chat?token={token}")).await,
        401
    );
    assert_eq!(
        refused(&srv.base, &format!("/v1/desk/chat?token={}", c.key)).await,
        401
    );
    // The refusal is the API's JSON error.
    let r = srv
        .http
        .get(format!("{}/v1/portal/chat?token=pts_bogus", srv.base))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "authentication_error");
    // Nothing was queued by the refused attempts.
    let mut ws = connect(&srv.base, &format!("/v1/portal/chat?token={token}")).await;
    assert_eq!(next_json(&mut ws).await["position"], 1);
    // Authorization works as well as ?token=.
    let mut req = tungstenite::client::IntoClientRequest::into_client_request(ws_url(
        &srv.base,
        "/v1/desk/chat",
    ))
    .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {ses}").parse().unwrap());
    let (mut agent_ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let w = next_of(&mut agent_ws, "waiting", &[]).await;
    assert_eq!(w["chats"].as_array().unwrap().len(), 1);
}
both!(
    bad_tokens_are_refused_on_both,
    bad_tokens_are_refused_before_the_upgrade
);

async fn organisations_do_not_see_each_others_chats(srv: &Server) {
    let a = srv.org("A GmbH").await;
    let b = srv.org("B GmbH").await;
    let (cus_a, _) = customer(&a, "Jane Ltd", "jane@example.com", "bea@example.com").await;
    let (cus_b, _) = customer(&b, "Jane Ltd", "jane@example.com", "bea@example.com").await;
    let token_a = portal_login(&a, &cus_a, "jane@example.com").await;
    let _token_b = portal_login(&b, &cus_b, "jane@example.com").await;
    let (_, ses_a) = agent(&a, "ann@a.example", "Ann A", true).await;
    let (_, ses_b) = agent(&b, "bob@b.example", "Bob B", true).await;

    let mut ws_a = connect(&srv.base, &format!("/v1/portal/chat?token={token_a}")).await;
    let q = next_of(&mut ws_a, "queued", &[]).await;
    let chat_a = q["chat"].as_str().unwrap().to_string();

    // B's agent sees no waiting chat and cannot take, write to or end A's.
    let mut agent_b = connect(&srv.base, &format!("/v1/desk/chat?token={ses_b}")).await;
    let w = next_of(&mut agent_b, "waiting", &[]).await;
    assert_eq!(w["chats"], json!([]), "{w}");
    for frame in [
        json!({"type": "accept", "chat": chat_a}),
        json!({"type": "message", "chat": chat_a, "text": "hi"}),
        json!({"type": "end", "chat": chat_a}),
    ] {
        send(&mut agent_b, frame).await;
        let e = next_of(&mut agent_b, "error", &["waiting"]).await;
        assert_eq!(e["code"], "resource_missing", "{e}");
    }
    // A's portal token reaches no staff or other-customer data of B.
    as_token(&a, &token_a)
        .get(&format!("/v1/customers/{cus_b}/portal_users"))
        .await
        .err(401, "invalid_api_key");
    assert_eq!(
        as_token(&a, &token_a).get("/v1/portal/me").await.ok()["customer"],
        cus_a.as_str()
    );
    // A's agent still sees and takes it.
    let mut agent_a = connect(&srv.base, &format!("/v1/desk/chat?token={ses_a}")).await;
    let w = next_of(&mut agent_a, "waiting", &[]).await;
    assert_eq!(w["chats"][0]["id"], chat_a.as_str());
    send(&mut agent_a, json!({"type": "accept", "chat": chat_a})).await;
    next_of(&mut agent_a, "accepted", &["waiting"]).await;
    next_of(&mut ws_a, "agent_joined", &["queued"]).await;
    // B's agent got no frame of A's chat meanwhile (only waiting lists, if any).
    while let Ok(Some(Ok(m))) =
        tokio::time::timeout(Duration::from_millis(300), agent_b.next()).await
    {
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            assert_eq!(v["type"], "waiting", "{v}");
            assert_eq!(v["chats"], json!([]));
        }
    }
}
both!(
    organisations_are_isolated_on_both,
    organisations_do_not_see_each_others_chats
);
