//! `/v1/jobs`: the background job queue, to see what is queued or failed and to retry a
//! failed job; `/v1/settings/dunning`: when failed automatic charges are retried.

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Org};
use crate::routes::{ctx, list_params, ApiResult, ListParams};
use crate::AppState;
use app::jobs;
use app::Page;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/jobs", get(list_jobs))
        .route("/v1/jobs/{id}", get(get_job))
        .route("/v1/jobs/{id}/retry", post(retry_job))
        .route("/v1/settings/dunning", get(get_dunning).post(set_dunning))
}

#[utoipa::path(get, path = "/v1/settings/dunning", tag = "jobs", responses((status = 200, body = jobs::DunningSettings)))]
pub(crate) async fn get_dunning(
    State(s): State<AppState>,
    org: Org,
) -> ApiResult<jobs::DunningSettings> {
    Ok(Json(jobs::get_dunning(&s.db, &ctx(&org)).await?))
}

#[utoipa::path(post, path = "/v1/settings/dunning", request_body = jobs::DunningUpdate, tag = "jobs",
    responses((status = 200, body = jobs::DunningSettings), (status = 400, body = ErrorBody)))]
pub(crate) async fn set_dunning(
    State(s): State<AppState>,
    org: Org,
    Body(b): Body<jobs::DunningUpdate>,
) -> ApiResult<jobs::DunningSettings> {
    Ok(Json(jobs::set_dunning(&s.db, &ctx(&org), &b).await?))
}

#[utoipa::path(get, path = "/v1/jobs", params(ListParams), tag = "jobs", responses((status = 200, body = Page<jobs::Job>), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_jobs(
    State(s): State<AppState>,
    org: Org,
    q: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Page<jobs::Job>> {
    let q = list_params(q)?;
    Ok(Json(
        jobs::list(
            &s.db,
            &ctx(&org),
            q.status.as_deref(),
            q.starting_after.as_deref(),
            q.limit,
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", responses((status = 200, body = jobs::Job), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_job(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<jobs::Job> {
    Ok(Json(jobs::get(&s.db, &ctx(&org), &id).await?))
}

#[utoipa::path(post, path = "/v1/jobs/{id}/retry", tag = "jobs", responses((status = 200, body = jobs::Job), (status = 409, body = ErrorBody)))]
pub(crate) async fn retry_job(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> Result<Json<jobs::Job>, ApiError> {
    Ok(Json(jobs::retry(&s.db, &ctx(&org), &id).await?))
}
