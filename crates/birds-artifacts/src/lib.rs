//! # birds-artifacts
//!
//! The layer between the stages: every Parquet and JSON file one stage writes and another reads goes through here,
//! so there is one reader, one writer and one schema check (the schemas themselves are in
//! [`birds_core::schema`]). Polars and serde, no libtorch: the report and the pipeline front can use it cheaply.
//!
//! - [`parquet`]: [`Frame`](parquet::Frame) (a file read whole, typed columns, errors naming the file and the
//!   column), [`FrameBuilder`](parquet::FrameBuilder) (columns set by name, placed in the schema's order),
//!   [`write_parquet`](parquet::write_parquet) (checked against the schema, atomic) and
//!   [`check_schema`](parquet::check_schema).
//! - [`json`]: pretty JSON written atomically, and read back with errors naming the file.
//! - [`train`]: `history.parquet` and `test_predictions.parquet` of a training run.
//! - [`evaluate`]: the rows of evaluate's Parquet files (per class, confusion, most confused, needs more
//!   training, predictions) and their readers; [`explain`]: the rows of `cams.parquet`.
//! - [`error`]: the typed [`ArtifactError`], which names the file.

pub mod diagnose;
pub mod error;
pub mod evaluate;
pub mod explain;
pub mod json;
pub mod parquet;
pub mod train;

pub use error::{ArtifactError, Result};
pub use parquet::{Frame, FrameBuilder, check_schema, dtype_of, write_parquet};
