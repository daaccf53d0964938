//! Desk billing actions, approvals, authority limits, identity verification, payment
//! details and calls: `/v1/tickets/{id}/actions`, `/v1/approvals`,
//! `/v1/settings/authority_limits`, `/v1/interactions/{id}/verifications`,
//! `/v1/verifications/{id}/confirm`, `/v1/customers/{id}/payment_details`, `/v1/calls`,
//! `/v1/telephony/events`.
//!
//! Taking and approving an action move money: both accept an `Idempotency-Key`. A locked
//! identity check (`identity_locked`) answers 429.

use crate::error::{ApiError, ErrorBody};
use crate::extract::{parse_json, Body, RawBody, Staff};
use crate::routes::{query, ApiResult};
use crate::{idempotency, AppState};
use app::desk::tickets::Interaction;
use app::desk::{actions, calls, identity};
use app::AppError;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::IntoParams;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/tickets/{id}/actions",
            get(list_actions).post(take_action),
        )
        .route("/v1/approvals", get(list_approvals))
        .route("/v1/approvals/{id}/approve", post(approve))
        .route("/v1/approvals/{id}/reject", post(reject))
        .route(
            "/v1/settings/authority_limits",
            get(get_limits).post(set_limits),
        )
        .route(
            "/v1/interactions/{id}/verifications",
            post(start_verification),
        )
        .route("/v1/verifications/{id}/confirm", post(confirm_verification))
        .route("/v1/customers/{id}/payment_details", get(payment_details))
        .route("/v1/calls", post(log_call))
        .route("/v1/calls/{id}/end", post(end_call))
        .route("/v1/telephony/events", post(telephony_event))
}

type Q<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

/// The app error as the API answers it; a locked identity check is 429.
fn api(e: AppError) -> ApiError {
    match e {
        AppError::State {
            code: "identity_locked",
            message,
        } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "identity_locked",
            message,
            None,
        ),
        e => ApiError::from(e),
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<(StatusCode, serde_json::Value), ApiError> {
    serde_json::to_value(v)
        .map(|j| (StatusCode::OK, j))
        .map_err(|e| ApiError::from(AppError::Internal(e.to_string())))
}

#[utoipa::path(post, path = "/v1/tickets/{id}/actions", request_body = actions::ActionInput, tag = "desk",
    responses((status = 200, body = actions::TicketAction), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn take_action(
    State(s): State<AppState>,
    Staff(who): Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let org = who.org().to_string();
    let route = format!("POST /v1/tickets/{id}/actions");
    let (db, gw) = (s.db.clone(), s.gateway.clone());
    idempotency::run(&s, &org, &headers, &route, body, |body| async move {
        let input: actions::ActionInput = parse_json(&body)?;
        to_value(
            &actions::take(&db, &gw, &who, &id, input)
                .await
                .map_err(api)?,
        )
    })
    .await
}

#[utoipa::path(get, path = "/v1/tickets/{id}/actions", tag = "desk",
    responses((status = 200, body = Vec<actions::TicketAction>), (status = 404, body = ErrorBody)))]
pub(crate) async fn list_actions(
    State(s): State<AppState>,
    Staff(who): Staff,
    Path(id): Path<String>,
) -> ApiResult<Vec<actions::TicketAction>> {
    Ok(Json(actions::list_for_ticket(&s.db, &who, &id).await?))
}

