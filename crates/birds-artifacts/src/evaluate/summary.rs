//! `summary.json` of the evaluate stage: its headline figures, the weakest classes and the test-time augmentation
//! used. Evaluate computes and writes it; the report and any tool read it with these types.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use birds_core::Split;
use serde::{Deserialize, Serialize};

use crate::{ArtifactError, Result};

/// Test-time augmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tta {
    /// One view: the centre crop.
    #[default]
    None,
    /// The centre crop and its mirror image; the two softmax outputs are averaged.
    Flip,
}

impl Tta {
    /// `none` or `flip`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tta::None => "none",
            Tta::Flip => "flip",
        }
    }
}

impl fmt::Display for Tta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tta {
    type Err = ArtifactError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "" => Ok(Tta::None),
            "flip" | "hflip" => Ok(Tta::Flip),
            _ => Err(ArtifactError::Input(format!(
                "tta {s:?}: expected none or flip"
            ))),
        }
    }
}

/// Precision, recall and F1 averaged over classes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Averages {
    /// Averaged precision.
    pub precision: f64,
    /// Averaged recall.
    pub recall: f64,
    /// Averaged F1 (the mean of per-class F1s, not the F1 of the means).
    pub f1: f64,
}

/// The headline figures of a set of scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Images evaluated.
    pub images: u64,
    /// Top-1 accuracy.
    pub accuracy: f64,
    /// Top-5 accuracy (tie rule in `birds_evaluate::metrics`; 1 when there are at most 5 classes).
    pub top5_accuracy: f64,
    /// Macro-averaged precision, recall, F1.
    pub macro_avg: Averages,
    /// Support-weighted precision, recall, F1.
    pub weighted_avg: Averages,
    /// Mean negative log-likelihood of the true class.
    pub nll: f64,
    /// Expected calibration error, 15 bins.
    pub ece: f64,
    /// Mean top-1 probability.
    pub mean_confidence: f64,
    /// `mean_confidence − accuracy`.
    pub calibration_gap: f64,
}

/// A class of the ranking as `summary.json` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeakClass {
    /// Class label.
    pub label: String,
    /// Evaluated images of the class.
    pub evaluated: u64,
    /// Of which correct.
    pub correct: u64,
    /// Wilson lower bound of the recall.
    pub recall_lower: Option<f64>,
    /// The class most of its errors went to.
    pub main_confuser: Option<String>,
    /// What to do.
    pub next_step: String,
}

/// One split's figures before and after temperature scaling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationFigures {
    /// Images of the split.
    pub images: u64,
    /// Mean NLL at T = 1.
    pub nll_before: f64,
    /// Mean NLL at the fitted T.
    pub nll_after: f64,
    /// ECE (15 bins) at T = 1.
    pub ece_before: f64,
    /// ECE at the fitted T.
    pub ece_after: f64,
    /// Mean top-1 probability at T = 1.
    pub mean_confidence_before: f64,
    /// Mean top-1 probability at the fitted T.
    pub mean_confidence_after: f64,
    /// Top-1 accuracy at the fitted T (with flip TTA it may differ from T = 1 by an image).
    pub accuracy: f64,
}

/// Temperature scaling in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationSummary {
    /// The fitted temperature (`null`: uncalibrated, no valid images).
    pub temperature: Option<f64>,
    /// The split it was fitted on.
    pub fitted_on: Split,
    /// Images it was fitted on.
    pub fit_images: u64,
    /// Before and after, per evaluated split.
    pub by_split: BTreeMap<String, CalibrationFigures>,
}

/// One split's out-of-distribution flags.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OodSplit {
    /// Images of the split.
    pub images: u64,
    /// Of which flagged (score above the threshold).
    pub flagged: u64,
    /// `flagged / images`.
    pub flagged_share: f64,
    /// Median score.
    pub median_score: f64,
}

/// The out-of-distribution detector in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OodSummary {
    /// The detector (method, threshold, what it was fitted on).
    #[serde(flatten)]
    pub info: super::OodInfo,
    /// Flags per evaluated split.
    pub by_split: BTreeMap<String, OodSplit>,
}

/// `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryFile {
    /// birds version that wrote it.
    pub birds_version: String,
    /// The checkpoint folder evaluated.
    pub checkpoint: String,
    /// The preprocess cache read.
    pub cache: String,
    /// Architecture, e.g. `efficientnet-lite0`.
    pub model: String,
    /// Training mode of the checkpoint.
    pub mode: String,
    /// Evaluated splits.
    pub splits: Vec<Split>,
    /// Test-time augmentation.
    pub tta: Tta,
    /// Number of classes of the model.
    pub classes: usize,
    /// Headline figures over all evaluated images (`images`, `accuracy`, `top5_accuracy`, `macro_avg`,
    /// `weighted_avg`, `nll`, `ece`, `mean_confidence`, `calibration_gap`).
    #[serde(flatten)]
    pub overall: Summary,
    /// The same figures per evaluated split.
    pub by_split: BTreeMap<String, Summary>,
    /// Temperature scaling: the fitted T and each split's NLL and ECE before and after (`null`: not asked for;
    /// the headline figures above are those after scaling when present).
    #[serde(default)]
    pub calibration: Option<CalibrationSummary>,
    /// The out-of-distribution detector and how many images of each split it flags (`null`: not fitted).
    #[serde(default)]
    pub ood: Option<OodSummary>,
    /// The first five classes of the "needs more training" ranking.
    pub weakest: Vec<WeakClass>,
    /// How the figures are defined.
    pub definitions: BTreeMap<String, String>,
}
