//! The `synth` pipeline stage: no inputs; writes the dataset into the stage's output folder, which later stages
//! (e.g. `ingest` with `deps: { data: synth }`) read as a Kaggle-layout data root.

use birds_core::stage::{Stage, StageContext, StageError, StageSpec, parse_params};

use crate::SynthSpec;

/// The built-in `synth` stage (params: [`SynthSpec`]: [`crate::SynthParams`] and [`crate::DatasetShape`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SynthStage;

impl StageSpec for SynthStage {
    fn name(&self) -> &'static str {
        "synth"
    }

    fn about(&self) -> &'static str {
        "draws the demo dataset: procedurally drawn bird species with ground-truth masks, in the Kaggle layout"
    }

    fn inputs(&self) -> &'static [&'static str] {
        &[]
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<(), String> {
        let p: SynthSpec = parse_params(params)?;
        p.validate().map_err(|e| e.to_string())
    }
}

impl Stage for SynthStage {
    fn run(&self, ctx: &StageContext<'_>) -> Result<(), StageError> {
        let spec: SynthSpec =
            parse_params(ctx.params).map_err(|e| format!("stage `{}`: {e}", ctx.name))?;
        let (p, shape) = spec.parts();
        let summary = crate::generate_shaped(&p, &shape, ctx.out_dir)?;
        tracing::info!(stage = ctx.name, images = summary.total(), "synth done");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn checks_params_and_writes_into_out_dir() -> Result<(), StageError> {
        assert!(
            SynthStage
                .check_params(&serde_json::json!({"size": 64}))
                .is_ok()
        );
        let e = SynthStage
            .check_params(&serde_json::json!({"sizes": 64}))
            .err()
            .unwrap_or_default();
        assert!(e.contains("sizes"), "{e}");
        let e = SynthStage
            .check_params(&serde_json::json!({"classes": 0}))
            .err()
            .unwrap_or_default();
        assert!(e.contains("classes"), "{e}");
        assert!(
            SynthStage
                .check_params(&serde_json::json!({"label_errors": 0.02}))
                .is_ok()
        );
        let e = SynthStage
            .check_params(&serde_json::json!({"label_errors": 0.5}))
            .err()
            .unwrap_or_default();
        assert!(e.contains("label_errors"), "{e}");
        let dir = tempfile::tempdir()?;
        let params =
            serde_json::json!({"classes": 2, "train": 2, "valid": 1, "test": 1, "size": 48});
        let inputs = BTreeMap::new();
        let ctx = StageContext {
            name: "synth",
            params: &params,
            inputs: &inputs,
            out_dir: dir.path(),
            root: dir.path(),
        };
        SynthStage.run(&ctx)?;
        let csv = std::fs::read_to_string(dir.path().join("birds.csv"))?;
        assert_eq!(csv.lines().count(), 1 + 2 * 4);
        assert!(dir.path().join("contact_sheet.png").is_file());
        Ok(())
    }
}
