//! Proration by calendar days in the account's zone; the day of the change counts as
//! remaining (BILLING.md "Proration").
//!
//! Basic 30.00 → Pro 90.00 on Jan 16 in a Jan 1 – Feb 1 period (31 days, 16 remaining):
//! credit −30.00 × 16/31 = −15.48, charge 90.00 × 16/31 = 46.45, net 30.97.

use crate::money::round_ratio;
use crate::period::{days_between, Period};
use crate::BillingError;
use chrono::NaiveDate;

/// Days of `period` remaining on `change_date`, the change day included
/// (0 if the change is at or after the end, all days if at or before the start).
pub fn remaining_days(period: &Period, change_date: NaiveDate) -> i64 {
    if change_date <= period.start_date {
        period.days()
    } else if change_date >= period.end_date {
        0
    } else {
        days_between(change_date, period.end_date)
    }
}

/// `amount_per_period × remaining / total`, rounded half away from zero.
/// The magnitude never exceeds |amount_per_period|.
///
/// Fails unless `0 ≤ remaining ≤ total` and `total > 0`.
pub fn prorate(amount_per_period: i64, remaining: i64, total: i64) -> Result<i64, BillingError> {
    if total <= 0 || remaining < 0 || remaining > total {
        return Err(BillingError::InvalidPeriod(format!(
            "cannot prorate {remaining} remaining days of {total}"
        )));
    }
    round_ratio(
        i128::from(amount_per_period) * i128::from(remaining),
        i128::from(total),
    )
}

/// The credit for the unused part of what was charged (≤ 0) and the charge for the rest
/// of the period at the new amount (≥ 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proration {
    pub remaining_days: i64,
    pub total_days: i64,
    pub credit: i64,
    pub charge: i64,
}

impl Proration {
    pub fn net(&self) -> i64 {
        self.credit + self.charge
    }
}

/// Prorates a change from `old_amount` to `new_amount` per period on `change_date`.
///
/// Both amounts are what a full period costs (≥ 0); a quantity change is the same with
/// old and new amounts of `quantity × unit price`.
pub fn prorate_change(
    period: &Period,
    change_date: NaiveDate,
    old_amount: i64,
    new_amount: i64,
) -> Result<Proration, BillingError> {
    if old_amount < 0 || new_amount < 0 {
        return Err(BillingError::InvalidQuantity(format!(
            "amounts per period {old_amount} and {new_amount}"
        )));
    }
    let total_days = period.days();
    let remaining = remaining_days(period, change_date);
    let credit = -prorate(old_amount, remaining, total_days)?;
    let charge = prorate(new_amount, remaining, total_days)?;
    Ok(Proration {
        remaining_days: remaining,
        total_days,
        credit,
        charge,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::period::parse_tz;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test date")
    }

    fn january() -> Period {
        Period::from_dates(
            ymd(2026, 1, 1),
            ymd(2026, 2, 1),
            parse_tz("Europe/Berlin").unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn proration_16_of_31_basic_to_pro() {
        let p = prorate_change(&january(), ymd(2026, 1, 16), 3000, 9000).unwrap();
        assert_eq!(p.total_days, 31);
        assert_eq!(p.remaining_days, 16);
        assert_eq!(p.credit, -1548);
        assert_eq!(p.charge, 4645);
        assert_eq!(p.net(), 3097);
    }

    #[test]
    fn change_day_counts_as_remaining() {
        let p = january();
        assert_eq!(remaining_days(&p, ymd(2026, 1, 31)), 1);
        assert_eq!(remaining_days(&p, ymd(2026, 1, 1)), 31);
        assert_eq!(remaining_days(&p, ymd(2025, 12, 1)), 31);
        assert_eq!(remaining_days(&p, ymd(2026, 2, 1)), 0);
        assert_eq!(remaining_days(&p, ymd(2026, 3, 1)), 0);
    }

    #[test]
    fn proration_counts_days_across_dst() {
        // March in Berlin is 743 hours but 31 days: 16 remaining from Mar 16.
        let p = Period::from_dates(
            ymd(2026, 3, 1),
            ymd(2026, 4, 1),
            parse_tz("Europe/Berlin").unwrap(),
        )
        .unwrap();
        let r = prorate_change(&p, ymd(2026, 3, 16), 3000, 9000).unwrap();
        assert_eq!(
            (r.remaining_days, r.total_days, r.credit, r.charge),
            (16, 31, -1548, 4645)
        );
    }

    #[test]
    fn proration_credit_rounds_half_away_from_zero() {
        // 5 × 1/2 = 2.5 → credit −3, charge 3.
        let p = Period::from_dates(ymd(2026, 1, 1), ymd(2026, 1, 3), chrono_tz::Tz::UTC).unwrap();
        let r = prorate_change(&p, ymd(2026, 1, 2), 5, 5).unwrap();
        assert_eq!((r.credit, r.charge), (-3, 3));
        assert_eq!(prorate(-5, 1, 2).unwrap(), -3);
    }

    #[test]
    fn prorate_rejects_impossible_fractions() {
        assert!(prorate(100, 1, 0).is_err());
        assert!(prorate(100, 2, 1).is_err());
        assert!(prorate(100, -1, 1).is_err());
        assert_eq!(prorate(100, 1, 1).unwrap(), 100);
        assert_eq!(
            prorate(i64::MAX, 30, 31).unwrap(),
            8_925_843_906_633_654_007
        );
        assert!(prorate_change(&january(), ymd(2026, 1, 16), -1, 1).is_err());
    }

    #[test]
    fn downgrade_and_full_period() {
        let r = prorate_change(&january(), ymd(2026, 1, 1), 9000, 3000).unwrap();
        assert_eq!((r.credit, r.charge, r.net()), (-9000, 3000, -6000));
        let r = prorate_change(&january(), ymd(2026, 2, 1), 9000, 3000).unwrap();
        assert_eq!((r.credit, r.charge), (0, 0));
    }
}
