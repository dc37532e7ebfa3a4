//! # birds-core
//!
//! The vocabulary every birds crate shares, and nothing heavier: no polars, no libtorch.
//!
//! - [`split`]: the dataset splits (`train`, `valid`, `test`).
//! - [`normalization`]: how pixels become model inputs, recorded with every model.
//! - [`markdown`]: escaping dataset text (labels, paths) for the Markdown reports.
//! - [`model`]: the closed sets naming a model and its device ([`model::Architecture`], [`model::DeviceSpec`]),
//!   parsed without libtorch.
//! - [`paths`]: where the project keeps its venv, weights and artifacts.
//! - [`atomic`]: write-to-temp-then-rename, so a failed run never leaves half a file.
//! - [`font`]: a 5×7 bitmap font for text drawn into pictures (captions, the contact sheet).
//! - [`image`]: the one strict image decode every command uses (regular files only, truncated JPEGs refused).
//! - [`yaml`]: YAML params to JSON, refusing `.inf`/`.nan` (which JSON would turn into `null`).
//! - [`runtime`]: process-wide tuning applied by the `birds` binary at start-up (malloc settings), and the
//!   libtorch versions a checkpoint records.
//! - [`stage`]: the [`Stage`](stage::Stage) trait the pipeline runner knows built-in stages by.
//! - [`schema`]: every Parquet artifact's columns, written down once.
//! - [`rng`]: SplitMix64, the one small deterministic generator (synthetic data, shuffles, augmentation, baselines).
//! - [`stats`]: McNemar's paired comparison of two classifiers on the same images.
//! - [`error`]: the typed error these helpers return.

pub mod atomic;
pub mod error;
pub mod font;
pub mod image;
pub mod jpeg;
pub mod markdown;
pub mod model;
pub mod normalization;
pub mod paths;
pub mod rng;
pub mod runtime;
pub mod schema;
pub mod split;
pub mod stage;
pub mod stats;
pub mod yaml;

pub use error::{CoreError, Result};
pub use normalization::Normalization;
pub use split::Split;

/// The birds version, part of every cache key and every artifact's metadata.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
