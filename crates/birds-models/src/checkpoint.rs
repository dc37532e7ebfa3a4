//! Trained-model checkpoints: a folder with `model.safetensors` (every variable, BatchNorm statistics included)
//! and `checkpoint.json` (what evaluation, Grad-CAM and prediction need to rebuild and feed the model).
//!
//! ```text
//! <dir>/model.safetensors   state dict, names as in the architecture (e.g. `_blocks.3._bn1.running_mean`)
//! <dir>/checkpoint.json     CheckpointMeta: architecture, classes, input size, normalisation, params, best metrics
//! ```
//!
//! [`Checkpoint::load`] returns a ready model; the class count comes from the metadata and must match the weights,
//! and a `summary.json` beside them (a finished `birds train` run) must record their [`content_hash`].

use crate::ArchitectureExt;
use std::path::{Path, PathBuf};

use birds_core::Normalization;
use birds_core::runtime::TorchVersions;
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Tensor};

use crate::architecture::{Architecture, Network};
use crate::{ModelError, Result};

/// File name of the weights inside a checkpoint folder.
pub const MODEL_FILE: &str = "model.safetensors";
/// File name of the metadata inside a checkpoint folder.
pub const META_FILE: &str = birds_core::schema::train::CHECKPOINT_META_FILE;
/// File name of the training run's summary beside the checkpoint (written by `birds train` when a run completes).
pub const SUMMARY_FILE: &str = "summary.json";
/// The `summary.json` key holding the [`content_hash`] of the checkpoint the summary describes.
pub const SUMMARY_HASH_KEY: &str = "checkpoint_blake3";
/// Version of the metadata layout; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

/// The validation (and test) figures of the checkpointed epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BestMetrics {
    /// The metric the checkpoint was selected by: `val_accuracy` or `val_loss`.
    pub metric: String,
    /// Epoch (1-based, counted over the whole run) of the checkpoint.
    pub epoch: u32,
    /// Validation top-1 accuracy (0–1).
    pub val_accuracy: f64,
    /// Validation cross-entropy (without label smoothing).
    pub val_loss: f64,
    /// Test top-1 accuracy of this checkpoint, when a test split was given.
    pub test_accuracy: Option<f64>,
    /// Test cross-entropy of this checkpoint, when a test split was given.
    pub test_loss: Option<f64>,
}

/// `checkpoint.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointMeta {
    /// [`FORMAT_VERSION`] of the writer.
    pub format: u32,
    /// birds version that wrote it.
    pub birds_version: String,
    /// Network architecture.
    pub architecture: Architecture,
    /// Class labels; logit `i` is `classes[i]`.
    pub classes: Vec<String>,
    /// Square input size in pixels the model was trained at.
    pub input_size: u32,
    /// Pixel normalisation the model was trained with.
    pub normalization: Normalization,
    /// Training mode: `feature-extract`, `fine-tune` or `scratch`.
    pub mode: String,
    /// The full training params (for the record; not needed to run the model).
    pub params: serde_json::Value,
    /// Figures of the checkpointed epoch.
    pub best: BestMetrics,
    /// How evaluation framed an image before the network saw it (absent for data not from a preprocess cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_view: Option<EvalView>,
    /// The tch and libtorch versions of the training run (absent in checkpoints written before they were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<TorchVersions>,
}

/// The preprocess cache's evaluation view: the image resized to `stored_side` (with `resize` and `filter`), then
/// its centred `input_size` square. `birds predict` and explain on image files frame images the same way, so they
/// see what training and evaluation saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalView {
    /// Resize mode of the cache: `shorter-side+center-crop` or `stretch`.
    pub resize: String,
    /// Resampling filter of the cache, e.g. `bilinear`.
    pub filter: String,
    /// Side of the stored square (`input_size + margin`).
    pub stored_side: u32,
}

impl CheckpointMeta {
    /// Reads `<dir>/checkpoint.json`, naming the file in any error.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(META_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Checkpoint {
            dir: dir.to_path_buf(),
            reason: format!(
                "cannot read {META_FILE}: {e} (is this a `birds train` output folder?)"
            ),
        })?;
        let meta: CheckpointMeta =
            serde_json::from_str(&text).map_err(|source| ModelError::Json {
                path: path.clone(),
                source,
            })?;
        if meta.format != FORMAT_VERSION {
            return Err(ModelError::Checkpoint {
                dir: dir.to_path_buf(),
                reason: format!(
                    "format {} written by birds {}; this birds reads format {FORMAT_VERSION}",
                    meta.format, meta.birds_version
                ),
            });
        }
        if meta.classes.is_empty() {
            return Err(ModelError::Checkpoint {
                dir: dir.to_path_buf(),
                reason: "the class list is empty".into(),
            });
        }
        meta.architecture.validate()?;
        Ok(meta)
    }

    /// Writes `<dir>/checkpoint.json` atomically (pretty JSON).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(META_FILE);
        let text = serde_json::to_string_pretty(self).map_err(|source| ModelError::Json {
            path: path.clone(),
            source,
        })?;
        birds_core::atomic::write_bytes(&path, format!("{text}\n").as_bytes())?;
        Ok(())
    }
}

