//! The agent console: sign in; the queue with SLA indicators; the ticket view with the
//! customer-360 panel, replies with macros, internal notes, call logging, identity
//! verification and billing actions within the agent's authority (above it they become
//! approval requests); the supervisors' approvals inbox; customer search.
//!
//! Every operation is the desk's use case with the signed-in staff user's `StaffCtx`, so
//! permissions, limits, approvals and the audit log are the API's.

use super::fmt::{moment, money};
use super::i18n::{Lang, Tr};
use super::portal::{category_label, finish_sign_in, login_form, login_guard, LoginForm};
use super::session::{self, CONSOLE_COOKIE};
use super::{
    error_text, message, read_error, redirect_with, render, take_flash, Chrome, CsrfForm, Flash,
    NavLink,
};
use crate::AppState;
use app::desk::{actions, identity, tickets, StaffCtx};
use askama::Template;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use desk::authority::Permission;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(queue))
        .route("/console/{org}/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/tickets/{id}", get(ticket))
        .route("/console/tickets/{id}/take", post(take))
        .route("/console/tickets/{id}/reply", post(reply))
        .route("/console/tickets/{id}/note", post(note))
        .route("/console/tickets/{id}/call", post(log_call))
        .route("/console/tickets/{id}/verify", post(verify))
        .route("/console/tickets/{id}/verify/confirm", post(confirm))
        .route("/console/tickets/{id}/actions", post(action))
        .route("/console/approvals", get(approvals))
        .route("/console/kpis", get(kpis))
        .route("/console/chat", get(chat))
        .route("/console/chat/online", post(set_online))
        .route("/console/approvals/{id}/{decision}", post(decide))
        .route("/console/customers", get(customers))
        .route("/console/customers/{id}", get(customer))
        .route("/console/invoices/{id}/pdf", get(invoice_pdf))
}

/// The signed-in staff user of a console request (`ld_console` cookie).
pub struct Agent {
    pub s: StaffCtx,
    pub token: String,
    pub lang: Lang,
    pub me: app::desk::staff::Staff,
}

impl FromRequestParts<AppState> for Agent {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let Some(token) = session::cookie(&parts.headers, CONSOLE_COOKIE) else {
            return Err(super::to_login(&parts.headers, "console", false));
        };
        let (s, me) = app::desk::staff::session_user(&st.db, &token, Utc::now())
            .await
            .map_err(|_| super::to_login(&parts.headers, "console", true))?;
        let lang = super::lang(&parts.headers, Some(&me.locale));
        Ok(Agent { s, token, lang, me })
    }
}

