//! The audit: `report.json` (these types, serialised) and `report.md` (the same, for people).

use std::fmt::Write as _;

use birds_core::Split;
use serde::{Deserialize, Serialize};

use crate::csvfile::{CsvProblem, CsvRefused};
use crate::discover::Skipped;
use crate::params::{IngestParams, Layout};

/// Lists in `report.md` longer than this are cut (`report.json` always has everything).
pub const MARKDOWN_LIST_LIMIT: usize = 200;

/// At most this many example files (and labels) are listed per duplicate group; `images.parquet` has every
/// member (`duplicate_group`).
pub const GROUP_EXAMPLES: usize = 5;

/// At most this many leaking groups get their own line in [`Report::anomalies`].
pub const ANOMALY_LEAK_LINES: usize = 10;

/// Everything ingest found out about a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// birds version that wrote the report.
    pub birds_version: String,
    /// The canonical data root.
    pub root: String,
    /// The layout used (`kaggle` or `flat`; `auto` is resolved before the report is made).
    pub layout: Layout,
    /// The params of the run.
    pub params: IngestParams,
    /// One line per problem worth a look; empty for a clean dataset.
    pub anomalies: Vec<String>,
    /// Overall counts.
    pub totals: Totals,
    /// Counts per split.
    pub splits: Vec<SplitCount>,
    /// Kaggle layout: splits without a folder.
    pub missing_splits: Vec<Split>,
    /// Per-class counts of decodable images.
    pub classes: Vec<ClassCount>,
    /// Images per class in each split: min / median / max.
    pub imbalance: Vec<Imbalance>,
    /// Classes that have no decodable image in a split that exists.
    pub classes_missing_from_splits: Vec<MissingClasses>,
    /// Decoded image sizes.
    pub image_sizes: SizeStats,
    /// Colour types as stored, with counts (everything is converted to RGB later).
    pub color_types: Vec<NameCount>,
    /// Detected formats, with counts.
    pub formats: Vec<NameCount>,
    /// Indexed files that do not decode, with the reason (`status = error` in `images.parquet`).
    pub undecodable: Vec<FileProblem>,
    /// Files and folders not indexed, with the reason.
    pub skipped: Vec<Skipped>,
    /// Top-level entries that are neither split nor label folders (not an anomaly).
    pub ignored: Vec<String>,
    /// Labels written in several ways that were merged into one class.
    pub label_merges: Vec<LabelVariants>,
    /// With `normalize_labels: false`: labels that differ only in whitespace, case or Unicode normalisation, kept apart.
    pub unmerged_label_variants: Vec<LabelVariants>,
    /// The CSV comparison, when a CSV was read.
    pub csv: Option<CsvReport>,
    /// Every group of duplicate decodable files, in the order of their first path: files with identical bytes or
    /// perceptual hashes within `params.near_duplicate_distance`, joined transitively (connected components). Each
    /// file is in at most one group; `images.parquet` names it in `duplicate_group`.
    pub duplicate_groups: Vec<DuplicateGroup>,
    /// The duplicate groups that span more than one split: train/test leakage.
    pub leakage: Vec<Leak>,
}

/// Overall counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Indexed image files (rows of `images.parquet`).
    pub files: usize,
    /// Files that decode (`status = ok`).
    pub ok: usize,
    /// Files that do not.
    pub errors: usize,
    /// Files and folders skipped.
    pub skipped: usize,
    /// Classes.
    pub classes: usize,
}

/// Counts for one split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitCount {
    /// The split.
    pub split: Split,
    /// Indexed files.
    pub files: usize,
    /// Decodable.
    pub ok: usize,
    /// Not decodable.
    pub errors: usize,
}

/// One class (a row of `classes.parquet`, plus errors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassCount {
    /// Stable class id.
    pub class_id: u32,
    /// Label.
    pub label: String,
    /// Scientific name from the CSV.
    pub scientific_name: Option<String>,
    /// Decodable images in train.
    pub train: u32,
    /// Decodable images in valid.
    pub valid: u32,
    /// Decodable images in test.
    pub test: u32,
    /// Undecodable files of this class, all splits.
    pub errors: u32,
}

impl ClassCount {
    /// Decodable images in `split`.
    pub fn count(&self, split: Split) -> u32 {
        match split {
            Split::Train => self.train,
            Split::Valid => self.valid,
            Split::Test => self.test,
        }
    }
}

