//! Running a checkpoint over a cache and writing every output: [`evaluate`].

use birds_models::DeviceExt;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use birds_core::Split;
use birds_core::schema::ingest::CLASSES;
use birds_loader::{Loader, LoaderConfig, Prefetch};
use birds_models::{Checkpoint, ImageClassifier};
use birds_preprocess::Cache;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use polars::prelude::*;
use tch::{Device, Kind, Tensor};

use birds_artifacts::evaluate::CalibrationFile;
use birds_models::ood::OOD_FILE;

use crate::metrics::Scores;
use crate::params::{EvaluateParams, Tta};
use crate::report::{
    Calibrated, Evaluation, ImageInfo, OodScores, Report, SplitCounts, SummaryFile, WeakClass,
    calibration_summary, definitions, ood_summary,
};
use crate::{EvaluateError, Result, calibration, write};

/// What an evaluation reads.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// A `birds train` output folder (`model.safetensors` + `checkpoint.json`).
    pub checkpoint: PathBuf,
    /// A `birds preprocess` output folder (the cache the images are read from).
    pub cache: PathBuf,
    /// Optional `birds ingest` output folder (or its `classes.parquet`) for training-image counts; without it
    /// they come from the cache.
    pub index: Option<PathBuf>,
    /// Optional `diagnose` stage output folder: its suspected label errors and learning curves go into the
    /// needs-more-training advice.
    pub diagnosis: Option<PathBuf>,
}

/// How an evaluation runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// Runs the checkpoint over the evaluated splits and writes every output into `out_dir`; returns the summary.
///
/// With `calibrate` (the default) the valid split is read as well, even when `splits` leaves it out: a
/// temperature is fitted on it ([`crate::calibration`]) and every probability written is the scaled one. With `ood`
/// the detector ([`crate::ood`]) is fitted on the training images' embeddings and every evaluated image scored.
/// Both are recorded in `calibration.json` (+ `ood.safetensors`) for `birds predict` and explain.
pub fn evaluate(
    inputs: &Inputs,
    out_dir: &Path,
    params: &EvaluateParams,
    options: RunOptions,
) -> Result<SummaryFile> {
    params.validate()?;
    let device = params.device.resolve()?;
    let ckpt = Checkpoint::load(&inputs.checkpoint, device)?;
    let cache = Cache::open(&inputs.cache)?;
    check_fit(&ckpt, &cache, inputs)?;
    let read_valid = params.calibrate || params.ood;
    let evaluated = |s: Split| params.splits.contains(&s);
    let subset = cache
        .all()
        .filter(|s| evaluated(s.split) || (read_valid && s.split == Split::Valid));
    if !subset
        .ids()
        .iter()
        .any(|&i| evaluated(cache.sample(i).split))
    {
        return Err(EvaluateError::NoImages {
            cache: inputs.cache.clone(),
            splits: params.splits_label(),
        });
    }
    let config = LoaderConfig {
        device,
        prefetch: Prefetch::for_device(device),
        ..LoaderConfig::eval(params.batch_size, ckpt.meta.normalization)
    };
    let loader = Loader::new(&subset, config.clone())?;
    let start = Instant::now();
    let pass = predict(ckpt.model.as_ref(), &loader, params.tta, options.progress)?;
    let seconds = start.elapsed().as_secs_f64();
    tracing::info!(
        images = pass.samples.len(),
        seconds,
        images_per_s = pass.samples.len() as f64 / seconds.max(1e-9),
        tta = %params.tta,
        "evaluated"
    );

    let classes = ckpt.meta.classes.clone();
    let k = classes.len();
    let split_of = |row: usize| cache.sample(pass.samples[row]).split;
    let rows = |keep: &dyn Fn(Split) -> bool| -> Vec<usize> {
        (0..pass.samples.len())
            .filter(|&r| keep(split_of(r)))
            .collect()
    };
    let (eval_rows, valid_rows) = (rows(&evaluated), rows(&|s| s == Split::Valid));
    let target = |r: usize| cache.sample(pass.samples[r]).class_id;

    let fit = if params.calibrate {
        fit_on_valid(&pass, &valid_rows, k, &target)
    } else {
        None
    };
    let views = pass.views_of(&eval_rows, k);
    let refs: Vec<&[f64]> = views.iter().map(Vec::as_slice).collect();
    let targets: Vec<u32> = eval_rows.iter().map(|&r| target(r)).collect();
    let t = fit.map_or(1.0, |f| f.temperature);
    let scores = Scores::new(k, targets.clone(), calibration::probabilities(&refs, k, t))?;
    let calibrated = match fit {
        Some(f) => Some(Calibrated {
            temperature: f.temperature,
            fit_images: f.images as u64,
            uncalibrated: Scores::new(k, targets, calibration::probabilities(&refs, k, 1.0))?,
        }),
        None => None,
    };

    let ood = if params.ood {
        let valid = pass.embeddings_of(&valid_rows)?;
        let fitted = crate::ood::fit(
            ckpt.model.as_ref(),
            &cache,
            &config,
            params,
            &valid,
            options.progress,
        )?;
        match fitted {
            Some(fitted) => {
                let scored = fitted.detector.scores(&pass.embeddings_of(&eval_rows)?)?;
                Some((fitted, scored))
            }
            None => None,
        }
    } else {
        None
    };

    let images: Vec<ImageInfo> = eval_rows
        .iter()
        .map(|&r| {
            let i = pass.samples[r];
            let s = cache.sample(i);
            ImageInfo {
                sample: i,
                path: s.path.clone(),
                root: s.root.clone(),
                split: s.split,
            }
        })
        .collect();
    let counts = split_counts(&cache, inputs.index.as_deref(), &classes)?;
    let eval = Evaluation {
        scores,
        classes,
        images,
        counts,
        calibration: calibrated,
        ood: ood.as_ref().map(|(fitted, scored)| OodScores {
            info: fitted.info.clone(),
            scores: scored.clone(),
        }),
        diagnosis: match &inputs.diagnosis {
            Some(dir) => Some(read_diagnosis(dir, &ckpt.meta.classes)?),
            None => None,
        },
    };
    let summary = write_outputs(
        out_dir,
        &eval,
        params,
        &RunInfo {
            checkpoint: inputs.checkpoint.display().to_string(),
            cache: inputs.cache.display().to_string(),
            model: ckpt.meta.architecture.to_string(),
            mode: ckpt.meta.mode.clone(),
        },
        &|sample| thumbnail(&cache, sample),
    )?;
    if let Some((fitted, _)) = &ood {
        fitted.detector.save(&out_dir.join(OOD_FILE))?;
    }
    CalibrationFile {
        format: 1,
        checkpoint: inputs.checkpoint.display().to_string(),
        checkpoint_blake3: birds_models::checkpoint::content_hash(&inputs.checkpoint)?,
        temperature: fit.map(|f| f.temperature),
        fit_images: fit.map_or(0, |f| f.images as u64),
        nll_before: fit.map(|f| f.nll_before),
        nll_after: fit.map(|f| f.nll_after),
        ood: ood.map(|(fitted, _)| fitted.info),
    }
    .write(out_dir)?;
    Ok(summary)
}

