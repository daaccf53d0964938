//! Tax: rates by jurisdiction, exclusive or inclusive, exemption and EU B2B reverse charge
//! (BILLING.md "Tax").
//!
//! Tax is computed once per invoice per rate — round(sum of net lines at that rate × rate) —
//! then split to the lines by largest remainder. Inclusive: tax = round(gross × r/(1+r)),
//! net = gross − tax. 30.97 at 19% exclusive is 5.88 (per-line rounding would give 5.89).

use crate::ids::TaxRateId;
use crate::money::round_ratio;
use crate::BillingError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A tax rate as it applies to an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxRate {
    pub id: TaxRateId,
    pub display_name: String,
    /// 0 ≤ percentage ≤ 100, e.g. 19 for 19%.
    pub percentage: Decimal,
    /// ISO 3166-1 alpha-2 country, e.g. "DE".
    pub country: String,
    /// Optional region (state, province) within the country, e.g. "CA".
    pub region: Option<String>,
}

/// How tax applies to a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "treatment")]
pub enum TaxTreatment {
    /// Tax at the rate of the customer's jurisdiction (None: no rate configured there, 0%).
    Taxable { rate: Option<TaxRate> },
    /// Exempt customer: 0% and the note "Tax exempt".
    Exempt,
    /// EU B2B reverse charge: 0% and the note "Reverse charge".
    ReverseCharge,
}

impl TaxTreatment {
    /// The note printed on the invoice, if any.
    pub fn note(&self) -> Option<&'static str> {
        match self {
            TaxTreatment::Taxable { .. } => None,
            TaxTreatment::Exempt => Some("Tax exempt: no tax charged."),
            TaxTreatment::ReverseCharge => Some("Reverse charge: VAT to be accounted for by the recipient (Article 196, Council Directive 2006/112/EC)."),
        }
    }
}

/// EU member states (ISO alpha-2; Greece as "GR" and "EL" both accepted in VAT ids).
pub const EU_COUNTRIES: &[&str] = &[
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// Whether `vat_id` looks like an EU VAT id: a member-state prefix (EL for Greece) and 2–12
/// letters or digits. Returns the country of the id.
///
/// Spaces, dots and hyphens are ignored and letters may be lower case ("de 123-456-789").
pub fn eu_vat_country(vat_id: &str) -> Option<&'static str> {
    let compact: String = vat_id
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.' && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !compact.is_ascii() || compact.len() < 4 {
        return None;
    }
    let (prefix, rest) = compact.split_at(2);
    let country = normalize_country(prefix);
    let known = EU_COUNTRIES.iter().copied().find(|c| *c == country)?;
    let ok = (2..=12).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(known)
}

/// Upper-cases a country code and maps Greece's VAT prefix EL to its ISO code GR.
fn normalize_country(code: &str) -> String {
    let upper = code.trim().to_ascii_uppercase();
    if upper == "EL" {
        "GR".to_string()
    } else {
        upper
    }
}

fn is_eu(country: &str) -> bool {
    EU_COUNTRIES.contains(&country)
}

/// Picks the treatment: exempt if flagged; reverse charge when the seller and the customer
/// are in different EU countries and the customer has a valid-looking EU VAT id of their
/// own country; otherwise the most specific rate among `rates` for the customer's
/// country and region (a region match beats a country-wide rate with no region).
pub fn choose_treatment(
    seller_country: &str,
    customer_country: Option<&str>,
    customer_region: Option<&str>,
    customer_vat_ids: &[String],
    tax_exempt: bool,
    rates: &[TaxRate],
) -> TaxTreatment {
    if tax_exempt {
        return TaxTreatment::Exempt;
    }
    let Some(customer_country) = customer_country.map(normalize_country) else {
        return TaxTreatment::Taxable { rate: None };
    };
    let seller_country = normalize_country(seller_country);
    if is_eu(&seller_country)
        && is_eu(&customer_country)
        && seller_country != customer_country
        && customer_vat_ids
            .iter()
            .any(|id| eu_vat_country(id) == Some(customer_country.as_str()))
    {
        return TaxTreatment::ReverseCharge;
    }
    let in_country = |r: &&TaxRate| normalize_country(&r.country) == customer_country;
    let region_rate = customer_region.and_then(|region| {
        rates.iter().filter(in_country).find(|r| {
            r.region
                .as_deref()
                .is_some_and(|rr| rr.trim().eq_ignore_ascii_case(region.trim()))
        })
    });
    let rate = region_rate.or_else(|| rates.iter().filter(in_country).find(|r| r.region.is_none()));
    TaxTreatment::Taxable {
        rate: rate.cloned(),
    }
}

