//! Writing a whole dataset: images, masks, `birds.csv`, `boxes.csv`, `species.json`, `synth.json` and the contact
//! sheet, rayon-parallel and byte-for-byte deterministic.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use birds_core::Split;
use birds_core::atomic::write_bytes;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::{GrayImage, ImageEncoder, RgbImage};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::params::{DatasetShape, ODD_SIZES};
use crate::rng::Rng;
use crate::scene::{self, Rendered};
use crate::sheet;
use crate::species::FIRST_GENERATION;
use crate::species::{Colour, Species, look_alikes, species};
use crate::truth::{BOXES_FILE, BOXES_HEADER, mask_path_for};
use crate::{Result, SynthError, SynthParams};

/// The Kaggle `birds.csv` header, as the real dataset spells it.
pub const CSV_HEADER: &str = "class id,filepaths,labels,data set,scientific name";
/// File name of the Kaggle-format index.
pub const CSV_FILE: &str = "birds.csv";
/// File name of the species catalog written with the dataset.
pub const SPECIES_FILE: &str = "species.json";
/// File name of the run description (params, counts, planted defects).
pub const SUMMARY_FILE: &str = "synth.json";
/// File name of the contact sheet.
pub const SHEET_FILE: &str = "contact_sheet.png";
/// Samples per species shown on the contact sheet.
pub const SHEET_SAMPLES: usize = 6;

/// A dirty-data case planted by `defects: true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Defect {
    /// `label_whitespace`, `cross_split_near_duplicate` or `truncated_file` (`defects`); `train_counts`,
    /// `odd_size`, `label_quirk`, `csv_label_misspelt` or `cross_split_near_duplicate` ([`DatasetShape`]).
    pub kind: &'static str,
    /// The files concerned, relative to the dataset root.
    pub paths: Vec<String>,
    /// What was done.
    pub note: String,
}

/// A planted label error ([`DatasetShape::label_errors`]): a training image filed under another species.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelError {
    /// Where the image lies, relative to the dataset root as `birds.csv` writes it:
    /// `train/<given label's folder>/<file>.jpg` (its mask: `masks/<path with .png>`).
    pub path: String,
    /// The species drawn (its label as in `species.json`).
    pub true_label: String,
    /// The species it is filed under: its folder and its `birds.csv` label, class id and scientific name (the
    /// label as in `species.json`; folder and `birds.csv` spell it as for every other image of that species).
    pub given_label: String,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// birds version that wrote it.
    pub birds_version: &'static str,
    /// The params used.
    pub params: SynthParams,
    /// The BIRDS 525 shape options used (absent when all are off).
    #[serde(skip_serializing_if = "DatasetShape::is_plain")]
    pub shape: DatasetShape,
    /// Species labels in class-id order (sorted).
    pub labels: Vec<String>,
    /// Images written per split (defect files included), in `train, valid, test` order.
    pub images: [usize; 3],
    /// Planted defects and quirks (empty without `defects` and shape options).
    pub defects: Vec<Defect>,
    /// Planted label errors, in `birds.csv` order (empty without [`DatasetShape::label_errors`], and then absent
    /// from `synth.json`, which reads back as empty: [`crate::truth::read_label_errors`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub label_errors: Vec<LabelError>,
}

impl Summary {
    /// Total images written.
    pub fn total(&self) -> usize {
        self.images.iter().sum()
    }
}

/// One image to draw.
#[derive(Debug, Clone, Copy)]
struct Job {
    split: Split,
    class: usize,
    index: usize,
}

/// One image written.
#[derive(Debug)]
struct Record {
    job: Job,
    path: String,
    /// The species it is filed under: `job.class`, or another one for a planted label error.
    label_class: usize,
    folder_label: String,
    bbox: Option<(u32, u32, u32, u32)>,
    mask_pixels: u64,
    jpeg_quality: u8,
    sample: Option<(RgbImage, GrayImage)>,
}

fn split_index(s: Split) -> u64 {
    match s {
        Split::Train => 0,
        Split::Valid => 1,
        Split::Test => 2,
    }
}

/// The generator for image `index` of `class` in `split`: a function of these and the seed only.
fn image_rng(seed: u64, job: Job) -> Rng {
    crate::rng::derive(
        "image",
        &[
            seed,
            split_index(job.split),
            job.class as u64,
            job.index as u64,
        ],
    )
}

fn encode_jpeg(img: &RgbImage, quality: u8, path: &Path) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    JpegEncoder::new_with_quality(&mut buf, quality)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|source| SynthError::Encode {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(buf)
}

