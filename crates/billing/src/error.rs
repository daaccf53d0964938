//! The one error type of the billing rules; each variant names what is wrong.

/// A rule was asked to do something invalid. Messages name the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillingError {
    #[error("unknown currency code {0:?}: use an ISO 4217 code such as USD or EUR")]
    UnknownCurrency(String),
    #[error("currency mismatch: expected {expected}, got {got}")]
    CurrencyMismatch { expected: String, got: String },
    #[error("amount overflow")]
    Overflow,
    #[error("invalid tiers: {0}")]
    InvalidTiers(String),
    #[error("invalid quantity {0}: must be zero or more")]
    InvalidQuantity(String),
    #[error("invalid interval: {0}")]
    InvalidInterval(String),
    #[error("unknown time zone {0:?}: use an IANA name such as Europe/Berlin")]
    UnknownTimeZone(String),
    #[error("invalid percentage {0}: must be between 0 and 100")]
    InvalidPercentage(String),
    #[error("credit exceeds what was invoiced: {0}")]
    CreditExceedsInvoiced(String),
    #[error("invalid period: {0}")]
    InvalidPeriod(String),
    #[error("invalid payment terms: {0}")]
    InvalidTerms(String),
}
