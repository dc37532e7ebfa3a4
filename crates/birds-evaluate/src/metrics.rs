//! Classification metrics over `(true class, probability vector)` pairs: plain arithmetic, no tensors, no files.
//!
//! Definitions (each follows a named reference so the figures can be checked against it):
//!
//! | figure | definition | reference |
//! |---|---|---|
//! | predicted class | the highest probability; ties go to the **lowest class id** | `numpy.argmax`, `torch.argmax` |
//! | top-k hit | the true class is among the first `k` classes ranked by probability (descending), ties ranked by class id (ascending) | see below |
//! | precision, recall, F1 | per class, `zero_division = 0`: a 0/0 ratio is 0 | sklearn `precision_recall_fscore_support(zero_division=0)` |
//! | macro average | unweighted mean over the classes present in the true **or** predicted labels | sklearn `average="macro"`, `labels=None` |
//! | weighted average | mean weighted by support (true count) | sklearn `average="weighted"` |
//! | NLL | mean of `−ln p(true class)`, `p` floored at [`MIN_PROB`] | `torch.nn.functional.nll_loss(log(p))` |
//! | ECE | top-label, [`ECE_BINS`] equal-width bins `[i/15, (i+1)/15)`, a confidence of exactly 1 in a bin of its own, `Σ (n_b/N)·│acc_b − conf_b│` | torchmetrics `multiclass_calibration_error(n_bins=15, norm="l1")` |
//! | mean confidence | mean top-1 probability | |
//! | calibration gap | mean confidence − accuracy (positive = over-confident) | |
//! | most confused | off-diagonal confusion cells with count ≥ `min_val`, count descending, ties in row-major order | fastai `ClassificationInterpretation.most_confused` |
//! | recall lower bound | Wilson score interval, lower end, `z` = [`WILSON_Z`] | Wilson (1927) |
//!
//! **Top-k tie rule.** Classes are ranked by probability, highest first; classes with equal probability are ranked
//! by class id, lowest first, and the first `k` form the top-k. This is the rule that makes top-1 agree with the
//! predicted class (`argmax` returns the first maximum). It is deterministic but not "optimistic": with
//! probabilities `[0.4, 0.2, 0.2, 0.2]` the top-2 is `{0, 1}`, so a true class 3 is a miss. (sklearn's
//! `top_k_accuracy_score` breaks ties the other way, towards higher ids; `torch.topk` leaves it unspecified.)
//!
//! **Per-class confidence.** A class's mean confidence is the mean top-1 probability over the images whose *true*
//! class it is, and its calibration gap is that minus its recall (the accuracy on those images), so the per-class
//! gaps decompose the overall one.

use std::cmp::Ordering;

/// `k` of the top-k figures (`top5_accuracy`, `top5_recall`).
pub const TOP_K: usize = 5;
/// Bins of the expected calibration error.
pub const ECE_BINS: usize = 15;
/// `z` of the Wilson bound: 1.96, a two-sided 95 % interval.
pub const WILSON_Z: f64 = 1.96;
/// Probabilities are floored at this before taking logarithms (an image the model gives probability 0 would
/// otherwise have an infinite loss).
pub const MIN_PROB: f64 = 1e-12;

/// Why a set of scores cannot be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// No class to score.
    #[error("no classes: a classifier needs at least one")]
    NoClasses,
    /// The probability matrix does not have `targets × classes` entries.
    #[error("{probs} probabilities for {images} images of {classes} classes (expected {expected})")]
    Shape {
        /// Entries given.
        probs: usize,
        /// Images (targets) given.
        images: usize,
        /// Classes.
        classes: usize,
        /// `images × classes`.
        expected: usize,
    },
    /// A true class id is outside the class list.
    #[error("image {image}: true class {class} but only {classes} classes")]
    TargetOutOfRange {
        /// Row.
        image: usize,
        /// The class id.
        class: u32,
        /// Number of classes.
        classes: usize,
    },
    /// A probability is NaN or infinite.
    #[error("image {image}: probability of class {class} is {value}")]
    NotFinite {
        /// Row.
        image: usize,
        /// Column.
        class: usize,
        /// The value.
        value: f64,
    },
}

/// Per-image scores: the true class and one probability per class (row-major `images × classes`).
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    num_classes: usize,
    targets: Vec<u32>,
    probs: Vec<f64>,
}

impl Scores {
    /// Checks shapes, class ids and finiteness.
    pub fn new(
        num_classes: usize,
        targets: Vec<u32>,
        probs: Vec<f64>,
    ) -> Result<Self, MetricsError> {
        if num_classes == 0 {
            return Err(MetricsError::NoClasses);
        }
        let expected = targets.len() * num_classes;
        if probs.len() != expected {
            return Err(MetricsError::Shape {
                probs: probs.len(),
                images: targets.len(),
                classes: num_classes,
                expected,
            });
        }
        if let Some((image, &class)) = targets
            .iter()
            .enumerate()
            .find(|(_, t)| **t as usize >= num_classes)
        {
            return Err(MetricsError::TargetOutOfRange {
                image,
                class,
                classes: num_classes,
            });
        }
        if let Some((i, &value)) = probs.iter().enumerate().find(|(_, p)| !p.is_finite()) {
            return Err(MetricsError::NotFinite {
                image: i / num_classes,
                class: i % num_classes,
                value,
            });
        }
        Ok(Self {
            num_classes,
            targets,
            probs,
        })
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there is no image.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// True class of every image.
    pub fn targets(&self) -> &[u32] {
        &self.targets
    }

    /// True class of image `i`.
    pub fn target(&self, i: usize) -> u32 {
        self.targets[i]
    }

    /// Probabilities of image `i`, one per class.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.probs[i * self.num_classes..(i + 1) * self.num_classes]
    }

