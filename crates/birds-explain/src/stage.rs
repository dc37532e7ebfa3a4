//! The explain stage as the pipeline runner sees it.

use birds_core::stage::{Stage, StageContext, StageError};

use crate::params::ExplainParams;
use crate::run::{Inputs, RunOptions, explain};

/// The built-in `explain` stage: inputs `checkpoint` (a train output folder) and `cache` (a preprocess output
/// folder) or `index` (an ingest output folder); optional `evaluation` (an evaluate output folder: its ranking
/// picks the classes) and `masks` (a synth dataset root: ground truth for the localisation check). Params
/// [`ExplainParams`]. Outputs `cams.parquet`, `metrics.json`, `gallery.md`, `overlays/`, `why_not/`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExplainStage;

impl Stage for ExplainStage {
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

    fn run(&self, ctx: &StageContext<'_>) -> Result<(), StageError> {
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
}
