//! A training run's learning curves (`history.parquet`, schema `birds_core::schema::train::HISTORY`) and its
//! test predictions (`test_predictions.parquet`, `TEST_PREDICTIONS`).

use std::path::Path;

use birds_core::schema::train::{HISTORY, TEST_PREDICTIONS};
use serde::{Deserialize, Serialize};

use crate::{ArtifactError, Frame, FrameBuilder, Result};

/// One pass over one split in one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    /// 1-based epoch over the whole run.
    pub epoch: u32,
    /// `train` or `valid`.
    pub split: String,
    /// `head-warmup`, `fine-tune`, `feature-extract` or `scratch`.
    pub phase: String,
    /// Mean loss.
    pub loss: f64,
    /// Top-1 accuracy, 0–1.
    pub accuracy: f64,
    /// Head LR at the epoch's last step.
    pub lr: f64,
    /// Throughput of the pass.
    pub images_per_s: f64,
    /// Wall time of the pass.
    pub seconds: f64,
}

/// Writes `history.parquet` atomically, columns in schema order.
pub fn write_history(path: &Path, rows: &[HistoryRow]) -> Result<()> {
    let f64s = |f: fn(&HistoryRow) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let strs = |f: fn(&HistoryRow) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    FrameBuilder::new(&HISTORY, rows.len())
        .set("epoch", rows.iter().map(|r| r.epoch).collect::<Vec<u32>>())
        .set("split", strs(|r| &r.split))
        .set("phase", strs(|r| &r.phase))
        .set("loss", f64s(|r| r.loss))
        .set("accuracy", f64s(|r| r.accuracy))
        .set("lr", f64s(|r| r.lr))
        .set("images_per_s", f64s(|r| r.images_per_s))
        .set("seconds", f64s(|r| r.seconds))
        .write(path)
}

/// Reads `history.parquet` back (nulls in the float columns read as NaN).
pub fn read_history(path: &Path) -> Result<Vec<HistoryRow>> {
    let frame = Frame::read(path)?;
    let epoch = frame.u32_req("epoch")?;
    let split = frame.str_req("split")?;
    let phase = frame.str_req("phase")?;
    let (loss, acc, lr, ips, secs) = (
        frame.f64_or_nan("loss")?,
        frame.f64_or_nan("accuracy")?,
        frame.f64_or_nan("lr")?,
        frame.f64_or_nan("images_per_s")?,
        frame.f64_or_nan("seconds")?,
    );
    Ok((0..frame.height())
        .map(|i| HistoryRow {
            epoch: epoch[i],
            split: split[i].clone(),
            phase: phase[i].clone(),
            loss: loss[i],
            accuracy: acc[i],
            lr: lr[i],
            images_per_s: ips[i],
            seconds: secs[i],
        })
        .collect())
}

/// Writes `test_predictions.parquet` atomically: row i is test image i, its true class and the predicted class.
pub fn write_test_predictions(path: &Path, class_ids: &[u32], predicted: &[u32]) -> Result<()> {
    if class_ids.len() != predicted.len() {
        return Err(ArtifactError::Input(format!(
            "{} labels but {} predictions for {}",
            class_ids.len(),
            predicted.len(),
            path.display()
        )));
    }
    let n = class_ids.len();
    FrameBuilder::new(&TEST_PREDICTIONS, n)
        .set("index", (0..n as u32).collect::<Vec<u32>>())
        .set("class_id", class_ids.to_vec())
        .set("predicted", predicted.to_vec())
        .write(path)
}

/// Reads `test_predictions.parquet`: (true class, predicted class) per test image, in index order. Errors name the
/// file: a missing column, a null, or indices that are not 0, 1, 2, ….
pub fn read_test_predictions(path: &Path) -> Result<Vec<(u32, u32)>> {
    let frame = Frame::read(path)?;
    let (index, class, pred) = (
        frame.u32("index")?,
        frame.u32("class_id")?,
        frame.u32("predicted")?,
    );
    let mut out = Vec::with_capacity(index.len());
    for (i, ((x, c), p)) in index.iter().zip(&class).zip(&pred).enumerate() {
        match (x, c, p) {
            (Some(x), Some(c), Some(p)) if *x as usize == i => out.push((*c, *p)),
            _ => {
                return Err(frame.error(format!("row {i}: null, or `index` out of order")));
            }
        }
    }
    Ok(out)
}
