//! `/v1` routes for payment methods, payments and refunds. Charging, recording and
//! refunding are money-moving POSTs (`Idempotency-Key`). A declined card answers 402
//! `card_error` (the failed payment is kept, `GET /v1/payments?invoice=…`); a gateway that
//! does not settle a payment answers 502 and leaves it `pending` for `…/retry`.

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Org, RawBody};
use crate::routes::{ctx, list_params, money_post, query, ApiResult, ListParams};
use crate::AppState;
use app::payments::{self, Charged};
use app::Page;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::ToSchema;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/payment_methods", post(attach_payment_method))
        .route(
            "/v1/customers/{id}/payment_methods",
            get(list_payment_methods),
        )
        .route(
            "/v1/payment_methods/{id}/default",
            post(default_payment_method),
        )
        .route(
            "/v1/payment_methods/{id}/detach",
            post(detach_payment_method),
        )
        .route("/v1/invoices/{id}/pay", post(pay_invoice))
        .route("/v1/payments", post(create_payment).get(list_payments))
        .route("/v1/payments/{id}", get(get_payment))
        .route("/v1/payments/{id}/retry", post(retry_payment))
        .route("/v1/refunds", post(create_refund).get(list_refunds))
        .route("/v1/refunds/{id}", get(get_refund))
        .route("/v1/refunds/{id}/retry", post(retry_refund))
        .route("/v1/reports/ar_aging", get(ar_aging))
        .route("/v1/invoices/{id}/extend_due_date", post(extend_due_date))
        .route(
            "/v1/invoices/{id}/payment_plan",
            post(create_payment_plan).get(get_payment_plan),
        )
}

#[utoipa::path(post, path = "/v1/invoices/{id}/extend_due_date", request_body = app::collection::DueDateExtension, tag = "payments",
    responses((status = 200, body = app::invoicing::Invoice), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn extend_due_date(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
    Body(b): Body<app::collection::DueDateExtension>,
) -> ApiResult<app::invoicing::Invoice> {
    Ok(Json(
        app::collection::extend_due_date(&s.db, &ctx(&org), &id, &b).await?,
    ))
}

#[utoipa::path(post, path = "/v1/invoices/{id}/payment_plan", request_body = app::collection::PaymentPlanCreate, tag = "payments",
    responses((status = 200, body = app::collection::PaymentPlan), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn create_payment_plan(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
    Body(b): Body<app::collection::PaymentPlanCreate>,
) -> ApiResult<app::collection::PaymentPlan> {
    Ok(Json(
        app::collection::create_plan(&s.db, &ctx(&org), &id, &b).await?,
    ))
}

#[utoipa::path(get, path = "/v1/invoices/{id}/payment_plan", tag = "payments",
    responses((status = 200, body = app::collection::PaymentPlan), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_payment_plan(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<app::collection::PaymentPlan> {
    Ok(Json(
        app::collection::get_plan(&s.db, &ctx(&org), &id).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AgingParams {
    /// One customer only.
    pub customer: Option<String>,
    /// The instant to age at (RFC 3339); default now.
    pub as_of: Option<chrono::DateTime<chrono::Utc>>,
    /// json (default) or csv.
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/v1/reports/ar_aging", params(AgingParams), tag = "payments",
    responses((status = 200, body = app::reports::AgingReport, description = "JSON, or text/csv with format=csv"),
              (status = 400, body = ErrorBody)))]
pub(crate) async fn ar_aging(
    State(s): State<AppState>,
    org: Org,
    q: Result<Query<AgingParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    use axum::response::IntoResponse;
    let q = query(q)?;
    let c = ctx(&org);
    let as_of = q.as_of.unwrap_or(c.now);
    let report = app::reports::ar_aging(&s.db, &c, q.customer.as_deref(), as_of).await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(report).into_response()),
        Some("csv") => Ok((
            [
                (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    "attachment; filename=\"ar_aging.csv\"",
                ),
            ],
            app::reports::aging_csv(&report),
        )
            .into_response()),
        Some(other) => Err(ApiError::invalid(
            "parameter_invalid",
            format!("format must be json or csv, got {other:?}"),
            Some("format".into()),
        )),
    }
}

/// A declined charge is a 402 card error naming the payment that records it.
fn charged(c: Charged) -> Result<payments::Payment, ApiError> {
    match c.declined {
        None => Ok(c.payment),
        Some((code, message)) => Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "card_error",
            &code,
            format!("{message} (payment {})", c.payment.id),
            None,
        )),
    }
}

/// An empty body: the POSTs that take none.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[utoipa::path(post, path = "/v1/payment_methods", request_body = payments::PaymentMethodCreate, tag = "payments",
    responses((status = 200, body = payments::PaymentMethod), (status = 400, body = ErrorBody)))]
pub(crate) async fn attach_payment_method(
    State(s): State<AppState>,
    org: Org,
    Body(b): Body<payments::PaymentMethodCreate>,
) -> ApiResult<payments::PaymentMethod> {
    Ok(Json(
        payments::attach_method(&s.db, &s.gateway, &ctx(&org), &b).await?,
    ))
}

#[utoipa::path(get, path = "/v1/customers/{id}/payment_methods", tag = "payments",
    responses((status = 200, body = Page<payments::PaymentMethod>), (status = 404, body = ErrorBody)))]
