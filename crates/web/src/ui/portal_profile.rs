//! The customer's own details: name, email, phone, language, billing address, tax ids
//! and contacts.
//!
//! Rules:
//! - Changes go through `app::desk::selfservice` (and so `app::customers`), checked as the
//!   API checks them: a refused value is shown next to its field, with everything typed
//!   kept, and nothing is saved (422).
//! - The details form saves all its fields at once; an empty optional field clears it.
//! - Tax ids and contacts are added and removed one at a time, each by its own form. A
//!   contact with a portal login cannot be removed here (it would lock that person out).

use super::portal::Customer;
use super::{read_error, redirect_with, render, Chrome, CsrfForm, FieldErrors, Flash};
use crate::AppState;
use app::customers::{Address, ContactInput, TaxIdInput};
use app::desk::selfservice as ss;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::i18n::Tr;

const PAGE: &str = "/portal/profile";

/// Tax id types offered (the API takes any; these are the ones sellers here meet).
const TAX_TYPES: [(&str, &str); 6] = [
    ("eu_vat", "EU VAT"),
    ("gb_vat", "UK VAT"),
    ("ch_vat", "CH VAT"),
    ("us_ein", "US EIN"),
    ("ru_inn", "RU INN"),
    ("ru_kpp", "RU KPP"),
];

const ROLES: [&str; 4] = ["billing", "technical", "primary", "other"];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PAGE, get(page).post(save_details))
        .route("/portal/profile/tax-ids", post(add_tax_id))
        .route("/portal/profile/tax-ids/remove", post(remove_tax_id))
        .route("/portal/profile/contacts", post(add_contact))
        .route("/portal/profile/contacts/{id}/remove", post(remove_contact))
}

/// The details form's fields, as typed.
#[derive(Deserialize, Default)]
struct DetailsForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    locale: String,
    #[serde(default)]
    line1: String,
    #[serde(default)]
    line2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    country: String,
}

#[derive(Deserialize, Default)]
struct TaxIdForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize, Default)]
struct ContactForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

struct ContactView {
    id: String,
    name: String,
    email: String,
    role: &'static str,
}

