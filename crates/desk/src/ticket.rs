//! Tickets: the closed vocabularies (status, channel, category, priority), what each event
//! does to a ticket's status, and the ticket number as it appears in email subjects.
//!
//! Status rules (DESK.md "Records"; where DESK.md is silent, Zendesk's behaviour):
//!
//! | event \ from              | new | open | pending_*  | resolved            | closed |
//! |---------------------------|-----|------|------------|---------------------|--------|
//! | customer reply            | new | open | open       | open, reopened      | closed, follow-up |
//! | agent public reply        | pending_customer (or `set_status`) | ← | ← | resolved (or `set_status`) | error |
//! | internal note             | unchanged | ← | ← | ← | error |
//! | set status                | see [`transition`] | | | | error |
//!
//! - `closed` is final: nothing moves a ticket out of it. A customer writing to a closed
//!   ticket gets a *follow-up* ticket linked to it (the caller opens it; see
//!   [`Transition::follow_up`]).
//! - `closed` is reached only from `resolved` (by an agent or the auto-close job).
//! - `new` is never set by hand: it means "nobody has touched this yet".
//! - Leaving `resolved` for any status other than `closed` is a *reopen*
//!   ([`Transition::reopened`]); the caller counts it on the ticket.

use crate::DeskError;

string_enum! {
    /// Where a ticket stands: new → open → pending_customer | pending_internal → resolved →
    /// closed.
    pub enum Status ("status") {
        /// Created and not yet touched by an agent.
        New => "new",
        /// An agent is working on it.
        Open => "open",
        /// Waiting for the customer; pauses the resolution SLA clock.
        PendingCustomer => "pending_customer",
        /// Waiting on another team or a third party; the SLA clocks keep running.
        PendingInternal => "pending_internal",
        /// Answered; reopens if the customer replies.
        Resolved => "resolved",
        /// Final; a reply opens a follow-up ticket.
        Closed => "closed",
    }
}

impl Status {
    /// Words for messages: "pending customer" rather than "pending_customer".
    pub fn label(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::PendingCustomer => "pending customer",
            Status::PendingInternal => "pending internal",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    /// New, open or pending: the ticket still needs work (it shows in queues).
    pub fn is_unsolved(self) -> bool {
        !matches!(self, Status::Resolved | Status::Closed)
    }

    /// Only `pending_customer` pauses the resolution clock (DESK.md "SLA"); first-response
    /// clocks never pause.
    pub fn pauses_resolution_clock(self) -> bool {
        self == Status::PendingCustomer
    }
}

string_enum! {
    /// How a contact reached the desk.
    pub enum Channel ("channel") {
        Email => "email",
        Chat => "chat",
        Phone => "phone",
        Portal => "portal",
        Api => "api",
    }
}

impl Channel {
    /// Chat and phone contacts are live sessions: they carry wait/talk/hold/wrap-up
    /// seconds, need identity verification before account actions, and one session counts
    /// as one contact for FCR.
    pub fn is_live(self) -> bool {
        matches!(self, Channel::Chat | Channel::Phone)
    }
}

string_enum! {
    /// What a ticket is about (DESK.md "Records").
    pub enum Category ("category") {
        InvoiceDiscrepancy => "invoice_discrepancy",
        PaymentIssue => "payment_issue",
        RefundAdjustment => "refund_adjustment",
        PaymentTerms => "payment_terms",
        AccountChange => "account_change",
        PlanChange => "plan_change",
        Other => "other",
    }
}

string_enum! {
    /// Ticket priority; SLA policies are chosen by priority and category. Ordered
    /// `Low < Normal < High < Urgent`.
    pub enum Priority ("priority") {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
}

/// Something that happens to a ticket and may change its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketEvent {
    /// The customer wrote (email, portal, chat message on the ticket).
    CustomerReply,
    /// An agent sent a public reply, optionally choosing the status in the same step
    /// ("submit as resolved").
    AgentReply { set_status: Option<Status> },
    /// An agent added an internal note (never visible to the customer).
    InternalNote,
    /// An agent (or an automation) changed the status without replying.
    SetStatus(Status),
}

/// The result of an event: the status the ticket moves to, and what the caller must record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Transition {
    /// The ticket's status after the event (may equal the old one).
    pub to: Status,
    /// The ticket left `resolved` for an unsolved status: increment its reopen count and
    /// record when (FCR looks at reopens within 7 days).
    pub reopened: bool,
    /// The ticket is closed and stays closed: the caller opens a new ticket linked to this
    /// one as its follow-up, carrying the customer's message.
    pub follow_up: bool,
}

