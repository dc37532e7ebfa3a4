//! # birds-models
//!
//! The CNNs birds trains and explains, in tch (libtorch).
//!
//! - [`efficientnet`]: EfficientNet-Lite0, parity-tested against its PyTorch original
//!   (`tests/parity.rs`, fixture from `scripts/make_parity_fixture.py`).
//! - [`classifier`]: the [`ImageClassifier`] trait: feature map → pooled embedding → logits, the split that
//!   feature extraction and Grad-CAM need.
//! - [`weights`]: state-dict loading by name with shape checks (`.safetensors`, zip `.pt`).
//! - [`input`]: image files → normalised `[N, 3, H, W]` tensors.
//! - [`imagenet`]: the 1000-class label space of the pretrained head.
//! - [`runtime`]: libtorch versions, CUDA discovery (`load_cuda`) and device selection.
//! - [`small_cnn`] and [`norm`]: a small CNN for training from scratch, with BatchNorm or FRN + TLU.
//! - [`architecture`]: the [`Architecture`] enum and its one constructor, shared by train, evaluate, explain, predict.
//! - [`checkpoint`]: trained-model folders (`model.safetensors` + `checkpoint.json`) and [`Checkpoint::load`].
//! - [`export`]: a checkpoint as a PyTorch state dict, a TorchScript module and a JSON card (`birds export`).
//!
//! Inputs: weights files and images. Outputs: tensors, and checkpoint folders written by training.

pub mod architecture;
pub mod checkpoint;
pub mod classifier;
pub mod efficientnet;
pub mod error;
pub mod export;
pub mod imagenet;
pub mod input;
pub mod norm;
pub mod ood;
pub mod runtime;
pub mod small_cnn;
pub mod weights;

pub use architecture::{Architecture, ArchitectureExt, Network};
pub use checkpoint::{Checkpoint, CheckpointMeta, EvalView};
pub use classifier::ImageClassifier;
pub use efficientnet::EfficientNetLite0;
pub use error::{ModelError, Result};
pub use runtime::{DeviceExt, DeviceSpec};
