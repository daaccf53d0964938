//! Events, notifications and webhooks: `/v1/events`, `/v1/customers/{id}/timeline`,
//! `/v1/notifications`, `/v1/webhook_endpoints`, `/v1/webhook_deliveries` and
//! `/v1/settings/reminders`.

use crate::error::ErrorBody;
use crate::extract::{Body, Org};
use crate::routes::{ctx, list_params, ApiResult, ListParams};
use crate::AppState;
use app::{collection, events, notify, webhooks, Page};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};

type Q = Result<Query<ListParams>, axum::extract::rejection::QueryRejection>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/events", get(list_events))
        .route("/v1/events/{id}", get(get_event))
        .route("/v1/customers/{id}/timeline", get(timeline))
        .route("/v1/notifications", get(list_notifications))
        .route("/v1/notifications/{id}", get(get_notification))
        .route(
            "/v1/webhook_endpoints",
            get(list_endpoints).post(create_endpoint),
        )
        .route(
            "/v1/webhook_endpoints/{id}",
            get(get_endpoint).post(update_endpoint),
        )
        .route("/v1/webhook_deliveries", get(list_deliveries))
        .route("/v1/webhook_deliveries/{id}", get(get_delivery))
        .route("/v1/webhook_deliveries/{id}/replay", post(replay_delivery))
        .route(
            "/v1/settings/reminders",
            get(get_reminders).post(set_reminders),
        )
}

