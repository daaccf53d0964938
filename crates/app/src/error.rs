//! Errors of the use cases, each naming what is wrong and, for bad input, the parameter.

use billing::BillingError;
use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input: `param` names the offending field (dotted path for nested ones).
    #[error("{message}")]
    Invalid {
        param: String,
        message: String,
        code: &'static str,
    },
    #[error("no such {resource}: {id}")]
    NotFound { resource: &'static str, id: String },
    /// The request is valid but conflicts with the state (e.g. voiding a paid invoice).
    #[error("{message}")]
    State { code: &'static str, message: String },
    /// The payment gateway did not settle the request (timeout, unreachable): nothing is
    /// lost, and the same request may be retried later.
    #[error("{message}")]
    Gateway { code: &'static str, message: String },
    #[error("authentication failed: {0}")]
    Unauthenticated(String),
    /// Authenticated, but the role may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> AppError {
        AppError::Invalid {
            param: param.into(),
            message: message.into(),
            code: "parameter_invalid",
        }
    }
    pub fn missing(param: &str) -> AppError {
        AppError::Invalid {
            param: param.into(),
            message: format!("missing required parameter {param}"),
            code: "parameter_missing",
        }
    }
    pub fn not_found(resource: &'static str, id: impl Into<String>) -> AppError {
        AppError::NotFound {
            resource,
            id: id.into(),
        }
    }
    pub fn state(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::State {
            code,
            message: message.into(),
        }
    }
    /// A billing rule refused a value supplied as `param`.
    pub fn billing(param: impl Into<String>, e: BillingError) -> AppError {
        AppError::Invalid {
            param: param.into(),
            message: e.to_string(),
            code: "parameter_invalid",
        }
    }
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;
