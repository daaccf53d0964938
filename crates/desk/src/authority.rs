//! Who may do what: staff roles, the permission matrix, per-action money limits and
//! approvals (DESK.md "Agent authority").
//!
//! Permission matrix ([`Role::can`]):
//!
//! | permission           | agent | senior_agent | supervisor | finance | admin |
//! |----------------------|:-----:|:------------:|:----------:|:-------:|:-----:|
//! | read_account         |   ✓   |      ✓       |     ✓      |    ✓    |   ✓   |
//! | read_payment_details |   ✓¹  |      ✓¹      |     ✓¹     |    ✓¹   |   ✓¹  |
//! | manage_tickets       |   ✓   |      ✓       |     ✓      |   ✓²    |   ✓   |
//! | reply                |   ✓   |      ✓       |     ✓      |   ✓²    |   ✓   |
//! | billing_action       |   ✓³  |      ✓³      |     ✓³     |    ✓    |   ✓   |
//! | approve              |       |      ✓       |     ✓      |    ✓    |   ✓   |
//! | view_kpis            |       |              |     ✓      |    ✓    |   ✓   |
//! | view_audit           |       |              |     ✓      |    ✓    |   ✓   |
//! | manage_staff         |       |              |            |         |   ✓   |
//! | manage_settings      |       |              |            |         |   ✓   |
//!
//! 1. During a phone or chat contact only after the caller's identity is verified
//!    (DESK.md "Identity verification"); the app enforces that, not this matrix.
//! 2. Finance works tickets too: escalation moves tickets to the finance team
//!    (DESK.md "Teams"), and they must be able to answer and resolve them.
//! 3. Within the role's limits ([`decide`]); above them the action becomes an approval
//!    request.
//!
//! Default limits ([`Limits::default_for`]), in major units of the action's currency:
//!
//! | action                                                     | agent  | senior_agent | supervisor | finance, admin |
//! |------------------------------------------------------------|-------:|-------------:|-----------:|---------------:|
//! | credit_note, goodwill_credit, discount, refund, write_off   |  50.00 |       500.00 |   5,000.00 |      unlimited |
//! | due_date_extension, payment_plan (of the invoice amount)    | 500.00 |     5,000.00 |  unlimited |      unlimited |
//!
//! The amount checked is the money the action moves or forgoes, in minor units: the
//! credit, refund or write-off amount; for a discount, the amount it takes off; for a
//! due-date extension or payment plan, the amount of the invoice(s) concerned. Negative
//! amounts are judged by their magnitude.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

string_enum! {
    /// A staff member's role.
    pub enum Role ("role") {
        Agent => "agent",
        SeniorAgent => "senior_agent",
        Supervisor => "supervisor",
        Finance => "finance",
        Admin => "admin",
    }
}

string_enum! {
    /// Something a staff member may be allowed to do.
    pub enum Permission ("permission") {
        /// See the customer account, timeline, invoices.
        ReadAccount => "read_account",
        /// See payment method details (subject to identity verification in live contacts).
        ReadPaymentDetails => "read_payment_details",
        /// Assign, categorise, change status, escalate, merge tickets.
        ManageTickets => "manage_tickets",
        /// Send public replies.
        Reply => "reply",
        /// Take billing actions (within limits).
        BillingAction => "billing_action",
        /// Approve other people's billing actions (within own limits).
        Approve => "approve",
        /// Add, change and deactivate staff.
        ManageStaff => "manage_staff",
        /// Calendars, SLA policies, macros, limits, organisation settings.
        ManageSettings => "manage_settings",
        /// KPI reports.
        ViewKpis => "view_kpis",
        /// The audit log.
        ViewAudit => "view_audit",
    }
}

impl Role {
    /// The permission matrix in the module docs.
    pub fn can(self, p: Permission) -> bool {
        use Permission as P;
        match self {
            Role::Admin => true,
            Role::Agent => matches!(
                p,
                P::ReadAccount
                    | P::ReadPaymentDetails
                    | P::ManageTickets
                    | P::Reply
                    | P::BillingAction
            ),
            Role::SeniorAgent => matches!(
                p,
                P::ReadAccount
                    | P::ReadPaymentDetails
                    | P::ManageTickets
                    | P::Reply
                    | P::BillingAction
                    | P::Approve
            ),
            Role::Supervisor | Role::Finance => !matches!(p, P::ManageStaff | P::ManageSettings),
        }
    }

    /// Every permission of this role, in [`Permission::ALL`] order.
    pub fn permissions(self) -> Vec<Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(|p| self.can(*p))
            .collect()
    }
}

