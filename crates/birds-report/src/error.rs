//! The report's typed error: every variant names the file or input that is wrong.

use std::path::PathBuf;

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A param is out of range or unknown.
    #[error("report params: {0}")]
    Params(String),
    /// No input was given at all.
    #[error(
        "the report has no inputs: give at least one stage folder (ingest, run1…run8, evaluate, explain)"
    )]
    NoInputs,
    /// An input folder lacks a file the report needs.
    #[error("{input} input {dir}: {reason}")]
    Input {
        /// The input's name (`evaluate`, `run2`, …).
        input: String,
        /// The folder given.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file exists but cannot be read or parsed.
    #[error("reading {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// An image could not be encoded for the page.
    #[error("encoding an image: {0}")]
    Encode(String),
    /// Writing the page failed.
    #[error(transparent)]
    Core(#[from] birds_core::CoreError),
    /// An input artifact could not be read; the message names the file and the column.
    #[error(transparent)]
    Artifact(#[from] birds_artifacts::ArtifactError),
}

impl ReportError {
    /// A [`ReportError::File`] from any displayable reason.
    pub fn file(path: &std::path::Path, reason: impl std::fmt::Display) -> Self {
        Self::File {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }
}

/// Result with [`ReportError`].
pub type Result<T, E = ReportError> = std::result::Result<T, E>;
