//! Reading the other stages' output folders into typed data. Each input is optional; a folder that is given must
//! hold the files its stage writes (an error names the input, the folder and the missing file).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use birds_core::schema::{evaluate as ev, explain as ex, train as tr};

use crate::{ReportError, Result};
use birds_artifacts::Frame;

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
}

impl Inputs {
    /// Whether no input is given.
    pub fn is_empty(&self) -> bool {
        self.synth.is_none()
            && self.ingest.is_none()
            && self.preprocess.is_none()
            && self.runs.is_empty()
            && self.evaluate.is_none()
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
    pub summary: birds_train::summary::Summary,
    /// `history.parquet`.
    pub history: Vec<birds_train::history::HistoryRow>,
    /// The training params from `checkpoint.json` (null when absent).
    pub params: serde_json::Value,
    /// `test_predictions.parquet`: (true class, predicted) per test image; None when the run has none (no test
    /// split, or an older birds version).
    pub test_predictions: Option<Vec<(u32, u32)>>,
}

/// A row of `per_class.parquet`.
#[derive(Debug, Clone)]
pub struct ClassRow {
    /// Class id.
    pub class_id: u32,
    /// Label.
    pub label: String,
    /// Training images.
    pub train_images: u32,
    /// Evaluated images.
    pub support: u32,
    /// Predicted as the class.
    pub predicted: u32,
    /// Correct.
    pub correct: u32,
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
    /// Top-5 recall.
    pub top5_recall: f64,
    /// Mean confidence (None without support).
    pub mean_confidence: Option<f64>,
    /// Wilson lower bound (None without support).
    pub recall_lower: Option<f64>,
    /// Most confused with.
    pub most_confused_with: Option<String>,
    /// …how many times.
    pub most_confused_count: u32,
}

/// A non-zero confusion cell.
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    /// True class id.
    pub true_id: u32,
    /// Predicted class id.
    pub pred_id: u32,
    /// Images.
    pub count: u32,
}

/// A row of `most_confused.parquet`.
#[derive(Debug, Clone)]
pub struct Pair {
    /// True class id.
    pub true_id: u32,
    /// True label.
    pub true_label: String,
    /// Predicted class id.
    pub pred_id: u32,
    /// Predicted label.
    pub pred_label: String,
    /// Errors.
    pub count: u32,
    /// Share of the true class's evaluated images.
    pub share: f64,
}

/// A row of `needs_more_training.parquet`.
#[derive(Debug, Clone)]
pub struct Need {
    /// 1 = most in need.
    pub rank: u32,
    /// Label.
    pub label: String,
    /// Evaluated images.
    pub evaluated: u32,
    /// Correct.
    pub correct: u32,
    /// Recall.
    pub recall: f64,
    /// Wilson lower bound.
    pub recall_lower: Option<f64>,
    /// Training images.
    pub train_images: u32,
    /// Main confuser.
    pub main_confuser: Option<String>,
    /// Errors that went to it.
    pub main_confuser_count: u32,
    /// Advice.
    pub next_step: String,
}

/// A row of `predictions.parquet` (the columns the report uses).
#[derive(Debug, Clone)]
pub struct Prediction {
    /// Path relative to the data root.
    pub path: String,
    /// Data root.
    pub root: String,
    /// Split.
    pub split: String,
    /// True class id.
    pub true_id: u32,
    /// Predicted class id.
    pub pred_id: u32,
    /// Probability of the predicted class.
    pub confidence: f64,
    /// Loss.
    pub loss: f64,
}

/// The evaluate stage's outputs.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The folder.
    pub dir: PathBuf,
    /// `summary.json`.
    pub summary: birds_evaluate::SummaryFile,
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

/// A row of `cams.parquet` (the columns the report uses).
#[derive(Debug, Clone)]
pub struct CamRow {
    /// Image path as recorded.
    pub image: String,
    /// Why the image was selected.
    pub selection: String,
    /// Whether the image is in the check sample (localisation and deletion figures).
    pub in_check: bool,
    /// True label.
    pub label: Option<String>,
    /// Top-1 label.
    pub predicted: String,
    /// Its probability.
    pub predicted_prob: f64,
    /// Whether top-1 is right.
    pub correct: Option<bool>,
    /// CAM method.
    pub method: String,
    /// `predicted`, `true` or `class`.
    pub target_kind: String,
    /// Explained class.
    pub target: String,
    /// Its probability.
    pub target_prob: f64,
    /// Energy inside the ground-truth mask.
    pub energy_in_mask: Option<f64>,
    /// Mask area fraction.
    pub mask_area: Option<f64>,
    /// Pointing game hit.
    pub pointing_hit: Option<bool>,
    /// Deletion test: drop with CAM pixels.
    pub drop_cam: Option<f64>,
    /// Deletion test: drop with random pixels.
    pub drop_random: Option<f64>,
    /// Overlay PNG relative to the explain folder.
    pub overlay: Option<String>,
}