impl Agent {
    fn t(&self) -> &'static Tr {
        self.lang.t()
    }

    fn chrome(
        &self,
        headers: &HeaderMap,
        title: &str,
        here: &str,
    ) -> (Chrome, Option<header::HeaderValue>) {
        let t = self.t();
        let (flash, clear) = take_flash(headers);
        let mut links = vec![
            ("/console", t.queue),
            ("/console/chat", t.live_chat),
            ("/console/customers", t.customers),
        ];
        if self.s.role.can(Permission::Approve) {
            links.push(("/console/approvals", t.approvals));
        }
        if self.s.role.can(Permission::ViewKpis) {
            links.push(("/console/kpis", t.kpis));
        }
        let nav = links
            .iter()
            .map(|(href, label)| NavLink {
                href: href.to_string(),
                label,
                current: here == *href,
            })
            .collect();
        (
            Chrome {
                lang: self.lang.code(),
                title: title.to_string(),
                area: "console",
                nav,
                csrf: session::csrf_of(&self.token),
                signed_in: Some(format!("{} ({})", self.me.name, self.me.role)),
                logout: "/console/logout",
                flash,
                here: here.to_string(),
            },
            clear,
        )
    }

    fn check(&self, headers: &HeaderMap, form_csrf: &str, back: &str) -> Option<Response> {
        super::csrf_refused(&self.token, self.lang, headers, form_csrf, back)
    }

    /// A change posted by a form: after the CSRF check, runs it and goes back to `back`
    /// with `ok`, or with the error. `run` does nothing until awaited, so a refused form
    /// changes nothing.
    async fn act<T>(
        &self,
        headers: &HeaderMap,
        csrf: &str,
        back: &str,
        run: impl std::future::Future<Output = app::Result<T>>,
        ok: &str,
    ) -> Response {
        if let Some(r) = self.check(headers, csrf, back) {
            return r;
        }
        match run.await {
            Ok(_) => redirect_with(headers, back, Flash::ok(ok)),
            Err(e) => redirect_with(headers, back, Flash::error(error_text(&e, self.lang))),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Sign in

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    c: Chrome,
    t: &'static Tr,
    action: String,
    pre: String,
}

async fn login_page(Path(org): Path<String>, headers: HeaderMap) -> Response {
    let action = format!("/console/{org}/login");
    login_form(&headers, &org, "console", |c, t, pre| LoginPage {
        c,
        t,
        action,
        pre,
    })
}

async fn login(
    State(st): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let back = format!("/console/{org}/login");
    if let Some(r) = login_guard(&st, &headers, "console", &f.email, &f.csrf, &back).await {
        return r;
    }
    let input = app::desk::staff::LoginInput {
        organisation: org.clone(),
        email: f.email.clone(),
        password: f.password.clone(),
    };
    let token = app::desk::staff::login(&st.db, input, Utc::now())
        .await
        .map(|x| x.token);
    finish_sign_in(&st, &headers, "console", &f.email, &back, token).await
}

async fn logout(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    super::sign_out(
        &headers,
        "console",
        CONSOLE_COOKIE,
        "/",
        &f.csrf,
        |t| async move { app::desk::staff::logout(&st.db, &t, Utc::now()).await },
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Queue

struct QueueRow {
    id: String,
    number: String,
    subject: String,
    customer: String,
    status: String,
    priority: String,
    assignee: String,
    mine: bool,
    fr_state: String,
    fr_due: String,
    res_state: String,
    res_due: String,
}

#[derive(Template)]
#[template(path = "console/queue.html")]
struct QueuePage {
    c: Chrome,
    t: &'static Tr,
    rows: Vec<QueueRow>,
    mine_only: bool,
}

#[derive(Deserialize)]
struct QueueQuery {
    mine: Option<String>,
}

fn sla_text(c: &tickets::SlaClock, lang: Lang) -> (String, String) {
    (
        c.state.clone(),
        c.due.map(|d| moment(d, lang)).unwrap_or_default(),
    )
}

async fn queue(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<QueueQuery>,
    a: Agent,
) -> Response {
    let t = a.t();
    let mine_only = q.mine.is_some();
    let list = tickets::ListTickets {
        open: Some(true),
        assignee: mine_only.then(|| a.me.id.clone()),
        limit: Some(100),
        ..Default::default()
    };
    let page = match tickets::list(&st.db, &a.s, list).await {
        Ok(p) => p,
        Err(e) => return read_error(a.lang, e),
    };
    let wanted: Vec<&str> = page
        .data
        .iter()
        .filter_map(|x| x.assignee.as_deref())
        .collect();
    let names = st.names.of(&st.db, &a.s.ctx, &[], &wanted).await;
    let name_of = |id: &Option<String>| match id {
        None => t.unassigned.to_string(),
        Some(id) => names.staff(id),
    };
    let rows = page
        .data
        .iter()
        .map(|x| {
            let (fr_state, fr_due) = sla_text(&x.first_response_sla, a.lang);
            let (res_state, res_due) = sla_text(&x.resolution_sla, a.lang);
            QueueRow {
                id: x.id.clone(),
                number: x.number.clone(),
                subject: x.subject.clone(),
                customer: x
                    .requester_name
                    .clone()
                    .or_else(|| x.requester_email.clone())
                    .unwrap_or_default(),
                status: x.status.clone(),
                priority: x.priority.clone(),
                assignee: name_of(&x.assignee),
                mine: x.assignee.as_deref() == Some(a.me.id.as_str()),
                fr_state,
                fr_due,
                res_state,
                res_due,
            }
        })
        .collect();
    let (c, clear) = a.chrome(&headers, t.queue, "/console");
    render(
        &QueuePage {
            c,
            t,
            rows,
            mine_only,
        },
        clear,
    )
}

// ---------------------------------------------------------------------------------------
// Ticket with the customer-360 panel

struct Msg {
    kind: String,
    who: String,
    at: String,
    body: String,
    css: &'static str,
}

struct SubRow {
    status: String,
    period_end: String,
    items: String,
}

struct PayRow {
    date: String,
    method: String,
    amount: String,
    status: String,
}

struct TimelineRow {
    at: String,
    kind: String,
}

struct Panel {
    name: String,
    email: String,
    phone: String,
    locale: String,
    time_zone: String,
    currency: String,
    owed: String,
    credit: String,
    subscriptions: Vec<SubRow>,
    invoices: Vec<(String, String, String, String, String)>,
    /// The invoices a credit note may be taken on (open or paid): (id, label).
    creditable: Vec<(String, String)>,
    payments: Vec<PayRow>,
    /// The succeeded payments a refund may be taken on: (id, label).
    refundable: Vec<(String, String)>,
    timeline: Vec<TimelineRow>,
}

struct ActionRow {
    action: String,
    amount: String,
    status: String,
    reason: String,
}

struct LimitRow {
    action: &'static str,
    label: &'static str,
    limit: String,
}

#[derive(Template)]
#[template(path = "console/ticket.html")]
struct TicketPage {
    c: Chrome,
    t: &'static Tr,
    id: String,
    number: String,
    subject: String,
    status: String,
    category: &'static str,
    priority: String,
    assignee: String,
    mine: bool,
    fr: (String, String),
    res: (String, String),
    messages: Vec<Msg>,
    macros: Vec<String>,
    panel: Option<Panel>,
    conversation: Option<String>,
    verification: Option<(String, String, String)>,
    actions: Vec<ActionRow>,
    limits: Vec<LimitRow>,
    invoices_open: Vec<(String, String)>,
    can_act: bool,
}

/// How much of the account the customer-360 panel shows.
const PANEL: app::account::Sizes = app::account::Sizes {
    subscriptions: 10,
    invoices: 20,
    payments: 10,
    timeline: 15,
};

/// The customer-360 panel of `customer`. `Ok(None)`: there is no such customer (unknown,
/// deleted, another organisation's, or not a customer id). Any other failure is logged and
/// is `Err` with the text to show in the panel's place: a failing read must not look like
/// a missing customer.
async fn panel(st: &AppState, a: &Agent, customer: &str) -> Result<Option<Panel>, &'static str> {
    match app::account::get(&st.db, &a.s.ctx, customer, PANEL).await {
        Ok(acc) => Ok(Some(panel_view(st, a, &acc).await)),
        Err(app::AppError::NotFound { .. } | app::AppError::Invalid { .. }) => Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, customer, "customer-360 panel read failed");
            Err(a.t().account_unavailable)
        }
    }
}

