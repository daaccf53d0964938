//! Routes and handlers of the `/v1` API. Each handler parses, calls one use case and
//! serializes; POSTs that move money go through [`crate::idempotency`].

use crate::error::{ApiError, ErrorBody};
use crate::extract::{parse_json, Body, Org, RawBody, Staff};
use crate::{idempotency, AppState};
use app::{billrun, catalog, customers, invoicing, ledger, retention, subscriptions, Ctx, Page};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub(crate) type ApiResult<T> = Result<Json<T>, ApiError>;

pub(crate) fn ctx(org: &Org) -> Ctx {
    Ctx::new(org.0.clone(), Utc::now())
}

/// Cursor pagination and filters common to list endpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// 1 to 100, default 10.
    pub limit: Option<i64>,
    /// The id of the last object of the previous page.
    pub starting_after: Option<String>,
    /// Filter by customer id.
    pub customer: Option<String>,
    /// Filter by status.
    pub status: Option<String>,
    /// Filter by subscription id.
    pub subscription: Option<String>,
    /// Filter by invoice id.
    pub invoice: Option<String>,
    /// Filter by product id.
    pub product: Option<String>,
    /// Search text (customers: email, external id or part of the name).
    pub q: Option<String>,
    /// Filter by event type (events).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// Filter by webhook endpoint id (webhook deliveries).
    pub endpoint: Option<String>,
}

pub(crate) fn list_params(
    q: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<ListParams, ApiError> {
    query(q)
}

/// A parsed query string, or a 400 that says what is wrong with it.
pub(crate) fn query<T>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    q.map(|q| q.0).map_err(|e| {
        ApiError::invalid(
            "parameter_invalid",
            format!("invalid query: {}", e.body_text()),
            None,
        )
    })
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { Json(serde_json::json!({"name": "Ledgerdesk", "api": "/v1", "openapi": "/openapi.json", "health": "/health"})) }))
        .route("/health", get(|| async { "ok" }))
        .route(
            "/openapi.json",
            get(|| async { Json(crate::openapi::document()) }),
        )
        .route("/v1/customers", post(create_customer).get(list_customers))
        .route(
            "/v1/customers/{id}",
            get(get_customer).post(update_customer),
        )
        .route("/v1/customers/{id}/contacts", post(add_contact))
        .route("/v1/customers/{id}/discounts", post(create_discount))
        .route("/v1/customers/{id}/balance", get(customer_balance))
        .route("/v1/products", post(create_product).get(list_products))
        .route("/v1/products/{id}", get(get_product).post(update_product))
        .route("/v1/prices", post(create_price).get(list_prices))
        .route(
            "/v1/prices/{id}",
            get(get_price).post(update_price).delete(delete_price),
        )
        .route("/v1/tax_rates", post(create_tax_rate).get(list_tax_rates))
        .route("/v1/coupons", post(create_coupon).get(list_coupons))
        .route("/v1/coupons/{id}", get(get_coupon))
        .route(
            "/v1/subscriptions",
            post(create_subscription).get(list_subscriptions),
        )
        .route(
            "/v1/subscriptions/{id}",
            get(get_subscription).post(change_subscription),
        )
        .route(
            "/v1/subscriptions/{id}/preview",
            post(preview_subscription_change),
        )
        .route("/v1/subscriptions/{id}/cancel", post(cancel_subscription))
        .route("/v1/subscriptions/{id}/resume", post(resume_subscription))
        .route(
            "/v1/settings/retention_offer",
            get(get_retention_offer)
                .post(set_retention_offer)
                .delete(remove_retention_offer),
        )
        .route("/v1/invoices", post(create_invoice).get(list_invoices))
        .route("/v1/invoices/{id}", get(get_invoice).delete(delete_invoice))
        .route("/v1/invoices/{id}/lines", post(add_invoice_lines))
        .route("/v1/invoices/{id}/pdf", get(invoice_pdf))
        .route("/v1/invoices/{id}/finalize", post(finalize_invoice))
        .route("/v1/invoices/{id}/void", post(void_invoice))
        .route(
            "/v1/invoices/{id}/mark_uncollectible",
            post(mark_uncollectible),
        )
        .route(
            "/v1/credit_notes",
            post(create_credit_note).get(list_credit_notes),
        )
        .route("/v1/credit_notes/{id}", get(get_credit_note))
        .route("/v1/credit_notes/{id}/pdf", get(credit_note_pdf))
        .route("/v1/ledger_entries", get(list_ledger_entries))
        .route("/v1/bill_runs", post(create_bill_run))
        .merge(crate::payments::routes())
        .merge(crate::jobs::routes())
        .merge(crate::events::routes())
        .merge(crate::desk::routes())
        .merge(crate::desk_actions::routes())
        .merge(crate::desk_kpi::routes())
        .merge(crate::chat::routes())
        .merge(crate::events::clock_routes())
        .merge(crate::ui::routes(state.pages.clone()))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "route_missing",
                "no such route",
                None,
            )
        })
        .layer(DefaultBodyLimit::max(crate::MAX_BODY))
        .with_state(state)
}

