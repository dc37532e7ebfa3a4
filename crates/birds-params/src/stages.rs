//! The declarations of the torch stages: what `birds run`, `birds status` and `birds dag` need to know of them
//! (inputs, params, implicit deps) without loading libtorch. The work is in the engine crates; `birds-torch` runs
//! it in a process of its own.
//!
//! ```yaml
//! - name: train-fine-tune
//!   uses: train
//!   deps: { cache: preprocess }          # the preprocess stage's output folder
//!   params: { mode: fine-tune, epochs: 6 }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use birds_core::stage::StageSpec;

use crate::diagnose::DiagnoseParams;
use crate::evaluate::EvaluateParams;
use crate::explain::ExplainParams;
use crate::train::TrainParams;

/// `uses: train`: train a classifier on a preprocess cache. Inputs: `cache` (a preprocess output folder); optional
/// `weights`. Params: [`TrainParams`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TrainSpec;

impl StageSpec for TrainSpec {
    fn name(&self) -> &'static str {
        "train"
    }

    fn about(&self) -> &'static str {
        "train a classifier on the preprocess cache: feature-extract, fine-tune or scratch (checkpoint, history, curves)"
    }

    fn inputs(&self) -> &'static [&'static str] {
        &["cache"]
    }

    fn optional_inputs(&self) -> &'static [&'static str] {
        &["weights"]
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<(), String> {
        TrainParams::from_json(params)
            .and_then(|p| p.resolved().map(|_| ()))
            .map_err(|e| e.to_string())
    }

    /// The pretrained weights the run loads (feature-extract, fine-tune) when no `weights` input names them: the
    /// `weights:` param (relative to the project root) or the default `BIRDS_WEIGHTS` / venv file. Scratch: none.
    fn implicit_deps(
        &self,
        params: &serde_json::Value,
        inputs: &BTreeMap<String, PathBuf>,
        root: &Path,
    ) -> Result<Vec<(String, PathBuf)>, String> {
        if inputs.contains_key("weights") {
            return Ok(Vec::new());
        }
        let mut params = TrainParams::from_json(params).map_err(|e| e.to_string())?;
        if let Some(w) = params.weights.as_mut().filter(|w| w.is_relative()) {
            *w = root.join(&*w);
        }
        let resolved = params.resolved().map_err(|e| e.to_string())?;
        Ok(resolved
            .weights
            .map(|w| vec![(String::from("weights"), w)])
            .unwrap_or_default())
    }
}

/// `uses: diagnose`: the label-issue finder and the per-class learning curves on the cached pretrained embeddings
/// of a preprocess cache (`birds_train::diagnose`).
///
/// Inputs: `cache` (a preprocess output folder); optional `weights`. Params: [`DiagnoseParams`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DiagnoseSpec;

impl StageSpec for DiagnoseSpec {
    fn name(&self) -> &'static str {
        "diagnose"
    }

    fn about(&self) -> &'static str {
        "suspected label errors (confident learning) and per-class learning curves from heads on cached features"
    }

    fn inputs(&self) -> &'static [&'static str] {
        &["cache"]
    }

    fn optional_inputs(&self) -> &'static [&'static str] {
        &["weights"]
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<(), String> {
        DiagnoseParams::from_json(params)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// `uses: evaluate`: run a trained checkpoint over the valid and test images of a cache and writes the
/// per-class report, confusion, calibration, top losses and the "needs more training" ranking.
///
/// Inputs: `checkpoint` (a train output folder), `cache` (a preprocess output folder), optional `index` (an ingest
/// output folder, for training-image counts; optional `diagnosis` (a diagnose output folder, for the label issues
/// and learning curves in the advice). Params: [`EvaluateParams`].
#[derive(Debug, Clone, Copy, Default)]
pub struct EvaluateSpec;

impl StageSpec for EvaluateSpec {
    fn name(&self) -> &'static str {
        "evaluate"
    }

    fn about(&self) -> &'static str {
        "per-class report, confusion, calibration, top losses and the classes needing more training"
    }

    fn inputs(&self) -> &'static [&'static str] {
        &["checkpoint", "cache"]
    }

    fn optional_inputs(&self) -> &'static [&'static str] {
        &["index", "diagnosis"]
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<(), String> {
        EvaluateParams::from_json(params).map(|_| ())
    }
}

/// The built-in `explain` stage: inputs `checkpoint` (a train output folder) and `cache` (a preprocess output
/// folder) or `index` (an ingest output folder); optional `evaluation` (an evaluate output folder: its ranking
/// picks the classes) and `masks` (a synth dataset root: ground truth for the localisation check). Params
/// [`ExplainParams`]. Outputs `cams.parquet`, `metrics.json`, `gallery.md`, `overlays/`, `why_not/`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExplainSpec;

impl StageSpec for ExplainSpec {
    fn name(&self) -> &'static str {
        "explain"
    }

    fn about(&self) -> &'static str {
        "Grad-CAM/Grad-CAM++ overlays for the weakest classes, cams.parquet, a gallery, and checks: energy in the bird mask, pointing game, deletion test"
    }

    fn inputs(&self) -> &'static [&'static str] {
        &["checkpoint"]
    }

    fn optional_inputs(&self) -> &'static [&'static str] {
        &["cache", "index", "evaluation", "masks"]
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<(), String> {
        ExplainParams::from_json(params).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn implicit_deps_name_the_pretrained_weights_a_run_loads() {
        let root = Path::new("/proj");
        let none = BTreeMap::new();
        let deps = |params: serde_json::Value, inputs: &BTreeMap<String, PathBuf>| {
            TrainSpec.implicit_deps(&params, inputs, root)
        };
        assert_eq!(
            deps(
                json!({"mode": "fine-tune", "weights": "w/lite0.safetensors"}),
                &none
            ),
            Ok(vec![(
                String::from("weights"),
                PathBuf::from("/proj/w/lite0.safetensors")
            )])
        );
        assert_eq!(
            deps(json!({"mode": "feature-extract"}), &none),
            Ok(vec![(
                String::from("weights"),
                birds_core::paths::default_weights()
            )])
        );
        assert_eq!(deps(json!({"mode": "scratch"}), &none), Ok(Vec::new()));
        let given = BTreeMap::from([(String::from("weights"), PathBuf::from("/w.safetensors"))]);
        assert_eq!(
            deps(json!({"mode": "fine-tune"}), &given),
            Ok(Vec::new()),
            "a `weights` dep is hashed as a dep already"
        );
    }
}