/// The customer-360 panel of an account already read.
async fn panel_view(st: &AppState, a: &Agent, acc: &app::account::Account) -> Panel {
    let ctx = &a.s.ctx;
    let lang = a.lang;
    let (cus, b, subs, invoices, payments, timeline) = (
        &acc.holder,
        &acc.balance,
        &acc.subscriptions,
        &acc.invoices,
        &acc.payments,
        &acc.timeline,
    );
    let wanted: Vec<&str> = subs
        .iter()
        .flat_map(|s| s.items.iter().map(|i| i.price.as_str()))
        .collect();
    let names = super::names::price_names(st, ctx, &wanted).await;
    Panel {
        name: cus.name.clone(),
        email: cus.email.clone().unwrap_or_default(),
        phone: cus.phone.clone().unwrap_or_default(),
        locale: cus.locale.clone(),
        time_zone: cus.time_zone.clone(),
        currency: cus.currency.clone(),
        owed: money(b.amount_owed, &b.currency, lang),
        credit: money(b.credit_balance, &b.currency, lang),
        subscriptions: subs
            .iter()
            .map(|s| SubRow {
                status: s.status.clone(),
                period_end: super::fmt::date(s.current_period_end_date, lang),
                items: s
                    .items
                    .iter()
                    .map(|i| format!("{} × {}", names.price(&i.price), i.quantity))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect(),
        creditable: invoices
            .iter()
            .filter(|i| i.status == "open" || i.status == "paid")
            .map(|i| {
                let label = format!(
                    "{} · {}",
                    i.number.clone().unwrap_or_else(|| i.id.clone()),
                    money(i.total, &i.currency, lang)
                );
                (i.id.clone(), label)
            })
            .collect(),
        invoices: invoices
            .iter()
            .take(10)
            .map(|i| {
                (
                    i.id.clone(),
                    i.number.clone().unwrap_or_else(|| i.id.clone()),
                    i.status.clone(),
                    money(i.total, &i.currency, lang),
                    money(i.amount_remaining, &i.currency, lang),
                )
            })
            .collect(),
        refundable: payments
            .iter()
            .filter(|p| p.status == "succeeded")
            .map(|p| {
                let label = format!(
                    "{} · {}",
                    moment(p.created, lang),
                    money(p.amount, &p.currency, lang)
                );
                (p.id.clone(), label)
            })
            .collect(),
        payments: payments
            .iter()
            .map(|p| PayRow {
                date: moment(p.created, lang),
                method: p.method.clone(),
                amount: money(p.amount, &p.currency, lang),
                status: p.status.clone(),
            })
            .collect(),
        timeline: timeline
            .iter()
            .map(|e| TimelineRow {
                at: moment(e.created, lang),
                kind: e.kind.clone(),
            })
            .collect(),
    }
}

/// The billing actions the console offers (all of `app::desk::actions`).
const ACTIONS: [&str; 7] = [
    "goodwill_credit",
    "credit_note",
    "refund",
    "discount",
    "due_date_extension",
    "payment_plan",
    "write_off",
];

fn action_label(t: &'static Tr, action: &str) -> &'static str {
    match action {
        "goodwill_credit" => t.goodwill_credit,
        "credit_note" => t.credit_note,
        "refund" => t.refund,
        "discount" => t.discount,
        "due_date_extension" => t.due_date_extension,
        "payment_plan" => t.payment_plan,
        _ => t.write_off,
    }
}

async fn ticket(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    a: Agent,
) -> Response {
    let t = a.t();
    let ws = match app::desk::workspace::ticket(&st.db, &a.s, &id, PANEL).await {
        Ok(ws) => ws,
        Err(e) => return read_error(a.lang, e),
    };
    let d = &ws.detail;
    let wanted: Vec<&str> = d
        .interactions
        .iter()
        .filter_map(|i| i.author.as_deref())
        .chain(d.ticket.assignee.as_deref())
        .collect();
    let names = st.names.of(&st.db, &a.s.ctx, &[], &wanted).await;
    let name_of = |id: &str| names.staff(id);
    let messages = d
        .interactions
        .iter()
        .map(|i| {
            let who = match i.author_type.as_str() {
                "customer" => i.from.clone().unwrap_or_else(|| t.customer.to_string()),
                "staff" => i.author.as_deref().map(name_of).unwrap_or_default(),
                other => other.to_string(),
            };
            let css = match (i.kind.as_str(), i.direction.as_str()) {
                ("note", _) | (_, "internal") => "note",
                (_, "outbound") => "mine",
                _ => "",
            };
            Msg {
                kind: i.kind.clone(),
                who,
                at: moment(i.created, a.lang),
                body: i.body.clone(),
                css,
            }
        })
        .collect();
    let conversation = ws.conversation.clone();
    let verification = ws
        .verification
        .as_ref()
        .map(|v| (v.id.clone(), v.status.clone(), v.method.clone()));
    let macros = ws.macros.iter().fold(Vec::<String>::new(), |mut acc, m| {
        if !acc.contains(&m.name) {
            acc.push(m.name.clone());
        }
        acc
    });
    let panel = match &ws.account {
        Some(acc) => Some(panel_view(&st, &a, acc).await),
        None => None,
    };
    let currency = panel
        .as_ref()
        .map(|p| p.currency.clone())
        .unwrap_or_else(|| "USD".into());
    let limits = ACTIONS
        .iter()
        .map(|act| {
            let limit = ws
                .limits
                .data
                .iter()
                .find(|x| x.role == a.s.role.as_str() && x.action == *act)
                .and_then(|x| x.limit);
            LimitRow {
                action: act,
                label: action_label(t, act),
                limit: match limit {
                    Some(v) => money(v, &currency, a.lang),
                    None => t.unlimited.to_string(),
                },
            }
        })
        .collect();
    let actions_list = ws
        .actions
        .iter()
        .map(|x| ActionRow {
            amount: money(x.amount, &x.currency, a.lang),
            action: x.action.clone(),
            status: x.status.clone(),
            reason: x.reason.clone(),
        })
        .collect();
    let invoices_open = panel
        .as_ref()
        .map(|p| p.creditable.clone())
        .unwrap_or_default();
    let tk = &d.ticket;
    let (c, clear) = a.chrome(
        &headers,
        &format!("{} {}", tk.number, tk.subject),
        "/console",
    );
    render(
        &TicketPage {
            c,
            t,
            id: tk.id.clone(),
            number: tk.number.clone(),
            subject: tk.subject.clone(),
            status: tk.status.clone(),
            category: category_label(t, &tk.category),
            priority: tk.priority.clone(),
            assignee: tk
                .assignee
                .as_deref()
                .map(name_of)
                .unwrap_or_else(|| t.unassigned.to_string()),
            mine: tk.assignee.as_deref() == Some(a.me.id.as_str()),
            fr: sla_text(&tk.first_response_sla, a.lang),
            res: sla_text(&tk.resolution_sla, a.lang),
            messages,
            macros,
            panel,
            conversation,
            verification,
            actions: actions_list,
            limits,
            invoices_open,
            can_act: a.s.role.can(Permission::BillingAction),
        },
        clear,
    )
}

fn back_to(id: &str) -> String {
    format!("/console/tickets/{id}")
}

async fn take(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    a: Agent,
    Form(f): Form<CsrfForm>,
) -> Response {
    let input = tickets::UpdateTicket {
        assignee: Some(a.me.id.clone()),
        ..Default::default()
    };
    let run = tickets::update(&st.db, &a.s, &id, input);
    a.act(&headers, &f.csrf, &back_to(&id), run, "✓").await
}

#[derive(Deserialize)]
struct ReplyForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    body: Option<String>,
    #[serde(rename = "macro")]
    macro_name: Option<String>,
    status: Option<String>,
}

async fn reply(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    a: Agent,
    Form(f): Form<ReplyForm>,
) -> Response {
    let input = tickets::ReplyInput {
        body: f.body.filter(|b| !b.trim().is_empty()),
        macro_name: f.macro_name.filter(|m| !m.is_empty()),
        status: f.status.filter(|s| !s.is_empty()),
        handling_secs: None,
    };
    let run = tickets::reply(&st.db, &a.s, &id, input);
    a.act(&headers, &f.csrf, &back_to(&id), run, "✓").await
}

#[derive(Deserialize)]
struct NoteForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    body: String,
}

async fn note(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    a: Agent,
    Form(f): Form<NoteForm>,
) -> Response {
    let run = tickets::note(&st.db, &a.s, &id, tickets::NoteInput { body: f.body });
    a.act(&headers, &f.csrf, &back_to(&id), run, "✓").await
}

#[derive(Deserialize)]
struct CallForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    phone_number: String,
    #[serde(default)]
    notes: String,
}

