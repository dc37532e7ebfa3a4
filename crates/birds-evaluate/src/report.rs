//! From scores to a report: every figure the stage writes, computed once from an [`Evaluation`].
//!
//! This part needs no model and no files, so the consistency tests and the 525-class rendering test build an
//! [`Evaluation`] by hand.

use std::collections::BTreeMap;

use birds_core::Split;

use crate::metrics::{
    self, Cell, ClassMetrics, ConfusionMatrix, RankedClass, Scores, Summary, TOP_K,
};

/// Where an evaluated image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// Sample id in the preprocess cache.
    pub sample: u32,
    /// Path relative to the data root.
    pub path: String,
    /// The data root.
    pub root: String,
    /// Its split.
    pub split: Split,
}

/// Images per class in each split of the data, indexed by class id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SplitCounts {
    /// Training images (from `classes.parquet` when the index is given, else from the cache).
    pub train: Vec<u64>,
    /// Validation images in the cache.
    pub valid: Vec<u64>,
    /// Test images in the cache.
    pub test: Vec<u64>,
}

/// What was evaluated: the classes, the images and the model's probabilities for them.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Class labels by id (the model's output order).
    pub classes: Vec<String>,
    /// The evaluated images, row `i` of `scores` is image `i`.
    pub images: Vec<ImageInfo>,
    /// True classes and probabilities.
    pub scores: Scores,
    /// Images per class and split.
    pub counts: SplitCounts,
}

/// Every figure of an evaluation.
#[derive(Debug, Clone)]
pub struct Report {
    /// The confusion matrix of all evaluated images.
    pub confusion: ConfusionMatrix,
    /// One entry per class.
    pub per_class: Vec<ClassMetrics>,
    /// Headline figures over all evaluated images.
    pub overall: Summary,
    /// Headline figures per evaluated split.
    pub by_split: BTreeMap<String, Summary>,
    /// The splits present among the evaluated images, in canonical order, joined by ` + ` (e.g. `valid + test`).
    pub splits: String,
    /// Off-diagonal pairs with at least `min_confused` errors, largest first.
    pub most_confused: Vec<Cell>,
    /// Classes ordered by the Wilson lower bound of their recall.
    pub ranking: Vec<RankedClass>,
    /// Indices of the highest-loss images, highest first (ties: earlier image first).
    pub top_losses: Vec<usize>,
}

impl Report {
    /// Computes the report; `min_confused` is fastai's `min_val`, `top_losses` the number of images kept.
    pub fn compute(eval: &Evaluation, min_confused: u64, top_losses: usize) -> Report {
        let scores = &eval.scores;
        let confusion = ConfusionMatrix::from_scores(scores);
        let per_class = metrics::per_class(scores, &confusion, TOP_K);
        let mut by_split = BTreeMap::new();
        let mut present = Vec::new();
        for split in Split::ALL {
            let rows: Vec<usize> = (0..eval.images.len())
                .filter(|&i| eval.images[i].split == split)
                .collect();
            if !rows.is_empty() {
                present.push(split.as_str());
                by_split.insert(
                    split.as_str().to_string(),
                    metrics::summarize(&scores.select(&rows)),
                );
            }
        }
        let ranking = metrics::needs_more_training(&per_class, &eval.classes, &eval.counts.train);
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| {
            scores
                .loss(b)
                .partial_cmp(&scores.loss(a))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.cmp(&b))
        });
        order.truncate(top_losses);
        Report {
            overall: metrics::summarize(scores),
            most_confused: confusion.most_confused(min_confused),
            confusion,
            per_class,
            by_split,
            splits: present.join(" + "),
            ranking,
            top_losses: order,
        }
    }
}

pub use birds_artifacts::evaluate::{SummaryFile, WeakClass};

/// The definitions recorded in `summary.json`.
pub fn definitions() -> BTreeMap<String, String> {
    [
        (
            "top_k_ties",
            "classes ranked by probability descending, equal probabilities by class id ascending; top-1 = argmax (first maximum)",
        ),
        (
            "zero_division",
            "0/0 precision, recall or F1 is 0 (sklearn zero_division=0)",
        ),
        (
            "macro_avg",
            "unweighted mean over classes present as a true or predicted label (sklearn average='macro')",
        ),
        ("weighted_avg", "mean weighted by true-class support"),
        (
            "nll",
            "mean -ln p(true class), probabilities floored at 1e-12",
        ),
        (
            "ece",
            "top-label expected calibration error, 15 equal-width bins, L1 (torchmetrics)",
        ),
        ("calibration_gap", "mean_confidence - accuracy"),
        (
            "ranking",
            "classes ordered by the Wilson 95% lower bound of recall over the evaluated splits together; ties by the Wilson upper bound, then fewer training images",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}
