//! Desk settings: business calendars (given to teams) and SLA policies.

use super::{audit, rule, StaffCtx};
use crate::{AppError, Result};
use billing::ids::{CalendarId, SlaPolicyId};
use desk::authority::Permission;
use desk::ticket::{Category, Priority};
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::{new_id, Db};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarInput {
    pub name: String,
    /// IANA zone, e.g. "Europe/Berlin".
    pub time_zone: String,
    /// Weekday ("mon" … "sun") → ["09:00-17:00", …].
    #[serde(default)]
    pub hours: std::collections::BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub holidays: Vec<chrono::NaiveDate>,
    /// Teams whose SLA clocks run on this calendar from now on.
    #[serde(default)]
    pub teams: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CalendarView {
    pub id: String,
    pub object: &'static str,
    pub name: String,
    pub time_zone: String,
    pub hours: std::collections::BTreeMap<String, Vec<String>>,
    pub holidays: Vec<chrono::NaiveDate>,
    pub teams: Vec<String>,
}

/// Creates a calendar (checked by compiling it) and gives it to `teams`.
pub async fn create_calendar(
    db: &Db,
    sctx: &StaffCtx,
    input: CalendarInput,
) -> Result<CalendarView> {
    sctx.require(Permission::ManageSettings)?;
    if input.name.trim().is_empty() {
        return Err(AppError::missing("name"));
    }
    let spec = desk::calendar::CalendarSpec {
        time_zone: input.time_zone.clone(),
        hours: input.hours.clone(),
        holidays: input.holidays.clone(),
    };
    spec.compile().map_err(rule)?;
    let id = new_id!(CalendarId).to_string();
    let text = serde_json::to_string(&spec).map_err(|e| AppError::Internal(e.to_string()))?;
    let mut tx = db.begin().await?;
    store::desk::insert_calendar(
        &mut tx,
        &id,
        sctx.org(),
        input.name.trim(),
        &text,
        sctx.ctx.now,
    )
    .await?;
    for (i, t) in input.teams.iter().enumerate() {
        if store::desk::set_team_calendar(&mut tx, sctx.org(), t, Some(&id)).await? == 0 {
            return Err(AppError::invalid(
                format!("teams[{i}]"),
                format!("no such team: {t:?}"),
            ));
        }
    }
    let v = CalendarView {
        id: id.clone(),
        object: "business_calendar",
        name: input.name.trim().to_string(),
        time_zone: input.time_zone,
        hours: input.hours,
        holidays: input.holidays,
        teams: input.teams,
    };
    audit::record(
        &mut tx,
        sctx,
        "calendar.created",
        "business_calendar",
        &id,
        &json!(null),
        &json!(v),
    )
    .await?;
    tx.commit().await?;
    Ok(v)
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    pub name: String,
    /// The priority it applies to; none for any.
    pub priority: Option<String>,
    /// The category it applies to; none for any.
    pub category: Option<String>,
    /// Business seconds to the first public reply.
    pub first_response_secs: Option<i64>,
    /// Business seconds to resolution (pending_customer pauses it).
    pub resolution_secs: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PolicyView {
    pub id: String,
    pub object: &'static str,
    pub name: String,
    pub priority: Option<String>,
    pub category: Option<String>,
    pub first_response_secs: Option<i64>,
    pub resolution_secs: Option<i64>,
}

fn policy_view(r: &store::desk::SlaPolicyRow) -> PolicyView {
    PolicyView {
        id: r.id.clone(),
        object: "sla_policy",
        name: r.name.clone(),
        priority: (!r.priority.is_empty()).then(|| r.priority.clone()),
        category: (!r.category.is_empty()).then(|| r.category.clone()),
        first_response_secs: r.first_response_secs,
        resolution_secs: r.resolution_secs,
    }
}

/// Creates or replaces the policy for (priority, category). Tickets created afterwards use
/// it; open tickets keep the targets they were given until their priority or category
/// changes.
pub async fn save_policy(db: &Db, sctx: &StaffCtx, input: PolicyInput) -> Result<PolicyView> {
    sctx.require(Permission::ManageSettings)?;
    if let Some(p) = &input.priority {
        Priority::parse(p).map_err(|e| AppError::invalid("priority", e.to_string()))?;
    }
    if let Some(c) = &input.category {
        Category::parse(c).map_err(|e| AppError::invalid("category", e.to_string()))?;
    }
    for (name, v) in [
        ("first_response_secs", input.first_response_secs),
        ("resolution_secs", input.resolution_secs),
    ] {
        if let Some(v) = v {
            if !(60..=31_536_000).contains(&v) {
                return Err(AppError::invalid(
                    name,
                    format!("{name} must be between 60 and 31536000"),
                ));
            }
        }
    }
    if input.first_response_secs.is_none() && input.resolution_secs.is_none() {
        return Err(AppError::missing("first_response_secs"));
    }
    let row = store::desk::SlaPolicyRow {
        id: new_id!(SlaPolicyId).to_string(),
        org_id: sctx.org().to_string(),
        name: input.name.trim().to_string(),
        priority: input.priority.unwrap_or_default(),
        category: input.category.unwrap_or_default(),
        first_response_secs: input.first_response_secs,
        resolution_secs: input.resolution_secs,
        created_at: sctx.ctx.now,
    };
    let mut tx = db.begin().await?;
    store::desk::upsert_sla_policy(&mut tx, &row).await?;
    let saved = store::desk::sla_policies(&mut tx, sctx.org())
        .await?
        .into_iter()
        .find(|p| p.priority == row.priority && p.category == row.category)
        .ok_or_else(|| AppError::Internal("policy not saved".into()))?;
    let v = policy_view(&saved);
    audit::record(
        &mut tx,
        sctx,
        "sla_policy.saved",
        "sla_policy",
        &saved.id,
        &json!(null),
        &json!(v),
    )
    .await?;
    tx.commit().await?;
    Ok(v)
}

pub async fn policies(db: &Db, sctx: &StaffCtx) -> Result<Vec<PolicyView>> {
    let mut tx = db.read().await?;
    Ok(store::desk::sla_policies(&mut tx, sctx.org())
        .await?
        .iter()
        .map(policy_view)
        .collect())
}
