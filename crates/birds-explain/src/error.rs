//! Typed errors of birds-explain.

use std::path::PathBuf;

/// What can go wrong computing, drawing or checking class activation maps.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// A request is inconsistent (target class out of range, batch size mismatch, unknown layer…).
    #[error("{0}")]
    Invalid(String),
    /// Stage or CLI params are invalid; the message names the key.
    #[error("explain params: {0}")]
    Params(String),
    /// A stage param is invalid (names the key).
    #[error(transparent)]
    StageParams(#[from] birds_params::ParamsError),
    /// An input folder or file is missing or not what explain expects.
    #[error("{path}: {reason}")]
    Input {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong, with the fix.
        reason: String,
    },
    /// An image (photo or mask) could not be read or written.
    #[error("image {path}: {reason}")]
    Image {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A model or checkpoint error (names the file).
    #[error(transparent)]
    Model(#[from] birds_models::ModelError),
    /// A preprocess-cache or index error (names the file).
    #[error(transparent)]
    Preprocess(#[from] birds_preprocess::PreprocessError),
    /// An artifact (Parquet or JSON) could not be read or written (names the file and the column).
    #[error(transparent)]
    Artifact(#[from] birds_artifacts::ArtifactError),
    /// A file operation of a shared helper failed (names the path).
    #[error(transparent)]
    Core(#[from] birds_core::CoreError),
    /// An error reported by libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Result alias for birds-explain.
pub type Result<T, E = ExplainError> = std::result::Result<T, E>;
