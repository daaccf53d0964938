//! KPI arithmetic on plain facts, exactly as DESK.md's "KPIs" section defines them. The
//! store selects the facts for a date range, team, agent or channel; this module only
//! counts and divides, so every report uses one definition.

use serde::{Deserialize, Serialize};

/// A share as its two counts, so reports can show "42 / 50" as well as 84 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ratio {
    pub numerator: u64,
    pub denominator: u64,
}

impl Ratio {
    /// numerator ÷ denominator; `None` when there is nothing to divide by.
    pub fn value(&self) -> Option<f64> {
        (self.denominator > 0).then(|| self.numerator as f64 / self.denominator as f64)
    }
}

/// The facts FCR needs about one ticket resolved in the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResolvedTicket {
    /// Public agent replies outside live sessions (email, portal, API).
    pub public_agent_replies: u32,
    /// Call and chat sessions with an agent (a session's messages count as the session,
    /// not as replies).
    pub sessions: u32,
    /// Reopened within 7 days of resolution. A customer message that needed no further
    /// agent work (a "thank you" the agent re-resolves without a public reply or session)
    /// is not a reopen; the store should set this only when the reopen led to more work.
    pub reopened_within_7d: bool,
    /// Closed with no agent reply at all (spam, merged, withdrawn).
    pub closed_without_agent_reply: bool,
}

/// First contact resolution: of the tickets resolved in the range, the share whose
/// resolution needed exactly one agent contact — `public_agent_replies + sessions == 1` —
/// and that were not reopened within 7 days. Tickets with no agent contact at all
/// (`closed_without_agent_reply`, or zero replies and sessions) are left out of both counts.
pub fn fcr(tickets: &[ResolvedTicket]) -> Ratio {
    let mut r = Ratio::default();
    for t in tickets {
        let contacts = u64::from(t.public_agent_replies) + u64::from(t.sessions);
        if t.closed_without_agent_reply || contacts == 0 {
            continue;
        }
        r.denominator += 1;
        if contacts == 1 && !t.reopened_within_7d {
            r.numerator += 1;
        }
    }
    r
}

/// Average handling time in seconds: the sum of handling seconds (talk + hold + wrap-up
/// for calls and chats, active time for email) ÷ contacts handled, one value per contact.
/// `None` with no contacts.
pub fn aht(handling_secs: &[i64]) -> Option<f64> {
    if handling_secs.is_empty() {
        return None;
    }
    let sum: i128 = handling_secs.iter().map(|&s| i128::from(s)).sum();
    Some(sum as f64 / handling_secs.len() as f64)
}

/// CSAT: of the answered surveys, the share rating 4 or 5 (of 5). Unanswered surveys
/// (`None`) are left out, and so are values outside 1–5 (not valid answers).
pub fn csat(ratings: &[Option<u8>]) -> Ratio {
    let mut r = Ratio::default();
    for rating in ratings.iter().flatten() {
        if (1..=5).contains(rating) {
            r.denominator += 1;
            if *rating >= 4 {
                r.numerator += 1;
            }
        }
    }
    r
}

/// The median and 90th percentile of durations (first response time, time to resolution).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Percentiles {
    pub median: Option<i64>,
    pub p90: Option<i64>,
    pub count: usize,
}

/// Median and 90th percentile by the nearest-rank method: the p-th percentile of n sorted
/// values is the value at rank ⌈p/100 × n⌉ (1-based). Always an observed value, never an
/// interpolation; for an even count the median is the lower of the two middle values.
/// Sorts `values` in place. `None`s when empty.
pub fn percentiles(values: &mut [i64]) -> Percentiles {
    values.sort_unstable();
    Percentiles {
        median: nearest_rank(values, 50),
        p90: nearest_rank(values, 90),
        count: values.len(),
    }
}

/// The `p`-th percentile (1..=100) of sorted values by nearest rank.
pub fn nearest_rank(sorted: &[i64], p: u32) -> Option<i64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (p as usize * n).div_ceil(100).clamp(1, n);
    Some(sorted[rank - 1])
}

/// Billing accuracy for invoices finalized in a month: 1 − (those later credited with
/// reason `billing_error` ÷ those finalized). `credited_billing_error` counts distinct
/// invoices, so it cannot exceed `finalized`; if it does, the result is clamped to 0.
/// `None` when nothing was finalized.
pub fn billing_accuracy(finalized: u64, credited_billing_error: u64) -> Option<f64> {
    if finalized == 0 {
        return None;
    }
    Some((1.0 - credited_billing_error as f64 / finalized as f64).max(0.0))
}

