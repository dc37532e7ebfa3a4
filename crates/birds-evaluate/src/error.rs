//! Typed errors of the evaluate stage; each names the file or folder concerned.

use std::path::PathBuf;

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    /// The params are invalid (names the key).
    #[error("invalid evaluate params: {0}")]
    Params(String),
    /// A stage param is invalid (names the key).
    #[error(transparent)]
    StageParams(#[from] birds_params::ParamsError),
    /// The checkpoint and the cache do not fit together (classes, input size).
    #[error("checkpoint {checkpoint} does not fit cache {cache}: {reason}")]
    Mismatch {
        /// The checkpoint folder.
        checkpoint: PathBuf,
        /// The cache folder.
        cache: PathBuf,
        /// What differs, with the fix.
        reason: String,
    },
    /// The evaluated splits hold no image.
    #[error(
        "cache {cache} has no image in the split(s) {splits}; evaluate other splits (--splits)"
    )]
    NoImages {
        /// The cache folder.
        cache: PathBuf,
        /// The splits asked for.
        splits: String,
    },
    /// The ingest index given for training-image counts cannot be used.
    #[error("index {path}: {reason}")]
    Index {
        /// `classes.parquet` or its folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A Parquet or JSON artifact could not be written or read; the message names the file.
    #[error(transparent)]
    Artifact(#[from] birds_artifacts::ArtifactError),
    /// A picture could not be drawn or saved.
    #[error("drawing {path}: {reason}")]
    Plot {
        /// The PNG.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A CSV or JSON file could not be written or read.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The scores handed to the metrics are inconsistent (a bug, or a model/cache mismatch).
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    /// Loading or running the model failed.
    #[error(transparent)]
    Model(#[from] birds_models::ModelError),
    /// Opening or reading the preprocess cache failed.
    #[error(transparent)]
    Cache(#[from] birds_preprocess::PreprocessError),
    /// Building batches from the cache failed.
    #[error(transparent)]
    Loader(#[from] birds_loader::LoaderError),
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A file operation of a shared helper failed (names the path).
    #[error(transparent)]
    Core(#[from] birds_core::CoreError),
}

impl EvaluateError {
    /// A file error naming `path`.
    pub fn file(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        EvaluateError::File {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

/// `Result` with [`EvaluateError`].
pub type Result<T, E = EvaluateError> = std::result::Result<T, E>;
