//! Data diagnostics on the cached pretrained embeddings (the feature cache feature-extract trains on, so no
//! backbone pass beyond it): which training labels are suspect, and which classes more images would help.
//!
//! - **Out-of-fold probabilities.** The training images are split into `folds` class-stratified folds (seeded); for
//!   each fold a linear head ([`head`]) is trained on the others (with their mirrored copies when the cache has
//!   them) and predicts the held-out fold's unmirrored images. Every training image gets probabilities from a
//!   head that never saw it.
//! - **Label issues** ([`confident`]): confident learning on those probabilities, cleanlab's `find_label_issues`.
//! - **Learning curves.** The same folds, with each training fold cut to 25 % and 50 % of every class's images
//!   (seeded, `repeats` times): a class whose out-of-fold recall still rises from 50 % to 100 % of its images
//!   (by at least `min_gain`) will likely gain from more; one whose recall has flattened will not gain from more of
//!   the same (its labels or a look-alike class are the better lead).
//!
//! Outputs: `label_issues.parquet`, `class_diagnosis.parquet` (columns in [`birds_core::schema::diagnose`]),
//! `oof.safetensors` (`probs` `[N, K]` f32, `labels` `[N]` i64, `samples` `[N]` i64: the out-of-fold probabilities
//! of every training image, for cleanlab or any other tool) and `diagnose.json` ([`DiagnoseSummary`]).

pub mod confident;
pub mod head;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use birds_artifacts::FrameBuilder;
use birds_core::Split;
use birds_core::rng::SplitMix64;
use birds_core::schema::diagnose::{CLASS_DIAGNOSIS, LABEL_ISSUES};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::cache_source::CacheSource;
use crate::data::DataSource;
use crate::trainer::{RunOptions, pretrained_features};
use crate::{Result, TrainError, TrainParams};
use head::HeadConfig;

/// `diagnose.json`.
pub const SUMMARY_FILE: &str = "diagnose.json";
/// `oof.safetensors`.
pub const OOF_FILE: &str = "oof.safetensors";
/// The training fractions of the learning curves (the last, 1, is the label finder's run).
pub const FRACTIONS: [f64; 3] = [0.25, 0.5, 1.0];

pub use birds_params::diagnose::DiagnoseParams;

/// The linear-head settings of the diagnose params.
fn head_config(p: &DiagnoseParams) -> HeadConfig {
    HeadConfig {
        epochs: p.epochs,
        lr: p.lr,
        batch_size: p.batch_size,
        ..HeadConfig::default()
    }
}

pub use birds_artifacts::diagnose::Curve;

/// The verdict of a class whose recall is `recall_50` with half and `recall_100` with all of its images.
pub fn curve_of(recall_50: f64, recall_100: f64, min_gain: f64) -> Curve {
    if recall_50 >= 0.98 {
        Curve::Saturated
    } else if recall_100 - recall_50 >= min_gain - 1e-12 {
        Curve::Rising
    } else {
        Curve::Flat
    }
}

/// `diagnose.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiagnoseSummary {
    /// birds version that wrote it.
    pub birds_version: String,
    /// Training images diagnosed.
    pub images: usize,
    /// Classes.
    pub classes: usize,
    /// Folds.
    pub folds: usize,
    /// Top-1 accuracy of the out-of-fold probabilities against the given labels.
    pub oof_accuracy: f64,
    /// Suspected label errors.
    pub label_issues: usize,
    /// Classes per learning-curve verdict.
    pub curves: BTreeMap<String, usize>,
    /// Whether the embeddings came from the feature cache.
    pub feature_cache_hit: bool,
    /// Wall time in seconds.
    pub seconds: f64,
    /// The params.
    pub params: DiagnoseParams,
}

/// One class's row of `class_diagnosis.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassDiagnosis {
    /// Training images.
    pub train_images: u32,
    /// Suspected label errors among them.
    pub label_issues: u32,
    /// The likely class most of them go to.
    pub issues_likely: Option<u32>,
    /// Out-of-fold recall at 25 %, 50 % and 100 % of the class's training images.
    pub recall: [f64; 3],
    /// The verdict.
    pub curve: Curve,
}