/// What `event` does to a ticket in status `from`.
///
/// - **Customer reply**: `new` stays `new`, `open` stays `open`, `pending_customer` and
///   `pending_internal` become `open` (the ball is back with us), `resolved` becomes `open`
///   with `reopened`, `closed` stays `closed` with `follow_up` (not an error: the message
///   must not be lost).
/// - **Agent public reply**: with `set_status: None`, `new`, `open` and `pending_*` become
///   `pending_customer` (the agent now waits for the customer) and `resolved` stays
///   `resolved`; with `set_status: Some(s)` the status moves to `s` under the rules of a
///   status change below. On `closed`: error.
/// - **Internal note**: never changes the status. On `closed`: error.
/// - **Set status** to `to`:
///   - from `closed`: error (closed is final);
///   - to `new`: error (`new` only ever means untouched), even from `new`;
///   - to `closed`: only from `resolved`;
///   - anything else is allowed, including setting the current status again (a no-op);
///   - from `resolved` to `open`/`pending_*` is a reopen.
pub fn transition(from: Status, ev: &TicketEvent) -> Result<Transition, DeskError> {
    let stay = |to| Transition {
        to,
        reopened: false,
        follow_up: false,
    };
    match *ev {
        TicketEvent::CustomerReply => Ok(match from {
            Status::New => stay(Status::New),
            Status::Open | Status::PendingCustomer | Status::PendingInternal => stay(Status::Open),
            Status::Resolved => Transition {
                to: Status::Open,
                reopened: true,
                follow_up: false,
            },
            Status::Closed => Transition {
                to: Status::Closed,
                reopened: false,
                follow_up: true,
            },
        }),
        TicketEvent::AgentReply { set_status } => {
            if from == Status::Closed {
                return Err(DeskError::Transition {
                    from,
                    event: "reply to",
                });
            }
            match set_status {
                Some(to) => set_status_rule(from, to),
                None if from == Status::Resolved => Ok(stay(Status::Resolved)),
                None => Ok(stay(Status::PendingCustomer)),
            }
        }
        TicketEvent::InternalNote => {
            if from == Status::Closed {
                return Err(DeskError::Transition {
                    from,
                    event: "add a note to",
                });
            }
            Ok(stay(from))
        }
        TicketEvent::SetStatus(to) => set_status_rule(from, to),
    }
}

fn set_status_rule(from: Status, to: Status) -> Result<Transition, DeskError> {
    if from == Status::Closed {
        return Err(DeskError::Transition {
            from,
            event: "change the status of",
        });
    }
    if to == Status::New {
        return Err(DeskError::Transition {
            from,
            event: "mark as new",
        });
    }
    if to == Status::Closed && from != Status::Resolved {
        return Err(DeskError::Transition {
            from,
            event: "close",
        });
    }
    Ok(Transition {
        to,
        reopened: from == Status::Resolved && to.is_unsolved(),
        follow_up: false,
    })
}

/// The ticket number as people see it: `T-1234`.
pub fn format_number(n: i64) -> String {
    format!("T-{n}")
}

/// The ticket number tagged in an email subject as `[#T-1234]`, anywhere in the subject;
/// the first valid tag wins (a follow-up's subject carries its own tag first, the old
/// ticket's after it).
///
/// Strict on purpose, since the tag is machine-written by [`subject_with_number`]: exactly
/// `[`, `#`, `T` or `t`, `-`, decimal digits, `]`, with no spaces inside the brackets. The
/// number must be positive, have no leading zero and fit in an `i64`; tags that break
/// these rules are skipped, not errors.
pub fn number_in_subject(subject: &str) -> Option<i64> {
    numbers_in_subject(subject).next()
}

/// Every valid `[#T-n]` tag in `subject`, in order (see [`number_in_subject`]).
pub fn numbers_in_subject(subject: &str) -> impl Iterator<Item = i64> + '_ {
    let bytes = subject.as_bytes();
    (0..bytes.len()).filter_map(move |i| parse_tag(&bytes[i..]))
}

