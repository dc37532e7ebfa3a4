//! A complete set of stage outputs for the report, written by the stages' own writers where they exist (ingest,
//! train summary and history, evaluate) and, for explain, a `cams.parquet` checked against its schema. Class names
//! include HTML on purpose.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};

use birds_core::Split;
use birds_core::schema::explain::CAMS;
use birds_evaluate::metrics::Scores;
use birds_evaluate::report::{Evaluation, ImageInfo, SplitCounts};
use birds_evaluate::run::{RunInfo, write_outputs};
use birds_report::Inputs;
use birds_train::history::{HistoryRow, write_history};
use birds_train::summary::{StopReason, Summary};
use image::{Rgb, RgbImage};
use polars::prelude::*;

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// The hostile label used by the evaluate and explain fixtures.
pub const SCRIPT_LABEL: &str = "<script>alert(1)</script>";
/// A hostile folder name (a label in the ingest fixture; `/` cannot be in a folder name).
pub const IMG_FOLDER: &str = "<img src=x onerror=alert(2)>";
/// The fixture's classes, in class-id order.
pub const CLASSES: [&str; 3] = [SCRIPT_LABEL, "CEDAR WAXWING", "MALLARD DUCK"];
/// Folder of each class in the fixture data.
pub const FOLDERS: [&str; 3] = [IMG_FOLDER, "CEDAR WAXWING", "MALLARD DUCK"];
/// Images per class in valid and in test.
pub const PER_SPLIT: usize = 4;

/// A distinct picture per (class, split, index): a coloured disc on a striped background.
fn picture(class: usize, split: usize, index: usize) -> RgbImage {
    let colours = [[200u8, 40, 40], [40, 160, 60], [40, 70, 200]];
    let c = colours[class];
    let (cx, cy) = (20.0 + 6.0 * index as f32, 22.0 + 5.0 * split as f32);
    RgbImage::from_fn(64, 64, |x, y| {
        let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
        if d < 12.0 + index as f32 {
            Rgb(c)
        } else if (x / (4 + index as u32) + y / 7).is_multiple_of(2) {
            Rgb([230, 220, 200])
        } else {
            Rgb([90 + 20 * split as u8, 90, 120])
        }
    })
}

/// Writes the dataset under `root/data` and returns the data root.
pub fn write_data(root: &Path) -> TestResult<PathBuf> {
    let data = root.join("data");
    for (s, split) in ["train", "valid", "test"].iter().enumerate() {
        let n = if s == 0 { 6 } else { PER_SPLIT };
        for (c, folder) in FOLDERS.iter().enumerate() {
            let dir = data.join(split).join(folder);
            std::fs::create_dir_all(&dir)?;
            for i in 0..n {
                picture(c, s, i).save(dir.join(format!("{i}.png")))?;
            }
        }
    }
    Ok(data)
}

fn history(mode: &str, epochs: u32, start: f64, end: f64) -> Vec<HistoryRow> {
    let mut rows = Vec::new();
    for e in 1..=epochs {
        let t = f64::from(e) / f64::from(epochs);
        let acc = start + (end - start) * t;
        for (split, off) in [("train", 0.05), ("valid", 0.0)] {
            rows.push(HistoryRow {
                epoch: e,
                split: split.into(),
                phase: if mode == "fine-tune" && e == 1 {
                    "head-warmup".into()
                } else {
                    mode.into()
                },
                loss: 1.1 * (1.0 - acc) + off,
                accuracy: (acc + off).min(1.0),
                lr: 1e-3,
                images_per_s: 50.0,
                seconds: 2.0,
            });
        }
    }
    rows
}

fn summary(mode: &str, model: &str, epochs: u32, val: f64, test: f64, wall: f64) -> Summary {
    Summary {
        mode: mode.into(),
        model: model.into(),
        epochs,
        stopped: StopReason::Completed,
        wall_time_s: wall,
        train_images_per_s: 40.0,
        train_images: 720,
        best_epoch: epochs,
        best_phase: None,
        best_val_accuracy: val,
        best_val_loss: 1.0 - val,
        test_accuracy: Some(test),
        test_loss: Some(1.0 - test),
        images: [18, 12, 12],
        classes: 3,
        trainable_params: 3843,
        device: "cpu".into(),
        threads: 2,
        feature_cache_hit: None,
        feature_seconds: None,
        checkpoint_blake3: None,
    }
}