    /// The first `k` classes of image `i` under the tie rule (probability descending, class id ascending).
    pub fn top_k(&self, i: usize, k: usize) -> Vec<u32> {
        top_k(self.row(i), k)
    }

    /// Predicted class of image `i` (the first maximum).
    pub fn predicted(&self, i: usize) -> u32 {
        argmax(self.row(i))
    }

    /// Probability of the predicted class of image `i`.
    pub fn confidence(&self, i: usize) -> f64 {
        self.row(i)[self.predicted(i) as usize]
    }

    /// Probability the model gives the true class of image `i`.
    pub fn prob_true(&self, i: usize) -> f64 {
        self.row(i)[self.targets[i] as usize]
    }

    /// `−ln p(true class)` of image `i`, `p` floored at [`MIN_PROB`].
    pub fn loss(&self, i: usize) -> f64 {
        -self.prob_true(i).max(MIN_PROB).ln()
    }

    /// Whether the predicted class of image `i` is its true class.
    pub fn correct(&self, i: usize) -> bool {
        self.predicted(i) == self.targets[i]
    }

    /// Whether the true class of image `i` is in its top `k` (tie rule in the module docs).
    pub fn in_top_k(&self, i: usize, k: usize) -> bool {
        rank_of(self.row(i), self.targets[i] as usize) < k
    }

    /// Predicted class of every image.
    pub fn predictions(&self) -> Vec<u32> {
        (0..self.len()).map(|i| self.predicted(i)).collect()
    }

    /// The images `rows` (in that order) as their own scores.
    pub fn select(&self, rows: &[usize]) -> Scores {
        let mut probs = Vec::with_capacity(rows.len() * self.num_classes);
        for &i in rows {
            probs.extend_from_slice(self.row(i));
        }
        Scores {
            num_classes: self.num_classes,
            targets: rows.iter().map(|&i| self.targets[i]).collect(),
            probs,
        }
    }
}

/// The first maximum of `row` (0 for an empty row).
pub fn argmax(row: &[f64]) -> u32 {
    let mut best = 0usize;
    for (j, &p) in row.iter().enumerate() {
        if p > row[best] {
            best = j;
        }
    }
    best as u32
}

/// Position of class `c` in the ranking of `row`: the number of classes ranked before it (higher probability, or
/// equal probability and a lower id).
pub fn rank_of(row: &[f64], c: usize) -> usize {
    let pc = row[c];
    row.iter()
        .enumerate()
        .filter(|&(j, &p)| p > pc || (p == pc && j < c))
        .count()
}

/// The first `k` classes of `row` ranked by probability descending, ties by class id ascending.
pub fn top_k(row: &[f64], k: usize) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..row.len() as u32).collect();
    ids.sort_by(|&a, &b| {
        row[b as usize]
            .partial_cmp(&row[a as usize])
            .unwrap_or(Ordering::Equal)
            .then(a.cmp(&b))
    });
    ids.truncate(k);
    ids
}

/// Fraction of `targets[i] == predicted[i]` (0 for no images).
pub fn accuracy(targets: &[u32], predicted: &[u32]) -> f64 {
    ratio(
        targets
            .iter()
            .zip(predicted)
            .filter(|(t, p)| t == p)
            .count() as u64,
        targets.len() as u64,
    )
}

/// Fraction of images whose true class is in their top `k` (0 for no images).
pub fn top_k_accuracy(scores: &Scores, k: usize) -> f64 {
    ratio(
        (0..scores.len()).filter(|&i| scores.in_top_k(i, k)).count() as u64,
        scores.len() as u64,
    )
}

/// Mean `−ln p(true class)` (0 for no images).
pub fn nll(scores: &Scores) -> f64 {
    mean((0..scores.len()).map(|i| scores.loss(i)), scores.len())
}

/// Expected calibration error with `bins` equal-width bins (torchmetrics' binning, see the module docs).
/// `confidences` and `correct` pair up; 0 for no images.
pub fn expected_calibration_error(confidences: &[f64], correct: &[bool], bins: usize) -> f64 {
    let n = confidences.len().min(correct.len());
    if n == 0 || bins == 0 {
        return 0.0;
    }
    // Boundaries i/bins for i = 0..=bins; a confidence goes to the last boundary ≤ it (torch.bucketize(right=True)
    // − 1), so exactly 1.0 lands in an extra bin of its own, as in torchmetrics.
    let mut count = vec![0u64; bins + 1];
    let mut conf = vec![0f64; bins + 1];
    let mut acc = vec![0f64; bins + 1];
    for (&c, &ok) in confidences.iter().zip(correct).take(n) {
        let b = (0..=bins)
            .filter(|&i| (i as f64) / (bins as f64) <= c)
            .count()
            .saturating_sub(1);
        count[b] += 1;
        conf[b] += c;
        acc[b] += f64::from(u8::from(ok));
    }
    (0..=bins)
        .filter(|&b| count[b] > 0)
        .map(|b| {
            let nb = count[b] as f64;
            (nb / n as f64) * (acc[b] / nb - conf[b] / nb).abs()
        })
        .sum()
}

