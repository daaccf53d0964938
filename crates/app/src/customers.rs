//! Customer accounts: create, update, read, list and search.
//!
//! Rules: a customer bills in exactly one currency, fixed at creation; the time zone is an
//! IANA name (default UTC) and sets the local midnights of its billing periods; the locale
//! is `en` or `ru`; the country and region of the billing address choose the tax rate.

use crate::util::parse_id;
use crate::{page_limit, AppError, Ctx, Page, Result};
use billing::ids::{ContactId, CustomerId};
use billing::Currency;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use store::customers::{ContactRow, CustomerRow, TaxIdRow};
use store::{new_id, Db, Tx};
use utoipa::ToSchema;

pub const LOCALES: &[&str] = &["en", "ru"];

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TaxIdInput {
    /// eu_vat, gb_vat, us_ein, ru_inn, …
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// billing, technical, primary or other (default billing).
    pub role: Option<String>,
}

/// Body of `POST /v1/customers`.
// `Default` (no name, no currency, which `create` refuses) is for building inputs in code:
// `CustomerCreate { name, currency, ..Default::default() }`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerCreate {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub external_id: Option<String>,
    /// IANA zone, default "UTC".
    pub time_zone: Option<String>,
    /// "en" (default) or "ru".
    pub locale: Option<String>,
    /// ISO 4217 billing currency.
    pub currency: String,
    #[serde(default)]
    pub tax_exempt: bool,
    pub address: Option<Address>,
    #[serde(default)]
    pub tax_ids: Vec<TaxIdInput>,
    #[serde(default)]
    pub contacts: Vec<ContactInput>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// charge_automatically or send_invoice (default).
    #[serde(default)]
    pub collection_method: Option<String>,
    /// Payment terms: 0 (default) is due on receipt, N is net N days (at most 365).
    #[serde(default)]
    pub days_until_due: Option<i64>,
    /// A test clock (`clock_…`) to put the customer on: their subscriptions renew, are
    /// charged and reminded only when the clock is advanced. Set at creation only.
    #[serde(default)]
    pub test_clock: Option<String>,
}

/// Body of `POST /v1/customers/{id}`: only the fields given change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerUpdate {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub external_id: Option<String>,
    pub time_zone: Option<String>,
    pub locale: Option<String>,
    pub tax_exempt: Option<bool>,
    pub address: Option<Address>,
    pub tax_ids: Option<Vec<TaxIdInput>>,
    pub metadata: Option<BTreeMap<String, String>>,
    /// charge_automatically or send_invoice.
    pub collection_method: Option<String>,
    /// 0 is due on receipt, N is net N days (at most 365); applies to invoices finalized
    /// from now on.
    pub days_until_due: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Contact {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub role: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Customer {
    pub id: String,
    pub object: &'static str,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub external_id: Option<String>,
    pub time_zone: String,
    pub locale: String,
    pub currency: String,
    pub tax_exempt: bool,
    pub address: Address,
    pub tax_ids: Vec<TaxIdInput>,
    pub contacts: Vec<Contact>,
    pub metadata: BTreeMap<String, String>,
    /// Credit the customer can spend, minor units of `currency`.
    pub credit_balance: i64,
    pub created: chrono::DateTime<chrono::Utc>,
    /// charge_automatically or send_invoice.
    pub collection_method: String,
    pub days_until_due: i64,
    /// due_on_receipt or net_N.
    pub payment_terms: String,
}

fn check_email(param: &str, email: &Option<String>) -> Result<Option<String>> {
    match email.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(e) => {
            let ok = e.len() <= 254
                && !e.contains(char::is_whitespace)
                && e.split_once('@').is_some_and(|(l, d)| {
                    !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
                });
            if ok {
                Ok(Some(e.to_string()))
            } else {
                Err(AppError::invalid(
                    param,
                    format!("{e:?} is not a valid email address"),
                ))
            }
        }
    }
}

