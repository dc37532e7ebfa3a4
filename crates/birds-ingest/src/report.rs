//! The audit: `report.json` (these types, serialised) and `report.md` (the same, for people).

use std::fmt::Write as _;

use birds_core::Split;
use serde::{Deserialize, Serialize};

use crate::csvfile::CsvRefused;
use crate::discover::Skipped;
use crate::params::IngestParams;

/// Lists in `report.md` longer than this are cut (`report.json` always has everything). Cross-split pairs are
/// never cut.
pub const MARKDOWN_LIST_LIMIT: usize = 200;

/// Everything ingest found out about a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// birds version that wrote the report.
    pub birds_version: String,
    /// The canonical data root.
    pub root: String,
    /// The layout used (`kaggle` or `flat`).
    pub layout: String,
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
    /// With `normalize_labels: false`: labels that differ only in whitespace or case, kept apart.
    pub unmerged_label_variants: Vec<LabelVariants>,
    /// The CSV comparison, when a CSV was read.
    pub csv: Option<CsvReport>,
    /// Groups of decodable files with identical bytes.
    pub exact_duplicates: Vec<DuplicateGroup>,
    /// Pairs of decodable files whose perceptual hashes are within `params.near_duplicate_distance` (pairs with
    /// identical bytes are in `exact_duplicates` instead).
    pub near_duplicates: Vec<NearDuplicate>,
    /// Every pair of files in different splits that are exact or near duplicates: train/test leakage.
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

/// Files with identical bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateGroup {
    /// Their BLAKE3.
    pub blake3: String,
    /// Whether they span more than one split.
    pub cross_split: bool,
    /// Whether their labels differ.
    pub labels_differ: bool,
    /// The files, by path.
    pub files: Vec<FileRef>,
}

/// Two images with close perceptual hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NearDuplicate {
    /// First file (smaller path).
    pub a: FileRef,
    /// Second file.
    pub b: FileRef,
    /// pHash Hamming distance.
    pub distance: u32,
    /// Whether the files are in different splits.
    pub cross_split: bool,
}

