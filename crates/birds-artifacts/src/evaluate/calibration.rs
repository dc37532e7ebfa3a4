//! `calibration.json` of the evaluate stage: the temperature fitted on a checkpoint's valid split and the threshold
//! of its out-of-distribution detector (whose tensors are `ood.safetensors`, `birds_models::ood`). Evaluate writes
//! it; `birds predict` and explain read it and apply it to that checkpoint only.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Result;

/// `calibration.json`.
pub const CALIBRATION_FILE: &str = "calibration.json";

/// The method of the out-of-distribution score (a closed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OodMethod {
    /// Squared Mahalanobis distance of the pooled embedding to the nearest class mean, per channel.
    Mahalanobis,
}

/// The detector's part of `calibration.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OodInfo {
    /// How the score is computed.
    pub method: OodMethod,
    /// Images whose score is above this are flagged.
    pub threshold: f64,
    /// The quantile of the valid split's scores the threshold is.
    pub quantile: f64,
    /// Valid images the threshold was taken from.
    pub threshold_images: u64,
    /// Training images whose embeddings gave the class means and covariance.
    pub fit_images: u64,
    /// The Ledoit–Wolf shrinkage of the covariance, in [0, 1].
    pub shrinkage: f64,
}

/// `calibration.json`: what evaluate fitted on one checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationFile {
    /// Layout version (1).
    pub format: u32,
    /// The checkpoint folder evaluated.
    pub checkpoint: String,
    /// The checkpoint's content hash (`birds_models::checkpoint::content_hash`): the calibration applies to it only.
    pub checkpoint_blake3: String,
    /// The temperature logits are divided by; `null`: uncalibrated (no valid images).
    pub temperature: Option<f64>,
    /// Valid images the temperature was fitted on.
    pub fit_images: u64,
    /// Mean NLL of those images at T = 1 (`null` when uncalibrated).
    pub nll_before: Option<f64>,
    /// …and at the fitted T.
    pub nll_after: Option<f64>,
    /// The out-of-distribution detector (`null`: not fitted).
    pub ood: Option<OodInfo>,
}

impl CalibrationFile {
    /// Reads `<dir>/calibration.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        crate::json::read_json(&dir.join(CALIBRATION_FILE))
    }

    /// Writes `<dir>/calibration.json` (atomic).
    pub fn write(&self, dir: &Path) -> Result<()> {
        crate::json::write_json(&dir.join(CALIBRATION_FILE), self)
    }
}