/// Billing contacts per 1,000 invoices: contacts × 1000 ÷ invoices. `None` without
/// invoices.
pub fn per_thousand(contacts: u64, invoices: u64) -> Option<f64> {
    (invoices > 0).then(|| contacts as f64 * 1000.0 / invoices as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(replies: u32, sessions: u32, reopened: bool, no_reply: bool) -> ResolvedTicket {
        ResolvedTicket {
            public_agent_replies: replies,
            sessions,
            reopened_within_7d: reopened,
            closed_without_agent_reply: no_reply,
        }
    }

    #[test]
    fn fcr_fixture() {
        let tickets = [
            t(1, 0, false, false), // one email reply: FCR
            t(0, 1, false, false), // one call: FCR
            t(1, 1, false, false), // reply + call: not FCR
            t(2, 0, false, false), // two replies: not FCR
            t(1, 0, true, false),  // one reply but reopened: not FCR
            t(0, 2, false, false), // two chats: not FCR
            t(0, 0, false, true),  // spam: left out
            t(0, 0, false, false), // no agent contact: left out
            t(1, 0, false, true),  // flagged closed without reply: left out
        ];
        let r = fcr(&tickets);
        assert_eq!(
            r,
            Ratio {
                numerator: 2,
                denominator: 6
            }
        );
        assert_eq!(r.value(), Some(2.0 / 6.0));
        assert_eq!(fcr(&[]).value(), None);
    }

    #[test]
    fn aht_fixture() {
        assert_eq!(aht(&[]), None);
        assert_eq!(aht(&[300]), Some(300.0));
        // (120 + 300 + 45) / 3 = 155.
        assert_eq!(aht(&[120, 300, 45]), Some(155.0));
        assert_eq!(aht(&[1, 2]), Some(1.5));
        assert_eq!(aht(&[i64::MAX, i64::MAX]), Some(i64::MAX as f64));
    }

    #[test]
    fn csat_fixture() {
        let r = csat(&[
            Some(5),
            Some(4),
            Some(3),
            None,
            Some(1),
            None,
            Some(5),
            Some(0),
            Some(6),
        ]);
        assert_eq!(
            r,
            Ratio {
                numerator: 3,
                denominator: 5
            }
        );
        assert_eq!(r.value(), Some(0.6));
        assert_eq!(csat(&[None, None]).value(), None);
    }

    #[test]
    fn percentiles_fixture() {
        assert_eq!(
            percentiles(&mut []),
            Percentiles {
                median: None,
                p90: None,
                count: 0
            }
        );
        assert_eq!(
            percentiles(&mut [42]),
            Percentiles {
                median: Some(42),
                p90: Some(42),
                count: 1
            }
        );
        // 1..=10 shuffled: median rank ⌈5⌉ = 5 -> 5; p90 rank ⌈9⌉ = 9 -> 9.
        let mut v = [7, 3, 10, 1, 9, 2, 8, 4, 6, 5];
        assert_eq!(
            percentiles(&mut v),
            Percentiles {
                median: Some(5),
                p90: Some(9),
                count: 10
            }
        );
        assert_eq!(v, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        // Four values: median rank 2 (lower middle, no averaging); p90 rank ⌈3.6⌉ = 4.
        assert_eq!(
            percentiles(&mut [40, 10, 30, 20]),
            Percentiles {
                median: Some(20),
                p90: Some(40),
                count: 4
            }
        );
        // Eleven values: median rank ⌈5.5⌉ = 6; p90 rank ⌈9.9⌉ = 10.
        let mut v: Vec<i64> = (1..=11).map(|x| x * 100).collect();
        assert_eq!(
            percentiles(&mut v),
            Percentiles {
                median: Some(600),
                p90: Some(1000),
                count: 11
            }
        );
        assert_eq!(nearest_rank(&[1, 2, 3], 100), Some(3));
        assert_eq!(nearest_rank(&[1, 2, 3], 1), Some(1));
    }

    #[test]
    fn accuracy_and_volume() {
        assert_eq!(billing_accuracy(0, 0), None);
        assert_eq!(billing_accuracy(1000, 0), Some(1.0));
        assert_eq!(billing_accuracy(1000, 25), Some(0.975));
        assert_eq!(billing_accuracy(4, 5), Some(0.0));
        assert_eq!(per_thousand(5, 0), None);
        assert_eq!(per_thousand(37, 1000), Some(37.0));
        assert_eq!(per_thousand(3, 200), Some(15.0));
    }
}
