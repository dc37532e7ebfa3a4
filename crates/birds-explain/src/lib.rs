//! # birds-explain
//!
//! Class activation maps for birds models: computed with a definition that tests pin down, drawn over the image,
//! and checked against ground truth.
//!
//! - [`cam`]: Grad-CAM, Grad-CAM++ and HiResCAM on tensors; batched, one target per image, one backward pass.
//! - [`layers`]: the explained layer by name (`features` = the last feature map).
//! - [`render`]: turbo colour map, overlays, caption strips, side-by-side panels; [`font`]: a 5×7 bitmap font.
//! - [`metrics`]: map statistics, localisation against a mask (energy inside, pointing game).
//! - [`faithfulness`]: the deletion test (blur the map's top pixels vs random pixels and random blobs).
//! - [`source`]: images as the model sees them (preprocess cache or files) and their synth masks.
//! - [`select`]: the weakest classes (evaluate's ranking, or ranked here) and their examples; the check sample.
//! - [`run`]: [`explain`]: the whole stage; [`write`]: `cams.parquet`, `metrics.json`, `gallery.md`.
//! - [`params`]: [`ExplainParams`]; [`stage`]: [`stage::run`], the work of the pipeline's `uses: explain`.
//!
//! Inputs: a `birds train` checkpoint folder; a `birds preprocess` cache (or an ingest index, or image paths);
//! optionally a `birds evaluate` folder and a `birds synth` dataset root (masks). Outputs: `cams.parquet`
//! (columns in `birds_core::schema::explain`), `overlays/**.png`, `why_not/**.png`, `gallery.md`,
//! `metrics.json`. See `docs/explain.md`.

pub mod calibration;
pub mod cam;
pub mod error;
pub mod faithfulness;
pub use birds_core::font;
pub mod layers;
pub mod metrics;
pub mod params;
pub mod predict;
pub mod render;
pub mod run;
pub mod select;
pub mod source;
pub mod stage;
pub mod write;

pub use cam::{CamLayer, CamMethod, Gradients, LastFeatureMap, Request, Target};
pub use error::{ExplainError, Result};
pub use params::ExplainParams;
pub use run::{Inputs, RunOptions, Summary, explain};
