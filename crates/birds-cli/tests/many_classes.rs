//! Many classes at a small size (issue 16): the full-size pipeline's shape — synth with BIRDS 525's quirks → ingest →
//! preprocess → feature-extract → evaluate → report — on 300 species × (3 train + 1 valid + 1 test) images at 48 px,
//! so that per-class code that is linear or quadratic in the number of classes stays covered in CI. Also checks
//! that `pipelines/full.yaml` validates and that its dataset stage asks for `birds synth --preset full`.

mod util;

use std::path::{Path, PathBuf};

use polars::prelude::{ParquetReader, SerReader};
use util::{Project, TestResult, text};

const CLASSES: usize = 300;

const PIPELINE: &str = r#"
stages:
  - name: synth
    uses: synth
    params: { classes: 300, train: 3, valid: 1, test: 1, size: 48, seed: 1, label_quirk: true, near_duplicates: 3, odd_sizes: 2 }
  - name: ingest
    uses: ingest
    deps: { data: synth }
    params: { normalize_labels: true, near_duplicate_distance: 4 }
  - name: preprocess
    uses: preprocess
    deps: { index: ingest }
    params: { size: 32, shard_images: 512 }
  - name: train-feature-extract
    uses: train
    deps: { cache: preprocess }
    params: { mode: feature-extract, epochs: 1, batch_size: 256, eval_batch_size: 256, seed: 42 }
  - name: evaluate
    uses: evaluate
    deps: { checkpoint: train-feature-extract, cache: preprocess, index: ingest }
    params: { splits: [valid, test], batch_size: 256, confusion_classes: 40 }
  - name: report
    uses: report
    deps: { ingest: ingest, preprocess: preprocess, run1: train-feature-extract, evaluate: evaluate }
    params: { title: "many classes" }
"#;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A temporary project; every command runs there with `BIRDS_THREADS=2`.
fn project() -> TestResult<Project> {
    Ok(Project::new()?.with_env("BIRDS_THREADS", "2"))
}

/// Runs `birds ARGS`, which must succeed, and returns its stdout then stderr.
fn ok(p: &Project, args: &[&str]) -> TestResult<String> {
    Ok(text(&p.ok(args)?))
}

fn rows(path: &Path) -> TestResult<usize> {
    let df = ParquetReader::new(std::fs::File::open(path)?).finish()?;
    Ok(df.height())
}

#[test]
fn three_hundred_classes_end_to_end() -> TestResult {
    let p = project()?;
    p.write("pipelines/many.yaml", PIPELINE)?;
    let log = ok(&p, &["run", "many"])?;
    let art = p.path("artifacts/many");

    // Ingest: 300 classes, the quirk merged, the CSV disagreement and the near-duplicates reported.
    assert_eq!(rows(&art.join("ingest/classes.parquet"))?, CLASSES, "{log}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(art.join("ingest/report.json"))?)?;
    assert_eq!(report["label_merges"].as_array().map(Vec::len), Some(1));
    assert!(
        report["csv"]["label_disagreements"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    assert!(report["leakage"].as_array().is_some_and(|a| a.len() >= 3));
    assert_eq!(report["image_sizes"]["not_most_common"].as_u64(), Some(2));

    // Training saw 300 classes; evaluate has one per-class row per class.
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        art.join("train-feature-extract/summary.json"),
    )?)?;
    assert_eq!(summary["classes"].as_u64(), Some(CLASSES as u64));
    assert_eq!(rows(&art.join("evaluate/per_class.parquet"))?, CLASSES);
    assert_eq!(
        rows(&art.join("evaluate/predictions.parquet"))?,
        2 * CLASSES
    );

    // The report names every class in its per-class table.
    let html = std::fs::read_to_string(art.join("report/index.html"))?;
    let species = birds_synth::species::species(CLASSES).ok_or("species")?;
    let missing: Vec<&str> = species
        .iter()
        .map(|s| s.label.as_str())
        .filter(|l| !html.contains(l))
        .collect();
    assert!(
        missing.is_empty(),
        "{} labels missing from the report: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    Ok(())
}

#[test]
fn full_pipeline_validates_and_draws_the_full_preset() -> TestResult {
    let p = project()?;
    std::fs::copy(
        workspace().join("pipelines/full.yaml"),
        p.path("pipelines/full.yaml"),
    )?;
    let dag = ok(&p, &["dag", "full"])?;
    for stage in [
        "dataset",
        "ingest",
        "preprocess",
        "train-feature-extract",
        "train-fine-tune",
        "train-scratch",
        "evaluate",
        "explain",
        "report",
    ] {
        assert!(dag.contains(stage), "{stage} not in:\n{dag}");
    }
    let status = ok(&p, &["status", "full", "--json"])?;
    let status: serde_json::Value = serde_json::from_str(&status)?;
    assert_eq!(status["stages"].as_array().map(Vec::len), Some(10));
    let text = std::fs::read_to_string(p.path("pipelines/full.yaml"))?;
    assert!(text.contains(r#"synth: "--preset full""#));
    // A real download: pointing the root elsewhere and emptying `synth` validates too.
    p.ok(&[
        "run",
        "full",
        "--dry-run",
        "--set",
        "dataset.root=/nonexistent/birds525",
        "--set",
        "dataset.synth=''",
    ])?;
    Ok(())
}