/// Localisation figures of one method, from the explain stage's `metrics.json`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Localisation {
    /// Maps counted.
    pub images: usize,
    /// Mean share of map energy inside the mask.
    pub energy_in_mask: f64,
    /// Mean mask area fraction (chance level).
    pub mask_area: f64,
    /// Share of maps whose peak lies inside the mask.
    pub pointing_game: f64,
}

/// Deletion-test figures of one method, from the explain stage's `metrics.json`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Deletion {
    /// Images counted.
    pub images: usize,
    /// Mean probability before deletion.
    pub p_original: f64,
    /// Mean drop after blurring the map's top pixels.
    pub drop_cam: f64,
    /// Mean drop after blurring random pixels.
    pub drop_random: f64,
    /// Mean drop after blurring a random smooth map's top pixels.
    pub drop_blobs: f64,
    /// Share of images where the map's drop beats the random one.
    pub cam_beats_random: f64,
}

/// The parts of the explain stage's `metrics.json` the report shows.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ExplainMetrics {
    /// Localisation per method over correctly classified check images with a mask.
    #[serde(default)]
    pub localisation: BTreeMap<String, Localisation>,
    /// Deletion test per method over the check images.
    #[serde(default)]
    pub deletion: BTreeMap<String, Deletion>,
    /// Fraction of pixels the deletion test blurred (from the params).
    #[serde(default)]
    pub params: serde_json::Value,
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
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::file(path, e))?;
    serde_json::from_str(&text).map_err(|e| ReportError::file(path, e))
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
    Ok(out)
}

fn folder_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// Reads a `train` output folder.
pub fn load_run(input: &str, dir: &Path) -> Result<Run> {
    require(input, dir, birds_train::summary::SUMMARY_FILE)?;
    let summary = birds_train::summary::Summary::read(dir)
        .map_err(|e| ReportError::file(&dir.join(birds_train::summary::SUMMARY_FILE), e))?;
    let history_path = require(input, dir, tr::HISTORY.file)?;
    let history = birds_train::history::read_history(&history_path)
        .map_err(|e| ReportError::file(&history_path, e))?;
    let meta_path = dir.join(birds_models::checkpoint::META_FILE);
    let params = if meta_path.is_file() {
        let meta: serde_json::Value = read_json(&meta_path)?;
        meta.get("params")
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    } else {
        serde_json::Value::Null
    };
    let predictions_path = dir.join(tr::TEST_PREDICTIONS.file);
    let test_predictions = if predictions_path.is_file() {
        Some(
            birds_train::history::read_test_predictions(&predictions_path)
                .map_err(|e| ReportError::file(&predictions_path, e))?,
        )
    } else {
        None
    };
    Ok(Run {
        input: input.into(),
        name: folder_name(dir),
        summary,
        history,
        params,
        test_predictions,
    })
}

