//! What each torch command does, in one place: `birds --help` lists them and `birds-torch` shows them in the
//! command's own help.

/// `birds info`.
pub const INFO: &str = "Versions, devices, threads and where the pretrained weights are";

/// `birds imagenet`.
pub const IMAGENET: &str = "Classify images with the 1000-class ImageNet head of pretrained EfficientNet-Lite0 (top-5 ids)";

/// `birds train`.
pub const TRAIN: &str = "Train a classifier on a preprocess cache: feature-extract, fine-tune or scratch (`train smoke`: a few CUDA/CPU steps on a synthetic batch)";

/// `birds diagnose`.
pub const DIAGNOSE: &str = "Suspected label errors (confident learning) and per-class learning curves, from heads on cached pretrained features";

/// `birds evaluate`.
pub const EVALUATE: &str = "Per-class report of a trained model: confusion, calibration, top losses, and the species that need more training";

/// `birds explain`.
pub const EXPLAIN: &str = "Grad-CAM / Grad-CAM++ overlays for the weakest classes (or given images), with checks: energy inside the bird mask, pointing game, deletion test";

/// `birds predict`.
pub const PREDICT: &str = "Top-5 species of images under a trained checkpoint (default: the default pipeline's fine-tuned model), with an optional Grad-CAM overlay";

/// `birds export`.
pub const EXPORT: &str = "A trained checkpoint for use outside birds: PyTorch state dict (safetensors), TorchScript module, model.json";
