//! Sending email. [`Mailer`] is where notifications (and later the desk's replies) leave
//! Ledgerdesk: over SMTP to the server named by a URL, or nowhere when none is configured.
//!
//! URL forms (lettre's): `smtp://host:port` (plain, for a relay on loopback or a test
//! server), `smtp://host:587?tls=required` (STARTTLS), `smtps://host:465` (implicit TLS);
//! credentials as `smtp://user:password@host`. Failures are split by whether trying again
//! can help: a connection refused or a 4xx reply is [`MailError::Transient`]; a 5xx reply
//! (the recipient does not exist, the message is refused) is [`MailError::Permanent`].

use lettre::message::{header::ContentType, Mailbox, MessageBuilder};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// One message to send: plain text, with a stable Message-ID so a receiver can recognise a
/// repeat (SMTP delivery is at least once: a crash after the server accepted the message
/// but before we recorded it sends it again).
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// Without angle brackets, e.g. `ntf_123@ledgerdesk`.
    pub message_id: String,
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
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| MailError::Permanent(format!("invalid recipient {:?}: {e}", email.to)))?;
        let msg: Message = MessageBuilder::new()
            .from(from.clone())
            .to(to)
            .subject(&email.subject)
            .message_id(Some(format!("<{}>", email.message_id)))
            .header(ContentType::TEXT_PLAIN)
            .body(email.body.clone())
            .map_err(|e| MailError::Permanent(format!("cannot build the message: {e}")))?;
        match transport.send(msg).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::Permanent(e.to_string())),
            Err(e) => Err(MailError::Transient(e.to_string())),
        }
    }
}
