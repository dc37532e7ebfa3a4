//! # birds-evaluate
//!
//! Runs a trained checkpoint over chosen splits of a preprocess cache and reports what it gets wrong, class by
//! class, so that a user knows which species need more training images and which species they are confused with.
//!
//! - [`metrics`]: the arithmetic (accuracy, top-k with a stated tie rule, per-class precision/recall/F1 with
//!   sklearn's `zero_division=0`, NLL, ECE, confusion, most-confused pairs, Wilson bounds, the ranking). No tensors,
//!   no files.
//! - [`report`]: an [`Evaluation`] (classes, images, probabilities) → a [`Report`] (every figure) and the
//!   `summary.json` layout.
//! - [`run`]: [`evaluate`]: checkpoint + cache → probabilities (optionally with flip TTA) → every output file.
//! - [`write`]: the Parquet, CSV, Markdown and JSON writers; [`plots`]: `confusion.png` and `top_losses.png`.
//! - [`params`]: [`EvaluateParams`]; [`stage`]: [`stage::run`], the work of the pipeline's `uses: evaluate`.
//!
//! Inputs: a `birds train` output folder (checkpoint), a `birds preprocess` output folder (cache), optionally a
//! `birds ingest` output folder (training-image counts). Outputs: `predictions.parquet`, `per_class.parquet`
//! (+ `.csv`, `.md`), `summary.json`, `confusion.parquet`, `confusion.png`, `most_confused.parquet` (+ `.md`),
//! `top_losses.png`, `needs_more_training.parquet` (+ `.md`); columns in `birds_core::schema::evaluate`.
#![warn(missing_docs)]

pub mod calibration;
pub mod error;
pub mod metrics;
pub mod ood;
pub mod params;
pub mod plots;
pub mod report;
pub mod run;
pub mod stage;
pub mod write;

pub use error::{EvaluateError, Result};
pub use params::{EvaluateParams, Tta};
pub use report::{Evaluation, Report, SummaryFile};
pub use run::{Inputs, RunOptions, evaluate};
