//! `birds diagnose`: suspected label errors (confident learning on out-of-fold probabilities) and per-class
//! learning curves, from linear heads trained on the cached pretrained embeddings of a preprocess cache.

use std::path::PathBuf;

use anyhow::Context;
use birds_train::RunOptions;
use birds_train::diagnose::{DiagnoseParams, diagnose};

use super::Runtime;

/// Arguments of `birds diagnose`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A `birds preprocess` output folder.
    #[arg(long, value_name = "DIR")]
    cache: PathBuf,
    /// Output folder (created; existing files are replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Class-stratified folds of the training images.
    #[arg(long, value_name = "K", default_value_t = 5)]
    folds: usize,
    /// Seeded repeats of the 25 % and 50 % learning-curve fits.
    #[arg(long, value_name = "N", default_value_t = 3)]
    repeats: usize,
    /// Head epochs per fit.
    #[arg(long, value_name = "N", default_value_t = 30)]
    epochs: u32,
    /// Recall gain from half to all of a class's images that counts as still rising.
    #[arg(long, value_name = "G", default_value_t = 0.05)]
    min_gain: f64,
    /// Seed of the folds, subsets and heads.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Pretrained weights (default: the ImageNet Lite0 weights of `just setup`).
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
    /// Feature cache folder (default: artifacts/.cache/features under the current folder).
    #[arg(long, value_name = "DIR")]
    feature_cache: Option<PathBuf>,
    /// Train the heads without the mirrored copies of the training images.
    #[arg(long)]
    no_flip: bool,
}

/// Runs the diagnostics and prints the suspects and the curve verdicts.
pub fn run(_runtime: &Runtime, args: Args) -> anyhow::Result<()> {
    let params = DiagnoseParams {
        folds: args.folds,
        repeats: args.repeats,
        epochs: args.epochs,
        min_gain: args.min_gain,
        seed: args.seed,
        weights: args.weights,
        feature_cache: args.feature_cache,
        flip_features: !args.no_flip,
        ..DiagnoseParams::default()
    };
    let opts = RunOptions {
        progress: true,
        root: std::env::current_dir()?,
        ..RunOptions::default()
    };
    let s = diagnose(&args.cache, &params, &args.out, &opts)
        .with_context(|| format!("diagnosing {}", args.cache.display()))?;
    outln!(
        "{} training images of {} classes, {} folds: out-of-fold accuracy {:.1}%; {} suspected label errors",
        s.images,
        s.classes,
        s.folds,
        100.0 * s.oof_accuracy,
        s.label_issues
    );
    let curves: Vec<String> = s.curves.iter().map(|(k, v)| format!("{v} {k}")).collect();
    outln!("learning curves: {}", curves.join(", "));
    outln!("outputs in {}", args.out.display());
    Ok(())
}
