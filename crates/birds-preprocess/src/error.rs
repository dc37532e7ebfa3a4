//! Typed errors of birds-preprocess; each names the file or parameter concerned.

use std::path::PathBuf;

use birds_core::CoreError;

/// What can go wrong while building, opening or reading a preprocess cache.
#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    /// A shared helper (atomic write, folder creation…) failed.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// An I/O operation on `path` failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A Parquet file could not be read or written, or lacks what is needed.
    #[error("{path}: {reason}")]
    Parquet {
        /// The Parquet file.
        path: PathBuf,
        /// What is wrong (missing column, wrong type, polars' message…).
        reason: String,
    },
    /// An artifact could not be read or written; the message names the file.
    #[error(transparent)]
    Artifact(#[from] birds_artifacts::ArtifactError),
    /// A parameter is out of range or inconsistent; the message names the key.
    #[error("invalid parameter `{key}`: {reason}")]
    Param {
        /// The parameter's name as spelled in YAML.
        key: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// A params file (YAML) could not be read or parsed.
    #[error("{path}: {reason}")]
    ParamsFile {
        /// The params file.
        path: PathBuf,
        /// serde's message (names the unknown or malformed key).
        reason: String,
    },
    /// An image could not be decoded or resized.
    #[error("{path}: {reason}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The cache folder is incomplete or inconsistent (missing manifest, wrong shard size…).
    #[error("preprocess cache {path}: {reason}")]
    Cache {
        /// The cache folder or the file in it that is wrong.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The index had no decodable image at all.
    #[error("{path}: no image could be decoded ({failures} failures; see failures.json)")]
    NothingDecoded {
        /// The `images.parquet` read.
        path: PathBuf,
        /// How many rows failed.
        failures: usize,
    },
}

impl PreprocessError {
    /// Wraps an I/O error with the action and path it concerns.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// A parameter error for `key`.
    pub fn param(key: &'static str, reason: impl Into<String>) -> Self {
        Self::Param {
            key,
            reason: reason.into(),
        }
    }

    /// A cache consistency error for `path`.
    pub fn cache(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Cache {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// A Parquet error for `path`.
    pub fn parquet(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Self::Parquet {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

/// Result alias for birds-preprocess.
pub type Result<T, E = PreprocessError> = std::result::Result<T, E>;
