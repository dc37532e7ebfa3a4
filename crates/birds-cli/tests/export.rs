//! `birds export` with the real binary: a tiny checkpoint made in the test, exported in each format, the TorchScript
//! module loaded back with libtorch and run on the reference inputs birds wrote (`--reference`), and the errors a
//! user meets (no checkpoint, a corrupted checkpoint.json or model.safetensors, an unknown format).

mod util;

use birds_models::ArchitectureExt;
use std::path::{Path, PathBuf};

use birds_core::Normalization;
use birds_models::Architecture;
use birds_models::checkpoint::{self, BestMetrics, CheckpointMeta, EvalView};
use birds_models::norm::NormKind;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use util::{Project, TestResult, text};

/// An empty temporary folder; every command runs there with `BIRDS_THREADS=2`.
fn project() -> TestResult<Project> {
    Ok(Project::bare()?.with_env("BIRDS_THREADS", "2"))
}

/// A small-CNN checkpoint with 3 classes at 32 px (BatchNorm statistics moved off their initial values).
fn tiny_checkpoint(dir: &Path) -> TestResult<CheckpointMeta> {
    let arch = Architecture::SmallCnn {
        norm: NormKind::BatchNorm,
        width: 4,
    };
    tch::manual_seed(11);
    let vs = VarStore::new(Device::Cpu);
    let model = arch.build(&vs.root(), 3)?;
    let x = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
    let _ = tch::no_grad(|| model.logits(&x, true));
    std::fs::create_dir_all(dir)?;
    checkpoint::write_state_dict(&vs, &dir.join(checkpoint::MODEL_FILE))?;
    let meta = CheckpointMeta {
        format: checkpoint::FORMAT_VERSION,
        birds_version: birds_core::VERSION.into(),
        architecture: arch,
        classes: vec!["ALPHA".into(), "BETA".into(), "GAMMA".into()],
        input_size: 32,
        normalization: Normalization::Centered127,
        mode: "scratch".into(),
        params: serde_json::json!({"epochs": 1}),
        best: BestMetrics {
            metric: "val_accuracy".into(),
            epoch: 1,
            val_accuracy: 0.5,
            val_loss: 1.0,
            test_accuracy: Some(0.4),
            test_loss: Some(1.1),
        },
        eval_view: Some(EvalView {
            resize: "shorter-side+center-crop".into(),
            filter: "bilinear".into(),
            stored_side: 36,
        }),
        runtime: None,
    };
    meta.write(dir)?;
    Ok(meta)
}

/// Two small photos-to-be (one not square, so the framing crops), in a class folder.
fn images(dir: &Path) -> TestResult<Vec<PathBuf>> {
    let class = dir.join("ALPHA");
    std::fs::create_dir_all(&class)?;
    let mut out = Vec::new();
    for (i, (w, h)) in [(48u32, 40u32), (36, 36)].into_iter().enumerate() {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 5) as u8, (y * 7) as u8, ((x + y + i as u32) * 3) as u8])
        });
        let path = class.join(format!("{i}.png"));
        img.save(&path)?;
        out.push(path);
    }
    Ok(out)
}

#[test]
fn export_writes_both_formats_and_the_module_reproduces_birds_logits() -> TestResult {
    let tmp = project()?;
    let ckpt = tmp.root().join("run");
    let meta = tiny_checkpoint(&ckpt)?;
    let imgs = tmp.root().join("imgs");
    let files = images(&imgs)?;
    let out_dir = tmp.root().join("export");
    let out = tmp.ok(&[
        "export",
        "--checkpoint",
        "run",
        "--out",
        "export",
        "--reference",
        "imgs",
    ])?;
    for f in [
        "model.safetensors",
        "model.torchscript.pt",
        "model.json",
        "reference.safetensors",
        "reference.json",
    ] {
        assert!(out_dir.join(f).is_file(), "{f} missing\n{}", text(&out));
    }
    let leftovers: Vec<_> = std::fs::read_dir(&out_dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // The card: classes in logit order, the input spec a user needs.
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("model.json"))?)?;
    assert_eq!(card["classes"], serde_json::json!(meta.classes));
    assert_eq!(card["input"]["size"], 32);
    assert_eq!(card["input"]["layout"], "NCHW");
    assert_eq!(card["input"]["framing"]["resized_side"], 36);
    assert_eq!(
        card["input"]["normalization"]["mean"],
        serde_json::json!([127.0, 127.0, 127.0])
    );
    assert_eq!(card["safetensors"]["key_names"], "birds");
    assert_eq!(card["architecture"]["name"], "small-cnn");

    // The reference: the images in row order, birds' inputs and logits; the traced module reproduces the logits.
    let listed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("reference.json"))?)?;
    let listed: Vec<String> = listed["images"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(listed.len(), files.len(), "{listed:?}");
    assert!(listed[0].ends_with("ALPHA/0.png"), "{listed:?}");
    let reference: std::collections::HashMap<String, Tensor> =
        Tensor::read_safetensors(out_dir.join("reference.safetensors"))?
            .into_iter()
            .collect();
    let inputs = &reference["inputs"];
    let logits = &reference["logits"];
    assert_eq!(inputs.size(), vec![2, 3, 32, 32]);
    assert_eq!(logits.size(), vec![2, 3]);
    let module = tch::CModule::load(out_dir.join("model.torchscript.pt"))?;
    let ts = tch::no_grad(|| module.forward_ts(&[inputs]))?;
    let diff = (&ts - logits).abs().max().double_value(&[]);
    assert!(diff <= 1e-4, "TorchScript vs birds: max |diff| {diff}");
    // birds' own forward on the same inputs, from the checkpoint (not from the export).
    let loaded = birds_models::Checkpoint::load(&ckpt, Device::Cpu)?;
    let own = tch::no_grad(|| loaded.model.logits(inputs, false));
    let diff = (&own - logits).abs().max().double_value(&[]);
    assert!(diff <= 1e-5, "reference logits vs the checkpoint: {diff}");
    // The inputs are normalised pixels: (x - 127) / 128 lies in [-127/128, 1].
    let (lo, hi) = (
        inputs.min().double_value(&[]),
        inputs.max().double_value(&[]),
    );
    assert!(lo >= -127.0 / 128.0 - 1e-6 && hi <= 1.0 + 1e-6, "{lo} {hi}");
    Ok(())
}