/// Class-stratified fold of each image: within each class, its images in order shuffled by `seed`, then dealt
/// round-robin.
pub fn folds_of(labels: &[u32], classes: usize, folds: usize, seed: u64) -> Vec<usize> {
    let mut fold = vec![0; labels.len()];
    for c in 0..classes {
        let mut members: Vec<usize> = (0..labels.len())
            .filter(|&i| labels[i] as usize == c)
            .collect();
        SplitMix64::from_words(&[seed, 0xF01D, c as u64]).shuffle(&mut members);
        for (pos, &i) in members.iter().enumerate() {
            fold[i] = pos % folds;
        }
    }
    fold
}

/// The out-of-fold probabilities of every training image (`n × classes` row-major) when each fold's head is
/// trained on `keep` of the other folds' images (`fraction` of each class, seeded by `draw`; 1 = all).
#[allow(clippy::too_many_arguments)]
fn out_of_fold(
    x: &Tensor,
    x_flip: Option<&Tensor>,
    labels: &[u32],
    classes: usize,
    fold: &[usize],
    params: &DiagnoseParams,
    fraction: f64,
    draw: u64,
) -> Result<Vec<f64>> {
    let n = labels.len();
    let mut probs = vec![0f64; n * classes];
    for f in 0..params.folds {
        let held: Vec<usize> = (0..n).filter(|&i| fold[i] == f).collect();
        if held.is_empty() {
            continue;
        }
        let mut train: Vec<usize> = Vec::new();
        for c in 0..classes {
            let mut members: Vec<usize> = (0..n)
                .filter(|&i| fold[i] != f && labels[i] as usize == c)
                .collect();
            if fraction < 1.0 {
                SplitMix64::from_words(&[params.seed, draw, f as u64, c as u64])
                    .shuffle(&mut members);
                let keep = ((members.len() as f64 * fraction).round() as usize)
                    .max(1)
                    .min(members.len());
                members.truncate(keep);
                members.sort_unstable();
            }
            train.extend(members);
        }
        train.sort_unstable();
        let idx = |rows: &[usize]| {
            Tensor::from_slice(&rows.iter().map(|&i| i as i64).collect::<Vec<_>>())
        };
        let (tr, te) = (idx(&train), idx(&held));
        let mut tx = x.f_index_select(0, &tr)?;
        let ys: Vec<i64> = train.iter().map(|&i| i64::from(labels[i])).collect();
        let mut ty = Tensor::from_slice(&ys);
        if let Some(flip) = x_flip {
            tx = Tensor::f_cat(&[tx, flip.f_index_select(0, &tr)?], 0)?;
            ty = Tensor::f_cat(&[ty.shallow_clone(), ty], 0)?;
        }
        let seed = params.seed ^ (draw.wrapping_mul(0x9E37_79B9) + f as u64);
        let p = head::fit_predict(
            &tx,
            &ty,
            &x.f_index_select(0, &te)?,
            classes as i64,
            &head_config(params),
            seed,
        )?;
        for (row, &i) in held.iter().enumerate() {
            probs[i * classes..(i + 1) * classes]
                .copy_from_slice(&p[row * classes..(row + 1) * classes]);
        }
    }
    Ok(probs)
}

/// Per-class recall of `probs` against `labels`.
fn recall_per_class(probs: &[f64], labels: &[u32], classes: usize) -> Vec<f64> {
    let (mut right, mut total) = (vec![0u64; classes], vec![0u64; classes]);
    for (i, &y) in labels.iter().enumerate() {
        total[y as usize] += 1;
        if confident::argmax_row(probs, classes, i) == y as usize {
            right[y as usize] += 1;
        }
    }
    (0..classes)
        .map(|c| {
            if total[c] == 0 {
                0.0
            } else {
                right[c] as f64 / total[c] as f64
            }
        })
        .collect()
}

/// Everything the diagnostics compute from embeddings `x` `[N, C]` (and their mirrored copies) and labels.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// Out-of-fold probabilities at 100 %, `N × classes`.
    pub oof: Vec<f64>,
    /// The label issues found in them.
    pub issues: confident::LabelIssues,
    /// Per class.
    pub per_class: Vec<ClassDiagnosis>,
}

