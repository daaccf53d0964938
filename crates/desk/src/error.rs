//! The one error type of the desk rules; each variant names what is wrong and where, so the
//! web layer can map it to `{"error": {"type", "code", "message", "param"}}` without
//! guessing.

use crate::ticket::Status;

/// A rule was asked to do something invalid.
///
/// [`DeskError::code`] gives a stable machine-readable code and [`DeskError::param`] the
/// offending field, for the API's error body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeskError {
    /// A value is malformed or out of range. `field` names it as the caller knows it
    /// (`"status"`, `"hours.mon"`, `"time_zone"`, …).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// A ticket event is not allowed in the ticket's current status, e.g. replying to a
    /// closed ticket. Displays as "cannot reply to a closed ticket".
    #[error("cannot {event} {} ticket", with_article(from.label()))]
    Transition { from: Status, event: &'static str },
    /// Knowledge factors did not verify the caller (DESK.md "Identity verification").
    /// The message never says which factor was wrong, so it can be read to the caller.
    #[error("identity not verified: {message}")]
    NotVerified { message: String },
}

impl DeskError {
    /// Shorthand for [`DeskError::Invalid`].
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        DeskError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// A stable code for the API: `invalid`, `invalid_transition` or
    /// `identity_not_verified` (the code DESK.md names for refused unverified actions).
    pub fn code(&self) -> &'static str {
        match self {
            DeskError::Invalid { .. } => "invalid",
            DeskError::Transition { .. } => "invalid_transition",
            DeskError::NotVerified { .. } => "identity_not_verified",
        }
    }

    /// The request field at fault, where there is one (`"status"` for transitions).
    pub fn param(&self) -> Option<&'static str> {
        match self {
            DeskError::Invalid { field, .. } => Some(field),
            DeskError::Transition { .. } => Some("status"),
            DeskError::NotVerified { .. } => None,
        }
    }
}

/// "an open", "a closed", … for messages.
fn with_article(word: &str) -> String {
    let vowel = word
        .chars()
        .next()
        .is_some_and(|c| matches!(c.to_ascii_lowercase(), 'a' | 'e' | 'i' | 'o' | 'u'));
    if vowel {
        format!("an {word}")
    } else {
        format!("a {word}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_message_reads_as_english() {
        let e = DeskError::Transition {
            from: Status::Closed,
            event: "reply to",
        };
        assert_eq!(e.to_string(), "cannot reply to a closed ticket");
        let e = DeskError::Transition {
            from: Status::Open,
            event: "mark as new",
        };
        assert_eq!(e.to_string(), "cannot mark as new an open ticket");
        assert_eq!(e.code(), "invalid_transition");
        assert_eq!(e.param(), Some("status"));
    }

    #[test]
    fn invalid_names_its_field() {
        let e = DeskError::invalid("hours.mon", "bad time \"9:0\"");
        assert_eq!(e.to_string(), "hours.mon: bad time \"9:0\"");
        assert_eq!(e.code(), "invalid");
        assert_eq!(e.param(), Some("hours.mon"));
    }
}
