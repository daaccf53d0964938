//! The pages: the customer self-service portal (`/portal`) and the agent console
//! (`/console`), rendered on the server with askama and enhanced with htmx (vendored under
//! `/static`; no Node at run time).
//!
//! Rules of every page:
//! - Handlers are thin, as in the API: read the session, call one use case of `app`, fill a
//!   view model of display strings, render. The rules stay in `app` and below.
//! - A change is a POST of a form with a CSRF token (`session`), answered with a redirect
//!   (post/redirect/get); its outcome is shown once as a flash message on the next page.
//! - Headers on every page and asset: a Content-Security-Policy without inline scripts or
//!   styles, `X-Frame-Options: DENY`, `nosniff`, no referrer across origins, and
//!   `Cache-Control: no-store` on pages (they show account data).
//! - A signed-in customer reaches only their own account: the `app::desk::selfservice`
//!   use cases answer `not_found` for anything else, and the page says "not found".

pub mod chart;
pub mod console;
mod errors;
pub mod fmt;
pub mod i18n;
pub mod names;
pub mod portal;
pub mod portal_cards;
pub mod portal_link;
pub mod portal_profile;
pub mod portal_subscription;
pub mod session;
pub mod slots;

use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use i18n::{Lang, Tr};
use serde::Deserialize;

pub(crate) use errors::error_text;

/// The organisation a browser last signed in to (not secret): where "sign in again" goes.
pub const ORG_COOKIE: &str = "ld_org";
const FLASH_COOKIE: &str = "ld_flash";

/// The page routes; `slots` bounds how many render at once (see [`slots`]).
pub fn routes(slots: slots::PageSlots) -> Router<AppState> {
    Router::new()
        .route("/static/{file}", get(asset))
        .route(
            "/favicon.ico",
            get(|| async { Redirect::permanent("/static/favicon.svg") }),
        )
        .route("/lang/{code}", get(set_lang))
        .merge(portal::routes())
        .merge(console::routes())
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                slots.clone().run(req, next)
            },
        ))
}

/// The headers every page and asset carries.
async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// The vendored assets, compiled into the binary.
async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind): (&'static [u8], &str) = match file.as_str() {
        "app.css" => (include_bytes!("../../static/app.css"), "text/css"),
        "app.js" => (include_bytes!("../../static/app.js"), "text/javascript"),
        "favicon.svg" => (include_bytes!("../../static/favicon.svg"), "image/svg+xml"),
        "htmx-2.0.11.min.js" => (
            include_bytes!("../../static/htmx-2.0.11.min.js"),
            "text/javascript",
        ),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize)]
struct Back {
    back: Option<String>,
}

/// A path on this site (never another origin).
pub(crate) fn local(path: Option<&str>, default: &str) -> String {
    match path {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.into(),
        _ => default.into(),
    }
}

/// The language switch: remembers the choice for a year and goes back.
async fn set_lang(Path(code): Path<String>, Query(q): Query<Back>, headers: HeaderMap) -> Response {
    let lang = Lang::of(&code);
    let mut res = Redirect::to(&local(q.back.as_deref(), "/portal")).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(
            &headers,
            session::LANG_COOKIE,
            lang.code(),
            "/",
            365 * 86_400,
            "Lax",
        ),
    );
    res
}

/// The page language: the switch's cookie, else the person's locale.
pub(crate) fn lang(headers: &HeaderMap, locale: Option<&str>) -> Lang {
    match session::cookie(headers, session::LANG_COOKIE) {
        Some(c) => Lang::of(&c),
        None => Lang::of(locale.unwrap_or("en")),
    }
}

/// A message shown once on the next page.
#[derive(Debug, Clone)]
pub struct Flash {
    /// ok or error.
    pub kind: &'static str,
    pub text: String,
}

impl Flash {
    pub fn ok(text: impl Into<String>) -> Flash {
        Flash {
            kind: "ok",
            text: text.into(),
        }
    }
    pub fn error(text: impl Into<String>) -> Flash {
        Flash {
            kind: "error",
            text: text.into(),
        }
    }
}

