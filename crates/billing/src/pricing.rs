//! Pricing models: flat, per_unit, graduated, volume and package, with optional tier flat
//! fees. Amounts are exact decimals in minor units; the result is rounded once.
//!
//! Tiers have an inclusive `up_to` (None = infinity), strictly increasing, the last one
//! unbounded. Graduated: each unit priced by the tier it falls in, plus the flat fee of every
//! tier reached. Volume: all units at the tier the total reaches, plus that tier's flat fee.
//! Package: price per started package of `package_size` units (25,001 units at 1,000 per
//! package is 26 packages).
//!
//! A quantity of zero charges nothing in every model (no tier is reached, no package is
//! started, a flat fee is not charged for an item with no quantity).

use crate::BillingError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One tier. `up_to` is inclusive; `None` means no upper bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    pub up_to: Option<u64>,
    /// Per unit, minor units, exact (e.g. 0.2 for 0.002 USD).
    pub unit_amount: Decimal,
    /// Once per period when the tier is reached, minor units.
    pub flat_amount: Decimal,
}

/// How a price turns a quantity into an amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum PricingModel {
    /// A fixed amount per period regardless of quantity (quantity is ignored... except 0,
    /// which charges nothing).
    Flat {
        amount: Decimal,
    },
    PerUnit {
        unit_amount: Decimal,
    },
    Graduated {
        tiers: Vec<Tier>,
    },
    Volume {
        tiers: Vec<Tier>,
    },
    Package {
        amount: Decimal,
        package_size: u64,
    },
}

impl PricingModel {
    /// Checks tiers (non-empty, increasing, last unbounded), non-negative amounts and a
    /// positive package size.
    pub fn validate(&self) -> Result<(), BillingError> {
        match self {
            PricingModel::Flat { amount } => non_negative("amount", *amount),
            PricingModel::PerUnit { unit_amount } => non_negative("unit_amount", *unit_amount),
            PricingModel::Graduated { tiers } | PricingModel::Volume { tiers } => {
                validate_tiers(tiers)
            }
            PricingModel::Package {
                amount,
                package_size,
            } => {
                non_negative("amount", *amount)?;
                if *package_size == 0 {
                    return Err(BillingError::InvalidTiers(
                        "package_size must be at least 1".into(),
                    ));
                }
                Ok(())
            }
        }
    }

    /// The exact (unrounded) amount in minor units for `quantity` units in one period.
    /// Quantity must be ≥ 0.
    pub fn exact_amount(&self, quantity: Decimal) -> Result<Decimal, BillingError> {
        self.validate()?;
        if quantity.is_sign_negative() && !quantity.is_zero() {
            return Err(BillingError::InvalidQuantity(quantity.to_string()));
        }
        if quantity.is_zero() {
            return Ok(Decimal::ZERO);
        }
        match self {
            PricingModel::Flat { amount } => Ok(*amount),
            PricingModel::PerUnit { unit_amount } => mul(quantity, *unit_amount),
            PricingModel::Graduated { tiers } => {
                let mut total = Decimal::ZERO;
                let mut floor = Decimal::ZERO;
                for tier in tiers {
                    if quantity <= floor {
                        break;
                    }
                    let ceiling = tier.up_to.map(Decimal::from);
                    let top = match ceiling {
                        Some(c) if c < quantity => c,
                        _ => quantity,
                    };
                    let units = top - floor;
                    total = add(total, add(mul(units, tier.unit_amount)?, tier.flat_amount)?)?;
                    match ceiling {
                        Some(c) => floor = c,
                        None => break,
                    }
                }
                Ok(total)
            }
            PricingModel::Volume { tiers } => {
                let tier = tiers
                    .iter()
                    .find(|t| t.up_to.is_none_or(|u| quantity <= Decimal::from(u)))
                    .ok_or_else(|| {
                        BillingError::InvalidTiers("the last tier must have no up_to".into())
                    })?;
                add(mul(quantity, tier.unit_amount)?, tier.flat_amount)
            }
            PricingModel::Package {
                amount,
                package_size,
            } => {
                let packages = (quantity / Decimal::from(*package_size)).ceil();
                mul(packages, *amount)
            }
        }
    }

