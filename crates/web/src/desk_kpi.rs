//! `/v1/kpis`: the desk KPI report as JSON or CSV (staff with `view_kpis`), and
//! `/v1/csat/{token}`: the customer's answer to a CSAT survey (no authentication: the token
//! from the survey email is the credential).

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Staff};
use crate::routes::{query, ApiResult};
use crate::AppState;
use app::desk::kpi;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/kpis", get(kpis))
        .route("/v1/kpis.csv", get(kpis_csv))
        .route("/v1/csat/{token}", post(answer_csat))
}

#[utoipa::path(get, path = "/v1/kpis", params(kpi::KpiQuery), tag = "desk",
    responses((status = 200, body = kpi::KpiReport), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn kpis(
    State(s): State<AppState>,
    Staff(sctx): Staff,
    q: Result<Query<kpi::KpiQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<kpi::KpiReport> {
    let q = query(q)?;
    Ok(Json(kpi::report(&s.db, &sctx, q).await?))
}

#[utoipa::path(get, path = "/v1/kpis.csv", params(kpi::KpiQuery), tag = "desk",
    responses((status = 200, content_type = "text/csv", body = String, description = "metric,key,numerator,denominator,value"),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn kpis_csv(
    State(s): State<AppState>,
    Staff(sctx): Staff,
    q: Result<Query<kpi::KpiQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let report = kpi::report(&s.db, &sctx, q).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"kpis.csv\"",
            ),
        ],
        kpi::report_csv(&report),
    )
        .into_response())
}

#[utoipa::path(post, path = "/v1/csat/{token}", request_body = kpi::CsatAnswer, tag = "desk", security(()),
    responses((status = 200, body = kpi::CsatResponse), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn answer_csat(
    State(s): State<AppState>,
    Path(token): Path<String>,
    Body(b): Body<kpi::CsatAnswer>,
) -> ApiResult<kpi::CsatResponse> {
    Ok(Json(
        kpi::answer_survey(
            &s.db,
            &token,
            b.rating,
            b.comment.as_deref(),
            chrono::Utc::now(),
        )
        .await?,
    ))
}
