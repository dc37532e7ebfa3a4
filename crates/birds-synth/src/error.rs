//! Typed errors of birds-synth.

use std::path::PathBuf;

use birds_core::CoreError;

/// What can go wrong while generating or reading a synthetic dataset; each names the param or file concerned.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// A parameter is out of range.
    #[error("synth param `{key}`: {message}")]
    Param {
        /// The param's name (`classes`, `size`, …).
        key: &'static str,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// The output folder cannot be used.
    #[error("output folder {path}: {message}")]
    OutDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Encoding an image failed.
    #[error("encoding {path}: {source}")]
    Encode {
        /// The file being written.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: image::ImageError,
    },
    /// A ground-truth file is malformed.
    #[error("{path}: {message}")]
    Truth {
        /// The file.
        path: PathBuf,
        /// What is wrong (with the line number when there is one).
        message: String,
    },
    /// File-system error.
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// Result alias for birds-synth.
pub type Result<T, E = SynthError> = std::result::Result<T, E>;
