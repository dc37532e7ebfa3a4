//! `birds synth` end to end: the real binary writes a dataset that `birds ingest` indexes with no anomalies, refuses
//! to write into a non-empty folder, and replaces its own output with `--force`.

use std::path::Path;
use std::process::{Command, Output};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn birds(args: &[&str]) -> std::io::Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_birds"))
        .args(args)
        .output()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn synth(out: &Path, extra: &[&str]) -> std::io::Result<Output> {
    let out = out.to_string_lossy();
    let mut args = vec![
        "synth",
        "--out",
        &out,
        "--classes",
        "3",
        "--train",
        "3",
        "--valid",
        "1",
        "--test",
        "1",
        "--size",
        "48",
    ];
    args.extend_from_slice(extra);
    birds(&args)
}

#[test]
fn synth_then_ingest_has_no_anomalies() -> TestResult {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("synth");
    let o = synth(&data, &[])?;
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("3 species, 9 / 3 / 3 images"),
        "{}",
        text(&o)
    );
    let index = dir.path().join("index");
    let o = birds(&[
        "ingest",
        "--data",
        &data.to_string_lossy(),
        "--out",
        &index.to_string_lossy(),
        "--quiet",
    ])?;
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(index.join("report.json"))?)?;
    assert_eq!(report["anomalies"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["totals"]["classes"], 3);
    assert_eq!(report["totals"]["ok"], 15);
    Ok(())
}

#[test]
fn refuses_a_non_empty_folder_and_force_replaces_its_own() -> TestResult {
    let dir = tempfile::tempdir()?;
    let foreign = dir.path().join("photos");
    std::fs::create_dir_all(&foreign)?;
    std::fs::write(foreign.join("mine.jpg"), b"not yours")?;
    let o = synth(&foreign, &["--force"])?;
    assert!(!o.status.success());
    assert!(
        text(&o).contains("photos") && text(&o).contains("not a synth dataset"),
        "{}",
        text(&o)
    );
    assert!(foreign.join("mine.jpg").is_file());

    let data = dir.path().join("synth");
    assert!(synth(&data, &[])?.status.success());
    let o = synth(&data, &["--seed", "1"])?;
    assert!(
        !o.status.success() && text(&o).contains("not empty"),
        "{}",
        text(&o)
    );
    let before = std::fs::read(data.join("train/AZURE WARBLER/001.jpg"))?;
    let o = synth(&data, &["--seed", "1", "--force"])?;
    assert!(o.status.success(), "{}", text(&o));
    assert_ne!(
        std::fs::read(data.join("train/AZURE WARBLER/001.jpg"))?,
        before
    );
    let o = birds(&["synth", "--out", "x", "--classes", "0"])?;
    assert!(
        !o.status.success() && text(&o).contains("`classes`"),
        "{}",
        text(&o)
    );
    Ok(())
}
