//! Property tests for the invariants of business time and SLA clocks (ENGINEERING.md
//! "Tests"): adding business seconds and counting them agree, counting is additive, 24 × 7
//! is wall time, holidays count nothing, DST days in Europe/Berlin keep office hours whole,
//! and SLA thresholds fire exactly when `due_at` says.

use chrono::{DateTime, Days, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use desk::calendar::{Calendar, CalendarSpec};
use desk::sla::{self, Clock, SlaState, BREACH_PERMILLE, WARN_PERMILLE};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Zones with DST (30-minute DST in Lord Howe, midnight changes in Santiago) and without.
const ZONES: [&str; 6] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kolkata",
];
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// 2023-01-01 .. 2027-01-01 in unix seconds.
const T_MIN: i64 = 1_672_531_200;
const T_MAX: i64 = 1_798_761_600;

fn hhmm(quarter: u32) -> String {
    format!("{:02}:{:02}", quarter / 4, quarter % 4 * 15)
}

/// Up to three non-overlapping ranges of one day, on quarter hours, possibly touching and
/// possibly ending at 24:00.
fn day_ranges() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::btree_set(0u32..=96, 0..=6).prop_map(|points| {
        let p: Vec<u32> = points.into_iter().collect();
        p.chunks_exact(2)
            .map(|c| format!("{}-{}", hhmm(c[0]), hhmm(c[1])))
            .collect()
    })
}

fn spec_strategy() -> impl Strategy<Value = CalendarSpec> {
    (
        0..ZONES.len(),
        proptest::collection::vec(day_ranges(), 7),
        proptest::collection::vec(0u64..1461, 0..20),
    )
        .prop_map(|(z, days, holidays)| {
            let base = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap();
            CalendarSpec {
                time_zone: ZONES[z].to_string(),
                hours: DAYS
                    .iter()
                    .zip(days)
                    .map(|(d, r)| (d.to_string(), r))
                    .collect::<BTreeMap<_, _>>(),
                holidays: holidays
                    .into_iter()
                    .map(|d| base.checked_add_days(Days::new(d)).unwrap())
                    .collect(),
            }
        })
}

fn calendar_strategy() -> impl Strategy<Value = Calendar> {
    spec_strategy().prop_map(|s| s.compile().expect("generated specs are valid"))
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (T_MIN..T_MAX, prop_oneof![Just(0u32), 0u32..1_000_000_000])
        .prop_map(|(s, n)| DateTime::from_timestamp(s, n).unwrap())
}

fn whole(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap()
}

/// The UTC instant of local midnight starting `date` (first instant of the day in a gap).
fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let mut t = date.and_hms_opt(0, 0, 0).unwrap();
    loop {
        if let Some(at) = tz.from_local_datetime(&t).earliest() {
            return at.with_timezone(&Utc);
        }
        t += TimeDelta::minutes(1);
    }
}

fn all_day(tz: &str) -> Calendar {
    CalendarSpec {
        time_zone: tz.into(),
        hours: DAYS
            .iter()
            .map(|d| (d.to_string(), vec!["00:00-24:00".to_string()]))
            .collect(),
        holidays: vec![],
    }
    .compile()
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn adding_then_counting_gives_back_the_seconds(
        cal in calendar_strategy(),
        a in instant(),
        secs in 0i64..(300 * 3600),
    ) {
        if let Some(b) = cal.add_business_seconds(a, secs) {
            prop_assert!(b >= a);
            prop_assert_eq!(cal.business_seconds(a, b), secs);
            if secs > 0 {
                // It is the earliest such instant.
                prop_assert_eq!(cal.business_seconds(a, b - TimeDelta::seconds(1)), secs - 1);
                // The last counted second was open.
                prop_assert!(cal.is_open(b - TimeDelta::seconds(1)));
            }
        } else {
            // Only a calendar with (almost) no open time gives up.
            prop_assert!(secs > 0);
            let ten_years = a + TimeDelta::days(3_600);
            prop_assert!(cal.business_seconds(a, ten_years) < secs);
        }
    }

    #[test]
    fn counting_is_additive(
        cal in calendar_strategy(),
        mut t in proptest::collection::vec(instant(), 3),
    ) {
        t.sort();
        let (a, b, c) = (t[0], t[1], t[2]);
        prop_assert_eq!(
            cal.business_seconds(a, c),
            cal.business_seconds(a, b) + cal.business_seconds(b, c)
        );
        prop_assert!(cal.business_seconds(a, c) <= (whole(c) - whole(a)).num_seconds());
        // Backwards intervals count nothing.
        prop_assert_eq!(cal.business_seconds(c, a), 0);
    }

    #[test]
    fn is_open_agrees_with_counting(cal in calendar_strategy(), a in instant()) {
        let a = whole(a);
        prop_assert_eq!(cal.is_open(a), cal.business_seconds(a, a + TimeDelta::seconds(1)) == 1);
        if let Some(next) = cal.next_open(a) {
            prop_assert!(next >= a);
            prop_assert!(cal.is_open(next));
            prop_assert_eq!(cal.business_seconds(a, next), 0);
        }
    }

    #[test]
    fn always_and_all_day_calendars_are_wall_time(
        z in 0..ZONES.len(),
        a in instant(),
        len in 0i64..(400 * 86_400),
    ) {
        let b = a + TimeDelta::seconds(len);
        let wall = (whole(b) - whole(a)).num_seconds();
        prop_assert_eq!(Calendar::always().business_seconds(a, b), wall);
        prop_assert_eq!(all_day(ZONES[z]).business_seconds(a, b), wall);
        prop_assert_eq!(Calendar::always().add_business_seconds(whole(a), len), Some(whole(a) + TimeDelta::seconds(len)));
    }

    #[test]
    fn a_holiday_contributes_nothing(
        spec in spec_strategy(),
        day in 0u64..1461,
        a in instant(),
        b in instant(),
    ) {
        let date = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap().checked_add_days(Days::new(day)).unwrap();
        let without = CalendarSpec {
            holidays: spec.holidays.iter().copied().filter(|d| *d != date).collect(),
            ..spec.clone()
        }
        .compile()
        .unwrap();
        let mut with_spec = spec.clone();
        with_spec.holidays.push(date);
        let with = with_spec.compile().unwrap();
        let tz: Tz = spec.time_zone.parse().unwrap();
        let (start, end) = (local_midnight(tz, date), local_midnight(tz, date.succ_opt().unwrap()));
        prop_assert_eq!(with.business_seconds(start, end), 0);
        // Elsewhere nothing changes: the difference is exactly that day's open time in [a, b).
        let (a, b) = (a.min(b), a.max(b));
        let day_part: i64 = without
            .intervals_on(date)
            .iter()
            .map(|&(s, e)| (whole(e).min(whole(b)) - whole(s).max(whole(a))).num_seconds().max(0))
            .sum();
        prop_assert_eq!(with.business_seconds(a, b), without.business_seconds(a, b) - day_part);
    }

    #[test]
    fn berlin_office_days_are_eight_hours_even_on_dst_days(day in 0u64..1461) {
        let cal = CalendarSpec {
            time_zone: "Europe/Berlin".into(),
            hours: DAYS
                .iter()
                .map(|d| (d.to_string(), vec!["09:00-17:00".to_string()]))
                .collect(),
            holidays: vec![],
        }
        .compile()
        .unwrap();
        let tz = Tz::Europe__Berlin;
        let date = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap().checked_add_days(Days::new(day)).unwrap();
        let (start, end) = (local_midnight(tz, date), local_midnight(tz, date.succ_opt().unwrap()));
        prop_assert_eq!(cal.business_seconds(start, end), 8 * 3600);
        // And the whole local day of a 24-hour calendar is 23, 24 or 25 hours: its wall length.
        let all = all_day("Europe/Berlin");
        let len = all.business_seconds(start, end);
        prop_assert_eq!(len, (end - start).num_seconds());
        prop_assert!([23 * 3600, 24 * 3600, 25 * 3600].contains(&len));
    }
}