fn check_text(param: &str, value: &str, max: usize) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(AppError::invalid(
            param,
            format!("{param} must not be empty"),
        ));
    }
    if v.chars().count() > max {
        return Err(AppError::invalid(
            param,
            format!("{param} is longer than {max} characters"),
        ));
    }
    Ok(v.to_string())
}

fn check_tz(tz: &str) -> Result<String> {
    billing::period::parse_tz(tz).map_err(|e| AppError::billing("time_zone", e))?;
    Ok(tz.to_string())
}

fn check_locale(locale: &str) -> Result<String> {
    if LOCALES.contains(&locale) {
        Ok(locale.to_string())
    } else {
        Err(AppError::invalid(
            "locale",
            format!(
                "unsupported locale {locale:?}: use one of {}",
                LOCALES.join(", ")
            ),
        ))
    }
}

fn check_address(a: &Address) -> Result<Address> {
    let mut a = a.clone();
    if let Some(c) = &a.country {
        let c = c.trim().to_ascii_uppercase();
        if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(AppError::invalid(
                "address.country",
                format!("{c:?} is not an ISO 3166-1 alpha-2 country code"),
            ));
        }
        a.country = Some(c);
    }
    if let Some(r) = &a.region {
        a.region = Some(r.trim().to_ascii_uppercase());
    }
    Ok(a)
}

fn check_metadata(m: &BTreeMap<String, String>) -> Result<String> {
    if m.len() > 50 {
        return Err(AppError::invalid(
            "metadata",
            "metadata has more than 50 keys",
        ));
    }
    for (k, v) in m {
        if k.is_empty() || k.len() > 40 {
            return Err(AppError::invalid(
                "metadata",
                format!("metadata key {k:?} must be 1 to 40 characters"),
            ));
        }
        if v.len() > 500 {
            return Err(AppError::invalid(
                format!("metadata.{k}"),
                "metadata values are at most 500 characters",
            ));
        }
    }
    serde_json::to_string(m).map_err(|e| AppError::Internal(e.to_string()))
}

fn tax_id_rows(org: &str, customer: &str, ids: &[TaxIdInput]) -> Result<Vec<TaxIdRow>> {
    let mut out: Vec<TaxIdRow> = Vec::new();
    for (i, t) in ids.iter().enumerate() {
        let value: String = t
            .value
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        if value.is_empty() || value.len() > 30 {
            return Err(AppError::invalid(
                format!("tax_ids[{i}].value"),
                "tax id value must be 1 to 30 characters",
            ));
        }
        let kind = t.kind.trim().to_ascii_lowercase();
        if kind.is_empty() || kind.len() > 20 {
            return Err(AppError::invalid(
                format!("tax_ids[{i}].type"),
                "tax id type must be 1 to 20 characters, e.g. eu_vat",
            ));
        }
        if kind == "eu_vat" && billing::tax::eu_vat_country(&value).is_none() {
            return Err(AppError::invalid(
                format!("tax_ids[{i}].value"),
                format!("{value:?} does not look like an EU VAT id"),
            ));
        }
        if out.iter().any(|r| r.value == value) {
            return Err(AppError::invalid(
                format!("tax_ids[{i}].value"),
                format!("tax id {value} is given twice"),
            ));
        }
        out.push(TaxIdRow {
            org_id: org.into(),
            customer_id: customer.into(),
            kind,
            value,
        });
    }
    Ok(out)
}

fn contact_rows(ctx: &Ctx, customer: &str, contacts: &[ContactInput]) -> Result<Vec<ContactRow>> {
    contacts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let role = c.role.clone().unwrap_or_else(|| "billing".into());
            if !["billing", "technical", "primary", "other"].contains(&role.as_str()) {
                return Err(AppError::invalid(
                    format!("contacts[{i}].role"),
                    format!("unknown role {role:?}: use billing, technical, primary or other"),
                ));
            }
            Ok(ContactRow {
                id: new_id!(ContactId).to_string(),
                org_id: ctx.org_id.clone(),
                customer_id: customer.into(),
                name: check_text(&format!("contacts[{i}].name"), &c.name, 200)?,
                email: check_email(&format!("contacts[{i}].email"), &c.email)?,
                phone: c.phone.clone(),
                role,
                created_at: ctx.now,
            })
        })
        .collect()
}

