//! Pure service-desk rules (DESK.md): no IO, no clock — every instant comes in as a value.
//!
//! - [`ticket`]: statuses and what each event does to them, ticket numbers in subjects.
//! - [`calendar`]: business hours and holidays in a time zone; business time arithmetic.
//! - [`sla`]: SLA clocks counted in business time, pauses, warning and breach.
//! - [`authority`]: roles, permissions, per-action limits and approvals.
//! - [`identity`]: one-time codes, knowledge factors and lockout.
//! - [`audit`]: the audit log's hash chain.
//! - [`kpi`]: the exact KPI formulas of DESK.md.
//! - [`estimate`]: the honest first-response estimate sent in acknowledgements.
//!
//! Random values (one-time codes) and the current time are parameters, never read here.

#[macro_use]
mod macros;

pub mod audit;
pub mod authority;
pub mod calendar;
pub mod error;
pub mod estimate;
pub mod identity;
pub mod kpi;
pub mod sla;
pub mod ticket;

pub use error::DeskError;
