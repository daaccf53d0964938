//! The customer's subscription beyond the plan form: add a product (with the exact
//! proration preview), remove one, cancel at period end with the organisation's retention
//! offer shown first, and resume a subscription set to cancel.
//!
//! Rules:
//! - Everything goes through `app::desk::selfservice`, scoped to the signed-in customer:
//!   another customer's subscription (or an item the subscription does not have) answers
//!   "not found" (404) on every page and form, exactly as an id that does not exist, and
//!   changes nothing.
//! - Every change is a POST with the session's CSRF token; without it nothing changes and
//!   the browser goes back with "this form has expired".
//! - An addition is previewed by the use case that applies it (`subscriptions::
//!   preview_change` with the same change), so the amount previewed is the amount invoiced;
//!   confirming lands on that invoice, or on the overview when nothing is due. A removal is
//!   shown with its preview before it is confirmed.
//! - The cancel page shows, in this order: "resume" for a subscription already set to end;
//!   the retention offer when there is one (until the customer picks "cancel anyway");
//!   else the confirmation, with the date the service ends.

use super::fmt::{date, money};
use super::i18n::{Lang, Tr};
use super::names::price_names;
use super::portal::{preview_view, Customer, PreviewFragment, PreviewView};
use super::{csrf_ok, error_text, read_error, redirect_with, render, Chrome, CsrfForm, Flash};
use crate::AppState;
use app::desk::selfservice as ss;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal/subscriptions/{id}/add", get(add_page).post(add))
        .route("/portal/subscriptions/{id}/add/preview", post(add_preview))
        .route(
            "/portal/subscriptions/{id}/items/{item}/remove",
            get(remove_page).post(remove),
        )
        .route(
            "/portal/subscriptions/{id}/cancel",
            get(cancel_page).post(cancel),
        )
        .route("/portal/subscriptions/{id}/offer", post(accept_offer))
        .route("/portal/subscriptions/{id}/resume", post(resume))
}

fn cancel_path(id: &str) -> String {
    format!("/portal/subscriptions/{id}/cancel")
}

/// After the CSRF check, runs a change of one of the customer's subscriptions: `done`
/// says where to go and what to tell; "not found" (404) for a subscription that is not
/// theirs; other refusals go back to `back` with the error.
async fn act<T, Fut>(
    headers: &HeaderMap,
    u: &Customer,
    csrf: &str,
    back: &str,
    run: Fut,
    done: impl FnOnce(T) -> (String, Flash),
) -> Response
where
    Fut: std::future::Future<Output = app::Result<T>>,
{
    if let Some(r) = u.check(headers, csrf, back) {
        return r;
    }
    match run.await {
        Ok(v) => {
            let (to, flash) = done(v);
            redirect_with(headers, &to, flash)
        }
        Err(e @ app::AppError::NotFound { .. }) => read_error(u.lang, e),
        Err(e) => redirect_with(headers, back, Flash::error(error_text(&e, u.lang))),
    }
}

/// Where a billing change lands: its invoice, or the overview when nothing was invoiced.
fn landing(inv: Option<app::invoicing::Invoice>, said: &'static str) -> (String, Flash) {
    let to = match inv {
        Some(i) => format!("/portal/invoices/{}", i.id),
        None => "/portal".into(),
    };
    (to, Flash::ok(said))
}

// ---------------------------------------------------------------------------------------
// Add a product

#[derive(Template)]
#[template(path = "portal/add.html")]
struct AddPage {
    c: Chrome,
    t: &'static Tr,
    sub_id: String,
    /// (price id, name) of each product that may be added.
    options: Vec<(String, String)>,
}

async fn add_page(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    u: Customer,
) -> Response {
    let (sub, prices) = match ss::addable_prices(&s.db, &u.c, &id).await {
        Ok(x) => x,
        Err(e) => return read_error(u.lang, e),
    };
    let wanted: Vec<&str> = prices.iter().map(|p| p.id.as_str()).collect();
    let names = price_names(&s, &u.c.ctx, &wanted).await;
    let options = prices
        .iter()
        .map(|p| (p.id.clone(), names.price(&p.id)))
        .collect();
    let t = u.t();
    let (c, clear) = u.chrome(&headers, t.add_product, "/portal");
    render(
        &AddPage {
            c,
            t,
            sub_id: sub.id,
            options,
        },
        clear,
    )
}

#[derive(Deserialize)]
struct AddForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    quantity: String,
}

impl AddForm {
    /// The quantity typed; anything but a whole number is 0, which the use case refuses
    /// with its own words.
    fn quantity(&self) -> i64 {
        self.quantity.trim().parse().unwrap_or(0)
    }
}

