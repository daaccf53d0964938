//! Splitting an integer amount across parts in proportion to weights, by largest remainder,
//! so the parts always add up exactly to the amount.
//!
//! Each part first gets the floor of its exact share (by magnitude); the units left over go
//! one each to the parts with the largest fractional remainders, ties to the earlier part.
//! The sign of the amount is kept: splitting −10 gives parts ≤ 0.

/// Splits `amount` in proportion to `weights` (weights ≥ 0; negative weights are treated by
/// magnitude). If all weights are zero, the whole amount goes to the first part, and an empty
/// slice returns an empty vector (only valid with amount 0).
pub fn split_by_largest_remainder(amount: i64, weights: &[i64]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let total: i128 = weights.iter().map(|w| i128::from(w.unsigned_abs())).sum();
    if total == 0 {
        let mut parts = vec![0; weights.len()];
        parts[0] = amount;
        return parts;
    }
    let magnitude = i128::from(amount.unsigned_abs());
    // |amount| < 2^64 and |w| < 2^64, so each product fits in i128.
    let numerators: Vec<i128> = weights
        .iter()
        .map(|w| magnitude * i128::from(w.unsigned_abs()))
        .collect();
    let parts = allocate_exact_shares(magnitude, &numerators, total);
    let sign: i128 = if amount < 0 { -1 } else { 1 };
    parts
        .into_iter()
        // Each part is at most |amount| in magnitude and carries amount's sign, so it fits.
        .map(|p| i64::try_from(sign * p).expect("a part never exceeds the amount"))
        .collect()
}

/// Allocates the integer `target` to parts whose exact shares are `numerators[i] /
/// denominator` (denominator > 0; shares may have mixed signs): each part gets the floor of
/// its share, then the units left over go one each to the largest fractional remainders, ties
/// to the earlier part. Used where the target is the rounded sum of the shares (tax split
/// to lines), so every part is within 1 of its exact share and the parts add up exactly.
///
/// If the target is further from the sum of floors than the number of parts (only when the
/// target is not the rounded sum), the difference is spread round-robin so the parts still
/// add up exactly.
pub fn allocate_exact_shares(target: i128, numerators: &[i128], denominator: i128) -> Vec<i128> {
    if numerators.is_empty() {
        return Vec::new();
    }
    let denominator = denominator.max(1);
    let mut parts: Vec<i128> = numerators
        .iter()
        .map(|n| n.div_euclid(denominator))
        .collect();
    let remainders: Vec<i128> = numerators
        .iter()
        .map(|n| n.rem_euclid(denominator))
        .collect();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    // Stable sort: equal remainders keep index order, so ties go to the earlier part.
    order.sort_by(|&a, &b| remainders[b].cmp(&remainders[a]));
    let mut left = target - parts.iter().sum::<i128>();
    let n = parts.len() as i128;
    if left > n || left < 0 {
        // Not a rounded sum of the shares: spread evenly first.
        let each = left.div_euclid(n);
        for p in parts.iter_mut() {
            *p += each;
        }
        left -= each * n;
    }
    for &i in order.iter().take(usize::try_from(left).unwrap_or(0)) {
        parts[i] += 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_remainder_100_over_three_equal_parts() {
        assert_eq!(
            split_by_largest_remainder(100, &[1, 1, 1]),
            vec![34, 33, 33]
        );
    }

    #[test]
    fn largest_remainder_goes_to_largest_fraction() {
        // Shares 16.6, 33.3, 50.0 of 100 over [1,2,3]: floors 16,33,50; one left → first (0.67).
        assert_eq!(
            split_by_largest_remainder(100, &[1, 2, 3]),
            vec![17, 33, 50]
        );
        // Shares 3.5, 6.5: tie on 0.5 → earlier part.
        assert_eq!(split_by_largest_remainder(10, &[35, 65]), vec![4, 6]);
        assert_eq!(split_by_largest_remainder(7, &[1, 1]), vec![4, 3]);
    }

    #[test]
    fn largest_remainder_negative_amounts_keep_the_sign() {
        assert_eq!(
            split_by_largest_remainder(-100, &[1, 1, 1]),
            vec![-34, -33, -33]
        );
        assert_eq!(split_by_largest_remainder(-10, &[3, 7]), vec![-3, -7]);
        assert_eq!(split_by_largest_remainder(-7, &[1, 1]), vec![-4, -3]);
    }

    #[test]
    fn largest_remainder_negative_weights_count_by_magnitude() {
        assert_eq!(
            split_by_largest_remainder(100, &[-1, 1, 1]),
            vec![34, 33, 33]
        );
    }

    #[test]
    fn largest_remainder_zero_weights_and_empty() {
        assert_eq!(split_by_largest_remainder(5, &[0, 0]), vec![5, 0]);
        assert_eq!(split_by_largest_remainder(5, &[0, 3]), vec![0, 5]);
        assert_eq!(split_by_largest_remainder(0, &[]), Vec::<i64>::new());
        assert_eq!(split_by_largest_remainder(0, &[1, 2]), vec![0, 0]);
    }

    #[test]
    fn largest_remainder_extreme_values_do_not_overflow() {
        let parts = split_by_largest_remainder(i64::MIN, &[i64::MAX, i64::MAX]);
        assert_eq!(
            parts.iter().map(|&p| i128::from(p)).sum::<i128>(),
            i128::from(i64::MIN)
        );
        let parts = split_by_largest_remainder(i64::MAX, &[1, i64::MAX, 3]);
        assert_eq!(
            parts.iter().map(|&p| i128::from(p)).sum::<i128>(),
            i128::from(i64::MAX)
        );
    }

    #[test]
    fn exact_shares_with_mixed_signs() {
        // Tax 588 at 19% over lines −1548 and 4645 (shares −294.12 and 882.55).
        let parts = allocate_exact_shares(588, &[-1548 * 19, 4645 * 19], 100);
        assert_eq!(parts, vec![-294, 882]);
        // A target that is not the rounded sum still sums exactly.
        let parts = allocate_exact_shares(10, &[1, 1], 2);
        assert_eq!(parts.iter().sum::<i128>(), 10);
        let parts = allocate_exact_shares(-10, &[1, 1], 2);
        assert_eq!(parts.iter().sum::<i128>(), -10);
    }
}
