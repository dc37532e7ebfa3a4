//! `evaluate` on a real cache (generated images → `images.parquet` → `birds_preprocess::preprocess`) with a
//! checkpoint written through `birds_models::checkpoint` (a small CNN with random weights).

use birds_models::ArchitectureExt;
use std::fs::File;
use std::path::{Path, PathBuf};

use birds_artifacts::evaluate::CalibrationFile;
use birds_core::schema::ColumnType;
use birds_core::schema::evaluate::PREDICTIONS;
use birds_core::schema::ingest::{CLASSES, IMAGES};
use birds_core::{Normalization, Split};
use birds_evaluate::{EvaluateError, EvaluateParams, Inputs, RunOptions, Tta, evaluate};
use birds_models::Architecture;
use birds_models::checkpoint::{
    BestMetrics, CheckpointMeta, FORMAT_VERSION, MODEL_FILE, write_state_dict,
};
use birds_models::norm::NormKind;
use birds_preprocess::{Cache, PreprocessParams};
use polars::prelude::*;
use tch::{Device, Kind};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const SIZE: u32 = 16;

/// Three classes of coloured, textured images: train 3 each, valid 2 each, test 2 each except class 2 (none).
fn dataset(dir: &Path) -> Result<(PathBuf, Vec<String>), Box<dyn std::error::Error>> {
    let root = dir.join("data");
    let mut rows: Vec<(String, &str, String, u32)> = Vec::new();
    for (split, n) in [("train", 3u32), ("valid", 2), ("test", 2)] {
        for k in 0..3u32 {
            if split == "test" && k == 2 {
                continue;
            }
            for i in 0..n {
                let label = format!("CLASS {k}");
                let rel = format!("{split}/{label}/{i}.png");
                let path = root.join(&rel);
                std::fs::create_dir_all(path.parent().ok_or("no parent")?)?;
                image::RgbImage::from_fn(24, 20, |x, y| {
                    let mut c = [40u8; 3];
                    c[k as usize] = 150 + ((x * 7 + y * 3 + i * 13) % 90) as u8;
                    // Left-right asymmetry, so that a mirror image gives different logits.
                    c[(k as usize + 1) % 3] = if x < 8 { 200 } else { 30 };
                    image::Rgb(c)
                })
                .save(&path)?;
                rows.push((rel, split, label, k));
            }
        }
    }
    let n = rows.len();
    let index_dir = dir.join("ingest");
    std::fs::create_dir_all(&index_dir)?;
    let mut columns = Vec::new();
    for c in IMAGES.columns {
        let name: PlSmallStr = c.name.into();
        columns.push(match c.name {
            "path" => Column::new(name, rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>()),
            "root" => Column::new(name, vec![root.to_string_lossy().to_string(); n]),
            "split" => Column::new(name, rows.iter().map(|r| r.1).collect::<Vec<_>>()),
            "label" => Column::new(name, rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>()),
            "class_id" => Column::new(name, rows.iter().map(|r| r.3).collect::<Vec<_>>()),
            "status" => Column::new(name, vec!["ok"; n]),
            "file_bytes" => Column::new(name, vec![1000u64; n]),
            _ => match c.ty {
                ColumnType::U32 => Column::new(name, vec![None::<u32>; n]),
                ColumnType::U64 => Column::new(name, vec![None::<u64>; n]),
                ColumnType::Str => Column::new(name, vec![None::<String>; n]),
                other => return Err(format!("fixture does not know column type {other:?}").into()),
            },
        });
    }
    let mut df = DataFrame::new(n, columns)?;
    ParquetWriter::new(File::create(index_dir.join(IMAGES.file))?).finish(&mut df)?;
    let cache = dir.join("cache");
    birds_preprocess::preprocess(
        &index_dir,
        &cache,
        &PreprocessParams {
            size: SIZE,
            ..PreprocessParams::default()
        },
        birds_preprocess::RunOptions {
            progress: false,
            threads: 1,
        },
    )?;
    Ok((cache, (0..3).map(|k| format!("CLASS {k}")).collect()))
}