#[utoipa::path(get, path = "/v1/events", params(ListParams), tag = "events",
    responses((status = 200, body = Page<events::Event>), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_events(
    State(s): State<AppState>,
    org: Org,
    q: Q,
) -> ApiResult<Page<events::Event>> {
    let q = list_params(q)?;
    Ok(Json(
        events::list(
            &s.db,
            &ctx(&org),
            q.kind.as_deref(),
            q.customer.as_deref(),
            q.starting_after.as_deref(),
            q.limit,
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/v1/events/{id}", tag = "events",
    responses((status = 200, body = events::Event), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_event(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<events::Event> {
    Ok(Json(events::get(&s.db, &ctx(&org), &id).await?))
}

#[utoipa::path(get, path = "/v1/customers/{id}/timeline", params(ListParams), tag = "events",
    responses((status = 200, body = Page<events::TimelineEntry>), (status = 404, body = ErrorBody)))]
pub(crate) async fn timeline(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
    q: Q,
) -> ApiResult<Page<events::TimelineEntry>> {
    let q = list_params(q)?;
    Ok(Json(
        events::timeline(&s.db, &ctx(&org), &id, q.starting_after.as_deref(), q.limit).await?,
    ))
}

#[utoipa::path(get, path = "/v1/notifications", params(ListParams), tag = "events",
    responses((status = 200, body = Page<notify::Notification>), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_notifications(
    State(s): State<AppState>,
    org: Org,
    q: Q,
) -> ApiResult<Page<notify::Notification>> {
    let q = list_params(q)?;
    Ok(Json(
        notify::list(
            &s.db,
            &ctx(&org),
            q.customer.as_deref(),
            q.starting_after.as_deref(),
            q.limit,
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/v1/notifications/{id}", tag = "events",
    responses((status = 200, body = notify::Notification), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_notification(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<notify::Notification> {
    Ok(Json(notify::get(&s.db, &ctx(&org), &id).await?))
}

#[utoipa::path(post, path = "/v1/webhook_endpoints", request_body = webhooks::EndpointCreate, tag = "webhooks",
    responses((status = 200, body = webhooks::WebhookEndpoint), (status = 400, body = ErrorBody)))]
pub(crate) async fn create_endpoint(
    State(s): State<AppState>,
    org: Org,
    Body(b): Body<webhooks::EndpointCreate>,
) -> ApiResult<webhooks::WebhookEndpoint> {
    Ok(Json(
        webhooks::create_endpoint(&s.db, &ctx(&org), &b).await?,
    ))
}

#[utoipa::path(get, path = "/v1/webhook_endpoints", params(ListParams), tag = "webhooks",
    responses((status = 200, body = Page<webhooks::WebhookEndpoint>)))]
pub(crate) async fn list_endpoints(
    State(s): State<AppState>,
    org: Org,
    q: Q,
) -> ApiResult<Page<webhooks::WebhookEndpoint>> {
    let q = list_params(q)?;
    Ok(Json(
        webhooks::list_endpoints(&s.db, &ctx(&org), q.starting_after.as_deref(), q.limit).await?,
    ))
}

#[utoipa::path(get, path = "/v1/webhook_endpoints/{id}", tag = "webhooks",
    responses((status = 200, body = webhooks::WebhookEndpoint), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_endpoint(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<webhooks::WebhookEndpoint> {
    Ok(Json(webhooks::get_endpoint(&s.db, &ctx(&org), &id).await?))
}

#[utoipa::path(post, path = "/v1/webhook_endpoints/{id}", request_body = webhooks::EndpointUpdate, tag = "webhooks",
    responses((status = 200, body = webhooks::WebhookEndpoint), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn update_endpoint(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
    Body(b): Body<webhooks::EndpointUpdate>,
) -> ApiResult<webhooks::WebhookEndpoint> {
    Ok(Json(
        webhooks::update_endpoint(&s.db, &ctx(&org), &id, &b).await?,
    ))
}

#[utoipa::path(get, path = "/v1/webhook_deliveries", params(ListParams), tag = "webhooks",
    responses((status = 200, body = Page<webhooks::WebhookDelivery>), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_deliveries(
    State(s): State<AppState>,
    org: Org,
    q: Q,
) -> ApiResult<Page<webhooks::WebhookDelivery>> {
    let q = list_params(q)?;
    Ok(Json(
        webhooks::list_deliveries(
            &s.db,
            &ctx(&org),
            q.endpoint.as_deref(),
            q.status.as_deref(),
            q.starting_after.as_deref(),
            q.limit,
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/v1/webhook_deliveries/{id}", tag = "webhooks",
    responses((status = 200, body = webhooks::WebhookDelivery), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_delivery(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<webhooks::WebhookDelivery> {
    Ok(Json(webhooks::get_delivery(&s.db, &ctx(&org), &id).await?))
}

#[utoipa::path(post, path = "/v1/webhook_deliveries/{id}/replay", tag = "webhooks",
    responses((status = 200, body = webhooks::WebhookDelivery), (status = 404, body = ErrorBody)))]
pub(crate) async fn replay_delivery(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<webhooks::WebhookDelivery> {
    Ok(Json(webhooks::replay(&s.db, &ctx(&org), &id).await?))
}

#[utoipa::path(get, path = "/v1/settings/reminders", tag = "events",
    responses((status = 200, body = collection::ReminderSettings)))]
pub(crate) async fn get_reminders(
    State(s): State<AppState>,
    org: Org,
) -> ApiResult<collection::ReminderSettings> {
    Ok(Json(collection::get_reminders(&s.db, &ctx(&org)).await?))
}

#[utoipa::path(post, path = "/v1/settings/reminders", request_body = collection::ReminderUpdate, tag = "events",
    responses((status = 200, body = collection::ReminderSettings), (status = 400, body = ErrorBody)))]
pub(crate) async fn set_reminders(
    State(s): State<AppState>,
    org: Org,
    Body(b): Body<collection::ReminderUpdate>,
) -> ApiResult<collection::ReminderSettings> {
    Ok(Json(
        collection::set_reminders(&s.db, &ctx(&org), &b).await?,
    ))
}

pub fn clock_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/test_clocks", get(list_clocks).post(create_clock))
        .route("/v1/test_clocks/{id}", get(get_clock))
        .route("/v1/test_clocks/{id}/advance", post(advance_clock))
}

#[utoipa::path(post, path = "/v1/test_clocks", request_body = app::clocks::TestClockCreate, tag = "test_clocks",
    responses((status = 200, body = app::clocks::TestClock), (status = 400, body = ErrorBody)))]
pub(crate) async fn create_clock(
    State(s): State<AppState>,
    org: Org,
    Body(b): Body<app::clocks::TestClockCreate>,
) -> ApiResult<app::clocks::TestClock> {
    Ok(Json(app::clocks::create(&s.db, &ctx(&org), &b).await?))
}

#[utoipa::path(get, path = "/v1/test_clocks", params(ListParams), tag = "test_clocks",
    responses((status = 200, body = Page<app::clocks::TestClock>)))]
pub(crate) async fn list_clocks(
    State(s): State<AppState>,
    org: Org,
    q: Q,
) -> ApiResult<Page<app::clocks::TestClock>> {
    let q = list_params(q)?;
    Ok(Json(
        app::clocks::list(&s.db, &ctx(&org), q.starting_after.as_deref(), q.limit).await?,
    ))
}

#[utoipa::path(get, path = "/v1/test_clocks/{id}", tag = "test_clocks",
    responses((status = 200, body = app::clocks::TestClock), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_clock(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<app::clocks::TestClock> {
    Ok(Json(app::clocks::get(&s.db, &ctx(&org), &id).await?))
}

/// The clock after the advance, and what it did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AdvancedClock {
    #[serde(flatten)]
    pub clock: app::clocks::TestClock,
    pub advance: app::clocks::AdvanceReport,
}

#[utoipa::path(post, path = "/v1/test_clocks/{id}/advance", request_body = app::clocks::TestClockAdvance, tag = "test_clocks",
    responses((status = 200, body = AdvancedClock), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn advance_clock(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
    Body(b): Body<app::clocks::TestClockAdvance>,
) -> ApiResult<AdvancedClock> {
    let (clock, advance) = app::clocks::advance(&s.db, &s.gateway, &ctx(&org), &id, &b).await?;
    Ok(Json(AdvancedClock { clock, advance }))
}
