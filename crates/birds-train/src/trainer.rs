//! The training loop: phases, checkpoints, early stopping, time budget, and exact resume.
//!
//! Per epoch `e` (0-based): `tch::manual_seed(seed + e)` (dropout, drop-connect), data order and augmentation from
//! `(seed, e)`, LR from the global step. After each epoch the complete run state (weights, optimiser state, epoch,
//! best metrics, history) is written to `<out>/state/` by building `<out>/.state.tmp-<pid>/` and renaming it into
//! place, so a run killed at any moment resumes from its last completed epoch with the same result (CPU). What a
//! killed run leaves half written (`.state.tmp-<pid>/`, `.<file>.tmp-<pid>`) is removed at the next start once that
//! pid is no longer running. [`train`] writes into `out` as it goes; `birds train --out DIR` goes through
//! [`crate::run_dir::train_into`], which trains into a temporary sibling and swaps it in only on success.
//!
//! Output folder:
//!
//! | file | what |
//! |---|---|
//! | `model.safetensors`, `checkpoint.json` | the best epoch's weights and metadata (`birds_models::Checkpoint`) |
//! | `history.parquet`, `curves.png` | learning curves, rewritten every epoch |
//! | `summary.json` | the run in one record (written at the end) |
//! | `state/` | resume state; removed when the run completes |

use birds_models::{ArchitectureExt, DeviceExt};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use birds_core::Split;
use birds_models::checkpoint::{
    self, BestMetrics, CheckpointMeta, FORMAT_VERSION, MODEL_FILE, write_state_dict,
};
use birds_models::{Architecture, Network};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Kind, Reduction, Tensor};

use crate::activations::Activations;
use crate::data::{BatchIter, DataSource, permutation};
use crate::ema::Ema;
use crate::features::{self, FeatureCacheInfo, FeatureKey, Features, SplitFeatures};
use crate::history::{HistoryRow, plot_curves, write_history};
use crate::optim::{LossScaler, Optimizer};
use crate::params::{
    FineTuneOn, HeadWarmupOn, Mode, Resolved, ScheduleKind, SelectMetric, TrainParams, Unfreeze,
};
use crate::schedule::Schedule;
use crate::summary::{StopReason, Summary};
use crate::{Result, TrainError};

/// Folder of the resume state inside the output folder.
pub const STATE_DIR: &str = "state";
/// File of the resume state's bookkeeping.
pub const STATE_FILE: &str = "state.json";
/// File of the optimiser state.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// File of the weight average's shadow in the resume state (`ema_decay`).
pub const EMA_FILE: &str = "ema.safetensors";
/// File of the learning curves' picture.
pub const CURVES_FILE: &str = "curves.png";

/// How [`train`] runs, beyond the params.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Continue from `<out>/state/` (the last completed epoch of a killed run).
    pub resume: bool,
    /// Draw progress bars on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// Stop (with [`TrainError::Stopped`]) after this many epochs have completed in this call, as if killed.
    pub stop_after_epochs: Option<u32>,
    /// Folder that relative paths (`feature_cache`) are resolved against; default feature cache:
    /// `<root>/artifacts/.cache/features`.
    pub root: PathBuf,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            resume: false,
            progress: true,
            stop_after_epochs: None,
            root: PathBuf::from("."),
        }
    }
}

/// A training phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Linear head on cached embeddings.
    FeatureExtract,
    /// Fine-tune, backbone frozen and in evaluation mode.
    HeadWarmup,
    /// Fine-tune, backbone (part) unfrozen.
    FineTune,
    /// Everything from scratch.
    Scratch,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::FeatureExtract => "feature-extract",
            Phase::HeadWarmup => "head-warmup",
            Phase::FineTune => "fine-tune",
            Phase::Scratch => "scratch",
        }
    }
}

/// The train steps of the first main-phase epoch timed for the budget plan: from step `.0` (the first steps pay for
/// allocator and kernel warm-up) to step `.1`.
const BUDGET_PROBE: (usize, usize) = (2, 10);

/// A forward pass without gradients is this many times cheaper per image than a train step (Lite0 on 2 cores:
/// 70.6 vs 13.0 images/s, docs/benchmarks.md; taken lower, so the estimate errs on the side of time to spare).
const EVAL_SPEEDUP: f64 = 4.0;

/// What the time budget's step plan is computed from.
#[derive(Debug, Clone)]
struct BudgetPlan {
    budget_s: f64,
    /// Wall time spent so far (resumed sessions included).
    elapsed_s: f64,
    /// Measured seconds per train step.
    step_s: f64,
    batch_size: usize,
    steps_per_epoch: usize,
    /// Main-phase steps already taken.
    done_steps: usize,
    /// Main-phase steps the params ask for.
    asked_steps: usize,
    /// Images evaluated after each epoch (valid) and once at the end (test).
    eval_images: [usize; 2],
    /// Main-phase epochs already ended (and validated).
    validated_epochs: usize,
}

/// The main-phase steps that fit the budget: the steps left, plus one validation pass per epoch they end and the
/// final test pass (each estimated at `EVAL_SPEEDUP`× the train step's per-image speed), must end by the budget.
/// Never more than asked, never fewer than already taken.
fn plan_steps(b: &BudgetPlan) -> usize {
    let per_image = b.step_s / b.batch_size.max(1) as f64 / EVAL_SPEEDUP;
    let val_s = b.eval_images[0] as f64 * per_image;
    let left = b.budget_s - b.elapsed_s - b.eval_images[1] as f64 * per_image;
    let spe = b.steps_per_epoch.max(1);
    let fits = |k: usize| {
        let passes = (b.done_steps + k)
            .div_ceil(spe)
            .saturating_sub(b.validated_epochs)
            .max(1);
        k as f64 * b.step_s + passes as f64 * val_s <= left
    };
    let most = b.asked_steps.saturating_sub(b.done_steps);
    if fits(most) {
        return b.asked_steps.max(b.done_steps);
    }
    // `fits` is monotone in k: binary search for the largest k that fits.
    let (mut lo, mut hi) = (0usize, most);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(mid) { lo = mid } else { hi = mid - 1 }
    }
    b.done_steps + lo
}

/// `state/state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunState {
    format: u32,
    params: serde_json::Value,
    classes: Vec<String>,
    data: String,
    epochs_done: u32,
    planned_main_epochs: u32,
    /// Main-phase steps planned by the time budget (set once, during the first main-phase epoch); None = every
    /// step of `planned_main_epochs`.
    #[serde(default)]
    planned_main_steps: Option<usize>,
    best: Option<BestMetrics>,
    since_best: u32,
    history: Vec<HistoryRow>,
    elapsed_s: f64,
    loss_scale: f64,
    train_images: f64,
    train_seconds: f64,
    /// With `ema_decay`: updates of the weight average so far (its shadow is `state/ema.safetensors`); None before
    /// the average starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ema_updates: Option<u64>,
}

impl RunState {
    /// The state of a run that starts now.
    fn new(
        params: serde_json::Value,
        classes: Vec<String>,
        data: String,
        planned_main_epochs: u32,
    ) -> Self {
        Self {
            format: 1,
            params,
            classes,
            data,
            epochs_done: 0,
            planned_main_epochs,
            planned_main_steps: None,
            best: None,
            since_best: 0,
            history: Vec::new(),
            elapsed_s: 0.0,
            loss_scale: LossScaler::default().scale,
            train_images: 0.0,
            train_seconds: 0.0,
            ema_updates: None,
        }
    }
}

