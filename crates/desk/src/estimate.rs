//! The first-response estimate sent in every automatic acknowledgement (DESK.md "Channels":
//! "an honest estimate of the first response time, from business hours, the SLA and the
//! current queue").
//!
//! Rules ([`first_response_estimate`]), in order:
//! 1. If the desk's recent reply rate is known (`replies_per_business_hour` > 0 and finite),
//!    the estimate is the business time to clear the tickets ahead plus this one at that
//!    rate: ⌈(tickets_ahead + 1) ÷ rate × 3600⌉ business seconds from `now`.
//! 2. Otherwise, the policy's first-response target (if positive) in business time.
//! 3. Otherwise, one business day, taken as [`ONE_BUSINESS_DAY_SECS`] (8 business hours).
//!
//! The amount is capped at [`MAX_ESTIMATE_SECS`] business seconds (a promise further out
//! says nothing). The answer is never before the calendar next opens; for a calendar
//! without any opening hours it falls back to the same amount of wall-clock time.

use crate::calendar::Calendar;
use chrono::{DateTime, TimeDelta, Utc};

/// "One business day" when nothing better is known: 8 business hours.
pub const ONE_BUSINESS_DAY_SECS: i64 = 8 * 3600;

/// Estimates are capped at 30 business days of 8 hours.
pub const MAX_ESTIMATE_SECS: i64 = 30 * ONE_BUSINESS_DAY_SECS;

/// The business seconds the estimate adds to `now` (rules 1–3 and the cap of the module
/// docs), before calendar arithmetic.
pub fn estimate_business_secs(
    tickets_ahead: u64,
    replies_per_business_hour: Option<f64>,
    target_secs: Option<i64>,
) -> i64 {
    let secs = match (replies_per_business_hour, target_secs) {
        (Some(rate), _) if rate.is_finite() && rate > 0.0 => {
            let s = ((tickets_ahead as f64 + 1.0) / rate * 3600.0).ceil();
            if s >= MAX_ESTIMATE_SECS as f64 {
                MAX_ESTIMATE_SECS
            } else {
                (s as i64).max(1)
            }
        }
        (_, Some(target)) if target > 0 => target,
        _ => ONE_BUSINESS_DAY_SECS,
    };
    secs.min(MAX_ESTIMATE_SECS)
}

/// When the customer can expect a first response, as of `now` (see the module docs).
pub fn first_response_estimate(
    cal: &Calendar,
    now: DateTime<Utc>,
    tickets_ahead: u64,
    replies_per_business_hour: Option<f64>,
    target_secs: Option<i64>,
) -> DateTime<Utc> {
    let secs = estimate_business_secs(tickets_ahead, replies_per_business_hour, target_secs);
    let at = cal
        .add_business_seconds(now, secs)
        .unwrap_or_else(|| now + TimeDelta::seconds(secs));
    match cal.next_open(now) {
        Some(open) if open > at => open,
        _ => at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::CalendarSpec;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn office() -> Calendar {
        let day = vec!["09:00-17:00".to_string()];
        CalendarSpec {
            time_zone: "UTC".into(),
            hours: ["mon", "tue", "wed", "thu", "fri"]
                .iter()
                .map(|d| (d.to_string(), day.clone()))
                .collect(),
            holidays: vec![],
        }
        .compile()
        .unwrap()
    }

    #[test]
    fn from_the_rate() {
        let cal = office();
        let mon10 = utc("2024-06-03T10:00:00Z");
        // 5 ahead + this one at 4 replies/hour = 1.5 h.
        assert_eq!(
            first_response_estimate(&cal, mon10, 5, Some(4.0), Some(3600)),
            utc("2024-06-03T11:30:00Z")
        );
        // Friday 16:00, 3 ahead at 2/h = 2 h: Friday 17:00 + Monday 1 h.
        assert_eq!(
            first_response_estimate(&cal, utc("2024-06-07T16:00:00Z"), 3, Some(2.0), None),
            utc("2024-06-10T10:00:00Z")
        );
        // Saturday: the clock starts Monday 09:00.
        assert_eq!(
            first_response_estimate(&cal, utc("2024-06-08T12:00:00Z"), 0, Some(60.0), None),
            utc("2024-06-10T09:01:00Z")
        );
        // Fractions round up to the next second: 1 / 7 h = 514.28… s -> 515 s.
        assert_eq!(estimate_business_secs(0, Some(7.0), None), 515);
        // A huge rate still takes at least a second.
        assert_eq!(estimate_business_secs(0, Some(1e12), None), 1);
    }

    #[test]
    fn fallbacks() {
        // Unknown, zero, negative or NaN rate: the SLA target.
        for rate in [
            None,
            Some(0.0),
            Some(-1.0),
            Some(f64::NAN),
            Some(f64::INFINITY),
        ] {
            assert_eq!(
                estimate_business_secs(10, rate, Some(7200)),
                7200,
                "{rate:?}"
            );
        }
        // No target either: one business day.
        assert_eq!(
            estimate_business_secs(10, None, None),
            ONE_BUSINESS_DAY_SECS
        );
        assert_eq!(
            estimate_business_secs(10, None, Some(0)),
            ONE_BUSINESS_DAY_SECS
        );
        let cal = office();
        assert_eq!(
            first_response_estimate(&cal, utc("2024-06-03T10:00:00Z"), 0, None, None),
            utc("2024-06-04T10:00:00Z")
        );
        assert_eq!(
            first_response_estimate(&cal, utc("2024-06-03T10:00:00Z"), 0, None, Some(3600)),
            utc("2024-06-03T11:00:00Z")
        );
        // Capped at 30 business days.
        assert_eq!(
            estimate_business_secs(u64::MAX, Some(0.001), None),
            MAX_ESTIMATE_SECS
        );
        assert_eq!(
            estimate_business_secs(0, None, Some(i64::MAX)),
            MAX_ESTIMATE_SECS
        );
    }

    #[test]
    fn never_before_the_next_opening_and_calendars_that_never_open() {
        let never = CalendarSpec {
            time_zone: "UTC".into(),
            ..Default::default()
        }
        .compile()
        .unwrap();
        let now = utc("2024-06-08T12:00:00Z");
        assert_eq!(
            first_response_estimate(&never, now, 0, None, Some(3600)),
            utc("2024-06-08T13:00:00Z")
        );
        let always = Calendar::always();
        assert_eq!(
            first_response_estimate(&always, now, 1, Some(2.0), None),
            utc("2024-06-08T13:00:00Z")
        );
        let cal = office();
        for ahead in 0..50 {
            let at = first_response_estimate(&cal, now, ahead, Some(30.0), None);
            assert!(at > utc("2024-06-10T09:00:00Z"), "{ahead}: {at}");
            assert!(cal.is_open(at - TimeDelta::seconds(1)));
        }
    }
}
