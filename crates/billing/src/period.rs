//! Billing periods: calendar stepping from an anchor day, local midnights in the account's
//! IANA zone, and day counting that is right across DST changes.
//!
//! Rules (BILLING.md "Time and billing periods"):
//! - Boundaries are local midnights in the account's zone, stored as UTC instants. Where a
//!   zone skips midnight (a DST change at 00:00), the boundary is the first instant of that
//!   local day.
//! - Boundary k is always computed from the anchor, never from boundary k−1, so a Jan 31
//!   monthly anchor gives Jan 31, Feb 28 (29 in leap years), Mar 31, Apr 30, …; a yearly
//!   Feb 29 anchor gives Feb 28 in other years.
//! - Day counts are counts of calendar days, never of 24-hour spans.

use crate::BillingError;
use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The unit of a recurring interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntervalUnit {
    Day,
    Week,
    Month,
    Year,
}

impl IntervalUnit {
    pub fn as_str(&self) -> &'static str {
        match self {
            IntervalUnit::Day => "day",
            IntervalUnit::Week => "week",
            IntervalUnit::Month => "month",
            IntervalUnit::Year => "year",
        }
    }

    pub fn parse(s: &str) -> Result<Self, BillingError> {
        match s {
            "day" => Ok(IntervalUnit::Day),
            "week" => Ok(IntervalUnit::Week),
            "month" => Ok(IntervalUnit::Month),
            "year" => Ok(IntervalUnit::Year),
            other => Err(BillingError::InvalidInterval(format!(
                "unknown interval {other:?}: use day, week, month or year"
            ))),
        }
    }
}

/// A recurring interval such as "every 3 months". `count` is 1..=365 for days, 1..=52 for
/// weeks, 1..=12 for months and 1..=3 for years (Stripe's limits: at most three years).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Interval {
    unit: IntervalUnit,
    count: u32,
}

impl Interval {
    pub fn new(unit: IntervalUnit, count: u32) -> Result<Self, BillingError> {
        let max = match unit {
            IntervalUnit::Day => 365,
            IntervalUnit::Week => 52,
            IntervalUnit::Month => 12,
            IntervalUnit::Year => 3,
        };
        if count == 0 || count > max {
            return Err(BillingError::InvalidInterval(format!(
                "every {count} {}s: the count must be 1 to {max}",
                unit.as_str()
            )));
        }
        Ok(Interval { unit, count })
    }
    pub fn unit(&self) -> IntervalUnit {
        self.unit
    }
    pub fn count(&self) -> u32 {
        self.count
    }
}

/// Parses an IANA zone name.
pub fn parse_tz(name: &str) -> Result<Tz, BillingError> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| BillingError::UnknownTimeZone(name.to_string()))
}

/// The k-th boundary date after `anchor` (k = 0 is the anchor itself), stepping by
/// `interval` and clamping the anchor's day of month to the month's length.
pub fn boundary_date(
    anchor: NaiveDate,
    interval: Interval,
    k: u32,
) -> Result<NaiveDate, BillingError> {
    let steps = k
        .checked_mul(interval.count)
        .ok_or(BillingError::Overflow)?;
    let date = match interval.unit {
        IntervalUnit::Day => anchor.checked_add_days(Days::new(u64::from(steps))),
        IntervalUnit::Week => anchor.checked_add_days(Days::new(u64::from(steps) * 7)),
        // chrono clamps the day to the target month's length (Jan 31 + 1 month = Feb 28/29).
        IntervalUnit::Month => anchor.checked_add_months(Months::new(steps)),
        IntervalUnit::Year => anchor.checked_add_months(Months::new(
            steps.checked_mul(12).ok_or(BillingError::Overflow)?,
        )),
    };
    date.ok_or(BillingError::Overflow)
}

