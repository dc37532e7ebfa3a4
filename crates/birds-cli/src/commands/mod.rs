//! One module per command the front runs itself (no libtorch); each has `Args` (clap) and `run`. The torch
//! commands are in `src/torch/commands/` and run in `birds-torch` ([`crate::worker`]).

pub mod compare;
pub mod ingest;
pub mod preprocess;
pub mod report;
pub mod synth;
// Pipeline runner (birds-pipeline): run, status, dag, stages.
pub mod dag;
pub mod run;
pub mod stages;
pub mod status;
