//! Shared helpers for the HTTP tests: a real server on a random port and a small client.
#![allow(dead_code)]

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use store::{Backend, Db};

/// A running server with its database.
pub struct Server {
    pub base: String,
    pub db: Db,
    pub http: reqwest::Client,
}

/// Starts the real router on 127.0.0.1:0 over a fresh database of `backend`, or None when
/// that backend is switched off (PostgreSQL with LEDGERDESK_TEST_POSTGRES=off).
pub async fn start(backend: Backend) -> Option<Server> {
    let (db, _url) = store::testing::fresh(backend).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut state = web::AppState::new(db.clone());
    state.public_url = Some(format!("http://{addr}"));
    let app = web::router(state);
    tokio::spawn(async move {
        axum_serve(listener, app).await;
    });
    Some(Server {
        base: format!("http://{addr}"),
        db,
        http: reqwest::Client::new(),
    })
}

async fn axum_serve(listener: tokio::net::TcpListener, app: axum::Router) {
    axum::serve(listener, app).await.expect("serve");
}

pub async fn sqlite() -> Server {
    start(Backend::Sqlite).await.expect("sqlite is always on")
}

/// A response: status, headers and body parsed as JSON (Null when empty / not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    /// Asserts 200 and returns the body.
    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.text);
        self.json
    }
    /// Asserts the status and error code, returns `error.param`.
    #[track_caller]
    pub fn err(&self, status: u16, code: &str) -> Option<String> {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(self.json["error"]["code"], code, "body: {}", self.text);
        self.json["error"]["param"].as_str().map(str::to_string)
    }
    /// Asserts the status, error code and param.
    #[track_caller]
    pub fn err_param(&self, status: u16, code: &str, param: &str) {
        let p = self.err(status, code);
        assert_eq!(p.as_deref(), Some(param), "body: {}", self.text);
    }
}

/// An organisation with its key, talking to one server.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub key: String,
    pub org_id: String,
    pub http: reqwest::Client,
}

impl Server {
    pub async fn org(&self, name: &str) -> Client {
        let o = app::orgs::create_org(&self.db, name, "DE", chrono::Utc::now())
            .await
            .expect("create org");
        Client {
            base: self.base.clone(),
            key: o.api_key,
            org_id: o.org_id,
            http: self.http.clone(),
        }
    }
}

impl Client {
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        idem: Option<&str>,
    ) -> Resp {
        let mut rb = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.key);
        if let Some(k) = idem {
            rb = rb.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        into_resp(rb.send().await.expect("send")).await
    }
    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(body), None).await
    }
    pub async fn post_idem(&self, path: &str, body: Value, key: &str) -> Resp {
        self.send(Method::POST, path, Some(body), Some(key)).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, None, None).await
    }
    /// POST with a raw body and content type (None: no Content-Type header).
    pub async fn post_raw(&self, path: &str, body: Vec<u8>, content_type: Option<&str>) -> Resp {
        let mut rb = self
            .http
            .post(format!("{}{}", self.base, path))
            .bearer_auth(&self.key)
            .body(body);
        if let Some(ct) = content_type {
            rb = rb.header("content-type", ct);
        }
        into_resp(rb.send().await.expect("send")).await
    }

    /// All ids of a list endpoint (following pages).
    pub async fn ids(&self, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        let sep = if path.contains('?') { '&' } else { '?' };
        loop {
            let url = match &after {
                Some(a) => format!("{path}{sep}limit=100&starting_after={a}"),
                None => format!("{path}{sep}limit=100"),
            };
            let page = self.get(&url).await.ok();
            let data = page["data"].as_array().expect("data").clone();
            for d in &data {
                out.push(id_of(d));
            }
            if page["has_more"] != json!(true) || data.is_empty() {
                break;
            }
            after = Some(id_of(data.last().expect("last")));
        }
        out
    }

    pub async fn count(&self, path: &str) -> usize {
        self.ids(path).await.len()
    }

    /// Counts of every listable resource, to show nothing was written.
    pub async fn counts(&self) -> Vec<(&'static str, usize)> {
        let mut out = Vec::new();
        for p in [
            "/v1/customers",
            "/v1/products",
            "/v1/prices",
            "/v1/coupons",
            "/v1/subscriptions",
            "/v1/invoices",
            "/v1/credit_notes",
            "/v1/ledger_entries",
            "/v1/payments",
            "/v1/refunds",
        ] {
            out.push((p, self.count(p).await));
        }
        let tax = self.get("/v1/tax_rates").await.ok();
        out.push((
            "/v1/tax_rates",
            tax["data"].as_array().map(Vec::len).unwrap_or(0),
        ));
        out
    }
}

fn id_of(v: &Value) -> String {
    match &v["id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("no id in {other}"),
    }
}

pub async fn into_resp(r: reqwest::Response) -> Resp {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        text,
        json,
    }
}

pub fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

/// A small catalog for one organisation: a product with a monthly EUR price (1000/month)
/// and a customer billing in EUR. Returns (customer, product, price).
pub async fn basics(c: &Client) -> (String, String, String) {
    let cus = c
        .post(
            "/v1/customers",
            json!({"name": "Basic GmbH", "currency": "EUR", "email": "b@example.com"}),
        )
        .await
        .ok();
    let prod = c.post("/v1/products", json!({"name": "Plan"})).await.ok();
    let price = c
        .post(
            "/v1/prices",
            json!({"product": prod["id"], "model": "flat",
                   "recurring": {"interval": "month"},
                   "currency_amounts": {"EUR": {"amount": 1000}, "USD": {"amount": 1100}}}),
        )
        .await
        .ok();
    (s(&cus["id"]), s(&prod["id"]), s(&price["id"]))
}