/// Parses a tag at the start of `b`.
fn parse_tag(b: &[u8]) -> Option<i64> {
    let rest = b.strip_prefix(b"[#")?;
    let rest = match rest.first()? {
        b'T' | b't' => &rest[1..],
        _ => return None,
    };
    let rest = rest.strip_prefix(b"-")?;
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || rest.get(digits) != Some(&b']') || rest[0] == b'0' {
        return None;
    }
    // ASCII digits are valid UTF-8; parse fails on overflow.
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// The subject with the tag `[#T-n] ` in front, unless the subject already carries the tag
/// for this same number (in any letter case, anywhere). A tag for another number (the
/// original ticket of a follow-up) is kept and the new tag goes in front of it, so
/// [`number_in_subject`] finds `n` first. An empty subject becomes just `[#T-n]`.
pub fn subject_with_number(subject: &str, n: i64) -> String {
    if numbers_in_subject(subject).any(|m| m == n) {
        return subject.to_string();
    }
    let trimmed = subject.trim();
    if trimmed.is_empty() {
        format!("[#{}]", format_number(n))
    } else {
        format!("[#{}] {trimmed}", format_number(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(from: Status, ev: TicketEvent) -> Result<Transition, DeskError> {
        transition(from, &ev)
    }

    fn plain(to: Status) -> Transition {
        Transition {
            to,
            reopened: false,
            follow_up: false,
        }
    }

    #[test]
    fn vocabularies_round_trip_through_strings_and_serde() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Ok(*s));
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Ok(*c));
            assert_eq!(
                serde_json::to_string(c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Ok(*c));
            assert_eq!(
                serde_json::to_string(c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
        for p in Priority::ALL {
            assert_eq!(Priority::parse(p.as_str()), Ok(*p));
            assert_eq!(
                serde_json::from_str::<Priority>(&format!("\"{}\"", p.as_str())).unwrap(),
                *p
            );
        }
        assert_eq!(Status::ALL.len(), 6);
        assert_eq!(Channel::ALL.len(), 5);
        assert_eq!(Category::ALL.len(), 7);
        assert_eq!(Priority::ALL.len(), 4);
        assert_eq!(Status::PendingCustomer.as_str(), "pending_customer");
        assert_eq!(Category::InvoiceDiscrepancy.as_str(), "invoice_discrepancy");
    }

    #[test]
    fn parse_is_strict_and_names_the_field() {
        let err = Status::parse("Open").unwrap_err();
        assert!(
            matches!(
                err,
                DeskError::Invalid {
                    field: "status",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("pending_customer"), "{err}");
        assert!(Status::parse(" open").is_err());
        assert!(Priority::parse("critical").is_err());
        assert!(Channel::parse("").is_err());
    }

    #[test]
    fn customer_reply() {
        assert_eq!(
            t(Status::New, TicketEvent::CustomerReply),
            Ok(plain(Status::New))
        );
        assert_eq!(
            t(Status::Open, TicketEvent::CustomerReply),
            Ok(plain(Status::Open))
        );
        assert_eq!(
            t(Status::PendingCustomer, TicketEvent::CustomerReply),
            Ok(plain(Status::Open))
        );
        assert_eq!(
            t(Status::PendingInternal, TicketEvent::CustomerReply),
            Ok(plain(Status::Open))
        );
        assert_eq!(
            t(Status::Resolved, TicketEvent::CustomerReply),
            Ok(Transition {
                to: Status::Open,
                reopened: true,
                follow_up: false
            })
        );
        assert_eq!(
            t(Status::Closed, TicketEvent::CustomerReply),
            Ok(Transition {
                to: Status::Closed,
                reopened: false,
                follow_up: true
            })
        );
    }

    #[test]
    fn agent_reply_waits_for_the_customer_by_default() {
        let reply = TicketEvent::AgentReply { set_status: None };
        for from in [
            Status::New,
            Status::Open,
            Status::PendingCustomer,
            Status::PendingInternal,
        ] {
            assert_eq!(t(from, reply), Ok(plain(Status::PendingCustomer)), "{from}");
        }
        assert_eq!(t(Status::Resolved, reply), Ok(plain(Status::Resolved)));
        let err = t(Status::Closed, reply).unwrap_err();
        assert_eq!(err.to_string(), "cannot reply to a closed ticket");
    }

    #[test]
    fn agent_reply_with_status() {
        let reply = |s| TicketEvent::AgentReply {
            set_status: Some(s),
        };
        assert_eq!(
            t(Status::New, reply(Status::Resolved)),
            Ok(plain(Status::Resolved))
        );
        assert_eq!(
            t(Status::Open, reply(Status::PendingInternal)),
            Ok(plain(Status::PendingInternal))
        );
        assert_eq!(
            t(Status::Open, reply(Status::Open)),
            Ok(plain(Status::Open))
        );
        assert_eq!(
            t(Status::Resolved, reply(Status::Open)),
            Ok(Transition {
                to: Status::Open,
                reopened: true,
                follow_up: false
            })
        );
        assert_eq!(
            t(Status::Resolved, reply(Status::Closed)),
            Ok(plain(Status::Closed))
        );
        assert!(t(Status::Open, reply(Status::Closed)).is_err());
        assert!(t(Status::Open, reply(Status::New)).is_err());
        assert!(t(Status::Closed, reply(Status::Open)).is_err());
    }

    #[test]
    fn internal_note_never_changes_status() {
        for from in Status::ALL.iter().copied().filter(|s| *s != Status::Closed) {
            assert_eq!(t(from, TicketEvent::InternalNote), Ok(plain(from)));
        }
        assert_eq!(
            t(Status::Closed, TicketEvent::InternalNote)
                .unwrap_err()
                .to_string(),
            "cannot add a note to a closed ticket"
        );
    }

    #[test]
    fn set_status_rules() {
        let set = TicketEvent::SetStatus;
        // Closed is final.
        for to in Status::ALL {
            assert!(t(Status::Closed, set(*to)).is_err(), "closed -> {to}");
        }
        // New is never set by hand.
        for from in Status::ALL {
            assert!(t(*from, set(Status::New)).is_err(), "{from} -> new");
        }
        // Closed only from resolved.
        for from in [
            Status::New,
            Status::Open,
            Status::PendingCustomer,
            Status::PendingInternal,
        ] {
            let err = t(from, set(Status::Closed)).unwrap_err();
            assert!(err.to_string().starts_with("cannot close"), "{err}");
        }
        assert_eq!(
            t(Status::Resolved, set(Status::Closed)),
            Ok(plain(Status::Closed))
        );
        assert_eq!(t(Status::New, set(Status::Open)), Ok(plain(Status::Open)));
        assert_eq!(
            t(Status::PendingCustomer, set(Status::Resolved)),
            Ok(plain(Status::Resolved))
        );
        assert_eq!(
            t(Status::Resolved, set(Status::Resolved)),
            Ok(plain(Status::Resolved))
        );
        assert_eq!(
            t(Status::Resolved, set(Status::PendingCustomer)),
            Ok(Transition {
                to: Status::PendingCustomer,
                reopened: true,
                follow_up: false
            })
        );
    }

    #[test]
    fn nothing_leaves_closed() {
        let events = [
            TicketEvent::CustomerReply,
            TicketEvent::InternalNote,
            TicketEvent::AgentReply { set_status: None },
        ];
        for ev in events
            .iter()
            .copied()
            .chain(Status::ALL.iter().map(|s| TicketEvent::SetStatus(*s)))
        {
            if let Ok(tr) = t(Status::Closed, ev) {
                assert_eq!(tr.to, Status::Closed, "{ev:?}");
            }
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(format_number(1234), "T-1234");
        assert_eq!(number_in_subject("Re: [#T-1234] Invoice"), Some(1234));
        assert_eq!(number_in_subject("Invoice question [#t-7]"), Some(7));
        assert_eq!(number_in_subject("[#T-9] Re: [#T-5] Invoice"), Some(9));
        assert_eq!(number_in_subject("[#T-x] [#T-12]"), Some(12));
        assert_eq!(number_in_subject("[# T-1234 ]"), None);
        assert_eq!(number_in_subject("[#T-1234"), None);
        assert_eq!(number_in_subject("[#T-]"), None);
        assert_eq!(number_in_subject("[#T-012]"), None);
        assert_eq!(number_in_subject("[#T-0]"), None);
        assert_eq!(number_in_subject("[#T-99999999999999999999]"), None);
        assert_eq!(number_in_subject("#T-1234"), None);
        assert_eq!(number_in_subject("Счёт [#T-42] ✓"), Some(42));
        assert_eq!(number_in_subject(""), None);
    }

    #[test]
    fn subject_tagging() {
        assert_eq!(subject_with_number("Invoice", 12), "[#T-12] Invoice");
        assert_eq!(
            subject_with_number("Re: [#T-12] Invoice", 12),
            "Re: [#T-12] Invoice"
        );
        assert_eq!(
            subject_with_number("Re: [#t-12] Invoice", 12),
            "Re: [#t-12] Invoice"
        );
        assert_eq!(
            subject_with_number("Re: [#T-5] Invoice", 12),
            "[#T-12] Re: [#T-5] Invoice"
        );
        assert_eq!(
            number_in_subject(&subject_with_number("Re: [#T-5] x", 12)),
            Some(12)
        );
        assert_eq!(subject_with_number("  ", 3), "[#T-3]");
        assert_eq!(number_in_subject(&subject_with_number("", 3)), Some(3));
    }
}
