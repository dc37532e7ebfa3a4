//! Statistics on classifier outputs that need no tensors: the paired (McNemar) comparison of two classifiers on
//! the same images. Used by evaluate and by the report's fine-tune-vs-frozen comparison.

/// Two classifiers on the same images: `b` images only the first gets right, `c` only the second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paired {
    /// Images both classifiers saw.
    pub images: usize,
    /// Right by the first only.
    pub first_only: usize,
    /// Right by the second only.
    pub second_only: usize,
    /// Right by both.
    pub both: usize,
    /// McNemar's exact test, two-sided: the probability of a split of the discordant images at least this uneven
    /// if either classifier were as likely to be the one right (binomial, p = ½). 1.0 when nothing is discordant.
    pub p_value: f64,
}

/// Compares two classifiers image by image: `(true class, prediction)` pairs of the same images in the same order.
/// `None` when the two lists differ in length or in any true class (not the same images).
pub fn paired_comparison(first: &[(u32, u32)], second: &[(u32, u32)]) -> Option<Paired> {
    if first.len() != second.len() || first.iter().zip(second).any(|(a, b)| a.0 != b.0) {
        return None;
    }
    let (mut b, mut c, mut both) = (0, 0, 0);
    for (x, y) in first.iter().zip(second) {
        match (x.0 == x.1, y.0 == y.1) {
            (true, true) => both += 1,
            (true, false) => b += 1,
            (false, true) => c += 1,
            (false, false) => {}
        }
    }
    Some(Paired {
        images: first.len(),
        first_only: b,
        second_only: c,
        both,
        p_value: mcnemar_exact(b as u64, c as u64),
    })
}

/// McNemar's exact two-sided p-value for `b` and `c` discordant pairs: 2 · P(X ≤ min(b, c)), X ~ Binomial(b + c, ½),
/// capped at 1 (summed in log space, so thousands of discordant images do not underflow).
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    let ln_half_n = n as f64 * std::f64::consts::LN_2;
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut tail = 0.0;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose - ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-made: 10 images only the first gets right, 2 only the second: p = 2 · (1 + 12 + 66) / 2¹² = 0.03857;
    /// one image either way is no evidence (p = 1); an even split is p = 1; 0 vs 5 is 2/32.
    #[test]
    fn mcnemar_exact_matches_hand_computed_binomial_tails() {
        assert!((mcnemar_exact(10, 2) - 158.0 / 4096.0).abs() < 1e-12);
        assert!((mcnemar_exact(2, 10) - 158.0 / 4096.0).abs() < 1e-12);
        let one = |p: f64| (p - 1.0).abs() < 1e-12;
        assert!(one(mcnemar_exact(1, 0)) && one(mcnemar_exact(0, 0)) && one(mcnemar_exact(7, 7)));
        assert!((mcnemar_exact(0, 5) - 2.0 / 32.0).abs() < 1e-12);
        // Thousands of discordant images: no underflow to 0 for an even split, tiny but finite for an uneven one.
        assert!(one(mcnemar_exact(1500, 1500)));
        let p = mcnemar_exact(1300, 1700);
        assert!(p > 0.0 && p < 1e-10, "{p}");
    }

    #[test]
    fn paired_comparison_counts_the_discordant_images() -> Result<(), &'static str> {
        // (true, predicted): image 0 both right, 1 first only, 2 second only, 3 both wrong, 4 first only.
        let first = [(0, 0), (1, 1), (2, 0), (3, 0), (4, 4)];
        let second = [(0, 0), (1, 2), (2, 2), (3, 1), (4, 0)];
        let p = paired_comparison(&first, &second).ok_or("same images, yet refused")?;
        assert_eq!(
            (p.images, p.first_only, p.second_only, p.both),
            (5, 2, 1, 1)
        );
        assert!((p.p_value - mcnemar_exact(2, 1)).abs() < 1e-15);
        // Not the same images: refused.
        assert!(paired_comparison(&first, &second[..4]).is_none());
        let mut other = second;
        other[3].0 = 9;
        assert!(paired_comparison(&first, &other).is_none());
        Ok(())
    }
}