/// Checks a create request and turns it into rows (no IO).
pub fn prepare(
    ctx: &Ctx,
    input: &CustomerCreate,
) -> Result<(CustomerRow, Vec<TaxIdRow>, Vec<ContactRow>)> {
    let id = new_id!(CustomerId).to_string();
    let currency =
        Currency::parse(&input.currency).map_err(|e| AppError::billing("currency", e))?;
    let address = check_address(&input.address.clone().unwrap_or_default())?;
    let row = CustomerRow {
        id: id.clone(),
        org_id: ctx.org_id.clone(),
        external_id: input
            .external_id
            .as_deref()
            .map(|e| check_text("external_id", e, 100))
            .transpose()?,
        name: check_text("name", &input.name, 200)?,
        email: check_email("email", &input.email)?,
        phone: input.phone.clone(),
        time_zone: check_tz(input.time_zone.as_deref().unwrap_or("UTC"))?,
        locale: check_locale(input.locale.as_deref().unwrap_or("en"))?,
        currency: currency.code().to_string(),
        tax_exempt: input.tax_exempt,
        address_line1: address.line1,
        address_line2: address.line2,
        address_city: address.city,
        address_postal_code: address.postal_code,
        address_region: address.region,
        address_country: address.country,
        metadata: check_metadata(&input.metadata)?,
        credit_balance: 0,
        created_at: ctx.now,
        updated_at: ctx.now,
        collection_method: check_collection(
            input.collection_method.as_deref().unwrap_or("send_invoice"),
        )?,
        days_until_due: check_terms(input.days_until_due.unwrap_or(0))?,
    };
    let tax_ids = tax_id_rows(&ctx.org_id, &id, &input.tax_ids)?;
    let contacts = contact_rows(ctx, &id, &input.contacts)?;
    Ok((row, tax_ids, contacts))
}

pub async fn create(db: &Db, ctx: &Ctx, input: &CustomerCreate) -> Result<Customer> {
    let (row, tax_ids, contacts) = prepare(ctx, input)?;
    let mut tx = db.begin().await?;
    store::customers::insert(&mut tx, std::slice::from_ref(&row))
        .await
        .map_err(external_id_taken)?;
    store::customers::replace_tax_ids(&mut tx, &ctx.org_id, &row.id, &tax_ids).await?;
    store::customers::insert_contacts(&mut tx, &contacts).await?;
    if let Some(clock) = &input.test_clock {
        parse_id("test_clock", clock, billing::ids::TestClockId::parse)?;
        if store::clocks::get(&mut tx, &ctx.org_id, clock, false)
            .await?
            .is_none()
        {
            return Err(AppError::not_found("test_clock", clock));
        }
        store::clocks::attach_customer(&mut tx, &ctx.org_id, &row.id, clock).await?;
    }
    let view = load(&mut tx, &ctx.org_id, &row.id).await?;
    tx.commit().await?;
    Ok(view)
}

fn external_id_taken(e: store::StoreError) -> AppError {
    match e {
        store::StoreError::Conflict(_) => AppError::invalid(
            "external_id",
            "another customer already has this external_id",
        ),
        other => other.into(),
    }
}

