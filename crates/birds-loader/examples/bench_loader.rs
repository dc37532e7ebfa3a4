//! Loader throughput with augmentation vs the EfficientNet-Lite0 train-step rate on CPU, in one run.
//!
//! Builds a cache of the birds sample (224 + margin 32, stored 256), then measures:
//! 1. loader alone: train mode, default augmentation, batch 16, 224 px (batches/s; batches are only consumed);
//! 2. loader alone, eval mode (no augmentation);
//! 3. Lite0 train steps (forward, cross-entropy, backward, SGD step) on one fixed batch (steps/s);
//! 4. Lite0 train steps fed by the loader (steps/s), showing whether the loader slows training when both share
//!    the CPU: batches built ahead on a background thread (`Prefetch::Ahead`), then on demand on the training
//!    thread (`Prefetch::OnDemand`, what training on a CPU uses).
//!
//! ```text
//! cargo run --release -p birds-loader --example bench_loader -- [--steps 6] [--epochs 2] [--cache DIR]
//!     [--store train-size]
//! ```
//!
//! `--store train-size` builds the cache with the compact option (stored at 224, no margin) instead.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use birds_core::{Normalization, Split};
use birds_loader::{Loader, LoaderConfig, Prefetch};
use birds_models::{EfficientNetLite0, ImageClassifier};
use birds_preprocess::{AugmentParams, Cache, PreprocessParams, RunOptions};
use polars::prelude::*;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Tensor};

const BATCH: usize = 16;

