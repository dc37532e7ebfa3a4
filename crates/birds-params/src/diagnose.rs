//! Params of the `diagnose` stage (the label-issue finder and the per-class learning curves).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{ParamsError, Result};

/// Params of the diagnose stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiagnoseParams {
    /// Class-stratified folds of the training images.
    pub folds: usize,
    /// Seeded repeats of each cut-down fraction of the learning curves.
    pub repeats: usize,
    /// Head epochs per fit.
    pub epochs: u32,
    /// Head learning rate.
    pub lr: f64,
    /// Head batch size.
    pub batch_size: usize,
    /// Recall gain from 50 % to 100 % of a class's images that counts as still rising.
    pub min_gain: f64,
    /// Seed of the folds, the subsets and the heads.
    pub seed: u64,
    /// Pretrained weights (default: the ImageNet Lite0 weights of `just setup`), as feature-extract's.
    pub weights: Option<PathBuf>,
    /// Feature cache folder, as feature-extract's (default `artifacts/.cache/features`).
    pub feature_cache: Option<PathBuf>,
    /// Use the mirrored training copies (as feature-extract does by default; then its cache entry is shared).
    pub flip_features: bool,
}

impl Default for DiagnoseParams {
    fn default() -> Self {
        Self {
            folds: 5,
            repeats: 3,
            epochs: 30,
            lr: 0.002,
            batch_size: 32,
            min_gain: 0.05,
            seed: 42,
            weights: None,
            feature_cache: None,
            flip_features: true,
        }
    }
}

impl DiagnoseParams {
    /// Parses params given as JSON (a pipeline's `params:`), naming the offending key.
    pub fn from_json(value: &serde_json::Value) -> Result<Self> {
        let p: Self = birds_core::stage::parse_params(value).map_err(ParamsError::Diagnose)?;
        p.validate()?;
        Ok(p)
    }

    /// Checks ranges; the message names the key.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, why: String| Err(ParamsError::Diagnose(format!("`{key}`: {why}")));
        if !(2..=20).contains(&self.folds) {
            return bad("folds", format!("{} must be 2 to 20", self.folds));
        }
        if !(1..=20).contains(&self.repeats) {
            return bad("repeats", format!("{} must be 1 to 20", self.repeats));
        }
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(
                "lr",
                format!("{} must be a positive number (e.g. 0.002)", self.lr),
            );
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.min_gain) {
            return bad("min_gain", format!("{} must be in [0, 1)", self.min_gain));
        }
        Ok(())
    }
}
