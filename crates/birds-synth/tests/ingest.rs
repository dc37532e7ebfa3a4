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