/// Redirects to `to` with a message for the next page.
pub(crate) fn redirect_with(headers: &HeaderMap, to: &str, flash: Flash) -> Response {
    let mut res = Redirect::to(to).into_response();
    let value = format!("{}.{}", flash.kind, hex::encode(flash.text.as_bytes()));
    res.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(headers, FLASH_COOKIE, &value, "/", 60, "Lax"),
    );
    res
}

/// The message left by the previous request, if any (and the header that clears it).
pub(crate) fn take_flash(headers: &HeaderMap) -> (Option<Flash>, Option<HeaderValue>) {
    let Some(v) = session::cookie(headers, FLASH_COOKIE) else {
        return (None, None);
    };
    let clear = session::set_cookie(headers, FLASH_COOKIE, "", "/", 0, "Lax");
    let flash = v.split_once('.').and_then(|(kind, hexed)| {
        let text = String::from_utf8(hex::decode(hexed).ok()?).ok()?;
        Some(match kind {
            "ok" => Flash::ok(text),
            _ => Flash::error(text),
        })
    });
    (flash, Some(clear))
}

/// A link of the top navigation.
pub struct NavLink {
    pub href: String,
    pub label: &'static str,
    pub current: bool,
}

/// What every page's frame shows: language, navigation, the signed-in state.
pub struct Chrome {
    pub lang: &'static str,
    pub title: String,
    pub area: &'static str,
    pub nav: Vec<NavLink>,
    pub csrf: String,
    pub signed_in: Option<String>,
    pub logout: &'static str,
    pub flash: Option<Flash>,
    /// This page's path (the language switch comes back to it).
    pub here: String,
}