#[test]
fn one_format_writes_only_its_file() -> TestResult {
    let tmp = project()?;
    tiny_checkpoint(&tmp.root().join("run"))?;
    tmp.ok(&[
        "export",
        "--checkpoint",
        "run",
        "--out",
        "st",
        "--format",
        "safetensors",
    ])?;
    assert!(tmp.root().join("st/model.safetensors").is_file());
    assert!(!tmp.root().join("st/model.torchscript.pt").exists());
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.root().join("st/model.json"))?)?;
    assert!(
        card.get("torchscript").is_none() && card["safetensors"].is_object(),
        "{card}"
    );
    tmp.ok(&[
        "export",
        "--checkpoint",
        "run",
        "--out",
        "ts",
        "--format",
        "torchscript",
    ])?;
    assert!(tmp.root().join("ts/model.torchscript.pt").is_file());
    assert!(!tmp.root().join("ts/model.safetensors").exists());
    let out = tmp.fails_any(&[
        "export",
        "--checkpoint",
        "run",
        "--out",
        "x",
        "--format",
        "onnx",
    ])?;
    let t = text(&out);
    assert!(t.contains("onnx") && t.contains("torchscript"), "{t}");
    let help = tmp.ok(&["export", "--help"])?;
    let h = text(&help);
    assert!(h.contains("--format") && h.contains("--reference"), "{h}");
    Ok(())
}

#[test]
fn missing_or_corrupted_checkpoints_are_named_and_nothing_is_written() -> TestResult {
    let tmp = project()?;
    let out = tmp.fails_any(&["export", "--checkpoint", "nowhere", "--out", "e1"])?;
    let t = text(&out);
    assert!(
        t.contains("nowhere") && t.contains("checkpoint.json"),
        "{t}"
    );
    assert!(!tmp.root().join("e1/model.json").exists());

    let run = tmp.root().join("run");
    tiny_checkpoint(&run)?;
    std::fs::write(
        run.join("checkpoint.json"),
        "{\"format\": 1, \"classes\": [",
    )?;
    let out = tmp.fails_any(&["export", "--checkpoint", "run", "--out", "e2"])?;
    let t = text(&out);
    assert!(t.contains("checkpoint.json"), "{t}");
    assert!(!tmp.root().join("e2/model.json").exists());

    let run = tmp.root().join("run2");
    tiny_checkpoint(&run)?;
    std::fs::write(run.join("model.safetensors"), b"not a safetensors file")?;
    let out = tmp.fails_any(&["export", "--checkpoint", "run2", "--out", "e3"])?;
    let t = text(&out);
    assert!(t.contains("model.safetensors"), "{t}");
    assert!(!tmp.root().join("e3/model.json").exists());

    // An unreadable reference image is named; the export itself does not half-succeed.
    let run = tmp.root().join("run3");
    tiny_checkpoint(&run)?;
    std::fs::create_dir_all(tmp.root().join("bad/X"))?;
    std::fs::write(tmp.root().join("bad/X/broken.jpg"), b"not a jpeg")?;
    let out = tmp.fails_any(&[
        "export",
        "--checkpoint",
        "run3",
        "--out",
        "e4",
        "--reference",
        "bad",
    ])?;
    let t = text(&out);
    assert!(t.contains("broken.jpg"), "{t}");
    assert!(!tmp.root().join("e4/reference.safetensors").exists());
    Ok(())
}