/// The Wilson score interval `(lower, upper)` of a proportion `successes / trials`; `None` without trials.
pub fn wilson_interval(successes: u64, trials: u64, z: f64) -> Option<(f64, f64)> {
    if trials == 0 {
        return None;
    }
    let n = trials as f64;
    let p = successes.min(trials) as f64 / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let margin = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let d = 1.0 + z2 / n;
    Some((
        ((centre - margin) / d).max(0.0),
        ((centre + margin) / d).min(1.0),
    ))
}

/// Lower end of the Wilson score interval of a proportion `successes / trials`; `None` without trials.
pub fn wilson_lower_bound(successes: u64, trials: u64, z: f64) -> Option<f64> {
    wilson_interval(successes, trials, z).map(|(lo, _)| lo)
}

pub use birds_artifacts::evaluate::{Averages, Summary};
pub use birds_core::stats::{Paired, mcnemar_exact, paired_comparison};

/// `num / den`, or 0 when `den` is 0 (sklearn's `zero_division=0`).
pub fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

fn mean(values: impl Iterator<Item = f64>, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        values.sum::<f64>() / n as f64
    }
}

/// One cell of a confusion matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// True class id.
    pub true_id: u32,
    /// Predicted class id.
    pub pred_id: u32,
    /// Images with that true and predicted class.
    pub count: u64,
}

/// A square confusion matrix: rows are true classes, columns predicted classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    num_classes: usize,
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// Counts `(targets[i], predicted[i])` pairs; pairs with an id ≥ `num_classes` are an error.
    pub fn from_labels(
        num_classes: usize,
        targets: &[u32],
        predicted: &[u32],
    ) -> Result<Self, MetricsError> {
        if num_classes == 0 {
            return Err(MetricsError::NoClasses);
        }
        let mut counts = vec![0u64; num_classes * num_classes];
        for (image, (&t, &p)) in targets.iter().zip(predicted).enumerate() {
            for class in [t, p] {
                if class as usize >= num_classes {
                    return Err(MetricsError::TargetOutOfRange {
                        image,
                        class,
                        classes: num_classes,
                    });
                }
            }
            counts[t as usize * num_classes + p as usize] += 1;
        }
        Ok(Self {
            num_classes,
            counts,
        })
    }

    /// The matrix of the predicted classes of `scores`.
    pub fn from_scores(scores: &Scores) -> Self {
        let k = scores.num_classes();
        let mut counts = vec![0u64; k * k];
        for i in 0..scores.len() {
            counts[scores.target(i) as usize * k + scores.predicted(i) as usize] += 1;
        }
        Self {
            num_classes: k,
            counts,
        }
    }

    /// Number of classes (rows and columns).
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Images of true class `t` predicted as `p`.
    pub fn count(&self, t: u32, p: u32) -> u64 {
        self.counts[t as usize * self.num_classes + p as usize]
    }

    /// Row `t`: predictions of the images of true class `t`.
    pub fn row(&self, t: u32) -> &[u64] {
        let k = self.num_classes;
        &self.counts[t as usize * k..(t as usize + 1) * k]
    }

    /// Images of true class `t` (the row sum: the class's support).
    pub fn support(&self, t: u32) -> u64 {
        self.row(t).iter().sum()
    }

    /// Images predicted as `p` (the column sum).
    pub fn predicted(&self, p: u32) -> u64 {
        (0..self.num_classes as u32).map(|t| self.count(t, p)).sum()
    }

    /// All images counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The non-zero cells in row-major order (true id, then predicted id): the long form.
    pub fn cells(&self) -> Vec<Cell> {
        let k = self.num_classes;
        self.counts
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c > 0)
            .map(|(i, &count)| Cell {
                true_id: (i / k) as u32,
                pred_id: (i % k) as u32,
                count,
            })
            .collect()
    }

    /// Off-diagonal cells with `count ≥ min_val` (at least 1), count descending; equal counts keep row-major order
    /// (fastai's `most_confused`).
    pub fn most_confused(&self, min_val: u64) -> Vec<Cell> {
        let mut cells: Vec<Cell> = self
            .cells()
            .into_iter()
            .filter(|c| c.true_id != c.pred_id && c.count >= min_val.max(1))
            .collect();
        cells.sort_by_key(|c| std::cmp::Reverse(c.count)); // stable: ties stay row-major
        cells
    }

    /// The class the images of `t` are most often mistaken for, with the count (ties: lowest id); `None` when no
    /// image of `t` is misclassified.
    pub fn main_confuser(&self, t: u32) -> Option<(u32, u64)> {
        let mut best: Option<(u32, u64)> = None;
        for (p, &c) in self.row(t).iter().enumerate() {
            if p as u32 != t && c > 0 && best.is_none_or(|(_, bc)| c > bc) {
                best = Some((p as u32, c));
            }
        }
        best
    }

    /// Number of distinct wrong classes the images of `t` went to.
    pub fn wrong_classes(&self, t: u32) -> usize {
        self.row(t)
            .iter()
            .enumerate()
            .filter(|&(p, &c)| p as u32 != t && c > 0)
            .count()
    }
}