fn encode_png_gray(img: &GrayImage, path: &Path) -> Result<Vec<u8>> {
    let mut buf = Cursor::new(Vec::new());
    PngEncoder::new_with_quality(&mut buf, CompressionType::Default, PngFilter::Adaptive)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::L8,
        )
        .map_err(|source| SynthError::Encode {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(buf.into_inner())
}

/// The two-space spelling of a label (`CRIMSON FINCH` → `CRIMSON  FINCH`), as in BIRDS 525's `PARAKETT  AUKLET`.
fn two_space(label: &str) -> String {
    label.replacen(' ', "  ", 1)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Species of a run and their class ids (index in the sorted labels, as ingest assigns them).
fn catalog(params: &SynthParams) -> Result<(Vec<Species>, Vec<usize>)> {
    let list = species(params.classes).ok_or_else(|| SynthError::Param {
        key: "classes",
        message: format!("{} is more than the species available", params.classes),
    })?;
    let mut order: Vec<usize> = (0..list.len()).collect();
    order.sort_by(|&a, &b| list[a].label.cmp(&list[b].label));
    let mut class_id = vec![0; list.len()];
    for (id, &i) in order.iter().enumerate() {
        class_id[i] = id;
    }
    Ok((list, class_id))
}

/// The colours distractors may wear: every colour of every species in the run.
fn palette(list: &[Species]) -> Vec<Colour> {
    let mut p: Vec<Colour> = list.iter().flat_map(Species::colours).collect();
    p.sort();
    p.dedup();
    p
}

fn file_name(index: usize, width: usize) -> String {
    format!("{:0width$}.jpg", index + 1)
}

/// Checks that `dir` is absent or an empty folder.
fn ensure_empty(dir: &Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(SynthError::OutDir {
                    path: dir.to_path_buf(),
                    message: "exists and is not empty".into(),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(birds_core::CoreError::io("reading folder", dir, e).into()),
    }
}

/// Generates the dataset into `out_dir`, which must be absent or empty (the pipeline runner's fresh stage folder,
/// for example). Shows a progress bar on stderr when it is a terminal.
pub fn generate(params: &SynthParams, out_dir: &Path) -> Result<Summary> {
    generate_shaped(params, &DatasetShape::default(), out_dir)
}

/// Training images per species (list order): `params.train` each, or with `shape.train_max` a skewed draw between
/// `train` and `train_max` (`train + (max − train)·u^k`, `k` set by `train_mean`), the last species getting
/// `train_max` and the one before it `train`.
pub fn train_counts(params: &SynthParams, shape: &DatasetShape) -> Vec<usize> {
    let n = params.classes;
    let (lo, hi) = (params.train, shape.train_max);
    if hi <= lo {
        return vec![lo; n];
    }
    let span = (hi - lo) as f64;
    let k = if shape.train_mean > lo && shape.train_mean < hi {
        span / (shape.train_mean - lo) as f64 - 1.0
    } else {
        1.0
    };
    let mut counts: Vec<usize> = (0..n)
        .map(|c| {
            let u = f64::from(crate::rng::derive("train-count", &[params.seed, c as u64]).unit());
            lo + (span * u.powf(k)).round() as usize
        })
        .collect();
    if n >= 2 {
        counts[n - 1] = hi;
        counts[n - 2] = lo;
    }
    counts
}

/// The `k`-th of `n` classes spread evenly over `0..classes`, offset by `phase` (0..1) of a step.
fn spread(k: usize, n: usize, classes: usize, phase: f64) -> usize {
    let step = classes as f64 / n.max(1) as f64;
    ((k as f64 * step + phase * step) as usize).min(classes.saturating_sub(1))
}

/// The species whose label carries the BIRDS 525 quirk (list index): halfway through the list, clear of the
/// classes `defects` uses (0, 1, 2) when there are enough.
fn quirk_class(params: &SynthParams) -> usize {
    let n = params.classes;
    if n >= 6 { n / 2 } else { n - 1 }
}

/// The label misspelt as `birds.csv` spells the quirk class: two letters of the last word swapped (or a letter
/// doubled when they are equal), so it differs from the folders even after whitespace normalisation.
fn misspell(label: &str) -> String {
    let start = label.rfind(' ').map_or(0, |i| i + 1);
    let (head, last) = label.split_at(start);
    let mut chars: Vec<char> = last.chars().collect();
    if chars.len() >= 3 && chars[1] != chars[2] {
        chars.swap(1, 2);
    } else if let Some(&c) = chars.last() {
        chars.push(c);
    }
    format!("{head}{}", chars.into_iter().collect::<String>())
}

/// How one image is drawn.
#[derive(Debug, Clone, Copy)]
enum Draw {
    /// From its own generator at `(width, height)`.
    Own(u32, u32),
    /// As a near-duplicate of this species' first training image.
    NearDuplicateOf(Job),
}

/// The near-duplicate variant of a rendered image: brightened by 6 levels, another JPEG quality.
fn near_copy(r: &Rendered) -> Rendered {
    let mut copy = r.clone();
    for px in copy.image.pixels_mut() {
        for c in px.0.iter_mut() {
            *c = c.saturating_add(6);
        }
    }
    copy.jpeg_quality = if r.jpeg_quality > 80 { 65 } else { 92 };
    copy
}

/// [`generate`] with the BIRDS 525 shape options of `shape` (all off: the same bytes as [`generate`]).
///
/// Steps, in order: check the params and the folder, plan the run (`Plan`, with the label errors:
/// `plan_label_errors`), draw and write every image and mask (`render_all`; a label error is written straight into
/// its given species' folder), list the label errors (`list_label_errors`), plant the `defects` (`plant_defects`)
/// and list the shape quirks (`describe_shape`), then write
/// `birds.csv` and `boxes.csv` (`write_index`), `species.json` (`write_species`), the contact sheet
/// (`write_sheet`) and last `synth.json`.
pub fn generate_shaped(
    params: &SynthParams,
    shape: &DatasetShape,
    out_dir: &Path,
) -> Result<Summary> {
    params.validate()?;
    shape.validate(params)?;
    ensure_empty(out_dir)?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| birds_core::CoreError::io("creating folder", out_dir, e))?;
    let plan = Plan::new(params, shape)?;
    let jobs = plan.jobs();
    tracing::info!(
        images = jobs.len(),
        classes = params.classes,
        size = params.size,
        seed = params.seed,
        out = %out_dir.display(),
        "drawing synthetic birds"
    );
    let sheet = SheetPlan::new(params);
    let mut records = render_all(&plan, &sheet, &jobs, out_dir)?;

    let label_errors = list_label_errors(&plan, &records);
    let mut defects = Vec::new();
    if params.defects {
        plant_defects(&plan, out_dir, &mut records, &mut defects)?;
    }
    describe_shape(&plan, shape, &records, &mut defects);

    let images = write_index(&plan, &records, out_dir)?;
    write_species(&plan, out_dir)?;
    write_sheet(&plan, &sheet, &records, out_dir)?;

    let mut labels: Vec<String> = plan.list.iter().map(|s| s.label.clone()).collect();
    labels.sort();
    let summary = Summary {
        birds_version: birds_core::VERSION,
        params: params.clone(),
        shape: shape.clone(),
        labels,
        images,
        defects,
        label_errors,
    };
    write_json(&out_dir.join(SUMMARY_FILE), &summary)?;
    tracing::info!(images = summary.total(), "synthetic dataset written");
    Ok(summary)
}

/// Where an image is drawn differently from its own generator at `size`: `(split index, class, index)`.
type DrawKey = (u64, usize, usize);

/// Everything decided before drawing: the species and their class ids, the image counts, how folders and
/// `birds.csv` spell each label, and which images are drawn differently (odd sizes, near-duplicates).
struct Plan<'a> {
    /// The params of the run.
    params: &'a SynthParams,
    /// The species, in catalog order (the class index of a [`Job`]).
    list: Vec<Species>,
    /// Class id of each species (its index among the sorted labels).
    class_id: Vec<usize>,
    /// The colours distractors may wear.
    colours: Vec<Colour>,
    /// Training images per species.
    counts: Vec<usize>,
    /// Digits in the image file names.
    width: usize,
    /// With defects, the split that gets the near-duplicate.
    dup_split: Split,
    /// With defects, the species whose valid folder is spelt with two spaces.
    variant_class: usize,
    /// The species carrying the BIRDS 525 label quirk, if any.
    quirk: Option<usize>,
    /// The images drawn at another size or as near-duplicates.
    draws: HashMap<DrawKey, Draw>,
    /// Planted label errors: training image `(class, index)` → `(given class, index of its file name there)`.
    relabel: HashMap<(usize, usize), (usize, usize)>,
}

impl<'a> Plan<'a> {
    /// Plans a run of `params` with `shape` (checked already); fails when there are not enough species.
    fn new(params: &'a SynthParams, shape: &DatasetShape) -> Result<Self> {
        let (list, class_id) = catalog(params)?;
        let colours = palette(&list);
        let counts = train_counts(params, shape);
        let relabel = plan_label_errors(params, shape, &list, &counts);
        let width = name_width(params, &counts, &relabel);
        let dup_split = if params.valid > 0 {
            Split::Valid
        } else {
            Split::Test
        };
        let mut plan = Self {
            params,
            list,
            class_id,
            colours,
            counts,
            width,
            dup_split,
            variant_class: 0,
            quirk: shape.label_quirk.then(|| quirk_class(params)),
            draws: HashMap::new(),
            relabel,
        };
        plan.draws = plan.special_draws(shape);
        Ok(plan)
    }

    /// Images of `class` in `split`.
    fn count(&self, split: Split, class: usize) -> usize {
        match split {
            Split::Train => self.counts[class],
            _ => self.params.count(split),
        }
    }

    /// Odd sizes: the last training image of evenly spread species; near-duplicates: the last valid (even k) or
    /// test (odd k) image of other evenly spread species, copied from their first training image.
    fn special_draws(&self, shape: &DatasetShape) -> HashMap<DrawKey, Draw> {
        let params = self.params;
        let mut draws: HashMap<DrawKey, Draw> = Default::default();
        for k in 0..shape.odd_sizes {
            let class = spread(k, shape.odd_sizes, params.classes, 0.5);
            let (w, h) = ODD_SIZES[k % ODD_SIZES.len()];
            draws.insert((0, class, self.counts[class] - 1), Draw::Own(w, h));
        }
        for k in 0..shape.near_duplicates {
            let class = spread(k, shape.near_duplicates, params.classes, 0.25);
            let split = match (k % 2, params.valid, params.test) {
                (0, v, _) if v > 0 => Split::Valid,
                (_, _, t) if t > 0 => Split::Test,
                _ => Split::Valid,
            };
            let source = Job {
                split: Split::Train,
                class,
                index: 0,
            };
            draws.insert(
                (split_index(split), class, self.count(split, class) - 1),
                Draw::NearDuplicateOf(source),
            );
        }
        draws
    }

    /// The folder name of `class` in `split`: its label, or the two-space spelling for the defects' variant (the
    /// first species' valid folder) and the label quirk (its train and test folders).
    fn folder_label(&self, split: Split, class: usize) -> String {
        let params = self.params;
        let defect_variant = params.defects
            && class == self.variant_class
            && split == Split::Valid
            && params.valid > 0;
        let quirk_variant = self.quirk == Some(class) && split != Split::Valid;
        if defect_variant || quirk_variant {
            two_space(&self.list[class].label)
        } else {
            self.list[class].label.clone()
        }
    }

    /// The label `birds.csv` gives `class` in `split`: misspelt for the quirk class, else the folder's.
    fn csv_label(&self, split: Split, class: usize) -> String {
        if self.quirk == Some(class) {
            misspell(&self.list[class].label)
        } else {
            self.folder_label(split, class)
        }
    }

    /// Where `job` is filed: `(class, index)` of its folder and file name, its own unless it is a label error.
    fn placed(&self, job: Job) -> (usize, usize) {
        if job.split == Split::Train
            && let Some(&to) = self.relabel.get(&(job.class, job.index))
        {
            return to;
        }
        (job.class, job.index)
    }

    /// How `job` is drawn.
    fn draw_of(&self, job: Job) -> Draw {
        self.draws
            .get(&(split_index(job.split), job.class, job.index))
            .copied()
            .unwrap_or(Draw::Own(self.params.size, self.params.size))
    }

    /// `job` drawn from its own generator at `w`×`h`.
    fn render_own(&self, job: Job, w: u32, h: u32) -> Rendered {
        let mut rng = image_rng(self.params.seed, job);
        scene::render_wh(&self.list[job.class], w, h, &self.colours, &mut rng)
    }

    /// The image of `job`: its own, or a near-copy of its source's.
    fn render(&self, job: Job) -> Rendered {
        let size = self.params.size;
        match self.draw_of(job) {
            Draw::Own(w, h) => self.render_own(job, w, h),
            Draw::NearDuplicateOf(src) => match self.draw_of(src) {
                Draw::Own(w, h) => near_copy(&self.render_own(src, w, h)),
                Draw::NearDuplicateOf(_) => near_copy(&self.render_own(src, size, size)),
            },
        }
    }

    /// Every image to draw, split by split, class by class, index by index; with label errors, by the class and
    /// file they are filed under (so that `birds.csv` lists a folder's images together).
    fn jobs(&self) -> Vec<Job> {
        let mut jobs: Vec<Job> = Split::ALL
            .iter()
            .flat_map(|&split| {
                (0..self.params.classes).flat_map(move |class| {
                    (0..self.count(split, class)).map(move |index| Job {
                        split,
                        class,
                        index,
                    })
                })
            })
            .collect();
        if !self.relabel.is_empty() {
            jobs.sort_by_key(|&j| (split_index(j.split), self.placed(j)));
        }
        jobs
    }
}

/// Digits in the image file names: enough for the largest count plus one (the defects' extra image), at least 3,
/// and for the file names of the label errors.
fn name_width(
    params: &SynthParams,
    counts: &[usize],
    relabel: &HashMap<(usize, usize), (usize, usize)>,
) -> usize {
    let moved = relabel
        .values()
        .map(|&(_, index)| index + 1)
        .max()
        .unwrap_or(0);
    3.max(
        counts
            .iter()
            .copied()
            .max()
            .unwrap_or(params.train)
            .max(params.valid)
            .max(params.test)
            .saturating_add(1)
            .max(moved)
            .to_string()
            .len(),
    )
}

/// The training image of the defects' truncated file: the third species' (list index), numbered after its images.
fn truncated_class(params: &SynthParams) -> usize {
    2 % params.classes.max(1)
}

/// Picks the planted label errors (`shape.label_errors`), as `(class, index)` of a training image → `(given
/// class, index of its file name there)`; empty when off.
///
/// - How many: `round(label_errors × training images)` (halves up), the defects' truncated file not counted.
/// - Spread over the species in proportion to their training images: species `c` gets `⌊n_c·m / N⌋`, and the
///   remaining few go to the largest remainders, ties in an order drawn from the seed (stream `label-errors`).
/// - Which images of `c`: the first of a shuffle of `0..n_c` drawn from `(seed, c)` (stream `label-errors`), so
///   the images' own generators are untouched and every image is byte for byte what it is without the option.
/// - Given species: `c`'s look-alike ([`look_alikes`]).
/// - File name there, in order of `(class, index)`: first the numbers the given species' own moved images left
///   free (in a pair of twins that trade images, both folders keep their numbering), then after its own images
///   (and the defects' truncated file); no name collides.
fn plan_label_errors(
    params: &SynthParams,
    shape: &DatasetShape,
    list: &[Species],
    counts: &[usize],
) -> HashMap<(usize, usize), (usize, usize)> {
    let mut relabel = HashMap::new();
    let total: usize = counts.iter().sum();
    let m = ((shape.label_errors * total as f64).round() as usize).min(total);
    if m == 0 || list.len() < 2 {
        return relabel;
    }
    let n = list.len();
    let mut rng = crate::rng::derive("label-errors", &[params.seed]);
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let mut quota: Vec<usize> = counts.iter().map(|&c| c * m / total).collect();
    let left = m - quota.iter().sum::<usize>();
    let mut by_remainder = order;
    by_remainder.sort_by_key(|&c| std::cmp::Reverse(counts[c] * m % total));
    for &c in by_remainder.iter().take(left) {
        quota[c] += 1;
    }
    let look = look_alikes(list);
    // The images each species loses, in index order.
    let picks: Vec<Vec<usize>> = (0..n)
        .map(|c| {
            let mut rng = crate::rng::derive("label-errors", &[params.seed, c as u64]);
            let mut all: Vec<usize> = (0..counts[c]).collect();
            rng.shuffle(&mut all);
            let mut some: Vec<usize> = all.into_iter().take(quota[c]).collect();
            some.sort_unstable();
            some
        })
        .collect();
    // File names in the given species' folder: first the numbers its own moved images left free, then after its
    // images (and the defects' truncated file).
    let mut free: Vec<std::collections::VecDeque<usize>> =
        picks.iter().map(|p| p.iter().copied().collect()).collect();
    let mut next: Vec<usize> = counts.to_vec();
    if params.defects {
        next[truncated_class(params)] += 1;
    }
    for (c, some) in picks.iter().enumerate() {
        let Some(given) = look[c] else { continue };
        for &index in some {
            let file = free[given].pop_front().unwrap_or_else(|| {
                next[given] += 1;
                next[given] - 1
            });
            relabel.insert((c, index), (given, file));
        }
    }
    relabel
}

/// The planted label errors among `records` (those filed under another species than drawn), in their order.
fn list_label_errors(plan: &Plan<'_>, records: &[Record]) -> Vec<LabelError> {
    records
        .iter()
        .filter(|r| r.label_class != r.job.class)
        .map(|r| LabelError {
            path: r.path.clone(),
            true_label: plan.list[r.job.class].label.clone(),
            given_label: plan.list[r.label_class].label.clone(),
        })
        .collect()
}

/// What the contact sheet shows: the first images of the first split with images. Beyond the first generation of
/// species the sheet is smaller (3 samples at 64 px, kept as thumbnails) so that 525 rows stay light in memory.
struct SheetPlan {
    /// The split the samples come from.
    split: Split,
    /// Beyond the first generation: thumbnails, fast PNG compression.
    big: bool,
    /// Samples per species.
    samples: usize,
    /// Side of a sample on the sheet, in pixels.
    thumb: u32,
}

impl SheetPlan {
    /// The sheet of a run of `params`.
    fn new(params: &SynthParams) -> Self {
        let split = Split::ALL
            .into_iter()
            .find(|&s| params.count(s) > 0)
            .unwrap_or(Split::Train);
        let big = params.classes > FIRST_GENERATION;
        let (samples, thumb) = if big {
            (3, params.size.min(64))
        } else {
            (SHEET_SAMPLES, params.size.min(96))
        };
        Self {
            split,
            big,
            samples,
            thumb,
        }
    }

    /// The image and mask of `job` kept for the sheet (as thumbnails when big), if it shows `job`.
    fn sample(&self, job: Job, r: Rendered) -> Option<(RgbImage, GrayImage)> {
        (job.split == self.split && job.index < self.samples).then(|| {
            if self.big {
                let f = image::imageops::FilterType::Triangle;
                let n = image::imageops::FilterType::Nearest;
                (
                    image::imageops::resize(&r.image, self.thumb, self.thumb, f),
                    image::imageops::resize(&r.mask, self.thumb, self.thumb, n),
                )
            } else {
                (r.image, r.mask)
            }
        })
    }
}

/// Draws and writes every job's image and mask, rayon-parallel, with a progress bar; the records keep `jobs`'
/// order.
fn render_all(
    plan: &Plan<'_>,
    sheet: &SheetPlan,
    jobs: &[Job],
    out_dir: &Path,
) -> Result<Vec<Record>> {
    let bar = ProgressBar::new(jobs.len() as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} [{elapsed}<{eta}]")
    {
        bar.set_style(style);
    }
    bar.set_message("synth");
    let records = jobs
        .par_iter()
        .map(|&job| render_one(plan, sheet, out_dir, job, &bar))
        .collect::<Result<Vec<_>>>()?;
    bar.finish_and_clear();
    Ok(records)
}

/// Draws `job`, writes its image and mask, and keeps its sample for the sheet.
fn render_one(
    plan: &Plan<'_>,
    sheet: &SheetPlan,
    out_dir: &Path,
    job: Job,
    bar: &ProgressBar,
) -> Result<Record> {
    let r = plan.render(job);
    let (label_class, file_index) = plan.placed(job);
    let label = plan.folder_label(job.split, label_class);
    let path = format!(
        "{}/{}/{}",
        job.split,
        label,
        file_name(file_index, plan.width)
    );
    let rec = write_image(out_dir, &path, &r, job, label_class, label)?;
    bar.inc(1);
    let sample = sheet.sample(job, r);
    Ok(Record { sample, ..rec })
}

/// Writes `birds.csv` (Kaggle format) and `boxes.csv` (ground truth), a row per record in order (no box for the
/// truncated file); returns the images per split.
fn write_index(plan: &Plan<'_>, records: &[Record], out_dir: &Path) -> Result<[usize; 3]> {
    let mut csv = format!("{CSV_HEADER}\n");
    let mut boxes = format!("{BOXES_HEADER}\n");
    let mut images = [0usize; 3];
    for r in records {
        // A label error is listed as its given species throughout: label, class id, scientific name.
        let s = &plan.list[r.label_class];
        images[split_index(r.job.split) as usize] += 1;
        let label = if plan.quirk == Some(r.label_class) {
            plan.csv_label(r.job.split, r.label_class)
        } else {
            r.folder_label.clone()
        };
        csv.push_str(&format!(
            "{}.0,{},{},{},{}\n",
            plan.class_id[r.label_class],
            csv_field(&r.path),
            csv_field(&label),
            r.job.split,
            csv_field(&s.scientific_name)
        ));
        if let Some((x0, y0, x1, y1)) = r.bbox {
            boxes.push_str(&format!(
                "{},{},{},{},{x0},{y0},{x1},{y1},{},{}\n",
                csv_field(&r.path),
                csv_field(&mask_path_for(&r.path)),
                csv_field(&r.folder_label),
                r.job.split,
                r.mask_pixels,
                r.jpeg_quality
            ));
        }
    }
    write_bytes(&out_dir.join(CSV_FILE), csv.as_bytes())?;
    write_bytes(&out_dir.join(BOXES_FILE), boxes.as_bytes())?;
    Ok(images)
}

/// Writes `species.json`: parts, class ids and the species each one differs from in a single part, in class-id
/// order.
fn write_species(plan: &Plan<'_>, out_dir: &Path) -> Result<()> {
    let list = &plan.list;
    let entries: Vec<serde_json::Value> = list
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let near: Vec<serde_json::Value> = list
                .iter()
                .filter_map(|o| {
                    let d = s.differences(o);
                    (d.len() == 1).then(|| serde_json::json!({"label": o.label, "part": d[0]}))
                })
                .collect();
            serde_json::json!({
                "class_id": plan.class_id[i],
                "species": s,
                "differs_in_one_part_from": near,
            })
        })
        .collect();
    let mut sorted = entries;
    sorted.sort_by_key(|e| e["class_id"].as_u64());
    write_json(&out_dir.join(SPECIES_FILE), &sorted)
}

