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
//!
//! Sign-in links ("magic links", [`request_sign_in_link`], [`sign_in_with_link`]):
//! - A link is sent only to the address of an active portal login of that organisation;
//!   asking for one answers the same whether or not the address has a login, so the answer
//!   does not tell which addresses have accounts.
//! - Its token (`psl_…`, 144 random bits) is only in the email; the database keeps its
//!   SHA-256, as for sessions and API keys. The email is an outbound desk message of no
//!   ticket and no customer (as identity codes are), so no timeline shows the link.
//! - It is valid for [`SIGN_IN_LINK_TTL`] and signs in once: the sign-in marks it used in
//!   the same transaction that opens the session, and only the first of two concurrent
//!   uses takes it. A used, expired or unknown link (or one of a login that has been
//!   deactivated since) signs nobody in, and says which of these it is.

use super::{audit, StaffCtx};
use crate::{AppError, Result};
use billing::ids::{InteractionId, PortalSessionId, PortalUserId, SignInLinkId};
use chrono::{DateTime, Duration, Utc};
use desk::authority::Permission;
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::desk::InteractionRow;
use store::portal::{PortalUserRow, SignInLinkRow};
use store::{new_id, Db, Tx};

/// How long a portal session lives (as a staff session).
pub const SESSION_TTL: Duration = Duration::hours(12);
/// Shortest password accepted (as for staff).
pub const MIN_PASSWORD: usize = super::staff::MIN_PASSWORD;
/// The prefix of portal session tokens.
pub const TOKEN_PREFIX: &str = "pts_";
/// How long an emailed sign-in link can be used.
pub const SIGN_IN_LINK_TTL: Duration = Duration::minutes(15);
/// The prefix of sign-in link tokens.
pub const LINK_TOKEN_PREFIX: &str = "psl_";

/// A new secret token: the prefix and 24 random alphanumerics (two id suffixes' random
/// parts and their millisecond stamps).
fn new_token(prefix: &str) -> String {
    format!(
        "{prefix}{}{}",
        store::random_suffix(),
        store::random_suffix()
    )
}

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
    let session = open_session(&mut tx, &row, now).await?;
    tx.commit().await?;
    Ok(session)
}

/// Opens a session of `row` valid for [`SESSION_TTL`] (password and link sign-in alike).
async fn open_session(
    tx: &mut Tx,
    row: &PortalUserRow,
    now: DateTime<Utc>,
) -> Result<PortalSession> {
    let token = new_token(TOKEN_PREFIX);
    let expires = now + SESSION_TTL;
    store::portal::insert_session(
        tx,
        new_id!(PortalSessionId).as_str(),
        &row.org_id,
        &row.id,
        &token_hash(&token),
        now,
        expires,
    )
    .await?;
    Ok(PortalSession {
        object: "portal_session",
        token,
        expires,
        user: view(row),
    })
}

// ---------------------------------------------------------------------------------------
// Sign-in links

/// A request for a sign-in link.
#[derive(Debug, Clone)]
pub struct SignInLinkRequest {
    /// The organisation (`org_…`) of the portal asked.
    pub organisation: String,
    pub email: String,
    /// Where the portal is served (`https://billing.example.com`), put before the link's
    /// path; empty sends the path alone.
    pub base_url: String,
}