async fn add_preview(
    State(s): State<AppState>,
    Path(id): Path<String>,
    u: Customer,
    Form(f): Form<AddForm>,
) -> Response {
    let t = u.t();
    if !csrf_ok(&u.token, &f.csrf) {
        return PreviewFragment::refused(t, t.form_expired);
    }
    match ss::preview_add(&s.db, &u.c, &id, &f.price, f.quantity()).await {
        Ok((sub, p)) => {
            let hidden = vec![
                ("price".to_string(), f.price.clone()),
                ("quantity".to_string(), f.quantity().to_string()),
            ];
            let action = format!("/portal/subscriptions/{id}/add");
            let view = preview_view(&p, &sub.currency, u.lang, f.csrf, action, hidden);
            render(
                &PreviewFragment {
                    t,
                    p: Some(view),
                    error: None,
                },
                None,
            )
        }
        Err(e @ app::AppError::NotFound { .. }) => read_error(u.lang, e),
        Err(e) => PreviewFragment::refused(t, error_text(&e, u.lang)),
    }
}

async fn add(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    u: Customer,
    Form(f): Form<AddForm>,
) -> Response {
    let back = format!("/portal/subscriptions/{id}/add");
    let run = ss::add_product(&s.db, &u.c, &id, &f.price, f.quantity());
    let said = u.t().product_added;
    act(&headers, &u, &f.csrf, &back, run, |(_, inv)| {
        landing(inv, said)
    })
    .await
}

// ---------------------------------------------------------------------------------------
// Remove a product

#[derive(Template)]
#[template(path = "portal/remove.html")]
struct RemovePage {
    c: Chrome,
    t: &'static Tr,
    intro: String,
    p: Option<PreviewView>,
    error: Option<String>,
}

async fn remove_page(
    State(s): State<AppState>,
    Path((id, item)): Path<(String, String)>,
    headers: HeaderMap,
    u: Customer,
) -> Response {
    let t = u.t();
    let (p, error, name) = match ss::preview_remove(&s.db, &u.c, &id, &item).await {
        Ok((sub, p)) => {
            let price = sub
                .items
                .iter()
                .find(|i| i.id == item)
                .map(|i| i.price.clone())
                .unwrap_or_default();
            let name = price_names(&s, &u.c.ctx, &[price.as_str()])
                .await
                .price(&price);
            let action = format!("/portal/subscriptions/{id}/items/{item}/remove");
            let csrf = super::session::csrf_of(&u.token);
            let view = preview_view(&p, &sub.currency, u.lang, csrf, action, Vec::new());
            (Some(view), None, name)
        }
        Err(e @ app::AppError::NotFound { .. }) => return read_error(u.lang, e),
        Err(e) => (None, Some(error_text(&e, u.lang)), String::new()),
    };
    let (c, clear) = u.chrome(&headers, t.remove_product, "/portal");
    let intro = t.remove_product_intro.replace("{name}", &name);
    render(
        &RemovePage {
            c,
            t,
            intro,
            p,
            error,
        },
        clear,
    )
}

async fn remove(
    State(s): State<AppState>,
    Path((id, item)): Path<(String, String)>,
    headers: HeaderMap,
    u: Customer,
    Form(f): Form<CsrfForm>,
) -> Response {
    let back = format!("/portal/subscriptions/{id}/items/{item}/remove");
    let run = ss::remove_item(&s.db, &u.c, &id, &item);
    let t = u.t();
    act(&headers, &u, &f.csrf, &back, run, |(sub, inv)| {
        // A removal outside a trial waits for the period end: the item is still listed.
        let leaving = sub.items.iter().any(|i| i.id == item);
        landing(
            inv,
            if leaving {
                t.product_leaving
            } else {
                t.product_removed
            },
        )
    })
    .await
}

// ---------------------------------------------------------------------------------------
// Cancel, the retention offer, resume

/// The retention offer as the page words it.
struct OfferView {
    headline: String,
    terms: String,
}

/// "20 %" or "€5.00": what the coupon takes off.
fn off(c: &app::catalog::Coupon, currency: &str, lang: Lang) -> String {
    match (&c.percent_off, c.amount_off) {
        (Some(p), _) => {
            let p = if p.contains('.') {
                p.trim_end_matches('0').trim_end_matches('.')
            } else {
                p.as_str()
            };
            format!("{p} %")
        }
        (None, Some(a)) => money(a, c.currency.as_deref().unwrap_or(currency), lang),
        (None, None) => String::new(),
    }
}

