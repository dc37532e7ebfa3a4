//! A trained checkpoint for use outside birds: a PyTorch state dict, a TorchScript module, and a JSON card that says
//! exactly how to feed them.
//!
//! ```text
//! <out>/model.safetensors     state dict; for EfficientNet-Lite0 the keys and shapes of `efficientnet-lite-pytorch`
//!                             (`EfficientNet.from_name("efficientnet-lite0", num_classes=N, image_size=S)` loads
//!                             it with strict=True); for the small CNN birds' own keys (no PyTorch class exists)
//! <out>/model.torchscript.pt  the network traced in evaluation mode at [1, 3, S, S]; `torch.jit.load` runs it
//! <out>/model.json            ModelCard: classes in logit order, input size, framing, normalisation, layout, hashes
//! ```
//!
//! Both model files take what birds' networks take: a float32 `[N, 3, S, S]` tensor, RGB, already framed and
//! normalised as the card's `input` says (the PyTorch convention), and return logits `[N, classes]`. The
//! TorchScript module is traced, so its padding is fixed for side `S`: feed it exactly `S × S` images (any batch
//! size). Every file is written to a temporary sibling and renamed; `model.json` comes last, after the files it
//! describes, and lists the files that belong to the export.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{CModule, Device, Kind, Tensor};

use crate::architecture::Architecture;
use crate::checkpoint::{self, Checkpoint, EvalView, META_FILE, MODEL_FILE};
use crate::{ModelError, Result};

/// File name of the exported state dict.
pub const SAFETENSORS_FILE: &str = "model.safetensors";
/// File name of the exported TorchScript module.
pub const TORCHSCRIPT_FILE: &str = "model.torchscript.pt";
/// File name of the model card.
pub const CARD_FILE: &str = "model.json";
/// Version of the model card layout.
pub const CARD_FORMAT: u32 = 1;
/// Largest |logit difference| between the traced module (saved and loaded back) and birds' own forward that the
/// export accepts.
pub const TRACE_TOLERANCE: f64 = 1e-4;

/// Which model files to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    /// `model.safetensors` only.
    Safetensors,
    /// `model.torchscript.pt` only.
    Torchscript,
    /// Both files.
    #[default]
    Both,
}

impl ExportFormat {
    /// Whether the state dict is written.
    pub fn safetensors(self) -> bool {
        matches!(self, ExportFormat::Safetensors | ExportFormat::Both)
    }

    /// Whether the TorchScript module is written.
    pub fn torchscript(self) -> bool {
        matches!(self, ExportFormat::Torchscript | ExportFormat::Both)
    }
}

/// `model.json`: everything a user outside birds needs to run the exported model as birds does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCard {
    /// [`CARD_FORMAT`].
    pub format: u32,
    /// birds version that exported the model.
    pub birds_version: String,
    /// The network (as in `checkpoint.json`).
    pub architecture: Architecture,
    /// Class labels in logit order: output column `i` is `classes[i]`.
    pub classes: Vec<String>,
    /// What the model takes.
    pub input: InputSpec,
    /// What the model returns.
    pub output: OutputSpec,
    /// The state dict, when exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safetensors: Option<SafetensorsSpec>,
    /// The TorchScript module, when exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torchscript: Option<TorchscriptSpec>,
    /// Where the model came from.
    pub source: SourceSpec,
}

/// The input tensor and how an image file becomes one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Always `NCHW`.
    pub layout: String,
    /// Always `float32`.
    pub dtype: String,
    /// Channel order, always `RGB`.
    pub channels: String,
    /// Height and width of the input in pixels (square).
    pub size: u32,
    /// How a decoded 8-bit RGB image is framed into a `size × size` square.
    pub framing: Framing,
    /// The per-channel affine map applied to pixel values in 0..=255 after framing.
    pub normalization: NormalizationSpec,
}

/// The framing of an image before normalisation (birds' evaluation view).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Framing {
    /// `shorter-side+center-crop` (the centred square of side min(width, height) is resized) or `stretch` (the
    /// whole image is resized, aspect ratio not kept).
    pub resize: String,
    /// Resampling filter of that resize, with antialiasing (Pillow's convolution resize): `bilinear`, `bicubic`,
    /// `lanczos3`.
    pub filter: String,
    /// Side the image is first resized to (`size` plus the cache's margin).
    pub resized_side: u32,
    /// Side of the centred crop of the resized square; equals `input.size`.
    pub crop: u32,
    /// The same in words, step by step.
    pub steps: Vec<String>,
    /// The same with Pillow (agrees with birds' resize to within rounding of 8-bit pixels, not bit for bit).
    pub pillow: String,
}