/// Writes the contact sheet: one row per species, in class-id order, of the records' samples.
fn write_sheet(
    plan: &Plan<'_>,
    sheet: &SheetPlan,
    records: &[Record],
    out_dir: &Path,
) -> Result<()> {
    let mut rows: Vec<(usize, Vec<&(RgbImage, GrayImage)>)> = (0..plan.list.len())
        .map(|c| {
            // The species as drawn (label errors included), in image order.
            let mut samples: Vec<(usize, &(RgbImage, GrayImage))> = records
                .iter()
                .filter(|r| r.job.class == c)
                .filter_map(|r| r.sample.as_ref().map(|s| (r.job.index, s)))
                .collect();
            samples.sort_by_key(|(index, _)| *index);
            (c, samples.into_iter().map(|(_, s)| s).collect())
        })
        .collect();
    rows.sort_by_key(|(c, _)| plan.class_id[*c]);
    let rows: Vec<sheet::Row<'_>> = rows
        .into_iter()
        .map(|(c, samples)| sheet::Row {
            species: &plan.list[c],
            samples,
        })
        .collect();
    let sheet_img = sheet::contact_sheet(&rows, sheet.thumb);
    let sheet_path = out_dir.join(SHEET_FILE);
    let mut buf = Cursor::new(Vec::new());
    let level = if sheet.big {
        CompressionType::Fast
    } else {
        CompressionType::Best
    };
    PngEncoder::new_with_quality(&mut buf, level, PngFilter::Adaptive)
        .write_image(
            sheet_img.as_raw(),
            sheet_img.width(),
            sheet_img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|source| SynthError::Encode {
            path: sheet_path.clone(),
            source,
        })?;
    write_bytes(&sheet_path, &buf.into_inner())?;
    Ok(())
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| SynthError::OutDir {
        path: path.to_path_buf(),
        message: format!("serialising: {e}"),
    })?;
    text.push('\n');
    write_bytes(path, text.as_bytes())?;
    Ok(())
}

