//! Confident learning (Northcutt, Jiang & Chuang 2021, "Confident Learning: Estimating Uncertainty in Dataset
//! Labels"): which training images' given labels are suspect, from out-of-fold predicted probabilities. The
//! method of cleanlab's `find_label_issues` with its defaults (`filter_by="prune_by_noise_rate"`,
//! `min_examples_per_class=1`, `frac_noise=1`), written from the paper and cleanlab's documentation:
//!
//! 1. **Thresholds**: `t_j` = mean predicted probability of class `j` over the images labelled `j`.
//! 2. **Confident joint** `C[i][j]`: images labelled `i` counted under the class `j` they confidently belong to
//!    (`p_j ≥ t_j − 1e-6`; with several such classes the most probable one; images confident of none are not
//!    counted); the diagonal is raised to at least 1.
//! 3. **Calibration**: each row rescaled to the number of images labelled `i`, the whole to `n`, rounded with row
//!    totals kept.
//! 4. **Prune by noise rate**: the transposed matrix's diagonal raised to at least 1 per given class (taken evenly
//!    from that column's non-zero off-diagonal cells), truncated to integers; then for each given class `i` and each other
//!    class `j`, the `C[i][j]` images labelled `i` with the largest margin `p_j − p_i` are flagged.
//! 5. An image whose most probable class is its given label is never flagged.
//!
//! Flagged images are ranked by self-confidence (`p_given`, lowest first), cleanlab's default ranking. No tensors.

/// The result of [`find_label_issues`].
#[derive(Debug, Clone, PartialEq)]
pub struct LabelIssues {
    /// Per image: whether its given label is suspect.
    pub flagged: Vec<bool>,
    /// The flagged images, most suspect first (self-confidence ascending, ties by index).
    pub ranked: Vec<usize>,
    /// The calibrated confident joint `[given][true]` (counts; rows sum to each class's image count).
    pub confident_joint: Vec<Vec<u64>>,
    /// Per class: the threshold `t_j`.
    pub thresholds: Vec<f64>,
}

/// Probability of class `c` of image `i` in row-major `probs`.
fn p(probs: &[f64], k: usize, i: usize, c: usize) -> f64 {
    probs[i * k + c]
}

/// The most probable class of image `i` (first maximum).
pub fn argmax_row(probs: &[f64], k: usize, i: usize) -> usize {
    let row = &probs[i * k..(i + 1) * k];
    let mut best = 0;
    for (c, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = c;
        }
    }
    best
}

/// Rounds each row of `m` to integers whose sum is the row's rounded sum (halves to even, as NumPy): round every
/// cell, then move the cells
/// with the largest rounding error up (or down) one by one until the totals agree.
pub fn round_preserving_row_totals(m: &[Vec<f64>]) -> Vec<Vec<u64>> {
    m.iter()
        .map(|row| {
            let target = row.iter().sum::<f64>().round_ties_even();
            let mut ints: Vec<f64> = row.iter().map(|v| v.round_ties_even()).collect();
            let mut diff = target - ints.iter().sum::<f64>();
            while diff.abs() > 0.5 {
                let up = diff > 0.0;
                let mut order: Vec<usize> = (0..row.len()).collect();
                // Largest (value − rounded) first when rounding up, smallest first when rounding down.
                order.sort_by(|&a, &b| {
                    let (da, db) = (row[a] - ints[a], row[b] - ints[b]);
                    if up {
                        db.total_cmp(&da)
                    } else {
                        da.total_cmp(&db)
                    }
                });
                let changes = (diff.abs() as usize).min(row.len());
                for &c in order.iter().take(changes) {
                    ints[c] += if up { 1.0 } else { -1.0 };
                }
                diff = target - ints.iter().sum::<f64>();
            }
            ints.into_iter().map(|v| v.max(0.0) as u64).collect()
        })
        .collect()
}

/// Steps 1–3: the thresholds and the calibrated confident joint `[given][true]`.
pub fn confident_joint(probs: &[f64], labels: &[u32], k: usize) -> (Vec<f64>, Vec<Vec<u64>>) {
    let n = labels.len();
    let mut counts = vec![0u64; k];
    let mut sums = vec![0f64; k];
    for (i, &y) in labels.iter().enumerate() {
        counts[y as usize] += 1;
        sums[y as usize] += p(probs, k, i, y as usize);
    }
    let thresholds: Vec<f64> = (0..k)
        .map(|j| {
            if counts[j] > 0 {
                sums[j] / counts[j] as f64
            } else {
                f64::INFINITY
            }
        })
        .collect();
    let mut joint = vec![vec![0f64; k]; k];
    for (i, &y) in labels.iter().enumerate() {
        let confident: Vec<usize> = (0..k)
            .filter(|&j| p(probs, k, i, j) >= thresholds[j] - 1e-6)
            .collect();
        let guess = match confident.len() {
            0 => continue,
            1 => confident[0],
            _ => argmax_row(probs, k, i),
        };
        joint[y as usize][guess] += 1.0;
    }
    for (c, row) in joint.iter_mut().enumerate() {
        row[c] = row[c].max(1.0);
    }
    // Calibrate: rows to the given-label counts, the whole to n.
    for (c, row) in joint.iter_mut().enumerate() {
        let total: f64 = row.iter().sum();
        for v in row.iter_mut() {
            *v = *v / total * counts[c] as f64;
        }
    }
    let total: f64 = joint.iter().flatten().sum();
    if total > 0.0 {
        for v in joint.iter_mut().flatten() {
            *v = *v / total * n as f64;
        }
    }
    (thresholds, round_preserving_row_totals(&joint))
}

