//! The customer self-service portal: sign in, overview, invoices (detail, PDF, pay now),
//! plan changes with the exact proration preview, support tickets and live chat.

use super::fmt::{date, moment, money};
use super::i18n::{Lang, Tr};
use super::names::price_names;
use super::session::{self, PORTAL_COOKIE, PRE_COOKIE};
use super::{
    csrf_ok, error_text, read_error, redirect_with, render, take_flash, Chrome, CsrfForm, Flash,
    NavLink, ORG_COOKIE,
};
use crate::AppState;
use app::desk::selfservice::{self as ss, CustomerCtx};
use askama::Template;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal", get(overview))
        .route("/portal/{org}/login", get(login_page).post(login))
        .route("/portal/logout", post(logout))
        .route("/portal/invoices", get(invoices))
        .route("/portal/invoices/{id}", get(invoice))
        .route("/portal/invoices/{id}/pdf", get(invoice_pdf))
        .route("/portal/invoices/{id}/pay", post(pay))
        .route(
            "/portal/subscriptions/{id}/change",
            get(change_page).post(change),
        )
        .route("/portal/subscriptions/{id}/preview", post(preview))
        .route("/portal/tickets", get(tickets).post(open_ticket))
        .route("/portal/tickets/new", get(new_ticket))
        .route("/portal/tickets/{id}", get(ticket))
        .route("/portal/tickets/{id}/reply", post(reply))
        .route("/portal/tickets/{id}/rate", post(rate))
        .route("/portal/chat", get(chat))
        // The chat socket under /portal, where the session cookie is sent.
        .route("/portal/chat/socket", get(crate::chat::customer_chat))
        .merge(super::portal_link::routes())
        .merge(super::portal_cards::routes())
        .merge(super::portal_profile::routes())
        .merge(super::portal_subscription::routes())
}

/// The signed-in customer of a page request (from the `ld_portal` cookie); without a live
/// session the browser is sent to sign in.
pub struct Customer {
    pub c: CustomerCtx,
    pub token: String,
    pub lang: Lang,
    pub name: String,
    pub customer: app::customers::Customer,
}

impl FromRequestParts<AppState> for Customer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        let Some(token) = session::cookie(&parts.headers, PORTAL_COOKIE) else {
            return Err(super::to_login(&parts.headers, "portal", false));
        };
        let (c, customer) = CustomerCtx::with_customer(&s.db, &token, Utc::now())
            .await
            .map_err(|e| match e {
                app::AppError::Unauthenticated(_) => {
                    super::to_login(&parts.headers, "portal", true)
                }
                e => read_error(super::lang(&parts.headers, None), e),
            })?;
        let lang = super::lang(&parts.headers, Some(&customer.locale));
        Ok(Customer {
            lang,
            name: customer.name.clone(),
            customer,
            c,
            token,
        })
    }
}

impl Customer {
    pub(crate) fn t(&self) -> &'static Tr {
        self.lang.t()
    }

    pub(crate) fn chrome(
        &self,
        headers: &HeaderMap,
        title: &str,
        here: &str,
    ) -> (Chrome, Option<header::HeaderValue>) {
        let t = self.t();
        let (flash, clear) = take_flash(headers);
        let links = [
            ("/portal", t.overview),
            ("/portal/invoices", t.invoices),
            ("/portal/tickets", t.tickets),
            ("/portal/chat", t.chat),
            ("/portal/payment-methods", t.payment_methods),
            ("/portal/profile", t.profile),
        ];
        let nav = links
            .iter()
            .map(|(href, label)| NavLink {
                href: href.to_string(),
                label,
                current: here == *href || (*href != "/portal" && here.starts_with(href)),
            })
            .collect();
        (
            Chrome {
                lang: self.lang.code(),
                title: title.to_string(),
                area: "portal",
                nav,
                csrf: session::csrf_of(&self.token),
                signed_in: Some(self.name.clone()),
                logout: "/portal/logout",
                flash,
                here: here.to_string(),
            },
            clear,
        )
    }

    fn money(&self, minor: i64, currency: &str) -> String {
        money(minor, currency, self.lang)
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub(crate) fn check(
        &self,
        headers: &HeaderMap,
        form_csrf: &str,
        back: &str,
    ) -> Option<Response> {
        super::csrf_refused(&self.token, self.lang, headers, form_csrf, back)
    }
}

