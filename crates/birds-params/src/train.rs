//! `TrainParams`: every knob of a training run, typed, with defaults, as written in a pipeline's `params:` or
//! given with `--set key=value`.
//!
//! Some defaults depend on the mode (see [`TrainParams::resolved`]):
//!
//! | param | feature-extract | fine-tune | scratch |
//! |---|---|---|---|
//! | `model` | efficientnet-lite0 | efficientnet-lite0 | small-cnn |
//! | `epochs` | 30 | 10 | 30 |
//! | `lr` | 0.002 | 0.005 | 0.002 |
//! | `unfreeze` (fine-tune) | | Lite0: 6, small-cnn: all | |
//! | `weight_decay` | adamw 0.01 / sgd 5e-4 | same | same |

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use birds_core::Normalization;
use birds_core::model::{Architecture, DeviceSpec, NormKind};
use serde::{Deserialize, Serialize};

use crate::{ParamsError, Result};

/// How the network is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Pretrained backbone frozen; pooled features computed once (cached across runs); a linear head trained on them.
    FeatureExtract,
    /// Head warm-up with the backbone frozen, then all or the last N backbone groups unfrozen at a lower LR.
    #[default]
    FineTune,
    /// Every weight from random initialisation.
    Scratch,
}

impl Mode {
    /// The spelling in YAML, JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::FeatureExtract => "feature-extract",
            Mode::FineTune => "fine-tune",
            Mode::Scratch => "scratch",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = ParamsError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "feature-extract" => Ok(Mode::FeatureExtract),
            "fine-tune" => Ok(Mode::FineTune),
            "scratch" => Ok(Mode::Scratch),
            _ => Err(ParamsError::Train(format!(
                "`mode`: unknown mode {s:?}; expected feature-extract, fine-tune or scratch"
            ))),
        }
    }
}

/// Which network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelName {
    /// EfficientNet-Lite0 (ImageNet weights).
    #[serde(rename = "efficientnet-lite0")]
    EfficientNetLite0,
    /// The small CNN of `birds_models::small_cnn` (params `norm`, `width`).
    SmallCnn,
}

/// The optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// AdamW (decoupled weight decay), betas 0.9/0.999, eps 1e-8.
    #[default]
    Adamw,
    /// SGD with momentum (`momentum`, `nesterov`) and L2 weight decay.
    Sgd,
}

/// The learning-rate schedule of the main phase (the fine-tune head warm-up runs at the constant head LR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    /// Linear warm-up over `warmup_epochs`, then cosine decay to `lr · min_lr_factor`.
    #[default]
    Cosine,
    /// One-cycle (Smith 2018, PyTorch `OneCycleLR` with cosine annealing): from lr/25 up to lr over the first 30%
    /// of the steps, then down to lr/25·1e-4.
    Onecycle,
    /// The same LR throughout.
    Constant,
}

/// The validation metric that selects the best checkpoint and drives early stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectMetric {
    /// Highest validation accuracy, ties going to the lower validation loss (the default: on birds-hard the lowest
    /// loss came early, at a lower accuracy, in 2 of the first 4 recipes; docs/train.md).
    #[default]
    ValAccuracy,
    /// Lowest validation loss (ties go to the higher validation accuracy).
    ValLoss,
}

impl SelectMetric {
    /// The spelling in YAML and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SelectMetric::ValAccuracy => "val_accuracy",
            SelectMetric::ValLoss => "val_loss",
        }
    }
}

/// What fine-tune's head warm-up trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadWarmupOn {
    /// The cached pooled features of the frozen backbone, exactly as feature-extract trains its head (LP-FT: a
    /// linear probe, then fine-tuning; seconds instead of full forward passes, and the cache is shared with a
    /// feature-extract run on the same data and weights).
    #[default]
    Features,
    /// Full forward passes of the training images through the frozen backbone (augmented).
    Images,
}

/// What fine-tune's main phase feeds the unfrozen groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FineTuneOn {
    /// `activations` when some backbone groups stay frozen and their output for every view and image fits in
    /// `birds_train::activations::MAX_BYTES`, else `images` (the default).
    #[default]
    Auto,
    /// Augmented training images through the whole network (the frozen groups in evaluation mode) every step.
    Images,
    /// With `unfreeze: N`, the frozen groups' output (their activations) for each training image, computed once per
    /// augmented view and kept in memory: `activation_views` views, epoch `m` of the main phase training on view
    /// `m mod activation_views` (a view's first epoch in the loader's order, later epochs reshuffled), validation and
    /// test activations computed once. The same arithmetic as `images` while `epochs ≤ activation_views`; cheaper
    /// per epoch after that, and every validation pass runs only the unfrozen groups.
    Activations,
}