async fn log_call(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    a: Agent,
    Form(f): Form<CallForm>,
) -> Response {
    let input = app::desk::calls::CallInput {
        phone_number: f.phone_number,
        ticket: Some(id.clone()),
        customer: None,
        direction: Some("inbound".into()),
        wait_secs: 0,
        talk_secs: 0,
        hold_secs: 0,
        wrap_secs: 0,
        started_at: a.s.ctx.now,
        ended_at: None,
        notes: f.notes,
    };
    let run = app::desk::calls::log_call(&st.db, &a.s, input);
    a.act(&headers, &f.csrf, &back_to(&id), run, a.t().call_logged)
        .await
}

#[derive(Deserialize)]
struct VerifyForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    interaction: String,
    method: String,
    postal_code: Option<String>,
    card_last4: Option<String>,
}

async fn verify(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    a: Agent,
    Form(f): Form<VerifyForm>,
) -> Response {
    let factors = if f.method == "knowledge" {
        let mut v = Vec::new();
        if let Some(p) = f.postal_code.filter(|s| !s.trim().is_empty()) {
            v.push(desk::identity::Factor::PostalCode(p));
        }
        if let Some(c) = f.card_last4.filter(|s| !s.trim().is_empty()) {
            v.push(desk::identity::Factor::CardLast4(c));
        }
        Some(v)
    } else {
        None
    };
    let input = identity::StartVerification {
        method: f.method,
        factors,
    };
    let run = identity::start(&st.db, &a.s, &f.interaction, input);
    a.act(&headers, &f.csrf, &back_to(&id), run, "✓").await
}

