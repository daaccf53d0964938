//! Invoice computation, in the order of BILLING.md: lines → discounts → tax per rate →
//! total → customer credit balance applied → amount due.
//!
//! A negative total (proration credits) finalizes with amount due 0, and its magnitude goes
//! to the customer's credit balance (`credit_to_balance`).

use crate::discount::{apply_discounts, Discount, DiscountableLine};
use crate::ids::{PriceId, ProductId};
use crate::money::round_ratio;
use crate::period::Period;
use crate::split::allocate_exact_shares;
use crate::tax::{exclusive_tax, inclusive_tax, tax_shares};
use crate::tax::{TaxRate, TaxTreatment};
use crate::BillingError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What kind of charge a line is; used for wording and for "what causes contacts".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Subscription,
    Proration,
    Usage,
    OneOff,
}

impl LineKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            LineKind::Subscription => "subscription",
            LineKind::Proration => "proration",
            LineKind::Usage => "usage",
            LineKind::OneOff => "one_off",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "subscription" => Some(LineKind::Subscription),
            "proration" => Some(LineKind::Proration),
            "usage" => Some(LineKind::Usage),
            "one_off" => Some(LineKind::OneOff),
            _ => None,
        }
    }
}

/// A line before discounts and tax. `amount` is signed (proration credits are negative),
/// in minor units, already rounded; for a tax-inclusive price it is the gross amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineInput {
    pub kind: LineKind,
    pub description: String,
    pub product: Option<ProductId>,
    pub price: Option<PriceId>,
    pub quantity: Decimal,
    pub amount: i64,
    pub period: Option<Period>,
    pub tax_inclusive: bool,
}

/// A line after discounts and tax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputedLine {
    pub input: LineInput,
    /// Taken off this line by discounts (≥ 0).
    pub discount_amount: i64,
    /// Tax of this line (its share of the per-rate tax), signed like the line.
    pub tax_amount: i64,
    /// Net of tax after discount: for exclusive lines amount − discount; for inclusive
    /// lines amount − discount − tax.
    pub net_amount: i64,
    /// What the customer pays for this line: net + tax.
    pub total: i64,
}

/// Tax of one rate on one invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxBreakdown {
    pub rate: TaxRate,
    pub inclusive: bool,
    /// Sum of net amounts taxed at this rate.
    pub taxable_amount: i64,
    pub tax_amount: i64,
}

/// A fully computed invoice. Invariants: `total == Σ line.total == subtotal − discount +
/// exclusive tax`; `net + tax == total`; `amount_due == max(total − credit_applied, 0)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputedInvoice {
    pub lines: Vec<ComputedLine>,
    /// Σ line amounts before discounts (inclusive lines count gross).
    pub subtotal: i64,
    pub total_discount: i64,
    pub total_tax: i64,
    /// Σ line net amounts.
    pub total_net: i64,
    pub total: i64,
    /// Taken from the customer's credit balance (0 ≤ credit_applied ≤ max(total, 0)).
    pub credit_applied: i64,
    pub amount_due: i64,
    /// When total < 0: −total, added to the customer's credit balance.
    pub credit_to_balance: i64,
    pub tax_breakdown: Vec<TaxBreakdown>,
    pub tax_note: Option<String>,
}

