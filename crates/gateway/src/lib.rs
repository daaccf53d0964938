//! Payment gateways: what Ledgerdesk needs from one — turn card details into a token,
//! charge a token, refund a charge — the built-in [`Sandbox`], and [`Stripe`].
//!
//! Every charge and refund carries an idempotency key (the payment's or refund's own id):
//! a gateway that sees the same key again answers with the first outcome and moves no money
//! twice. That is what makes a call safe to retry after a timeout, when nobody knows
//! whether the money moved.
//!
//! Card numbers pass through [`Gateway::tokenize`] only: they are checked, turned into a
//! token, brand and last four digits, and dropped. Nothing here stores, logs or formats one
//! (`CardDetails`' `Debug` hides it).

mod sandbox;
mod stripe;

pub use sandbox::Sandbox;
pub use stripe::Stripe;

/// Card details as a customer typed them. `Debug` shows only the last four digits.
#[derive(Clone)]
pub struct CardDetails {
    pub number: String,
    pub exp_month: u32,
    pub exp_year: i32,
}

impl std::fmt::Debug for CardDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits: String = self.number.chars().filter(char::is_ascii_digit).collect();
        let last4 = &digits[digits.len().saturating_sub(4)..];
        write!(
            f,
            "CardDetails {{ number: ****{last4}, exp: {:02}/{} }}",
            self.exp_month, self.exp_year
        )
    }
}

/// A card the gateway holds for us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardToken {
    pub token: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: i32,
}

/// What a charge or refund came to, when the gateway answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Money moved; the gateway's reference (charge or refund id).
    Succeeded { reference: String },
    /// The gateway refused: a stable code (`card_declined`, `insufficient_funds`,
    /// `expired_card`, …) and a message for people.
    Declined { code: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// No answer in time: the money may or may not have moved. Retry with the same key.
    #[error("the payment gateway did not answer in time")]
    Timeout,
    /// The gateway could not be reached or failed; nothing moved. Retry later.
    #[error("the payment gateway is unavailable: {0}")]
    Unavailable(String),
    /// The request was wrong (`param` names the field).
    #[error("{message}")]
    Invalid { param: String, message: String },
}

/// The gateways Ledgerdesk speaks to. An enum, not a trait object: the set is ours, and each
/// variant is a real adapter.
#[derive(Debug, Clone)]
pub enum Gateway {
    Sandbox(Sandbox),
    Stripe(Stripe),
}

impl Gateway {
    /// The name stored beside each token and charge (`sandbox`, `stripe`).
    pub fn name(&self) -> &'static str {
        match self {
            Gateway::Sandbox(_) => "sandbox",
            Gateway::Stripe(_) => "stripe",
        }
    }

    /// Checks card details (Luhn, expiry against `today` = (year, month)) and returns the
    /// gateway's token for them. Stripe refuses: it takes tokens from Stripe.js, not numbers.
    pub async fn tokenize(
        &self,
        card: &CardDetails,
        today: (i32, u32),
    ) -> Result<CardToken, GatewayError> {
        match self {
            Gateway::Sandbox(s) => s.tokenize(card, today),
            Gateway::Stripe(s) => s.tokenize(),
        }
    }

    /// Describes a token the gateway issued earlier (client-side tokenization, or the
    /// sandbox's fixed test tokens such as `tok_visa`). Stripe attaches a `tok_…` to a new
    /// Stripe customer and answers a `cus_…/card_…` token (see [`Stripe`]).
    pub async fn describe_token(&self, token: &str) -> Result<CardToken, GatewayError> {
        match self {
            Gateway::Sandbox(s) => s.describe_token(token),
            Gateway::Stripe(s) => s.describe_token(token).await,
        }
    }

    /// Charges `amount` minor units of `currency` to `token`, once per `key`.
    pub async fn charge(
        &self,
        token: &str,
        amount: i64,
        currency: &str,
        key: &str,
    ) -> Result<Outcome, GatewayError> {
        match self {
            Gateway::Sandbox(s) => s.charge(token, amount, currency, key),
            Gateway::Stripe(s) => s.charge(token, amount, currency, key).await,
        }
    }

    /// Refunds `amount` of the charge `reference`, once per `key`.
    pub async fn refund(
        &self,
        reference: &str,
        amount: i64,
        key: &str,
    ) -> Result<Outcome, GatewayError> {
        match self {
            Gateway::Sandbox(s) => s.refund(reference, amount, key),
            Gateway::Stripe(s) => s.refund(reference, amount, key).await,
        }
    }
}

/// The Luhn check digit test every card number passes.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.len() < 12 || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = (b - b'0') as u32;
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        assert!(luhn_valid("4242424242424242"));
        assert!(luhn_valid("4000000000000002"));
        assert!(luhn_valid("4000000000009995"));
        assert!(luhn_valid("5555555555554444"));
        assert!(!luhn_valid("4242424242424241"));
        assert!(!luhn_valid("42424242"));
        assert!(!luhn_valid("4242x24242424242"));
    }

    #[test]
    fn debug_never_shows_the_number() {
        let c = CardDetails {
            number: "4242424242424242".into(),
            exp_month: 3,
            exp_year: 2030,
        };
        let s = format!("{c:?}");
        assert!(!s.contains("42424242"), "{s}");
        assert!(s.contains("****4242"), "{s}");
    }
}
