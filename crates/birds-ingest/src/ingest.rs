//! The ingest run: discover, label, split, inspect in parallel, audit, write.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use birds_core::Split;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::csvfile::{self, CsvData, CsvProblem, CsvRefused};
use crate::discover::{self, Discovery, Found};
use crate::error::{IngestError, Result};
use crate::inspect::{self, FileFacts};
use crate::label;
use crate::neardup;
use crate::params::{IngestParams, Layout, SplitRatios};
use crate::report::*;

/// File names written into the output folder.
pub mod files {
    /// The index (schema `birds_core::schema::ingest::IMAGES`).
    pub const IMAGES: &str = "images.parquet";
    /// The classes (schema `birds_core::schema::ingest::CLASSES`).
    pub const CLASSES: &str = "classes.parquet";
    /// The audit as JSON ([`crate::Report`]).
    pub const REPORT_JSON: &str = "report.json";
    /// The audit as Markdown.
    pub const REPORT_MD: &str = "report.md";
}

/// What a successful run wrote.
#[derive(Debug, Clone)]
pub struct IngestOutput {
    /// The audit (also in `report.json`).
    pub report: Report,
    /// `images.parquet`.
    pub images: PathBuf,
    /// `classes.parquet`.
    pub classes: PathBuf,
    /// `report.json`.
    pub report_json: PathBuf,
    /// `report.md`.
    pub report_md: PathBuf,
}

/// One indexed file.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub rel: String,
    pub split: Split,
    pub label: String,
    pub class_id: u32,
    pub folder_label: String,
    pub facts: FileFacts,
    /// The duplicate group the file is in ([`DuplicateGroup::group`]).
    pub duplicate_group: Option<u32>,
}

impl Row {
    fn ok(&self) -> bool {
        self.facts.error.is_none()
    }

    fn file_ref(&self) -> FileRef {
        FileRef {
            path: self.rel.clone(),
            split: self.split,
            label: self.label.clone(),
        }
    }
}

/// How a run reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Show a progress bar on stderr (only drawn when stderr is a terminal).
    pub progress: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { progress: true }
    }
}

/// [`ingest_with`] with default [`RunOptions`].
pub fn ingest(data_root: &Path, out_dir: &Path, params: &IngestParams) -> Result<IngestOutput> {
    ingest_with(data_root, out_dir, params, RunOptions::default())
}

/// Indexes the dataset under `data_root` and writes `images.parquet`, `classes.parquet`, `report.json` and
/// `report.md` into `out_dir` (created if needed).
///
/// Fails when the root is missing or holds no image files, when an explicitly named CSV cannot be used, or when no
/// image decodes (then `report.json`/`report.md` are still written to say why, but no Parquet files).
pub fn ingest_with(
    data_root: &Path,
    out_dir: &Path,
    params: &IngestParams,
    options: RunOptions,
) -> Result<IngestOutput> {
    params.validate().map_err(IngestError::Params)?;
    let root = check_root(data_root)?;
    let layout = discover::resolve_layout(&root, params.layout)?;
    let mut found = discover::discover(&root, layout)?;
    tracing::info!(
        root = %root.display(),
        layout = layout.as_str(),
        files = found.files.len(),
        skipped = found.skipped.len(),
        "discovered"
    );
    if found.files.is_empty() {
        return Err(no_images(&root, layout, &found));
    }
    let csv = load_csv(&root, params)?;

    let labels: Vec<String> = found
        .files
        .iter()
        .map(|f| {
            if params.normalize_labels {
                label::normalize(&f.folder_label)
            } else {
                f.folder_label.clone()
            }
        })
        .collect();
    let class_ids: BTreeMap<&str, u32> = labels
        .iter()
        .map(String::as_str)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .enumerate()
        .map(|(i, l)| (l, i as u32))
        .collect();
    if layout == Layout::Flat {
        assign_splits(&mut found.files, &labels, params.split, params.seed);
    }

    let facts = inspect_all(&found.files, params.max_dimension, options.progress);
    let mut rows: Vec<Row> = found
        .files
        .iter()
        .zip(facts)
        .zip(&labels)
        .map(|((f, facts), label)| Row {
            rel: f.rel.clone(),
            split: f.split.unwrap_or(Split::Train),
            class_id: class_ids.get(label.as_str()).copied().unwrap_or(0),
            label: label.clone(),
            folder_label: f.folder_label.clone(),
            facts,
            duplicate_group: None,
        })
        .collect();
    rows.sort_by(|a, b| a.rel.cmp(&b.rel));
    let class_labels: Vec<String> = class_ids.keys().map(|l| l.to_string()).collect();

    let (report, membership) = build_report(
        &root,
        layout,
        params,
        &rows,
        &class_labels,
        found,
        csv.as_ref(),
    );
    for (row, group) in rows.iter_mut().zip(membership) {
        row.duplicate_group = group;
    }
    write_outputs(&root, out_dir, &rows, report)
}

