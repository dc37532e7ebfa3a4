//! The explain stage's work: checkpoint + images → maps, overlays, `cams.parquet`, `gallery.md`, `metrics.json`.

use birds_models::DeviceExt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use birds_core::Split;
use birds_models::Checkpoint;
use birds_preprocess::Cache;
use birds_preprocess::params::PreprocessParams;
use image::RgbImage;
use image::imageops::FilterType;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tch::{Device, Kind, Tensor};

pub use birds_artifacts::explain::LocalisationFigures;

use crate::cam::{self, CamLayer, CamMethod, LastFeatureMap, Request, Target};
use crate::faithfulness::{self, Classifier, Deletion, DeletionConfig, DeletionItem};
use crate::metrics::{self, Localisation};
use crate::params::ExplainParams;
use crate::render::{self, CaptionLine, GREEN, GREY, Heatmap, RED, WHITE};
use crate::select::{self, Prediction, Selection, WeakClass};
use crate::source::{self, Candidate, ImageSource, Pixels};
use crate::write::{self, CamRow, TargetKind};
use crate::{ExplainError, Result};

/// The stage's inputs (folders are those of other stages' outputs).
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `birds train` output folder (`model.safetensors` + `checkpoint.json`).
    pub checkpoint: PathBuf,
    /// `birds preprocess` output folder (the eval view of the images); preferred over `index`.
    pub cache: Option<PathBuf>,
    /// `birds ingest` output folder (or its `images.parquet`), when there is no cache.
    pub index: Option<PathBuf>,
    /// `birds evaluate` output folder: its `needs_more_training.parquet` ranks the classes.
    pub evaluation: Option<PathBuf>,
    /// Root of a `birds synth` dataset (ground-truth masks under `masks/`).
    pub masks: Option<PathBuf>,
    /// Relative paths in `params.images` are resolved against this folder.
    pub root: PathBuf,
}

/// How to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Show progress bars on stderr.
    pub progress: bool,
}

/// What a run produced (also written to `metrics.json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// The checkpoint folder.
    pub checkpoint: String,
    /// Architecture of the model.
    pub architecture: String,
    /// Number of classes.
    pub classes: usize,
    /// Input side in pixels.
    pub input_size: u32,
    /// The temperature `predicted_prob` and `target_prob` (and the captions) are scaled by: the evaluation's, when
    /// it was fitted on this checkpoint (`null`: the network's own softmax, captions marked uncalibrated).
    pub temperature: Option<f64>,
    /// The explained layer.
    pub layer: String,
    /// Methods computed.
    pub methods: Vec<String>,
    /// Split(s) the candidates came from, e.g. `test` or `valid+test` (null for explicit images).
    pub split: Option<String>,
    /// How images were selected.
    pub selection: SelectionSummary,
    /// The check sample.
    pub check: CheckSummary,
    /// Localisation per method, over correctly classified check images with a mask (absent without masks).
    pub localisation: BTreeMap<String, LocalisationFigures>,
    /// Localisation per method over every check image with a mask, right or wrong.
    pub localisation_all: BTreeMap<String, LocalisationFigures>,
    /// Deletion test per method (predicted class), over the check images.
    pub deletion: BTreeMap<String, faithfulness::DeletionSummary>,
    /// What each figure means.
    pub definitions: BTreeMap<&'static str, &'static str>,
    /// The params of the run.
    pub params: ExplainParams,
}

/// How the drawn images were chosen.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SelectionSummary {
    /// `evaluation` (evaluate's ranking), `predictions` (ranked here), or `explicit` (paths given).
    pub source: String,
    /// The weakest classes drawn, weakest first.
    pub weak_classes: Vec<WeakClass>,
    /// Images drawn.
    pub drawn_images: usize,
    /// Overlay PNGs written.
    pub overlays: usize,
    /// "why X, not Y" panels written.
    pub why_not_panels: usize,
}

/// The check sample.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckSummary {
    /// Images in the sample.
    pub images: usize,
    /// Of which the model classified correctly.
    pub correct: usize,
    /// Of which have a ground-truth mask.
    pub with_mask: usize,
}

impl From<metrics::LocalisationSummary> for LocalisationFigures {
    fn from(s: metrics::LocalisationSummary) -> Self {
        Self {
            images: s.images,
            energy_in_mask: s.energy_in_mask,
            mask_area: s.mask_area,
            energy_ratio: if s.mask_area > 0.0 {
                s.energy_in_mask / s.mask_area
            } else {
                0.0
            },
            pointing_game: s.pointing_game,
            above_chance: s.above_chance,
        }
    }
}

