//! A synth dataset is a clean dataset to ingest; with `defects` each planted case is reported.

use birds_ingest::{IngestParams, ingest};
use birds_synth::{SynthParams, generate};

type R = Result<(), Box<dyn std::error::Error>>;

fn params(defects: bool) -> SynthParams {
    SynthParams {
        classes: 5,
        train: 4,
        valid: 2,
        test: 2,
        size: 64,
        seed: 11,
        defects,
    }
}

#[test]
fn ingest_finds_no_anomalies_in_a_clean_dataset() -> R {
    let data = tempfile::tempdir()?;
    let out = tempfile::tempdir()?;
    let summary = generate(&params(false), data.path())?;
    let report = ingest(data.path(), out.path(), &IngestParams::default())?.report;
    assert!(report.anomalies.is_empty(), "{:#?}", report.anomalies);
    assert_eq!(report.totals.classes, 5);
    assert_eq!(report.totals.ok, summary.total());
    assert_eq!(report.totals.errors, 0);
    let labels: Vec<&str> = report.classes.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(
        labels,
        summary
            .labels
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert!(
        report
            .classes
            .iter()
            .all(|c| (c.train, c.valid, c.test) == (4, 2, 2))
    );
    let csv = report.csv.ok_or("birds.csv not read")?;
    assert_eq!(csv.matched, summary.total());
    assert!(report.leakage.is_empty() && report.duplicate_groups.is_empty());
    Ok(())
}

#[test]
fn ingest_reports_every_planted_defect() -> R {
    let data = tempfile::tempdir()?;
    let out = tempfile::tempdir()?;
    let summary = generate(&params(true), data.path())?;
    let report = ingest(data.path(), out.path(), &IngestParams::default())?.report;
    let [spelling, dup, truncated] = [0, 1, 2].map(|k| &summary.defects[k]);
    // Two spellings of one label, merged into one class.
    assert_eq!(report.totals.classes, 5);
    assert_eq!(report.label_merges.len(), 1, "{:#?}", report.label_merges);
    let spellings: Vec<&str> = report.label_merges[0]
        .spellings
        .iter()
        .map(|s| s.spelling.as_str())
        .collect();
    assert!(
        spellings.iter().any(|s| s.contains("  ")),
        "{spellings:?} ({})",
        spelling.note
    );
    // The near-duplicate crosses splits.
    let (a, b) = (&dup.paths[0], &dup.paths[1]);
    assert!(
        report.leakage.iter().any(|l| [a, b]
            .iter()
            .all(|p| l.examples.iter().any(|f| &&f.path == p))),
        "{:#?}",
        report.leakage
    );
    // The truncated JPEG is undecodable.
    assert_eq!(report.undecodable.len(), 1);
    assert_eq!(report.undecodable[0].path, truncated.paths[0]);
    assert!(!report.anomalies.is_empty());
    Ok(())
}

/// The BIRDS 525 shape at a small size: uneven train counts, odd sizes, the label quirk, near-duplicates.
fn shaped() -> (SynthParams, birds_synth::DatasetShape) {
    let spec = birds_synth::SynthSpec {
        classes: 12,
        train: 3,
        train_max: 8,
        train_mean: 4,
        valid: 2,
        test: 2,
        size: 48,
        seed: 5,
        odd_sizes: 2,
        label_quirk: true,
        near_duplicates: 3,
        ..birds_synth::SynthSpec::default()
    };
    spec.parts()
}

#[test]
fn ingest_names_every_birds525_quirk() -> R {
    let data = tempfile::tempdir()?;
    let out = tempfile::tempdir()?;
    let (params, shape) = shaped();
    let summary = birds_synth::generate_shaped(&params, &shape, data.path())?;
    let kinds: Vec<&str> = summary.defects.iter().map(|d| d.kind).collect();
    for k in [
        "train_counts",
        "odd_size",
        "cross_split_near_duplicate",
        "label_quirk",
        "csv_label_misspelt",
    ] {
        assert!(kinds.contains(&k), "{k} not in {kinds:?}");
    }
    let ingest_params = IngestParams {
        normalize_labels: true,
        ..IngestParams::default()
    };
    let report = ingest(data.path(), out.path(), &ingest_params)?.report;
    // The label quirk: two spellings merged into one class, and birds.csv disagreeing with the folders.
    assert_eq!(report.totals.classes, 12);
    assert_eq!(report.label_merges.len(), 1, "{:#?}", report.label_merges);
    let csv = report.csv.as_ref().ok_or("birds.csv not read")?;
    assert!(!csv.label_disagreements.is_empty(), "{csv:#?}");
    assert!(csv.rows_without_files.is_empty() && csv.files_without_rows.is_empty());
    // Every planted near-duplicate is a cross-split pair.
    for d in summary
        .defects
        .iter()
        .filter(|d| d.kind == "cross_split_near_duplicate")
    {
        let (a, b) = (&d.paths[0], &d.paths[1]);
        assert!(
            report.leakage.iter().any(|l| [a, b]
                .iter()
                .all(|p| l.examples.iter().any(|e| &e.path == *p))),
            "{a} / {b} not in {:#?}",
            report.leakage
        );
    }
    // The odd sizes are the images that differ from the most common size.
    assert_eq!(report.image_sizes.not_most_common, 2);
    assert_eq!(report.image_sizes.max_width, 489);
    // Uneven counts: 3..=8 per class, both ends present.
    let train: Vec<u32> = report.classes.iter().map(|c| c.train).collect();
    assert_eq!(train.iter().min(), Some(&3));
    assert_eq!(train.iter().max(), Some(&8));
    assert!(report.classes.iter().all(|c| (c.valid, c.test) == (2, 2)));
    assert_eq!(report.totals.errors, 0);
    Ok(())
}