    /// `exact_amount` rounded half away from zero to a whole minor unit.
    pub fn amount(&self, quantity: Decimal) -> Result<i64, BillingError> {
        crate::money::round_minor(self.exact_amount(quantity)?)
    }

    /// The stable name used in the API and the database ("flat", "per_unit", …).
    pub fn name(&self) -> &'static str {
        match self {
            PricingModel::Flat { .. } => "flat",
            PricingModel::PerUnit { .. } => "per_unit",
            PricingModel::Graduated { .. } => "graduated",
            PricingModel::Volume { .. } => "volume",
            PricingModel::Package { .. } => "package",
        }
    }
}

fn non_negative(what: &str, value: Decimal) -> Result<(), BillingError> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(BillingError::InvalidTiers(format!(
            "{what} {value} must not be negative"
        )));
    }
    Ok(())
}

fn validate_tiers(tiers: &[Tier]) -> Result<(), BillingError> {
    let Some(last) = tiers.last() else {
        return Err(BillingError::InvalidTiers(
            "at least one tier is needed".into(),
        ));
    };
    if last.up_to.is_some() {
        return Err(BillingError::InvalidTiers(
            "the last tier must have no up_to".into(),
        ));
    }
    let mut previous: Option<u64> = None;
    for (i, tier) in tiers.iter().enumerate() {
        non_negative("unit_amount", tier.unit_amount)?;
        non_negative("flat_amount", tier.flat_amount)?;
        if i + 1 < tiers.len() {
            let Some(up_to) = tier.up_to else {
                return Err(BillingError::InvalidTiers(format!(
                    "only the last tier may be unbounded (tier {})",
                    i + 1
                )));
            };
            if up_to == 0 || previous.is_some_and(|p| up_to <= p) {
                return Err(BillingError::InvalidTiers(format!(
                    "up_to must be positive and strictly increasing (tier {} has {up_to})",
                    i + 1
                )));
            }
            previous = Some(up_to);
        }
    }
    Ok(())
}

fn mul(a: Decimal, b: Decimal) -> Result<Decimal, BillingError> {
    a.checked_mul(b).ok_or(BillingError::Overflow)
}

