//! `birds_models::export`: an EfficientNet-Lite0 fine-tune checkpoint (ImageNet backbone, new 5-class head, moved
//! BatchNorm statistics) and a small-CNN scratch checkpoint, exported; the state dict has exactly the PyTorch keys of
//! `efficientnet-lite-pytorch` (the ImageNet weights' key set, `_fc` resized), and the TorchScript module, loaded
//! back with libtorch, gives birds' logits at any batch size. Errors name the file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use birds_models::ArchitectureExt;
use std::collections::HashMap;
use std::path::Path;

use birds_core::Normalization;
use birds_models::checkpoint::{self, BestMetrics, Checkpoint, CheckpointMeta, EvalView};
use birds_models::export::{self, ExportFormat, KeyNames, ModelCard};
use birds_models::norm::NormKind;
use birds_models::{Architecture, weights};
use tch::nn::VarStore;
use tch::{CModule, Device, Kind, Tensor};

const SIZE: u32 = 64;

fn view() -> EvalView {
    EvalView {
        resize: "shorter-side+center-crop".into(),
        filter: "bilinear".into(),
        stored_side: SIZE + 8,
    }
}

fn meta(arch: Architecture, classes: usize, mode: &str) -> CheckpointMeta {
    CheckpointMeta {
        format: checkpoint::FORMAT_VERSION,
        birds_version: birds_core::VERSION.into(),
        architecture: arch,
        classes: (0..classes).map(|i| format!("BIRD {i}")).collect(),
        input_size: SIZE,
        normalization: Normalization::Centered127,
        mode: mode.into(),
        params: serde_json::json!({"epochs": 1}),
        best: BestMetrics {
            metric: "val_accuracy".into(),
            epoch: 1,
            val_accuracy: 0.5,
            val_loss: 1.0,
            test_accuracy: None,
            test_loss: None,
        },
        eval_view: Some(view()),
        runtime: None,
    }
}

/// A Lite0 checkpoint as a fine-tune run leaves one: ImageNet backbone, a 5-class head, BatchNorm statistics moved.
fn lite0_checkpoint(dir: &Path) -> CheckpointMeta {
    tch::manual_seed(5);
    let mut vs = VarStore::new(Device::Cpu);
    let model = Architecture::EfficientNetLite0
        .build(&vs.root(), 5)
        .unwrap();
    let imagenet = birds_core::paths::default_weights();
    assert!(
        imagenet.is_file(),
        "{} missing: run `just setup`",
        imagenet.display()
    );
    weights::load_state_dict(&mut vs, &imagenet, &["_fc."]).unwrap();
    let x = Tensor::randn([4, 3, SIZE as i64, SIZE as i64], (Kind::Float, Device::Cpu));
    let _ = tch::no_grad(|| model.logits(&x, true));
    checkpoint::write_state_dict(&vs, &dir.join(checkpoint::MODEL_FILE)).unwrap();
    let m = meta(Architecture::EfficientNetLite0, 5, "fine-tune");
    m.write(dir).unwrap();
    m
}

fn scratch_checkpoint(dir: &Path) -> CheckpointMeta {
    let arch = Architecture::SmallCnn {
        norm: NormKind::Frn,
        width: 4,
    };
    tch::manual_seed(6);
    let vs = VarStore::new(Device::Cpu);
    let _ = arch.build(&vs.root(), 3).unwrap();
    checkpoint::write_state_dict(&vs, &dir.join(checkpoint::MODEL_FILE)).unwrap();
    let m = meta(arch, 3, "scratch");
    m.write(dir).unwrap();
    m
}

fn read(path: &Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .unwrap()
        .into_iter()
        .collect()
}

/// The traced module, loaded back from disk, against birds' own forward of the checkpoint on a batch of `n`.
fn torchscript_diff(ckpt_dir: &Path, module: &Path, n: i64) -> f64 {
    let ckpt = Checkpoint::load(ckpt_dir, Device::Cpu).unwrap();
    let m = CModule::load(module).unwrap();
    let x = Tensor::randn([n, 3, SIZE as i64, SIZE as i64], (Kind::Float, Device::Cpu));
    let (a, b) = tch::no_grad(|| (ckpt.model.logits(&x, false), m.forward_ts(&[&x]).unwrap()));
    assert_eq!(b.size(), vec![n, ckpt.meta.classes.len() as i64]);
    (a - b).abs().max().double_value(&[])
}