/// A loaded checkpoint: the variables, the network over them, and the metadata.
#[derive(Debug)]
pub struct Checkpoint {
    /// The variables (on the requested device).
    pub vs: VarStore,
    /// The network, ready for `logits(x, false)`.
    pub model: Box<dyn Network>,
    /// `checkpoint.json`.
    pub meta: CheckpointMeta,
}

impl Checkpoint {
    /// Loads `<dir>/checkpoint.json` and `<dir>/model.safetensors` onto `device`. Every variable of the architecture
    /// must be in the weights with the right shape (a class-count mismatch is reported as a shape mismatch of the
    /// classifier).
    pub fn load(dir: &Path, device: Device) -> Result<Self> {
        let meta = CheckpointMeta::read(dir)?;
        let mut vs = VarStore::new(device);
        let model = meta
            .architecture
            .build(&vs.root(), meta.classes.len() as i64)?;
        let weights = dir.join(MODEL_FILE);
        let head = meta.architecture.head_prefix();
        match crate::weights::load_state_dict(&mut vs, &weights, &[]) {
            Ok(_) => {}
            Err(ModelError::ShapeMismatch {
                name,
                found,
                expected,
                ..
            }) if name.starts_with(head) => {
                let classes = meta.classes.len();
                let reason = match found.first() {
                    Some(&outputs) if outputs != classes as i64 => format!(
                        "{META_FILE} lists {classes} classes but the classifier in {MODEL_FILE} has {outputs} outputs (`{name}` has shape {found:?}); the two files come from different runs"
                    ),
                    _ => format!(
                        "the classifier in {MODEL_FILE} does not fit the {} that {META_FILE} describes: `{name}` has shape {found:?}, that network has {expected:?} (a different width); the two files come from different runs",
                        meta.architecture
                    ),
                };
                return Err(ModelError::Checkpoint {
                    dir: dir.to_path_buf(),
                    reason,
                });
            }
            Err(e) => return Err(e),
        }
        check_summary(dir)?;
        Ok(Self { vs, model, meta })
    }

    /// The path of the weights in `dir`.
    pub fn weights_path(dir: &Path) -> PathBuf {
        dir.join(MODEL_FILE)
    }
}