/// Three training runs.
pub fn write_runs(root: &Path) -> TestResult<Vec<(String, PathBuf)>> {
    let specs = [
        (
            "train-feature-extract",
            "feature-extract",
            "efficientnet-lite0",
            3,
            0.2,
            0.811,
            0.833,
            30.0,
        ),
        (
            "train-fine-tune",
            "fine-tune",
            "efficientnet-lite0",
            4,
            0.3,
            0.917,
            0.875,
            95.0,
        ),
        (
            "train-scratch",
            "scratch",
            "small-cnn(batch-norm, width 32)",
            4,
            0.1,
            0.456,
            0.417,
            40.0,
        ),
    ];
    let mut runs = Vec::new();
    for (i, (name, mode, model, epochs, start, val, test, wall)) in specs.into_iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir)?;
        summary(mode, model, epochs, val, test, wall).write(&dir)?;
        write_history(
            &dir.join("history.parquet"),
            &history(mode, epochs, start, val),
        )?;
        runs.push((format!("run{}", i + 1), dir));
    }
    Ok(runs)
}

/// True class of evaluated image `k`, and the class it is predicted as.
pub fn fixture_prediction(k: usize) -> (u32, u32) {
    let class = (k / (2 * PER_SPLIT)) as u32;
    let i = k % (2 * PER_SPLIT);
    // Class 0 (the script label): 3 of 8 go to class 1; class 2: 1 goes to class 0; class 1 all right.
    let pred = match (class, i) {
        (0, 1) | (0, 4) | (0, 6) => 1,
        (2, 3) => 0,
        _ => class,
    };
    (class, pred)
}

/// The evaluate outputs, written by `birds_evaluate::run::write_outputs` from fixed probabilities.
pub fn write_evaluate(root: &Path, data: &Path) -> TestResult<PathBuf> {
    let dir = root.join("evaluate");
    let mut images = Vec::new();
    let mut targets = Vec::new();
    let mut probs = Vec::new();
    for (class, folder) in FOLDERS.iter().enumerate() {
        for (s, split) in [(Split::Valid, "valid"), (Split::Test, "test")] {
            for i in 0..PER_SPLIT {
                let k = images.len();
                let (t, p) = fixture_prediction(k);
                assert_eq!(t as usize, class);
                images.push(ImageInfo {
                    sample: k as u32,
                    path: format!("{split}/{folder}/{i}.png"),
                    root: data.display().to_string(),
                    split: s,
                });
                targets.push(t);
                let mut row = [0.1; 3];
                row[p as usize] = 0.7 + 0.02 * i as f64;
                let sum: f64 = row.iter().sum();
                probs.extend(row.iter().map(|v| v / sum));
            }
        }
    }
    let eval = Evaluation {
        classes: CLASSES.iter().map(|s| s.to_string()).collect(),
        images,
        scores: Scores::new(3, targets, probs)?,
        counts: SplitCounts {
            train: vec![6, 6, 6],
            valid: vec![4, 4, 4],
            test: vec![4, 4, 4],
        },
        calibration: None,
        ood: None,
        diagnosis: None,
    };
    let info = RunInfo {
        checkpoint: root.join("train-fine-tune").display().to_string(),
        cache: root.join("preprocess").display().to_string(),
        model: "efficientnet-lite0".into(),
        mode: "fine-tune".into(),
    };
    write_outputs(
        &dir,
        &eval,
        &birds_evaluate::EvaluateParams::default(),
        &info,
        &|_| None,
    )?;
    Ok(dir)
}

