//! `report.md` pinned in full: [`Report::to_markdown`] of two hand-built reports (one touching every section and
//! branch, one clean and without a CSV) must equal the text in `tests/fixtures/`, which was produced by the
//! original, unsplit `to_markdown`. A changed heading, table, list or escape shows up as a diff here.

use birds_core::Split;
use birds_ingest::IngestParams;
use birds_ingest::csvfile::{CsvProblem, CsvRefused};
use birds_ingest::discover::Skipped;
use birds_ingest::report::{
    ClassCount, CsvLine, CsvReport, Disagreement, DuplicateGroup, DuplicateKind, FileProblem,
    FileRef, Imbalance, LabelVariants, Leak, MissingClasses, NameCount, Report, SizeCount,
    SizeStats, Spelling, SplitCount, SplitFiles, Totals,
};

/// A [`FileRef`].
fn file(path: &str, split: Split, label: &str) -> FileRef {
    FileRef {
        path: path.into(),
        split,
        label: label.into(),
    }
}

/// A report with something in every section: anomalies, a missing split, imbalance with and without a ratio,
/// classes missing from a split, undecodable and skipped files, ignored entries, merged and unmerged label
/// variants (one spelling not NFC), a CSV with every kind of problem, and duplicate groups across and within
/// splits (one with more members than examples, one with differing labels). Values carry Markdown
/// metacharacters (`|`, `*`, `<`, backticks) so escaping is pinned too.
fn full_report() -> Report {
    let class = |class_id, label: &str, train, valid, test, errors| ClassCount {
        class_id,
        label: label.into(),
        scientific_name: None,
        train,
        valid,
        test,
        errors,
    };
    let cross = DuplicateGroup {
        group: 1,
        kind: DuplicateKind::Exact,
        files: 7,
        distinct_contents: 1,
        splits: vec![
            SplitFiles {
                split: Split::Train,
                files: 5,
            },
            SplitFiles {
                split: Split::Test,
                files: 2,
            },
        ],
        cross_split: true,
        labels_differ: true,
        labels: vec!["ALBATROSS".into(), "BLUE | JAY".into()],
        label_count: 3,
        examples: vec![
            file("test/ALBATROSS/1.jpg", Split::Test, "ALBATROSS"),
            file("train/ALBATROSS/1.jpg", Split::Train, "ALBATROSS"),
            file("train/BLUE | JAY/`odd`.jpg", Split::Train, "BLUE | JAY"),
        ],
    };
    let within = DuplicateGroup {
        group: 2,
        kind: DuplicateKind::Near,
        files: 2,
        distinct_contents: 2,
        splits: vec![SplitFiles {
            split: Split::Train,
            files: 2,
        }],
        cross_split: false,
        labels_differ: false,
        labels: vec!["CROW".into()],
        label_count: 1,
        examples: vec![
            file("train/CROW/a.jpg", Split::Train, "CROW"),
            file("train/CROW/b.jpg", Split::Train, "CROW"),
        ],
    };
    let mut report = Report {
        birds_version: "0.1.0-test".into(),
        root: "/data/birds <root>".into(),
        layout: birds_ingest::params::Layout::Kaggle,
        params: IngestParams::default(),
        anomalies: Vec::new(),
        totals: Totals {
            files: 42,
            ok: 40,
            errors: 2,
            skipped: 3,
            classes: 4,
        },
        splits: vec![
            SplitCount {
                split: Split::Train,
                files: 30,
                ok: 29,
                errors: 1,
            },
            SplitCount {
                split: Split::Test,
                files: 12,
                ok: 11,
                errors: 1,
            },
        ],
        missing_splits: vec![Split::Valid],
        classes: vec![
            class(0, "ALBATROSS", 10, 0, 4, 1),
            class(1, "BLUE | JAY", 9, 0, 4, 0),
            class(2, "CROW", 10, 0, 3, 1),
            class(3, "EMPTY *BIRD*", 0, 0, 0, 0),
        ],
        imbalance: vec![
            Imbalance {
                split: Split::Train,
                min: 0,
                median: 9.5,
                max: 10,
                ratio: None,
                smallest: vec!["EMPTY *BIRD*".into()],
                largest: vec!["ALBATROSS".into(), "CROW".into()],
            },
            Imbalance {
                split: Split::Test,
                min: 3,
                median: 4.0,
                max: 4,
                ratio: Some(4.0 / 3.0),
                smallest: vec!["CROW".into()],
                largest: vec!["ALBATROSS".into(), "BLUE | JAY".into()],
            },
        ],
        classes_missing_from_splits: vec![MissingClasses {
            split: Split::Test,
            labels: vec!["EMPTY *BIRD*".into()],
        }],
        image_sizes: SizeStats {
            min_width: 100,
            max_width: 640,
            min_height: 80,
            max_height: 480,
            distinct: 3,
            most_common: vec![
                SizeCount {
                    width: 224,
                    height: 224,
                    count: 37,
                },
                SizeCount {
                    width: 640,
                    height: 480,
                    count: 2,
                },
                SizeCount {
                    width: 100,
                    height: 80,
                    count: 1,
                },
            ],
            not_most_common: 3,
        },
        color_types: vec![
            NameCount {
                name: "rgb8".into(),
                count: 38,
            },
            NameCount {
                name: "l8".into(),
                count: 2,
            },
        ],
        formats: vec![
            NameCount {
                name: "jpeg".into(),
                count: 39,
            },
            NameCount {
                name: "png".into(),
                count: 1,
            },
        ],
        undecodable: vec![
            FileProblem {
                path: "train/CROW/broken.jpg".into(),
                split: Split::Train,
                label: "CROW".into(),
                error: "truncated <JPEG> stream".into(),
            },
            FileProblem {
                path: "test/ALBATROSS/empty.jpg".into(),
                split: Split::Test,
                label: "ALBATROSS".into(),
                error: "zero bytes".into(),
            },
        ],
        skipped: vec![
            Skipped {
                path: "train/CROW/notes.txt".into(),
                reason: "not an image".into(),
            },
            Skipped {
                path: "train/.DS_Store".into(),
                reason: "hidden".into(),
            },
            Skipped {
                path: "train/loop".into(),
                reason: "symlink loop".into(),
            },
        ],
        ignored: vec!["README.md".into(), "models".into()],
        label_merges: vec![LabelVariants {
            label: "BLUE | JAY".into(),
            spellings: vec![
                Spelling {
                    spelling: "BLUE | JAY".into(),
                    files: 12,
                    splits: vec![Split::Train, Split::Test],
                },
                Spelling {
                    spelling: "blue |  jay".into(),
                    files: 1,
                    splits: vec![Split::Train],
                },
            ],
        }],
        unmerged_label_variants: vec![LabelVariants {
            label: "CAF\u{c9}".into(),
            spellings: vec![
                Spelling {
                    spelling: "CAF\u{c9}".into(),
                    files: 2,
                    splits: vec![Split::Train],
                },
                Spelling {
                    spelling: "CAFE\u{301}".into(),
                    files: 1,
                    splits: vec![Split::Test],
                },
            ],
        }],
        csv: Some(CsvReport {
            file: "/data/birds <root>/birds.csv".into(),
            header: true,
            rows: 45,
            matched: 38,
            refused: vec![
                CsvRefused {
                    line: 7,
                    path: "../escape.jpg".into(),
                    problem: CsvProblem::Path,
                    reason: "climbs out of the data root".into(),
                },
                CsvRefused {
                    line: 9,
                    path: String::new(),
                    problem: CsvProblem::Quote,
                    reason: "unterminated \" swallowed the lines after it".into(),
                },
            ],
            rows_without_files: vec![CsvLine {
                line: 12,
                path: "train/GHOST/1.jpg".into(),
            }],
            files_without_rows: vec!["train/CROW/b.jpg".into(), "test/CROW/`tick`.jpg".into()],
            label_disagreements: vec![Disagreement {
                line: 20,
                path: "train/CROW/a.jpg".into(),
                csv: "RAVEN".into(),
                folder: "CROW".into(),
            }],
            split_disagreements: vec![Disagreement {
                line: 21,
                path: "test/ALBATROSS/1.jpg".into(),
                csv: "valid".into(),
                folder: "test".into(),
            }],
        }),
        leakage: vec![Leak {
            group: cross.group,
            kind: cross.kind,
            files: cross.files,
            splits: cross.splits.clone(),
            examples: cross.examples[..2].to_vec(),
        }],
        duplicate_groups: vec![cross, within],
    };
    // The anomalies as ingest computes them (`compute_anomalies` is crate-private), plus one with metacharacters.
    report.anomalies = vec![
        "split folder missing: valid".into(),
        "2 undecodable file(s), kept in the index with status `error`".into(),
        "leakage: a | b <i>c</i> (duplicate group 1)".into(),
    ];
    report
}