fn clock_strategy() -> impl Strategy<Value = Clock> {
    (
        T_MIN..T_MAX,
        proptest::collection::vec((0i64..(30 * 86_400), 0i64..(5 * 86_400)), 0..4),
    )
        .prop_map(|(start, pauses)| {
            let started = DateTime::from_timestamp(start, 0).unwrap();
            Clock {
                started,
                pauses: pauses
                    .into_iter()
                    .map(|(off, len)| {
                        let s = started + TimeDelta::seconds(off);
                        (s, Some(s + TimeDelta::seconds(len)))
                    })
                    .collect(),
                stopped: None,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn elapsed_grows_and_never_exceeds_business_time(
        cal in calendar_strategy(),
        clock in clock_strategy(),
        d1 in 0i64..(40 * 86_400),
        d2 in 0i64..(40 * 86_400),
    ) {
        let (d1, d2) = (d1.min(d2), d1.max(d2));
        let t1 = clock.started + TimeDelta::seconds(d1);
        let t2 = clock.started + TimeDelta::seconds(d2);
        let (e1, e2) = (sla::elapsed(&cal, &clock, t1), sla::elapsed(&cal, &clock, t2));
        prop_assert!(0 <= e1 && e1 <= e2);
        prop_assert!(e2 <= cal.business_seconds(clock.started, t2));
        // Growth is at most the business time in between.
        prop_assert!(e2 - e1 <= cal.business_seconds(t1, t2));
        // Stopping freezes it.
        let stopped = Clock { stopped: Some(t1), ..clock.clone() };
        prop_assert_eq!(sla::elapsed(&cal, &stopped, t2), e1);
    }

    #[test]
    fn thresholds_fire_exactly_at_due_at(
        cal in calendar_strategy(),
        clock in clock_strategy(),
        target in 1i64..(100 * 3600),
    ) {
        for permille in [WARN_PERMILLE, BREACH_PERMILLE] {
            let goal = sla::threshold(target, permille);
            if let Some(due) = sla::due_at(&cal, &clock, target, permille) {
                prop_assert_eq!(sla::elapsed(&cal, &clock, due), goal);
                prop_assert!(sla::elapsed(&cal, &clock, due - TimeDelta::seconds(1)) < goal);
                let st = sla::state(&cal, &clock, target, due);
                if permille == BREACH_PERMILLE {
                    prop_assert_eq!(st, SlaState::Breached);
                } else {
                    prop_assert!(matches!(st, SlaState::Warning | SlaState::Breached));
                }
                let before = sla::state(&cal, &clock, target, due - TimeDelta::seconds(1));
                prop_assert_ne!(before, SlaState::Breached);
                // Stopping at the due instant is late for the breach threshold.
                let stopped = Clock { stopped: Some(due), ..clock.clone() };
                if permille == BREACH_PERMILLE {
                    prop_assert_eq!(sla::state(&cal, &stopped, target, due), SlaState::MetLate);
                    let early = Clock { stopped: Some(due - TimeDelta::seconds(1)), ..clock.clone() };
                    prop_assert_eq!(sla::state(&cal, &early, target, due), SlaState::Met);
                }
            }
        }
    }
}
