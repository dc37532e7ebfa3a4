//! The work of the `evaluate` pipeline stage (its declaration is `birds_params::stages::EvaluateSpec`).

use birds_core::stage::{StageContext, StageError};

use crate::params::EvaluateParams;
use crate::run::{Inputs, RunOptions, evaluate};

/// `uses: evaluate`: runs the `checkpoint` input over the valid and test images of the `cache` input and writes the
/// per-class report, confusion, calibration, top losses and the "needs more training" ranking.
pub fn run(ctx: &StageContext<'_>) -> Result<(), StageError> {
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