/// The UTC instant of local midnight starting `date` in `tz` (the first instant of that
/// local day when midnight does not exist).
pub fn local_midnight(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    if let Some(at) = tz.from_local_datetime(&midnight).earliest() {
        return at.with_timezone(&Utc);
    }
    // Midnight falls in a DST gap: the day starts at the end of the gap. Find the first
    // local minute that exists, then step back second by second while still on `date`
    // (offsets of old zones are not always whole minutes).
    for minute in 1..=(26 * 60) {
        let local = midnight + TimeDelta::minutes(minute);
        if let Some(at) = tz.from_local_datetime(&local).earliest() {
            let mut first = at.with_timezone(&Utc);
            for _ in 0..60 {
                let before = first - TimeDelta::seconds(1);
                if local_date(before, tz) == date {
                    first = before;
                } else {
                    break;
                }
            }
            return first;
        }
    }
    // No zone has a gap of more than a day; fall back to midnight UTC of the date.
    midnight.and_utc()
}

/// The local calendar date of an instant in `tz`.
pub fn local_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// Whole calendar days from `start` to `end` (end exclusive); negative if end < start.
pub fn days_between(start: NaiveDate, end: NaiveDate) -> i64 {
    (end - start).num_days()
}

/// One billing period: local dates `[start_date, end_date)` and their UTC instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Period {
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Period {
    /// Builds a period from local dates in `tz`; `end_date` must be after `start_date`.
    pub fn from_dates(
        start_date: NaiveDate,
        end_date: NaiveDate,
        tz: Tz,
    ) -> Result<Self, BillingError> {
        if end_date <= start_date {
            return Err(BillingError::InvalidPeriod(format!(
                "end {end_date} must be after start {start_date}"
            )));
        }
        Ok(Period {
            start_date,
            end_date,
            start: local_midnight(start_date, tz),
            end: local_midnight(end_date, tz),
        })
    }

    /// Calendar days in the period.
    pub fn days(&self) -> i64 {
        days_between(self.start_date, self.end_date)
    }
}

/// The schedule of a subscription's periods: an anchor date, an interval and the account's
/// zone. Period k is `[boundary(k), boundary(k+1))`.
///
/// With calendar alignment the anchor is the 1st of a month (or Jan 1 for yearly) and the
/// first period, from the start date to the first aligned boundary, is shorter and prorated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub anchor: NaiveDate,
    pub interval: Interval,
    /// Serialized as its IANA name ("Europe/Berlin").
    #[serde(with = "tz_name")]
    pub tz: Tz,
}

/// Serde for `Tz` as its IANA name (chrono-tz's own serde feature is not enabled).
mod tz_name {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(d)?;
        super::parse_tz(&name).map_err(serde::de::Error::custom)
    }
}

impl Schedule {
    /// Period number k (k = 0 starts at the anchor).
    pub fn period(&self, k: u32) -> Result<Period, BillingError> {
        let start = boundary_date(self.anchor, self.interval, k)?;
        let end = boundary_date(
            self.anchor,
            self.interval,
            k.checked_add(1).ok_or(BillingError::Overflow)?,
        )?;
        Period::from_dates(start, end, self.tz)
    }

    /// The period containing local date `date` (which must be on or after the anchor),
    /// with its index.
    pub fn period_containing(&self, date: NaiveDate) -> Result<(u32, Period), BillingError> {
        if date < self.anchor {
            return Err(BillingError::InvalidPeriod(format!(
                "{date} is before the billing anchor {}",
                self.anchor
            )));
        }
        let count = i64::from(self.interval.count);
        // An estimate of k that is exact or one too high; corrected below.
        let estimate = match self.interval.unit {
            IntervalUnit::Day => days_between(self.anchor, date) / count,
            IntervalUnit::Week => days_between(self.anchor, date) / (7 * count),
            IntervalUnit::Month | IntervalUnit::Year => {
                let months = |d: NaiveDate| i64::from(d.year()) * 12 + i64::from(d.month0());
                let per = if self.interval.unit == IntervalUnit::Year {
                    12 * count
                } else {
                    count
                };
                (months(date) - months(self.anchor)) / per
            }
        };
        let mut k = u32::try_from(estimate.max(0)).map_err(|_| BillingError::Overflow)?;
        while k > 0 && boundary_date(self.anchor, self.interval, k)? > date {
            k -= 1;
        }
        while boundary_date(
            self.anchor,
            self.interval,
            k.checked_add(1).ok_or(BillingError::Overflow)?,
        )? <= date
        {
            k = k.checked_add(1).ok_or(BillingError::Overflow)?;
        }
        Ok((k, self.period(k)?))
    }
}

