//! Discounts: percent-off or amount-off; once, repeating N periods or forever; scoped to
//! the whole invoice or to given products (BILLING.md "Discounts").
//!
//! Percent-off is computed per eligible line: round(line × pct/100). Amount-off is capped
//! at the eligible subtotal and split across
//! eligible lines pro-rata by largest remainder. Several discounts apply in order, each to
//! what the previous ones left. Only lines with a positive amount are eligible (proration
//! credits are never discounted again). Whatever their kind, discounts never make the
//! invoice negative: all they take is capped at what the whole invoice, credit lines
//! included, still comes to (split back over their parts by largest remainder).

use crate::ids::ProductId;
use crate::money::round_minor;
use crate::split::split_by_largest_remainder;
use crate::BillingError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscountValue {
    /// 0 < percent ≤ 100.
    PercentOff(Decimal),
    /// Minor units of the invoice currency, > 0.
    AmountOff(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "duration")]
pub enum DiscountDuration {
    Once,
    Repeating { periods: u32 },
    Forever,
}

impl DiscountDuration {
    /// Whether a discount that has already applied to `invoices_applied` invoices still
    /// applies to another one.
    pub fn applies_after(&self, invoices_applied: u32) -> bool {
        match self {
            DiscountDuration::Once => invoices_applied == 0,
            DiscountDuration::Repeating { periods } => invoices_applied < *periods,
            DiscountDuration::Forever => true,
        }
    }
}

/// A discount to apply to one invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discount {
    pub value: DiscountValue,
    /// None: every line. Some: only lines of these products.
    pub products: Option<Vec<ProductId>>,
}

