//! Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"): one scalar `T` divides every
//! logit before the softmax, fitted on the valid split by minimising the mean negative log-likelihood of the true
//! class. Top-1 predictions of a single view do not change (dividing by `T > 0` keeps the order of the logits); the
//! probabilities become as confident as the network is accurate.
//!
//! With flip test-time augmentation each view's logits are scaled by the same `T` and the two softmax outputs
//! averaged, as evaluate averages them without scaling; the fit minimises the NLL of that average.
//!
//! The fit is a search over `ln T` in `[ln 0.02, ln 50]`: a grid of 81 points, then golden-section refinement
//! between the best grid point's neighbours (the NLL is convex in `1/T` for one view, hence unimodal in `ln T`; the
//! grid keeps the search safe for the average of two views). No tensors, no files.

/// The fitted temperature and the NLL it gives on the images it was fitted on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TemperatureFit {
    /// The temperature: logits are divided by it (`< 1` sharpens an under-confident model).
    pub temperature: f64,
    /// Mean NLL at `T = 1` on the fitting images.
    pub nll_before: f64,
    /// Mean NLL at the fitted `T` on the fitting images (never above `nll_before`: `T = 1` is a candidate).
    pub nll_after: f64,
    /// Images fitted on.
    pub images: usize,
}

/// The search range of `T`.
pub const T_RANGE: (f64, f64) = (0.02, 50.0);
const GRID: usize = 81;

/// Class probabilities of every image: each view's logits (`images × classes`, row-major) divided by `t`,
/// softmaxed, and the views averaged. `views` must be non-empty and of equal length.
pub fn probabilities(views: &[&[f64]], classes: usize, t: f64) -> Vec<f64> {
    let n = views.first().map_or(0, |v| v.len());
    let mut out = vec![0f64; n];
    let mut row = vec![0f64; classes];
    let weight = 1.0 / views.len().max(1) as f64;
    for view in views {
        for (logits, acc) in view
            .chunks_exact(classes)
            .zip(out.chunks_exact_mut(classes))
        {
            softmax_into(logits, t, &mut row);
            for (a, p) in acc.iter_mut().zip(&row) {
                *a += weight * p;
            }
        }
    }
    out
}

/// Softmax of `logits / t` into `out` (max-subtracted).
fn softmax_into(logits: &[f64], t: f64, out: &mut [f64]) {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for (o, &z) in out.iter_mut().zip(logits) {
        *o = ((z - max) / t).exp();
        sum += *o;
    }
    for o in out.iter_mut() {
        *o /= sum;
    }
}

/// Mean `−ln p(true class)` of the views' averaged probabilities at temperature `t` (probabilities floored at
/// 1e-300 so that a confident miss costs a large finite loss).
pub fn nll_at(views: &[&[f64]], targets: &[u32], classes: usize, t: f64) -> f64 {
    if targets.is_empty() || classes == 0 {
        return 0.0;
    }
    let probs = probabilities(views, classes, t);
    let total: f64 = probs
        .chunks_exact(classes)
        .zip(targets)
        .map(|(row, &y)| -row.get(y as usize).copied().unwrap_or(0.0).max(1e-300).ln())
        .sum();
    total / targets.len() as f64
}