string_enum! {
    /// A billing action taken from the desk; runs through the billing engine with a reason
    /// code and a link to the ticket.
    pub enum Action ("action") {
        CreditNote => "credit_note",
        GoodwillCredit => "goodwill_credit",
        /// Discount or retention offer.
        Discount => "discount",
        Refund => "refund",
        DueDateExtension => "due_date_extension",
        PaymentPlan => "payment_plan",
        WriteOff => "write_off",
    }
}

impl Action {
    /// Due-date extensions and payment plans defer money rather than give it away; they
    /// have the higher default limits.
    pub fn is_deferral(self) -> bool {
        matches!(self, Action::DueDateExtension | Action::PaymentPlan)
    }
}

/// How much a role may do without approval, in minor units of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    Unlimited,
    /// Up to and including this many minor units.
    UpTo(i64),
}

impl Limit {
    /// Whether `amount` (by magnitude) is within the limit; exactly the limit is.
    pub fn covers(self, amount: i64) -> bool {
        match self {
            Limit::Unlimited => true,
            Limit::UpTo(max) => i128::from(amount).abs() <= i128::from(max),
        }
    }
}

/// Limits per role, action and currency: the default table (major units, scaled to the
/// currency's minor unit) with overrides per (role, action, currency) in minor units, as an
/// organisation configures them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Limits {
    overrides: BTreeMap<(Role, Action, String), Limit>,
}

impl Limits {
    /// The default table only.
    pub fn new() -> Limits {
        Limits::default()
    }

    /// The default limit in major units (`None` = unlimited): the table in the module docs.
    pub fn default_major(role: Role, action: Action) -> Option<i64> {
        match (role, action.is_deferral()) {
            (Role::Agent, false) => Some(50),
            (Role::SeniorAgent, false) => Some(500),
            (Role::Supervisor, false) => Some(5_000),
            (Role::Agent, true) => Some(500),
            (Role::SeniorAgent, true) => Some(5_000),
            (Role::Supervisor, true) | (Role::Finance, _) | (Role::Admin, _) => None,
        }
    }

    /// The default limit for a currency whose minor unit has `minor_digits` decimals (2 for
    /// USD, 0 for JPY, 3 for KWD): the major amount × 10^minor_digits. A product too large
    /// for `i64` saturates at `i64::MAX`.
    pub fn default_for(role: Role, action: Action, minor_digits: u32) -> Limit {
        match Limits::default_major(role, action) {
            None => Limit::Unlimited,
            Some(major) => Limit::UpTo(
                10i64
                    .checked_pow(minor_digits)
                    .and_then(|scale| major.checked_mul(scale))
                    .unwrap_or(i64::MAX),
            ),
        }
    }

    /// Overrides the limit of `role` for `action` in `currency` (ISO code, any letter case;
    /// stored upper case). The limit is in that currency's minor units.
    pub fn set(&mut self, role: Role, action: Action, currency: &str, limit: Limit) {
        self.overrides
            .insert((role, action, currency.trim().to_ascii_uppercase()), limit);
    }

    /// Removes an override, returning to the default.
    pub fn clear(&mut self, role: Role, action: Action, currency: &str) {
        self.overrides
            .remove(&(role, action, currency.trim().to_ascii_uppercase()));
    }

    /// The limit of `role` for `action` in `currency`: the override if set, else the
    /// default scaled by `minor_digits`.
    pub fn limit(&self, role: Role, action: Action, currency: &str, minor_digits: u32) -> Limit {
        self.overrides
            .get(&(role, action, currency.trim().to_ascii_uppercase()))
            .copied()
            .unwrap_or_else(|| Limits::default_for(role, action, minor_digits))
    }

    /// The overrides, for storage and display.
    pub fn overrides(&self) -> impl Iterator<Item = (Role, Action, &str, Limit)> + '_ {
        self.overrides
            .iter()
            .map(|((r, a, c), l)| (*r, *a, c.as_str(), *l))
    }
}

/// What happens when `role` asks for `action` of `amount` minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Within the role's limit: takes effect now.
    Allowed,
    /// Above the limit: becomes an approval request; takes effect only when approved.
    NeedsApproval,
    /// The role may not take billing actions at all.
    Forbidden,
}

