//! Staff users, their logins and sessions.
//!
//! Passwords are hashed with argon2id (PHC strings, a random salt each); a wrong email and
//! a wrong password get the same answer. A login returns a session token (`ses_…`, shown
//! once, stored as its SHA-256) valid for 12 hours; it is sent as `Authorization: Bearer`.

use super::{audit, StaffCtx};
use crate::{AppError, Ctx, Result};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use billing::ids::{StaffId, StaffSessionId};
use chrono::{DateTime, Duration, Utc};
use desk::authority::{Permission, Role};
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::desk::StaffRow;
use store::{new_id, Db};

/// How long a session lives.
pub const SESSION_TTL: Duration = Duration::hours(12);
/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 10;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffInput {
    pub email: String,
    pub name: String,
    /// agent, senior_agent, supervisor, finance, admin
    pub role: String,
    pub password: String,
    /// Team key (billing, finance, sales, technical, …); default billing.
    pub team: Option<String>,
    /// en or ru; default en.
    pub locale: Option<String>,
    /// Open tickets round-robin gives this person at most; default 10.
    pub capacity: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffUpdate {
    pub name: Option<String>,
    pub role: Option<String>,
    pub password: Option<String>,
    pub team: Option<String>,
    pub capacity: Option<i64>,
    pub online: Option<bool>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Staff {
    pub id: String,
    pub object: &'static str,
    pub email: String,
    pub name: String,
    pub role: String,
    pub team: String,
    pub locale: String,
    pub capacity: i64,
    pub online: bool,
    pub active: bool,
    pub created: DateTime<Utc>,
}

pub fn view(r: &StaffRow) -> Staff {
    Staff {
        id: r.id.clone(),
        object: "staff_user",
        email: r.email.clone(),
        name: r.name.clone(),
        role: r.role.clone(),
        team: r.team.clone(),
        locale: r.locale.clone(),
        capacity: r.capacity,
        online: r.online,
        active: r.active,
        created: r.created_at,
    }
}

/// An argon2id PHC string of a password of at least [`MIN_PASSWORD`] characters (staff and
/// portal logins).
pub(crate) fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(AppError::invalid(
            "password",
            format!("a password needs at least {MIN_PASSWORD} characters"),
        ));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("hashing a password: {e}")))
}

pub(crate) fn password_ok(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

fn parse_role(s: &str) -> Result<Role> {
    Role::parse(s).map_err(super::rule).map_err(|e| match e {
        AppError::Invalid { message, code, .. } => AppError::Invalid {
            param: "role".into(),
            message,
            code,
        },
        e => e,
    })
}

fn check_email(email: &str) -> Result<String> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= 254
        && !e.contains(char::is_whitespace)
        && e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
    if ok {
        Ok(e)
    } else {
        Err(AppError::invalid(
            "email",
            format!("{email:?} is not a valid email address"),
        ))
    }
}

async fn check_team(tx: &mut store::Tx, org: &str, team: &str) -> Result<()> {
    if store::desk::team_exists(tx, org, team).await? {
        Ok(())
    } else {
        Err(AppError::invalid("team", format!("no such team: {team:?}")))
    }
}

/// Adds a staff user (admins only).
pub async fn create(db: &Db, sctx: &StaffCtx, input: StaffInput) -> Result<Staff> {
    sctx.require(Permission::ManageStaff)?;
    let email = check_email(&input.email)?;
    let name = input.name.trim();
    if name.is_empty() {
        return Err(AppError::missing("name"));
    }
    let role = parse_role(&input.role)?;
    let locale = input.locale.unwrap_or_else(|| "en".into());
    if !["en", "ru"].contains(&locale.as_str()) {
        return Err(AppError::invalid("locale", "locale must be en or ru"));
    }
    let capacity = input.capacity.unwrap_or(10);
    if !(0..=1000).contains(&capacity) {
        return Err(AppError::invalid(
            "capacity",
            "capacity must be between 0 and 1000",
        ));
    }
    let team = input.team.unwrap_or_else(|| "billing".into());
    let password_hash = hash_password(&input.password)?;
    let mut tx = db.begin().await?;
    check_team(&mut tx, sctx.org(), &team).await?;
    let row = StaffRow {
        id: new_id!(StaffId).to_string(),
        org_id: sctx.org().to_string(),
        email,
        name: name.to_string(),
        role: role.as_str().to_string(),
        password_hash,
        team,
        locale,
        capacity,
        online: false,
        active: true,
        last_assigned_at: None,
        created_at: sctx.ctx.now,
    };
    store::desk::insert_staff(&mut tx, &row)
        .await
        .map_err(|e| match e {
            store::StoreError::Conflict(_) => AppError::invalid(
                "email",
                format!("a staff user with email {} exists already", row.email),
            ),
            e => e.into(),
        })?;
    let v = view(&row);
    audit::record(
        &mut tx,
        sctx,
        "staff.created",
        "staff_user",
        &row.id,
        &json!(null),
        &json!(v),
    )
    .await?;
    tx.commit().await?;
    Ok(v)
}

