//! The built-in pipeline stages, one line per stage: the `uses:` names `birds run` knows.

use birds_core::stage::Stage;

/// Every built-in stage, in the order `birds stages` lists them.
pub fn builtin() -> Vec<&'static dyn Stage> {
    vec![
        &birds_synth::SynthStage,
        &birds_ingest::IngestStage,
        &birds_preprocess::PreprocessStage,
        &birds_train::stage::TrainStage,
        &birds_train::stage::DiagnoseStage,
        &birds_train::stage::CompareStage,
        &birds_evaluate::EvaluateStage,
        &birds_explain::ExplainStage,
        &birds_report::ReportStage,
    ]
}
