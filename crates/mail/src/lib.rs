//! Sending email. [`Mailer`] is where notifications (and later the desk's replies) leave
//! Ledgerdesk: over SMTP to the server named by a URL, or nowhere when none is configured.
//!
//! URL forms (lettre's): `smtp://host:port` (plain, for a relay on loopback or a test
//! server), `smtp://host:587?tls=required` (STARTTLS), `smtps://host:465` (implicit TLS);
//! credentials as `smtp://user:password@host`. Failures are split by whether trying again
//! can help: a connection refused or a 4xx reply is [`MailError::Transient`]; a 5xx reply
//! (the recipient does not exist, the message is refused) is [`MailError::Permanent`].
//!
//! Receiving: [`inbound`] parses one raw message into what the desk needs; [`maildir`]
//! reads raw messages a local MTA delivered into a Maildir.

pub mod inbound;
pub mod maildir;

use lettre::message::header::{ContentType, InReplyTo, References};
use lettre::message::{Mailbox, MessageBuilder, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// One message to send: plain text, with a stable Message-ID so a receiver can recognise a
/// repeat (SMTP delivery is at least once: a crash after the server accepted the message
/// but before we recorded it sends it again).
#[derive(Debug, Clone, Default)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// Without angle brackets, e.g. `ntf_123@ledgerdesk`.
    pub message_id: String,
    /// The Message-ID this answers, without angle brackets; sets `In-Reply-To` so the
    /// receiver's mail program threads the reply.
    pub in_reply_to: Option<String>,
    /// The thread's Message-IDs, oldest first, without angle brackets; sets `References`.
    pub references: Vec<String>,
    /// Files sent along; with any, the message is `multipart/mixed` (the text first).
    pub attachments: Vec<Attachment>,
}

/// A file attached to an [`Email`].
#[derive(Clone, Default)]
pub struct Attachment {
    pub filename: String,
    /// MIME type, e.g. `application/pdf`.
    pub content_type: String,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Attachment({:?}, {}, {} bytes)",
            self.filename,
            self.content_type,
            self.data.len()
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Worth trying again later (server down, busy, 4xx).
    #[error("mail server unavailable: {0}")]
    Transient(String),
    /// Trying again cannot help (bad address, 5xx).
    #[error("mail refused: {0}")]
    Permanent(String),
}

/// Where email goes.
#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    /// No mail server configured: nothing is sent, and callers record that.
    Off,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::Smtp { from, .. } => write!(f, "Mailer::Smtp(from {from})"),
            Mailer::Off => write!(f, "Mailer::Off"),
        }
    }
}

impl Mailer {
    /// A mailer for the SMTP server at `url`, sending from `from` (`Name <addr>` or `addr`).
    pub fn smtp(url: &str, from: &str) -> Result<Mailer, String> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("invalid sender address {from:?}: {e}"))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("invalid SMTP URL {url:?}: {e}"))?
            .timeout(Some(Duration::from_secs(15)))
            .build();
        Ok(Mailer::Smtp { transport, from })
    }

    pub fn is_on(&self) -> bool {
        matches!(self, Mailer::Smtp { .. })
    }

    /// Sends one message. `Off` sends nothing and says so as a permanent error.
    pub async fn send(&self, email: &Email) -> Result<(), MailError> {
        let Mailer::Smtp { transport, from } = self else {
            return Err(MailError::Permanent("no mail server is configured".into()));
        };
        let msg = build_message(from, email)?;
        match transport.send(msg).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::Permanent(e.to_string())),
            Err(e) => Err(MailError::Transient(e.to_string())),
        }
    }
}

