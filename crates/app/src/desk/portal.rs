//! Portal users: logins of a customer account for the customer portal (DESK.md "Identity
//! verification": portal users are verified by their login).
//!
//! Staff with `manage_tickets` (or the API key) create a portal user for the customer's own
//! email address or one of its contacts' — never any other address, so a login always
//! belongs to someone on file. Passwords are argon2id (PHC strings); without a password a
//! random one is generated and returned once. A login returns a token (`pts_…`, shown once,
//! stored as its SHA-256) valid for 12 hours, sent as `Authorization: Bearer` or, for the
//! chat WebSocket that browsers open without headers, as `?token=`. As with staff logins, a
//! wrong email and a wrong password get the same answer.

use super::{audit, StaffCtx};
use crate::{AppError, Result};
use billing::ids::{PortalSessionId, PortalUserId};
use chrono::{DateTime, Duration, Utc};
use desk::authority::Permission;
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::portal::PortalUserRow;
use store::{new_id, Db, Tx};

/// How long a portal session lives (as a staff session).
pub const SESSION_TTL: Duration = Duration::hours(12);
/// Shortest password accepted (as for staff).
pub const MIN_PASSWORD: usize = super::staff::MIN_PASSWORD;
/// The prefix of portal session tokens.
pub const TOKEN_PREFIX: &str = "pts_";

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalUserInput {
    /// The customer's own email or one of its contacts' (case-insensitive).
    pub email: String,
    /// At least 10 characters; omit to have one generated and returned once.
    pub password: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PortalUser {
    pub id: String,
    pub object: &'static str,
    pub customer: String,
    /// The contact this login belongs to; None for the customer's own email.
    pub contact: Option<String>,
    pub email: String,
    pub active: bool,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedPortalUser {
    #[serde(flatten)]
    pub user: PortalUser,
    /// The generated password when none was given; shown once.
    pub initial_password: Option<String>,
}

pub fn view(r: &PortalUserRow) -> PortalUser {
    PortalUser {
        id: r.id.clone(),
        object: "portal_user",
        customer: r.customer_id.clone(),
        contact: r.contact_id.clone(),
        email: r.email.clone(),
        active: r.active,
        created: r.created_at,
    }
}

use super::staff::{hash_password, password_ok, token_hash};

/// Creates a portal login for a customer's own email or a contact's.
pub async fn create(
    db: &Db,
    sctx: &StaffCtx,
    customer_id: &str,
    input: PortalUserInput,
) -> Result<CreatedPortalUser> {
    sctx.require(Permission::ManageTickets)?;
    let email = input.email.trim().to_lowercase();
    if email.is_empty() {
        return Err(AppError::missing("email"));
    }
    let (password, generated) = match input.password {
        Some(p) => (p, false),
        None => {
            use rand::Rng;
            let p: String = rand::rng()
                .sample_iter(&rand::distr::Alphanumeric)
                .take(20)
                .map(char::from)
                .collect();
            (p, true)
        }
    };
    let password_hash = hash_password(&password)?;
    let org = sctx.org().to_string();
    let mut tx = db.begin().await?;
    let customer = store::customers::get(&mut tx, &org, customer_id)
        .await?
        .ok_or_else(|| AppError::not_found("customer", customer_id))?;
    let contact_id = if customer
        .email
        .as_deref()
        .is_some_and(|e| e.trim().to_lowercase() == email)
    {
        None
    } else {
        let contacts = store::customers::contacts(&mut tx, &org, customer_id).await?;
        let c = contacts
            .iter()
            .find(|c| {
                c.email
                    .as_deref()
                    .is_some_and(|e| e.trim().to_lowercase() == email)
            })
            .ok_or_else(|| {
                AppError::invalid(
                    "email",
                    format!(
                        "{email} is neither the email of customer {customer_id} nor of one of its contacts"
                    ),
                )
            })?;
        Some(c.id.clone())
    };
    let row = PortalUserRow {
        id: new_id!(PortalUserId).to_string(),
        org_id: org.clone(),
        customer_id: customer_id.to_string(),
        contact_id,
        email,
        password_hash,
        active: true,
        created_at: sctx.ctx.now,
        created_by: sctx.actor_id(),
    };
    store::portal::insert_user(&mut tx, &row)
        .await
        .map_err(|e| match e {
            store::StoreError::Conflict(_) => AppError::invalid(
                "email",
                format!("a portal user with email {} exists already", row.email),
            ),
            e => e.into(),
        })?;
    let v = view(&row);
    audit::record(
        &mut tx,
        sctx,
        "portal_user.created",
        "portal_user",
        &row.id,
        &json!(null),
        &json!(v),
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedPortalUser {
        user: v,
        initial_password: generated.then_some(password),
    })
}

/// The portal users of a customer.
pub async fn list(db: &Db, sctx: &StaffCtx, customer_id: &str) -> Result<Vec<PortalUser>> {
    sctx.require(Permission::ReadAccount)?;
    let mut tx = db.read().await?;
    store::customers::get(&mut tx, sctx.org(), customer_id)
        .await?
        .ok_or_else(|| AppError::not_found("customer", customer_id))?;
    Ok(
        store::portal::users_of_customer(&mut tx, sctx.org(), customer_id)
            .await?
            .iter()
            .map(view)
            .collect(),
    )
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalLogin {
    /// The organisation (`org_…`).
    pub organisation: String,
    pub email: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PortalSession {
    pub object: &'static str,
    /// `pts_…`: send as `Authorization: Bearer <token>` (or `?token=` on the chat
    /// WebSocket); shown once.
    pub token: String,
    pub expires: DateTime<Utc>,
    pub user: PortalUser,
}

/// Logs a portal user in. Wrong email and wrong password are one answer.
pub async fn login(db: &Db, input: PortalLogin, now: DateTime<Utc>) -> Result<PortalSession> {
    let email = input.email.trim().to_lowercase();
    let mut tx = db.begin().await?;
    let row = store::portal::user_by_email(&mut tx, &input.organisation, &email).await?;
    let Some(row) = row.filter(|r| r.active && password_ok(&input.password, &r.password_hash))
    else {
        return Err(AppError::Unauthenticated("wrong email or password".into()));
    };
    let token = format!(
        "{TOKEN_PREFIX}{}{}",
        store::random_suffix(),
        store::random_suffix()
    );
    let expires = now + SESSION_TTL;
    store::portal::insert_session(
        &mut tx,
        new_id!(PortalSessionId).as_str(),
        &row.org_id,
        &row.id,
        &token_hash(&token),
        now,
        expires,
    )
    .await?;
    tx.commit().await?;
    Ok(PortalSession {
        object: "portal_session",
        token,
        expires,
        user: view(&row),
    })
}

/// Ends a portal session.
pub async fn logout(db: &Db, token: &str, now: DateTime<Utc>) -> Result<()> {
    let mut tx = db.begin().await?;
    store::portal::revoke_session(&mut tx, &token_hash(token), now).await?;
    tx.commit().await?;
    Ok(())
}

/// The portal user a live `pts_…` token belongs to.
pub async fn authenticate(db: &Db, token: &str, now: DateTime<Utc>) -> Result<PortalUserRow> {
    let mut tx = db.read().await?;
    session_user(&mut tx, token, now).await
}

/// [`authenticate`] inside a read transaction the caller goes on using.
pub async fn session_user(tx: &mut Tx, token: &str, now: DateTime<Utc>) -> Result<PortalUserRow> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Err(AppError::Unauthenticated(
            "not a portal session token (pts_…)".into(),
        ));
    }
    store::portal::user_for_session(tx, &token_hash(token), now)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("invalid or expired portal session".into()))
}