/// BLAKE3 of a checkpoint's two files (`checkpoint.json`, then `model.safetensors`, each with its name and length),
/// hex: what `summary.json` records as [`SUMMARY_HASH_KEY`] so that a reader can tell the three files belong
/// together.
pub fn content_hash(dir: &Path) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    for name in [META_FILE, MODEL_FILE] {
        let path = dir.join(name);
        let io = |e| birds_core::CoreError::io("reading", &path, e);
        let mut file = std::fs::File::open(&path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        hasher.update(name.as_bytes());
        hasher.update(&len.to_le_bytes());
        hasher.update_reader(&mut file).map_err(io)?;
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// Checks that the run summary beside a checkpoint (`<dir>/summary.json`, when there is one) describes this
/// checkpoint: its [`SUMMARY_HASH_KEY`] must equal [`content_hash`]. A folder whose files come from two runs
/// (a run killed while writing over an older one) is refused, naming both files. Summaries written before the
/// hash was recorded are accepted with a warning.
pub fn check_summary(dir: &Path) -> Result<()> {
    let path = dir.join(SUMMARY_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(birds_core::CoreError::io("reading", &path, e).into()),
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| ModelError::Json {
            path: path.clone(),
            source,
        })?;
    let Some(recorded) = value.get(SUMMARY_HASH_KEY).and_then(|v| v.as_str()) else {
        tracing::warn!(
            summary = %path.display(),
            "{SUMMARY_FILE} records no `{SUMMARY_HASH_KEY}` (written by an older birds): not checked against the checkpoint"
        );
        return Ok(());
    };
    let actual = content_hash(dir)?;
    if recorded == actual {
        return Ok(());
    }
    let short = |h: &str| h.chars().take(12).collect::<String>();
    Err(ModelError::Checkpoint {
        dir: dir.to_path_buf(),
        reason: format!(
            "{SUMMARY_FILE} describes a checkpoint with content {}…, but {META_FILE} + {MODEL_FILE} here hash to {}…: \
             the files come from different training runs (a run killed while writing over an older one?); train \
             again into this folder, or delete {SUMMARY_FILE} to use the checkpoint as it is",
            short(recorded),
            short(&actual)
        ),
    })
}

/// Every variable of `vs`, sorted by name, copied to the CPU (what [`write_state_dict`] writes).
pub fn state_dict(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(name, t)| (name, t.detach().to_device(Device::Cpu)))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// Writes named tensors to a safetensors file atomically (temporary sibling, then rename).
pub fn write_tensors(named: &[(String, Tensor)], path: &Path) -> Result<()> {
    birds_core::atomic::write_with(path, |tmp| {
        Tensor::write_safetensors(named, tmp).map_err(ModelError::from)
    })
}

/// Writes every variable of `vs` to `path` (safetensors, sorted names, atomic).
pub fn write_state_dict(vs: &VarStore, path: &Path) -> Result<()> {
    write_tensors(&state_dict(vs), path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::norm::NormKind;

    fn meta(arch: Architecture, classes: usize) -> CheckpointMeta {
        CheckpointMeta {
            format: FORMAT_VERSION,
            birds_version: birds_core::VERSION.into(),
            architecture: arch,
            classes: (0..classes).map(|i| format!("BIRD {i}")).collect(),
            input_size: 32,
            normalization: Normalization::Centered127,
            mode: "scratch".into(),
            params: serde_json::json!({"epochs": 1}),
            best: BestMetrics {
                metric: "val_accuracy".into(),
                epoch: 1,
                val_accuracy: 0.5,
                val_loss: 1.0,
                test_accuracy: None,
                test_loss: None,
            },
            eval_view: None,
            runtime: Some(crate::runtime::torch_versions()),
        }
    }

    #[test]
    fn round_trip_gives_identical_logits() -> Result<()> {
        let dir =
            tempfile::tempdir().map_err(|e| birds_core::CoreError::io("tempdir", "/tmp", e))?;
        let arch = Architecture::SmallCnn {
            norm: NormKind::BatchNorm,
            width: 4,
        };
        tch::manual_seed(3);
        let vs = VarStore::new(Device::Cpu);
        let model = arch.build(&vs.root(), 3)?;
        let x = Tensor::randn([2, 3, 32, 32], (tch::Kind::Float, Device::Cpu));
        // Move the BatchNorm statistics away from their initial values.
        let _ = tch::no_grad(|| model.logits(&x, true));
        write_state_dict(&vs, &dir.path().join(MODEL_FILE))?;
        let m = meta(arch, 3);
        m.write(dir.path())?;
        let loaded = Checkpoint::load(dir.path(), Device::Cpu)?;
        assert_eq!(loaded.meta, m);
        let a = tch::no_grad(|| model.logits(&x, false));
        let b = tch::no_grad(|| loaded.model.logits(&x, false));
        assert!(a.equal(&b), "logits differ after the round trip");
        Ok(())
    }

    #[test]
    fn class_count_mismatch_and_missing_files_are_named() -> Result<()> {
        let dir =
            tempfile::tempdir().map_err(|e| birds_core::CoreError::io("tempdir", "/tmp", e))?;
        let e = Checkpoint::load(dir.path(), Device::Cpu)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains(META_FILE) && e.contains("birds train"), "{e}");
        let arch = Architecture::SmallCnn {
            norm: NormKind::Frn,
            width: 4,
        };
        let vs = VarStore::new(Device::Cpu);
        let _ = arch.build(&vs.root(), 3)?;
        write_state_dict(&vs, &dir.path().join(MODEL_FILE))?;
        meta(arch, 5).write(dir.path())?;
        let e = Checkpoint::load(dir.path(), Device::Cpu)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("lists 5 classes") && e.contains("has 3 outputs"),
            "{e}"
        );
        // Same classes, other width: the message must not claim a class mismatch ("lists 3 classes but … has 3
        // outputs") but name the width the two files disagree on.
        let narrow = Architecture::SmallCnn {
            norm: NormKind::Frn,
            width: 8,
        };
        meta(narrow, 3).write(dir.path())?;
        let e = Checkpoint::load(dir.path(), Device::Cpu)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            !e.contains("has 3 outputs") && !e.contains("lists 3 classes"),
            "{e}"
        );
        assert!(
            e.contains("width 8") && e.contains("fc.weight") && e.contains("different runs"),
            "{e}"
        );
        std::fs::write(dir.path().join(META_FILE), "{\"format\": 1, \"extra\": 2}")
            .map_err(|e| birds_core::CoreError::io("writing", dir.path(), e))?;
        let e = CheckpointMeta::read(dir.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains(META_FILE), "{e}");
        Ok(())
    }
}