/// For calendar alignment: the first aligned boundary strictly after `start` (the 1st of the
/// next month for monthly, Monday for weekly, Jan 1 for yearly, the next day for daily).
///
/// Saturates at the last date chrono can represent.
pub fn next_aligned_boundary(start: NaiveDate, unit: IntervalUnit) -> NaiveDate {
    let next = match unit {
        IntervalUnit::Day => start.succ_opt(),
        IntervalUnit::Week => {
            let to_monday = 7 - u64::from(start.weekday().num_days_from_monday());
            start.checked_add_days(Days::new(to_monday))
        }
        IntervalUnit::Month => start
            .with_day(1)
            .and_then(|first| first.checked_add_months(Months::new(1))),
        IntervalUnit::Year => NaiveDate::from_ymd_opt(start.year().saturating_add(1), 1, 1),
    };
    next.unwrap_or(NaiveDate::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test date")
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    fn monthly(n: u32) -> Interval {
        Interval::new(IntervalUnit::Month, n).unwrap()
    }

    #[test]
    fn month_end_anchor_clamps_to_month_length() {
        let a = ymd(2026, 1, 31);
        let got: Vec<NaiveDate> = (0..4)
            .map(|k| boundary_date(a, monthly(1), k).unwrap())
            .collect();
        assert_eq!(
            got,
            vec![
                ymd(2026, 1, 31),
                ymd(2026, 2, 28),
                ymd(2026, 3, 31),
                ymd(2026, 4, 30)
            ]
        );
        // Computed from the anchor, not from the previous boundary: after Feb 28 comes Mar 31.
        assert_eq!(boundary_date(a, monthly(1), 13).unwrap(), ymd(2027, 2, 28));
    }

    #[test]
    fn month_end_anchor_gives_feb_29_in_leap_years() {
        let a = ymd(2028, 1, 31);
        assert_eq!(boundary_date(a, monthly(1), 1).unwrap(), ymd(2028, 2, 29));
        assert_eq!(boundary_date(a, monthly(1), 2).unwrap(), ymd(2028, 3, 31));
        assert_eq!(
            boundary_date(ymd(2026, 1, 31), monthly(1), 25).unwrap(),
            ymd(2028, 2, 29)
        );
    }

    #[test]
    fn yearly_anchor_feb_29_gives_feb_28_in_other_years() {
        let y = Interval::new(IntervalUnit::Year, 1).unwrap();
        let a = ymd(2024, 2, 29);
        assert_eq!(boundary_date(a, y, 1).unwrap(), ymd(2025, 2, 28));
        assert_eq!(boundary_date(a, y, 2).unwrap(), ymd(2026, 2, 28));
        assert_eq!(boundary_date(a, y, 4).unwrap(), ymd(2028, 2, 29));
    }

    #[test]
    fn interval_count_three_months() {
        let a = ymd(2026, 1, 31);
        assert_eq!(boundary_date(a, monthly(3), 1).unwrap(), ymd(2026, 4, 30));
        assert_eq!(boundary_date(a, monthly(3), 2).unwrap(), ymd(2026, 7, 31));
        assert_eq!(boundary_date(a, monthly(3), 4).unwrap(), ymd(2027, 1, 31));
        let s = Schedule {
            anchor: ymd(2026, 1, 15),
            interval: monthly(3),
            tz: Tz::UTC,
        };
        let p = s.period(1).unwrap();
        assert_eq!(
            (p.start_date, p.end_date),
            (ymd(2026, 4, 15), ymd(2026, 7, 15))
        );
    }

    #[test]
    fn weekly_periods() {
        let w = Interval::new(IntervalUnit::Week, 1).unwrap();
        assert_eq!(
            boundary_date(ymd(2026, 1, 28), w, 1).unwrap(),
            ymd(2026, 2, 4)
        );
        let w2 = Interval::new(IntervalUnit::Week, 2).unwrap();
        assert_eq!(
            boundary_date(ymd(2026, 1, 28), w2, 3).unwrap(),
            ymd(2026, 3, 11)
        );
        let s = Schedule {
            anchor: ymd(2026, 3, 23),
            interval: w,
            tz: parse_tz("Europe/Berlin").unwrap(),
        };
        // The week of the spring DST change is 7 days but 167 hours.
        let p = s.period(0).unwrap();
        assert_eq!(p.days(), 7);
        assert_eq!((p.end - p.start).num_hours(), 167);
    }

    #[test]
    fn daily_periods() {
        let d = Interval::new(IntervalUnit::Day, 1).unwrap();
        assert_eq!(
            boundary_date(ymd(2026, 2, 28), d, 1).unwrap(),
            ymd(2026, 3, 1)
        );
        let d10 = Interval::new(IntervalUnit::Day, 10).unwrap();
        assert_eq!(
            boundary_date(ymd(2026, 12, 25), d10, 1).unwrap(),
            ymd(2027, 1, 4)
        );
        let s = Schedule {
            anchor: ymd(2026, 1, 1),
            interval: d,
            tz: Tz::UTC,
        };
        assert_eq!(s.period_containing(ymd(2026, 3, 1)).unwrap().0, 59);
    }

    #[test]
    fn interval_limits() {
        for (unit, max) in [
            (IntervalUnit::Day, 365),
            (IntervalUnit::Week, 52),
            (IntervalUnit::Month, 12),
            (IntervalUnit::Year, 3),
        ] {
            assert!(Interval::new(unit, 0).is_err());
            assert_eq!(Interval::new(unit, max).unwrap().count(), max);
            assert!(matches!(
                Interval::new(unit, max + 1),
                Err(BillingError::InvalidInterval(_))
            ));
        }
        assert_eq!(IntervalUnit::parse("month").unwrap(), IntervalUnit::Month);
        assert!(IntervalUnit::parse("fortnight").is_err());
    }

    #[test]
    fn unknown_time_zone_is_rejected() {
        assert_eq!(
            parse_tz("Europe/Berlin").unwrap(),
            chrono_tz::Europe::Berlin
        );
        assert_eq!(
            parse_tz("Mars/Olympus"),
            Err(BillingError::UnknownTimeZone("Mars/Olympus".into()))
        );
    }

    #[test]
    fn days_counted_across_dst_change_not_hours() {
        let tz = parse_tz("Europe/Berlin").unwrap();
        let p = Period::from_dates(ymd(2026, 3, 1), ymd(2026, 4, 1), tz).unwrap();
        assert_eq!(p.days(), 31);
        assert_eq!((p.end - p.start).num_hours(), 743);
        assert_eq!(p.start, utc("2026-02-28T23:00:00Z"));
        assert_eq!(p.end, utc("2026-03-31T22:00:00Z"));
        // Autumn: 31 days, 745 hours.
        let p = Period::from_dates(ymd(2026, 10, 1), ymd(2026, 11, 1), tz).unwrap();
        assert_eq!(p.days(), 31);
        assert_eq!((p.end - p.start).num_hours(), 745);
    }

    #[test]
    fn local_midnight_across_dst_switch() {
        let tz = parse_tz("Europe/Berlin").unwrap();
        // The switch is at 02:00 on Mar 29 2026; both midnights exist, an hour apart in offset.
        assert_eq!(
            local_midnight(ymd(2026, 3, 29), tz),
            utc("2026-03-28T23:00:00Z")
        );
        assert_eq!(
            local_midnight(ymd(2026, 3, 30), tz),
            utc("2026-03-29T22:00:00Z")
        );
        assert_eq!(
            (local_midnight(ymd(2026, 3, 30), tz) - local_midnight(ymd(2026, 3, 29), tz))
                .num_hours(),
            23
        );
        let ny = parse_tz("America/New_York").unwrap();
        assert_eq!(
            local_midnight(ymd(2026, 11, 2), ny) - local_midnight(ymd(2026, 11, 1), ny),
            TimeDelta::hours(25)
        );
    }

    #[test]
    fn local_midnight_skipped_by_dst_is_first_instant_of_day() {
        // Chile moves clocks from 00:00 to 01:00 on the first Sunday of September.
        let santiago = parse_tz("America/Santiago").unwrap();
        let d = ymd(2026, 9, 6);
        assert!(santiago
            .from_local_datetime(&d.and_time(NaiveTime::MIN))
            .earliest()
            .is_none());
        let m = local_midnight(d, santiago);
        assert_eq!(m, utc("2026-09-06T04:00:00Z")); // 01:00 -03:00
        assert_eq!(local_date(m, santiago), d);
        assert_eq!(
            local_date(m - TimeDelta::seconds(1), santiago),
            ymd(2026, 9, 5)
        );
        // Cuba skips 00:00 → 01:00 on the second Sunday of March.
        let havana = parse_tz("America/Havana").unwrap();
        let d = ymd(2026, 3, 8);
        assert!(havana
            .from_local_datetime(&d.and_time(NaiveTime::MIN))
            .earliest()
            .is_none());
        let m = local_midnight(d, havana);
        assert_eq!(m, utc("2026-03-08T05:00:00Z")); // 01:00 -04:00
        assert_eq!(
            local_date(m - TimeDelta::seconds(1), havana),
            ymd(2026, 3, 7)
        );
        // That day is 23 hours long, and still one calendar day; the day before is 24 hours.
        let p = Period::from_dates(ymd(2026, 3, 7), d, havana).unwrap();
        assert_eq!((p.days(), (p.end - p.start).num_hours()), (1, 24));
        let p = Period::from_dates(d, ymd(2026, 3, 9), havana).unwrap();
        assert_eq!(p.days(), 1);
        assert_eq!((p.end - p.start).num_hours(), 23);
    }

    #[test]
    fn local_midnight_ambiguous_takes_the_earlier_instant() {
        // Cuba falls back 01:00 → 00:00 on the first Sunday of November: 00:00 happens twice.
        let havana = parse_tz("America/Havana").unwrap();
        let d = ymd(2026, 11, 1);
        let local = havana.from_local_datetime(&d.and_time(NaiveTime::MIN));
        assert!(
            matches!(local, chrono::LocalResult::Ambiguous(_, _)),
            "{local:?}"
        );
        let m = local_midnight(d, havana);
        assert_eq!(m, utc("2026-11-01T04:00:00Z")); // 00:00 -04:00, the first one
        assert_eq!(
            local_date(m - TimeDelta::seconds(1), havana),
            ymd(2026, 10, 31)
        );
        // That day is 25 hours long.
        assert_eq!(
            (local_midnight(ymd(2026, 11, 2), havana) - m).num_hours(),
            25
        );
    }

    #[test]
    fn local_date_in_zone() {
        let tz = parse_tz("Europe/Berlin").unwrap();
        assert_eq!(local_date(utc("2025-12-31T23:30:00Z"), tz), ymd(2026, 1, 1));
        assert_eq!(
            local_date(utc("2025-12-31T22:59:59Z"), tz),
            ymd(2025, 12, 31)
        );
    }

    #[test]
    fn period_must_end_after_start() {
        assert!(matches!(
            Period::from_dates(ymd(2026, 1, 2), ymd(2026, 1, 2), Tz::UTC),
            Err(BillingError::InvalidPeriod(_))
        ));
        assert!(Period::from_dates(ymd(2026, 1, 3), ymd(2026, 1, 2), Tz::UTC).is_err());
    }

    #[test]
    fn period_containing_finds_the_right_period() {
        let s = Schedule {
            anchor: ymd(2026, 1, 31),
            interval: monthly(1),
            tz: parse_tz("Europe/Berlin").unwrap(),
        };
        let (k, p) = s.period_containing(ymd(2026, 3, 15)).unwrap();
        assert_eq!(k, 1);
        assert_eq!(
            (p.start_date, p.end_date),
            (ymd(2026, 2, 28), ymd(2026, 3, 31))
        );
        let (k, p) = s.period_containing(ymd(2026, 3, 31)).unwrap();
        assert_eq!(k, 2);
        assert_eq!(p.start_date, ymd(2026, 3, 31));
        assert_eq!(s.period_containing(ymd(2026, 1, 31)).unwrap().0, 0);
        assert!(s.period_containing(ymd(2026, 1, 30)).is_err());
        let y = Schedule {
            anchor: ymd(2024, 2, 29),
            interval: Interval::new(IntervalUnit::Year, 1).unwrap(),
            tz: Tz::UTC,
        };
        let (k, p) = y.period_containing(ymd(2025, 2, 28)).unwrap();
        assert_eq!(
            (k, p.start_date, p.end_date),
            (1, ymd(2025, 2, 28), ymd(2026, 2, 28))
        );
        assert_eq!(y.period_containing(ymd(2025, 2, 27)).unwrap().0, 0);
    }

    #[test]
    fn period_containing_agrees_with_period_every_day() {
        let s = Schedule {
            anchor: ymd(2024, 1, 31),
            interval: monthly(2),
            tz: Tz::UTC,
        };
        let mut d = s.anchor;
        while d < ymd(2027, 1, 1) {
            let (k, p) = s.period_containing(d).unwrap();
            assert!(p.start_date <= d && d < p.end_date, "{d} not in period {k}");
            assert_eq!(s.period(k).unwrap(), p);
            d = d.succ_opt().unwrap();
        }
    }

    #[test]
    fn calendar_alignment_next_boundary() {
        assert_eq!(
            next_aligned_boundary(ymd(2026, 1, 16), IntervalUnit::Month),
            ymd(2026, 2, 1)
        );
        assert_eq!(
            next_aligned_boundary(ymd(2026, 1, 1), IntervalUnit::Month),
            ymd(2026, 2, 1)
        );
        assert_eq!(
            next_aligned_boundary(ymd(2026, 12, 31), IntervalUnit::Month),
            ymd(2027, 1, 1)
        );
        // 2026-01-16 is a Friday; 2026-01-19 is a Monday.
        assert_eq!(
            next_aligned_boundary(ymd(2026, 1, 16), IntervalUnit::Week),
            ymd(2026, 1, 19)
        );
        assert_eq!(
            next_aligned_boundary(ymd(2026, 1, 19), IntervalUnit::Week),
            ymd(2026, 1, 26)
        );
        assert_eq!(
            next_aligned_boundary(ymd(2026, 1, 16), IntervalUnit::Year),
            ymd(2027, 1, 1)
        );
        assert_eq!(
            next_aligned_boundary(ymd(2026, 1, 16), IntervalUnit::Day),
            ymd(2026, 1, 17)
        );
        assert_eq!(
            next_aligned_boundary(NaiveDate::MAX, IntervalUnit::Day),
            NaiveDate::MAX
        );
    }

    #[test]
    fn schedule_zone_deserializes_from_its_name() {
        use serde::de::value::{Error, StrDeserializer};
        let tz = tz_name::deserialize(StrDeserializer::<Error>::new("Europe/Berlin")).unwrap();
        assert_eq!(tz, chrono_tz::Europe::Berlin);
        assert!(tz_name::deserialize(StrDeserializer::<Error>::new("Nowhere/Else")).is_err());
    }
}