fn definitions() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        (
            "energy_in_mask",
            "share of the normalised map's total value inside the ground-truth bird mask",
        ),
        (
            "mask_area",
            "share of the image the mask covers (chance level of energy_in_mask and pointing_game)",
        ),
        (
            "pointing_game",
            "share of maps whose highest pixel lies inside the mask",
        ),
        (
            "drop_cam",
            "softmax probability of the predicted class minus the same after blurring the map's top pixels",
        ),
        (
            "drop_random",
            "the same after blurring as many uniformly random pixels",
        ),
        (
            "drop_blobs",
            "the same after blurring the top pixels of a random smooth map at the layer's resolution",
        ),
        (
            "cam_beats_random",
            "share of images whose drop_cam exceeds drop_random",
        ),
        (
            "cam_beats_blobs",
            "share of images whose drop_cam exceeds drop_blobs",
        ),
        (
            "energy_ratio",
            "energy_in_mask / mask_area: how many times the chance level the map puts on the bird",
        ),
        (
            "above_chance",
            "share of maps with more energy inside the mask than the mask's area",
        ),
    ])
}

/// One drawn-or-checked image.
#[derive(Debug, Clone)]
struct Work {
    candidate: usize,
    selection: Selection,
    draw: bool,
    check: bool,
    weak_rank: Option<usize>,
}

/// A stable 64-bit hash (FNV-1a) of a string, to seed per-image random baselines.
pub fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A file-name-safe slug: lower case, alphanumerics, `-` for anything else.
pub fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let t = out.trim_matches('-').to_string();
    if t.is_empty() { "image".into() } else { t }
}