/// A clean report without a CSV: no anomalies, no leakage, every optional section absent.
fn clean_report() -> Report {
    Report {
        birds_version: "0.1.0-test".into(),
        root: "/data/clean".into(),
        layout: birds_ingest::params::Layout::Flat,
        params: IngestParams::default(),
        anomalies: Vec::new(),
        totals: Totals {
            files: 4,
            ok: 4,
            errors: 0,
            skipped: 0,
            classes: 2,
        },
        splits: vec![SplitCount {
            split: Split::Train,
            files: 4,
            ok: 4,
            errors: 0,
        }],
        missing_splits: Vec::new(),
        classes: Vec::new(),
        imbalance: Vec::new(),
        classes_missing_from_splits: Vec::new(),
        image_sizes: SizeStats::default(),
        color_types: Vec::new(),
        formats: Vec::new(),
        undecodable: Vec::new(),
        skipped: Vec::new(),
        ignored: Vec::new(),
        label_merges: Vec::new(),
        unmerged_label_variants: Vec::new(),
        csv: None,
        duplicate_groups: Vec::new(),
        leakage: Vec::new(),
    }
}

#[test]
fn full_report_markdown_is_pinned() {
    assert_eq!(
        full_report().to_markdown(),
        include_str!("fixtures/report_full.md")
    );
}

#[test]
fn clean_report_markdown_is_pinned() {
    assert_eq!(
        clean_report().to_markdown(),
        include_str!("fixtures/report_clean.md")
    );
}
