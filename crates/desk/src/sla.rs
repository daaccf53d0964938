//! SLA clocks: elapsed business time against a target, with pauses, warnings and breach
//! (DESK.md "SLA and business hours").
//!
//! Rules:
//! - A policy (chosen by priority and category) has a first-response target and a
//!   resolution target, in business seconds of the ticket's calendar; either may be absent.
//! - A clock runs from `started` (ticket creation) and stops at `stopped` (the first public
//!   agent reply for first response; resolution for resolution). Elapsed time is business
//!   time from `started` to `now` (or `stopped`), minus business time inside pauses.
//! - First-response clocks are never paused. Resolution clocks pause while the ticket is
//!   `pending_customer` (one pause per stay; an open pause has no end yet).
//! - Thresholds: the clock is *warning* once elapsed reaches 80 % of the target and
//!   *breached* once it reaches 100 %. A threshold of `permille` ‰ is reached when elapsed ≥
//!   ⌈target × permille / 1000⌉ whole seconds, so the instant [`due_at`] returns is exactly
//!   the instant [`state`] changes.
//! - A stopped clock is *met* if it stopped before reaching its target, else *met late*.

use crate::calendar::Calendar;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Warning from 80 % of the target.
pub const WARN_PERMILLE: i64 = 800;
/// Breach at 100 % of the target.
pub const BREACH_PERMILLE: i64 = 1000;

/// Targets of an SLA policy, in business seconds. `None`: no target for that clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Policy {
    pub first_response_secs: Option<i64>,
    pub resolution_secs: Option<i64>,
}

/// One SLA clock's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    /// When the clock started (ticket creation).
    pub started: DateTime<Utc>,
    /// Pauses `[start, end)`: the ticket's stays in `pending_customer`; the current stay has
    /// no end. Pauses may be given in any order; overlapping pauses count once, and the
    /// parts before `started` or after the clock's end are ignored.
    pub pauses: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
    /// When the clock stopped (first public reply / resolution), if it has.
    pub stopped: Option<DateTime<Utc>>,
}

impl Clock {
    /// A running clock with no pauses.
    pub fn new(started: DateTime<Utc>) -> Clock {
        Clock {
            started,
            pauses: Vec::new(),
            stopped: None,
        }
    }

    /// Whether an open pause (no end) exists: the clock is paused now.
    pub fn is_paused(&self) -> bool {
        self.pauses.iter().any(|(_, end)| end.is_none())
    }

    /// The pauses clipped to `[started, until)`, sorted and merged; an open pause ends at
    /// `until`.
    fn active_pauses(&self, until: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let mut v: Vec<_> = self
            .pauses
            .iter()
            .map(|&(s, e)| (s.max(self.started), e.unwrap_or(until).min(until)))
            .filter(|(s, e)| e > s)
            .collect();
        v.sort();
        let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::with_capacity(v.len());
        for (s, e) in v {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged
    }
}

/// Business seconds the clock has run by `now`: from `started` to `min(now, stopped)`,
/// minus the business seconds inside pauses. Never negative.
pub fn elapsed(cal: &Calendar, clock: &Clock, now: DateTime<Utc>) -> i64 {
    let end = match clock.stopped {
        Some(stopped) => stopped.min(now),
        None => now,
    };
    if end <= clock.started {
        return 0;
    }
    let paused: i64 = clock
        .active_pauses(end)
        .iter()
        .map(|&(s, e)| cal.business_seconds(s, e))
        .sum();
    (cal.business_seconds(clock.started, end) - paused).max(0)
}

/// The business seconds at which `permille` ‰ of `target_secs` is reached:
/// ⌈target × permille / 1000⌉ (0 for non-positive products).
pub fn threshold(target_secs: i64, permille: i64) -> i64 {
    let product = i128::from(target_secs) * i128::from(permille);
    if product <= 0 {
        return 0;
    }
    let t = (product + 999) / 1000;
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// The instant at which the clock's elapsed time reaches [`threshold`]`(target_secs,
/// permille)`, assuming no further pauses: the moment to schedule the warning
/// (`WARN_PERMILLE`) or breach (`BREACH_PERMILLE`) job.
///
/// `None` if the clock is stopped or currently paused (reschedule when it resumes), or if
/// the calendar never gets there (see [`Calendar::add_business_seconds`]). The instant may
/// be in the past (the threshold was already reached).
pub fn due_at(
    cal: &Calendar,
    clock: &Clock,
    target_secs: i64,
    permille: i64,
) -> Option<DateTime<Utc>> {
    if clock.stopped.is_some() || clock.is_paused() {
        return None;
    }
    let goal = threshold(target_secs, permille);
    if goal == 0 {
        return Some(clock.started);
    }
    // Walk the running segments between pauses, all of which are closed.
    let far = DateTime::<Utc>::MAX_UTC;
    let mut acc = 0i64;
    let mut seg_start = clock.started;
    for (ps, pe) in clock.active_pauses(far) {
        let run = cal.business_seconds(seg_start, ps);
        if acc + run >= goal {
            return cal.add_business_seconds(seg_start, goal - acc);
        }
        acc += run;
        seg_start = pe;
    }
    cal.add_business_seconds(seg_start, goal - acc)
}

/// Where a clock stands, for queues and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaState {
    /// Running, below 80 %.
    Running,
    /// Paused now (pending customer), below 100 %.
    Paused,
    /// Running, 80 % or more but below 100 %.
    Warning,
    /// Not stopped and at or past 100 % (paused or not).
    Breached,
    /// Stopped below 100 %.
    Met,
    /// Stopped at or past 100 %.
    MetLate,
}

impl SlaState {
    /// snake_case name for storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            SlaState::Running => "running",
            SlaState::Paused => "paused",
            SlaState::Warning => "warning",
            SlaState::Breached => "breached",
            SlaState::Met => "met",
            SlaState::MetLate => "met_late",
        }
    }
}