/// Images per class in one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Imbalance {
    /// The split.
    pub split: Split,
    /// Fewest images of any class (0 when a class is absent).
    pub min: u32,
    /// Median.
    pub median: f64,
    /// Most images of any class.
    pub max: u32,
    /// `max / min` (absent when `min` is 0).
    pub ratio: Option<f64>,
    /// Classes with `min` images (at most 10 listed).
    pub smallest: Vec<String>,
    /// Classes with `max` images (at most 10 listed).
    pub largest: Vec<String>,
}

/// Classes without decodable images in a split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingClasses {
    /// The split.
    pub split: Split,
    /// Labels absent from it.
    pub labels: Vec<String>,
}

/// Decoded image sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeStats {
    /// Smallest width (0 when nothing decoded).
    pub min_width: u32,
    /// Largest width.
    pub max_width: u32,
    /// Smallest height.
    pub min_height: u32,
    /// Largest height.
    pub max_height: u32,
    /// Distinct `width×height` values.
    pub distinct: usize,
    /// The most common sizes, most frequent first (at most 10).
    pub most_common: Vec<SizeCount>,
    /// Decodable images whose size is not the most common one.
    pub not_most_common: usize,
}

/// One image size and how many images have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeCount {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Images.
    pub count: usize,
}

/// A name with a count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameCount {
    /// The name.
    pub name: String,
    /// How many.
    pub count: usize,
}

/// An indexed file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileProblem {
    /// Path relative to the root.
    pub path: String,
    /// Its split.
    pub split: Split,
    /// Its label.
    pub label: String,
    /// What is wrong.
    pub error: String,
}

/// The spellings of one label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelVariants {
    /// The normalised label.
    pub label: String,
    /// The folder spellings with their file counts.
    pub spellings: Vec<Spelling>,
}

/// One spelling of a label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spelling {
    /// The folder name as on disk.
    pub spelling: String,
    /// Files under folders spelled so.
    pub files: usize,
    /// Splits it appears in.
    pub splits: Vec<Split>,
}

/// CSV versus disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvReport {
    /// The CSV file.
    pub file: String,
    /// Whether it had a header row.
    pub header: bool,
    /// Data rows read (including refused ones).
    pub rows: usize,
    /// Rows matching an indexed file.
    pub matched: usize,
    /// Rows refused (absolute or escaping paths, unreadable rows, repeated paths); never read from disk.
    pub refused: Vec<CsvRefused>,
    /// Rows whose path is not an indexed file.
    pub rows_without_files: Vec<CsvLine>,
    /// Indexed files no row lists.
    pub files_without_rows: Vec<String>,
    /// Rows whose label differs from the folder's (after normalisation).
    pub label_disagreements: Vec<Disagreement>,
    /// Rows whose `data set` differs from the split folder's.
    pub split_disagreements: Vec<Disagreement>,
}

/// A CSV row, by line and path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvLine {
    /// 1-based line number.
    pub line: u64,
    /// Path as written.
    pub path: String,
}

/// A CSV value that disagrees with the folders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disagreement {
    /// 1-based line number.
    pub line: u64,
    /// The file.
    pub path: String,
    /// The CSV's value.
    pub csv: String,
    /// The folders' value (which the index uses).
    pub folder: String,
}

/// A file in a duplicate pair or group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileRef {
    /// Path relative to the root.
    pub path: String,
    /// Split.
    pub split: Split,
    /// Label.
    pub label: String,
}

/// How the files of a duplicate group are alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DuplicateKind {
    /// Every file has the same bytes (same BLAKE3).
    Exact,
    /// Not all bytes are equal: the files are linked by perceptual hashes within the distance, directly or through
    /// other members (some of them may be byte-identical too).
    Near,
}

impl DuplicateKind {
    /// `byte-identical` or `near-duplicate`.
    pub fn adjective(self) -> &'static str {
        match self {
            DuplicateKind::Exact => "byte-identical",
            DuplicateKind::Near => "near-duplicate",
        }
    }
}

/// How many files of a group are in one split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitFiles {
    /// The split.
    pub split: Split,
    /// Files of the group in it.
    pub files: usize,
}

