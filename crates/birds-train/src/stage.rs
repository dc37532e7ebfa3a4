//! The pipeline stages `train`, `diagnose` and `compare`.
//!
//! ```yaml
//! - name: train-fine-tune
//!   uses: train
//!   deps: { cache: preprocess }          # the preprocess stage's output folder
//!   params: { mode: fine-tune, epochs: 6 }
//! - name: compare
//!   uses: compare
//!   deps: { run1: train-feature-extract, run2: train-fine-tune, run3: train-scratch }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use birds_core::stage::{Stage, StageContext, StageError};

use crate::cache_source::CacheSource;
use crate::diagnose::{DiagnoseParams, diagnose};
use crate::params::TrainParams;
use crate::summary::compare;
use crate::trainer::{RunOptions, train};

/// `uses: train`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrainStage;

impl Stage for TrainStage {
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

    fn run(&self, ctx: &StageContext<'_>) -> Result<(), StageError> {
        let mut params = TrainParams::from_json(ctx.params)?;
        resolve_weights(ctx, &mut params.weights);
        let cache = ctx.input("cache")?;
        let data = CacheSource::open(cache, params.normalization, params.augment.clone())?;
        let opts = RunOptions {
            resume: false,
            progress: true,
            stop_after_epochs: None,
            root: ctx.root.to_path_buf(),
        };
        let summary = train(&params, &data, ctx.out_dir, &opts)?;
        tracing::info!(
            stage = ctx.name,
            best_val_accuracy = summary.best_val_accuracy,
            test_accuracy = summary.test_accuracy,
            "train done"
        );
        Ok(())
    }
}

/// The `weights` a stage uses: its `weights` input (a dep's folder) when given, else the param, a relative path
/// resolved against the project root.
fn resolve_weights(ctx: &StageContext<'_>, weights: &mut Option<PathBuf>) {
    if let Some(w) = ctx.inputs.get("weights") {
        *weights = Some(w.clone());
    } else if let Some(w) = weights.as_mut().filter(|w| w.is_relative()) {
        *w = ctx.root.join(&*w);
    }
}

/// `uses: diagnose`: the label-issue finder and the per-class learning curves on the cached pretrained embeddings
/// of a preprocess cache ([`crate::diagnose`]).
///
/// Inputs: `cache` (a preprocess output folder); optional `weights`. Params: [`DiagnoseParams`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DiagnoseStage;

impl Stage for DiagnoseStage {
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

    fn run(&self, ctx: &StageContext<'_>) -> Result<(), StageError> {
        let mut params = DiagnoseParams::from_json(ctx.params)?;
        resolve_weights(ctx, &mut params.weights);
        let opts = RunOptions {
            resume: false,
            progress: true,
            stop_after_epochs: None,
            root: ctx.root.to_path_buf(),
        };
        let summary = diagnose(ctx.input("cache")?, &params, ctx.out_dir, &opts)?;
        tracing::info!(
            stage = ctx.name,
            label_issues = summary.label_issues,
            "diagnose done"
        );
        Ok(())
    }
}

/// Names of the compare stage's inputs, in table order.
pub const COMPARE_INPUTS: &[&str] = &[
    "run1", "run2", "run3", "run4", "run5", "run6", "run7", "run8",
];

/// `uses: compare`: gathers train runs' `summary.json` into `comparison.parquet` and `comparison.md`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompareStage;

impl Stage for CompareStage {
    fn name(&self) -> &'static str {
        "compare"
    }

    fn about(&self) -> &'static str {
        "tabulate several train runs (mode, model, epochs, wall time, best val and test accuracy)"
    }

    fn inputs(&self) -> &'static [&'static str] {
        &[]
    }

    fn optional_inputs(&self) -> &'static [&'static str] {
        COMPARE_INPUTS
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<(), String> {
        match params {
            serde_json::Value::Null => Ok(()),
            serde_json::Value::Object(m) if m.is_empty() => Ok(()),
            _ => Err("compare takes no params; list the runs under `deps:` as run1 … run8".into()),
        }
    }

    fn run(&self, ctx: &StageContext<'_>) -> Result<(), StageError> {
        let runs: Vec<PathBuf> = COMPARE_INPUTS
            .iter()
            .filter_map(|name| ctx.inputs.get(*name).cloned())
            .collect();
        if runs.is_empty() {
            return Err(format!(
                "stage `{}`: give the train runs to compare under `deps:` (run1: <stage>, run2: …)",
                ctx.name
            )
            .into());
        }
        compare(&runs, ctx.out_dir)?;
        Ok(())
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
            TrainStage.implicit_deps(&params, inputs, root)
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