/// Metrics of one class over the evaluated images.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassMetrics {
    /// Class id.
    pub class_id: u32,
    /// Images whose true class this is.
    pub support: u64,
    /// Images predicted as this class.
    pub predicted: u64,
    /// Images of this class predicted correctly (true positives).
    pub correct: u64,
    /// `correct / predicted` (0 when nothing is predicted as the class).
    pub precision: f64,
    /// `correct / support` (0 without support).
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// Images of this class with the true class in their top `k`.
    pub top_k_correct: u64,
    /// `top_k_correct / support` (0 without support).
    pub top_k_recall: f64,
    /// Mean top-1 probability over the images of this class; `None` without support.
    pub mean_confidence: Option<f64>,
    /// `mean_confidence − recall`; `None` without support.
    pub calibration_gap: Option<f64>,
    /// Wilson lower bound ([`WILSON_Z`]) of the recall; `None` without support.
    pub recall_lower: Option<f64>,
    /// The class most of its misclassified images went to, and how many; `None` when none was misclassified.
    pub main_confuser: Option<(u32, u64)>,
    /// Distinct wrong classes its images went to.
    pub wrong_classes: usize,
}

/// Metrics of every class (one entry per class id, including classes with no images and classes never
/// predicted). `k` is the top-k of `top_k_recall`.
pub fn per_class(scores: &Scores, confusion: &ConfusionMatrix, k: usize) -> Vec<ClassMetrics> {
    let n_classes = scores.num_classes();
    let mut top_k_correct = vec![0u64; n_classes];
    let mut confidence_sum = vec![0f64; n_classes];
    for i in 0..scores.len() {
        let t = scores.target(i) as usize;
        confidence_sum[t] += scores.confidence(i);
        if scores.in_top_k(i, k) {
            top_k_correct[t] += 1;
        }
    }
    (0..n_classes as u32)
        .map(|c| {
            let support = confusion.support(c);
            let predicted = confusion.predicted(c);
            let correct = confusion.count(c, c);
            let precision = ratio(correct, predicted);
            let recall = ratio(correct, support);
            // F1 = 2tp / (2tp + fp + fn), which equals 2PR/(P+R) and is 0 when the denominator is.
            let f1 = ratio(2 * correct, support + predicted);
            let mean_confidence =
                (support > 0).then(|| confidence_sum[c as usize] / support as f64);
            ClassMetrics {
                class_id: c,
                support,
                predicted,
                correct,
                precision,
                recall,
                f1,
                top_k_correct: top_k_correct[c as usize],
                top_k_recall: ratio(top_k_correct[c as usize], support),
                mean_confidence,
                calibration_gap: mean_confidence.map(|m| m - recall),
                recall_lower: wilson_lower_bound(correct, support, WILSON_Z),
                main_confuser: confusion.main_confuser(c),
                wrong_classes: confusion.wrong_classes(c),
            }
        })
        .collect()
}

/// Unweighted mean over the classes that occur as a true or a predicted label (sklearn `average="macro"`).
pub fn macro_average(classes: &[ClassMetrics]) -> Averages {
    let present: Vec<&ClassMetrics> = classes
        .iter()
        .filter(|c| c.support > 0 || c.predicted > 0)
        .collect();
    let n = present.len();
    Averages {
        precision: mean(present.iter().map(|c| c.precision), n),
        recall: mean(present.iter().map(|c| c.recall), n),
        f1: mean(present.iter().map(|c| c.f1), n),
    }
}

/// Mean weighted by support (sklearn `average="weighted"`); all 0 without images.
pub fn weighted_average(classes: &[ClassMetrics]) -> Averages {
    let total: u64 = classes.iter().map(|c| c.support).sum();
    if total == 0 {
        return Averages {
            precision: 0.0,
            recall: 0.0,
            f1: 0.0,
        };
    }
    let w = |f: fn(&ClassMetrics) -> f64| {
        classes.iter().map(|c| c.support as f64 * f(c)).sum::<f64>() / total as f64
    };
    Averages {
        precision: w(|c| c.precision),
        recall: w(|c| c.recall),
        f1: w(|c| c.f1),
    }
}

/// Every headline figure of `scores`.
pub fn summarize(scores: &Scores) -> Summary {
    let confusion = ConfusionMatrix::from_scores(scores);
    let classes = per_class(scores, &confusion, TOP_K);
    let n = scores.len();
    let confidences: Vec<f64> = (0..n).map(|i| scores.confidence(i)).collect();
    let correct: Vec<bool> = (0..n).map(|i| scores.correct(i)).collect();
    let accuracy = ratio(correct.iter().filter(|&&c| c).count() as u64, n as u64);
    let mean_confidence = mean(confidences.iter().copied(), n);
    Summary {
        images: n as u64,
        accuracy,
        top5_accuracy: top_k_accuracy(scores, TOP_K),
        macro_avg: macro_average(&classes),
        weighted_avg: weighted_average(&classes),
        nll: nll(scores),
        ece: expected_calibration_error(&confidences, &correct, ECE_BINS),
        mean_confidence,
        calibration_gap: mean_confidence - accuracy,
    }
}

