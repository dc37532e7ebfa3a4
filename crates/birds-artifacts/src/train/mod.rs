//! A training run's files other than the weights: `history.parquet`, `test_predictions.parquet`, `summary.json`,
//! and the comparison of several runs (`comparison.parquet`, `comparison.md`).

pub mod history;
pub mod summary;
