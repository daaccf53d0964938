//! Property tests for the invariants of the billing rules (ENGINEERING.md "Tests"):
//! allocations add up, invoices total their lines, credits never exceed what was invoiced,
//! postings balance, and a proration credit never exceeds what was charged.

use billing::discount::{apply_discounts, Discount, DiscountValue, DiscountableLine};
use billing::ids::{ProductId, TaxRateId};
use billing::invoice::{compute_invoice, credit_line, LineInput, LineKind};
use billing::ledger::{self, balance, Posting};
use billing::period::{parse_tz, Period};
use billing::proration::prorate_change;
use billing::split::split_by_largest_remainder;
use billing::tax::{TaxRate, TaxTreatment};
use chrono::{Days, NaiveDate};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Money amounts up to ±10^13 minor units (100 billion dollars): far beyond any invoice.
const MAX: i64 = 10_000_000_000_000;

fn product(i: u8) -> ProductId {
    ProductId::from_suffix(&format!("p{i}")).expect("valid id")
}

fn discount_strategy() -> impl Strategy<Value = Discount> {
    let value = prop_oneof![
        (1u32..=10_000).prop_map(|bp| DiscountValue::PercentOff(Decimal::new(i64::from(bp), 2))),
        (1i64..=1_000_000).prop_map(DiscountValue::AmountOff),
    ];
    let scope = prop_oneof![
        Just(None),
        proptest::collection::vec(0u8..3, 1..3)
            .prop_map(|v| Some(v.into_iter().map(product).collect()))
    ];
    (value, scope).prop_map(|(value, products)| Discount { value, products })
}

fn line_strategy() -> impl Strategy<Value = LineInput> {
    (
        -1_000_000i64..=1_000_000,
        any::<bool>(),
        proptest::option::of(0u8..3),
    )
        .prop_map(|(amount, tax_inclusive, p)| LineInput {
            kind: if amount < 0 {
                LineKind::Proration
            } else {
                LineKind::Subscription
            },
            description: "line".into(),
            product: p.map(product),
            price: None,
            quantity: Decimal::ONE,
            amount,
            period: None,
            tax_inclusive,
        })
}

fn treatment_strategy() -> impl Strategy<Value = TaxTreatment> {
    prop_oneof![
        (0u32..=3000).prop_map(|bp| TaxTreatment::Taxable {
            rate: Some(TaxRate {
                id: TaxRateId::from_suffix("x").expect("valid id"),
                display_name: "VAT".into(),
                percentage: Decimal::new(i64::from(bp), 2),
                country: "DE".into(),
                region: None,
            }),
        }),
        Just(TaxTreatment::Taxable { rate: None }),
        Just(TaxTreatment::Exempt),
        Just(TaxTreatment::ReverseCharge),
    ]
}

fn assert_balanced(p: &Posting) -> Result<(), TestCaseError> {
    prop_assert_eq!(balance(p.entries()), 0);
    prop_assert!(p.entries().iter().all(|e| e.amount != 0));
    prop_assert_eq!(balance(p.reversed().entries()), 0);
    Ok(())
}