/// A group of duplicate files: a connected component of "same bytes or close perceptual hash".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateGroup {
    /// The group's id, also in `images.parquet` (`duplicate_group`); groups are numbered from 1 in the order of
    /// their first path.
    pub group: u32,
    /// Byte-identical, or near duplicates.
    pub kind: DuplicateKind,
    /// Files in the group (at least 2).
    pub files: usize,
    /// Distinct contents (BLAKE3 values) among them.
    pub distinct_contents: usize,
    /// Files per split, for the splits the group is in.
    pub splits: Vec<SplitFiles>,
    /// Whether it spans more than one split.
    pub cross_split: bool,
    /// Whether its files have more than one label.
    pub labels_differ: bool,
    /// Its labels, sorted (at most [`GROUP_EXAMPLES`]; `label_count` has them all).
    pub labels: Vec<String>,
    /// Distinct labels.
    pub label_count: usize,
    /// Some of its files: the first (by path) of each split it is in, then the next by path, at most
    /// [`GROUP_EXAMPLES`] in all, in path order. `images.parquet` lists every member.
    pub examples: Vec<FileRef>,
}

impl DuplicateGroup {
    /// "300 byte-identical images span train (100), valid (100) and test (100)", "2 near-duplicate images in
    /// train", plus the labels when they differ.
    pub fn describe(&self) -> String {
        let count = |s: &SplitFiles| format!("{} ({})", s.split, s.files);
        let place = match self.splits.as_slice() {
            [one] => format!("in {}", one.split),
            [init @ .., last] => format!(
                "span {} and {}",
                init.iter().map(count).collect::<Vec<_>>().join(", "),
                count(last)
            ),
            [] => String::new(),
        };
        let mut text = format!("{} {} images {place}", self.files, self.kind.adjective());
        if self.labels_differ {
            text.push_str(&format!(
                ", labelled {}{}",
                self.labels.join(", "),
                if self.label_count > self.labels.len() {
                    format!(" and {} more", self.label_count - self.labels.len())
                } else {
                    String::new()
                }
            ));
        }
        text
    }
}

/// A duplicate group that spans splits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leak {
    /// The group ([`DuplicateGroup::group`]).
    pub group: u32,
    /// Byte-identical, or near duplicates.
    pub kind: DuplicateKind,
    /// Files in the group.
    pub files: usize,
    /// Files per split.
    pub splits: Vec<SplitFiles>,
    /// The first file (by path) of each split.
    pub examples: Vec<FileRef>,
}