fn build_cache(dir: &std::path::Path, store: birds_preprocess::Store) -> anyhow::Result<PathBuf> {
    let root = birds_core::paths::workspace_root().join("../shared/data/birds-sample");
    let mut rows: Vec<(String, String, String)> = Vec::new();
    for split in ["train", "valid", "test"] {
        for class in
            std::fs::read_dir(root.join(split)).with_context(|| format!("{}", root.display()))?
        {
            let class = class?;
            let label = class.file_name().to_string_lossy().to_string();
            for f in std::fs::read_dir(class.path())? {
                let name = f?.file_name().to_string_lossy().to_string();
                rows.push((
                    format!("{split}/{label}/{name}"),
                    split.to_string(),
                    label.clone(),
                ));
            }
        }
    }
    rows.sort();
    let mut labels: Vec<String> = rows.iter().map(|r| r.2.clone()).collect();
    labels.sort();
    labels.dedup();
    let n = rows.len();
    let mut df = DataFrame::new(
        n,
        vec![
            Column::new(
                "path".into(),
                rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
            ),
            Column::new("root".into(), vec![root.to_string_lossy().to_string(); n]),
            Column::new(
                "split".into(),
                rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                "label".into(),
                rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                "class_id".into(),
                rows.iter()
                    .map(|r| labels.binary_search(&r.2).unwrap_or(0) as u32)
                    .collect::<Vec<_>>(),
            ),
            Column::new("status".into(), vec!["ok"; n]),
            Column::new("error".into(), vec![None::<String>; n]),
        ],
    )?;
    let index = dir.join("images.parquet");
    ParquetWriter::new(std::fs::File::create(&index)?).finish(&mut df)?;
    let out = dir.join("cache");
    let params = PreprocessParams {
        size: 224,
        margin: 32,
        store,
        ..PreprocessParams::default()
    };
    birds_preprocess::preprocess(&index, &out, &params, RunOptions::default())?;
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    birds_core::runtime::tune_malloc();
    let mut steps = 6usize;
    let mut epochs = 2u64;
    let mut cache_dir: Option<PathBuf> = None;
    let mut store = birds_preprocess::Store::Full;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--steps" => steps = args.next().context("--steps N")?.parse()?,
            "--epochs" => epochs = args.next().context("--epochs N")?.parse()?,
            "--cache" => cache_dir = Some(args.next().context("--cache DIR")?.into()),
            "--store" => match args.next().as_deref() {
                Some("train-size") => store = birds_preprocess::Store::TrainSize,
                Some("full") => store = birds_preprocess::Store::Full,
                other => bail!("--store full|train-size, not {other:?}"),
            },
            other => bail!("unknown argument {other}"),
        }
    }
    let tmp = tempfile::tempdir()?;
    let dir = match cache_dir {
        Some(d) => d,
        None => build_cache(tmp.path(), store)?,
    };
    let cache = Cache::open(&dir)?;
    let train = cache.split(Split::Train);
    let norm = Normalization::Centered127;
    println!(
        "cache: {} images stored at {}x{}, train split {} images; {} rayon threads, {} libtorch threads",
        cache.len(),
        cache.stored_side(),
        cache.stored_side(),
        train.len(),
        rayon::current_num_threads(),
        tch::get_num_threads()
    );

    // 1. Loader alone, train mode with augmentation.
    let loader = Loader::new(
        &train,
        LoaderConfig::train(BATCH, norm, AugmentParams::default(), 0),
    )?;
    let _ = loader.epoch(100).next(); // warm-up (page cache of the shards, threads)
    let t = Instant::now();
    let mut batches = 0usize;
    for e in 0..epochs {
        for b in loader.epoch(e) {
            let b = b?;
            assert_eq!(b.images.size(), vec![BATCH as i64, 3, 224, 224]);
            batches += 1;
        }
    }
    let train_rate = batches as f64 / t.elapsed().as_secs_f64();

    // 2. Loader alone, eval mode.
    let eval = Loader::new(&train, LoaderConfig::eval(BATCH, norm))?;
    let t = Instant::now();
    let mut eval_batches = 0usize;
    for b in eval.epoch(0) {
        b?;
        eval_batches += 1;
    }
    let eval_rate = eval_batches as f64 / t.elapsed().as_secs_f64();

    // 3. Lite0 train steps on a fixed batch.
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = EfficientNetLite0::new(&vs.root(), cache.num_classes() as i64);
    let mut opt = nn::Sgd {
        momentum: 0.9,
        ..Default::default()
    }
    .build(&vs, 1e-3)?;
    let fixed = loader.epoch(0).next().context("no batch")??;
    let mut step = |x: &Tensor, y: &Tensor| {
        let loss = model.logits(x, true).cross_entropy_for_logits(y);
        opt.backward_step(&loss);
    };
    step(&fixed.images, &fixed.labels); // warm-up
    let t = Instant::now();
    for _ in 0..steps {
        step(&fixed.images, &fixed.labels);
    }
    let step_rate = steps as f64 / t.elapsed().as_secs_f64();

    // 4. Lite0 train steps fed by the loader (both share the CPU): batches built ahead on a background thread (the
    // loader's rayon pool and libtorch's threads compete for the cores), then on demand on the training thread.
    let mut fed_rate = |prefetch: Prefetch, epoch: u64| -> anyhow::Result<f64> {
        let loader = Loader::new(
            &train,
            LoaderConfig {
                prefetch,
                ..LoaderConfig::train(BATCH, norm, AugmentParams::default(), 0)
            },
        )?;
        let t = Instant::now();
        let mut fed = 0usize;
        for b in loader.epoch(epoch).take(steps) {
            let b = b?;
            step(&b.images, &b.labels);
            fed += 1;
        }
        Ok(fed as f64 / t.elapsed().as_secs_f64())
    };
    let fed_ahead = fed_rate(Prefetch::Ahead(4), 1)?;
    let fed_on_demand = fed_rate(Prefetch::OnDemand, 2)?;

    println!("| what | rate |");
    println!("|---|---|");
    println!(
        "| loader, train mode + augmentation, batch {BATCH}, 224 px | {train_rate:.1} batches/s ({:.0} images/s) |",
        train_rate * BATCH as f64
    );
    println!(
        "| loader, eval mode, batch {BATCH} | {eval_rate:.1} batches/s ({:.0} images/s) |",
        eval_rate * BATCH as f64
    );
    println!(
        "| Lite0 train step, batch {BATCH}, fixed batch | {step_rate:.2} steps/s ({:.1} images/s) |",
        step_rate * BATCH as f64
    );
    println!(
        "| Lite0 train step fed by the loader | {fed_ahead:.2} steps/s ({:.1} images/s) |",
        fed_ahead * BATCH as f64
    );
    println!(
        "| Lite0 train step fed by the loader on demand | {fed_on_demand:.2} steps/s ({:.1} images/s) |",
        fed_on_demand * BATCH as f64
    );
    println!();
    println!(
        "loader / train step = {:.1}x; fed / fixed-batch step rate = {:.2} ahead, {:.2} on demand",
        train_rate / step_rate,
        fed_ahead / step_rate,
        fed_on_demand / step_rate
    );
    Ok(())
}
