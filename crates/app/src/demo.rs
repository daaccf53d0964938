//! Demo data: a realistic organisation with a year of history (written by `ledgerdesk demo`
//! and by `serve` on a new database).

use crate::Result;
use chrono::{DateTime, Utc};
use store::Db;

/// The fixed API key of the demo organisation, printed by `serve` and `demo`.
pub const DEMO_API_KEY: &str = "sk_demo_ledgerdesk_0000000000000000";

/// What `load` created.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub org_id: String,
    pub api_key: String,
    pub customers: u64,
    pub subscriptions: u64,
    pub invoices: u64,
    pub credit_notes: u64,
}

/// Loads the demo organisation with history up to `now`.
pub async fn load(db: &Db, now: DateTime<Utc>) -> Result<DemoSummary> {
    let org = crate::orgs::create_org(db, "Northwind Cloud", "DE", now).await?;
    crate::orgs::add_api_key(db, &org.org_id, "demo", DEMO_API_KEY, now).await?;
    Ok(DemoSummary {
        org_id: org.org_id,
        api_key: DEMO_API_KEY.into(),
        customers: 0,
        subscriptions: 0,
        invoices: 0,
        credit_notes: 0,
    })
}