/// Moves a CPU batch to `device` (pinned, non-blocking on CUDA).
pub fn to_device(x: &Tensor, device: Device) -> Tensor {
    if device.is_cuda() {
        x.f_pin_memory(device)
            .and_then(|p| p.f_to_device_(device, x.kind(), true, false))
            .unwrap_or_else(|_| x.to_device(device))
    } else {
        x.shallow_clone()
    }
}

/// A progress bar on stderr (hidden when `show` is false).
pub fn progress_bar(len: u64, prefix: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:>14} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(prefix.to_string());
    bar
}

fn phase_of(mode: Mode, head_warmup: u32, epoch: u32) -> Phase {
    match mode {
        Mode::FeatureExtract => Phase::FeatureExtract,
        Mode::Scratch => Phase::Scratch,
        Mode::FineTune if epoch < head_warmup => Phase::HeadWarmup,
        Mode::FineTune => Phase::FineTune,
    }
}

/// Mixup (Zhang et al. 2018) of a training batch with a shuffled copy of itself, `λ ~ Beta(α, α)` per batch from
/// libtorch's seeded RNG: returns the mixed batch and `(λ, the shuffled labels)`, or the batch untouched when
/// `alpha` is 0 or in the head warm-up. The input is whatever the phase trains on: images, or the frozen groups'
/// activations (manifold mixup, Verma et al. 2019) with `fine_tune_on: activations`.
fn mixup(x: &Tensor, y: &Tensor, alpha: f64, phase: Phase) -> (Tensor, Option<(f64, Tensor)>) {
    if alpha <= 0.0 || phase == Phase::HeadWarmup {
        return (x.shallow_clone(), None);
    }
    let lam = Tensor::from_slice(&[alpha, alpha])
        .internal_sample_dirichlet()
        .double_value(&[0]);
    let perm = Tensor::randperm(x.size()[0], (Kind::Int64, x.device()));
    let mixed = x * lam + x.index_select(0, &perm) * (1.0 - lam);
    (mixed, Some((lam, y.index_select(0, &perm))))
}

/// Training batches of held rows (cached embeddings or activations): full batches of `batch_size` rows in `order`,
/// the last partial batch dropped, as the loaders do.
fn row_batches(rows: &SplitFeatures, order: Vec<usize>, batch_size: usize) -> BatchIter<'_> {
    Box::new((0..order.len() / batch_size).map(move |b| {
        let idx: Vec<i64> = order[b * batch_size..(b + 1) * batch_size]
            .iter()
            .map(|&i| i as i64)
            .collect();
        let idx = Tensor::from_slice(&idx);
        Ok((
            rows.features.index_select(0, &idx),
            rows.labels.index_select(0, &idx),
        ))
    }))
}

/// Evaluation batches of held rows, in order, the last partial batch kept, on `device`.
fn held_batches(
    rows: &SplitFeatures,
    batch_size: usize,
    device: Device,
) -> impl Iterator<Item = (Tensor, Tensor)> + '_ {
    let total = rows.labels.size()[0];
    let bs = batch_size as i64;
    (0..total).step_by(batch_size).map(move |start| {
        let len = bs.min(total - start);
        (
            to_device(&rows.features.narrow(0, start, len), device),
            to_device(&rows.labels.narrow(0, start, len), device),
        )
    })
}

fn better(metric: SelectMetric, acc: f64, loss: f64, best: Option<&BestMetrics>) -> bool {
    let Some(b) = best else { return true };
    match metric {
        SelectMetric::ValAccuracy => {
            acc > b.val_accuracy || (acc == b.val_accuracy && loss < b.val_loss)
        }
        SelectMetric::ValLoss => loss < b.val_loss || (loss == b.val_loss && acc > b.val_accuracy),
    }
}

/// Loads pretrained weights: a birds checkpoint folder (same architecture and classes; head included) or a state
/// dict file (the head is left as initialised).
fn load_pretrained(
    vs: &mut VarStore,
    path: &Path,
    arch: Architecture,
    classes: &[String],
) -> Result<()> {
    if path.is_dir() {
        let meta = CheckpointMeta::read(path)?;
        if meta.architecture != arch {
            return Err(TrainError::Params(format!(
                "`weights`: checkpoint {} is a {}, the params ask for {}",
                path.display(),
                meta.architecture,
                arch
            )));
        }
        check_classes(
            &meta.classes,
            classes,
            &format!("checkpoint {}", path.display()),
        )?;
        birds_models::weights::load_state_dict(vs, &path.join(MODEL_FILE), &[])?;
    } else {
        let report = birds_models::weights::load_state_dict(vs, path, &[arch.head_prefix()])?;
        tracing::info!(loaded = report.loaded, skipped = report.skipped.len(), unused = report.unused.len(), weights = %path.display(), "pretrained weights loaded");
    }
    Ok(())
}

/// Errors unless `theirs` (from a checkpoint or state) equals `ours` (from the data), naming the first difference.
fn check_classes(theirs: &[String], ours: &[String], what: &str) -> Result<()> {
    if theirs == ours {
        return Ok(());
    }
    let detail = if theirs.len() != ours.len() {
        format!("{} classes there, {} in the data", theirs.len(), ours.len())
    } else {
        let i = theirs
            .iter()
            .zip(ours)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        format!(
            "class {i} is {:?} there and {:?} in the data",
            theirs[i], ours[i]
        )
    };
    Err(TrainError::Data(format!(
        "classes mismatch with {what}: {detail}; train on the same classes or start from ImageNet weights"
    )))
}

/// One evaluation pass over a split.
struct EvalPass {
    loss: f64,
    accuracy: f64,
    images: usize,
    seconds: f64,
    /// True and top-1 predicted class of each image, in the split's order.
    labels: Vec<u32>,
    predicted: Vec<u32>,
}

struct Trainer<'a> {
    res: &'a Resolved,
    data: &'a dyn DataSource,
    device: Device,
    amp: bool,
    vs: VarStore,
    net: Box<dyn Network>,
    trainable: BTreeSet<String>,
    features: Option<Features>,
    eval_groups: usize,
    /// `fine_tune_on: activations`: the frozen groups' output, filled as epochs ask for it.
    activations: Option<Activations>,
    /// The current epoch's training view of [`Self::activations`] and its row order.
    epoch_view: Option<(SplitFeatures, Vec<usize>)>,
}