/// Step 4's counts: how many images of each given class (column) to prune towards each true class (row):
/// `[true][given]`, the diagonal at least `min_per_class`.
fn prune_counts(joint: &[Vec<u64>], min_per_class: u64) -> Vec<Vec<u64>> {
    let k = joint.len();
    // Transposed: rows true, columns given.
    let t: Vec<Vec<f64>> = (0..k)
        .map(|r| (0..k).map(|c| joint[c][r] as f64).collect())
        .collect();
    let mut out = t.clone();
    for c in 0..k {
        let diag = t[c][c];
        let raised = diag.max(min_per_class as f64);
        let nonzero = (0..k).filter(|&r| t[r][c] != 0.0).count();
        let per = (raised - diag) / (nonzero.saturating_sub(1).max(1)) as f64;
        for r in 0..k {
            out[r][c] = if r == c {
                raised
            } else {
                (t[r][c] - per).max(0.0)
            };
        }
    }
    // cleanlab truncates these to integers (`astype(int)`) before its final rounding, which then changes nothing.
    out.iter()
        .map(|row| row.iter().map(|v| v.max(0.0).floor() as u64).collect())
        .collect()
}

/// Finds label issues in `probs` (`n × k` row-major out-of-fold probabilities) for the given `labels`.
pub fn find_label_issues(probs: &[f64], labels: &[u32], k: usize) -> LabelIssues {
    let n = labels.len();
    let (thresholds, joint) = confident_joint(probs, labels, k);
    let prune = prune_counts(&joint, 1);
    let mut flagged = vec![false; n];
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (i, &y) in labels.iter().enumerate() {
        by_class[y as usize].push(i);
    }
    for (given, members) in by_class.iter().enumerate() {
        if members.len() <= 1 {
            continue;
        }
        for (truth, row) in prune.iter().enumerate() {
            let count = row[given] as usize;
            if truth == given || count == 0 {
                continue;
            }
            let mut order = members.clone();
            let margin = |i: usize| p(probs, k, i, truth) - p(probs, k, i, given);
            // Largest margin first; ties by index (a stable sort of the class's images in order).
            order.sort_by(|&a, &b| margin(b).total_cmp(&margin(a)));
            for &i in order.iter().take(count) {
                flagged[i] = true;
            }
        }
    }
    for (i, f) in flagged.iter_mut().enumerate() {
        if argmax_row(probs, k, i) == labels[i] as usize {
            *f = false;
        }
    }
    let mut ranked: Vec<usize> = (0..n).filter(|&i| flagged[i]).collect();
    ranked.sort_by(|&a, &b| {
        p(probs, k, a, labels[a] as usize).total_cmp(&p(probs, k, b, labels[b] as usize))
    });
    LabelIssues {
        flagged,
        ranked,
        confident_joint: joint,
        thresholds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` images per class of `k` classes, confidently predicted as their class; then `errors` of them relabelled
    /// to the next class (the probabilities, from a model that saw the truth, stay).
    fn planted(k: usize, n: usize, errors: &[usize]) -> (Vec<f64>, Vec<u32>) {
        let mut probs = Vec::new();
        let mut labels = Vec::new();
        for c in 0..k {
            for j in 0..n {
                let mut row = vec![0.02; k];
                row[c] = 0.7 + 0.01 * (j % 7) as f64;
                row[(c + 1) % k] += 0.05;
                let s: f64 = row.iter().sum();
                probs.extend(row.iter().map(|v| v / s));
                labels.push(c as u32);
            }
        }
        for &e in errors {
            labels[e] = (labels[e] + 1) % k as u32;
        }
        (probs, labels)
    }

    #[test]
    fn planted_errors_are_found_and_ranked_first() {
        let errors = [3, 17, 25, 44, 58];
        let (probs, labels) = planted(4, 15, &errors);
        let found = find_label_issues(&probs, &labels, 4);
        let mut ranked = found.ranked.clone();
        ranked.sort_unstable();
        assert_eq!(ranked, errors.to_vec());
        assert_eq!(found.flagged.iter().filter(|&&f| f).count(), 5);
        // Rows of the calibrated joint sum to each given class's count.
        for (c, row) in found.confident_joint.iter().enumerate() {
            let count = labels.iter().filter(|&&y| y as usize == c).count() as u64;
            assert_eq!(row.iter().sum::<u64>(), count, "row {c}");
        }
    }

    #[test]
    fn clean_labels_flag_nothing_and_agreeing_predictions_are_never_flagged() {
        let (probs, labels) = planted(3, 10, &[]);
        assert!(find_label_issues(&probs, &labels, 3).ranked.is_empty());
        // An image whose argmax is its given label stays unflagged even when another class is confident too.
        let probs = vec![0.6, 0.4, 0.55, 0.45, 0.1, 0.9, 0.2, 0.8];
        let labels = vec![0, 0, 1, 1];
        let found = find_label_issues(&probs, &labels, 2);
        assert!(found.ranked.is_empty(), "{found:?}");
    }

    #[test]
    fn rounding_keeps_row_totals() {
        let m = vec![
            vec![0.4, 0.4, 0.2],
            vec![1.5, 1.5, 0.0],
            vec![2.6, 0.2, 0.2],
        ];
        let r = round_preserving_row_totals(&m);
        assert_eq!(
            r.iter()
                .map(|row| row.iter().sum::<u64>())
                .collect::<Vec<_>>(),
            vec![1, 3, 3]
        );
        assert_eq!(r[2], vec![3, 0, 0]);
    }
}