impl Report {
    /// Fills [`Report::anomalies`] from the other fields.
    pub(crate) fn compute_anomalies(&mut self) {
        let mut a = Vec::new();
        if !self.missing_splits.is_empty() {
            let names: Vec<&str> = self.missing_splits.iter().map(|s| s.as_str()).collect();
            a.push(format!("split folder missing: {}", names.join(", ")));
        }
        if !self.undecodable.is_empty() {
            a.push(format!(
                "{} undecodable file(s), kept in the index with status `error`",
                self.undecodable.len()
            ));
        }
        let skipped = self.skipped.iter().filter(|s| s.reason != "hidden").count();
        if skipped > 0 {
            a.push(format!("{skipped} file(s) or folder(s) skipped"));
        }
        for m in &self.label_merges {
            a.push(format!("label {:?} merged from {}", m.label, spellings(m)));
        }
        for m in &self.unmerged_label_variants {
            a.push(format!(
                "labels {} differ only in whitespace, case or Unicode normalisation and were NOT merged (normalize_labels is off)",
                spellings(m)
            ));
        }
        let empty: Vec<&str> = self
            .classes
            .iter()
            .filter(|c| c.train + c.valid + c.test == 0)
            .map(|c| c.label.as_str())
            .collect();
        if !empty.is_empty() {
            a.push(format!(
                "class(es) with no decodable image: {}",
                empty.join(", ")
            ));
        }
        for m in &self.classes_missing_from_splits {
            a.push(format!(
                "{} class(es) have no decodable image in {}",
                m.labels.len(),
                m.split
            ));
        }
        if let Some(csv) = &self.csv {
            // A broken quote loses the rows after it: each gets its own line, named `FILE:LINE`.
            let name = std::path::Path::new(&csv.file)
                .file_name()
                .map_or(csv.file.clone(), |n| n.to_string_lossy().into_owned());
            for r in csv
                .refused
                .iter()
                .filter(|r| r.problem == CsvProblem::Quote)
            {
                a.push(format!("{name}:{}: {}", r.line, r.reason));
            }
            let counts = [
                (csv.refused.len(), "CSV row(s) refused"),
                (csv.rows_without_files.len(), "CSV row(s) without a file"),
                (csv.files_without_rows.len(), "file(s) without a CSV row"),
                (
                    csv.label_disagreements.len(),
                    "CSV label(s) disagreeing with the folder",
                ),
                (
                    csv.split_disagreements.len(),
                    "CSV `data set` value(s) disagreeing with the folder",
                ),
            ];
            for (n, what) in counts {
                if n > 0 {
                    a.push(format!("{n} {what}"));
                }
            }
        }
        let (mut exact, mut exact_files, mut near, mut near_files) = (0, 0, 0, 0);
        for g in self.duplicate_groups.iter().filter(|g| !g.cross_split) {
            match g.kind {
                DuplicateKind::Exact => (exact, exact_files) = (exact + 1, exact_files + g.files),
                DuplicateKind::Near => (near, near_files) = (near + 1, near_files + g.files),
            }
        }
        if exact > 0 {
            a.push(format!(
                "{exact} group(s) of byte-identical images within a split ({exact_files} files)"
            ));
        }
        if near > 0 {
            a.push(format!(
                "{near} group(s) of near-duplicate images within a split ({near_files} files)"
            ));
        }
        let leaking: Vec<&DuplicateGroup> = self
            .duplicate_groups
            .iter()
            .filter(|g| g.cross_split)
            .collect();
        for g in leaking.iter().take(ANOMALY_LEAK_LINES) {
            a.push(format!(
                "leakage: {} (duplicate group {})",
                g.describe(),
                g.group
            ));
        }
        if leaking.len() > ANOMALY_LEAK_LINES {
            let rest = &leaking[ANOMALY_LEAK_LINES..];
            a.push(format!(
                "leakage: … and {} more duplicate group(s) across splits ({} files; all in report.json)",
                rest.len(),
                rest.iter().map(|g| g.files).sum::<usize>()
            ));
        }
        self.anomalies = a;
    }

