//! Sign-in links of the portal ("magic links"): the sign-in page's second form asks for
//! one, the email carries it, and the link's page signs in.
//!
//! Rules (the link's own rules are in `app::desk::portal`):
//! - Asking for a link answers "if the address has an account, a link is on its way"
//!   whatever the address, after the same checks as a password sign-in: the pre-session
//!   CSRF token and the email's sign-in limit. Each request spends one attempt of that
//!   limit, so the form cannot flood a mailbox, and a locked-out address gets no link.
//! - Opening the link (GET) signs nobody in: it shows a button that POSTs back, so mail
//!   scanners that fetch links do not use them up. The POST carries the pre-session CSRF
//!   token set by that page (no sign-in into someone else's account from another site).
//! - Signing in with a link is a sign-in like any other (`finish_sign_in`): same session,
//!   same cookie, and the email's failed attempts are forgotten.
//! - A used, expired or unknown link gets a page saying which, with the way back to sign in.

use super::portal::{finish_sign_in, login_guard, pre_session_form, pre_session_ok};
use super::{message, read_error, redirect_with, Chrome, Flash};
use crate::AppState;
use app::desk::portal as app_portal;
use app::AppError;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use serde::Deserialize;

use super::i18n::Tr;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal/{org}/magic", post(request_link))
        .route(
            "/portal/{org}/magic/{token}",
            get(confirm_page).post(use_link),
        )
}

#[derive(Deserialize)]
struct LinkRequestForm {
    email: String,
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// "Email me a sign-in link": the same answer for every address.
async fn request_link(
    State(s): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    Form(f): Form<LinkRequestForm>,
) -> Response {
    let back = format!("/portal/{org}/login");
    if let Some(r) = login_guard(&s, &headers, "portal", &f.email, &f.csrf, &back).await {
        return r;
    }
    s.signin.failed("portal", &f.email, Utc::now()).await;
    let input = app_portal::SignInLinkRequest {
        organisation: org,
        email: f.email,
        base_url: s.public_url.clone().unwrap_or_default(),
    };
    if let Err(e) = app_portal::request_sign_in_link(&s.db, &input, Utc::now()).await {
        // Said to nobody but the log: an error only an existing account can meet would
        // tell the address has one.
        tracing::warn!(error = %e, "sign-in link not sent");
    }
    let t = super::lang(&headers, None).t();
    redirect_with(&headers, &back, Flash::ok(t.magic_link_sent))
}

#[derive(Template)]
#[template(path = "portal/magic.html")]
struct ConfirmPage {
    c: Chrome,
    t: &'static Tr,
    action: String,
    pre: String,
}

/// The link's page: a button to sign in, or why the link cannot.
async fn confirm_page(
    State(s): State<AppState>,
    Path((org, token)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = app_portal::check_sign_in_link(&s.db, &org, &token, Utc::now()).await {
        return refused(&headers, &org, e);
    }
    let here = format!("/portal/{org}/magic/{token}");
    let action = here.clone();
    pre_session_form(&headers, &org, "portal", &here, |c, t, pre| ConfirmPage {
        c,
        t,
        action,
        pre,
    })
}

#[derive(Deserialize)]
struct ConfirmForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// Signs in with the link and uses it up.
async fn use_link(
    State(s): State<AppState>,
    Path((org, token)): Path<(String, String)>,
    headers: HeaderMap,
    Form(f): Form<ConfirmForm>,
) -> Response {
    let here = format!("/portal/{org}/magic/{token}");
    if !pre_session_ok(&headers, &f.csrf) {
        let t = super::lang(&headers, None).t();
        return redirect_with(&headers, &here, Flash::error(t.form_expired));
    }
    match app_portal::sign_in_with_link(&s.db, &org, &token, Utc::now()).await {
        Ok(x) => finish_sign_in(&s, &headers, "portal", &x.user.email, &here, Ok(x.token)).await,
        Err(e) => refused(&headers, &org, e),
    }
}

/// The page of a link that cannot sign in: used or expired (410), unknown (404).
fn refused(headers: &HeaderMap, org: &str, e: AppError) -> Response {
    let lang = super::lang(headers, None);
    let t = lang.t();
    let (status, text) = match &e {
        AppError::State {
            code: "sign_in_link_used",
            ..
        } => (StatusCode::GONE, t.link_used),
        AppError::State {
            code: "sign_in_link_expired",
            ..
        } => (StatusCode::GONE, t.link_expired),
        AppError::Unauthenticated(_) => (StatusCode::NOT_FOUND, t.link_unknown),
        _ => return read_error(lang, e),
    };
    let back = (
        format!("/portal/{org}/login"),
        t.back_to_sign_in.to_string(),
    );
    message(status, lang, t.link_heading, text, Some(back))
}
