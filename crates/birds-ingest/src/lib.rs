//! # birds-ingest
//!
//! The first pipeline stage: index a bird-image dataset into Parquet and audit it before anything trains on it.
//!
//! **Input**: a data root in the Kaggle BIRDS 525 layout (`train|valid|test/<LABEL>/*`, optionally with
//! `birds.csv`), or a flat `<LABEL>/*` folder that is split by seed and ratios.
//!
//! **Outputs** (in the stage's out folder): `images.parquet` and `classes.parquet` (columns in
//! [`birds_core::schema::ingest`]), `report.json` ([`Report`]) and `report.md`.
//!
//! Modules:
//! - [`discover`]: layout detection and the folder walk (symlink loops, hidden files, odd names).
//! - [`csvfile`]: the Kaggle CSV, with or without header; escaping paths are refused, never read.
//! - [`inspect`]: per-file size, BLAKE3, format, header, dimension limit, full decode, colour type, pHash.
//! - [`jpeg`]: marker walk to catch truncated JPEGs and CMYK frames (re-exported from `birds_core`).
//! - [`phash`]: the 64-bit DCT perceptual hash.
//! - [`neardup`]: near-duplicate search by multi-index hashing (not all pairs), grouped into components.
//! - [`label`]: label normalisation (Unicode NFC, whitespace, case).
//! - [`report`]: the audit types and their Markdown form.
//! - [`params`], [`stage`]: the stage's params and its [`birds_core::stage::Stage`] implementation.

pub mod csvfile;
pub mod discover;
pub mod error;
mod ingest;
pub mod inspect;
/// The JPEG marker walk (complete stream? CMYK?): `birds_core::jpeg`, shared with every decode.
pub use birds_core::jpeg;
pub mod label;
pub mod neardup;
pub mod params;
pub mod phash;
pub mod report;
pub mod stage;
mod write;

pub use birds_artifacts::{check_schema, dtype_of};
pub use error::{IngestError, Result};
pub use ingest::{IngestOutput, RunOptions, files, ingest, ingest_with};
pub use params::{IngestParams, Layout, SplitRatios};
pub use report::Report;
pub use stage::IngestStage;
