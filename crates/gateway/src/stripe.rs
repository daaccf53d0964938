//! The Stripe gateway: Stripe's HTTP API (`/v1/customers`, `/v1/charges`, `/v1/refunds`),
//! form-encoded POSTs with `Authorization: Bearer <secret key>` and `Stripe-Version` pinned to
//! `2020-08-27`, so that an account's default version cannot change the shapes read here.
//!
//! **Cards.** Stripe never gets a card number from us: [`Gateway::tokenize`] is refused
//! (`Invalid { param: "card" }`). Browsers turn card numbers into `tok_…` tokens with
//! Stripe.js / Elements; [`Gateway::describe_token`]`("tok_…")` attaches one by creating a Stripe
//! customer with it as the source, and answers a [`CardToken`] whose `token` is
//! **`<customer id>/<card id>`**, e.g. `cus_Ab12/card_Cd34`. That string is what we store and
//! charge. `describe_token` on such a string reads the card back (`GET
//! /v1/customers/{cus}/sources/{card}`) and creates nothing. Brands come back in the lowercase
//! form the sandbox uses: `visa`, `mastercard`, `amex`, `discover`, `jcb`, `diners`,
//! `unionpay`, `unknown`. Attaching is not keyed: a retry after a lost answer may leave an
//! unused customer in Stripe; no money moves. A card Stripe refuses to attach (HTTP 402) is
//! `Invalid { param: "token" }`, its code in the message.
//!
//! **Charges and refunds.** `charge` posts `customer` + `source` (the two halves of the stored
//! token; a bare `tok_…` is charged as a one-time `source`, which Stripe lets be used once);
//! `refund` posts `charge` + `amount`. Both send the caller's key as `Idempotency-Key` (and as
//! `metadata[idempotency_key]`, for people reconciling in Stripe's dashboard). Stripe stores
//! the first answer to a key, declines included, and replays it for a repeat with the same
//! parameters, so a repeat moves no money twice (Stripe may forget a key once it is 24 hours
//! old); the same key with other parameters is `Invalid { param: "idempotency_key" }`. References are Stripe's ids (`ch_…`, `re_…`).
//!
//! **Answers**, in this order:
//! - 2xx: `Succeeded { reference }`; a charge whose `status` is `failed` is `Declined` with its
//!   `failure_code`; a refund whose `status` is `failed` or `canceled` is `Declined`
//!   (a `pending` refund is `Succeeded`: Stripe has taken it and settles it itself).
//! - 401, 403: `Invalid { param: "api_key" }`.
//! - 429, 409 (a request with this key still running), 5xx: `Unavailable`. Stripe calls the
//!   outcome of a 5xx unknown; the caller's retry with the same key settles it either way.
//! - `card_error` (HTTP 402): `Declined { code, message }` with Stripe's message. `code` is
//!   Stripe's `decline_code` when it says more than `generic_decline` (`insufficient_funds`),
//!   else its `code` (`card_declined`, `expired_card`, `incorrect_cvc`, `processing_error`, …).
//!   Decline codes Stripe asks be shown to customers as a generic decline (`fraudulent`,
//!   `lost_card`, `stolen_card`, `pickup_card`, `restricted_card`, `merchant_blacklist`,
//!   `security_violation`) are reported as `card_declined`.
//! - `idempotency_error`: `Invalid { param: "idempotency_key" }`.
//! - any other 4xx (`invalid_request_error`: bad currency, amount below the minimum, a refund
//!   above what is left, a charge or customer that does not exist): `Invalid` with Stripe's
//!   `param` (`request` when Stripe names none).
//! - No answer within the timeout: `Timeout`. Could not connect, or the connection broke:
//!   `Unavailable`. An unreadable 2xx body: `Unavailable`.

use crate::{CardToken, GatewayError, Outcome};
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde::Deserialize;
use std::time::Duration;

/// The Stripe API version every request asks for.
const STRIPE_VERSION: &str = "2020-08-27";

/// A Stripe account, reached at `api_base` (`https://api.stripe.com` in production).
#[derive(Clone)]
pub struct Stripe {
    client: Client,
    api_base: String,
    secret_key: String,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe")
            .field("api_base", &self.api_base)
            .field("secret_key", &"<hidden>")
            .finish()
    }
}

#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: StripeError,
}

#[derive(Debug, Default, Deserialize)]
struct StripeError {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    decline_code: Option<String>,
    message: Option<String>,
    param: Option<String>,
}

