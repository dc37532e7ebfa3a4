//! Reading the other stages' output folders into typed data. Each input is optional; a folder that is given must
//! hold the files its stage writes (an error names the input, the folder and the missing file).

use std::path::{Path, PathBuf};

use birds_artifacts::train::summary as trs;
use birds_core::schema::{evaluate as schema, explain as ex, train as tr};

use crate::{ReportError, Result};
pub use birds_artifacts::evaluate::{self as ev, Cell, ClassRow, Need, Pair, Prediction};
pub use birds_artifacts::explain::{
    CamRow, DeletionSummary as Deletion, ExplainMetrics, LocalisationFigures as Localisation,
};

/// The stage folders a report reads. Every one is optional; at least one must be given.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// A `synth` output folder (the demo dataset: `synth.json`).
    pub synth: Option<PathBuf>,
    /// An `ingest` output folder (`report.json`).
    pub ingest: Option<PathBuf>,
    /// A `preprocess` output folder (`cache.json`).
    pub preprocess: Option<PathBuf>,
    /// Training runs: (input name, `train` output folder), in table order.
    pub runs: Vec<(String, PathBuf)>,
    /// An `evaluate` output folder.
    pub evaluate: Option<PathBuf>,
    /// An `explain` output folder.
    pub explain: Option<PathBuf>,
    /// A `diagnose` output folder (suspected label errors, learning curves).
    pub diagnose: Option<PathBuf>,
}

impl Inputs {
    /// Whether no input is given.
    pub fn is_empty(&self) -> bool {
        self.synth.is_none()
            && self.ingest.is_none()
            && self.preprocess.is_none()
            && self.runs.is_empty()
            && self.evaluate.is_none()
            && self.diagnose.is_none()
            && self.explain.is_none()
    }
}

/// A params record of an upstream stage (`synth.json`, `cache.json`, `checkpoint.json`…).
#[derive(Debug, Clone)]
pub struct StageParams {
    /// Which stage (`synth`, `preprocess`, the run name…).
    pub stage: String,
    /// The file the params come from.
    pub source: String,
    /// Its params.
    pub params: serde_json::Value,
}

/// One training run.
#[derive(Debug, Clone)]
pub struct Run {
    /// The input name (`run1`…).
    pub input: String,
    /// The run folder's name (`train-fine-tune`).
    pub name: String,
    /// `summary.json`.
    pub summary: birds_artifacts::train::summary::Summary,
    /// `history.parquet`.
    pub history: Vec<birds_artifacts::train::history::HistoryRow>,
    /// The training params from `checkpoint.json` (null when absent).
    pub params: serde_json::Value,
    /// The tch and libtorch versions from `checkpoint.json` (None when absent, as in checkpoints written before
    /// birds recorded them).
    pub runtime: Option<birds_core::runtime::TorchVersions>,
    /// `test_predictions.parquet`: (true class, predicted) per test image; None when the run has none (no test
    /// split, or an older birds version).
    pub test_predictions: Option<Vec<(u32, u32)>>,
}

/// The evaluate stage's outputs.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The folder.
    pub dir: PathBuf,
    /// `summary.json`.
    pub summary: ev::SummaryFile,
    /// `per_class.parquet`, class-id order.
    pub per_class: Vec<ClassRow>,
    /// `confusion.parquet`.
    pub confusion: Vec<Cell>,
    /// `most_confused.parquet`.
    pub most_confused: Vec<Pair>,
    /// `needs_more_training.parquet`.
    pub needs: Vec<Need>,
    /// `predictions.parquet`.
    pub predictions: Vec<Prediction>,
}

/// The explain stage's outputs.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The folder.
    pub dir: PathBuf,
    /// `cams.parquet`.
    pub cams: Vec<CamRow>,
    /// `metrics.json` when present.
    pub metrics: Option<ExplainMetrics>,
}

/// Everything read from the inputs.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Params of the upstream stages, pipeline order.
    pub params: Vec<StageParams>,
    /// The ingest audit.
    pub ingest: Option<birds_ingest::Report>,
    /// Training runs, input order.
    pub runs: Vec<Run>,
    /// The evaluation.
    pub evaluation: Option<Evaluation>,
    /// The Grad-CAM maps.
    pub explanation: Option<Explanation>,
    /// The diagnose stage's outputs.
    pub diagnosis: Option<Diagnosis>,
    /// The inputs as given: (name, folder).
    pub inputs: Vec<(String, PathBuf)>,
}

