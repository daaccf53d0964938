//! The service desk's use cases (DESK.md): staff and their sessions, tickets, interactions,
//! inbound and outbound email, SLA clocks, billing actions within authority, identity
//! verification, the audit log and KPIs.
//!
//! Every operation takes a [`StaffCtx`]: the organisation, the time, and who acts with which
//! role. Permissions are checked here, in one place ([`StaffCtx::require`]), never in the
//! web layer. An API key acts as the organisation's integration with the `admin` role (it
//! is the organisation's own credential); a staff session acts as that staff user.

pub mod actions;
pub mod audit;
pub mod calls;
pub mod chat;
pub mod identity;
pub mod inbound;
pub mod kpi;
pub mod macros;
pub mod portal;
pub mod selfservice;
pub mod settings;
pub mod staff;
pub mod tickets;
pub mod workspace;

use crate::{AppError, Ctx, Result};
use desk::authority::{Permission, Role};

/// Who acts on the desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A staff user logged in through a session.
    Staff { id: String },
    /// The organisation's API key (an integration).
    ApiKey,
    /// Ledgerdesk itself (the inbound mail path, jobs).
    System,
}

/// The context of a desk operation.
#[derive(Debug, Clone)]
pub struct StaffCtx {
    pub ctx: Ctx,
    pub actor: Actor,
    pub role: Role,
}

impl StaffCtx {
    pub fn staff(ctx: Ctx, id: impl Into<String>, role: Role) -> StaffCtx {
        StaffCtx {
            ctx,
            actor: Actor::Staff { id: id.into() },
            role,
        }
    }
    /// The organisation's API key: the admin role.
    pub fn api_key(ctx: Ctx) -> StaffCtx {
        StaffCtx {
            ctx,
            actor: Actor::ApiKey,
            role: Role::Admin,
        }
    }
    pub fn system(ctx: Ctx) -> StaffCtx {
        StaffCtx {
            ctx,
            actor: Actor::System,
            role: Role::Admin,
        }
    }
    /// The actor as written in the audit log and on records: a staff id, `api_key` or
    /// `system`.
    pub fn actor_id(&self) -> String {
        match &self.actor {
            Actor::Staff { id } => id.clone(),
            Actor::ApiKey => "api_key".into(),
            Actor::System => "system".into(),
        }
    }
    /// The staff user acting, if a person is.
    pub fn staff_id(&self) -> Option<&str> {
        match &self.actor {
            Actor::Staff { id } => Some(id),
            _ => None,
        }
    }
    /// Refuses the operation unless the role has `p` (`permission_denied`, HTTP 403).
    pub fn require(&self, p: Permission) -> Result<()> {
        if self.role.can(p) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "the {} role may not {}",
                self.role.as_str(),
                permission_words(p)
            )))
        }
    }
    pub fn org(&self) -> &str {
        &self.ctx.org_id
    }
}

fn permission_words(p: Permission) -> &'static str {
    match p {
        Permission::ReadAccount => "read customer accounts",
        Permission::ReadPaymentDetails => "read payment details",
        Permission::ManageTickets => "manage tickets",
        Permission::Reply => "reply to customers",
        Permission::BillingAction => "take billing actions",
        Permission::Approve => "approve billing actions",
        Permission::ManageStaff => "manage staff",
        Permission::ManageSettings => "change desk settings",
        Permission::ViewKpis => "view KPIs",
        Permission::ViewAudit => "view the audit log",
    }
}

/// A desk rule refused a value: the error names the field.
pub(crate) fn rule(e: desk::DeskError) -> AppError {
    match e {
        desk::DeskError::Invalid { field, message } => AppError::invalid(field, message),
        desk::DeskError::NotVerified { message } => {
            AppError::state("identity_not_verified", message)
        }
        e @ desk::DeskError::Transition { .. } => {
            AppError::state("invalid_transition", e.to_string())
        }
    }
}
