//! The built-in sandbox gateway: no network, Stripe's test-card meanings.
//!
//! | card number | token | a charge |
//! |---|---|---|
//! | 4242 4242 4242 4242 (Visa), 5555 5555 5555 4444 (Mastercard), any other valid number | `tok_sandbox_ok_<brand>_<last4>` | succeeds |
//! | 4000 0000 0000 0002 | `tok_sandbox_declined_visa_0002` | `card_declined` |
//! | 4000 0000 0000 9995 | `tok_sandbox_insufficient_visa_9995` | `insufficient_funds` |
//! | 4000 0000 0000 0069 | `tok_sandbox_expired_visa_0069` | `expired_card` |
//! | 4000 0000 0000 0119 | `tok_sandbox_timeout_visa_0119` | the money moves but the answer is lost: [`GatewayError::Timeout`] on the first call for a key, success with the same reference on a retry with that key |
//!
//! Stripe's own test tokens (`tok_visa`, `tok_mastercard`, `tok_chargeDeclined`,
//! `tok_chargeDeclinedInsufficientFunds`) charge as their numbers do.
//!
//! References are derived from the idempotency key (`ch_sandbox_<hash>`), so the same key
//! always names the same charge. The sandbox remembers, per process, which keys it has
//! charged and refunded; a refund of more than the charge's remainder is refused.
//!
//! [`Sandbox::set_down`] simulates an outage: until it is lifted every charge and refund
//! fails with [`GatewayError::Unavailable`] and moves nothing (the fault tests use it).

use crate::{luhn_valid, CardDetails, CardToken, GatewayError, Outcome};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// An outage: every call is refused as unavailable.
    down: bool,
    /// Charge key → (outcome, amount).
    charges: HashMap<String, (Outcome, i64)>,
    /// Charge reference → amount refunded so far.
    refunded: HashMap<String, i64>,
    /// Refund key → outcome.
    refunds: HashMap<String, Outcome>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Ok,
    Declined,
    Insufficient,
    Expired,
    Timeout,
}

impl Behaviour {
    fn of_number(n: &str) -> Behaviour {
        match n {
            "4000000000000002" => Behaviour::Declined,
            "4000000000009995" => Behaviour::Insufficient,
            "4000000000000069" => Behaviour::Expired,
            "4000000000000119" => Behaviour::Timeout,
            _ => Behaviour::Ok,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Behaviour::Ok => "ok",
            Behaviour::Declined => "declined",
            Behaviour::Insufficient => "insufficient",
            Behaviour::Expired => "expired",
            Behaviour::Timeout => "timeout",
        }
    }
    fn of_token(t: &str) -> Option<Behaviour> {
        Some(match t {
            "tok_visa" | "tok_mastercard" => Behaviour::Ok,
            "tok_chargeDeclined" => Behaviour::Declined,
            "tok_chargeDeclinedInsufficientFunds" => Behaviour::Insufficient,
            _ => return Behaviour::of_name(t.strip_prefix("tok_sandbox_")?.split('_').next()?),
        })
    }
    fn of_name(name: &str) -> Option<Behaviour> {
        Some(match name {
            "ok" => Behaviour::Ok,
            "declined" => Behaviour::Declined,
            "insufficient" => Behaviour::Insufficient,
            "expired" => Behaviour::Expired,
            "timeout" => Behaviour::Timeout,
            _ => return None,
        })
    }
}

fn brand(number: &str) -> &'static str {
    match number.as_bytes().first() {
        Some(b'4') => "visa",
        Some(b'5') | Some(b'2') => "mastercard",
        Some(b'3') => "amex",
        Some(b'6') => "discover",
        _ => "unknown",
    }
}

fn reference(prefix: &str, key: &str) -> String {
    let h = Sha256::digest(key.as_bytes());
    format!("{prefix}_sandbox_{}", &hex::encode(h)[..24])
}