/// One class in the "needs more training" ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedClass {
    /// 1-based position (1 = needs training most).
    pub rank: u32,
    /// Class id.
    pub class_id: u32,
    /// Images of the class evaluated (pooled over the evaluated splits).
    pub evaluated: u64,
    /// Of which predicted correctly.
    pub correct: u64,
    /// `correct / evaluated` (0 when none).
    pub recall: f64,
    /// Wilson lower bound of the recall; `None` when no image was evaluated.
    pub recall_lower: Option<f64>,
    /// Training images of the class.
    pub train_images: u64,
    /// The class most of its errors went to, and how many.
    pub main_confuser: Option<(u32, u64)>,
    /// What to do, in words.
    pub next_step: String,
    /// Suspected label errors among its training images (with the diagnose stage's input).
    pub label_issues: Option<u32>,
    /// Its learning curve (with the diagnose stage's input).
    pub curve: Option<birds_artifacts::diagnose::Curve>,
}

/// Ranks classes by the Wilson lower bound of their recall, lowest first (the classes most likely to be weak,
/// given how few images measured them). Ties (every class with no correct image has bound 0): the lower Wilson
/// upper bound first (so 0 of 5 ranks before 0 of 1: more evidence of weakness), then fewer training images, then
/// class id. Classes without evaluated images come last.
///
/// `names[c]` and `train_images[c]` are the name and training-image count of class `c`.
pub fn needs_more_training(
    classes: &[ClassMetrics],
    names: &[String],
    train_images: &[u64],
) -> Vec<RankedClass> {
    let name = |c: u32| names.get(c as usize).map_or("?", String::as_str);
    let train = |c: u32| train_images.get(c as usize).copied().unwrap_or(0);
    let median_train = median(train_images);
    let mut order: Vec<&ClassMetrics> = classes.iter().collect();
    order.sort_by(|a, b| {
        let key = |m: &ClassMetrics| {
            wilson_interval(m.correct, m.support, WILSON_Z)
                .unwrap_or((f64::INFINITY, f64::INFINITY))
        };
        let (ka, kb) = (key(a), key(b));
        ka.0.partial_cmp(&kb.0)
            .unwrap_or(Ordering::Equal)
            .then(ka.1.partial_cmp(&kb.1).unwrap_or(Ordering::Equal))
            .then(train(a.class_id).cmp(&train(b.class_id)))
            .then(a.class_id.cmp(&b.class_id))
    });
    order
        .into_iter()
        .enumerate()
        .map(|(i, m)| RankedClass {
            rank: i as u32 + 1,
            class_id: m.class_id,
            evaluated: m.support,
            correct: m.correct,
            recall: m.recall,
            recall_lower: m.recall_lower,
            train_images: train(m.class_id),
            main_confuser: m.main_confuser,
            next_step: next_step(
                m,
                name(m.class_id),
                m.main_confuser.map(|(c, n)| (name(c), n)),
                train(m.class_id),
                median_train,
            ),
            label_issues: None,
            curve: None,
        })
        .collect()
}

/// The plain-language advice for one class.
fn next_step(
    m: &ClassMetrics,
    name: &str,
    confuser: Option<(&str, u64)>,
    train: u64,
    median_train: f64,
) -> String {
    let (n, errors) = (m.support, m.support - m.correct.min(m.support));
    let few_train = (train as f64) < median_train;
    let train_note = if few_train {
        format!(
            "; it has {train} training images, fewer than the median class ({})",
            fmt_count(median_train)
        )
    } else {
        String::new()
    };
    if n == 0 {
        return format!(
            "not measured: no evaluated image of {name}; add validation or test images of it"
        );
    }
    if errors == 0 {
        let bound = m.recall_lower.unwrap_or(0.0);
        return format!(
            "nothing urgent: all {n} evaluated images of {name} correct (with {n} images the recall could still \
             be as low as {bound:.2}; more test images would tell)"
        );
    }
    match confuser {
        Some((other, count)) if count >= 2 || m.wrong_classes == 1 => format!(
            "collect more images of {name}, especially ones that tell it apart from {other}; \
             {count} of {n} went to {other}{train_note}"
        ),
        Some((other, _)) => format!(
            "collect more images of {name}; {errors} of {n} were misclassified, spread over {} classes \
             (e.g. {other}){train_note}",
            m.wrong_classes
        ),
        None => {
            format!("collect more images of {name}; {errors} of {n} were misclassified{train_note}")
        }
    }
}

