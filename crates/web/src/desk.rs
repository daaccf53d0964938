//! The desk's core routes: staff and sessions, tickets (create, read, list, change, reply,
//! notes, merge), inbound email, macros, SLA settings and the audit log.

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Staff};
use crate::routes::{query, ApiResult};
use crate::AppState;
use app::desk::{audit, inbound, macros, settings, staff, tickets};
use app::Page;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::IntoParams;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/staff", get(list_staff).post(create_staff))
        .route("/v1/staff/{id}", post(update_staff))
        .route("/v1/sessions", post(login))
        .route("/v1/sessions/current", delete(logout))
        .route("/v1/tickets", get(list_tickets).post(create_ticket))
        .route("/v1/tickets/{id}", get(get_ticket).post(update_ticket))
        .route("/v1/tickets/{id}/replies", post(reply))
        .route("/v1/tickets/{id}/notes", post(note))
        .route("/v1/tickets/{id}/merge", post(merge))
        .route("/v1/attachments/{id}", get(attachment))
        .route("/v1/inbound/email", post(inbound_email))
        .route("/v1/macros", get(list_macros).post(save_macro))
        .route("/v1/settings/calendars", post(create_calendar))
        .route(
            "/v1/settings/sla_policies",
            get(list_policies).post(save_policy),
        )
        .route("/v1/audit_log", get(audit_log))
}

type Q<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

#[utoipa::path(post, path = "/v1/staff", request_body = staff::StaffInput, tag = "desk",
    responses((status = 200, body = staff::Staff), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn create_staff(
    State(s): State<AppState>,
    Staff(who): Staff,
    Body(b): Body<staff::StaffInput>,
) -> ApiResult<staff::Staff> {
    Ok(Json(staff::create(&s.db, &who, b).await?))
}

#[utoipa::path(get, path = "/v1/staff", tag = "desk", responses((status = 200, body = Vec<staff::Staff>)))]
pub(crate) async fn list_staff(
    State(s): State<AppState>,
    Staff(who): Staff,
) -> ApiResult<Vec<staff::Staff>> {
    Ok(Json(staff::list(&s.db, &who).await?))
}

#[utoipa::path(post, path = "/v1/staff/{id}", request_body = staff::StaffUpdate, tag = "desk",
    responses((status = 200, body = staff::Staff), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn update_staff(
    State(s): State<AppState>,
    Staff(who): Staff,
    Path(id): Path<String>,
    Body(b): Body<staff::StaffUpdate>,
) -> ApiResult<staff::Staff> {
    Ok(Json(staff::update(&s.db, &who, &id, b).await?))
}

/// Logs a staff user in (no key needed): the session token authenticates later requests.
#[utoipa::path(post, path = "/v1/sessions", request_body = staff::LoginInput, tag = "desk", security(),
    responses((status = 200, body = staff::Session), (status = 401, body = ErrorBody)))]
pub(crate) async fn login(
    State(s): State<AppState>,
    Body(b): Body<staff::LoginInput>,
) -> ApiResult<staff::Session> {
    Ok(Json(staff::login(&s.db, b, chrono::Utc::now()).await?))
}

/// Ends the session whose token authenticates this request.
#[utoipa::path(delete, path = "/v1/sessions/current", tag = "desk",
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub(crate) async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| t.starts_with("ses_"))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "missing_session",
                "send the session token as Authorization: Bearer ses_…",
                None,
            )
        })?;
    let now = chrono::Utc::now();
    // A token that no longer authenticates (ended, expired, staff deactivated) is a 401
    // here as on every other route, not a silent 204.
    staff::authenticate(&s.db, token, now).await?;
    staff::logout(&s.db, token, now).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/tickets", request_body = tickets::CreateTicket, tag = "desk",
    responses((status = 200, body = tickets::TicketDetail), (status = 400, body = ErrorBody)))]
pub(crate) async fn create_ticket(
    State(s): State<AppState>,
    Staff(who): Staff,
    Body(b): Body<tickets::CreateTicket>,
) -> ApiResult<tickets::TicketDetail> {
    Ok(Json(tickets::create(&s.db, &who, b).await?))
}

