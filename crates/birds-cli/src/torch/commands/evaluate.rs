//! `birds evaluate`: run a trained checkpoint over the valid and test images of a cache and report, class by class,
//! what it gets wrong and which species need more training.

use std::path::PathBuf;

use anyhow::Context;
use birds_core::Split;
use birds_evaluate::{EvaluateParams, Inputs, RunOptions, Tta};

use super::Runtime;

/// Arguments of `birds evaluate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A `birds train` output folder (model.safetensors + checkpoint.json).
    #[arg(long, value_name = "DIR")]
    checkpoint: PathBuf,
    /// The `birds preprocess` output folder the model was trained from.
    #[arg(long, value_name = "DIR")]
    cache: PathBuf,
    /// Output folder (created; existing files are replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// `birds ingest` output folder, for training-image counts per class (default: counted in the cache).
    #[arg(long, value_name = "DIR")]
    index: Option<PathBuf>,
    /// A `diagnose` output folder (suspected label errors and learning curves, added to the advice).
    #[arg(long, value_name = "DIR")]
    diagnosis: Option<PathBuf>,
    /// Splits evaluated together, comma-separated.
    #[arg(long, value_name = "SPLITS", value_delimiter = ',', default_value = "valid,test", value_parser = parse_split)]
    splits: Vec<Split>,
    /// Test-time augmentation: `none` or `flip` (average of the image and its mirror image).
    #[arg(long, value_name = "TTA", default_value = "none", value_parser = parse_tta)]
    tta: Tta,
    /// Images per forward pass.
    #[arg(long, value_name = "N", default_value_t = 64)]
    batch_size: usize,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long, value_name = "DEVICE", default_value = "auto")]
    device: birds_models::runtime::DeviceSpec,
    /// Images in the top-losses grid (0: no grid).
    #[arg(long, value_name = "N", default_value_t = 16)]
    top_losses: usize,
    /// Classes in the confusion heatmap: all up to N, else the N most-confused.
    #[arg(long, value_name = "N", default_value_t = 40)]
    confusion_classes: usize,
    /// Fewest errors for a pair to be listed in most_confused.
    #[arg(long, value_name = "N", default_value_t = 1)]
    min_confused: u64,
    /// Do not fit a temperature on the valid split: report the network's own softmax (marked uncalibrated).
    #[arg(long)]
    no_calibrate: bool,
    /// Do not fit the out-of-distribution detector (it embeds up to --ood-images-per-class training images).
    #[arg(long)]
    no_ood: bool,
    /// The quantile of the valid split's out-of-distribution scores that becomes the threshold.
    #[arg(long, value_name = "Q", default_value_t = 0.99)]
    ood_quantile: f64,
    /// Training images per class the out-of-distribution detector is fitted on.
    #[arg(long, value_name = "N", default_value_t = 100)]
    ood_images_per_class: usize,
}

fn parse_split(s: &str) -> Result<Split, String> {
    s.parse().map_err(|e: birds_core::CoreError| e.to_string())
}

fn parse_tta(s: &str) -> Result<Tta, String> {
    s.parse::<Tta>()
        .map_err(|e| birds_evaluate::EvaluateError::Params(e.to_string()).to_string())
}

/// Runs the evaluation and prints the headline figures and the weakest classes.
pub fn run(_runtime: &Runtime, args: Args) -> anyhow::Result<()> {
    let params = EvaluateParams {
        splits: args.splits,
        tta: args.tta,
        batch_size: args.batch_size,
        device: args.device,
        top_losses: args.top_losses,
        confusion_classes: args.confusion_classes,
        min_confused: args.min_confused,
        calibrate: !args.no_calibrate,
        ood: !args.no_ood,
        ood_quantile: args.ood_quantile,
        ood_images_per_class: args.ood_images_per_class,
    };
    let inputs = Inputs {
        checkpoint: args.checkpoint,
        cache: args.cache,
        index: args.index,
        diagnosis: args.diagnosis,
    };
    let s = birds_evaluate::evaluate(&inputs, &args.out, &params, RunOptions { progress: true })
        .with_context(|| format!("evaluating {}", inputs.checkpoint.display()))?;
    outln!(
        "{} images of {} ({} classes{}): accuracy {:.1}%, top-5 {:.1}%, macro F1 {:.3}, NLL {:.3}, ECE {:.3}",
        s.overall.images,
        params.splits_label(),
        s.classes,
        if params.tta == Tta::Flip {
            ", flip TTA"
        } else {
            ""
        },
        100.0 * s.overall.accuracy,
        100.0 * s.overall.top5_accuracy,
        s.overall.macro_avg.f1,
        s.overall.nll,
        s.overall.ece
    );
    match &s.calibration {
        Some(c) => {
            let t = c.temperature.unwrap_or(1.0);
            for (split, f) in &c.by_split {
                outln!(
                    "calibration ({split}, {} images): temperature {t:.3} fitted on {} valid images; NLL {:.3} → {:.3}, \
                     ECE {:.3} → {:.3}, mean confidence {:.1}% → {:.1}% (accuracy {:.1}%)",
                    f.images,
                    c.fit_images,
                    f.nll_before,
                    f.nll_after,
                    f.ece_before,
                    f.ece_after,
                    100.0 * f.mean_confidence_before,
                    100.0 * f.mean_confidence_after,
                    100.0 * f.accuracy
                );
            }
        }
        None => outln!("probabilities uncalibrated (no temperature fitted)"),
    }
    if let Some(o) = &s.ood {
        for (split, f) in &o.by_split {
            outln!(
                "out-of-distribution ({split}): {} of {} images above the threshold {:.2} (median score {:.2})",
                f.flagged,
                f.images,
                o.info.threshold,
                f.median_score
            );
        }
    }
    outln!("needs more training first:");
    for w in &s.weakest {
        outln!(
            "  {:<32} {}/{} correct (recall ≥ {})  {}",
            w.label,
            w.correct,
            w.evaluated,
            w.recall_lower.map_or("–".into(), |b| format!("{b:.2}")),
            w.next_step
        );
    }
    outln!("reports in {}", args.out.display());
    Ok(())
}