/// Changes a staff user. Admins change anyone; a staff user may change only their own
/// name, password and online flag.
pub async fn update(db: &Db, sctx: &StaffCtx, id: &str, input: StaffUpdate) -> Result<Staff> {
    let own = sctx.staff_id() == Some(id);
    let admin_fields = input.role.is_some()
        || input.team.is_some()
        || input.capacity.is_some()
        || input.active.is_some();
    if !own || admin_fields {
        sctx.require(Permission::ManageStaff)?;
    }
    let mut tx = db.begin().await?;
    let mut row = store::desk::get_staff(&mut tx, sctx.org(), id)
        .await?
        .ok_or_else(|| AppError::not_found("staff user", id))?;
    let before = json!(view(&row));
    if let Some(n) = input.name {
        if n.trim().is_empty() {
            return Err(AppError::missing("name"));
        }
        row.name = n.trim().to_string();
    }
    if let Some(r) = input.role {
        row.role = parse_role(&r)?.as_str().to_string();
    }
    if let Some(p) = input.password {
        row.password_hash = hash_password(&p)?;
    }
    if let Some(t) = input.team {
        check_team(&mut tx, sctx.org(), &t).await?;
        row.team = t;
    }
    if let Some(c) = input.capacity {
        if !(0..=1000).contains(&c) {
            return Err(AppError::invalid(
                "capacity",
                "capacity must be between 0 and 1000",
            ));
        }
        row.capacity = c;
    }
    if let Some(o) = input.online {
        row.online = o;
    }
    if let Some(a) = input.active {
        row.active = a;
    }
    store::desk::update_staff(&mut tx, &row).await?;
    let v = view(&row);
    audit::record(
        &mut tx,
        sctx,
        "staff.updated",
        "staff_user",
        id,
        &before,
        &json!(v),
    )
    .await?;
    tx.commit().await?;
    Ok(v)
}

/// The staff user acting (a session's own record).
pub async fn me(db: &Db, sctx: &StaffCtx) -> Result<Staff> {
    let id = sctx
        .staff_id()
        .ok_or_else(|| AppError::Unauthenticated("not a staff session".into()))?;
    let mut tx = db.read().await?;
    store::desk::get_staff(&mut tx, sctx.org(), id)
        .await?
        .map(|r| view(&r))
        .ok_or_else(|| AppError::not_found("staff", id))
}

pub async fn list(db: &Db, sctx: &StaffCtx) -> Result<Vec<Staff>> {
    let mut tx = db.read().await?;
    Ok(store::desk::list_staff(&mut tx, sctx.org())
        .await?
        .iter()
        .map(view)
        .collect())
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    /// The organisation (`org_…`).
    pub organisation: String,
    pub email: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Session {
    pub object: &'static str,
    /// Send as `Authorization: Bearer <token>`; shown once.
    pub token: String,
    pub expires: DateTime<Utc>,
    pub staff: Staff,
}

pub(crate) fn token_hash(token: &str) -> String {
    crate::orgs::hash_key(token)
}

/// Logs a staff user in. Wrong email and wrong password are one answer.
pub async fn login(db: &Db, input: LoginInput, now: DateTime<Utc>) -> Result<Session> {
    let email = input.email.trim().to_lowercase();
    let mut tx = db.begin().await?;
    let row = store::desk::staff_by_email(&mut tx, &input.organisation, &email).await?;
    let Some(row) = row.filter(|r| r.active && password_ok(&input.password, &r.password_hash))
    else {
        return Err(AppError::Unauthenticated("wrong email or password".into()));
    };
    let token = format!("ses_{}{}", store::random_suffix(), store::random_suffix());
    let expires = now + SESSION_TTL;
    store::desk::insert_session(
        &mut tx,
        new_id!(StaffSessionId).as_str(),
        &row.org_id,
        &row.id,
        &token_hash(&token),
        now,
        expires,
    )
    .await?;
    let role = parse_role(&row.role)?;
    let sctx = StaffCtx::staff(Ctx::new(&row.org_id, now), &row.id, role);
    audit::record(
        &mut tx,
        &sctx,
        "staff.login",
        "staff_user",
        &row.id,
        &json!(null),
        &json!(null),
    )
    .await?;
    tx.commit().await?;
    Ok(Session {
        object: "session",
        token,
        expires,
        staff: view(&row),
    })
}

/// Ends a session.
pub async fn logout(db: &Db, token: &str, now: DateTime<Utc>) -> Result<()> {
    let mut tx = db.begin().await?;
    store::desk::revoke_session(&mut tx, &token_hash(token), now).await?;
    tx.commit().await?;
    Ok(())
}

/// The staff member a live session token belongs to, with their context: one read (the
/// console's pages need both on every request).
pub async fn session_user(db: &Db, token: &str, now: DateTime<Utc>) -> Result<(StaffCtx, Staff)> {
    let mut tx = db.read().await?;
    let row = store::desk::staff_for_session(&mut tx, &token_hash(token), now)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("invalid or expired session".into()))?;
    let role = parse_role(&row.role)?;
    let sctx = StaffCtx::staff(Ctx::new(row.org_id.clone(), now), row.id.clone(), role);
    Ok((sctx, view(&row)))
}

/// The staff user a live session token belongs to: `(org, staff id, role)`.
pub async fn authenticate(
    db: &Db,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(String, String, Role)> {
    let mut tx = db.read().await?;
    let row = store::desk::staff_for_session(&mut tx, &token_hash(token), now)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("invalid or expired session".into()))?;
    Ok((row.org_id, row.id, parse_role(&row.role)?))
}
