//! Payment terms, due dates and accounts-receivable aging (BILLING.md "Payments and
//! collection").
//!
//! Terms are a number of days: 0 is "due on receipt", N is "net N". An invoice finalized on
//! local date D (the customer's zone) is due on D + N; it is overdue from the day after.
//! Aging sorts what remains on open invoices by days past the due date, counted in the
//! customer's local dates: current (not yet past due), 1–30, 31–60, 61–90, over 90.

use crate::BillingError;
use chrono::{Days, NaiveDate};
use serde::Serialize;

/// Days until an invoice is due, 0 to 365.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Terms(u32);

impl Terms {
    pub const MAX_DAYS: i64 = 365;

    pub fn days(days: i64) -> Result<Terms, BillingError> {
        if (0..=Self::MAX_DAYS).contains(&days) {
            Ok(Terms(days as u32))
        } else {
            Err(BillingError::InvalidTerms(format!(
                "days until due must be 0 (due on receipt) to {}, got {days}",
                Self::MAX_DAYS
            )))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// "due_on_receipt" or "net_N".
    pub fn label(self) -> String {
        match self.0 {
            0 => "due_on_receipt".into(),
            n => format!("net_{n}"),
        }
    }

    /// The due date of an invoice finalized on local date `finalized`.
    pub fn due_date(self, finalized: NaiveDate) -> NaiveDate {
        finalized
            .checked_add_days(Days::new(self.0 as u64))
            .unwrap_or(NaiveDate::MAX)
    }
}

/// Whether an invoice due on `due` is overdue on local date `today`.
pub fn overdue(due: NaiveDate, today: NaiveDate) -> bool {
    today > due
}

/// An aging bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Current,
    Days1To30,
    Days31To60,
    Days61To90,
    Over90,
}

impl Bucket {
    pub const ALL: [Bucket; 5] = [
        Bucket::Current,
        Bucket::Days1To30,
        Bucket::Days31To60,
        Bucket::Days61To90,
        Bucket::Over90,
    ];

    /// The bucket of an amount due on `due`, seen on `today`.
    pub fn of(due: NaiveDate, today: NaiveDate) -> Bucket {
        match (today - due).num_days() {
            i64::MIN..=0 => Bucket::Current,
            1..=30 => Bucket::Days1To30,
            31..=60 => Bucket::Days31To60,
            61..=90 => Bucket::Days61To90,
            _ => Bucket::Over90,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Current => "current",
            Bucket::Days1To30 => "1_30",
            Bucket::Days31To60 => "31_60",
            Bucket::Days61To90 => "61_90",
            Bucket::Over90 => "over_90",
        }
    }
}

/// Amounts per bucket, and their total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Aging {
    pub current: i64,
    pub days_1_30: i64,
    pub days_31_60: i64,
    pub days_61_90: i64,
    pub over_90: i64,
    pub total: i64,
}

impl Aging {
    pub fn add(&mut self, bucket: Bucket, amount: i64) {
        *match bucket {
            Bucket::Current => &mut self.current,
            Bucket::Days1To30 => &mut self.days_1_30,
            Bucket::Days31To60 => &mut self.days_31_60,
            Bucket::Days61To90 => &mut self.days_61_90,
            Bucket::Over90 => &mut self.over_90,
        } += amount;
        self.total += amount;
    }

    pub fn merge(&mut self, o: &Aging) {
        self.current += o.current;
        self.days_1_30 += o.days_1_30;
        self.days_31_60 += o.days_31_60;
        self.days_61_90 += o.days_61_90;
        self.over_90 += o.over_90;
        self.total += o.total;
    }
}