/// Which backbone groups fine-tuning unfreezes after the head warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value", into = "serde_json::Value")]
pub enum Unfreeze {
    /// Every backbone group.
    #[default]
    All,
    /// The last N groups (Lite0: the head conv counts as one, then blocks 15, 14, …).
    Last(usize),
}

impl TryFrom<serde_json::Value> for Unfreeze {
    type Error = String;

    fn try_from(v: serde_json::Value) -> Result<Self, String> {
        match &v {
            serde_json::Value::String(s) if s.trim() == "all" => Ok(Unfreeze::All),
            serde_json::Value::String(s) if s.trim().parse::<usize>().is_ok() => {
                Ok(Unfreeze::Last(s.trim().parse().unwrap_or(0)))
            }
            serde_json::Value::Number(n) if n.as_u64().is_some() => {
                Ok(Unfreeze::Last(n.as_u64().unwrap_or(0) as usize))
            }
            _ => Err(format!(
                "invalid unfreeze {v}: expected `all` or a number of backbone groups (e.g. 3)"
            )),
        }
    }
}

impl From<Unfreeze> for serde_json::Value {
    fn from(u: Unfreeze) -> Self {
        match u {
            Unfreeze::All => serde_json::Value::from("all"),
            Unfreeze::Last(n) => serde_json::Value::from(n),
        }
    }
}

/// A device written as `auto`, `cpu`, `cuda` or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceParam(pub DeviceSpec);

impl TryFrom<String> for DeviceParam {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse::<DeviceSpec>()
            .map(DeviceParam)
            .map_err(|e| e.to_string())
    }
}

impl From<DeviceParam> for String {
    fn from(d: DeviceParam) -> Self {
        d.0.to_string()
    }
}

