//! # birds-train
//!
//! Trains bird classifiers three ways, so that one table shows what pretrained features are worth:
//!
//! - `feature-extract`: the pretrained backbone is frozen; pooled features of every image are computed once,
//!   cached across runs ([`features`]), and a linear head is trained on them.
//! - `fine-tune`: head warm-up with the backbone frozen, then all or the last N backbone groups unfrozen with a lower
//!   learning rate (optionally keeping BatchNorm statistics frozen).
//! - `scratch`: every weight from random initialisation (the small CNN by default).
//!
//! Modules: [`params`] (typed params), [`data`] (the [`data::DataSource`] contract and in-memory data),
//! [`cache_source`] (the preprocess cache as a data source), [`optim`] (AdamW / SGD with savable state),
//! [`schedule`] (cosine, one-cycle, constant), [`ema`] (the weight average of `ema_decay`), [`trainer`] (the loop, checkpoints, exact resume), [`history`]
//! (`history.parquet`, `curves.png`), [`run_dir`] (train into a temporary sibling, swapped in on success; resume
//! and clean-up of killed runs), [`summary`] (`summary.json`, the comparison table), [`smoke`] (the CUDA smoke
//! run and the train-step benchmark), [`stage`] (the `train` and `compare` pipeline stages).
//!
//! Inputs: a preprocess cache folder and pretrained weights. Outputs (one folder per run): `model.safetensors` +
//! `checkpoint.json` (load with `birds_models::Checkpoint::load`), `history.parquet`, `curves.png`,
//! `summary.json`, and `state/` for `--resume`.

pub mod activations;
pub mod cache_source;
pub mod data;
pub mod diagnose;
pub mod ema;
pub mod error;
pub mod features;
pub mod history;
pub mod optim;
pub mod params;
pub mod run_dir;
pub mod schedule;
pub mod smoke;
pub mod stage;
pub mod summary;
pub mod trainer;

pub use error::{Result, TrainError};
pub use params::{Mode, TrainParams};
pub use run_dir::train_into;
pub use trainer::{RunOptions, train};
