//! Fitting the out-of-distribution detector ([`birds_models::ood`]) on a checkpoint: the pooled embeddings of up to
//! `ood_images_per_class` training images per class (the first in cache order, centre views, as evaluation sees
//! them) give the class means and the shared covariance; the threshold is the `ood_quantile` of the valid split's
//! scores.

use birds_loader::{Loader, LoaderConfig};
use birds_models::ImageClassifier;
use birds_models::ood::OodDetector;
use birds_preprocess::{Cache, Subset};
use tch::{Device, Kind, Tensor};

use crate::Result;
use crate::params::EvaluateParams;
use crate::report::OodInfo;
use birds_artifacts::evaluate::OodMethod;
use birds_core::Split;

/// A fitted detector and what `calibration.json` records of it.
#[derive(Debug)]
pub struct Fitted {
    /// Means and precision, with the threshold set.
    pub detector: OodDetector,
    /// Method, threshold, quantile and image counts.
    pub info: OodInfo,
}

/// The training images the detector is fitted on: the first `per_class` of each class, in cache order.
pub fn fit_subset(cache: &Cache, per_class: usize) -> Result<Subset> {
    let mut taken = vec![0usize; cache.num_classes()];
    let train = cache.split(Split::Train);
    let ids: Vec<u32> = train
        .ids()
        .iter()
        .copied()
        .filter(|&i| {
            let c = cache.sample(i).class_id as usize;
            let keep = taken.get(c).is_some_and(|&t| t < per_class);
            if keep {
                taken[c] += 1;
            }
            keep
        })
        .collect();
    Ok(Subset::from_ids(cache, ids)?)
}

/// Pooled embeddings `[N, C]` (f32, CPU) of every image the loader serves, in its order.
pub fn embed_all(model: &dyn ImageClassifier, loader: &Loader, progress: bool) -> Result<Tensor> {
    let bar = crate::run::progress_bar(
        progress,
        loader.subset().len(),
        "ood fit {bar:30} {pos}/{len} training images {per_sec} eta {eta}",
    );
    let mut parts = Vec::new();
    for batch in loader.epoch(0) {
        let batch = batch?;
        let e = tch::no_grad(|| model.embed(&batch.images, false))
            .f_to_kind(Kind::Float)?
            .f_to_device(Device::Cpu)?;
        parts.push(e);
        bar.inc(batch.samples.len() as u64);
    }
    bar.finish_and_clear();
    Ok(Tensor::f_cat(&parts, 0)?)
}

/// Fits the detector on the checkpoint's training embeddings and sets its threshold from `valid` (the valid
/// split's embeddings, `[M, C]`). `None`, with a warning, when the cache has fewer than 2 training images or no
/// valid image: the evaluation goes on without the detector.
pub fn fit(
    model: &dyn ImageClassifier,
    cache: &Cache,
    config: &LoaderConfig,
    params: &EvaluateParams,
    valid: &Tensor,
    progress: bool,
) -> Result<Option<Fitted>> {
    let subset = fit_subset(cache, params.ood_images_per_class)?;
    let valid_n = valid.size().first().copied().unwrap_or(0);
    if subset.len() < 2 || valid_n == 0 {
        tracing::warn!(
            train_images = subset.len(),
            valid_images = valid_n,
            "no out-of-distribution detector: it needs training images to fit on and valid images for its threshold"
        );
        return Ok(None);
    }
    let start = std::time::Instant::now();
    let loader = Loader::new(&subset, config.clone())?;
    let train = embed_all(model, &loader, progress)?;
    let labels = Tensor::from_slice(
        &subset
            .labels()
            .into_iter()
            .map(i64::from)
            .collect::<Vec<_>>(),
    );
    let mut detector = OodDetector::fit(&train, &labels)?;
    let valid_scores = detector.scores(valid)?;
    detector.set_threshold(&valid_scores, params.ood_quantile);
    tracing::info!(
        train_images = subset.len(),
        valid_images = valid_scores.len(),
        threshold = detector.threshold,
        shrinkage = detector.shrinkage,
        seconds = start.elapsed().as_secs_f64(),
        "out-of-distribution detector fitted"
    );
    let info = OodInfo {
        method: OodMethod::Mahalanobis,
        threshold: detector.threshold,
        quantile: params.ood_quantile,
        threshold_images: valid_scores.len() as u64,
        fit_images: subset.len() as u64,
        shrinkage: detector.shrinkage,
    };
    Ok(Some(Fitted { detector, info }))
}
