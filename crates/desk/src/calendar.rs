//! Business calendars: weekly opening hours and holidays in a time zone, and arithmetic in
//! business time (DESK.md "SLA and business hours": SLA clocks count business time only).
//!
//! Rules:
//! - Hours are local wall-clock times in the calendar's IANA zone, per weekday, as
//!   `"HH:MM-HH:MM"` ranges (start inclusive, end exclusive). `"24:00"` is allowed only as an
//!   end and means the next local midnight, so `"00:00-24:00"` is the whole day. Ranges of
//!   one day may touch (`"09:00-12:00"`, `"12:00-17:00"`) but not overlap.
//! - A holiday is a local calendar date on which the calendar is closed all day.
//! - DST: a local range maps to the UTC instants of its two ends. A local time that does
//!   not exist (skipped by a spring-forward change) maps to the first instant after the gap,
//!   so the skipped hour simply is not counted; an ambiguous local time (repeated by a
//!   fall-back change) maps to its earliest instant. So "00:00-24:00" is 23 hours on a
//!   spring-forward day and 25 on a fall-back day, and "09:00-17:00" stays 8 hours.
//! - Business time is counted in whole seconds: instants are first truncated to the whole
//!   second (sub-second parts are ignored), which keeps the arithmetic exact and additive.
//! - Work is proportional to the number of local days spanned (one step per day, never per
//!   second); searches forward stop after [`SEARCH_LIMIT_DAYS`] local days.

use crate::DeskError;
use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Searches forward in time ([`Calendar::add_business_seconds`], [`Calendar::next_open`])
/// give up after this many local days (about ten years) and answer `None`.
pub const SEARCH_LIMIT_DAYS: u32 = 3_660;

const SECS_PER_DAY: u32 = 86_400;

/// The weekday keys of [`CalendarSpec::hours`], Monday first, with the field name used in
/// errors about that day.
const DAYS: [(&str, &str, Weekday); 7] = [
    ("mon", "hours.mon", Weekday::Mon),
    ("tue", "hours.tue", Weekday::Tue),
    ("wed", "hours.wed", Weekday::Wed),
    ("thu", "hours.thu", Weekday::Thu),
    ("fri", "hours.fri", Weekday::Fri),
    ("sat", "hours.sat", Weekday::Sat),
    ("sun", "hours.sun", Weekday::Sun),
];

/// A calendar as configured and stored (JSON):
///
/// ```json
/// {"time_zone": "Europe/Berlin",
///  "hours": {"mon": ["09:00-12:00", "13:00-17:00"], "sat": ["10:00-14:00"]},
///  "holidays": ["2024-12-25"]}
/// ```
///
/// Days missing from `hours` (or with an empty list) are closed. Compile it with
/// [`CalendarSpec::compile`] before use.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CalendarSpec {
    /// IANA zone name, e.g. `"Europe/Berlin"`.
    pub time_zone: String,
    /// Weekday key (`"mon"` … `"sun"`) → `"HH:MM-HH:MM"` ranges.
    #[serde(default)]
    pub hours: BTreeMap<String, Vec<String>>,
    /// Local dates on which the calendar is closed all day.
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
}