fn write_image(
    out_dir: &Path,
    path: &str,
    r: &Rendered,
    job: Job,
    label_class: usize,
    folder_label: String,
) -> Result<Record> {
    let img_path = out_dir.join(path);
    let jpeg = encode_jpeg(&r.image, r.jpeg_quality, &img_path)?;
    write_bytes(&img_path, &jpeg)?;
    let mask_path = out_dir.join(mask_path_for(path));
    let png = encode_png_gray(&r.mask, &mask_path)?;
    write_bytes(&mask_path, &png)?;
    Ok(Record {
        job,
        path: path.to_string(),
        label_class,
        folder_label,
        bbox: r.bbox,
        mask_pixels: r.mask_pixels,
        jpeg_quality: r.jpeg_quality,
        sample: None,
    })
}

/// Plants the `defects` cases, in order: the two-space label variant (recorded only; its folder is spelt so by
/// [`Plan::folder_label`]), a cross-split near-duplicate and a truncated JPEG (both written and added to
/// `records`).
fn plant_defects(
    plan: &Plan<'_>,
    out_dir: &Path,
    records: &mut Vec<Record>,
    defects: &mut Vec<Defect>,
) -> Result<()> {
    // 1. Two-space label variant (only the valid split's folder and CSV rows).
    if plan.params.valid > 0 {
        defects.push(label_whitespace_defect(plan, records));
    }
    // 2. A cross-split near-duplicate: train image 1 of the second species, slightly brightened and re-encoded at
    //    another quality, added to `dup_split`.
    plant_near_duplicate(plan, out_dir, records, defects)?;
    // 3. A truncated JPEG in train (listed in birds.csv; no mask, no box).
    plant_truncated(plan, out_dir, records, defects)
}