/// `(pixel - mean) / std` per RGB channel, pixel values in 0..=255.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalizationSpec {
    /// birds' name of the normalisation: `centered127` or `imagenet`.
    pub name: String,
    /// Mean per channel (R, G, B), in pixel units 0..=255.
    pub mean: [f32; 3],
    /// Standard deviation per channel (R, G, B), in pixel units 0..=255.
    pub std: [f32; 3],
    /// The formula, spelled out.
    pub formula: String,
}

/// The output of both model files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// `[N, num_classes]` float32 logits.
    pub shape: String,
    /// Number of classes (columns).
    pub num_classes: usize,
    /// How to read it.
    pub meaning: String,
}

/// The exported state dict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetensorsSpec {
    /// File name inside the export folder.
    pub file: String,
    /// `pytorch` (the keys of the PyTorch class below) or `birds` (birds' own variable names).
    pub key_names: KeyNames,
    /// Number of tensors.
    pub tensors: usize,
    /// The PyPI package whose class loads the state dict, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pytorch_package: Option<String>,
    /// Python that builds the matching module, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pytorch_constructor: Option<String>,
    /// What to know about the keys.
    pub note: String,
}

/// Whose names the state-dict keys are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyNames {
    /// The state-dict keys of a PyTorch class (strict `load_state_dict` works).
    Pytorch,
    /// birds' own variable names (no PyTorch class of this network exists).
    Birds,
}

/// The exported TorchScript module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TorchscriptSpec {
    /// File name inside the export folder.
    pub file: String,
    /// Shape of the example input the module was traced with.
    pub traced_input: Vec<i64>,
    /// Largest |logit difference| between the saved module, loaded back, and birds' own forward on a random batch
    /// of two, measured at export.
    pub self_check_max_abs_diff: f64,
    /// What to know about the module.
    pub note: String,
}

/// Where the exported model came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// The checkpoint folder as given.
    pub checkpoint: String,
    /// BLAKE3 of its `model.safetensors`.
    pub model_blake3: String,
    /// BLAKE3 of its `checkpoint.json`.
    pub checkpoint_json_blake3: String,
    /// Training mode of the run.
    pub mode: String,
    /// birds version that trained it.
    pub trained_with: String,
    /// Validation top-1 accuracy of the checkpointed epoch.
    pub val_accuracy: f64,
    /// Test top-1 accuracy of the checkpointed epoch, when a test split was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
}

/// What [`export`] wrote.
#[derive(Debug, Clone)]
pub struct ExportReport {
    /// The card written to `model.json`.
    pub card: ModelCard,
    /// Every file written, card last.
    pub files: Vec<PathBuf>,
}

/// The framing of `view` (how birds frames an image file for a model of input side `size`), spelled out for users.
pub fn framing(view: &EvalView, size: u32) -> Framing {
    let s = view.stored_side;
    let stretch = view.resize == "stretch";
    let pil_filter = match view.filter.as_str() {
        "bicubic" => "Image.BICUBIC",
        "lanczos3" => "Image.LANCZOS",
        _ => "Image.BILINEAR",
    };
    let first = if stretch {
        format!(
            "resize the whole image to {s}×{s} ({} filter with antialiasing; the aspect ratio is not kept)",
            view.filter
        )
    } else {
        format!(
            "take the centred square of side min(width, height) and resize it to {s}×{s} ({} filter with \
             antialiasing)",
            view.filter
        )
    };
    let box_expr = if stretch {
        String::from("None")
    } else {
        String::from("((w - m) / 2, (h - m) / 2, (w + m) / 2, (h + m) / 2)")
    };
    let o = s.saturating_sub(size) / 2;
    let pillow = format!(
        "img = Image.open(path).convert('RGB'); w, h = img.size; m = min(w, h); \
         img = img.resize(({s}, {s}), {pil_filter}, box={box_expr}); \
         img = img.crop(({o}, {o}, {o} + {size}, {o} + {size}))"
    );
    Framing {
        resize: view.resize.clone(),
        filter: view.filter.clone(),
        resized_side: s,
        crop: size,
        steps: vec![
            String::from("decode the image to 8-bit RGB"),
            first,
            format!("crop the centred {size}×{size} square (offset {o} from the top and the left)"),
            String::from(
                "normalise each channel (see normalization) and lay out as [N, 3, H, W] float32",
            ),
        ],
        pillow,
    }
}

