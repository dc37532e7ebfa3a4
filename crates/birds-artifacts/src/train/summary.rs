//! `summary.json` of a training run, and the comparison of several runs (`comparison.parquet` +
//! `comparison.md`): objective 1's table of mode, model, epochs, wall time, best validation and test accuracy.

use std::path::{Path, PathBuf};

use birds_core::schema::train::COMPARISON;
use serde::{Deserialize, Serialize};

use crate::{ArtifactError, FrameBuilder, Result};

/// File name of the summary inside a run folder.
pub const SUMMARY_FILE: &str = "summary.json";
/// File name of the Markdown comparison.
pub const COMPARISON_MD: &str = "comparison.md";

/// Why the epoch loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// Every planned epoch ran.
    Completed,
    /// The selected validation metric stopped improving for `patience` epochs.
    EarlyStopping,
    /// The next epoch would have exceeded `time_budget_s`.
    TimeBudget,
}

impl StopReason {
    /// The name `summary.json` uses: `completed`, `early-stopping` or `time-budget`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::EarlyStopping => "early-stopping",
            Self::TimeBudget => "time-budget",
        }
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Training mode.
    pub mode: String,
    /// Architecture, e.g. `efficientnet-lite0`.
    pub model: String,
    /// Epochs run (head warm-up included).
    pub epochs: u32,
    /// Why training stopped.
    pub stopped: StopReason,
    /// Wall time of the whole run in seconds (feature extraction and test evaluation included; summed over
    /// resumed sessions).
    pub wall_time_s: f64,
    /// Mean training throughput over the run's training passes (images/s; feature-extract: embeddings/s).
    pub train_images_per_s: f64,
    /// Images the training passes went through, over all epochs (a time-budget stop inside an epoch counts the
    /// steps it took). 0 in summaries of older birds versions.
    #[serde(default)]
    pub train_images: u64,
    /// Epoch of the selected checkpoint.
    pub best_epoch: u32,
    /// Phase of that epoch (`head-warmup`, `fine-tune`, `feature-extract`, `scratch`): a fine-tune whose best epoch
    /// is a warm-up epoch did not improve on the head alone. Absent in summaries of older birds versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_phase: Option<String>,
    /// Validation accuracy of the selected checkpoint.
    pub best_val_accuracy: f64,
    /// Validation loss of the selected checkpoint.
    pub best_val_loss: f64,
    /// Test accuracy of the selected checkpoint (null without a test split).
    pub test_accuracy: Option<f64>,
    /// Test loss of the selected checkpoint.
    pub test_loss: Option<f64>,
    /// Images per split: train, valid, test.
    pub images: [usize; 3],
    /// Number of classes.
    pub classes: usize,
    /// Trainable parameters in the last phase.
    pub trainable_params: usize,
    /// Device used (`cpu`, `cuda:0`).
    pub device: String,
    /// libtorch intra-op threads.
    pub threads: i32,
    /// Feature-extract: whether the feature cache already held the features.
    pub feature_cache_hit: Option<bool>,
    /// Feature-extract: seconds spent computing (or loading) features.
    pub feature_seconds: Option<f64>,
    /// `birds_models::checkpoint::content_hash` of the checkpoint this summary describes (`checkpoint.json` and
    /// `model.safetensors`): evaluate, explain and predict refuse a folder whose checkpoint is another run's.
    /// Absent in summaries of older birds versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_blake3: Option<String>,
}

impl Summary {
    /// Reads `<dir>/summary.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(SUMMARY_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ArtifactError::reading(
                &path,
                format!("{e} (is this a `birds train` output folder?)"),
            )
        })?;
        serde_json::from_str(&text).map_err(|e| ArtifactError::file("parsing", &path, e))
    }

    /// Writes `<dir>/summary.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(SUMMARY_FILE);
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| ArtifactError::file("serialising", &path, e))?;
        birds_core::atomic::write_bytes(&path, format!("{text}\n").as_bytes())?;
        Ok(())
    }
}

/// One row of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparisonRow {
    /// The run folder's name.
    pub run: String,
    /// The run's summary.
    pub summary: Summary,
}

/// Reads the summaries of `runs` (train output folders); a row's `run` is the folder's name. Rows keep the order
/// given.
pub fn read_runs(runs: &[PathBuf]) -> Result<Vec<ComparisonRow>> {
    runs.iter()
        .map(|dir| {
            Ok(ComparisonRow {
                run: dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| dir.display().to_string()),
                summary: Summary::read(dir)?,
            })
        })
        .collect()
}

/// Reads the summaries of `runs` (train output folders) and writes `comparison.parquet` and `comparison.md` into
/// `out_dir`. Rows keep the order given.
pub fn compare(runs: &[PathBuf], out_dir: &Path) -> Result<Vec<ComparisonRow>> {
    if runs.is_empty() {
        return Err(ArtifactError::Input(
            "compare needs at least one train output folder".into(),
        ));
    }
    let rows = read_runs(runs)?;
    let of = |r: &ComparisonRow| r.summary.clone();
    let summaries: Vec<Summary> = rows.iter().map(of).collect();
    let strs = |f: fn(&Summary) -> &str| summaries.iter().map(f).collect::<Vec<&str>>();
    let u32s = |f: fn(&Summary) -> u32| summaries.iter().map(f).collect::<Vec<u32>>();
    let f64s = |f: fn(&Summary) -> f64| summaries.iter().map(f).collect::<Vec<f64>>();
    FrameBuilder::new(&COMPARISON, rows.len())
        .set(
            "run",
            rows.iter().map(|r| r.run.as_str()).collect::<Vec<_>>(),
        )
        .set("mode", strs(|x| &x.mode))
        .set("model", strs(|x| &x.model))
        .set("epochs", u32s(|x| x.epochs))
        .set("wall_time_s", f64s(|x| x.wall_time_s))
        .set("best_epoch", u32s(|x| x.best_epoch))
        .set("best_val_accuracy", f64s(|x| x.best_val_accuracy))
        .set("best_val_loss", f64s(|x| x.best_val_loss))
        .set(
            "test_accuracy",
            summaries
                .iter()
                .map(|x| x.test_accuracy)
                .collect::<Vec<Option<f64>>>(),
        )
        .write(&out_dir.join(COMPARISON.file))?;
    birds_core::atomic::write_bytes(&out_dir.join(COMPARISON_MD), markdown(&rows).as_bytes())?;
    Ok(rows)
}

fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

fn duration(s: f64) -> String {
    if s >= 90.0 {
        format!("{}m {:02}s", (s / 60.0) as u64, (s % 60.0).round() as u64)
    } else {
        format!("{s:.1}s")
    }
}

/// The comparison as a Markdown table.
pub fn markdown(rows: &[ComparisonRow]) -> String {
    let mut md = String::from(
        "| run | mode | model | epochs | wall time | best val acc | val loss | test acc |\n|---|---|---|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let s = &r.summary;
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} (epoch {}) | {:.3} | {} |\n",
            birds_core::markdown::escape(&r.run),
            birds_core::markdown::escape(&s.mode.to_string()),
            birds_core::markdown::escape(&s.model.to_string()),
            s.epochs,
            duration(s.wall_time_s),
            pct(s.best_val_accuracy),
            s.best_epoch,
            s.best_val_loss,
            s.test_accuracy.map(pct).unwrap_or_else(|| "–".into()),
        ));
    }
    md
}