proptest! {
    #[test]
    fn splits_sum_exactly_and_each_part_is_within_one_of_its_share(
        amount in -MAX..=MAX,
        weights in proptest::collection::vec(0i64..=1_000_000, 1..12),
    ) {
        let parts = split_by_largest_remainder(amount, &weights);
        prop_assert_eq!(parts.len(), weights.len());
        prop_assert_eq!(parts.iter().sum::<i64>(), amount);
        let total: i128 = weights.iter().map(|&w| i128::from(w)).sum();
        if total > 0 {
            for (&p, &w) in parts.iter().zip(&weights) {
                // |p − amount·w/total| < 1  ⇔  |p·total − amount·w| < total
                let diff = i128::from(p) * total - i128::from(amount) * i128::from(w);
                prop_assert!(diff.abs() < total, "part {} weight {} of {}", p, w, amount);
                prop_assert!(p == 0 || p.signum() == amount.signum());
            }
        }
    }

    #[test]
    fn invoice_totals_equal_lines_and_amount_due_is_never_negative(
        lines in proptest::collection::vec(line_strategy(), 0..8),
        discounts in proptest::collection::vec(discount_strategy(), 0..3),
        treatment in treatment_strategy(),
        credit_balance in 0i64..=2_000_000,
    ) {
        let inv = compute_invoice(lines.clone(), &discounts, &treatment, credit_balance).expect("valid input");
        prop_assert_eq!(inv.total, inv.lines.iter().map(|l| l.total).sum::<i64>());
        let exclusive_tax: i64 = inv.lines.iter().filter(|l| !l.input.tax_inclusive).map(|l| l.tax_amount).sum();
        prop_assert_eq!(inv.total, inv.subtotal - inv.total_discount + exclusive_tax);
        prop_assert_eq!(inv.total_net + inv.total_tax, inv.total);
        prop_assert_eq!(inv.total_tax, inv.tax_breakdown.iter().map(|b| b.tax_amount).sum::<i64>());
        prop_assert_eq!(inv.subtotal, lines.iter().map(|l| l.amount).sum::<i64>());
        prop_assert!(inv.amount_due >= 0);
        prop_assert!(inv.credit_applied >= 0 && inv.credit_applied <= inv.total.max(0) && inv.credit_applied <= credit_balance);
        prop_assert_eq!(inv.amount_due, (inv.total - inv.credit_applied).max(0));
        prop_assert_eq!(inv.credit_to_balance, (-inv.total).max(0));
        for l in &inv.lines {
            prop_assert!(l.discount_amount >= 0 && l.discount_amount <= l.input.amount.max(0));
        }
        if !matches!(treatment, TaxTreatment::Taxable { rate: Some(_) }) {
            prop_assert_eq!(inv.total_tax, 0);
        }
    }

    #[test]
    fn discounts_never_exceed_positive_amounts(
        amounts in proptest::collection::vec((-1_000_000i64..=1_000_000, proptest::option::of(0u8..3)), 0..10),
        discounts in proptest::collection::vec(discount_strategy(), 0..4),
    ) {
        let lines: Vec<DiscountableLine> = amounts.iter().map(|&(amount, p)| DiscountableLine { amount, product: p.map(product) }).collect();
        let taken = apply_discounts(&lines, &discounts).expect("valid discounts");
        prop_assert_eq!(taken.len(), lines.len());
        for (t, l) in taken.iter().zip(&lines) {
            prop_assert!(*t >= 0 && *t <= l.amount.max(0), "{} off {}", t, l.amount);
        }
        // Discounts never make the invoice negative.
        let total: i64 = lines.iter().map(|l| l.amount).sum();
        prop_assert!(taken.iter().sum::<i64>() <= total.max(0));
        // A single amount-off takes exactly min(off, eligible subtotal, invoice total).
        if let [d @ Discount { value: DiscountValue::AmountOff(off), products: None }] = discounts.as_slice() {
            let eligible: i64 = lines.iter().map(|l| l.amount.max(0)).sum();
            let taken = apply_discounts(&lines, std::slice::from_ref(d)).expect("valid");
            prop_assert_eq!(taken.iter().sum::<i64>(), (*off).min(eligible).min(total.max(0)));
        }
    }

    #[test]
    fn credit_lines_never_exceed_line_total_or_tax(
        line_total in 1i64..=1_000_000,
        tax_permille in 0i64..=500,
        requests in proptest::collection::vec(1i64..=1_000_000, 1..20),
    ) {
        let line_tax = line_total * tax_permille / 1000;
        let (mut total, mut tax) = (0i64, 0i64);
        for r in requests {
            match credit_line(line_total, line_tax, total, tax, r) {
                Ok(c) => {
                    prop_assert_eq!(c.amount, r);
                    prop_assert_eq!(c.net + c.tax, c.amount);
                    prop_assert!(c.tax >= 0 && c.net >= 0, "{:?}", c);
                    total += c.amount;
                    tax += c.tax;
                }
                Err(_) => prop_assert!(r > line_total - total),
            }
            prop_assert!(total <= line_total);
            prop_assert!(tax <= line_tax);
            prop_assert!(line_tax - tax <= line_total - total);
        }
        // Crediting whatever is left takes exactly the tax left.
        if total < line_total {
            let c = credit_line(line_total, line_tax, total, tax, line_total - total).expect("remainder");
            prop_assert_eq!(tax + c.tax, line_tax);
        }
    }

    #[test]
    fn every_posting_constructor_balances(
        net in -MAX..=MAX,
        tax in -MAX..=MAX,
        a in 0i64..=MAX,
        b in 0i64..=MAX,
    ) {
        let credit_applied = a.min((net + tax).max(0));
        assert_balanced(&ledger::invoice_finalized(net, tax, credit_applied))?;
        assert_balanced(&ledger::credit_note(net, tax, b))?;
        assert_balanced(&ledger::write_off(a))?;
        assert_balanced(&ledger::goodwill_credit(a))?;
        assert_balanced(&ledger::payment(a, a.min(b)))?;
        assert_balanced(&ledger::refund_from_credit(b))?;
        // A negative total nets the receivable to zero; a positive one leaves T − C owed.
        let p = ledger::invoice_finalized(net, tax, credit_applied);
        prop_assert_eq!(p.net_of(ledger::AccountKind::Receivable), (net + tax).max(0) - credit_applied);
    }

    #[test]
    fn proration_credit_never_exceeds_what_was_charged(
        start_offset in 0u64..3000,
        len in 1u64..400,
        change_offset in 0u64..420,
        old in 0i64..=MAX,
        new in 0i64..=MAX,
    ) {
        let tz = parse_tz("Europe/Berlin").expect("zone");
        let base = NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
        let start = base + Days::new(start_offset);
        let period = Period::from_dates(start, start + Days::new(len), tz).expect("period");
        let change = start + Days::new(change_offset);
        let p = prorate_change(&period, change, old, new).expect("valid");
        prop_assert!(p.credit <= 0 && -p.credit <= old);
        prop_assert!(p.charge >= 0 && p.charge <= new);
        prop_assert!(p.remaining_days >= 0 && p.remaining_days <= p.total_days);
        prop_assert_eq!(p.total_days, i64::try_from(len).expect("small"));
        if old == new {
            prop_assert_eq!(p.net(), 0);
        }
    }
}