/// Emails a sign-in link to `input.email` if it is an active portal login of the
/// organisation; does nothing otherwise. Either way the answer is `Ok(())`.
pub async fn request_sign_in_link(
    db: &Db,
    input: &SignInLinkRequest,
    now: DateTime<Utc>,
) -> Result<()> {
    let email = input.email.trim().to_lowercase();
    let mut tx = db.begin().await?;
    let user = store::portal::user_by_email(&mut tx, &input.organisation, &email).await?;
    let Some(user) = user.filter(|u| u.active) else {
        return Ok(());
    };
    let token = new_token(LINK_TOKEN_PREFIX);
    let link = SignInLinkRow {
        id: new_id!(SignInLinkId).to_string(),
        org_id: user.org_id.clone(),
        portal_user_id: user.id.clone(),
        token_hash: token_hash(&token),
        created_at: now,
        expires_at: now + SIGN_IN_LINK_TTL,
        used_at: None,
    };
    store::portal::insert_sign_in_link(&mut tx, &link).await?;
    let url = format!(
        "{}/portal/{}/magic/{token}",
        input.base_url.trim_end_matches('/'),
        user.org_id
    );
    let mail = sign_in_mail(&mut tx, &user, &url, now).await?;
    crate::jobs::enqueue(
        &mut tx,
        &user.org_id,
        &[crate::jobs::Task::SendDeskEmail { interaction: mail }],
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Writes the email carrying a sign-in link (template `portal_sign_in`, in the customer's
/// language) as an outbound message of no ticket and no customer; returns its id.
async fn sign_in_mail(
    tx: &mut Tx,
    user: &PortalUserRow,
    url: &str,
    now: DateTime<Utc>,
) -> Result<String> {
    let customer = store::customers::get(tx, &user.org_id, &user.customer_id)
        .await?
        .ok_or_else(|| AppError::not_found("customer", &user.customer_id))?;
    let org = store::orgs::get_org(tx, &user.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organisation", &user.org_id))?;
    let context = json!({
        "customer_name": customer.name,
        "org_name": org.name,
        "url": url,
        "minutes": SIGN_IN_LINK_TTL.num_minutes(),
    });
    let (subject, body) = crate::notify::render("portal_sign_in", &customer.locale, &context)?;
    let row = InteractionRow {
        id: new_id!(InteractionId).to_string(),
        org_id: user.org_id.clone(),
        channel: "email".into(),
        direction: "outbound".into(),
        kind: "message".into(),
        author_type: "system".into(),
        to_address: Some(user.email.clone()),
        subject: Some(subject),
        body,
        delivery_status: Some("queued".into()),
        created_at: now,
        ..Default::default()
    };
    store::desk::insert_interactions(tx, std::slice::from_ref(&row)).await?;
    Ok(row.id)
}

/// The link of `token` and its login, when the link can sign in at `now`; otherwise why
/// not: `sign_in_link_used`, `sign_in_link_expired` (state errors) or unauthenticated (no
/// such link in this organisation, or its login is no longer active).
async fn usable_link(
    tx: &mut Tx,
    organisation: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(SignInLinkRow, PortalUserRow)> {
    let unknown = || AppError::Unauthenticated("unknown sign-in link".into());
    if !token.starts_with(LINK_TOKEN_PREFIX) {
        return Err(unknown());
    }
    let link = store::portal::sign_in_link(tx, organisation, &token_hash(token))
        .await?
        .ok_or_else(unknown)?;
    let user = store::portal::get_user(tx, organisation, &link.portal_user_id)
        .await?
        .filter(|u| u.active)
        .ok_or_else(unknown)?;
    if link.used_at.is_some() {
        return Err(AppError::state(
            "sign_in_link_used",
            "this sign-in link has been used already",
        ));
    }
    if link.expires_at <= now {
        return Err(AppError::state(
            "sign_in_link_expired",
            "this sign-in link has expired",
        ));
    }
    Ok((link, user))
}

/// Whether a sign-in link can sign in now (writing nothing): `Ok` or the refusal
/// [`sign_in_with_link`] would give.
pub async fn check_sign_in_link(
    db: &Db,
    organisation: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut tx = db.read().await?;
    usable_link(&mut tx, organisation, token, now).await?;
    Ok(())
}

/// Signs in with an emailed link: marks it used and opens a session, in one transaction.
pub async fn sign_in_with_link(
    db: &Db,
    organisation: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<PortalSession> {
    let mut tx = db.begin().await?;
    let (link, user) = usable_link(&mut tx, organisation, token, now).await?;
    if store::portal::use_sign_in_link(&mut tx, &link.id, now).await? != 1 {
        return Err(AppError::state(
            "sign_in_link_used",
            "this sign-in link has been used already",
        ));
    }
    let session = open_session(&mut tx, &user, now).await?;
    tx.commit().await?;
    Ok(session)
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