impl Trainer<'_> {
    fn p(&self) -> &TrainParams {
        &self.res.params
    }

    fn named(&self, keep: impl Fn(&str) -> bool) -> Vec<(String, Tensor)> {
        let vars = self.vs.variables();
        let mut out: Vec<(String, Tensor)> = vars
            .into_iter()
            .filter(|(n, _)| self.trainable.contains(n) && keep(n))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The optimiser for epoch `epoch`'s phase, groups in a fixed order.
    fn optimizer_for(&self, phase: Phase) -> Optimizer {
        let p = self.p();
        let mut opt = Optimizer::new(p.optimizer, self.res.weight_decay, p.momentum, p.nesterov);
        let head = self.res.architecture.head_prefix();
        match phase {
            Phase::FeatureExtract | Phase::HeadWarmup => {
                opt.add_group("head", 1.0, self.named(|n| n.starts_with(head)));
            }
            Phase::FineTune => {
                opt.add_group("head", 1.0, self.named(|n| n.starts_with(head)));
                self.add_backbone(&mut opt);
            }
            Phase::Scratch => opt.add_group("all", 1.0, self.named(|_| true)),
        }
        opt
    }

    /// The unfrozen backbone groups join `opt` at `backbone_lr_factor`: one group, or with `layer_decay` below 1
    /// one per backbone group, group `g` of `G` at `backbone_lr_factor · layer_decay^(G-1-g)`.
    fn add_backbone(&self, opt: &mut Optimizer) {
        let groups = self.res.architecture.backbone_groups();
        let p = self.p();
        let has = |prefixes: &[String]| {
            self.named(|n| prefixes.iter().any(|p| n.starts_with(p.as_str())))
        };
        if p.layer_decay >= 1.0 {
            opt.add_group(
                "backbone",
                p.backbone_lr_factor,
                has(&groups[self.eval_groups..].concat()),
            );
            return;
        }
        let last = groups.len() - 1;
        for (g, prefixes) in groups.iter().enumerate().skip(self.eval_groups) {
            let scale = p.backbone_lr_factor * p.layer_decay.powi((last - g) as i32);
            opt.add_group(&format!("backbone.{g}"), scale, has(prefixes));
        }
    }

    /// `fine_tune_on: activations` (or `auto` when they fit in memory) with frozen groups: their output is computed
    /// once per augmented view and the unfrozen top trains on it.
    fn attach_activations(&mut self) -> Result<()> {
        let p = &self.res.params;
        if p.mode != Mode::FineTune || self.eval_groups == 0 || p.fine_tune_on == FineTuneOn::Images
        {
            return Ok(());
        }
        match Activations::new(
            self.net.as_ref(),
            self.data,
            self.eval_groups,
            p.activation_views,
            self.device,
        ) {
            Ok(a) => self.activations = Some(a),
            Err(e) if p.fine_tune_on == FineTuneOn::Auto => {
                tracing::info!(reason = %e, "fine_tune_on auto: training on images");
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Whether `phase` trains and evaluates the unfrozen groups on [`Self::activations`].
    fn uses_activations(&self, phase: Phase) -> bool {
        self.activations.is_some() && phase == Phase::FineTune
    }

    /// Before epoch `epoch`'s train pass: with activations, its training view (computed on first use).
    fn prepare_epoch(&mut self, epoch: u32, warmup_epochs: u32, phase: Phase) -> Result<()> {
        self.epoch_view = None;
        if !self.uses_activations(phase) {
            return Ok(());
        }
        let p = &self.res.params;
        if let Some(acts) = self.activations.as_mut() {
            self.epoch_view = Some(acts.train_view(
                self.net.as_ref(),
                self.data,
                p.batch_size,
                p.seed,
                epoch - warmup_epochs,
                epoch,
                self.device,
                self.amp,
            )?);
        }
        Ok(())
    }

    /// Whether `phase` trains and evaluates on the cached embeddings (feature-extract, and fine-tune's head warm-up
    /// on features while they are loaded) rather than on images.
    fn uses_features(&self, phase: Phase) -> bool {
        self.features.is_some() && matches!(phase, Phase::FeatureExtract | Phase::HeadWarmup)
    }

    /// Training-mode logits of a batch (`x`: images, or embeddings when [`Self::uses_features`]).
    fn forward_train(&self, phase: Phase, x: &Tensor) -> Tensor {
        let net = &self.net;
        match phase {
            Phase::FeatureExtract => net.classify_embedding(x, true),
            Phase::HeadWarmup if self.uses_features(phase) => net.classify_embedding(x, true),
            Phase::HeadWarmup => {
                let emb = tch::no_grad(|| net.embed(x, false));
                net.classify_embedding(&emb, true)
            }
            Phase::FineTune if self.uses_activations(phase) => {
                let fm = net.forward_groups(x, self.eval_groups..net.groups(), !self.p().freeze_bn);
                net.logits_from_feature_map(&fm, true)
            }
            Phase::FineTune => {
                let fm = net.feature_map_split(x, self.eval_groups, !self.p().freeze_bn);
                net.logits_from_feature_map(&fm, true)
            }
            Phase::Scratch => net.logits(x, true),
        }
    }

    /// Evaluation loss (plain cross-entropy), accuracy, count and seconds on `split` (embeddings when `phase`
    /// [uses features](Self::uses_features)).
    fn evaluate(&mut self, split: Split, phase: Phase) -> Result<EvalPass> {
        let start = Instant::now();
        let acts = match self.activations.as_mut() {
            Some(a) if phase == Phase::FineTune => Some(a.eval_split(
                self.net.as_ref(),
                self.data,
                split,
                self.res.params.eval_batch_size,
                self.device,
                self.amp,
            )?),
            _ => None,
        };
        let (mut loss, mut correct, mut n) = (0.0, 0i64, 0usize);
        let (mut labels, mut predicted) = (Vec::new(), Vec::new());
        let mut step = |logits: Tensor, y: &Tensor| {
            let logits = logits.to_kind(Kind::Float);
            loss += logits
                .cross_entropy_loss::<Tensor>(y, None, Reduction::Sum, -100, 0.0)
                .double_value(&[]);
            let top = logits.argmax(-1, false);
            correct += top.eq_tensor(y).sum(Kind::Int64).int64_value(&[]);
            n += y.size()[0] as usize;
            let ids = |t: &Tensor| {
                Vec::<i64>::try_from(t.to_device(Device::Cpu).to_kind(Kind::Int64))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|v| v as u32)
            };
            labels.extend(ids(y));
            predicted.extend(ids(&top));
        };
        let bs = self.p().eval_batch_size;
        if let Some(a) = &acts {
            let top = self.eval_groups..self.net.groups();
            for (x, y) in held_batches(a, bs, self.device) {
                let logits = tch::no_grad(|| {
                    tch::autocast(self.amp, || {
                        let fm = self.net.forward_groups(&x, top.clone(), false);
                        self.net.logits_from_feature_map(&fm, false)
                    })
                });
                step(logits, &y);
            }
        } else if let Some(f) = self.features.as_ref().filter(|_| self.uses_features(phase)) {
            let sf = match split {
                Split::Train => &f.train,
                Split::Valid => &f.valid,
                Split::Test => &f.test,
            };
            for (x, y) in held_batches(sf, bs, self.device) {
                let logits = tch::no_grad(|| self.net.classify_embedding(&x, false));
                step(logits, &y);
            }
        } else {
            for batch in self.data.eval_batches(split, bs)? {
                let (x, y) = batch?;
                let x = to_device(&x, self.device);
                let y = to_device(&y, self.device);
                let logits =
                    tch::no_grad(|| tch::autocast(self.amp, || self.net.logits(&x, false)));
                step(logits, &y);
            }
        }
        let n_f = n.max(1) as f64;
        Ok(EvalPass {
            loss: loss / n_f,
            accuracy: correct as f64 / n_f,
            images: n,
            seconds: start.elapsed().as_secs_f64(),
            labels,
            predicted,
        })
    }

    /// Training batches of epoch `epoch` in `phase`.
    fn train_batches(&self, epoch: u32, phase: Phase) -> Result<BatchIter<'_>> {
        let p = self.p();
        if let Some((view, order)) = self
            .epoch_view
            .as_ref()
            .filter(|_| self.uses_activations(phase))
        {
            return Ok(row_batches(view, order.clone(), p.batch_size));
        }
        match self.features.as_ref().filter(|_| self.uses_features(phase)) {
            Some(f) => {
                let n = f.train.labels.size()[0] as usize;
                let order = permutation(n, p.seed, u64::from(epoch));
                Ok(row_batches(&f.train, order, p.batch_size))
            }
            None => self
                .data
                .train_batches(p.batch_size, p.seed, u64::from(epoch)),
        }
    }

    fn steps_per_epoch(&self, phase: Phase) -> usize {
        let n = match self.features.as_ref().filter(|_| self.uses_features(phase)) {
            Some(f) => f.train.labels.size()[0] as usize,
            None => self.data.len(Split::Train),
        };
        n / self.p().batch_size
    }
}

/// Trains a model as `params` say on `data`, writing the run into `out`. Returns the summary (also written to
/// `out/summary.json`).
///
/// The parts, in order: [`check_data`]; the interrupted run's state with `--resume` ([`prior_state`]); the network
/// ([`build_network`]); the embeddings of feature-extract and LP-FT ([`load_features`]) or the frozen groups'
/// activations ([`Trainer::attach_activations`]); then [`Run::epochs`] (each epoch: [`Run::train_pass`], validation,
/// [`Run::keep_if_best`], [`Run::plan_main_epochs`] for the time budget, early stopping, [`Run::save`]); last
/// [`Run::finish`]: the best epoch on the test split and the summary.
pub fn train(
    params: &TrainParams,
    data: &dyn DataSource,
    out: &Path,
    opts: &RunOptions,
) -> Result<Summary> {
    let started = Instant::now();
    let res = params.resolved()?;
    let p = &res.params;
    let device = p.device.0.resolve()?;
    let amp = p.amp && device.is_cuda();
    let classes = data.classes().to_vec();
    check_data(p, data, &classes)?;
    std::fs::create_dir_all(out).map_err(|e| TrainError::file("creating folder", out, e))?;
    crate::run_dir::remove_stale_temps(out)?;
    let state_dir = out.join(STATE_DIR);
    let params_json = serde_json::to_value(p).map_err(|e| TrainError::Params(e.to_string()))?;
    let prior = prior_state(opts.resume, &state_dir, out, &params_json, &classes, data)?;

    let (vs, net, trainable, eval_groups) = build_network(&res, device, &classes)?;
    let warmup_epochs = if p.mode == Mode::FineTune {
        p.head_warmup_epochs
    } else {
        0
    };
    // Feature-extract, and fine-tune's head warm-up on features (LP-FT) unless a resumed run is past it: embeddings
    // of every image, from the cache when possible (the key is the same, so the two modes share it).
    let warmup_on_features = p.mode == Mode::FineTune
        && p.head_warmup_on == HeadWarmupOn::Features
        && prior.as_ref().map_or(0, |st| st.epochs_done) < warmup_epochs;
    let (features, feature_info) = if p.mode == Mode::FeatureExtract || warmup_on_features {
        let (f, info) = load_features(&res, data, net.as_ref(), device, amp, opts)?;
        (Some(f), Some(info))
    } else {
        (None, None)
    };
    let mut trainer = Trainer {
        res: &res,
        data,
        device,
        amp,
        vs,
        net,
        trainable,
        features,
        eval_groups,
        activations: None,
        epoch_view: None,
    };
    trainer.attach_activations()?;
    // Steps of a main-phase epoch (the schedule's unit); a warm-up epoch on features has its own count.
    let main_phase = phase_of(p.mode, warmup_epochs, warmup_epochs);
    let steps = trainer.steps_per_epoch(main_phase);
    if steps == 0 || trainer.steps_per_epoch(phase_of(p.mode, warmup_epochs, 0)) == 0 {
        return Err(TrainError::Data(format!(
            "no full training batch of {}: lower `batch_size`",
            p.batch_size
        )));
    }

    let st = match prior {
        Some(st) => {
            let weights = state_dir.join(MODEL_FILE);
            birds_models::weights::load_state_dict(&mut trainer.vs, &weights, &[])?;
            st
        }
        None => RunState::new(params_json, classes, data.content_id(), res.epochs),
    };
    let phase = phase_of(p.mode, warmup_epochs, st.epochs_done);
    let mut opt = trainer.optimizer_for(phase);
    if opts.resume {
        let path = state_dir.join(OPTIMIZER_FILE);
        let tensors =
            Tensor::read_safetensors(&path).map_err(|e| TrainError::file("reading", &path, e))?;
        opt.load_state(tensors)?;
    }
    let mut run = Run {
        scaler: LossScaler::with_scale(st.loss_scale),
        elapsed_before: st.elapsed_s,
        t: trainer,
        st,
        opt,
        phase,
        out,
        opts,
        started,
        steps,
        warmup_epochs,
        epochs_this_call: 0,
        last_epoch_s: None,
        ema: None,
    };
    if let (Some(decay), Some(updates)) = (p.ema_decay, run.st.ema_updates) {
        let path = state_dir.join(EMA_FILE);
        let tensors =
            Tensor::read_safetensors(&path).map_err(|e| TrainError::file("reading", &path, e))?;
        run.ema = Some(Ema::restore(
            decay,
            updates,
            optimised(&run.opt),
            Ema::from_state_tensors(tensors),
        )?);
    }
    let stopped = run.epochs()?;
    run.finish(stopped, feature_info.as_ref())
}

/// What training needs of the data: classes, the params' normalisation, a full batch of training images and a
/// validation split (for the best checkpoint and early stopping).
fn check_data(p: &TrainParams, data: &dyn DataSource, classes: &[String]) -> Result<()> {
    if classes.is_empty() {
        return Err(TrainError::Data("the data has no classes".into()));
    }
    if data.normalization() != p.normalization {
        return Err(TrainError::Data(format!(
            "the data is normalised with {}, the params say {}",
            data.normalization(),
            p.normalization
        )));
    }
    let n_train = data.len(Split::Train);
    if n_train < p.batch_size {
        return Err(TrainError::Data(format!(
            "the train split has {n_train} images, fewer than batch_size {}; lower `batch_size`",
            p.batch_size
        )));
    }
    if data.len(Split::Valid) == 0 {
        return Err(TrainError::Data(
            "the valid split is empty; the best checkpoint and early stopping need validation images"
                .into(),
        ));
    }
    Ok(())
}

/// With `resume`, the interrupted run's state in `state_dir`, refused unless its params, classes and data are
/// these; without, none (and an old state is removed).
fn prior_state(
    resume: bool,
    state_dir: &Path,
    out: &Path,
    params_json: &serde_json::Value,
    classes: &[String],
    data: &dyn DataSource,
) -> Result<Option<RunState>> {
    if !resume {
        remove_dir_if_exists(state_dir)?;
        return Ok(None);
    }
    let st = read_state(state_dir, out)?;
    if st.params != *params_json {
        let differing = diff_keys(&st.params, params_json);
        return Err(TrainError::Resume {
            dir: state_dir.to_path_buf(),
            reason: format!(
                "params differ from the interrupted run ({}); resume with the same params, or start over without --resume",
                differing.join(", ")
            ),
        });
    }
    check_classes(&st.classes, classes, "the interrupted run")?;
    if st.data != data.content_id() {
        return Err(TrainError::Resume {
            dir: state_dir.to_path_buf(),
            reason: "the training data changed since the run started (different preprocess cache)"
                .into(),
        });
    }
    Ok(Some(st))
}

/// What [`build_network`] returns: the variables, the network, the names of the variables that may train, and the
/// number of frozen backbone groups.
type BuiltNetwork = (VarStore, Box<dyn Network>, BTreeSet<String>, usize);

/// The network, seeded, with its pretrained weights, and every variable frozen until an optimiser group takes it.
/// Returns the variables, the network, the names of those that may train, and how many backbone groups stay frozen
/// (`unfreeze: last N` leaves the first `groups − N`).
fn build_network(res: &Resolved, device: Device, classes: &[String]) -> Result<BuiltNetwork> {
    tch::manual_seed(res.params.seed as i64);
    let mut vs = VarStore::new(device);
    let net = res.architecture.build(&vs.root(), classes.len() as i64)?;
    let trainable: BTreeSet<String> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .map(|(n, _)| n)
        .collect();
    if let Some(w) = &res.weights {
        load_pretrained(&mut vs, w, res.architecture, classes)?;
    }
    for t in vs.variables().values() {
        let _ = t.set_requires_grad(false);
    }
    let n_groups = res.architecture.backbone_groups().len();
    let eval_groups = match res.unfreeze {
        Unfreeze::All => 0,
        Unfreeze::Last(n) => n_groups - n.min(n_groups),
    };
    Ok((vs, net, trainable, eval_groups))
}

/// The embeddings feature-extract mode trains its head on (every split, flipped training copies with
/// `flip_features`), from the shared feature cache when its key matches, else computed and cached: for the
/// diagnostics that train many heads on them ([`crate::diagnose`]). `params` are read as feature-extract params
/// (its `mode` is ignored).
pub fn pretrained_features(
    params: &TrainParams,
    data: &dyn DataSource,
    opts: &RunOptions,
) -> Result<(Features, FeatureCacheInfo)> {
    let mut p = params.clone();
    p.mode = Mode::FeatureExtract;
    let res = p.resolved()?;
    let device = res.params.device.0.resolve()?;
    let amp = res.params.amp && device.is_cuda();
    let (_vs, net, _, _) = build_network(&res, device, data.classes())?;
    load_features(&res, data, net.as_ref(), device, amp, opts)
}

/// The embeddings of every image under the pretrained backbone, from the feature cache when its key (weights,
/// data, size, normalisation, architecture, flip, precision) matches, else computed and cached.
fn load_features(
    res: &Resolved,
    data: &dyn DataSource,
    net: &dyn Network,
    device: Device,
    amp: bool,
    opts: &RunOptions,
) -> Result<(Features, FeatureCacheInfo)> {
    let p = &res.params;
    let weights = res.weights.clone().unwrap_or_default();
    let weights_file = if weights.is_dir() {
        weights.join(MODEL_FILE)
    } else {
        weights.clone()
    };
    let key = FeatureKey {
        weights_blake3: features::hash_file(&weights_file)?,
        weights: weights.display().to_string(),
        data: data.content_id(),
        size: data.image_size(),
        normalization: data.normalization().to_string(),
        architecture: res.architecture.to_string(),
        flip: p.flip_features,
        precision: if device.is_cuda() {
            if amp { "cuda-autocast" } else { "cuda-f32" }
        } else {
            "cpu-f32"
        }
        .into(),
        version: 1,
    };
    let dir = match &p.feature_cache {
        Some(d) if d.is_absolute() => d.clone(),
        Some(d) => opts.root.join(d),
        None => opts.root.join("artifacts/.cache/features"),
    };
    features::load_or_compute(
        net,
        data,
        &key,
        &dir,
        p.eval_batch_size,
        device,
        amp,
        opts.progress,
    )
}

/// The figures of one epoch's train pass.
struct TrainPass {
    /// Sum of the finite batch losses, each times its batch size.
    loss_sum: f64,
    correct: i64,
    seen: usize,
    /// Learning rate of the head at the last step.
    lr: f64,
    seconds: f64,
}

impl TrainPass {
    fn loss(&self) -> f64 {
        self.loss_sum / self.seen.max(1) as f64
    }

    fn accuracy(&self) -> f64 {
        self.correct as f64 / self.seen.max(1) as f64
    }
}

/// A training run in progress: the trainer, its optimiser and loss scaler, the state `--resume` restores, and the
/// clock.
struct Run<'a> {
    t: Trainer<'a>,
    st: RunState,
    opt: Optimizer,
    scaler: LossScaler,
    phase: Phase,
    out: &'a Path,
    opts: &'a RunOptions,
    started: Instant,
    /// Seconds the run had spent before this call (a resumed run).
    elapsed_before: f64,
    /// Steps of a main-phase epoch.
    steps: usize,
    warmup_epochs: u32,
    epochs_this_call: u32,
    last_epoch_s: Option<f64>,
    /// With `ema_decay`, from the first main-phase step: the average of the variables the optimiser trains.
    ema: Option<Ema>,
}

