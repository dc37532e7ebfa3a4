//! Typed errors of birds-models.

use std::path::PathBuf;

use birds_core::model::ModelSpecError;

/// What can go wrong building, loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A weights file does not exist.
    #[error("weights file {path} not found{hint}")]
    WeightsMissing {
        /// The path looked at.
        path: PathBuf,
        /// A suggestion (e.g. "run `just setup`").
        hint: String,
    },
    /// A weights file exists but could not be read as a state dict.
    #[error("cannot read weights {path}: {reason}")]
    WeightsUnreadable {
        /// The file.
        path: PathBuf,
        /// Why, with the fix.
        reason: String,
    },
    /// A state-dict tensor has a different shape from the model's variable.
    #[error("weights {path}: `{name}` has shape {found:?}, the model expects {expected:?}")]
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// Variable name.
        name: String,
        /// Shape in the file.
        found: Vec<i64>,
        /// Shape in the model.
        expected: Vec<i64>,
    },
    /// Variables the model needs are absent from the weights file.
    #[error(
        "weights {path} lack {count} variables the model needs, e.g. `{first}` (is it a different architecture?)"
    )]
    MissingVariables {
        /// The file.
        path: PathBuf,
        /// How many are missing.
        count: usize,
        /// The first missing name.
        first: String,
    },
    /// An image could not be read.
    #[error("cannot read image {path}: {reason}")]
    Image {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A training checkpoint folder is incomplete or inconsistent.
    #[error("checkpoint {dir}: {reason}")]
    Checkpoint {
        /// The checkpoint folder.
        dir: PathBuf,
        /// What is wrong, with the fix.
        reason: String,
    },
    /// A model configuration (architecture name, normalisation, width) is invalid, or a device string was not
    /// understood or the device is unavailable.
    #[error(transparent)]
    Spec(#[from] ModelSpecError),
    /// A file operation of a shared helper failed (names the path).
    #[error(transparent)]
    Core(#[from] birds_core::CoreError),
    /// Checkpoint metadata could not be (de)serialised.
    #[error("{path}: {source}")]
    Json {
        /// The JSON file.
        path: PathBuf,
        /// The parser's message (line and column).
        #[source]
        source: serde_json::Error,
    },
    /// An error reported by libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

impl ModelError {
    /// An invalid model configuration ("invalid model configuration: …").
    pub fn config(reason: impl Into<String>) -> Self {
        Self::Spec(ModelSpecError::Config(reason.into()))
    }

    /// A device that cannot be used ("device \"cuda:3\": …").
    pub fn device(spec: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Spec(ModelSpecError::Device {
            spec: spec.into(),
            reason: reason.into(),
        })
    }
}

/// Result alias for birds-models.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