#[derive(Deserialize)]
struct ConfirmForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    verification: String,
    code: String,
}

async fn confirm(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    a: Agent,
    Form(f): Form<ConfirmForm>,
) -> Response {
    let input = identity::ConfirmVerification { code: f.code };
    let run = identity::confirm(&st.db, &a.s, &f.verification, input);
    a.act(&headers, &f.csrf, &back_to(&id), run, a.t().verified)
        .await
}

#[derive(Deserialize)]
struct ActionForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    action: String,
    /// Major units as typed ("25.00").
    amount: String,
    currency: String,
    invoice: Option<String>,
    payment: Option<String>,
    coupon: Option<String>,
    due_date: Option<String>,
    /// Payment plan: one instalment per line, "YYYY-MM-DD amount".
    instalments: Option<String>,
    reason: String,
    reason_code: String,
    interaction: Option<String>,
}

fn given(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// "2026-12-01 40.00" per line → instalments in minor units of `currency`.
fn parse_instalments(text: &str, currency: &str) -> Result<Vec<actions::InstalmentSpec>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (date, amount) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("instalment {line:?}: write a date and an amount"))?;
            let due_date = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .map_err(|_| format!("instalment {line:?}: the date must be YYYY-MM-DD"))?;
            Ok(actions::InstalmentSpec {
                due_date,
                amount: parse_amount(amount.trim(), currency)?,
            })
        })
        .collect()
}

/// "25", "25.5", "25,50" in major units → minor units of `currency`.
fn parse_amount(text: &str, currency: &str) -> Result<i64, String> {
    let exp = billing::money::Currency::parse(currency)
        .map_err(|e| e.to_string())?
        .exponent();
    let s = text.trim().replace(',', ".");
    let d: rust_decimal::Decimal = s
        .parse()
        .map_err(|_| format!("amount must be a number like 25.00, not {text:?}"))?;
    let minor = d * rust_decimal::Decimal::from(10i64.pow(exp));
    if minor.fract() != rust_decimal::Decimal::ZERO || minor <= rust_decimal::Decimal::ZERO {
        return Err(format!(
            "amount must be positive with at most {exp} decimals"
        ));
    }
    i64::try_from(minor).map_err(|_| "amount is too large".to_string())
}