/// Checks a payment plan for an invoice with `remaining` left, agreed on local date
/// `today`: 1 to 24 instalments, each positive, on strictly later dates from today on, adding
/// up to exactly what remains.
pub fn check_plan(
    instalments: &[(NaiveDate, i64)],
    remaining: i64,
    today: NaiveDate,
) -> Result<(), BillingError> {
    let bad = |m: String| Err(BillingError::InvalidTerms(m));
    if instalments.is_empty() || instalments.len() > 24 {
        return bad(format!(
            "a plan has 1 to 24 instalments, got {}",
            instalments.len()
        ));
    }
    if instalments.iter().any(|(_, a)| *a <= 0) {
        return bad("every instalment must be positive".into());
    }
    if instalments[0].0 < today {
        return bad(format!(
            "the first instalment ({}) is before today ({today})",
            instalments[0].0
        ));
    }
    if instalments.windows(2).any(|w| w[0].0 >= w[1].0) {
        return bad("instalment dates must increase".into());
    }
    let sum = instalments
        .iter()
        .try_fold(0i64, |s, (_, a)| s.checked_add(*a))
        .ok_or(BillingError::Overflow)?;
    if sum != remaining {
        return bad(format!(
            "instalments add up to {sum}, but {remaining} remains"
        ));
    }
    Ok(())
}

/// What is still owed of each instalment when `remaining` is left: payments settle the
/// earliest instalments first, so the unpaid part is the latest ones.
pub fn unpaid_instalments(plan: &[(NaiveDate, i64)], remaining: i64) -> Vec<(NaiveDate, i64)> {
    let mut left = remaining.max(0);
    let mut out: Vec<(NaiveDate, i64)> = Vec::new();
    for (date, amount) in plan.iter().rev() {
        if left == 0 {
            break;
        }
        let a = (*amount).min(left);
        out.push((*date, a));
        left -= a;
    }
    if left > 0 {
        // More remains than the plan covers (it cannot, as plans add up to what remained
        // and amounts only shrink): the rest is due with the last instalment.
        match out.first_mut() {
            Some(last) => last.1 += left,
            None => out.push((NaiveDate::MIN, left)),
        }
    }
    out.reverse();
    out
}

/// What happens when the last retry of a failed automatic charge fails too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalAction {
    /// Cancel the invoice's subscription at once (the invoice stays open, owed).
    Cancel,
    /// Leave the subscription past_due for people to decide.
    LeavePastDue,
    /// Make the subscription `unpaid`: it keeps renewing, but its invoices are sent to be
    /// paid instead of charged, until a payment settles everything it owes.
    MarkUnpaid,
}

impl FinalAction {
    pub fn parse(s: &str) -> Result<FinalAction, BillingError> {
        match s {
            "cancel" => Ok(FinalAction::Cancel),
            "leave_past_due" => Ok(FinalAction::LeavePastDue),
            "mark_unpaid" => Ok(FinalAction::MarkUnpaid),
            other => Err(BillingError::InvalidTerms(format!(
                "final action must be cancel, leave_past_due or mark_unpaid, got {other:?}"
            ))),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            FinalAction::Cancel => "cancel",
            FinalAction::LeavePastDue => "leave_past_due",
            FinalAction::MarkUnpaid => "mark_unpaid",
        }
    }
}

/// The retry schedule of failed automatic charges: retry k (1-based) happens
/// `retry_days[k - 1]` days after the first failure; the default is +1, +3, +5, +7.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dunning {
    retry_days: Vec<u32>,
    pub final_action: FinalAction,
}

impl Default for Dunning {
    fn default() -> Self {
        Dunning {
            retry_days: vec![1, 3, 5, 7],
            final_action: FinalAction::Cancel,
        }
    }
}

impl Dunning {
    /// At most 10 retries, strictly increasing, each 1 to 60 days after the first failure.
    pub fn new(retry_days: Vec<u32>, final_action: FinalAction) -> Result<Dunning, BillingError> {
        let bad = |m: String| Err(BillingError::InvalidTerms(m));
        if retry_days.len() > 10 {
            return bad(format!("at most 10 retries, got {}", retry_days.len()));
        }
        if retry_days.iter().any(|d| !(1..=60).contains(d)) {
            return bad("each retry must be 1 to 60 days after the first failure".into());
        }
        if retry_days.windows(2).any(|w| w[0] >= w[1]) {
            return bad("retry days must increase".into());
        }
        Ok(Dunning {
            retry_days,
            final_action,
        })
    }

    pub fn retry_days(&self) -> &[u32] {
        &self.retry_days
    }

