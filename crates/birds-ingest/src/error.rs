//! Typed errors of the ingest stage. Problems with single files are not errors: they are recorded in the index
//! and the report. These are the reasons a whole run stops.

use std::path::PathBuf;

/// Why an ingest run failed; each message names the root or file concerned.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The params are invalid.
    #[error("invalid ingest params: {0}")]
    Params(String),
    /// The data root does not exist.
    #[error("data root {root} does not exist")]
    RootMissing {
        /// The root as given.
        root: PathBuf,
    },
    /// The data root is not a folder.
    #[error("data root {root} is not a folder")]
    RootNotDir {
        /// The root as given.
        root: PathBuf,
    },
    /// The data root (or a split folder in it) cannot be listed.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No image files were found at all.
    #[error("no image files under {root} ({layout} layout): expected {expected}{detail}")]
    NoImages {
        /// The data root.
        root: PathBuf,
        /// The layout looked for.
        layout: &'static str,
        /// What the layout expects.
        expected: &'static str,
        /// What was found instead (skipped files and such), starting with `; `.
        detail: String,
    },
    /// Image files were found, but none decodes.
    #[error("no usable images under {root}: {summary} (details in {report})")]
    NothingUsable {
        /// The data root.
        root: PathBuf,
        /// Counts of what went wrong, most common first.
        summary: String,
        /// The report written to explain it.
        report: PathBuf,
    },
    /// The CSV cannot be used at all (missing, unreadable, no `filepaths` column).
    #[error("CSV {path}: {message}")]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Writing an output failed.
    #[error(transparent)]
    Core(#[from] birds_core::CoreError),
    /// Building or writing a Parquet file failed.
    #[error(transparent)]
    Artifact(#[from] birds_artifacts::ArtifactError),
    /// Serialising the report failed.
    #[error("writing {path}: {source}")]
    Json {
        /// The report file.
        path: PathBuf,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
}

/// Result alias for birds-ingest.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;