/// A POST that moves money: runs once per `Idempotency-Key` (see [`idempotency`]), parses
/// the JSON body as `T` and answers 200 with what `op` returns.
pub(crate) async fn money_post<T, R, F, Fut>(
    s: &AppState,
    org: &Org,
    headers: &HeaderMap,
    route: String,
    body: axum::body::Bytes,
    op: F,
) -> Response
where
    T: serde::de::DeserializeOwned,
    R: Serialize,
    F: FnOnce(store::Db, Ctx, T) -> Fut,
    Fut: std::future::Future<Output = Result<R, ApiError>>,
{
    let (db, ctx) = (s.db.clone(), ctx(org));
    let audit_route = route.clone();
    idempotency::run(s, &org.0, headers, &route, body, |body| async move {
        let input: T = parse_json(&body)?;
        let out = to_value(StatusCode::OK, &op(db.clone(), ctx.clone(), input).await?)?;
        // Every money movement is in the audit log (DESK.md).
        app::desk::audit::record_api(&db, &ctx, &audit_route, &out.1).await?;
        Ok(out)
    })
    .await
}

fn to_value<T: Serialize>(
    status: StatusCode,
    v: &T,
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    serde_json::to_value(v)
        .map(|j| (status, j))
        .map_err(|e| ApiError::from(app::AppError::Internal(e.to_string())))
}

// --- customers -----------------------------------------------------------------------

#[utoipa::path(post, path = "/v1/customers", request_body = customers::CustomerCreate, tag = "customers",
    responses((status = 200, body = customers::Customer), (status = 400, body = ErrorBody)))]
async fn create_customer(
    State(s): State<AppState>,
    org: Org,
    Body(b): Body<customers::CustomerCreate>,
) -> ApiResult<customers::Customer> {
    Ok(Json(customers::create(&s.db, &ctx(&org), &b).await?))
}