fn check_root(data_root: &Path) -> Result<PathBuf> {
    match std::fs::metadata(data_root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(IngestError::RootMissing {
            root: data_root.to_path_buf(),
        }),
        Err(source) => Err(IngestError::Unreadable {
            path: data_root.to_path_buf(),
            source,
        }),
        Ok(m) if !m.is_dir() => Err(IngestError::RootNotDir {
            root: data_root.to_path_buf(),
        }),
        Ok(_) => data_root
            .canonicalize()
            .map_err(|source| IngestError::Unreadable {
                path: data_root.to_path_buf(),
                source,
            }),
    }
}

fn no_images(root: &Path, layout: Layout, found: &Discovery) -> IngestError {
    let expected = match layout {
        Layout::Kaggle => "image files in train|valid|test/<LABEL>/ folders",
        _ => "<LABEL>/ folders of image files, or train|valid|test/<LABEL>/ folders",
    };
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &found.skipped {
        *reasons.entry(s.reason.as_str()).or_default() += 1;
    }
    let mut detail = String::new();
    if !found.skipped.is_empty() {
        let parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
        detail = format!("; skipped {}: {}", found.skipped.len(), parts.join(", "));
    } else if found.ignored.is_empty() {
        detail = "; the folder is empty".into();
    }
    if !found.ignored.is_empty() {
        detail.push_str(&format!(
            "; top-level entries ignored: {}",
            found.ignored.join(", ")
        ));
    }
    IngestError::NoImages {
        root: root.to_path_buf(),
        layout: layout.as_str(),
        expected,
        detail,
    }
}

fn load_csv(root: &Path, params: &IngestParams) -> Result<Option<CsvData>> {
    if params.ignore_csv {
        return Ok(None);
    }
    match &params.csv {
        Some(name) => {
            let file = root.join(name);
            if !file.is_file() {
                return Err(IngestError::Csv {
                    path: file,
                    message: "not found (param csv is relative to the data root)".into(),
                });
            }
            csvfile::read(&file).map(Some)
        }
        None => {
            let file = root.join("birds.csv");
            if file.is_file() {
                csvfile::read(&file).map(Some)
            } else {
                Ok(None)
            }
        }
    }
}

/// Flat layout: within each label, files are ordered by BLAKE3(seed, path) and the first `round(n·test)` go to
/// test, the next `round(n·valid)` to valid, the rest (at least one) to train. Adding a file moves no other file.
pub(crate) fn assign_splits(
    files: &mut [Found],
    labels: &[String],
    ratios: SplitRatios,
    seed: u64,
) {
    let mut by_label: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, l) in labels.iter().enumerate() {
        by_label.entry(l).or_default().push(i);
    }
    for idx in by_label.values() {
        let mut keyed: Vec<([u8; 32], usize)> = idx
            .iter()
            .map(|&i| {
                let mut h = blake3::Hasher::new();
                h.update(&seed.to_le_bytes());
                h.update(files[i].rel.as_bytes());
                (*h.finalize().as_bytes(), i)
            })
            .collect();
        keyed.sort();
        let (n_test, n_valid) = split_counts(keyed.len(), ratios);
        for (k, (_, i)) in keyed.into_iter().enumerate() {
            files[i].split = Some(if k < n_test {
                Split::Test
            } else if k < n_test + n_valid {
                Split::Valid
            } else {
                Split::Train
            });
        }
    }
}

