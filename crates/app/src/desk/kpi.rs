//! Desk KPIs for a date range, team, agent or channel (DESK.md "KPIs"), and the public
//! CSAT answer.
//!
//! The store gathers plain facts (`store::kpi`); the arithmetic is `desk::kpi`'s, so every
//! report uses one definition. The rules this module adds, exactly:
//!
//! - **Range.** `from` and `to` are UTC calendar dates, both included: instants in
//!   `[from 00:00Z, to + 1 day 00:00Z)`. At most 366 days. Days and months below are UTC.
//! - **FCR.** The tickets *first* solved in the range: the first status change to
//!   `resolved` (or `closed`) falls in it, so a ticket reopened and solved again counts
//!   once, in the period of its first resolution, and old reports do not change. Counted
//!   up to that first resolution: public agent replies (outbound `message`s by staff — not
//!   the automatic acknowledgement or survey) and call/chat sessions with an agent
//!   (`author_type` staff). Reopened within 7 days: a move from `resolved` to an unsolved
//!   status within 7 days after the first resolution that was followed (at the same
//!   instant or later) by an agent reply or session — a customer's "thank you" re-resolved
//!   without another reply is not a reopen. Merged tickets and tickets with no agent reply
//!   or session at all (spam, withdrawn) are left out of both counts.
//! - **AHT.** Contacts handled in the range (by the interaction's `created_at`): each call
//!   or chat session with an agent (`handling_secs`, else talk + hold + wrap; a session
//!   with no recorded time yet is skipped) and each public agent reply that recorded
//!   `handling_secs`. Replies without a recorded time are not counted (as zero they would
//!   drag the average down).
//! - **CSAT.** Surveys sent (that is, tickets resolved) in the range; answered ones only;
//!   4–5 of 5 satisfied; overall and per agent who resolved (`csat_surveys.agent_id`).
//! - **First response time.** Tickets whose first public agent reply (`first_response_at`)
//!   is in the range; **time to resolution**: tickets first solved in the range (as FCR).
//!   Both from the ticket's creation, in business seconds of the ticket's team calendar
//!   (24×7 when the team has none) — time in `pending_customer` is not taken off (that is
//!   the SLA clock's rule, not the KPI's); merged tickets left out; median and 90th
//!   percentile by nearest rank.
//! - **Billing accuracy.** Each UTC month overlapping the range: invoices finalized that
//!   month, and of those the ones with a credit note of reason `billing_error` (issued any
//!   time up to the report). Organisation-wide: team, agent and channel do not apply.
//! - **Contact volume.** A contact is an inbound message that is not automatic mail
//!   (bounces, auto-replies, list mail) or a call or chat session (answered or not), per
//!   UTC day and the interaction's channel. Billing contacts are contacts on tickets of a
//!   billing category ([`BILLING_CATEGORIES`]), per 1,000 invoices finalized in the range
//!   (organisation-wide). Top categories: tickets created in the range per category. Top
//!   invoice line types: the line kinds of invoices linked to tickets created in the range,
//!   counting each ticket once per kind.
//! - **Filters.** `team`: the ticket's current team everywhere (interactions without a
//!   ticket are then left out). `channel`: the ticket's channel for FCR, first response,
//!   resolution, CSAT and categories; the interaction's for AHT and contacts. `agent`: the
//!   resolver (`resolved_by`, else the assignee) for FCR and time to resolution; the author
//!   of the first public reply for first response time; the interaction's author for AHT;
//!   the survey's agent for CSAT; the ticket's assignee for contacts, categories and line
//!   types.

use super::StaffCtx;
use crate::{AppError, Result};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use desk::authority::Permission;
use desk::calendar::Calendar;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use store::kpi::Filter;
use store::{Db, Tx};

/// Ticket categories whose contacts are billing contacts (the bill itself confused or
/// troubled the customer).
pub const BILLING_CATEGORIES: [&str; 4] = [
    "invoice_discrepancy",
    "payment_issue",
    "refund_adjustment",
    "payment_terms",
];

/// The longest range a report covers, in days.
pub const MAX_DAYS: i64 = 366;