// ---------------------------------------------------------------------------------------
// Sign in

#[derive(Template)]
#[template(path = "portal/login.html")]
struct LoginPage {
    c: Chrome,
    t: &'static Tr,
    action: String,
    /// Where the "email me a sign-in link" form goes.
    link_action: String,
    pre: String,
    email: String,
}

fn anonymous_chrome(
    headers: &HeaderMap,
    lang: Lang,
    title: &str,
    here: &str,
    area: &'static str,
) -> (Chrome, Option<header::HeaderValue>) {
    let (flash, clear) = take_flash(headers);
    (
        Chrome {
            lang: lang.code(),
            title: title.into(),
            area,
            nav: Vec::new(),
            csrf: String::new(),
            signed_in: None,
            logout: "",
            flash,
            here: here.into(),
        },
        clear,
    )
}

/// A sign-in form: sets the pre-session CSRF cookie and remembers the organisation.
pub(crate) fn login_form<T: Template>(
    headers: &HeaderMap,
    org: &str,
    area: &'static str,
    page: impl FnOnce(Chrome, &'static Tr, String) -> T,
) -> Response {
    let here = format!("/{area}/{org}/login");
    pre_session_form(headers, org, area, &here, page)
}

/// A page with a form posted before any session (sign-in, a sign-in link's confirmation)
/// at `here`: sets the pre-session CSRF cookie (double submit) and remembers the
/// organisation.
pub(crate) fn pre_session_form<T: Template>(
    headers: &HeaderMap,
    org: &str,
    area: &'static str,
    here: &str,
    page: impl FnOnce(Chrome, &'static Tr, String) -> T,
) -> Response {
    let lang = super::lang(headers, None);
    let t = lang.t();
    let (c, clear) = anonymous_chrome(headers, lang, t.sign_in, here, area);
    let pre = session::random_token();
    let mut res = render(&page(c, t, pre.clone()), clear);
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        session::set_cookie(
            headers,
            PRE_COOKIE,
            &pre,
            &format!("/{area}"),
            3600,
            "Strict",
        ),
    );
    if org.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        h.append(
            header::SET_COOKIE,
            session::set_cookie(headers, ORG_COOKIE, org, "/", 365 * 86_400, "Lax"),
        );
    }
    res
}

async fn login_page(Path(org): Path<String>, headers: HeaderMap) -> Response {
    let action = format!("/portal/{org}/login");
    let link_action = format!("/portal/{org}/magic");
    login_form(&headers, &org, "portal", |c, t, pre| LoginPage {
        c,
        t,
        action,
        link_action,
        pre,
        email: String::new(),
    })
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    pub email: String,
    pub password: String,
    #[serde(rename = "_csrf")]
    pub csrf: String,
}

/// Whether a form posted before any session carries the `ld_pre` cookie's value.
pub(crate) fn pre_session_ok(headers: &HeaderMap, form_csrf: &str) -> bool {
    let pre = session::cookie(headers, PRE_COOKIE).unwrap_or_default();
    !pre.is_empty() && session::same(&pre, form_csrf)
}

/// Checks a sign-in form's double-submit token and the rate limit of `email` (password
/// sign-in and sign-in link requests alike); `Some` is the refusal.
pub(crate) async fn login_guard(
    s: &AppState,
    headers: &HeaderMap,
    surface: &str,
    email: &str,
    form_csrf: &str,
    back: &str,
) -> Option<Response> {
    let t = super::lang(headers, None).t();
    if !pre_session_ok(headers, form_csrf) {
        return Some(redirect_with(headers, back, Flash::error(t.form_expired)));
    }
    if !s.signin.allowed(surface, email, Utc::now()).await {
        return Some(redirect_with(
            headers,
            back,
            Flash::error(t.too_many_attempts),
        ));
    }
    None
}

/// The answer to a sign-in attempt: the session cookie and the area's home, or back to the
/// form with "wrong email or password" (one answer for both), counting the failure.
pub(crate) async fn finish_sign_in(
    s: &AppState,
    headers: &HeaderMap,
    area: &str,
    email: &str,
    back: &str,
    token: app::Result<String>,
) -> Response {
    match token {
        Ok(token) => {
            s.signin.succeeded(area, email).await;
            let (cookie, path) = if area == "portal" {
                (PORTAL_COOKIE, "/portal")
            } else {
                (super::session::CONSOLE_COOKIE, "/")
            };
            signed_in(headers, cookie, &token, path, &format!("/{area}"))
        }
        Err(_) => {
            s.signin.failed(area, email, Utc::now()).await;
            let t = super::lang(headers, None).t();
            redirect_with(headers, back, Flash::error(t.wrong_login))
        }
    }
}