/// A percentage as an exact fraction `numerator / denominator` of 100 (19.5 → 195/1000).
fn percentage_fraction(percentage: Decimal) -> Result<(i128, i128), BillingError> {
    if percentage.is_sign_negative() && !percentage.is_zero() || percentage > Decimal::ONE_HUNDRED {
        return Err(BillingError::InvalidPercentage(percentage.to_string()));
    }
    let scale = 10i128
        .checked_pow(percentage.scale())
        .ok_or(BillingError::Overflow)?;
    Ok((
        percentage.mantissa(),
        scale.checked_mul(100).ok_or(BillingError::Overflow)?,
    ))
}

/// Exact tax shares of signed amounts at `percentage`, as numerators over one common
/// denominator: exclusive `amount × r`, inclusive `amount × r/(1+r)`.
pub(crate) fn tax_shares(
    amounts: &[i64],
    percentage: Decimal,
    inclusive: bool,
) -> Result<(Vec<i128>, i128), BillingError> {
    let (num, den) = percentage_fraction(percentage)?;
    let den = if inclusive {
        den.checked_add(num).ok_or(BillingError::Overflow)?
    } else {
        den
    };
    let nums = amounts
        .iter()
        .map(|&a| i128::from(a).checked_mul(num).ok_or(BillingError::Overflow))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((nums, den))
}

/// Exclusive tax on a net amount: round(net × pct/100).
pub fn exclusive_tax(net: i64, percentage: Decimal) -> Result<i64, BillingError> {
    let (nums, den) = tax_shares(&[net], percentage, false)?;
    round_ratio(nums[0], den)
}