/// The `label_whitespace` defect: the valid images of the variant class, whose folder has two spaces.
fn label_whitespace_defect(plan: &Plan<'_>, records: &[Record]) -> Defect {
    let variant_class = plan.variant_class;
    let label = &plan.list[variant_class].label;
    let variant = two_space(label);
    let paths = records
        .iter()
        .filter(|r| r.job.split == Split::Valid && r.job.class == variant_class)
        .map(|r| r.path.clone())
        .collect();
    Defect {
        kind: "label_whitespace",
        paths,
        note: format!("valid/{variant:?} is the same species as {label:?} in train and test"),
    }
}

/// Writes a near-copy of the second species' first training image as an extra image of `dup_split`.
fn plant_near_duplicate(
    plan: &Plan<'_>,
    out_dir: &Path,
    records: &mut Vec<Record>,
    defects: &mut Vec<Defect>,
) -> Result<()> {
    let (params, list, width, dup_split) = (plan.params, &plan.list, plan.width, plan.dup_split);
    let dup_class = 1 % list.len();
    let source = Job {
        split: Split::Train,
        class: dup_class,
        index: 0,
    };
    let mut rng = image_rng(params.seed, source);
    let r = scene::render(&list[dup_class], params.size, &plan.colours, &mut rng);
    let copy = near_copy(&r);
    let dup_job = Job {
        split: dup_split,
        class: dup_class,
        index: params.count(dup_split),
    };
    let label = plan.folder_label(dup_split, dup_class);
    let dup_path = format!(
        "{}/{}/{}",
        dup_split,
        label,
        file_name(dup_job.index, width)
    );
    // The source's path as written (a label error may have filed it under another species).
    let source_path = records
        .iter()
        .find(|r| r.job.split == Split::Train && r.job.class == dup_class && r.job.index == 0)
        .map(|r| r.path.clone())
        .unwrap_or_else(|| {
            format!(
                "train/{}/{}",
                plan.folder_label(Split::Train, dup_class),
                file_name(0, width)
            )
        });
    records.push(write_image(
        out_dir, &dup_path, &copy, dup_job, dup_class, label,
    )?);
    defects.push(Defect {
        kind: "cross_split_near_duplicate",
        paths: vec![source_path, dup_path],
        note: "brightened by 6 levels and re-encoded at another JPEG quality".into(),
    });
    Ok(())
}

