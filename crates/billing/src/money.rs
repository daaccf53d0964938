//! Money: integer amounts in a currency's minor unit, and the one rounding rule.

use crate::BillingError;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An ISO 4217 currency. The minor-unit exponent comes from the standard (USD 2, JPY 0,
/// KWD 3). Only a code the standard knows can exist as a `Currency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Parses an ISO 4217 alphabetic code, case-insensitively ("usd" → USD).
    pub fn parse(code: &str) -> Result<Self, BillingError> {
        let upper = code.trim().to_ascii_uppercase();
        iso_currency::Currency::from_code(&upper)
            .map(Currency)
            .ok_or_else(|| BillingError::UnknownCurrency(code.to_string()))
    }

    /// The three-letter code, e.g. "USD".
    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point of the minor unit (USD 2, JPY 0, KWD 3).
    pub fn exponent(&self) -> u32 {
        self.0.exponent().unwrap_or(0) as u32
    }

    /// Formats a minor-unit amount as a plain decimal string in major units ("46.45").
    pub fn format_minor(&self, minor: i64) -> String {
        let mut d = Decimal::from(minor);
        d.set_scale(self.exponent()).unwrap_or(());
        d.to_string()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = BillingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An amount in minor units of a currency: `{"amount": 4645, "currency": "USD"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Self {
        Money { amount, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Money {
            amount: 0,
            currency,
        }
    }

    /// Adds two amounts of the same currency.
    pub fn checked_add(self, other: Money) -> Result<Money, BillingError> {
        if self.currency != other.currency {
            return Err(BillingError::CurrencyMismatch {
                expected: self.currency.code().into(),
                got: other.currency.code().into(),
            });
        }
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(BillingError::Overflow)?;
        Ok(Money {
            amount,
            currency: self.currency,
        })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.currency.format_minor(self.amount),
            self.currency
        )
    }
}

/// Rounds an exact amount in minor units to a whole minor unit, half away from zero
/// (−15.4838… → −15, 2.5 → 3, −2.5 → −3). The one rounding rule of BILLING.md.
pub fn round_minor(exact: Decimal) -> Result<i64, BillingError> {
    let r = exact.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    i64::try_from(r).map_err(|_| BillingError::Overflow)
}

/// Rounds the exact ratio `numerator / denominator` to a whole minor unit, half away from
/// zero, in exact integer arithmetic (no intermediate decimal rounding). The denominator
/// must not be zero.
pub fn round_ratio(numerator: i128, denominator: i128) -> Result<i64, BillingError> {
    if denominator == 0 {
        return Err(BillingError::Overflow);
    }
    let (n, d) = if denominator < 0 {
        (
            numerator.checked_neg().ok_or(BillingError::Overflow)?,
            -denominator,
        )
    } else {
        (numerator, denominator)
    };
    let q = n / d;
    let r = (n % d).unsigned_abs();
    // |r| >= d/2 rounds the magnitude up (away from zero).
    let q = if r.checked_mul(2).ok_or(BillingError::Overflow)? >= d.unsigned_abs() {
        if n < 0 {
            q - 1
        } else {
            q + 1
        }
    } else {
        q
    };
    i64::try_from(q).map_err(|_| BillingError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test decimal")
    }

    #[test]
    fn rounding_is_half_away_from_zero_for_charges_and_credits() {
        assert_eq!(round_minor(d("2.5")).unwrap(), 3);
        assert_eq!(round_minor(d("-2.5")).unwrap(), -3);
        assert_eq!(round_minor(d("2.4999")).unwrap(), 2);
        assert_eq!(round_minor(d("-2.4999")).unwrap(), -2);
        assert_eq!(round_minor(d("-1548.387")).unwrap(), -1548);
        assert_eq!(round_minor(d("4645.16")).unwrap(), 4645);
        assert_eq!(round_minor(d("0.5")).unwrap(), 1);
        assert_eq!(round_minor(d("-0.5")).unwrap(), -1);
    }

    #[test]
    fn round_ratio_is_half_away_from_zero() {
        assert_eq!(round_ratio(5, 2).unwrap(), 3);
        assert_eq!(round_ratio(-5, 2).unwrap(), -3);
        assert_eq!(round_ratio(5, -2).unwrap(), -3);
        assert_eq!(round_ratio(-3000 * 16, 31).unwrap(), -1548);
        assert_eq!(round_ratio(9000 * 16, 31).unwrap(), 4645);
        assert_eq!(round_ratio(7, 3).unwrap(), 2);
        assert_eq!(round_ratio(-7, 3).unwrap(), -2);
        assert!(round_ratio(1, 0).is_err());
        assert!(round_ratio(i128::from(i64::MAX) * 4, 1).is_err());
    }

    #[test]
    fn rounding_overflow_is_an_error() {
        assert_eq!(round_minor(d("1e25")), Err(BillingError::Overflow));
    }

    #[test]
    fn currency_exponents_come_from_iso_4217() {
        assert_eq!(Currency::parse("USD").unwrap().exponent(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
        assert_eq!(Currency::parse("usd").unwrap().code(), "USD");
    }

    #[test]
    fn unknown_currency_code_is_rejected() {
        assert_eq!(
            Currency::parse("XYZ"),
            Err(BillingError::UnknownCurrency("XYZ".into()))
        );
        assert!(Currency::parse("").is_err());
        assert!(Currency::parse("US").is_err());
        assert!(serde_json_like_parse("\"ZZZ\"").is_err());
    }

    fn serde_json_like_parse(s: &str) -> Result<Currency, BillingError> {
        Currency::from_str(s.trim_matches('"'))
    }

    #[test]
    fn format_minor_uses_the_exponent() {
        assert_eq!(Currency::parse("USD").unwrap().format_minor(4645), "46.45");
        assert_eq!(
            Currency::parse("USD").unwrap().format_minor(-1548),
            "-15.48"
        );
        assert_eq!(Currency::parse("JPY").unwrap().format_minor(4645), "4645");
        assert_eq!(Currency::parse("KWD").unwrap().format_minor(4645), "4.645");
        let m = Money::new(4645, Currency::parse("USD").unwrap());
        assert_eq!(m.to_string(), "46.45 USD");
    }

    #[test]
    fn adding_different_currencies_fails() {
        let usd = Currency::parse("USD").unwrap();
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(
            Money::new(1, usd)
                .checked_add(Money::new(2, usd))
                .unwrap()
                .amount,
            3
        );
        assert!(matches!(
            Money::new(1, usd).checked_add(Money::new(2, eur)),
            Err(BillingError::CurrencyMismatch { .. })
        ));
        assert_eq!(
            Money::new(i64::MAX, usd).checked_add(Money::new(1, usd)),
            Err(BillingError::Overflow)
        );
    }
}