#[utoipa::path(get, path = "/v1/approvals", tag = "desk",
    responses((status = 200, body = Vec<actions::TicketAction>), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_approvals(
    State(s): State<AppState>,
    Staff(who): Staff,
) -> ApiResult<Vec<actions::TicketAction>> {
    Ok(Json(actions::pending_approvals(&s.db, &who).await?))
}

#[utoipa::path(post, path = "/v1/approvals/{id}/approve", request_body = actions::DecisionInput, tag = "desk",
    responses((status = 200, body = actions::TicketAction), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn approve(
    State(s): State<AppState>,
    Staff(who): Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let org = who.org().to_string();
    let route = format!("POST /v1/approvals/{id}/approve");
    let (db, gw) = (s.db.clone(), s.gateway.clone());
    idempotency::run(&s, &org, &headers, &route, body, |body| async move {
        let input: actions::DecisionInput = parse_json(&body)?;
        to_value(
            &actions::approve(&db, &gw, &who, &id, input)
                .await
                .map_err(api)?,
        )
    })
    .await
}

#[utoipa::path(post, path = "/v1/approvals/{id}/reject", request_body = actions::DecisionInput, tag = "desk",
    responses((status = 200, body = actions::TicketAction), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn reject(
    State(s): State<AppState>,
    Staff(who): Staff,
    Path(id): Path<String>,
    Body(b): Body<actions::DecisionInput>,
) -> ApiResult<actions::TicketAction> {
    Ok(Json(actions::reject(&s.db, &who, &id, b).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LimitsQuery {
    /// The currency of the effective limits shown (default USD).
    pub currency: Option<String>,
}

#[utoipa::path(get, path = "/v1/settings/authority_limits", params(LimitsQuery), tag = "desk",
    responses((status = 200, body = actions::AuthorityLimits), (status = 400, body = ErrorBody)))]
pub(crate) async fn get_limits(
    State(s): State<AppState>,
    Staff(who): Staff,
    q: Q<LimitsQuery>,
) -> ApiResult<actions::AuthorityLimits> {
    let q = query(q)?;
    Ok(Json(
        actions::get_limits(&s.db, &who, q.currency.as_deref()).await?,
    ))
}

#[utoipa::path(post, path = "/v1/settings/authority_limits", request_body = actions::SetLimits, tag = "desk",
    responses((status = 200, body = actions::AuthorityLimits), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn set_limits(
    State(s): State<AppState>,
    Staff(who): Staff,
    Body(b): Body<actions::SetLimits>,
) -> ApiResult<actions::AuthorityLimits> {
    Ok(Json(actions::set_limits(&s.db, &who, b).await?))
}

#[utoipa::path(post, path = "/v1/interactions/{id}/verifications", request_body = identity::StartVerification, tag = "desk",
    responses((status = 200, body = identity::Verification), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn start_verification(
    State(s): State<AppState>,
    Staff(who): Staff,
    Path(id): Path<String>,
    Body(b): Body<identity::StartVerification>,
) -> ApiResult<identity::Verification> {
    Ok(Json(
        identity::start(&s.db, &who, &id, b).await.map_err(api)?,
    ))
}

#[utoipa::path(post, path = "/v1/verifications/{id}/confirm", request_body = identity::ConfirmVerification, tag = "desk",
    responses((status = 200, body = identity::Verification), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn confirm_verification(
    State(s): State<AppState>,
    Staff(who): Staff,
    Path(id): Path<String>,
    Body(b): Body<identity::ConfirmVerification>,
) -> ApiResult<identity::Verification> {
    Ok(Json(
        identity::confirm(&s.db, &who, &id, b).await.map_err(api)?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PaymentDetailsQuery {
    /// The phone or chat interaction the details are read in (needs a live verification).
    pub interaction: Option<String>,
}

#[utoipa::path(get, path = "/v1/customers/{id}/payment_details", params(PaymentDetailsQuery), tag = "desk",
    responses((status = 200, body = identity::PaymentDetails), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn payment_details(
    State(s): State<AppState>,
    Staff(who): Staff,
    Path(id): Path<String>,
    q: Q<PaymentDetailsQuery>,
) -> ApiResult<identity::PaymentDetails> {
    let q = query(q)?;
    Ok(Json(
        identity::payment_details(&s.db, &who, &id, q.interaction.as_deref()).await?,
    ))
}

#[utoipa::path(post, path = "/v1/calls", request_body = calls::CallInput, tag = "desk",
    responses((status = 200, body = Interaction), (status = 400, body = ErrorBody)))]
pub(crate) async fn log_call(
    State(s): State<AppState>,
    Staff(who): Staff,
    Body(b): Body<calls::CallInput>,
) -> ApiResult<Interaction> {
    Ok(Json(calls::log_call(&s.db, &who, b).await?))
}

#[utoipa::path(post, path = "/v1/calls/{id}/end", request_body = calls::EndCall, tag = "desk",
    responses((status = 200, body = Interaction), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn end_call(
    State(s): State<AppState>,
    Staff(who): Staff,
    Path(id): Path<String>,
    Body(b): Body<calls::EndCall>,
) -> ApiResult<Interaction> {
    Ok(Json(calls::end_call(&s.db, &who, &id, b).await?))
}

#[utoipa::path(post, path = "/v1/telephony/events", request_body = calls::TelephonyEvent, tag = "desk",
    responses((status = 200, body = Interaction), (status = 400, body = ErrorBody)))]
pub(crate) async fn telephony_event(
    State(s): State<AppState>,
    Staff(who): Staff,
    Body(b): Body<calls::TelephonyEvent>,
) -> ApiResult<Interaction> {
    Ok(Json(calls::telephony_event(&s.db, &who, b).await?))
}