pub async fn update(db: &Db, ctx: &Ctx, id: &str, input: &CustomerUpdate) -> Result<Customer> {
    parse_id("id", id, CustomerId::parse)?;
    let mut tx = db.begin().await?;
    let mut row = store::customers::get_for_update(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("customer", id))?;
    if let Some(n) = &input.name {
        row.name = check_text("name", n, 200)?;
    }
    if input.email.is_some() {
        row.email = check_email("email", &input.email)?;
    }
    if input.phone.is_some() {
        row.phone = input.phone.clone();
    }
    if let Some(e) = &input.external_id {
        row.external_id = Some(check_text("external_id", e, 100)?);
    }
    if let Some(tz) = &input.time_zone {
        row.time_zone = check_tz(tz)?;
    }
    if let Some(l) = &input.locale {
        row.locale = check_locale(l)?;
    }
    if let Some(m) = &input.collection_method {
        row.collection_method = check_collection(m)?;
    }
    if let Some(d) = input.days_until_due {
        row.days_until_due = check_terms(d)?;
    }
    if let Some(t) = input.tax_exempt {
        row.tax_exempt = t;
    }
    if let Some(a) = &input.address {
        let a = check_address(a)?;
        row.address_line1 = a.line1;
        row.address_line2 = a.line2;
        row.address_city = a.city;
        row.address_postal_code = a.postal_code;
        row.address_region = a.region;
        row.address_country = a.country;
    }
    if let Some(m) = &input.metadata {
        row.metadata = check_metadata(m)?;
    }
    row.updated_at = ctx.now;
    store::customers::update(&mut tx, &row)
        .await
        .map_err(external_id_taken)?;
    if let Some(ids) = &input.tax_ids {
        let rows = tax_id_rows(&ctx.org_id, id, ids)?;
        store::customers::replace_tax_ids(&mut tx, &ctx.org_id, id, &rows).await?;
    }
    let view = load(&mut tx, &ctx.org_id, id).await?;
    tx.commit().await?;
    Ok(view)
}

/// Changes a customer's tax ids with `change`, under the customer's row lock (two changes
/// at once cannot lose one another's), checked as `update` checks them.
pub async fn change_tax_ids(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    change: impl FnOnce(&mut Vec<TaxIdInput>) -> Result<()>,
) -> Result<Customer> {
    parse_id("id", id, CustomerId::parse)?;
    let mut tx = db.begin().await?;
    store::customers::get_for_update(&mut tx, &ctx.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("customer", id))?;
    let mut ids: Vec<TaxIdInput> = store::customers::tax_ids(&mut tx, &ctx.org_id, id)
        .await?
        .into_iter()
        .map(|t| TaxIdInput {
            kind: t.kind,
            value: t.value,
        })
        .collect();
    change(&mut ids)?;
    let rows = tax_id_rows(&ctx.org_id, id, &ids)?;
    store::customers::replace_tax_ids(&mut tx, &ctx.org_id, id, &rows).await?;
    let view = load(&mut tx, &ctx.org_id, id).await?;
    tx.commit().await?;
    Ok(view)
}

/// Adds a contact to a customer.
pub async fn add_contact(
    db: &Db,
    ctx: &Ctx,
    customer_id: &str,
    input: &ContactInput,
) -> Result<Customer> {
    parse_id("id", customer_id, CustomerId::parse)?;
    let mut tx = db.begin().await?;
    store::customers::get(&mut tx, &ctx.org_id, customer_id)
        .await?
        .ok_or_else(|| AppError::not_found("customer", customer_id))?;
    let rows = contact_rows(ctx, customer_id, std::slice::from_ref(input))?;
    store::customers::insert_contacts(&mut tx, &rows).await?;
    let view = load(&mut tx, &ctx.org_id, customer_id).await?;
    tx.commit().await?;
    Ok(view)
}