/// The clock's state at `now` against `target_secs`:
/// stopped → `Met` if elapsed at the stop is below the target, else `MetLate`;
/// otherwise `Breached` at or past 100 % (even while paused), else `Paused` if an open
/// pause has begun by `now`, else `Warning` from 80 %, else `Running`.
pub fn state(cal: &Calendar, clock: &Clock, target_secs: i64, now: DateTime<Utc>) -> SlaState {
    let breach = threshold(target_secs, BREACH_PERMILLE);
    if let Some(stopped) = clock.stopped {
        return if elapsed(cal, clock, stopped) < breach {
            SlaState::Met
        } else {
            SlaState::MetLate
        };
    }
    let e = elapsed(cal, clock, now);
    if e >= breach {
        SlaState::Breached
    } else if clock
        .pauses
        .iter()
        .any(|&(s, end)| end.is_none() && s <= now)
    {
        SlaState::Paused
    } else if e >= threshold(target_secs, WARN_PERMILLE) {
        SlaState::Warning
    } else {
        SlaState::Running
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
    fn thresholds_round_up() {
        assert_eq!(threshold(3600, 800), 2880);
        assert_eq!(threshold(3600, 1000), 3600);
        assert_eq!(threshold(1, 800), 1);
        assert_eq!(threshold(7, 800), 6); // 5.6 -> 6
        assert_eq!(threshold(0, 1000), 0);
        assert_eq!(threshold(-5, 1000), 0);
        assert_eq!(threshold(i64::MAX, 1000), i64::MAX);
    }

    #[test]
    fn elapsed_counts_business_time_minus_pauses() {
        let cal = office();
        // Mon 2024-06-03 10:00, paused Mon 12:00 - Tue 10:00, now Tue 12:00.
        let clock = Clock {
            started: utc("2024-06-03T10:00:00Z"),
            pauses: vec![(
                utc("2024-06-03T12:00:00Z"),
                Some(utc("2024-06-04T10:00:00Z")),
            )],
            stopped: None,
        };
        // Business: Mon 10-17 (7h) + Tue 9-12 (3h) = 10h; paused business: Mon 12-17 (5h) +
        // Tue 9-10 (1h) = 6h. Elapsed 4h.
        assert_eq!(elapsed(&cal, &clock, utc("2024-06-04T12:00:00Z")), 4 * 3600);
        // Before the start: 0.
        assert_eq!(elapsed(&cal, &clock, utc("2024-06-03T09:00:00Z")), 0);
        // Stopped Tue 11:00: elapsed frozen at 3h.
        let stopped = Clock {
            stopped: Some(utc("2024-06-04T11:00:00Z")),
            ..clock.clone()
        };
        assert_eq!(
            elapsed(&cal, &stopped, utc("2024-06-20T12:00:00Z")),
            3 * 3600
        );
        // Overlapping and duplicate pauses count once; an open pause runs to now.
        let messy = Clock {
            started: utc("2024-06-03T09:00:00Z"),
            pauses: vec![
                (
                    utc("2024-06-03T11:00:00Z"),
                    Some(utc("2024-06-03T13:00:00Z")),
                ),
                (
                    utc("2024-06-03T10:00:00Z"),
                    Some(utc("2024-06-03T12:00:00Z")),
                ),
                (
                    utc("2024-06-03T10:00:00Z"),
                    Some(utc("2024-06-03T12:00:00Z")),
                ),
                (
                    utc("2024-06-03T08:00:00Z"),
                    Some(utc("2024-06-03T09:30:00Z")),
                ),
                (utc("2024-06-03T15:00:00Z"), None),
            ],
            stopped: None,
        };
        // Open 9-17 minus paused 9:00-9:30, 10-13, 15-17 = 8h - 5.5h = 2.5h.
        assert_eq!(elapsed(&cal, &messy, utc("2024-06-03T17:00:00Z")), 9000);
    }

    #[test]
    fn due_at_skips_closed_time_and_pauses() {
        let cal = office();
        let mut clock = Clock::new(utc("2024-06-07T15:00:00Z")); // Friday 15:00
                                                                 // 4 business hours: Fri 15-17 (2h) + Mon 9-11.
        assert_eq!(
            due_at(&cal, &clock, 4 * 3600, BREACH_PERMILLE),
            Some(utc("2024-06-10T11:00:00Z"))
        );
        // 80 % of 4h = 3h12m -> Mon 10:12.
        assert_eq!(
            due_at(&cal, &clock, 4 * 3600, WARN_PERMILLE),
            Some(utc("2024-06-10T10:12:00Z"))
        );
        // A closed pause Fri 16:00 - Mon 10:00 moves it to Mon 12:00 (Fri 15-16, Mon 10-13).
        clock.pauses.push((
            utc("2024-06-07T16:00:00Z"),
            Some(utc("2024-06-10T10:00:00Z")),
        ));
        assert_eq!(
            due_at(&cal, &clock, 4 * 3600, BREACH_PERMILLE),
            Some(utc("2024-06-10T13:00:00Z"))
        );
        // Reached exactly at a pause start: the pause start itself.
        assert_eq!(
            due_at(&cal, &clock, 3600, BREACH_PERMILLE),
            Some(utc("2024-06-07T16:00:00Z"))
        );
        // Open pause: unknown until it resumes.
        clock.pauses.push((utc("2024-06-10T11:00:00Z"), None));
        assert_eq!(due_at(&cal, &clock, 4 * 3600, BREACH_PERMILLE), None);
        // Stopped: nothing to schedule.
        let stopped = Clock {
            stopped: Some(utc("2024-06-07T15:30:00Z")),
            ..Clock::new(utc("2024-06-07T15:00:00Z"))
        };
        assert_eq!(due_at(&cal, &stopped, 3600, BREACH_PERMILLE), None);
        // Zero target: due at the start.
        let c = Clock::new(utc("2024-06-08T15:00:00Z"));
        assert_eq!(due_at(&cal, &c, 0, BREACH_PERMILLE), Some(c.started));
    }

    #[test]
    fn states_at_the_boundaries() {
        let cal = Calendar::always();
        let t0 = utc("2024-06-03T10:00:00Z");
        let at = |s: i64| t0 + chrono::TimeDelta::seconds(s);
        let clock = Clock::new(t0);
        let target = 1000;
        assert_eq!(state(&cal, &clock, target, at(0)), SlaState::Running);
        assert_eq!(state(&cal, &clock, target, at(799)), SlaState::Running);
        assert_eq!(state(&cal, &clock, target, at(800)), SlaState::Warning);
        assert_eq!(state(&cal, &clock, target, at(999)), SlaState::Warning);
        assert_eq!(state(&cal, &clock, target, at(1000)), SlaState::Breached);
        assert_eq!(due_at(&cal, &clock, target, WARN_PERMILLE), Some(at(800)));
        assert_eq!(
            due_at(&cal, &clock, target, BREACH_PERMILLE),
            Some(at(1000))
        );

        let met = Clock {
            stopped: Some(at(999)),
            ..clock.clone()
        };
        assert_eq!(state(&cal, &met, target, at(5000)), SlaState::Met);
        let late = Clock {
            stopped: Some(at(1000)),
            ..clock.clone()
        };
        assert_eq!(state(&cal, &late, target, at(5000)), SlaState::MetLate);

        let paused = Clock {
            pauses: vec![(at(900), None)],
            ..clock.clone()
        };
        assert_eq!(state(&cal, &paused, target, at(899)), SlaState::Warning);
        assert_eq!(state(&cal, &paused, target, at(5000)), SlaState::Paused);
        let paused_early = Clock {
            pauses: vec![(at(100), None)],
            ..clock.clone()
        };
        assert_eq!(
            state(&cal, &paused_early, target, at(5000)),
            SlaState::Paused
        );
        let paused_late = Clock {
            pauses: vec![(at(1200), None)],
            ..clock.clone()
        };
        assert_eq!(
            state(&cal, &paused_late, target, at(5000)),
            SlaState::Breached
        );
        assert_eq!(SlaState::MetLate.as_str(), "met_late");
        assert_eq!(
            serde_json::to_string(&SlaState::MetLate).unwrap(),
            "\"met_late\""
        );
    }
}