/// A random small CNN checkpoint for `classes` at `size` px.
fn checkpoint(
    dir: &Path,
    classes: &[String],
    size: u32,
) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let arch = Architecture::SmallCnn {
        norm: NormKind::BatchNorm,
        width: 4,
    };
    tch::manual_seed(11);
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let _net = arch.build(&vs.root(), classes.len() as i64)?;
    std::fs::create_dir_all(dir)?;
    write_state_dict(&vs, &dir.join(MODEL_FILE))?;
    CheckpointMeta {
        format: FORMAT_VERSION,
        birds_version: birds_core::VERSION.into(),
        architecture: arch,
        classes: classes.to_vec(),
        input_size: size,
        normalization: Normalization::Centered127,
        mode: "scratch".into(),
        params: serde_json::json!({}),
        best: BestMetrics {
            metric: "val_accuracy".into(),
            epoch: 1,
            val_accuracy: 0.0,
            val_loss: 0.0,
            test_accuracy: None,
            test_loss: None,
        },
        eval_view: None,
        runtime: None,
    }
    .write(dir)?;
    Ok(dir.to_path_buf())
}

fn params() -> EvaluateParams {
    EvaluateParams {
        device: birds_models::runtime::DeviceSpec::Cpu,
        batch_size: 4,
        ..EvaluateParams::default()
    }
}

fn column_f64(df: &DataFrame, name: &str) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    Ok(df.column(name)?.f64()?.into_no_null_iter().collect())
}

