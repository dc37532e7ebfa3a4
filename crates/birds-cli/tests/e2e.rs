//! The whole job end to end with the real binary: `pipelines/default.yaml` itself, shrunk with `--set` (3 species,
//! 64 px, 1–2 epochs), in a temporary project. Checks that the report has every section with real numbers, that a
//! second run runs nothing, that a changed training param reruns only training and what follows, and `birds predict`
//! (top-5, JSON, CAM overlay, unreadable images).

mod util;

use std::path::{Path, PathBuf};

use polars::prelude::{ParquetReader, SerReader};
use util::{Project, TestResult, text};

/// The overrides that make the default pipeline tiny.
const TINY: &[&str] = &[
    "synth.classes=3",
    "synth.train=8",
    "synth.valid=3",
    "synth.test=3",
    "synth.size=64",
    "preprocess.size=56",
    "preprocess.margin=8",
    "train-feature-extract.epochs=2",
    "train-feature-extract.batch_size=8",
    "train-fine-tune.epochs=1",
    "train-fine-tune.head_warmup_epochs=1",
    "train-fine-tune.batch_size=8",
    "train-scratch.epochs=2",
    "train-scratch.batch_size=8",
    "explain.classes=2",
    "explain.check_images=6",
    "explain.overlay_size=96",
];

/// The checkout this test was built from (the pipeline file under test is its `pipelines/default.yaml`).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A temporary project holding a copy of the real default pipeline; every command runs with `BIRDS_THREADS=2`.
fn project() -> TestResult<Project> {
    let p = Project::new()?.with_env("BIRDS_THREADS", "2");
    std::fs::copy(
        workspace().join("pipelines/default.yaml"),
        p.path("pipelines/default.yaml"),
    )?;
    Ok(p)
}