/// Computes an invoice. `credit_balance` (≥ 0) is the customer's available credit.
/// Tax: with `TaxTreatment::Taxable { rate: Some(r) }` every line is taxed at `r`
/// (exclusive or inclusive per line); exempt and reverse charge give 0 tax and a note.
///
/// Lines are grouped by (rate, inclusive flag); each group's tax is rounded once from the
/// sum of its lines after discount, then split back to the lines by largest remainder over
/// each line's exact (signed) share, so a credit line carries negative tax, every line's tax
/// is within one minor unit of its exact share, and the lines add up to the group's tax.
pub fn compute_invoice(
    lines: Vec<LineInput>,
    discounts: &[Discount],
    treatment: &TaxTreatment,
    credit_balance: i64,
) -> Result<ComputedInvoice, BillingError> {
    if credit_balance < 0 {
        return Err(BillingError::InvalidQuantity(format!(
            "credit balance {credit_balance}"
        )));
    }
    let discountable: Vec<DiscountableLine> = lines
        .iter()
        .map(|l| DiscountableLine {
            amount: l.amount,
            product: l.product.clone(),
        })
        .collect();
    let discount_amounts = apply_discounts(&discountable, discounts)?;
    let after_discount: Vec<i64> = lines
        .iter()
        .zip(&discount_amounts)
        .map(|(l, d)| l.amount - d)
        .collect();

    // Tax once per (rate, inclusive) group, split back to the group's lines.
    let mut line_tax = vec![0i64; lines.len()];
    let mut tax_breakdown = Vec::new();
    let rate = match treatment {
        TaxTreatment::Taxable { rate: Some(rate) } => Some(rate),
        _ => None,
    };
    if let Some(rate) = rate {
        // Groups in order of first appearance.
        let mut groups: Vec<bool> = Vec::new();
        for l in &lines {
            if !groups.contains(&l.tax_inclusive) {
                groups.push(l.tax_inclusive);
            }
        }
        for inclusive in groups {
            let idx: Vec<usize> = (0..lines.len())
                .filter(|&i| lines[i].tax_inclusive == inclusive)
                .collect();
            let amounts: Vec<i64> = idx.iter().map(|&i| after_discount[i]).collect();
            let (shares, den) = tax_shares(&amounts, rate.percentage, inclusive)?;
            let group_sum: i64 = checked_sum(amounts.iter().copied())?;
            let group_tax = if inclusive {
                inclusive_tax(group_sum, rate.percentage)?
            } else {
                exclusive_tax(group_sum, rate.percentage)?
            };
            let parts = allocate_exact_shares(i128::from(group_tax), &shares, den);
            for (&i, part) in idx.iter().zip(parts) {
                line_tax[i] = i64::try_from(part).map_err(|_| BillingError::Overflow)?;
            }
            let taxable_amount = if inclusive {
                group_sum - group_tax
            } else {
                group_sum
            };
            tax_breakdown.push(TaxBreakdown {
                rate: rate.clone(),
                inclusive,
                taxable_amount,
                tax_amount: group_tax,
            });
        }
    }

    let mut computed = Vec::with_capacity(lines.len());
    for (i, input) in lines.into_iter().enumerate() {
        let tax_amount = line_tax[i];
        let (net_amount, total) = if input.tax_inclusive {
            (after_discount[i] - tax_amount, after_discount[i])
        } else {
            (
                after_discount[i],
                after_discount[i]
                    .checked_add(tax_amount)
                    .ok_or(BillingError::Overflow)?,
            )
        };
        computed.push(ComputedLine {
            input,
            discount_amount: discount_amounts[i],
            tax_amount,
            net_amount,
            total,
        });
    }

    let subtotal = checked_sum(computed.iter().map(|l| l.input.amount))?;
    let total_discount = checked_sum(computed.iter().map(|l| l.discount_amount))?;
    let total_tax = checked_sum(computed.iter().map(|l| l.tax_amount))?;
    let total_net = checked_sum(computed.iter().map(|l| l.net_amount))?;
    let total = checked_sum(computed.iter().map(|l| l.total))?;
    let credit_applied = credit_balance.min(total.max(0));
    Ok(ComputedInvoice {
        lines: computed,
        subtotal,
        total_discount,
        total_tax,
        total_net,
        total,
        credit_applied,
        amount_due: total.max(0) - credit_applied,
        credit_to_balance: total.min(0).checked_neg().ok_or(BillingError::Overflow)?,
        tax_breakdown,
        tax_note: treatment.note().map(str::to_string),
    })
}

fn checked_sum(mut values: impl Iterator<Item = i64>) -> Result<i64, BillingError> {
    values.try_fold(0i64, |acc, v| {
        acc.checked_add(v).ok_or(BillingError::Overflow)
    })
}

/// What a credit note takes off one invoice line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCredit {
    /// Tax-inclusive amount credited (what the customer gets back), > 0.
    pub amount: i64,
    pub net: i64,
    pub tax: i64,
}