/// Runs the folds, the label finder and the learning curves on embeddings.
pub fn diagnose_embeddings(
    x: &Tensor,
    x_flip: Option<&Tensor>,
    labels: &[u32],
    classes: usize,
    params: &DiagnoseParams,
) -> Result<Diagnosis> {
    params.validate()?;
    let fold = folds_of(labels, classes, params.folds, params.seed);
    let oof = out_of_fold(x, x_flip, labels, classes, &fold, params, 1.0, 0)?;
    let issues = confident::find_label_issues(&oof, labels, classes);
    let mut recalls = vec![[0f64; 3]; classes];
    for (slot, &fraction) in FRACTIONS.iter().enumerate().take(2) {
        for r in 0..params.repeats {
            let draw = 1 + (slot * params.repeats + r) as u64;
            let probs = out_of_fold(x, x_flip, labels, classes, &fold, params, fraction, draw)?;
            for (c, rec) in recall_per_class(&probs, labels, classes)
                .into_iter()
                .enumerate()
            {
                recalls[c][slot] += rec / params.repeats as f64;
            }
        }
    }
    for (c, rec) in recall_per_class(&oof, labels, classes)
        .into_iter()
        .enumerate()
    {
        recalls[c][2] = rec;
    }
    let per_class = (0..classes)
        .map(|c| {
            let members = labels.iter().filter(|&&y| y as usize == c).count() as u32;
            let suspects: Vec<usize> = issues
                .ranked
                .iter()
                .copied()
                .filter(|&i| labels[i] as usize == c)
                .collect();
            let mut likely: BTreeMap<usize, usize> = BTreeMap::new();
            for &i in &suspects {
                *likely
                    .entry(confident::argmax_row(&oof, classes, i))
                    .or_default() += 1;
            }
            let issues_likely = likely
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(&l, _)| l as u32);
            ClassDiagnosis {
                train_images: members,
                label_issues: suspects.len() as u32,
                issues_likely,
                recall: recalls[c],
                curve: curve_of(recalls[c][1], recalls[c][2], params.min_gain),
            }
        })
        .collect();
    Ok(Diagnosis {
        oof,
        issues,
        per_class,
    })
}

/// Runs the diagnostics on a preprocess cache and writes every output into `out_dir`.
pub fn diagnose(
    cache_dir: &Path,
    params: &DiagnoseParams,
    out_dir: &Path,
    opts: &RunOptions,
) -> Result<DiagnoseSummary> {
    params.validate()?;
    let start = Instant::now();
    let train_params = TrainParams {
        mode: crate::Mode::FeatureExtract,
        weights: params.weights.clone(),
        feature_cache: params.feature_cache.clone(),
        flip_features: params.flip_features,
        ..TrainParams::default()
    };
    let data = CacheSource::open(cache_dir, train_params.normalization, Default::default())?
        .with_prefetch(crate::cache_source::prefetch_for(train_params.device.0));
    let (features, info) = pretrained_features(&train_params, &data, opts)?;
    let cache = data.cache();
    let ids: Vec<u32> = cache.split(Split::Train).ids().to_vec();
    let n = ids.len();
    let labels: Vec<u32> = ids.iter().map(|&i| cache.sample(i).class_id).collect();
    let stored: Vec<i64> = Vec::<i64>::try_from(&features.train.labels.f_narrow(0, 0, n as i64)?)?;
    if stored.iter().map(|&l| l as u32).ne(labels.iter().copied()) {
        return Err(TrainError::Data(
            "the feature cache's training labels are not the preprocess cache's, in its order; delete the feature \
             cache entry and rerun"
                .into(),
        ));
    }
    let classes = data.classes().len();
    let x = features.train.features.f_narrow(0, 0, n as i64)?;
    let flip = (params.flip_features && features.train.features.size()[0] >= 2 * n as i64)
        .then(|| features.train.features.f_narrow(0, n as i64, n as i64))
        .transpose()?;
    let d = diagnose_embeddings(&x, flip.as_ref(), &labels, classes, params)?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| TrainError::file("creating folder", out_dir, e))?;
    write_outputs(out_dir, cache, &ids, &labels, data.classes(), &d)?;
    let correct = (0..n)
        .filter(|&i| confident::argmax_row(&d.oof, classes, i) == labels[i] as usize)
        .count();
    let mut curves = BTreeMap::new();
    for c in &d.per_class {
        *curves.entry(c.curve.as_str().to_string()).or_insert(0) += 1;
    }
    let summary = DiagnoseSummary {
        birds_version: birds_core::VERSION.to_string(),
        images: n,
        classes,
        folds: params.folds,
        oof_accuracy: correct as f64 / n.max(1) as f64,
        label_issues: d.issues.ranked.len(),
        curves,
        feature_cache_hit: info.hit,
        seconds: start.elapsed().as_secs_f64(),
        params: params.clone(),
    };
    birds_artifacts::json::write_json(&out_dir.join(SUMMARY_FILE), &summary)?;
    tracing::info!(
        images = n,
        label_issues = summary.label_issues,
        oof_accuracy = summary.oof_accuracy,
        seconds = summary.seconds,
        "diagnosed"
    );
    Ok(summary)
}