/// `ARGS --set …` for every tiny override, then `extra_sets`.
fn tiny<'a>(args: &[&'a str], extra_sets: &[&'a str]) -> Vec<&'a str> {
    let mut all: Vec<&str> = args.to_vec();
    for s in TINY.iter().chain(extra_sets) {
        all.push("--set");
        all.push(s);
    }
    all
}

/// Runs `birds ARGS`, which must succeed, and returns its stdout then stderr.
fn ok(p: &Project, args: &[&str]) -> TestResult<String> {
    Ok(text(&p.ok(args)?))
}

/// Stage names `birds run --dry-run` says would run (lines `<stage>  would run: <reasons>`).
fn would_run(dry: &str) -> Vec<String> {
    dry.lines()
        .filter(|l| l.contains("  would run: "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn tiny_default_pipeline_report_rerun_and_predict() -> TestResult {
    let p = project()?;

    // 1. The whole pipeline.
    let log = ok(&p, &tiny(&["run", "default"], &[]))?;
    let html_path = p.path("artifacts/default/report/index.html");
    let html = std::fs::read_to_string(&html_path).map_err(|e| format!("{e}: {log}"))?;
    for (id, _) in birds_report::SECTIONS {
        assert!(
            html.contains(&format!("<section id=\"{id}\">")),
            "section {id}"
        );
    }
    assert!(!html.contains("class=\"not-run\""), "every input was given");
    // Ingest found the planted defects: the truncated JPEG and the cross-split near-duplicate.
    assert!(html.contains("<span>undecodable</span>"));
    let undecodable = html.find("<span>undecodable</span>").unwrap_or(0);
    assert!(
        html[..undecodable].ends_with("<b>1</b>"),
        "one truncated file"
    );
    // Three training runs in the comparison table with real accuracies.
    for run in ["train-feature-extract", "train-fine-tune", "train-scratch"] {
        assert!(
            html.contains(&format!("<td>{run}</td>")),
            "{run} in the comparison"
        );
    }
    assert!(html.contains("class=\"verdict\""));
    let tile = html
        .find("</b><span>top-1 accuracy</span>")
        .and_then(|i| html[..i].rfind("<b>").map(|j| html[j + 3..i].to_string()))
        .unwrap_or_default();
    let value: f64 = tile
        .trim_end_matches(" %")
        .parse()
        .map_err(|e| format!("{e}: {tile:?}"))?;
    assert!((0.0..=100.0).contains(&value), "{tile}");
    // Per-class rows for the 3 species, the heatmap, pairs or "no confusions", Grad-CAM overlays inlined.
    let per_class = &html[html.find("id=\"per-class-table\"").unwrap_or(0)..];
    let per_class = &per_class[..per_class.find("</table>").unwrap_or(per_class.len())];
    assert_eq!(per_class.matches("<tr><td class=\"n\" data-v=").count(), 3);
    assert_eq!(html.matches("<rect ").count(), 9, "3×3 heatmap");
    assert!(html.contains("Most-confused pairs"));
    let gradcam = &html[html.find("<section id=\"gradcam\">").unwrap_or(0)..];
    assert!(
        gradcam.contains("data:image/jpeg;base64,"),
        "overlays inlined"
    );
    assert!(
        gradcam.contains("share of CAM energy inside the bird mask"),
        "localisation on synth masks"
    );
    assert!(html.contains("efficientnet-lite0") && html.contains("small-cnn"));

    // 2. Nothing is stale afterwards.
    let dry = ok(&p, &tiny(&["run", "default", "--dry-run"], &[]))?;
    assert!(would_run(&dry).is_empty(), "nothing to run:\n{dry}");

    // 3. A changed training param reruns only that run and what reads it.
    let dry = ok(
        &p,
        &tiny(
            &["run", "default", "--dry-run"],
            &["train-fine-tune.lr=0.002"],
        ),
    )?;
    let mut stages = would_run(&dry);
    stages.sort();
    assert_eq!(
        stages,
        [
            "compare",
            "evaluate",
            "explain",
            "report",
            "train-fine-tune"
        ],
        "{dry}"
    );

    // 4. predict: top-5 (3 classes here, so 3 lines), JSON, CAM overlay.
    let ckpt = p.path("artifacts/default/train-fine-tune");
    let image = first_image(&p.path("artifacts/default/synth/test"))?;
    let cam = p.path("cam.png");
    let out = ok(
        &p,
        &[
            "predict",
            "--checkpoint",
            &ckpt.display().to_string(),
            "--cam",
            &cam.display().to_string(),
            &image.display().to_string(),
        ],
    )?;
    assert!(
        out.contains("  1. ") && out.contains("  3. ") && out.contains(" %"),
        "{out}"
    );
    let overlay = image::open(&cam)?.to_rgb8();
    assert_eq!(overlay.width(), 320);
    assert!(overlay.height() > 320, "caption strip below the map");
    // Without --checkpoint it finds artifacts/default/train-fine-tune from the project folder.
    let out = ok(&p, &["predict", "--json", &image.display().to_string()])?;
    let line = out.lines().find(|l| l.starts_with('{')).unwrap_or("{}");
    let v: serde_json::Value = serde_json::from_str(line)?;
    let top = v["top"].as_array().cloned().unwrap_or_default();
    assert_eq!(top.len(), 3);
    let sum: f64 = top.iter().filter_map(|g| g["probability"].as_f64()).sum();
    assert!(
        (sum - 1.0).abs() < 1e-3,
        "3 classes: probabilities sum to 1, got {sum}"
    );
    // predict frames a file as evaluation framed it in the cache (56 px centre of the 64 px stored image): the same
    // top class and probability as evaluate's row for that image.
    let rel = image.strip_prefix(p.path("artifacts/default/synth"))?;
    let rel = rel.to_string_lossy().replace('\\', "/");
    let preds = ParquetReader::new(std::fs::File::open(
        p.path("artifacts/default/evaluate/predictions.parquet"),
    )?)
    .finish()?;
    let paths = preds.column("path")?.str()?.clone();
    let row = (0..preds.height())
        .find(|&i| paths.get(i) == Some(rel.as_str()))
        .ok_or_else(|| format!("{rel} not in predictions.parquet"))?;
    let eval_label = preds
        .column("pred_label")?
        .str()?
        .get(row)
        .unwrap_or_default()
        .to_string();
    let eval_conf = preds
        .column("confidence")?
        .f64()?
        .get(row)
        .unwrap_or(f64::NAN);
    assert_eq!(
        top[0]["label"].as_str(),
        Some(eval_label.as_str()),
        "{line}"
    );
    let conf = top[0]["probability"].as_f64().unwrap_or(f64::NAN);
    assert!(
        (conf - eval_conf).abs() < 1e-4,
        "predict gives {conf}, evaluate gave {eval_conf} for {rel}"
    );
    // It applied the evaluation's temperature (found beside the checkpoint) and scored the image with its detector.
    let cal: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        p.path("artifacts/default/evaluate/calibration.json"),
    )?)?;
    assert_eq!(v["calibrated"], true, "{line}");
    assert_eq!(v["temperature"], cal["temperature"], "{line}");
    assert_eq!(v["ood_threshold"], cal["ood"]["threshold"], "{line}");
    assert!(v["ood_score"].as_f64().is_some(), "{line}");
    // Every image gets the detector's verdict: in the JSON (flagged exactly when the score is above the threshold)
    // and in the text. (Whether it separates real from synthetic photos is measured, docs/evaluate.md; with this
    // tiny model's 24 training images it is no test of that.)
    let noise = p.path("noise.png");
    let mut state = 12345u32;
    image::RgbImage::from_fn(64, 64, |_, _| {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        image::Rgb([(state >> 24) as u8, (state >> 16) as u8, (state >> 8) as u8])
    })
    .save(&noise)?;
    let out = ok(&p, &["predict", "--json", &noise.display().to_string()])?;
    let line = out.lines().find(|l| l.starts_with('{')).unwrap_or("{}");
    let n: serde_json::Value = serde_json::from_str(line)?;
    let (score, threshold) = (
        n["ood_score"].as_f64().unwrap_or(f64::NAN),
        n["ood_threshold"].as_f64().unwrap_or(f64::NAN),
    );
    assert_eq!(n["ood"].as_bool(), Some(score > threshold), "{line}");
    let out = ok(&p, &["predict", &noise.display().to_string()])?;
    assert!(
        out.contains("probabilities calibrated (temperature"),
        "{out}"
    );
    let verdict = if score > threshold {
        "warning: out-of-distribution score"
    } else {
        "like the training images"
    };
    assert!(out.contains(verdict), "{out}");
    // The diagnose stage's outputs match their schemas, and evaluate's advice carries its columns.
    for schema in [
        &birds_core::schema::diagnose::LABEL_ISSUES,
        &birds_core::schema::diagnose::CLASS_DIAGNOSIS,
    ] {
        let df = ParquetReader::new(std::fs::File::open(
            p.path("artifacts/default/diagnose").join(schema.file),
        )?)
        .finish()?;
        birds_evaluate::write::check_schema(&df, schema)?;
    }
    let needs = ParquetReader::new(std::fs::File::open(
        p.path("artifacts/default/evaluate/needs_more_training.parquet"),
    )?)
    .finish()?;
    assert_eq!(
        needs.column("curve")?.null_count(),
        0,
        "every class has a curve"
    );

    // Unreadable images: a clear error naming the file, a non-zero exit, the good image still printed.
    let bad = p.path("not-an-image.jpg");
    std::fs::write(&bad, b"definitely not a jpeg")?;
    let out = p.fails_any(&[
        "predict",
        &image.display().to_string(),
        &bad.display().to_string(),
        &p.path("missing.png").display().to_string(),
    ])?;
    let t = text(&out);
    assert!(
        t.contains("not-an-image.jpg") && t.contains("missing.png"),
        "{t}"
    );
    assert!(t.contains("2 of 3 image(s) could not be read"), "{t}");
    assert!(
        t.contains("  1. "),
        "the readable image is still classified: {t}"
    );
    assert!(!t.contains("panicked"), "{t}");
    Ok(())
}

fn first_image(dir: &Path) -> TestResult<PathBuf> {
    let mut species: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    species.sort();
    let first = species.first().ok_or("no species folder")?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(first)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    files.sort();
    Ok(files.first().ok_or("no image")?.clone())
}

#[test]
fn predict_without_a_checkpoint_explains_what_to_do() -> TestResult {
    let p = Project::bare()?;
    let out = p.fails_any(&["predict", "x.jpg"])?;
    let t = text(&out);
    assert!(
        t.contains("just pipeline") && t.contains("--checkpoint"),
        "{t}"
    );
    Ok(())
}