#[utoipa::path(get, path = "/v1/tickets", params(tickets::ListTickets), tag = "desk",
    responses((status = 200, body = Page<tickets::Ticket>), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_tickets(
    State(s): State<AppState>,
    Staff(who): Staff,
    q: Q<tickets::ListTickets>,
) -> ApiResult<Page<tickets::Ticket>> {
    Ok(Json(tickets::list(&s.db, &who, query(q)?).await?))
}

#[utoipa::path(get, path = "/v1/tickets/{id}", tag = "desk",
    responses((status = 200, body = tickets::TicketDetail), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_ticket(
    State(s): State<AppState>,
    Staff(who): Staff,
    Path(id): Path<String>,
) -> ApiResult<tickets::TicketDetail> {
    Ok(Json(tickets::get(&s.db, &who, &id).await?))
}

#[utoipa::path(post, path = "/v1/tickets/{id}", request_body = tickets::UpdateTicket, tag = "desk",
    responses((status = 200, body = tickets::TicketDetail), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn update_ticket(
    State(s): State<AppState>,
    Staff(who): Staff,
    Path(id): Path<String>,
    Body(b): Body<tickets::UpdateTicket>,
) -> ApiResult<tickets::TicketDetail> {
    Ok(Json(tickets::update(&s.db, &who, &id, b).await?))
}

#[utoipa::path(post, path = "/v1/tickets/{id}/replies", request_body = tickets::ReplyInput, tag = "desk",
    responses((status = 200, body = tickets::TicketDetail), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn reply(
    State(s): State<AppState>,
    Staff(who): Staff,
    Path(id): Path<String>,
    Body(b): Body<tickets::ReplyInput>,
) -> ApiResult<tickets::TicketDetail> {
    Ok(Json(tickets::reply(&s.db, &who, &id, b).await?))
}

#[utoipa::path(post, path = "/v1/tickets/{id}/notes", request_body = tickets::NoteInput, tag = "desk",
    responses((status = 200, body = tickets::TicketDetail), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn note(
    State(s): State<AppState>,
    Staff(who): Staff,
    Path(id): Path<String>,
    Body(b): Body<tickets::NoteInput>,
) -> ApiResult<tickets::TicketDetail> {
    Ok(Json(tickets::note(&s.db, &who, &id, b).await?))
}

#[utoipa::path(post, path = "/v1/tickets/{id}/merge", request_body = tickets::MergeInput, tag = "desk",
    responses((status = 200, body = tickets::TicketDetail), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn merge(
    State(s): State<AppState>,
    Staff(who): Staff,
    Path(id): Path<String>,
    Body(b): Body<tickets::MergeInput>,
) -> ApiResult<tickets::TicketDetail> {
    Ok(Json(tickets::merge(&s.db, &who, &id, b).await?))
}

/// An attachment's bytes, with its content type and file name.
#[utoipa::path(get, path = "/v1/attachments/{id}", tag = "desk",
    responses((status = 200, content_type = "application/octet-stream"), (status = 404, body = ErrorBody)))]
pub(crate) async fn attachment(
    State(s): State<AppState>,
    Staff(who): Staff,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let (name, ctype, data) = tickets::attachment(&s.db, &who, &id).await?;
    let disposition = format!(
        "attachment; filename=\"{}\"",
        name.replace(['"', '\\', '\r', '\n'], "_")
    );
    Ok((
        [
            (header::CONTENT_TYPE, ctype),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        data,
    ))
}

/// Takes one raw RFC 5322 message (`Content-Type: message/rfc822`): threads it onto a
/// ticket or opens one, and queues the acknowledgement.
#[utoipa::path(post, path = "/v1/inbound/email", request_body(content = String, content_type = "message/rfc822"), tag = "desk",
    responses((status = 200, body = inbound::Ingested), (status = 400, body = ErrorBody)))]
pub(crate) async fn inbound_email(
    State(s): State<AppState>,
    Staff(who): Staff,
    body: axum::body::Bytes,
) -> ApiResult<inbound::Ingested> {
    Ok(Json(inbound::receive(&s.db, &who, &body).await?))
}

#[utoipa::path(post, path = "/v1/macros", request_body = macros::MacroInput, tag = "desk",
    responses((status = 200, body = macros::Macro), (status = 400, body = ErrorBody)))]
pub(crate) async fn save_macro(
    State(s): State<AppState>,
    Staff(who): Staff,
    Body(b): Body<macros::MacroInput>,
) -> ApiResult<macros::Macro> {
    Ok(Json(macros::upsert(&s.db, &who, b).await?))
}

#[utoipa::path(get, path = "/v1/macros", tag = "desk", responses((status = 200, body = Vec<macros::Macro>)))]
pub(crate) async fn list_macros(
    State(s): State<AppState>,
    Staff(who): Staff,
) -> ApiResult<Vec<macros::Macro>> {
    Ok(Json(macros::list(&s.db, &who).await?))
}

#[utoipa::path(post, path = "/v1/settings/calendars", request_body = settings::CalendarInput, tag = "desk",
    responses((status = 200, body = settings::CalendarView), (status = 400, body = ErrorBody)))]
pub(crate) async fn create_calendar(
    State(s): State<AppState>,
    Staff(who): Staff,
    Body(b): Body<settings::CalendarInput>,
) -> ApiResult<settings::CalendarView> {
    Ok(Json(settings::create_calendar(&s.db, &who, b).await?))
}

#[utoipa::path(post, path = "/v1/settings/sla_policies", request_body = settings::PolicyInput, tag = "desk",
    responses((status = 200, body = settings::PolicyView), (status = 400, body = ErrorBody)))]
pub(crate) async fn save_policy(
    State(s): State<AppState>,
    Staff(who): Staff,
    Body(b): Body<settings::PolicyInput>,
) -> ApiResult<settings::PolicyView> {
    Ok(Json(settings::save_policy(&s.db, &who, b).await?))
}

#[utoipa::path(get, path = "/v1/settings/sla_policies", tag = "desk", responses((status = 200, body = Vec<settings::PolicyView>)))]
pub(crate) async fn list_policies(
    State(s): State<AppState>,
    Staff(who): Staff,
) -> ApiResult<Vec<settings::PolicyView>> {
    Ok(Json(settings::policies(&s.db, &who).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct AuditQuery {
    /// Only entries about this object.
    pub object: Option<String>,
    /// Entries before this sequence number (paging back).
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/audit_log", params(AuditQuery), tag = "desk",
    responses((status = 200, body = Page<audit::AuditEntry>), (status = 403, body = ErrorBody)))]
pub(crate) async fn audit_log(
    State(s): State<AppState>,
    Staff(who): Staff,
    q: Q<AuditQuery>,
) -> ApiResult<Page<audit::AuditEntry>> {
    let q = query(q)?;
    Ok(Json(
        audit::list(&s.db, &who, q.object.as_deref(), q.before, q.limit).await?,
    ))
}