/// Removes a contact of a customer. A contact with a portal login is kept (`contact_in_use`):
/// the login belongs to that person, and removing the contact would orphan it.
pub async fn remove_contact(
    db: &Db,
    ctx: &Ctx,
    customer_id: &str,
    contact_id: &str,
) -> Result<Customer> {
    parse_id("id", customer_id, CustomerId::parse)?;
    let mut tx = db.begin().await?;
    store::customers::get_for_update(&mut tx, &ctx.org_id, customer_id)
        .await?
        .ok_or_else(|| AppError::not_found("customer", customer_id))?;
    let logins = store::portal::users_of_customer(&mut tx, &ctx.org_id, customer_id).await?;
    if logins
        .iter()
        .any(|u| u.contact_id.as_deref() == Some(contact_id))
    {
        return Err(AppError::state(
            "contact_in_use",
            "this contact signs in to the portal; their login must be removed first",
        ));
    }
    if store::customers::delete_contact(&mut tx, &ctx.org_id, customer_id, contact_id).await? != 1 {
        return Err(AppError::not_found("contact", contact_id));
    }
    let view = load(&mut tx, &ctx.org_id, customer_id).await?;
    tx.commit().await?;
    Ok(view)
}

pub async fn get(db: &Db, ctx: &Ctx, id: &str) -> Result<Customer> {
    parse_id("id", id, CustomerId::parse)?;
    let mut tx = db.read().await?;
    load(&mut tx, &ctx.org_id, id).await
}

pub async fn load(tx: &mut Tx, org: &str, id: &str) -> Result<Customer> {
    let row = store::customers::get(tx, org, id)
        .await?
        .ok_or_else(|| AppError::not_found("customer", id))?;
    let tax_ids = store::customers::tax_ids(tx, org, id).await?;
    let contacts = store::customers::contacts(tx, org, id).await?;
    Ok(view(row, tax_ids, contacts))
}

fn check_collection(m: &str) -> Result<String> {
    match m {
        "charge_automatically" | "send_invoice" => Ok(m.to_string()),
        other => Err(AppError::invalid(
            "collection_method",
            format!(
                "collection_method must be charge_automatically or send_invoice, got {other:?}"
            ),
        )),
    }
}

fn check_terms(days: i64) -> Result<i64> {
    billing::collection::Terms::days(days)
        .map(|t| t.get() as i64)
        .map_err(|e| AppError::billing("days_until_due", e))
}

fn view(r: CustomerRow, tax_ids: Vec<TaxIdRow>, contacts: Vec<ContactRow>) -> Customer {
    let payment_terms = billing::collection::Terms::days(r.days_until_due)
        .map(|t| t.label())
        .unwrap_or_default();
    Customer {
        collection_method: r.collection_method,
        days_until_due: r.days_until_due,
        payment_terms,
        id: r.id,
        object: "customer",
        name: r.name,
        email: r.email,
        phone: r.phone,
        external_id: r.external_id,
        time_zone: r.time_zone,
        locale: r.locale,
        currency: r.currency,
        tax_exempt: r.tax_exempt,
        address: Address {
            line1: r.address_line1,
            line2: r.address_line2,
            city: r.address_city,
            postal_code: r.address_postal_code,
            region: r.address_region,
            country: r.address_country,
        },
        tax_ids: tax_ids
            .into_iter()
            .map(|t| TaxIdInput {
                kind: t.kind,
                value: t.value,
            })
            .collect(),
        contacts: contacts
            .into_iter()
            .map(|c| Contact {
                id: c.id,
                name: c.name,
                email: c.email,
                phone: c.phone,
                role: c.role,
            })
            .collect(),
        metadata: serde_json::from_str(&r.metadata).unwrap_or_default(),
        credit_balance: r.credit_balance,
        created: r.created_at,
    }
}

/// Lists customers newest first; `query` searches email, external id and name.
pub async fn list(
    db: &Db,
    ctx: &Ctx,
    query: Option<&str>,
    starting_after: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<Customer>> {
    let limit = page_limit(limit)?;
    let mut tx = db.read().await?;
    let rows = store::customers::list(
        &mut tx,
        &ctx.org_id,
        query.filter(|q| !q.is_empty()),
        starting_after,
        limit + 1,
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let tax_ids = store::customers::tax_ids(&mut tx, &ctx.org_id, &r.id).await?;
        let contacts = store::customers::contacts(&mut tx, &ctx.org_id, &r.id).await?;
        out.push(view(r, tax_ids, contacts));
    }
    Ok(Page::from_rows(out, limit))
}