/// Every param of a training run. Unknown keys are rejected; absent keys take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainParams {
    /// `feature-extract`, `fine-tune` (default) or `scratch`.
    pub mode: Mode,
    /// `efficientnet-lite0` or `small-cnn`; default by mode (scratch: small-cnn).
    pub model: Option<ModelName>,
    /// Normalisation layers of the small CNN: `batch-norm` (default) or `frn` (FRN + TLU).
    pub norm: NormKind,
    /// Base width of the small CNN (default 32); refused for efficientnet-lite0, whose width is fixed.
    pub width: Option<i64>,
    /// Epochs of the main phase (fine-tune: after the head warm-up); default by mode.
    pub epochs: Option<u32>,
    /// Fine-tune: epochs training only the head, backbone frozen and in evaluation mode, before unfreezing.
    pub head_warmup_epochs: u32,
    /// Fine-tune: the head warm-up's (constant) LR; default `lr`. LP-FT probes at a probe's LR, then fine-tunes
    /// lower.
    pub head_warmup_lr: Option<f64>,
    /// Fine-tune: what the head warm-up trains on: `features` (default; the cached embeddings, as feature-extract)
    /// or `images`.
    pub head_warmup_on: HeadWarmupOn,
    /// Training batch size.
    pub batch_size: usize,
    /// Evaluation (and feature extraction) batch size.
    pub eval_batch_size: usize,
    /// Peak learning rate of the head (and of the whole network in scratch mode); default by mode.
    pub lr: Option<f64>,
    /// Fine-tune: backbone LR = `lr · backbone_lr_factor`.
    pub backbone_lr_factor: f64,
    /// Fine-tune: `all` backbone groups or the last N; default by model: Lite0 6 (blocks 11–15 and the head conv,
    /// the 7 × 7 part of the network), small-cnn all.
    pub unfreeze: Option<Unfreeze>,
    /// Fine-tune: keep BatchNorm statistics (and drop-connect) of the backbone in evaluation mode.
    pub freeze_bn: bool,
    /// Fine-tune: what the main phase trains on: `auto` (default: activations when groups stay frozen and they fit
    /// in memory), `images`, or `activations` (the frozen groups' output, computed once per view; needs `unfreeze: N`).
    pub fine_tune_on: FineTuneOn,
    /// Fine-tune with `fine_tune_on: activations`: augmented views of each training image whose activations are
    /// computed (and held in memory); epochs beyond it reuse them.
    pub activation_views: u32,
    /// Fine-tune: layer-wise LR decay (timm `--layer-decay`): unfrozen backbone group `g` of `G` (forward order)
    /// trains at `lr · backbone_lr_factor · layer_decay^(G-1-g)`, so earlier groups move less; 1 = one backbone LR.
    pub layer_decay: f64,
    /// `adamw` (default) or `sgd`.
    pub optimizer: OptimizerKind,
    /// SGD momentum.
    pub momentum: f64,
    /// SGD Nesterov momentum.
    pub nesterov: bool,
    /// Weight decay (AdamW: decoupled; SGD: L2); not applied to biases and normalisation parameters. Default:
    /// 0.01 for AdamW, 5e-4 for SGD.
    pub weight_decay: Option<f64>,
    /// `cosine` (default), `onecycle` or `constant`.
    pub schedule: ScheduleKind,
    /// Cosine: linear warm-up length in epochs (fractions allowed).
    pub warmup_epochs: f64,
    /// Cosine: final LR as a fraction of the peak.
    pub min_lr_factor: f64,
    /// Label smoothing of the training loss (0 = off).
    pub label_smoothing: f64,
    /// Mixup α (0 = off): each training batch mixed with a shuffled copy of itself, λ ~ Beta(α, α); the frozen
    /// groups' output with `fine_tune_on: activations` (manifold mixup). Not in fine-tune's head warm-up.
    pub mixup: f64,
    /// Clip the global gradient norm to this value (null = off).
    pub grad_clip: Option<f64>,
    /// Exponential moving average of the main phase's trained weights (timm `--model-ema`), in (0, 1), e.g. 0.99:
    /// validation, the kept checkpoint and the test use the average (see `birds_train::ema`). null = off (not written
    /// into the recorded params then, so runs without it keep their records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ema_decay: Option<f64>,
    /// Stop when the selected validation metric has not improved for this many epochs (null = off).
    pub patience: Option<u32>,
    /// `val_accuracy` (default; ties: lower loss) or `val_loss` (ties: higher accuracy): selects the best checkpoint
    /// (and drives `patience`).
    pub select: SelectMetric,
    /// Seed of initialisation, data order, augmentation and dropout.
    pub seed: u64,
    /// `auto` (CUDA when present), `cpu`, `cuda` or `cuda:N`.
    pub device: DeviceParam,
    /// Mixed precision (autocast + loss scaling) on CUDA; ignored on CPU.
    pub amp: bool,
    /// Wall-time budget in seconds, counted from the start (feature extraction included). Steps 2–10 of the first main-
    /// phase epoch (fine-tune: the first after the head warm-up) are timed and the main phase is re-planned to the
    /// steps that fit, leaving time for one validation pass per epoch and the final test pass, so the schedule (cosine)
    /// ends on time and an epoch may end early on the planned step; an epoch of fewer than 11 steps is planned at its
    /// end instead (whole epochs). The run also stops at an epoch boundary when the next epoch would end more than 10 %
    /// past the budget. null = no budget.
    pub time_budget_s: Option<f64>,
    /// Pixel normalisation fed to the network (recorded in the checkpoint).
    pub normalization: Normalization,
    /// Pretrained weights (feature-extract, fine-tune); default: the ImageNet Lite0 weights of `just setup`.
    pub weights: Option<PathBuf>,
    /// Feature-extract (and fine-tune's warm-up on features): also embed horizontally flipped training images (twice
    /// the head's training data).
    pub flip_features: bool,
    /// Feature-extract (and fine-tune's warm-up on features): folder of the feature cache (default
    /// `artifacts/.cache/features` under the project root).
    pub feature_cache: Option<PathBuf>,
    /// Training-time augmentation, passed to the loader (see docs/preprocess.md); `{}` = the loader's defaults.
    pub augment: birds_preprocess::AugmentParams,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            mode: Mode::default(),
            model: None,
            norm: NormKind::default(),
            width: None,
            epochs: None,
            head_warmup_epochs: 4,
            head_warmup_lr: None,
            head_warmup_on: HeadWarmupOn::default(),
            batch_size: 32,
            eval_batch_size: 64,
            lr: None,
            backbone_lr_factor: 0.1,
            unfreeze: None,
            freeze_bn: true,
            fine_tune_on: FineTuneOn::default(),
            activation_views: 4,
            layer_decay: 1.0,
            optimizer: OptimizerKind::default(),
            momentum: 0.9,
            nesterov: true,
            weight_decay: None,
            schedule: ScheduleKind::default(),
            warmup_epochs: 1.0,
            min_lr_factor: 0.01,
            label_smoothing: 0.1,
            mixup: 0.0,
            grad_clip: None,
            ema_decay: None,
            patience: None,
            select: SelectMetric::default(),
            seed: 42,
            device: DeviceParam::default(),
            amp: true,
            time_budget_s: None,
            normalization: Normalization::default(),
            weights: None,
            flip_features: true,
            feature_cache: None,
            augment: Default::default(),
        }
    }
}

