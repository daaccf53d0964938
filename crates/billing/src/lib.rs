//! Pure billing rules of Ledgerdesk (see `../shared/design/BILLING.md`).
//!
//! Nothing here does IO or reads a clock: every function takes the time and the data it
//! needs as arguments, so every rule is testable with plain values. Amounts are integers in
//! the currency's minor unit; unit prices are exact decimals in minor units (Stripe's
//! `unit_amount_decimal`), rounded once per computed amount, half away from zero.

pub mod collection;
pub mod discount;
pub mod error;
pub mod ids;
pub mod invoice;
pub mod ledger;
pub mod money;
pub mod period;
pub mod pricing;
pub mod proration;
pub mod split;
pub mod tax;

pub use error::BillingError;
pub use money::{Currency, Money};