impl Run<'_> {
    /// With `ema_decay`, at the main phase's first step: the average starts at the current weights of the
    /// variables the optimiser trains.
    fn start_ema(&mut self) {
        let Some(decay) = self.t.p().ema_decay else {
            return;
        };
        if self.ema.is_none() {
            self.ema = Some(Ema::new(decay, optimised(&self.opt)));
        }
    }

    /// Seconds of the run so far, earlier calls included.
    fn elapsed(&self) -> f64 {
        self.elapsed_before + self.started.elapsed().as_secs_f64()
    }

    /// Epochs until the planned ones are done, the time budget would be overrun (an epoch as long as the last one
    /// would end past 110 % of it) or early stopping says so; returns which.
    fn epochs(&mut self) -> Result<StopReason> {
        let res = self.t.res;
        let p = &res.params;
        let mut stopped = StopReason::Completed;
        loop {
            let e = self.st.epochs_done;
            if e >= self.warmup_epochs + self.st.planned_main_epochs {
                break;
            }
            if let (Some(budget), Some(epoch_s)) = (p.time_budget_s, self.last_epoch_s)
                && self.elapsed() + epoch_s > budget * 1.1
            {
                stopped = StopReason::TimeBudget;
                break;
            }
            self.enter_phase(e);
            let epoch_start = Instant::now();
            let train = self.train_pass(e, epoch_start)?;
            // With a weight average, validation and the kept checkpoint are the average's.
            let live = self.ema.as_ref().map(Ema::swap_in);
            let kept = self.t.evaluate(Split::Valid, self.phase).and_then(|val| {
                self.record(e, &train, &val);
                self.keep_if_best(e, &val)
            });
            if let (Some(a), Some(live)) = (&self.ema, live) {
                a.restore_live(&live);
            }
            kept?;
            self.st.epochs_done = e + 1;
            self.epochs_this_call += 1;
            let epoch_s = epoch_start.elapsed().as_secs_f64();
            self.last_epoch_s = Some(epoch_s);
            self.plan_main_epochs(epoch_s);
            let early = self.phase != Phase::HeadWarmup
                && p.patience
                    .is_some_and(|patience| self.st.since_best >= patience);
            self.save()?;
            if early {
                stopped = StopReason::EarlyStopping;
                break;
            }
            if self.opts.stop_after_epochs == Some(self.epochs_this_call) {
                return Err(TrainError::Stopped {
                    epochs_done: self.st.epochs_done,
                });
            }
        }
        let planned_fewer = self.st.planned_main_epochs < res.epochs
            || self
                .st
                .planned_main_steps
                .is_some_and(|planned| planned < res.epochs as usize * self.steps);
        if stopped == StopReason::Completed && planned_fewer {
            stopped = StopReason::TimeBudget;
        }
        Ok(stopped)
    }

    /// Head warm-up → fine-tune at epoch `e`: the backbone joins the optimiser (the head's state carries on) and the
    /// embeddings that served the warm-up are freed (the backbone's phase trains on images or activations).
    fn enter_phase(&mut self, e: u32) {
        let new_phase = phase_of(self.t.p().mode, self.warmup_epochs, e);
        if new_phase != self.phase {
            self.t.add_backbone(&mut self.opt);
            self.t.features = None;
            self.phase = new_phase;
            tracing::info!(
                epoch = e + 1,
                trainable = self.opt.numel(),
                "backbone unfrozen"
            );
        }
    }

    /// The learning-rate schedule over the planned main-phase steps.
    fn schedule(&self) -> Schedule {
        let res = self.t.res;
        let p = &res.params;
        Schedule {
            kind: p.schedule,
            base_lr: res.lr,
            total_steps: self
                .st
                .planned_main_steps
                .unwrap_or(self.st.planned_main_epochs as usize * self.steps),
            warmup_steps: if p.schedule == ScheduleKind::Cosine {
                (p.warmup_epochs * self.steps as f64).round() as usize
            } else {
                0
            },
            min_factor: p.min_lr_factor,
        }
    }

    /// The train pass of epoch `e` (0-based). With a time budget, steps [`BUDGET_PROBE`] of the first main-phase
    /// epoch are timed and the main-phase steps that fit are planned from them (once per run); an epoch ends early
    /// on the last planned step.
    fn train_pass(&mut self, e: u32, epoch_start: Instant) -> Result<TrainPass> {
        let res = self.t.res;
        let p = &res.params;
        let (warmup_epochs, steps, phase) = (self.warmup_epochs, self.steps, self.phase);
        let main_step0 = (e.saturating_sub(warmup_epochs)) as usize * steps;
        let mut schedule = self.schedule();
        let total_epochs = warmup_epochs + self.st.planned_main_epochs;
        self.t.prepare_epoch(e, warmup_epochs, phase)?;
        tch::manual_seed(p.seed.wrapping_add(u64::from(e)) as i64);
        let bar = progress_bar(
            self.t.steps_per_epoch(phase) as u64,
            &format!("epoch {}/{}", e + 1, total_epochs),
            self.opts.progress,
        );
        let (before, started) = (self.elapsed_before, self.started);
        if phase != Phase::HeadWarmup {
            self.start_ema();
        }
        let Run {
            t,
            st,
            opt,
            scaler,
            ema,
            ..
        } = self;
        let data = t.data;
        let mut pass = TrainPass {
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
            lr: res.lr,
            seconds: 0.0,
        };
        let mut probe_start: Option<Instant> = None;
        let main = phase != Phase::HeadWarmup;
        for (i, batch) in t.train_batches(e, phase)?.enumerate() {
            if main && st.planned_main_steps.is_none() && i == BUDGET_PROBE.0 {
                probe_start = Some(Instant::now());
            }
            if let (Some(budget), Some(t0)) = (p.time_budget_s, probe_start)
                && i == BUDGET_PROBE.1
            {
                probe_start = None;
                let step_s = t0.elapsed().as_secs_f64() / (BUDGET_PROBE.1 - BUDGET_PROBE.0) as f64;
                let asked_steps = st.planned_main_epochs as usize * steps;
                let plan = plan_steps(&BudgetPlan {
                    budget_s: budget,
                    elapsed_s: before + started.elapsed().as_secs_f64(),
                    step_s,
                    batch_size: p.batch_size,
                    steps_per_epoch: steps,
                    done_steps: main_step0 + i,
                    asked_steps,
                    eval_images: [data.len(Split::Valid), data.len(Split::Test)],
                    validated_epochs: (e - warmup_epochs) as usize,
                });
                if plan < asked_steps {
                    tracing::info!(
                        planned_steps = plan,
                        asked_steps,
                        step_s,
                        budget,
                        "time budget: main-phase steps planned to fit"
                    );
                }
                st.planned_main_steps = Some(plan);
                st.planned_main_epochs = plan.div_ceil(steps).max(1) as u32;
                // The schedule follows the new plan from this step on (cosine ends on the last planned step).
                schedule.total_steps = plan;
            }
            if main
                && st
                    .planned_main_steps
                    .is_some_and(|planned| main_step0 + i >= planned)
            {
                tracing::info!(
                    epoch = e + 1,
                    step = i,
                    steps,
                    "time budget: the epoch ends early, on the planned step"
                );
                break;
            }
            pass.lr = if main {
                schedule.lr(main_step0 + i)
            } else {
                res.head_warmup_lr
            };
            let (loss, n, correct) = match step(t, opt, scaler, phase, batch?, pass.lr, (e, i)) {
                Ok(s) => s,
                Err(err) => {
                    bar.abandon();
                    return Err(err);
                }
            };
            if let Some(a) = ema.as_mut() {
                a.update();
            }
            if loss.is_finite() {
                pass.loss_sum += loss * n as f64;
            }
            pass.correct += correct;
            pass.seen += n;
            bar.inc(1);
            let secs = epoch_start.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "loss {:.3} acc {:.1}% lr {:.1e} {:.1} img/s",
                pass.loss_sum / pass.seen as f64,
                100.0 * pass.correct as f64 / pass.seen as f64,
                pass.lr,
                pass.seen as f64 / secs
            ));
        }
        bar.finish_and_clear();
        pass.seconds = epoch_start.elapsed().as_secs_f64();
        Ok(pass)
    }

    /// Epoch `e`'s two history rows (train, valid) and its log line.
    fn record(&mut self, e: u32, train: &TrainPass, val: &EvalPass) {
        self.st.train_images += train.seen as f64;
        self.st.train_seconds += train.seconds;
        let phase = self.phase.as_str();
        let (train_loss, train_acc) = (train.loss(), train.accuracy());
        self.st.history.push(HistoryRow {
            epoch: e + 1,
            split: "train".into(),
            phase: phase.to_string(),
            loss: train_loss,
            accuracy: train_acc,
            lr: train.lr,
            images_per_s: train.seen as f64 / train.seconds.max(1e-9),
            seconds: train.seconds,
        });
        self.st.history.push(HistoryRow {
            epoch: e + 1,
            split: "valid".into(),
            phase: phase.to_string(),
            loss: val.loss,
            accuracy: val.accuracy,
            lr: train.lr,
            images_per_s: val.images as f64 / val.seconds.max(1e-9),
            seconds: val.seconds,
        });
        tracing::info!(
            epoch = e + 1,
            phase,
            train_loss,
            train_acc,
            val_loss = val.loss,
            val_acc = val.accuracy,
            lr = train.lr,
            seconds = train.seconds + val.seconds,
            "epoch done"
        );
    }

    /// Checkpointing: when epoch `e` is the best so far by the `select` metric, its weights and metadata become the
    /// checkpoint; otherwise the epochs since the best (early stopping's count) grow by one.
    fn keep_if_best(&mut self, e: u32, val: &EvalPass) -> Result<()> {
        let res = self.t.res;
        let p = &res.params;
        if !better(p.select, val.accuracy, val.loss, self.st.best.as_ref()) {
            self.st.since_best += 1;
            return Ok(());
        }
        let best = BestMetrics {
            metric: p.select.as_str().into(),
            epoch: e + 1,
            val_accuracy: val.accuracy,
            val_loss: val.loss,
            test_accuracy: None,
            test_loss: None,
        };
        self.st.since_best = 0;
        write_state_dict(&self.t.vs, &self.out.join(MODEL_FILE))?;
        checkpoint_meta(res, self.t.data, best.clone())?.write(self.out)?;
        self.st.best = Some(best);
        Ok(())
    }

    /// Time budget without a step plan yet: after the first main-phase epoch (which took `epoch_s`), the main
    /// epochs that fit.
    fn plan_main_epochs(&mut self, epoch_s: f64) {
        let res = self.t.res;
        let Some(budget) = res.params.time_budget_s else {
            return;
        };
        if self.st.epochs_done != self.warmup_epochs + 1 || self.st.planned_main_steps.is_some() {
            return;
        }
        let fit = ((budget - self.elapsed()) / epoch_s).floor().max(0.0) as u32;
        let planned = (1 + fit).clamp(1, res.epochs);
        if planned != self.st.planned_main_epochs {
            tracing::info!(
                planned,
                asked = res.epochs,
                epoch_s,
                budget,
                "time budget: main epochs planned to fit"
            );
        }
        self.st.planned_main_epochs = planned;
    }

    /// After an epoch: the resume state, `history.parquet` and `curves.png`.
    fn save(&mut self) -> Result<()> {
        self.st.elapsed_s = self.elapsed();
        self.st.loss_scale = self.scaler.scale;
        self.st.ema_updates = self.ema.as_ref().map(Ema::updates);
        save_state(self.out, &self.st, &self.t.vs, &self.opt, self.ema.as_ref())?;
        write_history(
            &self.out.join(birds_core::schema::train::HISTORY.file),
            &self.st.history,
        )?;
        let res = self.t.res;
        let title = format!("{} · {}", res.params.mode, res.architecture);
        if let Err(e) = plot_curves(&self.out.join(CURVES_FILE), &self.st.history, &title) {
            tracing::warn!(error = %e, "curves.png not drawn");
        }
        Ok(())
    }

    /// The best epoch's weights, evaluated on the test split (its predictions written), its metadata with the test
    /// figures, and the summary; the resume state is removed.
    fn finish(
        mut self,
        stopped: StopReason,
        feature_info: Option<&FeatureCacheInfo>,
    ) -> Result<Summary> {
        let (res, data, out) = (self.t.res, self.t.data, self.out);
        let Some(mut best) = self.st.best.clone() else {
            return Err(TrainError::Data("no epoch ran".into()));
        };
        birds_models::weights::load_state_dict(&mut self.t.vs, &out.join(MODEL_FILE), &[])?;
        let predictions = out.join(birds_core::schema::train::TEST_PREDICTIONS.file);
        if data.len(Split::Test) > 0 {
            let pass = self.t.evaluate(Split::Test, self.phase)?;
            best.test_accuracy = Some(pass.accuracy);
            best.test_loss = Some(pass.loss);
            crate::history::write_test_predictions(&predictions, &pass.labels, &pass.predicted)?;
        } else if predictions.is_file() {
            // No test split: no predictions, and none left from an earlier run in this folder.
            std::fs::remove_file(&predictions)
                .map_err(|e| TrainError::file("removing", &predictions, e))?;
        }
        checkpoint_meta(res, data, best.clone())?.write(out)?;
        let wall = self.elapsed();
        let st = &self.st;
        let summary = Summary {
            mode: res.params.mode.to_string(),
            model: res.architecture.to_string(),
            epochs: st.epochs_done,
            stopped,
            wall_time_s: wall,
            train_images_per_s: st.train_images / st.train_seconds.max(1e-9),
            train_images: st.train_images as u64,
            best_epoch: best.epoch,
            best_phase: st
                .history
                .iter()
                .find(|r| r.epoch == best.epoch && r.split == "valid")
                .map(|r| r.phase.clone()),
            best_val_accuracy: best.val_accuracy,
            best_val_loss: best.val_loss,
            test_accuracy: best.test_accuracy,
            test_loss: best.test_loss,
            images: [
                data.len(Split::Train),
                data.len(Split::Valid),
                data.len(Split::Test),
            ],
            classes: data.classes().len(),
            trainable_params: self.opt.numel(),
            device: match self.t.device {
                Device::Cuda(n) => format!("cuda:{n}"),
                _ => "cpu".into(),
            },
            threads: tch::get_num_threads(),
            feature_cache_hit: feature_info.map(|i| i.hit),
            feature_seconds: feature_info.map(|i| i.seconds),
            checkpoint_blake3: Some(checkpoint::content_hash(out)?),
        };
        summary.write(out)?;
        remove_dir_if_exists(&out.join(STATE_DIR))?;
        Ok(summary)
    }
}