/// Exports the checkpoint in `checkpoint_dir` to `out_dir` (created if needed). `view` is how birds frames an image
/// file for this checkpoint (its `eval_view`, or the preprocess defaults; `birds export` passes what `birds
/// predict` uses). The TorchScript module is checked after saving: loaded back, its logits on a random batch must
/// equal birds' within [`TRACE_TOLERANCE`].
pub fn export(
    checkpoint_dir: &Path,
    out_dir: &Path,
    format: ExportFormat,
    view: &EvalView,
) -> Result<ExportReport> {
    let mut ckpt = Checkpoint::load(checkpoint_dir, Device::Cpu)?;
    ckpt.vs.freeze(); // tracing embeds the weights as constants, which must not require grad
    let meta = ckpt.meta.clone();
    let size = meta.input_size;
    let n = meta.classes.len();
    std::fs::create_dir_all(out_dir)
        .map_err(|e| birds_core::CoreError::io("creating folder", out_dir, e))?;
    let mut files = Vec::new();

    let safetensors = if format.safetensors() {
        let named = pytorch_state_dict(&ckpt.vs, meta.architecture);
        let path = out_dir.join(SAFETENSORS_FILE);
        checkpoint::write_tensors(&named, &path)?;
        files.push(path);
        Some(safetensors_spec(meta.architecture, n, size, named.len()))
    } else {
        None
    };

    let torchscript = if format.torchscript() {
        let path = out_dir.join(TORCHSCRIPT_FILE);
        let traced = trace(&*ckpt.model, size)?;
        birds_core::atomic::write_with(&path, |tmp| traced.save(tmp).map_err(ModelError::from))?;
        let diff = self_check(&path, &*ckpt.model, size)?;
        files.push(path);
        Some(TorchscriptSpec {
            file: TORCHSCRIPT_FILE.into(),
            traced_input: vec![1, 3, i64::from(size), i64::from(size)],
            self_check_max_abs_diff: diff,
            note: format!(
                "traced in evaluation mode (BatchNorm running statistics, no dropout); the weights are constants of \
                 the graph and the convolution padding is fixed for {size}×{size} inputs: any batch size works, \
                 any other image size gives wrong logits. CPU tensors; torch.jit.load(path, map_location=…) moves it."
            ),
        })
    } else {
        None
    };

    let card = ModelCard {
        format: CARD_FORMAT,
        birds_version: birds_core::VERSION.into(),
        architecture: meta.architecture,
        classes: meta.classes.clone(),
        input: InputSpec {
            layout: "NCHW".into(),
            dtype: "float32".into(),
            channels: "RGB".into(),
            size,
            framing: framing(view, size),
            normalization: NormalizationSpec {
                name: meta.normalization.as_str().into(),
                mean: meta.normalization.mean(),
                std: meta.normalization.std(),
                formula: "x[c] = (pixel[c] - mean[c]) / std[c], pixel in 0..=255, c = R, G, B".into(),
            },
        },
        output: OutputSpec {
            shape: format!("[N, {n}]"),
            num_classes: n,
            meaning: "float32 logits; column i is classes[i]; softmax over the last dimension gives probabilities"
                .into(),
        },
        safetensors,
        torchscript,
        source: SourceSpec {
            checkpoint: checkpoint_dir.display().to_string(),
            model_blake3: hash_file(&checkpoint_dir.join(MODEL_FILE))?,
            checkpoint_json_blake3: hash_file(&checkpoint_dir.join(META_FILE))?,
            mode: meta.mode.clone(),
            trained_with: meta.birds_version.clone(),
            val_accuracy: meta.best.val_accuracy,
            test_accuracy: meta.best.test_accuracy,
        },
    };
    let card_path = out_dir.join(CARD_FILE);
    let text = serde_json::to_string_pretty(&card).map_err(|source| ModelError::Json {
        path: card_path.clone(),
        source,
    })?;
    birds_core::atomic::write_bytes(&card_path, format!("{text}\n").as_bytes())?;
    files.push(card_path);
    tracing::info!(out = %out_dir.display(), model = %meta.architecture, classes = n, "exported");
    Ok(ExportReport { card, files })
}

