//! Request extractors: the API key, JSON bodies with errors that name the field.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// The organisation the request's `Authorization: Bearer` key belongs to.
pub struct Org(pub String);

impl FromRequestParts<AppState> for Org {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(key) = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|k| !k.is_empty())
        else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "missing_api_key",
                "send your API key as Authorization: Bearer sk_…",
                None,
            ));
        };
        if key.starts_with("ses_") {
            // A staff session on the billing routes may read accounts; changing them goes
            // through the desk (`/v1/tickets/{id}/actions`: limits, approvals, audit), and
            // payment methods are read through `/v1/customers/{id}/payment_details`
            // (identity verification). Admins may use every route, as the API key can.
            let (org, _, role) =
                app::desk::staff::authenticate(&state.db, key, chrono::Utc::now()).await?;
            let read =
                parts.method == axum::http::Method::GET || parts.method == axum::http::Method::HEAD;
            let payment_methods = parts.uri.path().contains("/payment_methods");
            if role != desk::authority::Role::Admin && (!read || payment_methods) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "permission_error",
                    "permission_denied",
                    format!(
                        "the {} role reads billing records here; billing changes go through a ticket's actions and payment details through /v1/customers/{{id}}/payment_details",
                        role.as_str()
                    ),
                    None,
                ));
            }
            return Ok(Org(org));
        }
        if let Some(org) = state.key_cache.get(key) {
            return Ok(Org(org));
        }
        let org = app::orgs::authenticate(&state.db, key).await?;
        state.key_cache.put(key, &org);
        Ok(Org(org))
    }
}

/// Who acts on the desk: a staff session (`Bearer ses_…`) acts as that staff user with
/// their role; an API key acts as the organisation's integration (role admin).
pub struct Staff(pub app::desk::StaffCtx);

impl FromRequestParts<AppState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let now = chrono::Utc::now();
        let key = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if key.starts_with("ses_") {
            let (org, id, role) = app::desk::staff::authenticate(&state.db, key, now).await?;
            return Ok(Staff(app::desk::StaffCtx::staff(
                app::Ctx::new(org, now),
                id,
                role,
            )));
        }
        let Org(org) = Org::from_request_parts(parts, state).await?;
        Ok(Staff(app::desk::StaffCtx::api_key(app::Ctx::new(org, now))))
    }
}

/// A JSON body. Malformed JSON, wrong types, unknown or missing fields become a 400 that
/// names the field; an oversize body a 413.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(r) => Err(json_error(r)),
        }
    }
}

/// The raw body of a money-moving POST (the handler hashes the bytes for idempotency): a
/// non-empty body must be sent as JSON (415 otherwise) and an oversize one is a 413, as
/// with [`Body`].
pub struct RawBody(pub axum::body::Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .is_some_and(|m| {
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    json_error_too_large()
                } else {
                    ApiError::invalid("body_invalid", e.body_text(), None)
                }
            })?;
        if !is_json && !bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request_error",
                "content_type_invalid",
                "send the body as JSON with Content-Type: application/json",
                None,
            ));
        }
        Ok(RawBody(bytes))
    }
}

/// Parses a JSON body already read as bytes (money-moving handlers hash the bytes for
/// idempotency), with the same errors as [`Body`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.len() > crate::MAX_BODY {
        return Err(json_error_too_large());
    }
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        bytes
    };
    axum::Json::<T>::from_bytes(bytes)
        .map(|j| j.0)
        .map_err(json_error)
}

fn json_error_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request_error",
        "body_too_large",
        format!("request body too large (at most {} bytes)", crate::MAX_BODY),
        None,
    )
}

fn json_error(r: JsonRejection) -> ApiError {
    let text = r.body_text();
    match r {
        JsonRejection::JsonDataError(_) => {
            let detail = text
                .split_once("target type: ")
                .map(|x| x.1)
                .unwrap_or(&text)
                .to_string();
            let param = param_of(&detail);
            ApiError::invalid(
                "parameter_invalid",
                format!("invalid request body: {detail}"),
                param,
            )
        }
        JsonRejection::JsonSyntaxError(_) => ApiError::invalid(
            "json_invalid",
            format!("request body is not valid JSON: {text}"),
            None,
        ),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request_error",
            "content_type_invalid",
            "send the body as JSON with Content-Type: application/json",
            None,
        ),
        JsonRejection::BytesRejection(_) => json_error_too_large(),
        _ => ApiError::invalid("body_invalid", text, None),
    }
}

/// The field a serde error is about: the path before ": ", or the name in backticks of a
/// missing or unknown field.
fn param_of(detail: &str) -> Option<String> {
    let (head, rest) = detail.split_once(": ").unwrap_or(("", detail));
    let field_in_ticks = |s: &str| s.split('`').nth(1).map(str::to_string);
    let path = (!head.is_empty() && head != "." && !head.contains(' ')).then(|| head.to_string());
    if rest.starts_with("unknown field") {
        return path.or_else(|| field_in_ticks(rest));
    }
    if rest.starts_with("missing field") {
        let f = field_in_ticks(rest)?;
        return Some(match path {
            Some(p) => format!("{p}.{f}"),
            None => f,
        });
    }
    path.or_else(|| {
        if detail.starts_with("missing field") || detail.starts_with("unknown field") {
            field_in_ticks(detail)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::param_of;

    #[test]
    fn names_the_field() {
        assert_eq!(
            param_of(
                "items[0].quantity: invalid type: string \"x\", expected i64 at line 1 column 5"
            )
            .as_deref(),
            Some("items[0].quantity")
        );
        assert_eq!(
            param_of("missing field `name` at line 1 column 2").as_deref(),
            Some("name")
        );
        assert_eq!(
            param_of("address.zip: unknown field `zip`, expected one of …").as_deref(),
            Some("address.zip")
        );
        assert_eq!(
            param_of("items[0]: missing field `price` at line 1").as_deref(),
            Some("items[0].price")
        );
    }
}