/// The temperature fitted on the valid rows' logits (`None`, with a warning, without valid images).
fn fit_on_valid(
    pass: &Pass,
    valid_rows: &[usize],
    k: usize,
    target: &dyn Fn(usize) -> u32,
) -> Option<calibration::TemperatureFit> {
    let views = pass.views_of(valid_rows, k);
    let refs: Vec<&[f64]> = views.iter().map(Vec::as_slice).collect();
    let targets: Vec<u32> = valid_rows.iter().map(|&r| target(r)).collect();
    let fit = calibration::fit_temperature(&refs, &targets, k);
    match fit {
        Some(f) => tracing::info!(
            temperature = f.temperature,
            nll_before = f.nll_before,
            nll_after = f.nll_after,
            images = f.images,
            "temperature fitted on the valid split"
        ),
        None => tracing::warn!("the cache has no valid images: probabilities stay uncalibrated"),
    }
    fit
}

/// The diagnose stage's `class_diagnosis.parquet` in `dir`, checked against the model's classes.
fn read_diagnosis(
    dir: &Path,
    classes: &[String],
) -> Result<Vec<birds_artifacts::diagnose::ClassDiagnosisRow>> {
    let path = dir.join(birds_core::schema::diagnose::CLASS_DIAGNOSIS.file);
    let rows = birds_artifacts::diagnose::read_class_diagnosis(&path)?;
    let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    if labels != classes.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(EvaluateError::Index {
            path,
            reason: format!(
                "its {} classes are not the model's {} (is it the diagnosis of another dataset?)",
                rows.len(),
                classes.len()
            ),
        });
    }
    Ok(rows)
}

/// Where the scores came from, for `summary.json`.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// Checkpoint folder.
    pub checkpoint: String,
    /// Cache folder.
    pub cache: String,
    /// Architecture.
    pub model: String,
    /// Training mode.
    pub mode: String,
}