async fn action(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    a: Agent,
    Form(f): Form<ActionForm>,
) -> Response {
    let back = back_to(&id);
    if let Some(r) = a.check(&headers, &f.csrf, &back) {
        return r;
    }
    // An empty amount is "not given": the action's own default applies (all that is left
    // of a payment, the invoice's amount remaining).
    let amount = match given(Some(f.amount)) {
        Some(a) => match parse_amount(&a, &f.currency) {
            Ok(v) => Some(v),
            Err(e) => return redirect_with(&headers, &back, Flash::error(e)),
        },
        None => None,
    };
    let due_date = match given(f.due_date) {
        Some(d) => match chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                let e = format!("due date {d:?}: use YYYY-MM-DD");
                return redirect_with(&headers, &back, Flash::error(e));
            }
        },
        None => None,
    };
    let instalments = match given(f.instalments) {
        Some(text) => match parse_instalments(&text, &f.currency) {
            Ok(v) => Some(v),
            Err(e) => return redirect_with(&headers, &back, Flash::error(e)),
        },
        None => None,
    };
    let input = actions::ActionInput {
        action: f.action,
        amount,
        currency: Some(f.currency),
        invoice: given(f.invoice),
        payment: given(f.payment),
        reason: f.reason,
        reason_code: f.reason_code,
        interaction: given(f.interaction),
        lines: None,
        coupon: given(f.coupon),
        subscription: None,
        due_date,
        instalments,
    };
    let t = a.t();
    match actions::take(&st.db, &st.gateway, &a.s, &id, input).await {
        Ok(x) if x.status == "executed" => {
            redirect_with(&headers, &back, Flash::ok(t.action_executed))
        }
        Ok(x) if x.status == "pending_approval" => redirect_with(
            &headers,
            &back,
            Flash::ok(format!(
                "{} ({})",
                t.action_pending,
                x.approver_roles.join(", ")
            )),
        ),
        Ok(x) => redirect_with(&headers, &back, Flash::error(x.status)),
        Err(e) => redirect_with(&headers, &back, Flash::error(error_text(&e, a.lang))),
    }
}

// ---------------------------------------------------------------------------------------
// Approvals

struct ApprovalRow {
    id: String,
    ticket: String,
    action: String,
    amount: String,
    reason: String,
    requested_by: String,
    at: String,
}

#[derive(Template)]
#[template(path = "console/approvals.html")]
struct ApprovalsPage {
    c: Chrome,
    t: &'static Tr,
    rows: Vec<ApprovalRow>,
}

async fn approvals(State(st): State<AppState>, headers: HeaderMap, a: Agent) -> Response {
    let t = a.t();
    let list = match actions::pending_approvals(&st.db, &a.s).await {
        Ok(l) => l,
        Err(e) => return read_error(a.lang, e),
    };
    let wanted: Vec<&str> = list.iter().map(|x| x.requested_by.as_str()).collect();
    let names = st.names.of(&st.db, &a.s.ctx, &[], &wanted).await;
    let rows = list
        .into_iter()
        .map(|x| ApprovalRow {
            id: x.id,
            ticket: x.ticket,
            amount: money(x.amount, &x.currency, a.lang),
            action: x.action,
            reason: x.reason,
            requested_by: names.staff(&x.requested_by),
            at: moment(x.created, a.lang),
        })
        .collect();
    let (c, clear) = a.chrome(&headers, t.approvals, "/console/approvals");
    render(&ApprovalsPage { c, t, rows }, clear)
}

#[derive(Deserialize)]
struct DecisionForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    note: Option<String>,
}

async fn decide(
    State(st): State<AppState>,
    Path((id, decision)): Path<(String, String)>,
    headers: HeaderMap,
    a: Agent,
    Form(f): Form<DecisionForm>,
) -> Response {
    let back = "/console/approvals";
    let t = a.t();
    let (approve, ok) = match decision.as_str() {
        "approve" => (true, t.action_executed),
        "reject" => (false, t.action_rejected),
        // A form with a wrong token goes back "expired" whatever it asked for.
        _ => {
            return a.check(&headers, &f.csrf, back).unwrap_or_else(|| {
                message(
                    StatusCode::NOT_FOUND,
                    a.lang,
                    t.not_found,
                    t.not_found_text,
                    None,
                )
            })
        }
    };
    let input = actions::DecisionInput {
        note: f.note.filter(|n| !n.trim().is_empty()),
    };
    let run = async {
        if approve {
            actions::approve(&st.db, &st.gateway, &a.s, &id, input).await
        } else {
            actions::reject(&st.db, &a.s, &id, input).await
        }
    };
    a.act(&headers, &f.csrf, back, run, ok).await
}

// ---------------------------------------------------------------------------------------
// Customers

struct CustomerRow {
    id: String,
    name: String,
    email: String,
    currency: String,
}