pub(crate) async fn list_payment_methods(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<Page<payments::PaymentMethod>> {
    Ok(Json(payments::list_methods(&s.db, &ctx(&org), &id).await?))
}

#[utoipa::path(post, path = "/v1/payment_methods/{id}/default", tag = "payments",
    responses((status = 200, body = payments::PaymentMethod), (status = 404, body = ErrorBody)))]
pub(crate) async fn default_payment_method(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<payments::PaymentMethod> {
    Ok(Json(payments::make_default(&s.db, &ctx(&org), &id).await?))
}

#[utoipa::path(post, path = "/v1/payment_methods/{id}/detach", tag = "payments",
    responses((status = 200, body = payments::PaymentMethod), (status = 404, body = ErrorBody)))]
pub(crate) async fn detach_payment_method(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<payments::PaymentMethod> {
    Ok(Json(payments::detach_method(&s.db, &ctx(&org), &id).await?))
}

#[utoipa::path(post, path = "/v1/invoices/{id}/pay", request_body = payments::InvoicePay, tag = "payments",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry")),
    responses((status = 200, body = payments::Payment), (status = 402, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub(crate) async fn pay_invoice(
    State(s): State<AppState>,
    org: Org,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Response {
    let gw = s.gateway.clone();
    money_post(
        &s,
        &org,
        &headers,
        format!("POST /v1/invoices/{id}/pay"),
        body,
        |db, ctx, b: payments::InvoicePay| async move {
            charged(payments::pay_invoice(&db, &gw, &ctx, &id, &b).await?)
        },
    )
    .await
}

#[utoipa::path(post, path = "/v1/payments", request_body = payments::PaymentCreate, tag = "payments",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry")),
    responses((status = 200, body = payments::Payment), (status = 400, body = ErrorBody)))]
pub(crate) async fn create_payment(
    State(s): State<AppState>,
    org: Org,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    money_post(&s, &org, &headers, "POST /v1/payments".into(), body, |db, ctx, b: payments::PaymentCreate| async move {
        Ok(payments::record(&db, &ctx, &b).await?)
    })
    .await
}

#[utoipa::path(post, path = "/v1/payments/{id}/retry", tag = "payments",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry")),
    responses((status = 200, body = payments::Payment), (status = 402, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub(crate) async fn retry_payment(
    State(s): State<AppState>,
    org: Org,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Response {
    let gw = s.gateway.clone();
    money_post(&s, &org, &headers, format!("POST /v1/payments/{id}/retry"), body, |db, ctx, _: Empty| async move {
        charged(payments::retry_payment(&db, &gw, &ctx, &id).await?)
    })
    .await
}

#[utoipa::path(get, path = "/v1/payments/{id}", tag = "payments",
    responses((status = 200, body = payments::Payment), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_payment(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<payments::Payment> {
    Ok(Json(payments::get_payment(&s.db, &ctx(&org), &id).await?))
}

#[utoipa::path(get, path = "/v1/payments", params(ListParams), tag = "payments", responses((status = 200, body = Page<payments::Payment>)))]
pub(crate) async fn list_payments(
    State(s): State<AppState>,
    org: Org,
    q: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Page<payments::Payment>> {
    let q = list_params(q)?;
    Ok(Json(
        payments::list_payments(
            &s.db,
            &ctx(&org),
            q.customer.as_deref(),
            q.invoice.as_deref(),
            q.starting_after.as_deref(),
            q.limit,
        )
        .await?,
    ))
}

#[utoipa::path(post, path = "/v1/refunds", request_body = payments::RefundCreate, tag = "payments",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry")),
    responses((status = 200, body = payments::Refund), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn create_refund(
    State(s): State<AppState>,
    org: Org,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let gw = s.gateway.clone();
    money_post(
        &s,
        &org,
        &headers,
        "POST /v1/refunds".into(),
        body,
        |db, ctx, b: payments::RefundCreate| async move {
            Ok(payments::refund(&db, &gw, &ctx, &b).await?)
        },
    )
    .await
}

#[utoipa::path(post, path = "/v1/refunds/{id}/retry", tag = "payments",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry")),
    responses((status = 200, body = payments::Refund), (status = 404, body = ErrorBody)))]
pub(crate) async fn retry_refund(
    State(s): State<AppState>,
    org: Org,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Response {
    let gw = s.gateway.clone();
    money_post(
        &s,
        &org,
        &headers,
        format!("POST /v1/refunds/{id}/retry"),
        body,
        |db, ctx, _: Empty| async move { Ok(payments::retry_refund(&db, &gw, &ctx, &id).await?) },
    )
    .await
}

#[utoipa::path(get, path = "/v1/refunds/{id}", tag = "payments",
    responses((status = 200, body = payments::Refund), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_refund(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<payments::Refund> {
    Ok(Json(payments::get_refund(&s.db, &ctx(&org), &id).await?))
}

#[utoipa::path(get, path = "/v1/refunds", params(RefundListParams), tag = "payments", responses((status = 200, body = Page<payments::Refund>)))]
pub(crate) async fn list_refunds(
    State(s): State<AppState>,
    org: Org,
    q: Result<Query<RefundListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Page<payments::Refund>> {
    let q = query(q)?;
    Ok(Json(
        payments::list_refunds(
            &s.db,
            &ctx(&org),
            q.payment.as_deref(),
            q.starting_after.as_deref(),
            q.limit,
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RefundListParams {
    /// 1 to 100, default 10.
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    /// Filter by payment id.
    pub payment: Option<String>,
}
