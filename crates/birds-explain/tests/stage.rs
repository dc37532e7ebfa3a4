//! The explain stage end to end on a tiny synth dataset: synth → ingest → preprocess → a small CNN checkpoint →
//! explain with masks. Checks the files, their agreement with each other, and determinism.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use birds_models::ArchitectureExt;
use std::path::{Path, PathBuf};

use birds_core::Normalization;
use birds_core::schema::explain::CAMS;
use birds_explain::cam::CamMethod;
use birds_explain::{ExplainParams, Inputs, RunOptions, explain};
use birds_models::Architecture;
use birds_models::checkpoint::{
    BestMetrics, CheckpointMeta, FORMAT_VERSION, MODEL_FILE, write_state_dict,
};
use birds_models::norm::NormKind;
use polars::prelude::*;
use tch::Device;
use tch::nn::VarStore;

struct World {
    _dir: tempfile::TempDir,
    data: PathBuf,
    cache: PathBuf,
    checkpoint: PathBuf,
    root: PathBuf,
}

fn world() -> World {
    birds_core::runtime::tune_malloc();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let index = dir.path().join("index");
    let cache = dir.path().join("cache");
    let checkpoint = dir.path().join("train");
    let synth = birds_synth::SynthParams {
        classes: 3,
        train: 1,
        valid: 1,
        test: 6,
        size: 64,
        seed: 3,
        defects: false,
    };
    birds_synth::write_dataset(&synth, &data, false).unwrap();
    birds_ingest::ingest_with(
        &data,
        &index,
        &birds_ingest::IngestParams::default(),
        birds_ingest::RunOptions { progress: false },
    )
    .unwrap();
    let prep = birds_preprocess::PreprocessParams {
        size: 64,
        ..Default::default()
    };
    birds_preprocess::preprocess(
        &index,
        &cache,
        &prep,
        birds_preprocess::RunOptions {
            progress: false,
            threads: 1,
        },
    )
    .unwrap();
    let classes = birds_preprocess::Cache::open(&cache)
        .unwrap()
        .classes()
        .to_vec();
    // A small CNN with random weights: its predictions are arbitrary, so both correct and misclassified images
    // occur (the plumbing is under test here, not the model).
    let arch = Architecture::SmallCnn {
        norm: NormKind::BatchNorm,
        width: 8,
    };
    tch::manual_seed(7);
    let vs = VarStore::new(Device::Cpu);
    let _net = arch.build(&vs.root(), classes.len() as i64).unwrap();
    std::fs::create_dir_all(&checkpoint).unwrap();
    write_state_dict(&vs, &checkpoint.join(MODEL_FILE)).unwrap();
    CheckpointMeta {
        format: FORMAT_VERSION,
        birds_version: birds_core::VERSION.into(),
        architecture: arch,
        classes,
        input_size: 64,
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
    .write(&checkpoint)
    .unwrap();
    World {
        root: dir.path().to_path_buf(),
        _dir: dir,
        data,
        cache,
        checkpoint,
    }
}

fn params() -> ExplainParams {
    ExplainParams {
        methods: vec![
            CamMethod::GradCam,
            CamMethod::GradCamPlusPlus,
            CamMethod::HiResCam,
        ],
        classes: 2,
        misclassified: 2,
        correct: 1,
        check_images: 12,
        overlay_size: 96,
        batch_size: 5,
        ..ExplainParams::default()
    }
}

fn read(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap())
        .finish()
        .unwrap()
}

fn f64s(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    df.column(name).unwrap().f64().unwrap().iter().collect()
}

fn strs(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    df.column(name)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.map(str::to_string))
        .collect()
}