/// `(test, valid)` counts for a class of `n` files; train keeps at least one.
fn split_counts(n: usize, r: SplitRatios) -> (usize, usize) {
    let mut test = (n as f64 * r.test).round() as usize;
    let mut valid = (n as f64 * r.valid).round() as usize;
    while n > 0 && test + valid >= n {
        if valid >= test && valid > 0 {
            valid -= 1;
        } else if test > 0 {
            test -= 1;
        } else {
            break;
        }
    }
    (test, valid)
}

/// Inspects every file on the rayon pool, with a progress bar; one file's bytes in memory per thread.
fn inspect_all(files: &[Found], max_dimension: u32, progress: bool) -> Vec<FileFacts> {
    let bar = if progress {
        ProgressBar::new(files.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("ingest [{bar:30}] {pos}/{len} images ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = std::time::Instant::now();
    let facts: Vec<FileFacts> = files
        .par_iter()
        .map(|f| {
            let facts = inspect::inspect_file(&f.abs, max_dimension);
            if let Some(e) = &facts.error {
                tracing::debug!(path = %f.rel, error = %e, "undecodable");
            }
            bar.inc(1);
            facts
        })
        .collect();
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    tracing::info!(
        files = files.len(),
        seconds = secs,
        per_second = files.len() as f64 / secs.max(1e-9),
        "inspected"
    );
    facts
}

fn build_report(
    root: &Path,
    layout: Layout,
    params: &IngestParams,
    rows: &[Row],
    class_labels: &[String],
    found: Discovery,
    csv: Option<&CsvData>,
) -> (Report, Vec<Option<u32>>) {
    let ok = rows.iter().filter(|r| r.ok()).count();
    let present_splits: Vec<Split> = Split::ALL
        .into_iter()
        .filter(|s| rows.iter().any(|r| r.split == *s))
        .collect();

    let mut classes: Vec<ClassCount> = class_labels
        .iter()
        .enumerate()
        .map(|(i, l)| ClassCount {
            class_id: i as u32,
            label: l.clone(),
            scientific_name: None,
            train: 0,
            valid: 0,
            test: 0,
            errors: 0,
        })
        .collect();
    for r in rows {
        let Some(c) = classes.get_mut(r.class_id as usize) else {
            continue;
        };
        match (r.ok(), r.split) {
            (false, _) => c.errors += 1,
            (true, Split::Train) => c.train += 1,
            (true, Split::Valid) => c.valid += 1,
            (true, Split::Test) => c.test += 1,
        }
    }

    let splits = present_splits
        .iter()
        .map(|&split| {
            let in_split = rows.iter().filter(|r| r.split == split);
            let files = in_split.clone().count();
            let ok = in_split.filter(|r| r.ok()).count();
            SplitCount {
                split,
                files,
                ok,
                errors: files - ok,
            }
        })
        .collect();

    let mut imbalance = Vec::new();
    let mut classes_missing_from_splits = Vec::new();
    for &split in &present_splits {
        let mut counts: Vec<(u32, &str)> = classes
            .iter()
            .map(|c| (c.count(split), c.label.as_str()))
            .collect();
        counts.sort();
        let (Some(&(min, _)), Some(&(max, _))) = (counts.first(), counts.last()) else {
            continue;
        };
        let mid = counts.len() / 2;
        let median = if counts.len() % 2 == 1 {
            f64::from(counts[mid].0)
        } else {
            (f64::from(counts[mid - 1].0) + f64::from(counts[mid].0)) / 2.0
        };
        let with = |n: u32| -> Vec<String> {
            counts
                .iter()
                .filter(|c| c.0 == n)
                .take(10)
                .map(|c| c.1.to_string())
                .collect()
        };
        imbalance.push(Imbalance {
            split,
            min,
            median,
            max,
            ratio: (min > 0).then(|| f64::from(max) / f64::from(min)),
            smallest: with(min),
            largest: with(max),
        });
        let missing: Vec<String> = counts
            .iter()
            .filter(|c| c.0 == 0)
            .map(|c| c.1.to_string())
            .collect();
        if !missing.is_empty() {
            let mut labels = missing;
            labels.sort();
            classes_missing_from_splits.push(MissingClasses { split, labels });
        }
    }

    let (label_merges, unmerged_label_variants) = label_variants(rows, params.normalize_labels);
    let csv_report = csv.map(|c| compare_csv(c, rows, layout, &mut classes));
    let dups = duplicates(rows, params.near_duplicate_distance);

    let mut skipped = found.skipped;
    skipped.sort();
    let mut report = Report {
        birds_version: birds_core::VERSION.to_string(),
        root: root.display().to_string(),
        layout,
        params: params.clone(),
        anomalies: Vec::new(),
        totals: Totals {
            files: rows.len(),
            ok,
            errors: rows.len() - ok,
            skipped: skipped.len(),
            classes: classes.len(),
        },
        splits,
        missing_splits: found.missing_splits,
        classes,
        imbalance,
        classes_missing_from_splits,
        image_sizes: size_stats(rows),
        color_types: name_counts(rows.iter().filter_map(|r| r.facts.color_type.as_deref())),
        formats: name_counts(rows.iter().filter_map(|r| r.facts.format.as_deref())),
        undecodable: rows
            .iter()
            .filter_map(|r| {
                r.facts.error.as_ref().map(|e| FileProblem {
                    path: r.rel.clone(),
                    split: r.split,
                    label: r.label.clone(),
                    error: e.clone(),
                })
            })
            .collect(),
        skipped,
        ignored: found.ignored,
        label_merges,
        unmerged_label_variants,
        csv: csv_report,
        duplicate_groups: dups.groups,
        leakage: dups.leakage,
    };
    report.compute_anomalies();
    (report, dups.membership)
}

/// Label spellings per normalised label; `(merged, unmerged)` depending on `normalize`.
fn label_variants(rows: &[Row], normalize: bool) -> (Vec<LabelVariants>, Vec<LabelVariants>) {
    let mut by_norm: BTreeMap<String, BTreeMap<&str, (usize, BTreeSet<Split>)>> = BTreeMap::new();
    for r in rows {
        let entry = by_norm
            .entry(label::normalize(&r.folder_label))
            .or_default()
            .entry(r.folder_label.as_str())
            .or_default();
        entry.0 += 1;
        entry.1.insert(r.split);
    }
    let variants: Vec<LabelVariants> = by_norm
        .into_iter()
        .filter(|(_, spellings)| spellings.len() > 1)
        .map(|(label, spellings)| LabelVariants {
            label,
            spellings: spellings
                .into_iter()
                .map(|(s, (files, splits))| Spelling {
                    spelling: s.to_string(),
                    files,
                    splits: splits.into_iter().collect(),
                })
                .collect(),
        })
        .collect();
    if normalize {
        (variants, Vec::new())
    } else {
        (Vec::new(), variants)
    }
}

fn compare_csv(
    csv: &CsvData,
    rows: &[Row],
    layout: Layout,
    classes: &mut [ClassCount],
) -> CsvReport {
    let by_path: HashMap<&str, &Row> = rows.iter().map(|r| (r.rel.as_str(), r)).collect();
    let mut seen: HashMap<&str, u64> = HashMap::new();
    let mut refused: Vec<CsvRefused> = csv.refused.clone();
    let mut rows_without_files = Vec::new();
    let mut label_disagreements = Vec::new();
    let mut split_disagreements = Vec::new();
    let mut names: BTreeMap<u32, BTreeMap<&str, usize>> = BTreeMap::new();
    let mut matched = 0;
    for c in &csv.rows {
        if let Some(first) = seen.get(c.path.as_str()) {
            refused.push(CsvRefused {
                line: c.line,
                path: c.path.clone(),
                problem: CsvProblem::Repeat,
                reason: format!("repeats the path of line {first}"),
            });
            continue;
        }
        seen.insert(&c.path, c.line);
        let Some(row) = by_path.get(c.path.as_str()) else {
            rows_without_files.push(CsvLine {
                line: c.line,
                path: c.path.clone(),
            });
            continue;
        };
        matched += 1;
        if let Some(l) = &c.label
            && label::normalize(l) != label::normalize(&row.folder_label)
        {
            label_disagreements.push(Disagreement {
                line: c.line,
                path: c.path.clone(),
                csv: l.clone(),
                folder: row.folder_label.clone(),
            });
        }
        if layout == Layout::Kaggle
            && let Some(s) = &c.split
            && s.parse::<Split>().ok() != Some(row.split)
        {
            split_disagreements.push(Disagreement {
                line: c.line,
                path: c.path.clone(),
                csv: s.clone(),
                folder: row.split.to_string(),
            });
        }
        if let Some(n) = &c.scientific_name {
            *names
                .entry(row.class_id)
                .or_default()
                .entry(n.as_str())
                .or_default() += 1;
        }
    }
    // The most common scientific name per class; ties go to the alphabetically first.
    for (class_id, counts) in names {
        let best = counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            .map(|(n, _)| n.to_string());
        if let Some(c) = classes.get_mut(class_id as usize) {
            c.scientific_name = best;
        }
    }
    refused.sort_by_key(|r| r.line);
    let files_without_rows = rows
        .iter()
        .filter(|r| !seen.contains_key(r.rel.as_str()))
        .map(|r| r.rel.clone())
        .collect();
    CsvReport {
        file: csv.file.display().to_string(),
        header: csv.header,
        rows: csv.rows.len() + csv.refused.len(),
        matched,
        refused,
        rows_without_files,
        files_without_rows,
        label_disagreements,
        split_disagreements,
    }
}

/// Duplicate groups and the leaking ones, with each row's group (`None` when it has no duplicate).
pub(crate) struct Duplicates {
    pub groups: Vec<DuplicateGroup>,
    pub leakage: Vec<Leak>,
    pub membership: Vec<Option<u32>>,
}

/// Groups the decodable files into duplicate groups: connected components of "same BLAKE3, or pHash within
/// `distance`". Memory is linear in the number of files, however many pairs of duplicates there are: no pair is
/// ever listed ([`neardup::near_components`] merges them as it finds them). `rows` are in path order, so groups
/// are numbered (from 1) in the order of their first path.
pub(crate) fn duplicates(rows: &[Row], distance: u32) -> Duplicates {
    let n = rows.len();
    let mut forest = Forest::new(n);
    // Same bytes.
    let mut first_with_hash: HashMap<&str, usize> = HashMap::new();
    for (i, r) in rows.iter().enumerate().filter(|(_, r)| r.ok()) {
        if let Some(h) = r.facts.blake3.as_deref() {
            let first = *first_with_hash.entry(h).or_insert(i);
            forest.union(first, i);
        }
    }
    // Close perceptual hashes (equal ones included).
    let hashed: Vec<usize> = (0..n)
        .filter(|&i| rows[i].ok() && rows[i].facts.phash.is_some())
        .collect();
    let hashes: Vec<u64> = hashed
        .iter()
        .map(|&i| rows[i].facts.phash.unwrap_or_default())
        .collect();
    let start = std::time::Instant::now();
    let components = neardup::near_components(&hashes, distance);
    for (k, &root) in components.iter().enumerate() {
        forest.union(hashed[root as usize], hashed[k]);
    }
    tracing::info!(
        images = hashes.len(),
        seconds = start.elapsed().as_secs_f64(),
        "near-duplicate search"
    );

    // Members of each component, in path order; components of one file are no group.
    let roots: Vec<usize> = (0..n).map(|i| forest.find(i)).collect();
    let mut size = vec![0u32; n];
    for &r in &roots {
        size[r] += 1;
    }
    let mut group_of_root: HashMap<usize, u32> = HashMap::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    let mut membership = vec![None; n];
    for (i, &r) in roots.iter().enumerate() {
        if size[r] < 2 {
            continue;
        }
        let g = *group_of_root.entry(r).or_insert_with(|| {
            members.push(Vec::new());
            members.len() as u32
        });
        membership[i] = Some(g);
        if let Some(m) = members.get_mut(g as usize - 1) {
            m.push(i);
        }
    }
    let groups: Vec<DuplicateGroup> = members
        .iter()
        .enumerate()
        .map(|(k, m)| describe_group(k as u32 + 1, rows, m))
        .collect();
    let leakage = groups
        .iter()
        .zip(&members)
        .filter(|(g, _)| g.cross_split)
        .map(|(g, m)| Leak {
            group: g.group,
            kind: g.kind,
            files: g.files,
            splits: g.splits.clone(),
            examples: Split::ALL
                .into_iter()
                .filter_map(|s| m.iter().find(|&&i| rows[i].split == s))
                .map(|&i| rows[i].file_ref())
                .collect(),
        })
        .collect();
    Duplicates {
        groups,
        leakage,
        membership,
    }
}

/// The report entry of one group; `members` are row indices in path order.
fn describe_group(group: u32, rows: &[Row], members: &[usize]) -> DuplicateGroup {
    let contents: BTreeSet<&str> = members
        .iter()
        .filter_map(|&i| rows[i].facts.blake3.as_deref())
        .collect();
    let splits: Vec<SplitFiles> = Split::ALL
        .into_iter()
        .map(|split| SplitFiles {
            split,
            files: members.iter().filter(|&&i| rows[i].split == split).count(),
        })
        .filter(|s| s.files > 0)
        .collect();
    let labels: BTreeSet<&str> = members.iter().map(|&i| rows[i].label.as_str()).collect();
    // The first file of each split, then the next ones by path, up to the limit; listed in path order.
    let mut picked: BTreeSet<usize> = splits
        .iter()
        .filter_map(|s| members.iter().copied().find(|&i| rows[i].split == s.split))
        .collect();
    for &i in members {
        if picked.len() >= GROUP_EXAMPLES {
            break;
        }
        picked.insert(i);
    }
    DuplicateGroup {
        group,
        kind: if contents.len() <= 1 {
            DuplicateKind::Exact
        } else {
            DuplicateKind::Near
        },
        files: members.len(),
        distinct_contents: contents.len(),
        cross_split: splits.len() > 1,
        splits,
        labels_differ: labels.len() > 1,
        label_count: labels.len(),
        labels: labels
            .into_iter()
            .take(GROUP_EXAMPLES)
            .map(str::to_string)
            .collect(),
        examples: picked.into_iter().map(|i| rows[i].file_ref()).collect(),
    }
}

/// A plain union-find (union by smaller index, path halving).
struct Forest {
    parent: Vec<usize>,
}

impl Forest {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n).collect(),
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb)] = ra.min(rb);
        }
    }
}

