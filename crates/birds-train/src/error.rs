//! Typed errors of birds-train.

use std::path::PathBuf;

/// What can go wrong setting up or running a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A training param is invalid; the message names the key and the accepted values.
    #[error("train params: {0}")]
    Params(String),
    /// A stage param is invalid (names the key).
    #[error(transparent)]
    StageParams(#[from] birds_params::ParamsError),
    /// The training data is unusable (empty split, classes that do not match a checkpoint, …).
    #[error("training data: {0}")]
    Data(String),
    /// A resume was asked for but the saved state cannot be used.
    #[error("cannot resume from {dir}: {reason}")]
    Resume {
        /// The state folder.
        dir: PathBuf,
        /// Why, with the fix.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{action} {path}: {reason}")]
    File {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Training produced a non-finite loss.
    #[error(
        "loss became {value} at epoch {epoch}, step {step}: lower `lr`, set `grad_clip`, or check the data"
    )]
    Diverged {
        /// Epoch (1-based).
        epoch: u32,
        /// Step within the epoch.
        step: usize,
        /// The loss value.
        value: f64,
    },
    /// The run stopped after `epochs_done` epochs because [`crate::RunOptions::stop_after_epochs`] asked for it; its
    /// state is saved and `--resume` continues it.
    #[error("stopped after {epochs_done} epochs as asked; continue with --resume")]
    Stopped {
        /// Epochs completed so far.
        epochs_done: u32,
    },
    /// A model, weights or checkpoint error.
    #[error(transparent)]
    Model(#[from] birds_models::ModelError),
    /// A shared helper's error (I/O with the path named).
    #[error(transparent)]
    Core(#[from] birds_core::CoreError),
    /// An artifact (Parquet or JSON file of a run) could not be read or written; the message names the file.
    #[error(transparent)]
    Artifact(#[from] birds_artifacts::ArtifactError),
    /// A Parquet write failed.
    #[error("writing {path}: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// polars' error.
        #[source]
        source: polars::error::PolarsError,
    },
    /// An error reported by libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

impl TrainError {
    /// A file error naming the path.
    pub fn file(action: &'static str, path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        Self::File {
            action,
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

/// Result alias for birds-train.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
