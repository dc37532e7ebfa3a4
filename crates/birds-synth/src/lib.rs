//! # birds-synth
//!
//! A demo dataset that needs no download: procedurally drawn "birds", each species a fixed combination of parts
//! (body shape and colour, head colour, beak shape/length/colour, wing colour and bars, tail shape, crest, eye
//! ring, breast pattern), in random poses on cluttered backgrounds, with a ground-truth mask per image.
//!
//! - [`species`]: the species catalog (hand-designed pairs that differ in one part, then generated species).
//! - [`scene`]: one image: background (gradient, value noise, distractor shapes in the dataset's colours),
//!   perch, bird in a random pose, blur/noise/white balance, JPEG quality.
//! - [`bird`]: a species' parts as shapes; [`raster`]: antialiased SDF fills, gradients, blur, noise.
//! - [`dataset`]: writes a whole dataset ([`generate`], [`write_dataset`]), rayon-parallel and deterministic:
//!   each image's generator is seeded from `(seed, split, class, index)` only.
//! - [`truth`]: `boxes.csv` and mask paths, with a reader, and a reader of the planted label errors
//!   ([`DatasetShape::label_errors`], listed in `synth.json`); [`sheet`]: the contact sheet.
//! - [`stage`]: [`SynthStage`], the `synth` pipeline stage.
//!
//! Inputs: [`SynthParams`], plus [`DatasetShape`] for BIRDS 525's shape and quirks (both in one flat mapping:
//! [`SynthSpec`], the stage's params; [`SynthSpec::full`] is `birds synth --preset full`). Outputs, under one folder: `train|valid|test/<LABEL>/<n>.jpg`, `birds.csv` (Kaggle
//! format), `masks/<split>/<LABEL>/<n>.png`, `boxes.csv`, `species.json`, `synth.json`, `contact_sheet.png`.

pub mod bird;
pub mod dataset;
pub mod error;
pub mod font;
pub mod params;
pub mod raster;
pub mod rng;
pub mod scene;
pub mod sheet;
pub mod species;
pub mod stage;
pub mod truth;

pub use dataset::{
    Defect, LabelError, Summary, generate, generate_shaped, train_counts, write_dataset,
    write_dataset_shaped,
};
pub use error::{Result, SynthError};
pub use params::{DatasetShape, SynthParams, SynthSpec};
pub use stage::SynthStage;
