//! The API's error body: `{"error": {"type", "code", "message", "param"}}` with stable codes.

use app::AppError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// invalid_request_error, authentication_error, idempotency_error or api_error.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Stable machine-readable code, e.g. parameter_invalid, resource_missing.
    pub code: String,
    pub message: String,
    /// The offending parameter, when one is to blame.
    pub param: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// An error on its way to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        code: &str,
        message: impl Into<String>,
        param: Option<String>,
    ) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: ErrorDetail {
                    kind,
                    code: code.into(),
                    message: message.into(),
                    param,
                },
            },
        }
    }
    pub fn invalid(code: &str, message: impl Into<String>, param: Option<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            code,
            message,
            param,
        )
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        match e {
            AppError::Invalid {
                param,
                message,
                code,
            } => ApiError::invalid(code, message, Some(param)),
            AppError::NotFound { resource, id } => ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "resource_missing",
                format!("no such {resource}: {id}"),
                Some("id".into()),
            ),
            // The gateway did not settle the request: retryable, not the caller's fault.
            AppError::Gateway { code, message } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "api_error", code, message, None)
            }
            AppError::State { code, message } => ApiError::new(
                StatusCode::CONFLICT,
                "invalid_request_error",
                code,
                message,
                None,
            ),
            AppError::Unauthenticated(m) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "invalid_api_key",
                m,
                None,
            ),
            AppError::Forbidden(m) => ApiError::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                "permission_denied",
                m,
                None,
            ),
            AppError::Store(store::StoreError::Conflict(m)) => ApiError::new(
                StatusCode::CONFLICT,
                "invalid_request_error",
                "conflict",
                m,
                None,
            ),
            other => {
                tracing::error!(error = %other, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "api_error",
                    "internal_error",
                    "internal error; the request was not applied",
                    None,
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}