/// The params with every mode-dependent default filled in and every value checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The params as given (serialised into the checkpoint).
    pub params: TrainParams,
    /// The network.
    pub architecture: Architecture,
    /// Main-phase epochs.
    pub epochs: u32,
    /// Peak LR.
    pub lr: f64,
    /// Fine-tune's head warm-up LR (`head_warmup_lr`, else `lr`).
    pub head_warmup_lr: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Pretrained weights file (feature-extract, fine-tune), else None.
    pub weights: Option<PathBuf>,
    /// Fine-tune: the backbone groups unfrozen after the warm-up (`unfreeze`, or the model's default).
    pub unfreeze: Unfreeze,
}

impl TrainParams {
    /// Parses params from JSON (a pipeline's `params:` after `--set`), naming the offending key on error.
    pub fn from_json(value: &serde_json::Value) -> Result<Self> {
        let value = if value.is_null() {
            serde_json::Value::Object(Default::default())
        } else {
            value.clone()
        };
        let Some(map) = value.as_object() else {
            return Err(ParamsError::Train(format!(
                "expected a mapping of param names to values, got {value}"
            )));
        };
        // serde's messages for enums do not say which field failed: try each key alone to name it.
        for (key, v) in map {
            let one = serde_json::json!({ key: v });
            if let Err(e) = serde_json::from_value::<TrainParams>(one) {
                return Err(ParamsError::Train(format!("`{key}`: {e}")));
            }
        }
        serde_json::from_value(value).map_err(|e| ParamsError::Train(e.to_string()))
    }

    /// Parses params from YAML (a `--params` file): `.inf` and `.nan` are refused naming the key (JSON, which
    /// the params pass through, would turn them into null, i.e. the default).
    pub fn from_yaml(text: &str) -> Result<Self> {
        let yaml: serde_yaml::Value = serde_yaml::from_str(text)
            .map_err(|e| ParamsError::Train(format!("not valid YAML: {e}")))?;
        let value =
            birds_core::yaml::to_json(&yaml, "").map_err(|e| ParamsError::Train(e.to_string()))?;
        Self::from_json(&value)
    }