/// Builds the message [`Mailer::send`] sends: plain text, with `Message-ID`, and
/// `In-Reply-To` / `References` when the email answers an earlier message. Ids are given
/// without angle brackets (brackets that are there anyway are not doubled).
pub fn build_message(from: &Mailbox, email: &Email) -> Result<Message, MailError> {
    let to: Mailbox = email
        .to
        .parse()
        .map_err(|e| MailError::Permanent(format!("invalid recipient {:?}: {e}", email.to)))?;
    let mut builder = MessageBuilder::new()
        .from(from.clone())
        .to(to)
        .subject(&email.subject)
        .message_id(Some(bracketed(&email.message_id)));
    if let Some(id) = email
        .in_reply_to
        .as_deref()
        .filter(|id| !bare(id).is_empty())
    {
        builder = builder.header(InReplyTo::from(bracketed(id)));
    }
    let references: Vec<String> = email
        .references
        .iter()
        .filter(|id| !bare(id).is_empty())
        .map(|id| bracketed(id))
        .collect();
    if !references.is_empty() {
        builder = builder.header(References::from(references.join(" ")));
    }
    let built = if email.attachments.is_empty() {
        builder
            .header(ContentType::TEXT_PLAIN)
            .body(email.body.clone())
    } else {
        let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(email.body.clone()));
        for a in &email.attachments {
            let ctype = ContentType::parse(&a.content_type).map_err(|e| {
                MailError::Permanent(format!(
                    "attachment {:?}: bad content type {:?}: {e}",
                    a.filename, a.content_type
                ))
            })?;
            parts = parts.singlepart(
                lettre::message::Attachment::new(a.filename.clone()).body(a.data.clone(), ctype),
            );
        }
        builder.multipart(parts)
    };
    built.map_err(|e| MailError::Permanent(format!("cannot build the message: {e}")))
}

fn bare(id: &str) -> &str {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
}

fn bracketed(id: &str) -> String {
    format!("<{}>", bare(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formatted(email: &Email) -> String {
        let from: Mailbox = "Ledgerdesk <desk@ledgerdesk.test>".parse().unwrap();
        String::from_utf8(build_message(&from, email).unwrap().formatted()).unwrap()
    }

    #[test]
    fn a_reply_carries_in_reply_to_and_references() {
        let text = formatted(&Email {
            to: "anna@example.com".into(),
            subject: "Re: Invoice INV-0042 [#T-1234]".into(),
            body: "We have refunded the double charge.".into(),
            message_id: "msg_2@ledgerdesk".into(),
            in_reply_to: Some("CAF=abc123@mail.example.com".into()),
            references: vec![
                "msg_1@ledgerdesk".into(),
                "<CAF=abc123@mail.example.com>".into(),
            ],
            attachments: vec![],
        });
        assert!(
            text.contains("Message-ID: <msg_2@ledgerdesk>\r\n"),
            "{text}"
        );
        assert!(
            text.contains("In-Reply-To: <CAF=abc123@mail.example.com>\r\n"),
            "{text}"
        );
        assert!(
            text.contains("References: <msg_1@ledgerdesk> <CAF=abc123@mail.example.com>\r\n"),
            "{text}"
        );
    }

    #[test]
    fn a_new_message_has_no_threading_headers() {
        let text = formatted(&Email {
            to: "anna@example.com".into(),
            subject: "Your invoice".into(),
            body: "Attached.".into(),
            message_id: "ntf_1@ledgerdesk".into(),
            ..Email::default()
        });
        assert!(text.contains("Message-ID: <ntf_1@ledgerdesk>"), "{text}");
        assert!(!text.contains("In-Reply-To"), "{text}");
        assert!(!text.contains("References"), "{text}");
    }

    #[test]
    fn attachments_make_a_mixed_message() {
        let text = formatted(&Email {
            to: "anna@example.com".into(),
            subject: "Invoice".into(),
            body: "Attached.".into(),
            message_id: "ntf_2@ledgerdesk".into(),
            attachments: vec![Attachment {
                filename: "INV-2026-000001.pdf".into(),
                content_type: "application/pdf".into(),
                data: b"%PDF-1.7 test".to_vec(),
            }],
            ..Email::default()
        });
        assert!(text.contains("Content-Type: multipart/mixed"), "{text}");
        assert!(text.contains("Content-Type: application/pdf"), "{text}");
        assert!(
            text.contains("attachment; filename=\"INV-2026-000001.pdf\""),
            "{text}"
        );
        assert!(text.contains("Attached."), "{text}");
    }

    #[test]
    fn a_bad_recipient_is_permanent() {
        let from: Mailbox = "desk@ledgerdesk.test".parse().unwrap();
        let err = build_message(
            &from,
            &Email {
                to: "not an address".into(),
                ..Email::default()
            },
        )
        .unwrap_err();
        assert!(matches!(err, MailError::Permanent(_)), "{err:?}");
    }
}