fn require(input: &str, dir: &Path, file: &str) -> Result<PathBuf> {
    let path = dir.join(file);
    if path.is_file() {
        Ok(path)
    } else {
        Err(ReportError::Input {
            input: input.into(),
            dir: dir.to_path_buf(),
            reason: format!("no {file} (is this the output folder of the `{input}` stage?)"),
        })
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    Ok(birds_artifacts::json::read_json(path)?)
}

fn params_of(stage: &str, dir: &Path, file: &str) -> Result<StageParams> {
    let path = require(stage, dir, file)?;
    let value: serde_json::Value = read_json(&path)?;
    Ok(StageParams {
        stage: stage.into(),
        source: file.into(),
        params: value
            .get("params")
            .cloned()
            .unwrap_or(serde_json::Value::Null),
    })
}

/// Reads every given input.
pub fn load(inputs: &Inputs) -> Result<Loaded> {
    if inputs.is_empty() {
        return Err(ReportError::NoInputs);
    }
    let mut out = Loaded::default();
    let single = |name: &str, dir: &Option<PathBuf>| {
        dir.as_ref()
            .map(|d| vec![(name.to_string(), d.clone())])
            .unwrap_or_default()
    };
    out.inputs = [
        single("synth", &inputs.synth),
        single("ingest", &inputs.ingest),
        single("preprocess", &inputs.preprocess),
        inputs.runs.clone(),
        single("evaluate", &inputs.evaluate),
        single("explain", &inputs.explain),
    ]
    .concat();

    if let Some(dir) = &inputs.synth {
        out.params.push(params_of("synth", dir, "synth.json")?);
    }
    if let Some(dir) = &inputs.ingest {
        let report: birds_ingest::Report = read_json(&require("ingest", dir, "report.json")?)?;
        out.params.push(StageParams {
            stage: "ingest".into(),
            source: "report.json".into(),
            params: serde_json::to_value(&report.params).unwrap_or_default(),
        });
        out.ingest = Some(report);
    }
    if let Some(dir) = &inputs.preprocess {
        out.params.push(params_of("preprocess", dir, "cache.json")?);
    }
    for (input, dir) in &inputs.runs {
        let run = load_run(input, dir)?;
        out.params.push(StageParams {
            stage: run.name.clone(),
            source: "checkpoint.json".into(),
            params: run.params.clone(),
        });
        out.runs.push(run);
    }
    if let Some(dir) = &inputs.evaluate {
        let e = load_evaluation(dir)?;
        out.params.push(StageParams {
            stage: "evaluate".into(),
            source: "summary.json".into(),
            params: serde_json::json!({
                "checkpoint": e.summary.checkpoint,
                "splits": e.summary.splits,
                "tta": e.summary.tta,
            }),
        });
        out.evaluation = Some(e);
    }
    if let Some(dir) = &inputs.explain {
        out.explanation = Some(load_explanation(dir)?);
    }
    if let Some(dir) = &inputs.diagnose {
        out.diagnosis = Some(load_diagnosis(dir)?);
    }
    Ok(out)
}

/// The diagnose stage's outputs.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// The folder.
    pub dir: PathBuf,
    /// `label_issues.parquet`, most suspect first.
    pub issues: Vec<birds_artifacts::diagnose::LabelIssueRow>,
    /// `class_diagnosis.parquet`, class-id order.
    pub classes: Vec<birds_artifacts::diagnose::ClassDiagnosisRow>,
}

/// Reads a `diagnose` output folder.
pub fn load_diagnosis(dir: &Path) -> Result<Diagnosis> {
    use birds_core::schema::diagnose::{CLASS_DIAGNOSIS, LABEL_ISSUES};
    let issues = birds_artifacts::diagnose::read_label_issues(&require(
        "diagnose",
        dir,
        LABEL_ISSUES.file,
    )?)?;
    let classes = birds_artifacts::diagnose::read_class_diagnosis(&require(
        "diagnose",
        dir,
        CLASS_DIAGNOSIS.file,
    )?)?;
    Ok(Diagnosis {
        dir: dir.to_path_buf(),
        issues,
        classes,
    })
}

fn folder_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// Reads a `train` output folder.
pub fn load_run(input: &str, dir: &Path) -> Result<Run> {
    require(input, dir, trs::SUMMARY_FILE)?;
    let summary = trs::Summary::read(dir)?;
    let history_path = require(input, dir, tr::HISTORY.file)?;
    let history = birds_artifacts::train::history::read_history(&history_path)?;
    let meta_path = dir.join(tr::CHECKPOINT_META_FILE);
    let (params, runtime) = if meta_path.is_file() {
        let meta: serde_json::Value = read_json(&meta_path)?;
        let params = meta
            .get("params")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        let runtime = match meta.get("runtime") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(
                serde_json::from_value(v.clone())
                    .map_err(|e| ReportError::file(&meta_path, format!("runtime: {e}")))?,
            ),
        };
        (params, runtime)
    } else {
        (serde_json::Value::Null, None)
    };
    let predictions_path = dir.join(tr::TEST_PREDICTIONS.file);
    let test_predictions = if predictions_path.is_file() {
        Some(birds_artifacts::train::history::read_test_predictions(
            &predictions_path,
        )?)
    } else {
        None
    };
    Ok(Run {
        input: input.into(),
        name: folder_name(dir),
        summary,
        history,
        params,
        runtime,
        test_predictions,
    })
}

/// Reads an `evaluate` output folder.
pub fn load_evaluation(dir: &Path) -> Result<Evaluation> {
    let input = "evaluate";
    let summary: ev::SummaryFile = read_json(&require(input, dir, "summary.json")?)?;

    let per_class = ev::read_per_class(&require(input, dir, schema::PER_CLASS.file)?)?;
    let confusion = ev::read_confusion(&require(input, dir, schema::CONFUSION.file)?)?;
    let most_confused = ev::read_most_confused(&require(input, dir, schema::MOST_CONFUSED.file)?)?;
    let needs =
        ev::read_needs_more_training(&require(input, dir, schema::NEEDS_MORE_TRAINING.file)?)?;
    let predictions = ev::read_predictions(&require(input, dir, schema::PREDICTIONS.file)?)?;

    Ok(Evaluation {
        dir: dir.to_path_buf(),
        summary,
        per_class,
        confusion,
        most_confused,
        needs,
        predictions,
    })
}

/// Reads an `explain` output folder.
pub fn load_explanation(dir: &Path) -> Result<Explanation> {
    let cams = birds_artifacts::explain::read_cams(&require("explain", dir, ex::CAMS.file)?)?;
    let metrics_path = dir.join("metrics.json");
    let metrics = if metrics_path.is_file() {
        Some(read_json(&metrics_path)?)
    } else {
        None
    };
    Ok(Explanation {
        dir: dir.to_path_buf(),
        cams,
        metrics,
    })
}