#[derive(Debug, Deserialize)]
struct List<T> {
    data: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct Customer {
    id: String,
    default_source: Option<String>,
    sources: Option<List<Source>>,
}

/// A customer's source; only cards have the card fields.
#[derive(Debug, Deserialize)]
struct Source {
    id: String,
    object: String,
    brand: Option<String>,
    last4: Option<String>,
    exp_month: Option<u32>,
    exp_year: Option<i32>,
}

#[derive(Debug, Deserialize)]
struct Charge {
    id: String,
    status: Option<String>,
    failure_code: Option<String>,
    failure_message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Refund {
    id: String,
    status: Option<String>,
    failure_reason: Option<String>,
}

fn invalid(param: &str, message: impl Into<String>) -> GatewayError {
    GatewayError::Invalid {
        param: param.into(),
        message: message.into(),
    }
}

/// Stripe's brand names (`Visa`, `American Express`, …) in the sandbox's lowercase form.
fn brand(stripe_brand: &str) -> String {
    match stripe_brand.to_ascii_lowercase().as_str() {
        "american express" | "amex" => "amex".into(),
        "diners club" | "diners" => "diners".into(),
        other => other.replace(' ', "_"),
    }
}

/// The code a decline is recorded under (see the module docs).
fn decline_code(e: &StripeError) -> String {
    const SHOWN_AS_GENERIC: &[&str] = &[
        "fraudulent",
        "lost_card",
        "stolen_card",
        "pickup_card",
        "restricted_card",
        "merchant_blacklist",
        "security_violation",
    ];
    match e.decline_code.as_deref().filter(|d| !d.is_empty()) {
        Some(d) if SHOWN_AS_GENERIC.contains(&d) => "card_declined".into(),
        Some(d) if d != "generic_decline" => d.into(),
        _ => e
            .code
            .clone()
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "card_declined".into()),
    }
}

/// What a non-2xx answer means (see the module docs).
fn error_outcome(status: StatusCode, body: &str) -> Result<Outcome, GatewayError> {
    let err = serde_json::from_str::<ErrorBody>(body)
        .map(|b| b.error)
        .unwrap_or_default();
    let message = err
        .message
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("Stripe answered HTTP {status}"));
    let kind = err.kind.as_deref().unwrap_or("");
    match status.as_u16() {
        401 => Err(invalid(
            "api_key",
            format!("Stripe refused the API key: {message}"),
        )),
        403 => Err(invalid(
            "api_key",
            format!("the Stripe API key may not do this: {message}"),
        )),
        429 => Err(GatewayError::Unavailable(format!(
            "Stripe is limiting the request rate: {message}"
        ))),
        409 => Err(GatewayError::Unavailable(format!(
            "Stripe is still working on a request with this key: {message}"
        ))),
        s if s >= 500 => Err(GatewayError::Unavailable(format!(
            "Stripe failed (HTTP {s}): {message}"
        ))),
        _ if kind == "card_error" || status == StatusCode::PAYMENT_REQUIRED => {
            Ok(Outcome::Declined {
                code: decline_code(&err),
                message,
            })
        }
        _ if kind == "idempotency_error" => Err(invalid("idempotency_key", message)),
        _ => Err(invalid(
            err.param
                .as_deref()
                .filter(|p| !p.is_empty())
                .unwrap_or("request"),
            message,
        )),
    }
}