    /// Applies `key=value` overrides (value parsed as YAML: `3`, `0.1`, `true`, `null`, `frn`, `[1, 2]`).
    pub fn with_overrides(&self, sets: &[String]) -> Result<Self> {
        let mut value = serde_json::to_value(self)
            .map_err(|e| ParamsError::Train(format!("serialising params: {e}")))?;
        let map = value
            .as_object_mut()
            .ok_or_else(|| ParamsError::Train("params are not a mapping".into()))?;
        // Keys left out of the serialised params while off are still settable.
        map.entry("ema_decay").or_insert(serde_json::Value::Null);
        for set in sets {
            let Some((key, raw)) = set.split_once('=') else {
                return Err(ParamsError::Train(format!(
                    "--set {set:?}: expected key=value, e.g. --set lr=0.001"
                )));
            };
            let key = key.trim();
            if !map.contains_key(key) {
                let mut known: Vec<&String> = map.keys().collect();
                known.sort();
                return Err(ParamsError::Train(format!(
                    "--set {set:?}: unknown param `{key}`; known: {}",
                    known
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            let yaml: serde_yaml::Value = serde_yaml::from_str(raw.trim()).map_err(|e| {
                ParamsError::Train(format!("--set {set:?}: value is not valid YAML: {e}"))
            })?;
            let parsed = birds_core::yaml::to_json(&yaml, key)
                .map_err(|e| ParamsError::Train(format!("--set {set:?}: {e}")))?;
            map.insert(key.to_string(), parsed);
        }
        Self::from_json(&value)
    }

    /// The main-phase epochs, LR, weight decay and architecture for this mode, after checking every value.
    ///
    /// The checks run in a fixed order (model, epochs and learning rates, batch sizes, optimiser, schedule,
    /// regularisation, stopping, fine-tune options, weights), so that of several wrong params the same one is
    /// always reported.
    pub fn resolved(&self) -> Result<Resolved> {
        let model = self.default_model();
        let architecture = self.resolve_architecture(model)?;
        let epochs = self.resolve_epochs()?;
        let (lr, head_warmup_lr) = self.resolve_lrs()?;
        self.check_batch_sizes()?;
        let weight_decay = self.resolve_optimizer()?;
        self.check_schedule()?;
        self.check_regularisation()?;
        self.check_stopping()?;
        let groups = architecture.backbone_group_count();
        let unfreeze = self.resolve_unfreeze(&architecture, groups)?;
        self.check_fine_tune_options(unfreeze, groups)?;
        let weights = self.resolve_weights(model)?;
        Ok(Resolved {
            params: self.clone(),
            architecture,
            epochs,
            lr,
            head_warmup_lr,
            weight_decay,
            weights,
            unfreeze,
        })
    }

    /// `model`, else the mode's default (scratch: small-cnn; otherwise efficientnet-lite0).
    fn default_model(&self) -> ModelName {
        self.model.unwrap_or(match self.mode {
            Mode::Scratch => ModelName::SmallCnn,
            _ => ModelName::EfficientNetLite0,
        })
    }

    /// The network of `model`: refuses the small-CNN params (`norm`, `width`) for efficientnet-lite0, then checks
    /// the architecture (a bad width is reported as `width`).
    fn resolve_architecture(&self, model: ModelName) -> Result<Architecture> {
        let architecture = match model {
            ModelName::EfficientNetLite0 => {
                if self.norm != NormKind::BatchNorm {
                    return bad(
                        "norm",
                        format!(
                            "{} applies to small-cnn only; efficientnet-lite0 keeps its BatchNorm",
                            self.norm
                        ),
                    );
                }
                if let Some(w) = self.width {
                    return bad(
                        "width",
                        format!(
                            "{w}: applies to small-cnn only; efficientnet-lite0 has a fixed width (drop `width`, or set `model: small-cnn`)"
                        ),
                    );
                }
                Architecture::EfficientNetLite0
            }
            ModelName::SmallCnn => Architecture::SmallCnn {
                norm: self.norm,
                width: self
                    .width
                    .unwrap_or(birds_core::model::SMALL_CNN_DEFAULT_WIDTH),
            },
        };
        architecture
            .validate()
            .map_err(|e| ParamsError::Train(format!("`width`: {e}")))?;
        Ok(architecture)
    }

    /// Main-phase `epochs`, else the mode's default; 0 is allowed only for a fine-tune run that has a head
    /// warm-up.
    fn resolve_epochs(&self) -> Result<u32> {
        let epochs = self.epochs.unwrap_or(match self.mode {
            Mode::FeatureExtract => 30,
            Mode::FineTune => 10,
            Mode::Scratch => 30,
        });
        if epochs == 0 && !(self.mode == Mode::FineTune && self.head_warmup_epochs > 0) {
            return bad("epochs", "must be at least 1".into());
        }
        Ok(epochs)
    }

    /// The peak LR (`lr`, else the mode's default) and the head warm-up LR (`head_warmup_lr`, else `lr`), both
    /// checked positive, after which `backbone_lr_factor` is checked too.
    fn resolve_lrs(&self) -> Result<(f64, f64)> {
        let lr = self.lr.unwrap_or(match self.mode {
            Mode::FeatureExtract => 2e-3,
            Mode::FineTune => 5e-3,
            Mode::Scratch => 2e-3,
        });
        if !(lr.is_finite() && lr > 0.0) {
            return bad("lr", format!("{lr} must be a positive number (e.g. 0.001)"));
        }
        let head_warmup_lr = self.head_warmup_lr.unwrap_or(lr);
        if !(head_warmup_lr.is_finite() && head_warmup_lr > 0.0) {
            return bad(
                "head_warmup_lr",
                format!("{head_warmup_lr} must be a positive number (or null for `lr`)"),
            );
        }
        if !(self.backbone_lr_factor.is_finite() && self.backbone_lr_factor > 0.0) {
            return bad(
                "backbone_lr_factor",
                format!("{} must be positive", self.backbone_lr_factor),
            );
        }
        Ok((lr, head_warmup_lr))
    }

    /// `batch_size` and `eval_batch_size`: at least 1.
    fn check_batch_sizes(&self) -> Result<()> {
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        if self.eval_batch_size == 0 {
            return bad("eval_batch_size", "must be at least 1".into());
        }
        Ok(())
    }

    /// Checks the optimiser's `momentum` and returns its weight decay (`weight_decay`, else the optimiser's
    /// default), checked ≥ 0.
    fn resolve_optimizer(&self) -> Result<f64> {
        let weight_decay = self.weight_decay.unwrap_or(match self.optimizer {
            OptimizerKind::Adamw => 0.01,
            OptimizerKind::Sgd => 5e-4,
        });
        if !(0.0..1.0).contains(&self.momentum) {
            return bad("momentum", format!("{} must be in [0, 1)", self.momentum));
        }
        if !(weight_decay.is_finite() && weight_decay >= 0.0) {
            return bad("weight_decay", format!("{weight_decay} must be ≥ 0"));
        }
        Ok(weight_decay)
    }

    /// The LR schedule's `warmup_epochs` and `min_lr_factor`.
    fn check_schedule(&self) -> Result<()> {
        if !(self.warmup_epochs.is_finite() && self.warmup_epochs >= 0.0) {
            return bad(
                "warmup_epochs",
                format!("{} must be ≥ 0", self.warmup_epochs),
            );
        }
        if !(0.0..=1.0).contains(&self.min_lr_factor) {
            return bad(
                "min_lr_factor",
                format!("{} must be in [0, 1]", self.min_lr_factor),
            );
        }
        Ok(())
    }

    /// The regularisation of the training loss and step: `label_smoothing`, `mixup`, `grad_clip` and `ema_decay`.
    fn check_regularisation(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad(
                "label_smoothing",
                format!("{} must be in [0, 1)", self.label_smoothing),
            );
        }
        if !(self.mixup.is_finite() && self.mixup >= 0.0) {
            return bad("mixup", format!("{} must be ≥ 0 (0 = off)", self.mixup));
        }
        if let Some(c) = self.grad_clip.filter(|c| !(c.is_finite() && *c > 0.0)) {
            return bad(
                "grad_clip",
                format!("{c} must be positive (or null for off)"),
            );
        }
        if let Some(d) = self.ema_decay.filter(|d| !(*d > 0.0 && *d < 1.0)) {
            return bad(
                "ema_decay",
                format!("{d} must be in (0, 1), e.g. 0.99 (or null for off)"),
            );
        }
        Ok(())
    }

    /// When a run stops early: the time budget (`time_budget_s`) and early stopping (`patience`).
    fn check_stopping(&self) -> Result<()> {
        if let Some(t) = self.time_budget_s.filter(|t| !(t.is_finite() && *t > 0.0)) {
            return bad(
                "time_budget_s",
                format!("{t} must be positive (or null for none)"),
            );
        }
        if self.patience == Some(0) {
            return bad("patience", "must be at least 1 (or null for off)".into());
        }
        Ok(())
    }

    /// `unfreeze`, else the model's default (Lite0: the last 6 groups; small-cnn: all), checked against the
    /// `groups` backbone groups of `architecture`.
    fn resolve_unfreeze(&self, architecture: &Architecture, groups: usize) -> Result<Unfreeze> {
        let unfreeze = self.unfreeze.unwrap_or(match architecture {
            Architecture::EfficientNetLite0 => Unfreeze::Last(6),
            Architecture::SmallCnn { .. } => Unfreeze::All,
        });
        if let Unfreeze::Last(n) = unfreeze
            && !(1..=groups).contains(&n)
        {
            return bad(
                "unfreeze",
                format!(
                    "{n}: {} has {groups} backbone groups; give 1 to {groups} or `all`",
                    architecture.name()
                ),
            );
        }
        Ok(unfreeze)
    }

    /// The other fine-tune options: `layer_decay`, and with `fine_tune_on: activations` the mode, the resolved
    /// `unfreeze` (some of the `groups` backbone groups must stay frozen) and `activation_views`.
    fn check_fine_tune_options(&self, unfreeze: Unfreeze, groups: usize) -> Result<()> {
        if !(self.layer_decay.is_finite() && self.layer_decay > 0.0 && self.layer_decay <= 1.0) {
            return bad(
                "layer_decay",
                format!("{} must be in (0, 1] (1 = off)", self.layer_decay),
            );
        }
        if self.fine_tune_on == FineTuneOn::Activations {
            if self.mode != Mode::FineTune {
                return bad(
                    "fine_tune_on",
                    format!("activations applies to mode fine-tune, not {}", self.mode),
                );
            }
            if unfreeze == Unfreeze::All {
                return bad(
                    "fine_tune_on",
                    "activations caches the frozen groups' output, and `unfreeze: all` freezes none: give `unfreeze: N` (e.g. 3) or `fine_tune_on: images`".into(),
                );
            }
            if unfreeze == Unfreeze::Last(groups) {
                return bad(
                    "fine_tune_on",
                    format!(
                        "activations caches the frozen groups' output, and `unfreeze: {groups}` unfreezes all {groups}: give fewer, or `fine_tune_on: images`"
                    ),
                );
            }
            if self.activation_views == 0 {
                return bad("activation_views", "must be at least 1".into());
            }
        }
        Ok(())
    }

    /// The pretrained weights file: none in scratch mode (where `weights` is refused); otherwise `weights`, else
    /// the built-in ImageNet Lite0 weights (small-cnn has none, so it needs `weights`).
    fn resolve_weights(&self, model: ModelName) -> Result<Option<PathBuf>> {
        match self.mode {
            Mode::Scratch => {
                if let Some(w) = &self.weights {
                    return bad(
                        "weights",
                        format!(
                            "{}: mode scratch starts from random initialisation and loads no weights; drop `weights`, or use mode fine-tune or feature-extract",
                            w.display()
                        ),
                    );
                }
                Ok(None)
            }
            Mode::FeatureExtract | Mode::FineTune => match (&self.weights, model) {
                (Some(w), _) => Ok(Some(w.clone())),
                (None, ModelName::EfficientNetLite0) => {
                    Ok(Some(birds_core::paths::default_weights()))
                }
                (None, ModelName::SmallCnn) => bad(
                    "weights",
                    format!(
                        "mode {} needs pretrained weights and small-cnn has none built in; give `weights:` or use mode scratch",
                        self.mode
                    ),
                ),
            },
        }
    }
}

/// The error of a param that fails its check: `` `key`: msg ``.
fn bad<T>(key: &str, msg: String) -> Result<T> {
    Err(ParamsError::Train(format!("`{key}`: {msg}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(v: serde_json::Value) -> String {
        TrainParams::from_json(&v)
            .and_then(|p| p.resolved().map(|_| ()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn defaults_depend_on_mode() -> Result<()> {
        let p = TrainParams::from_json(&serde_json::json!({"mode": "scratch"}))?.resolved()?;
        assert_eq!(p.architecture.name(), "small-cnn");
        assert_eq!((p.epochs, p.weights), (30, None));
        let p = TrainParams::from_json(&serde_json::Value::Null)?.resolved()?;
        assert_eq!(p.architecture, Architecture::EfficientNetLite0);
        assert_eq!(p.weights, Some(birds_core::paths::default_weights()));
        assert_eq!(p.head_warmup_lr, p.lr, "the warm-up LR defaults to lr");
        Ok(())
    }

    #[test]
    fn bad_params_name_the_key() {
        let e = err(serde_json::json!({"mode": "transfer"}));
        assert!(e.contains("`mode`") && e.contains("fine-tune"), "{e}");
        let e = err(serde_json::json!({"lr": 0.0}));
        assert!(e.contains("`lr`") && e.contains("positive"), "{e}");
        let e = err(serde_json::json!({"lr": -1}));
        assert!(e.contains("`lr`"), "{e}");
        let e = err(serde_json::json!({"learning_rate": 0.1}));
        assert!(
            e.contains("learning_rate") && e.contains("unknown field"),
            "{e}"
        );
        let e = err(serde_json::json!({"unfreeze": 40}));
        assert!(
            e.contains("`unfreeze`") && e.contains("18 backbone groups"),
            "{e}"
        );
        let e = err(serde_json::json!({"unfreeze": "some"}));
        assert!(e.contains("`unfreeze`") && e.contains("`all`"), "{e}");
        let e = err(serde_json::json!({"mode": "fine-tune", "model": "small-cnn"}));
        assert!(e.contains("`weights`"), "{e}");
        let e = err(serde_json::json!({"norm": "frn"}));
        assert!(e.contains("small-cnn only"), "{e}");
        let e = err(serde_json::json!({"head_warmup_lr": 0}));
        assert!(
            e.contains("`head_warmup_lr`") && e.contains("positive"),
            "{e}"
        );
        let e = err(serde_json::json!({"layer_decay": 1.5}));
        assert!(e.contains("`layer_decay`"), "{e}");
        for d in [0.0, 1.0, -0.5] {
            let e = err(serde_json::json!({"ema_decay": d}));
            assert!(e.contains("`ema_decay`") && e.contains("(0, 1)"), "{e}");
        }
        let e = err(serde_json::json!({"mode": "scratch", "fine_tune_on": "activations"}));
        assert!(
            e.contains("`fine_tune_on`") && e.contains("fine-tune"),
            "{e}"
        );
        let e = err(serde_json::json!({"fine_tune_on": "activations", "unfreeze": 18}));
        assert!(
            e.contains("`fine_tune_on`") && e.contains("unfreezes all 18"),
            "{e}"
        );
        let e = err(
            serde_json::json!({"fine_tune_on": "activations", "unfreeze": 3, "activation_views": 0}),
        );
        assert!(e.contains("`activation_views`"), "{e}");
        assert_eq!(
            err(serde_json::json!({"fine_tune_on": "activations", "unfreeze": 3})),
            ""
        );
        let e = err(serde_json::json!({"device": "tpu"}));
        assert!(e.contains("`device`") && e.contains("cuda:N"), "{e}");
    }

    /// YAML's `.inf` and `.nan` have no JSON form: they used to become null, i.e. the default, without a word.
    #[test]
    fn non_finite_values_are_refused_naming_the_key() {
        for (set, key) in [
            ("lr=.inf", "`lr`"),
            ("lr=.nan", "`lr`"),
            ("grad_clip=-.inf", "`grad_clip`"),
            ("weight_decay=.nan", "`weight_decay`"),
            ("time_budget_s=.inf", "`time_budget_s`"),
            ("momentum=.nan", "`momentum`"),
            ("warmup_epochs=.inf", "`warmup_epochs`"),
            ("augment={hflip: .nan}", "augment.hflip"),
        ] {
            let e = TrainParams::default()
                .with_overrides(&[set.into()])
                .and_then(|p| p.resolved().map(|_| ()))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(key) && e.contains("finite"), "{set}: {e:?}");
        }
    }

    /// Params the chosen model or mode would ignore are refused, not dropped.
    #[test]
    fn params_that_would_be_ignored_are_refused() {
        let e = err(serde_json::json!({"mode": "scratch", "weights": "w.safetensors"}));
        assert!(e.contains("`weights`") && e.contains("scratch"), "{e}");
        let e = err(serde_json::json!({"mode": "fine-tune", "width": 16}));
        assert!(e.contains("`width`") && e.contains("small-cnn"), "{e}");
        let e =
            err(serde_json::json!({"model": "efficientnet-lite0", "mode": "scratch", "width": 8}));
        assert!(e.contains("`width`"), "{e}");
        // Where they apply they are taken.
        assert_eq!(err(serde_json::json!({"mode": "scratch", "width": 8})), "");
    }

    #[test]
    fn overrides_parse_yaml_values() -> Result<()> {
        let p = TrainParams::default().with_overrides(&[
            "mode=scratch".into(),
            "lr=0.01".into(),
            "unfreeze=3".into(),
            "grad_clip=null".into(),
            "norm=frn".into(),
            "ema_decay=0.99".into(),
        ])?;
        assert_eq!(p.mode, Mode::Scratch);
        assert_eq!(p.ema_decay, Some(0.99));
        // Off, it is not part of the recorded params (older records stay valid); on, it is.
        let off = serde_json::to_value(TrainParams::default()).unwrap_or_default();
        assert!(off.get("ema_decay").is_none(), "{off}");
        assert_eq!(
            serde_json::to_value(&p).unwrap_or_default()["ema_decay"],
            0.99
        );
        assert_eq!(p.lr, Some(0.01));
        assert_eq!(p.unfreeze, Some(Unfreeze::Last(3)));
        assert_eq!(p.norm, NormKind::Frn);
        let e = TrainParams::default()
            .with_overrides(&["epoch=3".into()])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("unknown param `epoch`") && e.contains("epochs"),
            "{e}"
        );
        Ok(())
    }
}