fn fmt_count(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

fn median(values: &[u64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m] as f64
    } else {
        (v[m - 1] + v[m]) as f64 / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Four classes A, B, C, D. C is never predicted; D has no image and is never predicted.
    ///
    /// | image | true | probabilities | predicted |
    /// |---|---|---|---|
    /// | 0 | A | .7 .2 .1 0 | A ✓ |
    /// | 1 | A | .3 .6 .1 0 | B ✗ |
    /// | 2 | A | .8 .1 .05 .05 | A ✓ |
    /// | 3 | B | .1 .5 .4 0 | B ✓ |
    /// | 4 | B | .6 .3 .1 0 | A ✗ |
    /// | 5 | C | .5 .4 .1 0 | A ✗ |
    fn fixture() -> Scores {
        let probs = vec![
            0.7, 0.2, 0.1, 0.0, //
            0.3, 0.6, 0.1, 0.0, //
            0.8, 0.1, 0.05, 0.05, //
            0.1, 0.5, 0.4, 0.0, //
            0.6, 0.3, 0.1, 0.0, //
            0.5, 0.4, 0.1, 0.0,
        ];
        Scores::new(4, vec![0, 0, 0, 1, 1, 2], probs).unwrap_or_else(|e| panic!("{e}"))
    }

    fn names() -> Vec<String> {
        ["A", "B", "C", "D"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn accuracy_confusion_and_top_k_by_hand() {
        let s = fixture();
        assert_eq!(s.predictions(), vec![0, 1, 0, 1, 0, 0]);
        assert!(close(accuracy(s.targets(), &s.predictions()), 0.5));
        // top-2: image 5 (true C, third) is the only miss.
        assert!(close(top_k_accuracy(&s, 2), 5.0 / 6.0));
        assert!(close(top_k_accuracy(&s, 1), 0.5));
        let cm = ConfusionMatrix::from_scores(&s);
        assert_eq!(cm.total(), 6);
        let long: Vec<(u32, u32, u64)> = cm
            .cells()
            .iter()
            .map(|c| (c.true_id, c.pred_id, c.count))
            .collect();
        assert_eq!(
            long,
            vec![(0, 0, 2), (0, 1, 1), (1, 0, 1), (1, 1, 1), (2, 0, 1)]
        );
        assert_eq!((cm.support(3), cm.predicted(2), cm.predicted(0)), (0, 0, 4));
    }

    #[test]
    fn per_class_with_zero_division_like_sklearn() {
        let s = fixture();
        let cm = ConfusionMatrix::from_scores(&s);
        let pc = per_class(&s, &cm, 2);
        assert_eq!(pc.len(), 4, "every class has a row, D included");
        // A: tp 2, fp 2, fn 1.
        assert!(close(pc[0].precision, 0.5) && close(pc[0].recall, 2.0 / 3.0));
        assert!(close(pc[0].f1, 4.0 / 7.0));
        // B: tp 1, fp 1, fn 1.
        assert!(close(pc[1].precision, 0.5) && close(pc[1].recall, 0.5) && close(pc[1].f1, 0.5));
        // C: never predicted → precision 0/0 = 0; recall 0; F1 0.
        assert_eq!((pc[2].precision, pc[2].recall, pc[2].f1), (0.0, 0.0, 0.0));
        // D: no image, never predicted: all 0, confidences undefined.
        assert_eq!((pc[3].precision, pc[3].recall, pc[3].f1), (0.0, 0.0, 0.0));
        assert_eq!((pc[3].mean_confidence, pc[3].recall_lower), (None, None));
        // top-2 recall: A 3/3, B 2/2, C 0/1.
        let t2: Vec<f64> = pc.iter().map(|c| c.top_k_recall).collect();
        assert_eq!(t2, vec![1.0, 1.0, 0.0, 0.0]);
        // Confidence of A's images: (.7 + .6 + .8) / 3; gap = .7 − 2/3.
        assert!(close(pc[0].mean_confidence.unwrap_or(-1.0), 0.7));
        assert!(close(
            pc[0].calibration_gap.unwrap_or(-1.0),
            0.7 - 2.0 / 3.0
        ));
        assert!(close(pc[2].calibration_gap.unwrap_or(-1.0), 0.5));
        assert_eq!(pc[0].main_confuser, Some((1, 1)));
        assert_eq!(pc[2].main_confuser, Some((0, 1)));
        assert_eq!(pc[3].main_confuser, None);
        // Macro over the labels present (A, B, C), D left out as sklearn's labels=None does.
        let m = macro_average(&pc);
        assert!(close(m.precision, 1.0 / 3.0), "{m:?}");
        assert!(close(m.recall, 7.0 / 18.0), "{m:?}");
        assert!(close(m.f1, 5.0 / 14.0), "{m:?}");
        // Weighted by support 3, 2, 1: recall equals accuracy.
        let w = weighted_average(&pc);
        assert!(close(w.precision, 5.0 / 12.0), "{w:?}");
        assert!(close(w.recall, 0.5), "{w:?}");
        assert!(close(w.f1, 19.0 / 42.0), "{w:?}");
    }

    #[test]
    fn summary_nll_ece_and_calibration_by_hand() {
        let s = fixture();
        let sum = summarize(&s);
        assert_eq!(sum.images, 6);
        let nll = -[0.7f64, 0.3, 0.8, 0.5, 0.3, 0.1]
            .iter()
            .map(|p| p.ln())
            .sum::<f64>()
            / 6.0;
        assert!(close(sum.nll, nll), "{} vs {nll}", sum.nll);
        // Bins of width 1/15: .7 → bin 10 (✓), .6 ×2 → bin 9 (✗ ✗), .8 → bin 12 (✓), .5 ×2 → bin 7 (✓ ✗).
        let ece = (1.0 / 6.0) * 0.3 + (2.0 / 6.0) * 0.6 + (1.0 / 6.0) * 0.2 + (2.0 / 6.0) * 0.0;
        assert!(close(sum.ece, ece), "{} vs {ece}", sum.ece);
        assert!(close(sum.mean_confidence, 3.7 / 6.0));
        assert!(close(sum.calibration_gap, 3.7 / 6.0 - 0.5));
        assert!(
            close(sum.top5_accuracy, 1.0),
            "4 classes: every true class is in the top 5"
        );
    }

    #[test]
    fn top_k_ties_go_to_the_lower_class_id() {
        let s = Scores::new(
            4,
            vec![3, 1, 2, 0, 2],
            vec![
                0.4, 0.2, 0.2, 0.2, // true 3: ranked 0,1,2,3 → 4th
                0.4, 0.2, 0.2, 0.2, // true 1: 2nd
                0.4, 0.2, 0.2, 0.2, // true 2: 3rd
                0.25, 0.25, 0.25, 0.25, // all equal: predicted 0, true 0 correct
                0.25, 0.25, 0.25, 0.25, // true 2: 3rd
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.top_k(0, 2), vec![0, 1]);
        assert_eq!(s.top_k(3, 4), vec![0, 1, 2, 3]);
        assert_eq!(
            (0..5).map(|i| s.in_top_k(i, 2)).collect::<Vec<_>>(),
            vec![false, true, false, true, false]
        );
        assert_eq!(
            (0..5).map(|i| s.in_top_k(i, 3)).collect::<Vec<_>>(),
            vec![false, true, true, true, true]
        );
        assert_eq!(s.predicted(3), 0);
        assert!(s.correct(3));
        assert!(close(top_k_accuracy(&s, 2), 2.0 / 5.0));
        // top-1 under the tie rule is exactly accuracy.
        assert!(close(
            top_k_accuracy(&s, 1),
            accuracy(s.targets(), &s.predictions())
        ));
        // top_k and in_top_k agree everywhere.
        for i in 0..5 {
            for k in 1..=4 {
                assert_eq!(s.top_k(i, k).contains(&s.target(i)), s.in_top_k(i, k));
            }
        }
    }

    #[test]
    fn ece_bin_edges_follow_torchmetrics() {
        // 1.0 goes to a bin of its own; a confidence exactly on an inner edge belongs to the upper bin.
        let ece = expected_calibration_error(&[1.0, 0.99], &[true, false], 15);
        assert!(close(ece, 0.5 * 0.0 + 0.5 * 0.99), "{ece}");
        let edge = 2.0 / 3.0; // = 10/15, an edge
        let ece = expected_calibration_error(&[edge, 0.7], &[true, false], 15);
        // Both in bin 10 ([10/15, 11/15)): acc .5, conf (edge + .7)/2.
        assert!(close(ece, (0.5 - (edge + 0.7) / 2.0).abs()), "{ece}");
        assert_eq!(expected_calibration_error(&[], &[], 15), 0.0);
    }

    #[test]
    fn wilson_bound_matches_known_values() {
        // 5 of 5: the classic 0.5655; 0 of n: 0; no trials: None.
        assert!((wilson_lower_bound(5, 5, 1.96).unwrap_or(0.0) - 0.565_51).abs() < 1e-5);
        assert_eq!(wilson_lower_bound(0, 5, 1.96), Some(0.0));
        assert_eq!(wilson_lower_bound(0, 0, 1.96), None);
        // 2 of 3 and 1 of 2, by hand.
        assert!((wilson_lower_bound(2, 3, 1.96).unwrap_or(0.0) - 0.207_65).abs() < 1e-5);
        assert!((wilson_lower_bound(1, 2, 1.96).unwrap_or(0.0) - 0.094_53).abs() < 1e-5);
        // More evidence of the same recall gives a higher bound: 8/10 > 4/5.
        let (a, b) = (
            wilson_lower_bound(8, 10, 1.96).unwrap_or(0.0),
            wilson_lower_bound(4, 5, 1.96).unwrap_or(0.0),
        );
        assert!(a > b, "{a} {b}");
        // Upper ends: 0/5 → 0.43449, 5/5 → 1.
        let (lo, hi) = wilson_interval(0, 5, 1.96).unwrap_or((-1.0, -1.0));
        assert!(lo == 0.0 && (hi - 0.434_49).abs() < 1e-5, "{hi}");
        assert_eq!(wilson_interval(5, 5, 1.96).map(|(_, hi)| hi), Some(1.0));
    }

    #[test]
    fn zero_of_five_ranks_before_zero_of_one() {
        // Class 0: 0 of 1 correct; class 1: 0 of 5; class 2: 1 of 1. Same training counts.
        let targets = vec![0, 1, 1, 1, 1, 1, 2];
        let preds = [2u32, 0, 0, 0, 0, 0, 2];
        let mut probs = vec![0.0; targets.len() * 3];
        for (i, &p) in preds.iter().enumerate() {
            probs[i * 3 + p as usize] = 1.0;
        }
        let s = Scores::new(3, targets, probs).unwrap_or_else(|e| panic!("{e}"));
        let pc = per_class(&s, &ConfusionMatrix::from_scores(&s), TOP_K);
        let names = vec!["A".to_string(), "B".into(), "C".into()];
        let ranked = needs_more_training(&pc, &names, &[10, 10, 10]);
        assert_eq!(
            ranked.iter().map(|r| r.class_id).collect::<Vec<_>>(),
            vec![1, 0, 2]
        );
        assert!(
            ranked[0].next_step.contains("5 of 5 went to A"),
            "{}",
            ranked[0].next_step
        );
    }

    #[test]
    fn most_confused_sorts_by_count_then_row_major() {
        // true: 0 0 0 1 1 2 2 2 2; pred: 1 1 2 0 0 1 1 0 2
        let cm = ConfusionMatrix::from_labels(
            3,
            &[0, 0, 0, 1, 1, 2, 2, 2, 2],
            &[1, 1, 2, 0, 0, 1, 1, 0, 2],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let pairs: Vec<(u32, u32, u64)> = cm
            .most_confused(1)
            .iter()
            .map(|c| (c.true_id, c.pred_id, c.count))
            .collect();
        assert_eq!(
            pairs,
            vec![(0, 1, 2), (1, 0, 2), (2, 1, 2), (0, 2, 1), (2, 0, 1)]
        );
        assert_eq!(cm.most_confused(2).len(), 3);
        assert!(cm.most_confused(3).is_empty());
        // Diagonal never appears, and ties for the main confuser go to the lower id.
        assert_eq!(cm.main_confuser(2), Some((1, 2)));
        assert_eq!(cm.main_confuser(0), Some((1, 2)));
        assert!(ConfusionMatrix::from_labels(3, &[0], &[3]).is_err());
    }

    #[test]
    fn ranking_orders_by_wilson_bound_and_says_what_to_do() {
        let s = fixture();
        let cm = ConfusionMatrix::from_scores(&s);
        let pc = per_class(&s, &cm, TOP_K);
        let ranked = needs_more_training(&pc, &names(), &[100, 40, 80, 60]);
        // C 0/1 (bound 0) < B 1/2 (.0945) < A 2/3 (.2077); D unmeasured last.
        let order: Vec<u32> = ranked.iter().map(|r| r.class_id).collect();
        assert_eq!(order, vec![2, 1, 0, 3]);
        assert_eq!(ranked[0].rank, 1);
        assert_eq!(ranked[1].train_images, 40);
        // Median of 40, 60, 80, 100 is 70: B (40) gets the note, A (100) does not.
        assert!(
            ranked[1].next_step.contains("1 of 2 went to A")
                && ranked[1]
                    .next_step
                    .contains("40 training images, fewer than the median class (70)"),
            "{}",
            ranked[1].next_step
        );
        assert!(
            ranked[2].next_step.starts_with("collect more images of A")
                && ranked[2].next_step.contains("1 of 3 went to B")
                && !ranked[2].next_step.contains("median"),
            "{}",
            ranked[2].next_step
        );
        assert!(
            ranked[3].next_step.starts_with("not measured"),
            "{}",
            ranked[3].next_step
        );
        assert_eq!(ranked[3].recall_lower, None);
    }

    #[test]
    fn ranking_tie_breaks_and_spread_errors() {
        // Two classes with the same bound (0 of 2): the one with fewer training images first.
        // Class 2 is all correct.
        let targets = vec![0, 0, 1, 1, 2, 2, 2];
        let preds = [1u32, 2, 0, 0, 2, 2, 2];
        let mut probs = vec![0.0; targets.len() * 3];
        for (i, &p) in preds.iter().enumerate() {
            probs[i * 3 + p as usize] = 1.0;
        }
        let s = Scores::new(3, targets, probs).unwrap_or_else(|e| panic!("{e}"));
        let cm = ConfusionMatrix::from_scores(&s);
        let pc = per_class(&s, &cm, TOP_K);
        let names = vec!["X".to_string(), "Y".into(), "Z".into()];
        let ranked = needs_more_training(&pc, &names, &[50, 20, 30]);
        assert_eq!(
            ranked.iter().map(|r| r.class_id).collect::<Vec<_>>(),
            vec![1, 0, 2]
        );
        // X's two errors went to two different classes.
        assert!(
            ranked[1]
                .next_step
                .contains("2 of 2 were misclassified, spread over 2 classes"),
            "{}",
            ranked[1].next_step
        );
        assert!(
            ranked[0].next_step.contains("2 of 2 went to X"),
            "{}",
            ranked[0].next_step
        );
        assert!(
            ranked[2].next_step.starts_with("nothing urgent: all 3"),
            "{}",
            ranked[2].next_step
        );
    }

    #[test]
    fn bad_inputs_are_rejected_with_the_reason() {
        assert_eq!(Scores::new(0, vec![], vec![]), Err(MetricsError::NoClasses));
        assert!(matches!(
            Scores::new(2, vec![0], vec![0.5]),
            Err(MetricsError::Shape { expected: 2, .. })
        ));
        assert!(matches!(
            Scores::new(2, vec![2], vec![0.5, 0.5]),
            Err(MetricsError::TargetOutOfRange { class: 2, .. })
        ));
        let e = Scores::new(2, vec![0, 1], vec![0.5, 0.5, f64::NAN, 0.5]);
        assert!(matches!(
            e,
            Err(MetricsError::NotFinite {
                image: 1,
                class: 0,
                ..
            })
        ));
    }

    #[test]
    fn loss_is_floored_and_empty_scores_give_zeros() {
        let s = Scores::new(2, vec![1], vec![1.0, 0.0]).unwrap_or_else(|e| panic!("{e}"));
        assert!(close(s.loss(0), -MIN_PROB.ln()));
        let empty = Scores::new(3, vec![], vec![]).unwrap_or_else(|e| panic!("{e}"));
        let sum = summarize(&empty);
        assert_eq!(
            (sum.images, sum.accuracy, sum.nll, sum.ece),
            (0, 0.0, 0.0, 0.0)
        );
    }
}
