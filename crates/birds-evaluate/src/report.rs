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
    /// Temperature scaling, when fitted: `scores` are then the scaled probabilities.
    pub calibration: Option<Calibrated>,
    /// Out-of-distribution scores of the evaluated images, when the detector was fitted.
    pub ood: Option<OodScores>,
    /// The diagnose stage's per-class rows (suspected label errors, learning curves), when given.
    pub diagnosis: Option<Vec<ClassDiagnosisRow>>,
}

/// What temperature scaling changed.
#[derive(Debug, Clone)]
pub struct Calibrated {
    /// The fitted temperature.
    pub temperature: f64,
    /// Valid images it was fitted on.
    pub fit_images: u64,
    /// The probabilities at T = 1, rows as in [`Evaluation::scores`].
    pub uncalibrated: Scores,
}

/// The detector and each evaluated image's score.
#[derive(Debug, Clone)]
pub struct OodScores {
    /// Method, threshold and what it was fitted on.
    pub info: OodInfo,
    /// One score per evaluated image.
    pub scores: Vec<f64>,
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
        let mut ranking =
            metrics::needs_more_training(&per_class, &eval.classes, &eval.counts.train);
        if let Some(d) = &eval.diagnosis {
            add_diagnosis(&mut ranking, d, &eval.classes);
        }
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

use birds_artifacts::diagnose::{ClassDiagnosisRow, Curve};

/// Adds the diagnose stage's findings to each ranked class's counts and advice: suspected label errors first (fix
/// them before collecting more), then what its learning curve says about more images.
pub fn add_diagnosis(
    ranking: &mut [RankedClass],
    diagnosis: &[ClassDiagnosisRow],
    names: &[String],
) {
    for r in ranking.iter_mut() {
        let Some(d) = diagnosis.iter().find(|d| d.class_id == r.class_id) else {
            continue;
        };
        r.label_issues = Some(d.label_issues);
        r.curve = Some(d.curve);
        let name = names.get(r.class_id as usize).map_or("?", String::as_str);
        if d.label_issues > 0 {
            let likely = d
                .issues_likely
                .as_deref()
                .map(|l| {
                    if d.label_issues == 1 {
                        format!(", it looks like {l}")
                    } else {
                        format!(", most of them look like {l}")
                    }
                })
                .unwrap_or_default();
            r.next_step.push_str(&format!(
                "; first check its {} suspected label error{} (label_issues.parquet{likely})",
                d.label_issues,
                if d.label_issues == 1 { "" } else { "s" }
            ));
        }
        let (half, all) = (d.recall[1], d.recall[2]);
        match d.curve {
            Curve::Rising => r.next_step.push_str(&format!(
                "; its learning curve is still rising (out-of-fold recall {half:.2} with half of its training \
                 images, {all:.2} with all): more images will likely help"
            )),
            Curve::Flat => {
                // More of the same images is not the advice: the images to collect are the telling ones.
                r.next_step = r
                    .next_step
                    .replacen("collect more images of ", "collect images of ", 1)
                    .replacen(", especially ones that tell it apart from ", " that tell it apart from ", 1);
                let lead = match r.main_confuser {
                    Some((c, _)) => format!(
                        "check its labels and what tells it apart from the look-alike {}",
                        names.get(c as usize).map_or("?", String::as_str)
                    ),
                    None => format!("check the labels of {name}"),
                };
                r.next_step.push_str(&format!(
                    "; its learning curve has flattened ({half:.2} with half of its training images, {all:.2} \
                     with all): more of the same images will not help much; {lead}"
                ));
            }
            Curve::Saturated => {}
        }
    }
}

pub use birds_artifacts::evaluate::{
    CalibrationFigures, CalibrationSummary, OodInfo, OodSplit, OodSummary, SummaryFile, WeakClass,
};

/// The rows of each split present among the evaluated images, in canonical split order.
fn split_rows(eval: &Evaluation) -> Vec<(Split, Vec<usize>)> {
    Split::ALL
        .into_iter()
        .map(|split| {
            let rows: Vec<usize> = (0..eval.images.len())
                .filter(|&i| eval.images[i].split == split)
                .collect();
            (split, rows)
        })
        .filter(|(_, rows)| !rows.is_empty())
        .collect()
}

/// `summary.json`'s calibration section: each split's NLL, ECE and mean confidence before and after scaling.
pub fn calibration_summary(eval: &Evaluation) -> Option<CalibrationSummary> {
    let cal = eval.calibration.as_ref()?;
    let by_split = split_rows(eval)
        .into_iter()
        .map(|(split, rows)| {
            let (before, after) = (
                metrics::summarize(&cal.uncalibrated.select(&rows)),
                metrics::summarize(&eval.scores.select(&rows)),
            );
            let figures = CalibrationFigures {
                images: rows.len() as u64,
                nll_before: before.nll,
                nll_after: after.nll,
                ece_before: before.ece,
                ece_after: after.ece,
                mean_confidence_before: before.mean_confidence,
                mean_confidence_after: after.mean_confidence,
                accuracy: after.accuracy,
            };
            (split.as_str().to_string(), figures)
        })
        .collect();
    Some(CalibrationSummary {
        temperature: Some(cal.temperature),
        fitted_on: Split::Valid,
        fit_images: cal.fit_images,
        by_split,
    })
}

/// `summary.json`'s out-of-distribution section: how many images of each split the detector flags.
pub fn ood_summary(eval: &Evaluation) -> Option<OodSummary> {
    let ood = eval.ood.as_ref()?;
    let by_split = split_rows(eval)
        .into_iter()
        .map(|(split, rows)| {
            let mut scores: Vec<f64> = rows.iter().map(|&i| ood.scores[i]).collect();
            scores.sort_by(f64::total_cmp);
            let flagged = scores.iter().filter(|&&s| s > ood.info.threshold).count() as u64;
            let n = scores.len();
            let median = if n % 2 == 1 {
                scores[n / 2]
            } else {
                0.5 * (scores[n / 2 - 1] + scores[n / 2])
            };
            let figures = OodSplit {
                images: n as u64,
                flagged,
                flagged_share: metrics::ratio(flagged, n as u64),
                median_score: median,
            };
            (split.as_str().to_string(), figures)
        })
        .collect();
    Some(OodSummary {
        info: ood.info.clone(),
        by_split,
    })
}

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