#[test]
fn lite0_state_dict_has_the_pytorch_keys_and_torchscript_matches_birds() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("run");
    std::fs::create_dir_all(&ckpt).unwrap();
    lite0_checkpoint(&ckpt);
    let out = tmp.path().join("export");
    let report = export::export(&ckpt, &out, ExportFormat::Both, &view()).unwrap();
    assert_eq!(report.files.last().unwrap(), &out.join(export::CARD_FILE));

    // (a) The key set is the ImageNet weights' (efficientnet-lite-pytorch's state dict), 296 entries; shapes equal
    // except the 5-class head and num_batches_tracked, a 0-d tensor in PyTorch (the converted file stores [1]).
    let exported = read(&out.join(export::SAFETENSORS_FILE));
    let imagenet = read(&birds_core::paths::default_weights());
    let mut a: Vec<&String> = exported.keys().collect();
    let mut b: Vec<&String> = imagenet.keys().collect();
    a.sort();
    b.sort();
    assert_eq!(
        a, b,
        "exported keys differ from efficientnet-lite-pytorch's"
    );
    assert_eq!(exported.len(), 296);
    for (k, t) in &exported {
        let expected = match k.as_str() {
            "_fc.weight" => vec![5, 1280],
            "_fc.bias" => vec![5],
            k if k.ends_with(".num_batches_tracked") => vec![],
            _ => imagenet[k].size(),
        };
        assert_eq!(t.size(), expected, "{k}");
        let kind = if k.ends_with(".num_batches_tracked") {
            Kind::Int64
        } else {
            Kind::Float
        };
        assert_eq!(t.kind(), kind, "{k}");
    }
    // The values are the checkpoint's (BatchNorm statistics included).
    let source = read(&ckpt.join(checkpoint::MODEL_FILE));
    for (k, t) in &source {
        assert!(t.equal(&exported[k]), "{k} differs from the checkpoint");
    }

    // (b) TorchScript: traced at batch 1, run at batches 1 and 3.
    let module = out.join(export::TORCHSCRIPT_FILE);
    for n in [1, 3] {
        let d = torchscript_diff(&ckpt, &module, n);
        assert!(d <= 1e-4, "batch {n}: max |logit diff| {d}");
    }

    // The card: what Python needs.
    let card: ModelCard =
        serde_json::from_str(&std::fs::read_to_string(out.join(export::CARD_FILE)).unwrap())
            .unwrap();
    assert_eq!(card, report.card);
    assert_eq!(card.classes.len(), 5);
    assert_eq!(card.input.size, SIZE);
    assert_eq!(card.input.framing.resized_side, SIZE + 8);
    assert_eq!(card.input.normalization.std, [128.0; 3]);
    let st = card.safetensors.unwrap();
    assert_eq!(st.key_names, KeyNames::Pytorch);
    let ctor = st.pytorch_constructor.unwrap();
    assert!(
        ctor.contains("num_classes=5") && ctor.contains("image_size=64"),
        "{ctor}"
    );
    let ts = card.torchscript.unwrap();
    assert_eq!(ts.traced_input, vec![1, 3, 64, 64]);
    assert!(ts.self_check_max_abs_diff <= 1e-4);
    assert_eq!(card.source.mode, "fine-tune");
    assert_eq!(card.source.model_blake3.len(), 64);
}

#[test]
fn scratch_cnn_exports_its_own_keys_and_a_matching_module() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("run");
    std::fs::create_dir_all(&ckpt).unwrap();
    scratch_checkpoint(&ckpt);
    let out = tmp.path().join("export");
    let report = export::export(&ckpt, &out, ExportFormat::Both, &view()).unwrap();
    let exported = read(&out.join(export::SAFETENSORS_FILE));
    let source = read(&ckpt.join(checkpoint::MODEL_FILE));
    let mut a: Vec<&String> = exported.keys().collect();
    let mut b: Vec<&String> = source.keys().collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert!(exported.keys().any(|k| k.starts_with("stem.")));
    let st = report.card.safetensors.unwrap();
    assert_eq!(st.key_names, KeyNames::Birds);
    assert!(st.pytorch_constructor.is_none());
    let d = torchscript_diff(&ckpt, &out.join(export::TORCHSCRIPT_FILE), 2);
    assert!(d <= 1e-4, "max |logit diff| {d}");
}

#[test]
fn errors_name_the_file_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("export");
    let missing = tmp.path().join("no-such-run");
    let e = export::export(&missing, &out, ExportFormat::Both, &view())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no-such-run") && e.contains("checkpoint.json"),
        "{e}"
    );

    let ckpt = tmp.path().join("run");
    std::fs::create_dir_all(&ckpt).unwrap();
    scratch_checkpoint(&ckpt);
    std::fs::write(ckpt.join(checkpoint::META_FILE), "{ not json").unwrap();
    let e = export::export(&ckpt, &out, ExportFormat::Both, &view())
        .unwrap_err()
        .to_string();
    assert!(e.contains("checkpoint.json"), "{e}");

    scratch_checkpoint(&ckpt);
    std::fs::write(ckpt.join(checkpoint::MODEL_FILE), b"garbage").unwrap();
    let e = export::export(&ckpt, &out, ExportFormat::Both, &view())
        .unwrap_err()
        .to_string();
    assert!(e.contains("model.safetensors"), "{e}");
    assert!(
        !out.exists(),
        "nothing may be written for a broken checkpoint"
    );
}
