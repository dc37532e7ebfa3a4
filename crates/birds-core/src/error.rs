//! Typed errors of birds-core.

use std::path::PathBuf;

/// Errors from the shared helpers; each names the path it concerns.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// An I/O operation on `path` failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("writing", "renaming to", …).
        action: &'static str,
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A value could not be parsed.
    #[error("invalid {what} {value:?}: expected one of {expected}")]
    Parse {
        /// What kind of value.
        what: &'static str,
        /// The offending text.
        value: String,
        /// The accepted spellings.
        expected: &'static str,
    },
    /// An image file could not be used (not a regular file, undecodable, truncated, too large).
    #[error("cannot read image {path}: {reason}")]
    Image {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A param value is not a finite number (YAML `.inf`, `-.inf`, `.nan`), which JSON cannot hold.
    #[error(
        "`{key}`: {value} is not a finite number; give a number (e.g. 0.001), or null where the param allows it"
    )]
    NotFinite {
        /// The key path, e.g. `lr` or `augment.rotation`.
        key: String,
        /// The value as written.
        value: String,
    },
    /// A YAML value has no JSON form (e.g. a mapping used as a key).
    #[error("`{key}`: {reason}")]
    NoJsonForm {
        /// The key path.
        key: String,
        /// serde_json's message.
        reason: String,
    },
}

impl CoreError {
    /// Wraps an I/O error with the action and path it concerns.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Result alias for birds-core.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;