/// Computes the report of `eval` and writes every output file into `out_dir` (created if missing).
/// `thumb(sample)` gives the pixels of an image for the top-losses grid.
pub fn write_outputs(
    out_dir: &Path,
    eval: &Evaluation,
    params: &EvaluateParams,
    info: &RunInfo,
    thumb: &dyn Fn(u32) -> Option<image::RgbImage>,
) -> Result<SummaryFile> {
    std::fs::create_dir_all(out_dir)
        .map_err(|e| birds_core::CoreError::io("creating folder", out_dir, e))?;
    let report = Report::compute(eval, params.min_confused, params.top_losses);
    let splits = params.splits_label();
    write::predictions(out_dir, eval)?;
    write::per_class(out_dir, eval, &report)?;
    write::most_confused(out_dir, eval, &report, params.min_confused)?;
    write::needs_more_training(out_dir, eval, &report)?;
    let subtitle = format!(
        "{}: {} images; {}{}",
        splits,
        eval.scores.len(),
        info.model,
        if params.tta == Tta::Flip {
            ", flip TTA"
        } else {
            ""
        }
    );
    write::confusion(out_dir, eval, &report, params.confusion_classes, &subtitle)?;
    write::top_losses(out_dir, eval, &report, &splits, thumb)?;
    write::reliability(out_dir, eval)?;
    let name = |c: u32| eval.classes.get(c as usize).cloned().unwrap_or_default();
    let summary = SummaryFile {
        birds_version: birds_core::VERSION.to_string(),
        checkpoint: info.checkpoint.clone(),
        cache: info.cache.clone(),
        model: info.model.clone(),
        mode: info.mode.clone(),
        splits: params.splits.clone(),
        tta: params.tta,
        classes: eval.classes.len(),
        overall: report.overall.clone(),
        by_split: report.by_split.clone(),
        weakest: report
            .ranking
            .iter()
            .take(5)
            .map(|r| WeakClass {
                label: name(r.class_id),
                evaluated: r.evaluated,
                correct: r.correct,
                recall_lower: r.recall_lower,
                main_confuser: r.main_confuser.map(|(c, _)| name(c)),
                next_step: r.next_step.clone(),
            })
            .collect(),
        calibration: calibration_summary(eval),
        ood: ood_summary(eval),
        definitions: definitions(),
    };
    write::summary(out_dir, &summary)?;
    Ok(summary)
}

/// The checkpoint's classes and input size must be the cache's.
fn check_fit(ckpt: &Checkpoint, cache: &Cache, inputs: &Inputs) -> Result<()> {
    let mismatch = |reason: String| EvaluateError::Mismatch {
        checkpoint: inputs.checkpoint.clone(),
        cache: inputs.cache.clone(),
        reason,
    };
    let (model, data) = (&ckpt.meta.classes, cache.classes());
    if model != data {
        let first = model
            .iter()
            .zip(data)
            .position(|(a, b)| a != b)
            .unwrap_or(model.len().min(data.len()));
        return Err(mismatch(format!(
            "the model has {} classes, the cache {}; first difference at class {first}: {:?} vs {:?} (evaluate \
             with the cache the model was trained on)",
            model.len(),
            data.len(),
            model.get(first),
            data.get(first)
        )));
    }
    if ckpt.meta.input_size != cache.size() {
        return Err(mismatch(format!(
            "the model was trained at {} px, the cache holds {} px images (preprocess with size {})",
            ckpt.meta.input_size,
            cache.size(),
            ckpt.meta.input_size
        )));
    }
    Ok(())
}

/// What one pass over the loader gives: per image (in the loader's order) the logits of each view and the
/// pooled embedding of the centre view.
struct Pass {
    samples: Vec<u32>,
    /// One `images × classes` row-major logit table per view (centre; with flip TTA, then the mirror image).
    views: Vec<Vec<f64>>,
    /// `[images, C]` f32 on the CPU.
    embeddings: Tensor,
}

impl Pass {
    /// The logits of `rows`, per view.
    fn views_of(&self, rows: &[usize], k: usize) -> Vec<Vec<f64>> {
        self.views
            .iter()
            .map(|v| {
                rows.iter()
                    .flat_map(|&r| v[r * k..(r + 1) * k].iter().copied())
                    .collect()
            })
            .collect()
    }

    /// The embeddings of `rows`, `[rows, C]`.
    fn embeddings_of(&self, rows: &[usize]) -> Result<Tensor> {
        let idx: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
        Ok(self
            .embeddings
            .f_index_select(0, &Tensor::from_slice(&idx))?)
    }
}

