//! # birds-preprocess
//!
//! Decode and resize every image once, in parallel, into a compact uint8 cache, and the augmentation that
//! `birds-loader` applies when it feeds a model batches from it. No libtorch here.
//!
//! - [`write`]: the `preprocess` stage's work: `images.parquet` (from ingest) → `shard-NNNNN.safetensors`
//!   (uint8 `[n, side, side, 3]`), `preprocessed.parquet` (row → shard, offset, label, split), `failures.json`,
//!   `cache.json`. Streaming, deterministic bytes, failures listed, not fatal.
//! - [`cache`]: [`Cache::open`] memory-maps a cache; [`Subset`]s (e.g. `cache.split(Split::Train)`) pick samples.
//! - [`augment`]: random resized crop, flip, rotation and colour jitter, deterministic in `(seed, epoch, sample)`.
//! - [`params`]: [`PreprocessParams`] (stage params) and [`AugmentParams`] (YAML; embedded by the train stage).
//! - [`preview`]: a PNG grid of one image under 16 augmentations.
//! - [`resize`]: decode (EXIF orientation applied) and SIMD resize (`fast_image_resize`).
//! - [`index`]: reading `images.parquet`.
//! - [`manifest`]: `cache.json` and the shard layout.
//! - [`stage`]: [`PreprocessStage`], the pipeline's `uses: preprocess`.
//!
//! The format and the measured speeds are in `docs/preprocess.md`.

pub mod augment;
pub mod cache;
pub mod error;
pub mod index;
pub mod manifest;
pub mod params;
pub mod preview;
pub mod resize;
pub mod stage;
pub mod write;

pub use cache::{Cache, Sample, Subset};
pub use error::{PreprocessError, Result};
pub use params::{AugmentParams, PreprocessParams, ResizeFilter, ResizeMode, Store};
pub use stage::PreprocessStage;
pub use write::{RunOptions, Summary, preprocess};
