//! Identity verification of callers in phone and chat contacts (DESK.md "Identity
//! verification").
//!
//! - [`start`] begins a check on a call or chat interaction of a customer: a one-time code
//!   sent to the email address or phone number on file (`email_code`, `sms_code`), or two
//!   knowledge factors checked at once (`knowledge`).
//! - [`confirm`] checks a code: each try counts; a code is valid for
//!   `desk::identity::CODE_TTL_SECS` and `MAX_CODE_ATTEMPTS` tries.
//! - Every failed attempt (wrong code, wrong factors) is written to `identity_failures`;
//!   5 within 15 minutes for a customer lock further attempts (`identity_locked`).
//! - [`require_verified`] is what billing actions and payment-detail reads call: during a
//!   call or chat it demands a live verification — verified, for that customer, on that
//!   interaction, and the interaction not ended (a verification ends with its
//!   interaction). Email, portal and API contexts (no interaction, or another kind) pass:
//!   portal users are verified by their login — and so a live chat started by a portal user
//!   (`desk::chat`) counts as verified for that user's customer.
//!
//! Codes are stored as their salted hash only (the verification id is the salt). The email
//! carrying a code is an outbound interaction that belongs to no ticket and no customer
//! timeline, so the agent handling the call does not see the code.

use super::{audit, StaffCtx};
use crate::{AppError, Result};
use billing::ids::{IdentityFailureId, InteractionId, VerificationId};
use chrono::{DateTime, TimeDelta, Utc};
use desk::authority::Permission;
use desk::identity::{Factor, OnFile, CODE_TTL_SECS, LOCKOUT_WINDOW_SECS, MAX_CODE_ATTEMPTS};
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::desk::{InteractionRow, VerificationRow};
use store::{new_id, Db, Tx};

/// Where one-time codes by SMS go. `Log` is the development provider: it writes the message
/// to the log (`tracing::info!`) instead of sending it, and is the default.
#[derive(Debug, Clone, Default)]
pub enum Sms {
    #[default]
    Log,
}

