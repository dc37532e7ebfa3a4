//! `birds train`: train a classifier on a preprocess cache (feature-extract, fine-tune or scratch), and
//! `birds train smoke`: a few fine-tune steps on a synthetic batch (CUDA check, train-step benchmark).

use std::path::PathBuf;

use anyhow::Context;
use birds_models::runtime::DeviceSpec;
use birds_train::cache_source::CacheSource;
use birds_train::smoke::{SmokeOptions, run_smoke};
use birds_train::{RunOptions, TrainParams};

use super::Runtime;

/// Arguments of `birds train`.
#[derive(Debug, clap::Args)]
#[command(
    subcommand_negates_reqs = true,
    after_help = "Params (see docs/train.md): mode, model, norm, width, epochs, head_warmup_epochs, head_warmup_lr, \
head_warmup_on, batch_size, eval_batch_size, lr, backbone_lr_factor, unfreeze, freeze_bn, fine_tune_on, \
activation_views, layer_decay, optimizer, momentum, nesterov, weight_decay, \
schedule, warmup_epochs, min_lr_factor, label_smoothing, mixup, grad_clip, patience, select, seed, device, amp, \
time_budget_s, normalization, weights, flip_features, feature_cache, augment.\n\
Example: birds train --cache artifacts/sample/preprocess --out runs/ft --mode fine-tune --set epochs=4 --set unfreeze=6"
)]
pub struct Args {
    /// The preprocess output folder (cache.json, preprocessed.parquet, shards).
    #[arg(long, value_name = "DIR", required = true)]
    cache: Option<PathBuf>,
    /// Output folder (model.safetensors, checkpoint.json, history.parquet, curves.png, summary.json).
    #[arg(long, value_name = "DIR", required = true)]
    out: Option<PathBuf>,
    /// feature-extract, fine-tune or scratch (shorthand for --set mode=…).
    #[arg(long)]
    mode: Option<String>,
    /// A YAML file of params (a mapping, as under a pipeline stage's `params:`).
    #[arg(long, value_name = "FILE")]
    params: Option<PathBuf>,
    /// Override one param: key=value (value parsed as YAML). Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Continue a killed run from its last completed epoch (same params and data required).
    #[arg(long)]
    resume: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    command: Option<Sub>,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// A few EfficientNet-Lite0 fine-tune steps on a synthetic batch (AMP on CUDA); prints images/s and peak
    /// device memory. `just cuda-smoke` runs it on CUDA.
    Smoke(SmokeArgs),
}

#[derive(Debug, clap::Args)]
struct SmokeArgs {
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Timed steps.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Batch size.
    #[arg(long, default_value_t = 32)]
    batch_size: i64,
    /// Image side.
    #[arg(long, default_value_t = 224)]
    size: i64,
    /// Disable autocast on CUDA.
    #[arg(long)]
    no_amp: bool,
    /// Time eval-mode forward passes without gradients (inference) instead of train steps.
    #[arg(long)]
    forward: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `birds train` or `birds train smoke`.
pub fn run(_rt: &Runtime, args: Args) -> anyhow::Result<()> {
    if let Some(Sub::Smoke(s)) = args.command {
        return smoke(s);
    }
    let (Some(cache), Some(out)) = (args.cache, args.out) else {
        anyhow::bail!("--cache and --out are required");
    };
    let mut params = match &args.params {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading params {}", path.display()))?;
            TrainParams::from_yaml(&text).with_context(|| format!("params {}", path.display()))?
        }
        None => TrainParams::default(),
    };
    let mut sets = args.sets.clone();
    if let Some(mode) = &args.mode {
        sets.insert(0, format!("mode={mode}"));
    }
    params = params.with_overrides(&sets)?;
    params.resolved()?;
    let data = CacheSource::open(&cache, params.normalization, params.augment.clone())?
        .with_prefetch(birds_train::cache_source::prefetch_for(params.device.0));
    let opts = RunOptions {
        resume: args.resume,
        progress: true,
        stop_after_epochs: None,
        root: std::env::current_dir().context("current folder")?,
    };
    let summary = birds_train::train_into(&params, &data, &out, &opts)
        .with_context(|| format!("training into {}", out.display()))?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        let pct = |v: f64| format!("{:.1}%", 100.0 * v);
        outln!(
            "{} {}: {} epochs ({}) in {:.0}s, best val {} (epoch {}), test {}",
            summary.mode,
            summary.model,
            summary.epochs,
            summary.stopped,
            summary.wall_time_s,
            pct(summary.best_val_accuracy),
            summary.best_epoch,
            summary.test_accuracy.map(pct).unwrap_or_else(|| "–".into())
        );
        outln!("written to {}", out.display());
    }
    Ok(())
}

fn smoke(s: SmokeArgs) -> anyhow::Result<()> {
    let device: DeviceSpec = s.device.parse()?;
    let report = run_smoke(&SmokeOptions {
        device,
        steps: s.steps,
        warmup_steps: s.warmup,
        batch_size: s.batch_size,
        size: s.size,
        classes: 30,
        amp: !s.no_amp,
        forward: s.forward,
    })?;
    if s.json {
        outln!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    outln!(
        "{} on device {} amp {} threads {}: batch {} at {}px, {} steps: {:.1} images/s ({:.0} ms/step), loss {:.3} → {:.3}, {} skipped",
        report.mode,
        report.device,
        report.amp,
        report.threads,
        report.batch_size,
        report.size,
        report.steps,
        report.images_per_s,
        report.step_ms,
        report.loss_first,
        report.loss_last,
        report.skipped_steps
    );
    match (
        report.peak_device_memory_mib,
        report.baseline_device_memory_mib,
    ) {
        (Some(peak), Some(base)) => outln!(
            "peak device memory in use {peak:.0} MiB (before the model: {base:.0} MiB; cudaMemGetInfo, includes the CUDA context and allocator cache)"
        ),
        (Some(peak), None) => outln!("peak device memory in use {peak:.0} MiB"),
        _ if report.device.starts_with("cuda") => {
            outln!("peak device memory: cudaMemGetInfo not found in the loaded CUDA runtime")
        }
        _ => {}
    }
    Ok(())
}