/// Writes the first 55 % of a JPEG as an extra training image of the third species (no mask, no box).
fn plant_truncated(
    plan: &Plan<'_>,
    out_dir: &Path,
    records: &mut Vec<Record>,
    defects: &mut Vec<Defect>,
) -> Result<()> {
    let (params, list, width) = (plan.params, &plan.list, plan.width);
    let trunc_class = truncated_class(params);
    let trunc_job = Job {
        split: Split::Train,
        class: trunc_class,
        index: plan.counts[trunc_class],
    };
    let mut rng = crate::rng::derive("truncated", &[params.seed]);
    let r = scene::render(&list[trunc_class], params.size, &plan.colours, &mut rng);
    let label = plan.folder_label(Split::Train, trunc_class);
    let path = format!("train/{label}/{}", file_name(trunc_job.index, width));
    let full = out_dir.join(&path);
    let jpeg = encode_jpeg(&r.image, r.jpeg_quality, &full)?;
    let cut = jpeg.len() * 11 / 20;
    write_bytes(&full, &jpeg[..cut])?;
    records.push(Record {
        job: trunc_job,
        path: path.clone(),
        label_class: trunc_class,
        folder_label: label,
        bbox: None,
        mask_pixels: 0,
        jpeg_quality: r.jpeg_quality,
        sample: None,
    });
    defects.push(Defect {
        kind: "truncated_file",
        paths: vec![path],
        note: format!("first {cut} of {} bytes of a JPEG", jpeg.len()),
    });
    Ok(())
}