/// The offer's words: the organisation's own, else the portal's; and the coupon's terms
/// ("20 % off each of your next 3 invoices").
fn offer_view(o: &app::retention::Offered, currency: &str, lang: Lang) -> OfferView {
    let t = lang.t();
    let c = &o.coupon;
    let terms = match c.duration.as_str() {
        "once" => t.offer_once.to_string(),
        "repeating" => t
            .offer_repeating
            .replace("{n}", &c.duration_in_periods.unwrap_or(1).to_string()),
        _ => t.offer_forever.to_string(),
    }
    .replace("{off}", &off(c, currency, lang));
    OfferView {
        headline: o.message.clone().unwrap_or_else(|| t.offer_default.into()),
        terms,
    }
}

#[derive(Template)]
#[template(path = "portal/cancel.html")]
struct CancelPage {
    c: Chrome,
    t: &'static Tr,
    sub_id: String,
    name: String,
    /// Set to cancel at period end already: the page offers to resume.
    ending: bool,
    ending_text: String,
    offer: Option<OfferView>,
    cancel_text: String,
}

#[derive(Deserialize)]
struct CancelQuery {
    /// Set by "cancel anyway": skip the offer.
    anyway: Option<String>,
}

async fn cancel_page(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<CancelQuery>,
    headers: HeaderMap,
    u: Customer,
) -> Response {
    let (sub, offer) = match ss::cancel_offer(&s.db, &u.c, &id).await {
        Ok(x) => x,
        Err(e) => return read_error(u.lang, e),
    };
    let t = u.t();
    let wanted: Vec<&str> = sub.items.iter().map(|i| i.price.as_str()).collect();
    let names = price_names(&s, &u.c.ctx, &wanted).await;
    let name = wanted
        .iter()
        .map(|p| names.price(p))
        .collect::<Vec<_>>()
        .join(", ");
    let ends = date(sub.current_period_end_date, u.lang);
    let offer = offer
        .filter(|_| q.anyway.is_none())
        .map(|o| offer_view(&o, &sub.currency, u.lang));
    let (c, clear) = u.chrome(&headers, t.cancel_subscription, "/portal");
    render(
        &CancelPage {
            c,
            t,
            sub_id: sub.id,
            name,
            ending: sub.cancel_at_period_end,
            ending_text: t.ending_text.replace("{date}", &ends),
            offer,
            cancel_text: t.cancel_text.replace("{date}", &ends),
        },
        clear,
    )
}

async fn cancel(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    u: Customer,
    Form(f): Form<CsrfForm>,
) -> Response {
    let back = cancel_path(&id);
    let run = ss::cancel(&s.db, &u.c, &id);
    let (t, lang) = (u.t(), u.lang);
    act(&headers, &u, &f.csrf, &back, run, |sub| {
        let ends = date(sub.current_period_end_date, lang);
        let said = t.subscription_canceled.replace("{date}", &ends);
        ("/portal".into(), Flash::ok(said))
    })
    .await
}

async fn accept_offer(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    u: Customer,
    Form(f): Form<CsrfForm>,
) -> Response {
    let back = cancel_path(&id);
    let run = ss::accept_offer(&s.db, &u.c, &id);
    let said = u.t().offer_accepted;
    act(&headers, &u, &f.csrf, &back, run, |_| {
        ("/portal".into(), Flash::ok(said))
    })
    .await
}

async fn resume(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    u: Customer,
    Form(f): Form<CsrfForm>,
) -> Response {
    let back = cancel_path(&id);
    let run = ss::resume(&s.db, &u.c, &id);
    let said = u.t().resumed;
    act(&headers, &u, &f.csrf, &back, run, |_| {
        ("/portal".into(), Flash::ok(said))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coupon(percent: Option<&str>, amount: Option<i64>, duration: &str) -> app::catalog::Coupon {
        app::catalog::Coupon {
            id: "cpn_x".into(),
            object: "coupon",
            name: "Stay".into(),
            percent_off: percent.map(str::to_string),
            amount_off: amount,
            currency: amount.map(|_| "EUR".to_string()),
            duration: duration.into(),
            duration_in_periods: (duration == "repeating").then_some(3),
            applies_to_products: None,
            created: chrono::Utc::now(),
        }
    }

    #[test]
    fn offers_are_worded_from_the_coupon() {
        let o = app::retention::Offered {
            coupon: coupon(Some("20.00"), None, "repeating"),
            message: None,
        };
        let v = offer_view(&o, "EUR", Lang::En);
        assert_eq!(v.terms, "20 % off each of your next 3 invoices");
        assert_eq!(v.headline, Lang::En.t().offer_default);
        let o = app::retention::Offered {
            coupon: coupon(None, Some(500), "once"),
            message: Some("Stay and save".into()),
        };
        let v = offer_view(&o, "EUR", Lang::En);
        assert_eq!(v.terms, "€5.00 off your next invoice");
        assert_eq!(v.headline, "Stay and save");
    }
}