#[utoipa::path(get, path = "/v1/customers", params(ListParams), tag = "customers", responses((status = 200, body = Page<customers::Customer>)))]
async fn list_customers(
    State(s): State<AppState>,
    org: Org,
    q: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Page<customers::Customer>> {
    let q = list_params(q)?;
    Ok(Json(
        customers::list(
            &s.db,
            &ctx(&org),
            q.q.as_deref(),
            q.starting_after.as_deref(),
            q.limit,
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers", responses((status = 200, body = customers::Customer), (status = 404, body = ErrorBody)))]
async fn get_customer(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<customers::Customer> {
    Ok(Json(customers::get(&s.db, &ctx(&org), &id).await?))
}

#[utoipa::path(post, path = "/v1/customers/{id}", request_body = customers::CustomerUpdate, tag = "customers", responses((status = 200, body = customers::Customer)))]
async fn update_customer(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
    Body(b): Body<customers::CustomerUpdate>,
) -> ApiResult<customers::Customer> {
    Ok(Json(customers::update(&s.db, &ctx(&org), &id, &b).await?))
}

#[utoipa::path(post, path = "/v1/customers/{id}/contacts", request_body = customers::ContactInput, tag = "customers", responses((status = 200, body = customers::Customer)))]
async fn add_contact(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
    Body(b): Body<customers::ContactInput>,
) -> ApiResult<customers::Customer> {
    Ok(Json(
        customers::add_contact(&s.db, &ctx(&org), &id, &b).await?,
    ))
}

#[utoipa::path(post, path = "/v1/customers/{id}/discounts", request_body = subscriptions::DiscountCreate, tag = "customers", responses((status = 200, body = subscriptions::DiscountView)))]
async fn create_discount(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
    Body(b): Body<subscriptions::DiscountCreate>,
) -> ApiResult<subscriptions::DiscountView> {
    Ok(Json(
        subscriptions::create_discount(&s.db, &ctx(&org), &id, &b).await?,
    ))
}

#[utoipa::path(get, path = "/v1/customers/{id}/balance", tag = "ledger", responses((status = 200, body = ledger::CustomerBalance)))]
async fn customer_balance(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<ledger::CustomerBalance> {
    Ok(Json(
        ledger::customer_balance(&s.db, &ctx(&org), &id).await?,
    ))
}

// --- catalog -------------------------------------------------------------------------

#[utoipa::path(post, path = "/v1/products", request_body = catalog::ProductCreate, tag = "catalog", responses((status = 200, body = catalog::Product)))]
async fn create_product(
    State(s): State<AppState>,
    org: Org,
    Body(b): Body<catalog::ProductCreate>,
) -> ApiResult<catalog::Product> {
    Ok(Json(catalog::create_product(&s.db, &ctx(&org), &b).await?))
}

#[utoipa::path(get, path = "/v1/products", params(ListParams), tag = "catalog", responses((status = 200, body = Page<catalog::Product>)))]
async fn list_products(
    State(s): State<AppState>,
    org: Org,
    q: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Page<catalog::Product>> {
    let q = list_params(q)?;
    Ok(Json(
        catalog::list_products(&s.db, &ctx(&org), q.starting_after.as_deref(), q.limit).await?,
    ))
}

#[utoipa::path(get, path = "/v1/products/{id}", tag = "catalog", responses((status = 200, body = catalog::Product)))]
async fn get_product(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<catalog::Product> {
    Ok(Json(catalog::get_product(&s.db, &ctx(&org), &id).await?))
}

#[utoipa::path(post, path = "/v1/products/{id}", request_body = catalog::ProductUpdate, tag = "catalog", responses((status = 200, body = catalog::Product)))]
async fn update_product(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
    Body(b): Body<catalog::ProductUpdate>,
) -> ApiResult<catalog::Product> {
    Ok(Json(
        catalog::update_product(&s.db, &ctx(&org), &id, &b).await?,
    ))
}

#[utoipa::path(post, path = "/v1/prices", request_body = catalog::PriceCreate, tag = "catalog", responses((status = 200, body = catalog::Price)))]
async fn create_price(
    State(s): State<AppState>,
    org: Org,
    Body(b): Body<catalog::PriceCreate>,
) -> ApiResult<catalog::Price> {
    Ok(Json(catalog::create_price(&s.db, &ctx(&org), &b).await?))
}

#[utoipa::path(get, path = "/v1/prices", params(ListParams), tag = "catalog", responses((status = 200, body = Page<catalog::Price>)))]
async fn list_prices(
    State(s): State<AppState>,
    org: Org,
    q: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Page<catalog::Price>> {
    let q = list_params(q)?;
    Ok(Json(
        catalog::list_prices(
            &s.db,
            &ctx(&org),
            q.product.as_deref(),
            q.starting_after.as_deref(),
            q.limit,
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/v1/prices/{id}", tag = "catalog", responses((status = 200, body = catalog::Price)))]
async fn get_price(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<catalog::Price> {
    Ok(Json(catalog::get_price(&s.db, &ctx(&org), &id).await?))
}

#[utoipa::path(post, path = "/v1/prices/{id}", request_body = catalog::PriceUpdate, tag = "catalog", responses((status = 200, body = catalog::Price)))]
async fn update_price(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
    Body(b): Body<catalog::PriceUpdate>,
) -> ApiResult<catalog::Price> {
    Ok(Json(
        catalog::update_price(&s.db, &ctx(&org), &id, &b).await?,
    ))
}

/// Deleted marker returned by DELETE endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub id: String,
    pub deleted: bool,
}

#[utoipa::path(delete, path = "/v1/prices/{id}", tag = "catalog", responses((status = 200, body = Deleted), (status = 409, body = ErrorBody)))]
async fn delete_price(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<Deleted> {
    catalog::delete_price(&s.db, &ctx(&org), &id).await?;
    Ok(Json(Deleted { id, deleted: true }))
}

#[utoipa::path(post, path = "/v1/tax_rates", request_body = catalog::TaxRateCreate, tag = "catalog", responses((status = 200, body = catalog::TaxRateView)))]
async fn create_tax_rate(
    State(s): State<AppState>,
    org: Org,
    Body(b): Body<catalog::TaxRateCreate>,
) -> ApiResult<catalog::TaxRateView> {
    Ok(Json(catalog::create_tax_rate(&s.db, &ctx(&org), &b).await?))
}

#[utoipa::path(get, path = "/v1/tax_rates", tag = "catalog", responses((status = 200, body = Page<catalog::TaxRateView>)))]
async fn list_tax_rates(
    State(s): State<AppState>,
    org: Org,
) -> ApiResult<Page<catalog::TaxRateView>> {
    Ok(Json(catalog::list_tax_rates(&s.db, &ctx(&org)).await?))
}

#[utoipa::path(post, path = "/v1/coupons", request_body = catalog::CouponCreate, tag = "catalog", responses((status = 200, body = catalog::Coupon)))]
async fn create_coupon(
    State(s): State<AppState>,
    org: Org,
    Body(b): Body<catalog::CouponCreate>,
) -> ApiResult<catalog::Coupon> {
    Ok(Json(catalog::create_coupon(&s.db, &ctx(&org), &b).await?))
}

#[utoipa::path(get, path = "/v1/coupons", params(ListParams), tag = "catalog", responses((status = 200, body = Page<catalog::Coupon>)))]
async fn list_coupons(
    State(s): State<AppState>,
    org: Org,
    q: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Page<catalog::Coupon>> {
    let q = list_params(q)?;
    Ok(Json(
        catalog::list_coupons(&s.db, &ctx(&org), q.starting_after.as_deref(), q.limit).await?,
    ))
}

#[utoipa::path(get, path = "/v1/coupons/{id}", tag = "catalog", responses((status = 200, body = catalog::Coupon)))]
async fn get_coupon(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<catalog::Coupon> {
    Ok(Json(catalog::get_coupon(&s.db, &ctx(&org), &id).await?))
}

// --- subscriptions -------------------------------------------------------------------

/// A subscription with the invoice its operation produced, if any.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionResult {
    #[serde(flatten)]
    pub subscription: subscriptions::Subscription,
    pub latest_invoice: Option<invoicing::Invoice>,
}

#[utoipa::path(post, path = "/v1/subscriptions", request_body = subscriptions::SubscriptionCreate, tag = "subscriptions",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry")),
    responses((status = 200, body = SubscriptionResult), (status = 400, body = ErrorBody)))]
async fn create_subscription(
    State(s): State<AppState>,
    org: Org,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    money_post(
        &s,
        &org,
        &headers,
        "POST /v1/subscriptions".into(),
        body,
        |db, ctx, b: subscriptions::SubscriptionCreate| async move {
            let (subscription, latest_invoice) = subscriptions::create(&db, &ctx, &b).await?;
            Ok(SubscriptionResult {
                subscription,
                latest_invoice,
            })
        },
    )
    .await
}

#[utoipa::path(get, path = "/v1/subscriptions", params(ListParams), tag = "subscriptions", responses((status = 200, body = Page<subscriptions::Subscription>)))]
async fn list_subscriptions(
    State(s): State<AppState>,
    org: Org,
    q: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Page<subscriptions::Subscription>> {
    let q = list_params(q)?;
    Ok(Json(
        subscriptions::list(
            &s.db,
            &ctx(&org),
            q.customer.as_deref(),
            q.status.as_deref(),
            q.starting_after.as_deref(),
            q.limit,
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/v1/subscriptions/{id}", tag = "subscriptions", responses((status = 200, body = subscriptions::Subscription)))]
async fn get_subscription(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<subscriptions::Subscription> {
    Ok(Json(subscriptions::get(&s.db, &ctx(&org), &id).await?))
}

#[utoipa::path(post, path = "/v1/subscriptions/{id}", request_body = subscriptions::SubscriptionChange, tag = "subscriptions",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry")),
    responses((status = 200, body = SubscriptionResult)))]
async fn change_subscription(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let route = format!("POST /v1/subscriptions/{id}");
    money_post(
        &s,
        &org,
        &headers,
        route,
        body,
        |db, ctx, b: subscriptions::SubscriptionChange| async move {
            let (subscription, latest_invoice) = subscriptions::change(&db, &ctx, &id, &b).await?;
            Ok(SubscriptionResult {
                subscription,
                latest_invoice,
            })
        },
    )
    .await
}

#[utoipa::path(post, path = "/v1/subscriptions/{id}/preview", request_body = subscriptions::SubscriptionChange, tag = "subscriptions",
    responses((status = 200, body = subscriptions::ChangePreview)))]
async fn preview_subscription_change(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
    Body(b): Body<subscriptions::SubscriptionChange>,
) -> ApiResult<subscriptions::ChangePreview> {
    Ok(Json(
        subscriptions::preview_change(&s.db, &ctx(&org), &id, &b).await?,
    ))
}

#[utoipa::path(post, path = "/v1/subscriptions/{id}/cancel", request_body = subscriptions::SubscriptionCancel, tag = "subscriptions",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry")),
    responses((status = 200, body = SubscriptionResult)))]
async fn cancel_subscription(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let route = format!("POST /v1/subscriptions/{id}/cancel");
    money_post(
        &s,
        &org,
        &headers,
        route,
        body,
        |db, ctx, b: subscriptions::SubscriptionCancel| async move {
            let (subscription, latest_invoice) = subscriptions::cancel(&db, &ctx, &id, &b).await?;
            Ok(SubscriptionResult {
                subscription,
                latest_invoice,
            })
        },
    )
    .await
}

#[utoipa::path(post, path = "/v1/subscriptions/{id}/resume", tag = "subscriptions",
    responses((status = 200, body = subscriptions::Subscription), (status = 409, body = ErrorBody)))]
pub(crate) async fn resume_subscription(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<subscriptions::Subscription> {
    Ok(Json(subscriptions::resume(&s.db, &ctx(&org), &id).await?))
}

#[utoipa::path(get, path = "/v1/settings/retention_offer", tag = "subscriptions",
    responses((status = 200, body = retention::RetentionOffer)))]
pub(crate) async fn get_retention_offer(
    State(s): State<AppState>,
    org: Org,
) -> ApiResult<retention::RetentionOffer> {
    Ok(Json(retention::get(&s.db, &ctx(&org)).await?))
}

#[utoipa::path(post, path = "/v1/settings/retention_offer", request_body = retention::RetentionOfferSet, tag = "subscriptions",
    responses((status = 200, body = retention::RetentionOffer), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn set_retention_offer(
    State(s): State<AppState>,
    Staff(who): Staff,
    Body(b): Body<retention::RetentionOfferSet>,
) -> ApiResult<retention::RetentionOffer> {
    Ok(Json(retention::set(&s.db, &who, &b).await?))
}

#[utoipa::path(delete, path = "/v1/settings/retention_offer", tag = "subscriptions",
    responses((status = 200, body = retention::RetentionOffer), (status = 403, body = ErrorBody)))]
pub(crate) async fn remove_retention_offer(
    State(s): State<AppState>,
    Staff(who): Staff,
) -> ApiResult<retention::RetentionOffer> {
    Ok(Json(retention::remove(&s.db, &who).await?))
}

// --- invoices ------------------------------------------------------------------------

#[utoipa::path(post, path = "/v1/invoices", request_body = invoicing::InvoiceCreate, tag = "invoices",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry")),
    responses((status = 200, body = invoicing::Invoice)))]
async fn create_invoice(
    State(s): State<AppState>,
    org: Org,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    money_post(
        &s,
        &org,
        &headers,
        "POST /v1/invoices".into(),
        body,
        |db, ctx, b: invoicing::InvoiceCreate| async move {
            Ok(invoicing::create(&db, &ctx, &b).await?)
        },
    )
    .await
}

#[utoipa::path(get, path = "/v1/invoices", params(ListParams), tag = "invoices", responses((status = 200, body = Page<invoicing::Invoice>)))]
async fn list_invoices(
    State(s): State<AppState>,
    org: Org,
    q: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Page<invoicing::Invoice>> {
    let q = list_params(q)?;
    Ok(Json(
        invoicing::list(
            &s.db,
            &ctx(&org),
            q.customer.as_deref(),
            q.subscription.as_deref(),
            q.status.as_deref(),
            q.starting_after.as_deref(),
            q.limit,
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "invoices", responses((status = 200, body = invoicing::Invoice)))]
async fn get_invoice(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<invoicing::Invoice> {
    Ok(Json(invoicing::get(&s.db, &ctx(&org), &id).await?))
}

/// The invoice as a PDF in the customer's language (a draft is marked DRAFT).
#[utoipa::path(get, path = "/v1/invoices/{id}/pdf", tag = "invoices",
    responses((status = 200, content_type = "application/pdf", description = "The PDF, as an attachment named after the document number"), (status = 404, body = ErrorBody)))]
async fn invoice_pdf(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (name, bytes) = app::documents::invoice_pdf(&s.db, &ctx(&org), &id).await?;
    Ok(pdf_response(&name, bytes))
}

/// A PDF download: `application/pdf` with an attachment file name.
pub(crate) fn pdf_response(name: &str, bytes: Vec<u8>) -> Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let disposition = format!(
        "attachment; filename=\"{}\"",
        name.replace(['"', '\\', '\r', '\n'], "_")
    );
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

#[utoipa::path(delete, path = "/v1/invoices/{id}", tag = "invoices", responses((status = 200, body = Deleted)))]
async fn delete_invoice(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<Deleted> {
    invoicing::delete_draft(&s.db, &ctx(&org), &id).await?;
    Ok(Json(Deleted { id, deleted: true }))
}

/// Lines to add to a draft invoice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddLines {
    pub lines: Vec<invoicing::LineCreate>,
}

#[utoipa::path(post, path = "/v1/invoices/{id}/lines", request_body = AddLines, tag = "invoices", responses((status = 200, body = invoicing::Invoice)))]
async fn add_invoice_lines(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
    Body(b): Body<AddLines>,
) -> ApiResult<invoicing::Invoice> {
    Ok(Json(
        invoicing::add_lines(&s.db, &ctx(&org), &id, &b.lines).await?,
    ))
}

macro_rules! invoice_action {
    ($name:ident, $path:literal, $f:path) => {
        #[utoipa::path(post, path = $path, tag = "invoices",
            params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry")),
            responses((status = 200, body = invoicing::Invoice), (status = 409, body = ErrorBody)))]
        async fn $name(State(s): State<AppState>, org: Org, Path(id): Path<String>, headers: HeaderMap, RawBody(body): RawBody) -> Response {
            let route = format!("POST {} {id}", $path);
            // These take no parameters: any JSON body is accepted and ignored.
            money_post(&s, &org, &headers, route, body, |db, ctx, _: serde::de::IgnoredAny| async move { Ok($f(&db, &ctx, &id).await?) }).await
        }
    };
}

invoice_action!(
    finalize_invoice,
    "/v1/invoices/{id}/finalize",
    invoicing::finalize
);
invoice_action!(void_invoice, "/v1/invoices/{id}/void", invoicing::void);
invoice_action!(
    mark_uncollectible,
    "/v1/invoices/{id}/mark_uncollectible",
    invoicing::mark_uncollectible
);

// --- credit notes, ledger, bill runs -------------------------------------------------

#[utoipa::path(post, path = "/v1/credit_notes", request_body = invoicing::CreditNoteCreate, tag = "invoices",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry")),
    responses((status = 200, body = invoicing::CreditNote), (status = 400, body = ErrorBody)))]
async fn create_credit_note(
    State(s): State<AppState>,
    org: Org,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    money_post(
        &s,
        &org,
        &headers,
        "POST /v1/credit_notes".into(),
        body,
        |db, ctx, b: invoicing::CreditNoteCreate| async move {
            Ok(invoicing::create_credit_note(&db, &ctx, &b).await?)
        },
    )
    .await
}

#[utoipa::path(get, path = "/v1/credit_notes", params(ListParams), tag = "invoices", responses((status = 200, body = Page<invoicing::CreditNote>)))]
async fn list_credit_notes(
    State(s): State<AppState>,
    org: Org,
    q: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Page<invoicing::CreditNote>> {
    let q = list_params(q)?;
    Ok(Json(
        invoicing::list_credit_notes(
            &s.db,
            &ctx(&org),
            q.invoice.as_deref(),
            q.customer.as_deref(),
            q.starting_after.as_deref(),
            q.limit,
        )
        .await?,
    ))
}

/// The credit note as a PDF in the customer's language.
#[utoipa::path(get, path = "/v1/credit_notes/{id}/pdf", tag = "invoices",
    responses((status = 200, content_type = "application/pdf", description = "The PDF, as an attachment named after the document number"), (status = 404, body = ErrorBody)))]
async fn credit_note_pdf(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (name, bytes) = app::documents::credit_note_pdf(&s.db, &ctx(&org), &id).await?;
    Ok(pdf_response(&name, bytes))
}

#[utoipa::path(get, path = "/v1/credit_notes/{id}", tag = "invoices", responses((status = 200, body = invoicing::CreditNote)))]
async fn get_credit_note(
    State(s): State<AppState>,
    org: Org,
    Path(id): Path<String>,
) -> ApiResult<invoicing::CreditNote> {
    Ok(Json(
        invoicing::get_credit_note(&s.db, &ctx(&org), &id).await?,
    ))
}

/// Ledger listing filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LedgerParams {
    pub limit: Option<i64>,
    /// The id of the last entry of the previous page.
    pub starting_after: Option<i64>,
    pub customer: Option<String>,
}

#[utoipa::path(get, path = "/v1/ledger_entries", params(LedgerParams), tag = "ledger", responses((status = 200, body = Page<ledger::LedgerEntry>)))]
async fn list_ledger_entries(
    State(s): State<AppState>,
    org: Org,
    q: Result<Query<LedgerParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Page<ledger::LedgerEntry>> {
    let q = q.map(|q| q.0).map_err(|e| {
        ApiError::invalid(
            "parameter_invalid",
            format!("invalid query: {}", e.body_text()),
            None,
        )
    })?;
    Ok(Json(
        ledger::entries(
            &s.db,
            &ctx(&org),
            q.customer.as_deref(),
            q.starting_after,
            q.limit,
        )
        .await?,
    ))
}

/// Body of `POST /v1/bill_runs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillRunCreate {
    /// Bill every period that has started by this instant (default now).
    pub at: Option<DateTime<Utc>>,
    /// Finalize the invoices (default true); false leaves them as drafts for review, to be
    /// finalized with `POST /v1/invoices/{id}/finalize`.
    pub finalize: Option<bool>,
}

#[utoipa::path(post, path = "/v1/bill_runs", request_body = BillRunCreate, tag = "invoices",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry")),
    responses((status = 200, body = billrun::BillRunReport)))]
async fn create_bill_run(
    State(s): State<AppState>,
    org: Org,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    money_post(
        &s,
        &org,
        &headers,
        "POST /v1/bill_runs".into(),
        body,
        |db, ctx, b: BillRunCreate| async move {
            let at = b.at.unwrap_or(ctx.now);
            if at > ctx.now + chrono::Duration::days(3660) {
                return Err(ApiError::invalid(
                    "parameter_invalid",
                    "at is more than ten years ahead",
                    Some("at".into()),
                ));
            }
            let report = billrun::run_with(
                &db,
                Some(&ctx.org_id),
                at,
                b.finalize.unwrap_or(true),
                |_| {},
            )
            .await?;
            billrun::record(&db, &ctx.org_id, &report, ctx.now, Utc::now()).await?;
            Ok(report)
        },
    )
    .await
}
