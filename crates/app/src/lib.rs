//! Use cases of Ledgerdesk: one function per thing a user does, composing the pure billing
//! rules (`billing`) with persistence (`store`). Every operation runs in one transaction:
//! it either happens whole or not at all.
//!
//! Callers pass a [`Ctx`]: the organisation acting and the time the operation happens at.
//! Nothing here reads a clock on its own, so bill runs and tests can run at any instant.

pub mod account;
pub mod billrun;
pub mod catalog;
pub mod clocks;
pub mod collect;
pub mod collection;
pub mod customers;
pub mod demo;
pub mod desk;
pub mod documents;
pub mod error;
pub mod events;
pub mod invoicing;
pub mod jobs;
pub mod ledger;
pub mod notify;
pub mod orgs;
pub mod payments;
pub mod reports;
pub mod retention;
pub mod subscriptions;
mod util;
pub mod webhooks;

pub use error::{AppError, Result};
pub use store::Db;

use chrono::{DateTime, Utc};

/// Who acts and when.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub org_id: String,
    pub now: DateTime<Utc>,
}

impl Ctx {
    pub fn new(org_id: impl Into<String>, now: DateTime<Utc>) -> Ctx {
        Ctx {
            org_id: org_id.into(),
            now,
        }
    }
}

/// A page of a list, newest first; pass the last id as `starting_after` for the next page.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub object: &'static str,
    pub data: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows: the extra row only says there is more.
    pub fn from_rows(mut rows: Vec<T>, limit: i64) -> Page<T> {
        let has_more = rows.len() as i64 > limit;
        rows.truncate(limit.max(0) as usize);
        Page {
            object: "list",
            data: rows,
            has_more,
        }
    }
}

/// Checks a page size: 1..=100, default 10.
pub fn page_limit(limit: Option<i64>) -> Result<i64> {
    match limit {
        None => Ok(10),
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(n) => Err(AppError::invalid(
            "limit",
            format!("limit must be between 1 and 100, got {n}"),
        )),
    }
}
