//! Params of the `evaluate` stage (the same keys as the `birds evaluate` flags).

use birds_core::Split;
use birds_core::model::DeviceSpec;
use birds_core::stage::closed_set;
use serde::{Deserialize, Serialize};

use crate::{ParamsError, Result};

pub use birds_artifacts::evaluate::Tta;

/// Params of an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluateParams {
    /// Splits evaluated together (default `valid` and `test`).
    pub splits: Vec<Split>,
    /// Test-time augmentation.
    pub tta: Tta,
    /// Images per forward pass.
    pub batch_size: usize,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    #[serde(serialize_with = "closed_set::display", deserialize_with = "de_device")]
    pub device: DeviceSpec,
    /// Images in the top-losses grid.
    pub top_losses: usize,
    /// Classes in the confusion heatmap: all of them up to this many, else the submatrix of this many
    /// most-confused classes.
    pub confusion_classes: usize,
    /// Fewest errors for a pair to be listed in `most_confused` (fastai's `min_val`).
    pub min_confused: u64,
    /// Fit a temperature on the valid split (read even when `splits` leaves it out) and report calibrated
    /// probabilities; `false`: the network's own softmax, marked uncalibrated.
    pub calibrate: bool,
    /// Fit the out-of-distribution detector (class means and covariance of the training images' embeddings, the
    /// threshold on the valid split) and score every evaluated image.
    pub ood: bool,
    /// The quantile of the valid split's scores that becomes the detector's threshold.
    pub ood_quantile: f64,
    /// Training images per class the detector is fitted on (the first in cache order; BIRDS 525: 100 × 525).
    pub ood_images_per_class: usize,
}

fn de_device<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<DeviceSpec, D::Error> {
    closed_set::parse(d, "device")
}

impl Default for EvaluateParams {
    fn default() -> Self {
        Self {
            splits: vec![Split::Valid, Split::Test],
            tta: Tta::None,
            batch_size: 64,
            device: DeviceSpec::Auto,
            top_losses: 16,
            confusion_classes: 40,
            min_confused: 1,
            calibrate: true,
            ood: true,
            ood_quantile: 0.99,
            ood_images_per_class: 100,
        }
    }
}

impl EvaluateParams {
    /// Checks ranges; the message names the key.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, why: String| Err(ParamsError::Evaluate(format!("{key}: {why}")));
        if self.splits.is_empty() {
            return bad("splits", "at least one split (e.g. [valid, test])".into());
        }
        let mut seen = self.splits.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != self.splits.len() {
            return bad("splits", format!("{:?} lists a split twice", self.splits));
        }
        if !(1..=4096).contains(&self.batch_size) {
            return bad(
                "batch_size",
                format!("{} is out of range 1..=4096", self.batch_size),
            );
        }
        if self.top_losses > 100 {
            return bad(
                "top_losses",
                format!("{} is out of range 0..=100", self.top_losses),
            );
        }
        if !(2..=100).contains(&self.confusion_classes) {
            return bad(
                "confusion_classes",
                format!("{} is out of range 2..=100", self.confusion_classes),
            );
        }
        if self.min_confused == 0 {
            return bad("min_confused", "must be at least 1".into());
        }
        if !(self.ood_quantile > 0.5 && self.ood_quantile < 1.0) {
            return bad(
                "ood_quantile",
                format!("{} must be in (0.5, 1), e.g. 0.99", self.ood_quantile),
            );
        }
        if self.ood_images_per_class == 0 {
            return bad("ood_images_per_class", "must be at least 1".into());
        }
        Ok(())
    }

    /// The evaluated splits joined by `+` (e.g. `valid+test`), for titles.
    pub fn splits_label(&self) -> String {
        self.splits
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("+")
    }

    /// Parses and validates params given as JSON (the pipeline's form).
    pub fn from_json(value: &serde_json::Value) -> std::result::Result<Self, String> {
        let params: Self = birds_core::stage::parse_params(value)
            .map_err(|e| ParamsError::Evaluate(e).to_string())?;
        params.validate().map_err(|e| e.to_string())?;
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_unknown_keys_and_ranges() {
        let p = EvaluateParams::from_json(&serde_json::json!({})).unwrap_or_default();
        assert_eq!(p.splits, vec![Split::Valid, Split::Test]);
        let p = EvaluateParams::from_json(&serde_json::json!({"splits": ["test"], "tta": "flip"}))
            .unwrap_or_default();
        assert_eq!((p.splits, p.tta), (vec![Split::Test], Tta::Flip));
        let e = EvaluateParams::from_json(&serde_json::json!({"batchsize": 3})).err();
        assert!(e.is_some_and(|e| e.contains("batchsize")));
        let e = EvaluateParams::from_json(&serde_json::json!({"batch_size": 0})).err();
        assert!(e.is_some_and(|e| e.contains("batch_size")));
        let e = EvaluateParams::from_json(&serde_json::json!({"splits": []})).err();
        assert!(e.is_some_and(|e| e.contains("splits")));
        let e = EvaluateParams::from_json(&serde_json::json!({"splits": ["test", "test"]})).err();
        assert!(e.is_some_and(|e| e.contains("twice")));
        let e = EvaluateParams::from_json(&serde_json::json!({"device": "tpu"})).err();
        assert!(e.is_some_and(|e| e.contains("device")));
        assert!("mirror".parse::<Tta>().is_err());
        let e = EvaluateParams::from_json(&serde_json::json!({"ood_quantile": 1.0})).err();
        assert!(e.is_some_and(|e| e.contains("ood_quantile") && e.contains("(0.5, 1)")));
        let e = EvaluateParams::from_json(&serde_json::json!({"ood_images_per_class": 0})).err();
        assert!(e.is_some_and(|e| e.contains("ood_images_per_class")));
    }
}