/// A progress bar of `total` images on stderr drawn with `template` (hidden without `progress`).
pub(crate) fn progress_bar(progress: bool, total: usize, template: &str) -> ProgressBar {
    let bar = if progress {
        ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Logits (per view) and embeddings of every image the loader serves, in its order.
fn predict(model: &dyn ImageClassifier, loader: &Loader, tta: Tta, progress: bool) -> Result<Pass> {
    let total = loader.subset().len();
    let bar = progress_bar(
        progress,
        total,
        "evaluate {bar:30} {pos}/{len} images {per_sec} eta {eta}",
    );
    let n_views = if tta == Tta::Flip { 2 } else { 1 };
    let k = model.num_classes() as usize;
    let mut samples = Vec::with_capacity(total);
    let mut views = vec![Vec::with_capacity(total * k); n_views];
    let mut embeddings = Vec::new();
    let to_f64 = |t: &Tensor| -> Result<Vec<f64>> {
        let t = t
            .f_to_kind(Kind::Double)?
            .f_to_device(Device::Cpu)?
            .f_contiguous()?;
        Ok(Vec::<f64>::try_from(&t.f_view([-1])?)?)
    };
    for batch in loader.epoch(0) {
        let batch = batch?;
        tch::no_grad(|| -> Result<()> {
            let embedding = model.embed(&batch.images, false);
            views[0].extend(to_f64(&model.classify_embedding(&embedding, false))?);
            if tta == Tta::Flip {
                let flipped = batch.images.f_flip([3])?;
                views[1].extend(to_f64(&model.logits(&flipped, false))?);
            }
            embeddings.push(embedding.f_to_kind(Kind::Float)?.f_to_device(Device::Cpu)?);
            Ok(())
        })?;
        samples.extend_from_slice(&batch.samples);
        bar.inc(batch.samples.len() as u64);
    }
    bar.finish_and_clear();
    Ok(Pass {
        samples,
        views,
        embeddings: Tensor::f_cat(&embeddings, 0)?,
    })
}

/// The eval view of a cached image (the centre `size` crop of the stored image), as the model saw it.
pub fn thumbnail(cache: &Cache, sample: u32) -> Option<image::RgbImage> {
    if sample as usize >= cache.len() {
        return None;
    }
    let (side, size) = (cache.stored_side(), cache.size());
    let full = image::RgbImage::from_raw(side, side, cache.image(sample).to_vec())?;
    let off = (side - size.min(side)) / 2;
    Some(image::imageops::crop_imm(&full, off, off, size, size).to_image())
}

/// Images per class and split: valid and test from the cache; train from `classes.parquet` when `index` is
/// given, else from the cache.
fn split_counts(cache: &Cache, index: Option<&Path>, classes: &[String]) -> Result<SplitCounts> {
    let from_cache = |split: Split| -> Vec<u64> {
        cache
            .split(split)
            .class_counts()
            .into_iter()
            .map(|c| c as u64)
            .collect()
    };
    let train = match index {
        Some(path) => train_counts_from_index(path, classes)?,
        None => from_cache(Split::Train),
    };
    Ok(SplitCounts {
        train,
        valid: from_cache(Split::Valid),
        test: from_cache(Split::Test),
    })
}

/// The `train` column of `classes.parquet` (an ingest output folder or the file), matched to `classes` by label.
pub fn train_counts_from_index(path: &Path, classes: &[String]) -> Result<Vec<u64>> {
    let file = if path.is_dir() {
        path.join(CLASSES.file)
    } else {
        path.to_path_buf()
    };
    let bad = |reason: String| EvaluateError::Index {
        path: file.clone(),
        reason,
    };
    let f = File::open(&file).map_err(|e| {
        bad(format!(
            "cannot open: {e} (give the `birds ingest` output folder)"
        ))
    })?;
    let df = ParquetReader::new(f)
        .finish()
        .map_err(|e| bad(e.to_string()))?;
    let labels = df
        .column("label")
        .and_then(|c| c.str().cloned())
        .map_err(|e| bad(format!("column `label`: {e}")))?;
    let train = df
        .column("train")
        .and_then(|c| c.cast(&DataType::UInt64))
        .map_err(|e| bad(format!("column `train`: {e}")))?;
    let train = train
        .u64()
        .map_err(|e| bad(format!("column `train`: {e}")))?;
    let by_label: HashMap<&str, u64> = labels
        .iter()
        .zip(train.iter())
        .filter_map(|(l, t)| Some((l?, t.unwrap_or(0))))
        .collect();
    classes
        .iter()
        .map(|c| {
            by_label.get(c.as_str()).copied().ok_or_else(|| {
                bad(format!(
                    "class {c:?} of the model is not in it (is it the index of another dataset?)"
                ))
            })
        })
        .collect()
}