/// The variables `opt` trains (name, live tensor).
fn optimised(opt: &Optimizer) -> Vec<(String, Tensor)> {
    opt.groups()
        .iter()
        .flat_map(|g| &g.params)
        .map(|(n, t)| (n.clone(), t.shallow_clone()))
        .collect()
}

/// One optimiser step on a batch: forward (under autocast with `amp`), cross-entropy with label smoothing (of both
/// labels with mixup), backward (loss-scaled with `amp`), gradient clipping and the update at `lr`. Returns the
/// batch loss (not finite only under `amp`, where the scaler skips the step), its size and its correct count
/// (against the label that weighs more in a mix). `at` is (epoch, step), for the divergence error.
fn step(
    t: &Trainer<'_>,
    opt: &mut Optimizer,
    scaler: &mut LossScaler,
    phase: Phase,
    (x, y): (Tensor, Tensor),
    lr: f64,
    at: (u32, usize),
) -> Result<(f64, usize, i64)> {
    let p = t.p();
    let x = to_device(&x, t.device);
    let y = to_device(&y, t.device);
    opt.zero_grad();
    let (x, mixed) = mixup(&x, &y, p.mixup, phase);
    let logits = tch::autocast(t.amp, || t.forward_train(phase, &x)).to_kind(Kind::Float);
    let ce = |y: &Tensor| {
        logits.cross_entropy_loss::<Tensor>(y, None, Reduction::Mean, -100, p.label_smoothing)
    };
    let loss = match &mixed {
        Some((lam, y2)) => ce(&y) * *lam + ce(y2) * (1.0 - *lam),
        None => ce(&y),
    };
    let y = match mixed {
        Some((lam, y2)) if lam < 0.5 => y2,
        _ => y,
    };
    let value = loss.double_value(&[]);
    if !value.is_finite() && !t.amp {
        return Err(TrainError::Diverged {
            epoch: at.0 + 1,
            step: at.1,
            value,
        });
    }
    let n = y.size()[0] as usize;
    let mut apply = true;
    if t.amp {
        (&loss * scaler.scale).backward();
        apply = scaler.unscale(opt);
    } else {
        loss.backward();
    }
    if apply {
        if let Some(c) = p.grad_clip {
            opt.clip_grad_norm(c);
        }
        opt.step(lr);
    }
    let correct = logits
        .argmax(-1, false)
        .eq_tensor(&y)
        .sum(Kind::Int64)
        .int64_value(&[]);
    Ok((value, n, correct))
}

