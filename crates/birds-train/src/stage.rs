//! The pipeline stages `train` and `compare`.
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

use std::path::PathBuf;

use birds_core::stage::{Stage, StageContext, StageError};

use crate::cache_source::CacheSource;
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

    fn run(&self, ctx: &StageContext<'_>) -> Result<(), StageError> {
        let mut params = TrainParams::from_json(ctx.params)?;
        if let Some(w) = ctx.inputs.get("weights") {
            params.weights = Some(w.clone());
        } else if let Some(w) = params.weights.as_mut().filter(|w| w.is_relative()) {
            *w = ctx.root.join(&*w);
        }
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