impl CalendarSpec {
    /// Validates the spec and builds the calendar.
    ///
    /// Errors name the field: `time_zone` for an unknown zone, `hours` for an unknown day
    /// key, `hours.<day>` for a malformed range, a range whose start is not before its end,
    /// or two ranges of that day that overlap. Touching ranges are merged.
    pub fn compile(&self) -> Result<Calendar, DeskError> {
        let tz: Tz = self.time_zone.trim().parse().map_err(|_| {
            DeskError::invalid(
                "time_zone",
                format!(
                    "unknown time zone {:?}: use an IANA name such as Europe/Berlin",
                    self.time_zone
                ),
            )
        })?;
        for key in self.hours.keys() {
            if !DAYS.iter().any(|(k, _, _)| k == key) {
                return Err(DeskError::invalid(
                    "hours",
                    format!("unknown day {key:?}: use mon, tue, wed, thu, fri, sat or sun"),
                ));
            }
        }
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for (key, field, weekday) in DAYS {
            let Some(ranges) = self.hours.get(key) else {
                continue;
            };
            let mut parsed = Vec::with_capacity(ranges.len());
            for text in ranges {
                let (start, end) = parse_range(text).ok_or_else(|| {
                    DeskError::invalid(
                        field,
                        format!("bad range {text:?}: use HH:MM-HH:MM such as 09:00-17:00"),
                    )
                })?;
                if start >= end {
                    return Err(DeskError::invalid(
                        field,
                        format!("range {text:?} must start before it ends"),
                    ));
                }
                parsed.push((start, end, text));
            }
            parsed.sort_by_key(|(s, e, _)| (*s, *e));
            let day = &mut week[weekday.num_days_from_monday() as usize];
            for pair in parsed.windows(2) {
                if pair[1].0 < pair[0].1 {
                    return Err(DeskError::invalid(
                        field,
                        format!("ranges {:?} and {:?} overlap", pair[0].2, pair[1].2),
                    ));
                }
            }
            for (start, end, _) in parsed {
                match day.last_mut() {
                    Some(last) if last.1 == start => last.1 = end,
                    _ => day.push((start, end)),
                }
            }
        }
        Ok(Calendar {
            tz,
            week,
            holidays: self.holidays.iter().copied().collect(),
        })
    }
}

/// `"HH:MM-HH:MM"` (spaces around either time allowed) → seconds after local midnight.
fn parse_range(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.split_once('-')?;
    Some((parse_time(a.trim(), false)?, parse_time(b.trim(), true)?))
}

/// `"HH:MM"`, two digits each; `"24:00"` only when `end`.
fn parse_time(s: &str, end: bool) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' || ![0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit()) {
        return None;
    }
    let hh = u32::from(b[0] - b'0') * 10 + u32::from(b[1] - b'0');
    let mm = u32::from(b[3] - b'0') * 10 + u32::from(b[4] - b'0');
    match (hh, mm) {
        (24, 0) if end => Some(SECS_PER_DAY),
        (0..=23, 0..=59) => Some(hh * 3600 + mm * 60),
        _ => None,
    }
}

/// A compiled business calendar. See the module docs for the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    tz: Tz,
    /// Per weekday (Monday = 0): sorted, disjoint, non-touching ranges in seconds after
    /// local midnight, end exclusive (86,400 = next midnight).
    week: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<NaiveDate>,
}

impl Calendar {
    /// Open all the time: 24 × 7 in UTC with no holidays, so business time equals wall
    /// time. The calendar for policies that count calendar time.
    pub fn always() -> Calendar {
        Calendar {
            tz: Tz::UTC,
            week: std::array::from_fn(|_| vec![(0, SECS_PER_DAY)]),
            holidays: BTreeSet::new(),
        }
    }