/// Sets the session cookie and goes to `to`.
pub(crate) fn signed_in(
    headers: &HeaderMap,
    cookie: &str,
    token: &str,
    path: &str,
    to: &str,
) -> Response {
    let mut res = Redirect::to(to).into_response();
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        session::set_cookie(headers, cookie, token, path, 12 * 3600, "Lax"),
    );
    h.append(
        header::SET_COOKIE,
        session::set_cookie(headers, PRE_COOKIE, "", path, 0, "Strict"),
    );
    res
}

async fn login(
    State(s): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let back = format!("/portal/{org}/login");
    if let Some(r) = login_guard(&s, &headers, "portal", &f.email, &f.csrf, &back).await {
        return r;
    }
    let input = app::desk::portal::PortalLogin {
        organisation: org.clone(),
        email: f.email.clone(),
        password: f.password.clone(),
    };
    let token = app::desk::portal::login(&s.db, input, Utc::now())
        .await
        .map(|x| x.token);
    finish_sign_in(&s, &headers, "portal", &f.email, &back, token).await
}

async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    super::sign_out(
        &headers,
        "portal",
        PORTAL_COOKIE,
        "/portal",
        &f.csrf,
        |t| async move { app::desk::portal::logout(&s.db, &t, Utc::now()).await },
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Overview

struct PlanView {
    id: String,
    name: String,
    status: String,
    renews: String,
    ending: bool,
    next_estimate: Option<String>,
    /// The items, each with a removal link while another item stays.
    items: Vec<ItemView>,
}

struct ItemView {
    id: String,
    name: String,
    /// Removed at the end of the period.
    leaving: bool,
    removable: bool,
}

/// The items of a subscription as the overview lists them: an item may be removed while
/// another stays after the period (the rule is `selfservice`'s; this only hides links).
fn item_views(
    sub: &app::subscriptions::Subscription,
    names: &super::names::OrgNames,
) -> Vec<ItemView> {
    let staying = sub
        .items
        .iter()
        .filter(|i| i.pending_quantity != Some(0))
        .count();
    sub.items
        .iter()
        .map(|i| {
            let leaving = i.pending_quantity == Some(0);
            ItemView {
                id: i.id.clone(),
                name: names.price(&i.price),
                leaving,
                removable: !leaving && staying > 1,
            }
        })
        .collect()
}

struct InvoiceRow {
    id: String,
    number: String,
    date: String,
    due: String,
    total: String,
    remaining: String,
    status: String,
    status_label: &'static str,
    overdue: bool,
    payable: bool,
}

#[derive(Template)]
#[template(path = "portal/overview.html")]
struct OverviewPage {
    c: Chrome,
    t: &'static Tr,
    owed: String,
    credit: String,
    plans: Vec<PlanView>,
    overdue: Vec<InvoiceRow>,
}

fn status_label(t: &'static Tr, s: &str) -> &'static str {
    match s {
        "draft" => t.status_draft,
        "open" => t.status_open,
        "paid" => t.status_paid,
        "void" => t.status_void,
        _ => t.status_uncollectible,
    }
}

fn invoice_row(u: &Customer, i: &app::invoicing::Invoice, today: chrono::NaiveDate) -> InvoiceRow {
    let t = u.t();
    let overdue = i.status == "open" && i.due_date.is_some_and(|d| d < today);
    InvoiceRow {
        id: i.id.clone(),
        number: i.number.clone().unwrap_or_else(|| i.id.clone()),
        date: i
            .finalized_at
            .map(|d| date(d.date_naive(), u.lang))
            .unwrap_or_default(),
        due: i.due_date.map(|d| date(d, u.lang)).unwrap_or_default(),
        total: u.money(i.total, &i.currency),
        remaining: u.money(i.amount_remaining, &i.currency),
        status: i.status.clone(),
        status_label: status_label(t, &i.status),
        overdue,
        payable: i.status == "open" && i.amount_remaining > 0,
    }
}

/// Names of prices as "Product · nickname".
fn today(u: &Customer) -> chrono::NaiveDate {
    let tz: chrono_tz::Tz = u.customer.time_zone.parse().unwrap_or(chrono_tz::UTC);
    Utc::now().with_timezone(&tz).date_naive()
}

async fn overview(State(s): State<AppState>, headers: HeaderMap, u: Customer) -> Response {
    let t = u.t();
    let o = match ss::overview(&s.db, &u.c, 20, 50).await {
        Ok(o) => o,
        Err(e) => return read_error(u.lang, e),
    };
    let wanted: Vec<&str> = o
        .subscriptions
        .iter()
        .flat_map(|(s, _)| s.items.iter().map(|i| i.price.as_str()))
        .collect();
    let names = price_names(&s, &u.c.ctx, &wanted).await;
    let mut plans = Vec::new();
    for (sub, amount) in o.subscriptions.iter().filter(|(s, _)| s.ended_at.is_none()) {
        let name = sub
            .items
            .iter()
            .map(|i| {
                let n = names.price(&i.price);
                if i.quantity == 1 {
                    n
                } else {
                    format!("{n} × {}", i.quantity)
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        plans.push(PlanView {
            id: sub.id.clone(),
            name,
            status: sub.status.clone(),
            renews: date(sub.current_period_end_date, u.lang),
            ending: sub.cancel_at_period_end,
            // The next period's amount at today's items and prices.
            next_estimate: amount
                .filter(|_| !sub.items.is_empty())
                .map(|a| u.money(a, &sub.currency)),
            items: item_views(sub, &names),
        });
    }
    let today = today(&u);
    let overdue = o
        .invoices
        .iter()
        .map(|i| invoice_row(&u, i, today))
        .filter(|r| r.overdue || r.payable)
        .collect();
    let bal = &o.balance;
    let (c, clear) = u.chrome(&headers, t.overview, "/portal");
    render(
        &OverviewPage {
            c,
            t,
            owed: u.money(bal.amount_owed, &bal.currency),
            credit: u.money(bal.credit_balance, &bal.currency),
            plans,
            overdue,
        },
        clear,
    )
}

// ---------------------------------------------------------------------------------------
// Invoices

#[derive(Template)]
#[template(path = "portal/invoices.html")]
struct InvoicesPage {
    c: Chrome,
    t: &'static Tr,
    rows: Vec<InvoiceRow>,
}

async fn invoices(State(s): State<AppState>, headers: HeaderMap, u: Customer) -> Response {
    let t = u.t();
    let list = match ss::invoices(&s.db, &u.c, 100).await {
        Ok(l) => l,
        Err(e) => return read_error(u.lang, e),
    };
    let today = today(&u);
    let rows = list.iter().map(|i| invoice_row(&u, i, today)).collect();
    let (c, clear) = u.chrome(&headers, t.invoices, "/portal/invoices");
    render(&InvoicesPage { c, t, rows }, clear)
}

pub(crate) struct LineView {
    pub description: String,
    pub period: String,
    pub quantity: String,
    pub amount: String,
    pub discount: Option<String>,
}

pub(crate) struct TaxView {
    pub label: String,
    pub amount: String,
}

/// An invoice laid out for reading (portal and console).
pub(crate) struct InvoiceView {
    pub id: String,
    pub number: String,
    pub status: String,
    pub status_label: &'static str,
    pub date: String,
    pub due: String,
    pub lines: Vec<LineView>,
    pub subtotal: String,
    pub discount: Option<String>,
    pub taxes: Vec<TaxView>,
    pub total: String,
    pub credit_applied: Option<String>,
    pub paid: String,
    pub remaining: String,
    pub tax_note: Option<String>,
    pub payable: bool,
}

/// One invoice line for reading: its local period (the stored end is exclusive, so the
/// last day shown is the day before) and amounts in the page's language.
pub(crate) fn line_view(l: &app::invoicing::InvoiceLine, currency: &str, lang: Lang) -> LineView {
    let m = |v: i64| money(v, currency, lang);
    LineView {
        description: l.description.clone(),
        period: match (l.period_start_date, l.period_end_date) {
            (Some(a), Some(b)) => format!(
                "{} – {}",
                date(a, lang),
                date(b.pred_opt().unwrap_or(b), lang)
            ),
            _ => String::new(),
        },
        quantity: l.quantity.clone(),
        amount: m(l.amount),
        discount: (l.discount_amount != 0).then(|| m(-l.discount_amount)),
    }
}

pub(crate) fn invoice_view(i: &app::invoicing::Invoice, lang: Lang) -> InvoiceView {
    let t = lang.t();
    let m = |v: i64| money(v, &i.currency, lang);
    let lines = i
        .lines
        .iter()
        .map(|l| line_view(l, &i.currency, lang))
        .collect();
    let mut taxes: Vec<(String, i64)> = Vec::new();
    for l in &i.lines {
        if l.tax_amount == 0 && l.tax_percentage.is_none() {
            continue;
        }
        let label = match &l.tax_percentage {
            Some(p) => format!("{} {p} %", t.tax),
            None => t.tax.to_string(),
        };
        match taxes.iter_mut().find(|(k, _)| *k == label) {
            Some((_, v)) => *v += l.tax_amount,
            None => taxes.push((label, l.tax_amount)),
        }
    }
    InvoiceView {
        id: i.id.clone(),
        number: i.number.clone().unwrap_or_else(|| i.id.clone()),
        status: i.status.clone(),
        status_label: status_label(t, &i.status),
        date: i
            .finalized_at
            .map(|d| date(d.date_naive(), lang))
            .unwrap_or_default(),
        due: i.due_date.map(|d| date(d, lang)).unwrap_or_default(),
        lines,
        subtotal: m(i.subtotal),
        discount: (i.total_discount != 0).then(|| m(-i.total_discount)),
        taxes: taxes
            .into_iter()
            .map(|(label, v)| TaxView {
                label,
                amount: m(v),
            })
            .collect(),
        total: m(i.total),
        credit_applied: (i.credit_applied != 0).then(|| m(-i.credit_applied)),
        paid: m(i.amount_paid),
        remaining: m(i.amount_remaining),
        tax_note: i.tax_note.clone(),
        payable: i.status == "open" && i.amount_remaining > 0,
    }
}

#[derive(Template)]
#[template(path = "portal/invoice.html")]
struct InvoicePage {
    c: Chrome,
    t: &'static Tr,
    inv: InvoiceView,
}

async fn invoice(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    u: Customer,
) -> Response {
    let inv = match ss::invoice(&s.db, &u.c, &id).await {
        Ok(i) => i,
        Err(e) => return read_error(u.lang, e),
    };
    let t = u.t();
    let view = invoice_view(&inv, u.lang);
    let title = format!("{} {}", t.invoice, view.number);
    let (c, clear) = u.chrome(&headers, &title, "/portal/invoices");
    render(&InvoicePage { c, t, inv: view }, clear)
}

async fn invoice_pdf(State(s): State<AppState>, Path(id): Path<String>, u: Customer) -> Response {
    match ss::invoice_pdf(&s.db, &u.c, &id).await {
        Ok((name, bytes)) => crate::routes::pdf_response(&name, bytes),
        Err(e) => read_error(u.lang, e),
    }
}

async fn pay(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    u: Customer,
    Form(f): Form<CsrfForm>,
) -> Response {
    let back = format!("/portal/invoices/{id}");
    if let Some(r) = u.check(&headers, &f.csrf, &back) {
        return r;
    }
    let t = u.t();
    match ss::pay(&s.db, &s.gateway, &u.c, &id).await {
        Ok(ch) => match ch.declined {
            None => redirect_with(&headers, &back, Flash::ok(t.payment_ok)),
            Some((_, msg)) => redirect_with(
                &headers,
                &back,
                Flash::error(format!("{}: {msg}", t.payment_declined)),
            ),
        },
        Err(e) => redirect_with(&headers, &back, Flash::error(error_text(&e, u.lang))),
    }
}

// ---------------------------------------------------------------------------------------
// Plan changes

struct PriceOption {
    id: String,
    name: String,
    selected: bool,
}

struct ItemForm {
    index: usize,
    id: String,
    quantity: i64,
    options: Vec<PriceOption>,
}

#[derive(Template)]
#[template(path = "portal/change.html")]
struct ChangePage {
    c: Chrome,
    t: &'static Tr,
    sub_id: String,
    items: Vec<ItemForm>,
}

async fn change_page(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    u: Customer,
) -> Response {
    let sub = match ss::subscription(&s.db, &u.c, &id).await {
        Ok(x) => x,
        Err(e) => return read_error(u.lang, e),
    };
    let choices = ss::plan_choices(&s.db, &u.c, &sub)
        .await
        .unwrap_or_default();
    let wanted: Vec<&str> = choices.iter().map(|p| p.id.as_str()).collect();
    let names = price_names(&s, &u.c.ctx, &wanted).await;
    let items = sub
        .items
        .iter()
        .enumerate()
        .map(|(index, i)| ItemForm {
            index,
            id: i.id.clone(),
            quantity: i.quantity,
            options: choices
                .iter()
                .map(|p| PriceOption {
                    id: p.id.clone(),
                    name: names.price(&p.id),
                    selected: p.id == i.price,
                })
                .collect(),
        })
        .collect();
    let t = u.t();
    let (c, clear) = u.chrome(&headers, t.change_plan, "/portal");
    render(
        &ChangePage {
            c,
            t,
            sub_id: sub.id,
            items,
        },
        clear,
    )
}

/// The change a plan form asks for: `item_N`, `price_N`, `quantity_N` per item.
fn change_of(
    form: &HashMap<String, String>,
) -> Result<app::subscriptions::SubscriptionChange, String> {
    let mut items = Vec::new();
    for n in 0..20 {
        let Some(id) = form.get(&format!("item_{n}")) else {
            break;
        };
        let price = form
            .get(&format!("price_{n}"))
            .cloned()
            .filter(|p| !p.is_empty());
        let q = form
            .get(&format!("quantity_{n}"))
            .map(|q| q.trim())
            .unwrap_or("1");
        let quantity: i64 = q
            .parse()
            .map_err(|_| format!("quantity must be a whole number, not {q:?}"))?;
        items.push(app::subscriptions::ItemChange {
            id: Some(id.clone()),
            price,
            quantity: Some(quantity),
            deleted: false,
        });
    }
    Ok(app::subscriptions::SubscriptionChange {
        items,
        effective: None,
    })
}

/// A change's preview laid out for reading, with the form that confirms it.
pub(crate) struct PreviewView {
    pub now: bool,
    pub lines: Vec<LineView>,
    pub total: String,
    pub amount_due: String,
    pub before: String,
    pub after: String,
    pub csrf: String,
    /// Where the confirming form goes, and the fields it sends again.
    pub action: String,
    pub hidden: Vec<(String, String)>,
}

/// `p` in `currency`, confirmed by posting `hidden` with the session's `csrf` to `action`.
pub(crate) fn preview_view(
    p: &app::subscriptions::ChangePreview,
    currency: &str,
    lang: Lang,
    csrf: String,
    action: String,
    hidden: Vec<(String, String)>,
) -> PreviewView {
    let m = |v: i64| money(v, currency, lang);
    let (lines, total, amount_due) = match &p.invoice {
        Some(inv) => (
            inv.lines
                .iter()
                .map(|l| line_view(l, currency, lang))
                .collect(),
            m(inv.total),
            m(inv.amount_due),
        ),
        None => (Vec::new(), m(0), m(0)),
    };
    PreviewView {
        now: p.effective == "now",
        lines,
        total,
        amount_due,
        before: m(p.amount_per_period_before),
        after: m(p.amount_per_period_after),
        csrf,
        action,
        hidden,
    }
}

/// The preview fragment htmx swaps into a page (or an error in its place).
#[derive(Template)]
#[template(path = "portal/preview.html")]
pub(crate) struct PreviewFragment {
    pub t: &'static Tr,
    pub p: Option<PreviewView>,
    pub error: Option<String>,
}

impl PreviewFragment {
    /// The fragment saying why there is no preview.
    pub(crate) fn refused(t: &'static Tr, error: impl Into<String>) -> Response {
        render(
            &PreviewFragment {
                t,
                p: None,
                error: Some(error.into()),
            },
            None,
        )
    }
}

async fn preview(
    State(s): State<AppState>,
    Path(id): Path<String>,
    u: Customer,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let t = u.t();
    let csrf = form.get("_csrf").cloned().unwrap_or_default();
    if !csrf_ok(&u.token, &csrf) {
        return PreviewFragment::refused(t, t.form_expired);
    }
    let change = match change_of(&form) {
        Ok(c) => c,
        Err(e) => return PreviewFragment::refused(t, e),
    };
    let sub = match ss::subscription(&s.db, &u.c, &id).await {
        Ok(x) => x,
        Err(e) => return read_error(u.lang, e),
    };
    match ss::preview_change(&s.db, &u.c, &id, &change).await {
        Ok(p) => {
            let mut hidden: Vec<(String, String)> = form
                .iter()
                .filter(|(k, _)| {
                    k.starts_with("item_") || k.starts_with("price_") || k.starts_with("quantity_")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            hidden.sort();
            let action = format!("/portal/subscriptions/{id}/change");
            let view = preview_view(&p, &sub.currency, u.lang, csrf, action, hidden);
            render(
                &PreviewFragment {
                    t,
                    p: Some(view),
                    error: None,
                },
                None,
            )
        }
        Err(e) => PreviewFragment::refused(t, error_text(&e, u.lang)),
    }
}

async fn change(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    u: Customer,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let back = format!("/portal/subscriptions/{id}/change");
    if let Some(r) = u.check(
        &headers,
        form.get("_csrf").map(String::as_str).unwrap_or(""),
        &back,
    ) {
        return r;
    }
    let change = match change_of(&form) {
        Ok(c) => c,
        Err(e) => return redirect_with(&headers, &back, Flash::error(e)),
    };
    match ss::change(&s.db, &u.c, &id, &change).await {
        Ok((_, Some(inv))) => redirect_with(
            &headers,
            &format!("/portal/invoices/{}", inv.id),
            Flash::ok(u.t().plan_changed),
        ),
        Ok((_, None)) => redirect_with(&headers, "/portal", Flash::ok(u.t().plan_changed)),
        Err(e) => redirect_with(&headers, &back, Flash::error(error_text(&e, u.lang))),
    }
}

// ---------------------------------------------------------------------------------------
// Tickets

struct TicketRowView {
    id: String,
    number: String,
    subject: String,
    status: String,
    updated: String,
}

#[derive(Template)]
#[template(path = "portal/tickets.html")]
struct TicketsPage {
    c: Chrome,
    t: &'static Tr,
    rows: Vec<TicketRowView>,
}

async fn tickets(State(s): State<AppState>, headers: HeaderMap, u: Customer) -> Response {
    let list = match ss::tickets(&s.db, &u.c).await {
        Ok(l) => l,
        Err(e) => return read_error(u.lang, e),
    };
    let rows = list
        .into_iter()
        .map(|x| TicketRowView {
            id: x.id,
            number: x.number,
            subject: x.subject,
            status: x.status.replace('_', " "),
            updated: moment(x.updated, u.lang),
        })
        .collect();
    let t = u.t();
    let (c, clear) = u.chrome(&headers, t.tickets, "/portal/tickets");
    render(&TicketsPage { c, t, rows }, clear)
}

pub(crate) const CATEGORIES: [&str; 7] = [
    "invoice_discrepancy",
    "payment_issue",
    "refund_adjustment",
    "payment_terms",
    "plan_change",
    "account_change",
    "other",
];

pub(crate) fn category_label(t: &'static Tr, c: &str) -> &'static str {
    match c {
        "invoice_discrepancy" => t.cat_invoice_discrepancy,
        "payment_issue" => t.cat_payment_problem,
        "refund_adjustment" => t.cat_refund,
        "payment_terms" => t.cat_payment_terms,
        "plan_change" => t.cat_plan_change,
        "account_change" => t.cat_account_change,
        _ => t.cat_other,
    }
}

#[derive(Template)]
#[template(path = "portal/new_ticket.html")]
struct NewTicketPage {
    c: Chrome,
    t: &'static Tr,
    categories: Vec<(&'static str, &'static str)>,
    invoices: Vec<(String, String, bool)>,
}

#[derive(Deserialize)]
struct NewTicketQuery {
    invoice: Option<String>,
}

async fn new_ticket(
    State(s): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<NewTicketQuery>,
    u: Customer,
) -> Response {
    let t = u.t();
    let invoices = ss::invoices(&s.db, &u.c, 50)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|i| {
            let label = format!(
                "{} · {}",
                i.number.clone().unwrap_or_else(|| i.id.clone()),
                u.money(i.total, &i.currency)
            );
            let selected = q.invoice.as_deref() == Some(i.id.as_str());
            (i.id, label, selected)
        })
        .collect();
    let categories = CATEGORIES
        .iter()
        .map(|c| (*c, category_label(t, c)))
        .collect();
    let (c, clear) = u.chrome(&headers, t.open_ticket, "/portal/tickets");
    render(
        &NewTicketPage {
            c,
            t,
            categories,
            invoices,
        },
        clear,
    )
}

#[derive(Deserialize)]
struct NewTicketForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    subject: String,
    body: String,
    category: Option<String>,
    invoice: Option<String>,
}

async fn open_ticket(
    State(s): State<AppState>,
    headers: HeaderMap,
    u: Customer,
    Form(f): Form<NewTicketForm>,
) -> Response {
    if let Some(r) = u.check(&headers, &f.csrf, "/portal/tickets/new") {
        return r;
    }
    let input = ss::OpenTicket {
        subject: f.subject,
        body: f.body,
        category: f.category,
        invoice: f.invoice,
    };
    match ss::open_ticket(&s.db, &u.c, input).await {
        Ok(d) => redirect_with(
            &headers,
            &format!("/portal/tickets/{}", d.ticket.id),
            Flash::ok(u.t().ticket_opened),
        ),
        Err(e) => redirect_with(
            &headers,
            "/portal/tickets/new",
            Flash::error(error_text(&e, u.lang)),
        ),
    }
}

struct MessageView {
    mine: bool,
    who: String,
    at: String,
    body: String,
}

#[derive(Template)]
#[template(path = "portal/ticket.html")]
struct TicketPage {
    c: Chrome,
    t: &'static Tr,
    id: String,
    number: String,
    subject: String,
    status: String,
    messages: Vec<MessageView>,
    can_reply: bool,
    can_rate: bool,
}

async fn ticket(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    u: Customer,
) -> Response {
    let d = match ss::ticket(&s.db, &u.c, &id).await {
        Ok(d) => d,
        Err(e) => return read_error(u.lang, e),
    };
    let t = u.t();
    let messages = d
        .interactions
        .iter()
        .map(|i| MessageView {
            mine: i.author_type == "customer",
            who: if i.author_type == "customer" {
                t.you.to_string()
            } else {
                t.support_team.to_string()
            },
            at: moment(i.created, u.lang),
            body: i.body.clone(),
        })
        .collect();
    let status = d.ticket.status.clone();
    let (c, clear) = u.chrome(&headers, &d.ticket.subject, "/portal/tickets");
    render(
        &TicketPage {
            c,
            t,
            id: d.ticket.id.clone(),
            number: d.ticket.number.clone(),
            subject: d.ticket.subject.clone(),
            can_reply: status != "closed",
            can_rate: status == "resolved" || status == "closed",
            status: status.replace('_', " "),
            messages,
        },
        clear,
    )
}

#[derive(Deserialize)]
struct ReplyForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    body: String,
}

async fn reply(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    u: Customer,
    Form(f): Form<ReplyForm>,
) -> Response {
    let back = format!("/portal/tickets/{id}");
    if let Some(r) = u.check(&headers, &f.csrf, &back) {
        return r;
    }
    match ss::reply(&s.db, &u.c, &id, &f.body).await {
        Ok(_) => Redirect::to(&back).into_response(),
        Err(e) => redirect_with(&headers, &back, Flash::error(error_text(&e, u.lang))),
    }
}

#[derive(Deserialize)]
struct RateForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    rating: i64,
    comment: Option<String>,
}

async fn rate(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    u: Customer,
    Form(f): Form<RateForm>,
) -> Response {
    let back = format!("/portal/tickets/{id}");
    if let Some(r) = u.check(&headers, &f.csrf, &back) {
        return r;
    }
    match ss::rate(&s.db, &u.c, &id, f.rating, f.comment.as_deref()).await {
        Ok(_) => redirect_with(&headers, &back, Flash::ok(u.t().thanks_rating)),
        Err(e) => redirect_with(&headers, &back, Flash::error(error_text(&e, u.lang))),
    }
}

// ---------------------------------------------------------------------------------------
// Chat

#[derive(Template)]
#[template(path = "portal/chat.html")]
struct ChatPage {
    c: Chrome,
    t: &'static Tr,
}

async fn chat(headers: HeaderMap, u: Customer) -> Response {
    let t = u.t();
    let (c, clear) = u.chrome(&headers, t.chat_title, "/portal/chat");
    render(&ChatPage { c, t }, clear)
}