/// A KPI report request: UTC dates `from..=to` and optional filters.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KpiQuery {
    /// First day (UTC), included.
    pub from: NaiveDate,
    /// Last day (UTC), included.
    pub to: NaiveDate,
    /// A team key.
    pub team: Option<String>,
    /// A staff id.
    pub agent: Option<String>,
    /// email, chat, phone, portal or api.
    pub channel: Option<String>,
}

/// A share as its counts and value.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RatioView {
    pub numerator: u64,
    pub denominator: u64,
    /// numerator ÷ denominator; null with nothing to divide by.
    pub value: Option<f64>,
}

impl From<desk::kpi::Ratio> for RatioView {
    fn from(r: desk::kpi::Ratio) -> Self {
        RatioView {
            numerator: r.numerator,
            denominator: r.denominator,
            value: r.value(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AhtView {
    /// Contacts handled.
    pub contacts: u64,
    /// Sum of their handling seconds.
    pub handling_secs: i64,
    /// Average handling seconds; null without contacts.
    pub average_secs: Option<f64>,
}

/// CSAT of the agent who resolved.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AgentCsat {
    /// A staff id; null for tickets resolved by nobody in particular.
    pub agent: Option<String>,
    pub csat: RatioView,
    /// Surveys sent, answered or not.
    pub surveys_sent: u64,
}

/// Business-time durations in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DurationStats {
    pub count: u64,
    pub median_secs: Option<i64>,
    pub p90_secs: Option<i64>,
}

impl From<desk::kpi::Percentiles> for DurationStats {
    fn from(p: desk::kpi::Percentiles) -> Self {
        DurationStats {
            count: p.count as u64,
            median_secs: p.median,
            p90_secs: p.p90,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MonthAccuracy {
    /// "2024-06" (UTC).
    pub month: String,
    /// Invoices finalized in the month.
    pub finalized: u64,
    /// Of those, credited with reason billing_error.
    pub credited_billing_error: u64,
    /// 1 − credited ÷ finalized; null when nothing was finalized.
    pub accuracy: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DayContacts {
    /// UTC date.
    pub date: NaiveDate,
    pub channel: String,
    pub contacts: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KeyCount {
    pub key: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ContactVolume {
    pub total: u64,
    /// Per channel over the range, most first.
    pub by_channel: Vec<KeyCount>,
    /// Per UTC day and channel (days without contacts are absent).
    pub by_day: Vec<DayContacts>,
    /// Contacts on tickets of a billing category.
    pub billing_contacts: u64,
    /// Invoices finalized in the range (organisation-wide).
    pub invoices_finalized: u64,
    /// billing_contacts × 1000 ÷ invoices_finalized; null without invoices.
    pub billing_contacts_per_thousand_invoices: Option<f64>,
    /// Tickets created in the range per category, most first.
    pub top_categories: Vec<KeyCount>,
    /// Line kinds of invoices linked to tickets created in the range (tickets per kind),
    /// most first.
    pub top_line_types: Vec<KeyCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KpiReport {
    pub object: &'static str,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub team: Option<String>,
    pub agent: Option<String>,
    pub channel: Option<String>,
    /// First contact resolution.
    pub fcr: RatioView,
    /// Average handling time.
    pub aht: AhtView,
    pub csat: RatioView,
    pub csat_by_agent: Vec<AgentCsat>,
    /// Business seconds from creation to the first public agent reply.
    pub first_response: DurationStats,
    /// Business seconds from creation to the first resolution.
    pub resolution: DurationStats,
    /// Per UTC month overlapping the range.
    pub billing_accuracy: Vec<MonthAccuracy>,
    pub contacts: ContactVolume,
}

fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

fn next_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(d)
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Checks the query; returns the filter and the instants `[from, to)`.
async fn check(
    tx: &mut Tx,
    org: &str,
    q: &KpiQuery,
) -> Result<(Filter, DateTime<Utc>, DateTime<Utc>)> {
    if q.to < q.from {
        return Err(AppError::invalid("to", "to must not be before from"));
    }
    if (q.to - q.from).num_days() + 1 > MAX_DAYS {
        return Err(AppError::invalid(
            "to",
            format!("a report covers at most {MAX_DAYS} days"),
        ));
    }
    let f = Filter {
        team: non_empty(&q.team),
        agent: non_empty(&q.agent),
        channel: non_empty(&q.channel),
    };
    if let Some(c) = &f.channel {
        desk::ticket::Channel::parse(c).map_err(|e| AppError::invalid("channel", e.to_string()))?;
    }
    if let Some(t) = &f.team {
        if !store::desk::team_exists(tx, org, t).await? {
            return Err(AppError::invalid("team", format!("no such team: {t:?}")));
        }
    }
    if let Some(a) = &f.agent {
        if store::desk::get_staff(tx, org, a).await?.is_none() {
            return Err(AppError::invalid(
                "agent",
                format!("no such staff user: {a}"),
            ));
        }
    }
    let from = midnight(q.from);
    let to = midnight(q.to + Duration::days(1));
    Ok((f, from, to))
}

/// Team calendars, loaded once per team.
struct Calendars(HashMap<String, Calendar>);

impl Calendars {
    async fn business_secs(
        &mut self,
        tx: &mut Tx,
        org: &str,
        team: &str,
        a: DateTime<Utc>,
        b: DateTime<Utc>,
    ) -> Result<i64> {
        if !self.0.contains_key(team) {
            let cal = super::tickets::team_calendar(tx, org, team).await?;
            self.0.insert(team.to_string(), cal);
        }
        Ok(self.0[team].business_seconds(a, b))
    }
}

/// The FCR facts of one ticket first solved in the range (see the module rules).
fn fcr_facts(r: &store::kpi::Resolved) -> desk::kpi::ResolvedTicket {
    let until = |session: bool| {
        r.agent_contacts
            .iter()
            .filter(|(at, s)| *s == session && *at <= r.resolved_at)
            .count() as u32
    };
    let window_end = r.resolved_at + Duration::days(7);
    let reopened = r.reopens.iter().any(|&ro| {
        ro >= r.resolved_at && ro <= window_end && r.agent_contacts.iter().any(|(at, _)| *at >= ro)
    });
    desk::kpi::ResolvedTicket {
        public_agent_replies: until(false),
        sessions: until(true),
        reopened_within_7d: reopened,
        closed_without_agent_reply: r.merged || r.agent_contacts.is_empty(),
    }
}

fn keycounts(rows: Vec<(String, i64)>) -> Vec<KeyCount> {
    rows.into_iter()
        .map(|(key, n)| KeyCount {
            key,
            count: n.max(0) as u64,
        })
        .collect()
}

/// The KPI report (needs `view_kpis`). Rules: the module documentation.
pub async fn report(db: &Db, sctx: &StaffCtx, q: KpiQuery) -> Result<KpiReport> {
    sctx.require(Permission::ViewKpis)?;
    let org = sctx.org().to_string();
    let mut tx = db.read().await?;
    let (f, from, to) = check(&mut tx, &org, &q).await?;
    let mut cals = Calendars(HashMap::new());

    // FCR and time to resolution.
    let resolved = store::kpi::resolved(&mut tx, &org, from, to, &f).await?;
    let facts: Vec<desk::kpi::ResolvedTicket> = resolved.iter().map(fcr_facts).collect();
    let fcr = desk::kpi::fcr(&facts);
    let mut ttr = Vec::new();
    for r in resolved.iter().filter(|r| !r.merged) {
        ttr.push(
            cals.business_secs(&mut tx, &org, &r.team, r.created_at, r.resolved_at)
                .await?,
        );
    }

    // First response time.
    let mut frt = Vec::new();
    for (team, created, first) in store::kpi::first_responses(&mut tx, &org, from, to, &f).await? {
        frt.push(
            cals.business_secs(&mut tx, &org, &team, created, first)
                .await?,
        );
    }

    // AHT.
    let secs: Vec<i64> = store::kpi::handled(&mut tx, &org, from, to, &f)
        .await?
        .into_iter()
        .filter_map(|h| match h.kind.as_str() {
            "call" | "chat" => h.handling_secs.or_else(|| {
                let parts = [h.talk_secs, h.hold_secs, h.wrap_secs];
                parts
                    .iter()
                    .any(Option::is_some)
                    .then(|| parts.iter().flatten().sum())
            }),
            _ => h.handling_secs,
        })
        .collect();
    let aht = AhtView {
        contacts: secs.len() as u64,
        handling_secs: secs.iter().sum(),
        average_secs: desk::kpi::aht(&secs),
    };

    // CSAT, overall and per resolving agent.
    let surveys = store::kpi::surveys(&mut tx, &org, from, to, &f).await?;
    let rating = |r: Option<i64>| r.and_then(|r| u8::try_from(r).ok());
    let all: Vec<Option<u8>> = surveys.iter().map(|(_, r)| rating(*r)).collect();
    let mut per_agent: BTreeMap<Option<String>, Vec<Option<u8>>> = BTreeMap::new();
    for (agent, r) in &surveys {
        per_agent.entry(agent.clone()).or_default().push(rating(*r));
    }
    let csat_by_agent = per_agent
        .into_iter()
        .map(|(agent, ratings)| AgentCsat {
            agent,
            surveys_sent: ratings.len() as u64,
            csat: desk::kpi::csat(&ratings).into(),
        })
        .collect();

    // Billing accuracy per month overlapping the range.
    let first_month = month_start(q.from);
    let end_month = next_month(month_start(q.to));
    let found: HashMap<String, (i64, i64)> =
        store::kpi::finalized_by_month(&mut tx, &org, midnight(first_month), midnight(end_month))
            .await?
            .into_iter()
            .map(|(m, n, c)| (m, (n, c)))
            .collect();
    let mut billing_accuracy = Vec::new();
    let mut m = first_month;
    while m < end_month {
        let key = m.format("%Y-%m").to_string();
        let (n, c) = found.get(&key).copied().unwrap_or((0, 0));
        let (n, c) = (n.max(0) as u64, c.max(0) as u64);
        billing_accuracy.push(MonthAccuracy {
            month: key,
            finalized: n,
            credited_billing_error: c,
            accuracy: desk::kpi::billing_accuracy(n, c),
        });
        m = next_month(m);
    }

    // Contact volume.
    let mut by_day = Vec::new();
    let mut channels: BTreeMap<String, u64> = BTreeMap::new();
    for (day, channel, n) in store::kpi::contacts_by_day(&mut tx, &org, from, to, &f).await? {
        let date = NaiveDate::parse_from_str(&day, "%Y-%m-%d")
            .map_err(|e| AppError::Internal(format!("contact day {day:?}: {e}")))?;
        let n = n.max(0) as u64;
        *channels.entry(channel.clone()).or_default() += n;
        by_day.push(DayContacts {
            date,
            channel,
            contacts: n,
        });
    }
    let mut by_channel: Vec<KeyCount> = channels
        .into_iter()
        .map(|(key, count)| KeyCount { key, count })
        .collect();
    by_channel.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
    let total = by_channel.iter().map(|c| c.count).sum();
    let billing_contacts =
        store::kpi::contacts_in_categories(&mut tx, &org, from, to, &f, &BILLING_CATEGORIES)
            .await?
            .max(0) as u64;
    let invoices_finalized = store::kpi::finalized_count(&mut tx, &org, from, to)
        .await?
        .max(0) as u64;
    let contacts = ContactVolume {
        total,
        by_channel,
        by_day,
        billing_contacts,
        invoices_finalized,
        billing_contacts_per_thousand_invoices: desk::kpi::per_thousand(
            billing_contacts,
            invoices_finalized,
        ),
        top_categories: keycounts(store::kpi::categories(&mut tx, &org, from, to, &f).await?),
        top_line_types: keycounts(store::kpi::line_kinds(&mut tx, &org, from, to, &f).await?),
    };

    Ok(KpiReport {
        object: "kpi_report",
        from: q.from,
        to: q.to,
        team: f.team,
        agent: f.agent,
        channel: f.channel,
        fcr: fcr.into(),
        aht,
        csat: desk::kpi::csat(&all).into(),
        csat_by_agent,
        first_response: desk::kpi::percentiles(&mut frt).into(),
        resolution: desk::kpi::percentiles(&mut ttr).into(),
        billing_accuracy,
        contacts,
    })
}

fn num(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn int(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The report as CSV (RFC 4180), one line per figure:
/// `metric,key,numerator,denominator,value`. `value` is the figure itself (a share, seconds,
/// a count or contacts per 1,000 invoices); empty when undefined. Text cells are quoted and
/// defused against spreadsheet formulas.
pub fn report_csv(r: &KpiReport) -> String {
    use crate::reports::csv_field;
    let mut out = String::from("metric,key,numerator,denominator,value\r\n");
    let mut line = |metric: &str, key: &str, n: String, d: String, v: String| {
        out.push_str(&format!(
            "{},{},{},{},{}\r\n",
            csv_field(metric),
            csv_field(key),
            n,
            d,
            v
        ));
    };
    let ratio = |x: &RatioView| {
        (
            x.numerator.to_string(),
            x.denominator.to_string(),
            num(x.value),
        )
    };
    let (n, d, v) = ratio(&r.fcr);
    line("fcr", "", n, d, v);
    line(
        "aht_secs",
        "",
        r.aht.handling_secs.to_string(),
        r.aht.contacts.to_string(),
        num(r.aht.average_secs),
    );
    let (n, d, v) = ratio(&r.csat);
    line("csat", "", n, d, v);
    for a in &r.csat_by_agent {
        let (n, d, v) = ratio(&a.csat);
        line("csat_agent", a.agent.as_deref().unwrap_or(""), n, d, v);
    }
    for (name, s) in [
        ("first_response_secs", &r.first_response),
        ("resolution_secs", &r.resolution),
    ] {
        line(
            name,
            "median",
            String::new(),
            s.count.to_string(),
            int(s.median_secs),
        );
        line(
            name,
            "p90",
            String::new(),
            s.count.to_string(),
            int(s.p90_secs),
        );
    }
    for m in &r.billing_accuracy {
        line(
            "billing_accuracy",
            &m.month,
            (m.finalized - m.credited_billing_error.min(m.finalized)).to_string(),
            m.finalized.to_string(),
            num(m.accuracy),
        );
    }
    let c = &r.contacts;
    line(
        "contacts",
        "",
        String::new(),
        String::new(),
        c.total.to_string(),
    );
    for ch in &c.by_channel {
        line(
            "contacts_channel",
            &ch.key,
            String::new(),
            String::new(),
            ch.count.to_string(),
        );
    }
    for d in &c.by_day {
        line(
            "contacts_day",
            &format!("{} {}", d.date, d.channel),
            String::new(),
            String::new(),
            d.contacts.to_string(),
        );
    }
    line(
        "billing_contacts_per_1000_invoices",
        "",
        c.billing_contacts.to_string(),
        c.invoices_finalized.to_string(),
        num(c.billing_contacts_per_thousand_invoices),
    );
    for k in &c.top_categories {
        line(
            "category",
            &k.key,
            String::new(),
            String::new(),
            k.count.to_string(),
        );
    }
    for k in &c.top_line_types {
        line(
            "line_type",
            &k.key,
            String::new(),
            String::new(),
            k.count.to_string(),
        );
    }
    out
}

// ---------------------------------------------------------------------------------------
// The CSAT answer

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CsatAnswer {
    /// 1 to 5.
    pub rating: i64,
    /// Optional, at most 2,000 characters.
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CsatResponse {
    pub object: &'static str,
    pub rating: i64,
    pub comment: Option<String>,
    pub answered: DateTime<Utc>,
}

/// Records the customer's answer to a CSAT survey. Public: the token from the survey email
/// (`/csat/<token>`) is the credential; it is looked up by its hash. A rating outside 1–5
/// is `invalid` (`rating`); an unknown token is `not_found`; a second answer is refused
/// (`survey_already_answered`).
pub async fn answer_survey(
    db: &Db,
    token: &str,
    rating: i64,
    comment: Option<&str>,
    now: DateTime<Utc>,
) -> Result<CsatResponse> {
    check_rating(rating)?;
    let token = token.trim();
    if token.is_empty() || token.len() > 200 {
        return Err(AppError::not_found("csat_survey", "(token)"));
    }
    let survey = {
        let mut tx = db.read().await?;
        store::desk::survey_by_token(&mut tx, &crate::orgs::hash_key(token))
            .await?
            .ok_or_else(|| AppError::not_found("csat_survey", "(token)"))?
    };
    answer_survey_row(db, &survey, rating, comment, now).await
}

/// A rating is 1, 2, 3, 4 or 5 (`invalid`, `rating`).
pub fn check_rating(rating: i64) -> Result<()> {
    if (1..=5).contains(&rating) {
        Ok(())
    } else {
        Err(AppError::invalid(
            "rating",
            "rating must be 1, 2, 3, 4 or 5",
        ))
    }
}

/// Records the answer to a survey already found (by its token, or by the ticket of the
/// signed-in customer in the portal). The same checks as `answer_survey`.
pub async fn answer_survey_row(
    db: &Db,
    survey: &store::desk::SurveyRow,
    rating: i64,
    comment: Option<&str>,
    now: DateTime<Utc>,
) -> Result<CsatResponse> {
    check_rating(rating)?;
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > 2000) {
        return Err(AppError::invalid(
            "comment",
            "a comment has at most 2000 characters",
        ));
    }
    let already = || {
        AppError::state(
            "survey_already_answered",
            "this survey has already been answered; thank you",
        )
    };
    if survey.answered_at.is_some() {
        return Err(already());
    }
    let mut tx = db.begin().await?;
    if store::desk::answer_survey(&mut tx, &survey.id, rating, comment, now).await? == 0 {
        return Err(already());
    }
    tx.commit().await?;
    Ok(CsatResponse {
        object: "csat_response",
        rating,
        comment: comment.map(str::to_string),
        answered: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> KpiReport {
        let ratio = RatioView {
            numerator: 0,
            denominator: 0,
            value: None,
        };
        let none = DurationStats {
            count: 0,
            median_secs: None,
            p90_secs: None,
        };
        KpiReport {
            object: "kpi_report",
            from: NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2024, 6, 30).unwrap(),
            team: None,
            agent: None,
            channel: None,
            fcr: ratio.clone(),
            aht: AhtView {
                contacts: 0,
                handling_secs: 0,
                average_secs: None,
            },
            csat: ratio,
            csat_by_agent: vec![],
            first_response: none.clone(),
            resolution: none,
            billing_accuracy: vec![],
            contacts: ContactVolume {
                total: 0,
                by_channel: vec![],
                by_day: vec![],
                billing_contacts: 0,
                invoices_finalized: 0,
                billing_contacts_per_thousand_invoices: None,
                top_categories: vec![],
                top_line_types: vec![],
            },
        }
    }

    #[test]
    fn csv_cells_are_defused_and_undefined_values_empty() {
        let mut r = empty();
        r.contacts.top_categories = vec![KeyCount {
            key: "=HYPERLINK(\"x\")".into(),
            count: 2,
        }];
        r.csat_by_agent = vec![AgentCsat {
            agent: Some("@stf_1".into()),
            csat: RatioView {
                numerator: 1,
                denominator: 2,
                value: Some(0.5),
            },
            surveys_sent: 3,
        }];
        let csv = report_csv(&r);
        assert!(
            csv.starts_with("metric,key,numerator,denominator,value\r\nfcr,,0,0,\r\n"),
            "{csv}"
        );
        assert!(
            csv.contains("category,\"'=HYPERLINK(\"\"x\"\")\",,,2\r\n"),
            "{csv}"
        );
        assert!(csv.contains("csat_agent,'@stf_1,1,2,0.5\r\n"), "{csv}");
        assert!(csv.contains("first_response_secs,median,,0,\r\n"), "{csv}");
        assert!(
            csv.contains("billing_contacts_per_1000_invoices,,0,0,\r\n"),
            "{csv}"
        );
    }

    #[test]
    fn months_step_across_the_year() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(month_start(d(2024, 2, 29)), d(2024, 2, 1));
        assert_eq!(next_month(d(2024, 12, 1)), d(2025, 1, 1));
        assert_eq!(next_month(d(2024, 1, 1)), d(2024, 2, 1));
    }
}