    /// When retry `attempt` (1-based) is due, or None when the schedule has run out.
    pub fn retry_at(
        &self,
        attempt: usize,
        first_failure: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let days = *self.retry_days.get(attempt.checked_sub(1)?)?;
        Some(first_failure + chrono::Duration::days(days as i64))
    }
}

/// Reminders for invoices the customer pays by invoice: days relative to the due date
/// (negative before it, 0 on the day, positive after — the overdue notices). Each is sent
/// at 09:00 in the customer's zone on its day, if the invoice is still open then. The
/// default is 3 days before, on the day, and 7 days after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reminders(Vec<i64>);

impl Default for Reminders {
    fn default() -> Self {
        Reminders(vec![-3, 0, 7])
    }
}

impl Reminders {
    /// At most 10, strictly increasing, each from 30 days before to 90 days after.
    pub fn new(days: Vec<i64>) -> Result<Reminders, BillingError> {
        let bad = |m: String| Err(BillingError::InvalidTerms(m));
        if days.len() > 10 {
            return bad(format!("at most 10 reminders, got {}", days.len()));
        }
        if days.iter().any(|d| !(-30..=90).contains(d)) {
            return bad(
                "each reminder must be from 30 days before to 90 days after the due date".into(),
            );
        }
        if days.windows(2).any(|w| w[0] >= w[1]) {
            return bad("reminder days must increase".into());
        }
        Ok(Reminders(days))
    }

