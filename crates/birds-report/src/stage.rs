//! The `report` pipeline stage.
//!
//! ```yaml
//! - name: report
//!   uses: report
//!   deps: { synth: synth, ingest: ingest, preprocess: preprocess, run1: train-feature-extract,
//!           run2: train-fine-tune, run3: train-scratch, evaluate: evaluate, explain: explain }
//!   params: { title: "birds on the demo data" }
//! ```

use birds_core::stage::{Stage, StageContext, StageError, StageSpec};

use crate::load::Inputs;
use crate::params::ReportParams;

/// Input names for training runs, in table order.
pub const RUN_INPUTS: &[&str] = &[
    "run1", "run2", "run3", "run4", "run5", "run6", "run7", "run8",
];

/// Every input the stage accepts (all optional; at least one must be given).
pub const INPUTS: &[&str] = &[
    "synth",
    "ingest",
    "diagnose",
    "preprocess",
    "run1",
    "run2",
    "run3",
    "run4",
    "run5",
    "run6",
    "run7",
    "run8",
    "evaluate",
    "explain",
];

/// `uses: report`: one self-contained `index.html` from the other stages' outputs (params: [`ReportParams`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportStage;

impl StageSpec for ReportStage {
    fn name(&self) -> &'static str {
        "report"
    }

    fn about(&self) -> &'static str {
        "one self-contained HTML page: audit, training curves, comparison, per-class metrics, confusions, Grad-CAM"
    }

    fn inputs(&self) -> &'static [&'static str] {
        &[]
    }

    fn optional_inputs(&self) -> &'static [&'static str] {
        INPUTS
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<(), String> {
        ReportParams::from_json(params).map(|_| ())
    }
}

impl Stage for ReportStage {
    fn run(&self, ctx: &StageContext<'_>) -> Result<(), StageError> {
        let params = ReportParams::from_json(ctx.params)
            .map_err(|e| StageError::from(format!("stage `{}`: {e}", ctx.name)))?;
        let get = |name: &str| ctx.inputs.get(name).cloned();
        let inputs = Inputs {
            synth: get("synth"),
            ingest: get("ingest"),
            preprocess: get("preprocess"),
            runs: RUN_INPUTS
                .iter()
                .filter_map(|n| get(n).map(|p| (n.to_string(), p)))
                .collect(),
            evaluate: get("evaluate"),
            explain: get("explain"),
            diagnose: get("diagnose"),
        };
        let written = crate::report(&inputs, &params, ctx.out_dir)?;
        tracing::info!(stage = ctx.name, bytes = written.bytes, "report stage done");
        Ok(())
    }
}
