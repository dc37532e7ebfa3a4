//! Typed errors of birds-artifacts; each names the file it concerns.

use std::path::{Path, PathBuf};

/// An artifact could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The file could not be opened, read or parsed, or its content is not what the schema says.
    #[error("{action} {path}: {reason}")]
    File {
        /// What was being done: `reading`, `writing`, `parsing`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why, in words (a missing column, a null, a wrong type, polars' or serde's message).
        reason: String,
    },
    /// A frame to be written does not match its schema (a bug in the writer, not in the user's data).
    #[error("writing {path}: {reason}")]
    Schema {
        /// The file that was to be written.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// What was asked cannot be done (e.g. comparing no runs).
    #[error("{0}")]
    Input(String),
    /// A write or rename failed.
    #[error(transparent)]
    Core(#[from] birds_core::CoreError),
}

impl ArtifactError {
    /// An error reading `path`.
    pub fn reading(path: &Path, reason: impl std::fmt::Display) -> Self {
        Self::file("reading", path, reason)
    }

    /// An error about `path` while `action` (`reading`, `writing`, `parsing`, …).
    pub fn file(action: &'static str, path: &Path, reason: impl std::fmt::Display) -> Self {
        Self::File {
            action,
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }

    /// The file the error concerns, when it names one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::File { path, .. } | Self::Schema { path, .. } => Some(path),
            Self::Core(birds_core::CoreError::Io { path, .. }) => Some(path),
            Self::Core(_) | Self::Input(_) => None,
        }
    }

    /// The reason without the path (for callers that put the path in their own message).
    pub fn reason(&self) -> String {
        match self {
            Self::File { reason, .. } | Self::Schema { reason, .. } => reason.clone(),
            Self::Core(e) => e.to_string(),
            Self::Input(reason) => reason.clone(),
        }
    }
}

/// Result alias for birds-artifacts.
pub type Result<T, E = ArtifactError> = std::result::Result<T, E>;