/// `cams.parquet` and overlays: a misclassified image with predicted and true maps, two correct ones, and a
/// `check` row without overlay.
pub fn write_explain(root: &Path, data: &Path) -> TestResult<PathBuf> {
    let dir = root.join("explain");
    std::fs::create_dir_all(dir.join("overlays"))?;
    struct Row {
        image: String,
        selection: &'static str,
        label: &'static str,
        predicted: &'static str,
        correct: bool,
        target_kind: &'static str,
        target: &'static str,
        target_id: u32,
        overlay: Option<String>,
    }
    let mut rows = Vec::new();
    let wrong = format!("valid/{IMG_FOLDER}/1.png");
    for (kind, target, id) in [("predicted", CLASSES[1], 1), ("true", CLASSES[0], 0)] {
        rows.push(Row {
            image: wrong.clone(),
            selection: "weak-misclassified",
            label: CLASSES[0],
            predicted: CLASSES[1],
            correct: false,
            target_kind: kind,
            target,
            target_id: id,
            overlay: Some(format!("overlays/wrong-{kind}.png")),
        });
    }
    for (i, c) in [(0usize, 0usize), (2, 2)] {
        rows.push(Row {
            image: format!("test/{}/{i}.png", FOLDERS[c]),
            selection: "weak-correct",
            label: CLASSES[c],
            predicted: CLASSES[c],
            correct: true,
            target_kind: "predicted",
            target: CLASSES[c],
            target_id: c as u32,
            overlay: Some(format!("overlays/correct-{c}.png")),
        });
    }
    rows.push(Row {
        image: format!("test/{}/3.png", FOLDERS[1]),
        selection: "check",
        label: CLASSES[1],
        predicted: CLASSES[1],
        correct: true,
        target_kind: "predicted",
        target: CLASSES[1],
        target_id: 1,
        overlay: None,
    });
    for r in &rows {
        if let Some(o) = &r.overlay {
            let mut img = image::open(data.join(&r.image))?.to_rgb8();
            for p in img.pixels_mut() {
                p[0] = p[0].saturating_add(60);
            }
            img.save(dir.join(o))?;
        }
    }
    let n = rows.len();
    let s = |f: &dyn Fn(&Row) -> String| rows.iter().map(f).collect::<Vec<String>>();
    let f64s = |v: f64| vec![v; n];
    let u32s = |v: u32| vec![v; n];
    let columns = vec![
        Column::new("image".into(), s(&|r| r.image.clone())),
        Column::new(
            "split".into(),
            rows.iter()
                .map(|r| r.image.split('/').next().map(str::to_string))
                .collect::<Vec<_>>(),
        ),
        Column::new("selection".into(), s(&|r| r.selection.into())),
        Column::new(
            "in_check".into(),
            rows.iter().map(|r| r.correct).collect::<Vec<bool>>(),
        ),
        Column::new(
            "label".into(),
            rows.iter()
                .map(|r| Some(r.label.to_string()))
                .collect::<Vec<_>>(),
        ),
        Column::new("predicted".into(), s(&|r| r.predicted.into())),
        Column::new("predicted_prob".into(), f64s(0.72)),
        Column::new(
            "correct".into(),
            rows.iter().map(|r| Some(r.correct)).collect::<Vec<_>>(),
        ),
        Column::new("method".into(), vec!["grad-cam"; n]),
        Column::new("layer".into(), vec!["features"; n]),
        Column::new("target_kind".into(), s(&|r| r.target_kind.into())),
        Column::new("target".into(), s(&|r| r.target.into())),
        Column::new(
            "target_id".into(),
            rows.iter().map(|r| r.target_id).collect::<Vec<u32>>(),
        ),
        Column::new(
            "target_prob".into(),
            rows.iter()
                .map(|r| if r.target_kind == "true" { 0.08 } else { 0.72 })
                .collect::<Vec<f64>>(),
        ),
        Column::new("target_logit".into(), f64s(2.5)),
        Column::new("map_width".into(), u32s(2)),
        Column::new("map_height".into(), u32s(2)),
        Column::new("raw_max".into(), f64s(1.5)),
        Column::new("peak_x".into(), u32s(20)),
        Column::new("peak_y".into(), u32s(22)),
        Column::new("mean".into(), f64s(0.3)),
        Column::new("top20_share".into(), f64s(0.5)),
        Column::new("entropy".into(), f64s(0.8)),
        Column::new("energy_in_mask".into(), vec![Some(0.61); n]),
        Column::new("mask_area".into(), vec![Some(0.12); n]),
        Column::new(
            "pointing_hit".into(),
            vec![Some(true), Some(false), Some(true), Some(true), Some(true)],
        ),
        Column::new("drop_cam".into(), vec![Some(0.42); n]),
        Column::new("drop_random".into(), vec![Some(0.05); n]),
        Column::new("drop_blobs".into(), vec![Some(0.11); n]),
        Column::new(
            "overlay".into(),
            rows.iter().map(|r| r.overlay.clone()).collect::<Vec<_>>(),
        ),
    ];
    let mut df = DataFrame::new(n, columns)?;
    birds_evaluate::write::check_schema(&df, &CAMS)?;
    ParquetWriter::new(File::create(dir.join(CAMS.file))?).finish(&mut df)?;
    // The figures part of the stage's metrics.json (the stage writes more keys; the report ignores them).
    let metrics = serde_json::json!({
        "checkpoint": "train-fine-tune",
        "localisation": {"grad-cam": {"images": 40, "energy_in_mask": 0.55, "mask_area": 0.2,
            "energy_ratio": 2.75, "pointing_game": 0.925, "above_chance": 0.9}},
        "deletion": {"grad-cam": {"images": 40, "p_original": 0.8, "drop_cam": 0.3, "drop_random": 0.04,
            "drop_blobs": 0.1, "cam_beats_random": 0.9, "cam_beats_blobs": 0.8}},
        "params": {"deletion_fraction": 0.2}
    });
    std::fs::write(
        dir.join("metrics.json"),
        serde_json::to_string_pretty(&metrics)?,
    )?;
    Ok(dir)
}

/// Every input, written under `root`.
pub fn write_all(root: &Path) -> TestResult<Inputs> {
    let data = write_data(root)?;
    let ingest = root.join("ingest");
    birds_ingest::ingest(&data, &ingest, &birds_ingest::IngestParams::default())?;
    Ok(Inputs {
        synth: None,
        ingest: Some(ingest),
        preprocess: None,
        runs: write_runs(root)?,
        evaluate: Some(write_evaluate(root, &data)?),
        explain: Some(write_explain(root, &data)?),
        diagnose: None,
    })
}
