//! Reports for finance: accounts-receivable aging.
//!
//! Aging puts what remains on each open invoice into a bucket by days past its due date
//! (`billing::collection::Bucket`), counted in the customer's local dates at `as_of`: per
//! customer and currency, with totals per currency (amounts in minor units, never summed
//! across currencies). Invoices finalized before due dates existed count as due on the
//! day they were finalized. An invoice on a payment plan ages by its unpaid instalments.

use crate::util::parse_id;
use crate::{AppError, Ctx, Result};
use billing::collection::{Aging, Bucket};
use billing::ids::CustomerId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use store::Db;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgingAmounts {
    pub current: i64,
    pub days_1_30: i64,
    pub days_31_60: i64,
    pub days_61_90: i64,
    pub over_90: i64,
    pub total: i64,
}

impl From<Aging> for AgingAmounts {
    fn from(a: Aging) -> Self {
        AgingAmounts {
            current: a.current,
            days_1_30: a.days_1_30,
            days_31_60: a.days_31_60,
            days_61_90: a.days_61_90,
            over_90: a.over_90,
            total: a.total,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgingRow {
    pub customer: String,
    pub customer_name: String,
    pub currency: String,
    #[serde(flatten)]
    pub amounts: AgingAmounts,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgingTotal {
    pub currency: String,
    #[serde(flatten)]
    pub amounts: AgingAmounts,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgingReport {
    pub object: &'static str,
    pub as_of: DateTime<Utc>,
    /// Per customer and currency, by customer id.
    pub rows: Vec<AgingRow>,
    /// Per currency.
    pub totals: Vec<AgingTotal>,
}

/// Accounts-receivable aging of the organisation, or of one customer.
pub async fn ar_aging(
    db: &Db,
    ctx: &Ctx,
    customer: Option<&str>,
    as_of: DateTime<Utc>,
) -> Result<AgingReport> {
    let mut tx = db.read().await?;
    if let Some(c) = customer {
        parse_id("customer", c, CustomerId::parse)?;
        store::customers::get(&mut tx, &ctx.org_id, c)
            .await?
            .ok_or_else(|| AppError::not_found("customer", c))?;
    }
    let rows = store::payments::open_amounts(&mut tx, &ctx.org_id, customer).await?;
    let mut plans: BTreeMap<String, Vec<(chrono::NaiveDate, i64)>> = BTreeMap::new();
    for i in store::payments::plans(&mut tx, &ctx.org_id, None).await? {
        plans
            .entry(i.invoice_id)
            .or_default()
            .push((i.due_date, i.amount));
    }
    let mut per: BTreeMap<(String, String), (String, Aging)> = BTreeMap::new();
    let mut totals: BTreeMap<String, Aging> = BTreeMap::new();
    for r in rows {
        let tz = billing::period::parse_tz(&r.time_zone)
            .map_err(|e| AppError::Internal(format!("customer {}: {e}", r.customer_id)))?;
        let today = as_of.with_timezone(&tz).date_naive();
        let due = match (r.due_date, r.finalized_at) {
            (Some(d), _) => d,
            (None, Some(f)) => f.with_timezone(&tz).date_naive(),
            (None, None) => today,
        };
        // An invoice on a payment plan ages by each unpaid instalment's own date.
        let parts = match plans.get(&r.invoice_id) {
            Some(plan) => billing::collection::unpaid_instalments(plan, r.amount_remaining),
            None => vec![(due, r.amount_remaining)],
        };
        for (due, amount) in parts {
            let bucket = Bucket::of(due, today);
            per.entry((r.customer_id.clone(), r.currency.clone()))
                .or_insert_with(|| (r.customer_name.clone(), Aging::default()))
                .1
                .add(bucket, amount);
            totals
                .entry(r.currency.clone())
                .or_default()
                .add(bucket, amount);
        }
    }
    Ok(AgingReport {
        object: "ar_aging",
        as_of,
        rows: per
            .into_iter()
            .map(|((customer, currency), (customer_name, a))| AgingRow {
                customer,
                customer_name,
                currency,
                amounts: a.into(),
            })
            .collect(),
        totals: totals
            .into_iter()
            .map(|(currency, a)| AgingTotal {
                currency,
                amounts: a.into(),
            })
            .collect(),
    })
}

/// The report as CSV (RFC 4180): one line per customer and currency, then one `TOTAL`
/// line per currency. Amounts in minor units.
pub fn aging_csv(r: &AgingReport) -> String {
    let mut out = String::from(
        "customer,customer_name,currency,current,days_1_30,days_31_60,days_61_90,over_90,total\r\n",
    );
    let mut line = |customer: &str, name: &str, currency: &str, a: &AgingAmounts| {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\r\n",
            csv_field(customer),
            csv_field(name),
            csv_field(currency),
            a.current,
            a.days_1_30,
            a.days_31_60,
            a.days_61_90,
            a.over_90,
            a.total
        ));
    };
    for row in &r.rows {
        line(
            &row.customer,
            &row.customer_name,
            &row.currency,
            &row.amounts,
        );
    }
    for t in &r.totals {
        line("TOTAL", "", &t.currency, &t.amounts);
    }
    out
}

/// Quotes a field when it holds a comma, quote or line break; a leading `=`, `+`, `-` or
/// `@` is prefixed with `'` so spreadsheets do not run it as a formula.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("Acme"), "Acme");
        assert_eq!(csv_field("Acme, Inc."), "\"Acme, Inc.\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_field("ООО «Ромашка»"), "ООО «Ромашка»");
    }
}
