//! The built-in pipeline stages, one line per stage: the `uses:` names `birds run` knows. The torch stages are
//! declared here by their `birds-params` declarations and run in `birds-torch` ([`Worker`]).

use birds_core::stage::{Stage, StageContext, StageError, StageProcess, StageSpec};
use birds_params::stages::{DiagnoseSpec, EvaluateSpec, ExplainSpec, TrainSpec};

/// Every built-in stage, in the order `birds stages` lists them.
pub fn builtin() -> Vec<&'static dyn Stage> {
    vec![
        &birds_synth::SynthStage,
        &birds_ingest::IngestStage,
        &birds_preprocess::PreprocessStage,
        &Worker(TrainSpec),
        &Worker(DiagnoseSpec),
        &birds_report::compare::CompareStage,
        &Worker(EvaluateSpec),
        &Worker(ExplainSpec),
        &birds_report::ReportStage,
    ]
}

/// A torch stage: declared by `S`, run by `birds-torch stage REQUEST` in a process of its own, so that libtorch is
/// loaded only there and a crash or a kill of it fails that stage alone.
pub struct Worker<S>(pub S);

impl<S: StageSpec> StageSpec for Worker<S> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn about(&self) -> &'static str {
        self.0.about()
    }

    fn inputs(&self) -> &'static [&'static str] {
        self.0.inputs()
    }

    fn optional_inputs(&self) -> &'static [&'static str] {
        self.0.optional_inputs()
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<(), String> {
        self.0.check_params(params)
    }

    fn implicit_deps(
        &self,
        params: &serde_json::Value,
        inputs: &std::collections::BTreeMap<String, std::path::PathBuf>,
        root: &std::path::Path,
    ) -> Result<Vec<(String, std::path::PathBuf)>, String> {
        self.0.implicit_deps(params, inputs, root)
    }
}

impl<S: StageSpec> Stage for Worker<S> {
    fn run(&self, ctx: &StageContext<'_>) -> Result<(), StageError> {
        Err(format!(
            "stage `{}` ({}) runs in birds-torch, started by the runner",
            ctx.name,
            self.0.name()
        )
        .into())
    }

    fn process(&self) -> Option<StageProcess> {
        let mut args = crate::worker::global_args();
        if !args.iter().any(|a| a.starts_with("-v")) {
            // The log file gets the stage's progress at info level.
            args.push(String::from("-v"));
        }
        args.push(String::from("stage"));
        Some(StageProcess {
            program: crate::worker::program(),
            args,
        })
    }
}
