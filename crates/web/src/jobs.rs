//! `/v1/jobs`: the background job queue, to see what is queued or failed and to retry a
//! failed job.

use crate::error::{ApiError, ErrorBody};
use crate::extract::Org;
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