#[test]
fn evaluates_a_checkpoint_consistently_and_deterministically() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (cache, classes) = dataset(tmp.path())?;
    let inputs = Inputs {
        checkpoint: checkpoint(&tmp.path().join("run"), &classes, SIZE)?,
        cache: cache.clone(),
        index: None,
        diagnosis: None,
    };
    let out = tmp.path().join("eval");
    let summary = evaluate(&inputs, &out, &params(), RunOptions::default())?;
    // valid 3 × 2 + test 2 × 2.
    assert_eq!(summary.overall.images, 10);
    let preds = ParquetReader::new(File::open(out.join(PREDICTIONS.file))?).finish()?;
    birds_evaluate::write::check_schema(&preds, &PREDICTIONS)?;
    let correct = preds.column("correct")?.bool()?;
    assert!((summary.overall.accuracy - correct.sum().unwrap_or(0) as f64 / 10.0).abs() < 1e-12);
    let splits: Vec<&str> = preds
        .column("split")?
        .str()?
        .iter()
        .map(|v| v.unwrap_or_default())
        .collect();
    assert_eq!(splits.iter().filter(|s| **s == "test").count(), 4);
    for name in [
        "per_class.parquet",
        "per_class.csv",
        "per_class.md",
        "summary.json",
        "confusion.parquet",
        "confusion.png",
        "most_confused.parquet",
        "most_confused.md",
        "top_losses.png",
        "needs_more_training.parquet",
        "needs_more_training.md",
        "reliability.png",
        "calibration.json",
        "ood.safetensors",
    ] {
        assert!(out.join(name).is_file(), "{name} missing");
    }
    // The calibration names the checkpoint it belongs to; every image has an OOD score.
    let cal = CalibrationFile::read(&out)?;
    assert_eq!(
        cal.checkpoint_blake3,
        birds_models::checkpoint::content_hash(&inputs.checkpoint)?
    );
    let t = cal.temperature.ok_or("no temperature fitted")?;
    assert_eq!(
        (
            cal.fit_images,
            summary.calibration.as_ref().map(|c| c.fit_images)
        ),
        (6, Some(6))
    );
    assert!(cal.nll_after <= cal.nll_before, "{cal:?}");
    let ood = cal.ood.ok_or("no detector")?;
    assert_eq!((ood.fit_images, ood.threshold_images), (9, 6));
    assert_eq!(preds.column("ood_score")?.null_count(), 0);
    let pc = ParquetReader::new(File::open(out.join("per_class.parquet"))?).finish()?;
    let train: Vec<u32> = pc
        .column("train_images")?
        .u32()?
        .into_no_null_iter()
        .collect();
    let test: Vec<u32> = pc
        .column("test_images")?
        .u32()?
        .into_no_null_iter()
        .collect();
    assert_eq!((train, test), (vec![3, 3, 3], vec![2, 2, 0]));

    // The probabilities are the model's softmax on the cache's eval view: recompute one batch by hand.
    let cache_handle = Cache::open(&cache)?;
    let loaded = birds_models::Checkpoint::load(&inputs.checkpoint, Device::Cpu)?;
    // Without valid images there is no threshold: the detector is skipped, the evaluation goes on.
    let channels = loaded.model.feature_channels();
    let skipped = birds_evaluate::ood::fit(
        loaded.model.as_ref(),
        &cache_handle,
        &birds_loader::LoaderConfig::eval(4, Normalization::Centered127),
        &params(),
        &tch::Tensor::zeros([0, channels], (Kind::Float, Device::Cpu)),
        false,
    )?;
    assert!(skipped.is_none());
    let subset = cache_handle.all().filter(|s| s.split != Split::Train);
    let loader = birds_loader::Loader::new(
        &subset,
        birds_loader::LoaderConfig::eval(16, Normalization::Centered127),
    )?;
    let batch = loader.batch(0, subset.ids())?;
    let logits = tch::no_grad(|| loaded.model.logits(&batch.images, false));
    let flipped_logits = tch::no_grad(|| loaded.model.logits(&batch.images.flip([3]), false));
    // Written probabilities are temperature-scaled: softmax(logits / T).
    let probs = (&logits / t).softmax(-1, Kind::Double);
    let conf = column_f64(&preds, "confidence")?;
    let expected: Vec<f64> = Vec::<f64>::try_from(&probs.max_dim(1, false).0)?;
    for (a, b) in conf.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }

    // Without calibration: the network's own softmax.
    let raw = tmp.path().join("eval-raw");
    let s = evaluate(
        &inputs,
        &raw,
        &EvaluateParams {
            calibrate: false,
            ood: false,
            ..params()
        },
        RunOptions::default(),
    )?;
    assert!(s.calibration.is_none() && s.ood.is_none());
    let raw_preds = ParquetReader::new(File::open(raw.join(PREDICTIONS.file))?).finish()?;
    let raw_conf = column_f64(&raw_preds, "confidence")?;
    let softmax: Vec<f64> =
        Vec::<f64>::try_from(&logits.softmax(-1, Kind::Double).max_dim(1, false).0)?;
    for (a, b) in raw_conf.iter().zip(&softmax) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    assert_eq!(
        raw_preds.column("ood_score")?.null_count(),
        raw_preds.height()
    );
    assert!(CalibrationFile::read(&raw)?.temperature.is_none());

    // Rerun: identical predictions and summary.
    let again = tmp.path().join("eval2");
    evaluate(&inputs, &again, &params(), RunOptions::default())?;
    for name in [
        "predictions.parquet",
        "summary.json",
        "per_class.csv",
        "confusion.png",
        "calibration.json",
        "ood.safetensors",
        "reliability.png",
    ] {
        assert_eq!(
            std::fs::read(out.join(name))?,
            std::fs::read(again.join(name))?,
            "{name}"
        );
    }

    // Flip TTA: the average of the two (scaled) softmax outputs, at the temperature fitted with flips.
    let tta = tmp.path().join("eval-tta");
    let s = evaluate(
        &inputs,
        &tta,
        &EvaluateParams {
            tta: Tta::Flip,
            ..params()
        },
        RunOptions::default(),
    )?;
    assert_eq!(s.tta, Tta::Flip);
    let t = CalibrationFile::read(&tta)?
        .temperature
        .ok_or("no temperature")?;
    let probs = (&logits / t).softmax(-1, Kind::Double);
    let flipped = (&flipped_logits / t).softmax(-1, Kind::Double);
    let preds = ParquetReader::new(File::open(tta.join(PREDICTIONS.file))?).finish()?;
    let prob_true = column_f64(&preds, "prob_true")?;
    let targets: Vec<i64> = Vec::<i64>::try_from(&batch.labels)?;
    let avg = (&probs + &flipped) * 0.5;
    let mut differs = false;
    for (i, (&p, &t)) in prob_true.iter().zip(&targets).enumerate() {
        let want = avg.double_value(&[i as i64, t]);
        assert!((p - want).abs() < 1e-6, "image {i}: {p} vs {want}");
        differs |= (p - probs.double_value(&[i as i64, t])).abs() > 1e-6;
    }
    assert!(differs, "the mirror images should change some probability");
    Ok(())
}