fn add(a: Decimal, b: Decimal) -> Result<Decimal, BillingError> {
    a.checked_add(b).ok_or(BillingError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test decimal")
    }

    fn q(n: u64) -> Decimal {
        Decimal::from(n)
    }

    fn tier(up_to: Option<u64>, unit: &str, flat: &str) -> Tier {
        Tier {
            up_to,
            unit_amount: d(unit),
            flat_amount: d(flat),
        }
    }

    /// BILLING.md: up to 1,000 at 0.000; up to 10,000 at 0.002; above at 0.001 USD per unit.
    fn example_tiers() -> Vec<Tier> {
        vec![
            tier(Some(1_000), "0", "0"),
            tier(Some(10_000), "0.2", "0"),
            tier(None, "0.1", "0"),
        ]
    }

    #[test]
    fn graduated_25000_units_is_3300() {
        let m = PricingModel::Graduated {
            tiers: example_tiers(),
        };
        assert_eq!(m.amount(q(25_000)).unwrap(), 3300);
        assert_eq!(m.amount(q(1_000)).unwrap(), 0);
        assert_eq!(m.amount(q(1_001)).unwrap(), 0); // 0.2 rounds down
        assert_eq!(m.exact_amount(q(1_001)).unwrap(), d("0.2"));
        assert_eq!(m.amount(q(10_000)).unwrap(), 1800);
        assert_eq!(m.amount(q(10_001)).unwrap(), 1800);
        assert_eq!(m.exact_amount(q(10_001)).unwrap(), d("1800.1"));
    }

    #[test]
    fn volume_25000_is_2500_and_10000_is_2000() {
        let m = PricingModel::Volume {
            tiers: example_tiers(),
        };
        assert_eq!(m.amount(q(25_000)).unwrap(), 2500);
        assert_eq!(m.amount(q(10_000)).unwrap(), 2000);
        assert_eq!(m.amount(q(10_001)).unwrap(), 1000);
        assert_eq!(m.amount(q(1_000)).unwrap(), 0);
    }

    #[test]
    fn package_counts_started_packages() {
        let m = PricingModel::Package {
            amount: d("500"),
            package_size: 1_000,
        };
        assert_eq!(m.amount(q(25_000)).unwrap(), 12_500);
        assert_eq!(m.amount(q(25_001)).unwrap(), 13_000);
        assert_eq!(m.amount(q(1)).unwrap(), 500);
        assert_eq!(m.amount(q(0)).unwrap(), 0);
        assert!(PricingModel::Package {
            amount: d("500"),
            package_size: 0
        }
        .validate()
        .is_err());
    }

    #[test]
    fn tier_flat_fees() {
        let tiers = vec![tier(Some(10), "100", "1000"), tier(None, "50", "500")];
        // Graduated: flat fee of every tier reached.
        let g = PricingModel::Graduated {
            tiers: tiers.clone(),
        };
        assert_eq!(g.amount(q(5)).unwrap(), 1000 + 500);
        assert_eq!(g.amount(q(10)).unwrap(), 1000 + 1000);
        assert_eq!(g.amount(q(11)).unwrap(), 1000 + 1000 + 500 + 50);
        // Volume: the flat fee of the tier reached only.
        let v = PricingModel::Volume { tiers };
        assert_eq!(v.amount(q(10)).unwrap(), 1000 + 1000);
        assert_eq!(v.amount(q(11)).unwrap(), 500 + 550);
        assert_eq!(v.amount(q(0)).unwrap(), 0);
    }

    #[test]
    fn fractional_unit_price_rounds_only_the_line() {
        // 0.0015 USD per call = 0.15 cents.
        let m = PricingModel::PerUnit {
            unit_amount: d("0.15"),
        };
        assert_eq!(m.exact_amount(q(1)).unwrap(), d("0.15"));
        assert_eq!(m.amount(q(1)).unwrap(), 0);
        assert_eq!(m.amount(q(10)).unwrap(), 2); // 1.5 → 2, half away from zero
        assert_eq!(m.amount(q(1_000)).unwrap(), 150);
        assert_eq!(m.amount(q(12_345)).unwrap(), 1852); // 1851.75
    }

    #[test]
    fn flat_and_per_unit() {
        let f = PricingModel::Flat { amount: d("3000") };
        assert_eq!(f.amount(q(1)).unwrap(), 3000);
        assert_eq!(f.amount(q(7)).unwrap(), 3000);
        assert_eq!(f.amount(q(0)).unwrap(), 0);
        let p = PricingModel::PerUnit {
            unit_amount: d("1200"),
        };
        assert_eq!(p.amount(q(5)).unwrap(), 6000);
        assert_eq!(p.name(), "per_unit");
    }

    #[test]
    fn negative_quantity_is_rejected() {
        let p = PricingModel::PerUnit {
            unit_amount: d("1"),
        };
        assert!(matches!(
            p.amount(d("-1")),
            Err(BillingError::InvalidQuantity(_))
        ));
    }

    #[test]
    fn invalid_tiers_are_rejected() {
        let bad = [
            vec![],
            vec![tier(Some(10), "1", "0")],
            vec![
                tier(Some(10), "1", "0"),
                tier(Some(5), "1", "0"),
                tier(None, "1", "0"),
            ],
            vec![
                tier(Some(10), "1", "0"),
                tier(Some(10), "1", "0"),
                tier(None, "1", "0"),
            ],
            vec![tier(None, "1", "0"), tier(None, "1", "0")],
            vec![tier(Some(10), "-1", "0"), tier(None, "1", "0")],
            vec![tier(Some(10), "1", "-1"), tier(None, "1", "0")],
            vec![tier(Some(0), "1", "0"), tier(None, "1", "0")],
        ];
        for tiers in bad {
            let m = PricingModel::Graduated {
                tiers: tiers.clone(),
            };
            assert!(
                matches!(m.validate(), Err(BillingError::InvalidTiers(_))),
                "{tiers:?}"
            );
            assert!(m.amount(q(5)).is_err());
        }
        assert!(PricingModel::Volume {
            tiers: example_tiers()
        }
        .validate()
        .is_ok());
        assert!(PricingModel::Flat { amount: d("-1") }.validate().is_err());
    }
}
