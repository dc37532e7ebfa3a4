//! Typed rows of the evaluate stage's Parquet outputs (`per_class`, `confusion`, `most_confused`,
//! `needs_more_training`, `predictions`; columns in [`birds_core::schema::evaluate`]) and their readers, for the
//! stages downstream of evaluate (explain, report) and for any tool that wants the rows without polars code;
//! `summary.json` ([`SummaryFile`]) and `calibration.json` ([`CalibrationFile`]).

use std::path::Path;

use crate::{Frame, Result};

mod calibration;
mod summary;
pub use calibration::{CALIBRATION_FILE, CalibrationFile, OodInfo, OodMethod};
pub use summary::{
    Averages, CalibrationFigures, CalibrationSummary, OodSplit, OodSummary, Summary, SummaryFile,
    Tta, WeakClass,
};

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

/// Reads `per_class.parquet` (any extra columns are ignored; a missing or mistyped one is an error naming it).
pub fn read_per_class(path: &Path) -> Result<Vec<ClassRow>> {
    let f = Frame::read(path)?;
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
    Ok((0..f.height())
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
        .collect())
}

/// Reads `confusion.parquet` (any extra columns are ignored; a missing or mistyped one is an error naming it).
pub fn read_confusion(path: &Path) -> Result<Vec<Cell>> {
    let f = Frame::read(path)?;
    let (t, p, c) = (
        f.u32_or0("true_id")?,
        f.u32_or0("pred_id")?,
        f.u32_or0("count")?,
    );
    Ok((0..f.height())
        .map(|i| Cell {
            true_id: t[i],
            pred_id: p[i],
            count: c[i],
        })
        .collect())
}

/// Reads `most_confused.parquet` (any extra columns are ignored; a missing or mistyped one is an error naming it).
pub fn read_most_confused(path: &Path) -> Result<Vec<Pair>> {
    let f = Frame::read(path)?;
    let (t, tl, p, pl) = (
        f.u32_or0("true_id")?,
        f.str_req("true_label")?,
        f.u32_or0("pred_id")?,
        f.str_req("pred_label")?,
    );
    let (c, s) = (f.u32_or0("count")?, f.f64_or_nan("share")?);
    Ok((0..f.height())
        .map(|i| Pair {
            true_id: t[i],
            true_label: tl[i].clone(),
            pred_id: p[i],
            pred_label: pl[i].clone(),
            count: c[i],
            share: s[i],
        })
        .collect())
}

/// Reads `needs_more_training.parquet` (any extra columns are ignored; a missing or mistyped one is an error naming it).
pub fn read_needs_more_training(path: &Path) -> Result<Vec<Need>> {
    let f = Frame::read(path)?;
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
    Ok((0..f.height())
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
        .collect())
}

/// Reads `predictions.parquet` (any extra columns are ignored; a missing or mistyped one is an error naming it).
pub fn read_predictions(path: &Path) -> Result<Vec<Prediction>> {
    let f = Frame::read(path)?;
    let (path, root, split) = (f.str_req("path")?, f.str_req("root")?, f.str_req("split")?);
    let (t, p) = (f.u32_or0("true_id")?, f.u32_or0("pred_id")?);
    let (conf, loss) = (f.f64_or_nan("confidence")?, f.f64_or_nan("loss")?);
    Ok((0..f.height())
        .map(|i| Prediction {
            path: path[i].clone(),
            root: root[i].clone(),
            split: split[i].clone(),
            true_id: t[i],
            pred_id: p[i],
            confidence: conf[i],
            loss: loss[i],
        })
        .collect())
}