/// Fits `T` on `targets` and the views' logits; `None` without images.
pub fn fit_temperature(
    views: &[&[f64]],
    targets: &[u32],
    classes: usize,
) -> Option<TemperatureFit> {
    if targets.is_empty() || views.is_empty() || classes == 0 {
        return None;
    }
    let f = |ln_t: f64| nll_at(views, targets, classes, ln_t.exp());
    let (lo, hi) = (T_RANGE.0.ln(), T_RANGE.1.ln());
    let step = (hi - lo) / (GRID - 1) as f64;
    let grid: Vec<f64> = (0..GRID).map(|i| f(lo + step * i as f64)).collect();
    let best = grid
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i);
    // Golden-section search on [best − 1, best + 1] grid steps.
    let (mut a, mut b) = (
        lo + step * best.saturating_sub(1) as f64,
        lo + step * (best + 1).min(GRID - 1) as f64,
    );
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - phi * (b - a), a + phi * (b - a));
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..60 {
        if fc < fd {
            (b, d, fd) = (d, c, fc);
            c = b - phi * (b - a);
            fc = f(c);
        } else {
            (a, c, fc) = (c, d, fd);
            d = a + phi * (b - a);
            fd = f(d);
        }
    }
    let nll_before = f(0.0);
    let (mut ln_t, mut nll_after) = if fc < fd { (c, fc) } else { (d, fd) };
    if grid[best] < nll_after {
        (ln_t, nll_after) = (lo + step * best as f64, grid[best]);
    }
    if nll_before <= nll_after {
        (ln_t, nll_after) = (0.0, nll_before);
    }
    Some(TemperatureFit {
        temperature: ln_t.exp(),
        nll_before,
        nll_after,
        images: targets.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::expected_calibration_error;
    use birds_core::rng::SplitMix64 as Rng;

    /// `n` images of `k` classes whose labels are drawn from `softmax(z / t_true)` for random logits `z`.
    fn drawn(n: usize, k: usize, t_true: f64, seed: u64) -> (Vec<f64>, Vec<u32>) {
        let mut rng = Rng::new(seed);
        let mut logits = Vec::with_capacity(n * k);
        let mut targets = Vec::with_capacity(n);
        let mut row = vec![0f64; k];
        for _ in 0..n {
            let z: Vec<f64> = (0..k).map(|_| 4.0 * f64::from(rng.normal())).collect();
            softmax_into(&z, t_true, &mut row);
            let u = f64::from(rng.unit());
            let mut acc = 0.0;
            let y = row
                .iter()
                .position(|p| {
                    acc += p;
                    u < acc
                })
                .unwrap_or(k - 1);
            targets.push(y as u32);
            logits.extend(z);
        }
        (logits, targets)
    }

    #[test]
    fn the_fit_recovers_a_known_temperature() {
        for t_true in [0.5, 1.0, 2.5] {
            let (logits, targets) = drawn(6000, 8, t_true, 7);
            let fit = fit_temperature(&[&logits], &targets, 8);
            let t = fit.map_or(f64::NAN, |f| f.temperature);
            assert!((t / t_true - 1.0).abs() < 0.06, "true {t_true}, fitted {t}");
            assert!(fit.is_some_and(|f| f.nll_after <= f.nll_before && f.images == 6000));
        }
    }

    #[test]
    fn scaling_a_mis_scaled_model_lowers_its_ece_and_nll_and_keeps_its_predictions() {
        // Labels follow softmax(z / 0.4): logits read at T = 1 are under-confident, as a label-smoothed network.
        let (logits, targets) = drawn(4000, 10, 0.4, 11);
        let (fit_l, eval_l) = logits.split_at(2000 * 10);
        let (fit_t, eval_t) = targets.split_at(2000);
        let Some(fit) = fit_temperature(&[fit_l], fit_t, 10) else {
            panic!("no fit")
        };
        let ece = |t: f64| {
            let p = probabilities(&[eval_l], 10, t);
            let (conf, ok): (Vec<f64>, Vec<bool>) = p
                .chunks_exact(10)
                .zip(eval_t)
                .map(|(r, &y)| {
                    let top = crate::metrics::argmax(r);
                    (r[top as usize], top == y)
                })
                .unzip();
            expected_calibration_error(&conf, &ok, 15)
        };
        let (before, after) = (ece(1.0), ece(fit.temperature));
        assert!(before > 0.1 && after < 0.04, "ECE {before} → {after}");
        assert!(
            nll_at(&[eval_l], eval_t, 10, fit.temperature) < nll_at(&[eval_l], eval_t, 10, 1.0)
        );
        let top = |t: f64| -> Vec<u32> {
            probabilities(&[eval_l], 10, t)
                .chunks_exact(10)
                .map(crate::metrics::argmax)
                .collect()
        };
        assert_eq!(top(1.0), top(fit.temperature));
    }

    #[test]
    fn two_views_are_scaled_then_averaged_and_nothing_fits_without_images() {
        let a = [2.0, 0.0, 4.0, 0.0];
        let b = [0.0, 2.0, 0.0, 0.0];
        let p = probabilities(&[&a, &b], 2, 2.0);
        let s = |x: f64| 1.0 / (1.0 + (-x).exp());
        let want = [
            0.5 * (s(1.0) + s(-1.0)),
            0.5 * (s(-1.0) + s(1.0)),
            0.5 * (s(2.0) + 0.5),
            0.5 * (s(-2.0) + 0.5),
        ];
        for (got, want) in p.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{p:?}");
        }
        assert!(fit_temperature(&[&[]], &[], 2).is_none());
        // A perfectly separated set drives T to the bottom of the range, never outside it.
        let fit = fit_temperature(&[&[5.0, 0.0, 0.0, 5.0]], &[0, 1], 2);
        let t = fit.map_or(f64::NAN, |f| f.temperature);
        assert!((T_RANGE.0..0.03).contains(&t), "{t}");
    }
}