impl Discount {
    /// Percent-off must be in (0, 100]; amount-off must be positive.
    pub fn validate(&self) -> Result<(), BillingError> {
        match &self.value {
            DiscountValue::PercentOff(p) => {
                if *p <= Decimal::ZERO || *p > Decimal::ONE_HUNDRED {
                    return Err(BillingError::InvalidPercentage(p.to_string()));
                }
            }
            DiscountValue::AmountOff(a) => {
                if *a <= 0 {
                    return Err(BillingError::InvalidQuantity(format!(
                        "amount_off {a} (must be greater than 0)"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Whether the discount applies to a line of `product`.
    pub fn covers(&self, product: Option<&ProductId>) -> bool {
        match &self.products {
            None => true,
            Some(list) => product.is_some_and(|p| list.contains(p)),
        }
    }
}

/// A line as discounts see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscountableLine {
    pub amount: i64,
    pub product: Option<ProductId>,
}

/// The discount amount (≥ 0) taken off each line, in line order, summed over all
/// discounts. Never more than a line's positive amount.
pub fn apply_discounts(
    lines: &[DiscountableLine],
    discounts: &[Discount],
) -> Result<Vec<i64>, BillingError> {
    // What each line still has to be discounted: its positive amount, less earlier discounts.
    let mut left: Vec<i64> = lines.iter().map(|l| l.amount.max(0)).collect();
    let mut taken = vec![0i64; lines.len()];
    for discount in discounts {
        discount.validate()?;
        let eligible: Vec<i64> = lines
            .iter()
            .zip(&left)
            .map(|(line, &l)| {
                if l > 0 && discount.covers(line.product.as_ref()) {
                    l
                } else {
                    0
                }
            })
            .collect();
        let parts: Vec<i64> = match &discount.value {
            DiscountValue::PercentOff(pct) => eligible
                .iter()
                .map(|&l| {
                    let exact = Decimal::from(l)
                        .checked_mul(*pct)
                        .ok_or(BillingError::Overflow)?
                        / Decimal::ONE_HUNDRED;
                    Ok(round_minor(exact)?.min(l))
                })
                .collect::<Result<_, BillingError>>()?,
            DiscountValue::AmountOff(off) => {
                let subtotal: i128 = eligible.iter().map(|&l| i128::from(l)).sum();
                if subtotal == 0 {
                    vec![0; lines.len()]
                } else {
                    let capped = i64::try_from(i128::from(*off).min(subtotal))
                        .map_err(|_| BillingError::Overflow)?;
                    split_by_largest_remainder(capped, &eligible)
                }
            }
        };
        // A discount never makes the invoice negative: what all discounts take is capped at
        // what the whole invoice (credit lines included) still comes to.
        let total: i128 = lines.iter().map(|l| i128::from(l.amount)).sum::<i128>()
            - taken.iter().map(|&t| i128::from(t)).sum::<i128>();
        let room = i64::try_from(total.max(0)).unwrap_or(i64::MAX);
        let sum: i128 = parts.iter().map(|&p| i128::from(p)).sum();
        let parts = if sum > i128::from(room) {
            split_by_largest_remainder(room, &parts)
        } else {
            parts
        };
        for ((l, t), p) in left.iter_mut().zip(taken.iter_mut()).zip(parts) {
            *l -= p;
            *t += p;
        }
    }
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prod(s: &str) -> ProductId {
        ProductId::from_suffix(s).expect("test id")
    }

    fn line(amount: i64, product: Option<&str>) -> DiscountableLine {
        DiscountableLine {
            amount,
            product: product.map(prod),
        }
    }

    fn pct(p: i64) -> Discount {
        Discount {
            value: DiscountValue::PercentOff(Decimal::from(p)),
            products: None,
        }
    }

    fn off(a: i64) -> Discount {
        Discount {
            value: DiscountValue::AmountOff(a),
            products: None,
        }
    }

    #[test]
    fn percent_off_is_computed_per_line() {
        // 10% of 5 and 5: per line 0.5 → 1 each (2 in all), not round(10% of 10) = 1.
        let lines = [line(5, None), line(5, None)];
        assert_eq!(apply_discounts(&lines, &[pct(10)]).unwrap(), vec![1, 1]);
        let lines = [line(4645, None), line(1000, None)];
        assert_eq!(apply_discounts(&lines, &[pct(15)]).unwrap(), vec![697, 150]);
        assert_eq!(
            apply_discounts(&lines, &[pct(100)]).unwrap(),
            vec![4645, 1000]
        );
    }

    #[test]
    fn amount_off_is_capped_at_eligible_subtotal() {
        let lines = [line(300, None), line(200, None)];
        assert_eq!(
            apply_discounts(&lines, &[off(10_000)]).unwrap(),
            vec![300, 200]
        );
    }

    #[test]
    fn amount_off_is_split_pro_rata_by_largest_remainder() {
        let lines = [line(100, None), line(100, None), line(100, None)];
        assert_eq!(
            apply_discounts(&lines, &[off(100)]).unwrap(),
            vec![34, 33, 33]
        );
        let lines = [line(1000, None), line(3000, None)];
        assert_eq!(
            apply_discounts(&lines, &[off(1000)]).unwrap(),
            vec![250, 750]
        );
    }

    #[test]
    fn only_positive_lines_are_discountable() {
        let lines = [line(-1548, None), line(4645, None)];
        assert_eq!(apply_discounts(&lines, &[pct(10)]).unwrap(), vec![0, 465]);
        // Amount-off is capped at the positive lines, and never takes the invoice below zero:
        // −1548 + 4645 = 3097 is all that can be taken.
        assert_eq!(
            apply_discounts(&lines, &[off(2000)]).unwrap(),
            vec![0, 2000]
        );
        assert_eq!(
            apply_discounts(&lines, &[off(4000)]).unwrap(),
            vec![0, 3097]
        );
        // Percent-off too: 100 % of the positive line would leave −1548.
        assert_eq!(apply_discounts(&lines, &[pct(100)]).unwrap(), vec![0, 3097]);
        assert_eq!(
            apply_discounts(&[line(-100, None)], &[off(50)]).unwrap(),
            vec![0]
        );
    }

    #[test]
    fn product_scope_limits_eligible_lines() {
        let lines = [
            line(1000, Some("pro")),
            line(1000, Some("addon")),
            line(1000, None),
        ];
        let scoped = Discount {
            value: DiscountValue::PercentOff(Decimal::from(50)),
            products: Some(vec![prod("pro")]),
        };
        assert_eq!(apply_discounts(&lines, &[scoped]).unwrap(), vec![500, 0, 0]);
        let scoped = Discount {
            value: DiscountValue::AmountOff(5000),
            products: Some(vec![prod("pro"), prod("addon")]),
        };
        assert_eq!(
            apply_discounts(&lines, &[scoped]).unwrap(),
            vec![1000, 1000, 0]
        );
    }

    #[test]
    fn several_discounts_apply_to_what_is_left() {
        let lines = [line(1000, None), line(1000, None)];
        // 50% → 500 each, then 700 off the remaining 1000 → 350 each.
        assert_eq!(
            apply_discounts(&lines, &[pct(50), off(700)]).unwrap(),
            vec![850, 850]
        );
        // Two 100% discounts never take more than the line.
        assert_eq!(
            apply_discounts(&lines, &[pct(100), pct(100), off(5)]).unwrap(),
            vec![1000, 1000]
        );
    }

    #[test]
    fn repeating_durations() {
        let r = DiscountDuration::Repeating { periods: 3 };
        assert!(r.applies_after(0));
        assert!(r.applies_after(2));
        assert!(!r.applies_after(3));
        assert!(DiscountDuration::Once.applies_after(0));
        assert!(!DiscountDuration::Once.applies_after(1));
        assert!(DiscountDuration::Forever.applies_after(1_000));
        assert!(!DiscountDuration::Repeating { periods: 0 }.applies_after(0));
    }

    #[test]
    fn invalid_discounts_are_rejected() {
        assert!(matches!(
            pct(0).validate(),
            Err(BillingError::InvalidPercentage(_))
        ));
        assert!(pct(101).validate().is_err());
        assert!(pct(-5).validate().is_err());
        assert!(pct(100).validate().is_ok());
        assert!(off(0).validate().is_err());
        assert!(off(-1).validate().is_err());
        assert!(apply_discounts(&[line(10, None)], &[pct(120)]).is_err());
    }
}
