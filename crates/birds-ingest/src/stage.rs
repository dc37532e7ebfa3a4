//! The ingest stage as the pipeline runner sees it.

use birds_core::stage::{Stage, StageContext, StageError, StageSpec};

use crate::params::IngestParams;

/// The built-in `ingest` stage: input `data` (the dataset root), params [`IngestParams`], outputs
/// `images.parquet`, `classes.parquet`, `report.json`, `report.md`.
#[derive(Debug, Clone, Copy, Default)]
pub struct IngestStage;

impl StageSpec for IngestStage {
    fn name(&self) -> &'static str {
        "ingest"
    }

    fn about(&self) -> &'static str {
        "index a bird dataset into images.parquet/classes.parquet and audit it (bad files, label spellings, CSV mismatches, duplicates and leakage)"
    }

    fn inputs(&self) -> &'static [&'static str] {
        &["data"]
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<(), String> {
        IngestParams::from_json(params).map(|_| ())
    }
}

impl Stage for IngestStage {
    fn run(&self, ctx: &StageContext<'_>) -> Result<(), StageError> {
        let params = IngestParams::from_json(ctx.params)
            .map_err(|e| StageError::from(format!("stage `{}`: {e}", ctx.name)))?;
        let data = ctx.input("data")?;
        let data = if data.is_absolute() {
            data.to_path_buf()
        } else {
            ctx.root.join(data)
        };
        crate::ingest(&data, ctx.out_dir, &params)?;
        Ok(())
    }
}