fn checkpoint_meta(
    res: &Resolved,
    data: &dyn DataSource,
    best: BestMetrics,
) -> Result<CheckpointMeta> {
    Ok(CheckpointMeta {
        format: FORMAT_VERSION,
        birds_version: birds_core::VERSION.into(),
        architecture: res.architecture,
        classes: data.classes().to_vec(),
        input_size: data.image_size(),
        normalization: data.normalization(),
        mode: res.params.mode.to_string(),
        params: serde_json::to_value(&res.params).map_err(|e| TrainError::Params(e.to_string()))?,
        best,
        eval_view: data.eval_view(),
        runtime: Some(birds_models::runtime::torch_versions()),
    })
}

fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(TrainError::file("removing", dir, e)),
    }
}

/// The top-level keys whose values differ between two JSON objects.
fn diff_keys(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return vec!["(not objects)".into()];
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            format!(
                "`{k}`: {} then, {} now",
                a.get(k).cloned().unwrap_or_default(),
                b.get(k).cloned().unwrap_or_default()
            )
        })
        .collect()
}

/// Writes `state/` as a whole: build `.state.tmp-<pid>/`, then swap it in (the old state is kept as `state.old`
/// until the new one is in place, and [`read_state`] falls back to it).
fn save_state(
    out: &Path,
    st: &RunState,
    vs: &VarStore,
    opt: &Optimizer,
    ema: Option<&Ema>,
) -> Result<()> {
    let tmp = out.join(format!(".state.tmp-{}", std::process::id()));
    remove_dir_if_exists(&tmp)?;
    std::fs::create_dir_all(&tmp).map_err(|e| TrainError::file("creating folder", &tmp, e))?;
    write_state_dict(vs, &tmp.join(MODEL_FILE))?;
    checkpoint::write_tensors(&opt.state_tensors(), &tmp.join(OPTIMIZER_FILE))?;
    if let Some(a) = ema {
        checkpoint::write_tensors(&a.state_tensors(), &tmp.join(EMA_FILE))?;
    }
    let json = serde_json::to_string(st).map_err(|e| TrainError::file("serialising", &tmp, e))?;
    std::fs::write(tmp.join(STATE_FILE), json)
        .map_err(|e| TrainError::file("writing", tmp.join(STATE_FILE), e))?;
    let dir = out.join(STATE_DIR);
    let old = out.join("state.old");
    remove_dir_if_exists(&old)?;
    if dir.exists() {
        std::fs::rename(&dir, &old).map_err(|e| TrainError::file("renaming", &dir, e))?;
    }
    std::fs::rename(&tmp, &dir).map_err(|e| TrainError::file("renaming", &tmp, e))?;
    remove_dir_if_exists(&old)
}