/// A cross-split duplicate pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leak {
    /// `exact` (same bytes) or `near` (close pHash).
    pub kind: String,
    /// First file.
    pub a: FileRef,
    /// Second file.
    pub b: FileRef,
    /// pHash Hamming distance (0 for exact).
    pub distance: u32,
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
                "labels {} differ only in whitespace or case and were NOT merged (normalize_labels is off)",
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
        if !self.exact_duplicates.is_empty() {
            let files: usize = self.exact_duplicates.iter().map(|g| g.files.len()).sum();
            a.push(format!(
                "{} group(s) of byte-identical images ({files} files)",
                self.exact_duplicates.len()
            ));
        }
        let within = self
            .near_duplicates
            .iter()
            .filter(|p| !p.cross_split)
            .count();
        if within > 0 {
            a.push(format!("{within} near-duplicate pair(s) within a split"));
        }
        if !self.leakage.is_empty() {
            a.push(format!(
                "{} duplicate pair(s) across splits (leakage)",
                self.leakage.len()
            ));
        }
        self.anomalies = a;
    }

    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let w = &mut md;
        let _ = writeln!(w, "# Ingest report\n");
        let _ = writeln!(w, "- data root: `{}`", self.root);
        let _ = writeln!(w, "- layout: {}", self.layout);
        if let Some(csv) = &self.csv {
            let _ = writeln!(
                w,
                "- CSV: `{}` ({} rows, header: {})",
                csv.file, csv.rows, csv.header
            );
        }
        let t = self.totals;
        let _ = writeln!(
            w,
            "- {} image files indexed: {} decodable, {} not; {} skipped; {} classes",
            t.files, t.ok, t.errors, t.skipped, t.classes
        );
        let _ = writeln!(w, "- birds {}\n", self.birds_version);

        let _ = writeln!(w, "## Anomalies\n");
        if self.anomalies.is_empty() {
            let _ = writeln!(w, "None.\n");
        } else {
            for a in &self.anomalies {
                let _ = writeln!(w, "- {a}");
            }
            let _ = writeln!(w);
        }

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
                i.smallest.join(", "),
                i.largest.join(", ")
            );
        }
        let _ = writeln!(w);
        for m in &self.classes_missing_from_splits {
            let _ = writeln!(w, "Missing from {}: {}\n", m.split, m.labels.join(", "));
        }

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
        let names = |v: &[NameCount]| {
            v.iter()
                .map(|n| format!("{} {}", n.name, n.count))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            w,
            "Formats: {}. Colour types: {}.\n",
            names(&self.formats),
            names(&self.color_types)
        );

        section(w, "Undecodable files", &self.undecodable, |p| {
            format!("`{}` ({}, {}): {}", p.path, p.split, p.label, p.error)
        });
        section(w, "Skipped", &self.skipped, |s| {
            format!("`{}`: {}", s.path, s.reason)
        });
        if !self.ignored.is_empty() {
            let _ = writeln!(
                w,
                "Ignored at the top level (not split or label folders): {}\n",
                self.ignored
                    .iter()
                    .map(|i| format!("`{i}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        section(w, "Merged label spellings", &self.label_merges, |m| {
            format!("{} ← {}", m.label, spellings(m))
        });
        section(
            w,
            "Label variants not merged",
            &self.unmerged_label_variants,
            |m| format!("{} ← {}", m.label, spellings(m)),
        );

        if let Some(csv) = &self.csv {
            let _ = writeln!(w, "## CSV versus disk\n");
            let _ = writeln!(
                w,
                "{} of {} rows match an indexed file.\n",
                csv.matched, csv.rows
            );
            section(w, "Refused CSV rows", &csv.refused, |r| {
                format!("line {}: `{}`: {}", r.line, r.path, r.reason)
            });
            section(w, "CSV rows without a file", &csv.rows_without_files, |r| {
                format!("line {}: `{}`", r.line, r.path)
            });
            section(w, "Files without a CSV row", &csv.files_without_rows, |p| {
                format!("`{p}`")
            });
            section(w, "Label disagreements", &csv.label_disagreements, |d| {
                format!(
                    "line {}: `{}`: CSV {:?}, folder {:?}",
                    d.line, d.path, d.csv, d.folder
                )
            });
            section(w, "Split disagreements", &csv.split_disagreements, |d| {
                format!(
                    "line {}: `{}`: CSV {:?}, folder {:?}",
                    d.line, d.path, d.csv, d.folder
                )
            });
        }

        let _ = writeln!(
            w,
            "## Duplicates\n\nNear-duplicate: pHash Hamming distance ≤ {} of 64 bits.\n",
            self.params.near_duplicate_distance
        );
        section(w, "Byte-identical groups", &self.exact_duplicates, |g| {
            let files: Vec<String> = g
                .files
                .iter()
                .map(|f| format!("`{}` ({})", f.path, f.split))
                .collect();
            format!(
                "{}{}",
                files.join(", "),
                if g.cross_split {
                    " — across splits"
                } else {
                    ""
                }
            )
        });
        let within: Vec<&NearDuplicate> = self
            .near_duplicates
            .iter()
            .filter(|p| !p.cross_split)
            .collect();
        section(w, "Near duplicates within a split", &within, |p| {
            format!("`{}` ~ `{}` (distance {})", p.a.path, p.b.path, p.distance)
        });
        let _ = writeln!(w, "### Leakage: duplicates across splits\n");
        if self.leakage.is_empty() {
            let _ = writeln!(w, "None.\n");
        } else {
            let _ = writeln!(
                w,
                "| kind | distance | file | split | file | split |\n|---|---|---|---|---|---|"
            );
            for l in &self.leakage {
                let _ = writeln!(
                    w,
                    "| {} | {} | `{}` | {} | `{}` | {} |",
                    l.kind, l.distance, l.a.path, l.a.split, l.b.path, l.b.split
                );
            }
            let _ = writeln!(w);
        }
        md
    }
}

fn spellings(m: &LabelVariants) -> String {
    m.spellings
        .iter()
        .map(|s| format!("{:?} ({} files)", s.spelling, s.files))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A `###` section listing `items`, cut at [`MARKDOWN_LIST_LIMIT`]; nothing when `items` is empty.
fn section<T>(w: &mut String, title: &str, items: &[T], line: impl Fn(&T) -> String) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(w, "### {title} ({})\n", items.len());
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
