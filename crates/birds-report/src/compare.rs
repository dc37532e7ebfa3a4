//! The `compare` pipeline stage: several train runs' `summary.json` in one table.
//!
//! ```yaml
//! - name: compare
//!   uses: compare
//!   deps: { run1: train-feature-extract, run2: train-fine-tune, run3: train-scratch }
//! ```

use std::path::PathBuf;

use birds_core::stage::{Stage, StageContext, StageError, StageSpec};

/// Names of the compare stage's inputs, in table order.
pub const COMPARE_INPUTS: &[&str] = &[
    "run1", "run2", "run3", "run4", "run5", "run6", "run7", "run8",
];

/// `uses: compare`: gathers train runs' `summary.json` into `comparison.parquet` and `comparison.md`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompareStage;

impl StageSpec for CompareStage {
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
}

impl Stage for CompareStage {
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
        birds_artifacts::train::summary::compare(&runs, ctx.out_dir)?;
        Ok(())
    }
}