/// Decides a billing action: `Forbidden` if the role lacks [`Permission::BillingAction`];
/// `Allowed` if the amount (by magnitude) is at most the role's limit (exactly the limit is
/// allowed); `NeedsApproval` from one minor unit above it.
pub fn decide(
    limits: &Limits,
    role: Role,
    action: Action,
    currency: &str,
    minor_digits: u32,
    amount: i64,
) -> Decision {
    if !role.can(Permission::BillingAction) {
        return Decision::Forbidden;
    }
    if limits
        .limit(role, action, currency, minor_digits)
        .covers(amount)
    {
        Decision::Allowed
    } else {
        Decision::NeedsApproval
    }
}

/// Whether `role` may approve a request for `action` of `amount`: it has
/// [`Permission::Approve`] and its own limit covers the amount. (That the approver is not
/// the requester is the app's rule: it needs identities, not roles.)
pub fn may_approve(
    limits: &Limits,
    role: Role,
    action: Action,
    currency: &str,
    minor_digits: u32,
    amount: i64,
) -> bool {
    role.can(Permission::Approve)
        && limits
            .limit(role, action, currency, minor_digits)
            .covers(amount)
}

/// The roles that may approve the request, weakest first — whom to route it to.
pub fn approvers(
    limits: &Limits,
    action: Action,
    currency: &str,
    minor_digits: u32,
    amount: i64,
) -> Vec<Role> {
    Role::ALL
        .iter()
        .copied()
        .filter(|r| may_approve(limits, *r, action, currency, minor_digits, amount))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;

    #[test]
    fn matrix() {
        for p in Permission::ALL {
            assert!(Role::Admin.can(*p), "{p}");
        }
        assert_eq!(
            Role::Agent.permissions(),
            vec![
                Permission::ReadAccount,
                Permission::ReadPaymentDetails,
                Permission::ManageTickets,
                Permission::Reply,
                Permission::BillingAction
            ]
        );
        assert!(!Role::Agent.can(Permission::Approve));
        assert!(Role::SeniorAgent.can(Permission::Approve));
        assert!(!Role::SeniorAgent.can(Permission::ViewKpis));
        assert!(Role::Supervisor.can(Permission::ViewKpis));
        assert!(Role::Supervisor.can(Permission::ViewAudit));
        assert!(!Role::Supervisor.can(Permission::ManageStaff));
        assert!(Role::Finance.can(Permission::ManageTickets));
        assert!(Role::Finance.can(Permission::Approve));
        assert!(!Role::Finance.can(Permission::ManageSettings));
        assert_eq!(Role::parse("senior_agent"), Ok(Role::SeniorAgent));
        assert!(Role::parse("root").is_err());
        assert_eq!(Action::parse("write_off"), Ok(Action::WriteOff));
        assert_eq!(Permission::ALL.len(), 10);
        assert_eq!(Action::ALL.len(), 7);
    }

    #[test]
    fn default_limits_scale_by_minor_digits() {
        assert_eq!(
            Limits::default_for(Role::Agent, Action::Refund, 2),
            Limit::UpTo(5_000)
        );
        assert_eq!(
            Limits::default_for(Role::Agent, Action::Refund, 0),
            Limit::UpTo(50)
        );
        assert_eq!(
            Limits::default_for(Role::SeniorAgent, Action::CreditNote, 3),
            Limit::UpTo(500_000)
        );
        assert_eq!(
            Limits::default_for(Role::Supervisor, Action::WriteOff, 2),
            Limit::UpTo(500_000)
        );
        assert_eq!(
            Limits::default_for(Role::Agent, Action::PaymentPlan, 2),
            Limit::UpTo(50_000)
        );
        assert_eq!(
            Limits::default_for(Role::SeniorAgent, Action::DueDateExtension, 2),
            Limit::UpTo(500_000)
        );
        assert_eq!(
            Limits::default_for(Role::Supervisor, Action::DueDateExtension, 2),
            Limit::Unlimited
        );
        assert_eq!(
            Limits::default_for(Role::Finance, Action::Refund, 2),
            Limit::Unlimited
        );
        assert_eq!(
            Limits::default_for(Role::Admin, Action::WriteOff, 2),
            Limit::Unlimited
        );
        assert_eq!(
            Limits::default_for(Role::Agent, Action::Refund, 40),
            Limit::UpTo(i64::MAX)
        );
    }

    #[test]
    fn decide_at_the_boundaries() {
        let l = Limits::new();
        let d = |role, action, amount| decide(&l, role, action, "USD", 2, amount);
        assert_eq!(d(Role::Agent, Action::GoodwillCredit, 5_000), Allowed);
        assert_eq!(d(Role::Agent, Action::GoodwillCredit, 5_001), NeedsApproval);
        assert_eq!(d(Role::Agent, Action::GoodwillCredit, -5_000), Allowed);
        assert_eq!(
            d(Role::Agent, Action::GoodwillCredit, -5_001),
            NeedsApproval
        );
        assert_eq!(d(Role::Agent, Action::GoodwillCredit, 0), Allowed);
        assert_eq!(d(Role::SeniorAgent, Action::Refund, 50_000), Allowed);
        assert_eq!(d(Role::SeniorAgent, Action::Refund, 50_001), NeedsApproval);
        assert_eq!(d(Role::Supervisor, Action::WriteOff, 500_000), Allowed);
        assert_eq!(
            d(Role::Supervisor, Action::WriteOff, 500_001),
            NeedsApproval
        );
        assert_eq!(d(Role::Finance, Action::WriteOff, i64::MAX), Allowed);
        assert_eq!(d(Role::Admin, Action::Refund, i64::MIN), Allowed);
        assert_eq!(d(Role::Agent, Action::DueDateExtension, 50_000), Allowed);
        assert_eq!(
            d(Role::Agent, Action::DueDateExtension, 50_001),
            NeedsApproval
        );
        // JPY has no minor unit: 50 yen.
        assert_eq!(
            decide(&l, Role::Agent, Action::Refund, "JPY", 0, 50),
            Allowed
        );
        assert_eq!(
            decide(&l, Role::Agent, Action::Refund, "JPY", 0, 51),
            NeedsApproval
        );
    }

    #[test]
    fn forbidden_without_the_permission() {
        // Every built-in role may act; the rule is tested through the matrix: a role
        // lacking BillingAction is Forbidden whatever the amount.
        for role in Role::ALL {
            let expected_forbidden = !role.can(Permission::BillingAction);
            assert_eq!(
                decide(&Limits::new(), *role, Action::Refund, "USD", 2, 1) == Forbidden,
                expected_forbidden
            );
        }
        assert!(Role::ALL.iter().all(|r| r.can(Permission::BillingAction)));
    }

    #[test]
    fn overrides_win_per_currency() {
        let mut l = Limits::new();
        l.set(Role::Agent, Action::Refund, "eur", Limit::UpTo(10_000));
        l.set(
            Role::Finance,
            Action::WriteOff,
            "USD",
            Limit::UpTo(1_000_000),
        );
        assert_eq!(
            l.limit(Role::Agent, Action::Refund, "EUR", 2),
            Limit::UpTo(10_000)
        );
        assert_eq!(
            l.limit(Role::Agent, Action::Refund, "USD", 2),
            Limit::UpTo(5_000)
        );
        assert_eq!(
            decide(&l, Role::Agent, Action::Refund, "EUR", 2, 10_000),
            Allowed
        );
        assert_eq!(
            decide(&l, Role::Agent, Action::Refund, "EUR", 2, 10_001),
            NeedsApproval
        );
        assert_eq!(
            decide(&l, Role::Finance, Action::WriteOff, "USD", 2, 1_000_001),
            NeedsApproval
        );
        assert_eq!(l.overrides().count(), 2);
        l.clear(Role::Agent, Action::Refund, "EUR");
        assert_eq!(
            l.limit(Role::Agent, Action::Refund, "EUR", 2),
            Limit::UpTo(5_000)
        );
        // A zero limit sends everything to approval.
        l.set(Role::Agent, Action::Discount, "USD", Limit::UpTo(0));
        assert_eq!(
            decide(&l, Role::Agent, Action::Discount, "USD", 2, 1),
            NeedsApproval
        );
        assert_eq!(
            decide(&l, Role::Agent, Action::Discount, "USD", 2, 0),
            Allowed
        );
    }

    #[test]
    fn approval_needs_the_permission_and_a_covering_limit() {
        let l = Limits::new();
        let m = |role, amount| may_approve(&l, role, Action::Refund, "USD", 2, amount);
        assert!(!m(Role::Agent, 1));
        assert!(m(Role::SeniorAgent, 50_000));
        assert!(!m(Role::SeniorAgent, 50_001));
        assert!(m(Role::Supervisor, 500_000));
        assert!(!m(Role::Supervisor, 500_001));
        assert!(m(Role::Finance, 500_001));
        assert!(m(Role::Admin, i64::MAX));
        assert_eq!(
            approvers(&l, Action::Refund, "USD", 2, 6_000),
            vec![
                Role::SeniorAgent,
                Role::Supervisor,
                Role::Finance,
                Role::Admin
            ]
        );
        assert_eq!(
            approvers(&l, Action::Refund, "USD", 2, 500_001),
            vec![Role::Finance, Role::Admin]
        );
    }
}