/// Lists the planted shape quirks in `defects` (for `synth.json`).
fn describe_shape(
    plan: &Plan<'_>,
    shape: &DatasetShape,
    records: &[Record],
    defects: &mut Vec<Defect>,
) {
    let (params, list, counts, quirk, draws) = (
        plan.params,
        &plan.list,
        &plan.counts,
        plan.quirk,
        &plan.draws,
    );
    if shape.train_max > params.train {
        let total: usize = counts.iter().sum();
        let (min, max) = (
            counts.iter().copied().min().unwrap_or(0),
            counts.iter().copied().max().unwrap_or(0),
        );
        defects.push(Defect {
            kind: "train_counts",
            paths: Vec::new(),
            note: format!(
                "{total} training images over {} species: {min}..={max} per species, mean {:.1}",
                counts.len(),
                total as f64 / counts.len().max(1) as f64
            ),
        });
    }
    let path_of = |split: Split, class: usize, index: usize| {
        records
            .iter()
            .find(|r| r.job.split == split && r.job.class == class && r.job.index == index)
            .map(|r| r.path.clone())
            .unwrap_or_default()
    };
    let mut planted: Vec<_> = draws.iter().collect();
    planted.sort_by_key(|(k, _)| **k);
    for (&(split, class, index), draw) in planted {
        let split = Split::ALL[split as usize];
        match *draw {
            Draw::Own(w, h) => defects.push(Defect {
                kind: "odd_size",
                paths: vec![path_of(split, class, index)],
                note: format!("{w}×{h} px instead of {0}×{0}", params.size),
            }),
            Draw::NearDuplicateOf(src) => defects.push(Defect {
                kind: "cross_split_near_duplicate",
                paths: vec![
                    path_of(src.split, src.class, src.index),
                    path_of(split, class, index),
                ],
                note: "brightened by 6 levels and re-encoded at another JPEG quality".into(),
            }),
        }
    }
    if let Some(q) = quirk {
        let label = &list[q].label;
        defects.push(Defect {
            kind: "label_quirk",
            paths: vec![
                format!("train/{}", two_space(label)),
                format!("valid/{label}"),
                format!("test/{}", two_space(label)),
            ],
            note: format!(
                "train and test folders spelt {:?}, valid {label:?} (as BIRDS 525's \"PARAKETT  AUKLET\")",
                two_space(label)
            ),
        });
        defects.push(Defect {
            kind: "csv_label_misspelt",
            paths: vec![CSV_FILE.to_string()],
            note: format!(
                "birds.csv labels the class {:?}; its folders say {label:?}",
                misspell(label)
            ),
        });
    }
}