    /// The calendar's time zone.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Whether `date` (local) is a holiday.
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.holidays.contains(&date)
    }

    /// Whether the calendar has any opening hours at all (ignoring holidays).
    pub fn has_hours(&self) -> bool {
        self.week.iter().any(|d| !d.is_empty())
    }

    /// The open intervals `[start, end)` of the local date `date`, as UTC instants, in
    /// order; empty on holidays and closed days (and for ranges wholly inside a DST gap).
    pub fn intervals_on(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let mut out = Vec::new();
        self.day_intervals(date, &mut out);
        out.into_iter()
            .filter_map(|(s, e)| Some((ts(s)?, ts(e)?)))
            .collect()
    }

    /// Whether the calendar is open at `at` (the second containing `at`).
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let t = at.timestamp();
        let mut buf = Vec::new();
        let mut date = self.local_date(t).pred_opt();
        for _ in 0..3 {
            let Some(d) = date else { break };
            self.day_intervals(d, &mut buf);
            if buf.iter().any(|&(s, e)| s <= t && t < e) {
                return true;
            }
            date = d.succ_opt();
        }
        false
    }

    /// `at` if the calendar is open then, else the start of the next open interval; `None`
    /// if none starts within [`SEARCH_LIMIT_DAYS`].
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.is_open(at) {
            return Some(at);
        }
        let t = at.timestamp();
        let mut buf = Vec::new();
        let mut date = self.local_date(t).pred_opt()?;
        for _ in 0..SEARCH_LIMIT_DAYS {
            self.day_intervals(date, &mut buf);
            if let Some(&(s, _)) = buf.iter().find(|&&(_, e)| e > t) {
                return ts(s.max(t));
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// Business seconds in `[from, to)`: the length of its overlap with the open intervals,
    /// in whole seconds (both ends truncated to the second). 0 if `to <= from`.
    ///
    /// Additive: for `a <= b <= c`, `business_seconds(a, c) == business_seconds(a, b) +
    /// business_seconds(b, c)`.
    pub fn business_seconds(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        let (a, b) = (from.timestamp(), to.timestamp());
        if b <= a || !self.has_hours() {
            return 0;
        }
        // Day D's intervals lie within [local midnight D, local midnight D+1], so the days
        // from (local date of a) − 1 to (local date of b) + 1 cover [a, b).
        let Some(mut date) = self.local_date(a).pred_opt() else {
            return 0;
        };
        let last = self.local_date(b).succ_opt().unwrap_or(NaiveDate::MAX);
        let mut total = 0;
        let mut buf = Vec::new();
        while date <= last {
            self.day_intervals(date, &mut buf);
            for &(s, e) in &buf {
                let (s, e) = (s.max(a), e.min(b));
                if e > s {
                    total += e - s;
                }
            }
            match date.succ_opt() {
                Some(d) => date = d,
                None => break,
            }
        }
        total
    }

    /// The instant at which `secs` business seconds have elapsed since `from`, i.e. the
    /// earliest `t` with `business_seconds(from, t) == secs`. That instant is inside an
    /// open interval or exactly at its end (a closing time), never at the start of the next
    /// one.
    ///
    /// `secs <= 0` returns `from` unchanged (even when closed). `None` if the calendar has
    /// no opening hours at all, or the instant lies more than [`SEARCH_LIMIT_DAYS`] local
    /// days ahead (e.g. holidays cover every open day for a decade).
    pub fn add_business_seconds(&self, from: DateTime<Utc>, secs: i64) -> Option<DateTime<Utc>> {
        if secs <= 0 {
            return Some(from);
        }
        if !self.has_hours() {
            return None;
        }
        let a = from.timestamp();
        let mut remaining = secs;
        let mut date = self.local_date(a).pred_opt()?;
        let mut buf = Vec::new();
        for _ in 0..SEARCH_LIMIT_DAYS {
            self.day_intervals(date, &mut buf);
            for &(s, e) in &buf {
                let s = s.max(a);
                if e > s {
                    let avail = e - s;
                    if remaining <= avail {
                        return ts(s + remaining);
                    }
                    remaining -= avail;
                }
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// The local date of the unix second `t`.
    fn local_date(&self, t: i64) -> NaiveDate {
        match ts(t) {
            Some(at) => at.with_timezone(&self.tz).date_naive(),
            None => NaiveDate::MIN,
        }
    }

    /// Fills `out` with the open intervals of local `date` as unix seconds, sorted and
    /// non-empty.
    fn day_intervals(&self, date: NaiveDate, out: &mut Vec<(i64, i64)>) {
        out.clear();
        if self.holidays.contains(&date) {
            return;
        }
        let ranges = &self.week[date.weekday().num_days_from_monday() as usize];
        for &(start, end) in ranges {
            let s = self.local_to_utc(date, start);
            let e = self.local_to_utc(date, end);
            if e > s {
                out.push((s, e));
            }
        }
    }

    /// The unix second of local `date` + `secs` (0..=86,400) in the zone: the earliest
    /// instant for an ambiguous time, the end of the gap for a skipped one.
    fn local_to_utc(&self, date: NaiveDate, secs: u32) -> i64 {
        let naive = if secs >= SECS_PER_DAY {
            match date.succ_opt() {
                Some(d) => d.and_time(NaiveTime::MIN),
                None => return date.and_time(NaiveTime::MIN).and_utc().timestamp() + 86_400,
            }
        } else {
            date.and_time(
                NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).unwrap_or(NaiveTime::MIN),
            )
        };
        match self.tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => t.timestamp(),
            LocalResult::Ambiguous(a, b) => a.timestamp().min(b.timestamp()),
            LocalResult::None => self.gap_end(naive),
        }
    }

    /// For a local time inside a DST gap: the first instant whose local time is after it
    /// (the instant the clocks jumped).
    fn gap_end(&self, naive: NaiveDateTime) -> i64 {
        let base = naive.and_utc().timestamp();
        let offset_at = |n: Option<NaiveDateTime>| {
            n.map(|n| i64::from(self.tz.offset_from_utc_datetime(&n).fix().local_minus_utc()))
        };
        let local = |t: i64| ts(t).map(|at| at.with_timezone(&self.tz).naive_local());
        let day = TimeDelta::days(1);
        if let (Some(before), Some(after)) = (
            offset_at(naive.checked_sub_signed(day)),
            offset_at(naive.checked_add_signed(day)),
        ) {
            // Before the gap the local time lags `naive`, after it leads.
            let (mut lo, mut hi) = (
                (base - before).min(base - after),
                (base - before).max(base - after),
            );
            if lo < hi
                && local(lo).is_some_and(|l| l < naive)
                && local(hi).is_some_and(|l| l > naive)
            {
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if local(mid).is_some_and(|l| l > naive) {
                        hi = mid;
                    } else {
                        lo = mid;
                    }
                }
                return hi;
            }
        }
        // Irregular zone history: the first local minute after `naive` that exists.
        for minute in 1..=(26 * 60) {
            if let Some(t) = naive
                .checked_add_signed(TimeDelta::minutes(minute))
                .and_then(|n| self.tz.from_local_datetime(&n).earliest())
            {
                return t.timestamp();
            }
        }
        base
    }
}

fn ts(t: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn spec(tz: &str, hours: &[(&str, &[&str])], holidays: &[&str]) -> CalendarSpec {
        CalendarSpec {
            time_zone: tz.into(),
            hours: hours
                .iter()
                .map(|(d, r)| (d.to_string(), r.iter().map(|s| s.to_string()).collect()))
                .collect(),
            holidays: holidays.iter().map(|d| d.parse().unwrap()).collect(),
        }
    }

    fn office(tz: &str) -> Calendar {
        let day: &[&str] = &["09:00-17:00"];
        spec(
            tz,
            &[
                ("mon", day),
                ("tue", day),
                ("wed", day),
                ("thu", day),
                ("fri", day),
            ],
            &[],
        )
        .compile()
        .unwrap()
    }

    fn err_field(s: CalendarSpec) -> &'static str {
        match s.compile().unwrap_err() {
            DeskError::Invalid { field, .. } => field,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn compile_validates_and_names_the_field() {
        assert_eq!(err_field(spec("Mars/Base", &[], &[])), "time_zone");
        assert_eq!(
            err_field(spec("UTC", &[("monday", &["09:00-17:00"])], &[])),
            "hours"
        );
        for bad in [
            "9:00-17:00",
            "09:00",
            "09:60-10:00",
            "24:00-24:00",
            "09:00-24:01",
            "xx:00-10:00",
            "09:00-25:00",
        ] {
            assert_eq!(
                err_field(spec("UTC", &[("mon", &[bad])], &[])),
                "hours.mon",
                "{bad}"
            );
        }
        assert_eq!(
            err_field(spec("UTC", &[("tue", &["17:00-09:00"])], &[])),
            "hours.tue"
        );
        assert_eq!(
            err_field(spec("UTC", &[("wed", &["09:00-09:00"])], &[])),
            "hours.wed"
        );
        let err = spec("UTC", &[("sun", &["09:00-12:00", "11:00-13:00"])], &[])
            .compile()
            .unwrap_err();
        assert_eq!(
            err,
            DeskError::invalid(
                "hours.sun",
                "ranges \"09:00-12:00\" and \"11:00-13:00\" overlap"
            )
        );
        // Touching ranges are fine and merge; 24:00 closes the day.
        let cal = spec(
            "UTC",
            &[("mon", &["12:00-17:00", "09:00-12:00", "20:00-24:00"])],
            &[],
        )
        .compile()
        .unwrap();
        assert_eq!(
            cal.week[0],
            vec![(9 * 3600, 17 * 3600), (20 * 3600, 86_400)]
        );
        assert!(spec("UTC", &[("mon", &[" 09:00 - 17:00 "])], &[])
            .compile()
            .is_ok());
    }

    #[test]
    fn spec_serde_shape() {
        let s: CalendarSpec = serde_json::from_str(
            r#"{"time_zone":"Europe/Berlin","hours":{"mon":["09:00-17:00"]},"holidays":["2024-12-25"]}"#,
        )
        .unwrap();
        assert_eq!(
            s.holidays,
            vec![NaiveDate::from_ymd_opt(2024, 12, 25).unwrap()]
        );
        let s: CalendarSpec = serde_json::from_str(r#"{"time_zone":"UTC"}"#).unwrap();
        assert!(!s.compile().unwrap().has_hours());
    }

    #[test]
    fn office_hours_in_utc() {
        let cal = office("UTC");
        // 2024-06-03 is a Monday.
        assert!(!cal.is_open(utc("2024-06-03T08:59:59Z")));
        assert!(cal.is_open(utc("2024-06-03T09:00:00Z")));
        assert!(cal.is_open(utc("2024-06-03T16:59:59Z")));
        assert!(!cal.is_open(utc("2024-06-03T17:00:00Z")));
        assert!(!cal.is_open(utc("2024-06-08T12:00:00Z")));
        // Friday 16:00 to Monday 10:00: 1 h + 1 h.
        assert_eq!(
            cal.business_seconds(utc("2024-06-07T16:00:00Z"), utc("2024-06-10T10:00:00Z")),
            7200
        );
        // A full week is 40 h.
        assert_eq!(
            cal.business_seconds(utc("2024-06-03T00:00:00Z"), utc("2024-06-10T00:00:00Z")),
            40 * 3600
        );
        assert_eq!(
            cal.business_seconds(utc("2024-06-10T00:00:00Z"), utc("2024-06-03T00:00:00Z")),
            0
        );
        // Two business hours from Friday 16:00 is Monday 10:00.
        assert_eq!(
            cal.add_business_seconds(utc("2024-06-07T16:00:00Z"), 7200),
            Some(utc("2024-06-10T10:00:00Z"))
        );
        // Exactly the rest of Friday ends at Friday's closing time, not Monday's opening.
        assert_eq!(
            cal.add_business_seconds(utc("2024-06-07T16:00:00Z"), 3600),
            Some(utc("2024-06-07T17:00:00Z"))
        );
        // From a closed moment: counting starts at the next opening.
        assert_eq!(
            cal.add_business_seconds(utc("2024-06-08T12:00:00Z"), 60),
            Some(utc("2024-06-10T09:01:00Z"))
        );
        assert_eq!(
            cal.add_business_seconds(utc("2024-06-08T12:00:00Z"), 0),
            Some(utc("2024-06-08T12:00:00Z"))
        );
        assert_eq!(
            cal.next_open(utc("2024-06-08T12:00:00Z")),
            Some(utc("2024-06-10T09:00:00Z"))
        );
        assert_eq!(
            cal.next_open(utc("2024-06-10T12:00:00Z")),
            Some(utc("2024-06-10T12:00:00Z"))
        );
    }

    #[test]
    fn sub_seconds_are_truncated() {
        let cal = Calendar::always();
        let a = utc("2024-06-03T09:00:00.900Z");
        let b = utc("2024-06-03T09:00:01.100Z");
        assert_eq!(cal.business_seconds(a, b), 1);
        assert_eq!(
            cal.add_business_seconds(a, 5),
            Some(utc("2024-06-03T09:00:05Z"))
        );
    }

    #[test]
    fn zones_shift_the_hours() {
        let cal = office("America/New_York");
        // 09:00 EDT = 13:00 UTC on Monday 2024-06-03.
        assert!(!cal.is_open(utc("2024-06-03T12:59:59Z")));
        assert!(cal.is_open(utc("2024-06-03T13:00:00Z")));
        assert!(cal.is_open(utc("2024-06-03T20:59:59Z")));
        assert!(!cal.is_open(utc("2024-06-03T21:00:00Z")));
        // Friday 20:00 UTC is 16:00 local: open; Saturday 00:30 UTC is Friday 20:30 local: closed.
        assert!(cal.is_open(utc("2024-06-07T20:00:00Z")));
        assert!(!cal.is_open(utc("2024-06-08T00:30:00Z")));
    }

    #[test]
    fn holidays_are_closed_in_local_dates() {
        let day: &[&str] = &["00:00-24:00"];
        let cal = spec(
            "Europe/Berlin",
            &[
                ("mon", day),
                ("tue", day),
                ("wed", day),
                ("thu", day),
                ("fri", day),
                ("sat", day),
                ("sun", day),
            ],
            &["2024-12-25"],
        )
        .compile()
        .unwrap();
        // Local Dec 25 is 2024-12-24T23:00Z .. 2024-12-25T23:00Z.
        assert!(cal.is_open(utc("2024-12-24T22:59:59Z")));
        assert!(!cal.is_open(utc("2024-12-24T23:00:00Z")));
        assert!(!cal.is_open(utc("2024-12-25T22:59:59Z")));
        assert!(cal.is_open(utc("2024-12-25T23:00:00Z")));
        assert_eq!(
            cal.business_seconds(utc("2024-12-24T00:00:00Z"), utc("2024-12-27T00:00:00Z")),
            2 * 86_400
        );
        assert!(cal.is_holiday("2024-12-25".parse().unwrap()));
        assert!(cal.intervals_on("2024-12-25".parse().unwrap()).is_empty());
    }

    #[test]
    fn dst_days_in_berlin() {
        let all: &[&str] = &["00:00-24:00"];
        let cal = spec("Europe/Berlin", &[("sun", all)], &[])
            .compile()
            .unwrap();
        // 2024-03-31: clocks go 02:00 -> 03:00 (23 h); 2024-10-27: 03:00 -> 02:00 (25 h).
        let spring = cal.intervals_on("2024-03-31".parse().unwrap());
        assert_eq!(
            spring,
            vec![(utc("2024-03-30T23:00:00Z"), utc("2024-03-31T22:00:00Z"))]
        );
        assert_eq!(
            cal.business_seconds(utc("2024-03-30T00:00:00Z"), utc("2024-04-01T00:00:00Z")),
            23 * 3600
        );
        assert_eq!(
            cal.business_seconds(utc("2024-10-26T00:00:00Z"), utc("2024-10-28T00:00:00Z")),
            25 * 3600
        );
        // A range across the gap counts only the hours that exist: 01:00-04:00 is 2 h.
        let cal = spec("Europe/Berlin", &[("sun", &["01:00-04:00"])], &[])
            .compile()
            .unwrap();
        assert_eq!(
            cal.intervals_on("2024-03-31".parse().unwrap()),
            vec![(utc("2024-03-31T00:00:00Z"), utc("2024-03-31T02:00:00Z"))]
        );
        // A range inside the gap is empty.
        let cal = spec("Europe/Berlin", &[("sun", &["02:00-02:30"])], &[])
            .compile()
            .unwrap();
        assert!(cal.intervals_on("2024-03-31".parse().unwrap()).is_empty());
        assert_eq!(cal.intervals_on("2024-04-07".parse().unwrap()).len(), 1);
        // Ambiguous ends take the earliest instant: 01:00-02:30 on the fall-back day ends
        // at the first 02:30 (00:30Z).
        let cal = spec("Europe/Berlin", &[("sun", &["01:00-02:30"])], &[])
            .compile()
            .unwrap();
        assert_eq!(
            cal.intervals_on("2024-10-27".parse().unwrap()),
            vec![(utc("2024-10-26T23:00:00Z"), utc("2024-10-27T00:30:00Z"))]
        );
        // Office hours are 8 h on both change days (both are Sundays; use Sunday hours).
        let cal = spec("Europe/Berlin", &[("sun", &["09:00-17:00"])], &[])
            .compile()
            .unwrap();
        for d in ["2024-03-31", "2024-10-27"] {
            let iv = cal.intervals_on(d.parse().unwrap());
            assert_eq!((iv[0].1 - iv[0].0).num_seconds(), 8 * 3600, "{d}");
        }
    }

    #[test]
    fn gap_at_midnight() {
        // America/Santiago skipped local midnight on 2024-09-08 (00:00 -> 01:00).
        let all: &[&str] = &["00:00-24:00"];
        let cal = spec("America/Santiago", &[("sun", all)], &[])
            .compile()
            .unwrap();
        let iv = cal.intervals_on("2024-09-08".parse().unwrap());
        assert_eq!(iv.len(), 1);
        // The day starts at the first instant that exists (01:00 -03 = 04:00Z).
        assert_eq!(iv[0].0, utc("2024-09-08T04:00:00Z"));
        assert_eq!((iv[0].1 - iv[0].0).num_seconds(), 23 * 3600);
    }

    #[test]
    fn always_is_wall_time() {
        let cal = Calendar::always();
        let a = utc("2024-01-01T00:00:00Z");
        let b = utc("2025-03-01T12:34:56Z");
        assert_eq!(cal.business_seconds(a, b), (b - a).num_seconds());
        assert_eq!(cal.add_business_seconds(a, (b - a).num_seconds()), Some(b));
        assert!(cal.is_open(a));
    }

    #[test]
    fn closed_calendars_and_the_search_limit() {
        let never = spec("UTC", &[], &[]).compile().unwrap();
        let a = utc("2024-01-01T00:00:00Z");
        assert_eq!(never.add_business_seconds(a, 1), None);
        assert_eq!(never.next_open(a), None);
        assert_eq!(never.business_seconds(a, utc("2030-01-01T00:00:00Z")), 0);
        assert_eq!(never.add_business_seconds(a, 0), Some(a));

        // Open one hour a year: Mondays 09:00-10:00, every Monday a holiday except the
        // first Monday of June.
        let mut holidays = Vec::new();
        let mut d = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        while d.year() < 2040 {
            if d.weekday() == Weekday::Mon && !(d.month() == 6 && d.day() <= 7) {
                holidays.push(d);
            }
            d = d.succ_opt().unwrap();
        }
        let cal = CalendarSpec {
            time_zone: "UTC".into(),
            hours: [("mon".to_string(), vec!["09:00-10:00".to_string()])].into(),
            holidays,
        }
        .compile()
        .unwrap();
        assert_eq!(
            cal.add_business_seconds(a, 3600 + 60),
            Some(utc("2025-06-02T09:01:00Z"))
        );
        assert_eq!(cal.next_open(a), Some(utc("2024-06-03T09:00:00Z")));
        assert_eq!(
            cal.business_seconds(a, utc("2030-01-01T00:00:00Z")),
            6 * 3600
        );
        // Ten hours need ten years: beyond the search limit.
        assert_eq!(cal.add_business_seconds(a, 11 * 3600), None);
    }
}