fn invalid(param: &str, message: impl Into<String>) -> GatewayError {
    GatewayError::Invalid {
        param: param.into(),
        message: message.into(),
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox::default()
    }

    /// Starts (`true`) or ends an outage.
    pub fn set_down(&self, down: bool) {
        if let Ok(mut st) = self.state.lock() {
            st.down = down;
        }
    }

    fn check_up(st: &State) -> Result<(), GatewayError> {
        if st.down {
            return Err(GatewayError::Unavailable(
                "the sandbox gateway is down (simulated outage)".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn tokenize(
        &self,
        card: &CardDetails,
        today: (i32, u32),
    ) -> Result<CardToken, GatewayError> {
        let digits: String = card
            .number
            .chars()
            .filter(|c| *c != ' ' && *c != '-')
            .collect();
        if !luhn_valid(&digits) {
            return Err(invalid(
                "card.number",
                "the card number is not a valid card number",
            ));
        }
        if !(1..=12).contains(&card.exp_month) {
            return Err(invalid("card.exp_month", "exp_month must be 1 to 12"));
        }
        if (card.exp_year, card.exp_month) < today {
            return Err(invalid("card.exp_year", "the card has expired"));
        }
        let behaviour = Behaviour::of_number(&digits);
        let last4 = digits[digits.len() - 4..].to_string();
        let brand = brand(&digits);
        Ok(CardToken {
            token: format!("tok_sandbox_{}_{brand}_{last4}", behaviour.name()),
            brand: brand.into(),
            last4,
            exp_month: card.exp_month,
            exp_year: card.exp_year,
        })
    }

    pub(crate) fn describe_token(&self, token: &str) -> Result<CardToken, GatewayError> {
        let (brand, last4) = match token {
            "tok_visa" => ("visa", "4242"),
            "tok_mastercard" => ("mastercard", "4444"),
            "tok_chargeDeclined" => ("visa", "0002"),
            "tok_chargeDeclinedInsufficientFunds" => ("visa", "9995"),
            _ => {
                let mut parts = token.strip_prefix("tok_sandbox_").unwrap_or("").split('_');
                match (
                    parts.next().map(Behaviour::of_name),
                    parts.next(),
                    parts.next(),
                    parts.next(),
                ) {
                    (Some(Some(_)), Some(brand), Some(last4), None)
                        if last4.len() == 4 && last4.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        (brand, last4)
                    }
                    _ => {
                        return Err(invalid(
                            "token",
                            format!("{token} is not a sandbox card token"),
                        ))
                    }
                }
            }
        };
        Ok(CardToken {
            token: token.to_string(),
            brand: brand.to_string(),
            last4: last4.to_string(),
            // Test tokens carry no expiry; the sandbox gives them one far ahead.
            exp_month: 12,
            exp_year: 2099,
        })
    }

    pub(crate) fn charge(
        &self,
        token: &str,
        amount: i64,
        currency: &str,
        key: &str,
    ) -> Result<Outcome, GatewayError> {
        let behaviour = Behaviour::of_token(token)
            .ok_or_else(|| invalid("token", format!("unknown sandbox token {token}")))?;
        if amount <= 0 {
            return Err(invalid("amount", "amount must be positive"));
        }
        if currency.len() != 3 {
            return Err(invalid("currency", "currency must be an ISO 4217 code"));
        }
        let mut st = self
            .state
            .lock()
            .map_err(|_| GatewayError::Unavailable("sandbox state poisoned".into()))?;
        Self::check_up(&st)?;
        if let Some((outcome, first_amount)) = st.charges.get(key) {
            if *first_amount != amount {
                return Err(invalid(
                    "idempotency_key",
                    "this key was used for a charge of another amount",
                ));
            }
            return Ok(outcome.clone());
        }
        let declined = |code: &str, message: &str| Outcome::Declined {
            code: code.into(),
            message: message.into(),
        };
        let outcome = match behaviour {
            Behaviour::Ok | Behaviour::Timeout => Outcome::Succeeded {
                reference: reference("ch", key),
            },
            Behaviour::Declined => declined("card_declined", "Your card was declined."),
            Behaviour::Insufficient => {
                declined("insufficient_funds", "Your card has insufficient funds.")
            }
            Behaviour::Expired => declined("expired_card", "Your card has expired."),
        };
        st.charges
            .insert(key.to_string(), (outcome.clone(), amount));
        if behaviour == Behaviour::Timeout {
            // Charged, but the answer never arrives; a retry with this key learns the outcome.
            return Err(GatewayError::Timeout);
        }
        Ok(outcome)
    }

    pub(crate) fn refund(
        &self,
        charge: &str,
        amount: i64,
        key: &str,
    ) -> Result<Outcome, GatewayError> {
        if amount <= 0 {
            return Err(invalid("amount", "amount must be positive"));
        }
        let mut st = self
            .state
            .lock()
            .map_err(|_| GatewayError::Unavailable("sandbox state poisoned".into()))?;
        Self::check_up(&st)?;
        if let Some(outcome) = st.refunds.get(key) {
            return Ok(outcome.clone());
        }
        let charged = st.charges.values().find_map(|(o, amount)| match o {
            Outcome::Succeeded { reference } if reference == charge => Some(*amount),
            _ => None,
        });
        let outcome = match charged {
            None => Outcome::Declined {
                code: "charge_not_found".into(),
                message: format!("no sandbox charge {charge}"),
            },
            Some(charged) => {
                let done = st.refunded.get(charge).copied().unwrap_or(0);
                if done + amount > charged {
                    Outcome::Declined {
                        code: "amount_too_large".into(),
                        message: format!(
                            "refund of {amount} exceeds the {} left of charge {charge}",
                            charged - done
                        ),
                    }
                } else {
                    st.refunded.insert(charge.to_string(), done + amount);
                    Outcome::Succeeded {
                        reference: reference("re", key),
                    }
                }
            }
        };
        st.refunds.insert(key.to_string(), outcome.clone());
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(n: &str) -> CardDetails {
        CardDetails {
            number: n.into(),
            exp_month: 12,
            exp_year: 2030,
        }
    }
    const TODAY: (i32, u32) = (2026, 11);

    #[test]
    fn test_cards_charge_as_stripe_says() {
        let s = Sandbox::new();
        let ok = s.tokenize(&card("4242 4242 4242 4242"), TODAY).unwrap();
        assert_eq!((ok.brand.as_str(), ok.last4.as_str()), ("visa", "4242"));
        assert!(!ok.token.contains("424242424242"));
        assert!(matches!(
            s.charge(&ok.token, 100, "usd", "k1").unwrap(),
            Outcome::Succeeded { .. }
        ));
        let d = s.tokenize(&card("4000000000000002"), TODAY).unwrap();
        assert_eq!(
            s.charge(&d.token, 100, "usd", "k2").unwrap(),
            Outcome::Declined {
                code: "card_declined".into(),
                message: "Your card was declined.".into()
            }
        );
        let i = s.tokenize(&card("4000000000009995"), TODAY).unwrap();
        assert!(
            matches!(s.charge(&i.token, 100, "usd", "k3").unwrap(), Outcome::Declined { code, .. } if code == "insufficient_funds")
        );
        assert!(matches!(
            s.charge("tok_chargeDeclined", 100, "usd", "k4").unwrap(),
            Outcome::Declined { .. }
        ));
    }

    #[test]
    fn bad_cards_are_refused_by_field() {
        let s = Sandbox::new();
        let e = s.tokenize(&card("4242424242424241"), TODAY).unwrap_err();
        assert!(matches!(e, GatewayError::Invalid { param, .. } if param == "card.number"));
        let mut c = card("4242424242424242");
        c.exp_year = 2026;
        c.exp_month = 10;
        let e = s.tokenize(&c, TODAY).unwrap_err();
        assert!(matches!(e, GatewayError::Invalid { param, .. } if param == "card.exp_year"));
    }

    #[test]
    fn timeout_charges_once_and_a_retry_learns_the_outcome() {
        let s = Sandbox::new();
        let t = s.tokenize(&card("4000000000000119"), TODAY).unwrap();
        assert_eq!(
            s.charge(&t.token, 500, "eur", "pay_1"),
            Err(GatewayError::Timeout)
        );
        let again = s.charge(&t.token, 500, "eur", "pay_1").unwrap();
        assert_eq!(
            again,
            Outcome::Succeeded {
                reference: reference("ch", "pay_1")
            }
        );
        assert_eq!(s.state.lock().unwrap().charges.len(), 1);
    }

    #[test]
    fn refunds_never_exceed_the_charge_and_repeat_by_key() {
        let s = Sandbox::new();
        let Outcome::Succeeded { reference: ch } = s.charge("tok_visa", 1000, "usd", "p").unwrap()
        else {
            panic!()
        };
        assert!(matches!(
            s.refund(&ch, 600, "r1").unwrap(),
            Outcome::Succeeded { .. }
        ));
        assert!(
            matches!(s.refund(&ch, 600, "r1").unwrap(), Outcome::Succeeded { .. }),
            "same key, same answer"
        );
        assert!(
            matches!(s.refund(&ch, 600, "r2").unwrap(), Outcome::Declined { code, .. } if code == "amount_too_large")
        );
        assert!(matches!(
            s.refund(&ch, 400, "r3").unwrap(),
            Outcome::Succeeded { .. }
        ));
    }
}