#[test]
fn explains_a_synth_dataset_with_masks() {
    let w = world();
    let inputs = Inputs {
        checkpoint: w.checkpoint.clone(),
        cache: Some(w.cache.clone()),
        masks: Some(w.data.clone()),
        root: w.root.clone(),
        ..Inputs::default()
    };
    let out = w.root.join("explain");
    std::fs::create_dir_all(&out).unwrap();
    let summary = explain(&inputs, &params(), &out, RunOptions::default()).unwrap();

    // cams.parquet: the schema's columns, in order.
    let df = read(&out.join(CAMS.file));
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, CAMS.names());
    assert!(df.height() > 0);

    // Every drawn row's overlay exists, at the overlay size plus a caption.
    let overlays: Vec<String> = strs(&df, "overlay").into_iter().flatten().collect();
    assert!(!overlays.is_empty());
    for o in &overlays {
        let img = image::open(out.join(o)).unwrap();
        assert_eq!(img.width(), 96, "{o}");
        assert!(img.height() > 96, "{o}: no caption strip");
    }
    assert_eq!(summary.selection.overlays, overlays.len());

    // Misclassified drawn images have a `true` row and a why-not panel; correct ones have neither.
    let kinds = strs(&df, "target_kind");
    let correct: Vec<Option<bool>> = df
        .column("correct")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .collect();
    let sel = strs(&df, "selection");
    let mut panels = 0;
    for i in 0..df.height() {
        if kinds[i].as_deref() == Some("true") {
            assert_eq!(
                correct[i],
                Some(false),
                "row {i}: a true-class map for a correct image"
            );
            let o = strs(&df, "overlay")[i].clone().unwrap();
            let panel = o
                .replacen("overlays/", "why_not/", 1)
                .replace(".true.png", ".png");
            let img = image::open(out.join(&panel)).unwrap();
            assert!(img.width() >= 3 * 96, "{panel}: not three panels wide");
            panels += 1;
        }
        if sel[i].as_deref() == Some("weak-misclassified") {
            assert_eq!(correct[i], Some(false));
        }
        if sel[i].as_deref() == Some("weak-correct") {
            assert_eq!(correct[i], Some(true));
        }
    }
    assert_eq!(panels, summary.selection.why_not_panels);
    assert!(
        sel.iter()
            .any(|s| s.as_deref() == Some("weak-misclassified")),
        "no misclassified example drawn"
    );

    // Masks were found for every image, and the figures are the means of the rows.
    let energy = f64s(&df, "energy_in_mask");
    let area = f64s(&df, "mask_area");
    for i in 0..df.height() {
        let (e, a) = (energy[i].unwrap(), area[i].unwrap());
        assert!(
            (0.0..=1.0).contains(&e) && a > 0.01 && a < 0.99,
            "row {i}: energy {e}, area {a}"
        );
    }
    assert_eq!(summary.check.images, 12);
    assert_eq!(summary.check.with_mask, 12);
    let methods = strs(&df, "method");
    let check: Vec<Option<bool>> = df
        .column("in_check")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .collect();
    for m in ["grad-cam", "grad-cam++", "hirescam"] {
        let rows: Vec<usize> = (0..df.height())
            .filter(|&i| {
                methods[i].as_deref() == Some(m)
                    && kinds[i].as_deref() == Some("predicted")
                    && check[i] == Some(true)
                    && correct[i] == Some(true)
            })
            .collect();
        let loc = &summary.localisation[m];
        assert_eq!(loc.images, rows.len(), "{m}");
        if !rows.is_empty() {
            let mean = rows.iter().map(|&i| energy[i].unwrap()).sum::<f64>() / rows.len() as f64;
            assert!(
                (mean - loc.energy_in_mask).abs() < 1e-9,
                "{m}: {mean} vs {}",
                loc.energy_in_mask
            );
        }
        assert_eq!(summary.deletion[m].images, 12, "{m}");
    }

    // The ranking is weakest first.
    let recalls: Vec<f64> = summary
        .selection
        .weak_classes
        .iter()
        .map(|w| w.recall.unwrap())
        .collect();
    assert!(recalls.windows(2).all(|p| p[0] <= p[1]), "{recalls:?}");

    // The gallery links every overlay and panel, and each link resolves.
    let gallery = std::fs::read_to_string(out.join("gallery.md")).unwrap();
    for o in &overlays {
        assert!(
            gallery.contains(&o.replace(' ', "%20")),
            "gallery misses {o}"
        );
    }
    for link in gallery.split("](").skip(1) {
        let target = link.split(')').next().unwrap().replace("%20", " ");
        assert!(
            out.join(&target).is_file(),
            "gallery links a missing file {target}"
        );
    }
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["check"]["images"], 12);
    assert!(metrics["localisation"]["grad-cam"]["pointing_game"].is_number());

    // Determinism: a second run writes the same table and the same pixels.
    let out2 = w.root.join("explain2");
    std::fs::create_dir_all(&out2).unwrap();
    explain(&inputs, &params(), &out2, RunOptions::default()).unwrap();
    assert!(
        read(&out2.join(CAMS.file)).equals_missing(&df),
        "cams.parquet differs between runs"
    );
    for o in overlays.iter().take(3) {
        assert_eq!(
            std::fs::read(out.join(o)).unwrap(),
            std::fs::read(out2.join(o)).unwrap(),
            "{o}"
        );
    }
}