/// Generates into a fresh sibling folder of `out`, then moves it into place. An existing non-empty `out` is
/// refused unless `overwrite` is set and it holds a previous synth dataset (`synth.json`); other folders are never
/// removed.
pub fn write_dataset(params: &SynthParams, out: &Path, overwrite: bool) -> Result<Summary> {
    write_dataset_shaped(params, &DatasetShape::default(), out, overwrite)
}

/// [`write_dataset`] with the BIRDS 525 shape options of `shape`.
pub fn write_dataset_shaped(
    params: &SynthParams,
    shape: &DatasetShape,
    out: &Path,
    overwrite: bool,
) -> Result<Summary> {
    params.validate()?;
    shape.validate(params)?;
    let exists_non_empty = ensure_empty(out).is_err();
    if exists_non_empty {
        if !overwrite {
            return Err(SynthError::OutDir {
                path: out.to_path_buf(),
                message:
                    "exists and is not empty (pass --force to replace a previous synth dataset)"
                        .into(),
            });
        }
        if !out.join(SUMMARY_FILE).is_file() {
            return Err(SynthError::OutDir {
                path: out.to_path_buf(),
                message: format!(
                    "is not a synth dataset (no {SUMMARY_FILE}); refusing to replace it"
                ),
            });
        }
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "synth".into());
    let sibling = |tag: &str| -> PathBuf {
        out.with_file_name(format!(".{name}.{tag}-{}", std::process::id()))
    };
    let tmp = sibling("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    let summary = match generate_shaped(params, shape, &tmp) {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let io = |action, path: &Path, e| SynthError::from(birds_core::CoreError::io(action, path, e));
    if out.exists() {
        let old = sibling("old");
        std::fs::rename(out, &old).map_err(|e| io("moving aside", out, e))?;
        std::fs::rename(&tmp, out).map_err(|e| io("renaming into place", out, e))?;
        std::fs::remove_dir_all(&old).map_err(|e| io("removing", &old, e))?;
    } else {
        std::fs::rename(&tmp, out).map_err(|e| io("renaming into place", out, e))?;
    }
    Ok(summary)
}