fn read_state(dir: &Path, out: &Path) -> Result<RunState> {
    let dir = if dir.join(STATE_FILE).is_file() {
        dir.to_path_buf()
    } else if out.join("state.old").join(STATE_FILE).is_file() {
        // Killed between the two renames of save_state: the previous state is complete.
        let old = out.join("state.old");
        std::fs::rename(&old, dir).map_err(|e| TrainError::file("renaming", &old, e))?;
        dir.to_path_buf()
    } else {
        let reason = if out.join(crate::summary::SUMMARY_FILE).is_file() {
            "the run already completed (summary.json is there); run without --resume to train again"
        } else {
            "no saved state: nothing to resume (a run saves its state after each completed epoch); run without --resume"
        };
        return Err(TrainError::Resume {
            dir: dir.to_path_buf(),
            reason: reason.into(),
        });
    };
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::file("reading", &path, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::Resume {
        dir: dir.clone(),
        reason: format!("{}: {e}", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> BudgetPlan {
        BudgetPlan {
            budget_s: 600.0,
            elapsed_s: 100.0,
            step_s: 1.0,
            batch_size: 4,
            steps_per_epoch: 100,
            done_steps: 10,
            asked_steps: 1000,
            eval_images: [160, 80],
            validated_epochs: 0,
        }
    }

    fn best(acc: f64, loss: f64) -> BestMetrics {
        BestMetrics {
            metric: "x".into(),
            epoch: 1,
            val_accuracy: acc,
            val_loss: loss,
            test_accuracy: None,
            test_loss: None,
        }
    }

    /// Mixup on one-hot rows: each mixed row is λ·own + (1-λ)·partner's, the partner's label is returned, and the
    /// same seed draws the same mix; off (α = 0) and in the head warm-up the batch passes untouched.
    #[test]
    fn mixup_mixes_each_row_with_its_partner_by_lambda() {
        let x = Tensor::eye(6, (Kind::Float, Device::Cpu));
        let y = Tensor::arange(6, (Kind::Int64, Device::Cpu));
        tch::manual_seed(5);
        let (mixed, m) = mixup(&x, &y, 0.4, Phase::FineTune);
        let Some((lam, y2)) = m else {
            panic!("no mix at alpha 0.4")
        };
        assert!((0.0..=1.0).contains(&lam), "{lam}");
        let rows = Vec::<Vec<f32>>::try_from(&mixed).unwrap_or_default();
        let partners = Vec::<i64>::try_from(&y2).unwrap_or_default();
        assert_eq!((rows.len(), partners.len()), (6, 6));
        for (i, (row, &j)) in rows.iter().zip(&partners).enumerate() {
            let sum: f32 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-6, "row {i} sums to {sum}");
            let want = |k: usize| {
                f64::from(u8::from(k == i)) * lam + f64::from(u8::from(k as i64 == j)) * (1.0 - lam)
            };
            for (k, &v) in row.iter().enumerate() {
                assert!(
                    (f64::from(v) - want(k)).abs() < 1e-6,
                    "row {i} col {k}: {v} vs {}",
                    want(k)
                );
            }
        }
        tch::manual_seed(5);
        let (again, _) = mixup(&x, &y, 0.4, Phase::FineTune);
        assert!(again.equal(&mixed), "same seed, same mix");
        assert!(mixup(&x, &y, 0.0, Phase::FineTune).1.is_none());
        let (warm, none) = mixup(&x, &y, 0.4, Phase::HeadWarmup);
        assert!(none.is_none() && warm.equal(&x));
    }

    /// The selection rule: the first epoch is always kept; by accuracy, ties go to the lower loss; by loss, ties go
    /// to the higher accuracy; nothing equal on both replaces the kept epoch.
    #[test]
    fn selection_breaks_ties_on_the_other_metric() {
        use SelectMetric::*;
        assert!(better(ValLoss, 0.1, 9.0, None));
        let kept = best(0.80, 0.50);
        assert!(better(ValAccuracy, 0.81, 0.90, Some(&kept)));
        assert!(better(ValAccuracy, 0.80, 0.40, Some(&kept)));
        assert!(!better(ValAccuracy, 0.80, 0.60, Some(&kept)));
        assert!(better(ValLoss, 0.10, 0.49, Some(&kept)));
        assert!(better(ValLoss, 0.85, 0.50, Some(&kept)));
        assert!(!better(ValLoss, 0.75, 0.50, Some(&kept)));
        assert!(
            !better(ValLoss, 0.80, 0.50, Some(&kept))
                && !better(ValAccuracy, 0.80, 0.50, Some(&kept))
        );
    }

    /// Steps left = budget − elapsed − test pass − one validation pass per epoch ended.
    #[test]
    fn the_step_plan_leaves_time_for_each_validation_and_the_test() {
        // Per image 1 s / 4 images / 4 = 1/16 s: valid 10 s, test 5 s. 500 s left − 5 s test: 495 s for k steps and
        // the validations. Ending in epoch 5 (done + k ≤ 500): k + 5 × 10 ≤ 495 → k ≤ 445 → 455 steps. ✓
        assert_eq!(plan_steps(&plan()), 455);
        // Room for everything asked: the plan is what was asked.
        assert_eq!(
            plan_steps(&BudgetPlan {
                budget_s: 1e6,
                ..plan()
            }),
            1000
        );
        // Nothing left: stop where it stands, never before.
        assert_eq!(
            plan_steps(&BudgetPlan {
                elapsed_s: 700.0,
                ..plan()
            }),
            10
        );
        // Epochs already validated are not paid for again.
        let later = BudgetPlan {
            done_steps: 210,
            validated_epochs: 2,
            elapsed_s: 100.0,
            ..plan()
        };
        // k + passes × 10 ≤ 495 with passes = ceil((210 + k) / 100) − 2: k = 455 → 665 → 5 passes → 505 > 495;
        // k = 445 → 655 → 5 passes → 495 ✓.
        assert_eq!(plan_steps(&later), 655);
    }
}