/// Splits a credit of `amount` (tax-inclusive, > 0) on a line whose `line_total`,
/// `line_tax` were invoiced and of which `already_total`, `already_tax` were credited
/// before. Fails if the credit would exceed what remains. Tax part:
/// round(amount × line_tax / line_total), capped by the tax remaining; a credit of the whole
/// remainder takes exactly the tax remaining. The tax part is also raised where needed so the
/// tax left behind never exceeds the total left behind (many small credits that each round
/// their tax down would otherwise leave a final credit whose tax exceeds its amount).
pub fn credit_line(
    line_total: i64,
    line_tax: i64,
    already_total: i64,
    already_tax: i64,
    amount: i64,
) -> Result<LineCredit, BillingError> {
    let remaining_total = line_total - already_total;
    let remaining_tax = line_tax - already_tax;
    if amount <= 0 {
        return Err(BillingError::InvalidQuantity(format!(
            "credit amount {amount} (must be greater than 0)"
        )));
    }
    if line_total <= 0 || already_total < 0 || amount > remaining_total {
        return Err(BillingError::CreditExceedsInvoiced(format!(
            "{amount} requested, {} of the line's {line_total} remain",
            remaining_total.max(0)
        )));
    }
    let tax = if amount == remaining_total {
        remaining_tax
    } else {
        let proposed = round_ratio(
            i128::from(amount) * i128::from(line_tax),
            i128::from(line_total),
        )?;
        // Keep what is left consistent: never more tax than remains, and never leave more
        // tax behind than total (so a later full-remainder credit has a net of the line's sign).
        let left_after = remaining_total - amount;
        if remaining_tax >= 0 {
            proposed.clamp((remaining_tax - left_after).max(0), remaining_tax)
        } else {
            proposed.clamp(remaining_tax, 0)
        }
    };
    Ok(LineCredit {
        amount,
        net: amount - tax,
        tax,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discount::DiscountValue;
    use crate::ids::TaxRateId;
    use crate::proration::prorate_change;
    use chrono::NaiveDate;
    use std::str::FromStr;

    fn vat(pct: &str) -> TaxRate {
        TaxRate {
            id: TaxRateId::from_suffix("de").expect("test id"),
            display_name: "USt".into(),
            percentage: Decimal::from_str(pct).expect("test decimal"),
            country: "DE".into(),
            region: None,
        }
    }

    fn taxable(pct: &str) -> TaxTreatment {
        TaxTreatment::Taxable {
            rate: Some(vat(pct)),
        }
    }

    fn line(kind: LineKind, amount: i64, inclusive: bool) -> LineInput {
        LineInput {
            kind,
            description: format!("{} {amount}", kind.as_str()),
            product: None,
            price: None,
            quantity: Decimal::ONE,
            amount,
            period: None,
            tax_inclusive: inclusive,
        }
    }

    fn check_invariants(inv: &ComputedInvoice) {
        assert_eq!(inv.total, inv.lines.iter().map(|l| l.total).sum::<i64>());
        let exclusive_tax: i64 = inv
            .lines
            .iter()
            .filter(|l| !l.input.tax_inclusive)
            .map(|l| l.tax_amount)
            .sum();
        assert_eq!(inv.total, inv.subtotal - inv.total_discount + exclusive_tax);
        assert_eq!(inv.total_net + inv.total_tax, inv.total);
        assert_eq!(inv.amount_due, (inv.total - inv.credit_applied).max(0));
    }

    #[test]
    fn proration_16_of_31_then_tax_19_percent_once_per_invoice() {
        let tz = crate::period::parse_tz("Europe/Berlin").unwrap();
        let ymd = |m, d| NaiveDate::from_ymd_opt(2026, m, d).expect("test date");
        let period = Period::from_dates(ymd(1, 1), ymd(2, 1), tz).unwrap();
        let p = prorate_change(&period, ymd(1, 16), 3000, 9000).unwrap();
        assert_eq!((p.credit, p.charge, p.net()), (-1548, 4645, 3097));

        let lines = vec![
            line(LineKind::Proration, p.credit, false),
            line(LineKind::Proration, p.charge, false),
        ];
        let inv = compute_invoice(lines, &[], &taxable("19"), 0).unwrap();
        check_invariants(&inv);
        assert_eq!(inv.subtotal, 3097);
        assert_eq!(inv.total_tax, 588);
        assert_eq!(inv.total, 3685);
        assert_eq!(inv.amount_due, 3685);
        // Per-line rounding would have given 589: −294.12 → −294 and 882.55 → 883.
        let per_line = crate::tax::exclusive_tax(-1548, vat("19").percentage).unwrap()
            + crate::tax::exclusive_tax(4645, vat("19").percentage).unwrap();
        assert_eq!(per_line, 589);
        // The 588 is split by largest remainder, each line's tax signed like the line.
        assert_eq!(inv.lines[0].tax_amount, -294);
        assert_eq!(inv.lines[1].tax_amount, 882);
        assert_eq!(inv.tax_breakdown.len(), 1);
        assert_eq!(inv.tax_breakdown[0].taxable_amount, 3097);
        assert_eq!(inv.tax_breakdown[0].tax_amount, 588);
        assert_eq!(inv.tax_note, None);
    }

    #[test]
    fn tax_grouped_by_rate_and_inclusive_flag() {
        let lines = vec![
            line(LineKind::Subscription, 11900, true),
            line(LineKind::OneOff, 1000, false),
            line(LineKind::Usage, 1000, true),
        ];
        let inv = compute_invoice(lines, &[], &taxable("19"), 0).unwrap();
        check_invariants(&inv);
        assert_eq!(inv.tax_breakdown.len(), 2);
        let incl = &inv.tax_breakdown[0];
        assert!(incl.inclusive);
        // round(12900 × 19/119) = round(2059.66) = 2060.
        assert_eq!(incl.tax_amount, 2060);
        assert_eq!(incl.taxable_amount, 12900 - 2060);
        let excl = &inv.tax_breakdown[1];
        assert_eq!(
            (excl.inclusive, excl.tax_amount, excl.taxable_amount),
            (false, 190, 1000)
        );
        // Inclusive lines: total is the gross; exclusive lines add tax.
        assert_eq!(inv.lines[0].total, 11900);
        assert_eq!(inv.lines[0].tax_amount + inv.lines[2].tax_amount, 2060);
        assert_eq!(inv.lines[0].net_amount, 11900 - inv.lines[0].tax_amount);
        assert_eq!(inv.lines[1].total, 1190);
        assert_eq!(inv.total, 11900 + 1190 + 1000);
        assert_eq!(inv.subtotal, 13900);
    }

    #[test]
    fn exempt_and_reverse_charge_have_no_tax_and_a_note() {
        for t in [TaxTreatment::Exempt, TaxTreatment::ReverseCharge] {
            let inv = compute_invoice(vec![line(LineKind::Subscription, 9000, false)], &[], &t, 0)
                .unwrap();
            check_invariants(&inv);
            assert_eq!(inv.total_tax, 0);
            assert_eq!(inv.total, 9000);
            assert!(inv.tax_breakdown.is_empty());
            assert_eq!(inv.tax_note.as_deref(), t.note());
            assert!(inv.tax_note.is_some());
        }
        let inv = compute_invoice(
            vec![line(LineKind::Subscription, 9000, false)],
            &[],
            &TaxTreatment::Taxable { rate: None },
            0,
        )
        .unwrap();
        assert_eq!((inv.total_tax, inv.tax_note.clone()), (0, None));
    }

    #[test]
    fn discounts_come_before_tax() {
        let d = Discount {
            value: DiscountValue::PercentOff(Decimal::from(10)),
            products: None,
        };
        let lines = vec![
            line(LineKind::Proration, -1548, false),
            line(LineKind::Proration, 4645, false),
        ];
        let inv = compute_invoice(lines, &[d], &taxable("19"), 0).unwrap();
        check_invariants(&inv);
        // Only the positive line is discounted: 464.5 → 465.
        assert_eq!(inv.lines[0].discount_amount, 0);
        assert_eq!(inv.lines[1].discount_amount, 465);
        assert_eq!(inv.total_discount, 465);
        // Tax on 3097 − 465 = 2632: 500.08 → 500.
        assert_eq!(inv.total_tax, 500);
        assert_eq!(inv.total, 2632 + 500);
    }

    #[test]
    fn amount_off_never_makes_an_invoice_negative() {
        let d = Discount {
            value: DiscountValue::AmountOff(1_000_000),
            products: None,
        };
        let inv = compute_invoice(
            vec![
                line(LineKind::OneOff, 500, false),
                line(LineKind::OneOff, 700, true),
            ],
            &[d],
            &taxable("19"),
            0,
        )
        .unwrap();
        check_invariants(&inv);
        assert_eq!(inv.total_discount, 1200);
        assert_eq!(inv.total, 0);
        assert_eq!(inv.amount_due, 0);
    }

    #[test]
    fn credit_balance_is_applied_up_to_the_total() {
        let inv = compute_invoice(
            vec![line(LineKind::Subscription, 1000, false)],
            &[],
            &taxable("19"),
            500,
        )
        .unwrap();
        assert_eq!(
            (inv.total, inv.credit_applied, inv.amount_due),
            (1190, 500, 690)
        );
        let inv = compute_invoice(
            vec![line(LineKind::Subscription, 1000, false)],
            &[],
            &taxable("19"),
            5000,
        )
        .unwrap();
        assert_eq!(
            (inv.credit_applied, inv.amount_due, inv.credit_to_balance),
            (1190, 0, 0)
        );
        assert!(compute_invoice(vec![], &[], &taxable("19"), -1).is_err());
    }

    #[test]
    fn negative_total_goes_to_the_credit_balance() {
        let lines = vec![
            line(LineKind::Proration, -9000, false),
            line(LineKind::Proration, 3000, false),
        ];
        let inv = compute_invoice(lines, &[], &taxable("19"), 100).unwrap();
        check_invariants(&inv);
        assert_eq!(inv.total_tax, -1140);
        assert_eq!(inv.total, -7140);
        assert_eq!(inv.credit_applied, 0);
        assert_eq!(inv.amount_due, 0);
        assert_eq!(inv.credit_to_balance, 7140);
    }

    #[test]
    fn empty_invoice_is_zero() {
        let inv = compute_invoice(vec![], &[], &taxable("19"), 10).unwrap();
        assert_eq!((inv.total, inv.amount_due, inv.credit_applied), (0, 0, 0));
        assert!(inv.tax_breakdown.is_empty());
    }

    #[test]
    fn credit_line_never_more_than_remaining() {
        assert_eq!(
            credit_line(1190, 190, 0, 0, 1190).unwrap(),
            LineCredit {
                amount: 1190,
                net: 1000,
                tax: 190
            }
        );
        assert!(matches!(
            credit_line(1190, 190, 1000, 160, 191),
            Err(BillingError::CreditExceedsInvoiced(_))
        ));
        assert!(credit_line(1190, 190, 0, 0, 1191).is_err());
        assert!(credit_line(1190, 190, 0, 0, 0).is_err());
        assert!(credit_line(1190, 190, 0, 0, -5).is_err());
        assert!(credit_line(0, 0, 0, 0, 1).is_err());
    }

    #[test]
    fn credit_line_partial_takes_proportional_tax() {
        // 595 of 1190 at 190 tax: 95.
        assert_eq!(
            credit_line(1190, 190, 0, 0, 595).unwrap(),
            LineCredit {
                amount: 595,
                net: 500,
                tax: 95
            }
        );
        // 100 of 1190: 15.966 → 16.
        assert_eq!(credit_line(1190, 190, 0, 0, 100).unwrap().tax, 16);
    }

    #[test]
    fn credit_line_full_remainder_takes_exactly_remaining_tax() {
        let a = credit_line(1190, 190, 0, 0, 100).unwrap();
        let b = credit_line(1190, 190, a.amount, a.tax, 1090).unwrap();
        assert_eq!(b.tax, 190 - a.tax);
        assert_eq!(a.tax + b.tax, 190);
        assert_eq!(a.amount + b.amount, 1190);
        // Many 1-unit credits each round their tax to 0; the tail still ends consistently.
        let (mut total, mut tax) = (0, 0);
        while total < 119 {
            let c = credit_line(119, 19, total, tax, 1).unwrap();
            assert!(c.net >= 0 && c.tax >= 0, "{c:?}");
            total += c.amount;
            tax += c.tax;
        }
        assert_eq!((total, tax), (119, 19));
    }
}