fn progress(enabled: bool, len: usize, what: &str) -> ProgressBar {
    let bar = if enabled {
        ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} {{bar:30}} {{pos}}/{{len}} images {{per_sec}} eta {{eta}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Runs explain: reads the inputs, writes everything under `out_dir` (which must exist), returns the summary.
///
/// The parts: the checkpoint, layer and images ([`ImageSource`]); the candidates ([`candidates`]); which of them
/// get drawn and checked ([`select_works`]); their maps, batch by batch ([`Context::batch`]); the figures
/// ([`figures`]); the files ([`write`]).
pub fn explain(
    inputs: &Inputs,
    params: &ExplainParams,
    out_dir: &Path,
    options: RunOptions,
) -> Result<Summary> {
    params.validate()?;
    let methods = params.cam_methods()?;
    let device = params.device.resolve()?;
    let ckpt = Checkpoint::load(&inputs.checkpoint, device)?;
    let classes = ckpt.meta.classes.clone();
    let model: &dyn birds_models::ImageClassifier = &*ckpt.model;
    let layer = crate::layers::resolve(&ckpt, &inputs.checkpoint, &params.layer)?;
    let layer: &dyn CamLayer = match &layer {
        Some(named) => named.as_ref(),
        None => &LastFeatureMap(model),
    };
    let classifier = Classifier {
        model,
        normalization: ckpt.meta.normalization,
        device,
    };

    // Images.
    let cache = match &inputs.cache {
        Some(dir) => Some(open_cache(dir, &ckpt, &inputs.checkpoint)?),
        None => None,
    };
    let geometry = match &cache {
        Some(c) => PreprocessParams {
            size: c.size(),
            ..c.manifest().params.clone()
        },
        // Files without a cache: framed as the checkpoint's evaluation saw its images.
        None => source::file_geometry(&ckpt.meta)?,
    };
    let source = ImageSource::new(cache, geometry, inputs.masks.clone());
    let class_target = class_target(params, &classes)?;
    let (candidates, split) = candidates(inputs, params, &source, &classes)?;
    let selected = select_works(
        inputs,
        params,
        &classifier,
        &source,
        &candidates,
        &classes,
        options,
    )?;
    let works = &selected.works;
    tracing::info!(
        images = works.len(),
        drawn = works.iter().filter(|w| w.draw).count(),
        check = works.iter().filter(|w| w.check).count(),
        "explaining"
    );

    // Captions and cams.parquet's probabilities use the evaluation's temperature when it was fitted on this
    // checkpoint; otherwise they are the network's own softmax, marked uncalibrated.
    let temperature = inputs.evaluation.as_ref().and_then(|dir| {
        match crate::calibration::Calibration::load(dir, &inputs.checkpoint) {
            Ok(c) => c.temperature(),
            Err(e) => {
                tracing::warn!("probabilities uncalibrated: {e}");
                None
            }
        }
    });
    let ctx = Context {
        classifier: &classifier,
        temperature,
        layer,
        classes: &classes,
        methods: &methods,
        params,
        source: &source,
        candidates: &candidates,
        class_target,
        out_dir,
        deletion: DeletionConfig {
            fraction: params.deletion_fraction,
            blur_sigma: params.blur_sigma,
            seed: params.seed,
        },
    };
    let bar = progress(options.progress, works.len(), "explain");
    let mut rows: Vec<CamRow> = Vec::new();
    let mut counters = Counters::default();
    for chunk in works.chunks(params.batch_size) {
        ctx.batch(chunk, &mut rows, &mut counters)?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();

    let figures = figures(&methods, &rows, source.has_masks());
    let summary = Summary {
        checkpoint: inputs.checkpoint.display().to_string(),
        architecture: ckpt.meta.architecture.to_string(),
        classes: classes.len(),
        input_size: source.size(),
        temperature,
        layer: layer.layer_name(),
        methods: methods.iter().map(|m| m.to_string()).collect(),
        split,
        selection: SelectionSummary {
            source: selected.source,
            weak_classes: selected.weak_classes,
            drawn_images: works.iter().filter(|w| w.draw).count(),
            overlays: counters.overlays,
            why_not_panels: counters.why_not,
        },
        check: check_summary(&methods, &rows),
        localisation: figures.localisation,
        localisation_all: figures.localisation_all,
        deletion: figures.deletion,
        definitions: definitions(),
        params: params.clone(),
    };
    write::cams_parquet(&out_dir.join(birds_core::schema::explain::CAMS.file), &rows)?;
    write::metrics_json(&out_dir.join(write::METRICS_FILE), &summary)?;
    write::gallery(&out_dir.join(write::GALLERY_FILE), &summary, &rows)?;
    Ok(summary)
}

/// The `class` param: the class every map is also drawn for, as an index of the model's `classes`.
fn class_target(params: &ExplainParams, classes: &[String]) -> Result<Option<i64>> {
    let Some(name) = &params.class else {
        return Ok(None);
    };
    source::class_index(classes, &source::normalise_label(name))
        .map(Some)
        .ok_or_else(|| {
            ExplainError::Params(format!(
                "class: {name:?} is not a class of the model ({} classes, e.g. {:?})",
                classes.len(),
                classes.first()
            ))
        })
}

/// The images that may be explained: the `images` param's, or those of the split (the `split` param's, else the
/// splits the evaluation evaluated); with the split's name. None at all is an error.
fn candidates(
    inputs: &Inputs,
    params: &ExplainParams,
    source: &ImageSource,
    classes: &[String],
) -> Result<(Vec<Candidate>, Option<String>)> {
    let (candidates, split) = if !params.images.is_empty() {
        (
            explicit_candidates(&params.images, &inputs.root, classes)?,
            None,
        )
    } else {
        let wanted = match (params.split, &inputs.evaluation) {
            (Some(s), _) => vec![s],
            (None, Some(dir)) => select::evaluated_splits(dir)?,
            (None, None) => Vec::new(),
        };
        let (c, s) = split_candidates(source, inputs, &wanted, classes)?;
        (c, Some(s))
    };
    if candidates.is_empty() {
        return Err(ExplainError::Input {
            path: inputs
                .cache
                .clone()
                .or(inputs.index.clone())
                .unwrap_or_default(),
            reason: format!(
                "no images to explain in split {}",
                split.as_deref().unwrap_or("-")
            ),
        });
    }
    Ok((candidates, split))
}

/// What [`select_works`] chose.
struct Selected {
    works: Vec<Work>,
    /// The weak classes the gallery was drawn for, weakest first.
    weak_classes: Vec<WeakClass>,
    /// Where the ranking came from: `explicit`, `evaluation` or `predictions`.
    source: String,
}

/// The images to explain: every explicit one (drawn and checked); else the gallery of the weakest classes (by the
/// evaluation's ranking, or ranked here from the model's predictions) plus an even check sample of the split.
fn select_works(
    inputs: &Inputs,
    params: &ExplainParams,
    classifier: &Classifier<'_>,
    source: &ImageSource,
    candidates: &[Candidate],
    classes: &[String],
    options: RunOptions,
) -> Result<Selected> {
    if !params.images.is_empty() {
        return Ok(Selected {
            works: (0..candidates.len())
                .map(|i| Work {
                    candidate: i,
                    selection: Selection::Explicit,
                    draw: true,
                    check: true,
                    weak_rank: None,
                })
                .collect(),
            weak_classes: Vec::new(),
            source: "explicit".to_string(),
        });
    }
    let predictions = predict_all(
        classifier,
        source,
        candidates,
        params.batch_size,
        options.progress,
    )?;
    let (ranking, ranked_by) = match &inputs.evaluation {
        Some(dir) => (select::read_ranking(dir, classes)?, "evaluation"),
        None => (
            select::rank_from_predictions(candidates, &predictions, classes),
            "predictions",
        ),
    };
    let gallery = select::pick_gallery(
        candidates,
        &predictions,
        &ranking,
        params.classes,
        params.misclassified,
        params.correct,
    );
    let check: std::collections::BTreeSet<usize> =
        select::check_sample(candidates, params.check_images)
            .into_iter()
            .collect();
    let mut works = Vec::new();
    let mut drawn = std::collections::BTreeSet::new();
    for (i, sel, rank) in gallery {
        drawn.insert(i);
        works.push(Work {
            candidate: i,
            selection: sel,
            draw: true,
            check: check.contains(&i),
            weak_rank: Some(rank),
        });
    }
    works.extend(check.iter().filter(|i| !drawn.contains(i)).map(|&i| Work {
        candidate: i,
        selection: Selection::Check,
        draw: false,
        check: true,
        weak_rank: None,
    }));
    Ok(Selected {
        works,
        weak_classes: ranking.iter().take(params.classes).cloned().collect(),
        source: ranked_by.to_string(),
    })
}

/// The figures of each method over the check sample's maps of the predicted class.
struct Figures {
    /// Localisation on correctly classified images with a mask (only when masks exist).
    localisation: BTreeMap<String, LocalisationFigures>,
    /// Localisation on every checked image with a mask.
    localisation_all: BTreeMap<String, LocalisationFigures>,
    /// The deletion test.
    deletion: BTreeMap<String, faithfulness::DeletionSummary>,
}

/// Localisation (when `has_masks`) and deletion figures of each of `methods` from `rows`.
fn figures(methods: &[CamMethod], rows: &[CamRow], has_masks: bool) -> Figures {
    let mut out = Figures {
        localisation: BTreeMap::new(),
        localisation_all: BTreeMap::new(),
        deletion: BTreeMap::new(),
    };
    for m in methods {
        let of =
            |r: &&CamRow| r.method == *m && r.target_kind == TargetKind::Predicted && r.in_check;
        let checked: Vec<&CamRow> = rows.iter().filter(of).collect();
        let locs = |correct_only: bool| -> Vec<Localisation> {
            checked
                .iter()
                .filter(|r| !correct_only || r.correct == Some(true))
                .filter_map(|r| {
                    Some(Localisation {
                        energy_in_mask: r.energy_in_mask,
                        mask_area: r.mask_area?,
                        pointing_hit: r.pointing_hit?,
                    })
                })
                .collect()
        };
        if has_masks {
            out.localisation.insert(
                m.to_string(),
                metrics::summarise_localisation(&locs(true)).into(),
            );
            out.localisation_all.insert(
                m.to_string(),
                metrics::summarise_localisation(&locs(false)).into(),
            );
        }
        let dels: Vec<Deletion> = checked
            .iter()
            .filter_map(|r| {
                Some(Deletion {
                    p_original: r.target_prob,
                    drop_cam: r.drop_cam?,
                    drop_random: r.drop_random?,
                    drop_blobs: r.drop_blobs?,
                })
            })
            .collect();
        out.deletion
            .insert(m.to_string(), faithfulness::summarise(&dels));
    }
    out
}

/// The check sample's counts, from the first method's maps of the predicted class.
fn check_summary(methods: &[CamMethod], rows: &[CamRow]) -> CheckSummary {
    let first = methods.first().copied();
    let check_rows: Vec<&CamRow> = rows
        .iter()
        .filter(|r| r.in_check && Some(r.method) == first && r.target_kind == TargetKind::Predicted)
        .collect();
    CheckSummary {
        images: check_rows.len(),
        correct: check_rows
            .iter()
            .filter(|r| r.correct == Some(true))
            .count(),
        with_mask: check_rows.iter().filter(|r| r.mask_area.is_some()).count(),
    }
}

fn open_cache(dir: &Path, ckpt: &Checkpoint, checkpoint: &Path) -> Result<Cache> {
    let cache = Cache::open(dir)?;
    if cache.classes() != ckpt.meta.classes.as_slice() {
        return Err(ExplainError::Input {
            path: dir.to_path_buf(),
            reason: format!(
                "the cache has {} classes, the model in {} has {}; explain with the cache the model was trained on",
                cache.num_classes(),
                checkpoint.display(),
                ckpt.meta.classes.len()
            ),
        });
    }
    if cache.size() != ckpt.meta.input_size {
        return Err(ExplainError::Input {
            path: dir.to_path_buf(),
            reason: format!(
                "the cache holds {} px images, the model was trained at {} px",
                cache.size(),
                ckpt.meta.input_size
            ),
        });
    }
    Ok(cache)
}

/// Candidates of the `wanted` splits from the cache or the index, and the splits' name (`test`, `valid+test`).
/// With no split wanted: `test`, else `valid`, else `train`, whichever is first non-empty.
fn split_candidates(
    source: &ImageSource,
    inputs: &Inputs,
    wanted: &[Split],
    classes: &[String],
) -> Result<(Vec<Candidate>, String)> {
    let all: Vec<Candidate> = if let Some(cache) = source.cache() {
        cache
            .samples()
            .iter()
            .enumerate()
            .map(|(i, s)| Candidate {
                image: s.path.clone(),
                split: Some(s.split),
                label: Some(s.label.clone()),
                true_class: source::class_index(classes, &s.label),
                pixels: Pixels::Cache(i as u32),
            })
            .collect()
    } else if let Some(index) = &inputs.index {
        let path = birds_preprocess::index::images_parquet(index);
        birds_preprocess::index::read_index(&path)?
            .into_iter()
            .filter(|r| r.ok)
            .map(|r| Candidate {
                image: r.path.clone(),
                split: Some(r.split),
                label: Some(r.label.clone()),
                true_class: source::class_index(classes, &r.label),
                pixels: Pixels::File(r.file()),
            })
            .collect()
    } else {
        return Err(ExplainError::Params(
            "images: give a cache or an index input, or image paths".into(),
        ));
    };
    let chosen: Vec<Split> = if wanted.is_empty() {
        [Split::Test, Split::Valid, Split::Train]
            .into_iter()
            .find(|s| all.iter().any(|c| c.split == Some(*s)))
            .into_iter()
            .collect()
    } else {
        wanted.to_vec()
    };
    let name = chosen
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("+");
    Ok((
        all.into_iter()
            .filter(|c| c.split.is_some_and(|s| chosen.contains(&s)))
            .collect(),
        name,
    ))
}

/// Candidates for explicit paths; the true label is the parent folder's name when it is a class of the model.
fn explicit_candidates(
    paths: &[String],
    root: &Path,
    classes: &[String],
) -> Result<Vec<Candidate>> {
    paths
        .iter()
        .map(|p| {
            let path = if Path::new(p).is_absolute() {
                PathBuf::from(p)
            } else {
                root.join(p)
            };
            if !path.is_file() {
                return Err(ExplainError::Input {
                    path,
                    reason: "no such image file".into(),
                });
            }
            let label = path
                .parent()
                .and_then(|d| d.file_name())
                .map(|n| source::normalise_label(&n.to_string_lossy()))
                .filter(|l| classes.contains(l));
            Ok(Candidate {
                image: p.clone(),
                split: None,
                true_class: label
                    .as_deref()
                    .and_then(|l| source::class_index(classes, l)),
                label,
                pixels: Pixels::File(path),
            })
        })
        .collect()
}

/// Top-1 predictions for every candidate (batched, no gradients).
fn predict_all(
    classifier: &Classifier<'_>,
    source: &ImageSource,
    candidates: &[Candidate],
    batch_size: usize,
    show: bool,
) -> Result<Vec<Prediction>> {
    let bar = progress(show, candidates.len(), "predict");
    let mut out = Vec::with_capacity(candidates.len());
    for chunk in candidates.chunks(batch_size) {
        let images: Vec<RgbImage> = chunk
            .iter()
            .map(|c| source.load(c))
            .collect::<Result<_>>()?;
        let probs = classifier.probabilities(&images)?;
        let (conf, idx) = probs.max_dim(-1, false);
        let conf = Vec::<f64>::try_from(conf.to_kind(Kind::Double))?;
        let idx = Vec::<i64>::try_from(idx)?;
        for (i, c) in chunk.iter().enumerate() {
            let prob_true = c.true_class.map(|t| probs.double_value(&[i as i64, t]));
            out.push(Prediction {
                predicted: idx[i],
                confidence: conf[i],
                prob_true,
            });
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(out)
}

#[derive(Debug, Default)]
struct Counters {
    overlays: usize,
    why_not: usize,
}

struct Context<'a> {
    classifier: &'a Classifier<'a>,
    /// The evaluation's temperature (`None`: uncalibrated).
    temperature: Option<f64>,
    layer: &'a dyn CamLayer,
    classes: &'a [String],
    methods: &'a [CamMethod],
    params: &'a ExplainParams,
    source: &'a ImageSource,
    candidates: &'a [Candidate],
    class_target: Option<i64>,
    out_dir: &'a Path,
    deletion: DeletionConfig,
}

impl Context<'_> {
    /// A probability as the captions show it (marked uncalibrated without a temperature).
    fn prob(&self, p: f64) -> String {
        crate::predict::fmt_probability(p, self.temperature.is_some())
    }

    fn label(&self, class: i64) -> &str {
        self.classes
            .get(class as usize)
            .map(String::as_str)
            .unwrap_or("?")
    }

    /// Explains one batch of `works`: the maps of every request (predicted class; with `why_not` the true class of
    /// drawn images; with `class` that class) for each method, the deletion test, the overlays and why-not panels
    /// of drawn images, and a [`CamRow`] per map.
    fn batch(&self, works: &[Work], rows: &mut Vec<CamRow>, counters: &mut Counters) -> Result<()> {
        let b = self.compute(works)?;
        for (k, &method) in self.methods.iter().enumerate() {
            for m in 0..b.kinds.len() {
                if let Some(row) = self.cam_row(&b, works, k, method, m, counters)? {
                    rows.push(row);
                }
            }
            // Why-not panels: the predicted class next to the true one, for misclassified drawn images.
            for m in 0..b.kinds.len() {
                if b.kinds[m] != TargetKind::True || !b.keep[m] {
                    continue;
                }
                let i = b.g.image[m];
                let view = b.view(&works[i], method, m);
                let raw = &b.raws[k];
                self.why_not(&view, &raw.get(b.pred_row[i] as i64), &raw.get(m as i64))?;
                counters.why_not += 1;
            }
        }
        Ok(())
    }

    /// The requests of a batch: each image's predicted class; for drawn images the true class (with `why_not`) and
    /// the `class` param's class.
    fn requests(&self, works: &[Work]) -> (Vec<Request>, Vec<TargetKind>) {
        let mut requests = Vec::new();
        let mut kinds = Vec::new();
        for (i, w) in works.iter().enumerate() {
            let c = &self.candidates[w.candidate];
            let mut push = |target, kind| {
                requests.push(Request { image: i, target });
                kinds.push(kind);
            };
            push(Target::Predicted, TargetKind::Predicted);
            if w.draw
                && self.params.why_not
                && let Some(t) = c.true_class
            {
                push(Target::Class(t), TargetKind::True);
            }
            if w.draw
                && let Some(t) = self.class_target
            {
                push(Target::Class(t), TargetKind::Class);
            }
        }
        (requests, kinds)
    }

    /// Everything a batch's rows and pictures are made of: images and masks, one backward pass for all requests,
    /// the raw maps and input-size heatmaps of every method, and the deletion test of each image's predicted-class
    /// maps (all methods sharing the baselines).
    fn compute(&self, works: &[Work]) -> Result<BatchMaps> {
        let size = self.source.size();
        let images: Vec<RgbImage> = works
            .iter()
            .map(|w| self.source.load(&self.candidates[w.candidate]))
            .collect::<Result<_>>()?;
        let masks: Vec<Option<Vec<bool>>> = works
            .iter()
            .map(|w| self.source.mask(&self.candidates[w.candidate]))
            .collect::<Result<_>>()?;
        let xs = birds_models::input::images_to_tensor(&images, self.classifier.normalization)
            .to_device(self.classifier.device);
        let (requests, kinds) = self.requests(works);
        let g = cam::gradients(self.layer, &xs, &requests)?;
        let probs = match self.temperature {
            Some(t) => g.logits.f_div_scalar(t)?.f_softmax(-1, Kind::Float)?,
            None => g.probabilities(),
        }
        .to_device(Device::Cpu);
        let logits = g.logits.to_device(Device::Cpu);
        let map_size = g.activations.size();
        let (gh, gw) = (map_size[2], map_size[3]);
        let n_req = requests.len();
        // A `true` row whose class is the predicted one repeats the predicted row: dropped.
        let keep: Vec<bool> = (0..n_req)
            .map(|m| kinds[m] != TargetKind::True || g.class[m] != g.predicted[m])
            .collect();
        // The row of each image's predicted-class request.
        let pred_row: Vec<usize> = (0..works.len())
            .map(|i| {
                (0..n_req)
                    .find(|&m| kinds[m] == TargetKind::Predicted && g.image[m] == i)
                    .unwrap_or(0)
            })
            .collect();
        let mut raws: Vec<Tensor> = Vec::with_capacity(self.methods.len());
        let mut maps: Vec<Vec<Option<Heatmap>>> = Vec::with_capacity(self.methods.len());
        for &method in self.methods {
            let raw = g.cam(method).to_device(Device::Cpu).to_kind(Kind::Float);
            let mut per_row = Vec::with_capacity(n_req);
            for (m, &k) in keep.iter().enumerate() {
                per_row.push(if k {
                    Some(Heatmap::from_cam(&raw.get(m as i64), size, size)?)
                } else {
                    None
                });
            }
            raws.push(raw);
            maps.push(per_row);
        }
        let items: Vec<DeletionItem<'_>> = (0..works.len())
            .map(|i| {
                let m = pred_row[i];
                DeletionItem {
                    image: &images[i],
                    maps: maps
                        .iter()
                        .filter_map(|per_row| per_row[m].as_ref())
                        .collect(),
                    class: g.class[m],
                    seed: stable_hash(&self.candidates[works[i].candidate].image),
                }
            })
            .collect();
        let dels = faithfulness::deletion(self.classifier, &items, (gh, gw), &self.deletion)?;
        Ok(BatchMaps {
            images,
            masks,
            kinds,
            g,
            probs,
            logits,
            map: (gw as u32, gh as u32),
            keep,
            pred_row,
            raws,
            maps,
            dels,
        })
    }

    /// The row of request `m`'s map by method `k` (None for a dropped duplicate), with its overlay drawn when the
    /// image is drawn.
    fn cam_row(
        &self,
        b: &BatchMaps,
        works: &[Work],
        k: usize,
        method: CamMethod,
        m: usize,
        counters: &mut Counters,
    ) -> Result<Option<CamRow>> {
        let Some(map) = &b.maps[k][m] else {
            return Ok(None);
        };
        let raw = &b.raws[k];
        let (g, probs) = (&b.g, &b.probs);
        let i = g.image[m];
        let w = &works[i];
        let c = &self.candidates[w.candidate];
        let stats = metrics::map_stats(map);
        let loc = b.masks[i]
            .as_ref()
            .and_then(|mask| metrics::localisation(map, mask));
        let predicted = g.predicted[m];
        let overlay = if w.draw {
            let rel = self.draw(&b.view(w, method, m), &raw.get(m as i64), loc)?;
            counters.overlays += 1;
            Some(rel)
        } else {
            None
        };
        let d = (b.kinds[m] == TargetKind::Predicted)
            .then(|| b.dels[i].get(k))
            .flatten();
        Ok(Some(CamRow {
            image: c.image.clone(),
            split: c.split.map(|s| s.as_str().to_string()),
            selection: w.selection.as_str().to_string(),
            weak_rank: w.weak_rank,
            in_check: w.check,
            label: c.label.clone(),
            predicted: self.label(predicted).to_string(),
            predicted_prob: probs.double_value(&[m as i64, predicted]),
            correct: c.true_class.map(|t| t == predicted),
            method,
            layer: self.layer.layer_name(),
            target_kind: b.kinds[m],
            target: self.label(g.class[m]).to_string(),
            target_id: g.class[m] as u32,
            target_prob: probs.double_value(&[m as i64, g.class[m]]),
            target_logit: b.logits.double_value(&[m as i64, g.class[m]]),
            map_width: b.map.0,
            map_height: b.map.1,
            raw_max: raw.get(m as i64).max().double_value(&[]),
            peak_x: stats.peak_x,
            peak_y: stats.peak_y,
            mean: stats.mean,
            top20_share: stats.top20_share,
            entropy: stats.entropy,
            energy_in_mask: loc.and_then(|l| l.energy_in_mask),
            mask_area: loc.map(|l| l.mask_area),
            pointing_hit: loc.map(|l| l.pointing_hit),
            drop_cam: d.map(|d| d.drop_cam),
            drop_random: d.map(|d| d.drop_random),
            drop_blobs: d.map(|d| d.drop_blobs),
            overlay,
        }))
    }

    fn display(&self, img: &RgbImage) -> RgbImage {
        let s = self.params.overlay_size;
        image::imageops::resize(img, s, s, FilterType::Triangle)
    }

    fn display_mask(&self, mask: &[bool]) -> Vec<bool> {
        let size = self.source.size();
        let s = self.params.overlay_size;
        (0..s * s)
            .map(|p| {
                let (x, y) = (p % s, p / s);
                let (sx, sy) = ((x * size / s).min(size - 1), (y * size / s).min(size - 1));
                mask[(sy * size + sx) as usize]
            })
            .collect()
    }

    fn heat(&self, img: &RgbImage, raw: &Tensor, mask: Option<&[bool]>) -> Result<RgbImage> {
        let s = self.params.overlay_size;
        let base = self.display(img);
        let map = Heatmap::from_cam(raw, s, s)?;
        let mut out = render::overlay(&base, &map, self.params.alpha)?;
        if let Some(mask) = mask {
            render::outline_mask(&mut out, &self.display_mask(mask), [255, 255, 255]);
        }
        let (px, py) = map.peak();
        render::mark_peak(&mut out, px, py);
        Ok(out)
    }

    fn rel_path(&self, folder: &str, w: &Work, method: CamMethod, suffix: &str) -> String {
        let c = &self.candidates[w.candidate];
        // The slug of the file name is lossy (extension dropped, non-ASCII folded), so a short hash of the whole
        // image path keeps two images of one class folder (`1.jpg`, `1.png`; `ä.jpg`, `ö.jpg`) apart.
        let stem = Path::new(&c.image)
            .file_stem()
            .map(|s| slug(&s.to_string_lossy()))
            .unwrap_or_else(|| "image".into());
        let stem = format!("{stem}-{:06x}", stable_hash(&c.image) & 0xff_ffff);
        let group = match (&c.split, &c.label) {
            (Some(s), Some(l)) => format!("{}/{}", s.as_str(), slug(l)),
            (None, _) => format!("explicit/{:03}", w.candidate),
            (Some(s), None) => format!("{}/unlabelled", s.as_str()),
        };
        format!("{folder}/{group}/{stem}.{}{suffix}.png", method.file_stem())
    }

    fn save(&self, rel: &str, img: &RgbImage) -> Result<()> {
        let path = self.out_dir.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| birds_core::CoreError::io("creating", dir, e))?;
        }
        birds_core::atomic::write_with(&path, |tmp| {
            img.save_with_format(tmp, image::ImageFormat::Png)
                .map_err(|e| ExplainError::Image {
                    path: path.clone(),
                    reason: e.to_string(),
                })
        })
    }

    fn true_line(&self, c: &Candidate) -> CaptionLine {
        (
            format!("TRUE: {}", c.label.as_deref().unwrap_or("?")),
            WHITE,
        )
    }

    fn draw(&self, v: &View<'_>, raw: &Tensor, loc: Option<Localisation>) -> Result<String> {
        let (c, probs, row, predicted, class, kind, method) = (
            &self.candidates[v.work.candidate],
            v.probs,
            v.row,
            v.predicted,
            v.class,
            v.kind,
            v.method,
        );
        let heat = self.heat(v.image, raw, v.mask)?;
        let p_pred = image_prob(probs, row, predicted);
        let correct = c.true_class.map(|t| t == predicted);
        let colour = match correct {
            Some(true) => GREEN,
            Some(false) => RED,
            None => WHITE,
        };
        let mut lines = vec![
            self.true_line(c),
            (
                format!("PRED: {} {}", self.label(predicted), self.prob(p_pred)),
                colour,
            ),
        ];
        let what = match kind {
            TargetKind::Predicted => "PREDICTED CLASS".to_string(),
            TargetKind::True => format!("TRUE CLASS {}", self.prob(image_prob(probs, row, class))),
            TargetKind::Class => {
                format!(
                    "{} {}",
                    self.label(class),
                    self.prob(image_prob(probs, row, class))
                )
            }
        };
        let mut third = format!("{} FOR {what}", method.as_str().to_uppercase());
        if let Some(e) = loc.and_then(|l| l.energy_in_mask) {
            third.push_str(&format!(", {:.0}% IN MASK", e * 100.0));
        }
        lines.push((third, GREY));
        let suffix = match kind {
            TargetKind::Predicted => String::new(),
            TargetKind::True => ".true".to_string(),
            TargetKind::Class => format!(".class-{}", slug(self.label(class))),
        };
        let rel = self.rel_path("overlays", v.work, method, &suffix);
        self.save(&rel, &render::with_caption(&heat, &lines))?;
        Ok(rel)
    }

    fn why_not(&self, v: &View<'_>, raw_pred: &Tensor, raw_true: &Tensor) -> Result<()> {
        let (w, method, img, mask, predicted, truth, probs, row) = (
            v.work,
            v.method,
            v.image,
            v.mask,
            v.predicted,
            v.class,
            v.probs,
            v.row,
        );
        let c = &self.candidates[w.candidate];
        let mut plain = self.display(img);
        if let Some(mask) = mask {
            render::outline_mask(&mut plain, &self.display_mask(mask), [255, 255, 255]);
        }
        let plain = render::with_caption(
            &plain,
            &[
                (c.image.clone(), GREY),
                (format!("TRUE: {}", self.label(truth)), WHITE),
                (format!("PRED: {}", self.label(predicted)), RED),
            ],
        );
        let pred_panel = render::with_caption(
            &self.heat(img, raw_pred, mask)?,
            &[
                (format!("WHY {}", self.label(predicted)), RED),
                (
                    format!(
                        "P = {} (PREDICTED)",
                        self.prob(image_prob(probs, row, predicted))
                    ),
                    GREY,
                ),
                (method.as_str().to_uppercase(), GREY),
            ],
        );
        let true_panel = render::with_caption(
            &self.heat(img, raw_true, mask)?,
            &[
                (format!("NOT {}", self.label(truth)), GREEN),
                (
                    format!(
                        "P = {} (TRUE CLASS)",
                        self.prob(image_prob(probs, row, truth))
                    ),
                    GREY,
                ),
                (method.as_str().to_uppercase(), GREY),
            ],
        );
        let panel = render::hstack(&[plain, pred_panel, true_panel], 6);
        let title = format!("WHY {}, NOT {}?", self.label(predicted), self.label(truth));
        let panel = render::with_title(&panel, &title, WHITE);
        let rel = self.rel_path("why_not", w, method, "");
        self.save(&rel, &panel)
    }
}

/// One map to draw: the image, the request row and what it explains.
/// A batch's images, gradients, maps and deletion figures ([`Context::compute`]); request row `m` is of image
/// `g.image[m]`.
struct BatchMaps {
    images: Vec<RgbImage>,
    masks: Vec<Option<Vec<bool>>>,
    kinds: Vec<TargetKind>,
    g: cam::Gradients,
    probs: Tensor,
    logits: Tensor,
    /// Width and height of the layer's feature map.
    map: (u32, u32),
    /// Whether request row `m` is kept (a `true` row repeating the predicted one is not).
    keep: Vec<bool>,
    /// Each image's predicted-class request row.
    pred_row: Vec<usize>,
    /// Raw maps per method (rows × h × w).
    raws: Vec<Tensor>,
    /// Input-size heatmaps per method and request row.
    maps: Vec<Vec<Option<Heatmap>>>,
    /// Deletion figures per image and method.
    dels: Vec<Vec<Deletion>>,
}

impl BatchMaps {
    /// What drawing request row `m`'s map by `method` needs.
    fn view<'a>(&'a self, work: &'a Work, method: CamMethod, m: usize) -> View<'a> {
        let i = self.g.image[m];
        View {
            work,
            method,
            kind: self.kinds[m],
            class: self.g.class[m],
            image: &self.images[i],
            mask: self.masks[i].as_deref(),
            predicted: self.g.predicted[m],
            probs: &self.probs,
            row: m,
        }
    }
}

struct View<'a> {
    work: &'a Work,
    method: CamMethod,
    kind: TargetKind,
    class: i64,
    image: &'a RgbImage,
    mask: Option<&'a [bool]>,
    predicted: i64,
    probs: &'a Tensor,
    row: usize,
}

/// Probability of `class` in request row `row` (every row of an image carries that image's probabilities).
fn image_prob(probs: &Tensor, row: usize, class: i64) -> f64 {
    probs.double_value(&[row as i64, class])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_hashes_are_stable() {
        assert_eq!(slug("MALLARD DUCK"), "mallard-duck");
        assert_eq!(slug("Anna's  hummingbird!"), "anna-s-hummingbird");
        assert_eq!(slug("***"), "image");
        assert_eq!(stable_hash("a"), stable_hash("a"));
        assert_ne!(stable_hash("a"), stable_hash("b"));
    }
}
