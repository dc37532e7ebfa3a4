//! # birds-pipeline
//!
//! The pipeline runner behind `birds run`, `birds status` and `birds dag`: a YAML list of stages (built-in stages
//! known through [`birds_core::stage::Stage`], or shell commands), a DAG built from their deps and outs, a cache
//! key per stage, and a lock file recording what last ran. See `docs/pipeline.md` for the user's view.
//!
//! - [`load`]: read a pipeline file, validate it (every error names the file, line and fix) and resolve the DAG.
//! - [`model`]: the validated [`Pipeline`](model::Pipeline) and its [`StageDef`](model::StageDef)s.
//! - [`graph`]: the DAG algorithms [`load`](mod@load) uses: overlapping outs, the stages a dep reads from, the
//!   run order (file order where the deps allow) and cycles with their message.
//! - [`overrides`]: `--set stage.key=value`.
//! - [`hash`]: blake3 digests of files and folders, memoised on (path, size, mtime, inode).
//! - [`lockfile`]: `<pipeline>.lock`, the record of each stage's last successful run.
//! - [`status`]: cache keys and the reasons a stage is stale.
//! - [`runner`]: selection, the parallel scheduler, temp-then-rename outs, logs.
//! - [`runlock`]: one `birds run` per pipeline at a time; [`stagelock`]: no writer of a killed run left behind.
//! - [`owned`]: which existing outs birds may replace (those it wrote).
//! - [`dag`]: text, Mermaid and dot views.
//!
//! Inputs: the pipeline file, a registry of built-in stages (`&[&dyn Stage]`, from the `birds` binary), `--set`
//! overrides. Outputs: the stages' outs, `<pipeline>.lock` beside the pipeline file, and under
//! `artifacts/<pipeline>/`: `logs/<stage>.log`, `.cache/hashes.tsv` (hash memo) and `.cache/run.lock`.

pub mod dag;
pub mod error;
pub mod graph;
pub mod hash;
pub mod load;
pub mod locate;
pub mod lockfile;
pub mod model;
pub mod overrides;
pub mod owned;
pub mod runlock;
pub mod runner;
pub mod stagelock;
pub mod status;
mod util;

pub use error::{Diagnostic, Diagnostics, PipelineError, Result};
pub use load::{find_pipeline, load};
pub use model::Pipeline;
pub use runner::{Event, RunOptions, RunSummary, run};
