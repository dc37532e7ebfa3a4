//! `birds synth` end to end: the real binary writes a dataset that `birds ingest` indexes with no anomalies, refuses
//! to write into a non-empty folder, and replaces its own output with `--force`.

mod util;

use util::{Project, TestResult, text};

/// `birds synth --out OUT` for a tiny dataset (3 species, 3 / 1 / 1 images each, 48 px), then `extra`.
fn synth_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "synth",
        "--out",
        out,
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
    args
}

#[test]
fn synth_then_ingest_has_no_anomalies() -> TestResult {
    let p = Project::bare()?;
    let data = p.path("synth");
    let o = p.ok(&synth_args(&data.to_string_lossy(), &[]))?;
    assert!(
        text(&o).contains("3 species, 9 / 3 / 3 images"),
        "{}",
        text(&o)
    );
    let index = p.path("index");
    p.ok(&[
        "ingest",
        "--data",
        &data.to_string_lossy(),
        "--out",
        &index.to_string_lossy(),
        "--quiet",
    ])?;
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(index.join("report.json"))?)?;
    assert_eq!(report["anomalies"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["totals"]["classes"], 3);
    assert_eq!(report["totals"]["ok"], 15);
    Ok(())
}

#[test]
fn refuses_a_non_empty_folder_and_force_replaces_its_own() -> TestResult {
    let p = Project::bare()?;
    let foreign = p.path("photos");
    std::fs::create_dir_all(&foreign)?;
    std::fs::write(foreign.join("mine.jpg"), b"not yours")?;
    let o = p.fails_any(&synth_args(&foreign.to_string_lossy(), &["--force"]))?;
    assert!(
        text(&o).contains("photos") && text(&o).contains("not a synth dataset"),
        "{}",
        text(&o)
    );
    assert!(foreign.join("mine.jpg").is_file());

    let data = p.path("synth");
    let data_arg = data.to_string_lossy();
    p.ok(&synth_args(&data_arg, &[]))?;
    let o = p.fails_any(&synth_args(&data_arg, &["--seed", "1"]))?;
    assert!(text(&o).contains("not empty"), "{}", text(&o));
    let before = std::fs::read(data.join("train/AZURE WARBLER/001.jpg"))?;
    p.ok(&synth_args(&data_arg, &["--seed", "1", "--force"]))?;
    assert_ne!(
        std::fs::read(data.join("train/AZURE WARBLER/001.jpg"))?,
        before
    );
    let o = p.fails_any(&["synth", "--out", "x", "--classes", "0"])?;
    assert!(text(&o).contains("`classes`"), "{}", text(&o));
    Ok(())
}