#[derive(Template)]
#[template(path = "console/customers.html")]
struct CustomersPage {
    c: Chrome,
    t: &'static Tr,
    q: String,
    rows: Vec<CustomerRow>,
    searched: bool,
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn customers(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(sq): Query<SearchQuery>,
    a: Agent,
) -> Response {
    let t = a.t();
    let q = sq.q.unwrap_or_default();
    let rows = if q.trim().is_empty() {
        Vec::new()
    } else {
        match app::customers::list(&st.db, &a.s.ctx, Some(q.trim()), None, Some(25)).await {
            Ok(p) => p
                .data
                .into_iter()
                .map(|c| CustomerRow {
                    id: c.id,
                    name: c.name,
                    email: c.email.unwrap_or_default(),
                    currency: c.currency,
                })
                .collect(),
            Err(e) => return read_error(a.lang, e),
        }
    };
    let (c, clear) = a.chrome(&headers, t.customers, "/console/customers");
    render(
        &CustomersPage {
            c,
            t,
            searched: !q.trim().is_empty(),
            q,
            rows,
        },
        clear,
    )
}

#[derive(Template)]
#[template(path = "console/customer.html")]
struct CustomerPage {
    c: Chrome,
    t: &'static Tr,
    heading: String,
    /// The panel, or the text shown in its place when the account could not be read.
    p: Result<Panel, &'static str>,
}

/// One customer's account (the customer-360 panel on its own).
async fn customer(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    a: Agent,
) -> Response {
    let t = a.t();
    let (p, status) = match panel(&st, &a, &id).await {
        Ok(Some(p)) => (Ok(p), StatusCode::OK),
        Ok(None) => {
            return message(
                StatusCode::NOT_FOUND,
                a.lang,
                t.not_found,
                t.not_found_text,
                None,
            )
        }
        Err(text) => (Err(text), StatusCode::INTERNAL_SERVER_ERROR),
    };
    let heading = p.as_ref().map_or_else(|_| id.clone(), |p| p.name.clone());
    let (c, clear) = a.chrome(&headers, &heading, "/console/customers");
    let mut res = render(&CustomerPage { c, t, heading, p }, clear);
    if res.status() == StatusCode::OK {
        *res.status_mut() = status;
    }
    res
}

/// An invoice's PDF, as the customer received it.
async fn invoice_pdf(State(st): State<AppState>, Path(id): Path<String>, a: Agent) -> Response {
    match app::documents::invoice_pdf(&st.db, &a.s.ctx, &id).await {
        Ok((name, bytes)) => crate::routes::pdf_response(&name, bytes),
        Err(e) => read_error(a.lang, e),
    }
}

// ---------------------------------------------------------------------------------------
// Live chat

#[derive(Template)]
#[template(path = "console/chat.html")]
struct ChatPage {
    c: Chrome,
    t: &'static Tr,
    online: bool,
}

/// The agent's live chat: the team's waiting chats, accepting one, talking, ending it. The
/// page's script speaks to `/v1/desk/chat` (`web::chat`), which takes the console's session
/// cookie from this site's pages; while the page is open the agent is online for chats.
async fn chat(headers: HeaderMap, a: Agent) -> Response {
    let t = a.t();
    let (c, clear) = a.chrome(&headers, t.live_chat, "/console/chat");
    render(
        &ChatPage {
            c,
            t,
            online: a.me.online,
        },
        clear,
    )
}

#[derive(Deserialize)]
struct OnlineForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    online: bool,
}

/// The agent's own "online for chats" flag: new chats of the team queue for an online
/// agent; with nobody online they become tickets (`app::desk::chat`).
async fn set_online(
    State(st): State<AppState>,
    headers: HeaderMap,
    a: Agent,
    Form(f): Form<OnlineForm>,
) -> Response {
    let input = app::desk::staff::StaffUpdate {
        online: Some(f.online),
        ..Default::default()
    };
    let run = app::desk::staff::update(&st.db, &a.s, &a.me.id, input);
    a.act(&headers, &f.csrf, "/console/chat", run, "✓").await
}

// ---------------------------------------------------------------------------------------
// KPIs

