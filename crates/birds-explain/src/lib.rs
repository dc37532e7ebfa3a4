//! # birds-explain
//!
//! Class activation maps for birds models, drawn and checked.
//!
//! - [`cam`]: Grad-CAM, Grad-CAM++ and HiResCAM on tensors; batched, one target per image, one backward pass.
//! - [`render`]: turbo colour map, overlays, caption strips, side-by-side panels; [`font`]: a 5×7 bitmap font.
//! - [`metrics`]: map statistics, localisation against a mask (energy inside, pointing game).
//! - [`faithfulness`]: the deletion test (blur the map's top pixels vs random pixels).

pub mod cam;
pub mod error;
pub mod faithfulness;
pub mod font;
pub mod metrics;
pub mod render;

pub use cam::{CamLayer, CamMethod, Gradients, LastFeatureMap, Request, Target};
pub use error::{ExplainError, Result};