fn size_stats(rows: &[Row]) -> SizeStats {
    let mut sizes: BTreeMap<(u32, u32), usize> = BTreeMap::new();
    for r in rows {
        if let (Some(w), Some(h)) = (r.facts.width, r.facts.height) {
            *sizes.entry((w, h)).or_default() += 1;
        }
    }
    let mut by_count: Vec<SizeCount> = sizes
        .iter()
        .map(|(&(width, height), &count)| SizeCount {
            width,
            height,
            count,
        })
        .collect();
    by_count.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then((a.width, a.height).cmp(&(b.width, b.height)))
    });
    let total: usize = sizes.values().sum();
    SizeStats {
        min_width: sizes.keys().map(|k| k.0).min().unwrap_or(0),
        max_width: sizes.keys().map(|k| k.0).max().unwrap_or(0),
        min_height: sizes.keys().map(|k| k.1).min().unwrap_or(0),
        max_height: sizes.keys().map(|k| k.1).max().unwrap_or(0),
        distinct: sizes.len(),
        not_most_common: total - by_count.first().map_or(0, |c| c.count),
        most_common: by_count.into_iter().take(10).collect(),
    }
}

fn name_counts<'a>(names: impl Iterator<Item = &'a str>) -> Vec<NameCount> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for n in names {
        *counts.entry(n).or_default() += 1;
    }
    let mut v: Vec<NameCount> = counts
        .into_iter()
        .map(|(name, count)| NameCount {
            name: name.to_string(),
            count,
        })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
    v
}