/// Reads an `evaluate` output folder.
pub fn load_evaluation(dir: &Path) -> Result<Evaluation> {
    let input = "evaluate";
    let summary: birds_evaluate::SummaryFile = read_json(&require(input, dir, "summary.json")?)?;

    let f = Frame::read(&require(input, dir, ev::PER_CLASS.file)?)?;
    let (ids, labels) = (f.u32_or0("class_id")?, f.str_req("label")?);
    let (train, support) = (f.u32_or0("train_images")?, f.u32_or0("support")?);
    let (predicted, correct) = (f.u32_or0("predicted")?, f.u32_or0("correct")?);
    let (precision, recall, f1, top5) = (
        f.f64_or_nan("precision")?,
        f.f64_or_nan("recall")?,
        f.f64_or_nan("f1")?,
        f.f64_or_nan("top5_recall")?,
    );
    let (conf, lower) = (f.f64("mean_confidence")?, f.f64("recall_lower")?);
    let (mcw, mcc) = (
        f.str("most_confused_with")?,
        f.u32_or0("most_confused_count")?,
    );
    let per_class = (0..f.height())
        .map(|i| ClassRow {
            class_id: ids[i],
            label: labels[i].clone(),
            train_images: train[i],
            support: support[i],
            predicted: predicted[i],
            correct: correct[i],
            precision: precision[i],
            recall: recall[i],
            f1: f1[i],
            top5_recall: top5[i],
            mean_confidence: conf[i],
            recall_lower: lower[i],
            most_confused_with: mcw[i].clone(),
            most_confused_count: mcc[i],
        })
        .collect();

    let f = Frame::read(&require(input, dir, ev::CONFUSION.file)?)?;
    let (t, p, c) = (
        f.u32_or0("true_id")?,
        f.u32_or0("pred_id")?,
        f.u32_or0("count")?,
    );
    let confusion = (0..f.height())
        .map(|i| Cell {
            true_id: t[i],
            pred_id: p[i],
            count: c[i],
        })
        .collect();

    let f = Frame::read(&require(input, dir, ev::MOST_CONFUSED.file)?)?;
    let (t, tl, p, pl) = (
        f.u32_or0("true_id")?,
        f.str_req("true_label")?,
        f.u32_or0("pred_id")?,
        f.str_req("pred_label")?,
    );
    let (c, s) = (f.u32_or0("count")?, f.f64_or_nan("share")?);
    let most_confused = (0..f.height())
        .map(|i| Pair {
            true_id: t[i],
            true_label: tl[i].clone(),
            pred_id: p[i],
            pred_label: pl[i].clone(),
            count: c[i],
            share: s[i],
        })
        .collect();

    let f = Frame::read(&require(input, dir, ev::NEEDS_MORE_TRAINING.file)?)?;
    let (rank, label, evaluated, correct) = (
        f.u32_or0("rank")?,
        f.str_req("label")?,
        f.u32_or0("evaluated")?,
        f.u32_or0("correct")?,
    );
    let (recall, lower, train) = (
        f.f64_or_nan("recall")?,
        f.f64("recall_lower")?,
        f.u32_or0("train_images")?,
    );
    let (conf, conf_n, step) = (
        f.str("main_confuser")?,
        f.u32_or0("main_confuser_count")?,
        f.str_req("next_step")?,
    );
    let needs = (0..f.height())
        .map(|i| Need {
            rank: rank[i],
            label: label[i].clone(),
            evaluated: evaluated[i],
            correct: correct[i],
            recall: recall[i],
            recall_lower: lower[i],
            train_images: train[i],
            main_confuser: conf[i].clone(),
            main_confuser_count: conf_n[i],
            next_step: step[i].clone(),
        })
        .collect();

    let f = Frame::read(&require(input, dir, ev::PREDICTIONS.file)?)?;
    let (path, root, split) = (f.str_req("path")?, f.str_req("root")?, f.str_req("split")?);
    let (t, p) = (f.u32_or0("true_id")?, f.u32_or0("pred_id")?);
    let (conf, loss) = (f.f64_or_nan("confidence")?, f.f64_or_nan("loss")?);
    let predictions = (0..f.height())
        .map(|i| Prediction {
            path: path[i].clone(),
            root: root[i].clone(),
            split: split[i].clone(),
            true_id: t[i],
            pred_id: p[i],
            confidence: conf[i],
            loss: loss[i],
        })
        .collect();

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
    let f = Frame::read(&require("explain", dir, ex::CAMS.file)?)?;
    let (image, selection, in_check, label) = (
        f.str_req("image")?,
        f.str_req("selection")?,
        f.bool("in_check")?,
        f.str("label")?,
    );
    let (predicted, predicted_prob, correct) = (
        f.str_req("predicted")?,
        f.f64_or_nan("predicted_prob")?,
        f.bool("correct")?,
    );
    let (method, kind, target, target_prob) = (
        f.str_req("method")?,
        f.str_req("target_kind")?,
        f.str_req("target")?,
        f.f64_or_nan("target_prob")?,
    );
    let (energy, area, hit) = (
        f.f64("energy_in_mask")?,
        f.f64("mask_area")?,
        f.bool("pointing_hit")?,
    );
    let (drop_cam, drop_random, overlay) =
        (f.f64("drop_cam")?, f.f64("drop_random")?, f.str("overlay")?);
    let cams = (0..f.height())
        .map(|i| CamRow {
            image: image[i].clone(),
            selection: selection[i].clone(),
            in_check: in_check[i].unwrap_or(false),
            label: label[i].clone(),
            predicted: predicted[i].clone(),
            predicted_prob: predicted_prob[i],
            correct: correct[i],
            method: method[i].clone(),
            target_kind: kind[i].clone(),
            target: target[i].clone(),
            target_prob: target_prob[i],
            energy_in_mask: energy[i],
            mask_area: area[i],
            pointing_hit: hit[i],
            drop_cam: drop_cam[i],
            drop_random: drop_random[i],
            overlay: overlay[i].clone(),
        })
        .collect();
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