/// The state dict to export: every variable (sorted by name); for EfficientNet-Lite0 also the
/// `num_batches_tracked` buffer of each BatchNorm (an int64 scalar, 0: unused in evaluation and by BatchNorm with a
/// momentum), so the key set is exactly PyTorch's.
pub fn pytorch_state_dict(vs: &tch::nn::VarStore, arch: Architecture) -> Vec<(String, Tensor)> {
    let mut named = checkpoint::state_dict(vs);
    if arch == Architecture::EfficientNetLite0 {
        let extra: Vec<(String, Tensor)> = named
            .iter()
            .filter_map(|(k, _)| k.strip_suffix(".running_mean"))
            .map(|prefix| {
                (
                    format!("{prefix}.num_batches_tracked"),
                    Tensor::from(0i64).to_kind(Kind::Int64),
                )
            })
            .collect();
        named.extend(extra);
        named.sort_by(|a, b| a.0.cmp(&b.0));
    }
    named
}

fn safetensors_spec(arch: Architecture, n: usize, size: u32, tensors: usize) -> SafetensorsSpec {
    match arch {
        Architecture::EfficientNetLite0 => SafetensorsSpec {
            file: SAFETENSORS_FILE.into(),
            key_names: KeyNames::Pytorch,
            tensors,
            pytorch_package: Some("efficientnet-lite-pytorch".into()),
            pytorch_constructor: Some(format!(
                "from efficientnet_lite_pytorch import EfficientNet; \
                 m = EfficientNet.from_name('efficientnet-lite0', num_classes={n}, image_size={size}); \
                 m.load_state_dict(safetensors.torch.load_file('model.safetensors')); m.eval()"
            )),
            note: format!(
                "keys and shapes of efficientnet-lite-pytorch's EfficientNet-Lite0 with a {n}-class _fc; \
                 num_batches_tracked buffers are 0 (unused in evaluation). That class pads its convolutions for \
                 the image_size it is built with: build it with image_size={size}."
            ),
        },
        Architecture::SmallCnn { .. } => SafetensorsSpec {
            file: SAFETENSORS_FILE.into(),
            key_names: KeyNames::Birds,
            tensors,
            pytorch_package: None,
            pytorch_constructor: None,
            note: "birds' small CNN has no PyTorch class: the keys are birds' own variable names (stem.…, \
                   stages.N.…, fc.…), for the record; model.torchscript.pt is its portable form"
                .into(),
        },
    }
}

/// Traces `model.logits(x, false)` at `[1, 3, size, size]`.
fn trace(model: &dyn crate::Network, size: u32) -> Result<CModule> {
    let s = i64::from(size);
    let example = Tensor::zeros([1, 3, s, s], (Kind::Float, Device::Cpu));
    let module = tch::no_grad(|| {
        CModule::create_by_tracing("BirdsClassifier", "forward", &[example], &mut |xs| {
            xs.first()
                .map(|x| vec![model.logits(x, false)])
                .unwrap_or_default()
        })
    })?;
    Ok(module)
}

/// Loads the saved module back and compares its logits on a random batch of two with birds' forward.
fn self_check(path: &Path, model: &dyn crate::Network, size: u32) -> Result<f64> {
    let s = i64::from(size);
    let loaded = CModule::load(path).map_err(|e| ModelError::WeightsUnreadable {
        path: path.to_path_buf(),
        reason: format!("the TorchScript module just written does not load back ({e})"),
    })?;
    let x = Tensor::randn([2, 3, s, s], (Kind::Float, Device::Cpu));
    let (a, b) = tch::no_grad(|| -> Result<(Tensor, Tensor)> {
        Ok((model.logits(&x, false), loaded.forward_ts(&[&x])?))
    })?;
    if a.size() != b.size() {
        return Err(ModelError::config(format!(
            "{}: the traced module returns shape {:?}, birds {:?}",
            path.display(),
            b.size(),
            a.size()
        )));
    }
    let diff = (&a - &b).abs().max().double_value(&[]);
    if diff.is_nan() || diff > TRACE_TOLERANCE {
        return Err(ModelError::config(format!(
            "{}: the traced module's logits differ from birds' by {diff:e} (> {TRACE_TOLERANCE:e})",
            path.display()
        )));
    }
    Ok(diff)
}

/// BLAKE3 of a file's bytes, hex.
fn hash_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| birds_core::CoreError::io("reading", path, e))?;
    Ok(blake3::hash(&bytes).to_hex().to_string())
}