fn write_outputs(
    root: &Path,
    out_dir: &Path,
    rows: &[Row],
    report: Report,
) -> Result<IngestOutput> {
    std::fs::create_dir_all(out_dir)
        .map_err(|e| birds_core::CoreError::io("creating folder", out_dir, e))?;
    let report_json = out_dir.join(files::REPORT_JSON);
    let report_md = out_dir.join(files::REPORT_MD);
    let json = serde_json::to_vec_pretty(&report).map_err(|source| IngestError::Json {
        path: report_json.clone(),
        source,
    })?;
    birds_core::atomic::write_bytes(&report_json, &json)?;
    birds_core::atomic::write_bytes(&report_md, report.to_markdown().as_bytes())?;
    if report.totals.ok == 0 {
        return Err(IngestError::NothingUsable {
            root: root.to_path_buf(),
            summary: error_summary(&report.undecodable),
            report: report_md,
        });
    }
    let images = out_dir.join(files::IMAGES);
    let classes = out_dir.join(files::CLASSES);
    crate::write::write_images(&images, &report.root, rows)?;
    crate::write::write_classes(&classes, &report.classes)?;
    tracing::info!(
        files = report.totals.files,
        ok = report.totals.ok,
        classes = report.totals.classes,
        anomalies = report.anomalies.len(),
        out = %out_dir.display(),
        "ingest written"
    );
    Ok(IngestOutput {
        report,
        images,
        classes,
        report_json,
        report_md,
    })
}

/// "3 × not an image, 2 × empty file (0 bytes)": error kinds (text before the first `:`), most common first.
fn error_summary(problems: &[FileProblem]) -> String {
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for p in problems {
        let kind = p.error.split(':').next().unwrap_or(&p.error);
        *kinds.entry(kind).or_default() += 1;
    }
    let mut v: Vec<(&str, usize)> = kinds.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let parts: Vec<String> = v.iter().map(|(k, n)| format!("{n} × {k}")).collect();
    format!(
        "all {} image files fail to decode: {}",
        problems.len(),
        parts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_counts_keep_a_training_image() {
        let r = SplitRatios::default();
        assert_eq!(split_counts(10, r), (1, 1));
        assert_eq!(split_counts(50, r), (5, 5));
        assert_eq!(split_counts(1, r), (0, 0));
        assert_eq!(split_counts(2, r), (0, 0));
        let half = SplitRatios {
            train: 0.2,
            valid: 0.4,
            test: 0.4,
        };
        assert_eq!(split_counts(2, half), (1, 0));
        assert_eq!(split_counts(5, half), (2, 2));
        assert_eq!(split_counts(0, half), (0, 0));
    }
}
