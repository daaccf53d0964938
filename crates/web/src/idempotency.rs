//! `Idempotency-Key` for POSTs that move money.
//!
//! The key is claimed (in its own transaction) before the operation runs and the response
//! stored after it: a repeat with the same key and body within 24 h gets the first response
//! and moves nothing; the same key with another body gets 409 `idempotency_key_reused`; a
//! repeat while the first is still running gets 409 `idempotency_request_in_progress`.
//! Validation errors and not-found answers release the key, so a corrected retry can use it.

use crate::error::ApiError;
use crate::AppState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::future::Future;

pub async fn run<F, Fut>(
    state: &AppState,
    org: &str,
    headers: &HeaderMap,
    route: &str,
    body: axum::body::Bytes,
    op: F,
) -> Response
where
    F: FnOnce(axum::body::Bytes) -> Fut,
    Fut: Future<Output = Result<(StatusCode, serde_json::Value), ApiError>>,
{
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let Some(key) = key else {
        return finish(op(body).await);
    };
    if key.len() > 255 {
        return ApiError::invalid(
            "idempotency_key_invalid",
            "Idempotency-Key is at most 255 characters",
            Some("Idempotency-Key".into()),
        )
        .into_response();
    }
    let mut h = Sha256::new();
    h.update(route.as_bytes());
    h.update([0]);
    h.update(&body);
    let hash = hex::encode(h.finalize());
    let now = chrono::Utc::now();
    let claimed = async {
        let mut tx = state.db.begin().await?;
        let r = store::idempotency::claim(&mut tx, org, key, &hash, now).await?;
        tx.commit().await?;
        Ok::<_, store::StoreError>(r)
    }
    .await;
    match claimed {
        Err(e) => return ApiError::from(app::AppError::from(e)).into_response(),
        Ok(Some(prev)) => {
            if prev.request_hash != hash {
                return ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_error",
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with a different request",
                    Some("Idempotency-Key".into()),
                )
                .into_response();
            }
            return match (prev.status_code, prev.response_body) {
                (Some(code), Some(body)) => {
                    let status = StatusCode::from_u16(code as u16).unwrap_or(StatusCode::OK);
                    let mut resp = (
                        status,
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        body,
                    )
                        .into_response();
                    resp.headers_mut().insert(
                        "idempotent-replayed",
                        axum::http::HeaderValue::from_static("true"),
                    );
                    resp
                }
                _ => ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_error",
                    "idempotency_request_in_progress",
                    "a request with this Idempotency-Key is still in progress",
                    Some("Idempotency-Key".into()),
                )
                .into_response(),
            };
        }
        Ok(None) => {}
    }
    let result = op(body).await;
    let (status, body) = match &result {
        Ok((s, v)) => (*s, v.to_string()),
        Err(e) => (e.status, serde_json::to_string(&e.body).unwrap_or_default()),
    };
    let keep = status.is_success() || status == StatusCode::CONFLICT;
    let stored = async {
        let mut tx = state.db.begin().await?;
        if keep {
            store::idempotency::complete(&mut tx, org, key, status.as_u16() as i64, &body).await?;
        } else {
            store::idempotency::release(&mut tx, org, key).await?;
        }
        tx.commit().await
    }
    .await;
    if let Err(e) = stored {
        tracing::error!(error = %e, "could not store idempotent response");
    }
    finish(result)
}

fn finish(r: Result<(StatusCode, serde_json::Value), ApiError>) -> Response {
    match r {
        Ok((s, v)) => (s, axum::Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}
