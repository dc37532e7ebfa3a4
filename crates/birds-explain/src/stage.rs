//! The work of the `explain` pipeline stage (its declaration is `birds_params::stages::ExplainSpec`).

use birds_core::stage::{StageContext, StageError};

use crate::params::ExplainParams;
use crate::run::{Inputs, RunOptions, explain};

/// `uses: explain`: inputs `checkpoint` (a train output folder) and `cache` (a preprocess output folder) or `index`
/// (an ingest output folder); optional `evaluation` (an evaluate output folder: its ranking picks the classes) and
/// `masks` (a synth dataset root: ground truth for the localisation check). Outputs `cams.parquet`,
/// `metrics.json`, `gallery.md`, `overlays/`, `why_not/`.
pub fn run(ctx: &StageContext<'_>) -> Result<(), StageError> {
    let params = ExplainParams::from_json(ctx.params)
        .map_err(|e| StageError::from(format!("stage `{}`: {e}", ctx.name)))?;
    let resolve = |p: &std::path::Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            ctx.root.join(p)
        }
    };
    let optional = |name: &str| ctx.inputs.get(name).map(|p| resolve(p));
    let inputs = Inputs {
        checkpoint: resolve(ctx.input("checkpoint")?),
        cache: optional("cache"),
        index: optional("index"),
        evaluation: optional("evaluation"),
        masks: optional("masks"),
        root: ctx.root.to_path_buf(),
    };
    if inputs.cache.is_none() && inputs.index.is_none() && params.images.is_empty() {
        return Err(StageError::from(format!(
            "stage `{}`: give a `cache` or `index` input (or image paths in params.images)",
            ctx.name
        )));
    }
    explain(&inputs, &params, ctx.out_dir, RunOptions { progress: true })?;
    Ok(())
}
