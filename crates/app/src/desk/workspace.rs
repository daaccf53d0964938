//! The agent's ticket workspace in one read transaction: the ticket with its conversation,
//! the identity verification of its latest call or chat, the macros, the customer's account
//! (the customer-360 panel), the authority limits in the customer's currency and the
//! billing actions taken on the ticket. The console's ticket page is this and the session
//! check: two transactions instead of one per part.

use super::actions::{self, AuthorityLimits, TicketAction};
use super::identity::{self, Verification};
use super::macros::{self, Macro};
use super::tickets::{self, TicketDetail};
use super::StaffCtx;
use crate::account::{self, Account};
use crate::{AppError, Result};
use desk::authority::Permission;
use store::Db;

#[derive(Debug, Clone)]
pub struct Workspace {
    pub detail: TicketDetail,
    /// The interaction identity checks belong to: the ticket's latest call or chat.
    pub conversation: Option<String>,
    /// The latest verification of that interaction.
    pub verification: Option<Verification>,
    pub macros: Vec<Macro>,
    /// None for a ticket with no customer.
    pub account: Option<Account>,
    /// In the customer's currency (USD without a customer).
    pub limits: AuthorityLimits,
    pub actions: Vec<TicketAction>,
}

/// The workspace of ticket `id`; `sizes` says how much of the account to read.
pub async fn ticket(
    db: &Db,
    sctx: &StaffCtx,
    id: &str,
    sizes: account::Sizes,
) -> Result<Workspace> {
    sctx.require(Permission::ReadAccount)?;
    let org = sctx.org();
    let mut tx = db.read().await?;
    let t = store::desk::get_ticket(&mut tx, org, id, false)
        .await?
        .ok_or_else(|| AppError::not_found("ticket", id))?;
    let detail = tickets::detail(&mut tx, &t, sctx.ctx.now).await?;
    let conversation = detail
        .interactions
        .iter()
        .rev()
        .find(|i| i.kind == "call" || i.kind == "chat")
        .map(|i| i.id.clone());
    let verification = match &conversation {
        Some(c) => store::desk::verifications_of(&mut tx, org, c)
            .await?
            .first()
            .map(identity::view),
        None => None,
    };
    let macros = store::desk::macros(&mut tx, org)
        .await?
        .iter()
        .map(macros::view)
        .collect();
    let account = match &t.customer_id {
        Some(c) => Some(account::get_in(&mut tx, &sctx.ctx, c, sizes).await?),
        None => None,
    };
    let currency = account
        .as_ref()
        .map_or_else(|| "USD".to_string(), |a| a.holder.currency.clone());
    let limits = actions::load_limits(&mut tx, org).await?;
    let taken = store::desk::list_ticket_actions(&mut tx, org, Some(id), None)
        .await?
        .iter()
        .map(|r| actions::view(r, &limits))
        .collect();
    Ok(Workspace {
        detail,
        conversation,
        verification,
        macros,
        account,
        limits: actions::limits_view(&limits, &currency),
        actions: taken,
    })
}