    /// Parses the stored form, `"-3,0,7"` (empty: no reminders).
    pub fn parse(s: &str) -> Result<Reminders, BillingError> {
        let days = s
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| {
                d.parse::<i64>()
                    .map_err(|e| BillingError::InvalidTerms(format!("reminder day {d:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Reminders::new(days)
    }

    pub fn days(&self) -> &[i64] {
        &self.0
    }

    pub fn to_text(&self) -> String {
        self.0
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The instant reminder `days` for an invoice due on `due` is sent: nine hours after
    /// the local midnight of `due + days` in `tz` (09:00, or 08:00/10:00 on a day the
    /// clocks change).
    pub fn at(due: NaiveDate, days: i64, tz: chrono_tz::Tz) -> chrono::DateTime<chrono::Utc> {
        let day = due + chrono::Duration::days(days);
        crate::period::local_midnight(day, tz) + chrono::Duration::hours(9)
    }

    /// `invoice.reminder` before and on the due date, `invoice.overdue` after it.
    pub fn event_type(days: i64) -> &'static str {
        if days > 0 {
            "invoice.overdue"
        } else {
            "invoice.reminder"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminders() {
        assert_eq!(Reminders::default().days(), &[-3, 0, 7]);
        assert_eq!(Reminders::parse("-3, 0,7").unwrap(), Reminders::default());
        assert_eq!(Reminders::parse("").unwrap().days(), &[] as &[i64]);
        assert!(Reminders::parse("0,-3").is_err(), "must increase");
        assert!(Reminders::parse("-31").is_err());
        assert!(Reminders::parse("91").is_err());
        assert!(Reminders::parse("x").is_err());
        assert_eq!(Reminders::default().to_text(), "-3,0,7");
        let tz: chrono_tz::Tz = "Europe/Moscow".parse().unwrap();
        assert_eq!(
            Reminders::at(d("2026-12-10"), -3, tz).to_rfc3339(),
            "2026-12-07T06:00:00+00:00"
        );
        assert_eq!(Reminders::event_type(0), "invoice.reminder");
        assert_eq!(Reminders::event_type(-3), "invoice.reminder");
        assert_eq!(Reminders::event_type(1), "invoice.overdue");
    }

    #[test]
    fn plans() {
        let today = d("2026-05-10");
        let p = [
            (d("2026-05-15"), 300),
            (d("2026-06-15"), 300),
            (d("2026-07-15"), 400),
        ];
        assert!(check_plan(&p, 1000, today).is_ok());
        assert!(check_plan(&p, 999, today).is_err());
        assert!(
            check_plan(&p, 1000, d("2026-05-16")).is_err(),
            "first date in the past"
        );
        assert!(check_plan(
            &[(d("2026-06-15"), 500), (d("2026-05-15"), 500)],
            1000,
            today
        )
        .is_err());
        assert!(check_plan(
            &[(d("2026-06-15"), 1000), (d("2026-07-15"), 0)],
            1000,
            today
        )
        .is_err());
        assert!(check_plan(&[], 0, today).is_err());
        // 1000 due, 450 paid: the first instalment and half of the second are settled.
        assert_eq!(
            unpaid_instalments(&p, 550),
            vec![(d("2026-06-15"), 150), (d("2026-07-15"), 400)]
        );
        assert_eq!(unpaid_instalments(&p, 1000), p.to_vec());
        assert_eq!(unpaid_instalments(&p, 0), vec![]);
        assert_eq!(unpaid_instalments(&p, 1100)[2], (d("2026-07-15"), 500));
    }

    #[test]
    fn dunning_schedule() {
        let t0: chrono::DateTime<chrono::Utc> = "2026-03-01T10:00:00Z".parse().unwrap();
        let d = Dunning::default();
        let at: Vec<_> = (1..=5).map(|k| d.retry_at(k, t0)).collect();
        assert_eq!(at[0], Some(t0 + chrono::Duration::days(1)));
        assert_eq!(at[3], Some(t0 + chrono::Duration::days(7)));
        assert_eq!(at[4], None, "four retries, then the final action");
        assert_eq!(d.retry_at(0, t0), None);
        assert_eq!(d.final_action, FinalAction::Cancel);
        assert!(Dunning::new(vec![3, 1], FinalAction::Cancel).is_err());
        assert!(Dunning::new(vec![0], FinalAction::Cancel).is_err());
        assert!(Dunning::new(vec![61], FinalAction::Cancel).is_err());
        assert!(Dunning::new(vec![], FinalAction::LeavePastDue)
            .unwrap()
            .retry_at(1, t0)
            .is_none());
        assert_eq!(
            FinalAction::parse("leave_past_due").unwrap().as_str(),
            "leave_past_due"
        );
        assert!(FinalAction::parse("unpaid").is_err());
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn terms() {
        assert_eq!(
            Terms::days(0).unwrap().due_date(d("2026-01-31")),
            d("2026-01-31")
        );
        assert_eq!(
            Terms::days(30).unwrap().due_date(d("2026-01-31")),
            d("2026-03-02")
        );
        assert_eq!(Terms::days(30).unwrap().label(), "net_30");
        assert_eq!(Terms::days(0).unwrap().label(), "due_on_receipt");
        assert!(Terms::days(-1).is_err() && Terms::days(366).is_err());
        assert!(!overdue(d("2026-03-02"), d("2026-03-02")));
        assert!(overdue(d("2026-03-02"), d("2026-03-03")));
    }

    #[test]
    fn buckets_at_their_edges() {
        let due = d("2026-01-01");
        let on = |s: &str| Bucket::of(due, d(s));
        assert_eq!(on("2025-12-01"), Bucket::Current);
        assert_eq!(on("2026-01-01"), Bucket::Current);
        assert_eq!(on("2026-01-02"), Bucket::Days1To30);
        assert_eq!(on("2026-01-31"), Bucket::Days1To30);
        assert_eq!(on("2026-02-01"), Bucket::Days31To60);
        assert_eq!(on("2026-03-02"), Bucket::Days31To60);
        assert_eq!(on("2026-03-03"), Bucket::Days61To90);
        assert_eq!(on("2026-04-01"), Bucket::Days61To90);
        assert_eq!(on("2026-04-02"), Bucket::Over90);
    }

    #[test]
    fn aging_totals_add_up() {
        let mut a = Aging::default();
        for (i, b) in Bucket::ALL.iter().enumerate() {
            a.add(*b, (i as i64 + 1) * 100);
        }
        assert_eq!(a.total, 1500);
        let mut m = Aging::default();
        m.merge(&a);
        m.merge(&a);
        assert_eq!((m.over_90, m.total), (1000, 3000));
    }
}