    /// The report as Markdown. Every value taken from the dataset (paths, labels, CSV values, error messages) is
    /// escaped with [`birds_core::markdown`], so it renders as text.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let w = &mut md;
        self.md_header(w);
        self.md_anomalies(w);
        self.md_splits(w);
        self.md_class_balance(w);
        self.md_image_sizes(w);
        self.md_file_lists(w);
        if let Some(csv) = &self.csv {
            md_csv(w, csv);
        }
        self.md_duplicates(w);
        md
    }

    /// The title and the bulleted overview: data root, layout, CSV, totals, birds version.
    fn md_header(&self, w: &mut String) {
        let _ = writeln!(w, "# Ingest report\n");
        let _ = writeln!(w, "- data root: {}", code(&self.root));
        let _ = writeln!(w, "- layout: {}", esc(self.layout.as_str()));
        if let Some(csv) = &self.csv {
            let _ = writeln!(
                w,
                "- CSV: {} ({} rows, header: {})",
                code(&csv.file),
                csv.rows,
                csv.header
            );
        }
        let t = self.totals;
        let _ = writeln!(
            w,
            "- {} image files indexed: {} decodable, {} not; {} skipped; {} classes",
            t.files, t.ok, t.errors, t.skipped, t.classes
        );
        let _ = writeln!(w, "- birds {}\n", esc(&self.birds_version));
    }

    /// `## Anomalies`: one bullet per anomaly, or `None.`.
    fn md_anomalies(&self, w: &mut String) {
        let _ = writeln!(w, "## Anomalies\n");
        if self.anomalies.is_empty() {
            let _ = writeln!(w, "None.\n");
        } else {
            for a in &self.anomalies {
                let _ = writeln!(w, "- {}", esc(a));
            }
            let _ = writeln!(w);
        }
    }

    /// `## Splits`: the per-split table, missing split folders last.
    fn md_splits(&self, w: &mut String) {
        let _ = writeln!(
            w,
            "## Splits\n\n| split | files | decodable | errors |\n|---|---|---|---|"
        );
        for s in &self.splits {
            let _ = writeln!(w, "| {} | {} | {} | {} |", s.split, s.files, s.ok, s.errors);
        }
        for s in &self.missing_splits {
            let _ = writeln!(w, "| {s} | folder missing | | |");
        }
        let _ = writeln!(w);
    }

    /// `## Class balance`: the imbalance table, then the classes missing from each split.
    fn md_class_balance(&self, w: &mut String) {
        let _ = writeln!(w, "## Class balance (decodable images per class)\n");
        let _ = writeln!(
            w,
            "| split | min | median | max | max/min | smallest | largest |\n|---|---|---|---|---|---|---|"
        );
        for i in &self.imbalance {
            let ratio = i.ratio.map_or("–".to_string(), |r| format!("{r:.2}"));
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} | {} | {} | {} |",
                i.split,
                i.min,
                i.median,
                i.max,
                ratio,
                esc_list(&i.smallest),
                esc_list(&i.largest)
            );
        }
        let _ = writeln!(w);
        for m in &self.classes_missing_from_splits {
            let _ = writeln!(w, "Missing from {}: {}\n", m.split, esc_list(&m.labels));
        }
    }

    /// `## Image sizes`: the size ranges, the most common sizes, formats and colour types.
    fn md_image_sizes(&self, w: &mut String) {
        let _ = writeln!(w, "## Image sizes\n");
        let s = &self.image_sizes;
        let _ = writeln!(
            w,
            "Width {}–{}, height {}–{}, {} distinct sizes; {} images differ from the most common size.\n",
            s.min_width, s.max_width, s.min_height, s.max_height, s.distinct, s.not_most_common
        );
        let _ = writeln!(w, "| size | images |\n|---|---|");
        for c in &s.most_common {
            let _ = writeln!(w, "| {}×{} | {} |", c.width, c.height, c.count);
        }
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "Formats: {}. Colour types: {}.\n",
            name_counts(&self.formats),
            name_counts(&self.color_types)
        );
    }

    /// The file and label lists: undecodable and skipped files, ignored top-level entries, merged and unmerged
    /// label spellings (each only when non-empty).
    fn md_file_lists(&self, w: &mut String) {
        section(w, "Undecodable files", &self.undecodable, |p| {
            format!(
                "{} ({}, {}): {}",
                code(&p.path),
                p.split,
                esc(&p.label),
                esc(&p.error)
            )
        });
        section(w, "Skipped", &self.skipped, |s| {
            format!("{}: {}", code(&s.path), esc(&s.reason))
        });
        if !self.ignored.is_empty() {
            let _ = writeln!(
                w,
                "Ignored at the top level (not split or label folders): {}\n",
                self.ignored
                    .iter()
                    .map(|i| code(i))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        section(w, "Merged label spellings", &self.label_merges, |m| {
            format!("{} ← {}", esc(&m.label), esc(&spellings(m)))
        });
        section(
            w,
            "Label variants not merged",
            &self.unmerged_label_variants,
            |m| format!("{} ← {}", esc(&m.label), esc(&spellings(m))),
        );
    }

    /// `## Duplicates`: how duplicates are found, then the groups across splits (leakage, or `None.`) and the
    /// groups within a split.
    fn md_duplicates(&self, w: &mut String) {
        let _ = writeln!(
            w,
            "## Duplicates\n\nByte-identical: same BLAKE3. Near-duplicate: pHash Hamming distance ≤ {} of 64 bits. \
             Files are grouped transitively (a ~ b and b ~ c put a, b and c in one group); every member's group is \
             the `duplicate_group` column of `images.parquet`.\n",
            self.params.near_duplicate_distance
        );
        let leaking: Vec<&DuplicateGroup> = self
            .duplicate_groups
            .iter()
            .filter(|g| g.cross_split)
            .collect();
        let _ = writeln!(w, "### Leakage: duplicate groups across splits\n");
        if leaking.is_empty() {
            let _ = writeln!(w, "None.\n");
        } else {
            list(w, &leaking, |g| group_line(g));
        }
        let within: Vec<&DuplicateGroup> = self
            .duplicate_groups
            .iter()
            .filter(|g| !g.cross_split)
            .collect();
        section(w, "Duplicate groups within a split", &within, |g| {
            group_line(g)
        });
    }
}

/// `## CSV versus disk`: the match count, then refused rows, rows without a file, files without a row, and label
/// and split disagreements (each only when non-empty).
fn md_csv(w: &mut String, csv: &CsvReport) {
    let _ = writeln!(w, "## CSV versus disk\n");
    let _ = writeln!(
        w,
        "{} of {} rows match an indexed file.\n",
        csv.matched, csv.rows
    );
    section(w, "Refused CSV rows", &csv.refused, |r| {
        let path = if r.path.is_empty() {
            String::new()
        } else {
            format!("{}: ", code(&r.path))
        };
        format!("line {}: {path}{}", r.line, esc(&r.reason))
    });
    section(w, "CSV rows without a file", &csv.rows_without_files, |r| {
        format!("line {}: {}", r.line, code(&r.path))
    });
    section(w, "Files without a CSV row", &csv.files_without_rows, |p| {
        code(p)
    });
    section(
        w,
        "Label disagreements",
        &csv.label_disagreements,
        disagreement_line,
    );
    section(
        w,
        "Split disagreements",
        &csv.split_disagreements,
        disagreement_line,
    );
}

/// One CSV value that disagrees with the folders: `line 20: PATH: CSV "RAVEN", folder "CROW"`.
fn disagreement_line(d: &Disagreement) -> String {
    format!(
        "line {}: {}: CSV {}, folder {}",
        d.line,
        code(&d.path),
        esc(&format!("{:?}", d.csv)),
        esc(&format!("{:?}", d.folder))
    )
}

/// One duplicate group: `group 2: 2 near-duplicate images in train: A (train), B (train)`, its example files as
/// code, with `… and N more` when the group has more files than examples.
fn group_line(g: &DuplicateGroup) -> String {
    let files: Vec<String> = g
        .examples
        .iter()
        .map(|f| format!("{} ({})", code(&f.path), f.split))
        .collect();
    let more = if g.files > g.examples.len() {
        format!(" … and {} more", g.files - g.examples.len())
    } else {
        String::new()
    };
    format!(
        "group {}: {}: {}{more}",
        g.group,
        esc(&g.describe()),
        files.join(", ")
    )
}

/// `jpeg 39, png 1`: names (escaped) with their counts.
fn name_counts(v: &[NameCount]) -> String {
    v.iter()
        .map(|n| format!("{} {}", esc(&n.name), n.count))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `text` escaped for Markdown prose and table cells.
fn esc(text: &str) -> String {
    birds_core::markdown::escape(text)
}

/// `text` as inline code when safe, else escaped text.
fn code(text: &str) -> String {
    birds_core::markdown::code(text)
}

fn esc_list(items: &[String]) -> String {
    items.iter().map(|i| esc(i)).collect::<Vec<_>>().join(", ")
}

/// `"PARAKETT  AUKLET" (2 files), "PARAKETT AUKLET" (1 files)`; a spelling not in Unicode NFC says so, since it
/// prints like its NFC twin.
fn spellings(m: &LabelVariants) -> String {
    m.spellings
        .iter()
        .map(|s| {
            let nfd = if crate::label::is_composed(&s.spelling) {
                ""
            } else {
                ", decomposed Unicode: not NFC"
            };
            format!("{:?} ({} files{nfd})", s.spelling, s.files)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A `###` section listing `items`, cut at [`MARKDOWN_LIST_LIMIT`]; nothing when `items` is empty.
fn section<T>(w: &mut String, title: &str, items: &[T], line: impl Fn(&T) -> String) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(w, "### {title} ({})\n", items.len());
    list(w, items, line);
}

/// A bulleted list of `items`, cut at [`MARKDOWN_LIST_LIMIT`].
fn list<T>(w: &mut String, items: &[T], line: impl Fn(&T) -> String) {
    for item in items.iter().take(MARKDOWN_LIST_LIMIT) {
        let _ = writeln!(w, "- {}", line(item));
    }
    if items.len() > MARKDOWN_LIST_LIMIT {
        let _ = writeln!(
            w,
            "- … and {} more (see report.json)",
            items.len() - MARKDOWN_LIST_LIMIT
        );
    }
    let _ = writeln!(w);
}
