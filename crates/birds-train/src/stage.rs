//! The work of the pipeline stages `train` and `diagnose` (their declarations, params and inputs, are
//! `birds_params::stages::{TrainSpec, DiagnoseSpec}`). `birds-torch` calls these for `birds run`.

use std::path::PathBuf;

use birds_core::stage::{StageContext, StageError};

use crate::cache_source::CacheSource;
use crate::diagnose::{DiagnoseParams, diagnose};
use crate::params::TrainParams;
use crate::trainer::{RunOptions, train};

/// `uses: train`: trains on the `cache` input into `ctx.out_dir`.
pub fn run_train(ctx: &StageContext<'_>) -> Result<(), StageError> {
    let mut params = TrainParams::from_json(ctx.params)?;
    resolve_weights(ctx, &mut params.weights);
    let cache = ctx.input("cache")?;
    let data = CacheSource::open(cache, params.normalization, params.augment.clone())?
        .with_prefetch(crate::cache_source::prefetch_for(params.device.0));
    let opts = stage_options(ctx);
    let summary = train(&params, &data, ctx.out_dir, &opts)?;
    tracing::info!(
        stage = ctx.name,
        best_val_accuracy = summary.best_val_accuracy,
        test_accuracy = summary.test_accuracy,
        "train done"
    );
    Ok(())
}

/// `uses: diagnose`: the label-issue finder and the per-class learning curves on the cached pretrained embeddings
/// of the `cache` input ([`crate::diagnose`]).
pub fn run_diagnose(ctx: &StageContext<'_>) -> Result<(), StageError> {
    let mut params = DiagnoseParams::from_json(ctx.params)?;
    resolve_weights(ctx, &mut params.weights);
    let summary = diagnose(
        ctx.input("cache")?,
        &params,
        ctx.out_dir,
        &stage_options(ctx),
    )?;
    tracing::info!(
        stage = ctx.name,
        label_issues = summary.label_issues,
        "diagnose done"
    );
    Ok(())
}

fn stage_options(ctx: &StageContext<'_>) -> RunOptions {
    RunOptions {
        resume: false,
        progress: true,
        stop_after_epochs: None,
        root: ctx.root.to_path_buf(),
    }
}

/// The `weights` a stage uses: its `weights` input (a dep's folder) when given, else the param, a relative path
/// resolved against the project root.
fn resolve_weights(ctx: &StageContext<'_>, weights: &mut Option<PathBuf>) {
    if let Some(w) = ctx.inputs.get("weights") {
        *weights = Some(w.clone());
    } else if let Some(w) = weights.as_mut().filter(|w| w.is_relative()) {
        *w = ctx.root.join(&*w);
    }
}
