//! The `evaluate` pipeline stage.

use birds_core::stage::{Stage, StageContext, StageError};

use crate::params::EvaluateParams;
use crate::run::{Inputs, RunOptions, evaluate};

/// `uses: evaluate`: runs a trained checkpoint over the valid and test images of a cache and writes the
/// per-class report, confusion, calibration, top losses and the "needs more training" ranking.
///
/// Inputs: `checkpoint` (a train output folder), `cache` (a preprocess output folder), optional `index` (an ingest
/// output folder, for training-image counts; optional `diagnosis` (a diagnose output folder, for the label issues
/// and learning curves in the advice). Params: [`EvaluateParams`].
#[derive(Debug, Clone, Copy, Default)]
pub struct EvaluateStage;

impl Stage for EvaluateStage {
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

    fn run(&self, ctx: &StageContext<'_>) -> Result<(), StageError> {
        let params = EvaluateParams::from_json(ctx.params)
            .map_err(|e| StageError::from(format!("stage `{}`: {e}", ctx.name)))?;
        let inputs = Inputs {
            checkpoint: ctx.input("checkpoint")?.to_path_buf(),
            cache: ctx.input("cache")?.to_path_buf(),
            index: ctx.inputs.get("index").cloned(),
            diagnosis: ctx.inputs.get("diagnosis").cloned(),
        };
        let summary = evaluate(&inputs, ctx.out_dir, &params, RunOptions { progress: true })?;
        tracing::info!(
            stage = ctx.name,
            images = summary.overall.images,
            accuracy = summary.overall.accuracy,
            "evaluate stage done"
        );
        Ok(())
    }
}