#[derive(Template)]
#[template(path = "console/kpis.html")]
struct KpisPage {
    c: Chrome,
    t: &'static Tr,
    from: String,
    to: String,
    tiles: Vec<(&'static str, String)>,
    charts: Vec<(&'static str, String)>,
}

#[derive(Deserialize)]
struct KpiRange {
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
}

/// The DESK.md KPIs over a range of UTC days (default: the last 30 days to today) as
/// figures and server-drawn charts. Supervisors and admins (`view_kpis`).
async fn kpis(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<KpiRange>,
    a: Agent,
) -> Response {
    let t = a.t();
    let today = Utc::now().date_naive();
    let to = q.to.unwrap_or(today);
    let from = q.from.unwrap_or(to - chrono::Duration::days(29));
    let query = app::desk::kpi::KpiQuery {
        from,
        to,
        team: None,
        agent: None,
        channel: None,
    };
    let r = match app::desk::kpi::report(&st.db, &a.s, query).await {
        Ok(r) => r,
        // A range the report refuses (reversed, too long) is the reader's to fix.
        Err(e @ app::AppError::Invalid { .. }) => {
            return super::message(
                axum::http::StatusCode::BAD_REQUEST,
                a.lang,
                t.bad_request_title,
                &super::error_text(&e, a.lang),
                Some(("/console/kpis".into(), t.kpis.into())),
            )
        }
        Err(e) => return read_error(a.lang, e),
    };
    let wanted: Vec<&str> = r
        .csat_by_agent
        .iter()
        .filter_map(|x| x.agent.as_deref())
        .collect();
    let names = st.names.of(&st.db, &a.s.ctx, &[], &wanted).await;
    let (c, clear) = a.chrome(&headers, t.kpis, "/console/kpis");
    render(
        &KpisPage {
            c,
            t,
            from: from.to_string(),
            to: to.to_string(),
            tiles: kpi_tiles(t, &r),
            charts: kpi_charts(t, &r, &names),
        },
        clear,
    )
}

fn percent(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1} %", v * 100.0))
        .unwrap_or_else(|| "—".into())
}

/// Seconds as "1 h 05 min", "4 min 10 s" or "35 s".
fn span(secs: Option<i64>) -> String {
    match secs {
        None => "—".into(),
        Some(s) if s >= 3600 => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
        Some(s) if s >= 60 => format!("{} min {:02} s", s / 60, s % 60),
        Some(s) => format!("{s} s"),
    }
}

fn kpi_tiles(t: &'static Tr, r: &app::desk::kpi::KpiReport) -> Vec<(&'static str, String)> {
    let ratio = |x: &app::desk::kpi::RatioView| {
        format!("{} ({}/{})", percent(x.value), x.numerator, x.denominator)
    };
    let (finalized, credited) = r.billing_accuracy.iter().fold((0, 0), |(f, c), m| {
        (f + m.finalized, c + m.credited_billing_error)
    });
    let accuracy = (finalized > 0).then(|| 1.0 - credited as f64 / finalized as f64);
    vec![
        (t.kpi_fcr, ratio(&r.fcr)),
        (
            t.kpi_aht,
            span(r.aht.average_secs.map(|s| s.round() as i64)),
        ),
        (t.kpi_csat, ratio(&r.csat)),
        (
            t.kpi_first_response,
            format!(
                "{} / {}",
                span(r.first_response.median_secs),
                span(r.first_response.p90_secs)
            ),
        ),
        (
            t.kpi_resolution,
            format!(
                "{} / {}",
                span(r.resolution.median_secs),
                span(r.resolution.p90_secs)
            ),
        ),
        (t.kpi_accuracy, percent(accuracy)),
        (t.kpi_contacts, r.contacts.total.to_string()),
        (
            t.kpi_per_thousand,
            r.contacts
                .billing_contacts_per_thousand_invoices
                .map(|v| format!("{v:.1}"))
                .unwrap_or_else(|| "—".into()),
        ),
    ]
}

fn kpi_charts(
    t: &'static Tr,
    r: &app::desk::kpi::KpiReport,
    names: &super::names::OrgNames,
) -> Vec<(&'static str, String)> {
    use super::chart::{columns, rows, Bar};
    let count = |label: String, n: u64| Bar {
        label,
        value: n as f64,
        text: n.to_string(),
    };
    // Every day of the range, days without contacts as zero.
    let mut per_day = std::collections::BTreeMap::new();
    let mut d = r.from;
    while d <= r.to {
        per_day.insert(d, 0u64);
        d += chrono::Duration::days(1);
    }
    for x in &r.contacts.by_day {
        *per_day.entry(x.date).or_default() += x.contacts;
    }
    let days: Vec<Bar> = per_day
        .into_iter()
        .map(|(d, n)| count(d.format("%d.%m").to_string(), n))
        .collect();
    let every = days.len().div_ceil(8);
    let channels: Vec<Bar> = r
        .contacts
        .by_channel
        .iter()
        .map(|k| count(k.key.clone(), k.count))
        .collect();
    let categories: Vec<Bar> = r
        .contacts
        .top_categories
        .iter()
        .map(|k| count(k.key.replace('_', " "), k.count))
        .collect();
    let months: Vec<Bar> = r
        .billing_accuracy
        .iter()
        .map(|m| Bar {
            label: m.month.clone(),
            value: m.accuracy.unwrap_or(0.0) * 100.0,
            text: percent(m.accuracy),
        })
        .collect();
    let agents: Vec<Bar> = r
        .csat_by_agent
        .iter()
        .map(|x| Bar {
            label: x
                .agent
                .as_deref()
                .map(|a| names.staff(a))
                .unwrap_or_else(|| "—".into()),
            value: x.csat.value.unwrap_or(0.0) * 100.0,
            text: format!(
                "{} ({}/{})",
                percent(x.csat.value),
                x.csat.numerator,
                x.csat.denominator
            ),
        })
        .collect();
    let none = t.kpi_nothing;
    vec![
        (
            t.kpi_contacts_by_day,
            columns(t.kpi_contacts_by_day, none, &days, every),
        ),
        (t.kpi_by_channel, rows(t.kpi_by_channel, none, &channels)),
        (t.kpi_categories, rows(t.kpi_categories, none, &categories)),
        (
            t.kpi_accuracy_by_month,
            rows(t.kpi_accuracy_by_month, none, &months),
        ),
        (
            t.kpi_csat_by_agent,
            rows(t.kpi_csat_by_agent, none, &agents),
        ),
    ]
}
