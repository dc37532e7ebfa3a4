//! `summary.json` of a training run, and the comparison of several runs (`comparison.parquet` +
//! `comparison.md`): they live in [`birds_artifacts::train::summary`], re-exported here.

pub use birds_artifacts::train::summary::*;
