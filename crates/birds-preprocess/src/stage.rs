//! The `preprocess` pipeline stage.

use birds_core::stage::{Stage, StageContext, StageError, StageSpec};

use crate::params::PreprocessParams;
use crate::write::{RunOptions, preprocess};

/// `uses: preprocess`: decodes and resizes the images of `images.parquet` once into a memory-mapped cache.
///
/// Input `index`: the ingest stage's output folder (or its `images.parquet`). Params: [`PreprocessParams`].
/// Outputs: `shard-NNNNN.safetensors`, `preprocessed.parquet`, `failures.json`, `cache.json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PreprocessStage;

impl StageSpec for PreprocessStage {
    fn name(&self) -> &'static str {
        "preprocess"
    }

    fn about(&self) -> &'static str {
        "decode and resize images once into uint8 shards for fast, augmenting batch loading"
    }

    fn inputs(&self) -> &'static [&'static str] {
        &["index"]
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<(), String> {
        PreprocessParams::from_json(params).map(|_| ())
    }
}

impl Stage for PreprocessStage {
    fn run(&self, ctx: &StageContext<'_>) -> Result<(), StageError> {
        let params = PreprocessParams::from_json(ctx.params)
            .map_err(|e| StageError::from(format!("stage `{}`: {e}", ctx.name)))?;
        let index = ctx.input("index")?;
        let summary = preprocess(
            index,
            ctx.out_dir,
            &params,
            RunOptions {
                progress: true,
                threads: 0,
            },
        )?;
        tracing::info!(
            stage = ctx.name,
            images = summary.images,
            failures = summary.failures + summary.skipped_ingest,
            "preprocess stage done"
        );
        Ok(())
    }
}