/// The tax contained in a gross amount: round(gross × r/(1+r)).
pub fn inclusive_tax(gross: i64, percentage: Decimal) -> Result<i64, BillingError> {
    let (nums, den) = tax_shares(&[gross], percentage, true)?;
    round_ratio(nums[0], den)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test decimal")
    }

    fn rate(id: &str, pct: &str, country: &str, region: Option<&str>) -> TaxRate {
        TaxRate {
            id: TaxRateId::from_suffix(id).expect("test id"),
            display_name: format!("{country} {pct}%"),
            percentage: d(pct),
            country: country.into(),
            region: region.map(str::to_string),
        }
    }

    #[test]
    fn exclusive_tax_rounds_once() {
        assert_eq!(exclusive_tax(3097, d("19")).unwrap(), 588);
        assert_eq!(exclusive_tax(-1548, d("19")).unwrap(), -294);
        assert_eq!(exclusive_tax(4645, d("19")).unwrap(), 883);
        assert_eq!(exclusive_tax(50, d("1")).unwrap(), 1); // 0.5 → 1
        assert_eq!(exclusive_tax(-50, d("1")).unwrap(), -1); // −0.5 → −1
        assert_eq!(exclusive_tax(1000, d("8.875")).unwrap(), 89);
        assert_eq!(exclusive_tax(1000, d("0")).unwrap(), 0);
    }

    #[test]
    fn inclusive_tax_is_gross_times_r_over_one_plus_r() {
        // 119.00 gross at 19% contains 19.00.
        assert_eq!(inclusive_tax(11900, d("19")).unwrap(), 1900);
        // 10.00 at 19%: 159.66… → 160, net 840.
        assert_eq!(inclusive_tax(1000, d("19")).unwrap(), 160);
        assert_eq!(inclusive_tax(-1000, d("19")).unwrap(), -160);
        // 7.7% of 107.70 → 7.70.
        assert_eq!(inclusive_tax(10770, d("7.7")).unwrap(), 770);
        assert_eq!(inclusive_tax(1000, d("100")).unwrap(), 500);
    }

    #[test]
    fn invalid_percentage_is_rejected() {
        assert!(matches!(
            exclusive_tax(100, d("-1")),
            Err(BillingError::InvalidPercentage(_))
        ));
        assert!(inclusive_tax(100, d("100.01")).is_err());
    }

    #[test]
    fn exempt_customer_gets_no_tax_and_a_note() {
        let rates = [rate("de", "19", "DE", None)];
        let t = choose_treatment("DE", Some("DE"), None, &[], true, &rates);
        assert_eq!(t, TaxTreatment::Exempt);
        assert!(t.note().is_some_and(|n| n.contains("exempt")));
    }

    #[test]
    fn eu_reverse_charge_needs_vat_id_of_a_different_eu_country() {
        let rates = [rate("de", "19", "DE", None), rate("fr", "20", "FR", None)];
        let fr_vat = vec!["FR 12 345678901".to_string()];
        let t = choose_treatment("DE", Some("FR"), None, &fr_vat, false, &rates);
        assert_eq!(t, TaxTreatment::ReverseCharge);
        assert!(t.note().is_some_and(|n| n.contains("Reverse charge")));
        // Same country: domestic VAT.
        let de_vat = vec!["DE123456789".to_string()];
        assert_eq!(
            choose_treatment("DE", Some("DE"), None, &de_vat, false, &rates),
            TaxTreatment::Taxable {
                rate: Some(rates[0].clone())
            }
        );
        // No VAT id, or one that does not look valid, or of another country: B2C, taxed.
        for ids in [
            vec![],
            vec!["FR1".to_string()],
            vec!["IT12345678901".to_string()],
            vec!["XX123456".to_string()],
        ] {
            assert_eq!(
                choose_treatment("DE", Some("FR"), None, &ids, false, &rates),
                TaxTreatment::Taxable {
                    rate: Some(rates[1].clone())
                },
                "{ids:?}"
            );
        }
        // Seller outside the EU: no reverse charge.
        assert_eq!(
            choose_treatment("US", Some("FR"), None, &fr_vat, false, &rates),
            TaxTreatment::Taxable {
                rate: Some(rates[1].clone())
            }
        );
        // Greece uses EL in VAT ids.
        assert_eq!(
            choose_treatment(
                "DE",
                Some("GR"),
                None,
                &["EL123456789".to_string()],
                false,
                &[]
            ),
            TaxTreatment::ReverseCharge
        );
    }

    #[test]
    fn vat_id_shape() {
        assert_eq!(eu_vat_country("DE123456789"), Some("DE"));
        assert_eq!(eu_vat_country("de 123-456.789"), Some("DE"));
        assert_eq!(eu_vat_country("EL123456789"), Some("GR"));
        assert_eq!(eu_vat_country("NL123456789B01"), Some("NL"));
        assert_eq!(eu_vat_country("GB123456789"), None);
        assert_eq!(eu_vat_country("DE1"), None);
        assert_eq!(eu_vat_country("DE1234567890123"), None);
        assert_eq!(eu_vat_country("DE12345_789"), None);
        assert_eq!(eu_vat_country(""), None);
        assert_eq!(eu_vat_country("DÉ12345678"), None);
    }

    #[test]
    fn region_rate_beats_country_rate() {
        let rates = [
            rate("us", "0", "US", None),
            rate("ca", "7.25", "US", Some("CA")),
            rate("ny", "4", "US", Some("NY")),
        ];
        let pick = |region| match choose_treatment("US", Some("US"), region, &[], false, &rates) {
            TaxTreatment::Taxable { rate } => rate.map(|r| r.id.to_string()),
            other => panic!("{other:?}"),
        };
        assert_eq!(pick(Some("CA")).as_deref(), Some("txr_ca"));
        assert_eq!(pick(Some("ca")).as_deref(), Some("txr_ca"));
        assert_eq!(pick(Some("TX")).as_deref(), Some("txr_us"));
        assert_eq!(pick(None).as_deref(), Some("txr_us"));
        // Order of the rates does not matter.
        let reversed: Vec<TaxRate> = rates.iter().rev().cloned().collect();
        assert_eq!(
            choose_treatment("US", Some("US"), Some("CA"), &[], false, &reversed),
            TaxTreatment::Taxable {
                rate: Some(rates[1].clone())
            }
        );
    }

    #[test]
    fn no_rate_for_the_jurisdiction_is_zero_tax() {
        let rates = [
            rate("de", "19", "DE", None),
            rate("ca", "7.25", "US", Some("CA")),
        ];
        assert_eq!(
            choose_treatment("DE", Some("JP"), None, &[], false, &rates),
            TaxTreatment::Taxable { rate: None }
        );
        assert_eq!(
            choose_treatment("DE", Some("US"), Some("TX"), &[], false, &rates),
            TaxTreatment::Taxable { rate: None }
        );
        assert_eq!(
            choose_treatment("DE", None, None, &[], false, &rates),
            TaxTreatment::Taxable { rate: None }
        );
    }
}
