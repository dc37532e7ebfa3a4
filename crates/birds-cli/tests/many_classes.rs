//! Many classes at a small size (issue 16): the full-size pipeline's shape — synth with BIRDS 525's quirks → ingest →
//! preprocess → feature-extract → evaluate → report — on 300 species × (3 train + 1 valid + 1 test) images at 48 px,
//! so that per-class code that is linear or quadratic in the number of classes stays covered in CI. Also checks
//! that `pipelines/full.yaml` validates and that its dataset stage asks for `birds synth --preset full`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use polars::prelude::{ParquetReader, SerReader};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

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

fn birds(dir: &Path, args: &[&str]) -> TestResult<Output> {
    Ok(Command::new(env!("CARGO_BIN_EXE_birds"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("BIRDS_THREADS", "2")
        .output()?)
}

fn ok(out: Output, what: &str) -> TestResult<String> {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(format!("{what} failed:\n{text}").into());
    }
    Ok(text)
}

fn rows(path: &Path) -> TestResult<usize> {
    let df = ParquetReader::new(std::fs::File::open(path)?).finish()?;
    Ok(df.height())
}

#[test]
fn three_hundred_classes_end_to_end() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("pipelines"))?;
    std::fs::write(dir.path().join("pipelines/many.yaml"), PIPELINE)?;
    let log = ok(birds(dir.path(), &["run", "many"])?, "birds run many")?;
    let art = dir.path().join("artifacts/many");

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
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("pipelines"))?;
    std::fs::copy(
        workspace().join("pipelines/full.yaml"),
        dir.path().join("pipelines/full.yaml"),
    )?;
    let dag = ok(birds(dir.path(), &["dag", "full"])?, "birds dag full")?;
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
    let status = ok(
        birds(dir.path(), &["status", "full", "--json"])?,
        "birds status full",
    )?;
    let status: serde_json::Value = serde_json::from_str(&status)?;
    assert_eq!(status["stages"].as_array().map(Vec::len), Some(10));
    let text = std::fs::read_to_string(dir.path().join("pipelines/full.yaml"))?;
    assert!(text.contains(r#"synth: "--preset full""#));
    // A real download: pointing the root elsewhere and emptying `synth` validates too.
    ok(
        birds(
            dir.path(),
            &[
                "run",
                "full",
                "--dry-run",
                "--set",
                "dataset.root=/nonexistent/birds525",
                "--set",
                "dataset.synth=''",
            ],
        )?,
        "birds run full --dry-run --set dataset.root=…",
    )?;
    Ok(())
}