fn write_outputs(
    out_dir: &Path,
    cache: &birds_preprocess::Cache,
    ids: &[u32],
    labels: &[u32],
    names: &[String],
    d: &Diagnosis,
) -> Result<()> {
    let k = names.len();
    let name = |c: usize| names.get(c).cloned().unwrap_or_default();
    let r = &d.issues.ranked;
    let likely: Vec<usize> = r
        .iter()
        .map(|&i| confident::argmax_row(&d.oof, k, i))
        .collect();
    let io = |e: String| TrainError::Data(format!("writing the diagnosis: {e}"));
    FrameBuilder::new(&LABEL_ISSUES, r.len())
        .set("rank", (1..=r.len() as u32).collect::<Vec<u32>>())
        .set("sample", r.iter().map(|&i| ids[i]).collect::<Vec<u32>>())
        .set(
            "path",
            r.iter()
                .map(|&i| cache.sample(ids[i]).path.clone())
                .collect::<Vec<String>>(),
        )
        .set(
            "root",
            r.iter()
                .map(|&i| cache.sample(ids[i]).root.clone())
                .collect::<Vec<String>>(),
        )
        .set(
            "given_id",
            r.iter().map(|&i| labels[i]).collect::<Vec<u32>>(),
        )
        .set(
            "given_label",
            r.iter()
                .map(|&i| name(labels[i] as usize))
                .collect::<Vec<String>>(),
        )
        .set(
            "likely_id",
            likely.iter().map(|&c| c as u32).collect::<Vec<u32>>(),
        )
        .set(
            "likely_label",
            likely.iter().map(|&c| name(c)).collect::<Vec<String>>(),
        )
        .set(
            "p_given",
            r.iter()
                .map(|&i| d.oof[i * k + labels[i] as usize])
                .collect::<Vec<f64>>(),
        )
        .set(
            "p_likely",
            r.iter()
                .zip(&likely)
                .map(|(&i, &c)| d.oof[i * k + c])
                .collect::<Vec<f64>>(),
        )
        .write(&out_dir.join(LABEL_ISSUES.file))?;
    let pc = &d.per_class;
    FrameBuilder::new(&CLASS_DIAGNOSIS, k)
        .set("class_id", (0..k as u32).collect::<Vec<u32>>())
        .set("label", names.to_vec())
        .set(
            "train_images",
            pc.iter().map(|c| c.train_images).collect::<Vec<u32>>(),
        )
        .set(
            "label_issues",
            pc.iter().map(|c| c.label_issues).collect::<Vec<u32>>(),
        )
        .set(
            "issues_likely",
            pc.iter()
                .map(|c| c.issues_likely.map(|l| name(l as usize)))
                .collect::<Vec<Option<String>>>(),
        )
        .set(
            "recall_25",
            pc.iter().map(|c| c.recall[0]).collect::<Vec<f64>>(),
        )
        .set(
            "recall_50",
            pc.iter().map(|c| c.recall[1]).collect::<Vec<f64>>(),
        )
        .set(
            "recall_100",
            pc.iter().map(|c| c.recall[2]).collect::<Vec<f64>>(),
        )
        .set(
            "gain",
            pc.iter()
                .map(|c| c.recall[2] - c.recall[1])
                .collect::<Vec<f64>>(),
        )
        .set(
            "curve",
            pc.iter().map(|c| c.curve.as_str()).collect::<Vec<&str>>(),
        )
        .write(&out_dir.join(CLASS_DIAGNOSIS.file))?;
    let probs = Tensor::from_slice(&d.oof)
        .f_view([labels.len() as i64, k as i64])?
        .f_to_kind(Kind::Float)?;
    let named = [
        ("probs".to_string(), probs),
        (
            "labels".to_string(),
            Tensor::from_slice(&labels.iter().map(|&l| i64::from(l)).collect::<Vec<_>>()),
        ),
        (
            "samples".to_string(),
            Tensor::from_slice(&ids.iter().map(|&s| i64::from(s)).collect::<Vec<_>>()),
        ),
    ];
    birds_models::checkpoint::write_tensors(&named, &out_dir.join(OOF_FILE))
        .map_err(|e| io(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `k` Gaussian classes of `n` points in `dim` dimensions (means 3 apart on their own axis), then every
    /// `step`-th image relabelled to the next class.
    fn clusters(
        k: usize,
        n: usize,
        dim: i64,
        step: usize,
    ) -> Result<(Tensor, Vec<u32>, Vec<usize>)> {
        tch::manual_seed(5);
        let x = Tensor::f_randn([(k * n) as i64, dim], (Kind::Float, tch::Device::Cpu))?;
        let mut labels = Vec::new();
        for c in 0..k {
            let _ = x
                .f_narrow(0, (c * n) as i64, n as i64)?
                .f_narrow(1, c as i64, 1)?
                .f_add_scalar_(3.0)?;
            labels.extend(std::iter::repeat_n(c as u32, n));
        }
        let planted: Vec<usize> = (0..k * n).filter(|i| i % step == 3).collect();
        for &i in &planted {
            labels[i] = (labels[i] + 1) % k as u32;
        }
        Ok((x, labels, planted))
    }

    #[test]
    fn planted_label_errors_are_among_the_first_suspects() -> Result<()> {
        let (x, labels, planted) = clusters(4, 60, 8, 40)?;
        let params = DiagnoseParams {
            repeats: 1,
            epochs: 20,
            lr: 0.05,
            ..DiagnoseParams::default()
        };
        let d = diagnose_embeddings(&x, None, &labels, 4, &params)?;
        let top: Vec<usize> = d
            .issues
            .ranked
            .iter()
            .copied()
            .take(2 * planted.len())
            .collect();
        let found = planted.iter().filter(|i| top.contains(i)).count();
        assert!(
            found * 10 >= planted.len() * 8,
            "{found} of {} planted in {top:?}",
            planted.len()
        );
        // The suspects' class counts add up, and the same inputs give the same diagnosis.
        let total: u32 = d.per_class.iter().map(|c| c.label_issues).sum();
        assert_eq!(total as usize, d.issues.ranked.len());
        assert_eq!(
            diagnose_embeddings(&x, None, &labels, 4, &params)?.oof,
            d.oof
        );
        Ok(())
    }

    #[test]
    fn curves_say_rising_flat_or_saturated_and_folds_are_stratified() {
        assert_eq!(curve_of(0.99, 1.0, 0.05), Curve::Saturated);
        assert_eq!(curve_of(0.6, 0.7, 0.05), Curve::Rising);
        assert_eq!(curve_of(0.6, 0.62, 0.05), Curve::Flat);
        let labels: Vec<u32> = (0..50).map(|i| (i % 2) as u32).collect();
        let folds = folds_of(&labels, 2, 5, 1);
        for f in 0..5 {
            for c in 0..2 {
                let n = (0..50).filter(|&i| folds[i] == f && labels[i] == c).count();
                assert_eq!(n, 5, "fold {f} class {c}");
            }
        }
        assert_eq!(folds, folds_of(&labels, 2, 5, 1));
        assert_ne!(folds, folds_of(&labels, 2, 5, 2));
        assert!(
            DiagnoseParams {
                folds: 1,
                ..DiagnoseParams::default()
            }
            .validate()
            .is_err()
        );
    }
}
