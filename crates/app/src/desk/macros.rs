//! Macros: canned replies per locale with placeholders, rendered with minijinja and the
//! email filters. Placeholders: `customer_name`, `invoice_number`, `amount_due` (formatted
//! money), `due_date` (formatted date), `ticket_number`. The invoice is the ticket's first
//! linked invoice, else the customer's newest open one; without one the invoice
//! placeholders are empty. A macro is looked up in the customer's locale, then in English.

use super::{audit, StaffCtx};
use crate::{AppError, Result};
use billing::ids::MacroId;
use desk::authority::Permission;
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::desk::{MacroRow, TicketRow};
use store::{new_id, Db, Tx};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MacroInput {
    pub name: String,
    /// en or ru
    pub locale: String,
    pub body: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Macro {
    pub id: String,
    pub object: &'static str,
    pub name: String,
    pub locale: String,
    pub body: String,
}

pub(crate) fn view(r: &MacroRow) -> Macro {
    Macro {
        id: r.id.clone(),
        object: "macro",
        name: r.name.clone(),
        locale: r.locale.clone(),
        body: r.body.clone(),
    }
}

/// Sample values a macro is checked against when saved.
fn sample() -> serde_json::Value {
    json!({"lang": "en", "customer_name": "Ada", "invoice_number": "INV-2026-000001",
           "amount_due": "USD 10.00", "due_date": "1 January 2026", "ticket_number": "T-1"})
}

/// Creates or replaces the macro `name` in `locale`. A body with an unknown placeholder or
/// bad syntax is refused.
pub async fn upsert(db: &Db, sctx: &StaffCtx, input: MacroInput) -> Result<Macro> {
    sctx.require(Permission::ManageSettings)?;
    let name = input.name.trim();
    if name.is_empty() {
        return Err(AppError::missing("name"));
    }
    if !["en", "ru"].contains(&input.locale.as_str()) {
        return Err(AppError::invalid("locale", "locale must be en or ru"));
    }
    crate::notify::render_str(&input.body, &sample())
        .map_err(|e| AppError::invalid("body", format!("the macro does not render: {e}")))?;
    let row = MacroRow {
        id: new_id!(MacroId).to_string(),
        org_id: sctx.org().to_string(),
        name: name.to_string(),
        locale: input.locale,
        body: input.body,
        created_at: sctx.ctx.now,
    };
    let mut tx = db.begin().await?;
    store::desk::upsert_macro(&mut tx, &row).await?;
    audit::record(
        &mut tx,
        sctx,
        "macro.saved",
        "macro",
        &row.name,
        &json!(null),
        &json!(view(&row)),
    )
    .await?;
    tx.commit().await?;
    Ok(view(&row))
}

pub async fn list(db: &Db, sctx: &StaffCtx) -> Result<Vec<Macro>> {
    let mut tx = db.read().await?;
    Ok(store::desk::macros(&mut tx, sctx.org())
        .await?
        .iter()
        .map(view)
        .collect())
}

/// Renders macro `name` for a ticket, in its customer's locale.
pub(crate) async fn render_for_ticket(
    tx: &mut Tx,
    sctx: &StaffCtx,
    t: &TicketRow,
    name: &str,
) -> Result<String> {
    let org = sctx.org();
    let customer = match &t.customer_id {
        Some(c) => store::customers::get(tx, org, c).await?,
        None => None,
    };
    let locale = customer
        .as_ref()
        .map(|c| crate::notify::language(&c.locale))
        .unwrap_or("en");
    let m = store::desk::macro_for(tx, org, name, locale)
        .await?
        .ok_or_else(|| AppError::invalid("macro", format!("no macro named {name:?}")))?;
    let mut invoice = None;
    for (kind, id) in store::desk::links(tx, org, &t.id).await? {
        if kind == "invoice" {
            invoice = store::invoices::get(tx, org, &id).await?;
            break;
        }
    }
    if invoice.is_none() {
        if let Some(c) = &t.customer_id {
            invoice = store::invoices::newest_open(tx, org, c).await?;
        }
    }
    let lang = crate::notify::language(&m.locale);
    let money = |amount: i64, cur: &str| {
        crate::notify::render_str(
            "{{ a | money(c) }}",
            &json!({"lang": lang, "a": amount, "c": cur}),
        )
    };
    let (number, amount, due) = match &invoice {
        Some(i) => (
            i.number.clone().unwrap_or_default(),
            money(i.amount_remaining, &i.currency).map_err(AppError::Internal)?,
            match i.due_date {
                Some(d) => crate::notify::render_str(
                    "{{ d | date }}",
                    &json!({"lang": lang, "d": d.to_string()}),
                )
                .map_err(AppError::Internal)?,
                None => String::new(),
            },
        ),
        None => (String::new(), String::new(), String::new()),
    };
    let context = json!({
        "lang": lang,
        "customer_name": customer.as_ref().map(|c| c.name.clone()).or(t.requester_name.clone()).unwrap_or_default(),
        "invoice_number": number,
        "amount_due": amount,
        "due_date": due,
        "ticket_number": desk::ticket::format_number(t.number),
    });
    crate::notify::render_str(&m.body, &context)
        .map_err(|e| AppError::invalid("macro", format!("macro {name:?} does not render: {e}")))
}