/// Renders a template, with the flash cookie cleared when one was shown.
pub(crate) fn render<T: Template>(page: &T, clear: Option<HeaderValue>) -> Response {
    match page.render() {
        Ok(html) => {
            let mut res =
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
            if let Some(c) = clear {
                res.headers_mut().append(header::SET_COOKIE, c);
            }
            res
        }
        Err(e) => {
            tracing::error!(error = %e, "page render failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "page render failed").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub c: Chrome,
    pub t: &'static Tr,
    pub heading: String,
    pub text: String,
    pub link: Option<(String, String)>,
}

/// A page with one message, e.g. not found.
pub(crate) fn message(
    status: StatusCode,
    lang: Lang,
    heading: &str,
    text: &str,
    link: Option<(String, String)>,
) -> Response {
    let t = lang.t();
    let page = MessagePage {
        c: Chrome {
            lang: lang.code(),
            title: heading.to_string(),
            area: "",
            nav: Vec::new(),
            csrf: String::new(),
            signed_in: None,
            logout: "",
            flash: None,
            here: "/".into(),
        },
        t,
        heading: heading.to_string(),
        text: text.to_string(),
        link,
    };
    let mut res = render(&page, None);
    *res.status_mut() = status;
    res
}

/// The errors of a form, each shown next to its field (and announced: the field gets
/// `aria-invalid` and `aria-describedby` pointing at it). Field names are the form's, not
/// the API's: see [`FieldErrors::from_app`].
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    /// The error of `field`, if any.
    pub fn of(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One error, on `field`.
    pub fn one(field: &str, text: impl Into<String>) -> FieldErrors {
        FieldErrors(vec![(field.to_string(), text.into())])
    }

    /// An `app` refusal as a form error in the page's language: bad input goes on the field
    /// its parameter names (`address.country` → `country`, `tax_ids[2].value` → `tax_value`,
    /// `contacts[0].email` → `contact_email`); anything else on `form`, the form as a whole.
    pub fn from_app(e: &app::AppError, lang: Lang) -> FieldErrors {
        let field = match e {
            app::AppError::Invalid { param, .. } => form_field(param),
            _ => "form".to_string(),
        };
        FieldErrors(vec![(field, error_text(e, lang))])
    }
}

/// The form field an API parameter is entered in.
fn form_field(param: &str) -> String {
    let nested = |prefix: &str, as_: &str| {
        let rest = param.strip_prefix(prefix)?;
        let (_, field) = rest.split_once("].")?;
        Some(format!("{as_}_{field}"))
    };
    param
        .strip_prefix("address.")
        .map(str::to_string)
        .or_else(|| nested("tax_ids[", "tax"))
        .or_else(|| nested("contacts[", "contact"))
        .unwrap_or_else(|| param.to_string())
}

/// The answer to a failed read: not found (a bad or unknown id in the address), not
/// allowed (the role), or the error page.
pub(crate) fn read_error(lang: Lang, e: app::AppError) -> Response {
    let t = lang.t();
    match e {
        app::AppError::NotFound { .. } | app::AppError::Invalid { .. } => message(
            StatusCode::NOT_FOUND,
            lang,
            t.not_found,
            t.not_found_text,
            None,
        ),
        app::AppError::Forbidden(_) => message(
            StatusCode::FORBIDDEN,
            lang,
            t.forbidden_title,
            t.forbidden_text,
            None,
        ),
        other => {
            tracing::warn!(error = %other, "page read failed");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                lang,
                t.error_title,
                &error_text(&other, lang),
                None,
            )
        }
    }
}

/// A form whose only field is the CSRF token (buttons: take, sign out, remove, …).
#[derive(serde::Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(rename = "_csrf")]
    pub(crate) csrf: String,
}

/// The answer to a form whose CSRF token is not the session's: back to `back` with "the
/// form has expired"; None when the token is right.
pub(crate) fn csrf_refused(
    session_token: &str,
    lang: Lang,
    headers: &HeaderMap,
    form_csrf: &str,
    back: &str,
) -> Option<Response> {
    (!csrf_ok(session_token, form_csrf))
        .then(|| redirect_with(headers, back, Flash::error(lang.t().form_expired)))
}

/// Checks the form's CSRF token against the session's.
pub(crate) fn csrf_ok(session_token: &str, form_token: &str) -> bool {
    session::same(&session::csrf_of(session_token), form_token)
}

/// Where a browser without a live session goes: its organisation's sign-in page for this
/// part of the site (`area` portal or console), with "session ended" when it had one.
pub(crate) fn to_login(headers: &HeaderMap, area: &str, expired: bool) -> Response {
    let l = lang(headers, None);
    match session::cookie(headers, ORG_COOKIE) {
        Some(org) => {
            let to = format!("/{area}/{org}/login");
            if expired {
                redirect_with(headers, &to, Flash::error(l.t().session_expired))
            } else {
                Redirect::to(&to).into_response()
            }
        }
        None => message(
            StatusCode::UNAUTHORIZED,
            l,
            l.t().sign_in,
            &format!("Open your organisation's sign-in page (/{area}/<organisation>/login)."),
            None,
        ),
    }
}

/// Ends a page session: `revoke` runs when the form's CSRF token is the session's; the
/// cookie is cleared either way and the browser goes to sign in.
pub(crate) async fn sign_out<F, Fut>(
    headers: &HeaderMap,
    area: &str,
    cookie: &str,
    cookie_path: &str,
    form_csrf: &str,
    revoke: F,
) -> Response
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = app::Result<()>>,
{
    let token = session::cookie(headers, cookie).unwrap_or_default();
    if !token.is_empty() && csrf_ok(&token, form_csrf) {
        if let Err(e) = revoke(token).await {
            tracing::warn!(error = %e, "sign-out could not revoke the session");
        }
    }
    let mut res = to_login(headers, area, false);
    res.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(headers, cookie, "", cookie_path, 0, "Lax"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_parameters_name_form_fields() {
        assert_eq!(form_field("name"), "name");
        assert_eq!(form_field("address.country"), "country");
        assert_eq!(form_field("tax_ids[3].value"), "tax_value");
        assert_eq!(form_field("tax_ids[0].type"), "tax_type");
        assert_eq!(form_field("contacts[0].email"), "contact_email");
        let bad = app::AppError::invalid("address.country", "bad");
        let e = FieldErrors::from_app(&bad, Lang::En);
        assert_eq!(e.of("country"), Some("bad"));
        assert_eq!(e.of("name"), None);
        let e = FieldErrors::from_app(&bad, Lang::Ru);
        assert_eq!(
            e.of("country"),
            Some("Проверьте поле «Страна (две буквы, например RU)»: bad")
        );
        let e = FieldErrors::from_app(&app::AppError::state("x", "no"), Lang::En);
        assert_eq!(e.of("form"), Some("no"));
        let e = FieldErrors::from_app(&app::AppError::state("last_item", "no"), Lang::Ru);
        assert!(e.of("form").is_some_and(|m| m.starts_with("В подписке")));
    }
}