#[test]
fn train_counts_come_from_the_index_and_splits_can_be_chosen() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (cache, classes) = dataset(tmp.path())?;
    let index = tmp.path().join("ingest");
    let mut df = df!(
        "class_id" => [0u32, 1, 2],
        "label" => ["CLASS 0", "CLASS 1", "CLASS 2"],
        "scientific_name" => [None::<&str>, None, None],
        "train" => [30u32, 40, 50],
        "valid" => [2u32, 2, 2],
        "test" => [2u32, 2, 0],
    )?;
    ParquetWriter::new(File::create(index.join(CLASSES.file))?).finish(&mut df)?;
    let mut inputs = Inputs {
        checkpoint: checkpoint(&tmp.path().join("run"), &classes, SIZE)?,
        cache,
        index: Some(index.clone()),
        diagnosis: None,
    };
    let out = tmp.path().join("eval");
    let s = evaluate(
        &inputs,
        &out,
        &EvaluateParams {
            splits: vec![Split::Test],
            ..params()
        },
        RunOptions::default(),
    )?;
    assert_eq!(s.overall.images, 4);
    assert_eq!(s.by_split.keys().cloned().collect::<Vec<_>>(), vec!["test"]);
    let pc = ParquetReader::new(File::open(out.join("per_class.parquet"))?).finish()?;
    let train: Vec<u32> = pc
        .column("train_images")?
        .u32()?
        .into_no_null_iter()
        .collect();
    assert_eq!(train, vec![30, 40, 50]);
    // Class 2 has no test image: present, support 0, null confidence.
    let support: Vec<u32> = pc.column("support")?.u32()?.into_no_null_iter().collect();
    assert_eq!(support, vec![2, 2, 0]);
    assert_eq!(pc.column("mean_confidence")?.f64()?.get(2), None);

    // An index of another dataset is refused, naming the class.
    let mut other = df!("label" => ["CLASS 0", "CLASS 1"], "train" => [1u32, 2])?;
    let other_dir = tmp.path().join("other-ingest");
    std::fs::create_dir_all(&other_dir)?;
    ParquetWriter::new(File::create(other_dir.join(CLASSES.file))?).finish(&mut other)?;
    inputs.index = Some(other_dir);
    let e = evaluate(
        &inputs,
        &tmp.path().join("x"),
        &params(),
        RunOptions::default(),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        e.contains("CLASS 2") && e.contains("classes.parquet"),
        "{e}"
    );
    Ok(())
}

#[test]
fn a_checkpoint_that_does_not_fit_the_cache_is_refused() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (cache, classes) = dataset(tmp.path())?;
    let mut four = classes.clone();
    four.push("CLASS 3".into());
    let inputs = Inputs {
        checkpoint: checkpoint(&tmp.path().join("four"), &four, SIZE)?,
        cache: cache.clone(),
        index: None,
        diagnosis: None,
    };
    let e = evaluate(
        &inputs,
        &tmp.path().join("a"),
        &params(),
        RunOptions::default(),
    )
    .err();
    let msg = e.as_ref().map(|e| e.to_string()).unwrap_or_default();
    assert!(matches!(e, Some(EvaluateError::Mismatch { .. })), "{msg}");
    assert!(msg.contains("4 classes, the cache 3"), "{msg}");
    let inputs = Inputs {
        checkpoint: checkpoint(&tmp.path().join("big"), &classes, 32)?,
        cache,
        index: None,
        diagnosis: None,
    };
    let msg = evaluate(
        &inputs,
        &tmp.path().join("b"),
        &params(),
        RunOptions::default(),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        msg.contains("trained at 32 px") && msg.contains("preprocess with size 32"),
        "{msg}"
    );
    // A folder that is no checkpoint.
    let inputs = Inputs {
        checkpoint: tmp.path().join("nothing"),
        cache: tmp.path().join("cache"),
        index: None,
        diagnosis: None,
    };
    let msg = evaluate(
        &inputs,
        &tmp.path().join("c"),
        &params(),
        RunOptions::default(),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(msg.contains("checkpoint.json"), "{msg}");
    Ok(())
}