impl Sms {
    /// Sends `body` to `to`.
    pub fn send(&self, to: &str, body: &str) -> Result<()> {
        match self {
            Sms::Log => {
                tracing::info!(to, body, "sms (development provider: logged, not sent)");
                Ok(())
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartVerification {
    /// email_code, sms_code or knowledge.
    pub method: String,
    /// For `knowledge`: `[{"type": "postal_code", "value": "10115"}, {"type": "card_last4",
    /// "value": "4242"}]` (or `{"type": "last_invoice_amount", "value": 11900}`).
    #[schema(value_type = Option<Vec<Object>>)]
    pub factors: Option<Vec<Factor>>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmVerification {
    pub code: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Verification {
    pub id: String,
    pub object: &'static str,
    pub interaction: String,
    pub customer: String,
    pub method: String,
    /// Where the code went, masked (`j***@example.com`, `***4567`).
    pub sent_to: Option<String>,
    /// pending, verified or failed.
    pub status: String,
    pub attempts: i64,
    pub staff: String,
    pub created: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
}

pub(crate) fn view(r: &VerificationRow) -> Verification {
    Verification {
        id: r.id.clone(),
        object: "identity_verification",
        interaction: r.interaction_id.clone(),
        customer: r.customer_id.clone(),
        method: r.method.clone(),
        sent_to: r.sent_to.as_deref().map(mask),
        status: r.status.clone(),
        attempts: r.attempts,
        staff: r.staff_id.clone(),
        created: r.created_at,
        expires_at: r.expires_at,
        verified_at: r.verified_at,
    }
}

/// `jane@example.com` → `j***@example.com`; `+49 30 1234567` → `***4567`.
fn mask(s: &str) -> String {
    match s.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => {
            let digits: Vec<char> = s.chars().filter(|c| c.is_ascii_digit()).collect();
            let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
            format!("***{tail}")
        }
    }
}

/// A live phone or chat interaction of a customer: the context a verification belongs to.
async fn live_contact(tx: &mut Tx, org: &str, id: &str) -> Result<(InteractionRow, String)> {
    let i = store::desk::get_interaction(tx, org, id)
        .await?
        .ok_or_else(|| AppError::not_found("interaction", id))?;
    if i.kind != "call" && i.kind != "chat" {
        return Err(AppError::state(
            "not_a_live_contact",
            format!(
                "interaction {id} is a {}; identity is verified during calls and chats",
                i.kind
            ),
        ));
    }
    if i.ended_at.is_some() {
        return Err(AppError::state(
            "interaction_ended",
            format!("interaction {id} has ended; a verification lasts as long as its call or chat"),
        ));
    }
    let customer = i.customer_id.clone().ok_or_else(|| {
        AppError::state(
            "interaction_without_customer",
            format!("interaction {id} is not attached to a customer account yet"),
        )
    })?;
    Ok((i, customer))
}

async fn check_not_locked(
    tx: &mut Tx,
    org: &str,
    customer: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let since = now - TimeDelta::seconds(LOCKOUT_WINDOW_SECS);
    let failures = store::desk::identity_failures_since(tx, org, customer, since).await?;
    if let Some(until) = desk::identity::locked_until(&failures, now) {
        return Err(AppError::state(
            "identity_locked",
            format!(
                "too many failed verification attempts for this account; try again after {}",
                until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        ));
    }
    Ok(())
}

async fn record_failure(
    tx: &mut Tx,
    sctx: &StaffCtx,
    customer: &str,
    verification: &str,
    reason: &str,
) -> Result<()> {
    store::desk::insert_identity_failure(
        tx,
        new_id!(IdentityFailureId).as_str(),
        sctx.org(),
        customer,
        verification,
        reason,
        sctx.ctx.now,
    )
    .await?;
    audit::record(
        tx,
        sctx,
        "identity.failed",
        "identity_verification",
        verification,
        &json!(null),
        &json!({ "customer": customer, "reason": reason }),
    )
    .await
}

/// What the account has on file for knowledge factors.
pub async fn on_file(tx: &mut Tx, org: &str, customer: &str) -> Result<OnFile> {
    let c = store::customers::get(tx, org, customer)
        .await?
        .ok_or_else(|| AppError::not_found("customer", customer))?;
    let methods = store::payments::methods_of(tx, org, customer).await?;
    Ok(OnFile {
        postal_code: c.address_postal_code,
        card_last4: methods
            .into_iter()
            .filter_map(|m| m.card_last4.or(m.bank_last4))
            .collect(),
        last_invoice_amount: store::desk::last_finalized_invoice_total(tx, org, customer).await?,
    })
}

/// The latest verification of a call or chat interaction, if one was started.
pub async fn latest(
    db: &Db,
    sctx: &StaffCtx,
    interaction_id: &str,
) -> Result<Option<Verification>> {
    sctx.require(Permission::ReadAccount)?;
    let mut tx = db.read().await?;
    Ok(
        store::desk::verifications_of(&mut tx, sctx.org(), interaction_id)
            .await?
            .first()
            .map(view),
    )
}

/// Starts a verification with the default SMS provider ([`Sms::Log`]).
pub async fn start(
    db: &Db,
    sctx: &StaffCtx,
    interaction_id: &str,
    input: StartVerification,
) -> Result<Verification> {
    start_with(db, &Sms::default(), sctx, interaction_id, input).await
}

/// Starts a verification on a call or chat interaction. For codes the verification is
/// `pending` until [`confirm`]; knowledge factors are checked at once (verified, or a
/// failure is recorded and `identity_not_verified` returned).
pub async fn start_with(
    db: &Db,
    sms: &Sms,
    sctx: &StaffCtx,
    interaction_id: &str,
    input: StartVerification,
) -> Result<Verification> {
    sctx.require(Permission::ReadAccount)?;
    let method = input.method.as_str();
    if !matches!(method, "email_code" | "sms_code" | "knowledge") {
        return Err(AppError::invalid(
            "method",
            format!("method must be email_code, sms_code or knowledge, got {method:?}"),
        ));
    }
    if method != "knowledge" && input.factors.is_some() {
        return Err(AppError::invalid(
            "factors",
            "factors are given only with method knowledge",
        ));
    }
    let org = sctx.org().to_string();
    let now = sctx.ctx.now;
    let mut tx = db.begin().await?;
    let (interaction, customer) = live_contact(&mut tx, &org, interaction_id).await?;
    check_not_locked(&mut tx, &org, &customer, now).await?;
    let id = new_id!(VerificationId).to_string();
    let mut row = VerificationRow {
        id: id.clone(),
        org_id: org.clone(),
        interaction_id: interaction.id.clone(),
        customer_id: customer.clone(),
        method: method.to_string(),
        sent_to: None,
        code_hash: None,
        attempts: 0,
        status: "pending".into(),
        staff_id: sctx.actor_id(),
        created_at: now,
        expires_at: None,
        verified_at: None,
    };
    let mut sms_out = None;
    let mut knowledge_failed = None;
    match method {
        "knowledge" => {
            let factors = input.factors.unwrap_or_default();
            let file = on_file(&mut tx, &org, &customer).await?;
            row.attempts = 1;
            match desk::identity::check_factors(&factors, &file) {
                Ok(()) => {
                    row.status = "verified".into();
                    row.verified_at = Some(now);
                }
                Err(e) => {
                    row.status = "failed".into();
                    knowledge_failed = Some(e);
                }
            }
        }
        _ => {
            let c = store::customers::get(&mut tx, &org, &customer)
                .await?
                .ok_or_else(|| AppError::not_found("customer", &customer))?;
            let contacts = store::customers::contacts(&mut tx, &org, &customer).await?;
            let to = if method == "email_code" {
                c.email
                    .clone()
                    .or_else(|| contacts.iter().find_map(|k| k.email.clone()))
            } else {
                c.phone
                    .clone()
                    .or_else(|| contacts.iter().find_map(|k| k.phone.clone()))
            }
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                AppError::state(
                    "no_contact_on_file",
                    format!(
                        "customer {customer} has no {} on file",
                        if method == "email_code" {
                            "email address"
                        } else {
                            "phone number"
                        }
                    ),
                )
            })?;
            let code = desk::identity::code_from_random(rand::random::<u32>());
            row.code_hash = Some(desk::identity::code_hash(&code, &id));
            row.expires_at = Some(now + TimeDelta::seconds(CODE_TTL_SECS));
            row.sent_to = Some(to.clone());
            let body = format!(
                "Your verification code is {code}. It is valid for {} minutes. Never share it with anyone who calls you.",
                CODE_TTL_SECS / 60
            );
            if method == "email_code" {
                let mail = InteractionRow {
                    id: new_id!(InteractionId).to_string(),
                    org_id: org.clone(),
                    channel: "email".into(),
                    direction: "outbound".into(),
                    kind: "message".into(),
                    author_type: "system".into(),
                    to_address: Some(to),
                    subject: Some("Your verification code".into()),
                    body,
                    delivery_status: Some("queued".into()),
                    created_at: now,
                    ..Default::default()
                };
                store::desk::insert_interactions(&mut tx, std::slice::from_ref(&mail)).await?;
                crate::jobs::enqueue(
                    &mut tx,
                    &org,
                    &[crate::jobs::Task::SendDeskEmail {
                        interaction: mail.id,
                    }],
                    now,
                )
                .await?;
            } else {
                sms_out = Some((to, body));
            }
        }
    }
    store::desk::insert_verification(&mut tx, &row).await?;
    if let Some(e) = knowledge_failed {
        record_failure(&mut tx, sctx, &customer, &id, "knowledge_mismatch").await?;
        tx.commit().await?;
        return Err(super::rule(e));
    }
    let action = if row.status == "verified" {
        "identity.verified"
    } else {
        "identity.code_sent"
    };
    audit::record(
        &mut tx,
        sctx,
        action,
        "identity_verification",
        &id,
        &json!(null),
        &json!(view(&row)),
    )
    .await?;
    tx.commit().await?;
    if let Some((to, body)) = sms_out {
        sms.send(&to, &body)?;
    }
    Ok(view(&row))
}

/// Checks a one-time code. A wrong code counts an attempt and a failure; the 5th wrong try
/// fails the verification; an expired one is refused (`verification_expired`).
pub async fn confirm(
    db: &Db,
    sctx: &StaffCtx,
    verification_id: &str,
    input: ConfirmVerification,
) -> Result<Verification> {
    sctx.require(Permission::ReadAccount)?;
    let org = sctx.org().to_string();
    let now = sctx.ctx.now;
    let mut tx = db.begin().await?;
    let mut v = store::desk::get_verification(&mut tx, &org, verification_id)
        .await?
        .ok_or_else(|| AppError::not_found("identity_verification", verification_id))?;
    check_not_locked(&mut tx, &org, &v.customer_id, now).await?;
    let Some(hash) = v.code_hash.clone() else {
        return Err(AppError::state(
            "verification_not_pending",
            format!(
                "verification {} is by {}; there is no code to confirm",
                v.id, v.method
            ),
        ));
    };
    if v.status != "pending" {
        return Err(AppError::state(
            "verification_not_pending",
            format!("verification {} is {}", v.id, v.status),
        ));
    }
    let interaction = store::desk::get_interaction(&mut tx, &org, &v.interaction_id)
        .await?
        .ok_or_else(|| AppError::not_found("interaction", &v.interaction_id))?;
    if interaction.ended_at.is_some() {
        return Err(AppError::state(
            "interaction_ended",
            format!("interaction {} has ended", interaction.id),
        ));
    }
    let attempts = u32::try_from(v.attempts).unwrap_or(u32::MAX);
    if !desk::identity::code_usable(v.created_at, attempts, now) {
        v.status = "failed".into();
        store::desk::update_verification(&mut tx, &v).await?;
        tx.commit().await?;
        return Err(AppError::state(
            "verification_expired",
            "the code has expired or was tried too often; send a new one",
        ));
    }
    v.attempts += 1;
    if desk::identity::code_matches(&input.code, &v.id, &hash) {
        v.status = "verified".into();
        v.verified_at = Some(now);
        store::desk::update_verification(&mut tx, &v).await?;
        audit::record(
            &mut tx,
            sctx,
            "identity.verified",
            "identity_verification",
            &v.id,
            &json!(null),
            &json!(view(&v)),
        )
        .await?;
        tx.commit().await?;
        return Ok(view(&v));
    }
    if v.attempts >= i64::from(MAX_CODE_ATTEMPTS) {
        v.status = "failed".into();
    }
    store::desk::update_verification(&mut tx, &v).await?;
    let customer = v.customer_id.clone();
    record_failure(&mut tx, sctx, &customer, &v.id, "wrong_code").await?;
    tx.commit().await?;
    Err(AppError::state(
        "identity_not_verified",
        format!(
            "the code does not match ({} of {MAX_CODE_ATTEMPTS} tries used)",
            v.attempts
        ),
    ))
}

/// Refuses an account action during a live contact without a live verification
/// (`identity_not_verified`). `interaction_id` None, or an interaction that is not a call
/// or chat (email, portal, API), passes.
pub async fn require_verified(
    tx: &mut Tx,
    sctx: &StaffCtx,
    interaction_id: Option<&str>,
    customer_id: &str,
) -> Result<()> {
    let Some(id) = interaction_id else {
        return Ok(());
    };
    let i = store::desk::get_interaction(tx, sctx.org(), id)
        .await?
        .ok_or_else(|| AppError::not_found("interaction", id))?;
    if i.kind != "call" && i.kind != "chat" {
        return Ok(());
    }
    if store::desk::live_verification(tx, sctx.org(), id, customer_id)
        .await?
        .is_some()
    {
        return Ok(());
    }
    // Portal chats (desk::chat): a chat started by a logged-in portal user is verified by
    // that login for the user's customer, for as long as the chat's interaction lasts.
    if i.kind == "chat"
        && i.ended_at.is_none()
        && store::portal::portal_customer_of_interaction(tx, sctx.org(), id)
            .await?
            .as_deref()
            == Some(customer_id)
    {
        return Ok(());
    }
    Err(AppError::state(
        "identity_not_verified",
        if i.ended_at.is_some() {
            format!("interaction {id} has ended; its verification ended with it")
        } else {
            format!("verify the caller's identity on interaction {id} before this action")
        },
    ))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentDetail {
    pub id: String,
    pub object: &'static str,
    /// card, bank_transfer or manual.
    pub kind: String,
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub exp_month: Option<i64>,
    pub exp_year: Option<i64>,
    pub bank_name: Option<String>,
    pub is_default: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentDetails {
    pub object: &'static str,
    pub customer: String,
    pub data: Vec<PaymentDetail>,
}

/// A customer's payment methods (brand, last four, expiry) — only after
/// [`require_verified`] when asked during a call or chat.
pub async fn payment_details(
    db: &Db,
    sctx: &StaffCtx,
    customer: &str,
    interaction: Option<&str>,
) -> Result<PaymentDetails> {
    sctx.require(Permission::ReadPaymentDetails)?;
    let mut tx = db.read().await?;
    store::customers::get(&mut tx, sctx.org(), customer)
        .await?
        .ok_or_else(|| AppError::not_found("customer", customer))?;
    require_verified(&mut tx, sctx, interaction, customer).await?;
    let data = store::payments::methods_of(&mut tx, sctx.org(), customer)
        .await?
        .into_iter()
        .map(|m| PaymentDetail {
            id: m.id,
            object: "payment_detail",
            kind: m.kind,
            brand: m.card_brand,
            last4: m.card_last4.or(m.bank_last4),
            exp_month: m.card_exp_month,
            exp_year: m.card_exp_year,
            bank_name: m.bank_name,
            is_default: m.is_default,
        })
        .collect();
    Ok(PaymentDetails {
        object: "payment_details",
        customer: customer.to_string(),
        data,
    })
}
