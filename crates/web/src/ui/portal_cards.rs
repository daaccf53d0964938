//! The customer's payment methods: list (brand, last four, expiry, the default; never a
//! card number), add a card from a gateway token, make one the default, remove one.
//!
//! Rules:
//! - Everything goes through `app::desk::selfservice`, scoped to the signed-in customer:
//!   another customer's method id answers "not found" (404), exactly as an id that does not
//!   exist, and changes nothing.
//! - A card is added as the token the payment gateway's own card form returns (`tok_visa`
//!   in the sandbox): card numbers never reach these pages.
//! - A refused token gets its error next to the token field. What was typed is not shown
//!   again: it may be a card number typed where the token goes.

use super::portal::Customer;
use super::{read_error, redirect_with, render, Chrome, CsrfForm, FieldErrors, Flash};
use crate::AppState;
use app::desk::selfservice as ss;
use app::payments::PaymentMethod;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::i18n::{Lang, Tr};

const PAGE: &str = "/portal/payment-methods";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PAGE, get(page).post(add_card))
        .route("/portal/payment-methods/{id}/default", post(make_default))
        .route("/portal/payment-methods/{id}/remove", post(remove))
}

/// One method as the page shows it.
struct MethodView {
    id: String,
    label: String,
    number: String,
    expires: String,
    is_default: bool,
}

#[derive(Template)]
#[template(path = "portal/payment_methods.html")]
struct MethodsPage {
    c: Chrome,
    t: &'static Tr,
    methods: Vec<MethodView>,
    errors: FieldErrors,
}

/// "Visa", "•••• 4242", "04/2030"; bank transfers show the bank and its last four.
fn method_view(t: &'static Tr, m: PaymentMethod) -> MethodView {
    let (label, number, expires) = match (&m.card, &m.bank) {
        (Some(c), _) => (
            capitalized(&c.brand),
            format!("•••• {}", c.last4),
            format!("{:02}/{}", c.exp_month, c.exp_year),
        ),
        (None, Some(b)) => (
            b.bank_name
                .clone()
                .unwrap_or_else(|| t.bank_transfer.into()),
            b.last4
                .as_deref()
                .map(|l| format!("•••• {l}"))
                .unwrap_or_default(),
            String::new(),
        ),
        (None, None) => (t.other_method.to_string(), String::new(), String::new()),
    };
    MethodView {
        id: m.id,
        label,
        number,
        expires,
        is_default: m.is_default,
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The page, with `errors` on the add-card form (422 when there are some).
async fn show(s: &AppState, headers: &HeaderMap, u: &Customer, errors: FieldErrors) -> Response {
    let methods = match ss::payment_methods(&s.db, &u.c).await {
        Ok(m) => m,
        Err(e) => return read_error(u.lang, e),
    };
    let t = u.t();
    let (c, clear) = u.chrome(headers, t.payment_methods, PAGE);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = MethodsPage {
        c,
        t,
        methods: methods.into_iter().map(|m| method_view(t, m)).collect(),
        errors,
    };
    let mut res = render(&page, clear);
    if res.status() == StatusCode::OK {
        *res.status_mut() = status;
    }
    res
}

async fn page(State(s): State<AppState>, headers: HeaderMap, u: Customer) -> Response {
    show(&s, &headers, &u, FieldErrors::default()).await
}

#[derive(Deserialize)]
struct AddCardForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    token: String,
}

async fn add_card(
    State(s): State<AppState>,
    headers: HeaderMap,
    u: Customer,
    Form(f): Form<AddCardForm>,
) -> Response {
    if let Some(r) = u.check(&headers, &f.csrf, PAGE) {
        return r;
    }
    match ss::add_card(&s.db, &s.gateway, &u.c, &f.token).await {
        Ok(_) => redirect_with(&headers, PAGE, Flash::ok(u.t().card_added)),
        Err(e) => {
            let errors = FieldErrors::one("token", token_refusal(u.lang, &e));
            show(&s, &headers, &u, errors).await
        }
    }
}

/// Why a token was refused, in the page's words for bad input (the gateway's message
/// quotes what was typed, which may be a card number) and as the error says otherwise
/// (the gateway is down, say).
fn token_refusal(lang: Lang, e: &app::AppError) -> String {
    match e {
        app::AppError::Invalid { .. } => lang.t().card_token_invalid.to_string(),
        other => super::error_text(other, lang),
    }
}

/// Runs a change of one of the customer's methods: back to the page with `done`, "not
/// found" (404) for a method that is not theirs, other refusals as the page's message.
async fn change<F, Fut>(
    headers: &HeaderMap,
    u: &Customer,
    csrf: &str,
    done: &str,
    run: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = app::Result<PaymentMethod>>,
{
    if let Some(r) = u.check(headers, csrf, PAGE) {
        return r;
    }
    match run().await {
        Ok(_) => redirect_with(headers, PAGE, Flash::ok(done)),
        Err(e @ app::AppError::NotFound { .. }) => read_error(u.lang, e),
        Err(e) => redirect_with(headers, PAGE, Flash::error(super::error_text(&e, u.lang))),
    }
}

async fn make_default(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    u: Customer,
    Form(f): Form<CsrfForm>,
) -> Response {
    let done = u.t().default_changed;
    change(&headers, &u, &f.csrf, done, || {
        ss::make_default_method(&s.db, &u.c, &id)
    })
    .await
}

async fn remove(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    u: Customer,
    Form(f): Form<CsrfForm>,
) -> Response {
    let done = u.t().method_removed;
    change(&headers, &u, &f.csrf, done, || {
        ss::remove_method(&s.db, &u.c, &id)
    })
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn brands_read_as_names() {
        assert_eq!(super::capitalized("visa"), "Visa");
        assert_eq!(super::capitalized(""), "");
    }
}