#[derive(Template)]
#[template(path = "portal/profile.html")]
struct ProfilePage {
    c: Chrome,
    t: &'static Tr,
    d: DetailsForm,
    tax: TaxIdForm,
    contact: ContactForm,
    tax_ids: Vec<(String, String)>,
    contacts: Vec<ContactView>,
    tax_types: Vec<(&'static str, &'static str)>,
    roles: Vec<(&'static str, &'static str)>,
    errors: FieldErrors,
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

fn role_label(t: &'static Tr, role: &str) -> &'static str {
    match role {
        "billing" => t.role_billing,
        "technical" => t.role_technical,
        "primary" => t.role_primary,
        _ => t.role_other,
    }
}

/// The details form filled from the account.
fn details_of(c: &app::customers::Customer) -> DetailsForm {
    let a = &c.address;
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    DetailsForm {
        csrf: String::new(),
        name: c.name.clone(),
        email: s(&c.email),
        phone: s(&c.phone),
        locale: c.locale.clone(),
        line1: s(&a.line1),
        line2: s(&a.line2),
        city: s(&a.city),
        postal_code: s(&a.postal_code),
        region: s(&a.region),
        country: s(&a.country),
    }
}

/// The page's three forms as they are to be shown (typed values after a refusal).
struct Forms {
    d: DetailsForm,
    tax: TaxIdForm,
    contact: ContactForm,
}

impl Forms {
    fn of(u: &Customer) -> Forms {
        Forms {
            d: details_of(&u.customer),
            tax: TaxIdForm {
                kind: "eu_vat".into(),
                ..Default::default()
            },
            contact: ContactForm {
                role: "billing".into(),
                ..Default::default()
            },
        }
    }
}

/// The page from the account `u` and `forms`; 422 when `errors` are shown.
fn show(headers: &HeaderMap, u: &Customer, forms: Forms, errors: FieldErrors) -> Response {
    let t = u.t();
    let (c, clear) = u.chrome(headers, t.profile, PAGE);
    let page = ProfilePage {
        c,
        t,
        d: forms.d,
        tax: forms.tax,
        contact: forms.contact,
        tax_ids: u
            .customer
            .tax_ids
            .iter()
            .map(|x| (x.kind.clone(), x.value.clone()))
            .collect(),
        contacts: u
            .customer
            .contacts
            .iter()
            .map(|k| ContactView {
                id: k.id.clone(),
                name: k.name.clone(),
                email: k.email.clone().unwrap_or_default(),
                role: role_label(t, &k.role),
            })
            .collect(),
        tax_types: TAX_TYPES.to_vec(),
        roles: ROLES.iter().map(|r| (*r, role_label(t, r))).collect(),
        errors,
    };
    let refused = !page.errors.is_empty();
    let mut res = render(&page, clear);
    if refused && res.status() == StatusCode::OK {
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    res
}

/// The answer to a change: back to the page with `done`, or the page again with the
/// refusal next to its field and `forms` as typed.
fn answer<T>(
    headers: &HeaderMap,
    u: &Customer,
    result: app::Result<T>,
    done: &str,
    forms: Forms,
) -> Response {
    match result {
        Ok(_) => redirect_with(headers, PAGE, Flash::ok(done)),
        Err(e @ app::AppError::NotFound { .. }) => read_error(u.lang, e),
        Err(e) => show(headers, u, forms, FieldErrors::from_app(&e, u.lang)),
    }
}

async fn page(headers: HeaderMap, u: Customer) -> Response {
    let forms = Forms::of(&u);
    show(&headers, &u, forms, FieldErrors::default())
}

async fn save_details(
    State(s): State<AppState>,
    headers: HeaderMap,
    u: Customer,
    Form(f): Form<DetailsForm>,
) -> Response {
    if let Some(r) = u.check(&headers, &f.csrf, PAGE) {
        return r;
    }
    let change = ss::ProfileChange {
        name: f.name.clone(),
        email: opt(&f.email),
        phone: opt(&f.phone),
        locale: f.locale.trim().to_string(),
        address: Address {
            line1: opt(&f.line1),
            line2: opt(&f.line2),
            city: opt(&f.city),
            postal_code: opt(&f.postal_code),
            region: opt(&f.region),
            country: opt(&f.country),
        },
    };
    let result = ss::update_profile(&s.db, &u.c, &change).await;
    let forms = Forms {
        d: f,
        ..Forms::of(&u)
    };
    answer(&headers, &u, result, u.t().profile_saved, forms)
}

async fn add_tax_id(
    State(s): State<AppState>,
    headers: HeaderMap,
    u: Customer,
    Form(f): Form<TaxIdForm>,
) -> Response {
    if let Some(r) = u.check(&headers, &f.csrf, PAGE) {
        return r;
    }
    let input = TaxIdInput {
        kind: f.kind.clone(),
        value: f.value.clone(),
    };
    let result = ss::add_tax_id(&s.db, &u.c, input).await;
    let forms = Forms {
        tax: f,
        ..Forms::of(&u)
    };
    answer(&headers, &u, result, u.t().tax_id_added, forms)
}

async fn remove_tax_id(
    State(s): State<AppState>,
    headers: HeaderMap,
    u: Customer,
    Form(f): Form<TaxIdForm>,
) -> Response {
    if let Some(r) = u.check(&headers, &f.csrf, PAGE) {
        return r;
    }
    let result = ss::remove_tax_id(&s.db, &u.c, &f.value).await;
    answer(&headers, &u, result, u.t().tax_id_removed, Forms::of(&u))
}

async fn add_contact(
    State(s): State<AppState>,
    headers: HeaderMap,
    u: Customer,
    Form(f): Form<ContactForm>,
) -> Response {
    if let Some(r) = u.check(&headers, &f.csrf, PAGE) {
        return r;
    }
    let input = ContactInput {
        name: f.name.clone(),
        email: opt(&f.email),
        phone: None,
        role: opt(&f.role),
    };
    let result = ss::add_contact(&s.db, &u.c, &input).await;
    let forms = Forms {
        contact: f,
        ..Forms::of(&u)
    };
    answer(&headers, &u, result, u.t().contact_added, forms)
}

async fn remove_contact(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    u: Customer,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(r) = u.check(&headers, &f.csrf, PAGE) {
        return r;
    }
    let result = ss::remove_contact(&s.db, &u.c, &id).await;
    answer(&headers, &u, result, u.t().contact_removed, Forms::of(&u))
}