/// A transport failure: no answer in time, or none at all.
fn transport_error(e: reqwest::Error) -> GatewayError {
    if e.is_timeout() {
        return GatewayError::Timeout;
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    GatewayError::Unavailable(format!("cannot reach Stripe: {text}"))
}

/// The two Stripe ids a stored token holds, `("cus_…", "card_…")`.
fn split_token(token: &str) -> Option<(&str, &str)> {
    let (customer, card) = token.split_once('/')?;
    (customer.starts_with("cus_") && !card.is_empty() && !card.contains('/'))
        .then_some((customer, card))
}

fn card_token(customer: &str, card: Source) -> Result<CardToken, GatewayError> {
    let missing = |field: &str| {
        GatewayError::Unavailable(format!("Stripe's card {} came without {field}", card.id))
    };
    Ok(CardToken {
        token: format!("{customer}/{}", card.id),
        brand: brand(card.brand.as_deref().unwrap_or("unknown")),
        last4: card.last4.clone().ok_or_else(|| missing("last4"))?,
        exp_month: card.exp_month.ok_or_else(|| missing("exp_month"))?,
        exp_year: card.exp_year.ok_or_else(|| missing("exp_year"))?,
    })
}

impl Stripe {
    /// A client for the Stripe API at `api_base` (no trailing `/v1`), authenticating with
    /// `secret_key` (`sk_…` or a restricted `rk_…`); each request gives up after `timeout`.
    pub fn new(
        api_base: &str,
        secret_key: &str,
        timeout: Duration,
    ) -> Result<Stripe, GatewayError> {
        let api_base = api_base.trim_end_matches('/');
        match reqwest::Url::parse(api_base) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
            _ => {
                return Err(invalid(
                    "api_base",
                    format!("{api_base:?} is not an http(s) URL"),
                ))
            }
        }
        if secret_key.trim().is_empty() {
            return Err(invalid("api_key", "the Stripe API key is empty"));
        }
        let client = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| GatewayError::Unavailable(format!("cannot start an HTTP client: {e}")))?;
        Ok(Stripe {
            client,
            api_base: api_base.to_string(),
            secret_key: secret_key.to_string(),
        })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.api_base))
            .bearer_auth(&self.secret_key)
            .header("Stripe-Version", STRIPE_VERSION)
    }

    /// Sends a request; a 2xx body parsed as `T`, or what the error answer means.
    async fn send<T: for<'de> Deserialize<'de>>(
        &self,
        req: RequestBuilder,
    ) -> Result<Result<T, Outcome>, GatewayError> {
        let resp = req.send().await.map_err(transport_error)?;
        let status = resp.status();
        let body = resp.text().await.map_err(transport_error)?;
        if !status.is_success() {
            return error_outcome(status, &body).map(Err);
        }
        serde_json::from_str(&body).map(Ok).map_err(|e| {
            GatewayError::Unavailable(format!("Stripe's answer could not be read: {e}"))
        })
    }

    pub(crate) fn tokenize(&self) -> Result<CardToken, GatewayError> {
        Err(invalid(
            "card",
            "Stripe takes card tokens made in the browser by Stripe.js or Elements, never card \
             numbers: attach the card with its tok_… token",
        ))
    }

    pub(crate) async fn describe_token(&self, token: &str) -> Result<CardToken, GatewayError> {
        if let Some((customer, card)) = split_token(token) {
            let req = self.request(
                Method::GET,
                &format!("/v1/customers/{customer}/sources/{card}"),
            );
            return match self.send::<Source>(req).await? {
                Ok(card) => card_token(customer, card),
                Err(declined) => Err(refused_attach(declined)),
            };
        }
        if !token.starts_with("tok_") {
            return Err(invalid(
                "token",
                format!("{token:?} is not a Stripe card token (tok_…, or cus_…/card_…)"),
            ));
        }
        let req = self
            .request(Method::POST, "/v1/customers")
            .form(&[("source", token), ("expand[]", "sources")]);
        let customer = match self.send::<Customer>(req).await? {
            Ok(c) => c,
            Err(declined) => return Err(refused_attach(declined)),
        };
        let cards = customer.sources.map(|l| l.data).unwrap_or_default();
        let default = customer.default_source.as_deref();
        let card = cards
            .into_iter()
            .filter(|s| s.object == "card")
            .min_by_key(|s| Some(s.id.as_str()) != default)
            .ok_or_else(|| {
                GatewayError::Unavailable(format!(
                    "Stripe created customer {} without a card",
                    customer.id
                ))
            })?;
        card_token(&customer.id, card)
    }

    pub(crate) async fn charge(
        &self,
        token: &str,
        amount: i64,
        currency: &str,
        key: &str,
    ) -> Result<Outcome, GatewayError> {
        let amount = amount.to_string();
        let currency = currency.to_ascii_lowercase();
        let mut form = vec![("amount", amount.as_str()), ("currency", currency.as_str())];
        match split_token(token) {
            Some((customer, card)) => {
                form.push(("customer", customer));
                form.push(("source", card));
            }
            None if token.starts_with("tok_") => form.push(("source", token)),
            None => {
                return Err(invalid(
                    "token",
                    format!("{token:?} is not a Stripe card token (cus_…/card_…, or tok_…)"),
                ))
            }
        }
        form.push(("metadata[idempotency_key]", key));
        let req = self
            .request(Method::POST, "/v1/charges")
            .header("Idempotency-Key", key)
            .form(&form);
        Ok(match self.send::<Charge>(req).await? {
            Ok(c) if c.status.as_deref() == Some("failed") => Outcome::Declined {
                code: c.failure_code.unwrap_or_else(|| "card_declined".into()),
                message: c
                    .failure_message
                    .unwrap_or_else(|| "The card was declined.".into()),
            },
            Ok(c) => Outcome::Succeeded { reference: c.id },
            Err(declined) => declined,
        })
    }

    pub(crate) async fn refund(
        &self,
        charge: &str,
        amount: i64,
        key: &str,
    ) -> Result<Outcome, GatewayError> {
        let amount = amount.to_string();
        let req = self
            .request(Method::POST, "/v1/refunds")
            .header("Idempotency-Key", key)
            .form(&[
                ("charge", charge),
                ("amount", amount.as_str()),
                ("metadata[idempotency_key]", key),
            ]);
        Ok(match self.send::<Refund>(req).await? {
            Ok(r) if matches!(r.status.as_deref(), Some("failed" | "canceled")) => {
                Outcome::Declined {
                    code: r.failure_reason.unwrap_or_else(|| "refund_failed".into()),
                    message: format!("Stripe could not complete refund {}", r.id),
                }
            }
            Ok(r) => Outcome::Succeeded { reference: r.id },
            Err(declined) => declined,
        })
    }
}

