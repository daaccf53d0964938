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

#[cfg(test)]
mod tests {
    use super::*;

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
