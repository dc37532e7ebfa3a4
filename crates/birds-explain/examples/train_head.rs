//! A quick model to explain: EfficientNet-Lite0 with ImageNet weights, frozen, and a new linear head trained on the
//! pooled features of a preprocess cache's train split (feature extraction). Writes a checkpoint folder that
//! `birds explain --checkpoint` reads. Not a substitute for `birds train`; it exists so that explain can be
//! measured on a trained model without it.
//!
//! ```text
//! cargo run --release -p birds-explain --example train_head -- CACHE_DIR OUT_DIR [EPOCHS]
//! ```
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use birds_core::{Normalization, Split};
use birds_models::checkpoint::{
    BestMetrics, CheckpointMeta, FORMAT_VERSION, MODEL_FILE, write_state_dict,
};
use birds_models::{Architecture, EfficientNetLite0, ImageClassifier};
use birds_preprocess::Cache;
use tch::nn::{self, OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};

fn embeddings(model: &EfficientNetLite0, cache: &Cache, split: Split) -> Result<(Tensor, Tensor)> {
    let ids = cache.split(split).ids().to_vec();
    let (side, size) = (cache.stored_side(), cache.size());
    let off = (side - size) / 2;
    let mut feats = Vec::new();
    let mut labels = Vec::new();
    for chunk in ids.chunks(32) {
        let images: Vec<image::RgbImage> = chunk
            .iter()
            .map(|&id| {
                let full = image::RgbImage::from_raw(side, side, cache.image(id).to_vec())
                    .context("cache bytes")?;
                Ok(image::imageops::crop_imm(&full, off, off, size, size).to_image())
            })
            .collect::<Result<_>>()?;
        let xs = birds_models::input::images_to_tensor(&images, Normalization::Centered127);
        feats.push(tch::no_grad(|| model.embed(&xs, false)));
        labels.extend(chunk.iter().map(|&id| i64::from(cache.sample(id).class_id)));
        eprint!("\r{split:?}: {}/{}", labels.len(), ids.len());
    }
    eprintln!();
    if feats.is_empty() {
        bail!("the {split:?} split is empty");
    }
    Ok((Tensor::cat(&feats, 0), Tensor::from_slice(&labels)))
}

fn accuracy(w: &nn::Linear, x: &Tensor, y: &Tensor) -> f64 {
    tch::no_grad(|| {
        x.apply(w)
            .argmax(-1, false)
            .eq_tensor(y)
            .to_kind(Kind::Double)
            .mean(Kind::Double)
            .double_value(&[])
    })
}

fn main() -> Result<()> {
    birds_core::runtime::tune_malloc();
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        bail!("usage: train_head CACHE_DIR OUT_DIR [EPOCHS]");
    }
    let (cache_dir, out) = (PathBuf::from(&args[1]), PathBuf::from(&args[2]));
    let epochs: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(60);
    let cache = Cache::open(&cache_dir)?;
    let classes = cache.classes().to_vec();
    let k = classes.len() as i64;
    tch::manual_seed(0);
    let mut vs = VarStore::new(Device::Cpu);
    let model = EfficientNetLite0::new(&vs.root(), k);
    birds_models::weights::load_state_dict(
        &mut vs,
        &birds_core::paths::default_weights(),
        &["_fc."],
    )?;
    let (xt, yt) = embeddings(&model, &cache, Split::Train)?;
    let (xv, yv) = embeddings(&model, &cache, Split::Valid)?;

    // A separate head trained on the cached features, then copied into the model's `_fc`.
    let head_vs = VarStore::new(Device::Cpu);
    let head = nn::linear(head_vs.root() / "fc", 1280, k, Default::default());
    let mut opt = nn::Adam {
        wd: 1e-4,
        ..Default::default()
    }
    .build(&head_vs, 3e-3)?;
    let n = xt.size()[0];
    let mut best = (
        0.0,
        0usize,
        0.0,
        Tensor::zeros([1], (Kind::Float, Device::Cpu)),
        Tensor::zeros([1], (Kind::Float, Device::Cpu)),
    );
    for epoch in 1..=epochs {
        let perm = Tensor::randperm(n, (Kind::Int64, Device::Cpu));
        for start in (0..n).step_by(64) {
            let idx = perm.narrow(0, start, (n - start).min(64));
            let x = xt.index_select(0, &idx).dropout(0.2, true);
            let loss = x
                .apply(&head)
                .cross_entropy_for_logits(&yt.index_select(0, &idx));
            opt.backward_step(&loss);
        }
        let va = accuracy(&head, &xv, &yv);
        if va > best.0 || epoch == 1 {
            let vl = tch::no_grad(|| {
                xv.apply(&head)
                    .cross_entropy_for_logits(&yv)
                    .double_value(&[])
            });
            best = (
                va,
                epoch,
                vl,
                head.ws.detach().copy(),
                head.bs
                    .as_ref()
                    .map(|b| b.detach().copy())
                    .unwrap_or_default(),
            );
        }
        if epoch % 10 == 0 {
            println!(
                "epoch {epoch}: train acc {:.3}, valid acc {va:.3}",
                accuracy(&head, &xt, &yt)
            );
        }
    }
    let (val_accuracy, epoch, val_loss, w, b) = best;
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            if name == "_fc.weight" {
                var.copy_(&w);
            } else if name == "_fc.bias" {
                var.copy_(&b);
            }
        }
    });
    std::fs::create_dir_all(&out)?;
    write_state_dict(&vs, &out.join(MODEL_FILE))?;
    CheckpointMeta {
        format: FORMAT_VERSION,
        birds_version: birds_core::VERSION.into(),
        architecture: Architecture::EfficientNetLite0,
        classes,
        input_size: cache.size(),
        normalization: Normalization::Centered127,
        mode: "feature-extract".into(),
        params: serde_json::json!({"trainer": "birds-explain example train_head", "epochs": epochs, "lr": 3e-3}),
        best: BestMetrics {
            metric: "val_accuracy".into(),
            epoch: epoch as u32,
            val_accuracy,
            val_loss,
            test_accuracy: None,
            test_loss: None,
        },
        eval_view: None,
        runtime: None,
    }
    .write(&out)?;
    let _ = model.num_classes();
    println!(
        "best valid accuracy {val_accuracy:.3} at epoch {epoch}; checkpoint in {}",
        out.display()
    );
    Ok(())
}