/// A card Stripe would not attach.
fn refused_attach(declined: Outcome) -> GatewayError {
    match declined {
        Outcome::Declined { code, message } => invalid("token", format!("{message} ({code})")),
        Outcome::Succeeded { reference } => {
            GatewayError::Unavailable(format!("unexpected answer from Stripe: {reference}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brands_are_the_sandbox_names() {
        assert_eq!(brand("Visa"), "visa");
        assert_eq!(brand("MasterCard"), "mastercard");
        assert_eq!(brand("American Express"), "amex");
        assert_eq!(brand("Diners Club"), "diners");
        assert_eq!(brand("JCB"), "jcb");
        assert_eq!(brand("Unknown"), "unknown");
    }

    #[test]
    fn tokens_are_customer_slash_card() {
        assert_eq!(split_token("cus_A/card_B"), Some(("cus_A", "card_B")));
        assert_eq!(split_token("tok_visa"), None);
        assert_eq!(split_token("cus_A/"), None);
        assert_eq!(split_token("card_B/cus_A"), None);
        assert_eq!(split_token("cus_A/card_B/x"), None);
    }

    #[test]
    fn errors_map_by_status_and_type() {
        let body = |v: serde_json::Value| serde_json::json!({ "error": v }).to_string();
        let declined = |code: &str| {
            Ok(Outcome::Declined {
                code: code.into(),
                message: "m".into(),
            })
        };
        let card = |code: &str, decline: Option<&str>| {
            body(serde_json::json!({
                "type": "card_error", "code": code, "decline_code": decline, "message": "m"
            }))
        };
        let pr = StatusCode::PAYMENT_REQUIRED;
        assert_eq!(
            error_outcome(pr, &card("card_declined", Some("generic_decline"))),
            declined("card_declined")
        );
        assert_eq!(
            error_outcome(pr, &card("card_declined", Some("insufficient_funds"))),
            declined("insufficient_funds")
        );
        assert_eq!(
            error_outcome(pr, &card("card_declined", Some("fraudulent"))),
            declined("card_declined")
        );
        assert_eq!(
            error_outcome(pr, &card("expired_card", None)),
            declined("expired_card")
        );
        let e = error_outcome(
            StatusCode::BAD_REQUEST,
            &body(serde_json::json!({
                "type": "invalid_request_error", "param": "amount", "message": "too much"
            })),
        );
        assert_eq!(e, Err(invalid("amount", "too much")));
        let e = error_outcome(StatusCode::UNAUTHORIZED, "{}").unwrap_err();
        assert!(matches!(e, GatewayError::Invalid { ref param, .. } if param == "api_key"));
        for s in [429, 500, 502, 503] {
            let e = error_outcome(StatusCode::from_u16(s).unwrap(), "not json").unwrap_err();
            assert!(matches!(e, GatewayError::Unavailable(_)), "{s}: {e:?}");
        }
        let e = error_outcome(
            StatusCode::BAD_REQUEST,
            &body(serde_json::json!({ "type": "idempotency_error", "message": "other params" })),
        );
        assert_eq!(e, Err(invalid("idempotency_key", "other params")));
    }

    #[test]
    fn debug_hides_the_secret_key() {
        let s = Stripe::new(
            "https://api.stripe.com/",
            "sk_test_secret123",
            Duration::from_secs(1),
        )
        .unwrap();
        let d = format!("{s:?}");
        assert!(!d.contains("secret123"), "{d}");
        assert!(d.contains("https://api.stripe.com\""), "{d}");
    }

    #[test]
    fn new_refuses_a_bad_base_or_an_empty_key() {
        let t = Duration::from_secs(1);
        assert!(
            matches!(Stripe::new("api.stripe.com", "sk_test_x", t), Err(GatewayError::Invalid { param, .. }) if param == "api_base")
        );
        assert!(
            matches!(Stripe::new("https://api.stripe.com", " ", t), Err(GatewayError::Invalid { param, .. }) if param == "api_key")
        );
    }
}
